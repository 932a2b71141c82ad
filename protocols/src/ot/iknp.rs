//! OT extension, semi-honest, as pure steps: IKNP (Ishai, Kilian, Nissim, Petrank,
//! CRYPTO 2003) in the form of SoftSpoken OT (Roy, CRYPTO 2022) with `k = 2` — each
//! pair of `Δ`'s bits is one small vector OLE over four seeds, so the receiver's
//! message carries one column per two bits of `Δ`: 8 bytes per transfer where IKNP
//! sends 16, for half a PRG block more per transfer at the sender.
//!
//! Set-up: κ = 128 base OTs *in the other direction* — the extension receiver sends
//! 128 pairs of seeds `(k0_j, k1_j)`, the extension sender chooses with the bits of
//! `¬Δ` for a secret `Δ` and holds `k_{¬Δ_j}`. Chunk `c` (base OTs `2c`, `2c + 1`) is a
//! GGM tree of depth two: the receiver's four leaves are `s_x = G(k0_{2c} or
//! k1_{2c}, by x_0)[x_1]`, and it sends the *correction* `G(k0_{2c})[y] ⊕
//! G(k1_{2c})[y] ⊕ k_y` (`k_y` of base OT `2c + 1`, `y = 0, 1`; 2 KiB in all, once per
//! set-up, in front of its first message), from which the sender computes every leaf
//! but `s_{Δ_c}` (`Δ_c` the chunk's two bits of `Δ`). Each leaf keys an AES-CTR PRG that
//! stays with its party for every later extension (the extensions of one set-up never
//! reuse PRG output).
//!
//! Extension of `m` transfers with the receiver's choice bits `r` (one message,
//! receiver → sender, 8 bytes per transfer), per chunk, `R_x = G(s_x)`:
//! - receiver: columns `t_{2c+j} = ⊕_x x_j·R_x`, message column `d_c = ⊕_x R_x ⊕ r`;
//! - sender: `q_{2c+j} = ⊕_x (x ⊕ Δ_c)_j·R_x ⊕ Δ_{2c+j}·d_c = t_{2c+j} ⊕ Δ_{2c+j}·r`
//!   (the term `x = Δ_c`, the one leaf it lacks, has coefficient zero);
//! - transposed to rows (one 128-bit row per transfer): `q_i = t_i ⊕ r_i·Δ`.
//!
//! That is a correlated OT with the global correlation `Δ` ([`ExtSender::extend`] and
//! [`ExtReceiver::extend`] return exactly those rows); random OTs hash it:
//! `x0_i = H(q_i, i)`, `x1_i = H(q_i ⊕ Δ, i)` and the receiver's `H(t_i, i) = x_{r_i}`,
//! `H` the tweakable circular-correlation-robust hash of fixed-key AES
//! ([`FixedKeyAes::tccr_many`], GKWY20), the tweak the transfer's index within the
//! set-up so that no two transfers of one set-up share a tweak.

use tessera_core::{Block, FixedKeyAes, Prg};

use super::transpose::transpose_into;
use crate::{Error, Result};

/// The security parameter: base OTs per set-up, bits of `Δ`.
pub const KAPPA: usize = 128;

/// Bits of `Δ` per chunk (SoftSpoken's `k`): four seeds per chunk.
pub const CHUNK_BITS: usize = 2;

/// Columns of the receiver's message per tile: one per chunk.
pub const MSG_COLS: usize = KAPPA / CHUNK_BITS;

/// Blocks of a set-up's correction (two per chunk), sent once by the receiver.
pub const CORRECTION_BLOCKS: usize = 2 * MSG_COLS;

/// Blocks of the receiver's message for `m` transfers (`m` rounded up to a tile).
pub fn message_blocks(m: usize) -> usize {
    MSG_COLS * tiles(m)
}

/// Tiles (128 transfers each) needed for `m` transfers.
pub fn tiles(m: usize) -> usize {
    m.div_ceil(128)
}

/// Tiles per batch of an extension: the batch's 128 columns and its rows (128 KiB
/// each) are made, transposed and hashed while they are in cache (L2), no buffer grows
/// with `m` but the message and the output, and each PRG call fills 64 blocks (fewer
/// make AES calls with a different key for every few blocks the bottleneck).
const BATCH_TILES: usize = 64;

