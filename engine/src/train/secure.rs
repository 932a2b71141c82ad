//! Secure training: [`TrainProgram`]'s steps on additive shares, run by both parties
//! in lock step (each interactive step one exchange or one circuit evaluation for
//! the whole batch), and [`TrainingJob`], the session runtime's job (handshake →
//! offline source → online) for `epochs` passes over a secret-shared data set.
//!
//! # Who holds what
//! Each party passes its *shares* of the examples, of their one-hot targets and of
//! the initial parameters ([`TrainInput`]). A client that outsources its data passes
//! the values themselves and the other party zeros (a valid sharing: the other
//! party's view of every opened value is masked by the dealer's correlations); two
//! data holders (a horizontally partitioned set) each pass their own examples and
//! zeros for the other's. The initial parameters are a public seeded draw
//! ([`init_params`]) held by party 0. At the end of every epoch the parameters are
//! opened to the parties named in [`TrainingJob::reveal_to`] (none: they stay shared
//! and each party gets its share).

use std::sync::Arc;
use std::time::{Duration, Instant};

use ndarray::Axis;
use sha2::{Digest, Sha256};
use tessera_conversions::Converter;
use tessera_core::{ConfigSummary, Metering, Ring};
use tessera_models::fixed::FixedModel;
use tessera_protocols::arith::TruncMode;
use tessera_protocols::runtime::Job;
use tessera_protocols::runtime::local::LocalRun;
use tessera_protocols::{AShare, ArithParty, Demand};

use super::{R, Slot, TStep, TrainProgram, drelu_layer};
use crate::circuits::{BoolLayer, argmax_layer};
use crate::exec::{Run, Val};
use crate::{B2aVariant, Conversion, RunOptions, Sharing, StepCost, default_route};
use crate::{Error, Result};

/// The circuits one iteration evaluates, built once per run from the public spec.
pub struct Circuits {
    head: FixedModel<R>,
    /// The head's stages in B and in Y.
    head_b: Vec<BoolLayer>,
    head_y: Vec<BoolLayer>,
    drelu_b: BoolLayer,
    drelu_y: BoolLayer,
    /// The argmax of the labels, in B and in Y.
    argmax_b: BoolLayer,
    argmax_y: BoolLayer,
}

impl std::fmt::Debug for Circuits {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Circuits(..)")
    }
}

impl Circuits {
    /// A run of this party's circuits on `batch` instances.
    fn run<'a>(
        &'a self,
        p: &'a mut ArithParty<R>,
        conv: &'a mut Converter,
        batch: usize,
    ) -> Run<'a, R> {
        Run {
            p,
            conv,
            model: &self.head,
            batch,
            opts: RunOptions::default(),
            working_set: crate::DEFAULT_WORKING_SET,
        }
    }

    /// The circuits of `prog`.
    ///
    /// # Errors
    /// Circuit errors (never for a lowered program).
    pub fn new(prog: &TrainProgram) -> Result<Self> {
        let head = prog.spec.head_model()?;
        let f = prog.spec.frac_bits;
        let fl = &head.layers()[0];
        let ell = <R as Ring>::BITS as usize;
        Ok(Circuits {
            head_b: crate::ops::circuits(fl, f, true)?,
            head_y: crate::ops::circuits(fl, f, false)?,
            drelu_b: drelu_layer(Sharing::B)?,
            drelu_y: drelu_layer(Sharing::Y)?,
            argmax_b: argmax_layer(prog.spec.classes(), ell, true)?,
            argmax_y: argmax_layer(prog.spec.classes(), ell, false)?,
            head,
        })
    }
}

fn shaped(shape: &[usize], v: Vec<R>) -> Result<AShare<R>> {
    Ok(AShare::from_array(crate::exec::array(shape, v)?))
}

fn flat(x: &AShare<R>) -> Vec<R> {
    x.array().iter().copied().collect()
}

fn not_a(what: &str) -> Error {
    Error::Plan(format!("{what}: expected an A value"))
}

