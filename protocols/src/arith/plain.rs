//! Layers with a plaintext weight held by party 0 (the model owner): `Y = f(X, W)` for
//! a shared activation `X` and a bilinear `f` (matmul, conv2d, element-wise), with
//! online traffic proportional to `X` only.
//!
//! # Construction
//! - **Once per model** (set-up phase): the dealer gives party 0 a uniform mask `U`
//!   shaped like `W` (from party 0's seed, so it costs no dealer traffic); party 0 sends
//!   `W − U` to party 1.
//! - **Per inference** (offline): the dealer gives party 1 a uniform `V` shaped like
//!   `X`, and shares `Z_0 + Z_1 = f(V, U)` (party 0's `Z_0` from its seed; party 1
//!   receives `Z_1` as a correction, `|Y|` elements).
//! - **Online**: party 1 sends `X_1 − V` (one message, `|X|` elements, one round);
//!   party 0 sends nothing. Then
//!   - party 0: `Y_0 = f(X_0 + (X_1 − V), W) + Z_0`,
//!   - party 1: `Y_1 = f(V, W − U) + Z_1`.
//!
//! Correctness, by bilinearity: `Y_0 + Y_1 = f(X − V, W) + f(V, W) − f(V, U) + f(V, U)
//! = f(X, W)`.
//!
//! # Security (semi-honest parties, non-colluding dealer)
//! - Party 1 sees `W − U` once, `V`, `Z_1` per inference, and nothing online. `U` is
//!   uniform and known only to party 0 and the dealer, so `W − U` is uniform; each
//!   `Z_1 = f(V, U) − Z_0` is masked by a fresh uniform `Z_0`. Reusing `U` across
//!   inferences is safe because `W − U` is only ever sent once and `U` reaches party 1
//!   in no other form.
//! - Party 0 sees `U`, `Z_0` (uniform, from its seed) and `X_1 − V` per inference;
//!   `V` is fresh, uniform and known only to party 1 and the dealer, so `X_1 − V` is a
//!   one-time pad of party 1's share.
//! - The dealer knows `U` and `V` but never sees `W − U` or `X_1 − V`; if it colluded
//!   with party 1 it would learn `W` — excluded by the model.
//!
//! # Scope of "once per model"
//! The mask is a request of the session's demand
//! ([`Demand::weight_mask`](crate::preprocessing::Demand::weight_mask)), and every
//! inference of the session ([`Demand::plain_weight`](crate::preprocessing::Demand::plain_weight))
//! refers to it: `W − U` crosses the network once per session, however many
//! inferences the session runs. A later session gets a fresh mask (the dealer keeps no
//! state between sessions).
//!
//! Online cost: `|X|·ℓ` bits from party 1 to party 0 and one round, against
//! `(|X| + |W|)·ℓ` bits each way for a Beaver matrix triple.

use ndarray::ArrayD;
use tessera_core::{Ring, Threads};

use super::bilinear::{Bilinear, BilinearOp};
use super::{AShare, array_from, flat};
use crate::preprocessing::{PlainWeightShare, WeightMaskShare};
use crate::{Error, Result};

/// A party's side of a plaintext weight after set-up: party 0 holds `W`, party 1
/// holds `W − U`. Neither prints.
pub struct PlainWeights<R: Ring> {
    mask: usize,
    shape: Vec<usize>,
    side: Side<R>,
}

enum Side<R: Ring> {
    Owner(ArrayD<R>),
    Peer(ArrayD<R>),
}

impl<R: Ring> std::fmt::Debug for PlainWeights<R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let side = match self.side {
            Side::Owner(_) => "owner",
            Side::Peer(_) => "peer",
        };
        write!(
            f,
            "PlainWeights(mask #{}, {:?}, {side})",
            self.mask, self.shape
        )
    }
}

impl<R: Ring> PlainWeights<R> {
    /// The mask index this weight was set up with.
    pub fn mask(&self) -> usize {
        self.mask
    }

    /// The weight's shape.
    pub fn shape(&self) -> &[usize] {
        &self.shape
    }
}

/// Set-up, party 0: `W − U` to send, and the owner's handle.
///
/// # Errors
/// [`Error::Shape`] if `W` and `U` differ in shape, [`Error::Protocol`] if the mask
/// share is party 1's.
pub fn setup_owner<R: Ring>(
    mask_id: usize,
    w: ArrayD<R>,
    mask: WeightMaskShare<R>,
) -> Result<(PlainWeights<R>, Vec<R>)> {
    let u = mask.mask.ok_or_else(|| Error::Protocol {
        step: "plaintext-weight set-up",
        detail: "party 0 holds no weight mask".into(),
    })?;
    if u.shape() != w.shape() {
        return Err(Error::shape(
            "plaintext-weight set-up",
            format!("weight {:?}, mask {:?}", w.shape(), u.shape()),
        ));
    }
    let (wf, uf) = (flat(&w), flat(&u));
    let msg = wf.iter().zip(uf.iter()).map(|(&w, &u)| w - u).collect();
    Ok((
        PlainWeights {
            mask: mask_id,
            shape: w.shape().to_vec(),
            side: Side::Owner(w),
        },
        msg,
    ))
}

