//! Runs a scenario for real: the dealer and both parties in this process, each in
//! its own tokio task, over three TCP loopback connections (party 0 – party 1,
//! dealer – party 0, dealer – party 1), all shaped by the network profile.
//!
//! One repetition:
//! 1. **Set-up** (not timed): connections and handshakes (session id, role, the
//!    scenario's id as configuration). The parties have two connections: one for
//!    the workload's untimed preparation and one that [`Stopwatch::start`] swaps in
//!    for the timed window, so the window's rounds count from zero.
//! 2. **Offline** (timed): the three roles start together at a barrier; each party
//!    sends the dealer its demand, receives its seed (and party 1 its corrections)
//!    and expands its store on a blocking thread. The offline time is the later
//!    party's, from the barrier to its store being ready — dealer generation,
//!    transfer and expansion.
//! 3. **Online** (timed): the workload's window between [`Stopwatch::start`] (a
//!    barrier of the two parties) and [`Stopwatch::stop`]; the online time is the
//!    later party's.
//!
//! Counters per party: the preparation channel's set-up phase (handshake and
//! one-off set-up such as plaintext-weight masks), the dealer channel's offline
//! phase, and the window channel's online phase up to [`Stopwatch::stop`] — all
//! exactly as metered.
//! After the run the runner checks that each party consumed its whole store, and
//! the workload checks the result. Counters must be identical in every repetition
//! (they are a function of the scenario, never of timing or random inputs); a
//! difference is an error.

use std::collections::BTreeMap;
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tessera_core::{
    Channel, ChannelConfig, ConfigSummary, Handshake, NetworkProfile, Phase, PhaseMeter, Ring,
    Role, SessionId,
};
use tessera_protocols::preprocessing::Correlation;
use tessera_protocols::{ArithParty, Demand, Provider, Request, Store, dealer};
use tokio::sync::Barrier;

use crate::error::{BenchError, Result};
use crate::results::{Counters, PartyCounters, ScenarioResult, Spread};
use crate::scenario::{R, Scenario, Stopwatch, Tally, Workload};
use crate::tcp_pair;

type BoxFut<T> = Pin<Box<dyn Future<Output = T> + Send + 'static>>;

/// What one repetition measured.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Rep {
    pub(crate) offline: Duration,
    pub(crate) online: Duration,
    pub(crate) parties: [PartyCounters; 2],
    pub(crate) correlations: BTreeMap<String, u64>,
}

/// A workload behind an object type: one repetition at a time.
pub(crate) trait Repeat: Send + Sync {
    fn demand(&self) -> Result<Demand>;
    fn and_gates(&self) -> Option<u64>;
    fn once(&self, demand: Arc<Demand>, cfg: ChannelConfig, tag: String) -> BoxFut<Result<Rep>>;
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

    fn once(&self, demand: Arc<Demand>, cfg: ChannelConfig, tag: String) -> BoxFut<Result<Rep>> {
        Box::pin(once(self.0.clone(), demand, cfg, tag))
    }
}

/// What a party task returns.
struct PartyRun<O> {
    out: O,
    offline: Duration,
    online: Duration,
    counters: PartyCounters,
    correlations: BTreeMap<String, u64>,
}

