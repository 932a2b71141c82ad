//! `tessera calibrate`: measures the coefficients of the time model on this machine
//! by running the real protocol pieces, and fits them.
//!
//! | coefficient | what runs | fit |
//! |---|---|---|
//! | transport `message` | GMW AND layers of 64 gates on one instance in sequence (open, exchange, close) over TCP loopback: the engine's narrow rounds | time / layers |
//! | transport `message_shaped` | the same on a `lan`-shaped link | time / layers − one-way latency |
//! | transport `byte` | one party sends S bytes in 1 MiB frames, the other acknowledges | slope over S |
//! | transport `exchange_byte` | both parties send S bytes at once | slope over S |
//! | `gmw_and` | one party's AND-layer steps (`and_open`, `and_close`) on 256 gates × a bit-sliced batch | slope over gates × instances |
//! | `yao_garble_and`, `yao_eval_and` | `garble_chunk` / `eval_chunk` of a 64-bit multiplier, adder and ReLU on one core | slope over the chunk |
//! | `mac` | plaintext matrix product `[m, 784] · [784, 128]` (the Beaver/plain-weight kernel) | slope over multiply-adds |
//! | `ring_op` | elementwise addition of shares | slope over elements |
//! | `ot` | evaluator input through random OTs, both parties over the in-memory channel | slope over OTs, less the slope of moving the same bytes |
//! | `label` | copying labels | slope over labels |
//! | dealer, per kind | `preprocessing::deal` and both parties' expansion for one request | least squares on (elements, multiply-adds) |
//!
//! Every point is the median of several repetitions; fits are least squares with an
//! intercept (the fixed cost, discarded) over sizes large enough for the fixed costs
//! to be small. A fit whose slope is not positive (a measurement drowned in noise) is
//! measured again, up to three times, and then reported as an error: no coefficient
//! is ever made up.
//!
//! The result is a [`Calibration`]: the planner only reads it
//! ([`tessera_planner::calibration`], with a default embedded) and prices programs
//! with it. Errors are the planner's, as for loading a calibration file
//! ([`Error::Calibration`] for a coefficient that cannot be resolved from the noise).

use std::future::Future;
use std::time::{Duration, Instant};

use ndarray::{ArrayD, IxDyn};
use tessera_core::{BitMatrix, BitVec, Block, Channel, ChannelConfig, Phase, Prg, Ring, Z64};
use tessera_planner::calibration::{
    Calibration, Compute, Dealer, Expand, KIND, KindCost, Machine, OtSource, RING, SCHEMA, Sample,
    Transport,
};
use tessera_planner::{Error, Result};
use tessera_protocols::circuit::{Builder, Circuit, Program, Variant};
use tessera_protocols::gmw::{BShare, Wires, and_close, and_open, message_words};
use tessera_protocols::ot::{self, correlate, correlate::OtLink};
use tessera_protocols::preprocessing::AndTriples;
use tessera_protocols::preprocessing::{RandomOts, deal, expand_party0, expand_party1};
use tessera_protocols::runtime::local;
use tessera_protocols::yao::{Delta, Evaluator, Garbler, Scratch, eval_chunk, garble_chunk};
use tessera_protocols::{AShare, Bilinear, BilinearOp, Demand};

type R = Z64;

/// How thoroughly to measure.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Options {
    /// Fewer sizes and repetitions (about a second instead of about fifteen).
    pub quick: bool,
}

struct Ctx<'p> {
    quick: bool,
    samples: Vec<Sample>,
    progress: &'p mut dyn FnMut(&str),
}

impl Ctx<'_> {
    fn reps(&self) -> usize {
        if self.quick { 5 } else { 15 }
    }

    /// Picks the quick or the full list of sizes.
    fn sizes<T: Copy>(&self, quick: &[T], full: &[T]) -> Vec<T> {
        if self.quick {
            quick.to_vec()
        } else {
            full.to_vec()
        }
    }

    fn record(&mut self, what: &str, size: f64, median_s: f64, reps: usize) {
        self.samples.push(Sample {
            what: what.to_string(),
            size,
            median_s,
            reps,
        });
    }
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n == 0 {
        return 0.0;
    }
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

/// Median of `reps` timings of `f` (each returns the seconds it measured), after
/// one untimed warm-up run (caches, page faults, buffers reaching their size).
fn median_of(reps: usize, mut f: impl FnMut() -> Result<f64>) -> Result<f64> {
    f()?;
    let mut v = Vec::with_capacity(reps);
    for _ in 0..reps {
        v.push(f()?);
    }
    Ok(median(v))
}

fn time(f: impl FnOnce()) -> f64 {
    let t = Instant::now();
    f();
    t.elapsed().as_secs_f64()
}

