//! `tessera train`: private training on MNIST — the examples secret-shared between
//! the parties (held by party 1, the client that outsources them), the model shared
//! from a seeded initialisation (or an ONNX file's weights), correlations from the
//! dealer or OT extension — beside the plaintext fixed-point training of the same
//! program (same initialisation, batch order and arithmetic), whose test accuracy is
//! the reference.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use clap::Args;
use serde::Serialize;
use tessera_core::{ChannelConfig, NetworkProfile, Z64};
use tessera_engine::train::secure::{self, TrainingJob};
use tessera_engine::train::shared::ModelShare;
use tessera_engine::train::{
    Conv, Objective, TrainPlan, TrainProgram, TrainSpec, encode_examples, plain, predict,
};
use tessera_engine::{RunOptions, StepCost, online_rounds, total_price};
use tessera_models::data::{MNIST10K_TEST, MNIST10K_TRAIN, Mnist};
use tessera_models::{Model, Op, assets};
use tessera_planner::{Calibration, TimeModel};
use tessera_protocols::runtime::local::{Offline, Transport};

use crate::{CliError, parse_profile};

type R = Z64;

/// What is trained and how: the options `tessera train` and `tessera party ... train`
/// share.
#[derive(Args, Debug, Clone)]
pub struct TrainSettings {
    /// `mlp` (784-128-128-10, ReLU, softmax cross-entropy), `cnn` (a 5×5 stride-2
    /// convolution with 8 kernels, ReLU, 1152-64-10), `cnn-pool` (the same convolution of
    /// stride 1, ReLU, 2×2 average pooling, 1152-64-10), `cnn-maxpool` (the same with
    /// 2×2 max pooling), `lenet` (LeNet-5 without padding: 6 and 16 kernels of 5×5, each
    /// with ReLU and 2×2 max pooling, 256-120-84-10), `logreg` (784-10, SecureML's
    /// sigmoid, one-vs-rest) or an ONNX file of that form (convolutions with ReLU and
    /// optional pooling, then dense layers with ReLU between them; its weights are the
    /// initialisation).
    #[arg(long, default_value = "mlp")]
    pub model: String,
    /// Passes over the training examples.
    #[arg(long, default_value_t = 1)]
    pub epochs: usize,
    /// Examples per SGD iteration.
    #[arg(long, default_value_t = 128)]
    pub batch: usize,
    /// The learning rate (the step is the rate times the batch's mean gradient);
    /// default 0.2, and 0.05 for models of two or more convolutions (`lenet`: 0.2
    /// diverges there).
    #[arg(long)]
    pub lr: Option<f64>,
    /// Heavy-ball momentum (0: plain SGD).
    #[arg(long, default_value_t = 0.8)]
    pub momentum: f64,
    /// The learning rate's factor per epoch (epoch e trains at lr · decay^e).
    #[arg(long, default_value_t = 0.6)]
    pub lr_decay: f64,
    /// Training examples used (the first ones, in order; at most 8,000).
    #[arg(long, default_value_t = 8000)]
    pub examples: usize,
    /// Who learns the parameters after each epoch: `both`, `0`, `1` or `none` (they
    /// stay shared; no accuracy can then be reported).
    #[arg(long, default_value = "both")]
    pub reveal: String,
    /// Who holds the training examples: `client` (party 1 outsources all of them) or
    /// `split` (a horizontally partitioned set: party 0 holds the even batches, party
    /// 1 the odd ones, each entering its own as its share).
    #[arg(long, default_value = "client")]
    pub holders: String,
    /// The seed of the initialisation.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Fixed-point fractional bits.
    #[arg(long, default_value_t = 16)]
    pub frac_bits: u32,
}

impl TrainSettings {
    /// The spec (checked) and a file's initial parameters ([`model_spec`]).
    ///
    /// # Errors
    /// As [`model_spec`].
    pub(crate) fn spec(&self) -> Result<(TrainSpec, Option<Params>), CliError> {
        model_spec(
            &self.model,
            self.batch,
            self.lr,
            (self.momentum, self.lr_decay, self.frac_bits),
        )
    }
}

