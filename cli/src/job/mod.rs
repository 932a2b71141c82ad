//! Jobs: what the two parties compute together.
//!
//! A job is one description that every role uses. Both parties build it from their own
//! command line; the dealer never parses it and learns only its configuration, through
//! the handshake. A job says
//! - what all three roles must agree on ([`Job::config`]: checked in every handshake,
//!   so two parties started with different circuits, batches or protocols stop with an
//!   error naming the key that differs);
//! - the correlated randomness one run consumes ([`Job::demand`]: what the dealer
//!   generates, and what a preprocessing file must answer);
//! - one party's online phase ([`Job::online`]: given its channel to the other party,
//!   its preprocessing store and its own inputs);
//! - how a party prints what it learned ([`Job::print`]).
//!
//! The drivers in [`crate::session`] run any job in every deployment: the single-process
//! `tessera circuit` (dealer and both parties as tasks), and the multi-process
//! `tessera dealer` plus two `tessera party` processes, with the offline and online
//! phases together or apart (through a preprocessing file).
//!
//! Two jobs: [`circuit::CircuitJob`], a Bristol Fashion circuit under GMW or Yao, and
//! [`model::ModelJob`], secure inference of an ONNX model under a plan.
//!
//! # Adding a job
//! 1. Write a type that implements [`Job`], in a module next to [`circuit`]. Start its
//!    configuration from [`base_config`] with the job's name and ring (the dealer
//!    generates material for the ring named there), and add every value the two parties
//!    must share (a model's hash, the plan, the fixed-point precision, ...). Make
//!    `demand` a pure function of that configuration: the dealer checks that both
//!    parties' demands are equal, and a preprocessing file is accepted only for the job
//!    it was made for.
//! 2. Add a variant to [`JobCommand`] holding the job's command-line options, and one
//!    arm to the `match` in `crate::deploy::party` that builds the job and this party's
//!    inputs and calls the generic driver. `tessera party ... <job> <options>` then runs
//!    it as a separate process, with the offline/online split, timeouts and all failure
//!    handling of the existing job; nothing in the dealer changes.
//! 3. If the job also wants a single-process command (like `tessera circuit`), run
//!    [`crate::session::dealer`] and [`crate::session::party`] as tasks the way
//!    `crate::circuit` does.

pub mod circuit;
pub mod model;

use std::future::Future;
use std::time::Duration;

use clap::Subcommand;
use sha2::{Digest, Sha256};
use tessera_core::{Channel, ConfigSummary, Metering, Ring, SessionId};
use tessera_protocols::{Demand, Store};

use crate::CliError;

/// The jobs `tessera party` can run, each with its own options.
#[derive(Subcommand, Debug, Clone)]
pub enum JobCommand {
    /// A Bristol Fashion circuit under GMW or Yao.
    Circuit(circuit::PartyCircuitArgs),
    /// Secure inference of an ONNX model: party 0 holds the weights, party 1 the input
    /// and learns the labels.
    Model(model::PartyModelArgs),
}

/// A job: what the two parties compute. See the module docs.
pub trait Job: Send + Sync + 'static {
    /// The ring the dealer's material is made for.
    type Ring: Ring;
    /// One party's private inputs (never printed).
    type Inputs: Send + Sync + 'static;
    /// What one party learns from a run.
    type Output: Send + 'static;

    /// Everything the three roles must agree on; starts from [`base_config`].
    fn config(&self) -> ConfigSummary;

    /// The preprocessing one run consumes.
    ///
    /// # Errors
    /// If the job cannot be expressed as a demand.
    fn demand(&self) -> Result<Demand, CliError>;

    /// One party's online phase on its channel to the other party.
    fn online<'a>(
        &'a self,
        party: usize,
        ch: &'a mut Channel,
        store: &'a mut Store<Self::Ring>,
        inputs: &'a Self::Inputs,
    ) -> impl Future<Output = Result<Self::Output, CliError>> + Send + 'a;

    /// Prints what one party learned (stdout: the results or one JSON object).
    ///
    /// # Errors
    /// If the report cannot be serialised.
    fn print(&self, run: &PartyRun<Self::Output>, json: bool) -> Result<(), CliError>;
}

/// What a party's run produced, with its measurements.
pub struct PartyRun<O> {
    /// The party (0 or 1).
    pub party: usize,
    /// The session it ran in.
    pub session: SessionId,
    /// The network profile its channels were shaped with.
    pub network: String,
    /// What the job's online phase returned.
    pub output: O,
    /// The metering of all its channels (peer and, if it fetched, dealer).
    pub metering: Metering,
    /// Time from the end of the handshakes to the preprocessing being ready.
    pub offline: Duration,
    /// Time of the online phase.
    pub online: Duration,
}

/// The start of every job's configuration: the job's name and the ring its
/// preprocessing is made for (the dealer reads both).
pub fn base_config(job: &str, ring: &str) -> ConfigSummary {
    ConfigSummary::new().with("job", job).with("ring", ring)
}

/// The session id the preprocessing of one run is made for: the session the parties
/// announced, bound to the job's configuration. The dealer serves and the parties fetch
/// and file their material under this id, so a preprocessing file is accepted only by
/// a run of the same session *and* the same job.
pub fn material_session(session: SessionId, config: &ConfigSummary) -> SessionId {
    let mut h = Sha256::new();
    h.update(b"tessera material session v1\0");
    h.update(session.0);
    h.update(config.fingerprint());
    let digest = h.finalize();
    let mut id = [0u8; 16];
    id.copy_from_slice(&digest[..16]);
    SessionId(id)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn material_session_depends_on_session_and_job() {
        let s = SessionId([7; 16]);
        let c = base_config("circuit", "Z64").with("batch", 1);
        let m = material_session(s, &c);
        assert_eq!(m, material_session(s, &c.clone()));
        assert_ne!(m, s);
        assert_ne!(m, material_session(SessionId([8; 16]), &c));
        assert_ne!(m, material_session(s, &c.with("batch", 2)));
    }
}
