//! Shared test set-up: stores on both backends, and (later modules) a running gateway.

use std::sync::Arc;

use lienthong::store::{self, Store};

/// A store and what keeps it alive (a temp dir for SQLite).
pub struct TestStore {
    pub name: &'static str,
    pub store: Arc<dyn Store>,
    _dir: Option<tempfile::TempDir>,
}

/// A fresh SQLite store in a temp dir.
pub async fn sqlite() -> TestStore {
    let dir = tempfile::tempdir().expect("temp dir");
    let url = format!("sqlite://{}", dir.path().join("lienthong.db").display());
    let store = store::open(&url, 4).await.expect("open sqlite");
    TestStore {
        name: "sqlite",
        store,
        _dir: Some(dir),
    }
}

/// A fresh PostgreSQL database, when `LIENTHONG_TEST_DATABASE_URL` is set. Under `CI=true`
/// a missing or unreachable database fails the test instead of skipping it.
pub async fn postgres() -> Option<TestStore> {
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
    let store = store::open(url.as_str(), 8)
        .await
        .expect("open postgres");
    Some(TestStore {
        name: "postgres",
        store,
        _dir: None,
    })
}

/// Every backend available to this run.
pub async fn stores() -> Vec<TestStore> {
    let mut v = vec![sqlite().await];
    v.extend(postgres().await);
    v
}
