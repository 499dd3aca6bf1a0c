//! One story about the store, run on every backend: queueing, per-dossier order, batches that
//! keep their id and body, waiting steps, leases, idempotency.

use std::sync::Arc;

use lienthong::store::{
    AcceptedRecord, Batch, BatchFate, Claim, HeaderRule, IdempotencyKey, IngestResult, IngestWrite,
    MessageFate, NewMessage, RecordKind, Store, StoreError,
};
use serde_json::{json, Value};
use uuid::Uuid;

use crate::support::stores;

const D_A: &str = "000.00.56.H56-261105-0001";
const D_B: &str = "000.00.56.H56-261105-0002";

fn record(dossier: &str, n: i64) -> AcceptedRecord {
    let mut m = NewMessage::new("dvcqg", "", dossier, json!({ "MaHoSo": dossier, "n": n }));
    m.at_ms = Some(n);
    m.source_seq = Some(n);
    AcceptedRecord {
        record_id: Uuid::new_v4(),
        record: json!({ "MaHoSo": dossier, "n": n }).to_string(),
        mapping_version: "v1".into(),
        dossier: dossier.into(),
        warnings: vec![],
        messages: vec![m],
    }
}

fn write(kind: RecordKind, mut accepted: Vec<AcceptedRecord>, now_ms: i64) -> IngestWrite {
    let (operation, header) = match kind {
        RecordKind::Dossier => ("DongBoHoSoMC", HeaderRule::Header),
        RecordKind::Step => ("CapNhatTienDoHoSoMC", HeaderRule::AfterHeader),
        RecordKind::Survey => ("DongBoDanhGia", HeaderRule::Free),
    };
    for r in &mut accepted {
        for m in &mut r.messages {
            m.operation = operation.into();
            m.header = header;
        }
    }
    IngestWrite {
        source: "tinh".into(),
        kind,
        accepted,
        rejected: vec![],
        idempotency: None,
        facts: Vec::new(),
        positions: Vec::new(),
        retried: Vec::new(),
        origin: None,
        now_ms,
    }
}

fn answer(r: &IngestResult) -> String {
    json!({ "waiting": r.waiting }).to_string()
}

fn build(is_update: bool, items: &[Value]) -> Value {
    json!({ "isUpdating": is_update, "data": items })
}

fn claim<'a>(op: &'a str, owner: &'a str, now_ms: i64) -> Claim<'a> {
    Claim {
        peer: "dvcqg",
        skip_destinations: &[],
        operation: op,
        limit: 50,
        now_ms,
        lease_until_ms: now_ms + 60_000,
        owner,
    }
}

