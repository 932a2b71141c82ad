//! One party's preprocessing material and its file format.
//!
//! # File format (version 3)
//! All integers little-endian.
//!
//! | offset | size | field |
//! |---|---|---|
//! | 0 | 8 | magic `TSSRPREP` |
//! | 8 | 4 | format version (3) |
//! | 12 | 1 | state: 0 = fresh, 1 = consumed |
//! | 13 | 1 | party (0 or 1) |
//! | 14 | 2 | ring bit width ℓ |
//! | 16 | 16 | session id |
//! | 32 | 8 | body length `B` (bytes from offset 88 to the end) |
//! | 40 | 16 | dealing id (the same in both parties' files of one dealing) |
//! | 56 | 32 | SHA-256 of bytes 0..56 followed by the body |
//! | 88 | 1 | body kind: 0 = `seeded`, 1 = `items` |
//! | 89 | 8 | demand length `d` |
//! | 97 | `d` | the demand (postcard) |
//! | 97 + `d` | … | `seeded`: the seed (16), then party 1's corrections in demand order ([`crate::preprocessing::Request::correction_bytes`]; none for party 0) |
//! | 97 + `d` | … | `items`: every correlation of the party in full, in demand order, each part's size given by its request (see the table of [`items`](super::items)) |
//!
//! A `seeded` body is what the dealer sends, stored as it arrives: each party's
//! material is the expansion of its seed (and, for party 1, its corrections).
//! An `items` body holds correlations that have no seed to expand from — made by the
//! two parties by OT extension ([`crate::ot::source`]) — written by [`save_items`];
//! nothing of it is stored but the elements, so it is exactly as large as the
//! correlations (ℓ/8 bytes per ring element, 16 per OT string, one bit per bit, padded
//! to 64).
//!
//! Versions 1 (no dealing id) and 2 (no body kind) are refused with a message to run
//! the offline phase again: a version-2 body is ambiguous — the OT offline phase of
//! the build that wrote them stored its correlations where a dealer's seed and
//! corrections go — and preprocessing is used once anyway, so there is nothing to keep.
//!
//! Neither writing nor reading a `seeded` file holds the corrections in memory:
//! [`MaterialWriter`] appends them as they arrive from the dealer, and
//! [`PartyMaterial::open`] streams the file through the checksum and leaves the
//! corrections in the file for the store to read in demand order
//! ([`crate::preprocessing::Store::from_opened`], which reads either kind).
//!
//! # Writing and consumption
//! Files are written to a temporary file in the same directory, synced, and renamed
//! over the target, so a reader sees the old file or the new one, never a mix; on
//! Unix they are created with mode 0600 (they hold the seed or the shares).
//!
//! Each correlation may be used once. [`PartyMaterial::open`] (and
//! [`PartyMaterial::load`], which also reads the corrections) therefore *marks the
//! file consumed on disk* before it returns: the state byte, then the checksum over the
//! changed header, rewritten in place and synced (a crash in between leaves a file
//! whose checksum fails — refused, never used twice). Loading it again is
//! [`Error::AlreadyConsumed`](crate::Error::AlreadyConsumed), loading it for another
//! session is [`Error::SessionMismatch`](crate::Error::SessionMismatch).
//! [`PartyMaterial::verify`] runs the same checks without claiming the file. The checksum
//! detects corruption and tampering by accident or by a careless user; it is not a MAC
//! (in the semi-honest model parties follow the protocol).

use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};
use tessera_core::{Block, Ring, SessionId};

use super::items::{ReadSide, SizeSide, WriteSide, empty_item, walk};
use super::{Correlation, Demand, Request};
use crate::{Error, Result};

