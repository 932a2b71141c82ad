//! The time model: predicted online and offline time of a run from its exact step
//! costs ([`StepCost`]), the calibration and a network profile.
//!
//! # Online time of one step
//! With `b₀, b₁` the bytes each party sends, `R` the step's rounds (the Lamport depth
//! of its message pattern, [`Price::rounds`]), `L` the profile's one-way latency and
//! `link(b) = 8b / bandwidth` (0 when unshaped):
//!
//! ```text
//! T = R · (L + m)                                  latency of the message pattern
//!   + X                                            moving the bytes
//!   + C_yao + C_rest − min(C_yao, X_tables)        compute, Yao overlapped with its tables
//!
//! X = max_p max(link(b_p), b_p · x)               if every flight is an exchange (both send at once)
//!     Σ_p   max(link(b_p), b_p · c)               otherwise (one-way flights wait for each other)
//! C_yao  = yao_and · max(garble, eval)             garbler and evaluator run as a pipeline
//! C_rest = gmw_and·g + macs·μ + ring_ops·ρ + ots·o + labels·λ
//! X_tables = max(link(t), t · c),  t = yao_and · 32    the half-gates tables (2 blocks per AND)
//! ```
//!
//! `m`, `c`, `x` are the transport's measured per-message (on a shaped link, what a
//! message costs beyond the latency: the shaping timer's wake-up), per-byte (one way)
//! and per-byte-per-direction (exchange) costs on TCP loopback, the other letters the
//! measured compute coefficients ([`Calibration`]). Moving bytes over a link is the
//! larger of the link's transmission time and the copying through the stack, not their
//! sum: a frame's bytes enter the socket at once and only its last byte waits for the
//! simulated delivery, so the copying overlaps the transmission (as a NIC's DMA does on
//! a real link). Measured on the 2-vCPU EPYC (commit d5cd28a, `tessera bench --filter
//! model/`, medians of 5): with the sum, every `a+y` and GMW plan that moves megabytes
//! was over-predicted by that copy (cnn `a+y` at batch 1 on `lan`: 87.8 ms predicted,
//! 80.0 measured, 77.6 ms of link time for its 9.7 MB; at batch 100 on `wan` the
//! copy, 0.74 s, is the whole difference). Work counts are per party; both
//! parties work in parallel, so a step's compute is one party's. Yao tables stream in
//! 1 MiB frames while garbling continues, so the shorter of garbling and sending
//! the tables is hidden behind the longer.
//!
//! The run's online time is the sum over its steps. Rounds are counted on the whole
//! run as the channel's Lamport clock counts them ([`advance`]): when a step's first
//! message is sent by the party that sent the previous step's last one, the two
//! travel back to back and share a round, so `R` of a step is the rounds it adds to
//! the run, which depends on the previous steps only through the clock skew
//! `d₀ − d₁ ∈ {−1, 0, 1}` ([`Skew`]).
//!
//! # Offline time
//! The dealer generates the whole demand, sends party 0 its seed and party 1 its seed
//! and corrections (bytes from [`dealer::party_traffic`]), and the parties expand
//! their material; the weight masks `W − U` of plaintext-weight layers cross once
//! per session (the steps' `setup_bytes`):
//!
//! ```text
//! T_off = Σ_requests gen(kind)·(elements, macs) + 2·(L + m) + link(d₁) + d₁·c
//!       + Σ_requests expand(kind)·(elements, macs)     (the slower party's cost per kind)
//!       + [setup ≠ 0]·(L + m) + Σ_p (link(s_p) + s_p · c)
//! ```
//!
//! Per request the term is additive, so the planner can charge each step its own
//! share ([`TimeModel::offline_step`]) and the set-up round to the first step with
//! set-up bytes ([`RunState`]); what remains ([`TimeModel::offline_fixed`]: the two
//! dealer rounds, the demand messages and frame headers) depends on the assignment
//! only through a few bytes per request.
//!
//! # Offline time without a dealer
//! With the OT source ([`Offline::Ot`], [`TimeModel::with_source`]) the parties make
//! the demand themselves; its exact pattern (bytes of each party in each step, rounds)
//! comes from [`tessera_protocols::ot::price::price`] and is charged like an online
//! pattern, plus the measured compute ([`crate::calibration::OtSource`]):
//!
//! ```text
//! T_off = base + R·(L + m) + Σ_steps max(X, C) + min(X, C)/k
//!       + set-up bytes and round as above
//! C = ots·per_ot + e₁·ole_element + e_L·ole_expanded     the step's compute
//! ```
//!
//! with `X` the step's transfer (as online: an exchange when both send) and `k` the
//! messages a vector OLE's corrections are cut into (the sender computes the next
//! while the previous travels; `k = 1` for an extension, whose compute and message
//! wait for each other).
//!
//! (`ots`: the random OTs of AND triples and Yao's inputs; `e₁`, `e_L`: vector-OLE
//! correction elements of length-1 and longer vectors, their OTs included). Its
//! bulk batches share rounds across requests, so a step's share
//! ([`TimeModel::offline_step`]) is its demand priced alone less the empty demand's
//! (the link set-up): an upper bound the planner's `total` objective minimises.

