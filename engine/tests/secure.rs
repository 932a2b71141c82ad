//! Secure inference against the plaintext fixed-point reference, through the real
//! two-party driver (in-memory transport, dealer, both parties joined under a
//! timeout): every assignment of small models covering every layer kind and DAGs with
//! several outputs, exact labels, scores and outputs, and every step's price equal to
//! the channel's meter. The activations (splines, LeakyRelu, PRelu) in B and Y, alone
//! and after a dense layer in A, are at the end.
#![allow(clippy::unwrap_used)]

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use tessera_conversions::{B2aVariant, Converter};
use tessera_core::{FixedPoint, Ring, Z64};
use tessera_engine::{
    self, Assignment, Baseline, Conversion, Output, Placement, RunOptions, SecureOutput, Sharing,
};
use tessera_models::ops::remap::PadMode;
use tessera_models::{
    Clip, Conv, Dense, Elu, FixedModel, Head, LeakyRelu, Model, Op, PRelu, Pool, Remap, Selu,
    Tensor,
};
use tessera_protocols::Window;
use tessera_protocols::harness::{self, HarnessOptions};
use tessera_protocols::runtime::local::Offline;

type R = Z64;

fn tensor(rng: &mut StdRng, shape: Vec<usize>, scale: f32) -> Tensor {
    let n = shape.iter().product();
    Tensor::new(
        shape,
        (0..n).map(|_| rng.random_range(-scale..scale)).collect(),
    )
    .unwrap()
}

fn dense(rng: &mut StdRng, out: usize, inn: usize) -> Op {
    Op::Dense(Dense {
        weight: tensor(rng, vec![out, inn], 0.6),
        bias: Some(tensor(rng, vec![out], 0.3)),
    })
}

/// dense → relu → dense: every combination of sharings.
fn mlp(rng: &mut StdRng) -> Model {
    Model::new(
        vec![6],
        vec![
            ("fc1".into(), dense(rng, 5, 6)),
            ("relu1".into(), Op::Relu),
            ("fc2".into(), dense(rng, 3, 5)),
        ],
        Head::ArgMax,
    )
    .unwrap()
}

/// conv (padded) → relu → maxpool → reshape → dense → SecureML sigmoid → dense.
fn cnn(rng: &mut StdRng) -> Model {
    Model::new(
        vec![1, 5, 5],
        vec![
            (
                "conv".into(),
                Op::Conv(Conv::new2d(
                    tensor(rng, vec![2, 1, 3, 3], 0.6),
                    Some(tensor(rng, vec![2], 0.3)),
                    [2, 2],
                    [1, 1, 1, 1],
                )),
            ),
            ("relu".into(), Op::Relu),
            (
                "pool".into(),
                Op::MaxPool(Pool::new2d([2, 2], [1, 1], [0, 0, 0, 0])),
            ),
            ("flat".into(), Op::Reshape(vec![8])),
            ("fc1".into(), dense(rng, 4, 8)),
            ("sig".into(), Op::SecureMlSigmoid),
            ("fc2".into(), dense(rng, 3, 4)),
        ],
        Head::Scores,
    )
    .unwrap()
}

/// avgpool → square → reshape → dense: polynomial only, so it also runs all in A.
fn poly(rng: &mut StdRng) -> Model {
    Model::new(
        vec![1, 4, 4],
        vec![
            (
                "avg".into(),
                Op::AvgPool(Pool::new2d([2, 2], [2, 2], [0, 0, 0, 0])),
            ),
            ("sq".into(), Op::Square),
            ("flat".into(), Op::Reshape(vec![4])),
            ("fc".into(), dense(rng, 3, 4)),
        ],
        Head::ArgMax,
    )
    .unwrap()
}

/// A residual DAG: dense → relu → dense, the sum with the relu's output (a skip
/// connection; the relu's output is read three times), relu, the concatenation with
/// the first dense layer's output, dense.
fn residual(rng: &mut StdRng) -> Model {
    Model::graph(
        vec![6],
        vec![
            ("fc1".into(), dense(rng, 4, 6), vec![0]),
            ("relu1".into(), Op::Relu, vec![1]),
            ("fc2".into(), dense(rng, 4, 4), vec![2]),
            ("add".into(), Op::Add, vec![3, 2]),
            ("relu2".into(), Op::Relu, vec![4]),
            ("cat".into(), Op::Concat(0), vec![5, 2]),
            ("sub".into(), Op::Sub, vec![6, 6]),
            ("fc3".into(), dense(rng, 3, 8), vec![7]),
        ],
        Head::Scores,
    )
    .unwrap()
}

/// A small conv ResNet block: conv → relu → conv, the sum with the block's input,
/// relu, global average pooling, flatten, dense.
fn resnet(rng: &mut StdRng) -> Model {
    let conv = |rng: &mut StdRng| {
        Op::Conv(Conv::new2d(
            tensor(rng, vec![2, 2, 3, 3], 0.4),
            Some(tensor(rng, vec![2], 0.2)),
            [1, 1],
            [1, 1, 1, 1],
        ))
    };
    Model::graph(
        vec![2, 3, 3],
        vec![
            ("conv1".into(), conv(rng), vec![0]),
            ("relu1".into(), Op::Relu, vec![1]),
            ("conv2".into(), conv(rng), vec![2]),
            ("add".into(), Op::Add, vec![3, 2]),
            ("relu2".into(), Op::Relu, vec![4]),
            (
                "gap".into(),
                Op::AvgPool(Pool::new2d([3, 3], [1, 1], [0; 4])),
                vec![5],
            ),
            ("flat".into(), Op::Reshape(vec![2]), vec![6]),
            ("fc".into(), dense(rng, 3, 2), vec![7]),
        ],
        Head::Scores,
    )
    .unwrap()
}

fn inputs(rng: &mut StdRng, model: &Model, batch: usize) -> Vec<f32> {
    (0..batch * model.input_len())
        .map(|_| rng.random_range(-1.5f32..1.5))
        .collect()
}

/// Every assignment with default conversion routes.
fn all_assignments(fm: &FixedModel<R>, output: Output) -> Vec<Assignment> {
    let mut out: Vec<Vec<Sharing>> = vec![Vec::new()];
    for i in 0..fm.layers().len() {
        let opts = tessera_engine::layer_options(fm, i);
        out = out
            .into_iter()
            .flat_map(|p| {
                opts.iter().map(move |&s| {
                    let mut q = p.clone();
                    q.push(s);
                    q
                })
            })
            .collect();
    }
    let heads: Vec<Option<Sharing>> = match output {
        Output::Label => vec![Some(Sharing::B), Some(Sharing::Y)],
        Output::Logits => vec![None],
    };
    let mut all = Vec::new();
    for seq in out {
        for h in &heads {
            // Each layer's first input comes from its producer's sharing (the
            // client's input enters in layer 0's).
            let layers = seq
                .iter()
                .enumerate()
                .map(|(i, &s)| {
                    let convert = match fm.layers()[i].layer().inputs()[0] {
                        _ if i == 0 => Vec::new(),
                        0 => tessera_engine::default_route(seq[0], s),
                        v => tessera_engine::default_route(seq[v - 1], s),
                    };
                    Placement::new(s, convert)
                })
                .collect();
            // The head reads the first output, in its producer's sharing.
            let first = match fm.outputs()[0] {
                0 => seq[0],
                v => seq[v - 1],
            };
            all.push(Assignment {
                layers,
                head: h.map(|h| Placement::new(h, tessera_engine::default_route(first, h))),
                output,
                input: None,
                working_set: None,
            });
        }
    }
    all
}

