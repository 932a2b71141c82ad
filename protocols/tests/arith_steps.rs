//! The pure protocol steps, stepped for both parties in one test without any channel:
//! the messages one party's `open` returns are the peer's `close` input.

// Test helpers outside #[test] functions unwrap too: a failure is a test failure.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::*;
use ndarray::ArrayD;
use proptest::prelude::*;
use tessera_core::{Ring, SessionId, Threads, Z64};
use tessera_protocols::arith::{beaver, plain, trunc};
use tessera_protocols::harness::strategies::ring_tensor;
use tessera_protocols::{AShare, BilinearOp, Demand, Error, Provider, Store, dealer};

fn stores(d: &Demand) -> [Store<Z64>; 2] {
    let s = SessionId::random();
    let dealt = dealer::generate::<Z64>(d).unwrap();
    [0, 1].map(|i| Store::from_material(dealt.material::<Z64>(i, s, d)).unwrap())
}

/// Splits `x` into two random shares.
fn split(x: &ArrayD<Z64>, r: &ArrayD<Z64>) -> [AShare<Z64>; 2] {
    [AShare::from_array(x - r), AShare::from_array(r.clone())]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(32))]

    #[test]
    fn beaver_matmul_steps(
        (x, y, rx, ry) in (1usize..5, 1usize..5, 1usize..5).prop_flat_map(|(m, k, n)| (
            ring_tensor::<Z64>(vec![m, k]), ring_tensor::<Z64>(vec![k, n]),
            ring_tensor::<Z64>(vec![m, k]), ring_tensor::<Z64>(vec![k, n]),
        ))
    ) {
        let mut d = Demand::new();
        d.matmul(x.shape(), y.shape());
        let [mut s0, mut s1] = stores(&d);
        let ([x0, x1], [y0, y1]) = (split(&x, &rx), split(&y, &ry));
        let t0 = s0.take_beaver(BilinearOp::MatMul, x.shape(), y.shape()).unwrap();
        let t1 = s1.take_beaver(BilinearOp::MatMul, x.shape(), y.shape()).unwrap();
        let (st0, m0) = beaver::beaver_open(0, BilinearOp::MatMul, &x0, &y0, t0).unwrap();
        let (st1, m1) = beaver::beaver_open(1, BilinearOp::MatMul, &x1, &y1, t1).unwrap();
        prop_assert_eq!(m0.len(), x.len() + y.len());
        let z0 = beaver::beaver_close(&Threads::one(), st0, &m1).unwrap();
        let z1 = beaver::beaver_close(&Threads::one(), st1, &m0).unwrap();
        prop_assert_eq!(z0.add(&z1).unwrap().into_array(), matmul_ref(&x, &y));
    }

    #[test]
    fn square_and_trunc_steps(x in ring_tensor::<Z64>(vec![7]), r in ring_tensor::<Z64>(vec![7]), f in 1u32..40) {
        let x = x.mapv(|v| Z64::from_i64(v.to_i64() >> 3)); // |x| < 2^60 < 2^62
        let mut d = Demand::new();
        d.square(&[7]).trunc(f, &[7]);
        let [mut s0, mut s1] = stores(&d);
        let [x0, x1] = split(&x, &r);
        let (a, b) = (s0.take_square(&[7]).unwrap(), s1.take_square(&[7]).unwrap());
        let (st0, m0) = beaver::square_open(0, &x0, a).unwrap();
        let (st1, m1) = beaver::square_open(1, &x1, b).unwrap();
        let q = beaver::square_close(st0, &m1).unwrap().add(&beaver::square_close(st1, &m0).unwrap()).unwrap();
        prop_assert_eq!(q.into_array(), &x * &x);

        let (a, b) = (s0.take_trunc(f, &[7]).unwrap(), s1.take_trunc(f, &[7]).unwrap());
        let (st0, m0) = trunc::trunc_open(0, &x0, a).unwrap();
        let (st1, m1) = trunc::trunc_open(1, &x1, b).unwrap();
        let t = trunc::trunc_close(st0, &m1).unwrap().add(&trunc::trunc_close(st1, &m0).unwrap()).unwrap();
        for (&v, &t) in x.iter().zip(t.array().iter()) {
            let e = t.to_i64().wrapping_sub(v.to_i64() >> f);
            prop_assert!(e == 0 || e == 1, "x = {}, e = {}", v.to_i64(), e);
        }
    }

    #[test]
    fn plain_weight_steps(
        (w, x, r) in (1usize..4, 1usize..5, 1usize..4).prop_flat_map(|(m, k, n)| (
            ring_tensor::<Z64>(vec![k, n]), ring_tensor::<Z64>(vec![m, k]), ring_tensor::<Z64>(vec![m, k]),
        ))
    ) {
        let op = BilinearOp::MatMul;
        let mut d = Demand::new();
        let mask = d.weight_mask(w.shape());
        d.plain_weight(op, mask, x.shape(), w.shape());
        let [mut s0, mut s1] = stores(&d);
        let (h0, setup_msg) = plain::setup_owner(mask, w.clone(), s0.take_weight_mask(w.shape()).unwrap()).unwrap();
        s1.take_weight_mask(w.shape()).unwrap();
        let h1 = plain::setup_peer(mask, w.shape(), setup_msg).unwrap();
        let [x0, x1] = split(&x, &r);
        let m1 = s1.take_plain_weight(op, mask, x.shape(), w.shape()).unwrap();
        let (st1, msg) = plain::layer_peer_open(op, &h1, &x1, m1).unwrap();
        let y1 = plain::layer_peer_close(&Threads::one(), st1).unwrap();
        prop_assert_eq!(msg.len(), x.len());
        let m0 = s0.take_plain_weight(op, mask, x.shape(), w.shape()).unwrap();
        let y0 = plain::layer_owner(&Threads::one(), op, &h0, &x0, m0, msg).unwrap();
        prop_assert_eq!(y0.add(&y1).unwrap().into_array(), matmul_ref(&x, &w));
    }
}

#[test]
fn malformed_peer_messages_are_errors() {
    let mut d = Demand::new();
    d.mul(&[3]);
    let [mut s0, _] = stores(&d);
    let x = AShare::from_array(arr::<Z64>(&[3], vec![Z64::from_u64(1); 3]));
    let t = s0.take_beaver(BilinearOp::Elementwise, &[3], &[3]).unwrap();
    let (st, _) = beaver::beaver_open(0, BilinearOp::Elementwise, &x, &x, t).unwrap();
    assert!(matches!(
        beaver::beaver_close(&Threads::one(), st, &[Z64::from_u64(0); 5]),
        Err(Error::Protocol { .. })
    ));
    // Operands that do not fit the triple.
    let [mut s0, _] = stores(&d);
    let t = s0.take_beaver(BilinearOp::Elementwise, &[3], &[3]).unwrap();
    let y = AShare::from_array(arr::<Z64>(&[1, 3], vec![Z64::from_u64(1); 3]));
    assert!(matches!(
        beaver::beaver_open(0, BilinearOp::Elementwise, &y, &y, t),
        Err(Error::Shape { .. })
    ));
}
