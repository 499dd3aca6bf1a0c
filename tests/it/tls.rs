//! TLS to peers with certificates made here: a mock peer over a real socket (tokio-rustls,
//! client certificates required, a server certificate signed by a test CA) reached through the
//! client every peer family builds (`peer::http::PeerHttp`).

use std::convert::Infallible;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::Full;
use lienthong::peer::http::{certificate_expiries, PeerHttp, TlsConfig};
use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, IsCa, KeyPair};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};

/// A certificate authority made for the test.
struct Authority {
    issuer: CertifiedIssuer<'static, KeyPair>,
}

impl Authority {
    fn new(name: &str) -> Authority {
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, name);
        Authority {
            issuer: CertifiedIssuer::self_signed(params, KeyPair::generate().unwrap()).unwrap(),
        }
    }

    fn pem(&self) -> String {
        self.issuer.pem()
    }

    fn der(&self) -> CertificateDer<'static> {
        self.issuer.der().clone()
    }

    /// A certificate for `names`, valid until the first of January of `until_year`.
    fn issue(&self, names: &[&str], until_year: i32) -> Issued {
        let mut params =
            CertificateParams::new(names.iter().map(|n| n.to_string()).collect::<Vec<_>>())
                .unwrap();
        params.not_after = rcgen::date_time_ymd(until_year, 1, 1);
        let key = KeyPair::generate().unwrap();
        let cert = params.signed_by(&key, &self.issuer).unwrap();
        Issued {
            cert_pem: cert.pem(),
            cert_der: cert.der().clone(),
            key_pem: key.serialize_pem(),
            key_der: key.serialize_der(),
        }
    }
}

struct Issued {
    cert_pem: String,
    cert_der: CertificateDer<'static>,
    key_pem: String,
    key_der: Vec<u8>,
}

/// A peer that answers `200 ok` over TLS with `server` and requires a client certificate
/// signed by the authority `trusted` holds at the time of each handshake. One request per
/// connection, so every request makes a handshake.
async fn mock_peer(
    server: &Issued,
    trusted: Arc<Mutex<CertificateDer<'static>>>,
) -> std::net::SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let chain = vec![server.cert_der.clone()];
    let key = server.key_der.clone();
    tokio::spawn(async move {
        loop {
            let Ok((tcp, _)) = listener.accept().await else {
                return;
            };
            let provider = Arc::new(rustls::crypto::ring::default_provider());
            let mut roots = rustls::RootCertStore::empty();
            roots
                .add(trusted.lock().unwrap().clone())
                .expect("a CA certificate");
            let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(
                Arc::new(roots),
                provider.clone(),
            )
            .build()
            .unwrap();
            let mut config = rustls::ServerConfig::builder_with_provider(provider)
                .with_safe_default_protocol_versions()
                .unwrap()
                .with_client_cert_verifier(verifier)
                .with_single_cert(
                    chain.clone(),
                    PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.clone())),
                )
                .unwrap();
            config.alpn_protocols = vec![b"http/1.1".to_vec()];
            let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
            tokio::spawn(async move {
                // A client without an acceptable certificate fails here: refused.
                let Ok(tls) = acceptor.accept(tcp).await else {
                    return;
                };
                let service = hyper::service::service_fn(|_req| async {
                    Ok::<_, Infallible>(hyper::Response::new(Full::new(Bytes::from_static(b"ok"))))
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .keep_alive(false)
                    .serve_connection(hyper_util::rt::TokioIo::new(tls), service)
                    .await;
            });
        }
    });
    addr
}

async fn answers(http: &PeerHttp, addr: std::net::SocketAddr) -> bool {
    match http
        .client()
        .get(format!("https://localhost:{}/", addr.port()))
        .send()
        .await
    {
        Ok(r) => r.status().is_success() && r.text().await.is_ok_and(|t| t == "ok"),
        Err(_) => false,
    }
}

fn write(path: &Path, text: &str) {
    // Written aside and renamed, as a certificate tool does, so no half-written file is read.
    let tmp = path.with_extension("new");
    std::fs::write(&tmp, text).unwrap();
    std::fs::rename(&tmp, path).unwrap();
}

const TIMEOUT: Duration = Duration::from_secs(5);

