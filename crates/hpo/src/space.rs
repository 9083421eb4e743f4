//! Search spaces: parameter kinds, validation, and the mappings between a parameter's
//! *internal* value (one `f64` per parameter), the unit interval, and user values.
//!
//! Internal values: int → the integer as `f64`; double → the value; categorical and
//! discrete → the index into the list. Discrete lists are sorted ascending on
//! validation, so their index is ordinal and models may treat it as a numeric level.

pub use crate::assignment::{Assignment, ParamValue};
use crate::error::SpaceError;
use serde::{Deserialize, Serialize};

/// What values one parameter may take.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "lowercase")]
pub enum ParamKind {
    /// Integers in `[min, max]`, optionally every `step` from `min`, optionally log scale.
    Int {
        /// Lowest value.
        min: i64,
        /// Highest value (the last grid value is the largest `min + k*step <= max`).
        max: i64,
        /// Distance between allowed values (default 1).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        step: Option<i64>,
        /// Sample on a logarithmic scale (needs `min > 0`, no step).
        #[serde(default, skip_serializing_if = "is_false")]
        log: bool,
    },
    /// Reals in `[min, max]`, optionally every `step` from `min`, optionally log scale.
    Double {
        /// Lowest value.
        min: f64,
        /// Highest value.
        max: f64,
        /// Distance between allowed values (none: continuous).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        step: Option<f64>,
        /// Sample on a logarithmic scale (needs `min > 0`, no step).
        #[serde(default, skip_serializing_if = "is_false")]
        log: bool,
    },
    /// One of a list of unordered labels.
    Categorical {
        /// The labels.
        choices: Vec<String>,
    },
    /// One of an explicit list of numbers (ordered).
    Discrete {
        /// The allowed numbers; sorted on validation.
        values: Vec<f64>,
    },
}

fn is_false(b: &bool) -> bool {
    !*b
}

/// One named parameter.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Param {
    /// Name, unique within the space.
    pub name: String,
    /// Allowed values.
    #[serde(flatten)]
    pub kind: ParamKind,
}

impl Param {
    /// Integer parameter on `[min, max]`, step 1, uniform.
    pub fn int(name: &str, min: i64, max: i64) -> Self {
        Self::new(
            name,
            ParamKind::Int {
                min,
                max,
                step: None,
                log: false,
            },
        )
    }
    /// Real parameter on `[min, max]`, uniform.
    pub fn double(name: &str, min: f64, max: f64) -> Self {
        Self::new(
            name,
            ParamKind::Double {
                min,
                max,
                step: None,
                log: false,
            },
        )
    }
    /// Real parameter on `[min, max]`, log scale.
    pub fn log_double(name: &str, min: f64, max: f64) -> Self {
        Self::new(
            name,
            ParamKind::Double {
                min,
                max,
                step: None,
                log: true,
            },
        )
    }
    /// Categorical parameter.
    pub fn categorical(name: &str, choices: &[&str]) -> Self {
        let choices = choices.iter().map(|s| s.to_string()).collect();
        Self::new(name, ParamKind::Categorical { choices })
    }
    /// Discrete parameter with an explicit list of numbers.
    pub fn discrete(name: &str, values: &[f64]) -> Self {
        Self::new(
            name,
            ParamKind::Discrete {
                values: values.to_vec(),
            },
        )
    }
    /// Parameter from a name and a kind.
    pub fn new(name: &str, kind: ParamKind) -> Self {
        Self {
            name: name.to_string(),
            kind,
        }
    }

