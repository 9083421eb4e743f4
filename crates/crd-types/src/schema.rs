//! Hand-written schema fragments for fields whose Rust type cannot describe the
//! Kubernetes structural schema we want (free-form maps, embedded pod templates).

use schemars::{Schema, SchemaGenerator, json_schema};

/// An object the API server stores as given (`x-kubernetes-preserve-unknown-fields`).
/// Used for the optional pod template overrides: embedding the full PodTemplateSpec schema
/// would add several hundred kilobytes to every CRD for a rarely used escape hatch.
pub fn preserve_unknown_object(_gen: &mut SchemaGenerator) -> Schema {
    json_schema!({
        "type": "object",
        "x-kubernetes-preserve-unknown-fields": true,
    })
}

/// A string-keyed map of free-form values, at most 64 entries. OpenAPI cannot say "any
/// scalar", and the API server refuses CEL rules on untyped values ("unable to convert
/// structural schema to CEL declarations"), so the scalar-only rule is enforced by the
/// controllers (for example `TrainingJobSpec::check`) as an InvalidSpec condition.
pub fn scalar_map(_gen: &mut SchemaGenerator) -> Schema {
    json_schema!({
        "type": "object",
        "maxProperties": 64,
        "additionalProperties": {
            "description": "A value: string, number or boolean.",
            "x-kubernetes-preserve-unknown-fields": true,
        },
    })
}
