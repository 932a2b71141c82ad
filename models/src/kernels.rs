//! Batched linear kernels shared by the float and fixed-point interpreters, generic
//! over the element type (`f32`, `f64`, `Z_2^32`, `Z_2^64`).
//!
//! Ring arithmetic is exact, so for ring elements any summation order gives the
//! same result; these kernels are therefore the definition of the linear layers'
//! values, not an approximation of it. For floats they sum over the input index in
//! increasing order. Windows (convolution and pooling geometry) are
//! `tessera_protocols::arith::window`'s.

use std::ops::{AddAssign, Mul};

use num_traits::Zero;

/// What a kernel needs of an element type.
pub(crate) trait Elem: Copy + Default + Zero + AddAssign + Mul<Output = Self> {}
impl<T: Copy + Default + Zero + AddAssign + Mul<Output = T>> Elem for T {}

/// Transposes a row-major `[rows, cols]` matrix into `[cols, rows]`.
pub(crate) fn transpose<T: Copy>(a: &[T], rows: usize, cols: usize) -> Vec<T> {
    let mut t = Vec::with_capacity(a.len());
    for j in 0..cols {
        t.extend((0..rows).map(|i| a[i * cols + j]));
    }
    t
}

use tessera_protocols::arith::window::matmul_acc;

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