/// Least squares `y ≈ c₀ + Σ cⱼ xⱼ`; returns `[c₀, c₁, …]`.
///
/// # Errors
/// If there are fewer points than unknowns or the system is singular.
pub fn fit(xs: &[Vec<f64>], ys: &[f64]) -> Result<Vec<f64>> {
    let k = xs.first().map_or(0, Vec::len) + 1;
    if xs.len() < k || xs.len() != ys.len() || xs.iter().any(|x| x.len() + 1 != k) {
        return Err(Error::Calibration(format!(
            "a fit of {} unknowns needs at least as many points ({} given)",
            k,
            xs.len()
        )));
    }
    // Scale each feature to [0, 1] for conditioning.
    let scale: Vec<f64> = (0..k - 1)
        .map(|j| {
            xs.iter()
                .map(|x| x[j].abs())
                .fold(0.0, f64::max)
                .max(f64::MIN_POSITIVE)
        })
        .collect();
    let row = |x: &Vec<f64>| -> Vec<f64> {
        std::iter::once(1.0)
            .chain(x.iter().zip(&scale).map(|(v, s)| v / s))
            .collect()
    };
    let mut a = vec![vec![0.0; k + 1]; k];
    for (x, y) in xs.iter().zip(ys) {
        let r = row(x);
        for i in 0..k {
            for j in 0..k {
                a[i][j] += r[i] * r[j];
            }
            a[i][k] += r[i] * y;
        }
    }
    // Gaussian elimination with partial pivoting.
    for c in 0..k {
        let p = (c..k)
            .max_by(|&i, &j| a[i][c].abs().total_cmp(&a[j][c].abs()))
            .unwrap_or(c);
        if a[p][c].abs() < 1e-12 {
            return Err(Error::Calibration(
                "the measured sizes do not determine the fit".into(),
            ));
        }
        a.swap(c, p);
        let pivot = a[c].clone();
        for (i, r) in a.iter_mut().enumerate() {
            if i != c {
                let f = r[c] / pivot[c];
                for (x, p) in r.iter_mut().zip(&pivot).skip(c) {
                    *x -= f * p;
                }
            }
        }
    }
    Ok((0..k)
        .map(|i| {
            let v = a[i][k] / a[i][i];
            if i == 0 { v } else { v / scale[i - 1] }
        })
        .collect())
}

/// The slope of `y` over one feature.
fn slope(xs: &[f64], ys: &[f64]) -> Result<f64> {
    let x: Vec<Vec<f64>> = xs.iter().map(|&v| vec![v]).collect();
    Ok(fit(&x, ys)?[1])
}

fn check_positive(what: &str, v: f64) -> Result<()> {
    if v.is_finite() && v > 0.0 {
        Ok(())
    } else {
        Err(Error::Calibration(format!(
            "{what}: the fitted coefficient is {v:e} s three times in a row; the machine is \
             too noisy to measure it (try again when it is idle)"
        )))
    }
}

/// A TCP loopback pair from the session runtime, both ends metering the online phase.
async fn tcp_pair(config: ChannelConfig) -> Result<(Channel, Channel)> {
    let (mut a, mut b) = local::pair(local::Transport::Tcp, config).await?;
    a.set_phase(Phase::Online);
    b.set_phase(Phase::Online);
    Ok((a, b))
}

fn join_err(e: tokio::task::JoinError) -> Error {
    Error::Calibration(format!("a measurement task failed: {e}"))
}

/// Runs two party futures on their own tasks and returns their results and the
/// wall-clock time from start to both finishing.
async fn two<A, B, TA, TB>(a: A, b: B) -> Result<(TA, TB, f64)>
where
    A: Future<Output = Result<TA>> + Send + 'static,
    B: Future<Output = Result<TB>> + Send + 'static,
    TA: Send + 'static,
    TB: Send + 'static,
{
    let start = Instant::now();
    let (ra, rb) = tokio::join!(tokio::spawn(a), tokio::spawn(b));
    let t = start.elapsed().as_secs_f64();
    Ok((ra.map_err(join_err)??, rb.map_err(join_err)??, t))
}

// ---------------------------------------------------------------- transport

async fn transport(ctx: &mut Ctx<'_>) -> Result<Transport> {
    (ctx.progress)("transport: TCP loopback messages and bytes");
    let reps = ctx.reps();
    let (mut c0, mut c1) = tcp_pair(ChannelConfig::default()).await?;
    // A round as the engine pays it: narrow GMW AND layers, one exchange each, with
    // each party's open and close between (what a round costs beyond its bytes:
    // the two messages, waking the parties, the per-layer work), unshaped.
    let k = if ctx.quick { 300 } else { 1000 };
    let (message, c) = gmw_rounds(c0, c1, k, reps).await?;
    (c0, c1) = c;
    ctx.record(
        "transport: one round (narrow GMW layers)",
        8.0,
        message,
        reps,
    );
    // The same on a shaped link: what a round costs beyond the profile's latency
    // (also the shaping timer's wake-ups).
    let lan = tessera_core::NetworkProfile::LAN;
    let (s0, s1) = tcp_pair(ChannelConfig::with_profile(lan)).await?;
    let k = if ctx.quick { 100 } else { 300 };
    let (shaped, (s0, s1)) = gmw_rounds(s0, s1, k, reps).await?;
    s0.close().await?;
    s1.close().await?;
    let message_shaped = shaped - lan.one_way_latency().as_secs_f64();
    ctx.record(
        "transport: one round on a lan link (narrow GMW layers)",
        8.0,
        shaped,
        reps,
    );

    const MIB: usize = 1 << 20;
    let sizes = ctx.sizes(&[2 * MIB, 8 * MIB], &[4 * MIB, 16 * MIB, 32 * MIB]);
    let mut one_way = Vec::new();
    let mut exchange = Vec::new();
    for &s in &sizes {
        let mut v = Vec::new();
        let mut x = Vec::new();
        for rep in 0..=reps {
            let a = async move {
                for _ in 0..s / MIB {
                    c0.send_bytes(vec![0u8; MIB]).await?;
                }
                c0.recv_words(1).await?;
                Ok::<_, Error>(c0)
            };
            let b = async move {
                for _ in 0..s / MIB {
                    c1.recv_bytes().await?;
                }
                c1.send_words(vec![0u64]).await?;
                Ok::<_, Error>(c1)
            };
            let (p, q, t) = two(a, b).await?;
            (c0, c1) = (p, q);
            if rep > 0 {
                v.push(t);
            }
            let side = |mut c: Channel| async move {
                for _ in 0..s / MIB {
                    c.send_bytes(vec![0u8; MIB]).await?;
                }
                for _ in 0..s / MIB {
                    c.recv_bytes().await?;
                }
                Ok::<_, Error>(c)
            };
            let (p, q, t) = two(side(c0), side(c1)).await?;
            (c0, c1) = (p, q);
            if rep > 0 {
                x.push(t);
            }
        }
        let (v, x) = (median(v), median(x));
        ctx.record("transport: one-way bytes", s as f64, v, reps);
        ctx.record("transport: exchanged bytes (each way)", s as f64, x, reps);
        one_way.push(v);
        exchange.push(x);
    }
    let xs: Vec<f64> = sizes.iter().map(|&s| s as f64).collect();
    let byte = slope(&xs, &one_way)?;
    let exchange_byte = slope(&xs, &exchange)?;
    c0.close().await?;
    c1.close().await?;
    Ok(Transport {
        message,
        message_shaped,
        byte,
        exchange_byte,
    })
}

