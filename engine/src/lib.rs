//! # tessera-engine
//!
//! Secure inference: a [`tessera_models::FixedModel`] run by two parties on shares,
//! each layer in the sharing an [`Assignment`] gives it — arithmetic (A), Boolean
//! GMW (B) or Yao (Y) — with conversions between them.
//!
//! # Roles
//! Party 0 is the model owner: it holds the weights in the clear. Party 1 is the
//! client: it holds the input and is the only party that learns the model's outputs
//! ([`tessera_models::Model::outputs`]): the first output's label (argmax) or, with
//! [`Output::Logits`], its values (the scores), and the values of every further output
//! in either case. Both parties know the architecture (layer kinds and shapes, which
//! values are outputs, the fixed-point format). Party 0 garbles, party 1 evaluates. A
//! dealer that is present only offline produces the correlated randomness ([`demand`]
//! says exactly which, in order).
//!
//! # Outputs
//! The program ends with the outputs, in the model's order: for output 0 either the
//! argmax head (its conversions, the tournament, the index revealed; [`Output::Label`])
//! or the values revealed ([`Output::Logits`]); for every further output its values
//! revealed, from the sharing its producer ran in (a pending accumulator is shifted by
//! the client in the clear, or for free in B/Y). Each reveal is one message from party 0
//! priced as the single output's always was; an output slot is kept until its reveal at
//! the end, so an output that later layers read is revealed after them.
//!
//! # What runs where
//! | layer | A | B / Y |
//! |---|---|---|
//! | dense, conv | plaintext-weight layer (party 1 sends one activation-sized message; [`tessera_protocols::arith::plain`]) | party 0 enters its weights; two circuits: one multiplier instance per product `x·w`, then one multi-operand sum (`Builder::sum`) of the products and the bias per output value |
//! | square | Beaver square | multiplier circuit |
//! | mul, matmul | Beaver product (element-wise, or a batched matrix triple: one exchange of both masked operands) | a multiplier per element, or `k` multipliers and their sum per output |
//! | mul_const | plaintext-weight product with the broadcast constant (`BilinearOp::Broadcast`), party 0 adding the bias | a multiplier (and adder) per element reading party 0's constants |
//! | add_const | local: party 0 adds its constant (party 1 negates for `c − x`) | an adder per element reading party 0's constant |
//! | avgpool | local sum pooling × `q` (square window, no padding) | sum + constant multiplication circuit |
//! | relu, maxpool, secureml_sigmoid | — | comparison circuits |
//! | sigmoid, tanh, elu, selu, softplus, softsign | — | the spline: window test, one-hot segment decoding, XOR-selected coefficients, a narrow multiplier (`ops/spline.rs`) |
//! | leaky_relu, prelu | — | a constant (LeakyRelu) or party 0's slope (PRelu, entered like weights) times `x`, shifted, selected by the sign |
//! | clip, abs, sign, max, min | — | comparisons with the public bounds or the other operand and a selection; an increment by the sign bit (abs); an OR tree (sign) |
//! | exp | — | the spline of `e^min(x, X)` (`ops/exp.rs`) |
//! | div, reciprocal | — | restoring division, `ℓ − 1` subtract-and-select steps (`ops/divide.rs`) |
//! | reshape | local | local |
//! | argmax head | — | tournament circuit; only the index is revealed, to party 1 |
//!
//! B circuits use the depth-optimised gadgets (one round per AND layer), Y circuits
//! the size-optimised ones (constant rounds, bytes per AND gate).
//!
//! # Truncation, exactly as the reference
//! A dense, conv, square or avgpool layer leaves its accumulator at scale `2^2f`
//! (*pending*). The next consumer truncates it:
//! - in B or Y, by wiring: the arithmetic shift `>> f` is a bit selection (sign
//!   extension), free and **exact** — identical to the reference's floor;
//! - when the value crosses from A to B/Y, it is converted first and shifted there
//!   (exact);
//! - when an A layer consumes it, by the dealer truncation pair (one exchange;
//!   `⌊a/2^f⌋ + e`, `e ∈ {0,1}`, see [`tessera_core::fixed`] for the bound);
//! - at the output, the client shifts the opened accumulator in the clear (exact).
//!
//! So every plan whose linear layers are followed by a non-linear layer or the
//! output — both reference models, under every plan — computes **exactly** the
//! reference's scores and labels; only consecutive A layers (e.g. conv → avgpool
//! both in A) add the dealer truncation's `e`.
//!
//! # Costs
//! [`assignment_steps`] lists every step of a run with its exact online price (bytes
//! each party sends, frame headers included; the message pattern, hence rounds; AND
//! gates; the correlations it consumes) and its local work, computed from the same
//! circuits and shapes the run uses — never by running. The tests check the prices
//! against the channel's meter. The planner turns them into time.
//!
//! Security model: semi-honest parties, a dealer that colludes with neither. No
//! weight, input, share or label is printed by `Debug` or logged.
#![deny(missing_docs)]

