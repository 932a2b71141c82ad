//! Yao through the real two-party driver with dealer OTs: known answers, batches and
//! every gadget against the plaintext interpreter, values kept garbled across
//! circuits, exact byte counts, in-transit corruption, and redaction of secrets.

#![allow(clippy::unwrap_used)]

use std::path::PathBuf;

use proptest::prelude::*;
use tessera_core::{BitMatrix, Channel, ChannelConfig, Prg, Z64};
use tessera_protocols::RevealTo;
use tessera_protocols::circuit::{Builder, Circuit, Variant, Wire, bristol, values};
use tessera_protocols::harness::{self, HarnessOptions, Run};
use tessera_protocols::yao::{self, Evaluator, Garbler};
use tessera_protocols::{Demand, Error};

fn circuit_file(name: &str) -> Circuit {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("circuits")
        .join(name);
    bristol::read_file(&p).unwrap()
}

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

/// Runs `circuit` under Yao: input `i` belongs to `owners[i]` (0 = garbler,
/// 1 = evaluator); every output is revealed to both. Returns both parties' outputs.
async fn run_yao(
    circuit: &Circuit,
    inputs: &[BitMatrix],
    owners: &[usize],
) -> tessera_protocols::Result<Run<Vec<BitMatrix>, Vec<BitMatrix>>> {
    let n = inputs.first().map_or(1, BitMatrix::cols);
    let ot_bits: usize = inputs
        .iter()
        .zip(owners)
        .filter(|(_, o)| **o == 1)
        .map(|(m, _)| m.rows() * n)
        .sum();
    let mut demand = Demand::new();
    demand.random_ots(ot_bits, 0);
    let (c0, c1) = (circuit.clone(), circuit.clone());
    let (in0, in1) = (inputs.to_vec(), inputs.to_vec());
    let (o0, o1) = (owners.to_vec(), owners.to_vec());
    harness::run::<Z64, _, _>(
        &HarnessOptions::default(),
        &demand,
        async move |p| {
            let rots = p.provider_mut().take_random_ots(ot_bits, 0)?;
            let ch = p.channel_mut();
            let mut g = Garbler::new();
            let mut shares = Vec::new();
            // The evaluator's inputs first (one OT batch), then the garbler's own: the
            // evaluator's corrections and nothing else open the exchange (one round).
            let peer_widths: Vec<(usize, usize)> = in0
                .iter()
                .enumerate()
                .filter(|(i, _)| o0[*i] == 1)
                .map(|(i, m)| (i, m.rows()))
                .collect();
            let total: usize = peer_widths.iter().map(|(_, w)| w).sum();
            let peer = g.input_from_evaluator(ch, total, n, rots).await?;
            let peer_parts =
                peer.split_bits(&peer_widths.iter().map(|(_, w)| *w).collect::<Vec<_>>())?;
            let mut peer_iter = peer_widths.iter().map(|(i, _)| *i).zip(peer_parts);
            let mut own = Vec::new();
            for (i, m) in in0.iter().enumerate() {
                if o0[i] == 0 {
                    own.push((i, g.input(ch, m).await?));
                }
            }
            let mut own_iter = own.into_iter();
            for i in 0..in0.len() {
                let s = if o0[i] == 0 {
                    own_iter.next().unwrap().1
                } else {
                    peer_iter.next().unwrap().1
                };
                assert_eq!(s.width(), in0[i].rows());
                shares.push(s);
            }
            let refs: Vec<_> = shares.iter().collect();
            let outs = g.eval(ch, &c0, &refs).await?;
            let mut revealed = Vec::new();
            for o in &outs {
                revealed.push(g.reveal(ch, o, RevealTo::Both).await?.unwrap());
            }
            Ok(revealed)
        },
        async move |p| {
            let rots = p.provider_mut().take_random_ots(ot_bits, 0)?;
            let ch = p.channel_mut();
            let mut e = Evaluator::new();
            // Stack the evaluator's inputs into one matrix for one OT batch.
            let mine: Vec<&BitMatrix> = in1
                .iter()
                .enumerate()
                .filter(|(i, _)| o1[*i] == 1)
                .map(|(_, m)| m)
                .collect();
            let stacked = BitMatrix::stack(&mine, n);
            let widths: Vec<usize> = mine.iter().map(|m| m.rows()).collect();
            let peer = e.input(ch, &stacked, rots).await?;
            let mut parts = peer.split_bits(&widths)?.into_iter();
            let mut own_garbler = Vec::new();
            for (i, m) in in1.iter().enumerate() {
                if o1[i] == 0 {
                    own_garbler.push(e.input_from_garbler(ch, m.rows(), n).await?);
                }
            }
            let mut g_iter = own_garbler.into_iter();
            let shares: Vec<_> = (0..in1.len())
                .map(|i| {
                    if o1[i] == 0 {
                        g_iter.next().unwrap()
                    } else {
                        parts.next().unwrap()
                    }
                })
                .collect();
            let refs: Vec<_> = shares.iter().collect();
            let outs = e.eval(ch, &c1, &refs).await?;
            let mut revealed = Vec::new();
            for o in &outs {
                revealed.push(e.reveal(ch, o, RevealTo::Both).await?.unwrap());
            }
            Ok(revealed)
        },
    )
    .await
}

