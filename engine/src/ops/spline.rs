//! The smooth activations lowered (sigmoid, tanh, elu, selu, softplus, softsign): no
//! arithmetic form; in B/Y one circuit per element computing the operator's
//! [`Spline`] bit for bit (see `tessera_models::ops::spline` for the table):
//!
//! 1. **windows**: `x` is in window `[−2^k, 2^k)` iff its bits `f + k … ℓ−2` all equal
//!    the sign: an OR tree over `x_j ⊕ sign`, shared between nested windows
//!    (`ℓ − 1 − f − k₀` ANDs in all);
//! 2. **segment**: each level's index is a bit slice of `x`; it is decoded one-hot
//!    together with the level's "finest window that holds `x`" flag
//!    ([`Builder::decode`], about one AND per segment in use);
//! 3. **coefficients**: the intercept `c` and slope `m` are XORs of the decoded lines
//!    and of the constant tails' flags ([`Builder::select_constant`], free); a
//!    constant tail is a line with `m = 0`, so it needs no multiplexer;
//! 4. **product**: the `b` offset bits `u` (a bit slice, multiplexed between levels
//!    with different segment widths) times `m`: `b × slope_bits` partial products
//!    summed with `c·2^b + 2^(b−1)` in one column sum ([`Builder::sum_columns`]); the
//!    output is the sum's top `out_bits` bits, sign-extended (free);
//! 5. **non-constant tails** (`x`, `γx` by [`Builder::mul_const`]): one multiplexer.
//!
//! B uses the depth-optimised final adder, Y the size-optimised one.

use tessera_core::Ring;
use tessera_models::fixed::FixedLayer;
use tessera_models::ops::spline::{Spline, SplineFn, SplineOp, Tail};
use tessera_protocols::AShare;
use tessera_protocols::circuit::{Builder, Variant, Wire};

use super::{ACost, ARun, Lower, Role, not_in_a};
use crate::circuits::{BoolLayer, elementwise, shift_bits, variant_for_b};
use crate::cost::{Work, free};
use crate::{Price, Result};

impl<F: SplineFn> Lower for SplineOp<F> {
    const ROLE: Role = Role::Nonlinear;

    fn runs_in_a(_: &F) -> bool {
        false
    }

    /// Never lowered to A ([`Lower::runs_in_a`]); priced as nothing.
    fn a_price<R: Ring>(_: &F, _: &ACost<'_, R>) -> Result<(Price, Work)> {
        Ok((free(), Work::default()))
    }

    async fn run_a<R: Ring>(_: &F, r: ARun<'_, R>, _: Vec<AShare<R>>) -> Result<AShare<R>> {
        Err(not_in_a(r.fl))
    }

    fn circuits<R: Ring>(
        a: &F,
        fl: &FixedLayer<R>,
        frac_bits: u32,
        is_b: bool,
    ) -> Result<Vec<BoolLayer>> {
        let sp = Spline::new(a, frac_bits, R::BITS)?;
        let mut b = Builder::new();
        let x = b.input(R::BITS as usize);
        let y = spline_circuit(&mut b, &sp, &x, variant_for_b(is_b));
        b.output(&y);
        elementwise(b, fl)
    }
}

fn ring_mask(ell: usize) -> u64 {
    if ell == 64 { !0 } else { (1u64 << ell) - 1 }
}

/// `a ∨ b` over a list, as a balanced tree (`n − 1` ANDs); `false` for none.
fn or_tree(b: &mut Builder, bits: &[Wire]) -> Wire {
    match bits {
        [] => b.constant(false),
        [w] => *w,
        _ => {
            let (l, r) = bits.split_at(bits.len() / 2);
            let (l, r) = (or_tree(b, l), or_tree(b, r));
            b.or(l, r)
        }
    }
}

