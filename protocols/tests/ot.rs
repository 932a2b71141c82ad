//! OT extension through the real two-party driver (in-memory channels): base OTs,
//! Extended correlated and random OTs, exact metering, and malformed peers.

#![allow(clippy::unwrap_used)]

mod common;

use std::time::Duration;

use proptest::prelude::*;
use tessera_core::{Block, Channel, ChannelConfig, Prg};
use tessera_protocols::ot::{self, CHUNK, KAPPA, tiles};

use common::block;

const DEADLINE: Duration = Duration::from_secs(60);

fn bits(seed: u64, n: usize) -> Vec<bool> {
    let mut x = seed | 1;
    (0..n)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x & 1 == 1
        })
        .collect()
}

/// Both parties run the OT source on `d` over an in-memory link with frames of at most
/// `max_frame` bytes (fresh base OTs), then fence, joined with a deadline: each one's
/// correlations and metering totals.
#[allow(clippy::type_complexity)]
fn generate_both<R: tessera_core::Ring>(
    d: &tessera_protocols::Demand,
    max_frame: usize,
) -> [(
    Vec<(
        tessera_protocols::Request,
        tessera_protocols::preprocessing::Correlation<R>,
    )>,
    tessera_core::PhaseMeter,
); 2] {
    use tessera_protocols::ot::source;
    let cfg = ChannelConfig {
        max_frame,
        ..ChannelConfig::default()
    };
    let (a, b) = block(async {
        let (c0, c1) = Channel::in_memory_pair(cfg);
        let run = |p: usize, mut ch: Channel| async move {
            let items =
                source::generate::<R, _>(&mut ch, p, d, None, &mut Prg::from_entropy()).await?;
            ch.fence().await?;
            Ok::<_, tessera_protocols::Error>((items, ch.metering().total()))
        };
        tokio::time::timeout(DEADLINE, async { tokio::try_join!(run(0, c0), run(1, c1)) })
            .await
            .expect("within the deadline")
            .expect("generate")
    });
    [a, b]
}

/// Set-up, then random and correlated OTs for each size in `ms`, both parties joined
/// with a deadline. Returns (sender's pairs, receiver's strings, choices) per size, the
/// correlated outputs of the last size and the two channels' metering totals.
#[allow(clippy::type_complexity)]
fn run(
    ms: &[usize],
    seed: u64,
) -> (
    Vec<(Vec<[Block; 2]>, Vec<Block>, Vec<bool>)>,
    (Vec<Block>, Vec<Block>, Block, Vec<bool>),
    (u64, u64),
) {
    let choices: Vec<Vec<bool>> = ms
        .iter()
        .enumerate()
        .map(|(i, &m)| bits(seed + i as u64, m))
        .collect();
    let last = bits(seed ^ 0xabc, 300);
    let (souts, q, delta, routs, t, bytes) = block(async {
        let (mut cs, mut cr) = Channel::in_memory_pair(ChannelConfig::default());
        let sender = async {
            let mut rng = Prg::from_entropy();
            let mut s = ot::sender_setup(&mut cs, &mut rng).await?;
            let mut outs = Vec::new();
            for &m in ms {
                outs.push(ot::send_random(&mut cs, &mut s, m).await?);
            }
            let q = ot::send_correlated(&mut cs, &mut s, last.len()).await?;
            Ok::<_, tessera_protocols::Error>((outs, q, s.delta()))
        };
        let receiver = async {
            let mut rng = Prg::from_entropy();
            let mut r = ot::receiver_setup(&mut cr, &mut rng).await?;
            let mut outs = Vec::new();
            for c in &choices {
                outs.push(ot::receive_random(&mut cr, &mut r, c).await?);
            }
            let t = ot::receive_correlated(&mut cr, &mut r, &last).await?;
            Ok::<_, tessera_protocols::Error>((outs, t))
        };
        let ((souts, q, delta), (routs, t)) =
            tokio::time::timeout(DEADLINE, async { tokio::try_join!(sender, receiver) })
                .await
                .expect("OT run within its deadline")
                .expect("OT run");
        let bytes = (
            cs.metering().total().bytes_sent,
            cr.metering().total().bytes_sent,
        );
        (souts, q, delta, routs, t, bytes)
    });
    let per_size = souts
        .into_iter()
        .zip(routs)
        .zip(choices)
        .map(|((s, r), c)| (s, r, c))
        .collect();
    (per_size, (q, t, delta, last), bytes)
}

