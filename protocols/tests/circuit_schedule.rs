//! Levelisation invariants: every AND reads only wires available before its layer,
//! the number of layers is the AND depth, the schedule holds every gate exactly once
//! in a topological order that computes the same function; on random circuits and
//! on the AES-128 and SHA-256 reference circuits.

// Test helpers outside #[test] functions unwrap too; clippy.toml only covers the latter.
#![allow(clippy::unwrap_used)]

use proptest::prelude::*;
use rand::{Rng, SeedableRng, rngs::StdRng};
use tessera_core::BitMatrix;
use tessera_protocols::circuit::{Circuit, FreeGate, Gate, Wire, bristol};

fn load(name: &str) -> Circuit {
    let path = format!("{}/circuits/{name}", env!("CARGO_MANIFEST_DIR"));
    bristol::read_file(&path).unwrap()
}

fn free_io(g: &FreeGate) -> (Vec<Wire>, Wire) {
    match *g {
        FreeGate::Xor { a, b, out } => (vec![a, b], out),
        FreeGate::Inv { a, out } | FreeGate::Copy { a, out } => (vec![a], out),
        FreeGate::Const { out, .. } => (vec![], out),
    }
}

fn random_inputs(c: &Circuit, n: usize, seed: u64) -> Vec<BitMatrix> {
    let mut rng = StdRng::seed_from_u64(seed);
    c.input_widths()
        .iter()
        .map(|&w| {
            let rows: Vec<_> = (0..w)
                .map(|_| tessera_core::BitVec::random(&mut rng, n))
                .collect();
            BitMatrix::from_rows(&rows).unwrap()
        })
        .collect()
}

/// Checks every schedule invariant of `c`.
fn check_schedule(c: &Circuit) {
    let s = c.schedule();
    let cost = c.cost();
    let depth = c.and_depths();
    assert_eq!(s.and_depth(), cost.and_depth);
    assert_eq!(s.and_depth(), c.and_depth());
    assert_eq!(s.and_layer_widths(), cost.and_layer_widths);
    assert_eq!(s.num_and_gates(), cost.and_gates);

    let mut avail = vec![false; c.num_wires()];
    avail[..c.input_bits()].fill(true);
    let run_free = |gates: &[FreeGate], avail: &mut Vec<bool>| {
        for g in gates {
            let (ins, out) = free_io(g);
            assert!(
                ins.iter().all(|w| avail[w.index()]),
                "{g:?} reads too early"
            );
            assert!(!avail[out.index()], "{g:?} assigns twice");
            avail[out.index()] = true;
        }
    };
    for (k, layer) in s.layers().enumerate() {
        assert_eq!(layer.index, k);
        run_free(layer.free_before, &mut avail);
        assert!(!layer.ands.is_empty(), "layer {k} is empty");
        // All inputs of the layer's ANDs exist before any of them is computed.
        for g in layer.ands {
            assert!(
                avail[g.a.index()] && avail[g.b.index()],
                "AND {g:?} of layer {k} reads too early"
            );
            assert_eq!(depth[g.out.index()] as usize, k + 1);
        }
        for g in layer.ands {
            assert!(!avail[g.out.index()]);
            avail[g.out.index()] = true;
        }
    }
    run_free(s.tail(), &mut avail);
    assert!(avail.iter().all(|&a| a), "some wire is never assigned");

    // The schedule order is a valid topological order with the same gates.
    let reordered: Vec<Gate> = s.gates().collect();
    let mut a: Vec<Gate> = c.gates().to_vec();
    let mut b = reordered.clone();
    a.sort_by_key(|g| g.out());
    b.sort_by_key(|g| g.out());
    assert_eq!(a, b);
    let re = Circuit::new(
        c.num_wires(),
        c.input_widths().to_vec(),
        reordered,
        c.outputs().to_vec(),
    )
    .expect("the schedule order is topological");
    let ins = random_inputs(c, 77, 5);
    assert_eq!(re.eval(&ins).unwrap(), c.eval(&ins).unwrap());
}

