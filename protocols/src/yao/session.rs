//! The async drivers of Yao: a [`Garbler`] (party 0) and an [`Evaluator`] (party 1)
//! that move labels, stream garbled tables, and decode outputs over a [`Channel`].
//!
//! Values can stay garbled between circuits (the Y sharing): the garbler keeps
//! [`ZeroLabels`] and Δ, the evaluator keeps [`ActiveLabels`], and a later
//! [`Garbler::eval`]/[`Evaluator::eval`] continues from them without re-inputting.
//!
//! Rounds: input the evaluator's values first (the evaluator's
//! [`Evaluator::input`] against the garbler's [`Garbler::input_from_evaluator`]), then
//! the garbler's. The evaluator's OT corrections are then the only first message;
//! the garbler's OT replies, its own labels, the tables and the output decoding bits
//! all follow in the second; so a circuit with output to the evaluator costs two
//! rounds, and output to the garbler one more. (Inputting the garbler's values first
//! costs a round more, because the evaluator's corrections then wait for them.)

use tessera_core::bits::words_for;
use tessera_core::channel::HEADER_LEN;
use tessera_core::{BitMatrix, BitVec, Block, Channel, Prg, Threads};
use tokio::sync::mpsc;

use super::core::{Delta, Scratch, TABLE_BLOCKS_PER_AND, eval_chunk, garble_chunk};
use super::parallel;
use crate::RevealTo;
use crate::circuit::{Circuit, Program};
use crate::preprocessing::RandomOts;
use crate::{Error, Result};

/// Table blocks gathered before a frame is sent, at most (1 MiB): large runs stream
/// in frames of this size.
const FLUSH_BLOCKS: usize = 1 << 16;
/// Table blocks gathered before a frame is sent, at least (32 KiB).
const MIN_FLUSH_BLOCKS: usize = 1 << 11;
/// Frames a small run's tables are cut into, so that the evaluator starts on the first
/// layers while the garbler is still on the last: at batch 1, AES-128's 12,800 table
/// blocks would otherwise go out as one frame after all garbling, and evaluation would
/// only start then.
const MIN_FRAMES: usize = 8;

/// The frame size (in table blocks) of a run of `total` table blocks: an eighth of
/// the tables, between 32 KiB and 1 MiB.
fn flush_blocks(total: usize) -> usize {
    (total / MIN_FRAMES).clamp(MIN_FLUSH_BLOCKS, FLUSH_BLOCKS)
}
/// Frames queued between the garbling thread and the sender, or the receiver and the
/// evaluation thread.
const PIPELINE_FRAMES: usize = 4;
/// AND gates (over all instances) up to which a circuit is garbled, and evaluated, on
/// the party's own task instead of a blocking thread: about 0.1 ms of garbling, less
/// than the hand-offs to and from a worker thread cost on a small VM (each a thread
/// wake-up of tens of µs; an argmax head at batch 1 took 0.23 ms to garble 1,095
/// gates). The tables and their frames are the same either way.
const INLINE_MAX_ANDS: usize = 1 << 12;
/// Frames of an inline run, at most: every frame but the last holds at least
/// [`MIN_FLUSH_BLOCKS`] blocks.
const INLINE_FRAMES: usize = INLINE_MAX_ANDS * TABLE_BLOCKS_PER_AND / MIN_FLUSH_BLOCKS + 1;
// The garbler of an inline run never waits for a frame buffer to come back.
const _: () = assert!(INLINE_FRAMES < GARBLER_FRAMES);

/// Whether `n` instances of `program` are garbled and evaluated inline (see
/// [`INLINE_MAX_ANDS`]); never a run the thread pool would split.
fn inline_run(program: &Program, n: usize) -> bool {
    program.and_gates().saturating_mul(n) <= INLINE_MAX_ANDS && !parallel::splits(program, n)
}

/// Sends a frame from a garbling thread: at once if the queue has room (the inline
/// path, which runs on the runtime and must not block, always has), else waiting.
/// `false` once the receiver is gone.
fn send_frame(tx: &mpsc::Sender<Vec<Block>>, frame: Vec<Block>) -> bool {
    match tx.try_send(frame) {
        Ok(()) => true,
        Err(mpsc::error::TrySendError::Full(frame)) => tx.blocking_send(frame).is_ok(),
        Err(mpsc::error::TrySendError::Closed(_)) => false,
    }
}

/// Receives a frame on an evaluation thread: a queued one at once (the inline path
/// queues them all and closes the queue first, so it never blocks), else waiting.
fn recv_frame(rx: &mut mpsc::Receiver<Vec<Block>>) -> Option<Vec<Block>> {
    match rx.try_recv() {
        Ok(frame) => Some(frame),
        Err(mpsc::error::TryRecvError::Empty) => rx.blocking_recv(),
        Err(mpsc::error::TryRecvError::Disconnected) => None,
    }
}
/// Frame buffers of tables a garbler has at most: garbled but not yet written to the
/// socket (in the pipeline, in the channel's queue, being written) plus the one being
/// filled. Garbling waits for a buffer to come back, so memory stays bounded however
/// far garbling runs ahead of the network, and the buffers are reused, not allocated
/// and page-faulted per frame.
pub(super) const GARBLER_FRAMES: usize = 8;
/// Memory for the labels of one chunk of instances: a quarter of a core's L2 cache on
/// the development machine (Zen 4, 1 MiB), so that the labels, the hash buffers of a
/// layer and the tables stay in cache. AES-128 (960 slots) runs in chunks of 16
/// instances: garbling 2.3x and evaluation 2x faster than with all 1,024 instances of
/// a batch in one chunk (15 MiB of labels), and faster than 8, 24 or 32.
const LABEL_BUDGET_BYTES: usize = 256 << 10;

