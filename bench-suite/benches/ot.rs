//! OT extension between the two parties over TCP loopback: base OTs (128 Chou–Orlandi
//! transfers one way, and a session's link: 128 of them and 128 random OTs extended
//! back) and IKNP random OTs in batches of 2^16 and 2^20 (issue #16's comparison with
//! emp-ot 0.3.0's IKNP, measured on the same machine: see the README).
//!
//! The two parties of an extension run on two OS threads, as two processes would (and
//! as emp-ot's benchmark runs them): each drives its own future with `block_on`, the
//! channels' writer tasks run on the runtime's workers. Polling both parties from one
//! thread (`try_join!`) would serialise their computations and measure their sum.

use std::time::{Duration, Instant};

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use tessera_bench_suite::tcp_pair;
use tessera_core::{Block, ChannelConfig, Prg};
use tessera_protocols::ot;

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

criterion_group!(benches, base_ots, extension);
criterion_main!(benches);
