//! Yao's compute alone: one party garbling, or evaluating, AES-128 on a batch of
//! instances on one thread and on every core, no network in the timed window — the
//! garbling and evaluation throughput figures of the README, one command away
//! (`tessera bench --filter yao-compute/`).
//!
//! Party 0 does the work; party 1 only opens and closes its window with it. Garbling
//! is [`garble_stream`]: the tables cut into the frames a garbler sends, each frame's
//! buffer handed straight back by a thread that drains them (what the channel's writer
//! does). Evaluation is [`evaluate_stream`] on frames garbled beforehand (untimed),
//! fed in order by a thread, their buffers recycled. Both are checked after the
//! window: the party garbles the same instances again keeping the tables (untimed),
//! evaluates them on the active labels of random inputs, and the output value (the
//! garbler's permute bits XOR the evaluator's label bits) must be the plaintext
//! circuit's; a timed garbling must also give the same output zero labels.

use std::num::NonZeroUsize;
use std::sync::Arc;
use std::time::Duration;

use tessera_core::{BitMatrix, BitVec, Block, Prg, Threads};
use tessera_protocols::ArithParty;
use tessera_protocols::Demand;
use tessera_protocols::yao::{
    ActiveLabels, Delta, TableSink, ZeroLabels, evaluate_stream, garble_stream,
};

use super::FamilyContext;
use super::circuits::Reference;
use crate::error::{BenchError, Result};
use crate::scenario::{R, Scenario, Stopwatch, Workload};

/// What the timed window does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    /// The garbler's compute.
    Garble,
    /// The evaluator's compute.
    Evaluate,
}

/// One party's Yao compute on `batch` instances of a reference circuit with
/// `threads` threads.
#[derive(Debug)]
pub struct GarblingWork {
    reference: Arc<Reference>,
    role: Role,
    batch: usize,
    threads: usize,
}

/// One repetition's instances: random input bits, their zero labels and Δ.
pub struct Instances {
    bits: Vec<BitMatrix>,
    zero: Vec<Vec<Block>>,
    delta: Delta,
}

impl std::fmt::Debug for Instances {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Instances").finish_non_exhaustive()
    }
}

/// How long a frame may wait for its buffer to come back (it never should).
const FRAME_TIMEOUT: Duration = Duration::from_secs(60);

/// Runs `f` (tens of milliseconds of compute) without holding up the runtime's other
/// tasks: on a multi-threaded runtime the worker hands them to another thread.
fn compute<T>(f: impl FnOnce() -> T) -> T {
    use tokio::runtime::{Handle, RuntimeFlavor};
    match Handle::try_current() {
        Ok(h) if h.runtime_flavor() == RuntimeFlavor::MultiThread => tokio::task::block_in_place(f),
        _ => f(),
    }
}

impl GarblingWork {
    /// The workload.
    pub fn new(reference: Arc<Reference>, role: Role, batch: usize, threads: usize) -> Self {
        GarblingWork {
            reference,
            role,
            batch,
            threads,
        }
    }

    /// The pool of the workload's threads.
    pub fn pool(&self) -> Threads {
        Threads::new(NonZeroUsize::new(self.threads).unwrap_or(NonZeroUsize::MIN))
    }

    /// Garbles the instances, the frames either kept (returned) or handed back for
    /// reuse as the channel's writer does (an empty list returned).
    ///
    /// # Errors
    /// A worker or drain thread that failed.
    pub fn garble(
        &self,
        threads: &Threads,
        x: &Instances,
        keep: bool,
    ) -> Result<(Vec<ZeroLabels>, Vec<Vec<Block>>)> {
        let (tx, mut rx) = tokio::sync::mpsc::channel::<Vec<Block>>(4);
        let (back, returned) = std::sync::mpsc::channel();
        let mut sink = TableSink::new(tx, returned, FRAME_TIMEOUT);
        let drain = std::thread::spawn(move || {
            let mut kept = Vec::new();
            while let Some(frame) = rx.blocking_recv() {
                if keep {
                    kept.push(frame);
                    // A kept frame's place is taken by a new buffer.
                    let _ = back.send(Vec::new());
                } else {
                    let _ = back.send(frame);
                }
            }
            kept
        });
        let program = &self.reference.program;
        let out = garble_stream(threads, program, &x.zero, self.batch, x.delta, 0, &mut sink);
        drop(sink);
        let kept = drain
            .join()
            .map_err(|_| BenchError::wrong("the frame drain thread failed"))?;
        Ok((out?, kept))
    }