/// Packs choice bits into blocks: bit `i % 128` of block `i / 128` is `bits[i]`.
pub fn pack_bits(bits: &[bool]) -> Vec<Block> {
    bits.chunks(128)
        .map(|c| {
            let (lo, hi) = c.split_at(c.len().min(64));
            Block(u128::from(pack64(lo)) | (u128::from(pack64(hi)) << 64))
        })
        .collect()
}

/// Up to 64 bits into a word, bit `i` from `bits[i]`.
fn pack64(bits: &[bool]) -> u64 {
    bits.iter()
        .enumerate()
        .fold(0, |w, (i, &b)| w | (u64::from(b) << i))
}

/// The extension receiver: the four leaf PRGs of each chunk, and the set-up's
/// correction until it is sent. PRG keys never appear in `Debug`.
pub struct ExtReceiver {
    prgs: Vec<[Prg; 4]>,
    correction: Option<Vec<Block>>,
    done: u64,
    /// High 64 bits of every hash tweak of this set-up ([`ExtReceiver::with_tweak_domain`]).
    tweak_hi: u128,
    /// Buffers of one batch (columns, rows, the hash's scratch, one PRG column),
    /// kept from one extension to the next: a buffer of this size is mapped and
    /// unmapped by the allocator on every allocation, page faults and TLB
    /// shoot-downs included.
    scratch: [Vec<Block>; 4],
    /// Frame buffers of earlier messages, back from the channel's writer for the next
    /// frames (see [`super::receive_random`]); public data.
    pub(super) spare: std::sync::Arc<std::sync::Mutex<Vec<Vec<Block>>>>,
}

impl std::fmt::Debug for ExtReceiver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ExtReceiver")
            .field("done", &self.done)
            .finish_non_exhaustive()
    }
}

/// The extension sender: `Δ` and, per chunk, the PRGs of the three leaves it knows
/// (by `x ⊕ Δ_c`: 1, 2, 3), made when the receiver's correction arrives (until then
/// its base-OT keys). None of them appears in `Debug`.
pub struct ExtSender {
    delta: Block,
    keys: Vec<Block>,
    prgs: Vec<[Prg; 3]>,
    done: u64,
    /// High 64 bits of every hash tweak of this set-up ([`ExtSender::with_tweak_domain`]).
    tweak_hi: u128,
    /// Buffers of one batch (columns, rows, the hash's scratch, one PRG column), kept
    /// from one extension to the next (see [`ExtReceiver`]'s).
    scratch: [Vec<Block>; 4],
    /// The pairs of one batch, kept likewise.
    pairs: Vec<[Block; 2]>,
    /// The buffer of the last message received, for the next one (public data).
    pub(super) spare: Vec<Block>,
}

impl std::fmt::Debug for ExtSender {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ExtSender")
            .field("done", &self.done)
            .finish_non_exhaustive()
    }
}

fn fill(prg: &mut Prg, out: &mut [Block]) {
    rand_core::RngCore::fill_bytes(prg, bytemuck::cast_slice_mut(out));
}

impl ExtReceiver {
    /// From the 128 seed pairs this party sent as base-OT sender.
    ///
    /// # Errors
    /// [`Error::Shape`] unless there are exactly [`KAPPA`] pairs.
    pub fn from_base(pairs: &[[Block; 2]]) -> Result<Self> {
        if pairs.len() != KAPPA {
            return Err(Error::Shape {
                op: "IKNP set-up",
                detail: format!("{KAPPA} base OTs needed, got {}", pairs.len()),
            });
        }
        let mut prgs = Vec::with_capacity(MSG_COLS);
        let mut correction = Vec::with_capacity(CORRECTION_BLOCKS);
        for chunk in pairs.chunks_exact(CHUNK_BITS) {
            let [a, b] = [chunk[0], chunk[1]];
            let (g0, g1) = (ggm(a[0]), ggm(a[1]));
            // Leaf x = x_0 + 2·x_1 is child x_1 of level-one node x_0.
            prgs.push([g0[0], g1[0], g0[1], g1[1]].map(Prg::from_seed_block));
            correction.extend((0..2).map(|y| g0[y] ^ g1[y] ^ b[y]));
        }
        Ok(ExtReceiver {
            prgs,
            correction: Some(correction),
            done: 0,
            tweak_hi: 0,
            scratch: Default::default(),
            spare: Default::default(),
        })
    }

