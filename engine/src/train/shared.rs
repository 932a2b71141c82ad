//! A trained model kept secret-shared: each party's share of the parameters in a file
//! of its own ([`ModelShare`]), and secure inference with the shared model
//! ([`SharedInference`], a job of the session runtime) — neither party, nor the
//! client, ever sees a weight.
//!
//! # The file
//! `TSHARE01` (8 bytes), then the body in postcard (the format version, the model's
//! spec as JSON, the model's identifier, the party, the parameter shares as
//! little-endian ring elements), then the SHA-256 of everything before it. A file
//! that is truncated, altered, of another version, or whose parameters do not fit its
//! spec is refused with the reason; the two files of one model carry the same
//! identifier (drawn from the OS's CSPRNG when the pair is written), which the
//! inference job puts in its configuration, so two parties started with shares of
//! different models stop at the handshake, naming the key. A share alone is
//! uniformly distributed (every parameter was updated with the dealer's masks during
//! training); it says nothing about the model.
//!
//! # Inference
//! The program is [`TrainProgram::inference`]: the forward pass of training, lowered
//! by the same code, then the argmax of each example's logits in B or Y, returned
//! to A and opened to the client (party 1), who holds the queries (party 0 enters
//! zeros: a valid sharing). The plaintext reference is [`super::plain::labels`].

use std::path::Path;
use std::time::Instant;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use tessera_conversions::Converter;
use tessera_core::{ConfigSummary, Metering, Ring};
use tessera_protocols::runtime::Job;
use tessera_protocols::runtime::local::LocalRun;
use tessera_protocols::{AShare, ArithParty, Demand};

use super::secure::{Circuits, labels};
use super::{R, TrainPlan, TrainProgram, TrainSpec};
use crate::{Error, Result, Sharing, StepCost};

/// The first bytes of a share file.
pub const MAGIC: &[u8; 8] = b"TSHARE01";

/// The body's format version.
const VERSION: u32 = 1;

/// The largest share file read (the embedded networks' are below 10 MB).
const MAX_FILE_BYTES: u64 = 1 << 30;

/// Who learns the labels: the client, party 1.
pub const CLIENT: usize = 1;

/// One party's share of a trained model. Its `Debug` shows no value.
#[derive(Clone, PartialEq)]
pub struct ModelShare {
    /// The model trained (its layers; its training settings are kept for the record).
    pub spec: TrainSpec,
    /// The identifier both shares of one model carry.
    pub model: [u8; 16],
    /// The party this share belongs to.
    pub party: usize,
    /// The shares of the parameters, in the order of [`TrainProgram::params`].
    pub params: Vec<Vec<R>>,
}

impl std::fmt::Debug for ModelShare {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ModelShare")
            .field("dims", &self.spec.dims)
            .field("model", &hex::encode(self.model))
            .field("party", &self.party)
            .field("tensors", &self.params.len())
            .finish_non_exhaustive()
    }
}

#[derive(Serialize, Deserialize)]
struct Body {
    version: u32,
    spec: String,
    model: [u8; 16],
    party: u8,
    params: Vec<Vec<u64>>,
}

impl ModelShare {
    /// Both parties' shares of one model (`shares[p]` party `p`'s), under a fresh
    /// identifier from the OS's CSPRNG.
    ///
    /// # Errors
    /// Shares that do not fit `spec`.
    pub fn pair(spec: &TrainSpec, shares: [Vec<Vec<R>>; 2]) -> Result<[ModelShare; 2]> {
        let model: [u8; 16] = rand::random();
        let [s0, s1] = shares;
        let out = [(0, s0), (1, s1)].map(|(party, params)| ModelShare {
            spec: spec.clone(),
            model,
            party,
            params,
        });
        for s in &out {
            s.check()?;
        }
        Ok(out)
    }