/// Train a model on secret-shared MNIST digits.
#[derive(Args, Debug)]
pub struct TrainArgs {
    #[command(flatten)]
    pub s: TrainSettings,
    /// The data set: `mnist` (the embedded 8,000 training and 2,000 test digits).
    #[arg(long, default_value = "mnist")]
    pub dataset: String,
    /// `auto` (each comparison in the sharing the calibrated time model prices
    /// lower), `a+b` or `a+y`.
    #[arg(long, default_value = "auto")]
    pub plan: String,
    /// The network between the parties.
    #[arg(long, default_value = "local", value_parser = parse_profile)]
    pub network: NetworkProfile,
    /// Where the correlations come from: `dealer` or `ot`.
    #[arg(long, default_value = "dealer")]
    pub offline: Offline,
    /// Write the trained model here as ONNX (needs the parameters revealed).
    #[arg(long, value_name = "FILE.onnx")]
    pub out: Option<PathBuf>,
    /// Keep the trained model secret-shared: write each party's share to
    /// `PREFIX.party0.share` and `PREFIX.party1.share` (for `tessera infer-shared` and
    /// `tessera party ... shared-model`; with `--reveal none` no one ever sees a weight).
    #[arg(long, value_name = "PREFIX")]
    pub keep_shared: Option<PathBuf>,
    /// Deadline of the whole secure run, in seconds.
    #[arg(long, default_value_t = 3600)]
    pub timeout: u64,
    /// Run only the plaintext fixed-point training (the reference) and print its
    /// test accuracy per epoch: to choose hyper-parameters before a secure run.
    #[arg(long)]
    pub reference_only: bool,
    /// Print one JSON object instead of text.
    #[arg(long)]
    pub json: bool,
}

#[derive(Serialize)]
struct EpochOut {
    epoch: usize,
    /// Mean loss on the epoch's training examples, of the parameters after it.
    loss: Option<f64>,
    train_accuracy: Option<f64>,
    test_accuracy: Option<f64>,
    reference_test_accuracy: f64,
    online_s: f64,
    bytes_sent: [u64; 2],
    rounds: u64,
}

#[derive(Serialize)]
struct Predicted {
    epoch_online_s: f64,
    epoch_bytes_sent: [u64; 2],
    epoch_rounds: u64,
}

#[derive(Serialize)]
struct Report {
    model: String,
    dims: Vec<usize>,
    objective: Objective,
    plan: String,
    network: String,
    offline: &'static str,
    examples: usize,
    holders: String,
    batch: usize,
    iterations_per_epoch: usize,
    lr: f64,
    momentum: f64,
    epochs: Vec<EpochOut>,
    test_accuracy: Option<f64>,
    reference_test_accuracy: f64,
    predicted: Predicted,
    offline_s: f64,
    offline_bytes: [u64; 2],
    online_s: f64,
    /// The share files written (`--keep-shared`).
    shares: Vec<PathBuf>,
}

/// Encoded parameter tensors, in the order of `TrainProgram::params`.
type Params = Vec<Vec<R>>;

/// The spec (checked) and the file's initial parameters of `model` (a preset or an
/// ONNX file), trained in batches of `batch` at rate `lr` (default 0.2, and 0.05 for
/// two or more convolutions: 0.2 diverges there, measured on LeNet) with
/// `(momentum, decay, frac_bits)`.
pub(crate) fn model_spec(
    model: &str,
    batch: usize,
    lr: Option<f64>,
    (momentum, lr_decay, frac_bits): (f64, f64, u32),
) -> Result<(TrainSpec, Option<Params>), CliError> {
    let base = |mut s: TrainSpec| {
        s.momentum = momentum;
        s.lr_decay = lr_decay;
        s.frac_bits = frac_bits;
        s.lr = lr.unwrap_or(if s.convs.len() > 1 { 0.05 } else { 0.2 });
        s
    };
    let (spec, init) = match model {
        "mlp" => (base(TrainSpec::mlp(batch, 0.2)), None),
        "logreg" => (base(TrainSpec::logreg(batch, 0.2)), None),
        "cnn" => (base(TrainSpec::cnn(batch, 0.2)), None),
        "cnn-pool" => (base(TrainSpec::cnn_pool(batch, 0.2)), None),
        "cnn-maxpool" => (base(TrainSpec::cnn_maxpool(batch, 0.2)), None),
        "lenet" => (base(TrainSpec::lenet(batch, 0.2)), None),
        path => {
            let m = tessera_models::load_onnx_file(path)?;
            let (convs, dims, init) = trainable(&m, frac_bits)?;
            let s = TrainSpec {
                dims,
                convs,
                ..TrainSpec::mlp(batch, 0.2)
            };
            (base(s), Some(init))
        }
    };
    spec.validate()?;
    Ok((spec, init))
}