/// Runs one iteration of `prog` on this party's shares: `state` (the parameters then
/// their velocities, [`TrainProgram::state`]) updated in place,
/// `x` (`[B, in]`) and `y` (`[B, C]`) the batch.
///
/// # Errors
/// Shape, preprocessing, protocol and transport errors.
pub async fn iteration(
    p: &mut ArithParty<R>,
    conv: &mut Converter,
    prog: &TrainProgram,
    cir: &Circuits,
    state: &mut [AShare<R>],
    x: AShare<R>,
    y: AShare<R>,
) -> Result<()> {
    let (layout, mut slots) = load(prog, state, x)?;
    let (bsz, c) = (prog.spec.batch, prog.spec.classes());
    slots[prog.y] = Some(y.reshape(&[bsz, c])?);
    execute(p, conv, prog, cir, &mut slots).await?;
    for ((slot, _), v) in layout.iter().zip(state.iter_mut()) {
        *v = get(&slots, *slot)?;
    }
    Ok(())
}

/// This party's shares of the labels an inference program
/// ([`TrainProgram::inference`]) computes from the shared parameters `params` for
/// the shared batch `x` (`[B, in]`): `[B]` integers.
///
/// # Errors
/// A program without labels; shape, preprocessing, protocol and transport errors.
pub async fn labels(
    p: &mut ArithParty<R>,
    conv: &mut Converter,
    prog: &TrainProgram,
    cir: &Circuits,
    params: &[AShare<R>],
    x: AShare<R>,
) -> Result<AShare<R>> {
    let out = prog
        .labels
        .ok_or_else(|| Error::Plan("a training program computes no labels".into()))?;
    let (_, mut slots) = load(prog, params, x)?;
    execute(p, conv, prog, cir, &mut slots).await?;
    get(&slots, out)
}

type Slots = Vec<Option<AShare<R>>>;

/// The state's slots and shapes.
type Layout = Vec<(Slot, Vec<usize>)>;

/// The slots of `prog` with the state and the batch `x` in place.
fn load(prog: &TrainProgram, state: &[AShare<R>], x: AShare<R>) -> Result<(Layout, Slots)> {
    let layout = prog.state_of(state.len())?;
    let mut slots: Slots = vec![None; prog.slots];
    for ((slot, shape), v) in layout.iter().zip(state.iter()) {
        slots[*slot] = Some(v.reshape(shape)?);
    }
    slots[prog.x] = Some(x.reshape(&[prog.spec.batch, prog.spec.inputs()])?);
    Ok((layout, slots))
}

fn get(slots: &[Option<AShare<R>>], s: Slot) -> Result<AShare<R>> {
    slots
        .get(s)
        .and_then(Clone::clone)
        .ok_or_else(|| Error::Plan(format!("training slot {s} read before written")))
}

/// `v` (of `shape`) converted from `from` to `to` along the default route.
async fn route(
    run: &mut Run<'_, R>,
    mut v: Val<R>,
    from: Sharing,
    to: Sharing,
    shape: &[usize],
) -> Result<Val<R>> {
    for c in default_route(from, to) {
        v = run.convert(v, c, shape).await?;
    }
    Ok(v)
}