/// The file magic.
pub const MAGIC: [u8; 8] = *b"TSSRPREP";
/// The format version this build writes and reads.
pub const FORMAT_VERSION: u32 = 3;
const HEADER: usize = 88;
/// Bytes of the header covered by the checksum (all before it).
const SUMMED: usize = 56;
const STATE_FRESH: u8 = 0;
const STATE_CONSUMED: u8 = 1;
const BODY_SEEDED: u8 = 0;
const BODY_ITEMS: u8 = 1;

/// A dealing's identifier: 128 random bits drawn by the dealer for each dealing and
/// given to both parties with their material (and written into their files). The
/// parties compare theirs before the online phase, so material of two dealings is never
/// mixed, and each party records the ids it has consumed in its ledger
/// ([`crate::preprocessing::Ledger`]), so a copy of consumed material is refused.
#[derive(
    Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
pub struct DealingId(pub [u8; 16]);

impl DealingId {
    /// A fresh id from the OS CSPRNG.
    pub fn random() -> Self {
        DealingId(tessera_core::prg::os_seed().to_bytes())
    }
}

impl std::fmt::Display for DealingId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&hex::encode(self.0))
    }
}

impl std::fmt::Debug for DealingId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "DealingId({self})")
    }
}

impl std::str::FromStr for DealingId {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        let bad = || Error::InvalidArgument {
            op: "dealing id",
            detail: format!("`{s}` is not 32 hex digits"),
        };
        let v = hex::decode(s).map_err(|_| bad())?;
        Ok(DealingId(v.try_into().map_err(|_| bad())?))
    }
}

/// One party's preprocessing in seed-compressed form: what the dealer sends, what a
/// file stores. [`crate::preprocessing::Store::from_material`] expands it.
#[derive(Clone)]
pub struct PartyMaterial {
    /// The party (0 or 1).
    pub party: usize,
    /// The session it was made for.
    pub session: SessionId,
    /// The dealing it belongs to.
    pub dealing: DealingId,
    /// ℓ of the ring it was made for.
    pub ring_bits: u32,
    /// The demand it answers.
    pub demand: Demand,
    /// The party's expansion seed (secret).
    pub seed: Block,
    /// Party 1's corrections (empty for party 0; secret).
    pub corrections: Vec<u8>,
}

impl std::fmt::Debug for PartyMaterial {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PartyMaterial")
            .field("party", &self.party)
            .field("session", &self.session)
            .field("dealing", &self.dealing)
            .field("ring_bits", &self.ring_bits)
            .field("requests", &self.demand.len())
            .field("correction_bytes", &self.corrections.len())
            .finish_non_exhaustive()
    }
}

fn file_err(path: &Path, reason: impl Into<String>) -> Error {
    Error::PreprocessingFile {
        path: path.to_path_buf(),
        reason: reason.into(),
    }
}

/// Body bytes before the corrections or the items: the body kind, the demand's length,
/// the demand, and a `seeded` body's seed.
fn body_prefix(demand: &Demand, seed: Option<Block>) -> Result<Vec<u8>> {
    let d = postcard::to_stdvec(demand).map_err(|e| Error::InvalidArgument {
        op: "saving preprocessing",
        detail: format!("cannot encode the demand: {e}"),
    })?;
    let mut body = Vec::with_capacity(1 + 8 + d.len() + 16);
    body.push(if seed.is_some() {
        BODY_SEEDED
    } else {
        BODY_ITEMS
    });
    body.extend_from_slice(&(d.len() as u64).to_le_bytes());
    body.extend_from_slice(&d);
    if let Some(seed) = seed {
        body.extend_from_slice(&seed.to_bytes());
    }
    Ok(body)
}

/// Bytes hashed and copied per read or write of a file's body.
const IO_CHUNK: usize = 1 << 20;

