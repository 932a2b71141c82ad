//! The lowering of each operator, one module per operator: the sharings it can run
//! in, its A step (price, work, execution) and its B/Y circuits. The operator's
//! shape rule and plaintext semantics live in its `tessera_models::ops` module; the
//! trait [`Lower`] extends that module's [`Operator`] and is dispatched through the
//! same registry, [`tessera_models::dispatch_op!`]. The lowering to a program
//! ([`crate::program`]), the pricer and the executor's step loop call only the
//! dispatchers below.

use tessera_core::Ring;
use tessera_models::fixed::{FixedLayer, FixedModel};
use tessera_models::ops::Operator;
use tessera_protocols::arith::PlainWeights;
use tessera_protocols::arith::bilinear::BilinearOp;
use tessera_protocols::{AShare, ArithParty};

use crate::circuits::BoolLayer;
use crate::cost::{Work, batched};
use crate::{Error, Price, Result};

mod affine;
mod avgpool;
mod clip;
mod concat;
mod conv;
mod dense;
mod divide;
mod elementwise;
mod exp;
mod matmul;
mod maxpool;
mod minmax;
mod prelu;
mod relu;
mod remap;
mod reshape;
mod secureml_sigmoid;
mod sign;
mod softmax;
mod spline;
mod square;

/// How [`crate::Assignment::uniform`] places an operator.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Role {
    /// With the linear layers (dense, conv, square, pools by averaging, joins).
    Linear,
    /// With the non-linear layers (comparisons).
    Nonlinear,
    /// Where its input is (a reshape moves no data).
    Follow,
}

/// What an A step's price is computed from: the layer, the batch and the index of
/// its plaintext-weight mask.
pub(crate) struct ACost<'a, R: Ring> {
    pub fl: &'a FixedLayer<R>,
    pub batch: usize,
    pub mask: usize,
}

impl<R: Ring> ACost<'_, R> {
    /// Input values per example.
    pub fn per_in(&self) -> usize {
        self.fl.layer().input_shape().iter().product()
    }
    /// Output values per example.
    pub fn per_out(&self) -> usize {
        self.fl.layer().output_shape().iter().product()
    }
    /// Input values over the batch.
    pub fn n_in(&self) -> usize {
        self.batch * self.per_in()
    }
    /// The batched input shape.
    pub fn in_shape(&self) -> Vec<usize> {
        batched(self.batch, self.fl.layer().input_shape())
    }
}

/// What an A step runs with: the party's arithmetic state, the layer, the batch and
/// (for a plaintext-weight layer) its weights after set-up.
pub(crate) struct ARun<'a, R: Ring> {
    pub p: &'a mut ArithParty<R>,
    pub fl: &'a FixedLayer<R>,
    pub batch: usize,
    pub plain: Option<&'a PlainWeights<R>>,
}

impl<R: Ring> ARun<'_, R> {
    /// The batched output shape.
    pub fn out_shape(&self) -> Vec<usize> {
        batched(self.batch, self.fl.layer().output_shape())
    }
    /// The batched (first) input shape.
    pub fn in_shape(&self) -> Vec<usize> {
        batched(self.batch, self.fl.layer().input_shape())
    }
}

/// An operator's lowering per sharing (implemented in this module's submodules on
/// the operator types of `tessera_models::ops`).
pub(crate) trait Lower: Operator {
    /// How [`crate::Assignment::uniform`] places it.
    const ROLE: Role;

    /// Whether it runs in A with the reference's semantics (B and Y always can).
    fn runs_in_a(a: &Self::Attrs) -> bool;

    /// A plaintext-weight layer in A: the bilinear operation and the weight shape it
    /// takes (set up once per session).
    ///
    /// # Errors
    /// [`Error::Plan`] if the A sharing cannot compute it (`name` the layer).
    fn plain_op(_a: &Self::Attrs, _name: &str) -> Result<Option<(BilinearOp, Vec<usize>)>> {
        Ok(None)
    }

    /// Party 0's encoded weight (the description's layout) in the layout of
    /// [`Lower::plain_op`]'s weight shape.
    fn plain_layout<R: Ring>(_a: &Self::Attrs, w: &[R]) -> Vec<R> {
        w.to_vec()
    }

