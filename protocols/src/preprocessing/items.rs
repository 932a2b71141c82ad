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

// ---------------------------------------------------------------------------------
// The `items` body of a preprocessing file: each correlation in full, in demand order.

/// How a correlation of one request is laid out in a file, walked by a [`Side`]: the
/// one description of the `items` body. Every part's size follows from the request
/// and the party, so the body holds the elements alone (no shapes, no tags):
///
/// | kind | parts, in order |
/// |---|---|
/// | Beaver | `A` (shape `a`), `B` (shape `b`), `C` (shape `op(a, b)`) |
/// | square | `A`, `A ⊙ A` (shape) |
/// | truncation | `r`, `r_msb`, `r_mid` (shape) |
/// | AND triples | `a`, `b`, `c` (bits) |
/// | random OTs, sender | `m0`, `m1` (count blocks each) |
/// | random OTs, receiver | choices (bits), chosen (count blocks) |
/// | daBits | arithmetic shares (count elements), XOR shares (bits) |
/// | weight mask | `U` (party 0 only) |
/// | plaintext weight | `V` (party 1 only, shape `act`), `z` (shape `op(act, weight)`) |
///
/// An array is its elements in row-major order, ℓ/8 bytes each; bits are
/// `⌈n / 64⌉` little-endian 64-bit words; a block is 16 little-endian bytes.
pub(crate) trait Side<R: Ring> {
    /// An array of `shape`.
    fn array(&mut self, a: &mut ArrayD<R>, shape: &[usize]) -> Result<(), String>;
    /// `n` ring elements.
    fn ring(&mut self, v: &mut Vec<R>, n: usize) -> Result<(), String>;
    /// `n` bits.
    fn bits(&mut self, b: &mut BitVec, n: usize) -> Result<(), String>;
    /// `n` blocks.
    fn blocks(&mut self, b: &mut Vec<Block>, n: usize) -> Result<(), String>;
    /// An array this party holds (`shape` given) or does not (`None`).
    fn maybe(&mut self, a: &mut Option<ArrayD<R>>, shape: Option<&[usize]>) -> Result<(), String> {
        match (a.as_mut(), shape) {
            (Some(x), Some(s)) => self.array(x, s),
            (None, None) => Ok(()),
            (Some(_), None) => Err("holds a part only the other party has".into()),
            (None, Some(s)) => {
                let mut x = empty_array();
                self.array(&mut x, s)?;
                *a = Some(x);
                Ok(())
            }
        }
    }
}

fn empty_array<R: Ring>() -> ArrayD<R> {
    ArrayD::default(ndarray::IxDyn(&[0]))
}

/// A correlation of `req`'s kind for `party` with nothing in it, for a [`Side`] that
/// reads to fill.
pub(crate) fn empty_item<R: Ring>(req: &super::Request, party: usize) -> Correlation<R> {
    use super::Request as Q;
    let bits = BitVec::default;
    match req {
        Q::Beaver { op, .. } => Correlation::Beaver(BeaverTriple {
            op: *op,
            a: empty_array(),
            b: empty_array(),
            c: empty_array(),
        }),
        Q::Square { .. } => Correlation::Square(SquarePair {
            a: empty_array(),
            c: empty_array(),
        }),
        Q::Trunc { frac_bits, .. } => Correlation::Trunc(TruncPair {
            frac_bits: *frac_bits,
            r: empty_array(),
            r_msb: empty_array(),
            r_mid: empty_array(),
        }),
        Q::AndTriples { .. } => Correlation::And(AndTriples {
            a: bits(),
            b: bits(),
            c: bits(),
        }),
        Q::RandomOts { sender, .. } => Correlation::Rot(if *sender == party {
            RandomOts::Sender {
                m0: Vec::new(),
                m1: Vec::new(),
            }
        } else {
            RandomOts::Receiver {
                choices: bits(),
                chosen: Vec::new(),
            }
        }),
        Q::DaBits { .. } => Correlation::DaBits(DaBits {
            arith: Vec::new(),
            boolean: bits(),
        }),
        Q::WeightMask { .. } => Correlation::WeightMask(WeightMaskShare { mask: None }),
        Q::PlainWeight { op, mask, .. } => Correlation::PlainWeight(PlainWeightShare {
            op: *op,
            mask: *mask,
            v: None,
            z: empty_array(),
        }),
    }
}

