//! Seed expansion: how each party's material, and the dealer's corrections, are
//! derived from the two seeds.
//!
//! Party `i`'s material is read from one AES-CTR stream keyed by its seed, request by
//! request in demand order. Each component of a request (a tensor, a bit vector, a
//! list of strings; listed per kind below) takes a 16-byte sub-seed from that stream
//! and is expanded in one bulk draw from the sub-stream it keys. The dealer runs the *same* functions on both seeds, so the two sides
//! agree by construction, and computes party 1's corrections from the result:
//!
//! | kind | party 0 draws (in order) | party 1 draws | party 1's correction |
//! |---|---|---|---|
//! | Beaver `op` | `A0, B0, C0` | `A1, B1` | `C1 = op(A0+A1, B0+B1) − C0` |
//! | square | `A0, C0` | `A1` | `C1 = (A0+A1)² − C0` |
//! | truncation | `r0, msb0, mid0` | `r1` | `msb(r) − msb0`, `mid(r) − mid0` for `r = r0+r1` |
//! | AND | `a0, b0, c0` | `a1, b1` | `c1 = (a0⊕a1)(b0⊕b1) ⊕ c0` |
//! | ROT, P0 sends | `m0, m1` | `c` | `m_c` |
//! | ROT, P1 sends | `c, s` | `x` | `d = s ⊕ c·x`; P1's pair is `(d, d ⊕ x)` |
//! | daBits | `a0` (ring), `b0` (bits) | `b1` | `a1 = (b0⊕b1) − a0` |
//! | weight mask | `U` | — | — |
//! | plaintext weight | `Z0` | `V` | `Z1 = op(V, U) − Z0` |
//!
//! In the sender-1 ROT case party 1 holds `m_c = d ⊕ c·x = s` at position `c` and a
//! uniformly random string `s ⊕ x` at position `1 − c`; its view `(x, d)` is uniform
//! and independent of `c` because `s` is.

use ndarray::{ArrayD, IxDyn};
use tessera_core::{BitVec, Block, Prg, Ring};

use super::items::{
    AndTriples, BeaverTriple, Correlation, DaBits, PlainWeightShare, RandomOts, SquarePair,
    TruncPair, WeightMaskShare,
};
use super::{Demand, Request};
use crate::arith::bilinear::{Bilinear, BilinearOp};
use crate::{Error, Result};

/// A fresh PRG keyed by the next 16 bytes of `prg`: every component of a request is
/// expanded from its own sub-stream, so the dealer can generate components in
/// lockstep, chunk by chunk, without materialising them.
fn sub_prg(prg: &mut Prg) -> Prg {
    Prg::from_seed_block(prg.gen_seed())
}

fn rand_vec<R: Ring>(prg: &mut Prg, n: usize) -> Vec<R> {
    R::random_vec(&mut sub_prg(prg), n)
}

fn rand_array<R: Ring>(prg: &mut Prg, shape: &[usize]) -> ArrayD<R> {
    let v = rand_vec(prg, shape.iter().product());
    ArrayD::from_shape_vec(IxDyn(shape), v).unwrap_or_else(|_| unreachable_shape())
}

fn rand_bits(prg: &mut Prg, n: usize) -> BitVec {
    BitVec::random(&mut sub_prg(prg), n)
}

#[cold]
fn unreachable_shape<R: Ring>() -> ArrayD<R> {
    // `rand_vec` returns exactly the product of the shape's dimensions.
    ArrayD::from_elem(IxDyn(&[0]), R::zero())
}

fn array_from<R: Ring>(shape: &[usize], v: Vec<R>) -> Result<ArrayD<R>> {
    ArrayD::from_shape_vec(IxDyn(shape), v).map_err(|e| Error::shape("correction", e.to_string()))
}

fn encode_array<R: Ring>(a: &ArrayD<R>, out: &mut Vec<u8>) {
    match a.as_slice() {
        Some(s) => R::encode_slice(s, out),
        None => R::encode_slice(&a.iter().copied().collect::<Vec<_>>(), out),
    }
}

