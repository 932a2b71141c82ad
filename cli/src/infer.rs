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
use tessera_engine::session::{LoopbackRun, loopback};
use tessera_engine::{Assignment, Baseline, Output, RunOptions, StepCost, assignment_steps};
use tessera_models::{FixedModel, Model, NpyF32, OnnxOptions, SigmoidKind, SoftmaxKind, assets};
use tessera_planner::assign::{Planner, Strategy};
use tessera_planner::engine::ModelChain;
use tessera_planner::plan::Plan;
use tessera_planner::{Calibration, Objective, TimeModel};
use tessera_protocols::runtime::local::Offline;

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
    /// Compute threads of each party (garbling, evaluation, GMW and arithmetic layers);
    /// results and bytes do not depend on it [default: every core].
    #[arg(long, value_name = "N", value_parser = crate::parse_threads, default_value_t = tessera_core::Threads::available(), hide_default_value = true)]
    pub threads: std::num::NonZeroUsize,
    /// Examples per secure session (the batch each protocol step is vectorised over).
    #[arg(long, default_value_t = 100)]
    pub batch: usize,
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
    /// Set-up seconds.
    pub setup_s: f64,
    /// Online seconds, summed over sessions (per session from the later party's
    /// start to the last one finishing, [`LoopbackRun::online_latency`]).
    pub online_s: f64,
    /// Online seconds of each session.
    pub online_per_session_s: Vec<f64>,
}

impl Totals {
    fn add(&mut self, r: &LoopbackRun<R>) {
        for (p, rep) in r.parties.iter().enumerate() {
            self.peer[p].merge(&rep.peer);
            self.dealer[p].merge(&rep.source);
        }
        let max = |f: fn(&tessera_engine::session::PartyReport<R>) -> Duration| {
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
    /// The exact predicted online traffic of one session (`batch` examples) per step.
    pub predicted_steps: Vec<StepCost>,
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

/// Runs the secure inference of `x` (a flat batch) in sessions of `batch` and
/// gathers what the client received in each, in order.
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
    let mut start = 0;
    while start < count {
        let n = batch.min(count - start);
        let chunk = &x[start * per..(start + n) * per];
        // Generous deadline: the per-message timeout bounds every wait; this bounds
        // the whole session.
        let deadline = timeout * 20;
        let r = loopback(fm, a, chunk, n, channel, opts, deadline).await?;
        let got = r.parties[1]
            .output
            .labels
            .clone()
            .ok_or_else(|| CliError::Check("the client received no labels".into()))?;
        labels.extend(got);
        for (k, all) in outputs.iter_mut().enumerate() {
            let Some(all) = all.as_mut() else { continue };
            let len = fm.output_len(k);
            let s = r.parties[1]
                .output
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
    let sessions = m.online_per_session_s.len();
    println!(
        "plan {} under {}: {} session(s) of ≤ {} examples",
        r.plan, r.network, sessions, r.batch
    );
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
                off.rounds / sessions.max(1) as u64
            )
        } else {
            format!("from the dealer {} B", m.dealer[p].total().bytes_received)
        };
        println!(
            "party {p}: online sent {} B, received {} B, {} rounds per session; {offline}",
            on.bytes_sent,
            on.bytes_received,
            on.rounds / sessions.max(1) as u64,
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
