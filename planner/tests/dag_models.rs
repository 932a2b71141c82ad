//! The planner on models that are DAGs, priced by the real engine: `auto` equals the
//! brute-force optimum over every assignment (a sharing for the input and every
//! layer, default routes, the head where cheapest), and the DAG planner's additive
//! costs equal the engine's price of the whole program under the bytes objective —
//! also for models with several outputs (each revealed from where it is produced,
//! the head on the first).
#![allow(clippy::unwrap_used)]

use proptest::prelude::*;
use tessera_conversions::{Conversion, Flight, Price, Sharing, routes};
use tessera_core::{FixedPoint, NetworkProfile, Z64};
use tessera_engine::{Assignment, Output, Placement, default_route};
use tessera_models::{Dense, FixedModel, Head, Model, Op, Tensor};
use tessera_planner::assign::{Planner, SHARINGS, Strategy};
use tessera_planner::dag::SharingSet;
use tessera_planner::engine::{LayerInfo, ModelChain};
use tessera_planner::{Calibration, Chain, Objective, Result, StepCost, TimeModel, Work};
use tessera_protocols::Demand;

fn tensor(seed: u64, shape: Vec<usize>) -> Tensor {
    let n = shape.iter().product::<usize>();
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let data = (0..n)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x % 2001) as f32 / 1000.0 - 1.0
        })
        .collect();
    Tensor::new(shape, data).unwrap()
}

/// A random DAG of `kinds.len()` layers over vectors of width 3: dense, ReLU, square,
/// or the sum with a random earlier value (fan-out, skip connections); values nobody
/// reads are summed into the output, then a dense layer gives 2 scores.
fn dag_model(seed: u64, kinds: &[(u8, usize)]) -> Model {
    let w = 3;
    let mut layers: Vec<(String, Op, Vec<usize>)> = Vec::new();
    let mut read = vec![false];
    for (k, &(kind, pick)) in kinds.iter().enumerate() {
        let last = layers.len();
        let (op, inputs) = match kind % 4 {
            0 => (
                Op::Dense(Dense {
                    weight: tensor(seed ^ k as u64, vec![w, w]),
                    bias: Some(tensor(seed ^ (k as u64 + 100), vec![w])),
                }),
                vec![last],
            ),
            1 => (Op::Relu, vec![last]),
            2 => (Op::Square, vec![last]),
            _ => (Op::Add, vec![last, pick % (last + 1)]),
        };
        for &v in &inputs {
            read[v] = true;
        }
        read.push(false);
        layers.push((format!("l{k}"), op, inputs));
    }
    // Join what nobody reads into the last value.
    let mut acc = layers.len();
    let unread: Vec<usize> = (1..layers.len()).filter(|&v| !read[v]).collect();
    for v in unread {
        layers.push((format!("join{v}"), Op::Add, vec![acc, v]));
        acc = layers.len();
    }
    layers.push((
        "out".into(),
        Op::Dense(Dense {
            weight: tensor(seed ^ 999, vec![2, w]),
            bias: None,
        }),
        vec![acc],
    ));
    Model::graph(vec![w], layers, Head::Scores).unwrap()
}