/// Copies little-endian bytes into a vector of plain-old-data values (lengths are
/// multiples of the element size by construction of the correction layout).
fn pod_vec<T: bytemuck::Pod>(bytes: &[u8]) -> Vec<T> {
    let mut v = vec![T::zeroed(); bytes.len() / std::mem::size_of::<T>()];
    let n = v.len() * std::mem::size_of::<T>();
    bytemuck::cast_slice_mut::<T, u8>(&mut v).copy_from_slice(&bytes[..n]);
    v
}

fn rand_blocks(prg: &mut Prg, n: usize) -> Vec<Block> {
    Block::random_vec(&mut sub_prg(prg), n)
}

/// The top bit and `⌊(r mod 2^(ℓ−1)) / 2^f⌋` of `r`.
pub(crate) fn msb_mid<R: Ring>(r: R, f: u32) -> (R, R) {
    let u = r.to_u64();
    let low_mask = if R::BITS == 64 {
        u64::MAX >> 1
    } else {
        (1u64 << (R::BITS - 1)) - 1
    };
    (
        R::from_u64(u >> (R::BITS - 1)),
        R::from_u64((u & low_mask) >> f),
    )
}

/// Party 1's random draws for one request, before corrections.
enum P1Draw<R: Ring> {
    Beaver(ArrayD<R>, ArrayD<R>),
    Square(ArrayD<R>),
    Trunc(ArrayD<R>),
    And(BitVec, BitVec),
    RotChoices(BitVec),
    RotX(Vec<Block>),
    DaBits(BitVec),
    None,
    V(ArrayD<R>),
}

fn p0_draw<R: Ring>(
    req: &Request,
    prg: &mut Prg,
    masks: &mut Vec<ArrayD<R>>,
) -> Result<Correlation<R>> {
    Ok(match req {
        Request::Beaver { op, a, b } => {
            let c_shape = op.output_shape(a, b)?;
            Correlation::Beaver(BeaverTriple {
                op: *op,
                a: rand_array(prg, a),
                b: rand_array(prg, b),
                c: rand_array(prg, &c_shape),
            })
        }
        Request::Square { shape } => Correlation::Square(SquarePair {
            a: rand_array(prg, shape),
            c: rand_array(prg, shape),
        }),
        Request::Trunc { frac_bits, shape } => Correlation::Trunc(TruncPair {
            frac_bits: *frac_bits,
            r: rand_array(prg, shape),
            r_msb: rand_array(prg, shape),
            r_mid: rand_array(prg, shape),
        }),
        Request::AndTriples { bits } => Correlation::And(AndTriples {
            a: rand_bits(prg, *bits),
            b: rand_bits(prg, *bits),
            c: rand_bits(prg, *bits),
        }),
        Request::RandomOts { count, sender } => Correlation::Rot(if *sender == 0 {
            RandomOts::Sender {
                m0: rand_blocks(prg, *count),
                m1: rand_blocks(prg, *count),
            }
        } else {
            RandomOts::Receiver {
                choices: rand_bits(prg, *count),
                chosen: rand_blocks(prg, *count),
            }
        }),
        Request::DaBits { count } => Correlation::DaBits(DaBits {
            arith: rand_vec(prg, *count),
            boolean: rand_bits(prg, *count),
        }),
        Request::WeightMask { shape } => {
            let u = rand_array(prg, shape);
            masks.push(u.clone());
            Correlation::WeightMask(WeightMaskShare { mask: Some(u) })
        }
        Request::PlainWeight {
            op,
            mask,
            act,
            weight,
        } => {
            let out = op.output_shape(act, weight)?;
            Correlation::PlainWeight(PlainWeightShare {
                op: *op,
                mask: *mask,
                v: None,
                z: rand_array(prg, &out),
            })
        }
    })
}

