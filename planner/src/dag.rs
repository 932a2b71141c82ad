//! Exact optimal assignment of sharings to the nodes of a DAG, on abstract costs.
//!
//! [`crate::assign`] plans chains; this module solves the same problem for a
//! directed acyclic graph (residual blocks, concatenations, a value read by several
//! operators), independently of the engine: the caller prices nodes and values
//! through [`DagCosts`], and [`solve`] returns an assignment of minimum total cost.
//!
//! # The problem
//! Node `v` of a [`Dag`] computes one value from the values of its `inputs` and may
//! run in any sharing of its `options`. An assignment `s` chooses one sharing `s_v`
//! per node. The value of `v` is priced from its own sharing and the *set* of
//! sharings its consumers run in,
//!
//! ```text
//! T_v = { s_c : c reads v }          (s_v ∈ T_v iff some consumer runs in s_v)
//! ```
//!
//! not from the number of consumers: a value read in other sharings is converted
//! once per target sharing and the converted value is reused, and work the value
//! needs before it is used in its own sharing is done once too. The own sharing is
//! part of `T_v` because that work can depend on it: a fixed-point accumulator
//! produced in A must be truncated (an interactive step) if some consumer runs in A,
//! but not if every consumer runs in B or Y. `T_v` is empty exactly when nobody
//! reads `v`, i.e. for a graph output that no node reads. Whatever an output costs by
//! itself (revealing it from the sharing it is produced in) is a function of
//! `(v, s_v)` and belongs in `node_cost` (see [`DagCosts::value_cost`]) — also for an
//! output that later nodes read, whose `T_v` is not empty: its readers' conversions are
//! priced by `value_cost` as for any value, its reveal by `node_cost`, and a graph may
//! have any number of outputs. The objective is additive:
//!
//! ```text
//! cost(s) = Σ_v node_cost(v, s_v) + Σ_v value_cost(v, s_v, T_v)
//! ```
//!
//! Either term may be `+∞` for an impossible combination. On a chain this is the
//! objective of [`crate::assign`] without the clock-skew refinement.
//!
//! # Algorithm: a dynamic program over the frontier
//! The nodes are processed one at a time in a topological order ([`Dag::order`]).
//! After `i` steps the *frontier* is the set of values already produced that some
//! unprocessed node still reads. A DP state records, for each frontier value `u`, its
//! sharing `s_u` and the set of sharings its processed readers chose so far, `s_u`
//! included if one of them chose it: 3 × 8 = 24 possibilities per value. Processing
//! node `v` extends every state with every allowed `s_v`: it adds `node_cost(v, s_v)`,
//! adds `s_v` to the target set of each input `u`, and, when `v` is the last reader
//! of `u`, adds `value_cost(u, s_u, T_u)` and drops `u` from the state; a node nobody
//! reads pays `value_cost(v, s_v, ∅)` at once. States that coincide are merged,
//! keeping the cheaper one and a back-pointer, and the back-pointers give the
//! assignment.
//!
//! **Why it is exact.** Every cost term still to be added after step `i` depends only
//! on (a) the choices of unprocessed nodes and (b) for each frontier value, its
//! sharing and the target set its processed readers produced: the node terms of
//! later nodes involve only their own sharings; the value term of a frontier value `u`
//! is `value_cost(u, s_u, T ∪ T′)` with `T` in the state and `T′` made by later
//! readers — and since `T` is the full set, whether `s_u` is in `T ∪ T′` is known
//! from the state and `T′`; values off the frontier are either fully paid or not
//! produced yet. The options of a node do not depend on other nodes. So two partial
//! assignments with the same state have the same completions at the same future
//! cost, and keeping the cheaper one loses no optimum (Bellman's principle, as for
//! the chain DP of [`crate::assign`]). Every assignment follows exactly one path of
//! states whose costs add up to its objective, hence the DP returns an optimum. A
//! state that dropped "`s_u` was chosen by a reader" would merge partial assignments
//! whose completions cost differently, which is why the state holds 24 and not
//! 3 × 4 = 12 possibilities per value. [`brute_force`] checks this on small DAGs.
//!
//! **Complexity.** With `w` the largest frontier of the order, a step holds at most
//! `24^w` states and tries at most 3 sharings per state, so the DP runs in
//! `O(n · 3 · 24^w)` state updates (times the in-degree of the node), with
//! `O(n · 24^w)` back-pointers of 4 bytes. Before the DP starts, each cost is queried
//! once per (node, allowed sharing) and once per (node, allowed sharing, possible
//! target set) ([`Dag::target_sets`]: the sets the node's consumers can produce,
//! at most the 7 non-empty subsets of A, B, Y, or only `∅` for an output), so an
//! expensive pricer (the engine's counters) is called at most `3 + 3 × 7 = 24` times
//! per node, within the 3 × 8 (node, sharing, target set) combinations. The order is
//! chosen greedily to keep the frontier small (below); `w` is the vertex separation
//! of that order, i.e. the width of the path decomposition it induces, the path
//! analogue of the treewidth that bounds tree-decomposition DPs. For the DAGs of
//! neural networks (chains, residual blocks, a few parallel branches) it is 1 to 3,
//! and the DP takes well under a millisecond on 100 nodes (`cargo bench -p
//! tessera-planner --bench dag`). A DAG whose frontier cannot be kept small
//! (roughly, more than 4 live values that may each take every sharing and be read in
//! every sharing) is refused with [`Error::TooWide`] once the state count passes
//! [`Limits`], rather than hanging or running out of memory.
//!
//! # Why not an integer program
//! Ishaq, Milanova and Zikas (*Efficient MPC via Program Analysis: A Framework for
//! Efficient Optimal Mixing*, CCS 2019) solve the same mixing problem as an integer
//! linear program over (node, sharing) indicators and conversion variables, handed
//! to an ILP solver. That handles any graph shape, but it brings a solver dependency
//! (native libraries or a large crate), the solver's tolerances and its own
//! tie-breaking, and an arbitrary set-valued conversion cost needs auxiliary
//! variables per subset of targets. The frontier DP is a few hundred lines of safe
//! Rust with no dependency, exact for the costs it is given (up to the rounding of
//! floating-point sums; no tolerance, no relaxation), deterministic, and fast
//! precisely on the graphs this project plans. Its cost is exponential in the
//! frontier width, which is where an ILP (or a heuristic) would be the fallback;
//! [`Error::TooWide`] is the signal for it.
//!
//! # Choosing the order
//! [`Dag::new`] computes a topological order greedily: among the nodes whose inputs
//! are all processed, it takes the one that leaves the smallest frontier (weighted by
//! log₂ of the number of states each value can be in), preferring nodes that close
//! live values, ties by index. It also considers the order by index (Kahn's) and
//! keeps whichever has the smaller peak. Any topological order gives the same
//! optimum; the order only affects the running time.

