//! `tessera infer` end to end: the built binary runs the dealer and both parties over
//! TCP loopback on the embedded models and digits, or on an `.npy` input; labels
//! and, with `--logits`, the printed, reported and saved outputs (every one of a
//! model with several, under its graph name) equal to the plaintext reference (or
//! within its bound under a truncating plan), the JSON report's metering equal to the
//! exact step prices, and clear errors for bad input.
#![allow(clippy::unwrap_used)]

use std::process::{Command, Output};

use tessera_core::{FixedPoint, Z64};
use tessera_models::{FixedModel, FixedRun, NpyF32, assets};

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

/// A float32 `.npy` file of `shape` filled with `f(i)`.
fn npy(dir: &std::path::Path, shape: &[usize], f: impl Fn(usize) -> f32) -> String {
    let n: usize = shape.iter().product();
    let dims: Vec<String> = shape.iter().map(|d| d.to_string()).collect();
    let mut header = format!(
        "{{'descr': '<f4', 'fortran_order': False, 'shape': ({},), }}",
        dims.join(", ")
    );
    while (10 + header.len() + 1) % 64 != 0 {
        header.push(' ');
    }
    header.push('\n');
    let mut bytes = b"\x93NUMPY\x01\x00".to_vec();
    bytes.extend_from_slice(&(header.len() as u16).to_le_bytes());
    bytes.extend_from_slice(header.as_bytes());
    for i in 0..n {
        bytes.extend_from_slice(&f(i).to_le_bytes());
    }
    let path = dir.join("x.npy");
    std::fs::write(&path, bytes).unwrap();
    path.to_str().unwrap().to_string()
}

#[test]
fn mnist_digits_under_a_plus_y_and_a_plus_b_match_the_reference() {
    for plan in ["a+y", "a+b"] {
        let r = json(&[
            "infer",
            "--model",
            "cnn",
            "--dataset",
            "mnist",
            "--count",
            "6",
            "--batch",
            "3",
            "--plan",
            plan,
            "--json",
        ]);
        assert_eq!(r["labels"], r["reference_labels"], "{plan}");
        assert_eq!(r["agree_with_reference"], 6);
        // Two queries of 3 after one set-up of the model, in one session.
        assert_eq!(r["serving"]["sessions"], 1);
        assert_eq!(r["serving"]["queries"], 2);
        let queries = r["measured"]["queries"].as_array().unwrap();
        assert_eq!(queries.len(), 2);
        // Each query's online traffic is the sum of the predicted steps' bytes.
        let predicted: [u64; 2] = [0, 1].map(|p| {
            r["predicted_steps"]
                .as_array()
                .unwrap()
                .iter()
                .map(|s| s["price"]["bytes_sent"][p].as_u64().unwrap())
                .sum()
        });
        for (p, want) in predicted.iter().enumerate() {
            let sent = r["measured"]["peer"][p]["online"]["bytes_sent"]
                .as_u64()
                .unwrap();
            assert_eq!(sent, 2 * want, "{plan}: party {p}");
        }
    }
}

/// `--count 3 --batch 1`: three queries after one set-up; the set-up's bytes paid
/// once, each query's traffic and rounds the priced ones, the network's floor shown.
#[test]
fn each_step_is_traced_at_debug_level_with_its_time() {
    // `RUST_LOG=tessera::step=debug`: one line per step of the program and party,
    // in the program's order, with its wall time and its waiting.
    let o = Command::new(env!("CARGO_BIN_EXE_tessera"))
        .args("infer --model mlp --dataset mnist --count 2 --batch 2 --plan a+b".split(' '))
        .env("RUST_LOG", "tessera::step=debug")
        .env("NO_COLOR", "1")
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    let err = stderr(&o);
    for party in [0, 1] {
        let steps: Vec<&str> = err
            .lines()
            .filter(|l| l.contains("tessera::step") && l.contains(&format!("party={party} ")))
            .collect();
        assert!(steps.len() >= 5, "party {party}: {err}");
        for (k, l) in steps.iter().enumerate() {
            assert!(l.contains(&format!("step={k} ")), "{l}");
            assert!(
                l.contains("kind=") && l.contains(" us=") && l.contains("waiting_us="),
                "{l}"
            );
        }
    }
    // Only at debug level: nothing by default.
    let quiet: Vec<&str> = "infer --model mlp --dataset mnist --count 1"
        .split(' ')
        .collect();
    assert!(!stderr(&tessera(&quiet)).contains("tessera::step"));
}

