//! The dealer-free offline source: every correlation of a session's demand made by the
//! two parties with OT extension ([`super::correlate`]), behind the same
//! [`OfflineSource`] trait as the dealer and the preprocessing file.
//!
//! How each request is made (semi-honest; `p` is this party, `A_p` its share):
//! - Beaver triples (element-wise, matrix and N-D convolution products): two vector
//!   OLEs for the cross terms ([`correlate::beaver`]; a convolution's as one OLE per
//!   kernel entry against the input values it reads, `correlate::ConvWindows`).
//! - square pairs `(A, A ⊙ A)`: one one-way OLE for the cross term `2·A_0·A_1`.
//! - daBits: each party draws its XOR share `b_p`; the arithmetic shares of
//!   `b_0 ⊕ b_1 = b_0 + b_1 − 2·b_0·b_1` take one one-bit OLE (one OT) per bit.
//! - truncation pairs: `r = Σ_k 2^k·b_k` from ℓ daBits per element, so that
//!   `r_msb = b_{ℓ−1}` and `r_mid = Σ_{f ≤ k < ℓ−1} 2^(k−f)·b_k` are linear in them.
//! - AND triples: two random OTs each ([`correlate::and_triples`]).
//! - random OTs (Yao's evaluator inputs): the named sender is the extension sender.
//! - weight masks: party 0 draws `U` locally; plaintext-weight layers: party 1 draws
//!   `V`, and `op(V, U)` is shared by a one-way vector OLE (matrix products: one
//!   length-`n` OLE per entry of `V`; element-wise: one per element; convolutions: one
//!   per entry of the kernel `U`, party 1 sending the windows of `V`).
//!
//! The kinds that do not depend on a shape are made in bulk, one batch each (see
//! [`generate`]); matrix-product triples and plaintext-weight products one vector OLE
//! (two rounds) each; the set-up (128 base OTs and 128 random OTs extended back) is
//! paid once per session.

use std::time::Instant;

use futures::future::BoxFuture;
use ndarray::{ArrayD, IxDyn};
use rand_core::{CryptoRng, RngCore};
use tessera_core::bits::get_bits;
use tessera_core::{BitVec, Channel, Phase, Prg, Ring};

use super::correlate::{self, ConvWindows, OtLink};
use super::exchange_random_with;
use super::pairing::PairingSlot;
use super::price::Totals;
use crate::arith::bilinear::Bilinear;
use crate::preprocessing::{
    Correlation, DaBits, Demand, PlainWeightShare, Provider, RandomOts, Request, SquarePair, Store,
    TruncPair, WeightMaskShare,
};
use crate::runtime::{OfflineSource, Session, SessionError, at};
use crate::{BilinearOp, Error, Result};

fn random_vec<R: Ring, G: RngCore + ?Sized>(rng: &mut G, n: usize) -> Vec<R> {
    (0..n).map(|_| R::from_u64(rng.next_u64())).collect()
}

fn array<R: Ring>(shape: &[usize], v: Vec<R>) -> Result<ArrayD<R>> {
    ArrayD::from_shape_vec(IxDyn(shape), v).map_err(|e| Error::Shape {
        op: "correlation from OTs",
        detail: e.to_string(),
    })
}

/// Arithmetic shares of `count` random bits together with this party's XOR shares:
/// `b_0 ⊕ b_1 = b_0 + b_1 − 2·b_0·b_1`, the product by a one-way one-bit OLE (party
/// 0 the sender of its bits, party 1 choosing with its own).
async fn dabits<R: Ring, G: RngCore + CryptoRng + ?Sized>(
    ch: &mut Channel,
    link: &mut OtLink,
    party: usize,
    count: usize,
    rng: &mut G,
) -> Result<(Vec<R>, BitVec)> {
    let b = BitVec::random(rng, count);
    let mine: Vec<R> = b.iter().map(|x| R::from_u64(u64::from(x))).collect();
    let (xs, ys): (&[R], &[R]) = if party == 0 {
        (&mine, &[])
    } else {
        (&[], &mine)
    };
    let (s, t) = correlate::vole(ch, link, xs, ys, 1, 1).await?;
    let prod = if party == 0 { s } else { t };
    let two = R::from_u64(2);
    let arith = mine.iter().zip(&prod).map(|(&x, &p)| x - two * p).collect();
    Ok((arith, b))
}

