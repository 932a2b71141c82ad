//! Correlated randomness: what a program needs (its [`Demand`]), the correlations
//! themselves, the [`Provider`] trait that hands them out online, the in-memory
//! [`Store`], and the persisted form ([`PartyMaterial`] and its file format).
//!
//! # Demand → precompute → take
//! 1. **Demand.** Before a program runs, its preprocessing demand — the ordered list
//!    of every correlation it will consume, with kinds, counts and shapes — is built
//!    (the `Demand` builder methods mirror the operations of [`crate::arith`]).
//! 2. **Precompute.** A source produces exactly that: the dealer
//!    ([`crate::dealer`]) over the network, the two parties by OT extension
//!    ([`crate::ot::source`]), or a file saved earlier by either
//!    ([`PartyMaterial::open`], [`save_items`]). The dealer's is a
//!    [`PartyMaterial`] (a seed and, for party 1, corrections), which
//!    [`Store::from_material`] expands in demand order: ahead of use up to
//!    [`EXPAND_AHEAD_BYTES`] (all of a small run's material, before the online phase),
//!    the rest as it is taken, so a large run holds the seed, the corrections and one
//!    budget of expanded items, never its whole expanded material. OT-made
//!    correlations have no seed: they are held (and stored) in full
//!    ([`Store::from_items`]).
//! 3. **Take.** Online, operations take their correlations in demand order through
//!    the [`Provider`] trait. Taking the wrong kind or shape is
//!    [`Error::WrongCorrelation`]; taking past the
//!    end is [`Error::Exhausted`]. Every correlation is
//!    handed out once.
//!
//! A dealer-free provider (OT-based generation between the two parties) can be added
//! by implementing [`Provider`]; nothing online depends on where correlations come from.
//!
//! # Seed compression
//! Party 0's entire material is the expansion of one 16-byte seed. Party 1's is the
//! expansion of its own seed plus *corrections*, the only part that depends on both
//! parties' randomness. [`Request::correction_bytes`] states the exact size per
//! request; the dealer's traffic is exactly
//! `41` bytes to party 0 and `41 + C + 8·⌈C / 2^20⌉` bytes to party 1, where `C` is
//! the demand's total correction size (see [`crate::dealer`]).
//!
//! Security: semi-honest parties and a semi-honest dealer that colludes with neither.
//! Correlations are uniformly random subject to their relation; each party's material
//! alone is uniformly random.

mod expand;
mod file;
mod items;
mod ledger;
mod store;

/// The top bit and `⌊(v mod 2^(ℓ−1)) / 2^f⌋` of a (public) ring element.
pub(crate) use expand::msb_mid as msb_mid_pub;
pub(crate) use expand::{Expander, deal_each};
pub use expand::{deal, expand_party0, expand_party1};
pub use file::{
    Body, DealingId, FORMAT_VERSION, MAGIC, MaterialWriter, OpenedMaterial, PartyMaterial,
    save_items,
};
pub(crate) use file::{sync_dir, temp_path};
pub use items::{
    AndTriples, BeaverTriple, Correlation, DaBits, PlainWeightShare, RandomOts, SquarePair,
    TruncPair, WeightMaskShare,
};
pub use ledger::Ledger;
pub use store::{EXPAND_AHEAD_BYTES, Provider, Store};

use serde::{Deserialize, Serialize};
use tessera_core::Ring;

use crate::arith::TruncMode;
use crate::arith::bilinear::{Bilinear, BilinearOp, Conv2dParams};
use crate::{Error, Result};

