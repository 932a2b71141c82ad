//! `tessera bench`: the scenario benchmarks and the regression check. This module
//! only parses the flags; everything else is `tessera_bench_suite::bench`.

use std::path::PathBuf;
use std::time::Duration;

use clap::Args;
use tessera_bench_suite::{BenchOptions, Offline, parse_networks};

use crate::CliError;

/// Options of `tessera bench`.
#[derive(Args, Debug, Clone)]
pub struct BenchArgs {
    /// The quick subset: small sizes, `local` network only (unless --network is
    /// given); what CI checks.
    #[arg(long)]
    quick: bool,
    /// Only scenarios whose id (`family/name/params@network`) contains SUBSTR.
    #[arg(long, value_name = "SUBSTR")]
    filter: Option<String>,
    /// Measured repetitions per scenario [default: 3 with --quick, else 5].
    #[arg(long, value_name = "N")]
    reps: Option<usize>,
    /// Warm-up repetitions per scenario, not measured [default: 1].
    #[arg(long, value_name = "N")]
    warmup: Option<usize>,
    /// Network profiles, comma-separated: local, lan, wan, bw=<bits/s>,rtt=<ms>
    /// [default: local with --quick, else local,lan,wan].
    #[arg(long, value_name = "LIST")]
    network: Option<String>,
    /// Output folder of results.json, results.md and the SVG charts.
    #[arg(long, value_name = "DIR", default_value = "target/tessera-bench")]
    out: PathBuf,
    /// Compare with a baseline: exit non-zero on any difference in exact counters or
    /// a missing scenario; slower times only warn.
    #[arg(long, value_name = "BASELINE.json")]
    check: Option<PathBuf>,
    /// Write this run as the new baseline (deliberately; after any --check).
    #[arg(long, value_name = "BASELINE.json")]
    update_baseline: Option<PathBuf>,
    /// Relative slow-down of a median time above which --check warns.
    #[arg(long, value_name = "FRACTION", default_value_t = 0.5)]
    time_tolerance: f64,
    /// Time limit of one repetition, in seconds.
    #[arg(long, value_name = "SECONDS", default_value_t = 600)]
    timeout: u64,
    /// Run the model zoo (the literature's networks under every plan, batch 1, on the
    /// networks given; models/zoo) instead of the default matrix.
    #[arg(long, conflicts_with = "quick")]
    zoo: bool,
    /// A scenario whose predicted online + offline time per repetition exceeds this is
    /// priced by the planner, not run (the model and zoo scenarios carry predictions).
    #[arg(long, value_name = "SECONDS", default_value_t = tessera_bench_suite::DEFAULT_BUDGET_S as f64)]
    budget: f64,
    /// A calibration file from `tessera calibrate`: the model and zoo scenarios'
    /// predictions (and the time budget) use it [default: the embedded one].
    #[arg(long, value_name = "FILE")]
    calibration: Option<PathBuf>,
    /// Where the scenarios' correlations come from: `dealer` (a dealer task; what the
    /// baselines are measured with) or `ot` (the two parties by OT extension over
    /// their link; the offline time and counters are then that phase's). A scenario
    /// the OT source cannot serve is named and not run. --check compares only with a
    /// baseline of the same source.
    #[arg(long, value_name = "dealer|ot", default_value = "dealer")]
    offline: Offline,
    /// With --offline ot: the parties keep one OT pairing per scenario, made by an
    /// untimed repetition before the warm-up, so that every measured offline phase
    /// skips the base OTs (as parties that have met before do; see `tessera party
    /// --ot-pairing`). Results name the source `ot-paired`.
    #[arg(long)]
    ot_pairing: bool,
    /// Compute threads of each party (Yao chunks, GMW batches over 8,192, A-layer products);
    /// results and bytes do not depend on it [default: half the cores, as both parties run here].
    #[arg(long, value_name = "N", value_parser = crate::parse_threads, default_value_t = tessera_core::Threads::available_to_each_of_two(), hide_default_value = true)]
    threads: std::num::NonZeroUsize,
}

/// Runs `tessera bench`.
///
/// # Errors
/// Bad options, a failed scenario, unreadable baseline, unwritable output, or a
/// failed check.
pub async fn run(args: BenchArgs) -> Result<(), CliError> {
    let usage = |e: tessera_bench_suite::BenchError| CliError::Usage(e.to_string());
    eprintln!(
        "transport: {}",
        tessera_protocols::runtime::local::Transport::Tcp.describe()
    );
    eprintln!(
        "offline phase: {}",
        match args.offline {
            Offline::Dealer => "from a dealer task in this process",
            Offline::Ot if args.ot_pairing => {
                "made by the two parties with OT extension (no dealer), base OTs once per \
                 scenario (--ot-pairing: an untimed repetition pairs the parties first)"
            }
            Offline::Ot => "made by the two parties with OT extension (no dealer)",
        }
    );
    if args.ot_pairing && args.offline != Offline::Ot {
        return Err(CliError::Usage(
            "--ot-pairing keeps the base OTs of --offline ot: give it with --offline ot".into(),
        ));
    }
    if !(args.time_tolerance >= 0.0 && args.time_tolerance.is_finite()) {
        return Err(CliError::Usage(
            "--time-tolerance must be a non-negative number".into(),
        ));
    }
    if !(args.budget >= 0.0 && args.budget.is_finite()) {
        return Err(CliError::Usage(
            "--budget must be a non-negative number of seconds".into(),
        ));
    }
    let calibration = args
        .calibration
        .as_deref()
        .map(tessera_planner::Calibration::load)
        .transpose()
        .map_err(|e| CliError::Usage(e.to_string()))?;
    let networks = args
        .network
        .as_deref()
        .map(parse_networks)
        .transpose()
        .map_err(usage)?;
    let opts = BenchOptions {
        quick: args.quick,
        filter: args.filter,
        reps: args.reps,
        warmup: args.warmup,
        networks,
        out: args.out,
        check: args.check,
        update_baseline: args.update_baseline,
        time_tolerance: args.time_tolerance,
        timeout: Duration::from_secs(args.timeout),
        budget: Duration::from_secs_f64(args.budget),
        context: tessera_bench_suite::FamilyContext {
            zoo: args.zoo,
            calibration,
            ..Default::default()
        },
        offline: args.offline,
        ot_pairing: args.ot_pairing,
        threads: args.threads,
        ..BenchOptions::default()
    };
    let outcome = tessera_bench_suite::bench(&opts)
        .await
        .map_err(|e| CliError::Task(e.to_string()))?;
    print!("{}", outcome.summary());
    if outcome.passed() {
        Ok(())
    } else {
        Err(CliError::Check(
            "the exact counters differ from the baseline (see above)".into(),
        ))
    }
}