/// One-way vector OLE: party 0 sends its vectors `xs` (length `len`), party 1
/// chooses with its scalars `ys`; this party's shares of `y_t · X_t`.
async fn one_way<R: Ring>(
    ch: &mut Channel,
    link: &mut OtLink,
    party: usize,
    xs: &[R],
    ys: &[R],
    len: usize,
) -> Result<Vec<R>> {
    let (s, t) = if party == 0 {
        correlate::vole(ch, link, xs, &[], len, R::BITS as usize).await?
    } else {
        correlate::vole(ch, link, &[], ys, len, R::BITS as usize).await?
    };
    Ok(if party == 0 { s } else { t })
}

/// A run of bits cut from the front of a bulk-made vector.
fn take_bits(v: &BitVec, at: &mut usize, n: usize) -> BitVec {
    let mut out = BitVec::zeros(n);
    get_bits(v.words(), *at, n, out.words_mut());
    *at += n;
    out
}

/// The next `n` items of a bulk-made vector.
fn take<T: Clone>(v: &[T], at: &mut usize, n: usize) -> Vec<T> {
    let out = v[*at..*at + n].to_vec();
    *at += n;
    out
}

/// AND triples per batch of the OT source (one round each): a party holds the random-OT
/// strings of at most this many triples at a time (about 50 bytes each, 200 MiB), so a
/// GMW demand of any size fits in memory as its packed triples. A multiple of 64.
pub const AND_BATCH: usize = 1 << 22;
const _: () = assert!(AND_BATCH.is_multiple_of(64));

/// Everything made in bulk, handed out to the requests in demand order.
struct Bulk<R: Ring> {
    and: crate::preprocessing::AndTriples,
    and_at: usize,
    rot_send: Vec<[tessera_core::Block; 2]>,
    rot_send_at: usize,
    rot_recv: (BitVec, Vec<tessera_core::Block>),
    rot_recv_at: usize,
    dabits: (Vec<R>, BitVec),
    dabits_at: usize,
    mul: (Vec<R>, Vec<R>, Vec<R>),
    mul_at: usize,
    square: (Vec<R>, Vec<R>),
    square_at: usize,
}

/// This party's correlations for `demand`, in demand order, made with the other party
/// over `ch` (set-up included: derived from the pairing in `pairing` if the other
/// party holds the same one, else fresh and then kept there — see
/// [`correlate::connect`]). The kinds that do not depend on a shape — AND
/// triples, random OTs, daBits (truncation pairs' bits included), element-wise
/// Beaver triples and square pairs — are made in bulk first, one batch per kind
/// (one or two rounds each whatever the demand); matrix-product triples and
/// plaintext-weight products follow, one vector OLE each.
///
/// # Errors
/// Shapes that do not fit, transport errors or a malformed message from the peer.
pub async fn generate<R: Ring, G: RngCore + CryptoRng + ?Sized>(
    ch: &mut Channel,
    party: usize,
    demand: &Demand,
    pairing: Option<&PairingSlot>,
    rng: &mut G,
) -> Result<Vec<(Request, Correlation<R>)>> {
    check_sizes::<R>(demand)?;
    let tot = Totals::of(demand, R::BITS as usize);
    let t = Instant::now();
    let (mut link, _) = correlate::connect(ch, party, pairing, rng).await?;
    step_done(party, "link set-up", t);
    let t = Instant::now();
    let mut bulk = bulk::<R, G>(ch, &mut link, party, &tot, rng).await?;
    step_done(party, "bulk batches", t);
    let mut masks: Vec<ArrayD<R>> = Vec::new();
    let mut out = Vec::with_capacity(demand.len());
    for req in demand.requests() {
        let t = Instant::now();
        let item = make(ch, &mut link, party, req, &mut masks, &mut bulk, rng).await?;
        step_done(party, req.kind(), t);
        out.push((req.clone(), item));
    }
    Ok(out)
}

/// Logs a step of the source and its time (`RUST_LOG=tessera::ot=debug`), to compare
/// with the time model's prediction of it.
fn step_done(party: usize, what: &str, since: Instant) {
    tracing::debug!(
        target: "tessera::ot",
        party,
        step = what,
        us = since.elapsed().as_micros() as u64
    );
}

