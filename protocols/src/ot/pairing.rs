//! Base OTs paid once per pair of parties: an OT *pairing* keeps the material of one
//! link set-up ([`super::correlate::connect`]) — this party's `Δ` and base-OT keys as
//! extension sender, its seed pairs as extension receiver — so that later sessions
//! between the same two parties skip the 128 base OTs and the extension back (about
//! 7.6 ms of curve arithmetic here, and two of the link's three flights).
//!
//! Each later session derives its own set-up from the pairing and a tag both parties
//! compute from the pairing's id and a fresh 128-bit nonce of each party, exchanged in
//! the link's first flight: every PRG seed becomes `SHA-256(domain, tag, direction,
//! j, seed)` and the hash tweaks of the session's transfers carry 64 bits of the tag.
//! The sender's `Δ` stays. That is one long IKNP extension whose columns are keyed
//! per session: the receiver's privacy needs the seeds of each session to be new
//! (they are, as long as its own nonce is — drawn from the OS CSPRNG each session,
//! whatever session id the user gives), the sender's needs `Δ` hidden and the hashed
//! rows not to repeat (fresh rows, tweaks bound to the tag). Nothing is rewound, so a
//! session that failed half-way leaves nothing to resynchronise.
//!
//! A [`PairingSlot`] is where a party keeps its pairing between sessions: in memory
//! (a process serving many sessions, `tessera bench --ot-pairing`), or in a file
//! (`tessera party --ot-pairing FILE`; magic `TPAIR001`, a postcard body, SHA-256 over
//! both, written to a temporary file and renamed, mode 0600 — it holds secrets). Each
//! party sends its pairing's id (or zeros) in the first flight; the pairing is used
//! only when both ids are equal, so a party that lost or never had its file simply
//! causes a fresh link, after which both keep the new pairing.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use tessera_core::Block;

use super::KAPPA;
use super::correlate::OtLink;
use super::iknp::{ExtReceiver, ExtSender};
use crate::{Error, Result};

/// First bytes of a pairing file.
pub const MAGIC: [u8; 8] = *b"TPAIR001";

/// Version of the pairing file's body.
pub const FORMAT_VERSION: u32 = 1;

/// Bytes of a party's hello in the link's first flight: its pairing's id (zeros for
/// none) and its nonce.
pub const HELLO_BYTES: usize = 32;

const SESSION_DOMAIN: &[u8] = b"tessera/ot/pairing/session/v1";
const SEED_DOMAIN: &[u8] = b"tessera/ot/pairing/seed/v1";
const ID_DOMAIN: &[u8] = b"tessera/ot/pairing/id/v1";

/// How a session's OT set-up was made.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SetUp {
    /// Base OTs and the extension back, in this session.
    Fresh,
    /// Derived from a pairing both parties held (no base OTs).
    Paired,
}

impl SetUp {
    /// `fresh` or `paired`.
    pub fn name(self) -> &'static str {
        match self {
            SetUp::Fresh => "fresh",
            SetUp::Paired => "paired",
        }
    }
}

/// One party's half of a pairing: the material of one link set-up. Secrets never
/// appear in `Debug` (only the id and the party).
#[derive(Clone, Serialize, Deserialize)]
pub struct Pairing {
    id: [u8; 16],
    party: u8,
    /// `Δ` of this party as extension sender.
    delta: Block,
    /// `k_{Δ_j, j}`: the base-OT keys this party holds as extension sender.
    keys: Vec<Block>,
    /// `(k0_j, k1_j)`: the seed pairs this party holds as extension receiver.
    pairs: Vec<[Block; 2]>,
}

impl std::fmt::Debug for Pairing {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pairing")
            .field("id", &hex::encode(self.id))
            .field("party", &self.party)
            .finish_non_exhaustive()
    }
}

#[derive(Serialize, Deserialize)]
struct Stored {
    version: u32,
    pairing: Pairing,
}

/// A party's hello: its pairing's id (zeros for none) and its nonce.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Hello {
    /// The pairing this party offers, or zeros.
    pub id: [u8; 16],
    /// Fresh from the OS CSPRNG every session (not secret).
    pub nonce: [u8; 16],
}

impl Hello {
    /// The 32 bytes on the wire.
    pub fn to_bytes(self) -> [u8; HELLO_BYTES] {
        let mut b = [0u8; HELLO_BYTES];
        b[..16].copy_from_slice(&self.id);
        b[16..].copy_from_slice(&self.nonce);
        b
    }

