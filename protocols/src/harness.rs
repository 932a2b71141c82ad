//! A public test harness (feature `test-harness`): runs both parties and the dealer
//! in one process over the in-memory transport, so users can property-test their own
//! protocols built on [`ArithParty`] against a plaintext oracle.
//!
//! [`run`] performs the whole life of a session through the session runtime
//! ([`crate::runtime`]) — handshakes (set-up phase), the dealer protocol for a
//! [`Demand`] (offline phase), and the two party closures (online phase) — joined
//! with `try_join!` under a timeout, so the run fails if either party or the dealer
//! fails or hangs. [`strategies`] has proptest strategies
//! for ring elements, fixed-point values, shapes and tensors.
//!
//! # Example
//! ```
//! use ndarray::{ArrayD, IxDyn};
//! use tessera_core::{Ring, Z64};
//! use tessera_protocols::harness::{self, HarnessOptions};
//! use tessera_protocols::Demand;
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> tessera_protocols::Result<()> {
//! let x = ArrayD::from_shape_vec(IxDyn(&[3]), vec![Z64::from_i64(2), Z64::from_i64(-3), Z64::from_i64(5)]).unwrap();
//! let y = x.mapv(|v| v + Z64::from_i64(1));
//! let mut demand = Demand::new();
//! demand.mul(&[3]);
//! let (x1, y1) = (x.clone(), y.clone());
//! let run = harness::run::<Z64, _, _>(
//!     &HarnessOptions::default(),
//!     &demand,
//!     async move |p| {
//!         let xs = p.share_input(&x1).await?;   // party 0 owns x
//!         let ys = p.receive_input(&[3]).await?; // party 1 owns y
//!         let z = p.mul(&xs, &ys).await?;
//!         p.reveal(&z).await
//!     },
//!     async move |p| {
//!         let ys = p.share_input(&y1).await?;   // send first: both inputs travel in one round
//!         let xs = p.receive_input(&[3]).await?;
//!         let z = p.mul(&xs, &ys).await?;
//!         p.reveal(&z).await
//!     },
//! )
//! .await?;
//! assert_eq!(run.out0, &x * &y);
//! assert_eq!(run.out0, run.out1);
//! assert_eq!(run.online[0].rounds, 3); // inputs, multiplication, reveal
//! # Ok(())
//! # }
//! ```

use std::time::Duration;

use tessera_core::{Channel, ChannelConfig, ConfigSummary, Metering, PhaseMeter, Ring, SessionId};

use crate::arith::ArithParty;
use crate::preprocessing::{Demand, PartyMaterial};
use crate::runtime::{
    self, DealerSource, MaterialSource, NoHooks, OfflineSource, PartyOutcome, Session, SessionError,
};
use crate::{Error, Result};

/// Settings of a harness run.
#[derive(Clone, Debug)]
pub struct HarnessOptions {
    /// The session id all three roles use.
    pub session: SessionId,
    /// Time limit of the whole run.
    pub timeout: Duration,
    /// Channel settings.
    pub channel: ChannelConfig,
}

impl Default for HarnessOptions {
    /// A fresh random session, 60 s, unshaped channels.
    fn default() -> Self {
        HarnessOptions {
            session: SessionId::random(),
            timeout: Duration::from_secs(60),
            channel: ChannelConfig::default(),
        }
    }
}

impl HarnessOptions {
    /// The session a harness run's preprocessing is made for (what
    /// [`deal_in_process`] deals for, and what a file it saved is loaded with):
    /// [`runtime::material_session`] of the session and the harness's configuration.
    pub fn material_session<R: Ring>(&self) -> SessionId {
        self.seat::<R>(0, Demand::new())
            .map_or(self.session, |s| s.material_session())
    }

    fn seat<R: Ring>(&self, party: usize, demand: Demand) -> Result<Session> {
        Session::with::<R>(party, self.session, ConfigSummary::new(), demand)
    }
}

/// What a run returns: both parties' outputs and the exact metering.
#[derive(Debug)]
pub struct Run<T0, T1> {
    /// Party 0's output.
    pub out0: T0,
    /// Party 1's output.
    pub out1: T1,
    /// Each party's end of the party-to-party channel, all phases.
    pub peer: [Metering; 2],
    /// Each party's end of the party-to-party channel, online phase.
    pub online: [PhaseMeter; 2],
    /// Each party's end of its channel to the dealer (offline phase = dealer traffic).
    pub dealer: [Metering; 2],
}

impl<T0, T1> Run<T0, T1> {
    fn of(p0: PartyOutcome<T0>, p1: PartyOutcome<T1>) -> Self {
        Run {
            peer: [p0.peer, p1.peer],
            online: [p0.peer.online, p1.peer.online],
            dealer: [p0.source, p1.source],
            out0: p0.output,
            out1: p1.output,
        }
    }
}

async fn with_timeout<T>(t: Duration, fut: impl Future<Output = Result<T>>) -> Result<T> {
    tokio::time::timeout(t, fut)
        .await
        .map_err(|_| Error::Timeout(t))?
}

/// The runtime's dealer on the dealer ends of two in-memory links.
async fn dealer(links: [Channel; 2]) -> Result<()> {
    runtime::serve_dealer(links, &NoHooks)
        .await
        .map(|_| ())
        .map_err(SessionError::into_source)
}

/// Runs the dealer protocol for `demand` in process (the runtime's dealer and both
/// parties' offline phase over in-memory channels) and returns both parties'
/// material, e.g. to save to files, with each party's dealer-channel metering. The
/// material is made for [`HarnessOptions::material_session`].
///
/// # Errors
/// Any error of the dealer protocol; [`Error::Timeout`].
pub async fn deal_in_process<R: Ring>(
    opts: &HarnessOptions,
    demand: &Demand,
) -> Result<(PartyMaterial, PartyMaterial, [Metering; 2])> {
    let (a0, d0) = Channel::in_memory_pair(opts.channel);
    let (a1, d1) = Channel::in_memory_pair(opts.channel);
    let (s0, s1) = (
        opts.seat::<R>(0, demand.clone())?,
        opts.seat::<R>(1, demand.clone())?,
    );
    let fetch = |s: Session, link: Channel| async move {
        runtime::fetch_material::<R>(&s, link, &NoHooks)
            .await
            .map_err(SessionError::into_source)
    };
    let (_, (m0, me0), (m1, me1)) = with_timeout(opts.timeout, async {
        tokio::try_join!(dealer([d0, d1]), fetch(s0, a0), fetch(s1, a1))
    })
    .await?;
    Ok((m0, m1, [me0, me1]))
}

/// Runs two parties on already-made material (e.g. loaded from files): handshake,
/// then `f0` and `f1` in the online phase.
///
/// # Errors
/// The first error of either party (or the handshake); [`Error::Timeout`].
pub async fn run_with_material<R: Ring, T0, T1>(
    opts: &HarnessOptions,
    m0: &PartyMaterial,
    m1: &PartyMaterial,
    f0: impl AsyncFnOnce(&mut ArithParty<R>) -> Result<T0>,
    f1: impl AsyncFnOnce(&mut ArithParty<R>) -> Result<T1>,
) -> Result<Run<T0, T1>> {
    let (s0, s1) = (
        opts.seat::<R>(0, m0.demand.clone())?,
        opts.seat::<R>(1, m1.demand.clone())?,
    );
    let (c0, c1) = Channel::in_memory_pair(opts.channel);
    let (mut src0, mut src1) = (
        MaterialSource::new(m0.clone()),
        MaterialSource::new(m1.clone()),
    );
    let (o0, o1) = with_timeout(opts.timeout, async {
        tokio::try_join!(party(&s0, c0, &mut src0, f0), party(&s1, c1, &mut src1, f1))
    })
    .await?;
    Ok(Run::of(o0, o1))
}

/// Runs a whole session in process: handshakes, the dealer for `demand`, then `f0`
/// (party 0) and `f1` (party 1) online. Fails if either party or the dealer fails,
/// or if the run exceeds the timeout.
///
/// # Errors
/// The first error of any role; [`Error::Timeout`].
pub async fn run<R: Ring, T0, T1>(
    opts: &HarnessOptions,
    demand: &Demand,
    f0: impl AsyncFnOnce(&mut ArithParty<R>) -> Result<T0>,
    f1: impl AsyncFnOnce(&mut ArithParty<R>) -> Result<T1>,
) -> Result<Run<T0, T1>> {
    let (s0, s1) = (
        opts.seat::<R>(0, demand.clone())?,
        opts.seat::<R>(1, demand.clone())?,
    );
    let (c0, c1) = Channel::in_memory_pair(opts.channel);
    let (a0, d0) = Channel::in_memory_pair(opts.channel);
    let (a1, d1) = Channel::in_memory_pair(opts.channel);
    let (mut src0, mut src1) = (DealerSource::new(a0), DealerSource::new(a1));
    let ((), o0, o1) = with_timeout(opts.timeout, async {
        tokio::try_join!(
            dealer([d0, d1]),
            party(&s0, c0, &mut src0, f0),
            party(&s1, c1, &mut src1, f1)
        )
    })
    .await?;
    Ok(Run::of(o0, o1))
}

/// One party's session through the runtime's phases, with `f` as its online phase
/// (joined in the caller's task: the closures may borrow).
async fn party<R: Ring, T>(
    session: &Session,
    peer: Channel,
    source: &mut dyn OfflineSource<R>,
    f: impl AsyncFnOnce(&mut ArithParty<R>) -> Result<T>,
) -> Result<PartyOutcome<T>> {
    let ready = runtime::prepare(session, peer, source, &NoHooks)
        .await
        .map_err(SessionError::into_source)?;
    let mut online = ready.into_online(&NoHooks);
    let out = f(online.party()).await?;
    online.finish(out).await.map_err(SessionError::into_source)
}

/// proptest strategies for ring elements, fixed-point values, shapes and tensors.
pub mod strategies {
    use ndarray::{ArrayD, IxDyn};
    use proptest::prelude::*;
    use tessera_core::{FixedPoint, Ring};

    /// A uniformly random ring element.
    pub fn ring<R: Ring>() -> impl Strategy<Value = R> {
        any::<u64>().prop_map(R::from_u64)
    }

    /// A shape with `1..=max_rank` dimensions, each in `1..=max_dim`.
    pub fn shape(max_rank: usize, max_dim: usize) -> impl Strategy<Value = Vec<usize>> {
        proptest::collection::vec(1..=max_dim, 1..=max_rank)
    }

    /// A tensor of `shape` with uniformly random elements.
    pub fn ring_tensor<R: Ring>(shape: Vec<usize>) -> impl Strategy<Value = ArrayD<R>> {
        let n: usize = shape.iter().product();
        proptest::collection::vec(ring::<R>(), n).prop_map(move |v| {
            ArrayD::from_shape_vec(IxDyn(&shape), v).unwrap_or_else(|_| ArrayD::zeros(IxDyn(&[0])))
        })
    }

    /// A tensor of `shape` with signed integers in `[−bound, bound]`.
    pub fn int_tensor<R: Ring>(shape: Vec<usize>, bound: i64) -> impl Strategy<Value = ArrayD<R>> {
        let n: usize = shape.iter().product();
        proptest::collection::vec(-bound..=bound, n).prop_map(move |v| {
            let v = v.into_iter().map(R::from_i64).collect();
            ArrayD::from_shape_vec(IxDyn(&shape), v).unwrap_or_else(|_| ArrayD::zeros(IxDyn(&[0])))
        })
    }

    /// A real in `[−bound, bound]` that `fp` represents exactly (a multiple of 2^-f).
    pub fn fixed_value(fp: FixedPoint, bound: f64) -> impl Strategy<Value = f64> {
        let scale = fp.scale();
        let b = (bound * scale).floor() as i64;
        (-b..=b).prop_map(move |k| k as f64 / scale)
    }

    /// A tensor of `shape` of fixed-point encodings of reals in `[−bound, bound]`.
    pub fn fixed_tensor<R: Ring>(
        fp: FixedPoint,
        bound: f64,
        shape: Vec<usize>,
    ) -> impl Strategy<Value = ArrayD<R>> {
        let b = (bound * fp.scale()).floor() as i64;
        int_tensor::<R>(shape, b)
    }
}
