//! Secure training against the fixed-point reference, through the real two-party
//! driver (dealer and both parties, in-memory links; one run over TCP).

#![allow(clippy::unwrap_used)]

use std::time::Duration;

use rand::{Rng, SeedableRng};
use tessera_core::{ChannelConfig, Ring, Z64};
use tessera_engine::train::{
    TrainPlan, TrainProgram, TrainSpec, plain, secure, secure::TrainingJob, shared,
};
use tessera_engine::{RunOptions, Sharing, online_rounds, total_price};
use tessera_protocols::runtime::local::Transport;

const DEADLINE: Duration = Duration::from_secs(120);

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime")
}

/// `n` examples of `spec`: inputs uniform in [0, 1), one-hot targets, seeded.
fn data(spec: &TrainSpec, n: usize, seed: u64) -> (Vec<Z64>, Vec<Z64>) {
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let one = f64::from(spec.frac_bits).exp2();
    let x = (0..n * spec.inputs())
        .map(|_| Z64::from_i64((rng.random::<f64>() * one) as i64))
        .collect();
    let mut y = vec![Z64::from_u64(0); n * spec.classes()];
    for i in 0..n {
        y[i * spec.classes() + rng.random_range(0..spec.classes())] = Z64::from_i64(one as i64);
    }
    (x, y)
}

/// The reference's parameters after `iterations` iterations from `init`, and whether a
/// comparison came within the tie margin.
fn reference(
    prog: &TrainProgram,
    init: &[Vec<Z64>],
    x: &[Z64],
    y: &[Z64],
    iterations: usize,
) -> (Vec<Vec<Z64>>, usize) {
    let head = prog.spec.head_model().unwrap();
    let mut state = init.to_vec();
    state.extend(prog.zero_state().into_iter().skip(init.len()));
    let (b, i, c) = (prog.spec.batch, prog.spec.inputs(), prog.spec.classes());
    let mut ties = 0;
    for it in 0..iterations {
        let t = plain::iteration(
            prog,
            &head,
            &mut state,
            &x[it * b * i..(it + 1) * b * i],
            &y[it * b * c..(it + 1) * b * c],
        )
        .unwrap();
        ties += t.near_ties;
    }
    state.truncate(init.len());
    (state, ties)
}

/// Trains `spec` securely under `plan` on `iterations` batches and compares every
/// parameter with the reference's: within `bound` units of `2^-f`; checks the exact
/// price (bytes each way, rounds) of the epoch against the metering. Returns the
/// largest difference seen.
fn check(
    spec: &TrainSpec,
    plan: &TrainPlan,
    iterations: usize,
    bound: i64,
    transport: Transport,
) -> i64 {
    let prog = TrainProgram::new(spec, plan).unwrap();
    let n = iterations * spec.batch;
    let (x, y) = data(spec, n, 7);
    let init = secure::init_params(&prog, 3);
    let (want, ties) = reference(&prog, &init, &x, &y, iterations);
    assert_eq!(ties, 0, "the test data come near a tie; pick another seed");
    let job = TrainingJob::new(prog.clone(), n, 1, vec![0, 1]).unwrap();
    let steps = job.epoch_steps().unwrap();
    let inputs = secure::inputs_held_by(1, x, y, init.clone(), &prog);
    let run = rt()
        .block_on(tessera_engine::session::run_here(
            job,
            inputs,
            ChannelConfig::default(),
            RunOptions::default(),
            transport,
            DEADLINE,
        ))
        .unwrap();
    let mut worst = 0;
    let mut moved = 0;
    for party in &run.parties {
        let got = party.output.epochs[0]
            .params
            .as_ref()
            .expect("opened to both");
        for ((g, w), i) in got.iter().zip(&want).zip(&init) {
            for ((a, b), c) in g.iter().zip(w).zip(i) {
                let d = (a.to_i64() - b.to_i64()).abs();
                worst = worst.max(d);
                moved = moved.max((b.to_i64() - c.to_i64()).abs());
            }
        }
    }
    assert!(
        worst <= bound,
        "{}: a parameter is {worst} units from the reference (bound {bound})",
        plan.name()
    );
    // Not vacuous: training moved some parameter far beyond the bound.
    assert!(
        moved > 20 * bound,
        "{}: the parameters moved by {moved} units only",
        plan.name()
    );
    // The exact price of the epoch: bytes each way and rounds.
    let price = total_price(&steps);
    for party in &run.parties {
        let m = &party.peer.online;
        assert_eq!(
            m.bytes_sent,
            price.bytes_sent[party.party],
            "{}: bytes of party {}",
            plan.name(),
            party.party
        );
    }
    assert_eq!(
        run.parties[0].peer.online.rounds,
        online_rounds(&steps),
        "{}: rounds",
        plan.name()
    );
    worst
}