#[test]
fn aes_128_known_answer() {
    let aes = circuit_file("aes_128.txt");
    let key = values::from_hex(&["000102030405060708090a0b0c0d0e0f"], 128).unwrap();
    let pt = values::from_hex(&["00112233445566778899aabbccddeeff"], 128).unwrap();
    let run = rt().block_on(run_yao(&aes, &[key, pt], &[0, 1])).unwrap();
    for out in [&run.out0, &run.out1] {
        assert_eq!(
            values::to_hex(&out[0]),
            vec!["69c4e0d86a7b0430d8cdb78070b4c55a".to_string()]
        );
    }
    // Tables: 2 blocks per AND; both parties' bytes are exactly what the doc says.
    let ands = aes.cost().and_gates as u64;
    let h = 8u64;
    // Garbler: OT replies (2·128 blocks), own labels (128 blocks), tables, decoding bits (2 words).
    // AES's 12,800 table blocks go out in frames of at least 2,048 blocks (an eighth
    // of the tables, at least 32 KiB), each ending at an AND layer, so that evaluation
    // overlaps garbling.
    let frames = yao::table_frames(&aes, 1);
    assert_eq!(frames.iter().sum::<usize>() as u64, 2 * ands);
    assert!(frames.len() >= 5, "{frames:?}");
    let (last, full) = frames.split_last().unwrap();
    assert!(
        full.iter().all(|&f| (2048..2048 + 2 * 1024).contains(&f)),
        "{frames:?}"
    );
    assert!(*last <= 2048 + 2 * 1024, "{frames:?}");
    let tables = h * frames.len() as u64 + 32 * ands;
    assert_eq!(
        run.online[0].bytes_sent,
        (h + 128 * 16) + (h + 256 * 16) + tables + (h + 16)
    );
    // Evaluator: OT corrections (2 words) and its decoding bits (2 words).
    assert_eq!(run.online[1].bytes_sent, 2 * (h + 16));
    // Rounds: the evaluator's corrections; the garbler's replies, labels, tables and
    // decoding bits; the evaluator's bits for the garbler's output.
    assert_eq!((run.online[0].rounds, run.online[1].rounds), (3, 3));
}

#[test]
fn sha_256_known_answer() {
    let sha = circuit_file("sha256.txt");
    let block = "61626380".to_string() + &"0".repeat(104) + "0000000000000018";
    assert_eq!(block.len(), 128);
    let msg = values::from_hex(&[block], 512).unwrap();
    let iv = values::from_hex(
        &["6a09e667bb67ae853c6ef372a54ff53a510e527f9b05688c1f83d9ab5be0cd19"],
        256,
    )
    .unwrap();
    let run = rt().block_on(run_yao(&sha, &[msg, iv], &[1, 0])).unwrap();
    assert_eq!(
        values::to_hex(&run.out1[0]),
        vec!["ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad".to_string()]
    );
    assert_eq!(run.out0, run.out1);
}

