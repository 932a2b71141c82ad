//! Batched linear kernels shared by the float and fixed-point interpreters, generic
//! over the element type (`f32`, `f64`, `Z_2^32`, `Z_2^64`).
//!
//! Ring arithmetic is exact, so for ring elements any summation order gives the
//! same result; these kernels are therefore the definition of the linear layers'
//! values, not an approximation of it. For floats they sum over the input index in
//! increasing order. [`Window`] is public: the engine gathers circuit inputs with it.

use std::ops::{AddAssign, Mul};

use num_traits::Zero;

use crate::model::Pool2d;

/// What a kernel needs of an element type.
pub(crate) trait Elem: Copy + Zero + AddAssign + Mul<Output = Self> {}
impl<T: Copy + Zero + AddAssign + Mul<Output = T>> Elem for T {}

/// Transposes a row-major `[rows, cols]` matrix into `[cols, rows]`.
pub(crate) fn transpose<T: Copy>(a: &[T], rows: usize, cols: usize) -> Vec<T> {
    let mut t = Vec::with_capacity(a.len());
    for j in 0..cols {
        t.extend((0..rows).map(|i| a[i * cols + j]));
    }
    t
}

/// `c[m×n] += a[m×k] · b[k×n]`, row-major, i-k-j order (the inner loop streams a row
/// of `b` into a row of `c`).
pub(crate) fn matmul_acc<T: Elem>(a: &[T], b: &[T], c: &mut [T], m: usize, k: usize, n: usize) {
    if n == 0 || k == 0 {
        return;
    }
    for (arow, crow) in a.chunks_exact(k).zip(c.chunks_exact_mut(n)).take(m) {
        for (&aik, brow) in arow.iter().zip(b.chunks_exact(n)) {
            for (cj, &bj) in crow.iter_mut().zip(brow) {
                *cj += aik * bj;
            }
        }
    }
}

/// Dense layer on a batch: `y[b, :] = bias + x[b, :] · wt` for `x: [batch, inn]`,
/// `wt: [inn, out]` (the transposed `[out, inn]` weight) and an optional `bias: [out]`
/// used as the accumulator's initial value.
pub(crate) fn dense<T: Elem>(
    x: &[T],
    batch: usize,
    inn: usize,
    wt: &[T],
    out: usize,
    bias: Option<&[T]>,
) -> Vec<T> {
    let mut y = vec![T::zero(); batch * out];
    if let Some(b) = bias {
        for row in y.chunks_exact_mut(out.max(1)) {
            row.copy_from_slice(b);
        }
    }
    matmul_acc(x, wt, &mut y, batch, inn, out);
    y
}

/// Geometry of a sliding window over `[C, H, W]` images.
#[derive(Clone, Copy, Debug)]
pub struct Window {
    /// Channels.
    pub c: usize,
    /// Input height.
    pub h: usize,
    /// Input width.
    pub w: usize,
    /// Window height.
    pub kh: usize,
    /// Window width.
    pub kw: usize,
    /// Vertical stride.
    pub sh: usize,
    /// Horizontal stride.
    pub sw: usize,
    /// Padding above.
    pub top: usize,
    /// Padding on the left.
    pub left: usize,
    /// Output height.
    pub oh: usize,
    /// Output width.
    pub ow: usize,
}

impl Window {
    /// The window of pooling `p` from per-example `input` `[C, H, W]` to `output`.
    pub fn new(input: &[usize], output: &[usize], p: &Pool2d) -> Window {
        Window {
            c: input[0],
            h: input[1],
            w: input[2],
            kh: p.kernel[0],
            kw: p.kernel[1],
            sh: p.strides[0],
            sw: p.strides[1],
            top: p.pads[0],
            left: p.pads[1],
            oh: output[1],
            ow: output[2],
        }
    }

    /// The input row/column of window position `o` and offset `k`, if inside.
    #[inline]
    fn at(o: usize, s: usize, k: usize, pad: usize, len: usize) -> Option<usize> {
        (o * s + k).checked_sub(pad).filter(|&i| i < len)
    }

    /// For every output position `(c, oi, oj)` in `[C, OH, OW]` order, the `kh·kw`
    /// flat indices into one `[C, H, W]` image that its window reads (row-major over
    /// the window), `None` where the window covers padding.
    pub fn pool_indices(&self) -> Vec<Option<usize>> {
        let mut out = Vec::with_capacity(self.c * self.oh * self.ow * self.kh * self.kw);
        for ci in 0..self.c {
            for oi in 0..self.oh {
                for oj in 0..self.ow {
                    self.push_window(ci, oi, oj, &mut out);
                }
            }
        }
        out
    }

    /// For every output pixel `(oi, oj)` in `[OH, OW]` order, the `C·kh·kw` flat
    /// indices into one `[C, H, W]` image that a convolution reads (im2col order:
    /// channel, then window row, then column), `None` in padding.
    pub fn conv_indices(&self) -> Vec<Option<usize>> {
        let mut out = Vec::with_capacity(self.oh * self.ow * self.c * self.kh * self.kw);
        for oi in 0..self.oh {
            for oj in 0..self.ow {
                for ci in 0..self.c {
                    self.push_window(ci, oi, oj, &mut out);
                }
            }
        }
        out
    }

