//! The circuits of layers run in B or Y, and where each circuit instance reads its
//! inputs from. One description serves the cost functions and the execution.

use tessera_core::Ring;
use tessera_protocols::circuit::{Builder, Circuit, Variant, Wire};

use crate::fixed::FixedLayer;
use crate::float::conv_window;
use crate::kernels::Window;
use crate::model::Op;
use crate::{Error, Result};

/// Where the `slots` values of each circuit instance come from: per example,
/// instance `j`'s slot `s` reads element `idx[j·slots + s]` of the example's input
/// tensor (flat, row-major), or the constant 0 for `None`. `idx == None` is the
/// identity (one slot, instance `j` reads element `j`).
#[derive(Clone, Debug)]
pub(crate) struct Gather {
    pub slots: usize,
    pub idx: Option<Vec<Option<usize>>>,
}

impl Gather {
    /// The indices over a batch: example `b`'s instances read elements offset by
    /// `b · per_input`.
    pub fn batch_indices(&self, batch: usize, per_input: usize) -> Option<Vec<Option<usize>>> {
        let idx = self.idx.as_ref()?;
        let mut out = Vec::with_capacity(idx.len() * batch);
        for b in 0..batch {
            out.extend(idx.iter().map(|i| i.map(|i| i + b * per_input)));
        }
        Some(out)
    }
}

/// Party 0's parameters of a dense or conv layer in B/Y: entered once per run as
/// `values` ring elements (the weight tensor), and `bias` ring elements (at scale
/// `2^2f`), then gathered per instance.
#[derive(Clone, Debug)]
pub(crate) struct WeightInputs {
    /// Number of weight values (the weight tensor's size).
    pub values: usize,
    /// Per example, instance `j`'s slot `s` reads weight `idx[j·slots + s]`.
    pub idx: Vec<Option<usize>>,
    /// Number of bias values, and instance `j`'s bias index, if the layer has a bias.
    pub bias: Option<(usize, Vec<Option<usize>>)>,
}

impl WeightInputs {
    /// The weight indices over a batch (the same weights for every example).
    pub fn batch_indices(idx: &[Option<usize>], batch: usize) -> Vec<Option<usize>> {
        let mut out = Vec::with_capacity(idx.len() * batch);
        for _ in 0..batch {
            out.extend_from_slice(idx);
        }
        out
    }
}

/// A layer as a circuit over instances.
pub(crate) struct BoolLayer {
    /// The circuit: inputs `[x (slots·ℓ bits), w (slots·ℓ), bias (ℓ)]` (the last two
    /// for dense/conv only), one output.
    pub circuit: Circuit,
    /// Instances per example (= output elements per example, or 1 for the head).
    pub per_example: usize,
    /// The activation's gather.
    pub x: Gather,
    /// Party 0's parameters, for dense/conv.
    pub weights: Option<WeightInputs>,
}

/// The gadget variant of a Boolean sharing: depth-optimised for GMW (rounds), size
/// for Yao (bytes).
pub(crate) fn variant_for_b(is_b: bool) -> Variant {
    if is_b { Variant::Depth } else { Variant::Size }
}

/// Splits `slots · ell` input wires into words.
fn words(bits: &[Wire], ell: usize) -> Vec<Vec<Wire>> {
    bits.chunks(ell).map(<[Wire]>::to_vec).collect()
}

/// A balanced tree of additions.
fn sum_tree(b: &mut Builder, mut terms: Vec<Vec<Wire>>, v: Variant) -> Vec<Wire> {
    while terms.len() > 1 {
        let mut next = Vec::with_capacity(terms.len().div_ceil(2));
        let mut it = terms.into_iter();
        while let Some(x) = it.next() {
            match it.next() {
                Some(y) => next.push(b.add(&x, &y, v)),
                None => next.push(x),
            }
        }
        terms = next;
    }
    terms.pop().unwrap_or_default()
}

/// The bits of the arithmetic shift `>> f` of an `ell`-bit two's-complement word:
/// bit `r` is bit `r + f`, the top `f` bits copy the sign.
pub(crate) fn shift_bits(ell: usize, f: usize) -> Vec<usize> {
    (0..ell).map(|r| (r + f).min(ell - 1)).collect()
}

