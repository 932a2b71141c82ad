//! `remap` lowered: local in every sharing — in A the shares re-indexed (zeros are
//! shares of zero), in B/Y a circuit without gates whose one slot per output value
//! gathers its input value (zero for `None`).

use tessera_core::Ring;
use tessera_models::fixed::FixedLayer;
use tessera_models::ops::remap::{Remap, RemapOp};
use tessera_protocols::AShare;
use tessera_protocols::circuit::Builder;

use super::{ACost, ARun, Lower, Role, first};
use crate::circuits::{BoolLayer, Gather};
use crate::cost::{Work, free};
use crate::{Price, Result};

impl Lower for RemapOp {
    const ROLE: Role = Role::Follow;

    fn runs_in_a(_: &Remap) -> bool {
        true
    }

    fn a_price<R: Ring>(_: &Remap, c: &ACost<'_, R>) -> Result<(Price, Work)> {
        let work = Work {
            ring_ops: (c.batch * c.per_out()) as u64,
            ..Work::default()
        };
        Ok((free(), work))
    }

    async fn run_a<R: Ring>(m: &Remap, r: ARun<'_, R>, xs: Vec<AShare<R>>) -> Result<AShare<R>> {
        let per_in = r.fl.layer().input_shape().iter().product();
        Ok(first(&xs)?
            .gather_sum(per_in, &m.idx, 1)?
            .reshape(&r.out_shape())?)
    }

    fn circuits<R: Ring>(m: &Remap, _: &FixedLayer<R>, _: u32, _: bool) -> Result<Vec<BoolLayer>> {
        let mut b = Builder::new();
        let x = b.input(R::BITS as usize);
        b.output(&x);
        Ok(vec![BoolLayer::new(
            b,
            m.idx.len(),
            Gather {
                slots: 1,
                idx: Some(m.idx.clone()),
            },
            Vec::new(),
        )?])
    }
}
