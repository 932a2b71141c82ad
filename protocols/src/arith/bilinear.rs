//! Bilinear maps over Z_2^ℓ tensors: element-wise product, matrix product and N-D
//! grouped convolution.
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
use tessera_core::{Ring, Threads};

use super::window::{ConvGeometry, Window};
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

    /// `out += f(a, b)` on a party's `threads` (the same result for any count).
    ///
    /// # Errors
    /// [`Error::Shape`] if the inputs or `out` have the wrong shape.
    fn accumulate_on<R: Ring>(
        &self,
        threads: &Threads,
        a: ArrayViewD<'_, R>,
        b: ArrayViewD<'_, R>,
        out: &mut ArrayD<R>,
    ) -> Result<()>;

    /// `out += f(a, b)` on this thread.
    ///
    /// # Errors
    /// As [`Bilinear::accumulate_on`].
    fn accumulate<R: Ring>(
        &self,
        a: ArrayViewD<'_, R>,
        b: ArrayViewD<'_, R>,
        out: &mut ArrayD<R>,
    ) -> Result<()> {
        self.accumulate_on(&Threads::one(), a, b, out)
    }

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
    /// `a ⊙ b` with `b` broadcast to `a`'s shape NumPy-style (dimensions aligned from
    /// the right, each of `b`'s 1 or equal to `a`'s; `b` of at most `a`'s rank), giving
    /// `a`'s shape: a per-element (or per-channel, per-row …) scale of a batch.
    Broadcast,
    /// `a · b` for `a: [m, k]`, `b: [k, n]`, giving `[m, n]`.
    MatMul,
    /// A batch of matrix products: `a: [B, m, k]`, `b: [B, k, n]`, giving `[B, m, n]`
    /// (`out[i] = a[i] · b[i]`).
    BatchMatMul,
    /// N-D convolution (cross-correlation, as in deep-learning frameworks) of an input
    /// `a: [N, C, …spatial]` with a kernel `b: [O, C/g, …kernel]` over the params'
    /// window (strides, dilations, zero padding) and `g` groups, giving
    /// `[N, O, …out]` (see [`Window::output`]).
    Conv(ConvParams),
}

/// The window and group count of a convolution.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct ConvParams {
    /// Strides, dilations and zero padding (`ceil_mode` unused: false).
    pub window: Window,
    /// Groups (≥ 1, dividing both channel counts).
    pub groups: usize,
}

/// Stride and zero padding of a 2-D convolution with one stride and one padding on
/// every side (a shorthand for [`ConvParams`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Conv2dParams {
    /// Stride in both spatial directions (≥ 1).
    pub stride: usize,
    /// Zero padding on each side in both spatial directions.
    pub padding: usize,
}

impl From<Conv2dParams> for ConvParams {
    fn from(p: Conv2dParams) -> ConvParams {
        ConvParams {
            window: Window::square2d(p.stride, p.padding),
            groups: 1,
        }
    }
}

impl ConvParams {
    /// The output shape `[N, O, …out]` for input `a: [N, C, …]` and kernel
    /// `b: [O, C/g, …]`; `None` if they do not fit. Shape checks only: the tap table
    /// of [`ConvParams::geometry`] is not built.
    pub(crate) fn output_shape(&self, a: &[usize], b: &[usize]) -> Option<Vec<usize>> {
        let r = self.window.rank;
        if a.len() != r + 2 || b.len() != r + 2 {
            return None;
        }
        let (c, o) = (a[1], b[0]);
        if self.groups == 0 || c % self.groups != 0 || b[1] != c / self.groups {
            return None;
        }
        if !o.is_multiple_of(self.groups) {
            return None;
        }
        let out = self.window.output(&a[2..], &b[2..])?;
        let mut shape = vec![a[0], o];
        shape.extend(out);
        Some(shape)
    }

    /// The batch, the geometry (with its tap table) and the output shape for input
    /// `a: [N, C, …]` and kernel `b: [O, C/g, …]`.
    pub(crate) fn geometry(
        &self,
        a: &[usize],
        b: &[usize],
    ) -> Option<(usize, ConvGeometry, Vec<usize>)> {
        let shape = self.output_shape(a, b)?;
        let geo = ConvGeometry::new(&self.window, a[1], &a[2..], b[0], &b[2..], self.groups)?;
        Some((a[0], geo, shape))
    }
}

