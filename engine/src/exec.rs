//! Runs an [`Assignment`] as one party: the step list of [`crate::cost`], executed.

use ndarray::{ArrayD, IxDyn};
use tessera_conversions::{A2bVariant, Converter, YShare};
use tessera_core::{BitMatrix, Phase, Ring};
use tessera_protocols::arith::{PlainWeights, TruncMode};
use tessera_protocols::gmw::{self, BShare};
use tessera_protocols::{AShare, ArithParty, RevealTo, yao};

use crate::circuits::{BoolLayer, Param, argmax_layer, shift_bits};
use crate::cost::{batched, plain_op};
use crate::program::Kind;
use crate::{Assignment, Conversion, Sharing};
use crate::{Error, Result};
use tessera_models::fixed::FixedModel;
use tessera_models::model::Scores;

/// Limits a user may set on a run, checked before anything runs from the exact
/// prices. None is needed for the implementation's sake: GMW messages are streamed in
/// frames and garbled tables through a bounded queue, so memory stays bounded whatever
/// the plan or batch; what remains is time, which the user bounds.
#[derive(Clone, Copy, Debug)]
pub struct RunOptions {
    /// The most bytes of garbled tables one Y step may stream (default: no limit).
    pub max_table_bytes: u64,
    /// Where a local run's correlations come from: the dealer (default) or OT
    /// extension between the parties.
    pub offline: tessera_protocols::runtime::local::Offline,
}

impl Default for RunOptions {
    fn default() -> Self {
        RunOptions {
            max_table_bytes: u64::MAX,
            offline: tessera_protocols::runtime::local::Offline::Dealer,
        }
    }
}

impl RunOptions {
    /// Checks every step of a run against the limits before anything runs.
    ///
    /// # Errors
    /// [`Error::Plan`] naming the first step over a limit.
    pub fn check(&self, steps: &[crate::StepCost]) -> Result<()> {
        for s in steps {
            if s.sharing == Some(Sharing::Y) && s.price.bytes_sent[0] > self.max_table_bytes {
                return Err(Error::Plan(format!(
                    "step `{}` would stream {:.1} GB from the garbler ({} AND gates), above the limit of {:.1} GB; use a smaller batch, another plan, or raise the limit",
                    s.name,
                    s.price.bytes_sent[0] as f64 / 1e9,
                    s.price.and_gates,
                    self.max_table_bytes as f64 / 1e9
                )));
            }
        }
        Ok(())
    }
}

/// What a party obtains from a run: the client (party 1) gets the labels (of the
/// model's first output), the first output's values (the scores) with
/// [`Output::Logits`](crate::Output::Logits), and every further output's values; the model owner gets nothing.
#[derive(Clone, PartialEq)]
pub struct SecureOutput<R> {
    /// The predicted label of each example (party 1 only).
    pub labels: Option<Vec<usize>>,
    /// The scores (the first output) at scale `2^f`, `[batch, classes]` (party 1 with
    /// logits only): a copy of `outputs[0]`.
    pub scores: Option<Scores<R>>,
    /// Every output of the model in its order, at scale `2^f`, `[batch, values per
    /// example]` (party 1 only; empty at party 0); `None` for the first output under
    /// [`Output::Label`](crate::Output::Label), of which only the label is revealed.
    pub outputs: Vec<Option<Scores<R>>>,
}

impl<R> std::fmt::Debug for SecureOutput<R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SecureOutput")
            .field("labels", &self.labels.as_ref().map(Vec::len))
            .field("scores", &self.scores.is_some())
            .field(
                "outputs",
                &self.outputs.iter().map(Option::is_some).collect::<Vec<_>>(),
            )
            .finish()
    }
}

