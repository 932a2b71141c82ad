//! Oblivious transfer between the two parties, without a dealer: base OTs
//! ([`base`], Chou–Orlandi over Ristretto255) and their extension ([`iknp`], IKNP with
//! the fixed-key-AES hash), as pure steps with the thin async drivers below.
//!
//! One set-up (128 base OTs, in the direction opposite to the extension) serves any
//! number of extensions in the same direction; an extension of `m` transfers is one
//! message from the receiver to the sender (16 bytes per transfer, computed in chunks of
//! [`CHUNK`] transfers and sent as one stream: one round whatever `m`, and a send that
//! never waits for the peer, so that both parties may extend towards each other at
//! once without blocking on full queues).
//!
//! What comes out:
//! - **correlated OTs** with the sender's global `Δ` ([`send_correlated`] /
//!   [`receive_correlated`]): the sender holds `q_i`, the receiver `q_i ⊕ r_i·Δ` —
//!   exactly the input labels of a garbler with global offset `Δ`;
//! - **random OTs** ([`send_random`] / [`receive_random`]): the sender holds two
//!   uniform strings per transfer, the receiver the one its choice bit names.
//!
//! Semi-honest security, as everything in Tessera. Every wait is the channel's
//! deadline; a malformed or short message is an [`Error`](crate::Error), never a panic.

pub mod base;
pub mod correlate;
pub mod iknp;
pub mod source;
pub mod transpose;

use rand_core::{CryptoRng, RngCore};
use tessera_core::{Block, Channel};

pub use iknp::{ExtReceiver, ExtSender, KAPPA, pack_bits, tiles};

use crate::Result;

/// Transfers per computation chunk of an extension (1 MiB of the receiver's message).
pub const CHUNK: usize = 1 << 16;

/// Set-up of the extension *sender*: chooses `Δ` and runs the 128 base OTs as their
/// receiver, choosing with `Δ`'s bits.
///
/// # Errors
/// Transport errors, or the peer's base-OT message is malformed.
pub async fn sender_setup<G: RngCore + CryptoRng + ?Sized>(
    ch: &mut Channel,
    rng: &mut G,
) -> Result<ExtSender> {
    let delta = Block::random(rng);
    let choices: Vec<bool> = (0..KAPPA).map(|j| (delta.0 >> j) & 1 == 1).collect();
    let first = ch.recv_bytes().await?;
    let (reply, keys) = base::receive(&first, &choices, rng)?;
    ch.send_bytes(reply).await?;
    ch.flush().await?;
    ExtSender::from_base(delta, &keys)
}

/// Set-up of the extension *receiver*: runs the 128 base OTs as their sender.
///
/// # Errors
/// Transport errors, or the peer's base-OT reply is malformed.
pub async fn receiver_setup<G: RngCore + CryptoRng + ?Sized>(
    ch: &mut Channel,
    rng: &mut G,
) -> Result<ExtReceiver> {
    let (s, first) = base::BaseSender::start(rng);
    ch.send_bytes(first).await?;
    let reply = ch.recv_bytes().await?;
    let pairs = s.finish(&reply, KAPPA)?;
    ExtReceiver::from_base(&pairs)
}

/// `m` correlated OTs, sender side: `q_i` (the message for choice 0; `q_i ⊕ Δ` is
/// the one for choice 1).
///
/// # Errors
/// Transport errors, or the receiver's message has the wrong length.
pub async fn send_correlated(ch: &mut Channel, s: &mut ExtSender, m: usize) -> Result<Vec<Block>> {
    let mut out = Vec::with_capacity(m);
    for_each_chunk(ch, m, |u, k| {
        s.extend_with(u, k, |_, q| out.extend_from_slice(q))
    })
    .await?;
    Ok(out)
}

/// The receiver's whole message of an extension of `m` transfers, read as one stream,
/// handed to `f` chunk by chunk (its blocks for `k` transfers, and `k`).
async fn for_each_chunk(
    ch: &mut Channel,
    m: usize,
    mut f: impl FnMut(&[Block], usize) -> Result<()>,
) -> Result<()> {
    if m == 0 {
        return Ok(());
    }
    let full = (m / CHUNK) * KAPPA * tiles(CHUNK) + KAPPA * tiles(m % CHUNK);
    let u: Vec<Block> = ch.recv_pod_stream(full).await?;
    let (mut at, mut left) = (0, m);
    while left > 0 {
        let k = left.min(CHUNK);
        let n = KAPPA * tiles(k);
        f(&u[at..at + n], k)?;
        at += n;
        left -= k;
    }
    Ok(())
}

/// Extends towards the sender for every chunk of `choices`: `f` computes a chunk's
/// part of the message into the buffer it is given (its packed choices, its number
/// of transfers), then the whole message is sent as one stream.
async fn extend_all(
    ch: &mut Channel,
    r: &mut ExtReceiver,
    choices: &[bool],
    mut f: impl FnMut(&mut ExtReceiver, &[Block], usize, &mut [Block]) -> Result<()>,
) -> Result<()> {
    if choices.is_empty() {
        return Ok(());
    }
    let m = choices.len();
    let mut msg = vec![Block::ZERO; (m / CHUNK) * KAPPA * tiles(CHUNK) + KAPPA * tiles(m % CHUNK)];
    let mut at = 0;
    for c in choices.chunks(CHUNK) {
        let n = KAPPA * tiles(c.len());
        f(r, &pack_bits(c), c.len(), &mut msg[at..at + n])?;
        at += n;
    }
    // Queued as one item: the send never waits for the peer (no flush here: the peer
    // may be extending towards this party at the same time).
    ch.send_pod_stream(msg).await?;
    Ok(())
}

/// Correlated OTs, receiver side, one per choice bit: `q_i ⊕ r_i·Δ`.
///
/// # Errors
/// Transport errors.
pub async fn receive_correlated(
    ch: &mut Channel,
    r: &mut ExtReceiver,
    choices: &[bool],
) -> Result<Vec<Block>> {
    let mut out = Vec::with_capacity(choices.len());
    extend_all(ch, r, choices, |r, c, k, u| {
        r.extend_with(c, k, u, |_, t| out.extend_from_slice(t))
    })
    .await?;
    Ok(out)
}

/// `m` random OTs, sender side: two uniform strings per transfer.
///
/// # Errors
/// As [`send_correlated`].
pub async fn send_random(ch: &mut Channel, s: &mut ExtSender, m: usize) -> Result<Vec<[Block; 2]>> {
    let mut out = Vec::with_capacity(m);
    for_each_chunk(ch, m, |u, k| s.extend_random(u, k, &mut out)).await?;
    Ok(out)
}

/// Random OTs, receiver side: the string each choice bit names.
///
/// # Errors
/// As [`receive_correlated`].
pub async fn receive_random(
    ch: &mut Channel,
    r: &mut ExtReceiver,
    choices: &[bool],
) -> Result<Vec<Block>> {
    let mut out = Vec::with_capacity(choices.len());
    extend_all(ch, r, choices, |r, c, k, u| {
        r.extend_random(c, k, u, &mut out)
    })
    .await?;
    Ok(out)
}