/// The largest correction message one vector OLE may build (both parties hold it
/// in memory at once).
pub const MAX_VOLE_BYTES: u64 = 2 << 30;

/// Refuses, before any message, a demand with a correlation whose vector OLE would
/// exceed [`MAX_VOLE_BYTES`] — a matrix triple's costs `k·n` vectors of `m` elements
/// per bit of the ring (`m·k·n·Σ_k⌈(ℓ−k)/8⌉` bytes: 3.7 GB for
/// `[128, 784]·[784, 128]` in `Z_2^64`) — rather than exhausting the memory of both
/// parties.
fn check_sizes<R: Ring>(demand: &Demand) -> Result<()> {
    let ell = R::BITS as usize;
    for req in demand.requests() {
        if let Some(v) = super::price::request_vole(req, ell)? {
            let bytes = (v.vectors[0].max(v.vectors[1]) as u64).saturating_mul(
                correlate::vector_corr_bytes(R::BITS as usize, v.bits, v.len) as u64,
            );
            if bytes > MAX_VOLE_BYTES {
                return Err(crate::Error::InvalidArgument {
                    op: "offline phase by OT",
                    detail: format!(
                        "the {} correlation {req:?} needs {:.1} GB of OLE corrections in one \
                         message (limit {:.1} GB): too large to make by OT extension here; use \
                         the dealer, or smaller layers or batches",
                        req.kind(),
                        bytes as f64 / 1e9,
                        MAX_VOLE_BYTES as f64 / 1e9
                    ),
                });
            }
        }
    }
    Ok(())
}

/// The bulk batches, in a fixed order both parties follow.
async fn bulk<R: Ring, G: RngCore + CryptoRng + ?Sized>(
    ch: &mut Channel,
    link: &mut OtLink,
    party: usize,
    tot: &Totals,
    rng: &mut G,
) -> Result<Bulk<R>> {
    // AND triples in batches (one round each), so that a party holds the random-OT
    // strings of at most AND_BATCH triples at a time, not of the whole demand.
    // Every batch but the last is whole words (AND_BATCH is a multiple of 64), so the
    // batches' words are appended as they come (no zeroed vector written into: its
    // first write to each page is a copy-on-write fault).
    let t = Instant::now();
    let n = tot.and_bits;
    let words = n.div_ceil(64);
    let mut aw: [Vec<u64>; 3] = std::array::from_fn(|_| Vec::with_capacity(words));
    let mut at = 0;
    while at < n {
        let k = (n - at).min(AND_BATCH);
        let t = correlate::and_triples(ch, link, k, rng).await?;
        for (w, v) in aw.iter_mut().zip([&t.a, &t.b, &t.c]) {
            w.extend_from_slice(v.words());
        }
        at += k;
    }
    let [a, b, c] = aw.map(|w| BitVec::from_words(n, w));
    let and = crate::preprocessing::AndTriples {
        a: a?,
        b: b?,
        c: c?,
    };
    step_done(party, "AND triples", t);
    // Random OTs: party p is the extension sender of tot.rots[p]; both directions in
    // one round (each party's extension message never waits for the peer's).
    let t = Instant::now();
    let choices = BitVec::random(rng, tot.rots[1 - party]);
    let bools: Vec<bool> = choices.iter().collect();
    let (mut chosen, mut rot_send) = (
        Vec::with_capacity(bools.len()),
        Vec::with_capacity(tot.rots[party]),
    );
    exchange_random_with(
        ch,
        (&mut link.receiver, &mut link.sender),
        &bools,
        tot.rots[party],
        |_, y| chosen.extend_from_slice(y),
        |_, x| rot_send.extend_from_slice(x),
    )
    .await?;
    step_done(party, "random OTs", t);
    let t = Instant::now();
    let dabits = dabits::<R, G>(ch, link, party, tot.dabits, rng).await?;
    step_done(party, "daBits", t);
    let t = Instant::now();
    // Element-wise Beaver triples: two-way OLE of A_p against the other's B.
    let a: Vec<R> = random_vec(rng, tot.mul_elems);
    let b: Vec<R> = random_vec(rng, tot.mul_elems);
    let (x, y) = correlate::vole(ch, link, &a, &b, 1, R::BITS as usize).await?;
    let c = (0..a.len()).map(|i| a[i] * b[i] + x[i] + y[i]).collect();
    step_done(party, "element-wise Beaver triples", t);
    let t = Instant::now();
    // Square pairs: the cross term 2·A_0·A_1 by a one-way OLE.
    let sa: Vec<R> = random_vec(rng, tot.square_elems);
    let two = R::from_u64(2);
    let twice: Vec<R> = sa.iter().map(|&v| two * v).collect();
    let cross = one_way(ch, link, party, &twice, &sa, 1).await?;
    let sc = sa.iter().zip(&cross).map(|(&v, &k)| v * v + k).collect();
    step_done(party, "square pairs", t);
    Ok(Bulk {
        and,
        and_at: 0,
        rot_send,
        rot_send_at: 0,
        rot_recv: (choices, chosen),
        rot_recv_at: 0,
        dabits,
        dabits_at: 0,
        mul: (a, b, c),
        mul_at: 0,
        square: (sa, sc),
        square_at: 0,
    })
}