/// One correlation request: a kind with its count or shapes. Shapes are those of the
/// operands of the online operation that will consume it.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Request {
    /// A Beaver triple for the bilinear map `op` on operands of shapes `a` and `b`:
    /// shares of random `A`, `B` and `C = op(A, B)`.
    Beaver {
        /// The bilinear map.
        op: BilinearOp,
        /// Shape of the left operand.
        a: Vec<usize>,
        /// Shape of the right operand.
        b: Vec<usize>,
    },
    /// A square pair: shares of random `A` and `A ⊙ A`.
    Square {
        /// Tensor shape.
        shape: Vec<usize>,
    },
    /// Truncation material for dealer-assisted truncation by `frac_bits` bits:
    /// shares of a random `r`, of its top bit, and of `⌊(r mod 2^(ℓ-1)) / 2^f⌋`.
    Trunc {
        /// Bits to truncate.
        frac_bits: u32,
        /// Tensor shape.
        shape: Vec<usize>,
    },
    /// Boolean AND triples (packed bits): XOR shares of `a`, `b`, `c = a ∧ b`.
    AndTriples {
        /// Number of triples.
        bits: usize,
    },
    /// Random OTs: the sender gets random 128-bit `(m0, m1)`, the receiver a random
    /// choice bit `c` and `m_c`.
    RandomOts {
        /// Number of OTs.
        count: usize,
        /// The sending party (0 or 1).
        sender: usize,
    },
    /// daBits: a random bit shared both additively in Z_2^ℓ and by XOR.
    DaBits {
        /// Number of bits.
        count: usize,
    },
    /// A per-model weight mask `U` for a plaintext-weight layer: party 0 gets `U`,
    /// party 1 gets nothing from the dealer (party 0 later sends it `W − U`).
    WeightMask {
        /// Shape of the weight tensor.
        shape: Vec<usize>,
    },
    /// Per-inference material of a plaintext-weight layer `op(X, W)`: party 1 gets a
    /// random `V` shaped like the activation, and the parties get shares of
    /// `op(V, U)`, where `U` is the mask of the `mask`-th `WeightMask` request.
    PlainWeight {
        /// The bilinear map (the weight is its right operand).
        op: BilinearOp,
        /// Index of the mask among the demand's `WeightMask` requests.
        mask: usize,
        /// Shape of the activation.
        act: Vec<usize>,
        /// Shape of the weight.
        weight: Vec<usize>,
    },
}

fn numel(shape: &[usize]) -> usize {
    shape.iter().product()
}