impl<R: Ring> SecureOutput<R> {
    /// The outputs of several queries, one after another: the labels, the scores and
    /// every output of `parts[0]`'s examples, then of `parts[1]`'s, and so on.
    ///
    /// # Errors
    /// [`Error::Plan`] if there is no part, or the parts do not hold the same outputs
    /// (one received an output another did not, or of another width).
    pub fn concat(parts: Vec<SecureOutput<R>>) -> Result<SecureOutput<R>> {
        fn join<R: Ring>(a: &mut Option<Scores<R>>, b: Option<Scores<R>>) -> Result<()> {
            match (a, b) {
                (Some(x), Some(y)) if x.classes == y.classes => {
                    x.batch += y.batch;
                    x.values.extend(y.values);
                    Ok(())
                }
                (None, None) => Ok(()),
                _ => Err(Error::Plan(
                    "queries of one run received different outputs".into(),
                )),
            }
        }
        let mut parts = parts.into_iter();
        let mut all = parts
            .next()
            .ok_or_else(|| Error::Plan("no query to join".into()))?;
        for p in parts {
            match (&mut all.labels, p.labels) {
                (Some(a), Some(b)) => a.extend(b),
                (None, None) => {}
                _ => {
                    return Err(Error::Plan(
                        "queries of one run received different outputs".into(),
                    ));
                }
            }
            join(&mut all.scores, p.scores)?;
            if all.outputs.len() != p.outputs.len() {
                return Err(Error::Plan(
                    "queries of one run received different outputs".into(),
                ));
            }
            for (a, b) in all.outputs.iter_mut().zip(p.outputs) {
                join(a, b)?;
            }
        }
        Ok(all)
    }
}

/// A secret-shared activation as this party holds it.
#[derive(Clone)]
pub(crate) enum Val<R: Ring> {
    A(AShare<R>),
    B(BShare),
    Y(YShare),
}

impl<R: Ring> Val<R> {
    fn sharing(&self) -> Sharing {
        match self {
            Val::A(_) => Sharing::A,
            Val::B(_) => Sharing::B,
            Val::Y(_) => Sharing::Y,
        }
    }

    fn select_bits(self, bits: &[usize]) -> Result<Self> {
        Ok(match self {
            Val::B(b) => Val::B(b.select_bits(bits)?),
            Val::Y(YShare::Garbler(z)) => Val::Y(YShare::Garbler(z.select_bits(bits)?)),
            Val::Y(YShare::Evaluator(a)) => Val::Y(YShare::Evaluator(a.select_bits(bits)?)),
            a => a,
        })
    }

    /// `k·ell`-bit values per instance as `k` instances of `ell` bits (local).
    fn ungroup(&self, ell: usize) -> Result<Self> {
        Ok(match self {
            Val::B(b) => Val::B(b.ungroup(ell)?),
            Val::Y(YShare::Garbler(z)) => Val::Y(YShare::Garbler(z.ungroup(ell)?)),
            Val::Y(YShare::Evaluator(a)) => Val::Y(YShare::Evaluator(a.ungroup(ell)?)),
            Val::A(_) => return Err(Error::Plan("ungrouping an A value".into())),
        })
    }

    fn regroup(&self, ell: usize, slots: usize, idx: &[Option<usize>]) -> Result<Self> {
        Ok(match self {
            Val::B(b) => Val::B(b.regroup(ell, slots, idx)?),
            Val::Y(YShare::Garbler(z)) => Val::Y(YShare::Garbler(z.regroup(ell, slots, idx)?)),
            Val::Y(YShare::Evaluator(a)) => Val::Y(YShare::Evaluator(a.regroup(ell, slots, idx)?)),
            Val::A(_) => return Err(Error::Plan("a circuit input in the A sharing".into())),
        })
    }
}

/// A tensor of `shape` holding `v`.
pub(crate) fn array<R: Ring>(shape: &[usize], v: Vec<R>) -> Result<ArrayD<R>> {
    ArrayD::from_shape_vec(IxDyn(shape), v)
        .map_err(|e| Error::shape("secure tensor", e.to_string()))
}

fn values_of<R: Ring>(xs: &[R]) -> Vec<u64> {
    xs.iter().map(|v| v.to_u64()).collect()
}

/// One party's state during a run.
pub(crate) struct Run<'a, R: Ring> {
    pub(crate) p: &'a mut ArithParty<R>,
    pub(crate) conv: &'a mut Converter,
    pub(crate) model: &'a FixedModel<R>,
    pub(crate) batch: usize,
    pub(crate) opts: RunOptions,
    /// The assignment's GMW working set per party ([`Assignment::working_set`]).
    pub(crate) working_set: u64,
}