    /// The same set-up with `domain` in the high 64 bits of every hash tweak (a set-up
    /// derived from a pairing carries its session's; both ends must use the same).
    #[must_use]
    pub fn with_tweak_domain(mut self, domain: u64) -> Self {
        self.tweak_hi = u128::from(domain) << 64;
        self
    }

    /// Transfers extended so far by this set-up (the next one's index).
    pub fn done(&self) -> u64 {
        self.done
    }

    /// The set-up's correction ([`CORRECTION_BLOCKS`] blocks) the first time, for the
    /// sender before this set-up's first message; `None` after.
    pub fn take_correction(&mut self) -> Option<Vec<Block>> {
        self.correction.take()
    }

    /// One extension of `m` transfers with packed `choices` ([`pack_bits`]): the
    /// message for the sender ([`message_blocks`]`(m)` blocks, column-major) and this
    /// party's rows `t_i` (`m` blocks).
    ///
    /// # Errors
    /// [`Error::Shape`] if `choices` is not `tiles(m)` blocks.
    pub fn extend(&mut self, choices: &[Block], m: usize) -> Result<(Vec<Block>, Vec<Block>)> {
        let mut u = vec![Block::ZERO; message_blocks(m)];
        let mut rows = Vec::with_capacity(m);
        self.extend_with(choices, m, &mut u, |_, t| rows.extend_from_slice(t))?;
        Ok((u, rows))
    }

    /// [`ExtReceiver::extend`] hashed to random OTs: writes the message for the sender
    /// into `u` ([`message_blocks`]`(m)` blocks) and appends to `out` the `m` strings
    /// `H(t_i, i)` (as [`random_receiver`] computes them), batch by batch while the
    /// rows are in cache.
    ///
    /// # Errors
    /// [`Error::Shape`] if `choices` is not `tiles(m)` blocks or `u` is not
    /// [`message_blocks`]`(m)` blocks.
    pub fn extend_random(
        &mut self,
        choices: &[Block],
        m: usize,
        u: &mut [Block],
        out: &mut Vec<Block>,
    ) -> Result<()> {
        out.reserve(m);
        self.extend_random_with(choices, m, u, |_, y| out.extend_from_slice(y))
    }

    /// [`ExtReceiver::extend_random`] handing each batch's strings to `sink` (with the
    /// index within this extension of the batch's first transfer) instead of
    /// collecting them: a consumer that keeps a few bits of each string never stores
    /// the strings.
    ///
    /// # Errors
    /// As [`ExtReceiver::extend_random`].
    pub fn extend_random_with(
        &mut self,
        choices: &[Block],
        m: usize,
        u: &mut [Block],
        mut sink: impl FnMut(usize, &[Block]),
    ) -> Result<()> {
        let (first, hi) = (self.done, self.tweak_hi);
        let h = FixedKeyAes::get();
        // The hash's scratch, grown by the hash where it goes through memory.
        let mut px = std::mem::take(&mut self.scratch[2]);
        let r = self.extend_with(choices, m, u, |at, t| {
            tccr_seq(h, t, &mut px, hi, first + at as u64);
            sink(at, t);
        });
        self.scratch[2] = px;
        r
    }