/// Gates of the narrow AND layers of [`gmw_rounds`]: a layer of a 64-bit
/// comparison or adder on one instance.
const ROUND_LAYER_GATES: usize = 64;

/// Median seconds of one round of `k` GMW AND layers of [`ROUND_LAYER_GATES`] gates
/// on one instance, evaluated in sequence by both parties (`and_open`, exchange,
/// `and_close`), the triples made beforehand.
async fn gmw_rounds(
    c0: Channel,
    c1: Channel,
    k: usize,
    reps: usize,
) -> Result<(f64, (Channel, Channel))> {
    let circuit = and_layer_circuit(ROUND_LAYER_GATES)?;
    let program = std::sync::Arc::new(Program::new(&circuit));
    let party = |p: usize, mut ch: Channel, program: std::sync::Arc<Program>| async move {
        let mut prg = Prg::from_entropy();
        let ands = program
            .layers()
            .first()
            .map(|(_, a)| a.clone())
            .ok_or_else(|| Error::Calibration("internal: no AND layer".into()))?;
        let mut wires = Wires::new(program.slots(), 1);
        let triples: Vec<AndTriples> = (0..k)
            .map(|_| AndTriples {
                a: BitVec::random(&mut prg, ands.len()),
                b: BitVec::random(&mut prg, ands.len()),
                c: BitVec::random(&mut prg, ands.len()),
            })
            .collect();
        let start = Instant::now();
        for t in triples {
            let (state, msg) = and_open(p, &wires, &ands, t)?;
            let peer = ch.exchange_pod(msg).await?;
            and_close(state, &mut wires, &peer)?;
        }
        Ok::<_, Error>((ch, start.elapsed().as_secs_f64()))
    };
    let (mut c0, mut c1) = (c0, c1);
    let mut v = Vec::new();
    for rep in 0..=reps {
        let ((a, _), (b, _), t) =
            two(party(0, c0, program.clone()), party(1, c1, program.clone())).await?;
        (c0, c1) = (a, b);
        // The first repetition warms up.
        if rep > 0 {
            v.push(t / k as f64);
        }
    }
    Ok((median(v), (c0, c1)))
}

// ---------------------------------------------------------------- GMW

fn random_bits(prg: &mut Prg, w: usize, n: usize) -> Result<BitMatrix> {
    let rows: Vec<BitVec> = (0..w).map(|_| BitVec::random(prg, n)).collect();
    Ok(BitMatrix::from_rows(&rows)?)
}

/// A circuit of one layer of `w` independent AND gates.
fn and_layer_circuit(w: usize) -> Result<Circuit> {
    let mut b = Builder::new();
    let (x, y) = (b.input(w), b.input(w));
    let z: Vec<_> = x.iter().zip(&y).map(|(&a, &c)| b.and(a, c)).collect();
    b.output(&z);
    Ok(b.finish()?)
}

/// One party's GMW work per AND gate: the pure steps of an AND layer
/// ([`and_open`], [`and_close`]) on a bit-sliced batch, the peer's message given.
fn gmw_and(ctx: &mut Ctx<'_>) -> Result<f64> {
    (ctx.progress)("GMW: AND layers (one party's open and close, bit-sliced)");
    let w = 256usize;
    let circuit = and_layer_circuit(w)?;
    let program = Program::new(&circuit);
    let ands = program
        .layers()
        .first()
        .map(|(_, a)| a.clone())
        .ok_or_else(|| Error::Calibration("internal: no AND layer".into()))?;
    let sizes = ctx.sizes(&[1usize << 12, 1 << 14], &[1 << 12, 1 << 14, 1 << 15]);
    let reps = ctx.reps();
    let mut prg = Prg::from_entropy();
    let (mut xs, mut ys) = (Vec::new(), Vec::new());
    for &n in &sizes {
        let mut wires = Wires::new(program.slots(), n);
        wires.set(0, &BShare::from_matrix(random_bits(&mut prg, w, n)?))?;
        wires.set(w, &BShare::from_matrix(random_bits(&mut prg, w, n)?))?;
        let kn = ands.len() * n;
        let peer: Vec<u64> = BitVec::random(&mut prg, 64 * message_words(ands.len(), n))
            .words()
            .to_vec();
        let t = median_of(reps, || {
            let triples = AndTriples {
                a: BitVec::random(&mut prg, kn),
                b: BitVec::random(&mut prg, kn),
                c: BitVec::random(&mut prg, kn),
            };
            let start = Instant::now();
            let (state, msg) = and_open(0, &wires, &ands, triples)?;
            std::hint::black_box(&msg);
            and_close(state, &mut wires, &peer)?;
            Ok(start.elapsed().as_secs_f64())
        })?;
        let g = kn as f64;
        ctx.record("gmw: AND gates (one party, open and close)", g, t, reps);
        xs.push(g);
        ys.push(t);
    }
    slope(&xs, &ys)
}

