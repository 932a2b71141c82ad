//! Correlations from OT extension, between the two parties alone (semi-honest, as
//! ABY's OT-based set-up):
//!
//! - **AND triples** from two random OTs each (one per direction): party `p` draws
//!   `a_p`, and as sender of `(m0, m1)` sets `b_p = m0 ⊕ m1`, `u_p = m0`; as receiver
//!   with choice `a_p` it gets `v_p = m_{a_p}` of the other party's pair, so that
//!   `a_{1−p}·b_p = u_p ⊕ v_{1−p}` and `c_p = a_p·b_p ⊕ u_p ⊕ v_p` shares
//!   `(a_0 ⊕ a_1)(b_0 ⊕ b_1)` (one bit of each 128-bit string is used).
//! - **Vector OLE in Z_2^ℓ** by Gilboa's method: the receiver holds scalars `y_t`, the
//!   sender vectors `X_t` of one length `L`; per bit `k` of `y_t` one random OT whose
//!   strings expand to `R0, R1 ∈ Z_2^ℓ^L`; the sender sends `R0 − R1 + X_t` cut to its
//!   low `ℓ − k` bits (all that survives the factor `2^k`, in whole bytes:
//!   [`corr_bytes`]); the receiver's share is `Σ_k 2^k·(R_{y_k} + y_k·(R0 − R1 + X_t))`,
//!   the sender's `−Σ_k 2^k·R0`, together `y_t·X_t`. ℓ OTs and `L·Σ_k ⌈(ℓ−k)/8⌉` bytes
//!   per scalar (288·L in Z_2^64, 56 % of ℓ·L ring elements).
//! - **Beaver triples** `(A, B, A ⊙ B)`, `(A, B, A·B)` and `(A, B, conv(A, B))` from
//!   two vector OLEs per triple (the cross terms `A_0 ⊙ B_1` and `A_1 ⊙ B_0`).
//!
//! Every function takes the party's [`OtLink`] (its set-ups in both directions) and
//! runs both directions' messages in one round each way: a party's message as OT
//! receiver never waits for what it reads as OT sender (the two extensions are worked
//! on in turn, [`super::exchange_random_with`]).

use ndarray::{ArrayD, IxDyn};
use rand_core::{CryptoRng, RngCore};
use tessera_core::{BitVec, Block, Channel, Prg, Ring};

use super::pairing::{self, Hello, Pairing, PairingSlot, SetUp};
use super::{
    ExtReceiver, ExtSender, KAPPA, base, exchange_random_with, receive_random, send_random,
};
use crate::arith::bilinear::Bilinear;
use crate::preprocessing::{AndTriples, BeaverTriple};
use crate::{BilinearOp, Error, Result};

/// A party's OT-extension set-ups with the other party: as sender (the other party
/// receives) and as receiver. Nothing secret in `Debug`.
#[derive(Debug)]
pub struct OtLink {
    /// This party as extension sender.
    pub sender: ExtSender,
    /// This party as extension receiver.
    pub receiver: ExtReceiver,
}

/// Transfers per part of the base-OT reply in [`link`]: the base-OT sender finishes a
/// part while the receiver computes the next.
pub const LINK_PART: usize = 16;
const _: () = assert!(KAPPA.is_multiple_of(LINK_PART));

/// Both set-ups from 128 base OTs and one small extension, every session anew:
/// [`connect`] without a pairing.
///
/// # Errors
/// As [`connect`].
pub async fn link<G: RngCore + CryptoRng + ?Sized>(
    ch: &mut Channel,
    party: usize,
    rng: &mut G,
) -> Result<OtLink> {
    Ok(connect(ch, party, None, rng).await?.0)
}

