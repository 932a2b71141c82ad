//! Bilinear maps over Z_2^ℓ tensors: element-wise product, matrix product and 2-D
//! convolution.
//!
//! Every multiplicative operation of arithmetic sharing is a bilinear map `f(a, b)`,
//! and one Beaver routine ([`crate::arith::beaver`]) serves them all (CrypTen's
//! `beaver.py` pattern). A map knows two things: the output shape for given input
//! shapes (the dealer uses exactly this function, so it never computes on data to
//! learn a size) and how to evaluate itself on plaintext tensors, accumulating into
//! an output (`out += f(a, b)`).

use std::borrow::Cow;

use ndarray::{ArrayD, ArrayViewD, IxDyn};
use serde::{Deserialize, Serialize};
use tessera_core::Ring;

use crate::{Error, Result};

/// A bilinear map `f(a, b)` on ring tensors.
pub trait Bilinear {
    /// A short name for errors and demand summaries.
    fn name(&self) -> &'static str;

    /// The output shape for inputs of shapes `a` and `b`.
    ///
    /// # Errors
    /// [`Error::Shape`] if the shapes do not fit the map.
    fn output_shape(&self, a: &[usize], b: &[usize]) -> Result<Vec<usize>>;

    /// `out += f(a, b)`.
    ///
    /// # Errors
    /// [`Error::Shape`] if the inputs or `out` have the wrong shape.
    fn accumulate<R: Ring>(
        &self,
        a: ArrayViewD<'_, R>,
        b: ArrayViewD<'_, R>,
        out: &mut ArrayD<R>,
    ) -> Result<()>;

    /// `f(a, b)` as a fresh tensor.
    ///
    /// # Errors
    /// [`Error::Shape`] if the shapes do not fit the map.
    fn apply<R: Ring>(&self, a: ArrayViewD<'_, R>, b: ArrayViewD<'_, R>) -> Result<ArrayD<R>> {
        let shape = self.output_shape(a.shape(), b.shape())?;
        let mut out = ArrayD::from_elem(IxDyn(&shape), R::zero());
        self.accumulate(a, b, &mut out)?;
        Ok(out)
    }
}

/// The bilinear maps Tessera supports, as a serialisable descriptor (it travels in
/// preprocessing demands to the dealer).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum BilinearOp {
    /// `a ⊙ b` for two tensors of one shape.
    Elementwise,
    /// `a · b` for `a: [m, k]`, `b: [k, n]`, giving `[m, n]`.
    MatMul,
    /// 2-D convolution (cross-correlation, as in deep-learning frameworks) of an input
    /// `a: [N, C, H, W]` with a kernel `b: [O, C, kh, kw]`, giving
    /// `[N, O, (H + 2p − kh)/s + 1, (W + 2p − kw)/s + 1]` with zero padding `p` on
    /// every side and stride `s`.
    Conv2d(Conv2dParams),
}

/// Stride and zero padding of a 2-D convolution.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Conv2dParams {
    /// Stride in both spatial directions (≥ 1).
    pub stride: usize,
    /// Zero padding on each side in both spatial directions.
    pub padding: usize,
}

impl std::fmt::Display for BilinearOp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            BilinearOp::Elementwise => f.write_str("elementwise"),
            BilinearOp::MatMul => f.write_str("matmul"),
            BilinearOp::Conv2d(p) => {
                write!(f, "conv2d(stride={}, padding={})", p.stride, p.padding)
            }
        }
    }
}

/// The data of a view in row-major order, borrowed when it already is.
fn row_major<'a, R: Ring>(v: &'a ArrayViewD<'a, R>) -> Cow<'a, [R]> {
    match v.as_slice() {
        Some(s) => Cow::Borrowed(s),
        None => Cow::Owned(v.iter().copied().collect()),
    }
}

