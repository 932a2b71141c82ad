//! `matmul` of two activations lowered: in A one Beaver exchange with a batched matrix
//! triple from the dealer ([`BilinearOp::BatchMatMul`]: both parties open `X − A` and
//! `Y − B`, `|X| + |Y|` ring elements each way, one round for the batch); in B/Y one
//! circuit instance per output element — `k` multipliers and their sum over a row of
//! `x` and a column of `y`. The result is a pending accumulator (scale `2^2f`).

use tessera_core::Ring;
use tessera_models::fixed::FixedLayer;
use tessera_models::ops::matmul::{Dims, MatMulOp, dims};
use tessera_protocols::AShare;
use tessera_protocols::arith::bilinear::BilinearOp;
use tessera_protocols::circuit::Builder;

use super::{ACost, ARun, Lower, Role};
use crate::circuits::{BoolLayer, Gather, variant_for_b, words};
use crate::cost::{Work, free, ring_bytes};
use crate::{Error, Flight, Price, Result};

/// `(g, m, k, n)` of layer `fl`'s operands.
fn shape_of<R: Ring>(fl: &FixedLayer<R>) -> Result<Dims> {
    let l = fl.layer();
    match l.input_shapes() {
        [a, b] => dims(a, b).map_err(|e| Error::Plan(format!("layer {}: {e}", l.name()))),
        _ => Err(Error::Plan(format!("layer {}: two inputs", l.name()))),
    }
}

impl Lower for MatMulOp {
    const ROLE: Role = Role::Linear;

    fn runs_in_a(_: &()) -> bool {
        true
    }

    fn a_price<R: Ring>(_: &(), c: &ACost<'_, R>) -> Result<(Price, Work)> {
        let (g, m, k, n) = shape_of(c.fl)?;
        let b = c.batch * g;
        let sent = ring_bytes::<R>(b * (m * k + k * n));
        let mut price = free();
        price.bytes_sent = [sent, sent];
        price.flights.push(Flight::Both);
        price
            .demand
            .beaver(BilinearOp::BatchMatMul, &[b, m, k], &[b, k, n]);
        let work = Work {
            macs: (b * m * k * n * 2) as u64,
            ring_ops: (4 * b * (m * k + k * n + m * n)) as u64,
            ..Work::default()
        };
        Ok((price, work))
    }

    async fn run_a<R: Ring>(_: &(), r: ARun<'_, R>, xs: Vec<AShare<R>>) -> Result<AShare<R>> {
        let (g, m, k, n) = shape_of(r.fl)?;
        let b = r.batch * g;
        let [x, y] = xs.as_slice() else {
            return Err(Error::Plan(format!(
                "layer {}: two inputs",
                r.fl.layer().name()
            )));
        };
        let (x, y) = (x.reshape(&[b, m, k])?, y.reshape(&[b, k, n])?);
        let z = r.p.bilinear(BilinearOp::BatchMatMul, &x, &y).await?;
        Ok(z.reshape(&r.out_shape())?)
    }

    fn circuits<R: Ring>(_: &(), fl: &FixedLayer<R>, _: u32, is_b: bool) -> Result<Vec<BoolLayer>> {
        let (g, m, k, n) = shape_of(fl)?;
        let ell = R::BITS as usize;
        let v = variant_for_b(is_b);
        let mut b = Builder::new();
        let (xw, yw) = (b.input(k * ell), b.input(k * ell));
        let products: Vec<_> = words(&xw, ell)
            .iter()
            .zip(&words(&yw, ell))
            .map(|(x, y)| b.mul(x, y, v))
            .collect();
        let s = b.sum(&products, v);
        b.output(&s);
        // Output (e, i, j) reads row i of x[e] and column j of y[e].
        let mut xi = Vec::with_capacity(g * m * n * k);
        let mut yi = Vec::with_capacity(g * m * n * k);
        for e in 0..g {
            for i in 0..m {
                for j in 0..n {
                    xi.extend((0..k).map(|t| Some(e * m * k + i * k + t)));
                    yi.extend((0..k).map(|t| Some(e * k * n + t * n + j)));
                }
            }
        }
        Ok(vec![BoolLayer::joining(
            b,
            g * m * n,
            vec![
                Gather {
                    slots: k,
                    idx: Some(xi),
                },
                Gather {
                    slots: k,
                    idx: Some(yi),
                },
            ],
            Vec::new(),
        )?])
    }
}
