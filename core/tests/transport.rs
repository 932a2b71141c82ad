//! Transport: exact metering, failure modes (each within a timeout), handshake, rounds.

#![allow(clippy::unwrap_used)]

use std::num::Wrapping;
use std::time::Duration;

use tessera_core::channel::HEADER_LEN;
use tessera_core::{
    Block, Channel, ChannelConfig, ConfigSummary, Error, Handshake, Phase, Role, SessionId, Z64,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

const LIMIT: Duration = Duration::from_secs(10);

fn short_timeout() -> ChannelConfig {
    ChannelConfig {
        timeout: Duration::from_millis(300),
        ..Default::default()
    }
}

fn frame(payload: &[u8], depth: u32) -> Vec<u8> {
    let mut f = (payload.len() as u32).to_le_bytes().to_vec();
    f.extend_from_slice(&depth.to_le_bytes());
    f.extend_from_slice(payload);
    f
}

/// A channel on one side of a TCP connection and the raw socket on the other.
async fn channel_and_raw(config: ChannelConfig) -> (Channel, TcpStream) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (ch, raw) = tokio::join!(Channel::connect(addr, config), async {
        listener.accept().await.unwrap().0
    });
    (ch.unwrap(), raw)
}

#[tokio::test]
async fn metered_bytes_equal_bytes_on_the_socket() {
    tokio::time::timeout(LIMIT, async {
        let (mut ch, mut raw) = channel_and_raw(ChannelConfig::default()).await;
        // Outgoing: typed message, ring elements of both sizes, blocks, bytes, across phases.
        ch.send(&("hello", 42u32)).await.unwrap();
        ch.set_phase(Phase::Offline);
        ch.send_ring(vec![Wrapping(7u64); 1000]).await.unwrap();
        ch.send_blocks(vec![Block(1); 33]).await.unwrap();
        ch.set_phase(Phase::Online);
        ch.send_ring(vec![Wrapping(9u32); 5]).await.unwrap();
        ch.send_bytes(Vec::new()).await.unwrap();
        // Incoming: frames written by hand on the raw socket.
        let incoming = [frame(&[1, 2, 3], 1), frame(&[0u8; 4000], 1)];
        for f in &incoming {
            raw.write_all(f).await.unwrap();
        }
        let a = ch.recv_bytes().await.unwrap();
        let b: Vec<Z64> = ch.recv_ring(500).await.unwrap();
        assert_eq!((a, b.len()), (vec![1, 2, 3], 500));
        let m = ch.close().await.unwrap();

        let mut on_wire = Vec::new();
        raw.read_to_end(&mut on_wire).await.unwrap();
        let sent: u64 = Phase::ALL.iter().map(|&p| m.phase(p).bytes_sent).sum();
        assert_eq!(sent, on_wire.len() as u64, "meter vs socket (sent)");
        assert_eq!(
            m.total().bytes_received,
            incoming.iter().map(|f| f.len() as u64).sum::<u64>()
        );
        // Per phase, each frame is its payload plus the header.
        let h = HEADER_LEN as u64;
        assert_eq!(m.offline.bytes_sent, 8000 + 33 * 16 + 2 * h);
        assert_eq!(m.online.bytes_sent, 20 + h + h);
        assert_eq!(
            (
                m.setup.messages_sent,
                m.offline.messages_sent,
                m.online.messages_sent
            ),
            (1, 2, 2)
        );
        assert_eq!(m.online.messages_received, 2);
    })
    .await
    .unwrap();
}

#[tokio::test]
async fn oversized_length_prefix_is_rejected_before_allocation() {
    let (mut ch, mut raw) = channel_and_raw(ChannelConfig {
        max_frame: 1024,
        ..short_timeout()
    })
    .await;
    raw.write_all(&[0xff, 0xff, 0xff, 0x7f, 1, 0, 0, 0])
        .await
        .unwrap();
    let err = tokio::time::timeout(LIMIT, ch.recv_bytes())
        .await
        .unwrap()
        .unwrap_err();
    assert!(
        matches!(
            err,
            Error::FrameTooLarge {
                len: 0x7fff_ffff,
                max: 1024
            }
        ),
        "{err}"
    );
    // The channel is poisoned afterwards: no misreading of what follows.
    let again = tokio::time::timeout(LIMIT, ch.recv_bytes())
        .await
        .unwrap()
        .unwrap_err();
    assert!(matches!(again, Error::TransportStopped(_)), "{again}");
}

#[tokio::test]
async fn truncated_frame_then_close_is_reported_with_progress() {
    let (mut ch, mut raw) = channel_and_raw(short_timeout()).await;
    let f = frame(&[5u8; 100], 1);
    raw.write_all(&f[..HEADER_LEN + 10]).await.unwrap();
    drop(raw);
    let err = tokio::time::timeout(LIMIT, ch.recv_bytes())
        .await
        .unwrap()
        .unwrap_err();
    match err {
        Error::ConnectionClosed { during } => {
            assert_eq!(during, "in a frame body after 10 of 100 bytes")
        }
        e => panic!("unexpected {e}"),
    }
}

