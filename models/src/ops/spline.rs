//! Piecewise-linear splines: the fixed-point semantics of the smooth activations
//! ([`super::smooth`]), one generic table parameterised by the function.
//!
//! # The table
//! A function `φ` (non-decreasing, see [`SplineFn`]) is approximated on nested
//! windows `[−2^k, 2^k)`, each cut into uniform segments `2^−s` wide: the finest
//! window is used where it applies, the next one outside it, and so on (a
//! multi-resolution grid: fine segments where `φ` bends, wide ones where it is nearly
//! straight). Outside the outermost window `φ` is replaced by its asymptote (a
//! constant, `x`, or `γx`). With `f` fractional bits, `x` the signed integer of the
//! input at scale `2^f`, and per level `(k, s)`:
//!
//! - `x` is in the window iff its bits `f + k … ℓ−1` all equal its sign bit;
//! - the segment is `i = (x >> (f − s)) + 2^(k+s)`: bits `f − s … f + k − 1` of `x`
//!   and the inverted sign bit, a bit slice;
//! - the offset in the segment is `o = x mod 2^(f−s)`, of which the top `b` bits are
//!   kept: `u = o >> (f − s − b)` (or `o << (b − f + s)` when `f − s < b`), again a bit
//!   slice;
//! - the output is `y = c_i + ((m_i·u + 2^(b−1)) >> b)`: a public intercept `c_i` (at
//!   scale `2^f`) plus the public slope `m_i ≥ 0` (the rise of `φ` over the segment, at
//!   scale `2^f`) times the offset's fraction, rounded.
//!
//! Tails: a constant `c` (`y = c`), the identity (`y = x`), or a scaled identity
//! `y = (a·x mod 2^ℓ) >> f` with `a = round(γ·2^f)` (the reference refuses a product that
//! wraps, [`crate::Error::Range`]). A *split* table covers only `x < 0` and applies its
//! upper tail to every `x ≥ 0` (ELU and SELU are linear there).
//!
//! This is what the circuits compute bit for bit (`tessera_engine`'s spline
//! lowering): the window tests are ORs of `x_j ⊕ sign`, the segment index is decoded
//! one-hot, `c_i` and `m_i` are XORs of the decoded lines (free), the product `m·u` is a
//! narrow multiplier (`b` by [`Spline::slope_bits`]) summed with `c·2^b + 2^(b−1)`, and a
//! non-constant tail is one multiplexer.
//!
//! # Fitting and the error bound
//! Per segment `[x₀, x₁)`: `m = round((φ(x₁) − φ(x₀))·2^f)` (the secant, the slope of the
//! minimax line of a convex or concave piece); then, with that slope, every cell of
//! inputs sharing one `u` is constant, and `c` is chosen to centre the largest and the
//! smallest `φ(x)·2^f − ((m·u + 2^(b−1)) >> b)` over the cells' end points — the best
//! intercept for that slope. Because `φ` is non-decreasing and the output is constant
//! on a cell, the largest error on a cell is at one of its two end points, so
//! [`Spline::max_error`] is the exact supremum of `|y·2^-f − φ(x·2^-f)|` over every input
//! in the windows (every cell is visited), together with the tails' errors at their
//! boundary and at infinity (the distance of each of these functions to its asymptote
//! is monotone). A scaled tail adds `|a·2^-f − γ|·|x|`, a relative error below
//! `2^-(f+1)/γ`.

use std::marker::PhantomData;

use tessera_core::Ring;

use super::Operator;
use crate::fixed::FixedLayer;
use crate::float::Float;
use crate::model::Layer;
use crate::{Error, Result};

/// A function approximated by a [`Spline`]: its float semantics, a Lipschitz constant
/// and its plan. The function must be non-decreasing (the table's slopes are
/// non-negative and its error bound relies on monotonicity).
pub trait SplineFn {
    /// The operator's short name.
    const KIND: &'static str;
    /// `φ(x)`, the float semantics.
    fn eval(&self, x: f64) -> f64;
    /// A Lipschitz constant of `φ`.
    fn lipschitz(&self) -> f64;
    /// How the table is laid out.
    fn plan(&self) -> Plan;
    /// Checks the attributes.
    ///
    /// # Errors
    /// A message naming the attribute and the supported range.
    fn check(&self) -> std::result::Result<(), String> {
        Ok(())
    }
    /// The public attributes as text (for the architecture digest).
    fn hyper(&self) -> String {
        String::new()
    }
}

