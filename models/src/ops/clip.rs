//! `clip`: `min(max(x, lo), hi)` with public bounds, either optional (ONNX `Clip`;
//! PyTorch's `ReLU6`, `Hardtanh` and `clamp` export to it; ONNX `Max`/`Min` of an
//! activation and a constant load as it too). Exact: the fixed-point bounds are
//! `enc_f(lo)`, `enc_f(hi)` clamped to the ring, and the result is the signed clamp.

use tessera_core::Ring;

use super::Operator;
use crate::Result;
use crate::fixed::FixedLayer;
use crate::float::Float;
use crate::model::Layer;

/// The attributes of [`crate::Op::Clip`]: the public bounds (`None`: unbounded on
/// that side).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Clip {
    /// The lower bound.
    pub min: Option<f32>,
    /// The upper bound.
    pub max: Option<f32>,
}

impl Clip {
    /// Checks the bounds: finite where given.
    ///
    /// # Errors
    /// A message naming the bound.
    pub fn check(&self) -> std::result::Result<(), String> {
        for (name, v) in [("min", self.min), ("max", self.max)] {
            if let Some(v) = v
                && !v.is_finite()
            {
                return Err(format!(
                    "Clip {name} = {v}: Tessera needs a finite bound (or none)"
                ));
            }
        }
        Ok(())
    }

    /// The bounds at scale `2^f` in `Z_2^ℓ` as signed values `(lo, hi)`, `lo ≤ hi`:
    /// `enc_f` of each bound clamped to the ring's range (a missing bound is the ring's
    /// extreme), and `lo` lowered to `hi` when `lo > hi` (ONNX's `min(max(x, lo), hi)`
    /// is then `hi` everywhere, and so is the clamp).
    pub fn bounds(&self, frac_bits: u32, ring_bits: u32) -> (i64, i64) {
        let (rmin, rmax) = ring_range(ring_bits);
        let enc = |v: Option<f32>, default: i64| match v {
            None => default,
            Some(v) => {
                let r = (f64::from(v) * f64::from(frac_bits).exp2()).round();
                if r <= rmin as f64 {
                    rmin
                } else if r >= rmax as f64 {
                    rmax
                } else {
                    r as i64
                }
            }
        };
        let hi = enc(self.max, rmax);
        let lo = enc(self.min, rmin).min(hi);
        (lo, hi)
    }
}

/// The smallest and largest signed values of `Z_2^ℓ`.
pub fn ring_range(ring_bits: u32) -> (i64, i64) {
    let min = if ring_bits >= 64 {
        i64::MIN
    } else {
        -(1i64 << (ring_bits - 1))
    };
    (min, !min)
}

/// The [`Operator`] of [`crate::Op::Clip`]: `min(max(x, lo), hi)`; 1-Lipschitz.
pub struct ClipOp;

impl Operator for ClipOp {
    type Attrs = Clip;
    const KIND: &'static str = "clip";

    fn shape(_: &Clip, inputs: &[&[usize]], _: &str) -> Result<Vec<usize>> {
        Ok(inputs[0].to_vec())
    }

    fn float<F: Float>(c: &Clip, _: &Layer, ins: &[&[F]], _: usize) -> Result<Vec<F>> {
        let x = super::single(ins, Self::KIND)?;
        Ok(x.iter()
            .map(|&v| {
                let mut y = v;
                if let Some(lo) = c.min
                    && y < F::from_f32(lo)
                {
                    y = F::from_f32(lo);
                }
                if let Some(hi) = c.max
                    && y > F::from_f32(hi)
                {
                    y = F::from_f32(hi);
                }
                y
            })
            .collect())
    }

    fn fixed<R: Ring>(
        c: &Clip,
        _: &FixedLayer<R>,
        ins: &[&[R]],
        _: usize,
        f: u32,
    ) -> Result<Vec<R>> {
        let x = super::single(ins, Self::KIND)?;
        let (lo, hi) = c.bounds(f, R::BITS);
        Ok(x.iter()
            .map(|&v| R::from_i64(v.to_i64().clamp(lo, hi)))
            .collect())
    }

    fn hyper(c: &Clip) -> String {
        let b = |v: Option<f32>| v.map_or("none".to_string(), |v| format!("{:08x}", v.to_bits()));
        format!("min={},max={}", b(c.min), b(c.max))
    }
}
