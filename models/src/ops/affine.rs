//! `add_const` and `mul_const`: element-wise affine maps by constant tensors — ONNX
//! `Add`, `Sub`, `Mul` and `Div` with one constant operand (an initializer or a
//! `Constant` node), `Pad`'s non-zero constant. The constants are party 0's weights (as
//! a dense layer's), each broadcast NumPy-style to the per-example input shape
//! (dimensions aligned from the right, each 1 or equal; [`slope_indices`]).
//!
//! Fixed point: `add_const` computes `±x + enc_f(c)`, exact ring arithmetic (no
//! truncation, the input's error bound); `mul_const` the accumulator
//! `enc_f(s)·x + enc_2f(b)` at scale `2^2f`, truncated once like a dense layer with one
//! input per output.

use tessera_core::{FixedPoint, Ring};

use super::Operator;
use super::prelu::slope_indices;
use crate::fixed::{FixedLayer, FixedParams, abs_u128, encode_values};
use crate::float::Float;
use crate::model::{Layer, Tensor};
use crate::{Error, Result};

/// The attributes of [`crate::Op::AddConst`]: `y = ±x + c`. `Debug` shows shapes only.
#[derive(Clone, Debug, PartialEq)]
pub struct AddConst {
    /// `c`, broadcast to the per-example input shape.
    pub value: Tensor,
    /// `y = c − x` instead of `x + c` (ONNX `Sub` with the constant first).
    pub negate: bool,
}

/// The attributes of [`crate::Op::MulConst`]: `y = s ⊙ x + b`, each broadcast to the
/// per-example input shape. `Debug` shows shapes only.
#[derive(Clone, Debug, PartialEq)]
pub struct MulConst {
    /// `s` (a `Div` by `c` is a product by `1/c`).
    pub scale: Tensor,
    /// `b`, if any (an `Add`/`Sub` of a constant folded after the product).
    pub bias: Option<Tensor>,
}

/// Whether a constant of shape `c` broadcasts to the per-example shape `input`
/// without enlarging it (at most `input`'s rank: leading ones are dropped by the loader).
pub fn broadcasts(c: &[usize], input: &[usize]) -> bool {
    c.len() <= input.len() && slope_indices(c, input).is_some()
}

/// For each element of an example of `input`, its value's index in `t`.
fn indices(t: &Tensor, layer: &Layer, what: &str) -> Result<Vec<usize>> {
    let input = layer.input_shape();
    if !broadcasts(t.shape(), input) {
        return Err(Error::shape(
            format!("layer {}", layer.name()),
            format!(
                "{what} of shape {:?} does not broadcast to {input:?}",
                t.shape()
            ),
        ));
    }
    slope_indices(t.shape(), input).ok_or_else(|| Error::shape(layer.name(), "broadcast"))
}

fn check_shape(t: &Tensor, input: &[usize], what: &str, name: &str) -> Result<()> {
    if broadcasts(t.shape(), input) {
        Ok(())
    } else {
        Err(Error::shape(
            what,
            format!(
                "{name} of shape {:?} does not broadcast to the input {input:?} (Tessera takes constants that broadcast to the activation's shape, at most its rank)",
                t.shape()
            ),
        ))
    }
}

/// The [`Operator`] of [`crate::Op::AddConst`]: exact, 1-Lipschitz.
pub struct AddConstOp;

impl AddConstOp {
    /// `±x + c` per element, `c` read through `idx`.
    fn apply<T: Copy + std::ops::Add<Output = T> + std::ops::Sub<Output = T>>(
        x: &[T],
        c: &[T],
        idx: &[usize],
        negate: bool,
        zero: T,
    ) -> Vec<T> {
        x.iter()
            .zip(idx.iter().cycle())
            .map(|(&v, &i)| if negate { zero - v + c[i] } else { v + c[i] })
            .collect()
    }
}

impl Operator for AddConstOp {
    type Attrs = AddConst;
    const KIND: &'static str = "add_const";

    fn params(a: &AddConst) -> Vec<&Tensor> {
        vec![&a.value]
    }

    fn shape(a: &AddConst, inputs: &[&[usize]], what: &str) -> Result<Vec<usize>> {
        check_shape(&a.value, inputs[0], what, "constant")?;
        Ok(inputs[0].to_vec())
    }

    fn float<F: Float>(a: &AddConst, layer: &Layer, ins: &[&[F]], _: usize) -> Result<Vec<F>> {
        let x = super::single(ins, Self::KIND)?;
        let idx = indices(&a.value, layer, "constant")?;
        let c: Vec<F> = a.value.data().iter().map(|&v| F::from_f32(v)).collect();
        Ok(Self::apply(x, &c, &idx, a.negate, F::zero()))
    }

    /// `enc_f(c)` as the weight.
    fn encode<R: Ring>(a: &AddConst, fp: FixedPoint, name: &str) -> Result<FixedParams<R>> {
        Ok(FixedParams {
            weight: Some(encode_values(a.value.data(), fp, name, "constant")?),
            ..FixedParams::default()
        })
    }

