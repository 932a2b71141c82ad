//! Garbling and evaluation of several chunks of instances at once, on a party's pool of
//! worker threads ([`tessera_core::Threads`]), with the same tables, the same frames and
//! the same outputs as one thread.
//!
//! Chunks are independent: chunk `c` holds instances `c·k …` and its AND gate
//! instances are numbered from `counter + c·k·ANDs` (every chunk before it is full), so
//! a worker garbles it from that counter without waiting for the others, and the tables
//! of each (chunk, layer) are bit-identical to one thread's. The frames are too: the
//! framing rule (a frame goes out at the end of the AND layer that brings the pending
//! tables to the frame size) only depends on how many blocks are pending when a chunk
//! starts, which the dispatcher replays arithmetically ([`chunk_frames`]). A worker
//! garbles straight into frame buffers, cutting where that rule cuts; the first part of
//! a chunk joins the tail of the one before (one copy of less than a frame per chunk)
//! and the frames go out in chunk order.
//!
//! The evaluator receives frames in order and hands each chunk, once all its tables
//! are in, to a worker, as slices of the shared frames (frames end on layer boundaries,
//! so a layer is never split; a garbler that splits one anyway costs a copy, not a
//! wrong result).
//!
//! The dispatcher runs on the protocol's blocking thread (not a pool thread), keeps at
//! most two chunks per thread in progress, and, on the garbler, at most
//! [`GARBLER_FRAMES`] frames out to the socket before it starts another chunk, so memory
//! stays bounded and a peer that stops reading is a timeout, as with one thread.

use std::collections::{BTreeMap, VecDeque};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use std::sync::mpsc as std_mpsc;

use tessera_core::Block;
use tokio::sync::mpsc;

use super::core::{Delta, Scratch, TABLE_BLOCKS_PER_AND, eval_chunk, garble_chunk};
use super::session::{
    GARBLER_FRAMES, TableSink, chunk_frames, chunk_instances, free_frame, load_chunk, store_chunk,
};
use crate::circuit::Program;
use crate::{Error, Result};

/// Chunks in progress per worker thread: one being computed, one finished and waiting
/// for its turn to be sent (or, at the evaluator, for its tables).
const CHUNKS_PER_THREAD: usize = 2;

/// AND gates of a run (gates × instances) below which it stays on one thread:
/// starting a party's pool and handing out chunks costs some hundreds of microseconds
/// on a virtual machine, a few percent of garbling this many gates (~5 ms on a core).
pub(super) const MIN_PARALLEL_ANDS: usize = 1 << 18;

/// Whether a run of `n` instances is worth the pool: more than one chunk, and
/// [`MIN_PARALLEL_ANDS`] gates in all.
pub(super) fn splits(program: &Program, n: usize) -> bool {
    n > chunk_instances(program.slots(), n) && program.and_gates() * n >= MIN_PARALLEL_ANDS
}

/// The labels buffer and scratch of one chunk in progress.
struct ChunkState {
    labels: Vec<Block>,
    scratch: Scratch,
}

/// Outputs being gathered: each output value's labels (bit-major over `n`).
fn new_outputs(program: &Program, n: usize) -> Vec<Vec<Block>> {
    program
        .outputs()
        .iter()
        .map(|o| vec![Block::ZERO; o.len() * n])
        .collect()
}

fn with_widths(program: &Program, outputs: Vec<Vec<Block>>) -> Vec<(Vec<Block>, usize)> {
    outputs
        .into_iter()
        .zip(program.outputs().iter().map(Vec::len))
        .collect()
}

fn worker_panicked() -> Error {
    Error::Protocol {
        step: "yao worker thread",
        detail: "a worker thread panicked".into(),
    }
}

impl TableSink {
    fn send(&mut self, frame: Vec<Block>) {
        if self.alive {
            self.alive = self.tx.blocking_send(frame).is_ok();
            self.out += 1;
        }
    }

    /// Takes back the buffers written so far.
    fn collect(&mut self) {
        while let Ok(b) = self.returned.try_recv() {
            self.out = self.out.saturating_sub(1);
            self.free.push(b);
        }
    }

    /// Waits until at most `max` frames are out; false if the peer stopped reading
    /// (within the timeout) or the writing loop is gone.
    fn wait_out(&mut self, max: usize) -> bool {
        self.collect();
        while self.alive && self.out > max {
            match free_frame(&self.returned, &self.tx, self.timeout, &mut self.stalled) {
                Some(b) => {
                    self.out -= 1;
                    self.free.push(b);
                }
                None => self.alive = false,
            }
        }
        self.alive
    }