fn p1_draw<R: Ring>(req: &Request, prg: &mut Prg) -> P1Draw<R> {
    match req {
        Request::Beaver { a, b, .. } => P1Draw::Beaver(rand_array(prg, a), rand_array(prg, b)),
        Request::Square { shape } => P1Draw::Square(rand_array(prg, shape)),
        Request::Trunc { shape, .. } => P1Draw::Trunc(rand_array(prg, shape)),
        Request::AndTriples { bits } => P1Draw::And(rand_bits(prg, *bits), rand_bits(prg, *bits)),
        Request::RandomOts { count, sender } => {
            if *sender == 0 {
                P1Draw::RotChoices(rand_bits(prg, *count))
            } else {
                P1Draw::RotX(rand_blocks(prg, *count))
            }
        }
        Request::DaBits { count } => P1Draw::DaBits(rand_bits(prg, *count)),
        Request::WeightMask { .. } => P1Draw::None,
        Request::PlainWeight { act, .. } => P1Draw::V(rand_array(prg, act)),
    }
}

fn internal(detail: &str) -> Error {
    Error::Protocol {
        step: "seed expansion",
        detail: detail.to_string(),
    }
}

/// The dealer's corrections for one request, appended to `out`.
fn correct<R: Ring>(
    req: &Request,
    p0: &Correlation<R>,
    p1: &P1Draw<R>,
    masks: &[ArrayD<R>],
    out: &mut Vec<u8>,
) -> Result<()> {
    match (req, p0, p1) {
        (Request::Beaver { op, .. }, Correlation::Beaver(t), P1Draw::Beaver(a1, b1)) => {
            let a = &t.a + a1;
            let b = &t.b + b1;
            let mut c = t.c.mapv(|x| -x);
            op.accumulate(a.view(), b.view(), &mut c)?;
            encode_array(&c, out);
        }
        (Request::Square { .. }, Correlation::Square(s), P1Draw::Square(a1)) => {
            let mut c1 = Vec::with_capacity(a1.len());
            for ((&a0, &a1), &c0) in s.a.iter().zip(a1.iter()).zip(s.c.iter()) {
                let a = a0 + a1;
                c1.push(a * a - c0);
            }
            R::encode_slice(&c1, out);
        }
        (Request::Trunc { frac_bits, .. }, Correlation::Trunc(t), P1Draw::Trunc(r1)) => {
            let n = r1.len();
            let mut msb1 = Vec::with_capacity(n);
            let mut mid1 = Vec::with_capacity(n);
            for (((&r0, &r1), &m0), &d0) in t.r.iter().zip(r1.iter()).zip(&t.r_msb).zip(&t.r_mid) {
                let (msb, mid) = msb_mid(r0 + r1, *frac_bits);
                msb1.push(msb - m0);
                mid1.push(mid - d0);
            }
            R::encode_slice(&msb1, out);
            R::encode_slice(&mid1, out);
        }
        (Request::AndTriples { .. }, Correlation::And(t), P1Draw::And(a1, b1)) => {
            for ((((&a0, &b0), &c0), &a1), &b1) in
                t.a.words()
                    .iter()
                    .zip(t.b.words())
                    .zip(t.c.words())
                    .zip(a1.words())
                    .zip(b1.words())
            {
                out.extend_from_slice(&(((a0 ^ a1) & (b0 ^ b1)) ^ c0).to_le_bytes());
            }
        }
        (
            Request::RandomOts { .. },
            Correlation::Rot(RandomOts::Sender { m0, m1 }),
            P1Draw::RotChoices(c),
        ) => {
            for (i, (x0, x1)) in m0.iter().zip(m1).enumerate() {
                let m = if c.get(i) { *x1 } else { *x0 };
                out.extend_from_slice(&m.to_bytes());
            }
        }
        (
            Request::RandomOts { .. },
            Correlation::Rot(RandomOts::Receiver { choices, chosen }),
            P1Draw::RotX(x),
        ) => {
            for (i, (s, x)) in chosen.iter().zip(x).enumerate() {
                out.extend_from_slice(&(*s ^ x.and_bit(choices.get(i))).to_bytes());
            }
        }
        (Request::DaBits { .. }, Correlation::DaBits(d), P1Draw::DaBits(b1)) => {
            let a1: Vec<R> = d
                .arith
                .iter()
                .enumerate()
                .map(|(i, &a0)| {
                    let bit = d.boolean.get(i) ^ b1.get(i);
                    R::from_u64(u64::from(bit)) - a0
                })
                .collect();
            R::encode_slice(&a1, out);
        }
        (Request::WeightMask { .. }, Correlation::WeightMask(_), P1Draw::None) => {}
        (Request::PlainWeight { op, mask, .. }, Correlation::PlainWeight(p), P1Draw::V(v)) => {
            let u = masks
                .get(*mask)
                .ok_or_else(|| internal("plaintext-weight request without its mask"))?;
            let mut z1 = p.z.mapv(|x| -x);
            op.accumulate(v.view(), u.view(), &mut z1)?;
            encode_array(&z1, out);
        }
        _ => return Err(internal("party draws do not match the request")),
    }
    Ok(())
}

