//! Boolean sharing (B): GMW on XOR-shared bits, bit-sliced over a batch (Goldreich,
//! Micali, Wigderson 1987; the layer-by-layer evaluation of ABY, Demmler et al. 2015),
//! with AND gates from the dealer's Boolean triples.
//!
//! # Model
//! Two semi-honest parties hold `x = x_0 ⊕ x_1` for every wire; a semi-honest dealer
//! that colludes with neither supplies AND triples offline ([`crate::dealer`]).
//!
//! # Batches and rounds
//! A share ([`BShare`]) is a bit matrix of `width` rows by `n` columns, one column per
//! instance (the layout of [`BitMatrix::from_values`] and of
//! [`Circuit::eval`](crate::circuit::Circuit::eval)). Evaluating a circuit on `n`
//! instances costs **one round per AND layer, whatever `n`**: XOR, INV, copy and
//! constant gates are local, and every AND gate of a layer, for every instance, is
//! opened in one message ([`layer`]). The AND triples of a layer are taken in one
//! piece of exactly `gates · n` bits, so [`demand`] asks the dealer for exactly what
//! the run consumes.
//!
//! | step | rounds | bytes sent per party (8-byte frame header included) |
//! |---|---|---|
//! | input ([`Gmw::input`]) | 1 | `8 + 16` if it owns an input (a PRG seed), else 0 |
//! | AND layer of `k` gates | 1 | `8 + 8·⌈2kn/64⌉` |
//! | reveal of `m` bits to both / to one | 1 | `8 + 8·⌈mn/64⌉` (both / the other party) |
//! | free gates | 0 | 0 |
//!
//! An AND layer's opening or a reveal larger than the transport's frame limit
//! ([`ChannelConfig::max_frame`](tessera_core::ChannelConfig::max_frame), 256 MiB) is
//! streamed in several frames ([`Channel::exchange_pod_stream`]): still one round, with
//! an 8-byte header per frame, [`exchange_wire_bytes`] bytes in all (the table's
//! `8 + b` for every message that fits a frame). Memory stays that of one message each
//! way: the frames are cut from the sender's message and read into the receiver's.
//!
//! # Memory: chunks of instances
//! A party's state during an evaluation is its wire store (the program's live slots
//! times `n` bits) plus, at an AND layer, the layer's triples and both messages — for a
//! layer stage of a large batch, gigabytes. [`Gmw::eval_program_chunked`] bounds it:
//! the instances are cut into chunks ([`chunk_instances`] picks the largest multiple of
//! 64 whose state, [`instance_bits`] each, fits a working set — 1 GiB by default) that
//! are evaluated one after another, each one exchange per AND layer. Memory is that of
//! one chunk; the price is the AND depth in rounds per chunk, and a frame header and
//! word padding per chunk and layer ([`chunked_demand`] lists the triples in the same
//! pieces). A chunk is only cut when a stage's state exceeds the working set, so the
//! extra rounds come with at least that much traffic per chunk: on a 100 Mbit/s WAN
//! with 100 ms RTT, a 1 GiB chunk's messages take over a minute, its 10–20 extra
//! rounds 1–2 s.
//!
//! # Threads: parts of a batch
//! A batch larger than [`PART_INSTANCES`] (8,192) is held as several wire stores
//! ([`Parts`], cut by [`part_sizes`] from the batch size alone) whose local work — a
//! layer's free gates, then both steps of its AND layer — runs at once on the party's
//! threads ([`Channel::threads`], `--threads`) when its layers are large enough
//! ([`splits`], [`MIN_PARALLEL_WORK`]). The layer's triples are taken in one
//! piece and cut alike by both parties, and the parts' messages laid end to end are
//! exactly as long as one store's, so the traffic, the rounds and the demand are those
//! of the table whatever the thread count, and parties with different counts work
//! together. Smaller batches are one store, stepped on the caller's thread.
//!
//! [`cost()`] turns this table into the exact metering of a whole run, offline (dealer)
//! traffic included; the tests compare it with the channel's meter.
//!
//! # Layout
//! [`layer`] holds the pure steps (the wire store, free gates, [`and_open`] and
//! [`and_close`]), so both parties can be stepped in a unit test without sockets;
//! [`Gmw`] is the thin async driver that takes triples from a
//! [`Provider`] and moves the messages.

