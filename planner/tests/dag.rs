//! The DAG planner against brute force and an independent evaluator on random DAGs,
//! against a plain chain DP on chains, on a ResNet-like DAG, and its errors.
#![allow(clippy::unwrap_used)]

use std::cell::Cell;

use proptest::prelude::*;
use tessera_conversions::Sharing;
use tessera_planner::Error;
use tessera_planner::assign::SHARINGS;
use tessera_planner::dag::{
    Dag, DagCosts, DagNode, DagSolution, Limits, SharingSet, brute_force, evaluate, solve,
    solve_with,
};

use Sharing::{A, B, Y};

/// splitmix64.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut x = self.0;
        x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        x ^ (x >> 31)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    fn chance(&mut self, num: u64, den: u64) -> bool {
        self.below(den) < num
    }
    fn shuffle<T>(&mut self, v: &mut [T]) {
        for i in (1..v.len()).rev() {
            let j = self.below(i as u64 + 1) as usize;
            v.swap(i, j);
        }
    }
}

fn idx(s: Sharing) -> usize {
    SHARINGS.iter().position(|&x| x == s).unwrap()
}

fn mask(t: SharingSet) -> usize {
    t.iter().map(|s| 1 << idx(s)).sum()
}

fn set_of_mask(m: usize) -> SharingSet {
    SHARINGS
        .iter()
        .enumerate()
        .filter(|&(i, _)| m & (1 << i) != 0)
        .map(|(_, &s)| s)
        .collect()
}

/// For each node, the target sets its consumers can make (bit `m` for the set of
/// mask `m`), by enumerating every choice of sharings for them; `{∅}` for an output.
fn independent_target_sets(nodes: &[DagNode]) -> Vec<u8> {
    fn walk(options: &[SharingSet], so_far: usize, out: &mut u8) {
        match options.split_first() {
            None => *out |= 1 << so_far,
            Some((first, rest)) => {
                for s in *first {
                    walk(rest, so_far | 1 << idx(s), out);
                }
            }
        }
    }
    (0..nodes.len())
        .map(|v| {
            let readers: Vec<SharingSet> = nodes
                .iter()
                .filter(|d| d.inputs.contains(&v))
                .map(|d| d.options)
                .collect();
            let mut out = 0;
            walk(&readers, 0, &mut out);
            out
        })
        .collect()
}

/// Costs from tables; checks the contract of the calls (allowed sharing, a target
/// set the consumers can make: the own sharing allowed, empty only for an output)
/// and counts them.
struct Table {
    options: Vec<SharingSet>,
    /// Possible target sets per node ([`independent_target_sets`]).
    target_sets: Vec<u8>,
    node: Vec<[f64; 3]>,
    /// `value[v][from][targets mask]`.
    value: Vec<[[f64; 8]; 3]>,
    calls: Cell<usize>,
}

impl DagCosts for Table {
    fn node_cost(&self, node: usize, s: Sharing) -> f64 {
        assert!(
            self.options[node].contains(s),
            "asked for a disallowed sharing"
        );
        self.calls.set(self.calls.get() + 1);
        self.node[node][idx(s)]
    }
    fn value_cost(&self, node: usize, from: Sharing, targets: SharingSet) -> f64 {
        assert!(
            self.options[node].contains(from),
            "asked for a disallowed sharing"
        );
        assert!(
            self.target_sets[node] & (1 << mask(targets)) != 0,
            "node {node}: {targets:?} is not a possible target set"
        );
        self.calls.set(self.calls.get() + 1);
        self.value[node][idx(from)][mask(targets)]
    }
}

/// A random cost: small integers (many ties) or reals, sometimes +∞.
fn cost(rng: &mut Rng, ints: bool, inf: (u64, u64), scale: u64) -> f64 {
    if rng.chance(inf.0, inf.1) {
        f64::INFINITY
    } else if ints {
        rng.below(4) as f64
    } else {
        rng.below(scale * 1000) as f64 / 1000.0
    }
}

/// Random costs for `nodes`; `value[v][from][targets]` depends on the whole target
/// set, whether `from` is in it included.
fn random_table(rng: &mut Rng, nodes: &[DagNode], inf: (u64, u64)) -> Table {
    let n = nodes.len();
    let ints = rng.chance(1, 2);
    let node = (0..n)
        .map(|_| std::array::from_fn(|_| cost(rng, ints, inf, 100)))
        .collect();
    let value = (0..n)
        .map(|_| std::array::from_fn(|_| std::array::from_fn(|_| cost(rng, ints, inf, 50))))
        .collect();
    Table {
        options: nodes.iter().map(|d| d.options).collect(),
        target_sets: independent_target_sets(nodes),
        node,
        value,
        calls: Cell::new(0),
    }
}

