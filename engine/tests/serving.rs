//! Set-up once per model, many queries: a run of N queries after one set-up and one
//! offline phase, through the real two-party driver (the dealer and both parties in
//! this process over in-memory links, joined by the runtime under a deadline), gives
//! every query exactly the outputs of a separate run and of the plaintext reference;
//! the set-up's traffic does not depend on N and every query's online traffic and
//! rounds are those priced for it ([`ServingCost`]); a correlation is never handed out
//! twice (a query or a set-up beyond what was dealt is refused by the store).
#![allow(clippy::unwrap_used)]

use std::sync::Arc;
use std::time::Duration;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use tessera_core::{ChannelConfig, ConfigSummary, FixedPoint, Phase, Z64};
use tessera_engine::session::{Answers, InferenceJob, ServingRun, serve_loopback};
use tessera_engine::{Assignment, Baseline, Output, Prepared, RunOptions, ServingCost};
use tessera_models::{Conv, Dense, FixedModel, Head, Model, Op, Tensor};
use tessera_protocols::runtime::local::{Local, Transport, run_local};
use tessera_protocols::runtime::{Job, SessionError};
use tessera_protocols::{ArithParty, Demand};

type R = Z64;

const DEADLINE: Duration = Duration::from_secs(60);

fn weights(rng: &mut StdRng, shape: Vec<usize>) -> Tensor {
    let n = shape.iter().product();
    Tensor::new(
        shape,
        (0..n).map(|_| rng.random_range(-0.5f32..0.5)).collect(),
    )
    .unwrap()
}

/// conv (2 channels, 3×3 on 1×4×4) → relu → flatten → dense (3): two plaintext-weight
/// layers under the A-linear plans.
fn small_cnn() -> FixedModel<R> {
    let mut rng = StdRng::seed_from_u64(18);
    let conv = Conv::new2d(
        weights(&mut rng, vec![2, 1, 3, 3]),
        Some(weights(&mut rng, vec![2])),
        [1, 1],
        [0, 0, 0, 0],
    );
    let model = Model::new(
        vec![1, 4, 4],
        vec![
            ("conv".into(), Op::Conv(conv)),
            ("relu".into(), Op::Relu),
            ("flat".into(), Op::Reshape(vec![8])),
            (
                "fc".into(),
                Op::Dense(Dense {
                    weight: weights(&mut rng, vec![3, 8]),
                    bias: Some(weights(&mut rng, vec![3])),
                }),
            ),
        ],
        Head::ArgMax,
    )
    .unwrap();
    FixedModel::new(&model, FixedPoint::new(16)).unwrap()
}

