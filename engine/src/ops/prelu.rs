//! `leaky_relu` and `prelu` lowered: no arithmetic form (a comparison); in B/Y one
//! circuit per element, `sign ? (a·x mod 2^ℓ) >> f : x` — the shift is a bit
//! selection (free), the choice one multiplexer (`ℓ` ANDs). LeakyRelu's `a` is a public
//! constant ([`Builder::mul_const`]: one row per non-zero digit of its non-adjacent
//! form, nothing for a power of two); PRelu's slope is party 0's weight, entered like
//! a dense layer's weights and gathered per element (its channel), and multiplied by a
//! full `ℓ`-bit multiplier ([`Builder::mul`]) as every secret product in B/Y.

use tessera_core::Ring;
use tessera_models::fixed::FixedLayer;
use tessera_models::ops::prelu::{
    LeakyRelu, LeakyReluOp, PRelu, PReluOp, encode_alpha, slope_indices,
};
use tessera_protocols::AShare;
use tessera_protocols::circuit::{Builder, Wire};

use super::{ACost, ARun, Lower, Role, not_in_a};
use crate::circuits::{
    BoolLayer, Gather, Param, ParamInput, elementwise, shift_bits, variant_for_b,
};
use crate::cost::{Work, free};
use crate::{Error, Price, Result};

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
        let prod = b.mul(&x, &w, variant_for_b(is_b));
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