/// The calls `solve` makes: `node_cost` per (node, allowed sharing), `value_cost` per
/// (node, allowed sharing, possible target set), each once.
fn expected_calls(costs: &Table) -> usize {
    costs
        .options
        .iter()
        .zip(&costs.target_sets)
        .map(|(o, t)| o.len() * (1 + t.count_ones() as usize))
        .sum()
}

/// A random DAG: node `i` of a hidden topological order reads 0 to `max_in` earlier
/// nodes (repeats allowed) among the last `window` (all if `None`); then the nodes
/// are renumbered at random.
fn random_nodes(rng: &mut Rng, n: usize, max_in: u64, window: Option<usize>) -> Vec<DagNode> {
    let mut label: Vec<usize> = (0..n).collect();
    rng.shuffle(&mut label);
    let mut nodes = vec![DagNode::new(Vec::new(), SharingSet::ALL); n];
    for i in 0..n {
        let lo = window.map_or(0, |w| i.saturating_sub(w));
        let k = if i == 0 { 0 } else { rng.below(max_in + 1) };
        let inputs = (0..k)
            .map(|_| label[lo + rng.below((i - lo) as u64) as usize])
            .collect();
        let options = set_of_mask(1 + rng.below(7) as usize);
        nodes[label[i]] = DagNode::new(inputs, options);
    }
    nodes
}

/// The objective of `sharings`, computed from the definition without the crate: the
/// target set of `v` holds the sharing of every node reading it, `s_v` included.
fn independent_cost(nodes: &[DagNode], costs: &Table, sharings: &[Sharing]) -> f64 {
    let mut total = 0.0;
    for (v, &s) in sharings.iter().enumerate() {
        let mut targets = SharingSet::EMPTY;
        for (c, node) in nodes.iter().enumerate() {
            if node.inputs.contains(&v) {
                targets.insert(sharings[c]);
            }
        }
        total += costs.node[v][idx(s)] + costs.value[v][idx(s)][mask(targets)];
    }
    total
}

fn close(a: f64, b: f64) -> bool {
    a == b || (a - b).abs() <= 1e-9 * a.abs().max(b.abs())
}

fn check_solution(nodes: &[DagNode], costs: &Table, sol: &DagSolution) {
    assert_eq!(sol.sharings.len(), nodes.len());
    for (v, &s) in sol.sharings.iter().enumerate() {
        assert!(
            nodes[v].options.contains(s),
            "node {v} in a disallowed {s:?}"
        );
    }
    let again = independent_cost(nodes, costs, &sol.sharings);
    assert!(
        close(again, sol.cost),
        "reported {} recomputed {again}",
        sol.cost
    );
}

fn is_infeasible(e: &Error) -> bool {
    matches!(e, Error::Plan(m) if m.contains("no assignment of finite cost"))
}

