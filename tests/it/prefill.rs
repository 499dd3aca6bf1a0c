//! `bench prefill`'s bulk fill, on every backend: the layout it promises (80% delivered headers,
//! 1% dead headers, the rest steps held behind them, records and dossiers for each), heads as
//! migration 0006 marks them (the dead headers only), that a store made by it works as one grown
//! by ingest (new messages go after it, the steps stay held back until their header is skipped),
//! and PostgreSQL's copies from a template.

use std::collections::BTreeMap;
use std::sync::Arc;

use lienthong::store::prefill::{create_database, drop_database, prefill, Prefill, CODE_MARK};
use lienthong::store::{
    self, AcceptedRecord, Claim, HeaderRule, IngestWrite, NewMessage, RecordKind, Store,
};
use serde_json::{json, Value};
use uuid::Uuid;

fn spec(messages: u64) -> Prefill {
    Prefill {
        messages,
        peer: "dvcqg".into(),
        source: "bench".into(),
        header_operation: "DongBoHoSoMC".into(),
        step_operation: "CapNhatTienDoHoSoMC".into(),
        code_prefix: "PF-".into(),
        header_item: json!({ "MaHoSo": CODE_MARK, "kind": "header" }).to_string(),
        header_record: json!({ "MaHoSo": CODE_MARK, "record": "header" }).to_string(),
        step_item: json!({ "MaHoSo": CODE_MARK, "kind": "step" }).to_string(),
        step_record: json!({ "MaHoSo": CODE_MARK, "record": "step" }).to_string(),
        mapping_version: "v1".into(),
        now_ms: store::now_ms(),
    }
}

async fn by_operation_and_state(s: &Arc<dyn Store>) -> BTreeMap<(String, String), i64> {
    s.outbox_counts()
        .await
        .unwrap()
        .into_iter()
        .map(|c| ((c.operation, c.state), c.count))
        .collect()
}

fn claim(operation: &str) -> Claim<'_> {
    let now = store::now_ms();
    Claim {
        peer: "dvcqg",
        skip_destinations: &[],
        operation,
        limit: 50,
        now_ms: now,
        lease_until_ms: now + 60_000,
        owner: "test",
    }
}

fn build(is_update: bool, items: &[Value]) -> Value {
    json!({ "isUpdating": is_update, "data": items })
}

