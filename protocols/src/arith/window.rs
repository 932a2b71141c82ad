//! N-dimensional sliding windows (1 to [`MAX_RANK`] spatial dimensions): the geometry
//! shared by convolution (any stride, dilation, asymmetric zero padding and group
//! count) and pooling, and the grouped convolution kernel over any element type.
//!
//! A window reads, for output position `o` and kernel offset `k` along one spatial
//! dimension, the input position `o·s + k·d − pad_begin` (stride `s`, dilation `d`),
//! or padding when that lies outside the input. Everything here is index arithmetic:
//! the same tables define the plaintext references (`f32`, `f64`, rings), the dealer's
//! and parties' arithmetic convolution, and the gathers of the Boolean circuits.

use std::ops::{AddAssign, Mul};

use serde::{Deserialize, Serialize};
use tessera_core::threads::{Threads, for_each_mut, parts_for};

/// The most spatial dimensions a window has (3-D convolution and pooling).
pub const MAX_RANK: usize = 3;

/// Stride, dilation and padding of a sliding window over `rank` spatial dimensions
/// (entries past `rank` are unused and zero).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Window {
    /// Spatial dimensions, 1 to [`MAX_RANK`].
    pub rank: usize,
    /// Stride per dimension (≥ 1).
    pub strides: [usize; MAX_RANK],
    /// Dilation per dimension (≥ 1): the distance between two kernel taps.
    pub dilations: [usize; MAX_RANK],
    /// Padding before each dimension's first element.
    pub pad_begin: [usize; MAX_RANK],
    /// Padding after each dimension's last element.
    pub pad_end: [usize; MAX_RANK],
    /// Whether the output size rounds up (ONNX `ceil_mode = 1`): a last window that
    /// starts inside the (begin-padded) input and runs past its end is kept.
    pub ceil_mode: bool,
}

impl Window {
    /// A window of `rank` dimensions with unit strides and dilations and no padding;
    /// `None` unless `1 ≤ rank ≤ MAX_RANK`.
    pub fn unit(rank: usize) -> Option<Window> {
        (1..=MAX_RANK).contains(&rank).then_some(Window {
            rank,
            strides: [1; MAX_RANK],
            dilations: [1; MAX_RANK],
            pad_begin: [0; MAX_RANK],
            pad_end: [0; MAX_RANK],
            ceil_mode: false,
        })
    }

    /// A window from per-dimension lists (`pads` in ONNX order: every dimension's
    /// begin, then every dimension's end); `None` if the lengths disagree, the rank is
    /// out of range or a stride or dilation is zero.
    pub fn from_lists(
        strides: &[usize],
        dilations: &[usize],
        pads: &[usize],
        ceil_mode: bool,
    ) -> Option<Window> {
        let rank = strides.len();
        let mut w = Window::unit(rank)?;
        if dilations.len() != rank || pads.len() != 2 * rank {
            return None;
        }
        if strides.iter().chain(dilations).any(|&v| v == 0) {
            return None;
        }
        w.strides[..rank].copy_from_slice(strides);
        w.dilations[..rank].copy_from_slice(dilations);
        w.pad_begin[..rank].copy_from_slice(&pads[..rank]);
        w.pad_end[..rank].copy_from_slice(&pads[rank..]);
        w.ceil_mode = ceil_mode;
        Some(w)
    }

    /// A 2-D window with one stride and one padding on every side.
    pub fn square2d(stride: usize, padding: usize) -> Window {
        Window {
            rank: 2,
            strides: [stride, stride, 1],
            dilations: [1; MAX_RANK],
            pad_begin: [padding, padding, 0],
            pad_end: [padding, padding, 0],
            ceil_mode: false,
        }
    }

    /// Whether the window has no padding at all.
    pub fn unpadded(&self) -> bool {
        self.pad_begin.iter().chain(&self.pad_end).all(|&p| p == 0)
    }

    /// The output size along dimension `i` for an input of `len` and a kernel of
    /// `k` taps; `None` if the window does not fit (or a size overflows).
    fn out_dim(&self, i: usize, len: usize, k: usize) -> Option<usize> {
        let (s, d) = (self.strides[i], self.dilations[i]);
        let span = k.checked_sub(1)?.checked_mul(d)?.checked_add(1)?;
        let padded = len
            .checked_add(self.pad_begin[i])?
            .checked_add(self.pad_end[i])?;
        if s == 0 || len == 0 || padded < span {
            return None;
        }
        let room = padded - span;
        if !self.ceil_mode {
            return Some(room / s + 1);
        }
        let mut out = room.div_ceil(s) + 1;
        // The last window must start inside the input or its begin padding.
        if (out - 1) * s >= len + self.pad_begin[i] {
            out -= 1;
        }
        Some(out)
    }