    /// Checks that the parameters fit the spec.
    fn check(&self) -> Result<()> {
        self.spec.validate()?;
        let shapes = parameter_shapes(&self.spec)?;
        let fits = self.params.len() == shapes.len()
            && self
                .params
                .iter()
                .zip(&shapes)
                .all(|(p, s)| p.len() == s.iter().product::<usize>());
        if self.party > 1 || !fits {
            return Err(Error::shape(
                "model share",
                format!(
                    "party {} with {} tensors of {:?} values for layers {:?}",
                    self.party,
                    self.params.len(),
                    self.params.iter().map(Vec::len).collect::<Vec<_>>(),
                    self.spec.dims
                ),
            ));
        }
        Ok(())
    }

    /// The file's bytes.
    ///
    /// # Errors
    /// If the spec cannot be serialised.
    pub fn to_bytes(&self) -> Result<Vec<u8>> {
        let body = Body {
            version: VERSION,
            spec: serde_json::to_string(&self.spec).map_err(|e| Error::Plan(e.to_string()))?,
            model: self.model,
            party: self.party as u8,
            params: self
                .params
                .iter()
                .map(|t| t.iter().map(|r| r.to_u64()).collect())
                .collect(),
        };
        let mut out = MAGIC.to_vec();
        out.extend(postcard::to_stdvec(&body).map_err(|e| Error::Plan(e.to_string()))?);
        let digest = Sha256::digest(&out);
        out.extend_from_slice(&digest);
        Ok(out)
    }

    /// Reads a share from its file's bytes (`path` names it in errors).
    ///
    /// # Errors
    /// A file that is not a share, truncated or altered (the checksum), of another
    /// version, or whose parameters do not fit its spec.
    pub fn from_bytes(bytes: &[u8], path: Option<&Path>) -> Result<Self> {
        let bad = |reason: String| Error::Data {
            format: "model share",
            path: path.map(Path::to_path_buf),
            reason,
        };
        if bytes.len() < MAGIC.len() + 32 || &bytes[..MAGIC.len()] != MAGIC {
            return Err(bad("not a Tessera model share (no TSHARE01 header)".into()));
        }
        let (content, digest) = bytes.split_at(bytes.len() - 32);
        if Sha256::digest(content).as_slice() != digest {
            return Err(bad(
                "the checksum does not match: the file is truncated or altered".into(),
            ));
        }
        let body: Body = postcard::from_bytes(&content[MAGIC.len()..])
            .map_err(|e| bad(format!("undecodable body: {e}")))?;
        if body.version != VERSION {
            return Err(bad(format!(
                "format version {} (this build reads {VERSION})",
                body.version
            )));
        }
        let spec: TrainSpec =
            serde_json::from_str(&body.spec).map_err(|e| bad(format!("its spec: {e}")))?;
        let share = ModelShare {
            spec,
            model: body.model,
            party: usize::from(body.party),
            params: body
                .params
                .into_iter()
                .map(|t| t.into_iter().map(<R as Ring>::from_u64).collect())
                .collect(),
        };
        share.check().map_err(|e| bad(e.to_string()))?;
        Ok(share)
    }

    /// Writes the share to `path` (through a temporary file renamed into place: a
    /// crash leaves the old file or the new one, never half of one).
    ///
    /// # Errors
    /// I/O errors.
    pub fn write(&self, path: &Path) -> Result<()> {
        let io = |source| Error::Io {
            path: path.to_path_buf(),
            source,
        };
        let mut tmp = path.as_os_str().to_owned();
        tmp.push(".tmp");
        let tmp = std::path::PathBuf::from(tmp);
        std::fs::write(&tmp, self.to_bytes()?).map_err(io)?;
        std::fs::rename(&tmp, path).map_err(io)
    }

    /// Reads the share in `path`.
    ///
    /// # Errors
    /// I/O errors; a file above 1 GiB; as [`ModelShare::from_bytes`].
    pub fn read(path: &Path) -> Result<Self> {
        let io = |source| Error::Io {
            path: path.to_path_buf(),
            source,
        };
        let len = std::fs::metadata(path).map_err(io)?.len();
        if len > MAX_FILE_BYTES {
            return Err(Error::Data {
                format: "model share",
                path: Some(path.to_path_buf()),
                reason: format!("{len} bytes: larger than any model share"),
            });
        }
        ModelShare::from_bytes(&std::fs::read(path).map_err(io)?, Some(path))
    }

