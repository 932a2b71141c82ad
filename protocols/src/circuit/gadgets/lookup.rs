//! Table look-up: the one-hot decoding of an index and the selection of public
//! constants by XOR of the decoded lines.

use crate::circuit::{Builder, Wire};

impl Builder {
    /// The one-hot decoding of the unsigned index `index` (LSB first, `n` bits): `2^n`
    /// lines, line `i` is 1 exactly when the index is `i` (one constant-1 line for
    /// `n = 0`). Built recursively as the AND of the decodings of the low and high
    /// halves of the bits: `2^n` ANDs for the lines plus those of the halves' lines,
    /// `2^n + O(2^(n/2))` in all, AND depth `⌈log₂ n⌉`. Lines that reach no output are
    /// dropped by [`Builder::finish`], so decoding an index and using only some lines
    /// (a table with unused entries) pays only for the lines used and their parts.
    pub fn decode(&mut self, index: &[Wire]) -> Vec<Wire> {
        match index {
            [] => vec![self.constant(true)],
            [b] => vec![self.not(*b), *b],
            _ => {
                let (lo, hi) = index.split_at(index.len() / 2);
                let lo = self.decode(lo);
                let hi = self.decode(hi);
                let mut lines = Vec::with_capacity(lo.len() * hi.len());
                for &h in &hi {
                    for &l in &lo {
                        lines.push(self.and(l, h));
                    }
                }
                lines
            }
        }
    }

    /// The `width`-bit word `⊕_i (lines_i ∧ values_i)` for public constants `values`:
    /// for one-hot `lines` (at most one is 1) the value of the line that is 1, or 0 if
    /// none is. Free: each output bit is the XOR of the lines whose value has that bit
    /// set.
    ///
    /// # Panics
    /// If `lines` and `values` differ in length or `width > 64`.
    pub fn select_constant(&mut self, lines: &[Wire], values: &[u64], width: usize) -> Vec<Wire> {
        assert_eq!(
            lines.len(),
            values.len(),
            "select_constant: lines and values"
        );
        assert!(width <= 64, "select_constant: width {width} > 64");
        (0..width)
            .map(|r| {
                let mut acc = self.constant(false);
                for (&l, &v) in lines.iter().zip(values) {
                    if (v >> r) & 1 == 1 {
                        acc = self.xor(acc, l);
                    }
                }
                acc
            })
            .collect()
    }
}