/// A store that tallies the units it hands out, per kind.
struct Tallied {
    inner: Store<R>,
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

fn joined<T>(r: std::result::Result<Result<T>, tokio::task::JoinError>) -> Result<T> {
    r.map_err(|e| BenchError::Task(e.to_string()))?
}

async fn handshake(ch: &mut Channel, me: Role, peer: Role, s: SessionId, tag: &str) -> Result<()> {
    Handshake {
        me,
        peer,
        session: s,
        config: ConfigSummary::new()
            .with("job", "bench")
            .with("scenario", tag)
            .with("ring", <R as Ring>::NAME),
    }
    .run(ch)
    .await?;
    Ok(())
}

#[allow(clippy::too_many_arguments)]
async fn party<W: Workload>(
    p: usize,
    mut peer: Channel,
    mut timed: Channel,
    mut to_dealer: Channel,
    w: Arc<W>,
    input: Arc<W::Input>,
    demand: Arc<Demand>,
    session: SessionId,
    tag: String,
    offline_start: Arc<Barrier>,
    online_start: Arc<Barrier>,
) -> Result<PartyRun<W::Output>> {
    let (me, other) = if p == 0 {
        (Role::Party0, Role::Party1)
    } else {
        (Role::Party1, Role::Party0)
    };
    handshake(&mut to_dealer, me, Role::Dealer, session, &tag).await?;
    handshake(&mut peer, me, other, session, &tag).await?;
    handshake(&mut timed, me, other, session, &tag).await?;
    timed.set_phase(Phase::Online);
    offline_start.wait().await;
    let t = Instant::now();
    let material = dealer::fetch::<R>(&mut to_dealer, p, session, &demand).await?;
    let store = tokio::task::spawn_blocking(move || Store::<R>::from_material(&material))
        .await
        .map_err(|e| BenchError::Task(format!("expanding party {p}'s store: {e}")))??;
    let offline = t.elapsed();
    peer.set_phase(Phase::Online);
    let tally = Tally::default();
    let provider = Tallied {
        inner: store,
        tally: tally.clone(),
    };
    let mut ap = ArithParty::<R>::new(peer, Box::new(provider));
    let mut sw = Stopwatch::new(online_start, tally, timed);
    let out = w.party(&mut ap, &input, &mut sw).await?;
    let ((online, window, correlations), prep) = sw.finish()?;
    let left = ap.provider_mut().remaining();
    if left != 0 {
        return Err(BenchError::wrong(format!(
            "party {p} left {left} of the {} requested correlations unused",
            demand.len()
        )));
    }
    let (ch, _) = ap.into_parts();
    let window_channel = ch.close().await?;
    let peer_meter = match prep {
        Some(prep) => prep.close().await?,
        None => window_channel,
    };
    let dealer_meter = to_dealer.close().await?;
    Ok(PartyRun {
        out,
        offline,
        online,
        counters: PartyCounters {
            setup: peer_meter.setup,
            offline: dealer_meter.offline,
            online: window.online,
        },
        correlations,
    })
}

async fn dealer_role(
    mut c0: Channel,
    mut c1: Channel,
    session: SessionId,
    tag: String,
    offline_start: Arc<Barrier>,
) -> Result<()> {
    tokio::try_join!(
        handshake(&mut c0, Role::Dealer, Role::Party0, session, &tag),
        handshake(&mut c1, Role::Dealer, Role::Party1, session, &tag)
    )?;
    offline_start.wait().await;
    dealer::serve::<R>(session, &mut c0, &mut c1).await?;
    tokio::try_join!(c0.close(), c1.close())?;
    Ok(())
}

/// One repetition of `w`.
async fn once<W: Workload>(
    w: Arc<W>,
    demand: Arc<Demand>,
    cfg: ChannelConfig,
    tag: String,
) -> Result<Rep> {
    let (peer0, peer1) = tcp_pair(cfg).await?;
    let (timed0, timed1) = tcp_pair(cfg).await?;
    let (d0, a0) = tcp_pair(cfg).await?;
    let (d1, a1) = tcp_pair(cfg).await?;
    let input = Arc::new(w.inputs()?);
    let session = SessionId::random();
    let offline_start = Arc::new(Barrier::new(3));
    let online_start = Arc::new(Barrier::new(2));
    let dealer = tokio::spawn(dealer_role(
        d0,
        d1,
        session,
        tag.clone(),
        offline_start.clone(),
    ));
    let t0 = tokio::spawn(party(
        0,
        peer0,
        timed0,
        a0,
        w.clone(),
        input.clone(),
        demand.clone(),
        session,
        tag.clone(),
        offline_start.clone(),
        online_start.clone(),
    ));
    let t1 = tokio::spawn(party(
        1,
        peer1,
        timed1,
        a1,
        w.clone(),
        input.clone(),
        demand,
        session,
        tag,
        offline_start,
        online_start,
    ));
    let ((), r0, r1) = tokio::try_join!(
        async { joined(dealer.await) },
        async { joined(t0.await) },
        async { joined(t1.await) }
    )?;
    w.verify(&input, [r0.out, r1.out])?;
    if r0.correlations != r1.correlations {
        return Err(BenchError::wrong(format!(
            "the parties took different correlations in the window: {:?} and {:?}",
            r0.correlations, r1.correlations
        )));
    }
    Ok(Rep {
        offline: r0.offline.max(r1.offline),
        online: r0.online.max(r1.online),
        parties: [r0.counters, r1.counters],
        correlations: r0.correlations,
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
}

/// Runs `sc` under `settings`: warm-up, then the measured repetitions; calls
/// `tick` after each repetition.
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
        ..ChannelConfig::with_profile(settings.profile)
    };
    let reps = settings.reps.max(1);
    let mut runs: Vec<Rep> = Vec::with_capacity(reps);
    let mut first: Option<([PartyCounters; 2], BTreeMap<String, u64>)> = None;
    for i in 0..settings.warmup + reps {
        let rep = tokio::time::timeout(
            settings.timeout,
            sc.work.once(demand.clone(), cfg, id.clone()),
        )
        .await
        .map_err(|_| BenchError::Timeout(settings.timeout))
        .and_then(|r| r)
        .map_err(tagged)?;
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
        offline_ns: Spread::of(runs.iter().map(|r| r.offline)),
        counters: Counters {
            party0,
            party1,
            and_gates: sc.work.and_gates(),
            correlations: runs[0].correlations.clone(),
            dealt: correlations(&demand),
            dealer_correction_bytes: demand.correction_bytes::<R>() as u64,
        },
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