    /// The active labels of the instances' inputs.
    pub fn active(&self, x: &Instances) -> Vec<Vec<Block>> {
        let d = x.delta.block();
        x.zero
            .iter()
            .zip(&x.bits)
            .map(|(zero, bits)| {
                zero.iter()
                    .enumerate()
                    .map(|(k, &z)| {
                        let (b, i) = (k / self.batch, k % self.batch);
                        if bits.get(b, i) { z ^ d } else { z }
                    })
                    .collect()
            })
            .collect()
    }

    /// Evaluates the kept `frames` on `active` input labels; also returns the end that
    /// holds the consumed frames' buffers, for the caller to free after its window.
    ///
    /// # Errors
    /// Frames that end before the tables do; a worker or feed thread that failed.
    pub fn evaluate(
        &self,
        threads: &Threads,
        active: &[Vec<Block>],
        frames: Vec<Vec<Block>>,
    ) -> Result<(Vec<ActiveLabels>, std::sync::mpsc::Receiver<Vec<Block>>)> {
        let (tx, mut rx) = tokio::sync::mpsc::channel::<Vec<Block>>(4);
        let (recycle, returned) = std::sync::mpsc::channel();
        let feed = std::thread::spawn(move || {
            for f in frames {
                if tx.blocking_send(f).is_err() {
                    break;
                }
            }
        });
        let program = &self.reference.program;
        let out = evaluate_stream(threads, program, active, self.batch, 0, &mut rx, &recycle);
        feed.join()
            .map_err(|_| BenchError::wrong("the frame feed thread failed"))?;
        Ok((out?, returned))
    }

    /// The output value of an evaluation: the garbler's permute bits XOR the
    /// evaluator's label bits, against the plaintext circuit on the same inputs.
    fn check(&self, x: &Instances, zero: &[ZeroLabels], active: &[ActiveLabels]) -> Result<()> {
        let want = self.reference.circuit.eval(&x.bits)?;
        if zero.len() != want.len() || active.len() != want.len() {
            return Err(BenchError::wrong(format!(
                "{} / {} garbled outputs for {} output values",
                zero.len(),
                active.len(),
                want.len()
            )));
        }
        for (v, ((z, a), w)) in zero.iter().zip(active).zip(&want).enumerate() {
            let (z, a) = (z.lsb_matrix(), a.lsb_matrix());
            for r in 0..w.rows() {
                for c in 0..w.cols() {
                    if z.get(r, c) ^ a.get(r, c) != w.get(r, c) {
                        return Err(BenchError::wrong(format!(
                            "output value {v}, bit {r} of instance {c} differs from the \
                             plaintext circuit"
                        )));
                    }
                }
            }
        }
        Ok(())
    }
}

impl Workload for GarblingWork {
    type Input = Instances;
    /// Whether the party checked its work (party 0; party 1 has none).
    type Output = bool;

    fn demand(&self) -> Result<Demand> {
        Ok(Demand::new())
    }

    fn and_gates(&self) -> Option<u64> {
        Some((self.reference.circuit.cost().and_gates * self.batch) as u64)
    }

    fn inputs(&self) -> Result<Instances> {
        let mut prg = Prg::from_entropy();
        let widths = self.reference.circuit.input_widths();
        let bits = widths
            .iter()
            .map(|&w| {
                let rows: Vec<BitVec> = (0..w)
                    .map(|_| BitVec::random(&mut prg, self.batch))
                    .collect();
                Ok(BitMatrix::from_rows(&rows)?)
            })
            .collect::<Result<Vec<_>>>()?;
        let zero = widths
            .iter()
            .map(|&w| Block::random_vec(&mut prg, w * self.batch))
            .collect();
        Ok(Instances {
            bits,
            zero,
            delta: Delta::new(Block::random(&mut prg)),
        })
    }

