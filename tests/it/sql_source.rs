//! SQL polling against real local databases (a SQLite file; with `LIENTHONG_TEST_DATABASE_URL`
//! a PostgreSQL database; with `LIENTHONG_TEST_MYSQL_URL` MariaDB/MySQL, which `CI=true`
//! requires): ties across pages and restarts, late commits, updates, child rows, time zones,
//! deletes, write-back, quarantine, a database that goes away and comes back, and SIGKILL
//! between read and commit.

use std::sync::Arc;
use std::time::Duration;

use chrono::{NaiveDateTime, Utc};
use lienthong::source::routes::Routes;
use lienthong::source::sql::config::PollConfig;
use lienthong::source::sql::db::LocalDb;
use lienthong::source::sql::value::SqlValue;
use lienthong::source::sql::{Poller, SqlSource};
use lienthong::store::Store;
use serde_json::Value;
use tokio::sync::Notify;

use crate::support::{local_records, mappings, sqlite, test_config, TestStore};

/// The portal item's status field.
const STATUS: &str = "TrangThaiHoSo";

/// A local database the test fills.
struct Local {
    kind: &'static str,
    url: String,
    db: LocalDb,
    hoso: String,
    lephi: String,
    _dir: Option<tempfile::TempDir>,
}

use lienthong::sim::local::{HOSO_INT_COLUMNS as INT_COLUMNS, HOSO_TEXT_COLUMNS as TEXT_COLUMNS};

impl Local {
    fn q(&self, name: &str) -> String {
        self.db.quote(name)
    }

