//! The pure steps of GMW: a party's wire store for a batch, local free gates, and one
//! AND layer as [`and_open`] → (exchange) → [`and_close`].
//!
//! # One AND layer (Beaver's trick on bits; GMW 1987 with dealer triples)
//! For the `k` AND gates `z = x ∧ y` of a layer and `n` instances, each party takes
//! `k·n` triples `(a, b, c)` (gate-major: triple `j·n + i` belongs to gate `j`,
//! instance `i`) and sends one message, the packed bit stream
//!
//! `d_0 … d_{kn−1} ‖ e_0 … e_{kn−1}`, with `d = x ⊕ a` and `e = y ⊕ b`,
//!
//! which is `⌈2kn/64⌉` words. With the peer's message it knows `D = x ⊕ a` and
//! `E = y ⊕ b` in the clear and sets
//!
//! `z_i = c_i ⊕ (D ∧ b_i) ⊕ (E ∧ a_i) ⊕ [i = 0]·(D ∧ E)`,
//!
//! so `z_0 ⊕ z_1 = ab ⊕ Db ⊕ Ea ⊕ DE = (D ⊕ a)(E ⊕ b) = xy`. `D` and `E` are
//! masked by the uniform, once-used `a`, `b`: a semi-honest peer learns nothing.
//!
//! When `n` is a multiple of 64 every gate's bits are whole words and the steps run
//! word-wise straight from the wire store (the fast path of large batches); otherwise
//! the bits are packed tightly, so a batch of one costs two bits a gate, not two words.

use tessera_core::BitMatrix;
use tessera_core::bits::words_for;
use tessera_core::threads::{Threads, for_each_mut};

use super::BShare;
use crate::circuit::{AndGate, FreeGate, Program, Wire};
use crate::preprocessing::AndTriples;
use crate::{Error, Result};
use tessera_core::bits::{get_bits, put_bits, tail_mask};

/// One party's XOR shares of every wire of a circuit for a batch of `n` instances:
/// wire `w` is `⌈n/64⌉` packed words (instance `i` is bit `i % 64` of word `i / 64`).
/// Bits past `n` in a wire's last word are unspecified (INV flips them); everything
/// that leaves the store masks them. `Debug` prints the shape only.
pub struct Wires {
    n: usize,
    nw: usize,
    wires: usize,
    data: Vec<u64>,
}

impl std::fmt::Debug for Wires {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "Wires({} wires x {} instances)",
            self.num_wires(),
            self.n
        )
    }
}

impl Wires {
    /// `num_wires` wires of `n` instances, all zero.
    pub fn new(num_wires: usize, n: usize) -> Self {
        let nw = words_for(n);
        Wires {
            n,
            nw,
            wires: num_wires,
            data: vec![0; num_wires * nw],
        }
    }

    /// The batch size.
    pub fn batch(&self) -> usize {
        self.n
    }

    /// Number of wires.
    pub fn num_wires(&self) -> usize {
        self.wires
    }

    #[inline]
    fn wire(&self, w: Wire) -> &[u64] {
        let o = w.index() * self.nw;
        &self.data[o..o + self.nw]
    }

    /// Writes `share` (one row per wire) to the wires `first..first + share.width()`.
    ///
    /// # Errors
    /// [`Error::Shape`] if the batch size differs or the wires are out of range.
    pub fn set(&mut self, first: usize, share: &BShare) -> Result<()> {
        let m = share.matrix();
        if m.cols() != self.n || first + m.rows() > self.num_wires() {
            return Err(Error::shape(
                "GMW wire store",
                format!(
                    "a {}x{} share at wire {first} does not fit {} wires x {} instances",
                    m.rows(),
                    m.cols(),
                    self.num_wires(),
                    self.n
                ),
            ));
        }
        let o = first * self.nw;
        self.data[o..o + m.as_words().len()].copy_from_slice(m.as_words());
        Ok(())
    }

    /// The shares of `wires` as a `wires.len() × n` share (bits past `n` cleared).
    ///
    /// # Panics
    /// If a wire is out of range (the circuit was validated against the store's size).
    pub fn get(&self, wires: &[Wire]) -> BShare {
        let mut m = BitMatrix::zeros(wires.len(), self.n);
        let last = tail_mask(self.n);
        for (r, &w) in wires.iter().enumerate() {
            let row = m.row_mut(r);
            row.copy_from_slice(self.wire(w));
            if let Some(l) = row.last_mut() {
                *l &= last;
            }
        }
        BShare::from_matrix(m)
    }

