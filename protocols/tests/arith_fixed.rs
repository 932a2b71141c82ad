//! Fixed-point arithmetic and truncation, tested within the documented bounds
//! (`tessera_protocols::arith::trunc`):
//! - dealer truncation: `⌊x/2^f⌋ + e`, `e ∈ {0,1}`, never anything else, for every
//!   `x ∈ [−2^(ℓ−2), 2^(ℓ−2))`;
//! - local (SecureML) truncation: `e ∈ {0,1}` except, with probability `|x|/2^ℓ`, an
//!   error of exactly `∓2^(ℓ−f)`; the wrap condition is checked exactly on the pure
//!   step, and the number of failures through the driver against a tail bound.

// Test helpers outside #[test] functions unwrap too: a failure is a test failure.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::*;
use ndarray::ArrayD;
use proptest::prelude::*;
use tessera_core::{FixedPoint, Ring, Z32, Z64};
use tessera_protocols::arith::avg_pool_scale;
use tessera_protocols::arith::trunc::trunc_local;
use tessera_protocols::harness::strategies::{fixed_tensor, int_tensor, shape};
use tessera_protocols::{AShare, BilinearOp, Demand, TruncMode};

fn floor_shift<R: Ring>(x: R, f: u32) -> R {
    R::from_i64(x.to_i64() >> f)
}

/// Dealer truncation of values spanning the whole allowed range, plus its edges.
fn check_dealer_trunc<R: Ring>(mut x: ArrayD<R>, f: u32) {
    let lim = 1i64 << (R::BITS - 2);
    for (i, edge) in [lim - 1, -lim, 0, -1, 1].into_iter().enumerate() {
        if let Some(v) = x.iter_mut().nth(i) {
            *v = R::from_i64(edge);
        }
    }
    let zero = x.mapv(|_| R::zero());
    let mut d = Demand::new();
    d.trunc(f, x.shape());
    let run = block(binary::<R>(&d, &x, &zero, async |p, a, b| {
        p.trunc(&a.add(b)?, f, TruncMode::Dealer).await
    }))
    .unwrap();
    for (&v, &t) in x.iter().zip(run.out0.revealed.iter()) {
        let e = t - floor_shift(v, f);
        assert!(
            e == R::zero() || e == R::one(),
            "x = {}, f = {f}: got {}, floor {}",
            v.to_i64(),
            t.to_i64(),
            floor_shift(v, f).to_i64()
        );
    }
    for m in [&run.out0.op, &run.out1.op] {
        assert_eq!(m.online.bytes_sent, 8 + (x.len() * R::BYTES) as u64);
        assert_eq!(m.online.rounds, 1);
    }
}

/// Classifies local-truncation errors: `Ok(true)` for a documented failure
/// (`e ∓ 2^(ℓ−f)`), `Ok(false)` for success, `Err` for anything else.
fn local_outcome<R: Ring>(x: R, t: R, f: u32) -> Result<bool, String> {
    let e = t - floor_shift(x, f);
    let big = R::from_u64(1u64 << (R::BITS - f));
    if e == R::zero() || e == R::one() {
        Ok(false)
    } else if [e - big, e + big]
        .iter()
        .any(|&g| g == R::zero() || g == R::one())
    {
        Ok(true)
    } else {
        Err(format!("x = {}, f = {f}: error {}", x.to_i64(), e.to_i64()))
    }
}

/// Asserts every element is a success or the documented failure, and that failures
/// are no more frequent than `Σ|x|/2^ℓ` allows (mean + 8·sd + 4: a false alarm has
/// probability below 1e-12).
fn assert_local_within<R: Ring>(xs: &[R], ts: &[R], f: u32) {
    let mut failures = 0usize;
    let mut mean = 0f64;
    for (&x, &t) in xs.iter().zip(ts) {
        failures += usize::from(local_outcome(x, t, f).unwrap());
        mean += (x.to_i64().unsigned_abs() as f64) / (R::BITS as f64).exp2();
    }
    let bound = mean + 8.0 * mean.sqrt() + 4.0;
    assert!(
        (failures as f64) <= bound,
        "{failures} local-truncation failures, bound {bound:.1} (expected {mean:.2})"
    );
}

