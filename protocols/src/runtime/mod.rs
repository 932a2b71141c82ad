//! The session runtime: the one implementation of a session's life, used by every
//! command (`tessera infer`, `demo`, `circuit`, `party`, `dealer`, `bench`) and by the
//! public test harness.
//!
//! # A session
//! 1. **Handshakes** ([`Phase::Setup`]): each party with the other ([`Handshake`]:
//!    session id, roles, the job's configuration) and, at the same time, with its
//!    offline source (the dealer: it [`mediate`]s, checking that both parties announce
//!    the same session and configuration and relaying each one's values to the other).
//! 2. **Offline** ([`Phase::Offline`]): the [`OfflineSource`] obtains this party's
//!    correlations for the job's [`Demand`] — fetched from the dealer, claimed from a
//!    preprocessing file, (later) made with the other party by OT extension — made for
//!    the [`material_session`], the session bound to the job.
//! 3. **Set-up** ([`Phase::Setup`]): the job's one-off work on the party-to-party link
//!    ([`Job::setup`]; e.g. masked plaintext weights).
//! 4. **Online** ([`Phase::Online`]): the job's online phase ([`Job::online`]).
//!
//! [`run_party`] runs all four for a [`Job`]; the dealer's side is [`serve_dealer`];
//! [`fetch_material`] is a party's offline phase alone (to save it to a file).
//! [`local::run_local`] runs the dealer and both parties in this process (each in its
//! own task, over TCP loopback or in memory). The steps are also available one by one,
//! as type states — [`prepare`] returns a [`Ready`] party (after step 2),
//! [`Ready::into_online`] an [`Online`] one, [`Online::finish`] the [`PartyOutcome`] —
//! for code that runs its online phase itself (the test harness runs closures).
//!
//! # Failures
//! Every error says which step failed and with whom ([`SessionError`]: `handshake
//! with party 1: ...`, `offline phase: fetching preprocessing from the dealer: ...`,
//! `online phase with party 0: ...`). Each connect, accept, receive and send is
//! bounded by the channel's timeout, so a session whose peer or dealer disappears or
//! falls silent ends with an error, never waits for ever; a handshake that fails
//! first lets this party's hello leave, so that the others name the mismatch too.
//!
//! # Security
//! Semi-honest parties and a semi-honest dealer that is present only offline and
//! colludes with neither. Correlated randomness is used once: a preprocessing file is
//! marked consumed on disk before any of it is used. Nothing here prints a share, a
//! seed or an input: [`PartyOutcome`]'s `Debug` leaves the output out.

pub mod local;
mod source;

use std::fmt;
use std::future::Future;
use std::path::Path;
use std::time::{Duration, Instant};

use futures::future::BoxFuture;
use sha2::{Digest, Sha256};
use tessera_core::{
    Channel, ConfigSummary, Handshake, Mediated, Metering, Phase, Ring, Role, SessionId, Z32, Z64,
    mediate,
};

pub use source::{
    DealerSource, FileSource, MaterialSource, OfflineSource, SPILL_CORRECTIONS_BYTES,
};

use crate::preprocessing::{DealingId, Demand, Ledger, PartyMaterial, Provider};
use crate::{ArithParty, Error, Result, dealer};

/// What two parties run in a session: the configuration they must agree on, the
/// correlations one run consumes, and one party's set-up and online phases.
///
/// Both parties build the same job (each from its own options); the dealer never sees
/// it, only its configuration (through the handshake) and its demand.
pub trait Job: Send + Sync {
    /// The ring of the arithmetic context and of the preprocessing.
    type Ring: Ring;
    /// One party's private input to the online phase (never printed).
    type Input: Send;
    /// What the set-up hands to the online phase (never printed).
    type Prepared: Send;
    /// What one party learns.
    type Output: Send;
    /// The job's errors; they hold the runtime's.
    type Error: From<Error> + Send;

