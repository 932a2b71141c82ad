//! `remap`: a linear re-indexing within an example — every output value is one input
//! value or zero. The loader expresses data movement with it: `Pad` (zero, reflect,
//! edge), `Transpose` keeping the batch first, `Split` and `Slice`, and the
//! zero-inserting dilation of a `ConvTranspose`'s input.

use tessera_core::Ring;

use super::Operator;
use crate::fixed::FixedLayer;
use crate::float::Float;
use crate::model::{Layer, MAX_VALUES};
use crate::{Error, Result};

/// A re-indexing of one example into `shape`: output value `j` (row-major) is input
/// value `idx[j]`, or zero for `None`.
#[derive(Clone, Debug, PartialEq)]
pub struct Remap {
    /// The per-example output shape.
    pub shape: Vec<usize>,
    /// For every output value, the flat index into the example it copies, or `None`
    /// (zero).
    pub idx: Vec<Option<usize>>,
}

impl Remap {
    /// Constant or edge/reflect padding of an example of `shape` by `pads` (every
    /// per-example dimension's begin, then every end); `None` if a pad does not fit
    /// the mode (reflection needs pads smaller than the dimension) or the output is
    /// too large.
    pub fn pad(shape: &[usize], pads: &[usize], mode: PadMode) -> Option<Remap> {
        let r = shape.len();
        if pads.len() != 2 * r {
            return None;
        }
        let out: Vec<usize> = (0..r)
            .map(|i| shape[i].checked_add(pads[i])?.checked_add(pads[r + i]))
            .collect::<Option<_>>()?;
        if out.iter().try_fold(1usize, |a, &d| a.checked_mul(d))? > MAX_VALUES {
            return None;
        }
        if mode == PadMode::Reflect
            && (0..r).any(|i| pads[i] >= shape[i] || pads[r + i] >= shape[i])
        {
            return None;
        }
        if mode == PadMode::Edge && shape.contains(&0) {
            return None;
        }
        // Per dimension: the input coordinate of each output coordinate.
        let coord: Vec<Vec<Option<usize>>> = (0..r)
            .map(|i| {
                let (n, b) = (shape[i] as i64, pads[i] as i64);
                (0..out[i] as i64)
                    .map(|o| {
                        let x = o - b;
                        let at = match mode {
                            PadMode::Constant => (0..n).contains(&x).then_some(x),
                            PadMode::Edge => Some(x.clamp(0, n - 1)),
                            PadMode::Reflect => Some(if x < 0 {
                                -x
                            } else if x >= n {
                                2 * (n - 1) - x
                            } else {
                                x
                            }),
                        };
                        at.map(|v| v as usize)
                    })
                    .collect()
            })
            .collect();
        Some(Remap::from_coords(shape, out, &coord))
    }

    /// The transposition of an example of `shape` by `perm` (a permutation of its
    /// dimensions): output dimension `i` is input dimension `perm[i]`.
    pub fn transpose(shape: &[usize], perm: &[usize]) -> Option<Remap> {
        let r = shape.len();
        let mut seen = vec![false; r];
        for &p in perm {
            if p >= r || std::mem::replace(&mut seen[p], true) {
                return None;
            }
        }
        if perm.len() != r {
            return None;
        }
        let out: Vec<usize> = perm.iter().map(|&p| shape[p]).collect();
        let mut strides = vec![1usize; r];
        for i in (0..r.saturating_sub(1)).rev() {
            strides[i] = strides[i + 1] * shape[i + 1];
        }
        let n: usize = out.iter().product();
        let mut idx = Vec::with_capacity(n);
        let mut pos = vec![0usize; r];
        for _ in 0..n {
            idx.push(Some((0..r).map(|i| pos[i] * strides[perm[i]]).sum()));
            for i in (0..r).rev() {
                pos[i] += 1;
                if pos[i] < out[i] {
                    break;
                }
                pos[i] = 0;
            }
        }
        Some(Remap { shape: out, idx })
    }

    /// The elements `start, start + step, …` (`len` of them) of per-example axis
    /// `axis` of an example of `shape` (ONNX `Split` and `Slice`).
    pub fn slice(
        shape: &[usize],
        axis: usize,
        start: usize,
        len: usize,
        step: usize,
    ) -> Option<Remap> {
        let n = *shape.get(axis)?;
        if step == 0 || (len > 0 && start.checked_add((len - 1).checked_mul(step)?)? >= n) {
            return None;
        }
        let mut out = shape.to_vec();
        out[axis] = len;
        let coord: Vec<Vec<Option<usize>>> = (0..shape.len())
            .map(|i| {
                if i == axis {
                    (0..len).map(|o| Some(start + o * step)).collect()
                } else {
                    (0..shape[i]).map(Some).collect()
                }
            })
            .collect();
        Some(Remap::from_coords(shape, out, &coord))
    }

    /// The elements `at` (in that order, repeats allowed) of per-example axis `axis` of
    /// an example of `shape` (ONNX `Slice` with any step, negative too); `None` if an
    /// index is out of range.
    pub fn take(shape: &[usize], axis: usize, at: &[usize]) -> Option<Remap> {
        let n = *shape.get(axis)?;
        if at.iter().any(|&i| i >= n) {
            return None;
        }
        let mut out = shape.to_vec();
        out[axis] = at.len();
        let coord: Vec<Vec<Option<usize>>> = (0..shape.len())
            .map(|i| {
                if i == axis {
                    at.iter().map(|&o| Some(o)).collect()
                } else {
                    (0..shape[i]).map(Some).collect()
                }
            })
            .collect();
        Some(Remap::from_coords(shape, out, &coord))
    }

