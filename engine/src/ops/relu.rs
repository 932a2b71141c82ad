//! `relu` lowered: no arithmetic form; in B/Y one ReLU circuit per element.

use tessera_core::Ring;
use tessera_models::fixed::FixedLayer;
use tessera_models::ops::relu::ReluOp;
use tessera_protocols::AShare;
use tessera_protocols::circuit::Builder;

use super::{ACost, ARun, Lower, Role, not_in_a};
use crate::circuits::{BoolLayer, elementwise};
use crate::cost::{Work, free};
use crate::{Price, Result};

impl Lower for ReluOp {
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

    fn circuits<R: Ring>(_: &(), fl: &FixedLayer<R>, _: u32, _: bool) -> Result<Vec<BoolLayer>> {
        let mut b = Builder::new();
        let x = b.input(R::BITS as usize);
        let y = b.relu(&x);
        b.output(&y);
        elementwise(b, fl)
    }
}