    /// Evaluates a free gate locally. XOR and copy act on both shares alike; INV and
    /// constants change party 0's share only (party 1's INV is a copy, its constant
    /// share is zero), so the XOR of the shares is right.
    ///
    /// # Panics
    /// If a wire is out of range.
    pub fn free_gate(&mut self, party: usize, g: &FreeGate) {
        let nw = self.nw;
        let r = |w: Wire| w.index() * nw..(w.index() + 1) * nw;
        let s = &mut self.data;
        match *g {
            FreeGate::Xor { a, b, out } if a == b => s[r(out)].fill(0),
            FreeGate::Xor { a, b, out } if out == a || out == b => {
                let other = if out == a { b } else { a };
                if let Ok([o, x]) = s.get_disjoint_mut([r(out), r(other)]) {
                    for (o, x) in o.iter_mut().zip(x.iter()) {
                        *o ^= x;
                    }
                }
            }
            FreeGate::Xor { a, b, out } => {
                if let Ok([o, x, y]) = s.get_disjoint_mut([r(out), r(a), r(b)]) {
                    for ((o, x), y) in o.iter_mut().zip(x.iter()).zip(y.iter()) {
                        *o = x ^ y;
                    }
                }
            }
            FreeGate::Inv { a, out } if party == 0 => {
                if a == out {
                    s[r(out)].iter_mut().for_each(|o| *o = !*o);
                } else if let Ok([o, x]) = s.get_disjoint_mut([r(out), r(a)]) {
                    for (o, x) in o.iter_mut().zip(x.iter()) {
                        *o = !x;
                    }
                }
            }
            // Party 1's INV is a copy.
            FreeGate::Inv { a, out } | FreeGate::Copy { a, out } => {
                if a != out {
                    s.copy_within(r(a), out.index() * nw);
                }
            }
            FreeGate::Const { value, out } => {
                s[r(out)].fill(if value && party == 0 { !0 } else { 0 });
            }
        }
    }

    /// Evaluates free gates in order.
    pub fn free_gates(&mut self, party: usize, gates: &[FreeGate]) {
        for g in gates {
            self.free_gate(party, g);
        }
    }
}

/// What a party keeps between [`and_open`] and [`and_close`]: the layer's gates and
/// its triples (its own `d`, `e` are recomputed from the wire store, not copied).
pub struct AndState<'c> {
    party: usize,
    ands: &'c [AndGate],
    n: usize,
    triples: AndTriples,
}

impl std::fmt::Debug for AndState<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "AndState({} gates x {} instances)",
            self.ands.len(),
            self.n
        )
    }
}

/// Words of one party's message for a layer of `gates` AND gates over `n` instances.
pub fn message_words(gates: usize, n: usize) -> usize {
    words_for(2 * gates * n)
}

/// Step 1: the message `d ‖ e` for the layer's gates and the state to keep.
///
/// # Errors
/// [`Error::WrongCorrelation`] if the triples are not `ands.len() · n` bits.
pub fn and_open<'c>(
    party: usize,
    wires: &Wires,
    ands: &'c [AndGate],
    triples: AndTriples,
) -> Result<(AndState<'c>, Vec<u64>)> {
    let n = wires.n;
    check_triples(&triples, ands.len(), n)?;
    let mut msg = vec![0u64; message_words(ands.len(), n)];
    open_words(wires, ands, triples.a.words(), triples.b.words(), &mut msg);
    Ok((
        AndState {
            party,
            ands,
            n,
            triples,
        },
        msg,
    ))
}

/// [`Error::WrongCorrelation`] unless each of `a`, `b`, `c` is `gates · n` bits.
fn check_triples(t: &AndTriples, gates: usize, n: usize) -> Result<()> {
    let kn = gates * n;
    if [&t.a, &t.b, &t.c].iter().any(|v| v.len() != kn) {
        return Err(Error::WrongCorrelation {
            expected: format!("{kn} AND triples ({gates} gates x {n} instances)"),
            found: format!("{t:?}"),
        });
    }
    Ok(())
}