#[test]
fn aes_batch_matches_the_plaintext_interpreter() {
    let aes = circuit_file("aes_128.txt");
    let mut prg = Prg::from_entropy();
    let n = 70; // chunks of 16 instances and a partial one of 6; a partial word of bits
    let key = BitMatrix::from_rows(
        &(0..128)
            .map(|_| tessera_core::BitVec::random(&mut prg, n))
            .collect::<Vec<_>>(),
    )
    .unwrap();
    let pt = BitMatrix::from_rows(
        &(0..128)
            .map(|_| tessera_core::BitVec::random(&mut prg, n))
            .collect::<Vec<_>>(),
    )
    .unwrap();
    let expected = aes.eval(&[key.clone(), pt.clone()]).unwrap();
    let run = rt().block_on(run_yao(&aes, &[key, pt], &[0, 1])).unwrap();
    assert_eq!(run.out0, expected);
    assert_eq!(run.out1, expected);
    // Batches span several frames; the prediction follows the garbler's framing exactly.
    let [e_sent, g_sent] = yao::evaluator_input_bytes(128 * n);
    assert!(yao::table_frames(&aes, n).len() > 1);
    assert_eq!(
        run.online[0].bytes_sent,
        g_sent
            + yao::garbler_input_bytes(128 * n)
            + yao::table_bytes(&aes, n)
            + yao::reveal_bytes(128 * n)
    );
    assert_eq!(
        run.online[1].bytes_sent,
        e_sent + yao::reveal_bytes(128 * n)
    );
}

fn mask(w: usize) -> u64 {
    if w == 64 { !0 } else { (1u64 << w) - 1 }
}

/// Builds a gadget on two `w`-bit inputs.
type TwoInputGadget<'a> = &'a dyn Fn(&mut Builder, &[Wire], &[Wire]);

/// Every gadget and variant on two (or a window of) `w`-bit inputs.
fn gadget_circuits(w: usize, v: Variant) -> Vec<(&'static str, Circuit, usize)> {
    let two = |f: TwoInputGadget| {
        let mut b = Builder::new();
        let (x, y) = (b.input(w), b.input(w));
        f(&mut b, &x, &y);
        b.finish().unwrap()
    };
    let mut out = vec![
        (
            "add",
            two(&|b, x, y| {
                let r = b.add(x, y, v);
                b.output(&r)
            }),
            2,
        ),
        (
            "sub",
            two(&|b, x, y| {
                let r = b.sub(x, y, v);
                b.output(&r)
            }),
            2,
        ),
        (
            "lt_unsigned",
            two(&|b, x, y| {
                let r = b.lt_unsigned(x, y, v);
                b.output(&[r])
            }),
            2,
        ),
        (
            "lt_signed",
            two(&|b, x, y| {
                let r = b.lt_signed(x, y, v);
                b.output(&[r])
            }),
            2,
        ),
        (
            "eq",
            two(&|b, x, y| {
                let r = b.eq(x, y);
                b.output(&[r])
            }),
            2,
        ),
        (
            "mux",
            two(&|b, x, y| {
                let s = x[0];
                let r = b.mux(s, x, y);
                b.output(&r)
            }),
            2,
        ),
        (
            "max",
            two(&|b, x, y| {
                let r = b.max_signed(x, y, v);
                b.output(&r)
            }),
            2,
        ),
        (
            "relu",
            two(&|b, x, _| {
                let r = b.relu(x);
                b.output(&r)
            }),
            2,
        ),
        (
            "mul",
            two(&|b, x, y| {
                let r = b.mul(x, y, v);
                b.output(&r)
            }),
            2,
        ),
    ];
    let mut b = Builder::new();
    let ins: Vec<Vec<Wire>> = (0..4).map(|_| b.input(w)).collect();
    let r = b.max_pool(&ins, v);
    b.output(&r);
    out.push(("max_pool", b.finish().unwrap(), 4));
    let mut b = Builder::new();
    let ins: Vec<Vec<Wire>> = (0..4).map(|_| b.input(w)).collect();
    let (idx, max) = b.argmax(&ins, v);
    b.output(&idx);
    b.output(&max);
    out.push(("argmax", b.finish().unwrap(), 4));
    out
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(12))]

    #[test]
    fn every_gadget_matches_plaintext(w in 1usize..=64, n in prop_oneof![Just(1usize), Just(37)], seed: u128) {
        let mut prg = Prg::from_seed_block(tessera_core::Block(seed));
        let rt = rt();
        for v in Variant::ALL {
            for (name, c, k) in gadget_circuits(w, v) {
                let inputs: Vec<BitMatrix> = (0..k)
                    .map(|_| {
                        let vals: Vec<u64> = (0..n).map(|_| rand_core::RngCore::next_u64(&mut prg) & mask(w)).collect();
                        values::from_u64(&vals, w).unwrap()
                    })
                    .collect();
                let owners: Vec<usize> = (0..k).map(|i| i % 2).collect();
                let expected = c.eval(&inputs).unwrap();
                let run = rt.block_on(run_yao(&c, &inputs, &owners)).unwrap();
                prop_assert_eq!(&run.out0, &expected, "{} {} w={}", name, v, w);
                prop_assert_eq!(&run.out1, &expected, "{} {} w={}", name, v, w);
            }
        }
    }
}