/// Both set-ups of a session, and how they were made.
///
/// First flight, both ways at once: each party's [`Hello`] (the id of the pairing in
/// its `slot`, or zeros, and a fresh nonce), party 1's with its base-OT message `A`.
/// If both name the same pairing, each derives the session's set-ups from it
/// ([`Pairing::session_link`]) and the link is done ([`SetUp::Paired`]). Otherwise
/// ([`SetUp::Fresh`]): 128 base OTs and one small extension — party 1 is the base-OT
/// sender, party 0 the receiver choosing with the bits of its fresh `Δ_0` (the set-up
/// of party 0 as extension sender); party 0 then extends 128 random OTs towards party
/// 1, who chooses with the bits of its own fresh `Δ_1`: party 0's pairs of strings are
/// the base-OT pairs of the other direction (party 0 as extension receiver) and party
/// 1's chosen strings its keys `k_{Δ_1,j}` (party 1 as extension sender). Random OTs
/// are what IKNP's base OTs are (uniform, independent seed pairs, one of each pair
/// known to the receiver), so the reversal costs 128 extended transfers instead of 128
/// more base OTs and each party does one side of the curve arithmetic instead of
/// both. A party with a slot then keeps the new pairing in it.
///
/// Three one-way flights when fresh (the hellos and `A`; the reply, in parts of
/// [`LINK_PART`] so that party 1 finishes a part while party 0 computes the next; the
/// extension, of which party 1's travels with the message of its first extension
/// after the link), one when paired.
///
/// # Errors
/// Transport errors, a malformed hello or base-OT message, a pairing of the other
/// party's, or a new pairing that cannot be written to the slot's file;
/// [`Error::Protocol`] if `party` is not 0 or 1.
pub async fn connect<G: RngCore + CryptoRng + ?Sized>(
    ch: &mut Channel,
    party: usize,
    slot: Option<&PairingSlot>,
    rng: &mut G,
) -> Result<(OtLink, SetUp)> {
    if party > 1 {
        return Err(Error::Protocol {
            step: "OT link",
            detail: format!("party {party} is not 0 or 1"),
        });
    }
    let held = slot.and_then(PairingSlot::current);
    if let Some(p) = held.as_ref().filter(|p| p.party() != party) {
        return Err(Error::Protocol {
            step: "OT link",
            detail: format!(
                "the pairing offered is party {}'s half, this is party {party}",
                p.party()
            ),
        });
    }
    let mut nonce = [0u8; 16];
    rng.fill_bytes(&mut nonce);
    let mine = Hello {
        id: held.as_ref().map_or([0; 16], |p| p.id()),
        nonce,
    };
    let bits = |d: Block| -> Vec<bool> { (0..KAPPA).map(|j| (d.0 >> j) & 1 == 1).collect() };
    // The session's set-ups from the pairing, if both hellos name the one held.
    let derived = |h: &[Hello; 2]| -> Option<Result<OtLink>> {
        let p = held.as_ref()?;
        pairing::agreed(&h[0], &h[1])?;
        Some(p.session_link(&p.session_tag(&h[0], &h[1])))
    };
    let (link, hellos, fresh) = match party {
        0 => {
            ch.send_bytes(mine.to_bytes().to_vec()).await?;
            let first = ch.recv_bytes().await?;
            let (theirs, big_a) = Hello::split(&first)?;
            let hellos = [mine, theirs];
            if let Some(link) = derived(&hellos) {
                (link?, hellos, None)
            } else {
                let delta = Block::random(rng);
                let choices = bits(delta);
                let r = base::BaseReceiver::new(big_a)?;
                let mut keys = Vec::with_capacity(KAPPA);
                for at in (0..KAPPA).step_by(LINK_PART) {
                    let (reply, k) = r.reply(at, &choices[at..at + LINK_PART], rng);
                    keys.extend(k);
                    ch.send_bytes(reply).await?;
                }
                let mut sender = ExtSender::from_base(delta, &keys)?;
                let pairs = send_random(ch, &mut sender, KAPPA).await?;
                let link = OtLink {
                    sender,
                    receiver: ExtReceiver::from_base(&pairs)?,
                };
                (link, hellos, Some((delta, keys, pairs)))
            }
        }
        _ => {
            let (s, big_a) = base::BaseSender::start(rng);
            let mut first = mine.to_bytes().to_vec();
            first.extend_from_slice(&big_a);
            ch.send_bytes(first).await?;
            let hello = ch.recv_bytes().await?;
            let (theirs, rest) = Hello::split(&hello)?;
            if !rest.is_empty() {
                return Err(Error::Protocol {
                    step: "OT link",
                    detail: format!("party 0's hello carries {} extra bytes", rest.len()),
                });
            }
            let hellos = [theirs, mine];
            if let Some(link) = derived(&hellos) {
                (link?, hellos, None)
            } else {
                let mut pairs = Vec::with_capacity(KAPPA);
                for at in (0..KAPPA).step_by(LINK_PART) {
                    let reply = ch.recv_bytes().await?;
                    pairs.extend(s.finish_part(at, &reply, LINK_PART)?);
                }
                let mut receiver = ExtReceiver::from_base(&pairs)?;
                let delta = Block::random(rng);
                let keys = receive_random(ch, &mut receiver, &bits(delta)).await?;
                let link = OtLink {
                    sender: ExtSender::from_base(delta, &keys)?,
                    receiver,
                };
                (link, hellos, Some((delta, keys, pairs)))
            }
        }
    };
    let how = match fresh {
        None => SetUp::Paired,
        Some((delta, keys, pairs)) => {
            if let Some(slot) = slot {
                let id = pairing::new_id(&hellos[0], &hellos[1]);
                slot.keep(Pairing::new(id, party, delta, keys, pairs)?)?;
            }
            SetUp::Fresh
        }
    };
    if let Some(slot) = slot {
        slot.note(how);
    }
    Ok((link, how))
}

