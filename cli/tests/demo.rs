//! `tessera demo` end to end: the binary, two parties over loopback TCP, JSON output.

#![allow(clippy::unwrap_used)]

use std::process::Command;

#[test]
fn demo_json_reports_verified_openings_and_exact_metering() {
    let out = Command::new(env!("CARGO_BIN_EXE_tessera"))
        .args([
            "demo",
            "--network",
            "local",
            "--elements",
            "1000",
            "--openings",
            "3",
            "--json",
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["verified"], true);
    for p in ["party0", "party1"] {
        // One input round plus three openings.
        assert_eq!(v[p]["online"]["rounds"], 4, "{p}");
    }
    // Party 0 sends the masked input and three openings: 4 frames of 8 + 8·1000 bytes.
    assert_eq!(v["party0"]["online"]["bytes_sent"], 4 * 8008);
    assert_eq!(v["party1"]["online"]["bytes_sent"], 3 * 8008);
    assert_eq!(
        v["party0"]["online"]["bytes_received"],
        v["party1"]["online"]["bytes_sent"]
    );
}

#[test]
fn demo_rejects_a_bad_network_profile() {
    let out = Command::new(env!("CARGO_BIN_EXE_tessera"))
        .args(["demo", "--network", "bw=fast"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("bandwidth"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
