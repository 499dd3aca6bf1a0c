//! Several instances on one PostgreSQL database: ingest on one wakes the lanes of another
//! (LISTEN/NOTIFY), and two real `lienthong run` processes share one backlog, one of them killed
//! with SIGKILL half-way, without losing, reordering or doubling anything.

use std::sync::Arc;
use std::time::{Duration, Instant};

use lienthong::scheduler::LEADER_LEASE;
use lienthong::sim::SimSettings;
use lienthong::store::{self, AcceptedRecord, HeaderRule, IngestWrite, NewMessage, RecordKind};
use serde_json::json;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use crate::daemons::{check_portal, chunks, post, until_applied, Daemon};
use crate::support::{local_records, postgres, spawn_app_with};

fn one_dossier(n: usize) -> IngestWrite {
    IngestWrite {
        source: "tinh".into(),
        kind: RecordKind::Dossier,
        accepted: vec![AcceptedRecord {
            record_id: uuid::Uuid::new_v4(),
            record: json!({}).to_string(),
            mapping_version: "v1".into(),
            dossier: format!("D-{n}"),
            warnings: vec![],
            messages: vec![
                NewMessage::new("dvcqg", "DongBoHoSoMC", format!("D-{n}"), json!({}))
                    .with_header(HeaderRule::Header),
            ],
        }],
        rejected: vec![],
        idempotency: None,
        facts: Vec::new(),
        positions: Vec::new(),
        retried: Vec::new(),
        origin: None,
        now_ms: store::now_ms(),
    }
}

#[tokio::test]
async fn ingest_on_one_instance_wakes_the_lanes_of_another() {
    let sqlite = crate::support::sqlite().await;
    let stop = CancellationToken::new();
    let _stop = stop.clone().drop_guard();
    assert!(
        sqlite
            .store
            .work_listener(Arc::new(Notify::new()), stop.clone())
            .is_none(),
        "SQLite: one process per file, woken in-process"
    );
    let Some(pg) = postgres().await else {
        return;
    };
    // A second instance: its own pool on the same database.
    let other = store::open(&pg.url(), 2).await.unwrap();
    let wake = Arc::new(Notify::new());
    let listener = other.work_listener(wake.clone(), stop.clone()).unwrap();
    tokio::spawn(listener);
    // The listener wakes the lanes once when it (re)connects: wait for that first.
    tokio::time::timeout(Duration::from_secs(10), wake.notified())
        .await
        .expect("listener connected");
    for n in 0..3 {
        let woken = wake.notified();
        tokio::pin!(woken);
        woken.as_mut().enable();
        pg.store
            .ingest(one_dossier(n), &|_| String::new())
            .await
            .unwrap();
        tokio::time::timeout(Duration::from_secs(10), woken)
            .await
            .unwrap_or_else(|_| panic!("ingest {n} on one instance woke the other"));
    }

    // The listening connection dies (a database restart, a proxy's idle cut): the listener
    // connects again by itself, wakes the lanes for what it may have missed, and listens on.
    let woken = wake.notified();
    tokio::pin!(woken);
    woken.as_mut().enable();
    let admin = sqlx::PgPool::connect(&pg.url()).await.unwrap();
    let cut: Vec<bool> = sqlx::query_scalar(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
         WHERE datname = current_database() AND query LIKE 'LISTEN%'",
    )
    .fetch_all(&admin)
    .await
    .unwrap();
    assert_eq!(cut, vec![true], "one listening connection");
    tokio::time::timeout(Duration::from_secs(20), woken)
        .await
        .expect("woken after reconnecting");
    let woken = wake.notified();
    tokio::pin!(woken);
    woken.as_mut().enable();
    pg.store
        .ingest(one_dossier(9), &|_| String::new())
        .await
        .unwrap();
    tokio::time::timeout(Duration::from_secs(10), woken)
        .await
        .expect("ingest after the reconnection woke the other instance");
}

