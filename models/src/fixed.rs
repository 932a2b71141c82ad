//! The plaintext fixed-point reference: the model description run on ring elements
//! of `Z_2^ℓ` (ℓ = 64, or 32 where ranges allow) exactly as the secure execution
//! computes it, so it is the oracle of every secure test.
//!
//! # Semantics
//! `f` is the number of fractional bits ([`FixedPoint::frac_bits`], 16 by default).
//! `enc_k(v) = round(v·2^k)` (to nearest, ties away from zero) as a two's-complement
//! ring element; activations are always at scale `2^f`. Per layer:
//!
//! | layer | computes (all arithmetic mod 2^ℓ, `x` the signed value) | truncates |
//! |---|---|---|
//! | input | `enc_f(x)` of the `f32` input | — |
//! | dense | `a = Σ_k enc_f(W)[o,k]·x_k + enc_2f(b)_o`, `y = a >> f` | once |
//! | conv2d | the same per output pixel, zero padding | once |
//! | square | `a = x·x`, `y = a >> f` | once |
//! | mul_const | `a = enc_f(s)·x + enc_2f(b)` per element (constants broadcast), `y = a >> f` | once |
//! | matmul | `a = Σ_t x[…, i, t]·y[…, t, j]`, `y = a >> f` | once |
//! | add_const | `±x + enc_f(c)` per element (`c` broadcast) | — |
//! | avgpool | `a = q·Σ_window x` with `q = round(2^f/(kh·kw))` (zero padding counted), `y = a >> f` | once |
//! | relu | `max(x, 0)` on the signed value | — |
//! | maxpool | signed maximum over the window's in-bounds elements | — |
//! | secureml_sigmoid | `clamp(x + 2^(f−1), 0, 2^f)`, exactly SecureML's `0 / x + 1/2 / 1` | — |
//! | sigmoid, tanh, elu, selu, softplus, softsign | the function's spline ([`crate::ops::spline`]): `c_i + ((m_i·u + 2^(b−1)) >> b)` on its segment, or its asymptote | — |
//! | leaky_relu, prelu | `x` for `x ≥ 0`, else `(a·x) >> f`, `a = enc_f(α)` (a wrapping product is refused) | — (exact floor) |
//! | clip | `min(max(x, lo), hi)` with the bounds encoded and clamped to the ring ([`crate::ops::clip`]) | — |
//! | abs, sign, max, min | `\|x\|`, `−2^f`/`0`/`2^f`, the signed maximum/minimum of two values | — |
//! | exp | the spline of `e^min(x, X)` ([`crate::ops::exp`]) | — |
//! | div, reciprocal | `a·2^f / b` rounded toward zero, saturating ([`crate::ops::divide`]) | — |
//! | reshape | nothing (data order unchanged) | — |
//! | add, sub | `x ± y` of two values at scale `2^f` | — |
//! | concat | the values side by side | — |
//! | label | index of the first maximal signed score | — |
//!
//! `>> f` is the arithmetic (sign-extending) shift, i.e. `⌊a / 2^f⌋` (floor, not
//! rounding). Biases are encoded at `2f` and added to the accumulator **before** the
//! single truncation, so a dense or conv layer rounds once. `q` is
//! [`tessera_protocols::arith::avg_pool_scale`], the factor the A-sharing's average
//! pooling uses.
//!
//! # Ranges
//! Ring arithmetic is exact modulo 2^ℓ, so the only requirement is that the true
//! (integer) accumulator of each truncating layer lies in `(−2^(ℓ−2), 2^(ℓ−2))`, the
//! range in which the dealer truncation is exact up to `e` (see
//! `tessera_protocols::arith::trunc`). Before each truncating layer the reference
//! checks the sound bound `max_o Σ_k |W[o,k]|·max|x| + max|b|` (dense, conv; the
//! integer encodings), `max|x|²` (square) or `kh·kw·q·max|x|` (avgpool) against
//! `2^(ℓ−2)` over the actual batch, and returns [`Error::Range`] if it does not
//! hold. [`FixedModel::new`] requires `1 ≤ f` and `2f ≤ ℓ − 3`.
//!
//! # How a secure run may differ from this reference
//! - **Dealer truncation of the A-sharing** returns `⌊a/2^f⌋ + e`, `e ∈ {0, 1}`
//!   (stochastic rounding): one unit in the last place (`2^-f`) above the reference
//!   per truncation, *given the same accumulator*.
//! - **Boolean (GMW) and Yao layers** compute comparisons (ReLU, max, argmax, the
//!   sigmoid's clamps, the splines) exactly, and a truncation done on a Boolean or garbled value
//!   is an exact arithmetic shift (`e = 0`), identical to the reference.
//! - **SecureML's local truncation** also gives `e ∈ {0, 1}`, except with
//!   probability `|a|/2^ℓ` per element, when it is off by about `2^(ℓ−f)`.
//!
//! An error `e` in one layer changes the next layer's accumulator, so deviations
//! grow through the network. [`FixedRun`] carries a worst-case bound `D` (in units
//! of `2^-f`) on `|secure − reference|` for every layer's output, with `D = 0` at the
//! input and, per layer, `Δ = L·D` (dense, conv: `L = max_o Σ_k |enc_f(W)[o,k]|`),
//! `Δ = D·(2·max|x| + D)` (square), `Δ = q·kh·kw·D` (avgpool), and then
//! `D' = 1` if `D = 0`, else `D' = ⌊Δ/2^f⌋ + 2` (floor of two accumulators `Δ`
//! apart differ by at most `⌊Δ/2^f⌋ + 1`, plus `e`); ReLU, max pooling, SecureML's
//! sigmoid and reshapes are 1-Lipschitz, so `D' = D`; a spline gives
//! `⌈L·D⌉ + 2·⌈max_error·2^f⌉ + 2` and LeakyRelu/PRelu `⌈max(1, |a|·2^-f)·D⌉ + 1` (0 for
//! `D = 0`: computed exactly in B/Y, see [`crate::ops::Operator::error_bound_fixed`]). Every output of the model carries the
//! bound of its value ([`FixedRun::output_bounds_ulps`]; 0 for the input). Secure
//! scores (the first output) therefore lie within [`FixedRun::error_bound_ulps`] of the
//! reference's, and the secure label equals
//! the reference label wherever the reference's top-two margin exceeds twice that
//! bound ([`FixedRun::certain`]); it usually equals it everywhere.

