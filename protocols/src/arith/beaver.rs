//! Beaver multiplication for any bilinear map, as pure protocol steps (Beaver, CRYPTO
//! 1991; the matrix and convolution variants as in SecureML and CrypTen).
//!
//! Given shares of `X`, `Y` and a triple `(A, B, C = f(A, B))` of the right shapes,
//! each party opens `ε = X − A` and `δ = Y − B` together in **one message** and sets
//!
//! `Z_i = C_i + f(ε, B_i + [i = 0]·δ) + f(A_i, δ)`,
//!
//! so `Z_0 + Z_1 = f(A,B) + f(ε,B) + f(ε,δ) + f(A,δ) = f(ε + A, δ + B) = f(X, Y)` by
//! bilinearity. Online traffic per party is `|X| + |Y|` ring elements, one round,
//! whatever `f` is — for a matrix product that is the operands' size, not the number
//! of scalar products. Security: `ε` and `δ` are masked by the uniform `A`, `B`,
//! which are used once (semi-honest parties, non-colluding dealer).
//!
//! [`square_open`]/[`square_close`] is the same idea for `X ⊙ X` with a square pair
//! `(A, A⊙A)`: only `ε = X − A` is opened and `Z_i = C_i + 2ε⊙A_i + [i = 0]·ε⊙ε`.

use ndarray::ArrayD;
use tessera_core::{Ring, Threads};

use super::bilinear::{Bilinear, BilinearOp};
use super::{AShare, array_from, flat};
use crate::preprocessing::{BeaverTriple, SquarePair};
use crate::{Error, Result};

/// What a party keeps between opening and closing a Beaver multiplication: its
/// correlation and a borrow of its operands (its own `ε_i`, `δ_i` are recomputed from
/// them rather than copied).
pub struct BeaverState<'a, R: Ring> {
    party: usize,
    triple: BeaverTriple<R>,
    x: &'a AShare<R>,
    y: &'a AShare<R>,
}

impl<R: Ring> std::fmt::Debug for BeaverState<'_, R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "BeaverState({:?})", self.triple)
    }
}

fn check_shape(op: &'static str, what: &str, got: &[usize], want: &[usize]) -> Result<()> {
    if got != want {
        return Err(Error::shape(
            op,
            format!("{what} has shape {got:?}, the correlation was made for {want:?}"),
        ));
    }
    Ok(())
}

fn diff_into<R: Ring>(x: &ArrayD<R>, a: &ArrayD<R>, out: &mut Vec<R>) {
    let (x, a) = (flat(x), flat(a));
    out.extend(x.iter().zip(a.iter()).map(|(&x, &a)| x - a));
}

/// `mine − mask + peer`: an opened value from our operand, our mask share and the
/// peer's message.
fn opened<R: Ring>(x: &ArrayD<R>, mask: &ArrayD<R>, peer: &[R]) -> Result<ArrayD<R>> {
    let (xf, mf) = (flat(x), flat(mask));
    let v = xf
        .iter()
        .zip(mf.iter())
        .zip(peer)
        .map(|((&x, &m), &p)| x - m + p)
        .collect();
    array_from(x.shape(), v)
}

/// Step 1: the message `ε_i ‖ δ_i` to send, and the state to keep.
///
/// # Errors
/// [`Error::Shape`] if `x`, `y` or the triple do not fit `op`, or
/// [`Error::WrongCorrelation`] if the triple was made for another map.
pub fn beaver_open<'a, R: Ring>(
    party: usize,
    op: BilinearOp,
    x: &'a AShare<R>,
    y: &'a AShare<R>,
    triple: BeaverTriple<R>,
) -> Result<(BeaverState<'a, R>, Vec<R>)> {
    op.output_shape(x.shape(), y.shape())?;
    if triple.op != op {
        return Err(Error::WrongCorrelation {
            expected: format!("a Beaver triple for {op}"),
            found: format!("{triple:?}"),
        });
    }
    check_shape(op.name(), "left operand", x.shape(), triple.a.shape())?;
    check_shape(op.name(), "right operand", y.shape(), triple.b.shape())?;
    let mut msg = Vec::with_capacity(x.len() + y.len());
    diff_into(x.array(), &triple.a, &mut msg);
    diff_into(y.array(), &triple.b, &mut msg);
    Ok((
        BeaverState {
            party,
            triple,
            x,
            y,
        },
        msg,
    ))
}

