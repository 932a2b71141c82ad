//! Base oblivious transfers: the "simplest OT" of Chou and Orlandi (LATINCRYPT 2015)
//! over the Ristretto255 group, semi-honest, as pure steps.
//!
//! 1. The sender draws `a`, sends `A = a·G`.
//! 2. The receiver, for each transfer `i` with choice `c_i`, draws `b_i` and sends
//!    `B_i = b_i·G` (choice 0) or `A + b_i·G` (choice 1); its key is `H(i, A, B_i, b_i·A)`.
//! 3. The sender's keys are `k0_i = H(i, A, B_i, a·B_i)` and
//!    `k1_i = H(i, A, B_i, a·B_i − a·A)`.
//!
//! `B_i` is uniform whatever `c_i` (the receiver's privacy), and without `a` the
//! receiver cannot compute `a·(B_i − A)` for its other key (CDH; semi-honest security
//! in the random-oracle model, `H` being SHA-256 truncated to 128 bits with a domain
//! separator, the transfer's index and the transcript; the shared point enters it as
//! the encoding of its double, which the batched compression of
//! [`RistrettoPoint::double_and_compress_batch`] makes with one field inversion for
//! all of a message's points — doubling is a bijection of the prime-order group).
//!
//! Costs: the sender pays one variable-base scalar multiplication per transfer (`a·A`
//! is shared); the receiver one multiplication by the fixed base `G` and one by `A`,
//! the latter through a table of `A`'s multiples built once per set-up
//! ([`BaseReceiver::new`]) — as fast as the fixed base, three times faster than a
//! variable-base multiplication. A reply may be cut into parts ([`BaseReceiver::reply`]
//! with the index of its first transfer, [`BaseSender::finish_part`]) so that the
//! sender works on one part while the receiver computes the next.
//!
//! Points on the wire are 32-byte compressed Ristretto encodings; one that does not
//! decode, or the identity for `A`, is a protocol error, never a panic.

use curve25519_dalek::constants::RISTRETTO_BASEPOINT_TABLE;
use curve25519_dalek::ristretto::{CompressedRistretto, RistrettoBasepointTable, RistrettoPoint};
use curve25519_dalek::scalar::Scalar;
use curve25519_dalek::traits::Identity;
use rand_core::{CryptoRng, RngCore};
use sha2::{Digest, Sha256};
use tessera_core::Block;

use crate::{Error, Result};

/// Bytes of one compressed point on the wire.
pub const POINT_BYTES: usize = 32;

const DOMAIN: &[u8] = b"tessera/ot/chou-orlandi/v2";

fn random_scalar<G: RngCore + CryptoRng + ?Sized>(rng: &mut G) -> Scalar {
    let mut wide = [0u8; 64];
    rng.fill_bytes(&mut wide);
    Scalar::from_bytes_mod_order_wide(&wide)
}

/// The keys of transfers `first..` from the encodings of the doubles of their shared
/// points (`doubles[k]` for transfer `first + k`) and their `B`s.
fn keys(
    first: usize,
    a: &[u8; 32],
    bs: &[[u8; 32]],
    doubles: &[CompressedRistretto],
) -> impl Iterator<Item = Block> {
    bs.iter().zip(doubles).enumerate().map(move |(k, (b, p))| {
        let mut h = Sha256::new();
        h.update(DOMAIN);
        h.update(((first + k) as u64).to_le_bytes());
        h.update(a);
        h.update(b);
        h.update(p.as_bytes());
        let d = h.finalize();
        let mut key = [0u8; 16];
        key.copy_from_slice(&d[..16]);
        Block::from_bytes(key)
    })
}

fn decode(bytes: &[u8], step: &'static str) -> Result<([u8; 32], RistrettoPoint)> {
    let arr: [u8; 32] = bytes.try_into().map_err(|_| Error::Protocol {
        step,
        detail: format!("a point is {POINT_BYTES} bytes, got {}", bytes.len()),
    })?;
    let p = CompressedRistretto(arr)
        .decompress()
        .ok_or_else(|| Error::Protocol {
            step,
            detail: "the peer's point is not a valid Ristretto255 encoding".into(),
        })?;
    Ok((arr, p))
}

