//! The error type of `tessera-conversions`.

/// What can go wrong in a conversion.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// From the protocols layer (transport, preprocessing, shapes).
    #[error(transparent)]
    Protocols(#[from] tessera_protocols::Error),
    /// From the core layer.
    #[error(transparent)]
    Core(#[from] tessera_core::Error),
    /// The operands do not fit the conversion.
    #[error("{op}: {detail}")]
    Shape {
        /// The conversion.
        op: &'static str,
        /// What does not fit.
        detail: String,
    },
}

/// Result alias for `tessera-conversions`.
pub type Result<T, E = Error> = std::result::Result<T, E>;
