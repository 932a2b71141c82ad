#![allow(clippy::unwrap_used)]
//! ONNX loading: the reference models' layers and shapes, the fixtures, and the
//! errors for everything the loader must refuse.

mod common;

use common::{fixture, model, onnx_path};
use prost::Message;
use tessera_models::onnx::proto::{AttributeProto, ModelProto, NodeProto, attribute_type};
use tessera_models::{Error, Head, Op, load_onnx, load_onnx_file, load_onnx_with_info};

fn shapes(m: &tessera_models::Model) -> Vec<(String, &'static str, Vec<usize>, Vec<usize>)> {
    m.layers()
        .iter()
        .map(|l| {
            (
                l.name().to_string(),
                l.op().kind(),
                l.input_shape().to_vec(),
                l.output_shape().to_vec(),
            )
        })
        .collect()
}

fn s(
    name: &str,
    kind: &'static str,
    i: &[usize],
    o: &[usize],
) -> (String, &'static str, Vec<usize>, Vec<usize>) {
    (name.to_string(), kind, i.to_vec(), o.to_vec())
}

#[test]
fn mlp_layers_and_shapes() {
    let bytes = std::fs::read(onnx_path("mlp")).unwrap();
    let (m, info) = load_onnx_with_info(&bytes).unwrap();
    assert_eq!(info.input_name, "input");
    assert_eq!(info.output_name, "logits");
    assert_eq!(info.opset, 13);
    assert_eq!(m.input_shape(), [1, 28, 28]);
    assert_eq!(m.head(), Head::Scores);
    assert_eq!(m.classes(), 10);
    assert_eq!(m.num_params(), 118_282); // models/onnx/README.md
    assert_eq!(
        shapes(&m),
        vec![
            s("flatten", "reshape", &[1, 28, 28], &[784]),
            s("fc1", "dense", &[784], &[128]),
            s("relu1", "relu", &[128], &[128]),
            s("fc2", "dense", &[128], &[128]),
            s("relu2", "relu", &[128], &[128]),
            s("fc3", "dense", &[128], &[10]),
        ]
    );
    let Op::Dense(fc1) = m.layers()[1].op() else {
        panic!("fc1 is not dense")
    };
    assert_eq!(fc1.weight.shape(), [128, 784]);
    assert_eq!(fc1.bias.as_ref().unwrap().shape(), [128]);
}

#[test]
fn cnn_layers_and_shapes() {
    let m = model("cnn");
    assert_eq!(m.num_params(), 85_740);
    assert_eq!(
        shapes(&m),
        vec![
            s("conv", "conv", &[1, 28, 28], &[5, 13, 13]),
            s("relu0", "relu", &[5, 13, 13], &[5, 13, 13]),
            s("flatten", "reshape", &[5, 13, 13], &[845]),
            s("fc1", "dense", &[845], &[100]),
            s("relu1", "relu", &[100], &[100]),
            s("fc2", "dense", &[100], &[10]),
        ]
    );
    let Op::Conv(c) = m.layers()[0].op() else {
        panic!("conv is not conv2d")
    };
    assert_eq!(c.weight.shape(), [5, 1, 5, 5]);
    assert_eq!(c.window.strides[..2], [2, 2]);
    assert_eq!(
        (c.window.pad_begin, c.window.pad_end),
        ([1, 1, 0], [1, 1, 0])
    );
}

#[test]
fn fixtures_load_with_their_ops() {
    let sig = load_onnx_file(fixture("sigmoid_mlp.onnx")).unwrap();
    assert_eq!(sig.head(), Head::Softmax);
    assert_eq!(
        shapes(&sig),
        vec![
            s("mm1", "dense", &[4], &[3]),
            s("sig", "sigmoid", &[3], &[3]),
            s("fc2", "dense", &[3], &[5]),
        ]
    );
    let Op::Dense(d) = sig.layers()[0].op() else {
        panic!()
    };
    assert!(d.bias.is_some(), "the Add after MatMul is the bias");

    let sq = load_onnx_file(fixture("square_cnn.onnx")).unwrap();
    assert_eq!(sq.head(), Head::ArgMax);
    assert_eq!(
        shapes(&sq),
        vec![
            s("conv", "conv", &[1, 6, 6], &[2, 6, 6]),
            s("square", "square", &[2, 6, 6], &[2, 6, 6]),
            s("avgpool", "avgpool", &[2, 6, 6], &[2, 3, 3]),
            s("reshape", "reshape", &[2, 3, 3], &[18]),
            s("fc", "dense", &[18], &[4]),
        ]
    );

    let pool = load_onnx_file(fixture("pool_cnn.onnx")).unwrap();
    assert_eq!(
        shapes(&pool),
        vec![
            s("conv", "conv", &[2, 7, 7], &[3, 4, 3]),
            s("relu", "relu", &[3, 4, 3], &[3, 4, 3]),
            s("maxpool", "maxpool", &[3, 4, 3], &[3, 4, 3]),
            s("avgpool", "avgpool", &[3, 4, 3], &[3, 5, 2]),
            s("flatten", "reshape", &[3, 5, 2], &[30]),
            s("fc", "dense", &[30], &[6]),
        ]
    );
    let Op::Conv(c) = pool.layers()[0].op() else {
        panic!()
    };
    assert_eq!(
        (c.window.pad_begin, c.window.pad_end),
        ([1, 0, 0], [1, 1, 0])
    );
}

#[test]
fn unsupported_op_names_op_and_node() {
    // The fixture's Tanh is supported now; the same graph with an operator Tessera does
    // not have (Erf) is refused.
    let m = load_onnx_file(fixture("unsupported_op.onnx")).unwrap();
    assert!(m.layers().iter().any(|l| l.op() == &Op::Tanh));
    let mut p = ModelProto::decode(
        std::fs::read(fixture("unsupported_op.onnx"))
            .unwrap()
            .as_slice(),
    )
    .unwrap();
    let g = p.graph.as_mut().unwrap();
    let n = g.node.iter_mut().find(|n| n.name == "act_tanh").unwrap();
    n.op_type = "Erf".into();
    let err = load(&p).unwrap_err();
    match &err {
        Error::UnsupportedOp {
            op, node, domain, ..
        } => {
            assert_eq!(op, "Erf");
            assert_eq!(node, "act_tanh");
            assert_eq!(domain, "");
        }
        e => panic!("wrong error {e:?}"),
    }
    let text = err.to_string();
    assert!(text.contains("Erf") && text.contains("act_tanh"), "{text}");
    assert!(
        text.contains("Gemm"),
        "the message lists what is supported: {text}"
    );
}

