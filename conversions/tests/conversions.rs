//! Every conversion and variant, and every chain of up to three conversions starting
//! in A (all chains of two, and A→B→Y→A and the like), through the real two-party
//! driver with an in-process dealer: results exact in both rings, for batches of 1
//! and many, on values that include the ring's extremes and negative fixed-point
//! numbers; and each step's metered bytes and rounds equal its computed price.

#![allow(clippy::unwrap_used)]

use ndarray::{ArrayD, IxDyn};
use proptest::prelude::*;
use tessera_conversions::{
    A2bVariant, B2aVariant, Conversion, Converter, Price, Sharing, YShare, a2b_route,
};
use tessera_core::{FixedPoint, PhaseMeter, Ring, Z32, Z64};
use tessera_protocols::gmw::BShare;
use tessera_protocols::harness::{self, HarnessOptions};
use tessera_protocols::{AShare, ArithParty, Demand};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Step {
    A2Y,
    Y2A,
    Y2B,
    B2Y,
    A2B(A2bVariant),
    B2A(B2aVariant),
}

impl Step {
    fn endpoints(self) -> (Sharing, Sharing) {
        match self {
            Step::A2Y => (Sharing::A, Sharing::Y),
            Step::Y2A => (Sharing::Y, Sharing::A),
            Step::Y2B => (Sharing::Y, Sharing::B),
            Step::B2Y => (Sharing::B, Sharing::Y),
            Step::A2B(_) => (Sharing::A, Sharing::B),
            Step::B2A(_) => (Sharing::B, Sharing::A),
        }
    }

    /// The primitive edges this step is made of.
    fn edges(self) -> Vec<Conversion> {
        match self {
            Step::A2Y => vec![Conversion::A2Y],
            Step::Y2A => vec![Conversion::Y2A],
            Step::Y2B => vec![Conversion::Y2B],
            Step::B2Y => vec![Conversion::B2Y],
            Step::A2B(v) => a2b_route(v),
            Step::B2A(v) => vec![Conversion::B2A(v)],
        }
    }

    fn price(self, ell: usize, n: usize) -> Price {
        let mut edges = self.edges().into_iter();
        let first = Price::of(edges.next().unwrap(), ell, n).unwrap();
        edges.fold(first, |p, e| p.then(&Price::of(e, ell, n).unwrap()))
    }
}

const ALL: [Step; 8] = [
    Step::A2Y,
    Step::Y2A,
    Step::Y2B,
    Step::B2Y,
    Step::A2B(A2bVariant::Gmw),
    Step::A2B(A2bVariant::Yao),
    Step::B2A(B2aVariant::DaBits),
    Step::B2A(B2aVariant::Ot),
];

/// All step sequences of length 1..=max starting in A.
fn chains(max: usize) -> Vec<Vec<Step>> {
    let mut out = Vec::new();
    let mut frontier: Vec<(Sharing, Vec<Step>)> = vec![(Sharing::A, Vec::new())];
    for _ in 0..max {
        let mut next = Vec::new();
        for (at, path) in &frontier {
            for s in ALL {
                if s.endpoints().0 == *at {
                    let mut p = path.clone();
                    p.push(s);
                    out.push(p.clone());
                    next.push((s.endpoints().1, p));
                }
            }
        }
        frontier = next;
    }
    out
}

enum Val<R: Ring> {
    A(AShare<R>),
    B(BShare),
    Y(YShare),
}

fn err(e: tessera_conversions::Error) -> tessera_protocols::Error {
    tessera_protocols::Error::Protocol {
        step: "conversion",
        detail: e.to_string(),
    }
}

/// One party: party 0's `x` becomes a sharing locally (party 1 holds zeros), so the
/// channel's clocks are still symmetric when the chain starts; then the steps, each
/// metered; then a reveal. Returns the revealed values, each step's online counters,
/// and the chain's rounds.
async fn party<R: Ring>(
    p: &mut ArithParty<R>,
    x: ArrayD<R>,
    n: usize,
    steps: Vec<Step>,
) -> tessera_protocols::Result<(Vec<R>, Vec<PhaseMeter>, u64)> {
    let mut conv = Converter::new(p.party()).map_err(err)?;
    let mut val = Val::A(AShare::from_public(p.party(), &x));
    let mut meters = Vec::new();
    let start = *p.channel().metering();
    for s in steps {
        let before = *p.channel().metering();
        val = match (val, s) {
            (Val::A(a), Step::A2Y) => Val::Y(conv.a2y(p, &a).await.map_err(err)?),
            (Val::A(a), Step::A2B(v)) => Val::B(conv.a2b(p, &a, v).await.map_err(err)?),
            (Val::Y(y), Step::Y2A) => Val::A(conv.y2a(p, &y, &[n]).await.map_err(err)?),
            (Val::Y(y), Step::Y2B) => Val::B(conv.y2b(&y)),
            (Val::B(b), Step::B2Y) => Val::Y(conv.b2y(p, &b).await.map_err(err)?),
            (Val::B(b), Step::B2A(v)) => Val::A(conv.b2a(p, &b, &[n], v).await.map_err(err)?),
            _ => unreachable!("chains only contain valid steps"),
        };
        meters.push(p.channel().metering().since(&before).online);
    }
    let rounds = p.channel().metering().since(&start).online.rounds;
    let out: Vec<R> = match val {
        Val::A(a) => p.reveal(&a).await?.iter().copied().collect(),
        Val::B(b) => conv
            .reveal_b(p, &b)
            .await
            .map_err(err)?
            .to_values()
            .into_iter()
            .map(R::from_u64)
            .collect(),
        Val::Y(y) => conv
            .reveal_y(p, &y)
            .await
            .map_err(err)?
            .to_values()
            .into_iter()
            .map(R::from_u64)
            .collect(),
    };
    Ok((out, meters, rounds))
}