    /// Everything both parties must agree on (a circuit's hash, a plan, the batch,
    /// ...), checked in every handshake; the runtime adds the ring. The dealer reads
    /// `job` and `ring`.
    fn config(&self) -> ConfigSummary;

    /// The correlations one run consumes, in order: a pure function of the
    /// configuration (the dealer checks that both parties ask for the same, and a
    /// preprocessing file is accepted only for the demand it was made for).
    ///
    /// # Errors
    /// If the job cannot be expressed as a demand.
    fn demand(&self) -> std::result::Result<Demand, Self::Error>;

    /// The provider the job runs on, made from the offline source's (by default the
    /// source's own; a benchmark wraps it to count what is taken).
    fn provider(
        &self,
        from_source: Box<dyn Provider<Self::Ring>>,
    ) -> Box<dyn Provider<Self::Ring>> {
        from_source
    }

    /// The one-off set-up on the link to the other party, metered as
    /// [`Phase::Setup`], after the offline phase.
    fn setup<'a>(
        &'a self,
        party: &'a mut ArithParty<Self::Ring>,
    ) -> impl Future<Output = std::result::Result<Self::Prepared, Self::Error>> + Send + 'a;

    /// The online phase, metered as [`Phase::Online`].
    fn online<'a>(
        &'a self,
        party: &'a mut ArithParty<Self::Ring>,
        prepared: Self::Prepared,
        input: Self::Input,
    ) -> impl Future<Output = std::result::Result<Self::Output, Self::Error>> + Send + 'a;
}

/// A failure of a session, with the step it happened in, e.g. `handshake with party
/// 1`, `offline phase: fetching preprocessing from the dealer` or `online phase with
/// party 0`.
#[derive(Debug)]
pub struct SessionError<E = Error> {
    /// The step that failed, and with whom.
    pub step: String,
    /// Why.
    pub source: E,
}

impl<E> SessionError<E> {
    /// `source`, which happened during `step`.
    pub fn new(step: impl Into<String>, source: impl Into<E>) -> Self {
        SessionError {
            step: step.into(),
            source: source.into(),
        }
    }

    /// The same step with `f` applied to the cause.
    pub fn map<F>(self, f: impl FnOnce(E) -> F) -> SessionError<F> {
        SessionError {
            step: self.step,
            source: f(self.source),
        }
    }

    /// The cause, without the step (for callers whose error type has no place for it).
    pub fn into_source(self) -> E {
        self.source
    }
}

impl<E: fmt::Display> fmt::Display for SessionError<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.step, self.source)
    }
}

impl<E: std::error::Error + 'static> std::error::Error for SessionError<E> {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.source)
    }
}

/// `e`, which happened during `step` (for `map_err`).
pub(crate) fn at<E, C: Into<E>>(step: impl Into<String>) -> impl FnOnce(C) -> SessionError<E> {
    move |e| SessionError::new(step, e)
}

/// Points of a session where the caller steps in: benchmark barriers, test pauses.
/// Every method does nothing by default.
pub trait Hooks: Send + Sync {
    /// After this role's handshakes, before its offline phase (the dealer: before it
    /// serves). `links` are the role's channels (flush them to let what was sent
    /// leave).
    fn handshaken<'a>(&'a self, links: Vec<&'a mut Channel>) -> BoxFuture<'a, Result<()>> {
        let _ = links;
        Box::pin(async { Ok(()) })
    }

    /// The offline phase starts.
    fn offline_starts(&self) {}

    /// The online phase starts.
    fn online_starts(&self) {}
}

/// No hooks.
#[derive(Clone, Copy, Debug, Default)]
pub struct NoHooks;

impl Hooks for NoHooks {}

/// The session id the preprocessing of one run is made for: the session the parties
/// announce, bound to the job's configuration. The dealer serves and the parties fetch
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

/// One party's seat in one session of one job: what its handshakes announce and what
/// its offline source must obtain.
#[derive(Clone, Debug)]
pub struct Session {
    party: usize,
    id: SessionId,
    config: ConfigSummary,
    demand: Demand,
    announce_source: bool,
    ledger: Option<Ledger>,
}

