//! The exact price of the OT source ([`super::source::generate`]) for a demand, computed
//! from the demand's shapes alone: the sequence of exchanges the two parties run, each
//! party's frames in each, replayed on the channel's round clocks ([`Replay`]) — so the
//! bytes, messages and rounds of the offline phase are predicted as the meter counts
//! them (the tests compare them), and the local work (OTs extended, ring elements of
//! vector-OLE corrections) is counted for the time model.
//!
//! The exchanges, in the order [`super::source::generate`] runs them:
//! 1. the link: both parties' hellos, then (unless both hold the same pairing) 128
//!    base OTs and 128 random OTs extended back (three one-way flights, or one);
//! 2. the bulk batches ([`Totals`]): AND triples (random OTs both ways, in batches of
//!    [`AND_BATCH`]), the random OTs
//!    of Yao's evaluator inputs, daBits (a one-way one-bit OLE), element-wise Beaver
//!    triples (a two-way OLE), square pairs (a one-way OLE);
//! 3. one vector OLE per matrix or convolution Beaver triple and per plaintext-weight
//!    product, in demand order;
//! 4. the fence that closes the phase (an empty exchange).

use tessera_core::channel::{HEADER_LEN, stream_chunk_bytes};
use tessera_core::{PhaseMeter, Replay, Ring};

use super::base::POINT_BYTES;
use super::correlate::{CORR_CHUNK_ELEMS, ConvWindows, LINK_PART, vector_corr_bytes};
use super::pairing::{HELLO_BYTES, SetUp};
use super::source::AND_BATCH;
use super::{CORRECTION_BLOCKS, KAPPA, frame_transfers, message_blocks};
use crate::preprocessing::{Demand, Request};
use crate::{BilinearOp, Error, Result};

/// What a demand needs of each kind that the OT source makes in bulk (one batch per
/// kind, whatever the number of requests).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Totals {
    /// AND triples (bits).
    pub and_bits: usize,
    /// Random OTs whose sender is party 0, party 1.
    pub rots: [usize; 2],
    /// daBits, truncation pairs' `ℓ` bits per element included.
    pub dabits: usize,
    /// Elements of element-wise Beaver triples (operands of one shape).
    pub mul_elems: usize,
    /// Elements of square pairs.
    pub square_elems: usize,
}

impl Totals {
    /// The bulk needs of `demand` in a ring of `ell` bits.
    pub fn of(demand: &Demand, ell: usize) -> Totals {
        let mut tot = Totals::default();
        for r in demand.requests() {
            match r {
                Request::Beaver {
                    op: BilinearOp::Elementwise,
                    a,
                    b,
                } if a == b => tot.mul_elems += a.iter().product::<usize>(),
                Request::Square { shape } => tot.square_elems += shape.iter().product::<usize>(),
                Request::Trunc { shape, .. } => tot.dabits += ell * shape.iter().product::<usize>(),
                Request::DaBits { count } => tot.dabits += count,
                Request::AndTriples { bits } => tot.and_bits += bits,
                Request::RandomOts { count, sender } if *sender < 2 => tot.rots[*sender] += count,
                _ => {}
            }
        }
        tot
    }
}

/// One vector OLE ([`super::correlate::vole`]): party `p` sends `vectors[p]` vectors of
/// `len` ring elements (as sender) and chooses with the other party's count of
/// `bits`-wide scalars (as receiver).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Vole {
    /// Vectors each party sends as VOLE sender.
    pub vectors: [usize; 2],
    /// Ring elements per vector.
    pub len: usize,
    /// Bits per scalar (OTs per vector).
    pub bits: usize,
}

