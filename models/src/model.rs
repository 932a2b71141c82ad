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
//! a value may be read by several layers (fan-out, skip connections).
//!
//! # Outputs
//! A model has an ordered, non-empty list of **outputs** ([`Model::outputs`]): values
//! of any shape (scores, feature maps, probabilities), each with a name (the ONNX
//! graph output's; `scores` for a model built by [`Model::new`] or [`Model::graph`],
//! whose only output is the last layer's). Any value may be an output — a layer's, or
//! even the input — and an output may also be read by later layers. Every layer's
//! output is read by some layer or is a model output (the loader drops dead nodes).
//!
//! The [`Head`] applies to the **first** output: the predicted label of an example is
//! the index of the largest value of the first output (the first one on ties), whatever
//! the head; an `ArgMax` or `Softmax` head needs the first output to be a vector `[K]`.
//! The other outputs are values the client receives as they are.

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
    /// `f` applied to every value (the same shape).
    pub fn map(&self, f: impl Fn(f32) -> f32) -> Tensor {
        Tensor {
            shape: self.shape.clone(),
            data: self.data.iter().map(|&v| f(v)).collect(),
        }
    }

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

use crate::ops::Operator;
pub use crate::ops::{Conv, Dense, Op, Pool, Remap};

impl Op {
    /// A short name ("dense", "conv", …).
    pub fn kind(&self) -> &'static str {
        crate::dispatch_op!(self, D, _a => D::KIND)
    }

    /// Whether the fixed-point reference truncates this layer's result (a product of
    /// two fixed-point values: dense, conv, square, average pooling).
    pub fn truncates(&self) -> bool {
        crate::dispatch_op!(self, D, _a => D::TRUNCATES)
    }

    /// Whether the op only gives its input a new shape (a reshape): no data moved,
    /// nothing computed.
    pub fn is_view(&self) -> bool {
        crate::dispatch_op!(self, D, _a => D::VIEW)
    }

    /// The number of weights and biases.
    pub fn num_params(&self) -> usize {
        self.params().into_iter().map(Tensor::len).sum()
    }

    /// The weight tensors (weights, then bias).
    fn params(&self) -> Vec<&Tensor> {
        crate::dispatch_op!(self, D, a => D::params(a))
    }

    /// How many values the op reads: `None` for any number ≥ 1 (concat).
    pub fn arity(&self) -> Option<usize> {
        crate::dispatch_op!(self, D, _a => D::ARITY)
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
        let (out, per_output, fits) = crate::dispatch_op!(self, D, a => {
            let out = D::shape(a, inputs, what)?;
            let fits = D::within_limits(a, &out);
            (out, D::work_per_output(a), fits)
        });
        let values = checked_numel(&out).filter(|&n| n <= MAX_VALUES);
        // Work per example: multiply-adds (dense, conv) or window reads (pools).
        let work = values
            .zip(per_output)
            .and_then(|(n, k)| (n as u64).checked_mul(k));
        match work {
            Some(w) if w <= MAX_WORK && fits => Ok(out),
            _ => Err(Error::shape(
                what,
                format!(
                    "output {out:?} from input {input:?} exceeds the size limits ({MAX_VALUES} values, {MAX_WORK} operations per example)"
                ),
            )),
        }
    }

    fn check_weights(&self, what: &str) -> Result<()> {
        for t in self.params() {
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

/// How the model's first output is read (the other outputs are not affected). Whatever
/// the head, the label is the index of the largest value of the first output (the
/// first on ties).
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

/// A model: a DAG of layers from one input to one or more outputs (see the module
/// docs).
#[derive(Clone, Debug, PartialEq)]
pub struct Model {
    input_shape: Vec<usize>,
    layers: Vec<Layer>,
    outputs: Vec<usize>,
    output_names: Vec<String>,
    head: Head,
    index_input: Option<IndexInput>,
}

/// An integer index input (ONNX `Gather` of a constant table by an int64 graph input:
/// an embedding). The client holds the indices, so it encodes them itself, one-hot:
/// the model's input is `[V, L]` — vocabulary by position, `L` the number of indices per
/// example — and the look-up a plaintext-weight product with the table (see
/// [`Model::encode_indices`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IndexInput {
    /// The per-example shape of the indices (`L` is its product).
    pub shape: Vec<usize>,
    /// The vocabulary `V`: valid indices are `0..V` (and `−V..0`, counted from the end,
    /// as ONNX `Gather`).
    pub vocab: usize,
}

impl IndexInput {
    /// The batch size of an index array of shape `shape` — the per-example shape with or
    /// without a leading batch dimension.
    ///
    /// # Errors
    /// [`Error::Shape`] otherwise.
    pub fn batch_for(&self, shape: &[usize]) -> Result<usize> {
        if shape == self.shape.as_slice() {
            return Ok(1);
        }
        match shape.split_first() {
            Some((&n, rest)) if rest == self.shape.as_slice() && n > 0 => Ok(n),
            _ => Err(Error::shape(
                "index input",
                format!(
                    "array of shape {shape:?}; the model takes indices of shape {:?} or [N, …]",
                    self.shape
                ),
            )),
        }
    }
}

/// The name of the only output of a model built by [`Model::new`] or [`Model::graph`].
pub const DEFAULT_OUTPUT_NAME: &str = "scores";

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
    /// earlier values. The last layer's output is the model's only output, named
    /// [`DEFAULT_OUTPUT_NAME`]. Infers every layer's shapes.
    ///
    /// # Errors
    /// As [`Model::with_outputs`].
    pub fn graph(
        input_shape: Vec<usize>,
        layers: Vec<(String, Op, Vec<usize>)>,
        head: Head,
    ) -> Result<Self> {
        let last = layers.len();
        Model::with_outputs(
            input_shape,
            layers,
            vec![(DEFAULT_OUTPUT_NAME.to_string(), last)],
            head,
        )
    }

    /// A DAG as [`Model::graph`] with the given outputs, in order: (name, value) with
    /// value 0 the input and `j + 1` layer `j`'s output. Any value may be an output,
    /// also one that later layers read, and a value may be listed under several names.
    /// The head applies to the first output. Infers every layer's shapes.
    ///
    /// # Errors
    /// [`Error::Shape`] if a layer does not fit its inputs, the input has a zero or
    /// empty shape, or the head needs scores `[K]` and the first output is not a
    /// vector; [`Error::InvalidArgument`] for non-finite weights, a layer reading a
    /// later value, no outputs, an output naming a value that does not exist, two
    /// outputs of one name, or a layer whose output nothing reads and that is not an
    /// output.
    pub fn with_outputs(
        input_shape: Vec<usize>,
        layers: Vec<(String, Op, Vec<usize>)>,
        outputs: Vec<(String, usize)>,
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
        let n = layers.len();
        let bad_outputs = |detail: String| Error::InvalidArgument {
            what: "model outputs",
            detail,
        };
        if outputs.is_empty() {
            return Err(bad_outputs("a model needs at least one output".into()));
        }
        for (k, (name, v)) in outputs.iter().enumerate() {
            if *v > n {
                return Err(bad_outputs(format!(
                    "output {k} `{name}` is value {v}, but the model has only values 0 to {n} (the input and {n} layers)"
                )));
            }
            if outputs[..k].iter().any(|(other, _)| other == name) {
                return Err(bad_outputs(format!("two outputs are named `{name}`")));
            }
        }
        let mut shapes: Vec<Vec<usize>> = vec![input_shape.clone()];
        let mut read = vec![false; n + 1];
        let mut out = Vec::with_capacity(n);
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
        for (_, v) in &outputs {
            read[*v] = true;
        }
        if let Some(dead) = (1..=n).find(|&v| !read[v]) {
            return Err(Error::InvalidArgument {
                what: "model graph",
                detail: format!(
                    "the output of layer {} is read by no layer and is not a model output",
                    out[dead - 1].name
                ),
            });
        }
        let (first_name, first) = &outputs[0];
        let shape = &shapes[*first];
        if head != Head::Scores && (shape.len() != 1 || shape[0] == 0) {
            return Err(Error::shape(
                "model output",
                format!(
                    "the first output `{first_name}` gives {shape:?} per example; a {head:?} head (which reads the first output) needs scores [K], K ≥ 1"
                ),
            ));
        }
        let (output_names, outputs) = outputs.into_iter().unzip();
        Ok(Model {
            input_shape,
            layers: out,
            outputs,
            output_names,
            head,
            index_input: None,
        })
    }

    /// This model with an index input: its input must be the one-hot `[V, L]` of
    /// `ix`.
    ///
    /// # Errors
    /// [`Error::Shape`] if the input shape is not `[V, L]`.
    pub fn with_index_input(mut self, ix: IndexInput) -> Result<Self> {
        let l: usize = ix.shape.iter().product();
        if self.input_shape != [ix.vocab, l] || ix.vocab == 0 {
            return Err(Error::shape(
                "index input",
                format!(
                    "a model of input {:?} cannot take one-hot indices of shape {:?} over a vocabulary of {}",
                    self.input_shape, ix.shape, ix.vocab
                ),
            ));
        }
        self.index_input = Some(ix);
        Ok(self)
    }

    /// The index input, if the model's input is one-hot encoded indices.
    pub fn index_input(&self) -> Option<&IndexInput> {
        self.index_input.as_ref()
    }

    /// The model input (`[N, V, L]`, flat) of the indices `idx` (`[N, …]` flat, `L` per
    /// example): 1 at `(v, position)` where the index at that position is `v`, 0
    /// elsewhere — the client's local encoding of an index input.
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] if the model has no index input; [`Error::Shape`] if
    /// `idx` is not a batch of examples; [`Error::InvalidArgument`] naming the position of an index
    /// outside `−V..V` (not its value: it is the client's input).
    pub fn encode_indices(&self, idx: &[i64]) -> Result<Vec<f32>> {
        let ix = self
            .index_input
            .as_ref()
            .ok_or_else(|| Error::InvalidArgument {
                what: "indices",
                detail: "the model takes float values, not indices".into(),
            })?;
        let (v, l) = (ix.vocab, ix.shape.iter().product::<usize>());
        if l == 0 || idx.is_empty() || !idx.len().is_multiple_of(l) {
            return Err(Error::shape(
                "index input",
                format!("{} indices are not a batch of {l} per example", idx.len()),
            ));
        }
        let mut out = vec![0f32; idx.len() / l * v * l];
        for (k, &i) in idx.iter().enumerate() {
            let vi = i64::try_from(v).unwrap_or(i64::MAX);
            let at = if (0..vi).contains(&i) {
                i
            } else if (-vi..0).contains(&i) {
                i + vi
            } else {
                return Err(Error::InvalidArgument {
                    what: "the index input",
                    detail: format!(
                        "the index at position {k} is outside the vocabulary of {v} (valid: 0..{v}, or −{v}..0 from the end; the value, the client's input, is not shown)"
                    ),
                });
            };
            let (n, p) = (k / l, k % l);
            out[n * v * l + at as usize * l + p] = 1.0;
        }
        Ok(out)
    }

    /// Whether every layer reads exactly the previous layer's output (the outputs
    /// may be any values; see [`Model::is_plain_chain`]).
    pub fn is_chain(&self) -> bool {
        self.layers.iter().enumerate().all(|(i, l)| l.inputs == [i])
    }

    /// Whether the model is a chain whose only output is the last value.
    pub fn is_plain_chain(&self) -> bool {
        self.is_chain() && self.outputs == [self.layers.len()]
    }

    /// The per-example shape of value `v` (0 the input, `j + 1` layer `j`'s output),
    /// or `None` if there is no such value.
    pub fn value_shape(&self, v: usize) -> Option<&[usize]> {
        match v {
            0 => Some(&self.input_shape),
            _ => self.layers.get(v - 1).map(|l| l.output_shape.as_slice()),
        }
    }

    /// The outputs, in order: the values they are (0 the input, `j + 1` layer `j`'s
    /// output). Never empty; a value may appear more than once.
    pub fn outputs(&self) -> &[usize] {
        &self.outputs
    }

    /// The outputs' names, in the order of [`Model::outputs`] (distinct).
    pub fn output_names(&self) -> &[String] {
        &self.output_names
    }

    /// The per-example shape of each output, in order.
    pub fn output_shapes(&self) -> Vec<&[usize]> {
        self.outputs
            .iter()
            .map(|&v| self.value_shape(v).unwrap_or_default())
            .collect()
    }

    /// The per-example shape of the first output (the one the head reads; for a model
    /// built by [`Model::new`] or [`Model::graph`], the last layer's).
    pub fn output_shape(&self) -> &[usize] {
        self.value_shape(self.outputs[0]).unwrap_or_default()
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

    /// How the first output is read.
    pub fn head(&self) -> Head {
        self.head
    }

    /// The number of values of one example's first output (`K` for scores `[K]`):
    /// the label is the index of the largest.
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
        if let Some(ix) = &self.index_input {
            writeln!(
                f,
                "  indices {:?} over a vocabulary of {}, one-hot encoded by the client",
                ix.shape, ix.vocab
            )?;
        }
        for l in &self.layers {
            writeln!(f, "  {l}")?;
        }
        for (k, (name, &v)) in self.output_names.iter().zip(&self.outputs).enumerate() {
            let from = match v {
                0 => "the input".to_string(),
                _ => format!("layer {}", self.layers[v - 1].name),
            };
            writeln!(
                f,
                "  output {k} `{name}`: {:?} from {from}",
                self.value_shape(v).unwrap_or_default()
            )?;
        }
        Ok(())
    }
}

/// One output's values for a batch, row-major `[batch, classes]`, from any
/// interpreter: the scores, or any other output (then `classes` is the number of values
/// per example, the product of the output's shape). `Debug` shows the shape only: the
/// values are a party's output.
#[derive(Clone, PartialEq)]
pub struct Scores<T> {
    /// The batch size.
    pub batch: usize,
    /// The number of values per example (classes, for scores).
    pub classes: usize,
    /// The values, `batch × classes`, row-major.
    pub values: Vec<T>,
}

impl<T> std::fmt::Debug for Scores<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Scores")
            .field("batch", &self.batch)
            .field("classes", &self.classes)
            .finish_non_exhaustive()
    }
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
