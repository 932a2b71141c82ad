//! The plan file: a human-readable JSON record of an assignment with its predicted
//! cost, which a user may edit and run.
//!
//! A plan lists the model (name, SHA-256 of the ONNX file), the ring and fixed-point
//! bits, the batch, the network, the objective and the calibration it was priced
//! with; for the input, each layer and the head: the sharing, the conversions applied
//! before it (by name: `a2y`, `y2b`, `b2y`, `y2a`, `a2b-gmw`, `b2a-dabits`,
//! `b2a-ot`) and every step's predicted cost (bytes per party, rounds it adds, AND
//! gates, milliseconds); and the totals.
//!
//! Only the sharings and conversions are read back: [`Plan::assignment`] checks them
//! against the model (layer count and names, the sharings each operator allows,
//! routes that connect consecutive sharings, the head) and the costs are computed
//! again, so an edited plan cannot carry stale predictions.
//!
//! ```json
//! {
//!   "kind": "tessera-plan",
//!   "version": 1,
//!   "model": { "name": "mlp", "sha256": "…", "layers": 5 },
//!   "ring": "Z64", "frac_bits": 16, "batch": 1, "network": "lan",
//!   "objective": "online", "strategy": "auto", "output": "label",
//!   "input": { "sharing": "A", "steps": [ … ] },
//!   "layers": [
//!     { "index": 0, "name": "fc1", "op": "dense", "sharing": "A", "convert": [],
//!       "steps": [ { "name": "fc1: dense (plaintext weights)", "bytes": [0, 6280],
//!                    "rounds": 1, "and_gates": 0, "ms": 0.21 } ], "ms": 0.21 },
//!     { "index": 1, "name": "relu1", "op": "relu", "sharing": "Y", "convert": ["a2y"], … }
//!   ],
//!   "head": { "sharing": "Y", "convert": [], "steps": [ … ] },
//!   "totals": { "online_ms": 3.1, "offline_ms": 9.0, "bytes": [ … ], "rounds": 9, … }
//! }
//! ```

use std::path::Path;

use serde::{Deserialize, Serialize};
use tessera_conversions::{Conversion, Price, Sharing, primitive_edges};
use tessera_core::NetworkProfile;

use crate::assign::{Planner, Solution, Strategy, check_route};
use crate::calibration::Calibration;
use crate::engine::{Assignment, Output, Placement, StepCost};
use crate::time::{Objective, Offline, StepTime};
use crate::{Error, Result};

/// The `kind` field of a plan file.
pub const KIND: &str = "tessera-plan";
/// The plan format version.
pub const VERSION: u32 = 1;

/// The model a plan is for.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelRef {
    /// A name (the ONNX file's stem).
    pub name: String,
    /// SHA-256 of the ONNX file, hex.
    pub sha256: String,
    /// Number of layers.
    pub layers: usize,
}

/// The calibration a plan was priced with.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CalibrationRef {
    /// When it was measured.
    pub date: String,
    /// On what CPU.
    pub cpu: String,
    /// Whether it was a quick measurement.
    pub quick: bool,
}

/// One step's predicted cost.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StepPlan {
    /// What the step does.
    pub name: String,
    /// Bytes each party sends online.
    pub bytes: [u64; 2],
    /// Rounds the step adds to the run.
    pub rounds: u64,
    /// AND gates (GMW or garbled).
    pub and_gates: u64,
    /// Predicted online milliseconds.
    pub ms: f64,
    /// Bytes each party sends once per session (set-up), if any.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub setup_bytes: [u64; 2],
}

fn is_zero(b: &[u64; 2]) -> bool {
    *b == [0, 0]
}

/// The input's sharing and steps.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InputPlan {
    /// Where the client's input enters.
    pub sharing: Sharing,
    /// Its steps.
    pub steps: Vec<StepPlan>,
}

/// One layer of a plan.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LayerPlan {
    /// Position in the chain.
    pub index: usize,
    /// Layer name.
    pub name: String,
    /// Operator.
    pub op: String,
    /// The sharing it runs in.
    pub sharing: Sharing,
    /// Conversions applied to its input first, by name.
    pub convert: Vec<String>,
    /// Its steps (conversions, truncation, the layer).
    pub steps: Vec<StepPlan>,
    /// Predicted online milliseconds of its steps.
    pub ms: f64,
}

