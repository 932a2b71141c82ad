//! `tessera demo`: the main job, on embedded defaults. The Chameleon/CryptoNets CNN and
//! the first MNIST test digits: for each network profile (`lan`, `wan`) the planner
//! chooses `auto` and prices every baseline; every plan the engine can run within the
//! time budget then runs for real — dealer and both parties over TCP loopback, the
//! links shaped to the profile — its labels checked against the plaintext fixed-point
//! reference. Prints the comparison (predicted and measured online time, offline time,
//! bytes, rounds, accuracy) and writes a report folder: `report.json`, `report.md` and
//! SVG charts of time and bytes per plan and network.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use clap::Args;
use serde::Serialize;
use tessera_bench_suite::report::{Bar, bar_chart, tick_bytes, tick_ns};
use tessera_bench_suite::results::load_average;
use tessera_core::{FixedPoint, NetworkProfile, Phase, Z64};
use tessera_engine::{Output, RunOptions};
use tessera_models::{FixedModel, assets};
use tessera_planner::assign::Planner;
use tessera_planner::engine::ModelChain;
use tessera_planner::{Calibration, Objective, TimeModel, plan};
use tessera_protocols::runtime::local::Offline;

use crate::infer::{accuracy, load_inputs_for, run_sessions_received};
use crate::{CliError, parse_profile};

type R = Z64;

/// Options of `tessera demo`.
#[derive(Args, Debug, Clone)]
pub struct DemoArgs {
    /// The embedded model: `cnn` or `mlp`.
    #[arg(long, default_value = "cnn")]
    model: String,
    /// MNIST test digits, run as one batch per plan and network.
    #[arg(long, default_value_t = 10)]
    count: usize,
    /// Network profiles, comma-separated (local, lan, wan, bw=<bits/s>,rtt=<ms>).
    #[arg(long, default_value = "lan,wan", value_delimiter = ',', value_parser = parse_profile)]
    networks: Vec<NetworkProfile>,
    /// Compute threads of each party (Yao chunks, GMW batches over 8,192, A-layer products);
    /// results and bytes do not depend on it [default: half the cores, as both parties run here].
    #[arg(long, value_name = "N", value_parser = crate::parse_threads, default_value_t = tessera_core::Threads::available_to_each_of_two(), hide_default_value = true)]
    threads: std::num::NonZeroUsize,
    /// Plans predicted to take longer than this (seconds; online, plus the offline
    /// phase with `--offline ot`) are priced, not run.
    #[arg(long, default_value_t = 30.0)]
    budget: f64,
    /// The report folder.
    #[arg(long, default_value = "tessera-report")]
    out: PathBuf,
    /// A calibration file (default: the embedded one).
    #[arg(long)]
    calibration: Option<PathBuf>,
    /// Print one JSON object instead of the table.
    #[arg(long)]
    json: bool,
    /// Per-message timeout in seconds.
    #[arg(long, default_value_t = 60)]
    timeout: u64,
    /// Where the runs' correlations come from: `dealer` (a dealer task) or `ot` (the
    /// two parties alone, by OT extension). Both are predicted either way.
    #[arg(long, default_value = "dealer")]
    offline: Offline,
    /// Runs of each plan and network; the report gives the medians (one run is
    /// itself ±10 % on a noisy machine) and every run's online time.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=100))]
    reps: u32,
}

/// One plan under one network: prediction and, if it ran, measurement.
#[derive(Clone, Debug, Serialize)]
struct Row {
    network: String,
    plan: String,
    /// One letter per layer, then `|` and the argmax's sharing.
    sharings: String,
    predicted_online_ms: f64,
    /// Predicted offline time with the dealer.
    predicted_offline_ms: f64,
    /// Predicted offline time without a dealer, by OT extension (`None`: the OT source
    /// cannot make this plan's demand).
    predicted_offline_ot_ms: Option<f64>,
    predicted_bytes: u64,
    predicted_rounds: u64,
    /// Why it did not run (not applicable, over a limit, over the budget).
    skipped: Option<String>,
    /// Whether the engine would run it at all (applicable, within its limits).
    #[serde(skip)]
    runnable: bool,
    measured: Option<Measured>,
}

