//! The dealer and both parties in this process: [`run_local`] opens the three links
//! (party 0 – party 1, dealer – party 0, dealer – party 1) over TCP loopback (plain or
//! mutual TLS with keys made for the run) or in memory, runs each role in its own task ([`super::serve_dealer`],
//! [`super::run_party`] with a [`DealerSource`]), and joins them under a deadline:
//! the first failure of any role ends the run (the other tasks are aborted rather
//! than left to their channel timeouts). The error reported is the one that happened
//! first: a role that fails closes its links, and the others then fail too (a closed
//! connection) — whichever of them the join happens to see first, the root cause is
//! the earliest (the others get [`GRACE`] to report theirs). With [`Offline::Ot`] there is no dealer: the
//! parties make their correlations with OT extension ([`crate::ot::source::OtSource`])
//! over their own link, and only that link is opened.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use tessera_core::{Channel, ChannelConfig, SessionId};
use tokio::net::TcpListener;
use tokio::task::{JoinError, JoinHandle};

use super::{
    DealerSource, Hooks, Job, NoHooks, PartyOutcome, Served, Session, SessionError, run_party,
    serve_dealer,
};
use crate::Error;
use crate::ot::pairing::PairingSlot;
use crate::ot::source::OtSource;

/// How the roles of a local run are connected.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Transport {
    /// In-memory channels.
    InMemory,
    /// TCP on 127.0.0.1 (ephemeral ports).
    Tcp,
    /// Mutual TLS 1.3 over TCP on 127.0.0.1, with keys made for the run and pinned
    /// ([`tessera_core::tls::ephemeral`]): what separate processes pay for TLS, measured
    /// in one process.
    Tls,
}

impl Transport {
    /// How the roles are connected, in words (commands print it).
    pub fn describe(self) -> &'static str {
        match self {
            Transport::InMemory => "in-memory channels in this process",
            Transport::Tcp => {
                "TCP on loopback in this process, plain (no TLS: nothing leaves this machine)"
            }
            Transport::Tls => {
                "TCP on loopback in this process, mutual TLS 1.3 with keys made for this run"
            }
        }
    }
}

/// Where the parties' correlations come from in a local run.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Offline {
    /// A dealer task in this process ([`super::serve_dealer`]).
    #[default]
    Dealer,
    /// The parties themselves, by OT extension ([`crate::ot::source::OtSource`]).
    Ot,
}

impl Offline {
    /// `dealer` or `ot`, as on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Offline::Dealer => "dealer",
            Offline::Ot => "ot",
        }
    }
}

impl std::str::FromStr for Offline {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "dealer" => Ok(Offline::Dealer),
            "ot" => Ok(Offline::Ot),
            other => Err(format!(
                "offline source `{other}`: expected `dealer` or `ot`"
            )),
        }
    }
}

/// Two ends of one link.
///
/// # Errors
/// Binding, connecting or accepting a TCP loopback connection fails.
pub async fn pair(
    transport: Transport,
    config: ChannelConfig,
) -> tessera_core::Result<(Channel, Channel)> {
    let (mut a, mut b) = ends(transport, config).await?;
    // Both ends are in this process: a shaped link stamps its frames' delivery times
    // instead of holding them in the writer (see `Channel::share_clock`).
    Channel::share_clock(&mut a, &mut b);
    Ok((a, b))
}

async fn ends(
    transport: Transport,
    config: ChannelConfig,
) -> tessera_core::Result<(Channel, Channel)> {
    match transport {
        Transport::InMemory => Ok(Channel::in_memory_pair(config)),
        Transport::Tcp => {
            let io = |context| move |source| tessera_core::Error::Io { context, source };
            let listener = TcpListener::bind("127.0.0.1:0")
                .await
                .map_err(io("binding a loopback port"))?;
            let addr = listener
                .local_addr()
                .map_err(io("reading the local address"))?;
            let (a, b) = tokio::join!(
                Channel::accept(&listener, config),
                Channel::connect(addr, config)
            );
            Ok((a?, b?))
        }
        Transport::Tls => {
            let io = |context| move |source| tessera_core::Error::Io { context, source };
            let [p0, p1, _] = tessera_core::tls::ephemeral()?;
            let listener = TcpListener::bind("127.0.0.1:0")
                .await
                .map_err(io("binding a loopback port"))?;
            let addr = listener
                .local_addr()
                .map_err(io("reading the local address"))?;
            let deadline = tessera_core::tls::handshake_deadline(config.timeout);
            let (a, b) = tokio::join!(
                async {
                    let s = tessera_core::channel::accept_tcp(&listener, config.timeout).await?;
                    s.set_nodelay(true).map_err(io("setting TCP_NODELAY"))?;
                    p0.accept(s, deadline).await
                },
                async {
                    let s = tessera_core::channel::connect_tcp(addr, config.timeout).await?;
                    s.set_nodelay(true).map_err(io("setting TCP_NODELAY"))?;
                    p1.connect(s, tessera_core::Role::Party0, deadline).await
                }
            );
            Ok((
                Channel::from_stream(a?.1, config),
                Channel::from_stream(b?, config),
            ))
        }
    }
}