/// Party 1's item from its draws and its correction bytes (exactly
/// `req.correction_bytes::<R>()` of them).
fn p1_item<R: Ring>(req: &Request, draw: P1Draw<R>, corr: &[u8]) -> Result<Correlation<R>> {
    let ring = |bytes: &[u8]| -> Result<Vec<R>> { Ok(R::decode_slice(bytes)?) };
    Ok(match (req, draw) {
        (Request::Beaver { op, a, b }, P1Draw::Beaver(a1, b1)) => {
            let c = array_from(&op.output_shape(a, b)?, ring(corr)?)?;
            Correlation::Beaver(BeaverTriple {
                op: *op,
                a: a1,
                b: b1,
                c,
            })
        }
        (Request::Square { shape }, P1Draw::Square(a1)) => Correlation::Square(SquarePair {
            a: a1,
            c: array_from(shape, ring(corr)?)?,
        }),
        (Request::Trunc { frac_bits, shape }, P1Draw::Trunc(r1)) => {
            let (m, d) = corr.split_at(corr.len() / 2);
            Correlation::Trunc(TruncPair {
                frac_bits: *frac_bits,
                r: r1,
                r_msb: array_from(shape, ring(m)?)?,
                r_mid: array_from(shape, ring(d)?)?,
            })
        }
        (Request::AndTriples { bits }, P1Draw::And(a1, b1)) => Correlation::And(AndTriples {
            a: a1,
            b: b1,
            c: BitVec::from_words(*bits, pod_vec(corr))?,
        }),
        (Request::RandomOts { .. }, P1Draw::RotChoices(c)) => {
            Correlation::Rot(RandomOts::Receiver {
                choices: c,
                chosen: pod_vec(corr),
            })
        }
        (Request::RandomOts { .. }, P1Draw::RotX(x)) => {
            let d: Vec<Block> = pod_vec(corr);
            let m1 = d.iter().zip(&x).map(|(d, x)| *d ^ *x).collect();
            Correlation::Rot(RandomOts::Sender { m0: d, m1 })
        }
        (Request::DaBits { .. }, P1Draw::DaBits(b1)) => Correlation::DaBits(DaBits {
            arith: ring(corr)?,
            boolean: b1,
        }),
        (Request::WeightMask { .. }, P1Draw::None) => {
            Correlation::WeightMask(WeightMaskShare { mask: None })
        }
        (
            Request::PlainWeight {
                op,
                mask,
                act,
                weight,
            },
            P1Draw::V(v),
        ) => Correlation::PlainWeight(PlainWeightShare {
            op: *op,
            mask: *mask,
            v: Some(v),
            z: array_from(&op.output_shape(act, weight)?, ring(corr)?)?,
        }),
        _ => return Err(internal("party 1 draw does not match the request")),
    })
}

