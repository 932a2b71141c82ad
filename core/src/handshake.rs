//! The session handshake: both ends exchange a hello naming the protocol version, their
//! role, the session id and a summary of the configuration they run, and refuse to go
//! on if anything differs — with an error that names what differs.
//!
//! A third role with no configuration of its own (the dealer, which serves whatever job
//! the parties run) uses [`mediate`]: it reads both parties' hellos, checks that they
//! agree with each other, and answers each party with the other's session and
//! configuration, so a mismatch is named at all three ends.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::channel::PRE_SESSION_MAX_FRAME;
use crate::meter::Phase;
use crate::prg::os_seed;
use crate::{Channel, Error, Result};

/// Wire-protocol version; bumped on any incompatible change of message formats (2: the
/// OT extension's message in SoftSpoken's form, 8 bytes per transfer, with a set-up
/// correction in front).
pub const PROTOCOL_VERSION: u32 = 2;

const MAGIC: [u8; 8] = *b"TESSERA\0";

/// Who is at an end of a channel.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Party 0 (the model owner; the garbler in Yao).
    Party0,
    /// Party 1 (the client; the evaluator in Yao).
    Party1,
    /// The dealer (offline only).
    Dealer,
}

impl Role {
    /// The party with index `i` (0 or 1).
    pub fn party(i: usize) -> Option<Role> {
        match i {
            0 => Some(Role::Party0),
            1 => Some(Role::Party1),
            _ => None,
        }
    }

    /// The other computing party (the dealer has none).
    pub fn other(self) -> Option<Role> {
        match self {
            Role::Party0 => Some(Role::Party1),
            Role::Party1 => Some(Role::Party0),
            Role::Dealer => None,
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Role::Party0 => "party 0",
            Role::Party1 => "party 1",
            Role::Dealer => "dealer",
        })
    }
}

/// A 128-bit session identifier, shown as hex.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct SessionId(pub [u8; 16]);

impl SessionId {
    /// A fresh random id from the OS CSPRNG.
    pub fn random() -> Self {
        SessionId(os_seed().to_bytes())
    }
}

impl fmt::Display for SessionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&hex::encode(self.0))
    }
}

impl fmt::Debug for SessionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SessionId({self})")
    }
}

impl FromStr for SessionId {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        let bad = || Error::Config {
            what: "session id",
            reason: format!("`{s}` is not 32 hex digits"),
        };
        let v = hex::decode(s).map_err(|_| bad())?;
        Ok(SessionId(v.try_into().map_err(|_| bad())?))
    }
}

/// The configuration both parties must agree on, as named string values (ring,
/// fractional bits, circuit hash, plan, ...). Its fingerprint goes into the handshake.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConfigSummary(pub BTreeMap<String, String>);

impl ConfigSummary {
    /// An empty summary.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds `key = value`.
    #[must_use]
    pub fn with(mut self, key: impl Into<String>, value: impl fmt::Display) -> Self {
        self.0.insert(key.into(), value.to_string());
        self
    }

    /// SHA-256 over the canonical (sorted, length-prefixed) encoding.
    pub fn fingerprint(&self) -> [u8; 32] {
        let mut h = Sha256::new();
        for (k, v) in &self.0 {
            for s in [k, v] {
                h.update((s.len() as u64).to_le_bytes());
                h.update(s.as_bytes());
            }
        }
        h.finalize().into()
    }

    /// The first key whose value differs, with both values.
    fn first_difference(&self, theirs: &ConfigSummary) -> Option<(String, String, String)> {
        let show =
            |v: Option<&String>| v.map_or_else(|| "<absent>".to_string(), |s| format!("`{s}`"));
        let keys: std::collections::BTreeSet<&String> =
            self.0.keys().chain(theirs.0.keys()).collect();
        keys.into_iter().find_map(|k| {
            let (a, b) = (self.0.get(k), theirs.0.get(k));
            (a != b).then(|| (format!("config.{k}"), show(a), show(b)))
        })
    }
}