fn ns(b: &Batch) -> Vec<i64> {
    b.body["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["n"].as_i64().unwrap())
        .collect()
}

async fn delivered(store: &Arc<dyn Store>, b: &Batch, now: i64) {
    let fates = b
        .messages
        .iter()
        .map(|m| (m.id, MessageFate::Delivered))
        .collect();
    store
        .resolve_batch(b, BatchFate::Close(fates), now)
        .await
        .unwrap();
}

#[tokio::test]
async fn queue_story_on_every_backend() {
    for ts in stores().await {
        let s = &ts.store;
        let name = ts.name;
        // Steps of B arrive before B's header: they wait and block nothing.
        let r = s
            .ingest(write(RecordKind::Step, vec![record(D_B, 5)], 1), &answer)
            .await
            .unwrap();
        assert_eq!(r, json!({"waiting": [true]}).to_string(), "{name}");
        s.ingest(write(RecordKind::Dossier, vec![record(D_A, 1)], 2), &answer)
            .await
            .unwrap();
        let r = s
            .ingest(
                write(RecordKind::Step, vec![record(D_A, 2), record(D_A, 3)], 3),
                &answer,
            )
            .await
            .unwrap();
        assert_eq!(r, json!({"waiting": [false, false]}).to_string(), "{name}");

        // A's steps wait behind A's header; B's step waits for B's header.
        let steps = claim("CapNhatTienDoHoSoMC", "one", 10);
        assert!(
            s.claim_new_batch(&steps, &build).await.unwrap().is_none(),
            "{name}"
        );
        let header = s
            .claim_new_batch(&claim("DongBoHoSoMC", "one", 10), &build)
            .await
            .unwrap()
            .expect("A's header is due");
        assert_eq!(ns(&header), vec![1], "{name}");
        assert!(!header.is_update, "{name}: first header is a create");
        assert!(
            s.claim_new_batch(&steps, &build).await.unwrap().is_none(),
            "{name}: header in flight blocks steps"
        );
        delivered(s, &header, 11).await;

        // One message per dossier per batch: only A's first step.
        let first = s.claim_new_batch(&steps, &build).await.unwrap().unwrap();
        assert_eq!(ns(&first), vec![2], "{name}");
        // Nothing applied: the same batch, same id and body, comes back when due.
        s.resolve_batch(
            &first,
            BatchFate::Reopen {
                next_attempt_ms: 50,
                error: "HTTP 503".into(),
                count_attempt: true,
            },
            20,
        )
        .await
        .unwrap();
        assert!(
            s.claim_open_batch(&claim("", "one", 30))
                .await
                .unwrap()
                .is_none(),
            "{name}: not due yet"
        );
        assert!(
            s.claim_new_batch(&claim("CapNhatTienDoHoSoMC", "one", 60), &build)
                .await
                .unwrap()
                .is_none(),
            "{name}: step 3 waits for step 2"
        );
        let again = s
            .claim_open_batch(&claim("", "two", 60))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(again.id, first.id, "{name}");
        assert_eq!(again.body, first.body, "{name}");
        assert_eq!(again.attempts, 1, "{name}");
        assert_eq!(again.messages[0].attempts, 1, "{name}");
        // The old owner lost the lease: its late answer changes nothing.
        delivered(s, &first, 61).await;
        assert!(
            s.claim_new_batch(&claim("CapNhatTienDoHoSoMC", "one", 62), &build)
                .await
                .unwrap()
                .is_none(),
            "{name}"
        );
        delivered(s, &again, 63).await;
        let second = s
            .claim_new_batch(&claim("CapNhatTienDoHoSoMC", "one", 64), &build)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(ns(&second), vec![3], "{name}");
        // A permanent failure dead-letters and holds back only its own dossier.
        s.resolve_batch(
            &second,
            BatchFate::Close(vec![(
                second.messages[0].id,
                MessageFate::Dead {
                    error: "Trường NoiDungXuLy không đúng định dạng".into(),
                },
            )]),
            65,
        )
        .await
        .unwrap();
        let dead = s.dead_letters(10).await.unwrap();
        assert_eq!(dead.len(), 1, "{name}");
        assert!(dead[0].error.contains("NoiDungXuLy"), "{name}");

        // B's header arrives: B's waiting step moves behind it.
        s.ingest(
            write(RecordKind::Dossier, vec![record(D_B, 4)], 70),
            &answer,
        )
        .await
        .unwrap();
        assert!(
            s.claim_new_batch(&claim("CapNhatTienDoHoSoMC", "one", 71), &build)
                .await
                .unwrap()
                .is_none(),
            "{name}"
        );
        let hb = s
            .claim_new_batch(&claim("DongBoHoSoMC", "one", 71), &build)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(ns(&hb), vec![4], "{name}");
        delivered(s, &hb, 72).await;
        let sb = s
            .claim_new_batch(&claim("CapNhatTienDoHoSoMC", "one", 73), &build)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(ns(&sb), vec![5], "{name}");

        // An instance that dies mid-send: after its lease, another takes the batch as it is.
        let lost = sb;
        assert!(
            s.claim_open_batch(&claim("", "two", 74))
                .await
                .unwrap()
                .is_none(),
            "{name}: lease still held"
        );
        let taken = s
            .claim_open_batch(&claim("", "two", 73 + 60_001))
            .await
            .unwrap()
            .unwrap();
        assert_eq!((taken.id, &taken.body), (lost.id, &lost.body), "{name}");
        delivered(s, &taken, 73 + 60_002).await;

        // A later header of B is an update; one of A stays behind A's dead step until an
        // operator acts, while B goes on.
        s.ingest(
            write(
                RecordKind::Dossier,
                vec![record(D_A, 6), record(D_B, 7)],
                80,
            ),
            &answer,
        )
        .await
        .unwrap();
        let upd = s
            .claim_new_batch(&claim("DongBoHoSoMC", "one", 81), &build)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(ns(&upd), vec![7], "{name}");
        assert!(upd.is_update, "{name}");

        let counts = s.outbox_counts().await.unwrap();
        let count = |state: &str| {
            counts
                .iter()
                .filter(|c| c.state == state)
                .map(|c| c.count)
                .sum::<i64>()
        };
        assert_eq!(
            (
                count("delivered"),
                count("dead"),
                count("inflight"),
                count("pending")
            ),
            (4, 1, 1, 1),
            "{name}: {counts:?}"
        );
    }
}

#[tokio::test]
async fn idempotency_key_is_stored_with_the_records() {
    for ts in stores().await {
        let s = &ts.store;
        let key = IdempotencyKey {
            key: "req-1".into(),
            body_hash: "abc".into(),
        };
        let mut w = write(RecordKind::Dossier, vec![record(D_A, 1)], 1);
        w.idempotency = Some(key.clone());
        let first = s.ingest(w.clone(), &answer).await.unwrap();
        let found = s.find_idempotent("tinh", "req-1").await.unwrap().unwrap();
        assert_eq!(
            (
                found.body_hash.as_str(),
                found.answer.as_str(),
                found.status
            ),
            ("abc", first.as_str(), 202)
        );
        // The same key again stores nothing: the whole transaction is refused.
        assert!(
            matches!(s.ingest(w, &answer).await, Err(StoreError::KeyTaken)),
            "{}",
            ts.name
        );
        let counts = s.outbox_counts().await.unwrap();
        assert_eq!(
            counts.iter().map(|c| c.count).sum::<i64>(),
            1,
            "{}",
            ts.name
        );
    }
}

/// SQLite: the WAL reaches the database file by the store's own checkpoints, shortly after a
/// commit and while nothing else is written, not in a writer's commit (which waits for no copy
/// until the WAL is 64 MiB).
#[tokio::test]
async fn sqlite_copies_its_wal_into_the_database_file_by_itself() {
    let dir = tempfile::tempdir().expect("temp dir");
    let (ts, _) = crate::support::sqlite_in(dir.path()).await;
    let file = dir.path().join("lienthong.db");
    let size = || std::fs::metadata(&file).expect("the database file").len();
    // The migrations' pages reach the file first.
    let settle = std::time::Instant::now();
    let mut before = size();
    while settle.elapsed() < std::time::Duration::from_secs(3) {
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        before = size();
    }
    let records: Vec<AcceptedRecord> = (0..2_000)
        .map(|n| record(&format!("000.00.56.H56-261105-{n:04}"), n))
        .collect();
    ts.store
        .ingest(write(RecordKind::Dossier, records, 1), &answer)
        .await
        .expect("ingest");
    let waited = std::time::Instant::now();
    while size() <= before && waited.elapsed() < std::time::Duration::from_secs(20) {
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(
        size() > before,
        "the database file stayed at {before} bytes: the WAL was never copied into it"
    );
    let counts = ts.store.outbox_counts().await.expect("counts");
    assert_eq!(counts.iter().map(|c| c.count).sum::<i64>(), 2_000);
}