use tessera_core::{FixedPoint, Ring, Z32, Z64};

use crate::model::{Head, Layer, Model, Scores};
use crate::ops::Operator;
use crate::{Error, Result};

/// A score type with a total order for argmax: floats by value, ring elements by
/// their signed (two's-complement) value.
pub trait Score: Copy {
    /// Whether `self` is strictly greater than `other`.
    fn greater(self, other: Self) -> bool;
}

impl Score for f32 {
    fn greater(self, other: Self) -> bool {
        self > other
    }
}
impl Score for f64 {
    fn greater(self, other: Self) -> bool {
        self > other
    }
}
impl Score for Z32 {
    fn greater(self, other: Self) -> bool {
        self.to_i64() > other.to_i64()
    }
}
impl Score for Z64 {
    fn greater(self, other: Self) -> bool {
        self.to_i64() > other.to_i64()
    }
}

impl<T: Score> Scores<T> {
    /// The predicted label of each example: the index of the first maximal score
    /// (as ONNX `ArgMax` with `select_last_index = 0`).
    pub fn labels(&self) -> Vec<usize> {
        self.labels_by(T::greater)
    }
}

impl<R: Ring> Scores<R> {
    /// The scores decoded as reals (`signed value / 2^f`).
    pub fn decode(&self, fp: FixedPoint) -> Scores<f64> {
        Scores {
            batch: self.batch,
            classes: self.classes,
            values: fp.decode_slice(&self.values),
        }
    }
}

/// A layer of a [`FixedModel`]: the description plus its encoded parameters. Its
/// `Debug` output shows no weight values.
#[derive(Clone)]
pub struct FixedLayer<R: Ring> {
    layer: Layer,
    params: FixedParams<R>,
}

/// A layer's parameters as its operator encodes them ([`Operator::encode`]). Its
/// `Debug` output shows no weight values.
#[derive(Clone)]
pub struct FixedParams<R: Ring> {
    /// The encoded weight `enc_f(W)` in the description's layout, if any.
    pub weight: Option<Vec<R>>,
    /// The encoded bias `enc_2f(b)`, if any.
    pub bias: Option<Vec<R>>,
    /// The public average-pooling factor `q`, for avgpool layers.
    pub avg_scale: Option<R>,
    /// The kernel as the linear kernels want it: `[in, out]` for dense,
    /// `[O, C·kh·kw]` for conv; empty otherwise.
    pub kernel: Vec<R>,
    /// Dense/conv: `max_o Σ_k |W[o,k]|`; avgpool: `kh·kw·q`; else 0.
    pub gain: u128,
    /// The largest `|enc_2f(b)|`, 0 without a bias.
    pub max_bias: u128,
}