/// The circuit and gathers of layer `fl` in a Boolean sharing (`is_b`: GMW, else
/// Yao), or `None` for a reshape (no computation).
pub(crate) fn bool_layer<R: Ring>(
    fl: &FixedLayer<R>,
    frac_bits: u32,
    is_b: bool,
) -> Result<Option<BoolLayer>> {
    let ell = R::BITS as usize;
    let v = variant_for_b(is_b);
    let layer = fl.layer();
    let (input, output) = (layer.input_shape(), layer.output_shape());
    let out_len: usize = output.iter().product();
    let mut b = Builder::new();
    let elementwise = |b: Builder| -> Result<Option<BoolLayer>> {
        Ok(Some(BoolLayer {
            circuit: b.finish()?,
            per_example: out_len,
            x: Gather {
                slots: 1,
                idx: None,
            },
            weights: None,
        }))
    };
    match layer.op() {
        Op::Reshape(_) => Ok(None),
        Op::Relu => {
            let x = b.input(ell);
            let y = b.relu(&x);
            b.output(&y);
            elementwise(b)
        }
        Op::Sigmoid => {
            let f = frac_bits as usize;
            let x = b.input(ell);
            let half = b.constant_word(1u64 << (f - 1), ell);
            let one = b.constant_word(1u64 << f, ell);
            let t = b.add(&x, &half, v);
            let r = b.relu(&t);
            let above = b.lt_signed(&one, &r, v);
            let y = b.mux(above, &one, &r);
            b.output(&y);
            elementwise(b)
        }
        Op::Square => {
            let x = b.input(ell);
            let y = b.mul(&x, &x, v);
            b.output(&y);
            elementwise(b)
        }
        Op::MaxPool(p) => {
            let win = Window::new(input, output, p);
            let k = p.kernel[0] * p.kernel[1];
            let mut idx = win.pool_indices();
            // Max is idempotent: an out-of-bounds slot repeats an in-bounds element
            // of its window (the reference ignores padding).
            for (j, w) in idx.chunks_mut(k).enumerate() {
                let first = w.iter().flatten().next().copied().ok_or_else(|| {
                    Error::shape(
                        format!("layer {}", layer.name()),
                        format!("max-pooling window {j} lies entirely in the padding"),
                    )
                })?;
                for s in w.iter_mut() {
                    s.get_or_insert(first);
                }
            }
            let x = b.input(k * ell);
            let y = b.max_pool(&words(&x, ell), v);
            b.output(&y);
            Ok(Some(BoolLayer {
                circuit: b.finish()?,
                per_example: out_len,
                x: Gather {
                    slots: k,
                    idx: Some(idx),
                },
                weights: None,
            }))
        }
        Op::AvgPool(p) => {
            let win = Window::new(input, output, p);
            let k = p.kernel[0] * p.kernel[1];
            let q = fl.avg_scale().map_or(0, |q| q.to_u64());
            let x = b.input(k * ell);
            let s = sum_tree(&mut b, words(&x, ell), v);
            let qw = b.constant_word(q, ell);
            let y = b.mul(&s, &qw, v);
            b.output(&y);
            Ok(Some(BoolLayer {
                circuit: b.finish()?,
                per_example: out_len,
                x: Gather {
                    slots: k,
                    idx: Some(win.pool_indices()),
                },
                weights: None,
            }))
        }
        Op::Dense(d) => {
            let (out, inn) = (d.weight.shape()[0], d.weight.shape()[1]);
            let x_idx: Vec<Option<usize>> = (0..out).flat_map(|_| (0..inn).map(Some)).collect();
            let w_idx: Vec<Option<usize>> = (0..out * inn).map(Some).collect();
            let bias = fl.bias().map(|_| (out, (0..out).map(Some).collect()));
            inner_products(b, ell, v, inn, out, x_idx, w_idx, bias, out * inn)
        }
        Op::Conv2d(c) => {
            let (win, o) = conv_window(c, input, output);
            let ckk = win.c * win.kh * win.kw;
            let pixels = win.oh * win.ow;
            let per_pixel = win.conv_indices();
            let mut x_idx = Vec::with_capacity(o * pixels * ckk);
            let mut w_idx = Vec::with_capacity(o * pixels * ckk);
            for oc in 0..o {
                x_idx.extend_from_slice(&per_pixel);
                for _ in 0..pixels {
                    w_idx.extend((0..ckk).map(|s| Some(oc * ckk + s)));
                }
            }
            let bias = fl.bias().map(|_| {
                (
                    o,
                    (0..o)
                        .flat_map(|oc| std::iter::repeat_n(Some(oc), pixels))
                        .collect(),
                )
            });
            inner_products(b, ell, v, ckk, o * pixels, x_idx, w_idx, bias, o * ckk)
        }
    }
}

/// Dense/conv: `per_example` instances of `Σ_s x_s·w_s (+ bias)` over `slots`.
#[allow(clippy::too_many_arguments)]
fn inner_products(
    mut b: Builder,
    ell: usize,
    v: Variant,
    slots: usize,
    per_example: usize,
    x_idx: Vec<Option<usize>>,
    w_idx: Vec<Option<usize>>,
    bias: Option<(usize, Vec<Option<usize>>)>,
    values: usize,
) -> Result<Option<BoolLayer>> {
    let x = b.input(slots * ell);
    let w = b.input(slots * ell);
    let bias_in = bias.as_ref().map(|_| b.input(ell));
    let mut terms: Vec<Vec<Wire>> = words(&x, ell)
        .iter()
        .zip(words(&w, ell))
        .map(|(xs, ws)| b.mul(xs, &ws, v))
        .collect();
    if let Some(bw) = bias_in {
        terms.push(bw);
    }
    let y = sum_tree(&mut b, terms, v);
    b.output(&y);
    Ok(Some(BoolLayer {
        circuit: b.finish()?,
        per_example,
        x: Gather {
            slots,
            idx: Some(x_idx),
        },
        weights: Some(WeightInputs {
            values,
            idx: w_idx,
            bias,
        }),
    }))
}

/// The argmax head over `classes` scores of `ell` bits: one instance per example;
/// the output is the index, `max(1, ⌈log₂ classes⌉)` bits.
pub(crate) fn argmax_layer(classes: usize, ell: usize, is_b: bool) -> Result<BoolLayer> {
    if classes == 0 {
        return Err(Error::shape("argmax", "no classes"));
    }
    let mut b = Builder::new();
    let x = b.input(classes * ell);
    let (idx, _) = b.argmax(&words(&x, ell), variant_for_b(is_b));
    b.output(&idx);
    Ok(BoolLayer {
        circuit: b.finish()?,
        per_example: 1,
        x: Gather {
            slots: classes,
            idx: Some((0..classes).map(Some).collect()),
        },
        weights: None,
    })
}
