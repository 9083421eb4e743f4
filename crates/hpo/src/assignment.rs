//! User-facing parameter values and assignments.

use serde::{Deserialize, Serialize};
use std::fmt;

/// A value handed to the objective.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum ParamValue {
    /// An integer parameter's value.
    Int(i64),
    /// A double or discrete parameter's value.
    Double(f64),
    /// A categorical parameter's label.
    Str(String),
}

impl ParamValue {
    /// The value as `f64` (labels give `NaN`).
    pub fn as_f64(&self) -> f64 {
        match self {
            ParamValue::Int(i) => *i as f64,
            ParamValue::Double(d) => *d,
            ParamValue::Str(_) => f64::NAN,
        }
    }
}

impl fmt::Display for ParamValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ParamValue::Int(i) => write!(f, "{i}"),
            ParamValue::Double(d) => write!(f, "{d}"),
            ParamValue::Str(s) => write!(f, "{s}"),
        }
    }
}

/// Parameter values for one trial, in the order of the space.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Assignment(pub Vec<(String, ParamValue)>);

impl Assignment {
    /// Value of a named parameter.
    pub fn get(&self, name: &str) -> Option<&ParamValue> {
        self.0.iter().find(|(n, _)| n == name).map(|(_, v)| v)
    }
}

impl fmt::Display for Assignment {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, (n, v)) in self.0.iter().enumerate() {
            if i > 0 {
                write!(f, " ")?;
            }
            write!(f, "{n}={v}")?;
        }
        Ok(())
    }
}