impl std::fmt::Display for BilinearOp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            BilinearOp::Elementwise => f.write_str("elementwise"),
            BilinearOp::Broadcast => f.write_str("broadcast"),
            BilinearOp::MatMul => f.write_str("matmul"),
            BilinearOp::BatchMatMul => f.write_str("batch-matmul"),
            BilinearOp::Conv(p) => {
                let w = &p.window;
                let r = w.rank;
                write!(
                    f,
                    "conv{r}d(strides={:?}, dilations={:?}, pads={:?}/{:?}, groups={})",
                    &w.strides[..r],
                    &w.dilations[..r],
                    &w.pad_begin[..r],
                    &w.pad_end[..r],
                    p.groups
                )
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

pub use super::window::{matmul_acc, matmul_acc_on};

impl Bilinear for BilinearOp {
    fn name(&self) -> &'static str {
        match self {
            BilinearOp::Elementwise => "elementwise product",
            BilinearOp::Broadcast => "broadcast product",
            BilinearOp::MatMul => "matmul",
            BilinearOp::BatchMatMul => "batch matmul",
            BilinearOp::Conv(_) => "convolution",
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
            BilinearOp::Broadcast => {
                let off = a.len().checked_sub(b.len());
                let fits = off.is_some_and(|off| {
                    b.iter()
                        .enumerate()
                        .all(|(i, &d)| d == 1 || d == a[off + i])
                });
                if !fits {
                    return Err(Error::shape(
                        op,
                        format!("{b:?} does not broadcast to {a:?}"),
                    ));
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
            BilinearOp::BatchMatMul => match (a, b) {
                (&[n0, m, k], &[n1, k2, n]) if k == k2 && n0 == n1 => Ok(vec![n0, m, n]),
                _ => Err(Error::shape(
                    op,
                    format!("need [B, m, k] · [B, k, n], got {a:?} · {b:?}"),
                )),
            },
            BilinearOp::Conv(p) => match p.output_shape(a, b) {
                Some(shape) => Ok(shape),
                None => Err(Error::shape(
                    op,
                    format!(
                        "need input [N, C, …] and kernel [O, C/{}, …] of {} spatial dimensions that fit the window {}, got {a:?} and {b:?}",
                        p.groups, p.window.rank, self
                    ),
                )),
            },
        }
    }

    fn accumulate_on<R: Ring>(
        &self,
        threads: &Threads,
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
            BilinearOp::Broadcast => {
                let bb = b
                    .broadcast(a.raw_dim())
                    .ok_or_else(|| Error::shape(self.name(), "the operands do not broadcast"))?;
                ndarray::Zip::from(out)
                    .and(&a)
                    .and(&bb)
                    .for_each(|o, &x, &y| *o += x * y);
            }
            BilinearOp::BatchMatMul => {
                let (bn, m, k, n) = (a.shape()[0], a.shape()[1], a.shape()[2], b.shape()[2]);
                let (av, bv) = (row_major(&a), row_major(&b));
                let mut c: Vec<R> = out.iter().copied().collect();
                for i in 0..bn {
                    matmul_acc_on(
                        threads,
                        &av[i * m * k..(i + 1) * m * k],
                        &bv[i * k * n..(i + 1) * k * n],
                        &mut c[i * m * n..(i + 1) * m * n],
                        m,
                        k,
                        n,
                    );
                }
                out.iter_mut().zip(c).for_each(|(o, v)| *o = v);
            }
            BilinearOp::MatMul => {
                let (m, k, n) = (a.shape()[0], a.shape()[1], b.shape()[1]);
                let (av, bv) = (row_major(&a), row_major(&b));
                match out.as_slice_mut() {
                    Some(c) => matmul_acc_on(threads, &av, &bv, c, m, k, n),
                    None => {
                        let mut c: Vec<R> = out.iter().copied().collect();
                        matmul_acc_on(threads, &av, &bv, &mut c, m, k, n);
                        out.iter_mut().zip(c).for_each(|(o, v)| *o = v);
                    }
                }
            }
            BilinearOp::Conv(p) => {
                let Some((n, geo, _)) = p.geometry(a.shape(), b.shape()) else {
                    return Err(Error::shape(self.name(), "the operands do not fit"));
                };
                let (av, kv) = (row_major(&a), row_major(&b));
                match out.as_slice_mut() {
                    Some(c) => geo.accumulate_on(threads, &av, &kv, c, n),
                    None => {
                        let mut c: Vec<R> = out.iter().copied().collect();
                        geo.accumulate_on(threads, &av, &kv, &mut c, n);
                        out.iter_mut().zip(c).for_each(|(o, v)| *o = v);
                    }
                }
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
    fn broadcast_and_batch_matmul_small() {
        // [2, 2, 3] scaled per channel [2, 1] and per column [3].
        let a = z(&[1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12], &[2, 2, 3]);
        let s = BilinearOp::Broadcast
            .apply(a.view(), z(&[2, -1], &[2, 1]).view())
            .unwrap();
        assert_eq!(
            s,
            z(
                &[2, 4, 6, -4, -5, -6, 14, 16, 18, -10, -11, -12],
                &[2, 2, 3]
            )
        );
        let s = BilinearOp::Broadcast
            .apply(a.view(), z(&[1, 0, -1], &[3]).view())
            .unwrap();
        assert_eq!(
            s,
            z(&[1, 0, -3, 4, 0, -6, 7, 0, -9, 10, 0, -12], &[2, 2, 3])
        );
        assert!(BilinearOp::Broadcast.output_shape(&[2, 3], &[2]).is_err());
        assert!(BilinearOp::Broadcast.output_shape(&[3], &[1, 3]).is_err());
        // Two products of [2, 2] · [2, 1].
        let b = z(&[1, 1, 2, -1], &[2, 2, 1]);
        let x = z(&[1, 2, 3, 4, 5, 6, 7, 8], &[2, 2, 2]);
        let c = BilinearOp::BatchMatMul.apply(x.view(), b.view()).unwrap();
        assert_eq!(c, z(&[3, 7, 4, 6], &[2, 2, 1]));
        assert!(
            BilinearOp::BatchMatMul
                .output_shape(&[2, 2, 2], &[3, 2, 1])
                .is_err()
        );
    }

    #[test]
    fn conv_matches_direct_sum() {
        // 1 image, 1 channel 3×3, kernel 2×2 of ones, stride 1, padding 1 → 4×4.
        let x = z(&[1, 2, 3, 4, 5, 6, 7, 8, 9], &[1, 1, 3, 3]);
        let k = z(&[1, 1, 1, 1], &[1, 1, 2, 2]);
        let op = BilinearOp::Conv(
            Conv2dParams {
                stride: 1,
                padding: 1,
            }
            .into(),
        );
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
