//! `tessera plan` and `tessera calibrate`: the planner's commands.
//!
//! - `tessera calibrate [--out FILE] [--quick]` measures the time model's
//!   coefficients on this machine ([`tessera_bench_suite::calibrate`]).
//! - `tessera plan --model M [--network ...] [--objective online|total|bytes]
//!   [--batch N] [--queries N] [--json] [--calibration FILE] [--out PLAN.json]` prints
//!   the optimal plan (with the set-up paid once per session and each query's cost for
//!   `--queries` queries after one set-up) and the predicted cost of `auto` and of
//!   every baseline; `--plan PLAN.json`
//!   re-validates and re-prices an edited plan instead.

use std::path::PathBuf;

use clap::Args;
use serde::Serialize;
use sha2::{Digest, Sha256};
use tessera_bench_suite::calibrate;
use tessera_core::{FixedPoint, NetworkProfile, Z64};
use tessera_models::{FixedModel, assets, load_onnx_with};
use tessera_planner::assign::{Planner, Strategy};
use tessera_planner::engine::ModelChain;
use tessera_planner::plan::{Meta, ModelRef, Plan, Summary, compare};
use tessera_planner::{Calibration, Objective, Output, TimeModel};
use tessera_protocols::ot::pairing::SetUp;
use tessera_protocols::runtime::local::Offline;

use crate::{CliError, parse_profile};

fn planner_err(e: tessera_planner::Error) -> CliError {
    CliError::Usage(e.to_string())
}

/// Options of `tessera calibrate`.
#[derive(Args, Debug, Clone)]
pub struct CalibrateArgs {
    /// Write the calibration here (default: print it).
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Fewer sizes and repetitions (about a second instead of fifteen).
    #[arg(long)]
    pub quick: bool,
}

/// Runs `tessera calibrate`.
///
/// # Errors
/// Measurement failures; an unwritable output file.
pub async fn calibrate(args: CalibrateArgs) -> Result<(), CliError> {
    let mut progress = |what: &str| eprintln!("calibrate: {what}");
    let cal = calibrate::measure(calibrate::Options { quick: args.quick }, &mut progress)
        .await
        .map_err(planner_err)?;
    let json = cal.to_json().map_err(planner_err)?;
    let c = &cal.compute;
    let t = &cal.transport;
    eprintln!(
        "calibrate: {:.1} s, load {:.2} → {:.2}\n  GMW AND {:.3} ns, Yao garble {:.3} ns / evaluate {:.3} ns per AND, \
         MAC {:.3} ns, ring op {:.3} ns, OT {:.3} ns, label {:.3} ns\n  message {:.2} µs, byte {:.3} ns one way, {:.3} ns exchanged",
        cal.duration_s,
        cal.machine.load[0],
        cal.machine.load[1],
        c.gmw_and * 1e9,
        c.yao_garble_and * 1e9,
        c.yao_eval_and * 1e9,
        c.mac * 1e9,
        c.ring_op * 1e9,
        c.ot * 1e9,
        c.label * 1e9,
        t.message * 1e6,
        t.byte * 1e9,
        t.exchange_byte * 1e9
    );
    match args.out {
        Some(path) => std::fs::write(&path, json + "\n")
            .map_err(|e| CliError::Usage(format!("cannot write {}: {e}", path.display())))?,
        None => print(&(json + "\n"))?,
    }
    Ok(())
}

/// Options of `tessera plan`.
#[derive(Args, Debug, Clone)]
pub struct PlanArgs {
    /// The model: an ONNX file, or `mlp` / `cnn` for the embedded reference models.
    #[arg(long)]
    pub model: String,
    /// Network profile: local, lan, wan or bw=<bits/s>,rtt=<ms>.
    #[arg(long, default_value = "lan", value_parser = parse_profile)]
    pub network: NetworkProfile,
    /// What to minimise: online (predicted online time), total (offline + online) or
    /// bytes (online bytes).
    #[arg(long, default_value = "online")]
    pub objective: Objective,
    /// The offline source the plan's offline time (and the `total` objective) prices:
    /// `dealer` or `ot` (the parties alone, by OT extension). The comparison shows both.
    #[arg(long, default_value = "dealer")]
    pub offline: Offline,
    /// Price the OT source's set-up as parties that kept a pairing from an earlier
    /// session do (`tessera party --ot-pairing FILE`): no base OTs, one flight of
    /// hellos. The "offline OT" column is then that.
    #[arg(long)]
    pub ot_paired: bool,
    /// Inferences per run.
    #[arg(long, default_value_t = 1)]
    pub batch: usize,
    /// Queries of `--batch` answered after one set-up of the model: the plan shows the
    /// set-up paid once, each query's cost, and the set-up's share of each query.
    #[arg(long, default_value_t = 1)]
    pub queries: usize,
    /// Give the client the scores (logits) instead of the label only.
    #[arg(long)]
    pub logits: bool,
    /// Fractional bits of the fixed-point encoding (ring Z_2^64).
    #[arg(long, default_value_t = 16)]
    pub frac_bits: u32,
    /// What an ONNX `Sigmoid` computes: `logistic` or `secureml`.
    #[arg(long, default_value = "logistic", value_parser = crate::parse_sigmoid)]
    pub sigmoid: tessera_models::SigmoidKind,
    /// A calibration file from `tessera calibrate` (default: the embedded one).
    #[arg(long)]
    pub calibration: Option<PathBuf>,
    /// The strategy written to `--out` and shown in detail: auto or a baseline.
    #[arg(long, default_value = "auto")]
    pub strategy: Strategy,
    /// Re-validate and re-price this (possibly edited) plan file instead of planning.
    #[arg(long, conflicts_with = "strategy")]
    pub plan: Option<PathBuf>,
    /// Write the plan (JSON) here.
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Also write the plan's assignment in the engine's format, which `tessera infer
    /// --plan FILE` runs.
    #[arg(long)]
    pub assignment: Option<PathBuf>,
    /// Print one JSON object instead of tables.
    #[arg(long)]
    pub json: bool,
}