fn small_mlp() -> TrainSpec {
    TrainSpec {
        dims: vec![12, 8, 6, 4],
        batch: 6,
        lr: 0.5,
        ..TrainSpec::mlp(6, 0.5)
    }
}

/// The MLP under both baselines and a mixed plan: every parameter after two SGD
/// iterations (forward, softmax cross-entropy gradient, backward, momentum update)
/// within 64 units (64·2^-16 ≈ 0.001) of the fixed-point reference. Each dealer
/// truncation adds e ∈ {0, 1} unit where the reference floors; the forward pass's
/// errors reach the softmax (Lipschitz 1), the gradients sum them over the batch and
/// the update scales them by η/B, so a handful of units is expected.
#[test]
fn mlp_training_follows_the_reference_under_every_plan() {
    let spec = small_mlp();
    for plan in [
        TrainPlan::uniform(&spec, Sharing::B),
        TrainPlan::uniform(&spec, Sharing::Y),
        TrainPlan {
            hidden: vec![Sharing::Y, Sharing::B],
            head: Sharing::B,
        },
    ] {
        check(&spec, &plan, 2, 64, Transport::InMemory);
    }
}

/// Small CNNs (a 3×3 convolution of stride 2 with 3 kernels, or of stride 1 followed by
/// a 2×2 average or max pooling, or 2×2 kernels followed by a 4×4 max pooling; ReLU,
/// dense → 5 → 3): the convolution trained as the
/// product of the images' patches with the kernel, its gradient `patchesᵀ · δ`, its
/// ReLU derivative through the dense layer's `δ · Wᵀ` (through the pooling's copy, or
/// routed to each window's maximum by the forward pass's comparisons).
#[test]
fn cnn_training_follows_the_reference() {
    let strided = tessera_engine::train::Conv {
        input: [2, 7, 7],
        out: 3,
        k: 3,
        stride: 2,
        pool: 1,
        max_pool: false,
        channels_last: false,
        pad: 0,
    };
    // 2×8×8 → 3×6×6 → 2×2 average pooling → 3×3×3.
    let pooled = tessera_engine::train::Conv {
        input: [2, 8, 8],
        out: 3,
        k: 3,
        stride: 1,
        pool: 2,
        max_pool: false,
        channels_last: false,
        pad: 0,
    };
    let max_pooled = tessera_engine::train::Conv {
        max_pool: true,
        ..pooled
    };
    // 1×9×9 → 2×2 kernels ×3 → 3×8×8 → 4×4 max pooling (a tournament of 16) → 3×2×2.
    let max4 = tessera_engine::train::Conv {
        input: [1, 9, 9],
        k: 2,
        pool: 4,
        ..max_pooled
    };
    // 2×6×6 with one zero around → 3×3 kernels ×3 → 3×6×6 → 2×2 average pooling.
    let padded = tessera_engine::train::Conv {
        input: [2, 6, 6],
        pad: 1,
        ..pooled
    };
    for conv in [strided, pooled, max_pooled, max4, padded] {
        let spec = TrainSpec {
            dims: vec![conv.outputs(), 5, 3],
            convs: vec![conv],
            ..TrainSpec::cnn(4, 0.5)
        };
        assert_eq!(spec.inputs(), conv.input.iter().product::<usize>());
        check_under_b_and_y(&spec);
    }
}

/// Two convolutions (LeNet's shape, small): 1×10×10 → 3×3 kernels ×2 → ReLU → 2×2 max
/// (or average) pooling → 2×4×4, read channels last by 3×3 kernels ×3 → ReLU → `pool2`
/// (1: 3×2×2; 2: average-pooled to 3×1×1) → dense → 4 → 3.
fn two_convs(max_pool: bool, pool2: usize) -> TrainSpec {
    let c1 = tessera_engine::train::Conv {
        input: [1, 10, 10],
        out: 2,
        k: 3,
        stride: 1,
        pool: 2,
        max_pool,
        channels_last: false,
        pad: 0,
    };
    let c2 = tessera_engine::train::Conv {
        input: c1.pooled_shape(),
        out: 3,
        pool: pool2,
        max_pool: false,
        channels_last: true,
        ..c1
    };
    TrainSpec {
        dims: vec![c2.outputs(), 4, 3],
        convs: vec![c1, c2],
        ..TrainSpec::cnn(4, 0.5)
    }
}