/// The head of a plan.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HeadPlan {
    /// Where the argmax runs (`null` when the scores are revealed).
    pub sharing: Option<Sharing>,
    /// Conversions applied first, by name.
    pub convert: Vec<String>,
    /// Its steps.
    pub steps: Vec<StepPlan>,
}

/// The predicted totals of a run.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Totals {
    /// Online milliseconds.
    pub online_ms: f64,
    /// Offline milliseconds (the offline source's and the set-up's).
    pub offline_ms: f64,
    /// The offline source `offline_ms` prices: `dealer` or `ot`.
    #[serde(default = "dealer_name")]
    pub offline_source: String,
    /// Online bytes each party sends.
    pub bytes: [u64; 2],
    /// Online rounds.
    pub rounds: u64,
    /// AND gates.
    pub and_gates: u64,
    /// Offline bytes the dealer sends party 1 (party 0 receives a seed).
    pub dealer_bytes: u64,
    /// Bytes sent once per session for plaintext-weight layers.
    pub setup_bytes: [u64; 2],
}

fn dealer_name() -> String {
    Offline::Dealer.name().to_string()
}

/// A plan serving several queries after one set-up of the model (one session: one
/// offline phase, one set-up): what is paid once, what per query, and the set-up's
/// share of each query.
///
/// Once per session: the set-up phase (party 0's masked weights `W − U` for the
/// plaintext-weight layers, one round) and the offline phase's fixed part (the
/// dealer's rounds and demand messages, the weight masks; with OT the base OTs and
/// the extension's set-up). Per query: its online steps and its own correlations.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Serving {
    /// Queries of `batch` examples answered after one set-up.
    pub queries: usize,
    /// Bytes each party sends in the set-up phase (exact; the handshake aside).
    pub setup_bytes: [u64; 2],
    /// Rounds of the set-up phase.
    pub setup_rounds: u64,
    /// Predicted milliseconds of the set-up phase.
    pub setup_ms: f64,
    /// Predicted offline milliseconds paid once per session besides the set-up.
    pub session_offline_ms: f64,
    /// Predicted online milliseconds of one query.
    pub query_online_ms: f64,
    /// Predicted offline milliseconds of one query's correlations.
    pub query_offline_ms: f64,
    /// Online bytes each party sends per query (exact).
    pub query_bytes: [u64; 2],
    /// Online rounds of a query after the first (exact; the first adds the same after
    /// a set-up).
    pub query_rounds: u64,
    /// Correction bytes the dealer sends party 1 per query (exact).
    pub query_dealer_bytes: u64,
    /// The set-up and the session's fixed offline time, divided over the queries.
    pub amortised_setup_ms: f64,
    /// A query's online and offline time plus its share of the set-up.
    pub total_ms_per_query: f64,
}

/// The cost of serving `queries` queries of the planner's batch with the plan whose
/// one-query steps are `steps` (set-up steps, those with set-up bytes, then the
/// online ones), after one set-up.
///
/// # Errors
/// If the dealer traffic cannot be computed; no query.
pub fn serving(planner: &Planner<'_>, steps: &[StepCost], queries: usize) -> Result<Serving> {
    if queries == 0 {
        return Err(Error::Plan("serving 0 queries".into()));
    }
    let tm = planner.time_model();
    let (setup, online): (Vec<StepCost>, Vec<StepCost>) =
        steps.iter().cloned().partition(|s| s.setup_bytes != [0, 0]);
    // A session of one query and of two: the second's offline time is a query's own
    // (additive per request under the dealer); what remains of one is the session's.
    let mut two = steps.to_vec();
    two.extend(online.iter().cloned());
    let one_off = tm.offline(steps)?;
    let query_offline = tm.offline(&two)? - one_off;
    let setup_s = tm.setup_phase(&setup);
    let session_offline = (one_off - query_offline - setup_s).max(0.0);
    let query_online: f64 = tm.run(steps).iter().map(|t| t.total).sum();
    let price = tessera_engine::total_price(&online);
    let setup_bytes = setup.iter().fold([0, 0], |acc, s| {
        [acc[0] + s.setup_bytes[0], acc[1] + s.setup_bytes[1]]
    });
    let amortised = (setup_s + session_offline) / queries as f64;
    Ok(Serving {
        queries,
        setup_bytes,
        setup_rounds: u64::from(setup_bytes != [0, 0]),
        setup_ms: setup_s * 1e3,
        session_offline_ms: session_offline * 1e3,
        query_online_ms: query_online * 1e3,
        query_offline_ms: query_offline * 1e3,
        query_bytes: price.bytes_sent,
        query_rounds: tessera_engine::query_rounds(&online, true),
        query_dealer_bytes: price.demand.correction_bytes::<tessera_core::Z64>() as u64,
        amortised_setup_ms: amortised * 1e3,
        total_ms_per_query: (query_online + query_offline + amortised) * 1e3,
    })
}

