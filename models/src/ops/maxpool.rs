//! `maxpool`: max pooling over a 1-D, 2-D or 3-D window (padding ignored, as ONNX's
//! −∞).

use tessera_core::Ring;

use super::Operator;
use super::pool::{Pool, pool_shape};
use crate::fixed::FixedLayer;
use crate::float::Float;
use crate::model::Layer;
use crate::{Error, Result};

/// The [`Operator`] of [`crate::Op::MaxPool`]: input `[C, …in]` → `[C, …out]`, the
/// (signed) maximum over the window's in-bounds elements; 1-Lipschitz.
pub struct MaxPoolOp;

impl Operator for MaxPoolOp {
    type Attrs = Pool;
    const KIND: &'static str = "maxpool";

    fn shape(p: &Pool, inputs: &[&[usize]], what: &str) -> Result<Vec<usize>> {
        let input = inputs[0];
        let out = pool_shape(p, input, what)?;
        if p.has_empty_window(&input[1..]) {
            return Err(Error::shape(
                what,
                format!(
                    "a max-pooling window {:?} lies entirely in the padding",
                    p.kernel()
                ),
            ));
        }
        Ok(out)
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
        Ok(p.fold(
            l.input_shape(),
            l.output_shape(),
            x,
            batch,
            None,
            |m: Option<F>, v| match m {
                Some(m) if m >= v => Some(m),
                _ => Some(v),
            },
        )
        .into_iter()
        .map(|m| m.unwrap_or_else(F::zero))
        .collect())
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
        Ok(p.fold(
            l.input_shape(),
            l.output_shape(),
            x,
            batch,
            None,
            |best: Option<R>, v| match best {
                Some(b) if b.to_i64() >= v.to_i64() => Some(b),
                _ => Some(v),
            },
        )
        .into_iter()
        .map(|b| b.unwrap_or_else(R::zero))
        .collect())
    }
}
