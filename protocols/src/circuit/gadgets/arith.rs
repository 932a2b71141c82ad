//! Adders, subtractors, carry chains and multipliers on words mod 2^ℓ.

use super::{Variant, check_pair};
use crate::circuit::{Builder, Wire};

impl Builder {
    /// Carries `c_0..=c_count` of `a + b + cin` (`c_0 = cin`, `c_i` = carry into bit
    /// `i`), for `count ≤ a.len()`.
    ///
    /// - [`Variant::Size`]: ripple carry with one AND a bit,
    ///   `c_{i+1} = c_i ⊕ ((a_i ⊕ c_i) ∧ (b_i ⊕ c_i))` (the majority function with one
    ///   AND, as used for free-XOR circuits by Kolesnikov, Sadeghi, Schneider, CANS
    ///   2009): `count` ANDs, depth `count`.
    /// - [`Variant::Depth`]: generate/propagate signals `g_i = a_i ∧ b_i`,
    ///   `p_i = a_i ⊕ b_i` and the Sklansky parallel prefix (Sklansky 1960; the
    ///   minimum-depth member of the Ladner–Fischer family of prefix circuits, Ladner
    ///   and Fischer, JACM 1980) over `(G, P) ∘ (G', P') = (G ⊕ (P ∧ G'), P ∧ P')` (XOR
    ///   in place of OR: `G` and `P ∧ G'` are never both 1): depth `1 + ⌈log₂ count⌉`.
    fn carries(
        &mut self,
        a: &[Wire],
        b: &[Wire],
        cin: Wire,
        count: usize,
        variant: Variant,
    ) -> Vec<Wire> {
        let mut c = Vec::with_capacity(count + 1);
        c.push(cin);
        match variant {
            Variant::Size => {
                for i in 0..count {
                    let ci = c[i];
                    let x = self.xor(a[i], ci);
                    let y = self.xor(b[i], ci);
                    let t = self.and(x, y);
                    c.push(self.xor(ci, t));
                }
            }
            Variant::Depth => {
                let mut g: Vec<Wire> = (0..count).map(|i| self.and(a[i], b[i])).collect();
                let mut p: Vec<Wire> = (0..count).map(|i| self.xor(a[i], b[i])).collect();
                if count > 0 {
                    let t = self.and(p[0], cin);
                    g[0] = self.xor(g[0], t);
                }
                self.sklansky(&mut g, &mut p);
                c.extend(g);
            }
        }
        c
    }

    /// In-place Sklansky prefix over `(g, p)`: afterwards `g[i]` is the group
    /// generate of positions `0..=i`. Gates computing group propagates that no output
    /// needs are removed by [`Builder::finish`].
    fn sklansky(&mut self, g: &mut [Wire], p: &mut [Wire]) {
        let n = g.len();
        let mut span = 1;
        while span < n {
            for j in 0..n {
                if (j / span) % 2 == 1 {
                    // j is in the upper half of its block of 2·span; combine with the
                    // last position of the lower half.
                    let src = (j / span) * span - 1;
                    let t = self.and(p[j], g[src]);
                    g[j] = self.xor(g[j], t);
                    p[j] = self.and(p[j], p[src]);
                }
            }
            span *= 2;
        }
    }

    /// `a + b + cin mod 2^ℓ`.
    fn add_cin(&mut self, a: &[Wire], b: &[Wire], cin: Wire, variant: Variant) -> Vec<Wire> {
        let n = a.len();
        let c = self.carries(a, b, cin, n - 1, variant);
        (0..n)
            .map(|i| {
                let p = self.xor(a[i], b[i]);
                self.xor(p, c[i])
            })
            .collect()
    }

    /// `a + b mod 2^ℓ`. Size: ripple-carry adder, `ℓ − 1` ANDs, depth `ℓ − 1`.
    /// Depth: Sklansky parallel-prefix adder (Ladner–Fischer family, 1980), depth
    /// `1 + ⌈log₂(ℓ − 1)⌉`. See [`Variant`].
    ///
    /// # Panics
    /// If the words are empty or differ in width.
    pub fn add(&mut self, a: &[Wire], b: &[Wire], variant: Variant) -> Vec<Wire> {
        check_pair("add", a, b);
        let zero = self.constant(false);
        self.add_cin(a, b, zero, variant)
    }