/// Runs `prog`'s steps on this party's shares in `slots`, in lock step with the
/// other party.
async fn execute(
    p: &mut ArithParty<R>,
    conv: &mut Converter,
    prog: &TrainProgram,
    cir: &Circuits,
    slots: &mut Slots,
) -> Result<()> {
    let c = prog.spec.classes();
    let party = p.party();
    for st in &prog.steps {
        match st {
            TStep::MatMul {
                a: (a, ta),
                b: (b, tb),
                dst,
                mkn: [m, k, n],
                ..
            } => {
                let orient = |v: AShare<R>, t: bool, r: usize, c: usize| -> Result<AShare<R>> {
                    if t {
                        let arr = v.reshape(&[c, r])?.into_array().reversed_axes();
                        Ok(AShare::from_array(arr.as_standard_layout().into_owned()))
                    } else {
                        Ok(v.reshape(&[r, c])?)
                    }
                };
                let av = orient(get(slots, *a)?, *ta, *m, *k)?;
                let bv = orient(get(slots, *b)?, *tb, *k, *n)?;
                slots[*dst] = Some(p.matmul(&av, &bv).await?);
            }
            TStep::Trunc { pairs, bits, .. } => {
                let mut all = Vec::new();
                let mut shapes = Vec::new();
                for &(s, _, _) in pairs {
                    let v = get(slots, s)?;
                    shapes.push(v.shape().to_vec());
                    all.extend(flat(&v));
                }
                let n = all.len();
                let t = p
                    .trunc(&shaped(&[n], all)?, *bits, TruncMode::Dealer)
                    .await?;
                let t = flat(&t);
                let mut at = 0;
                for (&(_, d, _), shape) in pairs.iter().zip(shapes) {
                    let len: usize = shape.iter().product();
                    let part = t
                        .get(at..at + len)
                        .ok_or_else(|| Error::Plan("a truncation of the wrong size".into()))?;
                    slots[d] = Some(shaped(&shape, part.to_vec())?);
                    at += len;
                }
            }
            TStep::AddBias {
                src,
                bias,
                dst,
                rows,
            } => {
                let (v, b) = (get(slots, *src)?, flat(&get(slots, *bias)?));
                let full: Vec<R> = (0..*rows).flat_map(|_| b.iter().copied()).collect();
                let shape = v.shape().to_vec();
                slots[*dst] = Some(v.add(&shaped(&shape, full)?)?);
            }
            TStep::Drelu {
                src,
                dst,
                n,
                sharing,
                ..
            } => {
                let v = flat(&get(slots, *src)?);
                let bl = match sharing {
                    Sharing::B => &cir.drelu_b,
                    _ => &cir.drelu_y,
                };
                let mut run = cir.run(p, conv, *n);
                let mine = |owner: usize| (owner == party).then_some(v.as_slice());
                let s0 = run.input_bool(*sharing, 0, mine(0), *n).await?;
                let s1 = run.input_bool(*sharing, 1, mine(1), *n).await?;
                let mut bit = run
                    .bool_stage(*sharing, bl, vec![(s0, 1), (s1, 1)], None)
                    .await?;
                if let Val::Y(_) = bit {
                    bit = run.convert(bit, Conversion::Y2B, &[*n]).await?;
                }
                let Val::B(b) = bit else {
                    return Err(Error::Plan("a comparison without a B result".into()));
                };
                let a = conv.b2a(p, &b, &[*n], B2aVariant::DaBits).await?;
                slots[*dst] = Some(a);
            }
            TStep::MulBit {
                src, bit, dst, n, ..
            } => {
                let v = get(slots, *src)?;
                let shape = v.shape().to_vec();
                let b = get(slots, *bit)?.reshape(&[*n])?;
                let out = p.mul(&v.reshape(&[*n])?, &b).await?;
                slots[*dst] = Some(out.reshape(&shape)?);
            }
            TStep::Head {
                src,
                dst,
                rows,
                sharing,
            } => {
                let stages = match sharing {
                    Sharing::B => &cir.head_b,
                    _ => &cir.head_y,
                };
                let mut run = cir.run(p, conv, *rows);
                let shape = [*rows, c];
                let v = route(
                    &mut run,
                    Val::A(get(slots, *src)?),
                    Sharing::A,
                    *sharing,
                    &shape,
                )
                .await?;
                let v = run.bool_step(*sharing, stages, vec![(v, c)], None).await?;
                let v = route(&mut run, v, *sharing, Sharing::A, &shape).await?;
                let Val::A(out) = v else {
                    return Err(not_a("the output activation"));
                };
                slots[*dst] = Some(out.reshape(&shape)?);
            }
            TStep::Label {
                src,
                dst,
                rows,
                sharing,
            } => {
                let argmax = match sharing {
                    Sharing::B => &cir.argmax_b,
                    _ => &cir.argmax_y,
                };
                let mut run = cir.run(p, conv, *rows);
                let shape = [*rows, c];
                let v = Val::A(get(slots, *src)?.reshape(&shape)?);
                let v = route(&mut run, v, Sharing::A, *sharing, &shape).await?;
                let mut idx = run
                    .bool_step(*sharing, std::slice::from_ref(argmax), vec![(v, c)], None)
                    .await?;
                if let Val::Y(_) = idx {
                    idx = run.convert(idx, Conversion::Y2B, &[*rows]).await?;
                }
                let Val::B(b) = idx else {
                    return Err(Error::Plan("an argmax without a B result".into()));
                };
                slots[*dst] = Some(conv.b2a(p, &b, &[*rows], B2aVariant::DaBits).await?);
            }
            TStep::Im2Col { src, dst, .. }
            | TStep::Col2Im { src, dst, .. }
            | TStep::SumPool { src, dst, .. }
            | TStep::Upsample { src, dst, .. }
            | TStep::Gather { src, dst, .. } => {
                let out = st.reindex(&flat(&get(slots, *src)?))?;
                let n = out.len();
                slots[*dst] = Some(shaped(&[n], out)?);
            }
            TStep::Concat { srcs, dst } => {
                let mut out = Vec::new();
                for &src in srcs {
                    out.extend(flat(&get(slots, src)?));
                }
                let n = out.len();
                slots[*dst] = Some(shaped(&[n], out)?);
            }
            TStep::AddConst { src, dst, c } => {
                let v = get(slots, *src)?;
                slots[*dst] = Some(v.add_scalar(party, R::from_i64(*c)));
            }
            TStep::Add { a, b, dst } => {
                let (av, bv) = (get(slots, *a)?, get(slots, *b)?);
                let bv = bv.reshape(av.shape())?;
                slots[*dst] = Some(av.add(&bv)?);
            }
            TStep::Sub { a, b, dst } => {
                let (av, bv) = (get(slots, *a)?, get(slots, *b)?);
                let bv = bv.reshape(av.shape())?;
                slots[*dst] = Some(av.sub(&bv)?);
            }
            TStep::SumRows {
                src,
                dst,
                rows,
                shift,
            } => {
                let v = get(slots, *src)?;
                let cols = v.len() / rows.max(&1);
                let v = v.reshape(&[*rows, cols])?;
                let s = AShare::from_array(v.array().sum_axis(Axis(0)).into_dyn());
                slots[*dst] = Some(s.mul_scalar(R::from_u64(1 << shift)));
            }
            TStep::Scale { src, dst, c } => {
                slots[*dst] = Some(get(slots, *src)?.mul_scalar(R::from_i64(*c)));
            }
        }
    }
    Ok(())
}