    fn ts_type(&self) -> &'static str {
        match self.kind {
            "sqlite" => "TEXT",
            "postgres" => "timestamp(3)",
            _ => "DATETIME(3)",
        }
    }

    /// `?` placeholders in the database's own syntax.
    fn sql(&self, sql: &str) -> String {
        if self.kind == "mysql" {
            return sql.to_string();
        }
        let mut out = String::new();
        let mut n = 0;
        for c in sql.chars() {
            if c == '?' {
                n += 1;
                out.push_str(&format!("${n}"));
            } else {
                out.push(c);
            }
        }
        out
    }

    async fn exec(&self, sql: &str, binds: &[SqlValue]) {
        self.db
            .execute(&self.sql(sql), binds)
            .await
            .unwrap_or_else(|e| panic!("{}: {sql}: {e}", self.kind));
    }

    async fn create(&self) {
        let mut cols: Vec<String> = TEXT_COLUMNS
            .iter()
            .map(|c| format!("{} VARCHAR(255)", self.q(c)))
            .collect();
        cols.extend(INT_COLUMNS.iter().map(|c| format!("{} INTEGER", self.q(c))));
        cols.push(format!(
            "{} {} NOT NULL",
            self.q("CapNhatLuc"),
            self.ts_type()
        ));
        cols.push(format!("{} INTEGER NOT NULL DEFAULT 0", self.q("DaXoa")));
        cols.push(format!("{} INTEGER NOT NULL DEFAULT 0", self.q("DaDongBo")));
        self.exec(
            &format!("CREATE TABLE {} ({})", self.hoso, cols.join(", ")),
            &[],
        )
        .await;
        self.exec(
            &format!(
                "CREATE TABLE {} ({} INTEGER NOT NULL, {} VARCHAR(64), {} VARCHAR(32), {} VARCHAR(255), \
                 {} INTEGER, {} VARCHAR(8), {} VARCHAR(8), {} {} NOT NULL)",
                self.lephi,
                self.q("Id"),
                self.q("MaHoSo"),
                self.q("MaPhi"),
                self.q("TenPhi"),
                self.q("SoTien"),
                self.q("LoaiPhi"),
                self.q("ThuKhi"),
                self.q("CapNhatLuc"),
                self.ts_type()
            ),
            &[],
        )
        .await;
    }

    /// The database's clock as local time of Asia/Ho_Chi_Minh, less `ago` seconds.
    async fn local_now(&self, ago: i64) -> NaiveDateTime {
        let zone: chrono_tz::Tz = "Asia/Ho_Chi_Minh".parse().unwrap();
        let now = self.db.now().await.expect("local database clock");
        (now - chrono::Duration::seconds(ago))
            .with_timezone(&zone)
            .naive_local()
    }

    fn stamp(&self, t: NaiveDateTime) -> SqlValue {
        if self.kind == "sqlite" {
            SqlValue::Text(t.format("%Y-%m-%d %H:%M:%S%.3f").to_string())
        } else {
            SqlValue::Local(t)
        }
    }

    async fn insert(&self, dossier: &Value, at: NaiveDateTime) {
        let mut names = Vec::new();
        let mut binds = Vec::new();
        for c in TEXT_COLUMNS.iter().chain(INT_COLUMNS.iter()) {
            names.push(self.q(c));
            binds.push(match &dossier[*c] {
                Value::String(s) => SqlValue::Text(s.clone()),
                Value::Number(n) => SqlValue::Int(n.as_i64().unwrap()),
                _ => SqlValue::Null,
            });
        }
        names.push(self.q("CapNhatLuc"));
        binds.push(self.stamp(at));
        let marks = vec!["?"; names.len()].join(", ");
        self.exec(
            &format!(
                "INSERT INTO {} ({}) VALUES ({marks})",
                self.hoso,
                names.join(", ")
            ),
            &binds,
        )
        .await;
    }

    async fn set(&self, code: &str, column: &str, value: SqlValue, at: NaiveDateTime) {
        self.exec(
            &format!(
                "UPDATE {} SET {} = ?, {} = ? WHERE {} = ?",
                self.hoso,
                self.q(column),
                self.q("CapNhatLuc"),
                self.q("MaHoSo")
            ),
            &[value, self.stamp(at), SqlValue::Text(code.to_string())],
        )
        .await;
    }

    async fn fee(&self, id: i64, code: &str, at: NaiveDateTime) {
        self.exec(
            &format!(
                "INSERT INTO {} ({}, {}, {}, {}, {}, {}, {}, {}) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                self.lephi,
                self.q("Id"),
                self.q("MaHoSo"),
                self.q("MaPhi"),
                self.q("TenPhi"),
                self.q("SoTien"),
                self.q("LoaiPhi"),
                self.q("ThuKhi"),
                self.q("CapNhatLuc")
            ),
            &[
                SqlValue::Int(id),
                SqlValue::Text(code.to_string()),
                SqlValue::Text(format!("PHI-{id}")),
                SqlValue::Text("Lệ phí cấp giấy phép".into()),
                SqlValue::Int(50_000),
                SqlValue::Text("2".into()),
                SqlValue::Text("1".into()),
                self.stamp(at),
            ],
        )
        .await;
    }

    async fn synced(&self) -> i64 {
        let rows = self
            .db
            .rows(
                &format!(
                    "SELECT COUNT(*) AS n FROM {} WHERE {} = 1",
                    self.hoso,
                    self.q("DaDongBo")
                ),
                &[],
            )
            .await
            .unwrap();
        match rows[0].value(0).expect("a count") {
            SqlValue::Int(n) => *n,
            other => panic!("count is {other:?}"),
        }
    }

    /// The `[sources.poll]` block reading this database.
    fn poll(&self, watermark: &str, extra: &str) -> PollConfig {
        let p = if self.kind == "mysql" { "?" } else { "$1" };
        let text = format!(
            r#"
url = "{url}"
page_size = 4
lag_seconds = 2
overlap_seconds = 300
timezone = "Asia/Ho_Chi_Minh"
{extra}
[dossiers]
query = "SELECT * FROM {hoso}"
watermark = {watermark}
key = ["MaHoSo"]
write_back = "UPDATE {hoso} SET {synced} = 1 WHERE {code} = {p}"
ignore = ["DaDongBo"]
deleted = {{ column = "DaXoa", equals = "1", set = {{ TinhTrang = "RUT" }} }}
[[dossiers.children]]
field = "LePhi"
query = "SELECT * FROM {lephi}"
parent_key = "MaHoSo"
watermark = ["CapNhatLuc", "Id"]
"#,
            url = self.url,
            hoso = self.hoso.replace('"', "\\\""),
            lephi = self.lephi.replace('"', "\\\""),
            synced = self.q("DaDongBo").replace('"', "\\\""),
            code = self.q("MaHoSo").replace('"', "\\\""),
        );
        toml::from_str(&text).unwrap_or_else(|e| panic!("{e}\n{text}"))
    }
}