#[test]
fn skip_connection_loads_as_a_dag() {
    // Once refused as "not a chain": a value read twice and joined by an Add.
    let m = load_onnx_file(fixture("not_chain.onnx")).unwrap();
    assert!(!m.is_chain());
    let add = m.layers().iter().find(|l| l.name() == "skip_add").unwrap();
    assert_eq!(add.op(), &Op::Add);
    assert_eq!(add.inputs().len(), 2);
    assert_ne!(add.inputs()[0], add.inputs()[1]);
}

/// The MLP's `ModelProto`, to be edited by the tests below.
fn mlp_proto() -> ModelProto {
    ModelProto::decode(std::fs::read(onnx_path("mlp")).unwrap().as_slice()).unwrap()
}

fn cnn_proto() -> ModelProto {
    ModelProto::decode(std::fs::read(onnx_path("cnn")).unwrap().as_slice()).unwrap()
}

fn load(p: &ModelProto) -> Result<tessera_models::Model, Error> {
    load_onnx(&p.encode_to_vec())
}

fn err_text(p: &ModelProto) -> String {
    load(p).unwrap_err().to_string()
}

fn int_attr(name: &str, v: i64) -> AttributeProto {
    AttributeProto {
        name: name.into(),
        i: v,
        r#type: attribute_type::INT,
        ..Default::default()
    }
}

#[test]
fn reencoded_proto_loads_identically() {
    // Our message subset re-encodes the model; it must load to the same description.
    assert_eq!(load(&mlp_proto()).unwrap(), model("mlp"));
    assert_eq!(load(&cnn_proto()).unwrap(), model("cnn"));
}

#[test]
fn structural_errors() {
    let mut p = mlp_proto();
    p.graph = None;
    assert!(err_text(&p).contains("no graph"));

    let mut p = mlp_proto();
    let g = p.graph.as_mut().unwrap();
    let dup = g.initializer[0].clone();
    g.initializer.push(dup);
    assert!(err_text(&p).contains("appears twice"));

    let mut p = mlp_proto();
    let g = p.graph.as_mut().unwrap();
    let extra = g.input[0].clone();
    g.input.push(tessera_models::onnx::proto::ValueInfoProto {
        name: "second".into(),
        ..extra
    });
    assert!(err_text(&p).contains("exactly one"));

    let mut p = mlp_proto();
    let g = p.graph.as_mut().unwrap();
    g.output[0].name = "somewhere".into();
    let t = err_text(&p);
    assert!(t.contains("somewhere") && t.contains("graph output"), "{t}");

    // A node that reads a tensor nobody produced.
    let mut p = mlp_proto();
    p.graph.as_mut().unwrap().node[2].input[0] = "ghost".into();
    let t = err_text(&p);
    assert!(t.contains("relu1") && t.contains("ghost"), "{t}");

    // Nodes in another topological order load the same model; a cycle is named.
    let mut p = mlp_proto();
    p.graph.as_mut().unwrap().node.reverse();
    assert_eq!(load(&p).unwrap(), model("mlp"));
    let mut p = mlp_proto();
    let g = p.graph.as_mut().unwrap();
    let relu_out = g.node[2].output[0].clone();
    g.node[1].input[0] = relu_out;
    let t = err_text(&p);
    assert!(t.contains("cycle"), "{t}");

    // A weight that is not a constant.
    let mut p = mlp_proto();
    p.graph.as_mut().unwrap().node[1].input[1] = "input".into();
    assert!(err_text(&p).contains("must be a constant"));

    // An operator from another domain.
    let mut p = mlp_proto();
    p.graph.as_mut().unwrap().node[2].domain = "com.example".into();
    let e = load(&p).unwrap_err();
    assert!(
        matches!(&e, Error::UnsupportedOp { op, node, domain, .. } if op == "Relu" && node == "relu1" && domain == "com.example"),
        "{e:?}"
    );

    // A symbolic non-batch dimension.
    let mut p = mlp_proto();
    let dim = &mut p.graph.as_mut().unwrap().input[0]
        .r#type
        .as_mut()
        .unwrap()
        .tensor_type
        .as_mut()
        .unwrap()
        .shape
        .as_mut()
        .unwrap()
        .dim[2];
    dim.value = Some(tessera_models::onnx::proto::DimensionValue::DimParam(
        "H".into(),
    ));
    assert!(err_text(&p).contains("fixed positive size"));
}

#[test]
fn tensor_errors() {
    // raw_data one byte short.
    let mut p = mlp_proto();
    p.graph.as_mut().unwrap().initializer[0].raw_data.pop();
    let t = err_text(&p);
    assert!(t.contains("raw bytes"), "{t}");

    // A shape that does not fit the data, including an overflowing one.
    let mut p = mlp_proto();
    p.graph.as_mut().unwrap().initializer[0].dims = vec![i64::MAX, i64::MAX];
    assert!(err_text(&p).contains("too large"));
    let mut p = mlp_proto();
    p.graph.as_mut().unwrap().initializer[0].dims = vec![-1, 784];
    assert!(err_text(&p).contains("negative"));

    // Integer weights.
    let mut p = mlp_proto();
    p.graph.as_mut().unwrap().initializer[0].data_type = 6;
    assert!(err_text(&p).contains("data type 6"));

    // External data.
    let mut p = mlp_proto();
    p.graph.as_mut().unwrap().initializer[0].data_location = 1;
    assert!(err_text(&p).contains("external"));

    // A non-finite weight.
    let mut p = mlp_proto();
    p.graph.as_mut().unwrap().initializer[0].raw_data[..4].copy_from_slice(&f32::NAN.to_le_bytes());
    assert!(err_text(&p).contains("not finite"));

    // A weight of the wrong size for the layer.
    let mut p = mlp_proto();
    let init = &mut p.graph.as_mut().unwrap().initializer[0];
    init.dims = vec![128, 392];
    init.raw_data.truncate(128 * 392 * 4);
    let e = load(&p).unwrap_err();
    assert!(matches!(e, Error::Shape { .. }), "{e:?}");
}

