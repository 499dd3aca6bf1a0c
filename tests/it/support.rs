//! Shared test set-up: stores on both backends, and (later modules) a running gateway.

use std::sync::Arc;

use lienthong::store::{self, Store};

/// A store and what keeps it alive (a temp dir for SQLite).
pub struct TestStore {
    pub name: &'static str,
    pub store: Arc<dyn Store>,
    /// PostgreSQL only: the test database's name.
    pub pg_database: Option<String>,
    _dir: Option<tempfile::TempDir>,
}

impl TestStore {
    /// The URL another instance opens this PostgreSQL store with.
    pub fn url(&self) -> String {
        let name = self.pg_database.as_ref().expect("a PostgreSQL test store");
        let base = std::env::var("LIENTHONG_TEST_DATABASE_URL").expect("PostgreSQL tests only");
        let mut url = reqwest::Url::parse(&base).expect("LIENTHONG_TEST_DATABASE_URL is a URL");
        url.set_path(&format!("/{name}"));
        url.to_string()
    }
}

/// A fresh SQLite store in a temp dir.
pub async fn sqlite() -> TestStore {
    let dir = tempfile::tempdir().expect("temp dir");
    let url = format!("sqlite://{}", dir.path().join("lienthong.db").display());
    let store = store::open(&url, 4).await.expect("open sqlite");
    TestStore {
        name: "sqlite",
        store,
        pg_database: None,
        _dir: Some(dir),
    }
}

/// A fresh SQLite store at `dir/lienthong.db` (the caller keeps `dir`), and its URL, for tests
/// that also run the binary on the same store.
pub async fn sqlite_in(dir: &std::path::Path) -> (TestStore, String) {
    let url = format!("sqlite://{}", dir.join("lienthong.db").display());
    let store = store::open(&url, 4).await.expect("open sqlite");
    let ts = TestStore {
        name: "sqlite",
        store,
        pg_database: None,
        _dir: None,
    };
    (ts, url)
}

/// A fresh PostgreSQL database, when `LIENTHONG_TEST_DATABASE_URL` is set. Under `CI=true`
/// a missing or unreachable database fails the test instead of skipping it.
pub async fn postgres() -> Option<TestStore> {
    let (name, url) = empty_postgres().await?;
    let store = store::open(&url, 8).await.expect("open postgres");
    Some(TestStore {
        name: "postgres",
        store,
        pg_database: Some(name),
        _dir: None,
    })
}

/// A fresh, empty PostgreSQL database (no migrations applied): its name and URL. `None`
/// without `LIENTHONG_TEST_DATABASE_URL` (see [`postgres`]).
pub async fn empty_postgres() -> Option<(String, String)> {
    let ci = std::env::var("CI").is_ok_and(|v| v == "true");
    let Ok(base) = std::env::var("LIENTHONG_TEST_DATABASE_URL") else {
        assert!(
            !ci,
            "CI=true but LIENTHONG_TEST_DATABASE_URL is not set: PostgreSQL tests must run in CI"
        );
        return None;
    };
    let name = format!("lt_{}", uuid::Uuid::new_v4().simple());
    let admin = sqlx::PgPool::connect(&base)
        .await
        .unwrap_or_else(|e| panic!("cannot connect to LIENTHONG_TEST_DATABASE_URL: {e}"));
    sqlx::query(&format!("CREATE DATABASE {name}"))
        .execute(&admin)
        .await
        .expect("create test database");
    admin.close().await;
    let mut url = reqwest::Url::parse(&base).expect("LIENTHONG_TEST_DATABASE_URL is a URL");
    url.set_path(&format!("/{name}"));
    Some((name, url.to_string()))
}

impl TestStore {
    /// A store opened by the test itself (e.g. on a database it prepared), kept alive with
    /// what it lives in.
    pub fn adopt(
        name: &'static str,
        store: Arc<dyn Store>,
        pg_database: Option<String>,
        dir: Option<tempfile::TempDir>,
    ) -> Self {
        TestStore {
            name,
            store,
            pg_database,
            _dir: dir,
        }
    }
}

/// Every backend available to this run.
pub async fn stores() -> Vec<TestStore> {
    let mut v = vec![sqlite().await];
    v.extend(postgres().await);
    v
}

use std::path::PathBuf;
use std::time::Duration;

use lienthong::app::Gateway;
use lienthong::config::Config;
use lienthong::outbox::config::DeliveryConfig;
use lienthong::outbox::{Lane, Outcome};
use lienthong::peer::dvcqg::DvcqgPeer;
use lienthong::peer::lgsp_sync::{LgspSyncPeer, OP_SYNC_DOCUMENT};
use lienthong::sim::{SimSettings, Simulator};
use lienthong::store::StateCount;
use serde_json::Value;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