/// [`check`] of two iterations within 64 units, under B and under Y.
fn check_under_b_and_y(spec: &TrainSpec) {
    for s in [Sharing::B, Sharing::Y] {
        check(
            spec,
            &TrainPlan::uniform(spec, s),
            2,
            64,
            Transport::InMemory,
        );
    }
}

/// [`two_convs`] trained securely: the second convolution's input gradient is `δ·Kᵀ`
/// summed back onto its input (col2im), then routed through the first pooling and
/// ReLU — every parameter within 64 units of the reference, under B and Y.
#[test]
fn two_convolutions_train_like_the_reference() {
    for (max_pool, pool2) in [(true, 1), (false, 2)] {
        let spec = two_convs(max_pool, pool2);
        spec.validate().unwrap();
        assert_eq!(spec.layers(), 4);
        let mut wrong = spec.clone();
        wrong.convs[1].channels_last = false;
        let e = wrong.validate().unwrap_err().to_string();
        assert!(e.contains("convolution 2 reads"), "{e}");
        check_under_b_and_y(&spec);
    }
}

/// The reference's gradients of a network with two convolutions (max and average
/// pooling, col2im between them), of one with 4×4 max pooling and of a padded one are
/// those of softmax cross-entropy: each checked against a central finite difference of
/// the float loss, summed over the batch, of [`tessera_engine::train::logits`] — a
/// float forward pass written apart from the program of steps.
#[test]
fn two_convolution_gradients_match_finite_differences() {
    let spec = TrainSpec {
        momentum: 0.0,
        ..two_convs(true, 2)
    };
    let c1 = spec.convs[0];
    // And one convolution with 4×4 max pooling (a tournament of 16).
    let max4 = tessera_engine::train::Conv {
        input: [1, 9, 9],
        k: 2,
        pool: 4,
        ..c1
    };
    let single = TrainSpec {
        dims: vec![max4.outputs(), 4, 3],
        convs: vec![max4],
        ..spec.clone()
    };
    // And a padded one: 1×8×8 with one zero around → 3×3 kernels ×2 → 2×8×8 → 2×2 max.
    let padded = tessera_engine::train::Conv {
        input: [1, 8, 8],
        pad: 1,
        ..c1
    };
    let padded = TrainSpec {
        dims: vec![padded.outputs(), 4, 3],
        convs: vec![padded],
        ..spec.clone()
    };
    finite_difference_check(&spec);
    finite_difference_check(&single);
    finite_difference_check(&padded);
}

/// Checks every fifth gradient of each parameter of `spec`'s reference against a
/// central finite difference of the float loss summed over the batch.
fn finite_difference_check(spec: &TrainSpec) {
    let prog = TrainProgram::new(spec, &TrainPlan::uniform(spec, Sharing::B)).unwrap();
    let (x, y) = data(spec, spec.batch, 11);
    let mut state = secure::init_params(&prog, 5);
    let init = state.clone();
    let head = spec.head_model().unwrap();
    let t = plain::iteration(&prog, &head, &mut state, &x, &y).unwrap();
    assert_eq!(t.grads.len(), init.len());
    let s = f64::from(spec.frac_bits).exp2();
    let c = spec.classes();
    let loss = |params: &[Vec<Z64>]| -> f64 {
        let z = tessera_engine::train::logits(spec, params, &x);
        z.chunks(c)
            .zip(y.chunks(c))
            .map(|(row, t)| {
                let m = row.iter().cloned().fold(f64::MIN, f64::max);
                let lse = m + row.iter().map(|v| (v - m).exp()).sum::<f64>().ln();
                let l = t.iter().position(|v| v.to_i64() != 0).unwrap();
                lse - row[l]
            })
            .sum()
    };
    let eps = 64; // units of 2^-16
    let mut checked = 0;
    for (idx, (p, g)) in init.iter().zip(&t.grads).enumerate() {
        for i in (0..p.len()).step_by((p.len() / 5).max(1)) {
            let (mut hi, mut lo) = (init.clone(), init.clone());
            hi[idx][i] += Z64::from_i64(eps);
            lo[idx][i] -= Z64::from_i64(eps);
            let fd = (loss(&hi) - loss(&lo)) / (2.0 * eps as f64 / s);
            let got = g[i].to_i64() as f64 / (s * s);
            assert!(
                (got - fd).abs() < 0.01 + 0.05 * fd.abs(),
                "parameter tensor {idx} [{i}]: reference {got} vs finite difference {fd}"
            );
            checked += 1;
        }
    }
    assert!(checked >= 20, "{checked} gradients checked");
}

