//! One party's preprocessing material and its file format.
//!
//! # File format (version 1)
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
//! | 40 | 32 | SHA-256 of bytes 0..40 followed by the body |
//! | 72 | … | body: demand length (8), postcard demand, seed (16), corrections |
//!
//! The material is stored seed-compressed, exactly as the dealer sent it (party 0's
//! file holds a seed and the demand; party 1's also its corrections), and expanded on
//! load.
//!
//! # Writing and consumption
//! Files are written to a temporary file in the same directory, synced, and renamed
//! over the target, so a reader sees the old file or the new one, never a mix; on
//! Unix they are created with mode 0600 (they hold the seed).
//!
//! Each correlation may be used once. [`PartyMaterial::load`] therefore *marks the
//! file consumed on disk* (state byte 1, checksum recomputed, rewritten atomically)
//! before it returns the material: loading it again is
//! [`Error::AlreadyConsumed`](crate::Error::AlreadyConsumed), loading it for another
//! session is [`Error::SessionMismatch`](crate::Error::SessionMismatch).
//! [`PartyMaterial::verify`] runs the same checks without claiming the file. The checksum
//! detects corruption and tampering by accident or by a careless user; it is not a MAC
//! (in the semi-honest model parties follow the protocol).

use std::io::Write;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};
use tessera_core::{Block, SessionId};

use super::Demand;
use crate::{Error, Result};

/// The file magic.
pub const MAGIC: [u8; 8] = *b"TSSRPREP";
/// The format version this build writes and reads.
pub const FORMAT_VERSION: u32 = 1;
const HEADER: usize = 72;
const STATE_FRESH: u8 = 0;
const STATE_CONSUMED: u8 = 1;

/// One party's preprocessing in seed-compressed form: what the dealer sends, what a
/// file stores. [`crate::preprocessing::Store::from_material`] expands it.
#[derive(Clone)]
pub struct PartyMaterial {
    /// The party (0 or 1).
    pub party: usize,
    /// The session it was made for.
    pub session: SessionId,
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

fn checksum(header40: &[u8], body: &[u8]) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(header40);
    h.update(body);
    h.finalize().into()
}

impl PartyMaterial {
    fn encode(&self, state: u8) -> Result<Vec<u8>> {
        let demand = postcard::to_stdvec(&self.demand).map_err(|e| Error::InvalidArgument {
            op: "saving preprocessing",
            detail: format!("cannot encode the demand: {e}"),
        })?;
        let mut body = Vec::with_capacity(8 + demand.len() + 16 + self.corrections.len());
        body.extend_from_slice(&(demand.len() as u64).to_le_bytes());
        body.extend_from_slice(&demand);
        body.extend_from_slice(&self.seed.to_bytes());
        body.extend_from_slice(&self.corrections);
        let party = u8::try_from(self.party)
            .ok()
            .filter(|p| *p <= 1)
            .ok_or_else(|| Error::InvalidArgument {
                op: "saving preprocessing",
                detail: format!("party {} does not exist", self.party),
            })?;
        let mut out = Vec::with_capacity(HEADER + body.len());
        out.extend_from_slice(&MAGIC);
        out.extend_from_slice(&FORMAT_VERSION.to_le_bytes());
        out.push(state);
        out.push(party);
        out.extend_from_slice(&(self.ring_bits as u16).to_le_bytes());
        out.extend_from_slice(&self.session.0);
        out.extend_from_slice(&(body.len() as u64).to_le_bytes());
        let sum = checksum(&out, &body);
        out.extend_from_slice(&sum);
        out.extend_from_slice(&body);
        Ok(out)
    }

    /// Writes the material to `path` atomically (temporary file, sync, rename).
    ///
    /// # Errors
    /// [`Error::PreprocessingFile`] on any I/O failure.
    pub fn save(&self, path: &Path) -> Result<()> {
        let bytes = self.encode(STATE_FRESH)?;
        write_atomic(path, &bytes)
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
        let (mut bytes, material) = Self::read_checked(path, party, session)?;
        // Claim the file before anything uses it.
        bytes[12] = STATE_CONSUMED;
        let sum = checksum(&bytes[..40], &bytes[HEADER..]);
        bytes[40..72].copy_from_slice(&sum);
        write_atomic(path, &bytes)?;
        Ok(material)
    }