/// A preprocessing file written as its corrections arrive (never all in memory):
/// [`MaterialWriter::create`] writes the header and the demand to a temporary file next
/// to the target, [`MaterialWriter::write`] appends corrections, and
/// [`MaterialWriter::finish`] checks that exactly the announced number came, writes the
/// checksum, syncs and renames the file over the target. Dropped unfinished, it removes
/// the temporary file.
pub struct MaterialWriter {
    path: PathBuf,
    tmp: PathBuf,
    file: Option<std::io::BufWriter<std::fs::File>>,
    hasher: Sha256,
    remaining: u64,
    /// What the appended bytes are, for errors.
    unit: &'static str,
}

impl std::fmt::Debug for MaterialWriter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MaterialWriter")
            .field("path", &self.path)
            .field("remaining", &self.remaining)
            .finish_non_exhaustive()
    }
}

impl MaterialWriter {
    /// Starts the file of `party`'s material for `demand` (its seed `seed`), whose
    /// `corrections` bytes of corrections follow with [`MaterialWriter::write`].
    ///
    /// # Errors
    /// [`Error::PreprocessingFile`] on an I/O failure; an invalid party.
    #[allow(clippy::too_many_arguments)]
    pub fn create(
        path: &Path,
        party: usize,
        session: SessionId,
        dealing: DealingId,
        ring_bits: u32,
        demand: &Demand,
        seed: Block,
        corrections: usize,
    ) -> Result<Self> {
        let prefix = body_prefix(demand, Some(seed))?;
        Self::start(
            path,
            party,
            session,
            dealing,
            ring_bits,
            &prefix,
            corrections as u64,
            "correction bytes",
        )
    }

    /// The header and `prefix` written, `rest` bytes of body to follow.
    #[allow(clippy::too_many_arguments)]
    fn start(
        path: &Path,
        party: usize,
        session: SessionId,
        dealing: DealingId,
        ring_bits: u32,
        prefix: &[u8],
        rest: u64,
        unit: &'static str,
    ) -> Result<Self> {
        let party = u8::try_from(party)
            .ok()
            .filter(|p| *p <= 1)
            .ok_or_else(|| Error::InvalidArgument {
                op: "saving preprocessing",
                detail: format!("party {party} does not exist"),
            })?;
        let body_len = (prefix.len() as u64)
            .checked_add(rest)
            .ok_or_else(|| file_err(path, "the body's length overflows"))?;
        let mut header = Vec::with_capacity(HEADER);
        header.extend_from_slice(&MAGIC);
        header.extend_from_slice(&FORMAT_VERSION.to_le_bytes());
        header.push(STATE_FRESH);
        header.push(party);
        header.extend_from_slice(&(ring_bits as u16).to_le_bytes());
        header.extend_from_slice(&session.0);
        header.extend_from_slice(&body_len.to_le_bytes());
        header.extend_from_slice(&dealing.0);
        let mut hasher = Sha256::new();
        hasher.update(&header);
        hasher.update(prefix);
        // The checksum's place, written by `finish`.
        header.extend_from_slice(&[0u8; 32]);
        let tmp = temp_path(path);
        let mut opts = std::fs::OpenOptions::new();
        opts.write(true).create_new(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            opts.mode(0o600);
        }
        let mut w = MaterialWriter {
            path: path.to_path_buf(),
            tmp: tmp.clone(),
            file: None,
            hasher,
            remaining: rest,
            unit,
        };
        let file = opts
            .open(&tmp)
            .map_err(|e| file_err(path, format!("cannot write: {e}")))?;
        let mut file = std::io::BufWriter::with_capacity(IO_CHUNK, file);
        file.write_all(&header)
            .and_then(|()| file.write_all(prefix))
            .map_err(|e| file_err(path, format!("cannot write: {e}")))?;
        w.file = Some(file);
        Ok(w)
    }