/// Settings of a [`run_local`].
#[derive(Clone)]
pub struct Local {
    /// How the roles are connected.
    pub transport: Transport,
    /// The session all three roles announce.
    pub session: SessionId,
    /// The link between the parties (its profile shapes the online phase).
    pub peer: ChannelConfig,
    /// The links to the dealer.
    pub dealer: ChannelConfig,
    /// Time limit of the whole run.
    pub deadline: Duration,
    /// Whether the parties' handshake names the source (see
    /// [`Session::announcing_source`]).
    pub announce_source: bool,
    /// Hooks of all three roles.
    pub hooks: Arc<dyn Hooks>,
    /// Where the correlations come from.
    pub offline: Offline,
    /// With [`Offline::Ot`]: where each party keeps its OT pairing between runs
    /// ([`crate::ot::pairing`]; `None`: base OTs every run).
    pub pairings: Option<[PairingSlot; 2]>,
}

impl fmt::Debug for Local {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Local")
            .field("transport", &self.transport)
            .field("session", &self.session)
            .field("peer", &self.peer)
            .field("dealer", &self.dealer)
            .field("deadline", &self.deadline)
            .field("offline", &self.offline)
            .field("paired", &self.pairings.is_some())
            .finish_non_exhaustive()
    }
}

impl Local {
    /// A fresh random session over `transport`, every link configured by `channel`,
    /// the whole run within `deadline`, no hooks.
    pub fn new(transport: Transport, channel: ChannelConfig, deadline: Duration) -> Self {
        Local {
            transport,
            session: SessionId::random(),
            peer: channel,
            dealer: channel,
            deadline,
            announce_source: false,
            hooks: Arc::new(NoHooks),
            offline: Offline::Dealer,
            pairings: None,
        }
    }
}

/// Both parties' outcomes of a [`run_local`], and what the dealer served.
#[derive(Debug)]
pub struct LocalRun<O> {
    /// Party 0 and party 1.
    pub parties: [PartyOutcome<O>; 2],
    /// The dealer's side (with [`Offline::Ot`]: the session, the job, no traffic).
    pub served: Served,
}

impl<O> LocalRun<O> {
    /// The online latency: from the moment the later party starts its online phase
    /// to the last one finishing. A party that only sends in the set-up (party 0's
    /// masked weights) is done with it as soon as they are queued, the other only once
    /// they have arrived (on a shaped link, their transmission time later); the first
    /// party's own clock would count that wait as online time.
    pub fn online_latency(&self) -> std::time::Duration {
        let [a, b] = &self.parties;
        let start = a.online_span.0.max(b.online_span.0);
        let end = a.online_span.1.max(b.online_span.1);
        end.saturating_duration_since(start)
    }
}

/// A spawned task that is aborted when dropped (so that the first failure of a role,
/// or the deadline, stops the others).
struct Task<T>(JoinHandle<T>);

impl<T> Drop for Task<T> {
    fn drop(&mut self) {
        self.0.abort();
    }
}

impl<T> Future for Task<T> {
    type Output = Result<T, JoinError>;
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        Pin::new(&mut self.0).poll(cx)
    }
}

fn spawn<T: Send + 'static>(f: impl Future<Output = T> + Send + 'static) -> Task<T> {
    Task(tokio::spawn(f))
}

/// `all` within `deadline`, or the deadline as the session's error.
async fn within<T, E: From<Error>>(
    deadline: Duration,
    all: impl Future<Output = Result<T, SessionError<E>>>,
) -> Result<T, SessionError<E>> {
    tokio::time::timeout(deadline, all)
        .await
        .map_err(|_| SessionError::new("the session", Error::Timeout(deadline)).map(E::from))?
}

/// How long the other roles get to report their errors after the first one is seen.
pub const GRACE: Duration = Duration::from_secs(2);

/// A role's result; an error carries when it happened.
type Stamped<T, E> = Result<T, (Instant, SessionError<E>)>;

/// Spawns a role whose error is stamped with the time it happened.
fn spawn_role<T: Send + 'static, E: Send + 'static>(
    f: impl Future<Output = Result<T, SessionError<E>>> + Send + 'static,
) -> Task<Stamped<T, E>> {
    spawn(async move { f.await.map_err(|e| (Instant::now(), e)) })
}

/// A role's result, with a panicked or cancelled task as an error.
async fn joined<T, E: From<Error>>(task: Task<Stamped<T, E>>) -> Stamped<T, E> {
    task.await.map_err(|e| {
        (
            Instant::now(),
            SessionError::new("a session task", Error::Task(e.to_string())),
        )
    })?
}

