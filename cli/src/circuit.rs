//! `tessera circuit`: evaluates a Bristol Fashion circuit securely between two parties
//! and a dealer, all in this process — each in its own task, over three TCP loopback
//! connections (party 0 – party 1, dealer – party 0, dealer – party 1), each opened by
//! a handshake that checks the circuit's SHA-256, the batch size, the owners and the
//! protocol.
//!
//! The job ([`CircuitJob`]) and the session runtime
//! ([`tessera_protocols::runtime`]) are the ones `tessera party` and `tessera dealer`
//! run as separate processes; this command runs them in one process
//! ([`run_local`]), gives every input on one command line, and reports both parties'
//! results side by side (checking that they agree and, with `--verify`, that they
//! match the plaintext interpreter).
//!
//! Progress goes to stderr; stdout carries the outputs only (or one JSON object).

use std::sync::Arc;
use std::time::Duration;

use clap::Args;
use serde::Serialize;
use tessera_core::{ChannelConfig, Metering, NetworkProfile};
use tessera_protocols::runtime::local::{Local, Offline, Transport, run_local};

use crate::job::PartyRun;
use crate::job::circuit::{
    CircuitJob, CircuitSpec, Gates, Predicted, Protocol, TimeMs, per_instance, print_outputs,
    to_json,
};
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
    /// Compute threads of each party (Yao chunks, GMW batches over 8,192, A-layer products);
    /// results and bytes do not depend on it [default: half the cores, as both parties run here].
    #[arg(long, value_name = "N", value_parser = crate::parse_threads, default_value_t = tessera_core::Threads::available_to_each_of_two(), hide_default_value = true)]
    threads: std::num::NonZeroUsize,
    /// Print one JSON object (outputs, gate counts, AND depth, metering per phase and
    /// party, the predicted metering) instead of the outputs alone.
    #[arg(long)]
    json: bool,
    /// Time limit in seconds, for the whole run and for each wait on a connection.
    #[arg(long, default_value_t = 120)]
    timeout: u64,
    /// Where the correlations come from: `dealer` (a dealer task in this process) or
    /// `ot` (the two parties alone, by OT extension over their link).
    #[arg(long, default_value = "dealer")]
    offline: Offline,
    /// Connect the roles by mutual TLS 1.3 on loopback (keys made for the run) instead
    /// of plain TCP: what TLS costs separate processes, measured in one.
    #[arg(long)]
    tls: bool,
}

#[derive(Serialize)]
struct Report {
    circuit: String,
    circuit_sha256: String,
    protocol: Protocol,
    network: String,
    offline: &'static str,
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
        "tessera circuit: {}: {} AND gates in {} layers, batch {}, protocol {:?}, network {}, offline {}",
        args.spec.file.display(),
        cost.and_gates,
        cost.and_depth,
        job.batch,
        job.protocol,
        args.network,
        args.offline.name()
    );
    let timeout = Duration::from_secs(args.timeout);
    let cfg = ChannelConfig {
        timeout,
        threads: args.threads,
        ..ChannelConfig::with_profile(args.network)
    };
    let network = args.network.to_string();
    let transport = if args.tls {
        Transport::Tls
    } else {
        Transport::Tcp
    };
    eprintln!("transport: {}", transport.describe());
    let local = Local {
        announce_source: true,
        offline: args.offline,
        ..Local::new(transport, cfg, timeout)
    };
    let inputs_of = |p| job.owned_by(&inputs, p);
    let run = run_local(job.clone(), [inputs_of(0), inputs_of(1)], &local).await?;
    let [r0, r1] = run
        .parties
        .map(|o| PartyRun::new(o, local.session, &network));

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
        offline: args.offline.name(),
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
            online_waiting: if r0.online >= r1.online { &r0 } else { &r1 }
                .online_waiting
                .as_secs_f64()
                * 1e3,
        },
        metering: [r0.metering, r1.metering].into(),
        predicted: job
            .predicted(args.offline.name(), cfg.max_frame)?
            .map(PerParty::from),
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
