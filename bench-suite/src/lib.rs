//! # tessera-bench-suite
//!
//! Benchmarks of Tessera: the criterion and custom micro-benchmarks in `benches/`
//! (`cargo bench -p tessera-bench-suite`), the calibration measurements behind
//! `tessera calibrate` ([`calibrate`]: the coefficients of the planner's time model,
//! measured on this machine), and the scenario harness behind `tessera bench` with
//! the regression check that CI runs.
//!
//! # The harness
//! [`bench()`] selects scenarios (a family × sizes matrix, see [`families`]), runs each
//! under every requested network profile with warm-up and repetitions — the dealer
//! and both parties in this process over TCP loopback, see [`runner`] — and writes
//! `results.json` ([`results`], schema-versioned, with machine information),
//! `results.md` and SVG charts ([`report`]). With a baseline it compares the exact
//! counters and fails on any difference ([`check`]).
//!
//! Every scenario records, per repetition, the later party's online time (the
//! workload's timed window) and offline time (dealer generation, transfer and store
//! expansion), and once — they are checked to be identical in every repetition — the
//! exact counters per phase and party, the AND gates and the correlations consumed.
//! Each repetition also checks the result against the plaintext computation and
//! that every dealt correlation was consumed.
//!
//! # Adding a scenario family
//! A family is one function returning its scenarios, registered by one line in
//! [`families::FAMILIES`]:
//!
//! 1. Implement [`Workload`] for a type describing one job: its
//!    [`demand`](Workload::demand) (what the dealer must produce), fresh
//!    [`inputs`](Workload::inputs) per repetition, the [`party`](Workload::party)
//!    code both parties run on an [`ArithParty`](tessera_protocols::ArithParty)
//!    (channel to the peer + correlation provider; GMW, Yao and the conversions run
//!    on it through `parts_mut`), calling [`Stopwatch::start`] and
//!    [`Stopwatch::stop`] around the measured part, and a
//!    [`verify`](Workload::verify) against plaintext.
//! 2. Write `fn my_family(ctx: &FamilyContext) -> Result<Vec<Scenario>>` that builds
//!    `Scenario::new("my-family", "name", work).param("size", n).quick(small)` for
//!    each size, marking the small ones for `--quick`.
//! 3. Add `("my-family", my_family)` to [`families::FAMILIES`], then run
//!    `tessera bench --quick --update-baseline bench-suite/baseline/quick.json` if
//!    any scenario is quick, and commit the baseline with the reason.
//!
//! Secure-inference scenarios (a model, an input batch and a plan) fit the same
//! shape: the demand is the model's, the window is the inference, and `verify`
//! compares with the fixed-point plaintext reference.
#![deny(missing_docs)]

pub mod calibrate;
pub mod check;
pub mod error;
pub mod families;
pub mod report;
pub mod results;
pub mod runner;
pub mod scenario;

use std::num::NonZeroUsize;
use std::path::PathBuf;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use tessera_core::{Channel, ChannelConfig, NetworkProfile};
use tessera_protocols::runtime;

pub use check::{CheckReport, Difference, compare};
pub use error::{BenchError, Result};
pub use families::{FAMILIES, Family, FamilyContext};
pub use results::{
    Counters, Machine, NotRun, PartyCounters, PredictedOnly, Prediction, Results, ScenarioResult,
    Settings, Spread,
};
pub use runner::{RunSettings, ot_refuses, run_scenario, run_scenario_from};
pub use scenario::{Scenario, Stopwatch, Workload};
pub use tessera_protocols::runtime::local::Offline;

/// The default time budget of a scenario with a prediction (seconds, predicted online +
/// offline time of one repetition): above it the scenario is priced, not run.
pub const DEFAULT_BUDGET_S: u64 = 60;

/// Two channel ends connected over TCP loopback (127.0.0.1, an ephemeral port).
///
/// # Errors
/// If binding, connecting or accepting fails.
pub async fn tcp_pair(config: ChannelConfig) -> tessera_core::Result<(Channel, Channel)> {
    runtime::local::pair(runtime::local::Transport::Tcp, config).await
}

