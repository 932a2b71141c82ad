//! `leaky_relu` and `prelu` lowered: no arithmetic form (a comparison); in B/Y one
//! circuit per element, `sign ? (a·x mod 2^ℓ) >> f : x` — the shift is a bit
//! selection (free), the choice one multiplexer (`ℓ` ANDs). LeakyRelu's `a` is a public
//! constant ([`Builder::mul_const`]: one row per non-zero digit of its non-adjacent
//! form, nothing for a power of two); PRelu's slope is party 0's weight, entered like
//! a dense layer's weights and gathered per element (its channel), and multiplied by a
//! multiplier as narrow as the slope's public range allows (`f + 12` bits).

use tessera_core::Ring;
use tessera_models::fixed::FixedLayer;
use tessera_models::ops::prelu::{
    LeakyRelu, LeakyReluOp, PRelu, PReluOp, encode_alpha, slope_indices,
};
use tessera_protocols::AShare;
use tessera_protocols::circuit::{Builder, Variant, Wire};

use super::{ACost, ARun, Lower, Role, not_in_a};
use crate::circuits::{
    BoolLayer, Gather, Param, ParamInput, elementwise, shift_bits, variant_for_b,
};
use crate::cost::{Work, free};
use crate::{Error, Price, Result};

/// The bits of a slope's integer part, sign included: `|slope| ≤ 1024 < 2^11`
/// ([`tessera_models::ops::prelu::MAX_SLOPE`], checked when party 0 encodes it), so
/// `a = round(slope·2^f)` is a `(f + 12)`-bit two's-complement number. The circuit
/// reads only those bits of party 0's word — a public bound, it reveals nothing.
const SLOPE_INT_BITS: usize = 12;

/// `a·x mod 2^ℓ` for an `ℓ`-bit `x` and a narrower two's-complement `a` (`w` bits,
/// `w ≤ ℓ`): the rows `a_j·x·2^j` for `j < w − 1` and the negative top row
/// `−a_{w−1}·x·2^(w−1) = ¬(a_{w−1}·x·2^(w−1)) + 1` (when `w < ℓ`), summed by
/// [`Builder::sum_columns`]: about `w·ℓ − w²/2` partial products instead of a full
/// multiplier's `ℓ²/2`.
fn mul_narrow(b: &mut Builder, x: &[Wire], a: &[Wire], v: Variant) -> Vec<Wire> {
    let (ell, w) = (x.len(), a.len());
    let mut cols: Vec<Vec<Wire>> = vec![Vec::new(); ell];
    let one = b.constant(true);
    for (j, &aj) in a.iter().enumerate() {
        let negative = j + 1 == w && w < ell;
        if negative {
            for col in cols.iter_mut().take(j) {
                col.push(one);
            }
            cols[0].push(one);
        }
        for i in j..ell {
            let pp = b.and(aj, x[i - j]);
            cols[i].push(if negative { b.not(pp) } else { pp });
        }
    }
    b.sum_columns(cols, v)
}

/// `sign(x) ? p >> f : x` for the product `p = a·x mod 2^ℓ`.
fn choose(b: &mut Builder, x: &[Wire], p: &[Wire], f: usize) -> Vec<Wire> {
    let ell = x.len();
    let shifted: Vec<Wire> = shift_bits(ell, f).into_iter().map(|i| p[i]).collect();
    b.mux(x[ell - 1], &shifted, x)
}

impl Lower for LeakyReluOp {
    const ROLE: Role = Role::Nonlinear;

    fn runs_in_a(_: &LeakyRelu) -> bool {
        false
    }

    /// Never lowered to A ([`Lower::runs_in_a`]); priced as nothing.
    fn a_price<R: Ring>(_: &LeakyRelu, _: &ACost<'_, R>) -> Result<(Price, Work)> {
        Ok((free(), Work::default()))
    }

    async fn run_a<R: Ring>(_: &LeakyRelu, r: ARun<'_, R>, _: Vec<AShare<R>>) -> Result<AShare<R>> {
        Err(not_in_a(r.fl))
    }

    fn circuits<R: Ring>(
        a: &LeakyRelu,
        fl: &FixedLayer<R>,
        frac_bits: u32,
        is_b: bool,
    ) -> Result<Vec<BoolLayer>> {
        let ell = R::BITS as usize;
        let mut b = Builder::new();
        let x = b.input(ell);
        let s = encode_alpha(a.alpha, frac_bits) as u64;
        let p = b.mul_const(&x, s, variant_for_b(is_b));
        let y = choose(&mut b, &x, &p, frac_bits as usize);
        b.output(&y);
        elementwise(b, fl)
    }
}

impl Lower for PReluOp {
    const ROLE: Role = Role::Nonlinear;