mod circuits;
mod cost;
mod exec;
mod ops;
pub mod program;
pub mod session;
pub mod train;

use serde::{Deserialize, Serialize};
pub use tessera_conversions::{A2bVariant, B2aVariant, Conversion, Flight, Price, Sharing};
use tessera_core::Ring;

use tessera_models::fixed::FixedModel;
pub use tessera_models::{Error, Result};

pub use cost::{
    ServingCost, StepCost, Work, assignment_steps, demand, head_steps, head_steps_within,
    input_steps, layer_steps, online_rounds, op_steps, op_steps_within, query_rounds, reveal_steps,
    route_steps, setup_steps, total_price, value_steps,
};
pub use exec::{Prepared, RunOptions, SecureOutput, infer_party, run_party, setup_party};
pub use tessera_protocols::gmw::DEFAULT_WORKING_SET;

/// What the client receives.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Output {
    /// The predicted label only (argmax computed securely in B or Y).
    Label,
    /// The scores (logits); the client computes the label itself.
    Logits,
}

/// Where one layer runs: its sharing, and the conversions applied to its input first
/// (from the previous layer's sharing to this one).
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Placement {
    /// The sharing the layer runs in.
    pub sharing: Sharing,
    /// The conversions applied to the layer's input, in order.
    #[serde(default)]
    pub convert: Vec<Conversion>,
}

impl Placement {
    /// A placement with the given conversions.
    pub fn new(sharing: Sharing, convert: Vec<Conversion>) -> Self {
        Placement { sharing, convert }
    }
}

/// An assignment of every layer of a model to a sharing: what a plan executes.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Assignment {
    /// One placement per model layer, in order. The client's input enters in the
    /// first layer's sharing (its conversions must be empty).
    pub layers: Vec<Placement>,
    /// Where the argmax of the model's first output runs (B or Y) when the output is
    /// [`Output::Label`], its conversions starting from the sharing the first output's
    /// producer runs in; `None` for [`Output::Logits`].
    pub head: Option<Placement>,
    /// What the client receives.
    pub output: Output,
    /// The sharing the client's input enters in; `None`: layer 0's sharing (then
    /// layer 0 takes no conversions). A DAG whose input is read by several layers may
    /// want it elsewhere.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub input: Option<Sharing>,
    /// One party's memory bound, in bytes, for each layer stage evaluated in GMW: a
    /// stage whose state exceeds it runs in chunks of instances, one after another
    /// (its AND depth in rounds per chunk; priced). `None`:
    /// [`DEFAULT_WORKING_SET`] (1 GiB).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub working_set: Option<u64>,
}

/// The sharings in which layer `i` of `model` can run with the same semantics (see
/// the module docs' table). Empty if there is no layer `i`.
pub fn layer_options<R: Ring>(model: &FixedModel<R>, i: usize) -> Vec<Sharing> {
    let Some(fl) = model.layers().get(i) else {
        return Vec::new();
    };
    let a = ops::runs_in_a(fl);
    let mut out = Vec::with_capacity(3);
    if a {
        out.push(Sharing::A);
    }
    out.extend([Sharing::B, Sharing::Y]);
    out
}

/// The sharings in which the argmax head can run.
pub fn head_options() -> [Sharing; 2] {
    [Sharing::B, Sharing::Y]
}

fn check_route(what: &str, from: Sharing, route: &[Conversion], to: Sharing) -> Result<()> {
    let mut at = from;
    for c in route {
        let (s, t) = c.endpoints();
        if s != at {
            return Err(Error::Plan(format!(
                "{what}: conversion {} starts in {s:?}, but the value is in {at:?}",
                c.name()
            )));
        }
        at = t;
    }
    if at != to {
        return Err(Error::Plan(format!(
            "{what}: the conversions end in {at:?}, but the layer runs in {to:?}"
        )));
    }
    Ok(())
}

impl Assignment {
    /// The GMW working set per party in bytes: [`Assignment::working_set`] or
    /// [`DEFAULT_WORKING_SET`].
    pub fn working_set(&self) -> u64 {
        self.working_set.unwrap_or(DEFAULT_WORKING_SET)
    }

    /// The sharing the client's input enters in.
    pub fn input_sharing(&self) -> Option<Sharing> {
        self.input
            .or_else(|| self.layers.first().map(|p| p.sharing))
    }

