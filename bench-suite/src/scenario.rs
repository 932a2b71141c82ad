//! Scenarios: a [`Workload`] (what both parties do) with a name, parameters and a
//! flag for the quick subset.
//!
//! A workload describes one two-party job on the arithmetic context
//! ([`ArithParty`]: the channel to the peer and the dealer-backed correlation
//! provider), which every sharing of Tessera can run on (GMW and Yao take the channel
//! and the provider from it with [`ArithParty::parts_mut`]). The runner
//! ([`crate::runner`]) does everything around it: TCP connections, handshakes, the
//! dealer for [`Workload::demand`], timing, metering, and the checks that the result
//! is right and that every correlation was consumed.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tessera_core::{Channel, Metering, Phase, Z64};
use tessera_protocols::{ArithParty, Demand};
use tokio::sync::Barrier;

use crate::error::{BenchError, Result};
use crate::results::Prediction;

/// The ring every scenario runs in (ℓ = 64, Tessera's default).
pub type R = Z64;

/// Bits of [`R`].
pub const ELL: usize = <R as tessera_core::Ring>::BITS as usize;

/// One two-party job, run by both parties (see the module docs of [`crate`] for how
/// to add a family of them).
///
/// For each repetition the runner calls [`Workload::inputs`] once, runs
/// [`Workload::party`] for party 0 and party 1 concurrently (each in its own task,
/// over TCP loopback, with a [`Store`](tessera_protocols::Store) filled by the dealer
/// for [`Workload::demand`]), and passes both outputs to [`Workload::verify`].
pub trait Workload: Send + Sync + 'static {
    /// Inputs of one repetition, shared by both parties' code and the verifier (each
    /// party reads only its own part).
    type Input: Send + Sync + 'static;
    /// What a party returns for verification (e.g. its output share, or a value
    /// revealed after the timed window).
    type Output: Send + 'static;

    /// Every correlation one repetition consumes, in order (untimed preparation
    /// included). The runner checks that the parties took all of it.
    ///
    /// # Errors
    /// If the demand cannot be computed.
    fn demand(&self) -> Result<Demand>;

    /// AND gates evaluated in the timed window (GMW or garbled), if the workload has
    /// any.
    fn and_gates(&self) -> Option<u64> {
        None
    }

    /// Fresh inputs for one repetition.
    ///
    /// # Errors
    /// If the inputs cannot be made.
    fn inputs(&self) -> Result<Self::Input>;

    /// One party's side. It must call [`Stopwatch::start`] right before the measured
    /// operation and [`Stopwatch::stop`] right after it (both parties do, in the same
    /// order); anything before `start` (e.g. reaching the source sharing of a
    /// conversion) or after `stop` (e.g. revealing a result for verification) is
    /// neither timed nor counted as online traffic.
    fn party(
        &self,
        p: &mut ArithParty<R>,
        input: &Self::Input,
        sw: &mut Stopwatch,
    ) -> impl Future<Output = Result<Self::Output>> + Send;

    /// Checks the parties' outputs against the plaintext result.
    ///
    /// # Errors
    /// [`BenchError::wrong`] describing the first difference.
    fn verify(&self, input: &Self::Input, out: [Self::Output; 2]) -> Result<()>;
}

/// Correlation units taken from a party's provider so far, per kind (see
/// [`crate::runner::correlation_key`]).
pub(crate) type Tally = Arc<Mutex<BTreeMap<String, u64>>>;

/// What a party measured in its window: duration, traffic, correlations taken.
pub(crate) type Window = (Duration, Metering, BTreeMap<String, u64>);

/// The part of a party's window it spent reading from the other party
/// ([`Channel::waited`]).
pub(crate) type Waited = Duration;

/// The measured window of one party.
///
/// [`Stopwatch::start`] waits at an in-process barrier shared with the other party
/// (so both start at the same instant, after both finished their untimed
/// preparation) and then **swaps the party's channel for a fresh one** to the same
/// peer, connected and handshaken by the runner beforehand. The window's rounds
/// therefore count from zero: a Lamport clock carried over from the preparation
/// would merge the window's first messages with the preparation's last ones (a Y2A
/// right after an A2Y would show 0 rounds), and no exchange of messages can reset
/// it. [`Stopwatch::stop`] is called when this party holds its result. The window's
/// traffic is the growth of the fresh channel's meter, its correlations the growth
/// of what the party took from its provider.
pub struct Stopwatch {
    barrier: Arc<Barrier>,
    tally: Tally,
    fresh: Option<Channel>,
    prep: Option<Channel>,
    started: Option<(Instant, Metering, BTreeMap<String, u64>, Duration)>,
    window: Option<(Window, Waited)>,
}

impl std::fmt::Debug for Stopwatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Stopwatch")
            .field("started", &self.started.is_some())
            .field("stopped", &self.window.is_some())
            .finish()
    }
}

impl Stopwatch {
    pub(crate) fn new(barrier: Arc<Barrier>, tally: Tally, fresh: Channel) -> Self {
        Stopwatch {
            barrier,
            tally,
            fresh: Some(fresh),
            prep: None,
            started: None,
            window: None,
        }
    }