    /// From the first [`HELLO_BYTES`] of `bytes`, and the rest.
    ///
    /// # Errors
    /// [`Error::Protocol`] if `bytes` is shorter than a hello.
    pub fn split(bytes: &[u8]) -> Result<(Hello, &[u8])> {
        if bytes.len() < HELLO_BYTES {
            return Err(Error::Protocol {
                step: "OT link",
                detail: format!(
                    "the peer's first message is {} bytes, shorter than a {HELLO_BYTES}-byte hello",
                    bytes.len()
                ),
            });
        }
        let (h, rest) = bytes.split_at(HELLO_BYTES);
        let mut id = [0u8; 16];
        let mut nonce = [0u8; 16];
        id.copy_from_slice(&h[..16]);
        nonce.copy_from_slice(&h[16..]);
        Ok((Hello { id, nonce }, rest))
    }
}

/// The id of the pairing a fresh link between hellos `h0` (party 0's) and `h1` makes.
pub fn new_id(h0: &Hello, h1: &Hello) -> [u8; 16] {
    let d = Sha256::new()
        .chain_update(ID_DOMAIN)
        .chain_update(h0.nonce)
        .chain_update(h1.nonce)
        .finalize();
    let mut id = [0u8; 16];
    id.copy_from_slice(&d[..16]);
    id
}

/// The pairing both hellos name, if they name the same one (never the zero id).
pub fn agreed(h0: &Hello, h1: &Hello) -> Option<[u8; 16]> {
    (h0.id == h1.id && h0.id != [0u8; 16]).then_some(h0.id)
}

fn seed(tag: &[u8; 32], direction: u8, j: usize, s: Block) -> Block {
    let d = Sha256::new()
        .chain_update(SEED_DOMAIN)
        .chain_update(tag)
        .chain_update([direction])
        .chain_update((j as u64).to_le_bytes())
        .chain_update(s.to_bytes())
        .finalize();
    let mut b = [0u8; 16];
    b.copy_from_slice(&d[..16]);
    Block::from_bytes(b)
}

impl Pairing {
    /// The material of a fresh link (`delta`/`keys` as extension sender, `pairs` as
    /// extension receiver) under the id both parties computed ([`new_id`]).
    ///
    /// # Errors
    /// [`Error::Shape`] unless there are [`KAPPA`] keys and pairs, or `party` is not 0
    /// or 1.
    pub fn new(
        id: [u8; 16],
        party: usize,
        delta: Block,
        keys: Vec<Block>,
        pairs: Vec<[Block; 2]>,
    ) -> Result<Pairing> {
        if keys.len() != KAPPA || pairs.len() != KAPPA || party > 1 {
            return Err(Error::Shape {
                op: "OT pairing",
                detail: format!(
                    "{KAPPA} keys and pairs of party 0 or 1 needed, got {} and {} of party {party}",
                    keys.len(),
                    pairs.len()
                ),
            });
        }
        Ok(Pairing {
            id,
            party: party as u8,
            delta,
            keys,
            pairs,
        })
    }

    /// The pairing's id (the same at both parties; not secret).
    pub fn id(&self) -> [u8; 16] {
        self.id
    }

    /// The party this half belongs to.
    pub fn party(&self) -> usize {
        usize::from(self.party)
    }

    /// The tag of a session between hellos `h0` and `h1` that both name this pairing.
    pub fn session_tag(&self, h0: &Hello, h1: &Hello) -> [u8; 32] {
        Sha256::new()
            .chain_update(SESSION_DOMAIN)
            .chain_update(self.id)
            .chain_update(h0.nonce)
            .chain_update(h1.nonce)
            .finalize()
            .into()
    }

    /// The session's set-ups in both directions, derived from the pairing and the
    /// session's `tag` (see the module docs).
    ///
    /// # Errors
    /// None in practice (the shapes were checked when the pairing was made).
    pub fn session_link(&self, tag: &[u8; 32]) -> Result<OtLink> {
        let me = self.party;
        let other = 1 - me;
        let keys: Vec<Block> = (self.keys.iter().enumerate())
            .map(|(j, &k)| seed(tag, me, j, k))
            .collect();
        let pairs: Vec<[Block; 2]> = (self.pairs.iter().enumerate())
            .map(|(j, p)| [seed(tag, other, j, p[0]), seed(tag, other, j, p[1])])
            .collect();
        let mut domain = [0u8; 8];
        domain.copy_from_slice(&tag[..8]);
        let domain = u64::from_le_bytes(domain);
        Ok(OtLink {
            sender: ExtSender::from_base(self.delta, &keys)?.with_tweak_domain(domain),
            receiver: ExtReceiver::from_base(&pairs)?.with_tweak_domain(domain),
        })
    }

