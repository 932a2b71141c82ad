//! 128-bit blocks: wire labels, PRG seeds, OT strings.

use std::ops::{BitAnd, BitAndAssign, BitXor, BitXorAssign};

use rand_core::RngCore;
use serde::{Deserialize, Serialize};

/// A 128-bit block. `Debug` is redacted because blocks are labels, seeds and OT
/// strings; use [`Block::to_hex`] deliberately where a value may be shown.
#[derive(
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    Default,
    bytemuck::Pod,
    bytemuck::Zeroable,
    Serialize,
    Deserialize,
)]
#[repr(transparent)]
pub struct Block(pub u128);

impl std::fmt::Debug for Block {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Block(<redacted>)")
    }
}

impl Block {
    /// The all-zero block.
    pub const ZERO: Block = Block(0);
    /// The block with only the least significant bit set.
    pub const ONE: Block = Block(1);

    /// From 16 little-endian bytes.
    pub const fn from_bytes(b: [u8; 16]) -> Self {
        Block(u128::from_le_bytes(b))
    }

    /// To 16 little-endian bytes.
    pub const fn to_bytes(self) -> [u8; 16] {
        self.0.to_le_bytes()
    }

    /// Lowest bit (the point-and-permute bit of a label).
    #[inline]
    pub const fn lsb(self) -> bool {
        self.0 & 1 == 1
    }

    /// A uniformly random block.
    pub fn random<G: RngCore + ?Sized>(rng: &mut G) -> Self {
        let mut b = [0u8; 16];
        rng.fill_bytes(&mut b);
        Block::from_bytes(b)
    }

    /// `n` uniformly random blocks (one bulk PRG call).
    pub fn random_vec<G: RngCore + ?Sized>(rng: &mut G, n: usize) -> Vec<Block> {
        let mut v = vec![Block::ZERO; n];
        rng.fill_bytes(bytemuck::cast_slice_mut(&mut v));
        v
    }

    /// Hex of the little-endian bytes (for deliberate display of public blocks).
    pub fn to_hex(self) -> String {
        hex::encode(self.to_bytes())
    }

    /// The block `self` if `b`, else zero (constant-time select by mask).
    #[inline]
    pub fn and_bit(self, b: bool) -> Block {
        Block(self.0 & (b as u128).wrapping_neg())
    }
}

impl BitXor for Block {
    type Output = Block;
    #[inline]
    fn bitxor(self, r: Block) -> Block {
        Block(self.0 ^ r.0)
    }
}

impl BitXorAssign for Block {
    #[inline]
    fn bitxor_assign(&mut self, r: Block) {
        self.0 ^= r.0;
    }
}

impl BitAnd for Block {
    type Output = Block;
    #[inline]
    fn bitand(self, r: Block) -> Block {
        Block(self.0 & r.0)
    }
}

impl BitAndAssign for Block {
    #[inline]
    fn bitand_assign(&mut self, r: Block) {
        self.0 &= r.0;
    }
}

impl From<u128> for Block {
    fn from(v: u128) -> Self {
        Block(v)
    }
}
