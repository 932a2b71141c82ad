//! `div` and `reciprocal`: `a / b` with `b` an activation (ONNX `Div` of two
//! activations) and `1 / b` (ONNX `Reciprocal`). Fixed point, exactly what the
//! restoring-division circuit computes: with `A = |a|`, `B = |b|` (unsigned, `ℓ` bits),
//! `N = A·2^f` and `Q = ℓ − 1` quotient bits,
//!
//! - `q = ⌊N / B⌋` if `N < B·2^Q`, else (`B = 0`, or a quotient that does not fit)
//!   `q = 2^Q − 1`, the largest positive value (saturation);
//! - `y = −q` if exactly one of `a`, `b` is negative, else `q`.
//!
//! So `y` is `a/b` rounded toward zero to a multiple of `2^-f`: off by less than one
//! unit of `2^-f` from the quotient of the encoded operands wherever it does not
//! saturate, for every divisor — no range reduction, no initial guess. The reciprocal is
//! the same with `a = 2^f` (1). CrypTen's Newton–Raphson reciprocal (an `exp`-based
//! initial guess, then iterations of `y(2 − by)` in the arithmetic sharing) needs a
//! bounded input range and probabilistic truncations; the circuit is exact.

use tessera_core::Ring;

use super::Operator;
use super::elementwise::same_shape;
use crate::Result;
use crate::fixed::FixedLayer;
use crate::float::Float;
use crate::kernels;
use crate::model::Layer;

/// The fixed-point quotient `a / b` of two signed values at scale `2^f` in `Z_2^ℓ` (see
/// the module docs), as a signed value.
pub fn div_fixed(a: i64, b: i64, frac_bits: u32, ring_bits: u32) -> i64 {
    let q_bits = ring_bits - 1;
    let n = u128::from(a.unsigned_abs()) << frac_bits;
    let d = u128::from(b.unsigned_abs());
    let q = if d == 0 || n >= d << q_bits {
        (1u128 << q_bits) - 1
    } else {
        n / d
    };
    let q = q as i64;
    if (a < 0) != (b < 0) { -q } else { q }
}

/// The [`Operator`] of [`crate::Op::Divide`]: `x / y`.
pub struct DivideOp;

/// The [`Operator`] of [`crate::Op::Reciprocal`]: `1 / x`.
pub struct ReciprocalOp;

/// No bound: a quotient is not Lipschitz near a zero divisor, so an operand off by
/// `D > 0` units may move it anywhere.
fn quotient_bound(devs: &[u128]) -> u128 {
    if devs.iter().all(|&d| d == 0) {
        0
    } else {
        u128::MAX
    }
}

impl Operator for DivideOp {
    type Attrs = ();
    const KIND: &'static str = "div";
    const ARITY: Option<usize> = Some(2);

    fn shape(_: &(), inputs: &[&[usize]], what: &str) -> Result<Vec<usize>> {
        same_shape(inputs, what)
    }

    fn float<F: Float>(_: &(), _: &Layer, ins: &[&[F]], _: usize) -> Result<Vec<F>> {
        kernels::zip(ins, |a, b| a / b)
    }

    fn fixed<R: Ring>(_: &(), _: &FixedLayer<R>, ins: &[&[R]], _: usize, f: u32) -> Result<Vec<R>> {
        kernels::zip(ins, |a, b| {
            R::from_i64(div_fixed(a.to_i64(), b.to_i64(), f, R::BITS))
        })
    }

    fn error_bound(_: &(), devs: &[u128]) -> u128 {
        quotient_bound(devs)
    }
}

impl Operator for ReciprocalOp {
    type Attrs = ();
    const KIND: &'static str = "reciprocal";

    fn shape(_: &(), inputs: &[&[usize]], _: &str) -> Result<Vec<usize>> {
        Ok(inputs[0].to_vec())
    }

    fn float<F: Float>(_: &(), _: &Layer, ins: &[&[F]], _: usize) -> Result<Vec<F>> {
        let x = super::single(ins, Self::KIND)?;
        Ok(x.iter().map(|&v| F::from_f32(1.0) / v).collect())
    }

    fn fixed<R: Ring>(_: &(), _: &FixedLayer<R>, ins: &[&[R]], _: usize, f: u32) -> Result<Vec<R>> {
        let x = super::single(ins, Self::KIND)?;
        Ok(x.iter()
            .map(|&v| R::from_i64(div_fixed(1i64 << f, v.to_i64(), f, R::BITS)))
            .collect())
    }

    fn error_bound(_: &(), devs: &[u128]) -> u128 {
        quotient_bound(devs)
    }
}
