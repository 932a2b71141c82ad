#![allow(clippy::unwrap_used)]
//! The fixed-point reference's semantics, layer by layer: hand-computed known
//! answers, an independent `i128` implementation of the linear layers (property
//! test, both rings), and the secure-run deviation bound checked against a
//! simulation of dealer truncation (`⌊a/2^f⌋ + e`, `e ∈ {0, 1}`).

mod common;

use proptest::prelude::*;
use rand::{Rng, SeedableRng, rngs::StdRng};
use tessera_core::{FixedPoint, Ring, Z32, Z64};
use tessera_models::data::MNIST10K_TEST;
use tessera_models::{
    Conv, Dense, FixedModel, Head, Model, OnnxOptions, Op, Pool, Score, SigmoidKind, Tensor,
};

fn t(shape: &[usize], v: &[f32]) -> Tensor {
    Tensor::new(shape.to_vec(), v.to_vec()).unwrap()
}

fn model(input: &[usize], layers: Vec<(&str, Op)>) -> Model {
    Model::new(
        input.to_vec(),
        layers
            .into_iter()
            .map(|(n, o)| (n.to_string(), o))
            .collect(),
        Head::Scores,
    )
    .unwrap()
}

fn ints<R: Ring>(v: &[R]) -> Vec<i64> {
    v.iter().map(|x| x.to_i64()).collect()
}

fn zs<R: Ring>(v: &[i64]) -> Vec<R> {
    v.iter().map(|&x| R::from_i64(x)).collect()
}

/// Runs layer `i` of `m` on ring values (given as signed integers at scale 2^f).
fn layer<R: Ring>(m: &Model, f: u32, i: usize, x: &[i64]) -> Vec<i64> {
    let fm = FixedModel::<R>::new(m, FixedPoint::new(f)).unwrap();
    let batch = x.len() / m.layers()[i].input_shape().iter().product::<usize>();
    ints(&fm.forward_layer(i, &zs::<R>(x), batch).unwrap())
}

#[test]
fn dense_truncates_by_floor_with_the_bias_at_2f() {
    // f = 4: W = [0.5, −0.25] → [8, −4]; b = 0.15625 at 2f → 40; x = [−3, 5] (/16).
    // a = −24 − 20 + 40 = −4, ⌊−4/16⌋ = −1 (rounding or truncation toward zero
    // would give 0).
    let m = model(
        &[2],
        vec![(
            "d",
            Op::Dense(Dense {
                weight: t(&[1, 2], &[0.5, -0.25]),
                bias: Some(t(&[1], &[0.15625])),
            }),
        )],
    );
    assert_eq!(layer::<Z64>(&m, 4, 0, &[-3, 5]), [-1]);
    assert_eq!(layer::<Z32>(&m, 4, 0, &[-3, 5]), [-1]);
    // x = [3, −5]: a = 24 + 20 + 40 = 84, ⌊84/16⌋ = 5.
    assert_eq!(layer::<Z64>(&m, 4, 0, &[3, -5]), [5]);
    let fm = FixedModel::<Z64>::new(&m, FixedPoint::new(4)).unwrap();
    assert_eq!(ints(fm.layers()[0].weight().unwrap()), [8, -4]);
    assert_eq!(ints(fm.layers()[0].bias().unwrap()), [40]);
    assert_eq!(fm.layers()[0].gain(), 12);
}

#[test]
fn activations_known_answers() {
    let f = 4; // half = 8, one = 16
    let x = [-9, -8, -7, -1, 0, 7, 8, 9, 100];
    let sig = model(&[9], vec![("s", Op::SecureMlSigmoid)]);
    assert_eq!(
        layer::<Z64>(&sig, f, 0, &x),
        [0, 0, 1, 7, 8, 15, 16, 16, 16]
    );
    assert_eq!(
        layer::<Z32>(&sig, f, 0, &x),
        [0, 0, 1, 7, 8, 15, 16, 16, 16]
    );
    let relu = model(&[9], vec![("r", Op::Relu)]);
    assert_eq!(layer::<Z64>(&relu, f, 0, &x), [0, 0, 0, 0, 0, 7, 8, 9, 100]);
    // Square: (−3)² = 9 → ⌊9/16⌋ = 0; (−5)² = 25 → 1; 40² = 1600 → 100; (−17)² → 18.
    let sq = model(&[4], vec![("q", Op::Square)]);
    assert_eq!(layer::<Z64>(&sq, f, 0, &[-3, -5, 40, -17]), [0, 1, 100, 18]);
    assert_eq!(layer::<Z32>(&sq, f, 0, &[-3, -5, 40, -17]), [0, 1, 100, 18]);
    // Float semantics of the same sigmoid.
    let xf: Vec<f32> = x.iter().map(|&v| v as f32 / 16.0).collect();
    let yf = sig.run_float::<f32>(&xf).unwrap().values;
    assert_eq!(yf, [0.0, 0.0, 0.0625, 0.4375, 0.5, 0.9375, 1.0, 1.0, 1.0]);
}