/// The initial parameters of `prog`: each weight drawn uniformly from
/// `±√(6 / fan_in)` (He's uniform initialisation for ReLU networks) by a PRNG seeded
/// with `seed`, biases 0, encoded with `f` fractional bits. Public: both parties and
/// the reference draw the same values.
pub fn init_params(prog: &TrainProgram, seed: u64) -> Vec<Vec<R>> {
    use rand::{Rng, SeedableRng};
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let scale = f64::from(prog.spec.frac_bits).exp2();
    prog.params
        .iter()
        .map(|(_, shape)| match shape.as_slice() {
            &[fan_in, out] => {
                let bound = (6.0 / fan_in as f64).sqrt();
                (0..fan_in * out)
                    .map(|_| R::from_i64((rng.random_range(-bound..bound) * scale).round() as i64))
                    .collect()
            }
            s => vec![<R as Ring>::from_u64(0); s.iter().product()],
        })
        .collect()
}

/// One party's input to a training run: its shares of the examples (`[N, in]`, at
/// scale `2^f`), of their one-hot targets (`[N, C]`) and of the initial parameters
/// (in the order of [`TrainProgram::params`]). Its `Debug` shows only sizes.
pub struct TrainInput {
    /// Shares of the examples, example after example.
    pub x: Vec<R>,
    /// Shares of the targets.
    pub y: Vec<R>,
    /// Shares of the initial parameters.
    pub params: Vec<Vec<R>>,
}

