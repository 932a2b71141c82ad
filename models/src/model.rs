//! Tessera's own model description: a DAG of layers with shapes and `f32` weights.
//!
//! A [`Model`] is what every interpreter runs — the float reference
//! ([`crate::float`]), the plaintext fixed-point reference ([`crate::fixed`]) and,
//! later, the secure execution — so they cannot drift apart (one description,
//! several interpreters). It is built from ONNX by [`crate::onnx::load_onnx`] or in
//! code by [`Model::new`], which infers and checks every shape.
//!
//! Shapes are **per example**: the batch dimension is implicit and always first, so
//! a model with input shape `[1, 28, 28]` runs on batches `[N, 1, 28, 28]`. Tensors
//! are row-major.
//!
//! # The graph
//! Values are numbered: value 0 is the model's input, value `i + 1` the output of
//! layer `i`. Every layer reads one or more earlier values ([`Layer::inputs`]; `Add`,
//! `Sub` and `Concat` read several), so layers are stored in a topological order and
//! a value may be read by several layers (fan-out, skip connections). The model's
//! output is the last layer's output, of any shape; every other layer's output is read
//! by some layer (the loader drops dead nodes). The predicted label of an example is
//! the index of the largest output value (the first one on ties), whatever the
//! [`Head`]; an `ArgMax` or `Softmax` head needs a vector output `[K]`.

use std::fmt;

use crate::{Error, Result};

/// A dense `f32` tensor with a shape (row-major).
///
/// Its `Debug` output shows the shape only: weights are the model owner's secret
/// in a secure run and are never printed.
#[derive(Clone, PartialEq)]
pub struct Tensor {
    shape: Vec<usize>,
    data: Vec<f32>,
}

impl fmt::Debug for Tensor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Tensor({:?}, {} values)", self.shape, self.data.len())
    }
}

impl Tensor {
    /// A tensor of `shape` holding `data` in row-major order.
    ///
    /// # Errors
    /// [`Error::Shape`] if `data.len()` is not the product of `shape`.
    pub fn new(shape: Vec<usize>, data: Vec<f32>) -> Result<Self> {
        match checked_numel(&shape) {
            Some(n) if n == data.len() => Ok(Tensor { shape, data }),
            _ => Err(Error::shape(
                "tensor",
                format!("{} values do not fill shape {shape:?}", data.len()),
            )),
        }
    }

    /// The shape.
    pub fn shape(&self) -> &[usize] {
        &self.shape
    }

    /// The values, row-major.
    pub fn data(&self) -> &[f32] {
        &self.data
    }

    /// The number of values.
    pub fn len(&self) -> usize {
        self.data.len()
    }

    /// Whether the tensor has no values.
    pub fn is_empty(&self) -> bool {
        self.data.is_empty()
    }
}

/// The most values one example may have at any layer (2^26): a sanity limit that keeps
/// a hostile model from requesting huge buffers.
pub const MAX_VALUES: usize = 1 << 26;
/// The most multiply-adds or comparisons one layer may do per example (2^32).
pub const MAX_WORK: u64 = 1 << 32;

/// The product of `shape`, or `None` on overflow.
pub(crate) fn checked_numel(shape: &[usize]) -> Option<usize> {
    shape.iter().try_fold(1usize, |a, &d| a.checked_mul(d))
}

/// A fully connected layer `y = W·x + b` (ONNX `Gemm`, or `MatMul` + `Add`).
#[derive(Clone, Debug, PartialEq)]
pub struct Dense {
    /// The weight, `[out, in]` (PyTorch's layout; ONNX `Gemm` with `transB = 1`).
    pub weight: Tensor,
    /// The bias, `[out]`, if any.
    pub bias: Option<Tensor>,
}

/// A 2-D convolution (cross-correlation, ONNX `Conv` with `group = 1`,
/// `dilations = 1`).
#[derive(Clone, Debug, PartialEq)]
pub struct Conv2d {
    /// The kernel, `[out_channels, in_channels, kh, kw]`.
    pub weight: Tensor,
    /// The bias, `[out_channels]`, if any.
    pub bias: Option<Tensor>,
    /// Strides `[sh, sw]` (each ≥ 1).
    pub strides: [usize; 2],
    /// Zero padding `[top, left, bottom, right]` (ONNX order
    /// `[y_begin, x_begin, y_end, x_end]`).
    pub pads: [usize; 4],
}