use serde::{Deserialize, Serialize};
use tessera_conversions::{Flight, Price};
use tessera_core::{ChannelConfig, NetworkProfile, Replay, Z64};
use tessera_protocols::ot::pairing::SetUp;
use tessera_protocols::preprocessing::Request;
pub use tessera_protocols::runtime::local::Offline;
use tessera_protocols::{Bilinear, BilinearOp, Demand, dealer, ot};

use crate::calibration::{Calibration, KindCost};
use crate::engine::{StepCost, Work};
use crate::{Error, Result};

/// What a plan minimises.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Objective {
    /// Predicted online time.
    #[default]
    Online,
    /// Predicted offline plus online time.
    Total,
    /// Online bytes sent by both parties.
    Bytes,
}

impl std::str::FromStr for Objective {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "online" => Ok(Objective::Online),
            "total" => Ok(Objective::Total),
            "bytes" => Ok(Objective::Bytes),
            other => Err(Error::Usage(format!(
                "unknown objective `{other}` (expected online, total or bytes)"
            ))),
        }
    }
}

impl std::fmt::Display for Objective {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Objective::Online => "online",
            Objective::Total => "total",
            Objective::Bytes => "bytes",
        })
    }
}

/// The predicted online time of one step, by part (seconds).
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct StepTime {
    /// Rounds the step adds to the run.
    pub rounds: u64,
    /// `R · (L + m)`.
    pub latency: f64,
    /// Moving the bytes.
    pub transfer: f64,
    /// Local compute, less what overlaps with the transfer.
    pub compute: f64,
    /// The sum.
    pub total: f64,
}

/// Bytes of the half-gates tables of one AND gate.
pub fn table_bytes_per_and() -> u64 {
    (tessera_protocols::yao::TABLE_BLOCKS_PER_AND * 16) as u64
}

/// The time model for one calibration, one network profile and one offline source.
#[derive(Clone, Copy, Debug)]
pub struct TimeModel<'a> {
    cal: &'a Calibration,
    net: NetworkProfile,
    source: Offline,
    /// How the OT source's set-up is made (fresh base OTs, or from a pairing).
    ot_set_up: SetUp,
}

fn numel(s: &[usize]) -> usize {
    s.iter().product()
}

/// Multiply-adds of a bilinear map on operands of shapes `a`, `b`.
fn macs(op: &BilinearOp, a: &[usize], b: &[usize]) -> f64 {
    let out = op.output_shape(a, b).map_or(0, |s| numel(&s));
    let inner = match op {
        BilinearOp::Elementwise | BilinearOp::Broadcast => 1,
        BilinearOp::MatMul => a.get(1).copied().unwrap_or(0),
        BilinearOp::BatchMatMul => a.get(2).copied().unwrap_or(0),
        // Kernel [O, C/g, …kernel]: C/g·taps products per output element.
        BilinearOp::Conv(_) => b.iter().skip(1).product(),
    };
    (out * inner) as f64
}