struct Outcome {
    out: SecureOutput<R>,
    online_sent: [u64; 2],
    setup_sent: [u64; 2],
    rounds: u64,
}

/// The run consumed exactly the demand it was dealt: nothing is left in the store
/// (a consumption pattern other than the demand's would run out or leave a rest).
fn all_taken(p: &mut tessera_protocols::ArithParty<R>) -> tessera_protocols::Result<()> {
    let left = p.parts_mut().1.remaining();
    if left == 0 {
        Ok(())
    } else {
        Err(tessera_protocols::Error::Protocol {
            step: "secure inference",
            detail: format!("{left} preprocessing items left over"),
        })
    }
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
    let r = rt
        .block_on(harness::run::<R, _, _>(
            &HarnessOptions::default(),
            &demand,
            async move |p| {
                let mut c = Converter::new(0).unwrap();
                let out = tessera_engine::run_party(
                    &mut *p,
                    &mut c,
                    &m0,
                    &a0,
                    None,
                    batch,
                    RunOptions::default(),
                )
                .await
                .map_err(err)?;
                all_taken(p)?;
                Ok(out)
            },
            async move |p| {
                let mut c = Converter::new(1).unwrap();
                let out = tessera_engine::run_party(
                    &mut *p,
                    &mut c,
                    &m1,
                    &a1,
                    Some(&x1),
                    batch,
                    RunOptions::default(),
                )
                .await
                .map_err(err)?;
                all_taken(p)?;
                Ok(out)
            },
        ))
        .unwrap_or_else(|e| panic!("{a:?}: {e}"));
    assert!(
        r.out0.labels.is_none() && r.out0.scores.is_none() && r.out0.outputs.is_empty(),
        "party 0 learns nothing"
    );
    let setup = |p: usize| r.peer[p].phase(tessera_core::Phase::Setup).bytes_sent;
    Outcome {
        out: r.out1,
        online_sent: [r.online[0].bytes_sent, r.online[1].bytes_sent],
        setup_sent: [setup(0), setup(1)],
        rounds: r.online[0].rounds.max(r.online[1].rounds),
    }
}

/// `a` through the session runtime over TCP loopback with the dealer-free offline
/// source (OT extension between the parties), no dealer.
fn run_ot(fm: &FixedModel<R>, a: &Assignment, x: &[R], batch: usize) -> Outcome {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let opts = RunOptions {
        offline: Offline::Ot,
        ..RunOptions::default()
    };
    let r = rt
        .block_on(tessera_engine::session::loopback(
            fm,
            a,
            x,
            batch,
            tessera_core::ChannelConfig::default(),
            opts,
            std::time::Duration::from_secs(120),
        ))
        .unwrap_or_else(|e| panic!("{a:?} with OTs: {e}"));
    let [p0, p1] = r.parties;
    let phase = |p: &tessera_engine::session::PartyReport<R>, ph| p.peer.phase(ph).bytes_sent;
    use tessera_core::Phase::{Offline as Off, Online, Setup};
    assert!(
        phase(&p0, Off) > 0 && phase(&p1, Off) > 0,
        "OT traffic is offline"
    );
    assert_eq!(p0.source.total().bytes_total(), 0, "no dealer link");
    // The OT source's exact price: every party's offline counters as metered.
    let demand = tessera_engine::demand(fm, a, batch).unwrap();
    let price = tessera_protocols::ot::price::price::<R>(
        &demand,
        tessera_core::ChannelConfig::default().max_frame,
    )
    .unwrap();
    for (p, party) in [&p0, &p1].into_iter().enumerate() {
        assert_eq!(
            *party.peer.phase(Off),
            price.meters[p],
            "offline counters of party {p} under {a:?}"
        );
    }
    Outcome {
        online_sent: [phase(&p0, Online), phase(&p1, Online)],
        setup_sent: [phase(&p0, Setup), phase(&p1, Setup)],
        rounds: p0
            .peer
            .phase(Online)
            .rounds
            .max(p1.peer.phase(Online).rounds),
        out: p1.output,
    }
}

/// Runs `a` with the dealer and checks labels, scores and the price of every step.
fn check(fm: &FixedModel<R>, a: &Assignment, xf: &[f32], batch: usize) {
    check_on(fm, a, xf, batch, Offline::Dealer)
}

/// Runs `a` with correlations from `offline` and checks labels, scores and the price
/// of every step.
fn check_on(fm: &FixedModel<R>, a: &Assignment, xf: &[f32], batch: usize, offline: Offline) {
    let x = fm.encode_input(xf).unwrap();
    let reference = fm.run(&x).unwrap();
    // The program's plaintext interpreter is the reference, on every program.
    let program = tessera_engine::program::lower(fm, a, batch).unwrap();
    let oracle = tessera_engine::program::oracle(fm, &program, &x, batch).unwrap();
    assert_eq!(oracle.labels, reference.labels(), "oracle labels of {a:?}");
    if let Some(scores) = &oracle.scores {
        assert_eq!(scores, &reference.scores.values, "oracle scores of {a:?}");
    }
    // Every output but a labelled first one is revealed, and is the reference's.
    assert_eq!(oracle.outputs.len(), fm.outputs().len());
    for (k, o) in oracle.outputs.iter().enumerate() {
        let labelled = k == 0 && a.output == Output::Label;
        assert_eq!(o.is_none(), labelled, "output {k} of {a:?}");
        if let Some(v) = o {
            assert_eq!(
                v, &reference.outputs[k].values,
                "oracle output {k} of {a:?}"
            );
        }
    }
    // One reveal step per revealed output, in order, at the end.
    let reveals: Vec<usize> = program
        .steps
        .iter()
        .filter_map(|s| match s.kind {
            tessera_engine::program::Kind::Reveal { output, .. } => Some(output),
            _ => None,
        })
        .collect();
    let first = usize::from(a.output == Output::Label);
    assert_eq!(reveals, (first..fm.outputs().len()).collect::<Vec<_>>());
    let o = match offline {
        Offline::Dealer => run(fm, a, &x, batch),
        Offline::Ot => run_ot(fm, a, &x, batch),
    };
    let steps = tessera_engine::assignment_steps(fm, a, batch).unwrap();
    assert_eq!(steps, program.costs());
    let a_truncations = steps.iter().any(|s| s.name.ends_with("truncation"));
    let labels = o.out.labels.clone().unwrap();
    if !a_truncations {
        assert_eq!(labels, reference.labels(), "labels of {a:?}");
    }
    if let Some(scores) = &o.out.scores {
        let bound = if a_truncations {
            reference.error_bound_ulps() as i64
        } else {
            0
        };
        for (s, r) in scores.values.iter().zip(&reference.scores.values) {
            let d = (s.to_i64() - r.to_i64()).abs();
            assert!(d <= bound, "score off by {d} > {bound} under {a:?}");
        }
    }
    // Every output the client received: its shape, and its values equal to the
    // reference's (within the output's own bound under a truncating plan).
    assert_eq!(o.out.outputs.len(), fm.outputs().len());
    for (k, got) in o.out.outputs.iter().enumerate() {
        let labelled = k == 0 && a.output == Output::Label;
        assert_eq!(got.is_none(), labelled, "output {k} of {a:?}");
        let Some(got) = got else { continue };
        let want = &reference.outputs[k];
        assert_eq!((got.batch, got.classes), (batch, fm.output_len(k)));
        let bound = if a_truncations {
            reference.output_bounds_ulps[k] as i64
        } else {
            0
        };
        assert_eq!(got.values.len(), want.values.len());
        for (s, r) in got.values.iter().zip(&want.values) {
            let d = (s.to_i64() - r.to_i64()).abs();
            assert!(d <= bound, "output {k} off by {d} > {bound} under {a:?}");
        }
    }
    if let (Some(s), Some(Some(o0))) = (&o.out.scores, o.out.outputs.first()) {
        assert_eq!(s, o0, "scores are the first output");
    }
    // Exact prices: bytes per party, rounds, set-up bytes.
    let mut sent = [0u64; 2];
    let mut setup = [0u64; 2];
    let mut flights = Vec::new();
    for s in &steps {
        sent[0] += s.price.bytes_sent[0];
        sent[1] += s.price.bytes_sent[1];
        setup[0] += s.setup_bytes[0];
        setup[1] += s.setup_bytes[1];
        flights.extend(s.price.flights.iter().copied());
    }
    assert_eq!(o.online_sent, sent, "online bytes of {a:?}");
    // The set-up phase also carries the session handshake, the same size each way;
    // party 1 sends nothing else in it but the empty exchange that ends the set-up.
    assert_eq!(setup[1], 0);
    let handshake = o.setup_sent[1];
    assert_eq!(
        o.setup_sent[0] - handshake,
        setup[0],
        "set-up bytes of {a:?}"
    );
    let _ = flights;
    assert_eq!(
        o.rounds,
        tessera_engine::online_rounds(&steps),
        "rounds of {a:?}"
    );
    assert_eq!(tessera_engine::total_price(&steps).bytes_sent, sent);
}

