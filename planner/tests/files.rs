//! The plan and calibration files: round trips, and clear errors for edited,
//! corrupted or mismatched files.
#![allow(clippy::unwrap_used)]

use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use tessera_core::{FixedPoint, NetworkProfile, Z64};
use tessera_models::{FixedModel, assets};
use tessera_planner::assign::{Planner, Strategy};
use tessera_planner::engine::ModelChain;
use tessera_planner::plan::{Meta, ModelRef, Plan};
use tessera_planner::{Calibration, Objective, Output, TimeModel};

fn sha(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// Plans the embedded MLP's `a+y` baseline (cheap to price: no dense layer in B or
/// Y) and checks what comes back from its JSON.
#[test]
fn plan_round_trip_and_validation_errors() {
    let bytes = assets::model_bytes("mlp").unwrap();
    let model = assets::model("mlp").unwrap();
    let fm = FixedModel::<Z64>::new(&model, FixedPoint::new(16)).unwrap();
    let chain = ModelChain::new(&fm).unwrap();
    let cal = Calibration::default_embedded().unwrap();
    let planner = Planner::new(
        &chain,
        TimeModel::new(&cal, NetworkProfile::LAN),
        Objective::Online,
        1,
        Output::Label,
    )
    .unwrap();
    let sol = planner.solve(Strategy::APlusY).unwrap();
    let meta = Meta {
        model: ModelRef {
            name: "mlp".into(),
            sha256: sha(bytes),
            layers: fm.layers().len(),
        },
        ring: "Z64".into(),
        frac_bits: 16,
        network: NetworkProfile::LAN,
    };
    let plan = Plan::new(&planner, &meta, &cal, "a+y", &sol.assignment, &sol.steps).unwrap();
    // Totals add up over the steps of the table.
    let ms: f64 = plan.input.steps.iter().map(|s| s.ms).sum::<f64>()
        + plan.layers.iter().map(|l| l.ms).sum::<f64>()
        + plan.head.steps.iter().map(|s| s.ms).sum::<f64>();
    assert!(
        (ms - plan.totals.online_ms).abs() < 1e-9 * ms.max(1.0),
        "{ms} vs {}",
        plan.totals.online_ms
    );
    let rounds: u64 = plan
        .layers
        .iter()
        .flat_map(|l| &l.steps)
        .chain(&plan.input.steps)
        .chain(&plan.head.steps)
        .map(|s| s.rounds)
        .sum();
    assert_eq!(rounds, plan.totals.rounds);
    assert!(plan.table().contains("relu1"));

    let text = plan.to_json().unwrap();
    let back = Plan::from_json(&text).unwrap();
    assert_eq!(back, plan);
    assert_eq!(
        back.assignment(&planner, &sha(bytes)).unwrap(),
        sol.assignment
    );

    let v: Value = serde_json::from_str(&text).unwrap();
    let err = |edit: &dyn Fn(&mut Value)| -> String {
        let mut v = v.clone();
        edit(&mut v);
        match Plan::from_json(&v.to_string()) {
            Err(e) => e.to_string(),
            Ok(p) => p.assignment(&planner, &sha(bytes)).unwrap_err().to_string(),
        }
    };
    let relu = plan.layers.iter().position(|l| l.op == "relu").unwrap();
    // A sharing the operator does not allow.
    let e = err(&|v| v["layers"][relu]["sharing"] = json!("A"));
    assert!(e.contains("cannot run in A"), "{e}");
    // A sharing changed without its conversions: the route no longer connects.
    let e = err(&|v| v["layers"][relu]["sharing"] = json!("B"));
    assert!(e.contains("leads from A to Y, not to B"), "{e}");
    // The same edit with a route that connects is accepted.
    let mut edited = v.clone();
    edited["layers"][relu]["sharing"] = json!("B");
    edited["layers"][relu]["convert"] = json!(["a2b-gmw"]);
    edited["layers"][relu + 1]["convert"] = json!(["b2a-ot"]);
    let p = Plan::from_json(&edited.to_string()).unwrap();
    let a = p.assignment(&planner, &sha(bytes)).unwrap();
    assert_eq!(a.layers[relu].sharing, tessera_conversions::Sharing::B);
    assert!(planner.steps(&a).is_ok());
    // An unknown layer, an unknown conversion, a conversion before layer 0.
    let e = err(&|v| v["layers"][relu]["name"] = json!("relu9"));
    assert!(e.contains("unknown layer `relu9`"), "{e}");
    let e = err(&|v| v["layers"][relu]["convert"] = json!(["a2z"]));
    assert!(e.contains("unknown conversion `a2z`"), "{e}");
    let e = err(&|v| v["layers"][0]["convert"] = json!(["a2y"]));
    assert!(e.contains("no conversions before it"), "{e}");
    // The head: argmax in A, or conversions that do not reach it.
    let e = err(&|v| v["head"]["sharing"] = json!("A"));
    assert!(e.contains("the head"), "{e}");
    let e = err(&|v| v["head"]["convert"] = json!(["y2b"]));
    assert!(e.contains("before the head"), "{e}");
    // Another model, another layer count, another file kind or version.
    let e = err(&|v| v["model"]["sha256"] = json!("00"));
    assert!(e.contains("SHA-256"), "{e}");
    let e = err(&|v| {
        v["layers"].as_array_mut().unwrap().pop();
    });
    assert!(e.contains("layers"), "{e}");
    let e = err(&|v| v["kind"] = json!("tessera-calibration"));
    assert!(e.contains("expected `tessera-plan`"), "{e}");
    let e = err(&|v| v["version"] = json!(2));
    assert!(e.contains("version 2"), "{e}");
    let e = err(&|v| v["layers"][relu]["sharing"] = json!("Q"));
    assert!(e.contains("invalid plan"), "{e}");
    assert!(
        Plan::from_json("{")
            .unwrap_err()
            .to_string()
            .contains("not JSON")
    );
}

#[test]
fn calibration_round_trip_and_rejections() {
    let cal = Calibration::default_embedded().unwrap();
    let text = cal.to_json().unwrap();
    assert_eq!(Calibration::from_json(&text).unwrap(), cal);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("cal.json");
    std::fs::write(&path, &text).unwrap();
    assert_eq!(Calibration::load(&path).unwrap(), cal);

    let v: Value = serde_json::from_str(&text).unwrap();
    let err = |edit: &dyn Fn(&mut Value)| -> String {
        let mut v = v.clone();
        edit(&mut v);
        Calibration::from_json(&v.to_string())
            .unwrap_err()
            .to_string()
    };
    let e = err(&|v| v["compute"]["gmw_and"] = json!(-1.0));
    assert!(e.contains("compute.gmw_and is -1"), "{e}");
    let e = err(&|v| v["transport"]["byte"] = json!(0.0));
    assert!(e.contains("transport.byte"), "{e}");
    let e = err(&|v| v["compute"]["mac"] = json!("fast"));
    assert!(e.contains("invalid calibration"), "{e}");
    let e = err(&|v| {
        v["compute"].as_object_mut().unwrap().remove("ot");
    });
    assert!(e.contains("missing field `ot`"), "{e}");
    let e = err(&|v| v["compute"]["turbo"] = json!(1.0));
    assert!(e.contains("unknown field `turbo`"), "{e}");
    let e = err(&|v| v["schema"] = json!(99));
    assert!(e.contains("schema version 99"), "{e}");
    let e = err(&|v| v["ring"] = json!("Z32"));
    assert!(e.contains("Z32"), "{e}");
    let e = err(&|v| v["kind"] = json!("tessera-plan"));
    assert!(e.contains("expected `tessera-calibration`"), "{e}");
    let e = err(&|v| {
        v.as_object_mut().unwrap().remove("kind");
    });
    assert!(e.contains("no `kind`"), "{e}");
    let e = err(&|v| v["dealer"]["expand"]["beaver"]["per_mac"] = json!(-2e-9));
    assert!(e.contains("dealer.expand.beaver.per_mac"), "{e}");
    // Truncated and missing files.
    let e = Calibration::from_json(&text[..text.len() / 2])
        .unwrap_err()
        .to_string();
    assert!(e.contains("not JSON"), "{e}");
    let e = Calibration::load(dir.path().join("none.json"))
        .unwrap_err()
        .to_string();
    assert!(e.contains("none.json"), "{e}");
}

#[test]
fn the_default_calibration_is_a_full_measurement() {
    let cal = Calibration::default_embedded().unwrap();
    assert!(!cal.quick);
    assert!(!cal.samples.is_empty());
    // Every fitted compute coefficient has the samples it came from.
    for what in [
        "transport:",
        "gmw:",
        "yao: garble",
        "yao: evaluate",
        "ring: matmul",
        "ot:",
        "dealer: AND",
    ] {
        assert!(
            cal.samples
                .iter()
                .filter(|s| s.what.starts_with(what))
                .count()
                >= 2,
            "{what}"
        );
    }
}

/// The committed calibration of the 2-vCPU Xeon VM (that machine's predicted-vs-measured
/// runs, e.g. b38fc04's, were made with it; the embedded default is the EPYC's) loads and
/// is a full measurement with the OT source's coefficients.
#[test]
fn the_committed_xeon_calibration_loads() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/calibration/xeon-2vcpu.json");
    let cal = Calibration::load(path).unwrap();
    assert!(!cal.quick && cal.ot_source.is_some());
    assert_eq!(cal.machine.cores, 2);
}