#[derive(Clone, Debug, Serialize)]
struct Measured {
    /// The median of the runs' online times.
    online_ms: f64,
    /// Each run's online time, in order (`--reps`).
    online_ms_runs: Vec<f64>,
    /// With the run's offline source (the report's `offline`); the median.
    offline_ms: f64,
    bytes: u64,
    rounds: u64,
    accuracy: f64,
    labels_equal_reference: bool,
    /// (measured − predicted) / measured, online.
    online_error: f64,
}

#[derive(Serialize)]
struct Report {
    model: String,
    digits: usize,
    float_accuracy: f64,
    reference_accuracy: f64,
    calibration: String,
    /// The offline source of the runs: `dealer` or `ot`.
    offline: String,
    /// Runs of each plan; measured times are their medians.
    reps: u32,
    /// Logical cores of this machine.
    cores: usize,
    /// One-minute load average before the first run and after the last (`None` where
    /// the system does not say): predictions assume the cores are free, so a loaded
    /// machine measures slower than predicted.
    load: [Option<f64>; 2],
    rows: Vec<Row>,
    /// Per network, the plan with the least predicted offline + online time with a
    /// dealer and without one.
    fastest_total: Vec<Fastest>,
}

#[derive(Serialize)]
struct Fastest {
    network: String,
    dealer: Option<(String, f64)>,
    ot: Option<(String, f64)>,
}

fn fastest(network: &str, rows: &[Row]) -> Fastest {
    let best = |f: &dyn Fn(&Row) -> Option<f64>| {
        rows.iter()
            .filter(|r| r.network == network && r.runnable)
            .filter_map(|r| Some((r.plan.clone(), r.predicted_online_ms + f(r)?)))
            .min_by(|a, b| a.1.total_cmp(&b.1))
    };
    Fastest {
        network: network.to_string(),
        dealer: best(&|r| Some(r.predicted_offline_ms)),
        ot: best(&|r| r.predicted_offline_ot_ms),
    }
}

/// The median of a non-empty list (the mean of the middle two for an even length).
fn median(v: &[f64]) -> f64 {
    let mut s = v.to_vec();
    s.sort_by(f64::total_cmp);
    match s.len() {
        0 => f64::NAN,
        n if n % 2 == 1 => s[n / 2],
        n => (s[n / 2 - 1] + s[n / 2]) / 2.0,
    }
}

fn opt_ms(v: Option<f64>) -> String {
    v.map_or_else(|| "-".into(), ms)
}

/// A refusal's first clause, short enough for a chart label.
fn first_clause(why: &str) -> String {
    let head = why.split([':', ';', '(']).next().unwrap_or(why).trim();
    if head.chars().count() > 60 {
        format!("{}…", head.chars().take(59).collect::<String>())
    } else {
        head.to_string()
    }
}

fn mb(b: u64) -> String {
    format!("{:.2} MB", b as f64 / 1e6)
}

fn ms(v: f64) -> String {
    if v >= 1000.0 {
        format!("{:.2} s", v / 1e3)
    } else {
        format!("{v:.1} ms")
    }
}

