//! `add` and `sub` lowered: local in A; in B/Y one adder (subtractor) circuit per
//! element reading both operands. `mul` lowered: in A a Beaver product (one
//! exchange of both masked operands), in B/Y one multiplier circuit per element; the
//! result is a pending accumulator (scale `2^2f`). `neg` lowered: local in A, a
//! subtraction from zero in B/Y.

use tessera_core::Ring;
use tessera_models::fixed::FixedLayer;
use tessera_models::ops::elementwise::{AddOp, MulOp, NegOp, SubOp};
use tessera_protocols::AShare;
use tessera_protocols::circuit::{Builder, Variant, Wire};

use super::{ACost, ARun, Lower, Role, first};
use crate::circuits::{BoolLayer, Gather, variant_for_b};
use crate::cost::{Work, free, ring_bytes};
use crate::{Error, Flight, Price, Result};

/// Local in A: element-wise work over both operands.
fn join_price<R: Ring>(c: &ACost<'_, R>) -> Result<(Price, Work)> {
    let work = Work {
        ring_ops: (c.n_in() + c.batch * c.per_out()) as u64,
        ..Work::default()
    };
    Ok((free(), work))
}

/// The two operands of an A step, the second in the first's shape.
fn operands<R: Ring>(r: &ARun<'_, R>, mut xs: Vec<AShare<R>>) -> Result<(AShare<R>, AShare<R>)> {
    let x = first(&xs)?;
    let y = xs
        .pop()
        .filter(|_| xs.len() == 1)
        .ok_or_else(|| Error::Plan(format!("layer {}: two inputs", r.fl.layer().name())))?;
    let y = y.reshape(x.shape())?;
    Ok((x, y))
}

/// One circuit per element on both operands: `op(x, y)`.
pub(super) fn binary<R: Ring>(
    fl: &FixedLayer<R>,
    is_b: bool,
    op: impl Fn(&mut Builder, &[Wire], &[Wire], Variant) -> Vec<Wire>,
) -> Result<Vec<BoolLayer>> {
    let ell = R::BITS as usize;
    let mut b = Builder::new();
    let (x, y) = (b.input(ell), b.input(ell));
    let z = op(&mut b, &x, &y, variant_for_b(is_b));
    b.output(&z);
    let id = || Gather {
        slots: 1,
        idx: None,
    };
    Ok(vec![BoolLayer::joining(
        b,
        fl.layer().output_shape().iter().product(),
        vec![id(), id()],
        Vec::new(),
    )?])
}

impl Lower for AddOp {
    const ROLE: Role = Role::Linear;

    fn runs_in_a(_: &()) -> bool {
        true
    }

    fn a_price<R: Ring>(_: &(), c: &ACost<'_, R>) -> Result<(Price, Work)> {
        join_price(c)
    }

    async fn run_a<R: Ring>(_: &(), r: ARun<'_, R>, xs: Vec<AShare<R>>) -> Result<AShare<R>> {
        let (x, y) = operands(&r, xs)?;
        Ok(x.add(&y)?)
    }

    fn circuits<R: Ring>(_: &(), fl: &FixedLayer<R>, _: u32, is_b: bool) -> Result<Vec<BoolLayer>> {
        binary(fl, is_b, |b, x, y, v| b.add(x, y, v))
    }
}

impl Lower for SubOp {
    const ROLE: Role = Role::Linear;

    fn runs_in_a(_: &()) -> bool {
        true
    }

    fn a_price<R: Ring>(_: &(), c: &ACost<'_, R>) -> Result<(Price, Work)> {
        join_price(c)
    }

    async fn run_a<R: Ring>(_: &(), r: ARun<'_, R>, xs: Vec<AShare<R>>) -> Result<AShare<R>> {
        let (x, y) = operands(&r, xs)?;
        Ok(x.sub(&y)?)
    }

    fn circuits<R: Ring>(_: &(), fl: &FixedLayer<R>, _: u32, is_b: bool) -> Result<Vec<BoolLayer>> {
        binary(fl, is_b, |b, x, y, v| b.sub(x, y, v))
    }
}

impl Lower for MulOp {
    const ROLE: Role = Role::Linear;

    fn runs_in_a(_: &()) -> bool {
        true
    }

    /// Both parties open `X − A` and `Y − B` in one exchange.
    fn a_price<R: Ring>(_: &(), c: &ACost<'_, R>) -> Result<(Price, Work)> {
        let n = c.n_in();
        let mut price = free();
        price.bytes_sent = [ring_bytes::<R>(2 * n), ring_bytes::<R>(2 * n)];
        price.flights.push(Flight::Both);
        price.demand.mul(&c.in_shape());
        let work = Work {
            ring_ops: 6 * n as u64,
            ..Work::default()
        };
        Ok((price, work))
    }

    async fn run_a<R: Ring>(_: &(), r: ARun<'_, R>, xs: Vec<AShare<R>>) -> Result<AShare<R>> {
        let (x, y) = operands(&r, xs)?;
        Ok(r.p.mul(&x, &y).await?)
    }

    fn circuits<R: Ring>(_: &(), fl: &FixedLayer<R>, _: u32, is_b: bool) -> Result<Vec<BoolLayer>> {
        binary(fl, is_b, |b, x, y, v| b.mul(x, y, v))
    }
}

impl Lower for NegOp {
    const ROLE: Role = Role::Follow;

    fn runs_in_a(_: &()) -> bool {
        true
    }

    fn a_price<R: Ring>(_: &(), c: &ACost<'_, R>) -> Result<(Price, Work)> {
        let work = Work {
            ring_ops: c.n_in() as u64,
            ..Work::default()
        };
        Ok((free(), work))
    }

    async fn run_a<R: Ring>(_: &(), _: ARun<'_, R>, xs: Vec<AShare<R>>) -> Result<AShare<R>> {
        Ok(first(&xs)?.neg())
    }

    fn circuits<R: Ring>(_: &(), fl: &FixedLayer<R>, _: u32, is_b: bool) -> Result<Vec<BoolLayer>> {
        let ell = R::BITS as usize;
        let mut b = Builder::new();
        let x = b.input(ell);
        let zero = b.constant_word(0, ell);
        let y = b.sub(&zero, &x, variant_for_b(is_b));
        b.output(&y);
        crate::circuits::elementwise(b, fl)
    }
}