impl Conv2d {
    /// `(stride, padding)` when both strides are equal and all four pads are equal —
    /// the form of `tessera_protocols::Conv2dParams`, the A-sharing's convolution.
    pub fn symmetric(&self) -> Option<(usize, usize)> {
        let [s0, s1] = self.strides;
        let p = self.pads[0];
        (s0 == s1 && self.pads.iter().all(|&q| q == p)).then_some((s0, p))
    }
}

/// The window of a 2-D pooling layer.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Pool2d {
    /// Window `[kh, kw]` (each ≥ 1).
    pub kernel: [usize; 2],
    /// Strides `[sh, sw]` (each ≥ 1).
    pub strides: [usize; 2],
    /// Padding `[top, left, bottom, right]`: ignored by max pooling (as ONNX's −∞
    /// padding; each pad must be smaller than the window), zeros counted in the
    /// divisor by average pooling (ONNX `count_include_pad = 1`).
    pub pads: [usize; 4],
}

/// What a layer computes.
#[derive(Clone, Debug, PartialEq)]
pub enum Op {
    /// Fully connected layer, input `[in]` → `[out]`.
    Dense(Dense),
    /// 2-D convolution, input `[C, H, W]` → `[O, OH, OW]`.
    Conv2d(Conv2d),
    /// `max(x, 0)`.
    Relu,
    /// Max pooling, input `[C, H, W]` → `[C, OH, OW]`.
    MaxPool(Pool2d),
    /// Average pooling with a constant divisor `kh·kw`, input `[C, H, W]` →
    /// `[C, OH, OW]`.
    AvgPool(Pool2d),
    /// A new per-example shape of the same size (ONNX `Flatten` with `axis = 1`, or
    /// `Reshape` keeping the batch dimension). Moves no data.
    Reshape(Vec<usize>),
    /// SecureML's piecewise-linear sigmoid (Mohassel–Zhang, S&P 2017, §4.3), which
    /// replaces ONNX `Sigmoid`: `0` for `x < −1/2`, `x + 1/2` for `−1/2 ≤ x ≤ 1/2`,
    /// `1` for `x > 1/2`, i.e. `clamp(x + 1/2, 0, 1)`. It is not the logistic
    /// function: `|σ(x) − clamp(x + 1/2, 0, 1)|` reaches 0.12 (at `|x| = 1/2`).
    Sigmoid,
    /// The square activation `x·x` of CryptoNets (ONNX `Mul` of a tensor by itself).
    Square,
    /// The element-wise sum of two values of one shape (ONNX `Add` of two activations:
    /// a residual connection).
    Add,
    /// The element-wise difference of two values of one shape (ONNX `Sub`).
    Sub,
    /// The concatenation of several values along a per-example axis (ONNX `Concat`
    /// with `axis − 1`); the other dimensions must agree.
    Concat(usize),
}

