//! Planning private training: every comparison of an SGD iteration (each hidden
//! layer's ReLU derivative and the output activation) runs in B or Y, starting and
//! ending in A, so the choices are independent and the optimum is each step's
//! cheaper sharing under the calibrated time model — found by pricing the whole
//! iteration with one choice changed at a time.

use tessera_engine::Sharing;
use tessera_engine::train::{TrainPlan, TrainProgram, TrainSpec};

use crate::{Result, TimeModel};

/// The predicted online time of one iteration of `spec` under `plan`.
///
/// # Errors
/// An invalid spec or plan.
pub fn iteration_time(tm: &TimeModel<'_>, spec: &TrainSpec, plan: &TrainPlan) -> Result<f64> {
    Ok(tm.online(&TrainProgram::new(spec, plan)?.costs()?))
}

/// The plan of least predicted online time per iteration.
///
/// # Errors
/// An invalid spec.
pub fn best_plan(tm: &TimeModel<'_>, spec: &TrainSpec) -> Result<TrainPlan> {
    cheapest(spec, |plan| iteration_time(tm, spec, plan))
}

/// The predicted online time of inference with the model of `spec` on one batch of
/// `batch` examples under `plan` ([`TrainProgram::inference`]).
///
/// # Errors
/// An invalid spec or plan.
pub fn inference_time(
    tm: &TimeModel<'_>,
    spec: &TrainSpec,
    plan: &TrainPlan,
    batch: usize,
) -> Result<f64> {
    Ok(tm.online(&TrainProgram::inference(spec, plan, batch)?.costs()?))
}

/// The inference plan (each hidden comparison and the argmax in B or Y) of least
/// predicted online time per batch of `batch`.
///
/// # Errors
/// An invalid spec.
pub fn best_inference_plan(
    tm: &TimeModel<'_>,
    spec: &TrainSpec,
    batch: usize,
) -> Result<TrainPlan> {
    cheapest(spec, |plan| inference_time(tm, spec, plan, batch))
}

/// The plan `time` prices lowest: the comparisons' sharings are independent (each
/// starts and ends in A), so one change at a time from all-B finds it.
fn cheapest(spec: &TrainSpec, time: impl Fn(&TrainPlan) -> Result<f64>) -> Result<TrainPlan> {
    let mut plan = TrainPlan::uniform(spec, Sharing::B);
    for i in 0..=plan.hidden.len() {
        let mut alt = plan.clone();
        match alt.hidden.get_mut(i) {
            Some(s) => *s = Sharing::Y,
            None => alt.head = Sharing::Y,
        }
        if time(&alt)? < time(&plan)? {
            plan = alt;
        }
    }
    Ok(plan)
}