use std::collections::HashMap;
use std::collections::hash_map::Entry;
use std::hash::{BuildHasherDefault, Hasher};

use tessera_conversions::Sharing;

use crate::assign::SHARINGS;
use crate::{Error, Result};

/// Index of a sharing in [`SHARINGS`] (A = 0, B = 1, Y = 2).
const fn index(s: Sharing) -> usize {
    match s {
        Sharing::A => 0,
        Sharing::B => 1,
        Sharing::Y => 2,
    }
}

/// A set of sharings (a 3-bit set; bit `i` is `SHARINGS[i]`).
#[derive(Clone, Copy, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SharingSet(u8);

impl SharingSet {
    /// No sharing.
    pub const EMPTY: SharingSet = SharingSet(0);
    /// Every sharing: A, B and Y.
    pub const ALL: SharingSet = SharingSet(0b111);

    /// The set holding `s` only.
    pub const fn single(s: Sharing) -> SharingSet {
        SharingSet(1 << index(s))
    }

    /// The set of the sharings of `list`.
    pub fn of(list: &[Sharing]) -> SharingSet {
        list.iter().copied().collect()
    }

    /// Whether `s` is in the set.
    pub const fn contains(self, s: Sharing) -> bool {
        self.0 & (1 << index(s)) != 0
    }

    /// Adds `s`; returns whether it was absent.
    pub fn insert(&mut self, s: Sharing) -> bool {
        let absent = !self.contains(s);
        self.0 |= 1 << index(s);
        absent
    }

    /// Removes `s`; returns whether it was present.
    pub fn remove(&mut self, s: Sharing) -> bool {
        let present = self.contains(s);
        self.0 &= !(1 << index(s));
        present
    }

    /// The set without `s`.
    #[must_use]
    pub const fn without(self, s: Sharing) -> SharingSet {
        SharingSet(self.0 & !(1 << index(s)))
    }

    /// The sharings in either set.
    #[must_use]
    pub const fn union(self, other: SharingSet) -> SharingSet {
        SharingSet(self.0 | other.0)
    }

    /// Whether every sharing of `self` is in `other`.
    pub const fn is_subset(self, other: SharingSet) -> bool {
        self.0 & !other.0 == 0
    }

    /// The number of sharings in the set.
    pub const fn len(self) -> usize {
        self.0.count_ones() as usize
    }

    /// Whether the set is empty.
    pub const fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// The sharings of the set, in the order of [`SHARINGS`].
    pub fn iter(self) -> SharingSetIter {
        SharingSetIter { bits: self.0 }
    }
}

impl std::fmt::Debug for SharingSet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_set().entries(self.iter()).finish()
    }
}

impl From<Sharing> for SharingSet {
    fn from(s: Sharing) -> Self {
        SharingSet::single(s)
    }
}

impl FromIterator<Sharing> for SharingSet {
    fn from_iter<I: IntoIterator<Item = Sharing>>(iter: I) -> Self {
        let mut set = SharingSet::EMPTY;
        for s in iter {
            set.insert(s);
        }
        set
    }
}

impl IntoIterator for SharingSet {
    type Item = Sharing;
    type IntoIter = SharingSetIter;
    fn into_iter(self) -> SharingSetIter {
        self.iter()
    }
}

/// Iterator over a [`SharingSet`], in the order of [`SHARINGS`].
#[derive(Clone, Debug)]
pub struct SharingSetIter {
    bits: u8,
}

