//! The dealer: a semi-honest third party, present only offline, that produces the
//! parties' correlated randomness (Chameleon, Riazi et al. 2018).
//!
//! # Protocol (all charged to [`Phase::Offline`])
//! 1. Each party sends the dealer its demand, its party index, its ring and the
//!    session id (one postcard message).
//! 2. The dealer checks that both demands are identical and belong to its session,
//!    draws two fresh seeds from the OS CSPRNG, and computes party 1's corrections
//!    ([`crate::preprocessing::deal`]).
//! 3. It draws a random dealing id ([`DealingId`]), sends each party a reply holding
//!    its seed and the dealing id (a 33-byte postcard message: tag, seed, dealing id),
//!    and then sends party 1 its corrections, concatenated in demand order, in frames
//!    of at most [`CORRECTION_CHUNK`] bytes.
//!
//! So the dealer sends party 0 exactly **41 bytes** (8-byte frame header + 33), and
//! party 1 exactly **`41 + C + 8·⌈C / 2^20⌉` bytes**, where `C` is
//! [`Demand::correction_bytes`]. The tests check these numbers against the channel's
//! meter. If anything is wrong (demands differ, wrong session or ring) the dealer
//! replies with a refusal naming the problem instead of a seed.
//!
//! # Security
//! The dealer learns the demand (shapes and counts, which are public anyway) and
//! nothing about inputs: it never sees a message of the online phase. Each party's
//! material alone is uniform: party 0's is a PRG expansion, party 1's corrections are
//! masked by party 0's uniform shares. The dealer knows every correlation, so it must
//! not collude with either party — the security model of the whole framework.
//!
//! Generation runs on a blocking thread ([`tokio::task::spawn_blocking`]), so the
//! runtime only moves bytes.

use serde::{Deserialize, Serialize};
use tessera_core::channel::HEADER_LEN;
use tessera_core::{Block, Channel, Phase, PhaseMeter, Ring, SessionId};

use crate::preprocessing::{DealingId, Demand, PartyMaterial, deal, deal_each};
use crate::{Error, Result};

/// Largest frame of corrections the dealer sends.
pub const CORRECTION_CHUNK: usize = 1 << 20;

/// Correction frames the dealer's generator may run ahead of the network.
const CORRECTIONS_IN_FLIGHT: usize = 8;

#[derive(Serialize, Deserialize)]
struct DemandMsg {
    session: SessionId,
    party: u8,
    ring_bits: u32,
    demand: Demand,
}

#[derive(Serialize, Deserialize)]
enum DealerReply {
    Seed { seed: [u8; 16], dealing: [u8; 16] },
    Refused(String),
}

/// Both parties' material for one demand in seed-compressed form.
pub struct Dealt {
    /// Party 0's seed.
    pub seed0: Block,
    /// Party 1's seed.
    pub seed1: Block,
    /// Party 1's corrections.
    pub corrections: Vec<u8>,
    /// The dealing's id, the same in both parties' material.
    pub dealing: DealingId,
}

impl std::fmt::Debug for Dealt {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Dealt({} correction bytes)", self.corrections.len())
    }
}

impl Dealt {
    /// The material of `party` for `demand` in `session`.
    pub fn material<R: Ring>(
        &self,
        party: usize,
        session: SessionId,
        demand: &Demand,
    ) -> PartyMaterial {
        PartyMaterial {
            party,
            session,
            dealing: self.dealing,
            ring_bits: R::BITS,
            demand: demand.clone(),
            seed: if party == 0 { self.seed0 } else { self.seed1 },
            corrections: if party == 0 {
                Vec::new()
            } else {
                self.corrections.clone()
            },
        }
    }
}

/// Generates `demand` with fresh seeds from the OS CSPRNG (the dealer's work, without
/// the network).
///
/// # Errors
/// If the demand is invalid for ring `R`.
pub fn generate<R: Ring>(demand: &Demand) -> Result<Dealt> {
    let seed0 = tessera_core::prg::os_seed();
    let seed1 = tessera_core::prg::os_seed();
    let corrections = deal::<R>(demand, seed0, seed1)?;
    Ok(Dealt {
        seed0,
        seed1,
        corrections,
        dealing: DealingId::random(),
    })
}

fn first_difference(a: &Demand, b: &Demand) -> String {
    let (ra, rb) = (a.requests(), b.requests());
    match ra.iter().zip(rb).position(|(x, y)| x != y) {
        Some(i) => format!(
            "request #{i}: party 0 asks for {}, party 1 for {}",
            ra[i], rb[i]
        ),
        None => format!(
            "party 0 asks for {} requests, party 1 for {}",
            ra.len(),
            rb.len()
        ),
    }
}

