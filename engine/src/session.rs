//! Secure inference as a job of the session runtime
//! ([`tessera_protocols::runtime`]): [`InferenceJob`] says what both parties agree on
//! (ring, architecture, assignment, batch), the demand, the set-up (party 0's masked
//! weights, [`setup_party`]) and the online phase ([`infer_party`], once per query: a
//! run sets the model up once and answers any number of queries on it); the runtime
//! does the rest (handshakes, offline source, phases, metering, timings). [`loopback`]
//! runs the dealer and both parties in this process over TCP loopback, one query;
//! [`serve_loopback`] several queries after one set-up.

use std::sync::Arc;
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};
use tessera_conversions::Converter;
use tessera_core::{ChannelConfig, ConfigSummary, NetworkProfile, Ring};
use tessera_protocols::ArithParty;
use tessera_protocols::Demand;
use tessera_protocols::runtime::local::{Local, LocalRun, Transport, run_local};
use tessera_protocols::runtime::{Job, PartyOutcome, SessionError};

use crate::{
    Assignment, Prepared, RunOptions, SecureOutput, ServingCost, infer_party, setup_party,
};
use crate::{Error, Result};
use tessera_models::fixed::FixedModel;

/// The SHA-256 of a model's architecture and fixed-point format — what both parties
/// must agree on (the weights are party 0's secret and do not enter it): every layer
/// with the values it reads, its shapes and its public hyper-parameters
/// (`Operator::hyper`: an activation's `α`, a slope's shape; a spline's coefficient
/// table), and which values are the outputs (what the client will receive).
pub fn architecture_digest<R: Ring>(model: &FixedModel<R>) -> String {
    let mut h = Sha256::new();
    h.update(R::NAME.as_bytes());
    h.update(model.fixed_point().frac_bits.to_le_bytes());
    for fl in model.layers() {
        let l = fl.layer();
        h.update(
            format!(
                "{}|{:?}|{:?}|{:?}|{}|{};",
                l.op().kind(),
                l.inputs(),
                l.input_shapes(),
                l.output_shape(),
                fl.weight().is_some(),
                fl.bias().is_some()
            )
            .as_bytes(),
        );
        // Public hyper-parameters that shape the circuits and the A steps (an
        // activation's α, a convolution's or pooling's window, a re-indexing's table):
        // layers of equal shapes may differ in them.
        let hyper = tessera_models::dispatch_op!(l.op(), D, a => {
            <D as tessera_models::ops::Operator>::hyper(a)
        });
        if !hyper.is_empty() {
            h.update(format!("hyper {hyper};").as_bytes());
        }
        // A spline's public table, which each party fits with its own floating-point
        // library: a difference in one coefficient fails the handshake rather than the
        // circuits silently disagreeing.
        if let Some(Ok(sp)) =
            tessera_models::ops::spline::spline_of(l.op(), model.fixed_point().frac_bits, R::BITS)
        {
            h.update(format!("spline {:?} {:?} {:?};", sp.levels, sp.below, sp.above).as_bytes());
        }
    }
    // The outputs (values, in order); their names are local labels and do not enter.
    // A model whose only output is the last layer's hashes as before outputs existed.
    if model.outputs() != [model.layers().len()] {
        h.update(format!("outputs{:?};", model.outputs()).as_bytes());
    }
    hex::encode(h.finalize())
}

/// The configuration both parties and the dealer check in the handshake: ring,
/// architecture, assignment and batch. A difference names the field.
///
/// # Errors
/// If the assignment cannot be serialised (never).
pub fn config_summary<R: Ring>(
    model: &FixedModel<R>,
    assignment: &Assignment,
    batch: usize,
) -> Result<ConfigSummary> {
    let plan = serde_json::to_vec(assignment).map_err(|e| Error::Plan(e.to_string()))?;
    Ok(ConfigSummary::new()
        .with("job", "secure inference")
        .with("ring", R::NAME)
        .with("architecture", architecture_digest(model))
        .with("plan", hex::encode(Sha256::digest(&plan)))
        .with("batch", batch))
}