#[test]
fn random_and_correlated_ots_hold_their_relations() {
    // Sizes around a tile and around a chunk; several extensions from one set-up.
    let ms = [1, 127, 128, 129, 5000, CHUNK + 3];
    let (per_size, (q, t, delta, last), (sent_s, sent_r)) = run(&ms, 11);
    for (s, r, c) in &per_size {
        assert_eq!((s.len(), r.len()), (c.len(), c.len()));
        for i in 0..c.len() {
            let ci = usize::from(c[i]);
            assert_eq!(r[i], s[i][ci], "transfer {i}: the chosen string");
            assert_ne!(r[i], s[i][1 - ci], "transfer {i}: the other string");
        }
    }
    // Distinct strings everywhere (a repeated tweak or PRG output would repeat some).
    let mut all: Vec<u128> = per_size
        .iter()
        .flat_map(|(s, _, _)| s.iter().flat_map(|p| [p[0].0, p[1].0]))
        .collect();
    let n = all.len();
    all.sort_unstable();
    all.dedup();
    assert_eq!(all.len(), n, "every random-OT string is distinct");
    for i in 0..last.len() {
        let want = if last[i] { q[i] ^ delta } else { q[i] };
        assert_eq!(t[i], want, "correlated transfer {i}");
    }
    // Exact bytes: the sender sends 128 points in one frame; the receiver one point,
    // the set-up's correction (2 KiB) once, and per extension a frame per `CHUNK`
    // transfers (fewer for the last) of 8 bytes per transfer rounded up to a tile,
    // each with its 8-byte header.
    let ext: u64 = ms
        .iter()
        .chain(std::iter::once(&last.len()))
        .map(|&m| {
            let per = ot::frame_transfers(m, ChannelConfig::default().max_frame).unwrap();
            assert_eq!(per, CHUNK, "m = {m}");
            (0..m)
                .step_by(per)
                .map(|at| (8 + 8 * 128 * tiles((m - at).min(per))) as u64)
                .sum::<u64>()
        })
        .sum();
    assert_eq!(sent_s, (KAPPA * 32 + 8) as u64, "sender's bytes");
    assert_eq!(
        sent_r,
        (32 + 8) as u64 + (8 + 2048) + ext,
        "receiver's bytes"
    );
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(8))]
    #[test]
    fn random_ots_for_any_size(m in 1usize..3000, seed in any::<u64>()) {
        let (per_size, _, _) = run(&[m], seed);
        let (s, r, c) = &per_size[0];
        for i in 0..m {
            prop_assert_eq!(r[i], s[i][usize::from(c[i])]);
        }
    }
}

#[test]
fn malformed_base_ot_messages_are_errors_not_panics() {
    // A receiver-side peer that sends garbage instead of the base OT's first point,
    // and a sender-side peer that replies with too few points.
    block(async {
        let (mut a, mut b) = Channel::in_memory_pair(ChannelConfig::default());
        let bad = async {
            b.send_bytes(vec![0xff; 32]).await?;
            Ok::<_, tessera_protocols::Error>(())
        };
        let mut rng = Prg::from_entropy();
        let (_, r) = tokio::join!(bad, ot::sender_setup(&mut a, &mut rng));
        let e = r.expect_err("a non-point is refused");
        assert!(e.to_string().contains("base OT"), "{e}");

        let (mut a, mut b) = Channel::in_memory_pair(ChannelConfig::default());
        let short = async {
            let _ = b.recv_bytes().await?;
            b.send_bytes(vec![0; 32 * 5]).await?;
            Ok::<_, tessera_protocols::Error>(())
        };
        let (_, r) = tokio::join!(short, ot::receiver_setup(&mut a, &mut rng));
        let e = r.expect_err("a short reply is refused");
        assert!(e.to_string().contains("128 points"), "{e}");
    });
}

