//! `leaky_relu` and `prelu`: `x` for `x ≥ 0`, `α·x` below — with a public `α`
//! (LeakyRelu, a hyper-parameter of the architecture) or party 0's slope tensor
//! (PRelu, a weight), a scalar or one slope per channel.
//!
//! Fixed point, exactly as the circuits compute it: with `a = round(α·2^f)` and `x`
//! the signed input at scale `2^f`, `y = x` for `x ≥ 0` and `y = (a·x mod 2^ℓ) >> f`
//! (arithmetic shift, i.e. `⌊a·x/2^f⌋`) for `x < 0`. The reference refuses a product
//! that would wrap (`|a·x| ≥ 2^(ℓ−1)`, [`Error::Range`]), so it is the exact floor.

use tessera_core::{FixedPoint, Ring};

use super::Operator;
use crate::fixed::{FixedLayer, FixedParams, encode_values};
use crate::float::Float;
use crate::model::{Layer, Tensor};
use crate::{Error, Result};

/// The largest `|α|` (LeakyRelu) or slope (PRelu) accepted.
pub const MAX_SLOPE: f32 = 1024.0;

/// The attributes of [`crate::Op::LeakyRelu`]: ONNX `LeakyRelu`'s `alpha` (default
/// 0.01), a public constant, `|α| ≤ 1024`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct LeakyRelu {
    /// `α`.
    pub alpha: f32,
}

impl Default for LeakyRelu {
    fn default() -> Self {
        LeakyRelu { alpha: 0.01 }
    }
}

impl LeakyRelu {
    /// Checks `α`.
    ///
    /// # Errors
    /// A message if `α` is not finite or `|α| > 1024`.
    pub fn check(&self) -> std::result::Result<(), String> {
        if self.alpha.is_finite() && self.alpha.abs() <= MAX_SLOPE {
            Ok(())
        } else {
            Err(format!(
                "alpha = {}: Tessera supports |alpha| ≤ {MAX_SLOPE}",
                self.alpha
            ))
        }
    }
}

/// The attributes of [`crate::Op::PRelu`]: the slope, party 0's weight, whose shape
/// broadcasts to the per-example input shape with NumPy's rule (dimensions aligned
/// from the right, each 1 or equal): `[1]` (one slope), `[C, 1, …, 1]` (one per
/// channel of `[C, …]`), or any other broadcastable shape. Its `Debug` output shows
/// the shape only.
#[derive(Clone, Debug, PartialEq)]
pub struct PRelu {
    /// The slope.
    pub slope: Tensor,
}

/// For each element of a per-example input of shape `input` (row-major), the index of
/// its slope in a tensor of shape `slope` broadcast NumPy-style (aligned from the
/// right); `None` if `slope` does not broadcast to `input`.
pub fn slope_indices(slope: &[usize], input: &[usize]) -> Option<Vec<usize>> {
    if slope.len() > input.len() {
        // Leading ones may be dropped.
        let extra = slope.len() - input.len();
        if slope[..extra].iter().any(|&d| d != 1) {
            return None;
        }
        return slope_indices(&slope[extra..], input);
    }
    let off = input.len() - slope.len();
    for (k, &d) in slope.iter().enumerate() {
        if d != 1 && d != input[off + k] {
            return None;
        }
    }
    let n: usize = input.iter().product();
    let mut out = Vec::with_capacity(n);
    let mut idx = vec![0usize; input.len()];
    for _ in 0..n {
        let mut s = 0usize;
        for (k, &d) in slope.iter().enumerate() {
            s = s * d + if d == 1 { 0 } else { idx[off + k] };
        }
        out.push(s);
        // Next multi-index.
        for j in (0..input.len()).rev() {
            idx[j] += 1;
            if idx[j] < input[j] {
                break;
            }
            idx[j] = 0;
        }
    }
    Some(out)
}

