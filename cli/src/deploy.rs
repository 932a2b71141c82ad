//! `tessera dealer` and `tessera party`: the dealer and each party as separate
//! processes, possibly on separate machines, running the same session runtime
//! ([`tessera_protocols::runtime`]) and jobs ([`crate::job`]) as the single-process
//! commands.
//!
//! ```text
//! tessera keygen --out keys --name dealer        # and party0, party1; copy the .crt files
//! tessera dealer --keys keys --listen 0.0.0.0:7100
//! tessera party --keys keys --id 0 --session S --listen 0.0.0.0:7000 --dealer D:7100 circuit aes_128.txt --input KEY
//! tessera party --keys keys --id 1 --session S --connect P0:7000 --dealer D:7100 circuit aes_128.txt --input PT
//! ```
//!
//! Every connection is mutual TLS 1.3 with pinned certificates (`--keys DIR`, see
//! [`tessera_core::tls`]), or plain TCP with `--insecure`. A listener (the dealer, a
//! party with `--listen`) accepts any number of connections, handshakes each within a
//! short deadline in its own task, and seats only the expected authenticated roles.
//!
//! Where the correlations come from is `--offline dealer|ot` (default `dealer`): the
//! dealer (`--dealer ADDR`, a third party trusted not to collude with either party), or
//! the two parties alone by OT extension over their own link (no dealer process; more
//! bytes and rounds between the parties):
//!
//! ```text
//! tessera party --keys keys --id 0 --session S --listen 0.0.0.0:7000 --offline ot circuit aes_128.txt --input KEY
//! tessera party --keys keys --id 1 --session S --connect P0:7000 --offline ot circuit aes_128.txt --input PT
//! ```
//!
//! The offline and online phases can also run at different times: `--store FILE` runs
//! the offline phase alone and saves this party's material (from the dealer: no
//! connection to the other party; with `ot`: with the other party, which stores too);
//! `--preprocessed FILE` later runs online from the file, contacting no dealer. OT-made
//! files have the dealer's format and checks, with the correlations in full where a
//! dealer's file has a seed and corrections ([`ot_file`]); [`FileSource`] reads both.
//!
//! A listener bound to port 0 gets a free port; every listening process prints
//! `listening on ADDR` on stderr. Every connect, accept, handshake and receive is
//! bounded by `--timeout`: a process whose peer or dealer disappears, at any point,
//! exits non-zero with a message that names the step and the connection.

use std::collections::HashMap;
use std::collections::hash_map::Entry;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use clap::Args;
use serde::Serialize;
use tessera_core::channel::{accept_tcp, connect_tcp};
use tessera_core::tls::{TlsConfig, handshake_deadline};
use tessera_core::{Channel, ChannelConfig, Metering, NetworkProfile, Role, SessionId};
use tessera_protocols::ot::pairing::{PairingSlot, SetUp};
use tessera_protocols::ot::source::OtSource;
use tessera_protocols::preprocessing::Ledger;
use tessera_protocols::runtime::local::Offline;
use tessera_protocols::runtime::{self, DealerSource, FileSource, OfflineSource, Session};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinSet;

use crate::job::circuit::{CircuitJob, to_json};
use crate::job::model::ModelJob;
use crate::job::shared::SharedModelJob;
use crate::job::train::TrainPartyJob;
use crate::job::{Job, JobCommand, PartyRun};
use crate::pause::{Hooks, Link, PausePoint};
use crate::{CliError, parse_profile};

mod ot_file;

/// The error of a step: `step: source`.
fn step<E: Into<CliError>>(what: impl Into<String>) -> impl FnOnce(E) -> CliError {
    move |e| CliError::Step {
        step: what.into(),
        source: Box::new(e.into()),
    }
}

/// Options of `tessera keygen`.
#[derive(Args, Debug, Clone)]
pub struct KeygenArgs {
    /// The directory to write NAME.key and NAME.crt into (created if needed).
    #[arg(long, value_name = "DIR")]
    out: PathBuf,
    /// The role: party0, party1 or dealer.
    #[arg(long, value_name = "party0|party1|dealer")]
    name: String,
}

