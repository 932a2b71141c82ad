//! `tessera dealer` and `tessera party`: the dealer and each party as separate
//! processes, possibly on separate machines, running the same session runtime
//! ([`tessera_protocols::runtime`]) and jobs ([`crate::job`]) as the single-process
//! commands.
//!
//! ```text
//! tessera dealer --listen 0.0.0.0:7100
//! tessera party --id 0 --session S --listen 0.0.0.0:7000 --dealer D:7100 circuit aes_128.txt --input KEY
//! tessera party --id 1 --session S --connect P0:7000 --dealer D:7100 circuit aes_128.txt --input PT
//! ```
//!
//! The offline and online phases can also run at different times: `--offline --store
//! FILE` fetches this party's material from the dealer and saves it; `--preprocessed
//! FILE` later runs online from the file without contacting the dealer.
//!
//! A listener bound to port 0 gets a free port; every listening process prints
//! `listening on ADDR` on stderr. Every connect, accept, handshake and receive is
//! bounded by `--timeout`: a process whose peer or dealer disappears, at any point,
//! exits non-zero with a message that names the step and the connection.

use std::path::{Path, PathBuf};
use std::time::Duration;

use clap::Args;
use serde::Serialize;
use tessera_core::channel::{accept_tcp, connect_tcp};
use tessera_core::{Channel, ChannelConfig, Metering, NetworkProfile, SessionId};
use tessera_protocols::runtime::{self, DealerSource, FileSource, OfflineSource, Session};
use tokio::net::{TcpListener, TcpStream};

use crate::job::circuit::{CircuitJob, to_json};
use crate::job::model::ModelJob;
use crate::job::{Job, JobCommand, PartyRun};
use crate::pause::{Hooks, Link, PausePoint};
use crate::{CliError, parse_profile};

/// The error of a step: `step: source`.
fn step<E: Into<CliError>>(what: impl Into<String>) -> impl FnOnce(E) -> CliError {
    move |e| CliError::Step {
        step: what.into(),
        source: Box::new(e.into()),
    }
}

/// Options of `tessera dealer`.
#[derive(Args, Debug, Clone)]
pub struct DealerArgs {
    /// Address to listen on for the two parties, e.g. 0.0.0.0:7100 (port 0: any free
    /// port). The bound address is printed on stderr as `listening on ADDR`.
    #[arg(long, value_name = "ADDR")]
    listen: String,
    /// Seconds to wait for each connection and each message.
    #[arg(long, default_value_t = 30, value_name = "SECS")]
    timeout: u64,
    /// Test only: pause at a named point (see `cli/src/pause.rs`).
    #[arg(long, hide = true, value_name = "POINT")]
    test_pause: Option<PausePoint>,
}

/// Options of `tessera party`. They may come before or after the job.
#[derive(Args, Debug, Clone)]
pub struct PartyArgs {
    /// This party: 0 or 1 (party 0 garbles in Yao).
    #[arg(long, global = true, value_name = "0|1")]
    id: Option<usize>,
    /// The session id, the same at both parties: 32 hex digits, e.g. from
    /// `openssl rand -hex 16`. Use a fresh one for every offline phase.
    #[arg(long, global = true, value_name = "HEX")]
    session: Option<String>,
    /// Listen for the other party on ADDR (port 0: any free port; the bound address is
    /// printed on stderr as `listening on ADDR`).
    #[arg(long, global = true, value_name = "ADDR")]
    listen: Option<String>,
    /// Connect to the other party at ADDR (retried until the timeout).
    #[arg(long, global = true, value_name = "ADDR")]
    connect: Option<String>,
    /// The dealer's address.
    #[arg(long, global = true, value_name = "ADDR")]
    dealer: Option<String>,
    /// Offline phase only: fetch this party's preprocessing from the dealer, save it to
    /// --store, and exit (no connection to the other party; inputs are not needed).
    #[arg(long, global = true)]
    offline: bool,
    /// With --offline: the file to save the preprocessing to (mode 0600).
    #[arg(long, global = true, value_name = "FILE")]
    store: Option<PathBuf>,
    /// Online phase from a file saved by an --offline run (same session, same job);
    /// the dealer is not contacted. The file is marked consumed before it is used.
    #[arg(long, global = true, value_name = "FILE")]
    preprocessed: Option<PathBuf>,
    /// Network profile applied to this party's outgoing frames: local, lan, wan or
    /// bw=<bits/s>,rtt=<ms>.
    #[arg(long, global = true, default_value = "local", value_parser = parse_profile)]
    network: NetworkProfile,
    /// Print one JSON object (outputs, metering, predicted metering) instead of the
    /// outputs alone.
    #[arg(long, global = true)]
    json: bool,
    /// Seconds to wait for each connection and each message.
    #[arg(long, global = true, default_value_t = 30, value_name = "SECS")]
    timeout: u64,
    /// Test only: pause at a named point (see `cli/src/pause.rs`).
    #[arg(long, global = true, hide = true, value_name = "POINT")]
    test_pause: Option<PausePoint>,
    /// The job.
    #[command(subcommand)]
    job: JobCommand,
}

