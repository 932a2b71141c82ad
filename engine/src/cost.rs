//! Exact prices of the steps of a secure run, from the circuits and shapes the run
//! uses (see [`crate::exec`], which follows the same step list).

use serde::{Deserialize, Serialize};
use tessera_core::Ring;
use tessera_core::bits::words_for;
use tessera_core::channel::HEADER_LEN;
use tessera_protocols::circuit::{Circuit, Program};
use tessera_protocols::gmw::DEFAULT_WORKING_SET;
use tessera_protocols::{Demand, gmw, yao};

use crate::circuits::{BoolLayer, Param, argmax_layer};
pub(crate) use crate::ops::plain_op;
use crate::{Assignment, Conversion, Flight, Output, Placement, Price, Sharing, pending_value};
use crate::{Error, Result};
use tessera_models::fixed::FixedModel;

/// Local compute of a step, in units the planner's calibration prices (per party;
/// the two parties work in parallel).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Work {
    /// AND gates evaluated in GMW, times instances.
    pub gmw_and: u64,
    /// AND gates garbled (party 0) and evaluated (party 1), times instances.
    pub yao_and: u64,
    /// Ring multiply-adds of plaintext-weight layers (each party).
    pub macs: u64,
    /// Element-wise ring operations (sharing, masking, recombining).
    pub ring_ops: u64,
    /// Random OTs derandomised.
    pub ots: u64,
    /// Wire labels or shared bits copied (gathers into circuit instances, inputs).
    pub labels: u64,
}

impl Work {
    /// The sum of two works.
    pub fn plus(&self, o: &Work) -> Work {
        Work {
            gmw_and: self.gmw_and + o.gmw_and,
            yao_and: self.yao_and + o.yao_and,
            macs: self.macs + o.macs,
            ring_ops: self.ring_ops + o.ring_ops,
            ots: self.ots + o.ots,
            labels: self.labels + o.labels,
        }
    }
}

/// One step of a secure run with its exact online price and its work.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StepCost {
    /// What the step is (`"fc1: a2y"`, `"fc1 (dense) in A"`, …).
    pub name: String,
    /// The model layer it belongs to (`None` for input, set-up and output steps).
    pub layer: Option<usize>,
    /// The sharing the step computes in (for conversions, the target).
    pub sharing: Option<Sharing>,
    /// Online traffic, message pattern, AND gates and the correlations consumed.
    pub price: Price,
    /// Local computation.
    pub work: Work,
    /// Bytes each party sends in the set-up phase (once per session).
    pub setup_bytes: [u64; 2],
}

impl StepCost {
    fn new(name: String, layer: Option<usize>, sharing: Option<Sharing>, price: Price) -> Self {
        StepCost {
            name,
            layer,
            sharing,
            price,
            work: Work::default(),
            setup_bytes: [0, 0],
        }
    }
}

/// A GMW message of `bits` packed bits on the wire: streamed in frames of the
/// transport's limit, each with its header ([`gmw::exchange_wire_bytes`]).
fn gmw_message(bits: usize) -> u64 {
    gmw::exchange_wire_bytes(8 * words_for(bits) as u64)
}

fn frame(payload: usize) -> u64 {
    (HEADER_LEN + payload) as u64
}

/// The price of nothing.
pub(crate) fn free() -> Price {
    Price {
        bytes_sent: [0, 0],
        flights: Vec::new(),
        and_gates: 0,
        demand: Demand::new(),
    }
}

/// One message of `bytes` from `from`.
pub(crate) fn one_way(from: usize, bytes: u64) -> Price {
    let mut p = free();
    p.bytes_sent[from] = bytes;
    p.flights
        .push(if from == 0 { Flight::P0 } else { Flight::P1 });
    p
}

/// A message of `n` ring elements on the wire.
pub(crate) fn ring_bytes<R: Ring>(n: usize) -> u64 {
    frame(n * R::BYTES)
}

