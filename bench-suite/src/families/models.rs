//! Secure inference of the two reference models (embedded MLP and CNN) on MNIST test
//! digits under the planner's `auto` (planned for `lan` and for `wan`) and the named
//! baselines, at batch 1 and 100.
//!
//! Untimed: the set-up (party 0's masked weights, once per session). Timed: the
//! inference (`tessera_engine::infer_party`). Verified: the client's labels
//! equal the plaintext fixed-point reference's. Plans over the engine's limits
//! (`pure-y`: gigabytes of garbled tables per digit; `pure-b` at batch 100: a GMW
//! layer message above the frame limit) are not listed; `tessera plan` prices them.

use std::sync::OnceLock;

use tessera_conversions::Converter;
use tessera_core::{FixedPoint, NetworkProfile};
use tessera_engine::{
    self, Assignment, Baseline, Output, RunOptions, assignment_steps, infer_party, setup_party,
};
use tessera_models::data::MNIST10K_TEST;
use tessera_models::{FixedModel, assets};
use tessera_planner::assign::{Planner, Strategy};
use tessera_planner::engine::ModelChain;
use tessera_planner::{Calibration, Objective, TimeModel};
use tessera_protocols::{ArithParty, Demand};

use super::FamilyContext;
use crate::error::{BenchError, Result};
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

/// The plans measured for each model: the planner's `auto` for `lan` and for `wan`
/// (embedded calibration), and the baselines; those over the engine's limits are
/// dropped by the caller.
fn plans(fm: &FixedModel<R>, batch: usize) -> Vec<(String, Assignment)> {
    let mut v = Vec::new();
    if let (Ok(cal), Ok(chain)) = (Calibration::default_embedded(), ModelChain::new(fm)) {
        for net in [NetworkProfile::LAN, NetworkProfile::WAN] {
            let auto = Planner::new(
                &chain,
                TimeModel::new(&cal, net),
                Objective::Online,
                batch,
                Output::Label,
            )
            .and_then(|p| p.solve(Strategy::Auto));
            if let Ok(sol) = auto {
                v.push((format!("auto-{net}"), sol.assignment));
            }
        }
    }
    for b in [
        Baseline::AB,
        Baseline::AY,
        Baseline::PureB,
        Baseline::PureY,
        Baseline::PureA,
    ] {
        let Ok(a) = b.assignment(fm, Output::Label) else {
            continue; // pure-a: the reference models have ReLUs.
        };
        v.push((b.name().to_string(), a));
    }
    v
}

/// Both models under every plan that fits, at batch 1 and 100; the MLP under a+b at
/// batch 1 is quick.
///
/// # Errors
/// If an embedded model or the digits cannot be loaded.
pub fn scenarios(_: &FamilyContext) -> Result<Vec<Scenario>> {
    let mut v = Vec::new();
    for name in assets::MODEL_NAMES {
        let model = assets::model(name)?;
        let fm = FixedModel::<R>::new(&model, FixedPoint::new(16))?;
        for batch in [1usize, 100] {
            for (plan, a) in plans(&fm, batch) {
                // Over a limit (checked from the exact prices): not a scenario.
                let Ok(work) = ModelWork::new(name, a, batch) else {
                    continue;
                };
                v.push(
                    Scenario::new("model", format!("{name}/{plan}"), work)
                        .param("batch", batch)
                        .quick(name == "mlp" && plan == "a+b" && batch == 1),
                );
            }
        }
    }
    Ok(v)
}
