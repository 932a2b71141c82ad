//! `tessera infer-shared`: secure inference with a model kept secret-shared by
//! `tessera train --keep-shared PREFIX` — each party holding only its share file, the
//! client (party 1) the test digits and, alone, their labels. The dealer and both
//! parties run in this process (a deployment runs each party with its own file:
//! `tessera party ... shared-model`). Since this process has both files, it also
//! reconstructs the model to check the labels against the plaintext fixed-point
//! reference; the secure run never does.

use std::path::PathBuf;

use clap::Args;
use serde::Serialize;
use tessera_core::{NetworkProfile, Z64};
use tessera_engine::train::shared::{ModelShare, Query, SharedInference};
use tessera_engine::train::{TrainPlan, TrainProgram, encode_examples, plain};
use tessera_engine::{online_rounds, total_price};
use tessera_models::assets;
use tessera_models::data::MNIST10K_TEST;
use tessera_planner::{Calibration, TimeModel};
use tessera_protocols::runtime::local::Offline;

use crate::train::{accuracy, over_tcp, pixels, share_path};
use crate::{CliError, parse_profile};

type R = Z64;

/// Options of `tessera infer-shared`.
#[derive(Args, Debug)]
pub struct InferSharedArgs {
    /// The model's share files: `PREFIX.party0.share` and `PREFIX.party1.share`, as
    /// `tessera train --keep-shared PREFIX` writes them.
    #[arg(long, value_name = "PREFIX")]
    pub shares: PathBuf,
    /// Test digits classified (the first ones of the 2,000).
    #[arg(long, default_value_t = 2000)]
    pub examples: usize,
    /// Digits per batch (one pass of the program; a last partial batch is padded).
    #[arg(long, default_value_t = 500)]
    pub batch: usize,
    /// `auto` (each comparison and the argmax in the sharing the calibrated time
    /// model prices lower), `a+b` or `a+y`.
    #[arg(long, default_value = "auto")]
    pub plan: String,
    /// The network between the parties.
    #[arg(long, default_value = "local", value_parser = parse_profile)]
    pub network: NetworkProfile,
    /// Where the correlations come from: `dealer` or `ot`.
    #[arg(long, default_value = "dealer")]
    pub offline: Offline,
    /// Deadline of the whole secure run, in seconds.
    #[arg(long, default_value_t = 600)]
    pub timeout: u64,
    /// Print one JSON object instead of text.
    #[arg(long)]
    pub json: bool,
}

#[derive(Serialize)]
struct Report {
    model: String,
    dims: Vec<usize>,
    plan: String,
    network: String,
    offline: &'static str,
    examples: usize,
    batch: usize,
    /// The client's labels against the digits' true labels.
    accuracy: f64,
    /// Labels equal to the plaintext fixed-point reference's (of the reconstructed
    /// model).
    reference_agreement: usize,
    predicted_online_s: f64,
    predicted_bytes_sent: [u64; 2],
    predicted_rounds: u64,
    offline_s: f64,
    offline_bytes: [u64; 2],
    online_s: f64,
    bytes_sent: [u64; 2],
    rounds: u64,
    /// The client's labels, digit by digit.
    labels: Vec<usize>,
}