#[tokio::test]
async fn peer_dropping_mid_header_and_between_frames() {
    let (mut ch, mut raw) = channel_and_raw(short_timeout()).await;
    raw.write_all(&[3, 0]).await.unwrap();
    drop(raw);
    let err = tokio::time::timeout(LIMIT, ch.recv_bytes())
        .await
        .unwrap()
        .unwrap_err();
    assert!(
        matches!(&err, Error::ConnectionClosed { during } if during == "in a frame header after 2 of 8 bytes"),
        "{err}"
    );

    let (mut a, b) = Channel::in_memory_pair(short_timeout());
    drop(b);
    let err = tokio::time::timeout(LIMIT, a.recv::<u32>())
        .await
        .unwrap()
        .unwrap_err();
    assert!(
        matches!(&err, Error::ConnectionClosed { during } if during == "between frames"),
        "{err}"
    );
}

#[tokio::test]
async fn silent_peer_times_out() {
    let (mut ch, _raw) = channel_and_raw(short_timeout()).await;
    let start = std::time::Instant::now();
    let err = tokio::time::timeout(LIMIT, ch.recv_ring::<Z64>(4))
        .await
        .unwrap()
        .unwrap_err();
    assert!(matches!(err, Error::Timeout { .. }), "{err}");
    assert!(start.elapsed() >= Duration::from_millis(300));
}

#[tokio::test]
async fn silent_peer_mid_frame_times_out() {
    let (mut ch, mut raw) = channel_and_raw(short_timeout()).await;
    raw.write_all(&frame(&[0u8; 64], 1)[..HEADER_LEN + 3])
        .await
        .unwrap();
    let err = tokio::time::timeout(LIMIT, ch.recv_bytes())
        .await
        .unwrap()
        .unwrap_err();
    assert!(matches!(err, Error::Timeout { .. }), "{err}");
}

