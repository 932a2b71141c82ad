//! `avgpool` lowered: in A a local window sum (any geometry) times the public `q`;
//! in B/Y one sum and constant-multiplication circuit
//! per output element. The result is a pending accumulator (scale `2^2f`).

use tessera_core::Ring;
use tessera_models::fixed::FixedLayer;
use tessera_models::ops::avgpool::AvgPoolOp;
use tessera_models::ops::pool::Pool;
use tessera_protocols::AShare;
use tessera_protocols::circuit::Builder;

use super::{ACost, ARun, Lower, Role, first};
use crate::circuits::{BoolLayer, Gather, variant_for_b, words};
use crate::cost::{Work, free};
use crate::{Price, Result};

impl Lower for AvgPoolOp {
    const ROLE: Role = Role::Linear;

    fn runs_in_a(_: &Pool) -> bool {
        true
    }

    fn a_price<R: Ring>(_: &Pool, c: &ACost<'_, R>) -> Result<(Price, Work)> {
        let work = Work {
            ring_ops: (c.n_in() + c.batch * c.per_out()) as u64,
            ..Work::default()
        };
        Ok((free(), work))
    }

    async fn run_a<R: Ring>(p: &Pool, r: ARun<'_, R>, xs: Vec<AShare<R>>) -> Result<AShare<R>> {
        let q = r.fl.avg_scale().unwrap_or_else(R::zero);
        let l = r.fl.layer();
        let idx = p.indices(l.input_shape(), l.output_shape());
        let per_in = l.input_shape().iter().product();
        Ok(first(&xs)?
            .gather_sum(per_in, &idx, p.taps())?
            .reshape(&r.out_shape())?
            .mul_scalar(q))
    }

    fn circuits<R: Ring>(
        p: &Pool,
        fl: &FixedLayer<R>,
        _: u32,
        is_b: bool,
    ) -> Result<Vec<BoolLayer>> {
        let (ell, v) = (R::BITS as usize, variant_for_b(is_b));
        let layer = fl.layer();
        let (input, output) = (layer.input_shape(), layer.output_shape());
        let k = p.taps();
        let q = fl.avg_scale().map_or(0, |q| q.to_u64());
        let mut b = Builder::new();
        let x = b.input(k * ell);
        let s = b.sum(&words(&x, ell), v);
        let qw = b.constant_word(q, ell);
        let y = b.mul(&s, &qw, v);
        b.output(&y);
        Ok(vec![BoolLayer::new(
            b,
            output.iter().product(),
            Gather {
                slots: k,
                idx: Some(p.indices(input, output)),
            },
            Vec::new(),
        )?])
    }
}