/// `y` of one element: `x` if `x ≥ 0`, else `(a·x) >> f`, `None` if `a·x` wraps.
fn leaky(x: i64, a: i64, f: u32, ell: u32) -> Option<i64> {
    if x >= 0 {
        return Some(x);
    }
    let p = i128::from(a) * i128::from(x);
    let lim = 1i128 << (ell - 1);
    (-lim..lim).contains(&p).then(|| (p >> f) as i64)
}

fn wrap_error(layer: &Layer, kind: &str, x: i64, a: i64, ell: u32) -> Error {
    Error::Range {
        what: format!("layer {} ({kind})", layer.name()),
        detail: format!("the product of slope {a} and input {x} leaves Z_2^{ell}"),
    }
}

/// The deviation bound of `x ≥ 0 ? x : (a·x) >> f` for inputs `dev` apart and slopes
/// of at most `amax` (at scale `2^f`): `⌈max(1, amax·2^-f)·dev⌉ + 1` (one for the
/// floor), 0 for `dev = 0`.
fn deviation(dev: u128, amax: u128, f: u32) -> u128 {
    if dev == 0 {
        return 0;
    }
    let num = amax.max(1u128 << f).saturating_mul(dev);
    let q = num >> f;
    let ceil = if num & ((1u128 << f) - 1) == 0 {
        q
    } else {
        q + 1
    };
    ceil.saturating_add(1)
}

/// `a = round(α·2^f)`, the slope LeakyRelu multiplies by in fixed point.
pub fn encode_alpha(alpha: f32, f: u32) -> i64 {
    (f64::from(alpha) * f64::from(f).exp2()).round() as i64
}

/// The [`Operator`] of [`crate::Op::LeakyRelu`].
pub struct LeakyReluOp;

impl Operator for LeakyReluOp {
    type Attrs = LeakyRelu;
    const KIND: &'static str = "leaky_relu";

    fn shape(_: &LeakyRelu, inputs: &[&[usize]], _: &str) -> Result<Vec<usize>> {
        Ok(inputs[0].to_vec())
    }

    fn float<F: Float>(a: &LeakyRelu, _: &Layer, ins: &[&[F]], _: usize) -> Result<Vec<F>> {
        let x = super::single(ins, Self::KIND)?;
        let alpha = F::from_f32(a.alpha);
        Ok(x.iter()
            .map(|&v| if v >= F::zero() { v } else { alpha * v })
            .collect())
    }

    /// Checks `α` (nothing to encode: `a` is public).
    fn encode<R: Ring>(a: &LeakyRelu, _: FixedPoint, name: &str) -> Result<FixedParams<R>> {
        a.check().map_err(|detail| Error::Range {
            what: format!("layer {name} ({})", Self::KIND),
            detail,
        })?;
        Ok(FixedParams::default())
    }

    fn fixed<R: Ring>(
        a: &LeakyRelu,
        fl: &FixedLayer<R>,
        ins: &[&[R]],
        _: usize,
        f: u32,
    ) -> Result<Vec<R>> {
        let x = super::single(ins, Self::KIND)?;
        let s = encode_alpha(a.alpha, f);
        x.iter()
            .map(|&v| {
                let v = v.to_i64();
                leaky(v, s, f, R::BITS)
                    .map(R::from_i64)
                    .ok_or_else(|| wrap_error(fl.layer(), Self::KIND, v, s, R::BITS))
            })
            .collect()
    }

    fn error_bound_fixed<R: Ring>(a: &LeakyRelu, _: &FixedLayer<R>, devs: &[u128], f: u32) -> u128 {
        let amax = u128::from(encode_alpha(a.alpha, f).unsigned_abs());
        deviation(devs.first().copied().unwrap_or(0), amax, f)
    }

    fn hyper(a: &LeakyRelu) -> String {
        format!("alpha={:08x}", a.alpha.to_bits())
    }
}

