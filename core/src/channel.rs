//! A metered, length-prefixed, optionally shaped async channel between two parties,
//! over TCP or in memory.
//!
//! # Wire format
//! Every frame is an 8-byte header — payload length (u32, little-endian) and the
//! message's causal depth (u32, little-endian; see [`crate::meter`]) — followed by the
//! payload. Typed messages are postcard-encoded; bulk ring elements, words and blocks
//! are sent as their raw little-endian bytes and received straight into a typed buffer
//! (no intermediate copy on either side when the sender hands over an owned `Vec`).
//!
//! # Bulk throughput
//! A large frame's header and payload go to the socket in one vectored write. What a
//! bulk stream of frames costs beyond the kernel's two copies is allocating, zeroing
//! and page-faulting a fresh buffer per frame; a sender that passes
//! [`Channel::send_buffer`] a payload that returns its buffer to a pool on drop, and a
//! receiver that reuses buffers with [`Channel::recv_pod_into`], avoid it (1 MiB frames
//! over TCP loopback: about 1.1–2 GB/s with fresh buffers, 3.3–3.7 GB/s with reused
//! ones, as fast as plain reads and writes of the same frames on the socket).
//!
//! # Messages larger than a frame
//! [`Channel::send_pod_stream`] / [`Channel::recv_pod_stream`] (and
//! [`Channel::exchange_pod_stream`]) carry a message of any size: one that fits a frame
//! is that single frame, byte for byte what [`Channel::send_pod_vec`] writes; a larger
//! one is cut into frames of [`stream_chunk_bytes`] (the most whole elements that fit
//! [`ChannelConfig::max_frame`]), all at the message's causal depth, so the whole
//! message is **one round** and costs one 8-byte header per frame
//! ([`stream_wire_bytes`]). The sender queues the message as one item (no copy; the
//! writer task cuts it), so its send never waits for the peer however many frames it
//! has. The receiver knows the element count, allocates exactly that once, reads each
//! frame straight into its place, and checks every frame's header before reading its
//! body: its length must be the next chunk of the expected total (never more than
//! `max_frame`, never past the end) and its depth the message's. Chunking at
//! `max_frame` rather than at a smaller size leaves every message that fits a frame
//! unchanged on the wire; a smaller chunk would buy nothing, since frames are neither
//! copied nor staged (the receive buffer is the message's final buffer).
//!
//! # Sending never waits for the peer
//! Frames go to a writer task through a bounded queue, so both parties can send a
//! large message and then receive, without the classic both-blocked-on-write deadlock.
//! The writer task also applies the [`NetworkProfile`]: it holds each frame until its
//! simulated delivery time.
//!
//! # Failure
//! A length over the maximum, a connection closed inside a frame, a frame not complete
//! within its deadline (see [`ChannelConfig::timeout`]) and undecodable payloads are
//! [`Error`]s. After a receive
//! error the channel is poisoned: the stream may be out of sync, so every later call
//! returns the same error instead of misreading.

use std::io::IoSlice;
use std::num::NonZeroUsize;
use std::sync::Arc;
use std::time::Duration;

use bytemuck::Pod;
use serde::Serialize;
use serde::de::DeserializeOwned;
use tokio::io::{
    AsyncBufReadExt, AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, BufReader, BufWriter,
};
use tokio::net::{TcpListener, TcpStream, ToSocketAddrs};
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;
use tokio::time::Instant;

use crate::meter::{Metering, Phase, RoundClock};
use crate::threads::Threads;
use crate::{Block, Error, NetworkProfile, Result, Ring};

/// Bytes in a frame header.
pub const HEADER_LEN: usize = 8;

/// Bytes of a frame's delivery stamp, which follows the header on a shaped link whose
/// two ends share a clock ([`Channel::share_clock`]). Simulation data, not protocol
/// data: never metered, never part of a frame's simulated transmission.
pub const STAMP_LEN: usize = 8;

/// Set in a header's depth word when a delivery stamp follows the header.
const STAMPED: u32 = 1 << 31;

/// A frame's header as written: the [`HEADER_LEN`] header bytes, followed by the
/// delivery stamp on a link that shares a clock.
#[derive(Clone, Copy)]
struct Head {
    bytes: [u8; HEADER_LEN + STAMP_LEN],
    len: usize,
}

impl Head {
    fn as_bytes(&self) -> &[u8] {
        &self.bytes[..self.len]
    }
}

/// Bytes of the writer task's buffer, which gathers small frames.
const WRITE_BUFFER: usize = 1 << 16;

/// The slowest transfer rate a frame body is allowed (bytes per second) on top of the
/// timeout: a body of `n` bytes must arrive within `timeout + n / MIN_BODY_RATE` of its
/// header.
pub const MIN_BODY_RATE: u64 = 1 << 20;

/// The largest frame accepted before the session handshake has succeeded (see
/// [`Channel::set_max_frame`]): a hello is far smaller, and a stranger cannot make a
/// process allocate more.
pub const PRE_SESSION_MAX_FRAME: usize = 64 << 10;

/// Frames the writer queue holds before `send` waits.
const QUEUE_FRAMES: usize = 256;

/// Channel settings. Both ends should use the same values (the handshake checks what
/// the protocol depends on; these are local safety limits).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ChannelConfig {
    /// Largest accepted payload in bytes; a larger announced length is an error before
    /// anything is allocated.
    pub max_frame: usize,
    /// How long a receive may wait for a frame's header (all 8 bytes of it), a send for
    /// queue space, and a connect for the peer. A frame's body must follow within the
    /// timeout plus its transfer time at [`MIN_BODY_RATE`]: deadlines are per frame, not
    /// per read, so a peer trickling a byte at a time fails as a silent one does.
    pub timeout: Duration,
    /// Simulated network applied to outgoing frames.
    pub profile: NetworkProfile,
    /// Compute threads of the party that owns this end (`--threads`): the protocols
    /// run on [`Channel::threads`]. 1 by default (the command line defaults to every
    /// core); results do not depend on it.
    pub threads: NonZeroUsize,
}

impl Default for ChannelConfig {
    fn default() -> Self {
        ChannelConfig {
            max_frame: 1 << 28,
            timeout: Duration::from_secs(60),
            profile: NetworkProfile::LOCAL,
            threads: NonZeroUsize::MIN,
        }
    }
}

impl ChannelConfig {
    /// The defaults with another profile.
    pub fn with_profile(profile: NetworkProfile) -> Self {
        ChannelConfig {
            profile,
            ..Default::default()
        }
    }
}

/// Bytes in each frame of a streamed message of `elem_size`-byte elements: the most
/// whole elements that fit `max_frame` and the header's 32-bit length. Zero when one
/// element does not fit (such a message cannot be sent).
pub fn stream_chunk_bytes(elem_size: usize, max_frame: usize) -> usize {
    let cap = max_frame.min(u32::MAX as usize);
    match elem_size {
        0 => cap,
        e => cap / e * e,
    }
}