impl Request {
    /// The kind's name, for errors.
    pub fn kind(&self) -> &'static str {
        match self {
            Request::Beaver { .. } => "Beaver triple",
            Request::Square { .. } => "square pair",
            Request::Trunc { .. } => "truncation pair",
            Request::AndTriples { .. } => "AND triples",
            Request::RandomOts { .. } => "random OTs",
            Request::DaBits { .. } => "daBits",
            Request::WeightMask { .. } => "weight mask",
            Request::PlainWeight { .. } => "plaintext-weight material",
        }
    }

    /// How many units (elements, bits, OTs) the request covers.
    pub fn units(&self) -> usize {
        match self {
            Request::Beaver { op, a, b } => op.output_shape(a, b).map_or(0, |s| numel(&s)),
            Request::Square { shape } | Request::Trunc { shape, .. } => numel(shape),
            Request::AndTriples { bits } => *bits,
            Request::RandomOts { count, .. } | Request::DaBits { count } => *count,
            Request::WeightMask { shape } => numel(shape),
            Request::PlainWeight {
                op, act, weight, ..
            } => op.output_shape(act, weight).map_or(0, |s| numel(&s)),
        }
    }

    /// Whether the store may hand this kind out in smaller pieces than requested
    /// (counted kinds without shapes).
    pub(crate) fn splittable(&self) -> bool {
        matches!(
            self,
            Request::AndTriples { .. } | Request::RandomOts { .. } | Request::DaBits { .. }
        )
    }

    /// The same request with another count (splittable kinds only).
    pub(crate) fn with_units(&self, n: usize) -> Request {
        match self {
            Request::AndTriples { .. } => Request::AndTriples { bits: n },
            Request::RandomOts { sender, .. } => Request::RandomOts {
                count: n,
                sender: *sender,
            },
            Request::DaBits { .. } => Request::DaBits { count: n },
            other => other.clone(),
        }
    }

    /// Whether `other` is the same kind with the same parameters except the count.
    pub(crate) fn same_kind(&self, other: &Request) -> bool {
        match (self, other) {
            (Request::AndTriples { .. }, Request::AndTriples { .. })
            | (Request::DaBits { .. }, Request::DaBits { .. }) => true,
            (Request::RandomOts { sender: a, .. }, Request::RandomOts { sender: b, .. }) => a == b,
            _ => std::mem::discriminant(self) == std::mem::discriminant(other),
        }
    }

    /// Bytes of corrections the dealer sends party 1 for this request (party 0
    /// receives none):
    ///
    /// | kind | party 1's correction | bytes |
    /// |---|---|---|
    /// | Beaver | its share of `C` | `|C|·ℓ/8` |
    /// | square | its share of `A⊙A` | `n·ℓ/8` |
    /// | truncation | its shares of the top bit and the truncation | `2n·ℓ/8` |
    /// | AND triples | its bits of `c` | `8·⌈n/64⌉` |
    /// | random OTs | the chosen strings (receiver) or one derived string (sender) | `16n` |
    /// | daBits | its arithmetic share | `n·ℓ/8` |
    /// | weight mask | none | 0 |
    /// | plaintext weight | its share of `op(V, U)` | `|output|·ℓ/8` |
    pub fn correction_bytes<R: Ring>(&self) -> usize {
        match self {
            Request::Beaver { .. }
            | Request::Square { .. }
            | Request::DaBits { .. }
            | Request::PlainWeight { .. } => self.units() * R::BYTES,
            Request::Trunc { shape, .. } => 2 * numel(shape) * R::BYTES,
            Request::AndTriples { bits } => 8 * bits.div_ceil(64),
            Request::RandomOts { count, .. } => 16 * count,
            Request::WeightMask { .. } => 0,
        }
    }
}

impl Request {
    /// Bytes one party's expanded item takes in memory (its shares, as
    /// [`Correlation`] holds them; party 0's, the larger of the two): what a
    /// [`Store`] budgets when it expands ahead.
    pub fn expanded_bytes<R: Ring>(&self) -> usize {
        let bits = |n: usize| 8 * n.div_ceil(64);
        match self {
            Request::Beaver { a, b, .. } => (numel(a) + numel(b) + self.units()) * R::BYTES,
            Request::Square { shape } => 2 * numel(shape) * R::BYTES,
            Request::Trunc { shape, .. } => 3 * numel(shape) * R::BYTES,
            Request::AndTriples { bits: n } => 3 * bits(*n),
            Request::RandomOts { count, .. } => 32 * count,
            Request::DaBits { count } => count * R::BYTES + bits(*count),
            Request::WeightMask { shape } => numel(shape) * R::BYTES,
            Request::PlainWeight { act, .. } => (numel(act) + self.units()) * R::BYTES,
        }
    }
}

impl std::fmt::Display for Request {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Request::Beaver { op, a, b } => write!(f, "Beaver triple for {op} of {a:?} and {b:?}"),
            Request::Square { shape } => write!(f, "square pair of shape {shape:?}"),
            Request::Trunc { frac_bits, shape } => {
                write!(f, "truncation pair by {frac_bits} bits of shape {shape:?}")
            }
            Request::AndTriples { bits } => write!(f, "{bits} AND triples"),
            Request::RandomOts { count, sender } => {
                write!(f, "{count} random OTs with party {sender} sending")
            }
            Request::DaBits { count } => write!(f, "{count} daBits"),
            Request::WeightMask { shape } => write!(f, "weight mask of shape {shape:?}"),
            Request::PlainWeight {
                op,
                mask,
                act,
                weight,
            } => write!(
                f,
                "plaintext-weight {op} of activation {act:?} with weight {weight:?} (mask #{mask})"
            ),
        }
    }
}