#[test]
fn a_malformed_link_is_an_error_at_either_party() {
    use ot::correlate::{LINK_PART, link};
    use ot::pairing::HELLO_BYTES;
    let hello = || vec![0u8; HELLO_BYTES];
    block(async {
        // Party 1 (base-OT sender) against a peer whose first reply part is short.
        let (mut a, mut b) = Channel::in_memory_pair(ChannelConfig::default());
        let short = async {
            b.send_bytes(hello()).await?;
            let _ = b.recv_bytes().await?;
            b.send_bytes(vec![0; 32 * (LINK_PART - 1)]).await?;
            Ok::<_, tessera_protocols::Error>(())
        };
        let mut rng = Prg::from_entropy();
        let (_, r) = tokio::join!(short, link(&mut a, 1, &mut rng));
        let e = r.expect_err("a short part is refused");
        assert!(e.to_string().contains("base OT"), "{e}");
        // Party 1 against a hello with bytes after it, party 0 against a message
        // shorter than a hello.
        let (mut a, mut b) = Channel::in_memory_pair(ChannelConfig::default());
        let long = async { b.send_bytes(vec![0; HELLO_BYTES + 3]).await };
        let (_, r) = tokio::join!(long, link(&mut a, 1, &mut rng));
        let e = r.expect_err("a long hello is refused").to_string();
        assert!(e.contains("3 extra bytes"), "{e}");
        let (mut a, mut b) = Channel::in_memory_pair(ChannelConfig::default());
        let short = async { b.send_bytes(vec![0; HELLO_BYTES - 1]).await };
        let (_, r) = tokio::join!(short, link(&mut a, 0, &mut rng));
        let e = r.expect_err("a short hello is refused").to_string();
        assert!(e.contains("shorter than a 32-byte hello"), "{e}");
        // Party 0 (base-OT receiver) against a peer whose `A` is the identity, and
        // against one that stops after the base OTs (no extension back).
        let (mut a, mut b) = Channel::in_memory_pair(ChannelConfig::default());
        let identity = async { b.send_bytes(vec![0; HELLO_BYTES + 32]).await };
        let (_, r) = tokio::join!(identity, link(&mut a, 0, &mut rng));
        assert!(
            r.expect_err("the identity is refused")
                .to_string()
                .contains("identity")
        );
        let (mut a, mut b) = Channel::in_memory_pair(ChannelConfig::default());
        let quits = async {
            let (s, big_a) = ot::base::BaseSender::start(&mut Prg::from_entropy());
            let mut first = hello();
            first.extend_from_slice(&big_a);
            b.send_bytes(first).await?;
            let _ = b.recv_bytes().await?;
            for at in (0..KAPPA).step_by(LINK_PART) {
                s.finish_part(at, &b.recv_bytes().await?, LINK_PART)?;
            }
            drop(b);
            Ok::<_, tessera_protocols::Error>(())
        };
        let (q, r) = tokio::join!(quits, link(&mut a, 0, &mut rng));
        q.expect("the peer finishes its base OTs");
        r.expect_err("a peer gone before the extension back is an error");
    });
}

/// What a sender of 1,000 random OTs says of a receiver that sends, after its set-up,
/// its correction (or not) and then `blocks` blocks of message.
fn sender_error(send_correction: bool, blocks: usize) -> tessera_protocols::Error {
    block(async {
        let (mut cs, mut cr) = Channel::in_memory_pair(ChannelConfig::default());
        let sender = async {
            let mut s = ot::sender_setup(&mut cs, &mut Prg::from_entropy()).await?;
            ot::send_random(&mut cs, &mut s, 1000).await
        };
        let receiver = async {
            let mut r = ot::receiver_setup(&mut cr, &mut Prg::from_entropy()).await?;
            let correction = r.take_correction().expect("a fresh set-up's correction");
            if send_correction {
                cr.send_blocks(correction).await?;
            }
            cr.send_blocks(vec![Block::ZERO; blocks]).await?;
            Ok::<_, tessera_protocols::Error>(())
        };
        let (s, r) = tokio::join!(sender, receiver);
        r.expect("the receiver's messages are sent");
        s.expect_err("the sender refuses the receiver's message")
    })
}

