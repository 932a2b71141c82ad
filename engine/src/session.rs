//! A whole secure-inference session over channels: handshakes (set-up phase), the
//! dealer's material (offline), the weights' set-up, the inference (online), with
//! timings and exact metering per phase and party — and [`loopback`], which runs the
//! dealer and both parties in this process over TCP loopback.

use std::time::{Duration, Instant};

use serde::Serialize;
use sha2::{Digest, Sha256};
use tessera_conversions::Converter;
use tessera_core::{
    Channel, ChannelConfig, ConfigSummary, Handshake, Metering, Phase, Ring, Role, SessionId,
};
use tessera_protocols::{ArithParty, Store, dealer};
use tokio::net::TcpListener;

use crate::{Assignment, RunOptions, SecureOutput, demand, infer_party, setup_party};
use crate::{Error, Result};
use tessera_models::fixed::FixedModel;

/// The SHA-256 of a model's architecture and fixed-point format — what both parties
/// must agree on (the weights are party 0's secret and do not enter it).
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

/// What one party's session measured.
#[derive(Clone, Debug, Serialize)]
pub struct PartyReport<R> {
    /// The party's output (the client's labels/scores; nothing for party 0).
    #[serde(skip)]
    pub output: SecureOutput<R>,
    /// Its end of the party-to-party channel, all phases.
    pub peer: Metering,
    /// Its end of the channel to the dealer.
    pub dealer: Metering,
    /// Fetching and expanding the dealer's material.
    pub offline: Duration,
    /// Sending/receiving the masked weights.
    pub setup: Duration,
    /// The inference, on this party's clock (from its end of the set-up).
    pub online: Duration,
    /// When this party's online phase started and ended.
    #[serde(skip)]
    pub online_span: (Instant, Instant),
}

async fn handshake(
    ch: &mut Channel,
    me: Role,
    peer: Role,
    session: SessionId,
    cfg: &ConfigSummary,
) -> Result<()> {
    Handshake {
        me,
        peer,
        session,
        config: cfg.clone(),
    }
    .run(ch)
    .await?;
    Ok(())
}

fn roles(p: usize) -> (Role, Role) {
    if p == 0 {
        (Role::Party0, Role::Party1)
    } else {
        (Role::Party1, Role::Party0)
    }
}

/// One party's whole session on connected channels to its peer and to the dealer.
/// Party 1 passes its encoded input.
///
/// # Errors
/// Handshake mismatches (naming the field), transport errors and timeouts,
/// preprocessing and protocol errors.
#[allow(clippy::too_many_arguments)]
pub async fn party_session<R: Ring>(
    p: usize,
    mut peer: Channel,
    mut to_dealer: Channel,
    model: &FixedModel<R>,
    assignment: &Assignment,
    input: Option<&[R]>,
    batch: usize,
    session: SessionId,
    opts: RunOptions,
) -> Result<PartyReport<R>> {
    let cfg = config_summary(model, assignment, batch)?;
    opts.check(&crate::assignment_steps(model, assignment, batch)?)?;
    let (me, other) = roles(p);
    handshake(&mut to_dealer, me, Role::Dealer, session, &cfg).await?;
    handshake(&mut peer, me, other, session, &cfg).await?;
    let t0 = Instant::now();
    let d = demand(model, assignment, batch)?;
    let material = dealer::fetch::<R>(&mut to_dealer, p, session, &d).await?;
    let store = tokio::task::spawn_blocking(move || Store::<R>::from_material(&material))
        .await
        .map_err(|e| Error::Plan(format!("expanding party {p}'s preprocessing: {e}")))??;
    let offline = t0.elapsed();
    let dealer_meter = to_dealer.close().await?;
    let mut conv = Converter::new(p)?;
    let mut party = ArithParty::new(peer, Box::new(store));
    let t1 = Instant::now();
    let prepared = setup_party(&mut party, model, assignment).await?;
    let setup = t1.elapsed();
    party.channel_mut().set_phase(Phase::Online);
    let t2 = Instant::now();
    let output = infer_party(
        &mut party, &mut conv, model, assignment, &prepared, input, batch, opts,
    )
    .await?;
    let online = t2.elapsed();
    let online_span = (t2, t2 + online);
    let (peer, _) = party.into_parts();
    let peer_meter = peer.close().await?;
    Ok(PartyReport {
        output,
        peer: peer_meter,
        dealer: dealer_meter,
        offline,
        setup,
        online,
        online_span,
    })
}