/// The ordered preprocessing demand of a program.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Demand {
    requests: Vec<Request>,
}

impl Demand {
    /// An empty demand.
    pub fn new() -> Self {
        Self::default()
    }

    /// The requests, in order.
    pub fn requests(&self) -> &[Request] {
        &self.requests
    }

    /// Number of requests.
    pub fn len(&self) -> usize {
        self.requests.len()
    }

    /// Whether nothing is demanded.
    pub fn is_empty(&self) -> bool {
        self.requests.is_empty()
    }

    /// Appends a request.
    pub fn push(&mut self, r: Request) -> &mut Self {
        self.requests.push(r);
        self
    }

    /// Appends all of `other`'s requests.
    pub fn extend(&mut self, other: &Demand) -> &mut Self {
        self.requests.extend(other.requests.iter().cloned());
        self
    }

    /// A Beaver triple for `op` on operands of shapes `a`, `b`.
    pub fn beaver(&mut self, op: BilinearOp, a: &[usize], b: &[usize]) -> &mut Self {
        self.push(Request::Beaver {
            op,
            a: a.to_vec(),
            b: b.to_vec(),
        })
    }

    /// What [`ArithParty::mul`](crate::arith::ArithParty::mul) consumes.
    pub fn mul(&mut self, shape: &[usize]) -> &mut Self {
        self.beaver(BilinearOp::Elementwise, shape, shape)
    }

    /// What [`ArithParty::matmul`](crate::arith::ArithParty::matmul) consumes.
    pub fn matmul(&mut self, a: &[usize], b: &[usize]) -> &mut Self {
        self.beaver(BilinearOp::MatMul, a, b)
    }

    /// What [`ArithParty::conv2d`](crate::arith::ArithParty::conv2d) consumes.
    pub fn conv2d(&mut self, p: Conv2dParams, input: &[usize], kernel: &[usize]) -> &mut Self {
        self.beaver(BilinearOp::Conv(p.into()), input, kernel)
    }

    /// What [`ArithParty::dot`](crate::arith::ArithParty::dot) consumes for vectors of
    /// length `n` (a `[1, n] · [n, 1]` matrix triple).
    pub fn dot(&mut self, n: usize) -> &mut Self {
        self.beaver(BilinearOp::MatMul, &[1, n], &[n, 1])
    }

    /// What [`ArithParty::square`](crate::arith::ArithParty::square) consumes.
    pub fn square(&mut self, shape: &[usize]) -> &mut Self {
        self.push(Request::Square {
            shape: shape.to_vec(),
        })
    }

    /// What dealer-assisted truncation of a `shape` tensor by `frac_bits` consumes.
    pub fn trunc(&mut self, frac_bits: u32, shape: &[usize]) -> &mut Self {
        self.push(Request::Trunc {
            frac_bits,
            shape: shape.to_vec(),
        })
    }

    /// What [`ArithParty::bilinear_fixed`](crate::arith::ArithParty::bilinear_fixed)
    /// consumes: the Beaver triple, and in dealer mode the truncation pair of the
    /// output.
    ///
    /// # Errors
    /// [`Error::Shape`] if the shapes do not fit `op`.
    pub fn bilinear_fixed(
        &mut self,
        op: BilinearOp,
        a: &[usize],
        b: &[usize],
        frac_bits: u32,
        mode: TruncMode,
    ) -> Result<&mut Self> {
        let out = op.output_shape(a, b)?;
        self.beaver(op, a, b);
        if mode == TruncMode::Dealer {
            self.trunc(frac_bits, &out);
        }
        Ok(self)
    }