/// What one end announces.
#[derive(Clone, Debug, Serialize, Deserialize)]
struct Hello {
    magic: [u8; 8],
    version: u32,
    role: Role,
    session: SessionId,
    fingerprint: [u8; 32],
    config: ConfigSummary,
}

/// Handshake parameters of one end.
#[derive(Clone, Debug)]
pub struct Handshake {
    /// Our role.
    pub me: Role,
    /// The role we expect at the other end.
    pub peer: Role,
    /// The session both ends must be in.
    pub session: SessionId,
    /// The configuration both ends must run.
    pub config: ConfigSummary,
}

impl Handshake {
    /// Runs the handshake on `ch` (charged to [`Phase::Setup`]); both ends send at once,
    /// so it costs one round.
    ///
    /// # Errors
    /// [`Error::HandshakeMismatch`] naming the first field that differs (magic,
    /// protocol version, role, session id, or `config.<key>`), or any transport error.
    pub async fn run(&self, ch: &mut Channel) -> Result<()> {
        let previous = ch.phase();
        ch.set_phase(Phase::Setup);
        let hello = Hello {
            magic: MAGIC,
            version: PROTOCOL_VERSION,
            role: self.me,
            session: self.session,
            fingerprint: self.config.fingerprint(),
            config: self.config.clone(),
        };
        ch.send(&hello).await?;
        // Nothing larger than a hello before the peer's hello is accepted.
        let max = ch.config().max_frame;
        ch.set_max_frame(max.min(PRE_SESSION_MAX_FRAME));
        let theirs: Hello = ch.recv().await?;
        ch.set_phase(previous);
        self.compare(&theirs)?;
        ch.set_max_frame(max);
        Ok(())
    }

    fn compare(&self, t: &Hello) -> Result<()> {
        let mismatch = |field: &str, ours: String, theirs: String| {
            Err(Error::HandshakeMismatch {
                field: field.to_string(),
                ours,
                theirs,
            })
        };
        if t.magic != MAGIC {
            return mismatch("magic", hex::encode(MAGIC), hex::encode(t.magic));
        }
        if t.version != PROTOCOL_VERSION {
            return mismatch(
                "protocol version",
                PROTOCOL_VERSION.to_string(),
                t.version.to_string(),
            );
        }
        if t.role != self.peer {
            return mismatch(
                "peer role",
                format!("expecting {}", self.peer),
                format!("{}", t.role),
            );
        }
        if t.session != self.session {
            return mismatch(
                "session id",
                self.session.to_string(),
                t.session.to_string(),
            );
        }
        if t.fingerprint != self.config.fingerprint() {
            return match self.config.first_difference(&t.config) {
                Some((k, a, b)) => mismatch(&k, a, b),
                None => mismatch(
                    "config fingerprint",
                    hex::encode(self.config.fingerprint()),
                    hex::encode(t.fingerprint),
                ),
            };
        }
        Ok(())
    }
}

/// Both parties' channels after [`mediate`], in party order, with what they agreed on.
#[derive(Debug)]
pub struct Mediated {
    /// The channels to party 0 and party 1 (whatever order they were accepted in).
    pub channels: [Channel; 2],
    /// The session both parties announced.
    pub session: SessionId,
    /// The configuration both parties announced.
    pub config: ConfigSummary,
}