/// `(elements, macs)` of a request: the features its generation cost is fitted on.
pub fn request_features(r: &Request) -> (f64, f64) {
    match r {
        Request::Beaver { op, a, b } => {
            let c = op.output_shape(a, b).map_or(0, |s| numel(&s));
            ((numel(a) + numel(b) + c) as f64, macs(op, a, b))
        }
        Request::PlainWeight {
            op, act, weight, ..
        } => {
            let c = op.output_shape(act, weight).map_or(0, |s| numel(&s));
            ((numel(act) + c) as f64, macs(op, act, weight))
        }
        Request::Square { shape } | Request::Trunc { shape, .. } => (numel(shape) as f64, 0.0),
        Request::WeightMask { shape } => (numel(shape) as f64, 0.0),
        Request::AndTriples { bits } => (*bits as f64, 0.0),
        Request::RandomOts { count, .. } | Request::DaBits { count } => (*count as f64, 0.0),
    }
}

fn kind_costs<'c>(cal: &'c Calibration, r: &Request) -> (&'c KindCost, &'c KindCost) {
    let (d, e) = (&cal.dealer, &cal.dealer.expand);
    match r {
        Request::Beaver { .. } => (&d.beaver, &e.beaver),
        Request::Square { .. } => (&d.square, &e.square),
        Request::Trunc { .. } => (&d.trunc, &e.trunc),
        Request::AndTriples { .. } => (&d.and_triple, &e.and_triple),
        Request::RandomOts { .. } => (&d.random_ot, &e.random_ot),
        Request::DaBits { .. } => (&d.dabit, &e.dabit),
        Request::WeightMask { .. } => (&d.weight_mask, &e.weight_mask),
        Request::PlainWeight { .. } => (&d.plain_weight, &e.plain_weight),
    }
}

impl<'a> TimeModel<'a> {
    /// The model for `cal` under `net`, with the dealer as offline source.
    pub fn new(cal: &'a Calibration, net: NetworkProfile) -> Self {
        TimeModel {
            cal,
            net,
            source: Offline::Dealer,
            ot_set_up: SetUp::Fresh,
        }
    }

    /// The same model pricing the OT source's set-up as `set_up` (with
    /// [`SetUp::Paired`]: parties that kept a pairing from an earlier session, no base
    /// OTs; see `tessera_protocols::ot::pairing`).
    pub fn with_ot_set_up(self, set_up: SetUp) -> Self {
        TimeModel {
            ot_set_up: set_up,
            ..self
        }
    }

    /// How the OT source's set-up is priced.
    pub fn ot_set_up(&self) -> SetUp {
        self.ot_set_up
    }

    /// The same model pricing the offline phase of `source`.
    ///
    /// # Errors
    /// [`Error::Calibration`] for the OT source with a calibration that has no OT
    /// coefficients.
    pub fn with_source(self, source: Offline) -> Result<Self> {
        if source == Offline::Ot && self.cal.ot_source.is_none() {
            return Err(Error::Calibration(
                "this calibration has no coefficients of the OT source (made before it \
                 existed): run `tessera calibrate` again"
                    .into(),
            ));
        }
        Ok(TimeModel { source, ..self })
    }

    /// The offline source priced.
    pub fn source(&self) -> Offline {
        self.source
    }

    /// Seconds to move the bytes each party sends in one step of a pattern: an
    /// exchange when both send, else one way.
    fn transfer_bytes(&self, b: [u64; 2]) -> f64 {
        let t = &self.cal.transport;
        if b[0] > 0 && b[1] > 0 {
            b.iter()
                .map(|&x| self.moved(x, t.exchange_byte))
                .fold(0.0, f64::max)
        } else {
            b.iter().map(|&x| self.moved(x, t.byte)).sum()
        }
    }