impl<R: Ring> Default for FixedParams<R> {
    fn default() -> Self {
        FixedParams {
            weight: None,
            bias: None,
            avg_scale: None,
            kernel: Vec::new(),
            gain: 0,
            max_bias: 0,
        }
    }
}

impl<R: Ring> std::fmt::Debug for FixedParams<R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "FixedParams({})", R::NAME)
    }
}

impl<R: Ring> std::fmt::Debug for FixedLayer<R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "FixedLayer({}, {})", self.layer, R::NAME)
    }
}

impl<R: Ring> FixedLayer<R> {
    /// The layer description (name, op, shapes).
    pub fn layer(&self) -> &Layer {
        &self.layer
    }

    /// The encoded weight `enc_f(W)` in the description's layout (`[out, in]` for
    /// dense, `[O, C, kh, kw]` for conv), if the layer has one.
    pub fn weight(&self) -> Option<&[R]> {
        self.params.weight.as_deref()
    }

    /// The encoded bias `enc_2f(b)` (at twice the fractional bits, added before
    /// truncation), if the layer has one.
    pub fn bias(&self) -> Option<&[R]> {
        self.params.bias.as_deref()
    }

    /// The public average-pooling factor `q = round(2^f/(kh·kw))`, for avgpool layers.
    pub fn avg_scale(&self) -> Option<R> {
        self.params.avg_scale
    }

    /// `max_o Σ_k |enc_f(W)[o,k]|` for dense and conv layers, `kh·kw·q` for average
    /// pooling, 0 otherwise: the gain of the layer's accumulator in its input.
    pub fn gain(&self) -> u128 {
        self.params.gain
    }

    /// The encoded parameters.
    pub fn params(&self) -> &FixedParams<R> {
        &self.params
    }
}

/// What one layer of a [`FixedModel::run`] saw.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LayerTrace {
    /// The layer's name.
    pub name: String,
    /// `max |x|` over the layer's input batch (signed ring values).
    pub max_abs_input: u64,
    /// Truncating layers: the sound bound on `|accumulator|` that was checked
    /// against `2^(ℓ−2)`.
    pub acc_bound: Option<u128>,
    /// Truncating layers: the largest `|accumulator|` that occurred.
    pub max_abs_acc: Option<u64>,
    /// Worst-case `|secure − reference|` of this layer's output, in units of
    /// `2^-f` (see the module docs).
    pub error_bound_ulps: u128,
}

/// The result of [`FixedModel::run`]. `Debug` shows the outputs' shapes only (as
/// [`Scores`] does).
#[derive(Clone, Debug)]
pub struct FixedRun<R: Ring> {
    /// The first output (the scores the head reads), at scale `2^f`: a copy of
    /// `outputs[0]`.
    pub scores: Scores<R>,
    /// Every output of the model, in order ([`Model::outputs`]), at scale `2^f`.
    pub outputs: Vec<Scores<R>>,
    /// Per output, the worst-case `|secure − reference|` in units of `2^-f` (see the
    /// module docs; 0 for an output that is the input).
    pub output_bounds_ulps: Vec<u128>,
    /// Per layer, in order.
    pub trace: Vec<LayerTrace>,
}

impl<R: Ring + Score> FixedRun<R> {
    /// The predicted labels (from the first output).
    pub fn labels(&self) -> Vec<usize> {
        self.scores.labels()
    }

    /// Worst-case `|secure − reference|` of the scores (the first output), in units of
    /// `2^-f`.
    pub fn error_bound_ulps(&self) -> u128 {
        self.output_bounds_ulps.first().copied().unwrap_or(0)
    }

    /// Per example, the top score minus the runner-up (in units of `2^-f`; `u64::MAX`
    /// for a single class).
    pub fn margins(&self) -> Vec<u64> {
        (0..self.scores.batch)
            .map(|i| {
                let mut v: Vec<i64> = self.scores.row(i).iter().map(|s| s.to_i64()).collect();
                v.sort_unstable_by(|a, b| b.cmp(a));
                match v.as_slice() {
                    [a, b, ..] => a.abs_diff(*b),
                    _ => u64::MAX,
                }
            })
            .collect()
    }

