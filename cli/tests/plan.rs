//! `tessera plan` end to end on the reference models: the optimal plan, every
//! baseline's predicted cost, the plan file, and an edited plan re-validated.

#![allow(clippy::unwrap_used)]

use std::process::{Command, Output};

use serde_json::{Value, json};

fn tessera(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_tessera"))
        .args(args)
        .output()
        .unwrap()
}

fn ok(out: &Output) -> String {
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout.clone()).unwrap()
}

/// The report's predicted value of `strategy` under the objective.
fn value(v: &Value, strategy: &str, objective: &str) -> Option<f64> {
    let row = v["strategies"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["strategy"] == strategy)
        .unwrap();
    let p = row.get("predicted")?;
    Some(match objective {
        "online" => p["online_ms"].as_f64().unwrap(),
        "total" => p["online_ms"].as_f64().unwrap() + p["offline_ms"].as_f64().unwrap(),
        _ => p["bytes"].as_f64().unwrap(),
    })
}

fn check_report(v: &Value, layers: usize, objective: &str) {
    let plan = &v["plan"];
    assert_eq!(plan["kind"], "tessera-plan");
    assert_eq!(plan["strategy"], "auto");
    assert_eq!(plan["objective"], objective);
    assert_eq!(plan["layers"].as_array().unwrap().len(), layers);
    let names: Vec<&str> = v["strategies"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["strategy"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["auto", "pure-a", "pure-b", "pure-y", "a+b", "a+y"]);
    // Both reference models have ReLU: pure-a says why it does not apply.
    let pure_a = &v["strategies"][1]["not_applicable"];
    assert!(pure_a.as_str().unwrap().contains("relu"), "{pure_a}");
    // auto is never predicted worse than a baseline under its own objective.
    let auto = value(v, "auto", objective).unwrap();
    for b in ["pure-b", "pure-y", "a+b", "a+y"] {
        let x = value(v, b, objective).unwrap();
        assert!(auto <= x * (1.0 + 1e-9), "auto {auto} > {b} {x}");
    }
    // Every step of the plan has its predicted cost.
    for l in plan["layers"].as_array().unwrap() {
        for s in l["steps"].as_array().unwrap() {
            assert!(s["ms"].as_f64().unwrap() >= 0.0);
            assert!(s["bytes"].as_array().unwrap().len() == 2);
        }
    }
}

#[test]
fn plan_mlp_on_lan_writes_a_plan_that_can_be_edited_and_revalidated() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("mlp.json");
    let p = path.to_str().unwrap();
    let out = tessera(&[
        "plan",
        "--model",
        "mlp",
        "--network",
        "lan",
        "--json",
        "--out",
        p,
    ]);
    let v: Value = serde_json::from_str(&ok(&out)).unwrap();
    check_report(&v, 6, "online");
    let file: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    assert_eq!(file, v["plan"]);

    // An edit that breaks the rules: ReLU in A.
    let relu = file["layers"]
        .as_array()
        .unwrap()
        .iter()
        .position(|l| l["op"] == "relu")
        .unwrap();
    let mut bad = file.clone();
    bad["layers"][relu]["sharing"] = json!("A");
    std::fs::write(&path, bad.to_string()).unwrap();
    let out = tessera(&["plan", "--model", "mlp", "--plan", p]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("cannot run in A"), "{err}");

    // A valid edit: every layer in its a+y place, re-priced.
    let mut good = file.clone();
    for (i, l) in file["layers"].as_array().unwrap().iter().enumerate() {
        let (s, c): (&str, Vec<&str>) = match l["op"].as_str().unwrap() {
            "relu" => ("Y", vec!["a2y"]),
            "dense" if i > 1 => ("A", vec!["y2a"]),
            _ => ("A", vec![]),
        };
        good["layers"][i]["sharing"] = json!(s);
        good["layers"][i]["convert"] = json!(c);
    }
    good["input"]["sharing"] = json!("A");
    good["head"]["sharing"] = json!("Y");
    good["head"]["convert"] = json!(["a2y"]);
    std::fs::write(&path, good.to_string()).unwrap();
    let out = tessera(&["plan", "--model", "mlp", "--plan", p, "--json"]);
    let v: Value = serde_json::from_str(&ok(&out)).unwrap();
    assert_eq!(v["plan"]["strategy"], "edited");
    let edited = v["plan"]["totals"]["online_ms"].as_f64().unwrap();
    let ay = value(&v, "a+y", "online").unwrap();
    assert!((edited - ay).abs() <= 1e-9 * ay, "{edited} vs a+y {ay}");
}

