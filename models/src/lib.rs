//! # tessera-models
//!
//! Tensors of shares, layers, ONNX model loading and the plaintext fixed-point
//! reference. The MNIST data set and the reference models live in `models/data` and
//! `models/onnx`; the Rust code that uses them is not written yet.
#![deny(missing_docs)]
