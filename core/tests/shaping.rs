//! Network shaping under tokio's paused clock: arrival times are exact, whether the
//! writer shapes (ends without a shared clock) or the reader does from the frames'
//! delivery stamps (ends in one process, [`Channel::share_clock`]).

#![allow(clippy::unwrap_used)]

use std::time::Duration;

use tessera_core::channel::HEADER_LEN;
use tessera_core::{Channel, ChannelConfig, NetworkProfile};
use tokio::time::Instant;

/// Two connected in-memory ends, shaped by the writer and (second) by the reader.
fn both(config: ChannelConfig) -> [(Channel, Channel); 2] {
    let (mut a, mut b) = Channel::in_memory_pair(config);
    Channel::share_clock(&mut a, &mut b);
    [Channel::in_memory_pair(config), (a, b)]
}

fn profile(bw: u64, rtt_ms: u64) -> ChannelConfig {
    ChannelConfig::with_profile(NetworkProfile {
        bandwidth_bps: Some(bw),
        rtt: Duration::from_millis(rtt_ms),
    })
}

#[tokio::test(start_paused = true)]
async fn a_frame_arrives_after_latency_plus_serialisation() {
    // 1000 bytes on the wire (header included) at 8 Mbit/s take exactly 1 ms; RTT 20 ms
    // means 10 ms one way: arrival at exactly 11 ms.
    for (mut a, mut b) in both(profile(8_000_000, 20)) {
        let t0 = Instant::now();
        a.send_bytes(vec![7u8; 1000 - HEADER_LEN]).await.unwrap();
        let got = b.recv_bytes().await.unwrap();
        assert_eq!(got.len(), 1000 - HEADER_LEN);
        assert_eq!(t0.elapsed(), Duration::from_millis(11));
    }
}

#[tokio::test(start_paused = true)]
async fn back_to_back_frames_queue_on_the_link() {
    // Three 1000-byte frames sent at once serialise one after another: they arrive at
    // 11, 12 and 13 ms.
    for (mut a, mut b) in both(profile(8_000_000, 20)) {
        let t0 = Instant::now();
        for _ in 0..3 {
            a.send_bytes(vec![0u8; 1000 - HEADER_LEN]).await.unwrap();
        }
        for expected in [11, 12, 13] {
            b.recv_bytes().await.unwrap();
            assert_eq!(t0.elapsed(), Duration::from_millis(expected));
        }
    }
}

#[tokio::test(start_paused = true)]
async fn a_round_trip_costs_one_rtt_plus_both_serialisations() {
    // WAN: 100 Mbit/s, 100 ms RTT. 12,500 bytes take 1 ms each way.
    for (mut a, mut b) in both(ChannelConfig::with_profile(NetworkProfile::WAN)) {
        let t0 = Instant::now();
        let payload = 12_500 - HEADER_LEN;
        let echo = async {
            let m = b.recv_bytes().await.unwrap();
            b.send_bytes(m).await.unwrap();
            b
        };
        let ping = async {
            a.send_bytes(vec![1u8; payload]).await.unwrap();
            a.recv_bytes().await.unwrap()
        };
        let (back, _b) = tokio::join!(ping, echo);
        assert_eq!(back.len(), payload);
        assert_eq!(t0.elapsed(), Duration::from_millis(102));
    }
}

#[tokio::test(start_paused = true)]
async fn local_profile_adds_no_delay() {
    for (mut a, mut b) in both(ChannelConfig::default()) {
        let t0 = Instant::now();
        a.send_bytes(vec![0u8; 1 << 20]).await.unwrap();
        b.recv_bytes().await.unwrap();
        assert_eq!(t0.elapsed(), Duration::ZERO);
    }
}

/// On the real clock a one-way delay of 0.1 ms costs about 0.1 ms, not the whole
/// millisecond that tokio's timer would round each deadline up to: 50 round trips on
/// a 0.2 ms-RTT link take about 10 ms (rounded up they would take about 100 ms).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sub_millisecond_latency_is_not_rounded_up_to_the_timer_tick() {
    let (mut a, mut b) = Channel::in_memory_pair(ChannelConfig::with_profile(NetworkProfile {
        bandwidth_bps: None,
        rtt: Duration::from_micros(200),
    }));
    let trips = 50;
    let t0 = std::time::Instant::now();
    let echo = async {
        for _ in 0..trips {
            let m = b.recv_bytes().await.unwrap();
            b.send_bytes(m).await.unwrap();
        }
    };
    let ping = async {
        for _ in 0..trips {
            a.send_bytes(vec![1]).await.unwrap();
            a.recv_bytes().await.unwrap();
        }
    };
    tokio::join!(ping, echo);
    let elapsed = t0.elapsed();
    assert!(elapsed >= Duration::from_micros(200) * trips, "{elapsed:?}");
    assert!(elapsed < Duration::from_millis(50), "{elapsed:?}");
}

#[tokio::test(start_paused = true)]
async fn flush_returns_once_shaped_frames_are_written() {
    // Two frames of 1000 bytes at 8 Mbit/s, 10 ms one way: the second is delivered at
    // exactly 12 ms. A writer that shapes holds the frames until then, and flush waits
    // for them; with delivery stamps the frames are written at once (flush returns at
    // once) and the reader holds them until 12 ms. Neither closes the channel.
    for (shared, (mut a, mut b)) in [false, true].into_iter().zip(both(profile(8_000_000, 20))) {
        let t0 = Instant::now();
        for _ in 0..2 {
            a.send_bytes(vec![7u8; 1000 - HEADER_LEN]).await.unwrap();
        }
        a.flush().await.unwrap();
        let flushed = if shared { 0 } else { 12 };
        assert_eq!(t0.elapsed(), Duration::from_millis(flushed));
        for _ in 0..2 {
            assert_eq!(b.recv_bytes().await.unwrap().len(), 1000 - HEADER_LEN);
        }
        assert_eq!(t0.elapsed(), Duration::from_millis(12));
        // Still open both ways.
        b.send(&5u8).await.unwrap();
        assert_eq!(a.recv::<u8>().await.unwrap(), 5);
        a.send(&6u8).await.unwrap();
        a.flush().await.unwrap();
        assert_eq!(b.recv::<u8>().await.unwrap(), 6);
    }
}

#[tokio::test(start_paused = true)]
async fn a_streamed_message_arrives_when_its_last_frame_does() {
    // 4 frames of 992 bytes of payload, 1000 on the wire each, at 8 Mbit/s: they leave
    // back to back and the message is complete at 10 + 4 × 1 = 14 ms, one latency and
    // the serialisation of every frame, header included.
    let cfg = ChannelConfig {
        max_frame: 992,
        ..profile(8_000_000, 20)
    };
    for (mut a, mut b) in both(cfg) {
        let t0 = Instant::now();
        a.send_pod_stream(vec![3u64; 4 * 992 / 8]).await.unwrap();
        let got: Vec<u64> = b.recv_pod_stream(4 * 992 / 8).await.unwrap();
        assert!(got.iter().all(|&v| v == 3));
        assert_eq!(t0.elapsed(), Duration::from_millis(14));
        assert_eq!(b.metering().setup.bytes_received, 4000);
    }
}