#[test]
fn attribute_errors() {
    // CNN node 0 is the Conv.
    let conv_with = |a: AttributeProto| {
        let mut p = cnn_proto();
        let n = &mut p.graph.as_mut().unwrap().node[0];
        n.attribute.retain(|x| x.name != a.name);
        n.attribute.push(a);
        err_text(&p)
    };
    assert!(conv_with(int_attr("group", 5)).contains("group"));
    // Dilations of the wrong length (2-D needs two).
    let dil = AttributeProto {
        name: "dilations".into(),
        ints: vec![2],
        r#type: attribute_type::INTS,
        ..Default::default()
    };
    assert!(conv_with(dil).contains("dilations"));
    assert!(conv_with(int_attr("frobnicate", 1)).contains("frobnicate"));
    // An attribute of the wrong type.
    assert!(conv_with(int_attr("strides", 2)).contains("expected INTS"));

    // Pads that make the output absurdly large hit the size limits, not the allocator.
    let pads = AttributeProto {
        name: "pads".into(),
        ints: vec![1 << 40, 1 << 40, 1 << 40, 1 << 40],
        r#type: attribute_type::INTS,
        ..Default::default()
    };
    assert!(conv_with(pads).contains("size limits"));

    // Gemm transA.
    let mut p = mlp_proto();
    p.graph.as_mut().unwrap().node[1]
        .attribute
        .push(int_attr("transA", 1));
    assert!(err_text(&p).contains("appears twice") || err_text(&p).contains("transA"));
    let mut p = mlp_proto();
    let n = &mut p.graph.as_mut().unwrap().node[1];
    n.attribute.retain(|a| a.name != "transA");
    n.attribute.push(int_attr("transA", 1));
    assert!(err_text(&p).contains("transA"));

    // Flatten over another axis.
    let mut p = mlp_proto();
    let n = &mut p.graph.as_mut().unwrap().node[0];
    n.attribute = vec![int_attr("axis", 2)];
    assert!(err_text(&p).contains("axis"));
}

#[test]
fn gemm_without_trans_b_is_transposed() {
    // Rewrite fc3 as transB = 0 with the transposed weight: same model.
    let mut p = mlp_proto();
    let g = p.graph.as_mut().unwrap();
    let w = g
        .initializer
        .iter_mut()
        .find(|t| t.name == "fc3.weight")
        .unwrap();
    let (out, inn) = (w.dims[0] as usize, w.dims[1] as usize);
    let vals: Vec<[u8; 4]> = w
        .raw_data
        .chunks_exact(4)
        .map(|c| c.try_into().unwrap())
        .collect();
    let mut t = Vec::with_capacity(w.raw_data.len());
    for k in 0..inn {
        for o in 0..out {
            t.extend_from_slice(&vals[o * inn + k]);
        }
    }
    w.raw_data = t;
    w.dims = vec![inn as i64, out as i64];
    let n = g.node.iter_mut().find(|n| n.name == "fc3").unwrap();
    for a in &mut n.attribute {
        if a.name == "transB" {
            a.i = 0;
        }
    }
    assert_eq!(load(&p).unwrap(), model("mlp"));
}

#[test]
fn head_must_be_last() {
    let mut p = mlp_proto();
    let g = p.graph.as_mut().unwrap();
    // ArgMax in the middle: logits -> ArgMax -> Relu.
    g.node.push(NodeProto {
        input: vec!["logits".into()],
        output: vec!["label".into()],
        name: "am".into(),
        op_type: "ArgMax".into(),
        attribute: vec![int_attr("axis", 1)],
        ..Default::default()
    });
    g.node.push(NodeProto {
        input: vec!["label".into()],
        output: vec!["after".into()],
        name: "late_relu".into(),
        op_type: "Relu".into(),
        ..Default::default()
    });
    g.output[0].name = "after".into();
    let t = err_text(&p);
    assert!(
        t.contains("am (ArgMax)") && t.contains("head of the first graph output"),
        "{t}"
    );
    // The same with the label also the first output: the reader is named.
    let mut p2 = p.clone();
    let g = p2.graph.as_mut().unwrap();
    let mut label = g.output[0].clone();
    label.name = "label".into();
    g.output.insert(0, label);
    let t = err_text(&p2);
    assert!(t.contains("late_relu") && t.contains("last node"), "{t}");

    // ArgMax over the batch axis (the ONNX default, axis 0).
    let mut p = mlp_proto();
    let g = p.graph.as_mut().unwrap();
    g.node.push(NodeProto {
        input: vec!["logits".into()],
        output: vec!["label".into()],
        name: "am".into(),
        op_type: "ArgMax".into(),
        ..Default::default()
    });
    g.output[0].name = "label".into();
    assert!(err_text(&p).contains("axis 0"));
    p.graph.as_mut().unwrap().node.last_mut().unwrap().attribute = vec![int_attr("axis", -1)];
    assert_eq!(load(&p).unwrap().head(), Head::ArgMax);
}

#[test]
fn constant_operands_load_as_element_wise_constant_layers() {
    use tessera_models::{AddConst, MulConst};
    // Mul by a constant of the activation's shape.
    let mut p = mlp_proto();
    let g = p.graph.as_mut().unwrap();
    g.node[2].op_type = "Mul".into();
    g.node[2].input = vec!["fc1.bias".into(), "fc1_out".into()];
    let m = load(&p).unwrap();
    let Op::MulConst(MulConst { scale, bias: None }) = m.layers()[2].op() else {
        panic!("{:?}", m.layers()[2].op())
    };
    assert_eq!(scale.shape(), [128]);
    // Div by it: the reciprocal; Div of it by the activation is refused.
    let g = p.graph.as_mut().unwrap();
    g.node[2].op_type = "Div".into();
    g.node[2].input = vec!["fc1_out".into(), "fc1.bias".into()];
    let m = load(&p).unwrap();
    let (Op::MulConst(d), Some(b)) = (m.layers()[2].op(), fc1_bias(&m)) else {
        panic!("{:?}", m.layers()[2].op())
    };
    for (s, c) in d.scale.data().iter().zip(b.data()) {
        assert_eq!(*s, 1.0 / c);
    }
    let g = p.graph.as_mut().unwrap();
    g.node[2].input = vec!["fc1.bias".into(), "fc1_out".into()];
    assert!(err_text(&p).contains("relu1"));
    // Sub, either order: x − c and c − x; an Add after a product is its bias.
    let g = p.graph.as_mut().unwrap();
    g.node[2].op_type = "Sub".into();
    g.node[2].input = vec!["fc1_out".into(), "fc1.bias".into()];
    let m = load(&p).unwrap();
    let Op::AddConst(AddConst {
        value,
        negate: false,
    }) = m.layers()[2].op()
    else {
        panic!("{:?}", m.layers()[2].op())
    };
    assert_eq!(value.data()[0], -fc1_bias(&m).unwrap().data()[0]);
    let g = p.graph.as_mut().unwrap();
    g.node[2].input = vec!["fc1.bias".into(), "fc1_out".into()];
    let m = load(&p).unwrap();
    assert!(matches!(
        m.layers()[2].op(),
        Op::AddConst(AddConst { negate: true, .. })
    ));
    // A constant that would enlarge the activation is refused naming the node.
    let g = p.graph.as_mut().unwrap();
    g.node[2].op_type = "Mul".into();
    g.node[2].input = vec!["fc1_out".into(), "fc2.weight".into()];
    let e = err_text(&p);
    assert!(
        e.contains("relu1") && e.contains("does not broadcast"),
        "{e}"
    );
    // x·x is the square activation.
    let mut p = mlp_proto();
    let g = p.graph.as_mut().unwrap();
    g.node[2].op_type = "Mul".into();
    g.node[2].input = vec!["fc1_out".into(), "fc1_out".into()];
    assert_eq!(load(&p).unwrap().layers()[2].op(), &Op::Square);
    // Two different activations: a product.
    let mut p = mlp_proto();
    let g = p.graph.as_mut().unwrap();
    g.node[2].op_type = "Mul".into();
    g.node[2].input = vec!["fc1_out".into(), "input".into()];
    let e = err_text(&p);
    assert!(e.contains("one shape"), "{e}");
}