#[tokio::test]
async fn a_peer_trickling_bytes_times_out_per_frame() {
    let (mut ch, mut raw) = channel_and_raw(short_timeout()).await;
    // One byte every 100 ms: each read comes well within the 300 ms timeout, but the
    // frame (8-byte header and 64-byte body) does not.
    let trickle = tokio::spawn(async move {
        for b in frame(&[7u8; 64], 1) {
            if raw.write_all(&[b]).await.is_err() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        raw
    });
    let start = std::time::Instant::now();
    let err = tokio::time::timeout(LIMIT, ch.recv_bytes())
        .await
        .unwrap()
        .unwrap_err();
    assert!(matches!(err, Error::Timeout { .. }), "{err}");
    assert!(
        start.elapsed() < Duration::from_secs(2),
        "{:?}",
        start.elapsed()
    );
    trickle.abort();
}

#[tokio::test]
async fn frames_are_small_until_the_hello_is_accepted() {
    let (mut ch, mut raw) = channel_and_raw(ChannelConfig::default()).await;
    let hs = Handshake {
        me: Role::Party0,
        peer: Role::Party1,
        session: SessionId([1; 16]),
        config: ConfigSummary::new(),
    };
    // A stranger announces a 1 MiB "hello": refused from its header, nothing allocated.
    raw.write_all(&(1u32 << 20).to_le_bytes()).await.unwrap();
    raw.write_all(&1u32.to_le_bytes()).await.unwrap();
    let err = tokio::time::timeout(LIMIT, hs.run(&mut ch))
        .await
        .unwrap()
        .unwrap_err();
    assert!(
        matches!(err, Error::FrameTooLarge { max, .. } if max == 64 << 10),
        "{err}"
    );
}

#[tokio::test]
async fn malformed_payloads_are_errors() {
    let (mut ch, mut raw) = channel_and_raw(short_timeout()).await;
    // 7 bytes cannot be 64-bit ring elements.
    raw.write_all(&frame(&[1; 7], 1)).await.unwrap();
    let err = tokio::time::timeout(LIMIT, ch.recv_ring::<Z64>(1))
        .await
        .unwrap()
        .unwrap_err();
    assert!(matches!(err, Error::Malformed { .. }), "{err}");

    let (mut ch, mut raw) = channel_and_raw(short_timeout()).await;
    // Wrong element count.
    raw.write_all(&frame(&[1; 16], 1)).await.unwrap();
    let err = tokio::time::timeout(LIMIT, ch.recv_ring::<Z64>(3))
        .await
        .unwrap()
        .unwrap_err();
    assert!(matches!(err, Error::Malformed { .. }), "{err}");

    let (mut ch, mut raw) = channel_and_raw(short_timeout()).await;
    // Not a postcard String (invalid UTF-8 after a length byte).
    raw.write_all(&frame(&[2, 0xff, 0xfe], 1)).await.unwrap();
    let err = tokio::time::timeout(LIMIT, ch.recv::<String>())
        .await
        .unwrap()
        .unwrap_err();
    assert!(matches!(err, Error::Malformed { .. }), "{err}");

    let (mut ch, mut raw) = channel_and_raw(short_timeout()).await;
    // A depth the peer cannot have reached: we have sent nothing, so at most 1.
    raw.write_all(&frame(&[1, 2], 7)).await.unwrap();
    let err = tokio::time::timeout(LIMIT, ch.recv_bytes())
        .await
        .unwrap()
        .unwrap_err();
    assert!(
        matches!(
            err,
            Error::Malformed {
                expected: "frame header",
                ..
            }
        ),
        "{err}"
    );
}

/// A frame with a delivery stamp (its depth word's top bit set, 8 bytes after the
/// header) from a raw peer: held until the stamp's time where the ends share a clock
/// (and metered without the stamp), refused where they do not, and refused when the
/// stamp lies beyond the timeout (a peer cannot make a receive wait longer than that).
#[tokio::test]
async fn delivery_stamps_are_checked() {
    fn stamped(payload: &[u8], depth: u32, nanos: u64) -> Vec<u8> {
        let mut f = frame(payload, depth | 1 << 31);
        let body = f.split_off(HEADER_LEN);
        f.extend_from_slice(&nanos.to_le_bytes());
        f.extend(body);
        f
    }
    let config = short_timeout();
    // Ends that share a clock: the channel and a stand-in end made at the same time.
    let shared = || {
        let (near, far) = tokio::io::duplex(1 << 16);
        let (r, w) = tokio::io::split(near);
        let mut ch = Channel::from_halves(Box::new(r), Box::new(w), config);
        let (mut stand_in, _) = Channel::in_memory_pair(config);
        Channel::share_clock(&mut ch, &mut stand_in);
        (ch, far, std::time::Instant::now())
    };

    let (mut ch, mut raw, epoch) = shared();
    raw.write_all(&stamped(&[1, 2, 3], 1, 50_000_000))
        .await
        .unwrap();
    let got = tokio::time::timeout(LIMIT, ch.recv_bytes())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(got, [1, 2, 3]);
    assert!(epoch.elapsed() >= Duration::from_millis(50));
    assert_eq!(ch.metering().setup.bytes_received, (HEADER_LEN + 3) as u64);
    assert!(ch.waited(Phase::Setup) >= Duration::from_millis(40));

    let (mut ch, mut raw, _) = shared();
    raw.write_all(&stamped(&[1], 1, u64::MAX)).await.unwrap();
    let err = tokio::time::timeout(LIMIT, ch.recv_bytes())
        .await
        .unwrap()
        .unwrap_err();
    assert!(
        matches!(err, Error::Malformed { .. }) && err.to_string().contains("beyond the timeout"),
        "{err}"
    );

    let (mut ch, mut raw) = channel_and_raw(config).await;
    raw.write_all(&stamped(&[1], 1, 0)).await.unwrap();
    let err = tokio::time::timeout(LIMIT, ch.recv_bytes())
        .await
        .unwrap()
        .unwrap_err();
    assert!(
        matches!(err, Error::Malformed { .. }) && err.to_string().contains("share a clock"),
        "{err}"
    );
}

#[tokio::test]
async fn writing_to_a_vanished_peer_is_an_error() {
    let (mut ch, raw) = channel_and_raw(short_timeout()).await;
    drop(raw);
    // The first sends may succeed into the socket buffer; keep sending until the reset surfaces.
    let result = tokio::time::timeout(LIMIT, async {
        for _ in 0..10_000 {
            ch.send_ring(vec![Wrapping(1u64); 4096]).await?;
            tokio::task::yield_now().await;
        }
        Ok::<_, Error>(())
    })
    .await
    .unwrap();
    assert!(
        result.is_err(),
        "sending into a closed connection must fail"
    );
}

fn hs(me: Role, peer: Role, session: SessionId, ring: &str) -> Handshake {
    Handshake {
        me,
        peer,
        session,
        config: ConfigSummary::new()
            .with("ring", ring)
            .with("frac_bits", 16),
    }
}

async fn run_pair(a: Handshake, b: Handshake) -> (Result<(), Error>, Result<(), Error>) {
    let (mut ca, mut cb) = Channel::in_memory_pair(short_timeout());
    let out = tokio::time::timeout(LIMIT, async {
        tokio::join!(a.run(&mut ca), b.run(&mut cb))
    })
    .await
    .unwrap();
    assert_eq!(ca.metering().setup.rounds, 1, "the handshake is one round");
    out
}

#[tokio::test]
async fn handshake_accepts_matching_and_names_what_differs() {
    let s = SessionId::random();
    let (a, b) = run_pair(
        hs(Role::Party0, Role::Party1, s, "Z64"),
        hs(Role::Party1, Role::Party0, s, "Z64"),
    )
    .await;
    a.unwrap();
    b.unwrap();

    let (a, b) = run_pair(
        hs(Role::Party0, Role::Party1, s, "Z64"),
        hs(Role::Party1, Role::Party0, s, "Z32"),
    )
    .await;
    for (r, ours, theirs) in [(a, "`Z64`", "`Z32`"), (b, "`Z32`", "`Z64`")] {
        match r.unwrap_err() {
            Error::HandshakeMismatch {
                field,
                ours: o,
                theirs: t,
            } => {
                assert_eq!(
                    (field.as_str(), o.as_str(), t.as_str()),
                    ("config.ring", ours, theirs)
                );
            }
            e => panic!("unexpected {e}"),
        }
    }

    let other = SessionId::random();
    let (a, _) = run_pair(
        hs(Role::Party0, Role::Party1, s, "Z64"),
        hs(Role::Party1, Role::Party0, other, "Z64"),
    )
    .await;
    assert!(
        matches!(a.unwrap_err(), Error::HandshakeMismatch { field, .. } if field == "session id")
    );

    // Both claim to be party 0.
    let (a, _) = run_pair(
        hs(Role::Party0, Role::Party1, s, "Z64"),
        hs(Role::Party0, Role::Party1, s, "Z64"),
    )
    .await;
    let e = a.unwrap_err();
    assert!(
        matches!(&e, Error::HandshakeMismatch { field, .. } if field == "peer role"),
        "{e}"
    );
    assert!(e.to_string().contains("party 0"), "{e}");
}

/// Runs [`mediate`] as the dealer between two parties' handshakes (the dealer's ends
/// passed in the order `swap` says); returns the dealer's and the parties' results.
async fn mediated(
    h0: Handshake,
    h1: Handshake,
    swap: bool,
) -> (
    Result<tessera_core::Mediated, Error>,
    Result<Channel, Error>,
    Result<Channel, Error>,
) {
    let (mut p0, d0) = Channel::in_memory_pair(short_timeout());
    let (mut p1, d1) = Channel::in_memory_pair(short_timeout());
    let ends = if swap { [d1, d0] } else { [d0, d1] };
    tokio::time::timeout(LIMIT, async {
        tokio::join!(
            tessera_core::mediate(Role::Dealer, ends),
            async { h0.run(&mut p0).await.map(|()| p0) },
            async { h1.run(&mut p1).await.map(|()| p1) }
        )
    })
    .await
    .unwrap()
}

#[tokio::test]
async fn mediated_handshake_orders_parties_and_names_what_differs() {
    let s = SessionId::random();
    let to_dealer = |p: Role, ring: &str| hs(p, Role::Dealer, s, ring);
    for swap in [false, true] {
        let (d, p0, p1) = mediated(
            to_dealer(Role::Party0, "Z64"),
            to_dealer(Role::Party1, "Z64"),
            swap,
        )
        .await;
        let d = d.unwrap();
        assert_eq!(d.session, s);
        assert_eq!(d.config.0["ring"], "Z64");
        // Hello, then the answer that depends on both hellos: two rounds.
        assert_eq!(d.channels[0].metering().setup.rounds, 2);
        // The channels come back in party order, whatever order they were passed in.
        let [mut c0, mut c1] = d.channels;
        let (mut p0, mut p1) = (p0.unwrap(), p1.unwrap());
        c0.send(&0u8).await.unwrap();
        c1.send(&1u8).await.unwrap();
        assert_eq!(p0.recv::<u8>().await.unwrap(), 0);
        assert_eq!(p1.recv::<u8>().await.unwrap(), 1);
    }

    // Different configurations: all three ends name the field.
    let (d, p0, p1) = mediated(
        to_dealer(Role::Party0, "Z64"),
        to_dealer(Role::Party1, "Z32"),
        true,
    )
    .await;
    match d.unwrap_err() {
        Error::PartiesDisagree {
            field,
            party0,
            party1,
        } => assert_eq!(
            (field.as_str(), party0.as_str(), party1.as_str()),
            ("config.ring", "`Z64`", "`Z32`")
        ),
        e => panic!("unexpected {e}"),
    }
    for (r, ours, theirs) in [(p0, "`Z64`", "`Z32`"), (p1, "`Z32`", "`Z64`")] {
        match r.unwrap_err() {
            Error::HandshakeMismatch {
                field,
                ours: o,
                theirs: t,
            } => assert_eq!(
                (field.as_str(), o.as_str(), t.as_str()),
                ("config.ring", ours, theirs)
            ),
            e => panic!("unexpected {e}"),
        }
    }

    // Different sessions.
    let (d, p0, _) = mediated(
        to_dealer(Role::Party0, "Z64"),
        hs(Role::Party1, Role::Dealer, SessionId::random(), "Z64"),
        false,
    )
    .await;
    let e = d.unwrap_err();
    assert!(
        matches!(&e, Error::PartiesDisagree { field, .. } if field == "session id"),
        "{e}"
    );
    assert!(
        matches!(p0.unwrap_err(), Error::HandshakeMismatch { field, .. } if field == "session id")
    );

    // Two parties 0, and a party that expects a party instead of the dealer.
    let (d, _, _) = mediated(
        to_dealer(Role::Party0, "Z64"),
        to_dealer(Role::Party0, "Z64"),
        false,
    )
    .await;
    let e = d.unwrap_err();
    assert!(e.to_string().contains("party 0 twice"), "{e}");
    let (_, p0, _) = mediated(
        hs(Role::Party0, Role::Party1, s, "Z64"),
        to_dealer(Role::Party1, "Z64"),
        false,
    )
    .await;
    let e = p0.unwrap_err();
    assert!(
        matches!(&e, Error::HandshakeMismatch { field, .. } if field == "peer role"),
        "{e}"
    );
}

#[tokio::test]
async fn mediated_handshake_times_out_on_a_silent_party() {
    let (mut p0, d0) = Channel::in_memory_pair(short_timeout());
    let (_p1, d1) = Channel::in_memory_pair(short_timeout());
    let h0 = hs(Role::Party0, Role::Dealer, SessionId::random(), "Z64");
    let (d, p) = tokio::time::timeout(LIMIT, async {
        tokio::join!(
            tessera_core::mediate(Role::Dealer, [d0, d1]),
            h0.run(&mut p0)
        )
    })
    .await
    .unwrap();
    assert!(matches!(d.unwrap_err(), Error::Timeout { .. }));
    // The dealer gave up: party 0 is told by the closed connection, not left waiting.
    assert!(p.is_err());
}

#[tokio::test]
async fn handshake_with_a_non_tessera_peer_fails_cleanly() {
    let (mut ch, mut raw) = channel_and_raw(short_timeout()).await;
    raw.write_all(&frame(b"GET / HTTP/1.1\r\n\r\n", 1))
        .await
        .unwrap();
    let h = hs(Role::Party0, Role::Party1, SessionId::random(), "Z64");
    let err = tokio::time::timeout(LIMIT, h.run(&mut ch))
        .await
        .unwrap()
        .unwrap_err();
    assert!(
        matches!(
            err,
            Error::Malformed { .. } | Error::HandshakeMismatch { .. }
        ),
        "{err}"
    );
}

#[tokio::test]
async fn simultaneous_exchange_is_one_round_and_ping_pong_is_two() {
    let (mut a, mut b) = Channel::in_memory_pair(ChannelConfig::default());
    a.set_phase(Phase::Online);
    b.set_phase(Phase::Online);
    tokio::time::timeout(LIMIT, async {
        // Three element-wise "openings" of 100k elements each: three rounds, whatever the size.
        for _ in 0..3 {
            let (x, y) = tokio::join!(
                a.exchange_pod(vec![Wrapping(1u64); 100_000]),
                b.exchange_pod(vec![Wrapping(2u64); 100_000])
            );
            assert_eq!(
                (x.unwrap()[0], y.unwrap()[0]),
                (Wrapping(2u64), Wrapping(1u64))
            );
        }
        assert_eq!(
            (a.metering().online.rounds, b.metering().online.rounds),
            (3, 3)
        );
        // Request, then response: two causally chained messages.
        a.set_phase(Phase::Offline);
        b.set_phase(Phase::Offline);
        a.send(&1u8).await.unwrap();
        let q: u8 = b.recv().await.unwrap();
        b.send(&(q + 1)).await.unwrap();
        let r: u8 = a.recv().await.unwrap();
        assert_eq!(r, 2);
        assert_eq!(
            (a.metering().offline.rounds, b.metering().offline.rounds),
            (2, 2)
        );
        // Two messages back to back without a receive between them share a round.
        a.send(&1u8).await.unwrap();
        a.send(&2u8).await.unwrap();
        let _: (u8, u8) = (b.recv().await.unwrap(), b.recv().await.unwrap());
        assert_eq!(a.metering().offline.rounds, 3);
        assert_eq!(b.metering().offline.rounds, 3);
    })
    .await
    .unwrap();
}

#[tokio::test]
async fn large_simultaneous_exchange_over_tcp_does_not_deadlock() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let cfg = ChannelConfig::default();
    let (a, b) = tokio::join!(Channel::accept(&listener, cfg), Channel::connect(addr, cfg));
    let (mut a, mut b) = (a.unwrap(), b.unwrap());
    // 16 MB each way, both sending before receiving.
    let n = 2_000_000;
    let (x, y) = tokio::time::timeout(LIMIT, async {
        tokio::try_join!(
            a.exchange_pod(vec![Wrapping(3u64); n]),
            b.exchange_pod(vec![Wrapping(4u64); n])
        )
    })
    .await
    .unwrap()
    .unwrap();
    assert!(x.iter().all(|v| *v == Wrapping(4u64)) && y.iter().all(|v| *v == Wrapping(3u64)));
}