/// Every assignment the DAG planner chooses among: a sharing for the input and per
/// layer, each layer's first input by the default route, the head where allowed.
fn every_assignment(chain: &ModelChain<'_>, output: Output) -> Vec<Assignment> {
    let n = chain.layers().len();
    let mut seqs: Vec<Vec<Sharing>> = vec![Vec::new()];
    for k in 0..=n {
        let opts = if k == 0 {
            vec![Sharing::A, Sharing::B, Sharing::Y]
        } else {
            chain.options(k - 1)
        };
        seqs = seqs
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
    let heads = chain.head_options(output);
    // The head reads the first output, in its producer's sharing (seq is by value).
    let first = chain.outputs()[0];
    let mut out = Vec::new();
    for seq in seqs {
        let layers: Vec<Placement> = (0..n)
            .map(|i| {
                let from = seq[chain.inputs(i)[0]];
                Placement::new(seq[i + 1], default_route(from, seq[i + 1]))
            })
            .collect();
        for h in &heads {
            out.push(Assignment {
                input: (seq[0] != seq[1]).then_some(seq[0]),
                layers: layers.clone(),
                head: h.map(|h| Placement::new(h, default_route(seq[first], h))),
                output,
                working_set: None,
            });
        }
    }
    out
}

/// A random DAG as [`dag_model`] without the joins: `kinds` layers (dense, ReLU,
/// square, or the sum with an earlier value) and a dense layer giving 2 scores; every
/// value nobody reads is an output, and so is each value of `extra` (an index into
/// the values, the input included: often one that later layers read, sometimes one
/// already listed, under another name). The outputs are rotated by `first` so that
/// any of them may be the one the head reads.
fn multi_output_model(seed: u64, kinds: &[(u8, usize)], extra: &[usize], first: usize) -> Model {
    let w = 3;
    let mut layers: Vec<(String, Op, Vec<usize>)> = Vec::new();
    let mut read = vec![false];
    for (k, &(kind, pick)) in kinds.iter().enumerate() {
        let last = layers.len();
        let (op, inputs) = match kind % 4 {
            0 => (
                Op::Dense(Dense {
                    weight: tensor(seed ^ k as u64, vec![w, w]),
                    bias: Some(tensor(seed ^ (k as u64 + 100), vec![w])),
                }),
                vec![last],
            ),
            1 => (Op::Relu, vec![last]),
            2 => (Op::Square, vec![last]),
            _ => (Op::Add, vec![last, pick % (last + 1)]),
        };
        for &v in &inputs {
            read[v] = true;
        }
        read.push(false);
        layers.push((format!("l{k}"), op, inputs));
    }
    let acc = layers.len();
    read[acc] = true;
    layers.push((
        "out".into(),
        Op::Dense(Dense {
            weight: tensor(seed ^ 999, vec![2, w]),
            bias: None,
        }),
        vec![acc],
    ));
    let n = layers.len();
    let mut values: Vec<usize> = (1..n).filter(|&v| !read[v]).collect();
    values.push(n);
    values.extend(extra.iter().map(|&e| e % (n + 1)));
    let len = values.len();
    values.rotate_left(first % len);
    let outputs = values
        .into_iter()
        .enumerate()
        .map(|(k, v)| (format!("o{k}"), v))
        .collect();
    Model::with_outputs(vec![w], layers, outputs, Head::Scores).unwrap()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(12))]

    #[test]
    fn auto_equals_brute_force_on_random_dags_with_several_outputs(
        seed in any::<u64>(),
        kinds in proptest::collection::vec((0u8..4, 0usize..8), 1..=5),
        extra in proptest::collection::vec(0usize..8, 1..=2),
        first in 0usize..4,
        logits in any::<bool>(),
        batch in 1usize..3,
    ) {
        let model = multi_output_model(seed, &kinds, &extra, first);
        // At most 8 nodes: the input and 7 layers.
        prop_assert!(model.layers().len() < 8);
        prop_assert!(model.outputs().len() >= 2);
        let fm = FixedModel::<Z64>::new(&model, FixedPoint::new(16)).unwrap();
        let chain = ModelChain::new(&fm).unwrap();
        prop_assert_eq!(chain.outputs(), model.outputs().to_vec());
        prop_assert!(!chain.is_chain());
        let cal = Calibration::default_embedded().unwrap();
        let output = if logits { Output::Logits } else { Output::Label };
        let planner = Planner::new(
            &chain,
            TimeModel::new(&cal, NetworkProfile::LAN),
            Objective::Bytes,
            batch,
            output,
        )
        .unwrap();
        let auto = planner.solve(Strategy::Auto).unwrap();
        let mut best = f64::INFINITY;
        for a in every_assignment(&chain, output) {
            let steps = planner.steps(&a).unwrap();
            best = best.min(planner.run_cost(&steps));
        }
        prop_assert_eq!(auto.objective, best, "auto {:?}", auto.assignment);
        // The solution is what the engine runs and prices: one reveal per output
        // (the first under the head for a label), and the program computes every
        // output of the reference.
        let steps = tessera_engine::assignment_steps(&fm, &auto.assignment, batch).unwrap();
        prop_assert_eq!(planner.run_cost(&steps), auto.objective);
        let reveals = steps.iter().filter(|s| s.name.ends_with("to the client")).count();
        prop_assert_eq!(reveals, model.outputs().len());
        let x: Vec<f32> = (0..3 * batch).map(|i| (i as f32 * 0.37).sin()).collect();
        let xs = fm.encode_input(&x).unwrap();
        let program = tessera_engine::program::lower(&fm, &auto.assignment, batch).unwrap();
        let oracle = tessera_engine::program::oracle(&fm, &program, &xs, batch).unwrap();
        let reference = fm.run(&xs).unwrap();
        prop_assert_eq!(&oracle.labels, &reference.labels());
        for (k, o) in oracle.outputs.iter().enumerate() {
            match o {
                Some(v) => prop_assert_eq!(v, &reference.outputs[k].values),
                None => prop_assert!(k == 0 && !logits),
            }
        }
    }

    #[test]
    fn auto_equals_brute_force_on_random_dag_models(
        seed in any::<u64>(),
        kinds in proptest::collection::vec((0u8..4, 0usize..8), 2..=4),
        logits in any::<bool>(),
        batch in 1usize..3,
    ) {
        let model = dag_model(seed, &kinds);
        let fm = FixedModel::<Z64>::new(&model, FixedPoint::new(16)).unwrap();
        let chain = ModelChain::new(&fm).unwrap();
        let cal = Calibration::default_embedded().unwrap();
        let output = if logits { Output::Logits } else { Output::Label };
        let planner = Planner::new(
            &chain,
            TimeModel::new(&cal, NetworkProfile::LAN),
            Objective::Bytes,
            batch,
            output,
        )
        .unwrap();
        let auto = planner.solve(Strategy::Auto).unwrap();
        let mut best = f64::INFINITY;
        for a in every_assignment(&chain, output) {
            // On a chain the planner lets the input enter in layer 0's sharing.
            if chain.is_chain() && a.input.is_some() {
                continue;
            }
            let steps = planner.steps(&a).unwrap();
            best = best.min(planner.run_cost(&steps));
        }
        prop_assert!(model.is_chain() || !chain.is_chain());
        prop_assert_eq!(auto.objective, best, "auto {:?}", auto.assignment);
        // The solution is what the engine runs and prices.
        let steps = tessera_engine::assignment_steps(&fm, &auto.assignment, batch).unwrap();
        prop_assert_eq!(planner.run_cost(&steps), auto.objective);
    }
}

