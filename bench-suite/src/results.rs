//! The machine-readable results (`results.json`, and the baseline files, which are
//! results files written deliberately).
//!
//! # Schema `tessera-bench/1`
//! ```text
//! { "schema": "tessera-bench/1",
//!   "created_unix": 1700000000,                       // seconds
//!   "machine": { "cpu_model", "cores", "os", "arch", "rustc", "git_commit",
//!                "git_dirty", "build" },              // null where unknown
//!   "settings": { "quick", "reps", "warmup", "networks", "filter" },
//!   "scenarios": [ {
//!       "id": "gmw/aes-128/batch=1@local",            // label @ network
//!       "family": "gmw", "name": "aes-128", "params": { "batch": "1" },
//!       "network": "local", "reps": 5, "warmup": 1,
//!       "online_ns":  { "median", "min", "max", "q1", "q3" },   // integers, ns
//!       "offline_ns": { "median", "min", "max", "q1", "q3" },
//!       "counters": {
//!         "party0": { "setup": M, "offline": M, "online": M },  // M: bytes_sent,
//!         "party1": { ... },       // bytes_received, messages_sent,
//!                                  // messages_received, rounds
//!         "and_gates": 6400,                          // or null
//!         "correlations": { "and_triples": 6400 },    // taken in the window
//!         "dealt": { "and_triples": 6400 },           // the whole demand
//!         "dealer_correction_bytes": 800 },
//!       "predicted": { "online_ns", "offline_ns", "bytes", "rounds",  // the planner's,
//!                      "sharings" } } ],                // where known (model scenarios)
//!   "predicted_only": [ {                             // scenarios over the time budget:
//!       "id", "family", "name", "params", "network",  // priced, not run
//!       "budget_ns", "predicted": { ... } } ] }
//! ```
//! `predicted` and `predicted_only` are absent when empty (files without them read back).
//! `setup` is the peer channel's set-up phase (handshake, one-off set-up such as
//! plaintext-weight masks), `offline` the party's channel to the dealer, `online`
//! the peer channel inside the timed window. Times are integers (nanoseconds) so
//! that a file reads back exactly.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tessera_core::PhaseMeter;

use crate::error::{BenchError, Result};

/// The schema tag of this version.
pub const SCHEMA: &str = "tessera-bench/1";

/// A whole run.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Results {
    /// [`SCHEMA`].
    pub schema: String,
    /// When the run finished (seconds since the Unix epoch).
    pub created_unix: u64,
    /// Where it ran.
    pub machine: Machine,
    /// How it ran.
    pub settings: Settings,
    /// One entry per scenario and network.
    pub scenarios: Vec<ScenarioResult>,
    /// Scenarios whose predicted time per repetition exceeds the run's budget: priced
    /// by the planner, not run.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub predicted_only: Vec<PredictedOnly>,
    /// Scenarios the offline source cannot serve (`--offline ot`): not run.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub not_run: Vec<NotRun>,
}

/// The planner's prediction for a scenario (embedded calibration, the scenario's
/// network): what `tessera plan` prints for the same model, plan and network.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Prediction {
    /// Predicted online time, ns.
    pub online_ns: u64,
    /// Predicted offline time, ns.
    pub offline_ns: u64,
    /// Online bytes sent by both parties (exact: the engine's counters).
    pub bytes: u64,
    /// Online rounds (exact).
    pub rounds: u64,
    /// The sharing of every layer, then the head's (`ABBA|Y`).
    pub sharings: String,
}

/// A scenario priced, not run: its predicted time exceeds the budget.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PredictedOnly {
    /// `label@network`.
    pub id: String,
    /// The family.
    pub family: String,
    /// The name within the family.
    pub name: String,
    /// The parameters.
    pub params: BTreeMap<String, String>,
    /// The network profile.
    pub network: String,
    /// The budget per repetition (predicted online + offline time), ns.
    pub budget_ns: u64,
    /// The prediction.
    pub predicted: Prediction,
}

/// The machine and build a run came from.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Machine {
    /// `model name` from `/proc/cpuinfo`.
    pub cpu_model: Option<String>,
    /// Logical cores available to the process.
    pub cores: u64,
    /// Operating system.
    pub os: String,
    /// CPU architecture.
    pub arch: String,
    /// `rustc -V` of the compiler that built the harness.
    pub rustc: Option<String>,
    /// `git rev-parse HEAD` of the working directory.
    pub git_commit: Option<String>,
    /// Whether tracked files had uncommitted changes.
    pub git_dirty: Option<bool>,
    /// `release` or `debug`.
    pub build: String,
}