impl std::fmt::Debug for TrainInput {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "TrainInput({} input values, {} target values, {} parameter tensors)",
            self.x.len(),
            self.y.len(),
            self.params.len()
        )
    }
}

/// What one epoch measured at one party. Its `Debug` shows no parameter.
#[derive(Clone)]
pub struct EpochReport {
    /// This party's link to the other party during the epoch (the opening of the
    /// parameters included).
    pub peer: Metering,
    /// When this party started and finished the epoch.
    pub span: (Instant, Instant),
    /// The parameters after the epoch, if opened to this party.
    pub params: Option<Vec<Vec<R>>>,
}

impl std::fmt::Debug for EpochReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EpochReport")
            .field("peer", &self.peer)
            .field("opened", &self.params.is_some())
            .finish_non_exhaustive()
    }
}

/// What one party obtains: every epoch's report and its final shares of the
/// parameters. Its `Debug` shows no value.
pub struct Trained {
    /// The epochs, in order.
    pub epochs: Vec<EpochReport>,
    /// This party's shares of the final parameters.
    pub shares: Vec<Vec<R>>,
}

impl std::fmt::Debug for Trained {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Trained({} epochs)", self.epochs.len())
    }
}

/// Secure training as a job of the session runtime: `epochs` passes over `examples`
/// examples in order, `examples / B` iterations each (a last partial batch is left
/// out), the parameters opened to `reveal_to` after each epoch.
pub struct TrainingJob {
    prog: TrainProgram,
    /// Each epoch's program (its learning rate decayed; the same steps and demand).
    epoch_progs: Vec<TrainProgram>,
    cir: Circuits,
    examples: usize,
    epochs: usize,
    reveal_to: Vec<usize>,
    config: ConfigSummary,
    progress: Option<Progress>,
}

/// Called by party 0 after each iteration with (epoch, iterations done in it).
pub type Progress = Arc<dyn Fn(usize, usize) + Send + Sync>;

impl std::fmt::Debug for TrainingJob {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TrainingJob")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl TrainingJob {
    /// Training `prog` for `epochs` over `examples` examples.
    ///
    /// # Errors
    /// No full batch; no epoch; a party outside `0..2` in `reveal_to`.
    pub fn new(
        prog: TrainProgram,
        examples: usize,
        epochs: usize,
        reveal_to: Vec<usize>,
    ) -> Result<Self> {
        let bad = |detail: String| Error::InvalidArgument {
            what: "training run",
            detail,
        };
        if examples < prog.spec.batch {
            return Err(bad(format!(
                "{examples} examples: fewer than one batch of {}",
                prog.spec.batch
            )));
        }
        if epochs == 0 {
            return Err(bad("0 epochs".into()));
        }
        if reveal_to.iter().any(|&p| p > 1) {
            return Err(bad(format!("parties {reveal_to:?}: only 0 and 1 exist")));
        }
        let spec = serde_json::to_vec(&prog.spec).map_err(|e| Error::Plan(e.to_string()))?;
        let config = ConfigSummary::new()
            .with("job", "secure training")
            .with("spec", hex::encode(Sha256::digest(&spec)))
            .with("plan", prog.plan.name())
            .with("examples", examples)
            .with("epochs", epochs)
            .with("reveal", format!("{reveal_to:?}"));
        let epoch_progs = (0..epochs)
            .map(|e| TrainProgram::new(&prog.spec.at_epoch(e), &prog.plan))
            .collect::<Result<Vec<_>>>()?;
        Ok(TrainingJob {
            cir: Circuits::new(&prog)?,
            epoch_progs,
            prog,
            examples,
            epochs,
            reveal_to,
            config,
            progress: None,
        })
    }

