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
use tessera_core::{FixedPoint, NetworkProfile, Phase, Z64};
use tessera_engine::{Output, RunOptions};
use tessera_models::{FixedModel, assets};
use tessera_planner::assign::Planner;
use tessera_planner::engine::ModelChain;
use tessera_planner::{Calibration, Objective, TimeModel, plan};

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
    /// Plans predicted to take longer online than this (seconds) are priced, not run.
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
}

/// One plan under one network: prediction and, if it ran, measurement.
#[derive(Clone, Debug, Serialize)]
struct Row {
    network: String,
    plan: String,
    /// One letter per layer, then `|` and the argmax's sharing.
    sharings: String,
    predicted_online_ms: f64,
    predicted_offline_ms: f64,
    predicted_bytes: u64,
    predicted_rounds: u64,
    /// Why it did not run (not applicable, over a limit, over the budget).
    skipped: Option<String>,
    measured: Option<Measured>,
}

#[derive(Clone, Debug, Serialize)]
struct Measured {
    online_ms: f64,
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
    rows: Vec<Row>,
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
    s.push_str("| network | plan | sharings | online predicted | online measured | error | offline | bytes | rounds | accuracy | labels = reference |\n|---|---|---|---|---|---|---|---|---|---|---|\n");
    for row in &r.rows {
        match &row.measured {
            Some(m) => s.push_str(&format!(
                "| {} | {} | `{}` | {} | {} | {:+.0} % | {} | {} | {} | {:.1} % | {} |\n",
                row.network,
                row.plan,
                row.sharings,
                ms(row.predicted_online_ms),
                ms(m.online_ms),
                100.0 * m.online_error,
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
            None => s.push_str(&format!(
                "| {} | {} | `{}` | {} | not run: {} | | {} | {} | {} | | |\n",
                row.network,
                row.plan,
                row.sharings,
                ms(row.predicted_online_ms),
                row.skipped.as_deref().unwrap_or(""),
                ms(row.predicted_offline_ms),
                mb(row.predicted_bytes),
                row.predicted_rounds
            )),
        }
    }
    s.push_str("\nPredicted: the planner's time model (calibrated compute, network profile, exact bytes and rounds). Measured: dealer and both parties over TCP loopback shaped to the profile, one batch of all digits.\n");
    s
}

fn charts(r: &Report) -> Vec<(String, String)> {
    let mut time = Vec::new();
    let mut bytes = Vec::new();
    for row in &r.rows {
        let label = format!("{} @ {}", row.plan, row.network);
        let (t, b, note) = match &row.measured {
            Some(m) => ((m.online_ms * 1e6) as u64, m.bytes, "measured"),
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
                        predicted_bytes: 0,
                        predicted_rounds: 0,
                        skipped: Some(e.to_string()),
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
                predicted_offline_ms: sum.offline_ms,
                predicted_bytes: sum.bytes,
                predicted_rounds: sum.rounds,
                skipped: None,
                measured: None,
            };
            if let Some(why) = &sum.over_limit {
                row.skipped = Some(why.clone());
            } else if sum.online_ms > args.budget * 1e3 {
                row.skipped = Some(format!(
                    "predicted online time above the {} s budget (--budget)",
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
                let received = run_sessions_received(
                    &fm,
                    &sol.assignment,
                    &x,
                    args.count,
                    batch,
                    net,
                    Duration::from_secs(args.timeout),
                    RunOptions::default(),
                    None,
                )
                .await?;
                let (labels, m) = (received.labels, received.totals);
                if let Some(pb) = pb {
                    pb.finish_and_clear();
                }
                let online_ms = m.online_s * 1e3;
                let equal = labels == reference;
                if !equal {
                    mismatches.push(format!("{} under {net}", strategy.name()));
                }
                let on = |p: usize| m.peer[p].phase(Phase::Online);
                row.measured = Some(Measured {
                    online_ms,
                    offline_ms: m.offline_s * 1e3,
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
    let report = Report {
        model: args.model.clone(),
        digits: args.count,
        float_accuracy: accuracy(&float, &truth),
        reference_accuracy: accuracy(&reference, &truth),
        calibration: args
            .calibration
            .as_ref()
            .map_or_else(|| "embedded default".into(), |p| p.display().to_string()),
        rows,
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