    /// Appends corrections.
    ///
    /// # Errors
    /// [`Error::PreprocessingFile`] on an I/O failure or more corrections than
    /// announced.
    pub fn write(&mut self, chunk: &[u8]) -> Result<()> {
        if chunk.len() as u64 > self.remaining {
            return Err(file_err(
                &self.path,
                format!(
                    "{} {} more than announced",
                    chunk.len() as u64 - self.remaining,
                    self.unit
                ),
            ));
        }
        let file = self
            .file
            .as_mut()
            .ok_or_else(|| file_err(&self.path, "written after it was finished"))?;
        file.write_all(chunk)
            .map_err(|e| file_err(&self.path, format!("cannot write: {e}")))?;
        self.hasher.update(chunk);
        self.remaining -= chunk.len() as u64;
        Ok(())
    }

    /// Completes the file: the checksum, a sync, the rename over the target.
    ///
    /// # Errors
    /// [`Error::PreprocessingFile`] if corrections are missing or on an I/O failure.
    pub fn finish(mut self) -> Result<()> {
        if self.remaining != 0 {
            return Err(file_err(
                &self.path,
                format!("{} {} missing", self.remaining, self.unit),
            ));
        }
        let file = self
            .file
            .take()
            .ok_or_else(|| file_err(&self.path, "finished twice"))?;
        let sum: [u8; 32] = std::mem::take(&mut self.hasher).finalize().into();
        let (path, tmp) = (self.path.clone(), self.tmp.clone());
        let result = (|| -> std::io::Result<()> {
            let mut f = file.into_inner().map_err(|e| e.into_error())?;
            f.seek(SeekFrom::Start(SUMMED as u64))?;
            f.write_all(&sum)?;
            f.sync_all()?;
            drop(f);
            std::fs::rename(&tmp, &path)?;
            sync_dir(&path);
            Ok(())
        })();
        result.map_err(|e| file_err(&path, format!("cannot write: {e}")))
    }
}

/// Writes `party`'s correlations `items` — each request of the demand they answer with
/// its correlation, in demand order, as [`crate::ot::source::generate`] makes them —
/// to the preprocessing file `path` as an `items` body (see the module docs), with the
/// same header, checksum and atomic write (mode 0600) as a dealer's file. The items
/// are encoded and written one at a time.
///
/// # Errors
/// [`Error::PreprocessingFile`] on an I/O failure, or naming the first item that does
/// not fit its request (another kind, side or shape than the request asks of `party`).
pub fn save_items<R: Ring>(
    path: &Path,
    party: usize,
    session: SessionId,
    dealing: DealingId,
    items: Vec<(Request, Correlation<R>)>,
) -> Result<()> {
    let mut demand = Demand::new();
    for (req, _) in &items {
        demand.push(req.clone());
    }
    let len = items_len::<R>(&demand, party).map_err(|why| file_err(path, why))?;
    let prefix = body_prefix(&demand, None)?;
    let mut w = MaterialWriter::start(
        path,
        party,
        session,
        dealing,
        R::BITS,
        &prefix,
        len,
        "bytes of correlations",
    )?;
    for (i, (req, mut item)) in items.into_iter().enumerate() {
        let mut side = WriteSide::default();
        walk(&req, party, &mut item, &mut side)
            .map_err(|why| file_err(path, format!("request #{i} ({req}): {why}")))?;
        w.write(&side.out)?;
    }
    w.finish()
}

/// Bytes of `party`'s correlations for `demand` in an `items` body.
fn items_len<R: Ring>(demand: &Demand, party: usize) -> std::result::Result<u64, String> {
    let mut side = SizeSide::default();
    for (i, req) in demand.requests().iter().enumerate() {
        walk::<R>(req, party, &mut empty_item(req, party), &mut side)
            .map_err(|why| format!("request #{i} ({req}): {why}"))?;
    }
    Ok(side.bytes)
}

/// [`items_len`] for a ring given by its width.
fn items_len_bits(
    demand: &Demand,
    party: usize,
    ring_bits: u32,
) -> std::result::Result<u64, String> {
    match ring_bits {
        32 => items_len::<tessera_core::Z32>(demand, party),
        64 => items_len::<tessera_core::Z64>(demand, party),
        b => Err(format!(
            "material for Z_2^{b}, a ring this build does not have"
        )),
    }
}

