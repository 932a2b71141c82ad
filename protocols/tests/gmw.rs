//! GMW through the real two-party driver (handshakes, in-process dealer, both parties
//! joined with `try_join!` under a timeout): AES-128 and SHA-256 known answers,
//! batches against the plaintext interpreter, every gadget in both variants with
//! random widths, values, owners and batch sizes, and the exact cost function
//! against the channel's meter.

#![allow(clippy::unwrap_used)]

mod common;

use std::sync::Arc;

use common::block;
use proptest::prelude::*;
use tessera_core::{BitMatrix, BitVec, Block, PhaseMeter, Prg, Z64};
use tessera_protocols::circuit::{Builder, Circuit, Variant, Wire, bristol, values};
use tessera_protocols::gmw::{self, BShare, Gmw, Program, RevealTo};
use tessera_protocols::harness::{self, HarnessOptions};
use tessera_protocols::{Error, Result};

fn load(name: &str) -> Circuit {
    let path = format!("{}/circuits/{name}", env!("CARGO_MANIFEST_DIR"));
    bristol::read_file(&path).unwrap()
}

/// What a GMW run returned, with its metering.
struct Outcome {
    out: [Option<Vec<BitMatrix>>; 2],
    online: [PhaseMeter; 2],
    offline: [PhaseMeter; 2],
}

/// Runs `Gmw::run` on `circuit` with input value `i` (a `width × n` matrix) owned by
/// party `owners[i]`, revealing to `to`, with the demand `gmw::demand` computes, each
/// party on `threads` threads.
fn run(
    threads: usize,
    circuit: &Arc<Circuit>,
    owners: &[usize],
    inputs: &[BitMatrix],
    n: usize,
    to: RevealTo,
) -> Result<Outcome> {
    let demand = gmw::demand(circuit, n);
    let mine = |p: usize| -> Vec<BitMatrix> {
        inputs
            .iter()
            .zip(owners)
            .filter(|(_, o)| **o == p)
            .map(|(m, _)| m.clone())
            .collect()
    };
    let party = |p: usize| {
        let (c, owners, mine) = (Program::new(circuit), owners.to_vec(), mine(p));
        async move |ap: &mut tessera_protocols::ArithParty<Z64>| {
            let (ch, prov) = ap.parts_mut();
            let refs: Vec<&BitMatrix> = mine.iter().collect();
            Gmw::new(p)?.run(ch, prov, &c, &owners, &refs, n, to).await
        }
    };
    let mut opts = HarnessOptions::default();
    opts.channel.threads = std::num::NonZeroUsize::new(threads).unwrap();
    let r = block(harness::run::<Z64, _, _>(
        &opts,
        &demand,
        party(0),
        party(1),
    ))?;
    Ok(Outcome {
        out: [r.out0, r.out1],
        online: r.online,
        offline: [r.dealer[0].offline, r.dealer[1].offline],
    })
}

/// Runs and checks everything checkable: outputs at the parties that learn them
/// against the plaintext interpreter, nothing at the other, and the exact cost.
fn check(
    circuit: &Arc<Circuit>,
    owners: &[usize],
    inputs: &[BitMatrix],
    n: usize,
    to: RevealTo,
) -> Outcome {
    check_on(1, circuit, owners, inputs, n, to)
}

/// [`check`] with `threads` threads per party.
fn check_on(
    threads: usize,
    circuit: &Arc<Circuit>,
    owners: &[usize],
    inputs: &[BitMatrix],
    n: usize,
    to: RevealTo,
) -> Outcome {
    let o = run(threads, circuit, owners, inputs, n, to).unwrap();
    let mut want = circuit.eval(inputs).unwrap();
    if inputs.is_empty() {
        // The plaintext interpreter evaluates a circuit without inputs once.
        want = want
            .iter()
            .map(|m| {
                let mut r = BitMatrix::zeros(m.rows(), n);
                for i in 0..m.rows() {
                    for j in 0..n {
                        r.set(i, j, m.get(i, 0));
                    }
                }
                r
            })
            .collect();
    }
    for p in 0..2 {
        if to.learns(p) {
            assert_eq!(o.out[p].as_ref(), Some(&want), "party {p}'s outputs");
        } else {
            assert!(o.out[p].is_none(), "party {p} must learn nothing");
        }
    }
    let cost = gmw::cost::<Z64>(circuit, n, owners, to).unwrap();
    assert_eq!(cost.online, o.online, "online metering vs cost function");
    assert_eq!(cost.offline, o.offline, "dealer metering vs cost function");
    assert_eq!(cost.and_triples, circuit.cost().and_gates * n);
    o
}

