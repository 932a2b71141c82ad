//! Property tests of the core primitives: ring laws, fixed point, bit transposes, PRG.

#![allow(clippy::unwrap_used)]

use proptest::prelude::*;
use rand_core::{RngCore, SeedableRng};
use tessera_core::{BitMatrix, BitVec, Block, FixedPoint, Prg, Ring, Z32, Z64};

fn ring_laws<R: Ring>(a: R, b: R, c: R) {
    assert_eq!(a + b, b + a);
    assert_eq!((a + b) + c, a + (b + c));
    assert_eq!(a * b, b * a);
    assert_eq!((a * b) * c, a * (b * c));
    assert_eq!(a * (b + c), a * b + a * c);
    assert_eq!(a + R::zero(), a);
    assert_eq!(a * R::one(), a);
    assert_eq!(a + (-a), R::zero());
    assert_eq!(a - b, a + (-b));
    // The ring is Z_2^ℓ: results agree with u128 arithmetic reduced mod 2^ℓ.
    let m = if R::BITS == 64 {
        u128::from(u64::MAX)
    } else {
        (1u128 << R::BITS) - 1
    };
    let (x, y) = (u128::from(a.to_u64()), u128::from(b.to_u64()));
    assert_eq!(u128::from((a * b).to_u64()), (x * y) & m);
    assert_eq!(u128::from((a + b).to_u64()), (x + y) & m);
}