// ---------------------------------------------------------------- Yao

fn yao_circuit() -> Result<Circuit> {
    let mut b = Builder::new();
    let (x, y) = (b.input(64), b.input(64));
    let p = b.mul(&x, &y, Variant::Size);
    let s = b.add(&p, &x, Variant::Size);
    let r = b.relu(&s);
    b.output(&r);
    Ok(b.finish()?)
}

fn yao(ctx: &mut Ctx<'_>) -> Result<(f64, f64)> {
    (ctx.progress)("Yao: garbling and evaluation on one core");
    let circuit = yao_circuit()?;
    let program = Program::new(&circuit);
    let ands = circuit.cost().and_gates as f64;
    let mut prg = Prg::from_entropy();
    let delta = Delta::new(Block::random(&mut prg));
    let sizes = ctx.sizes(&[16usize, 64], &[16, 64, 128]);
    let reps = ctx.reps();
    let (mut xs, mut g, mut e) = (Vec::new(), Vec::new(), Vec::new());
    for &k in &sizes {
        let inputs = Block::random_vec(&mut prg, program.slots() * k);
        let mut scratch = Scratch::default();
        let mut tables: Vec<Block> = Vec::new();
        let tg = median_of(reps, || {
            let mut labels = inputs.clone();
            let mut counter = 0u64;
            tables.clear();
            Ok(time(|| {
                garble_chunk(
                    &program,
                    &mut labels,
                    k,
                    delta,
                    &mut counter,
                    &mut scratch,
                    &mut tables,
                    |_| {},
                );
            }))
        })?;
        let te = median_of(reps, || {
            let mut labels = inputs.clone();
            let (mut pos, mut counter) = (0usize, 0u64);
            let mut res: std::result::Result<(), ()> = Ok(());
            let t = time(|| {
                res = eval_chunk(
                    &program,
                    &mut labels,
                    k,
                    &mut counter,
                    &mut scratch,
                    |n, f| {
                        let end = pos + n;
                        let chunk = tables.get(pos..end).ok_or(())?;
                        f(chunk);
                        pos = end;
                        Ok(())
                    },
                );
            });
            res.map_err(|()| Error::Calibration("internal: table count".into()))?;
            Ok(t)
        })?;
        let n = ands * k as f64;
        ctx.record("yao: garble AND gates (one core)", n, tg, reps);
        ctx.record("yao: evaluate AND gates (one core)", n, te, reps);
        xs.push(n);
        g.push(tg);
        e.push(te);
    }
    Ok((slope(&xs, &g)?, slope(&xs, &e)?))
}

// ---------------------------------------------------------------- ring kernels

fn mac(ctx: &mut Ctx<'_>) -> Result<f64> {
    (ctx.progress)("ring: plaintext-weight matrix products and elementwise operations");
    let mut prg = Prg::from_entropy();
    let (k, n) = (784usize, 128usize);
    let w = ArrayD::from_shape_vec(IxDyn(&[k, n]), R::random_vec(&mut prg, k * n))
        .map_err(|e| Error::Calibration(e.to_string()))?;
    let sizes = ctx.sizes(&[64usize, 256], &[64, 256, 512]);
    let reps = ctx.reps();
    let (mut xs, mut ys) = (Vec::new(), Vec::new());
    for &m in &sizes {
        let x = ArrayD::from_shape_vec(IxDyn(&[m, k]), R::random_vec(&mut prg, m * k))
            .map_err(|e| Error::Calibration(e.to_string()))?;
        let t = median_of(reps, || {
            let mut r = Ok(());
            let t = time(|| {
                r = BilinearOp::MatMul
                    .apply(x.view(), w.view())
                    .map(|y| drop(std::hint::black_box(y)));
            });
            r?;
            Ok(t)
        })?;
        let macs = (m * k * n) as f64;
        ctx.record("ring: matmul multiply-adds", macs, t, reps);
        xs.push(macs);
        ys.push(t);
    }
    slope(&xs, &ys)
}

fn ring_op(ctx: &mut Ctx<'_>) -> Result<f64> {
    let mut prg = Prg::from_entropy();
    let sizes = ctx.sizes(&[1usize << 16, 1 << 18], &[1 << 16, 1 << 18, 1 << 20]);
    let reps = ctx.reps();
    let (mut xs, mut ys) = (Vec::new(), Vec::new());
    for &n in &sizes {
        let arr = |prg: &mut Prg| {
            ArrayD::from_shape_vec(IxDyn(&[n]), R::random_vec(prg, n))
                .map(AShare::from_array)
                .map_err(|e| Error::Calibration(e.to_string()))
        };
        let (a, b) = (arr(&mut prg)?, arr(&mut prg)?);
        let t = median_of(reps, || {
            let mut r = Ok(());
            let t = time(|| r = a.add(&b).map(|y| drop(std::hint::black_box(y))));
            r?;
            Ok(t)
        })?;
        ctx.record("ring: elementwise additions", n as f64, t, reps);
        xs.push(n as f64);
        ys.push(t);
    }
    slope(&xs, &ys)
}

