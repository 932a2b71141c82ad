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
            s("conv", "conv2d", &[1, 28, 28], &[5, 13, 13]),
            s("relu0", "relu", &[5, 13, 13], &[5, 13, 13]),
            s("flatten", "reshape", &[5, 13, 13], &[845]),
            s("fc1", "dense", &[845], &[100]),
            s("relu1", "relu", &[100], &[100]),
            s("fc2", "dense", &[100], &[10]),
        ]
    );
    let Op::Conv2d(c) = m.layers()[0].op() else {
        panic!("conv is not conv2d")
    };
    assert_eq!(c.weight.shape(), [5, 1, 5, 5]);
    assert_eq!(c.strides, [2, 2]);
    assert_eq!(c.pads, [1, 1, 1, 1]);
    assert_eq!(c.symmetric(), Some((2, 1)));
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
            s("conv", "conv2d", &[1, 6, 6], &[2, 6, 6]),
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
            s("conv", "conv2d", &[2, 7, 7], &[3, 4, 3]),
            s("relu", "relu", &[3, 4, 3], &[3, 4, 3]),
            s("maxpool", "maxpool", &[3, 4, 3], &[3, 4, 3]),
            s("avgpool", "avgpool", &[3, 4, 3], &[3, 5, 2]),
            s("flatten", "reshape", &[3, 5, 2], &[30]),
            s("fc", "dense", &[30], &[6]),
        ]
    );
    let Op::Conv2d(c) = pool.layers()[0].op() else {
        panic!()
    };
    assert_eq!(c.pads, [1, 0, 1, 1]);
    assert_eq!(c.symmetric(), None);
}

#[test]
fn unsupported_op_names_op_and_node() {
    let err = load_onnx_file(fixture("unsupported_op.onnx")).unwrap_err();
    match &err {
        Error::UnsupportedOp {
            op, node, domain, ..
        } => {
            assert_eq!(op, "Tanh");
            assert_eq!(node, "act_tanh");
            assert_eq!(domain, "");
        }
        e => panic!("wrong error {e:?}"),
    }
    let text = err.to_string();
    assert!(text.contains("Tanh") && text.contains("act_tanh"), "{text}");
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
    let dil = AttributeProto {
        name: "dilations".into(),
        ints: vec![2, 2],
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
fn mul_of_two_tensors_is_refused() {
    let mut p = mlp_proto();
    let g = p.graph.as_mut().unwrap();
    g.node[2].op_type = "Mul".into();
    g.node[2].input = vec!["fc1_out".into(), "fc1.bias".into()];
    let t = err_text(&p);
    assert!(t.contains("square") && t.contains("relu1"), "{t}");
    // x·x is the square activation.
    let mut p = mlp_proto();
    let g = p.graph.as_mut().unwrap();
    g.node[2].op_type = "Mul".into();
    g.node[2].input = vec!["fc1_out".into(), "fc1_out".into()];
    assert_eq!(load(&p).unwrap().layers()[2].op(), &Op::Square);
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
