//! The calibration: compute, transport and dealer coefficients measured on a machine
//! by `tessera calibrate` (`tessera_bench_suite::calibrate`), stored as JSON.
//!
//! Every coefficient is seconds per unit and comes from a measurement of the real
//! protocol pieces; the file also keeps the raw samples the fits were made from, the
//! machine and the load it was measured under. A default calibration measured on the
//! development machine is embedded ([`Calibration::default_embedded`], the file
//! `planner/calibration/default.json`).
//!
//! Loading checks the kind, the schema version and the ring, and that every
//! coefficient is a finite number ≥ 0 (and the ones that cannot be free are > 0): a
//! file from another tool, another schema or corrupted values is an error naming the
//! field.

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::{Error, Result};

/// The `kind` field of a calibration file.
pub const KIND: &str = "tessera-calibration";
/// The schema version this build reads and writes.
pub const SCHEMA: u32 = 1;
/// The ring the coefficients were measured in.
pub const RING: &str = "Z64";

const DEFAULT_JSON: &str = include_str!("../calibration/default.json");

/// Seconds per unit of each local compute counter ([`crate::Work`]).
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Compute {
    /// One GMW AND gate instance, bit-sliced over a large batch, per party: both
    /// parties' AND layers over TCP loopback, less the transport's share.
    pub gmw_and: f64,
    /// One AND gate garbled (half-gates, one core, chunked as the garbler does).
    pub yao_garble_and: f64,
    /// One AND gate evaluated (one core).
    pub yao_eval_and: f64,
    /// One ring multiply-add of a plaintext-weight matrix product.
    pub mac: f64,
    /// One elementwise ring operation.
    pub ring_op: f64,
    /// One random OT derandomised (Yao input of the evaluator, both parties), less the
    /// transport's share.
    pub ot: f64,
    /// One 128-bit label copied.
    pub label: f64,
}

/// Transport costs on the TCP loopback channel (unshaped), charged on top of the
/// network profile's latency and bandwidth.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Transport {
    /// Fixed cost of one round: the messages of a narrow GMW AND layer, waking the
    /// parties and the layer's fixed work (measured on AND layers of 64 gates on one
    /// instance in sequence, unshaped).
    pub message: f64,
    /// The same on a shaped link beyond the profile's one-way latency (also the
    /// shaping timer's wake-ups), measured on `lan`.
    pub message_shaped: f64,
    /// Per byte sent one way while the peer only receives.
    pub byte: f64,
    /// Per byte per direction when both parties send at once (an exchange).
    pub exchange_byte: f64,
}

/// The dealer's cost of one correlation kind: seconds per element (or bit, OT, ...)
/// and per multiply-add of the bilinear map (Beaver and plaintext-weight material).
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KindCost {
    /// Per element of the correlation's tensors (or per bit, OT, daBit).
    pub per_element: f64,
    /// Per multiply-add of the map (0 for kinds without one).
    pub per_mac: f64,
}

/// Offline costs per correlation kind: the dealer's generation and the parties'
/// expansion (the slower party), both measured on the real code.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Dealer {
    /// Beaver triples; elements are those of `A`, `B` and `C`.
    pub beaver: KindCost,
    /// Square pairs; elements of `A`.
    pub square: KindCost,
    /// Truncation pairs; elements of `r`.
    pub trunc: KindCost,
    /// AND triples; per triple (bit).
    pub and_triple: KindCost,
    /// Random OTs; per OT.
    pub random_ot: KindCost,
    /// daBits; per bit.
    pub dabit: KindCost,
    /// Weight masks; elements of the weight.
    pub weight_mask: KindCost,
    /// Plaintext-weight material; elements of `V` and of the output.
    pub plain_weight: KindCost,
    /// Parties expanding their material, for the same kinds (the slower party).
    pub expand: Expand,
}

/// The costs of the dealer-free offline phase ([`tessera_protocols::ot::source`]), all
/// measured on the two parties' own code over TCP loopback: the extension's less
/// moving its bytes (the time model charges bytes and rounds by the network), the
/// vector OLEs' with the copying of their corrections, which on an unshaped link
/// competes with the sender's computing for the same cores (see `tessera calibrate`).
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OtSource {
    /// The link set-up: 128 Chou–Orlandi base OTs and 128 random OTs extended back
    /// (`ot::correlate::link`), both parties (seconds).
    pub base: f64,
    /// Per random OT extended (the extension and its hash, the two parties working in
    /// parallel on extensions both ways, as for AND triples).
    pub per_ot: f64,
    /// Per ring element of a one-way vector OLE of length-1 vectors, its OT included
    /// (ℓ per scalar): extended, the correction computed from the OT string's low bits
    /// by the sender and folded in by the receiver.
    pub ole_element: f64,
    /// The same per element of length-64 vectors (one OT per 64 elements, the OT
    /// strings expanded by the PRG).
    pub ole_expanded: f64,
}