    /// Writes this half to `path` (temporary file and rename; mode 0600).
    ///
    /// # Errors
    /// [`Error::PairingFile`] on an I/O failure.
    pub fn save(&self, path: &Path) -> Result<()> {
        let err = |reason: String| Error::PairingFile {
            path: path.to_path_buf(),
            reason,
        };
        let body = postcard::to_stdvec(&Stored {
            version: FORMAT_VERSION,
            pairing: self.clone(),
        })
        .map_err(|e| err(format!("cannot encode: {e}")))?;
        let mut bytes = MAGIC.to_vec();
        bytes.extend_from_slice(&body);
        let sum = Sha256::digest(&bytes);
        bytes.extend_from_slice(&sum);
        let tmp = crate::preprocessing::temp_path(path);
        let write = || -> std::io::Result<()> {
            use std::io::Write;
            let mut opts = std::fs::OpenOptions::new();
            opts.write(true).create_new(true);
            #[cfg(unix)]
            {
                use std::os::unix::fs::OpenOptionsExt;
                opts.mode(0o600);
            }
            let mut f = opts.open(&tmp)?;
            f.write_all(&bytes)?;
            f.sync_all()?;
            drop(f);
            std::fs::rename(&tmp, path)?;
            crate::preprocessing::sync_dir(path);
            Ok(())
        };
        write().map_err(|e| {
            let _ = std::fs::remove_file(&tmp);
            err(format!("cannot write: {e}"))
        })
    }

    /// Reads party `party`'s half from `path`.
    ///
    /// # Errors
    /// [`Error::PairingFile`] if the file cannot be read, is not a pairing file, is
    /// truncated or altered (checksum), of a newer format, malformed, or the other
    /// party's.
    pub fn load(path: &Path, party: usize) -> Result<Pairing> {
        let err = |reason: String| Error::PairingFile {
            path: path.to_path_buf(),
            reason,
        };
        let bytes = std::fs::read(path).map_err(|e| err(format!("cannot read: {e}")))?;
        Self::decode(&bytes, party).map_err(err)
    }

    fn decode(bytes: &[u8], party: usize) -> std::result::Result<Pairing, String> {
        if bytes.len() < MAGIC.len() + 32 || bytes[..MAGIC.len()] != MAGIC {
            return Err("not an OT pairing file (no TPAIR001 header)".into());
        }
        let (data, sum) = bytes.split_at(bytes.len() - 32);
        if Sha256::digest(data).as_slice() != sum {
            return Err("checksum mismatch: the file is truncated or altered".into());
        }
        let stored: Stored = postcard::from_bytes(&data[MAGIC.len()..])
            .map_err(|e| format!("malformed body: {e}"))?;
        if stored.version != FORMAT_VERSION {
            return Err(format!(
                "format version {} (this build reads {FORMAT_VERSION})",
                stored.version
            ));
        }
        let p = stored.pairing;
        if p.keys.len() != KAPPA || p.pairs.len() != KAPPA || p.party > 1 {
            return Err(format!(
                "malformed pairing: {} keys and {} pairs of party {}",
                p.keys.len(),
                p.pairs.len(),
                p.party
            ));
        }
        if p.party() != party {
            return Err(format!(
                "it is party {}'s half of the pairing, this is party {party}",
                p.party
            ));
        }
        Ok(p)
    }
}

#[derive(Debug, Default)]
struct Slot {
    pairing: Option<Arc<Pairing>>,
    file: Option<PathBuf>,
    last: Option<SetUp>,
}

/// Where a party keeps its pairing between sessions (shared by clones): in memory,
/// or backed by a file. Sessions of the OT source given a slot offer its pairing and,
/// after a fresh link, keep the new one.
#[derive(Clone, Debug, Default)]
pub struct PairingSlot(Arc<Mutex<Slot>>);

impl PairingSlot {
    /// An empty slot in memory: the first session pairs, later ones reuse it.
    pub fn in_memory() -> Self {
        PairingSlot::default()
    }

