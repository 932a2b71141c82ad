//! `tessera circuit`: evaluates a Bristol Fashion circuit securely between two parties
//! and a dealer, all in this process — each in its own task, over three TCP loopback
//! connections (party 0 – party 1, dealer – party 0, dealer – party 1), each opened by
//! a handshake that checks the circuit's SHA-256, the batch size, the owners and the
//! protocol.
//!
//! Progress goes to stderr; stdout carries the outputs only (or one JSON object).
//! The protocol is a [`Protocol`] value: adding one means a variant, its demand, its
//! party function and (optionally) its predicted cost.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use clap::{Args, ValueEnum};
use serde::Serialize;
use sha2::{Digest, Sha256};
use tessera_core::channel::HEADER_LEN;
use tessera_core::{
    BitMatrix, BitVec, Channel, ChannelConfig, ConfigSummary, Handshake, Metering, NetworkProfile,
    Phase, PhaseMeter, Prg, Ring, Role, SessionId, Z64,
};
use tessera_protocols::circuit::{Circuit, bristol, values};
use tessera_protocols::gmw::{self, Gmw, Program, RevealTo};
use tessera_protocols::yao::{self, ActiveLabels, Evaluator, Garbler, ZeroLabels};
use tessera_protocols::{Demand, Provider, Store, dealer};
use tokio::net::TcpListener;

use crate::{CliError, parse_profile};

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

/// Options of `tessera circuit`.
#[derive(Args, Debug, Clone)]
pub struct CircuitArgs {
    /// The circuit, in Bristol Fashion.
    file: PathBuf,
    /// The protocol.
    #[arg(long, value_enum, default_value = "gmw")]
    protocol: Protocol,
    /// The input values in the file's order, each a big-endian hex string of its
    /// declared width (2·⌈width/8⌉ digits); used in every instance of the batch.
    #[arg(long = "input", value_name = "HEX", num_args = 1..)]
    inputs: Vec<String>,
    /// The owner (0 or 1) of each input value, comma-separated; by default the first
    /// value belongs to party 0 and the rest to party 1.
    #[arg(long, value_delimiter = ',', value_name = "0|1,...")]
    owners: Option<Vec<usize>>,
    /// Number of instances evaluated at once.
    #[arg(long, default_value_t = 1)]
    batch: usize,
    /// Draw every input of every instance at random instead of --input.
    #[arg(long)]
    random: bool,
    /// Check every output against the plaintext interpreter; exit non-zero on any
    /// difference.
    #[arg(long)]
    verify: bool,
    /// Who learns the outputs: both, 0 or 1.
    #[arg(long, value_enum, default_value = "both")]
    reveal_to: RevealArg,
    /// Network profile: local, lan, wan or bw=<bits/s>,rtt=<ms>.
    #[arg(long, default_value = "local", value_parser = parse_profile)]
    network: NetworkProfile,
    /// Print one JSON object (outputs, gate counts, AND depth, metering per phase and
    /// party, the predicted metering) instead of the outputs alone.
    #[arg(long)]
    json: bool,
    /// Time limit in seconds, for the whole run and for each wait on a connection.
    #[arg(long, default_value_t = 120)]
    timeout: u64,
}

/// Largest wire store a party may allocate (bytes), so that a huge `--batch` fails
/// with a message instead of exhausting memory.
const MAX_STORE_BYTES: usize = 4 << 30;

/// Everything all three roles agree on.
struct Job {
    circuit: Circuit,
    /// The circuit compiled for GMW.
    program: Program,
    sha256: String,
    batch: usize,
    owners: Vec<usize>,
    reveal: RevealTo,
    protocol: Protocol,
    session: SessionId,
}

impl Job {
    fn config(&self) -> ConfigSummary {
        ConfigSummary::new()
            .with("job", "circuit")
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
            .with("ring", R::NAME)
    }
}

impl Protocol {
    /// The preprocessing one run consumes.
    fn demand(self, job: &Job) -> Demand {
        match self {
            Protocol::Gmw => gmw::demand(&job.circuit, job.batch),
            Protocol::Yao => {
                let mut d = Demand::new();
                let bits = yao_ot_bits(job);
                if bits > 0 {
                    d.random_ots(bits, 0);
                }
                d
            }
        }
    }