impl Op {
    /// A short name ("dense", "conv2d", …).
    pub fn kind(&self) -> &'static str {
        match self {
            Op::Dense(_) => "dense",
            Op::Conv2d(_) => "conv2d",
            Op::Relu => "relu",
            Op::MaxPool(_) => "maxpool",
            Op::AvgPool(_) => "avgpool",
            Op::Reshape(_) => "reshape",
            Op::Sigmoid => "sigmoid",
            Op::Square => "square",
            Op::Add => "add",
            Op::Sub => "sub",
            Op::Concat(_) => "concat",
        }
    }

    /// Whether the fixed-point reference truncates this layer's result (a product of
    /// two fixed-point values: dense, conv2d, square, average pooling).
    pub fn truncates(&self) -> bool {
        matches!(
            self,
            Op::Dense(_) | Op::Conv2d(_) | Op::Square | Op::AvgPool(_)
        )
    }

    /// The number of weights and biases.
    pub fn num_params(&self) -> usize {
        match self {
            Op::Dense(Dense { weight, bias }) | Op::Conv2d(Conv2d { weight, bias, .. }) => {
                weight.len() + bias.as_ref().map_or(0, Tensor::len)
            }
            _ => 0,
        }
    }

    /// How many values the op reads: `None` for any number ≥ 1 (concat).
    pub fn arity(&self) -> Option<usize> {
        match self {
            Op::Add | Op::Sub => Some(2),
            Op::Concat(_) => None,
            _ => Some(1),
        }
    }

    /// The per-example output shape for per-example input shape `input` of a
    /// single-input op.
    ///
    /// # Errors
    /// [`Error::Shape`] if the input does not fit (`what` names the layer in the
    /// message).
    pub fn output_shape(&self, input: &[usize], what: &str) -> Result<Vec<usize>> {
        self.output_shape_of(&[input], what)
    }

    /// The per-example output shape for the per-example shapes of its inputs.
    ///
    /// # Errors
    /// [`Error::Shape`] if the inputs do not fit (their number or shapes; `what`
    /// names the layer in the message).
    pub fn output_shape_of(&self, inputs: &[&[usize]], what: &str) -> Result<Vec<usize>> {
        let count_ok = match self.arity() {
            Some(k) => inputs.len() == k,
            None => !inputs.is_empty(),
        };
        if !count_ok {
            return Err(Error::shape(
                what,
                format!("{} inputs for a {} layer", inputs.len(), self.kind()),
            ));
        }
        let input = inputs[0];
        let out = match self {
            Op::Add | Op::Sub => {
                if inputs[1] != input {
                    return Err(Error::shape(
                        what,
                        format!(
                            "operands of shapes {input:?} and {:?} (both must have one shape; broadcasting is not supported)",
                            inputs[1]
                        ),
                    ));
                }
                input.to_vec()
            }
            Op::Concat(axis) => concat_shape(inputs, *axis, what)?,
            _ => self.output_shape_unchecked(input, what)?,
        };
        let values = checked_numel(&out).filter(|&n| n <= MAX_VALUES);
        // Work per example: multiply-adds (dense, conv) or window reads (pools).
        let per_output = match self {
            Op::Dense(d) => Some(d.weight.shape()[1] as u64),
            Op::Conv2d(c) => checked_numel(&c.weight.shape()[1..]).map(|n| n as u64),
            Op::MaxPool(p) | Op::AvgPool(p) => {
                p.kernel[0].checked_mul(p.kernel[1]).map(|n| n as u64)
            }
            _ => Some(1),
        };
        let work = values
            .zip(per_output)
            .and_then(|(n, k)| (n as u64).checked_mul(k));
        // The im2col buffer of a convolution: [C·kh·kw, OH·OW] per image.
        let im2col_ok = match self {
            Op::Conv2d(c) => checked_numel(&c.weight.shape()[1..])
                .and_then(|k| k.checked_mul(out[1].checked_mul(out[2])?))
                .is_some_and(|n| n <= MAX_VALUES),
            _ => true,
        };
        match work {
            Some(w) if w <= MAX_WORK && im2col_ok => Ok(out),
            _ => Err(Error::shape(
                what,
                format!(
                    "output {out:?} from input {input:?} exceeds the size limits ({MAX_VALUES} values, {MAX_WORK} operations per example)"
                ),
            )),
        }
    }

    fn output_shape_unchecked(&self, input: &[usize], what: &str) -> Result<Vec<usize>> {
        let bad = |detail: String| Err(Error::shape(what, detail));
        match self {
            Op::Dense(d) => {
                let &[out, inn] = d.weight.shape() else {
                    return bad(format!(
                        "weight shape {:?} is not [out, in]",
                        d.weight.shape()
                    ));
                };
                if input != [inn] {
                    return bad(format!(
                        "input {input:?} does not fit weight [out={out}, in={inn}]"
                    ));
                }
                check_bias(&d.bias, out, what)?;
                Ok(vec![out])
            }
            Op::Conv2d(c) => {
                let &[o, ci, kh, kw] = c.weight.shape() else {
                    return bad(format!(
                        "kernel shape {:?} is not [out, in, kh, kw]",
                        c.weight.shape()
                    ));
                };
                let &[ch, h, w] = input else {
                    return bad(format!("input {input:?} is not [C, H, W]"));
                };
                if ch != ci {
                    return bad(format!("input has {ch} channels, kernel expects {ci}"));
                }
                check_bias(&c.bias, o, what)?;
                let (oh, ow) = window_out([h, w], [kh, kw], c.strides, c.pads, what)?;
                Ok(vec![o, oh, ow])
            }
            Op::MaxPool(p) | Op::AvgPool(p) => {
                let &[ch, h, w] = input else {
                    return bad(format!("input {input:?} is not [C, H, W]"));
                };
                if matches!(self, Op::MaxPool(_))
                    && (p.pads[0] >= p.kernel[0]
                        || p.pads[2] >= p.kernel[0]
                        || p.pads[1] >= p.kernel[1]
                        || p.pads[3] >= p.kernel[1])
                {
                    return bad(format!(
                        "max-pool pads {:?} must be smaller than the window {:?}",
                        p.pads, p.kernel
                    ));
                }
                let (oh, ow) = window_out([h, w], p.kernel, p.strides, p.pads, what)?;
                Ok(vec![ch, oh, ow])
            }
            Op::Reshape(shape) => {
                if checked_numel(shape) != checked_numel(input) || shape.is_empty() {
                    return bad(format!("cannot reshape {input:?} into {shape:?}"));
                }
                Ok(shape.clone())
            }
            Op::Relu | Op::Sigmoid | Op::Square => Ok(input.to_vec()),
            Op::Add | Op::Sub | Op::Concat(_) => {
                bad(format!("{} reads several inputs", self.kind()))
            }
        }
    }

    fn check_weights(&self, what: &str) -> Result<()> {
        let tensors: Vec<&Tensor> = match self {
            Op::Dense(Dense { weight, bias }) | Op::Conv2d(Conv2d { weight, bias, .. }) => {
                std::iter::once(weight).chain(bias.as_ref()).collect()
            }
            _ => Vec::new(),
        };
        for t in tensors {
            if let Some(v) = t.data().iter().find(|v| !v.is_finite()) {
                return Err(Error::InvalidArgument {
                    what: "model weights",
                    detail: format!("{what}: weight value {v} is not finite"),
                });
            }
        }
        Ok(())
    }
}