#[test]
fn aes_schedule() {
    let aes = load("aes_128.txt");
    check_schedule(&aes);
    let s = aes.schedule();
    assert_eq!(s.and_depth(), 60);
    assert_eq!(s.num_and_gates(), 6_400);
}

#[test]
fn sha256_schedule() {
    let sha = load("sha256.txt");
    check_schedule(&sha);
    assert_eq!(sha.schedule().and_depth(), 1_607);
}

/// A random valid circuit from a gate recipe: each gate picks its kind and reads
/// wires among those already assigned.
fn circuit_from(widths: &[usize], recipe: &[(u8, u32, u32, bool)], outs: &[Vec<u32>]) -> Circuit {
    let n_in: usize = widths.iter().sum();
    let mut gates = Vec::new();
    for (k, &(kind, x, y, v)) in recipe.iter().enumerate() {
        let avail = (n_in + k) as u32;
        let out = Wire(avail);
        let (a, b) = (Wire(x % avail), Wire(y % avail));
        gates.push(match kind % 6 {
            0 | 1 => Gate::And { a, b, out },
            2 | 3 => Gate::Xor { a, b, out },
            4 => Gate::Inv { a, out },
            _ if v => Gate::Copy { a, out },
            _ => Gate::Const {
                value: x % 2 == 1,
                out,
            },
        });
    }
    let total = (n_in + gates.len()) as u32;
    let outputs = outs
        .iter()
        .map(|o| o.iter().map(|&w| Wire(w % total)).collect())
        .collect();
    Circuit::new(total as usize, widths.to_vec(), gates, outputs).unwrap()
}

fn arb_circuit() -> impl Strategy<Value = Circuit> {
    (
        prop::collection::vec(1usize..6, 1..4),
        prop::collection::vec(
            (any::<u8>(), any::<u32>(), any::<u32>(), any::<bool>()),
            0..120,
        ),
        prop::collection::vec(prop::collection::vec(any::<u32>(), 1..6), 1..4),
    )
        .prop_map(|(w, r, o)| circuit_from(&w, &r, &o))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn random_circuit_schedules(c in arb_circuit()) {
        check_schedule(&c);
    }

    #[test]
    fn bristol_layout_preserves_the_function(c in arb_circuit(), seed in any::<u64>()) {
        let laid = c.to_bristol_layout();
        prop_assert!(laid.is_bristol_layout());
        prop_assert_eq!(laid.to_bristol_layout(), laid.clone());
        let back = bristol::read(c.to_bristol()).unwrap();
        prop_assert_eq!(&back, &laid);
        let ins = random_inputs(&c, 65, seed);
        prop_assert_eq!(back.eval(&ins).unwrap(), c.eval(&ins).unwrap());
        prop_assert_eq!(back.cost().and_gates, c.cost().and_gates);
        prop_assert_eq!(back.cost().and_depth, c.cost().and_depth);
    }

    #[test]
    fn eval_batch_is_instance_wise(c in arb_circuit(), seed in any::<u64>()) {
        // Evaluating a batch equals evaluating each instance alone.
        let n = 70;
        let ins = random_inputs(&c, n, seed);
        let all = c.eval(&ins).unwrap();
        let mut rng = StdRng::seed_from_u64(seed);
        for _ in 0..3 {
            let j = rng.random_range(0..n);
            let one: Vec<BitMatrix> = ins
                .iter()
                .map(|m| {
                    let col: Vec<bool> = (0..m.rows()).map(|r| m.get(r, j)).collect();
                    let rows: Vec<_> = col.iter().map(|&b| tessera_core::BitVec::from_bools(&[b])).collect();
                    BitMatrix::from_rows(&rows).unwrap()
                })
                .collect();
            let out = c.eval(&one).unwrap();
            for (o, full) in out.iter().zip(&all) {
                for r in 0..o.rows() {
                    prop_assert_eq!(o.get(r, 0), full.get(r, j));
                }
            }
        }
    }
}
