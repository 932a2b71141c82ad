//! `max` and `min` of two activations lowered: no arithmetic form (`max(x, y) =
//! x + relu(y − x)` needs a comparison); in B/Y one circuit per element reading both
//! operands: a signed comparison and a multiplexer ([`Builder::max_signed`]).

use tessera_core::Ring;
use tessera_models::fixed::FixedLayer;
use tessera_models::ops::minmax::{MaxOp, MinOp};
use tessera_protocols::AShare;
use tessera_protocols::circuit::Builder;

use super::elementwise::binary;
use super::sign::not_in_a_lowering;
use super::{ACost, ARun, Lower, Role, not_in_a};
use crate::circuits::BoolLayer;
use crate::cost::{Work, free};
use crate::{Price, Result};

impl Lower for MaxOp {
    not_in_a_lowering!();

    fn circuits<R: Ring>(_: &(), fl: &FixedLayer<R>, _: u32, is_b: bool) -> Result<Vec<BoolLayer>> {
        binary(fl, is_b, |b: &mut Builder, x, y, v| b.max_signed(x, y, v))
    }
}

impl Lower for MinOp {
    not_in_a_lowering!();

    fn circuits<R: Ring>(_: &(), fl: &FixedLayer<R>, _: u32, is_b: bool) -> Result<Vec<BoolLayer>> {
        binary(fl, is_b, |b: &mut Builder, x, y, v| {
            let lt = b.lt_signed(x, y, v);
            b.mux(lt, x, y)
        })
    }
}