    /// The output's spatial dimensions for spatial `input` and `kernel` (each of
    /// length `rank`); `None` if they do not fit.
    pub fn output(&self, input: &[usize], kernel: &[usize]) -> Option<Vec<usize>> {
        if input.len() != self.rank || kernel.len() != self.rank {
            return None;
        }
        (0..self.rank)
            .map(|i| self.out_dim(i, input[i], kernel[i]))
            .collect()
    }

    /// For every output position (row-major over `output`), the flat indices into
    /// one spatial `input` block that its `kernel` taps read (row-major over the
    /// kernel), `None` where a tap lies in the padding. Length
    /// `Π output · Π kernel`.
    pub fn indices(
        &self,
        input: &[usize],
        kernel: &[usize],
        output: &[usize],
    ) -> Vec<Option<usize>> {
        let r = self.rank;
        let taps: usize = kernel.iter().product();
        let positions: usize = output.iter().product();
        // Per dimension: the input coordinate of (output o, tap k), if inside.
        let coord: Vec<Vec<Option<usize>>> = (0..r)
            .map(|i| {
                let mut v = Vec::with_capacity(output[i] * kernel[i]);
                for o in 0..output[i] {
                    for k in 0..kernel[i] {
                        let at = o * self.strides[i] + k * self.dilations[i];
                        v.push(at.checked_sub(self.pad_begin[i]).filter(|&x| x < input[i]));
                    }
                }
                v
            })
            .collect();
        let mut out = Vec::with_capacity(positions * taps);
        let mut opos = vec![0usize; r];
        let mut tap = vec![0usize; r];
        for _ in 0..positions {
            // `tap` wraps back to all zeros after the last tap.
            for _ in 0..taps {
                let mut flat = Some(0usize);
                for i in 0..r {
                    flat = match (flat, coord[i][opos[i] * kernel[i] + tap[i]]) {
                        (Some(f), Some(c)) => Some(f * input[i] + c),
                        _ => None,
                    };
                }
                out.push(flat);
                step(&mut tap, kernel);
            }
            step(&mut opos, output);
        }
        out
    }
}

/// Advances a row-major multi-index within `dims` (wrapping to zero at the end).
fn step(idx: &mut [usize], dims: &[usize]) {
    for i in (0..idx.len()).rev() {
        idx[i] += 1;
        if idx[i] < dims[i] {
            return;
        }
        idx[i] = 0;
    }
}

/// What the convolution kernel needs of an element type (`Default` is zero): rings,
/// `f32`, `f64`.
pub trait ConvElem: Copy + Default + AddAssign + Mul<Output = Self> {}
impl<T: Copy + Default + AddAssign + Mul<Output = T>> ConvElem for T {}

/// The resolved geometry of a grouped N-D convolution of one image.
#[derive(Clone, Debug)]
pub struct ConvGeometry {
    /// Input channels `C`.
    pub channels: usize,
    /// Output channels `O` (a multiple of `groups`).
    pub out_channels: usize,
    /// Groups `g` (dividing `C` and `O`): output channel `o` reads input channels
    /// `[(o / (O/g))·C/g, … + C/g)`.
    pub groups: usize,
    /// Spatial positions of one input channel.
    pub in_positions: usize,
    /// Spatial positions of one output channel.
    pub out_positions: usize,
    /// Kernel taps per channel.
    pub taps: usize,
    /// [`Window::indices`] of the spatial geometry.
    pub idx: Vec<Option<usize>>,
}

impl ConvGeometry {
    /// The geometry of window `w` over spatial `input` with `kernel` taps, `channels`
    /// in, `out_channels` out, `groups` groups; `None` if it does not fit.
    pub fn new(
        w: &Window,
        channels: usize,
        input: &[usize],
        out_channels: usize,
        kernel: &[usize],
        groups: usize,
    ) -> Option<ConvGeometry> {
        if groups == 0 || !channels.is_multiple_of(groups) || !out_channels.is_multiple_of(groups) {
            return None;
        }
        let output = w.output(input, kernel)?;
        Some(ConvGeometry {
            channels,
            out_channels,
            groups,
            in_positions: input.iter().product(),
            out_positions: output.iter().product(),
            taps: kernel.iter().product(),
            idx: w.indices(input, kernel, &output),
        })
    }

    /// Multiply-adds per output value: `C/g · taps`.
    pub fn per_output(&self) -> usize {
        self.channels / self.groups * self.taps
    }

    /// `out += conv(x, k)` for a batch: `x: [batch, C, …in]`, kernel
    /// `k: [O, C/g, …kernel]`, `out: [batch, O, …out]`, all row-major. Per image and
    /// group an im2col of the group's channels, then one matrix product.
    pub fn accumulate<T: ConvElem>(&self, x: &[T], k: &[T], out: &mut [T], batch: usize) {
        self.accumulate_with(x, k, out, batch, matmul_acc);
    }

