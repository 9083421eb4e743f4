//! hpo