/// `n` AND triples, this party's shares. Two random OTs per triple (one each way),
/// one round.
///
/// # Errors
/// Transport errors or a malformed message from the peer.
pub async fn and_triples<G: RngCore + CryptoRng + ?Sized>(
    ch: &mut Channel,
    link: &mut OtLink,
    n: usize,
    rng: &mut G,
) -> Result<AndTriples> {
    let a = BitVec::random(rng, n);
    let choices: Vec<bool> = a.iter().collect();
    // Bit 0 of each string, gathered into words as the strings are made (they are
    // never stored): 64 triples per word, appended in order (the drivers hand over
    // batches in order, each a whole number of words but the last).
    fn word(bits: impl Iterator<Item = u64>) -> u64 {
        bits.enumerate().fold(0, |w, (j, b)| w | (b << j))
    }
    let low = |x: &Block| x.0 as u64 & 1;
    let words = n.div_ceil(64);
    let (mut v, mut u, mut bw) = (
        Vec::with_capacity(words),
        Vec::with_capacity(words),
        Vec::with_capacity(words),
    );
    exchange_random_with(
        ch,
        (&mut link.receiver, &mut link.sender),
        &choices,
        n,
        |_, y| v.extend(y.chunks(64).map(|c| word(c.iter().map(low)))),
        |_, x| {
            for c in x.chunks(64) {
                u.push(word(c.iter().map(|[m0, _]| low(m0))));
                bw.push(word(c.iter().map(|[m0, m1]| low(m0) ^ low(m1))));
            }
        },
    )
    .await?;
    if (v.len(), u.len()) != (words, words) {
        return Err(Error::Protocol {
            step: "AND triples from OTs",
            detail: format!("{} and {} words of {words} made", v.len(), u.len()),
        });
    }
    let cw = (0..words)
        .map(|w| (a.words()[w] & bw[w]) ^ u[w] ^ v[w])
        .collect();
    Ok(AndTriples {
        a,
        b: BitVec::from_words(n, bw)?,
        c: BitVec::from_words(n, cw)?,
    })
}

/// The one ring element a random-OT string gives a length-1 vector: its low bits.
fn low<R: Ring>(s: Block) -> R {
    R::from_u64(s.0 as u64)
}

/// The `L > 1` ring elements a random-OT string expands to by the PRG, with `words` as
/// scratch (a length-1 vector takes the string's [`low`] bits instead).
fn expand<R: Ring>(s: Block, len: usize, words: &mut Vec<u64>, out: &mut Vec<R>) {
    Prg::expand_words(s, len, words);
    out.clear();
    out.extend(words.iter().map(|&w| R::from_u64(w)));
}

/// Bytes of slack a packed-corrections buffer keeps past its end for [`put_low`].
const PACK_SLACK: usize = 8;

/// Writes the low `w` bytes (little-endian, `w` in `1..=8`) of `v` at `out[at..]` and
/// returns the offset after them. The store is always 8 bytes (a fixed-size copy,
/// inlined, where a copy of run-time length is a libc call per element): the bytes
/// past `w` are overwritten by the next value, so `out` keeps [`PACK_SLACK`] bytes of
/// room past the last value.
#[inline]
fn put_low(out: &mut [u8], at: usize, v: u64, w: usize) -> usize {
    out[at..at + 8].copy_from_slice(&v.to_le_bytes());
    at + w
}

