//! `maxpool` lowered: no arithmetic form; in B/Y one max-pool circuit per output
//! element over its window's slots.

use tessera_core::Ring;
use tessera_models::fixed::FixedLayer;
use tessera_models::ops::maxpool::MaxPoolOp;
use tessera_models::ops::pool::Pool;
use tessera_protocols::AShare;
use tessera_protocols::circuit::Builder;

use super::{ACost, ARun, Lower, Role, not_in_a};
use crate::circuits::{BoolLayer, Gather, variant_for_b, words};
use crate::cost::{Work, free};
use crate::{Error, Price, Result};

impl Lower for MaxPoolOp {
    const ROLE: Role = Role::Nonlinear;

    fn runs_in_a(_: &Pool) -> bool {
        false
    }

    /// Never lowered to A ([`Lower::runs_in_a`]); priced as nothing.
    fn a_price<R: Ring>(_: &Pool, _: &ACost<'_, R>) -> Result<(Price, Work)> {
        Ok((free(), Work::default()))
    }

    async fn run_a<R: Ring>(_: &Pool, r: ARun<'_, R>, _: Vec<AShare<R>>) -> Result<AShare<R>> {
        Err(not_in_a(r.fl))
    }

    fn circuits<R: Ring>(
        p: &Pool,
        fl: &FixedLayer<R>,
        _: u32,
        is_b: bool,
    ) -> Result<Vec<BoolLayer>> {
        let ell = R::BITS as usize;
        let layer = fl.layer();
        let (input, output) = (layer.input_shape(), layer.output_shape());
        let k = p.taps();
        let mut idx = p.indices(input, output);
        // Max is idempotent: an out-of-bounds slot repeats an in-bounds element
        // of its window (the reference ignores padding).
        for (j, w) in idx.chunks_mut(k).enumerate() {
            let first = w.iter().flatten().next().copied().ok_or_else(|| {
                Error::shape(
                    format!("layer {}", layer.name()),
                    format!("max-pooling window {j} lies entirely in the padding"),
                )
            })?;
            for s in w.iter_mut() {
                s.get_or_insert(first);
            }
        }
        let mut b = Builder::new();
        let x = b.input(k * ell);
        let y = b.max_pool(&words(&x, ell), variant_for_b(is_b));
        b.output(&y);
        Ok(vec![BoolLayer::new(
            b,
            output.iter().product(),
            Gather {
                slots: k,
                idx: Some(idx),
            },
            Vec::new(),
        )?])
    }
}