    /// A slot backed by `path`: party `party`'s half is read from it if the file
    /// exists, and every new pairing is written to it.
    ///
    /// # Errors
    /// As [`Pairing::load`] for a file that exists but is not a valid half of
    /// `party`'s (it is not overwritten: the error names it).
    pub fn file(path: impl Into<PathBuf>, party: usize) -> Result<Self> {
        let path = path.into();
        let pairing = if path.exists() {
            let p = Pairing::load(&path, party).map_err(|e| match e {
                Error::PairingFile { path, reason } => Error::PairingFile {
                    path,
                    reason: format!("{reason} (remove the file to run the base OTs and pair anew)"),
                },
                other => other,
            })?;
            Some(Arc::new(p))
        } else {
            None
        };
        Ok(PairingSlot(Arc::new(Mutex::new(Slot {
            pairing,
            file: Some(path),
            last: None,
        }))))
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Slot> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The pairing held, if any.
    pub fn current(&self) -> Option<Arc<Pairing>> {
        self.lock().pairing.clone()
    }

    /// Keeps `p` (replacing any other) and writes it to the slot's file, if any.
    ///
    /// # Errors
    /// As [`Pairing::save`]; the slot then still holds `p` in memory.
    pub fn keep(&self, p: Pairing) -> Result<()> {
        let file = {
            let mut s = self.lock();
            s.pairing = Some(Arc::new(p.clone()));
            s.file.clone()
        };
        match file {
            Some(path) => p.save(&path),
            None => Ok(()),
        }
    }

    /// Records how the last session's set-up was made.
    pub fn note(&self, how: SetUp) {
        self.lock().last = Some(how);
    }

    /// How the last session that used this slot made its set-up.
    pub fn last(&self) -> Option<SetUp> {
        self.lock().last
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(party: usize) -> Pairing {
        let b = |i: u128| Block(i * 0x9e37_79b9_7f4a_7c15 + 1);
        Pairing::new(
            [7; 16],
            party,
            b(1),
            (0..KAPPA as u128).map(b).collect(),
            (0..KAPPA as u128)
                .map(|i| [b(2 * i), b(2 * i + 1)])
                .collect(),
        )
        .unwrap()
    }

    #[test]
    fn a_file_round_trips_and_bad_files_are_named() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("p0.pairing");
        let p = sample(0);
        p.save(&path).unwrap();
        let q = Pairing::load(&path, 0).unwrap();
        assert_eq!(
            postcard::to_stdvec(&q).unwrap(),
            postcard::to_stdvec(&p).unwrap()
        );
        let other = Pairing::load(&path, 1).unwrap_err().to_string();
        assert!(other.contains("party 0's half"), "{other}");
        let bytes = std::fs::read(&path).unwrap();
        for (at, what) in [(bytes.len() / 2, "checksum"), (0, "TPAIR001")] {
            let mut bad = bytes.clone();
            bad[at] ^= 1;
            std::fs::write(&path, &bad).unwrap();
            let e = Pairing::load(&path, 0).unwrap_err().to_string();
            assert!(e.contains(what), "{e}");
        }
        std::fs::write(&path, &bytes[..bytes.len() - 5]).unwrap();
        let e = Pairing::load(&path, 0).unwrap_err().to_string();
        assert!(e.contains("checksum"), "{e}");
        assert!(PairingSlot::file(&path, 0).is_err());
        assert!(!format!("{p:?}").contains("delta"), "{p:?}");
    }

    #[test]
    fn sessions_derive_different_seeds_from_one_pairing() {
        let p = sample(0);
        let h = |n: u8| Hello {
            id: p.id(),
            nonce: [n; 16],
        };
        let t1 = p.session_tag(&h(1), &h(2));
        let t2 = p.session_tag(&h(1), &h(3));
        assert_ne!(t1, t2);
        assert_ne!(seed(&t1, 0, 0, Block(5)), seed(&t2, 0, 0, Block(5)));
        assert_ne!(seed(&t1, 0, 0, Block(5)), seed(&t1, 1, 0, Block(5)));
        assert_ne!(seed(&t1, 0, 0, Block(5)), seed(&t1, 0, 1, Block(5)));
        assert_eq!(agreed(&h(1), &h(2)), Some(p.id()));
        let none = Hello {
            id: [0; 16],
            nonce: [1; 16],
        };
        assert_eq!(agreed(&none, &none), None);
        let bytes = h(4).to_bytes();
        let (back, rest) = Hello::split(&bytes).unwrap();
        assert_eq!((back, rest.len()), (h(4), 0));
        assert!(Hello::split(&bytes[..31]).is_err());
    }
}