/// A payload that reports when the writer has dropped it (as a buffer pool would).
struct Returned(Vec<u8>, std::sync::mpsc::Sender<Vec<u8>>);
impl AsRef<[u8]> for Returned {
    fn as_ref(&self) -> &[u8] {
        &self.0
    }
}
impl Drop for Returned {
    fn drop(&mut self) {
        let _ = self.1.send(std::mem::take(&mut self.0));
    }
}

#[tokio::test]
async fn large_frames_and_reused_buffers_are_exact_on_the_wire() {
    tokio::time::timeout(LIMIT, async {
        let (mut ch, mut raw) = channel_and_raw(ChannelConfig::default()).await;
        // Large frames (header and payload in vectored writes) between small ones
        // (gathered in the write buffer), through both sending paths.
        let big: Vec<u8> = (0..(3 << 20) + 5).map(|i| (i % 251) as u8).collect();
        let (back, returned) = std::sync::mpsc::channel();
        ch.send_bytes(vec![1, 2, 3]).await.unwrap();
        ch.send_buffer(Returned(big.clone(), back.clone()))
            .await
            .unwrap();
        ch.send_bytes(vec![4]).await.unwrap();
        ch.send_blocks(vec![Block(7); 1 << 16]).await.unwrap();
        ch.send_buffer(Returned(Vec::new(), back)).await.unwrap();
        let mut expected = frame(&[1, 2, 3], 1);
        expected.extend(frame(&big, 1));
        expected.extend(frame(&[4], 1));
        expected.extend(frame(
            bytemuck::cast_slice(vec![Block(7); 1 << 16].as_slice()),
            1,
        ));
        expected.extend(frame(&[], 1));
        let mut on_wire = vec![0u8; expected.len()];
        raw.read_exact(&mut on_wire).await.unwrap();
        assert!(on_wire == expected, "frames on the wire differ");
        // Both pooled payloads came back once written.
        assert_eq!(returned.recv().unwrap(), big);
        assert!(returned.recv().unwrap().is_empty());

        // Receiving into one buffer: shrinking keeps the allocation, growing zeroes
        // nothing that is not overwritten, a wrong count is an error before resizing.
        let words: Vec<u64> = (0..100_000u64).collect();
        raw.write_all(&frame(bytemuck::cast_slice(&words), 1))
            .await
            .unwrap();
        raw.write_all(&frame(bytemuck::cast_slice(&words[..10]), 1))
            .await
            .unwrap();
        let mut buf: Vec<u64> = vec![u64::MAX; 7];
        ch.recv_pod_into(&mut buf, None).await.unwrap();
        assert_eq!(buf, words);
        let ptr = buf.as_ptr();
        ch.recv_pod_into(&mut buf, Some(10)).await.unwrap();
        assert_eq!((buf.as_slice(), buf.as_ptr()), (&words[..10], ptr));
        raw.write_all(&frame(&[0u8; 16], 1)).await.unwrap();
        let err = ch.recv_pod_into(&mut buf, Some(3)).await.unwrap_err();
        assert!(matches!(err, Error::Malformed { .. }), "{err}");
        assert_eq!(buf, &words[..10]);
        let m = ch.close().await.unwrap();
        assert_eq!(m.total().bytes_sent, expected.len() as u64);
        assert_eq!(
            m.total().bytes_received,
            (2 * HEADER_LEN + 8 * 100_010) as u64
        );
    })
    .await
    .unwrap();
}