/// Frames of a streamed message of `payload_bytes` bytes ([`Channel::send_pod_stream`]):
/// one if it fits a frame (an empty message is one empty frame), else
/// `⌈payload_bytes / chunk⌉` with the chunk of [`stream_chunk_bytes`].
pub fn stream_frames(payload_bytes: u64, elem_size: usize, max_frame: usize) -> u64 {
    let chunk = stream_chunk_bytes(elem_size, max_frame).max(1) as u64;
    payload_bytes.div_ceil(chunk).max(1)
}

/// Bytes on the wire of a streamed message of `payload_bytes` bytes: the payload plus
/// one [`HEADER_LEN`]-byte header per frame ([`stream_frames`]). For a message that fits
/// one frame this is `HEADER_LEN + payload_bytes`, as for every single-frame message.
pub fn stream_wire_bytes(payload_bytes: u64, elem_size: usize, max_frame: usize) -> u64 {
    payload_bytes + HEADER_LEN as u64 * stream_frames(payload_bytes, elem_size, max_frame)
}

type Payload = Box<dyn AsRef<[u8]> + Send + Sync>;

struct PodVec<T>(Vec<T>);
impl<T: Pod> AsRef<[u8]> for PodVec<T> {
    fn as_ref(&self) -> &[u8] {
        bytemuck::cast_slice(&self.0)
    }
}

struct OutFrame {
    head: Head,
    payload: Payload,
    /// The simulated delivery time when the writer shapes the frame (see [`write_one`]).
    hold: Option<Instant>,
}

/// One frame of a streamed message: a byte range of the message's payload.
struct StreamFrame {
    head: Head,
    range: std::ops::Range<usize>,
    hold: Option<Instant>,
}

/// What the writer task is asked to do.
enum Out {
    /// Write a frame.
    Frame(OutFrame),
    /// Write the frames of one message, back to back.
    Stream {
        payload: Payload,
        frames: Vec<StreamFrame>,
    },
    /// Flush everything queued before, then acknowledge.
    Flush(oneshot::Sender<()>),
}

type Reader = BufReader<Box<dyn AsyncRead + Send + Unpin>>;

/// One end of a two-party channel. See the module docs.
pub struct Channel {
    reader: Reader,
    tx: Option<mpsc::Sender<Out>>,
    writer: Option<JoinHandle<Result<()>>>,
    config: ChannelConfig,
    /// When the simulated link is next free (shaping only).
    link_free: Option<Instant>,
    /// The instant both ends count delivery stamps from, when they share a clock
    /// ([`Channel::share_clock`]).
    epoch: Option<Instant>,
    phase: Phase,
    clock: RoundClock,
    metering: Metering,
    /// Time spent in reads, per phase (indexed as [`Phase::ALL`]).
    waited: [Duration; 3],
    poisoned: Option<String>,
    threads: Arc<Threads>,
}

impl std::fmt::Debug for Channel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Channel")
            .field("profile", &self.config.profile)
            .field("phase", &self.phase)
            .field("metering", &self.metering)
            .finish_non_exhaustive()
    }
}

async fn writer_loop(
    w: Box<dyn AsyncWrite + Send + Unpin>,
    mut rx: mpsc::Receiver<Out>,
) -> Result<()> {
    let mut w = BufWriter::with_capacity(WRITE_BUFFER, w);
    while let Some(out) = rx.recv().await {
        match out {
            Out::Frame(frame) => {
                let payload = frame.payload.as_ref().as_ref();
                write_one(&mut w, frame.head.as_bytes(), payload, frame.hold).await?;
            }
            Out::Stream { payload, frames } => {
                let payload = payload.as_ref().as_ref();
                for f in &frames {
                    let body = payload.get(f.range.clone()).ok_or_else(|| {
                        Error::TransportStopped("a streamed frame outside its message".into())
                    })?;
                    write_one(&mut w, f.head.as_bytes(), body, f.hold).await?;
                }
            }
            Out::Flush(done) => {
                w.flush().await.map_err(Error::io("flushing"))?;
                // The caller may have stopped waiting: nothing to do then.
                let _ = done.send(());
                continue;
            }
        }
        if rx.is_empty() {
            w.flush().await.map_err(Error::io("flushing"))?;
        }
    }
    w.flush().await.map_err(Error::io("flushing"))?;
    w.shutdown()
        .await
        .map_err(Error::io("closing the connection"))?;
    Ok(())
}

/// Writes one frame, now (`hold` is `None`: unshaped, or shaped by the receiver from
/// the frame's delivery stamp) or shaped by this writer: everything but the frame's
/// last byte goes into the stream now and the last byte at the delivery time `hold`, so
/// the peer cannot complete the frame earlier while the real copy of a large frame
/// overlaps its simulated transmission.
async fn write_one<W: AsyncWrite + Unpin>(
    w: &mut BufWriter<W>,
    header: &[u8],
    payload: &[u8],
    hold: Option<Instant>,
) -> Result<()> {
    let Some(at) = hold else {
        return write_frame(w, header, payload).await;
    };
    let (head, body, last): (&[u8], &[u8], u8) = match (payload.split_last(), header.split_last()) {
        (Some((&last, body)), _) => (header, body, last),
        (None, Some((&last, head))) => (head, &[], last),
        (None, None) => return write_frame(w, header, payload).await,
    };
    write_frame(w, head, body).await?;
    w.flush().await.map_err(Error::io("flushing"))?;
    precise::sleep_until(at).await;
    w.write_all(&[last])
        .await
        .map_err(Error::io("writing a frame"))?;
    w.flush().await.map_err(Error::io("flushing"))
}