    /// The extension in batches of [`BATCH_TILES`] tiles: the message into `u`, and
    /// each batch's rows handed to `sink` (which may overwrite them) with the index
    /// (within this extension) of its first transfer.
    pub(super) fn extend_with(
        &mut self,
        choices: &[Block],
        m: usize,
        u: &mut [Block],
        mut sink: impl FnMut(usize, &mut [Block]),
    ) -> Result<()> {
        let nt = tiles(m);
        if choices.len() != nt || u.len() != MSG_COLS * nt {
            return Err(Error::Shape {
                op: "OT extension (receiver)",
                detail: format!(
                    "{m} transfers take {nt} choice blocks and {} message blocks, got {} and {}",
                    MSG_COLS * nt,
                    choices.len(),
                    u.len()
                ),
            });
        }
        let mut t = sized(std::mem::take(&mut self.scratch[0]), KAPPA * BATCH_TILES);
        let mut rows = sized(std::mem::take(&mut self.scratch[1]), 128 * BATCH_TILES);
        let mut r3 = sized(std::mem::take(&mut self.scratch[3]), BATCH_TILES);
        for k0 in (0..nt).step_by(BATCH_TILES) {
            let bt = BATCH_TILES.min(nt - k0);
            let r = &choices[k0..k0 + bt];
            let r3 = &mut r3[..bt];
            for (c, [g0, g1, g2, g3]) in self.prgs.iter_mut().enumerate() {
                let (t0, t1) = t[2 * c * bt..(2 * c + 2) * bt].split_at_mut(bt);
                let d = &mut u[c * nt + k0..c * nt + k0 + bt];
                fill(g1, t0);
                fill(g2, t1);
                fill(g3, r3);
                fill(g0, d);
                // t_{2c} = R1 ⊕ R3, t_{2c+1} = R2 ⊕ R3, d = R0 ⊕ R1 ⊕ R2 ⊕ R3 ⊕ r.
                for i in 0..bt {
                    let (x1, x2, x3) = (t0[i], t1[i], r3[i]);
                    t0[i] = x1 ^ x3;
                    t1[i] = x2 ^ x3;
                    d[i] ^= x1 ^ x2 ^ x3 ^ r[i];
                }
            }
            let rows = &mut rows[..128 * bt];
            transpose_into(&t[..KAPPA * bt], bt, rows);
            let at = 128 * k0;
            sink(at, &mut rows[..(m - at).min(128 * bt)]);
        }
        self.scratch[0] = t;
        self.scratch[1] = rows;
        self.scratch[3] = r3;
        self.done += m as u64;
        Ok(())
    }
}

/// The two children of a GGM node: the first two blocks of the PRG it keys.
fn ggm(node: Block) -> [Block; 2] {
    let mut w = Vec::with_capacity(4);
    Prg::expand_words(node, 4, &mut w);
    let block = |lo: u64, hi: u64| Block(u128::from(lo) | (u128::from(hi) << 64));
    [block(w[0], w[1]), block(w[2], w[3])]
}

/// `v` with at least `n` elements (zeroed only where it grows; the callers overwrite
/// what they read).
fn sized<T: Copy + Default>(mut v: Vec<T>, n: usize) -> Vec<T> {
    if v.len() < n {
        v.resize(n, T::default());
    }
    v
}

impl ExtSender {
    /// From the bits `b` this party chose with as base-OT receiver and the 128 keys it
    /// received (`keys[j] = k_{b_j}`): the set-up's `Δ` is `¬b` (the leaf it lacks in
    /// each chunk is the one its choices did not name). It extends once the
    /// receiver's correction is in ([`ExtSender::correct`]).
    ///
    /// # Errors
    /// [`Error::Shape`] unless there are exactly [`KAPPA`] keys.
    pub fn from_base(delta: Block, keys: &[Block]) -> Result<Self> {
        if keys.len() != KAPPA {
            return Err(Error::Shape {
                op: "IKNP set-up",
                detail: format!("{KAPPA} base OTs needed, got {}", keys.len()),
            });
        }
        Ok(ExtSender {
            delta: Block(!delta.0),
            keys: keys.to_vec(),
            prgs: Vec::new(),
            done: 0,
            tweak_hi: 0,
            scratch: Default::default(),
            pairs: Vec::new(),
            spare: Vec::new(),
        })
    }

    /// The same set-up with `domain` in the high 64 bits of every hash tweak (see
    /// [`ExtReceiver::with_tweak_domain`]).
    #[must_use]
    pub fn with_tweak_domain(mut self, domain: u64) -> Self {
        self.tweak_hi = u128::from(domain) << 64;
        self
    }

    /// The global correlation `Δ` (secret: the sender's own).
    pub fn delta(&self) -> Block {
        self.delta
    }

    /// Whether the set-up still awaits the receiver's correction.
    pub fn awaits_correction(&self) -> bool {
        self.prgs.is_empty()
    }

