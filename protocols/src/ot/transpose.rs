//! Bit-matrix transposes for OT extension.
//!
//! IKNP works on a 128 × m bit matrix kept as 128 *columns* of m bits (one per base
//! OT) and needs its m *rows* of 128 bits (one per extended OT). The transpose runs on
//! 128 × 128 tiles, each split into four 64 × 64 transposes (the quadrants: column
//! half × row half) run side by side, two tiles at a time: the recursive block swap of
//! Hacker's Delight §7-3 (six passes of 32 masked word swaps) on words of eight
//! `u64` lanes, so that every step is one operation on all eight lanes, which the
//! compiler turns into SIMD instructions (AVX-512 or AVX2 under the workspace's
//! `-C target-cpu=native`, two or four SSE2 ones at worst). Safe code, no table.
//!
//! Where the build enables AVX-512 VBMI and GFNI (Ice Lake and later Xeons, Zen 4),
//! each tile is transposed instead by byte shuffles and GFNI's 8 × 8 bit transposes
//! (`gfni::tile`; `cargo bench -p tessera-bench-suite --bench core -- ot_tiles`: 64
//! tiles in 15.9 µs against the block swap's 22.5 µs on a Zen 4 EPYC core); both are
//! tested against a one-tile reference. One of the workspace's two `unsafe` blocks calls it
//! (the other calls the fixed-key hash's VAES kernel in `tessera_core::prg`).

use tessera_core::Block;

/// Rows of a 128-column bit matrix given column-major: `cols[j * tiles + k]` holds
/// bits `128k .. 128k + 127` of column `j` (`tiles = cols.len() / 128`). Returns the
/// `128 · tiles` rows, row `i`'s bit `j` being bit `i` of column `j`.
///
/// # Panics
/// If `cols.len()` is not a multiple of 128 (a caller's bug: the columns are made
/// here, never received with another length).
pub fn rows_from_columns(cols: &[Block]) -> Vec<Block> {
    assert!(
        cols.len().is_multiple_of(128),
        "128 columns of whole tiles expected, got {} blocks",
        cols.len()
    );
    let tiles = cols.len() / 128;
    let mut rows = vec![Block::ZERO; cols.len()];
    transpose_into(cols, tiles, &mut rows);
    rows
}

/// [`rows_from_columns`] into a given buffer, for columns stored with any stride:
/// `cols[j * stride + k]` holds bits `128k .. 128k + 127` of column `j`, for the
/// `rows.len() / 128` tiles `k` that `rows` has room for.
///
/// # Panics
/// If `rows.len()` is not a multiple of 128, `stride` is smaller than the number of
/// tiles, or `cols` is shorter than `127 · stride + tiles` (callers' bugs).
pub fn transpose_into(cols: &[Block], stride: usize, rows: &mut [Block]) {
    assert!(
        rows.len().is_multiple_of(128),
        "whole tiles of rows expected, got {} blocks",
        rows.len()
    );
    let tiles = rows.len() / 128;
    if tiles == 0 {
        return;
    }
    assert!(
        stride >= tiles && cols.len() >= 127 * stride + tiles,
        "{} column blocks with stride {stride} do not hold {tiles} tiles",
        cols.len()
    );
    #[cfg(gfni_transpose)]
    for (k, out) in rows.chunks_exact_mut(128).enumerate() {
        // SAFETY: `tile` needs AVX-512 F/BW/VBMI and GFNI, which this build enables
        // for the whole binary (`gfni_transpose`, set by build.rs from the build's
        // target features): the binary runs only on CPUs that have them, as all of
        // its code compiled for them does.
        #[allow(unsafe_code)]
        unsafe {
            gfni::tile(cols, stride, k, out)
        };
    }
    #[cfg(not(gfni_transpose))]
    portable(cols, stride, tiles, rows);
}

/// [`transpose_into`] by the portable block swap (the only one where the CPU lacks
/// AVX-512 VBMI and GFNI; tested against a one-tile reference wherever it is built).
#[cfg_attr(gfni_transpose, allow(dead_code))]
fn portable(cols: &[Block], stride: usize, tiles: usize, rows: &mut [Block]) {
    let mut k = 0;
    for out in rows.chunks_exact_mut(256) {
        tiles_at::<2, 8>(cols, stride, k, out);
        k += 2;
    }
    if k < tiles {
        tiles_at::<1, 4>(cols, stride, k, &mut rows[128 * k..]);
    }
}