impl Iterator for SharingSetIter {
    type Item = Sharing;
    fn next(&mut self) -> Option<Sharing> {
        if self.bits == 0 {
            return None;
        }
        let i = self.bits.trailing_zeros() as usize;
        self.bits &= self.bits - 1;
        SHARINGS.get(i).copied()
    }
    fn size_hint(&self) -> (usize, Option<usize>) {
        let n = self.bits.count_ones() as usize;
        (n, Some(n))
    }
}

impl ExactSizeIterator for SharingSetIter {}

/// The prices of a DAG's nodes and values (see the [module doc](self)).
///
/// Costs may be `+∞` ([`f64::INFINITY`]) for impossible combinations; they must not
/// be NaN or `−∞` ([`solve`] and [`evaluate`] return an error if they are).
pub trait DagCosts {
    /// The cost of running node `node` in sharing `s` (only asked for `s` in the
    /// node's options).
    fn node_cost(&self, node: usize, s: Sharing) -> f64;
    /// The cost of the value of `node`, produced in `from`, given `targets`: the set
    /// of *all* sharings its consumers run in. `targets` contains `from` exactly when
    /// some consumer runs in `from` (so a cost paid only for a use in the own
    /// sharing, such as truncating a fixed-point accumulator produced in A before an
    /// A consumer, can be charged), and the other sharings of `targets` are the
    /// conversions, each paid once whatever the number of consumers in it.
    ///
    /// `targets` is empty exactly when the value has no consumer: a graph output no
    /// node reads. Such a call depends on `(node, from)` only, like `node_cost`; by
    /// convention outputs are priced by `node_cost` (opening, final truncation, …),
    /// whether or not nodes read them, and this call returns 0. It is still asked once
    /// per allowed `from` and added.
    ///
    /// Only the possible sets are asked for ([`Dag::target_sets`]): for a value with
    /// consumers, the non-empty sets that some choice of the consumers' allowed
    /// sharings produces.
    fn value_cost(&self, node: usize, from: Sharing, targets: SharingSet) -> f64;
}

/// A node of a [`Dag`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DagNode {
    /// The nodes whose values this node reads (any order, repeats allowed).
    pub inputs: Vec<usize>,
    /// The sharings the node may run in (not empty).
    pub options: SharingSet,
}

impl DagNode {
    /// A node reading `inputs` that may run in `options`.
    pub fn new(inputs: Vec<usize>, options: SharingSet) -> DagNode {
        DagNode { inputs, options }
    }
}

/// The target sets `readers` can produce (see [`Dag::target_sets`]), as a set of
/// 3-bit masks: `{∅}`, then for each reader every set so far plus each of its
/// options.
fn possible_target_sets(readers: &[usize], nodes: &[DagNode]) -> u8 {
    readers.iter().fold(1u8, |sets, &c| {
        let mut next = 0u8;
        for m in 0..8u8 {
            if sets & (1 << m) != 0 {
                for t in nodes[c].options {
                    next |= 1 << (m | SharingSet::single(t).0);
                }
            }
        }
        next
    })
}

/// A validated DAG: input indices in range, non-empty options, no cycle; with the
/// readers of every value and the processing order of the DP.
#[derive(Clone, Debug)]
pub struct Dag {
    nodes: Vec<DagNode>,
    /// Distinct inputs of each node, ascending.
    inputs: Vec<Vec<usize>>,
    /// Distinct readers of each node's value, ascending.
    consumers: Vec<Vec<usize>>,
    /// The possible target sets of each node's value, as a set of 3-bit masks (bit
    /// `m` set if the [`SharingSet`] of mask `m` is possible).
    target_sets: Vec<u8>,
    order: Vec<usize>,
    width: usize,
}

impl Dag {
    /// Validates `nodes` and chooses the processing order ([module doc](self)).
    ///
    /// # Errors
    /// [`Error::Plan`] if a node reads a node that does not exist, has no allowed
    /// sharing, or lies on a cycle (the message names the cycle).
    pub fn new(nodes: Vec<DagNode>) -> Result<Dag> {
        let n = nodes.len();
        let mut inputs = Vec::with_capacity(n);
        let mut consumers = vec![Vec::new(); n];
        for (v, node) in nodes.iter().enumerate() {
            if node.options.is_empty() {
                return Err(Error::Plan(format!("dag: node {v} has no allowed sharing")));
            }
            if let Some(&u) = node.inputs.iter().find(|&&u| u >= n) {
                return Err(Error::Plan(format!(
                    "dag: node {v} reads node {u}, but the DAG has {n} nodes"
                )));
            }
            let mut ins = node.inputs.clone();
            ins.sort_unstable();
            ins.dedup();
            for &u in &ins {
                consumers[u].push(v);
            }
            inputs.push(ins);
        }
        let target_sets = consumers
            .iter()
            .map(|readers: &Vec<usize>| possible_target_sets(readers, &nodes))
            .collect();
        let mut dag = Dag {
            nodes,
            inputs,
            consumers,
            target_sets,
            order: Vec::new(),
            width: 0,
        };
        let weights = dag.slot_weights();
        let greedy = dag.topological_order(&weights, true)?;
        let by_index = dag.topological_order(&weights, false)?;
        let (pg, wg) = dag.profile(&greedy, &weights);
        let (pi, wi) = dag.profile(&by_index, &weights);
        (dag.order, dag.width) = if pi < pg {
            (by_index, wi)
        } else {
            (greedy, wg)
        };
        Ok(dag)
    }