/// The parties `--reveal` names.
pub(crate) fn reveal_parties(reveal: &str) -> Result<Vec<usize>, CliError> {
    match reveal {
        "both" => Ok(vec![0, 1]),
        "0" => Ok(vec![0]),
        "1" => Ok(vec![1]),
        "none" => Ok(Vec::new()),
        o => Err(CliError::Usage(format!("--reveal {o}: both, 0, 1 or none"))),
    }
}

/// Checks `--holders`.
pub(crate) fn check_holders(holders: &str) -> Result<(), CliError> {
    match holders {
        "client" | "split" => Ok(()),
        o => Err(CliError::Usage(format!("--holders {o}: client or split"))),
    }
}

/// Checks that `path`'s directory exists (before a long run that ends by writing it).
pub(crate) fn writable(path: &std::path::Path) -> Result<(), CliError> {
    match path.parent().filter(|d| !d.as_os_str().is_empty()) {
        Some(dir) if !dir.is_dir() => Err(CliError::Usage(format!(
            "{}: the directory {} does not exist",
            path.display(),
            dir.display()
        ))),
        _ => Ok(()),
    }
}

/// The embedded MNIST digits encoded for a spec: the first `examples` training digits
/// (inputs, one-hot targets, labels) and the 2,000 test digits (inputs, labels).
pub(crate) struct Digits {
    pub x: Vec<R>,
    pub y: Vec<R>,
    pub train_labels: Vec<u8>,
    pub tx: Vec<R>,
    pub test_labels: Vec<u8>,
}

impl Digits {
    /// Loads and encodes them.
    ///
    /// # Errors
    /// A number of examples outside `1..=8000`; a model that does not map 784 pixels
    /// to 10 classes.
    pub(crate) fn load(spec: &TrainSpec, examples: usize) -> Result<Self, CliError> {
        if examples == 0 || examples > MNIST10K_TRAIN.len() {
            return Err(CliError::Usage(format!(
                "--examples {examples}: between 1 and {}",
                MNIST10K_TRAIN.len()
            )));
        }
        let m = assets::mnist()?;
        if m.rows() * m.cols() != spec.inputs() {
            return Err(CliError::Usage(format!(
                "the model takes {} inputs, MNIST digits have {} pixels",
                spec.inputs(),
                m.rows() * m.cols()
            )));
        }
        if spec.classes() != 10 {
            return Err(CliError::Usage(format!(
                "the model has {} outputs, MNIST has 10 classes",
                spec.classes()
            )));
        }
        let train = MNIST10K_TRAIN.start..MNIST10K_TRAIN.start + examples;
        let train_labels = m.labels(train.clone())?.to_vec();
        let (x, y) = encode_examples(spec, &pixels(&m, train)?, &train_labels)?;
        let test_labels = m.labels(MNIST10K_TEST)?.to_vec();
        let (tx, _) = encode_examples(spec, &pixels(&m, MNIST10K_TEST)?, &test_labels)?;
        Ok(Digits {
            x,
            y,
            train_labels,
            tx,
            test_labels,
        })
    }
}