#[test]
fn values_stay_garbled_between_circuits() {
    // (x + y) computed in one circuit, kept garbled, then ReLU'd in a second one.
    let w = 16;
    let add = {
        let mut b = Builder::new();
        let (x, y) = (b.input(w), b.input(w));
        let s = b.add(&x, &y, Variant::Depth);
        b.output(&s);
        b.finish().unwrap()
    };
    let relu = {
        let mut b = Builder::new();
        let x = b.input(w);
        let r = b.relu(&x);
        b.output(&r);
        b.finish().unwrap()
    };
    let xs: Vec<u64> = vec![5, 0xfff0, 100, 0x8000];
    let ys: Vec<u64> = vec![7, 3, 0xff00, 1];
    let (xm, ym) = (
        values::from_u64(&xs, w).unwrap(),
        values::from_u64(&ys, w).unwrap(),
    );
    let n = xs.len();
    let mut demand = Demand::new();
    demand.random_ots(w * n, 0);
    let (a0, r0, a1, r1) = (add.clone(), relu.clone(), add.clone(), relu.clone());
    let (x0, y1) = (xm.clone(), ym.clone());
    let run = rt()
        .block_on(harness::run::<Z64, _, _>(
            &HarnessOptions::default(),
            &demand,
            async move |p| {
                let rots = p.provider_mut().take_random_ots(w * n, 0)?;
                let ch = p.channel_mut();
                let mut g = Garbler::new();
                let x = g.input(ch, &x0).await?;
                let y = g.input_from_evaluator(ch, w, n, rots).await?;
                let s = g.eval(ch, &a0, &[&x, &y]).await?;
                let r = g.eval(ch, &r0, &[&s[0]]).await?;
                g.reveal(ch, &r[0], RevealTo::Party1).await
            },
            async move |p| {
                let rots = p.provider_mut().take_random_ots(w * n, 0)?;
                let ch = p.channel_mut();
                let mut e = Evaluator::new();
                let x = e.input_from_garbler(ch, w, n).await?;
                let y = e.input(ch, &y1, rots).await?;
                let s = e.eval(ch, &a1, &[&x, &y]).await?;
                let r = e.eval(ch, &r1, &[&s[0]]).await?;
                e.reveal(ch, &r[0], RevealTo::Party1).await
            },
        ))
        .unwrap();
    assert!(run.out0.is_none(), "the garbler learns nothing");
    let got = values::to_u64(&run.out1.unwrap()).unwrap();
    let expected: Vec<u64> = xs
        .iter()
        .zip(&ys)
        .map(|(x, y)| {
            let s = (x + y) & 0xffff;
            if s & 0x8000 != 0 { 0 } else { s }
        })
        .collect();
    assert_eq!(got, expected);
}