    /// Per example, whether every secure run within the error bound must produce
    /// the reference's label: the margin exceeds twice [`Self::error_bound_ulps`].
    pub fn certain(&self) -> Vec<bool> {
        let d = self.error_bound_ulps();
        self.margins()
            .into_iter()
            .map(|m| u128::from(m) > d.saturating_mul(2))
            .collect()
    }
}

/// A [`Model`] encoded for the plaintext fixed-point reference in ring `R`.
#[derive(Clone, Debug)]
pub struct FixedModel<R: Ring> {
    fp: FixedPoint,
    input_shape: Vec<usize>,
    classes: usize,
    head: Head,
    layers: Vec<FixedLayer<R>>,
    outputs: Vec<usize>,
    output_names: Vec<String>,
}

/// The layer's parameters encoded with `fmt` (`name` and `what` name them in errors).
pub(crate) fn encode_values<R: Ring>(
    vals: &[f32],
    fmt: FixedPoint,
    name: &str,
    what: &str,
) -> Result<Vec<R>> {
    vals.iter()
        .map(|&v| {
            fmt.encode::<R>(f64::from(v)).map_err(|e| Error::Range {
                what: format!("{name} {what}"),
                detail: e.to_string(),
            })
        })
        .collect()
}

pub(crate) fn abs_u128<R: Ring>(v: R) -> u128 {
    u128::from(v.to_i64().unsigned_abs())
}

fn max_abs<R: Ring>(xs: &[R]) -> u64 {
    xs.iter()
        .map(|v| v.to_i64().unsigned_abs())
        .max()
        .unwrap_or(0)
}

