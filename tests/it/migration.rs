//! A store made by the schema of migrations 0001–0005, holding what the code of that time left
//! in it (a batch in flight whose instance died, pending messages, a dead one), is migrated by
//! `store::open` and delivered by today's lane: nothing lost, order per dossier kept, the batch
//! in flight re-sent under its own id, the dead message replayable. Both backends.

use std::path::Path;

use lienthong::mapping::Mapping;
use lienthong::outbox::Outcome;
use lienthong::peer::dvcqg::DvcqgPeer;
use lienthong::peer::Peer;
use lienthong::sim::EventKind;
use lienthong::store;
use serde_json::Value;
use uuid::Uuid;

use crate::support::{self, local_records, mappings, spawn_app, TestStore};

const HEADER_OP: &str = "DongBoHoSoMC";
const STEP_OP: &str = "CapNhatTienDoHoSoMC";

/// A database at the old schema, written to with plain SQL.
enum OldDb {
    Sqlite(sqlx::SqlitePool),
    Postgres(sqlx::PgPool),
}

impl OldDb {
    async fn exec(&self, sql: &str) {
        match self {
            OldDb::Sqlite(p) => sqlx::raw_sql(sql).execute(p).await.map(|_| ()),
            OldDb::Postgres(p) => sqlx::raw_sql(sql).execute(p).await.map(|_| ()),
        }
        .unwrap_or_else(|e| panic!("old-schema statement failed: {e}\n{sql}"));
    }

    /// How the old code drew the next queue position.
    fn next_position(&self) -> &'static str {
        match self {
            OldDb::Sqlite(_) => "(SELECT COALESCE(MAX(position), 0) + 1 FROM outbox)",
            OldDb::Postgres(_) => "nextval('outbox_position_seq')",
        }
    }

    async fn close(self) {
        match self {
            OldDb::Sqlite(p) => p.close().await,
            OldDb::Postgres(p) => p.close().await,
        }
    }
}

/// Applies the migrations numbered up to 5 of `backend` (copied to a temp dir, so the store's
/// own migrator later sees the same checksums and applies only what is newer).
async fn migrate_to_0005(db: &OldDb, backend: &str) {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("src/store/migrations/{backend}"));
    let dir = tempfile::tempdir().expect("temp dir");
    for entry in std::fs::read_dir(&src).expect("migrations dir") {
        let path = entry.expect("entry").path();
        let name = path.file_name().unwrap().to_string_lossy().to_string();
        let version: u32 = name[..4].parse().expect("numbered migration");
        if version <= 5 {
            std::fs::copy(&path, dir.path().join(&name)).expect("copy migration");
        }
    }
    let migrator = sqlx::migrate::Migrator::new(dir.path())
        .await
        .expect("old migrations");
    match db {
        OldDb::Sqlite(p) => migrator.run(p).await,
        OldDb::Postgres(p) => migrator.run(p).await,
    }
    .expect("migrations 0001-0005 apply");
}

