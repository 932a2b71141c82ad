//! Every arithmetic-sharing operation through the real two-party driver with an
//! in-process dealer, against a plaintext oracle (exact for integers), in both rings,
//! with random shapes; plus the exact online traffic and rounds of each operation.

// Test helpers outside #[test] functions unwrap too: a failure is a test failure.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::*;
use ndarray::{ArrayD, Axis, IxDyn};
use proptest::prelude::*;
use tessera_core::{Ring, Z32, Z64};
use tessera_protocols::harness::strategies::{ring, ring_tensor, shape};
use tessera_protocols::harness::{self, HarnessOptions};
use tessera_protocols::{AShare, BilinearOp, Conv2dParams, ConvParams, Demand, Window};

const HDR: u64 = 8;

fn bytes<R: Ring>(n: usize) -> u64 {
    HDR + (n * R::BYTES) as u64
}

/// Shape then two tensors of it.
fn same_shape_pair<R: Ring>() -> impl Strategy<Value = (ArrayD<R>, ArrayD<R>)> {
    shape(3, 5).prop_flat_map(|s| (ring_tensor::<R>(s.clone()), ring_tensor::<R>(s)))
}

fn check_local<R: Ring>(x: ArrayD<R>, y: ArrayD<R>, c: R) {
    let pc = y.mapv(|v| v * c + R::one());
    let run = block(binary::<R>(&Demand::new(), &x, &y, async |p, a, b| {
        let i = p.party();
        let s = a
            .add(b)?
            .sub(&b.mul_scalar(c))?
            .neg()
            .add_public(i, &pc)?
            .add_scalar(i, c)
            .mul_public(&pc)?;
        Ok(s)
    }))
    .unwrap();
    let want = ((&x + &y - &y.mapv(|v| v * c)).mapv(|v| -v) + &pc).mapv(|v| v + c) * &pc;
    assert_eq!(run.out0.revealed, want);
    assert_eq!(run.out1.revealed, want);
    for m in [&run.out0.op, &run.out1.op] {
        assert_eq!(m.total().bytes_sent, 0, "local operations send nothing");
    }
}

fn check_sums<R: Ring>(x: ArrayD<R>, y: ArrayD<R>) {
    let run = block(binary::<R>(&Demand::new(), &x, &y, async |_, a, b| {
        let s = a.add(b)?;
        let total = s.sum().reshape(&[1])?;
        let along = s.sum_axis(0)?;
        let n = along.len();
        let both = ndarray::concatenate(
            Axis(0),
            &[total.array().view(), along.reshape(&[n])?.array().view()],
        )
        .unwrap();
        Ok(AShare::from_array(both.into_dyn()))
    }))
    .unwrap();
    let s = &x + &y;
    let total = s.iter().fold(R::zero(), |a, &b| a + b);
    let along = s.sum_axis(Axis(0));
    let mut want = vec![total];
    want.extend(along.iter().copied());
    assert_eq!(run.out0.revealed.iter().copied().collect::<Vec<_>>(), want);
}

fn check_mul<R: Ring>(x: ArrayD<R>, y: ArrayD<R>) {
    let mut d = Demand::new();
    d.mul(x.shape());
    let run = block(binary::<R>(&d, &x, &y, async |p, a, b| p.mul(a, b).await)).unwrap();
    assert_eq!(run.out0.revealed, &x * &y);
    assert_eq!(run.out1.revealed, &x * &y);
    for m in [&run.out0.op, &run.out1.op] {
        assert_eq!(m.online.bytes_sent, bytes::<R>(2 * x.len()));
        assert_eq!(m.online.messages_sent, 1);
        assert_eq!(m.online.rounds, 1);
    }
}

