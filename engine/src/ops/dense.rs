//! `dense` lowered: in A a plaintext-weight matrix product (party 1 sends one
//! activation-sized message; the masked weight is set up once), in B/Y one
//! multiplier instance per product and one multi-operand sum per output.

use tessera_core::Ring;
use tessera_models::fixed::FixedLayer;
use tessera_models::ops::dense::{Dense, DenseOp};
use tessera_protocols::AShare;
use tessera_protocols::arith::bilinear::BilinearOp;

use super::{ACost, ARun, Lower, Role, first};
use crate::circuits::{BoolLayer, inner_products, variant_for_b};
use crate::cost::{Work, one_way, ring_bytes};
use crate::{Error, Price, Result};

impl Lower for DenseOp {
    const ROLE: Role = Role::Linear;

    fn runs_in_a(_: &Dense) -> bool {
        true
    }

    /// `x · Wᵀ`: the weight as `[in, out]`.
    fn plain_op(d: &Dense, _: &str) -> Result<Option<(BilinearOp, Vec<usize>)>> {
        let s = d.weight.shape();
        Ok(Some((BilinearOp::MatMul, vec![s[1], s[0]])))
    }

    /// The transpose of `[out, in]`.
    fn plain_layout<R: Ring>(d: &Dense, w: &[R]) -> Vec<R> {
        let (o, k) = (d.weight.shape()[0], d.weight.shape()[1]);
        (0..k)
            .flat_map(|c| (0..o).map(move |r| w[r * k + c]))
            .collect()
    }

    fn a_price<R: Ring>(d: &Dense, c: &ACost<'_, R>) -> Result<(Price, Work)> {
        plain_price::<R, Self>(d, c, c.per_in())
    }

    async fn run_a<R: Ring>(d: &Dense, r: ARun<'_, R>, xs: Vec<AShare<R>>) -> Result<AShare<R>> {
        let x = first(&xs)?.reshape(&[r.batch, d.weight.shape()[1]])?;
        plain_run::<R, Self>(d, r, x).await
    }

    fn circuits<R: Ring>(
        d: &Dense,
        fl: &FixedLayer<R>,
        _: u32,
        is_b: bool,
    ) -> Result<Vec<BoolLayer>> {
        let ell = R::BITS as usize;
        let (out, inn) = (d.weight.shape()[0], d.weight.shape()[1]);
        let x_idx: Vec<Option<usize>> = (0..out).flat_map(|_| (0..inn).map(Some)).collect();
        let w_idx: Vec<Option<usize>> = (0..out * inn).map(Some).collect();
        let bias = fl.bias().map(|_| (out, (0..out).map(Some).collect()));
        inner_products(
            ell,
            variant_for_b(is_b),
            inn,
            out,
            x_idx,
            (out * inn, w_idx),
            bias,
        )
    }
}

/// The A price of a plaintext-weight layer (dense, conv) whose output values each
/// take `per_output` multiply-adds: party 1 sends its masked input once.
pub(super) fn plain_price<R: Ring, D: Lower>(
    a: &D::Attrs,
    c: &ACost<'_, R>,
    per_output: usize,
) -> Result<(Price, Work)> {
    let name = c.fl.layer().name();
    let (op, wshape) =
        D::plain_op(a, name)?.ok_or_else(|| Error::Plan(format!("layer {name}: no weights")))?;
    let mut price = one_way(1, ring_bytes::<R>(c.n_in()));
    price
        .demand
        .plain_weight(op, c.mask, &c.in_shape(), &wshape);
    let work = Work {
        macs: (c.batch * c.per_out() * per_output) as u64,
        ring_ops: (c.n_in() + c.batch * c.per_out()) as u64,
        ..Work::default()
    };
    Ok((price, work))
}

/// The A step of a plaintext-weight layer on its reshaped input `x`: the product
/// with the set-up weight, plus (party 0) the bias at scale `2^2f` broadcast over
/// the batch and, for a convolution, over each output channel's pixels.
pub(super) async fn plain_run<R: Ring, D: Lower>(
    a: &D::Attrs,
    r: ARun<'_, R>,
    x: AShare<R>,
) -> Result<AShare<R>> {
    let l = r.fl.layer();
    let (op, _) = D::plain_op(a, l.name())?
        .ok_or_else(|| Error::Plan(format!("layer {}: no weights", l.name())))?;
    let pw = r
        .plain
        .ok_or_else(|| Error::Plan(format!("layer {}: weights not set up", l.name())))?;
    let out_shape = r.out_shape();
    let y = r.p.plain_layer(op, pw, &x).await?.reshape(&out_shape)?;
    Ok(match (r.p.party(), r.fl.bias()) {
        (0, Some(b)) => {
            let per = out_shape[1..].iter().product::<usize>() / b.len().max(1);
            let full: Vec<R> = (0..r.batch)
                .flat_map(|_| b.iter().flat_map(move |&v| std::iter::repeat_n(v, per)))
                .collect();
            y.add_public(0, &crate::exec::array(&out_shape, full)?)?
        }
        _ => y,
    })
}
