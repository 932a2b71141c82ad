//! The pure half of Yao: garbling and evaluating a circuit on labels, with no I/O.
//!
//! Construction: free-XOR (Kolesnikov–Schneider 2008), point-and-permute, and
//! half-gates (Zahur, Rosulek, Evans, "Two halves make a whole", EUROCRYPT 2015, §3),
//! hashing with the tweakable circular correlation-robust hash
//! `H(x, i) = π(π(x) ⊕ i) ⊕ π(x)` built from fixed-key AES (Guo, Katz, Wang, Yu,
//! S&P 2020, §7.3).
//!
//! Labels: every wire `w` has a zero label `W⁰`; its one label is `W¹ = W⁰ ⊕ Δ` with the
//! garbler's global offset `Δ`, whose least significant bit is 1, so `lsb(W⁰)` is the
//! wire's permute bit. The evaluator holds one *active* label per wire and never learns
//! `Δ` or which value it stands for.
//!
//! A batch of `n` instances is processed in chunks of `k` instances; labels of a chunk
//! are stored wire-major (`labels[w · k + i]`), and all AND gates of a layer, over all
//! instances of the chunk, are hashed in one batched fixed-key AES call. Tables are
//! emitted in a fixed order — chunk, layer, gate, instance — that both sides derive
//! from the circuit alone, and every (gate, instance) gets a distinct tweak from a
//! counter both sides advance identically.

use tessera_core::{Block, FixedKeyAes};

use crate::circuit::{AndGate, FreeGate, Schedule};

/// The public label that stands for both constants on the evaluator's side. The
/// garbler's zero label of a constant-`v` wire is `PUBLIC ⊕ v·Δ`, so the active label
/// is `PUBLIC` either way and needs no communication.
pub const PUBLIC_LABEL: Block = Block(0);

/// The garbler's global offset Δ (lsb 1). Never printed.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Delta(Block);

impl std::fmt::Debug for Delta {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Delta(<redacted>)")
    }
}

impl Delta {
    /// Δ from a random block (its lsb is forced to 1).
    pub fn new(random: Block) -> Self {
        Delta(Block(random.0 | 1))
    }

    /// The offset as a block.
    pub fn block(self) -> Block {
        self.0
    }
}

/// Blocks of garbled table per AND gate (half-gates).
pub const TABLE_BLOCKS_PER_AND: usize = 2;

/// The TCCR hash `H(x, i) = π(π(x) ⊕ i) ⊕ π(x)`, batched, in two passes over the data:
/// on return `xs[j] = π(π(x_j) ⊕ tweak(j))` and `saved[j] = π(x_j)`; the caller reads
/// `H(x_j, tweak(j)) = xs[j] ⊕ saved[j]` in the loop that consumes the hashes.
#[inline]
fn tccr_start(xs: &mut [Block], saved: &mut Vec<Block>, tweak: impl Fn(usize) -> Block) {
    let aes = FixedKeyAes::get();
    aes.permute_many(xs);
    saved.clear();
    saved.extend_from_slice(xs);
    for (j, x) in xs.iter_mut().enumerate() {
        *x ^= tweak(j);
    }
    aes.permute_many(xs);
}

/// How the two roles differ on free gates.
trait FreeGates {
    /// Label offset of an inverter: Δ for the garbler (flip the meaning), 0 for the
    /// evaluator (same active label).
    fn inv_offset(&self) -> Block;
    /// Label of a constant wire.
    fn constant(&self, value: bool) -> Block;
}