/// Writes `d ‖ e` into `msg` (zeroed, [`message_words`] long) from the packed triple
/// bits `ta`, `tb` of the store's `ands.len() · n` gate instances.
fn open_words(wires: &Wires, ands: &[AndGate], ta: &[u64], tb: &[u64], msg: &mut [u64]) {
    let n = wires.n;
    let kn = ands.len() * n;
    if n == 1 {
        // One instance: gate j's bits are bit j of the triples and of the message, so
        // the layer is word-wise over its gates' inputs gathered into bit vectors.
        let (x, y) = (gather(wires, ands, |g| g.a), gather(wires, ands, |g| g.b));
        put_bits(msg, 0, &xor(&x, ta), kn);
        put_bits(msg, kn, &xor(&y, tb), kn);
    } else if n.is_multiple_of(64) {
        let nw = wires.nw;
        let (md, me) = msg.split_at_mut(ands.len() * nw);
        for (((g, a), b), (d, e)) in ands
            .iter()
            .zip(ta.chunks_exact(nw))
            .zip(tb.chunks_exact(nw))
            .zip(md.chunks_exact_mut(nw).zip(me.chunks_exact_mut(nw)))
        {
            for ((d, x), a) in d.iter_mut().zip(wires.wire(g.a)).zip(a) {
                *d = x ^ a;
            }
            for ((e, y), b) in e.iter_mut().zip(wires.wire(g.b)).zip(b) {
                *e = y ^ b;
            }
        }
    } else {
        // Gate by gate through one word row of scratch: no layer-sized temporaries.
        let mut t = vec![0u64; wires.nw];
        for (j, g) in ands.iter().enumerate() {
            get_bits(ta, j * n, n, &mut t);
            xor_into(&mut t, wires.wire(g.a));
            put_bits(msg, j * n, &t, n);
            get_bits(tb, j * n, n, &mut t);
            xor_into(&mut t, wires.wire(g.b));
            put_bits(msg, kn + j * n, &t, n);
        }
    }
}

/// Bit `j` of the result is the value of wire `pick(ands[j])` of a one-instance store.
fn gather(wires: &Wires, ands: &[AndGate], pick: impl Fn(&AndGate) -> Wire) -> Vec<u64> {
    let mut v = vec![0u64; words_for(ands.len())];
    for (j, g) in ands.iter().enumerate() {
        v[j / 64] |= (wires.data[pick(g).index()] & 1) << (j % 64);
    }
    v
}

fn xor(a: &[u64], b: &[u64]) -> Vec<u64> {
    a.iter().zip(b).map(|(a, b)| a ^ b).collect()
}

fn xor_into(dst: &mut [u64], src: &[u64]) {
    for (d, s) in dst.iter_mut().zip(src) {
        *d ^= s;
    }
}

/// Step 2: from the peer's message, this party's shares of the layer's outputs,
/// written to the wire store.
///
/// # Errors
/// [`Error::Protocol`] if the peer's message has the wrong length, [`Error::Shape`] if
/// `wires` is not the store the layer was opened on (another batch size).
pub fn and_close(state: AndState<'_>, wires: &mut Wires, peer: &[u64]) -> Result<()> {
    let AndState {
        party,
        ands,
        n,
        triples,
    } = state;
    if wires.n != n {
        return Err(Error::shape(
            "GMW AND layer",
            format!("opened on {n} instances, closed on {}", wires.n),
        ));
    }
    check_peer(peer, ands.len(), n)?;
    let t = &triples;
    close_words(
        party,
        wires,
        ands,
        [t.a.words(), t.b.words(), t.c.words()],
        peer,
    )
}

/// [`Error::Protocol`] unless the peer's message is [`message_words`] long.
fn check_peer(peer: &[u64], gates: usize, n: usize) -> Result<()> {
    let want = message_words(gates, n);
    if peer.len() != want {
        return Err(Error::Protocol {
            step: "GMW AND layer",
            detail: format!("the peer sent {} words, expected {want}", peer.len()),
        });
    }
    Ok(())
}

