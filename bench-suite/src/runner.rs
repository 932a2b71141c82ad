//! Runs a scenario for real: each repetition is one session of the session runtime
//! ([`tessera_protocols::runtime::local::run_local`]): the dealer and both parties in
//! this process, each in its own tokio task, over three TCP loopback connections
//! (party 0 – party 1, dealer – party 0, dealer – party 1), all shaped by the network
//! profile.
//!
//! One repetition:
//! 1. **Set-up** (not timed): connections and handshakes (session id, role, the
//!    scenario's id as configuration). The parties have two connections: one for
//!    the workload's untimed preparation and one that [`Stopwatch::start`] swaps in
//!    for the timed window, so the window's rounds count from zero.
//! 2. **Offline** (timed): the three roles start together at a barrier (the
//!    runtime's [`Hooks::handshaken`]); each party sends the dealer its demand,
//!    receives its seed (and party 1 its corrections) and expands its store on a
//!    blocking thread. The offline time is the later party's, from the barrier to
//!    its store being ready — dealer generation, transfer and expansion.
//! 3. **Online** (timed): the workload's window between [`Stopwatch::start`] (a
//!    barrier of the two parties) and [`Stopwatch::stop`]; the online time is the
//!    later party's.
//!
//! With [`Offline::Ot`] there is no dealer: the two parties make the correlations by
//! OT extension over their own connection (the barrier is theirs alone), and the
//! offline time and counters are that phase's on it. With [`RunSettings::ot_pairing`]
//! the parties keep one OT pairing for the scenario: an untimed repetition runs the
//! base OTs first, and every warm-up and measured repetition derives its set-up from
//! the pairing (checked: one that runs the base OTs again is an error).
//!
//! Counters per party: the preparation channel's set-up phase (the handshake), the
//! offline source's traffic (the dealer channel's offline phase, or with OT the
//! party-to-party channel's), and the window channel's online phase up to
//! [`Stopwatch::stop`] — all exactly as metered.
//! After the run the runner checks that each party consumed its whole store, and
//! the workload checks the result. Counters must be identical in every repetition
//! (they are a function of the scenario, never of timing or random inputs); a
//! difference is an error.

use std::collections::BTreeMap;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use futures::future::BoxFuture;
use tessera_core::{
    Channel, ChannelConfig, ConfigSummary, Metering, NetworkProfile, Phase, PhaseMeter, SessionId,
};
use tessera_protocols::ot::pairing::{PairingSlot, SetUp};
use tessera_protocols::preprocessing::Correlation;
use tessera_protocols::runtime::local::{Local, Offline, Transport, run_local};
use tessera_protocols::runtime::{Hooks, Job, Session};
use tessera_protocols::{ArithParty, Demand, Provider, Request};
use tokio::sync::Barrier;

use crate::error::{BenchError, Result};
use crate::results::{Counters, PartyCounters, ScenarioResult, Spread};
use crate::scenario::{R, Scenario, Stopwatch, Tally, Workload};

type BoxFut<T> = Pin<Box<dyn Future<Output = T> + Send + 'static>>;

/// What one repetition measured.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Rep {
    pub(crate) offline: Duration,
    pub(crate) online: Duration,
    /// The part of the later party's online time it spent reading from the other.
    pub(crate) online_waiting: Duration,
    pub(crate) parties: [PartyCounters; 2],
    pub(crate) correlations: BTreeMap<String, u64>,
}

/// A workload behind an object type: one repetition at a time.
pub(crate) trait Repeat: Send + Sync {
    fn demand(&self) -> Result<Demand>;
    fn and_gates(&self) -> Option<u64>;
    fn once(
        &self,
        demand: Arc<Demand>,
        cfg: ChannelConfig,
        tag: String,
        transport: Transport,
        offline: Offline,
        pairings: Option<[PairingSlot; 2]>,
    ) -> BoxFut<Result<Rep>>;
}

/// The [`Repeat`] implementation of every [`Workload`].
pub(crate) struct Erased<W>(pub(crate) Arc<W>);

impl<W: Workload> Repeat for Erased<W> {
    fn demand(&self) -> Result<Demand> {
        self.0.demand()
    }

    fn and_gates(&self) -> Option<u64> {
        self.0.and_gates()
    }

