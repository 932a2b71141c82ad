//! Yao: garbling and evaluation throughput on one core (no network), one party's
//! garbling and evaluation of an AES-128 batch of 1,024 on 1 and 2 threads (its whole
//! compute, frames included, no network), and AES-128 two-party runs (evaluator OT inputs, streamed tables, output to the evaluator) over
//! TCP loopback under the network profiles.

use std::hint::black_box;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use tessera_bench_suite::Workload;
use tessera_bench_suite::families::circuits::Reference;
use tessera_bench_suite::families::garbling::{GarblingWork, Role};
use tessera_bench_suite::tcp_pair;
use tessera_core::{BitMatrix, BitVec, Block, ChannelConfig, NetworkProfile, Prg};
use tessera_protocols::RevealTo;
use tessera_protocols::circuit::{Circuit, bristol};
use tessera_protocols::preprocessing::RandomOts;
use tessera_protocols::yao::{Delta, Evaluator, Garbler, Scratch, eval_chunk, garble_chunk};

fn aes() -> Circuit {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../protocols/circuits/aes_128.txt");
    bristol::read_file(&p).unwrap_or_else(|e| panic!("{e}"))
}

fn garble_and_eval(c: &mut Criterion) {
    let circuit = aes();
    let program = tessera_protocols::circuit::Program::new(&circuit);
    let ands = circuit.cost().and_gates as u64;
    let nw = program.slots();
    let mut prg = Prg::from_entropy();
    let delta = Delta::new(Block::random(&mut prg));
    let mut g = c.benchmark_group("yao_one_core");
    for k in [1usize, 16] {
        let inputs = Block::random_vec(&mut prg, nw * k);
        let mut labels = inputs.clone();
        let mut scratch = Scratch::default();
        let mut counter = 0u64;
        let mut sink = Vec::new();
        g.throughput(Throughput::Elements(ands * k as u64));
        g.bench_function(BenchmarkId::new("garble_aes_tables_discarded", k), |b| {
            b.iter(|| {
                labels[..256 * k].copy_from_slice(&inputs[..256 * k]);
                garble_chunk(
                    &program,
                    &mut labels,
                    k,
                    delta,
                    &mut counter,
                    &mut scratch,
                    &mut sink,
                    |t| {
                        black_box(&t);
                        t.clear();
                    },
                );
            })
        });
        // Tables once, then evaluation alone.
        let mut tables = Vec::new();
        let mut counter0 = 0u64;
        labels[..256 * k].copy_from_slice(&inputs[..256 * k]);
        garble_chunk(
            &program,
            &mut labels,
            k,
            delta,
            &mut counter0,
            &mut scratch,
            &mut tables,
            |_| {},
        );
        let active = inputs.clone();
        g.bench_function(BenchmarkId::new("evaluate_aes", k), |b| {
            b.iter(|| {
                let mut labels = active.clone();
                let (mut pos, mut counter) = (0usize, 0u64);
                let r: Result<(), ()> = eval_chunk(
                    &program,
                    &mut labels,
                    k,
                    &mut counter,
                    &mut scratch,
                    |n, f| {
                        f(&tables[pos..pos + n]);
                        pos += n;
                        Ok(())
                    },
                );
                black_box((r, labels.len()))
            })
        });
    }
    g.finish();
}

/// One party's compute on an AES-128 batch of 1,024 with 1 and 2 threads, by the code
/// of the `yao-compute` scenarios of `tessera bench` ([`GarblingWork`]): the garbler's
/// `garble_stream` (tables cut into the frames it would send, their buffers handed
/// straight back) and the evaluator's `evaluate_stream` (the same frames fed in
/// order). The threads that move frames do nothing else, so this is the compute alone.
fn threads(c: &mut Criterion) {
    const N: usize = 1024;
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../protocols/circuits");
    let aes = Reference::all(&dir)
        .unwrap_or_else(|e| panic!("{e}"))
        .into_iter()
        .find(|r| r.name == "aes-128")
        .unwrap_or_else(|| panic!("no aes-128 reference"));
    let ands = aes.circuit.cost().and_gates as u64;
    let one = GarblingWork::new(aes.clone(), Role::Garble, N, 1);
    let x = one.inputs().unwrap_or_else(|e| panic!("{e}"));
    let (_, frames) = one
        .garble(&one.pool(), &x, true)
        .unwrap_or_else(|e| panic!("{e}"));
    let active = one.active(&x);
    let mut g = c.benchmark_group("yao_threads");
    g.sample_size(10);
    g.measurement_time(Duration::from_secs(8));
    g.throughput(Throughput::Elements(ands * N as u64));
    for t in [1usize, 2] {
        let w = GarblingWork::new(aes.clone(), Role::Garble, N, t);
        let threads = w.pool();
        g.bench_function(BenchmarkId::new("garble_aes_batch_1024", t), |b| {
            b.iter(|| {
                black_box(
                    w.garble(&threads, &x, false)
                        .unwrap_or_else(|e| panic!("{e}")),
                )
            })
        });
        g.bench_function(BenchmarkId::new("evaluate_aes_batch_1024", t), |b| {
            b.iter_custom(|iters| {
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    let copy = frames.clone();
                    let start = Instant::now();
                    let out = w.evaluate(&threads, &active, copy);
                    total += start.elapsed();
                    // The frames' buffers are freed here, outside the timing.
                    black_box(out.unwrap_or_else(|e| panic!("{e}")));
                }
                total
            })
        });
    }
    g.finish();
}