/// All three roles' results, or — once one has failed and the others have had
/// [`GRACE`] to finish — the error that happened first.
async fn join_roles<A, B, C, E: From<Error>>(
    a: impl Future<Output = Stamped<A, E>>,
    b: impl Future<Output = Stamped<B, E>>,
    c: impl Future<Output = Stamped<C, E>>,
) -> Result<(A, B, C), SessionError<E>> {
    let (mut a, mut b, mut c) = (Box::pin(a), Box::pin(b), Box::pin(c));
    let (mut ra, mut rb, mut rc) = (None, None, None);
    let mut until: Option<tokio::time::Instant> = None;
    loop {
        let grace = async {
            match until {
                Some(t) => tokio::time::sleep_until(t).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            r = &mut a, if ra.is_none() => ra = Some(r),
            r = &mut b, if rb.is_none() => rb = Some(r),
            r = &mut c, if rc.is_none() => rc = Some(r),
            () = grace => break,
        }
        let failed = [
            ra.as_ref().is_some_and(Result::is_err),
            rb.as_ref().is_some_and(Result::is_err),
            rc.as_ref().is_some_and(Result::is_err),
        ];
        if failed.contains(&true) && until.is_none() {
            until = Some(tokio::time::Instant::now() + GRACE);
        }
        if ra.is_some() && rb.is_some() && rc.is_some() {
            break;
        }
    }
    let mut first: Option<(Instant, SessionError<E>)> = None;
    let mut keep = |e: (Instant, SessionError<E>)| {
        if first.as_ref().is_none_or(|f| e.0 < f.0) {
            first = Some(e);
        }
    };
    let oks = (
        ra.map(|r| r.map_err(&mut keep).ok()),
        rb.map(|r| r.map_err(&mut keep).ok()),
        rc.map(|r| r.map_err(&mut keep).ok()),
    );
    match (first, oks) {
        (Some((_, e)), _) => Err(e),
        (None, (Some(Some(a)), Some(Some(b)), Some(Some(c)))) => Ok((a, b, c)),
        // Unreachable: the loop ends with every role done or an error seen.
        (None, _) => Err(SessionError::new(
            "joining the roles",
            Error::Task("a role ended without a result".into()),
        )),
    }
}

/// Runs `job` with the dealer and both parties in this process, party `p` on
/// `inputs[p]`, each role in its own task (see the module docs).
///
/// # Errors
/// The first error of any role, with its step; the deadline.
pub async fn run_local<J>(
    job: Arc<J>,
    inputs: [J::Input; 2],
    local: &Local,
) -> Result<LocalRun<J::Output>, SessionError<J::Error>>
where
    J: Job + 'static,
    J::Input: 'static,
    J::Output: 'static,
    J::Error: 'static,
{
    let opening = "opening the local links";
    let link = |config| async move {
        pair(local.transport, config)
            .await
            .map_err(|e| SessionError::new(opening, Error::from(e)).map(J::Error::from))
    };
    let (peer0, peer1) = link(local.peer).await?;
    let session = |p: usize| {
        let s = Session::new(&*job, p, local.session)
            .map_err(|e| SessionError::new("preparing the session", e))?;
        Ok::<_, SessionError<J::Error>>(if local.announce_source {
            s.announcing_source()
        } else {
            s
        })
    };
    let sessions = [session(0)?, session(1)?];
    let hooks = &local.hooks;
    let [in0, in1] = inputs;
    let [s0, s1] = sessions;
    let (served, r0, r1) = match local.offline {
        Offline::Dealer => {
            let (to_dealer0, dealer0) = link(local.dealer).await?;
            let (to_dealer1, dealer1) = link(local.dealer).await?;
            let dealer = {
                let hooks = hooks.clone();
                spawn_role(async move {
                    serve_dealer([dealer0, dealer1], &*hooks)
                        .await
                        .map_err(|e| e.map(J::Error::from))
                })
            };
            let party = |s: Session, peer: Channel, to_dealer: Channel, input: J::Input| {
                let (job, hooks) = (job.clone(), hooks.clone());
                spawn_role(async move {
                    let mut source = DealerSource::new(to_dealer);
                    run_party(&*job, &s, peer, &mut source, input, &*hooks).await
                })
            };
            let p0 = party(s0, peer0, to_dealer0, in0);
            let p1 = party(s1, peer1, to_dealer1, in1);
            let all = join_roles(joined(dealer), joined(p0), joined(p1));
            within(local.deadline, all).await?
        }
        Offline::Ot => {
            let served = Served {
                session: local.session,
                job: s0.config().0.get("job").cloned().unwrap_or_default(),
                metering: Default::default(),
            };
            let party = |s: Session, peer: Channel, input: J::Input| {
                let (job, hooks) = (job.clone(), hooks.clone());
                let slot = local.pairings.as_ref().map(|p| p[s.party()].clone());
                spawn_role(async move {
                    let mut source = slot.map_or_else(OtSource::new, OtSource::paired);
                    run_party(&*job, &s, peer, &mut source, input, &*hooks).await
                })
            };
            let p0 = party(s0, peer0, in0);
            let p1 = party(s1, peer1, in1);
            let none = async { Ok::<(), (Instant, SessionError<J::Error>)>(()) };
            let (r0, r1, ()) =
                within(local.deadline, join_roles(joined(p0), joined(p1), none)).await?;
            (served, r0, r1)
        }
    };
    Ok(LocalRun {
        parties: [r0, r1],
        served,
    })
}