    /// The nodes, as given.
    pub fn nodes(&self) -> &[DagNode] {
        &self.nodes
    }

    /// The number of nodes.
    pub fn len(&self) -> usize {
        self.nodes.len()
    }

    /// Whether the DAG has no node.
    pub fn is_empty(&self) -> bool {
        self.nodes.is_empty()
    }

    /// The distinct nodes that read `node`'s value, ascending.
    ///
    /// # Panics
    /// If `node` is out of range.
    pub fn consumers(&self, node: usize) -> &[usize] {
        &self.consumers[node]
    }

    /// The distinct inputs of `node`, ascending.
    ///
    /// # Panics
    /// If `node` is out of range.
    pub fn distinct_inputs(&self, node: usize) -> &[usize] {
        &self.inputs[node]
    }

    /// The topological order in which [`solve`] processes the nodes.
    pub fn order(&self) -> &[usize] {
        &self.order
    }

    /// The largest number of values live at once in [`Dag::order`] (the frontier
    /// width `w`; the DP holds at most `24^w` states).
    pub fn width(&self) -> usize {
        self.width
    }

    /// The target sets `node`'s value can have ([`DagCosts::value_cost`]), in
    /// increasing order of their bits (A = 1, B = 2, Y = 4): the sets `{ s_c }` over
    /// every choice of an allowed sharing `s_c` for each consumer `c` — non-empty
    /// subsets of the union of the consumers' options; only `∅` if nobody reads the
    /// value. [`solve`] prices each of them once per allowed sharing of `node`.
    ///
    /// # Panics
    /// If `node` is out of range.
    pub fn target_sets(&self, node: usize) -> impl Iterator<Item = SharingSet> + use<> {
        let sets = self.target_sets[node];
        (0..8u8)
            .filter(move |&m| sets & (1 << m) != 0)
            .map(SharingSet)
    }

    /// The sharings the readers of `u` may run in.
    fn reach(&self, u: usize) -> SharingSet {
        self.consumers[u].iter().fold(SharingSet::EMPTY, |acc, &c| {
            acc.union(self.nodes[c].options)
        })
    }

    /// log₂ of (an upper bound on) the number of (sharing, target set so far) pairs
    /// a live value can take: its options times the subsets of its readers' options.
    fn slot_weights(&self) -> Vec<f64> {
        (0..self.len())
            .map(|u| {
                let count = self.nodes[u].options.len() << self.reach(u).len();
                (count as f64).log2()
            })
            .collect()
    }

    /// A topological order: greedy (smallest frontier weight after the step) or by
    /// index (Kahn's algorithm taking the smallest ready node).
    fn topological_order(&self, weights: &[f64], greedy: bool) -> Result<Vec<usize>> {
        let n = self.len();
        let mut waiting: Vec<usize> = self.inputs.iter().map(Vec::len).collect();
        let mut readers_left: Vec<usize> = self.consumers.iter().map(Vec::len).collect();
        let mut ready: std::collections::BTreeSet<usize> =
            (0..n).filter(|&v| waiting[v] == 0).collect();
        let mut order = Vec::with_capacity(n);
        while !ready.is_empty() {
            let pick = if greedy {
                let delta = |v: usize| -> f64 {
                    let added = if self.consumers[v].is_empty() {
                        0.0
                    } else {
                        weights[v]
                    };
                    let closed: f64 = self.inputs[v]
                        .iter()
                        .filter(|&&u| readers_left[u] == 1)
                        .map(|&u| weights[u])
                        .sum();
                    added - closed
                };
                let mut best: Option<(f64, usize)> = None;
                for &v in &ready {
                    let d = delta(v);
                    if best.is_none_or(|(bd, _)| d < bd) {
                        best = Some((d, v));
                    }
                }
                best.map(|(_, v)| v)
            } else {
                ready.first().copied()
            };
            let Some(v) = pick else { break };
            ready.remove(&v);
            order.push(v);
            for &u in &self.inputs[v] {
                readers_left[u] -= 1;
            }
            for &c in &self.consumers[v] {
                waiting[c] -= 1;
                if waiting[c] == 0 {
                    ready.insert(c);
                }
            }
        }
        if order.len() < n {
            return Err(Error::Plan(format!(
                "dag: the graph has a cycle: {}",
                self.find_cycle(&waiting)
            )));
        }
        Ok(order)
    }

    /// A cycle among the nodes Kahn's algorithm could not process (`waiting[v] > 0`),
    /// written producer → reader.
    fn find_cycle(&self, waiting: &[usize]) -> String {
        let Some(start) = (0..self.len()).find(|&v| waiting[v] > 0) else {
            return "(none found)".into();
        };
        // Walk backwards along unprocessed inputs until a node repeats.
        let mut path = vec![start];
        let mut seen = vec![usize::MAX; self.len()];
        seen[start] = 0;
        let mut v = start;
        loop {
            let Some(&u) = self.inputs[v].iter().find(|&&u| waiting[u] > 0) else {
                return format!("through node {start}");
            };
            if seen[u] != usize::MAX {
                let mut cycle = vec![u];
                cycle.extend(path[seen[u]..].iter().rev());
                return cycle
                    .iter()
                    .map(usize::to_string)
                    .collect::<Vec<_>>()
                    .join(" → ");
            }
            seen[u] = path.len();
            path.push(u);
            v = u;
        }
    }