#[test]
fn garbage_is_a_decode_error() {
    assert!(matches!(
        load_onnx(b"definitely not onnx \xff\xff\xff\xff"),
        Err(Error::OnnxDecode(_))
    ));
    let bytes = std::fs::read(onnx_path("cnn")).unwrap();
    assert!(matches!(
        load_onnx(&bytes[..bytes.len() / 2]),
        Err(Error::OnnxDecode(_))
    ));
    assert!(matches!(
        load_onnx_file(fixture("no_such_file.onnx")),
        Err(Error::Io { .. })
    ));
}

/// The MLP with more graph outputs (appended after `logits`, or first), each a copy of
/// `logits`' value info renamed.
fn mlp_with_outputs(names: &[&str], first: bool) -> ModelProto {
    let mut p = mlp_proto();
    let g = p.graph.as_mut().unwrap();
    for name in names {
        let mut o = g.output[0].clone();
        o.name = (*name).into();
        if first {
            g.output.insert(0, o);
        } else {
            g.output.push(o);
        }
    }
    p
}

#[test]
fn several_outputs_load_in_graph_order_with_their_names() {
    // logits, then relu1 (a feature map also read by fc2) and the flattened input.
    let p = mlp_with_outputs(&["relu1", "flat"], false);
    let (m, info) = load_onnx_with_info(&p.encode_to_vec()).unwrap();
    assert_eq!(info.output_name, "logits");
    assert_eq!(info.output_names, ["logits", "relu1", "flat"]);
    assert_eq!(m.output_names(), ["logits", "relu1", "flat"]);
    // Values: 0 input, 1 flatten, 2 fc1, 3 relu1, …, 6 fc3.
    assert_eq!(m.outputs(), [6, 3, 1]);
    assert_eq!(m.output_shapes(), [&[10][..], &[128], &[784]]);
    assert_eq!(m.output_shape(), [10]);
    assert_eq!(m.classes(), 10);
    assert_eq!(m.layers().len(), 6);
    assert!(m.is_chain() && !m.is_plain_chain());
    // The same layers as the single-output model.
    assert_eq!(m.layers(), model("mlp").layers());
    // The graph input itself may be an output.
    let p = mlp_with_outputs(&["input"], false);
    let m = load(&p).unwrap();
    assert_eq!(m.outputs(), [6, 0]);
    assert_eq!(m.output_shapes()[1], [1, 28, 28]);
    // The first output decides the head's input and the classes.
    let p = mlp_with_outputs(&["relu2"], true);
    let m = load(&p).unwrap();
    assert_eq!(m.outputs(), [5, 6]);
    assert_eq!(m.classes(), 128);
    let text = m.to_string();
    assert!(
        text.contains("output 0 `relu2`: [128] from layer relu2"),
        "{text}"
    );
    assert!(
        text.contains("output 1 `logits`: [10] from layer fc3"),
        "{text}"
    );
}

#[test]
fn nodes_no_output_needs_are_dropped_and_every_output_keeps_its_nodes() {
    // A dead branch (relu1 → an extra Relu that no output reads) is dropped ...
    let mut p = mlp_proto();
    let g = p.graph.as_mut().unwrap();
    g.node.push(NodeProto {
        input: vec!["relu1".into()],
        output: vec!["side".into()],
        name: "side_relu".into(),
        op_type: "Relu".into(),
        ..Default::default()
    });
    let m = load(&p).unwrap();
    assert_eq!(m, model("mlp"));
    // ... and kept once it is an output, also after the last node of the file.
    let mut side = p.graph.as_ref().unwrap().output[0].clone();
    side.name = "side".into();
    p.graph.as_mut().unwrap().output.push(side);
    let m = load(&p).unwrap();
    assert_eq!(m.layers().len(), 7);
    assert_eq!(m.output_names(), ["logits", "side"]);
    let side_layer = m.outputs()[1] - 1;
    assert_eq!(m.layers()[side_layer].name(), "side_relu");
    // An output that only an intermediate node computes keeps that node's ancestors:
    // relu1 as the only output drops fc2, relu2, fc3.
    let mut p = mlp_proto();
    p.graph.as_mut().unwrap().output[0].name = "relu1".into();
    let m = load(&p).unwrap();
    assert_eq!(m.layers().len(), 3);
    assert_eq!(m.outputs(), [3]);
    assert_eq!(m.output_names(), ["relu1"]);
    // The float reference returns every output; the first is `run_float`'s.
    let p = mlp_with_outputs(&["relu1"], false);
    let m = load(&p).unwrap();
    let x: Vec<f32> = (0..784).map(|i| (i % 13) as f32 / 13.0).collect();
    let all = m.run_float_outputs::<f32>(&x).unwrap();
    assert_eq!(all.len(), 2);
    assert_eq!((all[0].classes, all[1].classes), (10, 128));
    assert_eq!(all[0], m.run_float::<f32>(&x).unwrap());
    assert!(all[1].values.iter().all(|&v| v >= 0.0), "a ReLU's output");
}

