//! Secure inference as a job of the session runtime
//! ([`tessera_protocols::runtime`]): [`InferenceJob`] says what both parties agree on
//! (ring, architecture, assignment, batch), the demand, the set-up (party 0's masked
//! weights, [`setup_party`]) and the online phase ([`infer_party`]); the runtime does
//! the rest (handshakes, offline source, phases, metering, timings). [`loopback`] runs
//! the dealer and both parties in this process over TCP loopback.

use std::sync::Arc;
use std::time::Duration;

use sha2::{Digest, Sha256};
use tessera_conversions::Converter;
use tessera_core::{ChannelConfig, ConfigSummary, NetworkProfile, Ring};
use tessera_protocols::ArithParty;
use tessera_protocols::Demand;
use tessera_protocols::runtime::local::{Local, LocalRun, Transport, run_local};
use tessera_protocols::runtime::{Job, PartyOutcome, SessionError};

use crate::{
    Assignment, Prepared, RunOptions, SecureOutput, assignment_steps, demand, infer_party,
    setup_party,
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

/// One secure inference of a batch: party 0 holds the model's weights, party 1 the
/// input (its [`Job::Input`]: the encoded batch; `None` at party 0) and learns the
/// labels (and scores).
pub struct InferenceJob<R: Ring> {
    model: FixedModel<R>,
    assignment: Assignment,
    batch: usize,
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
    /// `assignment` of `model` on `batch` examples, every step checked against the
    /// limits in `opts` before anything runs.
    ///
    /// # Errors
    /// The assignment does not fit the model, or a step is over a limit.
    pub fn new(
        model: FixedModel<R>,
        assignment: Assignment,
        batch: usize,
        opts: RunOptions,
    ) -> Result<Self> {
        opts.check(&assignment_steps(&model, &assignment, batch)?)?;
        let config = config_summary(&model, &assignment, batch)?;
        Ok(InferenceJob {
            model,
            assignment,
            batch,
            opts,
            config,
        })
    }
}

impl<R: Ring> Job for InferenceJob<R> {
    type Ring = R;
    type Input = Option<Vec<R>>;
    type Prepared = Prepared<R>;
    type Output = SecureOutput<R>;
    type Error = Error;

    fn config(&self) -> ConfigSummary {
        self.config.clone()
    }

    fn demand(&self) -> Result<Demand> {
        demand(&self.model, &self.assignment, self.batch)
    }

    async fn setup(&self, party: &mut ArithParty<R>) -> Result<Prepared<R>> {
        setup_party(party, &self.model, &self.assignment).await
    }

    async fn online(
        &self,
        party: &mut ArithParty<R>,
        prepared: Prepared<R>,
        input: Option<Vec<R>>,
    ) -> Result<SecureOutput<R>> {
        let mut conv = Converter::new(party.party())?;
        infer_party(
            party,
            &mut conv,
            &self.model,
            &self.assignment,
            &prepared,
            input.as_deref(),
            self.batch,
            self.opts,
        )
        .await
    }
}

/// What one party's session measured (the runtime's outcome of an
/// [`InferenceJob`]).
pub type PartyReport<R> = PartyOutcome<SecureOutput<R>>;

/// Both parties' reports of a [`loopback`] run.
pub type LoopbackRun<R> = LocalRun<SecureOutput<R>>;

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
    let job = InferenceJob::new(model.clone(), assignment.clone(), batch, opts)?;
    let local = Local {
        dealer: ChannelConfig {
            profile: NetworkProfile::LOCAL,
            ..channel
        },
        offline: opts.offline,
        ..Local::new(Transport::Tcp, channel, deadline)
    };
    run_local(Arc::new(job), [None, Some(input.to_vec())], &local)
        .await
        .map_err(SessionError::into_source)
}