/// Instances garbled together: as many as fit the label budget, rounded down to a
/// multiple of 8 (whole vector iterations in the per-instance loops) when that many
/// fit, at least one, at most `n`.
pub(super) fn chunk_instances(num_wires: usize, n: usize) -> usize {
    let k = LABEL_BUDGET_BYTES / (num_wires.max(1) * 16);
    let k = if k >= 8 { k / 8 * 8 } else { k };
    k.clamp(1, n.max(1))
}

/// The sizes, in blocks, of the table frames the garbler sends for `circuit` on `n`
/// instances: the garbler's own framing rule (a frame goes out at the end of an AND
/// layer once `flush_blocks` of the run's tables are pending, the rest at the end),
/// replayed on the compiled circuit.
/// The exact wire bytes of [`Garbler::eval`] are `Σ (8 + 16 · size)`.
pub fn table_frames(circuit: &Circuit, n: usize) -> Vec<usize> {
    let program = Program::new(circuit);
    let widths: Vec<usize> = program
        .layers()
        .iter()
        .map(|(_, ands)| ands.len())
        .collect();
    let k = chunk_instances(program.slots(), n);
    let flush = flush_blocks(program.and_gates() * n * TABLE_BLOCKS_PER_AND);
    let (mut frames, mut pending, mut start) = (Vec::new(), 0usize, 0usize);
    while start < n {
        let kk = k.min(n - start);
        for w in &widths {
            pending += w * kk * TABLE_BLOCKS_PER_AND;
            if pending >= flush {
                frames.push(pending);
                pending = 0;
            }
        }
        start += kk;
    }
    if pending > 0 {
        frames.push(pending);
    }
    frames
}

/// Exact bytes on the wire (frame headers included) of the tables of `circuit` on `n`
/// instances: `Σ (8 + 16 · size)` over [`table_frames`], computed without listing the
/// frames.
///
/// Every table block is sent exactly once, so the sum is `16 · n · 2 · ANDs` plus one
/// header per frame, and only the number of frames needs the framing rule. Replaying it
/// chunk by chunk costs `n / k` iterations (`k` instances per chunk: a few for a 64-bit
/// multiplier), tens of millions for one convolution of an ImageNet network in Y; but the only state
/// carried from one full chunk to the next is the count of pending blocks, below the
/// frame size (at most 2^16), so the sequence of states repeats after at most 2^16 + 1
/// chunks, and whole periods are skipped arithmetically.
pub fn table_bytes(circuit: &Circuit, n: usize) -> u64 {
    table_bytes_compiled(&Program::new(circuit), n)
}

/// [`table_bytes`] of a circuit already compiled (`Program::new(circuit)`): compiling a
/// large circuit costs more than the rest of the count.
pub fn table_bytes_compiled(program: &Program, n: usize) -> u64 {
    let widths: Vec<usize> = program
        .layers()
        .iter()
        .map(|(_, ands)| ands.len())
        .collect();
    let ands: u64 = widths.iter().map(|&w| w as u64).sum();
    let blocks = n as u64 * ands * TABLE_BLOCKS_PER_AND as u64;
    let flush = flush_blocks(program.and_gates() * n * TABLE_BLOCKS_PER_AND);
    let frames = frame_count(&widths, chunk_instances(program.slots(), n), n, flush);
    16 * blocks + HEADER_LEN as u64 * frames
}

/// The framing rule on one chunk of `kk` instances of AND layers of `widths`, starting
/// with `pending` blocks not yet sent: (blocks pending after it, frames it closes).
pub(super) fn chunk_frames(
    widths: &[usize],
    kk: usize,
    mut pending: usize,
    flush: usize,
) -> (usize, usize) {
    let mut frames = 0;
    for w in widths {
        pending += w * kk * TABLE_BLOCKS_PER_AND;
        if pending >= flush {
            frames += 1;
            pending = 0;
        }
    }
    (pending, frames)
}

/// The number of frames [`table_frames`] lists for AND layers of `widths` on `n`
/// instances in chunks of `k`, frames going out once `flush` blocks are pending.
fn frame_count(widths: &[usize], k: usize, n: usize, flush: usize) -> u64 {
    let chunk = |pending: usize, kk: usize| chunk_frames(widths, kk, pending, flush);
    let k = k.max(1);
    let (full, rest) = (n / k, n % k);
    let (mut pending, mut frames, mut done) = (0usize, 0u64, 0usize);
    // The chunk index and frame count at which each state was first seen.
    let mut seen: std::collections::HashMap<usize, (usize, u64)> = std::collections::HashMap::new();
    while done < full {
        if let Some(&(at, f0)) = seen.get(&pending) {
            let (period, per) = (done - at, frames - f0);
            let skip = (full - done) / period;
            frames += skip as u64 * per;
            done += skip * period;
            seen.clear();
            if done == full {
                break;
            }
        }
        seen.insert(pending, (done, frames));
        let (p, f) = chunk(pending, k);
        pending = p;
        frames += f as u64;
        done += 1;
    }
    if rest > 0 {
        let (p, f) = chunk(pending, rest);
        pending = p;
        frames += f as u64;
    }
    frames + u64::from(pending > 0)
}

/// Exact bytes the garbler sends to input `bits` bits of its own.
pub fn garbler_input_bytes(bits: usize) -> u64 {
    (HEADER_LEN + 16 * bits) as u64
}

/// Exact bytes of inputting `bits` bits of the evaluator: `[evaluator, garbler]` sent.
pub fn evaluator_input_bytes(bits: usize) -> [u64; 2] {
    [
        (HEADER_LEN + 8 * words_for(bits)) as u64,
        (HEADER_LEN + 32 * bits) as u64,
    ]
}

/// Exact bytes of revealing `bits` bits to one party (sent by the other).
pub fn reveal_bytes(bits: usize) -> u64 {
    (HEADER_LEN + 8 * words_for(bits)) as u64
}