/// One 128 × 128 tile by byte shuffles and GFNI's affine transform (1.4 times the
/// block swap's speed on a Zen 4 core), in safe code but for its call: the
/// intrinsics are safe inside functions that enable their features, and vectors are
/// made from and into blocks by `bytemuck`.
///
/// The tile as four 64 × 64 transposes (quadrant `(h, c)`: half `c` of the columns
/// `64h ..`, one `u64` per column), each in three steps on eight vectors of eight
/// words: (1) a byte shuffle gathers into word `b` of vector `R` byte `b` of the
/// words `8R + 7, …, 8R` (an 8 × 8 bit block, taken straight from the columns'
/// blocks, both halves at once); (2) GFNI transposes every 8 × 8 bit block (with the
/// data as the matrix operand, `x·A` with `x` the unit bytes reads out its columns);
/// (3) the blocks move to their transposed places: an 8 × 8 transpose of words across
/// the vectors, then one of bytes within each, which also interleaves the two column
/// halves into the rows' blocks.
#[cfg(gfni_transpose)]
mod gfni {
    use std::arch::x86_64::{
        __m128i, __m512i, _mm512_castsi128_si512, _mm512_gf2p8affine_epi64_epi8,
        _mm512_inserti32x4, _mm512_permutex2var_epi8, _mm512_permutex2var_epi64, _mm512_set1_epi64,
    };

    use tessera_core::Block;

    /// Four blocks (read as vectors: `Block` and `__m128i` share size and alignment)
    /// in one vector.
    #[target_feature(enable = "avx512f")]
    fn v(x: [&Block; 4]) -> __m512i {
        let [a, b, c, d] = x.map(|x| *bytemuck::cast_ref::<Block, __m128i>(x));
        let z = _mm512_castsi128_si512(a);
        let z = _mm512_inserti32x4::<1>(z, b);
        let z = _mm512_inserti32x4::<2>(z, c);
        _mm512_inserti32x4::<3>(z, d)
    }

    /// A vector's four blocks into `out` (one store: `[u64; 8]` is a vector's size
    /// and asks no more alignment than blocks have).
    fn put(z: __m512i, out: &mut [Block]) {
        let out: &mut [[u64; 8]] = bytemuck::cast_slice_mut(&mut out[..4]);
        out[0] = bytemuck::cast(z);
    }

    /// Step 1's shuffles: word `b` byte `s` of the result is byte `b` (half `c`) of
    /// block `7 − s` of the 128 bytes of eight blocks.
    const fn gather_index(c: usize) -> [u8; 64] {
        let mut idx = [0; 64];
        let mut i = 0;
        while i < 64 {
            let (b, s) = (i / 8, i % 8);
            idx[i] = (16 * (7 - s) + 8 * c + b) as u8;
            i += 1;
        }
        idx
    }

    /// Step 3's last shuffles: rows `4m .. 4m + 3` of eight (16 bytes each; byte `β`
    /// of row `k`: byte `k` of word `β` of the first vector if `β < 8`, of the second
    /// otherwise).
    const fn scatter_index(m: usize) -> [u8; 64] {
        let mut idx = [0; 64];
        let mut i = 0;
        while i < 64 {
            let (k, beta) = (4 * m + i / 16, i % 16);
            idx[i] = (64 * (beta / 8) + 8 * (beta % 8) + k) as u8;
            i += 1;
        }
        idx
    }

    /// The 8 × 8 word transpose's stage `d`: vectors `R` and `R + d` (`R`'s bit `d`
    /// clear) trade their `d × d` blocks: the first keeps its words with bit `d` clear
    /// and takes the other's (moved down by `d`), the second the converse.
    const fn stage_index(d: usize, high: bool) -> [u64; 8] {
        let mut idx = [0; 8];
        let mut i = 0;
        while i < 8 {
            idx[i] = match (i & d == 0, high) {
                (true, false) => i,
                (false, false) => 8 + i - d,
                (true, true) => i + d,
                (false, true) => 8 + i,
            } as u64;
            i += 1;
        }
        idx
    }

    const GATHER: [[u8; 64]; 2] = [gather_index(0), gather_index(1)];
    const SCATTER: [[u8; 64]; 2] = [scatter_index(0), scatter_index(1)];
    const STAGES: [[[u64; 8]; 2]; 3] = [
        [stage_index(4, false), stage_index(4, true)],
        [stage_index(2, false), stage_index(2, true)],
        [stage_index(1, false), stage_index(1, true)],
    ];

