//! The regression check: a run against a baseline.
//!
//! - **Exact counters** ([`Counters::flatten`](crate::results::Counters::flatten):
//!   bytes, messages and rounds per phase and party, AND gates, correlations, dealer
//!   corrections) of every baseline scenario must be equal in the run. Any
//!   difference, a counter present on one side only, or a baseline scenario missing
//!   from the run is a **failure**.
//! - **Times** (median online and offline) are compared with a relative tolerance and
//!   only **warn**: machines differ and CI machines are noisy, counters do not.
//! - Scenarios of the run that the baseline lacks are listed as warnings (a new
//!   scenario needs a deliberate `--update-baseline`).

use std::fmt;

use crate::results::{Results, ScenarioResult};

/// One counter that differs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Difference {
    /// The scenario id.
    pub scenario: String,
    /// The counter, or `(scenario)` when the whole scenario is missing.
    pub counter: String,
    /// The baseline's value (`None`: absent there).
    pub baseline: Option<u64>,
    /// This run's value (`None`: absent in the run).
    pub now: Option<u64>,
}

impl fmt::Display for Difference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let v = |x: Option<u64>| x.map_or_else(|| "absent".to_string(), |v| v.to_string());
        if self.counter == MISSING {
            write!(f, "{}: missing from the run", self.scenario)
        } else {
            write!(
                f,
                "{}: {}: baseline {}, now {}",
                self.scenario,
                self.counter,
                v(self.baseline),
                v(self.now)
            )
        }
    }
}

const MISSING: &str = "(scenario)";

/// The outcome of a check.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct CheckReport {
    /// Exact-counter differences and missing scenarios: the check fails if any.
    pub failures: Vec<Difference>,
    /// Slow times and scenarios the baseline lacks: printed, never fatal.
    pub warnings: Vec<String>,
    /// Scenarios compared.
    pub compared: usize,
}

impl CheckReport {
    /// Whether the run passes (no failure).
    pub fn passed(&self) -> bool {
        self.failures.is_empty()
    }
}

fn ms(ns: u64) -> f64 {
    ns as f64 / 1e6
}

fn compare_times(b: &ScenarioResult, n: &ScenarioResult, tolerance: f64, out: &mut Vec<String>) {
    for (what, bt, nt) in [
        ("online", b.online_ns.median, n.online_ns.median),
        ("offline", b.offline_ns.median, n.offline_ns.median),
    ] {
        // Below 50 µs a median is scheduler noise.
        if nt > 50_000 && nt as f64 > bt as f64 * (1.0 + tolerance) {
            out.push(format!(
                "{}: {what} median {:.3} ms, baseline {:.3} ms (+{:.0}%, tolerance {:.0}%)",
                n.id,
                ms(nt),
                ms(bt),
                (nt as f64 / bt.max(1) as f64 - 1.0) * 100.0,
                tolerance * 100.0
            ));
        }
    }
}

/// Compares `run` with `baseline`; `time_tolerance` is the relative slow-down of a
/// median (0.5 = 50 %) above which a warning is issued.
pub fn compare(baseline: &Results, run: &Results, time_tolerance: f64) -> CheckReport {
    let mut r = CheckReport::default();
    for b in &baseline.scenarios {
        let Some(n) = run.scenarios.iter().find(|s| s.id == b.id) else {
            r.failures.push(Difference {
                scenario: b.id.clone(),
                counter: MISSING.into(),
                baseline: None,
                now: None,
            });
            continue;
        };
        r.compared += 1;
        let (bc, nc) = (b.counters.flatten(), n.counters.flatten());
        for key in bc.keys().chain(nc.keys().filter(|k| !bc.contains_key(*k))) {
            let (x, y) = (bc.get(key).copied(), nc.get(key).copied());
            if x != y {
                r.failures.push(Difference {
                    scenario: b.id.clone(),
                    counter: key.clone(),
                    baseline: x,
                    now: y,
                });
            }
        }
        compare_times(b, n, time_tolerance, &mut r.warnings);
    }
    for n in &run.scenarios {
        if !baseline.scenarios.iter().any(|b| b.id == n.id) {
            r.warnings.push(format!(
                "{}: not in the baseline (update it deliberately with --update-baseline)",
                n.id
            ));
        }
    }
    r
}

impl fmt::Display for CheckReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for w in &self.warnings {
            writeln!(f, "warning: {w}")?;
        }
        for d in &self.failures {
            writeln!(f, "FAIL: {d}")?;
        }
        if self.passed() {
            write!(
                f,
                "check passed: the exact counters of all {} baseline scenarios are unchanged",
                self.compared
            )
        } else {
            write!(
                f,
                "check FAILED: {} difference(s) in exact counters or scenarios",
                self.failures.len()
            )
        }
    }
}
