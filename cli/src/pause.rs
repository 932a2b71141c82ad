//! Test hooks: the hidden `--test-pause POINT` option stops a process at a named point
//! so that a test can kill it there and watch how the other processes react.
//!
//! Points: `start` (after binding a listener, before any connection), `handshake`
//! (after the handshakes: a party before its offline phase, the dealer before it
//! serves), and `peer-bytes=N` / `dealer-bytes=N` (once a party has received `N` bytes
//! from the other party after the handshakes — the dealing check, the set-up and the
//! online phase: counted from the handshakes because a buffered read may take the first
//! online bytes with the dealing check — or from the dealer during its fetch;
//! exactly `N` bytes are delivered and the reading end then stops, mid-phase). A paused process prints
//! `paused at POINT` on stderr and waits; it is not meant to be resumed.

use std::io;
use std::pin::Pin;
use std::str::FromStr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use futures::future::BoxFuture;
use tessera_core::Channel;
use tessera_protocols::runtime;
use tokio::io::{AsyncRead, ReadBuf};

/// How long a paused process waits before giving up with an error (the tests kill it
/// long before).
const PAUSE_LIMIT: Duration = Duration::from_secs(600);

/// A point where a process can be paused.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PausePoint {
    /// After binding a listener, before connecting or accepting.
    Start,
    /// After the handshakes.
    Handshake,
    /// Once this many bytes have been received from the other party after the
    /// handshakes.
    PeerBytes(u64),
    /// Once this many bytes have been received from the dealer during the fetch.
    DealerBytes(u64),
}

impl std::fmt::Display for PausePoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            PausePoint::Start => f.write_str("start"),
            PausePoint::Handshake => f.write_str("handshake"),
            PausePoint::PeerBytes(n) => write!(f, "peer-bytes={n}"),
            PausePoint::DealerBytes(n) => write!(f, "dealer-bytes={n}"),
        }
    }
}

impl FromStr for PausePoint {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let bytes = |v: &str| {
            v.parse::<u64>()
                .map_err(|e| format!("`{v}` is not a byte count: {e}"))
        };
        match s.split_once('=') {
            None if s == "start" => Ok(PausePoint::Start),
            None if s == "handshake" => Ok(PausePoint::Handshake),
            Some(("peer-bytes", v)) => Ok(PausePoint::PeerBytes(bytes(v)?)),
            Some(("dealer-bytes", v)) => Ok(PausePoint::DealerBytes(bytes(v)?)),
            _ => Err(format!(
                "unknown pause point `{s}` (start, handshake, peer-bytes=N, dealer-bytes=N)"
            )),
        }
    }
}

/// Which connection a byte tap watches.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Link {
    /// The other party.
    Peer,
    /// The dealer.
    Dealer,
}

/// The hooks of one process: none in normal runs.
#[derive(Clone, Default)]
pub struct Hooks {
    point: Option<PausePoint>,
    tap: Option<(Link, Arc<Tap>)>,
}

impl Hooks {
    /// Hooks that pause at `point` (if any).
    pub fn new(point: Option<PausePoint>) -> Hooks {
        let tap = match &point {
            Some(PausePoint::PeerBytes(n)) => Some((Link::Peer, Tap::new(*n, point.clone()))),
            Some(PausePoint::DealerBytes(n)) => Some((Link::Dealer, Tap::new(*n, point.clone()))),
            _ => None,
        };
        Hooks { point, tap }
    }

    /// Pauses here if `point` is the configured one, after flushing `sent` (so that
    /// what this process sent before the point has left when it is killed there).
    ///
    /// # Errors
    /// A failed flush, or the pause ending without the process being killed
    /// ([`tessera_protocols::Error::Timeout`]).
    pub async fn reached(
        &self,
        point: PausePoint,
        sent: &mut [&mut Channel],
    ) -> tessera_protocols::Result<()> {
        if self.point.as_ref() != Some(&point) {
            return Ok(());
        }
        for ch in sent {
            ch.flush().await?;
        }
        eprintln!("paused at {point}");
        tokio::time::sleep(PAUSE_LIMIT).await;
        Err(tessera_protocols::Error::Timeout(PAUSE_LIMIT))
    }

    /// Starts counting the bytes received on `link` (when its phase begins).
    pub fn arm(&self, link: Link) {
        if let Some((l, tap)) = &self.tap
            && *l == link
        {
            tap.armed.store(true, Ordering::SeqCst);
        }
    }

    /// Wraps the reading half of the connection on `link` (in a tap if one watches it).
    pub fn wrap<R: AsyncRead + Send + Unpin + 'static>(
        &self,
        link: Link,
        inner: R,
    ) -> Box<dyn AsyncRead + Send + Unpin> {
        match &self.tap {
            Some((l, tap)) if *l == link => Box::new(TapReader {
                inner,
                tap: tap.clone(),
            }),
            _ => Box::new(inner),
        }
    }
}

/// The session runtime's points: `handshake` after the handshakes; the peer tap is
/// armed after the handshakes, the dealer tap when the offline phase starts.
impl runtime::Hooks for Hooks {
    fn handshaken<'a>(
        &'a self,
        mut links: Vec<&'a mut Channel>,
    ) -> BoxFuture<'a, tessera_protocols::Result<()>> {
        self.arm(Link::Peer);
        Box::pin(async move { self.reached(PausePoint::Handshake, &mut links).await })
    }

    fn offline_starts(&self) {
        self.arm(Link::Dealer);
    }
}

/// A byte counter that stops the reader once `limit` bytes were read while armed.
struct Tap {
    limit: u64,
    seen: AtomicU64,
    armed: AtomicBool,
    hit: AtomicBool,
    point: Option<PausePoint>,
}

impl Tap {
    fn new(limit: u64, point: Option<PausePoint>) -> Arc<Tap> {
        Arc::new(Tap {
            limit,
            seen: AtomicU64::new(0),
            armed: AtomicBool::new(false),
            hit: AtomicBool::new(false),
            point,
        })
    }
}

struct TapReader<R> {
    inner: R,
    tap: Arc<Tap>,
}

impl<R: AsyncRead + Unpin> AsyncRead for TapReader<R> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if this.tap.hit.load(Ordering::SeqCst) {
            // Paused: never deliver anything again (the test kills the process).
            return Poll::Pending;
        }
        let before = buf.filled().len();
        let r = Pin::new(&mut this.inner).poll_read(cx, buf);
        if matches!(r, Poll::Ready(Ok(()))) && this.tap.armed.load(Ordering::SeqCst) {
            let n = (buf.filled().len() - before) as u64;
            let seen = this.tap.seen.fetch_add(n, Ordering::SeqCst);
            if seen + n >= this.tap.limit && !this.tap.hit.swap(true, Ordering::SeqCst) {
                // Deliver exactly up to the limit (what is read beyond it is dropped:
                // the reader never reads again), so the phase cannot complete.
                let keep = usize::try_from(this.tap.limit.saturating_sub(seen)).unwrap_or(0);
                buf.set_filled(before + keep);
                if let Some(p) = &this.tap.point {
                    eprintln!("paused at {p}");
                }
            }
        }
        r
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn points_parse_and_print() {
        for s in ["start", "handshake", "peer-bytes=10", "dealer-bytes=0"] {
            assert_eq!(s.parse::<PausePoint>().unwrap().to_string(), s);
        }
        for s in ["", "online", "peer-bytes", "peer-bytes=x", "other=3"] {
            assert!(s.parse::<PausePoint>().is_err(), "{s}");
        }
    }
}