/// The vector OLE that request `req` takes beyond the bulk batches (`None`: the request
/// is served from a bulk batch, or locally).
///
/// # Errors
/// Shapes that do not fit the request's map, or a plaintext-weight batch matrix
/// product (not made from OTs).
pub fn request_vole(req: &Request, ell: usize) -> Result<Option<Vole>> {
    let n = |s: &[usize]| s.iter().product::<usize>();
    let both = |t: usize, len: usize| Vole {
        vectors: [t, t],
        len,
        bits: ell,
    };
    let shape = |detail: String| Error::Shape {
        op: "correlation from OTs",
        detail,
    };
    Ok(match req {
        Request::Beaver {
            op: BilinearOp::Elementwise,
            a,
            b,
        } if a == b => None,
        Request::Beaver { op, a, b } => Some(match op {
            BilinearOp::Elementwise => {
                return Err(shape(format!(
                    "element-wise operands {a:?} and {b:?} differ"
                )));
            }
            BilinearOp::Broadcast => both(n(a), 1),
            BilinearOp::MatMul | BilinearOp::BatchMatMul => {
                let (bt, m, k, k2, nn) = match (op, &a[..], &b[..]) {
                    (BilinearOp::MatMul, &[m, k], &[k2, nn]) => (1, m, k, k2, nn),
                    (BilinearOp::BatchMatMul, &[bt, m, k], &[bt2, k2, nn]) if bt == bt2 => {
                        (bt, m, k, k2, nn)
                    }
                    _ => return Err(shape(format!("{op} of {a:?} and {b:?}"))),
                };
                if k != k2 {
                    return Err(shape(format!("inner dimensions {k} and {k2}")));
                }
                both(bt * k * nn, m)
            }
            BilinearOp::Conv(p) => {
                let w = ConvWindows::new(p, a, b)?;
                both(n(b), w.len)
            }
        }),
        Request::PlainWeight {
            op, act, weight, ..
        } => Some(match op {
            BilinearOp::Elementwise | BilinearOp::Broadcast => Vole {
                vectors: [n(act), 0],
                len: 1,
                bits: ell,
            },
            BilinearOp::MatMul => {
                let (&[m, k], &[k2, nn]) = (&act[..], &weight[..]) else {
                    return Err(shape(format!("matrix product of {act:?} and {weight:?}")));
                };
                if k != k2 {
                    return Err(shape(format!("inner dimensions {k} and {k2}")));
                }
                Vole {
                    vectors: [m * k, 0],
                    len: nn,
                    bits: ell,
                }
            }
            BilinearOp::Conv(p) => {
                let w = ConvWindows::new(p, act, weight)?;
                Vole {
                    vectors: [0, n(weight)],
                    len: w.len,
                    bits: ell,
                }
            }
            BilinearOp::BatchMatMul => {
                return Err(Error::InvalidArgument {
                    op: "offline source `ot`",
                    detail: "a plaintext-weight batch matrix product is not made from OTs; run \
                             this job with the dealer (`--offline dealer`)"
                        .into(),
                });
            }
        }),
        _ => None,
    })
}

/// The exact price of the OT source on one demand.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct OtPrice {
    /// Each party's offline counters, as its end of the link meters them (the fence
    /// included).
    pub meters: [PhaseMeter; 2],
    /// Each step of the exchange pattern, in order.
    pub steps: Vec<OtStep>,
    /// Random OTs extended for AND triples and Yao's inputs (both directions
    /// together; each is computed by both parties). The OTs of vector OLEs are not
    /// counted here but with their elements.
    pub ots: u64,
    /// Ring elements of vector-OLE corrections of length-1 vectors (each computed by
    /// its sender from an OT string's low bits and folded in by its receiver; one OT
    /// each).
    pub ole_elements: u64,
    /// The same for longer vectors (the OT strings expanded by the PRG; one OT per
    /// `len` elements).
    pub ole_expanded: u64,
    /// Base OTs run (128 per link set-up, with 128 extended transfers).
    pub base_ots: u64,
}

