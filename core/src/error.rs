//! The error type of `tessera-core`.

use std::time::Duration;

/// Everything that can go wrong in the core layer: framing, transport, handshake,
/// encodings and configuration. Network input never panics; it produces one of these.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// An I/O error from the underlying socket or pipe.
    #[error("i/o error while {context}: {source}")]
    Io {
        /// What the transport was doing.
        context: &'static str,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// The peer announced a frame larger than the configured maximum.
    #[error("frame of {len} bytes exceeds the maximum frame size of {max} bytes")]
    FrameTooLarge {
        /// Announced payload length.
        len: u64,
        /// Configured maximum.
        max: u64,
    },
    /// The connection closed; `during` says where (between frames or inside one).
    #[error("connection closed by peer {during}")]
    ConnectionClosed {
        /// "between frames", "in a frame header", "in a frame body after N of M bytes", ...
        during: String,
    },
    /// A send or receive did not complete in time.
    #[error("timed out after {after:?} while {what}")]
    Timeout {
        /// What the transport was waiting for.
        what: &'static str,
        /// The timeout that elapsed.
        after: Duration,
    },
    /// A frame's payload could not be decoded as the expected message.
    #[error("malformed {expected} message: {reason}")]
    Malformed {
        /// The message type that was expected.
        expected: &'static str,
        /// Why decoding failed.
        reason: String,
    },
    /// The two parties do not run the same session or configuration.
    #[error("handshake mismatch in {field}: ours is {ours}, peer's is {theirs}")]
    HandshakeMismatch {
        /// Which field differs (e.g. `protocol version`, `role`, `config.ring`).
        field: String,
        /// Our value.
        ours: String,
        /// The peer's value.
        theirs: String,
    },
    /// Two parties meeting at a third role (the dealer) announced different sessions or
    /// configurations.
    #[error("the parties disagree in {field}: party 0 has {party0}, party 1 has {party1}")]
    PartiesDisagree {
        /// Which field differs (`session id` or `config.<key>`).
        field: String,
        /// Party 0's value.
        party0: String,
        /// Party 1's value.
        party1: String,
    },
    /// A TLS handshake failed: the peer is not who it must be (its certificate is not
    /// the pinned one), refused our certificate, or does not speak TLS.
    #[error("TLS handshake with {with} refused: {reason}")]
    Tls {
        /// The peer, as far as it is known (`party 1`, `the connecting peer`).
        with: String,
        /// Why, in `rustls`'s words.
        reason: String,
    },
    /// A fixed-point value could not be encoded.
    #[error(
        "cannot encode {value} as fixed point with {frac_bits} fractional bits in Z_2^{ring_bits}: {reason}"
    )]
    FixedPoint {
        /// The offending value.
        value: f64,
        /// Fractional bits of the encoding.
        frac_bits: u32,
        /// Ring bit width.
        ring_bits: u32,
        /// NaN, infinite, or out of range.
        reason: &'static str,
    },
    /// A configuration string or value is invalid.
    #[error("invalid {what}: {reason}")]
    Config {
        /// What was being parsed.
        what: &'static str,
        /// Why it is invalid.
        reason: String,
    },
    /// The local end of an internal pipe (the shaping task) went away.
    #[error("transport task stopped: {0}")]
    TransportStopped(String),
}

impl Error {
    /// An I/O error while doing `context`. A connection reset, aborted or broken by the
    /// other end is [`Error::ConnectionClosed`] (the peer went away), whatever the
    /// operating system called it.
    pub(crate) fn io(context: &'static str) -> impl FnOnce(std::io::Error) -> Error {
        move |source| {
            if let Some(e) = source
                .get_ref()
                .and_then(|inner| inner.downcast_ref::<rustls::Error>())
            {
                return Error::Tls {
                    with: "the peer".into(),
                    reason: match e {
                        rustls::Error::AlertReceived(a) => format!(
                            "it sent the alert {a:?} while {context}: it does not accept our \
                             certificate (not the one pinned there), or the connection was \
                             tampered with"
                        ),
                        other => format!("{other} while {context}"),
                    },
                };
            }
            Self::io_kind(context, source)
        }
    }

    fn io_kind(context: &'static str, source: std::io::Error) -> Error {
        match source.kind() {
            std::io::ErrorKind::ConnectionReset
            | std::io::ErrorKind::ConnectionAborted
            | std::io::ErrorKind::BrokenPipe
            // TLS: the peer closed the connection without a close_notify.
            | std::io::ErrorKind::UnexpectedEof => Error::ConnectionClosed {
                during: format!("while {context} ({source})"),
            },
            _ => Error::Io { context, source },
        }
    }
}

/// Result alias for `tessera-core`.
pub type Result<T, E = Error> = std::result::Result<T, E>;
