//! Every gadget in both variants against Rust integer semantics, with random widths
//! and values, evaluated by the bit-sliced plaintext evaluator on batches of 1 and
//! 100 instances, each instance checked.

// Test helpers outside #[test] functions unwrap too; clippy.toml only covers the latter.
#![allow(clippy::unwrap_used)]

use proptest::prelude::*;
use tessera_protocols::circuit::{Builder, Circuit, Variant, Wire};

fn mask(w: usize) -> u64 {
    if w == 64 { !0 } else { (1u64 << w) - 1 }
}

/// `v` (w bits) as a signed integer.
fn sext(v: u64, w: usize) -> i64 {
    ((v << (64 - w)) as i64) >> (64 - w)
}

/// Builds a circuit with `k` inputs of width `w` whose outputs `f` declares.
fn build(k: usize, w: usize, f: impl FnOnce(&mut Builder, &[Vec<Wire>])) -> Circuit {
    let mut b = Builder::new();
    let ins: Vec<Vec<Wire>> = (0..k).map(|_| b.input(w)).collect();
    f(&mut b, &ins);
    b.finish().unwrap()
}

/// Instances of `k` values of width `w`, biased towards equal, adjacent and extreme
/// values so that comparisons see ties and sign boundaries.
fn instances(k: usize) -> impl Strategy<Value = (usize, Vec<Vec<u64>>)> {
    let batch = prop_oneof![Just(1usize), Just(100usize)];
    (1usize..=64, batch).prop_flat_map(move |(w, n)| {
        let inst = prop::collection::vec((any::<u64>(), 0u8..6, any::<u8>()), k);
        (Just(w), prop::collection::vec(inst, n)).prop_map(move |(w, raw)| {
            let m = mask(w);
            let rows = raw
                .into_iter()
                .map(|inst| {
                    let mut vals: Vec<u64> = Vec::with_capacity(k);
                    for (i, &(r, kind, bit)) in inst.iter().enumerate() {
                        let prev = if i > 0 { vals[i - 1] } else { r & m };
                        let v = match kind {
                            0 => prev,                                                 // tie
                            1 => prev ^ (1 << (bit as usize % w)), // one bit apart
                            2 => [0, m, m >> 1, ((m >> 1) + 1) & m][bit as usize % 4], // extremes
                            _ => r,
                        };
                        vals.push(v & m);
                    }
                    vals
                })
                .collect();
            (w, rows)
        })
    })
}

