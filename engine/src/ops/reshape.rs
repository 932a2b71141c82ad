//! `reshape` lowered: local in every sharing (the same elements in order); no
//! circuit.

use tessera_core::Ring;
use tessera_models::fixed::FixedLayer;
use tessera_models::ops::reshape::ReshapeOp;
use tessera_protocols::AShare;

use super::{ACost, ARun, Lower, Role, first};
use crate::circuits::BoolLayer;
use crate::cost::{Work, free};
use crate::{Price, Result};

impl Lower for ReshapeOp {
    const ROLE: Role = Role::Follow;

    fn runs_in_a(_: &Vec<usize>) -> bool {
        true
    }

    fn a_price<R: Ring>(_: &Vec<usize>, _: &ACost<'_, R>) -> Result<(Price, Work)> {
        Ok((free(), Work::default()))
    }

    async fn run_a<R: Ring>(
        _: &Vec<usize>,
        r: ARun<'_, R>,
        xs: Vec<AShare<R>>,
    ) -> Result<AShare<R>> {
        Ok(first(&xs)?.reshape(&r.out_shape())?)
    }

    fn circuits<R: Ring>(
        _: &Vec<usize>,
        _: &FixedLayer<R>,
        _: u32,
        _: bool,
    ) -> Result<Vec<BoolLayer>> {
        Ok(Vec::new())
    }
}
