//! The lowering of (model, assignment, batch) to one program of steps, which the
//! pricer ([`Program::costs`]) and the secure executor ([`crate::infer_party`]) both
//! interpret, so that the dealer's demand and the execution come from one list.
//!
//! Values are numbered as the model's ([`tessera_models::Layer::inputs`]): value 0 is
//! the client's input, value `j + 1` layer `j`'s output. The program works on *slots*:
//! a slot holds one value in one sharing, pending (an accumulator at scale `2^2f`)
//! or not. A value read by layers in several sharings is converted once per target
//! sharing and the converted slot reused; a pending value is normalised once per
//! sharing it is consumed in (a shift by wiring in B/Y, the dealer truncation in A),
//! exactly as the plaintext fixed-point reference truncates each accumulator once.
//!
//! The program ends with the model's outputs in order ([`FixedModel::outputs`]): the
//! first under the head ([`Kind::Label`]) or revealed, every other one revealed
//! ([`Kind::Reveal`]), each from the slot its value was produced in; an output slot is
//! therefore read last by its reveal, after every layer.

use std::collections::HashMap;

use tessera_core::Ring;
use tessera_models::fixed::FixedModel;

use crate::cost::{
    batched, head_steps_within, input_steps, op_steps_within, plain_op, reveal_steps, route_steps,
    setup_steps, trunc_step,
};
use crate::{Assignment, Conversion, Output, Sharing, StepCost, default_route, pending_value};
use crate::{Error, Result};

/// A slot of the program: one value in one sharing.
pub type Slot = usize;

/// What a step does.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Kind {
    /// The client's input enters in `sharing`.
    Input {
        /// The slot written.
        dst: Slot,
        /// Its sharing.
        sharing: Sharing,
    },
    /// A conversion of `src` (elements of `shape`, batch first).
    Convert {
        /// The slot read.
        src: Slot,
        /// The slot written.
        dst: Slot,
        /// The conversion.
        conversion: Conversion,
        /// The value's shape (batch first).
        shape: Vec<usize>,
    },
    /// The dealer truncation of a pending accumulator in A.
    Trunc {
        /// The slot read.
        src: Slot,
        /// The slot written.
        dst: Slot,
        /// The value's shape (batch first).
        shape: Vec<usize>,
    },
    /// The arithmetic shift `>> f` of a pending value in B or Y (wiring, free).
    Shift {
        /// The slot read.
        src: Slot,
        /// The slot written.
        dst: Slot,
    },
    /// Model layer `layer` in `sharing` on its inputs' slots.
    Layer {
        /// The layer.
        layer: usize,
        /// Its sharing.
        sharing: Sharing,
        /// The slots read, one per input of the layer.
        srcs: Vec<Slot>,
        /// The slot written.
        dst: Slot,
        /// The plaintext-weight mask index of an A dense/conv layer.
        mask: usize,
    },
    /// The argmax of `src` (the model's first output) in `sharing`, its index revealed
    /// to the client.
    Label {
        /// The slot read.
        src: Slot,
        /// The sharing of the argmax circuit.
        sharing: Sharing,
    },
    /// The values of model output `output` revealed to the client (shifted in the
    /// clear if pending).
    Reveal {
        /// The slot read.
        src: Slot,
        /// Whether the client shifts the opened values by `f`.
        pending: bool,
        /// The index of the output in [`FixedModel::outputs`].
        output: usize,
    },
}

/// One step: what it does and its exact price (none for free wiring). A step may
/// price as several named parts (a B/Y layer's parameters and stages).
#[derive(Clone, Debug, PartialEq)]
pub struct Step {
    /// What the step does.
    pub kind: Kind,
    /// Its priced parts, in execution order.
    pub costs: Vec<StepCost>,
}