impl<R: Ring> Run<'_, R> {
    fn party(&self) -> usize {
        self.p.party()
    }

    fn ell(&self) -> usize {
        R::BITS as usize
    }

    /// The arithmetic shift `>> f` of a pending value in B or Y (wiring).
    fn shift(&self, v: Val<R>) -> Result<Val<R>> {
        v.select_bits(&shift_bits(
            self.ell(),
            self.model.fixed_point().frac_bits as usize,
        ))
    }

    pub(crate) async fn convert(
        &mut self,
        v: Val<R>,
        c: Conversion,
        shape: &[usize],
    ) -> Result<Val<R>> {
        let (p, conv) = (&mut *self.p, &mut *self.conv);
        Ok(match (c, v) {
            (Conversion::A2Y, Val::A(x)) => Val::Y(conv.a2y(p, &x).await?),
            (Conversion::Y2A, Val::Y(y)) => Val::A(conv.y2a(p, &y, shape).await?),
            (Conversion::Y2B, Val::Y(y)) => Val::B(conv.y2b(&y)),
            (Conversion::B2Y, Val::B(b)) => Val::Y(conv.b2y(p, &b).await?),
            (Conversion::A2BGmw, Val::A(x)) => Val::B(conv.a2b(p, &x, A2bVariant::Gmw).await?),
            (Conversion::B2A(var), Val::B(b)) => Val::A(conv.b2a(p, &b, shape, var).await?),
            (c, v) => {
                return Err(Error::Plan(format!(
                    "conversion {} applied to a value in {:?}",
                    c.name(),
                    v.sharing()
                )));
            }
        })
    }

    /// Party `owner`'s `ell`-bit values (`Some` at the owner) entering `sharing`.
    pub(crate) async fn input_bool(
        &mut self,
        sharing: Sharing,
        owner: usize,
        values: Option<&[R]>,
        n: usize,
    ) -> Result<Val<R>> {
        let ell = self.ell();
        let bits = values.map(|v| BitMatrix::from_values(&values_of(v), ell));
        let (p, conv) = (&mut *self.p, &mut *self.conv);
        Ok(match sharing {
            // The owner's value itself is its XOR share and the other party holds
            // zeros: a valid sharing that costs no message (the other party's view is
            // unchanged, and every later opening is masked by fresh correlations).
            Sharing::B => Val::B(match bits {
                Some(m) if self.party() == owner => BShare::from_matrix(m),
                _ => BShare::zeros(ell, n),
            }),
            Sharing::Y => Val::Y(conv.input_y(p, owner, bits.as_ref(), ell, n).await?),
            Sharing::A => return Err(Error::Plan("a Boolean input in the A sharing".into())),
        })
    }

    async fn eval_bool(
        &mut self,
        sharing: Sharing,
        bl: &BoolLayer,
        inputs: &[&Val<R>],
    ) -> Result<Val<R>> {
        let n = bl.per_example * self.batch;
        let (p, conv) = (&mut *self.p, &mut *self.conv);
        let mut out = match sharing {
            Sharing::B => {
                let ins = inputs
                    .iter()
                    .map(|v| match v {
                        Val::B(b) => Ok(b),
                        v => Err(Error::Plan(format!(
                            "a {:?} value as a GMW input",
                            v.sharing()
                        ))),
                    })
                    .collect::<Result<Vec<_>>>()?;
                let chunk = gmw::chunk_instances(&bl.program, n, self.working_set);
                conv.eval_b_program_chunked(p, &bl.program, &ins, chunk)
                    .await?
                    .into_iter()
                    .map(Val::B)
                    .collect::<Vec<_>>()
            }
            _ => {
                let bytes = yao::table_bytes(&bl.circuit, n);
                if bytes > self.opts.max_table_bytes {
                    return Err(Error::Plan(format!(
                        "a Y step would stream {:.1} GB of garbled tables ({} AND gates x {n} instances), above the limit of {:.1} GB; use a smaller batch or another sharing",
                        bytes as f64 / 1e9,
                        bl.cost.and_gates,
                        self.opts.max_table_bytes as f64 / 1e9
                    )));
                }
                let ins = inputs
                    .iter()
                    .map(|v| match v {
                        Val::Y(y) => Ok(y),
                        v => Err(Error::Plan(format!(
                            "a {:?} value as a Yao input",
                            v.sharing()
                        ))),
                    })
                    .collect::<Result<Vec<_>>>()?;
                conv.eval_y(p, &bl.program, &ins)
                    .await?
                    .into_iter()
                    .map(Val::Y)
                    .collect()
            }
        };
        let v = out
            .pop()
            .ok_or_else(|| Error::Plan("a circuit without output".into()))?;
        if bl.words == 1 {
            return Ok(v);
        }
        // A group's values, one instance each (local in both sharings).
        let ell = self.ell();
        v.ungroup(ell)
    }

    /// A layer (or the head) in B/Y on its inputs `xs` (already in `sharing`, not
    /// pending; with their elements per example): its stages in order, the first on
    /// the inputs, each next one on the previous one's output. Party 0 passes its
    /// parameters.
    pub(crate) async fn bool_step(
        &mut self,
        sharing: Sharing,
        stages: &[BoolLayer],
        xs: Vec<(Val<R>, usize)>,
        params: Option<(&[R], Option<&[R]>)>,
    ) -> Result<Val<R>> {
        let mut xs = xs;
        for bl in stages {
            let y = self.bool_stage(sharing, bl, xs, params).await?;
            xs = vec![(y, bl.per_example * bl.words)];
        }
        xs.pop()
            .map(|(v, _)| v)
            .ok_or_else(|| Error::Plan("a B/Y layer without inputs".into()))
    }

    /// One stage: gathers its inputs, enters party 0's parameters, evaluates.
    pub(crate) async fn bool_stage(
        &mut self,
        sharing: Sharing,
        bl: &BoolLayer,
        xs: Vec<(Val<R>, usize)>,
        params: Option<(&[R], Option<&[R]>)>,
    ) -> Result<Val<R>> {
        let ell = self.ell();
        if xs.len() != bl.xs.len() {
            return Err(Error::Plan(format!(
                "a circuit of {} inputs given {}",
                bl.xs.len(),
                xs.len()
            )));
        }
        let mut ins = Vec::with_capacity(xs.len() + bl.params.len());
        for ((x, per_input), g) in xs.into_iter().zip(&bl.xs) {
            ins.push(match g.batch_indices(self.batch, per_input) {
                Some(idx) => x.regroup(ell, g.slots, &idx)?,
                None => x,
            });
        }
        let owner = self.party() == 0;
        for pi in &bl.params {
            let mine = match (pi.param, params) {
                (Param::Weights, Some((w, _))) if owner => Some(w),
                (Param::Bias, Some((_, b))) if owner => b,
                _ => None,
            };
            let val = self.input_bool(sharing, 0, mine, pi.values).await?;
            ins.push(val.regroup(ell, pi.slots, &pi.batch_indices(self.batch))?);
        }
        let refs: Vec<&Val<R>> = ins.iter().collect();
        self.eval_bool(sharing, bl, &refs).await
    }

    /// Layer `i` in A on the shares of its inputs (its operator's A step, see
    /// [`crate::ops`]).
    async fn a_layer(
        &mut self,
        i: usize,
        xs: Vec<AShare<R>>,
        plain: Option<&PlainWeights<R>>,
    ) -> Result<AShare<R>> {
        let r = crate::ops::ARun {
            p: &mut *self.p,
            fl: &self.model.layers()[i],
            batch: self.batch,
            plain,
        };
        crate::ops::run_a(r, xs).await
    }
}

