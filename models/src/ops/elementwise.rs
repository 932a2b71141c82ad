//! `add` and `sub`: the element-wise sum and difference of two values of one shape
//! (ONNX `Add` of two activations — a residual connection — and `Sub`). Exact ring
//! arithmetic: the error bounds of the operands add up.

use tessera_core::Ring;

use super::Operator;
use crate::fixed::FixedLayer;
use crate::float::Float;
use crate::kernels;
use crate::model::Layer;
use crate::{Error, Result};

/// The [`Operator`] of [`crate::Op::Add`]: `x + y`.
pub struct AddOp;

/// The [`Operator`] of [`crate::Op::Sub`]: `x − y`.
pub struct SubOp;

/// Both operands have one shape (no broadcasting).
fn same_shape(inputs: &[&[usize]], what: &str) -> Result<Vec<usize>> {
    let input = inputs[0];
    if inputs[1] != input {
        return Err(Error::shape(
            what,
            format!(
                "operands of shapes {input:?} and {:?} (both must have one shape; broadcasting is not supported)",
                inputs[1]
            ),
        ));
    }
    Ok(input.to_vec())
}

/// The sum of the operands' error bounds.
fn sum_bounds(devs: &[u128]) -> u128 {
    devs.iter().fold(0u128, |a, &d| a.saturating_add(d))
}

impl Operator for AddOp {
    type Attrs = ();
    const KIND: &'static str = "add";
    const ARITY: Option<usize> = Some(2);

    fn shape(_: &(), inputs: &[&[usize]], what: &str) -> Result<Vec<usize>> {
        same_shape(inputs, what)
    }

    fn float<F: Float>(_: &(), _: &Layer, ins: &[&[F]], _: usize) -> Result<Vec<F>> {
        kernels::zip(ins, |a, b| a + b)
    }

    fn fixed<R: Ring>(_: &(), _: &FixedLayer<R>, ins: &[&[R]], _: usize, _: u32) -> Result<Vec<R>> {
        kernels::zip(ins, |a, b| a + b)
    }

    fn error_bound(_: &(), devs: &[u128]) -> u128 {
        sum_bounds(devs)
    }
}

impl Operator for SubOp {
    type Attrs = ();
    const KIND: &'static str = "sub";
    const ARITY: Option<usize> = Some(2);

    fn shape(_: &(), inputs: &[&[usize]], what: &str) -> Result<Vec<usize>> {
        same_shape(inputs, what)
    }

    fn float<F: Float>(_: &(), _: &Layer, ins: &[&[F]], _: usize) -> Result<Vec<F>> {
        kernels::zip(ins, |a, b| a - b)
    }

    fn fixed<R: Ring>(_: &(), _: &FixedLayer<R>, ins: &[&[R]], _: usize, _: u32) -> Result<Vec<R>> {
        kernels::zip(ins, |a, b| a - b)
    }

    fn error_bound(_: &(), devs: &[u128]) -> u128 {
        sum_bounds(devs)
    }
}
