//! Optimal assignment of sharings to the layers of a chain, and the named baselines.
//!
//! # Why dynamic programming is optimal for chains
//! A run is: the client's input entering in layer 0's sharing `s₀`, the layer, then
//! for each further layer `i` conversions `rᵢ` from `sᵢ₋₁` to `sᵢ` and the layer in
//! `sᵢ`, then the head (argmax in B or Y, or the scores revealed) after conversions
//! from `s_{k−1}`. The engine's
//! cost of layer `i` depends only on `(sᵢ₋₁, rᵢ, sᵢ)` (its input shape is fixed by the
//! model), and every objective ([`Objective`]) is a sum over steps. So the cost of a
//! run is `c_in(s₀) + c₀(s₀) + Σᵢ cᵢ(sᵢ₋₁, rᵢ, sᵢ) + c_head(s_{k−1}, r, h)`, a shortest
//! path in a layered graph whose nodes are (layer, sharing) and whose edges are the
//! routes of at most two primitive conversions. One refinement keeps it exact for
//! latency: consecutive messages of one party share a round across steps
//! ([`crate::time::advance`]), so the rounds a step adds depend on the parties'
//! clock skew before it (−1, 0 or 1), and under the `total` objective the set-up
//! round is paid once, by the first layer with set-up bytes; the DP's state is
//! therefore (sharing, skew, set-up seen) ([`RunState`]), at most 18 nodes per layer
//! instead of 3, and the argument is unchanged. The best path to (i, s) extends a best path to
//! some (i − 1, s′) (any other prefix could be swapped for the best one without
//! changing what follows), which is Bellman's principle: the DP below visits every
//! node once and every edge once and returns an optimal run. The brute-force search
//! [`Planner::brute_force`] is there to check it.
//!
//! Routes longer than two primitive conversions never pay: with three sharings, a
//! route that visits no sharing twice has at most two edges ([`routes`]).
//!
//! # DAGs
//! Only chains are supported (the model loader accepts only chains). On a DAG (a
//! residual block, a concatenation) the cost of a node depends on the sharings of all
//! its predecessors, and a value used by several successors may be converted once
//! and shared, so the cost of a run no longer splits into independent edge terms. The
//! DP stays exact on trees whose values are used once (run it bottom-up, state =
//! sharing of the subtree's output); for a general DAG the exact problem is an
//! integer program over (node, sharing) indicators with conversion variables per
//! edge and sharing — what Ishaq et al. (CCS 2019) solve with ILP, or a DP over a
//! tree decomposition whose cost grows as 3^(treewidth+1). A heuristic that runs the
//! chain DP on a topological order would be a valid plan but not a provably optimal
//! one.

use std::collections::HashMap;

use tessera_conversions::{Conversion, Sharing, routes};

use crate::engine::{Assignment, Chain, Output, Placement, StepCost};
use crate::time::{Objective, RunState, TimeModel};
use crate::{Error, Result};

/// Every sharing, in order.
pub const SHARINGS: [Sharing; 3] = [Sharing::A, Sharing::B, Sharing::Y];

/// The ring width the conversions are enumerated for.
const ELL: usize = 64;

/// A way of choosing sharings.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Strategy {
    /// The optimal assignment (dynamic programming).
    Auto,
    /// Everything in A (only polynomial activations); the argmax, if any, where
    /// cheapest.
    PureA,
    /// Everything in GMW, linear layers included.
    PureB,
    /// Everything in Yao, linear layers included.
    PureY,
    /// Linear layers in A, the rest in GMW (Chameleon for low depth).
    APlusB,
    /// Linear layers in A, the rest in Yao (MiniONN, SecureML).
    APlusY,
}

impl Strategy {
    /// Every strategy, `auto` first.
    pub const ALL: [Strategy; 6] = [
        Strategy::Auto,
        Strategy::PureA,
        Strategy::PureB,
        Strategy::PureY,
        Strategy::APlusB,
        Strategy::APlusY,
    ];