fn check_square<R: Ring>(x: ArrayD<R>, y: ArrayD<R>) {
    let mut d = Demand::new();
    d.square(x.shape());
    let run = block(binary::<R>(&d, &x, &y, async |p, a, b| {
        p.square(&a.add(b)?).await
    }))
    .unwrap();
    let s = &x + &y;
    assert_eq!(run.out0.revealed, &s * &s);
    for m in [&run.out0.op, &run.out1.op] {
        assert_eq!(m.online.bytes_sent, bytes::<R>(x.len()));
        assert_eq!(m.online.rounds, 1);
    }
}

fn check_matmul<R: Ring>(x: ArrayD<R>, y: ArrayD<R>) {
    let mut d = Demand::new();
    d.matmul(x.shape(), y.shape());
    let run = block(binary::<R>(&d, &x, &y, async |p, a, b| {
        p.matmul(a, b).await
    }))
    .unwrap();
    assert_eq!(run.out0.revealed, matmul_ref(&x, &y));
    assert_eq!(run.out1.revealed, matmul_ref(&x, &y));
    for m in [&run.out0.op, &run.out1.op] {
        // Online traffic is the operands' size, not m·k·n.
        assert_eq!(m.online.bytes_sent, bytes::<R>(x.len() + y.len()));
        assert_eq!(m.online.rounds, 1);
    }
}

/// `[B, m, k] · [B, k, n]` against one plaintext matrix product per batch entry.
fn batch_matmul_ref<R: Ring>(x: &ArrayD<R>, y: &ArrayD<R>) -> ArrayD<R> {
    let parts: Vec<ArrayD<R>> = (0..x.shape()[0])
        .map(|i| {
            let (a, b) = (
                x.index_axis(Axis(0), i).to_owned(),
                y.index_axis(Axis(0), i).to_owned(),
            );
            matmul_ref(&a, &b).insert_axis(Axis(0))
        })
        .collect();
    let views: Vec<_> = parts.iter().map(|p| p.view()).collect();
    ndarray::concatenate(Axis(0), &views).unwrap()
}

/// Both operands shared: one Beaver exchange of `[B, m, k]` and `[B, k, n]`.
fn check_batch_matmul<R: Ring>(x: ArrayD<R>, y: ArrayD<R>) {
    let mut d = Demand::new();
    d.beaver(BilinearOp::BatchMatMul, x.shape(), y.shape());
    let run = block(binary::<R>(&d, &x, &y, async |p, a, b| {
        p.bilinear(BilinearOp::BatchMatMul, a, b).await
    }))
    .unwrap();
    let want = batch_matmul_ref(&x, &y);
    assert_eq!(run.out0.revealed, want);
    assert_eq!(run.out1.revealed, want);
    for m in [&run.out0.op, &run.out1.op] {
        assert_eq!(m.online.bytes_sent, bytes::<R>(x.len() + y.len()));
        assert_eq!(m.online.rounds, 1);
    }
}

fn check_conv<R: Ring>(x: ArrayD<R>, k: ArrayD<R>, p: Conv2dParams) {
    let mut d = Demand::new();
    d.conv2d(p, x.shape(), k.shape());
    let run = block(binary::<R>(&d, &x, &k, async |q, a, b| {
        q.conv2d(a, b, p).await
    }))
    .unwrap();
    let want = conv_ref(&x, &k, p.stride, p.padding);
    assert_eq!(run.out0.revealed, want);
    assert_eq!(run.out1.revealed, want);
    for m in [&run.out0.op, &run.out1.op] {
        assert_eq!(m.online.bytes_sent, bytes::<R>(x.len() + k.len()));
        assert_eq!(m.online.rounds, 1);
    }
}

fn check_dot<R: Ring>(x: ArrayD<R>, y: ArrayD<R>) {
    let mut d = Demand::new();
    d.dot(x.len());
    let run = block(binary::<R>(&d, &x, &y, async |p, a, b| p.dot(a, b).await)).unwrap();
    let want = x
        .iter()
        .zip(y.iter())
        .fold(R::zero(), |s, (&a, &b)| s + a * b);
    assert_eq!(run.out0.revealed.shape(), &[] as &[usize]);
    assert_eq!(run.out0.revealed[IxDyn(&[])], want);
    // The dealer sends party 1 one element for the dot product, not n.
    assert_eq!(run.dealer[1].offline.bytes_received, 41 + bytes::<R>(1));
}

