//! `concat` lowered: local in A (the shares concatenated); in B/Y one XOR circuit per
//! output element whose slots read its element of one input and 0 of the others
//! (free in GMW and Yao).

use tessera_core::Ring;
use tessera_models::fixed::FixedLayer;
use tessera_models::ops::concat::ConcatOp;
use tessera_protocols::AShare;
use tessera_protocols::circuit::{Builder, Wire};

use super::{ACost, ARun, Lower, Role};
use crate::circuits::{BoolLayer, Gather};
use crate::cost::{Work, free};
use crate::{Error, Price, Result};

impl Lower for ConcatOp {
    const ROLE: Role = Role::Linear;

    fn runs_in_a(_: &usize) -> bool {
        true
    }

    fn a_price<R: Ring>(_: &usize, c: &ACost<'_, R>) -> Result<(Price, Work)> {
        let work = Work {
            ring_ops: (c.n_in() + c.batch * c.per_out()) as u64,
            ..Work::default()
        };
        Ok((free(), work))
    }

    async fn run_a<R: Ring>(
        &axis: &usize,
        r: ARun<'_, R>,
        xs: Vec<AShare<R>>,
    ) -> Result<AShare<R>> {
        super::first(&xs)?;
        let views: Vec<ndarray::ArrayViewD<'_, R>> =
            xs.iter().map(AShare::array).map(|a| a.view()).collect();
        let joined = ndarray::concatenate(ndarray::Axis(axis + 1), &views)
            .map_err(|e| Error::shape(format!("layer {}", r.fl.layer().name()), e.to_string()))?;
        Ok(AShare::from_array(joined))
    }

    fn circuits<R: Ring>(
        &axis: &usize,
        fl: &FixedLayer<R>,
        _: u32,
        _: bool,
    ) -> Result<Vec<BoolLayer>> {
        let ell = R::BITS as usize;
        let layer = fl.layer();
        let out_len: usize = layer.output_shape().iter().product();
        let shapes = layer.input_shapes();
        let blocks: Vec<usize> = shapes.iter().map(|s| s[axis..].iter().product()).collect();
        let outer: usize = shapes[0][..axis].iter().product();
        let total: usize = blocks.iter().sum();
        let mut idx: Vec<Vec<Option<usize>>> = vec![vec![None; out_len]; shapes.len()];
        for o in 0..outer {
            let mut at = o * total;
            for (k, &bk) in blocks.iter().enumerate() {
                for e in 0..bk {
                    idx[k][at + e] = Some(o * bk + e);
                }
                at += bk;
            }
        }
        let mut b = Builder::new();
        let ins: Vec<Vec<Wire>> = shapes.iter().map(|_| b.input(ell)).collect();
        let mut z = ins[0].clone();
        for w in &ins[1..] {
            z = z.iter().zip(w).map(|(&p, &q)| b.xor(p, q)).collect();
        }
        b.output(&z);
        let xs = idx
            .into_iter()
            .map(|i| Gather {
                slots: 1,
                idx: Some(i),
            })
            .collect();
        Ok(vec![BoolLayer::joining(b, out_len, xs, Vec::new())?])
    }
}
