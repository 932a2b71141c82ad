//! The training job: private training with each party a process of its own (SecureML's
//! two servers), used by `tessera party ... train`. The examples are held by party 1
//! (`--holders client`: a client that outsources them) or split between the parties
//! (`--holders split`: party 0 the even batches, party 1 the odd ones); the model starts
//! from the public seeded initialisation (or an ONNX file's weights) at party 0. Each
//! party prints what it learns — the per-epoch test accuracy of the parameters opened
//! to it, its time and traffic — and with `--keep-shared FILE` writes its share of the
//! final model, under a model identifier both parties derive from the session, for
//! `tessera party ... shared-model` (or `tessera infer-shared` with both files).
//!
//! The handshakes check the spec's SHA-256 (layers, rate, momentum, batch, …), the
//! plan, the number of examples and epochs, and who learns the parameters.

use std::path::PathBuf;

use clap::Args;
use serde::Serialize;
use sha2::{Digest, Sha256};
use tessera_core::{SessionId, Z64};
use tessera_engine::train::secure::{self, TrainInput, TrainingJob};
use tessera_engine::train::shared::ModelShare;
use tessera_engine::train::{TrainPlan, TrainProgram, TrainSpec, predict};

use super::{Job, PartyRun, print_json};
use crate::CliError;
use crate::train::{Digits, TrainSettings, accuracy, check_holders, reveal_parties, writable};

type R = Z64;

/// Options of `tessera party ... train` (the same at both parties, but `--dataset`
/// and `--keep-shared`).
#[derive(Args, Debug, Clone)]
pub struct PartyTrainArgs {
    #[command(flatten)]
    pub s: TrainSettings,
    /// `a+b` or `a+y`.
    #[arg(long, default_value = "a+b")]
    pub plan: String,
    /// A data holder: `mnist` (the embedded training digits; party 1 with `--holders
    /// client`, both parties with `split`).
    #[arg(long)]
    pub dataset: Option<String>,
    /// Write this party's share of the trained model to FILE.
    #[arg(long, value_name = "FILE")]
    pub keep_shared: Option<PathBuf>,
}

/// A training job, read and checked.
pub struct TrainPartyJob {
    inner: TrainingJob,
    spec: TrainSpec,
    /// The initial parameters (party 0's input).
    init: Vec<Vec<R>>,
    keep_shared: Option<PathBuf>,
    model: String,
}

impl TrainPartyJob {
    /// Lowers the training program from the options.
    ///
    /// # Errors
    /// An unknown model, plan, holder or reveal option; an invalid spec; a directory
    /// for `--keep-shared` that does not exist.
    pub fn from_args(a: &PartyTrainArgs) -> Result<Self, CliError> {
        check_holders(&a.s.holders)?;
        let reveal_to = reveal_parties(&a.s.reveal)?;
        if let Some(path) = &a.keep_shared {
            writable(path)?;
        }
        let (spec, file_init) = a.s.spec()?;
        let plan = TrainPlan::named(&spec, &a.plan)?;
        let prog = TrainProgram::new(&spec, &plan)?;
        let init = match file_init {
            Some(p) => p,
            None => secure::init_params(&prog, a.s.seed),
        };
        let inner = TrainingJob::new(prog, a.s.examples, a.s.epochs, reveal_to)?;
        Ok(TrainPartyJob {
            inner,
            spec,
            init,
            keep_shared: a.keep_shared.clone(),
            model: a.s.model.clone(),
        })
    }

    /// This party's input: its shares of the examples (its own examples, zeros for
    /// the others') and of the initial parameters (party 0 holds them). Empty when only
    /// the offline phase runs.
    ///
    /// # Errors
    /// A data holder without `--dataset mnist`, a party that holds no example given
    /// one, an unknown dataset.
    pub fn party_inputs(
        &self,
        id: usize,
        a: &PartyTrainArgs,
        online: bool,
    ) -> Result<TrainInput, CliError> {
        let (inp, c, bsz) = (self.spec.inputs(), self.spec.classes(), self.spec.batch);
        let n = a.s.examples;
        let holds = a.s.holders == "split" || id == 1;
        let data = match (online, holds, a.dataset.as_deref()) {
            (false, ..) => None,
            (true, true, Some("mnist")) => Some(Digits::load(&self.spec, n)?),
            (true, true, Some(other)) => {
                return Err(CliError::Usage(format!(
                    "unknown dataset `{other}` (known: mnist)"
                )));
            }
            (true, true, None) => {
                return Err(CliError::Usage(format!(
                    "party {id} holds training examples (--holders {}): give --dataset mnist",
                    a.s.holders
                )));
            }
            (true, false, Some(_)) => {
                return Err(CliError::Usage(
                    "party 0 holds no example with --holders client; give --dataset to party 1"
                        .into(),
                ));
            }
            (true, false, None) => None,
        };
        let params = if id == 0 {
            self.init.clone()
        } else {
            secure::zero_params(self.inner.program())
        };
        let Some(d) = data else {
            let len = if online { n } else { 0 };
            return Ok(TrainInput {
                x: vec![R::default(); len * inp],
                y: vec![R::default(); len * c],
                params,
            });
        };
        // Example i is this party's if it holds its batch.
        let mine = |i: usize| a.s.holders == "client" || (i / bsz) % 2 == id;
        let keep = |v: &[R], per: usize| -> Vec<R> {
            v.chunks(per)
                .enumerate()
                .flat_map(|(i, e)| {
                    let m = mine(i);
                    e.iter().map(move |&v| if m { v } else { R::default() })
                })
                .collect()
        };
        Ok(TrainInput {
            x: keep(&d.x, inp),
            y: keep(&d.y, c),
            params,
        })
    }
}

