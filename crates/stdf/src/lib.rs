//! stdf
