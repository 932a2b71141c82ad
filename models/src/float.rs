//! The float reference: the model description run in `f32` or `f64`.
//!
//! This is the model as trained, up to floating-point summation order: on the
//! reference models it reproduces all 2,000 labels of
//! `models/onnx/float_reference.json` (tested). Every operator computes its
//! mathematical function — the smooth activations ([`crate::Op::Sigmoid`], [`crate::Op::Tanh`], …)
//! the true function, which the fixed-point reference approximates by a spline —
//! except [`crate::Op::SecureMlSigmoid`], which *is* SecureML's piecewise-linear function in
//! every interpreter.

use crate::model::{Layer, Model, Scores};
use crate::ops::Operator;
use crate::{Error, Result};

mod sealed {
    pub trait Sealed {}
    impl Sealed for f32 {}
    impl Sealed for f64 {}
}

/// A float type the float reference runs in: `f32` (as ONNX) or `f64`.
pub trait Float:
    sealed::Sealed
    + Copy
    + Default
    + PartialOrd
    + std::fmt::Debug
    + num_traits::Zero
    + std::ops::AddAssign
    + std::ops::Mul<Output = Self>
    + std::ops::Add<Output = Self>
    + std::ops::Sub<Output = Self>
    + std::ops::Div<Output = Self>
{
    /// Converts an `f32` weight or input (exactly).
    fn from_f32(v: f32) -> Self;
    /// Converts to `f64` (exactly).
    fn to_f64(self) -> f64;
    /// Converts from `f64` (rounding to nearest for `f32`): the smooth activations
    /// evaluate their function in `f64` and round once.
    fn from_f64(v: f64) -> Self;
}

impl Float for f32 {
    fn from_f32(v: f32) -> Self {
        v
    }
    fn to_f64(self) -> f64 {
        f64::from(self)
    }
    fn from_f64(v: f64) -> Self {
        v as f32
    }
}

impl Float for f64 {
    fn from_f32(v: f32) -> Self {
        f64::from(v)
    }
    fn to_f64(self) -> f64 {
        self
    }
    fn from_f64(v: f64) -> Self {
        v
    }
}

impl Model {
    /// Runs the model in float type `F` on a batch `x` (row-major
    /// `[batch, input_shape…]`, `f32` as ONNX) and returns the scores: the first
    /// output ([`Model::run_float_outputs`] returns them all).
    ///
    /// # Errors
    /// [`Error::Shape`] if `x` is not a whole, non-empty batch.
    pub fn run_float<F: Float>(&self, x: &[f32]) -> Result<Scores<F>> {
        let mut all = self.run_float_outputs(x)?;
        if all.is_empty() {
            return Err(Error::InvalidArgument {
                what: "float run",
                detail: "a model without outputs".into(),
            });
        }
        Ok(all.swap_remove(0))
    }

    /// Runs the model as [`Model::run_float`] and returns every output, in the order
    /// of [`Model::outputs`] (`classes` is each output's number of values per
    /// example).
    ///
    /// # Errors
    /// [`Error::Shape`] if `x` is not a whole, non-empty batch.
    pub fn run_float_outputs<F: Float>(&self, x: &[f32]) -> Result<Vec<Scores<F>>> {
        let batch = self.batch_of(x.len())?;
        let mut vals: Vec<Vec<F>> = vec![x.iter().map(|&v| F::from_f32(v)).collect()];
        for layer in self.layers() {
            let ins: Vec<&[F]> = layer.inputs().iter().map(|&v| vals[v].as_slice()).collect();
            let y = float_node(layer, &ins, batch)?;
            vals.push(y);
        }
        Ok(self
            .outputs()
            .iter()
            .zip(self.output_shapes())
            .map(|(&v, shape)| Scores {
                batch,
                classes: shape.iter().product(),
                values: vals[v].clone(),
            })
            .collect())
    }
}

/// One layer of the graph in float type `F` on a batch of its inputs.
fn float_node<F: Float>(layer: &Layer, ins: &[&[F]], batch: usize) -> Result<Vec<F>> {
    let op = layer.op();
    if op.arity() == Some(1) {
        let per: usize = layer.input_shape().iter().product();
        let n = ins.first().map_or(0, |x| x.len());
        if ins.len() != 1 || n != batch * per {
            return Err(Error::shape(
                format!("layer {}", layer.name()),
                format!(
                    "{n} values for a batch of {batch} × {:?}",
                    layer.input_shape()
                ),
            ));
        }
    }
    crate::dispatch_op!(op, D, a => D::float(a, layer, ins, batch)).map_err(|e| match e {
        Error::Shape { detail, .. } => Error::shape(format!("layer {}", layer.name()), detail),
        e => e,
    })
}