impl Session {
    /// Party `party`'s seat in session `id` of `job`.
    ///
    /// # Errors
    /// The job's demand fails, or the party is not 0 or 1.
    pub fn new<J: Job>(
        job: &J,
        party: usize,
        id: SessionId,
    ) -> std::result::Result<Self, J::Error> {
        let demand = job.demand()?;
        Ok(Self::with::<J::Ring>(party, id, job.config(), demand)?)
    }

    /// Party `party`'s seat in session `id` of a job with this configuration (the ring
    /// `R` is added) and demand.
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] if the party is not 0 or 1.
    pub fn with<R: Ring>(
        party: usize,
        id: SessionId,
        config: ConfigSummary,
        demand: Demand,
    ) -> Result<Self> {
        if party > 1 {
            return Err(Error::InvalidArgument {
                op: "session",
                detail: format!("party {party} does not exist (0 or 1)"),
            });
        }
        Ok(Session {
            party,
            id,
            config: config.with("ring", R::NAME),
            demand,
            announce_source: false,
            ledger: None,
        })
    }

    /// This party records the dealing it consumes in `ledger` (durably, before the
    /// online phase) and refuses one recorded there ([`Ledger`]).
    #[must_use]
    pub fn with_ledger(mut self, ledger: Ledger) -> Self {
        self.ledger = Some(ledger);
        self
    }

    /// The ledger of consumed dealings, if this party keeps one.
    pub fn ledger(&self) -> Option<&Ledger> {
        self.ledger.as_ref()
    }

    /// The parties' handshake also names where each one's preprocessing comes from
    /// (`preprocessing = dealer | file | ...`), so that a party running from a file
    /// never pairs with one that fetched fresh material, and after the offline phase
    /// the parties compare their dealing ids (one round in [`Phase::Setup`]), so that
    /// material of two dealings is never mixed. For parties that choose their sources
    /// separately (separate processes); in-process runs give both the same.
    #[must_use]
    pub fn announcing_source(mut self) -> Self {
        self.announce_source = true;
        self
    }

    /// The party (0 or 1).
    pub fn party(&self) -> usize {
        self.party
    }

    /// The session id both parties announce.
    pub fn id(&self) -> SessionId {
        self.id
    }

    /// The configuration both parties announce (with the ring).
    pub fn config(&self) -> &ConfigSummary {
        &self.config
    }

    /// The correlations one run consumes.
    pub fn demand(&self) -> &Demand {
        &self.demand
    }

    /// The session the preprocessing is made for ([`material_session`]).
    pub fn material_session(&self) -> SessionId {
        material_session(self.id, &self.config)
    }

    /// This party's role.
    pub fn role(&self) -> Role {
        if self.party == 0 {
            Role::Party0
        } else {
            Role::Party1
        }
    }

    /// The other party's role.
    pub fn other(&self) -> Role {
        if self.party == 0 {
            Role::Party1
        } else {
            Role::Party0
        }
    }

    fn hello(&self, peer: Role, config: ConfigSummary) -> Handshake {
        Handshake {
            me: self.role(),
            peer,
            session: self.id,
            config,
        }
    }

    /// The handshake with the other party on `ch` (one more link to it, e.g. a
    /// benchmark's timed window), over the job's configuration.
    ///
    /// # Errors
    /// A mismatch naming the field; a transport error.
    pub async fn handshake_peer(&self, ch: &mut Channel) -> Result<()> {
        Ok(self
            .hello(self.other(), self.config.clone())
            .run(ch)
            .await?)
    }
}

