//! The roles of a run, for any [`Job`]: one party ([`party`]; or only its offline phase,
//! [`offline`]) and the dealer ([`dealer`](fn@dealer)). `tessera circuit` runs all three as tasks
//! of one process; `tessera dealer` and `tessera party` run each in its own process.
//! These functions get connected channels and never open connections themselves.
//!
//! # Handshakes
//! Every connection opens with a handshake ([`Handshake`]: one round; two with the
//! dealer, which answers once it has heard both parties) that checks the
//! session id and the job's configuration ([`Job::config`]). Between the parties the
//! configuration also names where the preprocessing comes from (`preprocessing =
//! dealer | file`), so a party that fetches fresh material never runs with one that
//! loads a file. The dealer has no configuration of its own: it [`mediate`]s, checking
//! that both parties announce the same session and configuration and relaying each
//! one's values to the other, so a mismatch is named at all three ends.
//!
//! # Preprocessing
//! Material is made for the [`material_session`]: the session bound to the job. The
//! dealer serves it ([`dealer::serve`]), a party fetches it ([`dealer::fetch`]) or
//! loads a file saved by an earlier offline run ([`PartyMaterial::load`], which marks
//! the file consumed on disk before anything uses it).
//!
//! # Failure
//! Each step's error says which step and which connection failed. Every connect,
//! accept, receive and send is bounded by the channel's timeout, so a party whose peer
//! or dealer disappears or falls silent stops with an error, never waits for ever.

use std::path::Path;
use std::time::Instant;

use tessera_core::{
    Channel, ConfigSummary, Handshake, Mediated, Metering, Phase, Ring, Role, SessionId, Z32, Z64,
    mediate,
};
use tessera_protocols::{Demand, PartyMaterial, Store, dealer};

use crate::CliError;
use crate::job::{Job, PartyRun, material_session};
use crate::pause::{Hooks, Link, PausePoint};

/// Where a party's preprocessing comes from.
pub enum Source<'a> {
    /// Fetched now from the dealer on this channel.
    Dealer(Box<Channel>),
    /// Loaded from a file saved by an earlier offline run.
    File(&'a Path),
}

impl Source<'_> {
    fn name(&self) -> &'static str {
        match self {
            Source::Dealer(_) => "dealer",
            Source::File(_) => "file",
        }
    }
}

/// The error of a step: `step: source`.
pub fn step<E: Into<CliError>>(what: impl Into<String>) -> impl FnOnce(E) -> CliError {
    move |e| CliError::Step {
        step: what.into(),
        source: Box::new(e.into()),
    }
}

fn roles(p: usize) -> Result<(Role, Role), CliError> {
    let me = Role::party(p).ok_or_else(|| CliError::Usage(format!("party {p} does not exist")))?;
    let other = me
        .other()
        .ok_or_else(|| CliError::Usage(format!("party {p} has no peer")))?;
    Ok((me, other))
}

async fn handshake(
    ch: &mut Channel,
    me: Role,
    peer: Role,
    session: SessionId,
    config: ConfigSummary,
) -> Result<(), CliError> {
    Handshake {
        me,
        peer,
        session,
        config,
    }
    .run(ch)
    .await?;
    Ok(())
}

/// Who runs a party role.
pub struct Seat {
    /// The party (0 or 1).
    pub party: usize,
    /// The session both parties announce.
    pub session: SessionId,
    /// The network profile of its channels (for reports).
    pub network: String,
}

