//! The error type of `tessera-planner`.

use std::path::PathBuf;

/// What can go wrong while calibrating, planning or loading a plan.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// From the core layer.
    #[error(transparent)]
    Core(#[from] tessera_core::Error),
    /// From the protocols layer (dealer, preprocessing, circuits).
    #[error(transparent)]
    Protocols(#[from] tessera_protocols::Error),
    /// From the conversions layer.
    #[error(transparent)]
    Conversions(#[from] tessera_conversions::Error),
    /// From the models layer (loading, the engine's cost counter).
    #[error(transparent)]
    Models(#[from] tessera_models::Error),
    /// A file cannot be read or written.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// A calibration file or measurement is not usable.
    #[error("calibration: {0}")]
    Calibration(String),
    /// A plan file does not fit the model, or breaks a rule of the sharings.
    #[error("plan: {0}")]
    Plan(String),
    /// A strategy does not apply to the model (e.g. `pure-a` with ReLU layers).
    #[error("{strategy} is not applicable: {reason}")]
    NotApplicable {
        /// The strategy.
        strategy: String,
        /// Why.
        reason: String,
    },
    /// The exact DAG planner ([`crate::dag`]) gave up because the graph's frontier
    /// is too wide: its state space grows as 12^width. A caller may fall back to an
    /// approximate plan.
    #[error("dag: the frontier ({width} live values) is too wide for the exact planner: {reason}")]
    TooWide {
        /// The frontier width of the processing order.
        width: usize,
        /// Which limit was reached, and where.
        reason: String,
    },
    /// A bad argument.
    #[error("{0}")]
    Usage(String),
}

/// Result alias for `tessera-planner`.
pub type Result<T, E = Error> = std::result::Result<T, E>;