macro_rules! label_type {
    ($name:ident, $what:literal) => {
        #[doc = concat!("A garbled value held by the ", $what, ": labels of `width` bits for `n` instances,")]
        /// bit-major (`labels[bit · n + instance]`). `Debug` prints the shape only.
        #[derive(Clone, PartialEq, Eq)]
        pub struct $name {
            width: usize,
            n: usize,
            labels: Vec<Block>,
        }

        impl std::fmt::Debug for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                write!(f, "{}({} bits x {} instances)", stringify!($name), self.width, self.n)
            }
        }

        impl $name {
            /// Bits per instance.
            pub fn width(&self) -> usize {
                self.width
            }
            /// Number of instances.
            pub fn instances(&self) -> usize {
                self.n
            }
            /// The labels, bit-major.
            pub fn labels(&self) -> &[Block] {
                &self.labels
            }

            /// Splits the bits into consecutive values of the given widths (e.g. the
            /// inputs that were transferred in one OT batch).
            ///
            /// # Errors
            /// If the widths do not add up to this value's width.
            pub fn split_bits(&self, widths: &[usize]) -> Result<Vec<Self>> {
                if widths.iter().sum::<usize>() != self.width {
                    return Err(Error::Shape {
                        op: "split garbled value",
                        detail: format!("widths {widths:?} do not add up to {}", self.width),
                    });
                }
                let mut start = 0;
                Ok(widths
                    .iter()
                    .map(|&w| {
                        let labels = self.labels[start * self.n..(start + w) * self.n].to_vec();
                        start += w;
                        $name { width: w, n: self.n, labels }
                    })
                    .collect())
            }

            /// `self ⊕ other` under free-XOR (no communication).
            ///
            /// # Errors
            /// If the shapes differ.
            pub fn xor(&self, other: &Self) -> Result<Self> {
                if (self.width, self.n) != (other.width, other.n) {
                    return Err(Error::Shape {
                        op: "xor garbled values",
                        detail: format!("{}x{} vs {}x{}", self.width, self.n, other.width, other.n),
                    });
                }
                let labels = self.labels.iter().zip(&other.labels).map(|(a, b)| *a ^ *b).collect();
                Ok($name { width: self.width, n: self.n, labels })
            }

            /// The least significant bit of every label as a `width × n` matrix: the
            /// garbler's permute bits, or the evaluator's masked values. Their XOR is the
            /// value, so this is the local Y2B conversion (ABY).
            pub fn lsb_matrix(&self) -> BitMatrix {
                let mut m = BitMatrix::zeros(self.width, self.n);
                for r in 0..self.width {
                    let row = lsbs(&self.labels[r * self.n..(r + 1) * self.n]);
                    m.row_mut(r).copy_from_slice(row.words());
                }
                m
            }

            /// Regroups values of `ell` bits (`width` must be `ell`): new instance `j`
            /// holds `slots` values, slot `s` being old instance `idx[j·slots + s]`, or
            /// the public constant 0 for `None` (zero padding; no communication either
            /// way, see [`PUBLIC_LABEL`](super::PUBLIC_LABEL)). Copies labels only.
            ///
            /// # Errors
            /// If the width is not `ell`, `idx` is not a whole number of `slots`, or an
            /// index is out of range.
            pub fn regroup(&self, ell: usize, slots: usize, idx: &[Option<usize>]) -> Result<Self> {
                if self.width != ell || slots == 0 || !idx.len().is_multiple_of(slots) {
                    return Err(Error::Shape {
                        op: "regroup garbled value",
                        detail: format!(
                            "{} bits x {} instances into {} slots of {ell} bits ({} indices)",
                            self.width, self.n, slots, idx.len()
                        ),
                    });
                }
                if let Some(bad) = idx.iter().flatten().find(|&&i| i >= self.n) {
                    return Err(Error::Shape {
                        op: "regroup garbled value",
                        detail: format!("instance {bad} of {}", self.n),
                    });
                }
                let m = idx.len() / slots;
                let mut labels = vec![super::PUBLIC_LABEL; slots * ell * m];
                for s in 0..slots {
                    for bit in 0..ell {
                        let src = &self.labels[bit * self.n..(bit + 1) * self.n];
                        let dst = &mut labels[(s * ell + bit) * m..(s * ell + bit + 1) * m];
                        for (j, d) in dst.iter_mut().enumerate() {
                            if let Some(i) = idx[j * slots + s] {
                                *d = src[i];
                            }
                        }
                    }
                }
                Ok($name { width: slots * ell, n: m, labels })
            }

            /// The inverse of a regrouping into consecutive slots: `k·ell` bits per
            /// instance become `k` instances of `ell` bits, new instance `j·k + s` being
            /// old instance `j`'s bits `s·ell … (s+1)·ell`. Copies labels only.
            ///
            /// # Errors
            /// If the width is not a positive multiple of `ell`.
            pub fn ungroup(&self, ell: usize) -> Result<Self> {
                if ell == 0 || self.width == 0 || !self.width.is_multiple_of(ell) {
                    return Err(Error::Shape {
                        op: "ungroup garbled value",
                        detail: format!(
                            "{} bits per instance into values of {ell} bits",
                            self.width
                        ),
                    });
                }
                let (k, n) = (self.width / ell, self.n);
                let mut labels = vec![super::PUBLIC_LABEL; self.labels.len()];
                for s in 0..k {
                    for bit in 0..ell {
                        let src = &self.labels[(s * ell + bit) * n..(s * ell + bit + 1) * n];
                        let dst = &mut labels[bit * n * k..(bit + 1) * n * k];
                        for (j, &l) in src.iter().enumerate() {
                            dst[j * k + s] = l;
                        }
                    }
                }
                Ok($name { width: ell, n: n * k, labels })
            }

            /// A value whose bit `r` is this value's bit `bits[r]` (wiring only: shifts,
            /// sign extension, truncation of widths).
            ///
            /// # Errors
            /// If a bit index is out of range.
            pub fn select_bits(&self, bits: &[usize]) -> Result<Self> {
                if let Some(bad) = bits.iter().find(|&&b| b >= self.width) {
                    return Err(Error::Shape {
                        op: "select garbled bits",
                        detail: format!("bit {bad} of {}", self.width),
                    });
                }
                let mut labels = Vec::with_capacity(bits.len() * self.n);
                for &b in bits {
                    labels.extend_from_slice(&self.labels[b * self.n..(b + 1) * self.n]);
                }
                Ok($name { width: bits.len(), n: self.n, labels })
            }

            /// Stacks values of the same instance count into one (bits of the first
            /// value first).
            ///
            /// # Errors
            /// If the instance counts differ.
            pub fn concat(parts: &[&Self]) -> Result<Self> {
                let n = parts.first().map_or(0, |p| p.n);
                if let Some(p) = parts.iter().find(|p| p.n != n) {
                    return Err(Error::Shape {
                        op: "concat garbled values",
                        detail: format!("{} instances next to {n}", p.n),
                    });
                }
                let labels = parts.iter().flat_map(|p| p.labels.iter().copied()).collect();
                Ok($name { width: parts.iter().map(|p| p.width).sum(), n, labels })
            }
        }
    };
}