#[test]
fn queries_of_one_run_pay_the_setup_once() {
    let args = |per_setup: &'static str| {
        let mut v: Vec<&str> =
            "infer --model cnn --dataset mnist --count 3 --batch 1 --plan a+b --network lan"
                .split(' ')
                .collect();
        if !per_setup.is_empty() {
            v.extend(["--queries-per-setup", per_setup]);
        }
        v
    };
    let mut j = args("");
    j.push("--json");
    let r = json(&j);
    assert_eq!(r["labels"], r["reference_labels"]);
    let sv = &r["serving"];
    assert_eq!(
        (sv["sessions"].as_u64(), sv["queries"].as_u64()),
        (Some(1), Some(3))
    );
    // The set-up once: party 0's masked weights beside the handshake, exactly.
    let setup = r["measured"]["setup_sent_per_session"].as_array().unwrap();
    assert_eq!(setup.len(), 1);
    let weights = sv["setup"]["predicted_bytes"][0].as_u64().unwrap();
    assert!(weights > 600_000, "the CNN's masked weights: {weights} B");
    assert_eq!(
        setup[0][0].as_u64().unwrap() - setup[0][1].as_u64().unwrap(),
        weights
    );
    // Every query: the priced online bytes and rounds, no set-up traffic.
    for q in r["measured"]["queries"].as_array().unwrap() {
        assert_eq!(q["bytes_sent"], sv["per_query"]["predicted_bytes"]);
        assert_eq!(q["rounds"], sv["per_query"]["predicted_rounds"][1]);
        assert!(q["latency_s"].as_f64().unwrap() > 0.0);
    }
    // Under lan: the floor, rounds × RTT/2 + the busier direction's bytes at 1 Gbit/s.
    let f = &sv["floor"];
    let rounds = f["rounds"].as_f64().unwrap();
    let bytes = f["bytes"].as_f64().unwrap();
    let want = rounds * 0.0001 + bytes * 8.0 / 1e9;
    assert!((f["floor_s"].as_f64().unwrap() - want).abs() < 1e-9);
    // Text: the set-up paid once, per-query traffic, latency and floor.
    let o = tessera(&args(""));
    assert!(o.status.success(), "{}", stderr(&o));
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(
        text.contains("3 queries of ≤ 1 example in 1 session"),
        "{text}"
    );
    assert!(
        text.contains(&format!("set-up, paid once: party 0 sent {weights} B")),
        "{text}"
    );
    assert!(text.contains("online latency per query: median"), "{text}");
    assert!(text.contains("network floor under lan"), "{text}");
    // A set-up per two queries: paid twice, the same each time.
    let mut j = args("2");
    j.push("--json");
    let r = json(&j);
    assert_eq!(r["labels"], r["reference_labels"]);
    let setup = r["measured"]["setup_sent_per_session"].as_array().unwrap();
    assert_eq!(setup.len(), 2);
    // (The handshakes differ by the `queries` entry of a session of two.)
    let weights_sent = |s: &serde_json::Value| s[0].as_u64().unwrap() - s[1].as_u64().unwrap();
    assert_eq!(weights_sent(&setup[0]), weights);
    assert_eq!(weights_sent(&setup[1]), weights);
    let o = tessera(&args("0"));
    assert!(!o.status.success());
    assert!(stderr(&o).contains("--queries-per-setup"), "{}", stderr(&o));
}

#[test]
fn npy_input_with_and_without_batch_dimension_and_logits() {
    let dir = tempfile::tempdir().unwrap();
    let one = npy(dir.path(), &[1, 28, 28], |i| (i % 7) as f32 / 7.0);
    let r = json(&[
        "infer", "--model", "mlp", "--input", &one, "--plan", "a+y", "--json",
    ]);
    assert_eq!(r["labels"], r["reference_labels"]);
    assert_eq!(r["count"], 1);
    let three = npy(dir.path(), &[3, 1, 28, 28], |i| (i % 11) as f32 / 11.0);
    let r = json(&[
        "infer", "--model", "cnn", "--input", &three, "--plan", "a+b", "--logits", "--json",
    ]);
    assert_eq!(r["labels"], r["reference_labels"]);
    assert_eq!(r["count"], 3);
}

/// The plaintext fixed-point reference (f = 16) of `model` on the first `count`
/// MNIST test digits.
fn reference(model: &str, count: usize) -> (FixedRun<Z64>, FixedPoint) {
    let fp = FixedPoint::new(16);
    let fm = FixedModel::<Z64>::new(&assets::model(model).unwrap(), fp).unwrap();
    let start = tessera_models::data::MNIST10K_TEST.start;
    let x = assets::mnist()
        .unwrap()
        .images_f32(start..start + count)
        .unwrap();
    (fm.run_f32(&x).unwrap(), fp)
}