/// The queries' sizes in runs of equal sizes, `count×examples` joined by `+` (`20×1`,
/// `3×100+1×7`): what the handshake compares for a run of several queries.
fn queries_summary(sizes: &[usize]) -> String {
    let mut runs: Vec<(usize, usize)> = Vec::new();
    for &n in sizes {
        match runs.last_mut() {
            Some((k, m)) if *m == n => *k += 1,
            _ => runs.push((1, n)),
        }
    }
    runs.iter()
        .map(|(k, n)| format!("{k}×{n}"))
        .collect::<Vec<_>>()
        .join("+")
}

/// Secure inference of one or several queries of a client after **one** set-up of
/// the model: party 0 holds the model's weights, party 1 the input of every query
/// (its [`Job::Input`]: the encoded examples of all queries one after another; `None`
/// at party 0) and learns their labels (and scores).
///
/// # What is per model, what per query
/// - **Per model** (paid once per run, [`Job::setup`]): the weight mask `U` of each
///   plaintext-weight (A dense/conv) layer — a request of the demand that party 0
///   expands from its seed, no dealer bytes — and party 0's masked weight `W − U`,
///   sent once in the set-up phase; the circuits of the B/Y layers and of the argmax,
///   built from the public architecture.
/// - **Per query** ([`Job::online`], once per query, in order): every correlation a
///   query consumes — the plaintext-weight products' `V` and shares of `f(V, U)`,
///   Beaver triples, truncation pairs, AND triples, random OTs, daBits — dealt in the
///   same offline phase as the set-up's masks but each for one query, and taken from
///   the store in demand order, so no correlation serves two queries (the store hands
///   each out once: a query past the dealt ones finds the store exhausted). A fresh
///   conversion state (Yao's free-XOR offset and keys) per query, as in separate runs.
///
/// Reusing `U` across queries is the construction's one-time set-up
/// ([`tessera_protocols::arith::plain`]): `W − U` crosses the network once, `U` reaches
/// party 1 in no other form, and each query's `f(V, U)` is shared under a fresh mask
/// `Z₀` and paired with a fresh `V`, so the queries' views are those of separate runs
/// that happen to share one masked weight.
///
/// The job's exact price is [`ServingCost`]: the set-up once, each query's online steps.
pub struct InferenceJob<R: Ring> {
    model: FixedModel<R>,
    assignment: Assignment,
    cost: ServingCost,
    opts: RunOptions,
    config: ConfigSummary,
}

impl<R: Ring> std::fmt::Debug for InferenceJob<R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("InferenceJob")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl<R: Ring> InferenceJob<R> {
    /// `assignment` of `model` on one query of `batch` examples, every step checked
    /// against the limits in `opts` before anything runs.
    ///
    /// # Errors
    /// The assignment does not fit the model, or a step is over a limit.
    pub fn new(
        model: FixedModel<R>,
        assignment: Assignment,
        batch: usize,
        opts: RunOptions,
    ) -> Result<Self> {
        Self::serving(model, assignment, &[batch], opts)
    }

    /// `assignment` of `model` answering queries of `sizes[q]` examples each after one
    /// set-up (see the type's docs), every step checked against the limits in `opts`.
    ///
    /// # Errors
    /// No query or an empty one; the assignment does not fit the model; a step over a
    /// limit.
    pub fn serving(
        model: FixedModel<R>,
        assignment: Assignment,
        sizes: &[usize],
        opts: RunOptions,
    ) -> Result<Self> {
        let cost = ServingCost::new(&model, &assignment, sizes)?;
        for q in 0..sizes.len() {
            if !sizes[..q].contains(&sizes[q]) {
                opts.check(cost.query_steps(q))?;
            }
        }
        let mut config = config_summary(&model, &assignment, sizes[0])?;
        if sizes.len() > 1 {
            config = config.with("queries", queries_summary(sizes));
        }
        Ok(InferenceJob {
            model,
            assignment,
            cost,
            opts,
            config,
        })
    }

