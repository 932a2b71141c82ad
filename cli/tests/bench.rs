//! `tessera bench` end to end: the binary writes its outputs and a baseline, passes a
//! check against it, and exits non-zero when a baseline counter differs.

#![allow(clippy::unwrap_used)]

use std::process::{Command, Output};

fn tessera(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_tessera"))
        .arg("bench")
        .args(args)
        .output()
        .unwrap()
}

#[test]
fn bench_writes_outputs_and_the_check_gates_on_counters() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let base = dir.path().join("base.json");
    let (out_s, base_s) = (out.to_str().unwrap(), base.to_str().unwrap());
    let common = [
        "--quick",
        "--filter",
        "conv/b2a-dabits",
        "--reps",
        "1",
        "--warmup",
        "0",
        "--out",
        out_s,
    ];

    let o = tessera(&[&common[..], &["--update-baseline", base_s]].concat());
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert!(stdout.contains("results.json"), "{stdout}");
    for f in [
        "results.json",
        "results.md",
        "time-local.svg",
        "bytes-local.svg",
    ] {
        assert!(out.join(f).is_file(), "{f}");
    }
    let v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&base).unwrap()).unwrap();
    assert_eq!(v["schema"], "tessera-bench/1");
    assert_eq!(v["scenarios"][0]["id"], "conv/b2a-dabits/n=100@local");
    assert_eq!(
        v["scenarios"][0]["counters"]["correlations"]["dabits"],
        6400
    );

    let o = tessera(&[&common[..], &["--check", base_s]].concat());
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(String::from_utf8_lossy(&o.stdout).contains("check passed"));

    // One byte more in the baseline: the check fails and names scenario and counter.
    let text = std::fs::read_to_string(&base).unwrap();
    let mut v: serde_json::Value = serde_json::from_str(&text).unwrap();
    let sent = &mut v["scenarios"][0]["counters"]["party1"]["online"]["bytes_sent"];
    let was = sent.as_u64().unwrap();
    *sent = serde_json::json!(was + 1);
    std::fs::write(&base, serde_json::to_string(&v).unwrap()).unwrap();
    let o = tessera(&[&common[..], &["--check", base_s]].concat());
    assert!(!o.status.success());
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert!(
        stdout.contains(&format!(
            "FAIL: conv/b2a-dabits/n=100@local: party1.online.bytes_sent: baseline {}, now {was}",
            was + 1
        )),
        "{stdout}"
    );
}

#[test]
fn bad_options_are_usage_errors() {
    let o = tessera(&["--network", "moon"]);
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("--network `moon`"));
    let o = tessera(&["--quick", "--filter", "no-such-scenario"]);
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("no scenario matches"));
    let o = tessera(&["--quick", "--check", "/nonexistent/base.json"]);
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("/nonexistent/base.json"));
}

#[test]
fn bench_with_the_ot_source_says_so_and_keeps_the_dealer_baseline_apart() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let base = dir.path().join("base.json");
    let (out_s, base_s) = (out.to_str().unwrap(), base.to_str().unwrap());
    let common = [
        "--quick",
        "--filter",
        "conv/b2a-dabits",
        "--reps",
        "1",
        "--warmup",
        "0",
        "--out",
        out_s,
    ];
    let o = tessera(
        &[
            &common[..],
            &["--offline", "ot", "--update-baseline", base_s],
        ]
        .concat(),
    );
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "{stderr}");
    assert!(stderr.contains("OT extension"), "{stderr}");
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert!(
        stdout.contains("offline phase from the parties by OT"),
        "{stdout}"
    );
    let v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&base).unwrap()).unwrap();
    assert_eq!(v["settings"]["offline"], "ot");
    let c = &v["scenarios"][0]["counters"];
    // The same online work as with the dealer; the offline bytes are the parties'
    // own, each one's sent bytes the other's received.
    assert_eq!(c["correlations"]["dabits"], 6400);
    let (p0, p1) = (&c["party0"]["offline"], &c["party1"]["offline"]);
    assert!(p0["bytes_sent"].as_u64().unwrap() > 0);
    assert_eq!(p0["bytes_sent"], p1["bytes_received"]);
    assert_eq!(p1["bytes_sent"], p0["bytes_received"]);
    let md = std::fs::read_to_string(out.join("results.md")).unwrap();
    assert!(md.contains("OT extension"), "{md}");
    // An OT baseline does not gate a dealer run (nor the reverse).
    let o = tessera(&[&common[..], &["--check", base_s]].concat());
    assert!(!o.status.success());
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(
        stderr.contains("the baseline was measured with --offline ot"),
        "{stderr}"
    );
    // With one pairing per scenario: party 0 no longer sends its 128 base-OT points
    // (eight parts of 16), party 1 no longer extends 128 OTs back (one frame of 8
    // bytes per transfer; its set-up's correction it sends either way).
    let paired = dir.path().join("paired.json");
    let o = tessera(
        &[
            &common[..],
            &["--offline", "ot", "--ot-pairing"],
            &["--update-baseline", paired.to_str().unwrap()],
        ]
        .concat(),
    );
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "{stderr}");
    assert!(stderr.contains("base OTs once per scenario"), "{stderr}");
    let w: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&paired).unwrap()).unwrap();
    assert_eq!(w["settings"]["offline"], "ot-paired");
    let sent = |v: &serde_json::Value, p: &str| {
        v["scenarios"][0]["counters"][p]["offline"]["bytes_sent"]
            .as_u64()
            .unwrap()
    };
    assert_eq!(sent(&v, "party0") - sent(&w, "party0"), 8 * (16 * 32 + 8));
    assert_eq!(sent(&v, "party1") - sent(&w, "party1"), 128 * 8 + 8);
    let o = tessera(&[&common[..], &["--ot-pairing"]].concat());
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("give it with --offline ot"));
    let o = tessera(&["--offline", "carrier-pigeon"]);
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("expected `dealer` or `ot`"));
}