fn label(ctx: &mut Ctx<'_>) -> Result<f64> {
    let mut prg = Prg::from_entropy();
    let sizes = ctx.sizes(&[1usize << 18, 1 << 20], &[1 << 18, 1 << 20, 1 << 21]);
    let reps = ctx.reps();
    let (mut xs, mut ys) = (Vec::new(), Vec::new());
    for &n in &sizes {
        let src = Block::random_vec(&mut prg, n);
        let mut dst = vec![Block::ZERO; n];
        let t = median_of(reps, || {
            Ok(time(|| {
                dst.copy_from_slice(&src);
                std::hint::black_box(&mut dst);
            }))
        })?;
        ctx.record("yao: labels copied", n as f64, t, reps);
        xs.push(n as f64);
        ys.push(t);
    }
    slope(&xs, &ys)
}

// ---------------------------------------------------------------- OTs

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

/// Seconds of `bytes` sent one way over `c0 → c1` in 1 MiB frames (and an 8-byte
/// acknowledgement).
async fn one_way(c0: Channel, c1: Channel, bytes: usize) -> Result<(Channel, Channel, f64)> {
    const MIB: usize = 1 << 20;
    let frames = bytes.div_ceil(MIB);
    let a = async move {
        let mut c0 = c0;
        for k in 0..frames {
            let len = MIB.min(bytes - k * MIB);
            c0.send_bytes(vec![0u8; len]).await?;
        }
        c0.recv_words(1).await?;
        Ok::<_, Error>(c0)
    };
    let b = async move {
        let mut c1 = c1;
        for _ in 0..frames {
            c1.recv_bytes().await?;
        }
        c1.send_words(vec![0u64]).await?;
        Ok::<_, Error>(c1)
    };
    two(a, b).await
}

/// Both parties' work per random OT derandomised (the evaluator's inputs to Yao),
/// over the in-memory channel, less the in-memory channel's share for the bytes.
async fn ot(ctx: &mut Ctx<'_>) -> Result<f64> {
    (ctx.progress)("OT: evaluator inputs through random OTs (in-memory channel)");
    let sizes = ctx.sizes(&[1usize << 16, 1 << 18], &[1 << 16, 1 << 18, 1 << 19]);
    let reps = ctx.reps();
    let (mut c0, mut c1) = Channel::in_memory_pair(ChannelConfig::default());
    c0.set_phase(Phase::Online);
    c1.set_phase(Phase::Online);
    let (mut xs, mut ys, mut bs, mut copy) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    let width = 64usize;
    for &count in &sizes {
        let n = count / width;
        let (mut v, mut w) = (Vec::new(), Vec::new());
        let mut bytes = 0u64;
        for rep in 0..=reps {
            let mut prg = Prg::from_entropy();
            let (s, r) = local_rots(&mut prg, count);
            let bits = random_bits(&mut prg, width, n)?;
            let before = c0.metering().online.bytes_total();
            let a = async move {
                let mut c0 = c0;
                Garbler::new()
                    .input_from_evaluator(&mut c0, width, n, s)
                    .await?;
                Ok::<_, Error>(c0)
            };
            let b = async move {
                let mut c1 = c1;
                Evaluator::new().input(&mut c1, &bits, r).await?;
                Ok::<_, Error>(c1)
            };
            let (p, q, t) = two(a, b).await?;
            (c0, c1) = (p, q);
            bytes = c0.metering().online.bytes_total() - before;
            // The same bytes moved without computing.
            let (p, q, tc) = one_way(c0, c1, bytes as usize).await?;
            (c0, c1) = (p, q);
            if rep > 0 {
                v.push(t);
                w.push(tc);
            }
        }
        let (m, mc) = (median(v), median(w));
        ctx.record(
            "ot: derandomised random OTs (two parties, in memory)",
            count as f64,
            m,
            reps,
        );
        ctx.record(
            "ot: the same bytes without computing (in memory)",
            bytes as f64,
            mc,
            reps,
        );
        xs.push(count as f64);
        ys.push(m);
        bs.push(bytes as f64);
        copy.push(mc);
    }
    c0.close().await?;
    c1.close().await?;
    let per = slope(&xs, &ys)?;
    let moving = slope(&xs, &copy)?;
    Ok(per - moving)
}

// ---------------------------------------------------------------- OT source

/// A party of the dealer-free offline phase: its channel and OT link.
type OtParty = (Channel, OtLink);

/// Runs `f` for both parties at once; returns them and the wall time.
async fn on_link<F, Fut>(parties: [OtParty; 2], f: F) -> Result<([OtParty; 2], f64)>
where
    F: Fn(usize, OtParty) -> Fut,
    Fut: Future<Output = Result<OtParty>> + Send + 'static,
{
    let [p0, p1] = parties;
    let (a, b, t) = two(f(0, p0), f(1, p1)).await?;
    Ok(([a, b], t))
}