    /// The model's parameters, from both shares (a test's or a single-process
    /// demonstration's check; a deployment never brings both together).
    ///
    /// # Errors
    /// Shares of different models or of the same party.
    pub fn reconstruct(a: &ModelShare, b: &ModelShare) -> Result<Vec<Vec<R>>> {
        if a.model != b.model || a.party == b.party || a.spec != b.spec {
            return Err(Error::InvalidArgument {
                what: "model shares",
                detail: format!(
                    "party {}'s share of model {} and party {}'s of model {}",
                    a.party,
                    hex::encode(a.model),
                    b.party,
                    hex::encode(b.model)
                ),
            });
        }
        Ok(a.params
            .iter()
            .zip(&b.params)
            .map(|(x, y)| x.iter().zip(y).map(|(&u, &v)| u + v).collect())
            .collect())
    }
}

/// The parameters' shapes of `spec`, in order.
fn parameter_shapes(spec: &TrainSpec) -> Result<Vec<Vec<usize>>> {
    let prog = TrainProgram::inference(spec, &TrainPlan::uniform(spec, Sharing::B), 1)?;
    Ok(prog.params.into_iter().map(|(_, s)| s).collect())
}

/// One party's input to [`SharedInference`]: its share of the model and its shares
/// of the queries (`[N, in]` at scale `2^f`: the client's values, zeros at party 0).
/// Its `Debug` shows only sizes.
pub struct Query {
    /// This party's share of the model.
    pub share: ModelShare,
    /// Shares of the queries, example after example.
    pub x: Vec<R>,
}

impl std::fmt::Debug for Query {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Query({:?}, {} input values)", self.share, self.x.len())
    }
}

/// What one party obtains from [`SharedInference`]. Its `Debug` shows no label.
pub struct Served {
    /// The labels, at the client.
    pub labels: Option<Vec<usize>>,
    /// This party's link to the other party during the online phase.
    pub peer: Metering,
    /// When this party started and finished the online phase.
    pub span: (Instant, Instant),
}

impl std::fmt::Debug for Served {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Served")
            .field("labels", &self.labels.as_ref().map(Vec::len))
            .field("peer", &self.peer)
            .finish_non_exhaustive()
    }
}

/// Secure inference of `examples` queries with a secret-shared model, `batch` at a
/// time (a last partial batch padded with zeros), the labels opened to the client.
pub struct SharedInference {
    prog: TrainProgram,
    cir: Circuits,
    examples: usize,
    model: [u8; 16],
    config: ConfigSummary,
}

impl std::fmt::Debug for SharedInference {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SharedInference")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl SharedInference {
    /// Inference with the model `model` of `spec` under `plan`.
    ///
    /// # Errors
    /// An invalid spec or plan; no example; a batch of 0.
    pub fn new(
        spec: &TrainSpec,
        model: [u8; 16],
        plan: &TrainPlan,
        batch: usize,
        examples: usize,
    ) -> Result<Self> {
        if examples == 0 || batch == 0 {
            return Err(Error::InvalidArgument {
                what: "shared-model inference",
                detail: format!("{examples} examples in batches of {batch}"),
            });
        }
        let batch = batch.min(examples);
        let prog = TrainProgram::inference(spec, plan, batch)?;
        let spec_json = serde_json::to_vec(spec).map_err(|e| Error::Plan(e.to_string()))?;
        let config = ConfigSummary::new()
            .with("job", "shared-model inference")
            .with("model", hex::encode(model))
            .with("spec", hex::encode(Sha256::digest(&spec_json)))
            .with("plan", prog.plan.name())
            .with("batch", batch)
            .with("examples", examples)
            .with("labels to", CLIENT);
        Ok(SharedInference {
            cir: Circuits::new(&prog)?,
            prog,
            examples,
            model,
            config,
        })
    }

    /// The program of one batch.
    pub fn program(&self) -> &TrainProgram {
        &self.prog
    }

