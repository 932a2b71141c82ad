//! The circuit job: a Bristol Fashion circuit evaluated securely under GMW or Yao, on
//! a batch of instances, with each input value owned by one party.
//!
//! Used by `tessera circuit` (all in one process, every input given on one command
//! line) and by `tessera party ... circuit` (one party per process, each with the
//! inputs it owns). The handshakes check the circuit's SHA-256, the batch, the owners,
//! who learns the outputs, the protocol and the ring.

use std::path::PathBuf;

use clap::{Args, ValueEnum};
use serde::Serialize;
use sha2::{Digest, Sha256};
use tessera_core::channel::HEADER_LEN;
use tessera_core::{
    BitMatrix, BitVec, Channel, ChannelConfig, ConfigSummary, PhaseMeter, Prg, Replay, Ring, Z64,
};
use tessera_protocols::circuit::{Circuit, CircuitCost, bristol, values};
use tessera_protocols::gmw::{self, Gmw, Program, RevealTo};
use tessera_protocols::runtime::Job as RuntimeJob;
use tessera_protocols::yao::{self, ActiveLabels, Evaluator, Garbler, ZeroLabels};
use tessera_protocols::{ArithParty, Demand, Provider, dealer, ot};

use super::{Job, PartyRun, base_config};
use crate::CliError;

/// The ring the dealer's material is made for (GMW and Yao use no ring elements; the
/// preprocessing format names one).
type R = Z64;

/// The secure protocol that evaluates the circuit.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Protocol {
    /// Boolean GMW: XOR shares, one round per AND layer, dealer AND triples.
    Gmw,
    /// Yao's garbled circuits: party 0 garbles, party 1 evaluates; constant rounds;
    /// party 1's inputs through dealer random OTs.
    Yao,
}

/// Who learns the outputs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum RevealArg {
    /// Both parties.
    Both,
    /// Party 0 only.
    #[value(name = "0")]
    P0,
    /// Party 1 only.
    #[value(name = "1")]
    P1,
}

impl From<RevealArg> for RevealTo {
    fn from(r: RevealArg) -> Self {
        match r {
            RevealArg::Both => RevealTo::Both,
            RevealArg::P0 => RevealTo::Party0,
            RevealArg::P1 => RevealTo::Party1,
        }
    }
}

/// The options that define a circuit job (the same at both parties).
#[derive(Args, Debug, Clone)]
pub struct CircuitSpec {
    /// The circuit, in Bristol Fashion.
    pub file: PathBuf,
    /// The protocol.
    #[arg(long, value_enum, default_value = "gmw")]
    pub protocol: Protocol,
    /// The owner (0 or 1) of each input value, comma-separated; by default the first
    /// value belongs to party 0 and the rest to party 1.
    #[arg(long, value_delimiter = ',', value_name = "0|1,...")]
    pub owners: Option<Vec<usize>>,
    /// Number of instances evaluated at once.
    #[arg(long, default_value_t = 1)]
    pub batch: usize,
    /// Who learns the outputs: both, 0 or 1.
    #[arg(long, value_enum, default_value = "both")]
    pub reveal_to: RevealArg,
}

/// `tessera party ... circuit`: the job and this party's own inputs.
#[derive(Args, Debug, Clone)]
pub struct PartyCircuitArgs {
    /// The job.
    #[command(flatten)]
    pub spec: CircuitSpec,
    /// This party's own input values, in the file's order of the values it owns (see
    /// --owners), each a big-endian hex string of its declared width; used in every
    /// instance of the batch.
    #[arg(long = "input", value_name = "HEX", num_args = 1..)]
    pub inputs: Vec<String>,
    /// Draw every input of this party at random instead of --input.
    #[arg(long)]
    pub random: bool,
}

/// Largest wire store a party may allocate (bytes), so that a huge `--batch` fails
/// with a message instead of exhausting memory.
const MAX_STORE_BYTES: usize = 4 << 30;