/// GMW evaluation of `c` (compiled: `program`) on `n` instances within a working set
/// of `working_set` bytes per party: one exchange per AND layer, per chunk of
/// instances ([`gmw::chunk_instances`]; one chunk whenever the state fits).
pub(crate) fn eval_b_price(c: &Circuit, program: &Program, n: usize, working_set: u64) -> Price {
    let cost = c.cost();
    let widths = &cost.and_layer_widths;
    let chunk = gmw::chunk_instances(program, n, working_set);
    let sizes = gmw::chunk_sizes(n, chunk);
    let per_party: u64 = sizes
        .iter()
        .flat_map(|&m| widths.iter().map(move |&k| gmw_message(2 * k * m)))
        .sum();
    Price {
        bytes_sent: [per_party, per_party],
        flights: vec![Flight::Both; widths.len() * sizes.len()],
        and_gates: (cost.and_gates * n) as u64,
        demand: gmw::chunked_demand(widths, n, chunk),
    }
}

/// Yao evaluation of `c` on `n` instances: party 0 streams the tables.
pub(crate) fn eval_y_price(c: &Circuit, program: &Program, n: usize) -> Price {
    let bytes = yao::table_bytes_compiled(program, n);
    let mut p = if bytes > 0 { one_way(0, bytes) } else { free() };
    p.and_gates = (c.cost().and_gates * n) as u64;
    p
}

/// Party `owner`'s `bits × n` bits entering the B or Y sharing.
pub(crate) fn bool_input_price(sharing: Sharing, owner: usize, bits: usize) -> Price {
    match (sharing, owner) {
        // The owner's bits are its share, the other party's zeros: no message.
        (Sharing::B, _) => free(),
        (_, 0) => one_way(0, yao::garbler_input_bytes(bits)),
        _ => {
            let [e, g] = yao::evaluator_input_bytes(bits);
            let mut d = Demand::new();
            d.random_ots(bits, 0);
            Price {
                bytes_sent: [g, e],
                flights: vec![Flight::P1, Flight::P0],
                and_gates: 0,
                demand: d,
            }
        }
    }
}

fn conversion_work(c: Conversion, price: &Price, ell: usize, n: usize) -> Work {
    let bits = (ell * n) as u64;
    let mut w = Work::default();
    match c {
        Conversion::A2Y => {
            w.yao_and = price.and_gates;
            w.ots = bits;
            w.labels = 2 * bits;
        }
        Conversion::Y2A => {
            w.yao_and = price.and_gates;
            w.labels = bits;
            w.ring_ops = n as u64;
        }
        Conversion::B2Y => {
            w.ots = bits;
            w.labels = 2 * bits;
        }
        Conversion::Y2B => w.labels = bits,
        Conversion::A2BGmw => w.gmw_and = price.and_gates,
        Conversion::B2A(_) => {
            w.ring_ops = bits;
            if matches!(c, Conversion::B2A(tessera_conversions::B2aVariant::Ot)) {
                w.ots = bits;
            }
        }
    }
    w
}

/// The steps of the conversions of `route` applied to `n` values of layer `layer`
/// (named `what`): each conversion's exact price ([`Price::of`]) and its work.
///
/// # Errors
/// Only if a conversion circuit cannot be built (never for ℓ ≤ 64).
pub fn route_steps<R: Ring>(
    what: &str,
    layer: Option<usize>,
    route: &[Conversion],
    n: usize,
) -> Result<Vec<StepCost>> {
    let ell = R::BITS as usize;
    route
        .iter()
        .map(|&c| {
            let price = Price::of(c, ell, n)?;
            let mut s = StepCost::new(
                format!("{what}: {}", c.name()),
                layer,
                Some(c.endpoints().1),
                price,
            );
            s.work = conversion_work(c, &s.price, ell, n);
            Ok(s)
        })
        .collect()
}

fn per_example<R: Ring>(model: &FixedModel<R>, i: usize) -> (usize, usize) {
    let l = model.layers()[i].layer();
    (
        l.input_shape().iter().product(),
        l.output_shape().iter().product(),
    )
}