/// A party's per-session state: the plaintext weights of the A dense/conv layers
/// after set-up. Party 1's side holds only masked weights. Never printed.
pub struct Prepared<R: Ring> {
    plain: Vec<Option<PlainWeights<R>>>,
    /// The circuits (stages, compiled) of every layer that runs in B or Y, built once
    /// from the public architecture so that the online phase only evaluates; empty
    /// for a layer in A or a reshape.
    circuits: Vec<Vec<BoolLayer>>,
    /// The argmax circuit, for the label output.
    head: Option<BoolLayer>,
}

impl<R: Ring> std::fmt::Debug for Prepared<R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "Prepared({} weight set-ups)",
            self.plain.iter().flatten().count()
        )
    }
}

/// The set-up phase of a session: party 0 sends each A dense/conv layer's masked
/// weight once, in layer order (see [`tessera_protocols::arith::plain`]).
///
/// # Errors
/// [`Error::Plan`] if the assignment does not fit the model; transport and
/// preprocessing errors.
pub async fn setup_party<R: Ring>(
    p: &mut ArithParty<R>,
    model: &FixedModel<R>,
    assignment: &Assignment,
) -> Result<Prepared<R>> {
    assignment.validate(model)?;
    let party = p.party();
    // Set-up: the plaintext weights of the A dense/conv layers, in layer order.
    let mut plain: Vec<Option<PlainWeights<R>>> = Vec::with_capacity(model.layers().len());
    let mut mask = 0;
    for (i, pl) in assignment.layers.iter().enumerate() {
        let setup = match (pl.sharing, plain_op(model, i)?) {
            (Sharing::A, Some((_, wshape))) => {
                let fl = &model.layers()[i];
                let w = match (party, fl.weight()) {
                    (0, Some(w)) => Some(array(&wshape, crate::ops::plain_layout(fl, w))?),
                    _ => None,
                };
                let pw = p.setup_plain_weights(mask, &wshape, w).await?;
                mask += 1;
                Some(pw)
            }
            _ => None,
        };
        plain.push(setup);
    }

    // The circuits of the B/Y layers and of the argmax, built from the architecture
    // alone: part of the once-per-model set-up, not of the online phase.
    let f = model.fixed_point().frac_bits;
    let mut circuits = Vec::with_capacity(assignment.layers.len());
    for (fl, pl) in model.layers().iter().zip(&assignment.layers) {
        circuits.push(match pl.sharing {
            Sharing::A => Vec::new(),
            s => crate::ops::circuits(fl, f, s == Sharing::B)?,
        });
    }
    let head = match &assignment.head {
        Some(h) => Some(argmax_layer(
            model.classes(),
            R::BITS as usize,
            h.sharing == Sharing::B,
        )?),
        None => None,
    };
    Ok(Prepared {
        plain,
        circuits,
        head,
    })
}