/// The options of a run.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Settings {
    /// `--quick`.
    pub quick: bool,
    /// Measured repetitions per scenario.
    pub reps: u64,
    /// Warm-up repetitions per scenario.
    pub warmup: u64,
    /// The network profiles, in order.
    pub networks: Vec<String>,
    /// `--filter`.
    pub filter: Option<String>,
    /// Where the correlations came from (`--offline`): `dealer` (the default; what
    /// baselines are measured with) or `ot` (the parties by OT extension). Results
    /// written before the option existed were the dealer's.
    #[serde(default = "dealer")]
    pub offline: String,
    /// Compute threads of each party (`--threads`); results written before the option
    /// existed ran on one.
    #[serde(default = "one")]
    pub threads: u64,
    /// The calibration the scenarios' predictions were made with (`--calibration`, or
    /// the embedded one): its UTC date and CPU. Absent in results written before the
    /// option existed (the embedded calibration of their commit).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub calibration: Option<String>,
}

fn one() -> u64 {
    1
}

fn dealer() -> String {
    "dealer".into()
}

/// A scenario the run's offline source cannot serve: not run, with the reason.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct NotRun {
    /// `label@network`.
    pub id: String,
    /// Why.
    pub reason: String,
}

/// One scenario under one network profile.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScenarioResult {
    /// `label@network`, unique in a run.
    pub id: String,
    /// The family (`arith`, `gmw`, `yao`, `conv`, ...).
    pub family: String,
    /// The name within the family.
    pub name: String,
    /// The parameters (sizes).
    pub params: BTreeMap<String, String>,
    /// The network profile.
    pub network: String,
    /// Measured repetitions.
    pub reps: u64,
    /// Warm-up repetitions.
    pub warmup: u64,
    /// Online time of the later party, over the measured repetitions.
    pub online_ns: Spread,
    /// The part of the later party's online time it spent reading from the other
    /// party (waiting for its messages: its computation, the network's latency and
    /// bandwidth); the rest is its own work. Absent in results of older versions.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub online_waiting_ns: Option<Spread>,
    /// Offline (dealer) time of the later party.
    pub offline_ns: Spread,
    /// The exact counters (identical in every repetition).
    pub counters: Counters,
    /// The planner's prediction, where the scenario has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub predicted: Option<Prediction>,
}

/// Median and spread of a sample, in nanoseconds (quartiles by linear interpolation).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Spread {
    /// Median.
    pub median: u64,
    /// Minimum.
    pub min: u64,
    /// Maximum.
    pub max: u64,
    /// First quartile.
    pub q1: u64,
    /// Third quartile.
    pub q3: u64,
}

impl Spread {
    /// The spread of a non-empty sample of durations (all zero for an empty one).
    pub fn of(sample: impl IntoIterator<Item = Duration>) -> Spread {
        let mut v: Vec<u64> = sample
            .into_iter()
            .map(|d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
            .collect();
        v.sort_unstable();
        let q = |f: f64| -> u64 {
            if v.is_empty() {
                return 0;
            }
            let pos = f * (v.len() - 1) as f64;
            let (lo, hi) = (pos.floor() as usize, pos.ceil() as usize);
            let w = pos - lo as f64;
            (v[lo] as f64 * (1.0 - w) + v[hi] as f64 * w).round() as u64
        };
        Spread {
            median: q(0.5),
            min: v.first().copied().unwrap_or(0),
            max: v.last().copied().unwrap_or(0),
            q1: q(0.25),
            q3: q(0.75),
        }
    }
}

/// The exact counters of a scenario: what `--check` compares.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Counters {
    /// Party 0.
    pub party0: PartyCounters,
    /// Party 1.
    pub party1: PartyCounters,
    /// AND gates in the timed window (GMW or garbled), where they apply.
    pub and_gates: Option<u64>,
    /// Correlations each party took from its provider inside the timed window, in
    /// units per kind (measured at the provider; both parties take the same).
    pub correlations: BTreeMap<String, u64>,
    /// The whole demand the dealer produced for one repetition (untimed preparation
    /// included), in units per kind; all of it is consumed.
    pub dealt: BTreeMap<String, u64>,
    /// Bytes of corrections the dealer sends party 1.
    pub dealer_correction_bytes: u64,
}

/// One party's counters per phase.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PartyCounters {
    /// The peer channel's set-up phase.
    pub setup: PhaseMeter,
    /// The dealer channel's offline phase.
    pub offline: PhaseMeter,
    /// The peer channel's online phase inside the timed window.
    pub online: PhaseMeter,
}

