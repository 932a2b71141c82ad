//! `secureml_sigmoid` lowered: no arithmetic form; in B/Y one circuit per element computing
//! `clamp(x + 2^(f−1), 0, 2^f)` as a ReLU, a comparison and a multiplexer.

use tessera_core::Ring;
use tessera_models::fixed::FixedLayer;
use tessera_models::ops::secureml_sigmoid::SecureMlSigmoidOp;
use tessera_protocols::AShare;
use tessera_protocols::circuit::Builder;

use super::{ACost, ARun, Lower, Role, not_in_a};
use crate::circuits::{BoolLayer, elementwise, variant_for_b};
use crate::cost::{Work, free};
use crate::{Price, Result};

impl Lower for SecureMlSigmoidOp {
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

    fn circuits<R: Ring>(
        _: &(),
        fl: &FixedLayer<R>,
        frac_bits: u32,
        is_b: bool,
    ) -> Result<Vec<BoolLayer>> {
        let (ell, f, v) = (R::BITS as usize, frac_bits as usize, variant_for_b(is_b));
        let mut b = Builder::new();
        let x = b.input(ell);
        let half = b.constant_word(1u64 << (f - 1), ell);
        let one = b.constant_word(1u64 << f, ell);
        let t = b.add(&x, &half, v);
        let r = b.relu(&t);
        let above = b.lt_signed(&one, &r, v);
        let y = b.mux(above, &one, &r);
        b.output(&y);
        elementwise(b, fl)
    }
}
