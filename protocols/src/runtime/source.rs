//! Where a party's correlated randomness comes from: the [`OfflineSource`] trait and
//! its implementations — the dealer over a channel ([`DealerSource`]), a
//! preprocessing file saved by an earlier offline phase ([`FileSource`]), and material
//! already at hand ([`MaterialSource`], e.g. dealt in process by the test harness).
//!
//! # Adding a source
//! A dealer-free source (OT extension between the parties, as ABY and MOTION make
//! their correlations) implements [`OfflineSource::obtain`]: it gets the link to the
//! other party, charges its traffic there to [`Phase::Offline`] (setting the phase and
//! restoring it), and returns a [`Provider`] of this party's correlations for the
//! session's demand. It names itself with [`OfflineSource::kind`] (announced in the
//! parties' handshake when the session asks for it) and needs nothing else: the
//! runtime ([`super::prepare`]) is written against the trait alone.
//!
//! [`Phase::Offline`]: tessera_core::Phase::Offline

use std::io::{BufReader, BufWriter, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use futures::future::BoxFuture;
use tessera_core::{Channel, Metering, Ring, Role};

use super::{Session, SessionError, at};
use crate::dealer::Fetched;
use crate::preprocessing::{
    DealingId, Demand, EXPAND_AHEAD_BYTES, MaterialWriter, OpenedMaterial, PartyMaterial, Provider,
    Store,
};
use crate::{Error, Result, dealer};

/// Where one party's correlated randomness comes from (SEEC's `MTProvider`, MOTION's
/// multiplication-triple providers). The runtime calls [`OfflineSource::handshake`]
/// (with the party-to-party handshake, in the set-up phase) and then
/// [`OfflineSource::obtain`] (the offline phase). See the module docs to add one.
pub trait OfflineSource<R: Ring>: Send {
    /// The source's name, announced as `preprocessing = <kind>` in the parties'
    /// handshake when the session asks for it: `dealer`, `file`, ...
    fn kind(&self) -> &'static str;

    /// The source's own link, if it has one (flushed when a handshake fails, handed to
    /// [`super::Hooks::handshaken`]).
    fn link(&mut self) -> Option<&mut Channel> {
        None
    }

    /// The handshakes of the source's own links (set-up phase), run at the same time
    /// as the parties' handshake. By default there are none.
    fn handshake<'a>(
        &'a mut self,
        session: &'a Session,
    ) -> BoxFuture<'a, std::result::Result<(), SessionError>> {
        let _ = session;
        Box::pin(async { Ok(()) })
    }

    /// The offline phase: this party's correlations for `session`'s demand, made for
    /// its [`Session::material_session`]. `peer` is the link to the other party, for
    /// a source that makes correlations with it.
    fn obtain<'a>(
        &'a mut self,
        session: &'a Session,
        peer: &'a mut Channel,
    ) -> BoxFuture<'a, std::result::Result<Box<dyn Provider<R>>, SessionError>>;

    /// The metering of the source's own links, all phases (zero without links).
    fn metering(&self) -> Metering {
        Metering::default()
    }

    /// Whether [`OfflineSource::obtain`] uses the link to the other party (by default
    /// yes). A source that does not gets a stand-in, and the runtime watches the real
    /// link meanwhile, so that this party stops as soon as the other one is gone.
    fn uses_peer(&self) -> bool {
        true
    }

    /// The dealing the obtained material belongs to, once [`OfflineSource::obtain`]
    /// has succeeded (`None` for a source without dealings).
    fn dealing(&self) -> Option<DealingId> {
        None
    }
}

/// Expands seed-compressed material into a store, on a blocking thread.
async fn expand<R: Ring>(m: PartyMaterial) -> Result<Box<dyn Provider<R>>> {
    let p = m.party;
    let store = tokio::task::spawn_blocking(move || Store::<R>::from_material(m))
        .await
        .map_err(|e| Error::Task(format!("expanding party {p}'s preprocessing: {e}")))??;
    Ok(Box::new(store))
}

/// The offline phase of a source whose material is at hand once `material` is: the
/// material expanded, or why there is none.
fn at_hand<'a, R: Ring>(
    material: Result<PartyMaterial>,
) -> BoxFuture<'a, std::result::Result<Box<dyn Provider<R>>, SessionError>> {
    Box::pin(async move {
        let m = material.map_err(at("offline phase"))?;
        expand(m).await.map_err(at("offline phase"))
    })
}

/// Material that answers another demand than the session's.
fn other_demand(what: &str, want: &Demand, found: &Demand) -> Result<()> {
    if want == found {
        return Ok(());
    }
    Err(Error::InvalidArgument {
        op: "preprocessing",
        detail: format!(
            "{what} answers {} correlation requests, this job needs {}; it was made for \
             another job",
            found.len(),
            want.len()
        ),
    })
}

