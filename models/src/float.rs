//! The float reference: the model description run in `f32` or `f64`.
//!
//! This is the model as trained, up to floating-point summation order: on the
//! reference models it reproduces all 2,000 labels of
//! `models/onnx/float_reference.json` (tested). `Sigmoid` layers compute the
//! piecewise-linear approximation of [`Op::Sigmoid`], not the logistic function,
//! so that the float, fixed-point and secure runs compute the same function.

use crate::kernels::{self, Window};
use crate::model::{Conv2d, Dense, Layer, Model, Op, Pool2d, Scores};
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
}

impl Float for f32 {
    fn from_f32(v: f32) -> Self {
        v
    }
    fn to_f64(self) -> f64 {
        f64::from(self)
    }
}

impl Float for f64 {
    fn from_f32(v: f32) -> Self {
        f64::from(v)
    }
    fn to_f64(self) -> f64 {
        self
    }
}

impl Model {
    /// Runs the model in float type `F` on a batch `x` (row-major
    /// `[batch, input_shape…]`, `f32` as ONNX) and returns the scores.
    ///
    /// # Errors
    /// [`Error::Shape`] if `x` is not a whole, non-empty batch.
    pub fn run_float<F: Float>(&self, x: &[f32]) -> Result<Scores<F>> {
        let batch = self.batch_of(x.len())?;
        let mut vals: Vec<Vec<F>> = vec![x.iter().map(|&v| F::from_f32(v)).collect()];
        for layer in self.layers() {
            let ins: Vec<&[F]> = layer.inputs().iter().map(|&v| vals[v].as_slice()).collect();
            let y = float_node(layer, &ins, batch)?;
            vals.push(y);
        }
        Ok(Scores {
            batch,
            classes: self.classes(),
            values: vals.pop().unwrap_or_default(),
        })
    }
}

/// One layer of the graph in float type `F` on a batch of its inputs.
fn float_node<F: Float>(layer: &Layer, ins: &[&[F]], batch: usize) -> Result<Vec<F>> {
    match layer.op() {
        Op::Add => kernels::zip(ins, |a, b| a + b),
        Op::Sub => kernels::zip(ins, |a, b| a - b),
        Op::Concat(axis) => kernels::concat(ins, layer.input_shapes(), *axis, batch),
        op => float_layer(op, layer.input_shape(), layer.output_shape(), ins[0], batch),
    }
    .map_err(|e| match e {
        Error::Shape { detail, .. } => Error::shape(format!("layer {}", layer.name()), detail),
        e => e,
    })
}

/// One single-input layer in float type `F` on a batch.
pub(crate) fn float_layer<F: Float>(
    op: &Op,
    input: &[usize],
    output: &[usize],
    x: &[F],
    batch: usize,
) -> Result<Vec<F>> {
    let per: usize = input.iter().product();
    if x.len() != batch * per {
        return Err(Error::shape(
            op.kind(),
            format!("{} values for a batch of {batch} × {input:?}", x.len()),
        ));
    }
    let cast = |t: &[f32]| -> Vec<F> { t.iter().map(|&v| F::from_f32(v)).collect() };
    Ok(match op {
        Op::Dense(Dense { weight, bias }) => {
            let (out, inn) = (weight.shape()[0], weight.shape()[1]);
            let wt = kernels::transpose(&cast(weight.data()), out, inn);
            let b = bias.as_ref().map(|b| cast(b.data()));
            kernels::dense(x, batch, inn, &wt, out, b.as_deref())
        }
        Op::Conv2d(c) => {
            let (win, o) = conv_window(c, input, output);
            let b = c.bias.as_ref().map(|b| cast(b.data()));
            kernels::conv2d(x, batch, &win, &cast(c.weight.data()), o, b.as_deref())
        }
        Op::Relu => x
            .iter()
            .map(|&v| if v > F::zero() { v } else { F::zero() })
            .collect(),
        Op::Sigmoid => {
            let (half, one) = (F::from_f32(0.5), F::from_f32(1.0));
            x.iter()
                .map(|&v| {
                    let y = v + half;
                    if y < F::zero() {
                        F::zero()
                    } else if y > one {
                        one
                    } else {
                        y
                    }
                })
                .collect()
        }
        Op::Square => x.iter().map(|&v| v * v).collect(),
        Op::MaxPool(p) => {
            let win = Window::new(input, output, p);
            win.fold(x, batch, None, |m: Option<F>, v| match m {
                Some(m) if m >= v => Some(m),
                _ => Some(v),
            })
            .into_iter()
            .map(|m| m.unwrap_or_else(F::zero))
            .collect()
        }
        Op::AvgPool(p) => {
            let win = Window::new(input, output, p);
            // ONNX divides the zero-padded window sum by kh·kw (count_include_pad = 1).
            let count = F::from_f32((p.kernel[0] * p.kernel[1]) as f32);
            win.fold(x, batch, F::zero(), |s, v| s + v)
                .into_iter()
                .map(|s| s / count)
                .collect()
        }
        Op::Reshape(_) => x.to_vec(),
        Op::Add | Op::Sub | Op::Concat(_) => {
            return Err(Error::shape(op.kind(), "reads several inputs"));
        }
    })
}

/// The window of a convolution and its number of output channels.
pub fn conv_window(c: &Conv2d, input: &[usize], output: &[usize]) -> (Window, usize) {
    let s = c.weight.shape();
    let p = Pool2d {
        kernel: [s[2], s[3]],
        strides: c.strides,
        pads: c.pads,
    };
    (Window::new(input, output, &p), s[0])
}