/// A lowered run: the set-up steps (A weights) and the online steps in order.
#[derive(Clone, Debug, PartialEq)]
pub struct Program {
    /// The set-up steps (each A dense/conv layer's masked weight, in layer order).
    pub setup: Vec<StepCost>,
    /// The online steps.
    pub steps: Vec<Step>,
    /// How many slots the steps use.
    pub slots: usize,
    /// The sharing of each slot.
    pub sharings: Vec<Sharing>,
    /// The index of the last step that reads each slot (`usize::MAX` if none).
    pub last_read: Vec<usize>,
}

impl Program {
    /// Every priced step of the run in order: set-up, then the online steps.
    pub fn costs(&self) -> Vec<StepCost> {
        let mut out = self.setup.clone();
        for s in &self.steps {
            out.extend(s.costs.iter().cloned());
        }
        out
    }
}

/// The state of a value during lowering: its slot, sharing and whether pending.
#[derive(Clone, Copy, Debug)]
struct At {
    slot: Slot,
    sharing: Sharing,
    pending: bool,
}

struct Lowering<'a, R: Ring> {
    model: &'a FixedModel<R>,
    batch: usize,
    steps: Vec<Step>,
    sharings: Vec<Sharing>,
    /// Where each value was produced.
    produced: Vec<Option<At>>,
    /// Converted or normalised copies: (value, sharing, normalised) → slot.
    copies: HashMap<(usize, Sharing, bool), At>,
    /// Whether steps carry their prices.
    priced: bool,
}

impl<R: Ring> Lowering<'_, R> {
    fn slot(&mut self, sharing: Sharing) -> Slot {
        self.sharings.push(sharing);
        self.sharings.len() - 1
    }

    fn push(&mut self, kind: Kind, costs: Vec<StepCost>) {
        let costs = if self.priced { costs } else { Vec::new() };
        self.steps.push(Step { kind, costs });
    }

    /// The per-example shape of value `v`.
    fn shape_of(&self, v: usize) -> Vec<usize> {
        let s = match v {
            0 => self.model.layers()[0].layer().input_shape(),
            _ => self.model.layers()[v - 1].layer().output_shape(),
        };
        batched(self.batch, s)
    }

    /// Value `v` in sharing `to`, reached by `route` (`None`: the default route),
    /// normalised (not pending) when `normalise`. `what`, `layer` name the steps.
    fn fetch(
        &mut self,
        v: usize,
        to: Sharing,
        route: Option<&[Conversion]>,
        normalise: bool,
        layer: usize,
    ) -> Result<At> {
        if let Some(&at) = self.copies.get(&(v, to, normalise)) {
            return Ok(at);
        }
        let mut at = self.produced[v]
            .ok_or_else(|| Error::Plan(format!("value {v} is read before it is computed")))?;
        let shape = self.shape_of(v);
        let n: usize = shape.iter().product();
        let name = self.model.layers()[layer].layer().name().to_string();
        // A pending value in B/Y is shifted before it leaves (free, exact).
        if normalise && at.pending && at.sharing != Sharing::A {
            at = self.shift(at);
        }
        let default;
        let route = match route {
            Some(r) => r,
            None => {
                default = default_route(at.sharing, to);
                &default
            }
        };
        crate::check_route(&format!("layer {name}"), at.sharing, route, to)?;
        for (k, &c) in route.iter().enumerate() {
            let dst = self.slot(c.endpoints().1);
            let cost = if self.priced {
                route_steps::<R>(&name, Some(layer), &route[k..=k], n)?
            } else {
                Vec::new()
            };
            self.push(
                Kind::Convert {
                    src: at.slot,
                    dst,
                    conversion: c,
                    shape: shape.clone(),
                },
                cost,
            );
            at = At {
                slot: dst,
                sharing: c.endpoints().1,
                pending: at.pending,
            };
        }
        if normalise && at.pending {
            at = if at.sharing == Sharing::A {
                let dst = self.slot(Sharing::A);
                let cost = trunc_step::<R>(self.model, layer, &shape);
                self.push(
                    Kind::Trunc {
                        src: at.slot,
                        dst,
                        shape,
                    },
                    vec![cost],
                );
                At {
                    slot: dst,
                    sharing: Sharing::A,
                    pending: false,
                }
            } else {
                self.shift(at)
            };
        }
        self.copies.insert((v, to, normalise), at);
        Ok(at)
    }

    /// Value `v`, held at `at` (its own sharing), ready to leave the circuit: a pending
    /// value in B/Y shifted (free; reusing a shifted copy a consumer made), a pending
    /// one in A left for the client to shift.
    fn at_output(&mut self, v: usize, at: At) -> At {
        if !at.pending || at.sharing == Sharing::A {
            return at;
        }
        if let Some(&c) = self.copies.get(&(v, at.sharing, true)) {
            return c;
        }
        let c = self.shift(at);
        self.copies.insert((v, at.sharing, true), c);
        c
    }

    fn shift(&mut self, at: At) -> At {
        let dst = self.slot(at.sharing);
        self.push(Kind::Shift { src: at.slot, dst }, Vec::new());
        At {
            slot: dst,
            sharing: at.sharing,
            pending: false,
        }
    }
}