    fn push_window(&self, ci: usize, oi: usize, oj: usize, out: &mut Vec<Option<usize>>) {
        for ki in 0..self.kh {
            let y = Self::at(oi, self.sh, ki, self.top, self.h);
            for kj in 0..self.kw {
                let x = Self::at(oj, self.sw, kj, self.left, self.w);
                out.push(match (y, x) {
                    (Some(y), Some(x)) => Some((ci * self.h + y) * self.w + x),
                    _ => None,
                });
            }
        }
    }

    /// im2col of one image `x: [C, H, W]` into `cols: [C·kh·kw, OH·OW]` (zeros where
    /// the window covers padding).
    pub(crate) fn im2col<T: Copy + Zero>(&self, x: &[T], cols: &mut [T]) {
        let ncol = self.oh * self.ow;
        for ci in 0..self.c {
            for ki in 0..self.kh {
                for kj in 0..self.kw {
                    let row = (ci * self.kh + ki) * self.kw + kj;
                    let dst = &mut cols[row * ncol..(row + 1) * ncol];
                    for oi in 0..self.oh {
                        let yi = Self::at(oi, self.sh, ki, self.top, self.h);
                        for oj in 0..self.ow {
                            let xj = Self::at(oj, self.sw, kj, self.left, self.w);
                            dst[oi * self.ow + oj] = match (yi, xj) {
                                (Some(y), Some(xx)) => x[(ci * self.h + y) * self.w + xx],
                                _ => T::zero(),
                            };
                        }
                    }
                }
            }
        }
    }

    /// Folds every window of every channel of a batch of images with `f` over the
    /// in-bounds elements, starting each window from `init`; returns
    /// `[batch, C, OH, OW]`.
    pub(crate) fn fold<T: Copy, A: Copy>(
        &self,
        x: &[T],
        batch: usize,
        init: A,
        f: impl Fn(A, T) -> A,
    ) -> Vec<A> {
        let mut out = Vec::with_capacity(batch * self.c * self.oh * self.ow);
        for img in x.chunks_exact(self.h * self.w).take(batch * self.c) {
            for oi in 0..self.oh {
                for oj in 0..self.ow {
                    let mut acc = init;
                    for ki in 0..self.kh {
                        let Some(y) = Self::at(oi, self.sh, ki, self.top, self.h) else {
                            continue;
                        };
                        for kj in 0..self.kw {
                            if let Some(xx) = Self::at(oj, self.sw, kj, self.left, self.w) {
                                acc = f(acc, img[y * self.w + xx]);
                            }
                        }
                    }
                    out.push(acc);
                }
            }
        }
        out
    }
}

/// 2-D convolution of a batch `x: [batch, C, H, W]` with a kernel `k: [O, C·kh·kw]`
/// (the `[O, C, kh, kw]` kernel, rows flattened), optional `bias: [O]` as the
/// accumulator's initial value; returns `[batch, O, OH, OW]`.
pub(crate) fn conv2d<T: Elem>(
    x: &[T],
    batch: usize,
    win: &Window,
    k: &[T],
    o: usize,
    bias: Option<&[T]>,
) -> Vec<T> {
    let krows = win.c * win.kh * win.kw;
    let npix = win.oh * win.ow;
    let mut cols = vec![T::zero(); krows * npix];
    let mut y = vec![T::zero(); batch * o * npix];
    for (img, out) in x
        .chunks_exact(win.c * win.h * win.w)
        .zip(y.chunks_exact_mut(o * npix))
        .take(batch)
    {
        win.im2col(img, &mut cols);
        if let Some(b) = bias {
            for (chan, &bv) in out.chunks_exact_mut(npix).zip(b) {
                chan.fill(bv);
            }
        }
        matmul_acc(k, &cols, out, o, krows, npix);
    }
    y
}

/// The element-wise combination `f(a, b)` of two equally long inputs.
pub(crate) fn zip<T: Copy>(ins: &[&[T]], f: impl Fn(T, T) -> T) -> crate::Result<Vec<T>> {
    match ins {
        [a, b] if a.len() == b.len() => Ok(a.iter().zip(*b).map(|(&x, &y)| f(x, y)).collect()),
        _ => Err(crate::Error::shape(
            "element-wise operation",
            format!(
                "{} operands of lengths {:?}",
                ins.len(),
                ins.iter().map(|x| x.len()).collect::<Vec<_>>()
            ),
        )),
    }
}

/// The concatenation of batches `ins` (per-example shapes `shapes`) along per-example
/// `axis`: for every example and every index before `axis`, the blocks of each input
/// in turn.
pub(crate) fn concat<T: Copy>(
    ins: &[&[T]],
    shapes: &[Vec<usize>],
    axis: usize,
    batch: usize,
) -> crate::Result<Vec<T>> {
    let outer: usize = batch * shapes[0][..axis].iter().product::<usize>();
    let blocks: Vec<usize> = shapes.iter().map(|s| s[axis..].iter().product()).collect();
    if ins.len() != shapes.len() || ins.iter().zip(&blocks).any(|(x, b)| x.len() != outer * b) {
        return Err(crate::Error::shape(
            "concat",
            "inputs do not fit their shapes",
        ));
    }
    let mut out = Vec::with_capacity(outer * blocks.iter().sum::<usize>());
    for o in 0..outer {
        for (x, &b) in ins.iter().zip(&blocks) {
            out.extend_from_slice(&x[o * b..(o + 1) * b]);
        }
    }
    Ok(out)
}