/// Logistic regression (SecureML's sigmoid, one-vs-rest): within 8 units after two
/// iterations, under both sharings of the sigmoid.
#[test]
fn logistic_regression_follows_the_reference() {
    let spec = TrainSpec {
        dims: vec![10, 3],
        ..TrainSpec::logreg(5, 0.5)
    };
    for s in [Sharing::B, Sharing::Y] {
        check(
            &spec,
            &TrainPlan::uniform(&spec, s),
            2,
            8,
            Transport::InMemory,
        );
    }
}

/// Over TCP: the same run, the same prices.
#[test]
fn training_runs_over_tcp() {
    let spec = small_mlp();
    check(
        &spec,
        &TrainPlan::uniform(&spec, Sharing::B),
        1,
        64,
        Transport::Tcp,
    );
}

/// One iteration's gradients of the reference equal those the float formulas give
/// (the program computes what SGD on softmax cross-entropy prescribes).
#[test]
fn reference_gradients_are_those_of_softmax_cross_entropy() {
    let spec = TrainSpec {
        momentum: 0.0,
        ..small_mlp()
    };
    let prog = TrainProgram::new(&spec, &TrainPlan::uniform(&spec, Sharing::B)).unwrap();
    let (x, y) = data(&spec, spec.batch, 11);
    let mut state = secure::init_params(&prog, 5);
    let init = state.clone();
    let head = spec.head_model().unwrap();
    let t = plain::iteration(&prog, &head, &mut state, &x, &y).unwrap();
    // Float forward and backward from the decoded values.
    let s = f64::from(spec.frac_bits).exp2();
    let dec = |v: &[Z64]| v.iter().map(|r| r.to_i64() as f64 / s).collect::<Vec<_>>();
    let (xs, ys) = (dec(&x), dec(&y));
    let d = &spec.dims;
    let mut acts = vec![xs];
    let mut pre = Vec::new();
    for l in 0..spec.layers() {
        let (w, b) = (dec(&init[2 * l]), dec(&init[2 * l + 1]));
        let a = &acts[l];
        let mut z = vec![0.0; spec.batch * d[l + 1]];
        for i in 0..spec.batch {
            for j in 0..d[l + 1] {
                z[i * d[l + 1] + j] = b[j]
                    + (0..d[l])
                        .map(|k| a[i * d[l] + k] * w[k * d[l + 1] + j])
                        .sum::<f64>();
            }
        }
        pre.push(z.clone());
        acts.push(z.iter().map(|v| v.max(0.0)).collect());
    }
    let c = spec.classes();
    let z = pre.last().unwrap();
    let mut delta = vec![0.0; spec.batch * c];
    for i in 0..spec.batch {
        let row = &z[i * c..(i + 1) * c];
        let m = row.iter().cloned().fold(f64::MIN, f64::max);
        let e: Vec<f64> = row.iter().map(|v| (v - m).exp()).collect();
        let sum: f64 = e.iter().sum();
        for j in 0..c {
            delta[i * c + j] = e[j] / sum - ys[i * c + j];
        }
    }
    for l in (0..spec.layers()).rev() {
        let (din, dout) = (d[l], d[l + 1]);
        let gw = &t.grads[2 * l];
        for k in 0..din {
            for j in 0..dout {
                let want: f64 = (0..spec.batch)
                    .map(|i| acts[l][i * din + k] * delta[i * dout + j])
                    .sum();
                let got = gw[k * dout + j].to_i64() as f64 / (s * s);
                assert!(
                    (got - want).abs() < 0.02,
                    "dW{} [{k},{j}]: {got} vs {want}",
                    l + 1
                );
            }
        }
        if l > 0 {
            let w = dec(&init[2 * l]);
            let mut nd = vec![0.0; spec.batch * din];
            for i in 0..spec.batch {
                for k in 0..din {
                    let v: f64 = (0..dout)
                        .map(|j| delta[i * dout + j] * w[k * dout + j])
                        .sum();
                    nd[i * din + k] = if pre[l - 1][i * din + k] >= 0.0 {
                        v
                    } else {
                        0.0
                    };
                }
            }
            delta = nd;
        }
    }
}