label_type!(
    ZeroLabels,
    "garbler (zero labels; the one label is zero ⊕ Δ)"
);
label_type!(ActiveLabels, "evaluator (one active label per bit)");

fn lsbs(labels: &[Block]) -> BitVec {
    let mut v = BitVec::zeros(labels.len());
    for (i, l) in labels.iter().enumerate() {
        if l.lsb() {
            v.set(i, true);
        }
    }
    v
}

/// Checks the inputs of a program with `widths` against the given (width, instances)
/// shapes and returns the common instance count.
fn check_inputs(widths: &[usize], shapes: &[(usize, usize)]) -> Result<usize> {
    if shapes.len() != widths.len() {
        return Err(Error::Shape {
            op: "yao eval",
            detail: format!(
                "circuit has {} inputs, {} given",
                widths.len(),
                shapes.len()
            ),
        });
    }
    let n = shapes.first().map_or(1, |s| s.1);
    for (i, (&(w, m), &cw)) in shapes.iter().zip(widths).enumerate() {
        if w != cw || m != n {
            return Err(Error::Shape {
                op: "yao eval",
                detail: format!("input {i} is {w} bits x {m} instances, expected {cw} bits x {n}"),
            });
        }
    }
    Ok(n)
}

/// Copies the labels of `inputs` for instances `start..start + k` into the input slots
/// of a chunk buffer (input value `v` occupies the slots after those of values `0..v`).
pub(super) fn load_chunk(
    program: &Program,
    inputs: &[&[Block]],
    n: usize,
    start: usize,
    k: usize,
    labels: &mut [Block],
) {
    let mut slot = 0;
    for (inp, &width) in inputs.iter().zip(program.input_widths()) {
        for bit in 0..width {
            labels[slot * k..slot * k + k]
                .copy_from_slice(&inp[bit * n + start..bit * n + start + k]);
            slot += 1;
        }
    }
}

/// Copies the output slots of a chunk into the output label vectors.
pub(super) fn store_chunk(
    program: &Program,
    outputs: &mut [Vec<Block>],
    n: usize,
    start: usize,
    k: usize,
    labels: &[Block],
) {
    for (out, wires) in outputs.iter_mut().zip(program.outputs()) {
        for (bit, w) in wires.iter().enumerate() {
            let src = w.index() * k;
            out[bit * n + start..bit * n + start + k].copy_from_slice(&labels[src..src + k]);
        }
    }
}

/// Runs `step` on every chunk of instances of `program`: loads the inputs' labels
/// (bit-major, `n` instances) into the chunk buffer, lets `step` garble or evaluate the
/// chunk, and stores the output slots. `step` returns whether to go on. Returns each
/// output value's labels (bit-major) with its width.
fn for_each_chunk<E>(
    program: &Program,
    inputs: &[Vec<Block>],
    n: usize,
    mut step: impl FnMut(&Program, &mut [Block], usize) -> Result<bool, E>,
) -> Result<Vec<(Vec<Block>, usize)>, E> {
    let nw = program.slots();
    let k = chunk_instances(nw, n);
    let mut labels = vec![Block::ZERO; nw * k];
    let mut outputs: Vec<Vec<Block>> = program
        .outputs()
        .iter()
        .map(|o| vec![Block::ZERO; o.len() * n])
        .collect();
    let inputs: Vec<&[Block]> = inputs.iter().map(Vec::as_slice).collect();
    let mut start = 0;
    while start < n {
        let kk = k.min(n - start);
        let chunk = &mut labels[..nw * kk];
        load_chunk(program, &inputs, n, start, kk, chunk);
        let go_on = step(program, chunk, kk)?;
        store_chunk(program, &mut outputs, n, start, kk, chunk);
        start += kk;
        if !go_on {
            break;
        }
    }
    Ok(outputs
        .into_iter()
        .zip(program.outputs().iter().map(Vec::len))
        .collect())
}

/// Output decoding, the same for both roles: a party's bits are the lsbs of its labels
/// (the garbler's permute bits, the evaluator's masked values); a party that learns the
/// value receives the other's bits and XORs them with its own.
async fn decode(
    ch: &mut Channel,
    labels: &[Block],
    (width, n): (usize, usize),
    me: usize,
    to: RevealTo,
) -> Result<Option<BitMatrix>> {
    let mine = lsbs(labels);
    if to.learns(1 - me) {
        ch.send_words(mine.words().to_vec()).await?;
    }
    if !to.learns(me) {
        return Ok(None);
    }
    let count = labels.len();
    let mut v = BitVec::from_words(count, ch.recv_words(words_for(count)).await?)?;
    v.xor_assign(&mine);
    Ok(Some(BitMatrix::from_flat(&v, width, n)?))
}