#[tokio::test]
async fn mutual_tls_with_a_private_ca_and_a_rotated_client_certificate() {
    let dir = tempfile::tempdir().unwrap();
    let server_ca = Authority::new("Test server CA");
    let other_ca = Authority::new("Another CA");
    let clients_a = Authority::new("Test client CA A");
    let clients_b = Authority::new("Test client CA B");
    let server = server_ca.issue(&["localhost"], 2090);
    let trusted = Arc::new(Mutex::new(clients_a.der()));
    let addr = mock_peer(&server, trusted.clone()).await;

    let ca_file = dir.path().join("ca.pem");
    let other_ca_file = dir.path().join("other-ca.pem");
    let cert_file = dir.path().join("client.pem");
    let key_file = dir.path().join("client.key");
    write(&ca_file, &server_ca.pem());
    write(&other_ca_file, &other_ca.pem());
    let first = clients_a.issue(&["lienthong"], 2091);
    write(&cert_file, &first.cert_pem);
    write(&key_file, &first.key_pem);
    let with_cert = |ca: Option<&Path>| TlsConfig {
        ca_file: ca.map(Path::to_path_buf),
        client_cert_file: Some(cert_file.clone()),
        client_key_file: Some(key_file.clone()),
    };

    // The server's certificate is trusted only when ca_file names its CA.
    let webpki = PeerHttp::new("tls-webpki", TIMEOUT, &with_cert(None)).unwrap();
    assert!(
        !answers(&webpki, addr).await,
        "a private CA is not in the built-in roots"
    );
    let other = PeerHttp::new("tls-other", TIMEOUT, &with_cert(Some(&other_ca_file))).unwrap();
    assert!(
        !answers(&other, addr).await,
        "ca_file replaces the roots: another CA fails"
    );
    // Without a client certificate the peer refuses the handshake.
    let anonymous = TlsConfig {
        ca_file: Some(ca_file.clone()),
        ..TlsConfig::default()
    };
    let anonymous = PeerHttp::new("tls-anonymous", TIMEOUT, &anonymous).unwrap();
    assert!(
        !answers(&anonymous, addr).await,
        "no client certificate, no answer"
    );
    // With both, it answers.
    let http = PeerHttp::new("tls-test", TIMEOUT, &with_cert(Some(&ca_file))).unwrap();
    assert!(answers(&http, addr).await, "mutual TLS with the private CA");
    let expiry = |peer: &str| {
        certificate_expiries()
            .into_iter()
            .find(|(p, f, _)| p == peer && *f == cert_file.display().to_string())
            .map(|(_, _, secs)| secs)
    };
    let until = |year: i32| {
        (chrono::NaiveDate::from_ymd_opt(year, 1, 1)
            .unwrap()
            .and_hms_opt(0, 0, 0)
            .unwrap()
            .and_utc()
            - chrono::Utc::now())
        .num_seconds() as f64
    };
    let seen = expiry("tls-test").expect("the client certificate's expiry is known");
    assert!(
        (seen - until(2091)).abs() < 3600.0,
        "{seen} vs {}",
        until(2091)
    );

    // A broken key on disk is refused and the client in use kept.
    write(
        &key_file,
        "-----BEGIN PRIVATE KEY-----\nbm90IGEga2V5\n-----END PRIVATE KEY-----\n",
    );
    let started = Instant::now();
    while started.elapsed() < lienthong::peer::http::TLS_RELOAD_EVERY * 2 {
        assert!(answers(&http, addr).await, "the old client is kept");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // Rotation: the peer now trusts only CA B; the new certificate on disk is picked up.
    *trusted.lock().unwrap() = clients_b.der();
    assert!(
        !answers(&http, addr).await,
        "the old certificate is no longer accepted"
    );
    let second = clients_b.issue(&["lienthong"], 2095);
    write(&cert_file, &second.cert_pem);
    write(&key_file, &second.key_pem);
    let started = Instant::now();
    while !answers(&http, addr).await {
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "the rotated certificate was never used"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let seen = expiry("tls-test").unwrap();
    assert!(
        (seen - until(2095)).abs() < 3600.0,
        "{seen} vs {}",
        until(2095)
    );
}

#[test]
fn verification_cannot_be_switched_off() {
    for key in [
        "danger_accept_invalid_certs = true",
        "accept_invalid_certs = true",
        "verify = false",
    ] {
        let text = format!(
            "[peers.dvcqg]\nbase_url = \"https://dvc.example\"\nmadonvi = \"000.00.01.H56\"\n\
             auth = {{ mode = \"session\", dstcode = \"d\", username = \"u\", password = \"p\" }}\n\
             [peers.dvcqg.tls]\n{key}\n"
        );
        let err = lienthong::config::Config::from_toml(&text).unwrap_err();
        assert!(err.to_string().contains("peers.dvcqg.tls"), "{key}: {err}");
    }
}

#[test]
fn check_names_a_certificate_without_its_key_and_an_unreadable_bundle() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("ca.pem"), "not a certificate").unwrap();
    std::fs::write(dir.path().join("client.pem"), "x").unwrap();
    let text = "[peers.dvcqg]\nbase_url = \"https://dvc.example\"\nmadonvi = \"000.00.01.H56\"\n\
                auth = { mode = \"session\", dstcode = \"d\", username = \"u\", password = \"p\" }\n\
                tls = { ca_file = \"ca.pem\", client_cert_file = \"client.pem\" }\n";
    let cfg = lienthong::config::Config::from_toml(text).unwrap();
    let problems = cfg.check(dir.path());
    assert!(
        problems
            .iter()
            .any(|p| p == "peers.dvcqg.tls.client_key_file: client_cert_file needs its key"),
        "{problems:?}"
    );
    let cfg = lienthong::config::Config::from_toml(
        &text.replace(", client_cert_file = \"client.pem\"", ""),
    )
    .unwrap();
    let problems = cfg.check(dir.path());
    assert!(
        problems
            .iter()
            .any(|p| p.starts_with("peers.dvcqg.tls: ") && p.contains("ca.pem")),
        "{problems:?}"
    );
}