    /// The name (`auto`, `pure-a`, `pure-b`, `pure-y`, `a+b`, `a+y`).
    pub fn name(self) -> &'static str {
        match self {
            Strategy::Auto => "auto",
            Strategy::PureA => "pure-a",
            Strategy::PureB => "pure-b",
            Strategy::PureY => "pure-y",
            Strategy::APlusB => "a+b",
            Strategy::APlusY => "a+y",
        }
    }
}

impl std::str::FromStr for Strategy {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        Strategy::ALL
            .into_iter()
            .find(|st| st.name() == s)
            .ok_or_else(|| {
                Error::Usage(format!(
                    "unknown strategy `{s}` (expected auto, pure-a, pure-b, pure-y, a+b or a+y)"
                ))
            })
    }
}

impl std::fmt::Display for Strategy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// A chosen assignment with its steps and objective value.
#[derive(Clone, Debug)]
pub struct Solution {
    /// How it was chosen.
    pub strategy: Strategy,
    /// The assignment.
    pub assignment: Assignment,
    /// Where the client's input enters.
    pub input: Sharing,
    /// Every step of the run, in order.
    pub steps: Vec<StepCost>,
    /// Why the run cannot be executed within the engine's limits, if it cannot
    /// (baselines only: `auto` never chooses such a step).
    pub over_limit: Option<String>,
    /// The objective as the planner minimises it (sum over steps).
    pub objective: f64,
}

/// The sharings allowed at each stage.
#[derive(Clone, Debug)]
struct Allowed {
    input: Vec<Sharing>,
    layers: Vec<Vec<Sharing>>,
    head: Vec<Option<Sharing>>,
}

/// The input sharing of an assignment: the client's input enters in layer 0's
/// sharing.
pub fn input_sharing(a: &Assignment) -> Option<Sharing> {
    a.layers.first().map(|p| p.sharing)
}

/// The planner: a chain, a time model, an objective and a batch size.
pub struct Planner<'a> {
    chain: &'a dyn Chain,
    model: TimeModel<'a>,
    objective: Objective,
    batch: usize,
    output: Output,
    routes: HashMap<(Sharing, Sharing), Vec<Vec<Conversion>>>,
}

impl std::fmt::Debug for Planner<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Planner")
            .field("objective", &self.objective)
            .field("batch", &self.batch)
            .field("output", &self.output)
            .finish_non_exhaustive()
    }
}

/// Checks that `convert` leads from `from` to `to`, naming the problem.
///
/// # Errors
/// [`Error::Plan`] if a conversion does not start where the previous one ended, or
/// the route does not end in `to`.
pub fn check_route(from: Sharing, convert: &[Conversion], to: Sharing) -> Result<()> {
    let mut at = from;
    for c in convert {
        let (s, t) = c.endpoints();
        if s != at {
            return Err(Error::Plan(format!(
                "conversion {} starts in {s:?}, but the value is in {at:?}",
                c.name()
            )));
        }
        at = t;
    }
    if at != to {
        let route = if convert.is_empty() {
            "no conversion".to_string()
        } else {
            convert
                .iter()
                .map(|c| c.name())
                .collect::<Vec<_>>()
                .join("+")
        };
        return Err(Error::Plan(format!(
            "{route} leads from {from:?} to {at:?}, not to {to:?}"
        )));
    }
    Ok(())
}

impl<'a> Planner<'a> {
    /// A planner for `chain` under `model`.
    ///
    /// # Errors
    /// If the conversion routes cannot be enumerated (never for ℓ = 64), or `batch`
    /// is 0.
    pub fn new(
        chain: &'a dyn Chain,
        model: TimeModel<'a>,
        objective: Objective,
        batch: usize,
        output: Output,
    ) -> Result<Self> {
        if batch == 0 {
            return Err(Error::Usage("the batch must be at least 1".into()));
        }
        let mut table = HashMap::new();
        for from in SHARINGS {
            for to in SHARINGS {
                let rs = routes(from, to, ELL, 1, 2)?
                    .into_iter()
                    .map(|r| r.steps)
                    .collect();
                table.insert((from, to), rs);
            }
        }
        Ok(Planner {
            chain,
            model,
            objective,
            batch,
            output,
            routes: table,
        })
    }