/// The convolution, widths and encoded parameters (`W` as `[in, out]`, then `b`) of
/// a trainable model: optionally a 2-D convolution (one group, no padding or
/// dilation) with ReLU and a flatten, then dense layers with ReLU between them (a
/// softmax head is the training objective).
fn trainable(m: &Model, frac_bits: u32) -> Result<(Vec<Conv>, Vec<usize>, Params), CliError> {
    let fp = tessera_core::FixedPoint::new(frac_bits);
    let not_trainable = |l: &tessera_models::Layer| {
        CliError::Usage(format!(
            "layer {} ({}) is not trainable here: `tessera train` takes convolutions (one \
             group, square kernels, equal padding on every side), each with ReLU and an \
             optional pooling, then a flatten, then dense layers with ReLU between them (and \
             a softmax head)",
            l.name(),
            l.op().kind()
        ))
    };
    // [rows, cols] row-major → [cols, rows]: ours are [in, out].
    let transposed = |w: &[f32], rows: usize, cols: usize| -> Vec<f64> {
        (0..cols)
            .flat_map(|c| (0..rows).map(move |r| f64::from(w[r * cols + c])))
            .collect()
    };
    let bias = |b: &Option<tessera_models::Tensor>, o: usize| -> Vec<f64> {
        match b {
            Some(b) => b.data().iter().map(|&v| f64::from(v)).collect(),
            None => vec![0.0; o],
        }
    };
    let layers = m.layers();
    let mut convs: Vec<Conv> = Vec::new();
    let mut params = Vec::new();
    let mut at = 0;
    let end = || CliError::Usage("the model must end with a dense layer".into());
    // Convolution blocks: Conv, Relu, an optional pooling; each reads the one before.
    while let Some(l) = layers.get(at)
        && let Op::Conv(c) = l.op()
    {
        let ws = c.weight.shape();
        let w = &c.window;
        let input = match convs.last() {
            Some(prev) => prev.pooled_shape().to_vec(),
            None => m.input_shape().to_vec(),
        };
        if c.groups != 1
            || ws.len() != 4
            || ws[2] != ws[3]
            || input.len() != 3
            || ws[1] != input[0]
            || w.rank != 2
            || w.strides[0] != w.strides[1]
            || w.pad_begin[..2]
                .iter()
                .chain(&w.pad_end[..2])
                .any(|&p| p != w.pad_begin[0])
            || w.dilations[..2].iter().any(|&d| d != 1)
        {
            return Err(not_trainable(l));
        }
        let mut cv = Conv {
            input: [input[0], input[1], input[2]],
            out: ws[0],
            k: ws[2],
            stride: w.strides[0],
            pool: 1,
            max_pool: false,
            channels_last: !convs.is_empty(),
            pad: w.pad_begin[0],
        };
        params.push(fp.encode_slice::<R>(&transposed(c.weight.data(), cv.out, cv.patch()))?);
        params.push(fp.encode_slice::<R>(&bias(&c.bias, cv.out))?);
        at += 1;
        match layers.get(at) {
            Some(l) if l.op().kind() == "relu" => at += 1,
            Some(l) => return Err(not_trainable(l)),
            None => return Err(end()),
        }
        // An optional pooling: square windows, stride = window, no padding.
        if let Some(l) = layers.get(at)
            && let Op::AvgPool(p) | Op::MaxPool(p) = l.op()
        {
            let w = &p.window;
            if p.kernel[0] != p.kernel[1]
                || w.strides[..2] != p.kernel[..2]
                || w.pad_begin[..2]
                    .iter()
                    .chain(&w.pad_end[..2])
                    .any(|&x| x != 0)
                || w.ceil_mode
            {
                return Err(not_trainable(l));
            }
            cv.pool = p.kernel[0];
            cv.max_pool = matches!(l.op(), Op::MaxPool(_));
            at += 1;
        }
        convs.push(cv);
    }
    // After the convolutions, a flatten.
    if !convs.is_empty() {
        match layers.get(at) {
            Some(l) if l.op().kind() == "reshape" => at += 1,
            Some(l) => return Err(not_trainable(l)),
            None => return Err(end()),
        }
    }
    let conv = convs.last().copied();
    let mut dims = vec![match &conv {
        Some(c) => c.outputs(),
        None => m.input_len(),
    }];
    let mut want_dense = true;
    for (i, l) in layers.iter().enumerate().skip(at) {
        match (l.op(), want_dense) {
            (Op::Dense(d), true) => {
                let (o, k) = (d.weight.shape()[0], d.weight.shape()[1]);
                let mut w = transposed(d.weight.data(), o, k);
                // After a convolution ONNX flattens channel-major; ours is
                // position-major.
                if let (Some(c), true) = (&conv, i == at) {
                    let p = c.outputs() / c.out;
                    let mut v = vec![0.0; w.len()];
                    for ch in 0..c.out {
                        for pos in 0..p {
                            for j in 0..o {
                                v[(pos * c.out + ch) * o + j] = w[(ch * p + pos) * o + j];
                            }
                        }
                    }
                    w = v;
                }
                params.push(fp.encode_slice::<R>(&w)?);
                params.push(fp.encode_slice::<R>(&bias(&d.bias, o))?);
                dims.push(o);
                want_dense = false;
            }
            (Op::Relu, false) => want_dense = true,
            // A flatten before a dense layer moves no data.
            (op, true) if op.is_view() => {}
            _ => return Err(not_trainable(l)),
        }
    }
    if want_dense || dims.len() < 2 {
        return Err(CliError::Usage(
            "the model must end with a dense layer (its logits, or a softmax of them)".into(),
        ));
    }
    Ok((convs, dims, params))
}