#[test]
fn logits_json_and_npy_hold_the_reference_scores() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("scores.npy");
    // Two sessions (3 + 1 examples): the scores are gathered across them in order.
    let r = json(&[
        "infer",
        "--model",
        "cnn",
        "--dataset",
        "mnist",
        "--count",
        "4",
        "--batch",
        "3",
        "--plan",
        "a+b",
        "--logits",
        "--json",
        "--output",
        file.to_str().unwrap(),
    ]);
    let (want, fp) = reference("cnn", 4);
    let want = want.scores.decode(fp).values;
    assert_eq!(r["exact_plan"], true);
    assert_eq!(r["frac_bits"], 16);
    let outputs = r["outputs"].as_array().unwrap();
    assert_eq!(outputs.len(), 1);
    let s = &outputs[0];
    // Named as the graph output of the embedded model.
    assert_eq!(s["name"], "logits");
    assert_eq!(s["shape"], serde_json::json!([10]));
    assert_eq!(s["batch"], 4);
    // One list of 10 per example, equal to the decoded reference exactly.
    let rows = s["values"].as_array().unwrap();
    assert_eq!(rows.len(), 4);
    let got: Vec<f64> = rows
        .iter()
        .flat_map(|row| {
            let row = row.as_array().unwrap();
            assert_eq!(row.len(), 10);
            row.iter().map(|v| v.as_f64().unwrap())
        })
        .collect();
    assert_eq!(got, want);
    // The labels are the scores' argmax.
    for (row, label) in got.chunks(10).zip(r["labels"].as_array().unwrap()) {
        let best = (0..10).fold(0, |b, j| if row[j] > row[b] { j } else { b });
        assert_eq!(label, best);
    }
    let check = &r["output_checks"][0];
    assert_eq!(check["name"], "logits");
    assert_eq!(check["exact"], true);
    assert_eq!(check["max_diff_ulps"], 0);
    assert_eq!(check["differing"], 0);
    assert_eq!(check["compared"], 40);
    // The file: float32 [count, classes], the same values, at the path given (one
    // output).
    assert_eq!(r["output_file"], file.to_str().unwrap());
    assert_eq!(
        r["output_files"],
        serde_json::json!([file.to_str().unwrap()])
    );
    let npy = NpyF32::from_file(&file).unwrap();
    assert_eq!(npy.shape, [4, 10]);
    let want32: Vec<f32> = want.iter().map(|&v| v as f32).collect();
    assert_eq!(npy.data, want32);
}