impl Serving {
    /// The lines `tessera plan` prints.
    pub fn text(&self) -> String {
        format!(
            "serving {q} quer{ies} after one set-up:\n  once per session: set-up {s0} + {s1} bytes, {sr} round{srs}, {sms:.3} ms; offline {so:.3} ms\n  per query: online {qo:.3} ms, {b0} + {b1} bytes, {qr} rounds; offline {qf:.3} ms, dealer {qd} bytes\n  set-up amortised over {q}: {am:.3} ms per query; in all {tot:.3} ms per query\n",
            q = self.queries,
            ies = if self.queries == 1 { "y" } else { "ies" },
            s0 = self.setup_bytes[0],
            s1 = self.setup_bytes[1],
            sr = self.setup_rounds,
            srs = if self.setup_rounds == 1 { "" } else { "s" },
            sms = self.setup_ms,
            so = self.session_offline_ms,
            qo = self.query_online_ms,
            b0 = self.query_bytes[0],
            b1 = self.query_bytes[1],
            qr = self.query_rounds,
            qf = self.query_offline_ms,
            qd = self.query_dealer_bytes,
            am = self.amortised_setup_ms,
            tot = self.total_ms_per_query,
        )
    }
}

/// A plan file.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Plan {
    /// Always [`KIND`].
    pub kind: String,
    /// [`VERSION`].
    pub version: u32,
    /// The model.
    pub model: ModelRef,
    /// The ring.
    pub ring: String,
    /// Fixed-point fractional bits.
    pub frac_bits: u32,
    /// Inferences per run.
    pub batch: usize,
    /// The network profile the costs are predicted for.
    pub network: String,
    /// What the assignment minimises.
    pub objective: Objective,
    /// How it was chosen (`auto`, a baseline, or `edited`).
    pub strategy: String,
    /// What the client receives.
    pub output: Output,
    /// The calibration.
    pub calibration: CalibrationRef,
    /// The input.
    pub input: InputPlan,
    /// The layers.
    pub layers: Vec<LayerPlan>,
    /// The head (of the first output), with the other outputs' reveals among its steps.
    pub head: HeadPlan,
    /// Totals.
    pub totals: Totals,
    /// The set-up paid once and each query's cost when one set-up serves several
    /// queries ([`Plan::serving`]); absent in plans written before.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub serving: Option<Serving>,
}

/// Facts about the model and run a plan records.
#[derive(Clone, Debug)]
pub struct Meta {
    /// The model.
    pub model: ModelRef,
    /// The ring's name.
    pub ring: String,
    /// Fixed-point fractional bits.
    pub frac_bits: u32,
    /// The network profile.
    pub network: NetworkProfile,
}

/// The predicted cost of one strategy.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Summary {
    /// The strategy.
    pub strategy: String,
    /// Online milliseconds.
    pub online_ms: f64,
    /// Offline milliseconds, from the planner's offline source.
    pub offline_ms: f64,
    /// Offline milliseconds with each source: the dealer, and OT extension between
    /// the parties (`None` when the OT source cannot make the demand or the
    /// calibration has no OT coefficients).
    pub offline_by_source: BySource,
    /// Online bytes sent by both parties.
    pub bytes: u64,
    /// Online rounds.
    pub rounds: u64,
    /// The sharings, one letter per layer (`A A Y A Y A` → `AAYAYA`), then the head.
    pub sharings: String,
    /// Why the engine would refuse to run it (a step over its limits), if it would.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub over_limit: Option<String>,
}