/// The parties' expansion costs per kind (as [`Dealer`]).
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Expand {
    /// See [`Dealer::beaver`].
    pub beaver: KindCost,
    /// See [`Dealer::square`].
    pub square: KindCost,
    /// See [`Dealer::trunc`].
    pub trunc: KindCost,
    /// See [`Dealer::and_triple`].
    pub and_triple: KindCost,
    /// See [`Dealer::random_ot`].
    pub random_ot: KindCost,
    /// See [`Dealer::dabit`].
    pub dabit: KindCost,
    /// See [`Dealer::weight_mask`].
    pub weight_mask: KindCost,
    /// See [`Dealer::plain_weight`].
    pub plain_weight: KindCost,
}

/// The machine a calibration was measured on.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Machine {
    /// CPU model (from `/proc/cpuinfo` where available).
    pub cpu: String,
    /// Logical cores available to the process.
    pub cores: usize,
    /// Operating system and architecture.
    pub os: String,
    /// Load average (1 min) when the measurement started and ended (`/proc/loadavg`;
    /// negative where unavailable).
    pub load: [f64; 2],
}

/// One measured point: the median time of `reps` repetitions at one size.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Sample {
    /// What was measured.
    pub what: String,
    /// The size (elements, gates, bytes, ...).
    pub size: f64,
    /// Median seconds.
    pub median_s: f64,
    /// Repetitions.
    pub reps: usize,
}

/// A calibration file.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Calibration {
    /// Always [`KIND`].
    pub kind: String,
    /// [`SCHEMA`].
    pub schema: u32,
    /// [`RING`].
    pub ring: String,
    /// When it was measured (UTC, ISO 8601).
    pub date: String,
    /// Where.
    pub machine: Machine,
    /// Whether it was a `--quick` measurement (fewer sizes and repetitions).
    pub quick: bool,
    /// Wall-clock seconds the measurement took.
    pub duration_s: f64,
    /// Compute coefficients.
    pub compute: Compute,
    /// Transport coefficients.
    pub transport: Transport,
    /// Offline coefficients.
    pub dealer: Dealer,
    /// The OT source's coefficients (the dealer-free offline phase); absent from
    /// calibrations made before it existed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ot_source: Option<OtSource>,
    /// The raw samples the coefficients were fitted from.
    pub samples: Vec<Sample>,
}

fn check(field: &str, v: f64, positive: bool) -> Result<()> {
    if !v.is_finite() || v < 0.0 || (positive && v == 0.0) {
        return Err(Error::Calibration(format!(
            "{field} is {v}, expected a finite number {} 0",
            if positive { ">" } else { "≥" }
        )));
    }
    Ok(())
}

fn check_kind(name: &str, k: &KindCost) -> Result<()> {
    check(&format!("{name}.per_element"), k.per_element, true)?;
    check(&format!("{name}.per_mac"), k.per_mac, false)
}

impl Calibration {
    /// The embedded default calibration (`planner/calibration/default.json`).
    ///
    /// # Errors
    /// Only if the embedded file does not validate (a build from a broken tree).
    pub fn default_embedded() -> Result<Calibration> {
        Calibration::from_json(DEFAULT_JSON)
            .map_err(|e| Error::Calibration(format!("the embedded default calibration: {e}")))
    }

