//! `abs` and `sign` (ONNX `Abs`, `Sign`): exact. `abs` is `|x|` in the ring (the most
//! negative value `−2^(ℓ−1)`, which has no positive counterpart, maps to itself, as
//! two's complement does); `sign` is `−1`, `0` or `1` at scale `2^f`.

use tessera_core::Ring;

use super::Operator;
use crate::Result;
use crate::fixed::FixedLayer;
use crate::float::Float;
use crate::model::Layer;

/// The [`Operator`] of [`crate::Op::Abs`]: `|x|`; 1-Lipschitz.
pub struct AbsOp;

/// The [`Operator`] of [`crate::Op::Sign`]: `−1`, `0`, `1` by the sign of `x`.
pub struct SignOp;

impl Operator for AbsOp {
    type Attrs = ();
    const KIND: &'static str = "abs";

    fn shape(_: &(), inputs: &[&[usize]], _: &str) -> Result<Vec<usize>> {
        Ok(inputs[0].to_vec())
    }

    fn float<F: Float>(_: &(), _: &Layer, ins: &[&[F]], _: usize) -> Result<Vec<F>> {
        let x = super::single(ins, Self::KIND)?;
        Ok(x.iter()
            .map(|&v| if v < F::zero() { F::zero() - v } else { v })
            .collect())
    }

    fn fixed<R: Ring>(_: &(), _: &FixedLayer<R>, ins: &[&[R]], _: usize, _: u32) -> Result<Vec<R>> {
        let x = super::single(ins, Self::KIND)?;
        Ok(x.iter()
            .map(|&v| if v.to_i64() < 0 { R::zero() - v } else { v })
            .collect())
    }
}

impl Operator for SignOp {
    type Attrs = ();
    const KIND: &'static str = "sign";

    fn shape(_: &(), inputs: &[&[usize]], _: &str) -> Result<Vec<usize>> {
        Ok(inputs[0].to_vec())
    }

    fn float<F: Float>(_: &(), _: &Layer, ins: &[&[F]], _: usize) -> Result<Vec<F>> {
        let x = super::single(ins, Self::KIND)?;
        let one = F::from_f32(1.0);
        Ok(x.iter()
            .map(|&v| {
                if v > F::zero() {
                    one
                } else if v < F::zero() {
                    F::zero() - one
                } else {
                    F::zero()
                }
            })
            .collect())
    }

    fn fixed<R: Ring>(_: &(), _: &FixedLayer<R>, ins: &[&[R]], _: usize, f: u32) -> Result<Vec<R>> {
        let x = super::single(ins, Self::KIND)?;
        Ok(x.iter()
            .map(|&v| R::from_i64(v.to_i64().signum() << f))
            .collect())
    }

    /// Not continuous: an input off by `D > 0` may flip the output by `2·2^f` units.
    fn error_bound_fixed<R: Ring>(_: &(), _: &FixedLayer<R>, devs: &[u128], f: u32) -> u128 {
        match devs.first().copied().unwrap_or(0) {
            0 => 0,
            _ => 2u128 << f,
        }
    }
}