/// Lowers a run of `a` on `batch` examples of `model` to its program, every step
/// priced.
///
/// # Errors
/// [`Error::Plan`] if the assignment does not fit the model; circuit errors.
pub fn lower<R: Ring>(model: &FixedModel<R>, a: &Assignment, batch: usize) -> Result<Program> {
    lower_with(model, a, batch, true)
}

/// The same program as [`lower`] without the prices (which build every circuit):
/// what the executor interprets online.
///
/// # Errors
/// As [`lower`].
pub fn lower_unpriced<R: Ring>(
    model: &FixedModel<R>,
    a: &Assignment,
    batch: usize,
) -> Result<Program> {
    lower_with(model, a, batch, false)
}

fn lower_with<R: Ring>(
    model: &FixedModel<R>,
    a: &Assignment,
    batch: usize,
    priced: bool,
) -> Result<Program> {
    a.validate(model)?;
    if batch == 0 {
        return Err(Error::Plan("a batch of 0 examples".into()));
    }
    let layers = model.layers();
    let mut lw = Lowering {
        model,
        batch,
        steps: Vec::new(),
        sharings: Vec::new(),
        produced: vec![None; layers.len() + 1],
        copies: HashMap::new(),
        priced,
    };
    // The client's input enters in layer 0's sharing.
    let first = a
        .input_sharing()
        .ok_or_else(|| Error::Plan("a model without layers".into()))?;
    let dst = lw.slot(first);
    let cost = if priced {
        input_steps(model, first, batch)?
    } else {
        Vec::new()
    };
    lw.push(
        Kind::Input {
            dst,
            sharing: first,
        },
        cost,
    );
    lw.produced[0] = Some(At {
        slot: dst,
        sharing: first,
        pending: false,
    });
    let mut mask = 0;
    for (i, (p, fl)) in a.layers.iter().zip(layers).enumerate() {
        let l = fl.layer();
        // A reshape moves a pending accumulator unchanged; every other layer reads
        // normalised values.
        let normalise = !l.op().is_view();
        let mut srcs = Vec::with_capacity(l.inputs().len());
        let mut pending = false;
        for (k, &v) in l.inputs().iter().enumerate() {
            let route = (k == 0).then_some(p.convert.as_slice());
            let at = lw.fetch(v, p.sharing, route, normalise, i)?;
            pending |= at.pending;
            srcs.push(at.slot);
        }
        let has_weights = p.sharing == Sharing::A && plain_op(model, i)?.is_some();
        let cost = if priced {
            op_steps_within(model, i, p.sharing, batch, mask, a.working_set())?
        } else {
            Vec::new()
        };
        let dst = lw.slot(p.sharing);
        lw.push(
            Kind::Layer {
                layer: i,
                sharing: p.sharing,
                srcs,
                dst,
                mask,
            },
            cost,
        );
        if has_weights {
            mask += 1;
        }
        lw.produced[i + 1] = Some(At {
            slot: dst,
            sharing: p.sharing,
            pending: if normalise {
                pending_value(model, i + 1)
            } else {
                pending
            },
        });
    }
    // The outputs, in the model's order: the first under the head or revealed, every
    // other one revealed, each from where its value was produced.
    for (k, &v) in model.outputs().iter().enumerate() {
        let produced = lw.produced.get(v).copied().flatten().ok_or_else(|| {
            Error::Plan(format!(
                "output {k} is value {v}, which the model does not compute"
            ))
        })?;
        if k > 0 {
            let at = lw.at_output(v, produced);
            let cost = if priced {
                reveal_steps(model, k, at.sharing, batch)?
            } else {
                Vec::new()
            };
            lw.push(
                Kind::Reveal {
                    src: at.slot,
                    pending: at.pending,
                    output: k,
                },
                cost,
            );
            continue;
        }
        let head = if priced {
            head_steps_within(
                model,
                produced.sharing,
                a.head.as_ref(),
                a.output,
                batch,
                a.working_set(),
            )?
        } else {
            Vec::new()
        };
        match (a.output, &a.head) {
            (Output::Label, Some(h)) => {
                let mut at = lw.at_output(v, produced);
                // The head's conversions, then the argmax and the reveal: the head's
                // priced parts split at the conversions.
                let n_conv = h.convert.len();
                let shape = batched(batch, &[model.classes()]);
                for (j, &c) in h.convert.iter().enumerate() {
                    let dst = lw.slot(c.endpoints().1);
                    lw.push(
                        Kind::Convert {
                            src: at.slot,
                            dst,
                            conversion: c,
                            shape: shape.clone(),
                        },
                        head.get(j).cloned().into_iter().collect(),
                    );
                    at = At {
                        slot: dst,
                        sharing: c.endpoints().1,
                        pending: at.pending,
                    };
                }
                if at.pending {
                    at = lw.shift(at);
                }
                lw.push(
                    Kind::Label {
                        src: at.slot,
                        sharing: h.sharing,
                    },
                    head.get(n_conv..)
                        .map(<[StepCost]>::to_vec)
                        .unwrap_or_default(),
                );
            }
            (Output::Logits, None) => {
                let at = lw.at_output(v, produced);
                lw.push(
                    Kind::Reveal {
                        src: at.slot,
                        pending: at.pending,
                        output: 0,
                    },
                    head,
                );
            }
            _ => return Err(Error::Plan("the head does not fit the output".into())),
        }
    }
    let mut last_read = vec![usize::MAX; lw.sharings.len()];
    for (k, s) in lw.steps.iter().enumerate() {
        for &r in s.kind.reads() {
            last_read[r] = k;
        }
    }
    Ok(Program {
        setup: if priced {
            setup_steps(model, a)?
        } else {
            Vec::new()
        },
        slots: lw.sharings.len(),
        sharings: lw.sharings,
        steps: lw.steps,
        last_read,
    })
}

