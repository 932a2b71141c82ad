//! [`Replay`] counts a message pattern exactly as two real channel ends meter it:
//! bytes, messages and rounds, for random patterns (and for patterns continued from a
//! state an earlier pattern left).

#![allow(clippy::unwrap_used)]

use proptest::prelude::*;
use tessera_core::channel::HEADER_LEN;
use tessera_core::{Channel, ChannelConfig, PhaseMeter, Replay};

/// One step: the payload sizes each party sends.
type Step = [Vec<usize>; 2];

fn step() -> impl Strategy<Value = Step> {
    let frames = proptest::collection::vec(0usize..40, 0..3);
    (frames.clone(), frames).prop_map(|(a, b)| [a, b])
}

/// Runs `f` to completion on a current-thread runtime.
fn block<T>(f: impl Future<Output = T>) -> T {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(f)
}

/// Runs `steps` on an in-memory channel pair: in each step both ends send their
/// frames, then each receives the other's.
fn measured(steps: &[Step]) -> [PhaseMeter; 2] {
    block(async {
        let (mut a, mut b) = Channel::in_memory_pair(ChannelConfig::default());
        for [fa, fb] in steps {
            for &n in fa {
                a.send_bytes(vec![7; n]).await.unwrap();
            }
            for &n in fb {
                b.send_bytes(vec![7; n]).await.unwrap();
            }
            for &n in fb {
                assert_eq!(a.recv_bytes().await.unwrap().len(), n);
            }
            for &n in fa {
                assert_eq!(b.recv_bytes().await.unwrap().len(), n);
            }
        }
        [a.metering().setup, b.metering().setup]
    })
}

fn replayed(steps: &[Step]) -> Replay {
    let mut r = Replay::new();
    for [fa, fb] in steps {
        let wire = |f: &Vec<usize>| {
            f.iter()
                .map(|n| (HEADER_LEN + n) as u64)
                .collect::<Vec<_>>()
        };
        r.step([&wire(fa), &wire(fb)]);
    }
    r
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn replay_meters_like_the_channel(steps in proptest::collection::vec(step(), 0..12)) {
        let r = replayed(&steps);
        let m = measured(&steps);
        prop_assert_eq!(r.meters(), m);
        prop_assert_eq!(r.rounds(), m[0].rounds.max(m[1].rounds));
    }

    #[test]
    fn a_replay_continues_where_it_left(
        first in proptest::collection::vec(step(), 0..8),
        then in proptest::collection::vec(step(), 0..8),
    ) {
        let whole: Vec<Step> = first.iter().chain(&then).cloned().collect();
        let before = replayed(&first);
        let mut cont = Replay::after(before.last_sent());
        for [fa, fb] in &then {
            let wire = |f: &Vec<usize>| f.iter().map(|n| (HEADER_LEN + n) as u64).collect::<Vec<_>>();
            cont.step([&wire(fa), &wire(fb)]);
        }
        prop_assert_eq!(cont.rounds(), replayed(&whole).rounds());
    }
}

/// Frames sent at a message's depth ([`Channel::send_buffer_at`]) between reads of the
/// peer's frames count as one round, as the whole message sent first would; a depth
/// of 0 or deeper than the next message's is refused without sending anything.
#[test]
fn frames_at_a_message_depth_stay_one_round() {
    block(async {
        let (mut a, mut b) = Channel::in_memory_pair(ChannelConfig::default());
        let (da, db) = (a.message_depth(), b.message_depth());
        assert_eq!((da, db), (1, 1));
        for i in 0..5u8 {
            a.send_buffer_at(da, vec![i; 3]).await.unwrap();
            b.send_buffer_at(db, vec![i; 4]).await.unwrap();
            assert_eq!(a.recv_bytes().await.unwrap(), vec![i; 4]);
            assert_eq!(b.recv_bytes().await.unwrap(), vec![i; 3]);
        }
        assert_eq!(a.metering().total().rounds, 1);
        assert_eq!(b.metering().total().rounds, 1);
        // After the exchange the next message is one round deeper.
        assert_eq!(a.message_depth(), 2);
        assert!(a.send_buffer_at(0, vec![1u8]).await.is_err());
        assert!(a.send_buffer_at(3, vec![1u8]).await.is_err());
        assert_eq!(a.metering().total().messages_sent, 5);
        a.send_bytes(vec![9]).await.unwrap();
        assert_eq!(b.recv_bytes().await.unwrap(), vec![9]);
        assert_eq!(b.metering().total().rounds, 2);
    });
}