/// Waits for a written frame buffer to come back to the garbling thread. `None` if the
/// sending side has stopped (its error is reported there) or, setting `stalled`, if no
/// buffer came back within `timeout` (the peer is not reading).
pub(super) fn free_frame(
    pool: &std::sync::mpsc::Receiver<Vec<Block>>,
    tx: &mpsc::Sender<Vec<Block>>,
    timeout: std::time::Duration,
    stalled: &mut bool,
) -> Option<Vec<Block>> {
    let deadline = std::time::Instant::now() + timeout;
    loop {
        let now = std::time::Instant::now();
        if now >= deadline {
            *stalled = true;
            return None;
        }
        let wait = (deadline - now).min(std::time::Duration::from_millis(20));
        match pool.recv_timeout(wait) {
            Ok(b) => return Some(b),
            Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => return None,
            Err(std::sync::mpsc::RecvTimeoutError::Timeout) if tx.is_closed() => return None,
            Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {}
        }
    }
}

/// A frame of tables on its way to the peer: its buffer returns to the garbling thread's
/// pool when the channel's writer drops it after writing (or when the garbler has
/// finished and the pool is gone, is freed).
struct PooledFrame {
    blocks: Vec<Block>,
    pool: std::sync::mpsc::Sender<Vec<Block>>,
}

impl AsRef<[u8]> for PooledFrame {
    fn as_ref(&self) -> &[u8] {
        bytemuck::cast_slice(&self.blocks)
    }
}

impl Drop for PooledFrame {
    fn drop(&mut self) {
        let _ = self.pool.send(std::mem::take(&mut self.blocks));
    }
}

fn task_error(e: tokio::task::JoinError) -> Error {
    Error::Protocol {
        step: "yao worker thread",
        detail: e.to_string(),
    }
}

/// The garbler's end of a stream of table frames: full frames go out on `tx` in order;
/// their buffers come back on `returned` once written (the garbler reuses them, and
/// has at most `GARBLER_FRAMES` out: it waits up to `timeout` for one to come back,
/// then gives up, the peer not reading).
pub struct TableSink {
    pub(super) tx: mpsc::Sender<Vec<Block>>,
    pub(super) returned: std::sync::mpsc::Receiver<Vec<Block>>,
    pub(super) timeout: std::time::Duration,
    pub(super) stalled: bool,
    pub(super) alive: bool,
    pub(super) free: Vec<Vec<Block>>,
    pub(super) out: usize,
}

impl std::fmt::Debug for TableSink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TableSink")
            .field("frames_out", &self.out)
            .field("stalled", &self.stalled)
            .finish_non_exhaustive()
    }
}

impl TableSink {
    /// Frames to `tx`, their buffers back from `returned`, waiting at most `timeout`
    /// for one.
    pub fn new(
        tx: mpsc::Sender<Vec<Block>>,
        returned: std::sync::mpsc::Receiver<Vec<Block>>,
        timeout: std::time::Duration,
    ) -> Self {
        TableSink {
            tx,
            returned,
            timeout,
            stalled: false,
            alive: true,
            free: Vec::new(),
            out: 0,
        }
    }
}

/// The garbler's compute, with no I/O: garbles `program` on `n` instances whose input
/// zero labels are `inputs` (one bit-major vector per input value, [`ZeroLabels`]'
/// layout), numbering AND gate instances from `counter`, and streams the tables into
/// `sink` in frames of the run's framing rule ([`table_frames`]). With a pool of
/// several `threads` and more than one chunk of instances, chunks are garbled at once;
/// the tables, frames and outputs are the same for every thread count. This is what
/// [`Garbler::eval_program`] runs on a blocking thread.
///
/// # Errors
/// A timeout if the frames stopped coming back (the peer is not reading); a worker
/// thread that panicked.
pub fn garble_stream(
    threads: &Threads,
    program: &Program,
    inputs: &[Vec<Block>],
    n: usize,
    delta: Delta,
    counter: u64,
    sink: &mut TableSink,
) -> Result<Vec<ZeroLabels>> {
    let flush = flush_blocks(program.and_gates() * n * TABLE_BLOCKS_PER_AND);
    let outputs = match parallel::splits(program, n)
        .then(|| threads.pool())
        .flatten()
    {
        Some(pool) => parallel::garble(pool, program, inputs, n, delta, counter, flush, sink),
        None => garble_one_thread(program, inputs, n, delta, counter, flush, sink),
    };
    if sink.stalled {
        return Err(tessera_core::Error::Timeout {
            what: "waiting for the peer to take garbled tables",
            after: sink.timeout,
        }
        .into());
    }
    Ok(outputs?
        .into_iter()
        .map(|(labels, width)| ZeroLabels { width, n, labels })
        .collect())
}

/// [`garble_stream`] on this thread, chunk after chunk, garbling straight into the
/// frames.
fn garble_one_thread(
    program: &Program,
    inputs: &[Vec<Block>],
    n: usize,
    delta: Delta,
    mut counter: u64,
    flush: usize,
    sink: &mut TableSink,
) -> Result<Vec<(Vec<Block>, usize)>> {
    let TableSink {
        tx,
        returned: pool,
        timeout,
        stalled,
        alive: receiver_alive,
        ..
    } = sink;
    let mut scratch = Scratch::default();
    let mut capacity = flush;
    let mut pending: Vec<Block> = Vec::new();
    let mut allocated = 1;
    let outputs = for_each_chunk::<Error>(program, inputs, n, |program, chunk, kk| {
        // A frame goes out at the end of the AND layer that reaches `flush` blocks, so
        // it may exceed that by up to one layer.
        let widest = program.layers().iter().map(|(_, a)| a.len()).max();
        capacity = capacity.max(flush + widest.unwrap_or(0) * kk * TABLE_BLOCKS_PER_AND);
        pending.reserve(capacity.saturating_sub(pending.len()));
        garble_chunk(
            program,
            chunk,
            kk,
            delta,
            &mut counter,
            &mut scratch,
            &mut pending,
            |pending| {
                if pending.len() < flush || !*receiver_alive {
                    return;
                }
                let next = if allocated < GARBLER_FRAMES {
                    pool.try_recv().ok()
                } else {
                    free_frame(pool, tx, *timeout, stalled)
                };
                let mut next = match next {
                    Some(b) => b,
                    None if allocated < GARBLER_FRAMES => {
                        allocated += 1;
                        Vec::new()
                    }
                    None => {
                        *receiver_alive = false;
                        return;
                    }
                };
                next.clear();
                next.reserve(capacity);
                let full = std::mem::replace(pending, next);
                *receiver_alive = send_frame(tx, full);
            },
        );
        Ok(*receiver_alive)
    });
    if !pending.is_empty() && *receiver_alive {
        let _ = send_frame(tx, pending);
    }
    outputs
}