/// The dealer ([`crate::dealer`]) over a channel: the handshake (the dealer mediates:
/// it checks that both parties announce the same session and configuration and
/// relays each one's values to the other), then the fetch of this party's
/// seed-compressed material, expanded on a blocking thread.
#[derive(Debug)]
pub struct DealerSource {
    link: Option<Channel>,
    metering: Metering,
    spill_above: usize,
    dealing: Option<DealingId>,
}

const DEALER_HANDSHAKE: &str = "handshake with the dealer (it relays the other party's values)";
const DEALER_FETCH: &str = "offline phase: fetching preprocessing from the dealer";

impl DealerSource {
    /// The dealer at the other end of `link`.
    pub fn new(link: Channel) -> Self {
        DealerSource {
            link: Some(link),
            metering: Metering::default(),
            spill_above: SPILL_CORRECTIONS_BYTES,
            dealing: None,
        }
    }

    /// Party 1 writes its corrections to a temporary file when they are larger than
    /// `bytes` (default [`SPILL_CORRECTIONS_BYTES`]).
    pub fn spill_above(mut self, bytes: usize) -> Self {
        self.spill_above = bytes;
        self
    }

    /// The link to the dealer, until the fetch has closed it.
    pub fn link_mut(&mut self) -> Option<&mut Channel> {
        self.link.as_mut()
    }

    /// The metering of the link to the dealer, once the fetch has closed it.
    pub fn link_metering(&self) -> Metering {
        self.metering
    }

    fn open(&mut self) -> Result<&mut Channel> {
        self.link.as_mut().ok_or_else(|| {
            tessera_core::Error::TransportStopped("the link to the dealer is closed".into()).into()
        })
    }

    /// Closes the link after a fetch, keeping its metering.
    async fn close_link(&mut self) -> std::result::Result<(), SessionError> {
        if let Some(link) = self.link.take() {
            self.metering = link.close().await.map_err(at(DEALER_FETCH))?;
        }
        Ok(())
    }

    /// The handshake with the dealer.
    ///
    /// # Errors
    /// A mismatch (the dealer relays the other party's values, so a difference
    /// between the parties is named here), a transport failure.
    pub async fn handshake_dealer(&mut self, s: &Session) -> std::result::Result<(), SessionError> {
        let hello = s.hello(Role::Dealer, s.config.clone());
        let ch = self.open().map_err(at(DEALER_HANDSHAKE))?;
        hello.run(ch).await.map_err(at(DEALER_HANDSHAKE))
    }

    /// Sends the dealer the session's demand and receives this party's material;
    /// closes the link.
    ///
    /// # Errors
    /// A refusal by the dealer (with its reason), a transport failure.
    pub async fn fetch<R: Ring>(
        &mut self,
        s: &Session,
    ) -> std::result::Result<PartyMaterial, SessionError> {
        let ch = self.open().map_err(at(DEALER_FETCH))?;
        let m = dealer::fetch::<R>(ch, s.party(), s.material_session(), s.demand())
            .await
            .map_err(at(DEALER_FETCH))?;
        self.close_link().await?;
        self.dealing = Some(m.dealing);
        Ok(m)
    }
}

impl DealerSource {
    /// Sends the dealer the session's demand and writes this party's material to the
    /// preprocessing file `path` as it arrives ([`MaterialWriter`]: never all in
    /// memory); closes the link.
    ///
    /// # Errors
    /// A refusal by the dealer, a transport failure, a file that cannot be written.
    pub async fn fetch_to_file<R: Ring>(
        &mut self,
        s: &Session,
        path: &Path,
    ) -> std::result::Result<(), SessionError> {
        let (party, session, demand) = (s.party(), s.material_session(), s.demand());
        let corrections = if party == 1 {
            demand.correction_bytes::<R>()
        } else {
            0
        };
        let mut writer: Option<MaterialWriter> = None;
        let ch = self.open().map_err(at(DEALER_FETCH))?;
        let (_, dealing) = dealer::fetch_with::<R>(ch, party, session, demand, |got| match got {
            Fetched::Seed(seed, dealing) => {
                writer = Some(MaterialWriter::create(
                    path,
                    party,
                    session,
                    dealing,
                    R::BITS,
                    demand,
                    seed,
                    corrections,
                )?);
                Ok(())
            }
            Fetched::Corrections(chunk) => match writer.as_mut() {
                Some(w) => w.write(chunk),
                None => Err(Error::Protocol {
                    step: "dealer corrections",
                    detail: "corrections before the seed".into(),
                }),
            },
        })
        .await
        .map_err(at(DEALER_FETCH))?;
        self.close_link().await?;
        self.dealing = Some(dealing);
        writer
            .ok_or_else(|| Error::Protocol {
                step: "dealer",
                detail: "no seed".into(),
            })
            .and_then(MaterialWriter::finish)
            .map_err(at(DEALER_FETCH))
    }

