#![allow(clippy::unwrap_used)]
//! ONNX loading of the activations: LeakyRelu, PRelu (scalar and per-channel slopes,
//! NumPy broadcasting and the per-channel 1-D slope of opset < 7), Sigmoid (logistic by
//! default, SecureML's on request), Tanh, Elu, Selu, Softplus, Softsign and PyTorch's
//! Softsign pattern `x / (|x| + 1)` (and what is not that pattern: `Abs` and `Div`
//! layers), Clip from attributes or constant inputs, Max/Min of two activations or with
//! a constant scalar, Sign, Exp and Reciprocal, on small graphs built here; unsupported
//! attribute values and inputs are refused naming the node.

use prost::Message;
use tessera_models::onnx::proto::{
    AttributeProto, Dimension, DimensionValue, GraphProto, ModelProto, NodeProto,
    OperatorSetIdProto, TensorProto, TensorShapeProto, TypeProto, TypeProtoTensor, ValueInfoProto,
    attribute_type, data_type,
};
use tessera_models::{
    Elu, Error, LeakyRelu, Model, OnnxOptions, Op, Selu, SigmoidKind, load_onnx, load_onnx_with,
};

fn value(name: &str, dims: &[i64]) -> ValueInfoProto {
    let mut dim = vec![Dimension {
        value: Some(DimensionValue::DimParam("N".into())),
        denotation: String::new(),
    }];
    dim.extend(dims.iter().map(|&d| Dimension {
        value: Some(DimensionValue::DimValue(d)),
        denotation: String::new(),
    }));
    ValueInfoProto {
        name: name.into(),
        r#type: Some(TypeProto {
            tensor_type: Some(TypeProtoTensor {
                elem_type: data_type::FLOAT,
                shape: Some(TensorShapeProto { dim }),
            }),
            denotation: String::new(),
        }),
        doc_string: String::new(),
    }
}

fn tensor(name: &str, dims: &[i64], data: &[f32]) -> TensorProto {
    TensorProto {
        name: name.into(),
        dims: dims.to_vec(),
        data_type: data_type::FLOAT,
        float_data: data.to_vec(),
        ..Default::default()
    }
}

fn fattr(name: &str, f: f32) -> AttributeProto {
    AttributeProto {
        name: name.into(),
        f,
        r#type: attribute_type::FLOAT,
        ..Default::default()
    }
}

fn iattr(name: &str, i: i64) -> AttributeProto {
    AttributeProto {
        name: name.into(),
        i,
        r#type: attribute_type::INT,
        ..Default::default()
    }
}

fn node(op: &str, name: &str, ins: &[&str], out: &str, attrs: Vec<AttributeProto>) -> NodeProto {
    NodeProto {
        input: ins.iter().map(|s| s.to_string()).collect(),
        output: vec![out.into()],
        name: name.into(),
        op_type: op.into(),
        attribute: attrs,
        ..Default::default()
    }
}

/// A graph `x [N, shape…] → nodes → y` at `opset`.
fn graph(
    shape: &[i64],
    nodes: Vec<NodeProto>,
    inits: Vec<TensorProto>,
    out: &str,
    opset: i64,
) -> Vec<u8> {
    ModelProto {
        ir_version: 8,
        producer_name: "test".into(),
        graph: Some(GraphProto {
            node: nodes,
            name: "g".into(),
            initializer: inits,
            input: vec![value("x", shape)],
            output: vec![value(out, &[])],
            ..Default::default()
        }),
        opset_import: vec![OperatorSetIdProto {
            domain: String::new(),
            version: opset,
        }],
        ..Default::default()
    }
    .encode_to_vec()
}

/// One node `op(x) → y` with attributes.
fn unary(op: &str, attrs: Vec<AttributeProto>) -> Vec<u8> {
    graph(
        &[2, 3],
        vec![node(op, "act", &["x"], "y", attrs)],
        vec![],
        "y",
        13,
    )
}

fn only_op(m: &Model) -> &Op {
    assert_eq!(m.layers().len(), 1, "{m}");
    m.layers()[0].op()
}