/// Walks `party`'s correlation `c` of `req` part by part with `side` (see [`Side`]).
///
/// # Errors
/// A correlation of another kind, side or shape than `req` asks of `party`; whatever
/// `side` refuses.
pub(crate) fn walk<R: Ring>(
    req: &super::Request,
    party: usize,
    c: &mut Correlation<R>,
    side: &mut dyn Side<R>,
) -> Result<(), String> {
    use super::Request as Q;
    use crate::arith::bilinear::Bilinear;
    let out = |op: &BilinearOp, a: &[usize], b: &[usize]| {
        op.output_shape(a, b).map_err(|e| e.to_string())
    };
    match (req, c) {
        (Q::Beaver { op, a, b }, Correlation::Beaver(t)) if t.op == *op => {
            let c_shape = out(op, a, b)?;
            side.array(&mut t.a, a)?;
            side.array(&mut t.b, b)?;
            side.array(&mut t.c, &c_shape)
        }
        (Q::Square { shape }, Correlation::Square(p)) => {
            side.array(&mut p.a, shape)?;
            side.array(&mut p.c, shape)
        }
        (Q::Trunc { frac_bits, shape }, Correlation::Trunc(p)) if p.frac_bits == *frac_bits => {
            side.array(&mut p.r, shape)?;
            side.array(&mut p.r_msb, shape)?;
            side.array(&mut p.r_mid, shape)
        }
        (Q::AndTriples { bits }, Correlation::And(t)) => {
            side.bits(&mut t.a, *bits)?;
            side.bits(&mut t.b, *bits)?;
            side.bits(&mut t.c, *bits)
        }
        (Q::RandomOts { count, sender }, Correlation::Rot(r)) => match r {
            RandomOts::Sender { m0, m1 } if *sender == party => {
                side.blocks(m0, *count)?;
                side.blocks(m1, *count)
            }
            RandomOts::Receiver { choices, chosen } if *sender != party => {
                side.bits(choices, *count)?;
                side.blocks(chosen, *count)
            }
            _ => Err(format!("holds the other side of OTs party {sender} sends")),
        },
        (Q::DaBits { count }, Correlation::DaBits(d)) => {
            side.ring(&mut d.arith, *count)?;
            side.bits(&mut d.boolean, *count)
        }
        (Q::WeightMask { shape }, Correlation::WeightMask(m)) => {
            side.maybe(&mut m.mask, (party == 0).then_some(shape.as_slice()))
        }
        (
            Q::PlainWeight {
                op,
                mask,
                act,
                weight,
            },
            Correlation::PlainWeight(p),
        ) if p.op == *op && p.mask == *mask => {
            let z_shape = out(op, act, weight)?;
            side.maybe(&mut p.v, (party == 1).then_some(act.as_slice()))?;
            side.array(&mut p.z, &z_shape)
        }
        (_, c) => Err(format!("holds {c:?}")),
    }
}

/// Counts the bytes of the parts walked (reads and writes nothing).
#[derive(Default)]
pub(crate) struct SizeSide {
    /// Bytes so far.
    pub bytes: u64,
}

impl SizeSide {
    fn add(&mut self, n: usize, unit: usize) -> Result<(), String> {
        self.bytes = n
            .checked_mul(unit)
            .and_then(|b| u64::try_from(b).ok())
            .and_then(|b| self.bytes.checked_add(b))
            .ok_or("its size overflows")?;
        Ok(())
    }
}

fn numel(shape: &[usize]) -> Result<usize, String> {
    shape
        .iter()
        .try_fold(1usize, |a, &d| a.checked_mul(d))
        .ok_or_else(|| format!("shape {shape:?} overflows"))
}

impl<R: Ring> Side<R> for SizeSide {
    fn array(&mut self, _: &mut ArrayD<R>, shape: &[usize]) -> Result<(), String> {
        self.add(numel(shape)?, R::BYTES)
    }
    fn ring(&mut self, _: &mut Vec<R>, n: usize) -> Result<(), String> {
        self.add(n, R::BYTES)
    }
    fn bits(&mut self, _: &mut BitVec, n: usize) -> Result<(), String> {
        self.add(n.div_ceil(64), 8)
    }
    fn blocks(&mut self, _: &mut Vec<Block>, n: usize) -> Result<(), String> {
        self.add(n, 16)
    }
    fn maybe(&mut self, _: &mut Option<ArrayD<R>>, shape: Option<&[usize]>) -> Result<(), String> {
        shape.map_or(Ok(()), |s| self.add(numel(s)?, R::BYTES))
    }
}

