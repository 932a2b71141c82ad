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
}

/// Result alias for `tessera-protocols`.
pub type Result<T, E = Error> = std::result::Result<T, E>;
