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

use super::transpose::rows_from_columns;
use crate::{Error, Result};

/// The security parameter: base OTs per set-up, bits of `Δ`.
pub const KAPPA: usize = 128;

/// Tiles (128 transfers each) needed for `m` transfers.
pub fn tiles(m: usize) -> usize {
    m.div_ceil(128)
}

/// Packs choice bits into blocks: bit `i % 128` of block `i / 128` is `bits[i]`.
pub fn pack_bits(bits: &[bool]) -> Vec<Block> {
    let mut out = vec![Block::ZERO; tiles(bits.len())];
    for (i, &b) in bits.iter().enumerate() {
        out[i / 128].0 |= u128::from(b) << (i % 128);
    }
    out
}

/// The extension receiver: two PRGs per base OT. PRG keys never appear in `Debug`.
pub struct ExtReceiver {
    prgs: Vec<[Prg; 2]>,
    done: u64,
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
        })
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
        let nt = tiles(m);
        if choices.len() != nt {
            return Err(Error::Shape {
                op: "IKNP extension (receiver)",
                detail: format!(
                    "{m} transfers take {nt} choice blocks, got {}",
                    choices.len()
                ),
            });
        }
        let mut t = vec![Block::ZERO; KAPPA * nt];
        let mut u = vec![Block::ZERO; KAPPA * nt];
        for (j, [g0, g1]) in self.prgs.iter_mut().enumerate() {
            let tj = &mut t[j * nt..(j + 1) * nt];
            let uj = &mut u[j * nt..(j + 1) * nt];
            fill(g0, tj);
            fill(g1, uj);
            for ((u, t), r) in uj.iter_mut().zip(tj.iter()).zip(choices) {
                *u ^= *t ^ *r;
            }
        }
        let mut rows = rows_from_columns(&t);
        rows.truncate(m);
        self.done += m as u64;
        Ok((u, rows))
    }
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
        })
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
        let mut q = vec![Block::ZERO; KAPPA * nt];
        for (j, g) in self.prgs.iter_mut().enumerate() {
            let qj = &mut q[j * nt..(j + 1) * nt];
            fill(g, qj);
            if (self.delta.0 >> j) & 1 == 1 {
                for (q, u) in qj.iter_mut().zip(&u[j * nt..(j + 1) * nt]) {
                    *q ^= *u;
                }
            }
        }
        let mut rows = rows_from_columns(&q);
        rows.truncate(m);
        self.done += m as u64;
        Ok(rows)
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
    fn wrong_lengths_are_errors() {
        let (mut s, mut r) = set_up(4);
        assert!(r.extend(&[Block::ZERO; 2], 100).is_err());
        assert!(s.extend(&[Block::ZERO; 127], 100).is_err());
        assert!(ExtReceiver::from_base(&[[Block::ZERO; 2]; 3]).is_err());
        assert!(ExtSender::from_base(Block::ZERO, &[Block::ZERO; 129]).is_err());
    }
}
