//! `tessera train` end to end: the built binary trains on secret-shared MNIST digits
//! (dealer and both parties over TCP loopback) beside the fixed-point reference; the
//! JSON report's accuracy near the reference's, its metering equal to the predicted
//! price, the written ONNX model accepted by `tessera infer` and by `tessera train`
//! itself, and clear errors for bad input.
#![allow(clippy::unwrap_used)]

use std::process::{Command, Output};

fn tessera(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_tessera"))
        .args(args)
        .output()
        .unwrap()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn json(args: &[&str]) -> serde_json::Value {
    let o = tessera(args);
    assert!(o.status.success(), "{args:?}: {}", stderr(&o));
    serde_json::from_slice(&o.stdout).unwrap()
}

/// `tessera infer` of the model file on the first 20 test digits under a+b.
fn infer20(model: &str) -> serde_json::Value {
    json(&[
        "infer",
        "--model",
        model,
        "--dataset",
        "mnist",
        "--count",
        "20",
        "--plan",
        "a+b",
        "--json",
    ])
}

fn fails(args: &[&str], want: &str) {
    let o = tessera(args);
    assert!(!o.status.success(), "{args:?} succeeded");
    let e = stderr(&o);
    assert!(e.contains(want), "{args:?}: {e}");
    assert!(!e.contains("panicked"), "{args:?}: {e}");
}

/// The MLP on 512 digits: accuracy next to the reference's, the epoch's bytes and
/// rounds as predicted; the written model runs under `tessera infer` and trains on.
#[test]
fn mlp_trains_and_its_model_runs_in_infer() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("mlp.onnx");
    let out = out.to_str().unwrap();
    let r = json(&[
        "train",
        "--model",
        "mlp",
        "--examples",
        "512",
        "--batch",
        "64",
        "--lr",
        "0.1",
        "--network",
        "lan",
        "--out",
        out,
        "--json",
    ]);
    assert_eq!(r["iterations_per_epoch"], 8);
    let e = &r["epochs"][0];
    let (acc, reference) = (
        r["test_accuracy"].as_f64().unwrap(),
        r["reference_test_accuracy"].as_f64().unwrap(),
    );
    // Eight iterations reach well above chance; the secure run differs from the
    // reference only by the truncations' rounding.
    assert!(reference > 0.5, "{r}");
    assert!((acc - reference).abs() <= 0.03, "{acc} vs {reference}");
    assert!(e["loss"].as_f64().unwrap() > 0.0);
    assert_eq!(e["bytes_sent"], r["predicted"]["epoch_bytes_sent"], "{r}");
    assert_eq!(e["rounds"], r["predicted"]["epoch_rounds"], "{r}");
    // The trained file: secure inference on it, and a second epoch from it.
    let i = infer20(out);
    assert!(i["accuracy"].as_f64().unwrap() > 50.0, "{i}");
    trains_again(out, serde_json::json!([784, 128, 128, 10]), 0.5);
}

/// `tessera train --model FILE` on 128 digits: the file's layers, accuracy above `min`.
fn trains_again(file: &str, dims: serde_json::Value, min: f64) {
    let again = json(&[
        "train",
        "--model",
        file,
        "--examples",
        "128",
        "--batch",
        "64",
        "--json",
    ]);
    assert_eq!(again["dims"], dims);
    assert!(again["test_accuracy"].as_f64().unwrap() > min, "{again}");
}

/// The CNNs (strided, average- and max-pooled, and LeNet's two convolutions): each
/// convolution trained through its patches (the second's input gradient summed back by
/// col2im); the written model (Conv, Relu, [AveragePool | MaxPool,] …, Flatten, Gemm…)
/// runs under `tessera infer`, has in floating point the test accuracy the training
/// reported, and (LeNet) trains on from the file.
#[test]
fn cnn_trains_and_infer_agrees_on_its_accuracy() {
    // LeNet (two convolutions, 0.05 its default rate) needs more iterations to leave
    // chance.
    for (model, examples) in [
        ("cnn", "256"),
        ("cnn-pool", "256"),
        ("cnn-maxpool", "256"),
        ("lenet", "512"),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("cnn.onnx");
        let out = out.to_str().unwrap();
        let r = json(&[
            "train",
            "--model",
            model,
            "--examples",
            examples,
            "--batch",
            "64",
            "--out",
            out,
            "--json",
        ]);
        let acc = r["test_accuracy"].as_f64().unwrap();
        assert!(acc > 0.3, "{model}: {r}");
        assert!(
            (acc - r["reference_test_accuracy"].as_f64().unwrap()).abs() <= 0.03,
            "{model}: {r}"
        );
        assert_eq!(
            r["epochs"][0]["bytes_sent"],
            r["predicted"]["epoch_bytes_sent"]
        );
        // The file runs under `tessera infer`, and its float evaluation on the 2,000
        // test digits is the training's test accuracy.
        let i = infer20(out);
        assert!(i["accuracy"].as_f64().is_some(), "{i}");
        let m = tessera_models::load_onnx_file(out).unwrap();
        let mnist = tessera_models::assets::mnist().unwrap();
        let test = tessera_models::data::MNIST10K_TEST;
        let x = mnist.images_f32(test.clone()).unwrap();
        let scores = m.run_float::<f64>(&x).unwrap();
        let labels = mnist.labels(test).unwrap();
        let right = scores
            .labels_by(|a, b| a > b)
            .iter()
            .zip(labels)
            .filter(|(p, l)| **p == usize::from(**l))
            .count();
        let float = right as f64 / labels.len() as f64;
        assert!(
            (float - acc).abs() < 1e-9,
            "{model}: the file {float} vs train {acc}"
        );
        if model == "lenet" {
            trains_again(out, serde_json::json!([256, 120, 84, 10]), 0.3);
        }
    }
}