/// The sender's state between its first message and the receiver's reply. Its scalar
/// never appears in `Debug`.
pub struct BaseSender {
    a: Scalar,
    big_a: [u8; 32],
    a_a: RistrettoPoint,
}

impl std::fmt::Debug for BaseSender {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("BaseSender(<redacted>)")
    }
}

impl BaseSender {
    /// Step 1: a fresh sender and its message `A` (32 bytes).
    pub fn start<G: RngCore + CryptoRng + ?Sized>(rng: &mut G) -> (Self, Vec<u8>) {
        let a = random_scalar(rng);
        let point = RISTRETTO_BASEPOINT_TABLE * &a;
        let big_a = point.compress().to_bytes();
        // a·A = (a·a)·G: a multiplication by the fixed base, three times faster.
        let a_a = RISTRETTO_BASEPOINT_TABLE * &(a * a);
        (BaseSender { a, big_a, a_a }, big_a.to_vec())
    }

    /// Step 3: the pairs `(k0_i, k1_i)` from the receiver's message (`n` points).
    ///
    /// # Errors
    /// [`Error::Protocol`] if the message is not `n` valid points.
    pub fn finish(self, reply: &[u8], n: usize) -> Result<Vec<[Block; 2]>> {
        self.finish_part(0, reply, n)
    }

    /// Step 3 for a part of the reply: the pairs of transfers `first..first + n` from
    /// their `n` points.
    ///
    /// # Errors
    /// [`Error::Protocol`] if the message is not `n` valid points.
    pub fn finish_part(&self, first: usize, reply: &[u8], n: usize) -> Result<Vec<[Block; 2]>> {
        if reply.len() != n * POINT_BYTES {
            return Err(Error::Protocol {
                step: "base OT (sender)",
                detail: format!(
                    "expected {n} points ({} bytes), got {} bytes",
                    n * POINT_BYTES,
                    reply.len()
                ),
            });
        }
        let mut bs = Vec::with_capacity(n);
        let mut shared = Vec::with_capacity(2 * n);
        for c in reply.chunks_exact(POINT_BYTES) {
            let (b_bytes, b) = decode(c, "base OT (sender)")?;
            let ab = b * self.a;
            bs.push(b_bytes);
            shared.push(ab);
            shared.push(ab - self.a_a);
        }
        let doubles = RistrettoPoint::double_and_compress_batch(&shared);
        let (d0, d1): (Vec<_>, Vec<_>) = doubles.chunks_exact(2).map(|d| (d[0], d[1])).unzip();
        Ok(keys(first, &self.big_a, &bs, &d0)
            .zip(keys(first, &self.big_a, &bs, &d1))
            .map(|(k0, k1)| [k0, k1])
            .collect())
    }
}

/// The receiver's state after the sender's `A`: `A` and the table of its multiples.
/// Holds nothing secret (the scalars `b_i` live only inside [`BaseReceiver::reply`]).
pub struct BaseReceiver {
    a_bytes: [u8; 32],
    big_a: RistrettoPoint,
    table: RistrettoBasepointTable,
}

impl std::fmt::Debug for BaseReceiver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("BaseReceiver")
    }
}

impl BaseReceiver {
    /// From the sender's first message.
    ///
    /// # Errors
    /// [`Error::Protocol`] if `A` is not a valid point or is the identity.
    pub fn new(first: &[u8]) -> Result<Self> {
        let (a_bytes, big_a) = decode(first, "base OT (receiver)")?;
        if big_a == RistrettoPoint::identity() {
            return Err(Error::Protocol {
                step: "base OT (receiver)",
                detail: "the sender's point is the identity".into(),
            });
        }
        Ok(BaseReceiver {
            a_bytes,
            big_a,
            table: RistrettoBasepointTable::create(&big_a),
        })
    }