/// Options of [`bench()`] (the flags of `tessera bench`).
#[derive(Clone, Debug)]
pub struct BenchOptions {
    /// The quick subset (small sizes; `local` only unless `networks` is given).
    pub quick: bool,
    /// Only scenarios whose id (`family/name/params@network`) contains this.
    pub filter: Option<String>,
    /// Measured repetitions (default 3 quick, 5 otherwise).
    pub reps: Option<usize>,
    /// Warm-up repetitions (default 1).
    pub warmup: Option<usize>,
    /// Network profiles (default `local` quick, `local, lan, wan` otherwise).
    pub networks: Option<Vec<NetworkProfile>>,
    /// Output folder of `results.json`, `results.md` and the charts.
    pub out: PathBuf,
    /// Compare with this baseline; the outcome fails on any counter difference.
    pub check: Option<PathBuf>,
    /// Write the run as the new baseline here (after any check).
    pub update_baseline: Option<PathBuf>,
    /// Relative slow-down of a median above which the check warns (0.5 = 50 %).
    pub time_tolerance: f64,
    /// Time limit of one repetition.
    pub timeout: Duration,
    /// A scenario with a prediction whose predicted online + offline time exceeds this
    /// is priced, not run (listed in `predicted_only`).
    pub budget: Duration,
    /// Draw a progress bar on stderr (when it is a terminal; one line per scenario
    /// otherwise).
    pub progress: bool,
    /// Where families find their data.
    pub context: FamilyContext,
    /// Where the correlations come from: the dealer (default; the baselines') or the
    /// parties by OT extension. A scenario the source cannot serve is not run (listed
    /// in `not_run`, named on stderr).
    pub offline: Offline,
    /// With [`Offline::Ot`]: the parties keep one OT pairing per scenario (made by an
    /// untimed repetition before the warm-up), so every measured offline phase skips
    /// the base OTs ([`tessera_protocols::ot::pairing`]).
    pub ot_pairing: bool,
    /// Compute threads of each party (1 by default; `tessera bench` defaults to every
    /// core). Exact counters do not depend on it.
    pub threads: NonZeroUsize,
}

impl Default for BenchOptions {
    fn default() -> Self {
        BenchOptions {
            quick: false,
            filter: None,
            reps: None,
            warmup: None,
            networks: None,
            out: PathBuf::from("target/tessera-bench"),
            check: None,
            update_baseline: None,
            time_tolerance: 0.5,
            timeout: Duration::from_secs(600),
            budget: Duration::from_secs(DEFAULT_BUDGET_S),
            progress: true,
            context: FamilyContext::default(),
            offline: Offline::Dealer,
            ot_pairing: false,
            threads: NonZeroUsize::MIN,
        }
    }
}

/// Parses `local,lan,wan` (a custom `bw=<bits/s>,rtt=<ms>` profile is one entry: its
/// `rtt=` part is joined to the `bw=` before it).
///
/// # Errors
/// [`BenchError::Usage`] naming a profile that does not parse.
pub fn parse_networks(s: &str) -> Result<Vec<NetworkProfile>> {
    let mut entries: Vec<String> = Vec::new();
    for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        match entries.last_mut() {
            Some(prev) if part.starts_with("rtt=") && prev.starts_with("bw=") => {
                prev.push(',');
                prev.push_str(part);
            }
            _ => entries.push(part.to_string()),
        }
    }
    if entries.is_empty() {
        return Err(BenchError::Usage("--network: no profile given".into()));
    }
    entries
        .iter()
        .map(|e| {
            e.parse::<NetworkProfile>()
                .map_err(|err| BenchError::Usage(format!("--network `{e}`: {err}")))
        })
        .collect()
}

/// What [`bench()`] did.
#[derive(Debug)]
pub struct BenchOutcome {
    /// The results (also in `results.json`).
    pub results: Results,
    /// Files written.
    pub files: Vec<PathBuf>,
    /// The check against the baseline, if one was asked for.
    pub check: Option<CheckReport>,
}

impl BenchOutcome {
    /// Whether the run passes (no check, or a check without failure).
    pub fn passed(&self) -> bool {
        self.check.as_ref().is_none_or(CheckReport::passed)
    }

    /// A plain-text summary: files written and the check's report.
    pub fn summary(&self) -> String {
        let mut s = format!(
            "{} scenario runs, offline phase from the {}\n",
            self.results.scenarios.len(),
            match self.results.settings.offline.as_str() {
                "ot" => "parties by OT extension (--offline ot)",
                "ot-paired" => "parties by OT extension, base OTs once per scenario (--ot-pairing)",
                _ => "dealer",
            }
        );
        for n in &self.results.not_run {
            s.push_str(&format!(
                "not run with --offline ot: {}: {}\n",
                n.id, n.reason
            ));
        }
        for f in &self.files {
            s.push_str(&format!("wrote {}\n", f.display()));
        }
        if let Some(c) = &self.check {
            s.push_str(&c.to_string());
            s.push('\n');
        }
        s
    }
}