#[allow(clippy::too_many_arguments)]
async fn make<R: Ring, G: RngCore + CryptoRng + ?Sized>(
    ch: &mut Channel,
    link: &mut OtLink,
    party: usize,
    req: &Request,
    masks: &mut Vec<ArrayD<R>>,
    bulk: &mut Bulk<R>,
    rng: &mut G,
) -> Result<Correlation<R>> {
    Ok(match req {
        Request::Beaver {
            op: BilinearOp::Elementwise,
            a,
            b,
        } if a == b => {
            let n = a.iter().product();
            let at = bulk.mul_at;
            let (ta, tb, tc) = &bulk.mul;
            let t = crate::preprocessing::BeaverTriple {
                op: BilinearOp::Elementwise,
                a: array(a, take(ta, &mut at.clone(), n))?,
                b: array(b, take(tb, &mut at.clone(), n))?,
                c: array(a, take(tc, &mut bulk.mul_at, n))?,
            };
            Correlation::Beaver(t)
        }
        Request::Beaver { op, a, b } => {
            Correlation::Beaver(correlate::beaver(ch, link, op, a, b, rng).await?)
        }
        Request::Square { shape } => {
            let n = shape.iter().product();
            let at = bulk.square_at;
            Correlation::Square(SquarePair {
                a: array(shape, take(&bulk.square.0, &mut at.clone(), n))?,
                c: array(shape, take(&bulk.square.1, &mut bulk.square_at, n))?,
            })
        }
        Request::Trunc { frac_bits, shape } => {
            let n: usize = shape.iter().product();
            let ell = R::BITS as usize;
            let f = *frac_bits as usize;
            let bits = take(&bulk.dabits.0, &mut bulk.dabits_at, n * ell);
            let (mut r, mut msb, mut mid) = (Vec::new(), Vec::new(), Vec::new());
            for e in bits.chunks_exact(ell) {
                let (mut rv, mut dv) = (R::zero(), R::zero());
                for (k, &b) in e.iter().enumerate() {
                    rv += R::from_u64(1u64 << k) * b;
                    if k >= f && k < ell - 1 {
                        dv += R::from_u64(1u64 << (k - f)) * b;
                    }
                }
                r.push(rv);
                msb.push(e[ell - 1]);
                mid.push(dv);
            }
            Correlation::Trunc(TruncPair {
                frac_bits: *frac_bits,
                r: array(shape, r)?,
                r_msb: array(shape, msb)?,
                r_mid: array(shape, mid)?,
            })
        }
        Request::AndTriples { bits } => {
            let at = bulk.and_at;
            let t = &bulk.and;
            let out = crate::preprocessing::AndTriples {
                a: take_bits(&t.a, &mut at.clone(), *bits),
                b: take_bits(&t.b, &mut at.clone(), *bits),
                c: take_bits(&t.c, &mut bulk.and_at, *bits),
            };
            Correlation::And(out)
        }
        Request::RandomOts { count, sender } => Correlation::Rot(if *sender == party {
            let m = take(&bulk.rot_send, &mut bulk.rot_send_at, *count);
            RandomOts::Sender {
                m0: m.iter().map(|p| p[0]).collect(),
                m1: m.iter().map(|p| p[1]).collect(),
            }
        } else {
            let at = bulk.rot_recv_at;
            RandomOts::Receiver {
                choices: take_bits(&bulk.rot_recv.0, &mut at.clone(), *count),
                chosen: take(&bulk.rot_recv.1, &mut bulk.rot_recv_at, *count),
            }
        }),
        Request::DaBits { count } => {
            let at = bulk.dabits_at;
            Correlation::DaBits(DaBits {
                arith: take(&bulk.dabits.0, &mut bulk.dabits_at, *count),
                boolean: take_bits(&bulk.dabits.1, &mut at.clone(), *count),
            })
        }
        Request::WeightMask { shape } => {
            if party == 0 {
                let n = shape.iter().product();
                let u = array(shape, random_vec(rng, n))?;
                masks.push(u.clone());
                Correlation::WeightMask(WeightMaskShare { mask: Some(u) })
            } else {
                masks.push(ArrayD::zeros(IxDyn(&[0])));
                Correlation::WeightMask(WeightMaskShare { mask: None })
            }
        }
        Request::PlainWeight {
            op,
            mask,
            act,
            weight,
        } => plain_weight(ch, link, party, op, *mask, act, weight, masks, rng).await?,
    })
}

