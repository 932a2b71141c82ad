//! The error type of `tessera-models`.

use std::path::PathBuf;

/// Everything that can go wrong while loading a model or data, or running an
/// interpreter.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The bytes are not a decodable ONNX `ModelProto` (truncated, corrupt, or not
    /// ONNX at all).
    #[error("malformed ONNX model: {0}")]
    OnnxDecode(#[from] prost::DecodeError),
    /// The ONNX model decodes but breaks a rule of ONNX or of Tessera's loader
    /// (missing graph, unknown tensor name, bad attribute, a graph that is not a
    /// chain, …). `node` names the node when one is at fault.
    #[error("invalid ONNX model{}: {reason}", at_node(node))]
    OnnxInvalid {
        /// The node at fault (`name (op_type)`), if any.
        node: Option<String>,
        /// What is wrong.
        reason: String,
    },
    /// The ONNX graph uses an operator Tessera does not support.
    #[error("unsupported ONNX operator {op} (domain {domain:?}) at node {node:?}: {hint}")]
    UnsupportedOp {
        /// The node's `op_type`.
        op: String,
        /// The node's `domain` (empty for the default `ai.onnx` domain).
        domain: String,
        /// The node's name (or `#index` when it has none).
        node: String,
        /// What Tessera supports instead.
        hint: String,
    },
    /// Shapes do not fit a layer or an input.
    #[error("shape mismatch in {what}: {detail}")]
    Shape {
        /// The layer or function.
        what: String,
        /// What does not fit.
        detail: String,
    },
    /// An invalid argument or configuration (fixed-point format, tensor data, …).
    #[error("invalid argument to {what}: {detail}")]
    InvalidArgument {
        /// The function or setting.
        what: &'static str,
        /// What is wrong.
        detail: String,
    },
    /// A value does not fit the ring and fixed-point format of the plaintext
    /// fixed-point reference (a weight or input cannot be encoded, or a layer's
    /// accumulator could leave the range in which truncation is exact).
    #[error("fixed-point range exceeded at {what}: {detail}")]
    Range {
        /// The layer or tensor.
        what: String,
        /// The numbers.
        detail: String,
    },
    /// A data file (MNIST, `.npy`) is malformed.
    #[error("malformed {format} data{}: {reason}", in_path(path))]
    Data {
        /// The format ("MNIST", "npy").
        format: &'static str,
        /// The file, when read from one.
        path: Option<PathBuf>,
        /// What is wrong.
        reason: String,
    },
    /// Reading a file failed.
    #[error("i/o error reading {}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// A plan (assignment of layers to sharings) does not fit the model.
    #[error("invalid plan: {0}")]
    Plan(String),
    /// A secure step failed (transport, preprocessing, protocol).
    #[error(transparent)]
    Protocols(#[from] tessera_protocols::Error),
    /// A conversion failed.
    #[error(transparent)]
    Conversions(#[from] tessera_conversions::Error),
    /// The transport failed.
    #[error(transparent)]
    Core(#[from] tessera_core::Error),
}

fn at_node(node: &Option<String>) -> String {
    match node {
        Some(n) => format!(" at node {n}"),
        None => String::new(),
    }
}

fn in_path(path: &Option<PathBuf>) -> String {
    match path {
        Some(p) => format!(" in {}", p.display()),
        None => String::new(),
    }
}

impl Error {
    /// A [`Error::Shape`] for `what` (a layer, a tensor) with `detail`.
    pub fn shape(what: impl Into<String>, detail: impl Into<String>) -> Self {
        Error::Shape {
            what: what.into(),
            detail: detail.into(),
        }
    }
}

/// `Result` with this crate's [`Error`].
pub type Result<T> = std::result::Result<T, Error>;