    /// The exact metering of a run, if the protocol has a cost function.
    fn predicted(self, job: &Job) -> Result<Option<[Predicted; 2]>, CliError> {
        match self {
            Protocol::Gmw => {
                let c = gmw::cost::<R>(&job.circuit, job.batch, &job.owners, job.reveal)?;
                Ok(Some([0, 1].map(|p| Predicted {
                    offline: c.offline[p],
                    online: c.online[p],
                })))
            }
            Protocol::Yao => Ok(Some(yao_predicted(job)?)),
        }
    }

    /// One party's online phase: returns the outputs if this party learns them.
    async fn party(
        self,
        party: usize,
        ch: &mut Channel,
        store: &mut Store<R>,
        job: &Job,
        mine: &[BitMatrix],
    ) -> Result<Option<Vec<BitMatrix>>, CliError> {
        let mine: Vec<&BitMatrix> = mine.iter().collect();
        let mine = mine.as_slice();
        match self {
            Protocol::Gmw => Ok(Gmw::new(party)?
                .run(
                    ch,
                    store,
                    &job.program,
                    &job.owners,
                    mine,
                    job.batch,
                    job.reveal,
                )
                .await?),
            Protocol::Yao => yao_party(party, ch, store, job, mine).await,
        }
    }
}

/// The widths of the input values party `p` owns, in input order.
fn widths_of(job: &Job, p: usize) -> Vec<usize> {
    job.circuit
        .input_widths()
        .iter()
        .zip(&job.owners)
        .filter(|(_, o)| **o == p)
        .map(|(w, _)| *w)
        .collect()
}

/// Party 1's input bits over the batch: the random OTs Yao takes from the dealer.
fn yao_ot_bits(job: &Job) -> usize {
    widths_of(job, 1).iter().sum::<usize>() * job.batch
}

/// Stacks `width × n` matrices into one (rows of the first first).
fn stack(ms: &[&BitMatrix], n: usize) -> BitMatrix {
    let mut out = BitMatrix::zeros(ms.iter().map(|m| m.rows()).sum(), n);
    let mut r0 = 0;
    for m in ms {
        for r in 0..m.rows() {
            out.row_mut(r0 + r).copy_from_slice(m.row(r));
        }
        r0 += m.rows();
    }
    out
}

/// Splits the rows of `m` into consecutive matrices of the given heights.
fn split_rows(m: &BitMatrix, heights: &[usize]) -> Vec<BitMatrix> {
    let mut r0 = 0;
    heights
        .iter()
        .map(|&h| {
            let mut out = BitMatrix::zeros(h, m.cols());
            for r in 0..h {
                out.row_mut(r).copy_from_slice(m.row(r0 + r));
            }
            r0 += h;
            out
        })
        .collect()
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

/// One party of Yao: party 1's inputs by one batch of dealer OTs (first, so that
/// its corrections open the exchange), party 0's labels in one frame, the tables
/// streamed, and all outputs decoded together.
async fn yao_party(
    party: usize,
    ch: &mut Channel,
    store: &mut Store<R>,
    job: &Job,
    mine: &[&BitMatrix],
) -> Result<Option<Vec<BitMatrix>>, CliError> {
    let (n, owners) = (job.batch, &job.owners);
    let (w0, w1) = (widths_of(job, 0), widths_of(job, 1));
    let ot_bits = yao_ot_bits(job);
    let out_widths = job.circuit.output_widths();
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
            g.input(ch, &stack(mine, n)).await?.split_bits(&w0)?
        };
        let inputs = in_input_order(owners, of0, of1)?;
        let outs = g
            .eval(ch, &job.circuit, &inputs.iter().collect::<Vec<_>>())
            .await?;
        let all = ZeroLabels::concat(&outs.iter().collect::<Vec<_>>())?;
        let r = g.reveal(ch, &all, job.reveal).await?;
        Ok(r.map(|m| split_rows(&m, &out_widths)))
    } else {
        let mut e = Evaluator::new();
        let of1 = if ot_bits > 0 {
            let rots = store.take_random_ots(ot_bits, 0)?;
            e.input(ch, &stack(mine, n), rots).await?.split_bits(&w1)?
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
            .eval(ch, &job.circuit, &inputs.iter().collect::<Vec<_>>())
            .await?;
        let all = ActiveLabels::concat(&outs.iter().collect::<Vec<_>>())?;
        let r = e.reveal(ch, &all, job.reveal).await?;
        Ok(r.map(|m| split_rows(&m, &out_widths)))
    }
}