/// Bad configurations are refused with a clear error before anything runs.
#[test]
fn bad_training_configurations_are_refused() {
    let spec = small_mlp();
    let plan = TrainPlan::uniform(&spec, Sharing::B);
    let err = |s: TrainSpec| TrainProgram::new(&s, &plan).unwrap_err().to_string();
    let e = err(TrainSpec {
        lr: 1e9,
        ..spec.clone()
    });
    assert!(e.contains("overflows the fixed-point range"), "{e}");
    let e = err(TrainSpec {
        lr: 1e-9,
        ..spec.clone()
    });
    assert!(e.contains("below the fixed-point resolution"), "{e}");
    let e = err(TrainSpec {
        lr: f64::NAN,
        ..spec.clone()
    });
    assert!(e.contains("not a positive number"), "{e}");
    let e = err(TrainSpec {
        lr_decay: 0.0,
        ..spec.clone()
    });
    assert!(e.contains("decay"), "{e}");
    assert_eq!(
        TrainSpec {
            lr_decay: 0.5,
            ..spec.clone()
        }
        .at_epoch(2)
        .lr,
        spec.lr / 4.0
    );
    let e = err(TrainSpec {
        momentum: 1.0,
        ..spec.clone()
    });
    assert!(e.contains("momentum"), "{e}");
    let e = TrainProgram::new(
        &spec,
        &TrainPlan {
            hidden: vec![Sharing::A, Sharing::B],
            head: Sharing::B,
        },
    )
    .unwrap_err()
    .to_string();
    assert!(e.contains("B or Y"), "{e}");
    assert!(TrainPlan::named(&spec, "pure-b").is_err());
    let prog = TrainProgram::new(&spec, &plan).unwrap();
    assert!(
        TrainingJob::new(prog.clone(), 3, 1, vec![1])
            .unwrap_err()
            .to_string()
            .contains("fewer than one batch")
    );
    assert!(TrainingJob::new(prog.clone(), 12, 1, vec![2]).is_err());
    // A data set of the wrong width at a party is an error, not a panic or a hang.
    let job = TrainingJob::new(prog.clone(), 12, 1, vec![]).unwrap();
    let (x, y) = data(&spec, 12, 1);
    let mut inputs = secure::inputs_held_by(1, x, y, secure::init_params(&prog, 1), &prog);
    inputs[1].x.pop();
    let r = rt().block_on(tessera_engine::session::run_here(
        job,
        inputs,
        ChannelConfig::default(),
        RunOptions::default(),
        Transport::InMemory,
        DEADLINE,
    ));
    // The first error of either role: party 1's own, or party 0 seeing it leave.
    let e = r.map(|_| ()).unwrap_err().to_string();
    assert!(
        e.contains("training data") || e.contains("closed by peer"),
        "{e}"
    );
}

/// The trained CNN written as ONNX computes, in the models crate's float reference,
/// the logits [`tessera_engine::train::logits`] computes from the same parameters.
#[test]
fn trained_cnn_round_trips_through_onnx() {
    cnn_round_trip(
        &TrainSpec::cnn(4, 0.1),
        &["conv", "relu", "reshape", "dense", "relu", "dense"],
    );
    cnn_round_trip(
        &TrainSpec::cnn_pool(4, 0.1),
        &[
            "conv", "relu", "avgpool", "reshape", "dense", "relu", "dense",
        ],
    );
    cnn_round_trip(
        &TrainSpec::cnn_maxpool(4, 0.1),
        &[
            "conv", "relu", "maxpool", "reshape", "dense", "relu", "dense",
        ],
    );
    // LeNet-5 as PyTorch writes it for MNIST: two zeros around the first
    // convolution's input (28×28 → 6×28×28 → 6×14×14 → 16×10×10 → 16×5×5 → 400).
    let mut lenet = TrainSpec::lenet(4, 0.1);
    lenet.convs[0].pad = 2;
    lenet.convs[1].input = lenet.convs[0].pooled_shape();
    lenet.dims[0] = lenet.convs[1].outputs();
    assert_eq!(lenet.dims[0], 400);
    cnn_round_trip(
        &lenet,
        &[
            "conv", "relu", "maxpool", "conv", "relu", "maxpool", "reshape", "dense", "relu",
            "dense", "relu", "dense",
        ],
    );
    cnn_round_trip(
        &TrainSpec::lenet(4, 0.1),
        &[
            "conv", "relu", "maxpool", "conv", "relu", "maxpool", "reshape", "dense", "relu",
            "dense", "relu", "dense",
        ],
    );
}

fn cnn_round_trip(spec: &TrainSpec, want: &[&str]) {
    let spec = spec.clone();
    let prog = TrainProgram::new(&spec, &TrainPlan::uniform(&spec, Sharing::B)).unwrap();
    let params = secure::init_params(&prog, 9);
    let bytes = tessera_engine::train::to_onnx(&spec, &params).unwrap();
    let m = tessera_models::load_onnx(&bytes).unwrap();
    let kinds: Vec<&str> = m.layers().iter().map(|l| l.op().kind()).collect();
    assert_eq!(kinds, want);
    let (x, _) = data(&spec, 3, 4);
    let want = tessera_engine::train::logits(&spec, &params, &x);
    let s = f64::from(spec.frac_bits).exp2();
    let xf: Vec<f32> = x.iter().map(|v| (v.to_i64() as f64 / s) as f32).collect();
    let got = m.run_float::<f64>(&xf).unwrap().values;
    assert_eq!(got.len(), want.len());
    for (g, w) in got.iter().zip(&want) {
        assert!((g - w).abs() < 1e-3, "{g} vs {w}");
    }
}

