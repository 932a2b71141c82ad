//! The time model on hand-computed cases, and the round counting across steps.
#![allow(clippy::unwrap_used)]

use proptest::prelude::*;
use tessera_conversions::{Flight, Price};
use tessera_core::NetworkProfile;
use tessera_planner::calibration::KindCost;
use tessera_planner::time::{RunState, Skew, advance};
use tessera_planner::{Calibration, Objective, StepCost, TimeModel, Work};
use tessera_protocols::Demand;

const NS: f64 = 1e-9;
const US: f64 = 1e-6;

/// A calibration with round numbers, so that the expected times can be worked out
/// by hand (the fixture of these tests, not a model of any machine).
fn fixture() -> Calibration {
    let mut c = Calibration::default_embedded().unwrap();
    c.transport.message = 10.0 * US;
    c.transport.message_shaped = 50.0 * US;
    c.transport.byte = 1.0 * NS;
    c.transport.exchange_byte = 2.0 * NS;
    c.compute.gmw_and = 1.0 * NS;
    c.compute.yao_garble_and = 20.0 * NS;
    c.compute.yao_eval_and = 10.0 * NS;
    c.compute.mac = 0.5 * NS;
    c.compute.ring_op = 1.0 * NS;
    c.compute.ot = 30.0 * NS;
    c.compute.label = 2.0 * NS;
    let k = |e: f64| KindCost {
        per_element: e * NS,
        per_mac: 0.0,
    };
    c.dealer.and_triple = k(0.25);
    c.dealer.expand.and_triple = k(0.125);
    c.dealer.random_ot = k(4.0);
    c.dealer.expand.random_ot = k(2.0);
    c.validate().unwrap();
    c
}

/// 1 Gbit/s (8 ns per byte), 1 ms RTT (0.5 ms one way).
fn net() -> NetworkProfile {
    "bw=1G,rtt=1".parse().unwrap()
}

fn step(bytes: [u64; 2], flights: Vec<Flight>, work: Work) -> StepCost {
    StepCost {
        name: "test".into(),
        layer: None,
        sharing: None,
        price: Price {
            bytes_sent: bytes,
            flights,
            and_gates: work.gmw_and + work.yao_and,
            demand: Demand::new(),
        },
        work,
        setup_bytes: [0, 0],
    }
}

fn close(a: f64, b: f64) {
    assert!(
        (a - b).abs() <= 1e-12 + 1e-9 * b.abs(),
        "{a:e} != {b:e} (difference {:e})",
        a - b
    );
}

#[test]
fn an_exchange_pays_the_larger_direction_once() {
    let cal = fixture();
    let tm = TimeModel::new(&cal, net());
    let s = step(
        [1000, 400],
        vec![Flight::Both],
        Work {
            gmw_and: 1000,
            ..Work::default()
        },
    );
    let (t, skew) = tm.step(&s, Skew::default());
    assert_eq!(t.rounds, 1);
    close(t.latency, 500.0 * US + 50.0 * US);
    // The larger direction, its copying (2 ns per byte) hidden under the link's 8 ns:
    // max(1000 · 8 ns, 400 · 8 ns).
    close(t.transfer, 8.0 * US);
    close(t.compute, 1.0 * US);
    close(t.total, 559.0 * US);
    assert_eq!(skew, Skew(0));
}

#[test]
fn one_way_flights_add_both_directions() {
    let cal = fixture();
    let tm = TimeModel::new(&cal, net());
    let s = step([3200, 100], vec![Flight::P1, Flight::P0], Work::default());
    let (t, skew) = tm.step(&s, Skew::default());
    assert_eq!(t.rounds, 2);
    close(t.latency, 2.0 * 550.0 * US);
    // (3200 + 100) · 8 ns: each direction's link time, the copying (1 ns per byte)
    // overlapping it.
    close(t.transfer, 26.4 * US);
    close(t.total, 1100.0 * US + 26.4 * US);
    assert_eq!(skew, Skew(1));
}

#[test]
fn garbling_hides_behind_streaming_its_tables() {
    let cal = fixture();
    let tm = TimeModel::new(&cal, net());
    let work = Work {
        yao_and: 1000,
        ..Work::default()
    };
    // 32 bytes of tables per AND gate and one frame header.
    let s = step([32_008, 0], vec![Flight::P0], work);
    let (t, _) = tm.step(&s, Skew::default());
    // Garbling: 1000 · max(20, 10) ns = 20 µs, less than sending the 32,000 table
    // bytes (32,000 · 8 ns = 256 µs on the link): all of it is hidden.
    close(t.compute, 0.0);
    close(t.transfer, 32_008.0 * 8.0 * NS);
    // Unshaped: the transfer is the loopback copy only, 32 µs, and garbling (20 µs)
    // still hides behind it.
    let local = TimeModel::new(&cal, NetworkProfile::LOCAL);
    let (t, _) = local.step(&s, Skew::default());
    close(t.latency, 10.0 * US);
    close(t.transfer, 32_008.0 * NS);
    close(t.compute, 0.0);
    // A slower garbler shows: 1000 · 50 ns = 50 µs against 32 µs of tables.
    let mut slow = fixture();
    slow.compute.yao_garble_and = 50.0 * NS;
    let (t, _) = TimeModel::new(&slow, NetworkProfile::LOCAL).step(&s, Skew::default());
    close(t.compute, 50.0 * US - 32.0 * US);
}

#[test]
fn compute_sums_every_counter() {
    let cal = fixture();
    let tm = TimeModel::new(&cal, NetworkProfile::LOCAL);
    let w = Work {
        gmw_and: 100,
        yao_and: 0,
        macs: 1000,
        ring_ops: 10,
        ots: 2,
        labels: 5,
    };
    let (yao, rest) = tm.compute(&w);
    close(yao, 0.0);
    close(rest, (100.0 + 500.0 + 10.0 + 60.0 + 10.0) * NS);
}

