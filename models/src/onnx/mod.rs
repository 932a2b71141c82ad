//! ONNX loading into a [`Model`].
//!
//! # Decoding
//! The bytes are decoded with [`prost`] into hand-declared message types for the
//! subset of `onnx.proto` Tessera reads ([`proto`]). `prost` returns a
//! [`prost::DecodeError`] for truncated or corrupt input (lengths are checked
//! against the remaining bytes before anything is allocated, nesting is limited to
//! 100 levels), so a hostile file is an error, never a panic; everything after
//! decoding (shapes, tensor sizes, attributes) is checked here with checked
//! arithmetic. A property test mutates and truncates the real models' bytes.
//!
//! # What is accepted
//! A graph with one float input `[N, d1, …]` (the first dimension is the batch,
//! symbolic or not; the others must be fixed) and one or more outputs, which become
//! the model's outputs in graph order with their names ([`Model::outputs`],
//! [`Model::output_names`]): any computed value of any shape, also one that later
//! nodes read, or the input itself. Nodes may form any DAG and come in any order: they
//! are scheduled topologically by the values they read (a cycle, or a value that is
//! neither the input, a constant nor a node output, is an error naming the node, or
//! the graph output), and nodes no output depends on are dropped. Constants are
//! initializers or `Constant` nodes; a graph output may not be one. Supported
//! operators (default domain):
//!
//! | ONNX | becomes | conditions |
//! |---|---|---|
//! | `Gemm` | [`Op::Dense`] | `transA = 0`; `alpha`, `beta` folded into `W`, `b`; `B`, `C` constants; opset-6 `broadcast` accepted |
//! | `MatMul` (+ `Add`) | [`Op::Dense`] | `x · B` with constant `B: [in, out]`; an `Add` of a constant `[out]` reading only its output is the bias |
//! | `Conv` (+ `Add`) | [`Op::Conv`] | 1-D, 2-D or 3-D; any `strides`, `dilations`, `pads` (asymmetric too), `auto_pad`, `group` (grouped and depthwise); an `Add` of a constant `[O,1,…]` reading only its output is the bias |
//! | `Add`, `Sub` | [`Op::Add`], [`Op::Sub`] | two activations of one shape |
//! | `Add`, `Sub`, `Mul`, `Div` by a constant | [`Op::AddConst`], [`Op::MulConst`] | the constant broadcast NumPy-style to the activation without enlarging it or varying over the batch; either order (`c − x` negates), `x / c` a product by `1/c`; an `Add`/`Sub` right after a product it alone reads is its bias |
//! | `MatMul` of two activations | [`Op::MatMul`] | `[…, m, k] · […, k, n]` per example, leading dimensions equal |
//! | `Slice` | [`Op::Remap`] | constant starts, ends, axes, steps (negative too); the batch only whole |
//! | `Gather` of a constant `[V, D]` by the int64/int32 graph input | [`Op::Conv`] + [`Op::Remap`] | an embedding: the client one-hot encodes its indices ([`crate::Model::encode_indices`]) |
//! | `Concat` | [`Op::Concat`] | activations, within an example (`axis ≥ 1`) |
//! | `Relu` | [`Op::Relu`] | |
//! | `MaxPool` | [`Op::MaxPool`] | 1-D, 2-D or 3-D; any `strides`, `dilations`, `pads`, `ceil_mode`; no window entirely in the padding; no `Indices` output |
//! | `AveragePool` | [`Op::AvgPool`] | 1-D, 2-D or 3-D; with padding only `count_include_pad = 1`; `ceil_mode = 1` only where no window runs past the input (a constant divisor) |
//! | `GlobalAveragePool`, `GlobalMaxPool` | [`Op::AvgPool`], [`Op::MaxPool`] | the window is the whole image (1-D to 3-D) |
//! | `Flatten` | [`Op::Reshape`] | `axis = 1` |
//! | `Squeeze`, `Unsqueeze` | [`Op::Reshape`] | axes as attribute or constant input; the batch stays first; squeezed axes of size 1 |
//! | `Pad` | [`Op::Remap`] (+ [`Op::AddConst`]) | `constant` (a non-zero value added where it pads), `reflect`, `edge`; pads as attribute (opset < 11) or constant input; none on the batch |
//! | `Transpose` | [`Op::Remap`], or folded | of an activation: `perm[0] = 0`; of a constant matrix with `perm = [1, 0]` read by a `MatMul`: that `MatMul` is a dense layer with the matrix as its `[out, in]` weight |
//! | `ConvTranspose` | [`Op::Remap`] + [`Op::Conv`] | 1-D to 3-D, `group`, `strides`, `dilations`, `pads ≤ d·(k − 1)`, `output_padding < stride`; no `output_shape`/`auto_pad`: the input spread by the strides and padded, then a stride-1 convolution with the kernel flipped and its channel axes swapped |
//! | `Reshape` | [`Op::Reshape`] | constant (or folded, below) shape whose first entry is `0` or `-1`, or the graph input's fixed batch size (keeps the batch) |
//! | `Mul` | [`Op::Square`], [`Op::Mul`] | `x·x`, or two activations of one shape |
//! | `Neg` | [`Op::Neg`] | |
//! | `Split` | [`Op::Remap`] per output | along a per-example axis |
//! | `Softmax`, `LogSoftmax` | [`Op::Softmax`] (with [`Op::Remap`]s) | over a per-example axis; a `Softmax` ending the first output is the head unless [`SoftmaxKind::Layer`]; before opset 13 the axes from `axis` on form one group, from 13 an inner axis is moved last and back |
//! | `Shape`, `Gather`, `Unsqueeze`, `Concat`, `Cast` on shapes | — | folded at load time: `Shape` of a data value is `[N, d1, …]` with `N` the symbolic batch, and `Gather` (axis 0), `Unsqueeze` (a scalar's axis 0), `Concat` (axis 0) and `Cast` (to int32/int64) of such values or int64 constants compute on them; a `Reshape` to the result keeps `N` only as its first entry. PyTorch's `x.view(x.size(0), -1)` is this chain |
//! | `Identity`, `Dropout` | — | inference no-ops (the output names the input's value; an `Identity` of a constant is that constant) |
//! | `BatchNormalization` | — or [`Op::Conv`] / [`Op::Dense`] | inference mode; folded into the `Conv`/`Gemm`/`MatMul` whose output it alone reads (weights × `γ/√(σ²+ε)`, bias shifted); elsewhere a per-channel affine layer: a depthwise convolution with one tap per channel on `[C, …]`, a diagonal dense layer on `[C]` |
//! | `Sigmoid` | [`Op::Sigmoid`] (the logistic function), or [`Op::SecureMlSigmoid`] with [`SigmoidKind::SecureMl`] | |
//! | `Tanh`, `Softplus`, `Softsign` | [`Op::Tanh`], [`Op::Softplus`], [`Op::Softsign`] | |
//! | `Elu`, `Selu` | [`Op::Elu`], [`Op::Selu`] | `0 ≤ alpha ≤ 1024`, `0 < gamma ≤ 1024` |
//! | `Abs`, `Add` 1, `Div` | [`Op::Softsign`] | PyTorch's Softsign `x / (\|x\| + 1)`: `Abs` of `x`, `Add` of a constant 1, `Div` of `x` by it, each intermediate value read once |
//! | `Abs`, `Sign`, `Exp`, `Reciprocal` | [`Op::Abs`], [`Op::Sign`], [`Op::Exp`], [`Op::Reciprocal`] | (`Abs` outside the Softsign pattern) |
//! | `Div` | [`Op::Divide`] | two activations of one shape |
//! | `Clip` | [`Op::Clip`] | bounds as attributes (opset < 11) or constant scalar inputs, either optional (PyTorch's `ReLU6`, `Hardtanh`, `clamp`) |
//! | `Max`, `Min` | [`Op::Max`], [`Op::Min`], or [`Op::Clip`] | two activations of one shape; an activation and a constant scalar is a `Clip` with one bound; one input is that input |
//! | `LeakyRelu` | [`Op::LeakyRelu`] | `\|alpha\| ≤ 1024` |
//! | `PRelu` | [`Op::PRelu`] | constant slope broadcasting to `[N, …]` (NumPy rule; a leading 1 is dropped); before opset 7 a 1-D slope `[C]` is per channel of `[N, C, …]`; `\|slope\| ≤ 1024` |
//! | `Mul` | [`Op::Square`] | both inputs the same tensor (`x·x`) |
//! | `ArgMax` | [`Head::ArgMax`] | over the class axis, `select_last_index = 0`; its output is the first graph output and no node reads it |
//! | `Softmax` | [`Head::Softmax`] | over the class axis; its output is the first graph output and no node reads it |
//!
//! The head (`ArgMax`, `Softmax`) reads the first output's scores: the model's first
//! output is then the head's input, and the head is recorded as [`Model::head`].
//!
//! Anything else — another operator or domain, an attribute Tessera does not know
//! for an operator — is an error that names the node.

pub mod proto;

use std::collections::{HashMap, HashSet};
use std::path::Path;

use prost::Message;

use crate::model::{Conv, Dense, Head, IndexInput, Model, Op, Pool, Remap, Tensor, checked_numel};
use crate::ops::affine::{AddConst, MulConst, broadcasts};
use crate::ops::clip::Clip;
use crate::ops::prelu::{LeakyRelu, MAX_SLOPE, PRelu, slope_indices};
use crate::ops::remap::PadMode;
use crate::ops::smooth::{Elu, Selu};
use crate::ops::softmax::Softmax;
use crate::ops::spline::SplineFn;
use crate::{Error, Result};
use proto::{
    AttributeProto, DimensionValue, GraphProto, ModelProto, NodeProto, TensorProto,
    attribute_type as at, data_type as dt,
};
use tessera_protocols::Window;
use tessera_protocols::arith::window::MAX_RANK;

/// What [`load_onnx`] returns besides the model: names from the ONNX file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OnnxInfo {
    /// The graph input's name.
    pub input_name: String,
    /// The first graph output's name.
    pub output_name: String,
    /// Every graph output's name, in graph order (the model's outputs).
    pub output_names: Vec<String>,
    /// The default-domain opset version imported by the model (0 if none).
    pub opset: i64,
    /// The producer named in the file.
    pub producer: String,
}

/// Which function ONNX `Sigmoid` loads as.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum SigmoidKind {
    /// The logistic function `1/(1 + e^−x)` ([`Op::Sigmoid`]; a spline in fixed point,
    /// error ≤ 0.002 at `f = 16`). The default.
    #[default]
    Logistic,
    /// SecureML's piecewise-linear `clamp(x + 1/2, 0, 1)` ([`Op::SecureMlSigmoid`]),
    /// which is not the logistic function (off by up to 0.12) but a cheaper circuit; the
    /// float reference computes it too.
    SecureMl,
}

impl SigmoidKind {
    /// The names [`SigmoidKind::from_str`](std::str::FromStr) accepts.
    pub const NAMES: [&'static str; 2] = ["logistic", "secureml"];

    /// Its name (`logistic`, `secureml`).
    pub fn name(self) -> &'static str {
        match self {
            SigmoidKind::Logistic => "logistic",
            SigmoidKind::SecureMl => "secureml",
        }
    }
}

impl std::fmt::Display for SigmoidKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

impl std::str::FromStr for SigmoidKind {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "logistic" => Ok(SigmoidKind::Logistic),
            "secureml" => Ok(SigmoidKind::SecureMl),
            _ => Err(Error::InvalidArgument {
                what: "sigmoid",
                detail: format!("{s:?} is not one of logistic, secureml"),
            }),
        }
    }
}

/// Options of the ONNX loader ([`load_onnx_with`]); `Default` is what [`load_onnx`]
/// uses.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct OnnxOptions {
    /// What ONNX `Sigmoid` becomes.
    pub sigmoid: SigmoidKind,
    /// What a `Softmax` ending the first output becomes.
    pub softmax: SoftmaxKind,
}

/// What a `Softmax` over the classes that ends the first graph output becomes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum SoftmaxKind {
    /// The head marker (computed as the argmax): right when the client receives the
    /// label, which the softmax does not change; the first output is then the scores.
    #[default]
    Head,
    /// A [`Op::Softmax`] layer: the client receives the probabilities (what the graph
    /// outputs), at the softmax's cost.
    Layer,
}

/// Loads an ONNX model from bytes with the default [`OnnxOptions`].
///
/// # Errors
/// [`Error::OnnxDecode`] for bytes that are not a protobuf `ModelProto`;
/// [`Error::UnsupportedOp`] for an operator outside the supported set;
/// [`Error::OnnxInvalid`] for anything else the loader cannot accept (see the module
/// docs); [`Error::Shape`] if shapes do not fit.
pub fn load_onnx(bytes: &[u8]) -> Result<Model> {
    load_onnx_with_info(bytes).map(|(m, _)| m)
}

/// Loads an ONNX model from a file.
///
/// # Errors
/// [`Error::Io`] if the file cannot be read; otherwise as [`load_onnx`].
pub fn load_onnx_file(path: impl AsRef<Path>) -> Result<Model> {
    let path = path.as_ref();
    let bytes = std::fs::read(path).map_err(|source| Error::Io {
        path: path.to_path_buf(),
        source,
    })?;
    load_onnx(&bytes)
}

/// As [`load_onnx`], also returning the input and output names and the opset.
///
/// # Errors
/// As [`load_onnx`].
pub fn load_onnx_with_info(bytes: &[u8]) -> Result<(Model, OnnxInfo)> {
    load_onnx_with(bytes, &OnnxOptions::default())
}

/// Loads an ONNX model from a file with `opts`.
///
/// # Errors
/// As [`load_onnx_file`].
pub fn load_onnx_file_with(path: impl AsRef<Path>, opts: &OnnxOptions) -> Result<Model> {
    let path = path.as_ref();
    let bytes = std::fs::read(path).map_err(|source| Error::Io {
        path: path.to_path_buf(),
        source,
    })?;
    load_onnx_with(&bytes, opts).map(|(m, _)| m)
}

/// As [`load_onnx_with_info`], with `opts` (e.g. SecureML's sigmoid).
///
/// # Errors
/// As [`load_onnx`].
pub fn load_onnx_with(bytes: &[u8], opts: &OnnxOptions) -> Result<(Model, OnnxInfo)> {
    let model = ModelProto::decode(bytes)?;
    let opset = model
        .opset_import
        .iter()
        .find(|o| o.domain.is_empty() || o.domain == "ai.onnx")
        .map_or(0, |o| o.version);
    let mut graph = model
        .graph
        .ok_or_else(|| invalid(None, "the model has no graph"))?;
    fold_int_constants(&mut graph);
    let (m, input_name, output_names) = Loader::new(&graph, *opts, opset)?.run(&graph)?;
    Ok((
        m,
        OnnxInfo {
            input_name,
            output_name: output_names.first().cloned().unwrap_or_default(),
            output_names,
            opset,
            producer: model.producer_name,
        },
    ))
}

fn invalid(node: Option<&str>, reason: impl Into<String>) -> Error {
    Error::OnnxInvalid {
        node: node.map(str::to_string),
        reason: reason.into(),
    }
}

const SUPPORTED: &str = "Tessera supports Gemm, MatMul (+Add bias, or of two activations), Conv \
(+Add bias), Add and Sub of two activations or of a constant, Mul and Div by a constant, Slice, \
Gather of a constant table by an int64/int32 input (an embedding), Concat, Relu, LeakyRelu, PRelu, Sigmoid, Tanh, Elu, Selu, Softplus, \
Softsign (also as Abs, Add 1, Div), Clip, Abs, Sign, Max and Min (of two activations, or \
with a constant scalar), Exp, Reciprocal, Div of two activations, MaxPool, AveragePool, GlobalAveragePool, GlobalMaxPool, \
BatchNormalization, ConvTranspose, Pad, Transpose, Squeeze, Unsqueeze, Split, Neg, Mul (x·x or of \
two activations), Softmax, LogSoftmax, Flatten, Reshape, Identity, Dropout, Constant, and ArgMax or \
Softmax as the head of the first output";

/// A step of PyTorch's Softsign pattern `x / (|x| + 1)`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum SoftsignPart {
    /// `|x|`.
    Abs,
    /// `|x| + 1`.
    PlusOne,
}