/// The value [`put_low`] wrote at `bytes[at..at + w]` (a fixed 8-byte load, masked, but
/// at the end of `bytes`).
#[inline]
fn get_low(bytes: &[u8], at: usize, w: usize) -> u64 {
    let mut x = [0u8; 8];
    match bytes.get(at..at + 8) {
        Some(b) => {
            x.copy_from_slice(b);
            let mask = if w >= 8 {
                u64::MAX
            } else {
                (1u64 << (8 * w)) - 1
            };
            u64::from_le_bytes(x) & mask
        }
        None => {
            x[..w].copy_from_slice(&bytes[at..at + w]);
            u64::from_le_bytes(x)
        }
    }
}

/// The receiver's choice bits for its scalars: bit `k` of `ys[t]` at `t·bits + k`.
fn vole_choices<R: Ring>(ys: &[R], bits: usize) -> Vec<bool> {
    ys.iter()
        .flat_map(|y| {
            let y = y.to_u64();
            (0..bits).map(move |k| (y >> k) & 1 == 1)
        })
        .collect()
}

/// Bytes of a correction of bit `k` of a scalar in a ring of `ring_bits` bits: only
/// its low `ring_bits − k` bits reach the result (it is multiplied by `2^k`), sent
/// whole bytes (Gilboa's product with the corrections cut to the bits that matter:
/// 288 bytes per Z_2^64 scalar and element instead of 512, 80 instead of 128 in
/// Z_2^32).
pub fn corr_bytes(ring_bits: usize, k: usize) -> usize {
    ring_bits.saturating_sub(k).div_ceil(8)
}

/// Bytes of corrections of one vector of `len` elements against a `bits`-wide scalar.
pub fn vector_corr_bytes(ring_bits: usize, bits: usize, len: usize) -> usize {
    len * (0..bits).map(|k| corr_bytes(ring_bits, k)).sum::<usize>()
}

/// The sender's step from its random OTs (`bits` per vector of `xs`): the packed
/// corrections to send and its shares of `y_t · X_t`. Per bit `k` of the scalar, with
/// `R0, R1` the strings' expansions: the correction `R0 − R1 + X` cut to its low
/// `ℓ − k` bits ([`corr_bytes`] bytes each, little-endian), and the share `−2^k·R0`.
fn vole_sender_step<R: Ring>(
    ots: &[[Block; 2]],
    xs: &[R],
    len: usize,
    bits: usize,
) -> (Vec<u8>, Vec<R>) {
    let ring = R::BITS as usize;
    let t = xs.len().checked_div(len).unwrap_or(0);
    let size = t * vector_corr_bytes(ring, bits, len);
    let mut share = vec![R::zero(); t * len];
    let mut corr = vec![0u8; size + PACK_SLACK];
    let (mut r0, mut r1, mut words) = (Vec::new(), Vec::new(), Vec::new());
    let mut at = 0;
    for ti in 0..t {
        let x = &xs[ti * len..(ti + 1) * len];
        let out = &mut share[ti * len..(ti + 1) * len];
        for k in 0..bits {
            let [m0, m1] = ots[ti * bits + k];
            let (scale, w) = (R::from_u64(1u64 << k), corr_bytes(ring, k));
            if len == 1 {
                let (a, b) = (low::<R>(m0), low::<R>(m1));
                at = put_low(&mut corr, at, (a - b + x[0]).to_u64(), w);
                out[0] -= scale * a;
                continue;
            }
            expand::<R>(m0, len, &mut words, &mut r0);
            expand::<R>(m1, len, &mut words, &mut r1);
            for (j, o) in out.iter_mut().enumerate() {
                at = put_low(&mut corr, at, (r0[j] - r1[j] + x[j]).to_u64(), w);
                *o -= scale * r0[j];
            }
        }
    }
    corr.truncate(size);
    (corr, share)
}

