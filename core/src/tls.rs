//! Mutual TLS 1.3 between the three roles, with pinned self-signed certificates.
//!
//! Each role (party 0, party 1, the dealer) has an Ed25519 key and a self-signed
//! certificate ([`keygen`], `tessera keygen`). A process is given its own key and
//! certificate and the certificates of the peers it talks to ([`TlsConfig::load`]); a
//! connection is accepted only if the other end proves possession of the key of a
//! *pinned* certificate — byte-for-byte the certificate on file for that role, no
//! certificate authority, no name checks. Both directions authenticate: the side that
//! connects checks the listener's certificate and presents its own; the listener
//! refuses a client without a pinned certificate before a byte of the session is sent.
//!
//! # Choices, for AES-NI machines
//! - **TLS 1.3 only**: one round trip to a key, every suite an AEAD, forward secrecy.
//! - **Cipher suites**: `TLS13_AES_128_GCM_SHA256` first (AES-NI and carry-less
//!   multiplication make it the fastest AEAD on x86-64 and ARMv8 servers; 128-bit keys
//!   match the framework's κ = 128 and save the four extra rounds of AES-256), then
//!   `TLS13_AES_256_GCM_SHA384`, then `TLS13_CHACHA20_POLY1305_SHA256` (faster only
//!   where AES has no hardware support).
//! - **Key exchange**: X25519 first, then P-256.
//! - **Keys**: Ed25519 — the fastest signatures to make and check in `ring` at the
//!   same security, deterministic (no nonce to get wrong), 32-byte keys. Signatures are
//!   made once per connection, so the choice hardly shows in a run; the AEAD does.
//! - No session tickets or resumption: every connection proves its key afresh.
//!
//! # Before authentication
//! A TLS handshake is bounded by a deadline ([`handshake_deadline`]) and by `rustls`'s
//! own limits on handshake messages; nothing about the session (its id, the job's
//! configuration) is sent before it completes, and a listener serves only peers whose
//! certificate is pinned.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{CryptoProvider, WebPkiSupportedAlgorithms, ring as provider};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::{
    CertificateError, ClientConfig, DigitallySignedStruct, DistinguishedName, OtherError,
    ServerConfig, SignatureScheme,
};
use tokio::net::TcpStream;
use tokio_rustls::{TlsAcceptor, TlsConnector, TlsStream};

use crate::handshake::Role;
use crate::{Error, Result};

/// The longest a TLS handshake may take, whatever the channel timeout: an
/// unauthenticated connection holds a listener's attention for at most this long.
pub const MAX_HANDSHAKE_DEADLINE: Duration = Duration::from_secs(10);

/// The deadline of one TLS handshake under a channel timeout of `timeout`: the shorter
/// of the two.
pub fn handshake_deadline(timeout: Duration) -> Duration {
    timeout.min(MAX_HANDSHAKE_DEADLINE)
}

/// The file stem of a role's key and certificate: `party0`, `party1`, `dealer`.
pub fn role_name(role: Role) -> &'static str {
    match role {
        Role::Party0 => "party0",
        Role::Party1 => "party1",
        Role::Dealer => "dealer",
    }
}

/// The role named `party0`, `party1` or `dealer`.
///
/// # Errors
/// [`Error::Config`] for any other name.
pub fn parse_role(name: &str) -> Result<Role> {
    match name {
        "party0" => Ok(Role::Party0),
        "party1" => Ok(Role::Party1),
        "dealer" => Ok(Role::Dealer),
        other => Err(Error::Config {
            what: "role name",
            reason: format!("`{other}` is not party0, party1 or dealer"),
        }),
    }
}

/// The key file of `role` in `dir`: `DIR/<role>.key`.
pub fn key_path(dir: &Path, role: Role) -> PathBuf {
    dir.join(format!("{}.key", role_name(role)))
}

/// The certificate file of `role` in `dir`: `DIR/<role>.crt`.
pub fn cert_path(dir: &Path, role: Role) -> PathBuf {
    dir.join(format!("{}.crt", role_name(role)))
}

/// A fresh Ed25519 key and a self-signed certificate for `role`, as PEM (key, cert).
/// The certificate names the role (`CN=tessera <role>`, DNS name `<role>.tessera`) for
/// people reading it; peers accept it because it is pinned, not because of a name.
///
/// # Errors
/// [`Error::Config`] if generation fails.
pub fn generate(role: Role) -> Result<(String, String)> {
    let fail = |e: rcgen::Error| Error::Config {
        what: "key generation",
        reason: e.to_string(),
    };
    let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ED25519).map_err(fail)?;
    let mut params = rcgen::CertificateParams::new(vec![format!("{}.tessera", role_name(role))])
        .map_err(fail)?;
    params.distinguished_name.push(
        rcgen::DnType::CommonName,
        format!("tessera {}", role_name(role)),
    );
    params.not_before = rcgen::date_time_ymd(2024, 1, 1);
    params.not_after = rcgen::date_time_ymd(2124, 1, 1);
    let cert = params.self_signed(&key).map_err(fail)?;
    Ok((key.serialize_pem(), cert.pem()))
}

