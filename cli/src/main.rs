//! `tessera`: the command line of the Tessera mixed-protocol 2PC framework.

mod bench;
mod circuit;
mod demo;

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
    /// Runs the benchmark scenarios (A, GMW, Yao, conversions × sizes × networks),
    /// writes results.json, results.md and SVG charts, and optionally checks the exact
    /// counters against a baseline.
    Bench(bench::BenchArgs),
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
    /// A bad argument or input value.
    #[error("{0}")]
    Usage(String),
    /// A party task failed to run to completion.
    #[error("a party task failed: {0}")]
    Task(String),
    /// The parties disagree on a result they must share.
    #[error("consistency check failed: {0}")]
    Check(String),
}

fn parse_profile(s: &str) -> Result<NetworkProfile, String> {
    s.parse().map_err(|e: tessera_core::Error| e.to_string())
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
            Command::Bench(args) => bench::run(args).await,
        }
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