/// The receiver's step: its shares of `y_t · X_t` from its chosen strings and the
/// sender's packed corrections: `Σ_k 2^k·(R_{y_k} + y_k·c_k)`.
///
/// # Errors
/// [`Error::Protocol`] if `corr` is not the size the scalars and `len` make.
fn vole_receiver_step<R: Ring>(
    got: &[Block],
    choices: &[bool],
    corr: &[u8],
    len: usize,
    bits: usize,
) -> Result<Vec<R>> {
    let ring = R::BITS as usize;
    let t = got.len().checked_div(bits).unwrap_or(0);
    if corr.len() != t * vector_corr_bytes(ring, bits, len) {
        return Err(Error::Protocol {
            step: "vector OLE (receiver)",
            detail: format!(
                "{} bytes of corrections for {t} vectors of {len}, expected {}",
                corr.len(),
                t * vector_corr_bytes(ring, bits, len)
            ),
        });
    }
    let mut share = vec![R::zero(); t * len];
    let (mut rc, mut words) = (Vec::new(), Vec::new());
    let mut at = 0;
    for ti in 0..t {
        let out = &mut share[ti * len..(ti + 1) * len];
        for k in 0..bits {
            let i = ti * bits + k;
            let (scale, w) = (R::from_u64(1u64 << k), corr_bytes(ring, k));
            if len == 1 {
                let mut v = low::<R>(got[i]);
                if choices[i] {
                    v += R::from_u64(get_low(corr, at, w));
                }
                out[0] += scale * v;
                at += w;
                continue;
            }
            expand::<R>(got[i], len, &mut words, &mut rc);
            if choices[i] {
                for (o, &r) in out.iter_mut().zip(&rc) {
                    *o += scale * (r + R::from_u64(get_low(corr, at, w)));
                    at += w;
                }
            } else {
                for (o, &r) in out.iter_mut().zip(&rc) {
                    *o += scale * r;
                }
                at += w * len;
            }
        }
    }
    Ok(share)
}

/// Ring elements of corrections per message of a one-way vector OLE (about 9 MB
/// packed in Z_2^64): the sender computes and sends them chunk by chunk, the receiver
/// folds each in as it arrives, so memory stays bounded however large the OLE. Sized
/// by measurement (the MLP's and CNN's OT offline phase at batch 10 on `local`,
/// interleaved runs): chunks of 2^23 elements (36 MB messages, each in fresh pages the
/// kernel faults in and zeroes) were 25–40 % slower; 2^20 and 2^22 slower than 2^21 by
/// 10–25 % in four runs each (this VM's noise is ±15 %), 2^18 slower again. The first
/// query after the phase on `lan` is as fast as with 2^23 (8 runs each).
pub const CORR_CHUNK_ELEMS: usize = 1 << 21;

/// Vector OLE in both directions at once, two rounds: this party is the sender of
/// `xs` (`T` vectors of length `len`) against the other party's scalars, and the
/// receiver of its scalars `ys` against the other party's vectors (of the same
/// length); the scalars are `bits` wide (ℓ for ring elements, 1 for bits: one OT per
/// bit). Either side may be empty (a one-way OLE: its corrections go in chunks of
/// [`CORR_CHUNK_ELEMS`], all from one side, still one round). Returns (its shares as
/// sender, its shares as receiver).
///
/// # Errors
/// Transport errors or a short message from the peer.
pub async fn vole<R: Ring>(
    ch: &mut Channel,
    link: &mut OtLink,
    xs: &[R],
    ys: &[R],
    len: usize,
    bits: usize,
) -> Result<(Vec<R>, Vec<R>)> {
    let t_send = xs.len().checked_div(len).unwrap_or(0);
    let t_recv = ys.len();
    // Both sides derive the same chunking: by vectors, one chunk when both directions
    // run (each party then sends before it reads: one message each way).
    let per_vec = (bits * len).max(1);
    let vec_bytes = vector_corr_bytes(R::BITS as usize, bits, len);
    let chunk = |t: usize| {
        if xs.is_empty() || ys.is_empty() {
            (CORR_CHUNK_ELEMS / per_vec).max(1)
        } else {
            t.max(1)
        }
    };
    // 1–2. As receiver, the extension message out (never waiting for the peer's);
    // as sender, the peer's extension message in (the two worked on in turn); then
    // the corrections out.
    let choices = vole_choices(ys, bits);
    let (mut got, mut ots) = (
        Vec::with_capacity(choices.len()),
        Vec::with_capacity(t_send * bits),
    );
    exchange_random_with(
        ch,
        (&mut link.receiver, &mut link.sender),
        &choices,
        t_send * bits,
        |_, y| got.extend_from_slice(y),
        |_, x| ots.extend_from_slice(x),
    )
    .await?;
    let mut mine = Vec::with_capacity(t_send * len);
    let cs = chunk(t_send);
    for t0 in (0..t_send).step_by(cs) {
        let t1 = (t0 + cs).min(t_send);
        let (corr, share) = vole_sender_step(
            &ots[t0 * bits..t1 * bits],
            &xs[t0 * len..t1 * len],
            len,
            bits,
        );
        ch.send_pod_stream(corr).await?;
        mine.extend(share);
    }
    // 3. As receiver: the peer's corrections in.
    let mut theirs = Vec::with_capacity(t_recv * len);
    let cr = chunk(t_recv);
    for t0 in (0..t_recv).step_by(cr) {
        let t1 = (t0 + cr).min(t_recv);
        let corr: Vec<u8> = ch.recv_pod_stream((t1 - t0) * vec_bytes).await?;
        theirs.extend(vole_receiver_step::<R>(
            &got[t0 * bits..t1 * bits],
            &choices[t0 * bits..t1 * bits],
            &corr,
            len,
            bits,
        )?);
    }
    Ok((mine, theirs))
}