/// One step of the OT source's exchange pattern: what each party sends, and the work
/// done in it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct OtStep {
    /// Bytes each party sends (frame headers included).
    pub bytes: [u64; 2],
    /// Random OTs extended for AND triples and Yao's inputs (their compute precedes
    /// the send and follows the receive).
    pub ots: u64,
    /// Vector-OLE correction elements of length-1 vectors (with their OTs).
    pub ole_elements: u64,
    /// Vector-OLE correction elements of longer vectors (with their OTs).
    pub ole_expanded: u64,
    /// Messages the busier sender cuts its corrections into: the sender computes the
    /// next while the previous travels, the receiver folds each in as it arrives.
    pub chunks: u64,
}

/// The frames (their sizes on the wire) of a streamed message of `n` elements of
/// `elem` bytes; none for `n = 0` (the drivers send nothing then).
fn stream(n: u64, elem: usize, max_frame: usize) -> Vec<u64> {
    let payload = n * elem as u64;
    if payload == 0 {
        return Vec::new();
    }
    let chunk = stream_chunk_bytes(elem, max_frame).max(1) as u64;
    let mut out = Vec::new();
    let mut left = payload;
    while left > 0 {
        let k = left.min(chunk);
        out.push(HEADER_LEN as u64 + k);
        left -= k;
    }
    out
}

/// The frames (their sizes on the wire) of the receiver's message of an extension of
/// `m` transfers: [`frame_transfers`] transfers per frame, 8 bytes per transfer
/// rounded up to a tile.
fn extension_frames(m: usize, max_frame: usize) -> Result<Vec<u64>> {
    let per = frame_transfers(m.max(1), max_frame)?;
    let mut out = Vec::new();
    let mut left = m;
    while left > 0 {
        let k = left.min(per);
        out.push((HEADER_LEN + 16 * message_blocks(k)) as u64);
        left -= k;
    }
    Ok(out)
}

/// The frame of a set-up's correction, in front of its first extension message.
const CORRECTION_FRAME: u64 = (HEADER_LEN + 16 * CORRECTION_BLOCKS) as u64;

struct Pricer {
    replay: Replay,
    /// Whether party `p`'s extension sender still awaits its correction (the peer
    /// sends it with its first message towards `p`).
    awaiting: [bool; 2],
    steps: Vec<OtStep>,
    max_frame: usize,
    price: OtPrice,
}

impl Pricer {
    fn step(&mut self, frames: [Vec<u64>; 2], work: OtStep) {
        if frames[0].is_empty() && frames[1].is_empty() {
            return;
        }
        self.replay.step([&frames[0], &frames[1]]);
        self.steps.push(OtStep {
            bytes: [frames[0].iter().sum(), frames[1].iter().sum()],
            ..work
        });
    }

    /// Random OTs both ways at once: party `p` is the extension sender of `count[p]`;
    /// `ots` of them are charged to this step (the others to their OLE's elements).
    fn extend(&mut self, count: [usize; 2], ots: u64) -> Result<()> {
        let mf = self.max_frame;
        let mut frames = [
            extension_frames(count[1], mf)?,
            extension_frames(count[0], mf)?,
        ];
        for p in 0..2 {
            // Party 1 - p's frames are towards party p's sender.
            if count[p] > 0 && self.awaiting[p] {
                frames[1 - p].insert(0, CORRECTION_FRAME);
                self.awaiting[p] = false;
            }
        }
        self.step(
            frames,
            OtStep {
                ots,
                ..OtStep::default()
            },
        );
        Ok(())
    }

