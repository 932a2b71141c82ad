//! `square`: the CryptoNets activation `x·x` (ONNX `Mul` of a tensor by itself).

use tessera_core::Ring;

use super::Operator;
use crate::Result;
use crate::fixed::FixedLayer;
use crate::float::Float;
use crate::model::Layer;

/// The [`Operator`] of [`crate::Op::Square`]: `x·x`, in fixed point the product at
/// scale `2^2f`, truncated once.
pub struct SquareOp;

impl Operator for SquareOp {
    type Attrs = ();
    const KIND: &'static str = "square";
    const TRUNCATES: bool = true;

    fn shape(_: &(), inputs: &[&[usize]], _: &str) -> Result<Vec<usize>> {
        Ok(inputs[0].to_vec())
    }

    fn float<F: Float>(_: &(), _: &Layer, ins: &[&[F]], _: usize) -> Result<Vec<F>> {
        let x = super::single(ins, Self::KIND)?;
        Ok(x.iter().map(|&v| v * v).collect())
    }

    fn fixed<R: Ring>(_: &(), _: &FixedLayer<R>, ins: &[&[R]], _: usize, _: u32) -> Result<Vec<R>> {
        let x = super::single(ins, Self::KIND)?;
        Ok(x.iter().map(|&v| v * v).collect())
    }

    /// `max|x|²`; two inputs `D` apart give products `D·(2·max|x| + D)` apart.
    fn acc_bound<R: Ring>(_: &(), _: &FixedLayer<R>, mu: u128, dev: u128) -> (u128, u128) {
        (
            mu.saturating_mul(mu),
            dev.saturating_mul(mu.saturating_mul(2).saturating_add(dev)),
        )
    }
}