    /// `a − b mod 2^ℓ`, as `a + ¬b + 1` (the folding builder makes the carry-in
    /// free); the same costs as [`Builder::add`].
    ///
    /// # Panics
    /// If the words are empty or differ in width.
    pub fn sub(&mut self, a: &[Wire], b: &[Wire], variant: Variant) -> Vec<Wire> {
        check_pair("sub", a, b);
        let nb: Vec<Wire> = b.iter().map(|&w| self.not(w)).collect();
        let one = self.constant(true);
        self.add_cin(a, &nb, one, variant)
    }

    /// `a ≥ b` as unsigned integers: the carry out of `a + ¬b + 1`.
    pub(crate) fn geq_unsigned(&mut self, a: &[Wire], b: &[Wire], variant: Variant) -> Wire {
        let nb: Vec<Wire> = b.iter().map(|&w| self.not(w)).collect();
        let one = self.constant(true);
        let c = self.carries(a, &nb, one, a.len(), variant);
        c[a.len()]
    }

    /// `a · b mod 2^ℓ` (for pure-Boolean baselines).
    ///
    /// - [`Variant::Size`]: schoolbook: the `ℓ(ℓ+1)/2` partial products `a_i ∧ b_j`
    ///   with `i + j < ℓ`, accumulated row by row with ripple-carry adders of
    ///   shrinking width: `ℓ(ℓ+1)/2 + (ℓ−1)(ℓ−2)/2` ANDs.
    /// - [`Variant::Depth`]: the same partial products reduced to two rows by a
    ///   Dadda tree of one-AND full and half adders (Dadda, "Some schemes for
    ///   parallel multipliers", 1965, refining Wallace's tree, IEEE TEC 1964), then
    ///   the Sklansky parallel-prefix adder: AND depth `O(log ℓ)`, at most
    ///   `2⌈log₂ ℓ⌉ + 4` for ℓ ≤ 64 (checked by the tests).
    ///
    /// # Panics
    /// If the words are empty or differ in width.
    pub fn mul(&mut self, a: &[Wire], b: &[Wire], variant: Variant) -> Vec<Wire> {
        check_pair("mul", a, b);
        let n = a.len();
        match variant {
            Variant::Size => {
                let mut acc: Vec<Wire> = a.iter().map(|&x| self.and(x, b[0])).collect();
                for j in 1..n {
                    let row: Vec<Wire> = (0..n - j).map(|i| self.and(a[i], b[j])).collect();
                    let sum = self.add(&acc[j..], &row, Variant::Size);
                    acc[j..].copy_from_slice(&sum);
                }
                acc
            }
            Variant::Depth => {
                let mut cols: Vec<Vec<Wire>> = vec![Vec::new(); n];
                for j in 0..n {
                    for i in 0..n - j {
                        let pp = self.and(a[i], b[j]);
                        cols[i + j].push(pp);
                    }
                }
                self.dadda_add(cols)
            }
        }
    }

    /// The sum mod 2^ℓ of the bits in `cols` (column `i` weighs `2^i`, ℓ = the
    /// number of columns): Dadda's schedule of target heights 2, 3, 4, 6, 9, 13, … —
    /// each stage reduces every column, counting the carries arriving from the
    /// column below, to the next smaller target, using only bits present at the
    /// start of the stage (one AND layer a stage) — then a Sklansky adder of the two
    /// rows left.
    fn dadda_add(&mut self, cols: Vec<Vec<Wire>>) -> Vec<Wire> {
        self.dadda_add_with(cols, Variant::Depth)
    }