/// The steps of a layer's B/Y stages after its input is in `sharing`: per stage,
/// party 0's parameters entering, then the evaluation.
pub(crate) fn bool_layer_steps(
    name: &str,
    layer: Option<usize>,
    stages: &[BoolLayer],
    sharing: Sharing,
    ell: usize,
    batch: usize,
    working_set: u64,
) -> Vec<StepCost> {
    let mut out = Vec::new();
    for bl in stages {
        let n = bl.per_example * batch;
        for pi in &bl.params {
            let what = match pi.param {
                Param::Weights => "weights",
                Param::Bias => "bias",
            };
            let mut s = StepCost::new(
                format!("{name}: {what} in {sharing:?}"),
                layer,
                Some(sharing),
                bool_input_price(sharing, 0, ell * pi.values),
            );
            s.work.labels = (ell * pi.values) as u64;
            out.push(s);
        }
        let price = if sharing == Sharing::B {
            eval_b_price(&bl.circuit, &bl.program, n, working_set)
        } else {
            eval_y_price(&bl.circuit, &bl.program, n)
        };
        let step = match bl.stage {
            Some(stage) => format!("{name} in {sharing:?}: {stage}"),
            None => format!("{name} in {sharing:?}"),
        };
        let mut s = StepCost::new(step, layer, Some(sharing), price);
        // The gathers into the instances: the input's and each parameter's.
        let slots = bl.xs.iter().map(|x| x.slots).sum::<usize>()
            + bl.params.iter().map(|p| p.slots).sum::<usize>();
        s.work.labels = (slots * ell * n) as u64;
        if sharing == Sharing::B {
            s.work.gmw_and = s.price.and_gates;
        } else {
            s.work.yao_and = s.price.and_gates;
        }
        out.push(s);
    }
    out
}

/// `[batch] ++ shape`.
pub(crate) fn batched(batch: usize, shape: &[usize]) -> Vec<usize> {
    let mut s = Vec::with_capacity(shape.len() + 1);
    s.push(batch);
    s.extend_from_slice(shape);
    s
}

/// The set-up steps of an assignment: each A dense/conv layer's masked weight sent
/// once per session (set-up phase; the weight masks come first in the demand).
///
/// # Errors
/// [`Error::Plan`] if the assignment does not fit the model.
pub fn setup_steps<R: Ring>(model: &FixedModel<R>, a: &Assignment) -> Result<Vec<StepCost>> {
    a.validate(model)?;
    let mut out = Vec::new();
    for (i, p) in a.layers.iter().enumerate() {
        if p.sharing != Sharing::A {
            continue;
        }
        if let Some((_, wshape)) = plain_op(model, i)? {
            let mut price = free();
            price.demand.weight_mask(&wshape);
            let mut s = StepCost::new(
                format!("{}: weight set-up", model.layers()[i].layer().name()),
                Some(i),
                Some(Sharing::A),
                price,
            );
            s.setup_bytes = [ring_bytes::<R>(wshape.iter().product()), 0];
            out.push(s);
        }
    }
    Ok(out)
}

/// The client's input (a batch of `batch` examples) entering in `first`.
///
/// # Errors
/// Never for a valid model.
pub fn input_steps<R: Ring>(
    model: &FixedModel<R>,
    first: Sharing,
    batch: usize,
) -> Result<Vec<StepCost>> {
    let n = batch
        * model
            .layers()
            .first()
            .map_or(0, |_| per_example(model, 0).0);
    let ell = R::BITS as usize;
    let price = match first {
        // The client's input is its share, party 0's is zero: no message.
        Sharing::A => free(),
        s => bool_input_price(s, 1, ell * n),
    };
    let mut s = StepCost::new(format!("input in {first:?}"), None, Some(first), price);
    match first {
        Sharing::A => s.work.ring_ops = n as u64,
        Sharing::B => s.work.labels = (ell * n) as u64,
        Sharing::Y => {
            s.work.ots = (ell * n) as u64;
            s.work.labels = (ell * n) as u64;
        }
    }
    Ok(vec![s])
}

