//! What every peer's HTTP client shares: one way to build it (rustls, the policy's timeout, no
//! redirects, our user agent, the peer's `tls` section: its CA bundle and client certificate,
//! reloaded when the files change) and one way to say what went wrong on the wire.
//!
//! Certificate verification is always on: there is no key to switch it off, and `check`
//! refuses unknown keys.

use std::path::{Path, PathBuf};
use std::sync::{Mutex, RwLock};
use std::time::{Duration, Instant, SystemTime};

use bytes::Bytes;
use reqwest::header::RETRY_AFTER;
use reqwest::{Client, Response};
use serde::{Deserialize, Serialize};

/// An HTTP answer, whatever its status: what a peer's `classify` reads.
#[derive(Debug)]
pub struct Answer {
    pub status: u16,
    /// The `Retry-After` header as sent, if any.
    pub retry_after: Option<String>,
    pub body: Bytes,
}

/// Reads `response` whole into an [`Answer`].
pub async fn read_answer(response: Response) -> Result<Answer, reqwest::Error> {
    let status = response.status().as_u16();
    let retry_after = response
        .headers()
        .get(RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let body = response.bytes().await?;
    Ok(Answer {
        status,
        retry_after,
        body,
    })
}

/// The HTTP client of a peer: rustls with the built-in (webpki) roots (verification always
/// on), `timeout` for a whole call, redirects never followed.
pub fn build_http(timeout: Duration) -> Result<Client, reqwest::Error> {
    builder(timeout).build()
}

fn builder(timeout: Duration) -> reqwest::ClientBuilder {
    Client::builder()
        .use_rustls_tls()
        .timeout(timeout)
        .connect_timeout(timeout.min(Duration::from_secs(10)))
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(concat!("lienthong/", env!("CARGO_PKG_VERSION")))
}

/// A peer's `tls` section (`[peers.<name>.tls]`), the same for every family. Paths are read
/// against the config file's folder.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct TlsConfig {
    /// PEM bundle of the certificate authorities this peer's server certificate must chain
    /// to. It **replaces** the built-in (webpki) roots for this peer: a provincial platform
    /// signed by its own CA is trusted, and nothing else is, for this peer.
    #[serde(default)]
    pub ca_file: Option<PathBuf>,
    /// PEM client certificate (chain, leaf first) for mutual TLS; needs `client_key_file`.
    #[serde(default)]
    pub client_cert_file: Option<PathBuf>,
    /// PEM private key (PKCS#8, PKCS#1 or SEC1) of `client_cert_file`.
    #[serde(default)]
    pub client_key_file: Option<PathBuf>,
}

impl TlsConfig {
    /// The same section with its paths read against `base_dir`.
    pub fn resolved(&self, base_dir: &Path) -> TlsConfig {
        let at = |p: &Option<PathBuf>| {
            p.as_ref()
                .map(|p| crate::settings::resolve_path(base_dir, p))
        };
        TlsConfig {
            ca_file: at(&self.ca_file),
            client_cert_file: at(&self.client_cert_file),
            client_key_file: at(&self.client_key_file),
        }
    }

    fn files(&self) -> Vec<&Path> {
        [&self.ca_file, &self.client_cert_file, &self.client_key_file]
            .into_iter()
            .flatten()
            .map(PathBuf::as_path)
            .collect()
    }

    /// Every problem of the section (`prefix` is e.g. `peers.dvcqg.tls`): a certificate without
    /// its key or the other way round, files that cannot be read or are not what they should be.
    pub fn check(&self, prefix: &str, base_dir: &Path) -> Vec<String> {
        let mut problems = Vec::new();
        match (&self.client_cert_file, &self.client_key_file) {
            (Some(_), None) => problems.push(format!(
                "{prefix}.client_key_file: client_cert_file needs its key"
            )),
            (None, Some(_)) => problems.push(format!(
                "{prefix}.client_cert_file: client_key_file needs its certificate"
            )),
            _ => {}
        }
        if problems.is_empty() {
            if let Err(e) = tls_builder(builder(Duration::from_secs(1)), &self.resolved(base_dir))
                .and_then(|(b, _)| {
                    b.build()
                        .map_err(|e| format!("cannot build a client: {}", with_causes(&e)))
                })
            {
                problems.push(format!("{prefix}: {e}"));
            }
        }
        problems
    }
}

