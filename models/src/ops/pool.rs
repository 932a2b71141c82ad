//! The window shared by the pooling operators ([`super::maxpool`],
//! [`super::avgpool`]): not an operator itself. 1-D, 2-D and 3-D, with strides,
//! dilations, padding and `ceil_mode`; its geometry is
//! [`tessera_protocols::Window`]'s.

use tessera_protocols::Window;
use tessera_protocols::arith::window::MAX_RANK;

use crate::{Error, Result};

/// The window of a pooling layer over `[C, …spatial]` (1 to 3 spatial dimensions).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Pool {
    /// Window size per spatial dimension (each ≥ 1; entries past the rank are 1).
    pub kernel: [usize; MAX_RANK],
    /// Strides, dilations, padding and `ceil_mode`. Padding is ignored by max pooling
    /// (ONNX's −∞ padding: no window may lie entirely in it) and counted as zeros in
    /// the divisor by average pooling (ONNX `count_include_pad = 1`).
    pub window: Window,
}

impl Pool {
    /// A 2-D pooling window `[kh, kw]` with strides `[sh, sw]` and pads
    /// `[top, left, bottom, right]` (ONNX order).
    pub fn new2d(kernel: [usize; 2], strides: [usize; 2], pads: [usize; 4]) -> Pool {
        let mut window = Window::square2d(1, 0);
        window.strides[..2].copy_from_slice(&strides);
        window.pad_begin[..2].copy_from_slice(&pads[..2]);
        window.pad_end[..2].copy_from_slice(&pads[2..]);
        Pool {
            kernel: [kernel[0], kernel[1], 1],
            window,
        }
    }

    /// The window size over its spatial dimensions.
    pub fn kernel(&self) -> &[usize] {
        &self.kernel[..self.window.rank]
    }

    /// Taps per window: `Π kernel`.
    pub fn taps(&self) -> usize {
        self.kernel().iter().product()
    }

    /// For every output value of one example (`[C, …out]` order), the `taps` flat
    /// indices into the example `[C, …in]` its window reads, `None` in the padding.
    pub fn indices(&self, input: &[usize], output: &[usize]) -> Vec<Option<usize>> {
        let (c, spatial, out) = (input[0], &input[1..], &output[1..]);
        let per: usize = spatial.iter().product();
        let one = self.window.indices(spatial, self.kernel(), out);
        let mut all = Vec::with_capacity(c * one.len());
        for ch in 0..c {
            all.extend(one.iter().map(|i| i.map(|i| ch * per + i)));
        }
        all
    }

    /// Whether some window lies entirely in the padding (for spatial `input`).
    pub fn has_empty_window(&self, input: &[usize]) -> bool {
        let w = &self.window;
        let Some(out) = w.output(input, self.kernel()) else {
            return false;
        };
        (0..w.rank).any(|i| {
            (0..out[i]).any(|o| {
                (0..self.kernel[i]).all(|k| {
                    (o * w.strides[i] + k * w.dilations[i])
                        .checked_sub(w.pad_begin[i])
                        .is_none_or(|x| x >= input[i])
                })
            })
        })
    }

    /// Folds every window of a batch `x: [batch, C, …in]` with `f` over its
    /// in-bounds elements from `init`; returns `[batch, C, …out]`.
    pub(crate) fn fold<T: Copy, A: Copy>(
        &self,
        input: &[usize],
        output: &[usize],
        x: &[T],
        batch: usize,
        init: A,
        f: impl Fn(A, T) -> A,
    ) -> Vec<A> {
        let idx = self.indices(input, output);
        let per_in: usize = input.iter().product();
        let taps = self.taps();
        let mut out = Vec::with_capacity(batch * idx.len() / taps.max(1));
        for img in x.chunks_exact(per_in.max(1)).take(batch) {
            for w in idx.chunks_exact(taps.max(1)) {
                out.push(w.iter().flatten().fold(init, |a, &i| f(a, img[i])));
            }
        }
        out
    }
}

/// The shape rule of a pooling layer: `[C, …in]` → `[C, …out]`.
pub(crate) fn pool_shape(p: &Pool, input: &[usize], what: &str) -> Result<Vec<usize>> {
    let r = p.window.rank;
    if input.len() != r + 1 {
        return Err(Error::shape(
            what,
            format!("input {input:?} is not [C, …] with {r} spatial dimensions"),
        ));
    }
    match p.window.output(&input[1..], p.kernel()) {
        Some(out) => Ok(std::iter::once(input[0]).chain(out).collect()),
        None => Err(Error::shape(
            what,
            format!(
                "window {:?} with strides {:?}, dilations {:?} and pads {:?}/{:?} does not fit input {:?}",
                p.kernel(),
                &p.window.strides[..r],
                &p.window.dilations[..r],
                &p.window.pad_begin[..r],
                &p.window.pad_end[..r],
                &input[1..]
            ),
        )),
    }
}