mod cost;
pub mod layer;

use rand_core::RngCore;
use tessera_core::{BitMatrix, Block, Channel, Prg, Ring, Threads};

use crate::circuit::Circuit;
pub use crate::circuit::Program;
use crate::preprocessing::{Demand, Provider};
use crate::{Error, Result};
pub use cost::{
    GmwCost, cost, cost_with, exchange_frames_with, exchange_wire_bytes, exchange_wire_bytes_with,
};
pub use layer::{
    AndState, MIN_PARALLEL_WORK, PART_INSTANCES, Parts, PartsLayer, Wires, and_close, and_open,
    message_words, part_sizes, splits,
};

/// One party's XOR shares of `width` bits for a batch of `n` instances: row `i` is bit
/// `i` of every instance, column `j` is instance `j`. Bits past `n` are zero. `Debug`
/// prints the shape only.
#[derive(Clone, PartialEq, Eq)]
pub struct BShare {
    bits: BitMatrix,
}

impl std::fmt::Debug for BShare {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "BShare({} bits x {} instances)",
            self.width(),
            self.batch()
        )
    }
}

impl BShare {
    /// Wraps a share matrix (rows = bits, columns = instances).
    pub fn from_matrix(bits: BitMatrix) -> Self {
        BShare { bits }
    }

    /// A share of zero.
    pub fn zeros(width: usize, n: usize) -> Self {
        BShare {
            bits: BitMatrix::zeros(width, n),
        }
    }

    /// Party `party`'s share of the public `value` (party 0 holds it, party 1 zero).
    pub fn from_public(party: usize, value: &BitMatrix) -> Self {
        if party == 0 {
            BShare {
                bits: value.clone(),
            }
        } else {
            Self::zeros(value.rows(), value.cols())
        }
    }

    /// Bits per instance.
    pub fn width(&self) -> usize {
        self.bits.rows()
    }

    /// Number of instances.
    pub fn batch(&self) -> usize {
        self.bits.cols()
    }

    /// The share matrix.
    pub fn matrix(&self) -> &BitMatrix {
        &self.bits
    }

    /// The share matrix, by value.
    pub fn into_matrix(self) -> BitMatrix {
        self.bits
    }

    /// `[x ⊕ y]` (local).
    ///
    /// # Errors
    /// [`Error::Shape`] if the shapes differ.
    pub fn xor(&self, o: &BShare) -> Result<BShare> {
        self.same_shape("xor", o)?;
        Ok(BShare::from_matrix(layer::xor_matrices(
            &self.bits, &o.bits,
        )))
    }

    /// Regroups values of `ell ≤ 64` bits (`width` must be `ell`): new instance `j`
    /// holds `slots` values, slot `s` being old instance `idx[j·slots + s]`, or a share
    /// of 0 for `None` (zero padding). Local: shares are copied.
    ///
    /// # Errors
    /// [`Error::Shape`] if the width is not `ell`, `ell > 64`, `idx` is not a whole
    /// number of `slots`, or an index is out of range.
    pub fn regroup(&self, ell: usize, slots: usize, idx: &[Option<usize>]) -> Result<BShare> {
        let n = self.batch();
        if self.width() != ell || ell > 64 || slots == 0 || !idx.len().is_multiple_of(slots) {
            return Err(Error::shape(
                "regroup B share",
                format!(
                    "{}x{n} into {slots} slots of {ell} bits ({} indices)",
                    self.width(),
                    idx.len()
                ),
            ));
        }
        if let Some(bad) = idx.iter().flatten().find(|&&i| i >= n) {
            return Err(Error::shape(
                "regroup B share",
                format!("instance {bad} of {n}"),
            ));
        }
        let m = idx.len() / slots;
        let values = self.bits.to_values();
        let mut out = BitMatrix::zeros(slots * ell, m);
        let mut picked = vec![0u64; m];
        for s in 0..slots {
            for (j, v) in picked.iter_mut().enumerate() {
                *v = idx[j * slots + s].map_or(0, |i| values[i]);
            }
            let part = BitMatrix::from_values(&picked, ell);
            for bit in 0..ell {
                out.row_mut(s * ell + bit).copy_from_slice(part.row(bit));
            }
        }
        Ok(BShare { bits: out })
    }

