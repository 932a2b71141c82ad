//! The circuits of layers run in B or Y, and where each circuit instance reads its
//! inputs from. One description serves the cost functions and the execution. Each
//! operator's stages are built in its module of [`crate::ops`] from the pieces here.

use std::collections::HashMap;

use tessera_core::Ring;
use tessera_protocols::circuit::{Builder, Circuit, CircuitCost, Program, Variant, Wire};

use crate::{Error, Result};
use tessera_models::fixed::FixedLayer;

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
#[derive(Clone)]
pub(crate) struct BoolLayer {
    pub circuit: Circuit,
    /// The compiled circuit and its cost, computed with it.
    pub program: Program,
    pub cost: CircuitCost,
    /// Instances per example (= output elements per example over [`BoolLayer::words`],
    /// or 1 for the head).
    pub per_example: usize,
    /// Output values (`ℓ` bits each) per instance: 1, or `k` for a circuit that
    /// computes a group of `k` values at once (a softmax over its group); instance `j`'s
    /// values become output elements `j·k … j·k + k − 1`.
    pub words: usize,
    /// The gathers of the activation inputs (the layer's inputs for the first stage,
    /// the previous stage's output after), in circuit input order.
    pub xs: Vec<Gather>,
    pub params: Vec<ParamInput>,
    /// What the stage computes, for step names (`None`: the whole layer).
    pub stage: Option<&'static str>,
}

impl BoolLayer {
    /// A stage of `per_example` instances of the circuit `b` reading one gathered
    /// input and party 0's parameters.
    pub(crate) fn new(
        b: Builder,
        per_example: usize,
        x: Gather,
        params: Vec<ParamInput>,
    ) -> Result<Self> {
        Self::joining(b, per_example, vec![x], params)
    }

    /// A stage reading several gathered inputs (a join: add, sub, concat).
    pub(crate) fn joining(
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
            words: 1,
            xs,
            params,
            stage: None,
        })
    }

    /// A stage whose instances each output `words` values (see [`BoolLayer::words`]).
    pub(crate) fn words(mut self, words: usize) -> Self {
        self.words = words;
        self
    }

    /// Names the stage (for step names).
    pub(crate) fn stage(mut self, name: &'static str) -> Self {
        self.stage = Some(name);
        self
    }
}

/// The gadget variant of a Boolean sharing: depth-optimised for GMW (rounds), size
/// for Yao (bytes).
pub(crate) fn variant_for_b(is_b: bool) -> Variant {
    if is_b { Variant::Depth } else { Variant::Size }
}

/// Splits `slots · ell` input wires into words.
pub(crate) fn words(bits: &[Wire], ell: usize) -> Vec<Vec<Wire>> {
    bits.chunks(ell).map(<[Wire]>::to_vec).collect()
}

/// The bits of the arithmetic shift `>> f` of an `ell`-bit two's-complement word:
/// bit `r` is bit `r + f`, the top `f` bits copy the sign.
pub(crate) fn shift_bits(ell: usize, f: usize) -> Vec<usize> {
    (0..ell).map(|r| (r + f).min(ell - 1)).collect()
}

/// The one stage of an element-wise operator of layer `fl`: one instance of the
/// circuit `b` (one input word, one output word) per output element.
pub(crate) fn elementwise<R: Ring>(b: Builder, fl: &FixedLayer<R>) -> Result<Vec<BoolLayer>> {
    Ok(vec![BoolLayer::new(
        b,
        fl.layer().output_shape().iter().product(),
        Gather {
            slots: 1,
            idx: None,
        },
        Vec::new(),
    )?])
}

/// Dense/conv: `outputs` sums `Σ_s x_s·w_s (+ bias)` over `slots` per example, as
/// two stages: `outputs · slots` instances of `x·w` (instance `j·slots + s` reads
/// input element `x_idx[j·slots + s]` and weight `w_idx[…]`; `None` reads 0), then
/// `outputs` instances of the sum of `slots` products and the bias.
pub(crate) fn inner_products(
    ell: usize,
    v: Variant,
    slots: usize,
    outputs: usize,
    x_idx: Vec<Option<usize>>,
    (values, w_idx): (usize, Vec<Option<usize>>),
    bias: Option<(usize, Vec<Option<usize>>)>,
) -> Result<Vec<BoolLayer>> {
    let sums_idx = (0..outputs * slots).map(Some).collect();
    inner_product_stages(
        ell,
        v,
        slots,
        outputs,
        (x_idx, sums_idx),
        (values, w_idx),
        bias,
    )
}

/// The stages of [`inner_products`] as the pricer needs them: the same circuits,
/// instance counts and parameter sizes, without the per-instance gathers (empty index
/// lists). The gathers of a convolution hold one entry per product — 1.85 × 10⁹ for
/// VGG-16's second layer, 16 bytes each three times over — and no price depends on
/// them ([`crate::cost`] reads the circuit, the instance count and the slot and value
/// counts), so `tessera plan` prices ImageNet-scale layers in B and Y without them.
/// `cost::tests::priced_linear_stages_price_like_the_full_ones` checks the steps against
/// the full stages' for dense and convolution layers.
pub(crate) fn inner_products_priced(
    ell: usize,
    v: Variant,
    slots: usize,
    outputs: usize,
    values: usize,
    bias_values: Option<usize>,
) -> Result<Vec<BoolLayer>> {
    // The two circuits depend on (ell, variant, slots, bias) only, and the networks
    // that need this path repeat few of them (ResNet-50's 53 convolutions and one dense
    // layer share a handful of slot counts), while a sum over thousands of products takes tens of milliseconds
    // to build and compile and the planner prices each layer several times: build each
    // once per process.
    type Key = (usize, Variant, usize, bool);
    static BUILT: std::sync::OnceLock<std::sync::Mutex<HashMap<Key, Vec<BoolLayer>>>> =
        std::sync::OnceLock::new();
    let key = (ell, v, slots, bias_values.is_some());
    let cache = BUILT.get_or_init(Default::default);
    let cached = cache
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .get(&key)
        .cloned();
    let mut stages = match cached {
        Some(st) => st,
        None => {
            let st = inner_product_stages(
                ell,
                v,
                slots,
                1,
                (Vec::new(), Vec::new()),
                (1, Vec::new()),
                bias_values.map(|_| (1, Vec::new())),
            )?;
            cache
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .insert(key, st.clone());
            st
        }
    };
    // The counts of this layer.
    if let [products, sums] = stages.as_mut_slice() {
        products.per_example = outputs * slots;
        products.params[0].values = values;
        sums.per_example = outputs;
        if let (Some(nb), Some(p)) = (bias_values, sums.params.first_mut()) {
            p.values = nb;
        }
    }
    Ok(stages)
}

/// [`inner_products`] with the sums' gather given.
fn inner_product_stages(
    ell: usize,
    v: Variant,
    slots: usize,
    outputs: usize,
    (x_idx, sums_idx): (Vec<Option<usize>>, Vec<Option<usize>>),
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
            idx: Some(sums_idx),
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