/// Writes `role`'s fresh key (`DIR/<role>.key`, mode 0600) and self-signed certificate
/// (`DIR/<role>.crt`) into `dir` (created if needed); returns both paths. An existing
/// key is never overwritten.
///
/// # Errors
/// [`Error::Config`] if a file exists or cannot be written.
pub fn keygen(dir: &Path, role: Role) -> Result<(PathBuf, PathBuf)> {
    let (key, cert) = generate(role)?;
    let io = |what: &Path| {
        let what = what.display().to_string();
        move |e: std::io::Error| Error::Config {
            what: "key file",
            reason: format!("{what}: {e}"),
        }
    };
    std::fs::create_dir_all(dir).map_err(io(dir))?;
    let (kp, cp) = (key_path(dir, role), cert_path(dir, role));
    for p in [&kp, &cp] {
        if p.exists() {
            return Err(Error::Config {
                what: "key file",
                reason: format!("{} exists; remove it first to make a new key", p.display()),
            });
        }
    }
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    {
        use std::io::Write;
        let mut f = opts.open(&kp).map_err(io(&kp))?;
        f.write_all(key.as_bytes())
            .and_then(|()| f.sync_all())
            .map_err(io(&kp))?;
    }
    std::fs::write(&cp, cert).map_err(io(&cp))?;
    Ok((kp, cp))
}

/// The SHA-256 fingerprint (hex) of the certificate in the PEM file at `path`.
///
/// # Errors
/// [`Error::Config`] if the file cannot be read or holds no certificate.
pub fn fingerprint(path: &Path) -> Result<String> {
    use sha2::Digest;
    let c = parse_cert(&read_file(path, "")?, "certificate")?;
    Ok(hex::encode(sha2::Sha256::digest(c.as_ref())))
}

/// A role's own identity: its certificate and private key (never printed).
#[derive(Clone)]
pub struct Identity {
    cert: CertificateDer<'static>,
    key: Arc<PrivateKeyDer<'static>>,
}

impl fmt::Debug for Identity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Identity(..)")
    }
}

impl Identity {
    /// From PEM text (a PKCS#8 key and a certificate).
    ///
    /// # Errors
    /// [`Error::Config`] if either does not parse.
    pub fn from_pem(key: &str, cert: &str) -> Result<Self> {
        Ok(Identity {
            cert: parse_cert(cert.as_bytes(), "certificate")?,
            key: Arc::new(PrivateKeyDer::from_pem_slice(key.as_bytes()).map_err(|e| {
                Error::Config {
                    what: "private key",
                    reason: format!("not a PEM private key: {e}"),
                }
            })?),
        })
    }
}

fn parse_cert(pem: &[u8], what: &'static str) -> Result<CertificateDer<'static>> {
    CertificateDer::from_pem_slice(pem).map_err(|e| Error::Config {
        what,
        reason: format!("not a PEM certificate: {e}"),
    })
}

fn read_file(path: &Path, hint: &str) -> Result<Vec<u8>> {
    std::fs::read(path).map_err(|e| Error::Config {
        what: "key directory",
        reason: format!("cannot read {}: {e}{hint}", path.display()),
    })
}

/// One process's TLS settings: its role, its identity, and the pinned certificates of
/// the roles it accepts as peers.
#[derive(Clone)]
pub struct TlsConfig {
    me: Role,
    identity: Identity,
    pins: Vec<(Role, CertificateDer<'static>)>,
    server: Arc<ServerConfig>,
}

impl fmt::Debug for TlsConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TlsConfig")
            .field("me", &self.me)
            .field(
                "pinned",
                &self.pins.iter().map(|(r, _)| *r).collect::<Vec<_>>(),
            )
            .finish_non_exhaustive()
    }
}

/// The provider: `ring`, TLS 1.3 suites in the order of the module docs, X25519 first.
fn crypto() -> Arc<CryptoProvider> {
    let mut p = provider::default_provider();
    p.cipher_suites = vec![
        provider::cipher_suite::TLS13_AES_128_GCM_SHA256,
        provider::cipher_suite::TLS13_AES_256_GCM_SHA384,
        provider::cipher_suite::TLS13_CHACHA20_POLY1305_SHA256,
    ];
    p.kx_groups = vec![provider::kx_group::X25519, provider::kx_group::SECP256R1];
    Arc::new(p)
}

