//! Preprocessing made by OT extension, saved to a file and run from it later
//! (`tessera party --offline ot --store FILE`, then `--preprocessed FILE`).
//!
//! The file is a preprocessing file of the same format as the dealer's (version 2,
//! [`tessera_protocols::preprocessing::PartyMaterial`]): the same header (party,
//! session, dealing id, checksum, fresh/consumed state), the same atomic write with
//! mode 0600 ([`MaterialWriter`]), the same checks and claiming ([`FileSource::check`],
//! [`PartyMaterial::open`]) and the same ledger. Only the body differs: OT-made
//! material has no seed to expand from, so the seed field holds [`OT_MARKER`] and
//! the place of the dealer's corrections holds this party's correlations in full,
//! in demand order ([`encode`]). [`source`] picks the reader by that marker.
//!
//! The dealing id of an OT offline phase is drawn by party 0 and sent to party 1
//! inside the offline phase; the runtime then compares the parties' ids, as it does
//! after a dealer's fetch, so both files name the same dealing.

use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use futures::future::BoxFuture;
use ndarray::{ArrayD, IxDyn};
use tessera_core::{BitVec, Block, Channel, Phase, Prg, Ring};
use tessera_protocols::Error;
use tessera_protocols::Provider;
use tessera_protocols::ot::source::generate;
use tessera_protocols::preprocessing::{
    AndTriples, BeaverTriple, Correlation, DaBits, DealingId, Demand, MaterialWriter,
    PartyMaterial, PlainWeightShare, RandomOts, Request, SquarePair, Store, TruncPair,
    WeightMaskShare,
};
use tessera_protocols::runtime::{FileSource, OfflineSource, Session, SessionError};

/// The seed field of a file of OT-made material (a dealer's seed is random: it
/// equals this with probability 2^-128).
pub const OT_MARKER: [u8; 16] = *b"tessera:ot-items";

/// One party's correlations, in demand order.
type Items<R> = Vec<(Request, Correlation<R>)>;

/// Offset of the body in a preprocessing file (format version 2).
const BODY: u64 = 88;

fn file_err(path: &Path, reason: impl Into<String>) -> Error {
    Error::PreprocessingFile {
        path: path.to_path_buf(),
        reason: reason.into(),
    }
}

/// Whether the file at `path` holds OT-made material (reads its seed field only; the
/// file is checked in full by [`FileSource::check`] and when it is claimed).
fn holds_ot_items(path: &Path) -> Result<bool, Error> {
    let read = |e: std::io::Error| file_err(path, format!("cannot read: {e}"));
    let mut f = std::fs::File::open(path).map_err(read)?;
    let mut len = [0u8; 8];
    f.seek(SeekFrom::Start(BODY))
        .and_then(|_| f.read_exact(&mut len))
        .map_err(read)?;
    let mut seed = [0u8; 16];
    f.seek(SeekFrom::Current(
        i64::try_from(u64::from_le_bytes(len)).map_err(|_| file_err(path, "malformed body"))?,
    ))
    .and_then(|_| f.read_exact(&mut seed))
    .map_err(read)?;
    Ok(seed == OT_MARKER)
}

/// The offline source of `--preprocessed FILE`: the dealer's file reader, or the
/// reader of OT-made material, as the file says. Both announce `file`.
///
/// # Errors
/// A file that cannot be read.
pub fn source<R: Ring>(path: &Path) -> Result<Box<dyn OfflineSource<R>>, Error> {
    Ok(if holds_ot_items(path)? {
        Box::new(OtFile {
            path: path.to_path_buf(),
            dealing: None,
        })
    } else {
        Box::new(FileSource::new(path))
    })
}

/// Reads a file of OT-made material: claims it (marked consumed on disk before
/// anything is used) and decodes its correlations.
struct OtFile {
    path: PathBuf,
    dealing: Option<DealingId>,
}

impl OtFile {
    /// Claims the file and decodes its correlations; returns them with the dealing.
    fn load<R: Ring>(path: &Path, s: &Session) -> Result<(DealingId, Items<R>), Error> {
        let m = PartyMaterial::load(path, s.party(), s.material_session())?;
        if m.seed.to_bytes() != OT_MARKER {
            return Err(file_err(path, "does not hold OT-made material"));
        }
        if m.ring_bits != R::BITS {
            return Err(file_err(
                path,
                format!(
                    "material for Z_2^{}, the session runs {}",
                    m.ring_bits,
                    R::NAME
                ),
            ));
        }
        if &m.demand != s.demand() {
            return Err(file_err(
                path,
                "it was made for another job: run the online phase with the job options \
                 of the offline run that wrote it",
            ));
        }
        let items = decode(&m.demand, &m.corrections).map_err(|why| file_err(path, why))?;
        Ok((m.dealing, items))
    }
}

