//! Bristol Fashion: writer → reader round trips, the extended operations (EQ, EQW,
//! MAND), line-numbered errors for malformed files, and a mutation proptest: the
//! reader returns Ok or Err on anything, never panics.

// Test helpers outside #[test] functions unwrap too; clippy.toml only covers the latter.
#![allow(clippy::unwrap_used)]

use proptest::prelude::*;
use tessera_protocols::Error;
use tessera_protocols::circuit::{BristolLimits, Builder, Circuit, Gate, Variant, Wire, bristol};

fn load(name: &str) -> Circuit {
    let path = format!("{}/circuits/{name}", env!("CARGO_MANIFEST_DIR"));
    bristol::read_file(&path).unwrap()
}

/// A small circuit exercising every gate kind: 8-bit add, compare, relu, a constant
/// output, an output that is an input, and a repeated output.
fn sample() -> Circuit {
    let mut b = Builder::new();
    let x = b.input(8);
    let y = b.input(8);
    let s = b.add(&x, &y, Variant::Depth);
    let lt = b.lt_signed(&x, &y, Variant::Size);
    let r = b.relu(&s);
    let one = b.constant(true);
    b.output(&s);
    b.output(&[lt, one, x[3], lt]);
    b.output(&r);
    b.finish().unwrap()
}

#[test]
fn builder_circuits_are_in_bristol_layout_and_round_trip_exactly() {
    let c = sample();
    assert!(c.is_bristol_layout());
    let text = c.to_bristol();
    let back = bristol::read(&text).unwrap();
    assert_eq!(back, c);
    assert_eq!(back.to_bristol(), text);
    let kinds = c.cost();
    assert!(kinds.and_gates > 0 && kinds.xor_gates > 0 && kinds.inv_gates > 0);
    assert!(
        kinds.copy_gates >= 2,
        "input and repeated outputs are copies"
    );
    assert_eq!(kinds.const_gates, 2);
}

