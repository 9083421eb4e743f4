//! Checking an object against a CRD's OpenAPI v3 schema without an API server: types,
//! required fields, unknown fields, enums, numeric ranges, lengths and sizes. Messages
//! follow the API server's wording (`spec.numWorkers in body should be greater than or
//! equal to 1`) so tests and users can match the same text.
//!
//! Not covered here: `pattern` (none of our own fields uses one), `format`, and the CEL
//! `x-kubernetes-validations` rules (evaluate those with a CEL engine).

use std::fmt;

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use serde_json::Value;

/// One way an object breaks its schema.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SchemaViolation {
    /// Path of the offending field, for example `spec.numWorkers` or `spec.env[0].name`.
    pub path: String,
    /// What is wrong, in the API server's words.
    pub message: String,
}

impl fmt::Display for SchemaViolation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

/// The openAPIV3Schema of a CRD's first version as JSON, if it has one.
pub fn crd_schema(crd: &CustomResourceDefinition) -> Option<Value> {
    let schema = crd
        .spec
        .versions
        .first()?
        .schema
        .as_ref()?
        .open_api_v3_schema
        .as_ref()?;
    serde_json::to_value(schema).ok()
}

/// Checks `value` against `schema` (an openAPIV3Schema as JSON). `apiVersion`, `kind` and
/// `metadata` at the root are left to the API server.
pub fn validate_against_schema(schema: &Value, value: &Value) -> Vec<SchemaViolation> {
    let mut out = Vec::new();
    let Some(obj) = value.as_object() else {
        out.push(violation("", "the object must be a JSON object".into()));
        return out;
    };
    let props = schema.get("properties").and_then(Value::as_object);
    for (key, child) in obj {
        if matches!(key.as_str(), "apiVersion" | "kind" | "metadata") {
            continue;
        }
        match props.and_then(|p| p.get(key)) {
            Some(child_schema) => check(child_schema, child, key, &mut out),
            None => out.push(violation(key, format!("unknown field \"{key}\""))),
        }
    }
    check_required(schema, obj, "", &mut out);
    out
}

fn violation(path: &str, message: String) -> SchemaViolation {
    SchemaViolation {
        path: path.to_owned(),
        message,
    }
}

fn join(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_owned()
    } else {
        format!("{path}.{key}")
    }
}

fn num(v: f64) -> String {
    if v.fract() == 0.0 && v.abs() < 1e15 {
        format!("{}", v as i64)
    } else {
        format!("{v}")
    }
}

fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(n) if n.is_i64() || n.is_u64() => "integer",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

fn flag(schema: &Value, key: &str) -> bool {
    schema.get(key).and_then(Value::as_bool).unwrap_or(false)
}

fn check_required(
    schema: &Value,
    obj: &serde_json::Map<String, Value>,
    path: &str,
    out: &mut Vec<SchemaViolation>,
) {
    for req in schema
        .get("required")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
    {
        if !obj.contains_key(req) {
            let p = join(path, req);
            out.push(violation(&p, format!("{p}: Required value")));
        }
    }
}

fn check(schema: &Value, value: &Value, path: &str, out: &mut Vec<SchemaViolation>) {
    if value.is_null() {
        if !flag(schema, "nullable") {
            out.push(violation(
                path,
                format!(
                    "{path}: Invalid value: \"null\": {path} in body must be of type {}",
                    schema
                        .get("type")
                        .and_then(Value::as_str)
                        .unwrap_or("object")
                ),
            ));
        }
        return;
    }
    if flag(schema, "x-kubernetes-int-or-string") {
        if !matches!(type_name(value), "integer" | "string") {
            out.push(violation(
                path,
                format!(
                    "{path} in body must be of type integer or string: \"{}\"",
                    type_name(value)
                ),
            ));
        }
        return;
    }
    let ty = schema.get("type").and_then(Value::as_str);
    let preserve = flag(schema, "x-kubernetes-preserve-unknown-fields");
    if let Some(ty) = ty {
        let actual = type_name(value);
        let ok = actual == ty || (ty == "number" && actual == "integer");
        if !ok {
            out.push(violation(
                path,
                format!("{path} in body must be of type {ty}: \"{actual}\""),
            ));
            return;
        }
    }
    if let Some(allowed) = schema.get("enum").and_then(Value::as_array)
        && !allowed.contains(value)
    {
        let list: Vec<String> = allowed.iter().map(Value::to_string).collect();
        out.push(violation(
            path,
            format!(
                "{path}: Unsupported value: {value}: supported values: {}",
                list.join(", ")
            ),
        ));
    }
    match value {
        Value::Number(n) => check_number(schema, n.as_f64().unwrap_or(f64::NAN), value, path, out),
        Value::String(s) => check_string(schema, s, path, out),
        Value::Array(items) => check_array(schema, items, path, out),
        Value::Object(obj) => check_object(schema, obj, preserve, path, out),
        Value::Bool(_) | Value::Null => {}
    }
}

fn check_number(schema: &Value, n: f64, value: &Value, path: &str, out: &mut Vec<SchemaViolation>) {
    if let Some(min) = schema.get("minimum").and_then(Value::as_f64) {
        let exclusive = flag(schema, "exclusiveMinimum");
        if n < min || (exclusive && n == min) {
            let rel = if exclusive {
                "greater than"
            } else {
                "greater than or equal to"
            };
            out.push(violation(
                path,
                format!(
                    "{path}: Invalid value: {value}: {path} in body should be {rel} {}",
                    num(min)
                ),
            ));
        }
    }
    if let Some(max) = schema.get("maximum").and_then(Value::as_f64) {
        let exclusive = flag(schema, "exclusiveMaximum");
        if n > max || (exclusive && n == max) {
            let rel = if exclusive {
                "less than"
            } else {
                "less than or equal to"
            };
            out.push(violation(
                path,
                format!(
                    "{path}: Invalid value: {value}: {path} in body should be {rel} {}",
                    num(max)
                ),
            ));
        }
    }
}

