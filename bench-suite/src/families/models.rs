//! Secure inference of the two reference models (embedded MLP and CNN) on MNIST test
//! digits under the planner's `auto` and the named baselines, at batch 1 and 100. Every
//! scenario carries the planner's prediction on `lan` and `wan` (the context's
//! calibration, [`FamilyContext::calibration`]), so that `tessera bench --filter model/`
//! is the README's predicted-against-measured table in one command; `auto` is planned
//! for, and runs on, each of the two networks.
//!
//! Untimed: the set-up (party 0's masked weights, once per session). Timed: the
//! inference (`tessera_engine::infer_party`). Verified: the client's labels
//! equal the plaintext fixed-point reference's. Plans over the engine's limits
//! (`pure-y`: gigabytes of garbled tables per digit; `pure-b` at batch 100: a GMW
//! layer message above the frame limit) are not listed; `tessera plan` prices them.
//! Plans predicted over the run's time budget (`pure-y` at batch 1: about two minutes
//! per repetition) are priced, not run.

use std::sync::OnceLock;

use tessera_conversions::Converter;
use tessera_core::{FixedPoint, NetworkProfile};
use tessera_engine::{
    self, Assignment, Output, RunOptions, assignment_steps, infer_party, setup_party,
};
use tessera_models::data::MNIST10K_TEST;
use tessera_models::{FixedModel, assets};
use tessera_planner::assign::{Planner, Strategy};
use tessera_planner::engine::ModelChain;
use tessera_planner::plan::compare;
use tessera_planner::{Calibration, Objective, TimeModel};
use tessera_protocols::{ArithParty, Demand};

use super::FamilyContext;
use crate::error::{BenchError, Result};
use crate::results::Prediction;
use crate::scenario::{R, Scenario, Stopwatch, Workload};

/// One secure inference of `batch` examples under `assignment`.
pub struct ModelWork {
    model: FixedModel<R>,
    assignment: Assignment,
    batch: usize,
    x: Vec<R>,
    reference: Vec<usize>,
    /// AND gates of the plan, from its exact prices (computed when first asked for).
    and_gates: OnceLock<u64>,
}

impl ModelWork {
    /// The embedded model `name` under `assignment` on the first `batch` test digits.
    ///
    /// # Errors
    /// If the model, the digits or the plan cannot be loaded or priced.
    pub fn new(name: &str, assignment: Assignment, batch: usize) -> Result<Self> {
        let model = assets::model(name)?;
        let fm = FixedModel::<R>::new(&model, FixedPoint::new(16))?;
        let mnist = assets::mnist()?;
        let t = MNIST10K_TEST.start;
        let x = fm.encode_input(&mnist.images_f32(t..t + batch)?)?;
        let reference = fm.run(&x)?.labels();
        let steps = assignment_steps(&fm, &assignment, batch)?;
        RunOptions::default().check(&steps)?;
        let work = ModelWork {
            model: fm,
            assignment,
            batch,
            x,
            reference,
            and_gates: OnceLock::new(),
        };
        let _ = work
            .and_gates
            .set(steps.iter().map(|s| s.price.and_gates).sum());
        Ok(work)
    }

    /// `model` under `assignment` on the `batch` examples `input` (float, the model's
    /// input shape each), without pricing the plan first: a scenario that may end up
    /// priced only (over the time budget) costs nothing more here.
    ///
    /// # Errors
    /// If the input does not fit the model or the reference cannot run.
    pub fn with_input(
        model: FixedModel<R>,
        assignment: Assignment,
        batch: usize,
        input: &[f32],
    ) -> Result<Self> {
        let x = model.encode_input(input)?;
        let reference = model.run(&x)?.labels();
        Ok(ModelWork {
            model,
            assignment,
            batch,
            x,
            reference,
            and_gates: OnceLock::new(),
        })
    }
}

impl Workload for ModelWork {
    type Input = ();
    type Output = Option<Vec<usize>>;

    fn demand(&self) -> Result<Demand> {
        Ok(tessera_engine::demand(
            &self.model,
            &self.assignment,
            self.batch,
        )?)
    }

    fn and_gates(&self) -> Option<u64> {
        if let Some(n) = self.and_gates.get() {
            return Some(*n);
        }
        let steps = assignment_steps(&self.model, &self.assignment, self.batch).ok()?;
        Some(
            *self
                .and_gates
                .get_or_init(|| steps.iter().map(|s| s.price.and_gates).sum()),
        )
    }

    fn inputs(&self) -> Result<()> {
        Ok(())
    }

    async fn party(
        &self,
        p: &mut ArithParty<R>,
        _: &(),
        sw: &mut Stopwatch,
    ) -> Result<Option<Vec<usize>>> {
        let party = p.party();
        let mut conv = Converter::new(party)?;
        let prepared = setup_party(p, &self.model, &self.assignment).await?;
        let input = (party == 1).then_some(self.x.as_slice());
        sw.start(p.channel_mut()).await?;
        let out = infer_party(
            p,
            &mut conv,
            &self.model,
            &self.assignment,
            &prepared,
            input,
            self.batch,
            RunOptions::default(),
        )
        .await?;
        sw.stop(p.channel());
        Ok(out.labels)
    }