/// The error of a node that uses a value of the Softsign pattern otherwise.
fn softsign_refused(lbl: &str, v: &str) -> Error {
    invalid(
        Some(lbl),
        format!(
            "{v:?} is part of a Softsign pattern: Tessera supports Abs only as x / (|x| + 1) (Abs → Add of the constant 1 → Div of x, each value read once)"
        ),
    )
}

/// A constant: an initializer or the value of a `Constant` node.
struct Loader<'g> {
    consts: HashMap<&'g str, &'g TensorProto>,
    /// The graph input's batch dimension when it is a fixed size.
    static_batch: Option<usize>,
    input_name: String,
    input_shape: Vec<usize>,
    /// The graph input holds integer indices (int64 or int32): an embedding's.
    index_input: bool,
    output_names: Vec<String>,
    opts: OnnxOptions,
    /// The default-domain opset (PRelu's slope broadcasts per channel before 7).
    opset: i64,
}

/// A node's label for messages: `name (op)` or `#i (op)`.
fn label(node: &NodeProto, i: usize) -> String {
    if node.name.is_empty() {
        format!("#{i} ({})", node.op_type)
    } else {
        format!("{} ({})", node.name, node.op_type)
    }
}

impl<'g> Loader<'g> {
    fn new(graph: &'g GraphProto, opts: OnnxOptions, opset: i64) -> Result<Self> {
        let mut consts: HashMap<&str, &TensorProto> = HashMap::new();
        for t in &graph.initializer {
            if consts.insert(t.name.as_str(), t).is_some() {
                return Err(invalid(
                    None,
                    format!("initializer {:?} appears twice", t.name),
                ));
            }
        }
        for (i, n) in graph.node.iter().enumerate() {
            if n.op_type == "Constant" && (n.domain.is_empty() || n.domain == "ai.onnx") {
                let lbl = label(n, i);
                let [out] = n.output.as_slice() else {
                    return Err(invalid(
                        Some(&lbl),
                        "a Constant node has exactly one output",
                    ));
                };
                let [a] = n.attribute.as_slice() else {
                    return Err(invalid(
                        Some(&lbl),
                        "Tessera reads Constant nodes with one `value` tensor attribute",
                    ));
                };
                let t = match (a.name.as_str(), a.r#type, &a.t) {
                    ("value", at::TENSOR, Some(t)) => t,
                    _ => {
                        return Err(invalid(
                            Some(&lbl),
                            format!(
                                "Constant attribute {:?} is not supported; use `value` with a tensor",
                                a.name
                            ),
                        ));
                    }
                };
                if consts.insert(out.as_str(), t).is_some() {
                    return Err(invalid(
                        Some(&lbl),
                        format!("constant {out:?} is defined twice"),
                    ));
                }
            }
        }
        // An `Identity` of a constant is that constant (PyTorch writes one when two
        // parameters hold equal values, e.g. a fresh BatchNorm's weight and running
        // variance); chains resolve in as many passes as they are long.
        loop {
            let mut added = false;
            for n in &graph.node {
                if let ("Identity", [x], [out]) =
                    (n.op_type.as_str(), n.input.as_slice(), n.output.as_slice())
                    && !consts.contains_key(out.as_str())
                    && let Some(&t) = consts.get(x.as_str())
                {
                    consts.insert(out.as_str(), t);
                    added = true;
                }
            }
            if !added {
                break;
            }
        }
        let inputs: Vec<_> = graph
            .input
            .iter()
            .filter(|v| !consts.contains_key(v.name.as_str()))
            .collect();
        let [input] = inputs.as_slice() else {
            return Err(invalid(
                None,
                format!(
                    "the graph has {} inputs besides initializers; Tessera models take exactly one",
                    inputs.len()
                ),
            ));
        };
        if graph.output.is_empty() {
            return Err(invalid(
                None,
                "the graph has no outputs; Tessera models have one or more",
            ));
        }
        let mut output_names: Vec<String> = Vec::with_capacity(graph.output.len());
        for o in &graph.output {
            if o.name.is_empty() {
                return Err(invalid(None, "a graph output has no name"));
            }
            if output_names.contains(&o.name) {
                return Err(invalid(
                    None,
                    format!("graph output {:?} is listed twice", o.name),
                ));
            }
            if consts.contains_key(o.name.as_str()) {
                return Err(invalid(
                    None,
                    format!(
                        "graph output {:?} is a constant; Tessera's outputs are computed from the input",
                        o.name
                    ),
                ));
            }
            output_names.push(o.name.clone());
        }
        let what = format!("graph input {:?}", input.name);
        let tt = input
            .r#type
            .as_ref()
            .and_then(|t| t.tensor_type.as_ref())
            .ok_or_else(|| invalid(None, format!("{what} is not a tensor")))?;
        let index_input = matches!(tt.elem_type, dt::INT64 | dt::INT32);
        if tt.elem_type != dt::FLOAT && !index_input {
            return Err(invalid(
                None,
                format!(
                    "{what} has element type {}; Tessera models take float32 (1), or int64 (7) / int32 (6) indices into an embedding table",
                    tt.elem_type
                ),
            ));
        }
        let dims = tt
            .shape
            .as_ref()
            .map(|s| s.dim.as_slice())
            .ok_or_else(|| invalid(None, format!("{what} has no shape")))?;
        if dims.len() < 2 {
            return Err(invalid(
                None,
                format!(
                    "{what} has rank {}; Tessera needs [batch, …] with rank ≥ 2",
                    dims.len()
                ),
            ));
        }
        let mut input_shape = Vec::with_capacity(dims.len() - 1);
        for (k, d) in dims.iter().enumerate().skip(1) {
            match d.value {
                Some(DimensionValue::DimValue(v)) if v > 0 => input_shape.push(dim_usize(v)?),
                _ => {
                    return Err(invalid(
                        None,
                        format!(
                            "dimension {k} of {what} must be a fixed positive size (only the batch dimension may be symbolic)"
                        ),
                    ));
                }
            }
        }
        // A graph exported with a fixed batch (`[1, …]` rather than a symbolic `N`) may
        // name that batch in a Reshape target, meaning "keep the batch".
        let static_batch = match dims[0].value {
            Some(DimensionValue::DimValue(v)) if v > 0 => usize::try_from(v).ok(),
            _ => None,
        };
        Ok(Loader {
            consts,
            static_batch,
            input_name: input.name.clone(),
            input_shape,
            index_input,
            output_names,
            opts,
            opset,
        })
    }

    /// The nodes some graph output depends on, in a topological order (Kahn's
    /// algorithm over value names, ties in file order), `Constant` nodes excluded.
    fn schedule(&self, graph: &'g GraphProto) -> Result<Vec<usize>> {
        let is_const_node = |n: &NodeProto| {
            let default_domain = n.domain.is_empty() || n.domain == "ai.onnx";
            // An `Identity` that [`Loader::new`] made an alias of its constant input.
            let alias = match (n.op_type.as_str(), n.input.as_slice(), n.output.as_slice()) {
                ("Identity", [x], [o]) => {
                    match (self.consts.get(x.as_str()), self.consts.get(o.as_str())) {
                        (Some(&a), Some(&b)) => std::ptr::eq(a, b),
                        _ => false,
                    }
                }
                _ => false,
            };
            default_domain && (n.op_type == "Constant" || alias)
        };
        let mut producer: HashMap<&str, usize> = HashMap::new();
        for (i, n) in graph.node.iter().enumerate() {
            if is_const_node(n) {
                continue;
            }
            for o in n.output.iter().filter(|o| !o.is_empty()) {
                if o == &self.input_name || self.consts.contains_key(o.as_str()) {
                    return Err(invalid(
                        Some(&label(n, i)),
                        format!("output {o:?} redefines the graph input or a constant"),
                    ));
                }
                if producer.insert(o.as_str(), i).is_some() {
                    return Err(invalid(
                        Some(&label(n, i)),
                        format!("value {o:?} is produced twice"),
                    ));
                }
            }
        }
        // The nodes some output depends on (others are dead and dropped). The outputs
        // are searched last first so that the first output's error is reported first.
        let mut needed = vec![false; graph.node.len()];
        let mut stack: Vec<(&str, Option<usize>)> = self
            .output_names
            .iter()
            .rev()
            .map(|o| (o.as_str(), None))
            .collect();
        while let Some((v, reader)) = stack.pop() {
            if v == self.input_name || v.is_empty() || self.consts.contains_key(v) {
                continue;
            }
            let Some(&i) = producer.get(v) else {
                let at = reader.map(|r| label(&graph.node[r], r));
                let what = match reader {
                    Some(_) => "read".to_string(),
                    None => {
                        let k = self.output_names.iter().position(|o| o == v).unwrap_or(0);
                        format!("graph output {k}")
                    }
                };
                return Err(invalid(
                    at.as_deref(),
                    format!(
                        "value {v:?} ({what}) is neither the input, a constant nor a node output"
                    ),
                ));
            };
            if !needed[i] {
                needed[i] = true;
                stack.extend(graph.node[i].input.iter().map(|x| (x.as_str(), Some(i))));
            }
        }
        let mut indegree = vec![0usize; graph.node.len()];
        let mut readers: Vec<Vec<usize>> = vec![Vec::new(); graph.node.len()];
        for (i, n) in graph.node.iter().enumerate().filter(|(i, _)| needed[*i]) {
            let mut seen = HashSet::new();
            for v in &n.input {
                if let Some(&p) = producer.get(v.as_str())
                    && seen.insert(p)
                {
                    indegree[i] += 1;
                    readers[p].push(i);
                }
            }
        }
        let mut ready: std::collections::BTreeSet<usize> = (0..graph.node.len())
            .filter(|&i| needed[i] && indegree[i] == 0)
            .collect();
        let mut order = Vec::new();
        while let Some(i) = ready.pop_first() {
            order.push(i);
            for &r in &readers[i] {
                indegree[r] -= 1;
                if indegree[r] == 0 {
                    ready.insert(r);
                }
            }
        }
        let total = needed.iter().filter(|&&b| b).count();
        if order.len() != total {
            let stuck = (0..graph.node.len())
                .find(|&i| needed[i] && indegree[i] > 0)
                .map(|i| label(&graph.node[i], i));
            return Err(invalid(
                stuck.as_deref(),
                "the graph has a cycle through this node",
            ));
        }
        Ok(order)
    }

