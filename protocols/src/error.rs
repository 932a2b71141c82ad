//! The error type of `tessera-protocols`.

use std::path::PathBuf;

use tessera_core::SessionId;

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
    /// The preprocessing store has less of a correlation than an operation needs.
    #[error(
        "preprocessing exhausted: {requested} {kind} requested, {remaining} remaining at this position"
    )]
    Exhausted {
        /// The correlation kind that ran out.
        kind: &'static str,
        /// How many (elements, bits, OTs) the operation asked for.
        requested: usize,
        /// How many the store could still give at this position.
        remaining: usize,
    },
    /// The next correlation in the store is not what the operation asked for: the
    /// program's demand and its run disagree.
    #[error(
        "wrong correlation taken: the operation needs {expected}, the store's next item is {found}"
    )]
    WrongCorrelation {
        /// What the operation asked for.
        expected: String,
        /// What the store holds next.
        found: String,
    },
    /// A preprocessing file is unreadable, truncated, tampered with or not ours.
    #[error("preprocessing file {}: {reason}", path.display())]
    PreprocessingFile {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// Preprocessing (a file, or the dealer's answer) belongs to another session.
    #[error("session mismatch in {what}: expected session {expected}, found {found}")]
    SessionMismatch {
        /// What carried the wrong session id.
        what: &'static str,
        /// The session we run.
        expected: SessionId,
        /// The session it was made for.
        found: SessionId,
    },
    /// A preprocessing file was already loaded once; its correlations must not be reused.
    #[error("preprocessing file {} for session {session} was already consumed", path.display())]
    AlreadyConsumed {
        /// The file.
        path: PathBuf,
        /// Its session.
        session: SessionId,
    },
    /// A dealing this party already consumed (its ledger records it).
    #[error(
        "dealing {dealing} was already consumed by party {party} (ledger {}): correlated randomness is used once; a copy of consumed preprocessing is refused",
        ledger.display()
    )]
    DealingConsumed {
        /// The party that consumed it.
        party: usize,
        /// The dealing.
        dealing: crate::preprocessing::DealingId,
        /// The ledger that records it.
        ledger: std::path::PathBuf,
    },
    /// The ledger of consumed dealings cannot be read or written.
    #[error("ledger of consumed dealings {}: {reason}", path.display())]
    Ledger {
        /// The ledger file.
        path: std::path::PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// An OT pairing file ([`crate::ot::pairing`]) is unreadable, corrupt or not this
    /// party's.
    #[error("OT pairing file {}: {reason}", path.display())]
    PairingFile {
        /// The file.
        path: std::path::PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// The two parties hold material of different dealings.
    #[error(
        "the parties hold material of different dealings: ours is {ours}, {peer}'s is {theirs} (preprocessing files of two offline runs mixed?)"
    )]
    DealingsDiffer {
        /// Our dealing.
        ours: crate::preprocessing::DealingId,
        /// The other party.
        peer: String,
        /// Its dealing.
        theirs: crate::preprocessing::DealingId,
    },
    /// The two parties sent the dealer different demands.
    #[error("dealer: the parties' demands differ: {detail}")]
    DemandMismatch {
        /// Where they differ.
        detail: String,
    },
    /// An argument is outside what the operation supports.
    #[error("invalid argument to {op}: {detail}")]
    InvalidArgument {
        /// The operation.
        op: &'static str,
        /// What is wrong.
        detail: String,
    },
    /// A task of the harness or the dealer did not finish in time.
    #[error("timed out after {0:?}")]
    Timeout(std::time::Duration),
    /// A task of a session (a role, or the expansion of preprocessing on a blocking
    /// thread) panicked or was cancelled.
    #[error("a task failed: {0}")]
    Task(String),
}

impl Error {
    /// A [`Error::Shape`] error.
    pub(crate) fn shape(op: &'static str, detail: impl Into<String>) -> Error {
        Error::Shape {
            op,
            detail: detail.into(),
        }
    }
}

/// Result alias for `tessera-protocols`.
pub type Result<T, E = Error> = std::result::Result<T, E>;