#[test]
fn mlp_every_assignment_is_exact_and_priced() {
    let mut rng = StdRng::seed_from_u64(1);
    let model = mlp(&mut rng);
    let fm = FixedModel::<R>::new(&model, FixedPoint::new(16)).unwrap();
    let batch = 3;
    let x = inputs(&mut rng, &model, batch);
    let all = all_assignments(&fm, Output::Label);
    assert_eq!(all.len(), 3 * 2 * 3 * 2);
    for a in &all {
        check(&fm, a, &x, batch);
    }
    for a in all_assignments(&fm, Output::Logits) {
        check(&fm, &a, &x, batch);
    }
}

/// `model` at `batch` under each baseline and output kind with correlations from OTs.
fn check_ot(model: &Model, rng: &mut StdRng, batch: usize, plans: &[(Baseline, Output)]) {
    let fm = FixedModel::<R>::new(model, FixedPoint::new(16)).unwrap();
    let x = inputs(rng, model, batch);
    for &(b, out) in plans {
        check_on(
            &fm,
            &b.assignment(&fm, out).unwrap(),
            &x,
            batch,
            Offline::Ot,
        );
    }
}

#[test]
fn dealer_free_correlations_give_exact_and_priced_runs() {
    // Every correlation kind the OT source makes, through the session runtime with no
    // dealer: plaintext-weight dense layers, truncation pairs, daBits and AND triples
    // (a+b, pure-b), random OTs (a+y, pure-y), square pairs (pure-a), element-wise
    // Beaver triples (products of activations).
    use Baseline::{AB, AY, PureA, PureB, PureY};
    use Output::{Label, Logits};
    let mut rng = StdRng::seed_from_u64(21);
    let all: Vec<(Baseline, Output)> = [AB, AY, PureB, PureY]
        .into_iter()
        .flat_map(|b| [(b, Label), (b, Logits)])
        .collect();
    let model = mlp(&mut rng);
    check_ot(&model, &mut rng, 3, &all);
    let model = poly(&mut rng);
    check_ot(&model, &mut rng, 2, &[(PureA, Label), (AB, Label)]);
    let model = gated(&mut rng);
    check_ot(&model, &mut rng, 3, &[(AB, Logits), (AY, Logits)]);
}

#[test]
fn dealer_free_convolutions_give_exact_and_priced_runs() {
    // Plaintext-weight convolutions with correlations from OTs (the Beaver conv triple
    // of two shared operands is tested in protocols/tests/ot.rs).
    let mut rng = StdRng::seed_from_u64(22);
    let model = cnn(&mut rng);
    let plans = [
        (Baseline::AB, Output::Logits),
        (Baseline::AY, Output::Logits),
    ];
    check_ot(&model, &mut rng, 2, &plans);
}

#[test]
fn cnn_assignments_are_exact_and_priced() {
    let mut rng = StdRng::seed_from_u64(2);
    let model = cnn(&mut rng);
    let fm = FixedModel::<R>::new(&model, FixedPoint::new(16)).unwrap();
    let batch = 2;
    let x = inputs(&mut rng, &model, batch);
    // Every assignment would be 3·2·2·3·3·2·3 = 648 runs: take every 7th, plus the
    // named baselines.
    let all = all_assignments(&fm, Output::Logits);
    for a in all.iter().step_by(7) {
        check(&fm, a, &x, batch);
    }
    for (lin, non) in [
        (Sharing::A, Sharing::Y),
        (Sharing::A, Sharing::B),
        (Sharing::B, Sharing::B),
        (Sharing::Y, Sharing::Y),
    ] {
        let a = Assignment::uniform(&fm, lin, non, non, Output::Label).unwrap();
        check(&fm, &a, &x, batch);
    }
}

#[test]
fn polynomial_model_runs_in_every_sharing_including_pure_a() {
    let mut rng = StdRng::seed_from_u64(3);
    let model = poly(&mut rng);
    let fm = FixedModel::<R>::new(&model, FixedPoint::new(16)).unwrap();
    let batch = 4;
    let x = inputs(&mut rng, &model, batch);
    for a in all_assignments(&fm, Output::Logits) {
        check(&fm, &a, &x, batch);
    }
}

#[test]
fn non_default_routes_are_exact_and_priced() {
    let mut rng = StdRng::seed_from_u64(4);
    let model = mlp(&mut rng);
    let fm = FixedModel::<R>::new(&model, FixedPoint::new(16)).unwrap();
    let batch = 2;
    let x = inputs(&mut rng, &model, batch);
    let routes: [(Sharing, Vec<Conversion>, Sharing, Vec<Conversion>); 3] = [
        // A2B via Yao; B2A by OT.
        (
            Sharing::B,
            vec![Conversion::A2Y, Conversion::Y2B],
            Sharing::A,
            vec![Conversion::B2A(B2aVariant::Ot)],
        ),
        // Y2A via B (ABY's route).
        (
            Sharing::Y,
            vec![Conversion::A2Y],
            Sharing::A,
            vec![Conversion::Y2B, Conversion::B2A(B2aVariant::DaBits)],
        ),
        // B to Y.
        (
            Sharing::B,
            vec![Conversion::A2BGmw],
            Sharing::Y,
            vec![Conversion::B2Y],
        ),
    ];
    for (s1, r1, s2, r2) in routes {
        let a = Assignment {
            layers: vec![
                Placement::new(Sharing::A, vec![]),
                Placement::new(s1, r1),
                Placement::new(s2, r2),
            ],
            head: Some(Placement::new(
                Sharing::Y,
                tessera_engine::default_route(s2, Sharing::Y),
            )),
            output: Output::Label,
            input: None,
            working_set: None,
        };
        check(&fm, &a, &x, batch);
    }
}