/// Slope over `xs` of the median seconds of `f(x)` on the link, with `less_moving`
/// less the median seconds of moving its bytes one way without computing (the bytes
/// metered by party 0's end in both directions, halved: both directions move at once).
async fn ot_slope<F, Fut>(
    ctx: &mut Ctx<'_>,
    what: &str,
    xs: &[usize],
    mut parties: [OtParty; 2],
    less_moving: bool,
    f: F,
) -> Result<(f64, [OtParty; 2])>
where
    F: Fn(usize, usize, OtParty) -> Fut,
    Fut: Future<Output = Result<OtParty>> + Send + 'static,
{
    let reps = ctx.reps();
    let (mut fx, mut ys, mut moving) = (Vec::new(), Vec::new(), Vec::new());
    for &x in xs {
        let (mut v, mut w) = (Vec::new(), Vec::new());
        for rep in 0..=reps {
            let before = parties[0].0.metering().total().bytes_total();
            let (ps, t) = on_link(parties, |p, party| f(x, p, party)).await?;
            let [(c0, l0), (c1, l1)] = ps;
            let bytes = c0.metering().total().bytes_total() - before;
            let (c0, c1, tc) = one_way(c0, c1, (bytes / 2) as usize).await?;
            parties = [(c0, l0), (c1, l1)];
            if rep > 0 {
                v.push(t);
                w.push(tc);
            }
        }
        let (m, mc) = (median(v), median(w));
        ctx.record(what, x as f64, m, reps);
        fx.push(x as f64);
        ys.push(m);
        moving.push(mc);
    }
    let moved = if less_moving {
        slope(&fx, &moving)?
    } else {
        0.0
    };
    Ok((slope(&fx, &ys)? - moved, parties))
}

/// The OT source's coefficients, on TCP loopback as the parties run it: the link
/// set-up, the extension's random OTs both ways (less moving their bytes, which the time model
/// charges an extension on its own), and one-way vector OLEs of length-1 and
/// length-64 vectors (ℓ = 64 OTs per scalar, the OTs charged to the elements) with
/// their copying included: the sender's computing and the kernel's copying of its
/// corrections share the two cores, so on an unshaped link they add up rather than
/// overlap (measured: the CNN's 243 MB plaintext-weight OLE took the compute plus most
/// of the copy on `local`), while on a shaped link the link's time dominates.
async fn ot_source(ctx: &mut Ctx<'_>) -> Result<OtSource> {
    (ctx.progress)("OT source: base OTs, OT extension, vector OLE (TCP loopback)");
    let reps = ctx.reps();
    let mut base = Vec::new();
    let mut parties = None;
    for _ in 0..=reps {
        let (c0, c1) = tcp_pair(ChannelConfig::default()).await?;
        let setup = |p: usize, mut c: Channel| async move {
            let l = correlate::link(&mut c, p, &mut Prg::from_entropy()).await?;
            Ok::<_, Error>((c, l))
        };
        let (a, b, t) = two(setup(0, c0), setup(1, c1)).await?;
        base.push(t);
        parties = Some([a, b]);
    }
    let base = median(base);
    ctx.record(
        "ot source: link set-up (128 base OTs, 128 extended)",
        128.0,
        base,
        reps,
    );
    let parties = parties.ok_or_else(|| Error::Calibration("no OT link measured".into()))?;
    let sizes = ctx.sizes(&[1usize << 15, 1 << 17], &[1 << 16, 1 << 18, 1 << 19]);
    let (per_n, parties) = ot_slope(
        ctx,
        "ot source: random OTs both ways (n each way)",
        &sizes,
        parties,
        true,
        |n, _, (mut c, mut l): OtParty| async move {
            // As the source runs them (AND triples, random OTs): both directions at
            // once, the strings handed on, not kept.
            let choices = vec![true; n];
            let (mut got, mut sent) = (0u64, 0u64);
            ot::exchange_random_with(
                &mut c,
                (&mut l.receiver, &mut l.sender),
                &choices,
                n,
                |_, y| got ^= y.first().map_or(0, |b| b.0 as u64),
                |_, x| sent ^= x.first().map_or(0, |p| p[0].0 as u64),
            )
            .await?;
            std::hint::black_box((got, sent));
            Ok((c, l))
        },
    )
    .await?;
    let per_ot = per_n / 2.0;
    check_positive("ot_source.per_ot", per_ot)?;
    let ell = <R as Ring>::BITS as usize;
    let ole = |len: usize| {
        move |t: usize, p: usize, (mut c, mut l): OtParty| async move {
            let xs = if p == 0 {
                vec![R::from_u64(3); t * len]
            } else {
                Vec::new()
            };
            let ys = if p == 1 {
                vec![R::from_u64(5); t]
            } else {
                Vec::new()
            };
            correlate::vole(&mut c, &mut l, &xs, &ys, len, ell).await?;
            Ok((c, l))
        }
    };
    let sizes = ctx.sizes(&[1usize << 10, 1 << 12], &[1 << 10, 1 << 12, 1 << 13]);
    let (per_t, parties) = ot_slope(
        ctx,
        "ot source: one-way vector OLE, length 1 (t scalars)",
        &sizes,
        parties,
        false,
        ole(1),
    )
    .await?;
    let ole_element = per_t / ell as f64;
    check_positive("ot_source.ole_element", ole_element)?;
    let sizes = ctx.sizes(&[1usize << 8, 1 << 10], &[1 << 8, 1 << 10, 1 << 11]);
    let (per_t, parties) = ot_slope(
        ctx,
        "ot source: one-way vector OLE, length 64 (t scalars)",
        &sizes,
        parties,
        false,
        ole(64),
    )
    .await?;
    let ole_expanded = per_t / (ell * 64) as f64;
    check_positive("ot_source.ole_expanded", ole_expanded)?;
    for (c, _) in parties {
        c.close().await?;
    }
    Ok(OtSource {
        base,
        per_ot,
        ole_element,
        ole_expanded,
    })
}