/// The trained chain written as ONNX loads back with the same layers and values.
#[test]
fn trained_model_round_trips_through_onnx() {
    let spec = small_mlp();
    let prog = TrainProgram::new(&spec, &TrainPlan::uniform(&spec, Sharing::B)).unwrap();
    let params = secure::init_params(&prog, 9);
    let bytes = tessera_engine::train::to_onnx(&spec, &params).unwrap();
    let m = tessera_models::load_onnx(&bytes).unwrap();
    let kinds: Vec<&str> = m.layers().iter().map(|l| l.op().kind()).collect();
    assert_eq!(kinds, ["dense", "relu", "dense", "relu", "dense"]);
    assert_eq!(m.input_shape(), [spec.inputs()]);
    let s = f64::from(spec.frac_bits).exp2();
    for (l, layer) in m.layers().iter().step_by(2).enumerate() {
        let tessera_models::Op::Dense(d) = layer.op() else {
            panic!("layer {l} is not dense");
        };
        let (o, k) = (spec.dims[l + 1], spec.dims[l]);
        assert_eq!(d.weight.shape(), [o, k]);
        for j in 0..o {
            for i in 0..k {
                let want = params[2 * l][i * o + j].to_i64() as f64 / s;
                assert!((f64::from(d.weight.data()[j * k + i]) - want).abs() < 1e-6);
            }
        }
    }
}

/// Random additive shares of `params`.
fn split(params: &[Vec<Z64>], seed: u64) -> [Vec<Vec<Z64>>; 2] {
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let r: Vec<Vec<Z64>> = params
        .iter()
        .map(|t| t.iter().map(|_| Z64::from_u64(rng.random())).collect())
        .collect();
    let s1 = params
        .iter()
        .zip(&r)
        .map(|(t, m)| t.iter().zip(m).map(|(&v, &m)| v - m).collect())
        .collect();
    [r, s1]
}

/// Serves `n` queries (`x`, at the client) with the shared model `shares` under
/// `plan`, `batch` at a time; returns the client's labels after checking the exact
/// price (bytes each way, rounds) against the metering.
fn serve(
    shares: &[shared::ModelShare; 2],
    plan: &TrainPlan,
    batch: usize,
    x: &[Z64],
    transport: Transport,
) -> tessera_engine::Result<Vec<usize>> {
    let spec = &shares[0].spec;
    let n = x.len() / spec.inputs();
    // The run serves party 1's model.
    let job = shared::SharedInference::new(spec, shares[1].model, plan, batch, n)?;
    let steps = job.steps()?;
    let queries = [
        shared::Query {
            share: shares[0].clone(),
            x: vec![Z64::from_u64(0); x.len()],
        },
        shared::Query {
            share: shares[1].clone(),
            x: x.to_vec(),
        },
    ];
    let run = rt().block_on(tessera_engine::session::run_here(
        job,
        queries,
        ChannelConfig::default(),
        RunOptions::default(),
        transport,
        DEADLINE,
    ))?;
    let price = total_price(&steps);
    for party in &run.parties {
        assert_eq!(
            party.peer.online.bytes_sent,
            price.bytes_sent[party.party],
            "{}: bytes of party {}",
            plan.name(),
            party.party
        );
    }
    assert_eq!(run.parties[0].peer.online.rounds, online_rounds(&steps));
    assert!(
        run.parties[0].output.labels.is_none(),
        "party 0 learns no label"
    );
    Ok(run.parties[1]
        .output
        .labels
        .clone()
        .expect("the client's labels"))
}