    /// An empty buffer (reused when one has come back).
    fn buffer(&mut self) -> Vec<Block> {
        let mut b = self.free.pop().unwrap_or_default();
        b.clear();
        b
    }
}

/// A chunk to garble: where it starts, its size and counter, the blocks pending from
/// the chunks before it, and buffers for the parts it will cut.
struct GarbleJob {
    index: usize,
    start: usize,
    kk: usize,
    counter: u64,
    carried: usize,
    buffers: Vec<Vec<Block>>,
    state: ChunkState,
}

/// A garbled chunk: its parts (each but the last closes a frame; the first joins the
/// blocks pending before the chunk) and its labels.
struct GarbleDone {
    index: usize,
    start: usize,
    kk: usize,
    parts: Vec<Vec<Block>>,
    state: ChunkState,
}

/// Garbles every chunk of `n` instances on `pool` and sends the frames through `sink`
/// in the order and sizes of one thread. Returns the outputs' zero labels (with their
/// widths), or `None` if the sink stopped (its error is reported by the caller).
#[allow(clippy::too_many_arguments)]
pub(super) fn garble(
    pool: &rayon::ThreadPool,
    program: &Program,
    inputs: &[Vec<Block>],
    n: usize,
    delta: Delta,
    counter: u64,
    flush: usize,
    sink: &mut TableSink,
) -> Result<Vec<(Vec<Block>, usize)>> {
    let nw = program.slots();
    let k = chunk_instances(nw, n);
    let widths: Vec<usize> = program.layers().iter().map(|(_, a)| a.len()).collect();
    let widest = widths.iter().copied().max().unwrap_or(0);
    // A frame closes at the end of the layer that reaches `flush`: at most one layer more.
    let capacity = flush + widest * k * TABLE_BLOCKS_PER_AND;
    let ands = program.and_gates() as u64;
    let window = CHUNKS_PER_THREAD * pool.current_num_threads();
    let inputs: Vec<&[Block]> = inputs.iter().map(Vec::as_slice).collect();
    let mut outputs = new_outputs(program, n);
    let (done_tx, done_rx) = std_mpsc::channel::<Option<GarbleDone>>();
    let mut states: Vec<ChunkState> = Vec::new();
    let mut ready: BTreeMap<usize, GarbleDone> = BTreeMap::new();
    let mut pending: Vec<Block> = Vec::new();
    let (mut next_start, mut next_index, mut emitted, mut carried) = (0usize, 0usize, 0usize, 0);
    let mut failed = false;
    pool.in_place_scope(|s| {
        let inputs = &inputs;
        loop {
            // Start chunks while the window and the frames out allow.
            while next_start < n && next_index - emitted < window && sink.wait_out(GARBLER_FRAMES) {
                let kk = k.min(n - next_start);
                let (after, closes) = chunk_frames(&widths, kk, carried, flush);
                let buffers = (0..=closes).map(|_| sink.buffer()).collect();
                let job = GarbleJob {
                    index: next_index,
                    start: next_start,
                    kk,
                    counter: counter + (next_start as u64) * ands,
                    carried,
                    buffers,
                    state: states.pop().unwrap_or_else(|| ChunkState {
                        labels: vec![Block::ZERO; nw * k],
                        scratch: Scratch::default(),
                    }),
                };
                carried = after;
                next_start += kk;
                next_index += 1;
                let done_tx = done_tx.clone();
                s.spawn(move |_| {
                    let r = catch_unwind(AssertUnwindSafe(|| {
                        garble_job(program, inputs, n, delta, flush, capacity, job)
                    }));
                    let _ = done_tx.send(r.ok());
                });
            }
            if emitted == next_index {
                break; // everything started has been sent (or the sink stopped)
            }
            // Send finished chunks in order.
            let Ok(Some(done)) = done_rx.recv() else {
                failed = true;
                break;
            };
            ready.insert(done.index, done);
            while let Some(done) = ready.remove(&emitted) {
                store_chunk(
                    program,
                    &mut outputs,
                    n,
                    done.start,
                    done.kk,
                    &done.state.labels[..nw * done.kk],
                );
                let count = done.parts.len();
                for (i, part) in done.parts.into_iter().enumerate() {
                    if pending.is_empty() {
                        sink.free.push(std::mem::replace(&mut pending, part));
                    } else {
                        pending.extend_from_slice(&part);
                        sink.free.push(part);
                    }
                    if i + 1 < count {
                        let next = sink.buffer();
                        sink.send(std::mem::replace(&mut pending, next));
                    }
                }
                states.push(done.state);
                emitted += 1;
            }
            if !sink.alive && next_start < n {
                // Stop starting chunks; wait for those still running. Chunks that
                // finished out of order are already in `ready`: receiving once per
                // unsent chunk would wait for results that never come.
                let running = next_index - emitted - ready.len();
                for _ in 0..running {
                    if !matches!(done_rx.recv(), Ok(Some(_))) {
                        failed = true;
                        break;
                    }
                }
                break;
            }
        }
    });
    if failed {
        return Err(worker_panicked());
    }
    if !pending.is_empty() {
        sink.send(pending);
    }
    Ok(with_widths(program, outputs))
}