/// Logistic regression with the sigmoid in Y, with the parameters kept shared, and with
/// the examples held by both parties.
#[test]
fn logistic_regression_trains_under_a_plus_y() {
    let r = json(&[
        "train",
        "--model",
        "logreg",
        "--examples",
        "256",
        "--batch",
        "64",
        "--plan",
        "a+y",
        "--json",
    ]);
    assert_eq!(r["plan"], "a+y");
    assert_eq!(r["objective"], "secureml-sigmoid");
    assert_eq!(
        r["epochs"][0]["bytes_sent"],
        r["predicted"]["epoch_bytes_sent"]
    );
    let shared = json(&[
        "train",
        "--model",
        "logreg",
        "--examples",
        "64",
        "--batch",
        "64",
        "--reveal",
        "none",
        "--json",
    ]);
    assert!(shared["test_accuracy"].is_null(), "{shared}");
    // Two data holders (even batches at party 0, odd at party 1): the same training.
    let split = json(&[
        "train",
        "--model",
        "logreg",
        "--examples",
        "256",
        "--batch",
        "64",
        "--plan",
        "a+y",
        "--holders",
        "split",
        "--json",
    ]);
    assert_eq!(split["holders"], "split");
    assert!(
        (split["test_accuracy"].as_f64().unwrap() - r["test_accuracy"].as_f64().unwrap()).abs()
            <= 0.01,
        "{split} vs {r}"
    );
    assert_eq!(
        split["epochs"][0]["bytes_sent"],
        r["epochs"][0]["bytes_sent"]
    );
}

#[test]
fn bad_training_input_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    // ResNet-20's residual additions are not trainable here.
    let resnet = concat!(env!("CARGO_MANIFEST_DIR"), "/../models/zoo/resnet20.onnx");
    fails(
        &["train", "--model", resnet, "--examples", "64"],
        "Add (add) is not trainable here",
    );
    fails(&["train", "--lr", "1e9"], "overflows the fixed-point range");
    fails(&["train", "--lr=-1"], "not a positive number");
    fails(&["train", "--examples", "0"], "--examples 0");
    fails(
        &["train", "--examples", "32", "--batch", "64"],
        "fewer than one batch",
    );
    fails(&["train", "--plan", "pure-b"], "training plan");
    fails(&["train", "--holders", "three"], "--holders three");
    fails(&["train", "--dataset", "cifar"], "unknown dataset");
    let out = dir.path().join("x.onnx");
    fails(
        &["train", "--reveal", "none", "--out", out.to_str().unwrap()],
        "--out needs the parameters revealed",
    );
    fails(
        &[
            "train",
            "--offline",
            "ot",
            "--examples",
            "128",
            "--batch",
            "128",
        ],
        "too large to make by OT",
    );
}

/// The MLP PyTorch exported (`Flatten`, `Gemm`, `Relu` …) trains on from its weights:
/// its accuracy starts high and stays near the reference's.
#[test]
fn pytorch_exported_mlp_fine_tunes() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../models/onnx/mlp.onnx");
    let r = json(&[
        "train",
        "--model",
        path,
        "--examples",
        "128",
        "--batch",
        "64",
        "--json",
    ]);
    assert_eq!(r["dims"], serde_json::json!([784, 128, 128, 10]));
    let acc = r["test_accuracy"].as_f64().unwrap();
    assert!(acc > 0.9, "{r}");
    assert!(
        (acc - r["reference_test_accuracy"].as_f64().unwrap()).abs() <= 0.01,
        "{r}"
    );
}