#[test]
fn invalid_assignments_are_clear_errors() {
    let mut rng = StdRng::seed_from_u64(5);
    let model = mlp(&mut rng);
    let fm = FixedModel::<R>::new(&model, FixedPoint::new(16)).unwrap();
    let good = Assignment::uniform(&fm, Sharing::A, Sharing::Y, Sharing::Y, Output::Label).unwrap();
    let mut relu_in_a = good.clone();
    relu_in_a.layers[1] = Placement::new(Sharing::A, vec![]);
    let e = relu_in_a.validate(&fm).unwrap_err().to_string();
    assert!(e.contains("relu1") && e.contains("cannot run in A"), "{e}");
    let mut broken_route = good.clone();
    broken_route.layers[1].convert = vec![Conversion::Y2B];
    let e = broken_route.validate(&fm).unwrap_err().to_string();
    assert!(e.contains("relu1") && e.contains("y2b"), "{e}");
    let mut short = good.clone();
    short.layers.pop();
    assert!(
        short
            .validate(&fm)
            .unwrap_err()
            .to_string()
            .contains("2 placements")
    );
    let mut no_head = good.clone();
    no_head.head = None;
    assert!(no_head.validate(&fm).is_err());
    let mut head_in_a = good;
    head_in_a.head = Some(Placement::new(Sharing::A, vec![Conversion::Y2A]));
    assert!(
        head_in_a
            .validate(&fm)
            .unwrap_err()
            .to_string()
            .contains("argmax")
    );
}

#[test]
fn residual_dag_assignments_are_exact_and_priced() {
    let mut rng = StdRng::seed_from_u64(7);
    let model = residual(&mut rng);
    assert!(!model.is_chain());
    let fm = FixedModel::<R>::new(&model, FixedPoint::new(16)).unwrap();
    let batch = 3;
    let x = inputs(&mut rng, &model, batch);
    // 3·2·3·3·2·3·3·3 = 2916 assignments per output: every 97th, both outputs, and
    // the named baselines.
    for output in [Output::Label, Output::Logits] {
        for a in all_assignments(&fm, output).iter().step_by(97) {
            check(&fm, a, &x, batch);
        }
    }
    for b in [Baseline::PureB, Baseline::PureY, Baseline::AY, Baseline::AB] {
        for output in [Output::Label, Output::Logits] {
            check(&fm, &b.assignment(&fm, output).unwrap(), &x, batch);
        }
    }
}

#[test]
fn resnet_block_runs_exactly_under_every_baseline_and_near_float() {
    let mut rng = StdRng::seed_from_u64(8);
    let model = resnet(&mut rng);
    let fm = FixedModel::<R>::new(&model, FixedPoint::new(16)).unwrap();
    let batch = 2;
    let xf = inputs(&mut rng, &model, batch);
    let float = model.run_float::<f64>(&xf).unwrap();
    let x = fm.encode_input(&xf).unwrap();
    for b in [Baseline::PureB, Baseline::PureY, Baseline::AY, Baseline::AB] {
        let a = b.assignment(&fm, Output::Logits).unwrap();
        check(&fm, &a, &xf, batch);
        // Within 0.02 + 1 % of the float reference.
        let o = run(&fm, &a, &x, batch);
        let got = o.out.scores.unwrap().decode(fm.fixed_point());
        for (g, f) in got.values.iter().zip(&float.values) {
            assert!(
                (g - f).abs() <= 0.02 + 0.01 * f.abs(),
                "{b:?}: {g} vs float {f}"
            );
        }
    }
}

#[test]
fn input_read_by_several_layers_may_enter_in_any_sharing() {
    let mut rng = StdRng::seed_from_u64(9);
    // x + relu(W·x): the client's input is read by the first layer and the sum.
    let model = Model::graph(
        vec![4],
        vec![
            ("fc1".into(), dense(&mut rng, 4, 4), vec![0]),
            ("relu".into(), Op::Relu, vec![1]),
            ("add".into(), Op::Add, vec![2, 0]),
            ("fc2".into(), dense(&mut rng, 3, 4), vec![3]),
        ],
        Head::Scores,
    )
    .unwrap();
    let fm = FixedModel::<R>::new(&model, FixedPoint::new(16)).unwrap();
    let batch = 2;
    let x = inputs(&mut rng, &model, batch);
    for input in [Sharing::A, Sharing::B, Sharing::Y] {
        for add in [Sharing::A, Sharing::B, Sharing::Y] {
            let a = Assignment {
                layers: vec![
                    Placement::new(Sharing::A, tessera_engine::default_route(input, Sharing::A)),
                    Placement::new(Sharing::Y, vec![Conversion::A2Y]),
                    Placement::new(add, tessera_engine::default_route(Sharing::Y, add)),
                    Placement::new(Sharing::A, tessera_engine::default_route(add, Sharing::A)),
                ],
                head: Some(Placement::new(Sharing::B, vec![Conversion::A2BGmw])),
                output: Output::Label,
                input: Some(input),
                working_set: None,
            };
            check(&fm, &a, &x, batch);
        }
    }
}

/// A DAG with two outputs: the scores, and an intermediate feature map (relu1's) that
/// later layers read too (fc2 and the skip connection's add).
fn two_outputs(rng: &mut StdRng) -> Model {
    Model::with_outputs(
        vec![4],
        vec![
            ("fc1".into(), dense(rng, 3, 4), vec![0]),
            ("relu1".into(), Op::Relu, vec![1]),
            ("fc2".into(), dense(rng, 3, 3), vec![2]),
            ("add".into(), Op::Add, vec![3, 2]),
            ("fc3".into(), dense(rng, 2, 3), vec![4]),
        ],
        vec![("scores".into(), 5), ("features".into(), 2)],
        Head::ArgMax,
    )
    .unwrap()
}

/// A conv net whose first output is the convolution's feature map `[2, 4, 4]` (a
/// pending accumulator: revealed unshifted from A and shifted by the client, or shifted
/// for free in B/Y) which the ReLU also reads; then the scores and the client's own
/// input.
fn conv_features(rng: &mut StdRng) -> Model {
    Model::with_outputs(
        vec![1, 4, 4],
        vec![
            (
                "conv".into(),
                Op::Conv(Conv::new2d(
                    tensor(rng, vec![2, 1, 3, 3], 0.6),
                    Some(tensor(rng, vec![2], 0.3)),
                    [1, 1],
                    [1, 1, 1, 1],
                )),
                vec![0],
            ),
            ("relu".into(), Op::Relu, vec![1]),
            (
                "pool".into(),
                Op::MaxPool(Pool::new2d([2, 2], [2, 2], [0, 0, 0, 0])),
                vec![2],
            ),
            ("flat".into(), Op::Reshape(vec![8]), vec![3]),
            ("fc".into(), dense(rng, 3, 8), vec![4]),
        ],
        vec![
            ("features".into(), 1),
            ("scores".into(), 5),
            ("x".into(), 0),
        ],
        Head::Scores,
    )
    .unwrap()
}

#[test]
fn two_output_dag_is_exact_and_priced_under_every_assignment() {
    let mut rng = StdRng::seed_from_u64(10);
    let model = two_outputs(&mut rng);
    let fm = FixedModel::<R>::new(&model, FixedPoint::new(16)).unwrap();
    assert_eq!(fm.outputs(), [5, 2]);
    let batch = 2;
    let x = inputs(&mut rng, &model, batch);
    // The named baselines, both output kinds.
    for b in [Baseline::AB, Baseline::AY, Baseline::PureB, Baseline::PureY] {
        for output in [Output::Label, Output::Logits] {
            let a = b.assignment(&fm, output).unwrap();
            check(&fm, &a, &x, batch);
        }
    }
    // Every assignment (3·2·3·3·3 = 162 per output kind, so whatever the planner
    // chooses): all with logits, every 3rd with the label.
    let all = all_assignments(&fm, Output::Logits);
    assert_eq!(all.len(), 162);
    for a in &all {
        check(&fm, a, &x, batch);
    }
    for a in all_assignments(&fm, Output::Label).iter().step_by(3) {
        check(&fm, a, &x, batch);
    }
}

