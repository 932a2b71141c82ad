//! `relu`: `max(x, 0)`.

use tessera_core::Ring;

use super::Operator;
use crate::Result;
use crate::fixed::FixedLayer;
use crate::float::Float;
use crate::model::Layer;

/// The [`Operator`] of [`crate::Op::Relu`]: `max(x, 0)` on the signed value;
/// 1-Lipschitz.
pub struct ReluOp;

impl Operator for ReluOp {
    type Attrs = ();
    const KIND: &'static str = "relu";

    fn shape(_: &(), inputs: &[&[usize]], _: &str) -> Result<Vec<usize>> {
        Ok(inputs[0].to_vec())
    }

    fn float<F: Float>(_: &(), _: &Layer, ins: &[&[F]], _: usize) -> Result<Vec<F>> {
        let x = super::single(ins, Self::KIND)?;
        Ok(x.iter()
            .map(|&v| if v > F::zero() { v } else { F::zero() })
            .collect())
    }

    fn fixed<R: Ring>(_: &(), _: &FixedLayer<R>, ins: &[&[R]], _: usize, _: u32) -> Result<Vec<R>> {
        let x = super::single(ins, Self::KIND)?;
        Ok(x.iter()
            .map(|&v| if v.to_i64() < 0 { R::zero() } else { v })
            .collect())
    }
}