/// One party's whole run: the handshakes, the offline phase (fetching from the dealer,
/// or loading a file), the expansion of the material, the job's online phase, and the
/// closing of the connections.
///
/// # Errors
/// A handshake mismatch, a refusal by the dealer, an unusable preprocessing file, or a
/// transport or protocol failure, each named with its step.
pub async fn party<J: Job>(
    job: &J,
    seat: &Seat,
    mut peer: Channel,
    source: Source<'_>,
    inputs: &J::Inputs,
    hooks: &Hooks,
) -> Result<PartyRun<J::Output>, CliError> {
    let (p, session) = (seat.party, seat.session);
    let (me, other) = roles(p)?;
    let config = job.config();
    let demand = job.demand()?;
    let msession = material_session(session, &config);
    let peer_config = config.clone().with("preprocessing", source.name());
    let peer_hs = async {
        handshake(&mut peer, me, other, session, peer_config)
            .await
            .map_err(step(format!("handshake with {other}")))
    };
    let (material, dealer_metering, t0) = match source {
        Source::Dealer(mut d) => {
            let dealer_hs = async {
                handshake(&mut d, me, Role::Dealer, session, config)
                    .await
                    .map_err(step(
                        "handshake with the dealer (it relays the other party's values)",
                    ))
            };
            if let Err(e) = tokio::try_join!(dealer_hs, peer_hs) {
                // Our hellos are queued: let them leave before this party stops, so
                // that the dealer and the other party hear us and name a mismatch too
                // (best effort: the error to report is `e`).
                let _ = tokio::join!(d.flush(), peer.flush());
                return Err(e);
            }
            hooks
                .reached(PausePoint::Handshake, &mut [&mut peer, &mut d])
                .await?;
            let t0 = Instant::now();
            hooks.arm(Link::Dealer);
            let what = "offline phase: fetching preprocessing from the dealer";
            let m = dealer::fetch::<J::Ring>(&mut d, p, msession, &demand)
                .await
                .map_err(step(what))?;
            let metering = d.close().await.map_err(step(what))?;
            (m, metering, t0)
        }
        Source::File(path) => {
            if let Err(e) = peer_hs.await {
                let _ = peer.flush().await;
                return Err(e);
            }
            hooks
                .reached(PausePoint::Handshake, &mut [&mut peer])
                .await?;
            let t0 = Instant::now();
            (claim(path, p, msession, &demand)?, Metering::default(), t0)
        }
    };
    let mut store = tokio::task::spawn_blocking(move || Store::from_material(&material))
        .await
        .map_err(|e| CliError::Task(format!("expanding party {p}'s preprocessing: {e}")))??;
    let offline = t0.elapsed();
    peer.set_phase(Phase::Online);
    hooks.arm(Link::Peer);
    let online_step = format!("online phase with {other}");
    let t1 = Instant::now();
    let output = job
        .online(p, &mut peer, &mut store, inputs)
        .await
        .map_err(step(&online_step))?;
    let online = t1.elapsed();
    let mut metering = peer.close().await.map_err(step(online_step))?;
    metering.merge(&dealer_metering);
    eprintln!(
        "party {p}: offline {:.1} ms, online {:.1} ms",
        offline.as_secs_f64() * 1e3,
        online.as_secs_f64() * 1e3
    );
    Ok(PartyRun {
        party: p,
        session,
        network: seat.network.clone(),
        output,
        metering,
        offline,
        online,
    })
}

/// One party's offline phase alone: the handshake with the dealer, the fetch, and the
/// material saved to `store` (atomically; mode 0600). Returns the metering of the
/// dealer connection.
///
/// # Errors
/// A handshake mismatch, a refusal by the dealer, a transport failure, or a file that
/// cannot be written.
pub async fn offline<J: Job>(
    job: &J,
    p: usize,
    session: SessionId,
    mut to_dealer: Channel,
    store: &Path,
    hooks: &Hooks,
) -> Result<Metering, CliError> {
    let (me, _) = roles(p)?;
    let config = job.config();
    let demand = job.demand()?;
    let msession = material_session(session, &config);
    handshake(&mut to_dealer, me, Role::Dealer, session, config)
        .await
        .map_err(step(
            "handshake with the dealer (it relays the other party's values)",
        ))?;
    hooks
        .reached(PausePoint::Handshake, &mut [&mut to_dealer])
        .await?;
    hooks.arm(Link::Dealer);
    let what = "offline phase: fetching preprocessing from the dealer";
    let material = dealer::fetch::<J::Ring>(&mut to_dealer, p, msession, &demand)
        .await
        .map_err(step(what))?;
    let metering = to_dealer.close().await.map_err(step(what))?;
    material.save(store)?;
    Ok(metering)
}

