//! Packed bit vectors, bit matrices, and the transpose between the value layout
//! ("n values of ℓ bits") and the bit-sliced layout ("ℓ wires of n bits") that GMW
//! and the conversions use.

use rand_core::RngCore;
use serde::{Deserialize, Serialize};

use crate::{Error, Result};

/// Number of u64 words needed for `bits` bits.
#[inline]
pub const fn words_for(bits: usize) -> usize {
    bits.div_ceil(64)
}

// Bit streams: `n` bits of a packed row (whose last word may carry garbage past `n`)
// written to or read from any bit offset of a packed stream; with offsets and
// lengths that are multiples of 64 both are word copies.

/// The mask of the valid bits in the last word of an `n`-bit row (`!0` if `n` is a
/// multiple of 64).
#[inline]
pub fn tail_mask(n: usize) -> u64 {
    match n % 64 {
        0 => !0,
        r => (1u64 << r) - 1,
    }
}

/// ORs bits `0..n` of `src` into `dst` at bit offset `off`. The target bits must be
/// zero beforehand; bits of `src` past `n` are ignored.
///
/// # Panics
/// If `src` holds fewer than `n` bits or `dst` fewer than `off + n`.
pub fn put_bits(dst: &mut [u64], off: usize, src: &[u64], n: usize) {
    if n == 0 {
        return;
    }
    let nw = n.div_ceil(64);
    let (q, r) = (off / 64, off % 64);
    let last = tail_mask(n);
    for (i, &s) in src[..nw].iter().enumerate() {
        let w = if i + 1 == nw { s & last } else { s };
        if r == 0 {
            dst[q + i] |= w;
        } else {
            dst[q + i] |= w << r;
            let hi = w >> (64 - r);
            if hi != 0 {
                dst[q + i + 1] |= hi;
            }
        }
    }
}

/// Overwrites `dst` (`⌈n/64⌉` words) with bits `off..off + n` of `src`, clearing the
/// bits past `n` in its last word.
///
/// # Panics
/// If `src` holds fewer than `off + n` bits or `dst` fewer than `⌈n/64⌉` words.
pub fn get_bits(src: &[u64], off: usize, n: usize, dst: &mut [u64]) {
    if n == 0 {
        return;
    }
    let nw = n.div_ceil(64);
    let (q, r) = (off / 64, off % 64);
    if r == 0 {
        dst[..nw].copy_from_slice(&src[q..q + nw]);
    } else {
        for (i, d) in dst[..nw].iter_mut().enumerate() {
            let hi = src.get(q + i + 1).map_or(0, |w| w << (64 - r));
            *d = (src[q + i] >> r) | hi;
        }
    }
    dst[nw - 1] &= tail_mask(n);
}

/// A packed bit vector; bit `i` is bit `i % 64` of word `i / 64`.
/// Bits past `len` in the last word are always zero.
#[derive(Clone, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
pub struct BitVec {
    len: usize,
    words: Vec<u64>,
}

impl std::fmt::Debug for BitVec {
    /// Prints the length only: bit vectors usually hold shares.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "BitVec(len={})", self.len)
    }
}

impl BitVec {
    /// `len` zero bits.
    pub fn zeros(len: usize) -> Self {
        BitVec {
            len,
            words: vec![0; words_for(len)],
        }
    }

    /// `len` uniformly random bits.
    pub fn random<G: RngCore + ?Sized>(rng: &mut G, len: usize) -> Self {
        let mut v = Self::zeros(len);
        rng.fill_bytes(bytemuck::cast_slice_mut(&mut v.words));
        v.clear_tail();
        v
    }

    /// From booleans.
    pub fn from_bools(bits: &[bool]) -> Self {
        let mut v = Self::zeros(bits.len());
        for (i, &b) in bits.iter().enumerate() {
            v.set(i, b);
        }
        v
    }

    /// From packed words; bits past `len` are cleared.
    ///
    /// # Errors
    /// [`Error::Malformed`] if `words` has the wrong number of words for `len`.
    pub fn from_words(len: usize, words: Vec<u64>) -> Result<Self> {
        if words.len() != words_for(len) {
            return Err(Error::Malformed {
                expected: "bit vector",
                reason: format!("{} words cannot hold exactly {len} bits", words.len()),
            });
        }
        let mut v = BitVec { len, words };
        v.clear_tail();
        Ok(v)
    }

    /// Number of bits.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether the vector holds no bits.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The packed words.
    pub fn words(&self) -> &[u64] {
        &self.words
    }

    /// The packed words, mutable. Callers must keep bits past `len` zero
    /// (or call [`BitVec::clear_tail`]).
    pub fn words_mut(&mut self) -> &mut [u64] {
        &mut self.words
    }