/// The evaluator's compute, with no I/O: evaluates `program` on `n` instances whose
/// input active labels are `inputs` (one bit-major vector per input value), numbering
/// AND gate instances from `counter`, from the table frames arriving on `rx` in
/// garbling order; consumed frames' buffers go back on `recycle`. With a pool of several
/// `threads` and more than one chunk of instances, chunks are evaluated at once as
/// their tables arrive; the outputs are the same for every thread count. This is what
/// [`Evaluator::eval_program`] runs on a blocking thread.
///
/// # Errors
/// If the frames end before the tables do; a worker thread that panicked.
pub fn evaluate_stream(
    threads: &Threads,
    program: &Program,
    inputs: &[Vec<Block>],
    n: usize,
    mut counter: u64,
    rx: &mut mpsc::Receiver<Vec<Block>>,
    recycle: &std::sync::mpsc::Sender<Vec<Block>>,
) -> Result<Vec<ActiveLabels>> {
    let outputs = match parallel::splits(program, n)
        .then(|| threads.pool())
        .flatten()
    {
        Some(pool) => parallel::evaluate(pool, program, inputs, n, counter, rx, recycle)?,
        None => {
            let mut scratch = Scratch::default();
            let (mut buf, mut pos) = (Vec::<Block>::new(), 0usize);
            for_each_chunk::<Error>(program, inputs, n, |program, chunk, kk| {
                eval_chunk(program, chunk, kk, &mut counter, &mut scratch, |need, f| {
                    while buf.len() - pos < need {
                        let Some(frame) = recv_frame(rx) else {
                            return Err(Error::Protocol {
                                step: "yao eval",
                                detail: "garbled tables ended early".into(),
                            });
                        };
                        if pos == buf.len() {
                            // Frames end on layer boundaries: usually nothing is left
                            // over, and the frame becomes the buffer uncopied.
                            let _ = recycle.send(std::mem::replace(&mut buf, frame));
                        } else {
                            buf.drain(..pos);
                            buf.extend_from_slice(&frame);
                        }
                        pos = 0;
                    }
                    f(&buf[pos..pos + need]);
                    pos += need;
                    Ok(())
                })?;
                Ok(true)
            })?
        }
    };
    Ok(outputs
        .into_iter()
        .map(|(labels, width)| ActiveLabels { width, n, labels })
        .collect())
}

/// Receives `expected` blocks of garbled tables in the frames the garbler sent them in.
///
/// # Errors
/// An empty frame or more blocks than expected (the garbler's circuit is not this
/// one), or transport errors.
async fn recv_tables(ch: &mut Channel, expected: usize) -> Result<Vec<Vec<Block>>> {
    let (mut frames, mut received) = (Vec::new(), 0usize);
    while received < expected {
        let mut frame = Vec::new();
        ch.recv_pod_into(&mut frame, None).await?;
        if frame.is_empty() || received + frame.len() > expected {
            return Err(wrong_table_count(received + frame.len(), expected));
        }
        received += frame.len();
        frames.push(frame);
    }
    Ok(frames)
}

fn wrong_table_count(sent: usize, expected: usize) -> Error {
    Error::Protocol {
        step: "yao eval",
        detail: format!("garbler sent {sent} table blocks, the circuit has {expected}"),
    }
}

/// Party 0 of Yao: holds Δ and the zero labels; garbles.
///
/// Security: semi-honest; the evaluator sees only random-looking labels, tables and
/// decoding bits of the outputs revealed to it (ZRE15, with GKWY20's hash).
pub struct Garbler {
    delta: Delta,
    prg: Prg,
    counter: u64,
}

impl std::fmt::Debug for Garbler {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Garbler")
            .field("and_instances_garbled", &self.counter)
            .finish_non_exhaustive()
    }
}

impl Default for Garbler {
    fn default() -> Self {
        Self::new()
    }
}

impl Garbler {
    /// A garbler with a fresh Δ and label PRG seeded from the OS.
    pub fn new() -> Self {
        Self::from_prg(Prg::from_entropy())
    }

    /// A garbler whose Δ and labels are expanded from `seed`: the same run twice (with
    /// the same inputs) sends the same bytes, for tests and benchmarks that compare runs.
    /// The seed is as secret as Δ.
    pub fn from_seed(seed: Block) -> Self {
        Self::from_prg(Prg::from_seed_block(seed))
    }

    fn from_prg(mut prg: Prg) -> Self {
        let delta = Delta::new(prg.gen_seed());
        Garbler {
            delta,
            prg,
            counter: 0,
        }
    }

