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

use crate::circuit::{AndGate, FreeGate, Program};

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
fn tccr_start(xs: &mut [Block], saved: &mut Vec<Block>, tweak: impl Fn(usize) -> Lanes) {
    let aes = FixedKeyAes::get();
    let saved = grown(saved, xs.len());
    aes.permute_into(xs, saved);
    let (x2, p2): (&mut [Lanes], &[Lanes]) =
        (bytemuck::cast_slice_mut(xs), bytemuck::cast_slice(saved));
    for (j, (x, p)) in x2.iter_mut().zip(p2).enumerate() {
        *x = xor2(*p, tweak(j));
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

/// Labels as pairs of 64-bit lanes. `Block` wraps a `u128`, which the compiler keeps in
/// two general-purpose registers and stores as two 64-bit halves; a later 128-bit
/// load of the same label then misses store-to-load forwarding. Lane pairs stay in
/// vector registers and are stored whole.
type Lanes = [u64; 2];

#[inline(always)]
fn lanes(b: Block) -> Lanes {
    bytemuck::cast(b)
}

#[inline(always)]
fn xor2(x: Lanes, y: Lanes) -> Lanes {
    [x[0] ^ y[0], x[1] ^ y[1]]
}

/// Labels per step of the free-gate loops (chunks hold a multiple of 8 instances when
/// they hold 8 or more).
const LANE_BLOCK: usize = 8;

/// A copy of the `LANE_BLOCK` labels from `at`.
#[inline(always)]
fn lane_block(labels: &[Lanes], at: usize) -> [Lanes; LANE_BLOCK] {
    let mut x = [[0u64; 2]; LANE_BLOCK];
    x.copy_from_slice(&labels[at..at + LANE_BLOCK]);
    x
}

/// Applies free gates to a chunk of `k` instances.
fn apply_free(gates: &[FreeGate], labels: &mut [Block], k: usize, role: &impl FreeGates) {
    let inv = lanes(role.inv_offset());
    let (c0, c1) = (lanes(role.constant(false)), lanes(role.constant(true)));
    let labels: &mut [Lanes] = bytemuck::cast_slice_mut(labels);
    if k == 1 {
        // One instance (the common interactive case): no inner loops.
        for g in gates {
            match *g {
                FreeGate::Xor { a, b, out } => {
                    labels[out.index()] = xor2(labels[a.index()], labels[b.index()])
                }
                FreeGate::Inv { a, out } => labels[out.index()] = xor2(labels[a.index()], inv),
                FreeGate::Copy { a, out } => labels[out.index()] = labels[a.index()],
                FreeGate::Const { value, out } => labels[out.index()] = if value { c1 } else { c0 },
            }
        }
        return;
    }
    for g in gates {
        match *g {
            FreeGate::Xor { a, b, out } => {
                let (a, b, o) = (a.index() * k, b.index() * k, out.index() * k);
                let mut i = 0;
                // Eight labels at a time through local copies: the loads and the store
                // cannot alias, so they compile to whole vector operations.
                while i + LANE_BLOCK <= k {
                    let x = lane_block(labels, a + i);
                    let y = lane_block(labels, b + i);
                    let z: [Lanes; LANE_BLOCK] = std::array::from_fn(|j| xor2(x[j], y[j]));
                    labels[o + i..o + i + LANE_BLOCK].copy_from_slice(&z);
                    i += LANE_BLOCK;
                }
                for i in i..k {
                    labels[o + i] = xor2(labels[a + i], labels[b + i]);
                }
            }
            FreeGate::Inv { a, out } => {
                let (a, o) = (a.index() * k, out.index() * k);
                let mut i = 0;
                while i + LANE_BLOCK <= k {
                    let x = lane_block(labels, a + i);
                    let z: [Lanes; LANE_BLOCK] = std::array::from_fn(|j| xor2(x[j], inv));
                    labels[o + i..o + i + LANE_BLOCK].copy_from_slice(&z);
                    i += LANE_BLOCK;
                }
                for i in i..k {
                    labels[o + i] = xor2(labels[a + i], inv);
                }
            }
            FreeGate::Copy { a, out } => {
                let (a, o) = (a.index() * k, out.index() * k);
                labels.copy_within(a..a + k, o);
            }
            FreeGate::Const { value, out } => {
                let o = out.index() * k;
                labels[o..o + k].fill(if value { c1 } else { c0 });
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

/// Tweak of the `h`-th hash (0 or 1) of the AND gate instance numbered `t`: the block
/// `2t + h`, as lanes.
#[inline(always)]
fn tweak(t: u64, h: u64) -> Lanes {
    [t << 1 | h, t >> 63]
}

#[inline(always)]
fn and_bit(x: Lanes, bit: bool) -> Lanes {
    let m = u64::from(bit).wrapping_neg();
    [x[0] & m, x[1] & m]
}

#[inline(always)]
fn lsb(x: Lanes) -> bool {
    x[0] & 1 == 1
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
    let d = lanes(delta);
    // buf: the four hash inputs of each gate instance; `inputs` keeps a0 and b0 for
    // the second pass so the labels are read once.
    buf.clear();
    buf.resize(4 * m, Block::ZERO);
    inputs.clear();
    inputs.resize(2 * m, Block::ZERO);
    {
        let lab: &[Lanes] = bytemuck::cast_slice(labels);
        let (b4, inp): (&mut [Lanes], &mut [Lanes]) = (
            bytemuck::cast_slice_mut(buf),
            bytemuck::cast_slice_mut(inputs),
        );
        let mut j = 0;
        for g in ands {
            let (a, b) = (g.a.index() * k, g.b.index() * k);
            for i in 0..k {
                let (a0, b0) = (lab[a + i], lab[b + i]);
                b4[4 * j] = a0;
                b4[4 * j + 1] = xor2(a0, d);
                b4[4 * j + 2] = b0;
                b4[4 * j + 3] = xor2(b0, d);
                inp[2 * j] = a0;
                inp[2 * j + 1] = b0;
                j += 1;
            }
        }
    }
    let t0 = *counter;
    tccr_start(buf, aux, |j| {
        tweak(t0 + (j / 4) as u64, ((j / 2) & 1) as u64)
    });
    *counter += m as u64;
    let base = tables.len();
    tables.resize(base + 2 * m, Block::ZERO);
    let out_tables: &mut [Lanes] = bytemuck::cast_slice_mut(&mut tables[base..]);
    let (h4, p4, inp): (&[Lanes], &[Lanes], &[Lanes]) = (
        bytemuck::cast_slice(buf),
        bytemuck::cast_slice(aux),
        bytemuck::cast_slice(inputs),
    );
    let lab: &mut [Lanes] = bytemuck::cast_slice_mut(labels);
    let mut j = 0;
    for g in ands {
        let o = g.out.index() * k;
        for i in 0..k {
            let (a0, b0) = (inp[2 * j], inp[2 * j + 1]);
            let ha0 = xor2(h4[4 * j], p4[4 * j]);
            let ha1 = xor2(h4[4 * j + 1], p4[4 * j + 1]);
            let hb0 = xor2(h4[4 * j + 2], p4[4 * j + 2]);
            let hb1 = xor2(h4[4 * j + 3], p4[4 * j + 3]);
            let (pa, pb) = (lsb(a0), lsb(b0));
            // Generator half-gate: a ∧ pb.
            let tg = xor2(xor2(ha0, ha1), and_bit(d, pb));
            let wg = xor2(ha0, and_bit(tg, pa));
            // Evaluator half-gate: a ∧ (b ⊕ pb).
            let hb = xor2(hb0, hb1);
            let te = xor2(hb, a0);
            let we = xor2(hb0, and_bit(hb, pb));
            lab[o + i] = xor2(wg, we);
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
    let buf = grown(buf, 2 * m);
    {
        let lab: &[Lanes] = bytemuck::cast_slice(labels);
        let b2: &mut [Lanes] = bytemuck::cast_slice_mut(buf);
        let mut j = 0;
        for g in ands {
            let (a, b) = (g.a.index() * k, g.b.index() * k);
            for i in 0..k {
                b2[2 * j] = lab[a + i];
                b2[2 * j + 1] = lab[b + i];
                j += 1;
            }
        }
    }
    let t0 = *counter;
    tccr_start(buf, aux, |j| tweak(t0 + (j / 2) as u64, (j & 1) as u64));
    *counter += m as u64;
    let (h2, p2, tab): (&[Lanes], &[Lanes], &[Lanes]) = (
        bytemuck::cast_slice(buf),
        bytemuck::cast_slice(aux),
        bytemuck::cast_slice(tables),
    );
    let lab: &mut [Lanes] = bytemuck::cast_slice_mut(labels);
    let mut j = 0;
    for g in ands {
        let (a, b, o) = (g.a.index() * k, g.b.index() * k, g.out.index() * k);
        for i in 0..k {
            let (wa, wb) = (lab[a + i], lab[b + i]);
            let (tg, te) = (tab[2 * j], tab[2 * j + 1]);
            let wg = xor2(xor2(h2[2 * j], p2[2 * j]), and_bit(tg, lsb(wa)));
            let we = xor2(
                xor2(h2[2 * j + 1], p2[2 * j + 1]),
                and_bit(xor2(te, wa), lsb(wb)),
            );
            lab[o + i] = xor2(wg, we);
            j += 1;
        }
    }
}

/// The first `len` elements of a reusable buffer, grown (zeroed) only when it is too
/// short: the callers overwrite them whole, so zeroing on every layer would only cost.
#[inline]
fn grown(v: &mut Vec<Block>, len: usize) -> &mut [Block] {
    if v.len() < len {
        v.resize(len, Block::ZERO);
    }
    &mut v[..len]
}

/// Reusable buffers of one garbling or evaluation thread.
#[derive(Default)]
pub struct Scratch {
    buf: Vec<Block>,
    aux: Vec<Block>,
    inputs: Vec<Block>,
}

/// Garbles a compiled circuit for one chunk of `k` instances whose input zero labels
/// are already in `labels` (`slots · k`, slot-major; inputs occupy slots
/// `0..input_bits`); on return every live slot holds its zero label. Appends the tables
/// of each AND layer in order (two blocks per gate instance) to `tables` and then calls
/// `emit(tables)`, which may take them (e.g. to send a frame) or leave them to
/// accumulate; the tables are written once, straight into the caller's buffer.
/// Advances `counter` by the AND gate instances. This is the pure step the
/// [`Garbler`](super::Garbler) runs on its worker thread.
#[allow(clippy::too_many_arguments)]
pub fn garble_chunk(
    program: &Program,
    labels: &mut [Block],
    k: usize,
    delta: Delta,
    counter: &mut u64,
    scratch: &mut Scratch,
    tables: &mut Vec<Block>,
    mut emit: impl FnMut(&mut Vec<Block>),
) {
    let role = GarblerFree(delta.0);
    for (free, ands) in program.layers() {
        apply_free(free, labels, k, &role);
        garble_and_layer(ands, labels, k, delta.0, counter, tables, scratch);
        emit(tables);
    }
    apply_free(program.tail(), labels, k, &role);
}

/// Evaluates a compiled circuit for one chunk of `k` instances whose input active
/// labels are in `labels` (slot-major); on return every live slot holds its active
/// label.
/// `next_tables(n, f)` must call `f` with the next `n` table blocks in garbling order.
///
/// # Errors
/// Whatever `next_tables` returns (e.g. the garbler stopped sending).
pub fn eval_chunk<E>(
    program: &Program,
    labels: &mut [Block],
    k: usize,
    counter: &mut u64,
    scratch: &mut Scratch,
    mut next_tables: impl FnMut(usize, &mut dyn FnMut(&[Block])) -> Result<(), E>,
) -> Result<(), E> {
    for (free, ands) in program.layers() {
        apply_free(free, labels, k, &EvaluatorFree);
        let n = ands.len() * k * TABLE_BLOCKS_PER_AND;
        next_tables(n, &mut |tables| {
            eval_and_layer(ands, labels, k, counter, tables, scratch)
        })?;
    }
    apply_free(program.tail(), labels, k, &EvaluatorFree);
    Ok(())
}