    /// Consumes the vector, returning its words.
    pub fn into_words(self) -> Vec<u64> {
        self.words
    }

    /// Bit `i`.
    ///
    /// # Panics
    /// If `i >= len`.
    #[inline]
    pub fn get(&self, i: usize) -> bool {
        assert!(i < self.len, "bit index {i} out of range {}", self.len);
        (self.words[i / 64] >> (i % 64)) & 1 == 1
    }

    /// Sets bit `i`.
    ///
    /// # Panics
    /// If `i >= len`.
    #[inline]
    pub fn set(&mut self, i: usize, b: bool) {
        assert!(i < self.len, "bit index {i} out of range {}", self.len);
        let m = 1u64 << (i % 64);
        if b {
            self.words[i / 64] |= m;
        } else {
            self.words[i / 64] &= !m;
        }
    }

    /// Zeroes the bits past `len` in the last word.
    pub fn clear_tail(&mut self) {
        let r = self.len % 64;
        if r != 0
            && let Some(last) = self.words.last_mut()
        {
            *last &= (1u64 << r) - 1;
        }
    }

    /// `self ^= other`.
    ///
    /// # Panics
    /// If the lengths differ.
    pub fn xor_assign(&mut self, other: &BitVec) {
        assert_eq!(self.len, other.len, "bit vector length mismatch");
        for (a, b) in self.words.iter_mut().zip(&other.words) {
            *a ^= b;
        }
    }

    /// `self &= other`.
    ///
    /// # Panics
    /// If the lengths differ.
    pub fn and_assign(&mut self, other: &BitVec) {
        assert_eq!(self.len, other.len, "bit vector length mismatch");
        for (a, b) in self.words.iter_mut().zip(&other.words) {
            *a &= b;
        }
    }

    /// Flips every bit.
    pub fn not_assign(&mut self) {
        for w in &mut self.words {
            *w = !*w;
        }
        self.clear_tail();
    }

    /// Number of one bits.
    pub fn count_ones(&self) -> usize {
        self.words.iter().map(|w| w.count_ones() as usize).sum()
    }

    /// The bits as booleans.
    pub fn iter(&self) -> impl Iterator<Item = bool> + '_ {
        (0..self.len).map(move |i| (self.words[i / 64] >> (i % 64)) & 1 == 1)
    }
}

/// A packed bit matrix, row-major; each row is a whole number of u64 words.
#[derive(Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct BitMatrix {
    rows: usize,
    cols: usize,
    data: Vec<u64>,
}

impl std::fmt::Debug for BitMatrix {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "BitMatrix({}x{})", self.rows, self.cols)
    }
}