    fn taken(&self) -> BTreeMap<String, u64> {
        self.tally.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Waits for the other party, puts the fresh channel in place of `ch` (the
    /// party's channel, `ArithParty::channel_mut`; only at the first call), starts
    /// the clock and takes snapshots of the meter and the correlations taken.
    ///
    /// # Errors
    /// None today; the signature leaves room for a synchronisation that can fail.
    pub async fn start(&mut self, ch: &mut Channel) -> Result<()> {
        self.barrier.wait().await;
        if let Some(fresh) = self.fresh.take() {
            self.prep = Some(std::mem::replace(ch, fresh));
        }
        self.started = Some((
            Instant::now(),
            *ch.metering(),
            self.taken(),
            ch.waited(Phase::Online),
        ));
        Ok(())
    }

    /// Stops the clock.
    pub fn stop(&mut self, ch: &Channel) {
        if let Some((t, m, taken, waited)) = &self.started {
            let elapsed = t.elapsed();
            let waited = ch.waited(Phase::Online).saturating_sub(*waited);
            let mut used = self.taken();
            for (k, v) in used.iter_mut() {
                *v -= taken.get(k).copied().unwrap_or(0);
            }
            used.retain(|_, v| *v > 0);
            self.window = Some(((elapsed, ch.metering().since(m), used), waited));
        }
    }

    /// The window's duration, traffic and correlations, the part of it spent reading
    /// from the other party, and the channel of the preparation.
    pub(crate) fn finish(self) -> Result<((Window, Waited), Option<Channel>)> {
        let prep = self.prep;
        self.window.map(|w| (w, prep)).ok_or_else(|| {
            BenchError::wrong("the workload did not call Stopwatch::start and Stopwatch::stop")
        })
    }
}

/// A workload with its name, parameters and quick-subset flag.
#[derive(Clone)]
pub struct Scenario {
    family: &'static str,
    name: String,
    params: BTreeMap<String, String>,
    quick: bool,
    /// The networks it runs on (`None`: every requested one), by their display name.
    only_on: Option<Vec<String>>,
    /// The planner's prediction per network (display name).
    predictions: BTreeMap<String, Prediction>,
    pub(crate) work: Arc<dyn crate::runner::Repeat>,
    /// How the roles are connected (plain TCP on loopback unless [`Scenario::over_tls`]).
    pub(crate) transport: tessera_protocols::runtime::local::Transport,
}

impl std::fmt::Debug for Scenario {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Scenario")
            .field("label", &self.label())
            .field("quick", &self.quick)
            .finish()
    }
}

impl Scenario {
    /// A scenario of `family` (e.g. `"arith"`) named `name` (e.g. `"beaver-mul"`)
    /// running `work`; not in the quick subset until [`Scenario::quick`].
    pub fn new<W: Workload>(family: &'static str, name: impl Into<String>, work: W) -> Self {
        Scenario {
            family,
            name: name.into(),
            params: BTreeMap::new(),
            quick: false,
            only_on: None,
            predictions: BTreeMap::new(),
            work: Arc::new(crate::runner::Erased(Arc::new(work))),
            transport: tessera_protocols::runtime::local::Transport::Tcp,
        }
    }

    /// Connects every link of the scenario (the timed one, the dealer's) by mutual TLS
    /// 1.3 on loopback instead of plain TCP, and says so in its parameters
    /// (`transport=tls`): the cost of TLS, next to the same scenario without it.
    #[must_use]
    pub fn over_tls(mut self) -> Self {
        self.transport = tessera_protocols::runtime::local::Transport::Tls;
        self.param("transport", "tls")
    }

    /// Adds a parameter shown in the label (`n=1000`, `batch=64`).
    #[must_use]
    pub fn param(mut self, key: &str, value: impl std::fmt::Display) -> Self {
        self.params.insert(key.to_string(), value.to_string());
        self
    }

    /// Puts the scenario in the `--quick` subset (or takes it out).
    #[must_use]
    pub fn quick(mut self, quick: bool) -> Self {
        self.quick = quick;
        self
    }

    /// Runs the scenario on `network` only (e.g. a plan made for that network); calls
    /// add networks.
    #[must_use]
    pub fn only_on(mut self, network: impl std::fmt::Display) -> Self {
        self.only_on
            .get_or_insert_with(Vec::new)
            .push(network.to_string());
        self
    }

    /// Whether the scenario runs on `network` (display name).
    pub fn runs_on(&self, network: &str) -> bool {
        self.only_on
            .as_ref()
            .is_none_or(|v| v.iter().any(|n| n == network))
    }

    /// Attaches the planner's prediction on `network`: recorded with the result, and
    /// compared with the run's time budget before it runs.
    #[must_use]
    pub fn predicted(mut self, network: impl std::fmt::Display, p: Prediction) -> Self {
        self.predictions.insert(network.to_string(), p);
        self
    }

    /// The prediction on `network` (display name), if any.
    pub fn prediction(&self, network: &str) -> Option<&Prediction> {
        self.predictions.get(network)
    }

    /// The family.
    pub fn family(&self) -> &'static str {
        self.family
    }

    /// The name within the family.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The parameters.
    pub fn params(&self) -> &BTreeMap<String, String> {
        &self.params
    }

    /// Whether it is in the quick subset.
    pub fn is_quick(&self) -> bool {
        self.quick
    }

    /// `family/name/k=v,k=v` — with the network appended, the id of a result.
    pub fn label(&self) -> String {
        let params = self
            .params
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join(",");
        if params.is_empty() {
            format!("{}/{}", self.family, self.name)
        } else {
            format!("{}/{}/{params}", self.family, self.name)
        }
    }
}