/// The exact traffic of the dealer protocol for `demand`, as each party's end of its
/// channel to the dealer meters it in [`Phase::Offline`] (party 0, party 1): the
/// demand message it sends, the seed reply (41 bytes) and, for party 1, the
/// corrections in frames of at most [`CORRECTION_CHUNK`] bytes; two rounds.
///
/// # Errors
/// If the demand cannot be serialised.
pub fn party_traffic<R: Ring>(demand: &Demand) -> Result<[PhaseMeter; 2]> {
    let frame = |bytes: std::result::Result<Vec<u8>, postcard::Error>| -> Result<u64> {
        let len = bytes
            .map_err(|e| Error::Protocol {
                step: "dealer",
                detail: format!("cannot serialise: {e}"),
            })?
            .len();
        Ok((HEADER_LEN + len) as u64)
    };
    let sent = |party: u8| {
        frame(postcard::to_stdvec(&DemandMsg {
            session: SessionId([0; 16]),
            party,
            ring_bits: R::BITS,
            demand: demand.clone(),
        }))
    };
    let seed = frame(postcard::to_stdvec(&DealerReply::Seed {
        seed: [0; 16],
        dealing: [0; 16],
    }))?;
    let c = demand.correction_bytes::<R>();
    let chunks = c.div_ceil(CORRECTION_CHUNK) as u64;
    Ok([
        PhaseMeter {
            bytes_sent: sent(0)?,
            bytes_received: seed,
            messages_sent: 1,
            messages_received: 1,
            rounds: 2,
        },
        PhaseMeter {
            bytes_sent: sent(1)?,
            bytes_received: seed + c as u64 + HEADER_LEN as u64 * chunks,
            messages_sent: 1,
            messages_received: 1 + chunks,
            rounds: 2,
        },
    ])
}

/// Serves one session: receives both demands, checks them, generates, and sends each
/// party its material. `ch0`/`ch1` are the channels to party 0 and party 1 (after
/// their handshakes).
///
/// # Errors
/// Transport errors, [`Error::SessionMismatch`], [`Error::DemandMismatch`] or an
/// invalid demand; in each case the parties are sent a refusal first (as far as the
/// transport allows). If one party's demand does not arrive (it disconnected or stayed
/// silent past the timeout), the other party is refused with that reason instead of
/// being left waiting.
pub async fn serve<R: Ring>(
    session: SessionId,
    ch0: &mut Channel,
    ch1: &mut Channel,
) -> Result<()> {
    let phases = (ch0.phase(), ch1.phase());
    ch0.set_phase(Phase::Offline);
    ch1.set_phase(Phase::Offline);
    let (m0, m1) = match tokio::join!(ch0.recv::<DemandMsg>(), ch1.recv::<DemandMsg>()) {
        (Ok(m0), Ok(m1)) => (m0, m1),
        (Err(e), Err(_)) => return Err(e.into()),
        (Err(e), Ok(_)) => return Err(refuse_other(ch1, 0, e).await),
        (Ok(_), Err(e)) => return Err(refuse_other(ch0, 1, e).await),
    };
    let check = || -> Result<()> {
        for (i, m) in [&m0, &m1].into_iter().enumerate() {
            if m.session != session {
                return Err(Error::SessionMismatch {
                    what: "demand sent to the dealer",
                    expected: session,
                    found: m.session,
                });
            }
            if usize::from(m.party) != i {
                return Err(Error::Protocol {
                    step: "dealer",
                    detail: format!("party {i}'s channel announced party {}", m.party),
                });
            }
            if m.ring_bits != R::BITS {
                return Err(Error::Protocol {
                    step: "dealer",
                    detail: format!("party {i} runs Z_2^{}, the dealer {}", m.ring_bits, R::NAME),
                });
            }
        }
        if m0.demand != m1.demand {
            return Err(Error::DemandMismatch {
                detail: first_difference(&m0.demand, &m1.demand),
            });
        }
        m0.demand.validate::<R>()
    };
    if let Err(e) = check() {
        let why = DealerReply::Refused(e.to_string());
        // Best effort: the error to return is `e`, not a failure to report it.
        let _ = ch0.send(&why).await;
        let _ = ch1.send(&why).await;
        return Err(e);
    }
    let (seed0, seed1) = (tessera_core::prg::os_seed(), tessera_core::prg::os_seed());
    let dealing = DealingId::random();
    ch0.send(&DealerReply::Seed {
        seed: seed0.to_bytes(),
        dealing: dealing.0,
    })
    .await?;
    ch1.send(&DealerReply::Seed {
        seed: seed1.to_bytes(),
        dealing: dealing.0,
    })
    .await?;
    // Party 1's corrections, generated on a blocking thread and sent as they come, in
    // frames of CORRECTION_CHUNK bytes: the dealer holds a few frames, not the whole
    // dealing (gigabytes for a large GMW run).
    let (tx, mut rx) = tokio::sync::mpsc::channel::<Vec<u8>>(CORRECTIONS_IN_FLIGHT);
    let demand = m0.demand;
    let generator = tokio::task::spawn_blocking(move || {
        let mut buf = Vec::with_capacity(2 * CORRECTION_CHUNK);
        let send = |frame: Vec<u8>| {
            tx.blocking_send(frame).map_err(|_| Error::Protocol {
                step: "dealer",
                detail: "the sending task stopped".into(),
            })
        };
        deal_each::<R>(&demand, seed0, seed1, &mut buf, |out| {
            let full = out.len() / CORRECTION_CHUNK * CORRECTION_CHUNK;
            for frame in out[..full].chunks(CORRECTION_CHUNK) {
                send(frame.to_vec())?;
            }
            out.drain(..full);
            Ok(())
        })?;
        if !buf.is_empty() {
            send(buf)?;
        }
        Ok::<_, Error>(())
    });
    let mut sent: Result<()> = Ok(());
    while let Some(frame) = rx.recv().await {
        if let Err(e) = ch1.send_bytes(frame).await {
            sent = Err(e.into());
            break;
        }
    }
    // Stops the generator if sending failed (its next send finds the receiver gone).
    drop(rx);
    let generated = generator.await.map_err(|e| Error::Protocol {
        step: "dealer",
        detail: format!("generation task failed: {e}"),
    })?;
    sent?;
    generated?;
    ch0.set_phase(phases.0);
    ch1.set_phase(phases.1);
    Ok(())
}