/// The layout of a [`Spline`]: the windows and segments, the offset bits, the tails.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Plan {
    /// `(k, s)` per level, finest first: window `[−2^k, 2^k)`, segments `2^−s` wide
    /// (`k` strictly increasing).
    pub levels: &'static [(i32, i32)],
    /// `b`: the offset bits kept (and the shift of the product).
    pub offset_bits: u32,
    /// Below the outermost window.
    pub below: TailPlan,
    /// Above the outermost window (or, for a split table, at `x ≥ 0`).
    pub above: TailPlan,
    /// Whether the table covers only `x < 0` and `above` applies to every `x ≥ 0`.
    pub split: bool,
}

/// A tail of a [`Plan`], in real numbers.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum TailPlan {
    /// The constant `c`.
    Const(f64),
    /// `x`.
    Identity,
    /// `γ·x`.
    Scale(f64),
}

/// A tail of a [`Spline`], at scale `2^f`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Tail {
    /// `y = c`.
    Const(i64),
    /// `y = x`.
    Identity,
    /// `y = (a·x mod 2^ℓ) >> f`.
    Scale(i64),
}

/// One segment's public coefficients: `y = c + ((m·u + 2^(b−1)) >> b)`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Segment {
    /// The intercept, at scale `2^f`.
    pub c: i64,
    /// The rise over the segment, at scale `2^f`.
    pub m: u64,
}

/// One level of a [`Spline`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Level {
    /// The window is `[−2^k, 2^k)` (`k ≤ ℓ − 1 − f`; equality: every input).
    pub k: i32,
    /// Segments are `2^−s` wide (`s ≤ f`).
    pub s: i32,
    /// The `2^(k+s+1)` segments from `−2^k` up, `None` where a finer level (or, split,
    /// the upper tail) applies.
    pub segments: Vec<Option<Segment>>,
}

impl Level {
    /// Whether the window covers every `ℓ`-bit input.
    pub fn is_full(&self, frac_bits: u32, ring_bits: u32) -> bool {
        self.k + frac_bits as i32 >= ring_bits as i32 - 1
    }

    /// The offset bits `f − s`.
    pub fn offset_width(&self, frac_bits: u32) -> u32 {
        (frac_bits as i32 - self.s) as u32
    }

    fn contains(&self, x: i64, frac_bits: u32, ring_bits: u32) -> bool {
        if self.is_full(frac_bits, ring_bits) {
            return true;
        }
        let e = (frac_bits as i32 + self.k) as u32;
        (-(1i64 << e)..(1i64 << e)).contains(&x)
    }

    /// The segment of `x` (in the window).
    fn index(&self, x: i64, frac_bits: u32) -> usize {
        let ob = self.offset_width(frac_bits);
        ((x >> ob) + (1i64 << (self.k + self.s))) as usize
    }
}

/// The fixed-point spline of a [`SplineFn`] for `f` fractional bits in `Z_2^ℓ` (see
/// the module docs): its semantics ([`Spline::eval`]) is the fixed-point reference
/// and what the circuits compute.
#[derive(Clone, Debug, PartialEq)]
pub struct Spline {
    /// `f`.
    pub frac_bits: u32,
    /// `ℓ`.
    pub ring_bits: u32,
    /// `b`.
    pub offset_bits: u32,
    /// The levels, finest first.
    pub levels: Vec<Level>,
    /// Below the outermost window.
    pub below: Tail,
    /// Above it (split: at `x ≥ 0`).
    pub above: Tail,
    /// Whether the table covers only `x < 0`.
    pub split: bool,
    /// The width of every table output and constant tail, two's complement.
    pub out_bits: u32,
    /// The width of every slope `m`.
    pub slope_bits: u32,
    /// The supremum of `|y·2^-f − φ(x·2^-f)|` over every input, except the scaled
    /// tail's relative part ([`Spline::scale_excess`]).
    pub max_error: f64,
    /// A scaled tail's `|a·2^-f − γ|` (0 without one).
    pub scale_excess: f64,
    /// The Lipschitz constant of the fixed-point function's smooth part: the larger of
    /// `φ`'s and a scaled tail's `a·2^-f`.
    pub lipschitz: f64,
}

/// Bits of `v` as a two's-complement number.
fn signed_bits(v: i64) -> u32 {
    let m = if v < 0 { !v } else { v };
    65 - m.leading_zeros()
}