    /// Completes the set-up with the receiver's correction
    /// ([`ExtReceiver::take_correction`]): the three leaves this party knows of each
    /// chunk, without a branch on `Δ`.
    ///
    /// # Errors
    /// [`Error::Protocol`] if it is not [`CORRECTION_BLOCKS`] blocks, or the set-up
    /// already has one.
    pub fn correct(&mut self, correction: &[Block]) -> Result<()> {
        if !self.awaits_correction() || correction.len() != CORRECTION_BLOCKS {
            return Err(Error::Protocol {
                step: "OT extension set-up",
                detail: format!(
                    "a correction of {} blocks, the set-up {}",
                    correction.len(),
                    if self.awaits_correction() {
                        format!("expecting {CORRECTION_BLOCKS}")
                    } else {
                        "having one already".into()
                    }
                ),
            });
        }
        let bit = |j: usize| Block(0u128.wrapping_sub((self.delta.0 >> j) & 1));
        // `if1` where the mask is all ones, else `if0`.
        let sel = |m: Block, if1: Block, if0: Block| (if1 & m) ^ (if0 & Block(!m.0));
        self.prgs = (0..MSG_COLS)
            .map(|c| {
                let m1 = bit(2 * c + 1);
                // Level one: the key of node 1 - Δ_{2c}; both its children are leaves
                // this party knows, (1 - Δ_{2c}, y) for y = 0, 1.
                let g = ggm(self.keys[2 * c]);
                let (same, flip) = (sel(m1, g[1], g[0]), sel(m1, g[0], g[1]));
                // Leaf (Δ_{2c}, 1 - Δ_{2c+1}): the correction's block 1 - Δ_{2c+1} is
                // both level-one nodes' children of that index and base OT 2c + 1's
                // key of that index (this party's key), so it takes out the one known.
                let corr = sel(m1, correction[2 * c], correction[2 * c + 1]);
                let h = corr ^ self.keys[2 * c + 1] ^ flip;
                // By y = x ⊕ Δ_c: y = 1 is (1 - Δ_{2c}, Δ_{2c+1}), y = 2 is
                // (Δ_{2c}, 1 - Δ_{2c+1}), y = 3 is (1 - Δ_{2c}, 1 - Δ_{2c+1}).
                [same, h, flip].map(Prg::from_seed_block)
            })
            .collect();
        self.keys.clear();
        Ok(())
    }

    /// Transfers extended so far by this set-up (the next one's index).
    pub fn done(&self) -> u64 {
        self.done
    }

    /// One extension of `m` transfers from the receiver's message `u`: the rows `q_i`
    /// (`m` blocks), `q_i ⊕ r_i·Δ` being the receiver's `t_i`.
    ///
    /// # Errors
    /// [`Error::Protocol`] if `u` is not [`message_blocks`]`(m)` blocks, or before the
    /// set-up's correction.
    pub fn extend(&mut self, u: &[Block], m: usize) -> Result<Vec<Block>> {
        let mut rows = Vec::with_capacity(m);
        self.extend_with(u, m, |_, q| rows.extend_from_slice(q))?;
        Ok(rows)
    }

    /// [`ExtSender::extend`] hashed to random OTs: appends to `out` the `m` pairs
    /// `(H(q_i, i), H(q_i ⊕ Δ, i))` (as [`random_sender`] computes them), batch by
    /// batch while the rows are in cache.
    ///
    /// # Errors
    /// As [`ExtSender::extend`].
    pub fn extend_random(
        &mut self,
        u: &[Block],
        m: usize,
        out: &mut Vec<[Block; 2]>,
    ) -> Result<()> {
        out.reserve(m);
        self.extend_random_with(u, m, |_, x| out.extend_from_slice(x))
    }

