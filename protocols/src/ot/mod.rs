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
pub mod price;
pub mod source;
pub mod transpose;

use std::sync::{Arc, Mutex, PoisonError};

use rand_core::{CryptoRng, RngCore};
use tessera_core::channel::stream_chunk_bytes;
use tessera_core::{Block, Channel};

pub use iknp::{ExtReceiver, ExtSender, KAPPA, pack_bits, tiles};

use crate::Result;

/// Transfers per computation chunk of an extension (1 MiB of the receiver's message).
pub const CHUNK: usize = 1 << 16;

/// The largest message buffer (in blocks) a set-up keeps for its next extension:
/// 16 MiB, the message of 2^20 transfers. Reusing it saves the page faults of a fresh
/// buffer per extension (as much time as the extension's computation on a VM).
const SPARE_BLOCKS: usize = 1 << 20;

/// Whether a message of `n` blocks is a single frame on `ch` (then it is sent with
/// [`Channel::send_buffer`] and received with [`Channel::recv_pod_into`], byte for byte
/// the frame [`Channel::send_pod_stream`] would send, from and into reused buffers).
fn one_frame(ch: &Channel, n: usize) -> bool {
    n.saturating_mul(16) <= stream_chunk_bytes(16, ch.config().max_frame)
}

/// A message buffer that goes back to its set-up when the channel's writer drops it.
struct Pooled {
    buf: Vec<Block>,
    home: Arc<Mutex<Vec<Block>>>,
}

impl AsRef<[u8]> for Pooled {
    fn as_ref(&self) -> &[u8] {
        bytemuck::cast_slice(&self.buf)
    }
}

impl Drop for Pooled {
    fn drop(&mut self) {
        if self.buf.capacity() <= SPARE_BLOCKS {
            let mut home = self.home.lock().unwrap_or_else(PoisonError::into_inner);
            if home.capacity() < self.buf.capacity() {
                *home = std::mem::take(&mut self.buf);
            }
        }
    }
}

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
    let mut spare = std::mem::take(&mut s.spare);
    let r = for_each_chunk(ch, m, &mut spare, |u, k| {
        s.extend_with(u, k, |_, q| out.extend_from_slice(q))
    })
    .await;
    keep_spare(s, spare);
    r.map(|()| out)
}

/// The receiver's whole message of an extension of `m` transfers, read as one stream,
/// handed to `f` chunk by chunk (its blocks for `k` transfers, and `k`).
async fn for_each_chunk(
    ch: &mut Channel,
    m: usize,
    spare: &mut Vec<Block>,
    mut f: impl FnMut(&[Block], usize) -> Result<()>,
) -> Result<()> {
    if m == 0 {
        return Ok(());
    }
    let full = message_blocks(m);
    let owned;
    let u: &[Block] = if one_frame(ch, full) {
        ch.recv_pod_into(spare, Some(full)).await?;
        spare
    } else {
        owned = ch.recv_pod_stream::<Block>(full).await?;
        &owned
    };
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

/// Blocks of the receiver's message for an extension of `m` transfers.
fn message_blocks(m: usize) -> usize {
    (m / CHUNK) * KAPPA * tiles(CHUNK) + KAPPA * tiles(m % CHUNK)
}

/// Keeps the sender's message buffer for the next extension unless it is too large.
fn keep_spare(s: &mut ExtSender, spare: Vec<Block>) {
    if spare.capacity() <= SPARE_BLOCKS {
        s.spare = spare;
    }
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
    let n = message_blocks(choices.len());
    let mut msg = std::mem::take(&mut *r.spare.lock().unwrap_or_else(PoisonError::into_inner));
    msg.clear();
    msg.resize(n, Block::ZERO);
    let mut at = 0;
    for c in choices.chunks(CHUNK) {
        let n = KAPPA * tiles(c.len());
        f(r, &pack_bits(c), c.len(), &mut msg[at..at + n])?;
        at += n;
    }
    // Queued as one item: the send never waits for the peer (no flush here: the peer
    // may be extending towards this party at the same time).
    if one_frame(ch, n) {
        let home = Arc::clone(&r.spare);
        ch.send_buffer(Pooled { buf: msg, home }).await?;
    } else {
        ch.send_pod_stream(msg).await?;
    }
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
    let mut spare = std::mem::take(&mut s.spare);
    let r = for_each_chunk(ch, m, &mut spare, |u, k| s.extend_random(u, k, &mut out)).await;
    keep_spare(s, spare);
    r.map(|()| out)
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