#[test]
fn a_receiver_that_sends_too_little_is_an_error() {
    // 500 transfers' worth instead of 1000.
    let e = sender_error(true, ot::message_blocks(500));
    assert!(e.to_string().contains("expected"), "{e}");
}

#[test]
fn a_receiver_that_omits_the_correction_is_an_error() {
    // The whole message, but not the set-up's correction in front of it: refused
    // where the correction belongs.
    let e = sender_error(false, ot::message_blocks(1000));
    assert!(e.to_string().contains("expected"), "{e}");
}

mod correlations {
    use super::*;
    use ndarray::{ArrayD, Ix2};
    use tessera_core::{Ring, Z32, Z64};
    use tessera_protocols::BilinearOp;
    use tessera_protocols::ot::correlate::{self, OtLink};

    /// Runs `f` for both parties on linked channels (set-ups included), joined with a
    /// deadline.
    fn both<T: Send, F, Fut>(f: F) -> (T, T)
    where
        F: Fn(usize, Channel, OtLink) -> Fut,
        Fut: Future<Output = tessera_protocols::Result<T>>,
    {
        block(async {
            let (mut c0, mut c1) = Channel::in_memory_pair(ChannelConfig::default());
            let (mut g0, mut g1) = (Prg::from_entropy(), Prg::from_entropy());
            let (l0, l1) = tokio::time::timeout(DEADLINE, async {
                tokio::try_join!(
                    correlate::link(&mut c0, 0, &mut g0),
                    correlate::link(&mut c1, 1, &mut g1)
                )
            })
            .await
            .expect("set-up within its deadline")
            .expect("set-up");
            tokio::time::timeout(DEADLINE, async {
                tokio::try_join!(f(0, c0, l0), f(1, c1, l1))
            })
            .await
            .expect("run within its deadline")
            .expect("run")
        })
    }

    #[test]
    fn and_triples_multiply() {
        let n = 3000;
        let (t0, t1) = both(|_, mut ch, mut link| async move {
            correlate::and_triples(&mut ch, &mut link, n, &mut Prg::from_entropy()).await
        });
        let (mut ones_a, mut ones_b) = (0, 0);
        for i in 0..n {
            let a = t0.a.get(i) ^ t1.a.get(i);
            let b = t0.b.get(i) ^ t1.b.get(i);
            assert_eq!(t0.c.get(i) ^ t1.c.get(i), a & b, "triple {i}");
            ones_a += usize::from(a);
            ones_b += usize::from(b);
        }
        // Uniform a and b (a biased source would show here: 3000 draws, ±5 σ).
        for ones in [ones_a, ones_b] {
            assert!((1200..1800).contains(&ones), "{ones} ones of {n}");
        }
    }

    fn open<R: Ring>(x: &ArrayD<R>, y: &ArrayD<R>) -> ArrayD<R> {
        x + y
    }

    fn elementwise<R: Ring>(shape: &'static [usize]) {
        let (t0, t1) = both(|_, mut ch, mut link| async move {
            correlate::beaver::<R, _>(
                &mut ch,
                &mut link,
                &BilinearOp::Elementwise,
                shape,
                shape,
                &mut Prg::from_entropy(),
            )
            .await
        });
        let (a, b, c) = (open(&t0.a, &t1.a), open(&t0.b, &t1.b), open(&t0.c, &t1.c));
        assert_eq!(c, &a * &b);
        assert_ne!(a, ArrayD::zeros(a.raw_dim()), "A is random");
    }

