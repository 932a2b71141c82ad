#![allow(clippy::unwrap_used)]
//! The float and fixed-point references on the 2,000 MNIST-10k test digits.
//!
//! Float: must reproduce `float_reference.json`'s labels exactly (f32 and f64).
//! Fixed point: test accuracy within 0.5 points of the float model, labels equal to
//! the float labels except on digits whose float top-two margin is small; the
//! differing digits are printed (run with `--nocapture`) and bounded here.

mod common;

use std::sync::OnceLock;

use tessera_core::{FixedPoint, Ring, Z32, Z64};
use tessera_models::data::MNIST10K_TEST;
use tessera_models::{FixedModel, FixedRun, Model, Score};

struct Case {
    name: &'static str,
    model: Model,
    x: Vec<f32>,
    truth: Vec<usize>,
    float_labels: Vec<usize>,
    float_margins: Vec<f32>,
}

/// The case of a model, computed once per test binary.
fn case(name: &'static str) -> &'static Case {
    static CASES: OnceLock<[Case; 2]> = OnceLock::new();
    let cases = CASES.get_or_init(|| [make_case("mlp"), make_case("cnn")]);
    cases.iter().find(|c| c.name == name).unwrap()
}

fn make_case(name: &'static str) -> Case {
    let data = common::mnist();
    let model = common::model(name);
    let x = data.images_f32(MNIST10K_TEST).unwrap();
    let truth = data
        .labels(MNIST10K_TEST)
        .unwrap()
        .iter()
        .map(|&l| usize::from(l))
        .collect();
    let scores = model.run_float::<f32>(&x).unwrap();
    let float_margins = (0..scores.batch)
        .map(|i| {
            let mut r = scores.row(i).to_vec();
            r.sort_by(|a, b| b.total_cmp(a));
            r[0] - r[1]
        })
        .collect();
    Case {
        name,
        model,
        x,
        truth,
        float_labels: scores.labels(),
        float_margins,
    }
}

fn correct(labels: &[usize], truth: &[usize]) -> usize {
    labels.iter().zip(truth).filter(|(a, b)| a == b).count()
}

#[test]
fn float_reference_reproduces_the_onnx_labels() {
    for name in ["mlp", "cnn"] {
        let c = case(name);
        let reference = common::float_reference(name);
        let expected = common::usizes(&reference["predicted_labels"]);
        assert_eq!(expected.len(), 2000);
        assert_eq!(c.float_labels, expected, "{name}: f32 labels");
        let f64_labels = c.model.run_float::<f64>(&c.x).unwrap().labels();
        assert_eq!(f64_labels, expected, "{name}: f64 labels");
        let acc = correct(&c.float_labels, &c.truth);
        assert_eq!(acc as u64, reference["correct"].as_u64().unwrap(), "{name}");
        println!("{name}: float accuracy {acc}/2000");
    }
}

/// Runs the fixed-point reference and checks accuracy and agreement with the float
/// labels; returns the test indices whose label differs.
fn check_fixed<R: Ring + Score>(c: &Case, f: u32, max_diff: usize) -> Vec<usize> {
    let fm = FixedModel::<R>::new(&c.model, FixedPoint::new(f)).unwrap();
    let run: FixedRun<R> = fm.run_f32(&c.x).unwrap();
    let labels = run.labels();
    let float_acc = correct(&c.float_labels, &c.truth) as f64 / 20.0;
    let acc = correct(&labels, &c.truth) as f64 / 20.0;
    let diff: Vec<usize> = (0..labels.len())
        .filter(|&i| labels[i] != c.float_labels[i])
        .collect();
    let margins: Vec<f32> = diff.iter().map(|&i| c.float_margins[i]).collect();
    println!(
        "{} {} f={f}: accuracy {acc:.2} % (float {float_acc:.2} %), {} labels differ from float {:?} \
         with float margins {:?}; secure-vs-reference bound {} ulp = {:.5}",
        c.name,
        R::NAME,
        diff.len(),
        diff,
        margins,
        run.error_bound_ulps(),
        run.error_bound_ulps() as f64 / f64::from(1u32 << f)
    );
    assert!(
        (acc - float_acc).abs() <= 0.5,
        "{} {} f={f}: accuracy {acc} vs float {float_acc}",
        c.name,
        R::NAME
    );
    assert!(
        diff.len() <= max_diff,
        "{} {} f={f}: {} labels differ: {diff:?}",
        c.name,
        R::NAME,
        diff.len()
    );
    diff
}

#[test]
fn fixed_point_z64_f16_matches_float() {
    // With 16 fractional bits the fixed-point error of the logits is far below the
    // smallest float margins (MLP 0.0188; CNN 0.0020 at test index 440): no label may
    // differ except possibly CNN's index 440.
    let mlp = case("mlp");
    assert!(check_fixed::<Z64>(mlp, 16, 0).is_empty());
    let cnn = case("cnn");
    let diff = check_fixed::<Z64>(cnn, 16, 1);
    assert!(diff.iter().all(|&i| i == 440), "{diff:?}");
}

#[test]
fn fixed_point_z32() {
    // Z_2^32 needs 2f ≤ 29 and accumulators below 2^30: f = 10 and 11 fit both models
    // (f = 12 does not, see fixed_point_z32_range_limit). Fewer fractional bits flip
    // a few low-margin digits.
    let mlp = case("mlp");
    let d = check_fixed::<Z32>(mlp, 10, 2);
    assert!(d.iter().all(|&i| mlp.float_margins[i] < 0.05), "{d:?}");
    let cnn = case("cnn");
    let d = check_fixed::<Z32>(cnn, 10, 2);
    assert!(d.iter().all(|&i| cnn.float_margins[i] < 0.05), "{d:?}");
    // f = 11 is the largest that passes the range checks on both models.
    check_fixed::<Z32>(mlp, 11, 2);
    check_fixed::<Z32>(cnn, 11, 2);
    // f = 8 still keeps accuracy within half a point.
    check_fixed::<Z32>(mlp, 8, 4);
    check_fixed::<Z32>(cnn, 8, 4);
}

#[test]
fn fixed_point_z32_range_limit() {
    // With 12 fractional bits in Z_2^32 the sound accumulator bound of a dense layer
    // passes 2^30: the reference refuses rather than compute a wrapped value.
    let mlp = case("mlp");
    let fm = FixedModel::<Z32>::new(&mlp.model, FixedPoint::new(12)).unwrap();
    let err = fm.run_f32(&mlp.x).unwrap_err().to_string();
    assert!(err.contains("fc2") && err.contains("2^30"), "{err}");
    // And f = 15 is refused up front (2f must be ≤ ℓ − 3).
    assert!(FixedModel::<Z32>::new(&mlp.model, FixedPoint::new(15)).is_err());
    assert!(FixedModel::<Z64>::new(&mlp.model, FixedPoint::new(31)).is_err());
    assert!(FixedModel::<Z64>::new(&mlp.model, FixedPoint::new(0)).is_err());
}

#[test]
fn z64_f16_bound_certifies_most_labels() {
    // The propagated worst-case bound: every MLP digit's margin exceeds twice the
    // bound (min float margin 0.0188 > 2 × 284 / 2^16), so a secure run must give the
    // reference's labels on all of them.
    let mlp = case("mlp");
    let fm = FixedModel::<Z64>::new(&mlp.model, FixedPoint::default()).unwrap();
    let run = fm.run_f32(&mlp.x).unwrap();
    let certain = run.certain().iter().filter(|&&c| c).count();
    println!(
        "mlp Z64 f=16: bound {} ulp, {certain}/2000 labels certain",
        run.error_bound_ulps()
    );
    assert_eq!(certain, 2000);
    let cnn = case("cnn");
    let fm = FixedModel::<Z64>::new(&cnn.model, FixedPoint::default()).unwrap();
    let run = fm.run_f32(&cnn.x).unwrap();
    let certain = run.certain().iter().filter(|&&c| c).count();
    println!(
        "cnn Z64 f=16: bound {} ulp, {certain}/2000 labels certain",
        run.error_bound_ulps()
    );
    assert!(certain >= 1990, "{certain}");
}
