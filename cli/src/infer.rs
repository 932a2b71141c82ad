//! `tessera infer`: secure inference of an ONNX model on MNIST digits or an `.npy`
//! input — the dealer and both parties in this process over TCP loopback (party 0
//! holds the weights, party 1 the input and receives the labels of the model's first
//! output, or its values with `--logits`, and the values of every further output) —
//! checked against the plaintext fixed-point reference, with exact metering. The
//! outputs received are printed under their graph names, put in the JSON report and
//! optionally written to `.npy` files as [`OutputTensor`]s ([`output_paths`]).

use std::path::PathBuf;
use std::time::Duration;

use clap::Args;
use serde::Serialize;
use tessera_core::{ChannelConfig, FixedPoint, Metering, NetworkProfile, Phase, Z64};
use tessera_engine::session::{ServingRun, query_latencies, serve_loopback};
use tessera_engine::{
    Assignment, Baseline, Output, RunOptions, ServingCost, StepCost, assignment_steps,
};
use tessera_models::{FixedModel, Model, NpyF32, OnnxOptions, SigmoidKind, SoftmaxKind, assets};
use tessera_planner::assign::{Planner, Strategy};
use tessera_planner::engine::ModelChain;
use tessera_planner::plan::Plan;
use tessera_planner::{Calibration, Objective, TimeModel};
use tessera_protocols::runtime::SPILL_CORRECTIONS_BYTES;
use tessera_protocols::runtime::local::{Offline, Transport};

use crate::outputs::{OutputCheck, OutputTensor};
use crate::{CliError, parse_profile, parse_sigmoid};

type R = Z64;

/// Options of `tessera infer`.
#[derive(Args, Debug, Clone)]
pub struct InferArgs {
    /// The model: an ONNX file, or `mlp` / `cnn` for the embedded reference models.
    #[arg(long, default_value = "cnn")]
    pub model: String,
    /// A float32 `.npy` input with the model's input shape (a leading batch dimension
    /// allowed).
    #[arg(long, conflicts_with = "dataset")]
    pub input: Option<PathBuf>,
    /// A dataset: `mnist` (the embedded 2,000 test digits).
    #[arg(long)]
    pub dataset: Option<String>,
    /// How many test digits (from the first).
    #[arg(long, default_value_t = 100)]
    pub count: usize,
    /// The plan: `auto`, a baseline (`pure-b`, `pure-y`, `a+y`, `a+b`, `pure-a`) or a
    /// plan JSON file.
    #[arg(long, default_value = "a+b")]
    pub plan: String,
    /// Network profile: local, lan, wan or bw=<bits/s>,rtt=<ms>.
    #[arg(long, default_value = "local", value_parser = parse_profile)]
    pub network: NetworkProfile,
    /// Compute threads of each party (Yao chunks, GMW batches over 8,192, A-layer products);
    /// results and bytes do not depend on it [default: half the cores, as both parties run here].
    #[arg(long, value_name = "N", value_parser = crate::parse_threads, default_value_t = tessera_core::Threads::available_to_each_of_two(), hide_default_value = true)]
    pub threads: std::num::NonZeroUsize,
    /// Examples per query (the batch each protocol step is vectorised over). A run
    /// sets the model up once and answers its queries one after another on it.
    #[arg(long, default_value_t = 100)]
    pub batch: usize,
    /// Queries answered per set-up of the model (one session: one offline phase, one
    /// set-up). Default: all of them, or as many as keep the correlations dealt ahead
    /// of the first query within 1 GiB (party 1's corrections; with `--offline ot` the
    /// correlations both parties hold).
    #[arg(long, value_name = "N")]
    pub queries_per_setup: Option<usize>,
    /// Give the client the values of the model's first output (the scores, logits)
    /// instead of its label only; they are printed, decoded from fixed point, and
    /// compared with the reference's. A model's further outputs are received either way.
    #[arg(long)]
    pub logits: bool,
    /// Write the outputs to `.npy` files (float32, shape `[count, …]`): FILE.npy for a
    /// model with one output; for several, one file per output, `FILE.<name>.npy`
    /// (the output's graph name, sanitised).
    #[arg(long, requires = "logits", value_name = "FILE.npy")]
    pub output: Option<PathBuf>,
    /// Fractional bits of the fixed-point encoding (ring Z_2^64).
    #[arg(long, default_value_t = 16)]
    pub frac_bits: u32,
    /// What an ONNX `Sigmoid` computes: `logistic` (1/(1+e^-x), a spline in fixed
    /// point) or `secureml` (SecureML's piecewise-linear clamp(x + 1/2, 0, 1)).
    #[arg(long, default_value = "logistic", value_parser = parse_sigmoid)]
    pub sigmoid: SigmoidKind,
    /// Per-message timeout in seconds (a silent peer fails the run after this).
    #[arg(long, default_value_t = 60)]
    pub timeout: u64,
    /// The most bytes of garbled tables one Yao step may stream, a bound on time the
    /// user may set (default: no limit; tables are streamed, memory stays bounded).
    #[arg(long, default_value_t = RunOptions::default().max_table_bytes)]
    pub max_table_bytes: u64,
    /// One party's memory bound in bytes for a layer stage evaluated in GMW (default
    /// 1 GiB): a stage whose state is larger runs in chunks of instances one after
    /// another — more rounds, priced — so memory stays within it whatever the batch.
    #[arg(long, value_name = "BYTES")]
    pub working_set: Option<u64>,
    /// Where the correlations come from: `dealer` (a dealer task in this process) or
    /// `ot` (the two parties alone, by OT extension over their link).
    #[arg(long, default_value = "dealer")]
    pub offline: Offline,
    /// Print one JSON object instead of text.
    #[arg(long)]
    pub json: bool,
}

