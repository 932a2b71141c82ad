//! Oblivious transfer between the two parties, without a dealer: base OTs
//! ([`base`], Chou–Orlandi over Ristretto255) and their extension ([`iknp`], IKNP in
//! SoftSpoken's form with `k = 2`, and the fixed-key-AES hash), as pure steps with the
//! thin async drivers below.
//!
//! One set-up (128 base OTs, in the direction opposite to the extension) serves any
//! number of extensions in the same direction; an extension of `m` transfers is one
//! message from the receiver to the sender (8 bytes per transfer; the set-up's first
//! also carries its 2 KiB correction, as a frame of its own in front), one round
//! whatever `m`. The receiver sends it frame by frame as it computes it ([`frame_transfers`]
//! transfers per frame: [`CHUNK`], or more so that a message is never more than
//! [`MAX_EXTENSION_FRAMES`] frames), and the sender computes on each frame as it
//! arrives, so the two parties' work overlaps on the way. The frames of one message
//! fit the channel's writer queue, so a send never waits for the peer and both parties
//! may extend towards each other at once.
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
pub mod pairing;
pub mod price;
pub mod source;
pub mod transpose;

use std::sync::{Arc, Mutex, PoisonError};

use rand_core::{CryptoRng, RngCore};
use tessera_core::channel::stream_chunk_bytes;
use tessera_core::{Block, Channel};

pub use iknp::{
    CORRECTION_BLOCKS, ExtReceiver, ExtSender, KAPPA, MSG_COLS, message_blocks, pack_bits, tiles,
};

use crate::Result;

/// Transfers per frame of an extension's message (256 KiB of it) unless the message
/// would then be more than [`MAX_EXTENSION_FRAMES`] frames. Smaller frames let the
/// sender start sooner; 2^14 to 2^16 measured alike at 2^20 transfers (28–29 M random
/// OTs/s), 2^16 was 13 % slower than smaller frames for an extension of 2^16.
pub const CHUNK: usize = 1 << 15;

/// The most frames one extension's message is cut into: far fewer than the channel's
/// writer queue holds, so that sending a whole message never waits for the peer.
pub const MAX_EXTENSION_FRAMES: usize = 64;

/// Frame buffers a set-up keeps for its next frames (each [`CHUNK`]'s 256 KiB unless
/// messages are long): reusing them saves the page faults of a fresh buffer per
/// frame (as much time as the frame's computation on a VM). More than the frames a
/// party keeps in flight when both extend towards each other ([`LEAD`] + 1), so
/// that those come back to the pool rather than being freed and made again.
const SPARE_FRAMES: usize = LEAD + 4;

/// The largest frame buffer (in blocks) a set-up keeps: 16 MiB.
const SPARE_BLOCKS: usize = 1 << 20;

/// Transfers per frame of an extension of `m` transfers on a link whose frames carry
/// at most `max_frame` bytes: [`CHUNK`], more when that would cut the message into more
/// than [`MAX_EXTENSION_FRAMES`] frames, fewer when a frame cannot hold it; always
/// whole tiles of 128 transfers (the last frame takes the rest).
///
/// # Errors
/// [`Error::InvalidArgument`](crate::Error::InvalidArgument) if a frame cannot hold
/// one tile (1 KiB).
pub fn frame_transfers(m: usize, max_frame: usize) -> Result<usize> {
    let tile_bytes = 16 * MSG_COLS;
    let cap = stream_chunk_bytes(16, max_frame) / tile_bytes;
    if cap == 0 {
        return Err(crate::Error::InvalidArgument {
            op: "OT extension",
            detail: format!(
                "frames of at most {max_frame} bytes cannot carry one tile of an \
                 extension ({tile_bytes} bytes)"
            ),
        });
    }
    let want = tiles(CHUNK).max(tiles(m).div_ceil(MAX_EXTENSION_FRAMES));
    Ok(128 * want.min(cap))
}

