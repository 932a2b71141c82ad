//! `tessera circuit` end to end, under GMW and Yao: the built binary runs the dealer
//! and both parties over TCP loopback; known answers, verified random batches, the
//! JSON report (its metering equal to the cost function's prediction) and clear
//! failures.

#![allow(clippy::unwrap_used)]

use std::process::{Command, Output};

fn circuit(name: &str) -> String {
    format!(
        "{}/../protocols/circuits/{name}",
        env!("CARGO_MANIFEST_DIR")
    )
}

fn tessera(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_tessera"))
        .args(args)
        .output()
        .unwrap()
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn ok(args: &[&str]) -> String {
    let o = tessera(args);
    assert!(o.status.success(), "{args:?}: {}", stderr(&o));
    stdout(&o)
}

const AES_KEY: &str = "000102030405060708090a0b0c0d0e0f";
const AES_PT: &str = "00112233445566778899aabbccddeeff";
const AES_CT: &str = "69c4e0d86a7b0430d8cdb78070b4c55a";
const PROTOCOLS: [&str; 2] = ["gmw", "yao"];

#[test]
fn aes_128_known_answer() {
    let aes = circuit("aes_128.txt");
    for proto in PROTOCOLS {
        let out = ok(&[
            "circuit",
            &aes,
            "--protocol",
            proto,
            "--input",
            AES_KEY,
            AES_PT,
        ]);
        assert_eq!(out, format!("{AES_CT}\n"), "{proto}");
        // Repeated --input flags, owners swapped, revealed to party 1 only.
        let out = ok(&[
            "circuit",
            &aes,
            "--protocol",
            proto,
            "--input",
            AES_KEY,
            "--input",
            AES_PT,
            "--owners",
            "1,0",
            "--reveal-to",
            "1",
            "--verify",
        ]);
        assert_eq!(out, format!("{AES_CT}\n"), "{proto}");
    }
}

#[test]
fn sha256_known_answer() {
    let block = format!("61626380{}18", "0".repeat(128 - 10));
    let iv = "6a09e667bb67ae853c6ef372a54ff53a510e527f9b05688c1f83d9ab5be0cd19";
    let sha = circuit("sha256.txt");
    for proto in PROTOCOLS {
        let out = ok(&["circuit", &sha, "--protocol", proto, "--input", &block, iv]);
        assert_eq!(
            out, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad\n",
            "{proto}"
        );
    }
}

#[test]
fn random_batch_verified() {
    for proto in PROTOCOLS {
        let out = ok(&[
            "circuit",
            &circuit("aes_128.txt"),
            "--protocol",
            proto,
            "--batch",
            "64",
            "--random",
            "--verify",
        ]);
        let lines: Vec<&str> = out.lines().collect();
        assert_eq!(lines.len(), 64, "{proto}");
        assert!(
            lines
                .iter()
                .all(|l| l.len() == 32 && hex::decode(l).is_ok())
        );
        // Random inputs: the 64 ciphertexts are distinct.
        let mut sorted = lines.clone();
        sorted.sort_unstable();
        sorted.dedup();
        assert_eq!(sorted.len(), 64, "{proto}");
    }
}

/// The JSON report of AES-128 under `proto` on a verified random batch of 3, with
/// `extra` options.
fn aes_batch_of_3(proto: &str, extra: &[&str]) -> serde_json::Value {
    let aes = circuit("aes_128.txt");
    let mut args = vec!["circuit", &aes, "--protocol", proto, "--batch", "3"];
    args.extend(["--random", "--verify", "--json"]);
    args.extend(extra);
    serde_json::from_str(&ok(&args)).unwrap()
}

#[test]
fn offline_by_ot_is_metered_as_its_price() {
    // No dealer: the parties' offline traffic (base OTs, the extension back, AND
    // triples or Yao's random OTs, the fence) equals the OT source's price.
    for proto in ["gmw", "yao"] {
        let v = aes_batch_of_3(proto, &["--offline", "ot"]);
        assert_eq!(
            (v["offline"].as_str(), v["verified"].as_bool()),
            (Some("ot"), Some(true))
        );
        for p in ["party0", "party1"] {
            let (m, want) = (&v["metering"][p], &v["predicted"][p]);
            assert_eq!(m["offline"], want["offline"], "{proto} {p} offline");
            assert_eq!(m["online"], want["online"], "{proto} {p} online");
            assert!(
                m["offline"]["bytes_sent"].as_u64().unwrap() > 0,
                "{proto} {p}"
            );
        }
    }
}

#[test]
fn json_report_has_outputs_costs_and_exact_metering() {
    // GMW: inputs, 60 AND layers, the reveal. Yao: party 1's OT corrections, the
    // garbler's labels and tables, the reveal.
    for (proto, rounds) in [("gmw", 62), ("yao", 3)] {
        let v = aes_batch_of_3(proto, &["--network", "lan"]);
        assert_eq!(v["protocol"], proto);
        assert_eq!(v["network"], "lan");
        assert_eq!(v["batch"], 3);
        assert_eq!(v["verified"], true);
        assert_eq!(v["gates"]["and"], 6400);
        assert_eq!(v["gates"]["total"], 36663);
        assert_eq!(v["and_depth"], 60);
        assert_eq!(
            v["circuit_sha256"],
            "40423a0cdaf5d4d34aba872c12660f115dc25c12eea6e24a9304578e79df6d04"
        );
        assert_eq!(v["inputs"].as_array().unwrap().len(), 3);
        let outs = v["outputs"].as_array().unwrap();
        assert_eq!(outs.len(), 3);
        assert!(outs.iter().all(|o| o.as_array().unwrap().len() == 1));
        for p in ["party0", "party1"] {
            let m = &v["metering"][p];
            for phase in ["setup", "offline", "online"] {
                for k in ["bytes_sent", "bytes_received", "messages_sent", "rounds"] {
                    assert!(m[phase][k].is_u64(), "{proto} {p}.{phase}.{k}");
                }
            }
            // Measured = predicted by the cost functions, byte for byte.
            assert_eq!(
                m["online"], v["predicted"][p]["online"],
                "{proto} {p} online"
            );
            assert_eq!(
                m["offline"], v["predicted"][p]["offline"],
                "{proto} {p} offline"
            );
            assert_eq!(m["online"]["rounds"], rounds, "{proto} {p}");
        }
        let sent = |p: &str| v["metering"][p]["online"]["bytes_sent"].as_u64().unwrap();
        if proto == "gmw" {
            // Each AND layer of k gates sends ⌈6k/64⌉ words: at least 2·3·6400 bits.
            assert!(sent("party0") >= 2 * 3 * 6400 / 8);
        } else {
            // Two 16-byte ciphertexts per AND gate and instance, from the garbler.
            assert!(sent("party0") >= 32 * 3 * 6400);
        }
        assert!(v["time_ms"]["online"].as_f64().unwrap() > 0.0);
    }
}

fn fails(args: &[&str], needle: &str) {
    let o = tessera(args);
    let err = stderr(&o);
    assert!(!o.status.success(), "{args:?} succeeded: {}", stdout(&o));
    assert!(
        err.contains(needle),
        "{args:?}: expected `{needle}` in: {err}"
    );
    assert!(!err.contains("panicked"), "{args:?} panicked: {err}");
    assert!(stdout(&o).is_empty(), "{args:?} printed to stdout");
}

#[test]
fn bad_input_fails_clearly() {
    let aes = circuit("aes_128.txt");
    let a = aes.as_str();
    let not_hex = "zz0102030405060708090a0b0c0d0e0f";
    fails(&["circuit", a, "--input", not_hex, AES_PT], "not hex");
    fails(
        &["circuit", a, "--input", "0001", AES_PT],
        "a 128-bit value takes 32",
    );
    fails(&["circuit", a, "--input", AES_KEY], "2 input values");
    fails(&["circuit", a], "2 input values");
    fails(
        &["circuit", a, "--random", "--owners", "0,2"],
        "party 2 does not exist",
    );
    fails(&["circuit", a, "--random", "--owners", "0"], "1 owners");
    fails(&["circuit", a, "--random", "--batch", "0"], "at least 1");
    fails(
        &["circuit", a, "--random", "--protocol", "ckks"],
        "invalid value 'ckks'",
    );
    fails(
        &["circuit", "/nonexistent/c.txt", "--random"],
        "cannot read circuit file",
    );
    let dir = std::env::temp_dir().join(format!("tessera-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let bad = dir.join("bad.txt");
    std::fs::write(&bad, "1 3\n2 1 1\n1 1\n2 1 0 5 AND\n").unwrap();
    fails(&["circuit", bad.to_str().unwrap(), "--random"], "line 4");
    std::fs::write(&bad, "1 3\n2 1 1\n1 1\n2 1 0 1 7 AND\n").unwrap();
    fails(&["circuit", bad.to_str().unwrap(), "--random"], "line 4");
    std::fs::remove_dir_all(&dir).unwrap();
}