/// The layout, then a new dossier through ingest: it is the only message due.
async fn check_prefilled(url: &str, name: &str) {
    let counts = prefill(url, &spec(1000)).await.unwrap();
    assert_eq!(counts.records, 1000, "{name}");
    assert_eq!(counts.dossiers, 810, "{name}");
    let s = store::open(url, 2).await.unwrap();
    let expected: BTreeMap<(String, String), i64> = [
        (("CapNhatTienDoHoSoMC", "pending"), 190),
        (("DongBoHoSoMC", "dead"), 10),
        (("DongBoHoSoMC", "delivered"), 800),
    ]
    .into_iter()
    .map(|((o, st), n)| ((o.to_string(), st.to_string()), n))
    .collect();
    assert_eq!(by_operation_and_state(&s).await, expected, "{name}");
    // Heads as migration 0006 would mark them: every dead header, no step behind one, no
    // delivered message.
    assert_eq!(
        counts.heads,
        vec![("DongBoHoSoMC".to_string(), "dead".to_string(), 10)],
        "{name}"
    );
    let step = s
        .list_messages(&store::MessageFilter {
            state: Some("pending".into()),
            limit: 1,
            ..Default::default()
        })
        .await
        .unwrap();
    let step = s.message(step[0].id).await.unwrap().unwrap();
    assert!(step.dossier.starts_with("PF-"), "{name}");
    assert_eq!(step.item["MaHoSo"], step.dossier.as_str(), "{name}");
    assert_eq!(
        step.record.as_ref().unwrap()["MaHoSo"],
        step.dossier.as_str(),
        "{name}"
    );

    // Steps behind dead headers are never due; a new dossier is, and goes after the fill.
    assert!(
        s.claim_new_batch(&claim("CapNhatTienDoHoSoMC"), &build)
            .await
            .unwrap()
            .is_none(),
        "{name}"
    );
    let code = "000.00.56.H56-261206-0001";
    s.ingest(
        IngestWrite {
            source: "bench".into(),
            kind: RecordKind::Dossier,
            accepted: vec![AcceptedRecord {
                record_id: Uuid::new_v4(),
                record: json!({ "MaHoSo": code }).to_string(),
                mapping_version: "v1".into(),
                dossier: code.into(),
                warnings: vec![],
                messages: vec![NewMessage::new(
                    "dvcqg",
                    "DongBoHoSoMC",
                    code,
                    json!({ "MaHoSo": code }),
                )
                .with_header(HeaderRule::Header)],
            }],
            rejected: vec![],
            idempotency: None,
            facts: Vec::new(),
            positions: Vec::new(),
            retried: Vec::new(),
            origin: None,
            now_ms: store::now_ms(),
        },
        &|_| String::new(),
    )
    .await
    .unwrap();
    let batch = s
        .claim_new_batch(&claim("DongBoHoSoMC"), &build)
        .await
        .unwrap()
        .expect("the new dossier is due");
    assert_eq!(batch.messages.len(), 1, "{name}");
    let queued = s.message(batch.messages[0].id).await.unwrap().unwrap();
    assert_eq!(queued.dossier, code, "{name}");
    assert!(queued.position > 1000, "{name}: after the fill");
    assert!(!queued.is_update, "{name}");

    // Skipping a dead header hands the head to the first step behind it, and only that one.
    let dead = s
        .list_messages(&store::MessageFilter {
            state: Some("dead".into()),
            limit: 1,
            ..Default::default()
        })
        .await
        .unwrap();
    let dead = s.message(dead[0].id).await.unwrap().unwrap();
    assert!(s.skip(dead.id, "test", store::now_ms()).await.unwrap());
    let steps = s
        .claim_new_batch(&claim("CapNhatTienDoHoSoMC"), &build)
        .await
        .unwrap()
        .expect("the first step behind the skipped header is due");
    assert_eq!(steps.messages.len(), 1, "{name}");
    let first = s.message(steps.messages[0].id).await.unwrap().unwrap();
    assert_eq!(first.dossier, dead.dossier, "{name}");
    assert!(first.position > dead.position, "{name}");

    // A store that holds messages is not filled again.
    assert!(prefill(url, &spec(10)).await.is_err(), "{name}");
}

#[tokio::test]
async fn prefill_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("prefill.db").display());
    check_prefilled(&url, "sqlite").await;
}

#[tokio::test]
async fn prefill_postgres_and_copy_from_template() {
    let Ok(base) = std::env::var("LIENTHONG_TEST_DATABASE_URL") else {
        return;
    };
    let template = format!("lt_{}", Uuid::new_v4().simple());
    let copy = format!("lt_{}", Uuid::new_v4().simple());
    let mut url = reqwest::Url::parse(&base).unwrap();
    url.set_path(&format!("/{template}"));
    // The database does not exist yet: prefill creates it.
    check_prefilled(url.as_str(), "postgres").await;

    create_database(&base, &copy, Some(&template))
        .await
        .unwrap();
    url.set_path(&format!("/{copy}"));
    let s = store::open(url.as_str(), 2).await.unwrap();
    let total: i64 = by_operation_and_state(&s).await.values().sum();
    assert_eq!(
        total, 1001,
        "the copy holds the fill and the dossier queued after it"
    );
    drop(s);
    assert!(
        create_database(&base, "not a name; DROP", None)
            .await
            .is_err(),
        "names are checked before they go into SQL"
    );
    drop_database(&base, &copy).await.unwrap();
    drop_database(&base, &template).await.unwrap();
}
