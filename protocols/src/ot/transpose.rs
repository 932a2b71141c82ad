//! Bit-matrix transposes for OT extension.
//!
//! IKNP works on a 128 × m bit matrix kept as 128 *columns* of m bits (one per base
//! OT) and needs its m *rows* of 128 bits (one per extended OT). The transpose runs on
//! 128 × 128 tiles, each by the recursive block-swap of Hacker's Delight §7-3 on
//! `u128` words: 7 rounds of 64 masked swaps, no table and no `unsafe`.

use tessera_core::Block;

/// Transposes a 128 × 128 bit matrix in place: afterwards bit `c` of `a[r]` is what
/// bit `r` of `a[c]` was (bit `i` of a word is `(w >> i) & 1`).
pub fn transpose_128(a: &mut [u128; 128]) {
    // Swap the off-diagonal j × j sub-blocks of every 2j × 2j block, j = 64, 32, …, 1.
    let mut j = 64usize;
    let mut mask: u128 = u128::MAX >> 64; // low j bits of each 2j-bit group
    while j != 0 {
        let mut k = 0;
        while k < 128 {
            for r in k..k + j {
                // Rows r (top) and r + j (bottom) of the 2j-block: the top row's high
                // j-bit half trades places with the bottom row's low half.
                let t = ((a[r] >> j) ^ a[r + j]) & mask;
                a[r] ^= t << j;
                a[r + j] ^= t;
            }
            k += 2 * j;
        }
        j >>= 1;
        mask ^= mask << j;
    }
}

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
    let mut tile = [0u128; 128];
    for k in 0..tiles {
        for (j, w) in tile.iter_mut().enumerate() {
            *w = cols[j * tiles + k].0;
        }
        transpose_128(&mut tile);
        for (row, w) in rows[128 * k..128 * (k + 1)].iter_mut().zip(tile) {
            *row = Block(w);
        }
    }
    rows
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn bit(w: u128, i: usize) -> bool {
        (w >> i) & 1 == 1
    }

    proptest! {
        #[test]
        fn tile_transpose_matches_the_definition(words in proptest::collection::vec(any::<u128>(), 128)) {
            let mut a = [0u128; 128];
            a.copy_from_slice(&words);
            transpose_128(&mut a);
            for r in 0..128 {
                for c in 0..128 {
                    prop_assert_eq!(bit(a[r], c), bit(words[c], r), "bit ({}, {})", r, c);
                }
            }
        }

        #[test]
        fn rows_match_the_columns(tiles in 1usize..4, seed in any::<u64>()) {
            let mut x = seed | 1;
            let cols: Vec<Block> = (0..128 * tiles)
                .map(|_| {
                    // xorshift: cheap distinct words
                    x ^= x << 13; x ^= x >> 7; x ^= x << 17;
                    Block((u128::from(x) << 64) | u128::from(x.rotate_left(31)))
                })
                .collect();
            let rows = rows_from_columns(&cols);
            for i in 0..128 * tiles {
                for j in 0..128 {
                    let col_bit = bit(cols[j * tiles + i / 128].0, i % 128);
                    prop_assert_eq!(bit(rows[i].0, j), col_bit);
                }
            }
        }
    }
}
