#![allow(clippy::unwrap_used)]
//! The time budget: a scenario whose predicted online + offline time on a network
//! exceeds it is priced, not run; one restricted to some networks runs only there.

use std::time::Duration;

use tessera_bench_suite::scenario::{R, Stopwatch, Workload};
use tessera_bench_suite::{Prediction, Result, Scenario, split_jobs};
use tessera_core::NetworkProfile;
use tessera_protocols::{ArithParty, Demand};

/// A workload that is never run here.
struct Never;

impl Workload for Never {
    type Input = ();
    type Output = ();

    fn demand(&self) -> Result<Demand> {
        Ok(Demand::default())
    }

    fn inputs(&self) -> Result<()> {
        Ok(())
    }

    async fn party(&self, _: &mut ArithParty<R>, _: &(), _: &mut Stopwatch) -> Result<()> {
        unreachable!("split_jobs runs nothing")
    }

    fn verify(&self, _: &(), _: [(); 2]) -> Result<()> {
        Ok(())
    }
}

fn predicted(online_s: u64, offline_s: u64) -> Prediction {
    Prediction {
        online_ns: online_s * 1_000_000_000,
        offline_ns: offline_s * 1_000_000_000,
        bytes: 1000,
        rounds: 7,
        sharings: "AB|Y".into(),
    }
}

#[test]
fn over_budget_is_priced_not_run() {
    let (lan, wan) = (NetworkProfile::LAN, NetworkProfile::WAN);
    let scenarios = vec![
        // 30 + 20 s on lan: within a 60 s budget; 100 + 5 s on wan: over it.
        Scenario::new("zoo", "net/a+y", Never)
            .param("batch", 1)
            .predicted(lan, predicted(30, 20))
            .only_on(lan)
            .predicted(wan, predicted(100, 5))
            .only_on(wan),
        // Planned for lan: only there, whatever the networks asked for.
        Scenario::new("zoo", "net/auto", Never)
            .param("batch", 1)
            .predicted(lan, predicted(1, 1))
            .only_on(lan),
        // No prediction: always run.
        Scenario::new("arith", "other", Never),
    ];
    let (run, priced) = split_jobs(&scenarios, &[lan, wan], "", Duration::from_secs(60));
    let ids: Vec<String> = run
        .iter()
        .map(|(s, n)| format!("{}@{n}", s.label()))
        .collect();
    assert_eq!(
        ids,
        [
            "zoo/net/a+y/batch=1@lan",
            "zoo/net/auto/batch=1@lan",
            "arith/other@lan",
            "arith/other@wan"
        ]
    );
    assert_eq!(priced.len(), 1);
    assert_eq!(priced[0].id, "zoo/net/a+y/batch=1@wan");
    assert_eq!(priced[0].network, "wan");
    assert_eq!(priced[0].budget_ns, 60_000_000_000);
    assert_eq!(priced[0].predicted, predicted(100, 5));
    // A larger budget runs it; a filter selects as before.
    let (run, priced) = split_jobs(&scenarios, &[wan], "a+y", Duration::from_secs(120));
    assert_eq!(run.len(), 1);
    assert!(priced.is_empty());
}
