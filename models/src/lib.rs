//! # tessera-models
//!
//! Tessera's model layer: a model description (a DAG of layers with shapes and
//! `f32` weights), its loading from ONNX, and the interpreters that run it in the
//! clear — a float reference and the plaintext fixed-point reference that defines
//! what the secure execution computes — plus the data loaders (MNIST-10k, `.npy`).
//!
//! - [`model`]: [`Model`], [`Layer`], [`Op`], [`Head`], [`Tensor`], [`Scores`].
//! - [`onnx`]: [`load_onnx`] / [`load_onnx_file`] (supported operators and the
//!   graph rules are listed there).
//! - [`float`]: [`Model::run_float`] in `f32` or `f64`.
//! - [`fixed`]: [`FixedModel`] in `Z_2^64` or `Z_2^32`; its module docs state the
//!   fixed-point semantics layer by layer and how a secure run may differ.
//! - [`ops`]: one module per operator — shape rule, float and fixed-point semantics
//!   behind [`ops::Operator`] — and the registry [`dispatch_op!`] (see
//!   `docs/models.md`, "Adding an operator").
//! - [`data`]: [`Mnist`], [`NpyF32`].
//!
//! # Why prost with hand-declared messages
//! ONNX files are protobuf. Decoding untrusted bytes must return errors, never
//! panic; the dependency must be maintained; and the default build must stay light
//! on two cores. `prost` (tokio-rs) meets all three: its decoder checks every
//! length against the remaining input and limits nesting, and with the 12
//! message types of `onnx.proto` that Tessera reads declared by hand
//! ([`onnx::proto`], field numbers as in `onnx/onnx.proto`) no `protoc` or build
//! script is needed (20 s for a clean build of prost with its derive). The
//! alternatives: `tract-onnx` pulls in the whole tract inference engine (about 15
//! minutes of CPU to build) and needs Rust 1.91, above our MSRV 1.89; burn's
//! `onnx-ir` did not panic on our mutated models but costs about 8 minutes of CPU to
//! build; `onnx-protobuf` (rust-protobuf 3, MPL-2.0) does not compile against the
//! current rust-protobuf 3.7; `onnx-pb` is built on prost 0.6 from 2020. See
//! `docs/models.md` for the measurements.
//!
//! Security model of the project: two semi-honest parties and a semi-honest dealer
//! that colludes with neither; this crate computes only in the clear.
#![deny(missing_docs)]

pub mod assets;
pub mod data;
pub mod error;
pub mod fixed;
pub mod float;
pub mod kernels;
pub mod model;
pub mod onnx;
pub mod ops;

pub use data::{Mnist, NpyF32, NpyIndices};
pub use error::{Error, Result};
pub use fixed::{FixedLayer, FixedModel, FixedParams, FixedRun, LayerTrace, Score};
pub use float::Float;
pub use model::{Conv, Dense, Head, IndexInput, Layer, Model, Op, Pool, Remap, Scores, Tensor};
pub use onnx::{
    OnnxInfo, OnnxOptions, SigmoidKind, SoftmaxKind, load_onnx, load_onnx_file,
    load_onnx_file_with, load_onnx_with, load_onnx_with_info,
};
pub use ops::{AddConst, Clip, Elu, LeakyRelu, MulConst, PRelu, Selu, Softmax};