/// A circuit job, read and checked.
pub struct CircuitJob {
    /// The file it was read from (for reports).
    pub path: String,
    /// The circuit.
    pub circuit: Circuit,
    /// The circuit compiled for GMW.
    program: Program,
    /// SHA-256 of the file, hex.
    pub sha256: String,
    /// Instances.
    pub batch: usize,
    /// The owner of each input value.
    pub owners: Vec<usize>,
    /// Who learns the outputs.
    pub reveal: RevealTo,
    /// The protocol.
    pub protocol: Protocol,
}

impl CircuitJob {
    /// Reads the circuit and checks the options.
    ///
    /// # Errors
    /// An unreadable or malformed file, owners that do not fit the circuit, a batch of
    /// 0 or one whose wire state would exceed the memory limit.
    pub fn from_spec(spec: &CircuitSpec) -> Result<CircuitJob, CliError> {
        let path = spec.file.display().to_string();
        let bytes = std::fs::read(&spec.file)
            .map_err(|e| usage(format!("cannot read circuit file {path}: {e}")))?;
        let circuit = bristol::read(&bytes).map_err(|e| usage(format!("{path}: {e}")))?;
        let sha256 = hex::encode(Sha256::digest(&bytes));
        let k = circuit.num_inputs();
        let owners = match &spec.owners {
            Some(o) => o.clone(),
            None => (0..k).map(|i| usize::from(i > 0)).collect(),
        };
        if owners.len() != k {
            return Err(usage(format!(
                "--owners lists {} owners; the circuit has {k} input values",
                owners.len()
            )));
        }
        if let Some(o) = owners.iter().find(|o| **o > 1) {
            return Err(usage(format!(
                "--owners: party {o} does not exist (0 or 1)"
            )));
        }
        let n = spec.batch;
        if n == 0 {
            return Err(usage("--batch must be at least 1"));
        }
        let store = circuit.num_wires().saturating_mul(n.div_ceil(64) * 8);
        if store > MAX_STORE_BYTES {
            return Err(usage(format!(
                "--batch {n} needs {} MiB of wire state per party for {} wires; the limit is {} MiB",
                store >> 20,
                circuit.num_wires(),
                MAX_STORE_BYTES >> 20
            )));
        }
        Ok(CircuitJob {
            path,
            program: Program::new(&circuit),
            circuit,
            sha256,
            batch: n,
            owners,
            reveal: spec.reveal_to.into(),
            protocol: spec.protocol,
        })
    }

    /// The gate counts and depth.
    pub fn cost(&self) -> CircuitCost {
        self.circuit.cost()
    }

    /// The widths of the input values party `p` owns, in input order.
    fn widths_of(&self, p: usize) -> Vec<usize> {
        self.circuit
            .input_widths()
            .iter()
            .zip(&self.owners)
            .filter(|(_, o)| **o == p)
            .map(|(w, _)| *w)
            .collect()
    }

    /// Party 1's input bits over the batch: the random OTs Yao takes from the dealer.
    fn yao_ot_bits(&self) -> usize {
        self.widths_of(1).iter().sum::<usize>() * self.batch
    }

    /// Every input value (`width × batch`), in the file's order, from one command line
    /// (`tessera circuit`): parsed from `hex` or, with `random`, drawn at random.
    ///
    /// # Errors
    /// A wrong number of values, bad hex, a wrong width, or `--input` with `--random`.
    pub fn all_inputs(&self, hex: &[String], random: bool) -> Result<Vec<BitMatrix>, CliError> {
        let widths = self.circuit.input_widths().to_vec();
        if !random && hex.len() != widths.len() {
            return Err(usage(format!(
                "the circuit has {} input values (widths {widths:?}); {} given with --input \
                 (or use --random)",
                widths.len(),
                hex.len()
            )));
        }
        values_from(&widths, hex, random, self.batch)
    }