fn tls_err(what: &'static str) -> impl FnOnce(rustls::Error) -> Error {
    move |e| Error::Config {
        what,
        reason: e.to_string(),
    }
}

impl TlsConfig {
    /// `me`'s identity and the pinned certificates of `peers`.
    ///
    /// # Errors
    /// [`Error::Config`] if the key does not match a usable signature scheme, or a
    /// peer is `me`.
    pub fn new(me: Role, identity: Identity, peers: Vec<(Role, String)>) -> Result<Self> {
        let mut pins = Vec::with_capacity(peers.len());
        for (role, pem) in peers {
            if role == me {
                return Err(Error::Config {
                    what: "pinned certificates",
                    reason: format!("{me} cannot be its own peer"),
                });
            }
            pins.push((role, parse_cert(pem.as_bytes(), "pinned certificate")?));
        }
        let provider = crypto();
        let verifier = Arc::new(Pinned {
            pins: pins.clone(),
            algs: provider.signature_verification_algorithms,
        });
        let mut server = ServerConfig::builder_with_provider(provider)
            .with_protocol_versions(&[&rustls::version::TLS13])
            .map_err(tls_err("TLS configuration"))?
            .with_client_cert_verifier(verifier)
            .with_single_cert(vec![identity.cert.clone()], identity.key.clone_key())
            .map_err(tls_err("private key"))?;
        server.send_tls13_tickets = 0;
        Ok(TlsConfig {
            me,
            identity,
            pins,
            server: Arc::new(server),
        })
    }

    /// Reads `me`'s key and certificate and the certificates of `peers` from the key
    /// directory `dir` (`<role>.key`, `<role>.crt`; see [`keygen`]).
    ///
    /// # Errors
    /// [`Error::Config`] naming the file that is missing or unreadable.
    pub fn load(dir: &Path, me: Role, peers: &[Role]) -> Result<Self> {
        let text = |p: &Path, hint: &str| -> Result<String> {
            String::from_utf8(read_file(p, hint)?).map_err(|_| Error::Config {
                what: "key directory",
                reason: format!("{} is not PEM text", p.display()),
            })
        };
        let own = format!(
            " (make it with `tessera keygen --out {} --name {}`)",
            dir.display(),
            role_name(me)
        );
        let identity = Identity::from_pem(
            &text(&key_path(dir, me), &own)?,
            &text(&cert_path(dir, me), &own)?,
        )?;
        let mut pinned = Vec::new();
        for &p in peers {
            let hint = format!(
                " (copy {p}'s certificate, made by `tessera keygen --name {}`, here)",
                role_name(p)
            );
            pinned.push((p, text(&cert_path(dir, p), &hint)?));
        }
        TlsConfig::new(me, identity, pinned)
    }

    /// This process's role.
    pub fn role(&self) -> Role {
        self.me
    }

    /// The roles whose certificates are pinned.
    pub fn peers(&self) -> Vec<Role> {
        self.pins.iter().map(|(r, _)| *r).collect()
    }

    fn client(&self, peer: Role) -> Result<Arc<ClientConfig>> {
        let pin = self
            .pins
            .iter()
            .find(|(r, _)| *r == peer)
            .ok_or_else(|| Error::Config {
                what: "pinned certificates",
                reason: format!("no certificate of {peer} is pinned"),
            })?;
        let provider = crypto();
        let verifier = Arc::new(Pinned {
            pins: vec![pin.clone()],
            algs: provider.signature_verification_algorithms,
        });
        let mut c = ClientConfig::builder_with_provider(provider)
            .with_protocol_versions(&[&rustls::version::TLS13])
            .map_err(tls_err("TLS configuration"))?
            .dangerous()
            .with_custom_certificate_verifier(verifier)
            .with_client_auth_cert(
                vec![self.identity.cert.clone()],
                self.identity.key.clone_key(),
            )
            .map_err(tls_err("private key"))?;
        c.resumption = rustls::client::Resumption::disabled();
        Ok(Arc::new(c))
    }