/// One row of the comparison.
#[derive(Debug, Serialize)]
struct Row {
    strategy: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    predicted: Option<Summary>,
    #[serde(skip_serializing_if = "Option::is_none")]
    not_applicable: Option<String>,
}

#[derive(Debug, Serialize)]
struct Report {
    plan: Plan,
    strategies: Vec<Row>,
    /// The strategy with the least predicted offline + online time under each source.
    fastest_total: Fastest,
}

/// The strategy with the least predicted offline + online time with a dealer and
/// without one (`None`: no strategy can run under that source).
#[derive(Debug, Serialize)]
struct Fastest {
    dealer: Option<(String, f64)>,
    ot: Option<(String, f64)>,
}

fn fastest(rows: &[Row]) -> Fastest {
    let best = |f: &dyn Fn(&Summary) -> Option<f64>| {
        rows.iter()
            .filter_map(|r| {
                let s = r.predicted.as_ref()?;
                if s.over_limit.is_some() {
                    return None;
                }
                Some((r.strategy.clone(), s.online_ms + f(s)?))
            })
            .min_by(|a, b| a.1.total_cmp(&b.1))
    };
    Fastest {
        dealer: best(&|s| Some(s.offline_by_source.dealer)),
        ot: best(&|s| s.offline_by_source.ot),
    }
}

/// The ONNX bytes of `spec` (an embedded name or a path) and a display name.
fn model_bytes(spec: &str) -> Result<(Vec<u8>, String), CliError> {
    if let Some(b) = assets::model_bytes(spec) {
        return Ok((b.to_vec(), spec.to_string()));
    }
    let bytes = std::fs::read(spec).map_err(|e| CliError::Usage(format!("{spec}: {e}")))?;
    let name = std::path::Path::new(spec)
        .file_stem()
        .map_or_else(|| spec.to_string(), |s| s.to_string_lossy().into_owned());
    Ok((bytes, name))
}