/// `builder` with the section's roots and identity; also the client certificate's expiry.
fn tls_builder(
    mut b: reqwest::ClientBuilder,
    tls: &TlsConfig,
) -> Result<(reqwest::ClientBuilder, Option<SystemTime>), String> {
    let read = |p: &Path| std::fs::read(p).map_err(|e| format!("{}: {e}", p.display()));
    if let Some(ca) = &tls.ca_file {
        let pem = read(ca)?;
        let roots = reqwest::Certificate::from_pem_bundle(&pem)
            .map_err(|e| format!("{}: not a PEM certificate bundle: {e}", ca.display()))?;
        if roots.is_empty() {
            return Err(format!("{}: no certificate in it", ca.display()));
        }
        b = b.tls_built_in_root_certs(false);
        for root in roots {
            b = b.add_root_certificate(root);
        }
    }
    let mut expiry = None;
    if let (Some(cert), Some(key)) = (&tls.client_cert_file, &tls.client_key_file) {
        let cert_pem = read(cert)?;
        expiry = Some(not_after(&cert_pem).map_err(|e| format!("{}: {e}", cert.display()))?);
        let key_pem = read(key)?;
        if let Some(kind) = refused_key(&key_pem) {
            return Err(format!(
                "{}: {kind}; give the key as PKCS#8 (\"BEGIN PRIVATE KEY\"), SEC1 (\"BEGIN EC \
                 PRIVATE KEY\") or PKCS#1 (\"BEGIN RSA PRIVATE KEY\"): RSA, ECDSA P-256 or \
                 P-384, or Ed25519",
                key.display()
            ));
        }
        let mut pem = cert_pem;
        pem.push(b'\n');
        pem.extend(key_pem);
        let identity = reqwest::Identity::from_pem(&pem).map_err(|e| {
            format!(
                "{} with {}: not a certificate and its key: {e}",
                cert.display(),
                key.display()
            )
        })?;
        b = b.identity(identity);
    }
    Ok((b, expiry))
}

/// What makes a PEM private key one the TLS library (rustls) cannot use, when it says so
/// plainly: an encrypted key, or a curve it does not sign with. `None` when nothing is seen
/// here (whatever else is wrong is said when the client is built).
fn refused_key(pem: &[u8]) -> Option<String> {
    let text = String::from_utf8_lossy(pem);
    if text.contains("BEGIN ENCRYPTED PRIVATE KEY") || text.contains("Proc-Type: 4,ENCRYPTED") {
        return Some("an encrypted key (it must be stored without a passphrase)".into());
    }
    // The OID of secp521r1 (1.3.132.0.35), inside a PKCS#8 or SEC1 key.
    const P521: &[u8] = &[0x06, 0x05, 0x2b, 0x81, 0x04, 0x00, 0x23];
    for block in x509_parser::pem::Pem::iter_from_buffer(pem).flatten() {
        if block.label.contains("PRIVATE KEY")
            && block.contents.windows(P521.len()).any(|w| w == P521)
        {
            return Some(
                "an ECDSA key on the curve P-521, which the TLS library does not sign with".into(),
            );
        }
    }
    None
}