#[test]
fn a_feature_map_first_output_and_the_input_as_an_output_are_exact_and_priced() {
    let mut rng = StdRng::seed_from_u64(11);
    let model = conv_features(&mut rng);
    let fm = FixedModel::<R>::new(&model, FixedPoint::new(16)).unwrap();
    assert_eq!(
        (fm.output_len(0), fm.output_len(1), fm.output_len(2)),
        (32, 3, 16)
    );
    let batch = 2;
    let xf = inputs(&mut rng, &model, batch);
    for b in [Baseline::AB, Baseline::AY, Baseline::PureB, Baseline::PureY] {
        for output in [Output::Label, Output::Logits] {
            check(&fm, &b.assignment(&fm, output).unwrap(), &xf, batch);
        }
    }
    for a in all_assignments(&fm, Output::Logits).iter().step_by(5) {
        check(&fm, a, &xf, batch);
    }
    // The client's input comes back as it went in; the feature map is the reference's
    // accumulator shifted once, here exactly.
    let x = fm.encode_input(&xf).unwrap();
    let a = Baseline::AB.assignment(&fm, Output::Logits).unwrap();
    let o = run(&fm, &a, &x, batch);
    assert_eq!(o.out.outputs[2].as_ref().unwrap().values, x);
    let reference = fm.run(&x).unwrap();
    assert_eq!(
        o.out.outputs[0].as_ref().unwrap().values,
        reference.outputs[0].values
    );
    // The argmax of a label plan is over the first output's 32 values.
    let a = Baseline::AY.assignment(&fm, Output::Label).unwrap();
    let o = run(&fm, &a, &x, batch);
    assert_eq!(o.out.labels.unwrap(), reference.labels());
    assert!(reference.labels().iter().all(|&l| l < 32));
    // With GMW stages run in chunks of instances (a working set of 64 instances' state;
    // the ReLU has 3 × 32 = 96): every output unchanged, the prices the meter's.
    let batch = 3;
    let xf = inputs(&mut rng, &model, batch);
    for output in [Output::Label, Output::Logits] {
        let whole = Baseline::PureB.assignment(&fm, output).unwrap();
        let mut small = whole.clone();
        small.working_set = Some(1024);
        check(&fm, &small, &xf, batch);
        let rounds = |a: &Assignment| {
            tessera_engine::online_rounds(&tessera_engine::assignment_steps(&fm, a, batch).unwrap())
        };
        assert!(rounds(&small) > rounds(&whole), "{output:?}: no chunks");
    }
}

#[test]
fn each_output_is_one_reveal_priced_from_its_sharing() {
    let mut rng = StdRng::seed_from_u64(12);
    let model = two_outputs(&mut rng);
    let fm = FixedModel::<R>::new(&model, FixedPoint::new(16)).unwrap();
    let batch = 3;
    for b in [Baseline::AB, Baseline::PureY] {
        let a = b.assignment(&fm, Output::Logits).unwrap();
        let steps = tessera_engine::assignment_steps(&fm, &a, batch).unwrap();
        let n = steps.len();
        // The last two steps: the scores, then the features, each revealed where its
        // layer runs, priced as the single output always was.
        assert_eq!(steps[n - 2].name, "scores to the client");
        assert_eq!(steps[n - 1].name, "output 1 (features) to the client");
        let relu = a.layers[1].sharing;
        assert_eq!(steps[n - 1].sharing, Some(relu));
        assert_eq!(
            steps[n - 1],
            tessera_engine::reveal_steps(&fm, 1, relu, batch).unwrap()[0]
        );
        assert_eq!(
            steps[n - 2..n - 1],
            tessera_engine::head_steps(&fm, a.layers[4].sharing, None, Output::Logits, batch)
                .unwrap()[..]
        );
        assert!(tessera_engine::reveal_steps(&fm, 2, relu, batch).is_err());
    }
    // The features revealed from Y cost what 9 values revealed from Y cost in a
    // single-output model ending in the same ReLU.
    let single = Model::new(
        vec![4],
        vec![
            ("fc1".into(), model.layers()[0].op().clone()),
            ("relu1".into(), Op::Relu),
        ],
        Head::Scores,
    )
    .unwrap();
    let fs = FixedModel::<R>::new(&single, FixedPoint::new(16)).unwrap();
    let want = tessera_engine::head_steps(&fs, Sharing::Y, None, Output::Logits, batch).unwrap();
    let got = tessera_engine::reveal_steps(&fm, 1, Sharing::Y, batch).unwrap();
    assert_eq!(got[0].price, want[0].price);
}

/// A working set too small for a stage's state makes every GMW stage run in chunks
/// of instances, one after another: still exactly the reference, and the price —
/// more messages and rounds (the AND depth per chunk), the triples per chunk and
/// layer — still equals the meter and the store's consumption.
#[test]
fn gmw_stages_in_chunks_within_a_small_working_set_are_exact_and_priced() {
    let mut rng = StdRng::seed_from_u64(11);
    for (model, output) in [
        (cnn(&mut rng), Output::Label),
        (resnet(&mut rng), Output::Logits),
    ] {
        let fm = FixedModel::<R>::new(&model, FixedPoint::new(16)).unwrap();
        let batch = 3;
        let xf = inputs(&mut rng, &model, batch);
        let whole = Baseline::PureB.assignment(&fm, output).unwrap();
        let mut small = whole.clone();
        // 64 instances' state at most for most stages: several chunks each.
        small.working_set = Some(4096);
        check(&fm, &small, &xf, batch);
        let rounds = |a: &Assignment| {
            tessera_engine::online_rounds(&tessera_engine::assignment_steps(&fm, a, batch).unwrap())
        };
        assert!(
            rounds(&small) > rounds(&whole),
            "chunks cost rounds: {} vs {}",
            rounds(&small),
            rounds(&whole)
        );
        // A plan written with the field reads back with it; the default is omitted.
        let json = serde_json::to_string(&small).unwrap();
        assert!(json.contains("\"working_set\":4096"));
        assert_eq!(serde_json::from_str::<Assignment>(&json).unwrap(), small);
        assert!(
            !serde_json::to_string(&whole)
                .unwrap()
                .contains("working_set")
        );
    }
}

/// A 1-D net of the new geometry: a reflection pad, a grouped, dilated, strided,
/// asymmetrically padded convolution, a dilated max pooling with `ceil_mode`.
fn windows_1d(rng: &mut StdRng) -> Model {
    let conv = Conv {
        weight: tensor(rng, vec![6, 2, 3], 0.5),
        bias: Some(tensor(rng, vec![6], 0.2)),
        window: Window::from_lists(&[2], &[2], &[1, 0], false).unwrap(),
        groups: 2,
    };
    let pool = Pool {
        kernel: [2, 1, 1],
        // Floor mode would give one window; ceil mode keeps a second that runs past
        // the end.
        window: Window::from_lists(&[2], &[2], &[0, 0], true).unwrap(),
    };
    Model::new(
        vec![4, 9],
        vec![
            (
                "pad".into(),
                Op::Remap(Remap::pad(&[4, 9], &[0, 1, 0, 1], PadMode::Reflect).unwrap()),
            ),
            ("conv".into(), Op::Conv(conv)),
            ("relu".into(), Op::Relu),
            ("pool".into(), Op::MaxPool(pool)),
            ("flat".into(), Op::Reshape(vec![12])),
            ("fc".into(), dense(rng, 3, 12)),
        ],
        Head::Scores,
    )
    .unwrap()
}

