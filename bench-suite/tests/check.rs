//! The regression check on synthetic results, and the JSON format.

#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;
use std::path::Path;

use tessera_bench_suite::results::SCHEMA;
use tessera_bench_suite::{
    Counters, Machine, PartyCounters, Results, ScenarioResult, Settings, Spread, compare,
};
use tessera_core::PhaseMeter;

fn meter(bytes: u64, rounds: u64) -> PhaseMeter {
    PhaseMeter {
        bytes_sent: bytes,
        bytes_received: bytes + 1,
        messages_sent: rounds,
        messages_received: rounds,
        rounds,
    }
}

fn scenario(id: &str, bytes: u64, median_ns: u64) -> ScenarioResult {
    let p = PartyCounters {
        setup: meter(120, 1),
        offline: meter(25, 2),
        online: meter(bytes, 3),
    };
    ScenarioResult {
        id: format!("{id}@local"),
        family: "test".into(),
        name: id.into(),
        params: BTreeMap::from([("n".to_string(), "7".to_string())]),
        network: "local".into(),
        reps: 3,
        warmup: 1,
        online_waiting_ns: None,
        online_ns: Spread {
            median: median_ns,
            min: median_ns - 10,
            max: median_ns + 10,
            q1: median_ns - 5,
            q3: median_ns + 5,
        },
        offline_ns: Spread {
            median: 1_000_000,
            min: 900_000,
            max: 1_100_000,
            q1: 950_000,
            q3: 1_050_000,
        },
        counters: Counters {
            party0: p,
            party1: p,
            and_gates: Some(6400),
            correlations: BTreeMap::from([("and_triples".to_string(), 6400)]),
            dealt: BTreeMap::from([("and_triples".to_string(), 6400)]),
            dealer_correction_bytes: 800,
        },
        predicted: None,
    }
}

fn results(scenarios: Vec<ScenarioResult>) -> Results {
    Results {
        schema: SCHEMA.into(),
        created_unix: 1_700_000_000,
        machine: Machine::detect(),
        settings: Settings {
            quick: true,
            reps: 3,
            warmup: 1,
            networks: vec!["local".into()],
            filter: None,
            offline: "dealer".into(),
            threads: 1,
            calibration: None,
        },
        scenarios,
        predicted_only: Vec::new(),
        not_run: Vec::new(),
    }
}

fn pair() -> Results {
    results(vec![
        scenario("a", 1000, 2_000_000),
        scenario("b", 5000, 3_000_000),
    ])
}

#[test]
fn identical_runs_pass() {
    let r = compare(&pair(), &pair(), 0.5);
    assert!(r.passed(), "{r}");
    assert_eq!(r.compared, 2);
    assert!(r.warnings.is_empty(), "{:?}", r.warnings);
}

#[test]
fn a_changed_counter_fails_and_names_it() {
    let base = pair();
    let mut now = pair();
    now.scenarios[1].counters.party1.online.bytes_sent += 8;
    now.scenarios[0].counters.party0.offline.rounds = 3;
    let r = compare(&base, &now, 0.5);
    assert!(!r.passed());
    assert_eq!(r.failures.len(), 2, "{r}");
    let text = r.to_string();
    assert!(
        text.contains("b@local: party1.online.bytes_sent: baseline 5000, now 5008"),
        "{text}"
    );
    assert!(
        text.contains("a@local: party0.offline.rounds: baseline 2, now 3"),
        "{text}"
    );
}