fn invalid_at(r: Result<Model, Error>, node: &str, needle: &str) {
    match r {
        Err(Error::OnnxInvalid {
            node: Some(n),
            reason,
        }) => {
            assert!(n.starts_with(node), "node {n} (expected {node}): {reason}");
            assert!(reason.contains(needle), "{reason} lacks {needle:?}");
        }
        other => panic!("expected an error at {node}, got {other:?}"),
    }
}

fn xs() -> Vec<f32> {
    (0..12).map(|i| i as f32 * 0.9 - 5.0).collect()
}

#[test]
fn smooth_activations_load_with_their_attributes() {
    let m = load_onnx(&unary("Sigmoid", vec![])).unwrap();
    assert_eq!(only_op(&m), &Op::Sigmoid);
    let opts = OnnxOptions {
        sigmoid: SigmoidKind::SecureMl,
        ..Default::default()
    };
    let (m, _) = load_onnx_with(&unary("Sigmoid", vec![]), &opts).unwrap();
    assert_eq!(only_op(&m), &Op::SecureMlSigmoid);
    assert_eq!(
        only_op(&load_onnx(&unary("Tanh", vec![])).unwrap()),
        &Op::Tanh
    );
    assert_eq!(
        only_op(&load_onnx(&unary("Softplus", vec![])).unwrap()),
        &Op::Softplus
    );
    assert_eq!(
        only_op(&load_onnx(&unary("Softsign", vec![])).unwrap()),
        &Op::Softsign
    );
    assert_eq!(
        only_op(&load_onnx(&unary("Elu", vec![])).unwrap()),
        &Op::Elu(Elu { alpha: 1.0 })
    );
    assert_eq!(
        only_op(&load_onnx(&unary("Elu", vec![fattr("alpha", 2.0)])).unwrap()),
        &Op::Elu(Elu { alpha: 2.0 })
    );
    assert_eq!(
        only_op(&load_onnx(&unary("Selu", vec![])).unwrap()),
        &Op::Selu(Selu::default())
    );
    let sel = load_onnx(&unary(
        "Selu",
        vec![fattr("alpha", 1.5), fattr("gamma", 2.0)],
    ))
    .unwrap();
    assert_eq!(
        only_op(&sel),
        &Op::Selu(Selu {
            alpha: 1.5,
            gamma: 2.0
        })
    );
    assert_eq!(
        only_op(&load_onnx(&unary("LeakyRelu", vec![])).unwrap()),
        &Op::LeakyRelu(LeakyRelu { alpha: 0.01 })
    );
    assert_eq!(
        only_op(&load_onnx(&unary("LeakyRelu", vec![fattr("alpha", -0.5)])).unwrap()),
        &Op::LeakyRelu(LeakyRelu { alpha: -0.5 })
    );
    // Float semantics: the true functions.
    let x = xs();
    type Case = (&'static str, Vec<AttributeProto>, fn(f64) -> f64);
    let cases: [Case; 6] = [
        ("Sigmoid", vec![], |v| 1.0 / (1.0 + (-v).exp())),
        ("Tanh", vec![], f64::tanh),
        ("Elu", vec![fattr("alpha", 2.0)], |v| {
            if v >= 0.0 { v } else { 2.0 * v.exp_m1() }
        }),
        ("Softplus", vec![], |v| (1.0 + v.exp()).ln()),
        ("Softsign", vec![], |v| v / (1.0 + v.abs())),
        ("LeakyRelu", vec![fattr("alpha", 0.5)], |v| {
            if v >= 0.0 { v } else { 0.5 * v }
        }),
    ];
    for (op, attrs, f) in cases {
        let m = load_onnx(&unary(op, attrs)).unwrap();
        let y = m.run_float::<f64>(&x).unwrap().values;
        for (&a, &b) in x.iter().zip(&y) {
            let want = f(f64::from(a));
            assert!((b - want).abs() < 1e-6, "{op}({a}) = {b}, not {want}");
        }
    }
}

#[test]
fn unsupported_attribute_values_are_refused_naming_the_node() {
    invalid_at(
        load_onnx(&unary("Elu", vec![fattr("alpha", -1.0)])),
        "act (Elu)",
        "alpha",
    );
    invalid_at(
        load_onnx(&unary("Selu", vec![fattr("gamma", 0.0)])),
        "act (Selu)",
        "gamma",
    );
    invalid_at(
        load_onnx(&unary("Selu", vec![fattr("alpha", f32::NAN)])),
        "act (Selu)",
        "alpha",
    );
    invalid_at(
        load_onnx(&unary("LeakyRelu", vec![fattr("alpha", 1e6)])),
        "act (LeakyRelu)",
        "alpha",
    );
    // An attribute the operator does not have is never ignored.
    invalid_at(
        load_onnx(&unary("Tanh", vec![fattr("beta", 1.0)])),
        "act (Tanh)",
        "beta",
    );
    invalid_at(
        load_onnx(&unary("Elu", vec![iattr("alpha", 1)])),
        "act (Elu)",
        "alpha",
    );
}

fn prelu(shape: &[i64], slope_dims: &[i64], slope: &[f32], opset: i64) -> Result<Model, Error> {
    load_onnx(&graph(
        shape,
        vec![node("PRelu", "pr", &["x", "slope"], "y", vec![])],
        vec![tensor("slope", slope_dims, slope)],
        "y",
        opset,
    ))
}

fn slope_of(m: &Model) -> (Vec<usize>, Vec<f32>) {
    match only_op(m) {
        Op::PRelu(p) => (p.slope.shape().to_vec(), p.slope.data().to_vec()),
        op => panic!("{op:?}"),
    }
}

#[test]
fn prelu_slopes_scalar_and_per_channel() {
    // A scalar slope.
    let m = prelu(&[3, 4], &[1], &[0.25], 13).unwrap();
    assert_eq!(slope_of(&m), (vec![1], vec![0.25]));
    // Per channel, as PyTorch exports at opset ≥ 7: [C, 1, 1] for [N, C, H, W].
    let m = prelu(&[3, 2, 2], &[3, 1, 1], &[0.1, 0.2, 0.3], 13).unwrap();
    assert_eq!(slope_of(&m).0, [3, 1, 1]);
    let x: Vec<f32> = (0..12)
        .map(|i| if i % 2 == 0 { -1.0 } else { 1.0 })
        .collect();
    let y = m.run_float::<f32>(&x).unwrap().values;
    assert_eq!(
        y,
        [
            -0.1, 1.0, -0.1, 1.0, -0.2, 1.0, -0.2, 1.0, -0.3, 1.0, -0.3, 1.0
        ]
    );
    // With the batch's 1 in front.
    let m = prelu(&[3, 2, 2], &[1, 3, 1, 1], &[0.1, 0.2, 0.3], 13).unwrap();
    assert_eq!(slope_of(&m).0, [3, 1, 1]);
    // Before opset 7 a 1-D slope is per channel (the ONNX backend's PReLU cases).
    let m = prelu(&[3, 4], &[3], &[0.1, 0.2, 0.3], 6).unwrap();
    assert_eq!(slope_of(&m).0, [3, 1]);
    let m = prelu(&[3, 4, 5, 6], &[3], &[0.1, 0.2, 0.3], 6).unwrap();
    assert_eq!(slope_of(&m).0, [3, 1, 1, 1]);
    // At opset 13 a 1-D slope aligns with the last dimension (NumPy).
    let m = prelu(&[4, 3], &[3], &[0.1, 0.2, 0.3], 13).unwrap();
    assert_eq!(slope_of(&m).0, [3]);
    // Per element.
    let m = prelu(&[2, 2], &[2, 2], &[0.1, 0.2, 0.3, 0.4], 13).unwrap();
    let y = m.run_float::<f32>(&[-1.0; 4]).unwrap().values;
    assert_eq!(y, [-0.1, -0.2, -0.3, -0.4]);
}

#[test]
fn prelu_slopes_that_do_not_fit_are_refused() {
    invalid_at(
        prelu(&[3, 4], &[3], &[0.1; 3], 13),
        "pr (PRelu)",
        "broadcast",
    );
    invalid_at(
        prelu(&[3, 4], &[2], &[0.1; 2], 6),
        "pr (PRelu)",
        "broadcast",
    );
    invalid_at(
        prelu(&[3, 4], &[2, 3, 1], &[0.1; 6], 13),
        "pr (PRelu)",
        "batch",
    );
    invalid_at(prelu(&[3], &[1], &[1e5], 13), "pr (PRelu)", "slope");
    invalid_at(prelu(&[3], &[1], &[f32::NAN], 13), "pr (PRelu)", "slope");
    // The slope must be a constant.
    let r = load_onnx(&graph(
        &[3],
        vec![node("PRelu", "pr", &["x", "x"], "y", vec![])],
        vec![],
        "y",
        13,
    ));
    invalid_at(r, "pr (PRelu)", "constant");
}

/// PyTorch's Softsign as the ONNX backend's `test_Softsign` holds it: `Abs`, a
/// `Constant` 1, `Add` (with opset 6's `broadcast`), `Div`.
fn softsign_pattern(one_first: bool, one: f32, div_num: &str, extra: Option<NodeProto>) -> Vec<u8> {
    let constant = NodeProto {
        output: vec!["one".into()],
        name: "c1".into(),
        op_type: "Constant".into(),
        attribute: vec![AttributeProto {
            name: "value".into(),
            t: Some(tensor("", &[], &[one])),
            r#type: attribute_type::TENSOR,
            ..Default::default()
        }],
        ..Default::default()
    };
    let add_ins: [&str; 2] = if one_first {
        ["one", "a"]
    } else {
        ["a", "one"]
    };
    let mut nodes = vec![
        node("Abs", "abs", &["x"], "a", vec![]),
        constant,
        node("Add", "plus1", &add_ins, "d", vec![iattr("broadcast", 1)]),
        node("Div", "div", &[div_num, "d"], "y", vec![]),
    ];
    nodes.extend(extra);
    graph(&[2, 5], nodes, vec![], "y", 6)
}

#[test]
fn pytorch_softsign_pattern_is_one_softsign_layer() {
    for one_first in [false, true] {
        let m = load_onnx(&softsign_pattern(one_first, 1.0, "x", None)).unwrap();
        assert_eq!(only_op(&m), &Op::Softsign);
        assert_eq!(m.layers()[0].name(), "div");
        let x: Vec<f32> = (0..10).map(|i| i as f32 - 4.5).collect();
        let y = m.run_float::<f64>(&x).unwrap().values;
        for (&a, &b) in x.iter().zip(&y) {
            let a = f64::from(a);
            assert!((b - a / (1.0 + a.abs())).abs() < 1e-12);
        }
    }
}

/// A node that is not PyTorch's Softsign is no Softsign layer: the load fails at the
/// named node (an `Add` of a constant other than a bias is not supported on this branch)
/// or gives other layers.
fn not_softsign(r: Result<Model, Error>, at: &str) {
    match r {
        Err(e) => assert!(e.to_string().contains(at), "{e}"),
        Ok(m) => assert!(m.layers().iter().all(|l| l.op() != &Op::Softsign), "{m}"),
    }
}

#[test]
fn softsign_pattern_variants_are_not_softsign() {
    // |x| + 2.
    not_softsign(
        load_onnx(&softsign_pattern(false, 2.0, "x", None)),
        "plus1 (Add)",
    );
    // (|x| + 1) dividing something other than x.
    let other = node("Relu", "other", &["x"], "r", vec![]);
    not_softsign(
        load_onnx(&softsign_pattern(false, 1.0, "r", Some(other))),
        "plus1 (Add)",
    );
    // |x| read by another node as well.
    let side = node("Relu", "side", &["a"], "s", vec![]);
    let mut p =
        ModelProto::decode(softsign_pattern(false, 1.0, "x", Some(side)).as_slice()).unwrap();
    // Make the side branch live: a second output.
    let g = p.graph.as_mut().unwrap();
    g.output.push(value("s", &[]));
    not_softsign(load_onnx(&p.encode_to_vec()), "plus1 (Add)");
    // Abs alone (an output) is an abs layer.
    let m = load_onnx(&graph(
        &[3],
        vec![node("Abs", "abs", &["x"], "y", vec![])],
        vec![],
        "y",
        13,
    ))
    .unwrap();
    assert_eq!(only_op(&m), &Op::Abs);
    // A Div of two activations is a division layer.
    let m = load_onnx(&graph(
        &[3],
        vec![
            node("Relu", "r", &["x"], "r1", vec![]),
            node("Div", "div", &["x", "r1"], "y", vec![]),
        ],
        vec![],
        "y",
        13,
    ))
    .unwrap();
    assert_eq!(m.layers()[1].op(), &Op::Divide);
    // A Div by a constant is a product by its reciprocal (a constant op, not Divide).
    let m = load_onnx(&graph(
        &[3],
        vec![node("Div", "div", &["x", "c"], "y", vec![])],
        vec![tensor("c", &[], &[2.0])],
        "y",
        13,
    ))
    .unwrap();
    match m.layers()[0].op() {
        Op::MulConst(c) => assert_eq!(c.scale.data(), &[0.5]),
        other => panic!("Div by a constant loaded as {other:?}"),
    }
}

/// `Clip` of `x` with bounds as attributes (opset 6) or constant inputs (opset 11+, an
/// empty name for a missing bound).
fn clip_graph(opset: i64, min: Option<f32>, max: Option<f32>) -> Vec<u8> {
    if opset < 11 {
        let mut attrs = Vec::new();
        attrs.extend(min.map(|v| fattr("min", v)));
        attrs.extend(max.map(|v| fattr("max", v)));
        return graph(
            &[2, 3],
            vec![node("Clip", "clip", &["x"], "y", attrs)],
            vec![],
            "y",
            opset,
        );
    }
    let mut inits = Vec::new();
    let lo = min.map_or("", |v| {
        inits.push(tensor("lo", &[], &[v]));
        "lo"
    });
    let hi = max.map_or("", |v| {
        inits.push(tensor("hi", &[], &[v]));
        "hi"
    });
    let ins: Vec<&str> = if hi.is_empty() {
        vec!["x", lo]
    } else {
        vec!["x", lo, hi]
    };
    graph(
        &[2, 3],
        vec![node("Clip", "clip", &ins, "y", vec![])],
        inits,
        "y",
        opset,
    )
}

#[test]
fn clip_loads_from_attributes_or_constant_inputs_either_bound_optional() {
    use tessera_models::Clip;
    for opset in [6, 11, 13] {
        for (min, max) in [
            (Some(0.0), Some(6.0)),
            (Some(-1.0), Some(1.0)),
            (Some(0.5), None),
            (None, Some(-0.5)),
            (None, None),
        ] {
            let m = load_onnx(&clip_graph(opset, min, max)).unwrap();
            assert_eq!(only_op(&m), &Op::Clip(Clip { min, max }), "opset {opset}");
            let x = [-7.0f32, -0.75, 0.0, 0.25, 3.0, 9.0];
            let y = m.run_float::<f32>(&x).unwrap().values;
            for (&a, &b) in x.iter().zip(&y) {
                let want = a.max(min.unwrap_or(f32::MIN)).min(max.unwrap_or(f32::MAX));
                assert_eq!(b, want, "clip({a}) opset {opset}");
            }
        }
    }
    // Infinite bounds are none.
    let m = load_onnx(&clip_graph(
        11,
        Some(f32::NEG_INFINITY),
        Some(f32::INFINITY),
    ))
    .unwrap();
    assert_eq!(
        only_op(&m),
        &Op::Clip(Clip {
            min: None,
            max: None
        })
    );
    // A NaN bound, a bound computed from the input, a bound that is not a scalar.
    invalid_at(
        load_onnx(&clip_graph(11, Some(f32::NAN), None)),
        "clip (Clip)",
        "finite",
    );
    let r = load_onnx(&graph(
        &[3],
        vec![
            node("Relu", "r", &["x"], "r1", vec![]),
            node("Clip", "clip", &["x", "r1"], "y", vec![]),
        ],
        vec![],
        "y",
        13,
    ));
    invalid_at(r, "clip (Clip)", "constant");
    let r = load_onnx(&graph(
        &[3],
        vec![node("Clip", "clip", &["x", "lo"], "y", vec![])],
        vec![tensor("lo", &[2], &[0.0, 1.0])],
        "y",
        13,
    ));
    invalid_at(r, "clip (Clip)", "scalar");
    // Attributes at opset 11 are not Clip's any more.
    let r = load_onnx(&graph(
        &[3],
        vec![node("Clip", "clip", &["x"], "y", vec![fattr("min", 0.0)])],
        vec![],
        "y",
        11,
    ));
    invalid_at(r, "clip (Clip)", "min");
    // Inputs before opset 11 are not Clip's yet.
    let r = load_onnx(&graph(
        &[3],
        vec![node("Clip", "clip", &["x", "lo"], "y", vec![])],
        vec![tensor("lo", &[], &[0.0])],
        "y",
        6,
    ));
    invalid_at(r, "clip (Clip)", "attributes");
}

#[test]
fn max_and_min_of_two_activations_or_with_a_constant_scalar() {
    use tessera_models::Clip;
    let two = |op: &str| {
        graph(
            &[3],
            vec![
                node("Neg", "n", &["x"], "nx", vec![]),
                node(op, "m", &["x", "nx"], "y", vec![]),
            ],
            vec![],
            "y",
            13,
        )
    };
    for (op, want) in [("Max", Op::Max), ("Min", Op::Min)] {
        let m = load_onnx(&two(op)).unwrap();
        assert_eq!(m.layers()[1].op(), &want);
        let y = m.run_float::<f32>(&[-2.0, 0.5, 3.0]).unwrap().values;
        let expect: Vec<f32> = [-2.0f32, 0.5, 3.0]
            .iter()
            .map(|&v| if op == "Max" { v.abs() } else { -v.abs() })
            .collect();
        assert_eq!(y, expect, "{op}");
    }
    // With a constant scalar, either order: a Clip with one bound.
    for (op, ins, want) in [
        (
            "Max",
            ["x", "c"],
            Clip {
                min: Some(0.5),
                max: None,
            },
        ),
        (
            "Max",
            ["c", "x"],
            Clip {
                min: Some(0.5),
                max: None,
            },
        ),
        (
            "Min",
            ["c", "x"],
            Clip {
                min: None,
                max: Some(0.5),
            },
        ),
    ] {
        let m = load_onnx(&graph(
            &[3],
            vec![node(op, "m", &ins, "y", vec![])],
            vec![tensor("c", &[1], &[0.5])],
            "y",
            13,
        ))
        .unwrap();
        assert_eq!(only_op(&m), &Op::Clip(want), "{op} {ins:?}");
    }
    // Three operands; a constant that is not a scalar.
    let r = load_onnx(&graph(
        &[3],
        vec![node("Max", "m", &["x", "x", "x"], "y", vec![])],
        vec![],
        "y",
        13,
    ));
    invalid_at(r, "m (Max)", "two activations");
    let r = load_onnx(&graph(
        &[3],
        vec![node("Min", "m", &["x", "c"], "y", vec![])],
        vec![tensor("c", &[3], &[0.5, 1.0, 2.0])],
        "y",
        13,
    ));
    invalid_at(r, "m (Min)", "scalar");
}

#[test]
fn sign_exp_and_reciprocal_load_as_their_layers() {
    for (op, want) in [
        ("Sign", Op::Sign),
        ("Exp", Op::Exp),
        ("Reciprocal", Op::Reciprocal),
    ] {
        let m = load_onnx(&unary(op, vec![])).unwrap();
        assert_eq!(only_op(&m), &want);
    }
    let m = load_onnx(&unary("Exp", vec![])).unwrap();
    let y = m
        .run_float::<f64>(&[0.0, 1.0, -1.0, 2.0, 0.5, -3.0])
        .unwrap()
        .values;
    assert!((y[1] - 1f64.exp()).abs() < 1e-6 && y[0] == 1.0);
}