/// Writes the layer's outputs from the packed triple bits `[a, b, c]` of the store's
/// `ands.len() · n` gate instances and the peer's message (of the right length).
fn close_words(
    party: usize,
    wires: &mut Wires,
    ands: &[AndGate],
    [ta, tb, tc]: [&[u64]; 3],
    peer: &[u64],
) -> Result<()> {
    let n = wires.n;
    let de = if party == 0 { !0u64 } else { 0 };
    let nw = wires.nw;
    let r = |w: Wire| w.index() * nw..(w.index() + 1) * nw;
    let aligned = n.is_multiple_of(64);
    let kn = ands.len() * n;
    if n == 1 {
        // One instance, word-wise over the gates (see `open_words`).
        let (x, y) = (gather(wires, ands, |g| g.a), gather(wires, ands, |g| g.b));
        let nw = words_for(kn);
        let (mut pd, mut pe) = (vec![0u64; nw], vec![0u64; nw]);
        get_bits(peer, 0, kn, &mut pd);
        get_bits(peer, kn, kn, &mut pe);
        for k in 0..nw {
            let d = pd[k] ^ x[k] ^ ta[k];
            let e = pe[k] ^ y[k] ^ tb[k];
            // Reuses `pd` for the outputs.
            pd[k] = tc[k] ^ (d & tb[k]) ^ (e & ta[k]) ^ (d & e & de);
        }
        for (j, g) in ands.iter().enumerate() {
            wires.data[g.out.index()] = (pd[j / 64] >> (j % 64)) & 1;
        }
        return Ok(());
    }
    // Unaligned rows are read into scratch, gate by gate (no layer-sized temporaries).
    let mut scratch = vec![0u64; if aligned { 0 } else { 5 * nw }];
    for (j, g) in ands.iter().enumerate() {
        let t = j * nw..(j + 1) * nw;
        let [a, b, c, pd, pe]: [&[u64]; 5] = if aligned {
            let (pd, pe) = peer.split_at(ands.len() * nw);
            [
                &ta[t.clone()],
                &tb[t.clone()],
                &tc[t.clone()],
                &pd[t.clone()],
                &pe[t],
            ]
        } else {
            let (sa, rest) = scratch.split_at_mut(nw);
            let (sb, rest) = rest.split_at_mut(nw);
            let (sc, rest) = rest.split_at_mut(nw);
            let (sd, se) = rest.split_at_mut(nw);
            get_bits(ta, j * n, n, sa);
            get_bits(tb, j * n, n, sb);
            get_bits(tc, j * n, n, sc);
            get_bits(peer, j * n, n, sd);
            get_bits(peer, kn + j * n, n, se);
            [sa, sb, sc, sd, se]
        };
        // Layer outputs never share a slot with a wire the layer reads.
        let (o, x, y) = if g.a == g.b {
            let [o, x] = wires
                .data
                .get_disjoint_mut([r(g.out), r(g.a)])
                .map_err(|_| slot_clash(g))?;
            (o, &*x, &*x)
        } else {
            let [o, x, y] = wires
                .data
                .get_disjoint_mut([r(g.out), r(g.a), r(g.b)])
                .map_err(|_| slot_clash(g))?;
            (o, &*x, &*y)
        };
        for k in 0..nw {
            let d = pd[k] ^ x[k] ^ a[k];
            let e = pe[k] ^ y[k] ^ b[k];
            o[k] = c[k] ^ (d & b[k]) ^ (e & a[k]) ^ (d & e & de);
        }
    }
    Ok(())
}

/// Instances in one part of a large batch (a multiple of 64). A batch larger than this
/// is held as several wire stores ([`Parts`]) whose local work — free gates and both
/// steps of an AND layer — runs at once on a party's threads.
pub const PART_INSTANCES: usize = 8192;

/// Gate instances per layer, on average over a program (`(free + AND gates) · n`),
/// from which an evaluation steps its parts on several threads ([`splits`]). A step is
/// bound by memory, and handing parts to threads that slept through the exchange costs
/// on the order of 100 µs on a virtual machine, as does moving a part's rows between
/// cores: on the 2-vCPU machine of the README, splitting every layer made one party's
/// AES-128 at 32,768 instances (steps of ~170 µs) 1.35x slower on 2 threads than on 1,
/// and at 131,072 (~730 µs) 1.38x faster, while splitting only the large layers gained
/// nothing at either (`gmw_threads` bench). So a whole evaluation is split or not.
pub const MIN_PARALLEL_WORK: usize = 1 << 26;

/// Whether an evaluation of `program` on `n` instances steps its parts on the party's
/// threads: if its layers average [`MIN_PARALLEL_WORK`] gate instances (and it has
/// several parts). The results are the same either way.
pub fn splits(program: &Program, n: usize) -> bool {
    let layers = program.layers();
    let gates: usize = layers.iter().map(|(f, a)| f.len() + a.len()).sum();
    part_sizes(n).len() > 1 && gates * n >= MIN_PARALLEL_WORK * layers.len().max(1)
}