impl<R: Ring> OfflineSource<R> for OtFile {
    fn kind(&self) -> &'static str {
        "file"
    }

    fn uses_peer(&self) -> bool {
        false
    }

    fn dealing(&self) -> Option<DealingId> {
        self.dealing
    }

    fn obtain<'a>(
        &'a mut self,
        session: &'a Session,
        _peer: &'a mut Channel,
    ) -> BoxFuture<'a, Result<Box<dyn Provider<R>>, SessionError>> {
        Box::pin(async move {
            let step = "offline phase: reading the OT-made preprocessing";
            let (path, s) = (self.path.clone(), session.clone());
            let (id, items) = tokio::task::spawn_blocking(move || OtFile::load::<R>(&path, &s))
                .await
                .map_err(|e| SessionError::new(step, Error::Task(e.to_string())))?
                .map_err(|e| SessionError::new(step, e))?;
            self.dealing = Some(id);
            Ok(Box::new(Store::from_items(
                session.party(),
                session.material_session(),
                items,
            )) as Box<dyn Provider<R>>)
        })
    }
}

/// The offline source of `--offline ot --store FILE`: the correlations made with the
/// other party by OT extension (as [`tessera_protocols::ot::source::OtSource`] makes
/// them, traffic charged to the offline phase and closed with a fence), under a
/// dealing id party 0 draws, written to the file; the provider it returns is empty
/// (the process exits after the offline phase).
pub struct OtToFile {
    path: PathBuf,
    dealing: Option<DealingId>,
}

impl OtToFile {
    /// Saves to `path`.
    pub fn new(path: &Path) -> Self {
        OtToFile {
            path: path.to_path_buf(),
            dealing: None,
        }
    }
}

/// The dealing id: party 0 draws it and sends it to party 1.
async fn agree_dealing(peer: &mut Channel, party: usize) -> Result<DealingId, Error> {
    if party == 0 {
        let d = DealingId::random();
        peer.send(&d).await?;
        Ok(d)
    } else {
        Ok(peer.recv().await?)
    }
}

impl<R: Ring> OfflineSource<R> for OtToFile {
    /// Announced in the parties' handshake: a party that saves its OT preprocessing
    /// pairs only with another that does.
    fn kind(&self) -> &'static str {
        "ot, offline phase only (--store)"
    }

    fn dealing(&self) -> Option<DealingId> {
        self.dealing
    }

    fn obtain<'a>(
        &'a mut self,
        session: &'a Session,
        peer: &'a mut Channel,
    ) -> BoxFuture<'a, Result<Box<dyn Provider<R>>, SessionError>> {
        Box::pin(async move {
            let step = "offline phase: correlations from OT extension with the other party";
            let party = session.party();
            let before = peer.phase();
            peer.set_phase(Phase::Offline);
            let made = async {
                let dealing = agree_dealing(peer, party).await?;
                let mut rng = Prg::from_entropy();
                let items = generate::<R, _>(peer, party, session.demand(), &mut rng).await?;
                peer.fence().await?;
                Ok::<_, Error>((dealing, items))
            }
            .await;
            peer.set_phase(before);
            let (dealing, items) = made.map_err(|e| SessionError::new(step, e))?;
            let (path, s) = (self.path.clone(), session.clone());
            tokio::task::spawn_blocking(move || {
                let body = encode(&items);
                let mut w = MaterialWriter::create(
                    &path,
                    s.party(),
                    s.material_session(),
                    dealing,
                    R::BITS,
                    s.demand(),
                    Block::from_bytes(OT_MARKER),
                    body.len(),
                )?;
                w.write(&body)?;
                w.finish()
            })
            .await
            .map_err(|e| SessionError::new(step, Error::Task(e.to_string())))?
            .map_err(|e| SessionError::new("offline phase: saving the preprocessing", e))?;
            self.dealing = Some(dealing);
            Ok(Box::new(Store::<R>::from_items(
                party,
                session.material_session(),
                Vec::new(),
            )) as Box<dyn Provider<R>>)
        })
    }
}