pub(crate) fn accuracy(pred: &[usize], labels: &[u8]) -> f64 {
    let ok = pred
        .iter()
        .zip(labels)
        .filter(|(p, l)| **p == usize::from(**l))
        .count();
    ok as f64 / labels.len().max(1) as f64
}

/// The mean loss of `params` on `(x, labels)`: softmax cross-entropy, or the
/// logistic loss per output for the sigmoid objective (the exact functions, in
/// floating point).
fn loss(spec: &TrainSpec, params: &[Vec<R>], x: &[R], labels: &[u8]) -> f64 {
    let logits = tessera_engine::train::logits(spec, params, x);
    let c = spec.classes();
    let mut total = 0.0;
    for (row, &l) in logits.chunks(c).zip(labels) {
        let l = usize::from(l);
        total += match spec.head {
            Objective::SoftmaxCrossEntropy => {
                let m = row.iter().cloned().fold(f64::MIN, f64::max);
                let lse = m + row.iter().map(|v| (v - m).exp()).sum::<f64>().ln();
                lse - row[l]
            }
            Objective::SecureMlSigmoid => row
                .iter()
                .enumerate()
                .map(|(j, &z)| {
                    let p = 1.0 / (1.0 + (-z).exp());
                    let p = p.clamp(1e-12, 1.0 - 1e-12);
                    if j == l { -p.ln() } else { -(1.0 - p).ln() }
                })
                .sum(),
        };
    }
    total / labels.len().max(1) as f64
}

pub(crate) fn pixels(m: &Mnist, r: std::ops::Range<usize>) -> Result<Vec<u8>, CliError> {
    let mut out = Vec::with_capacity(r.len() * m.rows() * m.cols());
    for i in r {
        out.extend_from_slice(
            m.image(i)
                .ok_or_else(|| CliError::Usage(format!("MNIST record {i} missing")))?,
        );
    }
    Ok(out)
}