    /// The values party `p` owns (`width × batch`, in input order), from its own
    /// command line.
    ///
    /// # Errors
    /// As [`CircuitJob::all_inputs`], counting only the values `p` owns.
    pub fn party_inputs(
        &self,
        p: usize,
        hex: &[String],
        random: bool,
    ) -> Result<Vec<BitMatrix>, CliError> {
        let widths = self.widths_of(p);
        if !random && hex.len() != widths.len() {
            return Err(usage(format!(
                "party {p} owns {} of the circuit's input values (widths {widths:?}, owners {:?}); \
                 {} given with --input (or use --random)",
                widths.len(),
                self.owners,
                hex.len()
            )));
        }
        values_from(&widths, hex, random, self.batch)
    }

    /// The values of `all` (every input, in input order) that party `p` owns.
    pub fn owned_by(&self, all: &[BitMatrix], p: usize) -> Vec<BitMatrix> {
        all.iter()
            .zip(&self.owners)
            .filter(|(_, o)| **o == p)
            .map(|(m, _)| m.clone())
            .collect()
    }

    /// The exact metering of a run, per party, if the protocol has a cost function;
    /// its offline phase as the source named `preprocessing` meters it
    /// ([`PartyOutcome::preprocessing`](tessera_protocols::runtime::PartyOutcome)):
    /// the dealer's traffic, the OT source's price ([`ot::price::price`], on a link of
    /// frames of at most `max_frame` bytes), or nothing (a file, material in memory).
    ///
    /// # Errors
    /// If the cost function fails on this circuit.
    pub fn predicted(
        &self,
        preprocessing: &str,
        max_frame: usize,
    ) -> Result<Option<[Predicted; 2]>, CliError> {
        let Some(mut p) = self.predicted_with_dealer()? else {
            return Ok(None);
        };
        let offline = match preprocessing {
            "dealer" => return Ok(Some(p)),
            "ot" => ot::price::price::<R>(&self.demand()?, max_frame)?.meters,
            _ => [PhaseMeter::default(); 2],
        };
        for (p, m) in p.iter_mut().zip(offline) {
            p.offline = m;
        }
        Ok(Some(p))
    }

    fn predicted_with_dealer(&self) -> Result<Option<[Predicted; 2]>, CliError> {
        match self.protocol {
            Protocol::Gmw => {
                let c = gmw::cost::<R>(&self.circuit, self.batch, &self.owners, self.reveal)?;
                Ok(Some([0, 1].map(|p| Predicted {
                    offline: c.offline[p],
                    online: c.online[p],
                })))
            }
            Protocol::Yao => Ok(Some(self.yao_predicted()?)),
        }
    }