    /// The batches.
    pub fn batches(&self) -> usize {
        self.examples.div_ceil(self.prog.spec.batch)
    }

    /// Every priced step of the run: each batch's, then the labels' opening.
    ///
    /// # Errors
    /// As [`TrainProgram::costs`].
    pub fn steps(&self) -> Result<Vec<StepCost>> {
        let one = self.prog.costs()?;
        let mut out = Vec::with_capacity(one.len() * self.batches() + 1);
        for _ in 0..self.batches() {
            out.extend(one.iter().cloned());
        }
        let n = self.batches() * self.prog.spec.batch;
        out.push(super::secure::opening(
            "labels opened to the client".into(),
            CLIENT,
            n,
        ));
        Ok(out)
    }
}

impl Job for SharedInference {
    type Ring = R;
    type Input = Query;
    type Prepared = ();
    type Output = Served;
    type Error = Error;

    fn config(&self) -> ConfigSummary {
        self.config.clone()
    }

    fn demand(&self) -> Result<Demand> {
        self.prog.demand(self.batches())
    }

    async fn setup(&self, _: &mut ArithParty<R>) -> Result<()> {
        Ok(())
    }

    async fn online(&self, p: &mut ArithParty<R>, _: (), q: Query) -> Result<Served> {
        let start = Instant::now();
        let before = *p.channel().metering();
        let (party, spec) = (p.party(), &self.prog.spec);
        if q.share.party != party || q.share.model != self.model {
            return Err(Error::InvalidArgument {
                what: "model share",
                detail: format!(
                    "party {party} was given party {}'s share of model {}; this run serves \
                     model {}",
                    q.share.party,
                    hex::encode(q.share.model),
                    hex::encode(self.model)
                ),
            });
        }
        if q.share.spec.dims != spec.dims || q.share.spec.convs != spec.convs {
            return Err(Error::shape(
                "model share",
                format!(
                    "layers {:?} for a run of {:?}",
                    q.share.spec.dims, spec.dims
                ),
            ));
        }
        let (bsz, inp) = (spec.batch, spec.inputs());
        if q.x.len() != self.examples * inp {
            return Err(Error::shape(
                "queries",
                format!(
                    "{} values for {} examples of {inp}",
                    q.x.len(),
                    self.examples
                ),
            ));
        }
        let mut params = Vec::with_capacity(q.share.params.len());
        for ((_, shape), v) in self.prog.params.iter().zip(q.share.params) {
            params.push(AShare::from_array(crate::exec::array(shape, v)?));
        }
        let mut x = q.x;
        x.resize(self.batches() * bsz * inp, <R as Ring>::from_u64(0));
        let mut conv = Converter::new(party)?;
        let mut all = Vec::with_capacity(self.batches() * bsz);
        for chunk in x.chunks(bsz * inp) {
            let xs = AShare::from_array(crate::exec::array(&[bsz, inp], chunk.to_vec())?);
            let l = labels(p, &mut conv, &self.prog, &self.cir, &params, xs).await?;
            all.extend(l.array().iter().copied());
        }
        let n = all.len();
        let all = AShare::from_array(crate::exec::array(&[n], all)?);
        let opened = p.reveal_to(&all, CLIENT).await?;
        let classes = spec.classes();
        let labels = match opened {
            None => None,
            Some(v) => {
                let mut out = Vec::with_capacity(self.examples);
                for &l in v.iter().take(self.examples) {
                    let l = l.to_u64();
                    if l >= classes as u64 {
                        return Err(Error::Range {
                            what: "an opened label".into(),
                            detail: format!(
                                "{l} for {classes} classes: the peer's share is corrupt"
                            ),
                        });
                    }
                    out.push(l as usize);
                }
                Some(out)
            }
        };
        Ok(Served {
            labels,
            peer: p.channel().metering().since(&before),
            span: (start, Instant::now()),
        })
    }
}

/// Both parties' results of a run ([`crate::session::run_here`]).
pub type InferenceRun = LocalRun<Served>;