fn random_array<R: Ring, G: RngCore + ?Sized>(rng: &mut G, shape: &[usize]) -> ArrayD<R> {
    let n = shape.iter().product();
    let v = (0..n).map(|_| R::from_u64(rng.next_u64())).collect();
    // The shape's product is the vector's length.
    ArrayD::from_shape_vec(IxDyn(shape), v).unwrap_or_else(|_| ArrayD::zeros(IxDyn(shape)))
}

/// A Beaver triple for `op` on operands of shapes `a` and `b`, this party's shares:
/// `C_p = op(A_p, B_p) + [op(A_p, B_{1−p})] + [op(A_{1−p}, B_p)]`, the bracketed
/// cross terms by vector OLE — party `p` is the VOLE sender of its `A_p` against the
/// other's `B` and the receiver of its `B_p` against the other's `A`.
/// Element-wise products take one OLE per element each way; matrix products
/// `[m, k]·[k, n]` one length-`m` OLE per entry of `B` each way (Gilboa's method:
/// `ℓ·k·n` OTs and `ℓ·k·n·m` ring elements per direction); convolutions one OLE per
/// kernel entry (`ConvWindows`: ℓ ring elements per multiply-add).
///
/// # Errors
/// [`Error::Shape`] for operand shapes that do not fit `op`, or transport errors.
pub async fn beaver<R: Ring, G: RngCore + CryptoRng + ?Sized>(
    ch: &mut Channel,
    link: &mut OtLink,
    op: &BilinearOp,
    a_shape: &[usize],
    b_shape: &[usize],
    rng: &mut G,
) -> Result<BeaverTriple<R>> {
    let a: ArrayD<R> = random_array(rng, a_shape);
    let b: ArrayD<R> = random_array(rng, b_shape);
    let shape_err = |detail: String| Error::Shape {
        op: "Beaver triple from OTs",
        detail,
    };
    let c = match op {
        BilinearOp::Elementwise => {
            if a_shape != b_shape {
                return Err(shape_err(format!(
                    "element-wise operands {a_shape:?} and {b_shape:?} differ"
                )));
            }
            let av: Vec<R> = a.iter().copied().collect();
            let bv: Vec<R> = b.iter().copied().collect();
            let (x, y) = vole(ch, link, &av, &bv, 1, R::BITS as usize).await?;
            let c: Vec<R> = (0..av.len()).map(|i| av[i] * bv[i] + x[i] + y[i]).collect();
            ArrayD::from_shape_vec(IxDyn(a_shape), c).map_err(|e| shape_err(e.to_string()))?
        }
        BilinearOp::Broadcast => {
            // The cross terms on B broadcast to A's shape: element-wise OLEs.
            let bb = b.broadcast(IxDyn(a_shape)).ok_or_else(|| {
                shape_err(format!("{b_shape:?} does not broadcast to {a_shape:?}"))
            })?;
            let av: Vec<R> = a.iter().copied().collect();
            let bv: Vec<R> = bb.iter().copied().collect();
            let (x, y) = vole(ch, link, &av, &bv, 1, R::BITS as usize).await?;
            let c: Vec<R> = (0..av.len()).map(|i| av[i] * bv[i] + x[i] + y[i]).collect();
            ArrayD::from_shape_vec(IxDyn(a_shape), c).map_err(|e| shape_err(e.to_string()))?
        }
        BilinearOp::MatMul | BilinearOp::BatchMatMul => {
            // A matrix product is a batch of one.
            let (bt, m, k, k2, n) = match (op, a_shape, b_shape) {
                (BilinearOp::MatMul, &[m, k], &[k2, n]) => (1, m, k, k2, n),
                (BilinearOp::BatchMatMul, &[bt, m, k], &[bt2, k2, n]) if bt == bt2 => {
                    (bt, m, k, k2, n)
                }
                _ => {
                    return Err(shape_err(format!("{op} of {a_shape:?} and {b_shape:?}")));
                }
            };
            if k != k2 {
                return Err(shape_err(format!("inner dimensions {k} and {k2}")));
            }
            let av: Vec<R> = a.iter().copied().collect();
            // Entry (t, s, j) of B scales column s of A_t into column j of product t:
            // vectors X_(t,s,j) = A_t[:, s] (length m), one per entry of B, row-major.
            let mut xs: Vec<R> = Vec::with_capacity(bt * k * n * m);
            for t in 0..bt {
                for s in 0..k {
                    for _ in 0..n {
                        xs.extend((0..m).map(|i| av[(t * m + i) * k + s]));
                    }
                }
            }
            let ys: Vec<R> = b.iter().copied().collect();
            let (x, y) = vole(ch, link, &xs, &ys, m, R::BITS as usize).await?;
            let out_shape = op.output_shape(a_shape, b_shape)?;
            let mut c = ArrayD::from_elem(IxDyn(&out_shape), R::zero());
            op.accumulate(a.view(), b.view(), &mut c)?;
            if let Some(cs) = c.as_slice_mut() {
                for t in 0..bt {
                    for s in 0..k {
                        for j in 0..n {
                            let base = ((t * k + s) * n + j) * m;
                            for i in 0..m {
                                cs[(t * m + i) * n + j] += x[base + i] + y[base + i];
                            }
                        }
                    }
                }
            }
            c
        }
        BilinearOp::Conv(p) => {
            let av: Vec<R> = a.iter().copied().collect();
            let bv: Vec<R> = b.iter().copied().collect();
            let w = ConvWindows::new(p, a_shape, b_shape)?;
            let xs = w.vectors(&av);
            let (x, y) = vole(ch, link, &xs, &bv, w.len, R::BITS as usize).await?;
            let mut c = ArrayD::from_elem(IxDyn(&w.out_shape), R::zero());
            op.accumulate(a.view(), b.view(), &mut c)?;
            if let Some(cs) = c.as_slice_mut() {
                w.fold(&x, cs);
                w.fold(&y, cs);
            }
            c
        }
    };
    Ok(BeaverTriple { op: *op, a, b, c })
}