impl Drop for MaterialWriter {
    fn drop(&mut self) {
        if self.file.is_some() || self.remaining != 0 {
            let _ = std::fs::remove_file(&self.tmp);
        }
    }
}

pub(crate) fn sync_dir(path: &Path) {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        // Persist the rename; not every platform lets a directory be opened.
        if let Ok(d) = std::fs::File::open(dir) {
            let _ = d.sync_all();
        }
    }
}

/// Why an `items` file is not seed-compressed material.
const ITEMS_NOT_SEEDED: &str = "holds correlations in full (made by OT extension), not a \
     dealer's seed and corrections: read it with a store (Store::from_opened) or a \
     FileSource";

/// What a preprocessing file's body holds after its demand (see the module docs).
pub enum Body {
    /// The dealer's seed-compressed material: the seed in memory, `corrections_len`
    /// bytes of party 1's corrections left in the file.
    Seeded {
        /// The party's expansion seed (secret).
        seed: Block,
        /// Bytes of corrections the reader holds.
        corrections_len: usize,
    },
    /// Every correlation in full, `len` bytes left in the file.
    Items {
        /// Bytes of correlations the reader holds.
        len: u64,
    },
}

impl std::fmt::Debug for Body {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Body::Seeded {
                corrections_len, ..
            } => write!(f, "Seeded {{ correction_bytes: {corrections_len}, .. }}"),
            Body::Items { len } => write!(f, "Items {{ bytes: {len} }}"),
        }
    }
}

/// A preprocessing file opened and checked ([`PartyMaterial::open`]): the material's
/// header and demand in memory, a `seeded` body's seed too; party 1's corrections or
/// the items left in the file, to be read in demand order
/// ([`crate::preprocessing::Store::from_opened`]).
pub struct OpenedMaterial {
    /// The file.
    pub path: PathBuf,
    /// The party (0 or 1).
    pub party: usize,
    /// The session it was made for.
    pub session: SessionId,
    /// The dealing it belongs to.
    pub dealing: DealingId,
    /// ℓ of the ring it was made for.
    pub ring_bits: u32,
    /// The demand it answers.
    pub demand: Demand,
    /// What the rest of the body holds.
    pub body: Body,
    /// The file, positioned after the demand (and seed).
    pub reader: std::io::BufReader<std::fs::File>,
}

impl std::fmt::Debug for OpenedMaterial {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OpenedMaterial")
            .field("party", &self.party)
            .field("session", &self.session)
            .field("dealing", &self.dealing)
            .field("requests", &self.demand.len())
            .field("body", &self.body)
            .finish_non_exhaustive()
    }
}

impl OpenedMaterial {
    /// Reads a `seeded` body's corrections into memory: the whole material.
    ///
    /// # Errors
    /// [`Error::PreprocessingFile`] for an `items` body (it has no seed: read it with
    /// [`OpenedMaterial::into_items`] or [`crate::preprocessing::Store::from_opened`]);
    /// [`Error::Io`] if the file cannot be read to its end.
    pub fn into_material(mut self) -> Result<PartyMaterial> {
        let (seed, corrections_len) = match self.body {
            Body::Seeded {
                seed,
                corrections_len,
            } => (seed, corrections_len),
            Body::Items { .. } => {
                return Err(file_err(&self.path, ITEMS_NOT_SEEDED));
            }
        };
        let mut corrections = vec![0u8; corrections_len];
        self.reader
            .read_exact(&mut corrections)
            .map_err(|source| Error::Io {
                context: "reading a preprocessing file's corrections".into(),
                source,
            })?;
        Ok(PartyMaterial {
            party: self.party,
            session: self.session,
            dealing: self.dealing,
            ring_bits: self.ring_bits,
            demand: self.demand,
            seed,
            corrections,
        })
    }