fn markdown(r: &Report) -> String {
    let mut s = format!(
        "# Tessera demo: {} on {} MNIST test digits\n\nFloat accuracy {:.1} %, fixed-point reference {:.1} %. Calibration: {}.\n\n",
        r.model, r.digits, r.float_accuracy, r.reference_accuracy, r.calibration
    );
    s.push_str(&format!("| network | plan | sharings | online predicted | online measured | error | offline dealer predicted | offline OT predicted | offline measured ({}) | bytes | rounds | accuracy | labels = reference |\n|---|---|---|---|---|---|---|---|---|---|---|---|---|\n", r.offline));
    for row in &r.rows {
        match &row.measured {
            Some(m) => s.push_str(&format!(
                "| {} | {} | `{}` | {} | {} | {:+.0} % | {} | {} | {} | {} | {} | {:.1} % | {} |\n",
                row.network,
                row.plan,
                row.sharings,
                ms(row.predicted_online_ms),
                ms(m.online_ms),
                100.0 * m.online_error,
                ms(row.predicted_offline_ms),
                opt_ms(row.predicted_offline_ot_ms),
                ms(m.offline_ms),
                mb(m.bytes),
                m.rounds,
                m.accuracy,
                if m.labels_equal_reference {
                    "yes"
                } else {
                    "NO"
                }
            )),
            None if row.sharings.is_empty() => s.push_str(&format!(
                "| {} | {} | | | refused: {} | | | | | | | | |\n",
                row.network,
                row.plan,
                row.skipped.as_deref().unwrap_or("no plan"),
            )),
            None => s.push_str(&format!(
                "| {} | {} | `{}` | {} | not run: {} | | {} | {} | | {} | {} | | |\n",
                row.network,
                row.plan,
                row.sharings,
                ms(row.predicted_online_ms),
                row.skipped.as_deref().unwrap_or(""),
                ms(row.predicted_offline_ms),
                opt_ms(row.predicted_offline_ot_ms),
                mb(row.predicted_bytes),
                row.predicted_rounds
            )),
        }
    }
    s.push_str("\nFastest plan in total (offline + online), predicted:\n\n| network | with a dealer | without a dealer (OT extension) |\n|---|---|---|\n");
    let cell = |f: &Option<(String, f64)>| {
        f.as_ref().map_or_else(
            || "none can run".into(),
            |(p, t)| format!("{p} ({})", ms(*t)),
        )
    };
    for f in &r.fastest_total {
        s.push_str(&format!(
            "| {} | {} | {} |\n",
            f.network,
            cell(&f.dealer),
            cell(&f.ot)
        ));
    }
    let load = |l: Option<f64>| l.map_or_else(|| "unknown".into(), |l| format!("{l:.2}"));
    s.push_str(&format!(
        "\nMachine: {} cores, load average {} before the runs and {} after (predictions assume idle cores: under load, measured times run above them).\n",
        r.cores,
        load(r.load[0]),
        load(r.load[1])
    ));
    s.push_str(&format!("\nPredicted: the planner's time model (calibrated compute, network profile, exact bytes and rounds; the offline phase under both sources). Measured: {} and both parties over TCP loopback shaped to the profile, one batch of all digits{}.\n", if r.offline == "ot" { "no dealer (OT extension between the parties)" } else { "dealer" }, if r.reps > 1 { format!(", the median of {} runs per plan", r.reps) } else { String::new() }));
    s
}

fn charts(r: &Report) -> Vec<(String, String)> {
    let mut time = Vec::new();
    let mut bytes = Vec::new();
    for row in &r.rows {
        let label = format!("{} @ {}", row.plan, row.network);
        let (t, b, note) = match &row.measured {
            Some(m) => ((m.online_ms * 1e6) as u64, m.bytes, "measured"),
            None if row.sharings.is_empty() => {
                // No plan at all: a bar of zero would read as free.
                let why = row.skipped.as_deref().unwrap_or("no plan");
                let text = format!("refused: {}", first_clause(why));
                time.push(Bar {
                    label: label.clone(),
                    value: 0,
                    range: None,
                    text: text.clone(),
                });
                bytes.push(Bar {
                    label,
                    value: 0,
                    range: None,
                    text,
                });
                continue;
            }
            None => (
                (row.predicted_online_ms * 1e6) as u64,
                row.predicted_bytes,
                "predicted, not run",
            ),
        };
        time.push(Bar {
            label: label.clone(),
            value: t,
            range: None,
            text: format!("{} ({note})", ms(t as f64 / 1e6)),
        });
        bytes.push(Bar {
            label,
            value: b,
            range: None,
            text: format!("{} ({note})", mb(b)),
        });
    }
    vec![
        (
            "time.svg".into(),
            bar_chart(
                &format!("{}: online time per plan and network", r.model),
                &time,
                tick_ns,
            ),
        ),
        (
            "bytes.svg".into(),
            bar_chart(
                &format!("{}: online bytes per plan and network", r.model),
                &bytes,
                tick_bytes,
            ),
        ),
    ]
}