impl<R: Ring> FixedModel<R> {
    /// Encodes `model`'s weights with `fp.frac_bits` fractional bits (biases with
    /// twice as many).
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] unless `1 ≤ f` and `2f ≤ ℓ − 3`;
    /// [`Error::Range`] if a weight or bias cannot be encoded in `R`.
    pub fn new(model: &Model, fp: FixedPoint) -> Result<Self> {
        let f = fp.frac_bits;
        if f == 0 || 2 * f + 3 > R::BITS {
            return Err(Error::InvalidArgument {
                what: "fixed-point format",
                detail: format!(
                    "{f} fractional bits in {}: need 1 ≤ f and 2f ≤ ℓ − 3 = {}",
                    R::NAME,
                    R::BITS - 3
                ),
            });
        }
        let mut layers = Vec::with_capacity(model.layers().len());
        for layer in model.layers() {
            let params =
                crate::dispatch_op!(layer.op(), D, a => D::encode::<R>(a, fp, layer.name()))?;
            layers.push(FixedLayer {
                layer: layer.clone(),
                params,
            });
        }
        Ok(FixedModel {
            fp,
            input_shape: model.input_shape().to_vec(),
            classes: model.classes(),
            head: model.head(),
            layers,
            outputs: model.outputs().to_vec(),
            output_names: model.output_names().to_vec(),
        })
    }

    /// The fixed-point format.
    pub fn fixed_point(&self) -> FixedPoint {
        self.fp
    }

    /// The layers with their encoded parameters.
    pub fn layers(&self) -> &[FixedLayer<R>] {
        &self.layers
    }

    /// The number of classes (values per example of the first output).
    pub fn classes(&self) -> usize {
        self.classes
    }

    /// How the first output is read (the label is its argmax in every case).
    pub fn head(&self) -> Head {
        self.head
    }

    /// The per-example input shape.
    pub fn input_shape(&self) -> &[usize] {
        &self.input_shape
    }

    /// The model's outputs, in order: the values they are (0 the input, `j + 1`
    /// layer `j`'s output), as [`Model::outputs`].
    pub fn outputs(&self) -> &[usize] {
        &self.outputs
    }

    /// The outputs' names, as [`Model::output_names`].
    pub fn output_names(&self) -> &[String] {
        &self.output_names
    }

    /// The per-example shape of value `v` (0 the input, `j + 1` layer `j`'s output),
    /// or `None` if there is no such value.
    pub fn value_shape(&self, v: usize) -> Option<&[usize]> {
        match v {
            0 => Some(&self.input_shape),
            _ => self.layers.get(v - 1).map(|l| l.layer.output_shape()),
        }
    }

    /// The number of values per example of output `k` (0 if there is no output `k`).
    pub fn output_len(&self, k: usize) -> usize {
        self.outputs
            .get(k)
            .and_then(|&v| self.value_shape(v))
            .map_or(0, |s| s.iter().product())
    }

    fn batch_of(&self, len: usize) -> Result<usize> {
        let per: usize = self.input_shape.iter().product();
        if len == 0 || !len.is_multiple_of(per) {
            return Err(Error::shape(
                "fixed-point input",
                format!(
                    "{len} values are not a batch of inputs of shape {:?}",
                    self.input_shape
                ),
            ));
        }
        Ok(len / per)
    }

    /// Encodes a float input batch as `enc_f(x)`.
    ///
    /// # Errors
    /// [`Error::Shape`] if `x` is not a whole batch; [`Error::Range`] if a value is
    /// not finite or too large for the ring.
    pub fn encode_input(&self, x: &[f32]) -> Result<Vec<R>> {
        self.batch_of(x.len())?;
        x.iter()
            .map(|&v| {
                self.fp.encode::<R>(f64::from(v)).map_err(|e| Error::Range {
                    what: "model input".into(),
                    detail: e.to_string(),
                })
            })
            .collect()
    }

    /// Runs layer `i` alone on a batch `x` (at scale `2^f`).
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] if there is no layer `i`; [`Error::Shape`] if `x` is
    /// not a batch of the layer's input; [`Error::Range`] if the accumulator bound
    /// reaches `2^(ℓ−2)`.
    pub fn forward_layer(&self, i: usize, x: &[R], batch: usize) -> Result<Vec<R>> {
        let fl = self.layers.get(i).ok_or_else(|| Error::InvalidArgument {
            what: "forward_layer",
            detail: format!("layer {i} of {}", self.layers.len()),
        })?;
        if fl.layer.op().arity() != Some(1) {
            return Err(Error::shape(
                format!("layer {}", fl.layer.name()),
                format!("{} reads several inputs", fl.layer.op().kind()),
            ));
        }
        Ok(self.step(fl, &[x], batch, &[0], true)?.0)
    }

    /// Runs the whole model on an encoded batch `x` (`[batch, input_shape…]`): every
    /// output, with its error bound, and the trace.
    ///
    /// # Errors
    /// As [`FixedModel::forward_layer`].
    pub fn run(&self, x: &[R]) -> Result<FixedRun<R>> {
        let batch = self.batch_of(x.len())?;
        // Every value with its error bound: value 0 is the input (exact).
        let mut vals: Vec<(Vec<R>, u128)> = vec![(x.to_vec(), 0)];
        let mut trace = Vec::with_capacity(self.layers.len());
        for fl in &self.layers {
            let l = &fl.layer;
            let ins: Vec<&[R]> = l.inputs().iter().map(|&v| vals[v].0.as_slice()).collect();
            let devs: Vec<u128> = l.inputs().iter().map(|&v| vals[v].1).collect();
            let (y, t) = self.step(fl, &ins, batch, &devs, true)?;
            vals.push((y, t.error_bound_ulps));
            trace.push(t);
        }
        let mut outputs = Vec::with_capacity(self.outputs.len());
        let mut output_bounds_ulps = Vec::with_capacity(self.outputs.len());
        for (k, &v) in self.outputs.iter().enumerate() {
            let (values, bound) = vals.get(v).cloned().ok_or_else(|| Error::InvalidArgument {
                what: "fixed-point run",
                detail: format!("output {k} is value {v}, which the model does not compute"),
            })?;
            outputs.push(Scores {
                batch,
                classes: self.output_len(k),
                values,
            });
            output_bounds_ulps.push(bound);
        }
        let scores = outputs
            .first()
            .cloned()
            .ok_or_else(|| Error::InvalidArgument {
                what: "fixed-point run",
                detail: "a model without outputs".into(),
            })?;
        Ok(FixedRun {
            scores,
            outputs,
            output_bounds_ulps,
            trace,
        })
    }

    /// Encodes and runs a float batch.
    ///
    /// # Errors
    /// As [`FixedModel::encode_input`] and [`FixedModel::run`].
    pub fn run_f32(&self, x: &[f32]) -> Result<FixedRun<R>> {
        self.run(&self.encode_input(x)?)
    }

    /// Layer `i` on its inputs (batch-major, scale `2^f`), as the secure engine holds
    /// the result: for a truncating layer (dense, conv, square, average pooling) the
    /// accumulator at scale `2^2f` before the shift `>> f` — `true` in the pair —,
    /// otherwise the output. The engine's plaintext interpreter of a program
    /// (`tessera_engine::program::oracle`) runs every layer through this.
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] if there is no layer `i` or the input count is
    /// wrong; as [`FixedModel::run`] otherwise.
    pub fn layer_value(&self, i: usize, ins: &[&[R]], batch: usize) -> Result<(Vec<R>, bool)> {
        let fl = self.layers.get(i).ok_or_else(|| Error::InvalidArgument {
            what: "layer_value",
            detail: format!("layer {i} of {}", self.layers.len()),
        })?;
        let l = &fl.layer;
        if ins.len() != l.inputs().len() {
            return Err(Error::InvalidArgument {
                what: "layer_value",
                detail: format!(
                    "{} inputs for layer {} of {}",
                    ins.len(),
                    l.name(),
                    l.inputs().len()
                ),
            });
        }
        let devs = vec![0; ins.len()];
        Ok((
            self.step(fl, ins, batch, &devs, false)?.0,
            l.op().truncates(),
        ))
    }

    /// One layer on its inputs: output (the accumulator of a truncating layer shifted
    /// by `f` when `shift`, else left at scale `2^2f`) and trace; `devs` are the error
    /// bounds of the inputs. The operator's semantics come from its module
    /// ([`crate::ops`]).
    fn step(
        &self,
        fl: &FixedLayer<R>,
        ins: &[&[R]],
        batch: usize,
        devs: &[u128],
        shift: bool,
    ) -> Result<(Vec<R>, LayerTrace)> {
        let layer = &fl.layer;
        let op = layer.op();
        let named = |e: Error| match e {
            Error::Shape { detail, .. } => Error::shape(format!("layer {}", layer.name()), detail),
            e => e,
        };
        if op.arity() == Some(1) {
            let input = layer.input_shape();
            let per: usize = input.iter().product();
            let n = ins.first().map_or(0, |x| x.len());
            if ins.len() != 1 || n != batch * per {
                return Err(Error::shape(
                    format!("layer {}", layer.name()),
                    format!("{n} values for a batch of {batch} × {input:?}"),
                ));
            }
        }
        let f = self.fp.frac_bits;
        let m = ins.iter().map(|x| max_abs(x)).max().unwrap_or(0);
        let mu = u128::from(m);
        // A truncating operator of several operands (a product) sees the largest of
        // their error bounds; a single-input operator its input's.
        let dev = devs.iter().copied().max().unwrap_or(0);
        let limit = 1u128 << (R::BITS - 2);
        // The sound accumulator bound and the accumulator's gain in the input error.
        let truncates = op.truncates();
        let (bound, delta) = crate::dispatch_op!(op, D, a => D::acc_bound(a, fl, mu, dev));
        let acc_bound = truncates.then_some(bound);
        if let Some(b) = acc_bound
            && b >= limit
        {
            return Err(Error::Range {
                what: format!("layer {} ({})", layer.name(), op.kind()),
                detail: format!(
                    "accumulator bound {b} (≈ 2^{:.1}) reaches 2^{} = 2^(ℓ−2) in {} with {f} fractional bits; use fewer fractional bits or Z64",
                    (b as f64).log2(),
                    R::BITS - 2,
                    R::NAME
                ),
            });
        }
        let y = crate::dispatch_op!(op, D, a => D::fixed(a, fl, ins, batch, f)).map_err(named)?;
        let (y, max_abs_acc, dev_out) = if truncates {
            let ma = max_abs(&y);
            let y = if shift {
                y.into_iter().map(|v| v.shr_signed(f)).collect()
            } else {
                y
            };
            let d = if dev == 0 { 1 } else { (delta >> f) + 2 };
            (y, Some(ma), d)
        } else {
            let d = crate::dispatch_op!(op, D, a => D::error_bound_fixed(a, fl, devs, f));
            (y, None, d)
        };
        Ok((
            y,
            LayerTrace {
                name: layer.name().to_string(),
                max_abs_input: m,
                acc_bound,
                max_abs_acc,
                error_bound_ulps: dev_out,
            },
        ))
    }
}
