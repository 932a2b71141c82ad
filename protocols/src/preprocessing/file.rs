//! One party's preprocessing material and its file format.
//!
//! # File format (version 2)
//! All integers little-endian.
//!
//! | offset | size | field |
//! |---|---|---|
//! | 0 | 8 | magic `TSSRPREP` |
//! | 8 | 4 | format version (1) |
//! | 12 | 1 | state: 0 = fresh, 1 = consumed |
//! | 13 | 1 | party (0 or 1) |
//! | 14 | 2 | ring bit width ℓ |
//! | 16 | 16 | session id |
//! | 32 | 8 | body length |
//! | 40 | 16 | dealing id (the same in both parties' files of one dealing) |
//! | 56 | 32 | SHA-256 of bytes 0..56 followed by the body |
//! | 88 | … | body: demand length (8), postcard demand, seed (16), corrections |
//!
//! Version 1 (no dealing id) is refused with a message to run the offline phase again.
//!
//! The material is stored seed-compressed, exactly as the dealer sent it (party 0's
//! file holds a seed and the demand; party 1's also its corrections). Neither writing
//! nor reading holds the corrections in memory: [`MaterialWriter`] appends them as
//! they arrive from the dealer, and [`PartyMaterial::open`] streams the file through
//! the checksum and leaves the corrections in the file for the store to read in
//! demand order ([`crate::preprocessing::Store::from_opened`]).
//!
//! # Writing and consumption
//! Files are written to a temporary file in the same directory, synced, and renamed
//! over the target, so a reader sees the old file or the new one, never a mix; on
//! Unix they are created with mode 0600 (they hold the seed).
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
use tessera_core::{Block, SessionId};

use super::Demand;
use crate::{Error, Result};

/// The file magic.
pub const MAGIC: [u8; 8] = *b"TSSRPREP";
/// The format version this build writes and reads.
pub const FORMAT_VERSION: u32 = 2;
const HEADER: usize = 88;
/// Bytes of the header covered by the checksum (all before it).
const SUMMED: usize = 56;
const STATE_FRESH: u8 = 0;
const STATE_CONSUMED: u8 = 1;

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

/// Body bytes before the corrections: the demand's length, the demand, the seed.
fn body_prefix(demand: &Demand, seed: Block) -> Result<Vec<u8>> {
    let d = postcard::to_stdvec(demand).map_err(|e| Error::InvalidArgument {
        op: "saving preprocessing",
        detail: format!("cannot encode the demand: {e}"),
    })?;
    let mut body = Vec::with_capacity(8 + d.len() + 16);
    body.extend_from_slice(&(d.len() as u64).to_le_bytes());
    body.extend_from_slice(&d);
    body.extend_from_slice(&seed.to_bytes());
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
        let party = u8::try_from(party)
            .ok()
            .filter(|p| *p <= 1)
            .ok_or_else(|| Error::InvalidArgument {
                op: "saving preprocessing",
                detail: format!("party {party} does not exist"),
            })?;
        let prefix = body_prefix(demand, seed)?;
        let body_len = (prefix.len() + corrections) as u64;
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
        hasher.update(&prefix);
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
            remaining: corrections as u64,
        };
        let file = opts
            .open(&tmp)
            .map_err(|e| file_err(path, format!("cannot write: {e}")))?;
        let mut file = std::io::BufWriter::with_capacity(IO_CHUNK, file);
        file.write_all(&header)
            .and_then(|()| file.write_all(&prefix))
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
                    "{} correction bytes more than announced",
                    chunk.len() as u64 - self.remaining
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
                format!("{} correction bytes missing", self.remaining),
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

impl Drop for MaterialWriter {
    fn drop(&mut self) {
        if self.file.is_some() || self.remaining != 0 {
            let _ = std::fs::remove_file(&self.tmp);
        }
    }
}

fn sync_dir(path: &Path) {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        // Persist the rename; not every platform lets a directory be opened.
        if let Ok(d) = std::fs::File::open(dir) {
            let _ = d.sync_all();
        }
    }
}

/// A preprocessing file opened and checked ([`PartyMaterial::open`]): the material's
/// header, demand and seed in memory, party 1's corrections left in the file, to be
/// read in demand order ([`crate::preprocessing::Store::with_corrections_from`]).
pub struct OpenedMaterial {
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
    /// Bytes of corrections `reader` holds.
    pub corrections_len: usize,
    /// The file, positioned at the corrections.
    pub reader: std::io::BufReader<std::fs::File>,
}