/// Runs `tessera train`.
///
/// # Errors
/// Usage errors, a shape mismatch, a fixed-point overflow, session errors.
pub async fn run(args: TrainArgs) -> Result<(), CliError> {
    if args.dataset != "mnist" {
        return Err(CliError::Usage(format!(
            "unknown dataset `{}` (known: mnist)",
            args.dataset
        )));
    }
    let reveal_to = reveal_parties(&args.s.reveal)?;
    check_holders(&args.s.holders)?;
    if args.out.is_some() && reveal_to.is_empty() {
        return Err(CliError::Usage(
            "--out needs the parameters revealed (--reveal both, 0 or 1)".into(),
        ));
    }
    // Where results go is checked before hours of training, not after.
    let prefix = args.keep_shared.as_ref().map(|p| share_path(p, 0));
    for path in args.out.iter().chain(&prefix) {
        writable(path)?;
    }
    let (spec, file_init) = args.s.spec()?;
    let Digits {
        x,
        y,
        train_labels,
        tx,
        test_labels,
    } = Digits::load(&spec, args.s.examples)?;

    let cal = Calibration::default_embedded()?;
    let tm = TimeModel::new(&cal, args.network).with_source(args.offline)?;
    let plan = match args.plan.as_str() {
        "auto" => tessera_planner::train::best_plan(&tm, &spec)?,
        name => TrainPlan::named(&spec, name)?,
    };
    let prog = TrainProgram::new(&spec, &plan)?;
    let init = match file_init {
        Some(p) => p,
        None => secure::init_params(&prog, args.s.seed),
    };

    // The reference: the same program in the clear, epoch by epoch.
    let head = spec.head_model()?;
    let (bsz, inp, c) = (spec.batch, spec.inputs(), spec.classes());
    let iterations = args.s.examples / bsz;
    let mut state = init.clone();
    state.extend(prog.zero_state().into_iter().skip(init.len()));
    let mut reference_acc = Vec::new();
    for e in 0..args.s.epochs {
        let prog = TrainProgram::new(&spec.at_epoch(e), &plan)?;
        for it in 0..iterations {
            plain::iteration(
                &prog,
                &head,
                &mut state,
                &x[it * bsz * inp..(it + 1) * bsz * inp],
                &y[it * bsz * c..(it + 1) * bsz * c],
            )?;
        }
        reference_acc.push(accuracy(
            &predict(&spec, &state[..init.len()], &tx),
            &test_labels,
        ));
        if args.reference_only {
            println!(
                "reference epoch {}: test accuracy {:.2} %",
                reference_acc.len(),
                100.0 * reference_acc[reference_acc.len() - 1]
            );
        }
    }
    if args.reference_only {
        return Ok(());
    }

    let job = TrainingJob::new(prog.clone(), args.s.examples, args.s.epochs, reveal_to)?;
    let steps: Vec<StepCost> = job.epoch_steps()?;
    let predicted = Predicted {
        epoch_online_s: tm.online(&steps),
        epoch_bytes_sent: total_price(&steps).bytes_sent,
        epoch_rounds: online_rounds(&steps),
    };
    if !args.json {
        eprintln!(
            "training {} {:?} on {} digits, batch {bsz} ({iterations} iterations per epoch), lr {}, \
             momentum {}, plan {}, network {}, offline {}; predicted per epoch: {:.2} s online, \
             {:.1} MB each way, {} rounds",
            args.s.model,
            spec.dims,
            args.s.examples,
            spec.lr,
            spec.momentum,
            plan.name(),
            args.network,
            args.offline.name(),
            predicted.epoch_online_s,
            predicted.epoch_bytes_sent[0] as f64 / 1e6,
            predicted.epoch_rounds
        );
    }
    let bar = if args.json {
        indicatif::ProgressBar::hidden()
    } else {
        indicatif::ProgressBar::new((iterations * args.s.epochs) as u64)
    };
    bar.set_style(
        indicatif::ProgressStyle::with_template("epoch {msg} [{bar:30}] {pos}/{len} iterations")
            .map_err(|e| CliError::Usage(e.to_string()))?,
    );
    let pb = bar.clone();
    let per = iterations;
    let job = job.with_progress(Arc::new(move |epoch, done| {
        pb.set_message(format!("{}", epoch + 1));
        pb.set_position((epoch * per + done) as u64);
    }));
    let inputs = match args.s.holders.as_str() {
        "client" => secure::inputs_held_by(1, x.clone(), y, init.clone(), &prog),
        _ => secure::inputs_partitioned(|i| (i / bsz) % 2, &x, &y, init.clone(), &prog),
    };
    let run = over_tcp(job, inputs, args.network, args.offline, args.timeout).await?;
    bar.finish_and_clear();

    let times = secure::epoch_times(&run);
    let mut epochs = Vec::new();
    let mut last = None;
    for (e, t) in times.iter().enumerate() {
        let reports: Vec<_> = run.parties.iter().map(|p| &p.output.epochs[e]).collect();
        let opened = reports.iter().find_map(|r| r.params.clone());
        let (l, tr, te) = match &opened {
            Some(p) => (
                Some(loss(&spec, p, &x[..iterations * bsz * inp], &train_labels)),
                Some(accuracy(
                    &predict(&spec, p, &x[..iterations * bsz * inp]),
                    &train_labels[..iterations * bsz],
                )),
                Some(accuracy(&predict(&spec, p, &tx), &test_labels)),
            ),
            None => (None, None, None),
        };
        last = opened.or(last);
        epochs.push(EpochOut {
            epoch: e + 1,
            loss: l,
            train_accuracy: tr,
            test_accuracy: te,
            reference_test_accuracy: reference_acc[e],
            online_s: t.as_secs_f64(),
            bytes_sent: [
                reports[0].peer.online.bytes_sent,
                reports[1].peer.online.bytes_sent,
            ],
            rounds: reports[0].peer.online.rounds,
        });
    }
    if let (Some(path), Some(p)) = (&args.out, &last) {
        let bytes = tessera_engine::train::to_onnx(&spec, p)?;
        std::fs::write(path, bytes)
            .map_err(|e| CliError::Usage(format!("cannot write {}: {e}", path.display())))?;
    }
    let [p0, p1] = &run.parties;
    let mut shares = Vec::new();
    if let Some(prefix) = &args.keep_shared {
        let pair = ModelShare::pair(&spec, [p0.output.shares.clone(), p1.output.shares.clone()])?;
        for s in &pair {
            let path = share_path(prefix, s.party);
            s.write(&path)?;
            shares.push(path);
        }
    }
    let report = Report {
        model: args.s.model.clone(),
        dims: spec.dims.clone(),
        objective: spec.head,
        plan: plan.name(),
        network: args.network.to_string(),
        offline: args.offline.name(),
        examples: args.s.examples,
        holders: args.s.holders.clone(),
        batch: bsz,
        iterations_per_epoch: iterations,
        lr: spec.lr,
        momentum: spec.momentum,
        test_accuracy: epochs.last().and_then(|e| e.test_accuracy),
        reference_test_accuracy: reference_acc.last().copied().unwrap_or(0.0),
        predicted,
        offline_s: p0.offline.max(p1.offline).as_secs_f64(),
        offline_bytes: [
            p0.peer.offline.bytes_sent + p0.source.offline.bytes_received,
            p1.peer.offline.bytes_sent + p1.source.offline.bytes_received,
        ],
        online_s: times.iter().map(Duration::as_secs_f64).sum(),
        epochs,
        shares,
    };
    if args.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&report).map_err(|e| CliError::Usage(e.to_string()))?
        );
        return Ok(());
    }
    for e in &report.epochs {
        let pct = |v: Option<f64>| v.map_or("—".to_string(), |v| format!("{:.2} %", 100.0 * v));
        println!(
            "epoch {}: loss {}, train accuracy {}, test accuracy {} (reference {:.2} %), \
             {:.2} s online, {:.1} MB each way, {} rounds",
            e.epoch,
            e.loss.map_or("—".to_string(), |l| format!("{l:.4}")),
            pct(e.train_accuracy),
            pct(e.test_accuracy),
            100.0 * e.reference_test_accuracy,
            e.online_s,
            e.bytes_sent[0] as f64 / 1e6,
            e.rounds
        );
    }
    println!(
        "offline ({}): {:.2} s; online: {:.2} s in all",
        report.offline, report.offline_s, report.online_s
    );
    if let Some(path) = &args.out {
        println!("trained model written to {}", path.display());
    }
    for path in &report.shares {
        println!("model share written to {}", path.display());
    }
    Ok(())
}

/// Runs an engine job with the dealer (or the OT source) and both parties in this
/// process over TCP loopback shaped to `network`, within `timeout` seconds.
pub(crate) async fn over_tcp<J>(
    job: J,
    inputs: [J::Input; 2],
    network: NetworkProfile,
    offline: Offline,
    timeout: u64,
) -> Result<tessera_protocols::runtime::local::LocalRun<J::Output>, CliError>
where
    J: tessera_protocols::runtime::Job<Error = tessera_engine::Error> + 'static,
    J::Input: 'static,
    J::Output: 'static,
{
    let opts = RunOptions {
        offline,
        ..RunOptions::default()
    };
    Ok(tessera_engine::session::run_here(
        job,
        inputs,
        ChannelConfig::with_profile(network),
        opts,
        Transport::Tcp,
        Duration::from_secs(timeout),
    )
    .await?)
}

/// Party `party`'s share file of the model kept under `prefix`.
pub fn share_path(prefix: &std::path::Path, party: usize) -> PathBuf {
    let mut p = prefix.as_os_str().to_owned();
    p.push(format!(".party{party}.share"));
    PathBuf::from(p)
}
