//! `reshape`: a new per-example shape of the same size (ONNX `Flatten` with
//! `axis = 1`, or `Reshape` keeping the batch dimension). Moves no data.

use tessera_core::Ring;

use super::Operator;
use crate::fixed::FixedLayer;
use crate::float::Float;
use crate::model::{Layer, checked_numel};
use crate::{Error, Result};

/// The [`Operator`] of [`crate::Op::Reshape`]: the identity on the data.
pub struct ReshapeOp;

impl Operator for ReshapeOp {
    type Attrs = Vec<usize>;
    const KIND: &'static str = "reshape";
    const VIEW: bool = true;

    fn shape(shape: &Vec<usize>, inputs: &[&[usize]], what: &str) -> Result<Vec<usize>> {
        let input = inputs[0];
        if checked_numel(shape) != checked_numel(input) || shape.is_empty() {
            return Err(Error::shape(
                what,
                format!("cannot reshape {input:?} into {shape:?}"),
            ));
        }
        Ok(shape.clone())
    }

    fn float<F: Float>(_: &Vec<usize>, _: &Layer, ins: &[&[F]], _: usize) -> Result<Vec<F>> {
        Ok(super::single(ins, Self::KIND)?.to_vec())
    }

    fn fixed<R: Ring>(
        _: &Vec<usize>,
        _: &FixedLayer<R>,
        ins: &[&[R]],
        _: usize,
        _: u32,
    ) -> Result<Vec<R>> {
        Ok(super::single(ins, Self::KIND)?.to_vec())
    }
}
