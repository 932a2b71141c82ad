//! `tessera demo` end to end on a small setting: the binary plans the embedded CNN,
//! runs the plans that fit the budget over shaped TCP loopback, checks labels against
//! the reference, and writes the report folder.

#![allow(clippy::unwrap_used)]

use std::process::Command;

#[test]
fn demo_plans_runs_and_reports() {
    let dir = tempfile::tempdir().unwrap();
    let out_dir = dir.path().join("report");
    let out = Command::new(env!("CARGO_BIN_EXE_tessera"))
        .args([
            "demo",
            "--count",
            "2",
            "--networks",
            "local,lan",
            "--budget",
            "5",
            "--json",
            "--out",
            out_dir.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let rows = v["rows"].as_array().unwrap();
    for net in ["local", "lan"] {
        let plans: Vec<&str> = rows
            .iter()
            .filter(|r| r["network"] == net)
            .map(|r| r["plan"].as_str().unwrap())
            .collect();
        for p in ["auto", "pure-a", "pure-b", "pure-y", "a+b", "a+y"] {
            assert!(plans.contains(&p), "{p} missing under {net}: {plans:?}");
        }
        let auto = rows
            .iter()
            .find(|r| r["network"] == net && r["plan"] == "auto")
            .unwrap();
        let m = &auto["measured"];
        assert_eq!(m["labels_equal_reference"], true, "{auto}");
        // The measured bytes and rounds are the planner's exact predictions.
        assert_eq!(m["bytes"], auto["predicted_bytes"], "{auto}");
        assert_eq!(m["rounds"], auto["predicted_rounds"], "{auto}");
    }
    // pure-a does not apply to a network with ReLUs; pure-y is over the table limit.
    let skipped = |plan: &str| {
        rows.iter()
            .find(|r| r["plan"] == plan)
            .and_then(|r| r["skipped"].as_str())
            .unwrap_or("")
            .to_string()
    };
    assert!(
        skipped("pure-a").contains("not applicable"),
        "{}",
        skipped("pure-a")
    );
    assert!(!skipped("pure-y").is_empty());
    for f in ["report.json", "report.md", "time.svg", "bytes.svg"] {
        let text = std::fs::read_to_string(out_dir.join(f)).unwrap();
        assert!(!text.is_empty(), "{f}");
    }
    assert!(
        std::fs::read_to_string(out_dir.join("time.svg"))
            .unwrap()
            .starts_with("<svg")
    );
}
