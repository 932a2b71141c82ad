//! The fixed-point reference of training: [`TrainProgram`]'s steps in the clear, with
//! the ring's wrapping arithmetic and every truncation rounded to nearest. The secure
//! run computes the same steps on shares; its truncations are `⌊x/2^f⌋ + e`, `e ∈ {0,
//! 1}` — stochastic rounding, unbiased — so each differs from the reference's by at
//! most one unit, and neither drifts: a floor in the reference would take ½ unit from
//! every parameter at every step (5 units with momentum 0.9, whose velocity would
//! accumulate it), a drift the secure run does not have.

use tessera_core::Ring;
use tessera_models::fixed::FixedModel;
use tessera_protocols::arith::window::matmul_acc;

use super::{R, Slot, TStep, TrainProgram};
use crate::{Error, Result};

/// What one iteration of the reference saw besides the parameters it updated. Its
/// `Debug` shows sizes only (the values derive from the training data).
#[derive(Clone, Default, PartialEq)]
pub struct Trace {
    /// The pending gradients (scale `2^2f`), in the order of [`TrainProgram::params`].
    pub grads: Vec<Vec<R>>,
    /// The output activations of the batch (`[B, C]`, scale `2^f`).
    pub out: Vec<R>,
    /// Comparisons whose input was within [`TIE_MARGIN`] units of 0 but not 0: where a
    /// secure run's truncation error could flip the comparison.
    pub near_ties: usize,
}

impl std::fmt::Debug for Trace {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "Trace({} gradients, {} outputs, {} near ties)",
            self.grads.len(),
            self.out.len(),
            self.near_ties
        )
    }
}

/// Values whose magnitude is at most this many units count as near ties.
pub const TIE_MARGIN: i64 = 16;

/// `op(x)` as a row-major `[rows, cols]`, `x` transposed when asked (`x` is then
/// stored `[cols, rows]`).
pub(crate) fn oriented(x: &[R], rows: usize, cols: usize, transposed: bool) -> Vec<R> {
    if !transposed {
        return x.to_vec();
    }
    let mut out = Vec::with_capacity(rows * cols);
    for r in 0..rows {
        for c in 0..cols {
            out.push(x[c * rows + r]);
        }
    }
    out
}

/// Runs one iteration of `prog` on `state` (the parameters then their velocities, as
/// [`TrainProgram::state`]; updated in place) and the batch `(x, y)`.
///
/// # Errors
/// Shape errors (a batch or a parameter of the wrong size); the activation's range.
pub fn iteration(
    prog: &TrainProgram,
    head: &FixedModel<R>,
    state: &mut [Vec<R>],
    x: &[R],
    y: &[R],
) -> Result<Trace> {
    let (layout, mut slots) = load(prog, state, x)?;
    let (bsz, c) = (prog.spec.batch, prog.spec.classes());
    if y.len() != bsz * c {
        return Err(Error::shape(
            "training batch",
            format!("{} targets for {bsz} examples of {c} classes", y.len()),
        ));
    }
    slots[prog.y] = Some(y.to_vec());
    let mut trace = execute(prog, head, &mut slots)?;
    trace.grads = prog
        .grads
        .iter()
        .map(|&g| get(&slots, g))
        .collect::<Result<_>>()?;
    for ((slot, _), p) in layout.iter().zip(state.iter_mut()) {
        *p = get(&slots, *slot)?;
    }
    Ok(trace)
}

/// The labels an inference program ([`TrainProgram::inference`]) computes from the
/// parameters `params` for the batch `x` (`[B, in]`): the reference of secure
/// inference with a shared model, exact (the same truncations, rounded to nearest,
/// where the secure run's may differ by one unit).
///
/// # Errors
/// A program without labels; shape errors; the activation's range.
pub fn labels(
    prog: &TrainProgram,
    head: &FixedModel<R>,
    params: &[Vec<R>],
    x: &[R],
) -> Result<(Vec<usize>, Trace)> {
    let out = prog
        .labels
        .ok_or_else(|| Error::Plan("a training program computes no labels".into()))?;
    let (_, mut slots) = load(prog, params, x)?;
    let trace = execute(prog, head, &mut slots)?;
    let labels = get(&slots, out)?
        .iter()
        .map(|l| l.to_u64() as usize)
        .collect();
    Ok((labels, trace))
}

type Slots = Vec<Option<Vec<R>>>;

/// The state's slots and shapes.
type Layout = Vec<(Slot, Vec<usize>)>;

/// The slots of `prog` with the state and the batch `x` in place, checked.
fn load(prog: &TrainProgram, state: &[Vec<R>], x: &[R]) -> Result<(Layout, Slots)> {
    let spec = &prog.spec;
    let layout = prog.state_of(state.len())?;
    let mut slots: Slots = vec![None; prog.slots];
    for ((slot, shape), p) in layout.iter().zip(state.iter()) {
        if p.len() != shape.iter().product::<usize>() {
            return Err(Error::shape(
                "training parameter",
                format!("{} values for {shape:?}", p.len()),
            ));
        }
        slots[*slot] = Some(p.clone());
    }
    if x.len() != spec.batch * spec.inputs() {
        return Err(Error::shape(
            "batch",
            format!(
                "{} inputs for {} examples of {}",
                x.len(),
                spec.batch,
                spec.inputs()
            ),
        ));
    }
    slots[prog.x] = Some(x.to_vec());
    Ok((layout, slots))
}

fn get(slots: &[Option<Vec<R>>], s: Slot) -> Result<Vec<R>> {
    slots
        .get(s)
        .and_then(Clone::clone)
        .ok_or_else(|| Error::Plan(format!("training slot {s} read before written")))
}

