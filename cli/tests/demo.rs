//! `tessera demo` end to end on a small setting: the binary plans the embedded CNN,
//! runs the plans that fit the budget over shaped TCP loopback, checks labels against
//! the reference, and writes the report folder.

#![allow(clippy::unwrap_used)]

use std::path::Path;
use std::process::Command;

/// `tessera demo ARGS --json --out OUT`, which must succeed: its JSON report.
fn demo_json(args: &str, out: &Path) -> serde_json::Value {
    let o = Command::new(env!("CARGO_BIN_EXE_tessera"))
        .args(args.split(' '))
        .args(["--json", "--out"])
        .arg(out)
        .output()
        .unwrap();
    assert!(
        o.status.success(),
        "{args}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    serde_json::from_slice(&o.stdout).unwrap()
}

#[test]
fn demo_plans_runs_and_reports() {
    let dir = tempfile::tempdir().unwrap();
    let out_dir = dir.path().join("report");
    let v = demo_json("demo --count 2 --networks local,lan --budget 5", &out_dir);
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
    // The offline phase predicted under both sources; the fastest plan in total with
    // and without a dealer, per network.
    assert_eq!(v["offline"], "dealer");
    for r in rows.iter().filter(|r| r["measured"].is_object()) {
        let (d, o) = (
            r["predicted_offline_ms"].as_f64().unwrap(),
            r["predicted_offline_ot_ms"].as_f64().unwrap(),
        );
        assert!(d > 0.0 && o > d, "{r}");
    }
    let fastest = v["fastest_total"].as_array().unwrap();
    assert_eq!(fastest.len(), 2);
    for f in fastest {
        assert!(f["dealer"][0].is_string() && f["ot"][0].is_string(), "{f}");
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
    let svg = std::fs::read_to_string(out_dir.join("time.svg")).unwrap();
    assert!(svg.starts_with("<svg"));
    // A plan with no assignment at all is marked refused, not drawn as free.
    assert!(svg.contains("refused: "), "{svg}");
    // The machine's cores and load travel with the predictions.
    assert!(v["cores"].as_u64().unwrap() >= 1);
    assert_eq!(v["load"].as_array().unwrap().len(), 2);
    let md = std::fs::read_to_string(out_dir.join("report.md")).unwrap();
    assert!(
        md.contains("Machine: ") && md.contains("load average"),
        "{md}"
    );
}

/// `tessera demo --offline ot`: every plan run has its correlations made by the two
/// parties (no dealer), its labels equal to the reference.
#[test]
fn demo_without_a_dealer() {
    let dir = tempfile::tempdir().unwrap();
    let out_dir = dir.path().join("report");
    let v = demo_json(
        "demo --model mlp --count 1 --networks local --budget 2 --offline ot",
        &out_dir,
    );
    assert_eq!(v["offline"], "ot");
    let ran: Vec<&serde_json::Value> = v["rows"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["measured"].is_object())
        .collect();
    assert!(ran.iter().any(|r| r["plan"] == "auto"), "{v}");
    for r in ran {
        assert_eq!(r["measured"]["labels_equal_reference"], true, "{r}");
        assert!(r["measured"]["offline_ms"].as_f64().unwrap() > 0.0);
    }
    let md = std::fs::read_to_string(out_dir.join("report.md")).unwrap();
    assert!(md.contains("offline measured (ot)"), "{md}");
    assert!(md.contains("without a dealer (OT extension)"), "{md}");
}

#[test]
fn demo_reps_report_every_run_and_their_median() {
    let dir = tempfile::tempdir().unwrap();
    let v = demo_json(
        "demo --model mlp --count 2 --networks local --budget 5 --reps 3",
        &dir.path().join("report"),
    );
    assert_eq!(v["reps"], 3);
    let measured: Vec<&serde_json::Value> = v["rows"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|r| r["measured"].as_object().map(|_| &r["measured"]))
        .collect();
    assert!(!measured.is_empty());
    for m in measured {
        let mut runs: Vec<f64> = m["online_ms_runs"]
            .as_array()
            .unwrap()
            .iter()
            .map(|x| x.as_f64().unwrap())
            .collect();
        assert_eq!(runs.len(), 3, "{m}");
        runs.sort_by(f64::total_cmp);
        assert_eq!(m["online_ms"].as_f64().unwrap(), runs[1], "{m}");
        assert_eq!(m["labels_equal_reference"], true, "{m}");
    }
    let bad = Command::new(env!("CARGO_BIN_EXE_tessera"))
        .args(["demo", "--reps", "0"])
        .output()
        .unwrap();
    assert!(!bad.status.success());
}