#[test]
fn mismatched_inputs_are_shape_errors() {
    let aes = circuit_file("aes_128.txt");
    let r = rt().block_on(async {
        let (mut a, _b) = Channel::in_memory_pair(ChannelConfig::default());
        let mut g = Garbler::new();
        let x = g.input(&mut a, &BitMatrix::zeros(64, 1)).await?;
        g.eval(&mut a, &aes, &[&x]).await
    });
    assert!(matches!(r, Err(Error::Shape { .. })), "{r:?}");
}

/// What a [`relayed_run`] saw: the evaluator's output (if it learned one), every byte
/// of the garbler-to-evaluator stream as it arrived, and the parties' output labels.
struct Relayed {
    output: Option<BitMatrix>,
    stream: Vec<u8>,
    labels: Option<(yao::ZeroLabels, yao::ActiveLabels)>,
}

/// AES-like run of `circuit` on (key from the garbler, plaintext from the evaluator)
/// over `key.cols()` instances, each party computing on `threads` threads, through a
/// relay between the parties' byte streams that records the garbler-to-evaluator
/// stream and flips every byte of it in `corrupt`. The garbler and the OTs are seeded,
/// so two runs with the same inputs send the same bytes. The parties are joined with
/// `try_join!` under a deadline.
async fn relayed_run(
    circuit: &Circuit,
    key: BitMatrix,
    pt: BitMatrix,
    corrupt: std::ops::Range<usize>,
    threads: usize,
) -> Relayed {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let cfg = ChannelConfig {
        timeout: std::time::Duration::from_secs(5),
        threads: std::num::NonZeroUsize::new(threads).unwrap(),
        ..Default::default()
    };
    let (g_end, relay_g) = tokio::io::duplex(1 << 16);
    let (e_end, relay_e) = tokio::io::duplex(1 << 16);
    let (gr, gw) = tokio::io::split(g_end);
    let (er, ew) = tokio::io::split(e_end);
    let mut gch = Channel::from_halves(Box::new(gr), Box::new(gw), cfg);
    let mut ech = Channel::from_halves(Box::new(er), Box::new(ew), cfg);
    let (mut rg_r, mut rg_w) = tokio::io::split(relay_g);
    let (mut re_r, mut re_w) = tokio::io::split(relay_e);
    let recorder = tokio::spawn(async move {
        let (mut buf, mut seen) = (vec![0u8; 1 << 16], Vec::new());
        while let Ok(n) = rg_r.read(&mut buf).await {
            if n == 0 {
                break;
            }
            for (i, b) in buf[..n].iter_mut().enumerate() {
                if corrupt.contains(&(seen.len() + i)) {
                    *b ^= 0xa5;
                }
            }
            seen.extend_from_slice(&buf[..n]);
            if re_w.write_all(&buf[..n]).await.is_err() {
                break;
            }
        }
        seen
    });
    tokio::spawn(async move {
        let _ = tokio::io::copy(&mut re_r, &mut rg_w).await;
    });
    // Random OTs made locally for this test (the relay only sits between the parties).
    let bits = 128 * pt.cols();
    let mut prg = Prg::from_seed_block(tessera_core::Block(7));
    let m0 = tessera_core::Block::random_vec(&mut prg, bits);
    let m1 = tessera_core::Block::random_vec(&mut prg, bits);
    let choices = tessera_core::BitVec::random(&mut prg, bits);
    let chosen = (0..bits)
        .map(|j| if choices.get(j) { m1[j] } else { m0[j] })
        .collect();
    use tessera_protocols::preprocessing::RandomOts;
    let (c0, c1) = (circuit.clone(), circuit.clone());
    let n = key.cols();
    let garbler = async move {
        let mut g = Garbler::from_seed(tessera_core::Block(42));
        let k = g.input(&mut gch, &key).await?;
        let p = g
            .input_from_evaluator(&mut gch, 128, n, RandomOts::Sender { m0, m1 })
            .await?;
        let o = g.eval(&mut gch, &c0, &[&k, &p]).await?;
        g.reveal(&mut gch, &o[0], RevealTo::Party1).await?;
        gch.close().await?;
        Ok::<_, Error>(o.into_iter().next())
    };
    let evaluator = async move {
        let mut e = Evaluator::new();
        let k = e.input_from_garbler(&mut ech, 128, n).await?;
        let p = e
            .input(&mut ech, &pt, RandomOts::Receiver { choices, chosen })
            .await?;
        let o = e.eval(&mut ech, &c1, &[&k, &p]).await?;
        let out = e.reveal(&mut ech, &o[0], RevealTo::Party1).await?;
        Ok::<_, Error>((out, o.into_iter().next()))
    };
    let joined = tokio::time::timeout(std::time::Duration::from_secs(30), async {
        tokio::try_join!(garbler, evaluator)
    })
    .await
    .expect("the run must end within its deadline");
    let stream = recorder.await.unwrap();
    match joined {
        Ok((zero, (output, active))) => Relayed {
            output,
            stream,
            labels: zero.zip(active),
        },
        Err(_) => Relayed {
            output: None,
            stream,
            labels: None,
        },
    }
}