    /// The peak frontier weight of `order` and its peak frontier width.
    fn profile(&self, order: &[usize], weights: &[f64]) -> (f64, usize) {
        let mut readers_left: Vec<usize> = self.consumers.iter().map(Vec::len).collect();
        let (mut weight, mut width) = (0.0f64, 0usize);
        let (mut peak_weight, mut peak_width) = (0.0f64, 0usize);
        for &v in order {
            for &u in &self.inputs[v] {
                readers_left[u] -= 1;
                if readers_left[u] == 0 {
                    weight -= weights[u];
                    width -= 1;
                }
            }
            if !self.consumers[v].is_empty() {
                weight += weights[v];
                width += 1;
            }
            peak_weight = peak_weight.max(weight);
            peak_width = peak_width.max(width);
        }
        (peak_weight, peak_width)
    }
}

/// An assignment of sharings to the nodes of a DAG and its cost.
#[derive(Clone, Debug, PartialEq)]
pub struct DagSolution {
    /// The sharing of each node, by node index.
    pub sharings: Vec<Sharing>,
    /// The objective of the assignment ([`evaluate`]).
    pub cost: f64,
}

/// Default of [`Limits::max_states`]: 4,194,304 states.
pub const MAX_STATES: usize = 1 << 22;

/// Default of [`Limits::max_total_states`]: 33,554,432 back-pointers (128 MiB).
pub const MAX_TOTAL_STATES: usize = 1 << 25;

/// The largest DAG [`brute_force`] accepts (3^12 = 531,441 assignments).
pub const BRUTE_FORCE_MAX_NODES: usize = 12;

/// Bounds on the work of [`solve_with`]; past them it returns [`Error::TooWide`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// The most DP states after any one step (bounds time and the hash map).
    pub max_states: usize,
    /// The most states over all steps (bounds the back-pointers' memory, 4 bytes
    /// each).
    pub max_total_states: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_states: MAX_STATES,
            max_total_states: MAX_TOTAL_STATES,
        }
    }
}

/// A frontier value's state: bits 0–2 the set of sharings its readers chose so far
/// (bit `i` for `SHARINGS[i]`, the own sharing included), bits 3–4 its sharing's
/// index; 3 × 8 = 24 codes, below [`CODES`].
type Code = usize;
/// The number of codes (and the size of a value's row of costs).
const CODES: usize = 24;
/// Bits per frontier slot in a state key.
const SLOT_BITS: usize = 5;
/// The bits of one slot.
const SLOT_MASK: u128 = (1 << SLOT_BITS) - 1;
/// Frontier slots in a `u128` state key.
const MAX_SLOTS: usize = 128 / SLOT_BITS;
// Every code fits a slot.
const _: () = assert!(CODES <= 1 << SLOT_BITS);

/// The code of a value after a reader in sharing (index) `t`.
const fn add_target(code: Code, t: usize) -> Code {
    code | 1 << t
}

/// The code of a value in sharing (index) `s` with target set `targets`.
const fn encode(s: usize, targets: SharingSet) -> Code {
    s << 3 | targets.0 as usize
}

/// Every cost the DP can need, queried once and checked.
struct Tables {
    /// `node[v][s]`: `node_cost(v, s)`, `+∞` where `s` is not allowed.
    node: Vec<[f64; 3]>,
    /// `value[u][encode(s, T)]`: `value_cost(u, s, T)`, `+∞` where `s` is not
    /// allowed or `T` is not a possible target set.
    value: Vec<[f64; CODES]>,
}

fn check(what: impl FnOnce() -> String, c: f64) -> Result<f64> {
    if c.is_nan() || c == f64::NEG_INFINITY {
        Err(Error::Plan(format!(
            "dag: {} is {c}; costs must be finite or +∞",
            what()
        )))
    } else {
        Ok(c)
    }
}

impl Tables {
    fn new(dag: &Dag, costs: &dyn DagCosts) -> Result<Tables> {
        let n = dag.len();
        let mut node = vec![[f64::INFINITY; 3]; n];
        let mut value = vec![[f64::INFINITY; CODES]; n];
        for v in 0..n {
            for s in dag.nodes[v].options {
                let c = costs.node_cost(v, s);
                node[v][index(s)] = check(|| format!("node_cost({v}, {s:?})"), c)?;
                for targets in dag.target_sets(v) {
                    let c = costs.value_cost(v, s, targets);
                    value[v][encode(index(s), targets)] =
                        check(|| format!("value_cost({v}, {s:?}, {targets:?})"), c)?;
                }
            }
        }
        Ok(Tables { node, value })
    }

    /// The objective of a full assignment, summed node by node in index order (node
    /// term, then value term) — the same sum as [`evaluate`].
    fn total(&self, dag: &Dag, sharings: &[Sharing]) -> f64 {
        let mut total = 0.0;
        for (v, &s) in sharings.iter().enumerate() {
            let targets: SharingSet = dag.consumers[v].iter().map(|&c| sharings[c]).collect();
            total += self.node[v][index(s)];
            total += self.value[v][encode(index(s), targets)];
        }
        total
    }
}

