#![allow(clippy::unwrap_used)]
//! The small fixture models of `tests/fixtures` (made by `make_fixtures.py`):
//! Sigmoid (logistic, and SecureML's piecewise one), MatMul + Add, Gemm with alpha/beta/transB = 0, float_data
//! initializers, Conv + Add bias, square activation, average and max pooling with
//! asymmetric and rectangular windows and padding, Reshape from a Constant node,
//! Softmax and ArgMax heads. Scores are checked against onnxruntime, and the
//! fixed-point reference against the float one in both rings.

mod common;

use common::{f32s, fixture, usizes};
use tessera_core::{FixedPoint, Ring, Z32, Z64};
use tessera_models::{
    FixedModel, Model, NpyF32, OnnxOptions, Op, Score, SigmoidKind, load_onnx_file,
    load_onnx_file_with,
};

fn secureml() -> OnnxOptions {
    OnnxOptions {
        sigmoid: SigmoidKind::SecureMl,
        ..Default::default()
    }
}

/// A fixture: name, model, input batch, onnxruntime scores, labels.
type Case = (String, Model, Vec<f32>, Vec<f32>, Vec<usize>);

fn cases() -> Vec<Case> {
    let expected = common::json(fixture("expected.json"));
    ["sigmoid_mlp", "square_cnn", "pool_cnn"]
        .iter()
        .map(|name| {
            let e = &expected["models"][*name];
            (
                name.to_string(),
                // onnxruntime's scores are of SecureML's sigmoid for sigmoid_mlp.
                load_onnx_file_with(fixture(&format!("{name}.onnx")), &secureml()).unwrap(),
                f32s(&e["input"]),
                f32s(&e["scores"]),
                usizes(&e["labels"]),
            )
        })
        .collect()
}

#[test]
fn float_reference_matches_onnxruntime() {
    for (name, model, x, scores, labels) in cases() {
        for (ty, got) in [
            (
                "f32",
                model
                    .run_float::<f32>(&x)
                    .unwrap()
                    .values
                    .iter()
                    .map(|&v| f64::from(v))
                    .collect::<Vec<_>>(),
            ),
            ("f64", model.run_float::<f64>(&x).unwrap().values),
        ] {
            assert_eq!(got.len(), scores.len(), "{name}");
            let worst = got
                .iter()
                .zip(&scores)
                .map(|(a, b)| (a - f64::from(*b)).abs())
                .fold(0.0, f64::max);
            assert!(worst < 1e-5, "{name} {ty}: max |diff| {worst}");
        }
        assert_eq!(
            model.run_float::<f32>(&x).unwrap().labels(),
            labels,
            "{name}"
        );
    }
}

fn fixed_close<R: Ring + Score>(f: u32, tol: f64) {
    for (name, model, x, scores, _) in cases() {
        let fp = FixedPoint::new(f);
        let run = FixedModel::<R>::new(&model, fp)
            .unwrap()
            .run_f32(&x)
            .unwrap();
        let got = run.scores.decode(fp).values;
        let worst = got
            .iter()
            .zip(&scores)
            .map(|(a, b)| (a - f64::from(*b)).abs())
            .fold(0.0, f64::max);
        println!(
            "{name} {} f={f}: max |fixed − float| = {worst:.2e}",
            R::NAME
        );
        assert!(worst < tol, "{name} {} f={f}: max |diff| {worst}", R::NAME);
    }
}

#[test]
fn fixed_point_close_to_float_in_both_rings() {
    // Quantisation error only: weights and inputs rounded to 2^-f, one floor per
    // product layer.
    fixed_close::<Z64>(16, 5e-4);
    fixed_close::<Z64>(24, 2e-6);
    fixed_close::<Z32>(12, 8e-3);
}

#[test]
fn logistic_sigmoid_matches_onnxruntime() {
    // By default ONNX Sigmoid is the logistic function: the float reference is
    // onnxruntime's, and the fixed-point spline stays within its error.
    let expected = common::json(fixture("expected.json"));
    let e = &expected["models"]["sigmoid_mlp"];
    let (x, scores) = (f32s(&e["input"]), f32s(&e["scores_logistic"]));
    let model = load_onnx_file(fixture("sigmoid_mlp.onnx")).unwrap();
    assert_eq!(model.layers()[1].op(), &Op::Sigmoid);
    let got = model.run_float::<f64>(&x).unwrap();
    let worst = got
        .values
        .iter()
        .zip(&scores)
        .map(|(a, b)| (a - f64::from(*b)).abs())
        .fold(0.0, f64::max);
    assert!(worst < 1e-5, "float: max |diff| {worst}");
    assert_eq!(got.labels(), usizes(&e["labels_logistic"]));
    let fp = FixedPoint::new(16);
    let run = FixedModel::<Z64>::new(&model, fp)
        .unwrap()
        .run_f32(&x)
        .unwrap();
    let worst = run
        .scores
        .decode(fp)
        .values
        .iter()
        .zip(&scores)
        .map(|(a, b)| (a - f64::from(*b)).abs())
        .fold(0.0, f64::max);
    // The spline's 0.0015 through fc2 (α = 0.5, column sums of |W2| below 3).
    assert!(worst < 0.003, "fixed: max |diff| {worst}");
    // The secure-run bound: the dense layer's truncation (one unit) through the
    // spline (its Lipschitz constant plus twice its error) and fc2.
    let b = run.error_bound_ulps();
    assert!(b > 0 && b < 1000, "{b}");
}

#[test]
fn npy_input_from_numpy_runs_the_square_cnn() {
    let (_, model, x, _, labels) = cases().swap_remove(1);
    let arr = NpyF32::from_file(fixture("input_square_cnn.npy")).unwrap();
    assert_eq!(arr.shape, [8, 1, 6, 6]);
    assert_eq!(arr.batch_for(&model).unwrap(), 8);
    assert_eq!(arr.data, x);
    assert_eq!(model.run_float::<f32>(&arr.data).unwrap().labels(), labels);
    // Format 2.0, one example without a batch dimension.
    let one = NpyF32::from_file(fixture("input_v2.npy")).unwrap();
    assert_eq!(one.shape, [1, 6, 6]);
    assert_eq!(one.batch_for(&model).unwrap(), 1);
    assert_eq!(one.data, x[..36]);
}

#[test]
fn npy_wrong_dtype_order_or_shape_is_an_error() {
    for (file, needle) in [
        ("bad_f64.npy", "'<f8'"),
        ("bad_bigendian.npy", "'>f4'"),
        ("bad_fortran.npy", "Fortran"),
    ] {
        let e = NpyF32::from_file(fixture(file)).unwrap_err().to_string();
        assert!(e.contains(needle) && e.contains(file), "{file}: {e}");
    }
    let model = load_onnx_file(fixture("pool_cnn.onnx")).unwrap();
    let arr = NpyF32::from_file(fixture("input_square_cnn.npy")).unwrap();
    let e = arr.batch_for(&model).unwrap_err().to_string();
    assert!(e.contains("[2, 7, 7]"), "{e}");
}