fn mysql_url() -> Option<String> {
    let ci = std::env::var("CI").is_ok_and(|v| v == "true");
    match std::env::var("LIENTHONG_TEST_MYSQL_URL") {
        Ok(u) => Some(u),
        Err(_) => {
            assert!(
                !ci,
                "CI=true but LIENTHONG_TEST_MYSQL_URL is not set: MariaDB tests must run in CI"
            );
            None
        }
    }
}

/// Every local database available to this run, each with fresh tables.
async fn locals() -> Vec<Local> {
    let suffix = uuid::Uuid::new_v4().simple().to_string()[..10].to_string();
    let mut out = Vec::new();
    let dir = tempfile::tempdir().unwrap();
    let url = format!(
        "sqlite://{}?mode=rwc",
        dir.path().join("local.db").display()
    );
    let db = LocalDb::connect_lazy(&url, 2).unwrap();
    out.push(Local {
        kind: "sqlite",
        url,
        db,
        hoso: "\"HoSo\"".into(),
        lephi: "\"LePhi\"".into(),
        _dir: Some(dir),
    });
    if let Some((_, url)) = crate::support::empty_postgres().await {
        let db = LocalDb::connect_lazy(&url, 2).unwrap();
        out.push(Local {
            kind: "postgres",
            url,
            db,
            hoso: "\"HoSo\"".into(),
            lephi: "\"LePhi\"".into(),
            _dir: None,
        });
    }
    if let Some(url) = mysql_url() {
        let db = LocalDb::connect_lazy(&url, 2).unwrap();
        db.now()
            .await
            .unwrap_or_else(|e| panic!("cannot reach LIENTHONG_TEST_MYSQL_URL: {e}"));
        out.push(Local {
            kind: "mysql",
            url,
            db,
            hoso: format!("`HoSo_{suffix}`"),
            lephi: format!("`LePhi_{suffix}`"),
            _dir: None,
        });
    }
    for l in &out {
        l.create().await;
    }
    out
}

struct Polling {
    store: Arc<dyn Store>,
    poller: Poller,
    source: SqlSource,
    _ts: TestStore,
}

async fn polling(local: &Local, watermark: &str) -> Polling {
    polling_with(local, watermark, "").await
}

async fn polling_with(local: &Local, watermark: &str, extra: &str) -> Polling {
    // The gateway's own store: PostgreSQL when the local database is (so both stores are
    // exercised), else SQLite.
    let ts = match local.kind {
        "postgres" => crate::support::postgres().await.expect("PostgreSQL store"),
        _ => sqlite().await,
    };
    let cfg = test_config("sqlite://unused", "http://127.0.0.1:9");
    let routes = Arc::new(Routes::from_config(&cfg.sources, &mappings()).unwrap());
    let poller = Poller::new(
        ts.store.clone(),
        routes,
        "test".into(),
        Arc::new(Notify::new()),
    );
    let source = SqlSource::new("tinh", &local.poll(watermark, extra)).unwrap();
    Polling {
        store: ts.store.clone(),
        poller,
        source,
        _ts: ts,
    }
}

/// Header messages queued for each of `codes`.
async fn stored(store: &Arc<dyn Store>, codes: &[String]) -> Vec<usize> {
    let messages = store.dossier_messages("dvcqg", codes).await.unwrap();
    codes
        .iter()
        .map(|c| messages.iter().filter(|m| &m.dossier == c).count())
        .collect()
}

fn code(d: &Value) -> String {
    d["MaHoSo"].as_str().unwrap().to_string()
}