// ---------------------------------------------------------------- dealer

/// Seconds of the dealer's generation and of the slower party's expansion.
fn deal_time(reps: usize, d: &Demand) -> Result<(f64, f64)> {
    let mut g = Vec::new();
    let mut e = Vec::new();
    for rep in 0..=reps {
        let (s0, s1) = (tessera_core::prg::os_seed(), tessera_core::prg::os_seed());
        let t = Instant::now();
        let corr = deal::<R>(d, s0, s1)?;
        g.push(t.elapsed().as_secs_f64());
        let t = Instant::now();
        drop(std::hint::black_box(expand_party0::<R>(d, s0)?));
        let e0 = t.elapsed().as_secs_f64();
        let t = Instant::now();
        drop(std::hint::black_box(expand_party1::<R>(d, s1, &corr)?));
        let e1 = t.elapsed().as_secs_f64();
        if rep == 0 {
            // Warm-up.
            g.clear();
            continue;
        }
        e.push(e0.max(e1));
    }
    Ok((median(g), median(e)))
}

/// Fits one kind from demands with their (elements, macs) features. Without MACs,
/// a one-feature fit.
fn fit_kind(
    ctx: &mut Ctx<'_>,
    what: &str,
    cases: &[(Demand, f64, f64)],
    subtract: impl Fn(&Demand) -> (f64, f64),
) -> Result<(KindCost, KindCost)> {
    let reps = ctx.reps();
    let has_macs = cases.iter().any(|c| c.2 > 0.0);
    let (mut xs, mut g, mut e) = (Vec::new(), Vec::new(), Vec::new());
    for (d, el, m) in cases {
        let (tg, te) = deal_time(reps, d)?;
        let (sg, se) = subtract(d);
        ctx.record(&format!("dealer: {what} (generate)"), *el, tg, reps);
        ctx.record(&format!("dealer: {what} (expand)"), *el, te, reps);
        xs.push(if has_macs { vec![*el, *m] } else { vec![*el] });
        g.push(tg - sg);
        e.push(te - se);
    }
    let to_cost = |c: Vec<f64>| KindCost {
        per_element: c[1],
        per_mac: if has_macs { c[2].max(0.0) } else { 0.0 },
    };
    let (gc, ec) = (to_cost(fit(&xs, &g)?), to_cost(fit(&xs, &e)?));
    for (side, c) in [("generation", gc), ("expansion", ec)] {
        if c.per_element.is_nan() || c.per_element <= 0.0 {
            return Err(Error::Calibration(format!(
                "dealer {what} {side}: fitted {:e} s per element; the machine is too noisy",
                c.per_element
            )));
        }
    }
    Ok((gc, ec))
}

fn dealer_costs(ctx: &mut Ctx<'_>) -> Result<Dealer> {
    (ctx.progress)("dealer: generation and expansion per correlation kind");
    let q = ctx.quick;
    let sz = |quick: &[usize], full: &[usize]| if q { quick.to_vec() } else { full.to_vec() };
    let one = |f: &dyn Fn(&mut Demand, usize), n: usize| {
        let mut d = Demand::new();
        f(&mut d, n);
        (d, n as f64, 0.0)
    };
    let counted = |f: &dyn Fn(&mut Demand, usize), sizes: Vec<usize>| {
        sizes.into_iter().map(|n| one(f, n)).collect::<Vec<_>>()
    };
    let none = |_: &Demand| (0.0, 0.0);
    let mid = sz(&[1 << 14, 1 << 16], &[1 << 14, 1 << 16, 1 << 18]);

    let mut beaver_cases = Vec::new();
    for n in sz(&[1 << 16, 1 << 18], &[1 << 16, 1 << 18]) {
        let mut d = Demand::new();
        d.mul(&[n]);
        beaver_cases.push((d, (3 * n) as f64, n as f64));
    }
    for (m, k, n) in [(16usize, 256usize, 128usize), (64, 64, 128), (64, 256, 128)] {
        let mut d = Demand::new();
        d.matmul(&[m, k], &[k, n]);
        beaver_cases.push((d, (m * k + k * n + m * n) as f64, (m * k * n) as f64));
    }
    let (beaver, e_beaver) = fit_kind(ctx, "beaver triples", &beaver_cases, none)?;
    let (square, e_square) = fit_kind(
        ctx,
        "square pairs",
        &counted(
            &|d, n| {
                d.square(&[n]);
            },
            mid.clone(),
        ),
        none,
    )?;
    let (trunc, e_trunc) = fit_kind(
        ctx,
        "truncation pairs",
        &counted(
            &|d, n| {
                d.trunc(16, &[n]);
            },
            mid.clone(),
        ),
        none,
    )?;
    let (and_triple, e_and) = fit_kind(
        ctx,
        "AND triples",
        &counted(
            &|d, n| {
                d.and_triples(n);
            },
            sz(&[1 << 22, 1 << 24], &[1 << 22, 1 << 24, 1 << 26]),
        ),
        none,
    )?;
    let (random_ot, e_ot) = fit_kind(
        ctx,
        "random OTs",
        &counted(
            &|d, n| {
                d.random_ots(n, 0);
            },
            sz(&[1 << 16, 1 << 18], &[1 << 16, 1 << 18, 1 << 19]),
        ),
        none,
    )?;
    let (dabit, e_dabit) = fit_kind(
        ctx,
        "daBits",
        &counted(
            &|d, n| {
                d.dabits(n);
            },
            mid.clone(),
        ),
        none,
    )?;
    let (weight_mask, e_mask) = fit_kind(
        ctx,
        "weight masks",
        &counted(
            &|d, n| {
                d.weight_mask(&[n]);
            },
            mid,
        ),
        none,
    )?;
    let mut pw_cases = Vec::new();
    for (m, k, n) in [(64usize, 256usize, 128usize), (64, 64, 128), (256, 64, 16)] {
        let mut d = Demand::new();
        let mask = d.weight_mask(&[k, n]);
        d.plain_weight(BilinearOp::MatMul, mask, &[m, k], &[k, n]);
        pw_cases.push((d, (m * k + m * n) as f64, (m * k * n) as f64));
    }
    // The mask request in each case is charged to the mask's own coefficients.
    let (plain_weight, e_pw) = fit_kind(ctx, "plaintext-weight material", &pw_cases, |d| {
        let el: f64 = d
            .requests()
            .iter()
            .filter_map(|r| match r {
                tessera_protocols::preprocessing::Request::WeightMask { shape } => {
                    Some(shape.iter().product::<usize>() as f64)
                }
                _ => None,
            })
            .sum();
        (el * weight_mask.per_element, el * e_mask.per_element)
    })?;
    Ok(Dealer {
        beaver,
        square,
        trunc,
        and_triple,
        random_ot,
        dabit,
        weight_mask,
        plain_weight,
        expand: Expand {
            beaver: e_beaver,
            square: e_square,
            trunc: e_trunc,
            and_triple: e_and,
            random_ot: e_ot,
            dabit: e_dabit,
            weight_mask: e_mask,
            plain_weight: e_pw,
        },
    })
}