    /// Predicted seconds of the OT source making `demand` ([`ot::price::price_with`]):
    /// the link set-up (fresh or paired, [`TimeModel::with_ot_set_up`]), the OTs extended and the vector-OLE elements computed, each step's
    /// bytes and the pattern's rounds.
    ///
    /// # Errors
    /// A demand the OT source does not make ([`ot::price::request_vole`]), or a
    /// calibration without OT coefficients.
    pub fn ot_offline(&self, demand: &Demand) -> Result<f64> {
        let o = self.cal.ot_source.as_ref().ok_or_else(|| {
            Error::Calibration("this calibration has no coefficients of the OT source".into())
        })?;
        let p = ot::price::price_with::<Z64>(
            demand,
            ChannelConfig::default().max_frame,
            self.ot_set_up,
        )?;
        let rounds = p.meters[0].rounds.max(p.meters[1].rounds);
        let steps: f64 = p
            .steps
            .iter()
            .map(|s| {
                let x = self.transfer_bytes(s.bytes);
                let c = s.ots as f64 * o.per_ot
                    + s.ole_elements as f64 * o.ole_element
                    + s.ole_expanded as f64 * o.ole_expanded;
                // Corrections cut into k messages: computing the next overlaps sending
                // the previous; one message (or an extension) waits for its compute.
                let k = s.chunks.max(1) as f64;
                x.max(c) + x.min(c) / k
            })
            .sum();
        Ok(o.base * (p.base_ots as f64 / ot::KAPPA as f64) + steps + rounds as f64 * self.round())
    }

    /// The network profile.
    pub fn network(&self) -> NetworkProfile {
        self.net
    }