fn encoded(fm: &FixedModel<R>, examples: usize, seed: u64) -> Vec<R> {
    let mut rng = StdRng::seed_from_u64(seed);
    let xf: Vec<f32> = (0..examples * 16)
        .map(|_| rng.random_range(-1.0f32..1.0))
        .collect();
    fm.encode_input(&xf).unwrap()
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

fn serve(fm: &FixedModel<R>, a: &Assignment, x: &[R], sizes: &[usize]) -> ServingRun<R> {
    runtime()
        .block_on(serve_loopback(
            fm,
            a,
            x,
            sizes,
            ChannelConfig::default(),
            RunOptions::default(),
            Transport::InMemory,
            DEADLINE,
        ))
        .unwrap_or_else(|e| panic!("{sizes:?} under {a:?}: {e}"))
}

/// Checks a run of `sizes` against separate runs, the reference and the prices;
/// returns the bytes each party sent in the set-up phase.
fn check_run(fm: &FixedModel<R>, a: &Assignment, sizes: &[usize]) -> [u64; 2] {
    let total: usize = sizes.iter().sum();
    let x = encoded(fm, total, 7);
    let run = serve(fm, a, &x, sizes);
    let cost = ServingCost::new(fm, a, sizes).unwrap();
    let [p0, p1] = &run.parties;
    // The outputs: the plaintext reference's, and each query's those of a run of it
    // alone (its own set-up and offline phase).
    let got = &p1.output.output;
    let reference = fm.run(&x).unwrap();
    assert_eq!(got.labels.as_ref().unwrap(), &reference.labels(), "{a:?}");
    assert!(p0.output.output.labels.is_none(), "party 0 learns nothing");
    assert_eq!(got.scores.is_some(), a.output == Output::Logits);
    if let Some(scores) = &got.scores {
        // The scores exactly (no dealer truncation in these plans).
        assert_eq!(scores.values, reference.scores.values, "{a:?}");
        assert_eq!(scores.batch, total);
    }
    let mut first = 0;
    for &n in sizes {
        let alone = serve(fm, a, &x[first * 16..(first + n) * 16], &[n]);
        let one = &alone.parties[1].output.output;
        let labels = one.labels.clone().unwrap();
        assert_eq!(
            labels,
            got.labels.as_ref().unwrap()[first..first + n],
            "{a:?}"
        );
        if let (Some(mine), Some(alone)) = (&got.scores, &one.scores) {
            let c = alone.classes;
            assert_eq!(alone.values, mine.values[first * c..(first + n) * c]);
        }
        first += n;
    }
    // Every query's online traffic and rounds as priced for it, at both parties.
    for (q, (m0, m1)) in p0.output.queries.iter().zip(&p1.output.queries).enumerate() {
        assert_eq!(m0.examples, sizes[q]);
        let sent = [m0.peer.online.bytes_sent, m1.peer.online.bytes_sent];
        assert_eq!(
            sent,
            cost.query_bytes(q),
            "query {q} of {sizes:?} under {a:?}"
        );
        let rounds = m0.peer.online.rounds.max(m1.peer.online.rounds);
        assert_eq!(rounds, cost.query_rounds(q), "query {q} under {a:?}");
        for m in [m0, m1] {
            assert_eq!(m.peer.setup.bytes_total() + m.peer.offline.bytes_total(), 0);
        }
    }
    let online = [p0, p1].map(|p| p.peer.phase(Phase::Online).bytes_sent);
    let priced = total_of(&cost);
    assert_eq!(online, priced, "online bytes of {sizes:?} under {a:?}");
    // The set-up: the handshake (the same each way) and party 0's masked weights.
    let setup = [p0, p1].map(|p| p.peer.phase(Phase::Setup).bytes_sent);
    assert_eq!(setup[0] - setup[1], cost.setup_bytes()[0], "{a:?}");
    // The dealer dealt the whole demand once: party 1's corrections are every
    // query's, party 0 got a seed.
    let demand = cost.demand();
    let traffic = tessera_protocols::dealer::party_traffic::<R>(&demand).unwrap();
    for (p, party) in [p0, p1].into_iter().enumerate() {
        assert_eq!(
            party.source.phase(Phase::Offline).bytes_received,
            traffic[p].bytes_received,
            "party {p}'s dealer traffic under {a:?}"
        );
    }
    setup
}

fn total_of(cost: &ServingCost) -> [u64; 2] {
    (0..cost.sizes.len()).fold([0, 0], |acc, q| {
        let b = cost.query_bytes(q);
        [acc[0] + b[0], acc[1] + b[1]]
    })
}

#[test]
fn queries_after_one_setup_equal_separate_runs_and_pay_the_setup_once() {
    let fm = small_cnn();
    for (b, out) in [
        (Baseline::AB, Output::Label),
        (Baseline::AY, Output::Logits),
        (Baseline::PureB, Output::Label),
    ] {
        let a = b.assignment(&fm, out).unwrap();
        let one = check_run(&fm, &a, &[1]);
        let three = check_run(&fm, &a, &[1, 1, 1]);
        // The set-up's traffic does not grow with the queries (the handshake differs
        // only by the `queries` entry of the configuration, the same size each way).
        assert_eq!(one[0] - one[1], three[0] - three[1], "{b:?}");
        // Uneven queries (a last, smaller one), each priced for its size.
        check_run(&fm, &a, &[2, 2, 1]);
    }
    // A plan without plaintext-weight layers has no set-up traffic; its first query
    // starts from the handshake's exchange, the later ones after a query's output.
    let a = Baseline::PureB.assignment(&fm, Output::Label).unwrap();
    let cost = ServingCost::new(&fm, &a, &[1, 1]).unwrap();
    assert_eq!(cost.setup_bytes(), [0, 0]);
    assert_eq!(cost.setup_rounds(), 0);
}

#[test]
fn per_model_and_per_query_correlations_are_apart_in_the_demand() {
    let fm = small_cnn();
    let a = Baseline::AB.assignment(&fm, Output::Label).unwrap();
    let one = ServingCost::new(&fm, &a, &[1]).unwrap();
    let four = ServingCost::new(&fm, &a, &[1; 4]).unwrap();
    // One query's demand is the engine's demand of a run of it alone.
    assert_eq!(one.demand(), tessera_engine::demand(&fm, &a, 1).unwrap());
    // The masks once, then each query's correlations: four times one query's.
    let masks = one.setup_demand();
    assert_eq!(masks.len(), 2, "one mask per plaintext-weight layer");
    let mut want = masks.clone();
    for _ in 0..4 {
        want.extend(&one.query_demand(0));
    }
    assert_eq!(four.demand(), want);
    assert_eq!(four.setup_bytes(), one.setup_bytes());
    // Queries per set-up within a budget of correlations: at least one.
    let per = one.query_demand(0).correction_bytes::<R>();
    assert_eq!(one.queries_per_setup::<R>(false, 3 * per), 3);
    assert_eq!(one.queries_per_setup::<R>(false, 1), 1);
    assert!(ServingCost::new(&fm, &a, &[]).is_err());
    assert!(ServingCost::new(&fm, &a, &[1, 0]).is_err());
}

/// An [`InferenceJob`] dealt `demand` instead of its own, whose set-up runs `setups`
/// times: what a party that tried to use a correlation twice would do.
struct Greedy {
    inner: InferenceJob<R>,
    demand: Demand,
    setups: usize,
}

impl Job for Greedy {
    type Ring = R;
    type Input = Option<Vec<R>>;
    type Prepared = Prepared<R>;
    type Output = Answers<R>;
    type Error = tessera_engine::Error;

    fn config(&self) -> ConfigSummary {
        self.inner.config()
    }

    fn demand(&self) -> tessera_engine::Result<Demand> {
        Ok(self.demand.clone())
    }

    async fn setup(&self, p: &mut ArithParty<R>) -> tessera_engine::Result<Prepared<R>> {
        let mut prepared = self.inner.setup(p).await?;
        for _ in 1..self.setups {
            prepared = self.inner.setup(p).await?;
        }
        Ok(prepared)
    }

    async fn online(
        &self,
        p: &mut ArithParty<R>,
        prepared: Prepared<R>,
        input: Option<Vec<R>>,
    ) -> tessera_engine::Result<Answers<R>> {
        self.inner.online(p, prepared, input).await
    }
}

fn greedy_error(sizes: &[usize], dealt: &[usize], setups: usize) -> String {
    let fm = small_cnn();
    let a = Baseline::AB.assignment(&fm, Output::Label).unwrap();
    let job = Greedy {
        inner: InferenceJob::serving(fm.clone(), a.clone(), sizes, RunOptions::default()).unwrap(),
        demand: ServingCost::new(&fm, &a, dealt).unwrap().demand(),
        setups,
    };
    let total: usize = sizes.iter().sum();
    let x = encoded(&fm, total, 3);
    let local = Local::new(Transport::InMemory, ChannelConfig::default(), DEADLINE);
    let r = runtime().block_on(run_local(Arc::new(job), [None, Some(x)], &local));
    match r {
        Ok(_) => panic!("{sizes:?} ran on the correlations of {dealt:?} with {setups} set-ups"),
        Err(e) => e.map(|e: tessera_engine::Error| e.to_string()).to_string(),
    }
}

#[test]
fn a_correlation_is_never_handed_out_twice() {
    // The same job dealt for its queries runs.
    let fm = small_cnn();
    let a = Baseline::AB.assignment(&fm, Output::Label).unwrap();
    let x = encoded(&fm, 2, 3);
    let job = Greedy {
        inner: InferenceJob::serving(fm.clone(), a.clone(), &[1, 1], RunOptions::default())
            .unwrap(),
        demand: ServingCost::new(&fm, &a, &[1, 1]).unwrap().demand(),
        setups: 1,
    };
    let local = Local::new(Transport::InMemory, ChannelConfig::default(), DEADLINE);
    runtime()
        .block_on(run_local(Arc::new(job), [None, Some(x)], &local))
        .map_err(|e: SessionError<tessera_engine::Error>| e.to_string())
        .unwrap();
    // A second query on the correlations of one: the store has none left for it.
    let e = greedy_error(&[1, 1], &[1], 1);
    assert!(e.contains("exhausted"), "{e}");
    // A second set-up (the weight masks taken again): the store hands out the next
    // correlation in order, a query's, not the masks a second time.
    let e = greedy_error(&[1], &[1], 2);
    assert!(
        e.contains("weight mask") && e.contains("set-up"),
        "a second set-up must be refused: {e}"
    );
}