/// The instances of each part of a batch of `n` ([`PART_INSTANCES`] each, the last
/// one the rest). The cut depends on `n` alone, never on the thread count, so both
/// parties cut alike whatever threads each has.
pub fn part_sizes(n: usize) -> Vec<usize> {
    if n <= PART_INSTANCES {
        return vec![n];
    }
    (0..n)
        .step_by(PART_INSTANCES)
        .map(|s| PART_INSTANCES.min(n - s))
        .collect()
}

/// A party's wire stores of a batch, one per part ([`part_sizes`]), evaluated on its
/// threads. An AND layer takes the triples of the whole batch in one piece (`k·n` bits,
/// as [`demand`](super::demand) asks) and part `p` of instances `s..s + len` steps
/// with the bits `k·s .. k·(s + len)`; the layer's message is the parts' messages in
/// order, each written in place. Every part but the last is a whole number of words
/// per gate, so the message has exactly [`message_words`]`(k, n)` words: the traffic,
/// rounds and triples of a run do not depend on the cut, and with one part (batches
/// up to [`PART_INSTANCES`]) the bytes are those [`and_open`] sends.
pub struct Parts {
    parts: Vec<Wires>,
}

impl std::fmt::Debug for Parts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "Parts({} wires x {} instances in {} parts)",
            self.parts.first().map_or(0, Wires::num_wires),
            self.batch(),
            self.parts.len()
        )
    }
}

/// What a party keeps between [`Parts::open`] and [`Parts::close`]: the layer's gates
/// and the batch's triples.
pub struct PartsLayer<'c> {
    party: usize,
    ands: &'c [AndGate],
    triples: AndTriples,
}

impl std::fmt::Debug for PartsLayer<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "PartsLayer({} gates, {:?})",
            self.ands.len(),
            self.triples
        )
    }
}

impl Parts {
    /// `num_wires` wires of `n` instances, all zero, cut into [`part_sizes`].
    pub fn new(num_wires: usize, n: usize) -> Self {
        Parts {
            parts: part_sizes(n)
                .into_iter()
                .map(|len| Wires::new(num_wires, len))
                .collect(),
        }
    }

    /// Instances of the whole batch.
    pub fn batch(&self) -> usize {
        self.parts.iter().map(Wires::batch).sum()
    }

    /// [`Wires::set`] across the parts.
    ///
    /// # Errors
    /// As [`Wires::set`].
    pub fn set(&mut self, first: usize, share: &BShare) -> Result<()> {
        if let [one] = self.parts.as_mut_slice() {
            return one.set(first, share);
        }
        if share.batch() != self.batch() {
            return Err(Error::shape(
                "GMW wire store",
                format!(
                    "a share of {} instances for a batch of {}",
                    share.batch(),
                    self.batch()
                ),
            ));
        }
        let mut start = 0;
        for w in &mut self.parts {
            let cols = share.matrix().columns(start, w.n);
            w.set(first, &BShare::from_matrix(cols))?;
            start += w.n;
        }
        Ok(())
    }

    /// [`Wires::get`] of the whole batch.
    pub fn get(&self, wires: &[Wire]) -> BShare {
        if let [one] = self.parts.as_slice() {
            return one.get(wires);
        }
        let mut m = BitMatrix::zeros(wires.len(), self.batch());
        let mut start = 0;
        for w in &self.parts {
            m.put_columns(start, w.get(wires).matrix());
            start += w.n;
        }
        BShare::from_matrix(m)
    }

    /// [`Wires::free_gates`] on every part, on `threads`.
    pub fn free_gates(&mut self, threads: &Threads, party: usize, gates: &[FreeGate]) {
        for_each_mut(threads, &mut self.parts, |w| w.free_gates(party, gates));
    }