fn random_inputs(prg: &mut Prg, circuit: &Circuit, n: usize) -> Vec<BitMatrix> {
    circuit
        .input_widths()
        .iter()
        .map(|&w| {
            let rows: Vec<BitVec> = (0..w).map(|_| BitVec::random(prg, n)).collect();
            BitMatrix::from_rows(&rows).unwrap()
        })
        .collect()
}

const AES_KEY: &str = "000102030405060708090a0b0c0d0e0f";
const AES_PT: &str = "00112233445566778899aabbccddeeff";
const AES_CT: &str = "69c4e0d86a7b0430d8cdb78070b4c55a";

#[test]
fn aes_128_known_answer() {
    let aes = Arc::new(load("aes_128.txt"));
    let inputs = [
        values::from_hex(&[AES_KEY], 128).unwrap(),
        values::from_hex(&[AES_PT], 128).unwrap(),
    ];
    let o = check(&aes, &[0, 1], &inputs, 1, RevealTo::Both);
    for p in 0..2 {
        let out = o.out[p].as_ref().unwrap();
        assert_eq!(values::to_hex(&out[0]), vec![AES_CT]);
        // Inputs, one round per AND layer, the reveal.
        assert_eq!(o.online[p].rounds, 60 + 2);
    }
    // A batch of one sends two bits per AND gate (plus per-layer word rounding).
    let sent = o.online[0].bytes_sent;
    assert!(sent < 2 * 6400 / 8 + 60 * 16 + 24 + 24, "{sent} bytes");
}

#[test]
fn compiled_programs_reuse_storage() {
    for name in ["aes_128.txt", "sha256.txt"] {
        let c = load(name);
        let p = Program::new(&c);
        // A wire store of a few percent of the wires (the live ones), not all of them.
        assert!(
            p.slots() * 20 < c.num_wires(),
            "{name}: {} slots",
            p.slots()
        );
        assert!(p.slots() >= c.input_bits());
        assert_eq!(p.layers().len(), c.cost().and_depth);
        let widths: Vec<usize> = p.layers().iter().map(|(_, a)| a.len()).collect();
        assert_eq!(widths, c.cost().and_layer_widths);
    }
}

#[test]
fn sha256_known_answer() {
    let sha = Arc::new(load("sha256.txt"));
    let mut block = [0u8; 64];
    block[..3].copy_from_slice(b"abc");
    block[3] = 0x80;
    block[63] = 24;
    let iv = "6a09e667bb67ae853c6ef372a54ff53a510e527f9b05688c1f83d9ab5be0cd19";
    let inputs = [
        values::from_hex(&[hex::encode(block)], 512).unwrap(),
        values::from_hex(&[iv], 256).unwrap(),
    ];
    // The message from party 1, the chaining value from party 0; party 1 learns it.
    let o = check(&sha, &[1, 0], &inputs, 1, RevealTo::Party1);
    assert_eq!(
        values::to_hex(&o.out[1].as_ref().unwrap()[0]),
        vec!["ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"]
    );
}

#[test]
fn batched_aes_costs_its_and_depth_plus_two_rounds_whatever_the_batch() {
    let aes = Arc::new(load("aes_128.txt"));
    let depth = aes.cost().and_depth;
    let mut prg = Prg::from_seed_block(Block::from(1u128));
    // 256: the word-aligned path; 100: tightly packed bits.
    for (n, to) in [(256, RevealTo::Both), (100, RevealTo::Party0)] {
        let inputs = random_inputs(&mut prg, &aes, n);
        let o = check(&aes, &[0, 1], &inputs, n, to);
        for p in 0..2 {
            assert_eq!(o.online[p].rounds as usize, depth + 2, "n={n}");
        }
        // The AND layers dominate: 2 bits per AND per instance, frames aside.
        let layer_bytes = (2 * 6400 * n / 8) as u64;
        assert!(o.online[0].bytes_sent >= layer_bytes);
        assert!(o.online[0].bytes_sent <= layer_bytes + 62 * 16 + 2 * (128 * n as u64 / 8));
    }
}