/// Loads a model by embedded name or path; an ONNX `Sigmoid` becomes `sigmoid`. A
/// `Softmax` ending the first output is the head (computed as the argmax) when the
/// client receives the label, and a softmax layer when it receives the values
/// (`logits`): what the graph outputs.
pub fn load_model(spec: &str, sigmoid: SigmoidKind, logits: bool) -> Result<Model, CliError> {
    if assets::model_bytes(spec).is_some() {
        return Ok(assets::model(spec)?);
    }
    let softmax = if logits {
        SoftmaxKind::Layer
    } else {
        SoftmaxKind::Head
    };
    Ok(tessera_models::load_onnx_file_with(
        spec,
        &OnnxOptions { sigmoid, softmax },
    )?)
}

/// Resolves a plan to an assignment: a baseline name, `auto` (the planner's optimal
/// assignment for `network` and `batch`, with the embedded calibration), a plan file
/// written by `tessera plan --out` (checked against the model's SHA-256 and layers),
/// or an assignment JSON (`tessera plan --assignment`).
///
/// # Errors
/// An unknown name, an unreadable or invalid file, a plan for another model.
pub fn resolve_plan(
    spec: &str,
    model_spec: &str,
    fm: &FixedModel<R>,
    output: Output,
    batch: usize,
    network: NetworkProfile,
) -> Result<Assignment, CliError> {
    if let Some(b) = Baseline::from_name(spec) {
        return Ok(b.assignment(fm, output)?);
    }
    let planner_for = |f: &dyn Fn(&Planner<'_>) -> Result<Assignment, CliError>| {
        let cal = Calibration::default_embedded()?;
        let chain = ModelChain::new(fm)?;
        let planner = Planner::new(
            &chain,
            TimeModel::new(&cal, network),
            Objective::Online,
            batch,
            output,
        )?;
        f(&planner)
    };
    if spec == "auto" {
        return planner_for(&|p| Ok(p.solve(Strategy::Auto)?.assignment));
    }
    let text = std::fs::read_to_string(spec).map_err(|e| {
        CliError::Usage(format!(
            "`{spec}` is neither a plan name (auto, pure-b, pure-y, a+y, a+b, pure-a) nor a readable plan file: {e}"
        ))
    })?;
    if let Ok(a) = serde_json::from_str::<Assignment>(&text) {
        a.validate(fm)?;
        return Ok(a);
    }
    let plan =
        Plan::from_json(&text).map_err(|e| CliError::Usage(format!("plan file {spec}: {e}")))?;
    let bytes = match assets::model_bytes(model_spec) {
        Some(b) => b.to_vec(),
        None => {
            std::fs::read(model_spec).map_err(|e| CliError::Usage(format!("{model_spec}: {e}")))?
        }
    };
    let sha = hex::encode(<sha2::Sha256 as sha2::Digest>::digest(&bytes));
    planner_for(&|p| Ok(plan.assignment(p, &sha)?))
}

/// The inputs and, for a dataset, the true labels: an `.npy` file, or the first
/// `count` MNIST test digits.
///
/// # Errors
/// Unreadable or mis-shaped input, an unknown dataset, a count out of range.
pub fn load_inputs_for(
    input: Option<&std::path::Path>,
    dataset: Option<&str>,
    count: usize,
    model: &Model,
) -> Result<(Vec<f32>, Option<Vec<u8>>), CliError> {
    match (input, dataset) {
        (Some(path), _) => match model.index_input() {
            // Indices (int64 or int32), one-hot encoded here, by their owner.
            Some(ix) => {
                let npy = tessera_models::NpyIndices::from_file(path)?;
                ix.batch_for(&npy.shape)?;
                Ok((model.encode_indices(&npy.data)?, None))
            }
            None => {
                let npy = NpyF32::from_file(path)?;
                npy.batch_for(model)?;
                Ok((npy.data, None))
            }
        },
        (None, Some("mnist")) => {
            let m = assets::mnist()?;
            let test = tessera_models::data::MNIST10K_TEST;
            if count == 0 || count > test.len() {
                return Err(CliError::Usage(format!(
                    "--count {count}: the MNIST test split has {} digits",
                    test.len()
                )));
            }
            let range = test.start..test.start + count;
            Ok((
                m.images_f32(range.clone())?,
                Some(m.labels(range)?.to_vec()),
            ))
        }
        (None, Some(other)) => Err(CliError::Usage(format!(
            "unknown dataset `{other}` (known: mnist)"
        ))),
        (None, None) => Err(CliError::Usage(
            "give an input: --input X.npy or --dataset mnist".into(),
        )),
    }
}