#[test]
fn plan_cnn_on_wan_for_total_time_prints_every_strategy() {
    let out = tessera(&[
        "plan",
        "--model",
        "cnn",
        "--network",
        "wan",
        "--objective",
        "total",
        "--json",
    ]);
    let v: Value = serde_json::from_str(&ok(&out)).unwrap();
    check_report(&v, 6, "total");
    assert_eq!(v["plan"]["network"], "wan");
}

#[test]
fn plan_table_and_clear_errors() {
    let out = tessera(&[
        "plan",
        "--model",
        "mlp",
        "--objective",
        "bytes",
        "--batch",
        "2",
    ]);
    let text = ok(&out);
    for s in [
        "auto",
        "pure-b",
        "pure-y",
        "a+b",
        "a+y",
        "pure-a",
        "total: online",
    ] {
        assert!(text.contains(s), "{s} missing:\n{text}");
    }
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("cal.json");
    std::fs::write(&bad, "{\"kind\": \"tessera-calibration\", \"schema\": 0}").unwrap();
    let out = tessera(&[
        "plan",
        "--model",
        "mlp",
        "--calibration",
        bad.to_str().unwrap(),
    ]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("schema version 0"), "{err}");
    let out = tessera(&["plan", "--model", "mlp", "--objective", "fastest"]);
    assert!(!out.status.success());
}

/// The zoo's networks (`models/zoo`): MiniONN's MNIST network (a chain) and ResNet-20 (a
/// DAG of 52 layers) are planned in seconds, `auto` is never predicted worse than a
/// baseline, and the exact counts of the baselines equal the bytes and rounds that
/// `tessera bench --zoo` measured (`bench-suite/results/zoo-cff17fd/results.json`).
#[test]
fn plan_zoo_networks_matches_the_measured_counts() {
    let root = concat!(env!("CARGO_MANIFEST_DIR"), "/..");
    let measured: Value = serde_json::from_str(
        &std::fs::read_to_string(format!(
            "{root}/bench-suite/results/zoo-cff17fd/results.json"
        ))
        .unwrap(),
    )
    .unwrap();
    for (file, name, layers) in [
        ("minionn_mnist", "minionn-mnist", 10),
        ("resnet20", "resnet20", 52),
    ] {
        let model = format!("{root}/models/zoo/{file}.onnx");
        let out = tessera(&["plan", "--model", &model, "--network", "lan", "--json"]);
        let v: Value = serde_json::from_str(&ok(&out)).unwrap();
        check_report(&v, layers, "online");
        for plan in ["a+b", "a+y"] {
            let row = v["strategies"]
                .as_array()
                .unwrap()
                .iter()
                .find(|r| r["strategy"] == plan)
                .unwrap();
            let id = format!("zoo/{name}/{plan}/batch=1@lan");
            let m = measured["scenarios"]
                .as_array()
                .unwrap()
                .iter()
                .find(|s| s["id"] == id.as_str())
                .unwrap();
            let online = &m["counters"];
            let bytes = online["party0"]["online"]["bytes_sent"].as_u64().unwrap()
                + online["party1"]["online"]["bytes_sent"].as_u64().unwrap();
            assert_eq!(row["predicted"]["bytes"].as_u64().unwrap(), bytes, "{id}");
            assert_eq!(
                row["predicted"]["rounds"], online["party0"]["online"]["rounds"],
                "{id}"
            );
        }
    }
}