    /// Inputs the garbler's own bits (`width × n`): sends the active labels.
    ///
    /// # Errors
    /// Transport errors.
    pub async fn input(&mut self, ch: &mut Channel, bits: &BitMatrix) -> Result<ZeroLabels> {
        let (w, n) = (bits.rows(), bits.cols());
        let zero = Block::random_vec(&mut self.prg, w * n);
        let flat = bits.to_flat();
        let active: Vec<Block> = zero
            .iter()
            .enumerate()
            .map(|(j, z)| *z ^ self.delta.block().and_bit(flat.get(j)))
            .collect();
        ch.send_blocks(active).await?;
        Ok(ZeroLabels {
            width: w,
            n,
            labels: zero,
        })
    }

    /// Inputs `width × n` bits of the evaluator through random OTs from the dealer
    /// (garbler = OT sender), derandomised online (Beaver 1995): the evaluator sends
    /// `e = x ⊕ c`, the garbler replies `W⁰ ⊕ m_e, W¹ ⊕ m_{1⊕e}` per bit.
    ///
    /// # Errors
    /// If `rots` is not the sender side of exactly `width · n` OTs, or transport errors.
    pub async fn input_from_evaluator(
        &mut self,
        ch: &mut Channel,
        width: usize,
        n: usize,
        rots: RandomOts,
    ) -> Result<ZeroLabels> {
        let count = width * n;
        let RandomOts::Sender { m0, m1 } = rots else {
            return Err(Error::Protocol {
                step: "yao input",
                detail: "the garbler needs the OT sender side".into(),
            });
        };
        if m0.len() != count || m1.len() != count {
            return Err(Error::Shape {
                op: "yao input",
                detail: format!("{} OTs for {count} bits", m0.len()),
            });
        }
        let e = BitVec::from_words(count, ch.recv_words(words_for(count)).await?)?;
        let zero = Block::random_vec(&mut self.prg, count);
        let d = self.delta.block();
        let mut reply = Vec::with_capacity(2 * count);
        for j in 0..count {
            let (ma, mb) = if e.get(j) {
                (m1[j], m0[j])
            } else {
                (m0[j], m1[j])
            };
            reply.push(zero[j] ^ ma);
            reply.push(zero[j] ^ d ^ mb);
        }
        ch.send_blocks(reply).await?;
        Ok(ZeroLabels {
            width,
            n,
            labels: zero,
        })
    }

    /// Garbles `circuit` on garbled inputs and streams the tables to the evaluator:
    /// garbling runs on a worker thread in layer order, 1 MiB frames go out while it
    /// continues, and only one chunk of instances' labels is in memory at a time.
    ///
    /// # Errors
    /// If the inputs do not fit the circuit, or transport errors.
    pub async fn eval(
        &mut self,
        ch: &mut Channel,
        circuit: &Circuit,
        inputs: &[&ZeroLabels],
    ) -> Result<Vec<ZeroLabels>> {
        self.eval_program(ch, &Program::new(circuit), inputs).await
    }

    /// [`Garbler::eval`] of a circuit compiled once by the caller ([`Program::new`]):
    /// compiling AES-128 costs more than garbling one instance of it.
    ///
    /// # Errors
    /// As [`Garbler::eval`].
    pub async fn eval_program(
        &mut self,
        ch: &mut Channel,
        program: &Program,
        inputs: &[&ZeroLabels],
    ) -> Result<Vec<ZeroLabels>> {
        let shapes: Vec<_> = inputs.iter().map(|v| (v.width, v.n)).collect();
        let n = check_inputs(program.input_widths(), &shapes)?;
        let ands = program.and_gates();
        let input_labels: Vec<Vec<Block>> = inputs.iter().map(|v| v.labels.clone()).collect();
        let (delta, counter) = (self.delta, self.counter);
        let threads = std::sync::Arc::clone(ch.threads());
        if inline_run(program, n) {
            // Garbled here, then its few frames sent (see `INLINE_MAX_ANDS`).
            let (tx, mut rx) = mpsc::channel::<Vec<Block>>(INLINE_FRAMES);
            let (pool_tx, pool_rx) = std::sync::mpsc::channel::<Vec<Block>>();
            let mut sink = TableSink::new(tx, pool_rx, ch.config().timeout);
            let outputs = garble_stream(
                &threads,
                program,
                &input_labels,
                n,
                delta,
                counter,
                &mut sink,
            )?;
            drop(sink);
            while let Ok(frame) = rx.try_recv() {
                ch.send_buffer(PooledFrame {
                    blocks: frame,
                    pool: pool_tx.clone(),
                })
                .await?;
            }
            self.counter = counter + (ands * n) as u64;
            return Ok(outputs);
        }
        let program = program.clone();
        let (tx, mut rx) = mpsc::channel::<Vec<Block>>(PIPELINE_FRAMES);
        // Frame buffers come back from the channel's writer once written (see
        // `PooledFrame`), so steady-state garbling allocates nothing per frame.
        let (pool_tx, pool_rx) = std::sync::mpsc::channel::<Vec<Block>>();
        let mut sink = TableSink::new(tx, pool_rx, ch.config().timeout);
        let worker = tokio::task::spawn_blocking(move || {
            garble_stream(
                &threads,
                &program,
                &input_labels,
                n,
                delta,
                counter,
                &mut sink,
            )
        });
        while let Some(frame) = rx.recv().await {
            ch.send_buffer(PooledFrame {
                blocks: frame,
                pool: pool_tx.clone(),
            })
            .await?;
        }
        let outputs = worker.await.map_err(task_error)??;
        self.counter = counter + (ands * n) as u64;
        Ok(outputs)
    }

    /// Decodes `v` to the parties named by `to` (party 0 is the garbler). Returns the
    /// value (`width × n`) if the garbler learns it.
    ///
    /// # Errors
    /// Transport errors.
    pub async fn reveal(
        &mut self,
        ch: &mut Channel,
        v: &ZeroLabels,
        to: RevealTo,
    ) -> Result<Option<BitMatrix>> {
        decode(ch, &v.labels, (v.width, v.n), 0, to).await
    }
}