    /// The sharing value `v` is produced in (0 the input, `j + 1` layer `j`'s output),
    /// or `None` if there is no such value.
    pub fn value_sharing(&self, v: usize) -> Option<Sharing> {
        match v {
            0 => self.input_sharing(),
            _ => self.layers.get(v - 1).map(|p| p.sharing),
        }
    }

    /// Every layer in `sharing` where allowed, else in `fallback`, connected by the
    /// cheapest-by-construction default routes (A2B by GMW, B2A by daBits); the head
    /// (the first output's argmax) in `head` for [`Output::Label`].
    pub fn uniform<R: Ring>(
        model: &FixedModel<R>,
        linear: Sharing,
        nonlinear: Sharing,
        head: Sharing,
        output: Output,
    ) -> Result<Assignment> {
        let mut layers: Vec<Placement> = Vec::with_capacity(model.layers().len());
        for (i, fl) in model.layers().iter().enumerate() {
            let opts = layer_options(model, i);
            // The sharing of the value this layer reads first.
            let from = match fl.layer().inputs().first() {
                Some(&v) if v > 0 => layers.get(v - 1).map(|p| p.sharing),
                _ => None,
            };
            let want = match ops::role(fl) {
                ops::Role::Linear => linear,
                ops::Role::Follow => from.unwrap_or(linear),
                ops::Role::Nonlinear => nonlinear,
            };
            let s = if opts.contains(&want) {
                want
            } else if opts.contains(&nonlinear) {
                nonlinear
            } else {
                return Err(Error::Plan(format!(
                    "layer {} ({}) cannot run in {want:?} or {nonlinear:?}",
                    fl.layer().name(),
                    fl.layer().op().kind()
                )));
            };
            let convert = match (i, from) {
                (0, _) => Vec::new(),
                (_, Some(p)) => default_route(p, s),
                (_, None) => default_route(layers.first().map_or(s, |p| p.sharing), s),
            };
            layers.push(Placement::new(s, convert));
        }
        // The head reads the first output, produced in its layer's sharing (the
        // input's is layer 0's).
        let first = match model.outputs().first() {
            Some(&v) if v > 0 => layers.get(v - 1).map(|p| p.sharing),
            _ => layers.first().map(|p| p.sharing),
        };
        let head = match output {
            Output::Label => Some(Placement::new(
                head,
                default_route(first.unwrap_or(head), head),
            )),
            Output::Logits => None,
        };
        let a = Assignment {
            layers,
            head,
            output,
            input: None,
            working_set: None,
        };
        a.validate(model)?;
        Ok(a)
    }

    /// Checks the assignment against `model`: one placement per layer, every sharing
    /// allowed for its layer, every conversion route connecting the sharings, a head
    /// in B or Y exactly when the output is the label, reached from the sharing of the
    /// model's first output.
    ///
    /// # Errors
    /// [`Error::Plan`] naming the layer and what does not fit.
    pub fn validate<R: Ring>(&self, model: &FixedModel<R>) -> Result<()> {
        let layers = model.layers();
        if self.layers.len() != layers.len() {
            return Err(Error::Plan(format!(
                "{} placements for a model of {} layers",
                self.layers.len(),
                layers.len()
            )));
        }
        for (i, (p, fl)) in self.layers.iter().zip(layers).enumerate() {
            let what = format!("layer {} ({})", fl.layer().name(), fl.layer().op().kind());
            if !layer_options(model, i).contains(&p.sharing) {
                return Err(Error::Plan(format!(
                    "{what} cannot run in {:?} (allowed: {:?})",
                    p.sharing,
                    layer_options(model, i)
                )));
            }
            // The conversions apply to the layer's first input, from the sharing
            // its producer ran in (the client's input enters in layer 0's sharing).
            match fl.layer().inputs().first().copied().unwrap_or(0) {
                0 if i == 0 && self.input.is_none() && !p.convert.is_empty() => {
                    return Err(Error::Plan(format!(
                        "{what}: the input enters in the first layer's sharing; no conversions before it"
                    )));
                }
                0 => check_route(
                    &what,
                    self.input.unwrap_or(self.layers[0].sharing),
                    &p.convert,
                    p.sharing,
                )?,
                v => check_route(&what, self.layers[v - 1].sharing, &p.convert, p.sharing)?,
            }
        }
        match (self.output, &self.head) {
            (Output::Label, Some(h)) => {
                if !head_options().contains(&h.sharing) {
                    return Err(Error::Plan(format!(
                        "the argmax cannot run in {:?} (allowed: B, Y)",
                        h.sharing
                    )));
                }
                if layers.is_empty() {
                    return Err(Error::Plan("a model without layers".into()));
                }
                let first = model.outputs().first().copied().unwrap_or(layers.len());
                let from = self.value_sharing(first).ok_or_else(|| {
                    Error::Plan(format!(
                        "the first output is value {first}, which the model does not compute"
                    ))
                })?;
                check_route("argmax", from, &h.convert, h.sharing)
            }
            (Output::Label, None) => Err(Error::Plan(
                "the output is the label but no sharing is given for the argmax".into(),
            )),
            (Output::Logits, Some(_)) => Err(Error::Plan(
                "the output is the logits; an argmax placement makes no sense".into(),
            )),
            (Output::Logits, None) => Ok(()),
        }
    }
}

