//! The correlations one party holds. None of them prints its contents: `Debug` shows
//! kinds and shapes only.

use ndarray::ArrayD;
use tessera_core::{BitVec, Block, Ring};

use crate::arith::bilinear::BilinearOp;

macro_rules! redacted_debug {
    ($t:ident < $r:ident >, |$s:ident| $body:expr) => {
        impl<$r: Ring> std::fmt::Debug for $t<$r> {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                let $s = self;
                write!(f, "{}({})", stringify!($t), $body)
            }
        }
    };
    ($t:ident, |$s:ident| $body:expr) => {
        impl std::fmt::Debug for $t {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                let $s = self;
                write!(f, "{}({})", stringify!($t), $body)
            }
        }
    };
}

/// One party's shares of a Beaver triple `(A, B, C = op(A, B))`.
pub struct BeaverTriple<R: Ring> {
    /// The bilinear map.
    pub op: BilinearOp,
    /// Share of `A`.
    pub a: ArrayD<R>,
    /// Share of `B`.
    pub b: ArrayD<R>,
    /// Share of `C`.
    pub c: ArrayD<R>,
}
redacted_debug!(BeaverTriple<R>, |s| format!(
    "{}, {:?} · {:?}",
    s.op,
    s.a.shape(),
    s.b.shape()
));

/// One party's shares of a square pair `(A, A ⊙ A)`.
pub struct SquarePair<R: Ring> {
    /// Share of `A`.
    pub a: ArrayD<R>,
    /// Share of `A ⊙ A`.
    pub c: ArrayD<R>,
}
redacted_debug!(SquarePair<R>, |s| format!("{:?}", s.a.shape()));

/// One party's truncation material for dealer-assisted truncation by `frac_bits`:
/// shares of a uniform `r ∈ Z_2^ℓ`, of its top bit `r_msb ∈ {0, 1}` and of
/// `r_mid = ⌊(r mod 2^(ℓ−1)) / 2^f⌋` (see [`crate::arith::trunc`]).
pub struct TruncPair<R: Ring> {
    /// Bits truncated.
    pub frac_bits: u32,
    /// Share of `r`.
    pub r: ArrayD<R>,
    /// Share of the top bit of `r` (as a ring element 0 or 1).
    pub r_msb: ArrayD<R>,
    /// Share of `⌊(r mod 2^(ℓ−1)) / 2^f⌋`.
    pub r_mid: ArrayD<R>,
}
redacted_debug!(TruncPair<R>, |s| format!(
    "f={}, {:?}",
    s.frac_bits,
    s.r.shape()
));

/// One party's XOR shares of packed AND triples: `(a0⊕a1) ∧ (b0⊕b1) = c0⊕c1` bitwise.
pub struct AndTriples {
    /// Share of `a`.
    pub a: BitVec,
    /// Share of `b`.
    pub b: BitVec,
    /// Share of `c`.
    pub c: BitVec,
}
redacted_debug!(AndTriples, |s| format!("{} bits", s.a.len()));

/// One party's side of random OTs.
pub enum RandomOts {
    /// The sender's random strings.
    Sender {
        /// `m0` of each OT.
        m0: Vec<Block>,
        /// `m1` of each OT.
        m1: Vec<Block>,
    },
    /// The receiver's random choices and chosen strings.
    Receiver {
        /// Choice bit of each OT.
        choices: BitVec,
        /// `m_c` of each OT.
        chosen: Vec<Block>,
    },
}

impl RandomOts {
    /// Number of OTs.
    pub fn len(&self) -> usize {
        match self {
            RandomOts::Sender { m0, .. } => m0.len(),
            RandomOts::Receiver { chosen, .. } => chosen.len(),
        }
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl std::fmt::Debug for RandomOts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let side = match self {
            RandomOts::Sender { .. } => "sender",
            RandomOts::Receiver { .. } => "receiver",
        };
        write!(f, "RandomOts({side}, {})", self.len())
    }
}

/// One party's shares of daBits: bit `i` is `arith[0]+arith[1] = bool[0]⊕bool[1]`.
pub struct DaBits<R: Ring> {
    /// Additive shares in Z_2^ℓ.
    pub arith: Vec<R>,
    /// XOR shares.
    pub boolean: BitVec,
}
redacted_debug!(DaBits<R>, |s| format!("{}", s.arith.len()));

/// A party's part of a per-model weight mask: party 0 holds `U`, party 1 nothing.
pub struct WeightMaskShare<R: Ring> {
    /// `U` (party 0) or `None` (party 1).
    pub mask: Option<ArrayD<R>>,
}
redacted_debug!(WeightMaskShare<R>, |s| match &s.mask {
    Some(m) => format!("{:?}", m.shape()),
    None => "none".to_string(),
});

/// A party's per-inference material of a plaintext-weight layer.
pub struct PlainWeightShare<R: Ring> {
    /// The bilinear map.
    pub op: BilinearOp,
    /// Index of the weight mask.
    pub mask: usize,
    /// `V` (party 1 only), shaped like the activation.
    pub v: Option<ArrayD<R>>,
    /// Share of `op(V, U)`.
    pub z: ArrayD<R>,
}
redacted_debug!(PlainWeightShare<R>, |s| format!(
    "{}, mask #{}, out {:?}",
    s.op,
    s.mask,
    s.z.shape()
));

/// Any correlation, as the store holds it.
#[derive(Debug)]
pub enum Correlation<R: Ring> {
    /// See [`BeaverTriple`].
    Beaver(BeaverTriple<R>),
    /// See [`SquarePair`].
    Square(SquarePair<R>),
    /// See [`TruncPair`].
    Trunc(TruncPair<R>),
    /// See [`AndTriples`].
    And(AndTriples),
    /// See [`RandomOts`].
    Rot(RandomOts),
    /// See [`DaBits`].
    DaBits(DaBits<R>),
    /// See [`WeightMaskShare`].
    WeightMask(WeightMaskShare<R>),
    /// See [`PlainWeightShare`].
    PlainWeight(PlainWeightShare<R>),
}