    fn run(self, graph: &'g GraphProto) -> Result<(Model, String, Vec<String>)> {
        let order = self.schedule(graph)?;
        // How many nodes read each value, a graph output counting as one more reader (a
        // bias Add folds only into a value read once: folding into a value that is an
        // output would change that output).
        let mut readers: HashMap<&str, usize> = HashMap::new();
        for &i in &order {
            for v in &graph.node[i].input {
                *readers.entry(v.as_str()).or_default() += 1;
            }
        }
        for o in &self.output_names {
            *readers.entry(o.as_str()).or_default() += 1;
        }
        // The values of ArgMax/Softmax heads, which no node may read.
        let mut head_values: HashSet<&str> = HashSet::new();
        // Every data value: its id (0 the input, k + 1 layer k's output) and shape.
        let mut values: HashMap<&str, (usize, Vec<usize>)> = HashMap::new();
        // An index input is no data value: only a `Gather` of a constant table reads it,
        // and the model's input is its one-hot encoding `[V, L]` (`vocab` once known).
        if !self.index_input {
            values.insert(self.input_name.as_str(), (0, self.input_shape.clone()));
        }
        let mut vocab: Option<usize> = None;
        // Static shape values: integer vectors computed at load time from the data
        // values' shapes (PyTorch's flatten `x.view(x.size(0), -1)`).
        let mut statics: HashMap<&str, Static> = HashMap::new();
        // Value names that name another's value (Identity, Dropout, a folded bias or
        // BatchNormalization): a fold needs the layer's value read once under every name.
        let mut alias_of: HashMap<&str, &str> = HashMap::new();
        let mut layers: Vec<(String, Op, Vec<usize>)> = Vec::new();
        // A `Transpose` (perm [1, 0]) of a constant matrix: its output name → the
        // constant's (a `MatMul` by it is a dense layer with that weight as is).
        let mut const_transposed: HashMap<&str, &str> = HashMap::new();
        // PyTorch's Softsign, `x / (|x| + 1)`: the outputs of its `Abs` and of the `Add`
        // of 1, each naming `x`, until the `Div` that makes it one layer.
        let mut softsign: HashMap<&str, (SoftsignPart, &str)> = HashMap::new();
        let softsign_abs = self.softsign_starts(graph, &order, &readers);
        let mut head = Head::Scores;
        let mut used_names: HashSet<String> = HashSet::new();
        for &i in &order {
            let node = &graph.node[i];
            let lbl = label(node, i);
            if let Some(v) = node.input.iter().find(|v| head_values.contains(v.as_str())) {
                return Err(invalid(
                    Some(&lbl),
                    format!(
                        "reads {v:?}, the output of an ArgMax/Softmax head; the head must be the last node of the first graph output (the client receives its label)"
                    ),
                ));
            }
            if !(node.domain.is_empty() || node.domain == "ai.onnx") {
                return Err(unsupported(node, i));
            }
            if node.op_type == "Split" {
                // Each output a slice of the input along a per-example axis.
                let (v, shape) = values.get(node.input.first().map_or("", String::as_str)).cloned().ok_or_else(|| {
                    invalid(Some(&lbl), "Split of a value that is not a data value (the graph input or a node output)")
                })?;
                let mut attrs = Attrs::new(node, &lbl)?;
                let parts = self.split_parts(node, &lbl, &mut attrs, &shape)?;
                attrs.finish()?;
                for (k, (o, (axis, start, len))) in node.output.iter().zip(parts).enumerate() {
                    if o.is_empty()
                        || (!readers.contains_key(o.as_str()) && !self.output_names.contains(o))
                    {
                        continue;
                    }
                    let m = Remap::slice(&shape, axis, start, len, 1).ok_or_else(|| {
                        invalid(
                            Some(&lbl),
                            format!("split part {k} does not fit [N, {shape:?}]"),
                        )
                    })?;
                    let mut name = format!(
                        "{}_{k}",
                        if node.name.is_empty() {
                            format!("split_{i}")
                        } else {
                            node.name.clone()
                        }
                    );
                    while !used_names.insert(name.clone()) {
                        name.push('_');
                    }
                    let out_shape = m.shape.clone();
                    layers.push((name, Op::Remap(m), vec![v]));
                    values.insert(o.as_str(), (layers.len(), out_shape));
                }
                continue;
            }
            let out = self.single_output(node, &lbl)?;
            if let Some(st) = self.fold_static(node, &lbl, &values, &statics)? {
                if self.output_names.iter().any(|o| o == out) {
                    return Err(invalid(
                        Some(&lbl),
                        format!(
                            "graph output {out:?} is a shape computation, not computed from the input's values"
                        ),
                    ));
                }
                statics.insert(out, st);
                continue;
            }
            let mut name = if node.name.is_empty() {
                format!("{}_{i}", node.op_type.to_lowercase())
            } else {
                node.name.clone()
            };
            while !used_names.insert(name.clone()) {
                name.push('_');
            }
            let mut attrs = Attrs::new(node, &lbl)?;
            if let Some(v) = node
                .input
                .iter()
                .find(|v| softsign.contains_key(v.as_str()))
                && !matches!(node.op_type.as_str(), "Add" | "Div")
            {
                return Err(softsign_refused(&lbl, v));
            }
            let data = |k: usize| -> Result<(usize, Vec<usize>)> {
                let v = node.input.get(k).map_or("", String::as_str);
                values.get(v).cloned().ok_or_else(|| {
                    invalid(
                        Some(&lbl),
                        format!("input {k} ({v:?}) is not a data value (the graph input or a node output)"),
                    )
                })
            };
            // (op, the values it reads), or an alias of a value (no layer).
            let (op, inputs) = match node.op_type.as_str() {
                "Gemm" => {
                    self.expect_data(node, &lbl, 2, 3)?;
                    (self.gemm(node, &lbl, &mut attrs)?, vec![data(0)?.0])
                }
                "MatMul"
                    if node.input.len() == 2
                        && const_transposed.contains_key(node.input[1].as_str()) =>
                {
                    // x · Wᵀ with W: [out, in] — PyTorch's bias-free Linear.
                    let src = const_transposed[node.input[1].as_str()];
                    let w = self.tensor_f32(src, &lbl)?;
                    if w.shape().len() != 2 {
                        return Err(invalid(
                            Some(&lbl),
                            format!(
                                "MatMul by the transpose of {src:?} of shape {:?}; Tessera needs a matrix",
                                w.shape()
                            ),
                        ));
                    }
                    (
                        Op::Dense(Dense {
                            weight: w,
                            bias: None,
                        }),
                        vec![data(0)?.0],
                    )
                }
                "MatMul"
                    if node.input.len() == 2
                        && node.input.iter().all(|v| values.contains_key(v.as_str())) =>
                {
                    // Two activations: a product of secrets.
                    (Op::MatMul, vec![data(0)?.0, data(1)?.0])
                }
                "MatMul" => {
                    self.expect_data(node, &lbl, 2, 2)?;
                    let b = self.tensor_f32(&node.input[1], &lbl)?;
                    let &[inn, out] = b.shape() else {
                        return Err(invalid(
                            Some(&lbl),
                            format!(
                                "MatMul weight {:?} has shape {:?}; Tessera needs a matrix [in, out]",
                                node.input[1],
                                b.shape()
                            ),
                        ));
                    };
                    let w = Tensor::new(
                        vec![out, inn],
                        crate::kernels::transpose(b.data(), inn, out),
                    )?;
                    (
                        Op::Dense(Dense {
                            weight: w,
                            bias: None,
                        }),
                        vec![data(0)?.0],
                    )
                }
                "Add" | "Sub" => match node.input.as_slice() {
                    [a, b]
                        if node.op_type == "Add"
                            && (softsign.contains_key(a.as_str())
                                || softsign.contains_key(b.as_str())) =>
                    {
                        // `|x| + 1` (either order; opset < 7 spells the scalar's
                        // broadcast with attributes).
                        let (abs, c) = if softsign.contains_key(a.as_str()) {
                            (a.as_str(), b.as_str())
                        } else {
                            (b.as_str(), a.as_str())
                        };
                        let is_one = self
                            .consts
                            .contains_key(c)
                            .then(|| self.tensor_f32(c, &lbl))
                            .transpose()?
                            .is_some_and(|t| t.data() == [1.0]);
                        let Some(&(SoftsignPart::Abs, x)) = softsign.get(abs) else {
                            return Err(softsign_refused(&lbl, abs));
                        };
                        if !is_one {
                            return Err(softsign_refused(&lbl, abs));
                        }
                        attrs.int("broadcast", 0)?;
                        attrs.int("axis", 0)?;
                        attrs.finish()?;
                        if readers.get(out) != Some(&1)
                            || self.output_names.iter().any(|o| o == out)
                        {
                            return Err(softsign_refused(&lbl, out));
                        }
                        softsign.insert(out, (SoftsignPart::PlusOne, x));
                        continue;
                    }
                    [a, b]
                        if values.contains_key(a.as_str()) && values.contains_key(b.as_str()) =>
                    {
                        let op = if node.op_type == "Add" {
                            Op::Add
                        } else {
                            Op::Sub
                        };
                        (op, vec![data(0)?.0, data(1)?.0])
                    }
                    [a, b] => {
                        // One constant operand: the bias of the MatMul/bias-free Conv or
                        // of the bias-free constant product whose output it alone reads,
                        // else an element-wise constant layer.
                        let x_first = values.contains_key(a.as_str());
                        let (x, c) = if x_first { (a, b) } else { (b, a) };
                        let (id, shape) = values.get(x.as_str()).cloned().ok_or_else(|| {
                            invalid(
                                Some(&lbl),
                                format!("{} of two constants {a:?} and {b:?}", node.op_type),
                            )
                        })?;
                        let sub = node.op_type == "Sub";
                        let single_reader = sole_reader(&readers, &alias_of, x);
                        let t = self.elementwise_const(c, &shape, &mut attrs, &lbl)?;
                        let folds = !sub
                            && self
                                .fold_bias(
                                    layers.get_mut(id.wrapping_sub(1)),
                                    single_reader,
                                    node,
                                    c,
                                    &lbl,
                                )
                                .is_ok();
                        let t = if sub && x_first { t.map(|v| -v) } else { t };
                        let into_product = match layers.get_mut(id.wrapping_sub(1)) {
                            Some((_, Op::MulConst(m), _))
                                if !folds
                                    && single_reader
                                    && m.bias.is_none()
                                    && (x_first || !sub) =>
                            {
                                m.bias = Some(t.clone());
                                true
                            }
                            _ => false,
                        };
                        if folds || into_product {
                            attrs.finish()?;
                            values.insert(out, (id, shape));
                            alias_of.insert(out, x.as_str());
                            continue;
                        }
                        let negate = sub && !x_first;
                        (Op::AddConst(AddConst { value: t, negate }), vec![id])
                    }
                    _ => {
                        return Err(invalid(
                            Some(&lbl),
                            format!("{} takes two inputs, got {:?}", node.op_type, node.input),
                        ));
                    }
                },
                "BatchNormalization" => {
                    // Inference: `y = s·(x − mean) + beta`, `s = gamma / √(var + ε)`,
                    // folded into the Conv or Gemm/MatMul whose output it alone reads,
                    // else a per-channel affine layer (a depthwise 1×… convolution, or
                    // a diagonal dense layer on `[C]`).
                    self.expect_data(node, &lbl, 5, 5)?;
                    let x = node.input[0].as_str();
                    let (id, shape) = data(0)?;
                    let eps = attrs.float("epsilon", 1e-5)?;
                    let _ = attrs.float("momentum", 0.9)?;
                    let _ = attrs.int("is_test", 1)?;
                    let _ = attrs.int("spatial", 1)?;
                    if attrs.int("training_mode", 0)? != 0 {
                        return Err(invalid(
                            Some(&lbl),
                            "BatchNormalization in training mode; export the model in eval mode",
                        ));
                    }
                    if node.output.iter().skip(1).any(|o| !o.is_empty()) {
                        return Err(invalid(
                            Some(&lbl),
                            "BatchNormalization's running-statistics outputs (training) are not supported",
                        ));
                    }
                    let single_reader = sole_reader(&readers, &alias_of, x);
                    let last = layers.get_mut(id.wrapping_sub(1)).map(|(_, op, _)| op);
                    let folded = match (single_reader, last) {
                        (true, Some(Op::Conv(cv))) => Some((&mut cv.weight, &mut cv.bias)),
                        (true, Some(Op::Dense(d))) => Some((&mut d.weight, &mut d.bias)),
                        _ => None,
                    };
                    if let Some((weight, bias)) = folded {
                        self.fold_batchnorm(weight, bias, node, eps, &lbl)?;
                        attrs.finish()?;
                        values.insert(out, (id, shape));
                        alias_of.insert(out, x);
                        continue;
                    }
                    let mut op = channel_identity(&shape).ok_or_else(|| {
                        invalid(
                            Some(&lbl),
                            format!(
                                "BatchNormalization of an input [N, {shape:?}]: Tessera takes [N, C] or [N, C, …] with 1 to 3 spatial dimensions"
                            ),
                        )
                    })?;
                    match &mut op {
                        Op::Conv(cv) => {
                            self.fold_batchnorm(&mut cv.weight, &mut cv.bias, node, eps, &lbl)?
                        }
                        Op::Dense(d) => {
                            self.fold_batchnorm(&mut d.weight, &mut d.bias, node, eps, &lbl)?
                        }
                        _ => {}
                    }
                    (op, vec![id])
                }
                "Concat" => {
                    let ins = (0..node.input.len())
                        .map(data)
                        .collect::<Result<Vec<_>>>()?;
                    let rank = ins.first().map_or(0, |(_, s)| s.len()) as i64 + 1;
                    let axis = attrs.int("axis", i64::MIN)?;
                    if axis == i64::MIN {
                        return Err(invalid(Some(&lbl), "Concat without an axis"));
                    }
                    let axis = if axis < 0 { axis + rank } else { axis };
                    if axis < 1 || axis >= rank {
                        return Err(invalid(
                            Some(&lbl),
                            format!(
                                "Concat over axis {axis}: Tessera concatenates within an example (axis 1 to {})",
                                rank - 1
                            ),
                        ));
                    }
                    let axis = usize::try_from(axis - 1)
                        .map_err(|_| invalid(Some(&lbl), "Concat axis out of range"))?;
                    (Op::Concat(axis), ins.into_iter().map(|(v, _)| v).collect())
                }
                "Identity" | "Dropout" => {
                    // Inference no-ops: the output names the input's value. Dropout's
                    // optional ratio and training_mode inputs must be constants, and
                    // training_mode false.
                    self.expect_data(node, &lbl, 1, 3)?;
                    if let Some(t) = node.input.get(2).filter(|t| !t.is_empty()) {
                        let on = tensor_i64(self.constant(t, &lbl)?, t, &lbl)
                            .ok()
                            .is_some_and(|v| v.iter().any(|&x| x != 0));
                        if on {
                            return Err(invalid(Some(&lbl), "Dropout in training mode"));
                        }
                    }
                    attrs.float("ratio", 0.5)?;
                    attrs.int("seed", 0)?;
                    attrs.finish()?;
                    let v = data(0)?;
                    values.insert(out, v);
                    alias_of.insert(out, node.input[0].as_str());
                    continue;
                }
                "GlobalAveragePool" | "GlobalMaxPool" => {
                    self.expect_data(node, &lbl, 1, 1)?;
                    let (v, shape) = data(0)?;
                    let spatial = shape.get(1..).unwrap_or_default();
                    let window = Window::unit(spatial.len()).ok_or_else(|| {
                        invalid(
                            Some(&lbl),
                            format!(
                                "{} needs [N, C, …] with 1 to 3 spatial dimensions; its input is [N, {shape:?}]",
                                node.op_type
                            ),
                        )
                    })?;
                    // A pooling whose window is the image (output [C, 1, …], as ONNX).
                    let mut kernel = [1; MAX_RANK];
                    kernel[..spatial.len()].copy_from_slice(spatial);
                    let p = Pool { kernel, window };
                    let op = if node.op_type == "GlobalMaxPool" {
                        Op::MaxPool(p)
                    } else {
                        Op::AvgPool(p)
                    };
                    (op, vec![v])
                }
                "Conv" => {
                    self.expect_data(node, &lbl, 2, 3)?;
                    let (v, shape) = data(0)?;
                    (self.conv(node, &lbl, &mut attrs, &shape)?, vec![v])
                }
                "Relu" => {
                    self.expect_data(node, &lbl, 1, 1)?;
                    (Op::Relu, vec![data(0)?.0])
                }
                "Neg" => {
                    self.expect_data(node, &lbl, 1, 1)?;
                    (Op::Neg, vec![data(0)?.0])
                }
                "Sigmoid" => {
                    self.expect_data(node, &lbl, 1, 1)?;
                    let op = match self.opts.sigmoid {
                        SigmoidKind::Logistic => Op::Sigmoid,
                        SigmoidKind::SecureMl => Op::SecureMlSigmoid,
                    };
                    (op, vec![data(0)?.0])
                }
                "Tanh" | "Softplus" | "Softsign" => {
                    self.expect_data(node, &lbl, 1, 1)?;
                    let op = match node.op_type.as_str() {
                        "Tanh" => Op::Tanh,
                        "Softplus" => Op::Softplus,
                        _ => Op::Softsign,
                    };
                    (op, vec![data(0)?.0])
                }
                "Elu" => {
                    self.expect_data(node, &lbl, 1, 1)?;
                    let e = Elu {
                        alpha: attrs.float("alpha", 1.0)?,
                    };
                    e.check().map_err(|r| invalid(Some(&lbl), r))?;
                    (Op::Elu(e), vec![data(0)?.0])
                }
                "Selu" => {
                    self.expect_data(node, &lbl, 1, 1)?;
                    let d = Selu::default();
                    let e = Selu {
                        alpha: attrs.float("alpha", d.alpha)?,
                        gamma: attrs.float("gamma", d.gamma)?,
                    };
                    e.check().map_err(|r| invalid(Some(&lbl), r))?;
                    (Op::Selu(e), vec![data(0)?.0])
                }
                "LeakyRelu" => {
                    self.expect_data(node, &lbl, 1, 1)?;
                    let l = LeakyRelu {
                        alpha: attrs.float("alpha", 0.01)?,
                    };
                    l.check().map_err(|r| invalid(Some(&lbl), r))?;
                    (Op::LeakyRelu(l), vec![data(0)?.0])
                }
                "PRelu" => {
                    self.expect_data(node, &lbl, 2, 2)?;
                    let (v, shape) = data(0)?;
                    (self.prelu(node, &lbl, &shape)?, vec![v])
                }
                "Abs" => {
                    self.expect_data(node, &lbl, 1, 1)?;
                    let (v, _) = data(0)?;
                    if softsign_abs.contains(out) {
                        // PyTorch's Softsign, `x / (|x| + 1)`: one layer at the `Div`.
                        attrs.finish()?;
                        softsign.insert(out, (SoftsignPart::Abs, node.input[0].as_str()));
                        continue;
                    }
                    (Op::Abs, vec![v])
                }
                "Mul" | "Div"
                    if node.input.len() == 2
                        && node
                            .input
                            .iter()
                            .any(|v| self.consts.contains_key(v.as_str()))
                        && node.input.iter().any(|v| values.contains_key(v.as_str()))
                        && (node.op_type == "Mul"
                            || self.consts.contains_key(node.input[1].as_str())) =>
                {
                    // `x·c`, `c·x` or `x / c` (a product by 1/c).
                    let k = usize::from(!values.contains_key(node.input[0].as_str()));
                    let (id, shape) = data(k)?;
                    let t = self.elementwise_const(&node.input[1 - k], &shape, &mut attrs, &lbl)?;
                    let scale = if node.op_type == "Div" {
                        if t.data().contains(&0.0) {
                            return Err(invalid(Some(&lbl), "Div by a constant holding 0"));
                        }
                        t.map(|v| 1.0 / v)
                    } else {
                        t
                    };
                    (Op::MulConst(MulConst { scale, bias: None }), vec![id])
                }
                "Div" => {
                    let [x, d] = node.input.as_slice() else {
                        return Err(invalid(Some(&lbl), "Div takes two inputs"));
                    };
                    let same_x = |y: &str| {
                        x == y
                            || matches!(
                                (values.get(x.as_str()), values.get(y)),
                                (Some((a, _)), Some((b, _))) if a == b
                            )
                    };
                    match softsign.get(d.as_str()) {
                        Some(&(SoftsignPart::PlusOne, y)) if same_x(y) => {
                            (Op::Softsign, vec![data(0)?.0])
                        }
                        _ if values.contains_key(x.as_str()) && values.contains_key(d.as_str()) => {
                            (Op::Divide, vec![data(0)?.0, data(1)?.0])
                        }
                        _ => {
                            return Err(invalid(
                                Some(&lbl),
                                format!(
                                    "Div of {x:?} by {d:?}: Tessera divides an activation by an activation of one shape (or is Softsign's x / (|x| + 1)); a constant operand is not supported yet"
                                ),
                            ));
                        }
                    }
                }
                "Sign" | "Exp" | "Reciprocal" => {
                    self.expect_data(node, &lbl, 1, 1)?;
                    let op = match node.op_type.as_str() {
                        "Sign" => Op::Sign,
                        "Exp" => Op::Exp,
                        _ => Op::Reciprocal,
                    };
                    (op, vec![data(0)?.0])
                }
                "Clip" => {
                    self.expect_data(node, &lbl, 1, 3)?;
                    let (v, _) = data(0)?;
                    (Op::Clip(self.clip(node, &lbl, &mut attrs)?), vec![v])
                }
                "Max" | "Min" => {
                    let is_max = node.op_type == "Max";
                    let is_data = |v: &String| values.contains_key(v.as_str());
                    match node.input.as_slice() {
                        [a] if is_data(a) => {
                            // The maximum of one value is that value.
                            attrs.finish()?;
                            values.insert(out, data(0)?);
                            alias_of.insert(out, a.as_str());
                            continue;
                        }
                        [a, b] if is_data(a) && is_data(b) => {
                            let op = if is_max { Op::Max } else { Op::Min };
                            (op, vec![data(0)?.0, data(1)?.0])
                        }
                        [a, b] if is_data(a) || is_data(b) => {
                            // With a constant scalar: a Clip with one bound.
                            let (k, c) = if is_data(a) { (0, b) } else { (1, a) };
                            let t = self.tensor_f32(c, &lbl)?;
                            let &[c] = t.data() else {
                                return Err(invalid(
                                    Some(&lbl),
                                    format!(
                                        "{} of an activation and the constant {c:?} of shape {:?}: Tessera takes a constant scalar (a Clip bound)",
                                        node.op_type,
                                        t.shape()
                                    ),
                                ));
                            };
                            let clip = if is_max {
                                Clip {
                                    min: Some(c),
                                    max: None,
                                }
                            } else {
                                Clip {
                                    min: None,
                                    max: Some(c),
                                }
                            };
                            clip.check().map_err(|r| invalid(Some(&lbl), r))?;
                            (Op::Clip(clip), vec![data(k)?.0])
                        }
                        ins => {
                            return Err(invalid(
                                Some(&lbl),
                                format!(
                                    "{} of {ins:?}: Tessera takes two activations of one shape, or an activation and a constant scalar",
                                    node.op_type
                                ),
                            ));
                        }
                    }
                }
                "Mul" => match node.input.as_slice() {
                    [a, b] if a == b && values.contains_key(a.as_str()) => {
                        (Op::Square, vec![data(0)?.0])
                    }
                    [a, b]
                        if values.contains_key(a.as_str()) && values.contains_key(b.as_str()) =>
                    {
                        (Op::Mul, vec![data(0)?.0, data(1)?.0])
                    }
                    [a, b] => {
                        return Err(invalid(
                            Some(&lbl),
                            format!(
                                "Mul of {a:?} by {b:?}: Tessera multiplies two activations of one shape (or x·x), or an activation by a constant"
                            ),
                        ));
                    }
                    _ => return Err(invalid(Some(&lbl), "Mul takes two inputs")),
                },
                "MaxPool" | "AveragePool" => {
                    self.expect_data(node, &lbl, 1, 1)?;
                    let (v, shape) = data(0)?;
                    (pool(node, &lbl, &mut attrs, &shape)?, vec![v])
                }
                "ConvTranspose" => {
                    // A transposed convolution is a convolution of the input spread by
                    // the strides (zeros between neighbours) and padded by
                    // `d·(k − 1) − pad` (plus `output_padding` at the end), with the
                    // kernel flipped and its channel axes swapped per group: one
                    // re-indexing layer, then a stride-1 convolution.
                    self.expect_data(node, &lbl, 2, 3)?;
                    let (v, shape) = data(0)?;
                    let (dilate, conv) = self.conv_transpose(node, &lbl, &mut attrs, &shape)?;
                    let dshape = dilate.shape.clone();
                    let mut pre = format!("{name}_spread");
                    while !used_names.insert(pre.clone()) {
                        pre.push('_');
                    }
                    layers.push((pre, Op::Remap(dilate), vec![v]));
                    // The spread value's shape, under the node's output name until the
                    // convolution's replaces it below.
                    values.insert(out, (layers.len(), dshape));
                    (Op::Conv(conv), vec![layers.len()])
                }
                "Transpose" => {
                    let perm = attrs.ints("perm")?;
                    let x = node.input.first().map_or("", String::as_str);
                    if node.input.len() == 1 && self.consts.contains_key(x) {
                        // A constant: only the [1, 0] transpose of a matrix a MatMul
                        // reads (PyTorch's bias-free Linear).
                        if perm.as_deref().is_some_and(|p| p != [1, 0]) {
                            return Err(invalid(
                                Some(&lbl),
                                format!(
                                    "Transpose of the constant {x:?} with perm {perm:?}: Tessera folds only the [1, 0] transpose of a weight matrix"
                                ),
                            ));
                        }
                        attrs.finish()?;
                        const_transposed.insert(out, x);
                        continue;
                    }
                    self.expect_data(node, &lbl, 1, 1)?;
                    let (v, shape) = data(0)?;
                    let r = shape.len() + 1;
                    let perm: Vec<usize> = match perm {
                        None => (0..r).rev().collect(),
                        Some(p) => p
                            .iter()
                            .map(|&a| {
                                usize::try_from(a)
                                    .map_err(|_| invalid(Some(&lbl), format!("perm {p:?}")))
                            })
                            .collect::<Result<_>>()?,
                    };
                    if perm.first() != Some(&0) {
                        return Err(invalid(
                            Some(&lbl),
                            format!(
                                "Transpose with perm {perm:?} moves the batch dimension; Tessera keeps it first"
                            ),
                        ));
                    }
                    let inner: Vec<usize> = perm[1..].iter().map(|&a| a.wrapping_sub(1)).collect();
                    let m = Remap::transpose(&shape, &inner).ok_or_else(|| {
                        invalid(
                            Some(&lbl),
                            format!("perm {perm:?} is not a permutation of {r} axes"),
                        )
                    })?;
                    (Op::Remap(m), vec![v])
                }
                "Pad" => {
                    let (v, shape) = data(0)?;
                    let mode = match attrs.string("mode")?.as_deref().unwrap_or("constant") {
                        "constant" => PadMode::Constant,
                        "reflect" => PadMode::Reflect,
                        "edge" => PadMode::Edge,
                        other => {
                            return Err(invalid(
                                Some(&lbl),
                                format!(
                                    "Pad mode {other:?}; Tessera supports constant, reflect and edge"
                                ),
                            ));
                        }
                    };
                    // Opset < 11: attributes `pads` and `value`; since 11 inputs.
                    let (pads, value) = match node.input.get(1).filter(|n| !n.is_empty()) {
                        None => (
                            attrs.ints("pads")?.unwrap_or_default(),
                            attrs.float("value", 0.0)?,
                        ),
                        Some(p) => {
                            self.expect_data(node, &lbl, 2, 4)?;
                            if node.input.get(3).is_some_and(|a| !a.is_empty()) {
                                return Err(invalid(Some(&lbl), "Pad with axes is not supported"));
                            }
                            let pads = tensor_i64(self.constant(p, &lbl)?, p, &lbl)?;
                            let value = match node.input.get(2).filter(|n| !n.is_empty()) {
                                Some(c) => {
                                    let t = self.tensor_f32(c, &lbl)?;
                                    t.data().first().copied().unwrap_or(0.0)
                                }
                                None => 0.0,
                            };
                            (pads, value)
                        }
                    };
                    if !value.is_finite() {
                        return Err(invalid(Some(&lbl), format!("Pad with the value {value}")));
                    }
                    let r = shape.len() + 1;
                    if pads.len() != 2 * r
                        || pads.iter().any(|&p| p < 0)
                        || pads[0] != 0
                        || pads[r] != 0
                    {
                        return Err(invalid(
                            Some(&lbl),
                            format!(
                                "pads {pads:?}: need {} non-negative values, none on the batch dimension",
                                2 * r
                            ),
                        ));
                    }
                    let mut inner: Vec<usize> = Vec::with_capacity(2 * r - 2);
                    for &p in pads[1..r].iter().chain(&pads[r + 1..]) {
                        inner.push(dim_usize(p)?);
                    }
                    let m = Remap::pad(&shape, &inner, mode).ok_or_else(|| {
                        invalid(
                            Some(&lbl),
                            format!("pads {pads:?} ({mode:?}) do not fit an input [N, {shape:?}] (reflection needs pads smaller than the dimension), or the result is too large"),
                        )
                    })?;
                    if mode == PadMode::Constant && value != 0.0 {
                        // Zero padding, then the value added at the padded positions.
                        let c: Vec<f32> = m
                            .idx
                            .iter()
                            .map(|i| if i.is_some() { 0.0 } else { value })
                            .collect();
                        let c = Tensor::new(m.shape.clone(), c)?;
                        let mut zeros = format!("{name}_zeros");
                        while !used_names.insert(zeros.clone()) {
                            zeros.push('_');
                        }
                        let padded = m.shape.clone();
                        layers.push((zeros, Op::Remap(m), vec![v]));
                        // The node's output names the zero padding until the sum
                        // replaces it (the sum's input shape is looked up by value).
                        values.insert(out, (layers.len(), padded));
                        (
                            Op::AddConst(AddConst {
                                value: c,
                                negate: false,
                            }),
                            vec![layers.len()],
                        )
                    } else {
                        (Op::Remap(m), vec![v])
                    }
                }
                "Gather"
                    if self.index_input
                        && node.input.get(1).map(String::as_str)
                            == Some(self.input_name.as_str()) =>
                {
                    // An embedding: the client's one-hot `[V, L]` times the table `[V, D]`
                    // — a convolution with one tap, `[D, L]` — then moved to `[…, D]`.
                    if attrs.int("axis", 0)? != 0 {
                        return Err(invalid(
                            Some(&lbl),
                            "Gather of the index input along an axis other than 0",
                        ));
                    }
                    let t = self.tensor_f32(&node.input[0], &lbl)?;
                    let &[v, d] = t.shape() else {
                        return Err(invalid(
                            Some(&lbl),
                            format!(
                                "Gather of the index input from a table of shape {:?}; Tessera takes a constant matrix [V, D]",
                                t.shape()
                            ),
                        ));
                    };
                    if vocab.is_some_and(|w| w != v) || v == 0 || d == 0 {
                        return Err(invalid(
                            Some(&lbl),
                            format!(
                                "an embedding table [{v}, {d}]: the index input's tables must share one vocabulary, non-empty"
                            ),
                        ));
                    }
                    vocab = Some(v);
                    let l: usize = self.input_shape.iter().product();
                    let weight =
                        Tensor::new(vec![d, v, 1], crate::kernels::transpose(t.data(), v, d))?;
                    let window = Window::unit(1).ok_or_else(|| invalid(Some(&lbl), "window"))?;
                    let mut table = format!("{name}_table");
                    while !used_names.insert(table.clone()) {
                        table.push('_');
                    }
                    layers.push((
                        table,
                        Op::Conv(Conv {
                            weight,
                            bias: None,
                            window,
                            groups: 1,
                        }),
                        vec![0],
                    ));
                    values.insert(out, (layers.len(), vec![d, l]));
                    let tr = Remap::transpose(&[d, l], &[1, 0])
                        .ok_or_else(|| invalid(Some(&lbl), "transpose"))?;
                    let mut shape = self.input_shape.clone();
                    shape.push(d);
                    (Op::Remap(Remap { shape, idx: tr.idx }), vec![layers.len()])
                }
                "Slice" => {
                    let (v, shape) = data(0)?;
                    (self.slice(node, &lbl, &mut attrs, &shape)?, vec![v])
                }
                "Squeeze" | "Unsqueeze" => {
                    let (v, shape) = data(0)?;
                    let axes = match node.input.get(1).filter(|n| !n.is_empty()) {
                        Some(a) => {
                            self.expect_data(node, &lbl, 2, 2)?;
                            Some(tensor_i64(self.constant(a, &lbl)?, a, &lbl)?)
                        }
                        None => {
                            self.expect_data(node, &lbl, 1, 1)?;
                            attrs.ints("axes")?
                        }
                    };
                    let target = squeeze(&shape, axes.as_deref(), node.op_type == "Unsqueeze")
                        .ok_or_else(|| {
                            invalid(
                                Some(&lbl),
                                format!(
                                    "{} of [N, {shape:?}] by axes {axes:?}: the axes must exist (size 1 to squeeze) and leave the batch first",
                                    node.op_type
                                ),
                            )
                        })?;
                    (Op::Reshape(target), vec![v])
                }
                "Flatten" => {
                    self.expect_data(node, &lbl, 1, 1)?;
                    let (v, shape) = data(0)?;
                    let rank = shape.len() as i64 + 1;
                    let axis = attrs.int("axis", 1)?;
                    let axis = if axis < 0 { axis + rank } else { axis };
                    if axis != 1 {
                        return Err(invalid(
                            Some(&lbl),
                            format!(
                                "Flatten axis {axis}: Tessera keeps the batch dimension, so only axis 1 is supported"
                            ),
                        ));
                    }
                    (Op::Reshape(vec![shape.iter().product()]), vec![v])
                }
                "Reshape" => {
                    let folded = node.input.get(1).and_then(|n| statics.get(n.as_str()));
                    if folded.is_none() || node.input.len() != 2 {
                        self.expect_data(node, &lbl, 2, 2)?;
                    }
                    let (v, shape) = data(0)?;
                    let target = match folded {
                        // A shape computed from the input's (`x.view(x.size(0), -1)`):
                        // the batch dimension may only stay first, where 0 keeps it.
                        Some(st) => st.reshape_target(&node.input[1], &lbl)?,
                        None => {
                            tensor_i64(self.constant(&node.input[1], &lbl)?, &node.input[1], &lbl)?
                        }
                    };
                    (self.reshape(&lbl, &mut attrs, &shape, target)?, vec![v])
                }
                "Softmax" | "LogSoftmax"
                    if node.op_type == "LogSoftmax"
                        || self.opts.softmax == SoftmaxKind::Layer
                        || data(0).is_ok_and(|(_, sh)| sh.len() != 1)
                        || self.output_names.first().map(String::as_str) != Some(out) =>
                {
                    self.expect_data(node, &lbl, 1, 1)?;
                    let (v, shape) = data(0)?;
                    let rank = shape.len() as i64 + 1;
                    let default_axis = if self.opset < 13 { 1 } else { -1 };
                    let axis = attrs.int("axis", default_axis)?;
                    let axis = if axis < 0 { axis + rank } else { axis };
                    if axis < 1 || axis >= rank {
                        return Err(invalid(
                            Some(&lbl),
                            format!(
                                "{} over axis {axis} of [N, {shape:?}]: Tessera takes it within an example (axis ≥ 1)",
                                node.op_type
                            ),
                        ));
                    }
                    let ax = axis as usize - 1;
                    let log = node.op_type == "LogSoftmax";
                    if self.opset < 13 {
                        // Before opset 13: over the axes from `axis` on, flattened.
                        let len = shape[ax..].iter().product();
                        (Op::Softmax(Softmax { len, log }), vec![v])
                    } else if ax + 1 == shape.len() {
                        (
                            Op::Softmax(Softmax {
                                len: shape[ax],
                                log,
                            }),
                            vec![v],
                        )
                    } else {
                        // Over one inner axis: moved last, and back after.
                        let r = shape.len();
                        let mut perm: Vec<usize> = (0..r).filter(|&i| i != ax).collect();
                        perm.push(ax);
                        let mut back = vec![0; r];
                        for (i, &p) in perm.iter().enumerate() {
                            back[p] = i;
                        }
                        let there = Remap::transpose(&shape, &perm)
                            .ok_or_else(|| invalid(Some(&lbl), "the axis permutation"))?;
                        let moved = there.shape.clone();
                        let home = Remap::transpose(&moved, &back)
                            .ok_or_else(|| invalid(Some(&lbl), "the axis permutation"))?;
                        let mut input = v;
                        for (suffix, op) in [
                            ("axis_last", Op::Remap(there)),
                            (
                                "groups",
                                Op::Softmax(Softmax {
                                    len: shape[ax],
                                    log,
                                }),
                            ),
                        ] {
                            let mut pre = format!("{name}_{suffix}");
                            while !used_names.insert(pre.clone()) {
                                pre.push('_');
                            }
                            layers.push((pre, op, vec![input]));
                            input = layers.len();
                            // Its shape, under the node's output name until the last
                            // layer's replaces it below.
                            values.insert(out, (input, moved.clone()));
                        }
                        (Op::Remap(home), vec![layers.len()])
                    }
                }
                "ArgMax" | "Softmax" => {
                    self.expect_data(node, &lbl, 1, 1)?;
                    let (v, shape) = data(0)?;
                    if shape.len() != 1 {
                        return Err(invalid(
                            Some(&lbl),
                            format!(
                                "{} needs scores [N, K]; its input is [N, {shape:?}]",
                                node.op_type
                            ),
                        ));
                    }
                    let default_axis = if node.op_type == "ArgMax" { 0 } else { -1 };
                    let axis = attrs.int("axis", default_axis)?;
                    if axis != 1 && axis != -1 {
                        return Err(invalid(
                            Some(&lbl),
                            format!(
                                "{} over axis {axis}; Tessera takes it over the classes (axis 1 or -1)",
                                node.op_type
                            ),
                        ));
                    }
                    if self.output_names.first().map(String::as_str) != Some(out) {
                        return Err(invalid(
                            Some(&lbl),
                            format!(
                                "{} is supported only as the head of the first graph output (here {:?}); its output {out:?} is {}",
                                node.op_type,
                                self.output_names.first().map_or("", String::as_str),
                                match self.output_names.iter().position(|o| o == out) {
                                    Some(k) => format!("graph output {k}"),
                                    None => "no graph output".to_string(),
                                }
                            ),
                        ));
                    }
                    if head != Head::Scores {
                        return Err(invalid(Some(&lbl), "a second ArgMax/Softmax head"));
                    }
                    head_values.insert(out);
                    if node.op_type == "ArgMax" {
                        attrs.int("keepdims", 1)?;
                        if attrs.int("select_last_index", 0)? != 0 {
                            return Err(invalid(
                                Some(&lbl),
                                "ArgMax with select_last_index = 1: Tessera picks the first maximal score",
                            ));
                        }
                        head = Head::ArgMax;
                    } else {
                        head = Head::Softmax;
                    }
                    attrs.finish()?;
                    values.insert(out, (v, shape));
                    continue;
                }
                _ => return Err(unsupported(node, i)),
            };
            attrs.finish()?;
            let shapes: Vec<Vec<usize>> = inputs
                .iter()
                .map(|&v| {
                    values
                        .values()
                        .find(|(id, _)| *id == v)
                        .map(|(_, s)| s.clone())
                        .unwrap_or_default()
                })
                .collect();
            let refs: Vec<&[usize]> = shapes.iter().map(Vec::as_slice).collect();
            let shape = op.output_shape_of(&refs, &format!("node {lbl}"))?;
            layers.push((name, op, inputs));
            values.insert(out, (layers.len(), shape));
        }
        if layers.is_empty() {
            return Err(invalid(
                None,
                "the graph computes nothing: every output is its input",
            ));
        }
        let mut outputs = Vec::with_capacity(self.output_names.len());
        for (k, name) in self.output_names.iter().enumerate() {
            let (id, _) = values.get(name.as_str()).ok_or_else(|| {
                invalid(
                    None,
                    format!("graph output {k} {name:?} is not computed by any node"),
                )
            })?;
            outputs.push((name.clone(), *id));
        }
        let model = match (self.index_input, vocab) {
            (false, _) => Model::with_outputs(self.input_shape, layers, outputs, head)?,
            (true, Some(v)) => {
                let l = self.input_shape.iter().product();
                Model::with_outputs(vec![v, l], layers, outputs, head)?.with_index_input(
                    IndexInput {
                        shape: self.input_shape,
                        vocab: v,
                    },
                )?
            }
            (true, None) => {
                return Err(invalid(
                    None,
                    format!(
                        "the integer graph input {:?} is read by no Gather of a constant table (an embedding), the only use of indices Tessera supports",
                        self.input_name
                    ),
                ));
            }
        };
        Ok((model, self.input_name, self.output_names))
    }