    /// The run's exact price: the set-up, and each query's online steps.
    pub fn cost(&self) -> &ServingCost {
        &self.cost
    }

    /// The model the job runs.
    pub fn model(&self) -> &FixedModel<R> {
        &self.model
    }

    /// The assignment it runs under.
    pub fn assignment(&self) -> &Assignment {
        &self.assignment
    }
}

/// What one query of a run measured at one party.
#[derive(Clone, Debug)]
pub struct QueryReport {
    /// The query's examples.
    pub examples: usize,
    /// This party's link to the other party during the query (all of it online).
    pub peer: tessera_core::Metering,
    /// When this party started and finished the query.
    pub span: (Instant, Instant),
}

/// What one party obtains from a run of several queries: the outputs of every query,
/// one after another (the client's; nothing at party 0), and each query's measurements.
/// Its `Debug` shows no output.
#[derive(Debug)]
pub struct Answers<R> {
    /// The outputs of all queries, example after example ([`SecureOutput::concat`]).
    pub output: SecureOutput<R>,
    /// Each query's measurements, in order.
    pub queries: Vec<QueryReport>,
}

impl<R: Ring> Job for InferenceJob<R> {
    type Ring = R;
    type Input = Option<Vec<R>>;
    type Prepared = Prepared<R>;
    type Output = Answers<R>;
    type Error = Error;

    fn config(&self) -> ConfigSummary {
        self.config.clone()
    }

    fn demand(&self) -> Result<Demand> {
        Ok(self.cost.demand())
    }

    async fn setup(&self, party: &mut ArithParty<R>) -> Result<Prepared<R>> {
        setup_party(party, &self.model, &self.assignment).await
    }

    async fn online(
        &self,
        party: &mut ArithParty<R>,
        prepared: Prepared<R>,
        input: Option<Vec<R>>,
    ) -> Result<Answers<R>> {
        let per: usize = self
            .model
            .layers()
            .first()
            .map_or(0, |l| l.layer().input_shape().iter().product());
        let total: usize = self.cost.sizes.iter().sum();
        if let Some(x) = &input
            && x.len() != total * per
        {
            return Err(Error::shape(
                "secure input",
                format!(
                    "{} values for {} queries of {total} examples of {per} in all",
                    x.len(),
                    self.cost.sizes.len()
                ),
            ));
        }
        let mut parts = Vec::with_capacity(self.cost.sizes.len());
        let mut queries = Vec::with_capacity(self.cost.sizes.len());
        let mut first = 0;
        for &n in &self.cost.sizes {
            let x = input.as_deref().map(|x| &x[first * per..(first + n) * per]);
            let before = *party.channel().metering();
            let start = Instant::now();
            let mut conv = Converter::new(party.party())?;
            let out = infer_party(
                party,
                &mut conv,
                &self.model,
                &self.assignment,
                &prepared,
                x,
                n,
                self.opts,
            )
            .await?;
            queries.push(QueryReport {
                examples: n,
                peer: party.channel().metering().since(&before),
                span: (start, Instant::now()),
            });
            parts.push(out);
            first += n;
        }
        Ok(Answers {
            output: SecureOutput::concat(parts)?,
            queries,
        })
    }
}

/// What one party's session measured (the runtime's outcome of a one-query
/// [`InferenceJob`]).
pub type PartyReport<R> = PartyOutcome<SecureOutput<R>>;

/// Both parties' reports of a [`loopback`] run.
pub type LoopbackRun<R> = LocalRun<SecureOutput<R>>;

/// Both parties' reports of a [`serve_loopback`] run: every query's outputs and
/// measurements.
pub type ServingRun<R> = LocalRun<Answers<R>>;