#[test]
fn consecutive_messages_of_one_party_share_a_round() {
    let cal = fixture();
    let tm = TimeModel::new(&cal, net());
    let p1 = step([0, 100], vec![Flight::P1], Work::default());
    let p0 = step([100, 0], vec![Flight::P0], Work::default());
    let times = tm.run(&[p1.clone(), p1.clone(), p0.clone(), p0]);
    let rounds: Vec<u64> = times.iter().map(|t| t.rounds).collect();
    assert_eq!(rounds, vec![1, 0, 1, 0]);
    // The whole pattern, as the channel counts it.
    assert_eq!(p1.price.then(&p1.price).rounds(), 1);
    close(
        tm.online(&[p1.clone(), p1]),
        550.0 * US + 2.0 * 100.0 * 8.0 * NS,
    );
}

#[test]
fn offline_charges_generation_expansion_and_corrections() {
    let cal = fixture();
    let tm = TimeModel::new(&cal, net());
    let mut s = step([0, 0], Vec::new(), Work::default());
    s.price.demand.and_triples(1000);
    s.price.demand.random_ots(10, 0);
    // Generation and expansion: 1000 · (0.25 + 0.125) ns + 10 · (4 + 2) ns.
    // Corrections to party 1: 8 · ⌈1000/64⌉ = 128 bytes and 16 · 10 = 160 bytes, each
    // at 8 ns (link) + 1 ns (copy) per byte.
    let want = 375.0 * NS + 60.0 * NS + (128.0 + 160.0) * 9.0 * NS;
    close(tm.offline_step(&s), want);
    // Set-up bytes cross once.
    s.setup_bytes = [1000, 0];
    close(tm.offline_step(&s), want + 1000.0 * 9.0 * NS);
    // The whole offline phase adds the dealer's two rounds, the demand messages and
    // the correction frames' headers, and the set-up round.
    let fixed = tm.offline_fixed(std::slice::from_ref(&s)).unwrap();
    assert!(fixed > 2.0 * 550.0 * US, "{fixed}");
    let two = [s.clone(), s.clone()];
    close(
        tm.offline(&two).unwrap(),
        2.0 * tm.offline_step(&s) + 550.0 * US + tm.offline_fixed(&two).unwrap(),
    );
    // Under `total`, the set-up round is charged to the first step with set-up bytes.
    let (first, st) = tm.objective_step(Objective::Total, &s, RunState::default());
    let (second, _) = tm.objective_step(Objective::Total, &s, st);
    close(first - second, 550.0 * US);
}

#[test]
fn objectives_differ_as_documented() {
    let cal = fixture();
    let tm = TimeModel::new(&cal, net());
    let mut s = step([3200, 100], vec![Flight::P1, Flight::P0], Work::default());
    s.price.demand.and_triples(64);
    let st = RunState::default();
    let (online, _) = tm.objective_step(Objective::Online, &s, st);
    let (total, _) = tm.objective_step(Objective::Total, &s, st);
    let (bytes, _) = tm.objective_step(Objective::Bytes, &s, st);
    close(online, tm.step(&s, Skew::default()).0.total);
    close(total, online + tm.offline_step(&s));
    close(bytes, 3300.0);
}

fn flight() -> impl Strategy<Value = Flight> {
    prop_oneof![Just(Flight::P0), Just(Flight::P1), Just(Flight::Both)]
}

proptest! {
    /// Rounds counted step by step from the skew equal the channel's count of the
    /// whole pattern, however it is cut into steps.
    #[test]
    fn rounds_across_steps_equal_the_whole_pattern(
        parts in proptest::collection::vec(proptest::collection::vec(flight(), 0..5), 1..6)
    ) {
        let mut skew = Skew::default();
        let mut sum = 0;
        let mut whole = Vec::new();
        for p in &parts {
            let (r, next) = advance(skew, p);
            prop_assert!((-1..=1).contains(&next.0));
            sum += r;
            skew = next;
            whole.extend(p.iter().copied());
        }
        let price = Price { bytes_sent: [0, 0], flights: whole, and_gates: 0, demand: Demand::new() };
        prop_assert_eq!(sum, price.rounds());
    }
}

/// A paired OT set-up is priced without the base OTs and the link's later flights:
/// less than a fresh one by the calibrated link time and at least one flight (the
/// extension back travels with party 1's next message).
#[test]
fn a_paired_ot_set_up_costs_less_than_a_fresh_one_by_the_link() {
    use tessera_protocols::ot::pairing::SetUp;
    use tessera_protocols::runtime::local::Offline;
    let c = Calibration::default_embedded().unwrap();
    let mut d = Demand::new();
    d.mul(&[1000]);
    for net in [
        NetworkProfile::LOCAL,
        NetworkProfile::LAN,
        NetworkProfile::WAN,
    ] {
        let tm = TimeModel::new(&c, net).with_source(Offline::Ot).unwrap();
        let fresh = tm.ot_offline(&d).unwrap();
        let paired = tm.with_ot_set_up(SetUp::Paired).ot_offline(&d).unwrap();
        let base = c.ot_source.as_ref().unwrap().base;
        assert!(paired < fresh - base, "{net}: {paired} vs {fresh}");
        // The two flights saved cost at least their latency.
        let saved = fresh - base - paired;
        assert!(
            saved >= 2.0 * net.one_way_latency().as_secs_f64(),
            "{net}: {saved}"
        );
    }
}