    #[test]
    fn elementwise_beaver_triples_in_z64_and_z32() {
        elementwise::<Z64>(&[7, 9]);
        elementwise::<Z32>(&[100]);
    }

    #[test]
    fn matmul_beaver_triples() {
        let (t0, t1) = both(|_, mut ch, mut link| async move {
            correlate::beaver::<Z64, _>(
                &mut ch,
                &mut link,
                &BilinearOp::MatMul,
                &[3, 4],
                &[4, 5],
                &mut Prg::from_entropy(),
            )
            .await
        });
        let a = open(&t0.a, &t1.a).into_dimensionality::<Ix2>().unwrap();
        let b = open(&t0.b, &t1.b).into_dimensionality::<Ix2>().unwrap();
        let c = open(&t0.c, &t1.c).into_dimensionality::<Ix2>().unwrap();
        for i in 0..3 {
            for j in 0..5 {
                let mut s = Z64::from_u64(0);
                for k in 0..4 {
                    s += a[[i, k]] * b[[k, j]];
                }
                assert_eq!(c[[i, j]], s, "entry ({i}, {j})");
            }
        }
    }

    #[test]
    fn convolution_beaver_triples() {
        use tessera_protocols::{ConvParams, Window};
        // 1-D, stride 2, dilation 2, asymmetric padding, 2 groups.
        let window = Window::from_lists(&[2], &[2], &[1, 2], false).unwrap();
        let op = BilinearOp::Conv(ConvParams { window, groups: 2 });
        let (ash, bsh): (&'static [usize], &'static [usize]) = (&[2, 4, 9], &[6, 2, 3]);
        let (t0, t1) = both(move |_, mut ch, mut link| async move {
            correlate::beaver::<Z64, _>(&mut ch, &mut link, &op, ash, bsh, &mut Prg::from_entropy())
                .await
        });
        let (a, b, c) = (open(&t0.a, &t1.a), open(&t0.b, &t1.b), open(&t0.c, &t1.c));
        // The dealer's own plaintext convolution is the reference.
        use tessera_protocols::Bilinear;
        let mut want = ArrayD::from_elem(c.raw_dim(), Z64::from_u64(0));
        op.accumulate(a.view(), b.view(), &mut want).unwrap();
        assert_eq!(c, want);
    }

    #[test]
    fn batch_matmul_and_broadcast_beaver_triples() {
        use tessera_protocols::Bilinear;
        for (op, ash, bsh) in [
            (
                BilinearOp::BatchMatMul,
                &[2usize, 3, 4][..],
                &[2usize, 4, 2][..],
            ),
            (BilinearOp::Broadcast, &[3, 4][..], &[4][..]),
        ] {
            let (ash, bsh): (&'static [usize], &'static [usize]) =
                (Box::leak(ash.into()), Box::leak(bsh.into()));
            let (t0, t1) = both(move |_, mut ch, mut link| async move {
                correlate::beaver::<Z64, _>(
                    &mut ch,
                    &mut link,
                    &op,
                    ash,
                    bsh,
                    &mut Prg::from_entropy(),
                )
                .await
            });
            let (a, b, c) = (open(&t0.a, &t1.a), open(&t0.b, &t1.b), open(&t0.c, &t1.c));
            let mut want = ArrayD::from_elem(c.raw_dim(), Z64::from_u64(0));
            op.accumulate(a.view(), b.view(), &mut want).unwrap();
            assert_eq!(c, want, "{op}");
        }
    }

    #[test]
    fn unfit_shapes_are_refused() {
        let (r0, _r1) = both(|p, mut ch, mut link| async move {
            let r = correlate::beaver::<Z64, _>(
                &mut ch,
                &mut link,
                &BilinearOp::MatMul,
                &[3, 4],
                &[5, 5],
                &mut Prg::from_entropy(),
            )
            .await;
            let _ = p;
            Ok(r.map(|_| ()).map_err(|e| e.to_string()))
        });
        let e = r0.expect_err("inner dimensions differ");
        assert!(e.contains("inner dimensions"), "{e}");
    }
}