/// The [`Operator`] of [`crate::Op::PRelu`]: the slope is encoded `enc_f(slope)` and
/// entered into the circuit by party 0, like a dense layer's weights.
pub struct PReluOp;

impl PReluOp {
    fn indices(p: &PRelu, layer: &Layer) -> Result<Vec<usize>> {
        slope_indices(p.slope.shape(), layer.input_shape()).ok_or_else(|| {
            Error::shape(
                format!("layer {}", layer.name()),
                format!(
                    "slope of shape {:?} does not broadcast to {:?}",
                    p.slope.shape(),
                    layer.input_shape()
                ),
            )
        })
    }
}

impl Operator for PReluOp {
    type Attrs = PRelu;
    const KIND: &'static str = "prelu";

    fn params(p: &PRelu) -> Vec<&Tensor> {
        vec![&p.slope]
    }

    fn shape(p: &PRelu, inputs: &[&[usize]], what: &str) -> Result<Vec<usize>> {
        match slope_indices(p.slope.shape(), inputs[0]) {
            Some(_) => Ok(inputs[0].to_vec()),
            None => Err(Error::shape(
                what,
                format!(
                    "slope of shape {:?} does not broadcast to the input {:?}",
                    p.slope.shape(),
                    inputs[0]
                ),
            )),
        }
    }

    fn float<F: Float>(p: &PRelu, layer: &Layer, ins: &[&[F]], _: usize) -> Result<Vec<F>> {
        let x = super::single(ins, Self::KIND)?;
        let idx = Self::indices(p, layer)?;
        let s: Vec<F> = p.slope.data().iter().map(|&v| F::from_f32(v)).collect();
        Ok(x.iter()
            .zip(idx.iter().cycle())
            .map(|(&v, &i)| if v >= F::zero() { v } else { s[i] * v })
            .collect())
    }

    /// `enc_f(slope)` as the weight; each slope at most 1024 in magnitude.
    fn encode<R: Ring>(p: &PRelu, fp: FixedPoint, name: &str) -> Result<FixedParams<R>> {
        if let Some(v) = p.slope.data().iter().find(|v| v.abs() > MAX_SLOPE) {
            return Err(Error::Range {
                what: format!("layer {name} ({})", Self::KIND),
                detail: format!("slope {v}: Tessera supports |slope| ≤ {MAX_SLOPE}"),
            });
        }
        Ok(FixedParams {
            weight: Some(encode_values(p.slope.data(), fp, name, "slope")?),
            ..FixedParams::default()
        })
    }

    fn fixed<R: Ring>(
        p: &PRelu,
        fl: &FixedLayer<R>,
        ins: &[&[R]],
        _: usize,
        f: u32,
    ) -> Result<Vec<R>> {
        let x = super::single(ins, Self::KIND)?;
        let idx = Self::indices(p, fl.layer())?;
        let w = fl.weight().ok_or_else(|| Error::InvalidArgument {
            what: "prelu",
            detail: format!("layer {} has no encoded slope", fl.layer().name()),
        })?;
        x.iter()
            .zip(idx.iter().cycle())
            .map(|(&v, &i)| {
                let (v, a) = (v.to_i64(), w[i].to_i64());
                leaky(v, a, f, R::BITS)
                    .map(R::from_i64)
                    .ok_or_else(|| wrap_error(fl.layer(), Self::KIND, v, a, R::BITS))
            })
            .collect()
    }

    fn error_bound_fixed<R: Ring>(_: &PRelu, fl: &FixedLayer<R>, devs: &[u128], f: u32) -> u128 {
        let amax = fl.weight().map_or(0, |w| {
            w.iter()
                .map(|v| crate::fixed::abs_u128(*v))
                .max()
                .unwrap_or(0)
        });
        deviation(devs.first().copied().unwrap_or(0), amax, f)
    }

    /// The slope's shape (public; its values are not).
    fn hyper(p: &PRelu) -> String {
        format!("slope{:?}", p.slope.shape())
    }
}