/// The handshake of a third role `me` (the dealer) that has no configuration of its
/// own: receives a hello on each channel (accepted in any order), checks magic,
/// version and roles (one party 0 and one party 1), checks that the two parties
/// announce the same session and configuration, and answers each party with a hello
/// carrying the *other* party's session and configuration. If the parties agree, that
/// is their own and their [`Handshake::run`] succeeds; if not, each party's handshake
/// fails naming the field that differs, and so does this function. Two rounds (the
/// answers depend on both hellos); charged to [`Phase::Setup`].
///
/// # Errors
/// [`Error::PartiesDisagree`] naming the first field that differs (`session id` or
/// `config.<key>`), [`Error::HandshakeMismatch`] for a bad magic, version or role,
/// [`Error::Malformed`] for a hello whose fingerprint does not match its configuration,
/// or any transport error (each receive is bounded by the channel's timeout).
pub async fn mediate(me: Role, channels: [Channel; 2]) -> Result<Mediated> {
    let [mut a, mut b] = channels;
    let phases = [a.phase(), b.phase()];
    a.set_phase(Phase::Setup);
    b.set_phase(Phase::Setup);
    let max = [a.config().max_frame, b.config().max_frame];
    a.set_max_frame(max[0].min(PRE_SESSION_MAX_FRAME));
    b.set_max_frame(max[1].min(PRE_SESSION_MAX_FRAME));
    let (ha, hb) = tokio::try_join!(a.recv::<Hello>(), b.recv::<Hello>())?;
    for h in [&ha, &hb] {
        check_party_hello(h)?;
    }
    a.set_max_frame(max[0]);
    b.set_max_frame(max[1]);
    let (mut c0, mut c1, h0, h1) = match (ha.role, hb.role) {
        (Role::Party0, Role::Party1) => (a, b, ha, hb),
        (Role::Party1, Role::Party0) => (b, a, hb, ha),
        (r, _) => {
            return Err(Error::HandshakeMismatch {
                field: "peer role".into(),
                ours: "expecting party 0 and party 1".into(),
                theirs: format!("{r} twice"),
            });
        }
    };
    let reply = |h: &Hello| Hello {
        magic: MAGIC,
        version: PROTOCOL_VERSION,
        role: me,
        session: h.session,
        fingerprint: h.config.fingerprint(),
        config: h.config.clone(),
    };
    // Each party is answered with the other's values: on agreement that is its own.
    let (r0, r1) = (reply(&h1), reply(&h0));
    let sent = tokio::try_join!(c0.send(&r0), c1.send(&r1));
    let disagree = |field: &str, party0: String, party1: String| Error::PartiesDisagree {
        field: field.to_string(),
        party0,
        party1,
    };
    let verdict = if h0.session != h1.session {
        Some(disagree(
            "session id",
            h0.session.to_string(),
            h1.session.to_string(),
        ))
    } else if h0.fingerprint != h1.fingerprint {
        Some(match h0.config.first_difference(&h1.config) {
            Some((k, a, b)) => disagree(&k, a, b),
            None => disagree(
                "config fingerprint",
                hex::encode(h0.fingerprint),
                hex::encode(h1.fingerprint),
            ),
        })
    } else {
        None
    };
    if let Some(e) = verdict {
        // Deliver the replies before giving up, so the parties can name the field too
        // (best effort: the error to report is the disagreement).
        let _ = tokio::join!(c0.close(), c1.close());
        return Err(e);
    }
    sent?;
    c0.set_phase(phases[0]);
    c1.set_phase(phases[1]);

    Ok(Mediated {
        channels: [c0, c1],
        session: h0.session,
        config: h0.config,
    })
}

/// The checks of a party's hello that do not depend on the other party.
fn check_party_hello(h: &Hello) -> Result<()> {
    let mismatch = |field: &str, ours: String, theirs: String| {
        Err(Error::HandshakeMismatch {
            field: field.to_string(),
            ours,
            theirs,
        })
    };
    if h.magic != MAGIC {
        return mismatch("magic", hex::encode(MAGIC), hex::encode(h.magic));
    }
    if h.version != PROTOCOL_VERSION {
        return mismatch(
            "protocol version",
            PROTOCOL_VERSION.to_string(),
            h.version.to_string(),
        );
    }
    if h.role == Role::Dealer {
        return mismatch(
            "peer role",
            "expecting party 0 or party 1".into(),
            h.role.to_string(),
        );
    }
    if h.fingerprint != h.config.fingerprint() {
        return Err(Error::Malformed {
            expected: "hello",
            reason: "the configuration fingerprint does not match the configuration".into(),
        });
    }
    Ok(())
}
