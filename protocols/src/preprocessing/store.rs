//! The [`Provider`] trait and the in-memory [`Store`] that implements it.

use std::borrow::Cow;
use std::collections::VecDeque;
use std::io::Read;

use tessera_core::{BitVec, Block, Ring, SessionId};

use super::items::{
    AndTriples, BeaverTriple, Correlation, DaBits, PlainWeightShare, RandomOts, SquarePair,
    TruncPair, WeightMaskShare,
};
use super::{Body, Demand, Expander, OpenedMaterial, PartyMaterial, Request};
use crate::arith::bilinear::BilinearOp;
use crate::{Error, Result};

/// Hands out correlations online, in demand order. Implemented by [`Store`] (material
/// from the dealer or a file); a dealer-free, OT-based provider would implement it too.
///
/// The typed `take_*` methods are what protocols call; each checks that the next
/// correlation is the one asked for.
pub trait Provider<R: Ring>: Send {
    /// This party's index (0 or 1).
    fn party(&self) -> usize;

    /// The next correlation, which must match `req` (same kind and shapes; for AND
    /// triples, random OTs and daBits a request may take a prefix of the next item).
    ///
    /// # Errors
    /// [`Error::Exhausted`] if nothing (or not enough) is left,
    /// [`Error::WrongCorrelation`] if the next item is of another kind or shape.
    fn take(&mut self, req: &Request) -> Result<Correlation<R>>;

    /// Correlation items left.
    fn remaining(&self) -> usize;

    /// A Beaver triple for `op` on operands shaped `a`, `b`.
    ///
    /// # Errors
    /// As [`Provider::take`].
    fn take_beaver(&mut self, op: BilinearOp, a: &[usize], b: &[usize]) -> Result<BeaverTriple<R>> {
        let req = Request::Beaver {
            op,
            a: a.to_vec(),
            b: b.to_vec(),
        };
        match self.take(&req)? {
            Correlation::Beaver(t) => Ok(t),
            other => Err(mismatch(&req, &other)),
        }
    }

    /// A square pair of `shape`.
    ///
    /// # Errors
    /// As [`Provider::take`].
    fn take_square(&mut self, shape: &[usize]) -> Result<SquarePair<R>> {
        let req = Request::Square {
            shape: shape.to_vec(),
        };
        match self.take(&req)? {
            Correlation::Square(t) => Ok(t),
            other => Err(mismatch(&req, &other)),
        }
    }

    /// Truncation material by `frac_bits` for a `shape` tensor.
    ///
    /// # Errors
    /// As [`Provider::take`].
    fn take_trunc(&mut self, frac_bits: u32, shape: &[usize]) -> Result<TruncPair<R>> {
        let req = Request::Trunc {
            frac_bits,
            shape: shape.to_vec(),
        };
        match self.take(&req)? {
            Correlation::Trunc(t) => Ok(t),
            other => Err(mismatch(&req, &other)),
        }
    }

    /// `bits` AND triples.
    ///
    /// # Errors
    /// As [`Provider::take`].
    fn take_and_triples(&mut self, bits: usize) -> Result<AndTriples> {
        let req = Request::AndTriples { bits };
        match self.take(&req)? {
            Correlation::And(t) => Ok(t),
            other => Err(mismatch(&req, &other)),
        }
    }

    /// `count` random OTs sent by `sender`.
    ///
    /// # Errors
    /// As [`Provider::take`].
    fn take_random_ots(&mut self, count: usize, sender: usize) -> Result<RandomOts> {
        let req = Request::RandomOts { count, sender };
        match self.take(&req)? {
            Correlation::Rot(t) => Ok(t),
            other => Err(mismatch(&req, &other)),
        }
    }

    /// `count` daBits.
    ///
    /// # Errors
    /// As [`Provider::take`].
    fn take_dabits(&mut self, count: usize) -> Result<DaBits<R>> {
        let req = Request::DaBits { count };
        match self.take(&req)? {
            Correlation::DaBits(t) => Ok(t),
            other => Err(mismatch(&req, &other)),
        }
    }

    /// A weight mask for a `shape` weight.
    ///
    /// # Errors
    /// As [`Provider::take`].
    fn take_weight_mask(&mut self, shape: &[usize]) -> Result<WeightMaskShare<R>> {
        let req = Request::WeightMask {
            shape: shape.to_vec(),
        };
        match self.take(&req)? {
            Correlation::WeightMask(t) => Ok(t),
            other => Err(mismatch(&req, &other)),
        }
    }