    /// [`Builder::dadda_add`] whose final two-row adder is of `last`'s kind.
    fn dadda_add_with(&mut self, mut cols: Vec<Vec<Wire>>, last: Variant) -> Vec<Wire> {
        let tallest = cols.iter().map(Vec::len).max().unwrap_or(0);
        let mut targets = vec![2usize];
        while targets[targets.len() - 1] < tallest {
            let t = targets[targets.len() - 1];
            targets.push(t * 3 / 2);
        }
        for &d in targets.iter().rev() {
            if cols.iter().any(|c| c.len() > d) {
                cols = self.dadda_stage(cols, d);
            }
        }
        let zero = self.constant(false);
        let r0: Vec<Wire> = cols
            .iter()
            .map(|c| c.first().copied().unwrap_or(zero))
            .collect();
        let r1: Vec<Wire> = cols
            .iter()
            .map(|c| c.get(1).copied().unwrap_or(zero))
            .collect();
        self.add(&r0, &r1, last)
    }

    /// The sum mod 2^n of the bits in `cols` (column `i` weighs `2^i`, `n` = the number
    /// of columns, `n ≥ 1`), for sparse operand sets such as the partial products of a
    /// narrow multiplier or shifted rows. Known constants are folded first: zeros are
    /// dropped and the ones added up into one constant word, so only the variable bits
    /// cost. Then Dadda's reduction to two rows (as in [`Builder::mul`]; one AND a full
    /// or half adder, whatever the variant) and the final adder of `variant`: ripple
    /// carry ([`Variant::Size`]) or Sklansky ([`Variant::Depth`]).
    ///
    /// # Panics
    /// If `cols` is empty.
    pub fn sum_columns(&mut self, cols: Vec<Vec<Wire>>, variant: Variant) -> Vec<Wire> {
        assert!(!cols.is_empty(), "sum_columns: no columns");
        let n = cols.len();
        // The constant ones, as an integer mod 2^n (carries past n are dropped).
        let mut ones = vec![0u64; n + 1];
        let mut var: Vec<Vec<Wire>> = Vec::with_capacity(n);
        for (i, col) in cols.into_iter().enumerate() {
            let mut keep = Vec::with_capacity(col.len());
            for w in col {
                match self.constant_value(w) {
                    Some(false) => {}
                    Some(true) => ones[i] += 1,
                    None => keep.push(w),
                }
            }
            var.push(keep);
        }
        let one = self.constant(true);
        for i in 0..n {
            let carry = ones[i] / 2;
            ones[i + 1] += carry;
            if ones[i] % 2 == 1 {
                var[i].push(one);
            }
        }
        self.dadda_add_with(var, variant)
    }

    /// `x · c mod 2^n` for a public constant `c` (taken mod 2^n, `n = x.len()`): one
    /// shifted row per non-zero digit of `c`'s non-adjacent form (Reitwiesner 1960; at
    /// most `⌈(n+1)/2⌉` digits, a negative digit is `¬(x·2^j) + 1`), summed by
    /// [`Builder::sum_columns`]. A power of two is free.
    ///
    /// # Panics
    /// If `x` is empty or wider than 64 bits.
    pub fn mul_const(&mut self, x: &[Wire], c: u64, variant: Variant) -> Vec<Wire> {
        let n = x.len();
        assert!(n > 0 && n <= 64, "mul_const: width {n} (must be 1 to 64)");
        let c = if n == 64 { c } else { c & ((1u64 << n) - 1) };
        let mut cols: Vec<Vec<Wire>> = vec![Vec::new(); n];
        let zero = self.constant(false);
        let one = self.constant(true);
        for (j, d) in naf(c).into_iter().enumerate().take(n) {
            match d {
                1 => {
                    for i in j..n {
                        cols[i].push(x[i - j]);
                    }
                }
                -1 => {
                    // −(x·2^j) = ¬(x·2^j) + 1: ones below j, ¬x above, and a one.
                    for col in cols.iter_mut().take(j) {
                        col.push(one);
                    }
                    for i in j..n {
                        let nx = self.not(x[i - j]);
                        cols[i].push(nx);
                    }
                    cols[0].push(one);
                }
                _ => {}
            }
        }
        for col in &mut cols {
            if col.is_empty() {
                col.push(zero);
            }
        }
        self.sum_columns(cols, variant)
    }

