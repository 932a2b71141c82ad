//! The model job: secure inference of an ONNX model, party 0 holding the weights and
//! party 1 the input (it alone learns the labels). Used by `tessera party ... model`.
//!
//! Both parties load the model file: party 0 for its weights, party 1 for the
//! architecture only (its code never reads a weight, so a copy with the weights zeroed
//! works the same). The handshakes check the ring, the architecture's SHA-256, the
//! plan's SHA-256, the batch, the number of queries and the output kind.
//!
//! A session answers `--queries` queries of `--batch` examples each, in order, after one
//! set-up (party 0's masked weights, sent once) and one offline phase for all of them
//! ([`InferenceJob::serving`]): a model owner serving one client pays the per-model
//! set-up once, not per query.

use clap::Args;
use serde::Serialize;
use tessera_core::{ConfigSummary, FixedPoint, Ring, Z64};
use tessera_engine::session::{Answers, InferenceJob, architecture_digest};
use tessera_engine::{self, Assignment, Output, RunOptions, SecureOutput};
use tessera_models::{FixedModel, Model};
use tessera_protocols::runtime::Job as RuntimeJob;
use tessera_protocols::{ArithParty, Demand};

use super::{Job, PartyRun, base_config, print_json, print_labels};
use crate::CliError;
use crate::infer::{load_inputs_for, load_model, output_display_names, resolve_plan};
use crate::outputs::OutputTensor;

type R = Z64;

/// Options of `tessera party ... model`.
#[derive(Args, Debug, Clone)]
pub struct PartyModelArgs {
    /// The ONNX model, or `mlp` / `cnn` (embedded).
    #[arg(long, default_value = "cnn")]
    pub model: String,
    /// The plan: a baseline (`pure-b`, `pure-y`, `a+y`, `a+b`, `pure-a`), `auto`, or a
    /// plan file — the same at both parties.
    #[arg(long, default_value = "a+b")]
    pub plan: String,
    /// Examples per query.
    #[arg(long, default_value_t = 1)]
    pub batch: usize,
    /// Queries answered in this session, each of `--batch` examples, one after another
    /// after one set-up and one offline phase for all of them (party 1's input holds
    /// queries × batch examples, in order) — the same at both parties.
    #[arg(long, default_value_t = 1)]
    pub queries: usize,
    /// Fractional bits (ring Z_2^64).
    #[arg(long, default_value_t = 16)]
    pub frac_bits: u32,
    /// What an ONNX `Sigmoid` computes: `logistic` or `secureml` — the same at both
    /// parties (the architecture digest differs otherwise).
    #[arg(long, default_value = "logistic", value_parser = crate::parse_sigmoid)]
    pub sigmoid: tessera_models::SigmoidKind,
    /// The client receives the scores, not only the label.
    #[arg(long)]
    pub logits: bool,
    /// Party 1: a float32 `.npy` input of the model's shape (optional batch dimension).
    #[arg(long)]
    pub input: Option<std::path::PathBuf>,
    /// Party 1: `mnist` — the first queries × batch embedded test digits.
    #[arg(long)]
    pub dataset: Option<String>,
    /// One party's memory bound in bytes for a layer stage in GMW (default 1 GiB): a
    /// larger stage runs in chunks of instances, more rounds (priced) — the same at
    /// both parties.
    #[arg(long, value_name = "BYTES")]
    pub working_set: Option<u64>,
}

/// The most queries one session answers: their correlations are all dealt before the
/// first (party 1's corrections from the dealer, 0.5 MB per CNN digit under `a+b`, go
/// to disk above 1 GiB).
pub const MAX_QUERIES: usize = 10_000;

/// A model job, read and checked.
pub struct ModelJob {
    name: String,
    model: Model,
    batch: usize,
    queries: usize,
    /// The engine's job: the fixed-point model and the assignment; demand, set-up and
    /// the queries' online phases.
    inner: InferenceJob<R>,
}