impl Spline {
    /// Fits the table of `func` for `frac_bits` fractional bits in `Z_2^ring_bits`.
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] if the attributes are out of range ([`SplineFn::check`]),
    /// the format cannot hold the table, or `φ` decreases on a segment.
    pub fn new<F: SplineFn>(func: &F, frac_bits: u32, ring_bits: u32) -> Result<Spline> {
        let bad = |detail: String| Error::InvalidArgument {
            what: "spline activation",
            detail: format!("{}: {detail}", F::KIND),
        };
        func.check().map_err(bad)?;
        let (f, ell) = (frac_bits as i32, ring_bits as i32);
        if f < 1 || f + 2 > ell || ring_bits > 64 {
            return Err(bad(format!("{f} fractional bits in Z_2^{ell}")));
        }
        let plan = func.plan();
        let b = plan.offset_bits;
        if !(1..=16).contains(&b) {
            return Err(bad(format!("{b} offset bits")));
        }
        let phi = |x: i64| func.eval(x as f64 / (f as f64).exp2());
        let scale = (f as f64).exp2();
        let ring_min = if ell == 64 {
            i64::MIN
        } else {
            -(1i64 << (ell - 1))
        };
        let ring_max = !ring_min;
        let mut levels: Vec<Level> = Vec::new();
        let mut max_error = 0f64;
        let (mut lo_y, mut hi_y) = (0i64, 0i64);
        let mut slope_max = 0u64;
        let half = 1i64 << (b - 1);
        for &(k, s) in plan.levels {
            let k = k.min(ell - 1 - f);
            let s = s.min(f);
            if k + s < 0 || k + s > 12 || f + k < 0 {
                return Err(bad(format!("level ({k}, {s})")));
            }
            let prev = levels.last();
            if let Some(p) = prev
                && (p.is_full(frac_bits, ring_bits) || k <= p.k)
            {
                continue;
            }
            let prev_e = prev.map(|p| (f + p.k) as u32);
            let ob = (f - s) as u32;
            let n = 1usize << (k + s + 1);
            let start = if f + k >= ell - 1 {
                ring_min
            } else {
                -(1i64 << (f + k))
            };
            let mut segments = Vec::with_capacity(n);
            for i in 0..n {
                let x0 = start + ((i as i64) << ob);
                let inner = prev_e.is_some_and(|e| (-(1i64 << e)..(1i64 << e)).contains(&x0));
                if inner || (plan.split && x0 >= 0) {
                    segments.push(None);
                    continue;
                }
                // The segment's last input (x₁ − 1 may not exceed the ring).
                let last = x0.saturating_add((1i64 << ob) - 1).min(ring_max);
                let rise = (phi(last.saturating_add(1).min(ring_max)) - phi(x0)) * scale;
                if rise.is_nan() || rise < -1e-9 * scale.max(1.0) {
                    return Err(bad(format!(
                        "the function decreases at {}",
                        x0 as f64 / scale
                    )));
                }
                let m = rise.max(0.0).round() as u64;
                // Cells: inputs sharing one u.
                let (cells, width, up) = if ob >= b {
                    (1u64 << b, 1i64 << (ob - b), 0)
                } else {
                    (1u64 << ob, 1i64, b - ob)
                };
                let g = |cell: u64| {
                    ((i128::from(m) * i128::from(cell << up) + i128::from(half)) >> b) as i64
                };
                let (mut lo, mut hi) = (f64::INFINITY, f64::NEG_INFINITY);
                for cell in 0..cells {
                    let xa = x0 + cell as i64 * width;
                    let xb = xa + width - 1;
                    let gv = g(cell) as f64;
                    lo = lo.min(phi(xa) * scale - gv);
                    hi = hi.max(phi(xb) * scale - gv);
                }
                let c = ((lo + hi) / 2.0).round() as i64;
                let err = (hi - c as f64).max(c as f64 - lo) / scale;
                max_error = max_error.max(err);
                let top = c + g(cells - 1);
                lo_y = lo_y.min(c);
                hi_y = hi_y.max(top);
                slope_max = slope_max.max(m);
                segments.push(Some(Segment { c, m }));
            }
            levels.push(Level { k, s, segments });
        }
        let outer = levels.last().ok_or_else(|| bad("no levels".to_string()))?;
        let full = outer.is_full(frac_bits, ring_bits);
        let edge = (f + outer.k).clamp(0, ell - 2) as u32;
        let (bound_lo, bound_hi) = (-(1i64 << edge), 1i64 << edge);
        let far = 1e12f64;
        let mut scale_excess = 0f64;
        let mut lipschitz = func.lipschitz();
        let mut tail = |t: TailPlan, side_hi: bool, active: bool| -> Result<Tail> {
            // The tail's error over its inputs: at the boundary and at infinity.
            let (xb, xf) = if side_hi && plan.split {
                (0.0, far)
            } else if side_hi {
                (bound_hi as f64 / scale, far)
            } else {
                ((bound_lo - 1) as f64 / scale, -far)
            };
            Ok(match t {
                TailPlan::Const(v) => {
                    let c = (v * scale).round();
                    if !c.is_finite() || c.abs() >= (ring_max as f64) / 4.0 {
                        return Err(bad(format!("tail constant {v}")));
                    }
                    let c = c as i64;
                    if active {
                        let y = c as f64 / scale;
                        let e = (func.eval(xb) - y).abs().max((func.eval(xf) - y).abs());
                        max_error = max_error.max(e);
                        lo_y = lo_y.min(c);
                        hi_y = hi_y.max(c);
                    }
                    Tail::Const(c)
                }
                TailPlan::Identity => {
                    if active {
                        let e = (func.eval(xb) - xb).abs().max((func.eval(xf) - xf).abs());
                        max_error = max_error.max(e);
                    }
                    Tail::Identity
                }
                TailPlan::Scale(gamma) => {
                    let a = (gamma * scale).round();
                    if !(a.is_finite() && a >= 0.0 && a < (ring_max as f64) / 4.0) {
                        return Err(bad(format!("tail scale {gamma}")));
                    }
                    scale_excess = (a / scale - gamma).abs();
                    lipschitz = lipschitz.max(a / scale);
                    // The floor: one unit.
                    max_error = max_error.max(1.0 / scale);
                    Tail::Scale(a as i64)
                }
            })
        };
        let below = tail(plan.below, false, !full)?;
        let above = tail(plan.above, true, !full || plan.split)?;
        let out_bits = signed_bits(lo_y).max(signed_bits(hi_y));
        if out_bits > ring_bits {
            return Err(bad(format!("outputs of {out_bits} bits")));
        }
        let slope_bits = (64 - slope_max.leading_zeros()).max(1);
        if slope_bits + b > 62 {
            return Err(bad(format!("slopes of {slope_bits} bits")));
        }
        Ok(Spline {
            frac_bits,
            ring_bits,
            offset_bits: b,
            levels,
            below,
            above,
            split: plan.split,
            out_bits,
            slope_bits,
            max_error,
            scale_excess,
            lipschitz,
        })
    }

    /// The fixed-point output for the signed input `x` (an `ℓ`-bit value at scale
    /// `2^f`), or `None` if a scaled tail's product `a·x` leaves `[−2^(ℓ−1), 2^(ℓ−1))`
    /// (where the circuit's ring product would wrap).
    pub fn eval(&self, x: i64) -> Option<i64> {
        let (f, ell) = (self.frac_bits, self.ring_bits);
        if self.split && x >= 0 {
            return self.tail(self.above, x);
        }
        for lvl in &self.levels {
            if lvl.contains(x, f, ell) {
                let seg = lvl
                    .segments
                    .get(lvl.index(x, f))
                    .copied()
                    .flatten()
                    .unwrap_or_default();
                return Some(self.segment_value(lvl, seg, x));
            }
        }
        self.tail(if x < 0 { self.below } else { self.above }, x)
    }

    /// `u`, the kept offset bits of `x` in a segment of `lvl`.
    pub fn offset(&self, lvl: &Level, x: i64) -> u64 {
        let ob = lvl.offset_width(self.frac_bits);
        let b = self.offset_bits;
        let o = (x as u64) & ((1u64 << ob) - 1);
        if ob >= b {
            o >> (ob - b)
        } else {
            o << (b - ob)
        }
    }

    fn segment_value(&self, lvl: &Level, seg: Segment, x: i64) -> i64 {
        let b = self.offset_bits;
        let u = self.offset(lvl, x);
        let p = (i128::from(seg.m) * i128::from(u) + (1i128 << (b - 1))) >> b;
        seg.c + p as i64
    }

    fn tail(&self, t: Tail, x: i64) -> Option<i64> {
        match t {
            Tail::Const(c) => Some(c),
            Tail::Identity => Some(x),
            Tail::Scale(a) => {
                let p = i128::from(a) * i128::from(x);
                let lim = 1i128 << (self.ring_bits - 1);
                ((-lim..lim).contains(&p)).then(|| (p >> self.frac_bits) as i64)
            }
        }
    }

    /// The segments in use (`Some`) over all levels.
    pub fn segment_count(&self) -> usize {
        self.levels
            .iter()
            .map(|l| l.segments.iter().flatten().count())
            .sum()
    }

    /// The worst-case deviation of the output (units of `2^-f`) when the input deviates
    /// by at most `dev`: `0` for `dev = 0`, else `⌈L·dev⌉ + 2·⌈max_error·2^f⌉ + 2`.
    pub fn deviation(&self, dev: u128) -> u128 {
        if dev == 0 {
            return 0;
        }
        let scale = f64::from(self.frac_bits).exp2();
        let lin = (self.lipschitz * dev as f64).ceil();
        let e = (self.max_error * scale).ceil();
        if !(lin.is_finite() && lin < 1e30) {
            return u128::MAX;
        }
        (lin as u128)
            .saturating_add(2 * e as u128)
            .saturating_add(2)
    }
}

