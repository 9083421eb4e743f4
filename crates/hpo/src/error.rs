//! Typed errors for search-space validation and optimiser use.

use thiserror::Error;

/// A search space or parameter definition that cannot be used.
#[derive(Debug, Clone, PartialEq, Error)]
pub enum SpaceError {
    /// The space has no parameters at all.
    #[error("search space has no parameters")]
    Empty,
    /// A parameter name is empty.
    #[error("parameter name must not be empty")]
    EmptyName,
    /// Two parameters share a name.
    #[error("duplicate parameter name `{0}`")]
    DuplicateName(String),
    /// A bound or value is NaN or infinite.
    #[error("parameter `{0}`: bounds and values must be finite")]
    NotFinite(String),
    /// `min >= max`.
    #[error("parameter `{name}`: min ({min}) must be below max ({max})")]
    MinNotBelowMax {
        /// Parameter name.
        name: String,
        /// Lower bound as given.
        min: f64,
        /// Upper bound as given.
        max: f64,
    },
    /// `max - min` does not fit in a 64-bit integer.
    #[error("parameter `{0}`: range max - min overflows a 64-bit integer")]
    RangeTooLarge(String),
    /// Log scale with a bound `<= 0`.
    #[error("parameter `{name}`: log scale needs min > 0 (got {min})")]
    LogNonPositive {
        /// Parameter name.
        name: String,
        /// Lower bound as given.
        min: f64,
    },
    /// A step that is zero, negative or not finite.
    #[error("parameter `{name}`: step must be > 0 (got {step})")]
    StepNotPositive {
        /// Parameter name.
        name: String,
        /// Step as given.
        step: f64,
    },
    /// Step and log scale together (the grid would not be regular in either scale).
    #[error("parameter `{0}`: step and log scale cannot be combined")]
    StepWithLog(String),
    /// A categorical or discrete parameter with no values.
    #[error("parameter `{0}`: list of values is empty")]
    EmptyList(String),
    /// The same value listed twice in a categorical or discrete parameter.
    #[error("parameter `{name}`: value `{value}` is listed twice")]
    DuplicateValue {
        /// Parameter name.
        name: String,
        /// The repeated value, as text.
        value: String,
    },
}

/// Errors from asking, telling or restoring an optimiser.
#[derive(Debug, Error)]
pub enum HpoError {
    /// The search space is invalid.
    #[error(transparent)]
    Space(#[from] SpaceError),
    /// A trial id that the optimiser never handed out.
    #[error("unknown trial id {0}")]
    UnknownTrial(u64),
    /// A trial that is already finished was told again.
    #[error("trial {0} is already finished")]
    TrialFinished(u64),
    /// An objective value that is NaN or infinite.
    #[error("objective value must be finite (got {0})")]
    NotFinite(f64),
    /// A parameter assignment that does not fit the space.
    #[error("assignment does not fit the space: {0}")]
    BadAssignment(String),
    /// Every point of a finite space (grid, or all-discrete space) is used or pending.
    #[error("search space exhausted: all {0} points were already suggested")]
    Exhausted(u64),
    /// A setting of a sampler or pruner is out of range.
    #[error("invalid setting: {0}")]
    InvalidSetting(String),
    /// The saved state could not be parsed or does not fit together.
    #[error("cannot restore state: {0}")]
    BadState(String),
}
