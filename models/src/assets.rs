//! The reference models and data, embedded in the binary so that `tessera demo` and
//! `tessera infer --model cnn --dataset mnist` run on a fresh machine without files.

use crate::{Mnist, Model, Result, load_onnx};

/// The SecureML MLP (784-128-128-10, ReLU), `models/onnx/mlp.onnx`.
pub const MLP_ONNX: &[u8] = include_bytes!("../onnx/mlp.onnx");
/// The Chameleon/CryptoNets CNN, `models/onnx/cnn.onnx`.
pub const CNN_ONNX: &[u8] = include_bytes!("../onnx/cnn.onnx");
/// The 10,000 MNIST digits (`models/data/mnist-10k.bin.gz`; provenance in
/// `models/data/README.md`).
pub const MNIST10K_GZ: &[u8] = include_bytes!("../data/mnist-10k.bin.gz");

/// The names of the embedded models.
pub const MODEL_NAMES: [&str; 2] = ["mlp", "cnn"];

/// The ONNX bytes of an embedded model by name (`mlp`, `cnn`).
pub fn model_bytes(name: &str) -> Option<&'static [u8]> {
    match name {
        "mlp" => Some(MLP_ONNX),
        "cnn" => Some(CNN_ONNX),
        _ => None,
    }
}

/// An embedded model by name, loaded.
///
/// # Errors
/// [`crate::Error::InvalidArgument`] for an unknown name.
pub fn model(name: &str) -> Result<Model> {
    let bytes = model_bytes(name).ok_or_else(|| crate::Error::InvalidArgument {
        what: "embedded model",
        detail: format!("`{name}`: the embedded models are mlp and cnn"),
    })?;
    load_onnx(bytes)
}

/// The embedded MNIST digits, checked against their recorded SHA-256.
///
/// # Errors
/// If the embedded file is corrupt (it cannot be, short of a broken build).
pub fn mnist() -> Result<Mnist> {
    let m = Mnist::from_gz_bytes(MNIST10K_GZ)?;
    m.verify_sha256(crate::data::MNIST10K_PAYLOAD_SHA256)?;
    Ok(m)
}