/// Party `failed` did not deliver its demand (`e`): tells the other party (on `ch`),
/// which waits for its material, why nothing comes (best effort), and returns `e`.
async fn refuse_other(ch: &mut Channel, failed: usize, e: tessera_core::Error) -> Error {
    let why = DealerReply::Refused(format!(
        "party {failed} failed before sending its demand: {e}"
    ));
    let _ = ch.send(&why).await;
    e.into()
}

/// A party's side of the dealer protocol: sends `demand`, receives its material.
/// Charged to [`Phase::Offline`].
///
/// # Errors
/// Transport errors; [`Error::Protocol`] if the dealer refuses (with its reason) or
/// sends corrections that do not fit the demand.
pub async fn fetch<R: Ring>(
    ch: &mut Channel,
    party: usize,
    session: SessionId,
    demand: &Demand,
) -> Result<PartyMaterial> {
    let mut corrections = Vec::new();
    if party == 1 {
        corrections.reserve_exact(demand.correction_bytes::<R>());
    }
    let (seed, dealing) = fetch_with::<R>(ch, party, session, demand, |got| {
        if let Fetched::Corrections(chunk) = got {
            corrections.extend_from_slice(chunk);
        }
        Ok(())
    })
    .await?;
    Ok(PartyMaterial {
        party,
        session,
        dealing,
        ring_bits: R::BITS,
        demand: demand.clone(),
        seed,
        corrections,
    })
}

/// What [`fetch_with`] hands its sink, in order: the seed, then party 1's corrections.
#[derive(Clone, Copy)]
pub enum Fetched<'a> {
    /// The party's expansion seed (secret) and the dealing's id.
    Seed(Block, DealingId),
    /// A frame of party 1's corrections (secret).
    Corrections(&'a [u8]),
}

impl std::fmt::Debug for Fetched<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Fetched::Seed(_, d) => write!(f, "Seed(.., {d})"),
            Fetched::Corrections(c) => write!(f, "Corrections({} bytes)", c.len()),
        }
    }
}

/// [`fetch`] handing the seed, then party 1's corrections frame by frame as they
/// arrive (at most [`CORRECTION_CHUNK`] bytes each, in order, exactly
/// [`Demand::correction_bytes`] in all), to `sink` instead of collecting them; returns
/// the seed and the dealing id.
/// A party whose corrections are larger than its memory should hold writes them to
/// disk this way ([`crate::runtime::DealerSource`]).
///
/// # Errors
/// As [`fetch`]; the sink's errors.
pub async fn fetch_with<R: Ring>(
    ch: &mut Channel,
    party: usize,
    session: SessionId,
    demand: &Demand,
    mut sink: impl FnMut(Fetched<'_>) -> Result<()>,
) -> Result<(Block, DealingId)> {
    let p = u8::try_from(party)
        .ok()
        .filter(|p| *p <= 1)
        .ok_or_else(|| Error::InvalidArgument {
            op: "fetching preprocessing",
            detail: format!("party {party} does not exist"),
        })?;
    demand.validate::<R>()?;
    let previous = ch.phase();
    ch.set_phase(Phase::Offline);
    ch.send(&DemandMsg {
        session,
        party: p,
        ring_bits: R::BITS,
        demand: demand.clone(),
    })
    .await?;
    let (seed, dealing) = match ch.recv::<DealerReply>().await? {
        DealerReply::Seed { seed, dealing } => (Block::from_bytes(seed), DealingId(dealing)),
        DealerReply::Refused(why) => {
            return Err(Error::Protocol {
                step: "dealer",
                detail: format!("the dealer refused: {why}"),
            });
        }
    };
    sink(Fetched::Seed(seed, dealing))?;
    if party == 1 {
        let want = demand.correction_bytes::<R>();
        let mut got = 0;
        while got < want {
            let chunk = ch.recv_bytes().await?;
            if chunk.is_empty() || chunk.len() > CORRECTION_CHUNK || got + chunk.len() > want {
                return Err(Error::Protocol {
                    step: "dealer corrections",
                    detail: format!(
                        "a chunk of {} bytes after {got} of {want} bytes",
                        chunk.len()
                    ),
                });
            }
            sink(Fetched::Corrections(&chunk))?;
            got += chunk.len();
        }
    }
    ch.set_phase(previous);
    Ok((seed, dealing))
}
