//! The operators: one module per operator, each holding its attributes, its shape
//! rule, its float semantics and its fixed-point semantics (accumulator, truncation,
//! accumulator bound, error-bound propagation) behind one trait, [`Operator`].
//!
//! [`Op`] is the closed set of operators a [`crate::Model`] holds, and
//! [`dispatch_op!`](crate::dispatch_op) is the registry: one line per operator maps
//! its `Op` variant to the type implementing [`Operator`] (and, in the engine, its
//! lowering). Every dispatch point — [`Op`]'s methods, the float and fixed-point
//! interpreters, the engine's lowering — is one `dispatch_op!` invocation, so adding
//! an operator is: its `Op` variant and registry line here, its module here, its
//! module in `tessera-engine`'s `ops`, its ONNX mapping in [`crate::onnx`], and its
//! tests. `docs/models.md` ("Adding an operator") walks through `sub`.

use tessera_core::{FixedPoint, Ring};

use crate::fixed::{FixedLayer, FixedParams};
use crate::float::Float;
use crate::model::{Layer, Tensor};
use crate::{Error, Result};

pub mod affine;
pub mod avgpool;
pub mod clip;
pub mod concat;
pub mod conv;
pub mod dense;
pub mod divide;
pub mod elementwise;
pub mod exp;
pub mod matmul;
pub mod maxpool;
pub mod minmax;
pub mod pool;
pub mod prelu;
mod registry;
pub mod relu;
pub mod remap;
pub mod reshape;
pub mod secureml_sigmoid;
pub mod sign;
pub mod smooth;
pub mod softmax;
pub mod spline;
pub mod square;

pub use affine::{AddConst, MulConst};
pub use clip::Clip;
pub use conv::Conv;
pub use dense::Dense;
pub use pool::Pool;
pub use prelu::{LeakyRelu, PRelu};
pub use remap::Remap;
pub use smooth::{Elu, Selu};
pub use softmax::Softmax;