/// A plan of a model whose first output is an inner feature map (the MLP's relu1,
/// with the logits a second output): the head's route starts where relu1 runs, not
/// where the last layer does, and the plan file round-trips.
#[test]
fn plan_of_a_model_with_several_outputs_round_trips() {
    let mlp = assets::model("mlp").unwrap();
    let layers = mlp
        .layers()
        .iter()
        .map(|l| (l.name().to_string(), l.op().clone(), l.inputs().to_vec()))
        .collect();
    let model = tessera_models::Model::with_outputs(
        mlp.input_shape().to_vec(),
        layers,
        vec![("relu1".into(), 3), ("logits".into(), 6)],
        tessera_models::Head::Scores,
    )
    .unwrap();
    let fm = FixedModel::<Z64>::new(&model, FixedPoint::new(16)).unwrap();
    let chain = ModelChain::new(&fm).unwrap();
    let cal = Calibration::default_embedded().unwrap();
    let planner = Planner::new(
        &chain,
        TimeModel::new(&cal, NetworkProfile::LAN),
        Objective::Online,
        1,
        Output::Label,
    )
    .unwrap();
    let sol = planner.solve(Strategy::APlusY).unwrap();
    // relu1 runs in Y and the last layer in A: the argmax in Y needs no conversion.
    assert_eq!(sol.assignment.layers[2].sharing, tessera_engine::Sharing::Y);
    assert_eq!(sol.assignment.layers[5].sharing, tessera_engine::Sharing::A);
    let head = sol.assignment.head.clone().unwrap();
    assert!(head.convert.is_empty(), "{head:?}");
    let meta = Meta {
        model: ModelRef {
            name: "mlp-two-outputs".into(),
            sha256: sha(b"mlp-two-outputs"),
            layers: fm.layers().len(),
        },
        ring: "Z64".into(),
        frac_bits: 16,
        network: NetworkProfile::LAN,
    };
    let plan = Plan::new(&planner, &meta, &cal, "a+y", &sol.assignment, &sol.steps).unwrap();
    // The head's part holds the label and the logits' reveal.
    let names: Vec<&str> = plan.head.steps.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(
        names.last(),
        Some(&"output 1 (logits) to the client"),
        "{names:?}"
    );
    assert!(names.contains(&"label to the client"), "{names:?}");
    let back = Plan::from_json(&plan.to_json().unwrap()).unwrap();
    assert_eq!(
        back.assignment(&planner, &sha(b"mlp-two-outputs")).unwrap(),
        sol.assignment
    );
}