async fn corrupted_run(
    circuit: &Circuit,
    key: BitMatrix,
    pt: BitMatrix,
    corrupt: std::ops::Range<usize>,
) -> Option<BitMatrix> {
    relayed_run(circuit, key, pt, corrupt, 1).await.output
}

/// 128 random bits for each of `n` instances.
fn random_bits(prg: &mut Prg, n: usize) -> BitMatrix {
    BitMatrix::from_rows(
        &(0..128)
            .map(|_| tessera_core::BitVec::random(prg, n))
            .collect::<Vec<_>>(),
    )
    .unwrap()
}

/// With 1, 2 or 3 threads per party, AES-128 on batches of one to several chunks sends
/// the same bytes (tables, frames and headers), ends with the same output labels at
/// both parties, and decodes to the plaintext interpreter's result.
#[test]
fn results_and_bytes_do_not_depend_on_the_thread_count() {
    let aes = circuit_file("aes_128.txt");
    let rt = rt();
    let mut prg = Prg::from_seed_block(tessera_core::Block(3));
    for n in [1usize, 17, 50] {
        let (key, pt) = (random_bits(&mut prg, n), random_bits(&mut prg, n));
        let expected = aes.eval(&[key.clone(), pt.clone()]).unwrap();
        let runs: Vec<Relayed> = [1usize, 2, 3]
            .iter()
            .map(|&t| rt.block_on(relayed_run(&aes, key.clone(), pt.clone(), 0..0, t)))
            .collect();
        for (t, r) in runs.iter().enumerate() {
            assert_eq!(
                r.output.as_ref(),
                Some(&expected[0]),
                "n = {n}, {} threads",
                t + 1
            );
            assert!(r.labels.is_some());
            assert_eq!(r.labels, runs[0].labels, "n = {n}, {} threads", t + 1);
            assert!(
                r.stream == runs[0].stream,
                "n = {n}, {} threads: the garbler's stream differs",
                t + 1
            );
        }
    }
}

