//! The rings Z_2^32 and Z_2^64 that arithmetic sharing works in.
//!
//! Elements are [`std::num::Wrapping`] integers, so `+`, `-`, `*` and unary `-` wrap
//! modulo 2^ℓ in every build profile, and ndarray's generic arithmetic (including
//! `dot`) works on them directly. [`Z32`] and [`Z64`] name the two rings.

use std::fmt::Debug;
use std::hash::Hash;
use std::num::Wrapping;
use std::ops::{Add, AddAssign, Mul, MulAssign, Neg, Sub, SubAssign};

use num_traits::{One, Zero};
use rand_core::RngCore;
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::{Error, Result};

/// Z_2^32.
pub type Z32 = Wrapping<u32>;
/// Z_2^64 (the default ring).
pub type Z64 = Wrapping<u64>;

/// A ring Z_2^ℓ with wrapping arithmetic, uniform sampling and a compact
/// little-endian wire encoding (exactly ℓ/8 bytes per element, no per-element overhead).
pub trait Ring:
    Copy
    + Default
    + Eq
    + Ord
    + Hash
    + Debug
    + Send
    + Sync
    + 'static
    + Add<Output = Self>
    + Sub<Output = Self>
    + Mul<Output = Self>
    + Neg<Output = Self>
    + AddAssign
    + SubAssign
    + MulAssign
    + Zero
    + One
    + bytemuck::Pod
    + Serialize
    + DeserializeOwned
{
    /// ℓ, the bit width.
    const BITS: u32;
    /// ℓ / 8, the encoded size in bytes.
    const BYTES: usize;
    /// A short name for configuration fingerprints ("Z32", "Z64").
    const NAME: &'static str;

    /// Reduces `v` modulo 2^ℓ.
    fn from_u64(v: u64) -> Self;
    /// The canonical representative in [0, 2^ℓ).
    fn to_u64(self) -> u64;
    /// Embeds a signed integer (two's complement, reduced modulo 2^ℓ).
    fn from_i64(v: i64) -> Self {
        Self::from_u64(v as u64)
    }
    /// The signed (two's-complement) representative in [-2^(ℓ-1), 2^(ℓ-1)).
    fn to_i64(self) -> i64;
    /// Arithmetic (sign-extending) right shift of the signed representative.
    fn shr_signed(self, k: u32) -> Self {
        Self::from_i64(self.to_i64() >> k)
    }
    /// Logical right shift of the canonical representative.
    fn shr_logical(self, k: u32) -> Self {
        Self::from_u64(self.to_u64() >> k)
    }
    /// Bit `i` of the canonical representative.
    fn bit(self, i: u32) -> bool {
        (self.to_u64() >> i) & 1 == 1
    }

    /// A uniformly random element.
    fn random<G: RngCore + ?Sized>(rng: &mut G) -> Self {
        Self::from_u64(rng.next_u64())
    }
    /// Fills `out` with uniformly random elements (one bulk PRG call).
    fn fill_random<G: RngCore + ?Sized>(rng: &mut G, out: &mut [Self]) {
        // Uniform bytes are uniform elements in either byte order.
        rng.fill_bytes(bytemuck::cast_slice_mut(out));
    }
    /// `n` uniformly random elements.
    fn random_vec<G: RngCore + ?Sized>(rng: &mut G, n: usize) -> Vec<Self> {
        let mut v = vec![Self::zero(); n];
        Self::fill_random(rng, &mut v);
        v
    }

    /// Appends the little-endian encoding of `xs` to `out`.
    fn encode_slice(xs: &[Self], out: &mut Vec<u8>) {
        if cfg!(target_endian = "little") {
            out.extend_from_slice(bytemuck::cast_slice(xs));
        } else {
            for x in xs {
                out.extend_from_slice(&x.to_u64().to_le_bytes()[..Self::BYTES]);
            }
        }
    }
    /// Decodes a little-endian byte string produced by [`Ring::encode_slice`].
    ///
    /// # Errors
    /// [`Error::Malformed`] if the length is not a multiple of ℓ/8.
    fn decode_slice(bytes: &[u8]) -> Result<Vec<Self>> {
        if !bytes.len().is_multiple_of(Self::BYTES) {
            return Err(Error::Malformed {
                expected: Self::NAME,
                reason: format!(
                    "{} bytes is not a multiple of the element size {}",
                    bytes.len(),
                    Self::BYTES
                ),
            });
        }
        let mut out = vec![Self::zero(); bytes.len() / Self::BYTES];
        if cfg!(target_endian = "little") {
            bytemuck::cast_slice_mut::<Self, u8>(&mut out).copy_from_slice(bytes);
        } else {
            for (x, c) in out.iter_mut().zip(bytes.chunks_exact(Self::BYTES)) {
                let mut b = [0u8; 8];
                b[..Self::BYTES].copy_from_slice(c);
                *x = Self::from_u64(u64::from_le_bytes(b));
            }
        }
        Ok(out)
    }
}

impl Ring for Z64 {
    const BITS: u32 = 64;
    const BYTES: usize = 8;
    const NAME: &'static str = "Z64";
    #[inline]
    fn from_u64(v: u64) -> Self {
        Wrapping(v)
    }
    #[inline]
    fn to_u64(self) -> u64 {
        self.0
    }
    #[inline]
    fn to_i64(self) -> i64 {
        self.0 as i64
    }
}

impl Ring for Z32 {
    const BITS: u32 = 32;
    const BYTES: usize = 4;
    const NAME: &'static str = "Z32";
    #[inline]
    fn from_u64(v: u64) -> Self {
        Wrapping(v as u32)
    }
    #[inline]
    fn to_u64(self) -> u64 {
        u64::from(self.0)
    }
    #[inline]
    fn to_i64(self) -> i64 {
        i64::from(self.0 as i32)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signed_views() {
        assert_eq!(Z32::from_i64(-1).to_u64(), u64::from(u32::MAX));
        assert_eq!(Z32::from_i64(-1).to_i64(), -1);
        assert_eq!(Z64::from_i64(-5).shr_signed(1).to_i64(), -3);
        assert_eq!(Z32::from_u64(1 << 40).to_u64(), 0);
    }

    #[test]
    fn decode_rejects_ragged_input() {
        assert!(Z64::decode_slice(&[0u8; 9]).is_err());
        assert!(Z32::decode_slice(&[0u8; 6]).is_err());
    }
}