/// `err` and every error under it, in words (a client builder's error says only "builder
/// error" by itself).
fn with_causes(err: &(dyn std::error::Error + 'static)) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// When the first certificate of a PEM file stops being valid.
fn not_after(pem: &[u8]) -> Result<SystemTime, String> {
    let (_, block) =
        x509_parser::pem::parse_x509_pem(pem).map_err(|e| format!("not a PEM certificate: {e}"))?;
    let cert = block
        .parse_x509()
        .map_err(|e| format!("not an X.509 certificate: {e}"))?;
    if cert.version() != x509_parser::x509::X509Version::V3 {
        // webpki, under rustls, takes only version 3 certificates, its own included.
        return Err(format!(
            "an X.509 version {} certificate; TLS needs version 3 (sign it with extensions, \
             e.g. `openssl x509 -req ... -extfile` with `basicConstraints = CA:FALSE`)",
            cert.version().0 + 1
        ));
    }
    let secs = cert.validity().not_after.timestamp();
    Ok(SystemTime::UNIX_EPOCH + Duration::from_secs(secs.max(0) as u64))
}

/// How often a peer's TLS files are looked at for a change (on use, at most this often).
pub const TLS_RELOAD_EVERY: Duration = Duration::from_secs(1);

/// Client certificates in use, by (peer, file): their expiry, for `/metrics`.
static CERTIFICATES: Mutex<Vec<(String, String, SystemTime)>> = Mutex::new(Vec::new());

/// `(peer, client certificate file, seconds until it expires)` of every peer client built in
/// this process with a client certificate (negative once expired).
pub fn certificate_expiries() -> Vec<(String, String, f64)> {
    let now = SystemTime::now();
    CERTIFICATES
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .iter()
        .map(|(peer, file, until)| {
            let secs = match until.duration_since(now) {
                Ok(d) => d.as_secs_f64(),
                Err(e) => -e.duration().as_secs_f64(),
            };
            (peer.clone(), file.clone(), secs)
        })
        .collect()
}

fn record_expiry(peer: &str, file: &Path, until: SystemTime) {
    let file = file.display().to_string();
    let mut certs = CERTIFICATES.lock().unwrap_or_else(|e| e.into_inner());
    match certs.iter_mut().find(|(p, f, _)| p == peer && *f == file) {
        Some(entry) => entry.2 = until,
        None => certs.push((peer.to_string(), file, until)),
    }
}

/// What identifies a version of the TLS files: each one's modification time and size.
type Stamp = Vec<Option<(SystemTime, u64)>>;

fn stamp(tls: &TlsConfig) -> Stamp {
    tls.files()
        .into_iter()
        .map(|p| {
            std::fs::metadata(p)
                .ok()
                .map(|m| (m.modified().unwrap_or(SystemTime::UNIX_EPOCH), m.len()))
        })
        .collect()
}

/// A peer's HTTP client, rebuilt when its `tls` files change: looked at on use, at most every
/// [`TLS_RELOAD_EVERY`]; a changed set of files that builds is swapped in for the next request
/// (requests under way finish on the old one), one that does not is logged and the client in
/// use kept.
pub struct PeerHttp {
    peer: String,
    timeout: Duration,
    tls: TlsConfig,
    current: RwLock<Current>,
}

struct Current {
    client: Client,
    stamp: Stamp,
    looked: Instant,
}

impl std::fmt::Debug for PeerHttp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PeerHttp")
            .field("peer", &self.peer)
            .field("tls", &self.tls)
            .finish_non_exhaustive()
    }
}

impl PeerHttp {
    /// The client of `peer` (its name in logs and metrics), with `tls` (paths already
    /// resolved) and the policy's `timeout`.
    pub fn new(peer: &str, timeout: Duration, tls: &TlsConfig) -> Result<PeerHttp, String> {
        let stamp = stamp(tls);
        let client = Self::build(peer, timeout, tls)?;
        Ok(PeerHttp {
            peer: peer.to_string(),
            timeout,
            tls: tls.clone(),
            current: RwLock::new(Current {
                client,
                stamp,
                looked: Instant::now(),
            }),
        })
    }

    fn build(peer: &str, timeout: Duration, tls: &TlsConfig) -> Result<Client, String> {
        let (b, expiry) = tls_builder(builder(timeout), tls)?;
        let client = b
            .build()
            .map_err(|e| format!("cannot build the HTTP client: {}", with_causes(&e)))?;
        if let (Some(until), Some(file)) = (expiry, &tls.client_cert_file) {
            record_expiry(peer, file, until);
        }
        Ok(client)
    }

    /// The client to send with now.
    pub fn client(&self) -> Client {
        {
            let current = self.current.read().unwrap_or_else(|e| e.into_inner());
            if self.tls.files().is_empty() || current.looked.elapsed() < TLS_RELOAD_EVERY {
                return current.client.clone();
            }
        }
        let mut current = self.current.write().unwrap_or_else(|e| e.into_inner());
        if current.looked.elapsed() >= TLS_RELOAD_EVERY {
            current.looked = Instant::now();
            let now = stamp(&self.tls);
            if now != current.stamp {
                current.stamp = now;
                match Self::build(&self.peer, self.timeout, &self.tls) {
                    Ok(client) => {
                        tracing::info!(peer = %self.peer, "TLS files changed: new client in use");
                        current.client = client;
                    }
                    Err(e) => tracing::error!(
                        peer = %self.peer, error = %e,
                        "TLS files changed but cannot be used: the client in use is kept"
                    ),
                }
            }
        }
        current.client.clone()
    }
}

/// A transport failure in words, without the URL (which could carry credentials).
pub fn describe_transport_error(err: &reqwest::Error) -> String {
    let kind = if err.is_timeout() {
        "timed out"
    } else if err.is_connect() {
        "connection failed"
    } else if err.is_body() || err.is_decode() {
        "answer broken off"
    } else {
        "request failed"
    };
    let mut causes = Vec::new();
    let mut source = std::error::Error::source(err);
    while let Some(cause) = source {
        causes.push(cause.to_string());
        source = cause.source();
    }
    if causes.is_empty() {
        kind.to_string()
    } else {
        format!("{kind}: {}", causes.join(": "))
    }
}
