//! `conv2d`: a 2-D convolution (cross-correlation, ONNX `Conv` with `group = 1`,
//! `dilations = 1`).

use tessera_core::{FixedPoint, Ring};

use super::Operator;
use super::dense::{check_bias, encode_linear, linear_bound};
use super::pool::{Pool2d, window_out};
use crate::fixed::{FixedLayer, FixedParams};
use crate::float::Float;
use crate::kernels::{self, Window};
use crate::model::{Layer, MAX_VALUES, Tensor, checked_numel};
use crate::{Error, Result};

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

/// The window of a convolution and its number of output channels.
pub fn conv_window(c: &Conv2d, input: &[usize], output: &[usize]) -> (Window, usize) {
    let s = c.weight.shape();
    let p = Pool2d {
        kernel: [s[2], s[3]],
        strides: c.strides,
        pads: c.pads,
    };
    (Window::new(input, output, &p), s[0])
}

/// The [`Operator`] of [`crate::Op::Conv2d`]: input `[C, H, W]` → `[O, OH, OW]`; in
/// fixed point the dense layer's accumulator per output pixel (zero padding),
/// truncated once.
pub struct Conv2dOp;

impl Operator for Conv2dOp {
    type Attrs = Conv2d;
    const KIND: &'static str = "conv2d";
    const TRUNCATES: bool = true;

    fn params(c: &Conv2d) -> Vec<&Tensor> {
        std::iter::once(&c.weight).chain(c.bias.as_ref()).collect()
    }

    fn shape(c: &Conv2d, inputs: &[&[usize]], what: &str) -> Result<Vec<usize>> {
        let input = inputs[0];
        let bad = |detail: String| Err(Error::shape(what, detail));
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

    fn work_per_output(c: &Conv2d) -> Option<u64> {
        checked_numel(&c.weight.shape()[1..]).map(|n| n as u64)
    }

    /// The im2col buffer of a convolution: `[C·kh·kw, OH·OW]` per image.
    fn within_limits(c: &Conv2d, out: &[usize]) -> bool {
        checked_numel(&c.weight.shape()[1..])
            .and_then(|k| k.checked_mul(out[1].checked_mul(out[2])?))
            .is_some_and(|n| n <= MAX_VALUES)
    }

    fn float<F: Float>(c: &Conv2d, l: &Layer, ins: &[&[F]], batch: usize) -> Result<Vec<F>> {
        let x = super::single(ins, Self::KIND)?;
        let cast = |t: &[f32]| -> Vec<F> { t.iter().map(|&v| F::from_f32(v)).collect() };
        let (win, o) = conv_window(c, l.input_shape(), l.output_shape());
        let b = c.bias.as_ref().map(|b| cast(b.data()));
        Ok(kernels::conv2d(
            x,
            batch,
            &win,
            &cast(c.weight.data()),
            o,
            b.as_deref(),
        ))
    }

    fn encode<R: Ring>(c: &Conv2d, fp: FixedPoint, name: &str) -> Result<FixedParams<R>> {
        encode_linear(&c.weight, c.bias.as_ref(), fp, name, false)
    }

    fn fixed<R: Ring>(
        c: &Conv2d,
        fl: &FixedLayer<R>,
        ins: &[&[R]],
        batch: usize,
        _: u32,
    ) -> Result<Vec<R>> {
        let x = super::single(ins, Self::KIND)?;
        let l = fl.layer();
        let (win, o) = conv_window(c, l.input_shape(), l.output_shape());
        let p = fl.params();
        Ok(kernels::conv2d(
            x,
            batch,
            &win,
            &p.kernel,
            o,
            p.bias.as_deref(),
        ))
    }

    fn acc_bound<R: Ring>(_: &Conv2d, fl: &FixedLayer<R>, mu: u128, dev: u128) -> (u128, u128) {
        linear_bound(fl, mu, dev)
    }
}
