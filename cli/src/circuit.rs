//! `tessera circuit`: evaluates a Bristol Fashion circuit securely between two parties
//! and a dealer, all in this process — each in its own task, over three TCP loopback
//! connections (party 0 – party 1, dealer – party 0, dealer – party 1), each opened by
//! a handshake that checks the circuit's SHA-256, the batch size, the owners and the
//! protocol.
//!
//! The job ([`CircuitJob`]) and the roles ([`session::party`], [`session::dealer`]) are
//! the ones `tessera party` and `tessera dealer` run as separate processes; this
//! command only wires them together over loopback, gives every input on one command
//! line, and reports both parties' results side by side (checking that they agree and,
//! with `--verify`, that they match the plaintext interpreter).
//!
//! Progress goes to stderr; stdout carries the outputs only (or one JSON object).

use std::sync::Arc;
use std::time::Duration;

use clap::Args;
use serde::Serialize;
use tessera_core::{BitMatrix, Channel, ChannelConfig, Metering, NetworkProfile, SessionId};
use tokio::net::TcpListener;

use crate::job::circuit::{
    CircuitJob, CircuitSpec, Gates, Predicted, Protocol, TimeMs, per_instance, print_outputs,
    to_json,
};
use crate::job::{Job, PartyRun};
use crate::pause::Hooks;
use crate::session::{self, Seat, Source};
use crate::{CliError, parse_profile};

/// Options of `tessera circuit`.
#[derive(Args, Debug, Clone)]
pub struct CircuitArgs {
    /// The job.
    #[command(flatten)]
    spec: CircuitSpec,
    /// The input values in the file's order, each a big-endian hex string of its
    /// declared width (2·⌈width/8⌉ digits); used in every instance of the batch.
    #[arg(long = "input", value_name = "HEX", num_args = 1..)]
    inputs: Vec<String>,
    /// Draw every input of every instance at random instead of --input.
    #[arg(long)]
    random: bool,
    /// Check every output against the plaintext interpreter; exit non-zero on any
    /// difference.
    #[arg(long)]
    verify: bool,
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

type Run = PartyRun<<CircuitJob as Job>::Output>;

/// One party task: its two connections, then the shared party role.
async fn party_task(
    p: usize,
    peer: impl Future<Output = tessera_core::Result<Channel>>,
    to_dealer: impl Future<Output = tessera_core::Result<Channel>>,
    job: Arc<CircuitJob>,
    session: SessionId,
    network: String,
    mine: Vec<BitMatrix>,
) -> Result<Run, CliError> {
    let (peer, d) = tokio::try_join!(peer, to_dealer)?;
    let seat = Seat {
        party: p,
        session,
        network,
    };
    session::party(
        &*job,
        &seat,
        peer,
        Source::Dealer(Box::new(d)),
        &mine,
        &Hooks::default(),
    )
    .await
}

/// Runs `tessera circuit`.
///
/// # Errors
/// Bad arguments or inputs, an unreadable or malformed circuit, transport or protocol
/// failures of any role, a timeout, or (with `--verify`) an output that differs from
/// the plaintext result.
pub async fn run(args: CircuitArgs) -> Result<(), CliError> {
    let job = CircuitJob::from_spec(&args.spec)?;
    let inputs = job.all_inputs(&args.inputs, args.random)?;
    let job = Arc::new(job);
    let cost = job.cost();
    eprintln!(
        "tessera circuit: {}: {} AND gates in {} layers, batch {}, protocol {:?}, network {}",
        args.spec.file.display(),
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
    let session = SessionId::random();
    let network = args.network.to_string();
    let (lp, ap) = bind().await?;
    let (ld, ad) = bind().await?;
    let dealer = tokio::spawn(async move {
        let (a, b) = tokio::try_join!(Channel::accept(&ld, cfg), Channel::accept(&ld, cfg))?;
        session::dealer([a, b], &Hooks::default()).await
    });
    let p0 = tokio::spawn(party_task(
        0,
        async move { Channel::accept(&lp, cfg).await },
        Channel::connect(ad, cfg),
        job.clone(),
        session,
        network.clone(),
        job.owned_by(&inputs, 0),
    ));
    let p1 = tokio::spawn(party_task(
        1,
        Channel::connect(ap, cfg),
        Channel::connect(ad, cfg),
        job.clone(),
        session,
        network.clone(),
        job.owned_by(&inputs, 1),
    ));
    let joined = tokio::time::timeout(timeout, async {
        tokio::try_join!(
            async { flatten(dealer.await) },
            async { flatten(p0.await) },
            async { flatten(p1.await) }
        )
    })
    .await
    .map_err(|_| CliError::Task(format!("the run did not finish within {timeout:?}")))?;
    let (_, r0, r1) = joined?;

    let outputs = match (&r0.output, &r1.output) {
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
        circuit: job.path.clone(),
        circuit_sha256: job.sha256.clone(),
        protocol: job.protocol,
        network,
        batch: job.batch,
        owners: job.owners.clone(),
        reveal_to: job.reveal.to_string(),
        gates: job.gates(),
        and_depth: cost.and_depth,
        inputs: per_instance(&inputs, job.batch),
        outputs: per_instance(&outputs, job.batch),
        verified,
        time_ms: TimeMs {
            offline: r0.offline.max(r1.offline).as_secs_f64() * 1e3,
            online: r0.online.max(r1.online).as_secs_f64() * 1e3,
        },
        metering: [r0.metering, r1.metering].into(),
        predicted: job.predicted()?.map(PerParty::from),
    };
    if args.json {
        println!("{}", to_json(&report)?);
    } else {
        print_outputs(&report.outputs);
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
