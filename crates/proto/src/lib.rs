//! mlfleet-proto
