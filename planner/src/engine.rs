//! What the planner needs from the secure inference engine: for a chain of layers, the
//! sharings each layer may run in and the exact cost of every step of a run for a
//! given choice of sharings and conversions.
//!
//! [`Chain`] is that interface; [`ModelChain`] implements it with the engine of
//! `tessera_engine` ([`layer_options`], [`input_steps`], [`layer_steps`],
//! [`head_steps`], [`tessera_engine::assignment_steps`], the named [`Baseline`]s). The
//! planner never prices a layer itself: the engine counts bytes, message patterns, gates and
//! correlations for the exact shapes, and the planner only turns them into time with
//! the calibrated coefficients ([`crate::time`]). The trait also lets the tests run
//! the planner on synthetic chains (the brute-force check of the DP).

use std::cell::RefCell;
use std::collections::HashMap;

use tessera_conversions::{Conversion, Sharing};
use tessera_core::Z64;
pub use tessera_engine::{Assignment, Output, Placement, StepCost, Work};
use tessera_engine::{
    Baseline, RunOptions, head_options, head_steps, input_steps, layer_options, layer_steps,
    setup_steps,
};
use tessera_models::FixedModel;

use crate::assign::Strategy;
use crate::{Error, Result};

/// A layer as the planner shows it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LayerInfo {
    /// The layer's name (the ONNX node name).
    pub name: String,
    /// The operator's short name (`dense`, `relu`, ...).
    pub op: String,
}

/// A chain of layers whose steps an engine can price.
///
/// The cost of layer `i` depends only on the sharing of layer `i − 1`, the
/// conversions applied to its input and its own sharing. This locality is what makes
/// dynamic programming over (layer, sharing) exact ([`crate::assign`]). The client's
/// input enters in layer 0's sharing (no conversions before layer 0).
pub trait Chain {
    /// The layers, in order.
    fn layers(&self) -> Vec<LayerInfo>;

    /// The sharings layer `i` may run in without changing its result.
    fn options(&self, i: usize) -> Vec<Sharing>;

    /// The client's input entering in sharing `first`.
    ///
    /// # Errors
    /// If the engine cannot price it.
    fn input_steps(&self, first: Sharing, batch: usize) -> Result<Vec<StepCost>>;

    /// Layer `i` in `sharing` after `convert` from the previous layer's `prev`,
    /// including its once-per-session set-up steps.
    ///
    /// # Errors
    /// If the combination is invalid or the engine cannot price it.
    fn layer_steps(
        &self,
        i: usize,
        prev: Sharing,
        convert: &[Conversion],
        sharing: Sharing,
        batch: usize,
    ) -> Result<Vec<StepCost>>;

    /// The head (argmax in `head`, or the scores revealed) of the first output, whose
    /// producer runs in `last` (on a chain, the last layer).
    ///
    /// # Errors
    /// If the combination is invalid or the engine cannot price it.
    fn head_steps(
        &self,
        last: Sharing,
        head: Option<&Placement>,
        output: Output,
        batch: usize,
    ) -> Result<Vec<StepCost>>;

    /// Where the head may run for `output`: `[None]` for logits, the Boolean
    /// sharings for a label.
    fn head_options(&self, output: Output) -> Vec<Option<Sharing>> {
        match output {
            Output::Logits => vec![None],
            Output::Label => vec![Some(Sharing::B), Some(Sharing::Y)],
        }
    }

    /// The engine's own assignment of a named baseline, if it defines one (`None`:
    /// the planner builds it from the baseline's rule with the best route on every
    /// edge).
    ///
    /// # Errors
    /// [`Error::NotApplicable`] if the baseline does not fit the chain.
    fn baseline(&self, _strategy: Strategy, _output: Output) -> Option<Result<Assignment>> {
        None
    }

    /// The values layer `i` reads, in order: 0 is the client's input, `j + 1` layer
    /// `j`'s output. A chain's layer reads the previous one (the default).
    fn inputs(&self, i: usize) -> Vec<usize> {
        vec![i]
    }

    /// The model's outputs, in order: the values they are (0 the client's input,
    /// `j + 1` layer `j`'s output). The head reads the first. A chain's only output is
    /// the last layer's (the default).
    fn outputs(&self) -> Vec<usize> {
        vec![self.layers().len()]
    }

    /// Output `k ≥ 1` revealed to the client from `from`, the sharing its producer
    /// runs in (output 0 is the head's, [`Chain::head_steps`]): what the DAG planner
    /// charges the node that produces it.
    ///
    /// # Errors
    /// If the engine cannot price it.
    fn output_steps(&self, k: usize, _from: Sharing, _batch: usize) -> Result<Vec<StepCost>> {
        Err(Error::Plan(format!(
            "this engine prices one output only, not output {k}"
        )))
    }