#[test]
fn output_errors_name_the_output() {
    // An output nobody computes, among several: named with its index.
    let p = mlp_with_outputs(&["nowhere"], false);
    let t = err_text(&p);
    assert!(
        t.contains("\"nowhere\"") && t.contains("graph output 1"),
        "{t}"
    );
    // A constant as an output.
    let p = mlp_with_outputs(&["fc1.weight"], false);
    let t = err_text(&p);
    assert!(
        t.contains("\"fc1.weight\"") && t.contains("constant"),
        "{t}"
    );
    // The same output twice.
    let p = mlp_with_outputs(&["logits"], false);
    let t = err_text(&p);
    assert!(t.contains("\"logits\"") && t.contains("twice"), "{t}");
    // No output at all.
    let mut p = mlp_proto();
    p.graph.as_mut().unwrap().output.clear();
    assert!(err_text(&p).contains("no outputs"));
    // Only the input: nothing to compute.
    let mut p = mlp_proto();
    p.graph.as_mut().unwrap().output[0].name = "input".into();
    assert!(err_text(&p).contains("computes nothing"));
    // A head on a later output, or a head whose first output is not a vector.
    let mut p = mlp_with_outputs(&["label"], false);
    p.graph.as_mut().unwrap().node.push(NodeProto {
        input: vec!["logits".into()],
        output: vec!["label".into()],
        name: "am".into(),
        op_type: "ArgMax".into(),
        attribute: vec![int_attr("axis", 1)],
        ..Default::default()
    });
    let t = err_text(&p);
    assert!(
        t.contains("am (ArgMax)") && t.contains("graph output 1"),
        "{t}"
    );
    // The head on the first output, another output beside it: accepted.
    let g = p.graph.as_mut().unwrap();
    let label = g.output.pop().unwrap();
    g.output.insert(0, label);
    let m = load(&p).unwrap();
    assert_eq!(m.head(), Head::ArgMax);
    assert_eq!(m.output_names(), ["label", "logits"]);
    // Both are the scores' value: the head reads them, the label replaces the first.
    assert_eq!(m.outputs(), [6, 6]);
    // A model with a head whose first output is a feature map is refused by the model.
    let e = tessera_models::Model::with_outputs(
        vec![2, 2],
        vec![("relu".into(), Op::Relu, vec![0])],
        vec![("features".into(), 1)],
        Head::Softmax,
    )
    .unwrap_err()
    .to_string();
    assert!(
        e.contains("features") && e.contains("[2, 2]") && e.contains("[K]"),
        "{e}"
    );
}

#[test]
fn a_bias_add_does_not_fold_into_a_value_that_is_an_output() {
    // fc1 as MatMul + Add; the MatMul's own output is a graph output too: folding
    // the bias into it would change that output, so the Add is a layer of its own.
    let mut p = mlp_proto();
    let g = p.graph.as_mut().unwrap();
    let fc1 = g.node.iter().position(|n| n.name == "fc1").unwrap();
    let w = g
        .initializer
        .iter_mut()
        .find(|t| t.name == "fc1.weight")
        .unwrap();
    // Gemm with transB = 1 holds [out, in]; MatMul wants [in, out].
    let (out, inn) = (w.dims[0] as usize, w.dims[1] as usize);
    let vals: Vec<[u8; 4]> = w
        .raw_data
        .chunks_exact(4)
        .map(|c| c.try_into().unwrap())
        .collect();
    let mut t = Vec::with_capacity(w.raw_data.len());
    for k in 0..inn {
        for o in 0..out {
            t.extend_from_slice(&vals[o * inn + k]);
        }
    }
    w.raw_data = t;
    w.dims = vec![inn as i64, out as i64];
    g.node[fc1] = NodeProto {
        input: vec!["flat".into(), "fc1.weight".into()],
        output: vec!["mm".into()],
        name: "fc1".into(),
        op_type: "MatMul".into(),
        ..Default::default()
    };
    g.node.insert(
        fc1 + 1,
        NodeProto {
            input: vec!["mm".into(), "fc1.bias".into()],
            output: vec!["fc1_out".into()],
            name: "fc1_bias".into(),
            op_type: "Add".into(),
            ..Default::default()
        },
    );
    // Folded as before without the extra output.
    assert_eq!(load(&p).unwrap().layers(), model("mlp").layers());
    let mut mm = p.graph.as_ref().unwrap().output[0].clone();
    mm.name = "mm".into();
    p.graph.as_mut().unwrap().output.push(mm);
    // Not folded: the bias is an element-wise constant layer after the product, whose
    // output stays the graph output `mm`.
    let m = load(&p).unwrap();
    assert_eq!(m.layers()[2].name(), "fc1_bias");
    assert!(matches!(m.layers()[2].op(), Op::AddConst(_)));
    assert_eq!(m.outputs(), [7, 2]);
}

/// LeNet-5 as PyTorch exports `x.view(x.size(0), -1)` (Shape → Gather → Unsqueeze →
/// Concat → Reshape), edited so that the folded shape is not a flatten that keeps the
/// batch first: each is refused naming the node and why.
#[test]
fn shape_computations_that_move_the_batch_are_refused() {
    let proto =
        || ModelProto::decode(std::fs::read(fixture("lenet5.onnx")).unwrap().as_slice()).unwrap();
    assert!(load(&proto()).is_ok());
    let node = |p: &mut ModelProto, op: &str| -> usize {
        let g = p.graph.as_ref().unwrap();
        g.node.iter().position(|n| n.op_type == op).unwrap()
    };
    // The batch size second: [-1, N].
    let mut p = proto();
    let i = node(&mut p, "Concat");
    p.graph.as_mut().unwrap().node[i].input.reverse();
    let e = err_text(&p);
    assert!(
        e.contains("(Reshape)") && e.contains("batch size at position 1"),
        "{e}"
    );
    // Unsqueeze over axis 1 of the scalar batch size.
    let mut p = proto();
    let i = node(&mut p, "Unsqueeze");
    let axes = p.graph.as_ref().unwrap().node[i].input[1].clone();
    let g = p.graph.as_mut().unwrap();
    for n in &mut g.node {
        if n.output.first() == Some(&axes) {
            let t = n.attribute[0].t.as_mut().unwrap();
            t.raw_data = 1i64.to_le_bytes().to_vec();
            t.int64_data.clear();
        }
    }
    let e = err_text(&p);
    assert!(e.contains("(Unsqueeze)") && e.contains("axes [1]"), "{e}");
    // Shape of a constant, not of a data value.
    let mut p = proto();
    let i = node(&mut p, "Shape");
    let w = p.graph.as_ref().unwrap().initializer[0].name.clone();
    p.graph.as_mut().unwrap().node[i].input[0] = w;
    let e = err_text(&p);
    assert!(
        e.contains("(Shape)") && e.contains("not a data value"),
        "{e}"
    );
}