    /// The inverse of a regrouping into consecutive slots: a value of `k·ell` bits per
    /// instance becomes `k` instances of `ell` bits each, new instance `j·k + s` being
    /// old instance `j`'s bits `s·ell … (s+1)·ell`. Local: shares are copied.
    ///
    /// # Errors
    /// [`Error::Shape`] if the width is not a positive multiple of `ell`.
    pub fn ungroup(&self, ell: usize) -> Result<BShare> {
        let (w, n) = (self.width(), self.batch());
        if ell == 0 || w == 0 || !w.is_multiple_of(ell) {
            return Err(Error::shape(
                "ungroup B share",
                format!("{w} bits per instance into values of {ell} bits"),
            ));
        }
        let k = w / ell;
        let mut out = BitMatrix::zeros(ell, n * k);
        for s in 0..k {
            for bit in 0..ell {
                for j in 0..n {
                    if self.bits.get(s * ell + bit, j) {
                        out.set(bit, j * k + s, true);
                    }
                }
            }
        }
        Ok(BShare { bits: out })
    }

    /// A value whose bit `r` is this value's bit `bits[r]` (wiring only: shifts, sign
    /// extension).
    ///
    /// # Errors
    /// [`Error::Shape`] if a bit index is out of range.
    pub fn select_bits(&self, bits: &[usize]) -> Result<BShare> {
        if let Some(bad) = bits.iter().find(|&&b| b >= self.width()) {
            return Err(Error::shape(
                "select B bits",
                format!("bit {bad} of {}", self.width()),
            ));
        }
        let mut out = BitMatrix::zeros(bits.len(), self.batch());
        for (r, &b) in bits.iter().enumerate() {
            out.row_mut(r).copy_from_slice(self.bits.row(b));
        }
        Ok(BShare { bits: out })
    }

    fn same_shape(&self, op: &'static str, o: &BShare) -> Result<()> {
        if (self.width(), self.batch()) != (o.width(), o.batch()) {
            return Err(Error::shape(
                op,
                format!(
                    "{}x{} vs {}x{} (bits x instances)",
                    self.width(),
                    self.batch(),
                    o.width(),
                    o.batch()
                ),
            ));
        }
        Ok(())
    }
}

/// Who learns revealed values.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RevealTo {
    /// Party 0 only (party 1 sends its shares).
    Party0,
    /// Party 1 only (party 0 sends its shares).
    Party1,
    /// Both parties (both send at once: one round).
    Both,
}

impl RevealTo {
    /// Whether `party` sends its shares.
    pub fn sends(self, party: usize) -> bool {
        !matches!((self, party), (RevealTo::Party0, 0) | (RevealTo::Party1, 1))
    }

    /// Whether `party` learns the values.
    pub fn learns(self, party: usize) -> bool {
        !matches!((self, party), (RevealTo::Party0, 1) | (RevealTo::Party1, 0))
    }
}

impl std::fmt::Display for RevealTo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            RevealTo::Party0 => "party 0",
            RevealTo::Party1 => "party 1",
            RevealTo::Both => "both",
        })
    }
}

/// The preprocessing a GMW evaluation of `circuit` on `n` instances consumes: one
/// request of `k·n` AND triples for each AND layer of `k` gates, in layer order.
/// Computed from the circuit's cost, never by running it.
pub fn demand(circuit: &Circuit, n: usize) -> Demand {
    demand_from_widths(&circuit.cost().and_layer_widths, n)
}