#[test]
fn pooling_known_answers() {
    let f = 4;
    // AvgPool 2×2 / 2 on one 2×4 channel: q = round(16/4) = 4.
    // Windows [1,2,5,3] → 11·4 = 44 → ⌊44/16⌋ = 2; [−1,−2,−3,−4] → −40 → ⌊−2.5⌋ = −3.
    let p = Pool::new2d([2, 2], [2, 2], [0; 4]);
    let avg = model(
        &[1, 2, 4],
        vec![("a", Op::AvgPool(p)), ("fl", Op::Reshape(vec![2]))],
    );
    let x = [1, 2, -1, -2, 5, 3, -3, -4];
    assert_eq!(layer::<Z64>(&avg, f, 0, &x), [2, -3]);
    let fm = FixedModel::<Z64>::new(&avg, FixedPoint::new(f)).unwrap();
    assert_eq!(fm.layers()[0].avg_scale().unwrap().0, 4);
    // 3×3 window, q = round(16/9) = 2 (not 16/9: the A-sharing's public factor).
    let p3 = Pool::new2d([3, 3], [1, 1], [0; 4]);
    let avg3 = model(
        &[1, 3, 3],
        vec![("a", Op::AvgPool(p3)), ("fl", Op::Reshape(vec![1]))],
    );
    assert_eq!(layer::<Z64>(&avg3, f, 0, &[9; 9]), [(81 * 2) >> 4]);
    // MaxPool with padding: the padding is ignored (not a zero), so an all-negative
    // window stays negative.
    let mp = Pool::new2d([2, 2], [1, 1], [1, 1, 0, 0]);
    let maxp = model(
        &[1, 2, 2],
        vec![("m", Op::MaxPool(mp)), ("fl", Op::Reshape(vec![4]))],
    );
    assert_eq!(
        layer::<Z64>(&maxp, f, 0, &[-5, -7, -9, -6]),
        [-5, -5, -5, -5]
    );
    assert_eq!(
        layer::<Z64>(&maxp, f, 0, &[-5, -7, -9, -2]),
        [-5, -5, -5, -2]
    );
    let xf = [-5.0f32, -7.0, -9.0, -2.0];
    assert_eq!(
        maxp.run_float::<f32>(&xf).unwrap().values,
        [-5.0, -5.0, -5.0, -2.0]
    );
}

#[test]
fn argmax_takes_the_first_maximum_on_signed_values() {
    let m = model(&[4], vec![("r", Op::Reshape(vec![4]))]);
    let fm = FixedModel::<Z64>::new(&m, FixedPoint::new(8)).unwrap();
    // Ties → first; negative values compare as signed (not as huge unsigned).
    let run = fm
        .run(&zs::<Z64>(&[3, 7, 7, -1, -5, -3, -9, -3, -1, -2, -3, -4]))
        .unwrap();
    assert_eq!(run.labels(), [1, 1, 0]);
    assert_eq!(run.margins(), [0, 0, 1]);
    let run32 = FixedModel::<Z32>::new(&m, FixedPoint::new(8))
        .unwrap()
        .run(&zs::<Z32>(&[-1, i64::from(i32::MIN), 0, 5]))
        .unwrap();
    assert_eq!(run32.labels(), [3]);
    let fl = m.run_float::<f32>(&[1.0, 2.0, 2.0, 0.0]).unwrap();
    assert_eq!(fl.labels(), [1]);
}

/// floor(a / 2^f) for an i128.
fn floor_shift(a: i128, f: u32) -> i64 {
    a.div_euclid(1i128 << f) as i64
}