/// The OT source's price ([`ot::price::price`]) is its metered traffic — bytes,
/// frames and rounds of each party — for a demand of every kind, in Z64 and Z32, on a
/// link with small frames (streams split into many frames).
#[test]
fn the_ot_source_price_is_its_metered_traffic() {
    use tessera_core::{Ring, Z32, Z64};
    use tessera_protocols::ot::price;
    use tessera_protocols::{BilinearOp, ConvParams, Demand, Request, Window};

    fn check<R: Ring>(max_frame: usize) {
        let window = Window::from_lists(&[2], &[2], &[1, 2], false).unwrap();
        let conv = BilinearOp::Conv(ConvParams { window, groups: 2 });
        let mut d = Demand::new();
        let beaver = |op, a: &[usize], b: &[usize]| Request::Beaver {
            op,
            a: a.to_vec(),
            b: b.to_vec(),
        };
        d.push(Request::AndTriples { bits: 300 });
        d.push(Request::RandomOts {
            count: 70,
            sender: 0,
        });
        d.push(Request::RandomOts {
            count: 200,
            sender: 1,
        });
        d.push(Request::DaBits { count: 33 });
        d.push(Request::Trunc {
            frac_bits: 8,
            shape: vec![2, 5],
        });
        d.push(Request::Square { shape: vec![7] });
        d.push(beaver(BilinearOp::Elementwise, &[3, 4], &[3, 4]));
        d.push(beaver(BilinearOp::Broadcast, &[3, 4], &[4]));
        d.push(beaver(BilinearOp::MatMul, &[3, 5], &[5, 2]));
        d.push(beaver(BilinearOp::BatchMatMul, &[2, 3, 4], &[2, 4, 2]));
        d.push(beaver(conv, &[2, 4, 9], &[6, 2, 3]));
        d.push(Request::WeightMask { shape: vec![5, 3] });
        d.push(Request::PlainWeight {
            op: BilinearOp::MatMul,
            mask: 0,
            act: vec![4, 5],
            weight: vec![5, 3],
        });
        d.push(Request::WeightMask {
            shape: vec![6, 2, 3],
        });
        d.push(Request::PlainWeight {
            op: conv,
            mask: 1,
            act: vec![2, 4, 9],
            weight: vec![6, 2, 3],
        });
        d.push(Request::WeightMask { shape: vec![4] });
        d.push(Request::PlainWeight {
            op: BilinearOp::Broadcast,
            mask: 2,
            act: vec![3, 4],
            weight: vec![4],
        });
        let [(_, m0), (_, m1)] = generate_both::<R>(&d, max_frame);
        let want = price::price::<R>(&d, max_frame).unwrap();
        assert_eq!([m0, m1], want.meters, "Z{} frames ≤ {max_frame}", R::BITS);
        assert_eq!(want.base_ots, 128);
        assert!(want.ots > 0 && want.ole_elements > 0 && want.ole_expanded > 0);
    }
    check::<Z64>(ChannelConfig::default().max_frame);
    check::<Z64>(1 << 12 | 8);
    check::<Z32>(1 << 12 | 4);
}

/// AND triples beyond one batch of the OT source ([`source::AND_BATCH`]): every triple
/// multiplies across the batch boundary, and the traffic is the price's.
#[test]
fn and_triples_in_several_batches_multiply_and_are_priced() {
    use tessera_core::Z64;
    use tessera_protocols::ot::{price, source};
    use tessera_protocols::preprocessing::Correlation;
    use tessera_protocols::{Demand, Request};

    let n = source::AND_BATCH + 77;
    let mut d = Demand::new();
    d.push(Request::AndTriples { bits: n });
    let [(items0, m0), (items1, m1)] = generate_both::<Z64>(&d, ChannelConfig::default().max_frame);
    let and = |items: Vec<(Request, Correlation<Z64>)>| match items.into_iter().next() {
        Some((_, Correlation::And(t))) => t,
        _ => panic!("one AND-triple item"),
    };
    let (t0, t1) = (and(items0), and(items1));
    assert_eq!(t0.a.len(), n);
    let words = |v: &tessera_core::BitVec| v.words().to_vec();
    let (a0, a1, b0, b1, c0, c1) = (
        words(&t0.a),
        words(&t1.a),
        words(&t0.b),
        words(&t1.b),
        words(&t0.c),
        words(&t1.c),
    );
    for w in 0..a0.len() {
        assert_eq!(c0[w] ^ c1[w], (a0[w] ^ a1[w]) & (b0[w] ^ b1[w]), "word {w}");
    }
    let want = price::price::<Z64>(&d, ChannelConfig::default().max_frame).unwrap();
    assert_eq!([m0, m1], want.meters);
}

