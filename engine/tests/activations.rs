//! The activations — logistic sigmoid, tanh, elu, selu, softplus, softsign (splines),
//! LeakyRelu and PRelu (per channel, party 0's slope entered as a circuit input) —
//! through the real two-party driver (in-memory transport, dealer, both parties joined
//! under a timeout) in B and in Y, alone and after a dense layer in A (mixed plans):
//! the client's values equal the plaintext fixed-point reference exactly (or within
//! its propagated bound where an A truncation precedes), and every step's price is the
//! channel's meter.
#![allow(clippy::unwrap_used)]

use std::time::Duration;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use tessera_conversions::Converter;
use tessera_core::{FixedPoint, Ring, Z64};
use tessera_engine::{self, Assignment, Baseline, Output, RunOptions, SecureOutput};
use tessera_models::{Dense, Elu, FixedModel, Head, LeakyRelu, Model, Op, PRelu, Selu, Tensor};
use tessera_protocols::harness::{self, HarnessOptions};

type R = Z64;

fn tensor(rng: &mut StdRng, shape: Vec<usize>, scale: f32) -> Tensor {
    let n = shape.iter().product();
    Tensor::new(
        shape,
        (0..n).map(|_| rng.random_range(-scale..scale)).collect(),
    )
    .unwrap()
}

/// The activations under test, on a per-example shape `[2, 3]`.
fn activations(rng: &mut StdRng) -> Vec<Op> {
    vec![
        Op::Sigmoid,
        Op::Tanh,
        Op::Elu(Elu { alpha: 2.0 }),
        Op::Selu(Selu::default()),
        Op::Softplus,
        Op::Softsign,
        Op::LeakyRelu(LeakyRelu { alpha: 0.01 }),
        Op::LeakyRelu(LeakyRelu { alpha: -0.5 }),
        Op::PRelu(PRelu {
            slope: tensor(rng, vec![2, 1], 0.5),
        }),
        Op::PRelu(PRelu {
            slope: tensor(rng, vec![1], 1.0),
        }),
        // The extremes of the slope's range (the circuit reads f + 12 bits of it).
        Op::PRelu(PRelu {
            slope: Tensor::new(vec![3], vec![1024.0, -1024.0, -0.000_01]).unwrap(),
        }),
    ]
}

/// fc1 (dense 6 → 6, large weights so that its outputs reach every window and tail)
/// → reshape [2, 3] → act → reshape [6] → fc2 (dense 6 → 3).
fn after_dense(rng: &mut StdRng, act: Op) -> Model {
    Model::new(
        vec![6],
        vec![
            (
                "fc1".into(),
                Op::Dense(Dense {
                    weight: tensor(rng, vec![6, 6], 4.0),
                    bias: Some(tensor(rng, vec![6], 2.0)),
                }),
            ),
            ("grid".into(), Op::Reshape(vec![2, 3])),
            ("act".into(), act),
            ("flat".into(), Op::Reshape(vec![6])),
            (
                "fc2".into(),
                Op::Dense(Dense {
                    weight: tensor(rng, vec![3, 6], 0.6),
                    bias: Some(tensor(rng, vec![3], 0.3)),
                }),
            ),
        ],
        Head::Scores,
    )
    .unwrap()
}

/// The activation alone on the client's input `[2, 3]`.
fn alone(act: Op) -> Model {
    Model::new(vec![2, 3], vec![("act".into(), act)], Head::Scores).unwrap()
}

struct Outcome {
    out: SecureOutput<R>,
    online_sent: [u64; 2],
    rounds: u64,
}

