//! `avgpool`: average pooling over a 2-D window with the constant divisor `kh·kw`
//! (zero padding counted, ONNX `count_include_pad = 1`).

use tessera_core::{FixedPoint, Ring};
use tessera_protocols::arith::avg_pool_scale;

use super::Operator;
use super::dense::linear_bound;
use super::pool::{Pool2d, pool_shape};
use crate::Result;
use crate::fixed::{FixedLayer, FixedParams};
use crate::float::Float;
use crate::kernels::Window;
use crate::model::Layer;

/// The [`Operator`] of [`crate::Op::AvgPool`]: input `[C, H, W]` → `[C, OH, OW]`; in
/// fixed point `a = q·Σ_window x` with `q = round(2^f/(kh·kw))`, truncated once.
pub struct AvgPoolOp;

impl Operator for AvgPoolOp {
    type Attrs = Pool2d;
    const KIND: &'static str = "avgpool";
    const TRUNCATES: bool = true;

    fn shape(p: &Pool2d, inputs: &[&[usize]], what: &str) -> Result<Vec<usize>> {
        pool_shape(p, inputs[0], what)
    }

    fn work_per_output(p: &Pool2d) -> Option<u64> {
        p.kernel[0].checked_mul(p.kernel[1]).map(|n| n as u64)
    }

    fn float<F: Float>(p: &Pool2d, l: &Layer, ins: &[&[F]], batch: usize) -> Result<Vec<F>> {
        let x = super::single(ins, Self::KIND)?;
        let win = Window::new(l.input_shape(), l.output_shape(), p);
        // ONNX divides the zero-padded window sum by kh·kw (count_include_pad = 1).
        let count = F::from_f32((p.kernel[0] * p.kernel[1]) as f32);
        Ok(win
            .fold(x, batch, F::zero(), |s, v| s + v)
            .into_iter()
            .map(|s| s / count)
            .collect())
    }

    fn encode<R: Ring>(p: &Pool2d, fp: FixedPoint, _: &str) -> Result<FixedParams<R>> {
        let q = if p.kernel[0] != p.kernel[1] {
            // avg_pool_scale takes a square window; compute the same
            // round(2^f / (kh·kw)) for a rectangular one.
            let q = (fp.scale() / (p.kernel[0] * p.kernel[1]) as f64).round();
            R::from_u64(q as u64)
        } else {
            avg_pool_scale::<R>(fp, p.kernel[0])
        };
        Ok(FixedParams {
            avg_scale: Some(q),
            gain: u128::from(q.to_u64()) * (p.kernel[0] * p.kernel[1]) as u128,
            ..FixedParams::default()
        })
    }

    fn fixed<R: Ring>(
        p: &Pool2d,
        fl: &FixedLayer<R>,
        ins: &[&[R]],
        batch: usize,
        _: u32,
    ) -> Result<Vec<R>> {
        let x = super::single(ins, Self::KIND)?;
        let l = fl.layer();
        let q = fl.avg_scale().unwrap_or_else(R::zero);
        let win = Window::new(l.input_shape(), l.output_shape(), p);
        Ok(win
            .fold(x, batch, R::zero(), |s, v| s + v)
            .into_iter()
            .map(|s| s * q)
            .collect())
    }

    fn acc_bound<R: Ring>(_: &Pool2d, fl: &FixedLayer<R>, mu: u128, dev: u128) -> (u128, u128) {
        linear_bound(fl, mu, dev)
    }
}