    /// Folds a constant `c` added by `node` into the bias of `last`, the layer whose
    /// output it reads, when that is a MatMul or bias-free Conv read only here.
    fn fold_bias(
        &self,
        last: Option<&mut (String, Op, Vec<usize>)>,
        single_reader: bool,
        node: &NodeProto,
        c: &str,
        lbl: &str,
    ) -> Result<()> {
        if !self.consts.contains_key(c) {
            return Err(invalid(
                Some(lbl),
                format!("Add of two constants ({:?})", node.input),
            ));
        }
        match (single_reader, last.map(|(_, op, _)| op)) {
            (true, Some(Op::Dense(d))) if d.bias.is_none() => {
                let b = self.tensor_f32(c, lbl)?;
                let out = d.weight.shape()[0];
                if !(b.shape() == [out] || b.shape() == [1, out]) {
                    return Err(invalid(
                        Some(lbl),
                        format!(
                            "bias {c:?} has shape {:?}; expected [{out}] or [1, {out}]",
                            b.shape()
                        ),
                    ));
                }
                d.bias = Some(Tensor::new(vec![out], b.data().to_vec())?);
                Ok(())
            }
            (true, Some(Op::Conv(cv))) if cv.bias.is_none() => {
                let b = self.tensor_f32(c, lbl)?;
                let o = cv.weight.shape()[0];
                // [O, 1, …] or [1, O, 1, …] with one 1 per spatial dimension.
                let ones = cv.window.rank;
                let fits = |s: &[usize]| {
                    s.first() == Some(&o) && s.len() == ones + 1 && s[1..].iter().all(|&d| d == 1)
                };
                if !(fits(b.shape()) || (b.shape().first() == Some(&1) && fits(&b.shape()[1..]))) {
                    return Err(invalid(
                        Some(lbl),
                        format!(
                            "bias {c:?} has shape {:?}; expected [{o}, 1, …] or [1, {o}, 1, …] ({ones} spatial dimensions)",
                            b.shape()
                        ),
                    ));
                }
                cv.bias = Some(Tensor::new(vec![o], b.data().to_vec())?);
                Ok(())
            }
            _ => Err(invalid(
                Some(lbl),
                "Add of a constant is supported only as the bias of the MatMul or bias-free Conv whose output it alone reads",
            )),
        }
    }