pub const TOKEN: &str = "test-source-token";

/// A running gateway (HTTP ingest on a random port) and a running portal simulator. Delivery
/// is driven by the test through [`TestApp::lane`], so nothing depends on timing.
pub struct TestApp {
    pub base: String,
    pub sim: Simulator,
    pub store: Arc<dyn Store>,
    pub client: reqwest::Client,
    pub config: Config,
    shutdown: CancellationToken,
    _store: TestStore,
}

impl Drop for TestApp {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

pub fn mappings() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("mappings")
}

/// A copy of the shipped vendor-a mappings in `dir/maps/vendor-a`, which a test then changes;
/// returns `dir/maps`.
pub fn copied_mappings(dir: &std::path::Path) -> PathBuf {
    let maps = dir.join("maps");
    std::fs::create_dir_all(maps.join("vendor-a")).unwrap();
    for f in std::fs::read_dir(mappings().join("vendor-a")).unwrap() {
        let f = f.unwrap();
        if f.file_type().unwrap().is_file() {
            std::fs::copy(f.path(), maps.join("vendor-a").join(f.file_name())).unwrap();
        }
    }
    maps
}

/// The configuration tests start from: one source `tinh` (vendor-a mappings), fast back-off.
pub fn test_config(store_url: &str, sim_base: &str) -> Config {
    Config::from_toml(&test_config_text(store_url, sim_base)).expect("test config parses")
}

/// [`test_config`] as TOML text, for tests that run the binary with a config file.
pub fn test_config_text(store_url: &str, sim_base: &str) -> String {
    let sim = SimSettings::default();
    format!(
        r#"
[store]
url = "{store_url}"
[server]
body_limit_bytes = 65536
max_records_per_request = 100
[delivery]
backoff_initial_ms = 1
backoff_cap_ms = 2
max_attempts = 50
timeout_ms = 5000
# Fault tests fail many batches in a row on purpose; the breaker tests switch it on.
breaker_failures = 0
[peers.dvcqg]
base_url = "{sim_base}"
madonvi = "000.00.01.H56"
auth = {{ mode = "session", dstcode = "{dst}", username = "{user}", password = "{pass}" }}
[[sources]]
name = "tinh"
token = "{TOKEN}"
dossier_mapping = "{maps}/vendor-a/dossier.toml"
step_mapping = "{maps}/vendor-a/step.toml"
vars = {{ DonViXuLy = "Trung tâm Phục vụ hành chính công tỉnh" }}
"#,
        maps = mappings().display(),
        dst = sim.dstcode,
        user = sim.username,
        pass = sim.password,
    )
}

pub async fn spawn_app(ts: TestStore) -> TestApp {
    spawn_app_with(ts, SimSettings::default(), |_| {}).await
}

pub async fn spawn_app_with(
    ts: TestStore,
    sim_settings: SimSettings,
    tweak: impl FnOnce(&mut Config),
) -> TestApp {
    let shutdown = CancellationToken::new();
    let sim = Simulator::new(sim_settings);
    let sim_listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let sim_base = format!("http://{}", sim_listener.local_addr().unwrap());
    tokio::spawn(lienthong::sim::serve(
        sim_listener,
        sim.clone(),
        shutdown.clone(),
    ));

    let mut config = test_config("sqlite://unused", &sim_base);
    tweak(&mut config);
    // HTTP only: the test drives delivery itself.
    let mut http_only = config.clone();
    http_only.peers.dvcqg = None;
    http_only.peers.lgsp_sync = None;
    http_only.peers.vnpost = None;
    let gateway =
        Gateway::build_with_store(&http_only, &mappings(), ts.store.clone()).expect("gateway");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(gateway.run(listener, shutdown.clone()));
    TestApp {
        base,
        sim,

        store: ts.store.clone(),
        client: reqwest::Client::new(),
        config,
        shutdown,
        _store: ts,
    }
}

impl TestApp {
    /// POSTs `body` to `/ingest/v1/tinh/{kind}` with the source's token.
    pub async fn post(&self, kind: &str, body: &Value) -> (u16, Value) {
        self.post_raw(kind, body.to_string().into_bytes(), Some(TOKEN), &[])
            .await
    }