    /// The online price and local work of its A step (inputs in A, not pending).
    ///
    /// # Errors
    /// [`Error::Plan`] if it cannot run in A.
    fn a_price<R: Ring>(a: &Self::Attrs, c: &ACost<'_, R>) -> Result<(Price, Work)>;

    /// Its A step on the shares of its inputs; the result may be a pending
    /// accumulator (scale `2^2f`) if the operator truncates.
    ///
    /// # Errors
    /// [`Error::Plan`] if it cannot run in A; protocol and transport errors.
    async fn run_a<R: Ring>(
        a: &Self::Attrs,
        r: ARun<'_, R>,
        xs: Vec<AShare<R>>,
    ) -> Result<AShare<R>>;

    /// Its stages in B (`is_b`) or Y, in order; none if it computes nothing.
    ///
    /// # Errors
    /// Circuit errors, or a shape the circuits cannot take.
    fn circuits<R: Ring>(
        a: &Self::Attrs,
        fl: &FixedLayer<R>,
        frac_bits: u32,
        is_b: bool,
    ) -> Result<Vec<BoolLayer>>;
}

/// The error of an operator asked to run in A that has no arithmetic form.
pub(crate) fn not_in_a<R: Ring>(fl: &FixedLayer<R>) -> Error {
    let l = fl.layer();
    Error::Plan(format!(
        "layer {} ({}) cannot run in A",
        l.name(),
        l.op().kind()
    ))
}

/// The first input of an A step.
pub(crate) fn first<R: Ring>(xs: &[AShare<R>]) -> Result<AShare<R>> {
    xs.first()
        .cloned()
        .ok_or_else(|| Error::Plan("an A layer without inputs".into()))
}

/// Whether layer `fl` can run in A.
pub(crate) fn runs_in_a<R: Ring>(fl: &FixedLayer<R>) -> bool {
    tessera_models::dispatch_op!(fl.layer().op(), D, a => D::runs_in_a(a))
}

/// How [`crate::Assignment::uniform`] places layer `fl`.
pub(crate) fn role<R: Ring>(fl: &FixedLayer<R>) -> Role {
    tessera_models::dispatch_op!(fl.layer().op(), D, _a => D::ROLE)
}

/// Layer `i`'s plaintext-weight operation in A, if it has one.
pub(crate) fn plain_op<R: Ring>(
    model: &FixedModel<R>,
    i: usize,
) -> Result<Option<(BilinearOp, Vec<usize>)>> {
    let l = model.layers()[i].layer();
    tessera_models::dispatch_op!(l.op(), D, a => D::plain_op(a, l.name()))
}

/// Party 0's weight of layer `fl` in its A layout.
pub(crate) fn plain_layout<R: Ring>(fl: &FixedLayer<R>, w: &[R]) -> Vec<R> {
    tessera_models::dispatch_op!(fl.layer().op(), D, a => D::plain_layout(a, w))
}

/// The price and work of layer `fl`'s A step.
pub(crate) fn a_price<R: Ring>(c: &ACost<'_, R>) -> Result<(Price, Work)> {
    tessera_models::dispatch_op!(c.fl.layer().op(), D, a => D::a_price(a, c))
}

/// Runs layer `r.fl`'s A step.
pub(crate) async fn run_a<R: Ring>(r: ARun<'_, R>, xs: Vec<AShare<R>>) -> Result<AShare<R>> {
    if xs.is_empty() {
        return Err(Error::Plan("an A layer without inputs".into()));
    }
    let fl = r.fl;
    tessera_models::dispatch_op!(fl.layer().op(), D, a => D::run_a(a, r, xs).await)
}

/// Layer `fl`'s B/Y stages.
pub(crate) fn circuits<R: Ring>(
    fl: &FixedLayer<R>,
    frac_bits: u32,
    is_b: bool,
) -> Result<Vec<BoolLayer>> {
    tessera_models::dispatch_op!(fl.layer().op(), D, a => D::circuits(a, fl, frac_bits, is_b))
}