/// `solve` and `brute_force` agree on one random case; returns whether it was
/// feasible.
fn compare_with_brute_force(seed: u64, max_nodes: u64) -> bool {
    let mut rng = Rng(seed);
    let n = 1 + rng.below(max_nodes) as usize;
    let max_in = 1 + rng.below(3);
    let nodes = random_nodes(&mut rng, n, max_in, None);
    let inf = match rng.below(4) {
        0 => (0, 1),
        1 => (1, 20),
        2 => (1, 6),
        _ => (1, 2),
    };
    let costs = random_table(&mut rng, &nodes, inf);
    let dag = Dag::new(nodes.clone()).unwrap();
    for v in 0..n {
        let sets: u8 = dag.target_sets(v).map(|t| 1 << mask(t)).sum();
        assert_eq!(sets, costs.target_sets[v], "target sets of node {v}");
    }
    // Each cost once per (node, sharing) and (node, sharing, possible target set):
    // at most 3 + 3 × 7 per node.
    let dp = solve(&dag, &costs);
    assert_eq!(costs.calls.get(), expected_calls(&costs));
    assert!(costs.calls.get() <= 24 * n);
    let bf = brute_force(&dag, &costs);
    match (dp, bf) {
        (Ok(dp), Ok(bf)) => {
            check_solution(&nodes, &costs, &dp);
            check_solution(&nodes, &costs, &bf);
            assert!(
                close(dp.cost, bf.cost),
                "dp {} brute force {}",
                dp.cost,
                bf.cost
            );
            assert!(dp.cost.is_finite());
            // Deterministic.
            assert_eq!(solve(&dag, &costs).unwrap(), dp);
            true
        }
        (Err(a), Err(b)) => {
            assert!(is_infeasible(&a), "{a}");
            assert!(is_infeasible(&b), "{b}");
            false
        }
        (a, b) => panic!("dp {a:?} vs brute force {b:?}"),
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(600))]

    /// The DP's optimum equals the exhaustive one on random DAGs of at most 8 nodes.
    #[test]
    fn solve_equals_brute_force_on_random_dags(seed in any::<u64>()) {
        compare_with_brute_force(seed, 8);
    }

    /// On chains (in shuffled numbering), the DP equals a plain chain DP; and brute
    /// force when short.
    #[test]
    fn solve_equals_chain_dp_on_chains(seed in any::<u64>()) {
        let mut rng = Rng(seed);
        let n = 1 + rng.below(40) as usize;
        let mut label: Vec<usize> = (0..n).collect();
        rng.shuffle(&mut label);
        let mut nodes = vec![DagNode::new(Vec::new(), SharingSet::ALL); n];
        for i in 0..n {
            let inputs = if i == 0 { vec![] } else { vec![label[i - 1]; 1 + rng.below(2) as usize] };
            nodes[label[i]] = DagNode::new(inputs, set_of_mask(1 + rng.below(7) as usize));
        }
        let inf = if rng.chance(1, 2) { (0, 1) } else { (1, 8) };
        let costs = random_table(&mut rng, &nodes, inf);
        let dag = Dag::new(nodes.clone()).unwrap();
        prop_assert_eq!(dag.width(), usize::from(n > 1));

        // Chain DP: best[s] = cheapest prefix ending in position i with sharing s,
        // every value before i paid. A value's target set is its reader's sharing
        // (even when equal to its own), or empty for the last node.
        let vc = |i: usize, from: Sharing, to: Option<Sharing>| {
            let m = to.map_or(0, |t| 1 << idx(t));
            costs.value[label[i]][idx(from)][m]
        };
        let mut best: Vec<(Sharing, f64)> = nodes[label[0]]
            .options
            .iter()
            .map(|s| (s, costs.node[label[0]][idx(s)]))
            .collect();
        for i in 1..n {
            best = nodes[label[i]]
                .options
                .iter()
                .map(|s| {
                    let c = best
                        .iter()
                        .map(|&(p, c)| c + vc(i - 1, p, Some(s)))
                        .fold(f64::INFINITY, f64::min);
                    (s, c + costs.node[label[i]][idx(s)])
                })
                .collect();
        }
        let chain_opt = best
            .iter()
            .map(|&(s, c)| c + vc(n - 1, s, None))
            .fold(f64::INFINITY, f64::min);

        match solve(&dag, &costs) {
            Ok(sol) => {
                check_solution(&nodes, &costs, &sol);
                prop_assert!(close(sol.cost, chain_opt), "dag {} chain {}", sol.cost, chain_opt);
            }
            Err(e) => {
                prop_assert!(is_infeasible(&e), "{}", e);
                prop_assert!(chain_opt == f64::INFINITY);
            }
        }
        if n <= 10 {
            match brute_force(&dag, &costs) {
                Ok(bf) => prop_assert!(close(bf.cost, chain_opt)),
                Err(e) => prop_assert!(is_infeasible(&e) && chain_opt == f64::INFINITY),
            }
        }
    }

    /// On larger random DAGs of bounded frontier (beyond brute force), the optimum
    /// does not depend on the numbering, and no change of one node's sharing
    /// improves it.
    #[test]
    fn solve_is_invariant_and_locally_optimal_on_larger_dags(seed in any::<u64>()) {
        let mut rng = Rng(seed);
        let n = 10 + rng.below(50) as usize;
        let nodes = random_nodes(&mut rng, n, 3, Some(3));
        let costs = random_table(&mut rng, &nodes, (1, 30));
        let dag = Dag::new(nodes.clone()).unwrap();
        let sol = match solve(&dag, &costs) {
            Ok(sol) => sol,
            Err(e) => {
                prop_assert!(is_infeasible(&e), "{}", e);
                return Ok(());
            }
        };
        check_solution(&nodes, &costs, &sol);
        assert_locally_optimal(&dag, &costs, &sol);

        // Renumber and solve again.
        let mut perm: Vec<usize> = (0..n).collect();
        rng.shuffle(&mut perm);
        let mut renamed = vec![DagNode::new(Vec::new(), SharingSet::ALL); n];
        let mut table = Table {
            options: vec![SharingSet::ALL; n],
            target_sets: vec![0; n],
            node: vec![[0.0; 3]; n],
            value: vec![[[0.0; 8]; 3]; n],
            calls: Cell::new(0),
        };
        for v in 0..n {
            renamed[perm[v]] =
                DagNode::new(nodes[v].inputs.iter().map(|&u| perm[u]).collect(), nodes[v].options);
            table.options[perm[v]] = costs.options[v];
            table.node[perm[v]] = costs.node[v];
            table.value[perm[v]] = costs.value[v];
        }
        table.target_sets = independent_target_sets(&renamed);
        let sol2 = solve(&Dag::new(renamed.clone()).unwrap(), &table).unwrap();
        check_solution(&renamed, &table, &sol2);
        prop_assert!(close(sol.cost, sol2.cost), "{} vs {}", sol.cost, sol2.cost);
    }
}