/// The shape of a concatenation along per-example `axis`.
fn concat_shape(inputs: &[&[usize]], axis: usize, what: &str) -> Result<Vec<usize>> {
    let first = inputs[0];
    if axis >= first.len() {
        return Err(Error::shape(
            what,
            format!("concatenation axis {axis} of inputs {first:?}"),
        ));
    }
    let mut out = first.to_vec();
    for s in &inputs[1..] {
        let fits = s.len() == first.len()
            && s.iter()
                .zip(first)
                .enumerate()
                .all(|(d, (a, b))| d == axis || a == b);
        if !fits {
            return Err(Error::shape(
                what,
                format!("cannot concatenate {s:?} to {first:?} along axis {axis}"),
            ));
        }
        out[axis] = out[axis].saturating_add(s[axis]);
    }
    Ok(out)
}

fn check_bias(bias: &Option<Tensor>, out: usize, what: &str) -> Result<()> {
    match bias {
        Some(b) if b.shape() != [out] => Err(Error::shape(
            what,
            format!("bias shape {:?}, expected [{out}]", b.shape()),
        )),
        _ => Ok(()),
    }
}

/// The output size of a sliding window: `(H + top + bottom − kh) / sh + 1` (floor).
fn window_out(
    hw: [usize; 2],
    k: [usize; 2],
    s: [usize; 2],
    pads: [usize; 4],
    what: &str,
) -> Result<(usize, usize)> {
    let dim = |i: usize| -> Option<usize> {
        let padded = hw[i].checked_add(pads[i])?.checked_add(pads[i + 2])?;
        if s[i] == 0 || k[i] == 0 || padded < k[i] || hw[i] == 0 {
            return None;
        }
        Some((padded - k[i]) / s[i] + 1)
    };
    match (dim(0), dim(1)) {
        (Some(oh), Some(ow)) => Ok((oh, ow)),
        _ => Err(Error::shape(
            what,
            format!(
                "window {k:?} with strides {s:?} and pads {pads:?} does not fit input {}×{}",
                hw[0], hw[1]
            ),
        )),
    }
}

/// How the model's output is read. Whatever the head, the client receives only the
/// label: the index of the largest score (the first on ties).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Head {
    /// The graph ends with the scores (logits); the label is their argmax.
    Scores,
    /// The graph ends with `ArgMax` over the scores.
    ArgMax,
    /// The graph ends with `Softmax` over the scores; softmax is increasing, so its
    /// argmax is the scores' argmax, which is what Tessera computes.
    Softmax,
}