    /// The client side of a handshake on `tcp` with `peer`, which must present its
    /// pinned certificate (and we present ours), within `deadline`.
    ///
    /// # Errors
    /// [`Error::Tls`] if the handshake fails (the peer's certificate is not the pinned
    /// one, the peer refuses ours, it speaks no TLS), [`Error::Timeout`] past the
    /// deadline.
    pub async fn connect(
        &self,
        tcp: TcpStream,
        peer: Role,
        deadline: Duration,
    ) -> Result<TlsStream<TcpStream>> {
        let connector = TlsConnector::from(self.client(peer)?);
        let name = ServerName::try_from(format!("{}.tessera", role_name(peer))).map_err(|e| {
            Error::Config {
                what: "server name",
                reason: e.to_string(),
            }
        })?;
        let s = tokio::time::timeout(deadline, connector.connect(name, tcp))
            .await
            .map_err(|_| Error::Timeout {
                what: "in the TLS handshake",
                after: deadline,
            })?
            .map_err(|e| Error::Tls {
                with: peer.to_string(),
                reason: describe(&e),
            })?;
        Ok(TlsStream::Client(s))
    }

    /// The server side of a handshake on `tcp`, within `deadline`: the client must
    /// present one of the pinned certificates; returns the role it authenticated as.
    ///
    /// # Errors
    /// [`Error::Tls`] if the handshake fails (no pinned certificate, no TLS),
    /// [`Error::Timeout`] past the deadline.
    pub async fn accept(
        &self,
        tcp: TcpStream,
        deadline: Duration,
    ) -> Result<(Role, TlsStream<TcpStream>)> {
        let acceptor = TlsAcceptor::from(self.server.clone());
        let s = tokio::time::timeout(deadline, acceptor.accept(tcp))
            .await
            .map_err(|_| Error::Timeout {
                what: "in the TLS handshake",
                after: deadline,
            })?
            .map_err(|e| Error::Tls {
                with: "the connecting peer".into(),
                reason: describe(&e),
            })?;
        let role = s
            .get_ref()
            .1
            .peer_certificates()
            .and_then(|c| c.first())
            .and_then(|c| {
                self.pins
                    .iter()
                    .find(|(_, p)| p.as_ref() == c.as_ref())
                    .map(|(r, _)| *r)
            })
            .ok_or_else(|| Error::Tls {
                with: "the connecting peer".into(),
                reason: "no pinned certificate".into(),
            })?;
        Ok((role, TlsStream::Server(s)))
    }
}

/// A handshake failure in words: our own verdict on a certificate as we wrote it,
/// anything else as `rustls` or the socket put it.
fn describe(e: &std::io::Error) -> String {
    match e
        .get_ref()
        .and_then(|inner| inner.downcast_ref::<rustls::Error>())
    {
        Some(rustls::Error::InvalidCertificate(CertificateError::Other(o))) => {
            format!("its certificate is {}", o.0)
        }
        Some(r) => r.to_string(),
        None => e.to_string(),
    }
}

/// A verifier that accepts exactly the pinned certificates, and checks the handshake
/// signature with the certificate's key.
#[derive(Debug)]
struct Pinned {
    pins: Vec<(Role, CertificateDer<'static>)>,
    algs: WebPkiSupportedAlgorithms,
}

impl Pinned {
    fn check(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
    ) -> std::result::Result<(), rustls::Error> {
        if intermediates.is_empty()
            && self
                .pins
                .iter()
                .any(|(_, p)| p.as_ref() == end_entity.as_ref())
        {
            return Ok(());
        }
        let names: Vec<String> = self.pins.iter().map(|(r, _)| r.to_string()).collect();
        Err(rustls::Error::InvalidCertificate(CertificateError::Other(
            OtherError(Arc::new(NotPinned(names.join(" or ")))),
        )))
    }
}

#[derive(Debug)]
struct NotPinned(String);

impl fmt::Display for NotPinned {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "not the pinned certificate of {}", self.0)
    }
}

impl std::error::Error for NotPinned {}

impl ServerCertVerifier for Pinned {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> std::result::Result<ServerCertVerified, rustls::Error> {
        self.check(end_entity, intermediates)
            .map(|()| ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        _message: &[u8],
        _cert: &CertificateDer<'_>,
        _dss: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        Err(rustls::Error::PeerIncompatible(
            rustls::PeerIncompatible::Tls12NotOffered,
        ))
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.algs)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algs.supported_schemes()
    }
}

impl ClientCertVerifier for Pinned {
    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        &[]
    }

    fn verify_client_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        _now: UnixTime,
    ) -> std::result::Result<ClientCertVerified, rustls::Error> {
        self.check(end_entity, intermediates)
            .map(|()| ClientCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        _message: &[u8],
        _cert: &CertificateDer<'_>,
        _dss: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        Err(rustls::Error::PeerIncompatible(
            rustls::PeerIncompatible::Tls12NotOffered,
        ))
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.algs)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algs.supported_schemes()
    }
}