/// An independent dense + conv implementation: direct loops in i128, no im2col, no
/// ring arithmetic.
fn naive_dense(w: &[i64], b: &[i64], x: &[i64], out: usize, inn: usize, f: u32) -> Vec<i64> {
    let batch = x.len() / inn;
    let mut y = Vec::new();
    for n in 0..batch {
        for o in 0..out {
            let mut a = i128::from(b[o]);
            for k in 0..inn {
                a += i128::from(w[o * inn + k]) * i128::from(x[n * inn + k]);
            }
            y.push(floor_shift(a, f));
        }
    }
    y
}

#[allow(clippy::too_many_arguments)]
fn naive_conv(
    w: &[i64],
    b: &[i64],
    x: &[i64],
    [o, c, kh, kw]: [usize; 4],
    [h, wd]: [usize; 2],
    [sh, sw]: [usize; 2],
    [pt, pl, pb, pr]: [usize; 4],
    f: u32,
) -> Vec<i64> {
    let oh = (h + pt + pb - kh) / sh + 1;
    let ow = (wd + pl + pr - kw) / sw + 1;
    let batch = x.len() / (c * h * wd);
    let mut y = Vec::new();
    for n in 0..batch {
        for oc in 0..o {
            for i in 0..oh {
                for j in 0..ow {
                    let mut a = i128::from(b[oc]);
                    for ic in 0..c {
                        for ki in 0..kh {
                            for kj in 0..kw {
                                let yy = (i * sh + ki) as i64 - pt as i64;
                                let xx = (j * sw + kj) as i64 - pl as i64;
                                if yy < 0 || xx < 0 || yy >= h as i64 || xx >= wd as i64 {
                                    continue;
                                }
                                let xv = x[((n * c + ic) * h + yy as usize) * wd + xx as usize];
                                let wv = w[((oc * c + ic) * kh + ki) * kw + kj];
                                a += i128::from(xv) * i128::from(wv);
                            }
                        }
                    }
                    y.push(floor_shift(a, f));
                }
            }
        }
    }
    y
}

/// A convolution's kernel `[O, C, kh, kw]`, input `[H, W]`, strides and pads.
type ConvGeometry = ([usize; 4], [usize; 2], [usize; 2], [usize; 4]);