/// Layer `i`'s steps when the previous layer ran in `prev`: the conversions of its
/// input, the truncation if an A layer consumes a pending accumulator, the layer.
/// (For the first layer, `prev` is the layer's own sharing and `convert` empty.) The
/// plaintext-weight mask index is 0 (the program numbers them).
///
/// # Errors
/// [`Error::Plan`] if the sharing is not allowed for the layer or the route does not
/// connect; circuit errors.
pub fn layer_steps<R: Ring>(
    model: &FixedModel<R>,
    i: usize,
    prev: Sharing,
    convert: &[Conversion],
    sharing: Sharing,
    batch: usize,
) -> Result<Vec<StepCost>> {
    let fl = model
        .layers()
        .get(i)
        .ok_or_else(|| Error::Plan(format!("no layer {i}")))?;
    let l = fl.layer();
    let name = l.name();
    if !crate::layer_options(model, i).contains(&sharing) {
        return Err(Error::Plan(format!(
            "layer {name} ({}) cannot run in {sharing:?}",
            l.op().kind()
        )));
    }
    crate::check_route(&format!("layer {name}"), prev, convert, sharing)?;
    let n_in = batch * per_example(model, i).0;
    let mut out = route_steps::<R>(name, Some(i), convert, n_in)?;
    // A pending accumulator that stays in A is truncated by the dealer pair; one in
    // B/Y is shifted by wiring (free) — see the module docs.
    let pending = l.inputs().first().is_some_and(|&v| pending_value(model, v));
    if pending && prev == Sharing::A && sharing == Sharing::A && !l.op().is_view() {
        out.push(trunc_step::<R>(model, i, &batched(batch, l.input_shape())));
    }
    out.extend(op_steps(model, i, sharing, batch, 0)?);
    Ok(out)
}

/// The steps that bring value `v` (0 the input, `j + 1` layer `j`'s output) from
/// `from` to a consumer in `to`, as the lowering does for a consumer that computes:
/// the default conversion route, and the dealer truncation when a pending
/// accumulator stays in A (a shift in B/Y is free). What a value costs once per
/// target sharing, however many layers read it there.
///
/// # Errors
/// Only if a conversion circuit cannot be built (never for ℓ ≤ 64).
pub fn value_steps<R: Ring>(
    model: &FixedModel<R>,
    v: usize,
    from: Sharing,
    to: Sharing,
    batch: usize,
) -> Result<Vec<StepCost>> {
    let (name, shape, layer) = match v {
        0 => ("input", model.layers()[0].layer().input_shape(), None),
        _ => {
            let l = model.layers()[v - 1].layer();
            (l.name(), l.output_shape(), Some(v - 1))
        }
    };
    let shape = batched(batch, shape);
    let n = shape.iter().product();
    let mut out = route_steps::<R>(name, layer, &crate::default_route(from, to), n)?;
    if let Some(i) = layer
        && from == Sharing::A
        && to == Sharing::A
        && pending_value(model, v)
    {
        out.push(trunc_step::<R>(model, i, &shape));
    }
    Ok(out)
}

/// The dealer truncation of a pending accumulator of `shape` (batch first) before
/// layer `i` consumes it in A.
pub(crate) fn trunc_step<R: Ring>(model: &FixedModel<R>, i: usize, shape: &[usize]) -> StepCost {
    let n: usize = shape.iter().product();
    let mut price = free();
    price.bytes_sent = [ring_bytes::<R>(n), ring_bytes::<R>(n)];
    price.flights.push(Flight::Both);
    price.demand.trunc(model.fixed_point().frac_bits, shape);
    let mut s = StepCost::new(
        format!("{}: truncation", model.layers()[i].layer().name()),
        Some(i),
        Some(Sharing::A),
        price,
    );
    s.work.ring_ops = 2 * n as u64;
    s
}

/// Layer `i`'s own computation in `sharing`, its inputs already there and not
/// pending (A: one step; B/Y: its parameters entering and its stages). `mask` is the
/// index of its plaintext-weight mask (any, for a price).
///
/// # Errors
/// If the layer cannot run in `sharing`; circuit errors.
pub fn op_steps<R: Ring>(
    model: &FixedModel<R>,
    i: usize,
    sharing: Sharing,
    batch: usize,
    mask: usize,
) -> Result<Vec<StepCost>> {
    op_steps_within(model, i, sharing, batch, mask, DEFAULT_WORKING_SET)
}