    /// `Σ words mod 2^ℓ` of one or more words of equal width ℓ (the accumulation of
    /// an inner product).
    ///
    /// - [`Variant::Size`]: a balanced tree of ripple-carry adders,
    ///   `(k − 1)(ℓ − 1)` ANDs for `k` words.
    /// - [`Variant::Depth`]: every bit of every word into its column, the columns
    ///   reduced to two rows by Dadda's tree of one-AND full adders (as in
    ///   [`Builder::mul`]; carries out of the top column are dropped, mod 2^ℓ), then
    ///   one Sklansky adder: about `(k − 2)·ℓ` ANDs and AND depth
    ///   `⌈log_{3/2}(k/2)⌉ + 1 + ⌈log₂(ℓ − 1)⌉`, where a tree of Sklansky adders needs
    ///   `⌈log₂ k⌉` times the adder's depth and several times the ANDs.
    ///
    /// # Panics
    /// If `words` is empty, or the words are empty or differ in width.
    pub fn sum(&mut self, words: &[Vec<Wire>], variant: Variant) -> Vec<Wire> {
        let first = words.first().map(Vec::as_slice).unwrap_or_default();
        for w in words {
            check_pair("sum", first, w);
        }
        if words.len() == 1 {
            return first.to_vec();
        }
        match variant {
            Variant::Size => {
                let mut terms = words.to_vec();
                while terms.len() > 1 {
                    let mut next = Vec::with_capacity(terms.len().div_ceil(2));
                    let mut it = terms.into_iter();
                    while let Some(x) = it.next() {
                        match it.next() {
                            Some(y) => next.push(self.add(&x, &y, Variant::Size)),
                            None => next.push(x),
                        }
                    }
                    terms = next;
                }
                terms.pop().unwrap_or_default()
            }
            Variant::Depth => {
                let cols = (0..first.len())
                    .map(|i| words.iter().map(|w| w[i]).collect())
                    .collect();
                self.dadda_add(cols)
            }
        }
    }

    /// One stage of Dadda's reduction: every column to at most `d` bits, counting
    /// the carries that arrive from the column below in this stage.
    fn dadda_stage(&mut self, cols: Vec<Vec<Wire>>, d: usize) -> Vec<Vec<Wire>> {
        let n = cols.len();
        let mut next: Vec<Vec<Wire>> = vec![Vec::new(); n];
        for (k, col) in cols.into_iter().enumerate() {
            let mut bits = col.into_iter();
            let mut out = Vec::new();
            loop {
                let height = bits.len() + out.len() + next[k].len();
                if height <= d {
                    break;
                }
                let (s, c) = if height - d >= 2 && bits.len() >= 3 {
                    let (Some(x), Some(y), Some(z)) = (bits.next(), bits.next(), bits.next())
                    else {
                        break;
                    };
                    self.full_adder(x, y, z)
                } else if bits.len() >= 2 {
                    let (Some(x), Some(y)) = (bits.next(), bits.next()) else {
                        break;
                    };
                    (self.xor(x, y), self.and(x, y))
                } else {
                    break;
                };
                out.push(s);
                if k + 1 < n {
                    next[k + 1].push(c);
                }
            }
            next[k].extend(out);
            next[k].extend(bits);
        }
        next
    }

    /// Full adder with one AND: sum `x ⊕ y ⊕ z`, carry `z ⊕ ((x ⊕ z) ∧ (y ⊕ z))`.
    fn full_adder(&mut self, x: Wire, y: Wire, z: Wire) -> (Wire, Wire) {
        let xz = self.xor(x, z);
        let yz = self.xor(y, z);
        let s = self.xor(xz, y);
        let t = self.and(xz, yz);
        (s, self.xor(z, t))
    }
}

/// The non-adjacent form of `c`: digits in {−1, 0, 1}, least significant first, no two
/// adjacent non-zero, `Σ d_j·2^j = c` (65 digits at most).
fn naf(c: u64) -> Vec<i8> {
    let mut v = u128::from(c);
    let mut out = Vec::with_capacity(65);
    while v != 0 {
        if v & 1 == 1 {
            if v & 3 == 3 {
                out.push(-1);
                v += 1;
            } else {
                out.push(1);
                v -= 1;
            }
        } else {
            out.push(0);
        }
        v >>= 1;
    }
    out
}