/// Exact counters summed over the sessions of a run, per party.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Totals {
    /// Party-to-party channel, per party.
    pub peer: [Metering; 2],
    /// Party-to-dealer channel, per party.
    pub dealer: [Metering; 2],
    /// Wall-clock seconds, summed over sessions (max of the two parties per session).
    pub offline_s: f64,
    /// Set-up seconds, summed over sessions (one set-up per session).
    pub setup_s: f64,
    /// Online seconds, summed over sessions (per session from the later party's
    /// start to the last one finishing, [`tessera_protocols::runtime::local::LocalRun::online_latency`]).
    pub online_s: f64,
    /// Online seconds of each session (all its queries).
    pub online_per_session_s: Vec<f64>,
    /// Bytes each party sent in each session's set-up phase: the session's handshake
    /// (the same size each way) and party 0's masked weights, once per session.
    pub setup_sent_per_session: Vec<[u64; 2]>,
    /// Each query, in order.
    pub queries: Vec<QueryMeasured>,
}

/// What one query measured.
#[derive(Clone, Debug, Default, Serialize)]
pub struct QueryMeasured {
    /// Its examples.
    pub examples: usize,
    /// Its online latency: from the later party's start of the query to the later
    /// party's end of it.
    pub latency_s: f64,
    /// Online bytes each party sent during it.
    pub bytes_sent: [u64; 2],
    /// The online rounds it added (the larger of the two parties' counts).
    pub rounds: u64,
}

impl Totals {
    fn add(&mut self, r: &ServingRun<R>) {
        for (p, rep) in r.parties.iter().enumerate() {
            self.peer[p].merge(&rep.peer);
            self.dealer[p].merge(&rep.source);
        }
        let max = |f: fn(&tessera_protocols::runtime::PartyOutcome<_>) -> Duration| {
            r.parties
                .iter()
                .map(f)
                .max()
                .unwrap_or_default()
                .as_secs_f64()
        };
        self.offline_s += max(|p| p.offline);
        self.setup_s += max(|p| p.setup);
        let on = r.online_latency().as_secs_f64();
        self.online_s += on;
        self.online_per_session_s.push(on);
        self.setup_sent_per_session
            .push([0, 1].map(|p| r.parties[p].peer.phase(Phase::Setup).bytes_sent));
        let [q0, q1] = [0, 1].map(|p| &r.parties[p].output.queries);
        for ((a, b), t) in q0.iter().zip(q1).zip(query_latencies(r)) {
            self.queries.push(QueryMeasured {
                examples: a.examples,
                latency_s: t.as_secs_f64(),
                bytes_sent: [a.peer.online.bytes_sent, b.peer.online.bytes_sent],
                rounds: a.peer.online.rounds.max(b.peer.online.rounds),
            });
        }
    }
}

/// The set-up paid once per session, and what each query costs on top of it.
#[derive(Clone, Debug, Serialize)]
pub struct Serving {
    /// Sessions: set-ups paid (one offline phase and one set-up each).
    pub sessions: usize,
    /// Queries answered.
    pub queries: usize,
    /// Queries per session (the last may have fewer).
    pub queries_per_session: usize,
    /// The set-up of a session.
    pub setup: SetupFigures,
    /// A query of `batch` examples.
    pub per_query: QueryFigures,
    /// The network's floor for a query under a shaped profile (`null` unshaped).
    pub floor: Option<Floor>,
}

/// The per-model set-up, paid once per session.
#[derive(Clone, Debug, Serialize)]
pub struct SetupFigures {
    /// Bytes each party sends in it besides the handshake (party 0's masked weights
    /// `W − U`), exact: the measured set-up bytes less the handshake's equal this in
    /// every session.
    pub predicted_bytes: [u64; 2],
    /// Rounds: one flight of party 0's if it sends anything.
    pub rounds: u64,
    /// Measured seconds per session (mean).
    pub seconds: f64,
    /// Measured offline seconds per session (mean): the dealing of every correlation
    /// of the session's queries, or making them by OT extension.
    pub offline_seconds: f64,
    /// Set-up and offline seconds per query, amortised over the run's queries.
    pub amortised_seconds_per_query: f64,
}

/// One query's exact online price and its measured latency.
#[derive(Clone, Debug, Serialize)]
pub struct QueryFigures {
    /// Examples per query.
    pub examples: usize,
    /// Online bytes each party sends per query (each query measured this exactly).
    pub predicted_bytes: [u64; 2],
    /// Online rounds of a query: the first of a session, and every later one.
    pub predicted_rounds: [u64; 2],
    /// Correction bytes the dealer sends party 1 per query (the query's correlations).
    pub dealer_correction_bytes: u64,
    /// Median online latency per query, and the fastest and slowest.
    pub latency_median_s: f64,
    /// The fastest query.
    pub latency_min_s: f64,
    /// The slowest query.
    pub latency_max_s: f64,
}

/// The least time a query's messages need on the profile's link: every round is one
/// one-way flight (a Lamport depth of the meter, [`tessera_core::meter`]: a request
/// and its answer are two), so `rounds × RTT/2`, plus the busier direction's bytes at
/// the link's bandwidth (each direction is shaped on its own).
#[derive(Clone, Debug, Serialize)]
pub struct Floor {
    /// The profile's round-trip time.
    pub rtt_s: f64,
    /// Its bandwidth per direction (`null`: unlimited).
    pub bandwidth_bps: Option<u64>,
    /// The query's rounds (a later query's).
    pub rounds: u64,
    /// The bytes of the busier direction.
    pub bytes: u64,
    /// `rounds × RTT/2 + bytes × 8 / bandwidth`.
    pub floor_s: f64,
    /// The same with a full round trip per round (`rounds × RTT + bytes ÷ bandwidth`):
    /// the bound for a protocol whose every round is a request and its answer.
    pub round_trip_floor_s: f64,
}