/// A residual network of 100 layers plans under the latency objective, with a
/// valid assignment the engine accepts.
#[test]
fn a_hundred_layer_residual_network_plans() {
    let mut kinds = Vec::new();
    for b in 0..25 {
        kinds.extend([(0u8, 0usize), (1, 0), (0, 0), (3, 3 * b + 1)]);
    }
    let model = dag_model(7, &kinds);
    assert!(model.layers().len() >= 100);
    let fm = FixedModel::<Z64>::new(&model, FixedPoint::new(16)).unwrap();
    let chain = ModelChain::new(&fm).unwrap();
    let cal = Calibration::default_embedded().unwrap();
    for objective in [Objective::Online, Objective::Bytes] {
        let planner = Planner::new(
            &chain,
            TimeModel::new(&cal, NetworkProfile::WAN),
            objective,
            1,
            Output::Label,
        )
        .unwrap();
        let auto = planner.solve(Strategy::Auto).unwrap();
        auto.assignment.validate(&fm).unwrap();
        assert!(auto.objective.is_finite());
        if objective != Objective::Bytes {
            // Latency is priced per node and value from a fresh clock: optimal for
            // that model, not necessarily below every baseline's whole-run price.
            continue;
        }
        for s in [Strategy::APlusB, Strategy::APlusY, Strategy::PureB] {
            let b = planner.solve(s).unwrap();
            assert!(
                auto.objective <= b.objective * (1.0 + 1e-9),
                "{objective:?}: auto {} > {s} {}",
                auto.objective,
                b.objective
            );
        }
    }
}

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