/// The online phase: runs `assignment` on a batch of `batch` examples as this party, on the parties'
/// channel and correlation provider `p` and the conversion state `conv` (both made
/// for this party). Party 1 passes its encoded input (`[batch, input…]` at scale
/// `2^f`, see [`FixedModel::encode_input`]); party 0 passes `None` and is the only
/// one whose code reads the weights of `model` (party 1 needs only the architecture).
///
/// The provider must hold [`crate::demand`] of the same assignment and batch.
///
/// # Errors
/// [`Error::Plan`] if the assignment does not fit the model or a step exceeds the
/// limits in `opts`; transport, preprocessing and protocol errors.
#[allow(clippy::too_many_arguments)]
pub async fn infer_party<R: Ring>(
    p: &mut ArithParty<R>,
    conv: &mut Converter,
    model: &FixedModel<R>,
    assignment: &Assignment,
    prepared: &Prepared<R>,
    input: Option<&[R]>,
    batch: usize,
    opts: RunOptions,
) -> Result<SecureOutput<R>> {
    assignment.validate(model)?;
    let party = p.party();
    let per_input: usize = model
        .layers()
        .first()
        .map_or(0, |l| l.layer().input_shape().iter().product());
    match (party, input) {
        (1, Some(x)) if x.len() == batch * per_input && batch > 0 => {}
        (1, Some(x)) => {
            return Err(Error::shape(
                "secure input",
                format!(
                    "{} values for a batch of {batch} inputs of {per_input}",
                    x.len()
                ),
            ));
        }
        (1, None) => return Err(Error::Plan("the client (party 1) has no input".into())),
        (_, Some(_)) => {
            return Err(Error::Plan(
                "only the client (party 1) passes an input".into(),
            ));
        }
        _ => {}
    }
    let mut run = Run {
        p,
        conv,
        model,
        batch,
        opts,
        working_set: assignment.working_set(),
    };
    let f = model.fixed_point().frac_bits;
    let program = crate::program::lower_unpriced(model, assignment, batch)?;
    let mut slots: Vec<Option<Val<R>>> = (0..program.slots).map(|_| None).collect();
    // A slot's value is moved out at its last read and cloned before (bounded
    // memory: nothing outlives its last reader).
    fn take<R: Ring>(slots: &mut [Option<Val<R>>], s: usize, last: bool) -> Result<Val<R>> {
        let v = slots
            .get_mut(s)
            .ok_or_else(|| Error::Plan(format!("slot {s} does not exist")))?;
        match (last, v) {
            (true, v) => v.take(),
            (false, v) => v.clone(),
        }
        .ok_or_else(|| Error::Plan(format!("slot {s} is read before it is written")))
    }
    let mut out = SecureOutput {
        labels: None,
        scores: None,
        outputs: match party {
            1 => vec![None; model.outputs().len()],
            _ => Vec::new(),
        },
    };
    // Each step's wall time and the part of it spent waiting for the other party, at
    // debug level (`RUST_LOG=tessera::step=debug`): the measured side of the planner's
    // per-step prediction (`tessera infer --json`'s `predicted_steps` lists the run's
    // steps priced, in order: the set-up steps first, free wiring such as shifts and
    // reshapes not listed, the argmax and its reveal as two).
    let traced = tracing::enabled!(target: "tessera::step", tracing::Level::DEBUG);
    for (k, step) in program.steps.iter().enumerate() {
        let started = traced.then(|| {
            (
                std::time::Instant::now(),
                run.p.channel().waited(Phase::Online),
            )
        });
        let last = |s: usize| program.last_read.get(s) == Some(&k);
        match &step.kind {
            Kind::Input { dst, sharing } => {
                let in_shape = batched(batch, model.layers()[0].layer().input_shape());
                slots[*dst] = Some(match sharing {
                    // The client's input itself is its additive share and party 0
                    // holds zeros: a valid sharing with no message (see `input_bool`).
                    Sharing::A => Val::A(match input {
                        Some(x) if party == 1 => AShare::from_array(array(&in_shape, x.to_vec())?),
                        _ => AShare::from_array(ArrayD::from_elem(IxDyn(&in_shape), R::zero())),
                    }),
                    &s => run.input_bool(s, 1, input, batch * per_input).await?,
                });
            }
            Kind::Convert {
                src,
                dst,
                conversion,
                shape,
            } => {
                let v = take(&mut slots, *src, last(*src))?;
                slots[*dst] = Some(run.convert(v, *conversion, shape).await?);
            }
            Kind::Trunc { src, dst, shape } => {
                let Val::A(x) = take(&mut slots, *src, last(*src))? else {
                    return Err(Error::Plan("a dealer truncation of a B/Y value".into()));
                };
                let x = x.reshape(shape)?;
                slots[*dst] = Some(Val::A(run.p.trunc(&x, f, TruncMode::Dealer).await?));
            }
            Kind::Shift { src, dst } => {
                let v = take(&mut slots, *src, last(*src))?;
                slots[*dst] = Some(run.shift(v)?);
            }
            Kind::Layer {
                layer,
                sharing,
                srcs,
                dst,
                ..
            } => {
                let fl = &model.layers()[*layer];
                let l = fl.layer();
                // A slot read twice by this step (x − x) moves at its last use.
                let ins = srcs
                    .iter()
                    .enumerate()
                    .map(|(j, &s)| take(&mut slots, s, last(s) && !srcs[j + 1..].contains(&s)))
                    .collect::<Result<Vec<_>>>()?;
                let y = match sharing {
                    Sharing::A => {
                        let xs = ins
                            .into_iter()
                            .map(|v| match v {
                                Val::A(x) => Ok(x),
                                v => Err(Error::Plan(format!(
                                    "layer {} in A given a {:?} value",
                                    l.name(),
                                    v.sharing()
                                ))),
                            })
                            .collect::<Result<Vec<_>>>()?;
                        let plain = prepared.plain.get(*layer).and_then(Option::as_ref);
                        Val::A(run.a_layer(*layer, xs, plain).await?)
                    }
                    &s => match prepared.circuits.get(*layer).filter(|st| !st.is_empty()) {
                        Some(bl) => {
                            let params = match (fl.weight(), party) {
                                (Some(w), 0) => Some((w, fl.bias())),
                                _ => None,
                            };
                            let xs = ins
                                .into_iter()
                                .zip(l.input_shapes())
                                .map(|(v, sh)| (v, sh.iter().product()))
                                .collect();
                            run.bool_step(s, bl, xs, params).await?
                        }
                        // A reshape: the same elements in order.
                        None => ins
                            .into_iter()
                            .next()
                            .ok_or_else(|| Error::Plan(format!("layer {}: no input", l.name())))?,
                    },
                };
                slots[*dst] = Some(y);
            }
            Kind::Label { src, sharing } => {
                let classes = model.classes();
                let bl = prepared
                    .head
                    .as_ref()
                    .ok_or_else(|| Error::Plan("the argmax circuit was not set up".into()))?;
                let v = take(&mut slots, *src, last(*src))?;
                let idx = run
                    .bool_step(*sharing, std::slice::from_ref(bl), vec![(v, classes)], None)
                    .await?;
                let bits = reveal_bool(&mut run, &idx, RevealTo::Party1).await?;
                out.labels = bits.map(|m| m.to_values().into_iter().map(|x| x as usize).collect());
            }
            Kind::Reveal {
                src,
                pending,
                output,
            } => {
                let classes = model.output_len(*output);
                let values: Option<Vec<R>> = match take(&mut slots, *src, last(*src))? {
                    Val::A(x) => {
                        let x = x.reshape(&[batch, classes])?;
                        run.p.reveal_to(&x, 1).await?.map(|a| {
                            a.iter()
                                .map(|&s| if *pending { s.shr_signed(f) } else { s })
                                .collect()
                        })
                    }
                    b => reveal_bool(&mut run, &b, RevealTo::Party1)
                        .await?
                        .map(|m| m.to_values().into_iter().map(R::from_u64).collect()),
                };
                let Some(values) = values else {
                    continue;
                };
                if values.len() != batch * classes {
                    return Err(Error::shape(
                        "revealed output",
                        format!(
                            "{} values for output {output} of {batch} × {classes}",
                            values.len()
                        ),
                    ));
                }
                let scores = Scores {
                    batch,
                    classes,
                    values,
                };
                if *output == 0 {
                    out.labels = Some(scores.labels_by(|a, b| a.to_i64() > b.to_i64()));
                    out.scores = Some(scores.clone());
                }
                let slot = out.outputs.get_mut(*output).ok_or_else(|| {
                    Error::Plan(format!("a reveal of output {output}, which does not exist"))
                })?;
                *slot = Some(scores);
            }
        }
        if let Some((t, w)) = started {
            let waited = run.p.channel().waited(Phase::Online).saturating_sub(w);
            tracing::debug!(
                target: "tessera::step",
                party,
                step = k,
                kind = step_label(&step.kind, model),
                us = t.elapsed().as_micros() as u64,
                waiting_us = waited.as_micros() as u64,
            );
        }
    }
    Ok(out)
}