    /// Reports progress through `f` (party 0, after each iteration).
    pub fn with_progress(mut self, f: Progress) -> Self {
        self.progress = Some(f);
        self
    }

    /// The program of one iteration.
    pub fn program(&self) -> &TrainProgram {
        &self.prog
    }

    /// SGD iterations per epoch.
    pub fn iterations(&self) -> usize {
        self.examples / self.prog.spec.batch
    }

    /// The epochs.
    pub fn epochs(&self) -> usize {
        self.epochs
    }

    /// Who learns the parameters after each epoch.
    pub fn reveal_to(&self) -> &[usize] {
        &self.reveal_to
    }

    /// The priced steps of one epoch: every iteration's, then the opening of the
    /// parameters.
    ///
    /// # Errors
    /// As [`TrainProgram::costs`].
    pub fn epoch_steps(&self) -> Result<Vec<StepCost>> {
        let one = self.prog.costs()?;
        let mut out = Vec::with_capacity(one.len() * self.iterations() + 2);
        for _ in 0..self.iterations() {
            out.extend(one.iter().cloned());
        }
        let n: usize = self
            .prog
            .params
            .iter()
            .map(|(_, s)| s.iter().product::<usize>())
            .sum();
        for &to in &self.reveal_to {
            out.push(opening(format!("parameters opened to party {to}"), to, n));
        }
        Ok(out)
    }
}

impl Job for TrainingJob {
    type Ring = R;
    type Input = TrainInput;
    type Prepared = ();
    type Output = Trained;
    type Error = Error;

    fn config(&self) -> ConfigSummary {
        self.config.clone()
    }

    fn demand(&self) -> Result<Demand> {
        self.prog.demand(self.iterations() * self.epochs)
    }

    async fn setup(&self, _: &mut ArithParty<R>) -> Result<()> {
        Ok(())
    }

    async fn online(&self, p: &mut ArithParty<R>, _: (), input: TrainInput) -> Result<Trained> {
        let spec = &self.prog.spec;
        let (bsz, inp, c) = (spec.batch, spec.inputs(), spec.classes());
        if input.x.len() != self.examples * inp || input.y.len() != self.examples * c {
            return Err(Error::shape(
                "training data",
                format!(
                    "{} input and {} target values for {} examples of {inp} → {c}",
                    input.x.len(),
                    input.y.len(),
                    self.examples
                ),
            ));
        }
        let mut params = Vec::with_capacity(self.prog.params.len());
        for ((_, shape), v) in self.prog.params.iter().zip(input.params) {
            if v.len() != shape.iter().product::<usize>() {
                return Err(Error::shape(
                    "initial parameters",
                    format!("{} values for {shape:?}", v.len()),
                ));
            }
            params.push(shaped(shape, v)?);
        }
        if params.len() != self.prog.params.len() {
            return Err(Error::shape(
                "initial parameters",
                format!("{} tensors for {}", params.len(), self.prog.params.len()),
            ));
        }
        for (_, shape) in self.prog.state().iter().skip(params.len()) {
            params.push(AShare::zeros(shape));
        }
        let mut conv = Converter::new(p.party())?;
        let mut epochs = Vec::with_capacity(self.epochs);
        for epoch in 0..self.epochs {
            let before = *p.channel().metering();
            let start = Instant::now();
            for it in 0..self.iterations() {
                let xs = input.x[it * bsz * inp..(it + 1) * bsz * inp].to_vec();
                let ys = input.y[it * bsz * c..(it + 1) * bsz * c].to_vec();
                iteration(
                    p,
                    &mut conv,
                    &self.epoch_progs[epoch],
                    &self.cir,
                    &mut params,
                    shaped(&[bsz, inp], xs)?,
                    shaped(&[bsz, c], ys)?,
                )
                .await?;
                if let (0, Some(f)) = (p.party(), &self.progress) {
                    f(epoch, it + 1);
                }
            }
            let n_params = self.prog.params.len();
            let opened = open(p, &params[..n_params], &self.reveal_to).await?;
            epochs.push(EpochReport {
                peer: p.channel().metering().since(&before),
                span: (start, Instant::now()),
                params: opened,
            });
        }
        Ok(Trained {
            epochs,
            shares: params[..self.prog.params.len()].iter().map(flat).collect(),
        })
    }
}