/// Garbles one chunk into frame-sized parts (see [`GarbleDone`]).
fn garble_job(
    program: &Program,
    inputs: &[&[Block]],
    n: usize,
    delta: Delta,
    flush: usize,
    capacity: usize,
    job: GarbleJob,
) -> GarbleDone {
    let GarbleJob {
        index,
        start,
        kk,
        mut counter,
        carried,
        buffers,
        mut state,
    } = job;
    let ChunkState { labels, scratch } = &mut state;
    let chunk = &mut labels[..program.slots() * kk];
    load_chunk(program, inputs, n, start, kk, chunk);
    let mut buffers = buffers.into_iter();
    let mut next_buffer = move || {
        let mut b = buffers.next().unwrap_or_default();
        b.reserve(capacity);
        b
    };
    let mut parts = Vec::new();
    let mut tables = next_buffer();
    let mut offset = carried;
    garble_chunk(
        program,
        chunk,
        kk,
        delta,
        &mut counter,
        scratch,
        &mut tables,
        |t| {
            if offset + t.len() >= flush {
                parts.push(std::mem::replace(t, next_buffer()));
                offset = 0;
            }
        },
    );
    parts.push(tables);
    GarbleDone {
        index,
        start,
        kk,
        parts,
        state,
    }
}

/// A chunk to evaluate, with its tables as slices of the received frames.
struct EvalJob {
    start: usize,
    kk: usize,
    counter: u64,
    pieces: Vec<(Arc<Vec<Block>>, std::ops::Range<usize>)>,
    state: ChunkState,
}