    fn once(
        &self,
        demand: Arc<Demand>,
        cfg: ChannelConfig,
        tag: String,
        transport: Transport,
        offline: Offline,
        pairings: Option<[PairingSlot; 2]>,
    ) -> BoxFut<Result<Rep>> {
        Box::pin(once(
            self.0.clone(),
            demand,
            cfg,
            tag,
            transport,
            offline,
            pairings,
        ))
    }
}

/// A store that tallies the units it hands out, per kind.
struct Tallied {
    inner: Box<dyn Provider<R>>,
    tally: Tally,
}

impl Provider<R> for Tallied {
    fn party(&self) -> usize {
        self.inner.party()
    }

    fn take(&mut self, req: &Request) -> tessera_protocols::Result<Correlation<R>> {
        let c = self.inner.take(req)?;
        *self
            .tally
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .entry(correlation_key(req).to_string())
            .or_insert(0) += req.units() as u64;
        Ok(c)
    }

    fn remaining(&self) -> usize {
        self.inner.remaining()
    }
}

/// One repetition of a workload as a job of the session runtime: the runtime runs
/// the handshakes, the dealer, the offline phase and the phases; the job's online
/// phase is the workload with its [`Stopwatch`] on the timed link (its input).
struct Rep1<W: Workload> {
    work: Arc<W>,
    input: Arc<W::Input>,
    demand: Arc<Demand>,
    tag: String,
    session: SessionId,
    tallies: [Tally; 2],
    online_start: Arc<Barrier>,
}

/// What a party's online phase returns.
struct PartyRun<O> {
    out: O,
    online: Duration,
    online_waiting: Duration,
    window: Metering,
    correlations: BTreeMap<String, u64>,
    /// The preparation link's metering (the party's link before the window).
    prep: Option<Metering>,
}

impl<W: Workload> Job for Rep1<W> {
    type Ring = R;
    /// The party's end of the timed link.
    type Input = Channel;
    type Prepared = ();
    type Output = PartyRun<W::Output>;
    type Error = BenchError;

    fn config(&self) -> ConfigSummary {
        ConfigSummary::new()
            .with("job", "bench")
            .with("scenario", &self.tag)
    }

    fn demand(&self) -> Result<Demand> {
        Ok((*self.demand).clone())
    }

    fn provider(&self, inner: Box<dyn Provider<R>>) -> Box<dyn Provider<R>> {
        let tally = self.tallies[inner.party()].clone();
        Box::new(Tallied { inner, tally })
    }

    async fn setup(&self, _: &mut ArithParty<R>) -> Result<()> {
        Ok(())
    }

    async fn online(
        &self,
        ap: &mut ArithParty<R>,
        (): (),
        mut timed: Channel,
    ) -> Result<PartyRun<W::Output>> {
        let p = ap.party();
        Session::new(self, p, self.session)?
            .handshake_peer(&mut timed)
            .await?;
        timed.set_phase(Phase::Online);
        let tally = self.tallies[p].clone();
        let mut sw = Stopwatch::new(self.online_start.clone(), tally, timed);
        let out = self.work.party(ap, &self.input, &mut sw).await?;
        let (((online, window, correlations), online_waiting), prep) = sw.finish()?;
        let left = ap.provider_mut().remaining();
        if left != 0 {
            return Err(BenchError::wrong(format!(
                "party {p} left {left} of the {} requested correlations unused",
                self.demand.len()
            )));
        }
        let prep = match prep {
            Some(ch) => Some(ch.close().await?),
            None => None,
        };
        Ok(PartyRun {
            out,
            online,
            online_waiting,
            window,
            correlations,
            prep,
        })
    }
}

/// The offline phase starts for all roles at once (after their handshakes): the
/// dealer and both parties, or with OT the two parties.
struct OfflineStart(Barrier);

impl Hooks for OfflineStart {
    fn handshaken<'a>(
        &'a self,
        _: Vec<&'a mut Channel>,
    ) -> BoxFuture<'a, tessera_protocols::Result<()>> {
        Box::pin(async {
            self.0.wait().await;
            Ok(())
        })
    }
}