    /// Party 1's fetch for corrections larger than [`SPILL_CORRECTIONS_BYTES`]: they
    /// are written to an anonymous temporary file (mode 0600, unlinked, gone when the
    /// process ends) as they arrive, and the store reads them back in demand order as
    /// it expands items, so memory holds neither all the corrections nor all the
    /// expanded material.
    async fn fetch_spilled<R: Ring>(
        &mut self,
        s: &Session,
    ) -> std::result::Result<Box<dyn Provider<R>>, SessionError> {
        let io = |context: &str| {
            let context = context.to_string();
            move |source| Error::Io { context, source }
        };
        let file = tempfile::tempfile()
            .map_err(io("creating a temporary file for the dealer's corrections"))
            .map_err(at(DEALER_FETCH))?;
        let mut w = BufWriter::with_capacity(1 << 20, file);
        let ch = self.open().map_err(at(DEALER_FETCH))?;
        let (seed, dealing) =
            dealer::fetch_with::<R>(ch, 1, s.material_session(), s.demand(), |got| match got {
                Fetched::Corrections(chunk) => w
                    .write_all(chunk)
                    .map_err(io("writing the dealer's corrections to a temporary file")),
                Fetched::Seed(..) => Ok(()),
            })
            .await
            .map_err(at(DEALER_FETCH))?;
        self.close_link().await?;
        self.dealing = Some(dealing);
        let mut file = w
            .into_inner()
            .map_err(|e| e.into_error())
            .map_err(io("writing the dealer's corrections to a temporary file"))
            .map_err(at(DEALER_FETCH))?;
        file.seek(SeekFrom::Start(0))
            .map_err(io("reading back the dealer's corrections"))
            .map_err(at(DEALER_FETCH))?;
        let (session, demand) = (s.material_session(), s.demand().clone());
        let len = demand.correction_bytes::<R>();
        let store = tokio::task::spawn_blocking(move || {
            Store::<R>::with_corrections_from(
                session,
                &demand,
                seed,
                Box::new(BufReader::with_capacity(1 << 20, file)),
                len,
                EXPAND_AHEAD_BYTES,
            )
        })
        .await
        .map_err(|e| Error::Task(format!("expanding party 1's preprocessing: {e}")))
        .map_err(at(DEALER_FETCH))?
        .map_err(at(DEALER_FETCH))?;
        Ok(Box::new(store))
    }
}

/// Party 1's corrections above this size are not held in memory: the dealer source
/// writes them to a temporary file as they arrive (1 GiB, the store's expansion
/// budget).
pub const SPILL_CORRECTIONS_BYTES: usize = EXPAND_AHEAD_BYTES;

impl<R: Ring> OfflineSource<R> for DealerSource {
    fn uses_peer(&self) -> bool {
        false
    }

    fn kind(&self) -> &'static str {
        "dealer"
    }

    fn link(&mut self) -> Option<&mut Channel> {
        self.link_mut()
    }

    fn handshake<'a>(
        &'a mut self,
        session: &'a Session,
    ) -> BoxFuture<'a, std::result::Result<(), SessionError>> {
        Box::pin(self.handshake_dealer(session))
    }

    fn obtain<'a>(
        &'a mut self,
        session: &'a Session,
        _peer: &'a mut Channel,
    ) -> BoxFuture<'a, std::result::Result<Box<dyn Provider<R>>, SessionError>> {
        Box::pin(async move {
            if session.party() == 1 && session.demand().correction_bytes::<R>() > self.spill_above {
                return self.fetch_spilled::<R>(session).await;
            }
            let m = self.fetch::<R>(session).await?;
            expand(m).await.map_err(at(DEALER_FETCH))
        })
    }

    fn metering(&self) -> Metering {
        self.metering
    }

    fn dealing(&self) -> Option<DealingId> {
        self.dealing
    }
}

/// A preprocessing file saved by an earlier offline phase, of either body kind: a
/// dealer's seed and corrections ([`PartyMaterial::save`], [`MaterialWriter`]) or
/// correlations made by OT extension in full ([`crate::preprocessing::save_items`]).
/// [`FileSource::check`] refuses an unusable file before anyone connects; the
/// offline phase claims it ([`PartyMaterial::open`] marks it consumed on disk before
/// anything uses it) and reads it into a store ([`Store::from_opened`], which expands
/// a seeded body and reads an items body).
#[derive(Clone, Debug)]
pub struct FileSource {
    path: PathBuf,
    dealing: Option<DealingId>,
}

impl FileSource {
    /// The file at `path`.
    pub fn new(path: impl Into<PathBuf>) -> Self {
        FileSource {
            path: path.into(),
            dealing: None,
        }
    }

