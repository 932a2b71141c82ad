//! `max` and `min` of two activations of one shape (ONNX `Max`, `Min` with two data
//! inputs; with a constant operand they load as [`super::clip`]): the exact signed
//! maximum and minimum.

use tessera_core::Ring;

use super::Operator;
use super::elementwise::same_shape;
use crate::Result;
use crate::fixed::FixedLayer;
use crate::float::Float;
use crate::kernels;
use crate::model::Layer;

/// The [`Operator`] of [`crate::Op::Max`]: `max(x, y)`.
pub struct MaxOp;

/// The [`Operator`] of [`crate::Op::Min`]: `min(x, y)`.
pub struct MinOp;

/// 1-Lipschitz in each operand: the larger of their bounds.
fn larger_bound(devs: &[u128]) -> u128 {
    devs.iter().copied().max().unwrap_or(0)
}

impl Operator for MaxOp {
    type Attrs = ();
    const KIND: &'static str = "max";
    const ARITY: Option<usize> = Some(2);

    fn shape(_: &(), inputs: &[&[usize]], what: &str) -> Result<Vec<usize>> {
        same_shape(inputs, what)
    }

    fn float<F: Float>(_: &(), _: &Layer, ins: &[&[F]], _: usize) -> Result<Vec<F>> {
        kernels::zip(ins, |a, b| if b > a { b } else { a })
    }

    fn fixed<R: Ring>(_: &(), _: &FixedLayer<R>, ins: &[&[R]], _: usize, _: u32) -> Result<Vec<R>> {
        kernels::zip(ins, |a, b| if b.to_i64() > a.to_i64() { b } else { a })
    }

    fn error_bound(_: &(), devs: &[u128]) -> u128 {
        larger_bound(devs)
    }
}

impl Operator for MinOp {
    type Attrs = ();
    const KIND: &'static str = "min";
    const ARITY: Option<usize> = Some(2);

    fn shape(_: &(), inputs: &[&[usize]], what: &str) -> Result<Vec<usize>> {
        same_shape(inputs, what)
    }

    fn float<F: Float>(_: &(), _: &Layer, ins: &[&[F]], _: usize) -> Result<Vec<F>> {
        kernels::zip(ins, |a, b| if b < a { b } else { a })
    }

    fn fixed<R: Ring>(_: &(), _: &FixedLayer<R>, ins: &[&[R]], _: usize, _: u32) -> Result<Vec<R>> {
        kernels::zip(ins, |a, b| if b.to_i64() < a.to_i64() { b } else { a })
    }

    fn error_bound(_: &(), devs: &[u128]) -> u128 {
        larger_bound(devs)
    }
}