/// One repetition of `w`.
async fn once<W: Workload>(
    w: Arc<W>,
    demand: Arc<Demand>,
    cfg: ChannelConfig,
    tag: String,
    transport: Transport,
    offline: Offline,
    pairings: Option<[PairingSlot; 2]>,
) -> Result<Rep> {
    let (timed0, timed1) = tessera_protocols::runtime::local::pair(transport, cfg).await?;
    let input = Arc::new(w.inputs()?);
    let roles = match offline {
        Offline::Dealer => 3,
        Offline::Ot => 2,
    };
    let local = Local {
        hooks: Arc::new(OfflineStart(Barrier::new(roles))),
        offline,
        pairings,
        ..Local::new(transport, cfg, cfg.timeout)
    };
    let job = Arc::new(Rep1 {
        work: w.clone(),
        input: input.clone(),
        demand,
        tag,
        session: local.session,
        tallies: [Tally::default(), Tally::default()],
        online_start: Arc::new(Barrier::new(2)),
    });
    let run = run_local(job, [timed0, timed1], &local).await?;
    let [r0, r1] = run.parties.map(|o| {
        let r = &o.output;
        // The party-to-party link before the window (the window swapped it out).
        let prep = r.prep.unwrap_or(o.peer);
        let counters = PartyCounters {
            setup: prep.setup,
            offline: match offline {
                Offline::Dealer => o.source.offline,
                Offline::Ot => prep.offline,
            },
            online: r.window.online,
        };
        (o.offline, counters, o.output)
    });
    let (offline, online) = (r0.0.max(r1.0), r0.2.online.max(r1.2.online));
    let later = if r0.2.online >= r1.2.online { &r0 } else { &r1 };
    let online_waiting = later.2.online_waiting;
    let (out0, out1) = (r0.2, r1.2);
    w.verify(&input, [out0.out, out1.out])?;
    if out0.correlations != out1.correlations {
        return Err(BenchError::wrong(format!(
            "the parties took different correlations in the window: {:?} and {:?}",
            out0.correlations, out1.correlations
        )));
    }
    Ok(Rep {
        offline,
        online,
        online_waiting,
        parties: [r0.1, r1.1],
        correlations: out0.correlations,
    })
}

/// The name under which a request's units are counted: `beaver_elements` (output
/// elements of Beaver triples), `square_pairs`, `trunc_pairs`, `and_triples`,
/// `random_ots`, `dabits`, `weight_mask_elements`, `plain_weight_elements`.
pub fn correlation_key(r: &Request) -> &'static str {
    match r {
        Request::Beaver { .. } => "beaver_elements",
        Request::Square { .. } => "square_pairs",
        Request::Trunc { .. } => "trunc_pairs",
        Request::AndTriples { .. } => "and_triples",
        Request::RandomOts { .. } => "random_ots",
        Request::DaBits { .. } => "dabits",
        Request::WeightMask { .. } => "weight_mask_elements",
        Request::PlainWeight { .. } => "plain_weight_elements",
    }
}

/// The correlations of a demand, as units per kind ([`correlation_key`]).
pub fn correlations(demand: &Demand) -> BTreeMap<String, u64> {
    let mut m = BTreeMap::new();
    for r in demand.requests() {
        *m.entry(correlation_key(r).to_string()).or_insert(0) += r.units() as u64;
    }
    m
}

/// Settings of one scenario run.
#[derive(Clone, Copy, Debug)]
pub struct RunSettings {
    /// The network profile of all three links.
    pub profile: NetworkProfile,
    /// Measured repetitions (at least 1).
    pub reps: usize,
    /// Repetitions run first and discarded.
    pub warmup: usize,
    /// Time limit of one repetition.
    pub timeout: Duration,
    /// Compute threads of each party.
    pub threads: std::num::NonZeroUsize,
    /// With [`Offline::Ot`]: one OT pairing per scenario, made by an untimed
    /// repetition before the warm-up; every counted repetition derives its set-up from
    /// it (no base OTs).
    pub ot_pairing: bool,
}

/// Runs `sc` under `settings` with the dealer: warm-up, then the measured
/// repetitions; calls `tick` after each repetition.
///
/// # Errors
/// Any error of a role; a wrong result; unused correlations; counters that differ
/// between repetitions; a repetition over the time limit.
pub async fn run_scenario(
    sc: &Scenario,
    network: &str,
    settings: RunSettings,
    tick: &mut (dyn FnMut() + Send),
) -> Result<ScenarioResult> {
    run_scenario_from(sc, network, settings, Offline::Dealer, tick).await
}