    /// Whether every layer reads exactly the previous one and the only output is the
    /// last layer's: what the chain DP plans (anything else goes to the DAG planner).
    fn is_chain(&self) -> bool {
        let n = self.layers().len();
        (0..n).all(|i| self.inputs(i) == [i]) && self.outputs() == [n]
    }

    /// Layer `i`'s own steps in `sharing` with its inputs there (set-up included):
    /// what the DAG planner charges a node.
    ///
    /// # Errors
    /// If the combination is invalid or the engine cannot price it.
    fn body_steps(&self, i: usize, sharing: Sharing, batch: usize) -> Result<Vec<StepCost>> {
        self.layer_steps(i, sharing, &[], sharing, batch)
    }

    /// The steps that bring value `v` from `from` to a consumer in `to`: what the DAG
    /// planner charges a value once per target sharing.
    ///
    /// # Errors
    /// If the engine cannot price it.
    fn value_steps(
        &self,
        _v: usize,
        _from: Sharing,
        _to: Sharing,
        _batch: usize,
    ) -> Result<Vec<StepCost>> {
        Err(Error::Plan("this engine prices chains only".into()))
    }

    /// Every step of a run of `a` when the layers do not form a chain or the input
    /// enters elsewhere than in layer 0's sharing (`None`: walk the chain).
    fn run_steps(&self, _a: &Assignment, _batch: usize) -> Option<Result<Vec<StepCost>>> {
        None
    }

    /// Whether steps can run within the engine's limits (message and garbled-table
    /// sizes); the planner does not choose steps that cannot.
    ///
    /// # Errors
    /// The first step over a limit, named.
    fn check_steps(&self, _steps: &[StepCost]) -> std::result::Result<(), String> {
        Ok(())
    }
}

/// A fixed-point model in `Z_2^64` priced by the secure inference engine.
///
/// The engine prices a dense or convolution layer in B or Y by building its whole
/// circuit (seconds for the reference models' first layers), and the DP asks for the
/// same layer after several conversion routes. Outside A, a layer's own steps do not
/// depend on where its input comes from, so they are computed once per (layer,
/// sharing, batch) and the conversions' steps are added from the conversions' exact
/// prices ([`conversion_steps`]); the tests check the result against the engine's
/// [`layer_steps`] for every combination.
#[derive(Debug)]
pub struct ModelChain<'m> {
    model: &'m FixedModel<Z64>,
    /// The set-up step of each layer that has a plaintext weight when it runs in A.
    setup: HashMap<usize, Vec<StepCost>>,
    /// Layer steps outside A, by (layer, sharing, batch).
    bodies: RefCell<HashMap<(usize, Sharing, usize), Vec<StepCost>>>,
}

impl<'m> ModelChain<'m> {
    /// The chain of `model`.
    ///
    /// # Errors
    /// If the engine cannot list the model's set-up steps.
    pub fn new(model: &'m FixedModel<Z64>) -> Result<Self> {
        // The set-up of a layer in A (its masked weight, once per session) depends on
        // that layer alone: read it off the assignment with every layer that can run
        // in A there.
        let all_a = Assignment::uniform(model, Sharing::A, Sharing::B, Sharing::B, Output::Label)?;
        let mut setup: HashMap<usize, Vec<StepCost>> = HashMap::new();
        for s in setup_steps(model, &all_a)? {
            if let Some(i) = s.layer {
                setup.entry(i).or_default().push(s);
            }
        }
        Ok(ModelChain {
            model,
            setup,
            bodies: RefCell::new(HashMap::new()),
        })
    }

    /// The model.
    pub fn model(&self) -> &'m FixedModel<Z64> {
        self.model
    }
}