/// Applies free gates to a chunk of `k` instances.
fn apply_free(gates: &[FreeGate], labels: &mut [Block], k: usize, role: &impl FreeGates) {
    let inv = role.inv_offset();
    if k == 1 {
        // One instance (the common interactive case): no inner loops.
        for g in gates {
            match *g {
                FreeGate::Xor { a, b, out } => {
                    labels[out.index()] = labels[a.index()] ^ labels[b.index()]
                }
                FreeGate::Inv { a, out } => labels[out.index()] = labels[a.index()] ^ inv,
                FreeGate::Copy { a, out } => labels[out.index()] = labels[a.index()],
                FreeGate::Const { value, out } => labels[out.index()] = role.constant(value),
            }
        }
        return;
    }
    for g in gates {
        match *g {
            FreeGate::Xor { a, b, out } => {
                let (a, b, o) = (a.index() * k, b.index() * k, out.index() * k);
                for i in 0..k {
                    labels[o + i] = labels[a + i] ^ labels[b + i];
                }
            }
            FreeGate::Inv { a, out } => {
                let (a, o) = (a.index() * k, out.index() * k);
                for i in 0..k {
                    labels[o + i] = labels[a + i] ^ inv;
                }
            }
            FreeGate::Copy { a, out } => {
                let (a, o) = (a.index() * k, out.index() * k);
                labels.copy_within(a..a + k, o);
            }
            FreeGate::Const { value, out } => {
                let o = out.index() * k;
                labels[o..o + k].fill(role.constant(value));
            }
        }
    }
}

struct GarblerFree(Block);
impl FreeGates for GarblerFree {
    fn inv_offset(&self) -> Block {
        self.0
    }
    fn constant(&self, value: bool) -> Block {
        PUBLIC_LABEL ^ self.0.and_bit(value)
    }
}

struct EvaluatorFree;
impl FreeGates for EvaluatorFree {
    fn inv_offset(&self) -> Block {
        Block::ZERO
    }
    fn constant(&self, _value: bool) -> Block {
        PUBLIC_LABEL
    }
}

/// Tweak of the `h`-th hash (0 or 1) of the AND gate instance numbered `t`.
#[inline]
fn tweak(t: u64, h: u64) -> Block {
    Block(u128::from(t) << 1 | u128::from(h))
}

/// Garbles one AND layer for a chunk of `k` instances (ZRE15 §3, Fig. 2): appends two
/// table blocks per (gate, instance) to `tables` and writes the output zero labels.
/// `counter` numbers AND gate instances and is advanced by `ands.len() · k`.
fn garble_and_layer(
    ands: &[AndGate],
    labels: &mut [Block],
    k: usize,
    delta: Block,
    counter: &mut u64,
    tables: &mut Vec<Block>,
    scratch: &mut Scratch,
) {
    let Scratch { buf, aux, inputs } = scratch;
    let m = ands.len() * k;
    // buf: the four hash inputs of each gate instance; `inputs` keeps a0 and b0 for
    // the second pass so the labels are read once.
    buf.clear();
    buf.reserve(4 * m);
    inputs.clear();
    inputs.reserve(2 * m);
    for g in ands {
        let (a, b) = (g.a.index() * k, g.b.index() * k);
        for i in 0..k {
            let (a0, b0) = (labels[a + i], labels[b + i]);
            buf.extend_from_slice(&[a0, a0 ^ delta, b0, b0 ^ delta]);
            inputs.extend_from_slice(&[a0, b0]);
        }
    }
    let t0 = *counter;
    tccr_start(buf, aux, |j| {
        tweak(t0 + (j / 4) as u64, ((j / 2) & 1) as u64)
    });
    *counter += m as u64;
    let base = tables.len();
    tables.resize(base + 2 * m, Block::ZERO);
    let out_tables = &mut tables[base..];
    let mut j = 0;
    for g in ands {
        let o = g.out.index() * k;
        for i in 0..k {
            let (a0, b0) = (inputs[2 * j], inputs[2 * j + 1]);
            let (h, p) = (&buf[4 * j..4 * j + 4], &aux[4 * j..4 * j + 4]);
            let (ha0, ha1, hb0, hb1) = (h[0] ^ p[0], h[1] ^ p[1], h[2] ^ p[2], h[3] ^ p[3]);
            let (pa, pb) = (a0.lsb(), b0.lsb());
            // Generator half-gate: a ∧ pb.
            let tg = ha0 ^ ha1 ^ delta.and_bit(pb);
            let wg = ha0 ^ tg.and_bit(pa);
            // Evaluator half-gate: a ∧ (b ⊕ pb).
            let hb = hb0 ^ hb1;
            let te = hb ^ a0;
            let we = hb0 ^ hb.and_bit(pb);
            labels[o + i] = wg ^ we;
            out_tables[2 * j] = tg;
            out_tables[2 * j + 1] = te;
            j += 1;
        }
    }
}