/// No single node can change its sharing for a cheaper assignment (a necessary
/// condition of optimality, checkable on any size).
fn assert_locally_optimal(dag: &Dag, costs: &dyn DagCosts, sol: &DagSolution) {
    let mut s = sol.sharings.clone();
    for v in 0..dag.len() {
        let keep = s[v];
        for alt in dag.nodes()[v].options {
            s[v] = alt;
            let c = evaluate(dag, costs, &s).unwrap();
            assert!(
                c >= sol.cost - 1e-9 * sol.cost.abs(),
                "node {v} in {alt:?} gives {c} < {}",
                sol.cost
            );
        }
        s[v] = keep;
    }
}

/// The deterministic sweep behind the property test, with counts: enough cases are
/// feasible and enough are not.
#[test]
fn brute_force_sweep_covers_feasible_and_infeasible_cases() {
    let mut feasible = 0;
    let total = 400;
    for seed in 0..total {
        if compare_with_brute_force(seed * 7919 + 1, 8) {
            feasible += 1;
        }
    }
    assert!(feasible > total / 2, "{feasible} of {total} feasible");
    assert!(feasible < total, "no infeasible case");
}

/// ResNet-like costs: linear layers cheap in A, ReLU only in Boolean sharings,
/// conversions priced per target.
struct ResNetCosts {
    ops: Vec<&'static str>,
}

fn convert(from: Sharing, to: Sharing) -> f64 {
    match (from, to) {
        (A, B) => 8.0,
        (A, Y) => 6.0,
        (B, A) => 7.0,
        (Y, A) => 9.0,
        (B, Y) => 4.0,
        (Y, B) => 0.5,
        _ => 0.0,
    }
}

impl DagCosts for ResNetCosts {
    fn node_cost(&self, node: usize, s: Sharing) -> f64 {
        match (self.ops[node], s) {
            ("input", _) => 0.0,
            ("conv" | "fc", A) => 1.0,
            ("conv" | "fc", B) => 500.0,
            ("conv" | "fc", Y) => 300.0,
            ("relu", B) => 20.0,
            ("relu", Y) => 10.0,
            ("add", A) => 0.01,
            ("add", B) => 5.0,
            ("add", Y) => 3.0,
            ("argmax", B) => 30.0,
            ("argmax", Y) => 12.0,
            _ => f64::INFINITY,
        }
    }
    fn value_cost(&self, _node: usize, from: Sharing, targets: SharingSet) -> f64 {
        targets.iter().map(|t| convert(from, t)).sum()
    }
}

