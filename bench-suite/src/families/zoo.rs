//! The model zoo: the literature's secure-inference networks (`models/zoo/README.md`) —
//! the SecureML MLP and the Chameleon/CryptoNets CNN (embedded `mlp`, `cnn`), MiniONN's
//! MNIST network, LeNet-5, MiniONN's CIFAR-10 network and ResNet-20 — at batch 1 (one
//! inference: the papers' figure) under `auto` (planned for the network it runs on: the
//! scenario `auto` on `lan` is the lan plan), `a+b`, `a+y`, `pure-b` and `pure-y`.
//!
//! Built only when asked for (`tessera bench --zoo`, [`FamilyContext::zoo`]): every
//! scenario carries the planner's prediction on `lan` and `wan` (the context's calibration;
//! about 3 s for the six networks), and the runner prices a scenario
//! whose predicted online + offline time exceeds the run's budget instead of running it
//! (`predicted_only` in the results). MNIST networks read the first test digit, the
//! CIFAR-10 ones the first example of their committed input (`input_<name>.npy`).
//! Untimed: the set-up (party 0's masked weights). Timed: the inference. Verified: the
//! client's label equals the fixed-point reference's.

use std::path::Path;

use tessera_core::FixedPoint;
use tessera_models::data::MNIST10K_TEST;
use tessera_models::{FixedModel, Model, NpyF32, assets, load_onnx_file};
use tessera_planner::assign::Strategy;

use super::FamilyContext;
use super::models::{ModelWork, priced_plans, with_predictions};
use crate::error::{BenchError, Result};
use crate::scenario::{R, Scenario};

/// The zoo's networks: scenario name and where the model comes from (`None`: embedded).
pub const NETWORKS: [(&str, Option<&str>); 6] = [
    ("secureml-mlp", None),
    ("chameleon-cnn", None),
    ("minionn-mnist", Some("minionn_mnist")),
    ("lenet5", Some("lenet5")),
    ("minionn-cifar", Some("minionn_cifar")),
    ("resnet20", Some("resnet20")),
];

/// The plans measured (the planner's strategies; `pure-a` does not apply to ReLU networks).
const PLANS: [Strategy; 5] = [
    Strategy::Auto,
    Strategy::APlusB,
    Strategy::APlusY,
    Strategy::PureB,
    Strategy::PureY,
];

fn embedded_name(name: &str) -> &'static str {
    if name == "secureml-mlp" { "mlp" } else { "cnn" }
}

/// The model and one input example (float) of a zoo network.
fn load(dir: &Path, name: &str, file: Option<&str>) -> Result<(Model, Vec<f32>)> {
    let Some(file) = file else {
        let model = assets::model(embedded_name(name))?;
        let mnist = assets::mnist()?;
        let t = MNIST10K_TEST.start;
        return Ok((model, mnist.images_f32(t..t + 1)?));
    };
    let model = load_onnx_file(dir.join(format!("{file}.onnx")))?;
    let input = NpyF32::from_file(dir.join(format!("input_{file}.npy")))?;
    let per: usize = model.input_shape().iter().product();
    let x = input.data.get(..per).ok_or_else(|| {
        BenchError::Usage(format!(
            "input_{file}.npy: fewer than {per} values (one example)"
        ))
    })?;
    Ok((model, x.to_vec()))
}

/// Every zoo network under every plan, each with its predictions; empty unless
/// [`FamilyContext::zoo`].
///
/// # Errors
/// If a model or its input cannot be loaded, or the planner cannot price it.
pub fn scenarios(ctx: &FamilyContext) -> Result<Vec<Scenario>> {
    if !ctx.zoo {
        return Ok(Vec::new());
    }
    let cal = ctx.calibration()?;
    let mut v = Vec::new();
    for (name, file) in NETWORKS {
        let (model, x) = load(&ctx.zoo_dir, name, file)?;
        let fm = FixedModel::<R>::new(&model, FixedPoint::new(16))?;
        for p in priced_plans(&fm, 1, &cal, &PLANS)? {
            let work = ModelWork::with_input(fm.clone(), p.assignment.clone(), 1, &x)?;
            let sc =
                Scenario::new("zoo", format!("{name}/{}", p.plan.name()), work).param("batch", 1);
            v.push(with_predictions(sc, &p));
        }
    }
    Ok(v)
}
