//! Comparisons, selection, max, ReLU, max-pooling and argmax.

use super::{Variant, check_pair};
use crate::circuit::{Builder, Wire};

impl Builder {
    /// `a < b` as unsigned integers, as `¬(a ≥ b)` with `a ≥ b` the carry out of
    /// `a + ¬b + 1`. Size: one-AND-a-bit carry chain (Kolesnikov, Sadeghi, Schneider,
    /// CANS 2009), `ℓ` ANDs, depth `ℓ`. Depth: the carry out of the Sklansky prefix,
    /// i.e. a balanced tree of generate/propagate combinations, depth
    /// `1 + ⌈log₂ ℓ⌉`, about `3ℓ` ANDs.
    ///
    /// # Panics
    /// If the words are empty or differ in width.
    pub fn lt_unsigned(&mut self, a: &[Wire], b: &[Wire], variant: Variant) -> Wire {
        check_pair("lt_unsigned", a, b);
        let geq = self.geq_unsigned(a, b, variant);
        self.not(geq)
    }

    /// `a < b` as two's-complement integers: flipping the sign bits maps signed order
    /// to unsigned order, so this is [`Builder::lt_unsigned`] on the flipped words at
    /// the same cost.
    ///
    /// # Panics
    /// If the words are empty or differ in width.
    pub fn lt_signed(&mut self, a: &[Wire], b: &[Wire], variant: Variant) -> Wire {
        check_pair("lt_signed", a, b);
        let n = a.len();
        let mut fa = a.to_vec();
        let mut fb = b.to_vec();
        fa[n - 1] = self.not(a[n - 1]);
        fb[n - 1] = self.not(b[n - 1]);
        self.lt_unsigned(&fa, &fb, variant)
    }

    /// `a = b`: a balanced AND tree over `¬(a_i ⊕ b_i)`, `ℓ − 1` ANDs at depth
    /// `⌈log₂ ℓ⌉`, optimal in both measures, so there is one variant.
    ///
    /// # Panics
    /// If the words are empty or differ in width.
    pub fn eq(&mut self, a: &[Wire], b: &[Wire]) -> Wire {
        check_pair("eq", a, b);
        let mut level: Vec<Wire> = a
            .iter()
            .zip(b)
            .map(|(&x, &y)| {
                let d = self.xor(x, y);
                self.not(d)
            })
            .collect();
        while level.len() > 1 {
            level = level
                .chunks(2)
                .map(|c| match *c {
                    [x, y] => self.and(x, y),
                    _ => c[0],
                })
                .collect();
        }
        level[0]
    }

    /// `s ? t : f`, bit by bit `f ⊕ (s ∧ (t ⊕ f))`: `ℓ` ANDs, depth 1.
    ///
    /// # Panics
    /// If the words are empty or differ in width.
    pub fn mux(&mut self, s: Wire, t: &[Wire], f: &[Wire]) -> Vec<Wire> {
        check_pair("mux", t, f);
        t.iter()
            .zip(f)
            .map(|(&x, &y)| self.mux_bit(s, x, y))
            .collect()
    }

    /// The larger of two two's-complement words: [`Builder::lt_signed`] then
    /// [`Builder::mux`] (`ℓ` more ANDs, one more layer).
    ///
    /// # Panics
    /// If the words are empty or differ in width.
    pub fn max_signed(&mut self, a: &[Wire], b: &[Wire], variant: Variant) -> Vec<Wire> {
        let lt = self.lt_signed(a, b, variant);
        self.mux(lt, b, a)
    }

    /// ReLU on a two's-complement word, `max(x, 0)`: each bit below the sign ANDed
    /// with the negated sign bit, the sign bit of the result 0. `ℓ − 1` ANDs, depth 1.
    ///
    /// # Panics
    /// If the word is empty.
    pub fn relu(&mut self, x: &[Wire]) -> Vec<Wire> {
        assert!(!x.is_empty(), "relu: empty word");
        let n = x.len();
        let pos = self.not(x[n - 1]);
        let mut out: Vec<Wire> = x[..n - 1].iter().map(|&b| self.and(b, pos)).collect();
        out.push(self.constant(false));
        out
    }

    /// The maximum of a window of two's-complement words (max-pooling): a balanced
    /// tournament tree of [`Builder::max_signed`], `k − 1` max gadgets in
    /// `⌈log₂ k⌉` rounds for a window of `k` words; the variant is that of the
    /// comparators.
    ///
    /// # Panics
    /// If the window is empty, or the words are empty or differ in width.
    pub fn max_pool(&mut self, window: &[Vec<Wire>], variant: Variant) -> Vec<Wire> {
        assert!(!window.is_empty(), "max_pool: empty window");
        let mut level: Vec<Vec<Wire>> = window.to_vec();
        while level.len() > 1 {
            let mut next = Vec::with_capacity(level.len().div_ceil(2));
            for pair in level.chunks(2) {
                match pair {
                    [x, y] => next.push(self.max_signed(x, y, variant)),
                    _ => next.push(pair[0].clone()),
                }
            }
            level = next;
        }
        check_pair("max_pool", &level[0], &window[0]);
        level.swap_remove(0)
    }

    /// The index of the largest of `k` two's-complement words and that largest
    /// value, as `(index, max)`. **Ties resolve to the lowest index.** The index is
    /// unsigned, `max(1, ⌈log₂ k⌉)` bits wide.
    ///
    /// Construction: a balanced tournament tree whose left subtree always holds the
    /// lower indices; a node takes its right candidate only if the left value is
    /// strictly smaller ([`Builder::lt_signed`]), so each node keeps the lowest index
    /// among the maxima below it. Each node muxes the value and the index; leaf
    /// indices are constants, so the first-level index muxes fold away.
    ///
    /// # Panics
    /// If `values` is empty, or the words are empty or differ in width.
    pub fn argmax(&mut self, values: &[Vec<Wire>], variant: Variant) -> (Vec<Wire>, Vec<Wire>) {
        assert!(!values.is_empty(), "argmax: no values");
        let k = values.len();
        let index_bits = (usize::BITS - (k - 1).leading_zeros()).max(1) as usize;
        let mut level: Vec<(Vec<Wire>, Vec<Wire>)> = values
            .iter()
            .enumerate()
            .map(|(i, v)| (self.constant_word(i as u64, index_bits), v.clone()))
            .collect();
        while level.len() > 1 {
            let mut next = Vec::with_capacity(level.len().div_ceil(2));
            for pair in level.chunks(2) {
                match pair {
                    [(li, lv), (ri, rv)] => {
                        check_pair("argmax", lv, rv);
                        let take_right = self.lt_signed(lv, rv, variant);
                        let v = self.mux(take_right, rv, lv);
                        let i = self.mux(take_right, ri, li);
                        next.push((i, v));
                    }
                    _ => next.push(pair[0].clone()),
                }
            }
            level = next;
        }
        assert!(!level[0].1.is_empty(), "argmax: empty word");
        level.swap_remove(0)
    }
}