#[tokio::test]
async fn two_instances_share_a_backlog_and_survive_a_sigkill() {
    let Some(pg) = postgres().await else {
        return;
    };
    let url = pg.url();
    let dossiers: usize = std::env::var("LIENTHONG_MULTI_DOSSIERS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1000);
    // Ingest through the in-process gateway (HTTP only) into the shared database.
    let app = spawn_app_with(pg, SimSettings::default(), |c| {
        c.server.body_limit_bytes = 4 << 20;
    })
    .await;
    let sim_base = app.config.peers.dvcqg.as_ref().unwrap().base_url.clone();
    let (d, s) = local_records(44, dossiers);
    let total = (d.len() + s.len()) as u64;
    let client = reqwest::Client::new();
    for chunk in chunks(&d, &s, 20) {
        assert!(post(&client, &app.base, &chunk).await, "backlog accepted");
    }

    let dir = tempfile::tempdir().unwrap();
    let lease = Duration::from_secs(3);
    let delivery = format!("lease_seconds = {}", lease.as_secs());
    let started = Instant::now();
    // Both also run the scheduler: one of them holds the leader lease.
    let schedules = "\n[schedules]\noutbox_stats = \"* * * * * *\"\n";
    let start = |name| {
        Daemon::start_with(
            dir.path(),
            name,
            &url,
            &sim_base,
            &format!("{delivery}\nconcurrency = 2"),
            "",
            schedules,
        )
    };
    let mut a = start("a");
    let b = start("b");
    let b_pid = format!("-{}-", b.pid().unwrap());
    // Half-way through, a dies with batches in flight.
    until_applied(&app.sim, total / 2, Duration::from_secs(120)).await;
    let before_kill = started.elapsed();
    let applied_at_kill: u64 = app.sim.stats().items_applied.values().sum();
    let a_pid = format!("-{}-", a.pid().unwrap());
    a.kill();
    let killed = Instant::now();
    // The batches a held when it died: the survivor must have finished them within one lease.
    let db = sqlx::PgPool::connect(&url).await.unwrap();
    let orphaned: Vec<String> = sqlx::query_scalar(
        "SELECT id FROM batches WHERE state = 'open' AND owner LIKE '%' || $1 || '%'",
    )
    .bind(&a_pid)
    .fetch_all(&db)
    .await
    .unwrap();
    let mut orphans_done = None;
    while killed.elapsed() < lease + Duration::from_secs(30) {
        let open: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM batches WHERE state = 'open' AND id = ANY($1)",
        )
        .bind(&orphaned)
        .fetch_one(&db)
        .await
        .unwrap();
        if open == 0 {
            orphans_done = Some(killed.elapsed());
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let orphans_done = orphans_done.expect("the dead instance's batches were finished");
    until_applied(&app.sim, total, Duration::from_secs(120)).await;
    let after_kill = killed.elapsed();

    // The outbox agrees: everything delivered, nothing open or dead. The portal applies an item
    // before the instance that sent it settles the batch, so the last settlement may still be on
    // its way: give it a moment.
    let settled = Instant::now();
    let (counts, delivered) = loop {
        let counts = app.counts().await;
        let delivered: i64 = counts
            .iter()
            .filter(|c| c.state == "delivered")
            .map(|c| c.count)
            .sum();
        if delivered as u64 == total || settled.elapsed() > Duration::from_secs(10) {
            break (counts, delivered);
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(delivered as u64, total, "{counts:?}");
    let stats = check_portal(&app.sim, &d, &s);

    // The scheduler's leader lease is b's now: it held it already, or took it over from a.
    let mut leader;
    // Looked at least once, however long the backlog took: a loaded machine may have used up
    // the time since the kill already.
    let looking = Instant::now();
    loop {
        leader = app.store.lease(LEADER_LEASE).await.unwrap();
        let led = leader.as_ref().is_some_and(|l| l.holder.contains(&b_pid));
        if led || looking.elapsed() > lease + Duration::from_secs(10) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let leader = leader.expect("a leader lease");
    assert!(
        leader.holder.contains(&b_pid),
        "the survivor leads the scheduled jobs: {leader:?}"
    );
    let led_after = killed.elapsed();
    drop(b);

    // The survivor works alone after the kill; the kill's cost is at most one lease (the dead
    // instance's batches wait for it to expire), beyond the time its share takes.
    let rate = applied_at_kill as f64 / before_kill.as_secs_f64().max(1e-3);
    let alone = Duration::from_secs_f64((total - applied_at_kill) as f64 / rate * 2.0);
    eprintln!(
        "two instances, one backlog: {total} messages; {applied_at_kill} applied after {:.2} s, then one instance killed; \
         the survivor finished {:.2} s after the kill (lease {} s) and, checked {:.2} s after it, held the scheduler lease; \
         repeats absorbed {}; portal requests {}",
        before_kill.as_secs_f64(),
        after_kill.as_secs_f64(),
        lease.as_secs(),
        led_after.as_secs_f64(),
        stats.duplicates_absorbed,
        stats.requests,
    );
    eprintln!(
        "the {} batch(es) the killed instance held were finished {:.2} s after the kill (lease {} s)",
        orphaned.len(),
        orphans_done.as_secs_f64(),
        lease.as_secs()
    );
    assert!(
        orphans_done <= lease + Duration::from_secs(2),
        "the killed instance's batches took {orphans_done:?} to finish; one lease is {lease:?}"
    );
    let bound = lease + alone + Duration::from_secs(5);
    assert!(
        after_kill <= bound,
        "the survivor took {after_kill:?} after the kill (bound {bound:?}: one lease, the rest of the backlog at half the two-instance rate, 5 s slack)"
    );
}

/// SQLite runs one instance per file: the instance that comes back after a SIGKILL takes over.
/// The batches the killed process held are sent again (same ids, same bodies) within one lease
/// of their claim, however much is queued behind them.
#[tokio::test]
async fn a_restarted_instance_resends_what_it_held_within_a_lease_whatever_the_backlog() {
    let dir = tempfile::tempdir().unwrap();
    let (ts, url) = crate::support::sqlite_in(dir.path()).await;
    let dossiers: usize = std::env::var("LIENTHONG_MULTI_DOSSIERS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1000);
    let app = spawn_app_with(ts, SimSettings::default(), |c| {
        c.server.body_limit_bytes = 4 << 20;
    })
    .await;
    let sim_base = app.config.peers.dvcqg.as_ref().unwrap().base_url.clone();
    let (d, s) = local_records(44, dossiers);
    let total = (d.len() + s.len()) as u64;
    let client = reqwest::Client::new();
    for chunk in chunks(&d, &s, 20) {
        assert!(post(&client, &app.base, &chunk).await, "backlog accepted");
    }
    let lease = Duration::from_secs(3);
    let mut a = Daemon::start(
        dir.path(),
        "a",
        &url,
        &sim_base,
        &format!("lease_seconds = {}\nconcurrency = 4", lease.as_secs()),
        "",
    );
    until_applied(&app.sim, total / 3, Duration::from_secs(120)).await;
    let pid = format!("-{}-", a.pid().unwrap());
    a.kill();
    let killed = Instant::now();
    let db = sqlx::SqlitePool::connect(&url).await.unwrap();
    let orphaned: Vec<String> = sqlx::query_scalar(
        "SELECT id FROM batches WHERE state = 'open' AND owner LIKE '%' || $1 || '%'",
    )
    .bind(&pid)
    .fetch_all(&db)
    .await
    .unwrap();
    let queued: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM outbox WHERE state = 'pending'")
        .fetch_one(&db)
        .await
        .unwrap();
    a.restart();
    let mut orphans_done = None;
    while killed.elapsed() < lease + Duration::from_secs(60) {
        let mut open = 0i64;
        for id in &orphaned {
            open += sqlx::query_scalar::<_, i64>(
                "SELECT COUNT(*) FROM batches WHERE state = 'open' AND id = $1",
            )
            .bind(id)
            .fetch_one(&db)
            .await
            .unwrap();
        }
        if open == 0 {
            orphans_done = Some(killed.elapsed());
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let orphans_done = orphans_done.expect("the killed instance's batches were finished");
    until_applied(&app.sim, total, Duration::from_secs(180)).await;
    let stats = check_portal(&app.sim, &d, &s);
    eprintln!(
        "SQLite restart: {} batch(es) held at the kill, {queued} messages pending behind them; \
         finished {:.2} s after the kill (lease {} s); repeats absorbed {}",
        orphaned.len(),
        orphans_done.as_secs_f64(),
        lease.as_secs(),
        stats.duplicates_absorbed
    );
    assert!(queued > 1000, "a real backlog: {queued}");
    assert!(
        orphans_done <= lease + Duration::from_secs(5),
        "the killed instance's batches took {orphans_done:?} to finish; one lease is {lease:?}"
    );
}