/// A trained model kept shared (`--keep-shared`): one share file per party, then
/// `tessera infer-shared` classifies test digits with the shared model — its accuracy
/// that of the revealed model, its labels those of the plaintext fixed-point
/// reference (of the model the command reconstructs), at most a label or two off at a
/// near tie (a secure truncation may differ by one unit) — under both plans, in
/// padded batches; with `--reveal none` no one sees the model; bad share files are
/// refused.
#[test]
fn a_model_kept_shared_serves_securely() {
    let dir = tempfile::tempdir().unwrap();
    let prefix = dir.path().join("logreg");
    let p = prefix.to_str().unwrap();
    let t = json(&[
        "train",
        "--model",
        "logreg",
        "--examples",
        "1024",
        "--keep-shared",
        p,
        "--json",
    ]);
    let files = [0, 1].map(|i| dir.path().join(format!("logreg.party{i}.share")));
    assert_eq!(t["shares"][1], files[1].to_str().unwrap());
    let r = json(&["infer-shared", "--shares", p, "--json"]);
    assert_eq!(r["examples"], 2000);
    let (acc, revealed) = (
        r["accuracy"].as_f64().unwrap(),
        t["test_accuracy"].as_f64().unwrap(),
    );
    assert!(revealed > 0.5, "{t}");
    assert!((acc - revealed).abs() <= 0.001, "{acc} vs {revealed}");
    assert!(r["reference_agreement"].as_u64().unwrap() >= 1998, "{r}");
    assert_eq!(r["bytes_sent"], r["predicted_bytes_sent"], "{r}");
    assert_eq!(r["rounds"], r["predicted_rounds"], "{r}");
    for plan in ["a+b", "a+y"] {
        let r = json(&[
            "infer-shared",
            "--shares",
            p,
            "--examples",
            "100",
            "--batch",
            "40",
            "--plan",
            plan,
            "--json",
        ]);
        assert_eq!(r["plan"], plan);
        assert_eq!(r["labels"].as_array().unwrap().len(), 100);
        assert!(r["reference_agreement"].as_u64().unwrap() >= 99, "{r}");
        assert_eq!(r["bytes_sent"], r["predicted_bytes_sent"], "{r}");
    }
    let hidden = dir.path().join("hidden");
    let h = json(&[
        "train",
        "--model",
        "logreg",
        "--examples",
        "64",
        "--batch",
        "64",
        "--reveal",
        "none",
        "--keep-shared",
        hidden.to_str().unwrap(),
        "--json",
    ]);
    assert!(h["test_accuracy"].is_null(), "{h}");
    assert_eq!(h["shares"].as_array().unwrap().len(), 2);
    // A damaged file, a missing one, the two files swapped.
    let bytes = std::fs::read(&files[0]).unwrap();
    let mut bad = bytes.clone();
    bad[100] ^= 0xff;
    std::fs::write(&files[0], &bad).unwrap();
    fails(&["infer-shared", "--shares", p], "checksum does not match");
    std::fs::write(&files[0], &bytes[..bytes.len() / 2]).unwrap();
    fails(&["infer-shared", "--shares", p], "checksum does not match");
    std::fs::remove_file(&files[0]).unwrap();
    fails(&["infer-shared", "--shares", p], "logreg.party0.share");
    std::fs::write(&files[0], std::fs::read(&files[1]).unwrap()).unwrap();
    fails(&["infer-shared", "--shares", p], "holds party 1's share");
    let missing = dir.path().join("no/such/dir/m");
    fails(
        &[
            "train",
            "--reveal",
            "none",
            "--keep-shared",
            missing.to_str().unwrap(),
        ],
        "does not exist",
    );
}

/// The zoo's LeNet-5 and MiniONN MNIST networks as PyTorch exported them (LeNet-5:
/// `padding=2` in its first convolution, max pooling, `x.view` before the dense layers;
/// MiniONN: mean pooling), trained to 97.40 and 97.55 %, fine-tune on secret-shared
/// digits from their ONNX files at a fine-tuning rate: accuracy stays high (measured
/// 96.65 and 97.50 %) and equals the reference's within the truncations' rounding.
#[test]
fn pytorch_exported_convolutional_networks_fine_tune() {
    for (file, dims) in [
        ("lenet5.onnx", serde_json::json!([400, 120, 84, 10])),
        ("minionn_mnist.onnx", serde_json::json!([256, 100, 10])),
    ] {
        let path = format!("{}/../models/zoo/{file}", env!("CARGO_MANIFEST_DIR"));
        let r = json(&[
            "train",
            "--model",
            &path,
            "--examples",
            "256",
            "--batch",
            "64",
            "--lr",
            "0.01",
            "--json",
        ]);
        assert_eq!(r["dims"], dims, "{file}");
        let (acc, reference) = (
            r["test_accuracy"].as_f64().unwrap(),
            r["reference_test_accuracy"].as_f64().unwrap(),
        );
        assert!(acc > 0.9, "{file}: {r}");
        assert!(
            (acc - reference).abs() <= 0.01,
            "{file}: {acc} vs {reference}"
        );
        assert_eq!(
            r["epochs"][0]["bytes_sent"],
            r["predicted"]["epoch_bytes_sent"]
        );
    }
}