// The body: each item's components in a fixed order; an array is its rank, its
// dimensions and its elements; a bit vector its length and words; strings their
// count and bytes; an optional array a presence byte. All integers little-endian.

struct Out(Vec<u8>);

impl Out {
    fn u64(&mut self, v: u64) {
        self.0.extend_from_slice(&v.to_le_bytes());
    }
    fn array<R: Ring>(&mut self, a: &ArrayD<R>) {
        self.u64(a.ndim() as u64);
        for &d in a.shape() {
            self.u64(d as u64);
        }
        match a.as_slice() {
            Some(s) => R::encode_slice(s, &mut self.0),
            None => R::encode_slice(&a.iter().copied().collect::<Vec<_>>(), &mut self.0),
        }
    }
    fn ring<R: Ring>(&mut self, v: &[R]) {
        self.u64(v.len() as u64);
        R::encode_slice(v, &mut self.0);
    }
    fn bits(&mut self, b: &BitVec) {
        self.u64(b.len() as u64);
        for &w in b.words() {
            self.u64(w);
        }
    }
    fn blocks(&mut self, bs: &[Block]) {
        self.u64(bs.len() as u64);
        for b in bs {
            self.0.extend_from_slice(&b.to_bytes());
        }
    }
    fn maybe<R: Ring>(&mut self, a: Option<&ArrayD<R>>) {
        match a {
            Some(a) => {
                self.0.push(1);
                self.array(a);
            }
            None => self.0.push(0),
        }
    }
}

/// This party's correlations, in demand order, as the file's body holds them.
fn encode<R: Ring>(items: &[(Request, Correlation<R>)]) -> Vec<u8> {
    let mut o = Out(Vec::new());
    for (_, c) in items {
        match c {
            Correlation::Beaver(t) => {
                o.array(&t.a);
                o.array(&t.b);
                o.array(&t.c);
            }
            Correlation::Square(p) => {
                o.array(&p.a);
                o.array(&p.c);
            }
            Correlation::Trunc(p) => {
                o.array(&p.r);
                o.array(&p.r_msb);
                o.array(&p.r_mid);
            }
            Correlation::And(t) => {
                o.bits(&t.a);
                o.bits(&t.b);
                o.bits(&t.c);
            }
            Correlation::Rot(RandomOts::Sender { m0, m1 }) => {
                o.0.push(0);
                o.blocks(m0);
                o.blocks(m1);
            }
            Correlation::Rot(RandomOts::Receiver { choices, chosen }) => {
                o.0.push(1);
                o.bits(choices);
                o.blocks(chosen);
            }
            Correlation::DaBits(d) => {
                o.ring(&d.arith);
                o.bits(&d.boolean);
            }
            Correlation::WeightMask(m) => o.maybe(m.mask.as_ref()),
            Correlation::PlainWeight(p) => {
                o.maybe(p.v.as_ref());
                o.array(&p.z);
            }
        }
    }
    o.0
}

struct In<'a>(&'a [u8]);