/// The identifier of the model a session trains: both parties derive the same one.
pub fn model_id(session: &SessionId, spec: &TrainSpec) -> Result<[u8; 16], CliError> {
    let spec = serde_json::to_vec(spec).map_err(|e| CliError::Task(e.to_string()))?;
    let mut h = Sha256::new();
    h.update(b"tessera model share");
    h.update(session.0);
    h.update(&spec);
    let d = h.finalize();
    let mut id = [0; 16];
    id.copy_from_slice(&d[..16]);
    Ok(id)
}

super::delegate_to_inner!(TrainPartyJob, TrainingJob);

#[derive(Serialize)]
struct EpochOut {
    epoch: usize,
    /// On the 2,000 test digits, if the parameters were opened to this party.
    test_accuracy: Option<f64>,
    online_s: f64,
    bytes_sent: u64,
    rounds: u64,
}

#[derive(Serialize)]
struct Report<'a> {
    party: usize,
    job: &'static str,
    session: String,
    model: &'a str,
    dims: &'a [usize],
    plan: String,
    epochs: Vec<EpochOut>,
    /// The share file written, with the model identifier it carries.
    share: Option<(String, String)>,
    network: &'a str,
    offline_ms: f64,
    online_ms: f64,
    metering: &'a tessera_core::Metering,
}

impl Job for TrainPartyJob {
    /// Prints the epochs (and the test accuracy of parameters opened to this party)
    /// and writes this party's share with `--keep-shared`.
    fn print(&self, run: &PartyRun<Self::Output>, json: bool) -> Result<(), CliError> {
        let test = if run.output.epochs.iter().any(|e| e.params.is_some()) {
            Some(Digits::load(&self.spec, self.spec.batch)?)
        } else {
            None
        };
        let epochs: Vec<EpochOut> = run
            .output
            .epochs
            .iter()
            .enumerate()
            .map(|(e, r)| EpochOut {
                epoch: e + 1,
                test_accuracy: match (&r.params, &test) {
                    (Some(p), Some(d)) => {
                        Some(accuracy(&predict(&self.spec, p, &d.tx), &d.test_labels))
                    }
                    _ => None,
                },
                online_s: r.span.1.duration_since(r.span.0).as_secs_f64(),
                bytes_sent: r.peer.online.bytes_sent,
                rounds: r.peer.online.rounds,
            })
            .collect();
        let share = match &self.keep_shared {
            Some(path) => {
                let id = model_id(&run.session, &self.spec)?;
                ModelShare {
                    spec: self.spec.clone(),
                    model: id,
                    party: run.party,
                    params: run.output.shares.clone(),
                }
                .write(path)?;
                Some((path.display().to_string(), hex::encode(id)))
            }
            None => None,
        };
        if json {
            print_json(&Report {
                party: run.party,
                job: "train",
                session: run.session.to_string(),
                model: &self.model,
                dims: &self.spec.dims,
                plan: self.inner.program().plan.name(),
                epochs,
                share,
                network: &run.network,
                offline_ms: run.offline.as_secs_f64() * 1e3,
                online_ms: run.online.as_secs_f64() * 1e3,
                metering: &run.metering,
            })
        } else {
            for e in &epochs {
                println!(
                    "epoch {}: test accuracy {}, {:.2} s online, {:.1} MB sent, {} rounds",
                    e.epoch,
                    e.test_accuracy
                        .map_or("— (not opened to this party)".into(), |a| format!(
                            "{:.2} %",
                            100.0 * a
                        )),
                    e.online_s,
                    e.bytes_sent as f64 / 1e6,
                    e.rounds
                );
            }
            if let Some((path, id)) = &share {
                println!("model share written to {path} (model {id})");
            }
            Ok(())
        }
    }
}
