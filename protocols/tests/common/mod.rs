//! Helpers shared by the integration tests: plaintext oracles written independently of
//! the library's kernels, and drivers that run an operation through the real
//! two-party harness with an in-process dealer.
#![allow(dead_code)]

use ndarray::{ArrayD, IxDyn};
use tessera_core::{Metering, Ring};
use tessera_protocols::arith::bilinear::Bilinear;
use tessera_protocols::harness::{self, HarnessOptions, Run};
use tessera_protocols::preprocessing::{Correlation, RandomOts};
use tessera_protocols::{
    AShare, ArithParty, BilinearOp, Conv2dParams, Demand, Provider, Request, Result, Store,
};

/// Runs a future on a fresh current-thread runtime.
pub fn block<T>(f: impl Future<Output = T>) -> T {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
        .block_on(f)
}

pub fn arr<R: Ring>(shape: &[usize], v: Vec<R>) -> ArrayD<R> {
    ArrayD::from_shape_vec(IxDyn(shape), v).unwrap()
}

/// Naive matrix product.
pub fn matmul_ref<R: Ring>(a: &ArrayD<R>, b: &ArrayD<R>) -> ArrayD<R> {
    let (m, k, n) = (a.shape()[0], a.shape()[1], b.shape()[1]);
    let mut out = ArrayD::from_elem(IxDyn(&[m, n]), R::zero());
    for i in 0..m {
        for j in 0..n {
            let mut s = R::zero();
            for t in 0..k {
                s += a[[i, t]] * b[[t, j]];
            }
            out[[i, j]] = s;
        }
    }
    out
}

/// Naive convolution (cross-correlation) with zero padding.
pub fn conv_ref<R: Ring>(x: &ArrayD<R>, k: &ArrayD<R>, stride: usize, pad: usize) -> ArrayD<R> {
    let (n, c, h, w) = (x.shape()[0], x.shape()[1], x.shape()[2], x.shape()[3]);
    let (o, kh, kw) = (k.shape()[0], k.shape()[2], k.shape()[3]);
    let oh = (h + 2 * pad - kh) / stride + 1;
    let ow = (w + 2 * pad - kw) / stride + 1;
    let mut out = ArrayD::from_elem(IxDyn(&[n, o, oh, ow]), R::zero());
    for b in 0..n {
        for oc in 0..o {
            for i in 0..oh {
                for j in 0..ow {
                    let mut s = R::zero();
                    for ci in 0..c {
                        for a in 0..kh {
                            for d in 0..kw {
                                let y = (i * stride + a) as i64 - pad as i64;
                                let z = (j * stride + d) as i64 - pad as i64;
                                if y >= 0 && z >= 0 && (y as usize) < h && (z as usize) < w {
                                    s += x[[b, ci, y as usize, z as usize]] * k[[oc, ci, a, d]];
                                }
                            }
                        }
                    }
                    out[[b, oc, i, j]] = s;
                }
            }
        }
    }
    out
}

/// The N-D grouped convolution by its definition: `out[b, o, p] = Σ_{c, t}
/// k[o, c, t] · x[b, g·C/g + c, p·s + t·d − pad_begin]` (zero outside the input).
pub fn conv_nd_ref<R: Ring>(
    x: &ArrayD<R>,
    k: &ArrayD<R>,
    p: &tessera_protocols::ConvParams,
) -> ArrayD<R> {
    let w = &p.window;
    let r = w.rank;
    let (n, c, o, cg) = (x.shape()[0], x.shape()[1], k.shape()[0], k.shape()[1]);
    let og = o / p.groups;
    let (ins, ks) = (&x.shape()[2..], &k.shape()[2..]);
    let outs: Vec<usize> = (0..r)
        .map(|i| {
            (ins[i] + w.pad_begin[i] + w.pad_end[i] - (ks[i] - 1) * w.dilations[i] - 1)
                / w.strides[i]
                + 1
        })
        .collect();
    let mut shape = vec![n, o];
    shape.extend(&outs);
    let mut out = ArrayD::from_elem(IxDyn(&shape), R::zero());
    let all = |dims: &[usize]| -> Vec<Vec<usize>> {
        let mut v = vec![vec![]];
        for &d in dims {
            v = v
                .into_iter()
                .flat_map(|p| {
                    (0..d).map(move |i| {
                        let mut q = p.clone();
                        q.push(i);
                        q
                    })
                })
                .collect();
        }
        v
    };
    let _ = c;
    for b in 0..n {
        for oc in 0..o {
            let g = oc / og;
            for pos in all(&outs) {
                let mut s = R::zero();
                for ci in 0..cg {
                    for tap in all(ks) {
                        let at: Option<Vec<usize>> = (0..r)
                            .map(|i| {
                                (pos[i] * w.strides[i] + tap[i] * w.dilations[i])
                                    .checked_sub(w.pad_begin[i])
                                    .filter(|&v| v < ins[i])
                            })
                            .collect();
                        if let Some(at) = at {
                            let mut xi = vec![b, g * cg + ci];
                            xi.extend(at);
                            let mut ki = vec![oc, ci];
                            ki.extend(&tap);
                            s += x[IxDyn(&xi)] * k[IxDyn(&ki)];
                        }
                    }
                }
                let mut oi = vec![b, oc];
                oi.extend(&pos);
                out[IxDyn(&oi)] = s;
            }
        }
    }
    out
}