/// A 3-D net: a transposition keeping the batch first, a padded 3-D convolution, a 3-D
/// average pooling, and a transposed convolution as the loader lowers it (spread and
/// pad, then a convolution).
fn windows_3d(rng: &mut StdRng) -> Model {
    let unit = Window::unit(3).unwrap();
    let conv = Conv {
        weight: tensor(rng, vec![2, 2, 2, 2, 2], 0.4),
        bias: None,
        window: Window::from_lists(&[1, 1, 1], &[1, 1, 1], &[1, 1, 1, 0, 1, 1], false).unwrap(),
        groups: 1,
    };
    let pool = Pool {
        kernel: [2, 2, 2],
        window: Window::from_lists(&[2, 2, 2], &[1, 1, 1], &[0; 6], false).unwrap(),
    };
    let up = Conv {
        weight: tensor(rng, vec![2, 1, 2, 2, 2], 0.5),
        bias: Some(tensor(rng, vec![2], 0.1)),
        window: unit,
        groups: 2,
    };
    Model::new(
        vec![2, 3, 4, 3],
        vec![
            (
                "swap".into(),
                Op::Remap(Remap::transpose(&[2, 3, 4, 3], &[0, 2, 1, 3]).unwrap()),
            ),
            ("conv".into(), Op::Conv(conv)),
            ("pool".into(), Op::AvgPool(pool)),
            (
                "spread".into(),
                Op::Remap(Remap::dilate(&[2, 2, 2, 2], &[2, 2, 2], &[1; 6]).unwrap()),
            ),
            ("up".into(), Op::Conv(up)),
            ("relu".into(), Op::Relu),
            ("flat".into(), Op::Reshape(vec![2 * 4 * 4 * 4])),
            ("fc".into(), dense(rng, 3, 2 * 4 * 4 * 4)),
        ],
        Head::Scores,
    )
    .unwrap()
}

#[test]
fn n_d_windows_and_remaps_are_exact_and_priced_under_every_baseline() {
    let mut rng = StdRng::seed_from_u64(12);
    for model in [windows_1d(&mut rng), windows_3d(&mut rng)] {
        let fm = FixedModel::<R>::new(&model, FixedPoint::new(16)).unwrap();
        let batch = 2;
        let x = inputs(&mut rng, &model, batch);
        for b in [Baseline::AB, Baseline::AY, Baseline::PureB, Baseline::PureY] {
            for output in [Output::Label, Output::Logits] {
                check(&fm, &b.assignment(&fm, output).unwrap(), &x, batch);
            }
        }
    }
    // Every assignment of the 1-D net (each layer in A, B or Y where it can run).
    let model = windows_1d(&mut rng);
    let fm = FixedModel::<R>::new(&model, FixedPoint::new(16)).unwrap();
    let x = inputs(&mut rng, &model, 2);
    for a in all_assignments(&fm, Output::Logits).iter().step_by(7) {
        check(&fm, a, &x, 2);
    }
}

/// A gate as GLU computes it: the input split in two halves (`Split` → two slices),
/// one half negated, the product of the halves (a Beaver product in A, a multiplier
/// in B/Y), then a dense layer.
fn gated(rng: &mut StdRng) -> Model {
    Model::graph(
        vec![6, 3],
        vec![
            (
                "lo".into(),
                Op::Remap(Remap::slice(&[6, 3], 0, 0, 3, 1).unwrap()),
                vec![0],
            ),
            (
                "hi".into(),
                Op::Remap(Remap::slice(&[6, 3], 0, 3, 3, 1).unwrap()),
                vec![0],
            ),
            ("neg".into(), Op::Neg, vec![1]),
            ("gate".into(), Op::Mul, vec![3, 2]),
            ("flat".into(), Op::Reshape(vec![9]), vec![4]),
            ("fc".into(), dense(rng, 2, 9), vec![5]),
        ],
        Head::Scores,
    )
    .unwrap()
}

#[test]
fn products_of_activations_negation_and_slices_are_exact_and_priced_everywhere() {
    let mut rng = StdRng::seed_from_u64(13);
    let model = gated(&mut rng);
    let fm = FixedModel::<R>::new(&model, FixedPoint::new(16)).unwrap();
    let x = inputs(&mut rng, &model, 3);
    for b in [Baseline::AB, Baseline::AY, Baseline::PureB, Baseline::PureY] {
        check(&fm, &b.assignment(&fm, Output::Logits).unwrap(), &x, 3);
    }
    for a in all_assignments(&fm, Output::Logits).iter().step_by(5) {
        check(&fm, a, &x, 3);
    }
}

/// A constant's shape broadcasting to `[2, 3, 2]`: per element, per channel, per
/// column, a middle axis, a scalar.
fn const_shape(form: usize) -> Vec<usize> {
    match form % 5 {
        0 => vec![2, 3, 2],
        1 => vec![2, 1, 1],
        2 => vec![2],
        3 => vec![3, 1],
        _ => vec![1],
    }
}

/// The element-wise constant ops on `[2, 3, 2]`: `x + c`, `s ⊙ x + b`, `c − x`, a
/// relu, a scalar product, then a dense layer — constants of the shapes `forms` picks.
fn affine(rng: &mut StdRng, forms: [usize; 5]) -> Model {
    use tessera_models::{AddConst, MulConst};
    let c = |rng: &mut StdRng, k: usize| tensor(rng, const_shape(forms[k]), 1.5);
    Model::new(
        vec![2, 3, 2],
        vec![
            (
                "shift".into(),
                Op::AddConst(AddConst {
                    value: c(rng, 0),
                    negate: false,
                }),
            ),
            (
                "scale".into(),
                Op::MulConst(MulConst {
                    scale: c(rng, 1),
                    bias: Some(c(rng, 2)),
                }),
            ),
            (
                "rsub".into(),
                Op::AddConst(AddConst {
                    value: c(rng, 3),
                    negate: true,
                }),
            ),
            ("relu".into(), Op::Relu),
            (
                "halve".into(),
                Op::MulConst(MulConst {
                    scale: c(rng, 4),
                    bias: None,
                }),
            ),
            ("flat".into(), Op::Reshape(vec![12])),
            ("fc".into(), dense(rng, 2, 12)),
        ],
        Head::Scores,
    )
    .unwrap()
}

#[test]
fn constant_affine_ops_are_exact_and_priced_under_every_baseline_and_assignment() {
    let mut rng = StdRng::seed_from_u64(15);
    let model = affine(&mut rng, [0, 1, 2, 3, 4]);
    let fm = FixedModel::<R>::new(&model, FixedPoint::new(16)).unwrap();
    let x = inputs(&mut rng, &model, 3);
    for b in [Baseline::AB, Baseline::AY, Baseline::PureB, Baseline::PureY] {
        check(&fm, &b.assignment(&fm, Output::Logits).unwrap(), &x, 3);
    }
    for a in all_assignments(&fm, Output::Logits).iter().step_by(97) {
        check(&fm, a, &x, 3);
    }
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(6))]

    /// Random constants of random broadcast shapes, a random assignment: the secure
    /// run equals the reference (within its bound) and its price the meter.
    #[test]
    fn constant_affine_ops_match_the_reference_for_random_constants(
        seed in proptest::prelude::any::<u64>(),
        forms in proptest::prelude::any::<[usize; 5]>(),
        pick in proptest::prelude::any::<usize>(),
        batch in 1usize..3,
    ) {
        let mut rng = StdRng::seed_from_u64(seed);
        let model = affine(&mut rng, forms);
        let fm = FixedModel::<R>::new(&model, FixedPoint::new(16)).unwrap();
        let x = inputs(&mut rng, &model, batch);
        let all = all_assignments(&fm, Output::Logits);
        check(&fm, &all[pick % all.len()], &x, batch);
    }
}