/// The dealer's session: handshakes with both parties, then their material.
///
/// # Errors
/// Handshake mismatches, transport errors, an invalid demand.
pub async fn dealer_session<R: Ring>(
    mut c0: Channel,
    mut c1: Channel,
    cfg: &ConfigSummary,
    session: SessionId,
) -> Result<()> {
    tokio::try_join!(
        handshake(&mut c0, Role::Dealer, Role::Party0, session, cfg),
        handshake(&mut c1, Role::Dealer, Role::Party1, session, cfg)
    )?;
    dealer::serve::<R>(session, &mut c0, &mut c1).await?;
    tokio::try_join!(c0.close(), c1.close())?;
    Ok(())
}

/// Both parties' reports of a [`loopback`] run.
#[derive(Clone, Debug)]
pub struct LoopbackRun<R> {
    /// Party 0 (model owner) and party 1 (client).
    pub parties: [PartyReport<R>; 2],
}

impl<R> LoopbackRun<R> {
    /// The online latency: from the moment the later party starts its online phase
    /// to the last one finishing. Party 0 is done with the set-up as soon as its
    /// masked weights are queued, the client only once they have arrived (on a
    /// shaped link, their transmission time later); party 0's own clock would count
    /// that wait as online time.
    pub fn online_latency(&self) -> Duration {
        let [a, b] = &self.parties;
        let start = a.online_span.0.max(b.online_span.0);
        let end = a.online_span.1.max(b.online_span.1);
        end.saturating_duration_since(start)
    }
}

async fn bind() -> Result<(TcpListener, std::net::SocketAddr)> {
    let io = |e: std::io::Error| Error::Plan(format!("binding a loopback port: {e}"));
    let l = TcpListener::bind("127.0.0.1:0").await.map_err(io)?;
    let a = l.local_addr().map_err(io)?;
    Ok((l, a))
}

fn joined<T>(r: std::result::Result<Result<T>, tokio::task::JoinError>) -> Result<T> {
    r.map_err(|e| Error::Plan(format!("a session task failed: {e}")))?
}

/// Runs the dealer and both parties in this process, each in its own task, over
/// three TCP loopback connections shaped by `channel.profile`; the whole run must
/// finish within `deadline`.
///
/// # Errors
/// The first error of any role; a timeout.
pub async fn loopback<R: Ring>(
    model: &FixedModel<R>,
    assignment: &Assignment,
    input: &[R],
    batch: usize,
    channel: ChannelConfig,
    opts: RunOptions,
    deadline: Duration,
) -> Result<LoopbackRun<R>> {
    let session = SessionId::random();
    let cfg = config_summary(model, assignment, batch)?;
    let (lp, ap) = bind().await?;
    let (l0, a0) = bind().await?;
    let (l1, a1) = bind().await?;
    let unshaped = ChannelConfig {
        profile: tessera_core::NetworkProfile::LOCAL,
        ..channel
    };
    let dealer = {
        let cfg = cfg.clone();
        tokio::spawn(async move {
            let (c0, c1) = tokio::try_join!(
                Channel::accept(&l0, unshaped),
                Channel::accept(&l1, unshaped)
            )?;
            dealer_session::<R>(c0, c1, &cfg, session).await
        })
    };
    let p0 = {
        let (m, a) = (model.clone(), assignment.clone());
        tokio::spawn(async move {
            let peer = Channel::accept(&lp, channel).await?;
            let d = Channel::connect(a0, unshaped).await?;
            party_session::<R>(0, peer, d, &m, &a, None, batch, session, opts).await
        })
    };
    let p1 = {
        let (m, a, x) = (model.clone(), assignment.clone(), input.to_vec());
        tokio::spawn(async move {
            let peer = Channel::connect(ap, channel).await?;
            let d = Channel::connect(a1, unshaped).await?;
            party_session::<R>(1, peer, d, &m, &a, Some(&x), batch, session, opts).await
        })
    };
    let aborts = [dealer.abort_handle(), p0.abort_handle(), p1.abort_handle()];
    // The first failure of any role ends the run (the others are aborted rather than
    // left to their channel timeouts).
    let all = async {
        tokio::try_join!(
            async { joined(dealer.await) },
            async { joined(p0.await) },
            async { joined(p1.await) }
        )
    };
    let result = tokio::time::timeout(deadline, all).await;
    for a in &aborts {
        a.abort();
    }
    let ((), r0, r1) = result
        .map_err(|_| Error::Plan(format!("the session did not finish within {deadline:?}")))??;
    let parties = [r0, r1];
    Ok(LoopbackRun { parties })
}
