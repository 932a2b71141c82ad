//! `abs` and `sign` lowered: no arithmetic form; in B/Y one circuit per element.
//!
//! - `abs`: `(x ⊕ s) + s` with `s` the sign bit, an increment by one bit (`ℓ − 1`
//!   ANDs in Y's ripple adder, the prefix adder in B);
//! - `sign`: `nz`, the OR of all bits (`ℓ − 1` ANDs, depth `⌈log₂ ℓ⌉`); the output's
//!   bit `f` is `nz`, its bits above are `s`, those below 0 — i.e. `2^f`, `0` or
//!   `−2^f` with no further gate.

use tessera_core::Ring;
use tessera_models::fixed::FixedLayer;
use tessera_models::ops::sign::{AbsOp, SignOp};
use tessera_protocols::AShare;
use tessera_protocols::circuit::{Builder, Variant, Wire};

use super::{ACost, ARun, Lower, Role, not_in_a};
use crate::circuits::{BoolLayer, elementwise, variant_for_b};
use crate::cost::{Work, free};
use crate::{Price, Result};

/// `|x|` of an `ℓ`-bit two's-complement word (`−2^(ℓ−1)` maps to itself).
pub(crate) fn abs_circuit(b: &mut Builder, x: &[Wire], v: Variant) -> Vec<Wire> {
    let s = x[x.len() - 1];
    cond_negate(b, x, s, v)
}

/// `s ? −x : x`: `(x ⊕ s) + s`.
pub(crate) fn cond_negate(b: &mut Builder, x: &[Wire], s: Wire, v: Variant) -> Vec<Wire> {
    let flipped: Vec<Wire> = x.iter().map(|&xi| b.xor(xi, s)).collect();
    let mut inc = vec![b.constant(false); x.len()];
    inc[0] = s;
    b.add(&flipped, &inc, v)
}

/// `a ∨ b` over a list, as a balanced tree.
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

macro_rules! not_in_a_lowering {
    () => {
        const ROLE: Role = Role::Nonlinear;

        fn runs_in_a(_: &()) -> bool {
            false
        }

        /// Never lowered to A ([`Lower::runs_in_a`]); priced as nothing.
        fn a_price<R: Ring>(_: &(), _: &ACost<'_, R>) -> Result<(Price, Work)> {
            Ok((free(), Work::default()))
        }

        async fn run_a<R: Ring>(_: &(), r: ARun<'_, R>, _: Vec<AShare<R>>) -> Result<AShare<R>> {
            Err(not_in_a(r.fl))
        }
    };
}
pub(crate) use not_in_a_lowering;

impl Lower for AbsOp {
    not_in_a_lowering!();

    fn circuits<R: Ring>(_: &(), fl: &FixedLayer<R>, _: u32, is_b: bool) -> Result<Vec<BoolLayer>> {
        let mut b = Builder::new();
        let x = b.input(R::BITS as usize);
        let y = abs_circuit(&mut b, &x, variant_for_b(is_b));
        b.output(&y);
        elementwise(b, fl)
    }
}

impl Lower for SignOp {
    not_in_a_lowering!();

    fn circuits<R: Ring>(
        _: &(),
        fl: &FixedLayer<R>,
        frac_bits: u32,
        _: bool,
    ) -> Result<Vec<BoolLayer>> {
        let (ell, f) = (R::BITS as usize, frac_bits as usize);
        let mut b = Builder::new();
        let x = b.input(ell);
        let s = x[ell - 1];
        let nz = or_tree(&mut b, &x);
        let zero = b.constant(false);
        let y: Vec<Wire> = (0..ell)
            .map(|j| match j.cmp(&f) {
                std::cmp::Ordering::Less => zero,
                std::cmp::Ordering::Equal => nz,
                std::cmp::Ordering::Greater => s,
            })
            .collect();
        b.output(&y);
        elementwise(b, fl)
    }
}
