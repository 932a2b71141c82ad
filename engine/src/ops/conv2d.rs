//! `conv2d` lowered: in A a plaintext-weight convolution (equal strides and pads
//! only, the form of `Conv2dParams`), in B/Y one multiplier instance per product and
//! one multi-operand sum per output pixel.

use tessera_core::Ring;
use tessera_models::fixed::FixedLayer;
use tessera_models::float::conv_window;
use tessera_models::ops::conv2d::{Conv2d, Conv2dOp};
use tessera_protocols::AShare;
use tessera_protocols::arith::bilinear::{BilinearOp, Conv2dParams};

use super::dense::{plain_price, plain_run};
use super::{ACost, ARun, Lower, Role, first};
use crate::circuits::{BoolLayer, inner_products, variant_for_b};
use crate::cost::Work;
use crate::{Error, Price, Result};

impl Lower for Conv2dOp {
    const ROLE: Role = Role::Linear;

    fn runs_in_a(c: &Conv2d) -> bool {
        c.symmetric().is_some()
    }

    fn plain_op(c: &Conv2d, name: &str) -> Result<Option<(BilinearOp, Vec<usize>)>> {
        let (stride, padding) = c.symmetric().ok_or_else(|| {
            Error::Plan(format!(
                "layer {name}: the A sharing's convolution needs equal strides and pads"
            ))
        })?;
        Ok(Some((
            BilinearOp::Conv2d(Conv2dParams { stride, padding }),
            c.weight.shape().to_vec(),
        )))
    }

    fn a_price<R: Ring>(c: &Conv2d, cost: &ACost<'_, R>) -> Result<(Price, Work)> {
        let per_output = c.weight.shape()[1..].iter().product();
        plain_price::<R, Self>(c, cost, per_output)
    }

    async fn run_a<R: Ring>(c: &Conv2d, r: ARun<'_, R>, xs: Vec<AShare<R>>) -> Result<AShare<R>> {
        let x = first(&xs)?.reshape(&r.in_shape())?;
        plain_run::<R, Self>(c, r, x).await
    }

    fn circuits<R: Ring>(
        c: &Conv2d,
        fl: &FixedLayer<R>,
        _: u32,
        is_b: bool,
    ) -> Result<Vec<BoolLayer>> {
        let ell = R::BITS as usize;
        let l = fl.layer();
        let (win, o) = conv_window(c, l.input_shape(), l.output_shape());
        let ckk = win.c * win.kh * win.kw;
        let pixels = win.oh * win.ow;
        let per_pixel = win.conv_indices();
        let mut x_idx = Vec::with_capacity(o * pixels * ckk);
        let mut w_idx = Vec::with_capacity(o * pixels * ckk);
        for oc in 0..o {
            x_idx.extend_from_slice(&per_pixel);
            for _ in 0..pixels {
                w_idx.extend((0..ckk).map(|s| Some(oc * ckk + s)));
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
            ckk,
            o * pixels,
            x_idx,
            (o * ckk, w_idx),
            bias,
        )
    }
}