fn check_chain<R: Ring>(xs: &[R], steps: &[Step]) {
    let n = xs.len();
    let ell = R::BITS as usize;
    let mut demand = Demand::new();
    for s in steps {
        for e in s.edges() {
            demand.extend(&tessera_conversions::conversion_demand(e, ell, n).unwrap());
        }
    }
    let x = ArrayD::from_shape_vec(IxDyn(&[n]), xs.to_vec()).unwrap();
    let zeros = ArrayD::from_elem(IxDyn(&[n]), R::zero());
    let (s0, s1) = (steps.to_vec(), steps.to_vec());
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let run = rt
        .block_on(harness::run::<R, _, _>(
            &HarnessOptions::default(),
            &demand,
            async move |p| party(p, x, n, s0).await,
            async move |p| party(p, zeros, n, s1).await,
        ))
        .unwrap_or_else(|e| panic!("{steps:?} on {n} values: {e}"));
    let ((out0, m0, r0), (out1, m1, r1)) = (run.out0, run.out1);
    assert_eq!(out0, xs, "{steps:?} (party 0)");
    assert_eq!(out1, xs, "{steps:?} (party 1)");
    let mut chain = steps[0].price(ell, n);
    for (i, s) in steps.iter().enumerate() {
        let price = s.price(ell, n);
        assert_eq!(
            [m0[i].bytes_sent, m1[i].bytes_sent],
            price.bytes_sent,
            "bytes of {s:?} in {steps:?}, n = {n}"
        );
        assert_eq!(m0[i].bytes_received, price.bytes_sent[1]);
        if i > 0 {
            chain = chain.then(&price);
        }
    }
    // The composed price's rounds are the chain's rounds as the channel counts them.
    assert_eq!(r0.max(r1), chain.rounds(), "rounds of {steps:?}, n = {n}");
}

/// Values with the ring's extremes and negative fixed-point numbers among random ones.
fn values<R: Ring>(n: usize) -> impl Strategy<Value = Vec<R>> {
    let fp = FixedPoint::new(if R::BITS == 64 { 16 } else { 8 });
    let special = move |k: u8, r: u64| -> R {
        match k % 8 {
            0 => R::zero(),
            1 => -R::one(),
            2 => R::from_u64(1u64 << (R::BITS - 1)), // most negative
            3 => R::from_u64((1u64 << (R::BITS - 1)) - 1), // most positive
            4 => fp.encode::<R>(-3.25).unwrap(),
            5 => fp.encode::<R>(-((r % 1000) as f64) / 7.0).unwrap(),
            _ => R::from_u64(r),
        }
    };
    prop::collection::vec((any::<u8>(), any::<u64>()), n)
        .prop_map(move |v| v.into_iter().map(|(k, r)| special(k, r)).collect())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(3))]

    #[test]
    fn every_chain_z64_single(xs in values::<Z64>(1)) {
        for c in chains(3) { check_chain(&xs, &c); }
    }

    #[test]
    fn every_chain_z64_batch(xs in values::<Z64>(37)) {
        for c in chains(3) { check_chain(&xs, &c); }
    }

    #[test]
    fn every_chain_z32_batch(xs in values::<Z32>(37)) {
        for c in chains(3) { check_chain(&xs, &c); }
    }
}

#[test]
fn signed_fixed_point_round_trips_exactly() {
    let fp = FixedPoint::default();
    let reals = [-1234.5, -0.0625, 0.0, 3.75, 32767.0];
    let xs: Vec<Z64> = reals.iter().map(|&r| fp.encode(r).unwrap()).collect();
    check_chain(&xs, &[Step::A2B(A2bVariant::Gmw), Step::B2Y, Step::Y2A]);
    let back: Vec<f64> = xs.iter().map(|&v| fp.decode(v)).collect();
    assert_eq!(back, reals);
}

#[test]
fn routes_between_sharings_are_priced() {
    let r = tessera_conversions::routes(Sharing::A, Sharing::B, 64, 100, 2).unwrap();
    let names: Vec<String> = r.iter().map(|r| r.name()).collect();
    assert!(
        names.contains(&"a2b-gmw".to_string()) && names.contains(&"a2y+y2b".to_string()),
        "{names:?}"
    );
    let r = tessera_conversions::routes(Sharing::Y, Sharing::A, 64, 100, 2).unwrap();
    let names: Vec<String> = r.iter().map(|r| r.name()).collect();
    assert_eq!(names, vec!["y2a", "y2b+b2a-dabits", "y2b+b2a-ot"]);
    // GMW's A2B takes the adder's depth in rounds; Yao's takes two.
    let gmw = Price::of(Conversion::A2BGmw, 64, 100).unwrap();
    let yao = Price::of(Conversion::A2Y, 64, 100)
        .unwrap()
        .then(&Price::of(Conversion::Y2B, 64, 100).unwrap());
    assert_eq!(gmw.rounds(), 7);
    assert_eq!(yao.rounds(), 2);
    assert!(yao.bytes_sent[0] > gmw.bytes_sent[0]);
}