/// Runs `prog`'s steps on the values in `slots`.
fn execute(prog: &TrainProgram, head: &FixedModel<R>, slots: &mut Slots) -> Result<Trace> {
    let spec = &prog.spec;
    let mut trace = Trace::default();
    for st in &prog.steps {
        match st {
            TStep::MatMul {
                a: (a, ta),
                b: (b, tb),
                dst,
                mkn: [m, k, n],
                ..
            } => {
                let av = oriented(&get(slots, *a)?, *m, *k, *ta);
                let bv = oriented(&get(slots, *b)?, *k, *n, *tb);
                let mut out = vec![<R as Ring>::from_u64(0); m * n];
                matmul_acc(&av, &bv, &mut out, *m, *k, *n);
                slots[*dst] = Some(out);
            }
            TStep::Trunc { pairs, bits, name } => {
                for &(s, d, _) in pairs {
                    let v = get(slots, s)?;
                    // The dealer truncation is exact (up to one unit) below 2^62.
                    if let Some(x) = v.iter().find(|x| x.to_i64().unsigned_abs() >= 1 << 62) {
                        return Err(Error::Range {
                            what: format!("training step {name:?}"),
                            detail: format!(
                                "a value of {:.3e} (scale 2^{}) leaves the fixed-point range; \
                                 lower the learning rate",
                                x.to_i64() as f64,
                                2 * spec.frac_bits
                            ),
                        });
                    }
                    // Round to nearest: unbiased as the secure truncation is in
                    // expectation (a floor's −½ unit per step would accumulate in the
                    // velocities and parameters over an epoch).
                    let half = R::from_u64(1 << (bits - 1));
                    slots[d] = Some(v.iter().map(|&x| (x + half).shr_signed(*bits)).collect());
                }
            }
            TStep::AddBias {
                src,
                bias,
                dst,
                rows,
            } => {
                let (v, b) = (get(slots, *src)?, get(slots, *bias)?);
                let cols = v.len() / rows.max(&1);
                let out = v
                    .iter()
                    .enumerate()
                    .map(|(i, &x)| x + b[i % cols])
                    .collect();
                slots[*dst] = Some(out);
            }
            TStep::Drelu { src, dst, .. } => {
                let v = get(slots, *src)?;
                // Exact zeros are not counted: a max pooling compares ReLU'd zeros,
                // which both runs compute exactly (a Beaver product by a 0 bit).
                trace.near_ties += v
                    .iter()
                    .filter(|x| (1..=TIE_MARGIN).contains(&x.to_i64().abs()))
                    .count();
                let bits = v
                    .iter()
                    .map(|x| R::from_u64(u64::from(x.to_i64() >= 0)))
                    .collect();
                slots[*dst] = Some(bits);
            }
            TStep::MulBit { src, bit, dst, .. } => {
                let (v, b) = (get(slots, *src)?, get(slots, *bit)?);
                slots[*dst] = Some(v.iter().zip(&b).map(|(&x, &b)| x * b).collect());
            }
            TStep::Head { src, dst, rows, .. } => {
                let out = head.forward_layer(0, &get(slots, *src)?, *rows)?;
                trace.out = out.clone();
                slots[*dst] = Some(out);
            }
            TStep::Label { src, dst, rows, .. } => {
                let v = get(slots, *src)?;
                let c = v.len() / rows.max(&1);
                let idx = v
                    .chunks(c.max(1))
                    .map(|r| {
                        let mut best = 0;
                        for (i, x) in r.iter().enumerate() {
                            if x.to_i64() > r[best].to_i64() {
                                best = i;
                            }
                        }
                        R::from_u64(best as u64)
                    })
                    .collect();
                slots[*dst] = Some(idx);
            }
            TStep::Im2Col { src, dst, .. }
            | TStep::Col2Im { src, dst, .. }
            | TStep::SumPool { src, dst, .. }
            | TStep::Upsample { src, dst, .. }
            | TStep::Gather { src, dst, .. } => {
                slots[*dst] = Some(st.reindex(&get(slots, *src)?)?);
            }
            TStep::Concat { srcs, dst } => {
                let mut out = Vec::new();
                for &src in srcs {
                    out.extend(get(slots, src)?);
                }
                slots[*dst] = Some(out);
            }
            TStep::AddConst { src, dst, c } => {
                let k = R::from_i64(*c);
                slots[*dst] = Some(get(slots, *src)?.into_iter().map(|x| x + k).collect());
            }
            TStep::Add { a, b, dst } => {
                let (av, bv) = (get(slots, *a)?, get(slots, *b)?);
                slots[*dst] = Some(av.iter().zip(&bv).map(|(&x, &y)| x + y).collect());
            }
            TStep::Sub { a, b, dst } => {
                let (av, bv) = (get(slots, *a)?, get(slots, *b)?);
                slots[*dst] = Some(av.iter().zip(&bv).map(|(&x, &y)| x - y).collect());
            }
            TStep::SumRows {
                src,
                dst,
                rows,
                shift,
            } => {
                let v = get(slots, *src)?;
                let cols = v.len() / rows.max(&1);
                let mut out = vec![<R as Ring>::from_u64(0); cols];
                for row in v.chunks_exact(cols.max(1)) {
                    for (o, &x) in out.iter_mut().zip(row) {
                        *o += x;
                    }
                }
                let k = R::from_u64(1 << shift);
                slots[*dst] = Some(out.into_iter().map(|x| x * k).collect());
            }
            TStep::Scale { src, dst, c } => {
                let v = get(slots, *src)?;
                let k = R::from_i64(*c);
                slots[*dst] = Some(v.into_iter().map(|x| x * k).collect());
            }
        }
    }
    Ok(trace)
}