fn local_rots(prg: &mut Prg, n: usize) -> (RandomOts, RandomOts) {
    let m0 = Block::random_vec(prg, n);
    let m1 = Block::random_vec(prg, n);
    let choices = BitVec::random(prg, n);
    let chosen = (0..n)
        .map(|j| if choices.get(j) { m1[j] } else { m0[j] })
        .collect();
    (
        RandomOts::Sender { m0, m1 },
        RandomOts::Receiver { choices, chosen },
    )
}

fn random_bits(prg: &mut Prg, w: usize, n: usize) -> BitMatrix {
    BitMatrix::from_rows(&(0..w).map(|_| BitVec::random(prg, n)).collect::<Vec<_>>())
        .unwrap_or_else(|e| panic!("{e}"))
}

fn two_party(c: &mut Criterion) {
    let circuit = aes();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap_or_else(|e| panic!("{e}"));
    let mut g = c.benchmark_group("yao_aes_two_party_tcp");
    g.sample_size(10);
    for (name, profile) in [
        ("local", NetworkProfile::LOCAL),
        ("lan", NetworkProfile::LAN),
        ("wan", NetworkProfile::WAN),
    ] {
        for n in [1usize, 1024] {
            if name == "wan" && n == 1024 {
                g.measurement_time(Duration::from_secs(20));
            } else {
                g.measurement_time(Duration::from_secs(5));
            }
            let (mut a, mut b) = rt
                .block_on(tcp_pair(ChannelConfig::with_profile(profile)))
                .unwrap_or_else(|e| panic!("{e}"));
            let mut prg = Prg::from_entropy();
            let mut reported = false;
            g.throughput(Throughput::Elements(n as u64));
            g.bench_function(BenchmarkId::new(name, n), |bench| {
                bench.iter_custom(|iters| {
                    let mut total = Duration::ZERO;
                    for _ in 0..iters {
                        let key = random_bits(&mut prg, 128, n);
                        let pt = random_bits(&mut prg, 128, n);
                        let (s, r) = local_rots(&mut prg, 128 * n);
                        let before = *a.metering();
                        let t = Instant::now();
                        let out = rt.block_on(async {
                            let garbler = async {
                                let mut gb = Garbler::new();
                                let p = gb.input_from_evaluator(&mut a, 128, n, s).await?;
                                let k = gb.input(&mut a, &key).await?;
                                let o = gb.eval(&mut a, &circuit, &[&k, &p]).await?;
                                gb.reveal(&mut a, &o[0], RevealTo::Party1).await
                            };
                            let evaluator = async {
                                let mut ev = Evaluator::new();
                                let p = ev.input(&mut b, &pt, r).await?;
                                let k = ev.input_from_garbler(&mut b, 128, n).await?;
                                let o = ev.eval(&mut b, &circuit, &[&k, &p]).await?;
                                ev.reveal(&mut b, &o[0], RevealTo::Party1).await
                            };
                            tokio::try_join!(garbler, evaluator)
                        });
                        total += t.elapsed();
                        let (_, out) = out.unwrap_or_else(|e| panic!("{e}"));
                        assert!(out.is_some());
                        if !reported {
                            let d = a.metering().since(&before).total();
                            eprintln!(
                                "yao aes {name} batch {n}: {} bytes per block (garbler sent {} B, received {} B), {} rounds",
                                (d.bytes_sent + d.bytes_received) / n as u64,
                                d.bytes_sent,
                                d.bytes_received,
                                d.rounds
                            );
                            reported = true;
                        }
                    }
                    total
                })
            });
        }
    }
    g.finish();
}

criterion_group!(benches, garble_and_eval, threads, two_party);
criterion_main!(benches);