/// What a layer computes.
#[derive(Clone, Debug, PartialEq)]
pub enum Op {
    /// Fully connected layer, input `[in]` → `[out]`.
    Dense(Dense),
    /// N-D convolution (1-D to 3-D, strides, dilations, padding, groups), input
    /// `[C, …in]` → `[O, …out]`.
    Conv(Conv),
    /// `max(x, 0)`.
    Relu,
    /// Max pooling (1-D to 3-D), input `[C, …in]` → `[C, …out]`.
    MaxPool(Pool),
    /// Average pooling with a constant divisor `Π kernel` (1-D to 3-D), input
    /// `[C, …in]` → `[C, …out]`.
    AvgPool(Pool),
    /// A new per-example shape of the same size (ONNX `Flatten` with `axis = 1`, or
    /// `Reshape` keeping the batch dimension). Moves no data.
    Reshape(Vec<usize>),
    /// SecureML's piecewise-linear sigmoid (Mohassel–Zhang, S&P 2017, §4.3): `0` for
    /// `x < −1/2`, `x + 1/2` for `−1/2 ≤ x ≤ 1/2`, `1` for `x > 1/2`, i.e.
    /// `clamp(x + 1/2, 0, 1)`, in every interpreter. It is not the logistic function:
    /// `|σ(x) − clamp(x + 1/2, 0, 1)|` reaches 0.378 (at `|x| = 1/2`: `1 − σ(1/2)`). ONNX `Sigmoid`
    /// loads as this with the loader option `SigmoidKind::SecureMl`.
    SecureMlSigmoid,
    /// The square activation `x·x` of CryptoNets (ONNX `Mul` of a tensor by itself).
    Square,
    /// The element-wise sum of two values of one shape (ONNX `Add` of two activations:
    /// a residual connection).
    Add,
    /// The element-wise difference of two values of one shape (ONNX `Sub`).
    Sub,
    /// The element-wise product of two values of one shape (ONNX `Mul` of two
    /// activations), a fixed-point product truncated once.
    Mul,
    /// `−x` (ONNX `Neg`).
    Neg,
    /// The concatenation of several values along a per-example axis (ONNX `Concat`
    /// with `axis − 1`); the other dimensions must agree.
    Concat(usize),
    /// A re-indexing within an example, each output value one input value or zero
    /// (`Pad`, `Transpose`, a transposed convolution's input dilation).
    Remap(Remap),
    /// The logistic sigmoid `1/(1 + e^−x)` (ONNX `Sigmoid`, by default); in fixed
    /// point a spline ([`smooth`]).
    Sigmoid,
    /// `tanh x` (ONNX `Tanh`); in fixed point a spline ([`smooth`]).
    Tanh,
    /// `x` for `x ≥ 0`, `α(e^x − 1)` below (ONNX `Elu`); in fixed point a spline.
    Elu(Elu),
    /// `γ·x` for `x > 0`, `γα(e^x − 1)` below (ONNX `Selu`); in fixed point a spline.
    Selu(Selu),
    /// `ln(1 + e^x)` (ONNX `Softplus`); in fixed point a spline.
    Softplus,
    /// `x/(1 + |x|)` (ONNX `Softsign`, or PyTorch's export `x / (|x| + 1)`); in fixed
    /// point a spline.
    Softsign,
    /// `x` for `x ≥ 0`, `α·x` below, `α` a public hyper-parameter (ONNX `LeakyRelu`).
    LeakyRelu(LeakyRelu),
    /// `x` for `x ≥ 0`, `a·x` below with `a` party 0's slope tensor, a scalar or
    /// per-channel (ONNX `PRelu`).
    PRelu(PRelu),
    /// Softmax or log-softmax over groups of consecutive values (ONNX `Softmax`,
    /// `LogSoftmax`); in fixed point splines of `eˣ` and `ln`, a division per group.
    Softmax(Softmax),
    /// `min(max(x, lo), hi)` with public bounds, either optional (ONNX `Clip`; `Max`/`Min`
    /// with a constant); exact.
    Clip(Clip),
    /// `|x|` (ONNX `Abs`); exact.
    Abs,
    /// `−1`, `0` or `1` by the sign of `x` (ONNX `Sign`); exact.
    Sign,
    /// The element-wise maximum of two values of one shape (ONNX `Max`); exact.
    Max,
    /// The element-wise minimum of two values of one shape (ONNX `Min`); exact.
    Min,
    /// `eˣ` (ONNX `Exp`); in fixed point a spline, saturating ([`exp`]).
    Exp,
    /// `x / y` of two values of one shape (ONNX `Div` by an activation); in fixed point
    /// rounded toward zero, saturating ([`divide`]).
    Divide,
    /// `1 / x` (ONNX `Reciprocal`); as [`Op::Divide`] with `x = 1`.
    Reciprocal,
    /// `±x + c` with a constant `c` (party 0's weight) broadcast to the example (ONNX
    /// `Add`/`Sub` of a constant, `Pad`'s non-zero value); exact.
    AddConst(AddConst),
    /// `s ⊙ x + b` with constants (party 0's weights) broadcast to the example (ONNX
    /// `Mul`/`Div` by a constant, with a following `Add`/`Sub` of one folded in);
    /// truncated once.
    MulConst(MulConst),
    /// The matrix product of two activations, `[…, m, k] · […, k, n]` per example
    /// (ONNX `MatMul` of two activations), truncated once.
    MatMul,
}

/// One operator: its shape rule and its float and fixed-point semantics. Implemented
/// by a unit type per operator (`DenseOp`, `ReluOp`, …) whose [`Operator::Attrs`] is
/// the payload of its [`Op`] variant; every function takes those attributes.
pub trait Operator {
    /// The attributes the [`Op`] variant carries (`()` if none).
    type Attrs;
    /// The short name ("dense", "relu", …).
    const KIND: &'static str;
    /// How many values it reads: `None` for any number ≥ 1.
    const ARITY: Option<usize> = Some(1);
    /// Whether its fixed-point result is a product of two fixed-point values, an
    /// accumulator at scale `2^2f` truncated by `>> f` (see [`crate::fixed`]).
    const TRUNCATES: bool = false;
    /// Whether it only gives its input a new shape: no data moved, nothing computed
    /// (a reshape), so a pending accumulator stays pending through it.
    const VIEW: bool = false;