fn check_local_trunc_driver<R: Ring>(x: ArrayD<R>, f: u32) {
    let zero = x.mapv(|_| R::zero());
    let run = block(binary::<R>(&Demand::new(), &x, &zero, async |p, a, b| {
        p.trunc(&a.add(b)?, f, TruncMode::Local).await
    }))
    .unwrap();
    let xs: Vec<R> = x.iter().copied().collect();
    let ts: Vec<R> = run.out0.revealed.iter().copied().collect();
    assert_local_within(&xs, &ts, f);
    for m in [&run.out0.op, &run.out1.op] {
        assert_eq!(m.total().bytes_sent, 0, "local truncation sends nothing");
    }
}

/// The pure step with chosen shares: failure happens exactly on wrap-around.
fn check_local_trunc_exact<R: Ring>(x: R, u0: R, f: u32) {
    let s0 = AShare::from_array(ArrayD::from_elem(ndarray::IxDyn(&[1]), u0));
    let s1 = AShare::from_array(ArrayD::from_elem(ndarray::IxDyn(&[1]), x - u0));
    let t =
        trunc_local(0, &s0, f).unwrap().array()[[0]] + trunc_local(1, &s1, f).unwrap().array()[[0]];
    let xi = x.to_i64();
    let u = u0.to_u64() as u128;
    let wraps = if xi >= 0 {
        u < xi as u128
    } else {
        u >= (1u128 << R::BITS) - xi.unsigned_abs() as u128
    };
    assert_eq!(local_outcome(x, t, f), Ok(wraps), "x = {xi}, u0 = {u}");
}

/// Fixed-point product of exactly representable reals: within 2^-f of the real
/// product (dealer mode: always; local mode: except the documented failures).
fn check_mul_fixed<R: Ring>(x: ArrayD<R>, y: ArrayD<R>, fp: FixedPoint, mode: TruncMode) {
    let mut d = Demand::new();
    d.mul(x.shape());
    if mode == TruncMode::Dealer {
        d.trunc(fp.frac_bits, x.shape());
    }
    let run = block(binary::<R>(&d, &x, &y, async |p, a, b| {
        p.mul_fixed(a, b, fp, mode).await
    }))
    .unwrap();
    let prods: Vec<R> = x.iter().zip(y.iter()).map(|(&a, &b)| a * b).collect();
    let ts: Vec<R> = run.out0.revealed.iter().copied().collect();
    if mode == TruncMode::Local {
        assert_local_within(&prods, &ts, fp.frac_bits);
    }
    for ((&a, &b), (&p, &t)) in x.iter().zip(y.iter()).zip(prods.iter().zip(&ts)) {
        if mode == TruncMode::Local && local_outcome(p, t, fp.frac_bits) == Ok(true) {
            continue;
        }
        let real = fp.decode(a) * fp.decode(b);
        let got = fp.decode(t);
        assert!(
            (got - real).abs() <= 1.0 / fp.scale(),
            "{} · {} = {real}, got {got}",
            fp.decode(a),
            fp.decode(b)
        );
    }
    let rounds = if mode == TruncMode::Dealer { 2 } else { 1 };
    assert_eq!(run.out0.op.online.rounds, rounds);
}

fn check_matmul_fixed<R: Ring>(x: ArrayD<R>, w: ArrayD<R>, fp: FixedPoint) {
    let mut d = Demand::new();
    d.bilinear_fixed(
        BilinearOp::MatMul,
        x.shape(),
        w.shape(),
        fp.frac_bits,
        TruncMode::Dealer,
    )
    .unwrap();
    let run = block(binary::<R>(&d, &x, &w, async |p, a, b| {
        p.bilinear_fixed(BilinearOp::MatMul, a, b, fp, TruncMode::Dealer)
            .await
    }))
    .unwrap();
    let exact = matmul_ref(&x, &w);
    for (&p, &t) in exact.iter().zip(run.out0.revealed.iter()) {
        let e = t - floor_shift(p, fp.frac_bits);
        assert!(e == R::zero() || e == R::one());
    }
}

