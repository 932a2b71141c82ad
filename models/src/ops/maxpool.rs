//! `maxpool`: max pooling over a 2-D window (padding ignored, as ONNX's −∞).

use tessera_core::Ring;

use super::Operator;
use super::pool::{Pool2d, pool_shape};
use crate::fixed::FixedLayer;
use crate::float::Float;
use crate::kernels::Window;
use crate::model::Layer;
use crate::{Error, Result};

/// The [`Operator`] of [`crate::Op::MaxPool`]: input `[C, H, W]` → `[C, OH, OW]`, the
/// (signed) maximum over the window's in-bounds elements; 1-Lipschitz.
pub struct MaxPoolOp;

impl Operator for MaxPoolOp {
    type Attrs = Pool2d;
    const KIND: &'static str = "maxpool";

    fn shape(p: &Pool2d, inputs: &[&[usize]], what: &str) -> Result<Vec<usize>> {
        let input = inputs[0];
        if input.len() != 3 {
            return Err(Error::shape(
                what,
                format!("input {input:?} is not [C, H, W]"),
            ));
        }
        if p.pads[0] >= p.kernel[0]
            || p.pads[2] >= p.kernel[0]
            || p.pads[1] >= p.kernel[1]
            || p.pads[3] >= p.kernel[1]
        {
            return Err(Error::shape(
                what,
                format!(
                    "max-pool pads {:?} must be smaller than the window {:?}",
                    p.pads, p.kernel
                ),
            ));
        }
        pool_shape(p, input, what)
    }

    fn work_per_output(p: &Pool2d) -> Option<u64> {
        p.kernel[0].checked_mul(p.kernel[1]).map(|n| n as u64)
    }

    fn float<F: Float>(p: &Pool2d, l: &Layer, ins: &[&[F]], batch: usize) -> Result<Vec<F>> {
        let x = super::single(ins, Self::KIND)?;
        let win = Window::new(l.input_shape(), l.output_shape(), p);
        Ok(win
            .fold(x, batch, None, |m: Option<F>, v| match m {
                Some(m) if m >= v => Some(m),
                _ => Some(v),
            })
            .into_iter()
            .map(|m| m.unwrap_or_else(F::zero))
            .collect())
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
        let win = Window::new(l.input_shape(), l.output_shape(), p);
        Ok(win
            .fold(x, batch, None, |best: Option<R>, v| match best {
                Some(b) if b.to_i64() >= v.to_i64() => Some(b),
                _ => Some(v),
            })
            .into_iter()
            .map(|b| b.unwrap_or_else(R::zero))
            .collect())
    }
}