    /// One party of Yao: party 1's inputs by one batch of dealer OTs (first, so that
    /// its corrections open the exchange), party 0's labels in one frame, the tables
    /// streamed, and all outputs decoded together.
    async fn yao_party(
        &self,
        party: usize,
        ch: &mut Channel,
        store: &mut dyn Provider<R>,
        mine: &[&BitMatrix],
    ) -> Result<Option<Vec<BitMatrix>>, CliError> {
        let (n, owners) = (self.batch, &self.owners);
        let (w0, w1) = (self.widths_of(0), self.widths_of(1));
        let ot_bits = self.yao_ot_bits();
        let out_widths = self.circuit.output_widths();
        if party == 0 {
            let mut g = Garbler::new();
            let of1 = if ot_bits > 0 {
                let rots = store.take_random_ots(ot_bits, 0)?;
                g.input_from_evaluator(ch, w1.iter().sum(), n, rots)
                    .await?
                    .split_bits(&w1)?
            } else {
                Vec::new()
            };
            let of0 = if w0.is_empty() {
                Vec::new()
            } else {
                g.input(ch, &BitMatrix::stack(mine, n))
                    .await?
                    .split_bits(&w0)?
            };
            let inputs = in_input_order(owners, of0, of1)?;
            let outs = g
                .eval_program(ch, &self.program, &inputs.iter().collect::<Vec<_>>())
                .await?;
            let all = ZeroLabels::concat(&outs.iter().collect::<Vec<_>>())?;
            let r = g.reveal(ch, &all, self.reveal).await?;
            Ok(r.map(|m| m.split_rows(&out_widths)))
        } else {
            let mut e = Evaluator::new();
            let of1 = if ot_bits > 0 {
                let rots = store.take_random_ots(ot_bits, 0)?;
                e.input(ch, &BitMatrix::stack(mine, n), rots)
                    .await?
                    .split_bits(&w1)?
            } else {
                Vec::new()
            };
            let of0 = if w0.is_empty() {
                Vec::new()
            } else {
                e.input_from_garbler(ch, w0.iter().sum(), n)
                    .await?
                    .split_bits(&w0)?
            };
            let inputs = in_input_order(owners, of0, of1)?;
            let outs = e
                .eval_program(ch, &self.program, &inputs.iter().collect::<Vec<_>>())
                .await?;
            let all = ActiveLabels::concat(&outs.iter().collect::<Vec<_>>())?;
            let r = e.reveal(ch, &all, self.reveal).await?;
            Ok(r.map(|m| m.split_rows(&out_widths)))
        }
    }

    /// The exact metering of [`CircuitJob::yao_party`], from the Yao module's byte
    /// counts.
    fn yao_predicted(&self) -> Result<[Predicted; 2], CliError> {
        let n = self.batch;
        let ot_bits = self.yao_ot_bits();
        let g_bits = self.widths_of(0).iter().sum::<usize>() * n;
        let out_bits = self.circuit.output_bits() * n;
        let mut inputs1 = Vec::new();
        let mut garbler = Vec::new();
        if ot_bits > 0 {
            let [e, g] = yao::evaluator_input_bytes(ot_bits);
            inputs1.push(e);
            garbler.push(g);
        }
        if g_bits > 0 {
            garbler.push(yao::garbler_input_bytes(g_bits));
        }
        garbler.extend(
            yao::table_frames(&self.circuit, n)
                .iter()
                .map(|&b| (HEADER_LEN + 16 * b) as u64),
        );
        let reveal = |p: usize| {
            if self.reveal.learns(1 - p) {
                vec![yao::reveal_bytes(out_bits)]
            } else {
                Vec::new()
            }
        };
        let online = Replay::new()
            .step([&[], &inputs1])
            .step([&garbler, &[]])
            .step([&reveal(0), &reveal(1)])
            .meters();
        let offline = dealer::party_traffic::<R>(&self.demand()?)?;
        Ok([0, 1].map(|p| Predicted {
            offline: offline[p],
            online: online[p],
        }))
    }

    /// The gate counts for reports.
    pub fn gates(&self) -> Gates {
        let c = self.cost();
        Gates {
            and: c.and_gates,
            xor: c.xor_gates,
            inv: c.inv_gates,
            copy: c.copy_gates,
            constant: c.const_gates,
            total: c.gates(),
        }
    }
}

impl RuntimeJob for CircuitJob {
    type Ring = R;
    /// The values this party owns, in input order.
    type Input = Vec<BitMatrix>;
    type Prepared = ();
    /// Every output value (`width × batch`) if this party learns them.
    type Output = Option<Vec<BitMatrix>>;
    type Error = CliError;

    fn config(&self) -> ConfigSummary {
        base_config("circuit", R::NAME)
            .with("protocol", format!("{:?}", self.protocol).to_lowercase())
            .with("circuit_sha256", &self.sha256)
            .with("batch", self.batch)
            .with(
                "owners",
                self.owners
                    .iter()
                    .map(usize::to_string)
                    .collect::<Vec<_>>()
                    .join(","),
            )
            .with("reveal_to", self.reveal)
    }