    fn runs_in_a(_: &PRelu) -> bool {
        false
    }

    /// Never lowered to A ([`Lower::runs_in_a`]); priced as nothing.
    fn a_price<R: Ring>(_: &PRelu, _: &ACost<'_, R>) -> Result<(Price, Work)> {
        Ok((free(), Work::default()))
    }

    async fn run_a<R: Ring>(_: &PRelu, r: ARun<'_, R>, _: Vec<AShare<R>>) -> Result<AShare<R>> {
        Err(not_in_a(r.fl))
    }

    /// One instance per element reading the element and its slope (party 0's input,
    /// the slope tensor entered once per run).
    fn circuits<R: Ring>(
        p: &PRelu,
        fl: &FixedLayer<R>,
        frac_bits: u32,
        is_b: bool,
    ) -> Result<Vec<BoolLayer>> {
        let ell = R::BITS as usize;
        let layer = fl.layer();
        let idx = slope_indices(p.slope.shape(), layer.input_shape()).ok_or_else(|| {
            Error::shape(
                format!("layer {}", layer.name()),
                format!(
                    "slope of shape {:?} does not broadcast to {:?}",
                    p.slope.shape(),
                    layer.input_shape()
                ),
            )
        })?;
        let mut b = Builder::new();
        let x = b.input(ell);
        let w = b.input(ell);
        let width = (frac_bits as usize + SLOPE_INT_BITS).min(ell);
        let prod = mul_narrow(&mut b, &x, &w[..width], variant_for_b(is_b));
        let y = choose(&mut b, &x, &prod, frac_bits as usize);
        b.output(&y);
        let per = idx.len();
        Ok(vec![BoolLayer::new(
            b,
            per,
            Gather {
                slots: 1,
                idx: None,
            },
            vec![ParamInput {
                param: Param::Weights,
                values: p.slope.data().len(),
                slots: 1,
                idx: idx.into_iter().map(Some).collect(),
            }],
        )?])
    }
}

#[cfg(test)]
mod tests {
    //! The circuits against the fixed-point semantics, by plain evaluation.
    #![allow(clippy::unwrap_used)]

    use super::*;
    use proptest::prelude::*;

    /// `x ≥ 0 ? x : (a·x) >> f` on signed 64-bit values (no wrap).
    fn reference(x: i64, a: i64, f: u32) -> i64 {
        if x >= 0 {
            x
        } else {
            ((i128::from(a) * i128::from(x)) >> f) as i64
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(32))]

        #[test]
        fn prelu_circuit_is_the_reference(
            slopes in prop::collection::vec(-1024.0f32..=1024.0, 1..8),
            xs in prop::collection::vec(-(1i64 << 36)..(1i64 << 36), 1..40),
        ) {
            let f = 16u32;
            for v in Variant::ALL {
                let mut b = Builder::new();
                let x = b.input(64);
                let w = b.input(64);
                let p = mul_narrow(&mut b, &x, &w[..f as usize + SLOPE_INT_BITS], v);
                let y = choose(&mut b, &x, &p, f as usize);
                b.output(&y);
                let c = b.finish().unwrap();
                let a: Vec<i64> = slopes.iter().map(|&s| encode_alpha(s, f)).collect();
                let (xi, ai): (Vec<u64>, Vec<u64>) = xs
                    .iter()
                    .enumerate()
                    .map(|(j, &x)| (x as u64, a[j % a.len()] as u64))
                    .unzip();
                let out = c.eval_u64(&[&xi, &ai]).unwrap();
                for (j, &x) in xs.iter().enumerate() {
                    let want = reference(x, a[j % a.len()], f);
                    prop_assert_eq!(out[0][j] as i64, want, "x {} a {} {}", x, a[j % a.len()], v);
                }
            }
        }

        #[test]
        fn leaky_relu_circuit_is_the_reference(
            alpha in -8.0f32..8.0,
            xs in prop::collection::vec(-(1i64 << 40)..(1i64 << 40), 1..40),
        ) {
            let f = 16u32;
            let a = encode_alpha(alpha, f);
            for v in Variant::ALL {
                let mut b = Builder::new();
                let x = b.input(64);
                let p = b.mul_const(&x, a as u64, v);
                let y = choose(&mut b, &x, &p, f as usize);
                b.output(&y);
                let c = b.finish().unwrap();
                let xi: Vec<u64> = xs.iter().map(|&x| x as u64).collect();
                let out = c.eval_u64(&[&xi]).unwrap();
                for (j, &x) in xs.iter().enumerate() {
                    prop_assert_eq!(out[0][j] as i64, reference(x, a, f));
                }
            }
        }
    }
}