impl ModelJob {
    /// Loads the model and resolves the plan.
    ///
    /// # Errors
    /// An unreadable model, an unknown plan, a zero batch or number of queries, a
    /// plan over the run's limits.
    pub fn from_args(a: &PartyModelArgs) -> Result<Self, CliError> {
        if a.batch == 0 {
            return Err(CliError::Usage("--batch must be at least 1".into()));
        }
        if !(1..=MAX_QUERIES).contains(&a.queries) {
            return Err(CliError::Usage(format!(
                "--queries must be 1 to {MAX_QUERIES} (one session deals every query's \
                 correlations ahead of the first)"
            )));
        }
        let model = load_model(&a.model, a.sigmoid, a.logits)?;
        let fixed = FixedModel::<R>::new(&model, FixedPoint::new(a.frac_bits))?;
        let output = if a.logits {
            Output::Logits
        } else {
            Output::Label
        };
        let mut assignment = resolve_plan(
            &a.plan,
            &a.model,
            &fixed,
            output,
            a.batch,
            tessera_core::NetworkProfile::LAN,
        )?;
        if a.working_set.is_some() {
            assignment.working_set = a.working_set;
        }
        // The limits are checked here, before anything is sent.
        let inner = InferenceJob::serving(
            fixed,
            assignment,
            &vec![a.batch; a.queries],
            RunOptions::default(),
        )?;
        Ok(ModelJob {
            name: a.model.clone(),
            model,
            batch: a.batch,
            queries: a.queries,
            inner,
        })
    }

    /// Examples in the whole session (at most `--batch` × [`MAX_QUERIES`]; the batch is
    /// bounded by the plan's limits, checked when the job is made).
    fn examples(&self) -> usize {
        self.batch.saturating_mul(self.queries)
    }

    /// This party's input: party 1's encoded batch; party 0 has none.
    ///
    /// # Errors
    /// Party 1 without an input, or an input of the wrong shape or size.
    pub fn party_inputs(&self, id: usize, a: &PartyModelArgs) -> Result<Option<Vec<R>>, CliError> {
        if id == 0 {
            if a.input.is_some() || a.dataset.is_some() {
                return Err(CliError::Usage(
                    "party 0 (the model owner) has no input; give it to party 1".into(),
                ));
            }
            return Ok(None);
        }
        let (x, _) = load_inputs_for(
            a.input.as_deref(),
            a.dataset.as_deref(),
            self.examples(),
            &self.model,
        )?;
        let n = self.model.batch_of(x.len())?;
        if n != self.examples() {
            return Err(CliError::Usage(format!(
                "the input holds {n} examples, --queries {} of --batch {} need {}",
                self.queries,
                self.batch,
                self.examples()
            )));
        }
        Ok(Some(self.inner.model().encode_input(&x)?))
    }
}

#[derive(Serialize)]
struct Report<'a> {
    party: usize,
    job: &'static str,
    session: String,
    model: &'a str,
    plan: &'a Assignment,
    batch: usize,
    queries: usize,
    /// Each query's online time and this party's traffic with the peer in it.
    per_query: Vec<QueryLine>,
    labels: Option<&'a [usize]>,
    /// Every output party 1 received (decoded, under its graph name).
    outputs: &'a [OutputTensor],
    network: &'a str,
    offline_ms: f64,
    online_ms: f64,
    metering: &'a tessera_core::Metering,
}

impl RuntimeJob for ModelJob {
    type Ring = R;
    /// Party 1's encoded input batch.
    type Input = Option<Vec<R>>;
    /// The model's set-up: the masked weights and the circuits.
    type Prepared = tessera_engine::Prepared<R>;
    /// The client's labels (and scores) of every query, in order, and each query's
    /// measurements; no labels for party 0.
    type Output = Answers<R>;
    type Error = CliError;

    fn config(&self) -> ConfigSummary {
        let plan = serde_json::to_vec(self.inner.assignment()).unwrap_or_default();
        let config = base_config("model", R::NAME)
            .with("architecture", architecture_digest(self.inner.model()))
            .with(
                "plan",
                hex::encode(<sha2::Sha256 as sha2::Digest>::digest(&plan)),
            )
            .with("batch", self.batch);
        // One query's session says nothing more (its handshake as before queries).
        let config = if self.queries > 1 {
            config.with("queries", self.queries)
        } else {
            config
        };
        config.with(
            "output",
            format!("{:?}", self.inner.assignment().output).to_lowercase(),
        )
    }