    fn fixed<R: Ring>(
        a: &AddConst,
        fl: &FixedLayer<R>,
        ins: &[&[R]],
        _: usize,
        _: u32,
    ) -> Result<Vec<R>> {
        let x = super::single(ins, Self::KIND)?;
        let idx = indices(&a.value, fl.layer(), "constant")?;
        let c = fl.weight().ok_or_else(|| Error::InvalidArgument {
            what: "add_const",
            detail: format!("layer {} has no encoded constant", fl.layer().name()),
        })?;
        Ok(Self::apply(x, c, &idx, a.negate, R::zero()))
    }

    /// Whether the input is negated (public: the architecture's).
    fn hyper(a: &AddConst) -> String {
        format!("negate={} c{:?}", a.negate, a.value.shape())
    }
}

/// The [`Operator`] of [`crate::Op::MulConst`].
pub struct MulConstOp;

impl Operator for MulConstOp {
    type Attrs = MulConst;
    const KIND: &'static str = "mul_const";
    const TRUNCATES: bool = true;

    fn params(a: &MulConst) -> Vec<&Tensor> {
        let mut p = vec![&a.scale];
        p.extend(&a.bias);
        p
    }

    fn shape(a: &MulConst, inputs: &[&[usize]], what: &str) -> Result<Vec<usize>> {
        check_shape(&a.scale, inputs[0], what, "scale")?;
        if let Some(b) = &a.bias {
            check_shape(b, inputs[0], what, "bias")?;
        }
        Ok(inputs[0].to_vec())
    }

    fn float<F: Float>(a: &MulConst, layer: &Layer, ins: &[&[F]], _: usize) -> Result<Vec<F>> {
        let x = super::single(ins, Self::KIND)?;
        let si = indices(&a.scale, layer, "scale")?;
        let s: Vec<F> = a.scale.data().iter().map(|&v| F::from_f32(v)).collect();
        let mut y: Vec<F> = x
            .iter()
            .zip(si.iter().cycle())
            .map(|(&v, &i)| s[i] * v)
            .collect();
        if let Some(b) = &a.bias {
            let bi = indices(b, layer, "bias")?;
            let bv: Vec<F> = b.data().iter().map(|&v| F::from_f32(v)).collect();
            for (o, &i) in y.iter_mut().zip(bi.iter().cycle()) {
                *o += bv[i];
            }
        }
        Ok(y)
    }

    /// `enc_f(s)` as the weight, `enc_2f(b)` as the bias; the gain is `max|enc_f(s)|`.
    fn encode<R: Ring>(a: &MulConst, fp: FixedPoint, name: &str) -> Result<FixedParams<R>> {
        let w = encode_values::<R>(a.scale.data(), fp, name, "scale")?;
        let mut p = FixedParams {
            gain: w.iter().map(|&v| abs_u128(v)).max().unwrap_or(0),
            weight: Some(w),
            ..FixedParams::default()
        };
        if let Some(b) = &a.bias {
            let b = encode_values::<R>(b.data(), FixedPoint::new(2 * fp.frac_bits), name, "bias")?;
            p.max_bias = b.iter().map(|&v| abs_u128(v)).max().unwrap_or(0);
            p.bias = Some(b);
        }
        Ok(p)
    }

    /// The accumulator `enc_f(s)·x + enc_2f(b)` at scale `2^2f`.
    fn fixed<R: Ring>(
        a: &MulConst,
        fl: &FixedLayer<R>,
        ins: &[&[R]],
        _: usize,
        _: u32,
    ) -> Result<Vec<R>> {
        let x = super::single(ins, Self::KIND)?;
        let layer = fl.layer();
        let s = fl.weight().ok_or_else(|| Error::InvalidArgument {
            what: "mul_const",
            detail: format!("layer {} has no encoded scale", layer.name()),
        })?;
        let si = indices(&a.scale, layer, "scale")?;
        let mut y: Vec<R> = x
            .iter()
            .zip(si.iter().cycle())
            .map(|(&v, &i)| s[i] * v)
            .collect();
        if let (Some(b), Some(bt)) = (fl.bias(), &a.bias) {
            let bi = indices(bt, layer, "bias")?;
            for (o, &i) in y.iter_mut().zip(bi.iter().cycle()) {
                *o += b[i];
            }
        }
        Ok(y)
    }

    /// `max|enc_f(s)|·max|x| + max|enc_2f(b)|`; deviation `max|enc_f(s)|·D`.
    fn acc_bound<R: Ring>(_: &MulConst, fl: &FixedLayer<R>, mu: u128, dev: u128) -> (u128, u128) {
        super::dense::linear_bound(fl, mu, dev)
    }

    /// The constants' shapes (public; their values are not).
    fn hyper(a: &MulConst) -> String {
        format!(
            "s{:?} b{:?}",
            a.scale.shape(),
            a.bias.as_ref().map(|b| b.shape().to_vec())
        )
    }
}
