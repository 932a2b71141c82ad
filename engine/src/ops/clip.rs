//! `clip` lowered: no arithmetic form; in B/Y one circuit per element: two signed
//! comparisons with the public bounds, `x < lo` and `hi < x` (at most one holds, as
//! `lo ≤ hi`), and one selection `x ⊕ [x < lo]·(lo ⊕ x) ⊕ [hi < x]·(hi ⊕ x)` — `2ℓ`
//! ANDs at depth one after the comparisons. A comparison with a constant is a carry
//! chain of one AND per bit (the constant's bits fold), one with 0 is the sign bit
//! (free), so ReLU6's lower bound costs only its multiplexer.
//!
//! The generic spline ([`super::spline`]) does not represent a clip exactly — its
//! segments are aligned to powers of two and keep only 16 offset bits, while the
//! identity piece needs all `f − s` of them and the bounds are arbitrary — and a
//! comparison and multiplexer per bound costs less than its decoder and multiplier.

use tessera_core::Ring;
use tessera_models::fixed::FixedLayer;
use tessera_models::ops::clip::{Clip, ClipOp, ring_range};
use tessera_protocols::AShare;
use tessera_protocols::circuit::{Builder, Variant, Wire};

use super::{ACost, ARun, Lower, Role, not_in_a};
use crate::circuits::{BoolLayer, elementwise, variant_for_b};
use crate::cost::{Work, free};
use crate::{Price, Result};

/// The clamp of `x` (`ℓ` bits) to `[lo, hi]` (signed, `lo ≤ hi`; a bound at the ring's
/// extreme is no bound).
pub(crate) fn clamp_circuit(
    b: &mut Builder,
    x: &[Wire],
    lo: i64,
    hi: i64,
    v: Variant,
) -> Vec<Wire> {
    let ell = x.len();
    let mask = if ell == 64 { !0 } else { (1u64 << ell) - 1 };
    let (rmin, rmax) = ring_range(ell as u32);
    let mut y = x.to_vec();
    let mut terms: Vec<(Wire, Vec<Wire>)> = Vec::new();
    if lo > rmin {
        let c = b.constant_word(lo as u64 & mask, ell);
        // x < 0 is the sign bit.
        let below = if lo == 0 {
            x[ell - 1]
        } else {
            b.lt_signed(x, &c, v)
        };
        terms.push((below, c));
    }
    if hi < rmax {
        let c = b.constant_word(hi as u64 & mask, ell);
        let above = b.lt_signed(&c, x, v);
        terms.push((above, c));
    }
    // At most one flag holds: each contributes s·(c ⊕ x) (a multiplexer's `ℓ` ANDs,
    // `mux(s, c, x) ⊕ x`) to the XOR.
    for (s, c) in terms {
        let sel = b.mux(s, &c, x);
        y = y
            .iter()
            .zip(sel.iter().zip(x))
            .map(|(&yi, (&si, &xi))| {
                let d = b.xor(si, xi);
                b.xor(yi, d)
            })
            .collect();
    }
    y
}

impl Lower for ClipOp {
    const ROLE: Role = Role::Nonlinear;

    fn runs_in_a(_: &Clip) -> bool {
        false
    }

    /// Never lowered to A ([`Lower::runs_in_a`]); priced as nothing.
    fn a_price<R: Ring>(_: &Clip, _: &ACost<'_, R>) -> Result<(Price, Work)> {
        Ok((free(), Work::default()))
    }

    async fn run_a<R: Ring>(_: &Clip, r: ARun<'_, R>, _: Vec<AShare<R>>) -> Result<AShare<R>> {
        Err(not_in_a(r.fl))
    }

    fn circuits<R: Ring>(
        c: &Clip,
        fl: &FixedLayer<R>,
        frac_bits: u32,
        is_b: bool,
    ) -> Result<Vec<BoolLayer>> {
        let (lo, hi) = c.bounds(frac_bits, R::BITS);
        let mut b = Builder::new();
        let x = b.input(R::BITS as usize);
        let y = clamp_circuit(&mut b, &x, lo, hi, variant_for_b(is_b));
        b.output(&y);
        elementwise(b, fl)
    }
}