/// How this party connects to the other one.
enum Peer {
    Listen(String),
    Connect(String),
}

/// This party's end of the connection to the other one, once listening.
enum PeerEnd<'a> {
    Listener(TcpListener, &'a str),
    Connect(&'a str),
}

/// What this party process does.
enum Plan {
    /// Fetch from the dealer, save, exit.
    Offline { dealer: String, store: PathBuf },
    /// Run online (and, with a dealer, offline first).
    Run { peer: Peer, material: Material },
}

/// Where the online run's preprocessing comes from.
enum Material {
    Dealer(String),
    File(PathBuf),
}

/// Everything the job-independent driver needs.
struct Opts {
    id: usize,
    session: SessionId,
    plan: Plan,
    cfg: ChannelConfig,
    network: String,
    json: bool,
    hooks: Hooks,
}

fn usage(msg: impl Into<String>) -> CliError {
    CliError::Usage(msg.into())
}

impl PartyArgs {
    fn opts(&self) -> Result<Opts, CliError> {
        let id = match self.id {
            Some(id @ (0 | 1)) => id,
            Some(id) => {
                return Err(usage(format!(
                    "--id {id}: party {id} does not exist (0 or 1)"
                )));
            }
            None => return Err(usage("--id 0|1 is required")),
        };
        let session = self
            .session
            .as_deref()
            .ok_or_else(|| {
                usage("--session HEX is required (32 hex digits, the same at both parties)")
            })?
            .parse::<SessionId>()
            .map_err(|e| usage(format!("--session: {e}")))?;
        let plan = if self.offline {
            if self.listen.is_some() || self.connect.is_some() || self.preprocessed.is_some() {
                return Err(usage(
                    "--offline talks to the dealer only: give no --listen, --connect or \
                     --preprocessed with it",
                ));
            }
            Plan::Offline {
                dealer: self
                    .dealer
                    .clone()
                    .ok_or_else(|| usage("--offline needs --dealer ADDR"))?,
                store: self
                    .store
                    .clone()
                    .ok_or_else(|| usage("--offline needs --store FILE"))?,
            }
        } else {
            if self.store.is_some() {
                return Err(usage("--store FILE goes with --offline"));
            }
            let peer = match (&self.listen, &self.connect) {
                (Some(a), None) => Peer::Listen(a.clone()),
                (None, Some(a)) => Peer::Connect(a.clone()),
                _ => {
                    return Err(usage(
                        "give exactly one of --listen ADDR and --connect ADDR (how this party \
                         reaches the other one)",
                    ));
                }
            };
            let material = match (&self.dealer, &self.preprocessed) {
                (Some(a), None) => Material::Dealer(a.clone()),
                (None, Some(f)) => Material::File(f.clone()),
                _ => {
                    return Err(usage(
                        "give exactly one of --dealer ADDR and --preprocessed FILE (where the \
                         preprocessing comes from)",
                    ));
                }
            };
            Plan::Run { peer, material }
        };
        Ok(Opts {
            id,
            session,
            plan,
            cfg: ChannelConfig {
                timeout: Duration::from_secs(self.timeout),
                ..ChannelConfig::with_profile(self.network)
            },
            network: self.network.to_string(),
            json: self.json,
            hooks: Hooks::new(self.test_pause.clone()),
        })
    }
}

/// Binds `addr` and announces the bound address.
async fn listen(addr: &str) -> Result<TcpListener, CliError> {
    let l = TcpListener::bind(addr)
        .await
        .map_err(|e| usage(format!("cannot listen on {addr}: {e}")))?;
    let bound = l
        .local_addr()
        .map_err(|e| usage(format!("cannot listen on {addr}: {e}")))?;
    eprintln!("listening on {bound}");
    Ok(l)
}

/// A channel on `stream`, its reading half observed by the test hooks of `link`.
fn channel(
    stream: TcpStream,
    cfg: ChannelConfig,
    hooks: &Hooks,
    link: Link,
) -> Result<Channel, CliError> {
    stream
        .set_nodelay(true)
        .map_err(|e| CliError::Task(format!("setting TCP_NODELAY: {e}")))?;
    let (r, w) = stream.into_split();
    Ok(Channel::from_halves(hooks.wrap(link, r), Box::new(w), cfg))
}

async fn connect(
    addr: &str,
    who: &str,
    cfg: ChannelConfig,
    hooks: &Hooks,
    link: Link,
) -> Result<Channel, CliError> {
    let s = connect_tcp(addr.to_string(), cfg.timeout)
        .await
        .map_err(step(format!("connecting to {who} at {addr}")))?;
    channel(s, cfg, hooks, link)
}

/// Runs `tessera dealer`: accepts the two parties, serves their preprocessing, exits.
///
/// # Errors
/// A party that does not connect or answer in time, parties that disagree (naming the
/// field), a refused demand, or a transport failure.
pub async fn dealer(args: DealerArgs) -> Result<(), CliError> {
    let cfg = ChannelConfig {
        timeout: Duration::from_secs(args.timeout),
        ..ChannelConfig::default()
    };
    let hooks = Hooks::new(args.test_pause.clone());
    let listener = listen(&args.listen).await?;
    hooks.reached(PausePoint::Start, &mut []).await?;
    let mut streams = Vec::with_capacity(2);
    for connected in ["no party has", "one party has"] {
        let s = accept_tcp(&listener, cfg.timeout)
            .await
            .map_err(step(format!(
                "dealer: waiting for the parties to connect ({connected} connected)"
            )))?;
        streams.push(channel(s, cfg, &hooks, Link::Peer)?);
    }
    let [a, b]: [Channel; 2] = streams
        .try_into()
        .map_err(|_| CliError::Task("two connections expected".into()))?;
    let served = runtime::serve_dealer([a, b], &hooks)
        .await
        .map_err(step("dealer"))?;
    let sent = |m: &Metering| m.setup.bytes_sent + m.offline.bytes_sent;
    eprintln!(
        "dealer: served session {} ({} job): {} bytes to party 0, {} bytes to party 1",
        served.session,
        served.job,
        sent(&served.metering[0]),
        sent(&served.metering[1])
    );
    Ok(())
}

/// Runs `tessera party`.
///
/// # Errors
/// Bad options or inputs, an unusable preprocessing file, or a failure of any step (a
/// handshake mismatch, a peer or dealer that disappears or falls silent past the
/// timeout, a protocol error), named with the step and the connection.
pub async fn party(args: PartyArgs) -> Result<(), CliError> {
    let o = args.opts()?;
    let id = o.id;
    let offline = matches!(o.plan, Plan::Offline { .. });
    let r = match &args.job {
        JobCommand::Circuit(a) => {
            let job = CircuitJob::from_spec(&a.spec)?;
            let inputs = if offline {
                Vec::new()
            } else {
                job.party_inputs(id, &a.inputs, a.random)?
            };
            drive(&o, job, inputs).await
        }
        JobCommand::Model(a) => {
            let job = ModelJob::from_args(a)?;
            let inputs = if offline {
                None
            } else {
                job.party_inputs(id, a)?
            };
            drive(&o, job, inputs).await
        }
    };
    r.map_err(step(format!("party {id}")))
}

#[derive(Serialize)]
struct OfflineReport<'a> {
    party: usize,
    session: String,
    store: &'a Path,
    metering: Metering,
}