impl Kind {
    /// The slots the step reads.
    pub fn reads(&self) -> &[Slot] {
        match self {
            Kind::Input { .. } => &[],
            Kind::Convert { src, .. }
            | Kind::Trunc { src, .. }
            | Kind::Shift { src, .. }
            | Kind::Label { src, .. }
            | Kind::Reveal { src, .. } => std::slice::from_ref(src),
            Kind::Layer { srcs, .. } => srcs,
        }
    }
}

/// What the plaintext interpreter of a program computes: what the client receives.
#[derive(Clone, PartialEq, Eq)]
pub struct OracleOutput<R> {
    /// The labels ([`Output::Label`]) or the argmax of the scores (the first output).
    pub labels: Vec<usize>,
    /// The first output's revealed values at scale `2^f` ([`Output::Logits`] only),
    /// batch-major: a copy of `outputs[0]`.
    pub scores: Option<Vec<R>>,
    /// Every output's revealed values at scale `2^f`, batch-major, in the model's
    /// order; `None` for the first output under [`Output::Label`] (only its label is
    /// revealed).
    pub outputs: Vec<Option<Vec<R>>>,
}

impl<R> std::fmt::Debug for OracleOutput<R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OracleOutput")
            .field("labels", &self.labels.len())
            .field("scores", &self.scores.as_ref().map(Vec::len))
            .field(
                "outputs",
                &self
                    .outputs
                    .iter()
                    .map(|o| o.as_ref().map(Vec::len))
                    .collect::<Vec<_>>(),
            )
            .finish()
    }
}