    /// Parses and validates a calibration.
    ///
    /// # Errors
    /// [`Error::Calibration`] if the text is not a calibration of this schema and
    /// ring, or a coefficient is not a finite non-negative number.
    pub fn from_json(text: &str) -> Result<Calibration> {
        let v: serde_json::Value =
            serde_json::from_str(text).map_err(|e| Error::Calibration(format!("not JSON: {e}")))?;
        match v.get("kind").and_then(|k| k.as_str()) {
            Some(KIND) => {}
            Some(other) => {
                return Err(Error::Calibration(format!(
                    "kind is `{other}`, expected `{KIND}`"
                )));
            }
            None => {
                return Err(Error::Calibration(format!(
                    "no `kind` field: not a {KIND} file"
                )));
            }
        }
        match v.get("schema").and_then(|s| s.as_u64()) {
            Some(s) if s == u64::from(SCHEMA) => {}
            Some(s) => {
                return Err(Error::Calibration(format!(
                    "schema version {s}, this build reads version {SCHEMA} (run `tessera calibrate` again)"
                )));
            }
            None => return Err(Error::Calibration("no schema version".into())),
        }
        let c: Calibration = serde_json::from_value(v)
            .map_err(|e| Error::Calibration(format!("invalid calibration: {e}")))?;
        c.validate()?;
        Ok(c)
    }

    /// Reads and validates a calibration file.
    ///
    /// # Errors
    /// [`Error::Io`] if it cannot be read; otherwise as [`Calibration::from_json`].
    pub fn load(path: impl AsRef<Path>) -> Result<Calibration> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path).map_err(|source| Error::Io {
            path: path.to_path_buf(),
            source,
        })?;
        Calibration::from_json(&text)
            .map_err(|e| Error::Calibration(format!("{}: {e}", path.display())))
    }

    /// Pretty JSON.
    ///
    /// # Errors
    /// Only if serialisation fails (it does not for finite numbers).
    pub fn to_json(&self) -> Result<String> {
        serde_json::to_string_pretty(self)
            .map_err(|e| Error::Calibration(format!("cannot serialise: {e}")))
    }

    /// Checks the invariants [`Calibration::from_json`] checks.
    ///
    /// # Errors
    /// [`Error::Calibration`] naming the first bad field.
    pub fn validate(&self) -> Result<()> {
        if self.kind != KIND {
            return Err(Error::Calibration(format!("kind is `{}`", self.kind)));
        }
        if self.schema != SCHEMA {
            return Err(Error::Calibration(format!(
                "schema version {}",
                self.schema
            )));
        }
        if self.ring != RING {
            return Err(Error::Calibration(format!(
                "measured in ring {}, the planner prices {RING}",
                self.ring
            )));
        }
        let c = &self.compute;
        for (name, v) in [
            ("compute.gmw_and", c.gmw_and),
            ("compute.yao_garble_and", c.yao_garble_and),
            ("compute.yao_eval_and", c.yao_eval_and),
            ("compute.mac", c.mac),
            ("compute.ring_op", c.ring_op),
            ("compute.ot", c.ot),
            ("compute.label", c.label),
            ("transport.message", self.transport.message),
            ("transport.message_shaped", self.transport.message_shaped),
            ("transport.byte", self.transport.byte),
            ("transport.exchange_byte", self.transport.exchange_byte),
        ] {
            check(name, v, true)?;
        }
        if let Some(o) = &self.ot_source {
            for (name, v) in [
                ("ot_source.base", o.base),
                ("ot_source.per_ot", o.per_ot),
                ("ot_source.ole_element", o.ole_element),
                ("ot_source.ole_expanded", o.ole_expanded),
            ] {
                check(name, v, true)?;
            }
        }
        let d = &self.dealer;
        let e = &d.expand;
        for (name, k) in [
            ("dealer.beaver", d.beaver),
            ("dealer.square", d.square),
            ("dealer.trunc", d.trunc),
            ("dealer.and_triple", d.and_triple),
            ("dealer.random_ot", d.random_ot),
            ("dealer.dabit", d.dabit),
            ("dealer.weight_mask", d.weight_mask),
            ("dealer.plain_weight", d.plain_weight),
            ("dealer.expand.beaver", e.beaver),
            ("dealer.expand.square", e.square),
            ("dealer.expand.trunc", e.trunc),
            ("dealer.expand.and_triple", e.and_triple),
            ("dealer.expand.random_ot", e.random_ot),
            ("dealer.expand.dabit", e.dabit),
            ("dealer.expand.weight_mask", e.weight_mask),
            ("dealer.expand.plain_weight", e.plain_weight),
        ] {
            check_kind(name, &k)?;
        }
        for s in &self.samples {
            check(&format!("sample `{}`", s.what), s.median_s, false)?;
        }
        Ok(())
    }

    /// Seconds per AND gate of Yao: garbling and evaluation run in a pipeline, so the
    /// slower of the two sets the pace.
    pub fn yao_and(&self) -> f64 {
        self.compute.yao_garble_and.max(self.compute.yao_eval_and)
    }
}