    /// The calibration.
    pub fn calibration(&self) -> &'a Calibration {
        self.cal
    }

    fn link(&self, bytes: u64) -> f64 {
        self.net.transmit_time(bytes).as_secs_f64()
    }

    /// Seconds to move `bytes` one way on the parties' link at `per_byte` of copying:
    /// the copying overlaps the link's transmission (see the module docs).
    fn moved(&self, bytes: u64, per_byte: f64) -> f64 {
        self.link(bytes).max(bytes as f64 * per_byte)
    }

    /// One round: the one-way latency and a message's fixed cost (on a shaped link,
    /// the shaped one).
    fn round(&self) -> f64 {
        let m = if self.net.is_shaped() {
            self.cal.transport.message_shaped
        } else {
            self.cal.transport.message
        };
        self.net.one_way_latency().as_secs_f64() + m
    }

    /// Seconds of local compute for `w`, Yao and the rest apart.
    pub fn compute(&self, w: &Work) -> (f64, f64) {
        let c = &self.cal.compute;
        let yao = w.yao_and as f64 * self.cal.yao_and();
        let rest = w.gmw_and as f64 * c.gmw_and
            + w.macs as f64 * c.mac
            + w.ring_ops as f64 * c.ring_op
            + w.ots as f64 * c.ot
            + w.labels as f64 * c.label;
        (yao, rest)
    }

    /// Seconds to move a price's bytes (see the module docs).
    pub fn transfer(&self, p: &Price) -> f64 {
        let t = &self.cal.transport;
        let exchange_only = !p.flights.is_empty() && p.flights.iter().all(|f| *f == Flight::Both);
        if exchange_only {
            p.bytes_sent
                .iter()
                .map(|&b| self.moved(b, t.exchange_byte))
                .fold(0.0, f64::max)
        } else {
            p.bytes_sent.iter().map(|&b| self.moved(b, t.byte)).sum()
        }
    }

    /// The predicted online time of one step that starts with the run's Lamport
    /// clocks at `skew` ([`advance`]); returns the time and the skew after it.
    pub fn step(&self, s: &StepCost, skew: Skew) -> (StepTime, Skew) {
        let (rounds, after) = advance(skew, &s.price.flights);
        let latency = rounds as f64 * self.round();
        let transfer = self.transfer(&s.price);
        let (yao, rest) = self.compute(&s.work);
        let tables = (s.work.yao_and * table_bytes_per_and()).min(s.price.bytes_sent[0]);
        let hidden = yao.min(self.moved(tables, self.cal.transport.byte));
        let compute = yao + rest - hidden;
        (
            StepTime {
                rounds,
                latency,
                transfer,
                compute,
                total: latency + transfer + compute,
            },
            after,
        )
    }

    /// The predicted online time of every step of a run, in order.
    pub fn run(&self, steps: &[StepCost]) -> Vec<StepTime> {
        let mut skew = Skew::default();
        steps
            .iter()
            .map(|s| {
                let (t, next) = self.step(s, skew);
                skew = next;
                t
            })
            .collect()
    }

    /// The predicted online time of a run (sum of its steps).
    pub fn online(&self, steps: &[StepCost]) -> f64 {
        self.run(steps).iter().map(|t| t.total).sum()
    }

    /// The offline seconds charged to one step: generating and expanding its
    /// correlations, party 1 receiving its corrections, and its set-up bytes.
    ///
    /// Under the OT source, the step's demand made alone less an empty demand's (the
    /// link set-up and the closing fence, [`TimeModel::offline_fixed`]); infinite for
    /// a demand the OT source does not make.
    pub fn offline_step(&self, s: &StepCost) -> f64 {
        let mut t = match self.source {
            Offline::Ot => match (
                self.ot_offline(&s.price.demand),
                self.ot_offline(&Demand::new()),
            ) {
                (Ok(x), Ok(e)) => x - e,
                _ => f64::INFINITY,
            },
            Offline::Dealer => s
                .price
                .demand
                .requests()
                .iter()
                .map(|r| {
                    let (e, m) = request_features(r);
                    let (gen_cost, exp) = kind_costs(self.cal, r);
                    let c = r.correction_bytes::<Z64>() as u64;
                    e * gen_cost.per_element
                        + m * gen_cost.per_mac
                        + e * exp.per_element
                        + m * exp.per_mac
                        + self.link(c)
                        + c as f64 * self.cal.transport.byte
                })
                .sum(),
        };
        for &b in &s.setup_bytes {
            t += self.link(b) + b as f64 * self.cal.transport.byte;
        }
        t
    }

    /// The offline seconds not charged to any step: the dealer's two rounds, the
    /// demand messages and the correction frames' headers.
    ///
    /// # Errors
    /// If the demand cannot be serialised.
    pub fn offline_fixed(&self, steps: &[StepCost]) -> Result<f64> {
        if self.source == Offline::Ot {
            return self.ot_offline(&Demand::new());
        }
        let demand = total_demand(steps);
        let traffic = dealer::party_traffic::<Z64>(&demand)?;
        let corrections = demand.correction_bytes::<Z64>() as u64;
        let extra = traffic[1].bytes_received.saturating_sub(corrections);
        let demand_msgs = traffic[0].bytes_sent.max(traffic[1].bytes_sent);
        Ok(2.0 * self.round()
            + self.link(extra)
            + extra as f64 * self.cal.transport.byte
            + self.link(demand_msgs)
            + demand_msgs as f64 * self.cal.transport.byte)
    }

    /// The predicted offline time of a run.
    ///
    /// # Errors
    /// If the demand cannot be serialised.
    pub fn offline(&self, steps: &[StepCost]) -> Result<f64> {
        let setup = if steps.iter().any(|s| s.setup_bytes != [0, 0]) {
            self.setup_round()
        } else {
            0.0
        };
        Ok(setup
            + match self.source {
                Offline::Dealer => {
                    steps.iter().map(|s| self.offline_step(s)).sum::<f64>()
                        + self.offline_fixed(steps)?
                }
                // The whole demand priced at once (its bulk batches share their
                // rounds), and each step's set-up bytes.
                Offline::Ot => {
                    self.ot_offline(&total_demand(steps))? + self.setup_bytes_time(steps)
                }
            })
    }

    /// Moving the steps' set-up bytes (party 0's masked weights), without the round.
    fn setup_bytes_time(&self, steps: &[StepCost]) -> f64 {
        steps
            .iter()
            .flat_map(|s| s.setup_bytes)
            .map(|b| self.link(b) + b as f64 * self.cal.transport.byte)
            .sum()
    }

    /// The predicted time of the set-up phase of a run of `steps`: its one round and
    /// the set-up bytes (party 0's masked weights), paid once per session however
    /// many queries the session answers; 0 without set-up bytes.
    pub fn setup_phase(&self, steps: &[StepCost]) -> f64 {
        if steps.iter().all(|s| s.setup_bytes == [0, 0]) {
            return 0.0;
        }
        self.setup_round() + self.setup_bytes_time(steps)
    }

    /// The set-up phase's one round (party 0 sends every masked weight in one
    /// flight), paid once if any step has set-up bytes.
    pub fn setup_round(&self) -> f64 {
        self.round()
    }

    /// A step's contribution to `objective` (seconds, or bytes) when it starts in
    /// `state`, and the state after it.
    pub fn objective_step(
        &self,
        objective: Objective,
        s: &StepCost,
        state: RunState,
    ) -> (f64, RunState) {
        let (t, skew) = self.step(s, state.skew);
        let has_setup = s.setup_bytes != [0, 0];
        let v = match objective {
            Objective::Online => t.total,
            Objective::Total => {
                let first_setup = if has_setup && !state.setup {
                    self.setup_round()
                } else {
                    0.0
                };
                t.total + self.offline_step(s) + first_setup
            }
            Objective::Bytes => (s.price.bytes_sent[0] + s.price.bytes_sent[1]) as f64,
        };
        (
            v,
            RunState {
                skew,
                setup: state.setup || has_setup,
            },
        )
    }

    /// The objective of a run's steps from `state`, as the planner minimises it: the
    /// sum of the steps' contributions; and the state after them. For
    /// [`Objective::Total`] this is the online plus offline time less
    /// [`TimeModel::offline_fixed`], the same for every assignment up to a few bytes
    /// of demand message per request.
    pub fn objective(
        &self,
        objective: Objective,
        steps: &[StepCost],
        state: RunState,
    ) -> (f64, RunState) {
        let mut total = 0.0;
        let mut k = state;
        for s in steps {
            let (v, next) = self.objective_step(objective, s, k);
            total += v;
            k = next;
        }
        (total, k)
    }
}