fn run(fm: &FixedModel<R>, a: &Assignment, x: &[R], batch: usize) -> Outcome {
    let demand = tessera_engine::demand(fm, a, batch).unwrap();
    let (m0, m1) = (fm.clone(), fm.clone());
    let (a0, a1) = (a.clone(), a.clone());
    let x1 = x.to_vec();
    let err = |e: tessera_models::Error| tessera_protocols::Error::Protocol {
        step: "secure inference",
        detail: e.to_string(),
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let opts = HarnessOptions::default();
    let r = rt
        .block_on(async {
            tokio::time::timeout(
                Duration::from_secs(120),
                harness::run::<R, _, _>(
                    &opts,
                    &demand,
                    async move |p| {
                        let mut c = Converter::new(0).unwrap();
                        tessera_engine::run_party(
                            &mut *p,
                            &mut c,
                            &m0,
                            &a0,
                            None,
                            batch,
                            RunOptions::default(),
                        )
                        .await
                        .map_err(err)
                    },
                    async move |p| {
                        let mut c = Converter::new(1).unwrap();
                        tessera_engine::run_party(
                            &mut *p,
                            &mut c,
                            &m1,
                            &a1,
                            Some(&x1),
                            batch,
                            RunOptions::default(),
                        )
                        .await
                        .map_err(err)
                    },
                ),
            )
            .await
        })
        .unwrap_or_else(|_| panic!("{a:?}: timed out"))
        .unwrap_or_else(|e| panic!("{a:?}: {e}"));
    assert!(
        r.out0.labels.is_none() && r.out0.scores.is_none(),
        "party 0 learns nothing"
    );
    Outcome {
        out: r.out1,
        online_sent: [r.online[0].bytes_sent, r.online[1].bytes_sent],
        rounds: r.online[0].rounds.max(r.online[1].rounds),
    }
}

/// Runs `a` on `xf` and checks the scores (and label) against the reference and
/// every step's price against the meter.
fn check(fm: &FixedModel<R>, a: &Assignment, xf: &[f32], batch: usize) {
    let x = fm.encode_input(xf).unwrap();
    let reference = fm.run(&x).unwrap();
    let program = tessera_engine::program::lower(fm, a, batch).unwrap();
    let oracle = tessera_engine::program::oracle(fm, &program, &x, batch).unwrap();
    if let Some(s) = &oracle.scores {
        assert_eq!(s, &reference.scores.values, "oracle of {a:?}");
    }
    let o = run(fm, a, &x, batch);
    let steps = tessera_engine::assignment_steps(fm, a, batch).unwrap();
    assert_eq!(steps, program.costs());
    let truncations = steps.iter().any(|s| s.name.ends_with("truncation"));
    let bound = if truncations {
        reference.error_bound_ulps() as i64
    } else {
        0
    };
    assert_eq!(o.out.scores.is_some(), a.output == Output::Logits);
    assert!(o.out.labels.is_some());
    if let Some(scores) = &o.out.scores {
        for (s, r) in scores.values.iter().zip(&reference.scores.values) {
            let d = (s.to_i64() - r.to_i64()).abs();
            assert!(d <= bound, "score off by {d} > {bound} under {a:?}");
        }
    }
    if let Some(labels) = &o.out.labels
        && !truncations
    {
        assert_eq!(labels, &reference.labels(), "labels of {a:?}");
    }
    let mut sent = [0u64; 2];
    for s in &steps {
        sent[0] += s.price.bytes_sent[0];
        sent[1] += s.price.bytes_sent[1];
    }
    assert_eq!(o.online_sent, sent, "online bytes of {a:?}");
    assert_eq!(
        o.rounds,
        tessera_engine::online_rounds(&steps),
        "rounds of {a:?}"
    );
}

#[test]
fn activations_in_b_and_y_equal_the_reference_and_are_priced() {
    let mut rng = StdRng::seed_from_u64(11);
    let batch = 3;
    for act in activations(&mut rng) {
        let kind = act.kind();
        let model = alone(act);
        let fm = FixedModel::<R>::new(&model, FixedPoint::new(16)).unwrap();
        // Inputs over the windows and tails: [−12, 12], plus ±300 and 0.
        let mut xf: Vec<f32> = (0..batch * 6)
            .map(|_| rng.random_range(-12.0f32..12.0))
            .collect();
        xf[0] = 300.0;
        xf[1] = -300.0;
        xf[2] = 0.0;
        for b in [Baseline::PureB, Baseline::PureY] {
            let a = b.assignment(&fm, Output::Logits).unwrap();
            check(&fm, &a, &xf, batch);
        }
        // The secure output is the reference's, and that is within the spline's error
        // of the float function.
        let float = model.run_float::<f64>(&xf).unwrap().values;
        let fixed = fm
            .run_f32(&xf)
            .unwrap()
            .scores
            .decode(fm.fixed_point())
            .values;
        for (g, f) in fixed.iter().zip(&float) {
            assert!((g - f).abs() <= 0.02 + 0.01 * f.abs(), "{kind}: {g} vs {f}");
        }
    }
}

#[test]
fn activations_after_a_dense_layer_in_a_mixed_plans() {
    let mut rng = StdRng::seed_from_u64(12);
    let batch = 2;
    for act in activations(&mut rng) {
        let model = after_dense(&mut rng, act);
        let fm = FixedModel::<R>::new(&model, FixedPoint::new(16)).unwrap();
        let xf: Vec<f32> = (0..batch * 6)
            .map(|_| rng.random_range(-1.5f32..1.5))
            .collect();
        for b in [Baseline::AB, Baseline::AY] {
            for output in [Output::Logits, Output::Label] {
                let a = b.assignment(&fm, output).unwrap();
                check(&fm, &a, &xf, batch);
            }
        }
    }
}

#[test]
fn activations_run_only_in_b_or_y() {
    let mut rng = StdRng::seed_from_u64(13);
    for act in activations(&mut rng) {
        let kind = act.kind();
        let fm = FixedModel::<R>::new(&alone(act), FixedPoint::new(16)).unwrap();
        assert_eq!(
            tessera_engine::layer_options(&fm, 0),
            [tessera_engine::Sharing::B, tessera_engine::Sharing::Y],
            "{kind}"
        );
        let e = Baseline::PureA
            .assignment(&fm, Output::Logits)
            .unwrap_err()
            .to_string();
        assert!(e.contains("act") && e.contains(kind), "{e}");
    }
}

#[test]
fn the_architecture_digest_includes_public_hyper_parameters() {
    let digest = |op: Op| {
        let fm = FixedModel::<R>::new(&alone(op), FixedPoint::new(16)).unwrap();
        tessera_engine::session::architecture_digest(&fm)
    };
    let a = digest(Op::Elu(Elu { alpha: 1.0 }));
    assert_eq!(a, digest(Op::Elu(Elu { alpha: 1.0 })));
    assert_ne!(a, digest(Op::Elu(Elu { alpha: 2.0 })));
    assert_ne!(
        digest(Op::LeakyRelu(LeakyRelu { alpha: 0.01 })),
        digest(Op::LeakyRelu(LeakyRelu { alpha: 0.02 }))
    );
    assert_ne!(digest(Op::Sigmoid), digest(Op::SecureMlSigmoid));
    assert_eq!(digest(Op::Tanh), digest(Op::Tanh));
    // PRelu: the slope's shape enters, its values (party 0's) do not.
    let p = |v: Vec<f32>, shape: Vec<usize>| {
        Op::PRelu(PRelu {
            slope: Tensor::new(shape, v).unwrap(),
        })
    };
    assert_eq!(
        digest(p(vec![0.1, 0.2], vec![2, 1])),
        digest(p(vec![0.3, 0.4], vec![2, 1]))
    );
    assert_ne!(
        digest(p(vec![0.1, 0.2], vec![2, 1])),
        digest(p(vec![0.1, 0.2, 0.3], vec![3]))
    );
}

/// AND gates per element (f = 16, ℓ = 64) and GMW rounds of each activation's step,
/// as the pricer counts them from the circuits — the numbers docs/models.md states.
#[test]
fn and_gates_per_element_are_as_documented() {
    let slope = |shape: Vec<usize>| {
        let n = shape.iter().product();
        Op::PRelu(PRelu {
            slope: Tensor::new(shape, vec![0.25; n]).unwrap(),
        })
    };
    // (op, AND gates per element in B, in Y, GMW rounds); ReLU and SecureML's sigmoid
    // for comparison.
    let stated: Vec<(Op, u64, u64, usize)> = vec![
        (Op::Relu, 63, 63, 1),
        (Op::SecureMlSigmoid, 346, 235, 14),
        (Op::Sigmoid, 332, 269, 20),
        (Op::Tanh, 360, 295, 19),
        (Op::Elu(Elu::default()), 412, 350, 22),
        (Op::Selu(Selu::default()), 989, 638, 22),
        (Op::Softplus, 477, 398, 21),
        (Op::Softsign, 410, 345, 23),
        (Op::LeakyRelu(LeakyRelu { alpha: 0.01 }), 519, 236, 9),
        (Op::LeakyRelu(LeakyRelu { alpha: 0.5 }), 63, 63, 1),
        (slope(vec![2, 1]), 3122, 2836, 16),
    ];
    let mut table = String::new();
    for (op, b_and, y_and, rounds) in stated {
        let kind = op.kind();
        let fm = FixedModel::<R>::new(&alone(op), FixedPoint::new(16)).unwrap();
        let mut got = Vec::new();
        for b in [Baseline::PureB, Baseline::PureY] {
            let a = b.assignment(&fm, Output::Logits).unwrap();
            let steps = tessera_engine::assignment_steps(&fm, &a, 1).unwrap();
            let step = steps
                .iter()
                .find(|s| s.layer == Some(0) && !s.name.contains(": "))
                .unwrap();
            let rounds = step.price.flights.len();
            got.push((step.price.and_gates / 6, rounds));
        }
        table.push_str(&format!(
            "{kind}: B {} AND ({} rounds), Y {} AND\n",
            got[0].0, got[0].1, got[1].0
        ));
        assert_eq!((got[0].0, got[1].0), (b_and, y_and), "{kind}");
        assert_eq!(got[0].1, rounds, "{kind}");
    }
    println!("{table}");
}