#[test]
fn logits_text_prints_the_scores_of_each_example() {
    let o = tessera(&[
        "infer",
        "--model",
        "mlp",
        "--dataset",
        "mnist",
        "--count",
        "2",
        "--plan",
        "a+y",
        "--logits",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let out = String::from_utf8(o.stdout).unwrap();
    assert!(out.contains("\nlogits: 2 examples × [10]\n"), "{out}");
    let (want, fp) = reference("mlp", 2);
    let want = want.scores.decode(fp);
    for i in 0..2 {
        let line = out
            .lines()
            .find(|l| l.starts_with(&format!("  #{i} [")))
            .unwrap_or_else(|| panic!("no scores of example {i}: {out}"));
        let printed: Vec<&str> = line
            .trim_start_matches(&format!("  #{i} ["))
            .trim_end_matches(']')
            .split(',')
            .map(str::trim)
            .collect();
        let expected: Vec<String> = want.row(i).iter().map(|v| format!("{v:.4}")).collect();
        assert_eq!(printed, expected, "{line}");
    }
    assert!(
        out.contains(
            "logits vs the plaintext fixed-point reference: 20/20 equal, largest difference 0 × 2^-16 (exact plan: must be 0)"
        ),
        "{out}"
    );
    // Without --logits, no scores.
    let o = tessera(&[
        "infer",
        "--model",
        "mlp",
        "--dataset",
        "mnist",
        "--count",
        "2",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(!String::from_utf8(o.stdout).unwrap().contains("logits"));
}

#[test]
fn logits_under_a_truncating_plan_stay_within_the_reference_bound() {
    // Conv → square → … entirely in A: the square's accumulator is truncated by the
    // dealer (±1 ulp), so the scores may differ from the reference, within its bound.
    let fixtures = concat!(env!("CARGO_MANIFEST_DIR"), "/../models/tests/fixtures");
    let model = format!("{fixtures}/square_cnn.onnx");
    let input = format!("{fixtures}/input_square_cnn.npy");
    let r = json(&[
        "infer", "--model", &model, "--input", &input, "--plan", "pure-a", "--logits", "--json",
    ]);
    assert_eq!(r["exact_plan"], false);
    let fm = FixedModel::<Z64>::new(
        &tessera_models::load_onnx_file(&model).unwrap(),
        FixedPoint::new(16),
    )
    .unwrap();
    let reference = fm
        .run_f32(&NpyF32::from_file(&input).unwrap().data)
        .unwrap();
    let bound = reference.error_bound_ulps();
    assert!(bound > 0);
    let check = &r["output_checks"][0];
    assert_eq!(check["exact"], false);
    assert_eq!(check["allowed_ulps"].as_u64().unwrap(), bound as u64);
    assert!(u128::from(check["max_diff_ulps"].as_u64().unwrap()) <= bound);
    let s = &r["outputs"][0];
    // The graph output is the ArgMax's `label`; the client receives its input, the
    // scores, and they are named so.
    assert_eq!(s["name"], "scores");
    let classes = fm.classes();
    assert_eq!(s["shape"], serde_json::json!([classes]));
    let want = reference.scores.decode(FixedPoint::new(16)).values;
    let got: Vec<f64> = s["values"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|row| row.as_array().unwrap().iter().map(|v| v.as_f64().unwrap()))
        .collect();
    assert_eq!(got.len(), want.len());
    let ulp = 2f64.powi(-16);
    for (g, w) in got.iter().zip(&want) {
        assert!((g - w).abs() <= bound as f64 * ulp, "{g} vs {w}");
    }
}

#[test]
fn bad_input_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let cases: Vec<(Vec<String>, &str)> = vec![
        (
            vec![
                "--plan".into(),
                "fastest".into(),
                "--dataset".into(),
                "mnist".into(),
            ],
            "neither a plan name",
        ),
        (vec!["--dataset".into(), "cifar".into()], "unknown dataset"),
        (
            vec![
                "--dataset".into(),
                "mnist".into(),
                "--count".into(),
                "5000".into(),
            ],
            "2000 digits",
        ),
        (
            vec!["--input".into(), npy(dir.path(), &[3, 5], |_| 0.0)],
            "shape",
        ),
        (vec![], "give an input"),
        (
            vec![
                "--dataset".into(),
                "mnist".into(),
                "--output".into(),
                "x.npy".into(),
            ],
            "--logits",
        ),
    ];
    for (extra, want) in cases {
        let mut args = vec!["infer".to_string(), "--model".into(), "mlp".into()];
        args.extend(extra);
        let argv: Vec<&str> = args.iter().map(String::as_str).collect();
        let o = tessera(&argv);
        assert!(!o.status.success(), "{argv:?} succeeded");
        assert!(stderr(&o).contains(want), "{argv:?}: {}", stderr(&o));
    }
    // A corrupt model file.
    let bad = dir.path().join("bad.onnx");
    std::fs::write(&bad, b"\x08\x07not a model").unwrap();
    let o = tessera(&[
        "infer",
        "--model",
        bad.to_str().unwrap(),
        "--dataset",
        "mnist",
    ]);
    assert!(!o.status.success());
    assert!(stderr(&o).contains("ONNX"), "{}", stderr(&o));
    // An unwritable --output: the report is printed, then the error names the file.
    let missing = dir.path().join("no-such-dir").join("s.npy");
    let o = tessera(&[
        "infer",
        "--model",
        "mlp",
        "--dataset",
        "mnist",
        "--count",
        "1",
        "--logits",
        "--output",
        missing.to_str().unwrap(),
    ]);
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stdout).contains("logits: 1 example × [10]"));
    assert!(stderr(&o).contains("cannot write"), "{}", stderr(&o));
    assert!(stderr(&o).contains("no-such-dir"), "{}", stderr(&o));
    // pure-y on the CNN exceeds a table limit the user sets and is refused before
    // running (there is no default limit: tables are streamed).
    let o = tessera(&[
        "infer",
        "--model",
        "cnn",
        "--dataset",
        "mnist",
        "--count",
        "1",
        "--plan",
        "pure-y",
        "--max-table-bytes",
        "1000000000",
    ]);
    assert!(!o.status.success());
    assert!(stderr(&o).contains("GB"), "{}", stderr(&o));
}

/// The PyTorch module returning `(logits, features)`: `--logits --json` reports both
/// outputs under their graph names, per example, equal to the plaintext reference
/// (the features exactly: they pass no dealer truncation; the logits within their
/// bound, or exactly under an exact plan), under a baseline and under `auto`;
/// `--output` writes one file per output; the text report prints both; without
/// `--logits` the features still arrive beside the labels.
#[test]
fn two_output_model_reports_every_output() {
    let fixtures = concat!(env!("CARGO_MANIFEST_DIR"), "/../models/tests/fixtures");
    let model = format!("{fixtures}/two_output_net.onnx");
    let input = format!("{fixtures}/input_two_output_net.npy");
    let m = tessera_models::load_onnx_file(&model).unwrap();
    let fm = FixedModel::<Z64>::new(&m, FixedPoint::new(16)).unwrap();
    let reference = fm
        .run_f32(&NpyF32::from_file(&input).unwrap().data)
        .unwrap();
    let fp = FixedPoint::new(16);
    let ulp = 2f64.powi(-16);
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("out.npy");
    let values = |o: &serde_json::Value| -> Vec<f64> {
        fn flat(v: &serde_json::Value, out: &mut Vec<f64>) {
            match v.as_array() {
                Some(a) => a.iter().for_each(|x| flat(x, out)),
                None => out.push(v.as_f64().unwrap()),
            }
        }
        let mut out = Vec::new();
        flat(&o["values"], &mut out);
        out
    };
    for plan in ["a+b", "auto"] {
        let r = json(&[
            "infer",
            "--model",
            &model,
            "--input",
            &input,
            "--plan",
            plan,
            "--logits",
            "--json",
            "--output",
            file.to_str().unwrap(),
        ]);
        assert_eq!(r["count"], 3, "{plan}");
        assert_eq!(r["labels"], r["reference_labels"], "{plan}");
        let exact = r["exact_plan"].as_bool().unwrap();
        let outputs = r["outputs"].as_array().unwrap();
        assert_eq!(outputs.len(), 2, "{plan}");
        let checks = r["output_checks"].as_array().unwrap();
        for (k, (name, shape)) in [("logits", vec![5]), ("features", vec![4, 8, 8])]
            .into_iter()
            .enumerate()
        {
            let o = &outputs[k];
            assert_eq!(o["name"], name, "{plan}");
            assert_eq!(o["shape"], serde_json::json!(shape), "{plan}");
            assert_eq!(o["batch"], 3);
            // One nested value per example, each of the output's shape.
            let rows = o["values"].as_array().unwrap();
            assert_eq!(rows.len(), 3);
            assert_eq!(rows[0].as_array().unwrap().len(), shape[0]);
            let got = values(o);
            let want = reference.outputs[k].decode(fp).values;
            assert_eq!(got.len(), want.len(), "{plan} {name}");
            let bound = if exact || name == "features" {
                0
            } else {
                reference.output_bounds_ulps[k]
            };
            for (g, w) in got.iter().zip(&want) {
                assert!(
                    (g - w).abs() <= bound as f64 * ulp,
                    "{plan} {name}: {g} vs reference {w} (bound {bound})"
                );
            }
            let c = &checks[k];
            assert_eq!(c["name"], name);
            assert_eq!(c["compared"], 3 * shape.iter().product::<usize>());
            assert!(u128::from(c["max_diff_ulps"].as_u64().unwrap()) <= bound);
            // The check's own rule: exact, or the output's own bound.
            let allowed = if exact {
                0
            } else {
                reference.output_bounds_ulps[k]
            };
            assert_eq!(c["allowed_ulps"].as_u64().unwrap() as u128, allowed);
            // One file per output, named after it, with the batch first.
            let path = dir.path().join(format!("out.{name}.npy"));
            assert_eq!(r["output_files"][k], path.to_str().unwrap(), "{plan}");
            let npy = NpyF32::from_file(&path).unwrap();
            let mut full = vec![3];
            full.extend(&shape);
            assert_eq!(npy.shape, full);
            let got32: Vec<f32> = got.iter().map(|&v| v as f32).collect();
            assert_eq!(npy.data, got32);
        }
        assert_eq!(
            r["output_file"],
            dir.path().join("out.logits.npy").to_str().unwrap()
        );
        assert!(
            !file.exists(),
            "no file at the bare path for several outputs"
        );
    }
    // Text: both outputs with their shapes, both checks, both files.
    let o = tessera(&[
        "infer",
        "--model",
        &model,
        "--input",
        &input,
        "--plan",
        "a+y",
        "--logits",
        "--output",
        file.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let out = String::from_utf8(o.stdout).unwrap();
    assert!(out.contains("\nlogits: 3 examples × [5]\n"), "{out}");
    assert!(
        out.contains("\nfeatures: 3 examples × [4, 8, 8]\n"),
        "{out}"
    );
    assert!(out.contains("(256 values)"), "{out}");
    assert!(
        out.contains("features vs the plaintext fixed-point reference: 768/768 equal"),
        "{out}"
    );
    assert!(
        out.contains("logits vs the plaintext fixed-point reference"),
        "{out}"
    );
    assert!(out.contains("features written to "), "{out}");
    // Without --logits: the labels of the first output, the features beside them.
    let r = json(&[
        "infer", "--model", &model, "--input", &input, "--plan", "a+b", "--json",
    ]);
    assert_eq!(r["labels"], r["reference_labels"]);
    let outputs = r["outputs"].as_array().unwrap();
    assert_eq!(outputs.len(), 1);
    assert_eq!(outputs[0]["name"], "features");
    assert_eq!(values(&outputs[0]), reference.outputs[1].decode(fp).values);
}

/// LeNet-5 as a PyTorch tutorial writes it (the flatten `x.view(x.size(0), -1)`,
/// exported as a shape computation the loader folds) runs from the command line under
/// `a+b`, `a+y` and `auto`: the labels equal the reference's, and the logits are within
/// 0.02 + 1 % of what onnxruntime computes on the exported file (PyTorch's own output
/// within 1e-5, checked when the fixture was made).
#[test]
fn pytorch_lenet5_runs_and_matches_onnxruntime() {
    let fixtures = concat!(env!("CARGO_MANIFEST_DIR"), "/../models/tests/fixtures");
    let model = format!("{fixtures}/lenet5.onnx");
    let input = format!("{fixtures}/input_lenet5.npy");
    let expected: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(format!("{fixtures}/torch_expected.json")).unwrap(),
    )
    .unwrap();
    let torch: Vec<f64> = expected["models"]["lenet5"]["scores"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_f64().unwrap())
        .collect();
    assert_eq!(torch.len(), 20);
    for plan in ["a+b", "a+y", "auto"] {
        let r = json(&[
            "infer", "--model", &model, "--input", &input, "--plan", plan, "--logits", "--json",
        ]);
        assert_eq!(r["count"], 2, "{plan}");
        assert_eq!(r["labels"], r["reference_labels"], "{plan}");
        assert_eq!(
            r["labels"], expected["models"]["lenet5"]["labels"],
            "{plan}"
        );
        let rows = r["outputs"][0]["values"].as_array().unwrap();
        let got: Vec<f64> = rows
            .iter()
            .flat_map(|e| e.as_array().unwrap().iter().map(|x| x.as_f64().unwrap()))
            .collect();
        assert_eq!(got.len(), torch.len(), "{plan}");
        for (g, t) in got.iter().zip(&torch) {
            assert!(
                (g - t).abs() <= 0.02 + 0.01 * t.abs(),
                "{plan}: {g} vs onnxruntime {t}"
            );
        }
    }
}

#[test]
fn sigmoid_option_selects_the_logistic_or_secureml_function() {
    // sigmoid_mlp (dense → Sigmoid → dense → Softmax) under a+b: exact, so the
    // outputs (with --logits the softmax's probabilities) are the reference's of the
    // function selected — the logistic by default.
    let fixtures = concat!(env!("CARGO_MANIFEST_DIR"), "/../models/tests/fixtures");
    let model = format!("{fixtures}/sigmoid_mlp.onnx");
    let dir = tempfile::tempdir().unwrap();
    let input = npy(dir.path(), &[6, 4], |i| (i as f32 * 0.37).sin() * 3.0);
    let x = NpyF32::from_file(&input).unwrap().data;
    let mut got_all = Vec::new();
    for (flag, kind) in [
        (None, tessera_models::SigmoidKind::Logistic),
        (Some("secureml"), tessera_models::SigmoidKind::SecureMl),
        (Some("logistic"), tessera_models::SigmoidKind::Logistic),
    ] {
        let mut args = vec![
            "infer", "--model", &model, "--input", &input, "--batch", "6", "--plan", "a+b",
            "--logits", "--json",
        ];
        if let Some(f) = flag {
            args.extend(["--sigmoid", f]);
        }
        let r = json(&args);
        assert_eq!(r["output_checks"][0]["max_diff_ulps"], 0, "{flag:?}");
        let m = tessera_models::load_onnx_file_with(
            &model,
            // With --logits a Softmax ending the output is a layer: the client
            // receives the probabilities.
            &tessera_models::OnnxOptions {
                sigmoid: kind,
                softmax: tessera_models::SoftmaxKind::Layer,
            },
        )
        .unwrap();
        let fp = FixedPoint::new(16);
        let want = FixedModel::<Z64>::new(&m, fp)
            .unwrap()
            .run_f32(&x)
            .unwrap()
            .scores
            .decode(fp)
            .values;
        let got: Vec<f64> = r["outputs"][0]["values"]
            .as_array()
            .unwrap()
            .iter()
            .flat_map(|row| row.as_array().unwrap().iter().map(|v| v.as_f64().unwrap()))
            .collect();
        assert_eq!(got, want, "{flag:?}");
        got_all.push(got);
    }
    assert_ne!(got_all[0], got_all[1], "the two sigmoids differ");
    assert_eq!(got_all[0], got_all[2]);
    let o = tessera(&["infer", "--model", &model, "--sigmoid", "tanh"]);
    assert!(!o.status.success());
    assert!(stderr(&o).contains("logistic, secureml"), "{}", stderr(&o));
}

/// A PyTorch fixture of models/tests/fixtures by name: its path, its input's path, the
/// expected file and onnxruntime's values of its first output.
fn torch_fixture(name: &str) -> (String, String, serde_json::Value, Vec<f64>) {
    let fixtures = concat!(env!("CARGO_MANIFEST_DIR"), "/../models/tests/fixtures");
    let expected: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(format!("{fixtures}/torch_expected.json")).unwrap(),
    )
    .unwrap();
    let probs: Vec<f64> = expected["models"][name]["scores"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_f64().unwrap())
        .collect();
    (
        format!("{fixtures}/{name}.onnx"),
        format!("{fixtures}/input_{name}.npy"),
        expected,
        probs,
    )
}

/// The first output of an `infer --logits --json` report is onnxruntime's values
/// within 0.02 + 1%.
fn near_onnxruntime(r: &serde_json::Value, probs: &[f64], plan: &str) {
    let got: Vec<f64> = r["outputs"][0]["values"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|e| e.as_array().unwrap().iter().map(|x| x.as_f64().unwrap()))
        .collect();
    assert_eq!(got.len(), probs.len(), "{plan}");
    for (g, t) in got.iter().zip(probs) {
        assert!(
            (g - t).abs() <= 0.02 + 0.01 * t.abs(),
            "{plan}: {g} vs onnxruntime {t}"
        );
    }
}

/// An MLP exported by PyTorch with LeakyReLU, Tanh and a Softmax output runs under
/// every plan that applies (everything but pure-a, which has no comparison) and
/// matches onnxruntime's probabilities within 0.02 + 1% with `--logits` (the Softmax
/// a layer), and its labels without (the Softmax the head).
#[test]
fn pytorch_mlp_with_leaky_relu_tanh_and_softmax_matches_onnxruntime() {
    let (model, input, expected, probs) = torch_fixture("act_mlp");
    assert_eq!(probs.len(), 20);
    for plan in ["a+b", "a+y", "auto", "pure-b", "pure-y"] {
        let r = json(&[
            "infer", "--model", &model, "--input", &input, "--plan", plan, "--logits", "--json",
        ]);
        near_onnxruntime(&r, &probs, plan);
        let r = json(&[
            "infer", "--model", &model, "--input", &input, "--plan", plan, "--json",
        ]);
        assert_eq!(
            r["labels"], expected["models"]["act_mlp"]["labels"],
            "{plan}"
        );
    }
    // pure-a cannot compute the comparisons: a clear error naming a layer.
    let out = tessera(&[
        "infer", "--model", &model, "--input", &input, "--plan", "pure-a",
    ]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("pure-a does not apply") && err.contains("LeakyRelu"),
        "{err}"
    );
}

/// The same PyTorch MLP with correlations from OT extension between the parties
/// (`--offline ot`, no dealer): the same probabilities within 0.02 + 1%, the offline
/// traffic on the parties' link, named in the report.
#[test]
fn offline_ot_runs_without_a_dealer_and_matches_onnxruntime() {
    let (model, input, _, probs) = torch_fixture("act_mlp");
    for plan in ["a+b", "a+y"] {
        let r = json(&[
            "infer",
            "--model",
            &model,
            "--input",
            &input,
            "--plan",
            plan,
            "--logits",
            "--json",
            "--offline",
            "ot",
        ]);
        assert_eq!(r["offline"], "ot", "{plan}");
        near_onnxruntime(&r, &probs, plan);
        for p in 0..2 {
            let m = &r["measured"]["dealer"][p];
            assert_eq!(m["offline"]["bytes_received"], 0, "{plan}: no dealer");
            assert!(
                r["measured"]["peer"][p]["offline"]["bytes_sent"]
                    .as_u64()
                    .unwrap()
                    > 0,
                "{plan}: the OT traffic is offline on the parties' link"
            );
        }
    }
    let text = tessera(&[
        "infer",
        "--model",
        &model,
        "--input",
        &input,
        "--plan",
        "a+b",
        "--offline",
        "ot",
    ]);
    assert!(text.status.success(), "{}", stderr(&text));
    let out = String::from_utf8_lossy(&text.stdout);
    assert!(
        out.contains("offline by OT extension with the other party"),
        "{out}"
    );
    // A bad source name is a usage error naming the choices.
    let bad = tessera(&[
        "infer",
        "--model",
        &model,
        "--input",
        &input,
        "--offline",
        "hsm",
    ]);
    assert!(!bad.status.success());
    assert!(
        stderr(&bad).contains("expected `dealer` or `ot`"),
        "{}",
        stderr(&bad)
    );
}

/// An embedding model (`Gather` by an int64 input) reads int64 and int32 `.npy`
/// indices; an index outside the vocabulary is a clear error, not a panic.
#[test]
fn embedding_reads_integer_indices_and_refuses_out_of_range_ones() {
    let dir = tempfile::tempdir().unwrap();
    let model = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/onnx-backend/pytorch-converted/test_Embedding/model.onnx");
    let model = model.to_str().unwrap();
    let write = |name: &str, descr: &str, bytes: Vec<u8>| {
        let mut header =
            format!("{{'descr': '{descr}', 'fortran_order': False, 'shape': (1, 4), }}");
        while (10 + header.len() + 1) % 64 != 0 {
            header.push(' ');
        }
        header.push('\n');
        let mut b = b"\x93NUMPY\x01\x00".to_vec();
        b.extend_from_slice(&(header.len() as u16).to_le_bytes());
        b.extend_from_slice(header.as_bytes());
        b.extend(bytes);
        let path = dir.path().join(name);
        std::fs::write(&path, b).unwrap();
        path.to_str().unwrap().to_string()
    };
    let i64s = |v: [i64; 4]| v.iter().flat_map(|x| x.to_le_bytes()).collect::<Vec<u8>>();
    let i32s = |v: [i32; 4]| v.iter().flat_map(|x| x.to_le_bytes()).collect::<Vec<u8>>();
    let a = write("a.npy", "<i8", i64s([2, 0, 3, 1]));
    let b = write("b.npy", "<i4", i32s([2, 0, 3, 1]));
    let ja = json(&[
        "infer", "--model", model, "--input", &a, "--plan", "a+y", "--logits", "--json",
    ]);
    let jb = json(&[
        "infer", "--model", model, "--input", &b, "--plan", "a+b", "--logits", "--json",
    ]);
    assert_eq!(ja["outputs"][0]["shape"], jb["outputs"][0]["shape"]);
    // Both plans give the table's rows (within a truncation's unit).
    fn flat(j: &serde_json::Value, out: &mut Vec<f64>) {
        match j.as_array() {
            Some(a) => a.iter().for_each(|x| flat(x, out)),
            None => out.push(j.as_f64().unwrap()),
        }
    }
    let rows = |j: &serde_json::Value| -> Vec<f64> {
        let mut v = Vec::new();
        flat(&j["outputs"][0]["values"], &mut v);
        v
    };
    let (ra, rb) = (rows(&ja), rows(&jb));
    assert_eq!(ra.len(), 12);
    for (x, y) in ra.iter().zip(&rb) {
        assert!((x - y).abs() < 1e-3, "{x} {y}");
    }
    let bad = write("c.npy", "<i8", i64s([2, 0, 4, 1]));
    let o = tessera(&["infer", "--model", model, "--input", &bad, "--logits"]);
    assert!(!o.status.success());
    let e = stderr(&o);
    assert!(
        e.contains("index at position 2") && e.contains("vocabulary of 4"),
        "{e}"
    );
    assert!(!e.contains("panicked"), "{e}");
    // Floats for an index input.
    let f = npy(dir.path(), &[1, 4], |_| 0.0);
    let o = tessera(&["infer", "--model", model, "--input", &f, "--logits"]);
    assert!(
        !o.status.success() && stderr(&o).contains("'<f4'"),
        "{}",
        stderr(&o)
    );
}

/// A PyTorch module of element-wise constants (`x * 0.5 + 1`, `2 - x`, `x / c`, `* c`,
/// `- c` of broadcast shapes), `F.pad` with 0.5 (its pads computed by the exporter from
/// constants, folded at load time) and slices (`1:-1`, `::2`) runs under every plan —
/// pure-a too: it has no comparison — and matches onnxruntime within 0.02 + 1%.
#[test]
fn pytorch_constants_pad_and_slices_match_onnxruntime_under_every_plan() {
    let (model, input, _, want) = torch_fixture("const_net");
    assert_eq!(want.len(), 15);
    for plan in ["pure-a", "a+b", "a+y", "auto", "pure-b", "pure-y"] {
        let r = json(&[
            "infer", "--model", &model, "--input", &input, "--plan", plan, "--logits", "--json",
        ]);
        near_onnxruntime(&r, &want, plan);
    }
}