/// What one party's session produced, with its measurements.
pub struct PartyOutcome<O> {
    /// The party (0 or 1).
    pub party: usize,
    /// What the job's online phase returned.
    pub output: O,
    /// This party's end of the party-to-party link, all phases.
    pub peer: Metering,
    /// The offline source's own links (the dealer's), all phases; zero for a file.
    pub source: Metering,
    /// The offline source's kind ([`OfflineSource::kind`]: `dealer`, `ot`, `file`,
    /// `material`).
    pub preprocessing: &'static str,
    /// From the end of the handshakes to the correlations being ready.
    pub offline: Duration,
    /// The set-up phase.
    pub setup: Duration,
    /// The online phase, on this party's clock.
    pub online: Duration,
    /// The part of `online` this party spent reading from the other party: waiting for
    /// its messages to start (its computation, the network's latency) and to arrive
    /// (bandwidth). [`Channel::waited`].
    pub online_waiting: Duration,
    /// When this party's online phase started and ended.
    pub online_span: (Instant, Instant),
}

impl<O> fmt::Debug for PartyOutcome<O> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PartyOutcome")
            .field("party", &self.party)
            .field("peer", &self.peer)
            .field("source", &self.source)
            .field("offline", &self.offline)
            .field("setup", &self.setup)
            .field("online", &self.online)
            .field("online_waiting", &self.online_waiting)
            .finish_non_exhaustive()
    }
}

impl<O> PartyOutcome<O> {
    /// The same measurements with `f` applied to the output.
    pub fn map<P>(self, f: impl FnOnce(O) -> P) -> PartyOutcome<P> {
        PartyOutcome {
            party: self.party,
            output: f(self.output),
            peer: self.peer,
            source: self.source,
            preprocessing: self.preprocessing,
            offline: self.offline,
            setup: self.setup,
            online: self.online,
            online_waiting: self.online_waiting,
            online_span: self.online_span,
        }
    }
}

/// A party after its handshakes and its offline phase, in the set-up phase: its link
/// to the other party and its correlations, as an [`ArithParty`].
pub struct Ready<R: Ring> {
    party: ArithParty<R>,
    other: Role,
    source: Metering,
    preprocessing: &'static str,
    offline: Duration,
    since: Instant,
}

impl<R: Ring> fmt::Debug for Ready<R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Ready")
            .field("party", &self.party)
            .field("offline", &self.offline)
            .finish_non_exhaustive()
    }
}

/// A party in its online phase.
pub struct Online<R: Ring> {
    party: ArithParty<R>,
    other: Role,
    source: Metering,
    preprocessing: &'static str,
    offline: Duration,
    setup: Duration,
    since: Instant,
}

impl<R: Ring> fmt::Debug for Online<R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Online")
            .field("party", &self.party)
            .finish_non_exhaustive()
    }
}

/// The step name of the online phase (and of closing the link after it).
fn online_step(other: Role) -> String {
    format!("online phase with {other}")
}

impl<R: Ring> Ready<R> {
    /// The party, for the set-up.
    pub fn party(&mut self) -> &mut ArithParty<R> {
        &mut self.party
    }

    /// The same party taking its correlations from `f(provider)` (e.g. a wrapper that
    /// counts them).
    #[must_use]
    pub fn map_provider(
        self,
        f: impl FnOnce(Box<dyn Provider<R>>) -> Box<dyn Provider<R>>,
    ) -> Self {
        let (ch, provider) = self.party.into_parts();
        Ready {
            party: ArithParty::new(ch, f(provider)),
            ..self
        }
    }

    /// Ends the set-up: from now on the link's traffic is online.
    pub fn into_online(mut self, hooks: &dyn Hooks) -> Online<R> {
        let setup = self.since.elapsed();
        self.party.channel_mut().set_phase(Phase::Online);
        hooks.online_starts();
        Online {
            party: self.party,
            other: self.other,
            source: self.source,
            preprocessing: self.preprocessing,
            offline: self.offline,
            setup,
            since: Instant::now(),
        }
    }
}

impl<R: Ring> Online<R> {
    /// The party, for the online phase.
    pub fn party(&mut self) -> &mut ArithParty<R> {
        &mut self.party
    }