    /// Folds an inference BatchNormalization (`node`: X, scale, B, mean, var) into a
    /// Conv or dense layer's `weight` and `bias`: each output channel's weights times
    /// `s = scale / √(var + ε)`, its bias `(b − mean)·s + B`. Computed in f64, stored
    /// in f32 like every weight.
    fn fold_batchnorm(
        &self,
        weight: &mut Tensor,
        bias: &mut Option<Tensor>,
        node: &NodeProto,
        eps: f32,
        lbl: &str,
    ) -> Result<()> {
        let o = weight.shape()[0];
        let mut p = Vec::with_capacity(4);
        for name in &node.input[1..] {
            let t = self.tensor_f32(name, lbl)?;
            if t.shape() != [o] {
                return Err(invalid(
                    Some(lbl),
                    format!(
                        "BatchNormalization parameter {name:?} has shape {:?}; expected [{o}] (one per channel)",
                        t.shape()
                    ),
                ));
            }
            p.push(t.data().iter().map(|&v| f64::from(v)).collect::<Vec<f64>>());
        }
        let [gamma, beta, mean, var] = p.as_slice() else {
            return Err(invalid(
                Some(lbl),
                "BatchNormalization takes scale, B, mean and var",
            ));
        };
        let mut s = Vec::with_capacity(o);
        for c in 0..o {
            let d = var[c] + f64::from(eps);
            if d.partial_cmp(&0.0) != Some(std::cmp::Ordering::Greater) {
                return Err(invalid(
                    Some(lbl),
                    format!(
                        "BatchNormalization variance + epsilon of channel {c} is {d}, not positive"
                    ),
                ));
            }
            s.push(gamma[c] / d.sqrt());
        }
        let per = weight.len() / o.max(1);
        let w: Vec<f32> = weight
            .data()
            .iter()
            .enumerate()
            .map(|(k, &v)| (f64::from(v) * s[k / per]) as f32)
            .collect();
        let b: Vec<f32> = (0..o)
            .map(|c| {
                let b0 = bias.as_ref().map_or(0.0, |b| f64::from(b.data()[c]));
                ((b0 - mean[c]) * s[c] + beta[c]) as f32
            })
            .collect();
        if w.iter().chain(&b).any(|v| !v.is_finite()) {
            return Err(invalid(
                Some(lbl),
                "BatchNormalization folds to non-finite weights",
            ));
        }
        *weight = Tensor::new(weight.shape().to_vec(), w)?;
        *bias = Some(Tensor::new(vec![o], b)?);
        Ok(())
    }