/// Replays a message pattern on both parties' Lamport clocks, as the channel keeps
/// them: in each step each party sends its frames (their sizes on the wire), then
/// receives the other's.
fn replay(steps: &[[Vec<u64>; 2]]) -> [PhaseMeter; 2] {
    let mut m = [PhaseMeter::default(); 2];
    let (mut recv_max, mut current) = ([0u64; 2], [0u64; 2]);
    for step in steps {
        let depth = [recv_max[0] + 1, recv_max[1] + 1];
        for p in 0..2 {
            if !step[p].is_empty() {
                current[p] = current[p].max(depth[p]);
                m[p].bytes_sent += step[p].iter().sum::<u64>();
                m[p].messages_sent += step[p].len() as u64;
                let q = 1 - p;
                recv_max[q] = recv_max[q].max(depth[p]);
                current[q] = current[q].max(depth[p]);
                m[q].bytes_received += step[p].iter().sum::<u64>();
                m[q].messages_received += step[p].len() as u64;
            }
        }
    }
    for p in 0..2 {
        m[p].rounds = current[p];
    }
    m
}

/// The exact metering of [`yao_party`], from the Yao module's byte counts.
fn yao_predicted(job: &Job) -> Result<[Predicted; 2], CliError> {
    let n = job.batch;
    let ot_bits = yao_ot_bits(job);
    let g_bits = widths_of(job, 0).iter().sum::<usize>() * n;
    let out_bits = job.circuit.output_bits() * n;
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
        yao::table_frames(&job.circuit, n)
            .iter()
            .map(|&b| (HEADER_LEN + 16 * b) as u64),
    );
    let reveal = |p: usize| {
        if job.reveal.learns(1 - p) {
            vec![yao::reveal_bytes(out_bits)]
        } else {
            Vec::new()
        }
    };
    let online = replay(&[
        [Vec::new(), inputs1],
        [garbler, Vec::new()],
        [reveal(0), reveal(1)],
    ]);
    let offline = dealer::party_traffic::<R>(&job.protocol.demand(job))?;
    Ok([0, 1].map(|p| Predicted {
        offline: offline[p],
        online: online[p],
    }))
}