#[cfg(test)]
mod tests {
    //! The clip, abs, sign, max and min circuits against the reference semantics, bit
    //! for bit, at the bounds ± a few units, the ring's extremes and random values.
    #![allow(clippy::unwrap_used)]

    use super::*;
    use crate::ops::sign::abs_circuit;
    use proptest::prelude::*;

    fn eval(
        ell: usize,
        build: impl Fn(&mut Builder, &[Wire]) -> Vec<Wire>,
        xs: &[i64],
    ) -> Vec<i64> {
        let mask = if ell == 64 { !0 } else { (1u64 << ell) - 1 };
        let mut b = Builder::new();
        let x = b.input(ell);
        let y = build(&mut b, &x);
        b.output(&y);
        let c = b.finish().unwrap();
        let ins: Vec<u64> = xs.iter().map(|&x| x as u64 & mask).collect();
        c.eval_u64(&[&ins]).unwrap()[0]
            .iter()
            .map(|&y| ((y << (64 - ell)) as i64) >> (64 - ell))
            .collect()
    }

    fn clips() -> Vec<Clip> {
        vec![
            Clip {
                min: Some(0.0),
                max: Some(6.0),
            },
            Clip {
                min: Some(-1.0),
                max: Some(1.0),
            },
            Clip {
                min: Some(0.3),
                max: None,
            },
            Clip {
                min: None,
                max: Some(-0.7),
            },
            Clip {
                min: Some(2.0),
                max: Some(1.0),
            },
            Clip {
                min: Some(-1e30),
                max: Some(1e30),
            },
            Clip {
                min: None,
                max: None,
            },
        ]
    }

    fn check(xs: &[i64], f: u32, ell: usize) {
        let sx: Vec<i64> = xs
            .iter()
            .map(|&x| (x << (64 - ell)) >> (64 - ell))
            .collect();
        for v in Variant::ALL {
            for c in clips() {
                let (lo, hi) = c.bounds(f, ell as u32);
                let got = eval(ell, |b, x| clamp_circuit(b, x, lo, hi, v), &sx);
                for (&x, &y) in sx.iter().zip(&got) {
                    assert_eq!(y, x.clamp(lo, hi), "clip {c:?} of {x} ({v})");
                }
            }
            let got = eval(ell, |b, x| abs_circuit(b, x, v), &sx);
            for (&x, &y) in sx.iter().zip(&got) {
                let min = if ell == 64 {
                    i64::MIN
                } else {
                    -(1i64 << (ell - 1))
                };
                let want = if x == min { x } else { x.abs() };
                assert_eq!(y, want, "abs of {x} ({v})");
            }
        }
    }

    #[test]
    fn clip_and_abs_circuits_are_exact_at_the_edges() {
        for (f, ell) in [(16u32, 64usize), (8, 32)] {
            let min = if ell == 64 {
                i64::MIN
            } else {
                -(1i64 << (ell - 1))
            };
            let mut xs = vec![0, 1, -1, min, !min, min + 1, !min - 1];
            for c in clips() {
                let (lo, hi) = c.bounds(f, ell as u32);
                for d in -3..=3 {
                    xs.push(lo.saturating_add(d).clamp(min, !min));
                    xs.push(hi.saturating_add(d).clamp(min, !min));
                }
            }
            check(&xs, f, ell);
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(16))]
        #[test]
        fn clip_and_abs_circuits_are_exact_on_random_inputs(
            raw in prop::collection::vec(any::<i64>(), 100),
            small in prop::collection::vec(-(1i64 << 20)..(1i64 << 20), 100),
        ) {
            let xs: Vec<i64> = raw.iter().chain(&small).copied().collect();
            check(&xs, 16, 64);
            check(&xs, 8, 32);
        }
    }
}