/// The spline of `op` for `frac_bits` fractional bits in `Z_2^ring_bits` if `op` is a
/// smooth activation (sigmoid, tanh, elu, selu, softplus, softsign), else `None`.
pub fn spline_of(op: &crate::Op, frac_bits: u32, ring_bits: u32) -> Option<Result<Spline>> {
    use super::smooth::{Logistic, Softplus, Softsign, Tanh};
    use crate::Op;
    Some(match op {
        Op::Sigmoid => Spline::new(&Logistic, frac_bits, ring_bits),
        Op::Tanh => Spline::new(&Tanh, frac_bits, ring_bits),
        Op::Elu(e) => Spline::new(e, frac_bits, ring_bits),
        Op::Selu(e) => Spline::new(e, frac_bits, ring_bits),
        Op::Softplus => Spline::new(&Softplus, frac_bits, ring_bits),
        Op::Softsign => Spline::new(&Softsign, frac_bits, ring_bits),
        _ => return None,
    })
}

/// The [`Operator`] of the smooth activations: `φ` in float, its [`Spline`] in fixed
/// point; element-wise, any shape.
pub struct SplineOp<F>(PhantomData<F>);

impl<F: SplineFn> Operator for SplineOp<F> {
    type Attrs = F;
    const KIND: &'static str = F::KIND;

