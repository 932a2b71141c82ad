//! `add_const` and `mul_const` lowered. The constants are party 0's weights.
//!
//! - `add_const` (`±x + c`): local in A — party 0 adds `enc_f(c)` to its share (party 1
//!   negates its share or does nothing); in B/Y one adder (or subtractor) per element
//!   reading the element and party 0's constant, entered once per run.
//! - `mul_const` (`s ⊙ x + b`): in A a plaintext-weight product
//!   ([`BilinearOp::Broadcast`]: party 1 sends its masked input once, `|x|` elements; the
//!   masked scale is set up once per session), party 0 adding `enc_2f(b)`, then the
//!   usual truncation; in B/Y one multiplier (and adder) per element reading party 0's
//!   scale (and bias). The planner prices both, as for a dense layer.

use tessera_core::Ring;
use tessera_models::fixed::FixedLayer;
use tessera_models::model::Tensor;
use tessera_models::ops::affine::{AddConst, AddConstOp, MulConst, MulConstOp};
use tessera_models::ops::prelu::slope_indices;
use tessera_protocols::AShare;
use tessera_protocols::arith::bilinear::BilinearOp;
use tessera_protocols::circuit::Builder;

use super::dense::plain_price;
use super::{ACost, ARun, Lower, Role, first};
use crate::circuits::{BoolLayer, Gather, Param, ParamInput, variant_for_b};
use crate::cost::{Work, free};
use crate::{Error, Price, Result};

/// For each element of an example of layer `fl`'s input, the index of its value in
/// the constant `t`.
fn indices<R: Ring>(t: &Tensor, fl: &FixedLayer<R>) -> Result<Vec<usize>> {
    let l = fl.layer();
    slope_indices(t.shape(), l.input_shape()).ok_or_else(|| {
        Error::Plan(format!(
            "layer {}: a constant of shape {:?} does not broadcast to {:?}",
            l.name(),
            t.shape(),
            l.input_shape()
        ))
    })
}

/// Party 0's constant `enc` (in the layout of `t`) broadcast over the batched input.
fn broadcast<R: Ring>(r: &ARun<'_, R>, t: &Tensor, enc: &[R]) -> Result<ndarray::ArrayD<R>> {
    let idx = indices(t, r.fl)?;
    let full: Vec<R> = (0..r.batch)
        .flat_map(|_| idx.iter().map(|&i| enc[i]))
        .collect();
    crate::exec::array(&r.in_shape(), full)
}

/// Party 0's parameter `param` read per element through `idx`.
fn param_input(param: Param, values: usize, idx: Vec<usize>) -> ParamInput {
    ParamInput {
        param,
        values,
        slots: 1,
        idx: idx.into_iter().map(Some).collect(),
    }
}

fn missing<R: Ring>(fl: &FixedLayer<R>, what: &str) -> Error {
    Error::Plan(format!("layer {}: no encoded {what}", fl.layer().name()))
}

impl Lower for AddConstOp {
    const ROLE: Role = Role::Linear;

    fn runs_in_a(_: &AddConst) -> bool {
        true
    }

    /// Local: one ring operation per element.
    fn a_price<R: Ring>(_: &AddConst, c: &ACost<'_, R>) -> Result<(Price, Work)> {
        let work = Work {
            ring_ops: (c.n_in() * 2) as u64,
            ..Work::default()
        };
        Ok((free(), work))
    }

    async fn run_a<R: Ring>(a: &AddConst, r: ARun<'_, R>, xs: Vec<AShare<R>>) -> Result<AShare<R>> {
        let x = first(&xs)?.reshape(&r.in_shape())?;
        let x = if a.negate { x.neg() } else { x };
        if r.p.party() != 0 {
            return Ok(x);
        }
        let c = r.fl.weight().ok_or_else(|| missing(r.fl, "constant"))?;
        let full = broadcast(&r, &a.value, c)?;
        Ok(x.add_public(0, &full)?)
    }

    fn circuits<R: Ring>(
        a: &AddConst,
        fl: &FixedLayer<R>,
        _: u32,
        is_b: bool,
    ) -> Result<Vec<BoolLayer>> {
        let ell = R::BITS as usize;
        let mut b = Builder::new();
        let (x, c) = (b.input(ell), b.input(ell));
        let y = if a.negate {
            b.sub(&c, &x, variant_for_b(is_b))
        } else {
            b.add(&x, &c, variant_for_b(is_b))
        };
        b.output(&y);
        let idx = indices(&a.value, fl)?;
        Ok(vec![BoolLayer::new(
            b,
            idx.len(),
            Gather {
                slots: 1,
                idx: None,
            },
            vec![param_input(Param::Weights, a.value.len(), idx)],
        )?])
    }
}

impl Lower for MulConstOp {
    const ROLE: Role = Role::Linear;

    fn runs_in_a(_: &MulConst) -> bool {
        true
    }

    /// `x ⊙ s` with `s` broadcast over the batched input.
    fn plain_op(m: &MulConst, _: &str) -> Result<Option<(BilinearOp, Vec<usize>)>> {
        Ok(Some((BilinearOp::Broadcast, m.scale.shape().to_vec())))
    }

    fn a_price<R: Ring>(m: &MulConst, c: &ACost<'_, R>) -> Result<(Price, Work)> {
        plain_price::<R, Self>(m, c, 1)
    }

    async fn run_a<R: Ring>(m: &MulConst, r: ARun<'_, R>, xs: Vec<AShare<R>>) -> Result<AShare<R>> {
        let name = r.fl.layer().name();
        let x = first(&xs)?.reshape(&r.in_shape())?;
        let pw = r
            .plain
            .ok_or_else(|| Error::Plan(format!("layer {name}: weights not set up")))?;
        let y = r.p.plain_layer(BilinearOp::Broadcast, pw, &x).await?;
        match (&m.bias, r.p.party()) {
            (Some(bt), 0) => {
                let b = r.fl.bias().ok_or_else(|| missing(r.fl, "bias"))?;
                let full = broadcast(&r, bt, b)?;
                Ok(y.add_public(0, &full)?)
            }
            _ => Ok(y),
        }
    }

    fn circuits<R: Ring>(
        m: &MulConst,
        fl: &FixedLayer<R>,
        _: u32,
        is_b: bool,
    ) -> Result<Vec<BoolLayer>> {
        let ell = R::BITS as usize;
        let v = variant_for_b(is_b);
        let mut b = Builder::new();
        let (x, s) = (b.input(ell), b.input(ell));
        let mut y = b.mul(&x, &s, v);
        let idx = indices(&m.scale, fl)?;
        let n = idx.len();
        let mut params = vec![param_input(Param::Weights, m.scale.len(), idx)];
        if let Some(bt) = &m.bias {
            let c = b.input(ell);
            y = b.add(&y, &c, v);
            params.push(param_input(Param::Bias, bt.len(), indices(bt, fl)?));
        }
        b.output(&y);
        Ok(vec![BoolLayer::new(
            b,
            n,
            Gather {
                slots: 1,
                idx: None,
            },
            params,
        )?])
    }
}