/// A batch of several parts (two whole ones and a ragged rest) on 1, 2 and 3 threads
/// per party: the plaintext interpreter's outputs, and exactly the cost of one store
/// (the same rounds, bytes and triples whatever the cut or the thread count) — for
/// AES-128, whose layers are too small at this batch to be stepped on the threads, and
/// for two AND layers of 4,096 gates with XORs between, which are (`gmw::splits`).
#[test]
fn a_batch_of_several_parts_is_exact_on_any_thread_count() {
    const W: usize = 4096;
    let mut b = Builder::new();
    let (x, y) = (b.input(W), b.input(W));
    let z: Vec<Wire> = (0..W).map(|i| b.and(x[i], y[i])).collect();
    let t: Vec<Wire> = (0..W).map(|i| b.xor(z[i], x[(i + 1) % W])).collect();
    let u: Vec<Wire> = (0..W).map(|i| b.and(t[i], y[(i + 7) % W])).collect();
    b.output(&u);
    let wide = Arc::new(b.finish().unwrap());
    let n = 2 * gmw::PART_INSTANCES + 100;
    assert_eq!(
        gmw::part_sizes(n),
        [gmw::PART_INSTANCES, gmw::PART_INSTANCES, 100]
    );
    let mut prg = Prg::from_seed_block(Block::from(9u128));
    for (circuit, split) in [(Arc::new(load("aes_128.txt")), false), (wide, true)] {
        assert_eq!(gmw::splits(&Program::new(&circuit), n), split);
        let inputs = random_inputs(&mut prg, &circuit, n);
        for t in 1..=3 {
            check_on(t, &circuit, &[0, 1], &inputs, n, RevealTo::Both);
        }
    }
}

#[test]
fn one_owner_and_no_inputs_are_priced_exactly() {
    let mut prg = Prg::from_seed_block(Block::from(2u128));
    let mut b = Builder::new();
    let x = b.input(16);
    let y = b.input(16);
    let p = b.mul(&x, &y, Variant::Depth);
    b.output(&p);
    let c = Arc::new(b.finish().unwrap());
    for owners in [[0, 0], [1, 1], [1, 0]] {
        for to in [RevealTo::Both, RevealTo::Party0, RevealTo::Party1] {
            let inputs = random_inputs(&mut prg, &c, 65);
            check(&c, &owners, &inputs, 65, to);
        }
    }
    // A circuit without inputs (constants only) still runs its AND layers.
    let mut b = Builder::new();
    let one = b.constant(true);
    let k = b.constant_word(0b1011, 4);
    let mut out: Vec<Wire> = k.iter().map(|&w| b.xor(w, one)).collect();
    out.push(one);
    b.output(&out);
    let c = Arc::new(b.finish().unwrap());
    let o = check(&c, &[], &[], 3, RevealTo::Both);
    assert_eq!(
        values::to_u64(&o.out[0].as_ref().unwrap()[0]).unwrap(),
        vec![0b10100; 3]
    );
}

#[test]
fn a_demand_that_does_not_fit_the_circuit_fails_cleanly() {
    let aes = Arc::new(load("aes_128.txt"));
    let inputs = [
        values::from_hex(&[AES_KEY], 128).unwrap(),
        values::from_hex(&[AES_PT], 128).unwrap(),
    ];
    let refs: Vec<BitMatrix> = inputs.to_vec();
    // Triples for a batch of one, run on two instances.
    let demand = gmw::demand(&aes, 1);
    let party = |p: usize| {
        let (c, mine) = (aes.clone(), refs[p].clone());
        async move |ap: &mut tessera_protocols::ArithParty<Z64>| {
            let (ch, prov) = ap.parts_mut();
            let mut g = Gmw::new(p)?;
            let mut two = BitMatrix::zeros(128, 2);
            for r in 0..128 {
                two.set(r, 0, mine.get(r, 0));
            }
            let s = g.input(ch, c.input_widths(), &[0, 1], 2, &[&two]).await?;
            g.eval(ch, prov, &c, &[&s[0], &s[1]]).await
        }
    };
    let r = block(harness::run::<Z64, _, _>(
        &HarnessOptions::default(),
        &demand,
        party(0),
        party(1),
    ));
    assert!(matches!(r, Err(Error::Exhausted { .. })), "{r:?}");
}