/// A figure under each offline source.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct BySource {
    /// With the dealer.
    pub dealer: f64,
    /// Without a dealer: OT extension between the parties.
    pub ot: Option<f64>,
}

/// The predicted offline milliseconds of `steps` under each source.
///
/// # Errors
/// If the dealer traffic cannot be computed.
pub fn offline_by_source(planner: &Planner<'_>, steps: &[StepCost]) -> Result<BySource> {
    let tm = planner.time_model();
    let dealer = tm.with_source(Offline::Dealer)?.offline(steps)? * 1e3;
    let ot = tm
        .with_source(Offline::Ot)
        .and_then(|m| m.offline(steps))
        .ok()
        .map(|t| t * 1e3);
    Ok(BySource { dealer, ot })
}

fn conversion_by_name(name: &str) -> Result<Conversion> {
    primitive_edges()
        .into_iter()
        .find(|c| c.name() == name)
        .ok_or_else(|| {
            let known: Vec<&str> = primitive_edges().into_iter().map(|c| c.name()).collect();
            Error::Plan(format!(
                "unknown conversion `{name}` (known: {})",
                known.join(", ")
            ))
        })
}

fn names(convert: &[Conversion]) -> Vec<String> {
    convert.iter().map(|c| c.name().to_string()).collect()
}

fn step_plan(s: &StepCost, t: &StepTime) -> StepPlan {
    StepPlan {
        name: s.name.clone(),
        bytes: s.price.bytes_sent,
        rounds: t.rounds,
        and_gates: s.price.and_gates,
        ms: t.total * 1e3,
        setup_bytes: s.setup_bytes,
    }
}

/// The predicted totals of a run's steps.
///
/// # Errors
/// If the dealer traffic cannot be computed.
pub fn totals(planner: &Planner<'_>, steps: &[StepCost]) -> Result<Totals> {
    let model = planner.time_model();
    let times = model.run(steps);
    let mut price = Price {
        bytes_sent: [0, 0],
        flights: Vec::new(),
        and_gates: 0,
        demand: tessera_protocols::Demand::new(),
    };
    let mut setup = [0u64; 2];
    for s in steps {
        price = price.then(&s.price);
        setup[0] += s.setup_bytes[0];
        setup[1] += s.setup_bytes[1];
    }
    let traffic = tessera_protocols::dealer::party_traffic::<tessera_core::Z64>(&price.demand)?;
    Ok(Totals {
        online_ms: times.iter().map(|t| t.total).sum::<f64>() * 1e3,
        offline_ms: model.offline(steps)? * 1e3,
        offline_source: model.source().name().to_string(),
        bytes: price.bytes_sent,
        rounds: price.rounds(),
        and_gates: price.and_gates,
        dealer_bytes: traffic[1].bytes_received,
        setup_bytes: setup,
    })
}

/// The one-line summary of a solution.
///
/// # Errors
/// As [`totals`].
pub fn summary(planner: &Planner<'_>, s: &Solution) -> Result<Summary> {
    let t = totals(planner, &s.steps)?;
    let mut sharings: String = s
        .assignment
        .layers
        .iter()
        .map(|p| format!("{:?}", p.sharing))
        .collect();
    if let Some(h) = &s.assignment.head {
        sharings.push_str(&format!("|{:?}", h.sharing));
    }
    Ok(Summary {
        strategy: s.strategy.name().to_string(),
        online_ms: t.online_ms,
        offline_ms: t.offline_ms,
        offline_by_source: offline_by_source(planner, &s.steps)?,
        bytes: t.bytes[0] + t.bytes[1],
        rounds: t.rounds,
        sharings,
        over_limit: s.over_limit.clone(),
    })
}

