//! `exp` lowered: no arithmetic form; in B/Y one [`spline_circuit`] per element of the
//! format's saturated `eˣ` spline (`tessera_models::ops::exp`), bit for bit.

use tessera_core::Ring;
use tessera_models::fixed::FixedLayer;
use tessera_models::ops::exp::{ExpOp, ExpSat};
use tessera_protocols::AShare;
use tessera_protocols::circuit::Builder;

use super::sign::not_in_a_lowering;
use super::spline::spline_circuit;
use super::{ACost, ARun, Lower, Role, not_in_a};
use crate::circuits::{BoolLayer, elementwise, variant_for_b};
use crate::cost::{Work, free};
use crate::{Price, Result};

impl Lower for ExpOp {
    not_in_a_lowering!();

    fn circuits<R: Ring>(
        _: &(),
        fl: &FixedLayer<R>,
        frac_bits: u32,
        is_b: bool,
    ) -> Result<Vec<BoolLayer>> {
        let sp = ExpSat::spline(frac_bits, R::BITS)?;
        let mut b = Builder::new();
        let x = b.input(R::BITS as usize);
        let y = spline_circuit(&mut b, &sp, &x, variant_for_b(is_b));
        b.output(&y);
        elementwise(b, fl)
    }
}
