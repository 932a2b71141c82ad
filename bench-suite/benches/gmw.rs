//! AES-128 through GMW over TCP loopback, batch 1 and 4096, under the `local` and
//! `lan` profiles.
//!
//! Each iteration uses fresh dealer material (generated and expanded untimed before
//! it) and fresh random inputs; the timed part is the whole online phase of
//! `Gmw::run` — input sharing, the 60 AND layers, the reveal to both — from when both
//! parties start until both hold the ciphertexts. Criterion's throughput is set to the
//! batch size, so its `elem/s` is blocks per second; the time per block and the
//! online bytes per block of one iteration are printed once per benchmark.
//!
//! `…/network_floor` sends exactly the same frames with no computation in between:
//! what the channel and the profile allow, against which the protocol's own overhead
//! shows.
//!
//! `gmw_threads` is one party's local work at batches 32,768 and 131,072 on 1 and 2
//! threads.
//!
//! `cargo bench -p tessera-bench-suite --bench gmw`

use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use tessera_bench_suite::tcp_pair;
use tessera_core::{
    BitMatrix, BitVec, Channel, ChannelConfig, NetworkProfile, Phase, PhaseMeter, Prg, SessionId,
    Z64,
};
use tessera_protocols::circuit::{Circuit, bristol};
use tessera_protocols::gmw::{self, Gmw, Program, RevealTo};
use tessera_protocols::{Store, dealer};

type R = Z64;

fn aes() -> Circuit {
    let path = format!(
        "{}/../protocols/circuits/aes_128.txt",
        env!("CARGO_MANIFEST_DIR")
    );
    bristol::read_file(path).expect("the AES-128 circuit")
}

fn random(prg: &mut Prg, width: usize, n: usize) -> BitMatrix {
    let rows: Vec<BitVec> = (0..width).map(|_| BitVec::random(prg, n)).collect();
    BitMatrix::from_rows(&rows).expect("rows")
}

/// One party's online phase on a fresh store; returns its channel back.
async fn party(
    p: usize,
    mut ch: Channel,
    mut store: Store<R>,
    c: Arc<Program>,
    input: BitMatrix,
    n: usize,
) -> Channel {
    let out = Gmw::new(p)
        .expect("party")
        .run(
            &mut ch,
            &mut store,
            &c,
            &[0, 1],
            &[&input],
            n,
            RevealTo::Both,
        )
        .await
        .expect("GMW run");
    assert!(out.is_some());
    ch
}

/// Times `iters` runs; returns the total online time and the last run's online
/// meters.
async fn run(
    c: &Circuit,
    program: &Arc<Program>,
    n: usize,
    profile: NetworkProfile,
    iters: u64,
) -> (Duration, [PhaseMeter; 2]) {
    let (mut c0, mut c1) = tcp_pair(ChannelConfig::with_profile(profile))
        .await
        .expect("loopback pair");
    c0.set_phase(Phase::Online);
    c1.set_phase(Phase::Online);
    let demand = gmw::demand(c, n);
    let mut prg = Prg::from_entropy();
    let mut total = Duration::ZERO;
    let mut meters = [PhaseMeter::default(); 2];
    for _ in 0..iters {
        let s = SessionId::random();
        let dealt = dealer::generate::<R>(&demand).expect("dealer");
        let store =
            |p| Store::<R>::from_material(dealt.material::<R>(p, s, &demand)).expect("store");
        let (s0, s1) = (store(0), store(1));
        let (x0, x1) = (random(&mut prg, 128, n), random(&mut prg, 128, n));
        let before = [c0.metering().online, c1.metering().online];
        let start = Instant::now();
        let t0 = tokio::spawn(party(0, c0, s0, program.clone(), x0, n));
        let t1 = tokio::spawn(party(1, c1, s1, program.clone(), x1, n));
        let (r0, r1) = tokio::join!(t0, t1);
        total += start.elapsed();
        (c0, c1) = (r0.expect("party 0"), r1.expect("party 1"));
        for (m, (ch, b)) in meters.iter_mut().zip([(&c0, before[0]), (&c1, before[1])]) {
            let a = ch.metering().online;
            *m = PhaseMeter {
                bytes_sent: a.bytes_sent - b.bytes_sent,
                bytes_received: a.bytes_received - b.bytes_received,
                messages_sent: a.messages_sent - b.messages_sent,
                messages_received: a.messages_received - b.messages_received,
                rounds: a.rounds - b.rounds,
            };
        }
    }
    (total, meters)
}