/// Checks that `sharings` is an assignment of `dag`.
fn check_assignment(dag: &Dag, sharings: &[Sharing]) -> Result<()> {
    if sharings.len() != dag.len() {
        return Err(Error::Plan(format!(
            "dag: {} sharings for a DAG of {} nodes",
            sharings.len(),
            dag.len()
        )));
    }
    for (v, (&s, node)) in sharings.iter().zip(&dag.nodes).enumerate() {
        if !node.options.contains(s) {
            return Err(Error::Plan(format!(
                "dag: node {v} cannot run in {s:?} (allowed: {:?})",
                node.options
            )));
        }
    }
    Ok(())
}

/// The objective of the assignment `sharings` (indexed by node): the sum over nodes,
/// in index order, of `node_cost(v, s_v) + value_cost(v, s_v, T_v)`, with `T_v` the
/// set of the sharings of all of `v`'s consumers (`s_v` included if one runs in it).
/// May be `+∞`.
///
/// # Errors
/// [`Error::Plan`] if `sharings` has the wrong length or a sharing a node does not
/// allow, or if a cost is NaN or `−∞`.
pub fn evaluate(dag: &Dag, costs: &dyn DagCosts, sharings: &[Sharing]) -> Result<f64> {
    check_assignment(dag, sharings)?;
    let mut total = 0.0;
    for (v, &s) in sharings.iter().enumerate() {
        let targets: SharingSet = dag.consumers[v].iter().map(|&c| sharings[c]).collect();
        total += check(|| format!("node_cost({v}, {s:?})"), costs.node_cost(v, s))?;
        total += check(
            || format!("value_cost({v}, {s:?}, {targets:?})"),
            costs.value_cost(v, s, targets),
        )?;
    }
    Ok(total)
}

fn infeasible(detail: &str) -> Error {
    Error::Plan(format!(
        "dag: no assignment of finite cost ({detail}): every choice is +∞"
    ))
}

/// An optimal assignment, by the frontier DP of the [module doc](self), with the
/// default [`Limits`].
///
/// # Errors
/// See [`solve_with`].
pub fn solve(dag: &Dag, costs: &dyn DagCosts) -> Result<DagSolution> {
    solve_with(dag, costs, Limits::default())
}

/// A frontier value's place in the DP step that reads it.
struct Read {
    node: usize,
    slot: usize,
    /// This step is its last reader: pay its value cost and free its slot.
    closes: bool,
}

/// One step of the DP: the node, what it reads, where its value lives.
struct Step {
    node: usize,
    reads: Vec<Read>,
    /// The value's slot, or `None` if nobody reads it (its cost is paid at once).
    slot: Option<usize>,
}

/// Assigns frontier slots along the order (freed slots are reused, lowest first).
fn steps(dag: &Dag) -> Result<Vec<Step>> {
    let n = dag.len();
    let mut readers_left: Vec<usize> = dag.consumers.iter().map(Vec::len).collect();
    let mut slot_of = vec![usize::MAX; n];
    let mut free: std::collections::BTreeSet<usize> = (0..MAX_SLOTS).collect();
    let mut live = 0usize;
    let mut out = Vec::with_capacity(n);
    for &v in &dag.order {
        let mut reads = Vec::with_capacity(dag.inputs[v].len());
        for &u in &dag.inputs[v] {
            readers_left[u] -= 1;
            let closes = readers_left[u] == 0;
            reads.push(Read {
                node: u,
                slot: slot_of[u],
                closes,
            });
            if closes {
                free.insert(slot_of[u]);
                live -= 1;
            }
        }
        let slot = if dag.consumers[v].is_empty() {
            None
        } else {
            live += 1;
            let Some(s) = free.pop_first() else {
                return Err(Error::TooWide {
                    width: live,
                    reason: format!(
                        "{live} values are live after node {v}, and a DP state holds at \
                         most {MAX_SLOTS}"
                    ),
                });
            };
            slot_of[v] = s;
            Some(s)
        };
        out.push(Step {
            node: v,
            reads,
            slot,
        });
    }
    Ok(out)
}

/// A fast hasher for `u128` state keys (a multiply-xorshift mix; keys are not
/// adversarial).
#[derive(Default)]
struct KeyHasher(u64);