/// A step's kind in a few words, for the per-step trace.
fn step_label<R: Ring>(kind: &Kind, model: &FixedModel<R>) -> String {
    match kind {
        Kind::Input { sharing, .. } => format!("input {sharing:?}"),
        Kind::Convert { conversion, .. } => format!("convert {conversion:?}"),
        Kind::Trunc { .. } => "trunc".into(),
        Kind::Shift { .. } => "shift".into(),
        Kind::Layer { layer, sharing, .. } => format!(
            "layer {} {sharing:?}",
            model.layers().get(*layer).map_or("?", |l| l.layer().name())
        ),
        other => format!("{other:?}").chars().take(40).collect(),
    }
}

/// [`setup_party`] then [`infer_party`]: a whole session's work for one party.
///
/// # Errors
/// As the two.
pub async fn run_party<R: Ring>(
    p: &mut ArithParty<R>,
    conv: &mut Converter,
    model: &FixedModel<R>,
    assignment: &Assignment,
    input: Option<&[R]>,
    batch: usize,
    opts: RunOptions,
) -> Result<SecureOutput<R>> {
    let prepared = setup_party(p, model, assignment).await?;
    infer_party(p, conv, model, assignment, &prepared, input, batch, opts).await
}

async fn reveal_bool<R: Ring>(
    run: &mut Run<'_, R>,
    v: &Val<R>,
    to: RevealTo,
) -> Result<Option<BitMatrix>> {
    let (p, conv) = (&mut *run.p, &mut *run.conv);
    Ok(match v {
        Val::B(b) => conv.reveal_b_to(p, b, to).await?,
        Val::Y(y) => conv.reveal_y_to(p, y, to).await?,
        Val::A(_) => return Err(Error::Plan("a Boolean reveal of an A value".into())),
    })
}