fn check_public_bilinear<R: Ring>(x: ArrayD<R>, w: ArrayD<R>) {
    let w2 = w.clone();
    let run = block(binary::<R>(&Demand::new(), &x, &x, async move |_, a, _| {
        a.bilinear_public(BilinearOp::MatMul, &w2)
    }))
    .unwrap();
    assert_eq!(run.out0.revealed, matmul_ref(&x, &w));
}

/// Two inferences of a plaintext-weight layer with one weight set-up.
fn check_plain<R: Ring>(op: BilinearOp, w: ArrayD<R>, xs: [ArrayD<R>; 2]) {
    check_plain_on(1, op, w, xs);
}

/// [`check_plain`] with `threads` compute threads per party.
fn check_plain_on<R: Ring>(threads: usize, op: BilinearOp, w: ArrayD<R>, xs: [ArrayD<R>; 2]) {
    let (ws, xshape) = (w.shape().to_vec(), xs[0].shape().to_vec());
    let mut d = Demand::new();
    let mask = d.weight_mask(&ws);
    d.plain_weight(op, mask, &xshape, &ws);
    d.plain_weight(op, mask, &xshape, &ws);
    let (w0, xs1) = (w.clone(), xs.clone());
    let (ws0, ws1, xsh0) = (ws.clone(), ws.clone(), xshape.clone());
    let mut opts = HarnessOptions::default();
    opts.channel.threads = std::num::NonZeroUsize::new(threads).unwrap();
    let run = block(harness::run::<R, _, _>(
        &opts,
        &d,
        async move |p| {
            let handle = p.setup_plain_weights(mask, &ws0, Some(w0)).await?;
            let mut outs = Vec::new();
            for _ in 0..2 {
                let x = p.receive_input(&xsh0).await?;
                let before = *p.channel().metering();
                let y = p.plain_layer(op, &handle, &x).await?;
                outs.push((p.reveal(&y).await?, p.channel().metering().since(&before)));
            }
            Ok(outs)
        },
        async move |p| {
            let handle = p.setup_plain_weights(mask, &ws1, None).await?;
            let mut outs = Vec::new();
            for x in &xs1 {
                let x = p.share_input(x).await?;
                let before = *p.channel().metering();
                let y = p.plain_layer(op, &handle, &x).await?;
                outs.push((p.reveal(&y).await?, p.channel().metering().since(&before)));
            }
            Ok(outs)
        },
    ))
    .unwrap();
    for (i, x) in xs.iter().enumerate() {
        let want = match op {
            BilinearOp::MatMul => matmul_ref(x, &w),
            BilinearOp::Conv(p) => conv_nd_ref(x, &w, &p),
            BilinearOp::Elementwise | BilinearOp::Broadcast => x * &w,
            BilinearOp::BatchMatMul => batch_matmul_ref(x, &w),
        };
        assert_eq!(run.out0[i].0, want);
        assert_eq!(run.out1[i].0, want);
        // Online: party 1 sends the activation-sized X1 − V (and its reveal share);
        // party 0 sends only its reveal share. Nothing is proportional to W.
        let (m0, m1) = (&run.out0[i].1.online, &run.out1[i].1.online);
        assert_eq!(m0.bytes_sent, bytes::<R>(want.len()));
        assert_eq!(m1.bytes_sent, bytes::<R>(x.len()) + bytes::<R>(want.len()));
    }
    // The weight mask travelled once, in the set-up phase.
    assert_eq!(
        run.peer[0].setup.bytes_sent,
        run.peer[1].setup.bytes_sent + bytes::<R>(w.len())
    );
}

