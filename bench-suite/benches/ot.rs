//! OT extension between the two parties over TCP loopback: base OTs (128 Chou–Orlandi
//! transfers one way, and a session's link: 128 of them and 128 random OTs extended
//! back), random OTs (the extension in SoftSpoken's form) in batches of 2^16 and 2^20
//! (issue #16's comparison with emp-ot 0.3.0's IKNP, measured on the same machine: see
//! the README), and the whole offline phase of 1,000 Beaver multiplications in Z_2^32
//! and Z_2^64 with a fresh set-up and with one derived from a pairing (issue #16's
//! comparison with ABY's OT-based set-up).
//!
//! The two parties of an extension run on two OS threads, as two processes would (and
//! as emp-ot's benchmark runs them): each drives its own future with `block_on`, the
//! channels' writer tasks run on the runtime's workers. Polling both parties from one
//! thread (`try_join!`) would serialise their computations and measure their sum.

use std::time::{Duration, Instant};

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use tessera_bench_suite::tcp_pair;
use tessera_core::{Block, Channel, ChannelConfig, Prg, Ring, Z32, Z64};
use tessera_protocols::Demand;
use tessera_protocols::ot;
use tessera_protocols::ot::pairing::{PairingSlot, SetUp};

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap_or_else(|e| panic!("{e}"))
}

/// Runs the two parties' futures on two OS threads, each driving its own with
/// `block_on` (as two processes would), and returns both results.
fn two_threads<A: Send, B>(
    rt: &tokio::runtime::Runtime,
    p0: impl Future<Output = tessera_protocols::Result<A>> + Send,
    p1: impl Future<Output = tessera_protocols::Result<B>>,
) -> (A, B) {
    std::thread::scope(|sc| {
        let p0 = sc.spawn(|| rt.block_on(p0));
        let b = rt.block_on(p1).unwrap_or_else(|e| panic!("{e}"));
        let a = p0
            .join()
            .unwrap_or_else(|_| panic!("party 0 thread"))
            .unwrap_or_else(|e| panic!("{e}"));
        (a, b)
    })
}

fn base_ots(c: &mut Criterion) {
    let rt = runtime();
    let mut g = c.benchmark_group("ot_base_tcp");
    g.sample_size(20);
    g.bench_function("chou_orlandi_128", |bench| {
        let (mut a, mut b) = rt
            .block_on(tcp_pair(ChannelConfig::default()))
            .unwrap_or_else(|e| panic!("{e}"));
        bench.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                let t = Instant::now();
                rt.block_on(async {
                    let s = async { ot::sender_setup(&mut a, &mut Prg::from_entropy()).await };
                    let r = async { ot::receiver_setup(&mut b, &mut Prg::from_entropy()).await };
                    tokio::try_join!(s, r)
                })
                .unwrap_or_else(|e| panic!("{e}"));
                total += t.elapsed();
            }
            total
        })
    });
    // A session's whole set-up (`correlate::link`: 128 base OTs, the reply in parts,
    // and 128 random OTs extended back), the parties on two threads.
    g.bench_function("link", |bench| {
        let (mut a, mut b) = rt
            .block_on(tcp_pair(ChannelConfig::default()))
            .unwrap_or_else(|e| panic!("{e}"));
        bench.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                let (mut g0, mut g1) = (Prg::from_entropy(), Prg::from_entropy());
                let t = Instant::now();
                two_threads(
                    &rt,
                    ot::correlate::link(&mut a, 0, &mut g0),
                    ot::correlate::link(&mut b, 1, &mut g1),
                );
                total += t.elapsed();
            }
            total
        })
    });
    g.finish();
}