    fn verify(&self, _: &(), out: [Option<Vec<usize>>; 2]) -> Result<()> {
        match out {
            [None, Some(l)] if l == self.reference => Ok(()),
            [None, Some(l)] => Err(BenchError::wrong(format!(
                "{} of {} labels differ from the fixed-point reference",
                l.iter()
                    .zip(&self.reference)
                    .filter(|(a, b)| a != b)
                    .count(),
                self.batch
            ))),
            _ => Err(BenchError::wrong(
                "only the client (party 1) must learn the labels",
            )),
        }
    }
}

/// One plan of a model priced by the planner: its assignment and its prediction on
/// each network it is predicted for.
pub(super) struct Priced {
    /// The strategy (`auto` is one entry per network, planned for it).
    pub plan: Strategy,
    pub assignment: Assignment,
    pub predictions: Vec<(NetworkProfile, Prediction)>,
}

/// The networks every model scenario is predicted on.
pub(super) const PROFILES: [NetworkProfile; 2] = [NetworkProfile::LAN, NetworkProfile::WAN];

fn ns(ms: f64) -> u64 {
    (ms * 1e6).round().max(0.0) as u64
}

/// `plans` of `fm` at `batch` priced under `cal` on [`PROFILES`]: `auto` planned for
/// each network on its own (one entry per network), a baseline one entry with its
/// prediction on every network; plans that do not apply (`pure-a` with ReLUs) left out.
///
/// # Errors
/// If the model has no chain the planner can price.
pub(super) fn priced_plans(
    fm: &FixedModel<R>,
    batch: usize,
    cal: &Calibration,
    plans: &[Strategy],
) -> Result<Vec<Priced>> {
    let plan_err = |e: tessera_planner::Error| BenchError::Usage(e.to_string());
    let chain = ModelChain::new(fm).map_err(plan_err)?;
    let mut out: Vec<Priced> = Vec::new();
    for net in PROFILES {
        let planner = Planner::new(
            &chain,
            TimeModel::new(cal, net),
            Objective::Online,
            batch,
            Output::Label,
        )
        .map_err(plan_err)?;
        for (st, r) in compare(&planner) {
            let (true, Ok((sol, sum))) = (plans.contains(&st), r) else {
                continue;
            };
            let p = Prediction {
                online_ns: ns(sum.online_ms),
                offline_ns: ns(sum.offline_ms),
                bytes: sum.bytes,
                rounds: sum.rounds,
                sharings: sum.sharings,
            };
            // A baseline is one assignment on every network: one entry, predicted on each.
            match out
                .iter_mut()
                .find(|x| x.plan == st && st != Strategy::Auto)
            {
                Some(x) => x.predictions.push((net, p)),
                None => out.push(Priced {
                    plan: st,
                    assignment: sol.assignment,
                    predictions: vec![(net, p)],
                }),
            }
        }
    }
    Ok(out)
}

/// Attaches a priced plan's predictions to its scenario; `auto` runs only on the
/// network it was planned for.
pub(super) fn with_predictions(mut sc: Scenario, p: &Priced) -> Scenario {
    for (net, pred) in &p.predictions {
        sc = sc.predicted(net, pred.clone());
        if p.plan == Strategy::Auto {
            sc = sc.only_on(net);
        }
    }
    sc
}

/// The plans measured for each model: the planner's `auto` and every baseline.
const PLANS: [Strategy; 6] = [
    Strategy::Auto,
    Strategy::APlusB,
    Strategy::APlusY,
    Strategy::PureB,
    Strategy::PureY,
    Strategy::PureA,
];

/// Both models under every plan that fits the engine's limits, at batch 1 and 100,
/// each with the planner's prediction on `lan` and `wan` (the context's calibration):
/// `auto` planned for the network it runs on, and a plan predicted over the run's
/// budget priced instead of run (`pure-y`); the MLP under a+b at batch 1 is quick.
///
/// # Errors
/// If an embedded model, the digits or the calibration cannot be loaded.
pub fn scenarios(ctx: &FamilyContext) -> Result<Vec<Scenario>> {
    let cal = ctx.calibration()?;
    let mut v = Vec::new();
    for name in assets::MODEL_NAMES {
        let model = assets::model(name)?;
        let fm = FixedModel::<R>::new(&model, FixedPoint::new(16))?;
        for batch in [1usize, 100] {
            for p in priced_plans(&fm, batch, &cal, &PLANS)? {
                // Over a limit (checked from the exact prices): not a scenario.
                let Ok(work) = ModelWork::new(name, p.assignment.clone(), batch) else {
                    continue;
                };
                let quick = name == "mlp" && p.plan == Strategy::APlusB && batch == 1;
                let sc = Scenario::new("model", format!("{name}/{}", p.plan.name()), work)
                    .param("batch", batch)
                    .quick(quick);
                v.push(with_predictions(sc, &p));
            }
        }
    }
    Ok(v)
}