    /// One inference's plaintext-weight material.
    ///
    /// # Errors
    /// As [`Provider::take`].
    fn take_plain_weight(
        &mut self,
        op: BilinearOp,
        mask: usize,
        act: &[usize],
        weight: &[usize],
    ) -> Result<PlainWeightShare<R>> {
        let req = Request::PlainWeight {
            op,
            mask,
            act: act.to_vec(),
            weight: weight.to_vec(),
        };
        match self.take(&req)? {
            Correlation::PlainWeight(t) => Ok(t),
            other => Err(mismatch(&req, &other)),
        }
    }
}

fn mismatch<R: Ring>(req: &Request, got: &Correlation<R>) -> Error {
    Error::WrongCorrelation {
        expected: req.to_string(),
        found: format!("{got:?}"),
    }
}

/// Splits off the first `n` bits.
fn split_bits(v: &BitVec, n: usize) -> Result<(BitVec, BitVec)> {
    let words = v.words();
    let head_words = n.div_ceil(64);
    let head = BitVec::from_words(n, words[..head_words].to_vec())?;
    let rest_len = v.len() - n;
    let (q, r) = (n / 64, n % 64);
    let rest_words: Vec<u64> = (0..rest_len.div_ceil(64))
        .map(|i| {
            let lo = words.get(q + i).copied().unwrap_or(0);
            if r == 0 {
                lo
            } else {
                let hi = words.get(q + i + 1).copied().unwrap_or(0);
                (lo >> r) | (hi << (64 - r))
            }
        })
        .collect();
    Ok((head, BitVec::from_words(rest_len, rest_words)?))
}

/// Splits the first `n` units off a splittable correlation.
fn split_front<R: Ring>(
    item: Correlation<R>,
    n: usize,
) -> Result<(Correlation<R>, Correlation<R>)> {
    Ok(match item {
        Correlation::And(t) => {
            let (a, a2) = split_bits(&t.a, n)?;
            let (b, b2) = split_bits(&t.b, n)?;
            let (c, c2) = split_bits(&t.c, n)?;
            (
                Correlation::And(AndTriples { a, b, c }),
                Correlation::And(AndTriples {
                    a: a2,
                    b: b2,
                    c: c2,
                }),
            )
        }
        Correlation::Rot(RandomOts::Sender { mut m0, mut m1 }) => {
            let (r0, r1) = (m0.split_off(n), m1.split_off(n));
            (
                Correlation::Rot(RandomOts::Sender { m0, m1 }),
                Correlation::Rot(RandomOts::Sender { m0: r0, m1: r1 }),
            )
        }
        Correlation::Rot(RandomOts::Receiver {
            choices,
            mut chosen,
        }) => {
            let rest = chosen.split_off(n);
            let (c, c2) = split_bits(&choices, n)?;
            (
                Correlation::Rot(RandomOts::Receiver { choices: c, chosen }),
                Correlation::Rot(RandomOts::Receiver {
                    choices: c2,
                    chosen: rest,
                }),
            )
        }
        Correlation::DaBits(d) => {
            let mut arith = d.arith;
            let rest = arith.split_off(n);
            let (b, b2) = split_bits(&d.boolean, n)?;
            (
                Correlation::DaBits(DaBits { arith, boolean: b }),
                Correlation::DaBits(DaBits {
                    arith: rest,
                    boolean: b2,
                }),
            )
        }
        other => {
            return Err(Error::Protocol {
                step: "preprocessing store",
                detail: format!("{other:?} cannot be split"),
            });
        }
    })
}

/// Bytes of material a [`Store`] expands ahead of use when it is made (the rest is
/// expanded as it is taken): small runs expand everything before the online phase, a
/// large run's memory stays this bound plus the item in use.
pub const EXPAND_AHEAD_BYTES: usize = 1 << 30;

/// One party's correlations, handed out in demand order. Made from seed-compressed
/// material ([`PartyMaterial`]): it expands requests ahead of use up to
/// [`EXPAND_AHEAD_BYTES`] when made, and each later one when it is taken, so it holds
/// only the seed, party 1's corrections and what it has expanded but not handed out.
pub struct Store<R: Ring> {
    party: usize,
    session: SessionId,
    /// Expanded, not handed out yet (the front may be the rest of a split item).
    items: VecDeque<(Request, Correlation<R>)>,
    expander: Expander<R>,
    corrections: Corrections,
    taken: usize,
}