    /// A layer's free gates `free`, then step 1 of its AND gates `ands` with the
    /// batch's `triples` ([`and_open`] per part), on every part at once on `threads`:
    /// the state to keep and the layer's message.
    ///
    /// # Errors
    /// As [`and_open`].
    pub fn open<'c>(
        &mut self,
        threads: &Threads,
        party: usize,
        free: &[FreeGate],
        ands: &'c [AndGate],
        triples: AndTriples,
    ) -> Result<(PartsLayer<'c>, Vec<u64>)> {
        let k = ands.len();
        check_triples(&triples, k, self.batch())?;
        let mut msg = vec![0u64; message_words(k, self.batch())];
        {
            let (ta, tb) = (triples.a.words(), triples.b.words());
            let mut rest = msg.as_mut_slice();
            let mut parts = Vec::with_capacity(self.parts.len());
            let mut start = 0;
            for w in &mut self.parts {
                let [a, b] = [ta, tb].map(|t| piece(t, k, start, w.n));
                let (mine, tail) = rest.split_at_mut(message_words(k, w.n).min(rest.len()));
                rest = tail;
                start += w.n;
                parts.push((w, a, b, mine));
            }
            for_each_mut(threads, &mut parts, |(w, a, b, mine)| {
                w.free_gates(party, free);
                open_words(w, ands, a, b, mine);
            });
        }
        Ok((
            PartsLayer {
                party,
                ands,
                triples,
            },
            msg,
        ))
    }

    /// Step 2 of the layer ([`and_close`] per part) from the peer's message, on every
    /// part at once on `threads`.
    ///
    /// # Errors
    /// As [`and_close`].
    pub fn close(&mut self, threads: &Threads, layer: PartsLayer<'_>, peer: &[u64]) -> Result<()> {
        let PartsLayer {
            party,
            ands,
            triples,
        } = layer;
        let k = ands.len();
        check_triples(&triples, k, self.batch())?;
        check_peer(peer, k, self.batch())?;
        let t = [triples.a.words(), triples.b.words(), triples.c.words()];
        let mut rest = peer;
        let mut parts = Vec::with_capacity(self.parts.len());
        let mut start = 0;
        for w in &mut self.parts {
            let pieces = t.map(|t| piece(t, k, start, w.n));
            let (mine, tail) = rest.split_at(message_words(k, w.n).min(rest.len()));
            rest = tail;
            start += w.n;
            parts.push((w, pieces, mine, Ok(())));
        }
        for_each_mut(threads, &mut parts, |(w, pieces, mine, out)| {
            *out = close_words(party, w, ands, *pieces, mine);
        });
        parts.into_iter().try_for_each(|(_, _, _, out)| out)
    }
}

/// The packed triple bits of the part of instances `start..start + len` of a layer of
/// `gates` gates: bits `gates·start ..` of `t`, which start on a word because `start`
/// is a multiple of [`PART_INSTANCES`] (empty if `t` is too short, which the callers'
/// length checks rule out).
fn piece(t: &[u64], gates: usize, start: usize, len: usize) -> &[u64] {
    let first = gates * start / 64;
    t.get(first..first + words_for(gates * len)).unwrap_or(&[])
}

fn slot_clash(g: &AndGate) -> Error {
    Error::InvalidCircuit(format!(
        "an AND gate writes wire {} while reading wires {} and {} of its own layer",
        g.out, g.a, g.b
    ))
}

/// Packs `n`-instance shares into one bit stream (`Σ width·n` bits), for revealing.
pub(crate) fn pack_shares(shares: &[&BShare]) -> Vec<u64> {
    let total: usize = shares.iter().map(|s| s.width() * s.batch()).sum();
    let mut out = vec![0u64; words_for(total)];
    let mut off = 0;
    for s in shares {
        let m = s.matrix();
        for r in 0..m.rows() {
            put_bits(&mut out, off, m.row(r), m.cols());
            off += m.cols();
        }
    }
    out
}

/// The inverse of [`pack_shares`] for shares of the given shapes `(width, n)`.
pub(crate) fn unpack_shares(stream: &[u64], shapes: &[(usize, usize)]) -> Vec<BitMatrix> {
    let mut off = 0;
    shapes
        .iter()
        .map(|&(w, n)| {
            let mut m = BitMatrix::zeros(w, n);
            for r in 0..w {
                get_bits(stream, off, n, m.row_mut(r));
                off += n;
            }
            m
        })
        .collect()
}

/// `a ⊕ b` for matrices of the same shape (the caller checks).
pub(crate) fn xor_matrices(a: &BitMatrix, b: &BitMatrix) -> BitMatrix {
    let mut m = a.clone();
    for r in 0..m.rows() {
        for (x, y) in m.row_mut(r).iter_mut().zip(b.row(r)) {
            *x ^= y;
        }
    }
    m
}

#[cfg(test)]
mod tests {
    use super::*;
    use tessera_core::{BitVec, Prg};

    /// Both parties' triples for `bits` ANDs, made locally (the dealer's relation).
    fn triples(prg: &mut Prg, bits: usize) -> [AndTriples; 2] {
        let r = |prg: &mut Prg| BitVec::random(prg, bits);
        let (a0, b0, c0, a1, b1) = (r(prg), r(prg), r(prg), r(prg), r(prg));
        let mut c1 = a0.clone();
        c1.xor_assign(&a1);
        let mut b = b0.clone();
        b.xor_assign(&b1);
        c1.and_assign(&b);
        c1.xor_assign(&c0);
        [
            AndTriples {
                a: a0,
                b: b0,
                c: c0,
            },
            AndTriples {
                a: a1,
                b: b1,
                c: c1,
            },
        ]
    }