/// A BatchNormalization that does not directly follow a Conv or dense layer read only by
/// it (here: after a ReLU) cannot be folded: it becomes a per-channel affine layer (a
/// diagonal dense layer on `[C]`) computing `γ·(x − μ)/√(σ² + ε) + β`.
#[test]
fn batchnorm_that_cannot_be_folded_is_a_per_channel_affine_layer() {
    let mut p =
        ModelProto::decode(std::fs::read(fixture("bn_mlp.onnx")).unwrap().as_slice()).unwrap();
    assert!(load(&p).is_ok());
    let g = p.graph.as_mut().unwrap();
    let at = g
        .node
        .iter()
        .rposition(|n| n.op_type == "BatchNormalization")
        .unwrap();
    let x = g.node[at].input[0].clone();
    g.node.insert(
        at,
        NodeProto {
            op_type: "Relu".into(),
            name: "relu_before_bn".into(),
            input: vec![x],
            output: vec!["relu_before_bn".into()],
            ..Default::default()
        },
    );
    let bn = &mut g.node[at + 1];
    let relu = "relu_before_bn".to_string();
    bn.input[0] = relu;
    let bn = bn.clone();
    let m = load(&p).unwrap();
    let g = p.graph.as_ref().unwrap();
    let param = |name: &str| -> Vec<f32> {
        // The exporter names some parameters through an Identity of another.
        let name = g
            .node
            .iter()
            .find(|n| n.op_type == "Identity" && n.output[0] == name)
            .map_or(name, |n| n.input[0].as_str());
        let t = g.initializer.iter().find(|t| t.name == name).unwrap();
        if t.float_data.is_empty() {
            t.raw_data
                .chunks_exact(4)
                .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
                .collect()
        } else {
            t.float_data.clone()
        }
    };
    let (gamma, beta, mean, var) = (
        param(&bn.input[1]),
        param(&bn.input[2]),
        param(&bn.input[3]),
        param(&bn.input[4]),
    );
    let layer = m
        .layers()
        .iter()
        .find(|l| l.name().contains("BatchNormalization") || l.name() == bn.name)
        .unwrap();
    let Op::Dense(d) = layer.op() else {
        panic!("{:?}", layer.op().kind())
    };
    let c = gamma.len();
    assert_eq!(d.weight.shape(), [c, c]);
    for i in 0..c {
        let s = gamma[i] / (var[i] + 1e-5).sqrt();
        for j in 0..c {
            let w = d.weight.data()[i * c + j];
            assert!(
                (w - if i == j { s } else { 0.0 }).abs() < 1e-5,
                "{i} {j} {w}"
            );
        }
        let b = d.bias.as_ref().unwrap().data()[i];
        assert!((b - (beta[i] - mean[i] * s)).abs() < 1e-5);
    }
}

/// A fold must not change what another node reads: a BatchNormalization reading a
/// Gemm's output through an Identity, while that output is also a graph output, is not
/// folded (folding it would scale the other output too) but becomes its own
/// per-channel layer, and the Gemm's output stays the Gemm's.
#[test]
fn batchnorm_through_an_alias_of_a_shared_value_is_not_folded() {
    let mut p =
        ModelProto::decode(std::fs::read(fixture("bn_mlp.onnx")).unwrap().as_slice()).unwrap();
    let g = p.graph.as_mut().unwrap();
    let bn = g
        .node
        .iter()
        .position(|n| n.op_type == "BatchNormalization")
        .unwrap();
    let gemm_out = g.node[bn].input[0].clone();
    g.node[bn].input[0] = "via_identity".into();
    g.node.insert(
        bn,
        NodeProto {
            op_type: "Identity".into(),
            name: "alias".into(),
            input: vec![gemm_out.clone()],
            output: vec!["via_identity".into()],
            ..Default::default()
        },
    );
    let mut second = g.output[0].clone();
    second.name = gemm_out;
    g.output.push(second);
    let m = load(&p).unwrap();
    let kinds: Vec<&str> = m.layers().iter().map(|l| l.op().kind()).collect();
    // fc1, bn1 on its own, relu, fc2 with bn2 folded.
    assert_eq!(kinds, ["dense", "dense", "relu", "dense"]);
    let Op::Dense(fc1) = m.layers()[0].op() else {
        panic!("{kinds:?}")
    };
    assert!(fc1.weight.data().iter().all(|v| v.is_finite()));
    assert_eq!(m.outputs().len(), 2);
    assert_ne!(m.outputs()[0], m.outputs()[1]);
}

/// One of the ONNX backend cases committed for the conformance suite.
fn backend_case(name: &str) -> ModelProto {
    let p = common::crate_dir()
        .join("../cli/tests/fixtures/onnx-backend/pytorch-converted")
        .join(name)
        .join("model.onnx");
    ModelProto::decode(std::fs::read(p).unwrap().as_slice()).unwrap()
}