/// One recursive block-swap transpose per tile width (Hacker's Delight §7-3): bit `j`
/// of word `i` moves to bit `i` of word `j`, in log2(width) passes of width/2 masked
/// word swaps.
macro_rules! block_swap_transpose {
    ($(#[$doc:meta])* $name:ident, $w:ty, $n:literal) => {
        $(#[$doc])*
        #[inline]
        pub fn $name(a: &mut [$w; $n]) {
            let mut j = $n / 2;
            let mut m: $w = <$w>::MAX >> ($n / 2);
            while j != 0 {
                let mut k = 0usize;
                while k < $n {
                    let t = ((a[k] >> j) ^ a[k + j]) & m;
                    a[k] ^= t << j;
                    a[k + j] ^= t;
                    k = (k + j + 1) & !j;
                }
                j >>= 1;
                m ^= m << j;
            }
        }
    };
}

block_swap_transpose!(
    /// Transposes a 64×64 bit tile in place: bit `j` of word `i` moves to bit `i` of
    /// word `j` (six passes of 32 word operations).
    transpose64,
    u64,
    64
);

block_swap_transpose!(
    /// Transposes a 128×128 bit tile in place: bit `j` of word `i` moves to bit `i` of
    /// word `j` (seven passes of 64 word operations; OT extension's tiles).
    transpose128,
    u128,
    128
);

impl BitMatrix {
    /// A zero matrix.
    pub fn zeros(rows: usize, cols: usize) -> Self {
        BitMatrix {
            rows,
            cols,
            data: vec![0; rows * words_for(cols)],
        }
    }

    /// Number of rows.
    pub fn rows(&self) -> usize {
        self.rows
    }

    /// Number of columns (bits per row).
    pub fn cols(&self) -> usize {
        self.cols
    }

    /// Words per row.
    pub fn row_words(&self) -> usize {
        words_for(self.cols)
    }

    /// Columns `start..start + len` as a new matrix (word copies when `start` is a
    /// multiple of 64).
    ///
    /// # Panics
    /// If the range is not within the matrix.
    pub fn columns(&self, start: usize, len: usize) -> BitMatrix {
        assert!(start + len <= self.cols, "columns past the matrix");
        let mut out = BitMatrix::zeros(self.rows, len);
        let w = out.row_words();
        for i in 0..self.rows {
            get_bits(self.row(i), start, len, &mut out.data[i * w..(i + 1) * w]);
        }
        out
    }

    /// Writes `src` (same rows) into columns `start..start + src.cols()`, which must be
    /// zero beforehand (as in a matrix made by [`BitMatrix::zeros`]).
    ///
    /// # Panics
    /// If the row counts differ or the columns are not within the matrix.
    pub fn put_columns(&mut self, start: usize, src: &BitMatrix) {
        assert_eq!(self.rows, src.rows, "row counts differ");
        assert!(start + src.cols <= self.cols, "columns past the matrix");
        let w = self.row_words();
        for i in 0..self.rows {
            put_bits(
                &mut self.data[i * w..(i + 1) * w],
                start,
                src.row(i),
                src.cols,
            );
        }
    }

    /// Row `i` as packed words.
    pub fn row(&self, i: usize) -> &[u64] {
        let w = self.row_words();
        &self.data[i * w..(i + 1) * w]
    }

    /// Row `i` as packed words, mutable.
    pub fn row_mut(&mut self, i: usize) -> &mut [u64] {
        let w = self.row_words();
        &mut self.data[i * w..(i + 1) * w]
    }

    /// All words, row-major.
    pub fn as_words(&self) -> &[u64] {
        &self.data
    }

    /// Bit `(r, c)`.
    pub fn get(&self, r: usize, c: usize) -> bool {
        (self.row(r)[c / 64] >> (c % 64)) & 1 == 1
    }

    /// Sets bit `(r, c)`.
    pub fn set(&mut self, r: usize, c: usize, b: bool) {
        let w = &mut self.row_mut(r)[c / 64];
        let m = 1u64 << (c % 64);
        if b { *w |= m } else { *w &= !m }
    }

    /// Row `i` as a [`BitVec`].
    pub fn row_bits(&self, i: usize) -> BitVec {
        BitVec {
            len: self.cols,
            words: self.row(i).to_vec(),
        }
    }

    /// Stacks matrices of `cols` columns into one (the rows of the first on top).
    ///
    /// # Panics
    /// If a matrix does not have `cols` columns.
    pub fn stack(ms: &[&BitMatrix], cols: usize) -> BitMatrix {
        let mut out = BitMatrix::zeros(ms.iter().map(|m| m.rows()).sum(), cols);
        let mut r0 = 0;
        for m in ms {
            for r in 0..m.rows() {
                out.row_mut(r0 + r).copy_from_slice(m.row(r));
            }
            r0 += m.rows();
        }
        out
    }

    /// Splits the rows into consecutive matrices of the given heights.
    ///
    /// # Panics
    /// If the heights add up to more than the row count.
    pub fn split_rows(&self, heights: &[usize]) -> Vec<BitMatrix> {
        let mut r0 = 0;
        heights
            .iter()
            .map(|&h| {
                let mut out = BitMatrix::zeros(h, self.cols);
                for r in 0..h {
                    out.row_mut(r).copy_from_slice(self.row(r0 + r));
                }
                r0 += h;
                out
            })
            .collect()
    }

    /// Builds a matrix from rows of equal length.
    ///
    /// # Errors
    /// [`Error::Malformed`] if the rows differ in length.
    pub fn from_rows(rows: &[BitVec]) -> Result<Self> {
        let cols = rows.first().map_or(0, BitVec::len);
        let mut m = Self::zeros(rows.len(), cols);
        for (i, r) in rows.iter().enumerate() {
            if r.len() != cols {
                return Err(Error::Malformed {
                    expected: "bit matrix",
                    reason: format!("row {i} has {} bits, row 0 has {cols}", r.len()),
                });
            }
            m.row_mut(i).copy_from_slice(r.words());
        }
        Ok(m)
    }

    /// The bits row after row as one vector (`rows · cols` bits, bit `r · cols + c`
    /// is `(r, c)`), by word copies.
    pub fn to_flat(&self) -> BitVec {
        let mut out = BitVec::zeros(self.rows * self.cols);
        for r in 0..self.rows {
            put_bits(&mut out.words, r * self.cols, self.row(r), self.cols);
        }
        out
    }

    /// The inverse of [`BitMatrix::to_flat`].
    ///
    /// # Errors
    /// [`Error::Malformed`] if `v` does not hold exactly `rows · cols` bits.
    pub fn from_flat(v: &BitVec, rows: usize, cols: usize) -> Result<BitMatrix> {
        if v.len() != rows * cols {
            return Err(Error::Malformed {
                expected: "bit matrix",
                reason: format!("{} bits cannot be {rows} x {cols}", v.len()),
            });
        }
        let mut m = BitMatrix::zeros(rows, cols);
        for r in 0..rows {
            get_bits(v.words(), r * cols, cols, m.row_mut(r));
        }
        Ok(m)
    }

    /// The transpose (cols × rows), in 64×64 tiles.
    pub fn transpose(&self) -> BitMatrix {
        let mut out = BitMatrix::zeros(self.cols, self.rows);
        let (rb, cb) = (words_for(self.rows), words_for(self.cols));
        let mut tile = [0u64; 64];
        for bi in 0..rb {
            for bj in 0..cb {
                for (k, t) in tile.iter_mut().enumerate() {
                    let r = bi * 64 + k;
                    *t = if r < self.rows { self.row(r)[bj] } else { 0 };
                }
                transpose64(&mut tile);
                for (k, t) in tile.iter().enumerate() {
                    let r = bj * 64 + k;
                    if r < out.rows {
                        out.row_mut(r)[bi] = *t;
                    }
                }
            }
        }
        out
    }

    /// Bit-slices `values` (each `width ≤ 64` bits, higher bits ignored): row `i` of the
    /// result holds bit `i` of every value, column `j` is value `j`.
    ///
    /// # Panics
    /// If `width > 64`.
    pub fn from_values(values: &[u64], width: usize) -> BitMatrix {
        assert!(width <= 64, "width {width} exceeds 64 bits");
        let n = values.len();
        let mut out = BitMatrix::zeros(width, n);
        let mut tile = [0u64; 64];
        for (b, chunk) in values.chunks(64).enumerate() {
            tile[..chunk.len()].copy_from_slice(chunk);
            tile[chunk.len()..].fill(0);
            transpose64(&mut tile);
            for (i, t) in tile.iter().take(width).enumerate() {
                out.row_mut(i)[b] = *t;
            }
        }
        out
    }

    /// The inverse of [`BitMatrix::from_values`]: reads column `j` as value `j`, with
    /// row `i` as bit `i` (at most 64 rows).
    ///
    /// # Panics
    /// If the matrix has more than 64 rows.
    pub fn to_values(&self) -> Vec<u64> {
        assert!(self.rows <= 64, "{} rows exceed 64 bits", self.rows);
        let mut out = vec![0u64; self.cols];
        let mut tile = [0u64; 64];
        for (b, chunk) in out.chunks_mut(64).enumerate() {
            for (i, t) in tile.iter_mut().enumerate() {
                *t = if i < self.rows { self.row(i)[b] } else { 0 };
            }
            transpose64(&mut tile);
            chunk.copy_from_slice(&tile[..chunk.len()]);
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tile_transpose_matches_naive() {
        let mut a = [0u64; 64];
        for (i, w) in a.iter_mut().enumerate() {
            *w = (i as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ (1 << i);
        }
        let orig = a;
        transpose64(&mut a);
        for (i, row) in orig.iter().enumerate() {
            for (j, col) in a.iter().enumerate() {
                assert_eq!((col >> i) & 1, (row >> j) & 1, "({i},{j})");
            }
        }
    }

    #[test]
    fn from_values_layout() {
        let m = BitMatrix::from_values(&[0b01, 0b10, 0b11], 2);
        assert_eq!((m.rows(), m.cols()), (2, 3));
        assert_eq!(m.row(0)[0], 0b101);
        assert_eq!(m.row(1)[0], 0b110);
        assert_eq!(m.to_values(), vec![1, 2, 3]);
    }
}

#[cfg(test)]
mod stream_tests {
    use super::*;

    fn bit(v: &[u64], i: usize) -> bool {
        (v[i / 64] >> (i % 64)) & 1 == 1
    }

    #[test]
    fn put_then_get_round_trips_at_every_offset() {
        let src: Vec<u64> = (0..4u64)
            .map(|i| 0x9E37_79B9_7F4A_7C15u64.wrapping_mul(i + 1) | 1 << 63)
            .collect();
        for n in [1usize, 5, 63, 64, 65, 127, 128, 200, 256] {
            for off in [0usize, 1, 7, 63, 64, 65, 130] {
                let mut dst = vec![0u64; (off + n).div_ceil(64)];
                put_bits(&mut dst, off, &src, n);
                for i in 0..dst.len() * 64 {
                    let want = i >= off && i < off + n && bit(&src, i - off);
                    assert_eq!(bit(&dst, i), want, "n={n} off={off} bit {i}");
                }
                let mut back = vec![!0u64; n.div_ceil(64)];
                get_bits(&dst, off, n, &mut back);
                for i in 0..back.len() * 64 {
                    assert_eq!(bit(&back, i), i < n && bit(&src, i), "n={n} off={off}");
                }
            }
        }
    }
}