#[test]
fn corrupted_tables_give_a_wrong_output_or_an_error_never_a_panic() {
    let aes = circuit_file("aes_128.txt");
    let key = values::from_hex(&["000102030405060708090a0b0c0d0e0f"], 128).unwrap();
    let pt = values::from_hex(&["00112233445566778899aabbccddeeff"], 128).unwrap();
    let expected = aes.eval(&[key.clone(), pt.clone()]).unwrap();
    let rt = rt();
    // Untouched stream: correct.
    let ok = rt.block_on(corrupted_run(&aes, key.clone(), pt.clone(), 0..0));
    assert_eq!(ok.as_ref(), Some(&expected[0]));
    // The garbler's stream in this test: labels frame (8 + 2048), OT replies (8 + 4096), then tables.
    let tables_start = 8 + 2048 + 8 + 4096 + 8;
    for range in [
        tables_start + 1000..tables_start + 2024,
        tables_start + 100_000..tables_start + 101_024,
    ] {
        let got = rt.block_on(corrupted_run(&aes, key.clone(), pt.clone(), range.clone()));
        assert_ne!(
            got.as_ref(),
            Some(&expected[0]),
            "corruption at {range:?} went unnoticed"
        );
    }
    // A corrupted frame header (the length of the table frame): an error, not a hang.
    let got = rt.block_on(corrupted_run(
        &aes,
        key,
        pt,
        tables_start - 8..tables_start - 5,
    ));
    assert!(got.is_none());
}

#[test]
fn secrets_never_appear_in_debug_output() {
    let rt = rt();
    rt.block_on(async {
        let (mut a, mut b) = Channel::in_memory_pair(ChannelConfig::default());
        let mut g = Garbler::new();
        let mut e = Evaluator::new();
        let bits = values::from_u64(&[0xdead_beef], 32).unwrap();
        let (z, act) =
            tokio::try_join!(g.input(&mut a, &bits), e.input_from_garbler(&mut b, 32, 1)).unwrap();
        let texts = [
            format!("{g:?}"),
            format!("{e:?}"),
            format!("{z:?}"),
            format!("{act:?}"),
        ];
        for t in &texts {
            for l in z.labels().iter().chain(act.labels()) {
                assert!(!t.contains(&l.to_hex()), "{t}");
                assert!(!t.contains(&format!("{}", l.0)), "{t}");
            }
        }
        assert_eq!(texts[2], "ZeroLabels(32 bits x 1 instances)");
        assert_eq!(
            format!(
                "{:?}",
                tessera_protocols::yao::Delta::new(tessera_core::Block(7))
            ),
            "Delta(<redacted>)"
        );
    });
}

#[test]
fn a_garbler_whose_peer_stops_reading_times_out_with_bounded_memory() {
    // The evaluator's end stays open but reads nothing: the garbler fills its few frame
    // buffers, then waits for one to come back, and gives up after the timeout instead
    // of queueing the whole garbled circuit or hanging.
    let aes = circuit_file("aes_128.txt");
    let mut prg = Prg::from_entropy();
    let n = 256; // 52 MB of tables: before this bound, all of it was queued in memory
    let (key, pt) = (random_bits(&mut prg, n), random_bits(&mut prg, n));
    // One thread, and several chunks garbled at once.
    for threads in [1, 2] {
        let cfg = ChannelConfig {
            timeout: std::time::Duration::from_millis(300),
            threads: std::num::NonZeroUsize::new(threads).unwrap(),
            ..Default::default()
        };
        let err = rt()
            .block_on(async {
                let (mut a, _silent) = Channel::in_memory_pair(cfg);
                tokio::time::timeout(std::time::Duration::from_secs(20), async {
                    let mut g = Garbler::new();
                    let k = g.input(&mut a, &key).await?;
                    let p = g.input(&mut a, &pt).await?;
                    g.eval(&mut a, &aes, &[&k, &p]).await
                })
                .await
            })
            .expect("the garbler must give up within its timeout, not hang")
            .unwrap_err();
        assert!(
            matches!(err, Error::Core(tessera_core::Error::Timeout { .. })),
            "{threads} threads: {err}"
        );
    }
}