    /// Ends the session: stops the clock, closes the link to the other party.
    ///
    /// # Errors
    /// If the link cannot be flushed within its timeout.
    pub async fn finish<O>(self, output: O) -> std::result::Result<PartyOutcome<O>, SessionError> {
        let end = Instant::now();
        let party = self.party.party();
        let online_waiting = self.party.channel().waited(Phase::Online);
        let (peer, _) = self.party.into_parts();
        let peer = peer.close().await.map_err(at(online_step(self.other)))?;
        Ok(PartyOutcome {
            party,
            output,
            peer,
            source: self.source,
            preprocessing: self.preprocessing,
            offline: self.offline,
            setup: self.setup,
            online: end - self.since,
            online_waiting,
            online_span: (self.since, end),
        })
    }
}

/// Steps 1 and 2 of a party's session: the handshakes (with the other party on `peer`,
/// and the source's), the hooks' [`Hooks::handshaken`], and the offline phase.
///
/// # Errors
/// A handshake mismatch (naming the field), a refusal by the dealer, an unusable
/// preprocessing file, a transport failure or timeout, each with its step.
pub async fn prepare<R: Ring>(
    session: &Session,
    mut peer: Channel,
    source: &mut dyn OfflineSource<R>,
    hooks: &dyn Hooks,
) -> std::result::Result<Ready<R>, SessionError> {
    let other = session.other();
    let mut config = session.config.clone();
    if session.announce_source {
        config = config.with("preprocessing", source.kind());
    }
    let hello = session.hello(other, config);
    // Separate processes: a source that does not use the link to the other party (the
    // dealer, a file) runs while that link is watched, so that if the other party goes
    // away this one stops waiting for the source at once instead of at its timeout.
    // (In one process the roles are joined and the first failure stops all; there a
    // party may also finish a trivial job and close its link while the other is still
    // in its offline phase.)
    let watch = session.announce_source && !source.uses_peer();
    let gone = |e: tessera_core::Error| {
        SessionError::new(
            format!(
                "offline phase: {other} has gone while this party waited for its preprocessing"
            ),
            e,
        )
    };
    // The source's handshake first: it is polled before the other party's, and an
    // error of either stops both, so the source's hello is queued even if the other
    // party's answer is already there and fails the handshake at once (the dealer then
    // names the mismatch instead of seeing this party vanish).
    let shaken = {
        let (hello_done, hello_seen) = tokio::sync::oneshot::channel::<()>();
        let peer_side = async {
            hello
                .run(&mut peer)
                .await
                .map_err(at(format!("handshake with {other}")))?;
            let _ = hello_done.send(());
            if watch {
                Err(gone(peer.closed().await))
            } else {
                std::future::pending::<std::result::Result<(), SessionError>>().await
            }
        };
        tokio::pin!(peer_side);
        let source_side = source.handshake(session);
        tokio::select! {
            biased;
            r = source_side => match r {
                Ok(()) => tokio::select! {
                    biased;
                    r = &mut peer_side => r,
                    _ = hello_seen => Ok(()),
                },
                Err(e) => Err(e),
            },
            r = &mut peer_side => r,
        }
    };
    if let Err(e) = shaken {
        // Our hellos are queued: let them leave before this party stops, so that the
        // others hear us and name a mismatch too (best effort: the error is `e`).
        let _ = tokio::join!(peer.flush(), async {
            match source.link() {
                Some(l) => l.flush().await,
                None => Ok(()),
            }
        });
        return Err(e);
    }
    let mut links = vec![&mut peer];
    links.extend(source.link());
    hooks
        .handshaken(links)
        .await
        .map_err(at("after the handshakes"))?;
    let started = Instant::now();
    hooks.offline_starts();
    let provider = if watch {
        // The source does not use the link; it gets an unconnected stand-in so that
        // the real one can be watched meanwhile.
        let (mut stand_in, _far) = Channel::in_memory_pair(*peer.config());
        tokio::select! {
            r = source.obtain(session, &mut stand_in) => r?,
            e = peer.closed() => return Err(gone(e)),
        }
    } else {
        source.obtain(session, &mut peer).await?
    };
    let offline = started.elapsed();
    if provider.party() != session.party {
        return Err(SessionError::new(
            "offline phase",
            Error::InvalidArgument {
                op: "offline source",
                detail: format!(
                    "party {} was given party {}'s correlations",
                    session.party,
                    provider.party()
                ),
            },
        ));
    }
    let dealing = source.dealing();
    if let (Some(ledger), Some(d)) = (session.ledger.clone(), dealing) {
        let party = session.party;
        tokio::task::spawn_blocking(move || ledger.record(party, d))
            .await
            .map_err(|e| Error::Task(format!("recording the dealing in the ledger: {e}")))
            .and_then(|r| r)
            .map_err(at("offline phase: recording the dealing as consumed"))?;
    }
    peer.set_phase(Phase::Setup);
    if session.announce_source {
        compare_dealings(&mut peer, dealing, other)
            .await
            .map_err(at(format!("checking the dealing with {other}")))?;
    }
    Ok(Ready {
        party: ArithParty::new(peer, provider),
        other,
        source: source.metering(),
        preprocessing: source.kind(),
        offline,
        since: Instant::now(),
    })
}