fn matmul_pair<R: Ring>() -> impl Strategy<Value = (ArrayD<R>, ArrayD<R>)> {
    (1usize..6, 1usize..7, 1usize..6)
        .prop_flat_map(|(m, k, n)| (ring_tensor::<R>(vec![m, k]), ring_tensor::<R>(vec![k, n])))
}

fn conv_case<R: Ring>() -> impl Strategy<Value = (ArrayD<R>, ArrayD<R>, Conv2dParams)> {
    (
        1usize..3,
        1usize..3,
        3usize..7,
        3usize..7,
        1usize..3,
        1usize..4,
        1usize..4,
        1usize..3,
        0usize..2,
    )
        .prop_flat_map(|(n, c, h, w, o, kh, kw, stride, padding)| {
            (
                ring_tensor::<R>(vec![n, c, h, w]),
                ring_tensor::<R>(vec![o, c, kh, kw]),
                Just(Conv2dParams { stride, padding }),
            )
        })
}

/// A grouped, dilated, asymmetrically padded convolution of 1 to 3 spatial
/// dimensions: `(x, kernel, params)`.
fn conv_nd_case<R: Ring>() -> impl Strategy<Value = (ArrayD<R>, ArrayD<R>, ConvParams)> {
    (1usize..4, 1usize..3, 1usize..3, 1usize..3)
        .prop_flat_map(|(rank, groups, cg, og)| {
            let dims = proptest::collection::vec(
                (
                    2usize..6,
                    1usize..3,
                    1usize..3,
                    1usize..3,
                    0usize..2,
                    0usize..2,
                ),
                rank,
            );
            (Just((groups, cg, og)), 1usize..3, dims)
        })
        .prop_filter_map("window fits", |((g, cg, og), n, dims)| {
            let strides: Vec<usize> = dims.iter().map(|d| d.2).collect();
            let dil: Vec<usize> = dims.iter().map(|d| d.3).collect();
            let mut pads: Vec<usize> = dims.iter().map(|d| d.4).collect();
            pads.extend(dims.iter().map(|d| d.5));
            let window = Window::from_lists(&strides, &dil, &pads, false)?;
            let ins: Vec<usize> = dims.iter().map(|d| d.0).collect();
            let ks: Vec<usize> = dims.iter().map(|d| d.1).collect();
            window.output(&ins, &ks)?;
            let mut xs = vec![n, g * cg];
            xs.extend(&ins);
            let mut kshape = vec![g * og, cg];
            kshape.extend(&ks);
            Some((xs, kshape, ConvParams { window, groups: g }))
        })
        .prop_flat_map(|(xs, ks, p)| (ring_tensor::<R>(xs), ring_tensor::<R>(ks), Just(p)))
}