/// `c[m×n] += a[m×k] · b[k×n]`, all row-major (i-k-j order: the inner loop streams a
/// row of `b` into a row of `c`, which the compiler vectorises).
pub fn matmul_acc<R: Ring>(a: &[R], b: &[R], c: &mut [R], m: usize, k: usize, n: usize) {
    debug_assert_eq!(a.len(), m * k);
    debug_assert_eq!(b.len(), k * n);
    debug_assert_eq!(c.len(), m * n);
    if n == 0 {
        return;
    }
    for (arow, crow) in a.chunks_exact(k.max(1)).zip(c.chunks_exact_mut(n)).take(m) {
        if k == 0 {
            break;
        }
        for (&aik, brow) in arow.iter().zip(b.chunks_exact(n)) {
            for (cj, &bj) in crow.iter_mut().zip(brow) {
                *cj += aik * bj;
            }
        }
    }
}

fn conv_out_dim(input: usize, kernel: usize, p: Conv2dParams) -> Option<usize> {
    let padded = input + 2 * p.padding;
    if p.stride == 0 || kernel == 0 || padded < kernel {
        return None;
    }
    Some((padded - kernel) / p.stride + 1)
}

/// The im2col matrix of one image `x: [C, H, W]` (row-major) for a `kh × kw` kernel:
/// `[C·kh·kw, OH·OW]`, zero where the window overlaps the padding.
#[allow(clippy::too_many_arguments)]
fn im2col<R: Ring>(
    x: &[R],
    c: usize,
    h: usize,
    w: usize,
    kh: usize,
    kw: usize,
    oh: usize,
    ow: usize,
    p: Conv2dParams,
    cols: &mut [R],
) {
    let ncol = oh * ow;
    for ci in 0..c {
        for ki in 0..kh {
            for kj in 0..kw {
                let row = (ci * kh + ki) * kw + kj;
                let dst = &mut cols[row * ncol..(row + 1) * ncol];
                for oi in 0..oh {
                    let yi = (oi * p.stride + ki) as isize - p.padding as isize;
                    for oj in 0..ow {
                        let xj = (oj * p.stride + kj) as isize - p.padding as isize;
                        dst[oi * ow + oj] =
                            if yi >= 0 && (yi as usize) < h && xj >= 0 && (xj as usize) < w {
                                x[(ci * h + yi as usize) * w + xj as usize]
                            } else {
                                R::zero()
                            };
                    }
                }
            }
        }
    }
}

