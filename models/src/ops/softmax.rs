//! `softmax` and `log_softmax` over groups of `len` consecutive values of an example
//! (ONNX `Softmax`/`LogSoftmax`; the loader moves the axis last and flattens as the
//! opset says). Fixed point, per group, exactly what the circuit computes:
//!
//! 1. `m = max x`, `d = x − m ≤ 0`;
//! 2. `e = max(E(d), 0)` with `E` the spline of `eˣ` on `[−16, 0)` ([`ExpNeg`]; `1` at
//!    `d = 0` exactly, so `S ≥ 2^f`), `S = Σ e`;
//! 3. softmax: `r = ⌊2^2f / S⌋` (one restoring division per group), `y = (e·r) >> f`;
//! 4. log-softmax: with `t` the bit length of `S` and `k = t − 1 − f`, the mantissa
//!    `μ = S >> k ∈ [2^f, 2^(f+1))`, `ln S ≈ k·round(ln 2·2^f) + L(2μ − 3·2^f)` with
//!    `L` the spline of `ln(1.5 + u/2)` on `u ∈ [−1, 1)` ([`Ln`]), `y = d − ln S`.
//!
//! The approximation errors are the two splines' (`eˣ`: see [`ExpNeg`]) plus the
//! floors; the property tests in `models/tests` state and check the bounds.

use tessera_core::Ring;

use super::Operator;
use super::spline::{Plan, Spline, SplineFn, TailPlan};
use crate::fixed::FixedLayer;
use crate::float::Float;
use crate::model::Layer;
use crate::{Error, Result};

/// A softmax (or log-softmax) over groups of `len` consecutive values of an example.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Softmax {
    /// The group size (the softmax axis' length, or the product of the flattened
    /// axes before opset 13).
    pub len: usize,
    /// `ln softmax` (ONNX `LogSoftmax`) instead.
    pub log: bool,
}

/// `eˣ` for `x < 0`, `1` for `x ≥ 0`: the spline the softmax exponentiates with
/// (non-decreasing, as [`SplineFn`] needs). Segments `1/16` wide on `[−1, 0)`, `1/8`
/// on `[−4, −1)`, `1/2` on `[−16, −4)`; `0` below `−16` (`e^−16 < 1.2·10⁻⁷`).
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct ExpNeg;

impl SplineFn for ExpNeg {
    const KIND: &'static str = "softmax exp";
    fn eval(&self, x: f64) -> f64 {
        if x >= 0.0 { 1.0 } else { x.exp() }
    }
    fn lipschitz(&self) -> f64 {
        1.0
    }
    fn plan(&self) -> Plan {
        Plan {
            levels: &[(0, 4), (2, 3), (4, 1)],
            offset_bits: 6,
            below: TailPlan::Const(0.0),
            above: TailPlan::Const(1.0),
            split: true,
        }
    }
}

/// `ln(1.5 + u/2)` for `u ∈ [−1, 1)` (the logarithm of a mantissa in `[1, 2)`),
/// constant outside (`0` below, `ln 2` above; never reached). Segments `1/8` wide.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Ln;

impl SplineFn for Ln {
    const KIND: &'static str = "log-softmax ln";
    fn eval(&self, u: f64) -> f64 {
        (1.5 + u.clamp(-1.0, 1.0) / 2.0).ln()
    }
    fn lipschitz(&self) -> f64 {
        0.5
    }
    fn plan(&self) -> Plan {
        Plan {
            levels: &[(0, 3)],
            offset_bits: 6,
            below: TailPlan::Const(0.0),
            above: TailPlan::Const(std::f64::consts::LN_2),
            split: false,
        }
    }
}

/// The two splines for `f` fractional bits in `Z_2^ℓ`.
pub fn splines(frac_bits: u32, ring_bits: u32) -> Result<(Spline, Spline)> {
    Ok((
        Spline::new(&ExpNeg, frac_bits, ring_bits)?,
        Spline::new(&Ln, frac_bits, ring_bits)?,
    ))
}

/// `round(ln 2 · 2^f)`.
pub fn ln2_fixed(frac_bits: u32) -> i64 {
    (std::f64::consts::LN_2 * f64::from(frac_bits).exp2()).round() as i64
}