/// The scenarios `opts` selects, with the networks to run each under.
///
/// # Errors
/// If a family cannot build its scenarios, or nothing matches.
pub fn select(opts: &BenchOptions) -> Result<(Vec<Scenario>, Vec<NetworkProfile>)> {
    let networks = opts.networks.clone().unwrap_or_else(|| {
        if opts.quick {
            vec![NetworkProfile::LOCAL]
        } else if opts.context.zoo {
            vec![NetworkProfile::LAN, NetworkProfile::WAN]
        } else {
            vec![
                NetworkProfile::LOCAL,
                NetworkProfile::LAN,
                NetworkProfile::WAN,
            ]
        }
    });
    let all = families::all(&opts.context)?;
    let matches = |sc: &Scenario| {
        let f = opts.filter.as_deref().unwrap_or("");
        networks.iter().any(|n| {
            let n = n.to_string();
            sc.runs_on(&n) && format!("{}@{n}", sc.label()).contains(f)
        })
    };
    let chosen: Vec<Scenario> = all
        .into_iter()
        .filter(|s| !opts.context.zoo || s.family() == "zoo")
        .filter(|s| (!opts.quick || s.is_quick()) && matches(s))
        .collect();
    if chosen.is_empty() {
        return Err(BenchError::Usage(format!(
            "no scenario matches{}{}",
            if opts.quick {
                " in the quick subset"
            } else {
                ""
            },
            opts.filter
                .as_ref()
                .map_or(String::new(), |f| format!(" the filter `{f}`"))
        )));
    }
    Ok((chosen, networks))
}

/// The (scenario, network) pairs to run — those the scenario runs on whose id contains
/// `filter` — and, apart, those of them whose predicted online + offline time exceeds
/// `budget`: priced, not run.
pub fn split_jobs<'s>(
    scenarios: &'s [Scenario],
    networks: &[NetworkProfile],
    filter: &str,
    budget: Duration,
) -> (Vec<(&'s Scenario, NetworkProfile)>, Vec<PredictedOnly>) {
    let budget_ns = u64::try_from(budget.as_nanos()).unwrap_or(u64::MAX);
    let mut predicted_only = Vec::new();
    let mut run = Vec::new();
    for n in networks {
        let net = n.to_string();
        for s in scenarios {
            if !s.runs_on(&net) || !format!("{}@{net}", s.label()).contains(filter) {
                continue;
            }
            match s.prediction(&net) {
                Some(p) if p.online_ns.saturating_add(p.offline_ns) > budget_ns => {
                    predicted_only.push(PredictedOnly {
                        id: format!("{}@{net}", s.label()),
                        family: s.family().to_string(),
                        name: s.name().to_string(),
                        params: s.params().clone(),
                        network: net.clone(),
                        budget_ns,
                        predicted: p.clone(),
                    });
                }
                _ => run.push((s, *n)),
            }
        }
    }
    (run, predicted_only)
}

/// The offline source as results name it: `dealer`, `ot`, or `ot-paired` (OT with
/// one pairing per scenario).
fn source_name(opts: &BenchOptions) -> String {
    match (opts.offline, opts.ot_pairing) {
        (Offline::Ot, true) => "ot-paired".to_string(),
        (o, _) => o.name().to_string(),
    }
}

/// Runs the selected scenarios and returns the results (no file is written).
///
/// # Errors
/// As [`select`] and [`run_scenario`].
pub async fn run(opts: &BenchOptions) -> Result<Results> {
    let (scenarios, networks) = select(opts)?;
    let reps = opts.reps.unwrap_or(if opts.quick { 3 } else { 5 }).max(1);
    let warmup = opts.warmup.unwrap_or(1);
    let filter = opts.filter.clone().unwrap_or_default();
    let (jobs, predicted_only) = split_jobs(&scenarios, &networks, &filter, opts.budget);
    // Scenarios the offline source cannot serve: named, not run (never silently run
    // with another source).
    let mut not_run = Vec::new();
    let mut runnable = Vec::with_capacity(jobs.len());
    for (sc, net) in jobs {
        let refused = match opts.offline {
            Offline::Dealer => None,
            Offline::Ot => ot_refuses(&sc.work.demand()?),
        };
        match refused {
            Some(reason) => {
                let id = format!("{}@{net}", sc.label());
                eprintln!("{id}: not run with --offline ot: {reason}");
                not_run.push(NotRun { id, reason });
            }
            None => runnable.push((sc, net)),
        }
    }
    let jobs = runnable;
    if jobs.is_empty() && !not_run.is_empty() {
        return Err(BenchError::Usage(format!(
            "no selected scenario can run with --offline {}",
            opts.offline.name()
        )));
    }
    for p in &predicted_only {
        let line = format!(
            "{}: predicted online {}, offline {} — over the budget of {}: priced, not run",
            p.id,
            report::fmt_ns(p.predicted.online_ns),
            report::fmt_ns(p.predicted.offline_ns),
            report::fmt_ns(p.budget_ns)
        );
        if opts.progress {
            eprintln!("{line}");
        }
    }
    let pb = if opts.progress {
        ProgressBar::with_draw_target(
            Some((jobs.len() * (reps + warmup)) as u64),
            ProgressDrawTarget::stderr(),
        )
    } else {
        ProgressBar::hidden()
    };
    if let Ok(style) =
        ProgressStyle::with_template("{elapsed_precise} [{bar:30}] {pos}/{len} reps  {msg}")
    {
        pb.set_style(style.progress_chars("=> "));
    }
    let log_lines = opts.progress && pb.is_hidden();
    let mut out = Vec::with_capacity(jobs.len());
    for (i, (sc, net)) in jobs.iter().enumerate() {
        let id = format!("{}@{net}", sc.label());
        pb.set_message(id.clone());
        let settings = RunSettings {
            profile: *net,
            reps,
            warmup,
            timeout: opts.timeout,
            threads: opts.threads,
            ot_pairing: opts.ot_pairing && opts.offline == Offline::Ot,
        };
        let bar = pb.clone();
        let mut tick = move || bar.inc(1);
        let r = run_scenario_from(sc, &net.to_string(), settings, opts.offline, &mut tick).await?;
        let waiting = r.online_waiting_ns.map_or_else(String::new, |w| {
            format!(" ({} of it waiting for the peer)", report::fmt_ns(w.median))
        });
        let line = format!(
            "[{}/{}] {id}: online {}{waiting} (min {}, max {}), offline {}",
            i + 1,
            jobs.len(),
            report::fmt_ns(r.online_ns.median),
            report::fmt_ns(r.online_ns.min),
            report::fmt_ns(r.online_ns.max),
            report::fmt_ns(r.offline_ns.median)
        );
        if log_lines {
            eprintln!("{line}");
        } else {
            pb.println(line);
        }
        out.push(r);
    }
    pb.finish_and_clear();
    let predicted_any = !predicted_only.is_empty() || out.iter().any(|r| r.predicted.is_some());
    Ok(Results {
        schema: results::SCHEMA.to_string(),
        created_unix: SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs()),
        machine: Machine::detect(),
        settings: Settings {
            quick: opts.quick,
            reps: reps as u64,
            warmup: warmup as u64,
            networks: networks.iter().map(ToString::to_string).collect(),
            filter: opts.filter.clone(),
            offline: source_name(opts),
            threads: opts.threads.get() as u64,
            calibration: predicted_any.then(|| {
                let which = if opts.context.calibration.is_some() {
                    "--calibration"
                } else {
                    "embedded"
                };
                opts.context.calibration().map_or_else(
                    |e| format!("{which}: {e}"),
                    |c| format!("{which}, taken {} on {}", c.date, c.machine.cpu),
                )
            }),
        },
        scenarios: out,
        predicted_only,
        not_run,
    })
}