/// Writes a header and its payload. A payload at least as large as the write buffer
/// goes to the stream together with its header in vectored writes (one system call for
/// both when the stream takes them, no copy into the buffer); smaller frames are
/// gathered in the buffer.
async fn write_frame<W: AsyncWrite + Unpin>(
    w: &mut BufWriter<W>,
    header: &[u8],
    payload: &[u8],
) -> Result<()> {
    if payload.len() < WRITE_BUFFER {
        w.write_all(header)
            .await
            .map_err(Error::io("writing a frame header"))?;
        return w
            .write_all(payload)
            .await
            .map_err(Error::io("writing a frame"));
    }
    let mut parts = [IoSlice::new(header), IoSlice::new(payload)];
    let mut parts: &mut [IoSlice<'_>] = &mut parts;
    while !parts.is_empty() {
        let n = w
            .write_vectored(parts)
            .await
            .map_err(Error::io("writing a frame"))?;
        if n == 0 {
            return Err(Error::Io {
                context: "writing a frame",
                source: std::io::ErrorKind::WriteZero.into(),
            });
        }
        IoSlice::advance_slices(&mut parts, n);
    }
    Ok(())
}

/// Sub-millisecond waits for network shaping. Tokio's timer rounds every deadline up
/// to the next whole millisecond, which would add up to 1 ms to each simulated
/// one-way latency (0.1 ms on the `lan` profile) and so dominate a round-heavy run. A
/// shaped frame therefore waits for whichever comes first: the tokio sleep or a wake-up
/// from one OS thread that sleeps with the operating system's precision and spins the
/// last `SPIN` (120 µs) before each deadline. The frame is released only once the
/// tokio clock has reached its deadline, so a paused test clock
/// (`tokio::time::pause`) stays exact: there the tokio sleep decides.
mod precise {
    use std::sync::OnceLock;
    use std::sync::mpsc::{self, RecvTimeoutError};
    use std::time::Instant as StdInstant;

    use tokio::sync::oneshot;
    use tokio::time::Instant;

    struct Wake {
        at: StdInstant,
        done: oneshot::Sender<()>,
    }

    /// The stretch before a deadline that the timer thread spins instead of sleeping.
    /// A sleeping thread wakes late by the kernel's timer slack and, on a virtual
    /// machine, the hypervisor's wake-up: on the 2-vCPU VM of the README a shaped
    /// message cost 150 µs beyond `lan`'s 100 µs one-way latency (`tessera calibrate`'s
    /// `message_shaped`), 65 µs with this spin. At most this much CPU per deadline, on
    /// one thread of the process.
    const SPIN: std::time::Duration = std::time::Duration::from_micros(120);

    fn timer_loop(rx: mpsc::Receiver<Wake>) {
        let mut pending: Vec<Wake> = Vec::new();
        loop {
            let now = StdInstant::now();
            let mut i = 0;
            while i < pending.len() {
                if pending[i].at <= now {
                    // The waiter may be gone (its sleep finished first): nothing to do.
                    let _ = pending.swap_remove(i).done.send(());
                } else {
                    i += 1;
                }
            }
            let next = match pending.iter().map(|w| w.at).min() {
                None => rx.recv().map_err(|_| RecvTimeoutError::Disconnected),
                Some(t) if t.saturating_duration_since(now) <= SPIN => {
                    // The last stretch is spun (new requests still come in).
                    while StdInstant::now() < t {
                        match rx.try_recv() {
                            Ok(w) => {
                                pending.push(w);
                                break;
                            }
                            Err(mpsc::TryRecvError::Empty) => std::hint::spin_loop(),
                            Err(mpsc::TryRecvError::Disconnected) => return,
                        }
                    }
                    continue;
                }
                Some(t) => rx.recv_timeout(t.saturating_duration_since(now) - SPIN),
            };
            match next {
                Ok(w) => pending.push(w),
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => return,
            }
        }
    }

    /// The timer thread's queue; `None` if the thread could not be started.
    fn timer() -> Option<&'static mpsc::Sender<Wake>> {
        static TIMER: OnceLock<Option<mpsc::Sender<Wake>>> = OnceLock::new();
        TIMER
            .get_or_init(|| {
                let (tx, rx) = mpsc::channel();
                std::thread::Builder::new()
                    .name("tessera-shaping-timer".into())
                    .spawn(move || timer_loop(rx))
                    .ok()
                    .map(|_| tx)
            })
            .as_ref()
    }

    /// Waits until `at` for a reader holding a frame read ahead of its delivery time:
    /// as [`sleep_until`], once the runtime's other tasks ready on this thread (the
    /// party's own writer among them, just woken by a send) have run.
    pub(super) async fn wait_until(at: Instant) {
        tokio::task::yield_now().await;
        sleep_until(at).await;
    }

    /// Waits until `at` with sub-millisecond precision on a real clock: the timer
    /// thread wakes this task [`SPIN`] before `at`, and the task spins the rest on its
    /// own thread, so the wake-up's own latency (a cross-thread wake of the runtime,
    /// tens of µs on a VM) falls inside the spin instead of after the deadline. A
    /// deadline nearer than that is spun at once (`lan`'s 100 µs one-way latency).
    pub(super) async fn sleep_until(at: Instant) {
        let now = Instant::now();
        if now >= at {
            return;
        }
        if Instant::now() == now {
            // A clock that did not move between two reads is a paused one (the timing
            // tests'): its time is the runtime's alone, and a real-time wake or spin
            // would race with the runtime advancing it. A real clock reads equal twice
            // only if its resolution is coarse; then this wait is merely less precise.
            tokio::time::sleep_until(at).await;
            return;
        }
        if at - now > SPIN {
            let early = at - SPIN;
            let (done, woken) = oneshot::channel();
            let queued = timer().is_some_and(|t| {
                t.send(Wake {
                    at: early.into_std(),
                    done,
                })
                .is_ok()
            });
            if queued {
                tokio::select! {
                    () = tokio::time::sleep_until(early) => {}
                    _ = woken => {}
                }
            } else {
                tokio::time::sleep_until(early).await;
            }
        }
        let at = at.into_std();
        while StdInstant::now() < at {
            std::hint::spin_loop();
        }
    }
}