/// Evaluates every chunk of `n` instances on `pool` as its tables arrive from `rx`
/// (frames in garbling order), giving frame buffers back through `recycle` once every
/// chunk that reads them is done. Returns the outputs' active labels with their widths.
///
/// # Errors
/// If the tables end before the last chunk's.
#[allow(clippy::too_many_arguments)]
pub(super) fn evaluate(
    pool: &rayon::ThreadPool,
    program: &Program,
    inputs: &[Vec<Block>],
    n: usize,
    counter: u64,
    rx: &mut mpsc::Receiver<Vec<Block>>,
    recycle: &std_mpsc::Sender<Vec<Block>>,
) -> Result<Vec<(Vec<Block>, usize)>> {
    let nw = program.slots();
    let k = chunk_instances(nw, n);
    let per_instance = program.and_gates() * TABLE_BLOCKS_PER_AND;
    let ands = program.and_gates() as u64;
    let window = CHUNKS_PER_THREAD * pool.current_num_threads();
    let inputs: Vec<&[Block]> = inputs.iter().map(Vec::as_slice).collect();
    let mut outputs = new_outputs(program, n);
    let (done_tx, done_rx) = std_mpsc::channel::<Option<(usize, usize, ChunkState)>>();
    let mut states: Vec<ChunkState> = Vec::new();
    // Frames still read by a chunk, oldest first; the one being cut is the last.
    let mut frames: VecDeque<Arc<Vec<Block>>> = VecDeque::new();
    let mut cut = 0usize; // blocks of the last frame already given to chunks
    let (mut start, mut outstanding) = (0usize, 0usize);
    let mut result = Ok(());
    pool.in_place_scope(|s| {
        let inputs = &inputs;
        let mut finish = |done: Option<(usize, usize, ChunkState)>,
                          states: &mut Vec<ChunkState>,
                          frames: &mut VecDeque<Arc<Vec<Block>>>|
         -> Result<()> {
            let (start, kk, state) = done.ok_or_else(worker_panicked)?;
            store_chunk(
                program,
                &mut outputs,
                n,
                start,
                kk,
                &state.labels[..nw * kk],
            );
            states.push(state);
            // Frames no chunk reads any more (the last one is still being cut).
            while frames.len() > 1 && frames.front().is_some_and(|f| Arc::strong_count(f) == 1) {
                if let Some(Ok(f)) = frames.pop_front().map(Arc::try_unwrap) {
                    let _ = recycle.send(f);
                }
            }
            Ok(())
        };
        while start < n {
            let kk = k.min(n - start);
            let need = kk * per_instance;
            let mut pieces = Vec::new();
            let mut have = 0usize;
            while have < need {
                let left = frames.back().map_or(0, |f| f.len() - cut);
                if left == 0 {
                    let Some(frame) = rx.blocking_recv() else {
                        result = Err(Error::Protocol {
                            step: "yao eval",
                            detail: "garbled tables ended early".into(),
                        });
                        break;
                    };
                    frames.push_back(Arc::new(frame));
                    cut = 0;
                    continue;
                }
                let take = left.min(need - have);
                if let Some(f) = frames.back() {
                    pieces.push((Arc::clone(f), cut..cut + take));
                }
                cut += take;
                have += take;
            }
            if result.is_err() {
                break;
            }
            while outstanding >= window {
                outstanding -= 1;
                if let Err(e) = finish(done_rx.recv().ok().flatten(), &mut states, &mut frames) {
                    result = Err(e);
                    break;
                }
            }
            if result.is_err() {
                break;
            }
            let job = EvalJob {
                start,
                kk,
                counter: counter + (start as u64) * ands,
                pieces,
                state: states.pop().unwrap_or_else(|| ChunkState {
                    labels: vec![Block::ZERO; nw * k],
                    scratch: Scratch::default(),
                }),
            };
            let done_tx = done_tx.clone();
            s.spawn(move |_| {
                let r = catch_unwind(AssertUnwindSafe(|| eval_job(program, inputs, n, job)));
                let _ = done_tx.send(r.ok().flatten());
            });
            outstanding += 1;
            start += kk;
        }
        while outstanding > 0 {
            outstanding -= 1;
            let r = finish(done_rx.recv().ok().flatten(), &mut states, &mut frames);
            if result.is_ok() {
                result = r;
            }
        }
    });
    result?;
    Ok(with_widths(program, outputs))
}

/// Evaluates one chunk from its pieces of frames; `None` if they do not hold its
/// tables (they always do: the dispatcher cut them to size).
fn eval_job(
    program: &Program,
    inputs: &[&[Block]],
    n: usize,
    job: EvalJob,
) -> Option<(usize, usize, ChunkState)> {
    let EvalJob {
        start,
        kk,
        mut counter,
        pieces,
        mut state,
    } = job;
    let ChunkState { labels, scratch } = &mut state;
    let chunk = &mut labels[..program.slots() * kk];
    load_chunk(program, inputs, n, start, kk, chunk);
    let mut pieces = pieces.iter().map(|(f, r)| &f[r.clone()]);
    let (mut piece, mut pos): (&[Block], usize) = (&[], 0);
    let mut joined = Vec::new();
    eval_chunk::<()>(program, chunk, kk, &mut counter, scratch, |need, f| {
        if piece.len() - pos >= need {
            f(&piece[pos..pos + need]);
            pos += need;
            return Ok(());
        }
        if pos == piece.len() {
            piece = pieces.next().ok_or(())?;
            pos = 0;
            if piece.len() >= need {
                f(&piece[..need]);
                pos = need;
                return Ok(());
            }
        }
        // A layer across frames (only if the garbler framed differently): join it.
        joined.clear();
        while joined.len() < need {
            if pos == piece.len() {
                piece = pieces.next().ok_or(())?;
                pos = 0;
            }
            let take = (piece.len() - pos).min(need - joined.len());
            joined.extend_from_slice(&piece[pos..pos + take]);
            pos += take;
        }
        f(&joined);
        Ok(())
    })
    .ok()?;
    Some((start, kk, state))
}