/// The floor the network profile sets for the same run: exactly the frames one
/// `Gmw::run` sends (sizes from `gmw::cost`'s layer widths: input seeds, one frame per
/// AND layer, the reveal), exchanged back to back with no computation. Returns the
/// total time of `iters` repetitions.
async fn floor(c: &Circuit, n: usize, profile: NetworkProfile, iters: u64) -> Duration {
    let (mut c0, mut c1) = tcp_pair(ChannelConfig::with_profile(profile))
        .await
        .expect("loopback pair");
    let mut frames = vec![2usize];
    frames.extend(
        c.cost()
            .and_layer_widths
            .iter()
            .map(|&k| gmw::message_words(k, n)),
    );
    frames.push((c.output_bits() * n).div_ceil(64));
    let mut total = Duration::ZERO;
    for _ in 0..iters {
        let start = Instant::now();
        let side = |mut ch: Channel, frames: Vec<usize>| async move {
            for &w in &frames {
                ch.exchange_pod(vec![0u64; w]).await.expect("exchange");
            }
            ch
        };
        let t0 = tokio::spawn(side(c0, frames.clone()));
        let t1 = tokio::spawn(side(c1, frames.clone()));
        let (r0, r1) = tokio::join!(t0, t1);
        total += start.elapsed();
        (c0, c1) = (r0.expect("party 0"), r1.expect("party 1"));
    }
    total
}

fn bench(cr: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let c = aes();
    let program = Arc::new(Program::new(&c));
    let mut g = cr.benchmark_group("gmw_aes128_online");
    g.sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(4));
    for (net, profile) in [
        ("local", NetworkProfile::LOCAL),
        ("lan", NetworkProfile::LAN),
    ] {
        for n in [1usize, 4096] {
            let name = format!("{net}/batch{n}");
            let (t, m) = rt.block_on(run(&c, &program, n, profile, 3));
            eprintln!(
                "{name}: {:.2} µs per block (mean of 3 warm-up runs), online bytes per block: \
                 party 0 sent {:.1}, party 1 sent {:.1}; rounds {}",
                t.as_secs_f64() * 1e6 / (3 * n) as f64,
                m[0].bytes_sent as f64 / n as f64,
                m[1].bytes_sent as f64 / n as f64,
                m[0].rounds
            );
            g.throughput(Throughput::Elements(n as u64));
            g.bench_function(&name, |b| {
                b.iter_custom(|iters| rt.block_on(run(&c, &program, n, profile, iters)).0)
            });
            g.bench_function(format!("{name}/network_floor"), |b| {
                b.iter_custom(|iters| rt.block_on(floor(&c, n, profile, iters)))
            });
        }
    }
    g.finish();
}

/// One party's local work of GMW AES-128 at batches of 32,768 and 131,072 (4 and 16
/// parts of `gmw::PART_INSTANCES`) on 1 and 2 threads: every layer's free gates and
/// both AND steps, the peer's message a fixed stand-in of the right length (the steps
/// do not look at its bits), triples made untimed before each iteration. No network:
/// what `--threads` changes. The 2-thread runs step their parts on the threads only
/// where `gmw::splits` does (at 131,072, not at 32,768); `…/forced` splits at 32,768
/// too: why that threshold exists.
fn threads(cr: &mut Criterion) {
    use tessera_protocols::gmw::{BShare, Parts};
    use tessera_protocols::preprocessing::AndTriples;
    let c = aes();
    let program = Program::new(&c);
    let mut prg = Prg::from_entropy();
    let mut g = cr.benchmark_group("gmw_threads");
    g.sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(6));
    for (n, t, always) in [
        (32_768usize, 1usize, false),
        (32_768, 2, false),
        (32_768, 2, true),
        (131_072, 1, false),
        (131_072, 2, false),
    ] {
        let inputs: Vec<BShare> = program
            .input_widths()
            .iter()
            .map(|&w| BShare::from_matrix(random(&mut prg, w, n)))
            .collect();
        // As the driver: the party's threads only where the evaluation splits.
        let t_used = if always || gmw::splits(&program, n) {
            t
        } else {
            1
        };
        let threads = tessera_core::Threads::new(
            std::num::NonZeroUsize::new(t_used).unwrap_or(std::num::NonZeroUsize::MIN),
        );
        let name = format!(
            "aes128_batch{n}_one_party{}/{t}",
            if always { "/forced" } else { "" }
        );
        g.throughput(Throughput::Elements(n as u64));
        g.bench_function(name, |b| {
            b.iter_custom(|iters| {
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    let layers: Vec<AndTriples> = program
                        .layers()
                        .iter()
                        .map(|(_, ands)| {
                            let mut r = || BitVec::random(&mut prg, ands.len() * n);
                            AndTriples {
                                a: r(),
                                b: r(),
                                c: r(),
                            }
                        })
                        .collect();
                    let mut wires = Parts::new(program.slots(), n);
                    let mut first = 0;
                    for (s, w) in inputs.iter().zip(program.input_widths()) {
                        wires.set(first, s).expect("input");
                        first += w;
                    }
                    let start = Instant::now();
                    for ((free, ands), tr) in program.layers().iter().zip(layers) {
                        let (layer, msg) = wires.open(&threads, 0, free, ands, tr).expect("open");
                        wires.close(&threads, layer, &msg).expect("close");
                    }
                    wires.free_gates(&threads, 0, program.tail());
                    total += start.elapsed();
                    std::hint::black_box(&wires);
                }
                total
            })
        });
    }
    g.finish();
}

criterion_group!(benches, bench, threads);
criterion_main!(benches);