impl std::fmt::Debug for OpenedMaterial {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OpenedMaterial")
            .field("party", &self.party)
            .field("session", &self.session)
            .field("dealing", &self.dealing)
            .field("requests", &self.demand.len())
            .field("correction_bytes", &self.corrections_len)
            .finish_non_exhaustive()
    }
}

impl OpenedMaterial {
    /// Reads the corrections into memory: the whole material.
    ///
    /// # Errors
    /// [`Error::Io`] if the file cannot be read to its end.
    pub fn into_material(mut self) -> Result<PartyMaterial> {
        let mut corrections = vec![0u8; self.corrections_len];
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
            seed: self.seed,
            corrections,
        })
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
    pub fn load(path: &Path, party: usize, session: SessionId) -> Result<PartyMaterial> {
        Self::open(path, party, session)?.into_material()
    }

    /// [`PartyMaterial::load`] without reading the corrections into memory: the file
    /// is streamed through the checksum (twice: to verify it, and to mark it consumed
    /// on disk — state byte and checksum rewritten in place — before anything uses
    /// it), and the corrections are left in the file for the store to read in order.
    ///
    /// # Errors
    /// As [`PartyMaterial::load`].
    pub fn open(path: &Path, party: usize, session: SessionId) -> Result<OpenedMaterial> {
        check_file(path, party, session, true)
    }

    /// Runs every check of [`PartyMaterial::load`] without claiming the file, and
    /// returns the demand the material answers: a program can refuse a file that is
    /// not usable (or not for it) before it commits to a run, and claim it with `load`
    /// only when it is about to use it.
    ///
    /// # Errors
    /// As [`PartyMaterial::load`].
    pub fn verify(path: &Path, party: usize, session: SessionId) -> Result<Demand> {
        check_file(path, party, session, false).map(|m| m.demand)
    }

    /// [`PartyMaterial::verify`], returning the dealing id with the demand.
    ///
    /// # Errors
    /// As [`PartyMaterial::load`].
    pub fn inspect(path: &Path, party: usize, session: SessionId) -> Result<(Demand, DealingId)> {
        check_file(path, party, session, false).map(|m| (m.demand, m.dealing))
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

/// Opens and checks a file (see [`PartyMaterial::load`]), streaming it; with `claim`,
/// marks it consumed on disk before returning.
fn check_file(
    path: &Path,
    party: usize,
    session: SessionId,
    claim: bool,
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
                 now name their dealing): run the offline phase again"
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
    if body_len < 8 {
        return Err(bad_body("no demand length".into()));
    }
    r.read_exact(&mut len8).map_err(read_err)?;
    let dlen = usize::try_from(u64::from_le_bytes(len8))
        .map_err(|_| bad_body("demand length overflows".into()))?;
    let rest = body_len - 8;
    let corrections_len = (dlen as u64)
        .checked_add(16)
        .and_then(|p| rest.checked_sub(p))
        .ok_or_else(|| bad_body(format!("demand length {dlen} exceeds the body")))?;
    let mut demand_bytes = vec![0u8; dlen];
    r.read_exact(&mut demand_bytes).map_err(read_err)?;
    let demand: Demand = postcard::from_bytes(&demand_bytes)
        .map_err(|e| bad_body(format!("demand does not decode: {e}")))?;
    let mut seed = [0u8; 16];
    r.read_exact(&mut seed).map_err(read_err)?;
    let corrections_len = usize::try_from(corrections_len)
        .map_err(|_| bad_body("the corrections do not fit in memory addresses".into()))?;
    if claim {
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
        party,
        session,
        dealing,
        ring_bits,
        demand,
        seed: Block::from_bytes(seed),
        corrections_len,
        reader: r,
    })
}

fn temp_path(path: &Path) -> PathBuf {
    let name = path.file_name().map_or_else(
        || "preprocessing".into(),
        |n| n.to_string_lossy().into_owned(),
    );
    let nonce = tessera_core::prg::os_seed().to_hex();
    path.with_file_name(format!(".{name}.{}.tmp", &nonce[..16]))
}