/// Why the OT source cannot serve `demand`, if it cannot: a plaintext-weight batch
/// matrix product is not made from OTs (the dealer makes it).
pub fn ot_refuses(demand: &Demand) -> Option<String> {
    demand.requests().iter().find_map(|r| match r {
        Request::PlainWeight {
            op: tessera_protocols::BilinearOp::BatchMatMul,
            ..
        } => Some(
            "a plaintext-weight batch matrix product is not made from OTs (the dealer \
             makes it): run it with --offline dealer"
                .to_string(),
        ),
        _ => None,
    })
}

/// [`run_scenario`] with the correlations from `offline`.
///
/// # Errors
/// As [`run_scenario`].
pub async fn run_scenario_from(
    sc: &Scenario,
    network: &str,
    settings: RunSettings,
    offline: Offline,
    tick: &mut (dyn FnMut() + Send),
) -> Result<ScenarioResult> {
    let id = format!("{}@{network}", sc.label());
    let tagged = |e: BenchError| match e {
        BenchError::Scenario { scenario, detail } if scenario.is_empty() => {
            BenchError::scenario(id.clone(), detail)
        }
        other => BenchError::scenario(id.clone(), other.to_string()),
    };
    let demand = Arc::new(sc.work.demand().map_err(tagged)?);
    let cfg = ChannelConfig {
        timeout: settings.timeout,
        threads: settings.threads,
        ..ChannelConfig::with_profile(settings.profile)
    };
    let reps = settings.reps.max(1);
    let mut runs: Vec<Rep> = Vec::with_capacity(reps);
    let mut first: Option<([PartyCounters; 2], BTreeMap<String, u64>)> = None;
    let pairings = (settings.ot_pairing && offline == Offline::Ot)
        .then(|| [PairingSlot::in_memory(), PairingSlot::in_memory()]);
    let one = |pairings: Option<[PairingSlot; 2]>| {
        let rep = sc.work.once(
            demand.clone(),
            cfg,
            id.clone(),
            sc.transport,
            offline,
            pairings,
        );
        async move {
            tokio::time::timeout(settings.timeout, rep)
                .await
                .map_err(|_| BenchError::Timeout(settings.timeout))
                .and_then(|r| r)
        }
    };
    if pairings.is_some() {
        // The pairing: base OTs once, in a repetition of its own (its counters differ).
        one(pairings.clone()).await.map_err(tagged)?;
    }
    for i in 0..settings.warmup + reps {
        let rep = one(pairings.clone()).await.map_err(tagged)?;
        if let Some(p) = &pairings
            && p.iter().any(|s| s.last() != Some(SetUp::Paired))
        {
            return Err(BenchError::scenario(
                id,
                "a repetition ran the base OTs again instead of using the scenario's pairing",
            ));
        }
        tick();
        match &first {
            None => first = Some((rep.parties, rep.correlations.clone())),
            Some(f) if f.0 != rep.parties || f.1 != rep.correlations => {
                return Err(BenchError::scenario(
                    id,
                    format!(
                        "exact counters differ between repetitions: {f:?} then {:?}",
                        (rep.parties, &rep.correlations)
                    ),
                ));
            }
            Some(_) => {}
        }
        if i >= settings.warmup {
            runs.push(rep);
        }
    }
    let [party0, party1] = runs[0].parties;
    Ok(ScenarioResult {
        id,
        family: sc.family().to_string(),
        name: sc.name().to_string(),
        params: sc.params().clone(),
        network: network.to_string(),
        reps: reps as u64,
        warmup: settings.warmup as u64,
        online_ns: Spread::of(runs.iter().map(|r| r.online)),
        online_waiting_ns: Some(Spread::of(runs.iter().map(|r| r.online_waiting))),
        offline_ns: Spread::of(runs.iter().map(|r| r.offline)),
        counters: Counters {
            party0,
            party1,
            and_gates: sc.work.and_gates(),
            correlations: runs[0].correlations.clone(),
            dealt: correlations(&demand),
            dealer_correction_bytes: demand.correction_bytes::<R>() as u64,
        },
        predicted: sc.prediction(network).cloned(),
    })
}

impl PartyCounters {
    /// The counters of `phase`.
    pub fn phase(&self, phase: Phase) -> &PhaseMeter {
        match phase {
            Phase::Setup => &self.setup,
            Phase::Offline => &self.offline,
            Phase::Online => &self.online,
        }
    }
}