    fn vole(&mut self, v: Vole, ring_bits: usize) -> Result<()> {
        // The receiver's extensions (each party receives for the other's vectors).
        self.extend([v.vectors[0] * v.bits, v.vectors[1] * v.bits], 0)?;
        let per_vec = (v.bits * v.len).max(1);
        let one_way = v.vectors[0] == 0 || v.vectors[1] == 0;
        let chunk = |t: usize| {
            if one_way {
                (CORR_CHUNK_ELEMS / per_vec).max(1)
            } else {
                t.max(1)
            }
        };
        let mf = self.max_frame;
        let vec_bytes = vector_corr_bytes(ring_bits, v.bits, v.len);
        let mut chunks = 0;
        let frames = [0, 1].map(|p| {
            let t = v.vectors[p];
            let cs = chunk(t);
            let mut out = Vec::new();
            let (mut t0, mut k) = (0, 0);
            while t0 < t {
                let t1 = (t0 + cs).min(t);
                out.extend(stream(((t1 - t0) * vec_bytes) as u64, 1, mf));
                t0 = t1;
                k += 1;
            }
            chunks = chunks.max(k);
            out
        });
        let elements = ((v.vectors[0] + v.vectors[1]) * per_vec) as u64;
        let mut work = OtStep {
            chunks,
            ..OtStep::default()
        };
        if v.len > 1 {
            self.price.ole_expanded += elements;
            work.ole_expanded = elements;
        } else {
            self.price.ole_elements += elements;
            work.ole_elements = elements;
        }
        self.step(frames, work);
        Ok(())
    }
}

/// The exact offline price of the OT source for `demand` in ring `R`, on a link whose
/// frames are at most `max_frame` bytes, with a fresh set-up (base OTs).
///
/// # Errors
/// As [`request_vole`].
pub fn price<R: Ring>(demand: &Demand, max_frame: usize) -> Result<OtPrice> {
    price_with::<R>(demand, max_frame, SetUp::Fresh)
}

/// [`price`] with the set-up made as `set_up` says (a paired session's link is one
/// flight of hellos, no base OTs).
///
/// # Errors
/// As [`request_vole`].
pub fn price_with<R: Ring>(demand: &Demand, max_frame: usize, set_up: SetUp) -> Result<OtPrice> {
    let ell = R::BITS as usize;
    let mut p = Pricer {
        replay: Replay::new(),
        awaiting: [true, true],
        steps: Vec::new(),
        max_frame,
        price: OtPrice::default(),
    };
    // 1. The link ([`super::correlate::connect`]): both hellos, party 1's with its
    // `A`; when fresh, party 0's reply in parts and party 1's extension of 128 random
    // OTs (its set-up's correction in front).
    let hello = (HEADER_LEN + HELLO_BYTES) as u64;
    let part = (HEADER_LEN + LINK_PART * POINT_BYTES) as u64;
    let none = OtStep::default();
    p.step([vec![hello], vec![hello + POINT_BYTES as u64]], none);
    if set_up == SetUp::Fresh {
        p.step([vec![part; KAPPA / LINK_PART], vec![]], none);
        let mut back = extension_frames(KAPPA, max_frame)?;
        back.insert(0, CORRECTION_FRAME);
        p.step([vec![], back], none);
        p.awaiting[0] = false;
        p.price.base_ots = KAPPA as u64;
    }
    // 2. The bulk batches.
    let tot = Totals::of(demand, ell);
    let mut left = tot.and_bits;
    while left > 0 {
        let k = left.min(AND_BATCH);
        p.extend([k, k], 2 * k as u64)?;
        left -= k;
    }
    p.extend(tot.rots, (tot.rots[0] + tot.rots[1]) as u64)?;
    p.price.ots = (2 * tot.and_bits + tot.rots[0] + tot.rots[1]) as u64;
    let bulk = [
        Vole {
            vectors: [tot.dabits, 0],
            len: 1,
            bits: 1,
        },
        Vole {
            vectors: [tot.mul_elems, tot.mul_elems],
            len: 1,
            bits: ell,
        },
        Vole {
            vectors: [tot.square_elems, 0],
            len: 1,
            bits: ell,
        },
    ];
    for v in bulk {
        p.vole(v, ell)?;
    }
    // 3. One vector OLE per shaped request.
    for r in demand.requests() {
        if let Some(v) = request_vole(r, ell)? {
            p.vole(v, ell)?;
        }
    }
    // 4. The fence.
    let empty = HEADER_LEN as u64;
    p.step([vec![empty], vec![empty]], none);
    p.price.meters = p.replay.meters();
    p.price.steps = p.steps;
    Ok(p.price)
}