#[test]
fn shares_of_the_wrong_shape_are_refused_before_any_traffic() {
    let aes = load("aes_128.txt");
    let r = block(harness::run::<Z64, _, _>(
        &HarnessOptions::default(),
        &gmw::demand(&aes, 1),
        async |ap| {
            let (ch, prov) = ap.parts_mut();
            let short = BShare::zeros(127, 1);
            Gmw::new(0)?.eval(ch, prov, &aes, &[&short, &short]).await
        },
        async |_| Ok(()),
    ));
    assert!(matches!(r, Err(Error::Shape { .. })), "{r:?}");
}

/// A circuit with every gadget of the library in both variants on `k = 10` inputs
/// of width `w`.
fn all_gadgets(w: usize) -> Circuit {
    let mut b = Builder::new();
    let x: Vec<Vec<Wire>> = (0..10).map(|_| b.input(w)).collect();
    for v in Variant::ALL {
        let s = b.add(&x[0], &x[1], v);
        b.output(&s);
        let d = b.sub(&x[2], &x[3], v);
        b.output(&d);
        let lu = b.lt_unsigned(&x[4], &x[5], v);
        let ls = b.lt_signed(&x[4], &x[5], v);
        b.output(&[lu, ls]);
        let m = b.max_signed(&x[6], &x[7], v);
        b.output(&m);
        let p = b.mul(&x[8], &x[9], v);
        b.output(&p);
        let mp = b.max_pool(&x[..4], v);
        b.output(&mp);
        let (i, am) = b.argmax(&x, v);
        b.output(&i);
        b.output(&am);
    }
    let e = b.eq(&x[0], &x[1]);
    b.output(&[e]);
    let sel = x[2][0];
    let mx = b.mux(sel, &x[3], &x[4]);
    b.output(&mx);
    let r = b.relu(&x[5]);
    b.output(&r);
    b.finish().unwrap()
}

fn mask(w: usize) -> u64 {
    if w == 64 { !0 } else { (1u64 << w) - 1 }
}

/// Width, batch size, owners, who learns, and the 10 values of each instance,
/// biased towards ties and extremes.
fn gadget_case() -> impl Strategy<Value = (usize, usize, Vec<usize>, RevealTo, Vec<Vec<u64>>)> {
    let n = prop_oneof![
        Just(1usize),
        Just(2),
        Just(63),
        Just(64),
        Just(65),
        Just(128)
    ];
    let to = prop_oneof![
        Just(RevealTo::Both),
        Just(RevealTo::Party0),
        Just(RevealTo::Party1)
    ];
    (1usize..=64, n, prop::collection::vec(0usize..2, 10), to).prop_flat_map(
        |(w, n, owners, to)| {
            let val = (any::<u64>(), 0u8..5);
            let inst = prop::collection::vec(val, 10);
            (
                Just(w),
                Just(n),
                Just(owners),
                Just(to),
                prop::collection::vec(inst, n),
            )
                .prop_map(|(w, n, owners, to, raw)| {
                    let m = mask(w);
                    let rows = raw
                        .into_iter()
                        .map(|inst| {
                            let mut vals: Vec<u64> = Vec::with_capacity(10);
                            for (i, (r, kind)) in inst.into_iter().enumerate() {
                                let v = match kind {
                                    0 if i > 0 => vals[i - 1],
                                    1 => [0, m, m >> 1, (m >> 1) + 1][(r % 4) as usize],
                                    _ => r,
                                };
                                vals.push(v & m);
                            }
                            vals
                        })
                        .collect();
                    (w, n, owners, to, rows)
                })
        },
    )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(40))]

    #[test]
    fn every_gadget_in_both_variants_matches_plaintext(
        (w, n, owners, to, rows) in gadget_case()
    ) {
        let c = Arc::new(all_gadgets(w));
        let inputs: Vec<BitMatrix> = (0..10)
            .map(|i| values::from_u64(&rows.iter().map(|r| r[i]).collect::<Vec<_>>(), w).unwrap())
            .collect();
        check(&c, &owners, &inputs, n, to);
    }
}