/// A party's material expanded one request at a time, in demand order, so that a
/// store holds only what it has not handed out yet and has expanded ahead (see
/// [`crate::preprocessing::Store`]). Party 1's corrections are passed to each step by
/// the owner, who holds them. Never printed: its PRG state is secret.
pub(crate) struct Expander<R: Ring> {
    party: usize,
    requests: Vec<Request>,
    next: usize,
    prg: Prg,
    /// Party 0's weight masks so far (a plaintext-weight item refers to one).
    masks: Vec<ArrayD<R>>,
    /// Party 1's offset into its corrections.
    off: usize,
}

impl<R: Ring> Expander<R> {
    /// The expansion of `demand` for `party` from `seed`; `corrections` are party 1's
    /// (empty for party 0).
    ///
    /// # Errors
    /// If the demand is invalid for ring `R`, the party does not exist, or
    /// `corrections` is not exactly [`Demand::correction_bytes`] long for party 1 (or
    /// not empty for party 0).
    pub(crate) fn new(
        party: usize,
        demand: &Demand,
        seed: Block,
        corrections: &[u8],
    ) -> Result<Self> {
        demand.validate::<R>()?;
        let want = match party {
            0 => 0,
            1 => demand.correction_bytes::<R>(),
            p => {
                return Err(Error::InvalidArgument {
                    op: "seed expansion",
                    detail: format!("party {p} does not exist"),
                });
            }
        };
        if corrections.len() != want {
            return Err(Error::Protocol {
                step: "seed expansion",
                detail: format!(
                    "{} correction bytes for party {party}'s demand, which needs {want}",
                    corrections.len()
                ),
            });
        }
        Ok(Expander {
            party,
            requests: demand.requests().to_vec(),
            next: 0,
            prg: Prg::from_seed_block(seed),
            masks: Vec::new(),
            off: 0,
        })
    }

    /// An expansion with nothing left.
    pub(crate) fn empty(party: usize) -> Self {
        Expander {
            party,
            requests: Vec::new(),
            next: 0,
            prg: Prg::from_seed_block(Block(0)),
            masks: Vec::new(),
            off: 0,
        }
    }

    /// Requests not expanded yet.
    pub(crate) fn remaining(&self) -> usize {
        self.requests.len() - self.next
    }

    /// The next request without expanding it.
    pub(crate) fn peek(&self) -> Option<&Request> {
        self.requests.get(self.next)
    }

    /// Expands the next request (`None` when all are); `corrections` must be the
    /// slice given to [`Expander::new`].
    ///
    /// # Errors
    /// An internal error if the corrections do not fit (checked at construction).
    pub(crate) fn next_item(
        &mut self,
        corrections: &[u8],
    ) -> Option<Result<(Request, Correlation<R>)>> {
        let r = self.requests.get(self.next)?.clone();
        self.next += 1;
        let item = if self.party == 0 {
            p0_draw::<R>(&r, &mut self.prg, &mut self.masks)
        } else {
            let n = r.correction_bytes::<R>();
            let Some(corr) = corrections.get(self.off..self.off + n) else {
                return Some(Err(internal("the corrections end before the demand")));
            };
            self.off += n;
            p1_item(&r, p1_draw::<R>(&r, &mut self.prg), corr)
        };
        Some(item.map(|c| (r, c)))
    }
}

fn expand_all<R: Ring>(
    party: usize,
    demand: &Demand,
    seed: Block,
    corrections: &[u8],
) -> Result<Vec<(Request, Correlation<R>)>> {
    let mut e = Expander::<R>::new(party, demand, seed, corrections)?;
    let mut out = Vec::with_capacity(e.remaining());
    while let Some(item) = e.next_item(corrections) {
        out.push(item?);
    }
    Ok(out)
}

/// Party 0's material for `demand`, expanded from `seed`.
///
/// # Errors
/// If the demand is invalid for ring `R`.
pub fn expand_party0<R: Ring>(
    demand: &Demand,
    seed: Block,
) -> Result<Vec<(Request, Correlation<R>)>> {
    expand_all(0, demand, seed, &[])
}

