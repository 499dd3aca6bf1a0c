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

/// Seconds from now to the first of January of `year`.
fn seconds_until(year: i32) -> f64 {
    (chrono::NaiveDate::from_ymd_opt(year, 1, 1)
        .unwrap()
        .and_hms_opt(0, 0, 0)
        .unwrap()
        .and_utc()
        - chrono::Utc::now())
    .num_seconds() as f64
}

/// A real `lienthong run` with a client certificate, its key and a CA bundle made by rcgen under
/// `[peers.dvcqg.tls]`, named relative to the config file as an operator writes them: it gets
/// ready, and `/metrics` shows the certificate's expiry.
#[tokio::test]
async fn a_daemon_with_a_client_certificate_starts_and_shows_its_expiry() {
    const ADMIN: &str = "tls-admin-token";
    let dir = tempfile::tempdir().unwrap();
    let shutdown = tokio_util::sync::CancellationToken::new();
    let sim = lienthong::sim::Simulator::new(lienthong::sim::SimSettings::default());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let sim_base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(lienthong::sim::serve(listener, sim, shutdown.clone()));

    let authority = Authority::new("Test portal CA");
    let client = authority.issue(&["lienthong"], 2091);
    write(&dir.path().join("ca.pem"), &authority.pem());
    write(&dir.path().join("client.pem"), &client.cert_pem);
    write(&dir.path().join("client.key"), &client.key_pem);
    let store = format!("sqlite://{}", dir.path().join("store.db").display());
    let text = crate::support::test_config_text(&store, &sim_base)
        .replace(
            "[server]\n",
            &format!("[server]\nadmin_token = \"{ADMIN}\"\n"),
        )
        .replace(
            "[peers.dvcqg]\n",
            "[peers.dvcqg]\ntls = { ca_file = \"ca.pem\", client_cert_file = \"client.pem\", \
             client_key_file = \"client.key\" }\n",
        );
    let mut daemon = crate::daemons::Daemon::start_logged(dir.path(), "tls", &text);

    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(5))
        .build()
        .unwrap();
    let started = Instant::now();
    loop {
        if let Some(status) = daemon.exited() {
            panic!("the daemon ended ({status}):\n{}", daemon.log());
        }
        let ready = http.get(format!("{}/readyz", daemon.base)).send().await;
        if ready.is_ok_and(|r| r.status().is_success()) {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "the daemon never got ready:\n{}",
            daemon.log()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    let metrics = http
        .get(format!("{}/metrics", daemon.base))
        .bearer_auth(ADMIN)
        .send()
        .await
        .unwrap();
    assert!(metrics.status().is_success(), "{}", metrics.status());
    let metrics = metrics.text().await.unwrap();
    let file = dir.path().join("client.pem").display().to_string();
    let series =
        format!("lienthong_tls_certificate_expiry_seconds{{peer=\"dvcqg\",file=\"{file}\"}} ");
    let line = metrics
        .lines()
        .find(|l| l.starts_with(&series))
        .unwrap_or_else(|| panic!("{series} in\n{metrics}"));
    let seen: f64 = line[series.len()..].trim().parse().unwrap();
    assert!(
        (seen - seconds_until(2091)).abs() < 3600.0,
        "{seen} vs {}",
        seconds_until(2091)
    );
    // Every client of the peer reads the files named against the config file's folder: no
    // series names a file as written in the config.
    assert!(
        !metrics.contains("file=\"client.pem\""),
        "a relative path reached a client: {metrics}"
    );
    drop(daemon);
    shutdown.cancel();
}

/// `check` of `[peers.dvcqg.tls]` with `cert` and `key` (files in `dir`).
fn tls_problems(dir: &Path, cert: &str, key: &str) -> Vec<String> {
    let text = format!(
        "[peers.dvcqg]\nbase_url = \"https://dvc.example\"\nmadonvi = \"000.00.01.H56\"\n\
         auth = {{ mode = \"session\", dstcode = \"d\", username = \"u\", password = \"p\" }}\n\
         tls = {{ client_cert_file = \"{cert}\", client_key_file = \"{key}\" }}\n"
    );
    lienthong::config::Config::from_toml(&text)
        .unwrap()
        .check(dir)
        .into_iter()
        .filter(|p| p.starts_with("peers.dvcqg.tls"))
        .collect()
}

/// Keys and certificates as openssl makes them (skipped where there is no openssl): an ECDSA
/// P-256 key as SEC1 (`EC PRIVATE KEY`) or PKCS#8 works; a version 1 certificate (what
/// `openssl x509 -req` makes without extensions) and a P-521 key are named for what they are.
#[test]
fn check_takes_openssl_ec_keys_and_names_what_tls_cannot_use() {
    let dir = tempfile::tempdir().unwrap();
    let openssl = |args: &[&str]| {
        std::process::Command::new("openssl")
            .args(args)
            .current_dir(dir.path())
            .output()
            .is_ok_and(|o| o.status.success())
    };
    if !openssl(&["version"]) {
        eprintln!("openssl not found: skipped");
        return;
    }
    let subject = "/CN=lienthong";
    assert!(openssl(&[
        "ecparam",
        "-name",
        "prime256v1",
        "-genkey",
        "-noout",
        "-out",
        "sec1.key"
    ]));
    assert!(openssl(&[
        "pkcs8",
        "-topk8",
        "-nocrypt",
        "-in",
        "sec1.key",
        "-out",
        "pkcs8.key"
    ]));
    assert!(openssl(&[
        "req", "-new", "-x509", "-key", "sec1.key", "-subj", subject, "-days", "30", "-out",
        "v3.pem"
    ]));
    for key in ["sec1.key", "pkcs8.key"] {
        let problems = tls_problems(dir.path(), "v3.pem", key);
        assert!(problems.is_empty(), "{key}: {problems:?}");
    }
    // A CSR signed without extensions: version 1 with OpenSSL 3.0 and 3.1.
    assert!(openssl(&[
        "req", "-new", "-key", "sec1.key", "-subj", subject, "-out", "c.csr"
    ]));
    assert!(openssl(&[
        "x509", "-req", "-in", "c.csr", "-signkey", "sec1.key", "-days", "30", "-out", "v1.pem"
    ]));
    let pem = std::fs::read(dir.path().join("v1.pem")).unwrap();
    let (_, block) = x509_parser::pem::parse_x509_pem(&pem).unwrap();
    if block.parse_x509().unwrap().version() == x509_parser::x509::X509Version::V1 {
        let problems = tls_problems(dir.path(), "v1.pem", "sec1.key");
        assert!(
            problems
                .iter()
                .any(|p| p.contains("v1.pem") && p.contains("version 1 certificate")),
            "{problems:?}"
        );
    }
    assert!(openssl(&[
        "ecparam",
        "-name",
        "secp521r1",
        "-genkey",
        "-noout",
        "-out",
        "p521.key"
    ]));
    assert!(openssl(&[
        "req", "-new", "-x509", "-key", "p521.key", "-subj", subject, "-days", "30", "-out",
        "p521.pem"
    ]));
    let problems = tls_problems(dir.path(), "p521.pem", "p521.key");
    assert!(
        problems
            .iter()
            .any(|p| p.contains("p521.key") && p.contains("P-521")),
        "{problems:?}"
    );
}