    /// [`ConvGeometry::accumulate`] on a party's `threads`: blocks of images at once,
    /// or for fewer images than threads each image's matrix products split. Every
    /// output value is the same sum in the same order, so the result does not depend
    /// on the thread count.
    pub fn accumulate_on<T: ConvElem + Send + Sync>(
        &self,
        threads: &Threads,
        x: &[T],
        k: &[T],
        out: &mut [T],
        batch: usize,
    ) {
        let (img, out_img) = (
            self.channels * self.in_positions,
            self.out_channels * self.out_positions,
        );
        let macs = batch * out_img * self.per_output();
        let parts = parts_for(threads, macs, MIN_MACS_PER_PART);
        if parts == 1 || img == 0 || out_img == 0 {
            self.accumulate(x, k, out, batch);
        } else if batch >= parts {
            let per = batch.div_ceil(parts);
            let mut blocks: Vec<(&[T], &mut [T])> = x
                .chunks(per * img)
                .zip(out.chunks_mut(per * out_img))
                .collect();
            for_each_mut(threads, &mut blocks, |(x, o)| {
                self.accumulate(x, k, o, o.len() / out_img);
            });
        } else {
            self.accumulate_with(x, k, out, batch, |a, b, c, m, kk, n| {
                matmul_acc_on(threads, a, b, c, m, kk, n);
            });
        }
    }

    /// The convolution with its matrix products done by `matmul`.
    fn accumulate_with<T: ConvElem>(
        &self,
        x: &[T],
        k: &[T],
        out: &mut [T],
        batch: usize,
        matmul: impl Fn(&[T], &[T], &mut [T], usize, usize, usize),
    ) {
        let (cg, og) = (self.channels / self.groups, self.out_channels / self.groups);
        let (rows, npos) = (cg * self.taps, self.out_positions);
        let mut cols = vec![T::default(); rows * npos];
        let img = self.channels * self.in_positions;
        let out_img = self.out_channels * npos;
        for n in 0..batch {
            let xi = &x[n * img..(n + 1) * img];
            let oi = &mut out[n * out_img..(n + 1) * out_img];
            for g in 0..self.groups {
                for c in 0..cg {
                    let chan = &xi[(g * cg + c) * self.in_positions..][..self.in_positions];
                    for t in 0..self.taps {
                        let dst = &mut cols[(c * self.taps + t) * npos..][..npos];
                        for (p, d) in dst.iter_mut().enumerate() {
                            *d = self.idx[p * self.taps + t].map_or_else(T::default, |i| chan[i]);
                        }
                    }
                }
                matmul(
                    &k[g * og * rows..(g + 1) * og * rows],
                    &cols,
                    &mut oi[g * og * npos..(g + 1) * og * npos],
                    og,
                    rows,
                    npos,
                );
            }
        }
    }

    /// For every output value of one image (`[O, …out]` order), the `C/g · taps` flat
    /// indices into the image `[C, …in]` that it reads (im2col order: channel of its
    /// group, then tap), `None` in the padding.
    pub fn input_indices(&self) -> Vec<Option<usize>> {
        let (cg, og) = (self.channels / self.groups, self.out_channels / self.groups);
        let mut out = Vec::with_capacity(self.out_channels * self.out_positions * cg * self.taps);
        for o in 0..self.out_channels {
            let g = o / og;
            for p in 0..self.out_positions {
                for c in 0..cg {
                    let base = (g * cg + c) * self.in_positions;
                    out.extend(
                        self.idx[p * self.taps..(p + 1) * self.taps]
                            .iter()
                            .map(|i| i.map(|i| base + i)),
                    );
                }
            }
        }
        out
    }
}

