//! `div` (by an activation) and `reciprocal` lowered: no arithmetic form; in B/Y one
//! circuit per element computing `tessera_models::ops::divide::div_fixed` bit for bit
//! by restoring division (the method of Softmax's reciprocal, at full width):
//!
//! 1. `A = |a|`, `D = |b|` (conditional negations) and the result's sign `s_a ⊕ s_b`;
//! 2. the remainder starts as `N >> Q = A >> (ℓ − 1 − f)` (`N = A·2^f`, `Q = ℓ − 1`);
//!    if it is `≥ D` the quotient does not fit (or `D = 0`): saturation;
//! 3. `Q` steps: shift in the next bit of `N`, subtract `D` on `ℓ + 1` bits, keep the
//!    difference if it is non-negative (a multiplexer) and that sign as the quotient bit
//!    — one subtractor whose borrow is the comparison, so a step costs `ℓ + 1`
//!    subtractor ANDs and `ℓ + 1` multiplexer ANDs in Y;
//! 4. the quotient OR the saturation flag, then negated by the sign.
//!
//! For a reciprocal `a` is the constant `2^f`: step 1's first negation and the
//! shifted-in bits fold away, and as `N = 2^2f` the quotient of a non-zero divisor has
//! at most `2f + 1` bits, so only `min(ℓ − 1, 2f + 1)` steps run (33 at `f = 16`) and
//! saturation means `D = 0`.

use tessera_core::Ring;
use tessera_models::fixed::FixedLayer;
use tessera_models::ops::divide::{DivideOp, ReciprocalOp};
use tessera_protocols::AShare;
use tessera_protocols::circuit::{Builder, Variant, Wire};

use super::elementwise::binary;
use super::sign::{abs_circuit, cond_negate, not_in_a_lowering};
use super::{ACost, ARun, Lower, Role, not_in_a};
use crate::circuits::{BoolLayer, elementwise, variant_for_b};
use crate::cost::{Work, free};
use crate::{Price, Result};

/// `a / b` at scale `2^f` (`ℓ`-bit two's-complement words; see the module docs), for
/// `|a| < 2^a_bits` (`ℓ` for an activation, `f + 1` for the constant 1): the quotient of
/// a non-zero divisor is then below `2^(a_bits + f)`, so only `min(ℓ − 1, a_bits + f)`
/// quotient bits need a step (the others are 0, or all 1 when saturating).
pub(crate) fn divide_circuit(
    b: &mut Builder,
    a: &[Wire],
    d: &[Wire],
    f: usize,
    a_bits: usize,
    v: Variant,
) -> Vec<Wire> {
    let ell = a.len();
    let q_bits = (ell - 1).min(a_bits + f);
    let w = ell + 1;
    let neg = b.xor(a[ell - 1], d[ell - 1]);
    let aa = abs_circuit(b, a, v);
    let mut dd = abs_circuit(b, d, v);
    let zero = b.constant(false);
    dd.resize(w, zero);
    // Bit j of N = A·2^f.
    let n_bit = |j: usize| if j >= f { aa[j - f] } else { zero };
    // r = N >> Q: bits Q … ℓ + f − 1 of N (0 when Q = a_bits + f).
    let mut r: Vec<Wire> = (q_bits..ell + f).map(n_bit).collect();
    r.resize(w, zero);
    r.truncate(w);
    let diff = b.sub(&r, &dd, v);
    let overflow = b.not(diff[w - 1]);
    let mut q = vec![zero; q_bits];
    for i in (0..q_bits).rev() {
        // r = 2r + N_i (r < D ≤ 2^(ℓ−1) here unless saturated, so the top bit is 0).
        r.pop();
        r.insert(0, n_bit(i));
        let diff = b.sub(&r, &dd, v);
        let ge = b.not(diff[w - 1]);
        r = b.mux(ge, &diff, &r);
        q[i] = ge;
    }
    // Bits Q … ℓ − 2 are 0 unless saturating; bit ℓ − 1 is 0.
    q.resize(ell - 1, zero);
    let mut y: Vec<Wire> = q.iter().map(|&qi| b.or(qi, overflow)).collect();
    y.push(zero);
    cond_negate(b, &y, neg, v)
}

impl Lower for DivideOp {
    not_in_a_lowering!();

    fn circuits<R: Ring>(
        _: &(),
        fl: &FixedLayer<R>,
        frac_bits: u32,
        is_b: bool,
    ) -> Result<Vec<BoolLayer>> {
        let f = frac_bits as usize;
        let ell = R::BITS as usize;
        binary(fl, is_b, |b, x, y, v| divide_circuit(b, x, y, f, ell, v))
    }
}

impl Lower for ReciprocalOp {
    not_in_a_lowering!();