/// Evaluates one AND layer for a chunk of `k` instances from its tables (two blocks
/// per gate instance, in garbling order).
fn eval_and_layer(
    ands: &[AndGate],
    labels: &mut [Block],
    k: usize,
    counter: &mut u64,
    tables: &[Block],
    scratch: &mut Scratch,
) {
    let Scratch { buf, aux, .. } = scratch;
    let m = ands.len() * k;
    buf.clear();
    buf.reserve(2 * m);
    for g in ands {
        let (a, b) = (g.a.index() * k, g.b.index() * k);
        for i in 0..k {
            buf.extend_from_slice(&[labels[a + i], labels[b + i]]);
        }
    }
    let t0 = *counter;
    tccr_start(buf, aux, |j| tweak(t0 + (j / 2) as u64, (j & 1) as u64));
    *counter += m as u64;
    for (gi, g) in ands.iter().enumerate() {
        let (a, b, o) = (g.a.index() * k, g.b.index() * k, g.out.index() * k);
        for i in 0..k {
            let j = gi * k + i;
            let (wa, wb) = (labels[a + i], labels[b + i]);
            let (tg, te) = (tables[2 * j], tables[2 * j + 1]);
            let wg = buf[2 * j] ^ aux[2 * j] ^ tg.and_bit(wa.lsb());
            let we = buf[2 * j + 1] ^ aux[2 * j + 1] ^ (te ^ wa).and_bit(wb.lsb());
            labels[o + i] = wg ^ we;
        }
    }
}

/// Reusable buffers of one garbling or evaluation thread.
#[derive(Default)]
pub struct Scratch {
    buf: Vec<Block>,
    aux: Vec<Block>,
    inputs: Vec<Block>,
}

/// Garbles the whole schedule for one chunk of `k` instances whose input-wire zero
/// labels are already in `labels` (`num_wires · k`, wire-major); on return every wire
/// holds its zero label. Calls `emit` with the tables of each AND layer in order
/// (two blocks per gate instance) and advances `counter` by the AND gate instances.
/// This is the pure step the [`Garbler`](super::Garbler) runs on its worker thread.
pub fn garble_chunk(
    schedule: &Schedule,
    labels: &mut [Block],
    k: usize,
    delta: Delta,
    counter: &mut u64,
    scratch: &mut Scratch,
    mut emit: impl FnMut(&mut Vec<Block>),
) {
    let role = GarblerFree(delta.0);
    let mut tables = Vec::new();
    for layer in schedule.layers() {
        apply_free(layer.free_before, labels, k, &role);
        tables.clear();
        garble_and_layer(
            layer.ands,
            labels,
            k,
            delta.0,
            counter,
            &mut tables,
            scratch,
        );
        emit(&mut tables);
    }
    apply_free(schedule.tail(), labels, k, &role);
}

/// Evaluates the whole schedule for one chunk of `k` instances whose input-wire active
/// labels are in `labels`; on return every wire holds its active label.
/// `next_tables(n, f)` must call `f` with the next `n` table blocks in garbling order.
///
/// # Errors
/// Whatever `next_tables` returns (e.g. the garbler stopped sending).
pub fn eval_chunk<E>(
    schedule: &Schedule,
    labels: &mut [Block],
    k: usize,
    counter: &mut u64,
    scratch: &mut Scratch,
    mut next_tables: impl FnMut(usize, &mut dyn FnMut(&[Block])) -> Result<(), E>,
) -> Result<(), E> {
    for layer in schedule.layers() {
        apply_free(layer.free_before, labels, k, &EvaluatorFree);
        let n = layer.ands.len() * k * TABLE_BLOCKS_PER_AND;
        next_tables(n, &mut |tables| {
            eval_and_layer(layer.ands, labels, k, counter, tables, scratch)
        })?;
    }
    apply_free(schedule.tail(), labels, k, &EvaluatorFree);
    Ok(())
}