    pub async fn post_raw(
        &self,
        kind: &str,
        body: Vec<u8>,
        token: Option<&str>,
        headers: &[(&str, &str)],
    ) -> (u16, Value) {
        let mut req = self
            .client
            .post(format!("{}/ingest/v1/tinh/{kind}", self.base))
            .body(body);
        if !headers
            .iter()
            .any(|(k, _)| k.eq_ignore_ascii_case("content-type"))
        {
            req = req.header("content-type", "application/json");
        }
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        let resp = req.send().await.expect("ingest reachable");
        let status = resp.status().as_u16();
        let text = resp.text().await.unwrap_or_default();
        (
            status,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        )
    }

    /// A delivery lane to the simulator, with the peer's delivery policy from the app's config
    /// (or `policy`).
    pub fn lane(&self, owner: &str, policy: Option<DeliveryConfig>) -> Lane {
        let policy = policy.unwrap_or_else(|| self.config.policy_for("dvcqg"));
        let peer =
            DvcqgPeer::new(self.config.peers.dvcqg.as_ref().unwrap(), policy.timeout()).unwrap();
        Lane::new(
            self.store.clone(),
            Arc::new(peer),
            vec!["DongBoHoSoMC".into(), "CapNhatTienDoHoSoMC".into()],
            policy,
            owner.into(),
            Arc::new(Notify::new()),
        )
        .expect("policy applies")
    }

    /// A delivery lane for the legacy XML route (`peers.lgsp_sync` must be configured).
    pub fn legacy_lane(&self, owner: &str) -> Lane {
        let cfg = self
            .config
            .peers
            .lgsp_sync
            .as_ref()
            .expect("peers.lgsp_sync configured");
        let policy = self.config.policy_for("lgsp_sync");
        Lane::new(
            self.store.clone(),
            Arc::new(LgspSyncPeer::new(cfg, policy.timeout()).unwrap()),
            vec![OP_SYNC_DOCUMENT.into()],
            policy,
            owner.into(),
            Arc::new(Notify::new()),
        )
        .expect("policy applies")
    }

    /// Runs `lane` until nothing of its peer is pending or in flight (bounded).
    pub async fn drain(&self, lane: &Lane) {
        for _ in 0..5_000 {
            match lane.try_execute().await.expect("store works") {
                Outcome::Sent { .. } | Outcome::Expired { .. } => continue,
                Outcome::Held { .. } => tokio::time::sleep(Duration::from_millis(2)).await,
                Outcome::Idle => {
                    if self.open(lane.peer_name()).await == 0 {
                        return;
                    }
                    tokio::time::sleep(Duration::from_millis(2)).await;
                }
            }
        }
        panic!(
            "outbox did not drain: {:?}; dead letters: {:?}",
            self.counts().await,
            self.store.dead_letters(5).await
        );
    }

    pub async fn counts(&self) -> Vec<StateCount> {
        self.store.outbox_counts().await.unwrap()
    }

    pub async fn count(&self, operation: &str, state: &str) -> i64 {
        self.counts()
            .await
            .iter()
            .filter(|c| c.operation == operation && c.state == state)
            .map(|c| c.count)
            .sum()
    }

    async fn open(&self, peer: &str) -> i64 {
        self.counts()
            .await
            .iter()
            .filter(|c| c.peer == peer && (c.state == "pending" || c.state == "inflight"))
            .map(|c| c.count)
            .sum()
    }
}

/// Valid local records from the fixture generator: `n` dossiers and their steps.
pub fn local_records(seed: u64, n: usize) -> (Vec<Value>, Vec<Value>) {
    let d = lienthong::sim::local::generate(seed, n, 0);
    (d.dossiers, d.steps)
}

/// Runs Prometheus's `promtool` with `args` (and `stdin`), giving whether it passed and what it
/// printed; `None` when `promtool` is not installed (Debian's `prometheus` package), which fails
/// the test under `CI=true` instead.
pub fn promtool(args: &[&str], stdin: Option<&str>) -> Option<(bool, String)> {
    use std::io::Write;
    use std::process::{Command, Stdio};
    let child = Command::new("promtool")
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn();
    let mut child = match child {
        Ok(c) => c,
        Err(e) => {
            assert!(
                !std::env::var("CI").is_ok_and(|v| v == "true"),
                "CI=true but promtool cannot run ({e}): install Debian's prometheus package"
            );
            eprintln!("promtool not installed: skipping its check");
            return None;
        }
    };
    if let Some(mut input) = child.stdin.take() {
        input
            .write_all(stdin.unwrap_or_default().as_bytes())
            .expect("promtool stdin");
    }
    let out = child.wait_with_output().expect("promtool runs");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    Some((out.status.success(), text))
}