impl Plan {
    /// The plan of `solution`, with every step priced by `planner`.
    ///
    /// # Errors
    /// As [`totals`].
    pub fn new(
        planner: &Planner<'_>,
        meta: &Meta,
        cal: &Calibration,
        strategy: &str,
        assignment: &Assignment,
        steps: &[StepCost],
    ) -> Result<Plan> {
        let times = planner.time_model().run(steps);
        let infos = planner.chain().layers();
        let input_sharing = crate::assign::input_sharing(assignment)
            .ok_or_else(|| Error::Plan("a model without layers".into()))?;
        let mut input = InputPlan {
            sharing: input_sharing,
            steps: Vec::new(),
        };
        let mut layers: Vec<LayerPlan> = assignment
            .layers
            .iter()
            .zip(&infos)
            .enumerate()
            .map(|(i, (p, info))| LayerPlan {
                index: i,
                name: info.name.clone(),
                op: info.op.clone(),
                sharing: p.sharing,
                convert: names(&p.convert),
                steps: Vec::new(),
                ms: 0.0,
            })
            .collect();
        let mut head = HeadPlan {
            sharing: assignment.head.as_ref().map(|h| h.sharing),
            convert: assignment
                .head
                .as_ref()
                .map_or_else(Vec::new, |h| names(&h.convert)),
            steps: Vec::new(),
        };
        // Steps without a layer are the input's, except the trailing ones: the head's
        // and the other outputs' reveals.
        let head_from = steps
            .iter()
            .rposition(|s| s.layer.is_some())
            .map_or(0, |k| k + 1);
        for (k, (s, t)) in steps.iter().zip(&times).enumerate() {
            let sp = step_plan(s, t);
            match s.layer {
                Some(i) => {
                    let l = layers.get_mut(i).ok_or_else(|| {
                        Error::Plan(format!("a step of layer {i}, which does not exist"))
                    })?;
                    l.ms += sp.ms;
                    l.steps.push(sp);
                }
                None if k < head_from => input.steps.push(sp),
                None => head.steps.push(sp),
            }
        }
        Ok(Plan {
            kind: KIND.to_string(),
            version: VERSION,
            model: meta.model.clone(),
            ring: meta.ring.clone(),
            frac_bits: meta.frac_bits,
            batch: planner.batch(),
            network: meta.network.to_string(),
            objective: planner.objective(),
            strategy: strategy.to_string(),
            output: assignment.output,
            calibration: CalibrationRef {
                date: cal.date.clone(),
                cpu: cal.machine.cpu.clone(),
                quick: cal.quick,
            },
            input,
            layers,
            head,
            totals: totals(planner, steps)?,
            serving: Some(serving(planner, steps, 1)?),
        })
    }

    /// The same plan priced for `queries` queries after one set-up ([`serving`]).
    ///
    /// # Errors
    /// As [`serving`].
    pub fn serving(
        mut self,
        planner: &Planner<'_>,
        steps: &[StepCost],
        queries: usize,
    ) -> Result<Plan> {
        self.serving = Some(serving(planner, steps, queries)?);
        Ok(self)
    }

    /// Pretty JSON.
    ///
    /// # Errors
    /// Only if serialisation fails.
    pub fn to_json(&self) -> Result<String> {
        serde_json::to_string_pretty(self)
            .map_err(|e| Error::Plan(format!("cannot serialise: {e}")))
    }

    /// Parses a plan (the kind and version are checked first, so another file gets a
    /// clear error).
    ///
    /// # Errors
    /// [`Error::Plan`] if the text is not a plan of this version.
    pub fn from_json(text: &str) -> Result<Plan> {
        let v: serde_json::Value =
            serde_json::from_str(text).map_err(|e| Error::Plan(format!("not JSON: {e}")))?;
        match v.get("kind").and_then(|k| k.as_str()) {
            Some(KIND) => {}
            Some(other) => {
                return Err(Error::Plan(format!("kind is `{other}`, expected `{KIND}`")));
            }
            None => return Err(Error::Plan(format!("no `kind` field: not a {KIND} file"))),
        }
        match v.get("version").and_then(|s| s.as_u64()) {
            Some(s) if s == u64::from(VERSION) => {}
            Some(s) => {
                return Err(Error::Plan(format!(
                    "version {s}, this build reads version {VERSION}"
                )));
            }
            None => return Err(Error::Plan("no version".into())),
        }
        serde_json::from_value(v).map_err(|e| Error::Plan(format!("invalid plan: {e}")))
    }