/// An embedding as the loader builds it: the one-hot `[V, L]` of the client's
/// indices, a one-tap convolution by the table `[V, D]` (as `[D, V, 1]`) and the remap
/// to `[L, D]`, then a product with a constant and a dense layer.
fn embedding(rng: &mut StdRng, vocab: usize, len: usize, dim: usize) -> Model {
    use tessera_models::{IndexInput, MulConst};
    let tr = Remap::transpose(&[dim, len], &[1, 0]).unwrap();
    Model::new(
        vec![vocab, len],
        vec![
            (
                "table".into(),
                Op::Conv(Conv {
                    weight: tensor(rng, vec![dim, vocab, 1], 2.0),
                    bias: None,
                    window: Window::unit(1).unwrap(),
                    groups: 1,
                }),
            ),
            ("rows".into(), Op::Remap(tr)),
            (
                "scale".into(),
                Op::MulConst(MulConst {
                    scale: tensor(rng, vec![dim], 1.0),
                    bias: None,
                }),
            ),
            ("flat".into(), Op::Reshape(vec![len * dim])),
            ("fc".into(), dense(rng, 2, len * dim)),
        ],
        Head::Scores,
    )
    .unwrap()
    .with_index_input(IndexInput {
        shape: vec![len],
        vocab,
    })
    .unwrap()
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(6))]

    /// Random tables and indices (negative ones too), a random assignment: the secure
    /// run of the client's one-hot input equals the reference and is priced exactly.
    #[test]
    fn embeddings_of_random_indices_match_the_reference(
        seed in proptest::prelude::any::<u64>(),
        vocab in 1usize..7,
        len in 1usize..4,
        pick in proptest::prelude::any::<usize>(),
        batch in 1usize..3,
    ) {
        let mut rng = StdRng::seed_from_u64(seed);
        let model = embedding(&mut rng, vocab, len, 3);
        let v = vocab as i64;
        let idx: Vec<i64> = (0..batch * len).map(|_| rng.random_range(-v..v)).collect();
        let x = model.encode_indices(&idx).unwrap();
        let fm = FixedModel::<R>::new(&model, FixedPoint::new(16)).unwrap();
        let all = all_assignments(&fm, Output::Logits);
        check(&fm, &all[pick % all.len()], &x, batch);
    }
}

#[test]
fn embedding_runs_under_every_baseline() {
    let mut rng = StdRng::seed_from_u64(16);
    let model = embedding(&mut rng, 5, 3, 3);
    let x = model.encode_indices(&[4, 0, 2, -1, 1, 3]).unwrap();
    let fm = FixedModel::<R>::new(&model, FixedPoint::new(16)).unwrap();
    for b in [Baseline::AB, Baseline::AY, Baseline::PureB, Baseline::PureY] {
        check(&fm, &b.assignment(&fm, Output::Logits).unwrap(), &x, 2);
    }
}

/// The product of two activations, `x · xᵀ` per group (attention's `Q·Kᵀ`): the input
/// `[g, m, k]`, its transposition `[g, k, m]`, their matmul `[g, m, m]`, a dense layer.
fn gram(rng: &mut StdRng, g: usize, m: usize, k: usize) -> Model {
    Model::graph(
        vec![g, m, k],
        vec![
            (
                "t".into(),
                Op::Remap(Remap::transpose(&[g, m, k], &[0, 2, 1]).unwrap()),
                vec![0],
            ),
            ("gram".into(), Op::MatMul, vec![0, 1]),
            ("flat".into(), Op::Reshape(vec![g * m * m]), vec![2]),
            ("fc".into(), dense(rng, 2, g * m * m), vec![3]),
        ],
        Head::Scores,
    )
    .unwrap()
}

#[test]
fn matmul_of_two_activations_is_exact_and_priced_everywhere() {
    let mut rng = StdRng::seed_from_u64(17);
    let model = gram(&mut rng, 2, 3, 2);
    let fm = FixedModel::<R>::new(&model, FixedPoint::new(16)).unwrap();
    let x = inputs(&mut rng, &model, 2);
    for b in [Baseline::AB, Baseline::AY, Baseline::PureB, Baseline::PureY] {
        check(&fm, &b.assignment(&fm, Output::Logits).unwrap(), &x, 2);
    }
    for a in all_assignments(&fm, Output::Logits).iter().step_by(7) {
        check(&fm, a, &x, 2);
    }
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(6))]

    /// Random shapes, inputs and assignment: the Beaver batch matmul (A) or the
    /// circuits (B/Y) equal the reference and their price the meter.
    #[test]
    fn matmul_of_random_activations_matches_the_reference(
        seed in proptest::prelude::any::<u64>(),
        g in 1usize..3,
        m in 1usize..4,
        k in 1usize..4,
        pick in proptest::prelude::any::<usize>(),
    ) {
        let mut rng = StdRng::seed_from_u64(seed);
        let model = gram(&mut rng, g, m, k);
        let fm = FixedModel::<R>::new(&model, FixedPoint::new(16)).unwrap();
        let x = inputs(&mut rng, &model, 2);
        let all = all_assignments(&fm, Output::Logits);
        check(&fm, &all[pick % all.len()], &x, 2);
    }
}

/// A dense layer, then a softmax over groups of 4 and a log-softmax over groups of 6
/// of the same values: two outputs.
fn softmaxes(rng: &mut StdRng) -> Model {
    use tessera_models::Softmax;
    Model::with_outputs(
        vec![6],
        vec![
            ("fc".into(), dense(rng, 12, 6), vec![0]),
            (
                "probs".into(),
                Op::Softmax(Softmax { len: 4, log: false }),
                vec![1],
            ),
            (
                "logp".into(),
                Op::Softmax(Softmax { len: 6, log: true }),
                vec![1],
            ),
        ],
        vec![("probs".into(), 2), ("logp".into(), 3)],
        Head::Scores,
    )
    .unwrap()
}

#[test]
fn softmax_and_log_softmax_are_exact_and_priced_in_b_and_y() {
    let mut rng = StdRng::seed_from_u64(14);
    let model = softmaxes(&mut rng);
    let fm = FixedModel::<R>::new(&model, FixedPoint::new(16)).unwrap();
    let x: Vec<f32> = (0..3 * model.input_len())
        .map(|_| rng.random_range(-4.0f32..4.0))
        .collect();
    for b in [Baseline::AB, Baseline::AY, Baseline::PureB, Baseline::PureY] {
        check(&fm, &b.assignment(&fm, Output::Logits).unwrap(), &x, 3);
    }
}

// The activations.

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

// The element-wise operators of issue #14: clip, abs, sign, exp (one input), max, min,
// div (two), reciprocal.

/// The one-input element-wise operators under test.
fn unary_elementwise() -> Vec<Op> {
    let clip = |min: Option<f32>, max: Option<f32>| Op::Clip(Clip { min, max });
    vec![
        clip(Some(0.0), Some(6.0)),
        clip(Some(-1.0), Some(1.0)),
        clip(Some(0.25), None),
        clip(None, Some(-0.5)),
        Op::Abs,
        Op::Sign,
        Op::Exp,
        Op::Reciprocal,
    ]
}