    /// Step 2 for transfers `first..first + choices.len()`: their points (the reply, or
    /// a part of it) and the chosen keys `k_{c_i}`.
    pub fn reply<G: RngCore + CryptoRng + ?Sized>(
        &self,
        first: usize,
        choices: &[bool],
        rng: &mut G,
    ) -> (Vec<u8>, Vec<Block>) {
        let mut reply = Vec::with_capacity(choices.len() * POINT_BYTES);
        let mut bs = Vec::with_capacity(choices.len());
        let mut shared = Vec::with_capacity(choices.len());
        for &c in choices {
            let b = random_scalar(rng);
            let bg = RISTRETTO_BASEPOINT_TABLE * &b;
            let big_b = if c { self.big_a + bg } else { bg };
            let b_bytes = big_b.compress().to_bytes();
            reply.extend_from_slice(&b_bytes);
            bs.push(b_bytes);
            shared.push(&self.table * &b);
        }
        let doubles = RistrettoPoint::double_and_compress_batch(&shared);
        let keys = keys(first, &self.a_bytes, &bs, &doubles).collect();
        (reply, keys)
    }
}

/// Step 2, the receiver, in one message: from the sender's `A` and the choice bits,
/// the reply (`choices.len()` points) and the chosen keys `k_{c_i}`.
///
/// # Errors
/// [`Error::Protocol`] if `A` is not a valid point or is the identity.
pub fn receive<G: RngCore + CryptoRng + ?Sized>(
    first: &[u8],
    choices: &[bool],
    rng: &mut G,
) -> Result<(Vec<u8>, Vec<Block>)> {
    Ok(BaseReceiver::new(first)?.reply(0, choices, rng))
}

#[cfg(test)]
mod tests {
    use super::*;
    use tessera_core::Prg;

    #[test]
    fn chosen_keys_match_and_the_others_do_not() {
        let mut rng = Prg::from_seed_block(Block(7));
        let choices: Vec<bool> = (0..64).map(|i| (i * 7 + 3) % 5 < 2).collect();
        let (s, first) = BaseSender::start(&mut rng);
        let (reply, got) = receive(&first, &choices, &mut rng).unwrap();
        let pairs = s.finish(&reply, choices.len()).unwrap();
        for ((p, k), &c) in pairs.iter().zip(&got).zip(&choices) {
            assert_eq!(p[usize::from(c)], *k);
            assert_ne!(p[usize::from(!c)], *k);
            assert_ne!(p[0], p[1]);
        }
    }

    #[test]
    fn a_reply_in_parts_gives_every_transfer_its_keys() {
        let mut rng = Prg::from_seed_block(Block(11));
        let n = 40;
        let choices: Vec<bool> = (0..n).map(|i| (i * 5 + 1) % 3 == 0).collect();
        let (s, first) = BaseSender::start(&mut rng);
        let r = BaseReceiver::new(&first).unwrap();
        let (mut pairs, mut got) = (Vec::new(), Vec::new());
        for at in (0..n).step_by(16) {
            let c = &choices[at..(at + 16).min(n)];
            let (reply, k) = r.reply(at, c, &mut rng);
            got.extend(k);
            pairs.extend(s.finish_part(at, &reply, c.len()).unwrap());
        }
        let mut all = Vec::new();
        for ((p, k), &c) in pairs.iter().zip(&got).zip(&choices) {
            assert_eq!(p[usize::from(c)], *k);
            all.extend([p[0].0, p[1].0]);
        }
        all.sort_unstable();
        all.dedup();
        assert_eq!(
            all.len(),
            2 * n,
            "every key distinct (indices differ per part)"
        );
    }

    #[test]
    fn malformed_points_are_refused() {
        let mut rng = Prg::from_seed_block(Block(9));
        // Not a Ristretto encoding (high bit set), the identity, a short message.
        assert!(receive(&[0xff; 32], &[true], &mut rng).is_err());
        assert!(receive(&[0; 32], &[true], &mut rng).is_err());
        assert!(receive(&[1; 7], &[true], &mut rng).is_err());
        let (s, _) = BaseSender::start(&mut rng);
        assert!(s.finish(&[0xff; 32], 1).is_err());
        let (s, _) = BaseSender::start(&mut rng);
        assert!(s.finish(&[0; 64], 1).is_err());
    }
}