/// [`op_steps`] with GMW stages bounded by `working_set` bytes per party
/// ([`Assignment::working_set`]).
///
/// # Errors
/// As [`op_steps`].
pub fn op_steps_within<R: Ring>(
    model: &FixedModel<R>,
    i: usize,
    sharing: Sharing,
    batch: usize,
    mask: usize,
    working_set: u64,
) -> Result<Vec<StepCost>> {
    let fl = &model.layers()[i];
    let l = fl.layer();
    let name = l.name();
    let ell = R::BITS as usize;
    let op_name = format!("{name} ({})", l.op().kind());
    match sharing {
        Sharing::A => {
            let (price, work) = crate::ops::a_price(&crate::ops::ACost { fl, batch, mask })?;
            let mut s = StepCost::new(format!("{op_name} in A"), Some(i), Some(Sharing::A), price);
            s.work = work;
            Ok(vec![s])
        }
        s => {
            let is_b = s == Sharing::B;
            let stages = match priced_linear(fl, is_b)? {
                Some(stages) => stages,
                None => crate::ops::circuits(fl, model.fixed_point().frac_bits, is_b)?,
            };
            Ok(bool_layer_steps(
                &op_name,
                Some(i),
                &stages,
                s,
                ell,
                batch,
                working_set,
            ))
        }
    }
}

/// The B/Y stages of a dense or convolution layer for pricing: those of
/// `crate::ops::{dense, conv}` (`inner_products` with the same slots, outputs,
/// parameter counts and circuits) without their per-product gathers, which only the
/// execution reads ([`crate::circuits::inner_products_priced`]); `None` for any other
/// operator. `tests::priced_linear_stages_price_like_the_full_ones` checks the steps
/// equal the full stages'.
fn priced_linear<R: Ring>(
    fl: &tessera_models::fixed::FixedLayer<R>,
    is_b: bool,
) -> Result<Option<Vec<BoolLayer>>> {
    use tessera_models::Op;
    let ell = R::BITS as usize;
    let l = fl.layer();
    let v = crate::circuits::variant_for_b(is_b);
    let (slots, outputs, values, bias) = match l.op() {
        Op::Dense(d) => {
            let (out, inn) = (d.weight.shape()[0], d.weight.shape()[1]);
            (inn, out, out * inn, fl.bias().map(|_| out))
        }
        Op::Conv(c) => {
            let geo = c.geometry(l.input_shape()).ok_or_else(|| {
                Error::Plan(format!(
                    "layer {}: the convolution does not fit its input",
                    l.name()
                ))
            })?;
            let (o, per) = (geo.out_channels, geo.per_output());
            (per, o * geo.out_positions, o * per, fl.bias().map(|_| o))
        }
        _ => return Ok(None),
    };
    Ok(Some(crate::circuits::inner_products_priced(
        ell, v, slots, outputs, values, bias,
    )?))
}

/// The steps of the first output (what the head reads): with [`Output::Label`], the
/// conversions to the head's sharing, the argmax and the index revealed to the client;
/// with [`Output::Logits`], its values revealed to the client from `last`, the sharing
/// the first output's producer runs in ([`reveal_steps`] of output 0).
///
/// # Errors
/// [`Error::Plan`] if the head does not fit the output kind or the route does not
/// connect.
pub fn head_steps<R: Ring>(
    model: &FixedModel<R>,
    last: Sharing,
    head: Option<&Placement>,
    output: Output,
    batch: usize,
) -> Result<Vec<StepCost>> {
    head_steps_within(model, last, head, output, batch, DEFAULT_WORKING_SET)
}

/// [`head_steps`] with a GMW argmax bounded by `working_set` bytes per party.
///
/// # Errors
/// As [`head_steps`].
pub fn head_steps_within<R: Ring>(
    model: &FixedModel<R>,
    last: Sharing,
    head: Option<&Placement>,
    output: Output,
    batch: usize,
    working_set: u64,
) -> Result<Vec<StepCost>> {
    let ell = R::BITS as usize;
    let classes = model.classes();
    let n = batch * classes;
    match (output, head) {
        (Output::Logits, None) => reveal_steps(model, 0, last, batch),
        (Output::Label, Some(h)) => {
            if !crate::head_options().contains(&h.sharing) {
                return Err(Error::Plan(format!(
                    "the argmax cannot run in {:?}",
                    h.sharing
                )));
            }
            crate::check_route("argmax", last, &h.convert, h.sharing)?;
            let mut out = route_steps::<R>("argmax", None, &h.convert, n)?;
            let bl = argmax_layer(classes, ell, h.sharing == Sharing::B)?;
            out.extend(bool_layer_steps(
                "argmax",
                None,
                std::slice::from_ref(&bl),
                h.sharing,
                ell,
                batch,
                working_set,
            ));
            let bits = bl.circuit.cost().output_bits * batch;
            let price = match h.sharing {
                Sharing::B => one_way(0, gmw_message(bits)),
                _ => one_way(0, yao::reveal_bytes(bits)),
            };
            out.push(StepCost::new(
                "label to the client".into(),
                None,
                Some(h.sharing),
                price,
            ));
            Ok(out)
        }
        _ => Err(Error::Plan(
            "an argmax placement goes with the label output, and only with it".into(),
        )),
    }
}