/// Shares of `op(V, U)` for party 1's fresh `V` (shaped `act`) and party 0's mask `U`.
#[allow(clippy::too_many_arguments)]
async fn plain_weight<R: Ring, G: RngCore + CryptoRng + ?Sized>(
    ch: &mut Channel,
    link: &mut OtLink,
    party: usize,
    op: &BilinearOp,
    mask: usize,
    act: &[usize],
    weight: &[usize],
    masks: &[ArrayD<R>],
    rng: &mut G,
) -> Result<Correlation<R>> {
    let out_shape = op.output_shape(act, weight)?;
    let v = if party == 1 {
        let n = act.iter().product();
        Some(array(act, random_vec(rng, n))?)
    } else {
        None
    };
    let u = if party == 0 {
        Some(masks.get(mask).ok_or_else(|| Error::Protocol {
            step: "plaintext-weight correlation from OTs",
            detail: format!("weight mask #{mask} is not in the demand before it"),
        })?)
    } else {
        None
    };
    let z: Vec<R> = match op {
        BilinearOp::BatchMatMul => {
            return Err(Error::InvalidArgument {
                op: "offline source `ot`",
                detail: "a plaintext-weight batch matrix product is not made from OTs; run \
                         this job with the dealer (`--offline dealer`)"
                    .into(),
            });
        }
        BilinearOp::Elementwise | BilinearOp::Broadcast => {
            // Party 0's U broadcast to the activation (the identity for element-wise).
            let xs: Vec<R> = match u {
                Some(u) => u
                    .broadcast(IxDyn(act))
                    .ok_or_else(|| Error::Shape {
                        op: "plaintext-weight correlation from OTs",
                        detail: format!("{weight:?} does not broadcast to {act:?}"),
                    })?
                    .iter()
                    .copied()
                    .collect(),
                None => Vec::new(),
            };
            let ys: Vec<R> = v
                .as_ref()
                .map(|v| v.iter().copied().collect())
                .unwrap_or_default();
            one_way(ch, link, party, &xs, &ys, 1).await?
        }
        BilinearOp::MatMul => {
            let (&[m, k], &[k2, n]) = (act, weight) else {
                return Err(Error::Shape {
                    op: "plaintext-weight correlation from OTs",
                    detail: format!("matrix product of {act:?} and {weight:?}"),
                });
            };
            if k != k2 {
                return Err(Error::Shape {
                    op: "plaintext-weight correlation from OTs",
                    detail: format!("inner dimensions {k} and {k2}"),
                });
            }
            // Entry (i, s) of V scales row s of U into row i of the product.
            let xs: Vec<R> = match u {
                Some(u) => {
                    let rows: Vec<R> = u.iter().copied().collect();
                    (0..m).flat_map(|_| rows.iter().copied()).collect()
                }
                None => Vec::new(),
            };
            let ys: Vec<R> = v
                .as_ref()
                .map(|v| v.iter().copied().collect())
                .unwrap_or_default();
            let sh = one_way(ch, link, party, &xs, &ys, n).await?;
            // sh[(i·k + s)·n + j] shares V[i, s]·U[s, j]: sum over s.
            let mut z = vec![R::zero(); m * n];
            for i in 0..m {
                for s in 0..k {
                    let base = (i * k + s) * n;
                    for j in 0..n {
                        z[i * n + j] += sh[base + j];
                    }
                }
            }
            z
        }
        BilinearOp::Conv(p) => {
            // Party 1 sends the windows of its V, party 0 chooses with U's entries.
            let w = ConvWindows::new(p, act, weight)?;
            let sh = match (party, &v, u) {
                (1, Some(v), _) => {
                    let xs = w.vectors(&v.iter().copied().collect::<Vec<R>>());
                    correlate::vole(ch, link, &xs, &[], w.len, R::BITS as usize)
                        .await?
                        .0
                }
                (0, _, Some(u)) => {
                    let ys: Vec<R> = u.iter().copied().collect();
                    correlate::vole(ch, link, &[], &ys, w.len, R::BITS as usize)
                        .await?
                        .1
                }
                _ => {
                    return Err(Error::Protocol {
                        step: "plaintext-weight correlation from OTs",
                        detail: format!("party {party} holds neither V nor U"),
                    });
                }
            };
            let mut z = vec![R::zero(); out_shape.iter().product()];
            w.fold(&sh, &mut z);
            z
        }
    };
    Ok(Correlation::PlainWeight(PlainWeightShare {
        op: *op,
        mask,
        v,
        z: array(&out_shape, z)?,
    }))
}