// ---- Messages larger than a frame (streamed in frames of `max_frame`) ----

/// `payload` cut into frames of `chunk` bytes at `depth`, as a streaming sender writes them.
fn stream(payload: &[u8], chunk: usize, depth: u32) -> Vec<u8> {
    if payload.is_empty() {
        return frame(&[], depth);
    }
    payload
        .chunks(chunk)
        .flat_map(|c| frame(c, depth))
        .collect()
}

fn small_frames(max_frame: usize) -> ChannelConfig {
    ChannelConfig {
        max_frame,
        ..short_timeout()
    }
}

#[test]
fn stream_sizes_are_whole_elements_of_at_most_a_frame() {
    use tessera_core::channel::{stream_chunk_bytes, stream_frames, stream_wire_bytes};
    assert_eq!(stream_chunk_bytes(8, 4096), 4096);
    assert_eq!(stream_chunk_bytes(8, 4100), 4096);
    assert_eq!(stream_chunk_bytes(16, 15), 0);
    assert_eq!(stream_chunk_bytes(1, usize::MAX), u32::MAX as usize);
    // A message that fits one frame costs what every single-frame message costs.
    for b in [0u64, 8, 4096] {
        assert_eq!(stream_frames(b, 8, 4096), 1);
        assert_eq!(stream_wire_bytes(b, 8, 4096), b + 8);
    }
    assert_eq!(stream_frames(4104, 8, 4096), 2);
    assert_eq!(stream_wire_bytes(80_000, 8, 4100), 80_000 + 20 * 8);
    let def = ChannelConfig::default().max_frame;
    assert_eq!(stream_wire_bytes(1 << 28, 8, def), (1 << 28) + 8);
    assert_eq!(
        stream_wire_bytes((1 << 30) + 8, 8, def),
        (1 << 30) + 8 + 5 * 8
    );
}