    /// Its weight tensors (weights, then bias), for counting and checking.
    fn params(_a: &Self::Attrs) -> Vec<&Tensor> {
        Vec::new()
    }

    /// The per-example output shape for the per-example input shapes (their number
    /// already checked against [`Operator::ARITY`]).
    ///
    /// # Errors
    /// [`Error::Shape`] if the inputs do not fit (`what` names the layer).
    fn shape(a: &Self::Attrs, inputs: &[&[usize]], what: &str) -> Result<Vec<usize>>;

    /// Multiply-adds or window reads per output value (checked against
    /// [`crate::model::MAX_WORK`]); `None` on overflow.
    fn work_per_output(_a: &Self::Attrs) -> Option<u64> {
        Some(1)
    }

    /// Any further size limit on the output `out` (e.g. a convolution's im2col
    /// buffer).
    fn within_limits(_a: &Self::Attrs, _out: &[usize]) -> bool {
        true
    }

    /// The float semantics on a batch of the layer's inputs (their sizes checked for a
    /// single-input operator).
    ///
    /// # Errors
    /// [`Error::Shape`] if the inputs do not fit.
    fn float<F: Float>(
        a: &Self::Attrs,
        layer: &Layer,
        ins: &[&[F]],
        batch: usize,
    ) -> Result<Vec<F>>;

    /// Its parameters encoded for the fixed-point reference with format `fp`
    /// (`name` names the layer in errors).
    ///
    /// # Errors
    /// [`Error::Range`] if a parameter cannot be encoded in `R`.
    fn encode<R: Ring>(_a: &Self::Attrs, _fp: FixedPoint, _name: &str) -> Result<FixedParams<R>> {
        Ok(FixedParams::default())
    }

    /// The fixed-point semantics on a batch (scale `2^f`): the accumulator at scale
    /// `2^2f` before the shift if [`Operator::TRUNCATES`], else the output.
    ///
    /// # Errors
    /// [`Error::Shape`] if the inputs do not fit.
    fn fixed<R: Ring>(
        a: &Self::Attrs,
        fl: &FixedLayer<R>,
        ins: &[&[R]],
        batch: usize,
        frac_bits: u32,
    ) -> Result<Vec<R>>;

    /// A truncating operator: the sound bound on `|accumulator|` when `max|x| = mu`,
    /// and the bound on the accumulator's deviation when the input deviates by at
    /// most `dev` (units of `2^-f`).
    fn acc_bound<R: Ring>(
        _a: &Self::Attrs,
        _fl: &FixedLayer<R>,
        _mu: u128,
        _dev: u128,
    ) -> (u128, u128) {
        (0, 0)
    }

    /// A non-truncating operator: the error bound of its output from its inputs'
    /// (the first input's by default: a 1-Lipschitz operator).
    fn error_bound(_a: &Self::Attrs, devs: &[u128]) -> u128 {
        devs.first().copied().unwrap_or(0)
    }

    /// A non-truncating operator whose bound depends on the fixed-point format (an
    /// approximation's error in units of `2^-f`, an encoded slope): the error bound of
    /// its output from its inputs' for layer `fl` with `frac_bits` fractional bits.
    /// [`crate::FixedModel`] calls this; it defaults to [`Operator::error_bound`].
    fn error_bound_fixed<R: Ring>(
        a: &Self::Attrs,
        _fl: &FixedLayer<R>,
        devs: &[u128],
        _frac_bits: u32,
    ) -> u128 {
        Self::error_bound(a, devs)
    }

    /// Its public hyper-parameters that shape its circuits (an activation's `α`), as
    /// text for the architecture digest both parties compare; empty if none. Never
    /// a weight.
    fn hyper(_a: &Self::Attrs) -> String {
        String::new()
    }
}

/// The one input of a single-input operator.
pub(crate) fn single<'a, T>(ins: &[&'a [T]], kind: &str) -> Result<&'a [T]> {
    match ins {
        [x] => Ok(x),
        _ => Err(Error::shape(
            kind,
            format!("{} inputs for a single-input operator", ins.len()),
        )),
    }
}