    fn demand(&self) -> Result<Demand, CliError> {
        Ok(match self.protocol {
            Protocol::Gmw => gmw::demand(&self.circuit, self.batch),
            Protocol::Yao => {
                let mut d = Demand::new();
                let bits = self.yao_ot_bits();
                if bits > 0 {
                    d.random_ots(bits, 0);
                }
                d
            }
        })
    }

    async fn setup(&self, _: &mut ArithParty<R>) -> Result<(), CliError> {
        Ok(())
    }

    async fn online(
        &self,
        p: &mut ArithParty<R>,
        (): (),
        inputs: Vec<BitMatrix>,
    ) -> Result<Option<Vec<BitMatrix>>, CliError> {
        let party = p.party();
        let (ch, store) = p.parts_mut();
        let mine: Vec<&BitMatrix> = inputs.iter().collect();
        match self.protocol {
            Protocol::Gmw => Ok(Gmw::new(party)?
                .run(
                    ch,
                    store,
                    &self.program,
                    &self.owners,
                    &mine,
                    self.batch,
                    self.reveal,
                )
                .await?),
            Protocol::Yao => self.yao_party(party, ch, store, &mine).await,
        }
    }
}

impl Job for CircuitJob {
    fn print(&self, run: &PartyRun<Self::Output>, json: bool) -> Result<(), CliError> {
        let p = run.party;
        let outputs = run.output.as_ref().map(|o| per_instance(o, self.batch));
        if outputs.is_none() {
            eprintln!(
                "party {p} does not learn the outputs (--reveal-to {})",
                self.reveal
            );
        }
        if json {
            let report = PartyReport {
                party: p,
                job: "circuit",
                session: run.session.to_string(),
                circuit: self.path.clone(),
                circuit_sha256: self.sha256.clone(),
                protocol: self.protocol,
                network: run.network.clone(),
                batch: self.batch,
                owners: self.owners.clone(),
                reveal_to: self.reveal.to_string(),
                gates: self.gates(),
                and_depth: self.cost().and_depth,
                outputs,
                time_ms: TimeMs {
                    offline: run.offline.as_secs_f64() * 1e3,
                    online: run.online.as_secs_f64() * 1e3,
                    online_waiting: run.online_waiting.as_secs_f64() * 1e3,
                },
                metering: run.metering,
                predicted: self
                    .predicted(run.preprocessing, ChannelConfig::default().max_frame)?
                    .map(|p2| p2[p]),
            };
            println!("{}", to_json(&report)?);
        } else if let Some(outputs) = outputs {
            print_outputs(&outputs);
        }
        Ok(())
    }
}

/// Prints one output value per line, instance after instance.
pub fn print_outputs(outputs: &[Vec<String>]) {
    for inst in outputs {
        for v in inst {
            println!("{v}");
        }
    }
}

/// Pretty JSON, or an error.
pub fn to_json<T: Serialize>(v: &T) -> Result<String, CliError> {
    serde_json::to_string_pretty(v).map_err(|e| CliError::Task(e.to_string()))
}

/// `m[v]` holds value `v` of every instance; returns, per instance, the hex of each
/// value.
pub fn per_instance(m: &[BitMatrix], n: usize) -> Vec<Vec<String>> {
    let hex: Vec<Vec<String>> = m.iter().map(values::to_hex).collect();
    (0..n)
        .map(|j| hex.iter().map(|v| v[j].clone()).collect())
        .collect()
}

/// Gate counts in a report.
#[derive(Serialize)]
pub struct Gates {
    and: usize,
    xor: usize,
    inv: usize,
    copy: usize,
    #[serde(rename = "const")]
    constant: usize,
    total: usize,
}

/// The predicted metering of one party.
#[derive(Serialize, Clone, Copy)]
pub struct Predicted {
    /// Offline phase.
    pub offline: PhaseMeter,
    /// Online phase.
    pub online: PhaseMeter,
}