/// One layer of a [`Model`] with its inferred shapes.
#[derive(Clone, Debug, PartialEq)]
pub struct Layer {
    name: String,
    op: Op,
    inputs: Vec<usize>,
    input_shapes: Vec<Vec<usize>>,
    output_shape: Vec<usize>,
}

impl Layer {
    /// The layer's name (the ONNX node name).
    pub fn name(&self) -> &str {
        &self.name
    }
    /// What it computes.
    pub fn op(&self) -> &Op {
        &self.op
    }
    /// The values it reads, in order: 0 is the model's input, `j + 1` the output of
    /// layer `j` (always an earlier layer).
    pub fn inputs(&self) -> &[usize] {
        &self.inputs
    }
    /// The per-example shape of its first input.
    pub fn input_shape(&self) -> &[usize] {
        &self.input_shapes[0]
    }
    /// The per-example shapes of its inputs, in order.
    pub fn input_shapes(&self) -> &[Vec<usize>] {
        &self.input_shapes
    }
    /// The per-example output shape.
    pub fn output_shape(&self) -> &[usize] {
        &self.output_shape
    }
}

impl fmt::Display for Layer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.name, self.op.kind())?;
        if self.input_shapes.len() == 1 {
            write!(f, " {:?}", self.input_shapes[0])?;
        } else {
            write!(f, " {:?}", self.input_shapes)?;
        }
        write!(f, " -> {:?}", self.output_shape)
    }
}

/// A model: a DAG of layers from one input to one output (see the module docs).
#[derive(Clone, Debug, PartialEq)]
pub struct Model {
    input_shape: Vec<usize>,
    layers: Vec<Layer>,
    head: Head,
}

impl Model {
    /// A chain: layers (name, op) each reading the previous one's output (the first
    /// the input). Infers every layer's shapes.
    ///
    /// # Errors
    /// As [`Model::graph`].
    pub fn new(input_shape: Vec<usize>, layers: Vec<(String, Op)>, head: Head) -> Result<Self> {
        let nodes = layers
            .into_iter()
            .enumerate()
            .map(|(i, (name, op))| (name, op, vec![i]))
            .collect();
        Model::graph(input_shape, nodes, head)
    }

    /// A DAG: layers (name, op, the values it reads) in a topological order — value 0
    /// is the input, value `j + 1` the output of layer `j`, and a layer reads only
    /// earlier values. The last layer's output is the model's output. Infers every
    /// layer's shapes.
    ///
    /// # Errors
    /// [`Error::Shape`] if a layer does not fit its inputs, the input has a zero or
    /// empty shape, or the head needs scores `[K]` and the output is not a vector;
    /// [`Error::InvalidArgument`] for non-finite weights, a layer reading a later
    /// value, or a layer whose output nothing reads (other than the last).
    pub fn graph(
        input_shape: Vec<usize>,
        layers: Vec<(String, Op, Vec<usize>)>,
        head: Head,
    ) -> Result<Self> {
        if input_shape.is_empty()
            || input_shape.contains(&0)
            || checked_numel(&input_shape).is_none_or(|n| n > MAX_VALUES)
        {
            return Err(Error::shape(
                "model input",
                format!(
                    "per-example input shape {input_shape:?} must be non-empty with positive dimensions"
                ),
            ));
        }
        let mut shapes: Vec<Vec<usize>> = vec![input_shape.clone()];
        let mut read = vec![false; layers.len() + 1];
        let mut out = Vec::with_capacity(layers.len());
        for (i, (name, op, inputs)) in layers.into_iter().enumerate() {
            let what = format!("layer {name} ({})", op.kind());
            if let Some(&bad) = inputs.iter().find(|&&v| v > i) {
                return Err(Error::InvalidArgument {
                    what: "model graph",
                    detail: format!(
                        "{what} reads value {bad}, which is not computed before it (layers must be in a topological order)"
                    ),
                });
            }
            for &v in &inputs {
                read[v] = true;
            }
            op.check_weights(&what)?;
            let input_shapes: Vec<Vec<usize>> = inputs.iter().map(|&v| shapes[v].clone()).collect();
            let refs: Vec<&[usize]> = input_shapes.iter().map(Vec::as_slice).collect();
            let next = op.output_shape_of(&refs, &what)?;
            shapes.push(next.clone());
            out.push(Layer {
                name,
                op,
                inputs,
                input_shapes,
                output_shape: next,
            });
        }
        let n = out.len();
        if let Some(dead) = (1..n).find(|&v| !read[v]) {
            return Err(Error::InvalidArgument {
                what: "model graph",
                detail: format!(
                    "the output of layer {} is read by no layer and is not the model's output",
                    out[dead - 1].name
                ),
            });
        }
        let shape = shapes.last().cloned().unwrap_or_default();
        if head != Head::Scores && (shape.len() != 1 || shape[0] == 0) {
            return Err(Error::shape(
                "model output",
                format!(
                    "the last layer gives {shape:?} per example; a {head:?} head needs scores [K], K ≥ 1"
                ),
            ));
        }
        Ok(Model {
            input_shape,
            layers: out,
            head,
        })
    }