/// What the cost of the next step depends on besides the step itself: the clock
/// skew, and whether the set-up phase has anything to send already.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RunState {
    /// The parties' clock skew.
    pub skew: Skew,
    /// Whether an earlier step has set-up bytes (the set-up round is paid).
    pub setup: bool,
}

/// The difference between the two parties' Lamport clocks, `d₀ − d₁`, which is
/// always −1, 0 or 1 (0 at the start of a run).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Skew(pub i8);

/// Rounds a message pattern adds to a run whose clocks are at `skew`, and the skew
/// after it: the channel's rule ([`Price::rounds`]) continued across steps, so a
/// step whose first message is sent by the party that sent last adds no round for it.
pub fn advance(skew: Skew, flights: &[Flight]) -> (u64, Skew) {
    let ahead = |s: i8| u32::from(s.max(0).unsigned_abs());
    let before = Replay::after([ahead(skew.0), ahead(skew.0.saturating_neg())]);
    let start = before.rounds();
    let after = Flight::replay(before, flights);
    let [d0, d1] = after.last_sent().map(i64::from);
    let diff = (d0 - d1).clamp(-1, 1) as i8;
    (after.rounds() - start, Skew(diff))
}

/// The demand of a run: its steps' demands in order.
pub fn total_demand(steps: &[StepCost]) -> Demand {
    let mut d = Demand::new();
    for s in steps {
        d.extend(&s.price.demand);
    }
    d
}