/// Output `k` of the model ([`FixedModel::outputs`]) revealed to the client from
/// `from`, the sharing its producer runs in: one message from party 0 (its share in
/// A, in B or its output decoding bits in Y); a pending accumulator is revealed as it
/// is and shifted by the client (A) or shifted for free first (B, Y). Output 0 is the
/// step `scores to the client`, output `k ≥ 1` `output k (name) to the client`.
///
/// # Errors
/// [`Error::Plan`] if the model has no output `k`.
pub fn reveal_steps<R: Ring>(
    model: &FixedModel<R>,
    k: usize,
    from: Sharing,
    batch: usize,
) -> Result<Vec<StepCost>> {
    if k >= model.outputs().len() {
        return Err(Error::Plan(format!(
            "output {k} of a model with {} outputs",
            model.outputs().len()
        )));
    }
    let ell = R::BITS as usize;
    let n = batch * model.output_len(k);
    let price = match from {
        Sharing::A => one_way(0, ring_bytes::<R>(n)),
        Sharing::B => one_way(0, gmw_message(ell * n)),
        Sharing::Y => one_way(0, yao::reveal_bytes(ell * n)),
    };
    let name = match k {
        0 => "scores to the client".to_string(),
        _ => format!(
            "output {k} ({}) to the client",
            model.output_names().get(k).map_or("", String::as_str)
        ),
    };
    let mut s = StepCost::new(name, None, Some(from), price);
    s.work.ring_ops = n as u64;
    Ok(vec![s])
}

/// Every step of a run of `a` on `batch` examples, in execution order: set-up,
/// input, layers, outputs.
///
/// # Errors
/// [`Error::Plan`] if the assignment does not fit the model; circuit errors.
pub fn assignment_steps<R: Ring>(
    model: &FixedModel<R>,
    a: &Assignment,
    batch: usize,
) -> Result<Vec<StepCost>> {
    Ok(crate::program::lower(model, a, batch)?.costs())
}

/// The online rounds of a run as the channel counts them (Lamport depth of the
/// online messages, see [`tessera_core::meter`]): the set-up messages (party 0's
/// masked weights, one flight) come first and shift the parties' clocks, so the
/// online pattern is replayed after them and the set-up's depth subtracted.
pub fn online_rounds(steps: &[StepCost]) -> u64 {
    query_rounds(steps, steps.iter().any(|s| s.setup_bytes[0] > 0))
}

/// The online rounds of one query's `steps` as the channel counts them, when a flight
/// of party 0's precedes it (`after_p0`): the set-up's masked weights before the first
/// query, the previous query's last output before every later one (every query ends
/// with party 0 revealing to the client), so that party 0's first message of the query
/// travels in the same round. Without it (a first query with no set-up), the pattern is
/// replayed from the handshake's exchange.
pub fn query_rounds(steps: &[StepCost], after_p0: bool) -> u64 {
    let mut all = free();
    if after_p0 {
        all.flights.push(Flight::P0);
    }
    let before = all.rounds();
    for s in steps {
        all.flights.extend(s.price.flights.iter().copied());
    }
    all.rounds() - before
}