/// input → conv → relu → `blocks` × [conv → relu → conv → add(skip) → relu] → fc →
/// argmax: 3 + 5·blocks + 2 nodes.
fn resnet(blocks: usize) -> (Vec<DagNode>, ResNetCosts) {
    let all = SharingSet::ALL;
    let boolean = SharingSet::of(&[B, Y]);
    let mut nodes = Vec::new();
    let mut ops = Vec::new();
    let mut push = |op: &'static str, inputs: Vec<usize>, options| {
        nodes.push(DagNode::new(inputs, options));
        ops.push(op);
        nodes.len() - 1
    };
    let x = push("input", vec![], all);
    let c = push("conv", vec![x], all);
    let mut h = push("relu", vec![c], boolean);
    for _ in 0..blocks {
        let c1 = push("conv", vec![h], all);
        let r1 = push("relu", vec![c1], boolean);
        let c2 = push("conv", vec![r1], all);
        let a = push("add", vec![c2, h], all);
        h = push("relu", vec![a], boolean);
    }
    let f = push("fc", vec![h], all);
    push("argmax", vec![f], boolean);
    (nodes, ResNetCosts { ops })
}

#[test]
fn resnet_like_dag_of_100_nodes_solves() {
    let (nodes, costs) = resnet(19);
    assert_eq!(nodes.len(), 100);
    let dag = Dag::new(nodes).unwrap();
    assert!(dag.width() <= 2, "width {}", dag.width());
    let sol = solve(&dag, &costs).unwrap();
    assert!(sol.cost.is_finite());
    assert_eq!(evaluate(&dag, &costs, &sol.sharings).unwrap(), sol.cost);
    assert_locally_optimal(&dag, &costs, &sol);
    // With these prices every linear layer runs in A and every ReLU in Y.
    for (v, &s) in sol.sharings.iter().enumerate() {
        match costs.ops[v] {
            "conv" | "fc" => assert_eq!(s, A, "node {v}"),
            "relu" | "argmax" => assert_eq!(s, Y, "node {v}"),
            _ => {}
        }
    }
    // No worse than the usual baselines: all in Y; linear in A and the rest in Y.
    let pure_y = vec![Y; dag.len()];
    assert!(sol.cost <= evaluate(&dag, &costs, &pure_y).unwrap());
    let a_plus_y: Vec<Sharing> = costs
        .ops
        .iter()
        .map(|op| match *op {
            "relu" | "argmax" => Y,
            _ => A,
        })
        .collect();
    assert!(sol.cost <= evaluate(&dag, &costs, &a_plus_y).unwrap());
}

#[test]
fn shared_conversion_is_paid_once_per_target() {
    // 0 is read by three nodes that must run in Y: one conversion A→Y, not three.
    let nodes = vec![
        DagNode::new(vec![], SharingSet::single(A)),
        DagNode::new(vec![0], SharingSet::single(Y)),
        DagNode::new(vec![0, 0], SharingSet::single(Y)),
        DagNode::new(vec![0], SharingSet::single(Y)),
    ];
    let dag = Dag::new(nodes).unwrap();
    let costs = ResNetCosts {
        ops: vec!["input"; 4],
    };
    let sol = solve(&dag, &costs).unwrap();
    assert_eq!(sol.sharings, vec![A, Y, Y, Y]);
    assert_eq!(sol.cost, convert(A, Y));
}

/// A fixed-point accumulator (node 0, in A) read by an addition (node 1, A or Y)
/// and a ReLU (node 2, Y only); 1 and 2 are outputs. The accumulator must be
/// truncated, at cost `trunc`, if some consumer runs in A; a conversion A → Y costs
/// 6, once.
struct Accumulator {
    trunc: f64,
    asked: std::cell::RefCell<Vec<(usize, Sharing, SharingSet)>>,
}

impl Accumulator {
    fn new(trunc: f64) -> Accumulator {
        Accumulator {
            trunc,
            asked: std::cell::RefCell::new(Vec::new()),
        }
    }
}

impl DagCosts for Accumulator {
    fn node_cost(&self, node: usize, s: Sharing) -> f64 {
        match (node, s) {
            (0, A) => 0.0,
            (1, A) => 1.0,
            (1, Y) => 3.0,
            (2, Y) => 2.0,
            _ => panic!("node {node} cannot run in {s:?}"),
        }
    }
    fn value_cost(&self, node: usize, from: Sharing, targets: SharingSet) -> f64 {
        self.asked.borrow_mut().push((node, from, targets));
        if node != 0 {
            // Outputs: priced by node_cost.
            assert!(targets.is_empty());
            return 0.0;
        }
        let truncation = if targets.contains(A) { self.trunc } else { 0.0 };
        let conversion = if targets.contains(Y) { 6.0 } else { 0.0 };
        truncation + conversion
    }
}