fn q(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

/// Three dossiers and their steps as the old ingest left them, with their items rendered by
/// today's mappings: (dossier code, header item, step items in order).
fn dossiers() -> Vec<(String, Value, Vec<Value>)> {
    let cfg = support::test_config("sqlite://unused", "http://unused");
    let vars = &cfg.sources[0].vars;
    let dm = Mapping::load(&mappings().join("vendor-a/dossier.toml")).expect("dossier mapping");
    let sm = Mapping::load(&mappings().join("vendor-a/step.toml")).expect("step mapping");
    let (ds, ss) = local_records(8, 3);
    let mut out = Vec::new();
    for d in &ds {
        let m = dm.map(d, vars).expect("valid dossier");
        let mut steps: Vec<lienthong::mapping::Mapped> = ss
            .iter()
            .filter_map(|s| sm.map(s, vars).ok())
            .filter(|s| s.dossier == m.dossier)
            .collect();
        steps.sort_by_key(|s| (s.at, s.source_seq));
        out.push((
            m.dossier.clone(),
            Value::Object(m.item),
            steps
                .into_iter()
                .map(|s| Value::Object(s.item))
                .collect::<Vec<_>>(),
        ));
    }
    assert!(
        out.iter().all(|(_, _, s)| !s.is_empty()),
        "every dossier has steps"
    );
    out
}

/// Writes the dossiers the way the code of migration 0005 did. Returns the id of the batch in
/// flight (dossier 0's header, its instance killed) and of the dead message (dossier 2's header).
async fn write_old_rows(
    db: &OldDb,
    data: &[(String, Value, Vec<Value>)],
    now: i64,
) -> (Uuid, Uuid) {
    let cfg = support::test_config("sqlite://unused", "http://unused");
    let peer = DvcqgPeer::new(
        cfg.peers.dvcqg.as_ref().unwrap(),
        std::time::Duration::from_secs(5),
    )
    .unwrap();
    let inflight_batch = Uuid::new_v4();
    let dead_batch = Uuid::new_v4();
    let mut dead_id = Uuid::nil();
    for (i, (code, header, steps)) in data.iter().enumerate() {
        let record = Uuid::new_v4().to_string();
        db.exec(&format!(
            "INSERT INTO records (id, source, kind, dossier, body, mapping_version, received_at) \
             VALUES ({}, 'tinh', 'dossier', {}, '{{}}', 'v-old', {now}); \
             INSERT INTO dossiers (dossier, source, first_record, created_at) VALUES ({}, 'tinh', {}, {now});",
            q(&record),
            q(code),
            q(code),
            q(&record)
        ))
        .await;
        let header_id = Uuid::new_v4();
        let (state, batch, attempts, error) = match i {
            0 => ("inflight", Some(inflight_batch), 1, None),
            2 => ("dead", Some(dead_batch), 3, Some("HTTP 500 three times")),
            _ => ("pending", None, 0, None),
        };
        if i == 2 {
            dead_id = header_id;
        }
        if let Some(b) = batch {
            let body = peer.build_body(HEADER_OP, false, std::slice::from_ref(header));
            let (bstate, lease, owner, closed) = if i == 0 {
                // Its instance died mid-send: the lease ran out long ago.
                (
                    "open",
                    (now - 60_000).to_string(),
                    "'killed'",
                    "NULL".to_string(),
                )
            } else {
                (
                    "done",
                    "NULL".to_string(),
                    "'old'",
                    (now - 1_000).to_string(),
                )
            };
            db.exec(&format!(
                "INSERT INTO batches (id, peer, operation, is_update, body, items, state, attempts, \
                 next_attempt_at, lease_until, owner, last_error, created_at, closed_at) \
                 VALUES ({}, 'dvcqg', {}, 0, {}, 1, {}, {attempts}, {}, {lease}, {owner}, NULL, {}, {closed})",
                q(&b.to_string()),
                q(HEADER_OP),
                q(&body.to_string()),
                q(bstate),
                now - 120_000,
                now - 120_000,
            ))
            .await;
        }
        let mut rows = vec![(header_id, HEADER_OP, header, state, batch, attempts, error)];
        for s in steps {
            rows.push((Uuid::new_v4(), STEP_OP, s, "pending", None, 0, None));
        }
        for (id, op, item, state, batch, attempts, error) in rows {
            let batch_sql = batch.map_or("NULL".to_string(), |b| q(&b.to_string()));
            db.exec(&format!(
                "INSERT INTO outbox (id, peer, operation, dossier, position, at, source_seq, is_update, \
                 item, record_id, mapping_version, warnings, state, attempts, next_attempt_at, \
                 batch_id, last_error, created_at, updated_at, batch_history) VALUES \
                 ({}, 'dvcqg', {}, {}, {}, NULL, NULL, 0, {}, {}, 'v-old', '[]', {}, {attempts}, {}, \
                 {batch_sql}, {}, {}, {}, {batch_sql})",
                q(&id.to_string()),
                q(op),
                q(code),
                db.next_position(),
                q(&item.to_string()),
                q(&record),
                q(state),
                now - 120_000,
                error.map_or("NULL".to_string(), q),
                now - 120_000,
                now - 120_000,
            ))
            .await;
        }
    }
    (inflight_batch, dead_id)
}

async fn migrated_store_delivers(
    db: OldDb,
    ts_of: impl FnOnce(std::sync::Arc<dyn store::Store>) -> TestStore,
    url: &str,
    backend: &str,
) {
    migrate_to_0005(&db, backend).await;
    let data = dossiers();
    let now = store::now_ms();
    let (inflight_batch, dead_id) = write_old_rows(&db, &data, now).await;
    let messages: i64 = data.iter().map(|(_, _, s)| 1 + s.len() as i64).sum();
    db.close().await;

    let migrated = store::open(url, 4).await.expect("store opens and migrates");
    let app = spawn_app(ts_of(migrated)).await;
    let counts = app.counts().await;
    assert_eq!(
        counts.iter().map(|c| c.count).sum::<i64>(),
        messages,
        "{backend}: every row kept: {counts:?}"
    );

    let lane = app.lane("survivor", None);
    // Everything but the dead header's dossier goes (no faults: nothing waits for a retry).
    for _ in 0..1_000 {
        match lane.try_execute().await.expect("store works") {
            Outcome::Idle => break,
            Outcome::Held { .. } => tokio::time::sleep(std::time::Duration::from_millis(2)).await,
            _ => {}
        }
    }
    // The dead header still holds back its dossier's steps; replayed, it goes under its old id.
    assert_eq!(
        app.count(STEP_OP, "pending").await,
        data[2].2.len() as i64,
        "{backend}"
    );
    let replayed = app
        .store
        .replay_messages(&[dead_id], store::now_ms())
        .await
        .unwrap();
    assert_eq!(replayed.replayed, 1, "{backend}");
    app.drain(&lane).await;
    assert!(matches!(lane.try_execute().await.unwrap(), Outcome::Idle));

    assert_eq!(app.count(HEADER_OP, "delivered").await, 3, "{backend}");
    assert_eq!(
        app.count(STEP_OP, "delivered").await,
        messages - 3,
        "{backend}"
    );
    for (i, (code, _, steps)) in data.iter().enumerate() {
        let events = app.sim.events(code);
        let kinds: Vec<EventKind> = events.iter().map(|e| e.kind).collect();
        let mut want = vec![EventKind::Create];
        want.extend(steps.iter().map(|_| EventKind::Step));
        assert_eq!(kinds, want, "{backend}: dossier {i} in order");
        if i == 0 {
            // Taken over from the killed instance: the same request, same id.
            assert_eq!(
                events[0].request_id.as_deref(),
                Some(inflight_batch.to_string().as_str()),
                "{backend}"
            );
        }
    }
    let stats = app.sim.stats();
    assert_eq!(stats.out_of_order_steps, 0, "{backend}");
    assert_eq!(
        stats.violations,
        Default::default(),
        "{backend}: request-id rules kept"
    );
}

#[tokio::test]
async fn a_store_of_the_0005_schema_is_migrated_and_delivered_sqlite() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("lienthong.db");
    let url = format!("sqlite://{}", path.display());
    let pool = sqlx::SqlitePool::connect(&format!("{url}?mode=rwc"))
        .await
        .expect("old sqlite store");
    migrated_store_delivers(
        OldDb::Sqlite(pool),
        |s| TestStore::adopt("sqlite", s, None, Some(dir)),
        &url,
        "sqlite",
    )
    .await;
}

#[tokio::test]
async fn a_store_of_the_0005_schema_is_migrated_and_delivered_postgres() {
    let Some((name, url)) = support::empty_postgres().await else {
        return;
    };
    let pool = sqlx::PgPool::connect(&url)
        .await
        .expect("old postgres store");
    migrated_store_delivers(
        OldDb::Postgres(pool),
        |s| TestStore::adopt("postgres", s, Some(name), None),
        &url,
        "postgres",
    )
    .await;
}
