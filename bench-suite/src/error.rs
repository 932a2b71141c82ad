//! Errors of the benchmark harness.

use std::path::PathBuf;

/// Everything that can stop a benchmark run. A failed regression check is not an
/// error: it is reported in [`crate::check::CheckReport`].
#[derive(Debug, thiserror::Error)]
pub enum BenchError {
    /// From the core layer (transport, handshake, metering).
    #[error(transparent)]
    Core(#[from] tessera_core::Error),
    /// From the protocols layer (sharings, circuits, dealer, preprocessing).
    #[error(transparent)]
    Protocols(#[from] tessera_protocols::Error),
    /// From the conversions layer.
    #[error(transparent)]
    Conversions(#[from] tessera_conversions::Error),
    /// From the models layer (secure inference).
    #[error(transparent)]
    Models(#[from] tessera_models::Error),
    /// Reading or writing a file.
    #[error("{what} {}: {source}", path.display())]
    File {
        /// What was being done ("reading the baseline", ...).
        what: &'static str,
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// A results or baseline file that is not valid JSON of the expected schema.
    #[error("{}: {detail}", path.display())]
    Format {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        detail: String,
    },
    /// A bad option.
    #[error("{0}")]
    Usage(String),
    /// A scenario computed a wrong result, consumed the wrong correlations, or its
    /// exact counters changed between repetitions.
    #[error("scenario {scenario}: {detail}")]
    Scenario {
        /// The scenario id.
        scenario: String,
        /// What went wrong.
        detail: String,
    },
    /// A party, dealer or blocking task panicked or was cancelled.
    #[error("a task failed: {0}")]
    Task(String),
    /// A repetition exceeded the time limit.
    #[error("a repetition did not finish within {0:?}")]
    Timeout(std::time::Duration),
    /// A step of a session failed (which step, and with whom, in `step`).
    #[error("{step}: {source}")]
    Step {
        /// The step, e.g. `online phase with party 1`.
        step: String,
        /// Why it failed.
        #[source]
        source: Box<BenchError>,
    },
}

/// A failed step of a repetition's session. A wrong result stays as it is (the runner
/// names the scenario); anything else keeps its step.
impl From<tessera_protocols::runtime::SessionError<BenchError>> for BenchError {
    fn from(e: tessera_protocols::runtime::SessionError<BenchError>) -> Self {
        match e.source {
            wrong @ BenchError::Scenario { .. } => wrong,
            other => BenchError::Step {
                step: e.step,
                source: Box::new(other),
            },
        }
    }
}

impl BenchError {
    /// A [`BenchError::Scenario`] error.
    pub fn scenario(scenario: impl Into<String>, detail: impl Into<String>) -> Self {
        BenchError::Scenario {
            scenario: scenario.into(),
            detail: detail.into(),
        }
    }

    /// A wrong result inside a workload (the runner adds the scenario id).
    pub fn wrong(detail: impl Into<String>) -> Self {
        BenchError::scenario("", detail)
    }
}

/// The harness's result type.
pub type Result<T> = std::result::Result<T, BenchError>;
