//! The harness end to end through the library: tiny scenario sets run for real (the
//! dealer and both parties over TCP loopback), their files, the baseline written and
//! checked, and the runner's own checks on workloads that misbehave.

#![allow(clippy::unwrap_used)]

use std::time::Duration;

use tessera_bench_suite::scenario::R;
use tessera_bench_suite::{
    BenchOptions, Results, RunSettings, Scenario, Stopwatch, Workload, bench, run_scenario,
};
use tessera_conversions::{Conversion, Price};
use tessera_core::NetworkProfile;
use tessera_protocols::circuit::bristol;
use tessera_protocols::gmw::{self, RevealTo};
use tessera_protocols::{ArithParty, Demand};

fn opts(dir: &std::path::Path, filter: &str) -> BenchOptions {
    BenchOptions {
        quick: true,
        filter: Some(filter.into()),
        reps: Some(2),
        warmup: Some(1),
        out: dir.join("out"),
        progress: false,
        timeout: Duration::from_secs(120),
        ..BenchOptions::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn beaver_run_writes_files_and_checks_against_its_own_baseline() {
    let dir = tempfile::tempdir().unwrap();
    let base = dir.path().join("baseline.json");
    let mut o = opts(dir.path(), "arith/beaver-mul");
    o.update_baseline = Some(base.clone());
    let first = bench(&o).await.unwrap();
    assert!(first.passed() && first.check.is_none());
    let r = &first.results;
    assert_eq!(r.scenarios.len(), 1);
    let s = &r.scenarios[0];
    assert_eq!(s.id, "arith/beaver-mul/n=1000@local");
    assert_eq!((s.reps, s.warmup), (2, 1));
    // One exchange of ε and δ: 1,000 elements each, 8 bytes, one 8-byte header.
    for p in [&s.counters.party0, &s.counters.party1] {
        assert_eq!(p.online.bytes_sent, 8 + 2 * 8 * 1000);
        assert_eq!(p.online.bytes_received, 8 + 2 * 8 * 1000);
        assert_eq!(p.online.rounds, 1);
        assert!(p.setup.bytes_sent > 0, "the handshake is metered");
    }
    // Party 1 receives its share of C from the dealer (41 + 8,000 + one header).
    assert_eq!(s.counters.party1.offline.bytes_received, 41 + 8000 + 8);
    assert_eq!(s.counters.party0.offline.bytes_received, 41);
    assert_eq!(s.counters.correlations["beaver_elements"], 1000);
    assert_eq!(s.counters.and_gates, None);
    assert!(s.online_ns.min <= s.online_ns.median && s.online_ns.median <= s.online_ns.max);
    assert!(s.online_ns.min > 0 && s.offline_ns.min > 0);
    for f in [
        "results.json",
        "results.md",
        "time-local.svg",
        "bytes-local.svg",
    ] {
        assert!(dir.path().join("out").join(f).is_file(), "{f}");
    }
    let md = std::fs::read_to_string(dir.path().join("out/results.md")).unwrap();
    assert!(md.contains("| arith/beaver-mul/n=1000 |"), "{md}");
    let svg = std::fs::read_to_string(dir.path().join("out/bytes-local.svg")).unwrap();
    assert!(svg.starts_with("<svg") && svg.contains("32.0 kB"), "{svg}");
    assert_eq!(
        Results::read(&dir.path().join("out/results.json")).unwrap(),
        *r
    );
    assert_eq!(Results::read(&base).unwrap(), *r);

    // A fresh run matches the baseline it wrote.
    let mut o = opts(dir.path(), "arith/beaver-mul");
    o.check = Some(base.clone());
    let second = bench(&o).await.unwrap();
    assert!(second.passed(), "{}", second.summary());

    // A changed counter in the baseline fails the check and is named.
    let mut tampered = Results::read(&base).unwrap();
    tampered.scenarios[0].counters.party0.online.bytes_sent += 1;
    let mut extra = tampered.scenarios[0].clone();
    extra.id = "arith/beaver-mul/n=7@local".into();
    tampered.scenarios.push(extra);
    tampered.write(&base).unwrap();
    let third = bench(&o).await.unwrap();
    assert!(!third.passed());
    let text = third.summary();
    assert!(
        text.contains(
            "arith/beaver-mul/n=1000@local: party0.online.bytes_sent: baseline 16009, now 16008"
        ),
        "{text}"
    );
    assert!(
        text.contains("arith/beaver-mul/n=7@local: missing from the run"),
        "{text}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metered_counters_equal_the_exact_cost_formulas() {
    let dir = tempfile::tempdir().unwrap();
    let mut o = opts(dir.path(), "");
    o.filter = None;
    let all = tessera_bench_suite::select(&o).unwrap().0;
    let pick = |label: &str| all.iter().find(|s| s.label() == label).unwrap().clone();
    let settings = RunSettings {
        profile: NetworkProfile::LOCAL,
        reps: 1,
        warmup: 0,
        timeout: Duration::from_secs(120),
        threads: std::num::NonZeroUsize::MIN,
        ot_pairing: false,
    };

    // GMW on AES-128: the online meter is gmw::cost's prediction for a reveal to both.
    let r = run_scenario(&pick("gmw/aes-128/batch=1"), "local", settings, &mut || {})
        .await
        .unwrap();
    let aes = bristol::read_file(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../protocols/circuits/aes_128.txt"
    ))
    .unwrap();
    let cost = gmw::cost::<R>(&aes, 1, &[0, 1], RevealTo::Both).unwrap();
    assert_eq!(r.counters.party0.online, cost.online[0]);
    assert_eq!(r.counters.party1.online, cost.online[1]);
    assert_eq!(r.counters.party0.offline, cost.offline[0]);
    assert_eq!(r.counters.party1.offline, cost.offline[1]);
    assert_eq!(r.counters.and_gates, Some(6400));
    assert_eq!(r.counters.correlations["and_triples"], 6400);

    // Y2A after an untimed A2Y: the window holds exactly the Y2A's price, rounds
    // counted from zero.
    let r = run_scenario(&pick("conv/y2a/n=100"), "local", settings, &mut || {})
        .await
        .unwrap();
    let price = Price::of(Conversion::Y2A, 64, 100).unwrap();
    assert_eq!(r.counters.party0.online.bytes_sent, price.bytes_sent[0]);
    assert_eq!(r.counters.party1.online.bytes_sent, price.bytes_sent[1]);
    assert_eq!(
        r.counters
            .party0
            .online
            .rounds
            .max(r.counters.party1.online.rounds),
        price.rounds()
    );
    assert!(r.counters.correlations.is_empty());
    assert_eq!(r.counters.dealt["random_ots"], 6400, "the A2Y's OTs");
}

/// A workload that can be told to misbehave.
struct Probe {
    /// Take the triple (else it is left unused).
    take: bool,
    /// Call start and stop.
    time: bool,
    /// Report a right result.
    right: bool,
}

impl Workload for Probe {
    type Input = ();
    type Output = ();

    fn demand(&self) -> tessera_bench_suite::Result<Demand> {
        let mut d = Demand::new();
        d.mul(&[4]);
        Ok(d)
    }

    fn inputs(&self) -> tessera_bench_suite::Result<()> {
        Ok(())
    }

    async fn party(
        &self,
        p: &mut ArithParty<R>,
        _: &(),
        sw: &mut Stopwatch,
    ) -> tessera_bench_suite::Result<()> {
        if self.time {
            sw.start(p.channel_mut()).await?;
        }
        if self.take {
            let x = tessera_protocols::AShare::<R>::zeros(&[4]);
            p.mul(&x, &x).await?;
        }
        if self.time {
            sw.stop(p.channel());
        }
        Ok(())
    }

    fn verify(&self, _: &(), _: [(); 2]) -> tessera_bench_suite::Result<()> {
        if self.right {
            Ok(())
        } else {
            Err(tessera_bench_suite::BenchError::wrong("wrong on purpose"))
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_runner_rejects_wrong_results_unused_material_and_missing_windows() {
    let settings = RunSettings {
        profile: NetworkProfile::LOCAL,
        reps: 1,
        warmup: 0,
        timeout: Duration::from_secs(60),
        threads: std::num::NonZeroUsize::MIN,
        ot_pairing: false,
    };
    let run = |take, time, right| async move {
        let sc = Scenario::new("probe", "mul", Probe { take, time, right }).param("n", 4);
        run_scenario(&sc, "local", settings, &mut || {}).await
    };
    let ok = run(true, true, true).await.unwrap();
    assert_eq!(ok.id, "probe/mul/n=4@local");
    assert_eq!(ok.counters.party0.online.bytes_sent, 8 + 2 * 8 * 4);

    let e = run(true, true, false).await.unwrap_err().to_string();
    assert!(
        e.contains("probe/mul/n=4@local") && e.contains("wrong on purpose"),
        "{e}"
    );
    let e = run(false, true, true).await.unwrap_err().to_string();
    assert!(
        e.contains("left 1 of the 1 requested correlations unused"),
        "{e}"
    );
    let e = run(true, false, true).await.unwrap_err().to_string();
    assert!(e.contains("did not call Stopwatch::start"), "{e}");
}
