//! `square` lowered: in A a Beaver square (one exchange), in B/Y one multiplier
//! circuit per element. The result is a pending accumulator (scale `2^2f`).

use tessera_core::Ring;
use tessera_models::fixed::FixedLayer;
use tessera_models::ops::square::SquareOp;
use tessera_protocols::AShare;
use tessera_protocols::circuit::Builder;

use super::{ACost, ARun, Lower, Role, first};
use crate::circuits::{BoolLayer, elementwise, variant_for_b};
use crate::cost::{Work, free, ring_bytes};
use crate::{Flight, Price, Result};

impl Lower for SquareOp {
    const ROLE: Role = Role::Linear;

    fn runs_in_a(_: &()) -> bool {
        true
    }

    fn a_price<R: Ring>(_: &(), c: &ACost<'_, R>) -> Result<(Price, Work)> {
        let n_in = c.n_in();
        let mut price = free();
        price.bytes_sent = [ring_bytes::<R>(n_in), ring_bytes::<R>(n_in)];
        price.flights.push(Flight::Both);
        price.demand.square(&c.in_shape());
        let work = Work {
            ring_ops: 4 * n_in as u64,
            ..Work::default()
        };
        Ok((price, work))
    }

    async fn run_a<R: Ring>(_: &(), r: ARun<'_, R>, xs: Vec<AShare<R>>) -> Result<AShare<R>> {
        Ok(r.p.square(&first(&xs)?).await?)
    }

    fn circuits<R: Ring>(_: &(), fl: &FixedLayer<R>, _: u32, is_b: bool) -> Result<Vec<BoolLayer>> {
        let mut b = Builder::new();
        let x = b.input(R::BITS as usize);
        let y = b.mul(&x, &x, variant_for_b(is_b));
        b.output(&y);
        elementwise(b, fl)
    }
}