    /// The time model.
    pub fn time_model(&self) -> &TimeModel<'a> {
        &self.model
    }

    /// The objective.
    pub fn objective(&self) -> Objective {
        self.objective
    }

    /// The batch size.
    pub fn batch(&self) -> usize {
        self.batch
    }

    /// The output.
    pub fn output(&self) -> Output {
        self.output
    }

    /// The chain.
    pub fn chain(&self) -> &'a dyn Chain {
        self.chain
    }

    fn routes(&self, from: Sharing, to: Sharing) -> &[Vec<Conversion>] {
        self.routes.get(&(from, to)).map_or(&[], Vec::as_slice)
    }

    /// The objective of a list of steps starting in `state` (sum of the steps'
    /// contributions), and the state after them.
    pub fn cost(&self, steps: &[StepCost], state: RunState) -> (f64, RunState) {
        self.model.objective(self.objective, steps, state)
    }

    /// The objective of a whole run.
    pub fn run_cost(&self, steps: &[StepCost]) -> f64 {
        self.cost(steps, RunState::default()).0
    }

    /// Every step of the run `a` describes, in order.
    ///
    /// # Errors
    /// [`Error::Plan`] if the assignment does not fit the chain (layer count,
    /// sharing not allowed, conversions not connecting the sharings, head);
    /// the engine's errors.
    pub fn steps(&self, a: &Assignment) -> Result<Vec<StepCost>> {
        if let Some(steps) = self.chain.run_steps(a, self.batch) {
            return steps;
        }
        let layers = self.chain.layers();
        if a.layers.len() != layers.len() {
            return Err(Error::Plan(format!(
                "{} layer placements for a model of {} layers",
                a.layers.len(),
                layers.len()
            )));
        }
        let first = input_sharing(a).ok_or_else(|| Error::Plan("a model without layers".into()))?;
        let mut steps = self.chain.input_steps(first, self.batch)?;
        let mut prev = first;
        for (i, (p, info)) in a.layers.iter().zip(&layers).enumerate() {
            if !self.chain.options(i).contains(&p.sharing) {
                return Err(Error::Plan(format!(
                    "layer {i} `{}` ({}) cannot run in {:?} (allowed: {:?})",
                    info.name,
                    info.op,
                    p.sharing,
                    self.chain.options(i)
                )));
            }
            check_route(prev, &p.convert, p.sharing)
                .map_err(|e| Error::Plan(format!("before layer {i} `{}`: {e}", info.name)))?;
            steps.extend(
                self.chain
                    .layer_steps(i, prev, &p.convert, p.sharing, self.batch)?,
            );
            prev = p.sharing;
        }
        let allowed = self.chain.head_options(a.output);
        let head_sharing = a.head.as_ref().map(|h| h.sharing);
        if !allowed.contains(&head_sharing) {
            return Err(Error::Plan(format!(
                "the head cannot run in {head_sharing:?} for output {:?} (allowed: {allowed:?})",
                a.output
            )));
        }
        if let Some(h) = &a.head {
            check_route(prev, &h.convert, h.sharing)
                .map_err(|e| Error::Plan(format!("before the head: {e}")))?;
        }
        steps.extend(
            self.chain
                .head_steps(prev, a.head.as_ref(), a.output, self.batch)?,
        );
        Ok(steps)
    }

    fn allowed(&self, strategy: Strategy) -> Result<Allowed> {
        let layers = self.chain.layers();
        let options: Vec<Vec<Sharing>> = (0..layers.len()).map(|i| self.chain.options(i)).collect();
        let head = self.chain.head_options(self.output);
        let na = |reason: String| Error::NotApplicable {
            strategy: strategy.name().to_string(),
            reason,
        };
        if layers.is_empty() {
            return Err(Error::Plan("a model without layers".into()));
        }
        let pure = |x: Sharing| -> Result<Vec<Vec<Sharing>>> {
            let mut out = Vec::new();
            for (i, (info, opts)) in layers.iter().zip(&options).enumerate() {
                if !opts.contains(&x) {
                    let why = if x == Sharing::A {
                        " (only linear layers and polynomial activations can)"
                    } else {
                        ""
                    };
                    return Err(na(format!(
                        "layer {i} `{}` ({}) cannot run in {x:?}{why}",
                        info.name, info.op
                    )));
                }
                out.push(vec![x]);
            }
            Ok(out)
        };
        let keep_head = |h: Sharing| -> Result<Vec<Option<Sharing>>> {
            if self.output == Output::Logits {
                return Ok(head.clone());
            }
            if head.contains(&Some(h)) {
                Ok(vec![Some(h)])
            } else {
                Err(na(format!("the head cannot run in {h:?}")))
            }
        };
        let allowed = match strategy {
            Strategy::Auto => Allowed {
                input: SHARINGS.to_vec(),
                layers: options,
                head,
            },
            Strategy::PureA => Allowed {
                input: vec![Sharing::A],
                layers: pure(Sharing::A)?,
                // The argmax cannot run in A: it runs where it is cheapest.
                head,
            },
            Strategy::PureB | Strategy::PureY | Strategy::APlusB | Strategy::APlusY => {
                let b = match strategy {
                    Strategy::PureB | Strategy::APlusB => Sharing::B,
                    _ => Sharing::Y,
                };
                let layers = if matches!(strategy, Strategy::PureB | Strategy::PureY) {
                    pure(b)?
                } else {
                    a_plus(&layers, &options, b).map_err(na)?
                };
                Allowed {
                    input: vec![layers[0][0]],
                    layers,
                    head: keep_head(b)?,
                }
            }
        };
        Ok(allowed)
    }

    /// The best assignment of `strategy` (for a baseline: its fixed sharings with
    /// the best conversion route on every edge).
    ///
    /// # Errors
    /// [`Error::NotApplicable`] if the strategy does not fit the model; the engine's
    /// errors.
    pub fn solve(&self, strategy: Strategy) -> Result<Solution> {
        if strategy != Strategy::Auto
            && let Some(a) = self.chain.baseline(strategy, self.output)
        {
            let a = a?;
            let steps = self.steps(&a)?;
            return Ok(Solution {
                strategy,
                input: input_sharing(&a)
                    .ok_or_else(|| Error::Plan("a model without layers".into()))?,
                objective: self.run_cost(&steps),
                over_limit: self.chain.check_steps(&steps).err(),
                assignment: a,
                steps,
            });
        }
        let allowed = self.allowed(strategy)?;
        if self.chain.is_chain() {
            self.dp(strategy, &allowed)
        } else {
            self.dag(strategy, &allowed)
        }
    }

    /// The head's best placement and cost for a first output produced in `last` (on a
    /// chain, the last layer's sharing).
    fn best_head(
        &self,
        allowed: &Allowed,
        last: Sharing,
    ) -> Result<Option<(Option<Placement>, f64)>> {
        let mut best: Option<(Option<Placement>, f64)> = None;
        for h in &allowed.head {
            let rs: Vec<Vec<Conversion>> = match h {
                Some(hs) => self.routes(last, *hs).to_vec(),
                None => vec![Vec::new()],
            };
            for r in rs {
                let placement = h.map(|sharing| Placement {
                    sharing,
                    convert: r,
                });
                let steps =
                    self.chain
                        .head_steps(last, placement.as_ref(), self.output, self.batch)?;
                if self.chain.check_steps(&steps).is_err() {
                    continue;
                }
                let cost = self.run_cost(&steps);
                if best.as_ref().is_none_or(|b| cost < b.1) {
                    best = Some((placement, cost));
                }
            }
        }
        Ok(best)
    }

    /// The optimum over a DAG ([`crate::dag`]): a sharing per layer and for the
    /// client's input, each value converted once per sharing that reads it (by the
    /// default route) and truncated once if a pending accumulator stays in A. Node
    /// and value costs are the engine's exact steps under the objective, each
    /// priced from a fresh clock (the chain DP's skew refinement does not apply to a
    /// graph); the solution's objective is then that of its whole program.
    ///
    /// Every output is charged to the node that produces it, in that node's
    /// sharing: the head (the best argmax placement, or the scores revealed) for the
    /// first output, the reveal for every other one ([`Chain::output_steps`]). An
    /// output's price depends on its producer's sharing alone — it is revealed from
    /// there, whoever else reads the value — so it is a node cost even for a value
    /// that later layers read (which is then live until the end of the program: the
    /// reveals come last).
    fn dag(&self, strategy: Strategy, allowed: &Allowed) -> Result<Solution> {
        use crate::dag::{Dag, DagCosts, DagNode, SharingSet, solve};
        use std::cell::RefCell;

        let n = allowed.layers.len();
        // Node 0 is the client's input (value 0), node i + 1 layer i (value i + 1).
        let mut nodes = vec![DagNode::new(Vec::new(), SharingSet::of(&allowed.input))];
        for (i, opts) in allowed.layers.iter().enumerate() {
            nodes.push(DagNode::new(self.chain.inputs(i), SharingSet::of(opts)));
        }
        let dag = Dag::new(nodes)?;
        struct Costs<'p, 'a> {
            p: &'p Planner<'a>,
            allowed: &'p Allowed,
            /// The model's outputs (node = value).
            outputs: Vec<usize>,
            error: RefCell<Option<Error>>,
        }
        impl Costs<'_, '_> {
            fn price(&self, steps: Result<Vec<StepCost>>) -> f64 {
                match steps {
                    Ok(s) if self.p.chain.check_steps(&s).is_ok() => self.p.run_cost(&s),
                    Ok(_) => f64::INFINITY,
                    Err(e) => {
                        self.error.borrow_mut().get_or_insert(e);
                        f64::INFINITY
                    }
                }
            }
        }
        impl DagCosts for Costs<'_, '_> {
            fn node_cost(&self, node: usize, s: Sharing) -> f64 {
                let p = self.p;
                let mut cost = if node == 0 {
                    self.price(p.chain.input_steps(s, p.batch))
                } else {
                    self.price(p.chain.body_steps(node - 1, s, p.batch))
                };
                // The outputs this node's value is, each revealed from `s`.
                for (k, _) in self.outputs.iter().enumerate().filter(|(_, v)| **v == node) {
                    cost += if k == 0 {
                        match p.best_head(self.allowed, s) {
                            Ok(Some((_, h))) => h,
                            Ok(None) => f64::INFINITY,
                            Err(e) => {
                                self.error.borrow_mut().get_or_insert(e);
                                f64::INFINITY
                            }
                        }
                    } else {
                        self.price(p.chain.output_steps(k, s, p.batch))
                    };
                }
                cost
            }
            fn value_cost(&self, node: usize, from: Sharing, targets: SharingSet) -> f64 {
                targets
                    .iter()
                    .map(|t| self.price(self.p.chain.value_steps(node, from, t, self.p.batch)))
                    .sum()
            }
        }
        let outputs = self.chain.outputs();
        let costs = Costs {
            p: self,
            allowed,
            outputs: outputs.clone(),
            error: RefCell::new(None),
        };
        let solution = solve(&dag, &costs);
        if let Some(e) = costs.error.into_inner() {
            return Err(e);
        }
        let sol = solution?;
        let input = sol.sharings[0];
        let layer_sharing = |v: usize| sol.sharings[v];
        let layers: Vec<Placement> = (0..n)
            .map(|i| {
                let s = sol.sharings[i + 1];
                let from = self
                    .chain
                    .inputs(i)
                    .first()
                    .map_or(input, |&v| layer_sharing(v));
                Placement {
                    sharing: s,
                    convert: tessera_engine::default_route(from, s),
                }
            })
            .collect();
        if layers.is_empty() {
            return Err(Error::Plan("a model without layers".into()));
        }
        // The head reads the first output where its producer runs.
        let first = outputs.first().copied().unwrap_or(n);
        let first_sharing = *sol.sharings.get(first).ok_or_else(|| {
            Error::Plan(format!(
                "the first output is value {first}, which the model does not compute"
            ))
        })?;
        let head = self
            .best_head(allowed, first_sharing)?
            .ok_or_else(|| Error::Plan("no place for the head".into()))?
            .0;
        let a = Assignment {
            input: (input != layers[0].sharing).then_some(input),
            layers,
            head,
            output: self.output,
            working_set: None,
        };
        let steps = self.steps(&a)?;
        Ok(Solution {
            strategy,
            input,
            objective: self.run_cost(&steps),
            over_limit: self.chain.check_steps(&steps).err(),
            assignment: a,
            steps,
        })
    }

    fn dp(&self, strategy: Strategy, allowed: &Allowed) -> Result<Solution> {
        /// The best run prefix ending in a (sharing, clock skew) state.
        struct Node {
            cost: f64,
            from: (Sharing, RunState),
            convert: Vec<Conversion>,
            steps: Vec<StepCost>,
        }
        type Stage = Vec<((Sharing, RunState), Node)>;
        fn offer(stage: &mut Stage, key: (Sharing, RunState), node: Node) {
            match stage.iter_mut().find(|(k, _)| *k == key) {
                Some((_, n)) if node.cost < n.cost => *n = node,
                Some(_) => {}
                None => stage.push((key, node)),
            }
        }
        // Stage −1: the input.
        let mut stage: Stage = Vec::new();
        for &s in &allowed.input {
            let steps = self.chain.input_steps(s, self.batch)?;
            if self.chain.check_steps(&steps).is_err() {
                continue;
            }
            let (cost, skew) = self.cost(&steps, RunState::default());
            let node = Node {
                cost,
                from: (s, RunState::default()),
                convert: Vec::new(),
                steps,
            };
            offer(&mut stage, (s, skew), node);
        }
        let mut history: Vec<Stage> = Vec::new();
        for (i, opts) in allowed.layers.iter().enumerate() {
            let mut next: Stage = Vec::new();
            for &s in opts {
                for (key, node) in &stage {
                    // The input enters in layer 0's sharing.
                    if i == 0 && key.0 != s {
                        continue;
                    }
                    for r in self.routes(key.0, s) {
                        let steps = self.chain.layer_steps(i, key.0, r, s, self.batch)?;
                        if self.chain.check_steps(&steps).is_err() {
                            continue;
                        }
                        let (c, skew) = self.cost(&steps, key.1);
                        let n = Node {
                            cost: node.cost + c,
                            from: *key,
                            convert: r.clone(),
                            steps,
                        };
                        offer(&mut next, (s, skew), n);
                    }
                }
            }
            if next.is_empty() {
                return Err(Error::Plan(format!(
                    "no sharing reaches layer {i} within the engine's limits"
                )));
            }
            history.push(std::mem::replace(&mut stage, next));
        }
        // The head.
        type Best = ((Sharing, RunState), Option<Placement>, f64, Vec<StepCost>);
        let mut best: Option<Best> = None;
        for h in &allowed.head {
            for (key, node) in &stage {
                let rs: Vec<Vec<Conversion>> = match h {
                    Some(hs) => self.routes(key.0, *hs).to_vec(),
                    None => vec![Vec::new()],
                };
                for r in rs {
                    let placement = h.map(|sharing| Placement {
                        sharing,
                        convert: r,
                    });
                    let steps = self.chain.head_steps(
                        key.0,
                        placement.as_ref(),
                        self.output,
                        self.batch,
                    )?;
                    if self.chain.check_steps(&steps).is_err() {
                        continue;
                    }
                    let cost = node.cost + self.cost(&steps, key.1).0;
                    if best.as_ref().is_none_or(|b| cost < b.2) {
                        best = Some((*key, placement, cost, steps));
                    }
                }
            }
        }
        let (mut at, head, objective, head_steps) =
            best.ok_or_else(|| Error::Plan("no place for the head".into()))?;
        // Walk back.
        let take = |stage: &mut Stage, key: (Sharing, RunState)| -> Result<Node> {
            let k = stage
                .iter()
                .position(|(x, _)| *x == key)
                .ok_or_else(|| Error::Plan("internal: lost a DP node".into()))?;
            Ok(stage.swap_remove(k).1)
        };
        let mut layers = Vec::new();
        let mut chunks = vec![head_steps];
        let mut current = stage;
        for prev in history.into_iter().rev() {
            let node = take(&mut current, at)?;
            layers.push(Placement {
                sharing: at.0,
                convert: node.convert,
            });
            chunks.push(node.steps);
            at = node.from;
            current = prev;
        }
        let input = at.0;
        let node = take(&mut current, at)?;
        chunks.push(node.steps);
        layers.reverse();
        chunks.reverse();
        Ok(Solution {
            strategy,
            assignment: Assignment {
                layers,
                head,
                output: self.output,
                input: None,
                working_set: None,
            },
            input,
            steps: chunks.into_iter().flatten().collect(),
            objective,
            over_limit: None,
        })
    }

    /// The optimum by exhaustive search over every assignment (input sharing, each
    /// layer's sharing and route, the head's), each priced as a whole run
    /// ([`Planner::steps`], [`Planner::run_cost`]): exponential in the number of
    /// layers, for tests of [`Planner::solve`].
    ///
    /// # Errors
    /// The engine's errors.
    pub fn brute_force(&self) -> Result<(Assignment, f64)> {
        let allowed = self.allowed(Strategy::Auto)?;
        let mut all = Vec::new();
        for &s in &allowed.input {
            self.enumerate(&allowed, s, &mut Vec::new(), &mut all);
        }
        let mut best: Option<(Assignment, f64)> = None;
        for a in all {
            let steps = self.steps(&a)?;
            if self.chain.check_steps(&steps).is_err() {
                continue;
            }
            let c = self.run_cost(&steps);
            if best.as_ref().is_none_or(|b| c < b.1) {
                best = Some((a, c));
            }
        }
        best.ok_or_else(|| Error::Plan("no assignment".into()))
    }

    fn enumerate(
        &self,
        allowed: &Allowed,
        prev: Sharing,
        partial: &mut Vec<Placement>,
        out: &mut Vec<Assignment>,
    ) {
        let i = partial.len();
        if i == allowed.layers.len() {
            for h in &allowed.head {
                let rs: Vec<Vec<Conversion>> = match h {
                    Some(hs) => self.routes(prev, *hs).to_vec(),
                    None => vec![Vec::new()],
                };
                for r in rs {
                    out.push(Assignment {
                        layers: partial.clone(),
                        head: h.map(|sharing| Placement {
                            sharing,
                            convert: r,
                        }),
                        output: self.output,
                        input: None,
                        working_set: None,
                    });
                }
            }
            return;
        }
        for &s in &allowed.layers[i] {
            if i == 0 && prev != s {
                continue;
            }
            for r in self.routes(prev, s) {
                partial.push(Placement {
                    sharing: s,
                    convert: r.clone(),
                });
                self.enumerate(allowed, s, partial, out);
                partial.pop();
            }
        }
    }
}

/// Linear layers (those that may run in A, except reshapes) in A, the others in
/// `boolean`; a reshape stays where its input is.
fn a_plus(
    layers: &[crate::engine::LayerInfo],
    options: &[Vec<Sharing>],
    boolean: Sharing,
) -> std::result::Result<Vec<Vec<Sharing>>, String> {
    let mut out: Vec<Vec<Sharing>> = Vec::new();
    for (i, (info, opts)) in layers.iter().zip(options).enumerate() {
        let prev = out.last().map(|v| v[0]);
        let want = match prev {
            Some(p) if info.op == "reshape" && opts.contains(&p) => p,
            _ if opts.contains(&Sharing::A) => Sharing::A,
            _ => boolean,
        };
        if !opts.contains(&want) {
            return Err(format!(
                "layer {i} `{}` ({}) cannot run in {want:?}",
                info.name, info.op
            ));
        }
        out.push(vec![want]);
    }
    Ok(out)
}
