//! `softmax` lowered: no arithmetic form; in B/Y one circuit instance per group of
//! `len` values, computing the group's outputs together (`len` words per instance,
//! see [`BoolLayer::words`]) bit for bit as `tessera_models::ops::softmax` defines:
//! a comparison tree for the maximum, one [`spline_circuit`] of `eˣ` per value, a
//! multi-operand sum, then
//!
//! - softmax: a restoring division `⌊2^2f / S⌋` (`f + 1` quotient bits, each a
//!   comparison and a multiplexer on `f + ⌈log₂ len⌉ + 2` bits) and a narrow
//!   `(2f + 2)`-bit multiplier per value;
//! - log-softmax: a leading-one detector on `S`'s bits `f …` (a prefix OR), the
//!   mantissa selected by it (one AND per bit and candidate), one spline of `ln`, the
//!   multiple of `ln 2` selected as a constant (free), a subtraction per value.

use tessera_core::Ring;
use tessera_models::fixed::FixedLayer;
use tessera_models::ops::softmax::{Softmax, SoftmaxOp, ln2_fixed, splines};
use tessera_protocols::AShare;
use tessera_protocols::circuit::{Builder, Wire};

use super::spline::spline_circuit;
use super::{ACost, ARun, Lower, Role, not_in_a};
use crate::circuits::{BoolLayer, Gather, variant_for_b, words};
use crate::cost::{Work, free};
use crate::{Price, Result};

impl Lower for SoftmaxOp {
    const ROLE: Role = Role::Nonlinear;

    fn runs_in_a(_: &Softmax) -> bool {
        false
    }

    /// Never lowered to A ([`Lower::runs_in_a`]); priced as nothing.
    fn a_price<R: Ring>(_: &Softmax, _: &ACost<'_, R>) -> Result<(Price, Work)> {
        Ok((free(), Work::default()))
    }

    async fn run_a<R: Ring>(_: &Softmax, r: ARun<'_, R>, _: Vec<AShare<R>>) -> Result<AShare<R>> {
        Err(not_in_a(r.fl))
    }

    fn circuits<R: Ring>(
        s: &Softmax,
        fl: &FixedLayer<R>,
        frac_bits: u32,
        is_b: bool,
    ) -> Result<Vec<BoolLayer>> {
        let (ell, f, k, v) = (
            R::BITS as usize,
            frac_bits as usize,
            s.len,
            variant_for_b(is_b),
        );
        let (exp, ln) = splines(frac_bits, R::BITS)?;
        let mut b = Builder::new();
        let x = b.input(k * ell);
        let xs = words(&x, ell);
        let m = b.max_pool(&xs, v);
        let d: Vec<Vec<Wire>> = xs.iter().map(|w| b.sub(w, &m, v)).collect();
        let e: Vec<Vec<Wire>> = d
            .iter()
            .map(|w| {
                let y = spline_circuit(&mut b, &exp, w, v);
                b.relu(&y)
            })
            .collect();
        let sum = b.sum(&e, v);
        // S ≤ len·2^f: its bits and a guard bit.
        let w = (f + (usize::BITS - k.leading_zeros()) as usize + 2).min(ell);
        let sw = &sum[..w];
        let mut out: Vec<Wire> = Vec::with_capacity(k * ell);
        if !s.log {
            let q = reciprocal(&mut b, sw, f, v);
            let p = (2 * f + 2).min(ell);
            let mut rq = q;
            rq.resize(p, b.constant(false));
            for ej in &e {
                let prod = b.mul(&ej[..p], &rq, v);
                let top = prod[p - 1];
                let mut y: Vec<Wire> = prod[f..p].to_vec();
                y.resize(ell, top);
                out.extend(y);
            }
        } else {
            let ln_s = log_of_sum(&mut b, sw, f, ell, &ln, v);
            for dj in &d {
                out.extend(b.sub(dj, &ln_s, v));
            }
        }
        b.output(&out);
        let groups = fl.layer().output_shape().iter().product::<usize>() / k.max(1);
        Ok(vec![
            BoolLayer::new(
                b,
                groups,
                Gather {
                    slots: k,
                    idx: Some((0..groups * k).map(Some).collect()),
                },
                Vec::new(),
            )?
            .words(k),
        ])
    }
}

/// `⌊2^2f / S⌋` for `2^f ≤ S < 2^(w−1)` (`sw`, `w` bits): restoring division. The
/// quotient is below `2^(f+1)`, and the remainder before quotient bit `f` is
/// `2^(f−1) < S`, so `f + 1` steps suffice. Returns the `f + 1` quotient bits.
fn reciprocal(
    b: &mut Builder,
    sw: &[Wire],
    f: usize,
    v: tessera_protocols::circuit::Variant,
) -> Vec<Wire> {
    let w = sw.len();
    let mut r = b.constant_word(1u64 << (f - 1), w);
    let mut q = Vec::with_capacity(f + 1);
    for _ in 0..=f {
        let zero = b.constant(false);
        r.insert(0, zero);
        r.truncate(w);
        let lt = b.lt_unsigned(&r, sw, v);
        let ge = b.not(lt);
        let diff = b.sub(&r, sw, v);
        r = b.mux(ge, &diff, &r);
        q.push(ge);
    }
    q.reverse();
    q
}

/// `ln S` at scale `2^f` (`ℓ` bits) for `S ≥ 2^f` (`sw`): `k·round(ln 2·2^f) +
/// L(2μ − 3·2^f)` with `k` the position of `S`'s leading one minus `f` and `μ` the
/// `f + 1` bits from it down.
fn log_of_sum(
    b: &mut Builder,
    sw: &[Wire],
    f: usize,
    ell: usize,
    ln: &tessera_models::ops::spline::Spline,
    v: tessera_protocols::circuit::Variant,
) -> Vec<Wire> {
    let w = sw.len();
    let mut top = vec![b.constant(false); w];
    let mut above = b.constant(false);
    for p in (f..w).rev() {
        let none_above = b.not(above);
        top[p] = b.and(sw[p], none_above);
        above = b.or(above, sw[p]);
    }
    let mut mant = Vec::with_capacity(f + 1);
    for i in 0..=f {
        let mut acc = b.constant(false);
        for p in f..w {
            let t = b.and(top[p], sw[i + p - f]);
            acc = b.xor(acc, t);
        }
        mant.push(acc);
    }
    // u = 2μ − 3·2^f on f + 3 bits, then sign-extended.
    let uw = f + 3;
    let mut two_m = vec![b.constant(false)];
    two_m.extend(mant);
    two_m.resize(uw, b.constant(false));
    let c = b.constant_word((-(3i64 << f)) as u64 & ((1u64 << uw) - 1), uw);
    let mut u = b.add(&two_m, &c, v);
    let sign = u[uw - 1];
    u.resize(ell, sign);
    let lnm = spline_circuit(b, ln, &u, v);
    let l2 = ln2_fixed(f as u32);
    let mask = if ell == 64 {
        u64::MAX
    } else {
        (1u64 << ell) - 1
    };
    let values: Vec<u64> = (f..w)
        .map(|p| ((p - f) as i64 * l2) as u64 & mask)
        .collect();
    let kl2 = b.select_constant(&top[f..w], &values, ell);
    b.add(&lnm, &kl2, v)
}