// ---------------------------------------------------------------- machine

fn load_average() -> f64 {
    crate::results::load_average().unwrap_or(-1.0)
}

fn cpu_model() -> String {
    std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split_once(':'))
                .map(|(_, v)| v.trim().to_string())
        })
        .unwrap_or_else(|| "unknown".to_string())
}

/// The current UTC time as ISO 8601 (`YYYY-MM-DDTHH:MM:SSZ`).
pub fn utc_now() -> String {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or(Duration::ZERO)
        .as_secs();
    let (days, rem) = ((secs / 86_400) as i64, secs % 86_400);
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// Measures every coefficient on this machine. `progress` is told what runs.
///
/// # Errors
/// Transport or protocol errors of the pieces measured; [`Error::Calibration`] if a
/// coefficient cannot be resolved from the noise.
pub async fn measure(opts: Options, progress: &mut dyn FnMut(&str)) -> Result<Calibration> {
    let start = Instant::now();
    let load_before = load_average();
    let mut ctx = Ctx {
        quick: opts.quick,
        samples: Vec::new(),
        progress,
    };
    let transport = transport(&mut ctx).await?;
    if !(transport.message > 0.0 && transport.byte > 0.0 && transport.exchange_byte > 0.0) {
        return Err(Error::Calibration(format!(
            "transport coefficients not positive ({transport:?}); the machine is too noisy"
        )));
    }
    let tr = transport;
    let gmw = gmw_and(&mut ctx)?;
    check_positive("gmw_and", gmw)?;
    let (yao_garble_and, yao_eval_and) = yao(&mut ctx)?;
    let mac = mac(&mut ctx)?;
    let ring_op = ring_op(&mut ctx)?;
    let label = label(&mut ctx)?;
    let mut ot_s = 0.0;
    for _ in 0..3 {
        ot_s = ot(&mut ctx).await?;
        if ot_s > 0.0 {
            break;
        }
    }
    check_positive("ot", ot_s)?;
    let dealer = dealer_costs(&mut ctx)?;
    let ot_source = ot_source(&mut ctx).await?;
    let cal = Calibration {
        kind: KIND.to_string(),
        schema: SCHEMA,
        ring: RING.to_string(),
        date: utc_now(),
        machine: Machine {
            cpu: cpu_model(),
            cores: std::thread::available_parallelism().map_or(0, |n| n.get()),
            os: format!("{} {}", std::env::consts::OS, std::env::consts::ARCH),
            load: [load_before, load_average()],
        },
        quick: opts.quick,
        duration_s: start.elapsed().as_secs_f64(),
        compute: Compute {
            gmw_and: gmw,
            yao_garble_and,
            yao_eval_and,
            mac,
            ring_op,
            ot: ot_s,
            label,
        },
        transport: tr,
        dealer,
        ot_source: Some(ot_source),
        samples: ctx.samples,
    };
    cal.validate()?;
    Ok(cal)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn least_squares_recovers_a_linear_law() {
        // y = 2 + 3·x₁ + 5·x₂, on points that determine it.
        let xs = vec![
            vec![1.0, 0.0],
            vec![0.0, 1.0],
            vec![2.0, 3.0],
            vec![5.0, 1.0],
            vec![4.0, 4.0],
        ];
        let ys: Vec<f64> = xs.iter().map(|x| 2.0 + 3.0 * x[0] + 5.0 * x[1]).collect();
        let c = fit(&xs, &ys).unwrap();
        for (got, want) in c.iter().zip([2.0, 3.0, 5.0]) {
            assert!((got - want).abs() < 1e-9, "{c:?}");
        }
        // Too few points, or points that do not determine the fit.
        assert!(fit(&xs[..2], &ys[..2]).is_err());
        let same = vec![vec![1.0, 2.0]; 4];
        assert!(fit(&same, &[1.0; 4]).is_err());
    }
}
