//! The window shared by the pooling operators ([`super::maxpool`],
//! [`super::avgpool`]) and the convolution: not an operator itself.

use crate::{Error, Result};

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

/// The shape rule of a pooling layer: `[C, H, W]` → `[C, OH, OW]`.
pub(crate) fn pool_shape(p: &Pool2d, input: &[usize], what: &str) -> Result<Vec<usize>> {
    let &[ch, h, w] = input else {
        return Err(Error::shape(
            what,
            format!("input {input:?} is not [C, H, W]"),
        ));
    };
    let (oh, ow) = window_out([h, w], p.kernel, p.strides, p.pads, what)?;
    Ok(vec![ch, oh, ow])
}

/// The output size of a sliding window: `(H + top + bottom − kh) / sh + 1` (floor).
pub(crate) fn window_out(
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