macro_rules! ring_suite {
    ($m:ident, $R:ty) => {
        mod $m {
            use super::*;

            proptest! {
                #![proptest_config(ProptestConfig::with_cases(24))]

                #[test]
                fn local_ops((x, y) in same_shape_pair::<$R>(), c in ring::<$R>()) {
                    check_local::<$R>(x, y, c);
                }

                #[test]
                fn sums((x, y) in same_shape_pair::<$R>()) {
                    check_sums::<$R>(x, y);
                }

                #[test]
                fn mul((x, y) in same_shape_pair::<$R>()) {
                    check_mul::<$R>(x, y);
                }

                #[test]
                fn square((x, y) in same_shape_pair::<$R>()) {
                    check_square::<$R>(x, y);
                }

                #[test]
                fn matmul((x, y) in matmul_pair::<$R>()) {
                    check_matmul::<$R>(x, y);
                }

                #[test]
                fn batch_matmul(
                    (x, y) in (1usize..4, 1usize..4, 1usize..5, 1usize..4).prop_flat_map(|(b, m, k, n)| (
                        ring_tensor::<$R>(vec![b, m, k]),
                        ring_tensor::<$R>(vec![b, k, n]),
                    ))
                ) {
                    check_batch_matmul::<$R>(x, y);
                }

                #[test]
                fn plain_weight_broadcast(
                    (w, x0, x1) in (1usize..4, 1usize..4, 1usize..5, 0usize..4).prop_flat_map(|(n, c, p, form)| {
                        // The weight per element, per channel, per column, or one scalar.
                        let ws = match form {
                            0 => vec![c, p],
                            1 => vec![c, 1],
                            2 => vec![p],
                            _ => vec![1],
                        };
                        (
                            ring_tensor::<$R>(ws),
                            ring_tensor::<$R>(vec![n, c, p]),
                            ring_tensor::<$R>(vec![n, c, p]),
                        )
                    })
                ) {
                    check_plain::<$R>(BilinearOp::Broadcast, w, [x0, x1]);
                }

                #[test]
                fn conv2d((x, k, p) in conv_case::<$R>()) {
                    check_conv::<$R>(x, k, p);
                }

                #[test]
                fn dot((x, y) in (1usize..40).prop_flat_map(|n| (ring_tensor::<$R>(vec![n]), ring_tensor::<$R>(vec![n])))) {
                    check_dot::<$R>(x, y);
                }

                #[test]
                fn public_weight_matmul((x, w) in matmul_pair::<$R>()) {
                    check_public_bilinear::<$R>(x, w);
                }

                #[test]
                fn plain_weight_matmul(
                    (w, x0, x1) in (1usize..5, 1usize..6, 1usize..5).prop_flat_map(|(m, k, n)| (
                        ring_tensor::<$R>(vec![k, n]),
                        ring_tensor::<$R>(vec![m, k]),
                        ring_tensor::<$R>(vec![m, k]),
                    ))
                ) {
                    check_plain::<$R>(BilinearOp::MatMul, w, [x0, x1]);
                }

                #[test]
                fn plain_weight_conv_nd((x, k, p) in conv_nd_case::<$R>(), seed in any::<u64>()) {
                    let x2 = x.mapv(|v| v * <$R>::from_u64(seed | 1) + <$R>::from_u64(seed));
                    check_plain::<$R>(BilinearOp::Conv(p), k, [x, x2]);
                }

                #[test]
                fn plain_weight_conv((x, k, p) in conv_case::<$R>(), seed in any::<u64>()) {
                    let x2 = x.mapv(|v| v * <$R>::from_u64(seed | 1) + <$R>::from_u64(seed));
                    check_plain::<$R>(BilinearOp::Conv(p.into()), k, [x, x2]);
                }
            }
        }
    };
}

ring_suite!(z32, Z32);
ring_suite!(z64, Z64);

/// Plaintext-weight layers large enough to be split across a party's threads (row
/// blocks, one row's column blocks, image blocks, one image's products) give the
/// reference exactly on 2 and 3 threads, with the same traffic as on one.
#[test]
fn plain_weight_layers_split_across_threads_are_exact() {
    let val = |i: usize| Z64::from_u64((i as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15) >> 7);
    let tensor = |shape: &[usize], seed: usize| {
        let len = shape.iter().product::<usize>();
        arr::<Z64>(shape, (0..len).map(|i| val(i * 31 + seed)).collect())
    };
    let conv = BilinearOp::Conv(ConvParams {
        window: Window::square2d(1, 1),
        groups: 1,
    });
    let cases = [
        (BilinearOp::MatMul, vec![256, 256], vec![4, 256]),
        (BilinearOp::MatMul, vec![512, 256], vec![1, 512]),
        (conv, vec![16, 8, 3, 3], vec![1, 8, 16, 16]),
        (conv, vec![16, 8, 3, 3], vec![2, 8, 16, 16]),
    ];
    for threads in [2, 3] {
        for (op, ws, xs) in &cases {
            let xs = [tensor(xs, 1), tensor(xs, 2)];
            check_plain_on(threads, *op, tensor(ws, 3), xs);
        }
    }
}