fn check_string(schema: &Value, s: &str, path: &str, out: &mut Vec<SchemaViolation>) {
    let len = s.chars().count() as u64;
    if let Some(min) = schema.get("minLength").and_then(Value::as_u64)
        && len < min
    {
        out.push(violation(
            path,
            format!(
                "{path}: Invalid value: \"{s}\": {path} in body should be at least {min} chars long"
            ),
        ));
    }
    if let Some(max) = schema.get("maxLength").and_then(Value::as_u64)
        && len > max
    {
        out.push(violation(
            path,
            format!("{path}: Too long: may not be more than {max} bytes"),
        ));
    }
}

fn check_array(schema: &Value, items: &[Value], path: &str, out: &mut Vec<SchemaViolation>) {
    let n = items.len() as u64;
    if let Some(min) = schema.get("minItems").and_then(Value::as_u64)
        && n < min
    {
        out.push(violation(
            path,
            format!("{path}: Invalid value: {n}: {path} in body should have at least {min} items"),
        ));
    }
    if let Some(max) = schema.get("maxItems").and_then(Value::as_u64)
        && n > max
    {
        out.push(violation(
            path,
            format!("{path}: Too many: {n}: must have at most {max} items"),
        ));
    }
    if let Some(item_schema) = schema.get("items") {
        for (i, item) in items.iter().enumerate() {
            check(item_schema, item, &format!("{path}[{i}]"), out);
        }
    }
}

fn check_object(
    schema: &Value,
    obj: &serde_json::Map<String, Value>,
    preserve: bool,
    path: &str,
    out: &mut Vec<SchemaViolation>,
) {
    let n = obj.len() as u64;
    if let Some(max) = schema.get("maxProperties").and_then(Value::as_u64)
        && n > max
    {
        out.push(violation(
            path,
            format!("{path}: Too many: {n}: must have at most {max} items"),
        ));
    }
    if let Some(min) = schema.get("minProperties").and_then(Value::as_u64)
        && n < min
    {
        out.push(violation(
            path,
            format!(
                "{path}: Invalid value: {n}: {path} in body should have at least {min} properties"
            ),
        ));
    }
    let props = schema.get("properties").and_then(Value::as_object);
    let additional = schema.get("additionalProperties");
    for (key, child) in obj {
        let child_path = join(path, key);
        if let Some(child_schema) = props.and_then(|p| p.get(key)) {
            check(child_schema, child, &child_path, out);
        } else if let Some(add) = additional.filter(|a| a.is_object()) {
            check(add, child, &child_path, out);
        } else if !preserve && additional != Some(&Value::Bool(true)) {
            out.push(violation(
                &child_path,
                format!("unknown field \"{child_path}\""),
            ));
        }
    }
    check_required(schema, obj, path, out);
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn schema() -> Value {
        json!({
            "type": "object",
            "properties": {
                "spec": {
                    "type": "object",
                    "required": ["n"],
                    "properties": {
                        "n": {"type": "integer", "minimum": 1.0, "maximum": 32.0},
                        "mode": {"type": "string", "enum": ["A", "B"]},
                        "tags": {"type": "array", "maxItems": 1, "items": {"type": "string", "maxLength": 3}},
                        "map": {"type": "object", "additionalProperties": {"type": "integer"}},
                        "free": {"type": "object", "x-kubernetes-preserve-unknown-fields": true},
                        "q": {"x-kubernetes-int-or-string": true}
                    }
                }
            }
        })
    }

    fn messages(v: Value) -> Vec<String> {
        validate_against_schema(&schema(), &v)
            .into_iter()
            .map(|v| v.message)
            .collect()
    }

    #[test]
    fn accepts_valid_object() {
        let m = messages(
            json!({"apiVersion": "x/v1", "kind": "K", "metadata": {"name": "a"},
            "spec": {"n": 2, "mode": "A", "tags": ["abc"], "map": {"k": 1}, "free": {"x": {"y": 1}}, "q": "1Gi"}}),
        );
        assert!(m.is_empty(), "{m:?}");
    }

    #[test]
    fn reports_range_enum_length_and_unknown_fields() {
        let m = messages(
            json!({"spec": {"n": 0, "mode": "C", "tags": ["abcd", "x"], "map": {"k": "s"}, "typo": 1, "q": true}}),
        );
        let all = m.join("\n");
        assert!(
            all.contains("spec.n in body should be greater than or equal to 1"),
            "{all}"
        );
        assert!(all.contains("spec.mode: Unsupported value: \"C\""), "{all}");
        assert!(
            all.contains("spec.tags: Too many: 2: must have at most 1 items"),
            "{all}"
        );
        assert!(all.contains("spec.tags[0]: Too long"), "{all}");
        assert!(
            all.contains("spec.map.k in body must be of type integer"),
            "{all}"
        );
        assert!(all.contains("unknown field \"spec.typo\""), "{all}");
        assert!(
            all.contains("spec.q in body must be of type integer or string"),
            "{all}"
        );
        assert_eq!(m.len(), 7, "{all}");
    }

    #[test]
    fn reports_missing_required_and_max() {
        let m = messages(json!({"spec": {}}));
        assert_eq!(m, vec!["spec.n: Required value".to_owned()]);
        let m = messages(json!({"spec": {"n": 33}}));
        assert_eq!(
            m,
            vec![
                "spec.n: Invalid value: 33: spec.n in body should be less than or equal to 32"
                    .to_owned()
            ]
        );
    }
}
