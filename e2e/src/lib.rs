//! mlfleet-e2e