#[test]
fn clip_abs_sign_exp_reciprocal_in_b_and_y_equal_the_reference_and_are_priced() {
    let mut rng = StdRng::seed_from_u64(21);
    let batch = 3;
    for op in unary_elementwise() {
        let model = alone(op);
        let fm = FixedModel::<R>::new(&model, FixedPoint::new(16)).unwrap();
        // Over every piece: [−20, 20] (exp saturates above 16), 0 and tiny values (the
        // reciprocal saturates at 0).
        let mut xf: Vec<f32> = (0..batch * 6)
            .map(|_| rng.random_range(-20.0f32..20.0))
            .collect();
        xf[0] = 0.0;
        xf[1] = 1e-6;
        xf[2] = -0.3;
        for b in [Baseline::PureB, Baseline::PureY] {
            let a = b.assignment(&fm, Output::Logits).unwrap();
            check(&fm, &a, &xf, batch);
        }
    }
}

#[test]
fn clip_abs_sign_exp_after_a_dense_layer_in_a_mixed_plans() {
    let mut rng = StdRng::seed_from_u64(22);
    let batch = 2;
    // Not the reciprocal: a quotient has no error bound after an A truncation.
    for op in unary_elementwise()
        .into_iter()
        .filter(|o| *o != Op::Reciprocal)
    {
        let model = after_dense(&mut rng, op);
        let fm = FixedModel::<R>::new(&model, FixedPoint::new(16)).unwrap();
        let xf: Vec<f32> = (0..batch * 6)
            .map(|_| rng.random_range(-1.0f32..1.0))
            .collect();
        for b in [Baseline::AB, Baseline::AY] {
            for output in [Output::Logits, Output::Label] {
                let a = b.assignment(&fm, output).unwrap();
                check(&fm, &a, &xf, batch);
            }
        }
    }
}

/// The input `[6, 3]` split into two halves `[3, 3]`, optionally after a dense layer
/// (on `[18]`), then `op` of the halves, flattened (the output: a saturated quotient
/// would overflow a following dense layer's accumulator).
fn halves(rng: &mut StdRng, op: Op, dense_first: bool) -> Model {
    let mut layers: Vec<(String, Op, Vec<usize>)> = Vec::new();
    let mut src = 0;
    if dense_first {
        layers.push(("flat_in".into(), Op::Reshape(vec![18]), vec![0]));
        layers.push(("fc0".into(), dense(rng, 18, 18), vec![1]));
        layers.push(("grid".into(), Op::Reshape(vec![6, 3]), vec![2]));
        src = 3;
    }
    let n = layers.len();
    layers.push((
        "lo".into(),
        Op::Remap(Remap::slice(&[6, 3], 0, 0, 3, 1).unwrap()),
        vec![src],
    ));
    layers.push((
        "hi".into(),
        Op::Remap(Remap::slice(&[6, 3], 0, 3, 3, 1).unwrap()),
        vec![src],
    ));
    layers.push(("op".into(), op, vec![n + 1, n + 2]));
    layers.push(("flat".into(), Op::Reshape(vec![9]), vec![n + 3]));
    Model::graph(vec![6, 3], layers, Head::Scores).unwrap()
}

#[test]
fn max_min_and_div_of_two_activations_are_exact_and_priced_in_every_plan() {
    let mut rng = StdRng::seed_from_u64(23);
    for op in [Op::Max, Op::Min, Op::Divide] {
        let model = halves(&mut rng, op.clone(), false);
        let fm = FixedModel::<R>::new(&model, FixedPoint::new(16)).unwrap();
        let mut x = inputs(&mut rng, &model, 3);
        x[9] = 0.0; // a zero divisor: saturation
        x[10] = x[1]; // equal operands
        for b in [Baseline::AB, Baseline::AY, Baseline::PureB, Baseline::PureY] {
            check(&fm, &b.assignment(&fm, Output::Logits).unwrap(), &x, 3);
        }
        for a in all_assignments(&fm, Output::Logits).iter().step_by(5) {
            check(&fm, a, &x, 3);
        }
        if op != Op::Divide {
            // After a dense layer in A: within the reference's bound.
            let model = halves(&mut rng, op, true);
            let fm = FixedModel::<R>::new(&model, FixedPoint::new(16)).unwrap();
            let x = inputs(&mut rng, &model, 2);
            for b in [Baseline::AB, Baseline::AY] {
                check(&fm, &b.assignment(&fm, Output::Label).unwrap(), &x, 2);
            }
        }
    }
}

#[test]
fn the_new_element_wise_operators_run_only_in_b_or_y() {
    let mut ops = unary_elementwise();
    ops.extend([Op::Max, Op::Min, Op::Divide]);
    let mut rng = StdRng::seed_from_u64(24);
    for op in ops {
        let kind = op.kind();
        let model = if op.arity() == Some(2) {
            halves(&mut rng, op, false)
        } else {
            alone(op)
        };
        let fm = FixedModel::<R>::new(&model, FixedPoint::new(16)).unwrap();
        let i = fm
            .layers()
            .iter()
            .position(|l| l.layer().op().kind() == kind)
            .unwrap();
        assert_eq!(
            tessera_engine::layer_options(&fm, i),
            [tessera_engine::Sharing::B, tessera_engine::Sharing::Y],
            "{kind}"
        );
        let e = Baseline::PureA
            .assignment(&fm, Output::Logits)
            .unwrap_err()
            .to_string();
        assert!(e.contains(kind), "{e}");
    }
}

/// AND gates per element (f = 16, ℓ = 64) and GMW rounds of the new operators' steps, as
/// the pricer counts them — the numbers docs/models.md states.
#[test]
fn new_element_wise_and_gates_are_as_documented() {
    let clip = |min: Option<f32>, max: Option<f32>| Op::Clip(Clip { min, max });
    let stated: Vec<(&str, Op, u64, u64, usize)> = vec![
        ("relu6", clip(Some(0.0), Some(6.0)), 194, 190, 7),
        ("hardtanh", clip(Some(-1.0), Some(1.0)), 267, 238, 7),
        ("clip min", clip(Some(0.25), None), 181, 113, 7),
        ("abs", Op::Abs, 187, 63, 7),
        ("sign", Op::Sign, 63, 63, 6),
        ("exp", Op::Exp, 1333, 1139, 21),
        ("reciprocal", Op::Reciprocal, 14796, 4348, 245),
        ("max", Op::Max, 248, 128, 8),
        ("min", Op::Min, 248, 128, 8),
        ("div", Op::Divide, 28582, 8300, 456),
    ];
    let mut rng = StdRng::seed_from_u64(25);
    let mut table = String::new();
    let mut wrong = Vec::new();
    for (name, op, b_and, y_and, rounds) in stated {
        let kind = op.kind();
        let model = if op.arity() == Some(2) {
            halves(&mut rng, op, false)
        } else {
            alone(op)
        };
        let fm = FixedModel::<R>::new(&model, FixedPoint::new(16)).unwrap();
        let i = fm
            .layers()
            .iter()
            .position(|l| l.layer().op().kind() == kind)
            .unwrap();
        let per: u64 = fm.layers()[i]
            .layer()
            .output_shape()
            .iter()
            .product::<usize>() as u64;
        let mut got = Vec::new();
        for b in [Baseline::PureB, Baseline::PureY] {
            let a = b.assignment(&fm, Output::Logits).unwrap();
            let steps = tessera_engine::assignment_steps(&fm, &a, 1).unwrap();
            let step = steps
                .iter()
                .find(|s| s.layer == Some(i) && !s.name.contains(": "))
                .unwrap();
            got.push((step.price.and_gates / per, step.price.flights.len()));
        }
        table.push_str(&format!(
            "{name}: B {} AND ({} rounds), Y {} AND\n",
            got[0].0, got[0].1, got[1].0
        ));
        if (got[0].0, got[1].0, got[0].1) != (b_and, y_and, rounds) {
            wrong.push(name);
        }
    }
    println!("{table}");
    assert!(wrong.is_empty(), "{wrong:?} differ:\n{table}");
}
