//! The error type of `tessera-protocols`.

/// Everything that can go wrong while running a protocol, reading a circuit, or
/// handling preprocessing.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Transport, handshake or encoding failure from the core layer.
    #[error(transparent)]
    Core(#[from] tessera_core::Error),
    /// Shapes or lengths of operands do not fit the operation.
    #[error("shape mismatch in {op}: {detail}")]
    Shape {
        /// The operation.
        op: &'static str,
        /// What does not fit.
        detail: String,
    },
    /// The peer sent something that does not fit the protocol step.
    #[error("protocol violation in {step}: {detail}")]
    Protocol {
        /// The protocol step.
        step: &'static str,
        /// What was wrong.
        detail: String,
    },
    /// A circuit description breaks an invariant of the circuit IR (a wire out of
    /// range, assigned twice, read before it is assigned, ...).
    #[error("invalid circuit: {0}")]
    InvalidCircuit(String),
    /// A Bristol Fashion circuit file is malformed; `line` is 1-based.
    #[error("Bristol Fashion circuit, line {line}: {reason}")]
    Bristol {
        /// The 1-based line of the file where the problem was found.
        line: usize,
        /// What is wrong there.
        reason: String,
    },
    /// A value cannot be encoded as circuit input (too wide for its bit width, bad
    /// hex, wrong byte length, ...).
    #[error("invalid value: {0}")]
    InvalidValue(String),
    /// Reading or writing a file failed.
    #[error("i/o error while {context}: {source}")]
    Io {
        /// What was being done, e.g. the path being read.
        context: String,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
}

/// Result alias for `tessera-protocols`.
pub type Result<T, E = Error> = std::result::Result<T, E>;