fn check_linear<R: Ring>(f: u32, wv: &[f32], bv: &[f32], x: &[i64], conv: Option<ConvGeometry>) {
    let fp = FixedPoint::new(f);
    let fp2 = FixedPoint::new(2 * f);
    let w: Vec<i64> = wv
        .iter()
        .map(|&v| fp.encode::<Z64>(f64::from(v)).unwrap().to_i64())
        .collect();
    let b: Vec<i64> = bv
        .iter()
        .map(|&v| fp2.encode::<Z64>(f64::from(v)).unwrap().to_i64())
        .collect();
    let (m, expect) = match conv {
        None => {
            let (out, inn) = (bv.len(), wv.len() / bv.len());
            let m = model(
                &[inn],
                vec![(
                    "d",
                    Op::Dense(Dense {
                        weight: t(&[out, inn], wv),
                        bias: Some(t(&[out], bv)),
                    }),
                )],
            );
            (m, naive_dense(&w, &b, x, out, inn, f))
        }
        Some((k, hw, s, p)) => {
            let conv = Op::Conv(Conv::new2d(t(&k, wv), Some(t(&[k[0]], bv)), s, p));
            let out = conv.output_shape(&[k[1], hw[0], hw[1]], "conv").unwrap();
            let m = model(
                &[k[1], hw[0], hw[1]],
                vec![("c", conv), ("fl", Op::Reshape(vec![out.iter().product()]))],
            );
            (m, naive_conv(&w, &b, x, k, hw, s, p, f))
        }
    };
    assert_eq!(layer::<R>(&m, f, 0, x), expect, "{} f={f}", R::NAME);
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn dense_matches_an_independent_i128_implementation(
        f in 1u32..=12,
        out in 1usize..6,
        inn in 1usize..9,
        batch in 1usize..4,
        seed in any::<u64>(),
    ) {
        let mut rng = StdRng::seed_from_u64(seed);
        let wv: Vec<f32> = (0..out * inn).map(|_| rng.random_range(-2.0f32..2.0)).collect();
        let bv: Vec<f32> = (0..out).map(|_| rng.random_range(-1.0f32..1.0)).collect();
        let lim = 1i64 << (f + 3);
        let x: Vec<i64> = (0..batch * inn).map(|_| rng.random_range(-lim..lim)).collect();
        check_linear::<Z64>(f, &wv, &bv, &x, None);
        // |a| < 8 · 2^(f+1) · 2^(f+3) = 2^(2f+7) must stay below 2^30 in Z_2^32.
        if f <= 11 {
            check_linear::<Z32>(f, &wv, &bv, &x, None);
        }
        // Z64 with more fractional bits, where accumulators wrap mod 2^64 in the
        // partial sums of a real run but not here: the values must still agree.
        check_linear::<Z64>(f + 12, &wv, &bv, &x.iter().map(|v| v << 12).collect::<Vec<_>>(), None);
    }

    #[test]
    fn conv_matches_an_independent_i128_implementation(
        f in 1u32..=10,
        o in 1usize..4,
        c in 1usize..3,
        kh in 1usize..4,
        kw in 1usize..4,
        extra in 0usize..4,
        sh in 1usize..3,
        sw in 1usize..3,
        pads in proptest::array::uniform4(0usize..3),
        seed in any::<u64>(),
    ) {
        let mut rng = StdRng::seed_from_u64(seed);
        let (h, wd) = (kh + extra, kw + 1);
        let wv: Vec<f32> = (0..o * c * kh * kw).map(|_| rng.random_range(-2.0f32..2.0)).collect();
        let bv: Vec<f32> = (0..o).map(|_| rng.random_range(-1.0f32..1.0)).collect();
        let lim = 1i64 << (f + 2);
        let x: Vec<i64> = (0..2 * c * h * wd).map(|_| rng.random_range(-lim..lim)).collect();
        let geo = ([o, c, kh, kw], [h, wd], [sh, sw], pads);
        check_linear::<Z64>(f, &wv, &bv, &x, Some(geo));
        check_linear::<Z32>(f, &wv, &bv, &x, Some(geo));
    }
}

#[test]
fn rings_agree_where_ranges_allow() {
    // The CNN with f = 10 in both rings: identical signed values at every layer.
    let m = common::model("cnn");
    let x = common::mnist().images_f32(8000..8100).unwrap();
    let fp = FixedPoint::new(10);
    let a = FixedModel::<Z64>::new(&m, fp).unwrap().run_f32(&x).unwrap();
    let b = FixedModel::<Z32>::new(&m, fp).unwrap().run_f32(&x).unwrap();
    assert_eq!(ints(&a.scores.values), ints(&b.scores.values));
    assert_eq!(a.trace, b.trace);
}

/// A simulated secure run: each layer computed from the (perturbed) previous output,
/// then `+ e` after every truncating layer, with `e ∈ {0, 1}` from `pick`.
fn simulate<R: Ring>(
    fm: &FixedModel<R>,
    x: &[R],
    batch: usize,
    mut pick: impl FnMut() -> bool,
) -> Vec<R> {
    let mut act = x.to_vec();
    for (i, l) in fm.layers().iter().enumerate() {
        act = fm.forward_layer(i, &act, batch).unwrap();
        if l.layer().op().truncates() {
            for v in &mut act {
                if pick() {
                    *v += R::one();
                }
            }
        }
    }
    act
}

fn check_bound<R: Ring + Score>(m: &Model, f: u32, x: &[f32]) {
    let fm = FixedModel::<R>::new(m, FixedPoint::new(f)).unwrap();
    let enc = fm.encode_input(x).unwrap();
    let run = fm.run(&enc).unwrap();
    let batch = run.scores.batch;
    let bound = run.error_bound_ulps();
    let labels = run.labels();
    let certain = run.certain();
    let mut rng = StdRng::seed_from_u64(7);
    let mut worst = 0u64;
    for mode in 0..3 {
        let sec = simulate(&fm, &enc, batch, || match mode {
            0 => true,
            1 => false,
            _ => rng.random_bool(0.5),
        });
        for (a, b) in sec.iter().zip(&run.scores.values) {
            worst = worst.max(a.to_i64().abs_diff(b.to_i64()));
        }
        let sec_labels = tessera_models::Scores {
            batch,
            classes: run.scores.classes,
            values: sec,
        }
        .labels();
        for i in 0..batch {
            assert!(!certain[i] || sec_labels[i] == labels[i], "example {i}");
        }
    }
    println!(
        "{} f={f}: worst simulated deviation {worst} ulp, bound {bound}",
        R::NAME
    );
    assert!(
        u128::from(worst) <= bound,
        "deviation {worst} > bound {bound}"
    );
    assert!(worst > 0, "the simulation must perturb something");
}

