//! IKNP oblivious-transfer extension (Ishai, Kilian, Nissim, Petrank, CRYPTO 2003),
//! semi-honest, as pure steps.
//!
//! Set-up: κ = 128 base OTs *in the other direction* — the extension receiver sends
//! 128 pairs of seeds `(k0_j, k1_j)`, the extension sender chooses with the bits of a
//! secret `Δ` and holds `k_{Δ_j}`. Each seed keys an AES-CTR PRG that stays with its
//! party for every later extension (the extensions of one set-up never reuse PRG
//! output).
//!
//! Extension of `m` transfers with the receiver's choice bits `r` (one message,
//! receiver → sender, 16 bytes per transfer):
//! - receiver: column `t_j = G(k0_j)`, message column `u_j = t_j ⊕ G(k1_j) ⊕ r`;
//! - sender: `q_j = G(k_{Δ_j}) ⊕ Δ_j·u_j = t_j ⊕ Δ_j·r`;
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

/// The extension receiver: two PRGs per base OT. PRG keys never appear in `Debug`.
pub struct ExtReceiver {
    prgs: Vec<[Prg; 2]>,
    done: u64,
    /// High 64 bits of every hash tweak of this set-up ([`ExtReceiver::with_tweak_domain`]).
    tweak_hi: u128,
    /// Buffers of one batch (columns, rows, the hash's scratch), kept from one
    /// extension to the next: a buffer of this size is mapped and unmapped by the
    /// allocator on every allocation, page faults and TLB shoot-downs included.
    scratch: [Vec<Block>; 3],
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

/// The extension sender: `Δ` and one PRG per base OT. Neither appears in `Debug`.
pub struct ExtSender {
    delta: Block,
    prgs: Vec<Prg>,
    done: u64,
    /// High 64 bits of every hash tweak of this set-up ([`ExtSender::with_tweak_domain`]).
    tweak_hi: u128,
    /// Buffers of one batch (columns, rows, the hash's scratch), kept from one
    /// extension to the next (see [`ExtReceiver`]'s).
    scratch: [Vec<Block>; 3],
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
        Ok(ExtReceiver {
            prgs: pairs
                .iter()
                .map(|p| [Prg::from_seed_block(p[0]), Prg::from_seed_block(p[1])])
                .collect(),
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

    /// One extension of `m` transfers with packed `choices` ([`pack_bits`]): the
    /// message for the sender (`128 · tiles(m)` blocks, column-major) and this party's
    /// rows `t_i` (`m` blocks).
    ///
    /// # Errors
    /// [`Error::Shape`] if `choices` is not `tiles(m)` blocks.
    pub fn extend(&mut self, choices: &[Block], m: usize) -> Result<(Vec<Block>, Vec<Block>)> {
        let mut u = vec![Block::ZERO; KAPPA * tiles(m)];
        let mut rows = Vec::with_capacity(m);
        self.extend_with(choices, m, &mut u, |_, t| rows.extend_from_slice(t))?;
        Ok((u, rows))
    }

    /// [`ExtReceiver::extend`] hashed to random OTs: writes the message for the sender
    /// into `u` (`128 · tiles(m)` blocks) and appends to `out` the `m` strings
    /// `H(t_i, i)` (as [`random_receiver`] computes them), batch by batch while the
    /// rows are in cache.
    ///
    /// # Errors
    /// [`Error::Shape`] if `choices` is not `tiles(m)` blocks or `u` is not
    /// `128 · tiles(m)` blocks.
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
        let mut px = sized(std::mem::take(&mut self.scratch[2]), 128 * BATCH_TILES);
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
        if choices.len() != nt || u.len() != KAPPA * nt {
            return Err(Error::Shape {
                op: "IKNP extension (receiver)",
                detail: format!(
                    "{m} transfers take {nt} choice blocks and {} message blocks, got {} and {}",
                    KAPPA * nt,
                    choices.len(),
                    u.len()
                ),
            });
        }
        let mut t = sized(std::mem::take(&mut self.scratch[0]), KAPPA * BATCH_TILES);
        let mut rows = sized(std::mem::take(&mut self.scratch[1]), 128 * BATCH_TILES);
        for k0 in (0..nt).step_by(BATCH_TILES) {
            let bt = BATCH_TILES.min(nt - k0);
            let r = &choices[k0..k0 + bt];
            for (j, [g0, g1]) in self.prgs.iter_mut().enumerate() {
                let tj = &mut t[j * bt..(j + 1) * bt];
                let uj = &mut u[j * nt + k0..j * nt + k0 + bt];
                fill(g0, tj);
                fill(g1, uj);
                for ((u, t), r) in uj.iter_mut().zip(tj.iter()).zip(r) {
                    *u ^= *t ^ *r;
                }
            }
            let rows = &mut rows[..128 * bt];
            transpose_into(&t[..KAPPA * bt], bt, rows);
            let at = 128 * k0;
            sink(at, &mut rows[..(m - at).min(128 * bt)]);
        }
        self.scratch[0] = t;
        self.scratch[1] = rows;
        self.done += m as u64;
        Ok(())
    }
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
    /// From the secret `Δ` this party chose with as base-OT receiver and the 128 keys
    /// it received (`keys[j] = k_{Δ_j}`).
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
            delta,
            prgs: keys.iter().map(|&k| Prg::from_seed_block(k)).collect(),
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

    /// Transfers extended so far by this set-up (the next one's index).
    pub fn done(&self) -> u64 {
        self.done
    }

    /// One extension of `m` transfers from the receiver's message `u`: the rows `q_i`
    /// (`m` blocks), `q_i ⊕ r_i·Δ` being the receiver's `t_i`.
    ///
    /// # Errors
    /// [`Error::Protocol`] if `u` is not `128 · tiles(m)` blocks.
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
        let mut px = sized(std::mem::take(&mut self.scratch[2]), 2 * n);
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
        if u.len() != KAPPA * nt {
            return Err(Error::Protocol {
                step: "IKNP extension (sender)",
                detail: format!(
                    "{m} transfers take {} blocks from the receiver, got {}",
                    KAPPA * nt,
                    u.len()
                ),
            });
        }
        let mut q = sized(std::mem::take(&mut self.scratch[0]), KAPPA * BATCH_TILES);
        let mut rows = sized(std::mem::take(&mut self.scratch[1]), 128 * BATCH_TILES);
        for k0 in (0..nt).step_by(BATCH_TILES) {
            let bt = BATCH_TILES.min(nt - k0);
            for (j, g) in self.prgs.iter_mut().enumerate() {
                let qj = &mut q[j * bt..(j + 1) * bt];
                fill(g, qj);
                // Δ_j·u_j without a branch on the secret bit.
                let mask = Block(0u128.wrapping_sub((self.delta.0 >> j) & 1));
                for (q, u) in qj.iter_mut().zip(&u[j * nt + k0..j * nt + k0 + bt]) {
                    *q ^= *u & mask;
                }
            }
            let rows = &mut rows[..128 * bt];
            transpose_into(&q[..KAPPA * bt], bt, rows);
            let at = 128 * k0;
            sink(at, &mut rows[..(m - at).min(128 * bt)]);
        }
        self.scratch[0] = q;
        self.scratch[1] = rows;
        self.done += m as u64;
        Ok(())
    }
}

/// `H(x_i, hi | (first + i))` in place for every `x_i`, `H` the tweakable hash of
/// [`FixedKeyAes::tccr_many`] (`π(π(x) ⊕ i) ⊕ π(x)`), with `px` (at least as long as
/// `xs`) as scratch and the tweaks made on the fly (`hi`: the set-up's tweak domain in
/// the high 64 bits).
fn tccr_seq(h: &FixedKeyAes, xs: &mut [Block], px: &mut [Block], hi: u128, first: u64) {
    let px = &mut px[..xs.len()];
    h.permute_into(xs, px);
    for ((x, &p), i) in xs.iter_mut().zip(px.iter()).zip(first..) {
        *x = p ^ Block(hi | u128::from(i));
    }
    h.permute_many(xs);
    for (x, &p) in xs.iter_mut().zip(px.iter()) {
        *x ^= p;
    }
}

/// [`tccr_seq`] for pairs `(x0_i, x1_i)` of strings of one transfer each, hashed in
/// place with the transfer's tweak `hi | (first + i)` (`px` at least twice as long as
/// `xs`).
fn tccr_pairs(h: &FixedKeyAes, xs: &mut [[Block; 2]], px: &mut [Block], hi: u128, first: u64) {
    let flat: &mut [Block] = bytemuck::cast_slice_mut(xs);
    let px = &mut px[..flat.len()];
    h.permute_into(flat, px);
    for ((x, p), i) in flat
        .chunks_exact_mut(2)
        .zip(px.chunks_exact(2))
        .zip(first..)
    {
        let t = Block(hi | u128::from(i));
        x[0] = p[0] ^ t;
        x[1] = p[1] ^ t;
    }
    h.permute_many(flat);
    for (x, &p) in flat.iter_mut().zip(px.iter()) {
        *x ^= p;
    }
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

    /// Base OTs done "by hand" (the relation only; base.rs tests the real ones).
    fn set_up(seed: u128) -> (ExtSender, ExtReceiver) {
        let mut prg = Prg::from_seed_block(Block(seed));
        let pairs: Vec<[Block; 2]> = (0..KAPPA)
            .map(|_| [prg.gen_seed(), prg.gen_seed()])
            .collect();
        let delta = prg.gen_seed();
        let keys: Vec<Block> = (0..KAPPA)
            .map(|j| pairs[j][((delta.0 >> j) & 1) as usize])
            .collect();
        (
            ExtSender::from_base(delta, &keys).unwrap(),
            ExtReceiver::from_base(&pairs).unwrap(),
        )
    }

    #[test]
    fn correlated_rows_differ_by_delta_where_chosen() {
        let (mut s, mut r) = set_up(3);
        for m in [1, 127, 128, 129, 1000] {
            let bits: Vec<bool> = (0..m).map(|i| (i * 31 + m) % 3 == 0).collect();
            let (u, t) = r.extend(&pack_bits(&bits), m).unwrap();
            let q = s.extend(&u, m).unwrap();
            assert_eq!((q.len(), t.len()), (m, m));
            for i in 0..m {
                let want = if bits[i] { q[i] ^ s.delta() } else { q[i] };
                assert_eq!(t[i], want, "m = {m}, transfer {i}");
            }
        }
        assert_eq!(s.done(), r.done());
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
            let mut u2 = vec![Block::ZERO; KAPPA * tiles(m)];
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
        assert!(s.extend(&[Block::ZERO; 127], 100).is_err());
        let mut out = Vec::new();
        let mut u = vec![Block::ZERO; KAPPA];
        assert!(
            r.extend_random(&[Block::ZERO], 100, &mut u[..127], &mut out)
                .is_err()
        );
        assert!(
            r.extend_random(&[Block::ZERO], 200, &mut u, &mut out)
                .is_err()
        );
        assert!(s.extend_random(&u[..127], 100, &mut Vec::new()).is_err());
        assert!(ExtReceiver::from_base(&[[Block::ZERO; 2]; 3]).is_err());
        assert!(ExtSender::from_base(Block::ZERO, &[Block::ZERO; 129]).is_err());
    }
}
