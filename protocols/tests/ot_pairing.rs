//! OT pairings ([`tessera_protocols::ot::pairing`]): base OTs paid once per pair of
//! parties. Sessions derived from a pairing make correlations that hold every
//! relation, cost exactly their price (one flight of hellos, no base OTs), are
//! independent from one session to the next, and a party without the pairing (lost
//! file, another peer) causes a fresh link after which both keep the new pairing.

// Test helpers outside #[test] functions unwrap too: a failure is a test failure.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use common::*;
use tessera_core::{Channel, ChannelConfig, PhaseMeter, Prg, Ring, SessionId, Z32, Z64};
use tessera_protocols::ot::pairing::{PairingSlot, SetUp};
use tessera_protocols::ot::{price, source};
use tessera_protocols::preprocessing::{Correlation, RandomOts};
use tessera_protocols::{Demand, Request, Store};

const DEADLINE: Duration = Duration::from_secs(60);

/// One party's outcome of an offline phase: its items and its metered traffic.
type Made<R> = (Vec<(Request, Correlation<R>)>, PhaseMeter);

/// One offline phase by OT between two parties holding `slots`: each party's items
/// and its metered traffic (fence included).
fn session<R: Ring>(demand: &Demand, slots: [&PairingSlot; 2]) -> [Made<R>; 2] {
    block(async {
        let (c0, c1) = Channel::in_memory_pair(ChannelConfig::default());
        let run = |p: usize, mut ch: Channel, slot: PairingSlot| async move {
            let mut rng = Prg::from_entropy();
            let items = source::generate::<R, _>(&mut ch, p, demand, Some(&slot), &mut rng).await?;
            ch.fence().await?;
            Ok::<_, tessera_protocols::Error>((items, ch.metering().total()))
        };
        let (a, b) = tokio::time::timeout(DEADLINE, async {
            tokio::try_join!(run(0, c0, slots[0].clone()), run(1, c1, slots[1].clone()))
        })
        .await
        .expect("within the deadline")
        .expect("both parties make their correlations");
        [a, b]
    })
}

/// Checks every relation of a session's items and its traffic against the price of a
/// set-up made as `how`; both slots must report `how`.
fn check<R: Ring>(demand: &Demand, slots: [&PairingSlot; 2], how: SetUp) {
    let [(i0, m0), (i1, m1)] = session::<R>(demand, slots);
    let s = SessionId::random();
    check_relations_of(
        demand,
        (Store::from_items(0, s, i0), Store::from_items(1, s, i1)),
    );
    let want = price::price_with::<R>(demand, ChannelConfig::default().max_frame, how).unwrap();
    assert_eq!([m0, m1], want.meters, "{how:?}");
    assert_eq!(want.base_ots, if how == SetUp::Fresh { 128 } else { 0 });
    assert_eq!([slots[0].last(), slots[1].last()], [Some(how); 2]);
}

fn id(slot: &PairingSlot) -> [u8; 16] {
    slot.current().expect("a pairing is kept").id()
}

#[test]
fn paired_sessions_skip_the_base_ots_and_every_relation_holds() {
    let slots = [PairingSlot::in_memory(), PairingSlot::in_memory()];
    let both = [&slots[0], &slots[1]];
    check::<Z64>(&everything(3), both, SetUp::Fresh);
    let first = id(&slots[0]);
    assert_eq!(id(&slots[1]), first, "both parties keep the same pairing");
    for seed in [4, 11] {
        check::<Z64>(&everything(seed), both, SetUp::Paired);
    }
    check::<Z32>(&everything(7), both, SetUp::Paired);
    assert_eq!(
        [id(&slots[0]), id(&slots[1])],
        [first; 2],
        "the pairing is kept"
    );
}

#[test]
fn a_party_without_the_pairing_causes_a_fresh_link_and_both_keep_the_new_one() {
    let d = everything(2);
    let (p0, p1) = (PairingSlot::in_memory(), PairingSlot::in_memory());
    check::<Z64>(&d, [&p0, &p1], SetUp::Fresh);
    let old = id(&p0);
    // Party 1 lost its pairing (a new process without its file).
    let p1 = PairingSlot::in_memory();
    check::<Z64>(&d, [&p0, &p1], SetUp::Fresh);
    let new = id(&p0);
    assert_ne!(new, old);
    assert_eq!(id(&p1), new);
    check::<Z64>(&d, [&p0, &p1], SetUp::Paired);
    // Party 0 paired with someone else in between: ids differ, fresh again.
    let elsewhere = PairingSlot::in_memory();
    check::<Z64>(&d, [&p0, &elsewhere], SetUp::Fresh);
    check::<Z64>(&d, [&p0, &p1], SetUp::Fresh);
    check::<Z64>(&d, [&p0, &p1], SetUp::Paired);
}

/// Two sessions of one pairing share no OT string: each session's seeds are derived
/// with both parties' fresh nonces, whatever else is equal.
#[test]
fn paired_sessions_make_independent_correlations() {
    let mut d = Demand::new();
    d.random_ots(512, 0).random_ots(512, 1);
    let slots = [PairingSlot::in_memory(), PairingSlot::in_memory()];
    let both = [&slots[0], &slots[1]];
    let strings = |[(i0, _), (i1, _)]: [Made<Z64>; 2]| {
        let mut all = std::collections::HashSet::new();
        for (_, c) in i0.into_iter().chain(i1) {
            match c {
                Correlation::Rot(RandomOts::Sender { m0, m1 }) => {
                    all.extend(m0.into_iter().chain(m1).map(|b| b.0));
                }
                Correlation::Rot(RandomOts::Receiver { .. }) => {}
                other => panic!("unexpected {other:?}"),
            }
        }
        all
    };
    let fresh = strings(session::<Z64>(&d, both));
    let one = strings(session::<Z64>(&d, both));
    let two = strings(session::<Z64>(&d, both));
    assert_eq!(slots[0].last(), Some(SetUp::Paired));
    assert_eq!(
        one.len(),
        2 * 2 * 512,
        "no repeated string within a session"
    );
    assert!(fresh.is_disjoint(&one) && one.is_disjoint(&two) && fresh.is_disjoint(&two));
}

/// Files, as two processes use them: the first session writes both halves (mode
/// 0600), slots read back from the files pair the next session, and a party given
/// the other party's half is refused before any message.
#[test]
fn pairing_files_carry_the_pairing_between_processes() {
    let dir = tempfile::tempdir().unwrap();
    let path = |p: usize| dir.path().join(format!("p{p}.pairing"));
    let d = everything(5);
    let file = |p: usize| PairingSlot::file(path(p), p).unwrap();
    check::<Z64>(&d, [&file(0), &file(1)], SetUp::Fresh);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        for p in 0..2 {
            let mode = std::fs::metadata(path(p)).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600, "party {p}'s file");
        }
    }
    check::<Z64>(&d, [&file(0), &file(1)], SetUp::Paired);
    let e = PairingSlot::file(path(1), 0).unwrap_err().to_string();
    assert!(e.contains("party 1's half"), "{e}");
    let mut bytes = std::fs::read(path(0)).unwrap();
    let at = bytes.len() / 3;
    bytes[at] ^= 0x20;
    std::fs::write(path(0), &bytes).unwrap();
    let e = PairingSlot::file(path(0), 0).unwrap_err().to_string();
    assert!(e.contains("checksum"), "{e}");
}
