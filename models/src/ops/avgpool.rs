//! `avgpool`: average pooling over a 1-D, 2-D or 3-D window with the constant
//! divisor `Π kernel` (zero padding counted, ONNX `count_include_pad = 1`).

use tessera_core::{FixedPoint, Ring};

use super::Operator;
use super::dense::linear_bound;
use super::pool::{Pool, pool_shape};
use crate::Result;
use crate::fixed::{FixedLayer, FixedParams};
use crate::float::Float;
use crate::model::Layer;

/// The [`Operator`] of [`crate::Op::AvgPool`]: input `[C, …in]` → `[C, …out]`; in
/// fixed point `a = q·Σ_window x` with `q = round(2^f/Π kernel)`, truncated once.
pub struct AvgPoolOp;

impl Operator for AvgPoolOp {
    type Attrs = Pool;
    const KIND: &'static str = "avgpool";
    const TRUNCATES: bool = true;

    fn shape(p: &Pool, inputs: &[&[usize]], what: &str) -> Result<Vec<usize>> {
        pool_shape(p, inputs[0], what)
    }

    /// The window: poolings of equal shapes may differ in it.
    fn hyper(p: &Pool) -> String {
        format!("{:?} {:?}", p.kernel(), p.window)
    }

    fn work_per_output(p: &Pool) -> Option<u64> {
        Some(p.taps() as u64)
    }

    fn float<F: Float>(p: &Pool, l: &Layer, ins: &[&[F]], batch: usize) -> Result<Vec<F>> {
        let x = super::single(ins, Self::KIND)?;
        // ONNX divides the zero-padded window sum by Π kernel (count_include_pad = 1).
        let count = F::from_f32(p.taps() as f32);
        Ok(p.fold(
            l.input_shape(),
            l.output_shape(),
            x,
            batch,
            F::zero(),
            |s, v| s + v,
        )
        .into_iter()
        .map(|s| s / count)
        .collect())
    }

    fn encode<R: Ring>(p: &Pool, fp: FixedPoint, _: &str) -> Result<FixedParams<R>> {
        let q = R::from_u64((fp.scale() / p.taps() as f64).round() as u64);
        Ok(FixedParams {
            avg_scale: Some(q),
            gain: u128::from(q.to_u64()) * p.taps() as u128,
            ..FixedParams::default()
        })
    }

    fn fixed<R: Ring>(
        p: &Pool,
        fl: &FixedLayer<R>,
        ins: &[&[R]],
        batch: usize,
        _: u32,
    ) -> Result<Vec<R>> {
        let x = super::single(ins, Self::KIND)?;
        let l = fl.layer();
        let q = fl.avg_scale().unwrap_or_else(R::zero);
        Ok(p.fold(
            l.input_shape(),
            l.output_shape(),
            x,
            batch,
            R::zero(),
            |s, v| s + v,
        )
        .into_iter()
        .map(|s| s * q)
        .collect())
    }

    fn acc_bound<R: Ring>(_: &Pool, fl: &FixedLayer<R>, mu: u128, dev: u128) -> (u128, u128) {
        linear_bound(fl, mu, dev)
    }
}