#[test]
fn truncation_is_paid_only_for_a_consumer_in_the_own_sharing() {
    let nodes = vec![
        DagNode::new(vec![], SharingSet::single(A)),
        DagNode::new(vec![0], SharingSet::of(&[A, Y])),
        DagNode::new(vec![0], SharingSet::single(Y)),
    ];
    let dag = Dag::new(nodes).unwrap();
    // The accumulator is asked with its own sharing among the targets or not; the
    // outputs with the empty set.
    let costs = Accumulator::new(5.0);
    solve(&dag, &costs).unwrap();
    let mut asked = costs.asked.borrow().clone();
    asked.sort_by_key(|&(v, s, t)| (v, idx(s), mask(t)));
    assert_eq!(
        asked,
        vec![
            (0, A, SharingSet::single(Y)),
            (0, A, SharingSet::of(&[A, Y])),
            (1, A, SharingSet::EMPTY),
            (1, Y, SharingSet::EMPTY),
            (2, Y, SharingSet::EMPTY),
        ]
    );

    // Addition in A: 1 + 2 + truncation + one conversion; in Y: 3 + 2 + the same
    // conversion, no truncation (every consumer in Y).
    for (trunc, best) in [(5.0, vec![A, Y, Y]), (1.0, vec![A, A, Y])] {
        let costs = Accumulator::new(trunc);
        assert_eq!(evaluate(&dag, &costs, &[A, A, Y]).unwrap(), 9.0 + trunc);
        assert_eq!(evaluate(&dag, &costs, &[A, Y, Y]).unwrap(), 11.0);
        let sol = solve(&dag, &costs).unwrap();
        assert_eq!(sol.sharings, best, "truncation {trunc}");
        assert_eq!(sol.cost, f64::min(9.0 + trunc, 11.0));
        assert_eq!(brute_force(&dag, &costs).unwrap(), sol);
    }

    // Truncation before an A consumer also when there is no conversion at all:
    // 0 (A) → 1 (A) pays it, and an accumulator nobody reads does not.
    let chain = Dag::new(vec![
        DagNode::new(vec![], SharingSet::single(A)),
        DagNode::new(vec![0], SharingSet::single(A)),
    ])
    .unwrap();
    assert_eq!(solve(&chain, &Accumulator::new(5.0)).unwrap().cost, 6.0);
    let alone = Dag::new(vec![DagNode::new(vec![], SharingSet::single(A))]).unwrap();
    assert_eq!(solve(&alone, &Accumulator::new(5.0)).unwrap().cost, 0.0);
}

/// The DP keeps apart partial assignments that differ only in whether a reader ran
/// in the producer's own sharing. Value 0 (in A) is read by 1, 2 and 3, processed in
/// that order. After 1 and 2, "1 in A, 2 in Y" (cost 3) and "1 in Y, 2 in Y" (cost
/// 7) both have Y among the targets; a state without the own-sharing bit would merge
/// them and keep the first, which must pay the truncation (10) at the end: with 3
/// free to run in Y the optimum is the second (8.5), not 14.5.
#[test]
fn own_sharing_among_the_targets_is_part_of_the_state() {
    struct Costs;
    impl DagCosts for Costs {
        fn node_cost(&self, node: usize, s: Sharing) -> f64 {
            match (node, s) {
                (0, _) => 0.0,
                (1, A) => 0.0,
                (1, Y) => 4.0,
                (2, A) => 0.0,
                (2, Y) => 3.0,
                (3, A) => 0.0,
                _ => f64::INFINITY,
            }
        }
        fn value_cost(&self, node: usize, from: Sharing, targets: SharingSet) -> f64 {
            if node != 0 {
                return 0.0;
            }
            assert_eq!(from, A);
            let truncation = if targets.contains(A) { 10.0 } else { 0.0 };
            let conversion = if targets.contains(Y) { 1.0 } else { 0.0 };
            truncation + conversion
        }
    }
    // 0 read by 1, 2 and 3 (3 must run in A, so truncation is always due).
    let nodes = vec![
        DagNode::new(vec![], SharingSet::single(A)),
        DagNode::new(vec![0], SharingSet::of(&[A, Y])),
        DagNode::new(vec![0], SharingSet::of(&[A, Y])),
        DagNode::new(vec![0], SharingSet::single(A)),
    ];
    let dag = Dag::new(nodes.clone()).unwrap();
    let sol = solve(&dag, &Costs).unwrap();
    assert_eq!(sol.sharings, vec![A, A, A, A]);
    assert_eq!(sol.cost, 10.0);
    assert_eq!(brute_force(&dag, &Costs).unwrap(), sol);
    // Without the forced A reader, running 1 and 2 in Y avoids the truncation.
    let mut free = nodes;
    free[3] = DagNode::new(vec![0], SharingSet::of(&[A, Y]));
    struct Free;
    impl DagCosts for Free {
        fn node_cost(&self, node: usize, s: Sharing) -> f64 {
            match (node, s) {
                (3, Y) => 0.5,
                _ => Costs.node_cost(node, s),
            }
        }
        fn value_cost(&self, node: usize, from: Sharing, targets: SharingSet) -> f64 {
            Costs.value_cost(node, from, targets)
        }
    }
    let dag = Dag::new(free).unwrap();
    assert_eq!(dag.order(), &[0, 1, 2, 3]);
    let sol = solve(&dag, &Free).unwrap();
    assert_eq!(sol.sharings, vec![A, Y, Y, Y]);
    assert_eq!(sol.cost, 4.0 + 3.0 + 0.5 + 1.0);
    assert_eq!(brute_force(&dag, &Free).unwrap(), sol);
}