/// Evaluates `c` on the instances (value `i` of instance `j` is `rows[j][i]`).
fn eval(c: &Circuit, rows: &[Vec<u64>]) -> Vec<Vec<u64>> {
    let k = c.num_inputs();
    let cols: Vec<Vec<u64>> = (0..k)
        .map(|i| rows.iter().map(|r| r[i]).collect())
        .collect();
    let refs: Vec<&[u64]> = cols.iter().map(Vec::as_slice).collect();
    c.eval_u64(&refs).unwrap()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn add_sub((w, rows) in instances(2)) {
        for v in Variant::ALL {
            let add = build(2, w, |b, x| { let r = b.add(&x[0], &x[1], v); b.output(&r) });
            let sub = build(2, w, |b, x| { let r = b.sub(&x[0], &x[1], v); b.output(&r) });
            let (s, d) = (eval(&add, &rows), eval(&sub, &rows));
            for (j, r) in rows.iter().enumerate() {
                prop_assert_eq!(s[0][j], r[0].wrapping_add(r[1]) & mask(w), "{} add w={} {:?}", v, w, r);
                prop_assert_eq!(d[0][j], r[0].wrapping_sub(r[1]) & mask(w), "{} sub w={} {:?}", v, w, r);
            }
        }
    }

    #[test]
    fn comparisons((w, rows) in instances(2)) {
        for v in Variant::ALL {
            let c = build(2, w, |b, x| {
                let u = b.lt_unsigned(&x[0], &x[1], v);
                let s = b.lt_signed(&x[0], &x[1], v);
                b.output(&[u]);
                b.output(&[s]);
            });
            let out = eval(&c, &rows);
            for (j, r) in rows.iter().enumerate() {
                prop_assert_eq!(out[0][j] == 1, r[0] < r[1], "{} ult w={} {:?}", v, w, r);
                prop_assert_eq!(out[1][j] == 1, sext(r[0], w) < sext(r[1], w), "{} slt w={} {:?}", v, w, r);
            }
        }
    }

    #[test]
    fn equality_and_mux((w, rows) in instances(3)) {
        let c = build(3, w, |b, x| {
            let e = b.eq(&x[0], &x[1]);
            let m = b.mux(x[2][0], &x[0], &x[1]);
            b.output(&[e]);
            b.output(&m);
        });
        let out = eval(&c, &rows);
        for (j, r) in rows.iter().enumerate() {
            prop_assert_eq!(out[0][j] == 1, r[0] == r[1]);
            prop_assert_eq!(out[1][j], if r[2] & 1 == 1 { r[0] } else { r[1] });
        }
    }

    #[test]
    fn max_and_relu((w, rows) in instances(2)) {
        for v in Variant::ALL {
            let c = build(2, w, |b, x| {
                let m = b.max_signed(&x[0], &x[1], v);
                let r = b.relu(&x[0]);
                b.output(&m);
                b.output(&r);
            });
            let out = eval(&c, &rows);
            for (j, r) in rows.iter().enumerate() {
                let (a, bb) = (sext(r[0], w), sext(r[1], w));
                prop_assert_eq!(sext(out[0][j], w), a.max(bb), "{} max w={} {:?}", v, w, r);
                prop_assert_eq!(sext(out[1][j], w), a.max(0), "relu w={} {:?}", w, r);
            }
        }
    }

    #[test]
    fn multiplication((w, rows) in instances(2)) {
        for v in Variant::ALL {
            let c = build(2, w, |b, x| { let r = b.mul(&x[0], &x[1], v); b.output(&r) });
            let out = eval(&c, &rows);
            for (j, r) in rows.iter().enumerate() {
                prop_assert_eq!(out[0][j], r[0].wrapping_mul(r[1]) & mask(w), "{} mul w={} {:?}", v, w, r);
            }
        }
    }

    #[test]
    fn multi_operand_sum((k, (w, rows)) in (1usize..=40).prop_flat_map(|k| (Just(k), instances(k)))) {
        for v in Variant::ALL {
            let c = build(k, w, |b, x| { let r = b.sum(x, v); b.output(&r) });
            let out = eval(&c, &rows);
            for (j, r) in rows.iter().enumerate() {
                let want = r.iter().fold(0u64, |a, &x| a.wrapping_add(x)) & mask(w);
                prop_assert_eq!(out[0][j], want, "{} sum of {} w={} {:?}", v, k, w, r);
            }
        }
    }

    #[test]
    fn max_pool_and_argmax((k, (w, rows)) in (1usize..=9).prop_flat_map(|k| (Just(k), instances(k)))) {
        for v in Variant::ALL {
            let c = build(k, w, |b, x| {
                let m = b.max_pool(x, v);
                let (i, am) = b.argmax(x, v);
                b.output(&m);
                b.output(&i);
                b.output(&am);
            });
            let index_bits = (usize::BITS - (k - 1).leading_zeros()).max(1) as usize;
            prop_assert_eq!(c.output_widths(), vec![w, index_bits, w]);
            let out = eval(&c, &rows);
            for (j, r) in rows.iter().enumerate() {
                let vals: Vec<i64> = r.iter().map(|&x| sext(x, w)).collect();
                let max = *vals.iter().max().unwrap();
                let first = vals.iter().position(|&x| x == max).unwrap();
                prop_assert_eq!(sext(out[0][j], w), max, "{} max_pool w={} {:?}", v, w, r);
                prop_assert_eq!(out[1][j] as usize, first, "{} argmax w={} {:?}", v, w, r);
                prop_assert_eq!(sext(out[2][j], w), max);
            }
        }
    }
}

fn log2_ceil(x: usize) -> usize {
    (usize::BITS - x.saturating_sub(1).leading_zeros()) as usize
}

