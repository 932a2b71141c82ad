//! Online cost of arithmetic sharing over TCP loopback: Beaver multiplication of 10^6
//! Z_2^64 elements, and a 128×784 · 784×128 matrix product with a shared weight
//! (Beaver matrix triple) and with party 0's plaintext weight.
//!
//! Each iteration uses fresh preprocessing (made untimed before it); the timed part
//! starts when both parties begin the operation and ends when both hold their output
//! shares. The online bytes and rounds of one iteration are printed once per benchmark
//! from the channels' meters.
//!
//! `arith_threads` is the local product of a plaintext-weight layer on 1 and 2 threads.
//!
//! `cargo bench -p tessera-bench-suite --bench arith_online`

use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group, criterion_main};
use ndarray::{ArrayD, IxDyn};
use tessera_core::{Channel, ChannelConfig, Phase, PhaseMeter, Prg, Ring, SessionId, Z64};
use tessera_protocols::{AShare, ArithParty, BilinearOp, Demand, PlainWeights, Store, dealer};

type R = Z64;

fn rand_array(shape: &[usize]) -> ArrayD<R> {
    let mut prg = Prg::from_entropy();
    ArrayD::from_shape_vec(
        IxDyn(shape),
        R::random_vec(&mut prg, shape.iter().product()),
    )
    .expect("shape")
}

/// A connected TCP channel pair on loopback.
async fn tcp_pair() -> (Channel, Channel) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let cfg = ChannelConfig::default();
    let (a, b) = tokio::join!(Channel::accept(&listener, cfg), Channel::connect(addr, cfg));
    let (mut a, mut b) = (a.expect("accept"), b.expect("connect"));
    a.set_phase(Phase::Online);
    b.set_phase(Phase::Online);
    (a, b)
}

fn parties(demand: &Demand, c0: Channel, c1: Channel) -> (ArithParty<R>, ArithParty<R>) {
    let s = SessionId::random();
    let dealt = dealer::generate::<R>(demand).expect("deal");
    let st =
        |i| Box::new(Store::<R>::from_material(dealt.material::<R>(i, s, demand)).expect("store"));
    (ArithParty::new(c0, st(0)), ArithParty::new(c1, st(1)))
}

#[derive(Clone, Copy)]
enum Op {
    Mul,
    MatMul,
    Plain,
}

struct Setup {
    p0: ArithParty<R>,
    p1: ArithParty<R>,
    x: [AShare<R>; 2],
    y: [AShare<R>; 2],
    w: Option<[PlainWeights<R>; 2]>,
}

async fn prepare(op: Op, c0: Channel, c1: Channel) -> Setup {
    let (xs, ys) = match op {
        Op::Mul => (vec![1_000_000], vec![1_000_000]),
        Op::MatMul | Op::Plain => (vec![128, 784], vec![784, 128]),
    };
    let mut d = Demand::new();
    let mut mask = 0;
    match op {
        Op::Mul => {
            d.mul(&xs);
        }
        Op::MatMul => {
            d.matmul(&xs, &ys);
        }
        Op::Plain => {
            mask = d.weight_mask(&ys);
            d.plain_weight(BilinearOp::MatMul, mask, &xs, &ys);
        }
    }
    let (mut p0, mut p1) = parties(&d, c0, c1);
    let share = |s: &[usize]| {
        [
            AShare::from_array(rand_array(s)),
            AShare::from_array(rand_array(s)),
        ]
    };
    let (x, y) = (share(&xs), share(&ys));
    let w = match op {
        Op::Plain => {
            let w = rand_array(&ys);
            let (a, b) = tokio::join!(
                p0.setup_plain_weights(mask, &ys, Some(w)),
                p1.setup_plain_weights(mask, &ys, None)
            );
            Some([a.expect("setup"), b.expect("setup")])
        }
        _ => None,
    };
    Setup { p0, p1, x, y, w }
}

async fn step(
    p: &mut ArithParty<R>,
    op: Op,
    x: &AShare<R>,
    y: &AShare<R>,
    w: Option<&PlainWeights<R>>,
) -> AShare<R> {
    match (op, w) {
        (Op::Mul, _) => p.mul(x, y).await,
        (Op::MatMul, _) => p.matmul(x, y).await,
        (Op::Plain, Some(w)) => p.plain_layer(BilinearOp::MatMul, w, x).await,
        (Op::Plain, None) => unreachable!("plain weights are set up for Op::Plain"),
    }
    .expect("operation")
}