/// `c[m×n] += a[m×k] · b[k×n]`, row-major, i-k-j order.
pub fn matmul_acc<T: ConvElem>(a: &[T], b: &[T], c: &mut [T], m: usize, k: usize, n: usize) {
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

/// Multiply-adds below which a product stays on one thread: handing a part to a pool
/// thread costs some microseconds, this is some tens of microseconds of work.
const MIN_MACS_PER_PART: usize = 1 << 16;

/// [`matmul_acc`] on a party's `threads`: blocks of rows at once, or, with fewer rows
/// than threads (a batch of one), blocks of each row's columns. Each output value is
/// the same sum in the same order as on one thread, so the result does not depend on
/// the thread count (floating point included).
pub fn matmul_acc_on<T: ConvElem + Send + Sync>(
    threads: &Threads,
    a: &[T],
    b: &[T],
    c: &mut [T],
    m: usize,
    k: usize,
    n: usize,
) {
    let parts = parts_for(threads, m * k * n, MIN_MACS_PER_PART);
    if parts == 1 || n == 0 || k == 0 {
        return matmul_acc(a, b, c, m, k, n);
    }
    let (Some(a), Some(c)) = (a.get(..m * k), c.get_mut(..m * n)) else {
        return matmul_acc(a, b, c, m, k, n);
    };
    if m >= parts {
        let rows = m.div_ceil(parts);
        let mut blocks: Vec<(&[T], &mut [T])> =
            a.chunks(rows * k).zip(c.chunks_mut(rows * n)).collect();
        for_each_mut(threads, &mut blocks, |(a, c)| {
            matmul_acc(a, b, c, c.len() / n, k, n);
        });
    } else {
        let cols = n.div_ceil(parts.div_ceil(m));
        let mut blocks: Vec<(&[T], usize, &mut [T])> = a
            .chunks_exact(k)
            .zip(c.chunks_exact_mut(n))
            .flat_map(|(arow, crow)| {
                crow.chunks_mut(cols)
                    .enumerate()
                    .map(move |(i, blk)| (arow, i * cols, blk))
            })
            .collect();
        for_each_mut(threads, &mut blocks, |(arow, first, cblk)| {
            for (&aik, brow) in arow.iter().zip(b.chunks_exact(n)) {
                for (cj, &bj) in cblk.iter_mut().zip(&brow[*first..]) {
                    *cj += aik * bj;
                }
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // The convolution kernel is checked against its definition (`conv_nd_ref`) through
    // the two-party driver in `tests/arith_ops.rs` (`plain_weight_conv_nd`).

    #[test]
    fn output_sizes_follow_onnx() {
        let w = Window::from_lists(&[2], &[1], &[0, 0], false).unwrap();
        assert_eq!(w.output(&[7], &[3]), Some(vec![3]));
        let c = Window::from_lists(&[2], &[1], &[0, 0], true).unwrap();
        assert_eq!(c.output(&[8], &[3]), Some(vec![4]));
        // The last window would start in the end padding only: dropped.
        let p = Window::from_lists(&[2], &[1], &[0, 2], true).unwrap();
        assert_eq!(p.output(&[4], &[1]), Some(vec![3]));
        let d = Window::from_lists(&[1], &[3], &[0, 0], false).unwrap();
        assert_eq!(d.output(&[5], &[3]), None);
        assert!(Window::from_lists(&[0], &[1], &[0, 0], false).is_none());
        assert!(Window::from_lists(&[1, 1, 1, 1], &[1; 4], &[0; 8], false).is_none());
    }

    fn threads(n: usize) -> Threads {
        Threads::new(std::num::NonZeroUsize::new(n).unwrap_or(std::num::NonZeroUsize::MIN))
    }

    /// Wrapping `u64` values from a counter hash (no overflow checks in debug builds).
    fn ring(len: usize, seed: u64) -> Vec<tessera_core::Z64> {
        (0..len as u64)
            .map(|i| {
                let v = (i ^ seed)
                    .wrapping_mul(0x9e37_79b9_7f4a_7c15)
                    .rotate_left(29);
                std::num::Wrapping(v)
            })
            .collect()
    }

    /// Row blocks (several rows), column blocks (one row) and the one-thread path all
    /// give `matmul_acc`'s result exactly, for shapes past the splitting threshold.
    #[test]
    fn split_matmul_equals_the_one_thread_product() {
        for (m, k, n) in [(4, 256, 256), (1, 512, 256), (2, 300, 301), (3, 7, 5)] {
            let (a, b, c0) = (ring(m * k, 1), ring(k * n, 2), ring(m * n, 3));
            let mut want = c0.clone();
            matmul_acc(&a, &b, &mut want, m, k, n);
            for t in 1..=3 {
                let mut got = c0.clone();
                matmul_acc_on(&threads(t), &a, &b, &mut got, m, k, n);
                assert!(got == want, "{m}x{k}x{n} on {t} threads");
            }
        }
    }

    /// Image blocks (batch ≥ threads) and split per-image products (batch 1) give the
    /// one-thread convolution exactly.
    #[test]
    fn split_convolution_equals_the_one_thread_convolution() {
        let w = Window::square2d(1, 1);
        for (groups, batch) in [(1, 1), (1, 2), (2, 1), (2, 3)] {
            let geo = ConvGeometry::new(&w, 8, &[16, 16], 16, &[3, 3], groups).unwrap();
            let k = ring(16 * 8 / groups * 9, 5);
            let x = ring(batch * 8 * 256, 6);
            let mut want = ring(batch * 16 * 256, 7);
            let start = want.clone();
            geo.accumulate(&x, &k, &mut want, batch);
            for t in 1..=3 {
                let mut got = start.clone();
                geo.accumulate_on(&threads(t), &x, &k, &mut got, batch);
                assert!(got == want, "{groups} groups, batch {batch} on {t} threads");
            }
        }
    }
}
