//! Preprocessing made by OT extension and saved to a file (`tessera party --offline ot
//! --store FILE`), run from later with `--preprocessed FILE` like a dealer's file.
//!
//! The file is a preprocessing file with an `items` body
//! ([`tessera_protocols::preprocessing::save_items`]): the same header, checks,
//! claiming and ledger as a dealer's, read by the same [`FileSource`]
//! (`tessera_protocols::runtime::FileSource`), which tells the body kinds apart.
//!
//! The dealing id of an OT offline phase is drawn by party 0 and sent to party 1
//! inside the offline phase; the runtime then compares the parties' ids, as it does
//! after a dealer's fetch, so both files name the same dealing.

use std::path::{Path, PathBuf};

use futures::future::BoxFuture;
use tessera_core::{Channel, Phase, Ring};
use tessera_protocols::Error;
use tessera_protocols::Provider;
use tessera_protocols::ot::pairing::PairingSlot;
use tessera_protocols::ot::source::generate_offline;
use tessera_protocols::preprocessing::{DealingId, Store, save_items};
use tessera_protocols::runtime::{OfflineSource, Session, SessionError};

/// The offline source of `--offline ot --store FILE`: the correlations made with the
/// other party by OT extension ([`generate_offline`], as
/// [`tessera_protocols::ot::source::OtSource`] makes them), under a dealing id party 0
/// draws, written to the file; the provider it returns is empty (the process exits
/// after the offline phase).
pub struct OtToFile {
    path: PathBuf,
    dealing: Option<DealingId>,
    pairing: Option<PairingSlot>,
}

impl OtToFile {
    /// Saves to `path`; the OT set-up from the pairing in `pairing`, if any.
    pub fn new(path: &Path, pairing: Option<PairingSlot>) -> Self {
        OtToFile {
            path: path.to_path_buf(),
            dealing: None,
            pairing,
        }
    }
}

/// The dealing id, charged to the offline phase: party 0 draws it and sends it to
/// party 1.
async fn agree_dealing(peer: &mut Channel, party: usize) -> Result<DealingId, Error> {
    let before = peer.phase();
    peer.set_phase(Phase::Offline);
    let agreed = if party == 0 {
        let d = DealingId::random();
        peer.send(&d).await.map(|()| d)
    } else {
        peer.recv().await
    };
    peer.set_phase(before);
    Ok(agreed?)
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
            let made = async {
                let dealing = agree_dealing(peer, party).await?;
                let items =
                    generate_offline::<R>(peer, party, session.demand(), self.pairing.as_ref())
                        .await?;
                Ok::<_, Error>((dealing, items))
            }
            .await;
            let (dealing, items) = made.map_err(|e| SessionError::new(step, e))?;
            let (path, s) = (self.path.clone(), session.material_session());
            tokio::task::spawn_blocking(move || save_items(&path, party, s, dealing, items))
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