/// Party 1's corrections, read in demand order: in memory, or from a reader (a file
/// the dealer's corrections were written to as they arrived).
enum Corrections {
    Memory { bytes: Vec<u8>, off: usize },
    Reader(Box<dyn Read + Send>),
}

impl Corrections {
    /// The next `n` bytes.
    fn next(&mut self, n: usize) -> Result<Cow<'_, [u8]>> {
        match self {
            Corrections::Memory { bytes, off } => {
                let s = bytes.get(*off..*off + n).ok_or_else(|| Error::Protocol {
                    step: "preprocessing store",
                    detail: "the corrections end before the demand".into(),
                })?;
                *off += n;
                Ok(Cow::Borrowed(s))
            }
            Corrections::Reader(r) => {
                let mut buf = vec![0u8; n];
                r.read_exact(&mut buf).map_err(|e| Error::Protocol {
                    step: "preprocessing store",
                    detail: format!("reading the corrections: {e}"),
                })?;
                Ok(Cow::Owned(buf))
            }
        }
    }
}

impl<R: Ring> std::fmt::Debug for Store<R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("party", &self.party)
            .field("session", &self.session)
            .field("remaining", &self.remaining())
            .field("taken", &self.taken)
            .finish()
    }
}

impl<R: Ring> Store<R> {
    /// A store of a party's material (from the dealer or a file), expanded ahead up to
    /// [`EXPAND_AHEAD_BYTES`].
    ///
    /// # Errors
    /// If the material was made for another ring, or its corrections do not fit its
    /// demand.
    pub fn from_material(m: PartyMaterial) -> Result<Self> {
        Self::with_ahead(m, EXPAND_AHEAD_BYTES)
    }

    /// [`Store::from_material`] expanding ahead at most `ahead` bytes (at least the
    /// first item).
    ///
    /// # Errors
    /// As [`Store::from_material`].
    pub fn with_ahead(m: PartyMaterial, ahead: usize) -> Result<Self> {
        if m.ring_bits != R::BITS {
            return Err(Error::InvalidArgument {
                op: "preprocessing store",
                detail: format!(
                    "material for Z_2^{}, the session runs {}",
                    m.ring_bits,
                    R::NAME
                ),
            });
        }
        let expander = Expander::new(m.party, &m.demand, m.seed, m.corrections.len())?;
        let corrections = Corrections::Memory {
            bytes: m.corrections,
            off: 0,
        };
        Self::start(m.party, m.session, expander, corrections, ahead)
    }

    /// A store of party 1's material whose `len` bytes of corrections are read from
    /// `reader` in demand order as items are expanded (written there as they arrived
    /// from the dealer, [`crate::dealer::fetch_with`]), so that they are never all in
    /// memory; expanded ahead up to `ahead` bytes.
    ///
    /// # Errors
    /// As [`Store::from_material`]; a read error when an item is expanded.
    pub fn with_corrections_from(
        session: SessionId,
        demand: &Demand,
        seed: Block,
        reader: Box<dyn Read + Send>,
        len: usize,
        ahead: usize,
    ) -> Result<Self> {
        let expander = Expander::new(1, demand, seed, len)?;
        Self::start(1, session, expander, Corrections::Reader(reader), ahead)
    }

    /// A store of an opened preprocessing file ([`PartyMaterial::open`]) of either
    /// body kind: a `seeded` file's party 1 corrections are read from the file as
    /// items are expanded; an `items` file's correlations are read (and checked against
    /// the demand) when the store is made.
    ///
    /// # Errors
    /// As [`Store::from_material`]; a malformed `items` body
    /// ([`OpenedMaterial::into_items`]); a read error when an item is expanded.
    pub fn from_opened(m: OpenedMaterial) -> Result<Self> {
        if m.ring_bits != R::BITS {
            return Err(Error::InvalidArgument {
                op: "preprocessing store",
                detail: format!(
                    "material for Z_2^{}, the session runs {}",
                    m.ring_bits,
                    R::NAME
                ),
            });
        }
        match m.body {
            Body::Items { .. } => {
                let (party, session) = (m.party, m.session);
                Ok(Self::from_items(party, session, m.into_items()?))
            }
            Body::Seeded { .. } if m.party == 0 => Self::from_material(m.into_material()?),
            Body::Seeded {
                seed,
                corrections_len,
            } => Self::with_corrections_from(
                m.session,
                &m.demand,
                seed,
                Box::new(m.reader),
                corrections_len,
                EXPAND_AHEAD_BYTES,
            ),
        }
    }