#[test]
fn simulated_dealer_truncation_stays_within_the_bound() {
    let x = common::mnist()
        .images_f32(MNIST10K_TEST.start..MNIST10K_TEST.start + 200)
        .unwrap();
    for name in ["mlp", "cnn"] {
        let m = common::model(name);
        check_bound::<Z64>(&m, 16, &x);
        check_bound::<Z32>(&m, 10, &x);
    }
    // Models with square and average pooling, the sigmoid, max and average pooling.
    let sq = tessera_models::load_onnx_file(common::fixture("square_cnn.onnx")).unwrap();
    let xs: Vec<f32> = (0..8 * 36)
        .map(|i| ((i * 37) % 101) as f32 / 101.0)
        .collect();
    check_bound::<Z64>(&sq, 16, &xs);
    // The sigmoid model with the logistic (spline) and with SecureML's sigmoid.
    let xg: Vec<f32> = (0..16 * 4)
        .map(|i| ((i * 29) % 89) as f32 / 22.0 - 2.0)
        .collect();
    for kind in [SigmoidKind::Logistic, SigmoidKind::SecureMl] {
        let sig = tessera_models::load_onnx_file_with(
            common::fixture("sigmoid_mlp.onnx"),
            &OnnxOptions {
                sigmoid: kind,
                ..Default::default()
            },
        )
        .unwrap();
        check_bound::<Z64>(&sig, 16, &xg);
    }
    let pool = tessera_models::load_onnx_file(common::fixture("pool_cnn.onnx")).unwrap();
    let xp: Vec<f32> = (0..8 * 98)
        .map(|i| ((i * 53) % 97) as f32 / 48.5 - 1.0)
        .collect();
    check_bound::<Z64>(&pool, 16, &xp);
}

#[test]
fn debug_output_shows_no_weights() {
    let m = model(
        &[2],
        vec![(
            "d",
            Op::Dense(Dense {
                weight: t(&[1, 2], &[0.123_456_7, -0.25]),
                bias: Some(t(&[1], &[0.5])),
            }),
        )],
    );
    let fm = FixedModel::<Z64>::new(&m, FixedPoint::new(16)).unwrap();
    for text in [format!("{m:?}"), format!("{fm:?}"), format!("{m}")] {
        assert!(!text.contains("0.123") && !text.contains("8091"), "{text}");
        assert!(text.contains("[1, 2]") || text.contains("[2]"), "{text}");
    }
}

/// dense → relu → dense with the relu's feature map also an output, the input a third.
fn two_output_model() -> Model {
    Model::with_outputs(
        vec![2],
        vec![
            (
                "fc1".into(),
                Op::Dense(Dense {
                    weight: t(&[3, 2], &[0.5, -0.25, 1.0, 0.75, -1.5, 0.125]),
                    bias: Some(t(&[3], &[0.1, -0.2, 0.3])),
                }),
                vec![0],
            ),
            ("relu".into(), Op::Relu, vec![1]),
            (
                "fc2".into(),
                Op::Dense(Dense {
                    weight: t(&[2, 3], &[1.0, -0.5, 0.25, -0.75, 0.5, 1.25]),
                    bias: None,
                }),
                vec![2],
            ),
        ],
        vec![
            ("logits".into(), 3),
            ("features".into(), 2),
            ("x".into(), 0),
        ],
        Head::ArgMax,
    )
    .unwrap()
}