/// [`generate`] as an offline phase: its traffic charged to [`Phase::Offline`] (the
/// link's phase restored after), fresh randomness, and the phase closed with a fence,
/// so the later phases' rounds on this link are counted as on a link that carried no
/// offline traffic. What [`OtSource`] runs, for a caller that keeps the correlations
/// otherwise (e.g. writes them to a file, [`crate::preprocessing::save_items`]).
///
/// # Errors
/// As [`generate`]; a transport error in the fence.
pub async fn generate_offline<R: Ring>(
    peer: &mut Channel,
    party: usize,
    demand: &Demand,
    pairing: Option<&PairingSlot>,
) -> Result<Vec<(Request, Correlation<R>)>> {
    let before = peer.phase();
    peer.set_phase(Phase::Offline);
    let mut rng = Prg::from_entropy();
    let made = match generate::<R, _>(peer, party, demand, pairing, &mut rng).await {
        Ok(items) => peer.fence().await.map(|_| items).map_err(Error::from),
        Err(e) => Err(e),
    };
    peer.set_phase(before);
    made
}

/// The offline source `ot`: the parties make their correlations themselves over
/// their own link (traffic charged to [`Phase::Offline`]); no third process. With a
/// [`PairingSlot`] the base OTs are paid once per pair of parties
/// ([`super::pairing`]).
#[derive(Debug, Default)]
pub struct OtSource {
    pairing: Option<PairingSlot>,
}

impl OtSource {
    /// A source that runs the base OTs every session.
    pub fn new() -> Self {
        OtSource::default()
    }

    /// A source that keeps its pairing in `slot` (shared with other sources made from
    /// clones of it).
    pub fn paired(slot: PairingSlot) -> Self {
        OtSource {
            pairing: Some(slot),
        }
    }
}

impl<R: Ring> OfflineSource<R> for OtSource {
    fn kind(&self) -> &'static str {
        "ot"
    }

    fn obtain<'a>(
        &'a mut self,
        session: &'a Session,
        peer: &'a mut Channel,
    ) -> BoxFuture<'a, std::result::Result<Box<dyn Provider<R>>, SessionError>> {
        Box::pin(async move {
            let step = "offline phase: correlations from OT extension with the other party";
            let items = generate_offline::<R>(
                peer,
                session.party(),
                session.demand(),
                self.pairing.as_ref(),
            )
            .await
            .map_err(at(step))?;
            let store = Store::from_items(session.party(), session.material_session(), items);
            Ok(Box::new(store) as Box<dyn Provider<R>>)
        })
    }
}
