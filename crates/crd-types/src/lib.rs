//! crd-types