/// The plaintext fixed-point interpreter of `program` on the client's encoded input
/// `x` (`[batch, input…]` at scale `2^f`): every step in order, in the clear —
/// conversions copy, a truncation or shift is the exact `>> f` (the reference's
/// floor; the dealer truncation of a secure run adds `e ∈ {0, 1}`), every layer is
/// [`FixedModel::layer_value`], the argmax takes the first maximal signed value.
/// It is the oracle of the secure tests: on every program it equals
/// [`FixedModel::run`] (tested; every output), and a secure run whose program has no
/// dealer truncation equals it exactly.
///
/// # Errors
/// If `x` is not a batch of `batch` inputs; the reference's range errors.
pub fn oracle<R: Ring>(
    model: &FixedModel<R>,
    program: &Program,
    x: &[R],
    batch: usize,
) -> Result<OracleOutput<R>> {
    let f = model.fixed_point().frac_bits;
    let mut slots: Vec<Option<Vec<R>>> = vec![None; program.slots];
    let read = |slots: &[Option<Vec<R>>], s: Slot| -> Result<Vec<R>> {
        slots
            .get(s)
            .and_then(Clone::clone)
            .ok_or_else(|| Error::Plan(format!("slot {s} is read before it is written")))
    };
    let shift = |v: Vec<R>| -> Vec<R> { v.into_iter().map(|a| a.shr_signed(f)).collect() };
    let labels_of = |v: &[R], k: usize| -> Vec<usize> {
        v.chunks(k.max(1))
            .map(|row| {
                let mut best = 0;
                for (j, a) in row.iter().enumerate() {
                    if a.to_i64() > row[best].to_i64() {
                        best = j;
                    }
                }
                best
            })
            .collect()
    };
    let classes = model.classes();
    let mut out = OracleOutput {
        labels: Vec::new(),
        scores: None,
        outputs: vec![None; model.outputs().len()],
    };
    for step in &program.steps {
        match &step.kind {
            Kind::Input { dst, .. } => {
                let per: usize = model.layers()[0].layer().input_shape().iter().product();
                if x.len() != batch * per {
                    return Err(Error::shape(
                        "oracle input",
                        format!("{} values for a batch of {batch} inputs of {per}", x.len()),
                    ));
                }
                slots[*dst] = Some(x.to_vec());
            }
            Kind::Convert { src, dst, .. } => slots[*dst] = Some(read(&slots, *src)?),
            Kind::Trunc { src, dst, .. } | Kind::Shift { src, dst } => {
                slots[*dst] = Some(shift(read(&slots, *src)?));
            }
            Kind::Layer {
                layer, srcs, dst, ..
            } => {
                let ins = srcs
                    .iter()
                    .map(|&s| read(&slots, s))
                    .collect::<Result<Vec<_>>>()?;
                let refs: Vec<&[R]> = ins.iter().map(Vec::as_slice).collect();
                slots[*dst] = Some(model.layer_value(*layer, &refs, batch)?.0);
            }
            Kind::Label { src, .. } => out.labels = labels_of(&read(&slots, *src)?, classes),
            Kind::Reveal {
                src,
                pending,
                output,
            } => {
                let v = read(&slots, *src)?;
                let v = if *pending { shift(v) } else { v };
                let o = out.outputs.get_mut(*output).ok_or_else(|| {
                    Error::Plan(format!("a reveal of output {output}, which does not exist"))
                })?;
                *o = Some(v.clone());
                if *output == 0 {
                    out.labels = labels_of(&v, classes);
                    out.scores = Some(v);
                }
            }
        }
    }
    Ok(out)
}