    /// Every query's correlations, dealt in one offline phase.
    fn demand(&self) -> Result<Demand, CliError> {
        Ok(self.inner.demand()?)
    }

    /// The per-model set-up ([`tessera_engine::setup_party`]: party 0's masked
    /// weights, once for all queries, metered as set-up; the circuits).
    async fn setup(&self, p: &mut ArithParty<R>) -> Result<Self::Prepared, CliError> {
        Ok(self.inner.setup(p).await?)
    }

    /// The queries ([`tessera_engine::infer_party`] each) on the one set-up.
    async fn online(
        &self,
        p: &mut ArithParty<R>,
        prepared: Self::Prepared,
        inputs: Option<Vec<R>>,
    ) -> Result<Answers<R>, CliError> {
        Ok(self.inner.online(p, prepared, inputs).await?)
    }
}

/// One query's line of the JSON report.
#[derive(Serialize)]
struct QueryLine {
    examples: usize,
    online_ms: f64,
    bytes_sent: u64,
    bytes_received: u64,
    rounds: u64,
}

impl QueryLine {
    fn of(q: &tessera_engine::session::QueryReport) -> Self {
        let m = q.peer.online;
        QueryLine {
            examples: q.examples,
            online_ms: q.span.1.saturating_duration_since(q.span.0).as_secs_f64() * 1e3,
            bytes_sent: m.bytes_sent,
            bytes_received: m.bytes_received,
            rounds: m.rounds,
        }
    }
}

impl ModelJob {
    /// The outputs party 1 received (none at party 0), decoded under their display
    /// names ([`output_display_names`]), in the model's order.
    fn received_outputs(&self, out: &SecureOutput<R>) -> Result<Vec<OutputTensor>, CliError> {
        let names = output_display_names(&self.model);
        let shapes = self.model.output_shapes();
        let mut tensors = Vec::new();
        for (k, got) in out.outputs.iter().enumerate() {
            let (Some(got), Some(name), Some(shape)) = (got, names.get(k), shapes.get(k)) else {
                continue;
            };
            tensors.push(OutputTensor::decode(
                name.clone(),
                shape.to_vec(),
                self.examples(),
                &got.values,
                self.inner.model().fixed_point(),
            )?);
        }
        Ok(tensors)
    }
}

impl Job for ModelJob {
    fn print(&self, run: &PartyRun<Self::Output>, json: bool) -> Result<(), CliError> {
        let answers = &run.output;
        let labels = answers.output.labels.as_deref();
        let outputs = self.received_outputs(&answers.output)?;
        let per_query: Vec<QueryLine> = answers.queries.iter().map(QueryLine::of).collect();
        if let (true, Some(first)) = (self.queries > 1, per_query.first()) {
            // Times and traffic only: nothing of either party's data.
            let mut ms: Vec<f64> = per_query.iter().map(|q| q.online_ms).collect();
            ms.sort_by(f64::total_cmp);
            eprintln!(
                "party {}: {} queries after one set-up; online per query: median {:.2} ms \
                 (fastest {:.2} ms, slowest {:.2} ms); the first sent {} B, received {} B",
                run.party,
                per_query.len(),
                ms[ms.len() / 2],
                ms[0],
                ms[ms.len() - 1],
                first.bytes_sent,
                first.bytes_received,
            );
        }
        if json {
            let r = Report {
                party: run.party,
                job: "model",
                session: run.session.to_string(),
                model: &self.name,
                plan: self.inner.assignment(),
                batch: self.batch,
                queries: self.queries,
                per_query,
                labels,
                outputs: &outputs,
                network: &run.network,
                offline_ms: run.offline.as_secs_f64() * 1e3,
                online_ms: run.online.as_secs_f64() * 1e3,
                metering: &run.metering,
            };
            print_json(&r)
        } else {
            print_labels(labels, run.party, "the model owner");
            // Then the other outputs received (the scores with --logits).
            for t in &outputs {
                println!("{}", t.text(usize::MAX, usize::MAX));
            }
            Ok(())
        }
    }
}