    fn single_output<'n>(&self, node: &'n NodeProto, lbl: &str) -> Result<&'n str> {
        match node.output.as_slice() {
            [first, rest @ ..] if !first.is_empty() && rest.iter().all(String::is_empty) => {
                Ok(first)
            }
            _ => Err(invalid(
                Some(lbl),
                format!(
                    "Tessera needs exactly one output per node, got {:?}",
                    node.output
                ),
            )),
        }
    }

    /// The outputs of the `Abs` nodes that begin PyTorch's Softsign pattern
    /// `x / (|x| + 1)`: `|x|` read only by an `Add` of the constant 1 (either order),
    /// whose output only a `Div` of `x` (by name) by it reads, neither a graph output.
    /// Any other `Abs` is an [`Op::Abs`] layer.
    fn softsign_starts(
        &self,
        graph: &'g GraphProto,
        order: &[usize],
        readers: &HashMap<&str, usize>,
    ) -> HashSet<&'g str> {
        let mut reader_of: HashMap<&str, &'g NodeProto> = HashMap::new();
        for &i in order {
            for v in &graph.node[i].input {
                reader_of.insert(v.as_str(), &graph.node[i]);
            }
        }
        let sole = |v: &str| -> Option<&'g NodeProto> {
            (readers.get(v) == Some(&1) && !self.output_names.iter().any(|o| o == v))
                .then(|| reader_of.get(v).copied())
                .flatten()
        };
        let is_one = |c: &str| {
            self.consts
                .get(c)
                .and_then(|t| tensor_f32(t, c, "").ok())
                .is_some_and(|t| t.data() == [1.0])
        };
        let mut out = HashSet::new();
        for &i in order {
            let n = &graph.node[i];
            let (Some(x), Some(a)) = (n.input.first(), n.output.first()) else {
                continue;
            };
            if n.op_type != "Abs" || n.input.len() != 1 {
                continue;
            }
            let Some(add) = sole(a).filter(|m| m.op_type == "Add") else {
                continue;
            };
            // Either order (the guard is tried for each alternative).
            let one = matches!(add.input.as_slice(), [p, c] | [c, p] if p == a && is_one(c));
            let Some(d) = add.output.first().filter(|_| one) else {
                continue;
            };
            if sole(d).is_some_and(|div| {
                div.op_type == "Div"
                    && div.input.len() == 2
                    && &div.input[0] == x
                    && &div.input[1] == d
            }) {
                out.insert(a.as_str());
            }
        }
        out
    }

    /// A `Clip`'s bounds: attributes `min`, `max` before opset 11, else the optional
    /// constant scalar inputs 1 and 2; an infinite bound is none.
    fn clip(&self, node: &NodeProto, lbl: &str, attrs: &mut Attrs<'_>) -> Result<Clip> {
        let finite = |v: f32| (!v.is_infinite()).then_some(v);
        let (min, max) = if self.opset < 11 {
            if node.input.len() > 1 {
                return Err(invalid(
                    Some(lbl),
                    format!(
                        "Clip with {} inputs at opset {}: before opset 11 the bounds are the attributes min and max",
                        node.input.len(),
                        self.opset
                    ),
                ));
            }
            (
                finite(attrs.float("min", f32::NEG_INFINITY)?),
                finite(attrs.float("max", f32::INFINITY)?),
            )
        } else {
            let bound = |k: usize| -> Result<Option<f32>> {
                let Some(name) = node.input.get(k).filter(|n| !n.is_empty()) else {
                    return Ok(None);
                };
                let t = self.tensor_f32(name, lbl)?;
                match t.data() {
                    &[v] => Ok(finite(v)),
                    _ => Err(invalid(
                        Some(lbl),
                        format!(
                            "Clip bound {name:?} of shape {:?}: it must be a scalar",
                            t.shape()
                        ),
                    )),
                }
            };
            (bound(1)?, bound(2)?)
        };
        let c = Clip { min, max };
        c.check().map_err(|r| invalid(Some(lbl), r))?;
        Ok(c)
    }

    /// Checks that the node has `min..=max` inputs, the ones after the first being
    /// constants (or empty, i.e. omitted).
    fn expect_data(&self, node: &NodeProto, lbl: &str, min: usize, max: usize) -> Result<()> {
        let n = node.input.len();
        if n < min || n > max {
            return Err(invalid(
                Some(lbl),
                format!("{} inputs; {} takes {min} to {max}", n, node.op_type),
            ));
        }
        for name in &node.input[1..] {
            if !name.is_empty() && !self.consts.contains_key(name.as_str()) {
                return Err(invalid(
                    Some(lbl),
                    format!(
                        "input {name:?} must be a constant (an initializer or a Constant node)"
                    ),
                ));
            }
        }
        Ok(())
    }

    fn constant(&self, name: &str, lbl: &str) -> Result<&'g TensorProto> {
        self.consts.get(name).copied().ok_or_else(|| {
            invalid(
                Some(lbl),
                format!("input {name:?} must be a constant (an initializer or a Constant node)"),
            )
        })
    }

    fn tensor_f32(&self, name: &str, lbl: &str) -> Result<Tensor> {
        tensor_f32(self.constant(name, lbl)?, name, lbl)
    }

    /// `Slice` of an activation of per-example shape `shape` with constant starts,
    /// ends, axes and steps (attributes before opset 10, inputs since): one re-indexing.
    /// Negative indices count from the end, ends beyond the dimension (`INT64_MAX`) are
    /// clamped, any non-zero step (negative too) is taken; the batch axis only whole.
    fn slice(
        &self,
        node: &NodeProto,
        lbl: &str,
        attrs: &mut Attrs<'_>,
        shape: &[usize],
    ) -> Result<Op> {
        let bad = |why: String| invalid(Some(lbl), why);
        let input = |k: usize| -> Result<Option<Vec<i64>>> {
            match node.input.get(k).filter(|n| !n.is_empty()) {
                Some(n) => Ok(Some(tensor_i64(self.constant(n, lbl)?, n, lbl)?)),
                None => Ok(None),
            }
        };
        let (starts, ends, axes, steps) = if self.opset < 10 {
            self.expect_data(node, lbl, 1, 1)?;
            let starts = attrs
                .ints("starts")?
                .ok_or_else(|| bad("Slice without starts".into()))?;
            let ends = attrs
                .ints("ends")?
                .ok_or_else(|| bad("Slice without ends".into()))?;
            (starts, ends, attrs.ints("axes")?, None)
        } else {
            self.expect_data(node, lbl, 3, 5)?;
            let starts = input(1)?.ok_or_else(|| bad("Slice without starts".into()))?;
            let ends = input(2)?.ok_or_else(|| bad("Slice without ends".into()))?;
            (starts, ends, input(3)?, input(4)?)
        };
        let r = shape.len() as i64 + 1;
        let axes = axes.unwrap_or_else(|| (0..starts.len() as i64).collect());
        let steps = steps.unwrap_or_else(|| vec![1; starts.len()]);
        if ends.len() != starts.len() || axes.len() != starts.len() || steps.len() != starts.len() {
            return Err(bad(format!(
                "Slice with {} starts, {} ends, {} axes and {} steps",
                starts.len(),
                ends.len(),
                axes.len(),
                steps.len()
            )));
        }
        let mut cur = shape.to_vec();
        let n0: usize = cur.iter().product();
        let mut m = Remap {
            shape: cur.clone(),
            idx: (0..n0).map(Some).collect(),
        };
        let mut seen = HashSet::new();
        for k in 0..starts.len() {
            let (axis, step) = (axes[k], steps[k]);
            let axis = if axis < 0 { axis + r } else { axis };
            if !(0..r).contains(&axis) || !seen.insert(axis) {
                return Err(bad(format!(
                    "Slice axis {} of an input of rank {r}",
                    axes[k]
                )));
            }
            if step == 0 {
                return Err(bad("Slice with step 0".into()));
            }
            if axis == 0 {
                // The batch: only all of it.
                if step == 1 && starts[k] <= 0 && ends[k] >= i64::from(i32::MAX) {
                    continue;
                }
                return Err(bad(format!(
                    "Slice of the batch dimension ({}:{}:{step}); Tessera slices within an example",
                    starts[k], ends[k]
                )));
            }
            let a = (axis - 1) as usize;
            let n = cur[a];
            let at = slice_positions(n, starts[k], ends[k], step).unwrap_or_default();
            if at.is_empty() {
                return Err(bad(format!(
                    "Slice {}:{}:{step} of axis {axis} (size {n}) is empty",
                    starts[k], ends[k]
                )));
            }
            let t = Remap::take(&cur, a, &at).ok_or_else(|| bad("Slice out of range".into()))?;
            cur = t.shape.clone();
            m = m.then(&t);
        }
        Ok(Op::Remap(m))
    }

    /// The constant operand `c` of an element-wise node (`Add`, `Sub`, `Mul`, `Div`) on
    /// an activation of per-example shape `shape`, reshaped to broadcast to it: leading
    /// ones (the batch) dropped, a scalar as `[1]`; before opset 7 the `broadcast` and
    /// `axis` attributes place it from `axis` on. A constant that would enlarge the
    /// activation or vary over the batch is refused naming the node.
    fn elementwise_const(
        &self,
        c: &str,
        shape: &[usize],
        attrs: &mut Attrs<'_>,
        lbl: &str,
    ) -> Result<Tensor> {
        let t = self.tensor_f32(c, lbl)?;
        let mut dims = t.shape().to_vec();
        attrs.int("broadcast", 0)?;
        let axis = attrs.int("axis", i64::MIN)?;
        let r = shape.len() + 1;
        if axis != i64::MIN && !dims.is_empty() {
            let a = if axis < 0 { axis + r as i64 } else { axis };
            let a = usize::try_from(a)
                .ok()
                .filter(|&a| a + dims.len() <= r)
                .ok_or_else(|| {
                    invalid(
                        Some(lbl),
                        format!("axis {axis} does not place a constant of shape {dims:?} within [N, {shape:?}]"),
                    )
                })?;
            dims.extend(std::iter::repeat_n(1, r - a - dims.len()));
        }
        while dims.len() > shape.len() && dims.first() == Some(&1) {
            dims.remove(0);
        }
        if dims.is_empty() {
            dims.push(1);
        }
        if !broadcasts(&dims, shape) {
            return Err(invalid(
                Some(lbl),
                format!(
                    "constant {c:?} of shape {:?} does not broadcast to the activation [N, {shape:?}] (Tessera takes constants that neither enlarge the activation nor vary over the batch)",
                    t.shape()
                ),
            ));
        }
        Tensor::new(dims, t.data().to_vec())
    }

    /// PRelu of a data value of per-example shape `shape` by the constant slope
    /// `node.input[1]`: its shape broadcast NumPy-style to `[N, …]` (a leading batch
    /// dimension of 1 is dropped), or, before opset 7, a 1-D `[C]` per channel of
    /// `[N, C, …]` (as PyTorch's exports of that time).
    fn prelu(&self, node: &NodeProto, lbl: &str, shape: &[usize]) -> Result<Op> {
        let t = self.tensor_f32(&node.input[1], lbl)?;
        let mut s = t.shape().to_vec();
        if self.opset < 7 && s.len() == 1 && s[0] > 1 && shape.len() > 1 && s[0] == shape[0] {
            s.resize(shape.len(), 1);
        } else if s.len() == shape.len() + 1 {
            if s[0] != 1 {
                return Err(invalid(
                    Some(lbl),
                    format!("slope of shape {:?} varies over the batch", t.shape()),
                ));
            }
            s.remove(0);
        }
        if slope_indices(&s, shape).is_none() {
            return Err(invalid(
                Some(lbl),
                format!(
                    "slope of shape {:?} does not broadcast to the input [N, {}]",
                    t.shape(),
                    shape
                        .iter()
                        .map(usize::to_string)
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            ));
        }
        if let Some(v) = t.data().iter().find(|v| v.is_nan() || v.abs() > MAX_SLOPE) {
            return Err(invalid(
                Some(lbl),
                format!("slope {v}: Tessera supports |slope| ≤ {MAX_SLOPE}"),
            ));
        }
        Ok(Op::PRelu(PRelu {
            slope: Tensor::new(s, t.data().to_vec())?,
        }))
    }

    fn gemm(&self, node: &NodeProto, lbl: &str, attrs: &mut Attrs<'_>) -> Result<Op> {
        let alpha = attrs.float("alpha", 1.0)?;
        let beta = attrs.float("beta", 1.0)?;
        if attrs.int("transA", 0)? != 0 {
            return Err(invalid(Some(lbl), "Gemm with transA = 1 is not supported"));
        }
        let trans_b = attrs.int("transB", 0)? != 0;
        // Opset ≤ 6: `broadcast = 1` lets C broadcast, which the bias rules below allow
        // anyway; `broadcast = 0` needs C of the output's full shape, refused by them.
        let _ = attrs.int("broadcast", 0)?;
        let b = self.tensor_f32(&node.input[1], lbl)?;
        let &[r, c] = b.shape() else {
            return Err(invalid(
                Some(lbl),
                format!("Gemm weight has shape {:?}; expected a matrix", b.shape()),
            ));
        };
        let (out, inn, data) = if trans_b {
            (r, c, b.data().to_vec())
        } else {
            (c, r, crate::kernels::transpose(b.data(), r, c))
        };
        let weight = Tensor::new(vec![out, inn], data.iter().map(|&w| w * alpha).collect())?;
        let bias = match node.input.get(2) {
            Some(name) if !name.is_empty() => {
                let t = self.tensor_f32(name, lbl)?;
                let vals: Vec<f32> = match (t.shape(), t.len()) {
                    (s, n) if (s == [out] || s == [1, out]) && n == out => t.data().to_vec(),
                    (s, 1) if s.len() <= 2 => vec![t.data()[0]; out],
                    (s, _) => {
                        return Err(invalid(
                            Some(lbl),
                            format!(
                                "Gemm bias has shape {s:?}; Tessera takes [{out}], [1, {out}] or a scalar"
                            ),
                        ));
                    }
                };
                Some(Tensor::new(
                    vec![out],
                    vals.iter().map(|&v| v * beta).collect(),
                )?)
            }
            _ => None,
        };
        Ok(Op::Dense(Dense { weight, bias }))
    }

    fn conv(
        &self,
        node: &NodeProto,
        lbl: &str,
        attrs: &mut Attrs<'_>,
        shape: &[usize],
    ) -> Result<Op> {
        let weight = self.tensor_f32(&node.input[1], lbl)?;
        let ws = weight.shape().to_vec();
        let r = ws.len().saturating_sub(2);
        if !(1..=MAX_RANK).contains(&r) {
            return Err(invalid(
                Some(lbl),
                format!(
                    "Conv weight has shape {ws:?}; Tessera supports 1-D, 2-D and 3-D convolution [O, C/group, …kernel]"
                ),
            ));
        }
        let o = ws[0];
        let groups = attrs.int("group", 1)?;
        let groups = usize::try_from(groups)
            .ok()
            .filter(|&g| g > 0)
            .ok_or_else(|| invalid(Some(lbl), format!("Conv group {groups} is not positive")))?;
        let kernel = &ws[2..];
        if let Some(ks) = attrs.ints("kernel_shape")?
            && !ks.iter().map(|&v| v as usize).eq(kernel.iter().copied())
        {
            return Err(invalid(
                Some(lbl),
                format!("kernel_shape {ks:?} does not match the weight's {kernel:?}"),
            ));
        }
        let window = window_attrs(
            attrs,
            lbl,
            kernel,
            shape.get(1..).unwrap_or_default(),
            false,
        )?;
        let bias = match node.input.get(2) {
            Some(name) if !name.is_empty() => Some(self.tensor_f32(name, lbl)?),
            _ => None,
        };
        if let Some(b) = &bias
            && b.shape() != [o]
        {
            return Err(invalid(
                Some(lbl),
                format!("Conv bias has shape {:?}; expected [{o}]", b.shape()),
            ));
        }
        Ok(Op::Conv(Conv {
            weight,
            bias,
            window,
            groups,
        }))
    }

    /// A `Split`'s parts: `(per-example axis, start, length)` per output — sizes from
    /// the `split` attribute (opset < 13) or constant input, else equal parts
    /// (`num_outputs` in opset 18, or the output count).
    fn split_parts(
        &self,
        node: &NodeProto,
        lbl: &str,
        attrs: &mut Attrs<'_>,
        shape: &[usize],
    ) -> Result<Vec<(usize, usize, usize)>> {
        let bad = |why: String| invalid(Some(lbl), why);
        let rank = shape.len() as i64 + 1;
        let axis = attrs.int("axis", 0)?;
        let axis = if axis < 0 { axis + rank } else { axis };
        if axis < 1 || axis >= rank {
            return Err(bad(format!(
                "Split along axis {axis} of [N, {shape:?}]: Tessera splits within an example (axis ≥ 1)"
            )));
        }
        let ax = axis as usize - 1;
        let n = node.output.len();
        let sizes: Vec<usize> = match (
            attrs.ints("split")?,
            node.input.get(1).filter(|s| !s.is_empty()),
        ) {
            (Some(s), _) => s.into_iter().map(dim_usize).collect::<Result<_>>()?,
            (None, Some(name)) => tensor_i64(self.constant(name, lbl)?, name, lbl)?
                .into_iter()
                .map(dim_usize)
                .collect::<Result<_>>()?,
            (None, None) => {
                let k = usize::try_from(attrs.int("num_outputs", n as i64)?).unwrap_or(0);
                if k == 0 || k != n {
                    return Err(bad(format!("Split into {k} parts with {n} outputs")));
                }
                let per = shape[ax].div_ceil(k);
                (0..k)
                    .map(|i| per.min(shape[ax].saturating_sub(i * per)))
                    .collect()
            }
        };
        if sizes.len() != n || sizes.iter().sum::<usize>() != shape[ax] {
            return Err(bad(format!(
                "Split sizes {sizes:?} for {n} outputs do not add up to the axis' {}",
                shape[ax]
            )));
        }
        let mut start = 0;
        Ok(sizes
            .into_iter()
            .map(|len| {
                let part = (ax, start, len);
                start += len;
                part
            })
            .collect())
    }

    /// A `ConvTranspose` as (the input's spreading and padding, the convolution).
    fn conv_transpose(
        &self,
        node: &NodeProto,
        lbl: &str,
        attrs: &mut Attrs<'_>,
        shape: &[usize],
    ) -> Result<(Remap, Conv)> {
        let bad = |why: String| invalid(Some(lbl), why);
        let w = self.tensor_f32(&node.input[1], lbl)?;
        let ws = w.shape().to_vec();
        let r = ws.len().saturating_sub(2);
        if !(1..=MAX_RANK).contains(&r) || shape.len() != r + 1 {
            return Err(bad(format!(
                "ConvTranspose weight {ws:?} on an input [N, {shape:?}]: Tessera supports 1-D to 3-D [C, O/group, …kernel]"
            )));
        }
        let g = usize::try_from(attrs.int("group", 1)?)
            .ok()
            .filter(|&g| g > 0 && shape[0].is_multiple_of(g) && ws[0] == shape[0])
            .ok_or_else(|| {
                bad(format!(
                    "group does not fit the weight {ws:?} and {} input channels",
                    shape[0]
                ))
            })?;
        let kernel = &ws[2..];
        if let Some(ks) = attrs.ints("kernel_shape")?
            && !ks.iter().map(|&v| v as usize).eq(kernel.iter().copied())
        {
            return Err(bad(format!(
                "kernel_shape {ks:?} does not match the weight's {kernel:?}"
            )));
        }
        let list = |name: &'static str,
                    attrs: &mut Attrs<'_>,
                    n: usize,
                    default: usize|
         -> Result<Vec<usize>> {
            match attrs.ints(name)? {
                None => Ok(vec![default; n]),
                Some(v) if v.len() == n && v.iter().all(|&x| x >= 0) => {
                    v.into_iter().map(dim_usize).collect()
                }
                Some(v) => Err(bad(format!("{name} {v:?}: need {n} non-negative values"))),
            }
        };
        let strides = list("strides", attrs, r, 1)?;
        let dilations = list("dilations", attrs, r, 1)?;
        let pads = list("pads", attrs, 2 * r, 0)?;
        let out_pad = list("output_padding", attrs, r, 0)?;
        if strides.contains(&0) || dilations.contains(&0) {
            return Err(bad("strides and dilations must be positive".into()));
        }
        if attrs.ints("output_shape")?.is_some() {
            return Err(bad(
                "ConvTranspose with output_shape is not supported (give pads)".into(),
            ));
        }
        match attrs.string("auto_pad")?.as_deref() {
            None | Some("NOTSET") => {}
            Some(other) => {
                return Err(bad(format!(
                    "ConvTranspose with auto_pad {other:?} is not supported"
                )));
            }
        }
        let mut spread_pads = vec![0; 2 * r];
        for i in 0..r {
            let full = dilations[i] * (kernel[i] - 1);
            let (b, e) = (full.checked_sub(pads[i]), full.checked_sub(pads[r + i]));
            match (b, e) {
                (Some(b), Some(e)) if out_pad[i] < strides[i].max(dilations[i]) => {
                    spread_pads[i] = b;
                    spread_pads[r + i] = e + out_pad[i];
                }
                _ => {
                    return Err(bad(format!(
                        "ConvTranspose pads {pads:?} / output_padding {out_pad:?}: Tessera needs pads ≤ dilation·(kernel − 1) and output_padding < stride"
                    )));
                }
            }
        }
        let spread = Remap::dilate(shape, &strides, &spread_pads)
            .ok_or_else(|| bad(format!("the spread input of [N, {shape:?}] is too large")))?;
        // Kernel [C, O/g, …] → [O, C/g, …], flipped spatially, per group.
        let (c, og) = (ws[0], ws[1]);
        let cg = c / g;
        let taps: usize = kernel.iter().product();
        let src = w.data();
        let mut k = vec![0f32; g * og * cg * taps];
        for gi in 0..g {
            for o in 0..og {
                for ci in 0..cg {
                    for t in 0..taps {
                        let from = ((gi * cg + ci) * og + o) * taps + (taps - 1 - t);
                        k[((gi * og + o) * cg + ci) * taps + t] = src[from];
                    }
                }
            }
        }
        let mut kshape = vec![g * og, cg];
        kshape.extend_from_slice(kernel);
        let bias = match node.input.get(2) {
            Some(name) if !name.is_empty() => {
                let b = self.tensor_f32(name, lbl)?;
                if b.shape() != [g * og] {
                    return Err(bad(format!(
                        "ConvTranspose bias has shape {:?}; expected [{}]",
                        b.shape(),
                        g * og
                    )));
                }
                Some(b)
            }
            _ => None,
        };
        let window = Window::from_lists(&vec![1; r], &dilations, &vec![0; 2 * r], false)
            .ok_or_else(|| bad("the window attributes do not fit together".into()))?;
        Ok((
            spread,
            Conv {
                weight: Tensor::new(kshape, k)?,
                bias,
                window,
                groups: g,
            },
        ))
    }

    fn reshape(
        &self,
        lbl: &str,
        attrs: &mut Attrs<'_>,
        shape: &[usize],
        target: Vec<i64>,
    ) -> Result<Op> {
        let allow_zero = attrs.int("allowzero", 0)? != 0;
        let bad = |why: String| Err(invalid(Some(lbl), why));
        let Some((&first, rest)) = target.split_first() else {
            return bad("Reshape to an empty shape".into());
        };
        // The batch stays first: 0 (copy), -1 (inferred), or the graph's fixed batch.
        let fixed_batch = first > 0 && usize::try_from(first).ok() == self.static_batch;
        if !(first == 0 && !allow_zero || first == -1 || fixed_batch) {
            return bad(format!(
                "Reshape to {target:?}: the first entry must be 0 or -1 (or the graph input's fixed batch size) so that the batch dimension is kept"
            ));
        }
        let total: usize = shape.iter().product();
        let mut dims = Vec::with_capacity(rest.len());
        let mut infer = None;
        for (k, &d) in rest.iter().enumerate() {
            match d {
                0 if !allow_zero => match shape.get(k) {
                    Some(&s) => dims.push(s),
                    None => {
                        return bad(format!(
                            "Reshape entry {} is 0 but the input has no such dimension",
                            k + 1
                        ));
                    }
                },
                -1 if infer.is_none() && first != -1 => {
                    infer = Some(k);
                    dims.push(1);
                }
                d if d > 0 => dims.push(dim_usize(d)?),
                _ => return bad(format!("Reshape to {target:?} is not supported")),
            }
        }
        if let Some(k) = infer {
            let known = checked_numel(&dims).unwrap_or(0);
            if known == 0 || !total.is_multiple_of(known) {
                return bad(format!(
                    "Reshape to {target:?} does not divide {total} values"
                ));
            }
            dims[k] = total / known;
        }
        if (first == -1 || fixed_batch) && checked_numel(&dims) != Some(total) {
            return bad(format!(
                "Reshape to {target:?} would change the batch size (an example has {total} values)"
            ));
        }
        Ok(Op::Reshape(dims))
    }
}