#[tokio::test]
async fn streamed_messages_are_exact_on_the_wire_both_ways() {
    tokio::time::timeout(LIMIT, async {
        // 4100 is not a whole number of words: frames of 4096 bytes.
        let (mut ch, mut raw) = channel_and_raw(small_frames(4100)).await;
        ch.set_phase(Phase::Online);
        let big: Vec<u64> = (0..10_000).collect(); // 80,000 bytes: 19 full frames + 2,176
        let small: Vec<u64> = (0..512).collect(); // exactly one frame
        ch.send_pod_stream(big.clone()).await.unwrap();
        ch.send_pod_stream(small.clone()).await.unwrap();
        ch.send_pod_stream(Vec::<u64>::new()).await.unwrap();
        let mut expected = stream(bytemuck::cast_slice(&big), 4096, 1);
        assert_eq!(expected.len(), 80_000 + 20 * HEADER_LEN);
        // A message that fits is byte for byte the single frame `send_pod_vec` writes.
        expected.extend(frame(bytemuck::cast_slice(&small), 1));
        expected.extend(frame(&[], 1));
        let mut on_wire = vec![0u8; expected.len()];
        raw.read_exact(&mut on_wire).await.unwrap();
        assert!(on_wire == expected, "frames on the wire differ");
        let m = *ch.metering();
        assert_eq!(m.online.bytes_sent, expected.len() as u64);
        assert_eq!((m.online.messages_sent, m.online.rounds), (22, 1));

        // Receiving: the peer's answer, streamed at depth 2, is one more round.
        let answer: Vec<u64> = (0..3000).map(|i| i * 7).collect();
        let incoming = stream(bytemuck::cast_slice(&answer), 4096, 2);
        raw.write_all(&incoming).await.unwrap();
        let got: Vec<u64> = ch.recv_pod_stream(3000).await.unwrap();
        assert_eq!(got, answer);
        let m = ch.close().await.unwrap();
        assert_eq!(m.online.bytes_received, incoming.len() as u64);
        assert_eq!(m.online.bytes_received, 24_000 + 6 * HEADER_LEN as u64);
        assert_eq!((m.online.messages_received, m.online.rounds), (6, 2));
    })
    .await
    .unwrap();
}