impl Serving {
    fn new(cost: &ServingCost, m: &Totals, per_session: usize, network: NetworkProfile) -> Serving {
        let sessions = m.online_per_session_s.len().max(1);
        let mut lat: Vec<f64> = m.queries.iter().map(|q| q.latency_s).collect();
        lat.sort_by(f64::total_cmp);
        let median = lat.get(lat.len() / 2).copied().unwrap_or(0.0);
        let later = usize::from(cost.sizes.len() > 1);
        let rounds = cost.query_rounds(later);
        let bytes = cost.query_bytes(0);
        let floor = network.is_shaped().then(|| {
            let busier = bytes[0].max(bytes[1]);
            let link = network.transmit_time(busier).as_secs_f64();
            let rtt = network.rtt.as_secs_f64();
            Floor {
                rtt_s: rtt,
                bandwidth_bps: network.bandwidth_bps,
                rounds,
                bytes: busier,
                floor_s: rounds as f64 * rtt / 2.0 + link,
                round_trip_floor_s: rounds as f64 * rtt + link,
            }
        });
        let queries = m.queries.len();
        Serving {
            sessions: m.online_per_session_s.len(),
            queries,
            queries_per_session: per_session,
            setup: SetupFigures {
                predicted_bytes: cost.setup_bytes(),
                rounds: cost.setup_rounds(),
                seconds: m.setup_s / sessions as f64,
                offline_seconds: m.offline_s / sessions as f64,
                amortised_seconds_per_query: (m.setup_s + m.offline_s) / queries.max(1) as f64,
            },
            per_query: QueryFigures {
                examples: cost.sizes.first().copied().unwrap_or(0),
                predicted_bytes: bytes,
                predicted_rounds: [cost.query_rounds(0), rounds],
                dealer_correction_bytes: cost.query_demand(0).correction_bytes::<R>() as u64,
                latency_median_s: median,
                latency_min_s: lat.first().copied().unwrap_or(0.0),
                latency_max_s: lat.last().copied().unwrap_or(0.0),
            },
            floor,
        }
    }
}

/// The outcome of a secure inference run.
#[derive(Clone, Debug, Serialize)]
pub struct InferReport {
    /// The model (path or embedded name).
    pub model: String,
    /// The plan's name.
    pub plan: String,
    /// The assignment run.
    pub assignment: Assignment,
    /// The network profile.
    pub network: String,
    /// Where the correlations came from: `dealer` or `ot`.
    pub offline: &'static str,
    /// Examples.
    pub count: usize,
    /// Examples per session.
    pub batch: usize,
    /// Fractional bits of the fixed-point encoding: outputs are ring values / 2^f,
    /// differences are in units of 2^-f.
    pub frac_bits: u32,
    /// Whether the plan computes the plaintext fixed-point reference exactly (no
    /// dealer truncation): then labels and outputs must equal the reference's.
    pub exact_plan: bool,
    /// The client's labels.
    pub labels: Vec<usize>,
    /// The plaintext fixed-point reference's labels.
    pub reference_labels: Vec<usize>,
    /// Secure labels equal to the reference's.
    pub agree_with_reference: usize,
    /// The float model's labels.
    pub float_labels: Vec<usize>,
    /// Accuracy against the true labels (dataset only), secure and float.
    pub accuracy: Option<f64>,
    /// Float accuracy (dataset only).
    pub float_accuracy: Option<f64>,
    /// The outputs the client received besides the labels, decoded, under their names
    /// ([`output_display_names`]) and in the model's order: with `--logits` every
    /// output (the first is the scores), else every output after the first (none for a
    /// single-output model).
    pub outputs: Vec<OutputTensor>,
    /// Each output compared with the plaintext fixed-point reference.
    pub output_checks: Vec<OutputCheck>,
    /// The `.npy` file the first output (the scores) was written to (`--output`).
    pub output_file: Option<PathBuf>,
    /// Every `.npy` file written (`--output`), in the order of `outputs`.
    pub output_files: Vec<PathBuf>,
    /// The exact predicted online traffic of one query (`batch` examples) per step,
    /// after the set-up's steps (party 0's masked weights, once per session).
    pub predicted_steps: Vec<StepCost>,
    /// The set-up paid once per session, and each query's cost and latency.
    pub serving: Serving,
    /// Measured counters and times.
    pub measured: Totals,
    /// The peak resident memory of this process (both parties and the dealer run in
    /// it), in bytes, where the OS reports it.
    pub peak_rss_bytes: Option<u64>,
}

/// What the client received over all sessions of a run, and the counters. Not
/// `Debug`: it holds the client's outputs.
pub struct Received {
    /// The label of each example.
    pub labels: Vec<usize>,
    /// Every output of the model in its order, at scale `2^f`, `[count, values per
    /// example]` row-major; `None` for the first output under [`Output::Label`].
    pub outputs: Vec<Option<Vec<R>>>,
    /// Counters and times summed over the sessions.
    pub totals: Totals,
}

