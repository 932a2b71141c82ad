//! `add`, `sub`, `mul` and `neg`: the element-wise sum, difference and product of two values
//! of one shape (ONNX `Add` of two activations — a residual connection —, `Sub`, and
//! `Mul` of two activations — a gate, as in GLU). Sums are exact ring arithmetic: the
//! error bounds of the operands add up; the product is a fixed-point product,
//! truncated once; `neg` the exact negation.

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

/// The [`Operator`] of [`crate::Op::Neg`]: `−x` (exact; 1-Lipschitz).
pub struct NegOp;

/// The [`Operator`] of [`crate::Op::Mul`]: `x ⊙ y`.
pub struct MulOp;

/// Both operands have one shape (no broadcasting).
pub(crate) fn same_shape(inputs: &[&[usize]], what: &str) -> Result<Vec<usize>> {
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

impl Operator for MulOp {
    type Attrs = ();
    const KIND: &'static str = "mul";
    const ARITY: Option<usize> = Some(2);
    const TRUNCATES: bool = true;

    fn shape(_: &(), inputs: &[&[usize]], what: &str) -> Result<Vec<usize>> {
        same_shape(inputs, what)
    }

    fn float<F: Float>(_: &(), _: &Layer, ins: &[&[F]], _: usize) -> Result<Vec<F>> {
        kernels::zip(ins, |a, b| a * b)
    }

    /// The product at scale `2^2f`.
    fn fixed<R: Ring>(_: &(), _: &FixedLayer<R>, ins: &[&[R]], _: usize, _: u32) -> Result<Vec<R>> {
        kernels::zip(ins, |a, b| a * b)
    }

    /// `max|x|²` with `max|x|` over both operands; operands `D` apart (the larger of
    /// their bounds) give products at most `D·(2·max|x| + D)` apart.
    fn acc_bound<R: Ring>(_: &(), _: &FixedLayer<R>, mu: u128, dev: u128) -> (u128, u128) {
        (
            mu.saturating_mul(mu),
            dev.saturating_mul(mu.saturating_mul(2).saturating_add(dev)),
        )
    }
}

impl Operator for NegOp {
    type Attrs = ();
    const KIND: &'static str = "neg";

    fn shape(_: &(), inputs: &[&[usize]], _: &str) -> Result<Vec<usize>> {
        Ok(inputs[0].to_vec())
    }

    fn float<F: Float>(_: &(), _: &Layer, ins: &[&[F]], _: usize) -> Result<Vec<F>> {
        let x = super::single(ins, Self::KIND)?;
        Ok(x.iter().map(|&v| F::zero() - v).collect())
    }

    fn fixed<R: Ring>(_: &(), _: &FixedLayer<R>, ins: &[&[R]], _: usize, _: u32) -> Result<Vec<R>> {
        let x = super::single(ins, Self::KIND)?;
        Ok(x.iter().map(|&v| R::zero() - v).collect())
    }
}