/// Set-up, party 1: the handle from party 0's `W − U`.
///
/// # Errors
/// [`Error::Protocol`] if the message does not fit `shape`.
pub fn setup_peer<R: Ring>(
    mask_id: usize,
    shape: &[usize],
    w_minus_u: Vec<R>,
) -> Result<PlainWeights<R>> {
    let n: usize = shape.iter().product();
    if w_minus_u.len() != n {
        return Err(Error::Protocol {
            step: "plaintext-weight set-up",
            detail: format!(
                "{} elements for a weight of shape {shape:?}",
                w_minus_u.len()
            ),
        });
    }
    Ok(PlainWeights {
        mask: mask_id,
        shape: shape.to_vec(),
        side: Side::Peer(array_from(shape, w_minus_u)?),
    })
}

fn check_material<R: Ring>(
    op: BilinearOp,
    w: &PlainWeights<R>,
    x: &AShare<R>,
    m: &PlainWeightShare<R>,
) -> Result<()> {
    op.output_shape(x.shape(), &w.shape)?;
    if m.op != op || m.mask != w.mask {
        return Err(Error::WrongCorrelation {
            expected: format!("plaintext-weight material for {op} with mask #{}", w.mask),
            found: format!("{m:?}"),
        });
    }
    Ok(())
}

/// What party 1 keeps between sending `X_1 − V` and computing its output.
pub struct PeerLayerState<'a, R: Ring> {
    op: BilinearOp,
    w_minus_u: &'a ArrayD<R>,
    m: PlainWeightShare<R>,
}

impl<R: Ring> std::fmt::Debug for PeerLayerState<'_, R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "PeerLayerState({:?})", self.m)
    }
}

/// Online, party 1, step 1: the message `X_1 − V` (sent before party 1 computes
/// anything else, so party 0 can start at once).
///
/// # Errors
/// [`Error::Shape`] / [`Error::WrongCorrelation`] if the operands or material do not
/// fit; [`Error::Protocol`] if called with party 0's handle.
pub fn layer_peer_open<'a, R: Ring>(
    op: BilinearOp,
    w: &'a PlainWeights<R>,
    x1: &AShare<R>,
    m: PlainWeightShare<R>,
) -> Result<(PeerLayerState<'a, R>, Vec<R>)> {
    check_material(op, w, x1, &m)?;
    let (Side::Peer(wu), Some(v)) = (&w.side, &m.v) else {
        return Err(Error::Protocol {
            step: "plaintext-weight layer",
            detail: "party 1's step needs party 1's weight handle and material".into(),
        });
    };
    if v.shape() != x1.shape() {
        return Err(Error::shape(
            "plaintext-weight layer",
            format!("activation {:?}, material for {:?}", x1.shape(), v.shape()),
        ));
    }
    let (xf, vf) = (flat(x1.array()), flat(v));
    let msg: Vec<R> = xf.iter().zip(vf.iter()).map(|(&x, &v)| x - v).collect();
    Ok((
        PeerLayerState {
            op,
            w_minus_u: wu,
            m,
        },
        msg,
    ))
}

/// Online, party 1, step 2: its output share `f(V, W − U) + Z_1` (party 1 needs
/// nothing from party 0), the product computed on `threads`.
///
/// # Errors
/// [`Error::Shape`] if the material does not fit the weight.
pub fn layer_peer_close<R: Ring>(
    threads: &Threads,
    state: PeerLayerState<'_, R>,
) -> Result<AShare<R>> {
    let PeerLayerState { op, w_minus_u, m } = state;
    let v = m.v.ok_or_else(|| Error::Protocol {
        step: "plaintext-weight layer",
        detail: "party 1's material has no V".into(),
    })?;
    let mut y = m.z;
    op.accumulate_on(threads, v.view(), w_minus_u.view(), &mut y)?;
    Ok(AShare::from_array(y))
}

/// Online, party 0: its output share `f(X_0 + (X_1 − V), W) + Z_0` from party 1's
/// message, the product computed on `threads`.
///
/// # Errors
/// As [`layer_peer_open`]; [`Error::Protocol`] if the message has the wrong length.
pub fn layer_owner<R: Ring>(
    threads: &Threads,
    op: BilinearOp,
    w: &PlainWeights<R>,
    x0: &AShare<R>,
    m: PlainWeightShare<R>,
    peer: Vec<R>,
) -> Result<AShare<R>> {
    check_material(op, w, x0, &m)?;
    let Side::Owner(wt) = &w.side else {
        return Err(Error::Protocol {
            step: "plaintext-weight layer",
            detail: "party 0's step needs the owner's weight handle".into(),
        });
    };
    if peer.len() != x0.len() {
        return Err(Error::Protocol {
            step: "plaintext-weight layer",
            detail: format!("{} elements, expected {}", peer.len(), x0.len()),
        });
    }
    let xf = flat(x0.array());
    let masked: Vec<R> = xf.iter().zip(&peer).map(|(&a, &b)| a + b).collect();
    let masked = array_from(x0.shape(), masked)?;
    let mut y = m.z;
    op.accumulate_on(threads, masked.view(), wt.view(), &mut y)?;
    Ok(AShare::from_array(y))
}