/// Runs the secure inference of `x` (a flat batch) in queries of `batch` examples,
/// `per_setup` queries per session (each session one offline phase for all its
/// queries and one set-up of the model, then its queries one after another), and
/// gathers what the client received, in order.
///
/// # Errors
/// Transport, protocol and plan errors of any session; [`CliError::Check`] if the
/// client received no labels, or an output it should have received (every output but
/// a labelled first one) is missing or not of `batch × values per example`.
#[allow(clippy::too_many_arguments)]
pub async fn run_sessions_received(
    fm: &FixedModel<R>,
    a: &Assignment,
    x: &[R],
    count: usize,
    batch: usize,
    per_setup: usize,
    network: NetworkProfile,
    threads: std::num::NonZeroUsize,
    timeout: Duration,
    opts: RunOptions,
    progress: Option<&indicatif::ProgressBar>,
) -> Result<Received, CliError> {
    let per = x.len() / count.max(1);
    let mut labels = Vec::with_capacity(count);
    let logits = a.output == Output::Logits;
    // Every output but a labelled first one is received.
    let mut outputs: Vec<Option<Vec<R>>> = (0..fm.outputs().len())
        .map(|k| (k > 0 || logits).then(|| Vec::with_capacity(count * fm.output_len(k))))
        .collect();
    let mut totals = Totals::default();
    let channel = ChannelConfig {
        timeout,
        threads,
        ..ChannelConfig::with_profile(network)
    };
    let batch = batch.max(1);
    let sizes: Vec<usize> = (0..count)
        .step_by(batch)
        .map(|s| batch.min(count - s))
        .collect();
    let mut start = 0;
    for group in sizes.chunks(per_setup.max(1)) {
        let n: usize = group.iter().sum();
        let chunk = &x[start * per..(start + n) * per];
        // Generous deadline: the per-message timeout bounds every wait; this bounds
        // the whole session (a few timeouts per query).
        let deadline = timeout.saturating_mul(20 + u32::try_from(group.len()).unwrap_or(u32::MAX));
        let r =
            serve_loopback(fm, a, chunk, group, channel, opts, Transport::Tcp, deadline).await?;
        let got = &r.parties[1].output.output;
        labels.extend(
            got.labels
                .clone()
                .ok_or_else(|| CliError::Check("the client received no labels".into()))?,
        );
        for (k, all) in outputs.iter_mut().enumerate() {
            let Some(all) = all.as_mut() else { continue };
            let len = fm.output_len(k);
            let s = got
                .outputs
                .get(k)
                .and_then(Option::as_ref)
                .filter(|s| s.batch == n && s.classes == len)
                .ok_or_else(|| {
                    CliError::Check(format!(
                        "the client received no output {k} `{}` of {n} × {len} in a session",
                        fm.output_names().get(k).map_or("", String::as_str)
                    ))
                })?;
            all.extend_from_slice(&s.values);
        }
        totals.add(&r);
        start += n;
        if let Some(pb) = progress {
            pb.inc(n as u64);
        }
    }
    Ok(Received {
        labels,
        outputs,
        totals,
    })
}

/// Queries of `batch` examples per set-up: `requested`, or as many as keep the
/// correlations dealt ahead of the first query within 1 GiB
/// ([`ServingCost::queries_per_setup`]); at most `queries`.
///
/// # Errors
/// `--queries-per-setup 0`.
pub fn queries_per_setup(
    cost: &ServingCost,
    requested: Option<usize>,
    offline: Offline,
    queries: usize,
) -> Result<usize, CliError> {
    match requested {
        Some(0) => Err(CliError::Usage(
            "--queries-per-setup must be at least 1".into(),
        )),
        Some(n) => Ok(n.min(queries.max(1))),
        None => Ok(cost
            .queries_per_setup::<R>(offline == Offline::Ot, SPILL_CORRECTIONS_BYTES)
            .min(queries.max(1))),
    }
}

/// The name `tessera infer` shows output `k` of `model` under: its graph name, except
/// for the first output of a model with an `ArgMax` or `Softmax` head, which is
/// `scores` — the client receives the head's input (the scores), not what the graph
/// output holds (a label, probabilities) — or `<name>_scores` if another output is
/// already named `scores`.
pub fn output_display_names(model: &Model) -> Vec<String> {
    let mut names = model.output_names().to_vec();
    if model.head() != tessera_models::Head::Scores
        && let Some(first) = names.first().cloned()
    {
        names[0] = if names[1..].iter().any(|n| n == "scores") {
            format!("{first}_scores")
        } else {
            "scores".to_string()
        };
    }
    names
}