/// A frame buffer that goes back to its set-up when the channel's writer drops it.
struct Pooled {
    buf: Vec<Block>,
    home: Arc<Mutex<Vec<Vec<Block>>>>,
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
            if home.len() < SPARE_FRAMES {
                home.push(std::mem::take(&mut self.buf));
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
    correction_in(ch, s, m).await?;
    let mut spare = std::mem::take(&mut s.spare);
    let r = for_each_chunk(ch, m, &mut spare, |u, k| {
        s.extend_with(u, k, |_, q| out.extend_from_slice(q))
    })
    .await;
    keep_spare(s, spare);
    r.map(|()| out)
}

/// The receiver's message of an extension of `m` transfers, read frame by frame (into
/// one reused buffer) and handed to `f` as it arrives: a frame's blocks, and its number
/// of transfers.
async fn for_each_chunk(
    ch: &mut Channel,
    m: usize,
    spare: &mut Vec<Block>,
    mut f: impl FnMut(&[Block], usize) -> Result<()>,
) -> Result<()> {
    let per = frame_transfers(m, ch.config().max_frame)?;
    let mut left = m;
    while left > 0 {
        let k = left.min(per);
        ch.recv_pod_into(spare, Some(message_blocks(k))).await?;
        compute(|| f(spare, k))?;
        left -= k;
    }
    Ok(())
}

/// Reads the set-up's correction if the sender still awaits it and the extension has
/// transfers (the receiver sends it in front of its first frame).
async fn correction_in(ch: &mut Channel, s: &mut ExtSender, m: usize) -> Result<()> {
    if m > 0 && s.awaits_correction() {
        let c = ch.recv_blocks(CORRECTION_BLOCKS).await?;
        s.correct(&c)?;
    }
    Ok(())
}

/// Keeps the sender's frame buffer for the next extension unless it is too large.
fn keep_spare(s: &mut ExtSender, spare: Vec<Block>) {
    if spare.capacity() <= SPARE_BLOCKS {
        s.spare = spare;
    }
}

/// Runs `f`, a frame's computation (milliseconds of it), without holding up the
/// runtime's other tasks: on a multi-threaded runtime the worker hands them (the
/// channel's writer among them) to another thread while `f` runs, so that the two
/// parties of one process compute at once while their frames are written and read
/// (two party tasks computing on a 2-worker runtime otherwise keep the writers from
/// running and the parties wait on each other: an AES-GMW offline phase used 1.2–1.4
/// cores, 1.6–1.7 with this); inline on a current-thread runtime, where nothing else
/// could run anyway.
fn compute<T>(f: impl FnOnce() -> T) -> T {
    use tokio::runtime::{Handle, RuntimeFlavor};
    match Handle::try_current() {
        Ok(h) if h.runtime_flavor() == RuntimeFlavor::MultiThread => tokio::task::block_in_place(f),
        _ => f(),
    }
}

/// Extends towards the sender, frame by frame: `f` computes a frame's part of the
/// message into the buffer it is given (its packed choices, its number of transfers),
/// which is sent at once while the next is computed.
async fn extend_all(
    ch: &mut Channel,
    r: &mut ExtReceiver,
    choices: &[bool],
    mut f: impl FnMut(&mut ExtReceiver, &[Block], usize, &mut [Block]) -> Result<()>,
) -> Result<()> {
    let per = frame_transfers(choices.len(), ch.config().max_frame)?;
    let depth = ch.message_depth();
    for c in choices.chunks(per) {
        extend_frame(ch, depth, r, c, &mut f).await?;
    }
    Ok(())
}

/// One frame of a receiver's message (begun at `depth`): `f` computes it for the
/// choices `c` into a buffer from the set-up's pool, which the channel's writer gives
/// back once written.
async fn extend_frame(
    ch: &mut Channel,
    depth: u32,
    r: &mut ExtReceiver,
    c: &[bool],
    f: &mut impl FnMut(&mut ExtReceiver, &[Block], usize, &mut [Block]) -> Result<()>,
) -> Result<()> {
    if let Some(correction) = r.take_correction() {
        let bytes: Vec<u8> = bytemuck::cast_slice(&correction).to_vec();
        ch.send_buffer_at(depth, bytes).await?;
    }
    let n = message_blocks(c.len());
    let mut buf = r
        .spare
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .pop()
        .unwrap_or_default();
    // Every block is overwritten by `f`: a reused buffer is not zeroed first.
    buf.resize(n, Block::ZERO);
    compute(|| f(r, &pack_bits(c), c.len(), &mut buf))?;
    // No flush: the writer flushes when its queue runs empty, and the peer may be
    // extending towards this party at the same time.
    let home = Arc::clone(&r.spare);
    Ok(ch.send_buffer_at(depth, Pooled { buf, home }).await?)
}

/// Frames of its own message a party sends ahead of the peer's frames it has
/// extended, when both extend towards each other ([`exchange_random_with`]): enough
/// that the peer's frames have arrived when they are wanted on a slow link (a frame's
/// work is ≈ 1.5 ms at 2^16 transfers; the `wan` profile's one-way latency is 50 ms),
/// few enough that the frame buffers come back to be reused (fresh pages for every
/// frame cost more than the computation saves).
const LEAD: usize = 16;

/// Random OTs both ways at once: this party receives `choices.len()` transfers (its
/// strings to `recv_sink`, as [`receive_random_with`]) and sends `m` (the pairs to
/// `send_sink`, as [`send_random_with`]) while the peer does the converse. The work
/// on the two messages alternates frame by frame once this party is [`LEAD`] frames
/// ahead, so the frame buffers of its message come back to be reused and both halves
/// of the work run beside the peer's. Its frames never wait for the peer's beyond
/// that lead and are all sent at the message's causal depth (none depends on what
/// was read): the same messages and the same one round as the two one-way calls in
/// sequence.
///
/// # Errors
/// Transport errors or a malformed message from the peer.
pub async fn exchange_random_with(
    ch: &mut Channel,
    (r, s): (&mut ExtReceiver, &mut ExtSender),
    choices: &[bool],
    m: usize,
    mut recv_sink: impl FnMut(usize, &[Block]),
    mut send_sink: impl FnMut(usize, &[[Block; 2]]),
) -> Result<()> {
    let max_frame = ch.config().max_frame;
    let mine: Vec<&[bool]> = choices
        .chunks(frame_transfers(choices.len(), max_frame)?)
        .collect();
    let per = frame_transfers(m, max_frame)?;
    let theirs = m.div_ceil(per);
    let depth = ch.message_depth();
    let mut spare = std::mem::take(&mut s.spare);
    let (mut sent, mut got, mut recv_done, mut send_done) = (0, 0, 0, 0);
    let mut corrected = false;
    let mut out = Ok(());
    while out.is_ok() && (sent < mine.len() || got < theirs) {
        out = if sent < mine.len() && (sent <= got + LEAD || got == theirs) {
            let c = mine[sent];
            sent += 1;
            extend_frame(ch, depth, r, c, &mut |r, c, k, u| {
                r.extend_random_with(c, k, u, |at, y| recv_sink(recv_done + at, y))?;
                recv_done += k;
                Ok(())
            })
            .await
        } else {
            let k = (m - got * per).min(per);
            got += 1;
            if !corrected {
                corrected = true;
                if let Err(e) = correction_in(ch, s, m).await {
                    out = Err(e);
                    continue;
                }
            }
            match ch.recv_pod_into(&mut spare, Some(message_blocks(k))).await {
                Ok(()) => compute(|| {
                    s.extend_random_with(&spare, k, |at, x| send_sink(send_done + at, x))
                })
                .map(|()| send_done += k),
                Err(e) => Err(e.into()),
            }
        };
    }
    keep_spare(s, spare);
    out
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
    send_random_with(ch, s, m, |_, x| out.extend_from_slice(x)).await?;
    Ok(out)
}

/// [`send_random`] handing the pairs to `sink` as they are made, a batch at a time,
/// with the index of the batch's first transfer (batches come in order and cover
/// `0..m`): a consumer that keeps a few bits of each string (AND triples) never
/// stores the strings.
///
/// # Errors
/// As [`send_correlated`].
pub async fn send_random_with(
    ch: &mut Channel,
    s: &mut ExtSender,
    m: usize,
    mut sink: impl FnMut(usize, &[[Block; 2]]),
) -> Result<()> {
    correction_in(ch, s, m).await?;
    let mut spare = std::mem::take(&mut s.spare);
    let mut done = 0;
    let r = for_each_chunk(ch, m, &mut spare, |u, k| {
        s.extend_random_with(u, k, |at, x| sink(done + at, x))?;
        done += k;
        Ok(())
    })
    .await;
    keep_spare(s, spare);
    r
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
    receive_random_with(ch, r, choices, |_, y| out.extend_from_slice(y)).await?;
    Ok(out)
}

/// [`receive_random`] handing the strings to `sink` as they are made, a batch at a
/// time, with the index of the batch's first transfer (in order, covering every
/// choice).
///
/// # Errors
/// As [`receive_correlated`].
pub async fn receive_random_with(
    ch: &mut Channel,
    r: &mut ExtReceiver,
    choices: &[bool],
    mut sink: impl FnMut(usize, &[Block]),
) -> Result<()> {
    let mut done = 0;
    extend_all(ch, r, choices, |r, c, k, u| {
        r.extend_random_with(c, k, u, |at, y| sink(done + at, y))?;
        done += k;
        Ok(())
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_are_whole_tiles_few_and_within_the_limit() {
        let big = 1 << 28;
        for m in [
            1,
            128,
            129,
            CHUNK,
            CHUNK + 1,
            64 * CHUNK,
            64 * CHUNK + 1,
            1 << 27,
        ] {
            for max_frame in [2048, 4104, 1 << 20, big] {
                let per = frame_transfers(m, max_frame).unwrap();
                assert!(
                    per > 0 && per.is_multiple_of(128),
                    "m = {m}, limit {max_frame}"
                );
                assert!(8 * per <= max_frame, "m = {m}, limit {max_frame}");
                if max_frame == big {
                    assert!(per >= CHUNK, "m = {m}");
                    assert!(m.div_ceil(per) <= MAX_EXTENSION_FRAMES, "m = {m}");
                }
            }
        }
        assert!(frame_transfers(100, 1023).is_err());
    }
}