/// In-process identities for all three roles, each pinning the other two: for runs
/// of all roles in one process over TLS on loopback (keys made now, never stored).
///
/// # Errors
/// If key generation fails.
pub fn ephemeral() -> Result<[TlsConfig; 3]> {
    let roles = [Role::Party0, Role::Party1, Role::Dealer];
    let mut made = Vec::with_capacity(3);
    for r in roles {
        made.push((r, generate(r)?));
    }
    let mut out = Vec::with_capacity(3);
    for (r, (key, cert)) in &made {
        let peers = made
            .iter()
            .filter(|(p, _)| p != r)
            .map(|(p, (_, c))| (*p, c.clone()))
            .collect();
        out.push(TlsConfig::new(*r, Identity::from_pem(key, cert)?, peers)?);
    }
    out.try_into().map_err(|_| Error::Config {
        what: "key generation",
        reason: "three identities expected".into(),
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpListener;

    async fn pair() -> (TcpStream, TcpStream) {
        let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let a = l.local_addr().unwrap();
        let (c, s) = tokio::join!(TcpStream::connect(a), l.accept());
        (c.unwrap(), s.unwrap().0)
    }

    #[tokio::test]
    async fn pinned_peers_authenticate_both_ways() {
        let [p0, p1, d] = ephemeral().unwrap();
        let (c, s) = pair().await;
        let t = Duration::from_secs(5);
        let (client, server) = tokio::join!(p1.connect(c, Role::Party0, t), p0.accept(s, t));
        let (mut client, (role, mut server)) = (client.unwrap(), server.unwrap());
        assert_eq!(role, Role::Party1);
        client.write_all(b"hello").await.unwrap();
        client.flush().await.unwrap();
        let mut buf = [0u8; 5];
        server.read_exact(&mut buf).await.unwrap();
        assert_eq!(&buf, b"hello");
        // The dealer accepts party 1 too, but party 1 expecting the dealer refuses party 0.
        let (c, s) = pair().await;
        let (client, _server) = tokio::join!(p1.connect(c, Role::Dealer, t), p0.accept(s, t));
        let e = client.unwrap_err().to_string();
        assert!(e.contains("not the pinned certificate of dealer"), "{e}");
        drop(d);
    }

    #[tokio::test]
    async fn a_stranger_is_refused_by_the_listener() {
        let [p0, _, _] = ephemeral().unwrap();
        // A stranger with its own self-signed party-1 key, pinning the real party 0.
        let [_, stranger, _] = ephemeral().unwrap();
        let p0_cert = p0.identity.cert.clone();
        let stranger = TlsConfig {
            pins: vec![(Role::Party0, p0_cert)],
            ..stranger
        };
        let (c, s) = pair().await;
        let t = Duration::from_secs(5);
        let (client, server) = tokio::join!(
            async {
                let mut s = stranger.connect(c, Role::Party0, t).await?;
                let mut b = [0u8; 1];
                s.read_exact(&mut b).await.map_err(Error::io("reading"))?;
                Ok::<_, Error>(())
            },
            p0.accept(s, t)
        );
        let e = server.unwrap_err().to_string();
        assert!(e.contains("not the pinned certificate of party 1"), "{e}");
        assert!(client.is_err());
    }

    #[tokio::test]
    async fn an_idle_connection_times_out() {
        let [p0, _, _] = ephemeral().unwrap();
        let (_c, s) = pair().await;
        let e = p0
            .accept(s, Duration::from_millis(200))
            .await
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("timed out") && e.contains("TLS handshake"),
            "{e}"
        );
    }

    #[test]
    fn keygen_writes_and_refuses_to_overwrite() {
        let dir = tempfile_dir();
        let (k, c) = keygen(&dir, Role::Dealer).unwrap();
        assert!(k.ends_with("dealer.key") && c.ends_with("dealer.crt"));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            assert_eq!(
                std::fs::metadata(&k).unwrap().permissions().mode() & 0o777,
                0o600
            );
        }
        assert!(keygen(&dir, Role::Dealer).is_err());
        keygen(&dir, Role::Party0).unwrap();
        TlsConfig::load(&dir, Role::Dealer, &[Role::Party0]).unwrap();
        let e = TlsConfig::load(&dir, Role::Dealer, &[Role::Party1])
            .unwrap_err()
            .to_string();
        assert!(e.contains("party1.crt"), "{e}");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    fn tempfile_dir() -> PathBuf {
        let d = std::env::temp_dir().join(format!(
            "tessera-tls-test-{}",
            crate::prg::os_seed().to_hex()
        ));
        std::fs::create_dir_all(&d).unwrap();
        d
    }
}