    /// Reads a plan file.
    ///
    /// # Errors
    /// [`Error::Io`], or as [`Plan::from_json`].
    pub fn load(path: impl AsRef<Path>) -> Result<Plan> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path).map_err(|source| Error::Io {
            path: path.to_path_buf(),
            source,
        })?;
        Plan::from_json(&text).map_err(|e| match e {
            Error::Plan(m) => Error::Plan(format!("{}: {m}", path.display())),
            other => other,
        })
    }

    /// The assignment the plan describes, checked against the model and the chain:
    /// the model's SHA-256 and layer count, each layer's name, sharing and
    /// conversions, the input and the head. Costs are not read.
    ///
    /// # Errors
    /// [`Error::Plan`] naming the first problem.
    pub fn assignment(&self, planner: &Planner<'_>, sha256: &str) -> Result<Assignment> {
        if !self.model.sha256.eq_ignore_ascii_case(sha256) {
            return Err(Error::Plan(format!(
                "the plan is for model `{}` with SHA-256 {}, the model given has {sha256}",
                self.model.name, self.model.sha256
            )));
        }
        let chain = planner.chain();
        let infos = chain.layers();
        if self.layers.len() != infos.len() {
            return Err(Error::Plan(format!(
                "the plan has {} layers, the model {}",
                self.layers.len(),
                infos.len()
            )));
        }
        let mut prev = self.input.sharing;
        let mut placements = Vec::new();
        for (i, (l, info)) in self.layers.iter().zip(&infos).enumerate() {
            if l.name != info.name {
                let known = infos.iter().any(|x| x.name == l.name);
                return Err(Error::Plan(if known {
                    format!(
                        "layer {i} is `{}` in the model, the plan has `{}` there",
                        info.name, l.name
                    )
                } else {
                    format!("unknown layer `{}` (layer {i} is `{}`)", l.name, info.name)
                }));
            }
            let allowed = chain.options(i);
            if !allowed.contains(&l.sharing) {
                return Err(Error::Plan(format!(
                    "layer {i} `{}` ({}) cannot run in {:?}; allowed: {}",
                    l.name,
                    info.op,
                    l.sharing,
                    allowed
                        .iter()
                        .map(|s| format!("{s:?}"))
                        .collect::<Vec<_>>()
                        .join(", ")
                )));
            }
            let convert = l
                .convert
                .iter()
                .map(|n| conversion_by_name(n))
                .collect::<Result<Vec<_>>>()
                .map_err(|e| Error::Plan(format!("layer {i} `{}`: {e}", l.name)))?;
            if i == 0 {
                if !convert.is_empty() {
                    return Err(Error::Plan(format!(
                        "layer 0 `{}`: the input enters in the first layer's sharing; no conversions before it",
                        l.name
                    )));
                }
                if self.input.sharing != l.sharing {
                    return Err(Error::Plan(format!(
                        "the input enters in the first layer's sharing ({:?}), the plan says {:?}",
                        l.sharing, self.input.sharing
                    )));
                }
            }
            check_route(prev, &convert, l.sharing)
                .map_err(|e| Error::Plan(format!("before layer {i} `{}`: {e}", l.name)))?;
            placements.push(Placement {
                sharing: l.sharing,
                convert,
            });
            prev = l.sharing;
        }
        // The head reads the model's first output where its producer runs (on a
        // chain, the last layer).
        let first = chain.outputs().first().copied().unwrap_or(placements.len());
        let from = match first {
            0 => self.input.sharing,
            v => placements.get(v - 1).map_or(prev, |p| p.sharing),
        };
        let head = match self.head.sharing {
            Some(h) => {
                let convert = self
                    .head
                    .convert
                    .iter()
                    .map(|n| conversion_by_name(n))
                    .collect::<Result<Vec<_>>>()?;
                check_route(from, &convert, h)
                    .map_err(|e| Error::Plan(format!("before the head: {e}")))?;
                Some(Placement {
                    sharing: h,
                    convert,
                })
            }
            None if self.head.convert.is_empty() => None,
            None => {
                return Err(Error::Plan(
                    "the head has conversions but no sharing".into(),
                ));
            }
        };
        let allowed = chain.head_options(self.output);
        let hs = head.as_ref().map(|h| h.sharing);
        if !allowed.contains(&hs) {
            return Err(Error::Plan(format!(
                "the head cannot run in {} for output {:?}",
                hs.map_or("none".to_string(), |s| format!("{s:?}")),
                self.output
            )));
        }
        Ok(Assignment {
            layers: placements,
            head,
            output: self.output,
            input: None,
            working_set: None,
        })
    }

    /// A readable table of the plan.
    pub fn table(&self) -> String {
        let mut out = String::new();
        let line = |out: &mut String, what: &str, sharing: &str, conv: &str, s: &StepPlan| {
            let name = if is_zero(&s.setup_bytes) {
                s.name.clone()
            } else {
                format!(
                    "{} ({} B once)",
                    s.name,
                    s.setup_bytes[0] + s.setup_bytes[1]
                )
            };
            out.push_str(&format!(
                "  {:<16} {:<5} {:<18} {:<40} {:>11} {:>11} {:>6} {:>10} {:>9.3}\n",
                what,
                sharing,
                conv,
                truncate(&name, 40),
                s.bytes[0],
                s.bytes[1],
                s.rounds,
                s.and_gates,
                s.ms
            ));
        };
        out.push_str(&format!(
            "plan `{}` for {} ({} layers), {}, f = {}, batch {}, network {}, objective {}, output {:?}\n",
            self.strategy,
            self.model.name,
            self.model.layers,
            self.ring,
            self.frac_bits,
            self.batch,
            self.network,
            self.objective,
            self.output
        ));
        out.push_str(&format!(
            "  {:<16} {:<5} {:<18} {:<40} {:>11} {:>11} {:>6} {:>10} {:>9}\n",
            "layer", "in", "conversions", "step", "bytes P0", "bytes P1", "rounds", "AND", "ms"
        ));
        for s in &self.input.steps {
            line(
                &mut out,
                "(input)",
                &format!("{:?}", self.input.sharing),
                "",
                s,
            );
        }
        for l in &self.layers {
            let what = format!("{} {}", l.name, l.op);
            let conv = l.convert.join("+");
            if l.steps.is_empty() {
                out.push_str(&format!(
                    "  {:<16} {:<5} {:<18} {:<40}\n",
                    truncate(&what, 16),
                    format!("{:?}", l.sharing),
                    conv,
                    "(local, free)"
                ));
            }
            for (k, s) in l.steps.iter().enumerate() {
                let (w, sh, c) = if k == 0 {
                    (
                        truncate(&what, 16),
                        format!("{:?}", l.sharing),
                        conv.clone(),
                    )
                } else {
                    (String::new(), String::new(), String::new())
                };
                line(&mut out, &w, &sh, &c, s);
            }
        }
        let hs = self
            .head
            .sharing
            .map_or("-".to_string(), |s| format!("{s:?}"));
        for (k, s) in self.head.steps.iter().enumerate() {
            let (w, sh, c) = if k == 0 {
                (
                    "(head)".to_string(),
                    hs.clone(),
                    self.head.convert.join("+"),
                )
            } else {
                (String::new(), String::new(), String::new())
            };
            line(&mut out, &w, &sh, &c, s);
        }
        let t = &self.totals;
        out.push_str(&format!(
            "  total: online {:.3} ms, offline {:.3} ms ({}), {} + {} bytes online, {} rounds, {} AND gates, dealer {} bytes, set-up {} + {} bytes\n",
            t.online_ms,
            t.offline_ms,
            t.offline_source,
            t.bytes[0],
            t.bytes[1],
            t.rounds,
            t.and_gates,
            t.dealer_bytes,
            t.setup_bytes[0],
            t.setup_bytes[1]
        ));
        if let Some(sv) = &self.serving {
            out.push_str(&sv.text());
        }
        out
    }
}

fn truncate(s: &str, n: usize) -> String {
    if s.chars().count() <= n {
        s.to_string()
    } else {
        let mut t: String = s.chars().take(n.saturating_sub(1)).collect();
        t.push('…');
        t
    }
}

/// Every strategy's summary (`auto` first); a strategy that does not apply gives
/// its reason.
pub fn compare(planner: &Planner<'_>) -> Vec<(Strategy, Result<(Solution, Summary)>)> {
    Strategy::ALL
        .into_iter()
        .map(|st| {
            let r = planner
                .solve(st)
                .and_then(|sol| summary(planner, &sol).map(|sum| (sol, sum)));
            (st, r)
        })
        .collect()
}