/// Runs `tessera plan`.
///
/// # Errors
/// Unreadable model, calibration or plan; a plan that does not fit the model; the
/// engine's errors.
pub async fn run(args: PlanArgs) -> Result<(), CliError> {
    let (bytes, name) = model_bytes(&args.model)?;
    let sha256 = hex::encode(Sha256::digest(&bytes));
    let opts = tessera_models::OnnxOptions {
        sigmoid: args.sigmoid,
        ..Default::default()
    };
    let model = load_onnx_with(&bytes, &opts)
        .map(|(m, _)| m)
        .map_err(|e| CliError::Usage(format!("{}: {e}", args.model)))?;
    let fm = FixedModel::<Z64>::new(&model, FixedPoint::new(args.frac_bits))
        .map_err(|e| CliError::Usage(e.to_string()))?;
    let cal = match &args.calibration {
        Some(p) => Calibration::load(p),
        None => Calibration::default_embedded(),
    }
    .map_err(planner_err)?;
    let chain = ModelChain::new(&fm).map_err(planner_err)?;
    let output = if args.logits {
        Output::Logits
    } else {
        Output::Label
    };
    let tm = TimeModel::new(&cal, args.network).with_ot_set_up(if args.ot_paired {
        SetUp::Paired
    } else {
        SetUp::Fresh
    });
    let planner = Planner::new(
        &chain,
        tm.with_source(args.offline).map_err(planner_err)?,
        args.objective,
        args.batch,
        output,
    )
    .map_err(planner_err)?;
    let meta = Meta {
        model: ModelRef {
            name,
            sha256: sha256.clone(),
            layers: fm.layers().len(),
        },
        ring: "Z64".into(),
        frac_bits: args.frac_bits,
        network: args.network,
    };
    // An edited plan is checked before anything is priced.
    let edited = match &args.plan {
        Some(path) => {
            let edited = Plan::load(path).map_err(planner_err)?;
            Some(edited.assignment(&planner, &sha256).map_err(planner_err)?)
        }
        None => None,
    };
    if args.queries == 0 {
        return Err(CliError::Usage("--queries must be at least 1".into()));
    }
    let results = compare(&planner);
    let (plan, assignment) = match edited {
        Some(a) => {
            let steps = planner.steps(&a).map_err(planner_err)?;
            (
                Plan::new(&planner, &meta, &cal, "edited", &a, &steps)
                    .and_then(|p| p.serving(&planner, &steps, args.queries))
                    .map_err(planner_err)?,
                a,
            )
        }
        None => {
            let chosen = results
                .iter()
                .find(|(s, _)| *s == args.strategy)
                .map(|(_, r)| r);
            match chosen {
                Some(Ok((sol, _))) => (
                    Plan::new(
                        &planner,
                        &meta,
                        &cal,
                        args.strategy.name(),
                        &sol.assignment,
                        &sol.steps,
                    )
                    .and_then(|p| p.serving(&planner, &sol.steps, args.queries))
                    .map_err(planner_err)?,
                    sol.assignment.clone(),
                ),
                Some(Err(e)) => return Err(CliError::Usage(e.to_string())),
                None => return Err(CliError::Usage("no such strategy".into())),
            }
        }
    };
    if let Some(out) = &args.out {
        let json = plan.to_json().map_err(planner_err)?;
        std::fs::write(out, json + "\n")
            .map_err(|e| CliError::Usage(format!("cannot write {}: {e}", out.display())))?;
    }
    if let Some(out) = &args.assignment {
        let json = serde_json::to_string_pretty(&assignment)
            .map_err(|e| CliError::Usage(format!("cannot serialise: {e}")))?;
        std::fs::write(out, json + "\n")
            .map_err(|e| CliError::Usage(format!("cannot write {}: {e}", out.display())))?;
    }
    let rows: Vec<Row> = results
        .into_iter()
        .map(|(st, r)| match r {
            Ok((_, sum)) => Row {
                strategy: st.name().to_string(),
                predicted: Some(sum),
                not_applicable: None,
            },
            Err(e) => Row {
                strategy: st.name().to_string(),
                predicted: None,
                not_applicable: Some(e.to_string()),
            },
        })
        .collect();
    let fastest_total = fastest(&rows);
    if args.json {
        let report = Report {
            plan,
            strategies: rows,
            fastest_total,
        };
        let s = serde_json::to_string_pretty(&report)
            .map_err(|e| CliError::Usage(format!("cannot serialise: {e}")))?;
        return print(&(s + "\n"));
    }
    let mut text = plan.table();
    text.push_str(&format!(
        "\npredicted cost by strategy ({} batch {}, {}, calibration {} on {}):\n",
        meta.model.name, args.batch, args.network, cal.date, cal.machine.cpu
    ));
    text.push_str(&format!(
        "  {:<8} {:>12} {:>14} {:>14} {:>14} {:>7}  sharings (layers|head)\n",
        "strategy",
        "online ms",
        "offline dealer",
        if args.ot_paired {
            "offline OT paired"
        } else {
            "offline OT"
        },
        "bytes",
        "rounds"
    ));
    for r in &rows {
        match (&r.predicted, &r.not_applicable) {
            (Some(s), _) => {
                let ot = s
                    .offline_by_source
                    .ot
                    .map_or_else(|| "-".to_string(), |t| format!("{t:.3}"));
                text.push_str(&format!(
                    "  {:<8} {:>12.3} {:>14.3} {:>14} {:>14} {:>7}  {}\n",
                    r.strategy,
                    s.online_ms,
                    s.offline_by_source.dealer,
                    ot,
                    s.bytes,
                    s.rounds,
                    s.sharings
                ));
                if let Some(why) = &s.over_limit {
                    text.push_str(&format!("  {:<8} (the engine refuses it: {why})\n", ""));
                }
            }
            (None, Some(why)) => text.push_str(&format!("  {:<8} {why}\n", r.strategy)),
            (None, None) => {}
        }
    }
    let line = |what: &str, f: &Option<(String, f64)>| match f {
        Some((st, t)) => format!("  {what}: {st} ({t:.3} ms offline + online)\n"),
        None => format!("  {what}: none of the strategies can run\n"),
    };
    text.push_str("fastest in total (predicted offline + online):\n");
    text.push_str(&line("with a dealer", &fastest_total.dealer));
    text.push_str(&line("without a dealer (OT extension)", &fastest_total.ot));
    if let Some(out) = &args.out {
        text.push_str(&format!("\nplan written to {}\n", out.display()));
    }
    print(&text)
}

/// Writes to standard output; a closed pipe (`| head`) ends the output quietly.
fn print(text: &str) -> Result<(), CliError> {
    use std::io::Write;
    match std::io::stdout().lock().write_all(text.as_bytes()) {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => {
            Err(CliError::Usage(format!("cannot write the output: {e}")))
        }
        _ => Ok(()),
    }
}