/// `table_bytes` (which skips repeating chunks) equals the sum over the frames that the
/// garbler's framing rule lists, for circuits of one to many AND layers and instance
/// counts around chunk and frame boundaries and far beyond them.
#[test]
fn table_bytes_equals_the_listed_frames() {
    let header = tessera_core::channel::HEADER_LEN as u64;
    let mut circuits = vec![circuit_file("aes_128.txt")];
    for w in [8usize, 64] {
        let mut b = Builder::new();
        let (x, y) = (b.input(w), b.input(w));
        let z = b.mul(&x, &y, Variant::Size);
        b.output(&z);
        circuits.push(b.finish().unwrap());
        let mut b = Builder::new();
        let (x, y) = (b.input(w), b.input(w));
        let z = b.add(&x, &y, Variant::Size);
        b.output(&z);
        circuits.push(b.finish().unwrap());
    }
    let ns = [
        0usize, 1, 2, 3, 7, 8, 9, 15, 16, 17, 100, 1000, 4095, 4096, 4097, 65_537, 300_001,
    ];
    for c in &circuits {
        for &n in &ns {
            let listed: u64 = yao::table_frames(c, n)
                .iter()
                .map(|&b| header + 16 * b as u64)
                .sum();
            assert_eq!(yao::table_bytes(c, n), listed, "n = {n}");
        }
    }
}

/// A 128-bit adder of the garbler's and the evaluator's values.
fn adder_128() -> Circuit {
    let mut b = Builder::new();
    let (x, y) = (b.input(128), b.input(128));
    let z = b.add(&x, &y, Variant::Size);
    b.output(&z);
    b.finish().unwrap()
}

/// Small runs (at most 4,096 AND gates over all instances: 127 per instance of the
/// adder, so n ≤ 32) are garbled and evaluated on the parties' own tasks, larger ones
/// on worker threads; on both sides of that line, and with 1 or 2 threads, the output
/// is the plaintext interpreter's and the garbler's stream is exactly its inputs,
/// OT replies, the tables in the framing rule's frames and the decoding bits.
#[test]
fn small_runs_inline_send_the_frames_of_the_framing_rule() {
    let adder = adder_128();
    let rt = rt();
    let mut prg = Prg::from_seed_block(tessera_core::Block(5));
    let h = tessera_core::channel::HEADER_LEN;
    for n in [1usize, 17, 32, 33, 40] {
        let (key, pt) = (random_bits(&mut prg, n), random_bits(&mut prg, n));
        let expected = adder.eval(&[key.clone(), pt.clone()]).unwrap();
        let runs: Vec<Relayed> = [1usize, 2]
            .iter()
            .map(|&t| rt.block_on(relayed_run(&adder, key.clone(), pt.clone(), 0..0, t)))
            .collect();
        let stream = (h + 128 * n * 16)
            + (h + 256 * n * 16)
            + yao::table_bytes(&adder, n) as usize
            + (h + 16 * n);
        for (t, r) in runs.iter().enumerate() {
            assert_eq!(
                r.output.as_ref(),
                Some(&expected[0]),
                "n = {n}, {} threads",
                t + 1
            );
            assert_eq!(r.stream.len(), stream, "n = {n}, {} threads", t + 1);
            assert!(
                r.stream == runs[0].stream,
                "n = {n}: the stream depends on the threads"
            );
        }
    }
}

/// A small (inline) run whose table frame header is corrupted ends in an error, never a
/// hang or a panic; corrupted tables give a wrong output or an error.
#[test]
fn corrupted_small_runs_give_an_error_or_a_wrong_output() {
    let adder = adder_128();
    let rt = rt();
    let mut prg = Prg::from_seed_block(tessera_core::Block(6));
    let (key, pt) = (random_bits(&mut prg, 1), random_bits(&mut prg, 1));
    let expected = adder.eval(&[key.clone(), pt.clone()]).unwrap();
    // Inputs (8 + 2048), OT replies (8 + 4096), then the one table frame.
    let tables_start = 8 + 2048 + 8 + 4096 + 8;
    let header = rt.block_on(corrupted_run(
        &adder,
        key.clone(),
        pt.clone(),
        tables_start - 8..tables_start - 5,
    ));
    assert!(header.is_none(), "a corrupted frame length went unnoticed");
    let tables = rt.block_on(corrupted_run(
        &adder,
        key,
        pt,
        tables_start..tables_start + 4064,
    ));
    assert_ne!(tables.as_ref(), Some(&expected[0]));
}