/// Times `iters` operations; returns the total and the last iteration's online meters.
async fn run(op: Op, iters: u64) -> (Duration, [PhaseMeter; 2]) {
    let (mut c0, mut c1) = tcp_pair().await;
    let mut total = Duration::ZERO;
    let mut meters = [PhaseMeter::default(); 2];
    for _ in 0..iters {
        let Setup {
            mut p0,
            mut p1,
            x,
            y,
            w,
        } = prepare(op, c0, c1).await;
        let before = [
            p0.channel().metering().online,
            p1.channel().metering().online,
        ];
        let [w0, w1] = match w {
            Some([a, b]) => [Some(a), Some(b)],
            None => [None, None],
        };
        let [x0, x1] = x;
        let [y0, y1] = y;
        let start = Instant::now();
        let t0 = tokio::spawn(async move {
            let z = step(&mut p0, op, &x0, &y0, w0.as_ref()).await;
            (p0, z)
        });
        let t1 = tokio::spawn(async move {
            let z = step(&mut p1, op, &x1, &y1, w1.as_ref()).await;
            (p1, z)
        });
        let (r0, r1) = tokio::join!(t0, t1);
        total += start.elapsed();
        let ((p0, _), (p1, _)) = (r0.expect("party 0"), r1.expect("party 1"));
        for (m, (p, b)) in meters.iter_mut().zip([(&p0, before[0]), (&p1, before[1])]) {
            let a = p.channel().metering().online;
            *m = PhaseMeter {
                bytes_sent: a.bytes_sent - b.bytes_sent,
                bytes_received: a.bytes_received - b.bytes_received,
                messages_sent: a.messages_sent - b.messages_sent,
                messages_received: a.messages_received - b.messages_received,
                rounds: a.rounds - b.rounds,
            };
        }
        c0 = p0.into_parts().0;
        c1 = p1.into_parts().0;
    }
    (total, meters)
}

fn bench(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let mut g = c.benchmark_group("arith_online");
    g.sample_size(10);
    for (name, op) in [
        ("beaver_mul_z64_1e6", Op::Mul),
        ("matmul_128x784x128_shared_weights", Op::MatMul),
        ("matmul_128x784x128_plain_weights", Op::Plain),
    ] {
        let (_, m) = rt.block_on(run(op, 1));
        eprintln!(
            "{name}: online per iteration: party 0 sent {} B, party 1 sent {} B, rounds {}/{}",
            m[0].bytes_sent, m[1].bytes_sent, m[0].rounds, m[1].rounds
        );
        g.bench_function(name, |b| {
            b.iter_custom(|iters| rt.block_on(run(op, iters)).0)
        });
    }
    g.finish();
}

/// The local product of a plaintext-weight layer (what each party computes after the
/// one message: `Bilinear::accumulate_on` on the party's threads), on 1 and 2 threads:
/// the first dense layer of the MNIST MLP at batch 100 and a 3×3 convolution of 16
/// to 32 channels on 32×32 images, at batch 1 (one image's products split) and 16
/// (images split).
fn threads(c: &mut Criterion) {
    use tessera_protocols::Window;
    use tessera_protocols::arith::bilinear::{Bilinear, ConvParams};
    let conv = BilinearOp::Conv(ConvParams {
        window: Window::square2d(1, 1),
        groups: 1,
    });
    let mut g = c.benchmark_group("arith_threads");
    g.sample_size(10);
    for (name, op, x, w) in [
        (
            "dense_100x784x128",
            BilinearOp::MatMul,
            vec![100, 784],
            vec![784, 128],
        ),
        (
            "conv3x3_16to32_32x32_batch1",
            conv,
            vec![1, 16, 32, 32],
            vec![32, 16, 3, 3],
        ),
        (
            "conv3x3_16to32_32x32_batch16",
            conv,
            vec![16, 16, 32, 32],
            vec![32, 16, 3, 3],
        ),
    ] {
        let (x, w) = (rand_array(&x), rand_array(&w));
        let out = op.apply(x.view(), w.view()).expect("shapes");
        for t in [1usize, 2] {
            let threads = tessera_core::Threads::new(
                std::num::NonZeroUsize::new(t).unwrap_or(std::num::NonZeroUsize::MIN),
            );
            g.bench_function(format!("{name}/{t}"), |b| {
                b.iter(|| {
                    let mut y = out.clone();
                    op.accumulate_on(&threads, x.view(), w.view(), &mut y)
                        .expect("shapes");
                    y
                })
            });
        }
    }
    g.finish();
}

criterion_group!(benches, bench, threads);
criterion_main!(benches);