#[test]
fn every_kind_of_counter_is_compared() {
    let base = pair();
    type Edit = fn(&mut Counters);
    let edits: Vec<(&str, Edit)> = vec![
        ("and_gates", |c| c.and_gates = Some(6401)),
        ("correlations.and_triples", |c| {
            c.correlations.insert("and_triples".into(), 1);
        }),
        ("dealt.and_triples", |c| {
            c.dealt.insert("and_triples".into(), 1);
        }),
        ("dealer_correction_bytes", |c| c.dealer_correction_bytes = 0),
        ("party0.setup.messages_received", |c| {
            c.party0.setup.messages_received = 9
        }),
        ("party1.online.rounds", |c| c.party1.online.rounds = 4),
    ];
    for (name, edit) in edits {
        let mut now = pair();
        edit(&mut now.scenarios[0].counters);
        let r = compare(&base, &now, 0.5);
        assert_eq!(r.failures.len(), 1, "{name}: {r}");
        assert_eq!(r.failures[0].counter, name);
    }
    // A counter on one side only (AND gates no longer reported).
    let mut now = pair();
    now.scenarios[0].counters.and_gates = None;
    let r = compare(&base, &now, 0.5);
    assert_eq!(r.failures.len(), 1, "{r}");
    assert_eq!(r.failures[0].now, None);
    assert!(
        r.to_string()
            .contains("and_gates: baseline 6400, now absent")
    );
}

#[test]
fn a_missing_scenario_fails() {
    let base = pair();
    let now = results(vec![scenario("a", 1000, 2_000_000)]);
    let r = compare(&base, &now, 0.5);
    assert!(!r.passed());
    assert_eq!(r.failures.len(), 1);
    assert!(
        r.to_string().contains("b@local: missing from the run"),
        "{r}"
    );
}

#[test]
fn times_and_new_scenarios_only_warn() {
    let base = pair();
    let mut now = results(vec![
        scenario("a", 1000, 2_000_000),
        scenario("b", 5000, 3_000_000),
        scenario("c", 1, 100),
    ]);
    now.scenarios[0].online_ns.median = 4_000_000; // twice the baseline
    now.scenarios[1].online_ns.median = 3_200_000; // within 50 %
    let r = compare(&base, &now, 0.5);
    assert!(r.passed(), "{r}");
    assert_eq!(r.warnings.len(), 2, "{:?}", r.warnings);
    assert!(r.warnings[0].contains("a@local: online median 4.000 ms, baseline 2.000 ms"));
    assert!(r.warnings[1].contains("c@local: not in the baseline"));
}

#[test]
fn results_round_trip_through_json() {
    let r = pair();
    let text = r.to_json().unwrap();
    let back = Results::from_json(&text, Path::new("x.json")).unwrap();
    assert_eq!(back, r);
    // Written and read back through a file.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("sub/results.json");
    r.write(&path).unwrap();
    assert_eq!(Results::read(&path).unwrap(), r);
}

#[test]
fn other_schemas_and_garbage_are_errors() {
    let p = Path::new("base.json");
    let text = pair().to_json().unwrap().replace(SCHEMA, "tessera-bench/0");
    let e = Results::from_json(&text, p).unwrap_err().to_string();
    assert!(e.contains("schema `tessera-bench/0`"), "{e}");
    let e = Results::from_json("{}", p).unwrap_err().to_string();
    assert!(e.contains("no `schema` field"), "{e}");
    let e = Results::from_json("not json", p).unwrap_err().to_string();
    assert!(e.contains("not JSON"), "{e}");
    let e = Results::from_json(&format!("{{\"schema\": \"{SCHEMA}\"}}"), p)
        .unwrap_err()
        .to_string();
    assert!(e.contains("base.json"), "{e}");
    assert!(Results::read(Path::new("/nonexistent/b.json")).is_err());
}

#[test]
fn network_lists_parse_with_custom_profiles() {
    use tessera_bench_suite::parse_networks;
    use tessera_core::NetworkProfile;
    assert_eq!(
        parse_networks("local,lan,wan").unwrap(),
        vec![
            NetworkProfile::LOCAL,
            NetworkProfile::LAN,
            NetworkProfile::WAN
        ]
    );
    let v = parse_networks("bw=50M,rtt=20, wan").unwrap();
    assert_eq!(v.len(), 2);
    assert_eq!(v[0].bandwidth_bps, Some(50_000_000));
    assert_eq!(v[1], NetworkProfile::WAN);
    assert!(parse_networks("lan,moon").is_err());
    assert!(parse_networks("").is_err());
}