/// Sends this party's dealing id and compares it with the other party's: material of
/// two dealings must not meet (one round).
async fn compare_dealings(peer: &mut Channel, ours: Option<DealingId>, other: Role) -> Result<()> {
    peer.send(&ours).await?;
    let theirs: Option<DealingId> = peer.recv().await?;
    match (ours, theirs) {
        (Some(a), Some(b)) if a != b => {
            // Let ours reach the other party before this one stops, so that it names
            // the difference too (best effort: the error is the difference).
            let _ = peer.flush().await;
            Err(Error::DealingsDiffer {
                ours: a,
                peer: other.to_string(),
                theirs: b,
            })
        }
        _ => Ok(()),
    }
}

/// One party's whole session of `job`: [`prepare`] (handshakes, offline phase through
/// `source`), [`Job::setup`], [`Job::online`] on `input`, and the closing of the link.
///
/// # Errors
/// As [`prepare`]; the job's errors in the set-up or online phase, with the step.
pub async fn run_party<J: Job>(
    job: &J,
    session: &Session,
    peer: Channel,
    source: &mut dyn OfflineSource<J::Ring>,
    input: J::Input,
    hooks: &dyn Hooks,
) -> std::result::Result<PartyOutcome<J::Output>, SessionError<J::Error>> {
    let mut ready = prepare(session, peer, source, hooks)
        .await
        .map_err(|e| e.map(J::Error::from))?
        .map_provider(|p| job.provider(p));
    let other = session.other();
    let prepared = job
        .setup(ready.party())
        .await
        .map_err(at(format!("set-up with {other}")))?;
    let mut online = ready.into_online(hooks);
    let output = job
        .online(online.party(), prepared, input)
        .await
        .map_err(at(online_step(other)))?;
    online
        .finish(output)
        .await
        .map_err(|e| e.map(J::Error::from))
}

/// One party's offline phase alone, from the dealer on `dealer`: the handshake, the
/// hooks' [`Hooks::handshaken`], the fetch (not expanded, e.g. to save it with
/// [`PartyMaterial::save`]), with the metering of the dealer link.
///
/// # Errors
/// A handshake mismatch, a refusal by the dealer, a transport failure, with the step.
pub async fn fetch_material<R: Ring>(
    session: &Session,
    dealer: Channel,
    hooks: &dyn Hooks,
) -> std::result::Result<(PartyMaterial, Metering), SessionError> {
    let mut source = DealerSource::new(dealer);
    source.handshake_dealer(session).await?;
    hooks
        .handshaken(source.link_mut().into_iter().collect())
        .await
        .map_err(at("after the handshakes"))?;
    hooks.offline_starts();
    let material = source.fetch::<R>(session).await?;
    Ok((material, source.link_metering()))
}