fn check_avg_pool<R: Ring>(x: ArrayD<R>, fp: FixedPoint, k: usize) {
    let zero = x.mapv(|_| R::zero());
    let s = AShare::from_array(x.clone()).sum_pool2d(k, k).unwrap();
    let mut d = Demand::new();
    d.avg_pool2d(x.shape(), k, k, fp.frac_bits, TruncMode::Dealer);
    assert_eq!(d.requests().len(), 1);
    let run = block(binary::<R>(&d, &x, &zero, async |p, a, b| {
        p.avg_pool2d(&a.add(b)?, k, k, fp, TruncMode::Dealer).await
    }))
    .unwrap();
    let q = avg_pool_scale::<R>(fp, k);
    for (&sum, &t) in s.array().iter().zip(run.out0.revealed.iter()) {
        let e = t - floor_shift(sum * q, fp.frac_bits);
        assert!(e == R::zero() || e == R::one());
        // And as reals: within 2^-f plus the scale's representation error.
        let mean = fp.decode(sum) / (k * k) as f64;
        let tol = 1.0 / fp.scale() + fp.decode(sum).abs() * 0.5 / fp.scale();
        assert!((fp.decode(t) - mean).abs() <= tol + 1e-12);
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(32))]

    #[test]
    fn dealer_trunc_z64(x in shape(2, 6).prop_flat_map(|s| int_tensor::<Z64>(s, (1i64 << 62) - 1)), f in 1u32..=62) {
        check_dealer_trunc::<Z64>(x, f);
    }

    #[test]
    fn dealer_trunc_z32(x in shape(2, 6).prop_flat_map(|s| int_tensor::<Z32>(s, (1i64 << 30) - 1)), f in 1u32..=30) {
        check_dealer_trunc::<Z32>(x, f);
    }

    #[test]
    fn local_trunc_driver_z64(x in int_tensor::<Z64>(vec![300], 1i64 << 40), f in 1u32..=32) {
        check_local_trunc_driver::<Z64>(x, f);
    }

    #[test]
    fn local_trunc_driver_z32(x in int_tensor::<Z32>(vec![300], 1i64 << 24), f in 1u32..=12) {
        check_local_trunc_driver::<Z32>(x, f);
    }

    #[test]
    fn mul_fixed_z64(
        (x, y) in shape(2, 6).prop_flat_map(|s| (
            fixed_tensor::<Z64>(FixedPoint::new(16), 1000.0, s.clone()),
            fixed_tensor::<Z64>(FixedPoint::new(16), 1000.0, s),
        )),
        local in any::<bool>(),
    ) {
        let mode = if local { TruncMode::Local } else { TruncMode::Dealer };
        check_mul_fixed::<Z64>(x, y, FixedPoint::new(16), mode);
    }

    #[test]
    fn mul_fixed_z32(
        (x, y) in shape(2, 6).prop_flat_map(|s| (
            fixed_tensor::<Z32>(FixedPoint::new(8), 50.0, s.clone()),
            fixed_tensor::<Z32>(FixedPoint::new(8), 50.0, s),
        )),
        local in any::<bool>(),
    ) {
        let mode = if local { TruncMode::Local } else { TruncMode::Dealer };
        check_mul_fixed::<Z32>(x, y, FixedPoint::new(8), mode);
    }

    #[test]
    fn matmul_fixed_z64((x, w) in (1usize..5, 1usize..8, 1usize..5).prop_flat_map(|(m, k, n)| (
        fixed_tensor::<Z64>(FixedPoint::new(20), 100.0, vec![m, k]),
        fixed_tensor::<Z64>(FixedPoint::new(20), 100.0, vec![k, n]),
    ))) {
        check_matmul_fixed::<Z64>(x, w, FixedPoint::new(20));
    }

    #[test]
    fn avg_pool_z64(x in fixed_tensor::<Z64>(FixedPoint::new(16), 100.0, vec![1, 2, 6, 6]), k in 1usize..4) {
        check_avg_pool::<Z64>(x, FixedPoint::new(16), k);
    }

    #[test]
    fn avg_pool_z32(x in fixed_tensor::<Z32>(FixedPoint::new(10), 20.0, vec![2, 1, 4, 4]), k in 1usize..3) {
        check_avg_pool::<Z32>(x, FixedPoint::new(10), k);
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    /// Wrap-around (and only wrap-around) makes local truncation fail, for values near
    /// the edge of the range too, where failures are frequent.
    #[test]
    fn local_trunc_fails_exactly_on_wrap_z64(x in -(1i64 << 62)..(1i64 << 62), u0 in any::<u64>(), f in 1u32..=62) {
        check_local_trunc_exact::<Z64>(Z64::from_i64(x), Z64::from_u64(u0), f);
    }

    #[test]
    fn local_trunc_fails_exactly_on_wrap_z32(x in -(1i64 << 30)..(1i64 << 30), u0 in any::<u32>(), f in 1u32..=30) {
        check_local_trunc_exact::<Z32>(Z32::from_i64(x), Z32::from_u64(u64::from(u0)), f);
    }
}