/// Checks a preprocessing file without claiming it: it must be this party's, fresh,
/// intact, and made for this session and job.
///
/// # Errors
/// What is wrong with the file, in words a user can act on.
pub fn check_file<J: Job>(
    job: &J,
    p: usize,
    session: SessionId,
    path: &Path,
) -> Result<(), CliError> {
    let config = job.config();
    let demand = job.demand()?;
    let found = PartyMaterial::verify(path, p, material_session(session, &config))
        .map_err(|e| file_error(path, e))?;
    same_demand(path, &demand, &found)
}

/// Claims (loads and marks consumed) a preprocessing file made for this run.
fn claim(
    path: &Path,
    p: usize,
    msession: SessionId,
    demand: &Demand,
) -> Result<PartyMaterial, CliError> {
    let m = PartyMaterial::load(path, p, msession).map_err(|e| file_error(path, e))?;
    same_demand(path, demand, &m.demand)?;
    Ok(m)
}

fn same_demand(path: &Path, want: &Demand, found: &Demand) -> Result<(), CliError> {
    if want == found {
        return Ok(());
    }
    Err(CliError::Usage(format!(
        "preprocessing file {}: it answers {} correlation requests, this job needs {}; \
         it was made for another job",
        path.display(),
        found.len(),
        want.len()
    )))
}

/// A preprocessing-file error, explained where the library's words are not enough.
fn file_error(path: &Path, e: tessera_protocols::Error) -> CliError {
    match e {
        tessera_protocols::Error::SessionMismatch { .. } => CliError::Usage(format!(
            "preprocessing file {} was made for another session or another job: run the \
             online phase with the --session and the job options of the offline run that \
             wrote it",
            path.display()
        )),
        tessera_protocols::Error::AlreadyConsumed { .. } => CliError::Usage(format!(
            "preprocessing file {} was already consumed by an earlier run: correlated \
             randomness is used once; run the offline phase again (with a fresh --session) \
             for another run",
            path.display()
        )),
        other => other.into(),
    }
}

/// What the dealer served.
#[derive(Debug)]
pub struct Served {
    /// The session the parties announced.
    pub session: SessionId,
    /// The job they run (its configuration's `job`).
    pub job: String,
    /// The metering of the connections to party 0 and party 1.
    pub metering: [Metering; 2],
}

/// The dealer's run on two accepted connections (in any order): the mediated
/// handshake, the material for the parties' job in the ring their configuration names,
/// and the closing of both connections.
///
/// # Errors
/// The parties disagree (naming the field), a demand mismatch or invalid demand, an
/// unknown ring, or a transport failure.
pub async fn dealer(channels: [Channel; 2], hooks: &Hooks) -> Result<Served, CliError> {
    let Mediated {
        channels: [mut c0, mut c1],
        session,
        config,
    } = mediate(Role::Dealer, channels)
        .await
        .map_err(step("handshake with the parties"))?;
    hooks
        .reached(PausePoint::Handshake, &mut [&mut c0, &mut c1])
        .await?;
    let msession = material_session(session, &config);
    let ring = config.0.get("ring").map_or("<none>", String::as_str);
    let what = "serving the parties' preprocessing";
    let served = if ring == Z64::NAME {
        dealer::serve::<Z64>(msession, &mut c0, &mut c1).await
    } else if ring == Z32::NAME {
        dealer::serve::<Z32>(msession, &mut c0, &mut c1).await
    } else {
        return Err(CliError::Usage(format!(
            "the parties' configuration names ring {ring}; the dealer serves {} and {}",
            Z64::NAME,
            Z32::NAME
        )));
    };
    if let Err(e) = served {
        // Deliver the refusal `serve` queued for a party that is still there before
        // this process exits (best effort: the error to report is `e`).
        let _ = tokio::join!(c0.close(), c1.close());
        return Err(step(what)(e));
    }
    let (m0, m1) = tokio::try_join!(c0.close(), c1.close()).map_err(step(what))?;
    Ok(Served {
        session,
        job: config.0.get("job").cloned().unwrap_or_default(),
        metering: [m0, m1],
    })
}