impl Hasher for KeyHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0.rotate_left(8) ^ u64::from(b)).wrapping_mul(0x9e37_79b9_7f4a_7c15);
        }
    }
    fn write_u128(&mut self, x: u128) {
        let mut h = (x as u64) ^ ((x >> 64) as u64).wrapping_mul(0xc2b2_ae3d_27d4_eb4f);
        h = (h ^ (h >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        h = (h ^ (h >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        self.0 = h ^ (h >> 31);
    }
}

type StateMap = HashMap<u128, u32, BuildHasherDefault<KeyHasher>>;

/// An optimal assignment, by the frontier DP of the [module doc](self), within
/// `limits`. Deterministic: equal inputs give equal outputs, ties included. The
/// reported cost is [`evaluate`]'s sum for the returned assignment.
///
/// # Errors
/// - [`Error::Plan`] if no assignment has a finite cost (naming the node where every
///   partial assignment became infinite), or a cost is NaN or `−∞`.
/// - [`Error::TooWide`] if the processing order keeps more values live than a state
///   can hold (25) or the DP would exceed `limits`: the graph's frontier is too wide
///   for the exact planner.
pub fn solve_with(dag: &Dag, costs: &dyn DagCosts, limits: Limits) -> Result<DagSolution> {
    let n = dag.len();
    let steps = steps(dag)?;
    let tables = Tables::new(dag, costs)?;
    // Back-pointers pack (parent index << 2 | sharing index) into a u32.
    let max_states = limits.max_states.min(1 << 30);
    let too_wide = |i: usize, v: usize, what: String| Error::TooWide {
        width: dag.width,
        reason: format!(
            "{what} at node {v} (step {} of {n}); the widest frontier of the order holds {} \
             values, up to 24^{} states",
            i + 1,
            dag.width,
            dag.width
        ),
    };

    let mut keys: Vec<u128> = vec![0];
    let mut totals: Vec<f64> = vec![0.0];
    let mut back: Vec<Vec<u32>> = Vec::with_capacity(n);
    let mut stored = 0usize;
    let mut map = StateMap::default();
    for (i, step) in steps.iter().enumerate() {
        let v = step.node;
        let options = dag.nodes[v].options;
        map.clear();
        let mut next_keys: Vec<u128> = Vec::new();
        let mut next_totals: Vec<f64> = Vec::new();
        let mut next_back: Vec<u32> = Vec::new();
        for (parent, (&key, &total)) in keys.iter().zip(&totals).enumerate() {
            for s in options {
                let si = index(s);
                let mut c = total + tables.node[v][si];
                if c == f64::INFINITY {
                    continue;
                }
                let mut k = key;
                for r in &step.reads {
                    let shift = SLOT_BITS * r.slot;
                    let code = add_target(((k >> shift) & SLOT_MASK) as Code, si);
                    k &= !(SLOT_MASK << shift);
                    if r.closes {
                        c += tables.value[r.node][code];
                    } else {
                        k |= (code as u128) << shift;
                    }
                }
                match step.slot {
                    Some(slot) => {
                        k |= (encode(si, SharingSet::EMPTY) as u128) << (SLOT_BITS * slot)
                    }
                    None => c += tables.value[v][encode(si, SharingSet::EMPTY)],
                }
                if c == f64::INFINITY {
                    continue;
                }
                let pointer = ((parent as u32) << 2) | si as u32;
                match map.entry(k) {
                    Entry::Occupied(e) => {
                        let j = *e.get() as usize;
                        if c < next_totals[j] {
                            next_totals[j] = c;
                            next_back[j] = pointer;
                        }
                    }
                    Entry::Vacant(e) => {
                        if next_keys.len() >= max_states {
                            return Err(too_wide(
                                i,
                                v,
                                format!("more than {max_states} DP states"),
                            ));
                        }
                        e.insert(next_keys.len() as u32);
                        next_keys.push(k);
                        next_totals.push(c);
                        next_back.push(pointer);
                    }
                }
            }
        }
        if next_keys.is_empty() {
            return Err(infeasible(&format!(
                "from node {v} on, step {} of {n}",
                i + 1
            )));
        }
        stored += next_keys.len();
        if stored > limits.max_total_states {
            return Err(too_wide(
                i,
                v,
                format!("more than {} DP states in total", limits.max_total_states),
            ));
        }
        back.push(next_back);
        keys = next_keys;
        totals = next_totals;
    }
    // Every value is closed at the end: one state (key 0) is left.
    let mut at = 0usize;
    for (j, &t) in totals.iter().enumerate() {
        if t < totals[at] {
            at = j;
        }
    }
    let mut sharings = vec![Sharing::A; n];
    for (step, pointers) in steps.iter().zip(&back).rev() {
        let p = pointers[at];
        sharings[step.node] = SHARINGS[(p & 3) as usize];
        at = (p >> 2) as usize;
    }
    let cost = tables.total(dag, &sharings);
    Ok(DagSolution { sharings, cost })
}

/// The optimum by enumerating every assignment (each priced by [`evaluate`]'s sum):
/// for tests of [`solve`]. Ties go to the first optimum in lexicographic order of
/// the options (node 0 varying slowest).
///
/// # Errors
/// [`Error::Usage`] above [`BRUTE_FORCE_MAX_NODES`] nodes; [`Error::Plan`] if no
/// assignment has a finite cost or a cost is NaN or `−∞`.
pub fn brute_force(dag: &Dag, costs: &dyn DagCosts) -> Result<DagSolution> {
    let n = dag.len();
    if n > BRUTE_FORCE_MAX_NODES {
        return Err(Error::Usage(format!(
            "dag: brute force enumerates 3^n assignments and is limited to \
             {BRUTE_FORCE_MAX_NODES} nodes; this DAG has {n}"
        )));
    }
    let tables = Tables::new(dag, costs)?;
    let options: Vec<Vec<Sharing>> = dag
        .nodes
        .iter()
        .map(|d| d.options.iter().collect())
        .collect();
    let mut digits = vec![0usize; n];
    let mut best: Option<DagSolution> = None;
    loop {
        let sharings: Vec<Sharing> = digits.iter().zip(&options).map(|(&d, o)| o[d]).collect();
        let cost = tables.total(dag, &sharings);
        if cost < f64::INFINITY && best.as_ref().is_none_or(|b| cost < b.cost) {
            best = Some(DagSolution { sharings, cost });
        }
        // Odometer, last node fastest.
        let mut i = n;
        loop {
            if i == 0 {
                return best.ok_or_else(|| infeasible("by exhaustive search"));
            }
            i -= 1;
            digits[i] += 1;
            if digits[i] < options[i].len() {
                break;
            }
            digits[i] = 0;
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use Sharing::{A, B, Y};

    #[test]
    fn sharing_set_basics() {
        let mut s = SharingSet::EMPTY;
        assert!(s.is_empty());
        assert!(s.insert(Y));
        assert!(!s.insert(Y));
        assert!(s.insert(A));
        assert_eq!(s.len(), 2);
        assert!(s.contains(A) && !s.contains(B) && s.contains(Y));
        assert_eq!(s.iter().collect::<Vec<_>>(), vec![A, Y]);
        assert_eq!(format!("{s:?}"), "{A, Y}");
        assert_eq!(format!("{:?}", SharingSet::EMPTY), "{}");
        assert_eq!(s.without(A), SharingSet::single(Y));
        assert!(s.remove(A) && !s.remove(A));
        assert_eq!(SharingSet::ALL.len(), 3);
        assert_eq!(SharingSet::of(&[B, B, A]), SharingSet::of(&[A, B]));
        assert!(SharingSet::single(B).is_subset(SharingSet::ALL));
        assert_eq!(SharingSet::ALL.iter().len(), 3);
    }

    #[test]
    fn codes_round_trip() {
        let mut seen = std::collections::HashSet::new();
        for (s, &sharing) in SHARINGS.iter().enumerate() {
            for bits in 0..8u8 {
                let t = SharingSet(bits);
                let code = encode(s, t);
                assert!(code < CODES);
                assert_eq!(code >> 3, s);
                assert!(seen.insert(code), "codes are distinct");
                // A reader adds its sharing, the own one included.
                for (r, &reader) in SHARINGS.iter().enumerate() {
                    let mut u = t;
                    u.insert(reader);
                    assert_eq!(add_target(code, r), encode(s, u));
                }
                // A reader in the own sharing is recorded: the code changes unless
                // one was already there.
                assert_eq!(add_target(code, s) == code, t.contains(sharing));
            }
        }
        assert_eq!(seen.len(), CODES);
        assert_eq!(MAX_SLOTS, 25);
    }

    #[test]
    fn target_sets_are_those_the_readers_can_make() {
        let nodes = vec![
            DagNode::new(vec![], SharingSet::ALL),
            DagNode::new(vec![0], SharingSet::single(A)),
            DagNode::new(vec![0], SharingSet::of(&[B, Y])),
            DagNode::new(vec![1], SharingSet::of(&[A, B])),
            DagNode::new(vec![2, 3], SharingSet::single(Y)),
        ];
        let dag = Dag::new(nodes).unwrap();
        let sets = |v: usize| dag.target_sets(v).collect::<Vec<_>>();
        // Readers 1 (A) and 2 (B or Y).
        assert_eq!(
            sets(0),
            vec![SharingSet::of(&[A, B]), SharingSet::of(&[A, Y])]
        );
        // One reader: a singleton of its options.
        assert_eq!(sets(1), vec![SharingSet::single(A), SharingSet::single(B)]);
        assert_eq!(sets(2), vec![SharingSet::single(Y)]);
        // An output: only the empty set.
        assert_eq!(sets(4), vec![SharingSet::EMPTY]);
    }

    #[test]
    fn greedy_order_keeps_chains_and_diamonds_narrow() {
        // A chain numbered backwards: 4 ← 3 ← 2 ← 1 ← 0 reversed.
        let chain: Vec<DagNode> = (0..5)
            .map(|v| DagNode::new(if v == 4 { vec![] } else { vec![v + 1] }, SharingSet::ALL))
            .collect();
        let dag = Dag::new(chain).unwrap();
        assert_eq!(dag.order(), &[4, 3, 2, 1, 0]);
        assert_eq!(dag.width(), 1);
        // Diamond: 0 → {1, 2} → 3.
        let nodes = vec![
            DagNode::new(vec![], SharingSet::ALL),
            DagNode::new(vec![0], SharingSet::ALL),
            DagNode::new(vec![0], SharingSet::ALL),
            DagNode::new(vec![2, 1, 1], SharingSet::ALL),
        ];
        let dag = Dag::new(nodes).unwrap();
        assert_eq!(dag.width(), 2);
        assert_eq!(dag.consumers(0), &[1, 2]);
        assert_eq!(dag.distinct_inputs(3), &[1, 2]);
    }

    #[test]
    fn cycle_is_named() {
        let nodes = vec![
            DagNode::new(vec![], SharingSet::ALL),
            DagNode::new(vec![0, 3], SharingSet::ALL),
            DagNode::new(vec![1], SharingSet::ALL),
            DagNode::new(vec![2], SharingSet::ALL),
        ];
        let e = Dag::new(nodes).unwrap_err().to_string();
        assert!(e.contains("cycle"), "{e}");
        assert!(e.contains("1 → 2 → 3 → 1"), "{e}");
    }
}
