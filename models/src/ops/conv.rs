//! `conv`: an N-D convolution (cross-correlation, ONNX `Conv`): 1-D, 2-D or 3-D, any
//! strides, dilations, zero padding (asymmetric allowed) and group count (grouped and
//! depthwise convolutions).

use tessera_core::{FixedPoint, Ring};
use tessera_protocols::Window;
use tessera_protocols::arith::window::ConvGeometry;

use super::Operator;
use super::dense::{check_bias, encode_linear, linear_bound};
use crate::fixed::{FixedLayer, FixedParams};
use crate::float::Float;
use crate::model::{Layer, MAX_VALUES, Tensor, checked_numel};
use crate::{Error, Result};

/// An N-D convolution over `[C, …spatial]` (1 to 3 spatial dimensions).
#[derive(Clone, Debug, PartialEq)]
pub struct Conv {
    /// The kernel, `[out_channels, in_channels / groups, …kernel]`.
    pub weight: Tensor,
    /// The bias, `[out_channels]`, if any.
    pub bias: Option<Tensor>,
    /// Strides, dilations and zero padding (`ceil_mode` false); its rank is the
    /// kernel's spatial rank.
    pub window: Window,
    /// Groups (≥ 1, dividing both channel counts): output channel `o` reads input
    /// channels `[(o / (O/g))·C/g, … + C/g)`; `g = C` is a depthwise convolution.
    pub groups: usize,
}

impl Conv {
    /// A 2-D convolution with one group and no dilation: strides `[sh, sw]` and pads
    /// `[top, left, bottom, right]` (ONNX order).
    pub fn new2d(
        weight: Tensor,
        bias: Option<Tensor>,
        strides: [usize; 2],
        pads: [usize; 4],
    ) -> Conv {
        let mut window = Window::square2d(1, 0);
        window.strides[..2].copy_from_slice(&strides);
        window.pad_begin[..2].copy_from_slice(&pads[..2]);
        window.pad_end[..2].copy_from_slice(&pads[2..]);
        Conv {
            weight,
            bias,
            window,
            groups: 1,
        }
    }

    /// The kernel's spatial size.
    pub fn kernel(&self) -> &[usize] {
        &self.weight.shape()[2..]
    }

    /// The geometry on per-example `input` `[C, …]` (its shape checked by
    /// [`Operator::shape`]).
    pub fn geometry(&self, input: &[usize]) -> Option<ConvGeometry> {
        ConvGeometry::new(
            &self.window,
            *input.first()?,
            input.get(1..)?,
            self.weight.shape()[0],
            self.kernel(),
            self.groups,
        )
    }
}

/// The [`Operator`] of [`crate::Op::Conv`]: input `[C, …in]` → `[O, …out]`; in fixed
/// point the dense layer's accumulator per output value (zero padding), truncated
/// once.
pub struct ConvOp;

impl Operator for ConvOp {
    type Attrs = Conv;
    const KIND: &'static str = "conv";
    const TRUNCATES: bool = true;

    fn params(c: &Conv) -> Vec<&Tensor> {
        std::iter::once(&c.weight).chain(c.bias.as_ref()).collect()
    }

    fn shape(c: &Conv, inputs: &[&[usize]], what: &str) -> Result<Vec<usize>> {
        let input = inputs[0];
        let bad = |detail: String| Err(Error::shape(what, detail));
        let ws = c.weight.shape();
        let r = c.window.rank;
        if ws.len() != r + 2 {
            return bad(format!(
                "kernel shape {ws:?} is not [out, in/groups, …] with {r} spatial dimensions"
            ));
        }
        if input.len() != r + 1 {
            return bad(format!(
                "input {input:?} is not [C, …] with {r} spatial dimensions"
            ));
        }
        let (o, ci, g) = (ws[0], ws[1], c.groups);
        if g == 0 || !input[0].is_multiple_of(g) || !o.is_multiple_of(g) || input[0] / g != ci {
            return bad(format!(
                "input has {} channels; a kernel {ws:?} with {g} groups expects {}",
                input[0],
                ci * g.max(1)
            ));
        }
        check_bias(&c.bias, o, what)?;
        match c.window.output(&input[1..], c.kernel()) {
            Some(out) => Ok(std::iter::once(o).chain(out).collect()),
            None => bad(format!(
                "kernel {:?} with strides {:?}, dilations {:?} and pads {:?}/{:?} does not fit input {:?}",
                c.kernel(),
                &c.window.strides[..r],
                &c.window.dilations[..r],
                &c.window.pad_begin[..r],
                &c.window.pad_end[..r],
                &input[1..]
            )),
        }
    }

    /// The window and the groups: convolutions of equal shapes may differ in them.
    fn hyper(c: &Conv) -> String {
        format!("{:?} groups {}", c.window, c.groups)
    }

    fn work_per_output(c: &Conv) -> Option<u64> {
        checked_numel(&c.weight.shape()[1..]).map(|n| n as u64)
    }

    /// The im2col buffer of a convolution: `[C/g·taps, Π out]` per image and group.
    fn within_limits(c: &Conv, out: &[usize]) -> bool {
        checked_numel(&c.weight.shape()[1..])
            .and_then(|k| k.checked_mul(checked_numel(&out[1..])?))
            .is_some_and(|n| n <= MAX_VALUES)
    }

    fn float<F: Float>(c: &Conv, l: &Layer, ins: &[&[F]], batch: usize) -> Result<Vec<F>> {
        let x = super::single(ins, Self::KIND)?;
        let cast = |t: &[f32]| -> Vec<F> { t.iter().map(|&v| F::from_f32(v)).collect() };
        let b = c.bias.as_ref().map(|b| cast(b.data()));
        run(c, l, x, &cast(c.weight.data()), b.as_deref(), batch)
    }

    fn encode<R: Ring>(c: &Conv, fp: FixedPoint, name: &str) -> Result<FixedParams<R>> {
        encode_linear(&c.weight, c.bias.as_ref(), fp, name, false)
    }

    fn fixed<R: Ring>(
        c: &Conv,
        fl: &FixedLayer<R>,
        ins: &[&[R]],
        batch: usize,
        _: u32,
    ) -> Result<Vec<R>> {
        let x = super::single(ins, Self::KIND)?;
        let p = fl.params();
        run(c, fl.layer(), x, &p.kernel, p.bias.as_deref(), batch)
    }

    fn acc_bound<R: Ring>(_: &Conv, fl: &FixedLayer<R>, mu: u128, dev: u128) -> (u128, u128) {
        linear_bound(fl, mu, dev)
    }
}

/// The convolution of a batch with kernel `k` (the weight's layout) and an optional
/// bias as each output channel's initial value.
fn run<T: Copy + Default + std::ops::AddAssign + std::ops::Mul<Output = T>>(
    c: &Conv,
    l: &Layer,
    x: &[T],
    k: &[T],
    bias: Option<&[T]>,
    batch: usize,
) -> Result<Vec<T>> {
    let geo = c
        .geometry(l.input_shape())
        .ok_or_else(|| Error::shape(l.name(), "the convolution does not fit its input"))?;
    let npos = geo.out_positions;
    let mut y = vec![T::default(); batch * geo.out_channels * npos];
    if let Some(b) = bias {
        for img in y.chunks_exact_mut((geo.out_channels * npos).max(1)) {
            for (chan, &bv) in img.chunks_exact_mut(npos.max(1)).zip(b) {
                chan.fill(bv);
            }
        }
    }
    geo.accumulate(x, k, &mut y, batch);
    Ok(y)
}