    /// The file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Checks the file without claiming it: it must be this party's, fresh, intact,
    /// made for this session and job, and — if the session keeps a ledger — of a
    /// dealing this party has not consumed. Returns the file's dealing.
    ///
    /// # Errors
    /// [`Error::PreprocessingFile`] saying what is wrong, in words a user can act on;
    /// [`Error::DealingConsumed`] for a copy of a consumed file.
    pub fn check(&self, s: &Session) -> Result<DealingId> {
        let (found, dealing) = PartyMaterial::inspect(&self.path, s.party(), s.material_session())
            .map_err(|e| self.explain(e))?;
        other_demand("it", s.demand(), &found).map_err(|e| self.explain(e))?;
        if let Some(l) = s.ledger() {
            l.check(s.party(), dealing)?;
        }
        Ok(dealing)
    }

    /// Claims the file: opens it (marking it consumed) and checks its demand; the
    /// corrections stay in the file until the store reads them.
    fn claim(&self, s: &Session) -> Result<OpenedMaterial> {
        let m = PartyMaterial::open(&self.path, s.party(), s.material_session())
            .map_err(|e| self.explain(e))?;
        other_demand("it", s.demand(), &m.demand).map_err(|e| self.explain(e))?;
        Ok(m)
    }

    /// A file error, explained where the library's words are not enough.
    fn explain(&self, e: Error) -> Error {
        let reason = match e {
            Error::SessionMismatch { .. } => "made for another session or another job: run the \
                 online phase with the session id and the job options of the offline run \
                 that wrote it"
                .to_string(),
            Error::AlreadyConsumed { .. } => "already consumed by an earlier run: correlated \
                 randomness is used once; run the offline phase again (with a fresh session \
                 id) for another run"
                .to_string(),
            Error::InvalidArgument {
                op: "preprocessing",
                detail,
            } => detail,
            other => return other,
        };
        Error::PreprocessingFile {
            path: self.path.clone(),
            reason,
        }
    }
}

impl<R: Ring> OfflineSource<R> for FileSource {
    fn uses_peer(&self) -> bool {
        false
    }

    fn kind(&self) -> &'static str {
        "file"
    }

    fn dealing(&self) -> Option<DealingId> {
        self.dealing
    }

    fn obtain<'a>(
        &'a mut self,
        session: &'a Session,
        _peer: &'a mut Channel,
    ) -> BoxFuture<'a, std::result::Result<Box<dyn Provider<R>>, SessionError>> {
        Box::pin(async move {
            let m = self.claim(session).map_err(at("offline phase"))?;
            self.dealing = Some(m.dealing);
            let p = m.party;
            let store = tokio::task::spawn_blocking(move || Store::<R>::from_opened(m))
                .await
                .map_err(|e| Error::Task(format!("expanding party {p}'s preprocessing: {e}")))
                .map_err(at("offline phase"))?
                .map_err(at("offline phase"))?;
            Ok(Box::new(store) as Box<dyn Provider<R>>)
        })
    }
}

/// Material already at hand (dealt in process, or loaded by the caller): checked to be
/// this party's, for this session and demand, and expanded.
#[derive(Debug)]
pub struct MaterialSource {
    material: Option<PartyMaterial>,
    dealing: Option<DealingId>,
}

impl MaterialSource {
    /// The source of `material`.
    pub fn new(material: PartyMaterial) -> Self {
        MaterialSource {
            dealing: Some(material.dealing),
            material: Some(material),
        }
    }

    fn take(&mut self, s: &Session) -> Result<PartyMaterial> {
        let m = self.material.take().ok_or_else(|| Error::InvalidArgument {
            op: "preprocessing",
            detail: "the material was already used".into(),
        })?;
        if m.party != s.party() {
            return Err(Error::InvalidArgument {
                op: "preprocessing",
                detail: format!("party {} was given party {}'s material", s.party(), m.party),
            });
        }
        if m.session != s.material_session() {
            return Err(Error::SessionMismatch {
                what: "preprocessing material",
                expected: s.material_session(),
                found: m.session,
            });
        }
        other_demand("the material", s.demand(), &m.demand)?;
        Ok(m)
    }
}

impl<R: Ring> OfflineSource<R> for MaterialSource {
    fn uses_peer(&self) -> bool {
        false
    }

    fn kind(&self) -> &'static str {
        "material"
    }

    fn dealing(&self) -> Option<DealingId> {
        self.dealing
    }

    fn obtain<'a>(
        &'a mut self,
        session: &'a Session,
        _peer: &'a mut Channel,
    ) -> BoxFuture<'a, std::result::Result<Box<dyn Provider<R>>, SessionError>> {
        at_hand(self.take(session))
    }
}