    fn start(
        party: usize,
        session: SessionId,
        expander: Expander<R>,
        corrections: Corrections,
        ahead: usize,
    ) -> Result<Self> {
        let mut store = Store {
            party,
            session,
            items: VecDeque::new(),
            expander,
            corrections,
            taken: 0,
        };
        let mut budget = 0usize;
        while let Some(r) = store.expander.peek() {
            budget = budget.saturating_add(r.expanded_bytes::<R>());
            if budget > ahead && !store.items.is_empty() {
                break;
            }
            store.expand_one()?;
        }
        Ok(store)
    }

    /// Expands the next request onto the back of the queue (false if none is left).
    fn expand_one(&mut self) -> Result<bool> {
        let corr = self
            .corrections
            .next(self.expander.next_correction_bytes())?;
        match self.expander.next_item(&corr) {
            Some(item) => {
                self.items.push_back(item?);
                Ok(true)
            }
            None => Ok(false),
        }
    }

    /// A store of correlations already made (by the OT source, in demand order): no
    /// seed to expand, nothing ahead.
    pub fn from_items(
        party: usize,
        session: SessionId,
        items: Vec<(Request, Correlation<R>)>,
    ) -> Self {
        Store {
            party,
            session,
            items: items.into(),
            expander: Expander::empty(party),
            corrections: Corrections::Memory {
                bytes: Vec::new(),
                off: 0,
            },
            taken: 0,
        }
    }

    /// The session the material belongs to.
    pub fn session(&self) -> SessionId {
        self.session
    }

    /// Items handed out so far.
    pub fn taken(&self) -> usize {
        self.taken
    }

    /// Moves the remaining material into a new store of the same party and session,
    /// leaving this one empty (for a caller that must hand an owned provider on).
    pub fn take_all(&mut self) -> Store<R> {
        let expander = std::mem::replace(&mut self.expander, Expander::empty(self.party));
        Store {
            party: self.party,
            session: self.session,
            items: std::mem::take(&mut self.items),
            expander,
            corrections: std::mem::replace(
                &mut self.corrections,
                Corrections::Memory {
                    bytes: Vec::new(),
                    off: 0,
                },
            ),
            taken: self.taken,
        }
    }
}

impl<R: Ring> Provider<R> for Store<R> {
    fn party(&self) -> usize {
        self.party
    }

    fn remaining(&self) -> usize {
        self.items.len() + self.expander.remaining()
    }

    fn take(&mut self, req: &Request) -> Result<Correlation<R>> {
        if self.items.is_empty() {
            self.expand_one()?;
        }
        let Some((front, _)) = self.items.front() else {
            return Err(Error::Exhausted {
                kind: req.kind(),
                requested: req.units(),
                remaining: 0,
            });
        };
        if front == req {
            self.taken += 1;
            return match self.items.pop_front() {
                Some((_, item)) => Ok(item),
                None => Err(Error::Exhausted {
                    kind: req.kind(),
                    requested: req.units(),
                    remaining: 0,
                }),
            };
        }
        if req.splittable() && front.same_kind(req) {
            let (want, have) = (req.units(), front.units());
            if want > have {
                return Err(Error::Exhausted {
                    kind: req.kind(),
                    requested: want,
                    remaining: have,
                });
            }
            let Some((front_req, item)) = self.items.pop_front() else {
                return Err(Error::Exhausted {
                    kind: req.kind(),
                    requested: want,
                    remaining: 0,
                });
            };
            let (head, rest) = split_front(item, want)?;
            self.items
                .push_front((front_req.with_units(have - want), rest));
            self.taken += 1;
            return Ok(head);
        }
        Err(Error::WrongCorrelation {
            expected: req.to_string(),
            found: front.to_string(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn split_bits_shifts_across_words() {
        let bits: Vec<bool> = (0..200).map(|i| (i * 7 + i / 3) % 5 < 2).collect();
        let v = BitVec::from_bools(&bits);
        for n in [0, 1, 63, 64, 65, 130, 200] {
            let (h, r) = split_bits(&v, n).unwrap();
            assert_eq!(h.iter().collect::<Vec<_>>(), bits[..n]);
            assert_eq!(r.iter().collect::<Vec<_>>(), bits[n..]);
        }
    }
}
