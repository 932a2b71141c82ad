//! A public test harness (feature `test-harness`): runs both parties and the dealer
//! in one process over the in-memory transport, so users can property-test their own
//! protocols built on [`ArithParty`] against a plaintext oracle.
//!
//! [`run`] performs the whole life of a session — handshakes (set-up phase), the
//! dealer protocol for a [`Demand`] (offline phase), and the two party closures
//! (online phase) — joined with `try_join!` under a timeout, so the run fails if
//! either party or the dealer fails or hangs. [`strategies`] has proptest strategies
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

use tessera_core::Channel;
use tessera_core::{
    ChannelConfig, ConfigSummary, Handshake, Metering, PhaseMeter, Ring, Role, SessionId,
};

use crate::arith::ArithParty;
use crate::preprocessing::{Demand, PartyMaterial, Store};
use crate::{Error, Result, dealer};

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

fn config<R: Ring>() -> ConfigSummary {
    ConfigSummary::new().with("ring", R::NAME)
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

async fn with_timeout<T>(t: Duration, fut: impl Future<Output = Result<T>>) -> Result<T> {
    tokio::time::timeout(t, fut)
        .await
        .map_err(|_| Error::Timeout(t))?
}

/// Runs the dealer protocol for `demand` in process (dealer and both parties over
/// in-memory channels) and returns both parties' material, e.g. to save to files,
/// with each party's dealer-channel metering.
///
/// # Errors
/// Any error of the dealer protocol; [`Error::Timeout`].
pub async fn deal_in_process<R: Ring>(
    opts: &HarnessOptions,
    demand: &Demand,
) -> Result<(PartyMaterial, PartyMaterial, [Metering; 2])> {
    let (mut a0, mut d0) = Channel::in_memory_pair(opts.channel);
    let (mut a1, mut d1) = Channel::in_memory_pair(opts.channel);
    let s = opts.session;
    let cfg = config::<R>();
    let dealer = async {
        tokio::try_join!(
            handshake(&mut d0, Role::Dealer, Role::Party0, s, &cfg),
            handshake(&mut d1, Role::Dealer, Role::Party1, s, &cfg)
        )?;
        dealer::serve::<R>(s, &mut d0, &mut d1).await
    };
    let p0 = async {
        handshake(&mut a0, Role::Party0, Role::Dealer, s, &cfg).await?;
        dealer::fetch::<R>(&mut a0, 0, s, demand).await
    };
    let p1 = async {
        handshake(&mut a1, Role::Party1, Role::Dealer, s, &cfg).await?;
        dealer::fetch::<R>(&mut a1, 1, s, demand).await
    };
    let (_, m0, m1) =
        with_timeout(opts.timeout, async { tokio::try_join!(dealer, p0, p1) }).await?;
    let (_, _, me0, me1) = tokio::try_join!(d0.close(), d1.close(), a0.close(), a1.close())?;
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
    let no_dealer = [Metering::default(), Metering::default()];
    run_inner(opts, Some((m0, m1)), None, f0, f1, no_dealer).await
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
    let no_dealer = [Metering::default(), Metering::default()];
    run_inner(opts, None, Some(demand), f0, f1, no_dealer).await
}

async fn run_inner<R: Ring, T0, T1>(
    opts: &HarnessOptions,
    material: Option<(&PartyMaterial, &PartyMaterial)>,
    demand: Option<&Demand>,
    f0: impl AsyncFnOnce(&mut ArithParty<R>) -> Result<T0>,
    f1: impl AsyncFnOnce(&mut ArithParty<R>) -> Result<T1>,
    mut dealer_meter: [Metering; 2],
) -> Result<Run<T0, T1>> {
    let s = opts.session;
    let (mut c0, mut c1) = Channel::in_memory_pair(opts.channel);
    let (m0, m1) = match (material, demand) {
        (Some((m0, m1)), _) => (m0.clone(), m1.clone()),
        (None, Some(d)) => {
            let (m0, m1, meters) = deal_in_process::<R>(opts, d).await?;
            dealer_meter = meters;
            (m0, m1)
        }
        (None, None) => (
            PartyMaterial {
                party: 0,
                session: s,
                ring_bits: R::BITS,
                demand: Demand::new(),
                seed: tessera_core::Block::ZERO,
                corrections: Vec::new(),
            },
            PartyMaterial {
                party: 1,
                session: s,
                ring_bits: R::BITS,
                demand: Demand::new(),
                seed: tessera_core::Block::ZERO,
                corrections: Vec::new(),
            },
        ),
    };
    for (i, m) in [&m0, &m1].into_iter().enumerate() {
        if m.session != s {
            return Err(Error::SessionMismatch {
                what: "preprocessing material",
                expected: s,
                found: m.session,
            });
        }
        if m.party != i {
            return Err(Error::InvalidArgument {
                op: "harness",
                detail: format!("party {i} was given party {}'s material", m.party),
            });
        }
    }
    let cfg = config::<R>();
    let p0 = async {
        handshake(&mut c0, Role::Party0, Role::Party1, s, &cfg).await?;
        c0.set_phase(tessera_core::Phase::Online);
        let mut party = ArithParty::new(c0, Box::new(Store::<R>::from_material(&m0)?));
        let out = f0(&mut party).await?;
        let (ch, _) = party.into_parts();
        Ok::<_, Error>((out, ch.close().await?))
    };
    let p1 = async {
        handshake(&mut c1, Role::Party1, Role::Party0, s, &cfg).await?;
        c1.set_phase(tessera_core::Phase::Online);
        let mut party = ArithParty::new(c1, Box::new(Store::<R>::from_material(&m1)?));
        let out = f1(&mut party).await?;
        let (ch, _) = party.into_parts();
        Ok::<_, Error>((out, ch.close().await?))
    };
    let ((out0, me0), (out1, me1)) =
        with_timeout(opts.timeout, async { tokio::try_join!(p0, p1) }).await?;
    Ok(Run {
        out0,
        out1,
        peer: [me0, me1],
        online: [me0.online, me1.online],
        dealer: dealer_meter,
    })
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