    /// Whether every layer reads exactly the previous layer's output.
    pub fn is_chain(&self) -> bool {
        self.layers.iter().enumerate().all(|(i, l)| l.inputs == [i])
    }

    /// The per-example output shape (the last layer's, or the input's for a model
    /// without layers).
    pub fn output_shape(&self) -> &[usize] {
        self.layers
            .last()
            .map_or(&self.input_shape, |l| &l.output_shape)
    }

    /// The per-example input shape (without the batch dimension).
    pub fn input_shape(&self) -> &[usize] {
        &self.input_shape
    }

    /// The number of values of one example.
    pub fn input_len(&self) -> usize {
        self.input_shape.iter().product()
    }

    /// The layers, in order.
    pub fn layers(&self) -> &[Layer] {
        &self.layers
    }

    /// How the output is read.
    pub fn head(&self) -> Head {
        self.head
    }

    /// The number of values of one example's output (`K` for scores `[K]`): the
    /// label is the index of the largest.
    pub fn classes(&self) -> usize {
        self.output_shape().iter().product()
    }

    /// The number of weights and biases.
    pub fn num_params(&self) -> usize {
        self.layers.iter().map(|l| l.op.num_params()).sum()
    }

    /// The batch size of a flat input of `len` values.
    ///
    /// # Errors
    /// [`Error::Shape`] if `len` is not a positive multiple of [`Model::input_len`].
    pub fn batch_of(&self, len: usize) -> Result<usize> {
        let per = self.input_len();
        if len == 0 || !len.is_multiple_of(per) {
            return Err(Error::shape(
                "model input",
                format!(
                    "{len} values are not a batch of inputs of shape {:?} ({per} values each)",
                    self.input_shape
                ),
            ));
        }
        Ok(len / per)
    }
}

impl fmt::Display for Model {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "model: input {:?}, {} layers, {} parameters, head {:?}",
            self.input_shape,
            self.layers.len(),
            self.num_params(),
            self.head
        )?;
        for l in &self.layers {
            writeln!(f, "  {l}")?;
        }
        Ok(())
    }
}

/// Scores for a batch, row-major `[batch, classes]`, from any interpreter.
#[derive(Clone, Debug, PartialEq)]
pub struct Scores<T> {
    /// The batch size.
    pub batch: usize,
    /// The number of classes.
    pub classes: usize,
    /// The scores, `batch × classes`, row-major.
    pub values: Vec<T>,
}

impl<T: Copy> Scores<T> {
    /// The scores of example `i`.
    ///
    /// # Panics
    /// If `i ≥ batch`.
    pub fn row(&self, i: usize) -> &[T] {
        &self.values[i * self.classes..(i + 1) * self.classes]
    }

    /// The label of each example under the strict order `greater`: the index of
    /// the first maximal score.
    pub fn labels_by(&self, greater: impl Fn(T, T) -> bool) -> Vec<usize> {
        self.values
            .chunks_exact(self.classes.max(1))
            .map(|row| {
                let mut best = 0;
                for (j, &v) in row.iter().enumerate().skip(1) {
                    if greater(v, row[best]) {
                        best = j;
                    }
                }
                best
            })
            .collect()
    }
}