    fn copy(t: &AndTriples) -> AndTriples {
        AndTriples {
            a: t.a.clone(),
            b: t.b.clone(),
            c: t.c.clone(),
        }
    }

    fn random_matrix(prg: &mut Prg, rows: usize, n: usize) -> BitMatrix {
        let rows: Vec<BitVec> = (0..rows).map(|_| BitVec::random(prg, n)).collect();
        BitMatrix::from_rows(&rows).unwrap()
    }

    #[test]
    fn one_layer_stepped_by_both_parties_computes_and() {
        let mut prg = Prg::from_seed_block(tessera_core::Block::from(7u128));
        // Wires 0..6 are inputs; gates read overlapping pairs, outputs at 6..10.
        let ands: Vec<AndGate> = [(0, 1), (2, 3), (1, 4), (5, 5)]
            .iter()
            .enumerate()
            .map(|(j, &(a, b))| AndGate {
                a: Wire(a),
                b: Wire(b),
                out: Wire(6 + j as u32),
            })
            .collect();
        for n in [1usize, 3, 63, 64, 65, 100, 128, 192] {
            let x = random_matrix(&mut prg, 6, n);
            let s0 = random_matrix(&mut prg, 6, n);
            let s1 = xor_matrices(&x, &s0);
            let mut w = [Wires::new(10, n), Wires::new(10, n)];
            w[0].set(0, &BShare::from_matrix(s0)).unwrap();
            w[1].set(0, &BShare::from_matrix(s1)).unwrap();
            // Party 0 inverts wire 0 in place, which leaves garbage past `n` that must
            // not leak into the result; the shared value of wire 0 becomes ¬x_0.
            w[0].free_gate(
                0,
                &FreeGate::Inv {
                    a: Wire(0),
                    out: Wire(0),
                },
            );
            let xv = |r: usize, i: usize| x.get(r, i) ^ (r == 0);
            let [t0, t1] = triples(&mut prg, ands.len() * n);
            let (st0, m0) = and_open(0, &w[0], &ands, t0).unwrap();
            let (st1, m1) = and_open(1, &w[1], &ands, t1).unwrap();
            assert_eq!(m0.len(), message_words(ands.len(), n));
            let [w0, w1] = &mut w;
            and_close(st0, w0, &m1).unwrap();
            and_close(st1, w1, &m0).unwrap();
            let outs: Vec<Wire> = (6..10).map(Wire).collect();
            let z = xor_matrices(w[0].get(&outs).matrix(), w[1].get(&outs).matrix());
            for (j, g) in ands.iter().enumerate() {
                for i in 0..n {
                    let want = xv(g.a.index(), i) & xv(g.b.index(), i);
                    assert_eq!(z.get(j, i), want, "n={n} gate {j} instance {i}");
                }
            }
        }
    }

    /// A batch of three parts stepped by both parties on 1, 2 and 3 threads: the same
    /// messages (as long as one store's) and the right ANDs whatever the thread count.
    #[test]
    fn parts_step_alike_on_any_thread_count() {
        let mut prg = Prg::from_seed_block(tessera_core::Block::from(8u128));
        let ands = [
            AndGate {
                a: Wire(0),
                b: Wire(1),
                out: Wire(3),
            },
            AndGate {
                a: Wire(2),
                b: Wire(2),
                out: Wire(4),
            },
        ];
        let free = [FreeGate::Xor {
            a: Wire(0),
            b: Wire(1),
            out: Wire(2),
        }];
        let n = 2 * PART_INSTANCES + 5;
        let x = random_matrix(&mut prg, 2, n);
        let s0 = random_matrix(&mut prg, 2, n);
        let s1 = xor_matrices(&x, &s0);
        let [t0, t1] = triples(&mut prg, ands.len() * n);
        let mut first: Option<(Vec<u64>, Vec<u64>)> = None;
        for t in 1..=3 {
            let threads = Threads::new(std::num::NonZeroUsize::new(t).unwrap());
            let mut w = [Parts::new(5, n), Parts::new(5, n)];
            w[0].set(0, &BShare::from_matrix(s0.clone())).unwrap();
            w[1].set(0, &BShare::from_matrix(s1.clone())).unwrap();
            let [p0, p1] = &mut w;
            let (st0, m0) = p0.open(&threads, 0, &free, &ands, copy(&t0)).unwrap();
            let (st1, m1) = p1.open(&threads, 1, &free, &ands, copy(&t1)).unwrap();
            assert_eq!(m0.len(), message_words(ands.len(), n));
            assert!(p0.close(&threads, st0, &m1[1..]).is_err());
            let (st0, _) = p0.open(&threads, 0, &[], &ands, copy(&t0)).unwrap();
            p0.close(&threads, st0, &m1).unwrap();
            p1.close(&threads, st1, &m0).unwrap();
            let z = xor_matrices(
                p0.get(&[Wire(3), Wire(4)]).matrix(),
                p1.get(&[Wire(3), Wire(4)]).matrix(),
            );
            for i in 0..n {
                let (a, b) = (x.get(0, i), x.get(1, i));
                assert_eq!(z.get(0, i), a & b, "{t} threads, instance {i}");
                assert_eq!(z.get(1, i), a ^ b, "{t} threads, instance {i}");
            }
            match &first {
                None => first = Some((m0, m1)),
                Some(f) => assert!(f.0 == m0 && f.1 == m1, "{t} threads: other messages"),
            }
        }
    }