#[tokio::test]
async fn rows_tied_on_the_watermark_are_all_read_across_pages_and_a_restart() {
    for local in locals().await {
        let (dossiers, _) = local_records(41, 18);
        let t = local.local_now(60).await;
        // Ten rows share one stamp (pages hold four), five more share the next.
        for d in &dossiers[..10] {
            local.insert(d, t).await;
        }
        let p = polling(&local, r#"["CapNhatLuc"]"#).await;
        let pass = p.poller.pass(&p.source).await.unwrap();
        assert_eq!(pass.rows, 10, "{}: {pass:?}", local.kind);
        // More rows committed later with the same stamp, and a restart (a new poller on the
        // same store): the tie group's new rows are read, the stored ones skipped.
        for d in &dossiers[10..15] {
            local.insert(d, t).await;
        }
        for d in &dossiers[15..] {
            local.insert(d, t + chrono::Duration::seconds(1)).await;
        }
        let again = polling_on(&local, r#"["CapNhatLuc"]"#, p.store.clone()).await;
        let pass = again.0.pass(&again.1).await.unwrap();
        assert_eq!(pass.rows, 8, "{}: {pass:?}", local.kind);
        assert!(pass.unchanged >= 10, "{}: {pass:?}", local.kind);
        let codes: Vec<String> = dossiers.iter().map(code).collect();
        assert_eq!(
            stored(&p.store, &codes).await,
            vec![1; 18],
            "{}: every row once",
            local.kind
        );
        // Written back only after commit, each row once.
        assert_eq!(local.synced().await, 18, "{}", local.kind);
        // Nothing new: nothing read.
        let pass = again.0.pass(&again.1).await.unwrap();
        assert_eq!(pass.rows, 0, "{}: {pass:?}", local.kind);
    }
}

/// A second poller (a restart) on `store`.
async fn polling_on(local: &Local, watermark: &str, store: Arc<dyn Store>) -> (Poller, SqlSource) {
    let cfg = test_config("sqlite://unused", "http://127.0.0.1:9");
    let routes = Arc::new(Routes::from_config(&cfg.sources, &mappings()).unwrap());
    let poller = Poller::new(store, routes, "restarted".into(), Arc::new(Notify::new()));
    (
        poller,
        SqlSource::new("tinh", &local.poll(watermark, "")).unwrap(),
    )
}

#[tokio::test]
async fn late_commits_updates_children_and_deletes_are_read() {
    for local in locals().await {
        let (dossiers, _) = local_records(42, 4);
        let codes: Vec<String> = dossiers.iter().map(code).collect();
        let wm = r#"["CapNhatLuc", "MaHoSo"]"#;
        local.insert(&dossiers[0], local.local_now(10).await).await;
        let p = polling(&local, wm).await;
        assert_eq!(p.poller.pass(&p.source).await.unwrap().rows, 1);

        // A row committed late, stamped a minute before the watermark.
        local.insert(&dossiers[1], local.local_now(70).await).await;
        // A row stamped within the lag is left for the next read.
        local.insert(&dossiers[2], local.local_now(0).await).await;
        let pass = p.poller.pass(&p.source).await.unwrap();
        assert_eq!(pass.rows, 1, "{}: the late row only: {pass:?}", local.kind);
        assert_eq!(
            stored(&p.store, &codes).await,
            vec![1, 1, 0, 0],
            "{}",
            local.kind
        );
        tokio::time::sleep(Duration::from_millis(2_100)).await;
        let pass = p.poller.pass(&p.source).await.unwrap();
        assert_eq!(pass.rows, 1, "{}: past the lag: {pass:?}", local.kind);

        // Updated after being read: read again.
        local
            .set(
                &codes[0],
                "TinhTrang",
                SqlValue::Text("DANG_XU_LY".into()),
                local.local_now(5).await,
            )
            .await;
        // A changed child row makes its dossier changed, read with its children.
        local.fee(1, &codes[1], local.local_now(5).await).await;
        // A soft-deleted row goes as a withdrawal.
        local
            .set(
                &codes[2],
                "DaXoa",
                SqlValue::Int(1),
                local.local_now(5).await,
            )
            .await;
        tokio::time::sleep(Duration::from_millis(100)).await;
        let _ = p.poller.pass(&p.source).await.unwrap();
        assert_eq!(
            stored(&p.store, &codes).await,
            vec![2, 2, 2, 0],
            "{}",
            local.kind
        );
        let messages = p.store.dossier_messages("dvcqg", &codes).await.unwrap();
        let last_of = |c: &str| {
            messages
                .iter()
                .filter(|m| m.dossier == c)
                .max_by_key(|m| m.position)
                .unwrap()
                .clone()
        };
        let fee = last_of(&codes[1]);
        assert!(fee.item.contains("PHI-1"), "{}: {}", local.kind, fee.item);
        let withdrawn: Value = serde_json::from_str(&last_of(&codes[2]).item).unwrap();
        assert_eq!(withdrawn[STATUS], "7", "{}: {withdrawn}", local.kind);
        // Read again unchanged (the overlap window): nothing stored twice.
        let pass = p.poller.pass(&p.source).await.unwrap();
        assert_eq!(pass.rows, 0, "{}: {pass:?}", local.kind);
        assert!(pass.unchanged > 0, "{}: {pass:?}", local.kind);
    }
}

#[tokio::test]
async fn naive_timestamps_are_read_in_the_configured_zone() {
    for local in locals().await {
        let (dossiers, _) = local_records(43, 1);
        // Stamped with Vietnam's local time three seconds ago (UTC+7).
        local.insert(&dossiers[0], local.local_now(3).await).await;
        // Read as UTC, the row seems seven hours ahead: still within the lag.
        let utc = polling_with(&local, r#"["CapNhatLuc", "MaHoSo"]"#, "").await;
        let mut cfg = local.poll(r#"["CapNhatLuc", "MaHoSo"]"#, "");
        cfg.timezone = "UTC".into();
        let as_utc = SqlSource::new("tinh", &cfg).unwrap();
        assert_eq!(
            utc.poller.pass(&as_utc).await.unwrap().rows,
            0,
            "{}",
            local.kind
        );
        // Read in the configured zone, it is read.
        assert_eq!(
            utc.poller.pass(&utc.source).await.unwrap().rows,
            1,
            "{}",
            local.kind
        );
        let _ = Utc::now();
    }
}

#[tokio::test]
async fn a_row_the_mapping_refuses_is_quarantined_and_the_rest_go_on() {
    for local in locals().await {
        let (mut dossiers, _) = local_records(44, 3);
        dossiers[1]["TinhTrang"] = Value::String("KHONG_RO".into());
        let t = local.local_now(30).await;
        for (i, d) in dossiers.iter().enumerate() {
            local
                .insert(d, t + chrono::Duration::milliseconds(i as i64))
                .await;
        }
        let p = polling(&local, r#"["CapNhatLuc", "MaHoSo"]"#).await;
        let pass = p.poller.pass(&p.source).await.unwrap();
        assert_eq!((pass.rows, pass.rejected), (3, 1), "{}", local.kind);
        let q = p.store.quarantine_page(None, None, 10).await.unwrap();
        assert_eq!(q.len(), 1, "{}", local.kind);
        assert_eq!(q[0].origin.as_deref(), Some("sql dossiers"));
        assert!(q[0].error.contains("KHONG_RO"), "{}", q[0].error);
        let codes: Vec<String> = dossiers.iter().map(code).collect();
        assert_eq!(
            stored(&p.store, &codes).await,
            vec![1, 0, 1],
            "{}",
            local.kind
        );
        // Not written back: the local system still sees it unsynced.
        assert_eq!(local.synced().await, 2, "{}", local.kind);
        // Re-read unchanged: not quarantined twice.
        let _ = p.poller.pass(&p.source).await.unwrap();
        assert_eq!(
            p.store.quarantine_page(None, None, 10).await.unwrap().len(),
            1
        );
    }
}

/// Waits (bounded) until `check` holds.
async fn until<F, Fut>(what: &str, limit: Duration, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let start = std::time::Instant::now();
    while !check().await {
        assert!(start.elapsed() < limit, "{what}: not within {limit:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn a_source_database_that_goes_away_and_comes_back_is_read_again() {
    let mut bases: Vec<(&'static str, String, String)> = Vec::new();
    if let Ok(base) = std::env::var("LIENTHONG_TEST_DATABASE_URL") {
        let name = format!(
            "lt_src_{}",
            &uuid::Uuid::new_v4().simple().to_string()[..10]
        );
        let mut url = reqwest::Url::parse(&base).unwrap();
        url.set_path(&format!("/{name}"));
        bases.push(("postgres", base, url.to_string()));
    }
    if let Some(base) = mysql_url() {
        let name = format!(
            "lt_src_{}",
            &uuid::Uuid::new_v4().simple().to_string()[..10]
        );
        let mut url = reqwest::Url::parse(&base).unwrap();
        url.set_path(&format!("/{name}"));
        bases.push(("mysql", base, url.to_string()));
    }
    assert!(
        !(bases.is_empty() && std::env::var("CI").is_ok_and(|v| v == "true")),
        "CI=true needs a server database for this test"
    );
    for (kind, admin_url, url) in bases {
        let name = url.rsplit('/').next().unwrap().to_string();
        let admin = LocalDb::connect_lazy(&admin_url, 1).unwrap();
        let (create, drop) = if kind == "postgres" {
            (
                format!("CREATE DATABASE {name}"),
                format!("DROP DATABASE {name} WITH (FORCE)"),
            )
        } else {
            (
                format!("CREATE DATABASE {name}"),
                format!("DROP DATABASE {name}"),
            )
        };
        admin.execute(&create, &[]).await.unwrap();
        let local = Local {
            kind,
            url: url.clone(),
            db: LocalDb::connect_lazy(&url, 2).unwrap(),
            hoso: if kind == "mysql" {
                "`HoSo`".into()
            } else {
                "\"HoSo\"".into()
            },
            lephi: if kind == "mysql" {
                "`LePhi`".into()
            } else {
                "\"LePhi\"".into()
            },
            _dir: None,
        };
        local.create().await;
        let (dossiers, _) = local_records(45, 2);
        let codes: Vec<String> = dossiers.iter().map(code).collect();
        local.insert(&dossiers[0], local.local_now(30).await).await;

        let ts = sqlite().await;
        let store = ts.store.clone();
        let cfg = test_config("sqlite://unused", "http://127.0.0.1:9");
        let routes = Arc::new(Routes::from_config(&cfg.sources, &mappings()).unwrap());
        let poller = Arc::new(Poller::new(
            store.clone(),
            routes,
            "t".into(),
            Arc::new(Notify::new()),
        ));
        let mut poll = local.poll(
            r#"["CapNhatLuc", "MaHoSo"]"#,
            "interval_seconds = 1\nretry_max_seconds = 1",
        );
        poll.lag_seconds = 0;
        let source = Arc::new(SqlSource::new("tinh", &poll).unwrap());
        let stop = tokio_util::sync::CancellationToken::new();
        let task = tokio::spawn(poller.clone().run(source, stop.clone()));

        until(
            &format!("{kind}: first row"),
            Duration::from_secs(30),
            || async { stored(&store, &codes).await == vec![1, 0] },
        )
        .await;
        // The database goes away: the source shows it, with its reason, and is retried ("down"
        // when it cannot be opened; "failing" when the server answers but the tables are gone,
        // as on MariaDB, whose open sessions outlive a dropped database).
        admin.execute(&drop, &[]).await.unwrap();
        until(
            &format!("{kind}: shown down"),
            Duration::from_secs(30),
            || async {
                store.source_statuses().await.unwrap().iter().any(|s| {
                    s.source == "tinh"
                        && (s.state == "down" || s.state == "failing")
                        && s.failures >= 2
                        && s.last_error.is_some()
                        && s.next_try_at.is_some()
                })
            },
        )
        .await;
        // It comes back (restored empty, then its rows again): read again, shown ok.
        admin.execute(&create, &[]).await.unwrap();
        let back = Local {
            db: LocalDb::connect_lazy(&url, 1).unwrap(),
            url: url.clone(),
            ..local
        };
        back.create().await;
        back.insert(&dossiers[1], back.local_now(1).await).await;
        until(
            &format!("{kind}: read after coming back"),
            Duration::from_secs(30),
            || async { stored(&store, &codes).await == vec![1, 1] },
        )
        .await;
        until(
            &format!("{kind}: shown ok"),
            Duration::from_secs(30),
            || async {
                store
                    .source_statuses()
                    .await
                    .unwrap()
                    .iter()
                    .any(|s| s.source == "tinh" && s.state == "ok" && s.failures == 0)
            },
        )
        .await;
        stop.cancel();
        task.await.unwrap();
        let _ = admin.execute(&drop, &[]).await;
    }
}

#[tokio::test]
async fn sigkill_between_read_and_commit_neither_skips_nor_doubles() {
    use rand::{Rng as _, SeedableRng as _};
    let dir = tempfile::tempdir().unwrap();
    let store_url = format!("sqlite://{}", dir.path().join("gateway.db").display());
    let local_url = format!(
        "sqlite://{}?mode=rwc",
        dir.path().join("local.db").display()
    );
    let local = Local {
        kind: "sqlite",
        url: local_url.clone(),
        db: LocalDb::connect_lazy(&local_url, 2).unwrap(),
        hoso: "\"HoSo\"".into(),
        lephi: "\"LePhi\"".into(),
        _dir: None,
    };
    local.create().await;
    let (dossiers, _) = local_records(46, 240);
    let codes: Vec<String> = dossiers.iter().map(code).collect();
    let text = crate::support::test_config_text(&store_url, "http://127.0.0.1:9")
        + &format!(
            r#"
[sources.poll]
url = "{local_url}"
interval_seconds = 1
page_size = 7
lag_seconds = 0
overlap_seconds = 60
[sources.poll.dossiers]
query = 'SELECT * FROM "HoSo"'
watermark = ["CapNhatLuc", "MaHoSo"]
key = ["MaHoSo"]
"#
        );
    let mut daemon = crate::daemons::Daemon::start_text(dir.path(), "poller", &text);
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(2026);
    let base = local.local_now(600).await;
    for (i, chunk) in dossiers.chunks(24).enumerate() {
        for (j, d) in chunk.iter().enumerate() {
            let at = base + chrono::Duration::milliseconds((i * 24 + j) as i64 * 50);
            local.insert(d, at).await;
        }
        tokio::time::sleep(Duration::from_millis(rng.gen_range(200..1200))).await;
        daemon.restart(); // SIGKILL, wherever the poller was
    }
    let store = lienthong::store::open(&store_url, 2).await.unwrap();
    until("every row stored", Duration::from_secs(90), || async {
        stored(&store, &codes).await.iter().all(|n| *n >= 1)
    })
    .await;
    daemon.kill();
    assert_eq!(
        stored(&store, &codes).await,
        vec![1; codes.len()],
        "each row once, none skipped"
    );
}

#[tokio::test]
async fn a_first_pass_reads_each_dossier_with_its_children_once() {
    for local in locals().await {
        let (dossiers, _) = local_records(47, 6);
        // Two minutes apart, the last ten minutes ago (the overlap window is five minutes).
        let t = local.local_now(1_200).await;
        for (i, d) in dossiers.iter().enumerate() {
            let at = t + chrono::Duration::seconds(i as i64 * 120);
            local.insert(d, at).await;
            local.fee(i as i64, &code(d), at).await;
        }
        let p = polling(&local, r#"["CapNhatLuc", "MaHoSo"]"#).await;
        let first = p.poller.pass(&p.source).await.unwrap();
        // The fee stream starts at the fee table's last change: only the dossiers of the fees
        // within the overlap up to it (three) are looked at again, plus the row a second page
        // starts at (4); reading every fee again would look at all six (7).
        assert_eq!(first.rows, 6, "{}: {first:?}", local.kind);
        assert!(first.unchanged <= 4, "{}: {first:?}", local.kind);
        let codes: Vec<String> = dossiers.iter().map(code).collect();
        assert_eq!(stored(&p.store, &codes).await, vec![1; 6], "{}", local.kind);
        // A fee changed after the first pass still re-reads its dossier.
        local.fee(99, &codes[2], local.local_now(5).await).await;
        let next = p.poller.pass(&p.source).await.unwrap();
        assert_eq!(next.rows, 1, "{}: {next:?}", local.kind);
        assert_eq!(
            stored(&p.store, &codes).await,
            vec![1, 1, 2, 1, 1, 1],
            "{}",
            local.kind
        );
    }
}

#[tokio::test]
async fn hashes_of_rows_still_re_read_outlive_housekeeping_and_the_others_are_forgotten() {
    use lienthong::store::SEEN_REFRESH;
    let local = locals().await.remove(0);
    assert_eq!(local.kind, "sqlite");
    let dir = tempfile::tempdir().unwrap();
    let (ts, url) = crate::support::sqlite_in(dir.path()).await;
    let cfg = test_config("sqlite://unused", "http://127.0.0.1:9");
    let routes = Arc::new(Routes::from_config(&cfg.sources, &mappings()).unwrap());
    let poller = Poller::new(
        ts.store.clone(),
        routes,
        "t".into(),
        Arc::new(Notify::new()),
    );
    // The re-read window is the last 300 s before the watermark: one row far behind it, one
    // inside it.
    let source = SqlSource::new("tinh", &local.poll(r#"["CapNhatLuc", "MaHoSo"]"#, "")).unwrap();
    let (dossiers, _) = local_records(44, 2);
    let codes: Vec<String> = dossiers.iter().map(code).collect();
    local
        .insert(&dossiers[0], local.local_now(3_600).await)
        .await;
    local.insert(&dossiers[1], local.local_now(10).await).await;
    assert_eq!(poller.pass(&source).await.unwrap().rows, 2);

    // Both hashes were stored long ago.
    let db = sqlx::SqlitePool::connect(&url).await.unwrap();
    let long_ago = lienthong::store::now_ms() - SEEN_REFRESH.as_millis() as i64 - 86_400_000;
    sqlx::query("UPDATE source_seen SET seen_at = ?")
        .bind(long_ago)
        .execute(&db)
        .await
        .unwrap();
    // The next pass re-reads the row inside the window unchanged: nothing is stored again, but
    // its hash's time is refreshed.
    let pass = poller.pass(&source).await.unwrap();
    assert_eq!((pass.rows, pass.unchanged), (0, 1), "{pass:?}");
    let seen = || async {
        sqlx::query_as::<_, (String, i64)>(
            "SELECT row_key, seen_at FROM source_seen WHERE stream = 'dossiers' ORDER BY seen_at",
        )
        .fetch_all(&db)
        .await
        .unwrap()
    };
    let rows = seen().await;
    assert_eq!(rows.len(), 2);
    assert_eq!(
        rows[0].1, long_ago,
        "the row behind the window is not touched"
    );
    assert!(
        rows[1].1 > long_ago + 86_400_000,
        "the re-read row is refreshed: {rows:?}"
    );
    assert!(rows[1].0.contains(&codes[1]), "{rows:?}");

    // Housekeeping forgets the row no longer re-read, keeps the other: the next pass still
    // skips it, and nothing is queued twice.
    let cut = long_ago + 1;
    assert_eq!(ts.store.prune_seen(cut).await.unwrap(), 1);
    let rows = seen().await;
    assert_eq!(rows.len(), 1);
    assert!(rows[0].0.contains(&codes[1]), "{rows:?}");
    let pass = poller.pass(&source).await.unwrap();
    assert_eq!((pass.rows, pass.unchanged), (0, 1), "{pass:?}");
    assert_eq!(stored(&ts.store, &codes).await, vec![1, 1]);
}
