//! The reference models on the MNIST test digits, securely, over TCP loopback with the
//! dealer: every secure label equals the plaintext fixed-point reference's. The plans
//! whose online traffic is small enough for a test run on all 2,000 test digits; a+y
//! (about 10 MB of garbled material per CNN digit) on the first 200. `tessera infer`
//! runs any plan on any count.
#![allow(clippy::unwrap_used)]

use std::time::Duration;

use tessera_core::{ChannelConfig, FixedPoint, Z64};
use tessera_engine::session::loopback;
use tessera_engine::{Baseline, Output, RunOptions};
use tessera_models::data::MNIST10K_TEST;
use tessera_models::{FixedModel, assets};

fn check(name: &str, plan: Baseline, count: usize, batch: usize) {
    let model = assets::model(name).unwrap();
    let fm = FixedModel::<Z64>::new(&model, FixedPoint::new(16)).unwrap();
    let mnist = assets::mnist().unwrap();
    let range = MNIST10K_TEST.start..MNIST10K_TEST.start + count;
    let x = fm
        .encode_input(&mnist.images_f32(range.clone()).unwrap())
        .unwrap();
    let reference = fm.run(&x).unwrap().labels();
    let a = plan.assignment(&fm, Output::Label).unwrap();
    let per = model.input_len();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let mut labels = Vec::with_capacity(count);
    for start in (0..count).step_by(batch) {
        let n = batch.min(count - start);
        let chunk = &x[start * per..(start + n) * per];
        let r = rt
            .block_on(loopback(
                &fm,
                &a,
                chunk,
                n,
                ChannelConfig::default(),
                RunOptions::default(),
                Duration::from_secs(300),
            ))
            .unwrap_or_else(|e| panic!("{name} under {}: {e}", plan.name()));
        assert!(r.parties[0].output.labels.is_none());
        labels.extend(r.parties[1].output.labels.clone().unwrap());
    }
    assert_eq!(labels, reference, "{name} under {}", plan.name());
    // And the accuracy is the float model's within 0.5 points (it is the fixed-point
    // reference's exactly).
    let truth = mnist.labels(range).unwrap();
    let float = model
        .run_float::<f32>(
            &mnist
                .images_f32(MNIST10K_TEST.start..MNIST10K_TEST.start + count)
                .unwrap(),
        )
        .unwrap()
        .labels();
    let acc = |l: &[usize]| {
        l.iter()
            .zip(truth)
            .filter(|(a, b)| **a == usize::from(**b))
            .count() as f64
            / count as f64
    };
    assert!(
        (acc(&labels) - acc(&float)).abs() <= 0.005,
        "{name}: {} vs {}",
        acc(&labels),
        acc(&float)
    );
}

#[test]
fn mlp_a_plus_b_all_test_digits() {
    check("mlp", Baseline::AB, 2000, 500);
}

#[test]
fn cnn_a_plus_b_all_test_digits() {
    check("cnn", Baseline::AB, 2000, 500);
}

#[test]
fn mlp_a_plus_y_first_200() {
    check("mlp", Baseline::AY, 200, 100);
}

#[test]
fn cnn_a_plus_y_first_200() {
    check("cnn", Baseline::AY, 200, 100);
}