/// Pad, Transpose, Squeeze/Unsqueeze and ConvTranspose load as re-indexings (and a
/// convolution), and their unsupported forms are refused naming the node.
#[test]
fn data_movement_loads_as_remaps_and_refuses_what_it_cannot() {
    let kinds = |p: &ModelProto| -> Vec<(&'static str, Vec<usize>)> {
        load(p)
            .unwrap()
            .layers()
            .iter()
            .map(|l| (l.op().kind(), l.output_shape().to_vec()))
            .collect()
    };
    let pad = backend_case("test_ReflectionPad2d");
    assert_eq!(kinds(&pad), [("remap", vec![3, 15, 11])]);
    let mut p = pad.clone();
    let n = &mut p.graph.as_mut().unwrap().node[0];
    n.attribute.retain(|a| a.name != "pads");
    n.attribute.push(AttributeProto {
        name: "pads".into(),
        ints: vec![0, 0, 8, 1, 0, 0, 4, 2],
        r#type: attribute_type::INTS,
        ..Default::default()
    });
    let e = err_text(&p);
    assert!(
        e.contains("(Pad)") && e.contains("reflection needs pads smaller"),
        "{e}"
    );
    // Padding the batch dimension.
    let n = &mut p.graph.as_mut().unwrap().node[0];
    n.attribute.retain(|a| a.name != "pads");
    n.attribute.push(AttributeProto {
        name: "pads".into(),
        ints: vec![1, 0, 0, 0, 0, 0, 0, 0],
        r#type: attribute_type::INTS,
        ..Default::default()
    });
    assert!(err_text(&p).contains("none on the batch dimension"));
    // A nonzero constant: zero padding, then the constant added where it padded.
    let m = load(&backend_case("test_ConstantPad2d")).unwrap();
    assert_eq!(
        shapes(&m)
            .into_iter()
            .map(|(_, k, _, o)| (k, o))
            .collect::<Vec<_>>(),
        [("remap", vec![3, 11, 7]), ("add_const", vec![3, 11, 7])]
    );
    let Op::AddConst(c) = m.layers()[1].op() else {
        panic!()
    };
    let Op::Remap(r) = m.layers()[0].op() else {
        panic!()
    };
    for (v, i) in c.value.data().iter().zip(&r.idx) {
        assert_eq!(*v, if i.is_some() { 0.0 } else { 2.0 });
    }

    let lin = backend_case("test_Linear_no_bias");
    assert_eq!(kinds(&lin), [("dense", vec![8])]);
    // A reshape through the graph's fixed batch of 1, a 5-D transposition, a reshape.
    let pix = backend_case("test_PixelShuffle");
    assert_eq!(
        kinds(&pix),
        [
            ("reshape", vec![1, 3, 3, 4, 4]),
            ("remap", vec![1, 4, 3, 4, 3]),
            ("reshape", vec![1, 12, 12])
        ]
    );

    let avg1 = backend_case("test_AvgPool1d");
    assert_eq!(
        kinds(&avg1),
        [
            ("reshape", vec![3, 6, 1]),
            ("avgpool", vec![3, 3, 1]),
            ("reshape", vec![3, 3])
        ]
    );
    let mut p = avg1.clone();
    let n = &mut p.graph.as_mut().unwrap().node[2];
    n.attribute.retain(|a| a.name != "axes");
    n.attribute.push(AttributeProto {
        name: "axes".into(),
        ints: vec![2],
        r#type: attribute_type::INTS,
        ..Default::default()
    });
    let e = err_text(&p);
    assert!(
        e.contains("(Squeeze)") && e.contains("size 1 to squeeze"),
        "{e}"
    );

    let up = backend_case("test_ConvTranspose2d");
    let k = kinds(&up);
    assert_eq!(k[0].0, "remap");
    assert_eq!(k[1].0, "conv");
    let mut p = up.clone();
    p.graph.as_mut().unwrap().node[0]
        .attribute
        .push(AttributeProto {
            name: "output_shape".into(),
            ints: vec![9, 9],
            r#type: attribute_type::INTS,
            ..Default::default()
        });
    let e = err_text(&p);
    assert!(
        e.contains("(ConvTranspose)") && e.contains("output_shape"),
        "{e}"
    );
}

/// `Softmax` ending the first output is the head by default (the label does not need
/// it) and a layer with `SoftmaxKind::Layer`; elsewhere, and `LogSoftmax` always, a
/// layer. Before opset 13 the axes from `axis` on are flattened into one group; from
/// 13 on an inner axis is moved last and back.
#[test]
fn softmax_is_a_head_or_a_layer_and_follows_the_opset() {
    use tessera_models::{OnnxOptions, SoftmaxKind, load_onnx_with};
    let layer = OnnxOptions {
        softmax: SoftmaxKind::Layer,
        ..Default::default()
    };
    let sm = backend_case("test_Softmax");
    assert!(err_text(&sm).contains("computes nothing"));
    let (m, _) = load_onnx_with(&sm.encode_to_vec(), &layer).unwrap();
    assert_eq!(
        m.layers()[0].op(),
        &Op::Softmax(tessera_models::Softmax {
            len: 20,
            log: false
        })
    );
    // Opset 6, axis 3 of [N, 3, 4, 5]: groups of 5.
    let log = backend_case("test_log_softmax_dim3");
    assert_eq!(
        load(&log).unwrap().layers()[0].op(),
        &Op::Softmax(tessera_models::Softmax { len: 5, log: true })
    );
    // The same graph read as opset 13 with axis 1: over the 3 channels, moved last.
    let mut p = log.clone();
    p.opset_import[0].version = 13;
    let n = &mut p.graph.as_mut().unwrap().node[0];
    n.attribute.retain(|a| a.name != "axis");
    n.attribute.push(int_attr("axis", 1));
    let m = load(&p).unwrap();
    let kinds: Vec<(&str, Vec<usize>)> = m
        .layers()
        .iter()
        .map(|l| (l.op().kind(), l.output_shape().to_vec()))
        .collect();
    assert_eq!(
        kinds,
        [
            ("remap", vec![4, 5, 3]),
            ("softmax", vec![4, 5, 3]),
            ("remap", vec![3, 4, 5])
        ]
    );
    // The batch axis is refused.
    let n = &mut p.graph.as_mut().unwrap().node[0];
    n.attribute.retain(|a| a.name != "axis");
    n.attribute.push(int_attr("axis", 0));
    let e = err_text(&p);
    assert!(e.contains("within an example"), "{e}");
}

/// The bias of the first dense layer (the MLP's `fc1`).
fn fc1_bias(m: &tessera_models::Model) -> Option<&tessera_models::Tensor> {
    match m.layers()[0].op() {
        Op::Dense(d) => d.bias.as_ref(),
        _ => m.layers().iter().find_map(|l| match l.op() {
            Op::Dense(d) => d.bias.as_ref(),
            _ => None,
        }),
    }
}

fn ints_attr(name: &str, v: &[i64]) -> AttributeProto {
    AttributeProto {
        name: name.into(),
        ints: v.to_vec(),
        r#type: attribute_type::INTS,
        ..Default::default()
    }
}