    /// Reads an `items` body: every correlation, in demand order, each checked to be of
    /// the kind, side and shapes its request asks of this party.
    ///
    /// # Errors
    /// [`Error::PreprocessingFile`] for a `seeded` body, material for another ring, or
    /// a malformed body (naming the request whose correlation it cannot read).
    pub fn into_items<R: Ring>(mut self) -> Result<Vec<(Request, Correlation<R>)>> {
        let Body::Items { len } = self.body else {
            return Err(file_err(
                &self.path,
                "holds a dealer's seed and corrections, not correlations in full",
            ));
        };
        if self.ring_bits != R::BITS {
            return Err(file_err(
                &self.path,
                format!(
                    "material for Z_2^{}, the session runs {}",
                    self.ring_bits,
                    R::NAME
                ),
            ));
        }
        let (path, party) = (self.path, self.party);
        let mut side = ReadSide {
            from: &mut self.reader,
            left: len,
        };
        let mut out = Vec::with_capacity(self.demand.len());
        for (i, req) in self.demand.requests().iter().enumerate() {
            let mut item = empty_item(req, party);
            walk(req, party, &mut item, &mut side).map_err(|why| {
                file_err(
                    &path,
                    format!("malformed body: request #{i} ({req}): {why}"),
                )
            })?;
            out.push((req.clone(), item));
        }
        if side.left != 0 {
            return Err(file_err(
                &path,
                format!(
                    "malformed body: {} bytes after the last correlation",
                    side.left
                ),
            ));
        }
        Ok(out)
    }
}

impl PartyMaterial {
    /// Writes the material to `path` atomically (temporary file, sync, rename).
    ///
    /// # Errors
    /// [`Error::PreprocessingFile`] on any I/O failure.
    pub fn save(&self, path: &Path) -> Result<()> {
        let mut w = MaterialWriter::create(
            path,
            self.party,
            self.session,
            self.dealing,
            self.ring_bits,
            &self.demand,
            self.seed,
            self.corrections.len(),
        )?;
        w.write(&self.corrections)?;
        w.finish()
    }

    /// Reads, verifies and claims a file: checks the magic, version, length, checksum,
    /// party and session, and that it was not consumed; then marks it consumed on
    /// disk and returns its material.
    ///
    /// # Errors
    /// [`Error::PreprocessingFile`] naming what is wrong (unreadable, truncated, bad
    /// magic, unsupported version, checksum mismatch, wrong party, undecodable body),
    /// [`Error::SessionMismatch`], or [`Error::AlreadyConsumed`].
    /// An `items` file is refused (before it is claimed): it has no seed; read it with
    /// [`crate::preprocessing::Store::from_opened`].
    pub fn load(path: &Path, party: usize, session: SessionId) -> Result<PartyMaterial> {
        check_file(path, party, session, Claim::SeededOnly)?.into_material()
    }

    /// [`PartyMaterial::load`] without reading the corrections into memory: the file
    /// is streamed through the checksum (twice: to verify it, and to mark it consumed
    /// on disk — state byte and checksum rewritten in place — before anything uses
    /// it), and the corrections are left in the file for the store to read in order.
    ///
    /// # Errors
    /// As [`PartyMaterial::load`].
    pub fn open(path: &Path, party: usize, session: SessionId) -> Result<OpenedMaterial> {
        check_file(path, party, session, Claim::Any)
    }

    /// Runs every check of [`PartyMaterial::load`] without claiming the file, and
    /// returns the demand the material answers: a program can refuse a file that is
    /// not usable (or not for it) before it commits to a run, and claim it with `load`
    /// only when it is about to use it.
    ///
    /// # Errors
    /// As [`PartyMaterial::load`].
    pub fn verify(path: &Path, party: usize, session: SessionId) -> Result<Demand> {
        check_file(path, party, session, Claim::No).map(|m| m.demand)
    }

