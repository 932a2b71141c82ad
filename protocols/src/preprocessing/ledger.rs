//! The ledger of consumed dealings: one small text file per machine (or per party)
//! listing, for each party, the ids of the dealings ([`DealingId`]) it has consumed.
//!
//! A preprocessing file carries a "consumed" mark of its own, but a copy of the file
//! made before it was used (a backup restored, a copy kept aside) does not; the ledger
//! does not travel with the file, so it refuses the copy. [`Ledger::record`] adds an
//! entry under an exclusive lock (`<ledger>.lock`), by writing a new file next to the
//! ledger, syncing it, renaming it over the ledger and syncing the directory — before
//! the online phase starts, so a crash afterwards leaves the dealing recorded.
//!
//! # Format
//! ```text
//! tessera consumed dealings v1
//! party0 3f2a…(32 hex digits)
//! party1 3f2a…
//! ```
//! A line that is none of these makes the ledger unusable (refused, never ignored).
//!
//! # What it does not do
//! It protects one party against reusing material *on this machine's ledger*: a party
//! that runs a copy elsewhere, with another ledger or after deleting it, is not
//! stopped — semi-honest parties follow the protocol, and the ledger keeps honest
//! operators from a mistake that would leak (a reused OT choice, a reused mask).

use std::collections::BTreeSet;
use std::io::Write;
use std::path::{Path, PathBuf};

use super::DealingId;
use crate::{Error, Result};

const HEADER: &str = "tessera consumed dealings v1";

/// The ledger file at a path (see the module docs).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Ledger {
    path: PathBuf,
}

impl Ledger {
    /// The ledger at `path` (created on first use, with its directory).
    pub fn new(path: impl Into<PathBuf>) -> Self {
        Ledger { path: path.into() }
    }

    /// The default location: `$XDG_STATE_HOME/tessera/consumed-dealings`, else
    /// `$HOME/.local/state/tessera/consumed-dealings`; `None` without either variable.
    pub fn default_path() -> Option<PathBuf> {
        let base = std::env::var_os("XDG_STATE_HOME")
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
            .or_else(|| {
                std::env::var_os("HOME")
                    .filter(|v| !v.is_empty())
                    .map(|h| PathBuf::from(h).join(".local").join("state"))
            })?;
        Some(base.join("tessera").join("consumed-dealings"))
    }

    /// The file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn err(&self, reason: impl Into<String>) -> Error {
        Error::Ledger {
            path: self.path.clone(),
            reason: reason.into(),
        }
    }

    /// The entries, `(party, dealing)`; none if the file does not exist.
    fn read(&self) -> Result<BTreeSet<(usize, DealingId)>> {
        let text = match std::fs::read_to_string(&self.path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(BTreeSet::new()),
            Err(e) => return Err(self.err(format!("cannot read: {e}"))),
        };
        let mut lines = text.lines();
        if lines.next() != Some(HEADER) {
            return Err(self.err(format!("not a ledger (its first line is not `{HEADER}`)")));
        }
        let mut out = BTreeSet::new();
        for (i, line) in lines.enumerate() {
            let bad = || {
                self.err(format!(
                    "line {} is not `party<0|1> <dealing id>`: the ledger is damaged",
                    i + 2
                ))
            };
            let (p, d) = line.split_once(' ').ok_or_else(bad)?;
            let party = match p {
                "party0" => 0,
                "party1" => 1,
                _ => return Err(bad()),
            };
            out.insert((party, d.parse::<DealingId>().map_err(|_| bad())?));
        }
        Ok(out)
    }

    /// Refuses a dealing that `party` has consumed.
    ///
    /// # Errors
    /// [`Error::DealingConsumed`]; [`Error::Ledger`] if the ledger is unreadable.
    pub fn check(&self, party: usize, dealing: DealingId) -> Result<()> {
        if self.read()?.contains(&(party, dealing)) {
            return Err(self.consumed(party, dealing));
        }
        Ok(())
    }

    fn consumed(&self, party: usize, dealing: DealingId) -> Error {
        Error::DealingConsumed {
            party,
            dealing,
            ledger: self.path.clone(),
        }
    }

    /// Records that `party` consumes `dealing`, durably (see the module docs), or
    /// refuses it if it is already recorded.
    ///
    /// # Errors
    /// [`Error::DealingConsumed`]; [`Error::Ledger`] on an I/O failure or a damaged
    /// ledger.
    pub fn record(&self, party: usize, dealing: DealingId) -> Result<()> {
        let dir = match self.path.parent() {
            Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
            _ => PathBuf::from("."),
        };
        std::fs::create_dir_all(&dir)
            .map_err(|e| self.err(format!("cannot create its directory: {e}")))?;
        let mut lock_name = self.path.as_os_str().to_owned();
        lock_name.push(".lock");
        let lock = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(PathBuf::from(lock_name))
            .map_err(|e| self.err(format!("cannot open its lock file: {e}")))?;
        lock.lock()
            .map_err(|e| self.err(format!("cannot lock it: {e}")))?;
        let mut entries = self.read()?;
        if !entries.insert((party, dealing)) {
            return Err(self.consumed(party, dealing));
        }
        let mut text = String::with_capacity(HEADER.len() + 1 + entries.len() * 40);
        text.push_str(HEADER);
        text.push('\n');
        for (p, d) in &entries {
            text.push_str(&format!("party{p} {d}\n"));
        }
        let name = self
            .path
            .file_name()
            .map_or_else(|| "ledger".into(), |n| n.to_string_lossy().into_owned());
        let tmp = dir.join(format!(
            ".{name}.{}.tmp",
            &tessera_core::prg::os_seed().to_hex()[..16]
        ));
        let written = (|| -> std::io::Result<()> {
            let mut f = std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(&tmp)?;
            f.write_all(text.as_bytes())?;
            f.sync_all()?;
            drop(f);
            std::fs::rename(&tmp, &self.path)?;
            // Persist the rename.
            std::fs::File::open(&dir)?.sync_all()
        })();
        if let Err(e) = written {
            let _ = std::fs::remove_file(&tmp);
            return Err(self.err(format!("cannot write: {e}")));
        }
        // The lock is released when `lock` is dropped.
        drop(lock);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn records_once_per_party_and_refuses_damage() {
        let dir = tempfile::tempdir().unwrap();
        let l = Ledger::new(dir.path().join("sub").join("ledger"));
        let (a, b) = (DealingId::random(), DealingId::random());
        l.check(0, a).unwrap();
        l.record(0, a).unwrap();
        // Party 1 on the same machine consumes its own half of the same dealing.
        l.record(1, a).unwrap();
        l.record(0, b).unwrap();
        let e = l.record(0, a).unwrap_err().to_string();
        assert!(e.contains("already consumed by party 0"), "{e}");
        assert!(matches!(
            l.check(1, a),
            Err(Error::DealingConsumed { party: 1, .. })
        ));
        l.check(1, b).unwrap();
        std::fs::write(l.path(), format!("{HEADER}\nparty0 xyz\n")).unwrap();
        let e = l.check(1, b).unwrap_err().to_string();
        assert!(e.contains("line 2") && e.contains("damaged"), "{e}");
    }
}