/// A plaintext-weight product whose one-way vector OLE is cut into several correction
/// messages ([`correlate::CORR_CHUNK_ELEMS`] elements each; here 400 scalars of 64 bits
/// against vectors of 90 make 2.3 M elements, two messages): the shares still add up
/// to `V·U` exactly, and the traffic is the price's.
#[test]
fn a_plaintext_weight_product_over_several_correction_messages_is_exact() {
    use tessera_core::{Ring, Z64};
    use tessera_protocols::BilinearOp;
    use tessera_protocols::ot::{correlate, price};
    use tessera_protocols::preprocessing::Correlation;
    use tessera_protocols::{Demand, Request};

    let (m, k, n) = (4usize, 100usize, 90usize);
    assert!(m * k * 64 * n > correlate::CORR_CHUNK_ELEMS);
    let mut d = Demand::new();
    d.push(Request::WeightMask { shape: vec![k, n] });
    d.push(Request::PlainWeight {
        op: BilinearOp::MatMul,
        mask: 0,
        act: vec![m, k],
        weight: vec![k, n],
    });
    let [(items0, meter0), (items1, meter1)] =
        generate_both::<Z64>(&d, ChannelConfig::default().max_frame);
    let (Correlation::WeightMask(u), Correlation::PlainWeight(z0)) = (&items0[0].1, &items0[1].1)
    else {
        panic!("party 0: a weight mask, then its plaintext-weight share");
    };
    let Correlation::PlainWeight(z1) = &items1[1].1 else {
        panic!("party 1: a plaintext-weight share");
    };
    let u = u.mask.as_ref().expect("party 0 holds U");
    let v = z1.v.as_ref().expect("party 1 holds V");
    for i in 0..m {
        for j in 0..n {
            let want = (0..k).fold(Z64::from_u64(0), |acc, s| acc + v[[i, s]] * u[[s, j]]);
            assert_eq!(z0.z[[i, j]] + z1.z[[i, j]], want, "entry ({i}, {j})");
        }
    }
    let want = price::price::<Z64>(&d, ChannelConfig::default().max_frame).unwrap();
    assert_eq!([meter0, meter1], want.meters);
    assert!(
        want.steps.iter().any(|s| s.chunks == 2),
        "two correction messages"
    );
}

/// A matrix triple too large to make by OT (its OLE corrections over
/// `source::MAX_VOLE_BYTES`) is refused at both parties before any message, with the
/// sizes named, instead of exhausting memory.
#[test]
fn an_oversized_matrix_triple_is_refused_before_any_message() {
    use tessera_core::Z64;
    use tessera_protocols::arith::bilinear::BilinearOp;
    use tessera_protocols::ot::source;
    use tessera_protocols::{Demand, Request};

    let mut d = Demand::new();
    d.push(Request::Beaver {
        op: BilinearOp::MatMul,
        a: vec![128, 784],
        b: vec![784, 128],
    });
    let (r0, r1, sent) = block(async {
        let (c0, c1) = Channel::in_memory_pair(ChannelConfig::default());
        let run = |p: usize, mut ch: Channel, d: Demand| async move {
            let r =
                source::generate::<Z64, _>(&mut ch, p, &d, None, &mut Prg::from_entropy()).await;
            (r.map(|_| ()), ch.metering().total().bytes_sent)
        };
        let ((r0, s0), (r1, s1)) = tokio::time::timeout(DEADLINE, async {
            tokio::join!(run(0, c0, d.clone()), run(1, c1, d.clone()))
        })
        .await
        .expect("within the deadline");
        (r0, r1, s0 + s1)
    });
    for r in [r0, r1] {
        let e = r.expect_err("refused").to_string();
        assert!(
            e.contains("too large to make by OT") && e.contains("GB"),
            "{e}"
        );
    }
    assert_eq!(sent, 0, "nothing was sent");
}