/// [`fetch_material`] written to the preprocessing file `path` as it arrives
/// ([`DealerSource::fetch_to_file`]: the material is never all in memory); returns the
/// metering of the link to the dealer.
///
/// # Errors
/// As [`fetch_material`]; a file that cannot be written.
pub async fn fetch_material_to<R: Ring>(
    session: &Session,
    dealer: Channel,
    hooks: &dyn Hooks,
    path: &Path,
) -> std::result::Result<Metering, SessionError> {
    let mut source = DealerSource::new(dealer);
    source.handshake_dealer(session).await?;
    hooks
        .handshaken(source.link_mut().into_iter().collect())
        .await
        .map_err(at("after the handshakes"))?;
    hooks.offline_starts();
    source.fetch_to_file::<R>(session, path).await?;
    Ok(source.link_metering())
}

/// What the dealer served.
#[derive(Clone, Debug)]
pub struct Served {
    /// The session the parties announced.
    pub session: SessionId,
    /// Their job (the configuration's `job`).
    pub job: String,
    /// The metering of the links to party 0 and party 1.
    pub metering: [Metering; 2],
}

/// The dealer's session on two links to the parties (accepted in any order): the
/// mediated handshake, the hooks' [`Hooks::handshaken`], the material for the
/// parties' demand in the ring their configuration names, made for the
/// [`material_session`], and the closing of both links. The dealer has no
/// configuration of its own: it serves whatever job the parties agree on.
///
/// # Errors
/// The parties disagree (naming the field), demands that differ or are invalid, a
/// ring the dealer does not serve, a transport failure, with the step.
pub async fn serve_dealer(
    links: [Channel; 2],
    hooks: &dyn Hooks,
) -> std::result::Result<Served, SessionError> {
    let Mediated {
        channels: [mut c0, mut c1],
        session,
        config,
    } = mediate(Role::Dealer, links)
        .await
        .map_err(at("handshake with the parties"))?;
    hooks
        .handshaken(vec![&mut c0, &mut c1])
        .await
        .map_err(at("after the handshakes"))?;
    let msession = material_session(session, &config);
    let ring = config.0.get("ring").map_or("<none>", String::as_str);
    let what = "serving the parties' preprocessing";
    let served = if ring == Z64::NAME {
        dealer::serve::<Z64>(msession, &mut c0, &mut c1).await
    } else if ring == Z32::NAME {
        dealer::serve::<Z32>(msession, &mut c0, &mut c1).await
    } else {
        Err(Error::InvalidArgument {
            op: "dealer",
            detail: format!(
                "the parties' configuration names ring {ring}; the dealer serves {} and {}",
                Z64::NAME,
                Z32::NAME
            ),
        })
    };
    if let Err(e) = served {
        // Deliver the refusal `serve` queued for a party that is still there before
        // giving up (best effort: the error to report is `e`).
        let _ = tokio::join!(c0.close(), c1.close());
        return Err(SessionError::new(what, e));
    }
    let (m0, m1) = tokio::try_join!(c0.close(), c1.close()).map_err(at(what))?;
    Ok(Served {
        session,
        job: config.0.get("job").cloned().unwrap_or_default(),
        metering: [m0, m1],
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn material_session_depends_on_session_and_job() {
        let s = SessionId([7; 16]);
        let c = ConfigSummary::new().with("job", "circuit").with("batch", 1);
        let m = material_session(s, &c);
        assert_eq!(m, material_session(s, &c.clone()));
        assert_ne!(m, s);
        assert_ne!(m, material_session(SessionId([8; 16]), &c));
        assert_ne!(m, material_session(s, &c.with("batch", 2)));
    }

    #[test]
    fn a_session_has_two_parties() {
        let d = Demand::new();
        let s =
            Session::with::<Z64>(1, SessionId([1; 16]), ConfigSummary::new(), d.clone()).unwrap();
        assert_eq!((s.role(), s.other()), (Role::Party1, Role::Party0));
        assert_eq!(s.config().0.get("ring").map(String::as_str), Some("Z64"));
        assert!(Session::with::<Z64>(2, SessionId([1; 16]), ConfigSummary::new(), d).is_err());
    }
}
