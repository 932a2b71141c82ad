//! `secureml_sigmoid`: SecureML's piecewise-linear sigmoid `clamp(x + 1/2, 0, 1)`, the
//! option `SigmoidKind::SecureMl` of the ONNX loader (the logistic function is
//! [`super::smooth::Logistic`]).

use tessera_core::Ring;

use super::Operator;
use crate::Result;
use crate::fixed::FixedLayer;
use crate::float::Float;
use crate::model::Layer;

/// The [`Operator`] of [`crate::Op::SecureMlSigmoid`]: `clamp(x + 1/2, 0, 1)`, in fixed point
/// `clamp(x + 2^(f−1), 0, 2^f)`; 1-Lipschitz.
pub struct SecureMlSigmoidOp;

impl Operator for SecureMlSigmoidOp {
    type Attrs = ();
    const KIND: &'static str = "secureml_sigmoid";

    fn shape(_: &(), inputs: &[&[usize]], _: &str) -> Result<Vec<usize>> {
        Ok(inputs[0].to_vec())
    }

    fn float<F: Float>(_: &(), _: &Layer, ins: &[&[F]], _: usize) -> Result<Vec<F>> {
        let x = super::single(ins, Self::KIND)?;
        let (half, one) = (F::from_f32(0.5), F::from_f32(1.0));
        Ok(x.iter()
            .map(|&v| {
                let y = v + half;
                if y < F::zero() {
                    F::zero()
                } else if y > one {
                    one
                } else {
                    y
                }
            })
            .collect())
    }

    fn fixed<R: Ring>(_: &(), _: &FixedLayer<R>, ins: &[&[R]], _: usize, f: u32) -> Result<Vec<R>> {
        let x = super::single(ins, Self::KIND)?;
        let (half, one) = (1i64 << (f - 1), 1i64 << f);
        Ok(x.iter()
            .map(|&v| R::from_i64(v.to_i64().saturating_add(half).clamp(0, one)))
            .collect())
    }
}
