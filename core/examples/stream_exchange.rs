//! Measures one streamed exchange over TCP loopback: both parties send `MiB` MiB and
//! receive the other's, each in its own process, with frames of at most `FRAME_MiB`.
//! Prints each party's time, throughput and peak resident memory (`VmHWM`).
//!
//! `cargo run --release -p tessera-core --example stream_exchange -- 1024 256`

use std::process::{Command, ExitCode};
use std::time::{Duration, Instant};

use tessera_core::channel::stream_wire_bytes;
use tessera_core::{Channel, ChannelConfig, Phase};
use tokio::net::TcpListener;

fn status(field: &str) -> String {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with(field))
                .map(|l| l[field.len()..].trim().to_string())
        })
        .unwrap_or_else(|| "?".into())
}

async fn party(who: &str, mut ch: Channel, mib: usize, frame: usize) -> Result<(), String> {
    let n = mib << 17; // words
    let mark = if who == "party 0" { 0 } else { u64::MAX };
    let mine: Vec<u64> = (0..n as u64).map(|i| i ^ mark).collect();
    let before = status("VmRSS:");
    ch.set_phase(Phase::Online);
    let t = Instant::now();
    let theirs = ch
        .exchange_pod_stream(mine)
        .await
        .map_err(|e| e.to_string())?;
    let dt = t.elapsed();
    let ok = theirs
        .iter()
        .enumerate()
        .all(|(i, &v)| v == (i as u64) ^ !mark);
    let m = ch.close().await.map_err(|e| e.to_string())?;
    let wire = stream_wire_bytes(8 * n as u64, 8, frame);
    println!(
        "{who}: {mib} MiB each way in frames of {} KiB: {:.3} s ({:.2} GB/s each way), {} frames sent, {} bytes sent (priced {wire}), rounds {}, correct {ok}; RSS before {before}, peak {}",
        frame >> 10,
        dt.as_secs_f64(),
        8.0 * n as f64 / dt.as_secs_f64() / 1e9,
        m.online.messages_sent,
        m.online.bytes_sent,
        m.online.rounds,
        status("VmHWM:"),
    );
    if !ok || m.online.bytes_sent != wire || m.online.rounds != 1 {
        return Err("wrong result or metering".into());
    }
    Ok(())
}

fn config(frame: usize) -> ChannelConfig {
    ChannelConfig {
        max_frame: frame,
        timeout: Duration::from_secs(120),
        ..Default::default()
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let r = match args.as_slice() {
        [peer, addr, mib, frame] if peer == "peer" => {
            let (mib, frame) = (mib.parse().unwrap_or(1), frame.parse().unwrap_or(1) << 20);
            match Channel::connect(addr.as_str(), config(frame)).await {
                Ok(ch) => party("party 1", ch, mib, frame).await,
                Err(e) => Err(e.to_string()),
            }
        }
        [mib, frame] => {
            let (mib, frame_mib): (usize, usize) =
                (mib.parse().unwrap_or(1024), frame.parse().unwrap_or(256));
            let frame = frame_mib << 20;
            let listener = match TcpListener::bind("127.0.0.1:0").await {
                Ok(l) => l,
                Err(e) => return fail(&e.to_string()),
            };
            let addr = match listener.local_addr() {
                Ok(a) => a.to_string(),
                Err(e) => return fail(&e.to_string()),
            };
            let exe = match std::env::current_exe() {
                Ok(e) => e,
                Err(e) => return fail(&e.to_string()),
            };
            let child = Command::new(exe)
                .args(["peer", &addr, &mib.to_string(), &frame_mib.to_string()])
                .spawn();
            let mut child = match child {
                Ok(c) => c,
                Err(e) => return fail(&e.to_string()),
            };
            let r = match Channel::accept(&listener, config(frame)).await {
                Ok(ch) => party("party 0", ch, mib, frame).await,
                Err(e) => Err(e.to_string()),
            };
            match child.wait() {
                Ok(s) if s.success() => r,
                Ok(s) => Err(format!("peer exited with {s}")),
                Err(e) => Err(e.to_string()),
            }
        }
        _ => Err("usage: stream_exchange MiB FRAME_MiB".into()),
    };
    match r {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => fail(&e),
    }
}

fn fail(e: &str) -> ExitCode {
    eprintln!("stream_exchange: {e}");
    ExitCode::FAILURE
}
