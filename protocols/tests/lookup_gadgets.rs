//! The table gadgets — one-hot decoding, constant selection, sparse column sums and
//! constant multiplication — against Rust integer semantics, in both variants.

#![allow(clippy::unwrap_used)]

use proptest::prelude::*;
use tessera_protocols::circuit::{Builder, Variant};

fn mask(w: usize) -> u64 {
    if w == 64 { !0 } else { (1u64 << w) - 1 }
}

#[test]
fn decode_is_one_hot_for_every_index() {
    for n in 0..=6usize {
        let mut b = Builder::new();
        let x = b.input(n.max(1));
        let lines = b.decode(&x[..n]);
        assert_eq!(lines.len(), 1 << n);
        for l in &lines {
            b.output(&[*l]);
        }
        let c = b.finish().unwrap();
        let vals: Vec<u64> = (0..1u64 << n).collect();
        let out = c.eval_u64(&[&vals]).unwrap();
        for (i, line) in out.iter().enumerate() {
            let want: Vec<u64> = vals.iter().map(|&v| u64::from(v == i as u64)).collect();
            assert_eq!(line, &want, "line {i} of {n} bits");
        }
        // 2^n ANDs for the lines, plus the halves' (none below 2 bits).
        let ands = c.cost().and_gates;
        let expect = match n {
            0 | 1 => 0,
            2 => 4,
            3 => 8 + 4,
            _ => ands,
        };
        assert_eq!(ands, expect, "{n} bits");
        assert!(
            ands <= (1 << n) + 3 * (1 << n.div_ceil(2)),
            "{n} bits: {ands} ANDs"
        );
    }
}

#[test]
fn selecting_constants_is_free_and_exact() {
    let table = [5u64, 0, 0x3ff, 17, 1 << 9, 0x155, 2, 0x2aa];
    let mut b = Builder::new();
    let x = b.input(3);
    let lines = b.decode(&x);
    let y = b.select_constant(&lines, &table, 10);
    b.output(&y);
    let c = b.finish().unwrap();
    let idx: Vec<u64> = (0..8).collect();
    assert_eq!(c.eval_u64(&[&idx]).unwrap()[0], table.to_vec());
    // At most the decoder's ANDs (lines of the two zero entries are dropped).
    assert!(c.cost().and_gates <= 12);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn mul_const_is_the_ring_product(
        w in 1usize..=64,
        c in any::<u64>(),
        small in any::<bool>(),
        xs in prop::collection::vec(any::<u64>(), 1..40),
    ) {
        // Half of the cases use a small constant (few digits), as a slope would.
        let c = if small { c & 0xffff } else { c };
        for v in Variant::ALL {
            let mut b = Builder::new();
            let x = b.input(w);
            let y = b.mul_const(&x, c, v);
            b.output(&y);
            let circ = b.finish().unwrap();
            let xs: Vec<u64> = xs.iter().map(|&x| x & mask(w)).collect();
            let out = circ.eval_u64(&[&xs]).unwrap();
            for (x, y) in xs.iter().zip(&out[0]) {
                prop_assert_eq!(*y, x.wrapping_mul(c) & mask(w), "x {} c {} w {} {}", x, c, w, v);
            }
        }
    }

    #[test]
    fn sum_columns_of_shifted_rows_is_the_sum(
        w in 2usize..=40,
        rows in prop::collection::vec((0usize..12, 1usize..16, any::<u64>()), 1..6),
        consts in any::<u64>(),
        xs in prop::collection::vec(any::<u64>(), 1..20),
    ) {
        // Each row: the input's low `len` bits, shifted by `shift`; plus a constant word.
        let mut b = Builder::new();
        let x = b.input(16);
        let mut cols = vec![Vec::new(); w];
        for &(shift, len, _) in &rows {
            for i in 0..len {
                if shift + i < w {
                    cols[shift + i].push(x[i]);
                }
            }
        }
        let k = consts & mask(w);
        for (i, col) in cols.iter_mut().enumerate() {
            let bit = b.constant((k >> i) & 1 == 1);
            col.push(bit);
        }
        let y0 = b.sum_columns(cols.clone(), Variant::Size);
        let y1 = b.sum_columns(cols, Variant::Depth);
        b.output(&y0);
        b.output(&y1);
        let circ = b.finish().unwrap();
        let xs: Vec<u64> = xs.iter().map(|&x| x & 0xffff).collect();
        let out = circ.eval_u64(&[&xs]).unwrap();
        for (j, &xv) in xs.iter().enumerate() {
            let mut want = k;
            for &(shift, len, _) in &rows {
                let part = (xv & mask(len)).checked_shl(shift as u32).unwrap_or(0);
                want = want.wrapping_add(part);
            }
            prop_assert_eq!(out[0][j], want & mask(w));
            prop_assert_eq!(out[1][j], want & mask(w));
        }
    }
}

#[test]
fn mul_const_costs_follow_the_digits() {
    let cost = |c: u64| {
        let mut b = Builder::new();
        let x = b.input(64);
        let y = b.mul_const(&x, c, Variant::Size);
        b.output(&y);
        b.finish().unwrap().cost().and_gates
    };
    assert_eq!(cost(1 << 15), 0, "a power of two is a shift");
    assert_eq!(cost(0), 0);
    // 655 = 2^9 + 2^7 + 2^4 − 1: four rows, far fewer ANDs than a 64-bit multiplier.
    let c655 = cost(655);
    assert!(c655 > 0 && c655 < 400, "{c655}");
}