/// Secure inference with a secret-shared model (the forward pass of training, then
/// an argmax in B or Y opened to the client) gives the fixed-point reference's labels
/// exactly — the queries chosen away from ties (the two largest logits more than
/// 2^-8 apart; a secure truncation differs from the reference's by one unit) — for
/// the MLP under every plan, the max-pooled CNN and logistic regression, in batches
/// whose last one is padded.
#[test]
fn shared_model_inference_gives_the_reference_labels() {
    let max_pooled = tessera_engine::train::Conv {
        input: [2, 8, 8],
        out: 3,
        k: 3,
        stride: 1,
        pool: 2,
        max_pool: true,
        channels_last: false,
        pad: 0,
    };
    let cnn = TrainSpec {
        dims: vec![max_pooled.outputs(), 5, 3],
        convs: vec![max_pooled],
        ..TrainSpec::cnn(4, 0.5)
    };
    let logreg = TrainSpec {
        dims: vec![10, 3],
        ..TrainSpec::logreg(5, 0.5)
    };
    let mlp = small_mlp();
    let mixed = TrainPlan {
        hidden: vec![Sharing::Y, Sharing::B],
        head: Sharing::Y,
    };
    let cases = [
        (mlp.clone(), TrainPlan::uniform(&mlp, Sharing::B)),
        (mlp.clone(), TrainPlan::uniform(&mlp, Sharing::Y)),
        (mlp, mixed),
        (cnn.clone(), TrainPlan::uniform(&cnn, Sharing::B)),
        (logreg.clone(), TrainPlan::uniform(&logreg, Sharing::Y)),
    ];
    for (spec, plan) in cases {
        // He-initialised weights and biases uniform in [-1, 1) (varied labels).
        let mut params = secure::init_params(&TrainProgram::new(&spec, &plan).unwrap(), 5);
        let mut rng = rand::rngs::StdRng::seed_from_u64(17);
        for b in params.iter_mut().skip(1).step_by(2) {
            for v in b.iter_mut() {
                *v = Z64::from_i64(rng.random_range(-(1 << spec.frac_bits)..1 << spec.frac_bits));
            }
        }
        let (n, batch) = (10, 4);
        // Inputs in [-4, 4).
        let half = Z64::from_i64(1 << (spec.frac_bits - 1));
        let x: Vec<Z64> = data(&spec, n, 11)
            .0
            .into_iter()
            .map(|v| (v - half) * Z64::from_u64(8))
            .collect();
        // The reference, batch by batch (the last padded with zeros).
        let prog = TrainProgram::inference(&spec, &plan, batch).unwrap();
        assert!(prog.velocity.is_empty() && prog.labels.is_some());
        let head = spec.head_model().unwrap();
        let mut padded = x.clone();
        padded.resize(n.div_ceil(batch) * batch * spec.inputs(), Z64::from_u64(0));
        let mut want = Vec::new();
        for chunk in padded.chunks(batch * spec.inputs()) {
            want.extend(plain::labels(&prog, &head, &params, chunk).unwrap().0);
        }
        want.truncate(n);
        // Away from ties; the reference agrees with the float evaluation.
        let logits = tessera_engine::train::logits(&spec, &params, &x);
        for (row, &l) in logits.chunks(spec.classes()).zip(&want) {
            let mut sorted = row.to_vec();
            sorted.sort_by(|a, b| b.total_cmp(a));
            assert!(
                sorted[0] - sorted[1] > 1.0 / 256.0,
                "near a tie; pick a seed"
            );
            assert_eq!(row[l], sorted[0]);
        }
        let distinct: std::collections::BTreeSet<_> = want.iter().collect();
        assert!(
            distinct.len() > 1,
            "{:?}: every query has the same label",
            spec.dims
        );
        let shares = shared::ModelShare::pair(&spec, split(&params, 13)).unwrap();
        let got = serve(&shares, &plan, batch, &x, Transport::InMemory).unwrap();
        assert_eq!(got, want, "{:?} under {}", spec.dims, plan.name());
    }
}