#[test]
fn empty_dag_costs_nothing() {
    let dag = Dag::new(vec![]).unwrap();
    let costs = ResNetCosts { ops: vec![] };
    let sol = solve(&dag, &costs).unwrap();
    assert!(sol.sharings.is_empty());
    assert_eq!(sol.cost, 0.0);
    assert_eq!(brute_force(&dag, &costs).unwrap(), sol);
}

fn plan_error(e: Error) -> String {
    match e {
        Error::Plan(m) => m,
        other => panic!("expected a plan error, got {other:?}"),
    }
}

#[test]
fn cycles_are_rejected() {
    let all = SharingSet::ALL;
    let self_loop = vec![DagNode::new(vec![], all), DagNode::new(vec![0, 1], all)];
    let e = plan_error(Dag::new(self_loop).unwrap_err());
    assert!(e.contains("cycle: 1 → 1"), "{e}");
    let longer = vec![
        DagNode::new(vec![2], all),
        DagNode::new(vec![0], all),
        DagNode::new(vec![1], all),
        DagNode::new(vec![], all),
    ];
    let e = plan_error(Dag::new(longer).unwrap_err());
    assert!(e.contains("cycle: 0 → 1 → 2 → 0"), "{e}");
}

#[test]
fn out_of_range_inputs_and_empty_options_are_rejected() {
    let e = plan_error(
        Dag::new(vec![
            DagNode::new(vec![], SharingSet::ALL),
            DagNode::new(vec![0, 7], SharingSet::ALL),
        ])
        .unwrap_err(),
    );
    assert!(e.contains("node 1 reads node 7"), "{e}");
    let e = plan_error(
        Dag::new(vec![
            DagNode::new(vec![], SharingSet::ALL),
            DagNode::new(vec![0], SharingSet::EMPTY),
        ])
        .unwrap_err(),
    );
    assert!(e.contains("node 1 has no allowed sharing"), "{e}");
}

struct Constant(f64);

impl DagCosts for Constant {
    fn node_cost(&self, _node: usize, _s: Sharing) -> f64 {
        self.0
    }
    fn value_cost(&self, _node: usize, _from: Sharing, _targets: SharingSet) -> f64 {
        0.0
    }
}

#[test]
fn infeasible_and_invalid_costs_are_errors() {
    let (nodes, _) = resnet(1);
    let dag = Dag::new(nodes).unwrap();
    let e = solve(&dag, &Constant(f64::INFINITY)).unwrap_err();
    assert!(is_infeasible(&e), "{e}");
    assert!(is_infeasible(
        &brute_force(&dag, &Constant(f64::INFINITY)).unwrap_err()
    ));
    // Conversions impossible where they are needed: ReLU cannot follow an A input.
    let nodes = vec![
        DagNode::new(vec![], SharingSet::single(A)),
        DagNode::new(vec![0], SharingSet::of(&[B, Y])),
    ];
    struct NoConversion;
    impl DagCosts for NoConversion {
        fn node_cost(&self, _: usize, _: Sharing) -> f64 {
            1.0
        }
        fn value_cost(&self, _: usize, from: Sharing, t: SharingSet) -> f64 {
            if t.is_subset(SharingSet::single(from)) {
                0.0
            } else {
                f64::INFINITY
            }
        }
    }
    let e = solve(&Dag::new(nodes).unwrap(), &NoConversion).unwrap_err();
    assert!(is_infeasible(&e), "{e}");
    let e = plan_error(solve(&dag, &Constant(f64::NAN)).unwrap_err());
    assert!(e.contains("NaN"), "{e}");
    let e = plan_error(solve(&dag, &Constant(f64::NEG_INFINITY)).unwrap_err());
    assert!(e.contains("-inf"), "{e}");
}