    fn validate(&mut self) -> Result<(), SpaceError> {
        let name = self.name.clone();
        if name.is_empty() {
            return Err(SpaceError::EmptyName);
        }
        let range_err = |min: f64, max: f64| SpaceError::MinNotBelowMax {
            name: name.clone(),
            min,
            max,
        };
        match &mut self.kind {
            ParamKind::Int {
                min,
                max,
                step,
                log,
            } => {
                if min >= max {
                    return Err(range_err(*min as f64, *max as f64));
                }
                if max.checked_sub(*min).is_none() {
                    return Err(SpaceError::RangeTooLarge(name));
                }
                if *log && *min <= 0 {
                    return Err(SpaceError::LogNonPositive {
                        name,
                        min: *min as f64,
                    });
                }
                if let Some(s) = step {
                    if *s <= 0 {
                        return Err(SpaceError::StepNotPositive {
                            name,
                            step: *s as f64,
                        });
                    }
                    if *log && *s != 1 {
                        return Err(SpaceError::StepWithLog(name));
                    }
                }
            }
            ParamKind::Double {
                min,
                max,
                step,
                log,
            } => {
                if !min.is_finite() || !max.is_finite() {
                    return Err(SpaceError::NotFinite(name));
                }
                if min >= max {
                    return Err(range_err(*min, *max));
                }
                if *log && *min <= 0.0 {
                    return Err(SpaceError::LogNonPositive { name, min: *min });
                }
                if let Some(s) = step {
                    if !(s.is_finite() && *s > 0.0) {
                        return Err(SpaceError::StepNotPositive { name, step: *s });
                    }
                    if *log {
                        return Err(SpaceError::StepWithLog(name));
                    }
                }
            }
            ParamKind::Categorical { choices } => {
                if choices.is_empty() {
                    return Err(SpaceError::EmptyList(name));
                }
                for (i, c) in choices.iter().enumerate() {
                    if choices[..i].contains(c) {
                        return Err(SpaceError::DuplicateValue {
                            name,
                            value: c.clone(),
                        });
                    }
                }
            }
            ParamKind::Discrete { values } => {
                if values.is_empty() {
                    return Err(SpaceError::EmptyList(name));
                }
                if values.iter().any(|v| !v.is_finite()) {
                    return Err(SpaceError::NotFinite(name));
                }
                values.sort_by(f64::total_cmp);
                if let Some(w) = values.windows(2).find(|w| w[0] == w[1]) {
                    return Err(SpaceError::DuplicateValue {
                        name,
                        value: w[0].to_string(),
                    });
                }
            }
        }
        Ok(())
    }

    /// Number of allowed values, or `None` for a continuous parameter.
    pub fn levels(&self) -> Option<u64> {
        match &self.kind {
            ParamKind::Int { min, max, step, .. } => {
                Some((((max - min) / step.unwrap_or(1)) as u64).saturating_add(1))
            }
            ParamKind::Double {
                min,
                max,
                step: Some(s),
                ..
            } => Some((((max - min) / s + 1e-9).floor() as u64).saturating_add(1)),
            ParamKind::Double { .. } => None,
            ParamKind::Categorical { choices } => Some(choices.len() as u64),
            ParamKind::Discrete { values } => Some(values.len() as u64),
        }
    }

    /// Internal value of level `i` (`i < levels()`); continuous parameters use
    /// `resolution` evenly spaced points (in the parameter's scale) instead.
    pub fn level_value(&self, i: u64, resolution: u64) -> f64 {
        match &self.kind {
            ParamKind::Int { min, step, .. } => (*min + i as i64 * step.unwrap_or(1)) as f64,
            ParamKind::Double {
                min, step: Some(s), ..
            } => min + i as f64 * s,
            ParamKind::Double { min, max, log, .. } => {
                let f = if resolution <= 1 {
                    0.5
                } else {
                    i as f64 / (resolution - 1) as f64
                };
                if *log {
                    (min.ln() + f * (max.ln() - min.ln()))
                        .exp()
                        .clamp(*min, *max)
                } else {
                    (min + f * (max - min)).clamp(*min, *max)
                }
            }
            ParamKind::Categorical { .. } | ParamKind::Discrete { .. } => i as f64,
        }
    }