fn extension(c: &mut Criterion) {
    let rt = runtime();
    let mut g = c.benchmark_group("ot_iknp_tcp");
    g.sample_size(10);
    g.measurement_time(Duration::from_secs(10));
    let (mut a, mut b) = rt
        .block_on(tcp_pair(ChannelConfig::default()))
        .unwrap_or_else(|e| panic!("{e}"));
    let (mut s, mut r) = rt
        .block_on(async {
            let s = async { ot::sender_setup(&mut a, &mut Prg::from_entropy()).await };
            let r = async { ot::receiver_setup(&mut b, &mut Prg::from_entropy()).await };
            tokio::try_join!(s, r)
        })
        .unwrap_or_else(|e| panic!("{e}"));
    for m in [1usize << 16, 1 << 20] {
        let choices: Vec<bool> = (0..m).map(|i| i % 3 == 0).collect();
        g.throughput(Throughput::Elements(m as u64));
        g.bench_function(BenchmarkId::new("random_ots", m), |bench| {
            bench.iter_custom(|iters| {
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    let t = Instant::now();
                    let (x, y) = two_threads(
                        &rt,
                        ot::send_random(&mut a, &mut s, m),
                        ot::receive_random(&mut b, &mut r, &choices),
                    );
                    total += t.elapsed();
                    assert_eq!((x.len(), y.len()), (m, m));
                }
                total
            })
        });
        // Into output buffers allocated once, as emp-ot's benchmark writes into its
        // arrays: the figure to compare with emp's (the one above also pays the page
        // faults of 48 bytes of fresh output per transfer).
        let mut xs = vec![[Block::ZERO; 2]; m];
        let mut ys = vec![Block::ZERO; m];
        g.bench_function(BenchmarkId::new("random_ots_into", m), |bench| {
            bench.iter_custom(|iters| {
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    let t = Instant::now();
                    two_threads(
                        &rt,
                        ot::send_random_with(&mut a, &mut s, m, |at, x| {
                            xs[at..at + x.len()].copy_from_slice(x)
                        }),
                        ot::receive_random_with(&mut b, &mut r, &choices, |at, y| {
                            ys[at..at + y.len()].copy_from_slice(y)
                        }),
                    );
                    total += t.elapsed();
                    let i = m / 2;
                    assert_eq!(ys[i], xs[i][usize::from(choices[i])]);
                }
                total
            })
        });
    }
    g.finish();
}

/// The OT source's whole offline phase for `demand` (set-up, bulk OTs, corrections,
/// the fence), the parties on two threads.
fn offline_phase<R: Ring>(
    rt: &tokio::runtime::Runtime,
    ends: &mut (Channel, Channel),
    demand: &Demand,
    slots: Option<&[PairingSlot; 2]>,
) {
    let (a, b) = ends;
    let s0 = slots.map(|s| s[0].clone());
    let s1 = slots.map(|s| s[1].clone());
    let p0 = async move {
        let mut rng = Prg::from_entropy();
        let items = ot::source::generate::<R, _>(a, 0, demand, s0.as_ref(), &mut rng).await?;
        a.fence().await?;
        Ok(items.len())
    };
    let p1 = async move {
        let mut rng = Prg::from_entropy();
        let items = ot::source::generate::<R, _>(b, 1, demand, s1.as_ref(), &mut rng).await?;
        b.fence().await?;
        Ok(items.len())
    };
    let (n0, n1) = two_threads(rt, p0, p1);
    assert_eq!((n0, n1), (1, 1));
}

fn setup<R: Ring>(c: &mut Criterion, rt: &tokio::runtime::Runtime) {
    let mut g = c.benchmark_group("ot_setup_tcp");
    g.sample_size(30);
    let mut d = Demand::new();
    d.mul(&[1000]);
    let mut ends = rt
        .block_on(tcp_pair(ChannelConfig::default()))
        .unwrap_or_else(|e| panic!("{e}"));
    let slots = [PairingSlot::in_memory(), PairingSlot::in_memory()];
    // The pairing: one fresh session before the paired ones are timed.
    offline_phase::<R>(rt, &mut ends, &d, Some(&slots));
    for (name, slots) in [("fresh", None), ("paired", Some(&slots))] {
        let id = BenchmarkId::new(format!("beaver_mul_1000_z{}", R::BITS), name);
        // Whether criterion ran it (a filter may leave it out).
        let mut ran = false;
        g.bench_function(id, |bench| {
            ran = true;
            bench.iter(|| offline_phase::<R>(rt, &mut ends, &d, slots));
        });
        if let (Some(s), true) = (slots, ran) {
            assert!(s.iter().all(|s| s.last() == Some(SetUp::Paired)));
        }
    }
    g.finish();
}

/// Issue #16's set-up comparison with ABY (1,000 × 32-bit multiplications).
fn beaver_setup(c: &mut Criterion) {
    let rt = runtime();
    setup::<Z32>(c, &rt);
    setup::<Z64>(c, &rt);
}

criterion_group!(benches, base_ots, extension, beaver_setup);
criterion_main!(benches);
