//! The circuits of layers run in B or Y, and where each circuit instance reads its
//! inputs from. One description serves the cost functions and the execution.

use tessera_core::Ring;
use tessera_protocols::circuit::{Builder, Circuit, CircuitCost, Program, Variant, Wire};

use crate::{Error, Result};
use tessera_models::fixed::FixedLayer;
use tessera_models::float::conv_window;
use tessera_models::kernels::Window;
use tessera_models::model::Op;

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

/// Which of party 0's parameters a stage takes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Param {
    /// The weight tensor (at scale `2^f`).
    Weights,
    /// The bias (at scale `2^2f`).
    Bias,
}

/// Party 0's parameter input of a stage: `values` ring elements entered once per run,
/// then gathered: per example, instance `j`'s slot `s` reads value `idx[j·slots + s]`
/// (the same values for every example).
#[derive(Clone, Debug)]
pub(crate) struct ParamInput {
    pub param: Param,
    pub values: usize,
    pub slots: usize,
    pub idx: Vec<Option<usize>>,
}

impl ParamInput {
    /// The indices over a batch (the same parameters for every example).
    pub fn batch_indices(&self, batch: usize) -> Vec<Option<usize>> {
        let mut out = Vec::with_capacity(self.idx.len() * batch);
        for _ in 0..batch {
            out.extend_from_slice(&self.idx);
        }
        out
    }
}

/// One circuit evaluation of a layer in B or Y: the circuit (compiled once), how
/// many instances run per example, where each instance reads its input (the
/// layer's input for the first stage, the previous stage's output after) and
/// party 0's parameters, which follow it as circuit inputs in order.
pub(crate) struct BoolLayer {
    pub circuit: Circuit,
    /// The compiled circuit and its cost, computed with it.
    pub program: Program,
    pub cost: CircuitCost,
    /// Instances per example (= output elements per example, or 1 for the head).
    pub per_example: usize,
    /// The gathers of the activation inputs (the layer's inputs for the first stage,
    /// the previous stage's output after), in circuit input order.
    pub xs: Vec<Gather>,
    pub params: Vec<ParamInput>,
    /// What the stage computes, for step names (`None`: the whole layer).
    pub stage: Option<&'static str>,
}

impl BoolLayer {
    fn new(b: Builder, per_example: usize, x: Gather, params: Vec<ParamInput>) -> Result<Self> {
        Self::joining(b, per_example, vec![x], params)
    }

    fn joining(
        b: Builder,
        per_example: usize,
        xs: Vec<Gather>,
        params: Vec<ParamInput>,
    ) -> Result<Self> {
        let circuit = b.finish()?;
        Ok(BoolLayer {
            program: Program::new(&circuit),
            cost: circuit.cost(),
            circuit,
            per_example,
            xs,
            params,
            stage: None,
        })
    }

    fn stage(mut self, name: &'static str) -> Self {
        self.stage = Some(name);
        self
    }