/// `Slice` with constant starts, ends, axes and steps is one re-indexing: negative
/// indices, `INT64_MAX` ends, negative steps; the batch only whole; an empty slice and
/// a zero step are refused naming the node.
#[test]
fn slice_loads_as_one_remap_with_onnx_semantics() {
    use tessera_models::onnx::proto::TensorProto;
    // test_ReLU's graph, [N, 3, 4, 5], with the Relu replaced by a Slice.
    let slice = |attrs: Vec<AttributeProto>| {
        let mut p = backend_case("test_ReLU");
        let n = &mut p.graph.as_mut().unwrap().node[0];
        n.op_type = "Slice".into();
        n.name = "cut".into();
        n.attribute = attrs;
        p
    };
    let remap = |p: &ModelProto| match load(p).unwrap().layers()[0].op() {
        Op::Remap(r) => r.clone(),
        op => panic!("{op:?}"),
    };
    // Opset < 10: attributes. Channels 1.., rows −3..−1 (1 and 2), the batch whole.
    let r = remap(&slice(vec![
        ints_attr("starts", &[0, 1, -3]),
        ints_attr("ends", &[i64::MAX, i64::MAX, -1]),
        ints_attr("axes", &[0, 1, 2]),
    ]));
    assert_eq!(r.shape, [2, 2, 5]);
    assert_eq!(r.idx[0], Some(25));
    // With steps (opset 10: inputs), negative: rows 3, 1; columns 4, 2, 0 → reversed.
    let mut p = slice(Vec::new());
    p.opset_import[0].version = 13;
    let g = p.graph.as_mut().unwrap();
    let c = |name: &str, v: &[i64]| TensorProto {
        name: name.into(),
        dims: vec![v.len() as i64],
        data_type: 7,
        int64_data: v.to_vec(),
        ..Default::default()
    };
    g.initializer.extend([
        c("st", &[-1, 4]),
        c("en", &[0, -i64::MAX]),
        c("ax", &[2, -1]),
        c("sp", &[-2, -2]),
    ]);
    g.node[0].input = vec![
        "0".into(),
        "st".into(),
        "en".into(),
        "ax".into(),
        "sp".into(),
    ];
    let r = remap(&p);
    assert_eq!(r.shape, [3, 2, 3]);
    let got: Vec<usize> = r.idx.iter().take(6).map(|i| i.unwrap()).collect();
    assert_eq!(got, [19, 17, 15, 9, 7, 5]);
    // The batch in part, an empty slice, a zero step: refused naming the node.
    let e = err_text(&slice(vec![
        ints_attr("starts", &[1]),
        ints_attr("ends", &[2]),
    ]));
    assert!(e.contains("cut") && e.contains("batch"), "{e}");
    let e = err_text(&slice(vec![
        ints_attr("starts", &[2]),
        ints_attr("ends", &[1]),
        ints_attr("axes", &[1]),
    ]));
    assert!(e.contains("cut") && e.contains("empty"), "{e}");
    let g = p.graph.as_mut().unwrap();
    g.initializer.retain(|t| t.name != "sp");
    g.initializer.push(c("sp", &[0, 1]));
    let e = err_text(&p);
    assert!(e.contains("cut") && e.contains("step 0"), "{e}");
}

/// An embedding: `Gather` of a constant table by the int64 graph input is an index
/// input one-hot encoded by the client, a one-tap convolution by the table and a
/// remap; an index outside the vocabulary is an error naming it; any other reader of
/// the indices is refused.
#[test]
fn embedding_is_an_index_input_a_table_product_and_a_remap() {
    let p = backend_case("test_Embedding");
    let m = load(&p).unwrap();
    let ix = m.index_input().unwrap();
    assert_eq!((ix.shape.as_slice(), ix.vocab), (&[4][..], 4));
    assert_eq!(m.input_shape(), [4, 4]);
    assert_eq!(
        shapes(&m)
            .into_iter()
            .map(|(_, k, _, o)| (k, o))
            .collect::<Vec<_>>(),
        [("conv", vec![3, 4]), ("remap", vec![4, 3])]
    );
    // One-hot, channel (vocabulary) major; negative indices count from the end.
    let x = m.encode_indices(&[1, 0, -1, 3]).unwrap();
    let mut want = vec![0.0; 16];
    for (p, v) in [(0, 1), (1, 0), (2, 3), (3, 3)] {
        want[v * 4 + p] = 1.0;
    }
    assert_eq!(x, want);
    // The float reference of a one-hot input is the table's rows.
    let y = m.run_float::<f32>(&x).unwrap();
    let Op::Conv(c) = m.layers()[0].op() else {
        panic!()
    };
    for (p, v) in [(0usize, 1usize), (1, 0), (2, 3), (3, 3)] {
        for d in 0..3 {
            assert_eq!(y.values[p * 3 + d], c.weight.data()[d * 4 + v]);
        }
    }
    for bad in [4, -5, i64::MAX, i64::MIN] {
        let e = m.encode_indices(&[0, bad, 0, 0]).unwrap_err().to_string();
        assert!(
            e.contains("index at position 1")
                && e.contains("vocabulary of 4")
                && (bad == 4 || !e.contains(&bad.to_string())),
            "{e}"
        );
    }
    assert!(m.encode_indices(&[0, 1, 2]).is_err());
    // The indices read by another node.
    let mut q = p.clone();
    let g = q.graph.as_mut().unwrap();
    g.node[0].op_type = "Relu".into();
    g.node[0].input = vec!["0".into()];
    let e = err_text(&q);
    assert!(e.contains("Relu") && e.contains("not a data value"), "{e}");
}

/// `MatMul` of two activations is a product of secrets; operands that do not fit are
/// refused naming the node.
#[test]
fn matmul_of_two_activations_loads_as_a_product() {
    let mut p = backend_case("test_ReLU");
    let g = p.graph.as_mut().unwrap();
    g.node[0] = NodeProto {
        input: vec!["0".into()],
        output: vec!["t".into()],
        name: "tr".into(),
        op_type: "Transpose".into(),
        attribute: vec![ints_attr("perm", &[0, 1, 3, 2])],
        ..Default::default()
    };
    g.node.push(NodeProto {
        input: vec!["0".into(), "t".into()],
        output: vec!["1".into()],
        name: "qk".into(),
        op_type: "MatMul".into(),
        ..Default::default()
    });
    let m = load(&p).unwrap();
    assert_eq!(shapes(&m)[1], s("qk", "matmul", &[3, 4, 5], &[3, 4, 4]));
    let g = p.graph.as_mut().unwrap();
    g.node[1].input = vec!["0".into(), "0".into()];
    let e = err_text(&p);
    assert!(
        e.contains("qk") && e.contains("[..., m, k] · [..., k, n]"),
        "{e}"
    );
}