    /// Map `u ∈ [0, 1]` to an internal value: continuous parameters linearly (or
    /// logarithmically); finite ones by splitting `[0, 1]` into equal cells per level
    /// (log-scale ints get cells of equal width in log space).
    pub fn from_unit(&self, u: f64) -> f64 {
        let u = u.clamp(0.0, 1.0);
        match &self.kind {
            ParamKind::Int {
                min,
                max,
                log: true,
                ..
            } => {
                let (lo, hi) = ((*min as f64 - 0.5).ln(), (*max as f64 + 0.5).ln());
                (lo + u * (hi - lo))
                    .exp()
                    .round()
                    .clamp(*min as f64, *max as f64)
            }
            ParamKind::Double {
                min,
                max,
                step: None,
                log,
            } => {
                if *log {
                    (min.ln() + u * (max.ln() - min.ln()))
                        .exp()
                        .clamp(*min, *max)
                } else {
                    (min + u * (max - min)).clamp(*min, *max)
                }
            }
            _ => {
                let n = self.levels().unwrap_or(1);
                let i = ((u * n as f64) as u64).min(n - 1);
                self.level_value(i, n)
            }
        }
    }

    /// Inverse of [`Param::from_unit`]: finite levels map to the centre of their cell.
    pub fn to_unit(&self, v: f64) -> f64 {
        match &self.kind {
            ParamKind::Int {
                min,
                max,
                log: true,
                ..
            } => {
                let (lo, hi) = ((*min as f64 - 0.5).ln(), (*max as f64 + 0.5).ln());
                (v.ln() - lo) / (hi - lo)
            }
            ParamKind::Double {
                min,
                max,
                step: None,
                log,
            } => {
                if *log {
                    (v.ln() - min.ln()) / (max.ln() - min.ln())
                } else {
                    (v - min) / (max - min)
                }
            }
            _ => {
                let n = self.levels().unwrap_or(1);
                (self.level_index(v) as f64 + 0.5) / n as f64
            }
        }
    }

    /// Index of the level an internal value belongs to (finite parameters).
    pub fn level_index(&self, v: f64) -> u64 {
        let n = self.levels().unwrap_or(1);
        let i = match &self.kind {
            ParamKind::Int { min, step, .. } => {
                ((v - *min as f64) / step.unwrap_or(1) as f64).round()
            }
            ParamKind::Double {
                min, step: Some(s), ..
            } => ((v - min) / s).round(),
            _ => v.round(),
        };
        (i.max(0.0) as u64).min(n - 1)
    }

    /// Whether an internal value is allowed by this parameter.
    pub fn contains(&self, v: f64) -> bool {
        if !v.is_finite() {
            return false;
        }
        match &self.kind {
            ParamKind::Int { min, max, step, .. } => {
                let s = step.unwrap_or(1) as f64;
                v.fract() == 0.0
                    && v >= *min as f64
                    && v <= *max as f64
                    && ((v - *min as f64) % s) == 0.0
            }
            ParamKind::Double {
                min,
                max,
                step: None,
                ..
            } => v >= *min && v <= *max,
            ParamKind::Double {
                min,
                max,
                step: Some(s),
                ..
            } => {
                let k = ((v - min) / s).round();
                v >= *min && v <= *max && (min + k * s - v).abs() <= 1e-9 * s.max(v.abs())
            }
            ParamKind::Categorical { choices } => {
                v.fract() == 0.0 && v >= 0.0 && (v as usize) < choices.len()
            }
            ParamKind::Discrete { values } => {
                v.fract() == 0.0 && v >= 0.0 && (v as usize) < values.len()
            }
        }
    }

    /// Snap any real number onto the nearest allowed internal value.
    pub fn snap(&self, v: f64) -> f64 {
        match &self.kind {
            ParamKind::Double {
                min,
                max,
                step: None,
                ..
            } => v.clamp(*min, *max),
            ParamKind::Int {
                min,
                max,
                log: true,
                ..
            } => v.round().clamp(*min as f64, *max as f64),
            _ => {
                let n = self.levels().unwrap_or(1);
                self.level_value(self.level_index(v), n)
            }
        }
    }

    /// The user-facing value of an internal value.
    pub fn value(&self, v: f64) -> ParamValue {
        match &self.kind {
            ParamKind::Int { .. } => ParamValue::Int(v as i64),
            ParamKind::Double { .. } => ParamValue::Double(v),
            ParamKind::Categorical { choices } => ParamValue::Str(choices[v as usize].clone()),
            ParamKind::Discrete { values } => ParamValue::Double(values[v as usize]),
        }
    }