/// One party's default memory bound for a chunked GMW evaluation
/// ([`Gmw::eval_program_chunked`]), 1 GiB: evaluations whose state fits run in one
/// piece, larger ones in chunks of instances that each fit.
pub const DEFAULT_WORKING_SET: u64 = 1 << 30;

/// Bits of memory one instance takes while `program` is evaluated: its wire store
/// (the program's live slots), its inputs and outputs, and at the widest AND layer its
/// triples (3 bits per gate), its message and the peer's (2 bits each) and one bit of
/// slack for the frames in flight.
pub fn instance_bits(program: &Program) -> usize {
    let widest = program
        .layers()
        .iter()
        .map(|(_, ands)| ands.len())
        .max()
        .unwrap_or(0);
    let io = program.input_widths().iter().sum::<usize>()
        + program.outputs().iter().map(Vec::len).sum::<usize>();
    program.slots() + io + 8 * widest
}

/// Instances per chunk for evaluating `program` on `n` instances within
/// `working_set` bytes ([`instance_bits`] each): `n` when all fit, else the largest
/// multiple of 64 that fits (at least 64, so that chunks are word-aligned).
pub fn chunk_instances(program: &Program, n: usize, working_set: u64) -> usize {
    let per = instance_bits(program).max(1) as u64;
    let fit = usize::try_from(working_set.saturating_mul(8) / per).unwrap_or(usize::MAX);
    if fit >= n {
        return n;
    }
    (fit / 64 * 64).max(64).min(n)
}

/// The sizes of the chunks of `n` instances at `chunk` per chunk, in order (one
/// chunk of `n` if `chunk` is 0 or at least `n`).
pub fn chunk_sizes(n: usize, chunk: usize) -> Vec<usize> {
    if chunk == 0 || chunk >= n {
        return vec![n];
    }
    (0..n).step_by(chunk).map(|s| chunk.min(n - s)).collect()
}

/// The preprocessing demand of [`Gmw::eval_program_chunked`] on `n` instances in
/// chunks of `chunk`, a circuit with AND layers of `widths` gates: per chunk, one
/// piece of triples per layer.
pub fn chunked_demand(widths: &[usize], n: usize, chunk: usize) -> Demand {
    let mut d = Demand::new();
    for c in chunk_sizes(n, chunk) {
        d.extend(&demand_from_widths(widths, c));
    }
    d
}

pub(crate) fn demand_from_widths(widths: &[usize], n: usize) -> Demand {
    let mut d = Demand::new();
    for &k in widths {
        d.and_triples(k * n);
    }
    d
}

/// Checks an owner list: one entry, 0 or 1, per input value.
fn check_owners(owners: &[usize], inputs: usize) -> Result<()> {
    if owners.len() != inputs {
        return Err(Error::InvalidArgument {
            op: "GMW input",
            detail: format!("{} owners for {inputs} input values", owners.len()),
        });
    }
    if let Some((i, o)) = owners.iter().enumerate().find(|(_, o)| **o > 1) {
        return Err(Error::InvalidArgument {
            op: "GMW input",
            detail: format!("input {i} is owned by party {o}, which does not exist"),
        });
    }
    Ok(())
}

/// The shares a PRG keyed by `seed` expands to, for matrices of the given
/// `(width, n)` shapes in order (bits past `n` zero).
fn expand_shares(seed: Block, shapes: &[(usize, usize)]) -> Vec<BitMatrix> {
    let mut prg = Prg::from_seed_block(seed);
    shapes
        .iter()
        .map(|&(w, n)| {
            let mut m = BitMatrix::zeros(w, n);
            let last = tessera_core::bits::tail_mask(n);
            for r in 0..w {
                let row = m.row_mut(r);
                prg.fill_bytes(bytemuck::cast_slice_mut(row));
                if let Some(l) = row.last_mut() {
                    *l &= last;
                }
            }
            m
        })
        .collect()
}