/// Runs `tessera infer-shared`.
///
/// # Errors
/// Unreadable or mismatched share files, usage errors, session errors.
pub async fn run(args: InferSharedArgs) -> Result<(), CliError> {
    if args.examples == 0 || args.examples > MNIST10K_TEST.len() {
        return Err(CliError::Usage(format!(
            "--examples {}: between 1 and {}",
            args.examples,
            MNIST10K_TEST.len()
        )));
    }
    if args.batch == 0 {
        return Err(CliError::Usage("--batch must be at least 1".into()));
    }
    let files = [0, 1].map(|p| share_path(&args.shares, p));
    let [s0, s1] = [ModelShare::read(&files[0])?, ModelShare::read(&files[1])?];
    for (want, s, path) in [(0, &s0, &files[0]), (1, &s1, &files[1])] {
        if s.party != want {
            return Err(CliError::Usage(format!(
                "{} holds party {}'s share, not party {want}'s",
                path.display(),
                s.party
            )));
        }
    }
    // Both shares of one model (the secure run checks it at each party too).
    let params = ModelShare::reconstruct(&s0, &s1)?;
    let spec = s0.spec.clone();
    let m = assets::mnist()?;
    if m.rows() * m.cols() != spec.inputs() || spec.classes() != 10 {
        return Err(CliError::Usage(format!(
            "the model maps {} inputs to {} classes; MNIST digits have {} pixels and 10 classes",
            spec.inputs(),
            spec.classes(),
            m.rows() * m.cols()
        )));
    }
    let digits = MNIST10K_TEST.start..MNIST10K_TEST.start + args.examples;
    let labels = m.labels(digits.clone())?.to_vec();
    let (x, _) = encode_examples(&spec, &pixels(&m, digits)?, &labels)?;

    let cal = Calibration::default_embedded()?;
    let tm = TimeModel::new(&cal, args.network).with_source(args.offline)?;
    let batch = args.batch.min(args.examples);
    let plan = match args.plan.as_str() {
        "auto" => tessera_planner::train::best_inference_plan(&tm, &spec, batch)?,
        name => TrainPlan::named(&spec, name)?,
    };
    let model = s0.model;
    let job = SharedInference::new(&spec, model, &plan, batch, args.examples)?;
    let steps = job.steps()?;
    let price = total_price(&steps);

    // The reference: the same program in the clear on the reconstructed model.
    let prog = TrainProgram::inference(&spec, &plan, batch)?;
    let head = spec.head_model()?;
    let mut padded = x.clone();
    padded.resize(job.batches() * batch * spec.inputs(), R::default());
    let mut reference = Vec::with_capacity(padded.len());
    for chunk in padded.chunks(batch * spec.inputs()) {
        reference.extend(plain::labels(&prog, &head, &params, chunk)?.0);
    }

    if !args.json {
        eprintln!(
            "classifying {} digits with the shared model {} {:?} (batch {batch}, plan {}, \
             network {}, offline {}); predicted: {:.2} s online, {:.1} MB each way, {} rounds",
            args.examples,
            hex::encode(s0.model),
            spec.dims,
            plan.name(),
            args.network,
            args.offline.name(),
            tm.online(&steps),
            price.bytes_sent[0] as f64 / 1e6,
            online_rounds(&steps)
        );
    }
    let queries = [
        Query {
            share: s0,
            x: vec![R::default(); x.len()],
        },
        Query { share: s1, x },
    ];
    let run = over_tcp(job, queries, args.network, args.offline, args.timeout).await?;
    let [p0, p1] = &run.parties;
    let got = p1
        .output
        .labels
        .clone()
        .ok_or_else(|| CliError::Task("the client received no labels".into()))?;
    let online = tessera_engine::session::joint_span(p0.output.span, p1.output.span);
    let report = Report {
        model: hex::encode(model),
        dims: spec.dims.clone(),
        plan: plan.name(),
        network: args.network.to_string(),
        offline: args.offline.name(),
        examples: args.examples,
        batch,
        accuracy: accuracy(&got, &labels),
        reference_agreement: got.iter().zip(&reference).filter(|(a, b)| a == b).count(),
        predicted_online_s: tm.online(&steps),
        predicted_bytes_sent: price.bytes_sent,
        predicted_rounds: online_rounds(&steps),
        offline_s: p0.offline.max(p1.offline).as_secs_f64(),
        offline_bytes: [
            p0.peer.offline.bytes_sent + p0.source.offline.bytes_received,
            p1.peer.offline.bytes_sent + p1.source.offline.bytes_received,
        ],
        online_s: online.as_secs_f64(),
        bytes_sent: [
            p0.output.peer.online.bytes_sent,
            p1.output.peer.online.bytes_sent,
        ],
        rounds: p0.output.peer.online.rounds,
        labels: got,
    };
    if args.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&report).map_err(|e| CliError::Usage(e.to_string()))?
        );
        return Ok(());
    }
    println!(
        "accuracy {:.2} % on {} test digits ({} of {} labels equal the fixed-point reference's)",
        100.0 * report.accuracy,
        report.examples,
        report.reference_agreement,
        report.examples
    );
    println!(
        "offline ({}): {:.2} s; online: {:.2} s, {:.1} MB each way, {} rounds",
        report.offline,
        report.offline_s,
        report.online_s,
        report.bytes_sent[0] as f64 / 1e6,
        report.rounds
    );
    Ok(())
}