    /// `self` followed by `next` (which reads `self`'s output): one re-indexing.
    pub fn then(&self, next: &Remap) -> Remap {
        Remap {
            shape: next.shape.clone(),
            idx: next
                .idx
                .iter()
                .map(|i| i.and_then(|i| self.idx.get(i).copied().flatten()))
                .collect(),
        }
    }

    /// Spreads the spatial dimensions of `[C, …spatial]` by `strides` (`s − 1` zeros
    /// between neighbours) and pads them by `pads` (begins, then ends) — the input of
    /// a transposed convolution seen as a convolution.
    pub fn dilate(shape: &[usize], strides: &[usize], pads: &[usize]) -> Option<Remap> {
        let r = shape.len().checked_sub(1)?;
        if strides.len() != r || pads.len() != 2 * r || strides.contains(&0) {
            return None;
        }
        let mut out = vec![shape[0]];
        let mut coord = vec![(0..shape[0]).map(Some).collect::<Vec<_>>()];
        for i in 0..r {
            let (n, s) = (shape[i + 1], strides[i]);
            let spread = n.checked_sub(1)?.checked_mul(s)?.checked_add(1)?;
            let len = spread.checked_add(pads[i])?.checked_add(pads[r + i])?;
            out.push(len);
            coord.push(
                (0..len)
                    .map(|o| {
                        o.checked_sub(pads[i])
                            .filter(|x| x % s == 0 && x / s < n)
                            .map(|x| x / s)
                    })
                    .collect(),
            );
        }
        if out.iter().try_fold(1usize, |a, &d| a.checked_mul(d))? > MAX_VALUES {
            return None;
        }
        Some(Remap::from_coords(shape, out, &coord))
    }

    /// The re-indexing whose output coordinate `o` along dimension `i` reads input
    /// coordinate `coord[i][o]` (`None`: zero).
    fn from_coords(shape: &[usize], out: Vec<usize>, coord: &[Vec<Option<usize>>]) -> Remap {
        let r = shape.len();
        let n: usize = out.iter().product();
        let mut idx = Vec::with_capacity(n);
        let mut pos = vec![0usize; r];
        for _ in 0..n {
            let mut flat = Some(0usize);
            for i in 0..r {
                flat = match (flat, coord[i][pos[i]]) {
                    (Some(f), Some(c)) => Some(f * shape[i] + c),
                    _ => None,
                };
            }
            idx.push(flat);
            for i in (0..r).rev() {
                pos[i] += 1;
                if pos[i] < out[i] {
                    break;
                }
                pos[i] = 0;
            }
        }
        Remap { shape: out, idx }
    }
}

/// How `Pad` fills.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PadMode {
    /// Zeros.
    Constant,
    /// The mirror image without the edge value (`reflect`).
    Reflect,
    /// The edge value repeated (`edge`).
    Edge,
}

/// The [`Operator`] of [`crate::Op::Remap`]: moves data only, so the error bound is
/// the input's; in every sharing a local re-indexing.
pub struct RemapOp;

impl Operator for RemapOp {
    type Attrs = Remap;
    const KIND: &'static str = "remap";

    fn shape(m: &Remap, inputs: &[&[usize]], what: &str) -> Result<Vec<usize>> {
        let n: usize = inputs[0].iter().product();
        if m.idx.len() != m.shape.iter().product::<usize>() {
            return Err(Error::shape(what, "a re-indexing of the wrong length"));
        }
        if m.idx.iter().flatten().any(|&i| i >= n) {
            return Err(Error::shape(
                what,
                format!("a re-indexing reads outside an input of {n} values"),
            ));
        }
        Ok(m.shape.clone())
    }

    /// A digest of the index table (FNV-1a): re-indexings of equal shapes differ in it.
    fn hyper(m: &Remap) -> String {
        let h = m.idx.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, i| {
            let v = i.map_or(u64::MAX, |i| i as u64);
            (h ^ v).wrapping_mul(0x0000_0100_0000_01b3)
        });
        format!("{} {h:016x}", m.idx.len())
    }

    fn float<F: Float>(m: &Remap, l: &Layer, ins: &[&[F]], batch: usize) -> Result<Vec<F>> {
        Ok(run(m, l, super::single(ins, Self::KIND)?, batch))
    }

    fn fixed<R: Ring>(
        m: &Remap,
        fl: &FixedLayer<R>,
        ins: &[&[R]],
        batch: usize,
        _: u32,
    ) -> Result<Vec<R>> {
        Ok(run(m, fl.layer(), super::single(ins, Self::KIND)?, batch))
    }
}

fn run<T: Copy + Default>(m: &Remap, l: &Layer, x: &[T], batch: usize) -> Vec<T> {
    let per: usize = l.input_shape().iter().product();
    let mut out = Vec::with_capacity(batch * m.idx.len());
    for ex in x.chunks_exact(per.max(1)).take(batch) {
        out.extend(m.idx.iter().map(|i| i.map_or_else(T::default, |i| ex[i])));
    }
    out
}