/// The fixed-point softmax of one group `x` (signed values at scale `2^f`).
///
/// # Errors
/// [`Error::Range`] if a spline leaves its range (never for these tables).
pub fn group_fixed(x: &[i64], log: bool, exp: &Spline, ln: &Spline, f: u32) -> Result<Vec<i64>> {
    let range = || Error::Range {
        what: "softmax".into(),
        detail: "a spline output out of range".into(),
    };
    let m = x.iter().copied().max().unwrap_or(0);
    let d: Vec<i64> = x.iter().map(|&v| v.wrapping_sub(m)).collect();
    let e = d
        .iter()
        .map(|&v| exp.eval(v).map(|e| e.max(0)).ok_or_else(range))
        .collect::<Result<Vec<i64>>>()?;
    let s: i64 = e.iter().sum();
    if !log {
        let r = (1i64 << (2 * f)) / s.max(1);
        return Ok(e.iter().map(|&v| (v * r) >> f).collect());
    }
    let t = 64 - s.leading_zeros();
    let k = t as i64 - 1 - i64::from(f);
    let mant = s >> k.max(0);
    let u = 2 * mant - (3i64 << f);
    let ln_s = k * ln2_fixed(f) + ln.eval(u).ok_or_else(range)?;
    Ok(d.iter().map(|&v| v - ln_s).collect())
}

/// The [`Operator`] of [`crate::Op::Softmax`].
pub struct SoftmaxOp;

impl Operator for SoftmaxOp {
    type Attrs = Softmax;
    const KIND: &'static str = "softmax";

    fn shape(s: &Softmax, inputs: &[&[usize]], what: &str) -> Result<Vec<usize>> {
        let n: usize = inputs[0].iter().product();
        if s.len == 0 || !n.is_multiple_of(s.len) {
            return Err(Error::shape(
                what,
                format!("groups of {} in an example of {n} values", s.len),
            ));
        }
        Ok(inputs[0].to_vec())
    }

    fn hyper(s: &Softmax) -> String {
        format!("len {} log {}", s.len, s.log)
    }

    fn float<F: Float>(s: &Softmax, _: &Layer, ins: &[&[F]], _: usize) -> Result<Vec<F>> {
        let x = super::single(ins, Self::KIND)?;
        let mut out = Vec::with_capacity(x.len());
        for g in x.chunks(s.len.max(1)) {
            let v: Vec<f64> = g.iter().map(|&a| a.to_f64()).collect();
            let m = v.iter().copied().fold(f64::NEG_INFINITY, f64::max);
            let sum: f64 = v.iter().map(|&a| (a - m).exp()).sum();
            out.extend(v.iter().map(|&a| {
                F::from_f64(if s.log {
                    a - m - sum.ln()
                } else {
                    (a - m).exp() / sum
                })
            }));
        }
        Ok(out)
    }

    fn fixed<R: Ring>(
        s: &Softmax,
        _: &FixedLayer<R>,
        ins: &[&[R]],
        _: usize,
        f: u32,
    ) -> Result<Vec<R>> {
        let x = super::single(ins, Self::KIND)?;
        let (exp, ln) = splines(f, R::BITS)?;
        let mut out = Vec::with_capacity(x.len());
        for g in x.chunks(s.len.max(1)) {
            let v: Vec<i64> = g.iter().map(|a| a.to_i64()).collect();
            out.extend(
                group_fixed(&v, s.log, &exp, &ln, f)?
                    .into_iter()
                    .map(R::from_i64),
            );
        }
        Ok(out)
    }

    /// A deviation of `D` ulps in the inputs moves `d` by at most `2D`, the
    /// exponentials (1-Lipschitz below 0) and so each term of `S` by `2D` plus a spline
    /// step, and the outputs — probabilities, or `d − ln S` with `ln` 1-Lipschitz above
    /// 1 — by at most `4D + 8` ulps.
    fn error_bound(_: &Softmax, devs: &[u128]) -> u128 {
        match devs.first().copied().unwrap_or(0) {
            0 => 0,
            d => d.saturating_mul(4).saturating_add(8),
        }
    }
}