/// Party 1's material for `demand`, expanded from `seed` and the dealer's
/// `corrections`.
///
/// # Errors
/// If the demand is invalid or `corrections` is not exactly
/// [`Demand::correction_bytes`] long.
pub fn expand_party1<R: Ring>(
    demand: &Demand,
    seed: Block,
    corrections: &[u8],
) -> Result<Vec<(Request, Correlation<R>)>> {
    expand_all(1, demand, seed, corrections)
}

/// Elements per chunk of the dealer's streaming path.
const CHUNK: usize = 4096;

/// The dealer's streaming path for element-wise triples: the same sub-streams as
/// [`p0_draw`]/[`p1_draw`] (`A0, B0, C0` from party 0's, `A1, B1` from party 1's),
/// read in lockstep through small buffers, so the dealer's memory traffic is the
/// output alone and generation is bound by the PRG.
fn deal_elementwise<R: Ring>(n: usize, prg0: &mut Prg, prg1: &mut Prg, out: &mut Vec<u8>) {
    let mut streams = [
        sub_prg(prg0),
        sub_prg(prg0),
        sub_prg(prg0),
        sub_prg(prg1),
        sub_prg(prg1),
    ];
    let mut buf = [R::zero(); 5 * CHUNK];
    let mut c1 = [R::zero(); CHUNK];
    out.reserve(n * R::BYTES);
    let mut done = 0;
    while done < n {
        let m = CHUNK.min(n - done);
        for (s, b) in streams.iter_mut().zip(buf.chunks_exact_mut(CHUNK)) {
            R::fill_random(s, &mut b[..m]);
        }
        let (a0, rest) = buf.split_at(CHUNK);
        let (b0, rest) = rest.split_at(CHUNK);
        let (c0, rest) = rest.split_at(CHUNK);
        let (a1, b1) = rest.split_at(CHUNK);
        for i in 0..m {
            c1[i] = (a0[i] + a1[i]) * (b0[i] + b1[i]) - c0[i];
        }
        R::encode_slice(&c1[..m], out);
        done += m;
    }
}

/// The dealer's work: party 1's corrections for `demand` given both seeds (party 0
/// needs nothing but its seed).
///
/// # Errors
/// If the demand is invalid for ring `R`.
pub fn deal<R: Ring>(demand: &Demand, seed0: Block, seed1: Block) -> Result<Vec<u8>> {
    let mut out = Vec::with_capacity(demand.correction_bytes::<R>());
    deal_each::<R>(demand, seed0, seed1, &mut out, |_| Ok(()))?;
    Ok(out)
}

/// [`deal`] request by request: each request's corrections are appended to `out`,
/// then `drain` is called on it (it may take what it wants to send on, so that the
/// dealer holds only a window of the corrections, never all of them).
///
/// # Errors
/// If the demand is invalid for ring `R`; `drain`'s errors.
pub(crate) fn deal_each<R: Ring>(
    demand: &Demand,
    seed0: Block,
    seed1: Block,
    out: &mut Vec<u8>,
    mut drain: impl FnMut(&mut Vec<u8>) -> Result<()>,
) -> Result<()> {
    demand.validate::<R>()?;
    let mut prg0 = Prg::from_seed_block(seed0);
    let mut prg1 = Prg::from_seed_block(seed1);
    let mut masks = Vec::new();
    for r in demand.requests() {
        if let Request::Beaver {
            op: BilinearOp::Elementwise,
            a,
            ..
        } = r
        {
            deal_elementwise::<R>(a.iter().product(), &mut prg0, &mut prg1, out);
        } else {
            let p0 = p0_draw::<R>(r, &mut prg0, &mut masks)?;
            let p1 = p1_draw::<R>(r, &mut prg1);
            correct(r, &p0, &p1, &masks, out)?;
        }
        drain(out)?;
    }
    Ok(())
}