/// The price of opening `n` shared ring elements to party `to` (one message from the
/// other party).
pub(crate) fn opening(name: String, to: usize, n: usize) -> StepCost {
    let mut price = crate::cost::one_way(1 - to, crate::cost::ring_bytes::<R>(n));
    price.and_gates = 0;
    StepCost {
        name,
        layer: None,
        sharing: Some(Sharing::A),
        price,
        work: crate::Work::default(),
        setup_bytes: [0, 0],
    }
}

/// Opens all parameters (one message) to each party of `to`, in order.
async fn open(
    p: &mut ArithParty<R>,
    params: &[AShare<R>],
    to: &[usize],
) -> Result<Option<Vec<Vec<R>>>> {
    let all: Vec<R> = params.iter().flat_map(flat).collect();
    let x = shaped(&[all.len()], all)?;
    let mut mine = None;
    for &t in to {
        if let Some(v) = p.reveal_to(&x, t).await? {
            let v: Vec<R> = v.iter().copied().collect();
            let mut out = Vec::with_capacity(params.len());
            let mut at = 0;
            for w in params {
                out.push(v[at..at + w.len()].to_vec());
                at += w.len();
            }
            mine = Some(out);
        }
    }
    Ok(mine)
}

/// Both parties' results of a training run ([`crate::session::run_here`]).
pub type TrainingRun = LocalRun<Trained>;

/// Each epoch's online time in a [`crate::session::run_here`] run: from the later party's start to
/// the later party's end.
pub fn epoch_times(run: &TrainingRun) -> Vec<Duration> {
    let [a, b] = &run.parties;
    a.output
        .epochs
        .iter()
        .zip(&b.output.epochs)
        .map(|(x, y)| crate::session::joint_span(x.span, y.span))
        .collect()
}

/// Zero shares of `shape`'s parameters (the party that holds no initial values).
pub fn zero_params(prog: &TrainProgram) -> Vec<Vec<R>> {
    prog.params
        .iter()
        .map(|(_, s)| vec![<R as Ring>::from_u64(0); s.iter().product()])
        .collect()
}

/// Both parties' [`TrainInput`] for data held by `owner` (the values at `owner`,
/// zeros at the other) and the initial parameters at party 0.
pub fn inputs_held_by(
    owner: usize,
    x: Vec<R>,
    y: Vec<R>,
    init: Vec<Vec<R>>,
    prog: &TrainProgram,
) -> [TrainInput; 2] {
    inputs_partitioned(|_| owner, &x, &y, init, prog)
}

/// Both parties' [`TrainInput`] for a horizontally partitioned data set: example `i`
/// (of `x`'s `[N, in]` and `y`'s `[N, C]`) held by party `owner(i)` — its values there,
/// zeros at the other party, which is a valid sharing of it — and the initial
/// parameters at party 0.
pub fn inputs_partitioned(
    owner: impl Fn(usize) -> usize,
    x: &[R],
    y: &[R],
    init: Vec<Vec<R>>,
    prog: &TrainProgram,
) -> [TrainInput; 2] {
    let (inp, c) = (prog.spec.inputs().max(1), prog.spec.classes().max(1));
    let split = |v: &[R], per: usize, p: usize| -> Vec<R> {
        v.chunks(per)
            .enumerate()
            .flat_map(|(i, e)| {
                let mine = owner(i) == p;
                e.iter()
                    .map(move |&v| if mine { v } else { <R as Ring>::from_u64(0) })
            })
            .collect()
    };
    [
        TrainInput {
            x: split(x, inp, 0),
            y: split(y, c, 0),
            params: init,
        },
        TrainInput {
            x: split(x, inp, 1),
            y: split(y, c, 1),
            params: zero_params(prog),
        },
    ]
}
