//! mlfleet-runtime