/// The circuit of `sp` on the `ℓ`-bit input `x` (LSB first): the `ℓ`-bit output,
/// equal to [`Spline::eval`] on every input where that is defined.
///
/// # Panics
/// If `x` is not `sp.ring_bits` wide.
pub(crate) fn spline_circuit(b: &mut Builder, sp: &Spline, x: &[Wire], v: Variant) -> Vec<Wire> {
    let ell = sp.ring_bits as usize;
    assert_eq!(x.len(), ell, "spline input width");
    let f = sp.frac_bits as usize;
    let nb = sp.offset_bits as usize;
    let w = sp.out_bits as usize;
    let sign = x[ell - 1];
    let zero = b.constant(false);

    // 1. Windows, outermost first: `outside` is the OR of x_j ⊕ sign for j ≥ f + k.
    let d: Vec<Wire> = x[..ell - 1].iter().map(|&xi| b.xor(xi, sign)).collect();
    let levels = &sp.levels;
    let mut inside = vec![zero; levels.len()];
    let mut outside = zero;
    let mut hi = ell - 1;
    let mut tail = zero;
    for (j, lvl) in levels.iter().enumerate().rev() {
        let lo = if lvl.is_full(sp.frac_bits, sp.ring_bits) {
            ell - 1
        } else {
            (f as i32 + lvl.k) as usize
        };
        let part = or_tree(b, &d[lo..hi]);
        outside = b.or(outside, part);
        hi = lo;
        inside[j] = b.not(outside);
        if j + 1 == levels.len() {
            tail = outside;
        }
    }

    // 2.–3. The one-hot lines of the segments in use and of the constant tails, and
    // their coefficients.
    let mut lines = Vec::new();
    let mut cs: Vec<u64> = Vec::new();
    let mut ms: Vec<u64> = Vec::new();
    let wmask = if w == 64 { !0 } else { (1u64 << w) - 1 };
    for (j, lvl) in levels.iter().enumerate() {
        let sel = if j == 0 {
            inside[0]
        } else {
            b.xor(inside[j], inside[j - 1])
        };
        let ob = lvl.offset_width(sp.frac_bits) as usize;
        let top = (f as i32 + lvl.k) as usize;
        let mut bits: Vec<Wire> = x[ob..top.min(ell - 1)].to_vec();
        bits.push(b.not(sign));
        let n = bits.len();
        bits.push(sel);
        let dec = b.decode(&bits);
        for (i, seg) in lvl.segments.iter().enumerate() {
            if let Some(seg) = seg {
                lines.push(dec[i + (1 << n)]);
                cs.push(seg.c as u64 & wmask);
                ms.push(seg.m);
            }
        }
    }
    let below_flag = if sp.split {
        // x ≥ 0 takes the upper tail at the end, so below needs no sign test.
        tail
    } else {
        b.and(tail, sign)
    };
    let above_flag = b.xor(tail, below_flag);
    if let Tail::Const(c) = sp.below {
        lines.push(below_flag);
        cs.push(c as u64 & wmask);
        ms.push(0);
    }
    if let (Tail::Const(c), false) = (sp.above, sp.split) {
        lines.push(above_flag);
        cs.push(c as u64 & wmask);
        ms.push(0);
    }
    let sb = sp.slope_bits as usize;
    let c = b.select_constant(&lines, &cs, w);
    let m = b.select_constant(&lines, &ms, sb);

    // 4. u, multiplexed from the outermost level inwards, then c·2^b + 2^(b−1) + m·u.
    let offset_bits = |lvl: &tessera_models::ops::spline::Level| -> Vec<Wire> {
        let ob = lvl.offset_width(sp.frac_bits) as usize;
        (0..nb)
            .map(|r| {
                if ob >= nb {
                    x[ob - nb + r]
                } else if r < nb - ob {
                    zero
                } else {
                    x[r - (nb - ob)]
                }
            })
            .collect()
    };
    let mut u = offset_bits(&levels[levels.len() - 1]);
    for j in (0..levels.len() - 1).rev() {
        let uj = offset_bits(&levels[j]);
        u = b.mux(inside[j], &uj, &u);
    }
    let p = nb + w;
    let mut cols: Vec<Vec<Wire>> = vec![Vec::new(); p];
    for (r, &ur) in u.iter().enumerate() {
        for (k, &mk) in m.iter().enumerate() {
            if r + k < p {
                let pp = b.and(ur, mk);
                cols[r + k].push(pp);
            }
        }
    }
    for (t, &ct) in c.iter().enumerate() {
        cols[nb + t].push(ct);
    }
    let one = b.constant(true);
    cols[nb - 1].push(one);
    let sum = b.sum_columns(cols, v);
    let mut y: Vec<Wire> = sum[nb..].to_vec();
    let top = y[w - 1];
    y.resize(ell, top);

    // 5. Non-constant tails.
    // A constant tail is a line above, except a split table's upper one.
    let tail_value = |b: &mut Builder, t: Tail, line: bool| -> Option<Vec<Wire>> {
        match t {
            Tail::Const(_) if line => None,
            Tail::Const(c) => Some(b.constant_word(c as u64 & ring_mask(ell), ell)),
            Tail::Identity => Some(x.to_vec()),
            Tail::Scale(a) => {
                let prod = b.mul_const(x, a as u64, v);
                Some(shift_bits(ell, f).into_iter().map(|i| prod[i]).collect())
            }
        }
    };
    if let Some(t) = tail_value(b, sp.below, true) {
        y = b.mux(below_flag, &t, &y);
    }
    if let Some(t) = tail_value(b, sp.above, !sp.split) {
        let flag = if sp.split { b.not(sign) } else { above_flag };
        y = b.mux(flag, &t, &y);
    }
    y
}

#[cfg(test)]
mod tests {
    //! The circuit against [`Spline::eval`], bit for bit, on many inputs: every
    //! segment's ends and middle, the window and tail boundaries ± a few units, the
    //! ring's extremes and random values, for each activation, both variants and
    //! several formats.
    #![allow(clippy::unwrap_used)]

