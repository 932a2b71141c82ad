//! `tessera`: the command line of the Tessera mixed-protocol 2PC framework.

mod bench;
mod circuit;
mod demo;
mod deploy;
mod infer;
mod job;
mod outputs;
mod pause;
mod plan;
mod shared;
mod train;

use std::process::ExitCode;

use clap::{Parser, Subcommand};
use tessera_core::NetworkProfile;

/// Tessera: mixed-protocol secure two-party computation (A, B and Y sharings).
#[derive(Parser, Debug)]
#[command(name = "tessera", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// The main job on embedded defaults. Today: two parties over TCP loopback open
    /// secret-shared vectors under a simulated network, and print exact metering.
    Demo(demo::DemoArgs),
    /// Evaluates a Bristol Fashion circuit securely: the dealer and both parties in
    /// this process over TCP loopback; prints each output value as hex.
    Circuit(circuit::CircuitArgs),
    /// Plans the protocol assignment of a model: the optimal plan and the predicted
    /// cost of every baseline.
    Plan(plan::PlanArgs),
    /// Measures the planner's cost coefficients on this machine.
    Calibrate(plan::CalibrateArgs),
    /// Secure inference of an ONNX model (embedded: mlp, cnn) on MNIST digits or an
    /// .npy input under a plan; checks the labels against the plaintext reference.
    Infer(infer::InferArgs),
    /// The dealer as its own process: accepts both parties, checks that they run the
    /// same session and job, serves their preprocessing, and exits.
    Dealer(deploy::DealerArgs),
    /// One party as its own process, for a job: connects to the other party and the
    /// dealer (or makes the correlations with the other party by OT: `--offline ot`;
    /// or runs from a preprocessing file; or only makes one: `--store`) and prints
    /// what it learns.
    Party(deploy::PartyArgs),
    /// Makes a role's key and self-signed certificate for `tessera dealer` / `tessera
    /// party --keys DIR`: writes DIR/NAME.key (mode 0600) and DIR/NAME.crt.
    Keygen(deploy::KeygenArgs),
    /// Runs the benchmark scenarios (A, GMW, Yao, conversions × sizes × networks),
    /// writes results.json, results.md and SVG charts, and optionally checks the exact
    /// counters against a baseline.
    Bench(bench::BenchArgs),
    Train(train::TrainArgs),
    /// Secure inference with a model kept secret-shared (`tessera train
    /// --keep-shared`): each party uses only its share file, the client (party 1) its
    /// digits, and only the client learns their labels.
    InferShared(shared::InferSharedArgs),
}

/// Errors of the command line.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    /// From the core layer.
    #[error(transparent)]
    Core(#[from] tessera_core::Error),
    /// From the protocols layer (circuits, preprocessing, protocol steps).
    #[error(transparent)]
    Protocols(#[from] tessera_protocols::Error),
    /// From the models layer (model loading, plans, secure inference).
    #[error(transparent)]
    Models(#[from] tessera_models::Error),
    /// From the planner (calibration, plans).
    #[error(transparent)]
    Planner(#[from] tessera_planner::Error),
    /// A bad argument or input value.
    #[error("{0}")]
    Usage(String),
    /// A party task failed to run to completion.
    #[error("a party task failed: {0}")]
    Task(String),
    /// The parties disagree on a result they must share.
    #[error("consistency check failed: {0}")]
    Check(String),
    /// A step of a run failed (which step, and with whom, in `step`).
    #[error("{step}: {source}")]
    Step {
        /// The step, e.g. `online phase with party 1`.
        step: String,
        /// Why it failed.
        #[source]
        source: Box<CliError>,
    },
}

/// A failed step of a session: `step: cause`.
impl<E: Into<CliError>> From<tessera_protocols::runtime::SessionError<E>> for CliError {
    fn from(e: tessera_protocols::runtime::SessionError<E>) -> Self {
        CliError::Step {
            step: e.step,
            source: Box::new(e.source.into()),
        }
    }
}

fn parse_profile(s: &str) -> Result<NetworkProfile, String> {
    s.parse().map_err(|e: tessera_core::Error| e.to_string())
}

/// `--threads N`: a positive count of compute threads per party.
fn parse_threads(s: &str) -> Result<std::num::NonZeroUsize, String> {
    match s.parse::<usize>() {
        Ok(0) => Err("a party needs at least 1 thread".into()),
        Ok(n) => std::num::NonZeroUsize::new(n).ok_or_else(|| "at least 1".into()),
        Err(e) => Err(format!("not a thread count: {e}")),
    }
}

fn parse_sigmoid(s: &str) -> Result<tessera_models::SigmoidKind, String> {
    s.parse().map_err(|e: tessera_models::Error| e.to_string())
}

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = rt.block_on(async {
        match cli.command {
            Command::Demo(args) => demo::run(args).await,
            Command::Circuit(args) => circuit::run(args).await,
            Command::Infer(args) => infer::run(args).await,
            Command::Plan(args) => plan::run(args).await,
            Command::Calibrate(args) => plan::calibrate(args).await,
            Command::Dealer(args) => deploy::dealer(args).await,
            Command::Party(args) => deploy::party(args).await,
            Command::Keygen(args) => deploy::keygen(args),
            Command::Bench(args) => bench::run(args).await,
            Command::Train(args) => train::run(args).await,
            Command::InferShared(args) => shared::run(args).await,
        }
    });
    // Do not wait for blocking tasks still running after a failure (a garbling thread
    // whose peer has gone): the process exits now.
    rt.shutdown_background();
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