/// Appends the parts walked to a buffer, checking each against its expected size.
#[derive(Default)]
pub(crate) struct WriteSide {
    /// The bytes so far.
    pub out: Vec<u8>,
}

impl<R: Ring> Side<R> for WriteSide {
    fn array(&mut self, a: &mut ArrayD<R>, shape: &[usize]) -> Result<(), String> {
        if a.shape() != shape {
            return Err(format!(
                "holds an array of shape {:?}, not {shape:?}",
                a.shape()
            ));
        }
        match a.as_slice() {
            Some(s) => R::encode_slice(s, &mut self.out),
            None => R::encode_slice(&a.iter().copied().collect::<Vec<_>>(), &mut self.out),
        }
        Ok(())
    }
    fn ring(&mut self, v: &mut Vec<R>, n: usize) -> Result<(), String> {
        if v.len() != n {
            return Err(format!("holds {} ring elements, not {n}", v.len()));
        }
        R::encode_slice(v, &mut self.out);
        Ok(())
    }
    fn bits(&mut self, b: &mut BitVec, n: usize) -> Result<(), String> {
        if b.len() != n {
            return Err(format!("holds {} bits, not {n}", b.len()));
        }
        for w in b.words() {
            self.out.extend_from_slice(&w.to_le_bytes());
        }
        Ok(())
    }
    fn blocks(&mut self, b: &mut Vec<Block>, n: usize) -> Result<(), String> {
        if b.len() != n {
            return Err(format!("holds {} blocks, not {n}", b.len()));
        }
        for x in b.iter() {
            self.out.extend_from_slice(&x.to_bytes());
        }
        Ok(())
    }
}

/// Reads the parts walked from a reader holding at most `left` more bytes: every
/// length is checked against `left` before anything is allocated.
pub(crate) struct ReadSide<'a> {
    /// Where the parts are read from.
    pub from: &'a mut dyn std::io::Read,
    /// Bytes the body still holds.
    pub left: u64,
}

impl ReadSide<'_> {
    fn take(&mut self, n: usize, unit: usize) -> Result<Vec<u8>, String> {
        let bytes = n
            .checked_mul(unit)
            .filter(|&b| u64::try_from(b).is_ok_and(|b| b <= self.left))
            .ok_or("the body ends before it")?;
        let mut buf = vec![0u8; bytes];
        self.from
            .read_exact(&mut buf)
            .map_err(|e| format!("cannot read it: {e}"))?;
        self.left -= bytes as u64;
        Ok(buf)
    }
}

impl<R: Ring> Side<R> for ReadSide<'_> {
    fn array(&mut self, a: &mut ArrayD<R>, shape: &[usize]) -> Result<(), String> {
        let v = self.ring_elems(numel(shape)?)?;
        *a = ArrayD::from_shape_vec(ndarray::IxDyn(shape), v).map_err(|e| e.to_string())?;
        Ok(())
    }
    fn ring(&mut self, v: &mut Vec<R>, n: usize) -> Result<(), String> {
        *v = self.ring_elems(n)?;
        Ok(())
    }
    fn bits(&mut self, b: &mut BitVec, n: usize) -> Result<(), String> {
        let words = self
            .take(n.div_ceil(64), 8)?
            .chunks_exact(8)
            .map(|w| u64::from_le_bytes([w[0], w[1], w[2], w[3], w[4], w[5], w[6], w[7]]))
            .collect();
        *b = BitVec::from_words(n, words).map_err(|e| e.to_string())?;
        Ok(())
    }
    fn blocks(&mut self, b: &mut Vec<Block>, n: usize) -> Result<(), String> {
        *b = self
            .take(n, 16)?
            .chunks_exact(16)
            .map(|x| {
                let mut k = [0u8; 16];
                k.copy_from_slice(x);
                Block::from_bytes(k)
            })
            .collect();
        Ok(())
    }
}

impl ReadSide<'_> {
    fn ring_elems<R: Ring>(&mut self, n: usize) -> Result<Vec<R>, String> {
        R::decode_slice(&self.take(n, R::BYTES)?).map_err(|e| e.to_string())
    }
}
