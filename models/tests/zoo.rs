#![allow(clippy::unwrap_used)]
//! The model zoo (`models/zoo/`, written by `models/zoo/make_zoo.py`): every network loads,
//! has the layers its paper describes, and its float reference computes what onnxruntime
//! computes on the committed input (`input_<name>.npy`, outputs in `zoo_expected.json`) within
//! 1e-4 relative + absolute, with the same labels; the fixed-point reference (Z64, f = 16)
//! gives the same labels too.

mod common;

use common::{f32s, kinds, usizes};
use sha2::{Digest, Sha256};
use tessera_core::{FixedPoint, Z64};
use tessera_models::{FixedModel, Model, NpyF32, load_onnx_file};

const NAMES: [&str; 4] = ["minionn_mnist", "lenet5", "minionn_cifar", "resnet20"];

fn zoo(file: &str) -> std::path::PathBuf {
    common::crate_dir().join("zoo").join(file)
}

struct Case {
    model: Model,
    x: NpyF32,
    scores: Vec<f32>,
    labels: Vec<usize>,
    expected: serde_json::Value,
}

fn case(name: &'static str) -> Case {
    let e = common::json(zoo("zoo_expected.json"))["models"][name].clone();
    let x = NpyF32::from_file(zoo(&format!("input_{name}.npy"))).unwrap();
    assert_eq!(x.shape, usizes(&e["input_shape"]), "{name}");
    Case {
        model: load_onnx_file(zoo(&format!("{name}.onnx")))
            .unwrap_or_else(|err| panic!("{name}.onnx does not load: {err}")),
        x,
        scores: f32s(&e["scores"]),
        labels: usizes(&e["labels"]),
        expected: e,
    }
}

#[test]
fn files_are_the_recorded_ones() {
    for name in NAMES {
        let e = &common::json(zoo("zoo_expected.json"))["models"][name];
        let bytes = std::fs::read(zoo(&format!("{name}.onnx"))).unwrap();
        assert_eq!(
            hex::encode(Sha256::digest(&bytes)),
            e["sha256"].as_str().unwrap(),
            "{name}.onnx differs from what make_zoo.py recorded"
        );
    }
}

/// A layer kind and how many layers of it.
type Kind = (&'static str, usize);

#[test]
fn the_networks_have_their_papers_layers() {
    let want: [(&str, &[usize], &[Kind]); 4] = [
        (
            "minionn_mnist",
            &[1, 28, 28],
            &[
                ("conv", 2),
                ("dense", 2),
                ("maxpool", 2),
                ("relu", 3),
                ("reshape", 1),
            ],
        ),
        (
            "lenet5",
            &[1, 28, 28],
            &[
                ("conv", 2),
                ("dense", 3),
                ("maxpool", 2),
                ("relu", 4),
                ("reshape", 1),
            ],
        ),
        (
            "minionn_cifar",
            &[3, 32, 32],
            &[
                ("avgpool", 2),
                ("conv", 7),
                ("dense", 1),
                ("relu", 7),
                ("reshape", 1),
            ],
        ),
        (
            // 19 convolutions on the main path and 2 option-B shortcuts, 9 residual adds.
            "resnet20",
            &[3, 32, 32],
            &[
                ("add", 9),
                ("avgpool", 1),
                ("conv", 21),
                ("dense", 1),
                ("relu", 19),
                ("reshape", 1),
            ],
        ),
    ];
    for (name, shape, k) in want {
        let c = case(name);
        assert_eq!(c.model.input_shape(), shape, "{name}");
        assert_eq!(c.model.output_shape(), [10], "{name}");
        assert_eq!(kinds(&c.model), k, "{name}");
        assert_eq!(c.model.is_chain(), name != "resnet20", "{name}");
        let params: usize = c.model.layers().iter().map(|l| l.op().num_params()).sum();
        // What the file holds (ResNet-20: BatchNorm folded into its convolutions).
        assert_eq!(
            params as u64,
            c.expected["parameters_in_file"].as_u64().unwrap(),
            "{name}: parameters"
        );
    }
}

#[test]
fn float_reference_matches_onnxruntime() {
    for name in NAMES {
        let c = case(name);
        let got = c.model.run_float::<f32>(&c.x.data).unwrap();
        assert_eq!(got.values.len(), c.scores.len(), "{name}");
        let mut worst = 0.0f64;
        for (a, b) in got.values.iter().zip(&c.scores) {
            let (a, b) = (f64::from(*a), f64::from(*b));
            let d = (a - b).abs();
            worst = worst.max(d);
            assert!(d <= 1e-4 + 1e-4 * b.abs(), "{name}: {a} vs onnxruntime {b}");
        }
        println!("{name}: max |float − onnxruntime| = {worst:.2e}");
        assert_eq!(got.labels(), c.labels, "{name}");
    }
}

#[test]
fn fixed_point_reference_gives_the_same_labels() {
    for name in NAMES {
        let c = case(name);
        let fm = FixedModel::<Z64>::new(&c.model, FixedPoint::new(16)).unwrap();
        let x = fm.encode_input(&c.x.data).unwrap();
        assert_eq!(fm.run(&x).unwrap().labels(), c.labels, "{name}");
    }
}