/// Opens a TCP connection to `addr`, retrying refused connections until `timeout` has
/// passed (the peer may not be listening yet). [`Channel::connect`] is this followed by
/// [`Channel::from_tcp`]; callers that wrap the stream (e.g. to observe its bytes) use
/// it directly and build the channel with [`Channel::from_halves`].
///
/// # Errors
/// [`Error::Timeout`] if no connection succeeds in time, or the last I/O error if the
/// time runs out between two attempts.
pub async fn connect_tcp(addr: impl ToSocketAddrs + Clone, timeout: Duration) -> Result<TcpStream> {
    let deadline = Instant::now() + timeout;
    loop {
        match tokio::time::timeout_at(deadline, TcpStream::connect(addr.clone())).await {
            Err(_) => {
                return Err(Error::Timeout {
                    what: "connecting to the peer",
                    after: timeout,
                });
            }
            Ok(Ok(s)) => return Ok(s),
            Ok(Err(e)) => {
                tracing::debug!("connect failed ({e}), retrying");
                if Instant::now() + Duration::from_millis(50) >= deadline {
                    return Err(Error::Io {
                        context: "connecting to the peer",
                        source: e,
                    });
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    }
}

/// Accepts one TCP connection on `listener` within `timeout` (see [`connect_tcp`]).
///
/// # Errors
/// [`Error::Timeout`] if nobody connects in time, or an I/O error.
pub async fn accept_tcp(listener: &TcpListener, timeout: Duration) -> Result<TcpStream> {
    let (s, _) = tokio::time::timeout(timeout, listener.accept())
        .await
        .map_err(|_| Error::Timeout {
            what: "waiting for the peer to connect",
            after: timeout,
        })?
        .map_err(Error::io("accepting a connection"))?;
    Ok(s)
}

impl Channel {
    /// A channel over any byte stream halves.
    pub fn from_halves(
        r: Box<dyn AsyncRead + Send + Unpin>,
        w: Box<dyn AsyncWrite + Send + Unpin>,
        config: ChannelConfig,
    ) -> Channel {
        let (tx, rx) = mpsc::channel(QUEUE_FRAMES);
        let writer = tokio::spawn(writer_loop(w, rx));
        Channel {
            reader: BufReader::with_capacity(1 << 16, r),
            tx: Some(tx),
            writer: Some(writer),
            config,
            link_free: None,
            epoch: None,
            phase: Phase::Setup,
            clock: RoundClock::default(),
            metering: Metering::default(),
            waited: [Duration::ZERO; 3],
            poisoned: None,
            threads: Arc::new(Threads::new(config.threads)),
        }
    }

    /// Two connected in-memory ends (one per party).
    pub fn in_memory_pair(config: ChannelConfig) -> (Channel, Channel) {
        let (a, b) = tokio::io::duplex(1 << 20);
        let (ar, aw) = tokio::io::split(a);
        let (br, bw) = tokio::io::split(b);
        (
            Channel::from_halves(Box::new(ar), Box::new(aw), config),
            Channel::from_halves(Box::new(br), Box::new(bw), config),
        )
    }

    /// Marks two ends of one link as sharing a clock (both in this process): on a
    /// shaped link each frame is then written at once, its simulated delivery time
    /// in a stamp after its header, and the receiver holds it until then — the
    /// same arrival times as when the writer holds each frame's last byte back,
    /// without the writer's wake-up and write at the delivery time and the reader's
    /// wake-up after it on the path of every message (on a 2-vCPU VM those cost
    /// tens of µs per message against `lan`'s 100 µs latency). The stamps are not
    /// metered. Unshaped links are unchanged. For ends in different processes
    /// the writer keeps shaping, as their clocks need not agree.
    pub fn share_clock(a: &mut Channel, b: &mut Channel) {
        let epoch = Instant::now();
        a.epoch = Some(epoch);
        b.epoch = Some(epoch);
    }

    /// A channel over a connected TCP stream (sets `TCP_NODELAY`).
    ///
    /// # Errors
    /// If the socket option cannot be set.
    pub fn from_tcp(stream: TcpStream, config: ChannelConfig) -> Result<Channel> {
        stream
            .set_nodelay(true)
            .map_err(Error::io("setting TCP_NODELAY"))?;
        let (r, w) = stream.into_split();
        Ok(Channel::from_halves(Box::new(r), Box::new(w), config))
    }

    /// Connects to `addr`, retrying refused connections until the timeout (the peer may
    /// not be listening yet).
    ///
    /// # Errors
    /// [`Error::Timeout`] if no connection succeeds in time.
    pub async fn connect(
        addr: impl ToSocketAddrs + Clone,
        config: ChannelConfig,
    ) -> Result<Channel> {
        Channel::from_tcp(connect_tcp(addr, config.timeout).await?, config)
    }

    /// Accepts one connection on `listener`.
    ///
    /// # Errors
    /// [`Error::Timeout`] if nobody connects in time, or an I/O error.
    pub async fn accept(listener: &TcpListener, config: ChannelConfig) -> Result<Channel> {
        Channel::from_tcp(accept_tcp(listener, config.timeout).await?, config)
    }

    /// The settings.
    pub fn config(&self) -> &ChannelConfig {
        &self.config
    }

    /// The compute threads of the party that owns this end ([`ChannelConfig::threads`]).
    pub fn threads(&self) -> &Arc<Threads> {
        &self.threads
    }

    /// Changes the largest accepted frame (e.g. [`PRE_SESSION_MAX_FRAME`] until the
    /// session handshake has succeeded).
    pub fn set_max_frame(&mut self, max_frame: usize) {
        self.config.max_frame = max_frame;
    }

    /// Resolves when the peer closes the connection (or it fails), without consuming
    /// anything: bytes that arrive meanwhile stay buffered for the next receive, and
    /// the future then never resolves (the peer is alive). For a party that waits on
    /// another link (the dealer) and must stop as soon as its peer is gone.
    pub async fn closed(&mut self) -> Error {
        if let Err(e) = self.check() {
            return e;
        }
        match self.reader.fill_buf().await {
            Ok([]) => Error::ConnectionClosed {
                during: "between frames".into(),
            },
            Ok(_) => std::future::pending().await,
            Err(e) => Error::io("reading")(e),
        }
    }

    /// A channel over any connected byte stream (e.g. a TLS stream), split in halves.
    pub fn from_stream<S>(stream: S, config: ChannelConfig) -> Channel
    where
        S: AsyncRead + AsyncWrite + Send + 'static,
    {
        let (r, w) = tokio::io::split(stream);
        Channel::from_halves(Box::new(r), Box::new(w), config)
    }

    /// Changes the receive/send timeout.
    pub fn set_timeout(&mut self, timeout: Duration) {
        self.config.timeout = timeout;
    }

    /// The phase that traffic is charged to.
    pub fn phase(&self) -> Phase {
        self.phase
    }

    /// Charges subsequent traffic to `phase`.
    pub fn set_phase(&mut self, phase: Phase) {
        self.phase = phase;
    }

    /// The counters so far.
    pub fn metering(&self) -> &Metering {
        &self.metering
    }

    /// Time this end spent in `phase` reading from the peer: waiting for a frame to
    /// start (the peer still computing, or the network's latency) and for its bytes to
    /// arrive (bandwidth). The rest of a phase's time is this party's own work.
    pub fn waited(&self, phase: Phase) -> Duration {
        let i = Phase::ALL.iter().position(|&p| p == phase).unwrap_or(0);
        self.waited[i]
    }

    fn check(&self) -> Result<()> {
        match &self.poisoned {
            Some(why) => Err(Error::TransportStopped(format!(
                "channel unusable after an earlier error: {why}"
            ))),
            None => Ok(()),
        }
    }

    async fn writer_error(&mut self) -> Error {
        match self.writer.take() {
            Some(h) => match tokio::time::timeout(self.config.timeout, h).await {
                Ok(Ok(Err(e))) => e,
                Ok(Ok(Ok(()))) => Error::TransportStopped("writer finished".into()),
                Ok(Err(join)) => Error::TransportStopped(format!("writer task failed: {join}")),
                Err(_) => Error::Timeout {
                    what: "waiting for the writer task",
                    after: self.config.timeout,
                },
            },
            None => Error::TransportStopped("channel already closed".into()),
        }
    }

    /// The head of a frame of `len` bytes at `depth` queued now (after the size checks),
    /// its bytes on the wire as metered, and when the writer is to hold its last byte
    /// until: its simulated delivery time on a shaped link without a shared clock; on
    /// one with a shared clock that time goes into the head as its delivery stamp and
    /// the frame is written at once; `None` on an unshaped link.
    fn frame_head(&mut self, len: usize, depth: u32) -> Result<(Head, u64, Option<Instant>)> {
        let header = self.header(len, depth)?;
        let wire = (HEADER_LEN + len) as u64;
        let mut head = Head {
            bytes: [0; HEADER_LEN + STAMP_LEN],
            len: HEADER_LEN,
        };
        head.bytes[..HEADER_LEN].copy_from_slice(&header);
        let due = self.deliver_at(wire);
        let (Some(at), Some(epoch)) = (due, self.epoch) else {
            return Ok((head, wire, due));
        };
        let nanos =
            u64::try_from(at.saturating_duration_since(epoch).as_nanos()).unwrap_or(u64::MAX);
        head.bytes[4..HEADER_LEN].copy_from_slice(&(depth | STAMPED).to_le_bytes());
        head.bytes[HEADER_LEN..].copy_from_slice(&nanos.to_le_bytes());
        head.len = HEADER_LEN + STAMP_LEN;
        Ok((head, wire, None))
    }

    /// The header of a frame of `len` bytes at `depth`, after the size checks.
    fn header(&self, len: usize, depth: u32) -> Result<[u8; HEADER_LEN]> {
        if len > self.config.max_frame {
            return Err(Error::FrameTooLarge {
                len: len as u64,
                max: self.config.max_frame as u64,
            });
        }
        let len32 = u32::try_from(len).map_err(|_| Error::FrameTooLarge {
            len: len as u64,
            max: u32::MAX.into(),
        })?;
        if depth & STAMPED != 0 {
            return Err(Error::Config {
                what: "message depth",
                reason: format!("{depth} rounds are more than a frame header can carry"),
            });
        }
        let mut header = [0u8; HEADER_LEN];
        header[..4].copy_from_slice(&len32.to_le_bytes());
        header[4..].copy_from_slice(&depth.to_le_bytes());
        Ok(header)
    }

    /// When a frame of `wire` bytes queued now arrives on the simulated link (`None`
    /// when unshaped); occupies the link for its transmission time.
    fn deliver_at(&mut self, wire: u64) -> Option<Instant> {
        if !self.config.profile.is_shaped() {
            return None;
        }
        let now = Instant::now();
        let start = self.link_free.map_or(now, |f| f.max(now));
        let done = start + self.config.profile.transmit_time(wire);
        self.link_free = Some(done);
        Some(done + self.config.profile.one_way_latency())
    }

    /// Hands `out` to the writer task, waiting at most the timeout for queue space.
    async fn enqueue(&mut self, out: Out) -> Result<()> {
        let tx = self
            .tx
            .as_ref()
            .ok_or_else(|| Error::TransportStopped("channel closed".into()))?;
        match tokio::time::timeout(self.config.timeout, tx.send(out)).await {
            Err(_) => Err(Error::Timeout {
                what: "queueing a frame (peer not reading)",
                after: self.config.timeout,
            }),
            Ok(Err(_)) => Err(self.writer_error().await),
            Ok(Ok(())) => Ok(()),
        }
    }

    /// Counts `frames` frames of `wire` bytes in all, sent at `depth`.
    fn account_send(&mut self, wire: u64, frames: u64, depth: u32) {
        let m = self.metering.phase_mut(self.phase);
        m.bytes_sent += wire;
        m.messages_sent += frames;
        m.rounds += self.clock.on_send(depth);
    }

    async fn send_payload(&mut self, payload: Payload) -> Result<()> {
        let depth = self.clock.next_send_depth();
        self.send_payload_at(payload, depth).await
    }

    async fn send_payload_at(&mut self, payload: Payload, depth: u32) -> Result<()> {
        self.check()?;
        let len = payload.as_ref().as_ref().len();
        let (head, wire, hold) = self.frame_head(len, depth)?;
        self.enqueue(Out::Frame(OutFrame {
            head,
            payload,
            hold,
        }))
        .await?;
        self.account_send(wire, 1, depth);
        Ok(())
    }

    /// Sends `payload` (whole elements of `elem_size` bytes) as one frame if it fits,
    /// else as frames of [`stream_chunk_bytes`] at one depth, queued as one item.
    async fn send_stream_payload(&mut self, payload: Payload, elem_size: usize) -> Result<()> {
        self.check()?;
        let len = payload.as_ref().as_ref().len();
        let chunk = stream_chunk_bytes(elem_size, self.config.max_frame);
        if len <= chunk {
            return self.send_payload(payload).await;
        }
        if chunk == 0 {
            return Err(Error::FrameTooLarge {
                len: elem_size as u64,
                max: self.config.max_frame as u64,
            });
        }
        let depth = self.clock.next_send_depth();
        let mut frames = Vec::with_capacity(len.div_ceil(chunk));
        let mut wire = 0u64;
        for start in (0..len).step_by(chunk) {
            let end = (start + chunk).min(len);
            let (head, w, hold) = self.frame_head(end - start, depth)?;
            wire += w;
            frames.push(StreamFrame {
                head,
                range: start..end,
                hold,
            });
        }
        let count = frames.len() as u64;
        self.enqueue(Out::Stream { payload, frames }).await?;
        self.account_send(wire, count, depth);
        Ok(())
    }

    /// Reads exactly `buf.len()` bytes, all of them before `deadline` (a deadline per
    /// frame part, not per read: a peer trickling a byte at a time cannot stretch it).
    async fn read_full(
        &mut self,
        buf: &mut [u8],
        what: &'static str,
        frame_start: bool,
        deadline: Instant,
    ) -> Result<()> {
        let start = Instant::now();
        let r = self
            .read_full_untimed(buf, what, frame_start, deadline)
            .await;
        let i = Phase::ALL
            .iter()
            .position(|&p| p == self.phase)
            .unwrap_or(0);
        self.waited[i] += start.elapsed();
        r
    }

    /// [`Channel::read_full`] without accounting the time.
    async fn read_full_untimed(
        &mut self,
        buf: &mut [u8],
        what: &'static str,
        frame_start: bool,
        deadline: Instant,
    ) -> Result<()> {
        let mut off = 0;
        while off < buf.len() {
            let n = tokio::time::timeout_at(deadline, self.reader.read(&mut buf[off..]))
                .await
                .map_err(|_| Error::Timeout {
                    what: if frame_start && off == 0 {
                        "waiting for the peer"
                    } else {
                        "waiting for the rest of a frame from the peer"
                    },
                    after: self.config.timeout,
                })?
                .map_err(Error::io("reading"))?;
            if n == 0 {
                let during = if frame_start && off == 0 {
                    "between frames".to_string()
                } else {
                    format!("{what} after {off} of {} bytes", buf.len())
                };
                return Err(Error::ConnectionClosed { during });
            }
            off += n;
        }
        Ok(())
    }

    /// The deadline of a frame body of `len` bytes whose header has just arrived: the
    /// timeout plus the body's transfer time at [`MIN_BODY_RATE`].
    fn body_deadline(&self, len: usize) -> Instant {
        Instant::now()
            + self.config.timeout
            + Duration::from_secs_f64(len as f64 / MIN_BODY_RATE as f64)
    }

    /// Reads a header and returns the payload length, the causal depth and the frame's
    /// delivery time if it carries a stamp, after the checks. The whole header must
    /// arrive within the timeout.
    async fn read_header(&mut self) -> Result<(usize, u32, Option<Instant>)> {
        let mut h = [0u8; HEADER_LEN];
        let deadline = Instant::now() + self.config.timeout;
        self.read_full(&mut h, "in a frame header", true, deadline)
            .await?;
        let len = u32::from_le_bytes([h[0], h[1], h[2], h[3]]) as usize;
        let word = u32::from_le_bytes([h[4], h[5], h[6], h[7]]);
        let depth = word & !STAMPED;
        if len > self.config.max_frame {
            return Err(Error::FrameTooLarge {
                len: len as u64,
                max: self.config.max_frame as u64,
            });
        }
        if depth == 0 || depth > self.clock.max_peer_depth() {
            return Err(Error::Malformed {
                expected: "frame header",
                reason: format!(
                    "causal depth {depth} is impossible (we sent up to depth {})",
                    self.clock.max_peer_depth() - 1
                ),
            });
        }
        if word & STAMPED == 0 {
            return Ok((len, depth, None));
        }
        let mut stamp = [0u8; STAMP_LEN];
        self.read_full(&mut stamp, "in a frame header", false, deadline)
            .await?;
        let Some(epoch) = self.epoch else {
            return Err(Error::Malformed {
                expected: "frame header",
                reason: "a delivery stamp on a link whose ends do not share a clock".into(),
            });
        };
        let after = Duration::from_nanos(u64::from_le_bytes(stamp));
        let latest = Instant::now() + self.config.timeout;
        let Some(at) = epoch.checked_add(after).filter(|&at| at <= latest) else {
            return Err(Error::Malformed {
                expected: "frame header",
                reason: format!(
                    "delivery stamp {after:?} after the epoch, beyond the timeout of {:?}",
                    self.config.timeout
                ),
            });
        };
        Ok((len, depth, Some(at)))
    }

    /// Waits until a frame read ahead of its simulated delivery time `due` is due (a
    /// stamped frame, see [`Channel::share_clock`]); counted as time spent reading.
    async fn arrive(&mut self, due: Option<Instant>) {
        let Some(at) = due else { return };
        let start = Instant::now();
        if start < at {
            precise::wait_until(at).await;
            let i = Phase::ALL
                .iter()
                .position(|&p| p == self.phase)
                .unwrap_or(0);
            self.waited[i] += start.elapsed();
        }
    }

    fn account_recv(&mut self, len: usize, depth: u32) {
        let m = self.metering.phase_mut(self.phase);
        m.bytes_received += (HEADER_LEN + len) as u64;
        m.messages_received += 1;
        m.rounds += self.clock.on_recv(depth);
    }

    fn poison<T>(&mut self, r: Result<T>) -> Result<T> {
        if let Err(e) = &r {
            self.poisoned = Some(e.to_string());
        }
        r
    }

    /// Receives one frame into a vector of `T`, checking the element count.
    async fn recv_pod_inner<T: Pod>(
        &mut self,
        expected: Option<usize>,
        what: &'static str,
    ) -> Result<Vec<T>> {
        let mut out = Vec::new();
        self.recv_pod_into_inner(&mut out, expected, what).await?;
        Ok(out)
    }

    /// Receives one frame into `out` (replacing its contents, reusing its allocation),
    /// checking the element count before anything is allocated.
    async fn recv_pod_into_inner<T: Pod>(
        &mut self,
        out: &mut Vec<T>,
        expected: Option<usize>,
        what: &'static str,
    ) -> Result<()> {
        self.check()?;
        let (len, depth, due) = self.read_header().await?;
        let size = std::mem::size_of::<T>();
        let n = len / size;
        if len % size != 0 || expected.is_some_and(|e| e != n) {
            return Err(Error::Malformed {
                expected: what,
                reason: match expected {
                    Some(e) => {
                        format!("frame of {len} bytes, expected {e} elements of {size} bytes")
                    }
                    None => format!(
                        "frame of {len} bytes is not a whole number of {size}-byte elements"
                    ),
                },
            });
        }
        // A fresh allocation is zeroed the cheapest way the allocator knows (`vec!` of
        // zero integers takes zeroed pages, no memset); in a reused one only elements
        // beyond the current length are zeroed, the rest is overwritten.
        if out.capacity() < n {
            *out = vec![T::zeroed(); n];
        } else if out.len() >= n {
            out.truncate(n);
        } else {
            out.resize(n, T::zeroed());
        }
        let deadline = self.body_deadline(len);
        self.read_full(
            bytemuck::cast_slice_mut(out),
            "in a frame body",
            false,
            deadline,
        )
        .await?;
        self.arrive(due).await;
        self.account_recv(len, depth);
        Ok(())
    }

    /// Receives a streamed message of exactly `n` elements (see the module docs): a
    /// message that fits a frame is [`Channel::recv_pod_vec`] with `Some(n)`; a larger
    /// one is allocated once, after its first header is checked, and each frame is
    /// read into its place after its header is checked against the next chunk.
    async fn recv_pod_stream_inner<T: Pod>(
        &mut self,
        n: usize,
        what: &'static str,
    ) -> Result<Vec<T>> {
        self.check()?;
        let size = std::mem::size_of::<T>();
        let chunk = stream_chunk_bytes(size, self.config.max_frame);
        let total = n.checked_mul(size).ok_or_else(|| Error::Malformed {
            expected: what,
            reason: format!("a message of {n} elements of {size} bytes overflows"),
        })?;
        if total <= chunk {
            return self.recv_pod_inner(Some(n), what).await;
        }
        if chunk == 0 {
            return Err(Error::FrameTooLarge {
                len: size as u64,
                max: self.config.max_frame as u64,
            });
        }
        let frames = total.div_ceil(chunk);
        let mut out: Vec<T> = Vec::new();
        let mut first_depth = 0;
        for i in 0..frames {
            let off = i * chunk;
            let want = chunk.min(total - off);
            let (len, depth, due) = self.read_header().await?;
            if len != want {
                return Err(Error::Malformed {
                    expected: what,
                    reason: format!(
                        "frame {} of a {total}-byte message in {frames} frames of {chunk} bytes has {len} bytes, expected {want}",
                        i + 1
                    ),
                });
            }
            if i == 0 {
                first_depth = depth;
                // Allocated once, only now that the peer's first frame fits: zeroed
                // pages from the allocator, touched as the frames arrive.
                out = vec![T::zeroed(); n];
            } else if depth != first_depth {
                return Err(Error::Malformed {
                    expected: what,
                    reason: format!(
                        "frame {} of a {frames}-frame message has causal depth {depth}, its first frame {first_depth}",
                        i + 1
                    ),
                });
            }
            let deadline = self.body_deadline(len);
            let bytes: &mut [u8] = bytemuck::cast_slice_mut(&mut out);
            self.read_full(
                &mut bytes[off..off + len],
                "in a frame body",
                false,
                deadline,
            )
            .await?;
            self.arrive(due).await;
            self.account_recv(len, depth);
        }
        Ok(out)
    }

    /// Sends an owned vector of plain-old-data values without copying it.
    ///
    /// # Errors
    /// If the frame is too large, the queue stays full past the timeout, or the
    /// connection failed.
    pub async fn send_pod_vec<T: Pod + Send + Sync>(&mut self, v: Vec<T>) -> Result<()> {
        self.send_payload(Box::new(PodVec(v))).await
    }

    /// Receives a vector of plain-old-data values; `expected` checks the count.
    ///
    /// # Errors
    /// See the module docs; a count other than `expected` is [`Error::Malformed`].
    pub async fn recv_pod_vec<T: Pod>(&mut self, expected: Option<usize>) -> Result<Vec<T>> {
        let r = self
            .recv_pod_inner(expected, std::any::type_name::<T>())
            .await;
        self.poison(r)
    }

    /// Receives a vector of plain-old-data values into `buf`, replacing its contents and
    /// reusing its allocation (a receiving loop that hands buffers back avoids an
    /// allocation and its page faults per frame); `expected` checks the count.
    ///
    /// # Errors
    /// As [`Channel::recv_pod_vec`]; after an error the contents of `buf` are
    /// unspecified.
    pub async fn recv_pod_into<T: Pod>(
        &mut self,
        buf: &mut Vec<T>,
        expected: Option<usize>,
    ) -> Result<()> {
        let r = self
            .recv_pod_into_inner(buf, expected, std::any::type_name::<T>())
            .await;
        self.poison(r)
    }

    /// Sends the bytes of `payload` as one frame without copying them. The writer task
    /// drops `payload` once it is written, so a payload whose `Drop` returns its buffer
    /// to a pool lets a sender reuse its frame buffers.
    ///
    /// # Errors
    /// As [`Channel::send_pod_vec`].
    pub async fn send_buffer<B>(&mut self, payload: B) -> Result<()>
    where
        B: AsRef<[u8]> + Send + Sync + 'static,
    {
        self.send_payload(Box::new(payload)).await
    }

    /// The causal depth of the next message this party sends (one more than the
    /// deepest it has received): what [`Channel::send_buffer_at`] takes for every
    /// frame of one message.
    pub fn message_depth(&self) -> u32 {
        self.clock.next_send_depth()
    }

    /// [`Channel::send_buffer`] as a frame of a message begun at `depth` (the
    /// [`Channel::message_depth`] before its first frame). A party that reads the
    /// peer's frames between the frames of its own message, none of which depend on
    /// what it read (two OT extensions towards each other, worked on in turn), sends
    /// them all at the message's depth: the rounds counted are the message's, as if
    /// it had been sent whole before anything was read.
    ///
    /// # Errors
    /// As [`Channel::send_buffer`]; [`Error::Config`] if `depth` is 0 or deeper than
    /// [`Channel::message_depth`] (a caller's bug: no message can be deeper than what
    /// has been received allows).
    pub async fn send_buffer_at<B>(&mut self, depth: u32, payload: B) -> Result<()>
    where
        B: AsRef<[u8]> + Send + Sync + 'static,
    {
        if depth == 0 || depth > self.clock.next_send_depth() {
            return Err(Error::Config {
                what: "message depth",
                reason: format!(
                    "a frame at depth {depth}, but the next message is at depth {}",
                    self.clock.next_send_depth()
                ),
            });
        }
        self.send_payload_at(Box::new(payload), depth).await
    }

    /// Sends raw bytes.
    ///
    /// # Errors
    /// As [`Channel::send_pod_vec`].
    pub async fn send_bytes(&mut self, bytes: Vec<u8>) -> Result<()> {
        self.send_pod_vec(bytes).await
    }

    /// Receives raw bytes.
    ///
    /// # Errors
    /// As [`Channel::recv_pod_vec`].
    pub async fn recv_bytes(&mut self) -> Result<Vec<u8>> {
        self.recv_pod_vec(None).await
    }

    /// Sends ring elements (ℓ/8 bytes each, no overhead).
    ///
    /// # Errors
    /// As [`Channel::send_pod_vec`].
    pub async fn send_ring<R: Ring>(&mut self, xs: Vec<R>) -> Result<()> {
        self.send_pod_vec(xs).await
    }

    /// Receives exactly `n` ring elements.
    ///
    /// # Errors
    /// As [`Channel::recv_pod_vec`].
    pub async fn recv_ring<R: Ring>(&mut self, n: usize) -> Result<Vec<R>> {
        let r = self.recv_pod_inner(Some(n), R::NAME).await;
        self.poison(r)
    }

    /// Sends blocks (16 bytes each).
    ///
    /// # Errors
    /// As [`Channel::send_pod_vec`].
    pub async fn send_blocks(&mut self, xs: Vec<Block>) -> Result<()> {
        self.send_pod_vec(xs).await
    }

    /// Receives exactly `n` blocks.
    ///
    /// # Errors
    /// As [`Channel::recv_pod_vec`].
    pub async fn recv_blocks(&mut self, n: usize) -> Result<Vec<Block>> {
        let r = self.recv_pod_inner(Some(n), "blocks").await;
        self.poison(r)
    }

    /// Sends packed bit words.
    ///
    /// # Errors
    /// As [`Channel::send_pod_vec`].
    pub async fn send_words(&mut self, xs: Vec<u64>) -> Result<()> {
        self.send_pod_vec(xs).await
    }

    /// Receives exactly `n` packed bit words.
    ///
    /// # Errors
    /// As [`Channel::recv_pod_vec`].
    pub async fn recv_words(&mut self, n: usize) -> Result<Vec<u64>> {
        let r = self.recv_pod_inner(Some(n), "bit words").await;
        self.poison(r)
    }

    /// Sends a typed message (postcard).
    ///
    /// # Errors
    /// As [`Channel::send_pod_vec`], or if the message cannot be serialised.
    pub async fn send<T: Serialize + ?Sized>(&mut self, msg: &T) -> Result<()> {
        let bytes = postcard::to_stdvec(msg).map_err(|e| Error::Malformed {
            expected: std::any::type_name::<T>(),
            reason: format!("cannot serialise: {e}"),
        })?;
        self.send_bytes(bytes).await
    }

    /// Receives a typed message (postcard). Trailing bytes are an error.
    ///
    /// # Errors
    /// As [`Channel::recv_pod_vec`], or [`Error::Malformed`] if the payload does not
    /// decode as `T`.
    pub async fn recv<T: DeserializeOwned>(&mut self) -> Result<T> {
        let bytes = self.recv_bytes().await?;
        let r = match postcard::take_from_bytes::<T>(&bytes) {
            Ok((v, [])) => Ok(v),
            Ok((_, rest)) => Err(Error::Malformed {
                expected: std::any::type_name::<T>(),
                reason: format!("{} trailing bytes", rest.len()),
            }),
            Err(e) => Err(Error::Malformed {
                expected: std::any::type_name::<T>(),
                reason: e.to_string(),
            }),
        };
        self.poison(r)
    }

    /// A fence between two phases, called by both parties at the same point of the
    /// protocol: one empty exchange (one round, charged to the current phase), after
    /// which both ends restart their round clocks in the same state, the one a fresh
    /// link reaches after a symmetric exchange. Rounds counted afterwards are then
    /// those of the later phases alone, whatever one-way flights came before (an
    /// offline phase run on this link ends with messages that only one party sent).
    ///
    /// # Errors
    /// As [`Channel::exchange_pod`].
    pub async fn fence(&mut self) -> Result<()> {
        self.exchange_pod::<u8>(Vec::new()).await?;
        self.clock = RoundClock::fenced();
        Ok(())
    }

    /// Sends `mine` and receives the peer's vector of the same length: the opening step
    /// of every Beaver-style protocol (one round when both ends call it together).
    ///
    /// # Errors
    /// As [`Channel::send_pod_vec`] and [`Channel::recv_pod_vec`].
    pub async fn exchange_pod<T: Pod + Send + Sync>(&mut self, mine: Vec<T>) -> Result<Vec<T>> {
        let n = mine.len();
        self.send_pod_vec(mine).await?;
        self.recv_pod_vec(Some(n)).await
    }

    /// Sends an owned vector of plain-old-data values of any size without copying it:
    /// one frame if it fits [`ChannelConfig::max_frame`] (exactly what
    /// [`Channel::send_pod_vec`] sends), else frames of [`stream_chunk_bytes`], all at
    /// one causal depth (one round), queued at once so that the call never waits for
    /// the peer to read. The peer receives it with [`Channel::recv_pod_stream`];
    /// [`stream_wire_bytes`] is its exact size on the wire.
    ///
    /// # Errors
    /// If one element does not fit a frame, the queue stays full past the timeout, or
    /// the connection failed.
    pub async fn send_pod_stream<T: Pod + Send + Sync>(&mut self, v: Vec<T>) -> Result<()> {
        self.send_stream_payload(Box::new(PodVec(v)), std::mem::size_of::<T>())
            .await
    }

    /// Receives exactly `n` plain-old-data values sent with
    /// [`Channel::send_pod_stream`]. Nothing beyond the `n` elements the caller expects
    /// is ever allocated, whatever the peer announces.
    ///
    /// # Errors
    /// As [`Channel::recv_pod_vec`]; a frame whose length is not the next chunk of the
    /// `n` elements (too long, too short, over the frame limit) or whose causal depth
    /// differs from the message's first frame is [`Error::FrameTooLarge`] or
    /// [`Error::Malformed`], before its body is read. The channel is poisoned after an
    /// error.
    pub async fn recv_pod_stream<T: Pod>(&mut self, n: usize) -> Result<Vec<T>> {
        let r = self
            .recv_pod_stream_inner(n, std::any::type_name::<T>())
            .await;
        self.poison(r)
    }

    /// [`Channel::exchange_pod`] for a message of any size: sends `mine` with
    /// [`Channel::send_pod_stream`] and receives the peer's as many values with
    /// [`Channel::recv_pod_stream`]. One round when both ends call it together; the
    /// writer task sends while this end receives, so two large messages crossing over
    /// TCP do not deadlock.
    ///
    /// # Errors
    /// As [`Channel::send_pod_stream`] and [`Channel::recv_pod_stream`].
    pub async fn exchange_pod_stream<T: Pod + Send + Sync>(
        &mut self,
        mine: Vec<T>,
    ) -> Result<Vec<T>> {
        let n = mine.len();
        self.send_pod_stream(mine).await?;
        self.recv_pod_stream(n).await
    }

    /// Waits until every frame sent so far has been written to the underlying stream
    /// (on TCP: handed to the operating system, which delivers it even if this process
    /// exits), without closing anything. Shaped frames are written at their delivery
    /// time, so this waits for that too.
    ///
    /// # Errors
    /// If the writer failed or does not get there within the timeout.
    pub async fn flush(&mut self) -> Result<()> {
        self.check()?;
        let (done, flushed) = oneshot::channel();
        let tx = self
            .tx
            .as_ref()
            .ok_or_else(|| Error::TransportStopped("channel closed".into()))?;
        let timeout = self.config.timeout;
        let timed_out = Error::Timeout {
            what: "flushing (peer not reading)",
            after: timeout,
        };
        match tokio::time::timeout(timeout, tx.send(Out::Flush(done))).await {
            Err(_) => return Err(timed_out),
            Ok(Err(_)) => return Err(self.writer_error().await),
            Ok(Ok(())) => {}
        }
        match tokio::time::timeout(timeout, flushed).await {
            Err(_) => Err(timed_out),
            Ok(Err(_)) => Err(self.writer_error().await),
            Ok(Ok(())) => Ok(()),
        }
    }

    /// Flushes everything queued, closes the sending direction, and returns the
    /// counters.
    ///
    /// # Errors
    /// If the writer failed or does not finish within the timeout.
    pub async fn close(mut self) -> Result<Metering> {
        self.tx = None;
        if let Some(h) = self.writer.take() {
            match tokio::time::timeout(self.config.timeout, h).await {
                Ok(Ok(r)) => r?,
                Ok(Err(join)) => {
                    return Err(Error::TransportStopped(format!(
                        "writer task failed: {join}"
                    )));
                }
                Err(_) => {
                    return Err(Error::Timeout {
                        what: "flushing on close",
                        after: self.config.timeout,
                    });
                }
            }
        }
        Ok(self.metering)
    }
}