/// The `.npy` file of each output when `--output` is `path`: `path` itself for a single
/// output; for several, `<stem>.<name>.npy` next to it, `<stem>` being `path` without
/// its `.npy` extension and `<name>` the output's graph name with every character but
/// ASCII letters, digits, `.`, `-` and `_` replaced by `_` (`output<k>` if that leaves
/// nothing). Where two names would give the same file (ignoring case, for
/// case-insensitive file systems), each of them gets `_<k>` appended, `k` its output
/// index.
///
/// # Errors
/// [`CliError::Usage`] if the files still collide (an output literally named like
/// another's disambiguated name).
pub fn output_paths(path: &std::path::Path, names: &[String]) -> Result<Vec<PathBuf>, CliError> {
    if names.len() <= 1 {
        return Ok(vec![path.to_path_buf()]);
    }
    let stem = if path
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("npy"))
    {
        path.with_extension("")
    } else {
        path.to_path_buf()
    };
    let stem_name = stem
        .file_name()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    let clean: Vec<String> = names
        .iter()
        .enumerate()
        .map(|(k, n)| {
            let s: String = n
                .chars()
                .map(|c| {
                    if c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_') {
                        c
                    } else {
                        '_'
                    }
                })
                .collect();
            if s.is_empty() {
                format!("output{k}")
            } else {
                s
            }
        })
        .collect();
    let key = |s: &str| s.to_ascii_lowercase();
    let unique: Vec<String> = clean
        .iter()
        .enumerate()
        .map(|(k, s)| {
            let taken = clean
                .iter()
                .enumerate()
                .any(|(j, o)| j != k && key(o) == key(s));
            if taken { format!("{s}_{k}") } else { s.clone() }
        })
        .collect();
    for (k, s) in unique.iter().enumerate() {
        if unique[..k].iter().any(|o| key(o) == key(s)) {
            return Err(CliError::Usage(format!(
                "--output: the outputs {:?} cannot be given distinct file names",
                names
            )));
        }
    }
    Ok(unique
        .iter()
        .map(|s| stem.with_file_name(format!("{stem_name}.{s}.npy")))
        .collect())
}

/// Percentage of `labels` equal to `truth`.
pub(crate) fn accuracy(labels: &[usize], truth: &[u8]) -> f64 {
    let ok = labels
        .iter()
        .zip(truth)
        .filter(|(l, t)| **l == usize::from(**t))
        .count();
    100.0 * ok as f64 / truth.len().max(1) as f64
}

/// Runs `tessera infer`.
///
/// # Errors
/// Bad arguments, unreadable model or input, plan errors, protocol failures, an
/// unwritable `--output`, a secure label or output differing from the reference
/// under an exact plan, or an output further from it than the reference's bound.
pub async fn run(args: InferArgs) -> Result<(), CliError> {
    if args.batch == 0 {
        return Err(CliError::Usage("--batch must be at least 1".into()));
    }
    let model = load_model(&args.model, args.sigmoid, args.logits)?;
    eprintln!(
        "transport: {}",
        tessera_protocols::runtime::local::Transport::Tcp.describe()
    );
    let fm = FixedModel::<R>::new(&model, FixedPoint::new(args.frac_bits))?;
    let output = if args.logits {
        Output::Logits
    } else {
        Output::Label
    };
    let (xf, truth) = load_inputs_for(
        args.input.as_deref(),
        args.dataset.as_deref(),
        args.count,
        &model,
    )?;
    let count = model.batch_of(xf.len())?;
    let x = fm.encode_input(&xf)?;
    let mut a = resolve_plan(
        &args.plan,
        &args.model,
        &fm,
        output,
        args.batch.min(count),
        args.network,
    )?;
    if args.working_set.is_some() {
        a.working_set = args.working_set;
    }
    let reference = fm.run(&x)?;
    let reference_labels = reference.labels();
    let float_labels = model.run_float::<f32>(&xf)?.labels();
    let batch = args.batch.min(count);
    let steps = assignment_steps(&fm, &a, batch)?;
    let queries = count.div_ceil(batch);
    // The price of a session of two queries: the set-up once, a first and a later query.
    let cost = ServingCost::new(&fm, &a, &[batch; 2][..queries.min(2)])?;
    let per_setup = queries_per_setup(&cost, args.queries_per_setup, args.offline, queries)?;
    let exact = !steps.iter().any(|s| s.name.ends_with("truncation"));
    let opts = RunOptions {
        max_table_bytes: args.max_table_bytes,
        offline: args.offline,
    };
    opts.check(&steps)?;
    let pb = (!args.json).then(|| {
        let pb = indicatif::ProgressBar::new(count as u64);
        pb.set_style(
            indicatif::ProgressStyle::with_template("{msg} [{bar:30}] {pos}/{len} {elapsed}")
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
        );
        pb.set_message(format!("{} under {}", args.plan, args.network));
        pb
    });
    let received = run_sessions_received(
        &fm,
        &a,
        &x,
        count,
        batch,
        per_setup,
        args.network,
        args.threads,
        Duration::from_secs(args.timeout),
        opts,
        pb.as_ref(),
    )
    .await?;
    if let Some(pb) = pb {
        pb.finish_and_clear();
    }
    let Received {
        labels,
        outputs: received_outputs,
        totals: measured,
    } = received;
    // The outputs besides the labels, decoded under their graph names, and their
    // distance to the reference (each within its own bound under a truncating plan).
    let mut outputs = Vec::new();
    let mut output_checks = Vec::new();
    // The model output each entry of `outputs` is.
    let mut output_index = Vec::new();
    let shapes = model.output_shapes();
    let names = output_display_names(&model);
    for (k, got) in received_outputs.into_iter().enumerate() {
        let Some(got) = got else { continue };
        output_index.push(k);
        let name = names[k].clone();
        let want = reference
            .outputs
            .get(k)
            .ok_or_else(|| CliError::Check(format!("the reference has no output {k}")))?;
        output_checks.push(OutputCheck::compare(
            name.clone(),
            &got,
            &want.values,
            exact,
            reference.output_bounds_ulps.get(k).copied().unwrap_or(0),
        )?);
        outputs.push(OutputTensor::decode(
            name,
            shapes[k].to_vec(),
            count,
            &got,
            fm.fixed_point(),
        )?);
    }
    // Written before the report is printed, so that the report names the files; a
    // failure is returned after the report, which then lists only the files written.
    let mut output_files = Vec::new();
    let mut output_file = None;
    let mut write_error = None;
    if let Some(path) = &args.output
        && !outputs.is_empty()
    {
        let paths = output_paths(path, &names)?;
        for (t, &k) in outputs.iter().zip(&output_index) {
            let Some(file) = paths.get(k) else { continue };
            match t.write_npy(file) {
                Ok(()) => {
                    if k == 0 {
                        output_file = Some(file.clone());
                    }
                    output_files.push(file.clone());
                }
                Err(e) => {
                    write_error.get_or_insert(e);
                }
            }
        }
    }
    let agree = labels
        .iter()
        .zip(&reference_labels)
        .filter(|(a, b)| a == b)
        .count();
    let report = InferReport {
        model: args.model.clone(),
        plan: args.plan.clone(),
        assignment: a,
        network: args.network.to_string(),
        offline: args.offline.name(),
        count,
        batch,
        frac_bits: args.frac_bits,
        exact_plan: exact,
        accuracy: truth.as_ref().map(|t| accuracy(&labels, t)),
        float_accuracy: truth.as_ref().map(|t| accuracy(&float_labels, t)),
        labels,
        reference_labels,
        agree_with_reference: agree,
        float_labels,
        outputs,
        output_checks,
        output_file,
        output_files,
        predicted_steps: steps,
        serving: Serving::new(&cost, &measured, per_setup, args.network),
        measured,
        peak_rss_bytes: tessera_core::peak_rss_bytes(),
    };
    if args.json {
        let s = serde_json::to_string_pretty(&report)
            .map_err(|e| CliError::Task(format!("serialising the report: {e}")))?;
        println!("{s}");
    } else {
        print_report(&report);
    }
    if let Some(e) = write_error {
        return Err(e);
    }
    if exact && agree != count {
        return Err(CliError::Check(format!(
            "{} of {count} secure labels differ from the plaintext fixed-point reference under an exact plan",
            count - agree
        )));
    }
    if let Some(c) = report.output_checks.iter().find(|c| !c.ok()) {
        let f = args.frac_bits;
        return Err(CliError::Check(if c.exact {
            format!(
                "{} of {} secure {} differ from the plaintext fixed-point reference under an exact plan (by up to {} × 2^-{f})",
                c.differing, c.compared, c.name, c.max_diff_ulps
            )
        } else {
            format!(
                "secure {} differ from the plaintext fixed-point reference by up to {} × 2^-{f}, beyond its bound of {} × 2^-{f}",
                c.name, c.max_diff_ulps, c.allowed_ulps
            )
        }));
    }
    Ok(())
}

