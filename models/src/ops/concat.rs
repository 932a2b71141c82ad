//! `concat`: the concatenation of several values along a per-example axis (ONNX
//! `Concat` with `axis − 1`); the other dimensions must agree.

use tessera_core::Ring;

use super::Operator;
use crate::fixed::FixedLayer;
use crate::float::Float;
use crate::kernels;
use crate::model::Layer;
use crate::{Error, Result};

/// The [`Operator`] of [`crate::Op::Concat`] (attribute: the per-example axis). Moves
/// data only: the error bound is the largest of the inputs'.
pub struct ConcatOp;

impl Operator for ConcatOp {
    type Attrs = usize;
    const KIND: &'static str = "concat";
    const ARITY: Option<usize> = None;

    fn shape(&axis: &usize, inputs: &[&[usize]], what: &str) -> Result<Vec<usize>> {
        let first = inputs[0];
        if axis >= first.len() {
            return Err(Error::shape(
                what,
                format!("concatenation axis {axis} of inputs {first:?}"),
            ));
        }
        let mut out = first.to_vec();
        for s in &inputs[1..] {
            let fits = s.len() == first.len()
                && s.iter()
                    .zip(first)
                    .enumerate()
                    .all(|(d, (a, b))| d == axis || a == b);
            if !fits {
                return Err(Error::shape(
                    what,
                    format!("cannot concatenate {s:?} to {first:?} along axis {axis}"),
                ));
            }
            out[axis] = out[axis].saturating_add(s[axis]);
        }
        Ok(out)
    }

    fn float<F: Float>(&axis: &usize, l: &Layer, ins: &[&[F]], batch: usize) -> Result<Vec<F>> {
        kernels::concat(ins, l.input_shapes(), axis, batch)
    }

    fn fixed<R: Ring>(
        &axis: &usize,
        fl: &FixedLayer<R>,
        ins: &[&[R]],
        batch: usize,
        _: u32,
    ) -> Result<Vec<R>> {
        kernels::concat(ins, fl.layer().input_shapes(), axis, batch)
    }

    fn error_bound(_: &usize, devs: &[u128]) -> u128 {
        devs.iter().copied().max().unwrap_or(0)
    }
}