/// Whether the value named `name` is read by exactly one node, also under the names it
/// has through no-op aliases (an Identity of it, a folded bias): a fold into the layer
/// that computes it must not change what any other node reads.
fn sole_reader<'a>(
    readers: &HashMap<&str, usize>,
    alias_of: &HashMap<&'a str, &'a str>,
    mut name: &'a str,
) -> bool {
    loop {
        if readers.get(name) != Some(&1) {
            return false;
        }
        match alias_of.get(name) {
            Some(&up) => name = up,
            None => return true,
        }
    }
}

/// One entry of a static shape value: the (symbolic) batch size or a known integer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Dim {
    Batch,
    Known(i64),
}

/// An integer value known at load time (a scalar or a 1-D vector), made of data
/// shapes: what `Shape`, `Gather`, `Unsqueeze`, `Concat` and `Cast` compute on them.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Static {
    dims: Vec<Dim>,
    scalar: bool,
}

impl Static {
    /// As a `Reshape` target: the batch dimension first becomes 0 (keep it); anywhere
    /// else it cannot be expressed.
    fn reshape_target(&self, name: &str, lbl: &str) -> Result<Vec<i64>> {
        self.dims
            .iter()
            .enumerate()
            .map(|(k, d)| match d {
                Dim::Known(v) => Ok(*v),
                Dim::Batch if k == 0 => Ok(0),
                Dim::Batch => Err(invalid(
                    Some(lbl),
                    format!(
                        "shape {name:?} puts the batch size at position {k}; Tessera keeps it first"
                    ),
                )),
            })
            .collect()
    }
}

impl<'g> Loader<'g> {
    /// An integer input of a shape computation: a static value, or an int64 constant
    /// of rank 0 or 1; `None` if it is neither (a data value, say).
    fn static_input(
        &self,
        name: &str,
        lbl: &str,
        statics: &HashMap<&str, Static>,
    ) -> Result<Option<Static>> {
        if let Some(s) = statics.get(name) {
            return Ok(Some(s.clone()));
        }
        match self.consts.get(name) {
            Some(t) if t.data_type == dt::INT64 && t.dims.len() <= 1 => Ok(Some(Static {
                dims: tensor_i64_of_rank(t, name, lbl, 0)
                    .or_else(|_| tensor_i64(t, name, lbl))?
                    .into_iter()
                    .map(Dim::Known)
                    .collect(),
                scalar: t.dims.is_empty(),
            })),
            _ => Ok(None),
        }
    }

    /// Folds a shape computation at load time: `Shape` of a data value, and `Gather`,
    /// `Unsqueeze`, `Concat`, `Cast` whose inputs are all static. `None` for any other
    /// node (a `Concat` of activations, say), which the caller lowers to a layer.
    fn fold_static(
        &self,
        node: &NodeProto,
        lbl: &str,
        values: &HashMap<&str, (usize, Vec<usize>)>,
        statics: &HashMap<&str, Static>,
    ) -> Result<Option<Static>> {
        let op = node.op_type.as_str();
        if !matches!(op, "Shape" | "Gather" | "Unsqueeze" | "Concat" | "Cast") {
            return Ok(None);
        }
        let bad = |why: String| Err(invalid(Some(lbl), why));
        if op == "Shape" {
            let [x] = node.input.as_slice() else {
                return bad("Shape takes one input".into());
            };
            let Some((_, shape)) = values.get(x.as_str()) else {
                return bad(format!("Shape of {x:?}, which is not a data value"));
            };
            let mut attrs = Attrs::new(node, lbl)?;
            let (start, end) = (attrs.int("start", 0)?, attrs.int("end", i64::MAX)?);
            attrs.finish()?;
            let mut dims = vec![Dim::Batch];
            dims.extend(shape.iter().map(|&d| Dim::Known(d as i64)));
            let r = dims.len() as i64;
            let clamp = |v: i64| (if v < 0 { v + r } else { v }).clamp(0, r) as usize;
            let (a, b) = (clamp(start), clamp(end));
            return Ok(Some(Static {
                dims: dims.get(a..b.max(a)).unwrap_or_default().to_vec(),
                scalar: false,
            }));
        }
        let mut ins = Vec::with_capacity(node.input.len());
        for name in &node.input {
            match self.static_input(name, lbl, statics)? {
                Some(s) => ins.push(s),
                None => return Ok(None),
            }
        }
        let mut attrs = Attrs::new(node, lbl)?;
        let folded = match (op, ins.as_slice()) {
            ("Cast", [x]) => {
                let to = attrs.int("to", dt::INT64.into())?;
                if to != i64::from(dt::INT64) && to != 6 {
                    return bad(format!(
                        "Cast of a shape to type {to}; Tessera folds casts to int32/int64"
                    ));
                }
                x.clone()
            }
            ("Gather", [data, idx]) => {
                if attrs.int("axis", 0)? != 0 || data.scalar {
                    return bad("Gather of a shape: only axis 0 of a 1-D shape".into());
                }
                let n = data.dims.len() as i64;
                let mut dims = Vec::with_capacity(idx.dims.len());
                for d in &idx.dims {
                    let Dim::Known(i) = *d else {
                        return bad("Gather with a batch-sized index".into());
                    };
                    let j = if i < 0 { i + n } else { i };
                    match usize::try_from(j).ok().and_then(|j| data.dims.get(j)) {
                        Some(&v) => dims.push(v),
                        None => return bad(format!("Gather index {i} outside a shape of {n}")),
                    }
                }
                Static {
                    dims,
                    scalar: idx.scalar,
                }
            }
            ("Unsqueeze", [x, rest @ ..]) => {
                let axes = match rest {
                    [] => attrs.ints("axes")?.unwrap_or_default(),
                    [a] => a
                        .dims
                        .iter()
                        .map(|d| match d {
                            Dim::Known(v) => Ok(*v),
                            Dim::Batch => Err(invalid(Some(lbl), "Unsqueeze axes from a shape")),
                        })
                        .collect::<Result<Vec<_>>>()?,
                    _ => return bad("Unsqueeze takes one or two inputs".into()),
                };
                if !x.scalar || axes != [0] {
                    return bad(format!(
                        "Unsqueeze of a shape value over axes {axes:?}: Tessera folds a scalar's axis 0"
                    ));
                }
                Static {
                    dims: x.dims.clone(),
                    scalar: false,
                }
            }
            ("Concat", parts) if !parts.is_empty() => {
                let axis = attrs.int("axis", 0)?;
                if (axis != 0 && axis != -1) || parts.iter().any(|p| p.scalar) {
                    return bad(format!(
                        "Concat of shape values over axis {axis}; they are 1-D"
                    ));
                }
                Static {
                    dims: parts.iter().flat_map(|p| p.dims.iter().copied()).collect(),
                    scalar: false,
                }
            }
            _ => return bad(format!("{op} of shape values with {} inputs", ins.len())),
        };
        attrs.finish()?;
        Ok(Some(folded))
    }
}

fn unsupported(node: &NodeProto, i: usize) -> Error {
    Error::UnsupportedOp {
        op: node.op_type.clone(),
        domain: node.domain.clone(),
        node: if node.name.is_empty() {
            format!("#{i}")
        } else {
            node.name.clone()
        },
        hint: SUPPORTED.to_string(),
    }
}

fn dim_usize(v: i64) -> Result<usize> {
    usize::try_from(v).map_err(|_| invalid(None, format!("dimension {v} is out of range")))
}

/// The window attributes shared by Conv and the pools — strides, dilations,
/// pads/auto_pad (and `ceil_mode` when `ceil` is given) — for a `kernel` over the
/// spatial dimensions `spatial` (1 to 3).
fn window_attrs(
    attrs: &mut Attrs<'_>,
    lbl: &str,
    kernel: &[usize],
    spatial: &[usize],
    ceil_mode: bool,
) -> Result<Window> {
    let bad = |why: String| invalid(Some(lbl), why);
    let r = kernel.len();
    if !(1..=MAX_RANK).contains(&r) || spatial.len() != r {
        return Err(bad(format!(
            "a {r}-D window over an input of {} spatial dimensions: Tessera supports 1-D, 2-D and 3-D windows matching the input",
            spatial.len()
        )));
    }
    let positive = |name: &str, v: Option<Vec<i64>>| -> Result<Vec<usize>> {
        match v {
            None => Ok(vec![1; r]),
            Some(v) if v.len() == r && v.iter().all(|&x| x > 0) => {
                v.into_iter().map(dim_usize).collect()
            }
            Some(v) => Err(bad(format!("{name} {v:?}: need {r} positive values"))),
        }
    };
    let strides = positive("strides", attrs.ints("strides")?)?;
    let dilations = positive("dilations", attrs.ints("dilations")?)?;
    let auto_pad = attrs.string("auto_pad")?.unwrap_or_else(|| "NOTSET".into());
    let explicit = attrs.ints("pads")?;
    let pads: Vec<usize> = match auto_pad.as_str() {
        "NOTSET" => match explicit {
            None => vec![0; 2 * r],
            Some(p) if p.len() == 2 * r && p.iter().all(|&v| v >= 0) => {
                p.into_iter().map(dim_usize).collect::<Result<_>>()?
            }
            Some(p) => {
                return Err(bad(format!(
                    "pads {p:?}: need {} non-negative values",
                    2 * r
                )));
            }
        },
        "VALID" | "SAME_UPPER" | "SAME_LOWER" => {
            if explicit.is_some() {
                return Err(bad(format!(
                    "pads given together with auto_pad = {auto_pad}"
                )));
            }
            let mut pads = vec![0; 2 * r];
            if auto_pad != "VALID" {
                for i in 0..r {
                    let span = (kernel[i] - 1) * dilations[i] + 1;
                    let out = spatial[i].div_ceil(strides[i]);
                    let total =
                        ((out.saturating_sub(1)) * strides[i] + span).saturating_sub(spatial[i]);
                    let (small, large) = (total / 2, total - total / 2);
                    (pads[i], pads[r + i]) = if auto_pad == "SAME_UPPER" {
                        (small, large)
                    } else {
                        (large, small)
                    };
                }
            }
            pads
        }
        other => return Err(bad(format!("auto_pad {other:?} is not supported"))),
    };
    Window::from_lists(&strides, &dilations, &pads, ceil_mode)
        .ok_or_else(|| bad("the window attributes do not fit together".into()))
}

fn pool(node: &NodeProto, lbl: &str, attrs: &mut Attrs<'_>, shape: &[usize]) -> Result<Op> {
    let bad = |why: String| invalid(Some(lbl), why);
    let spatial = shape.get(1..).unwrap_or_default();
    let kernel: Vec<usize> = match attrs.ints("kernel_shape")? {
        Some(k) if (1..=MAX_RANK).contains(&k.len()) && k.iter().all(|&v| v > 0) => {
            k.into_iter().map(dim_usize).collect::<Result<_>>()?
        }
        Some(k) => {
            return Err(bad(format!(
                "kernel_shape {k:?}: Tessera supports 1-D, 2-D and 3-D pooling"
            )));
        }
        None => return Err(bad("kernel_shape is required".into())),
    };
    let ceil = attrs.int("ceil_mode", 0)? != 0;
    let window = window_attrs(attrs, lbl, &kernel, spatial, ceil)?;
    let mut k = [1; MAX_RANK];
    k[..kernel.len()].copy_from_slice(&kernel);
    let p = Pool { kernel: k, window };
    if node.op_type == "MaxPool" {
        if attrs.int("storage_order", 0)? != 0 {
            return Err(bad("storage_order = 1 is not supported".into()));
        }
        if node.output.iter().skip(1).any(|o| !o.is_empty()) {
            return Err(bad("MaxPool's Indices output is not supported".into()));
        }
        Ok(Op::MaxPool(p))
    } else {
        let include = attrs.int("count_include_pad", 0)? != 0;
        if !window.unpadded() && !include {
            return Err(bad(
                "AveragePool with padding needs count_include_pad = 1 (a constant divisor Π kernel)"
                    .into(),
            ));
        }
        if ceil {
            let floor = Window {
                ceil_mode: false,
                ..window
            };
            if floor.output(spatial, &kernel) != window.output(spatial, &kernel) {
                return Err(bad(
                    "AveragePool with ceil_mode = 1 whose last windows run past the input (their divisor would vary) is not supported"
                        .into(),
                ));
            }
        }
        Ok(Op::AvgPool(p))
    }
}

/// The identity on per-example values `[C]` (a diagonal dense layer) or
/// `[C, …spatial]` (a depthwise convolution with a kernel of one tap), into which a
/// standalone BatchNormalization folds: a per-channel affine layer.
fn channel_identity(shape: &[usize]) -> Option<Op> {
    let (&c, spatial) = shape.split_first()?;
    if spatial.is_empty() {
        let eye = (0..c * c)
            .map(|k| if k % (c + 1) == 0 { 1.0 } else { 0.0 })
            .collect();
        return Some(Op::Dense(Dense {
            weight: Tensor::new(vec![c, c], eye).ok()?,
            bias: None,
        }));
    }
    let window = Window::unit(spatial.len())?;
    let mut ws = vec![c, 1];
    ws.extend(std::iter::repeat_n(1, spatial.len()));
    Some(Op::Conv(Conv {
        weight: Tensor::new(ws, vec![1.0; c]).ok()?,
        bias: None,
        window,
        groups: c,
    }))
}

/// The per-example shape after ONNX `Squeeze` (`unsqueeze` false) or `Unsqueeze` of
/// `[N, shape…]` by `axes` (counted with the batch, negative from the end); `None` if
/// an axis is the batch's, out of range, repeated, or (squeeze) not of size 1.
fn squeeze(shape: &[usize], axes: Option<&[i64]>, unsqueeze: bool) -> Option<Vec<usize>> {
    let rank = shape.len() + 1 + if unsqueeze { axes?.len() } else { 0 };
    let norm = |a: i64| -> Option<usize> {
        let a = if a < 0 { a + rank as i64 } else { a };
        usize::try_from(a).ok().filter(|&a| a >= 1 && a < rank)
    };
    if unsqueeze {
        let mut axes: Vec<usize> = axes?.iter().map(|&a| norm(a)).collect::<Option<_>>()?;
        axes.sort_unstable();
        if axes.windows(2).any(|w| w[0] == w[1]) {
            return None;
        }
        let mut out = Vec::with_capacity(rank - 1);
        let mut src = shape.iter();
        for i in 1..rank {
            if axes.binary_search(&i).is_ok() {
                out.push(1);
            } else {
                out.push(*src.next()?);
            }
        }
        Some(out)
    } else {
        let drop: Vec<usize> = match axes {
            Some(a) => a.iter().map(|&a| norm(a)).collect::<Option<_>>()?,
            None => (1..rank).filter(|&i| shape[i - 1] == 1).collect(),
        };
        if drop.iter().any(|&a| shape[a - 1] != 1) {
            return None;
        }
        Some(
            (1..rank)
                .filter(|i| !drop.contains(i))
                .map(|i| shape[i - 1])
                .collect(),
        )
    }
}