/// The costs the gadget docs state, for every width.
#[test]
fn documented_costs() {
    for w in 1..=64usize {
        let cost = |v: Variant, f: fn(&mut Builder, &[Vec<Wire>], Variant)| {
            let c = build(2, w, |b, x| f(b, x, v));
            let c = c.cost();
            (c.and_gates, c.and_depth)
        };
        let add = |b: &mut Builder, x: &[Vec<Wire>], v| {
            let r = b.add(&x[0], &x[1], v);
            b.output(&r)
        };
        let lt = |b: &mut Builder, x: &[Vec<Wire>], v| {
            let r = b.lt_unsigned(&x[0], &x[1], v);
            b.output(&[r])
        };
        let eq = |b: &mut Builder, x: &[Vec<Wire>], _| {
            let r = b.eq(&x[0], &x[1]);
            b.output(&[r])
        };
        let relu = |b: &mut Builder, x: &[Vec<Wire>], _| {
            let r = b.relu(&x[0]);
            b.output(&r)
        };
        let mul = |b: &mut Builder, x: &[Vec<Wire>], v| {
            let r = b.mul(&x[0], &x[1], v);
            b.output(&r)
        };
        assert_eq!(cost(Variant::Size, add), (w - 1, w - 1), "add w={w}");
        assert_eq!(
            cost(Variant::Depth, add).1,
            if w == 1 { 0 } else { 1 + log2_ceil(w - 1) },
            "add w={w}"
        );
        assert_eq!(cost(Variant::Size, lt), (w, w), "lt w={w}");
        assert_eq!(cost(Variant::Depth, lt).1, 1 + log2_ceil(w), "lt w={w}");
        assert_eq!(cost(Variant::Size, eq), (w - 1, log2_ceil(w)), "eq w={w}");
        assert_eq!(
            cost(Variant::Size, relu),
            (w - 1, usize::from(w > 1)),
            "relu w={w}"
        );
        assert_eq!(
            cost(Variant::Size, mul).0,
            w * (w + 1) / 2 + (w - 1) * w.saturating_sub(2) / 2,
            "mul w={w}"
        );
        assert!(
            cost(Variant::Depth, mul).1 <= 2 * log2_ceil(w) + 4,
            "mul depth w={w}"
        );
        if w >= 8 {
            assert!(
                cost(Variant::Depth, mul).1 < cost(Variant::Size, mul).1,
                "mul depth w={w}"
            );
        }
    }
}

/// The multi-operand sum's documented costs: `(k − 1)(ℓ − 1)` ANDs for the tree of
/// ripple adders; the Dadda variant within its stated depth and, from four words
/// on, both shallower and smaller than a tree of Sklansky adders.
#[test]
fn documented_sum_costs() {
    let dadda_depth = |k: usize| {
        let (mut t, mut stages) = (2usize, 0);
        while t < k {
            t = t * 3 / 2;
            stages += 1;
        }
        stages
    };
    for w in [1usize, 2, 7, 16, 32, 64] {
        for k in [1usize, 2, 3, 4, 9, 25, 100, 785] {
            let cost = |v: Variant| {
                let c = build(k, w, |b, x| {
                    let r = b.sum(x, v);
                    b.output(&r)
                })
                .cost();
                (c.and_gates, c.and_depth)
            };
            let (size, depth) = (cost(Variant::Size), cost(Variant::Depth));
            assert_eq!(size.0, (k - 1) * (w - 1), "sum size k={k} w={w}");
            let adder_depth = if w == 1 { 0 } else { 1 + log2_ceil(w - 1) };
            let bound = if k == 1 {
                0
            } else {
                dadda_depth(k) + adder_depth
            };
            assert!(
                depth.1 <= bound,
                "sum depth k={k} w={w}: {} > {bound}",
                depth.1
            );
            if k >= 4 && w >= 8 {
                let tree = build(k, w, |b, x| {
                    let mut terms = x.to_vec();
                    while terms.len() > 1 {
                        let mut next = Vec::new();
                        for pair in terms.chunks(2) {
                            next.push(match pair {
                                [a, c] => b.add(a, c, Variant::Depth),
                                [a] => a.clone(),
                                _ => unreachable!(),
                            });
                        }
                        terms = next;
                    }
                    b.output(&terms[0])
                })
                .cost();
                assert!(depth.1 < tree.and_depth, "sum depth k={k} w={w}");
                assert!(depth.0 < tree.and_gates, "sum ANDs k={k} w={w}");
            }
        }
    }
}

#[test]
fn argmax_ties_resolve_to_the_lowest_index() {
    let c = build(5, 8, |b, x| {
        let (i, _) = b.argmax(x, Variant::Depth);
        b.output(&i)
    });
    let rows = vec![
        vec![3, 7, 7, 1, 7],
        vec![9, 9, 9, 9, 9],
        vec![0x80, 0x80, 0xff, 0x80, 0xff], // -128, -1: the two -1 tie at index 2
        vec![1, 2, 3, 4, 5],
    ];
    let out = eval(&c, &rows);
    assert_eq!(out[0], vec![1, 0, 2, 4]);
}

#[test]
fn gadget_table_in_readme_is_current() {
    let table = tessera_protocols::circuit::gadget_cost_table(&[32, 64]).unwrap();
    let readme = include_str!("../src/circuit/README.md");
    assert!(
        readme.contains(&table),
        "protocols/src/circuit/README.md is out of date; paste the output of \
         `cargo run -p tessera-protocols --example gadget_costs`:\n{table}"
    );
}