#[test]
fn aes_round_trips_exactly() {
    let aes = load("aes_128.txt");
    let text = aes.to_bristol();
    let back = bristol::read(&text).unwrap();
    assert_eq!(back, aes);
    // The writer reproduces the reference file up to whitespace.
    let orig = std::fs::read_to_string(format!(
        "{}/circuits/aes_128.txt",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap();
    let norm = |s: &str| -> Vec<String> {
        s.lines()
            .map(|l| l.split_whitespace().collect::<Vec<_>>().join(" "))
            .filter(|l| !l.is_empty())
            .collect()
    };
    assert_eq!(norm(&text), norm(&orig));
}

#[test]
fn write_to_an_io_sink_matches_to_string() {
    let c = sample();
    let mut buf = Vec::new();
    bristol::write(&c, &mut buf).unwrap();
    assert_eq!(buf, c.to_bristol().into_bytes());
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("sample.txt");
    std::fs::write(&path, &buf).unwrap();
    assert_eq!(bristol::read_file(&path).unwrap(), c);
    assert!(matches!(
        bristol::read_file(dir.path().join("missing.txt")),
        Err(Error::Io { .. })
    ));
}

/// Every extended operation, by hand: wires 0-3 inputs (two 2-bit values).
const EXTENDED: &str = "\
7 11
2 2 2
1 4

1 1 1 4 EQ
1 1 0 5 EQ
1 1 2 6 EQW
4 2 0 2 1 3 7 8 MAND
2 1 7 4 9 XOR
2 1 8 5 10 AND
1 1 6 10 INV
";

#[test]
fn reads_eq_eqw_and_mand() {
    // 7 gate lines, one MAND line makes two ANDs: 8 gates, and 4 + 8 > 11 wires by
    // the last line.
    let err = bristol::read(EXTENDED).unwrap_err();
    assert!(matches!(err, Error::Bristol { line: 11, .. }), "{err}");

    // Consistent version: outputs are wires 9..13 (4 bits).
    let text = "\
8 13
2 2 2
1 4

1 1 1 4 EQ
1 1 0 5 EQ
1 1 2 6 EQW
4 2 0 2 1 3 7 8 MAND
2 1 7 4 9 XOR
2 1 8 5 10 AND
1 1 6 11 INV
2 1 7 8 12 XOR
";
    let c = bristol::read(text).unwrap();
    assert_eq!(c.gates().len(), 9, "8 lines, the MAND one makes two ANDs");
    assert_eq!(
        c.gates()[3..5],
        [
            Gate::And {
                a: Wire(0),
                b: Wire(2),
                out: Wire(7)
            },
            Gate::And {
                a: Wire(1),
                b: Wire(3),
                out: Wire(8)
            },
        ]
    );
    for x in 0..4u64 {
        for y in 0..4u64 {
            let out = c.eval_u64(&[&[x], &[y]]).unwrap()[0][0];
            let (x0, x1, y0, y1) = (x & 1, x >> 1, y & 1, y >> 1);
            let (w7, w8) = (x0 & y0, x1 & y1);
            // Bit 1 is w8 AND the constant 0.
            let expect = (w7 ^ 1) | (y0 ^ 1) << 2 | (w7 ^ w8) << 3;
            assert_eq!(out, expect, "x={x} y={y}");
        }
    }
    // And it round-trips (MAND written as two ANDs).
    assert_eq!(bristol::read(c.to_bristol()).unwrap(), c);
}

/// `(text, line)`: the reader must fail naming `line`.
const MALFORMED: &[(&str, usize, &str)] = &[
    ("", 1, "empty"),
    ("\n\n", 1, "blank"),
    ("1\n1 1\n1 1\n\n1 1 0 1 INV\n", 1, "header arity"),
    ("1 x\n1 1\n1 1\n\n1 1 0 1 INV\n", 1, "non-numeric"),
    ("1 -2\n1 1\n1 1\n\n1 1 0 1 INV\n", 1, "negative"),
    ("1 99999999999999999999999\n1 1\n1 1\n", 1, "overflow"),
    ("1 4000000000\n1 1\n1 1\n\n1 1 0 1 INV\n", 1, "absurd wires"),
    (
        "999999999999 2\n1 1\n1 1\n\n1 1 0 1 INV\n",
        1,
        "absurd gates",
    ),
    ("1 2\n2 1\n1 1\n\n1 1 0 1 INV\n", 2, "input count"),
    (
        "1 2\n1 4294967296\n1 1\n\n1 1 0 1 INV\n",
        2,
        "input width over wires",
    ),
    ("1 2\n1 0\n1 1\n\n1 1 0 1 INV\n", 2, "zero width"),
    ("1 2\n1 1\n1 1 1\n\n1 1 0 1 INV\n", 3, "output count"),
    ("1 2\n1 1\n", 3, "truncated header"),
    ("1 2\n1 1\n1 1\n\n1 1 0 1 NAND\n", 5, "unknown op"),
    ("1 3\n1 2\n1 1\n\n2 1 0 1 2 INV\n", 5, "INV arity"),
    ("1 3\n1 2\n1 1\n\n3 1 0 1 1 2 XOR\n", 5, "XOR arity"),
    ("1 3\n1 2\n1 1\n\n2 1 0 1 XOR\n", 5, "token count"),
    ("1 3\n1 2\n1 1\n\n2 1 0 9 2 AND\n", 5, "wire out of range"),
    ("1 3\n1 2\n1 1\n\n2 1 0 x 2 AND\n", 5, "wire not a number"),
    (
        "2 4\n1 2\n1 1\n\n2 1 0 1 2 AND\n2 1 0 1 2 XOR\n",
        6,
        "assigned twice",
    ),
    (
        "2 4\n1 2\n1 1\n\n2 1 0 3 2 AND\n2 1 0 1 3 XOR\n",
        5,
        "read before assigned",
    ),
    ("1 3\n1 2\n1 1\n\n2 1 0 1 1 AND\n", 5, "assigns an input"),
    (
        "1 3\n1 2\n1 1\n\n2 1 0 1 2 AND\n1 1 2 2 INV\n",
        6,
        "too many gates",
    ),
    (
        "3 5\n1 2\n1 1\n\n2 1 0 1 2 AND\n2 1 0 1 3 XOR\n",
        7,
        "too few gates",
    ),
    (
        "3 5\n1 2\n1 1\n\n2 1 0 1 2 AND\n2 1 0 1 3 XOR",
        7,
        "truncated, no final newline",
    ),
    ("1 3\n1 2\n1 1\n\n1 1 7 2 EQ\n", 5, "EQ constant"),
    ("1 4\n1 2\n1 1\n\n3 1 0 1 0 2 MAND\n", 5, "MAND arity"),
    (
        "1 9\n1 2\n1 1\n\n2 1 0 1 2 AND\n",
        1,
        "wires never assigned",
    ),
    ("1 3\n1 2\n1 1\n\n2 1 0 1 2\n", 5, "missing op"),
    (
        "1 3\n1 2\n1 1\n\n2 1 0 1 2 AND extra\n",
        5,
        "trailing token",
    ),
];

#[test]
fn malformed_files_name_the_line() {
    for &(text, line, what) in MALFORMED {
        match bristol::read(text) {
            Err(Error::Bristol { line: l, reason }) => {
                assert_eq!(l, line, "{what}: {reason}");
                assert!(!reason.is_empty());
            }
            other => panic!("{what}: expected a Bristol error on line {line}, got {other:?}"),
        }
    }
}

#[test]
fn limits_bound_the_header() {
    let small = BristolLimits {
        max_wires: 100,
        max_gates: 10,
    };
    let text = sample().to_bristol();
    assert!(matches!(
        bristol::read_with_limits(text.as_bytes(), small),
        Err(Error::Bristol { line: 1, .. })
    ));
    let c = sample();
    let fits = BristolLimits {
        max_wires: c.num_wires(),
        max_gates: c.gates().len(),
    };
    assert_eq!(bristol::read_with_limits(text.as_bytes(), fits).unwrap(), c);
}

/// One mutation of a text.
#[derive(Clone, Debug)]
enum Mutation {
    Truncate(usize),
    SetByte(usize, u8),
    Delete(usize, usize),
    Insert(usize, String),
    DuplicateLine(usize),
    SwapLines(usize, usize),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    let byte = prop_oneof![
        Just(b' '),
        Just(b'\n'),
        Just(b'0'),
        Just(b'1'),
        Just(b'9'),
        Just(b'-'),
        any::<u8>(),
        (b'A'..=b'Z'),
    ];
    let token = prop_oneof![
        Just("XOR".to_string()),
        Just("AND".to_string()),
        Just("INV".to_string()),
        Just("EQ".to_string()),
        Just("EQW".to_string()),
        Just("MAND".to_string()),
        Just("4294967295".to_string()),
        Just("18446744073709551616".to_string()),
        (0u32..200).prop_map(|n| n.to_string()),
    ];
    prop_oneof![
        any::<usize>().prop_map(Mutation::Truncate),
        (any::<usize>(), byte).prop_map(|(i, b)| Mutation::SetByte(i, b)),
        (any::<usize>(), 0usize..12).prop_map(|(i, n)| Mutation::Delete(i, n)),
        (any::<usize>(), token).prop_map(|(i, t)| Mutation::Insert(i, format!(" {t} "))),
        any::<usize>().prop_map(Mutation::DuplicateLine),
        (any::<usize>(), any::<usize>()).prop_map(|(i, j)| Mutation::SwapLines(i, j)),
    ]
}

fn apply(text: &mut Vec<u8>, m: &Mutation) {
    let len = text.len().max(1);
    match m {
        Mutation::Truncate(i) => text.truncate(i % len),
        Mutation::SetByte(i, b) => {
            if !text.is_empty() {
                text[i % len] = *b;
            }
        }
        Mutation::Delete(i, n) => {
            let start = i % len;
            let end = (start + n).min(text.len());
            if start < end {
                text.drain(start..end);
            }
        }
        Mutation::Insert(i, t) => {
            let at = (i % len).min(text.len());
            text.splice(at..at, t.bytes());
        }
        Mutation::DuplicateLine(i) | Mutation::SwapLines(i, _) => {
            let mut lines: Vec<Vec<u8>> = text.split(|&b| b == b'\n').map(<[u8]>::to_vec).collect();
            let n = lines.len();
            let a = i % n;
            match m {
                Mutation::SwapLines(_, j) => lines.swap(a, j % n),
                _ => {
                    let l = lines[a].clone();
                    lines.insert(a, l);
                }
            }
            *text = lines.join(&b'\n');
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1024))]

    #[test]
    fn mutated_files_never_panic(muts in prop::collection::vec(mutation(), 1..5), seed in any::<u64>()) {
        let mut text = sample().to_bristol().into_bytes();
        text.extend_from_slice(b"1 1 0 1 EQ\n");
        for m in &muts {
            apply(&mut text, m);
        }
        // Ok or Err, never a panic; if Ok, the circuit evaluates.
        if let Ok(c) = bristol::read(&text) {
            let inputs: Vec<Vec<u64>> = c
                .input_widths()
                .iter()
                .map(|&w| vec![seed & if w >= 64 { !0 } else { (1 << w) - 1 }; 3])
                .collect();
            let refs: Vec<&[u64]> = inputs.iter().map(Vec::as_slice).collect();
            if c.input_widths().iter().all(|&w| w <= 64) {
                let out = c.eval_u64(&refs);
                prop_assert!(out.is_ok() || c.outputs().iter().any(|o| o.len() > 64));
            }
        }
    }

    #[test]
    fn builder_circuits_round_trip(w in 1usize..=16, v in prop_oneof![Just(Variant::Size), Just(Variant::Depth)]) {
        let mut b = Builder::new();
        let x = b.input(w);
        let y = b.input(w);
        let m = b.mul(&x, &y, v);
        let (i, mx) = b.argmax(&[x.clone(), y.clone(), m.clone()], v);
        b.output(&m);
        b.output(&i);
        b.output(&mx);
        b.output(&x);
        let c = b.finish().unwrap();
        prop_assert!(c.is_bristol_layout());
        prop_assert_eq!(bristol::read(c.to_bristol()).unwrap(), c);
    }
}
