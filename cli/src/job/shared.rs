//! The shared-model job: secure inference with a model kept secret-shared by
//! `tessera train --keep-shared` — each party loads only its own share file, party 1
//! (the client) holds the queries and alone learns their labels. Used by `tessera
//! party ... shared-model`.
//!
//! The handshakes check the model's identifier (the two files of one model carry the
//! same), the spec's SHA-256, the plan, the batch and the number of queries: a party
//! started with another model's share stops there, naming the key.

use std::path::PathBuf;

use clap::Args;
use serde::Serialize;
use tessera_core::{FixedPoint, Z64};
use tessera_engine::train::shared::{CLIENT, ModelShare, Query, SharedInference};
use tessera_engine::train::{TrainPlan, encode_examples};
use tessera_models::assets;

use super::{Job, PartyRun, print_json, print_labels};
use crate::CliError;
use crate::train::pixels;

type R = Z64;

/// Options of `tessera party ... shared-model`.
#[derive(Args, Debug, Clone)]
pub struct PartySharedArgs {
    /// This party's share of the model (`PREFIX.partyN.share` from `tessera train
    /// --keep-shared PREFIX`).
    #[arg(long, value_name = "FILE")]
    pub share: PathBuf,
    /// `a+b` or `a+y` (where the comparisons and the argmax run) — the same at both
    /// parties.
    #[arg(long, default_value = "a+b")]
    pub plan: String,
    /// Queries in the run — the same at both parties.
    #[arg(long, default_value_t = 1)]
    pub examples: usize,
    /// Queries per pass of the program (a last partial batch is padded).
    #[arg(long, default_value_t = 100)]
    pub batch: usize,
    /// Party 1: a float32 `.npy` of `[examples, inputs]` (or `[examples, c, h, w]`),
    /// the values the model was trained on (MNIST: pixels / 255).
    #[arg(long)]
    pub input: Option<PathBuf>,
    /// Party 1: `mnist` — the first `--examples` embedded test digits.
    #[arg(long)]
    pub dataset: Option<String>,
}

/// A shared-model job, read and checked.
pub struct SharedModelJob {
    inner: SharedInference,
    share: ModelShare,
    examples: usize,
}

impl SharedModelJob {
    /// Reads this party's share and lowers the inference program.
    ///
    /// # Errors
    /// An unreadable or corrupt share file, an unknown plan, no query.
    pub fn from_args(a: &PartySharedArgs) -> Result<Self, CliError> {
        let share = ModelShare::read(&a.share)?;
        let plan = TrainPlan::named(&share.spec, &a.plan)?;
        let inner = SharedInference::new(&share.spec, share.model, &plan, a.batch, a.examples)?;
        Ok(SharedModelJob {
            inner,
            share,
            examples: a.examples,
        })
    }

    /// This party's input: its share and its shares of the queries (the client's
    /// encoded values; zeros at party 0). Empty queries when only the offline phase
    /// runs.
    ///
    /// # Errors
    /// A share of the other party; party 0 given queries; party 1 without queries or
    /// with queries of the wrong size.
    pub fn party_inputs(
        &self,
        id: usize,
        a: &PartySharedArgs,
        online: bool,
    ) -> Result<Query, CliError> {
        if self.share.party != id {
            return Err(CliError::Usage(format!(
                "{} holds party {}'s share; this is party {id}",
                a.share.display(),
                self.share.party
            )));
        }
        let spec = &self.share.spec;
        let n = self.examples * spec.inputs();
        let x = match (
            id == CLIENT,
            online,
            a.input.as_deref(),
            a.dataset.as_deref(),
        ) {
            (_, false, ..) => Vec::new(),
            (false, true, None, None) => vec![R::default(); n],
            (false, true, ..) => {
                return Err(CliError::Usage(
                    "party 0 holds no query; give --input or --dataset to party 1".into(),
                ));
            }
            (true, true, Some(path), _) => {
                let npy = tessera_models::NpyF32::from_file(path)?;
                if npy.data.len() != n {
                    return Err(CliError::Usage(format!(
                        "{}: {} values (shape {:?}) for {} queries of {} inputs",
                        path.display(),
                        npy.data.len(),
                        npy.shape,
                        self.examples,
                        spec.inputs()
                    )));
                }
                let v: Vec<f64> = npy.data.iter().map(|&v| f64::from(v)).collect();
                FixedPoint::new(spec.frac_bits).encode_slice::<R>(&v)?
            }
            (true, true, None, Some("mnist")) => {
                let m = assets::mnist()?;
                let test = tessera_models::data::MNIST10K_TEST;
                if self.examples > test.len() || m.rows() * m.cols() != spec.inputs() {
                    return Err(CliError::Usage(format!(
                        "--examples {}: the MNIST test split has {} digits of {} pixels; the \
                         model takes {} inputs",
                        self.examples,
                        test.len(),
                        m.rows() * m.cols(),
                        spec.inputs()
                    )));
                }
                let r = test.start..test.start + self.examples;
                let labels = m.labels(r.clone())?.to_vec();
                encode_examples(spec, &pixels(&m, r)?, &labels)?.0
            }
            (true, true, None, Some(other)) => {
                return Err(CliError::Usage(format!(
                    "unknown dataset `{other}` (known: mnist)"
                )));
            }
            (true, true, None, None) => {
                return Err(CliError::Usage(
                    "party 1 gives the queries: --input X.npy or --dataset mnist".into(),
                ));
            }
        };
        Ok(Query {
            share: self.share.clone(),
            x,
        })
    }
}

super::delegate_to_inner!(SharedModelJob, SharedInference);

#[derive(Serialize)]
struct Report<'a> {
    party: usize,
    job: &'static str,
    session: String,
    model: String,
    dims: &'a [usize],
    plan: String,
    examples: usize,
    labels: Option<&'a [usize]>,
    network: &'a str,
    offline_ms: f64,
    online_ms: f64,
    metering: &'a tessera_core::Metering,
}

impl Job for SharedModelJob {
    fn print(&self, run: &PartyRun<Self::Output>, json: bool) -> Result<(), CliError> {
        let labels = run.output.labels.as_deref();
        if json {
            let r = Report {
                party: run.party,
                job: "shared-model",
                session: run.session.to_string(),
                model: hex::encode(self.share.model),
                dims: &self.share.spec.dims,
                plan: self.inner.program().plan.name(),
                examples: self.examples,
                labels,
                network: &run.network,
                offline_ms: run.offline.as_secs_f64() * 1e3,
                online_ms: run.online.as_secs_f64() * 1e3,
                metering: &run.metering,
            };
            print_json(&r)
        } else {
            print_labels(labels, run.party, "a model share holder");
            Ok(())
        }
    }
}