/// Step 2: this party's share of `op(X, Y)` from the peer's `ε ‖ δ`, the products
/// computed on `threads`.
///
/// The element-wise map runs the same formula fused into one pass over contiguous
/// tensors (no intermediate `ε`, `δ` tensors); every other map evaluates it through
/// [`Bilinear::accumulate`].
///
/// # Errors
/// [`Error::Protocol`] if the peer's message has the wrong length.
pub fn beaver_close<R: Ring>(
    threads: &Threads,
    state: BeaverState<'_, R>,
    peer: &[R],
) -> Result<AShare<R>> {
    let BeaverState {
        party,
        triple,
        x,
        y,
    } = state;
    if peer.len() != x.len() + y.len() {
        return Err(Error::Protocol {
            step: "Beaver opening",
            detail: format!("{} elements, expected {}", peer.len(), x.len() + y.len()),
        });
    }
    let (pe, pd) = peer.split_at(x.len());
    let BeaverTriple {
        op,
        a,
        mut b,
        mut c,
    } = triple;
    if op == BilinearOp::Elementwise
        && let (Some(xs), Some(ys), Some(as_), Some(bs), Some(cs)) = (
            x.array().as_slice(),
            y.array().as_slice(),
            a.as_slice(),
            b.as_slice(),
            c.as_slice_mut(),
        )
    {
        let first = party == 0;
        for i in 0..cs.len() {
            let e = xs[i] - as_[i] + pe[i];
            let d = ys[i] - bs[i] + pd[i];
            let bb = if first { bs[i] + d } else { bs[i] };
            cs[i] += e * bb + as_[i] * d;
        }
        return Ok(AShare::from_array(c));
    }
    let eps = opened(x.array(), &a, pe)?;
    let delta = opened(y.array(), &b, pd)?;
    if party == 0 {
        b += &delta;
    }
    op.accumulate_on(threads, eps.view(), b.view(), &mut c)?;
    op.accumulate_on(threads, a.view(), delta.view(), &mut c)?;
    Ok(AShare::from_array(c))
}

/// What a party keeps between opening and closing a squaring.
pub struct SquareState<'a, R: Ring> {
    party: usize,
    pair: SquarePair<R>,
    x: &'a AShare<R>,
}

impl<R: Ring> std::fmt::Debug for SquareState<'_, R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SquareState({:?})", self.pair)
    }
}

/// Step 1 of squaring: the message `ε_i = X_i − A_i`.
///
/// # Errors
/// [`Error::Shape`] if `x` does not fit the pair.
pub fn square_open<'a, R: Ring>(
    party: usize,
    x: &'a AShare<R>,
    pair: SquarePair<R>,
) -> Result<(SquareState<'a, R>, Vec<R>)> {
    check_shape("square", "operand", x.shape(), pair.a.shape())?;
    let mut msg = Vec::with_capacity(x.len());
    diff_into(x.array(), &pair.a, &mut msg);
    Ok((SquareState { party, pair, x }, msg))
}

/// Step 2 of squaring: this party's share of `X ⊙ X`.
///
/// # Errors
/// [`Error::Protocol`] if the peer's message has the wrong length.
pub fn square_close<R: Ring>(state: SquareState<'_, R>, peer: &[R]) -> Result<AShare<R>> {
    let SquareState { party, pair, x } = state;
    if peer.len() != x.len() {
        return Err(Error::Protocol {
            step: "square opening",
            detail: format!("{} elements, expected {}", peer.len(), x.len()),
        });
    }
    let two = R::one() + R::one();
    let (xs, a, c) = (flat(x.array()), flat(&pair.a), flat(&pair.c));
    let z: Vec<R> = xs
        .iter()
        .zip(peer)
        .zip(a.iter().zip(c.iter()))
        .map(|((&x, &p), (&a, &c))| {
            let e = x - a + p;
            let z = c + two * e * a;
            if party == 0 { z + e * e } else { z }
        })
        .collect();
    Ok(AShare::from_array(array_from(pair.a.shape(), z)?))
}