/// One party's end of an exchange: its choices, its strings, its pairs, its rounds.
type Exchanged = (Vec<bool>, Vec<Block>, Vec<[Block; 2]>, u64);

/// Random OTs both ways at once ([`ot::exchange_random_with`]) in many more frames than
/// a party sends ahead of the peer's, on a multi-threaded runtime (where each frame's
/// work leaves the worker to the channel's writer) and on a current-thread one: both
/// directions' strings hold their relation, and the exchange is one round at each end
/// however its frames interleave.
#[test]
fn random_ots_both_ways_in_many_frames_are_one_round() {
    // 2,056-byte frames carry one tile: 128 transfers per frame.
    let cfg = ChannelConfig {
        max_frame: 2056,
        ..ChannelConfig::default()
    };
    let (m0, m1) = (128 * 41 + 5, 128 * 23 + 100);
    let run = |p: usize, mut ch: Channel| async move {
        let mut link = ot::correlate::link(&mut ch, p, &mut Prg::from_entropy()).await?;
        // Party p receives the peer's sends: m_{1-p} transfers.
        let (mine, theirs) = if p == 0 { (m1, m0) } else { (m0, m1) };
        let choices = bits(p as u64 + 7, mine);
        let before = ch.metering().total().rounds;
        let (mut got, mut pairs) = (Vec::new(), Vec::new());
        ot::exchange_random_with(
            &mut ch,
            (&mut link.receiver, &mut link.sender),
            &choices,
            theirs,
            |at, y| {
                assert_eq!(at, got.len());
                got.extend_from_slice(y)
            },
            |at, x| {
                assert_eq!(at, pairs.len());
                pairs.extend_from_slice(x)
            },
        )
        .await?;
        let rounds = ch.metering().total().rounds - before;
        Ok::<_, tessera_protocols::Error>((choices, got, pairs, rounds))
    };
    let check = |[(c0, g0, p0, r0), (c1, g1, p1, r1)]: [Exchanged; 2]| {
        assert_eq!((g0.len(), p1.len()), (m1, m1));
        assert_eq!((g1.len(), p0.len()), (m0, m0));
        for (i, (&c, y)) in c0.iter().zip(&g0).enumerate() {
            assert_eq!(*y, p1[i][usize::from(c)], "party 0's transfer {i}");
            assert_ne!(*y, p1[i][usize::from(!c)], "party 0's transfer {i}");
        }
        for (i, (&c, y)) in c1.iter().zip(&g1).enumerate() {
            assert_eq!(*y, p0[i][usize::from(c)], "party 1's transfer {i}");
        }
        assert_eq!((r0, r1), (1, 1), "rounds of the exchange");
    };
    let multi = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let out = multi.block_on(async {
        let (c0, c1) = Channel::in_memory_pair(cfg);
        let a = tokio::spawn(run(0, c0));
        let b = tokio::spawn(run(1, c1));
        let (a, b) = tokio::time::timeout(DEADLINE, async { tokio::try_join!(a, b) })
            .await
            .expect("within the deadline")
            .expect("tasks");
        [a.expect("party 0"), b.expect("party 1")]
    });
    check(out);
    let out = block(async {
        let (c0, c1) = Channel::in_memory_pair(cfg);
        let (a, b) =
            tokio::time::timeout(DEADLINE, async { tokio::try_join!(run(0, c0), run(1, c1)) })
                .await
                .expect("within the deadline")
                .expect("exchange");
        [a, b]
    });
    check(out);
}