    /// `t[b]` word `R` = `r[R]` word `b`.
    #[target_feature(enable = "avx512f")]
    fn transpose_words(r: &mut [__m512i; 8], stages: &[[__m512i; 2]; 3]) {
        for (st, d) in stages.iter().zip([4usize, 2, 1]) {
            let [lo, hi] = *st;
            for a in (0..8).filter(|a| a & d == 0) {
                let (x, y) = (r[a], r[a + d]);
                r[a] = _mm512_permutex2var_epi64(x, lo, y);
                r[a + d] = _mm512_permutex2var_epi64(x, hi, y);
            }
        }
    }

    /// Tile `k` of the columns (`cols[j * stride + k]`) into `out` (128 rows).
    #[target_feature(enable = "avx512f,avx512bw,avx512vbmi,gfni")]
    pub(super) fn tile(cols: &[Block], stride: usize, k: usize, out: &mut [Block]) {
        let unit = _mm512_set1_epi64(0x8040_2010_0804_0201_u64 as i64);
        let gather: [__m512i; 2] = bytemuck::cast(GATHER);
        let stages: [[__m512i; 2]; 3] = STAGES.map(|s| s.map(bytemuck::cast));
        // q[h][c][R]: quadrant (h, c), vector R.
        let mut q = [[[unit; 8]; 2]; 2];
        for g in 0..16 {
            let col = |j: usize| &cols[(8 * g + j) * stride + k];
            let (x0, x1) = (
                v([col(0), col(1), col(2), col(3)]),
                v([col(4), col(5), col(6), col(7)]),
            );
            for (c, idx) in gather.iter().enumerate() {
                let y = _mm512_permutex2var_epi8(x0, *idx, x1);
                q[g / 8][c][g % 8] = _mm512_gf2p8affine_epi64_epi8::<0>(unit, y);
            }
        }
        for hq in q.iter_mut() {
            for r in hq.iter_mut() {
                transpose_words(r, &stages);
            }
        }
        let scatter: [__m512i; 2] = bytemuck::cast(SCATTER);
        for c in 0..2 {
            for b in 0..8 {
                for (m, idx) in scatter.iter().enumerate() {
                    let z = _mm512_permutex2var_epi8(q[0][c][b], *idx, q[1][c][b]);
                    put(z, &mut out[64 * c + 8 * b + 4 * m..]);
                }
            }
        }
    }
}

/// Tiles `k .. k + T` (rows into `out`, `128 · T` of them) as four 64 × 64 transposes
/// per tile: matrix `2T·h + 2t + c` holds half `c` (bits `64c .. 64c + 63`) of the
/// columns `64h .. 64h + 63` of tile `k + t`, one `u64` word per column; after the
/// block swap of Hacker's Delight §7-3, word `b` of that matrix is half `h` of row
/// `64c + b` of tile `k + t`. Each pass is one loop over contiguous words of one
/// matrix, which the compiler vectorises.
#[cfg_attr(gfni_transpose, allow(dead_code))]
#[inline]
fn tiles_at<const T: usize, const L: usize>(
    cols: &[Block],
    stride: usize,
    k: usize,
    out: &mut [Block],
) {
    debug_assert_eq!(L, 4 * T);
    let mut a = [[0u64; 64]; L];
    for h in 0..2 {
        for i in 0..64 {
            let col = &cols[(64 * h + i) * stride + k..][..T];
            for (t, x) in col.iter().enumerate() {
                a[2 * T * h + 2 * t][i] = x.0 as u64;
                a[2 * T * h + 2 * t + 1][i] = (x.0 >> 64) as u64;
            }
        }
    }
    for m in a.iter_mut() {
        transpose64(m);
    }
    for t in 0..T {
        for c in 0..2 {
            let (lo, hi) = (&a[2 * t + c], &a[2 * T + 2 * t + c]);
            let rows = &mut out[128 * t + 64 * c..][..64];
            for ((r, &l), &h) in rows.iter_mut().zip(lo).zip(hi) {
                *r = Block(u128::from(l) | (u128::from(h) << 64));
            }
        }
    }
}