/// The exact price of a run that does the per-model set-up once and then answers
/// several queries (`sizes[q]` examples each) on it, as [`crate::session::InferenceJob`]
/// runs it:
///
/// - **once per run** ([`ServingCost::setup`]): each A dense/conv layer's weight mask
///   `U` (a demand request, party 0's seed: no dealer bytes) and party 0's masked weight
///   `W − U`, sent once in the set-up phase; the circuits of the B/Y layers (local,
///   from the public architecture);
/// - **per query** ([`ServingCost::query_steps`]): everything else — the
///   plaintext-weight products' `V` and shares of `f(V, U)`, Beaver triples, truncation
///   pairs, AND triples, random OTs, daBits — each dealt for that query and consumed by
///   it alone, in query order after the set-up's masks.
#[derive(Clone, Debug, PartialEq)]
pub struct ServingCost {
    /// The set-up steps (paid once).
    pub setup: Vec<StepCost>,
    /// The examples of each query, in order.
    pub sizes: Vec<usize>,
    /// The online steps of a query of each distinct size.
    per_size: Vec<(usize, Vec<StepCost>)>,
}

impl ServingCost {
    /// The price of answering queries of `sizes` examples under `a` after one set-up.
    ///
    /// # Errors
    /// [`Error::Plan`] if there is no query, a query of 0 examples, or the assignment
    /// does not fit the model; circuit errors.
    pub fn new<R: Ring>(model: &FixedModel<R>, a: &Assignment, sizes: &[usize]) -> Result<Self> {
        if sizes.is_empty() || sizes.contains(&0) {
            return Err(Error::Plan(format!(
                "queries of {sizes:?} examples: at least one query, each of at least one example"
            )));
        }
        let mut setup = None;
        let mut per_size: Vec<(usize, Vec<StepCost>)> = Vec::new();
        for &n in sizes {
            if per_size.iter().any(|(m, _)| *m == n) {
                continue;
            }
            let program = crate::program::lower(model, a, n)?;
            setup.get_or_insert_with(|| program.setup.clone());
            let online = program
                .steps
                .iter()
                .flat_map(|s| s.costs.iter().cloned())
                .collect();
            per_size.push((n, online));
        }
        Ok(ServingCost {
            setup: setup.unwrap_or_default(),
            sizes: sizes.to_vec(),
            per_size,
        })
    }

    /// The online steps of query `q` (empty if there is no such query).
    pub fn query_steps(&self, q: usize) -> &[StepCost] {
        self.sizes
            .get(q)
            .and_then(|n| self.per_size.iter().find(|(m, _)| m == n))
            .map_or(&[], |(_, s)| s.as_slice())
    }

    /// The bytes each party sends in the set-up phase (party 0's masked weights),
    /// besides the session's handshake.
    pub fn setup_bytes(&self) -> [u64; 2] {
        self.setup.iter().fold([0, 0], |acc, s| {
            [acc[0] + s.setup_bytes[0], acc[1] + s.setup_bytes[1]]
        })
    }

    /// The set-up phase's rounds: one flight of party 0's if it sends anything.
    pub fn setup_rounds(&self) -> u64 {
        u64::from(self.setup_bytes() != [0, 0])
    }

    /// The rounds query `q` adds to the run ([`query_rounds`]).
    pub fn query_rounds(&self, q: usize) -> u64 {
        query_rounds(self.query_steps(q), q > 0 || self.setup_rounds() > 0)
    }

    /// The online bytes each party sends in query `q`.
    pub fn query_bytes(&self, q: usize) -> [u64; 2] {
        total_price(self.query_steps(q)).bytes_sent
    }

    /// The correlations of the set-up (the weight masks, in layer order).
    pub fn setup_demand(&self) -> Demand {
        let mut d = Demand::new();
        for s in &self.setup {
            d.extend(&s.price.demand);
        }
        d
    }

    /// The correlations query `q` consumes, in order.
    pub fn query_demand(&self, q: usize) -> Demand {
        total_price(self.query_steps(q)).demand
    }

    /// The run's whole demand: the set-up's, then every query's in order.
    pub fn demand(&self) -> Demand {
        let mut d = self.setup_demand();
        for q in 0..self.sizes.len() {
            d.extend(&self.query_demand(q));
        }
        d
    }