#[test]
fn reveal_to_one_party() {
    let x = arr::<Z64>(&[4], vec![Z64::from_i64(-7); 4]);
    let y = arr::<Z64>(&[4], (0..4).map(Z64::from_u64).collect());
    for to in [0usize, 1] {
        let run = block(harness::run::<Z64, _, _>(
            &HarnessOptions::default(),
            &Demand::new(),
            async |p| {
                let (a, b) = inputs(p, &x, &[4]).await?;
                let s = a.add(&b)?;
                let before = *p.channel().metering();
                let r = p.reveal_to(&s, to).await?;
                Ok((r, p.channel().metering().since(&before)))
            },
            async |p| {
                let (a, b) = inputs(p, &y, &[4]).await?;
                let s = a.add(&b)?;
                let before = *p.channel().metering();
                let r = p.reveal_to(&s, to).await?;
                Ok((r, p.channel().metering().since(&before)))
            },
        ))
        .unwrap();
        let want = &x + &y;
        let (r0, r1) = (&run.out0, &run.out1);
        if to == 0 {
            assert_eq!(r0.0.as_ref(), Some(&want));
            assert!(r1.0.is_none());
            assert_eq!(r0.1.online.bytes_sent, 0);
            assert_eq!(r1.1.online.bytes_sent, bytes::<Z64>(4));
        } else {
            assert!(r0.0.is_none());
            assert_eq!(r1.0.as_ref(), Some(&want));
            assert_eq!(r1.1.online.bytes_sent, 0);
            assert_eq!(r0.1.online.bytes_sent, bytes::<Z64>(4));
        }
    }
}

#[test]
fn sum_pool_matches_windows() {
    let x: ArrayD<Z32> = ArrayD::from_shape_fn(IxDyn(&[1, 2, 5, 4]), |i| {
        Z32::from_u64((i[1] * 100 + i[2] * 10 + i[3]) as u64)
    });
    let z = AShare::from_array(x.clone()).sum_pool2d(2, 2).unwrap();
    assert_eq!(z.shape(), &[1, 2, 2, 2]);
    let want = |c: usize, i: usize, j: usize| {
        let mut s = Z32::from_u64(0);
        for a in 0..2 {
            for b in 0..2 {
                s += x[[0, c, 2 * i + a, 2 * j + b]];
            }
        }
        s
    };
    for c in 0..2 {
        for i in 0..2 {
            for j in 0..2 {
                assert_eq!(z.array()[[0, c, i, j]], want(c, i, j));
            }
        }
    }
}

#[test]
fn shares_do_not_print() {
    let s = AShare::from_array(arr::<Z64>(&[2], vec![Z64::from_u64(123456789); 2]));
    let shown = format!("{s:?}");
    assert!(!shown.contains("123456789"), "{shown}");
    assert!(shown.contains("[2]"));
}

#[test]
fn one_failing_party_fails_the_run() {
    // Party 0 fails at once; party 1 waits for a message that never comes. The run
    // must return party 0's error, not hang or succeed.
    let r = block(harness::run::<Z64, _, _>(
        &HarnessOptions::default(),
        &Demand::new(),
        async |_| -> tessera_protocols::Result<()> {
            Err(tessera_protocols::Error::InvalidArgument {
                op: "test",
                detail: "party 0 gives up".into(),
            })
        },
        async |p| p.receive_input(&[3]).await.map(|_| ()),
    ));
    assert!(r.unwrap_err().to_string().contains("party 0 gives up"));
}

#[test]
fn a_hung_run_times_out() {
    let opts = HarnessOptions {
        timeout: std::time::Duration::from_millis(300),
        ..HarnessOptions::default()
    };
    let r = block(harness::run::<Z64, _, _>(
        &opts,
        &Demand::new(),
        async |p| p.receive_input(&[1]).await.map(|_| ()),
        async |p| p.receive_input(&[1]).await.map(|_| ()),
    ));
    assert!(
        matches!(r, Err(tessera_protocols::Error::Timeout(_))),
        "{r:?}"
    );
}