#[tokio::test]
async fn streamed_exchanges_are_one_round_each_in_memory() {
    use tessera_core::channel::stream_wire_bytes;
    let (mut a, mut b) = Channel::in_memory_pair(small_frames(4096));
    a.set_phase(Phase::Online);
    b.set_phase(Phase::Online);
    tokio::time::timeout(LIMIT, async {
        let n = 100_000; // 400 KB of Z32: 98 frames each way
        for r in 0..3u32 {
            let (x, y) = tokio::try_join!(
                a.exchange_pod_stream(vec![Wrapping(r); n]),
                b.exchange_pod_stream(vec![Wrapping(r + 10); n])
            )
            .unwrap();
            assert!(x.iter().all(|v| v.0 == r + 10) && y.iter().all(|v| v.0 == r));
        }
    })
    .await
    .unwrap();
    let wire = stream_wire_bytes(400_000, 4, 4096);
    for m in [a.metering().online, b.metering().online] {
        assert_eq!(
            (m.rounds, m.messages_sent, m.messages_received),
            (3, 294, 294)
        );
        assert_eq!((m.bytes_sent, m.bytes_received), (3 * wire, 3 * wire));
    }
}

#[tokio::test]
async fn large_streamed_exchange_over_tcp_does_not_deadlock() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let cfg = small_frames(4096);
    let (a, b) = tokio::join!(Channel::accept(&listener, cfg), Channel::connect(addr, cfg));
    let (mut a, mut b) = (a.unwrap(), b.unwrap());
    // 16 MB each way in 4,096 frames of 4 KiB each (far more than the writer queue
    // holds), both sending before receiving.
    let n = 2_000_000;
    let (x, y) = tokio::time::timeout(LIMIT, async {
        tokio::try_join!(
            a.exchange_pod_stream((0..n as u64).collect()),
            b.exchange_pod_stream((0..n as u64).map(|i| !i).collect())
        )
    })
    .await
    .unwrap()
    .unwrap();
    assert!(x.iter().enumerate().all(|(i, v)| *v == !(i as u64)));
    assert!(y.iter().enumerate().all(|(i, v)| *v == i as u64));
    assert_eq!(a.metering().setup.rounds, 1);
}