impl Bilinear for BilinearOp {
    fn name(&self) -> &'static str {
        match self {
            BilinearOp::Elementwise => "elementwise product",
            BilinearOp::MatMul => "matmul",
            BilinearOp::Conv2d(_) => "conv2d",
        }
    }

    fn output_shape(&self, a: &[usize], b: &[usize]) -> Result<Vec<usize>> {
        let op = self.name();
        match self {
            BilinearOp::Elementwise => {
                if a != b {
                    return Err(Error::shape(op, format!("operands {a:?} and {b:?} differ")));
                }
                Ok(a.to_vec())
            }
            BilinearOp::MatMul => match (a, b) {
                (&[m, k], &[k2, n]) if k == k2 => Ok(vec![m, n]),
                _ => Err(Error::shape(
                    op,
                    format!("need [m, k] · [k, n], got {a:?} · {b:?}"),
                )),
            },
            BilinearOp::Conv2d(p) => match (a, b) {
                (&[n, c, h, w], &[o, c2, kh, kw]) if c == c2 => {
                    match (conv_out_dim(h, kh, *p), conv_out_dim(w, kw, *p)) {
                        (Some(oh), Some(ow)) => Ok(vec![n, o, oh, ow]),
                        _ => Err(Error::shape(
                            op,
                            format!(
                                "kernel {kh}×{kw} with stride {} and padding {} does not fit input {h}×{w}",
                                p.stride, p.padding
                            ),
                        )),
                    }
                }
                _ => Err(Error::shape(
                    op,
                    format!(
                        "need input [N, C, H, W] and kernel [O, C, kh, kw], got {a:?} and {b:?}"
                    ),
                )),
            },
        }
    }

    fn accumulate<R: Ring>(
        &self,
        a: ArrayViewD<'_, R>,
        b: ArrayViewD<'_, R>,
        out: &mut ArrayD<R>,
    ) -> Result<()> {
        let shape = self.output_shape(a.shape(), b.shape())?;
        if out.shape() != shape.as_slice() {
            return Err(Error::shape(
                self.name(),
                format!("output has shape {:?}, expected {shape:?}", out.shape()),
            ));
        }
        match self {
            BilinearOp::Elementwise => {
                ndarray::Zip::from(out)
                    .and(&a)
                    .and(&b)
                    .for_each(|o, &x, &y| *o += x * y);
            }
            BilinearOp::MatMul => {
                let (m, k, n) = (a.shape()[0], a.shape()[1], b.shape()[1]);
                let (av, bv) = (row_major(&a), row_major(&b));
                match out.as_slice_mut() {
                    Some(c) => matmul_acc(&av, &bv, c, m, k, n),
                    None => {
                        let mut c: Vec<R> = out.iter().copied().collect();
                        matmul_acc(&av, &bv, &mut c, m, k, n);
                        out.iter_mut().zip(c).for_each(|(o, v)| *o = v);
                    }
                }
            }
            BilinearOp::Conv2d(p) => {
                let (nb, c, h, w) = (a.shape()[0], a.shape()[1], a.shape()[2], a.shape()[3]);
                let (o, kh, kw) = (b.shape()[0], b.shape()[2], b.shape()[3]);
                let (oh, ow) = (shape[2], shape[3]);
                let (av, kv) = (row_major(&a), row_major(&b));
                let krows = c * kh * kw;
                let mut cols = vec![R::zero(); krows * oh * ow];
                let mut acc = vec![R::zero(); o * oh * ow];
                let img = c * h * w;
                let out_img = o * oh * ow;
                let mut outs: Vec<R> = out.iter().copied().collect();
                for i in 0..nb {
                    im2col(
                        &av[i * img..(i + 1) * img],
                        c,
                        h,
                        w,
                        kh,
                        kw,
                        oh,
                        ow,
                        *p,
                        &mut cols,
                    );
                    acc.fill(R::zero());
                    matmul_acc(&kv, &cols, &mut acc, o, krows, oh * ow);
                    for (d, s) in outs[i * out_img..(i + 1) * out_img].iter_mut().zip(&acc) {
                        *d += *s;
                    }
                }
                out.iter_mut().zip(outs).for_each(|(d, s)| *d = s);
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tessera_core::Z64;

    fn z(v: &[i64], shape: &[usize]) -> ArrayD<Z64> {
        ArrayD::from_shape_vec(IxDyn(shape), v.iter().map(|&x| Z64::from_i64(x)).collect()).unwrap()
    }

    #[test]
    fn matmul_small() {
        let a = z(&[1, 2, 3, 4, 5, 6], &[2, 3]);
        let b = z(&[1, 0, 0, 1, 1, 1], &[3, 2]);
        let c = BilinearOp::MatMul.apply(a.view(), b.view()).unwrap();
        assert_eq!(c, z(&[4, 5, 10, 11], &[2, 2]));
    }

    #[test]
    fn conv_matches_direct_sum() {
        // 1 image, 1 channel 3×3, kernel 2×2 of ones, stride 1, padding 1 → 4×4.
        let x = z(&[1, 2, 3, 4, 5, 6, 7, 8, 9], &[1, 1, 3, 3]);
        let k = z(&[1, 1, 1, 1], &[1, 1, 2, 2]);
        let op = BilinearOp::Conv2d(Conv2dParams {
            stride: 1,
            padding: 1,
        });
        let y = op.apply(x.view(), k.view()).unwrap();
        assert_eq!(y.shape(), &[1, 1, 4, 4]);
        assert_eq!(
            y,
            z(
                &[1, 3, 5, 3, 5, 12, 16, 9, 11, 24, 28, 15, 7, 15, 17, 9],
                &[1, 1, 4, 4]
            )
        );
        assert!(op.output_shape(&[1, 2, 3, 3], &[1, 1, 2, 2]).is_err());
    }
}