/// 64 × 64 bit transpose: bit `j` of word `i` to bit `i` of word `j`.
#[cfg_attr(gfni_transpose, allow(dead_code))]
#[inline(always)]
fn transpose64(a: &mut [u64; 64]) {
    swap_pass::<32>(a, 0x0000_0000_ffff_ffff);
    swap_pass::<16>(a, 0x0000_ffff_0000_ffff);
    swap_pass::<8>(a, 0x00ff_00ff_00ff_00ff);
    swap_pass::<4>(a, 0x0f0f_0f0f_0f0f_0f0f);
    swap_pass::<2>(a, 0x3333_3333_3333_3333);
    swap_pass::<1>(a, 0x5555_5555_5555_5555);
}

/// One pass of the block swap at distance `J` with mask `m` (the low `J` bits of each
/// `2J`): the upper-right `J × J` blocks trade places with the lower-left ones.
#[cfg_attr(gfni_transpose, allow(dead_code))]
#[inline(always)]
fn swap_pass<const J: usize>(a: &mut [u64; 64], m: u64) {
    for pair in a.chunks_exact_mut(2 * J) {
        let (x, y) = pair.split_at_mut(J);
        for (x, y) in x.iter_mut().zip(y.iter_mut()) {
            let t = ((*x >> J) ^ *y) & m;
            *x ^= t << J;
            *y ^= t;
        }
    }
}

#[cfg(test)]
#[allow(clippy::needless_range_loop)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use tessera_core::bits::transpose128;

    fn bit(w: u128, i: usize) -> bool {
        (w >> i) & 1 == 1
    }

    fn words(seed: u64, n: usize) -> Vec<Block> {
        let mut x = seed | 1;
        (0..n)
            .map(|_| {
                // xorshift: cheap distinct words
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                Block((u128::from(x) << 64) | u128::from(x.rotate_left(31)))
            })
            .collect()
    }

    /// The reference: one tile at a time by the portable block swap.
    fn reference(cols: &[Block], stride: usize, tiles: usize) -> Vec<Block> {
        let mut rows = Vec::new();
        for k in 0..tiles {
            let mut t = [0u128; 128];
            for j in 0..128 {
                t[j] = cols[j * stride + k].0;
            }
            transpose128(&mut t);
            rows.extend(t.iter().map(|&w| Block(w)));
        }
        rows
    }

    #[test]
    fn single_bits_land_where_they_should() {
        for (j, i) in [(0, 0), (0, 127), (127, 0), (127, 127), (5, 77), (64, 3)] {
            let mut cols = vec![Block::ZERO; 128];
            cols[j] = Block(1u128 << i);
            let rows = rows_from_columns(&cols);
            for (r, row) in rows.iter().enumerate() {
                let want = if r == i { 1u128 << j } else { 0 };
                assert_eq!(row.0, want, "column {j} bit {i}: row {r}");
            }
        }
    }

    proptest! {
        #[test]
        fn tile_transpose_matches_the_definition(words in proptest::collection::vec(any::<u128>(), 128)) {
            let mut a = [0u128; 128];
            a.copy_from_slice(&words);
            transpose128(&mut a);
            for r in 0..128 {
                for c in 0..128 {
                    prop_assert_eq!(bit(a[r], c), bit(words[c], r), "bit ({}, {})", r, c);
                }
            }
        }

        #[test]
        fn rows_match_the_columns(tiles in 1usize..4, seed in any::<u64>()) {
            let cols = words(seed, 128 * tiles);
            let rows = rows_from_columns(&cols);
            for i in 0..128 * tiles {
                for j in 0..128 {
                    let col_bit = bit(cols[j * tiles + i / 128].0, i % 128);
                    prop_assert_eq!(bit(rows[i].0, j), col_bit);
                }
            }
        }

        #[test]
        fn strided_transpose_matches_the_block_swap(
            tiles in 1usize..12,
            extra in 0usize..5,
            seed in any::<u64>(),
        ) {
            let stride = tiles + extra;
            let cols = words(seed, 128 * stride);
            let want = reference(&cols, stride, tiles);
            let mut rows = vec![Block::ZERO; 128 * tiles];
            transpose_into(&cols, stride, &mut rows);
            prop_assert!(rows == want);
            // The block swap too where the build uses the shuffle kernel instead.
            let mut rows = vec![Block::ZERO; 128 * tiles];
            portable(&cols, stride, tiles, &mut rows);
            prop_assert!(rows == want);
        }
    }
}