    fn circuits<R: Ring>(
        _: &(),
        fl: &FixedLayer<R>,
        frac_bits: u32,
        is_b: bool,
    ) -> Result<Vec<BoolLayer>> {
        let (ell, f) = (R::BITS as usize, frac_bits as usize);
        let mut b = Builder::new();
        let x = b.input(ell);
        let one = b.constant_word(1u64 << f, ell);
        let y = divide_circuit(&mut b, &one, &x, f, f + 1, variant_for_b(is_b));
        b.output(&y);
        elementwise(b, fl)
    }
}

#[cfg(test)]
mod tests {
    //! The circuit against `div_fixed`, bit for bit: edge values (0, ±1, the ring's
    //! extremes, saturating and exact quotients) and random operands of every size, both
    //! variants, two formats.
    #![allow(clippy::unwrap_used)]

    use super::*;
    use proptest::prelude::*;
    use tessera_models::ops::divide::div_fixed;

    fn check(pairs: &[(i64, i64)], f: u32, ell: u32, recip: bool) {
        let mask = if ell == 64 { !0 } else { (1u64 << ell) - 1 };
        let to_signed = |x: u64| ((x << (64 - ell)) as i64) >> (64 - ell);
        for v in Variant::ALL {
            let mut b = Builder::new();
            let (x, y) = (b.input(ell as usize), b.input(ell as usize));
            let a = if recip {
                b.constant_word(1u64 << f, ell as usize)
            } else {
                x.clone()
            };
            let a_bits = if recip { f as usize + 1 } else { ell as usize };
            let q = divide_circuit(&mut b, &a, &y, f as usize, a_bits, v);
            b.output(&q);
            let c = b.finish().unwrap();
            let xs: Vec<u64> = pairs.iter().map(|&(a, _)| a as u64 & mask).collect();
            let ys: Vec<u64> = pairs.iter().map(|&(_, d)| d as u64 & mask).collect();
            let out = c.eval_u64(&[&xs, &ys]).unwrap();
            for (&(a, d), &got) in pairs.iter().zip(&out[0]) {
                let (a, d) = (to_signed(a as u64 & mask), to_signed(d as u64 & mask));
                let a = if recip { 1i64 << f } else { a };
                let want = div_fixed(a, d, f, ell) as u64 & mask;
                assert_eq!(got, want, "{a} / {d} ({v}, f = {f}, ℓ = {ell})");
            }
        }
    }

    fn edges(ell: u32) -> Vec<i64> {
        let min = if ell == 64 {
            i64::MIN
        } else {
            -(1i64 << (ell - 1))
        };
        vec![
            0,
            1,
            -1,
            2,
            -2,
            3,
            65536,
            -65536,
            1 << 20,
            min,
            !min,
            min + 1,
            !min - 1,
        ]
    }

    #[test]
    fn division_circuit_computes_the_reference_at_the_edges() {
        for (f, ell) in [(16, 64), (8, 32)] {
            let e = edges(ell);
            let pairs: Vec<(i64, i64)> = e
                .iter()
                .flat_map(|&a| e.iter().map(move |&d| (a, d)))
                .collect();
            check(&pairs, f, ell, false);
            check(&pairs, f, ell, true);
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(16))]
        #[test]
        fn division_circuit_computes_the_reference_on_random_operands(
            raw in prop::collection::vec((any::<i64>(), any::<i64>(), 0u32..63, 0u32..63), 64),
        ) {
            // Operands of every magnitude: a random value shifted right.
            let pairs: Vec<(i64, i64)> = raw.iter().map(|&(a, d, sa, sd)| (a >> sa, d >> sd)).collect();
            check(&pairs, 16, 64, false);
            check(&pairs, 16, 64, true);
            let small: Vec<(i64, i64)> = pairs.iter().map(|&(a, d)| (a >> 32, d >> 32)).collect();
            check(&small, 8, 32, false);
        }
    }

    /// AND gates and depth per element at f = 16, ℓ = 64, for the docs.
    #[test]
    fn and_gates_per_element() {
        for recip in [false, true] {
            for v in Variant::ALL {
                let mut b = Builder::new();
                let (x, y) = (b.input(64), b.input(64));
                let a = if recip {
                    b.constant_word(1 << 16, 64)
                } else {
                    x
                };
                let q = divide_circuit(&mut b, &a, &y, 16, if recip { 17 } else { 64 }, v);
                b.output(&q);
                let cost = b.finish().unwrap().cost();
                println!(
                    "{} {v}: {} AND, depth {}",
                    if recip { "reciprocal" } else { "div" },
                    cost.and_gates,
                    cost.and_depth
                );
            }
        }
    }
}