    /// What [`ArithParty::avg_pool2d`](crate::arith::ArithParty::avg_pool2d) consumes
    /// for an `[N, C, H, W]` input (nothing in local mode).
    pub fn avg_pool2d(
        &mut self,
        input: &[usize],
        k: usize,
        stride: usize,
        frac_bits: u32,
        mode: TruncMode,
    ) -> &mut Self {
        if let (&[n, c, h, w], TruncMode::Dealer) = (input, mode)
            && k > 0
            && stride > 0
            && k <= h
            && k <= w
        {
            self.trunc(
                frac_bits,
                &[n, c, (h - k) / stride + 1, (w - k) / stride + 1],
            );
        }
        self
    }

    /// `n` AND triples.
    pub fn and_triples(&mut self, bits: usize) -> &mut Self {
        self.push(Request::AndTriples { bits })
    }

    /// `count` random OTs sent by `sender`.
    pub fn random_ots(&mut self, count: usize, sender: usize) -> &mut Self {
        self.push(Request::RandomOts { count, sender })
    }

    /// `count` daBits.
    pub fn dabits(&mut self, count: usize) -> &mut Self {
        self.push(Request::DaBits { count })
    }

    /// A weight mask for a `shape` weight; returns the mask's index for
    /// [`Demand::plain_weight`].
    pub fn weight_mask(&mut self, shape: &[usize]) -> usize {
        let id = self
            .requests
            .iter()
            .filter(|r| matches!(r, Request::WeightMask { .. }))
            .count();
        self.push(Request::WeightMask {
            shape: shape.to_vec(),
        });
        id
    }

    /// One inference's material for a plaintext-weight layer `op(X, W)` with the
    /// weight of mask `mask`.
    pub fn plain_weight(
        &mut self,
        op: BilinearOp,
        mask: usize,
        act: &[usize],
        weight: &[usize],
    ) -> &mut Self {
        self.push(Request::PlainWeight {
            op,
            mask,
            act: act.to_vec(),
            weight: weight.to_vec(),
        })
    }

    /// Total correction bytes for party 1 (see [`Request::correction_bytes`]).
    pub fn correction_bytes<R: Ring>(&self) -> usize {
        self.requests
            .iter()
            .map(Request::correction_bytes::<R>)
            .sum()
    }

    /// Checks every request: shapes fit their map, parties are 0 or 1, truncation
    /// widths fit the ring, plaintext-weight requests refer to an earlier mask of the
    /// right shape.
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] naming the first bad request.
    pub fn validate<R: Ring>(&self) -> Result<()> {
        let bad = |i: usize, r: &Request, why: String| Error::InvalidArgument {
            op: "demand",
            detail: format!("request #{i} ({r}): {why}"),
        };
        let mut masks: Vec<&[usize]> = Vec::new();
        for (i, r) in self.requests.iter().enumerate() {
            match r {
                Request::Beaver { op, a, b } => {
                    op.output_shape(a, b)
                        .map_err(|e| bad(i, r, e.to_string()))?;
                }
                Request::Trunc { frac_bits, .. } => {
                    if *frac_bits == 0 || *frac_bits > R::BITS - 2 {
                        return Err(bad(
                            i,
                            r,
                            format!("truncation needs 1 ≤ f ≤ {}", R::BITS - 2),
                        ));
                    }
                }
                Request::RandomOts { sender, .. } => {
                    if *sender > 1 {
                        return Err(bad(i, r, "the sender must be party 0 or 1".into()));
                    }
                }
                Request::WeightMask { shape } => masks.push(shape),
                Request::PlainWeight {
                    op,
                    mask,
                    act,
                    weight,
                } => {
                    op.output_shape(act, weight)
                        .map_err(|e| bad(i, r, e.to_string()))?;
                    match masks.get(*mask) {
                        None => {
                            return Err(bad(i, r, "no earlier weight mask with that index".into()));
                        }
                        Some(s) if *s != weight.as_slice() => {
                            return Err(bad(i, r, format!("the mask has shape {s:?}")));
                        }
                        Some(_) => {}
                    }
                }
                Request::Square { .. } | Request::AndTriples { .. } | Request::DaBits { .. } => {}
            }
        }
        Ok(())
    }
}