/// The named pure-protocol and classic mixed baselines.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Baseline {
    /// Everything in GMW, linear layers included.
    #[serde(rename = "pure-b")]
    PureB,
    /// Everything in Yao, linear layers included.
    #[serde(rename = "pure-y")]
    PureY,
    /// Linear layers in A, non-linear ones in Y (MiniONN, SecureML).
    #[serde(rename = "a+y")]
    AY,
    /// Linear layers in A, non-linear ones in GMW (Chameleon for low depth).
    #[serde(rename = "a+b")]
    AB,
    /// Everything in A: only for polynomial networks (CryptoNets); the client
    /// receives the scores and takes the argmax itself.
    #[serde(rename = "pure-a")]
    PureA,
}

impl Baseline {
    /// Every baseline.
    pub const ALL: [Baseline; 5] = [
        Baseline::PureB,
        Baseline::PureY,
        Baseline::AY,
        Baseline::AB,
        Baseline::PureA,
    ];

    /// Its name (`pure-b`, `a+y`, …).
    pub fn name(self) -> &'static str {
        match self {
            Baseline::PureB => "pure-b",
            Baseline::PureY => "pure-y",
            Baseline::AY => "a+y",
            Baseline::AB => "a+b",
            Baseline::PureA => "pure-a",
        }
    }

    /// The baseline of that name.
    pub fn from_name(name: &str) -> Option<Baseline> {
        Baseline::ALL.into_iter().find(|b| b.name() == name)
    }

    /// The baseline's assignment for `model` (default conversion routes). `pure-a`
    /// always gives the client the scores.
    ///
    /// # Errors
    /// [`Error::Plan`] if the model has a layer the baseline cannot run (e.g. ReLU
    /// under `pure-a`), naming it.
    pub fn assignment<R: Ring>(self, model: &FixedModel<R>, output: Output) -> Result<Assignment> {
        use Sharing::{A, B, Y};
        match self {
            Baseline::PureB => Assignment::uniform(model, B, B, B, output),
            Baseline::PureY => Assignment::uniform(model, Y, Y, Y, output),
            Baseline::AY => Assignment::uniform(model, A, Y, Y, output),
            Baseline::AB => Assignment::uniform(model, A, B, B, output),
            Baseline::PureA => {
                let mut layers = Vec::with_capacity(model.layers().len());
                for (i, fl) in model.layers().iter().enumerate() {
                    if !layer_options(model, i).contains(&A) {
                        return Err(Error::Plan(format!(
                            "pure-a does not apply: layer {} ({}) has no arithmetic form (only polynomial activations do)",
                            fl.layer().name(),
                            fl.layer().op().kind()
                        )));
                    }
                    layers.push(Placement::new(A, Vec::new()));
                }
                let a = Assignment {
                    layers,
                    head: None,
                    output: Output::Logits,
                    input: None,
                    working_set: None,
                };
                a.validate(model)?;
                Ok(a)
            }
        }
    }
}

/// The default conversion route between two sharings: nothing if equal, A2B by GMW,
/// B2A by daBits, Y2A directly, A2Y, B2Y, Y2B.
pub fn default_route(from: Sharing, to: Sharing) -> Vec<Conversion> {
    use Sharing::{A, B, Y};
    match (from, to) {
        (A, B) => vec![Conversion::A2BGmw],
        (A, Y) => vec![Conversion::A2Y],
        (B, A) => vec![Conversion::B2A(B2aVariant::DaBits)],
        (B, Y) => vec![Conversion::B2Y],
        (Y, A) => vec![Conversion::Y2A],
        (Y, B) => vec![Conversion::Y2B],
        _ => Vec::new(),
    }
}

/// Whether value `v` (0 the input, `j + 1` layer `j`'s output) is a pending
/// accumulator (scale `2^2f`): the output of a truncating layer, or a reshape of one.
pub(crate) fn pending_value<R: Ring>(model: &FixedModel<R>, mut v: usize) -> bool {
    while v > 0 {
        let l = model.layers()[v - 1].layer();
        match l.op() {
            op if op.is_view() => v = l.inputs()[0],
            op => return op.truncates(),
        }
    }
    false
}