/// A convolution `conv(X, K)` as a sum over the kernel's entries: entry `t` of `K`
/// (output channel `o`) scales the vector `X_t` of the input values each output
/// position of channel `o` reads at that tap (zero in the padding), `N · P` long.
/// Vector OLE of `K`'s entries against those vectors gives shares of the product: ℓ
/// OTs per kernel entry and ℓ ring elements per multiply-add.
pub(crate) struct ConvWindows {
    geo: crate::arith::window::ConvGeometry,
    batch: usize,
    kernel_len: usize,
    /// `N · P`, the length of each vector.
    pub(crate) len: usize,
    /// `[N, O, …out]`.
    pub(crate) out_shape: Vec<usize>,
}

impl ConvWindows {
    pub(crate) fn new(p: &crate::ConvParams, a: &[usize], b: &[usize]) -> Result<Self> {
        let (batch, geo, out_shape) = p.geometry(a, b).ok_or_else(|| Error::Shape {
            op: "convolution correlation from OTs",
            detail: format!("input {a:?} and kernel {b:?} do not fit the window"),
        })?;
        Ok(ConvWindows {
            len: batch * geo.out_positions,
            kernel_len: b.iter().product(),
            batch,
            geo,
            out_shape,
        })
    }

    /// The channel and tap of kernel entry `t`, and its output channel.
    fn entry(&self, t: usize) -> (usize, usize, usize) {
        let g = &self.geo;
        let cg = g.channels / g.groups;
        let per_o = cg * g.taps;
        let (o, rest) = (t / per_o, t % per_o);
        let (c, tap) = (rest / g.taps, rest % g.taps);
        let group = o / (g.out_channels / g.groups);
        (group * cg + c, tap, o)
    }