/// A share file survives writing and reading; a truncated, altered, foreign, newer or
/// misshapen file is refused with the reason; a party given the wrong share stops
/// both parties with an error (no hang).
#[test]
fn model_share_files_are_checked() {
    let spec = small_mlp();
    let plan = TrainPlan::uniform(&spec, Sharing::B);
    let params = secure::init_params(&TrainProgram::new(&spec, &plan).unwrap(), 5);
    let shares = shared::ModelShare::pair(&spec, split(&params, 1)).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("m.party1.share");
    shares[1].write(&path).unwrap();
    let back = shared::ModelShare::read(&path).unwrap();
    assert_eq!(back, shares[1]);
    assert_eq!(
        shared::ModelShare::reconstruct(&shares[0], &back).unwrap(),
        params
    );
    let debug = format!("{back:?}");
    assert!(!debug.contains(&params[0][0].to_u64().to_string()));

    let bytes = shares[1].to_bytes().unwrap();
    let refused = |b: &[u8]| {
        shared::ModelShare::from_bytes(b, None)
            .unwrap_err()
            .to_string()
    };
    assert!(refused(&bytes[..bytes.len() - 1]).contains("checksum"));
    let mut altered = bytes.clone();
    altered[40] ^= 1;
    assert!(refused(&altered).contains("checksum"));
    assert!(
        refused(b"PK\x03\x04 not a share at all, but long enough to hash").contains("TSHARE01")
    );
    // Version 2 (the body's first byte), with a valid checksum.
    let mut newer = bytes[..bytes.len() - 32].to_vec();
    newer[8] = 2;
    let digest = <sha2::Sha256 as sha2::Digest>::digest(&newer);
    newer.extend_from_slice(&digest);
    assert!(refused(&newer).contains("format version 2"));
    let mut misshapen = shares[1].clone();
    misshapen.params[0].pop();
    assert!(refused(&misshapen.to_bytes().unwrap()).contains("shape"));
    assert!(shared::ModelShare::read(&dir.path().join("absent")).is_err());

    // Either party with a share of another model, and each party given the other's
    // share: the root cause is reported (the earliest error of the run), not the other
    // party's closed connection.
    let other = shared::ModelShare::pair(&spec, split(&params, 2)).unwrap();
    let (x, _) = data(&spec, 3, 11);
    for pair in [
        [other[0].clone(), shares[1].clone()],
        [shares[0].clone(), other[1].clone()],
    ] {
        let e = serve(&pair, &plan, 3, &x, Transport::InMemory)
            .unwrap_err()
            .to_string();
        assert!(e.contains("share of model"), "{e}");
    }
    let swapped = [shares[1].clone(), shares[0].clone()];
    let e = serve(&swapped, &plan, 3, &x, Transport::InMemory)
        .unwrap_err()
        .to_string();
    assert!(e.contains("share of model"), "{e}");
    assert!(shared::ModelShare::reconstruct(&shares[0], &other[1]).is_err());
}

/// Over TCP: shared-model inference, the same labels and prices.
#[test]
fn shared_model_inference_runs_over_tcp() {
    let spec = small_mlp();
    let plan = TrainPlan::uniform(&spec, Sharing::B);
    let params = secure::init_params(&TrainProgram::new(&spec, &plan).unwrap(), 5);
    let shares = shared::ModelShare::pair(&spec, split(&params, 3)).unwrap();
    let (x, _) = data(&spec, 5, 11);
    let mem = serve(&shares, &plan, 5, &x, Transport::InMemory).unwrap();
    let tcp = serve(&shares, &plan, 5, &x, Transport::Tcp).unwrap();
    assert_eq!(mem, tcp);
}

/// A share file with a valid checksum (anyone can recompute it) and any body — random
/// bytes, or a real body with some bytes changed — is read or refused, never a panic,
/// and a spec of absurd sizes is refused before anything is allocated for it.
#[test]
fn crafted_share_files_are_refused_without_panic() {
    use proptest::prelude::*;
    let spec = small_mlp();
    let plan = TrainPlan::uniform(&spec, Sharing::B);
    let params = secure::init_params(&TrainProgram::new(&spec, &plan).unwrap(), 5);
    let good = shared::ModelShare::pair(&spec, split(&params, 1)).unwrap()[0]
        .to_bytes()
        .unwrap();
    let sealed = |body: &[u8]| {
        let mut f = shared::MAGIC.to_vec();
        f.extend_from_slice(body);
        let d = <sha2::Sha256 as sha2::Digest>::digest(&f);
        f.extend_from_slice(&d);
        f
    };
    let body = good[8..good.len() - 32].to_vec();
    let mut runner = proptest::test_runner::TestRunner::new(ProptestConfig::with_cases(300));
    runner
        .run(
            &(
                proptest::collection::vec(any::<u8>(), 0..200),
                proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..6),
            ),
            |(random, edits)| {
                let _ = shared::ModelShare::from_bytes(&sealed(&random), None);
                let mut b = body.clone();
                for (i, v) in edits {
                    let at = i.index(b.len());
                    b[at] = v;
                }
                let _ = shared::ModelShare::from_bytes(&sealed(&b), None);
                Ok(())
            },
        )
        .unwrap();
    // A convolution of 2^40 positions, and widths of 2^40: refused by name.
    let mut huge = spec.clone();
    huge.dims = vec![1 << 40, 10];
    let e = huge.validate().unwrap_err().to_string();
    assert!(e.contains("larger than any network"), "{e}");
    let mut conv = TrainSpec::cnn(4, 0.1);
    conv.convs[0].input = [1, 1 << 20, 1 << 20];
    let e = conv.validate().unwrap_err().to_string();
    assert!(e.contains("larger than any network"), "{e}");
    conv.convs[0].input = [usize::MAX, usize::MAX, 3];
    assert!(conv.validate().is_err());
}