/// The job-independent part of `tessera party`.
async fn drive<J: Job>(o: &Opts, job: J, inputs: J::Input) -> Result<(), CliError> {
    let (id, other) = (o.id, 1 - o.id);
    let (cfg, hooks) = (o.cfg, &o.hooks);
    match &o.plan {
        Plan::Offline { dealer, store } => {
            if let Some(dir) = store.parent().filter(|d| !d.as_os_str().is_empty())
                && !dir.is_dir()
            {
                return Err(usage(format!(
                    "--store {}: the directory {} does not exist",
                    store.display(),
                    dir.display()
                )));
            }
            hooks.reached(PausePoint::Start, &mut []).await?;
            let d = connect(dealer, "the dealer", cfg, hooks, Link::Dealer).await?;
            let seat = Session::new(&job, id, o.session)?;
            // Written to the file as it arrives: never all in memory.
            let metering = runtime::fetch_material_to::<J::Ring>(&seat, d, hooks, store).await?;
            eprintln!(
                "party {id}: preprocessing of session {} saved to {}; run the online phase \
                 with --preprocessed {}",
                o.session,
                store.display(),
                store.display()
            );
            if o.json {
                let report = OfflineReport {
                    party: id,
                    session: o.session.to_string(),
                    store,
                    metering,
                };
                println!("{}", to_json(&report)?);
            }
            Ok(())
        }
        Plan::Run { peer, material } => {
            let seat = Session::new(&job, id, o.session)?.announcing_source();
            if let Material::File(path) = material {
                // Refuse an unusable file before anyone connects.
                FileSource::new(path).check(&seat)?;
            }
            let peer_end = match peer {
                Peer::Listen(addr) => PeerEnd::Listener(listen(addr).await?, addr),
                Peer::Connect(addr) => PeerEnd::Connect(addr),
            };
            hooks.reached(PausePoint::Start, &mut []).await?;
            let to_peer = async {
                match &peer_end {
                    PeerEnd::Listener(l, addr) => {
                        let s = accept_tcp(l, cfg.timeout).await.map_err(step(format!(
                            "waiting for party {other} to connect on {addr}"
                        )))?;
                        channel(s, cfg, hooks, Link::Peer)
                    }
                    PeerEnd::Connect(addr) => {
                        connect(addr, &format!("party {other}"), cfg, hooks, Link::Peer).await
                    }
                }
            };
            let to_dealer = async {
                match material {
                    Material::Dealer(addr) => connect(addr, "the dealer", cfg, hooks, Link::Dealer)
                        .await
                        .map(Some),
                    Material::File(_) => Ok(None),
                }
            };
            let (peer_ch, dealer_ch) = tokio::try_join!(to_peer, to_dealer)?;
            let mut source: Box<dyn OfflineSource<J::Ring>> = match (dealer_ch, material) {
                (Some(d), _) => Box::new(DealerSource::new(d)),
                (None, Material::File(path)) => Box::new(FileSource::new(path)),
                (None, Material::Dealer(_)) => {
                    return Err(CliError::Task("no dealer connection".into()));
                }
            };
            let outcome =
                runtime::run_party(&job, &seat, peer_ch, &mut *source, inputs, hooks).await?;
            job.print(&PartyRun::new(outcome, o.session, &o.network), o.json)?;
            // This party's own peak memory (its process holds nothing else).
            if let Some(b) = tessera_core::peak_rss_bytes() {
                eprintln!(
                    "party {id}: peak memory {:.1} MiB",
                    b as f64 / (1u64 << 20) as f64
                );
            }
            Ok(())
        }
    }
}