/// Runs `tessera keygen`: a fresh Ed25519 key and self-signed certificate for a role.
/// Prints the two paths and the certificate's SHA-256 fingerprint (to compare over a
/// second channel when the certificate is copied to the peers).
///
/// # Errors
/// An unknown role name, an existing key, a directory that cannot be written.
pub fn keygen(args: KeygenArgs) -> Result<(), CliError> {
    let role =
        tessera_core::tls::parse_role(&args.name).map_err(|e| usage(format!("--name: {e}")))?;
    let (key, cert) = tessera_core::tls::keygen(&args.out, role)?;
    let fp = tessera_core::tls::fingerprint(&cert)?;
    println!("key {}", key.display());
    println!("certificate {}", cert.display());
    println!("sha256 {fp}");
    eprintln!(
        "keep {} on {role}'s machine only; copy {} into the --keys directory of each peer of {role}",
        key.display(),
        cert.display()
    );
    Ok(())
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
    /// Key directory: this role's key and certificate (dealer.key, dealer.crt) and the
    /// pinned certificates of the parties (party0.crt, party1.crt); see `tessera
    /// keygen`. Every connection is mutual TLS 1.3 with those certificates only.
    #[arg(long, value_name = "DIR")]
    keys: Option<PathBuf>,
    /// Plain TCP instead of TLS: neither encrypted nor authenticated. For experiments on
    /// one trusted machine only.
    #[arg(long)]
    insecure: bool,
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
    /// The dealer's address (with `--offline dealer`, the default).
    #[arg(long, global = true, value_name = "ADDR")]
    dealer: Option<String>,
    /// Where the correlations come from: `dealer` (the dealer at --dealer ADDR, a third
    /// party that must not collude with either party) or `ot` (the two parties alone,
    /// by OT extension over their own link: no dealer, more bytes and rounds). Both
    /// parties must give the same. [default: dealer; `--offline` alone means dealer]
    #[arg(
        long,
        global = true,
        value_name = "dealer|ot",
        num_args = 0..=1,
        default_missing_value = "dealer"
    )]
    offline: Option<Offline>,
    /// Offline phase only: make this party's preprocessing, save it to FILE (mode
    /// 0600) and exit; inputs are not needed. From the dealer: no connection to the
    /// other party. With `--offline ot`: with the other party (--listen/--connect),
    /// which must store too.
    #[arg(long, global = true, value_name = "FILE")]
    store: Option<PathBuf>,
    /// Online phase from a file saved by a --store run (same session, same job; made
    /// by the dealer or by OT); no dealer is contacted. The file is marked consumed
    /// before it is used.
    #[arg(long, global = true, value_name = "FILE")]
    preprocessed: Option<PathBuf>,
    /// With `--offline ot`: keep this party's OT pairing in FILE (mode 0600; it holds
    /// secrets), so that later sessions with the same other party skip the base OTs.
    /// Read if it exists; after a session that had to run the base OTs (no file yet,
    /// or the other party holds another pairing) the new pairing is written to it.
    /// Both parties give one for the pairing to be used.
    #[arg(long, global = true, value_name = "FILE")]
    ot_pairing: Option<PathBuf>,
    /// Network profile applied to this party's outgoing frames: local, lan, wan or
    /// bw=<bits/s>,rtt=<ms>.
    #[arg(long, global = true, default_value = "local", value_parser = parse_profile)]
    network: NetworkProfile,
    /// Compute threads of this party (Yao chunks, GMW batches over 8,192, A-layer products);
    /// results and bytes do not depend on it [default: every core].
    #[arg(long, global = true, value_name = "N", value_parser = crate::parse_threads, default_value_t = tessera_core::Threads::available(), hide_default_value = true)]
    threads: std::num::NonZeroUsize,
    /// Print one JSON object (outputs, metering, predicted metering) instead of the
    /// outputs alone.
    #[arg(long, global = true)]
    json: bool,
    /// Seconds to wait for each connection and each message (each frame).
    #[arg(long, global = true, default_value_t = 30, value_name = "SECS")]
    timeout: u64,
    /// Seconds the whole run may take, from start to outputs.
    #[arg(long, global = true, default_value_t = 3600, value_name = "SECS")]
    deadline: u64,
    /// Key directory: this party's key and certificate (party0.key/.crt or
    /// party1.key/.crt) and the pinned certificates of its peers (the other party's,
    /// dealer.crt); see `tessera keygen`. Every connection is mutual TLS 1.3 with those
    /// certificates only.
    #[arg(long, global = true, value_name = "DIR")]
    keys: Option<PathBuf>,
    /// Plain TCP instead of TLS: neither encrypted nor authenticated. For experiments on
    /// one trusted machine only.
    #[arg(long, global = true)]
    insecure: bool,
    /// The ledger of dealings this party has consumed (default
    /// $XDG_STATE_HOME/tessera/consumed-dealings or ~/.local/state/tessera/consumed-dealings):
    /// a dealing recorded there is refused, so a copy of a consumed preprocessing file
    /// never runs twice.
    #[arg(long, global = true, value_name = "FILE")]
    ledger: Option<PathBuf>,
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
    /// Make the preprocessing, save it, exit.
    Offline { from: Maker, store: PathBuf },
    /// Run online (and, with a dealer or OT, offline first).
    Run { peer: Peer, material: Material },
}