/// The offline phase priced under both sources: the dealer's and the OT source's
/// offline time for every strategy, the plan priced with the source asked for, the
/// fastest strategy in total with a dealer and without one — in the table and the JSON.
#[test]
fn plan_prices_the_offline_phase_with_and_without_a_dealer() {
    let plan = |extra: &[&str]| {
        let args = [
            "plan",
            "--model",
            "mlp",
            "--network",
            "wan",
            "--objective",
            "total",
            "--offline",
            "ot",
            "--batch",
            "4",
            "--json",
        ];
        let out = tessera(&[&args[..], extra].concat());
        serde_json::from_str::<Value>(&ok(&out)).unwrap()
    };
    let v = plan(&[]);
    check_report(&v, 6, "total");
    assert_eq!(v["plan"]["totals"]["offline_source"], "ot");
    for r in v["strategies"].as_array().unwrap() {
        let Some(p) = r.get("predicted") else {
            continue;
        };
        let by = &p["offline_by_source"];
        let (dealer, ot) = (by["dealer"].as_f64().unwrap(), by["ot"].as_f64().unwrap());
        // The plan's own source is the one its offline time is priced with; without
        // a dealer the parties pay at least the link's set-up, three one-way flights
        // of wan's 50 ms before any extension (with 8 bytes per OT the OT source can
        // be the cheaper one: pure-y's input OTs cost less than the dealer's 16 bytes
        // each on this link).
        assert_eq!(p["offline_ms"].as_f64().unwrap(), ot, "{}", r["strategy"]);
        assert!(
            dealer > 0.0 && ot >= 150.0,
            "{}: {dealer} vs {ot}",
            r["strategy"]
        );
    }
    let fastest = &v["fastest_total"];
    for source in ["dealer", "ot"] {
        let (name, ms) = (&fastest[source][0], fastest[source][1].as_f64().unwrap());
        assert!(name.is_string() && ms > 0.0, "{fastest}");
    }
    // Parties that kept an OT pairing pay no base OTs: every strategy's OT offline
    // time falls by at least the link's compute and one wan flight (50 ms).
    let w = plan(&["--ot-paired"]);
    for (r, q) in v["strategies"]
        .as_array()
        .unwrap()
        .iter()
        .zip(w["strategies"].as_array().unwrap())
    {
        let (Some(a), Some(b)) = (r.get("predicted"), q.get("predicted")) else {
            continue;
        };
        let ot = |p: &Value| p["offline_by_source"]["ot"].as_f64().unwrap();
        assert!(
            ot(b) <= ot(a) - 50.0,
            "{}: {} vs {}",
            r["strategy"],
            ot(a),
            ot(b)
        );
    }
    let text = ok(&tessera(&["plan", "--model", "mlp", "--ot-paired"]));
    assert!(text.contains("offline OT paired"), "{text}");
    // The table says the same.
    let text = ok(&tessera(&["plan", "--model", "cnn", "--batch", "2"]));
    assert!(
        text.contains("offline dealer") && text.contains("offline OT"),
        "{text}"
    );
    assert!(text.contains("with a dealer:"), "{text}");
    assert!(text.contains("without a dealer (OT extension):"), "{text}");
    // An unknown source is refused by name.
    let bad = tessera(&["plan", "--model", "mlp", "--offline", "trusted"]);
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("`dealer` or `ot`"));
}

/// `--queries N`: the set-up (party 0's masked weights, one round) reported once, each
/// query's exact bytes and rounds, and the set-up's share of each query falling as 1/N.
#[test]
fn plan_reports_the_setup_once_and_its_share_of_each_query() {
    let plan = |queries: &str| -> Value {
        let out = tessera(&[
            "plan",
            "--model",
            "cnn",
            "--network",
            "lan",
            "--strategy",
            "a+b",
            "--queries",
            queries,
            "--json",
        ]);
        serde_json::from_str(&ok(&out)).unwrap()
    };
    let one = plan("1");
    let twenty = plan("20");
    let (s1, s20) = (&one["plan"]["serving"], &twenty["plan"]["serving"]);
    assert_eq!(s20["queries"], 20);
    // The set-up once: the CNN's masked weights, as in the totals; one round.
    assert_eq!(s20["setup_bytes"], twenty["plan"]["totals"]["setup_bytes"]);
    assert!(s20["setup_bytes"][0].as_u64().unwrap() > 600_000);
    assert_eq!(s20["setup_rounds"], 1);
    // A query's online cost is the one-query plan's.
    assert_eq!(s20["query_bytes"], twenty["plan"]["totals"]["bytes"]);
    assert_eq!(s20["query_rounds"], twenty["plan"]["totals"]["rounds"]);
    let f = |v: &Value, k: &str| v[k].as_f64().unwrap();
    let fixed = f(s20, "setup_ms") + f(s20, "session_offline_ms");
    assert!((f(s20, "amortised_setup_ms") - fixed / 20.0).abs() < 1e-9);
    assert!((f(s1, "amortised_setup_ms") - fixed).abs() < 1e-9);
    assert!(f(s20, "total_ms_per_query") < f(s1, "total_ms_per_query"));
    let out = tessera(&["plan", "--model", "cnn", "--queries", "0"]);
    assert!(!out.status.success());
    let text = ok(&tessera(&[
        "plan",
        "--model",
        "cnn",
        "--strategy",
        "a+b",
        "--queries",
        "20",
    ]));
    assert!(
        text.contains("serving 20 queries after one set-up"),
        "{text}"
    );
    assert!(text.contains("set-up amortised over 20"), "{text}");
}