/// Party 1 of Yao: holds active labels; evaluates.
#[derive(Debug, Default)]
pub struct Evaluator {
    counter: u64,
}

impl Evaluator {
    /// A fresh evaluator.
    pub fn new() -> Self {
        Evaluator { counter: 0 }
    }

    /// Receives the active labels of `width × n` bits input by the garbler.
    ///
    /// # Errors
    /// Transport errors, or a frame of the wrong size.
    pub async fn input_from_garbler(
        &mut self,
        ch: &mut Channel,
        width: usize,
        n: usize,
    ) -> Result<ActiveLabels> {
        let labels = ch.recv_blocks(width * n).await?;
        Ok(ActiveLabels { width, n, labels })
    }

    /// Inputs the evaluator's own bits (`width × n`) through random OTs from the dealer
    /// (evaluator = OT receiver); see [`Garbler::input_from_evaluator`].
    ///
    /// # Errors
    /// If `rots` is not the receiver side of exactly `width · n` OTs, or transport
    /// errors.
    pub async fn input(
        &mut self,
        ch: &mut Channel,
        bits: &BitMatrix,
        rots: RandomOts,
    ) -> Result<ActiveLabels> {
        let (w, n) = (bits.rows(), bits.cols());
        let count = w * n;
        let RandomOts::Receiver { choices, chosen } = rots else {
            return Err(Error::Protocol {
                step: "yao input",
                detail: "the evaluator needs the OT receiver side".into(),
            });
        };
        if choices.len() != count || chosen.len() != count {
            return Err(Error::Shape {
                op: "yao input",
                detail: format!("{} OTs for {count} bits", chosen.len()),
            });
        }
        let x = bits.to_flat();
        let mut e = x.clone();
        e.xor_assign(&choices);
        ch.send_words(e.into_words()).await?;
        let reply = ch.recv_blocks(2 * count).await?;
        let labels = (0..count)
            .map(|j| reply[2 * j + usize::from(x.get(j))] ^ chosen[j])
            .collect();
        Ok(ActiveLabels {
            width: w,
            n,
            labels,
        })
    }

    /// Evaluates `circuit` on garbled inputs as the tables stream in: a receiving loop
    /// forwards frames to an evaluation thread that consumes them layer by layer.
    ///
    /// # Errors
    /// If the inputs do not fit the circuit, the garbler sends more or fewer table
    /// blocks than the circuit has, or transport errors.
    pub async fn eval(
        &mut self,
        ch: &mut Channel,
        circuit: &Circuit,
        inputs: &[&ActiveLabels],
    ) -> Result<Vec<ActiveLabels>> {
        self.eval_program(ch, &Program::new(circuit), inputs).await
    }

    /// [`Evaluator::eval`] of a circuit compiled once by the caller ([`Program::new`]).
    ///
    /// # Errors
    /// As [`Evaluator::eval`].
    pub async fn eval_program(
        &mut self,
        ch: &mut Channel,
        program: &Program,
        inputs: &[&ActiveLabels],
    ) -> Result<Vec<ActiveLabels>> {
        let shapes: Vec<_> = inputs.iter().map(|v| (v.width, v.n)).collect();
        let n = check_inputs(program.input_widths(), &shapes)?;
        let expected = program.and_gates() * n * TABLE_BLOCKS_PER_AND;
        let input_labels: Vec<Vec<Block>> = inputs.iter().map(|v| v.labels.clone()).collect();
        let counter = self.counter;
        let threads = std::sync::Arc::clone(ch.threads());
        if inline_run(program, n) {
            // All the tables first (a few frames), then evaluated here (see
            // `INLINE_MAX_ANDS`).
            let frames = recv_tables(ch, expected).await?;
            let (tx, mut rx) = mpsc::channel::<Vec<Block>>(frames.len().max(1));
            for f in frames {
                tx.try_send(f).map_err(|_| Error::Protocol {
                    step: "yao eval",
                    detail: "the table queue is full".into(),
                })?;
            }
            drop(tx);
            let (recycle, _) = std::sync::mpsc::channel::<Vec<Block>>();
            let outputs = evaluate_stream(
                &threads,
                program,
                &input_labels,
                n,
                counter,
                &mut rx,
                &recycle,
            )?;
            self.counter = counter + (expected / TABLE_BLOCKS_PER_AND) as u64;
            return Ok(outputs);
        }
        let program = program.clone();
        let (tx, mut rx) = mpsc::channel::<Vec<Block>>(PIPELINE_FRAMES);
        // Consumed frames go back to the receiving loop, which receives into them.
        let (pool_tx, pool) = std::sync::mpsc::channel::<Vec<Block>>();
        let worker = tokio::task::spawn_blocking(move || {
            evaluate_stream(
                &threads,
                &program,
                &input_labels,
                n,
                counter,
                &mut rx,
                &pool_tx,
            )
        });
        let mut received = 0usize;
        while received < expected {
            let mut frame = pool.try_recv().unwrap_or_default();
            ch.recv_pod_into(&mut frame, None).await?;
            if frame.is_empty() || received + frame.len() > expected {
                return Err(wrong_table_count(received + frame.len(), expected));
            }
            received += frame.len();
            if tx.send(frame).await.is_err() {
                break; // the worker stopped; its error is reported below
            }
        }
        drop(tx);
        let outputs = worker.await.map_err(task_error)??;
        self.counter = counter + (expected / TABLE_BLOCKS_PER_AND) as u64;
        Ok(outputs)
    }

    /// Decodes `v` to the parties named by `to` (party 0 is the garbler). Returns the
    /// value (`width × n`) if the evaluator learns it.
    ///
    /// # Errors
    /// Transport errors.
    pub async fn reveal(
        &mut self,
        ch: &mut Channel,
        v: &ActiveLabels,
        to: RevealTo,
    ) -> Result<Option<BitMatrix>> {
        decode(ch, &v.labels, (v.width, v.n), 1, to).await
    }
}