    /// How many queries like query 0 one set-up serves within a material budget of
    /// `budget` bytes: as many as fit the correlations one run deals before its first
    /// query — party 1's corrections from the dealer (what it receives, and keeps on
    /// disk above 1 GiB), or with the OT source the items both parties hold in full —
    /// and at least one. Beyond it a run pays the set-up again for the next group of
    /// queries rather than deal a larger offline phase ahead.
    pub fn queries_per_setup<R: Ring>(&self, ot: bool, budget: usize) -> usize {
        let d = self.query_demand(0);
        let per: usize = if ot {
            d.requests().iter().map(|r| r.expanded_bytes::<R>()).sum()
        } else {
            d.correction_bytes::<R>()
        };
        (budget / per.max(1)).max(1)
    }

    /// Every priced step in execution order: the set-up, then each query's.
    pub fn steps(&self) -> Vec<StepCost> {
        let mut out = self.setup.clone();
        for q in 0..self.sizes.len() {
            out.extend(self.query_steps(q).iter().cloned());
        }
        out
    }
}

/// The sum of the online prices of `steps` (bytes, AND gates, demand in order; the
/// flights concatenated — use [`online_rounds`] for the rounds).
pub fn total_price(steps: &[StepCost]) -> Price {
    let mut p = free();
    for s in steps {
        p = p.then(&s.price);
    }
    p
}

/// The correlations a run of `a` on `batch` examples consumes, in order: what both
/// parties request from the dealer.
///
/// # Errors
/// As [`assignment_steps`].
pub fn demand<R: Ring>(model: &FixedModel<R>, a: &Assignment, batch: usize) -> Result<Demand> {
    let mut d = Demand::new();
    for s in assignment_steps(model, a, batch)? {
        d.extend(&s.price.demand);
    }
    Ok(d)
}

#[cfg(test)]
mod tests {
    use std::path::{Path, PathBuf};

    use tessera_core::{FixedPoint, Z64};
    use tessera_models::{FixedModel, load_onnx_file};

    use super::*;

    /// The zoo's MNIST networks and ResNet-20, and the ONNX backend cases with a Conv
    /// (1-D to 3-D, strided, padded, dilated, grouped, depthwise, no bias) or a Linear.
    fn models() -> Vec<PathBuf> {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        let mut v: Vec<PathBuf> = ["minionn_mnist", "lenet5", "resnet20"]
            .iter()
            .map(|n| root.join(format!("models/zoo/{n}.onnx")))
            .collect();
        let cases = root.join("cli/tests/fixtures/onnx-backend/pytorch-converted");
        let mut dirs: Vec<PathBuf> = std::fs::read_dir(&cases)
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| {
                let n = p.file_name().unwrap().to_string_lossy().into_owned();
                n.starts_with("test_Conv") || n.starts_with("test_Linear")
            })
            .collect();
        dirs.sort();
        v.extend(dirs.into_iter().map(|d| d.join("model.onnx")));
        v
    }

    /// The stages priced without gathers give exactly the steps of the full stages that
    /// `ops::{dense, conv}` build for execution, at batch 1 and 3, in B and in Y.
    #[test]
    fn priced_linear_stages_price_like_the_full_ones() {
        let mut checked = 0;
        for f in models() {
            let model = load_onnx_file(&f).unwrap();
            let fm = FixedModel::<Z64>::new(&model, FixedPoint::new(16)).unwrap();
            for (i, fl) in fm.layers().iter().enumerate() {
                for is_b in [true, false] {
                    let Some(priced) = priced_linear(fl, is_b).unwrap() else {
                        continue;
                    };
                    let full = crate::ops::circuits(fl, 16, is_b).unwrap();
                    assert_eq!(priced.len(), full.len(), "{f:?} layer {i}");
                    for (p, q) in priced.iter().zip(&full) {
                        assert_eq!(p.circuit, q.circuit, "{f:?} layer {i}");
                        assert_eq!(p.cost, q.cost, "{f:?} layer {i}");
                        assert_eq!(p.per_example, q.per_example, "{f:?} layer {i}");
                    }
                    let s = if is_b { Sharing::B } else { Sharing::Y };
                    for batch in [1, 3] {
                        let steps = |st: &[BoolLayer]| {
                            bool_layer_steps("l", Some(i), st, s, 64, batch, DEFAULT_WORKING_SET)
                        };
                        assert_eq!(steps(&priced), steps(&full), "{f:?} layer {i} {s:?}");
                    }
                    checked += 1;
                }
            }
        }
        assert!(checked >= 60, "only {checked} layers checked");
    }
}