    /// [`ExtSender::extend_random`] handing each batch's pairs to `sink` (with the
    /// index within this extension of the batch's first transfer) instead of
    /// collecting them.
    ///
    /// # Errors
    /// As [`ExtSender::extend`].
    pub fn extend_random_with(
        &mut self,
        u: &[Block],
        m: usize,
        mut sink: impl FnMut(usize, &[[Block; 2]]),
    ) -> Result<()> {
        let (first, hi) = (self.done, self.tweak_hi);
        let delta = self.delta;
        let h = FixedKeyAes::get();
        let n = 128 * BATCH_TILES;
        let mut x = sized(std::mem::take(&mut self.pairs), n);
        let mut px = std::mem::take(&mut self.scratch[2]);
        let r = self.extend_with(u, m, |at, q| {
            let x = &mut x[..q.len()];
            for (x, &q) in x.iter_mut().zip(q.iter()) {
                *x = [q, q ^ delta];
            }
            tccr_pairs(h, x, &mut px, hi, first + at as u64);
            sink(at, x);
        });
        self.pairs = x;
        self.scratch[2] = px;
        r
    }

    /// The extension in batches of [`BATCH_TILES`] tiles, each batch's rows handed to
    /// `sink` with the index (within this extension) of its first transfer.
    pub(super) fn extend_with(
        &mut self,
        u: &[Block],
        m: usize,
        mut sink: impl FnMut(usize, &mut [Block]),
    ) -> Result<()> {
        let nt = tiles(m);
        if u.len() != MSG_COLS * nt || self.awaits_correction() {
            return Err(Error::Protocol {
                step: "OT extension (sender)",
                detail: if self.awaits_correction() {
                    "an extension before the set-up's correction".into()
                } else {
                    format!(
                        "{m} transfers take {} blocks from the receiver, got {}",
                        MSG_COLS * nt,
                        u.len()
                    )
                },
            });
        }
        let mut q = sized(std::mem::take(&mut self.scratch[0]), KAPPA * BATCH_TILES);
        let mut rows = sized(std::mem::take(&mut self.scratch[1]), 128 * BATCH_TILES);
        let mut w3 = sized(std::mem::take(&mut self.scratch[3]), BATCH_TILES);
        let mask = |j: usize| Block(0u128.wrapping_sub((self.delta.0 >> j) & 1));
        for k0 in (0..nt).step_by(BATCH_TILES) {
            let bt = BATCH_TILES.min(nt - k0);
            let w3 = &mut w3[..bt];
            for (c, [g1, g2, g3]) in self.prgs.iter_mut().enumerate() {
                let (q0, q1) = q[2 * c * bt..(2 * c + 2) * bt].split_at_mut(bt);
                let d = &u[c * nt + k0..c * nt + k0 + bt];
                fill(g1, q0);
                fill(g2, q1);
                fill(g3, w3);
                // Δ_j·d without a branch on the secret bits.
                let (m0, m1) = (mask(2 * c), mask(2 * c + 1));
                for i in 0..bt {
                    let (x3, d) = (w3[i], d[i]);
                    q0[i] ^= x3 ^ (d & m0);
                    q1[i] ^= x3 ^ (d & m1);
                }
            }
            let rows = &mut rows[..128 * bt];
            transpose_into(&q[..KAPPA * bt], bt, rows);
            let at = 128 * k0;
            sink(at, &mut rows[..(m - at).min(128 * bt)]);
        }
        self.scratch[0] = q;
        self.scratch[1] = rows;
        self.scratch[3] = w3;
        self.done += m as u64;
        Ok(())
    }
}

/// `H(x_i, hi | (first + i))` in place for every `x_i`, `H` the tweakable hash of
/// [`FixedKeyAes::tccr_many`] (`π(π(x) ⊕ i) ⊕ π(x)`), with `px` as scratch and the
/// tweaks made on the fly (`hi`: the set-up's tweak domain in the high 64 bits).
fn tccr_seq(h: &FixedKeyAes, xs: &mut [Block], px: &mut Vec<Block>, hi: u128, first: u64) {
    h.tccr_counted(xs, px, hi, first, 1);
}

/// [`tccr_seq`] for pairs `(x0_i, x1_i)` of strings of one transfer each, hashed in
/// place with the transfer's tweak `hi | (first + i)`.
fn tccr_pairs(h: &FixedKeyAes, xs: &mut [[Block; 2]], px: &mut Vec<Block>, hi: u128, first: u64) {
    h.tccr_counted(bytemuck::cast_slice_mut(xs), px, hi, first, 2);
}