    /// The vectors `X_t` of input `x` (`[N, C, …in]`, row-major), kernel order.
    pub(crate) fn vectors<R: Ring>(&self, x: &[R]) -> Vec<R> {
        let g = &self.geo;
        let (pin, pout) = (g.in_positions, g.out_positions);
        let mut out = Vec::with_capacity(self.kernel_len * self.len);
        for t in 0..self.kernel_len {
            let (ch, tap, _) = self.entry(t);
            for n in 0..self.batch {
                let base = (n * g.channels + ch) * pin;
                out.extend((0..pout).map(|p| match g.idx[p * g.taps + tap] {
                    Some(i) => x[base + i],
                    None => R::zero(),
                }));
            }
        }
        out
    }

    /// Adds shares of `K_t · X_t` (kernel order, `len` each) into the output.
    pub(crate) fn fold<R: Ring>(&self, shares: &[R], out: &mut [R]) {
        let g = &self.geo;
        let pout = g.out_positions;
        for t in 0..self.kernel_len {
            let (_, _, o) = self.entry(t);
            for n in 0..self.batch {
                let src = &shares[t * self.len + n * pout..t * self.len + (n + 1) * pout];
                let dst =
                    &mut out[(n * g.out_channels + o) * pout..(n * g.out_channels + o + 1) * pout];
                for (d, &v) in dst.iter_mut().zip(src) {
                    *d += v;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tessera_core::{Z32, Z64};

    /// Gilboa's steps alone, on random OTs made by hand: the sender's and the
    /// receiver's shares add up to `y_t·X_t` for every scalar and element, with the
    /// corrections cut to the bits that matter, in both rings, for vectors and bits.
    fn steps_multiply<R: Ring>(bits: usize, len: usize, t: usize, seed: u64) {
        let mut g = Prg::from_seed_block(Block(u128::from(seed)));
        let xs: Vec<R> = (0..t * len).map(|_| R::from_u64(g.next_u64())).collect();
        let ys: Vec<R> = (0..t)
            .map(|_| R::from_u64(g.next_u64() & (u64::MAX >> (64 - bits))))
            .collect();
        let ots: Vec<[Block; 2]> = (0..t * bits)
            .map(|_| [Block::random(&mut g), Block::random(&mut g)])
            .collect();
        let choices = vole_choices(&ys, bits);
        let got: Vec<Block> = ots
            .iter()
            .zip(&choices)
            .map(|(p, &c)| p[usize::from(c)])
            .collect();
        let (corr, mine) = vole_sender_step(&ots, &xs, len, bits);
        assert_eq!(
            corr.len(),
            t * vector_corr_bytes(R::BITS as usize, bits, len)
        );
        let theirs = vole_receiver_step::<R>(&got, &choices, &corr, len, bits).unwrap();
        for (ti, &y) in ys.iter().enumerate() {
            for j in 0..len {
                let i = ti * len + j;
                assert_eq!(mine[i] + theirs[i], y * xs[i], "scalar {ti}, element {j}");
            }
        }
        // A correction message of the wrong size is an error, not a panic.
        if !corr.is_empty() {
            let short = &corr[..corr.len() - 1];
            assert!(vole_receiver_step::<R>(&got, &choices, short, len, bits).is_err());
        }
    }

    #[test]
    fn packed_corrections_still_multiply() {
        for seed in 0..4 {
            steps_multiply::<Z64>(64, 1, 9, seed);
            steps_multiply::<Z64>(64, 3, 4, seed);
            steps_multiply::<Z64>(1, 2, 5, seed);
            steps_multiply::<Z32>(32, 1, 9, seed);
            steps_multiply::<Z32>(32, 5, 2, seed);
            steps_multiply::<Z32>(1, 1, 7, seed);
        }
        assert_eq!(vector_corr_bytes(64, 64, 1), 288);
        assert_eq!(vector_corr_bytes(32, 32, 1), 80);
        assert_eq!(vector_corr_bytes(64, 1, 3), 24);
    }
}