/// `tessera bench`: runs, writes `results.json`, `results.md` and the charts into
/// `opts.out`, checks against `opts.check`, and writes `opts.update_baseline`.
/// A failed check is in the outcome ([`BenchOutcome::passed`]), not an error.
///
/// # Errors
/// As [`run`]; a baseline that cannot be read; a file that cannot be written.
pub async fn bench(opts: &BenchOptions) -> Result<BenchOutcome> {
    // Read the baseline first: a missing or malformed one fails before the run.
    let baseline = opts.check.as_ref().map(|p| Results::read(p)).transpose()?;
    // The exact counters of the offline phase depend on the source: compare like with
    // like.
    if let (Some(b), Some(p)) = (&baseline, &opts.check)
        && b.settings.offline != source_name(opts)
    {
        return Err(BenchError::Usage(format!(
            "--check {}: the baseline was measured with --offline {}, this run uses --offline \
             {}: their offline counters differ by design",
            p.display(),
            b.settings.offline,
            source_name(opts)
        )));
    }
    let results = run(opts).await?;
    let json = opts.out.join("results.json");
    results.write(&json)?;
    let mut files = vec![json];
    files.extend(report::write_human(&results, &opts.out)?);
    let check = baseline.map(|b| compare(&b, &results, opts.time_tolerance));
    if let Some(path) = &opts.update_baseline {
        results.write(path)?;
        files.push(path.clone());
    }
    Ok(BenchOutcome {
        results,
        files,
        check,
    })
}