/// The tweaks of `n` transfers starting at index `first` of a set-up.
fn tweaks(first: u64, n: usize) -> Vec<Block> {
    (0..n as u64)
        .map(|i| Block(u128::from(first + i)))
        .collect()
}

/// Random OTs from the sender's correlated rows of the extension that started at
/// transfer `first`: `(H(q_i, i), H(q_i ⊕ Δ, i))`.
pub fn random_sender(rows: &[Block], delta: Block, first: u64) -> Vec<[Block; 2]> {
    let tw = tweaks(first, rows.len());
    let mut x0 = rows.to_vec();
    let mut x1: Vec<Block> = rows.iter().map(|&q| q ^ delta).collect();
    let h = FixedKeyAes::get();
    h.tccr_many(&mut x0, &tw);
    h.tccr_many(&mut x1, &tw);
    x0.into_iter().zip(x1).map(|(a, b)| [a, b]).collect()
}

/// The receiver's random-OT strings `H(t_i, i) = x_{r_i}` for the same extension.
pub fn random_receiver(rows: &[Block], first: u64) -> Vec<Block> {
    let tw = tweaks(first, rows.len());
    let mut y = rows.to_vec();
    FixedKeyAes::get().tccr_many(&mut y, &tw);
    y
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Base OTs done "by hand" (the relation only; base.rs tests the real ones): the
    /// receiver's choice bits, the keys they name, the sender's pairs.
    fn base(seed: u128) -> (Block, Vec<Block>, Vec<[Block; 2]>) {
        let mut prg = Prg::from_seed_block(Block(seed));
        let pairs: Vec<[Block; 2]> = (0..KAPPA)
            .map(|_| [prg.gen_seed(), prg.gen_seed()])
            .collect();
        let delta = prg.gen_seed();
        let keys: Vec<Block> = (0..KAPPA)
            .map(|j| pairs[j][((delta.0 >> j) & 1) as usize])
            .collect();
        (delta, keys, pairs)
    }

    /// A set-up from [`base`], its correction applied.
    fn set_up(seed: u128) -> (ExtSender, ExtReceiver) {
        let (delta, keys, pairs) = base(seed);
        let mut s = ExtSender::from_base(delta, &keys).unwrap();
        let mut r = ExtReceiver::from_base(&pairs).unwrap();
        s.correct(&r.take_correction().unwrap()).unwrap();
        assert_eq!(
            s.delta(),
            Block(!delta.0),
            "Δ is the complement of the choices"
        );
        (s, r)
    }

    #[test]
    fn correlated_rows_differ_by_delta_where_chosen() {
        // Several set-ups: every chunk's two bits of Δ take each of their four values
        // in some of them (each chunk a GGM tree punctured at a different leaf).
        for seed in 3..11 {
            let (mut s, mut r) = set_up(seed);
            for m in [1, 127, 128, 129, 1000] {
                let bits: Vec<bool> = (0..m).map(|i| (i * 31 + m) % 3 == 0).collect();
                let (u, t) = r.extend(&pack_bits(&bits), m).unwrap();
                assert_eq!(u.len(), message_blocks(m), "8 bytes per transfer");
                let q = s.extend(&u, m).unwrap();
                assert_eq!((q.len(), t.len()), (m, m));
                for i in 0..m {
                    let want = if bits[i] { q[i] ^ s.delta() } else { q[i] };
                    assert_eq!(t[i], want, "set-up {seed}, m = {m}, transfer {i}");
                }
            }
            assert_eq!(s.done(), r.done());
        }
    }

    #[test]
    fn the_correction_comes_once_and_first() {
        let (delta, keys, pairs) = base(99);
        let mut s = ExtSender::from_base(delta, &keys).unwrap();
        let mut r = ExtReceiver::from_base(&pairs).unwrap();
        let (u, t) = r.extend(&pack_bits(&[true; 10]), 10).unwrap();
        assert!(s.awaits_correction());
        assert!(
            s.extend(&u, 10).is_err(),
            "no extension before the correction"
        );
        let c = r.take_correction().unwrap();
        assert_eq!(c.len(), CORRECTION_BLOCKS);
        assert!(r.take_correction().is_none(), "taken once");
        assert!(s.correct(&c[1..]).is_err(), "a short correction");
        s.correct(&c).unwrap();
        assert!(s.correct(&c).is_err(), "a second correction");
        let q = s.extend(&u, 10).unwrap();
        assert!((0..10).all(|i| t[i] == q[i] ^ s.delta()));
        // A different correction gives rows that do not correlate.
        let mut bad = c.clone();
        bad[5] ^= Block(1);
        let mut s2 = ExtSender::from_base(delta, &keys).unwrap();
        s2.correct(&bad).unwrap();
        let mut r2 = ExtReceiver::from_base(&pairs).unwrap();
        let (u2, t2) = r2.extend(&pack_bits(&[false; 300]), 300).unwrap();
        let q2 = s2.extend(&u2, 300).unwrap();
        assert!((0..300).any(|i| t2[i] != q2[i]));
    }

    #[test]
    fn fused_random_ots_equal_the_hashed_rows() {
        // Two identical set-ups: one extends then hashes, the other hashes batch by
        // batch. Sizes off tiles and batches, several extensions (tweaks continue).
        let (mut s1, mut r1) = set_up(7);
        let (mut s2, mut r2) = set_up(7);
        for m in [1, 200, 128 * BATCH_TILES, 128 * BATCH_TILES * 2 + 77, 5000] {
            let bits: Vec<bool> = (0..m).map(|i| (i * 7 + m) % 5 < 2).collect();
            let packed = pack_bits(&bits);
            let (first_s, first_r) = (s1.done(), r1.done());
            let (u, t) = r1.extend(&packed, m).unwrap();
            let q = s1.extend(&u, m).unwrap();
            let want_r = random_receiver(&t, first_r);
            let want_s = random_sender(&q, s1.delta(), first_s);
            let mut u2 = vec![Block::ZERO; message_blocks(m)];
            let (mut got_r, mut got_s) = (Vec::new(), Vec::new());
            r2.extend_random(&packed, m, &mut u2, &mut got_r).unwrap();
            s2.extend_random(&u2, m, &mut got_s).unwrap();
            assert!(u2 == u, "m = {m}: the same message");
            assert!(got_r == want_r && got_s == want_s, "m = {m}");
            for i in 0..m {
                assert_eq!(got_r[i], got_s[i][usize::from(bits[i])], "m = {m}, {i}");
            }
        }
        assert_eq!((s1.done(), r1.done()), (s2.done(), r2.done()));
    }

    #[test]
    fn packing_matches_the_definition() {
        for n in [0, 1, 63, 64, 65, 127, 128, 129, 300] {
            let bits: Vec<bool> = (0..n).map(|i| (i * 13 + n) % 3 == 1).collect();
            let packed = pack_bits(&bits);
            assert_eq!(packed.len(), tiles(n));
            for (i, &b) in bits.iter().enumerate() {
                assert_eq!((packed[i / 128].0 >> (i % 128)) & 1 == 1, b, "n = {n}, {i}");
            }
            for (k, w) in packed.iter().enumerate() {
                let used = (n - 128 * k).min(128);
                assert!(used == 128 || w.0 >> used == 0, "n = {n}: no stray bits");
            }
        }
    }

    #[test]
    fn wrong_lengths_are_errors() {
        let (mut s, mut r) = set_up(4);
        assert!(r.extend(&[Block::ZERO; 2], 100).is_err());
        assert!(s.extend(&[Block::ZERO; MSG_COLS - 1], 100).is_err());
        let mut out = Vec::new();
        let mut u = vec![Block::ZERO; MSG_COLS];
        assert!(
            r.extend_random(&[Block::ZERO], 100, &mut u[..MSG_COLS - 1], &mut out)
                .is_err()
        );
        assert!(
            r.extend_random(&[Block::ZERO], 200, &mut u, &mut out)
                .is_err()
        );
        assert!(
            s.extend_random(&u[..MSG_COLS - 1], 100, &mut Vec::new())
                .is_err()
        );
        assert!(ExtReceiver::from_base(&[[Block::ZERO; 2]; 3]).is_err());
        assert!(ExtSender::from_base(Block::ZERO, &[Block::ZERO; 129]).is_err());
    }
}
