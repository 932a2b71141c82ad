//! `matmul`: the matrix product of two activations (ONNX `MatMul` with both operands
//! computed from the input — attention's `Q·Kᵀ`, a bilinear layer): per example
//! `[…, m, k] · […, k, n] → […, m, n]`, the leading dimensions equal (no broadcasting).
//! A fixed-point product at scale `2^2f`, truncated once.

use tessera_core::Ring;

use super::Operator;
use crate::fixed::FixedLayer;
use crate::float::Float;
use crate::model::Layer;
use crate::{Error, Result};

/// The [`Operator`] of [`crate::Op::MatMul`].
pub struct MatMulOp;

/// `(leading, m, k, n)`: the number of matrices per example and their sizes.
pub type Dims = (usize, usize, usize, usize);

/// `(leading, m, k, n)` of operands of per-example shapes `a`, `b`, or why not.
pub fn dims(a: &[usize], b: &[usize]) -> std::result::Result<Dims, String> {
    let r = a.len();
    if r < 2 || b.len() != r || a[..r - 2] != b[..r - 2] || a[r - 1] != b[r - 2] {
        return Err(format!(
            "operands {a:?} · {b:?}: Tessera multiplies [..., m, k] · [..., k, n] with equal leading dimensions (no broadcasting), at least a matrix per example"
        ));
    }
    Ok((a[..r - 2].iter().product(), a[r - 2], a[r - 1], b[r - 1]))
}

/// `out[g] = a[g] · b[g]` for every example and leading index `g`, in `T`.
fn run<T: Copy + std::ops::Add<Output = T> + std::ops::Mul<Output = T>>(
    a: &[T],
    b: &[T],
    (g, m, k, n): Dims,
    batch: usize,
    zero: T,
) -> Vec<T> {
    let mut out = Vec::with_capacity(batch * g * m * n);
    for e in 0..batch * g {
        let (x, y) = (
            &a[e * m * k..(e + 1) * m * k],
            &b[e * k * n..(e + 1) * k * n],
        );
        for i in 0..m {
            for j in 0..n {
                out.push((0..k).fold(zero, |s, t| s + x[i * k + t] * y[t * n + j]));
            }
        }
    }
    out
}

fn operands<'a, T>(ins: &[&'a [T]], layer: &Layer) -> Result<(&'a [T], &'a [T], Dims)> {
    let shapes = layer.input_shapes();
    match (ins, shapes) {
        ([a, b], [sa, sb]) => {
            let d = dims(sa, sb).map_err(|e| Error::shape(layer.name(), e))?;
            Ok((a, b, d))
        }
        _ => Err(Error::shape(layer.name(), "matmul takes two inputs")),
    }
}

impl Operator for MatMulOp {
    type Attrs = ();
    const KIND: &'static str = "matmul";
    const ARITY: Option<usize> = Some(2);
    const TRUNCATES: bool = true;

    fn shape(_: &(), inputs: &[&[usize]], what: &str) -> Result<Vec<usize>> {
        let (a, b) = (inputs[0], inputs[1]);
        dims(a, b).map_err(|e| Error::shape(what, e))?;
        let mut out = a.to_vec();
        if let Some(last) = out.last_mut() {
            *last = b[b.len() - 1];
        }
        Ok(out)
    }

    fn work_per_output(_: &()) -> Option<u64> {
        // Checked per layer by the accumulator bound; the fan-in is the inner size.
        Some(1)
    }

    fn float<F: Float>(_: &(), layer: &Layer, ins: &[&[F]], batch: usize) -> Result<Vec<F>> {
        let (a, b, d) = operands(ins, layer)?;
        Ok(run(a, b, d, batch, F::zero()))
    }

    /// The products at scale `2^2f`.
    fn fixed<R: Ring>(
        _: &(),
        fl: &FixedLayer<R>,
        ins: &[&[R]],
        batch: usize,
        _: u32,
    ) -> Result<Vec<R>> {
        let (a, b, d) = operands(ins, fl.layer())?;
        Ok(run(a, b, d, batch, R::zero()))
    }

    /// `k·max|x|²` with `max|x|` over both operands; operands `D` apart give sums at
    /// most `k·D·(2·max|x| + D)` apart.
    fn acc_bound<R: Ring>(_: &(), fl: &FixedLayer<R>, mu: u128, dev: u128) -> (u128, u128) {
        let k = fl.layer().input_shape().last().copied().unwrap_or(0) as u128;
        (
            k.saturating_mul(mu.saturating_mul(mu)),
            k.saturating_mul(dev.saturating_mul(mu.saturating_mul(2).saturating_add(dev))),
        )
    }
}
