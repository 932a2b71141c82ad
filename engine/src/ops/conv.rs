//! `conv` lowered: in A a plaintext-weight N-D convolution (any strides, dilations,
//! padding and groups: `BilinearOp::Conv`), in B/Y one multiplier instance per
//! product and one multi-operand sum per output value.

use tessera_core::Ring;
use tessera_models::fixed::FixedLayer;
use tessera_models::ops::conv::{Conv, ConvOp};
use tessera_protocols::AShare;
use tessera_protocols::arith::bilinear::{BilinearOp, ConvParams};

use super::dense::{plain_price, plain_run};
use super::{ACost, ARun, Lower, Role, first};
use crate::circuits::{BoolLayer, inner_products, variant_for_b};
use crate::cost::Work;
use crate::{Error, Price, Result};

impl Lower for ConvOp {
    const ROLE: Role = Role::Linear;

    fn runs_in_a(_: &Conv) -> bool {
        true
    }

    fn plain_op(c: &Conv, _: &str) -> Result<Option<(BilinearOp, Vec<usize>)>> {
        Ok(Some((
            BilinearOp::Conv(ConvParams {
                window: c.window,
                groups: c.groups,
            }),
            c.weight.shape().to_vec(),
        )))
    }

    fn a_price<R: Ring>(c: &Conv, cost: &ACost<'_, R>) -> Result<(Price, Work)> {
        let per_output = c.weight.shape()[1..].iter().product();
        plain_price::<R, Self>(c, cost, per_output)
    }

    async fn run_a<R: Ring>(c: &Conv, r: ARun<'_, R>, xs: Vec<AShare<R>>) -> Result<AShare<R>> {
        let x = first(&xs)?.reshape(&r.in_shape())?;
        plain_run::<R, Self>(c, r, x).await
    }

    fn circuits<R: Ring>(
        c: &Conv,
        fl: &FixedLayer<R>,
        _: u32,
        is_b: bool,
    ) -> Result<Vec<BoolLayer>> {
        let ell = R::BITS as usize;
        let l = fl.layer();
        let geo = c.geometry(l.input_shape()).ok_or_else(|| {
            Error::Plan(format!(
                "layer {}: the convolution does not fit its input",
                l.name()
            ))
        })?;
        let (o, pixels, per) = (geo.out_channels, geo.out_positions, geo.per_output());
        let x_idx = geo.input_indices();
        let mut w_idx = Vec::with_capacity(o * pixels * per);
        for oc in 0..o {
            for _ in 0..pixels {
                w_idx.extend((0..per).map(|s| Some(oc * per + s)));
            }
        }
        let bias = fl.bias().map(|_| {
            (
                o,
                (0..o)
                    .flat_map(|oc| std::iter::repeat_n(Some(oc), pixels))
                    .collect(),
            )
        });
        inner_products(
            ell,
            variant_for_b(is_b),
            per,
            o * pixels,
            x_idx,
            (o * per, w_idx),
            bias,
        )
    }
}
