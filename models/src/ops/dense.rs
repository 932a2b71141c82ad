//! `dense`: a fully connected layer `y = W·x + b` (ONNX `Gemm`, or `MatMul` + `Add`).

use tessera_core::{FixedPoint, Ring};

use super::Operator;
use crate::fixed::{FixedLayer, FixedParams, abs_u128, encode_values};
use crate::float::Float;
use crate::kernels;
use crate::model::{Layer, Tensor};
use crate::{Error, Result};

/// A fully connected layer `y = W·x + b` (ONNX `Gemm`, or `MatMul` + `Add`).
#[derive(Clone, Debug, PartialEq)]
pub struct Dense {
    /// The weight, `[out, in]` (PyTorch's layout; ONNX `Gemm` with `transB = 1`).
    pub weight: Tensor,
    /// The bias, `[out]`, if any.
    pub bias: Option<Tensor>,
}

/// The [`Operator`] of [`crate::Op::Dense`]: input `[in]` → `[out]`; in fixed point
/// `a = Σ_k enc_f(W)[o,k]·x_k + enc_2f(b)_o`, truncated once.
pub struct DenseOp;

impl Operator for DenseOp {
    type Attrs = Dense;
    const KIND: &'static str = "dense";
    const TRUNCATES: bool = true;

    fn params(d: &Dense) -> Vec<&Tensor> {
        std::iter::once(&d.weight).chain(d.bias.as_ref()).collect()
    }

    fn shape(d: &Dense, inputs: &[&[usize]], what: &str) -> Result<Vec<usize>> {
        let input = inputs[0];
        let bad = |detail: String| Err(Error::shape(what, detail));
        let &[out, inn] = d.weight.shape() else {
            return bad(format!(
                "weight shape {:?} is not [out, in]",
                d.weight.shape()
            ));
        };
        if input != [inn] {
            return bad(format!(
                "input {input:?} does not fit weight [out={out}, in={inn}]"
            ));
        }
        check_bias(&d.bias, out, what)?;
        Ok(vec![out])
    }

    fn work_per_output(d: &Dense) -> Option<u64> {
        Some(d.weight.shape()[1] as u64)
    }

    fn float<F: Float>(d: &Dense, _: &Layer, ins: &[&[F]], batch: usize) -> Result<Vec<F>> {
        let x = super::single(ins, Self::KIND)?;
        let cast = |t: &[f32]| -> Vec<F> { t.iter().map(|&v| F::from_f32(v)).collect() };
        let (out, inn) = (d.weight.shape()[0], d.weight.shape()[1]);
        let wt = kernels::transpose(&cast(d.weight.data()), out, inn);
        let b = d.bias.as_ref().map(|b| cast(b.data()));
        Ok(kernels::dense(x, batch, inn, &wt, out, b.as_deref()))
    }

    fn encode<R: Ring>(d: &Dense, fp: FixedPoint, name: &str) -> Result<FixedParams<R>> {
        encode_linear(&d.weight, d.bias.as_ref(), fp, name, true)
    }

    fn fixed<R: Ring>(
        d: &Dense,
        fl: &FixedLayer<R>,
        ins: &[&[R]],
        batch: usize,
        _: u32,
    ) -> Result<Vec<R>> {
        let x = super::single(ins, Self::KIND)?;
        let (out, inn) = (d.weight.shape()[0], d.weight.shape()[1]);
        let p = fl.params();
        Ok(kernels::dense(
            x,
            batch,
            inn,
            &p.kernel,
            out,
            p.bias.as_deref(),
        ))
    }

    fn acc_bound<R: Ring>(_: &Dense, fl: &FixedLayer<R>, mu: u128, dev: u128) -> (u128, u128) {
        linear_bound(fl, mu, dev)
    }
}

/// A weighted layer's accumulator bound `gain·max|x| + max|b|` and deviation
/// `gain·D` (dense, conv, avgpool).
pub(crate) fn linear_bound<R: Ring>(fl: &FixedLayer<R>, mu: u128, dev: u128) -> (u128, u128) {
    let p = fl.params();
    (
        p.gain.saturating_mul(mu).saturating_add(p.max_bias),
        p.gain.saturating_mul(dev),
    )
}

/// Encodes a dense or conv layer's weight `[out, …]` at `2^f` and bias at `2^2f`, its
/// gain `max_o Σ_k |W[o,k]|` and largest bias; the kernel is the weight, transposed
/// to `[in, out]` when `transpose` (dense).
pub(crate) fn encode_linear<R: Ring>(
    weight: &Tensor,
    bias: Option<&Tensor>,
    fp: FixedPoint,
    name: &str,
    transpose: bool,
) -> Result<FixedParams<R>> {
    let mut p = FixedParams::default();
    let w = encode_values::<R>(weight.data(), fp, name, "weight")?;
    let out = weight.shape()[0];
    let per_out = w.len() / out.max(1);
    p.gain = w
        .chunks_exact(per_out.max(1))
        .map(|row| row.iter().map(|&v| abs_u128(v)).sum::<u128>())
        .max()
        .unwrap_or(0);
    p.kernel = if transpose {
        kernels::transpose(&w, out, per_out)
    } else {
        w.clone()
    };
    p.weight = Some(w);
    if let Some(b) = bias {
        let b = encode_values::<R>(b.data(), FixedPoint::new(2 * fp.frac_bits), name, "bias")?;
        p.max_bias = b.iter().map(|&v| abs_u128(v)).max().unwrap_or(0);
        p.bias = Some(b);
    }
    Ok(p)
}

/// Checks a bias of `out` values.
pub(crate) fn check_bias(bias: &Option<Tensor>, out: usize, what: &str) -> Result<()> {
    match bias {
        Some(b) if b.shape() != [out] => Err(Error::shape(
            what,
            format!("bias shape {:?}, expected [{out}]", b.shape()),
        )),
        _ => Ok(()),
    }
}