/// Each query's online latency in a [`serve_loopback`] run: from the moment the later
/// party starts it to the moment the later one finishes it (as
/// [`LocalRun::online_latency`] for a whole online phase).
pub fn query_latencies<R>(run: &ServingRun<R>) -> Vec<Duration> {
    let [a, b] = &run.parties;
    a.output
        .queries
        .iter()
        .zip(&b.output.queries)
        .map(|(x, y)| joint_span(x.span, y.span))
        .collect()
}

/// The time from the later of two parties' starts to the later of their ends: what a
/// phase both run takes.
pub fn joint_span(a: (Instant, Instant), b: (Instant, Instant)) -> Duration {
    a.1.max(b.1).saturating_duration_since(a.0.max(b.0))
}

/// Runs the dealer and both parties in this process, each in its own task, over
/// three TCP loopback connections: the parties' shaped by `channel.profile`, the
/// dealer's unshaped; the whole run must finish within `deadline`. With
/// `opts.offline` = [`Offline::Ot`](tessera_protocols::runtime::local::Offline::Ot)
/// there is no dealer: the parties make their correlations by OT extension over
/// their own (shaped) link.
///
/// # Errors
/// The first error of any role; the deadline.
pub async fn loopback<R: Ring>(
    model: &FixedModel<R>,
    assignment: &Assignment,
    input: &[R],
    batch: usize,
    channel: ChannelConfig,
    opts: RunOptions,
    deadline: Duration,
) -> Result<LoopbackRun<R>> {
    let run = serve_loopback(
        model,
        assignment,
        input,
        &[batch],
        channel,
        opts,
        Transport::Tcp,
        deadline,
    )
    .await?;
    let [p0, p1] = run.parties;
    Ok(LocalRun {
        parties: [p0.map(|a| a.output), p1.map(|a| a.output)],
        served: run.served,
    })
}

/// As [`loopback`], answering queries of `sizes[q]` examples (their inputs one after
/// another in `input`) after one set-up and one offline phase for all of them
/// ([`InferenceJob::serving`]), over `transport`.
///
/// # Errors
/// The first error of any role; the deadline.
#[allow(clippy::too_many_arguments)]
pub async fn serve_loopback<R: Ring>(
    model: &FixedModel<R>,
    assignment: &Assignment,
    input: &[R],
    sizes: &[usize],
    channel: ChannelConfig,
    opts: RunOptions,
    transport: Transport,
    deadline: Duration,
) -> Result<ServingRun<R>> {
    let job = InferenceJob::serving(model.clone(), assignment.clone(), sizes, opts)?;
    run_here(
        job,
        [None, Some(input.to_vec())],
        channel,
        opts,
        transport,
        deadline,
    )
    .await
}

/// Runs any engine job (secure inference, training, inference with a shared model)
/// with the dealer — or, with `opts.offline`, the OT source — and both parties in this
/// process over `transport`, the parties' link shaped by `channel.profile`, each
/// party given its input; the whole run within `deadline`.
///
/// # Errors
/// The first error of any role; the deadline.
pub async fn run_here<J>(
    job: J,
    inputs: [J::Input; 2],
    channel: ChannelConfig,
    opts: RunOptions,
    transport: Transport,
    deadline: Duration,
) -> Result<LocalRun<J::Output>>
where
    J: Job<Error = Error> + 'static,
    J::Input: 'static,
    J::Output: 'static,
{
    let local = local_roles(channel, opts, transport, deadline);
    run_local(Arc::new(job), inputs, &local)
        .await
        .map_err(SessionError::into_source)
}

/// The three roles of a run in this process: the parties' link shaped by
/// `channel.profile`, the dealer's unshaped, the offline source of `opts`.
pub(crate) fn local_roles(
    channel: ChannelConfig,
    opts: RunOptions,
    transport: Transport,
    deadline: Duration,
) -> Local {
    Local {
        dealer: ChannelConfig {
            profile: NetworkProfile::LOCAL,
            ..channel
        },
        offline: opts.offline,
        ..Local::new(transport, channel, deadline)
    }
}