/// Runs `tessera demo`.
///
/// # Errors
/// Planner or protocol failures, a report that cannot be written, or a secure label
/// that differs from the plaintext reference.
pub async fn run(args: DemoArgs) -> Result<(), CliError> {
    let started = Instant::now();
    eprintln!(
        "transport: {}",
        tessera_protocols::runtime::local::Transport::Tcp.describe()
    );
    if args.count == 0 {
        return Err(CliError::Usage("--count must be at least 1".into()));
    }
    let model = assets::model(&args.model)?;
    let fm = FixedModel::<R>::new(&model, FixedPoint::new(16))?;
    let (xf, truth) = load_inputs_for(None, Some("mnist"), args.count, &model)?;
    let truth = truth.unwrap_or_default();
    let x = fm.encode_input(&xf)?;
    let reference = fm.run(&x)?.labels();
    let float = model.run_float::<f32>(&xf)?.labels();
    let cal = match &args.calibration {
        Some(p) => Calibration::load(p)?,
        None => Calibration::default_embedded()?,
    };
    let chain = ModelChain::new(&fm)?;
    let batch = args.count;
    let mut rows = Vec::new();
    let mut mismatches = Vec::new();
    let load_before = load_average();
    for &net in &args.networks {
        let planner = Planner::new(
            &chain,
            TimeModel::new(&cal, net),
            Objective::Online,
            batch,
            Output::Label,
        )?;
        if !args.json {
            eprintln!("planning {} for {net}…", args.model);
        }
        for (strategy, r) in plan::compare(&planner) {
            let (sol, sum) = match r {
                Ok(v) => v,
                Err(e) => {
                    rows.push(Row {
                        network: net.to_string(),
                        plan: strategy.name().into(),
                        sharings: String::new(),
                        predicted_online_ms: 0.0,
                        predicted_offline_ms: 0.0,
                        predicted_offline_ot_ms: None,
                        predicted_bytes: 0,
                        predicted_rounds: 0,
                        skipped: Some(e.to_string()),
                        runnable: false,
                        measured: None,
                    });
                    continue;
                }
            };
            let mut row = Row {
                network: net.to_string(),
                plan: strategy.name().into(),
                sharings: sum.sharings.clone(),
                predicted_online_ms: sum.online_ms,
                predicted_offline_ms: sum.offline_by_source.dealer,
                predicted_offline_ot_ms: sum.offline_by_source.ot,
                predicted_bytes: sum.bytes,
                predicted_rounds: sum.rounds,
                skipped: None,
                runnable: sum.over_limit.is_none(),
                measured: None,
            };
            // The run's predicted time against the budget: online, and without a
            // dealer the offline phase too (there it dominates: seconds to minutes).
            let offline = match args.offline {
                Offline::Dealer => Some(0.0),
                Offline::Ot => sum.offline_by_source.ot,
            };
            if let Some(why) = &sum.over_limit {
                row.skipped = Some(why.clone());
            } else if offline.is_none() {
                row.skipped =
                    Some("the OT source cannot make this plan's correlations".to_string());
            } else if sum.online_ms + offline.unwrap_or(0.0) > args.budget * 1e3 {
                row.skipped = Some(format!(
                    "predicted {} time above the {} s budget (--budget)",
                    match args.offline {
                        Offline::Dealer => "online",
                        Offline::Ot => "online + offline",
                    },
                    args.budget
                ));
            } else {
                let pb = (!args.json).then(|| {
                    let pb = indicatif::ProgressBar::new_spinner();
                    pb.set_message(format!(
                        "{} under {net}: running (predicted {})",
                        strategy.name(),
                        ms(sum.online_ms)
                    ));
                    pb.enable_steady_tick(Duration::from_millis(120));
                    pb
                });
                let (mut online_runs, mut offline_runs) = (Vec::new(), Vec::new());
                let mut last = None;
                let mut equal = true;
                for _ in 0..args.reps {
                    let received = run_sessions_received(
                        &fm,
                        &sol.assignment,
                        &x,
                        args.count,
                        batch,
                        1,
                        net,
                        args.threads,
                        Duration::from_secs(args.timeout),
                        RunOptions {
                            offline: args.offline,
                            ..RunOptions::default()
                        },
                        None,
                    )
                    .await?;
                    equal &= received.labels == reference;
                    online_runs.push(received.totals.online_s * 1e3);
                    offline_runs.push(received.totals.offline_s * 1e3);
                    last = Some(received);
                }
                if let Some(pb) = pb {
                    pb.finish_and_clear();
                }
                let Some(received) = last else {
                    return Err(CliError::Usage("--reps must be at least 1".into()));
                };
                let (labels, m) = (received.labels, received.totals);
                let online_ms = median(&online_runs);
                if !equal {
                    mismatches.push(format!("{} under {net}", strategy.name()));
                }
                let on = |p: usize| m.peer[p].phase(Phase::Online);
                row.measured = Some(Measured {
                    online_ms,
                    online_ms_runs: online_runs,
                    offline_ms: median(&offline_runs),
                    bytes: on(0).bytes_sent + on(1).bytes_sent,
                    rounds: on(0).rounds.max(on(1).rounds),
                    accuracy: accuracy(&labels, &truth),
                    labels_equal_reference: equal,
                    online_error: (online_ms - sum.online_ms) / online_ms.max(1e-9),
                });
            }
            rows.push(row);
        }
    }
    let fastest_total = args
        .networks
        .iter()
        .map(|n| fastest(&n.to_string(), &rows))
        .collect();
    let report = Report {
        model: args.model.clone(),
        digits: args.count,
        float_accuracy: accuracy(&float, &truth),
        reference_accuracy: accuracy(&reference, &truth),
        calibration: args
            .calibration
            .as_ref()
            .map_or_else(|| "embedded default".into(), |p| p.display().to_string()),
        offline: args.offline.name().to_string(),
        reps: args.reps,
        cores: tessera_core::Threads::available().get(),
        load: [load_before, load_average()],
        rows,
        fastest_total,
    };
    std::fs::create_dir_all(&args.out)
        .map_err(|e| CliError::Usage(format!("cannot create {}: {e}", args.out.display())))?;
    let json = serde_json::to_string_pretty(&report)
        .map_err(|e| CliError::Task(format!("serialising the report: {e}")))?;
    let md = markdown(&report);
    let mut files = vec![
        ("report.json".to_string(), json.clone()),
        ("report.md".to_string(), md.clone()),
    ];
    files.extend(charts(&report));
    for (name, text) in &files {
        let p = args.out.join(name);
        std::fs::write(&p, text)
            .map_err(|e| CliError::Usage(format!("cannot write {}: {e}", p.display())))?;
    }
    if args.json {
        println!("{json}");
    } else {
        println!("{md}");
        println!(
            "report: {}/{{report.json, report.md, time.svg, bytes.svg}} ({:.1} s)",
            args.out.display(),
            started.elapsed().as_secs_f64()
        );
    }
    if !mismatches.is_empty() {
        return Err(CliError::Check(format!(
            "secure labels differ from the plaintext reference under {}",
            mismatches.join(", ")
        )));
    }
    Ok(())
}