    use super::*;
    use proptest::prelude::*;
    use tessera_models::ops::smooth::{Elu, Logistic, Selu, Softplus, Softsign, Tanh};

    /// Interesting inputs of `sp`: segment ends and centres, boundaries ± 3, extremes.
    fn probes(sp: &Spline) -> Vec<i64> {
        let (f, ell) = (sp.frac_bits, sp.ring_bits);
        let min = if ell == 64 {
            i64::MIN
        } else {
            -(1i64 << (ell - 1))
        };
        let max = !min;
        let mut xs = vec![0, 1, -1, min, max, min + 1, max - 1];
        for lvl in &sp.levels {
            let ob = lvl.offset_width(f);
            let e = (f as i32 + lvl.k).min(ell as i32 - 1) as u32;
            let start = if e >= ell - 1 { min } else { -(1i64 << e) };
            for i in 0..lvl.segments.len() as i64 {
                let x0 = start.saturating_add(i << ob);
                for d in [-3, -2, -1, 0, 1, 2, 3, (1i64 << ob) / 2, (1i64 << ob) - 1] {
                    xs.push(x0.saturating_add(d));
                }
            }
            for d in -3..=3 {
                xs.push((-(1i64 << e.min(62))).saturating_add(d));
                xs.push((1i64 << e.min(62)).saturating_add(d));
            }
        }
        xs.into_iter()
            .filter(|&x| x >= min && x <= max && sp.eval(x).is_some())
            .collect()
    }

    fn check_circuit(sp: &Spline, xs: &[i64]) {
        let ell = sp.ring_bits as usize;
        let mask = if ell == 64 { !0 } else { (1u64 << ell) - 1 };
        for v in Variant::ALL {
            let mut b = Builder::new();
            let x = b.input(ell);
            let y = spline_circuit(&mut b, sp, &x, v);
            b.output(&y);
            let c = b.finish().unwrap();
            let ins: Vec<u64> = xs.iter().map(|&x| x as u64 & mask).collect();
            let out = c.eval_u64(&[&ins]).unwrap();
            for (&x, &y) in xs.iter().zip(&out[0]) {
                let want = sp.eval(x).unwrap() as u64 & mask;
                assert_eq!(y, want, "x = {x} ({v}, f = {}, ℓ = {ell})", sp.frac_bits);
            }
        }
    }

    fn all(f: u32, ell: u32) -> Vec<Spline> {
        vec![
            Spline::new(&Logistic, f, ell).unwrap(),
            Spline::new(&Tanh, f, ell).unwrap(),
            Spline::new(&Elu::default(), f, ell).unwrap(),
            Spline::new(&Elu { alpha: 2.0 }, f, ell).unwrap(),
            Spline::new(&Selu::default(), f, ell).unwrap(),
            Spline::new(&Softplus, f, ell).unwrap(),
            Spline::new(&Softsign, f, ell).unwrap(),
        ]
    }

    #[test]
    fn circuits_compute_the_spline_at_every_boundary() {
        for (f, ell) in [(16, 64), (12, 64), (11, 32), (8, 32), (1, 32), (28, 64)] {
            for sp in all(f, ell) {
                check_circuit(&sp, &probes(&sp));
            }
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(24))]
        #[test]
        fn circuits_compute_the_spline_on_random_inputs(
            raw in prop::collection::vec(any::<i64>(), 200),
            small in prop::collection::vec(-(1i64 << 26)..(1i64 << 26), 200),
            fmt in 0usize..3,
        ) {
            let (f, ell) = [(16, 64), (11, 32), (20, 64)][fmt];
            let min = if ell == 64 { i64::MIN } else { -(1i64 << (ell - 1)) };
            for sp in all(f, ell) {
                let xs: Vec<i64> = raw
                    .iter()
                    .map(|&x| if ell == 64 { x } else { x >> 32 })
                    .chain(small.iter().map(|&x| x.max(min)))
                    .filter(|&x| sp.eval(x).is_some())
                    .collect();
                check_circuit(&sp, &xs);
            }
        }
    }

    /// AND gates and depth per element at f = 16, ℓ = 64, for the docs.
    #[test]
    fn and_gates_per_element() {
        let names = [
            "sigmoid", "tanh", "elu", "elu(2)", "selu", "softplus", "softsign",
        ];
        for (name, sp) in names.iter().zip(all(16, 64)) {
            let mut line = format!("{name}: {} segments", sp.segment_count());
            for v in Variant::ALL {
                let mut b = Builder::new();
                let x = b.input(64);
                let y = spline_circuit(&mut b, &sp, &x, v);
                b.output(&y);
                let cost = b.finish().unwrap().cost();
                line.push_str(&format!(
                    ", {v}: {} AND depth {}",
                    cost.and_gates, cost.and_depth
                ));
                assert!(cost.and_gates < 1000, "{line}");
            }
            println!("{line}");
        }
    }
}
