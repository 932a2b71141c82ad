//! The DP against brute force over every assignment: on synthetic chains with
//! arbitrary step costs, and on small random models priced by the real engine.
#![allow(clippy::unwrap_used)]

use std::cell::RefCell;
use std::collections::HashMap;

use proptest::prelude::*;
use tessera_conversions::{Conversion, Flight, Price, Sharing, routes};
use tessera_core::{FixedPoint, NetworkProfile, Z64};
use tessera_engine::{Baseline, assignment_steps, layer_steps};
use tessera_models::{Dense, FixedModel, Head, Model, Op, Tensor, assets};
use tessera_planner::assign::{Planner, SHARINGS, Strategy};
use tessera_planner::engine::{LayerInfo, ModelChain};
use tessera_planner::{
    Assignment, Calibration, Chain, Objective, Offline, Output, Placement, Result, StepCost,
    TimeModel, Work,
};
use tessera_protocols::Demand;

fn mix(mut x: u64) -> u64 {
    // splitmix64
    x = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

fn hash(parts: &[u64]) -> u64 {
    parts.iter().fold(0x1234_5678, |h, &p| mix(h ^ p))
}

fn code(s: Sharing) -> u64 {
    s as u64 + 1
}

fn route_code(r: &[Conversion]) -> u64 {
    hash(
        &r.iter()
            .map(|c| hash(&c.name().bytes().map(u64::from).collect::<Vec<_>>()))
            .collect::<Vec<_>>(),
    )
}

/// A chain whose step costs are arbitrary (pseudo-random functions of the step's
/// key): bytes, message patterns, work and correlations.
struct Synthetic {
    seed: u64,
    options: Vec<Vec<Sharing>>,
    /// Steps sending more than this from party 0 are over the (synthetic) limit.
    limit: Option<u64>,
}

impl Synthetic {
    fn step(&self, key: u64, layer: Option<usize>) -> StepCost {
        let r = |k: u64| hash(&[self.seed, key, k]);
        let flights = (0..r(0) % 4)
            .map(|i| match r(1 + i) % 3 {
                0 => Flight::P0,
                1 => Flight::P1,
                _ => Flight::Both,
            })
            .collect::<Vec<_>>();
        let bytes = if flights.is_empty() {
            [0, 0]
        } else {
            [r(10) % 200_000, r(11) % 200_000]
        };
        let work = Work {
            gmw_and: r(20) % 1_000_000,
            yao_and: r(21) % 100_000,
            macs: r(22) % 1_000_000,
            ring_ops: r(23) % 100_000,
            ots: r(24) % 10_000,
            labels: r(25) % 100_000,
        };
        let mut demand = Demand::new();
        demand.and_triples((r(30) % 10_000) as usize);
        demand.random_ots((r(31) % 1000) as usize, 0);
        StepCost {
            name: format!("step {key:x}"),
            layer,
            sharing: None,
            price: Price {
                bytes_sent: bytes,
                flights,
                and_gates: work.gmw_and + work.yao_and,
                demand,
            },
            work,
            setup_bytes: [r(40) % 3 * 1000, 0],
        }
    }
}

impl Chain for Synthetic {
    fn layers(&self) -> Vec<LayerInfo> {
        (0..self.options.len())
            .map(|i| LayerInfo {
                name: format!("l{i}"),
                op: "synthetic".into(),
            })
            .collect()
    }

    fn options(&self, i: usize) -> Vec<Sharing> {
        self.options[i].clone()
    }

    fn check_steps(&self, steps: &[StepCost]) -> std::result::Result<(), String> {
        match (
            self.limit,
            steps
                .iter()
                .find(|s| Some(s.price.bytes_sent[0]) > self.limit),
        ) {
            (Some(l), Some(s)) => Err(format!("{} sends more than {l}", s.name)),
            _ => Ok(()),
        }
    }

    fn input_steps(&self, first: Sharing, _batch: usize) -> Result<Vec<StepCost>> {
        Ok(vec![self.step(hash(&[1, code(first)]), None)])
    }

    fn layer_steps(
        &self,
        i: usize,
        prev: Sharing,
        convert: &[Conversion],
        sharing: Sharing,
        _batch: usize,
    ) -> Result<Vec<StepCost>> {
        assert!(self.options[i].contains(&sharing));
        tessera_planner::assign::check_route(prev, convert, sharing)?;
        let mut out: Vec<StepCost> = convert
            .iter()
            .enumerate()
            .map(|(k, _)| {
                self.step(
                    hash(&[2, i as u64, code(prev), route_code(convert), k as u64]),
                    Some(i),
                )
            })
            .collect();
        out.push(self.step(
            hash(&[3, i as u64, code(prev), route_code(convert), code(sharing)]),
            Some(i),
        ));
        Ok(out)
    }

    fn head_steps(
        &self,
        last: Sharing,
        head: Option<&Placement>,
        output: Output,
        _batch: usize,
    ) -> Result<Vec<StepCost>> {
        let (h, r) = head.map_or((0, 0), |p| (code(p.sharing), route_code(&p.convert)));
        let o = u64::from(output == Output::Label);
        Ok(vec![
            self.step(hash(&[4, code(last), h, r, o]), None),
            self.step(hash(&[5, h, o]), None),
        ])
    }
}

fn objective(k: usize) -> Objective {
    [Objective::Online, Objective::Total, Objective::Bytes][k % 3]
}

fn network(k: usize) -> NetworkProfile {
    [
        NetworkProfile::LOCAL,
        NetworkProfile::LAN,
        NetworkProfile::WAN,
    ][k % 3]
}

fn assert_close(a: f64, b: f64) {
    assert!(
        (a - b).abs() <= 1e-9 * a.abs().max(b.abs()).max(1e-12),
        "{a:e} != {b:e}"
    );
}

/// The DP's optimum equals the brute-force optimum, and the DP's assignment, priced
/// as a whole run, costs what the DP says; both respect the chain's limits.
fn check_dp(planner: &Planner<'_>) {
    let (dp, (best, value)) = match (planner.solve(Strategy::Auto), planner.brute_force()) {
        (Ok(d), Ok(b)) => (d, b),
        (Err(_), Err(_)) => return, // nothing fits the limits
        (d, b) => panic!(
            "DP {:?} but brute force {:?}",
            d.map(|s| s.objective),
            b.map(|b| b.1)
        ),
    };
    assert!(planner.chain().check_steps(&dp.steps).is_ok());
    assert_close(dp.objective, value);
    let steps = planner.steps(&dp.assignment).unwrap();
    assert_close(planner.run_cost(&steps), dp.objective);
    assert_close(planner.run_cost(&planner.steps(&best).unwrap()), value);
    // No baseline beats the optimum.
    for st in Strategy::ALL {
        if let Ok(sol) = planner.solve(st)
            && sol.assignment.output == planner.output()
        {
            assert!(
                sol.objective >= dp.objective * (1.0 - 1e-9),
                "{st} beats auto"
            );
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn dp_equals_brute_force_on_synthetic_chains(
        seed in any::<u64>(),
        masks in proptest::collection::vec(1u8..8, 1..=4),
        obj in 0usize..3,
        net in 0usize..3,
        logits in any::<bool>(),
        limit in proptest::option::of(100_000u64..200_000),
    ) {
        let options = masks
            .iter()
            .map(|m| SHARINGS.into_iter().enumerate().filter(|(k, _)| m >> k & 1 == 1).map(|(_, s)| s).collect())
            .collect();
        let chain = Synthetic { seed, options, limit };
        let cal = Calibration::default_embedded().unwrap();
        let output = if logits { Output::Logits } else { Output::Label };
        let planner = Planner::new(&chain, TimeModel::new(&cal, network(net)), objective(obj), 1, output).unwrap();
        check_dp(&planner);
    }
}

/// A [`ModelChain`] whose pieces are memoised, so that brute force over thousands of
/// assignments stays fast.
type Memo<K> = RefCell<HashMap<K, Vec<StepCost>>>;

struct Cached<'a> {
    inner: &'a ModelChain<'a>,
    layers: Memo<(usize, Sharing, Vec<Conversion>, Sharing)>,
    heads: Memo<(Sharing, Option<Placement>)>,
}

impl Chain for Cached<'_> {
    fn layers(&self) -> Vec<LayerInfo> {
        self.inner.layers()
    }
    fn options(&self, i: usize) -> Vec<Sharing> {
        self.inner.options(i)
    }
    fn input_steps(&self, first: Sharing, batch: usize) -> Result<Vec<StepCost>> {
        self.inner.input_steps(first, batch)
    }
    fn layer_steps(
        &self,
        i: usize,
        prev: Sharing,
        convert: &[Conversion],
        sharing: Sharing,
        batch: usize,
    ) -> Result<Vec<StepCost>> {
        let key = (i, prev, convert.to_vec(), sharing);
        if let Some(s) = self.layers.borrow().get(&key) {
            return Ok(s.clone());
        }
        let s = self.inner.layer_steps(i, prev, convert, sharing, batch)?;
        self.layers.borrow_mut().insert(key, s.clone());
        Ok(s)
    }
    fn head_steps(
        &self,
        last: Sharing,
        head: Option<&Placement>,
        output: Output,
        batch: usize,
    ) -> Result<Vec<StepCost>> {
        let key = (last, head.cloned());
        if let Some(s) = self.heads.borrow().get(&key) {
            return Ok(s.clone());
        }
        let s = self.inner.head_steps(last, head, output, batch)?;
        self.heads.borrow_mut().insert(key, s.clone());
        Ok(s)
    }
    fn head_options(&self, output: Output) -> Vec<Option<Sharing>> {
        self.inner.head_options(output)
    }
}

fn tensor(seed: u64, shape: Vec<usize>) -> Tensor {
    let n = shape.iter().product::<usize>();
    let data = (0..n)
        .map(|k| (hash(&[seed, k as u64]) % 2001) as f32 / 1000.0 - 1.0)
        .collect();
    Tensor::new(shape, data).unwrap()
}

/// A small random chain of real layers: dense, ReLU and square activations, ending
/// in a dense layer.
fn small_model(seed: u64, kinds: &[u8], widths: &[usize]) -> Model {
    let mut layers = Vec::new();
    let mut width = widths[0];
    for (k, kind) in kinds.iter().enumerate() {
        let op = match kind % 3 {
            0 => {
                let out = widths[(k + 1) % widths.len()];
                let op = Op::Dense(Dense {
                    weight: tensor(hash(&[seed, k as u64]), vec![out, width]),
                    bias: Some(tensor(hash(&[seed, k as u64, 1]), vec![out])),
                });
                width = out;
                op
            }
            1 => Op::Relu,
            _ => Op::Square,
        };
        layers.push((format!("layer{k}"), op));
    }
    layers.push((
        "out".to_string(),
        Op::Dense(Dense {
            weight: tensor(hash(&[seed, 99]), vec![3, width]),
            bias: None,
        }),
    ));
    Model::new(vec![widths[0]], layers, Head::Scores).unwrap()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(10))]

    #[test]
    fn dp_equals_brute_force_on_small_models_priced_by_the_engine(
        seed in any::<u64>(),
        kinds in proptest::collection::vec(0u8..3, 1..=3),
        widths in proptest::collection::vec(2usize..6, 4),
        obj in 0usize..3,
        net in 0usize..3,
        batch in 1usize..4,
        logits in any::<bool>(),
        ot in any::<bool>(),
    ) {
        let model = small_model(seed, &kinds, &widths);
        let fm = FixedModel::<Z64>::new(&model, FixedPoint::new(16)).unwrap();
        let chain = ModelChain::new(&fm).unwrap();
        let cached = Cached { inner: &chain, layers: RefCell::default(), heads: RefCell::default() };
        let cal = Calibration::default_embedded().unwrap();
        let output = if logits { Output::Logits } else { Output::Label };
        // The offline phase priced with the dealer or with OT extension (under `total`).
        let source = if ot { Offline::Ot } else { Offline::Dealer };
        let tm = TimeModel::new(&cal, network(net)).with_source(source).unwrap();
        let planner = Planner::new(&cached, tm, objective(obj), batch, output).unwrap();
        check_dp(&planner);
        // The chain's steps are the engine's for every layer, sharing and route (its
        // set-up steps in A added).
        for i in 0..fm.layers().len() {
            for &prev in &SHARINGS {
                for s in chain.options(i) {
                    for r in routes(prev, s, 64, 1, 2).unwrap() {
                        let mine = chain.layer_steps(i, prev, &r.steps, s, batch).unwrap();
                        let engine = layer_steps(&fm, i, prev, &r.steps, s, batch).unwrap();
                        let online: Vec<_> = mine.iter().filter(|x| x.setup_bytes == [0, 0]).cloned().collect();
                        prop_assert_eq!(online, engine);
                    }
                }
            }
        }
    }
}