/// Party 0 inputs `x`, party 1 inputs `y` (both sent at once: one round).
pub async fn inputs<R: Ring>(
    p: &mut ArithParty<R>,
    mine: &ArrayD<R>,
    other_shape: &[usize],
) -> Result<(AShare<R>, AShare<R>)> {
    let own = p.share_input(mine).await?;
    let other = p.receive_input(other_shape).await?;
    Ok(if p.party() == 0 {
        (own, other)
    } else {
        (other, own)
    })
}

/// What one party measured around the operation under test.
pub struct Measured<R: Ring> {
    pub revealed: ArrayD<R>,
    pub op: Metering,
}

/// Runs `op(x_share, y_share)` through the two-party harness with an in-process
/// dealer serving `demand`; returns both parties' revealed results and the metering
/// of the operation alone.
pub async fn binary<R: Ring>(
    demand: &Demand,
    x: &ArrayD<R>,
    y: &ArrayD<R>,
    op: impl AsyncFn(&mut ArithParty<R>, &AShare<R>, &AShare<R>) -> Result<AShare<R>>,
) -> Result<Run<Measured<R>, Measured<R>>> {
    let op = &op;
    let (xs, ys) = (x.shape().to_vec(), y.shape().to_vec());
    harness::run::<R, _, _>(
        &HarnessOptions::default(),
        demand,
        async move |p| {
            let (a, b) = inputs(p, x, &ys).await?;
            let before = *p.channel().metering();
            let z = op(p, &a, &b).await?;
            let m = p.channel().metering().since(&before);
            Ok(Measured {
                revealed: p.reveal(&z).await?,
                op: m,
            })
        },
        async move |p| {
            let (a, b) = inputs(p, y, &xs).await?;
            let before = *p.channel().metering();
            let z = op(p, &a, &b).await?;
            let m = p.channel().metering().since(&before);
            Ok(Measured {
                revealed: p.reveal(&z).await?,
                op: m,
            })
        },
    )
    .await
}

/// A demand of every correlation kind, its sizes varied by `seed`.
pub fn everything(seed: usize) -> Demand {
    let n = 1 + seed % 97;
    let mut d = Demand::new();
    d.mul(&[n])
        .matmul(&[2, 1 + seed % 5], &[1 + seed % 5, 3])
        .beaver(
            BilinearOp::BatchMatMul,
            &[3, 2, 1 + seed % 4],
            &[3, 1 + seed % 4, 2],
        )
        .beaver(BilinearOp::Broadcast, &[n, 3], &[3])
        .conv2d(
            Conv2dParams {
                stride: 1 + seed % 2,
                padding: seed % 2,
            },
            &[1, 2, 5, 4],
            &[3, 2, 2, 3],
        )
        .square(&[n, 2])
        .trunc(1 + (seed % 20) as u32, &[n])
        .and_triples(n * 3)
        .random_ots(n, 0)
        .random_ots(n + 1, 1)
        .dabits(n);
    let mask = d.weight_mask(&[3, 4]);
    d.plain_weight(BilinearOp::MatMul, mask, &[2, 3], &[3, 4]);
    d
}

pub fn add<R: Ring>(a: &ArrayD<R>, b: &ArrayD<R>) -> ArrayD<R> {
    a + b
}