    async fn party(
        &self,
        p: &mut ArithParty<R>,
        x: &Instances,
        sw: &mut Stopwatch,
    ) -> Result<bool> {
        if p.party() != 0 {
            sw.start(p.channel_mut()).await?;
            sw.stop(p.channel());
            return Ok(false);
        }
        let threads = self.pool();
        match self.role {
            Role::Garble => {
                sw.start(p.channel_mut()).await?;
                let (timed, _) = compute(|| self.garble(&threads, x, false))?;
                sw.stop(p.channel());
                compute(|| {
                    let (zero, frames) = self.garble(&threads, x, true)?;
                    if zero != timed {
                        return Err(BenchError::wrong(
                            "a garbling with its tables kept gave other output labels",
                        ));
                    }
                    let (out, _) = self.evaluate(&threads, &self.active(x), frames)?;
                    self.check(x, &zero, &out)
                })?;
            }
            Role::Evaluate => {
                let (zero, frames) = compute(|| self.garble(&threads, x, true))?;
                let active = self.active(x);
                sw.start(p.channel_mut()).await?;
                let (out, buffers) = compute(|| self.evaluate(&threads, &active, frames))?;
                sw.stop(p.channel());
                // The frames' buffers are freed after the window (as the channel's
                // reader reuses them).
                drop(buffers);
                self.check(x, &zero, &out)?;
            }
        }
        Ok(true)
    }

    fn verify(&self, _: &Instances, [checked, _]: [bool; 2]) -> Result<()> {
        if checked {
            Ok(())
        } else {
            Err(BenchError::wrong("party 0 did not check its outputs"))
        }
    }
}

/// AES-128 at batch 1,024, garbled and evaluated by one party on one thread and on
/// every core of this machine (`threads=N`); not in the quick subset.
///
/// # Errors
/// If the reference circuit cannot be loaded.
pub fn scenarios(ctx: &FamilyContext) -> Result<Vec<Scenario>> {
    let all = std::thread::available_parallelism().map_or(1, NonZeroUsize::get);
    let mut counts = vec![1];
    if all > 1 {
        counts.push(all);
    }
    let mut v = Vec::new();
    for r in Reference::all(&ctx.circuits_dir)? {
        if r.name != "aes-128" {
            continue;
        }
        for (role, name) in [(Role::Garble, "garble"), (Role::Evaluate, "evaluate")] {
            for &t in &counts {
                v.push(
                    Scenario::new(
                        "yao-compute",
                        name,
                        GarblingWork::new(r.clone(), role, 1024, t),
                    )
                    .param("circuit", r.name)
                    .param("batch", 1024)
                    .param("threads", t),
                );
            }
        }
    }
    Ok(v)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn aes(batch: usize, threads: usize) -> GarblingWork {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../protocols/circuits");
        let r = Reference::all(&dir)
            .unwrap()
            .into_iter()
            .find(|r| r.name == "aes-128")
            .unwrap();
        GarblingWork::new(r, Role::Evaluate, batch, threads)
    }

    /// The check after the window passes on a correct evaluation and fails when the
    /// inputs it is checked against are not those evaluated.
    #[test]
    fn the_check_passes_on_the_circuit_and_catches_a_wrong_bit() {
        for threads in [1, 2] {
            let w = aes(5, threads);
            let pool = w.pool();
            let mut x = w.inputs().unwrap();
            let (zero, frames) = w.garble(&pool, &x, true).unwrap();
            let (again, none) = w.garble(&pool, &x, false).unwrap();
            assert_eq!(zero, again);
            assert!(none.is_empty());
            let (active, _) = w.evaluate(&pool, &w.active(&x), frames).unwrap();
            w.check(&x, &zero, &active).unwrap();
            // The key's bit 3 of instance 2 flipped after the evaluation.
            let b = x.bits[0].get(3, 2);
            x.bits[0].set(3, 2, !b);
            assert!(w.check(&x, &zero, &active).is_err());
        }
    }
}
