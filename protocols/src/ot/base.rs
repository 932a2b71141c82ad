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
//! separator, the transfer's index and the transcript). The sender pays one
//! variable-base scalar multiplication per transfer (`a·A` is shared), the receiver
//! one fixed-base and one variable-base.
//!
//! Points on the wire are 32-byte compressed Ristretto encodings; one that does not
//! decode, or the identity for `A`, is a protocol error, never a panic.

use curve25519_dalek::constants::RISTRETTO_BASEPOINT_TABLE;
use curve25519_dalek::ristretto::{CompressedRistretto, RistrettoPoint};
use curve25519_dalek::scalar::Scalar;
use curve25519_dalek::traits::Identity;
use rand_core::{CryptoRng, RngCore};
use sha2::{Digest, Sha256};
use tessera_core::Block;

use crate::{Error, Result};

/// Bytes of one compressed point on the wire.
pub const POINT_BYTES: usize = 32;

const DOMAIN: &[u8] = b"tessera/ot/chou-orlandi/v1";

fn random_scalar<G: RngCore + CryptoRng + ?Sized>(rng: &mut G) -> Scalar {
    let mut wide = [0u8; 64];
    rng.fill_bytes(&mut wide);
    Scalar::from_bytes_mod_order_wide(&wide)
}

fn key(i: usize, a: &[u8; 32], b: &[u8; 32], p: &RistrettoPoint) -> Block {
    let mut h = Sha256::new();
    h.update(DOMAIN);
    h.update((i as u64).to_le_bytes());
    h.update(a);
    h.update(b);
    h.update(p.compress().as_bytes());
    let d = h.finalize();
    let mut k = [0u8; 16];
    k.copy_from_slice(&d[..16]);
    Block::from_bytes(k)
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
        let a_a = point * a;
        (BaseSender { a, big_a, a_a }, big_a.to_vec())
    }

    /// Step 3: the pairs `(k0_i, k1_i)` from the receiver's message (`n` points).
    ///
    /// # Errors
    /// [`Error::Protocol`] if the message is not `n` valid points.
    pub fn finish(self, reply: &[u8], n: usize) -> Result<Vec<[Block; 2]>> {
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
        reply
            .chunks_exact(POINT_BYTES)
            .enumerate()
            .map(|(i, c)| {
                let (b_bytes, b) = decode(c, "base OT (sender)")?;
                let ab = b * self.a;
                Ok([
                    key(i, &self.big_a, &b_bytes, &ab),
                    key(i, &self.big_a, &b_bytes, &(ab - self.a_a)),
                ])
            })
            .collect()
    }
}

/// Step 2, the receiver: from the sender's `A` and the choice bits, the reply
/// (`choices.len()` points) and the chosen keys `k_{c_i}`.
///
/// # Errors
/// [`Error::Protocol`] if `A` is not a valid point or is the identity.
pub fn receive<G: RngCore + CryptoRng + ?Sized>(
    first: &[u8],
    choices: &[bool],
    rng: &mut G,
) -> Result<(Vec<u8>, Vec<Block>)> {
    let (a_bytes, big_a) = decode(first, "base OT (receiver)")?;
    if big_a == RistrettoPoint::identity() {
        return Err(Error::Protocol {
            step: "base OT (receiver)",
            detail: "the sender's point is the identity".into(),
        });
    }
    let mut reply = Vec::with_capacity(choices.len() * POINT_BYTES);
    let mut keys = Vec::with_capacity(choices.len());
    for (i, &c) in choices.iter().enumerate() {
        let b = random_scalar(rng);
        let bg = RISTRETTO_BASEPOINT_TABLE * &b;
        let big_b = if c { big_a + bg } else { bg };
        let b_bytes = big_b.compress().to_bytes();
        reply.extend_from_slice(&b_bytes);
        keys.push(key(i, &a_bytes, &b_bytes, &(big_a * b)));
    }
    Ok((reply, keys))
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