impl Chain for ModelChain<'_> {
    fn layers(&self) -> Vec<LayerInfo> {
        self.model
            .layers()
            .iter()
            .map(|l| LayerInfo {
                name: l.layer().name().to_string(),
                op: l.layer().op().kind().to_string(),
            })
            .collect()
    }

    fn options(&self, i: usize) -> Vec<Sharing> {
        layer_options(self.model, i)
    }

    fn input_steps(&self, first: Sharing, batch: usize) -> Result<Vec<StepCost>> {
        Ok(input_steps(self.model, first, batch)?)
    }

    fn layer_steps(
        &self,
        i: usize,
        prev: Sharing,
        convert: &[Conversion],
        sharing: Sharing,
        batch: usize,
    ) -> Result<Vec<StepCost>> {
        let mut out = Vec::new();
        if sharing == Sharing::A {
            if let Some(s) = self.setup.get(&i) {
                out.extend(s.iter().cloned());
            }
            out.extend(layer_steps(self.model, i, prev, convert, sharing, batch)?);
            return Ok(out);
        }
        let layer = self
            .model
            .layers()
            .get(i)
            .ok_or_else(|| Error::Plan(format!("no layer {i}")))?
            .layer();
        crate::assign::check_route(prev, convert, sharing)
            .map_err(|e| Error::Plan(format!("layer {}: {e}", layer.name())))?;
        let n_in = batch * layer.input_shape().iter().product::<usize>();
        out.extend(conversion_steps(layer.name(), Some(i), convert, n_in)?);
        let key = (i, sharing, batch);
        let cached = self.bodies.borrow().get(&key).cloned();
        let body = match cached {
            Some(b) => b,
            None => {
                let b = layer_steps(self.model, i, sharing, &[], sharing, batch)?;
                self.bodies.borrow_mut().insert(key, b.clone());
                b
            }
        };
        out.extend(body);
        Ok(out)
    }

    fn head_steps(
        &self,
        last: Sharing,
        head: Option<&Placement>,
        output: Output,
        batch: usize,
    ) -> Result<Vec<StepCost>> {
        Ok(head_steps(self.model, last, head, output, batch)?)
    }

    fn head_options(&self, output: Output) -> Vec<Option<Sharing>> {
        match output {
            Output::Logits => vec![None],
            Output::Label => head_options().into_iter().map(Some).collect(),
        }
    }

    fn inputs(&self, i: usize) -> Vec<usize> {
        self.model
            .layers()
            .get(i)
            .map_or_else(Vec::new, |l| l.layer().inputs().to_vec())
    }

    fn outputs(&self) -> Vec<usize> {
        self.model.outputs().to_vec()
    }

    fn output_steps(&self, k: usize, from: Sharing, batch: usize) -> Result<Vec<StepCost>> {
        Ok(tessera_engine::reveal_steps(self.model, k, from, batch)?)
    }

    fn body_steps(&self, i: usize, sharing: Sharing, batch: usize) -> Result<Vec<StepCost>> {
        let mut out = Vec::new();
        if sharing == Sharing::A
            && let Some(s) = self.setup.get(&i)
        {
            out.extend(s.iter().cloned());
        }
        let key = (i, sharing, batch);
        let cached = self.bodies.borrow().get(&key).cloned();
        let body = match cached {
            Some(b) => b,
            None => {
                let b = tessera_engine::op_steps(self.model, i, sharing, batch, 0)?;
                self.bodies.borrow_mut().insert(key, b.clone());
                b
            }
        };
        out.extend(body);
        Ok(out)
    }

    fn value_steps(
        &self,
        v: usize,
        from: Sharing,
        to: Sharing,
        batch: usize,
    ) -> Result<Vec<StepCost>> {
        Ok(tessera_engine::value_steps(self.model, v, from, to, batch)?)
    }

    fn run_steps(&self, a: &Assignment, batch: usize) -> Option<Result<Vec<StepCost>>> {
        (!self.is_chain() || a.input.is_some())
            .then(|| tessera_engine::assignment_steps(self.model, a, batch).map_err(Error::from))
    }

    fn check_steps(&self, steps: &[StepCost]) -> std::result::Result<(), String> {
        RunOptions::default().check(steps).map_err(|e| match e {
            tessera_models::Error::Plan(m) => m,
            other => other.to_string(),
        })
    }

    fn baseline(&self, strategy: Strategy, output: Output) -> Option<Result<Assignment>> {
        let b = Baseline::from_name(strategy.name())?;
        Some(b.assignment(self.model, output).map_err(|e| {
            Error::NotApplicable {
                strategy: strategy.name().to_string(),
                reason: match e {
                    tessera_models::Error::Plan(m) => m
                        .trim_start_matches(&format!("{} does not apply: ", strategy.name()))
                        .to_string(),
                    other => other.to_string(),
                },
            }
        }))
    }
}

/// The steps of the conversions `route` applied to `n` values of Z_2^64 before layer
/// `layer` named `name`: each conversion's exact price ([`Price::of`](tessera_conversions::Price::of)) and its work,
/// as the engine lists them.
///
/// # Errors
/// Only if a conversion circuit cannot be built (never for ℓ = 64).
pub fn conversion_steps(
    name: &str,
    layer: Option<usize>,
    route: &[Conversion],
    n: usize,
) -> Result<Vec<StepCost>> {
    Ok(tessera_engine::route_steps::<tessera_core::Z64>(
        name, layer, route, n,
    )?)
}