/// Who makes the preprocessing of an offline-only run.
enum Maker {
    /// The dealer at this address.
    Dealer(String),
    /// This party with the other one, by OT extension.
    Ot(Peer),
}

/// Where the online run's preprocessing comes from.
enum Material {
    Dealer(String),
    File(PathBuf),
    Ot,
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
    security: Security,
    ledger: Option<Ledger>,
    deadline: Duration,
    /// `--ot-pairing FILE`: where this party keeps its OT pairing.
    pairing: Option<(PathBuf, PairingSlot)>,
}

/// How a process's connections are secured.
#[derive(Clone)]
enum Security {
    /// Mutual TLS 1.3 with pinned certificates.
    Tls(Arc<TlsConfig>),
    /// Plain TCP (`--insecure`).
    Insecure,
}

/// The security of a process in `role` talking to `peers`, from `--keys` / `--insecure`.
fn security(
    keys: Option<&Path>,
    insecure: bool,
    role: Role,
    peers: &[Role],
) -> Result<Security, CliError> {
    match (keys, insecure) {
        (Some(dir), false) => Ok(Security::Tls(Arc::new(
            TlsConfig::load(dir, role, peers).map_err(|e| usage(format!("--keys: {e}")))?,
        ))),
        (None, true) => {
            eprintln!(
                "WARNING: --insecure: plain TCP, neither encrypted nor authenticated. Anyone on \
                 the path reads the dealer's seeds and the session id, and anyone who connects \
                 first can take a seat. Use it on one trusted machine only; deploy with --keys DIR."
            );
            Ok(Security::Insecure)
        }
        (Some(_), true) => Err(usage("give --keys DIR or --insecure, not both")),
        (None, false) => Err(usage(
            "give --keys DIR (mutual TLS with pinned certificates, made by `tessera keygen`) or \
             --insecure (plain TCP, for experiments on one trusted machine)",
        )),
    }
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
        let peer = || match (&self.listen, &self.connect) {
            (Some(a), None) => Ok(Peer::Listen(a.clone())),
            (None, Some(a)) => Ok(Peer::Connect(a.clone())),
            _ => Err(usage(
                "give exactly one of --listen ADDR and --connect ADDR (how this party \
                 reaches the other one)",
            )),
        };
        let plan = match (self.offline, &self.store) {
            (_, Some(_)) if self.preprocessed.is_some() => {
                return Err(usage(
                    "--store FILE runs the offline phase, --preprocessed FILE the online \
                     phase: give one of them",
                ));
            }
            (None | Some(Offline::Dealer), Some(store)) => {
                if self.listen.is_some() || self.connect.is_some() {
                    return Err(usage(
                        "--store FILE with the dealer talks to the dealer only: give no \
                         --listen or --connect (or give --offline ot to make the \
                         preprocessing with the other party)",
                    ));
                }
                Plan::Offline {
                    from: Maker::Dealer(self.dealer.clone().ok_or_else(|| {
                        usage(
                            "--store FILE needs --dealer ADDR (or --offline ot and the other \
                             party's --listen/--connect)",
                        )
                    })?),
                    store: store.clone(),
                }
            }
            (Some(Offline::Ot), Some(store)) => {
                if self.dealer.is_some() {
                    return Err(usage(
                        "--offline ot needs no dealer: give no --dealer with it",
                    ));
                }
                Plan::Offline {
                    from: Maker::Ot(peer()?),
                    store: store.clone(),
                }
            }
            (Some(Offline::Ot), None) => {
                if self.dealer.is_some() || self.preprocessed.is_some() {
                    return Err(usage(
                        "--offline ot makes the preprocessing with the other party: give no \
                         --dealer or --preprocessed with it",
                    ));
                }
                Plan::Run {
                    peer: peer()?,
                    material: Material::Ot,
                }
            }
            (Some(Offline::Dealer), None) if self.preprocessed.is_some() => {
                return Err(usage(
                    "--preprocessed FILE runs from a file: give no --offline with it",
                ));
            }
            (None | Some(Offline::Dealer), None) => {
                let peer = peer()?;
                let material = match (&self.dealer, &self.preprocessed) {
                    (Some(a), None) => Material::Dealer(a.clone()),
                    (None, Some(f)) => Material::File(f.clone()),
                    _ => {
                        return Err(usage(
                            "give exactly one of --dealer ADDR and --preprocessed FILE (where \
                             the preprocessing comes from), or --offline ot (made with the \
                             other party, no dealer)",
                        ));
                    }
                };
                Plan::Run { peer, material }
            }
        };
        let me = Role::party(id).ok_or_else(|| usage("--id 0|1"))?;
        let mut peers = Vec::new();
        if matches!(
            plan,
            Plan::Run { .. }
                | Plan::Offline {
                    from: Maker::Ot(_),
                    ..
                }
        ) {
            peers.extend(me.other());
        }
        if matches!(
            plan,
            Plan::Offline {
                from: Maker::Dealer(_),
                ..
            } | Plan::Run {
                material: Material::Dealer(_),
                ..
            }
        ) {
            peers.push(Role::Dealer);
        }
        let security = security(self.keys.as_deref(), self.insecure, me, &peers)?;
        let ledger = self
            .ledger
            .clone()
            .map(Ledger::new)
            .or_else(|| Ledger::default_path().map(Ledger::new));
        if ledger.is_none()
            && matches!(
                plan,
                Plan::Run {
                    material: Material::File(_),
                    ..
                }
            )
        {
            return Err(usage(
                "no place for the ledger of consumed dealings ($XDG_STATE_HOME and $HOME are \
                 unset): give --ledger FILE",
            ));
        }
        let by_ot = matches!(
            plan,
            Plan::Run {
                material: Material::Ot,
                ..
            } | Plan::Offline {
                from: Maker::Ot(_),
                ..
            }
        );
        let pairing = match &self.ot_pairing {
            None => None,
            Some(_) if !by_ot => {
                return Err(usage(
                    "--ot-pairing FILE keeps the base OTs of --offline ot: give it with \
                     --offline ot only",
                ));
            }
            Some(path) => {
                // A file that cannot be written would fail the session after its link.
                crate::train::writable(path).map_err(|e| usage(format!("--ot-pairing {e}")))?;
                Some((path.clone(), PairingSlot::file(path, id)?))
            }
        };
        Ok(Opts {
            id,
            session,
            plan,
            cfg: ChannelConfig {
                timeout: Duration::from_secs(self.timeout),
                threads: self.threads,
                ..ChannelConfig::with_profile(self.network)
            },
            network: self.network.to_string(),
            json: self.json,
            hooks: Hooks::new(self.test_pause.clone()),
            security,
            ledger,
            deadline: Duration::from_secs(self.deadline),
            pairing,
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
fn channel<S>(stream: S, cfg: ChannelConfig, hooks: &Hooks, link: Link) -> Channel
where
    S: AsyncRead + AsyncWrite + Send + Unpin + 'static,
{
    let (r, w) = tokio::io::split(stream);
    Channel::from_halves(hooks.wrap(link, r), Box::new(w), cfg)
}

fn nodelay(stream: &TcpStream) -> Result<(), CliError> {
    stream
        .set_nodelay(true)
        .map_err(|e| CliError::Task(format!("setting TCP_NODELAY: {e}")))
}

/// Connects to `peer` (named `who`) at `addr`; with TLS, authenticates it by its pinned
/// certificate (and ourselves by ours) before anything else is sent.
async fn connect(
    addr: &str,
    peer: Role,
    who: &str,
    cfg: ChannelConfig,
    hooks: &Hooks,
    link: Link,
    security: &Security,
) -> Result<Channel, CliError> {
    let what = format!("connecting to {who} at {addr}");
    let s = connect_tcp(addr.to_string(), cfg.timeout)
        .await
        .map_err(step(what.clone()))?;
    nodelay(&s)?;
    match security {
        Security::Insecure => Ok(channel(s, cfg, hooks, link)),
        Security::Tls(tls) => {
            let t = tls
                .connect(s, peer, handshake_deadline(cfg.timeout))
                .await
                .map_err(step(what))?;
            Ok(channel(t, cfg, hooks, link))
        }
    }
}

/// Unauthenticated connections a listener handshakes with at once; more wait in the
/// kernel's backlog.
const MAX_PENDING_HANDSHAKES: usize = 256;

/// Accepts connections on `listener` until one authenticated connection of each role
/// in `expected` is there (or the timeout passes): every connection gets a TLS
/// handshake within a short deadline, in its own task, so idle or hostile connections
/// never hold up the others; a connection that fails its handshake, or authenticates
/// as a role that is not expected (or already seated), is refused and named on stderr.
/// `me` names this process in those messages; `waiting` names the wait in the timeout
/// error, given the roles still missing.
async fn accept_authenticated(
    listener: &TcpListener,
    tls: &TlsConfig,
    expected: &[Role],
    cfg: ChannelConfig,
    hooks: &Hooks,
    me: &str,
    waiting: impl Fn(&[Role]) -> String,
) -> Result<HashMap<Role, Channel>, CliError> {
    let deadline = tokio::time::Instant::now() + cfg.timeout;
    let hs = handshake_deadline(cfg.timeout);
    let mut pending = JoinSet::new();
    let mut seated: HashMap<Role, Channel> = HashMap::new();
    while seated.len() < expected.len() {
        tokio::select! {
            accepted = listener.accept(), if pending.len() < MAX_PENDING_HANDSHAKES => {
                match accepted {
                    Ok((tcp, from)) => {
                        let tls = tls.clone();
                        pending.spawn(async move {
                            let _ = tcp.set_nodelay(true);
                            (from, tls.accept(tcp, hs).await)
                        });
                    }
                    // E.g. out of file descriptors: wait a little rather than spin.
                    Err(e) => {
                        tracing::warn!("accepting a connection: {e}");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                    }
                }
            }
            Some(done) = pending.join_next() => {
                match done {
                    Ok((from, Ok((role, stream)))) => {
                        if expected.contains(&role) {
                            match seated.entry(role) {
                                Entry::Occupied(_) => eprintln!(
                                    "{me}: refused a connection from {from}: {role} is already connected"
                                ),
                                Entry::Vacant(v) => {
                                    let link = if role == Role::Dealer { Link::Dealer } else { Link::Peer };
                                    v.insert(channel(stream, cfg, hooks, link));
                                }
                            }
                        } else {
                            eprintln!("{me}: refused a connection from {from}: it authenticated as {role}, which has no business here");
                        }
                    }
                    Ok((from, Err(e))) => eprintln!("{me}: refused a connection from {from}: {e}"),
                    Err(e) => eprintln!("{me}: a handshake task failed: {e}"),
                }
            }
            () = tokio::time::sleep_until(deadline) => {
                let missing: Vec<Role> = expected.iter().copied().filter(|r| !seated.contains_key(r)).collect();
                return Err(CliError::Step {
                    step: waiting(&missing),
                    source: Box::new(tessera_core::Error::Timeout {
                        what: "waiting for the peer to connect",
                        after: cfg.timeout,
                    }.into()),
                });
            }
        }
    }
    Ok(seated)
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
    let parties = [Role::Party0, Role::Party1];
    let security = security(args.keys.as_deref(), args.insecure, Role::Dealer, &parties)?;
    let listener = listen(&args.listen).await?;
    hooks.reached(PausePoint::Start, &mut []).await?;
    let [a, b]: [Channel; 2] = match &security {
        Security::Insecure => {
            let mut streams = Vec::with_capacity(2);
            for connected in ["no party has", "one party has"] {
                let s = accept_tcp(&listener, cfg.timeout)
                    .await
                    .map_err(step(format!(
                        "dealer: waiting for the parties to connect ({connected} connected)"
                    )))?;
                nodelay(&s)?;
                streams.push(channel(s, cfg, &hooks, Link::Peer));
            }
            streams
                .try_into()
                .map_err(|_| CliError::Task("two connections expected".into()))?
        }
        Security::Tls(tls) => {
            let mut seated =
                accept_authenticated(&listener, tls, &parties, cfg, &hooks, "dealer", |missing| {
                    let connected = match missing.len() {
                        2 => "no party has",
                        _ => "one party has",
                    };
                    format!("dealer: waiting for the parties to connect ({connected} connected)")
                })
                .await?;
            match (seated.remove(&Role::Party0), seated.remove(&Role::Party1)) {
                (Some(a), Some(b)) => [a, b],
                _ => return Err(CliError::Task("two parties expected".into())),
            }
        }
    };
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
    let run = async {
        match &args.job {
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
            JobCommand::SharedModel(a) => {
                let job = SharedModelJob::from_args(a)?;
                let inputs = job.party_inputs(id, a, !offline)?;
                drive(&o, job, inputs).await
            }
            JobCommand::Train(a) => {
                let job = TrainPartyJob::from_args(a)?;
                let inputs = job.party_inputs(id, a, !offline)?;
                drive(&o, job, inputs).await
            }
        }
    };
    let r = match tokio::time::timeout(o.deadline, run).await {
        Ok(r) => r,
        Err(_) => Err(CliError::Usage(format!(
            "the run did not finish within its deadline of {}s (--deadline)",
            o.deadline.as_secs()
        ))),
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

/// The pairing slot of `--ot-pairing`, if given.
fn slot(o: &Opts) -> Option<PairingSlot> {
    o.pairing.as_ref().map(|(_, s)| s.clone())
}

/// What a party that keeps an OT pairing says after its offline phase.
fn report_pairing(o: &Opts) {
    if let Some((path, slot)) = &o.pairing {
        match slot.last() {
            Some(SetUp::Paired) => eprintln!(
                "party {}: OT set-up derived from the pairing in {} (no base OTs)",
                o.id,
                path.display()
            ),
            Some(SetUp::Fresh) => eprintln!(
                "party {}: base OTs run; the new OT pairing is kept in {} for later sessions",
                o.id,
                path.display()
            ),
            None => {}
        }
    }
}

/// The job-independent part of `tessera party`.
async fn drive<J: Job>(o: &Opts, job: J, inputs: J::Input) -> Result<(), CliError> {
    let id = o.id;
    let (cfg, hooks, sec) = (o.cfg, &o.hooks, &o.security);
    match &o.plan {
        Plan::Offline { from, store } => {
            if let Some(dir) = store.parent().filter(|d| !d.as_os_str().is_empty())
                && !dir.is_dir()
            {
                return Err(usage(format!(
                    "--store {}: the directory {} does not exist",
                    store.display(),
                    dir.display()
                )));
            }
            let metering = match from {
                Maker::Dealer(dealer) => {
                    hooks.reached(PausePoint::Start, &mut []).await?;
                    let d = connect(
                        dealer,
                        Role::Dealer,
                        "the dealer",
                        cfg,
                        hooks,
                        Link::Dealer,
                        sec,
                    )
                    .await?;
                    let seat = Session::new(&job, id, o.session)?;
                    // Written to the file as it arrives: never all in memory.
                    runtime::fetch_material_to::<J::Ring>(&seat, d, hooks, store).await?
                }
                Maker::Ot(peer) => {
                    // No ledger: the dealing is recorded when the file is consumed.
                    let seat = Session::new(&job, id, o.session)?.announcing_source();
                    let peer_end = bind(peer).await?;
                    hooks.reached(PausePoint::Start, &mut []).await?;
                    let ch = connect_peer(&peer_end, o).await?;
                    let mut source = ot_file::OtToFile::new(store, slot(o));
                    let ready = runtime::prepare::<J::Ring>(&seat, ch, &mut source, hooks).await?;
                    ready.into_online(hooks).finish(()).await?.peer
                }
            };
            report_pairing(o);
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
            let mut seat = Session::new(&job, id, o.session)?.announcing_source();
            if let Some(l) = &o.ledger {
                seat = seat.with_ledger(l.clone());
            }
            if let Material::File(path) = material {
                // Refuse an unusable file (or a copy of a consumed one) before anyone
                // connects.
                FileSource::new(path).check(&seat)?;
            }
            let peer_end = bind(peer).await?;
            eprintln!(
                "party {id}: correlations {}",
                match material {
                    Material::Dealer(addr) => format!("from the dealer at {addr}"),
                    Material::File(path) => format!("from the file {}", path.display()),
                    Material::Ot => format!("by OT extension with party {}, no dealer", 1 - id),
                }
            );
            hooks.reached(PausePoint::Start, &mut []).await?;
            let to_peer = connect_peer(&peer_end, o);
            let to_dealer = async {
                match material {
                    Material::Dealer(addr) => connect(
                        addr,
                        Role::Dealer,
                        "the dealer",
                        cfg,
                        hooks,
                        Link::Dealer,
                        sec,
                    )
                    .await
                    .map(Some),
                    Material::File(_) | Material::Ot => Ok(None),
                }
            };
            // Both at once; once the other party is connected, stop waiting for the
            // dealer as soon as it goes away.
            tokio::pin!(to_peer, to_dealer);
            let (mut peer_ch, mut dealer_ch) = (None, None);
            tokio::select! {
                p = &mut to_peer => peer_ch = Some(p?),
                d = &mut to_dealer => dealer_ch = Some(d?),
            }
            let peer_ch = match peer_ch {
                Some(p) => p,
                None => to_peer.await?,
            };
            let mut peer_ch = peer_ch;
            let dealer_ch = match dealer_ch {
                Some(d) => d,
                None => tokio::select! {
                    d = &mut to_dealer => d?,
                    e = peer_ch.closed() => {
                        return Err(CliError::Step {
                            step: format!("waiting for the dealer: the link to party {} ended", 1 - id),
                            source: Box::new(e.into()),
                        });
                    }
                },
            };
            let mut source: Box<dyn OfflineSource<J::Ring>> = match (dealer_ch, material) {
                (Some(d), _) => Box::new(DealerSource::new(d)),
                (None, Material::File(path)) => Box::new(FileSource::new(path)),
                (None, Material::Ot) => {
                    Box::new(slot(o).map_or_else(OtSource::new, OtSource::paired))
                }
                (None, Material::Dealer(_)) => {
                    return Err(CliError::Task("no dealer connection".into()));
                }
            };
            let outcome =
                runtime::run_party(&job, &seat, peer_ch, &mut *source, inputs, hooks).await?;
            job.print(&PartyRun::new(outcome, o.session, &o.network), o.json)?;
            report_pairing(o);
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

/// Binds this party's listener, if it listens for the other party.
async fn bind(peer: &Peer) -> Result<PeerEnd<'_>, CliError> {
    Ok(match peer {
        Peer::Listen(addr) => PeerEnd::Listener(listen(addr).await?, addr),
        Peer::Connect(addr) => PeerEnd::Connect(addr),
    })
}

/// The connection to the other party: accepted (with TLS, the first connection that
/// authenticates as the other party) or connected.
async fn connect_peer(peer_end: &PeerEnd<'_>, o: &Opts) -> Result<Channel, CliError> {
    let (id, other) = (o.id, 1 - o.id);
    let (cfg, hooks, sec) = (o.cfg, &o.hooks, &o.security);
    let other_role = Role::party(other).ok_or_else(|| usage("--id 0|1"))?;
    match peer_end {
        PeerEnd::Listener(l, addr) => {
            let waiting = format!("waiting for party {other} to connect on {addr}");
            match sec {
                Security::Insecure => {
                    let s = accept_tcp(l, cfg.timeout).await.map_err(step(waiting))?;
                    nodelay(&s)?;
                    Ok(channel(s, cfg, hooks, Link::Peer))
                }
                Security::Tls(tls) => {
                    let me = format!("party {id}");
                    let mut seated =
                        accept_authenticated(l, tls, &[other_role], cfg, hooks, &me, |_| {
                            waiting.clone()
                        })
                        .await?;
                    seated
                        .remove(&other_role)
                        .ok_or_else(|| CliError::Task("no peer connection".into()))
                }
            }
        }
        PeerEnd::Connect(addr) => {
            let who = format!("party {other}");
            connect(addr, other_role, &who, cfg, hooks, Link::Peer, sec).await
        }
    }
}