/// One party of a GMW session: its index and its randomness for input sharing. The
/// channel to the peer and the correlation [`Provider`] are passed to each call, so
/// GMW can share them with the other sharings of a mixed protocol.
pub struct Gmw {
    party: usize,
    rng: Prg,
}

impl std::fmt::Debug for Gmw {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Gmw(party {})", self.party)
    }
}

impl Gmw {
    /// Party `party` (0 or 1), with a PRG seeded from the OS.
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] if `party > 1`.
    pub fn new(party: usize) -> Result<Self> {
        if party > 1 {
            return Err(Error::InvalidArgument {
                op: "GMW",
                detail: format!("party {party} does not exist"),
            });
        }
        Ok(Gmw {
            party,
            rng: Prg::from_entropy(),
        })
    }

    /// This party's index.
    pub fn party(&self) -> usize {
        self.party
    }

    /// Shares the input values of a circuit (widths `widths`, value `i` owned by party
    /// `owners[i]`) for `n` instances, in **one round**: each party that owns an input
    /// draws a fresh seed, sends it (24 bytes on the wire, whatever the inputs' size),
    /// and keeps `x ⊕ PRG(seed)` for each of its values in order; the peer's share is
    /// `PRG(seed)`. `mine` holds this party's values in input order, each a
    /// `width × n` matrix. Returns the shares of all inputs, in input order.
    ///
    /// Security: the peer's view is the seed, independent of `x`; the owner's share
    /// is never sent.
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] / [`Error::Shape`] if the owners or values do not
    /// fit; transport errors.
    pub async fn input(
        &mut self,
        ch: &mut Channel,
        widths: &[usize],
        owners: &[usize],
        n: usize,
        mine: &[&BitMatrix],
    ) -> Result<Vec<BShare>> {
        check_owners(owners, widths.len())?;
        let shapes_of = |p: usize| -> Vec<(usize, usize)> {
            widths
                .iter()
                .zip(owners)
                .filter(|(_, o)| **o == p)
                .map(|(&w, _)| (w, n))
                .collect()
        };
        let (my_shapes, peer_shapes) = (shapes_of(self.party), shapes_of(1 - self.party));
        if mine.len() != my_shapes.len() {
            return Err(Error::InvalidArgument {
                op: "GMW input",
                detail: format!(
                    "party {} owns {} input values, {} given",
                    self.party,
                    my_shapes.len(),
                    mine.len()
                ),
            });
        }
        for (k, (m, &(w, n))) in mine.iter().zip(&my_shapes).enumerate() {
            if (m.rows(), m.cols()) != (w, n) {
                return Err(Error::shape(
                    "GMW input",
                    format!(
                        "this party's value {k} is {}x{} (bits x instances), expected {w}x{n}",
                        m.rows(),
                        m.cols()
                    ),
                ));
            }
        }
        let mut own = Vec::new();
        if !my_shapes.is_empty() {
            let seed = self.rng.gen_seed();
            ch.send_bytes(seed.to_bytes().to_vec()).await?;
            own = expand_shares(seed, &my_shapes)
                .iter()
                .zip(mine)
                .map(|(r, x)| layer::xor_matrices(x, r))
                .collect();
        }
        let mut theirs = Vec::new();
        if !peer_shapes.is_empty() {
            let bytes: [u8; 16] =
                ch.recv_bytes()
                    .await?
                    .try_into()
                    .map_err(|v: Vec<u8>| Error::Protocol {
                        step: "GMW input",
                        detail: format!("a seed of {} bytes, expected 16", v.len()),
                    })?;
            theirs = expand_shares(Block::from_bytes(bytes), &peer_shapes);
        }
        let (mut own, mut theirs) = (own.into_iter(), theirs.into_iter());
        owners
            .iter()
            .map(|&o| {
                let next = if o == self.party {
                    own.next()
                } else {
                    theirs.next()
                };
                next.map(BShare::from_matrix)
                    .ok_or_else(|| Error::Protocol {
                        step: "GMW input",
                        detail: "fewer shares than inputs".into(),
                    })
            })
            .collect()
    }

    /// Evaluates `circuit` on shared inputs (one share per input value, all of the
    /// same batch size `n`; `n = 1` for a circuit without inputs): free gates locally,
    /// one exchange per AND layer for all of its gates and instances. Takes the triples
    /// [`demand`] lists, in order.
    ///
    /// # Errors
    /// [`Error::Shape`] if the inputs do not fit the circuit; preprocessing errors
    /// ([`Error::Exhausted`], [`Error::WrongCorrelation`]); transport errors;
    /// [`Error::Protocol`] if the peer's message has the wrong size.
    pub async fn eval<R: Ring, P: Provider<R> + ?Sized>(
        &mut self,
        ch: &mut Channel,
        provider: &mut P,
        circuit: &Circuit,
        inputs: &[&BShare],
    ) -> Result<Vec<BShare>> {
        self.eval_program(ch, provider, &Program::new(circuit), inputs)
            .await
    }

    /// [`Gmw::eval`] of a circuit compiled once by the caller ([`Program::new`]), for
    /// repeated evaluations.
    ///
    /// # Errors
    /// As [`Gmw::eval`].
    pub async fn eval_program<R: Ring, P: Provider<R> + ?Sized>(
        &mut self,
        ch: &mut Channel,
        provider: &mut P,
        program: &Program,
        inputs: &[&BShare],
    ) -> Result<Vec<BShare>> {
        let widths = program.input_widths();
        if inputs.len() != widths.len() {
            return Err(Error::shape(
                "GMW evaluation",
                format!(
                    "the circuit has {} inputs, {} given",
                    widths.len(),
                    inputs.len()
                ),
            ));
        }
        let n = inputs.first().map_or(1, |s| s.batch());
        let mut wires = Parts::new(program.slots(), n);
        let mut first = 0;
        for (i, (s, &w)) in inputs.iter().zip(widths).enumerate() {
            if (s.width(), s.batch()) != (w, n) {
                return Err(Error::shape(
                    "GMW evaluation",
                    format!(
                        "input {i} is {}x{} (bits x instances), expected {w}x{n}",
                        s.width(),
                        s.batch()
                    ),
                ));
            }
            wires.set(first, s)?;
            first += w;
        }
        self.layers(ch, provider, program, wires).await
    }

    /// [`Gmw::eval_program`] in chunks of `chunk` instances ([`chunk_instances`]
    /// picks one for a memory bound): the chunks run one after another, each one
    /// exchange per AND layer, so memory is that of one chunk and the rounds are the
    /// AND depth times the number of chunks ([`chunk_sizes`]); triples are taken per
    /// chunk and layer ([`chunked_demand`]). With `chunk ≥ n` this is
    /// [`Gmw::eval_program`].
    ///
    /// # Errors
    /// As [`Gmw::eval_program`].
    pub async fn eval_program_chunked<R: Ring, P: Provider<R> + ?Sized>(
        &mut self,
        ch: &mut Channel,
        provider: &mut P,
        program: &Program,
        inputs: &[&BShare],
        chunk: usize,
    ) -> Result<Vec<BShare>> {
        let n = inputs.first().map_or(1, |s| s.batch());
        if chunk == 0 || chunk >= n {
            return self.eval_program(ch, provider, program, inputs).await;
        }
        if let Some((i, s)) = inputs.iter().enumerate().find(|(_, s)| s.batch() != n) {
            return Err(Error::shape(
                "GMW evaluation",
                format!("input {i} has {} instances, input 0 has {n}", s.batch()),
            ));
        }
        let mut outs: Vec<BitMatrix> = program
            .outputs()
            .iter()
            .map(|o| BitMatrix::zeros(o.len(), n))
            .collect();
        let mut start = 0;
        for len in chunk_sizes(n, chunk) {
            let part: Vec<BShare> = inputs
                .iter()
                .map(|s| BShare::from_matrix(s.matrix().columns(start, len)))
                .collect();
            let refs: Vec<&BShare> = part.iter().collect();
            let out = self.eval_program(ch, provider, program, &refs).await?;
            for (o, m) in outs.iter_mut().zip(&out) {
                o.put_columns(start, m.matrix());
            }
            start += len;
        }
        Ok(outs.into_iter().map(BShare::from_matrix).collect())
    }

    /// Runs the program on a filled wire store and reads the outputs: each layer's
    /// local work on the parts of the batch at once, on the channel's threads.
    async fn layers<R: Ring, P: Provider<R> + ?Sized>(
        &mut self,
        ch: &mut Channel,
        provider: &mut P,
        program: &Program,
        mut wires: Parts,
    ) -> Result<Vec<BShare>> {
        let n = wires.batch();
        let threads = if layer::splits(program, n) {
            std::sync::Arc::clone(ch.threads())
        } else {
            std::sync::Arc::new(Threads::one())
        };
        for (free, ands) in program.layers() {
            let triples = provider.take_and_triples(ands.len() * n)?;
            let (layer, msg) = wires.open(&threads, self.party, free, ands, triples)?;
            let peer = ch.exchange_pod_stream(msg).await?;
            wires.close(&threads, layer, &peer)?;
        }
        wires.free_gates(&threads, self.party, program.tail());
        Ok(program.outputs().iter().map(|o| wires.get(o)).collect())
    }

    /// Reveals `shares` to `to` in one message (the packed bits of all of them,
    /// streamed in several frames if it exceeds the frame limit): returns the values at
    /// the parties that learn them, `None` at the other.
    ///
    /// # Errors
    /// Transport errors; [`Error::Protocol`] if the peer's message has the wrong size.
    pub async fn reveal(
        &mut self,
        ch: &mut Channel,
        shares: &[&BShare],
        to: RevealTo,
    ) -> Result<Option<Vec<BitMatrix>>> {
        let bits: usize = shares.iter().map(|s| s.width() * s.batch()).sum();
        let words = tessera_core::bits::words_for(bits);
        if to.sends(self.party) {
            ch.send_pod_stream(layer::pack_shares(shares)).await?;
        }
        if !to.learns(self.party) {
            return Ok(None);
        }
        let peer = ch.recv_pod_stream::<u64>(words).await?;
        let shapes: Vec<(usize, usize)> = shares.iter().map(|s| (s.width(), s.batch())).collect();
        let theirs = layer::unpack_shares(&peer, &shapes);
        Ok(Some(
            shares
                .iter()
                .zip(&theirs)
                .map(|(s, t)| layer::xor_matrices(s.matrix(), t))
                .collect(),
        ))
    }

    /// A whole run: [`Gmw::input`], [`Gmw::eval_program`] and [`Gmw::reveal`] of
    /// every output value to `to`. `mine` are this party's input values (in input
    /// order), each `width × n`. [`cost()`] gives the exact traffic of this call.
    ///
    /// # Errors
    /// As the three steps.
    #[allow(clippy::too_many_arguments)]
    pub async fn run<R: Ring, P: Provider<R> + ?Sized>(
        &mut self,
        ch: &mut Channel,
        provider: &mut P,
        program: &Program,
        owners: &[usize],
        mine: &[&BitMatrix],
        n: usize,
        to: RevealTo,
    ) -> Result<Option<Vec<BitMatrix>>> {
        let shares = self
            .input(ch, program.input_widths(), owners, n, mine)
            .await?;
        let refs: Vec<&BShare> = shares.iter().collect();
        let out = if refs.is_empty() {
            // No inputs: the batch size comes from the caller, not from the shares.
            let wires = Parts::new(program.slots(), n);
            self.layers(ch, provider, program, wires).await?
        } else {
            self.eval_program(ch, provider, program, &refs).await?
        };
        let refs: Vec<&BShare> = out.iter().collect();
        self.reveal(ch, &refs, to).await
    }
}