/// Takes every item of `demand` from both stores and checks each relation.
pub fn check_relations_of<R: Ring>(demand: &Demand, (mut s0, mut s1): (Store<R>, Store<R>)) {
    let mut masks: Vec<ArrayD<R>> = Vec::new();
    for req in demand.requests() {
        match (s0.take(req).unwrap(), s1.take(req).unwrap()) {
            (Correlation::Beaver(t0), Correlation::Beaver(t1)) => {
                let (a, b, c) = (add(&t0.a, &t1.a), add(&t0.b, &t1.b), add(&t0.c, &t1.c));
                let want = match t0.op {
                    BilinearOp::Elementwise | BilinearOp::Broadcast => &a * &b,
                    BilinearOp::MatMul => matmul_ref(&a, &b),
                    BilinearOp::BatchMatMul => {
                        let parts: Vec<ArrayD<R>> = (0..a.shape()[0])
                            .map(|i| {
                                let x = a.index_axis(ndarray::Axis(0), i).to_owned();
                                let y = b.index_axis(ndarray::Axis(0), i).to_owned();
                                matmul_ref(&x, &y).insert_axis(ndarray::Axis(0))
                            })
                            .collect();
                        let views: Vec<_> = parts.iter().map(|p| p.view()).collect();
                        ndarray::concatenate(ndarray::Axis(0), &views).unwrap()
                    }
                    BilinearOp::Conv(p) => {
                        conv_ref(&a, &b, p.window.strides[0], p.window.pad_begin[0])
                    }
                };
                assert_eq!(c, want, "{req}");
            }
            (Correlation::Square(p0), Correlation::Square(p1)) => {
                let a = add(&p0.a, &p1.a);
                assert_eq!(add(&p0.c, &p1.c), &a * &a);
            }
            (Correlation::Trunc(t0), Correlation::Trunc(t1)) => {
                let f = t0.frac_bits;
                let r = add(&t0.r, &t1.r);
                let (msb, mid) = (add(&t0.r_msb, &t1.r_msb), add(&t0.r_mid, &t1.r_mid));
                for ((&r, &m), &d) in r.iter().zip(msb.iter()).zip(mid.iter()) {
                    let u = r.to_u64();
                    assert_eq!(m.to_u64(), u >> (R::BITS - 1));
                    let low = u & ((1u64 << (R::BITS - 1)) - 1);
                    assert_eq!(d.to_u64(), low >> f);
                }
            }
            (Correlation::And(t0), Correlation::And(t1)) => {
                let mut a = t0.a.clone();
                a.xor_assign(&t1.a);
                let mut b = t0.b.clone();
                b.xor_assign(&t1.b);
                a.and_assign(&b);
                let mut c = t0.c.clone();
                c.xor_assign(&t1.c);
                assert_eq!(a, c);
                assert!(
                    t0.a.count_ones() > 0 || t0.a.len() < 16,
                    "shares look random"
                );
            }
            (Correlation::Rot(x), Correlation::Rot(y)) => {
                let (snd, rcv) = match req {
                    Request::RandomOts { sender: 0, .. } => (x, y),
                    _ => (y, x),
                };
                let (RandomOts::Sender { m0, m1 }, RandomOts::Receiver { choices, chosen }) =
                    (snd, rcv)
                else {
                    panic!("wrong sides for {req}");
                };
                for i in 0..m0.len() {
                    let (want, other) = if choices.get(i) {
                        (m1[i], m0[i])
                    } else {
                        (m0[i], m1[i])
                    };
                    assert_eq!(chosen[i], want);
                    assert_ne!(chosen[i], other);
                }
            }
            (Correlation::DaBits(d0), Correlation::DaBits(d1)) => {
                for i in 0..d0.arith.len() {
                    let a = d0.arith[i] + d1.arith[i];
                    let b = d0.boolean.get(i) ^ d1.boolean.get(i);
                    assert_eq!(a, R::from_u64(u64::from(b)));
                }
            }
            (Correlation::WeightMask(w0), Correlation::WeightMask(w1)) => {
                assert!(w1.mask.is_none());
                masks.push(w0.mask.unwrap());
            }
            (Correlation::PlainWeight(p0), Correlation::PlainWeight(p1)) => {
                assert!(p0.v.is_none());
                let v = p1.v.unwrap();
                let u = &masks[p0.mask];
                assert_eq!(add(&p0.z, &p1.z), p0.op.apply(v.view(), u.view()).unwrap());
            }
            (a, b) => panic!("mismatched kinds {a:?} / {b:?}"),
        }
    }
    assert_eq!((s0.remaining(), s1.remaining()), (0, 0));
}