/// Checked element count of an initializer.
/// An int64 tensor computed at load time: shape and row-major values.
type IntTensor = (Vec<usize>, Vec<i64>);

/// Folds integer computations on constants into initializers before loading: the pads
/// PyTorch's exporter computes for `F.pad` at opset ≥ 11 (`ConstantOfShape`, `Concat`,
/// `Reshape`, `Slice` with a negative step, `Transpose`, `Cast` to int64), so the
/// `Pad` reading them sees a constant. Only int64 tensors whose every input is such a
/// constant fold; a node that does not fold stays (and is refused, naming it, if it
/// is not otherwise supported).
fn fold_int_constants(graph: &mut GraphProto) {
    let int_of = |t: &TensorProto| -> Option<IntTensor> {
        if t.data_type != dt::INT64 {
            return None;
        }
        let (dims, n) = numel(t, &t.name, "").ok()?;
        let v = tensor_i64_of_rank(t, &t.name, "", usize::MAX).ok()?;
        (v.len() == n).then_some((dims, v))
    };
    let mut known: HashMap<String, IntTensor> = HashMap::new();
    for t in &graph.initializer {
        if let Some(v) = int_of(t) {
            known.insert(t.name.clone(), v);
        }
    }
    for n in &graph.node {
        if let ("Constant", [out], [a]) = (
            n.op_type.as_str(),
            n.output.as_slice(),
            n.attribute.as_slice(),
        ) && a.name == "value"
            && let Some(v) = a.t.as_ref().and_then(int_of)
        {
            known.insert(out.clone(), v);
        }
    }
    let mut folded: HashSet<usize> = HashSet::new();
    loop {
        let mut added = false;
        for (i, n) in graph.node.iter().enumerate() {
            let [out] = n.output.as_slice() else {
                continue;
            };
            if known.contains_key(out) || !(n.domain.is_empty() || n.domain == "ai.onnx") {
                continue;
            }
            let ins: Option<Vec<Option<&IntTensor>>> = n
                .input
                .iter()
                .map(|v| {
                    if v.is_empty() {
                        Some(None)
                    } else {
                        known.get(v).map(Some)
                    }
                })
                .collect();
            let Some(ins) = ins else {
                continue;
            };
            if let Some(v) = fold_int_node(n, &ins) {
                known.insert(out.clone(), v);
                folded.insert(i);
                added = true;
            }
        }
        if !added {
            break;
        }
    }
    let mut order: Vec<usize> = folded.iter().copied().collect();
    order.sort_unstable();
    for i in order {
        let out = &graph.node[i].output[0];
        if let Some((dims, v)) = known.get(out) {
            graph.initializer.push(TensorProto {
                name: out.clone(),
                dims: dims.iter().map(|&d| d as i64).collect(),
                data_type: dt::INT64,
                int64_data: v.clone(),
                ..TensorProto::default()
            });
        }
    }
    let mut k = 0;
    graph.node.retain(|_| {
        k += 1;
        !folded.contains(&(k - 1))
    });
}

/// Row-major strides of `shape`.
fn strides_of(shape: &[usize]) -> Vec<usize> {
    let mut st = vec![1usize; shape.len()];
    for i in (0..shape.len().saturating_sub(1)).rev() {
        st[i] = st[i + 1] * shape[i + 1];
    }
    st
}

/// The values of `x` at every combination of the per-axis coordinates `coords[a]`
/// read through the strides `st` (row-major over the combinations).
fn gather_coords(x: &[i64], st: &[usize], coords: &[Vec<usize>]) -> IntTensor {
    let shape: Vec<usize> = coords.iter().map(Vec::len).collect();
    let count: usize = shape.iter().product();
    let mut out = Vec::with_capacity(count);
    let mut pos = vec![0usize; shape.len()];
    for _ in 0..count {
        out.push(
            x[(0..shape.len())
                .map(|a| coords[a][pos[a]] * st[a])
                .sum::<usize>()],
        );
        for a in (0..shape.len()).rev() {
            pos[a] += 1;
            if pos[a] < shape[a] {
                break;
            }
            pos[a] = 0;
        }
    }
    (shape, out)
}

/// One integer node on constant inputs (`None` in `ins`: an absent optional input), or
/// `None` if it is not one that folds.
fn fold_int_node(n: &NodeProto, ins: &[Option<&IntTensor>]) -> Option<IntTensor> {
    let attr = |name: &str| n.attribute.iter().find(|a| a.name == name);
    let small = |s: &[usize]| {
        s.iter()
            .try_fold(1usize, |a, &d| a.checked_mul(d))
            .filter(|&t| t <= 1 << 20)
    };
    match (n.op_type.as_str(), ins) {
        ("ConstantOfShape", [Some((s, shape))]) if s.len() == 1 => {
            let t = attr("value").and_then(|a| a.t.as_ref())?;
            let value = *tensor_i64_of_rank(t, "value", "", usize::MAX)
                .ok()?
                .first()?;
            let dims: Vec<usize> = shape
                .iter()
                .map(|&d| usize::try_from(d).ok())
                .collect::<Option<_>>()?;
            let count = small(&dims)?;
            Some((dims, vec![value; count]))
        }
        ("Cast", [Some(x)]) if attr("to").map(|a| a.i) == Some(i64::from(dt::INT64)) => {
            Some((*x).clone())
        }
        ("Concat", xs) if !xs.is_empty() => {
            let xs: Vec<&IntTensor> = xs.iter().copied().collect::<Option<_>>()?;
            let r = xs[0].0.len();
            let axis = attr("axis")?.i;
            let axis = usize::try_from(if axis < 0 { axis + r as i64 } else { axis })
                .ok()
                .filter(|&a| a < r)?;
            let fits = |x: &&IntTensor| {
                x.0.len() == r && (0..r).all(|a| a == axis || x.0[a] == xs[0].0[a])
            };
            if !xs.iter().all(fits) {
                return None;
            }
            let outer: usize = xs[0].0[..axis].iter().product();
            let mut shape = xs[0].0.clone();
            shape[axis] = xs.iter().map(|x| x.0[axis]).sum();
            let mut out = Vec::new();
            for o in 0..outer {
                for x in &xs {
                    let inner: usize = x.0[axis..].iter().product();
                    out.extend_from_slice(x.1.get(o * inner..(o + 1) * inner)?);
                }
            }
            Some((shape, out))
        }
        ("Reshape", [Some(x), Some((_, target))]) => {
            let count = x.1.len();
            let mut dims = Vec::with_capacity(target.len());
            let mut infer = None;
            for (k, &t) in target.iter().enumerate() {
                match t {
                    0 => dims.push(*x.0.get(k)?),
                    -1 if infer.is_none() => {
                        infer = Some(k);
                        dims.push(1);
                    }
                    t if t > 0 => dims.push(usize::try_from(t).ok()?),
                    _ => return None,
                }
            }
            let rest: usize = dims.iter().product();
            if let Some(k) = infer {
                if rest == 0 || !count.is_multiple_of(rest) {
                    return None;
                }
                dims[k] = count / rest;
            }
            (dims.iter().product::<usize>() == count).then(|| (dims, x.1.clone()))
        }
        ("Transpose", [Some(x)]) => {
            let r = x.0.len();
            let perm: Vec<usize> = match attr("perm") {
                Some(a) => a
                    .ints
                    .iter()
                    .map(|&p| usize::try_from(p).ok())
                    .collect::<Option<_>>()?,
                None => (0..r).rev().collect(),
            };
            let mut seen = vec![false; r];
            if perm.len() != r
                || perm
                    .iter()
                    .any(|&p| p >= r || std::mem::replace(&mut seen[p], true))
            {
                return None;
            }
            // Output axis i runs over input axis perm[i].
            let st = strides_of(&x.0);
            let pst: Vec<usize> = perm.iter().map(|&p| st[p]).collect();
            let coords: Vec<Vec<usize>> = perm.iter().map(|&p| (0..x.0[p]).collect()).collect();
            Some(gather_coords(&x.1, &pst, &coords))
        }
        ("Slice", [Some(x), Some((_, starts)), Some((_, ends)), rest @ ..]) if rest.len() <= 2 => {
            let r = x.0.len() as i64;
            let axes: Vec<i64> = match rest.first() {
                Some(Some((_, a))) => a.clone(),
                _ => (0..starts.len() as i64).collect(),
            };
            let steps: Vec<i64> = match rest.get(1) {
                Some(Some((_, s))) => s.clone(),
                _ => vec![1; starts.len()],
            };
            if ends.len() != starts.len()
                || axes.len() != starts.len()
                || steps.len() != starts.len()
            {
                return None;
            }
            let mut coords: Vec<Vec<usize>> = x.0.iter().map(|&d| (0..d).collect()).collect();
            for k in 0..starts.len() {
                let a = usize::try_from(if axes[k] < 0 { axes[k] + r } else { axes[k] })
                    .ok()
                    .filter(|&a| (a as i64) < r)?;
                coords[a] = slice_positions(x.0[a], starts[k], ends[k], steps[k])?;
            }
            Some(gather_coords(&x.1, &strides_of(&x.0), &coords))
        }
        _ => None,
    }
}

/// The positions ONNX `Slice` takes along an axis of `n`: `start` and `end` counted
/// from the end when negative and clamped, every `step`-th (negative: backwards);
/// `None` for step 0.
fn slice_positions(n: usize, start: i64, end: i64, step: i64) -> Option<Vec<usize>> {
    if step == 0 {
        return None;
    }
    let n = i64::try_from(n).ok()?;
    let norm = |v: i64| if v < 0 { v.saturating_add(n) } else { v };
    let (lo, hi) = if step > 0 { (0, n) } else { (-1, n - 1) };
    let (start, end) = (norm(start).clamp(lo.max(0), hi), norm(end).clamp(lo, hi));
    let mut at = Vec::new();
    let mut i = start;
    while (step > 0 && i < end) || (step < 0 && i > end) {
        at.push(usize::try_from(i).ok()?);
        i = i.saturating_add(step);
    }
    Some(at)
}

fn numel(t: &TensorProto, name: &str, lbl: &str) -> Result<(Vec<usize>, usize)> {
    let mut dims = Vec::with_capacity(t.dims.len());
    for &d in &t.dims {
        if d < 0 {
            return Err(invalid(
                Some(lbl),
                format!("tensor {name:?} has negative dimension {d}"),
            ));
        }
        dims.push(dim_usize(d)?);
    }
    let n = checked_numel(&dims).ok_or_else(|| {
        invalid(
            Some(lbl),
            format!("tensor {name:?} of shape {dims:?} is too large"),
        )
    })?;
    if t.data_location != 0 || !t.external_data.is_empty() {
        return Err(invalid(
            Some(lbl),
            format!(
                "tensor {name:?} keeps its data in an external file; Tessera reads only embedded data"
            ),
        ));
    }
    Ok((dims, n))
}

fn tensor_f32(t: &TensorProto, name: &str, lbl: &str) -> Result<Tensor> {
    let (dims, n) = numel(t, name, lbl)?;
    if t.data_type != dt::FLOAT {
        return Err(invalid(
            Some(lbl),
            format!(
                "tensor {name:?} has data type {}; Tessera reads float32 (1) weights",
                t.data_type
            ),
        ));
    }
    let data = if !t.raw_data.is_empty() {
        if !t.float_data.is_empty() || Some(t.raw_data.len()) != n.checked_mul(4) {
            return Err(invalid(
                Some(lbl),
                format!(
                    "tensor {name:?}: {} raw bytes for {n} float32 values",
                    t.raw_data.len()
                ),
            ));
        }
        t.raw_data
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect()
    } else if t.float_data.len() == n {
        t.float_data.clone()
    } else {
        return Err(invalid(
            Some(lbl),
            format!(
                "tensor {name:?}: {} values for shape {dims:?}",
                t.float_data.len()
            ),
        ));
    };
    Tensor::new(dims, data)
}

fn tensor_i64(t: &TensorProto, name: &str, lbl: &str) -> Result<Vec<i64>> {
    tensor_i64_of_rank(t, name, lbl, 1)
}

/// An int64 tensor of rank 0 or 1 (at most `max_rank`), flat.
fn tensor_i64_of_rank(t: &TensorProto, name: &str, lbl: &str, max_rank: usize) -> Result<Vec<i64>> {
    let (dims, n) = numel(t, name, lbl)?;
    if t.data_type != dt::INT64 || dims.len() > max_rank || (max_rank == 1 && dims.len() != 1) {
        return Err(invalid(
            Some(lbl),
            format!(
                "shape tensor {name:?} must be a 1-D int64 (7) tensor, got type {} shape {dims:?}",
                t.data_type
            ),
        ));
    }
    if !t.raw_data.is_empty() {
        if !t.int64_data.is_empty() || Some(t.raw_data.len()) != n.checked_mul(8) {
            return Err(invalid(
                Some(lbl),
                format!(
                    "tensor {name:?}: {} raw bytes for {n} int64 values",
                    t.raw_data.len()
                ),
            ));
        }
        Ok(t.raw_data
            .chunks_exact(8)
            .map(|c| i64::from_le_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]]))
            .collect())
    } else if t.int64_data.len() == n {
        Ok(t.int64_data.clone())
    } else {
        Err(invalid(
            Some(lbl),
            format!(
                "tensor {name:?}: {} values for shape {dims:?}",
                t.int64_data.len()
            ),
        ))
    }
}

/// A node's attributes, each read at most once; [`Attrs::finish`] rejects the ones
/// the loader did not read (an attribute Tessera does not implement must not be
/// ignored silently).
struct Attrs<'n> {
    lbl: String,
    attrs: HashMap<&'n str, &'n AttributeProto>,
    read: HashSet<&'n str>,
}

impl<'n> Attrs<'n> {
    fn new(node: &'n NodeProto, lbl: &str) -> Result<Self> {
        let mut attrs = HashMap::new();
        for a in &node.attribute {
            if !a.ref_attr_name.is_empty() {
                return Err(invalid(
                    Some(lbl),
                    format!("attribute {:?} refers to a function attribute", a.name),
                ));
            }
            if attrs.insert(a.name.as_str(), a).is_some() {
                return Err(invalid(
                    Some(lbl),
                    format!("attribute {:?} appears twice", a.name),
                ));
            }
        }
        Ok(Attrs {
            lbl: lbl.to_string(),
            attrs,
            read: HashSet::new(),
        })
    }

    fn get(
        &mut self,
        name: &'static str,
        ty: i32,
        ty_name: &str,
    ) -> Result<Option<&'n AttributeProto>> {
        let Some(&a) = self.attrs.get(name) else {
            return Ok(None);
        };
        self.read.insert(name);
        if a.r#type != ty {
            return Err(invalid(
                Some(&self.lbl),
                format!(
                    "attribute {name:?} has type {}, expected {ty_name}",
                    a.r#type
                ),
            ));
        }
        Ok(Some(a))
    }

    fn int(&mut self, name: &'static str, default: i64) -> Result<i64> {
        Ok(self.get(name, at::INT, "INT")?.map_or(default, |a| a.i))
    }

    fn float(&mut self, name: &'static str, default: f32) -> Result<f32> {
        Ok(self.get(name, at::FLOAT, "FLOAT")?.map_or(default, |a| a.f))
    }

    fn ints(&mut self, name: &'static str) -> Result<Option<Vec<i64>>> {
        Ok(self.get(name, at::INTS, "INTS")?.map(|a| a.ints.clone()))
    }

    fn string(&mut self, name: &'static str) -> Result<Option<String>> {
        match self.get(name, at::STRING, "STRING")? {
            None => Ok(None),
            Some(a) => String::from_utf8(a.s.clone())
                .map(Some)
                .map_err(|_| invalid(Some(&self.lbl), format!("attribute {name:?} is not UTF-8"))),
        }
    }

    fn finish(self) -> Result<()> {
        let mut unread: Vec<&str> = self
            .attrs
            .keys()
            .filter(|k| !self.read.contains(*k))
            .copied()
            .collect();
        unread.sort_unstable();
        match unread.first() {
            None => Ok(()),
            Some(_) => Err(invalid(
                Some(&self.lbl),
                format!("attribute(s) {unread:?} are not supported for this operator"),
            )),
        }
    }
}