/// Examples whose outputs the text report shows (all are in `--json` and
/// `--output`).
const TEXT_EXAMPLES: usize = 20;
/// Values per example the text report shows (10 scores of MNIST fit whole).
const TEXT_VALUES: usize = 16;

fn print_report(r: &InferReport) {
    let show = r.labels.len().min(20);
    println!(
        "labels ({} of {}): {:?}{}",
        show,
        r.labels.len(),
        &r.labels[..show],
        if show < r.labels.len() { " …" } else { "" }
    );
    for t in &r.outputs {
        println!("{}", t.text(TEXT_EXAMPLES, TEXT_VALUES));
    }
    println!(
        "agreement with the plaintext fixed-point reference: {}/{}",
        r.agree_with_reference, r.count
    );
    for c in &r.output_checks {
        println!("{}", c.text(r.frac_bits));
    }
    for (t, p) in r.outputs.iter().zip(&r.output_files) {
        println!("{} written to {}", t.name(), p.display());
    }
    if let (Some(a), Some(f)) = (r.accuracy, r.float_accuracy) {
        println!("accuracy: secure {a:.2} %, float {f:.2} %");
    }
    let m = &r.measured;
    let sv = &r.serving;
    let sessions = sv.sessions.max(1);
    let ms = |s: f64| s * 1e3;
    println!(
        "plan {} under {}: {} quer{} of ≤ {} example{} in {} session{} ({} per set-up of the model)",
        r.plan,
        r.network,
        sv.queries,
        if sv.queries == 1 { "y" } else { "ies" },
        r.batch,
        if r.batch == 1 { "" } else { "s" },
        sv.sessions,
        if sv.sessions == 1 { "" } else { "s" },
        sv.queries_per_session
    );
    let setup = &sv.setup;
    let paid = match sv.sessions {
        1 => "once".to_string(),
        n => format!("once per session, {n} times"),
    };
    println!(
        "set-up, paid {paid}: party 0 sent {} B of masked weights ({} round{}, {:.1} ms; + {} B handshake each way); offline {:.1} ms; amortised {:.2} ms per query",
        setup.predicted_bytes[0],
        setup.rounds,
        if setup.rounds == 1 { "" } else { "s" },
        ms(setup.seconds),
        m.setup_sent_per_session.first().map_or(0, |s| s[1]),
        ms(setup.offline_seconds),
        ms(setup.amortised_seconds_per_query)
    );
    let q = &sv.per_query;
    println!(
        "per query ({} example{}): online sent {} B (party 0) and {} B (party 1), {} rounds{}",
        q.examples,
        if q.examples == 1 { "" } else { "s" },
        q.predicted_bytes[0],
        q.predicted_bytes[1],
        q.predicted_rounds[1],
        if r.offline == "ot" {
            String::new()
        } else {
            format!(
                "; from the dealer {} B of corrections",
                q.dealer_correction_bytes
            )
        }
    );
    println!(
        "online latency per query: median {:.2} ms (fastest {:.2} ms, slowest {:.2} ms){}",
        ms(q.latency_median_s),
        ms(q.latency_min_s),
        ms(q.latency_max_s),
        if q.examples > 1 {
            format!(
                ", {:.3} ms per example",
                ms(q.latency_median_s) / q.examples as f64
            )
        } else {
            String::new()
        }
    );
    if let Some(f) = &sv.floor {
        let bw = f.bandwidth_bps.map_or_else(
            || "unlimited".to_string(),
            |b| format!("{} Mbit/s", b / 1_000_000),
        );
        println!(
            "network floor under {} ({:.2} ms RTT, {bw}): {} rounds × RTT/2 + {} B ÷ bandwidth = {:.2} ms per query (rounds × RTT: {:.2} ms); measured median {:.2} ms",
            r.network,
            ms(f.rtt_s),
            f.rounds,
            f.bytes,
            ms(f.floor_s),
            ms(f.round_trip_floor_s),
            ms(q.latency_median_s)
        );
    }
    println!(
        "time: offline {:.1} ms, set-up {:.1} ms, online {:.1} ms (total over sessions)",
        m.offline_s * 1e3,
        m.setup_s * 1e3,
        m.online_s * 1e3
    );
    for p in 0..2 {
        let on = m.peer[p].phase(Phase::Online);
        let offline = if r.offline == "ot" {
            let off = m.peer[p].phase(Phase::Offline);
            format!(
                "offline by OT extension with the other party: sent {} B, received {} B, {} rounds per session",
                off.bytes_sent,
                off.bytes_received,
                off.rounds / sessions as u64
            )
        } else {
            format!("from the dealer {} B", m.dealer[p].total().bytes_received)
        };
        println!(
            "party {p}: online sent {} B, received {} B in all; {offline}",
            on.bytes_sent, on.bytes_received,
        );
    }
    if let Some(b) = r.peak_rss_bytes {
        let roles = if r.offline == "ot" {
            "both parties"
        } else {
            "both parties and the dealer"
        };
        println!(
            "peak memory: {:.1} MiB (this process: {roles})",
            b as f64 / (1u64 << 20) as f64
        );
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use std::path::{Path, PathBuf};

    use tessera_models::{Head, Model, Op};

    use super::{output_display_names, output_paths};

    fn names(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn one_output_keeps_the_path_several_get_their_names() {
        let p = Path::new("out/res.npy");
        assert_eq!(
            output_paths(p, &names(&["logits"])).unwrap(),
            [PathBuf::from("out/res.npy")]
        );
        assert_eq!(
            output_paths(p, &names(&["logits", "features"])).unwrap(),
            [
                PathBuf::from("out/res.logits.npy"),
                PathBuf::from("out/res.features.npy")
            ]
        );
        // Without the .npy extension the whole name is the stem.
        assert_eq!(
            output_paths(Path::new("res"), &names(&["a", "b"])).unwrap(),
            [PathBuf::from("res.a.npy"), PathBuf::from("res.b.npy")]
        );
    }

    #[test]
    fn names_are_sanitised_and_collisions_disambiguated() {
        let got = output_paths(
            Path::new("r.npy"),
            &names(&["onnx::Gemm_12", "../x y", "", "A", "a", "output.1"]),
        )
        .unwrap();
        assert_eq!(
            got,
            [
                "r.onnx__Gemm_12.npy",
                "r..._x_y.npy",
                "r.output2.npy",
                "r.A_3.npy",
                "r.a_4.npy",
                "r.output.1.npy",
            ]
            .map(PathBuf::from)
        );
        // No separator survives: every file is next to the given path.
        assert!(got.iter().all(|p| p.parent() == Some(Path::new(""))));
        // Still colliding after disambiguation: refused.
        let e = output_paths(Path::new("r.npy"), &names(&["a/b", "a_b", "a_b_1"]));
        assert!(e.is_err());
    }

    fn model(head: Head, names: &[&str]) -> Model {
        Model::with_outputs(
            vec![3],
            vec![("r".into(), Op::Relu, vec![0])],
            names.iter().map(|n| (n.to_string(), 1)).collect(),
            head,
        )
        .unwrap()
    }

    #[test]
    fn a_headed_first_output_is_the_scores() {
        assert_eq!(
            output_display_names(&model(Head::Scores, &["logits", "f"])),
            ["logits", "f"]
        );
        assert_eq!(
            output_display_names(&model(Head::ArgMax, &["label", "f"])),
            ["scores", "f"]
        );
        assert_eq!(
            output_display_names(&model(Head::Softmax, &["probs"])),
            ["scores"]
        );
        assert_eq!(
            output_display_names(&model(Head::Softmax, &["probs", "scores"])),
            ["probs_scores", "scores"]
        );
    }
}