#[test]
fn every_output_is_returned_with_its_own_bound() {
    let m = two_output_model();
    assert_eq!(m.outputs(), [3, 2, 0]);
    assert_eq!(m.output_names(), ["logits", "features", "x"]);
    assert_eq!(m.output_shapes(), [&[2][..], &[3], &[2]]);
    let fp = FixedPoint::new(8);
    let fm = FixedModel::<Z64>::new(&m, fp).unwrap();
    assert_eq!(fm.outputs(), m.outputs());
    assert_eq!(fm.output_names(), m.output_names());
    assert_eq!(
        (fm.output_len(0), fm.output_len(1), fm.output_len(2)),
        (2, 3, 2)
    );
    let x = [0.5f32, -1.25, 2.0, 0.75];
    let run = fm.run_f32(&x).unwrap();
    assert_eq!(run.outputs.len(), 3);
    assert_eq!(run.scores, run.outputs[0]);
    // Each output is the value a single-output model ending there computes.
    let upto = |k: usize| {
        let layers: Vec<(String, Op)> = m.layers()[..k]
            .iter()
            .map(|l| (l.name().to_string(), l.op().clone()))
            .collect();
        let single = Model::new(vec![2], layers, Head::Scores).unwrap();
        FixedModel::<Z64>::new(&single, fp)
            .unwrap()
            .run_f32(&x)
            .unwrap()
    };
    let (full, features) = (upto(3), upto(2));
    assert_eq!(run.outputs[0].values, full.scores.values);
    assert_eq!(run.outputs[1].values, features.scores.values);
    assert_eq!((run.outputs[1].batch, run.outputs[1].classes), (2, 3));
    assert_eq!(run.outputs[2].values, fm.encode_input(&x).unwrap());
    // Bounds: the scores' (after two truncations), the features' (one), the input's 0.
    assert_eq!(
        run.output_bounds_ulps,
        [full.error_bound_ulps(), features.error_bound_ulps(), 0]
    );
    assert_eq!(run.error_bound_ulps(), run.output_bounds_ulps[0]);
    assert_eq!(run.labels(), full.labels());
    // The float reference returns the same outputs (up to the encoding).
    let fl = m.run_float_outputs::<f64>(&x).unwrap();
    assert_eq!(fl.len(), 3);
    for (f, q) in fl.iter().zip(&run.outputs) {
        assert_eq!((f.batch, f.classes), (q.batch, q.classes));
        for (a, b) in f.values.iter().zip(&q.decode(fp).values) {
            assert!((a - b).abs() < 0.05, "{a} vs {b}");
        }
    }
}

#[test]
fn model_outputs_are_checked() {
    let relu = |inputs: Vec<usize>| ("r".to_string(), Op::Relu, inputs);
    let err = |layers: Vec<(String, Op, Vec<usize>)>, outputs: Vec<(String, usize)>| {
        Model::with_outputs(vec![3], layers, outputs, Head::Scores)
            .unwrap_err()
            .to_string()
    };
    assert!(err(vec![relu(vec![0])], vec![]).contains("at least one output"));
    let e = err(vec![relu(vec![0])], vec![("y".into(), 2)]);
    assert!(e.contains("`y`") && e.contains("value 2"), "{e}");
    let e = err(vec![relu(vec![0])], vec![("y".into(), 1), ("y".into(), 0)]);
    assert!(e.contains("two outputs are named `y`"), "{e}");
    // A layer read by nobody and not an output is dead, wherever it is.
    let e = err(
        vec![relu(vec![0]), ("s".into(), Op::Relu, vec![0])],
        vec![("y".into(), 1)],
    );
    assert!(
        e.contains("layer s") && e.contains("not a model output"),
        "{e}"
    );
    let e = err(
        vec![relu(vec![0]), ("s".into(), Op::Relu, vec![0])],
        vec![("y".into(), 2)],
    );
    assert!(
        e.contains("layer r") && e.contains("not a model output"),
        "{e}"
    );
    // Both as outputs, or the same value under two names: fine.
    let m = Model::with_outputs(
        vec![3],
        vec![relu(vec![0]), ("s".into(), Op::Relu, vec![0])],
        vec![("a".into(), 2), ("b".into(), 1), ("c".into(), 1)],
        Head::Scores,
    )
    .unwrap();
    assert_eq!(m.outputs(), [2, 1, 1]);
    // Model::new and Model::graph: the last value, named `scores`.
    let m = Model::new(vec![3], vec![("r".into(), Op::Relu)], Head::ArgMax).unwrap();
    assert_eq!(m.outputs(), [1]);
    assert_eq!(
        m.output_names(),
        [tessera_models::model::DEFAULT_OUTPUT_NAME]
    );
    assert!(m.is_plain_chain());
}