/// `width` sources all read by one node: the frontier holds `width` values.
fn star(width: usize) -> Dag {
    let mut nodes = vec![DagNode::new(vec![], SharingSet::ALL); width];
    nodes.push(DagNode::new((0..width).collect(), SharingSet::ALL));
    Dag::new(nodes).unwrap()
}

#[test]
fn too_wide_frontiers_are_refused_quickly() {
    let costs = Constant(1.0);
    // Small ones solve.
    let sol = solve(&star(6), &costs).unwrap();
    assert_eq!(sol.cost, 7.0);
    // Past the state limit (3^k states after k sources).
    let limits = Limits {
        max_states: 1000,
        ..Limits::default()
    };
    match solve_with(&star(8), &costs, limits) {
        Err(Error::TooWide { width, reason }) => {
            assert_eq!(width, 8);
            assert!(reason.contains("more than 1000 DP states"), "{reason}");
        }
        other => panic!("{other:?}"),
    }
    // Past the total limit.
    let limits = Limits {
        max_total_states: 100,
        ..Limits::default()
    };
    assert!(matches!(
        solve_with(&star(6), &costs, limits),
        Err(Error::TooWide { .. })
    ));
    // The default limit, reached without hanging.
    let start = std::time::Instant::now();
    let e = solve(&star(20), &costs).unwrap_err();
    assert!(matches!(e, Error::TooWide { width: 20, .. }), "{e}");
    assert!(e.to_string().contains("4194304"), "{e}");
    assert!(start.elapsed().as_secs() < 60);
    // More live values than a state can hold: refused before the DP.
    let e = solve(&star(40), &costs).unwrap_err();
    assert!(matches!(e, Error::TooWide { .. }), "{e}");
    assert!(e.to_string().contains("at most 25"), "{e}");
}

#[test]
fn narrow_wide_frontiers_of_fixed_sharings_solve() {
    // 25 live values (as many as a state holds), but each has one sharing: few
    // states.
    let mut nodes = vec![DagNode::new(vec![], SharingSet::single(A)); 25];
    nodes.push(DagNode::new((0..25).collect(), SharingSet::single(A)));
    let dag = Dag::new(nodes).unwrap();
    assert_eq!(dag.width(), 25);
    assert_eq!(solve(&dag, &Constant(1.0)).unwrap().cost, 26.0);
    // One more does not fit a state.
    let mut nodes = vec![DagNode::new(vec![], SharingSet::single(A)); 26];
    nodes.push(DagNode::new((0..26).collect(), SharingSet::single(A)));
    let e = solve(&Dag::new(nodes).unwrap(), &Constant(1.0)).unwrap_err();
    assert!(matches!(e, Error::TooWide { width: 26, .. }), "{e}");
}

#[test]
fn brute_force_refuses_large_dags() {
    let (nodes, costs) = resnet(2);
    let dag = Dag::new(nodes).unwrap();
    assert_eq!(dag.len(), 15);
    match brute_force(&dag, &costs) {
        Err(Error::Usage(m)) => assert!(m.contains("limited to 12 nodes"), "{m}"),
        other => panic!("{other:?}"),
    }
}

#[test]
fn evaluate_checks_the_assignment() {
    let (nodes, costs) = resnet(1);
    let dag = Dag::new(nodes).unwrap();
    let e = plan_error(evaluate(&dag, &costs, &[A]).unwrap_err());
    assert!(e.contains("1 sharings for a DAG of 10 nodes"), "{e}");
    let e = plan_error(evaluate(&dag, &costs, &[A; 10]).unwrap_err());
    assert!(e.contains("node 2 cannot run in A"), "{e}");
}