    /// [`PartyMaterial::verify`], returning the dealing id with the demand.
    ///
    /// # Errors
    /// As [`PartyMaterial::load`].
    pub fn inspect(path: &Path, party: usize, session: SessionId) -> Result<(Demand, DealingId)> {
        check_file(path, party, session, Claim::No).map(|m| (m.demand, m.dealing))
    }
}

/// SHA-256 of `header40` (the summed header) followed by the `len` body bytes of `f` from offset
/// [`HEADER`].
fn hash_body(f: &mut std::fs::File, header40: &[u8], len: u64) -> std::io::Result<[u8; 32]> {
    let mut h = Sha256::new();
    h.update(header40);
    f.seek(SeekFrom::Start(HEADER as u64))?;
    let mut r = std::io::BufReader::with_capacity(IO_CHUNK, f.take(len));
    let mut buf = vec![0u8; IO_CHUNK];
    loop {
        let n = r.read(&mut buf)?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
    }
    Ok(h.finalize().into())
}

/// Whether [`check_file`] claims the file.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Claim {
    /// Checks only.
    No,
    /// Claims a file of either body kind.
    Any,
    /// Claims a `seeded` file, refuses an `items` one unclaimed.
    SeededOnly,
}

/// Opens and checks a file (see [`PartyMaterial::load`]), streaming it; if `claim`
/// says so, marks it consumed on disk before returning.
fn check_file(
    path: &Path,
    party: usize,
    session: SessionId,
    claim: Claim,
) -> Result<OpenedMaterial> {
    let read_err = |e: std::io::Error| file_err(path, format!("cannot read: {e}"));
    let mut f = std::fs::File::open(path).map_err(read_err)?;
    let size = f.metadata().map_err(read_err)?.len();
    if size < HEADER as u64 {
        return Err(file_err(
            path,
            format!("truncated: {size} bytes, the header alone is {HEADER}"),
        ));
    }
    let mut header = [0u8; HEADER];
    f.read_exact(&mut header).map_err(read_err)?;
    if header[..8] != MAGIC {
        return Err(file_err(
            path,
            "not a Tessera preprocessing file (bad magic)",
        ));
    }
    let version = u32::from_le_bytes([header[8], header[9], header[10], header[11]]);
    if version != FORMAT_VERSION {
        return Err(file_err(
            path,
            format!(
                "format version {version}, this build reads version {FORMAT_VERSION} (files \
                 now name their dealing and the kind of their body): run the offline phase \
                 again"
            ),
        ));
    }
    let mut len8 = [0u8; 8];
    len8.copy_from_slice(&header[32..40]);
    let body_len = u64::from_le_bytes(len8);
    let have = size - HEADER as u64;
    if have < body_len {
        return Err(file_err(
            path,
            format!("truncated: the body has {have} of its {body_len} bytes"),
        ));
    }
    if have > body_len {
        return Err(file_err(
            path,
            format!("{} trailing bytes after the body", have - body_len),
        ));
    }
    if hash_body(&mut f, &header[..SUMMED], body_len).map_err(read_err)? != header[SUMMED..HEADER] {
        return Err(file_err(
            path,
            "checksum mismatch: the file was modified or corrupted",
        ));
    }
    let state = header[12];
    let file_party = usize::from(header[13]);
    let ring_bits = u32::from(u16::from_le_bytes([header[14], header[15]]));
    let mut sid = [0u8; 16];
    sid.copy_from_slice(&header[16..32]);
    let file_session = SessionId(sid);
    let mut did = [0u8; 16];
    did.copy_from_slice(&header[40..56]);
    let dealing = DealingId(did);
    if file_party != party {
        return Err(file_err(
            path,
            format!("holds party {file_party}'s material, this is party {party}"),
        ));
    }
    if file_session != session {
        return Err(Error::SessionMismatch {
            what: "preprocessing file",
            expected: session,
            found: file_session,
        });
    }
    match state {
        STATE_FRESH => {}
        STATE_CONSUMED => {
            return Err(Error::AlreadyConsumed {
                path: path.to_path_buf(),
                session,
            });
        }
        s => return Err(file_err(path, format!("unknown state byte {s}"))),
    }
    let bad_body = |why: String| file_err(path, format!("malformed body: {why}"));
    f.seek(SeekFrom::Start(HEADER as u64)).map_err(read_err)?;
    let mut r = std::io::BufReader::with_capacity(IO_CHUNK, f);
    if body_len < 9 {
        return Err(bad_body("no body kind and demand length".into()));
    }
    let mut kind = [0u8; 1];
    r.read_exact(&mut kind).map_err(read_err)?;
    r.read_exact(&mut len8).map_err(read_err)?;
    let rest = body_len - 9;
    let dlen = u64::from_le_bytes(len8);
    let after_demand = rest
        .checked_sub(dlen)
        .ok_or_else(|| bad_body(format!("demand length {dlen} exceeds the body")))?;
    let dlen = usize::try_from(dlen).map_err(|_| bad_body("demand length overflows".into()))?;
    let mut demand_bytes = vec![0u8; dlen];
    r.read_exact(&mut demand_bytes).map_err(read_err)?;
    let demand: Demand = postcard::from_bytes(&demand_bytes)
        .map_err(|e| bad_body(format!("demand does not decode: {e}")))?;
    let body = match kind[0] {
        BODY_SEEDED => {
            let corrections_len = after_demand
                .checked_sub(16)
                .ok_or_else(|| bad_body("no seed after the demand".into()))?;
            let mut seed = [0u8; 16];
            r.read_exact(&mut seed).map_err(read_err)?;
            Body::Seeded {
                seed: Block::from_bytes(seed),
                corrections_len: usize::try_from(corrections_len).map_err(|_| {
                    bad_body("the corrections do not fit in memory addresses".into())
                })?,
            }
        }
        BODY_ITEMS => {
            let need = items_len_bits(&demand, party, ring_bits).map_err(bad_body)?;
            if need != after_demand {
                return Err(bad_body(format!(
                    "it holds {after_demand} bytes of correlations, its demand takes {need}"
                )));
            }
            Body::Items { len: after_demand }
        }
        k => return Err(bad_body(format!("unknown body kind {k}"))),
    };
    if claim == Claim::SeededOnly && matches!(body, Body::Items { .. }) {
        return Err(file_err(path, ITEMS_NOT_SEEDED));
    }
    if claim != Claim::No {
        // Claim the file before anything uses it: the state byte, then the checksum
        // over the changed header. A crash in between leaves a file whose checksum
        // fails: refused, never used twice.
        let write_err = |e: std::io::Error| file_err(path, format!("cannot write: {e}"));
        let mut w = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open(path)
            .map_err(write_err)?;
        header[12] = STATE_CONSUMED;
        let sum = hash_body(&mut w, &header[..SUMMED], body_len).map_err(read_err)?;
        w.seek(SeekFrom::Start(12))
            .and_then(|_| w.write_all(&header[12..13]))
            .and_then(|()| w.seek(SeekFrom::Start(SUMMED as u64)))
            .and_then(|_| w.write_all(&sum))
            .and_then(|()| w.sync_all())
            .map_err(write_err)?;
    }
    Ok(OpenedMaterial {
        path: path.to_path_buf(),
        party,
        session,
        dealing,
        ring_bits,
        demand,
        body,
        reader: r,
    })
}

pub(crate) fn temp_path(path: &Path) -> PathBuf {
    let name = path.file_name().map_or_else(
        || "preprocessing".into(),
        |n| n.to_string_lossy().into_owned(),
    );
    let nonce = tessera_core::prg::os_seed().to_hex();
    path.with_file_name(format!(".{name}.{}.tmp", &nonce[..16]))
}