impl In<'_> {
    fn bytes(&mut self, n: usize) -> Result<&[u8], String> {
        if self.0.len() < n {
            return Err("the correlations end early".into());
        }
        let (a, b) = self.0.split_at(n);
        self.0 = b;
        Ok(a)
    }
    fn u64(&mut self) -> Result<u64, String> {
        let mut b = [0u8; 8];
        b.copy_from_slice(self.bytes(8)?);
        Ok(u64::from_le_bytes(b))
    }
    fn count(&mut self, unit: usize) -> Result<usize, String> {
        let n = usize::try_from(self.u64()?).map_err(|_| "a length overflows".to_string())?;
        if n.checked_mul(unit).is_none_or(|b| b > self.0.len()) {
            return Err("a length exceeds the file".into());
        }
        Ok(n)
    }
    fn ring<R: Ring>(&mut self, n: usize) -> Result<Vec<R>, String> {
        let b = self.bytes(n * R::BYTES)?;
        R::decode_slice(b).map_err(|e| e.to_string())
    }
    fn array<R: Ring>(&mut self) -> Result<ArrayD<R>, String> {
        let rank = self.count(8)?;
        let mut shape = Vec::with_capacity(rank);
        for _ in 0..rank {
            shape.push(self.count(0)?);
        }
        let n = shape
            .iter()
            .try_fold(1usize, |a, &d| a.checked_mul(d))
            .filter(|n| n.checked_mul(R::BYTES).is_some_and(|b| b <= self.0.len()))
            .ok_or("an array exceeds the file")?;
        let v = self.ring(n)?;
        ArrayD::from_shape_vec(IxDyn(&shape), v).map_err(|e| e.to_string())
    }
    fn ring_vec<R: Ring>(&mut self) -> Result<Vec<R>, String> {
        let n = self.count(R::BYTES)?;
        self.ring(n)
    }
    fn bits(&mut self) -> Result<BitVec, String> {
        let n = self.count(0)?;
        let words = n.div_ceil(64);
        if words.saturating_mul(8) > self.0.len() {
            return Err("a bit vector exceeds the file".into());
        }
        let w = (0..words).map(|_| self.u64()).collect::<Result<_, _>>()?;
        BitVec::from_words(n, w).map_err(|e| e.to_string())
    }
    fn blocks(&mut self) -> Result<Vec<Block>, String> {
        let n = self.count(16)?;
        (0..n)
            .map(|_| {
                let mut b = [0u8; 16];
                b.copy_from_slice(self.bytes(16)?);
                Ok(Block::from_bytes(b))
            })
            .collect()
    }
    fn flag(&mut self) -> Result<bool, String> {
        match self.bytes(1)?[0] {
            0 => Ok(false),
            1 => Ok(true),
            b => Err(format!("unknown tag {b}")),
        }
    }
    fn maybe<R: Ring>(&mut self) -> Result<Option<ArrayD<R>>, String> {
        Ok(if self.flag()? {
            Some(self.array()?)
        } else {
            None
        })
    }
}

/// The correlations of `demand` from a file's body ([`encode`]); the provider checks
/// each one's shapes against its request when it is taken.
fn decode<R: Ring>(demand: &Demand, body: &[u8]) -> Result<Items<R>, String> {
    let mut i = In(body);
    let mut out = Vec::with_capacity(demand.len());
    for req in demand.requests() {
        let c = match req {
            Request::Beaver { op, .. } => Correlation::Beaver(BeaverTriple {
                op: *op,
                a: i.array()?,
                b: i.array()?,
                c: i.array()?,
            }),
            Request::Square { .. } => Correlation::Square(SquarePair {
                a: i.array()?,
                c: i.array()?,
            }),
            Request::Trunc { frac_bits, .. } => Correlation::Trunc(TruncPair {
                frac_bits: *frac_bits,
                r: i.array()?,
                r_msb: i.array()?,
                r_mid: i.array()?,
            }),
            Request::AndTriples { .. } => Correlation::And(AndTriples {
                a: i.bits()?,
                b: i.bits()?,
                c: i.bits()?,
            }),
            Request::RandomOts { .. } => Correlation::Rot(if i.flag()? {
                RandomOts::Receiver {
                    choices: i.bits()?,
                    chosen: i.blocks()?,
                }
            } else {
                RandomOts::Sender {
                    m0: i.blocks()?,
                    m1: i.blocks()?,
                }
            }),
            Request::DaBits { .. } => Correlation::DaBits(DaBits {
                arith: i.ring_vec()?,
                boolean: i.bits()?,
            }),
            Request::WeightMask { .. } => {
                Correlation::WeightMask(WeightMaskShare { mask: i.maybe()? })
            }
            Request::PlainWeight { op, mask, .. } => Correlation::PlainWeight(PlainWeightShare {
                op: *op,
                mask: *mask,
                v: i.maybe()?,
                z: i.array()?,
            }),
        };
        out.push((req.clone(), c));
    }
    if !i.0.is_empty() {
        return Err(format!("{} bytes after the last correlation", i.0.len()));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use tessera_core::Z64;

    #[test]
    fn items_round_trip() {
        let mut d = Demand::new();
        d.mul(&[2, 3]).and_triples(70).random_ots(3, 0).dabits(5);
        d.trunc(8, &[4]);
        let items: Vec<(Request, Correlation<Z64>)> = {
            let seed = Block::from_bytes([3; 16]);
            tessera_protocols::preprocessing::expand_party0(&d, seed).unwrap()
        };
        let body = encode(&items);
        let back = decode::<Z64>(&d, &body).unwrap();
        assert_eq!(encode(&back), body);
        assert!(decode::<Z64>(&d, &body[..body.len() - 1]).is_err());
        let mut longer = body.clone();
        longer.push(0);
        assert!(decode::<Z64>(&d, &longer).is_err());
    }
}
