//! Jobs: what the two parties compute together.
//!
//! A job is one description that every role uses. Both parties build it from their own
//! command line; the dealer never parses it and learns only its configuration, through
//! the handshake. A job is a job of the session runtime
//! ([`tessera_protocols::runtime::Job`]), which says
//! - what all three roles must agree on (`config`: checked in every handshake, so two
//!   parties started with different circuits, batches or protocols stop with an error
//!   naming the key that differs);
//! - the correlated randomness one run consumes (`demand`: what the dealer generates,
//!   and what a preprocessing file must answer);
//! - one party's set-up and online phases (`setup`, `online`: on its
//!   [`ArithParty`](tessera_protocols::ArithParty) — the channel to the other party and
//!   its correlations — with its own inputs);
//!
//! and, for the command line, how a party prints what it learned ([`Job::print`]).
//!
//! The session runtime runs any job in every deployment: the single-process
//! `tessera circuit` (dealer and both parties as tasks,
//! [`run_local`](tessera_protocols::runtime::local::run_local)), and the multi-process
//! `tessera dealer` plus two `tessera party` processes (`crate::deploy`), with the
//! offline and online phases together or apart (through a preprocessing file).
//!
//! Four jobs: [`circuit::CircuitJob`], a Bristol Fashion circuit under GMW or Yao,
//! [`model::ModelJob`], secure inference of an ONNX model under a plan,
//! [`shared::SharedModelJob`], secure inference with a secret-shared trained model, and
//! [`train::TrainPartyJob`], private training.
//!
//! # Adding a job
//! 1. Write a type that implements [`tessera_protocols::runtime::Job`] and [`Job`], in
//!    a module next to [`circuit`]. Start its configuration from [`base_config`] with
//!    the job's name and ring (the dealer generates material for the ring named
//!    there), and add every value the two parties must share (a model's hash, the
//!    plan, the fixed-point precision, ...). Make `demand` a pure function of that
//!    configuration: the dealer checks that both parties' demands are equal, and a
//!    preprocessing file is accepted only for the job it was made for.
//! 2. Add a variant to [`JobCommand`] holding the job's command-line options, and one
//!    arm to the `match` in `crate::deploy::party` that builds the job and this party's
//!    inputs and calls the generic driver. `tessera party ... <job> <options>` then runs
//!    it as a separate process, with the offline/online split, timeouts and all failure
//!    handling of the existing job; nothing in the dealer changes.
//! 3. If the job also wants a single-process command (like `tessera circuit`), run it
//!    with [`run_local`](tessera_protocols::runtime::local::run_local) the way
//!    `crate::circuit` does.

pub mod circuit;
pub mod model;
pub mod shared;
pub mod train;

use std::time::Duration;

use clap::Subcommand;
use tessera_core::{ConfigSummary, Metering, SessionId};
use tessera_protocols::runtime::{self, PartyOutcome};

use crate::CliError;

/// The jobs `tessera party` can run, each with its own options.
#[derive(Subcommand, Debug, Clone)]
pub enum JobCommand {
    /// A Bristol Fashion circuit under GMW or Yao.
    Circuit(circuit::PartyCircuitArgs),
    /// Secure inference of an ONNX model: party 0 holds the weights, party 1 the input
    /// and learns the labels.
    Model(model::PartyModelArgs),
    /// Secure inference with a model kept secret-shared (`tessera train
    /// --keep-shared`): each party loads its own share file, party 1 holds the queries
    /// and learns the labels.
    SharedModel(shared::PartySharedArgs),
    /// Private training (SecureML's two servers): the examples at party 1 or split
    /// between the parties, the model shared; each party prints what it learns and can
    /// keep its share of the trained model (`--keep-shared`).
    Train(Box<train::PartyTrainArgs>),
}

/// A job of the command line: a job of the session runtime ([`runtime::Job`]: its
/// configuration, its demand, one party's set-up and online phases on its
/// [`ArithParty`](tessera_protocols::ArithParty)) that also prints what a party
/// learned. See the module docs.
pub trait Job: runtime::Job<Error = CliError> + 'static {
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
    /// The part of `online` spent reading from the other party
    /// ([`PartyOutcome::online_waiting`]).
    pub online_waiting: Duration,
    /// Where its correlations came from ([`PartyOutcome::preprocessing`]).
    pub preprocessing: &'static str,
}

impl<O> PartyRun<O> {
    /// The report of a party's session `session` over links shaped by `network`;
    /// prints its times on stderr.
    pub fn new(o: PartyOutcome<O>, session: SessionId, network: &str) -> Self {
        let mut metering = o.peer;
        metering.merge(&o.source);
        eprintln!(
            "party {}: offline {:.1} ms, online {:.1} ms ({:.1} ms of it waiting for the peer)",
            o.party,
            o.offline.as_secs_f64() * 1e3,
            o.online.as_secs_f64() * 1e3,
            o.online_waiting.as_secs_f64() * 1e3
        );
        PartyRun {
            party: o.party,
            session,
            network: network.to_string(),
            output: o.output,
            metering,
            offline: o.offline,
            online: o.online,
            online_waiting: o.online_waiting,
            preprocessing: o.preprocessing,
        }
    }
}

/// Implements the session runtime's `Job` for a command-line job whose field `inner`
/// is an engine job without a set-up phase: configuration, demand and online phase are
/// the engine job's, its errors become [`CliError`]s.
macro_rules! delegate_to_inner {
    ($job:ty, $inner:ty) => {
        impl tessera_protocols::runtime::Job for $job {
            type Ring = <$inner as tessera_protocols::runtime::Job>::Ring;
            type Input = <$inner as tessera_protocols::runtime::Job>::Input;
            type Prepared = ();
            type Output = <$inner as tessera_protocols::runtime::Job>::Output;
            type Error = $crate::CliError;

            fn config(&self) -> tessera_core::ConfigSummary {
                tessera_protocols::runtime::Job::config(&self.inner)
            }

            fn demand(&self) -> Result<tessera_protocols::Demand, $crate::CliError> {
                Ok(tessera_protocols::runtime::Job::demand(&self.inner)?)
            }

            async fn setup(
                &self,
                _: &mut tessera_protocols::ArithParty<Self::Ring>,
            ) -> Result<(), $crate::CliError> {
                Ok(())
            }

            async fn online(
                &self,
                p: &mut tessera_protocols::ArithParty<Self::Ring>,
                _: (),
                input: Self::Input,
            ) -> Result<Self::Output, $crate::CliError> {
                Ok(tessera_protocols::runtime::Job::online(&self.inner, p, (), input).await?)
            }
        }
    };
}
pub(crate) use delegate_to_inner;

/// Prints `report` as one pretty JSON object on stdout.
///
/// # Errors
/// If it cannot be serialised.
pub fn print_json<T: serde::Serialize>(report: &T) -> Result<(), CliError> {
    let s = serde_json::to_string_pretty(report)
        .map_err(|e| CliError::Task(format!("serialising the report: {e}")))?;
    println!("{s}");
    Ok(())
}

/// Prints a party's labels one per line, or on stderr that `who` learns nothing.
pub fn print_labels(labels: Option<&[usize]>, party: usize, who: &str) {
    match labels {
        Some(l) => {
            for v in l {
                println!("{v}");
            }
        }
        None => eprintln!("party {party} ({who}) learns nothing"),
    }
}

/// The start of every job's configuration: the job's name and the ring its
/// preprocessing is made for (the dealer reads both).
pub fn base_config(job: &str, ring: &str) -> ConfigSummary {
    ConfigSummary::new().with("job", job).with("ring", ring)
}
