//! `tessera infer` end to end: the built binary runs the dealer and both parties over
//! TCP loopback on the embedded models and digits, or on an `.npy` input; labels
//! equal to the plaintext reference, the JSON report's metering equal to the exact
//! step prices, and clear errors for bad input.
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
        let sessions = r["measured"]["online_per_session_s"]
            .as_array()
            .unwrap()
            .len();
        assert_eq!(sessions, 2);
        // Each session's online traffic is the sum of the predicted steps' bytes.
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
    // pure-y on the CNN exceeds the table limit and is refused before running.
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
    ]);
    assert!(!o.status.success());
    assert!(stderr(&o).contains("GB"), "{}", stderr(&o));
}