impl Counters {
    /// Every counter by a dotted name (`party0.online.bytes_sent`, `and_gates`,
    /// `correlations.random_ots`, ...); `and_gates` is absent where it does not apply.
    pub fn flatten(&self) -> BTreeMap<String, u64> {
        let mut m = BTreeMap::new();
        for (p, c) in [("party0", &self.party0), ("party1", &self.party1)] {
            for (phase, pm) in [
                ("setup", &c.setup),
                ("offline", &c.offline),
                ("online", &c.online),
            ] {
                for (k, v) in [
                    ("bytes_sent", pm.bytes_sent),
                    ("bytes_received", pm.bytes_received),
                    ("messages_sent", pm.messages_sent),
                    ("messages_received", pm.messages_received),
                    ("rounds", pm.rounds),
                ] {
                    m.insert(format!("{p}.{phase}.{k}"), v);
                }
            }
        }
        if let Some(a) = self.and_gates {
            m.insert("and_gates".into(), a);
        }
        for (k, v) in &self.correlations {
            m.insert(format!("correlations.{k}"), *v);
        }
        for (k, v) in &self.dealt {
            m.insert(format!("dealt.{k}"), *v);
        }
        m.insert(
            "dealer_correction_bytes".into(),
            self.dealer_correction_bytes,
        );
        m
    }
}

impl Results {
    /// Pretty JSON.
    ///
    /// # Errors
    /// Never in practice (every field serialises).
    pub fn to_json(&self) -> Result<String> {
        serde_json::to_string_pretty(self).map_err(|e| BenchError::Usage(e.to_string()))
    }

    /// Parses a results file's text; `path` names it in errors.
    ///
    /// # Errors
    /// [`BenchError::Format`] if the text is not JSON of this schema.
    pub fn from_json(text: &str, path: &Path) -> Result<Results> {
        let bad = |detail: String| BenchError::Format {
            path: path.to_path_buf(),
            detail,
        };
        let v: serde_json::Value =
            serde_json::from_str(text).map_err(|e| bad(format!("not JSON: {e}")))?;
        match v.get("schema").and_then(|s| s.as_str()) {
            Some(SCHEMA) => {}
            Some(other) => {
                return Err(bad(format!(
                    "schema `{other}`; this version reads `{SCHEMA}`"
                )));
            }
            None => return Err(bad("no `schema` field: not a tessera bench file".into())),
        }
        serde_json::from_value(v).map_err(|e| bad(e.to_string()))
    }

    /// Reads a results or baseline file.
    ///
    /// # Errors
    /// If it cannot be read or parsed.
    pub fn read(path: &Path) -> Result<Results> {
        let text = std::fs::read_to_string(path).map_err(|source| BenchError::File {
            what: "reading",
            path: path.to_path_buf(),
            source,
        })?;
        Results::from_json(&text, path)
    }

    /// Writes the file (creating its directory), through a temporary file and a
    /// rename so that a reader never sees half of it.
    ///
    /// # Errors
    /// If it cannot be written.
    pub fn write(&self, path: &Path) -> Result<()> {
        write_atomic(path, self.to_json()? + "\n")
    }
}

/// Writes `text` to `path` via a temporary file in the same directory.
pub(crate) fn write_atomic(path: &Path, text: String) -> Result<()> {
    let err = |what, source| BenchError::File {
        what,
        path: path.to_path_buf(),
        source,
    };
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|e| err("creating the directory of", e))?;
    }
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    std::fs::write(&tmp, text).map_err(|e| err("writing", e))?;
    std::fs::rename(&tmp, path).map_err(|e| err("renaming into place", e))
}

/// The one-minute load average (`/proc/loadavg`), `None` where the system does not say.
pub fn load_average() -> Option<f64> {
    std::fs::read_to_string("/proc/loadavg")
        .ok()?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

impl Machine {
    /// This machine and build (fields that cannot be found cheaply are `None`).
    pub fn detect() -> Machine {
        let cpu_model = std::fs::read_to_string("/proc/cpuinfo").ok().and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split_once(':'))
                .map(|(_, v)| v.trim().to_string())
        });
        let git = |args: &[&str]| -> Option<String> {
            let out = std::process::Command::new("git").args(args).output().ok()?;
            out.status
                .success()
                .then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
        };
        let git_commit = git(&["rev-parse", "HEAD"]);
        let git_dirty = git_commit.as_ref().and_then(|_| {
            git(&["status", "--porcelain", "--untracked-files=no"]).map(|s| !s.is_empty())
        });
        Machine {
            cpu_model,
            cores: std::thread::available_parallelism().map_or(1, |n| n.get() as u64),
            os: std::env::consts::OS.to_string(),
            arch: std::env::consts::ARCH.to_string(),
            rustc: option_env!("TESSERA_BENCH_RUSTC").map(str::to_string),
            git_commit,
            git_dirty,
            build: if cfg!(debug_assertions) {
                "debug"
            } else {
                "release"
            }
            .to_string(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spread_of_a_sample() {
        let ms = |v: u64| Duration::from_millis(v);
        let s = Spread::of([5, 1, 4, 2, 3].map(ms));
        assert_eq!(s.median, 3_000_000);
        assert_eq!((s.min, s.max), (1_000_000, 5_000_000));
        assert_eq!((s.q1, s.q3), (2_000_000, 4_000_000));
        let s = Spread::of([1, 2].map(ms));
        assert_eq!(s.median, 1_500_000);
        assert_eq!(Spread::of([]).median, 0);
    }
}