/// Times in a report.
#[derive(Serialize)]
pub struct TimeMs {
    /// Offline phase (ms).
    pub offline: f64,
    /// Online phase (ms).
    pub online: f64,
    /// The part of the online phase (ms) the party spent reading from the other party
    /// (waiting for its messages: its computation, the network); for both parties in
    /// one process, that of the party whose online phase took longer.
    pub online_waiting: f64,
}

/// What `tessera party ... --json circuit` prints.
#[derive(Serialize)]
struct PartyReport {
    party: usize,
    job: &'static str,
    session: String,
    circuit: String,
    circuit_sha256: String,
    protocol: Protocol,
    network: String,
    batch: usize,
    owners: Vec<usize>,
    reveal_to: String,
    gates: Gates,
    and_depth: usize,
    /// Per instance, each output value as hex; absent if this party learns nothing.
    outputs: Option<Vec<Vec<String>>>,
    time_ms: TimeMs,
    metering: tessera_core::Metering,
    predicted: Option<Predicted>,
}

/// Puts each party's values back in input order.
fn in_input_order<T>(owners: &[usize], of0: Vec<T>, of1: Vec<T>) -> Result<Vec<T>, CliError> {
    let (mut a, mut b) = (of0.into_iter(), of1.into_iter());
    owners
        .iter()
        .map(|&o| if o == 0 { a.next() } else { b.next() })
        .collect::<Option<Vec<T>>>()
        .ok_or_else(|| CliError::Task("fewer garbled inputs than input values".into()))
}

fn usage(msg: impl Into<String>) -> CliError {
    CliError::Usage(msg.into())
}

/// Values of the given widths over `n` instances: parsed from `hex` (one value each,
/// repeated over the batch) or, with `random`, drawn at random.
fn values_from(
    widths: &[usize],
    hex: &[String],
    random: bool,
    n: usize,
) -> Result<Vec<BitMatrix>, CliError> {
    if random {
        if !hex.is_empty() {
            return Err(usage("--random draws the inputs: give no --input with it"));
        }
        let mut prg = Prg::from_entropy();
        return widths
            .iter()
            .map(|&w| random_value(&mut prg, w, n))
            .collect();
    }
    hex.iter()
        .zip(widths)
        .enumerate()
        .map(|(i, (s, &w))| parse_input(i, s, w).map(|v| replicate(&v, n)))
        .collect()
}

/// Parses `--input` value `i` of `width` bits.
fn parse_input(i: usize, s: &str, width: usize) -> Result<BitMatrix, CliError> {
    let digits = s
        .strip_prefix("0x")
        .or_else(|| s.strip_prefix("0X"))
        .unwrap_or(s);
    let want = 2 * width.div_ceil(8);
    if digits.len() != want {
        return Err(usage(format!(
            "input {i} (`{s}`) has {} hex digits; a {width}-bit value takes {want}",
            digits.len()
        )));
    }
    values::from_hex(&[digits], width).map_err(|e| usage(format!("input {i} (`{s}`): {e}")))
}

/// `value` (one instance) repeated over `n` instances.
fn replicate(value: &BitMatrix, n: usize) -> BitMatrix {
    let mut m = BitMatrix::zeros(value.rows(), n);
    for r in 0..value.rows() {
        if value.get(r, 0) {
            let row = m.row_mut(r);
            row.fill(!0);
            if !n.is_multiple_of(64)
                && let Some(last) = row.last_mut()
            {
                *last = (1u64 << (n % 64)) - 1;
            }
        }
    }
    m
}

fn random_value(prg: &mut Prg, width: usize, n: usize) -> Result<BitMatrix, CliError> {
    let rows: Vec<BitVec> = (0..width).map(|_| BitVec::random(prg, n)).collect();
    Ok(BitMatrix::from_rows(&rows)?)
}