    /// The internal value of a user-facing value, if it is allowed.
    pub fn internal(&self, value: &ParamValue) -> Option<f64> {
        let v = match (&self.kind, value) {
            (ParamKind::Int { .. }, ParamValue::Int(i)) => *i as f64,
            (ParamKind::Double { .. }, ParamValue::Double(d)) => *d,
            (ParamKind::Double { .. }, ParamValue::Int(i)) => *i as f64,
            (ParamKind::Categorical { choices }, ParamValue::Str(s)) => {
                choices.iter().position(|c| c == s)? as f64
            }
            (ParamKind::Discrete { values }, ParamValue::Double(d)) => {
                values.iter().position(|x| x == d)? as f64
            }
            (ParamKind::Discrete { values }, ParamValue::Int(i)) => {
                values.iter().position(|x| *x == *i as f64)? as f64
            }
            _ => return None,
        };
        self.contains(v).then_some(v)
    }
}

/// A validated, ordered list of parameters.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "Vec<Param>", into = "Vec<Param>")]
pub struct SearchSpace {
    params: Vec<Param>,
}

impl TryFrom<Vec<Param>> for SearchSpace {
    type Error = SpaceError;
    fn try_from(params: Vec<Param>) -> Result<Self, SpaceError> {
        Self::new(params)
    }
}

impl From<SearchSpace> for Vec<Param> {
    fn from(s: SearchSpace) -> Self {
        s.params
    }
}

impl SearchSpace {
    /// Validate and build a space.
    pub fn new(mut params: Vec<Param>) -> Result<Self, SpaceError> {
        if params.is_empty() {
            return Err(SpaceError::Empty);
        }
        for i in 0..params.len() {
            params[i].validate()?;
            if params[..i].iter().any(|p| p.name == params[i].name) {
                return Err(SpaceError::DuplicateName(params[i].name.clone()));
            }
        }
        Ok(Self { params })
    }

    /// The parameters in order.
    pub fn params(&self) -> &[Param] {
        &self.params
    }

    /// Number of parameters.
    pub fn len(&self) -> usize {
        self.params.len()
    }

    /// Always false for a validated space (kept for API symmetry).
    pub fn is_empty(&self) -> bool {
        self.params.is_empty()
    }

    /// Number of distinct points, or `None` if a parameter is continuous; saturates.
    pub fn cardinality(&self) -> Option<u64> {
        self.params
            .iter()
            .try_fold(1u64, |acc, p| Some(acc.saturating_mul(p.levels()?)))
    }

    /// Internal point from a point of the unit cube.
    pub fn from_unit(&self, u: &[f64]) -> Vec<f64> {
        self.params
            .iter()
            .zip(u)
            .map(|(p, &x)| p.from_unit(x))
            .collect()
    }

    /// Unit-cube coordinates of an internal point.
    pub fn to_unit(&self, x: &[f64]) -> Vec<f64> {
        self.params
            .iter()
            .zip(x)
            .map(|(p, &v)| p.to_unit(v))
            .collect()
    }

    /// Whether an internal point is allowed.
    pub fn contains(&self, x: &[f64]) -> bool {
        x.len() == self.params.len() && self.params.iter().zip(x).all(|(p, &v)| p.contains(v))
    }

    /// User-facing assignment of an internal point.
    pub fn assignment(&self, x: &[f64]) -> Assignment {
        Assignment(
            self.params
                .iter()
                .zip(x)
                .map(|(p, &v)| (p.name.clone(), p.value(v)))
                .collect(),
        )
    }

    /// Internal point of a user-facing assignment (all parameters, any order).
    pub fn internal(&self, a: &Assignment) -> Result<Vec<f64>, String> {
        if a.0.len() != self.params.len() {
            return Err(format!(
                "expected {} parameters, got {}",
                self.params.len(),
                a.0.len()
            ));
        }
        self.params
            .iter()
            .map(|p| {
                let v = a
                    .get(&p.name)
                    .ok_or_else(|| format!("missing parameter `{}`", p.name))?;
                p.internal(v)
                    .ok_or_else(|| format!("value {v} not allowed for `{}`", p.name))
            })
            .collect()
    }
}