fn encode_round_trip<R: Ring>(v: Vec<u64>) {
    let xs: Vec<R> = v.into_iter().map(R::from_u64).collect();
    let mut bytes = Vec::new();
    R::encode_slice(&xs, &mut bytes);
    assert_eq!(bytes.len(), xs.len() * R::BYTES);
    assert_eq!(R::decode_slice(&bytes).unwrap(), xs);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]
    /// Cutting a matrix into column ranges at any offsets and putting them back
    /// gives the matrix; each range holds exactly those columns.
    #[test]
    fn column_ranges_round_trip(rows in 1usize..5, cols in 1usize..300, cuts in proptest::collection::vec(0usize..300, 0..4), seed in any::<u64>()) {
        let mut prg = Prg::from_seed_block(Block(u128::from(seed)));
        let mut m = BitMatrix::zeros(rows, cols);
        for r in 0..rows {
            for c in 0..cols {
                m.set(r, c, prg.next_u32() & 1 == 1);
            }
        }
        let mut bounds: Vec<usize> = cuts.into_iter().map(|c| c % (cols + 1)).collect();
        bounds.extend([0, cols]);
        bounds.sort_unstable();
        bounds.dedup();
        let mut back = BitMatrix::zeros(rows, cols);
        for w in bounds.windows(2) {
            let part = m.columns(w[0], w[1] - w[0]);
            for r in 0..rows {
                for c in 0..part.cols() {
                    prop_assert_eq!(part.get(r, c), m.get(r, w[0] + c));
                }
            }
            back.put_columns(w[0], &part);
        }
        prop_assert_eq!(back, m);
    }


    #[test]
    fn ring_laws_z64(a: u64, b: u64, c: u64) {
        ring_laws(Z64::from_u64(a), Z64::from_u64(b), Z64::from_u64(c));
    }

    #[test]
    fn ring_laws_z32(a: u64, b: u64, c: u64) {
        ring_laws(Z32::from_u64(a), Z32::from_u64(b), Z32::from_u64(c));
    }

    #[test]
    fn ring_bytes_round_trip(v in proptest::collection::vec(any::<u64>(), 0..100)) {
        encode_round_trip::<Z64>(v.clone());
        encode_round_trip::<Z32>(v);
    }

    #[test]
    fn signed_representatives(v: i32, w: i64) {
        prop_assert_eq!(Z32::from_i64(i64::from(v)).to_i64(), i64::from(v));
        prop_assert_eq!(Z64::from_i64(w).to_i64(), w);
    }

    #[test]
    fn fixed_point_round_trip_z64(f in 0u32..=40, x in -1e6f64..1e6) {
        let fp = FixedPoint::new(f);
        let e: Z64 = fp.encode(x).unwrap();
        // Rounding to the nearest multiple of 2^-f: error at most 2^-(f+1) (< 2^-f).
        prop_assert!((fp.decode(e) - x).abs() <= (-(f as f64) - 1.0).exp2());
    }

    #[test]
    fn fixed_point_round_trip_z32(f in 0u32..=16, x in -16_000f64..16_000.0) {
        let fp = FixedPoint::new(f);
        match fp.encode::<Z32>(x) {
            Ok(e) => prop_assert!((fp.decode(e) - x).abs() <= (-(f as f64) - 1.0).exp2()),
            // Only values beyond the range may fail.
            Err(_) => prop_assert!(x.abs() * fp.scale() >= 2f64.powi(31) - 1.0),
        }
    }

    #[test]
    fn fixed_point_addition_is_exact(a in -1e5f64..1e5, b in -1e5f64..1e5) {
        let fp = FixedPoint::default();
        let (ea, eb): (Z64, Z64) = (fp.encode(a).unwrap(), fp.encode(b).unwrap());
        let sum = fp.decode(ea + eb);
        prop_assert!((sum - (fp.decode(ea) + fp.decode(eb))).abs() == 0.0);
    }

    #[test]
    fn transpose_is_an_involution(rows in 0usize..200, cols in 0usize..200, seed: u128) {
        let mut prg = Prg::from_seed_block(Block(seed));
        let rs: Vec<BitVec> = (0..rows).map(|_| BitVec::random(&mut prg, cols)).collect();
        let m = if rows == 0 { BitMatrix::zeros(0, cols) } else { BitMatrix::from_rows(&rs).unwrap() };
        let t = m.transpose();
        prop_assert_eq!((t.rows(), t.cols()), (cols, rows));
        for r in 0..rows.min(5) {
            for c in 0..cols.min(5) {
                prop_assert_eq!(t.get(c, r), m.get(r, c));
            }
        }
        prop_assert_eq!(t.transpose(), m);
    }

    #[test]
    fn value_bit_slicing_round_trips(width in 1usize..=64, vals in proptest::collection::vec(any::<u64>(), 0..300)) {
        let mask = if width == 64 { u64::MAX } else { (1u64 << width) - 1 };
        let m = BitMatrix::from_values(&vals, width);
        prop_assert_eq!((m.rows(), m.cols()), (width, vals.len()));
        for (j, v) in vals.iter().enumerate().take(10) {
            for i in 0..width {
                prop_assert_eq!(m.get(i, j), (v >> i) & 1 == 1);
            }
        }
        let back = m.to_values();
        let masked: Vec<u64> = vals.iter().map(|v| v & mask).collect();
        prop_assert_eq!(back, masked);
    }

    #[test]
    fn flat_layout_round_trips(rows in 0usize..70, cols in 0usize..150, seed: u128) {
        let mut prg = Prg::from_seed_block(Block(seed));
        let rs: Vec<BitVec> = (0..rows).map(|_| BitVec::random(&mut prg, cols)).collect();
        let m = if rows == 0 { BitMatrix::zeros(0, cols) } else { BitMatrix::from_rows(&rs).unwrap() };
        let flat = m.to_flat();
        prop_assert_eq!(flat.len(), rows * cols);
        for r in 0..rows {
            for c in 0..cols {
                prop_assert_eq!(flat.get(r * cols + c), m.get(r, c));
            }
        }
        prop_assert_eq!(BitMatrix::from_flat(&flat, rows, cols).unwrap(), m);
        prop_assert!(BitMatrix::from_flat(&flat, rows, cols + 1).is_err() || rows == 0);
    }

    #[test]
    fn prg_is_deterministic_by_seed(seed: [u8; 16], other: [u8; 16], n in 1usize..5000) {
        let (mut a, mut b) = (Prg::from_seed(seed), Prg::from_seed(seed));
        let (mut x, mut y) = (vec![0u8; n], vec![0u8; n]);
        a.fill_bytes(&mut x);
        b.fill_bytes(&mut y);
        prop_assert_eq!(&x, &y);
        prop_assert_eq!(a.next_u64(), b.next_u64());
        if other != seed && n >= 16 {
            let mut z = vec![0u8; n];
            Prg::from_seed(other).fill_bytes(&mut z);
            prop_assert_ne!(x, z);
        }
    }
}

#[test]
fn prg_output_is_balanced() {
    // A sanity check of the keystream, not a randomness test: 2^20 bits, ones within
    // 6 standard deviations (σ = 512) of half.
    let mut prg = Prg::from_entropy();
    let v = BitVec::random(&mut prg, 1 << 20);
    let ones = v.count_ones() as i64;
    assert!((ones - (1 << 19)).abs() < 6 * 512, "{ones} ones");
}

#[test]
fn bitvec_ops() {
    let mut a = BitVec::from_bools(&[true, false, true, true]);
    let b = BitVec::from_bools(&[true, true, false, true]);
    a.xor_assign(&b);
    assert_eq!(a.iter().collect::<Vec<_>>(), vec![false, true, true, false]);
    a.not_assign();
    assert_eq!(a.words(), &[0b1001]);
    assert!(BitVec::from_words(65, vec![0]).is_err());
    assert_eq!(
        BitVec::from_words(3, vec![u64::MAX]).unwrap().count_ones(),
        3
    );
}