fn usage(msg: impl Into<String>) -> CliError {
    CliError::Usage(msg.into())
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

/// Reads and checks everything from the command line before any connection opens.
fn prepare(args: &CircuitArgs) -> Result<(Job, Vec<BitMatrix>), CliError> {
    let path = args.file.display();
    let bytes = std::fs::read(&args.file)
        .map_err(|e| usage(format!("cannot read circuit file {path}: {e}")))?;
    let circuit = bristol::read(&bytes).map_err(|e| usage(format!("{path}: {e}")))?;
    let sha256 = hex::encode(Sha256::digest(&bytes));
    let k = circuit.num_inputs();
    let owners = match &args.owners {
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
    let n = args.batch;
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
    let widths = circuit.input_widths().to_vec();
    let inputs = if args.random {
        if !args.inputs.is_empty() {
            return Err(usage("--random draws the inputs: give no --input with it"));
        }
        let mut prg = Prg::from_entropy();
        widths
            .iter()
            .map(|&w| random_value(&mut prg, w, n))
            .collect::<Result<Vec<_>, _>>()?
    } else {
        if args.inputs.len() != k {
            return Err(usage(format!(
                "the circuit has {k} input values (widths {widths:?}); {} given with --input \
                 (or use --random)",
                args.inputs.len()
            )));
        }
        args.inputs
            .iter()
            .zip(&widths)
            .enumerate()
            .map(|(i, (s, &w))| parse_input(i, s, w).map(|v| replicate(&v, n)))
            .collect::<Result<Vec<_>, _>>()?
    };
    Ok((
        Job {
            program: Program::new(&circuit),
            circuit,
            sha256,
            batch: n,
            owners,
            reveal: args.reveal_to.into(),
            protocol: args.protocol,
            session: SessionId::random(),
        },
        inputs,
    ))
}

async fn handshake(ch: &mut Channel, me: Role, peer: Role, job: &Job) -> Result<(), CliError> {
    Handshake {
        me,
        peer,
        session: job.session,
        config: job.config(),
    }
    .run(ch)
    .await?;
    Ok(())
}

/// What a party task returns.
struct PartyResult {
    outputs: Option<Vec<BitMatrix>>,
    metering: Metering,
    offline: Duration,
    online: Duration,
}

async fn party_task(
    p: usize,
    mut peer: Channel,
    mut to_dealer: Channel,
    job: Arc<Job>,
    mine: Vec<BitMatrix>,
) -> Result<PartyResult, CliError> {
    let (me, other) = match p {
        0 => (Role::Party0, Role::Party1),
        _ => (Role::Party1, Role::Party0),
    };
    handshake(&mut to_dealer, me, Role::Dealer, &job).await?;
    handshake(&mut peer, me, other, &job).await?;
    let t0 = Instant::now();
    let demand = job.protocol.demand(&job);
    let material = dealer::fetch::<R>(&mut to_dealer, p, job.session, &demand).await?;
    let mut store = tokio::task::spawn_blocking(move || Store::<R>::from_material(&material))
        .await
        .map_err(|e| CliError::Task(format!("expanding party {p}'s preprocessing: {e}")))??;
    let offline = t0.elapsed();
    peer.set_phase(Phase::Online);
    let t1 = Instant::now();
    let outputs = job
        .protocol
        .party(p, &mut peer, &mut store, &job, &mine)
        .await?;
    let online = t1.elapsed();
    let mut metering = peer.close().await?;
    metering.merge(&to_dealer.close().await?);
    eprintln!(
        "party {p}: offline {:.1} ms, online {:.1} ms",
        offline.as_secs_f64() * 1e3,
        online.as_secs_f64() * 1e3
    );
    Ok(PartyResult {
        outputs,
        metering,
        offline,
        online,
    })
}

async fn dealer_task(
    l0: TcpListener,
    l1: TcpListener,
    cfg: ChannelConfig,
    job: Arc<Job>,
) -> Result<(), CliError> {
    let (mut c0, mut c1) = tokio::try_join!(Channel::accept(&l0, cfg), Channel::accept(&l1, cfg))?;
    tokio::try_join!(
        handshake(&mut c0, Role::Dealer, Role::Party0, &job),
        handshake(&mut c1, Role::Dealer, Role::Party1, &job)
    )?;
    dealer::serve::<R>(job.session, &mut c0, &mut c1).await?;
    tokio::try_join!(c0.close(), c1.close())?;
    Ok(())
}

async fn bind() -> Result<(TcpListener, std::net::SocketAddr), CliError> {
    let l = TcpListener::bind("127.0.0.1:0")
        .await
        .map_err(|e| CliError::Task(format!("binding a loopback port: {e}")))?;
    let a = l
        .local_addr()
        .map_err(|e| CliError::Task(format!("local address: {e}")))?;
    Ok((l, a))
}

fn flatten<T>(r: Result<Result<T, CliError>, tokio::task::JoinError>) -> Result<T, CliError> {
    r.map_err(|e| CliError::Task(e.to_string()))?
}

#[derive(Serialize)]
struct Gates {
    and: usize,
    xor: usize,
    inv: usize,
    copy: usize,
    #[serde(rename = "const")]
    constant: usize,
    total: usize,
}

#[derive(Serialize, Clone, Copy)]
struct Predicted {
    offline: PhaseMeter,
    online: PhaseMeter,
}

#[derive(Serialize)]
struct TimeMs {
    offline: f64,
    online: f64,
}

#[derive(Serialize)]
struct Report {
    circuit: String,
    circuit_sha256: String,
    protocol: Protocol,
    network: String,
    batch: usize,
    owners: Vec<usize>,
    reveal_to: String,
    gates: Gates,
    and_depth: usize,
    inputs: Vec<Vec<String>>,
    outputs: Vec<Vec<String>>,
    verified: Option<bool>,
    time_ms: TimeMs,
    metering: PerParty<Metering>,
    predicted: Option<PerParty<Predicted>>,
}

#[derive(Serialize)]
struct PerParty<T> {
    party0: T,
    party1: T,
}

impl<T> From<[T; 2]> for PerParty<T> {
    fn from([party0, party1]: [T; 2]) -> Self {
        PerParty { party0, party1 }
    }
}

/// `m[v]` holds value `v` of every instance; returns, per instance, the hex of each
/// value.
fn per_instance(m: &[BitMatrix], n: usize) -> Vec<Vec<String>> {
    let hex: Vec<Vec<String>> = m.iter().map(values::to_hex).collect();
    (0..n)
        .map(|j| hex.iter().map(|v| v[j].clone()).collect())
        .collect()
}

/// Runs `tessera circuit`.
///
/// # Errors
/// Bad arguments or inputs, an unreadable or malformed circuit, transport or protocol
/// failures of any role, a timeout, or (with `--verify`) an output that differs from
/// the plaintext result.
pub async fn run(args: CircuitArgs) -> Result<(), CliError> {
    let (job, inputs) = prepare(&args)?;
    let job = Arc::new(job);
    let cost = job.circuit.cost();
    eprintln!(
        "tessera circuit: {}: {} AND gates in {} layers, batch {}, protocol {:?}, network {}",
        args.file.display(),
        cost.and_gates,
        cost.and_depth,
        job.batch,
        job.protocol,
        args.network
    );
    let timeout = Duration::from_secs(args.timeout);
    let cfg = ChannelConfig {
        timeout,
        ..ChannelConfig::with_profile(args.network)
    };
    let (lp, ap) = bind().await?;
    let (ld0, ad0) = bind().await?;
    let (ld1, ad1) = bind().await?;
    let mine = |p: usize| -> Vec<BitMatrix> {
        inputs
            .iter()
            .zip(&job.owners)
            .filter(|(_, o)| **o == p)
            .map(|(m, _)| m.clone())
            .collect()
    };
    let dealer = tokio::spawn(dealer_task(ld0, ld1, cfg, job.clone()));
    let (j0, m0) = (job.clone(), mine(0));
    let p0 = tokio::spawn(async move {
        let (peer, d) = tokio::try_join!(Channel::accept(&lp, cfg), Channel::connect(ad0, cfg))?;
        party_task(0, peer, d, j0, m0).await
    });
    let (j1, m1) = (job.clone(), mine(1));
    let p1 = tokio::spawn(async move {
        let (peer, d) = tokio::try_join!(Channel::connect(ap, cfg), Channel::connect(ad1, cfg))?;
        party_task(1, peer, d, j1, m1).await
    });
    let joined = tokio::time::timeout(timeout, async {
        tokio::try_join!(
            async { flatten(dealer.await) },
            async { flatten(p0.await) },
            async { flatten(p1.await) }
        )
    })
    .await
    .map_err(|_| CliError::Task(format!("the run did not finish within {timeout:?}")))?;
    let ((), r0, r1) = joined?;

    let outputs = match (&r0.outputs, &r1.outputs) {
        (Some(a), Some(b)) if a != b => {
            return Err(CliError::Check(
                "the parties revealed different outputs".into(),
            ));
        }
        (Some(a), _) | (None, Some(a)) => a.clone(),
        (None, None) => return Err(CliError::Check("no party learned the outputs".into())),
    };
    let verified = if args.verify {
        let want = job.circuit.eval(&inputs)?;
        let got = per_instance(&outputs, job.batch);
        let exp = per_instance(&want, job.batch);
        let bad = got
            .iter()
            .zip(&exp)
            .enumerate()
            .flat_map(|(j, (g, e))| {
                g.iter()
                    .zip(e)
                    .enumerate()
                    .filter(|(_, (g, e))| g != e)
                    .map(move |(o, (g, e))| (j, o, g.clone(), e.clone()))
            })
            .collect::<Vec<_>>();
        for (j, o, g, e) in bad.iter().take(5) {
            eprintln!("instance {j}, output {o}: secure {g}, plaintext {e}");
        }
        Some(bad.is_empty())
    } else {
        None
    };
    let report = Report {
        circuit: args.file.display().to_string(),
        circuit_sha256: job.sha256.clone(),
        protocol: job.protocol,
        network: args.network.to_string(),
        batch: job.batch,
        owners: job.owners.clone(),
        reveal_to: job.reveal.to_string(),
        gates: Gates {
            and: cost.and_gates,
            xor: cost.xor_gates,
            inv: cost.inv_gates,
            copy: cost.copy_gates,
            constant: cost.const_gates,
            total: cost.gates(),
        },
        and_depth: cost.and_depth,
        inputs: per_instance(&inputs, job.batch),
        outputs: per_instance(&outputs, job.batch),
        verified,
        time_ms: TimeMs {
            offline: r0.offline.max(r1.offline).as_secs_f64() * 1e3,
            online: r0.online.max(r1.online).as_secs_f64() * 1e3,
        },
        metering: [r0.metering, r1.metering].into(),
        predicted: job.protocol.predicted(&job)?.map(PerParty::from),
    };
    if args.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&report).map_err(|e| CliError::Task(e.to_string()))?
        );
    } else {
        for inst in &report.outputs {
            for v in inst {
                println!("{v}");
            }
        }
    }
    if verified == Some(false) {
        return Err(CliError::Check(
            "outputs differ from the plaintext interpreter".into(),
        ));
    }
    if args.verify {
        eprintln!(
            "verified: all {} outputs of {} instances match the plaintext interpreter",
            job.circuit.num_outputs(),
            job.batch
        );
    }
    Ok(())
}