/// A DAG engine whose every price is an arbitrary function of what is priced — the
/// input in a sharing, a layer's body, a value brought to a target sharing, the head
/// from the first output's sharing, output `k` revealed from its producer's sharing —
/// and whose whole-run price is their sum over the run's program: the DAG planner's
/// cost model, with outputs whose reveal depends on the sharing (which the real
/// engine's barely does), so that where an output is charged matters.
struct SyntheticDag {
    seed: u64,
    inputs: Vec<Vec<usize>>,
    options: Vec<Vec<Sharing>>,
    outputs: Vec<usize>,
}

impl SyntheticDag {
    fn step(&self, key: &[u64]) -> StepCost {
        let mut parts = vec![self.seed];
        parts.extend_from_slice(key);
        StepCost {
            name: format!("step {key:?}"),
            layer: None,
            sharing: None,
            price: Price {
                bytes_sent: [hash(&parts) % 100_000, 0],
                flights: vec![Flight::P0],
                and_gates: 0,
                demand: Demand::new(),
            },
            work: Work::default(),
            setup_bytes: [0, 0],
        }
    }

    fn sharing_of(a: &Assignment, v: usize) -> Sharing {
        a.value_sharing(v).unwrap()
    }
}

impl Chain for SyntheticDag {
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
    fn input_steps(&self, first: Sharing, _batch: usize) -> Result<Vec<StepCost>> {
        Ok(vec![self.step(&[1, code(first)])])
    }
    fn layer_steps(
        &self,
        i: usize,
        _prev: Sharing,
        _convert: &[Conversion],
        sharing: Sharing,
        batch: usize,
    ) -> Result<Vec<StepCost>> {
        self.body_steps(i, sharing, batch)
    }
    fn body_steps(&self, i: usize, sharing: Sharing, _batch: usize) -> Result<Vec<StepCost>> {
        Ok(vec![self.step(&[2, i as u64, code(sharing)])])
    }
    fn value_steps(
        &self,
        v: usize,
        from: Sharing,
        to: Sharing,
        _batch: usize,
    ) -> Result<Vec<StepCost>> {
        Ok(vec![self.step(&[3, v as u64, code(from), code(to)])])
    }
    fn head_steps(
        &self,
        last: Sharing,
        head: Option<&Placement>,
        output: Output,
        _batch: usize,
    ) -> Result<Vec<StepCost>> {
        let (h, r) = head.map_or((0, 0), |p| {
            (
                code(p.sharing),
                hash(
                    &p.convert
                        .iter()
                        .map(|c| c.name().len() as u64 + code(c.endpoints().0))
                        .collect::<Vec<_>>(),
                ),
            )
        });
        Ok(vec![self.step(&[
            4,
            code(last),
            h,
            r,
            u64::from(output == Output::Label),
        ])])
    }
    fn inputs(&self, i: usize) -> Vec<usize> {
        self.inputs[i].clone()
    }
    fn outputs(&self) -> Vec<usize> {
        self.outputs.clone()
    }
    fn output_steps(&self, k: usize, from: Sharing, _batch: usize) -> Result<Vec<StepCost>> {
        Ok(vec![self.step(&[5, k as u64, code(from)])])
    }
    /// The program's price: the input, every body, every value once per sharing its
    /// readers run in, the head of the first output, every other output's reveal.
    fn run_steps(&self, a: &Assignment, batch: usize) -> Option<Result<Vec<StepCost>>> {
        let n = self.options.len();
        let input = Self::sharing_of(a, 0);
        let mut out = self.input_steps(input, batch).ok()?;
        for (i, p) in a.layers.iter().enumerate() {
            out.extend(self.body_steps(i, p.sharing, batch).ok()?);
        }
        for v in 0..=n {
            let targets: SharingSet = (0..n)
                .filter(|&i| self.inputs[i].contains(&v))
                .map(|i| a.layers[i].sharing)
                .collect();
            for t in targets {
                out.extend(self.value_steps(v, Self::sharing_of(a, v), t, batch).ok()?);
            }
        }
        for (k, &v) in self.outputs.iter().enumerate() {
            let from = Self::sharing_of(a, v);
            out.extend(if k == 0 {
                self.head_steps(from, a.head.as_ref(), a.output, batch)
                    .ok()?
            } else {
                self.output_steps(k, from, batch).ok()?
            });
        }
        Some(Ok(out))
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    /// With output prices that depend on the sharing, the DAG planner's optimum is the
    /// brute-force optimum over every assignment (input and layer sharings, the head
    /// and its route from the first output's sharing) of up to 8 nodes and several
    /// outputs.
    #[test]
    fn dag_planner_charges_every_output_where_it_is_produced(
        seed in any::<u64>(),
        n in 1usize..=7,
        masks in proptest::collection::vec(1u8..8, 7),
        picks in proptest::collection::vec((0usize..8, 0usize..8), 7),
        extra in proptest::collection::vec(0usize..8, 1..=3),
        logits in any::<bool>(),
    ) {
        let options: Vec<Vec<Sharing>> = masks[..n]
            .iter()
            .map(|m| SHARINGS.into_iter().enumerate().filter(|(k, _)| m >> k & 1 == 1).map(|(_, s)| s).collect())
            .collect();
        // Layer i reads the previous value and sometimes an earlier one.
        let inputs: Vec<Vec<usize>> = (0..n)
            .map(|i| {
                let (a, b) = picks[i];
                let mut ins = vec![i];
                if a % 2 == 1 {
                    ins.push(b % (i + 1));
                }
                ins
            })
            .collect();
        // Outputs: every value nobody reads (the last one included), then `extra`.
        let mut outputs: Vec<usize> = (1..=n)
            .filter(|&v| !inputs.iter().any(|ins| ins.contains(&v)))
            .collect();
        outputs.extend(extra.iter().map(|&e| e % (n + 1)));
        let len = outputs.len();
        outputs.rotate_left(extra[0] % len);
        let chain = SyntheticDag { seed, inputs, options, outputs };
        prop_assume!(!chain.is_chain());
        let cal = Calibration::default_embedded().unwrap();
        let output = if logits { Output::Logits } else { Output::Label };
        let planner = Planner::new(
            &chain,
            TimeModel::new(&cal, NetworkProfile::LAN),
            Objective::Bytes,
            1,
            output,
        )
        .unwrap();
        let auto = planner.solve(Strategy::Auto).unwrap();
        // Brute force: every input and layer sharing, every head and route.
        let mut seqs: Vec<Vec<Sharing>> = SHARINGS.iter().map(|&s| vec![s]).collect();
        for opts in &chain.options {
            seqs = seqs
                .into_iter()
                .flat_map(|p| opts.iter().map(move |&s| [p.clone(), vec![s]].concat()))
                .collect();
        }
        let first = chain.outputs[0];
        let mut best = f64::INFINITY;
        for seq in seqs {
            let layers: Vec<Placement> = (0..n).map(|i| Placement::new(seq[i + 1], Vec::new())).collect();
            let heads: Vec<Option<Placement>> = match output {
                Output::Logits => vec![None],
                Output::Label => [Sharing::B, Sharing::Y]
                    .into_iter()
                    .flat_map(|h| {
                        routes(seq[first], h, 64, 1, 2)
                            .unwrap()
                            .into_iter()
                            .map(move |r| Some(Placement::new(h, r.steps)))
                    })
                    .collect(),
            };
            for head in heads {
                let a = Assignment { layers: layers.clone(), head, output, input: Some(seq[0]), working_set: None };
                let steps = chain.run_steps(&a, 1).unwrap().unwrap();
                best = best.min(planner.run_cost(&steps));
            }
        }
        prop_assert_eq!(auto.objective, best, "auto {:?}", auto.assignment);
    }
}