    #[test]
    fn wrong_triples_and_wrong_messages_are_errors() {
        let mut prg = Prg::from_seed_block(tessera_core::Block::from(9u128));
        let ands = [AndGate {
            a: Wire(0),
            b: Wire(1),
            out: Wire(2),
        }];
        let w = Wires::new(3, 10);
        let [t0, _] = triples(&mut prg, 9);
        assert!(matches!(
            and_open(0, &w, &ands, t0),
            Err(Error::WrongCorrelation { .. })
        ));
        let [t0, _] = triples(&mut prg, 10);
        let (st, msg) = and_open(0, &w, &ands, t0).unwrap();
        let mut w = w;
        assert!(matches!(
            and_close(st, &mut w, &msg[..0]),
            Err(Error::Protocol { .. })
        ));
    }

    #[test]
    fn free_gates_keep_the_xor_of_the_shares_right() {
        let mut prg = Prg::from_seed_block(tessera_core::Block::from(11u128));
        let n = 70;
        let x = random_matrix(&mut prg, 2, n);
        let s0 = random_matrix(&mut prg, 2, n);
        let s1 = xor_matrices(&x, &s0);
        let gates = [
            FreeGate::Xor {
                a: Wire(0),
                b: Wire(1),
                out: Wire(2),
            },
            FreeGate::Inv {
                a: Wire(2),
                out: Wire(3),
            },
            FreeGate::Copy {
                a: Wire(3),
                out: Wire(4),
            },
            FreeGate::Const {
                value: true,
                out: Wire(5),
            },
            FreeGate::Const {
                value: false,
                out: Wire(6),
            },
        ];
        let mut w = [Wires::new(7, n), Wires::new(7, n)];
        for (p, s) in [s0, s1].into_iter().enumerate() {
            w[p].set(0, &BShare::from_matrix(s)).unwrap();
            w[p].free_gates(p, &gates);
        }
        let outs: Vec<Wire> = (2..7).map(Wire).collect();
        let z = xor_matrices(w[0].get(&outs).matrix(), w[1].get(&outs).matrix());
        for i in 0..n {
            let xor = x.get(0, i) ^ x.get(1, i);
            let want = [xor, !xor, !xor, true, false];
            for (r, &b) in want.iter().enumerate() {
                assert_eq!(z.get(r, i), b, "row {r} instance {i}");
            }
        }
        // Shares leave the store with bits past `n` cleared.
        let last = w[0].get(&outs).matrix().row(1)[1];
        assert_eq!(last >> (n % 64), 0);
    }

    #[test]
    fn pack_and_unpack_shares_round_trip() {
        let mut prg = Prg::from_seed_block(tessera_core::Block::from(13u128));
        let a = BShare::from_matrix(random_matrix(&mut prg, 3, 5));
        let b = BShare::from_matrix(random_matrix(&mut prg, 7, 5));
        let s = pack_shares(&[&a, &b]);
        assert_eq!(s.len(), words_for(50));
        let back = unpack_shares(&s, &[(3, 5), (7, 5)]);
        assert_eq!(&back[0], a.matrix());
        assert_eq!(&back[1], b.matrix());
    }
}