    fn shape(_: &F, inputs: &[&[usize]], _: &str) -> Result<Vec<usize>> {
        Ok(inputs[0].to_vec())
    }

    fn float<T: Float>(a: &F, _: &Layer, ins: &[&[T]], _: usize) -> Result<Vec<T>> {
        let x = super::single(ins, Self::KIND)?;
        Ok(x.iter().map(|&v| T::from_f64(a.eval(v.to_f64()))).collect())
    }

    /// Nothing to encode; checks that the table can be built for the format.
    fn encode<R: Ring>(
        a: &F,
        fp: tessera_core::FixedPoint,
        name: &str,
    ) -> Result<crate::fixed::FixedParams<R>> {
        Spline::new(a, fp.frac_bits, R::BITS).map_err(|e| Error::Range {
            what: format!("layer {name} ({})", F::KIND),
            detail: e.to_string(),
        })?;
        Ok(crate::fixed::FixedParams::default())
    }

    fn fixed<R: Ring>(a: &F, fl: &FixedLayer<R>, ins: &[&[R]], _: usize, f: u32) -> Result<Vec<R>> {
        let x = super::single(ins, Self::KIND)?;
        let sp = Spline::new(a, f, R::BITS)?;
        x.iter()
            .map(|&v| {
                sp.eval(v.to_i64())
                    .map(R::from_i64)
                    .ok_or_else(|| Error::Range {
                        what: format!("layer {} ({})", fl.layer().name(), F::KIND),
                        detail: format!(
                            "the scaled tail's product for input {} leaves Z_2^{}",
                            v.to_i64(),
                            R::BITS
                        ),
                    })
            })
            .collect()
    }

    fn error_bound_fixed<R: Ring>(a: &F, _: &FixedLayer<R>, devs: &[u128], f: u32) -> u128 {
        let dev = devs.first().copied().unwrap_or(0);
        match Spline::new(a, f, R::BITS) {
            Ok(sp) => sp.deviation(dev),
            Err(_) if dev == 0 => 0,
            Err(_) => u128::MAX,
        }
    }

    fn hyper(a: &F) -> String {
        a.hyper()
    }
}