    /// The widest AND layer's gates.
    pub fn widest_and_layer(&self) -> usize {
        self.cost
            .and_layer_widths
            .iter()
            .copied()
            .max()
            .unwrap_or(0)
    }
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

/// The bits of the arithmetic shift `>> f` of an `ell`-bit two's-complement word:
/// bit `r` is bit `r + f`, the top `f` bits copy the sign.
pub(crate) fn shift_bits(ell: usize, f: usize) -> Vec<usize> {
    (0..ell).map(|r| (r + f).min(ell - 1)).collect()
}

/// The stages of layer `fl` in a Boolean sharing (`is_b`: GMW, else Yao), in order;
/// none for a reshape (no computation). Dense and conv layers take two: every
/// product `x_s·w_s` as its own instance of one small multiplier circuit, then per
/// output element the sum of its products and the bias (one multi-operand adder).
/// The split keeps each circuit small, so that its evaluation runs over long
/// bit-sliced rows of instances (GMW) or cache-sized chunks of them (Yao) instead
/// of millions of distinct wires, and the sum's Dadda tree is shallower and smaller
/// than a tree of adders.
pub(crate) fn bool_layer<R: Ring>(
    fl: &FixedLayer<R>,
    frac_bits: u32,
    is_b: bool,
) -> Result<Vec<BoolLayer>> {
    let ell = R::BITS as usize;
    let v = variant_for_b(is_b);
    let layer = fl.layer();
    let (input, output) = (layer.input_shape(), layer.output_shape());
    let out_len: usize = output.iter().product();
    let mut b = Builder::new();
    let elementwise = |b: Builder| -> Result<Vec<BoolLayer>> {
        Ok(vec![BoolLayer::new(
            b,
            out_len,
            Gather {
                slots: 1,
                idx: None,
            },
            Vec::new(),
        )?])
    };
    match layer.op() {
        Op::Reshape(_) => Ok(Vec::new()),
        Op::Add | Op::Sub => {
            let (x, y) = (b.input(ell), b.input(ell));
            let z = if matches!(layer.op(), Op::Add) {
                b.add(&x, &y, v)
            } else {
                b.sub(&x, &y, v)
            };
            b.output(&z);
            let id = || Gather {
                slots: 1,
                idx: None,
            };
            Ok(vec![BoolLayer::joining(
                b,
                out_len,
                vec![id(), id()],
                Vec::new(),
            )?])
        }
        Op::Concat(axis) => {
            // Output element j reads its element of one input and 0 of the others;
            // the XOR of the slots is the element (free in GMW and Yao).
            let shapes = layer.input_shapes();
            let blocks: Vec<usize> = shapes.iter().map(|s| s[*axis..].iter().product()).collect();
            let outer: usize = shapes[0][..*axis].iter().product();
            let total: usize = blocks.iter().sum();
            let mut idx: Vec<Vec<Option<usize>>> = vec![vec![None; out_len]; shapes.len()];
            for o in 0..outer {
                let mut at = o * total;
                for (k, &bk) in blocks.iter().enumerate() {
                    for e in 0..bk {
                        idx[k][at + e] = Some(o * bk + e);
                    }
                    at += bk;
                }
            }
            let ins: Vec<Vec<Wire>> = shapes.iter().map(|_| b.input(ell)).collect();
            let mut z = ins[0].clone();
            for w in &ins[1..] {
                z = z.iter().zip(w).map(|(&p, &q)| b.xor(p, q)).collect();
            }
            b.output(&z);
            let xs = idx
                .into_iter()
                .map(|i| Gather {
                    slots: 1,
                    idx: Some(i),
                })
                .collect();
            Ok(vec![BoolLayer::joining(b, out_len, xs, Vec::new())?])
        }
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
            Ok(vec![BoolLayer::new(
                b,
                out_len,
                Gather {
                    slots: k,
                    idx: Some(idx),
                },
                Vec::new(),
            )?])
        }
        Op::AvgPool(p) => {
            let win = Window::new(input, output, p);
            let k = p.kernel[0] * p.kernel[1];
            let q = fl.avg_scale().map_or(0, |q| q.to_u64());
            let x = b.input(k * ell);
            let s = b.sum(&words(&x, ell), v);
            let qw = b.constant_word(q, ell);
            let y = b.mul(&s, &qw, v);
            b.output(&y);
            Ok(vec![BoolLayer::new(
                b,
                out_len,
                Gather {
                    slots: k,
                    idx: Some(win.pool_indices()),
                },
                Vec::new(),
            )?])
        }
        Op::Dense(d) => {
            let (out, inn) = (d.weight.shape()[0], d.weight.shape()[1]);
            let x_idx: Vec<Option<usize>> = (0..out).flat_map(|_| (0..inn).map(Some)).collect();
            let w_idx: Vec<Option<usize>> = (0..out * inn).map(Some).collect();
            let bias = fl.bias().map(|_| (out, (0..out).map(Some).collect()));
            inner_products(ell, v, inn, out, x_idx, (out * inn, w_idx), bias)
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
            inner_products(ell, v, ckk, o * pixels, x_idx, (o * ckk, w_idx), bias)
        }
    }
}

/// Dense/conv: `outputs` sums `Σ_s x_s·w_s (+ bias)` over `slots` per example, as
/// two stages: `outputs · slots` instances of `x·w` (instance `j·slots + s` reads
/// input element `x_idx[j·slots + s]` and weight `w_idx[…]`; `None` reads 0), then
/// `outputs` instances of the sum of `slots` products and the bias.
fn inner_products(
    ell: usize,
    v: Variant,
    slots: usize,
    outputs: usize,
    x_idx: Vec<Option<usize>>,
    (values, w_idx): (usize, Vec<Option<usize>>),
    bias: Option<(usize, Vec<Option<usize>>)>,
) -> Result<Vec<BoolLayer>> {
    let mut b = Builder::new();
    let (x, w) = (b.input(ell), b.input(ell));
    let y = b.mul(&x, &w, v);
    b.output(&y);
    let products = BoolLayer::new(
        b,
        outputs * slots,
        Gather {
            slots: 1,
            idx: Some(x_idx),
        },
        vec![ParamInput {
            param: Param::Weights,
            values,
            slots: 1,
            idx: w_idx,
        }],
    )?
    .stage("products");

    let mut b = Builder::new();
    let p = b.input(slots * ell);
    let mut terms = words(&p, ell);
    let mut params = Vec::new();
    if let Some((nb, idx)) = bias {
        terms.push(b.input(ell));
        params.push(ParamInput {
            param: Param::Bias,
            values: nb,
            slots: 1,
            idx,
        });
    }
    let y = b.sum(&terms, v);
    b.output(&y);
    let sums = BoolLayer::new(
        b,
        outputs,
        Gather {
            slots,
            idx: Some((0..outputs * slots).map(Some).collect()),
        },
        params,
    )?
    .stage("sums");
    Ok(vec![products, sums])
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
    BoolLayer::new(
        b,
        1,
        Gather {
            slots: classes,
            idx: Some((0..classes).map(Some).collect()),
        },
        Vec::new(),
    )
}