    /// Runs every check of [`PartyMaterial::load`] without claiming the file, and
    /// returns the demand the material answers: a program can refuse a file that is
    /// not usable (or not for it) before it commits to a run, and claim it with `load`
    /// only when it is about to use it.
    ///
    /// # Errors
    /// As [`PartyMaterial::load`].
    pub fn verify(path: &Path, party: usize, session: SessionId) -> Result<Demand> {
        Self::read_checked(path, party, session).map(|(_, m)| m.demand)
    }

    /// Reads and checks a file (see [`PartyMaterial::load`]); returns its bytes and its
    /// material, the file unchanged.
    fn read_checked(
        path: &Path,
        party: usize,
        session: SessionId,
    ) -> Result<(Vec<u8>, PartyMaterial)> {
        let bytes = std::fs::read(path).map_err(|e| file_err(path, format!("cannot read: {e}")))?;
        if bytes.len() < HEADER {
            return Err(file_err(
                path,
                format!(
                    "truncated: {} bytes, the header alone is {HEADER}",
                    bytes.len()
                ),
            ));
        }
        if bytes[..8] != MAGIC {
            return Err(file_err(
                path,
                "not a Tessera preprocessing file (bad magic)",
            ));
        }
        let u32_at =
            |o: usize| u32::from_le_bytes([bytes[o], bytes[o + 1], bytes[o + 2], bytes[o + 3]]);
        let version = u32_at(8);
        if version != FORMAT_VERSION {
            return Err(file_err(
                path,
                format!("format version {version}, this build reads version {FORMAT_VERSION}"),
            ));
        }
        let mut len8 = [0u8; 8];
        len8.copy_from_slice(&bytes[32..40]);
        let body_len = u64::from_le_bytes(len8);
        let have = (bytes.len() - HEADER) as u64;
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
        let mut stored = [0u8; 32];
        stored.copy_from_slice(&bytes[40..72]);
        if checksum(&bytes[..40], &bytes[HEADER..]) != stored {
            return Err(file_err(
                path,
                "checksum mismatch: the file was modified or corrupted",
            ));
        }
        let state = bytes[12];
        let file_party = usize::from(bytes[13]);
        let ring_bits = u32::from(u16::from_le_bytes([bytes[14], bytes[15]]));
        let mut sid = [0u8; 16];
        sid.copy_from_slice(&bytes[16..32]);
        let file_session = SessionId(sid);
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
        let body = &bytes[HEADER..];
        let bad_body = |why: String| file_err(path, format!("malformed body: {why}"));
        let dlen = body
            .get(..8)
            .map(|b| {
                let mut a = [0u8; 8];
                a.copy_from_slice(b);
                u64::from_le_bytes(a)
            })
            .ok_or_else(|| bad_body("no demand length".into()))?;
        let dlen = usize::try_from(dlen).map_err(|_| bad_body("demand length overflows".into()))?;
        let dend = 8usize
            .checked_add(dlen)
            .filter(|e| e.checked_add(16).is_some_and(|s| s <= body.len()))
            .ok_or_else(|| bad_body(format!("demand length {dlen} exceeds the body")))?;
        let demand: Demand = postcard::from_bytes(&body[8..dend])
            .map_err(|e| bad_body(format!("demand does not decode: {e}")))?;
        let mut seed = [0u8; 16];
        seed.copy_from_slice(&body[dend..dend + 16]);
        let corrections = body[dend + 16..].to_vec();
        let material = PartyMaterial {
            party,
            session,
            ring_bits,
            demand,
            seed: Block::from_bytes(seed),
            corrections,
        };
        Ok((bytes, material))
    }
}

fn temp_path(path: &Path) -> PathBuf {
    let name = path.file_name().map_or_else(
        || "preprocessing".into(),
        |n| n.to_string_lossy().into_owned(),
    );
    let nonce = tessera_core::prg::os_seed().to_hex();
    path.with_file_name(format!(".{name}.{}.tmp", &nonce[..16]))
}

fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let tmp = temp_path(path);
    let result = (|| -> std::io::Result<()> {
        let mut opts = std::fs::OpenOptions::new();
        opts.write(true).create_new(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            opts.mode(0o600);
        }
        let mut f = opts.open(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        drop(f);
        std::fs::rename(&tmp, path)?;
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            // Persist the rename; not every platform lets a directory be opened.
            if let Ok(d) = std::fs::File::open(dir) {
                let _ = d.sync_all();
            }
        }
        Ok(())
    })();
    result.map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        file_err(path, format!("cannot write: {e}"))
    })
}