/// On the reference MLP, a run composed from the chain's pieces costs what the
/// engine's own list of the run's steps costs (its set-up steps come first).
#[test]
fn composed_runs_equal_the_engines_on_the_mlp() {
    let model = assets::model("mlp").unwrap();
    let fm = FixedModel::<Z64>::new(&model, FixedPoint::new(16)).unwrap();
    let chain = ModelChain::new(&fm).unwrap();
    let cal = Calibration::default_embedded().unwrap();
    for objective in [Objective::Online, Objective::Total, Objective::Bytes] {
        let planner = Planner::new(
            &chain,
            TimeModel::new(&cal, NetworkProfile::WAN),
            objective,
            2,
            Output::Label,
        )
        .unwrap();
        for b in [Baseline::AB, Baseline::AY] {
            let a: Assignment = b.assignment(&fm, Output::Label).unwrap();
            let mine = planner.steps(&a).unwrap();
            let engine = assignment_steps(&fm, &a, 2).unwrap();
            assert_eq!(mine.len(), engine.len());
            assert_close(planner.run_cost(&mine), planner.run_cost(&engine));
            let tm = planner.time_model();
            assert_close(tm.offline(&mine).unwrap(), tm.offline(&engine).unwrap());
        }
    }
}

#[test]
fn pure_a_is_not_applicable_to_relu_networks_and_says_why() {
    let model = assets::model("mlp").unwrap();
    let fm = FixedModel::<Z64>::new(&model, FixedPoint::new(16)).unwrap();
    let chain = ModelChain::new(&fm).unwrap();
    let cal = Calibration::default_embedded().unwrap();
    let planner = Planner::new(
        &chain,
        TimeModel::new(&cal, NetworkProfile::LAN),
        Objective::Online,
        1,
        Output::Label,
    )
    .unwrap();
    let e = planner.solve(Strategy::PureA).unwrap_err().to_string();
    assert!(e.contains("pure-a is not applicable"), "{e}");
    assert!(e.contains("relu"), "{e}");
}

#[test]
fn pure_a_applies_to_a_polynomial_network() {
    // dense → square → dense: every layer has an arithmetic form.
    let model = small_model(7, &[0, 2], &[4, 3, 3, 3]);
    let fm = FixedModel::<Z64>::new(&model, FixedPoint::new(16)).unwrap();
    let chain = ModelChain::new(&fm).unwrap();
    let cal = Calibration::default_embedded().unwrap();
    let planner = Planner::new(
        &chain,
        TimeModel::new(&cal, NetworkProfile::LAN),
        Objective::Online,
        1,
        Output::Label,
    )
    .unwrap();
    let sol = planner.solve(Strategy::PureA).unwrap();
    assert!(
        sol.assignment
            .layers
            .iter()
            .all(|p| p.sharing == Sharing::A)
    );
    // The engine's pure-a gives the client the scores.
    assert_eq!(sol.assignment.output, Output::Logits);
}
