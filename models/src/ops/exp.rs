//! `exp`: `eˣ` (ONNX `Exp`). Float: `eˣ` in `f64`, rounded once. Fixed point: the
//! generic [`Spline`] of `eˣ` saturated at `X = 2^k` ([`ExpSat`]), with `k` the largest
//! of 4, 3, 2, 1, 0 whose `e^X·2^f` fits the ring with room (`< 2^(ℓ−4)`): one window
//! `[−X, X)` of 512 uniform segments `2^−(8−k)` wide, 8 offset bits, `0` below
//! `−X` and the constant `e^X` from `X` up. At `f = 16` in `Z_2^64`, `X = 16`: 512
//! segments 1/16 wide, and `eˣ` saturates at `e^16 ≈ 8.9·10⁶`.
//!
//! Uniform segments give a constant *relative* error: the secant's `h²/8` (`h` the
//! segment width) plus the offset's quantisation `h/2^(b+1)`; below 1 the error is
//! absolute. The tests measure `max |y − eˣ| / max(1, eˣ)` over `[−X, X)` (and the
//! tails) and docs/models.md states it.

use tessera_core::Ring;

use super::Operator;
use super::spline::{Plan, Spline, SplineFn, TailPlan};
use crate::fixed::FixedLayer;
use crate::float::Float;
use crate::model::Layer;
use crate::{Error, Result};

/// `e^min(x, 2^k)`: the function the fixed-point `exp` fits, for the window exponent
/// `k` of the format ([`ExpSat::for_format`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ExpSat {
    /// The window is `[−2^k, 2^k)`, `0 ≤ k ≤ 4`.
    pub k: i32,
}

/// The one level per `k`: `(k, 8 − k)`, `2^9` segments `2^−(8−k)` wide.
const LEVELS: [&[(i32, i32)]; 5] = [&[(0, 8)], &[(1, 7)], &[(2, 6)], &[(3, 5)], &[(4, 4)]];

impl ExpSat {
    /// The saturation point `X = 2^k`.
    pub fn saturation(&self) -> f64 {
        f64::from(self.k).exp2()
    }

    /// The largest `k ≤ 4` with `e^(2^k)·2^f < 2^(ℓ−4)`.
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] if not even `k = 0` fits (`f > ℓ − 6`).
    pub fn for_format(frac_bits: u32, ring_bits: u32) -> Result<ExpSat> {
        (0..=4)
            .rev()
            .map(|k| ExpSat { k })
            .find(|e| {
                e.saturation().exp() * f64::from(frac_bits).exp2()
                    < f64::from(ring_bits).exp2() / 16.0
            })
            .ok_or_else(|| Error::InvalidArgument {
                what: "exp",
                detail: format!(
                    "{frac_bits} fractional bits leave no room for e^1 in Z_2^{ring_bits}"
                ),
            })
    }

    /// The spline for the format.
    ///
    /// # Errors
    /// As [`ExpSat::for_format`] and [`Spline::new`].
    pub fn spline(frac_bits: u32, ring_bits: u32) -> Result<Spline> {
        Spline::new(
            &Self::for_format(frac_bits, ring_bits)?,
            frac_bits,
            ring_bits,
        )
    }
}

impl SplineFn for ExpSat {
    const KIND: &'static str = "exp";
    fn eval(&self, x: f64) -> f64 {
        x.min(self.saturation()).exp()
    }
    fn lipschitz(&self) -> f64 {
        self.saturation().exp()
    }
    fn plan(&self) -> Plan {
        Plan {
            levels: LEVELS[self.k.clamp(0, 4) as usize],
            offset_bits: 8,
            below: TailPlan::Const(0.0),
            above: TailPlan::Const(self.saturation().exp()),
            split: false,
        }
    }
    fn hyper(&self) -> String {
        format!("k={}", self.k)
    }
}

/// The [`Operator`] of [`crate::Op::Exp`].
pub struct ExpOp;

impl Operator for ExpOp {
    type Attrs = ();
    const KIND: &'static str = "exp";

    fn shape(_: &(), inputs: &[&[usize]], _: &str) -> Result<Vec<usize>> {
        Ok(inputs[0].to_vec())
    }

    fn float<F: Float>(_: &(), _: &Layer, ins: &[&[F]], _: usize) -> Result<Vec<F>> {
        let x = super::single(ins, Self::KIND)?;
        Ok(x.iter().map(|&v| F::from_f64(v.to_f64().exp())).collect())
    }

    /// Nothing to encode; checks that the table can be built for the format.
    fn encode<R: Ring>(
        _: &(),
        fp: tessera_core::FixedPoint,
        name: &str,
    ) -> Result<crate::fixed::FixedParams<R>> {
        ExpSat::spline(fp.frac_bits, R::BITS).map_err(|e| Error::Range {
            what: format!("layer {name} (exp)"),
            detail: e.to_string(),
        })?;
        Ok(crate::fixed::FixedParams::default())
    }

    fn fixed<R: Ring>(
        _: &(),
        fl: &FixedLayer<R>,
        ins: &[&[R]],
        _: usize,
        f: u32,
    ) -> Result<Vec<R>> {
        let x = super::single(ins, Self::KIND)?;
        let sp = ExpSat::spline(f, R::BITS)?;
        x.iter()
            .map(|&v| {
                sp.eval(v.to_i64())
                    .map(R::from_i64)
                    .ok_or_else(|| Error::Range {
                        what: format!("layer {} (exp)", fl.layer().name()),
                        detail: "a spline output out of range".into(),
                    })
            })
            .collect()
    }

    /// The spline's deviation: `⌈e^X·D⌉ + 2·⌈max_error·2^f⌉ + 2` (eˣ's Lipschitz
    /// constant below the saturation point is `e^X`).
    fn error_bound_fixed<R: Ring>(_: &(), _: &FixedLayer<R>, devs: &[u128], f: u32) -> u128 {
        let dev = devs.first().copied().unwrap_or(0);
        match ExpSat::spline(f, R::BITS) {
            Ok(sp) => sp.deviation(dev),
            Err(_) if dev == 0 => 0,
            Err(_) => u128::MAX,
        }
    }
}
