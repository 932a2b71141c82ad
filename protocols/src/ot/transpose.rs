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
    let mut k = 0;
    for out in rows.chunks_exact_mut(256) {
        tiles_at::<2, 8>(cols, stride, k, out);
        k += 2;
    }
    if k < tiles {
        tiles_at::<1, 4>(cols, stride, k, &mut rows[128 * k..]);
    }
}

/// Tiles `k .. k + T` (rows into `out`, `128 · T` of them) as four 64 × 64 transposes
/// per tile: matrix `2T·h + 2t + c` holds half `c` (bits `64c .. 64c + 63`) of the
/// columns `64h .. 64h + 63` of tile `k + t`, one `u64` word per column; after the
/// block swap of Hacker's Delight §7-3, word `b` of that matrix is half `h` of row
/// `64c + b` of tile `k + t`. Each pass is one loop over contiguous words of one
/// matrix, which the compiler vectorises.
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
            let mut rows = vec![Block::ZERO; 128 * tiles];
            transpose_into(&cols, stride, &mut rows);
            prop_assert!(rows == reference(&cols, stride, tiles));
        }
    }
}