/// Feeds `bytes` (then closes) to a channel expecting a streamed message of `n` words
/// and returns its error (after checking that the channel stays poisoned).
async fn stream_error(max_frame: usize, sent_first: bool, bytes: Vec<u8>, n: usize) -> Error {
    let (mut ch, mut raw) = channel_and_raw(small_frames(max_frame)).await;
    if sent_first {
        ch.send_bytes(vec![1]).await.unwrap();
    }
    raw.write_all(&bytes).await.unwrap();
    // Nothing follows: a channel that reads on sees the connection close, not silence.
    raw.shutdown().await.unwrap();
    let err = tokio::time::timeout(LIMIT, ch.recv_pod_stream::<u64>(n))
        .await
        .unwrap()
        .unwrap_err();
    let again = tokio::time::timeout(LIMIT, ch.recv_pod_stream::<u64>(n))
        .await
        .unwrap()
        .unwrap_err();
    assert!(matches!(again, Error::TransportStopped(_)), "{again}");
    drop(raw);
    err
}

#[tokio::test]
async fn hostile_frame_sequences_are_clear_errors() {
    let words = |n: usize| vec![0xabu8; 8 * n];
    // 1,000 words expected (8,000 bytes): frames of 4,096 and 3,904 bytes.
    let n = 1000;

    // A frame over the limit: refused from its header.
    let mut f = frame(&words(10), 1);
    f[..4].copy_from_slice(&u32::MAX.to_le_bytes());
    let e = stream_error(4096, false, f, n).await;
    assert!(matches!(e, Error::FrameTooLarge { max: 4096, .. }), "{e}");

    // A first frame within the limit but not the chunk (4,100 of a 4,096-byte chunk).
    let e = stream_error(4100, false, frame(&vec![0u8; 4100], 1), n).await;
    let s = e.to_string();
    assert!(matches!(e, Error::Malformed { .. }), "{s}");
    assert!(
        s.contains("frame 1 of a 8000-byte message") && s.contains("expected 4096"),
        "{s}"
    );

    // A short middle frame, a last frame running past the total, a total short by a
    // frame followed by the next message: all refused at the offending header.
    for (frames, bad) in [
        (vec![4096usize, 8, 3896], "frame 2"),
        (vec![4096, 4096], "frame 2"),
        (vec![4096, 3904 - 8], "frame 2"),
    ] {
        let bytes: Vec<u8> = frames
            .iter()
            .flat_map(|&len| frame(&vec![1u8; len], 1))
            .collect();
        let e = stream_error(4096, false, bytes, n).await;
        let s = e.to_string();
        assert!(
            matches!(e, Error::Malformed { .. }) && s.contains(bad),
            "{s}"
        );
    }

    // A frame of the message at another causal depth.
    let mut bytes = frame(&words(512), 1);
    bytes.extend(frame(&words(488), 2));
    let e = stream_error(4096, true, bytes, n).await;
    let s = e.to_string();
    assert!(
        matches!(e, Error::Malformed { .. }) && s.contains("causal depth"),
        "{s}"
    );

    // The peer stops after the first frame: a clear close, no hang.
    let e = stream_error(4096, false, frame(&words(512), 1), n).await;
    assert!(matches!(e, Error::ConnectionClosed { .. }), "{e}");

    // A frame cut short: the close names the progress inside it.
    let mut bytes = frame(&words(512), 1);
    bytes.extend(&frame(&words(488), 1)[..HEADER_LEN + 100]);
    let e = stream_error(4096, false, bytes, n).await;
    assert!(
        matches!(&e, Error::ConnectionClosed { during } if during.contains("100 of 3904")),
        "{e}"
    );
}

#[tokio::test]
async fn a_silent_peer_mid_stream_times_out() {
    let (mut ch, mut raw) = channel_and_raw(small_frames(4096)).await;
    raw.write_all(&frame(&[0u8; 4096], 1)).await.unwrap();
    let err = tokio::time::timeout(LIMIT, ch.recv_pod_stream::<u64>(1000))
        .await
        .unwrap()
        .unwrap_err();
    assert!(matches!(err, Error::Timeout { .. }), "{err}");
    drop(raw);
}

#[tokio::test]
async fn an_element_larger_than_a_frame_cannot_be_streamed() {
    let (mut a, _b) = Channel::in_memory_pair(small_frames(12));
    let err = a.send_pod_stream(vec![Block(1); 2]).await.unwrap_err();
    assert!(
        matches!(err, Error::FrameTooLarge { len: 16, max: 12 }),
        "{err}"
    );
}
