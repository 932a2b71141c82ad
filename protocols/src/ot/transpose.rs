//! Bit-matrix transposes for OT extension.
//!
//! IKNP works on a 128 × m bit matrix kept as 128 *columns* of m bits (one per base
//! OT) and needs its m *rows* of 128 bits (one per extended OT). The transpose runs on
//! 128 × 128 tiles, each by [`transpose128`] (the recursive block swap of Hacker's
//! Delight §7-3 on `u128` words: 7 passes of 64 masked swaps, no table, no `unsafe`).

use tessera_core::Block;
use tessera_core::bits::transpose128;

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
        transpose128(&mut tile);
        for (row, w) in rows[128 * k..128 * (k + 1)].iter_mut().zip(tile) {
            *row = Block(w);
        }
    }
    rows
}

#[cfg(test)]
#[allow(clippy::needless_range_loop)]
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
            transpose128(&mut a);
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
