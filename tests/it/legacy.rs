//! The legacy XML route: dossiers rendered as `MSyncDocument` at ingest, delivered to the
//! simulated LGSP platform with its bearer token, one document per request, in order per
//! dossier, and repeats under the same `X-Request-ID` only.

use lienthong::peer::dvcqg::DvcqgAuth;
use lienthong::peer::lgsp_sync::LgspSyncConfig;
use lienthong::sim::{Fault, RetryAfter, SimSettings};
use serde_json::{json, Value};

use crate::support::{self, local_records, mappings, spawn_app_with, TestApp};

fn with_legacy_route(cfg: &mut lienthong::config::Config, mapping: std::path::PathBuf) {
    let sim = SimSettings::default();
    let base = cfg.peers.dvcqg.as_ref().unwrap().base_url.clone();
    cfg.peers.lgsp_sync = Some(LgspSyncConfig {
        tls: Default::default(),
        base_url: base.clone(),
        auth: DvcqgAuth::Lgsp {
            token_url: format!("{base}/oauth/token"),
            client_id: sim.client_id,
            client_secret: Some(sim.client_secret.into()),
            client_secret_file: None,
            access_token_header: None,
        },
        policy: Default::default(),
        classify: Vec::new(),
    });
    cfg.sources[0].sync_document_mapping = Some(mapping);
}

async fn app_with_legacy(ts: support::TestStore, mapping: std::path::PathBuf) -> TestApp {
    spawn_app_with(ts, SimSettings::default(), |c| {
        with_legacy_route(c, mapping)
    })
    .await
}

#[tokio::test]
async fn dossiers_also_reach_the_legacy_route_once_each_under_faults() {
    for ts in support::stores().await {
        let app = app_with_legacy(ts, mappings().join("vendor-a/sync_document.toml")).await;
        let (dossiers, _) = local_records(11, 30);
        let (status, answer) = app.post("dossiers", &Value::Array(dossiers.clone())).await;
        assert_eq!(status, 202, "{answer}");
        assert_eq!(answer["accepted"].as_array().unwrap().len(), 30, "{answer}");
        assert_eq!(app.count("SyncDocument", "pending").await, 30);
        assert_eq!(app.count("DongBoHoSoMC", "pending").await, 30);

        // The platform fails, then applies a document but the answer is lost: the same document
        // goes again under the same id and is absorbed.
        app.sim.script(vec![
            Fault::Http503 {
                retry_after: RetryAfter::Seconds(0),
            },
            Fault::DropAfterApply,
            Fault::Http500,
        ]);
        app.drain(&app.legacy_lane("legacy")).await;
        app.drain(&app.lane("portal", None)).await;

        let stats = app.sim.stats();
        assert_eq!(
            stats.items_applied.get("SyncDocument"),
            Some(&30),
            "{stats:?}"
        );
        assert_eq!(stats.duplicates_absorbed, 1, "{stats:?}");
        assert_eq!(stats.violations, Default::default(), "{stats:?}");
        assert_eq!(app.sim.synced_document_count(), 30);
        for d in &dossiers {
            let code = d["MaHoSo"].as_str().unwrap();
            let synced = app.sim.synced_documents(code);
            assert_eq!(synced.len(), 1, "{code}: {synced:?}");
            // The same dossier went to the portal with the same status.
            let portal = app.sim.dossier(code).expect("dossier at the portal");
            assert_eq!(
                Value::String(synced[0].status.clone()),
                portal["TrangThaiHoSo"]
            );
        }
        assert_eq!(app.count("SyncDocument", "delivered").await, 30);
    }
}

#[tokio::test]
async fn a_later_version_of_a_dossier_follows_the_earlier_one() {
    let ts = support::sqlite().await;
    let app = app_with_legacy(ts, mappings().join("vendor-a/sync_document.toml")).await;
    let (dossiers, _) = local_records(12, 1);
    let mut first = dossiers[0].clone();
    first["TinhTrang"] = json!("DA_NHAN");
    let mut second = first.clone();
    second["TinhTrang"] = json!("DANG_XU_LY");
    for d in [&first, &second] {
        let (status, answer) = app.post("dossiers", d).await;
        assert_eq!(status, 202, "{answer}");
        assert_eq!(answer["rejected"], json!([]), "{answer}");
    }
    app.drain(&app.legacy_lane("legacy")).await;
    let code = first["MaHoSo"].as_str().unwrap();
    let synced = app.sim.synced_documents(code);
    let statuses: Vec<&str> = synced.iter().map(|s| s.status.as_str()).collect();
    assert_eq!(statuses.len(), 2, "{synced:?}");
    assert_ne!(statuses[0], statuses[1], "{synced:?}");
    assert!(synced[0].seq < synced[1].seq);
    assert_ne!(synced[0].request_id, synced[1].request_id);
}

#[tokio::test]
async fn a_record_the_legacy_mapping_refuses_is_refused_as_a_whole() {
    let ts = support::sqlite().await;
    let dir = tempfile::tempdir().unwrap();
    let strict = dir.path().join("sync_document.toml");
    // A legacy mapping that needs a field vendor-a records do not have.
    std::fs::write(
        &strict,
        "target = \"sync_document\"\n\
         [fields.DocCode]\nfrom = \"MaHoSoLienThong\"\n\
         [fields.Status]\nvalue = \"1\"\n",
    )
    .unwrap();
    let app = app_with_legacy(ts, strict).await;
    let (dossiers, _) = local_records(13, 2);
    let (status, answer) = app.post("dossiers", &Value::Array(dossiers)).await;
    assert_eq!(status, 202, "{answer}");
    assert_eq!(answer["accepted"], json!([]), "{answer}");
    let rejected = answer["rejected"].as_array().unwrap();
    assert_eq!(rejected.len(), 2, "{answer}");
    for r in rejected {
        let e = r["error"].as_str().unwrap();
        assert!(
            e.contains("legacy route (sync_document)") && e.contains("DocCode"),
            "{e}"
        );
    }
    assert_eq!(app.count("DongBoHoSoMC", "pending").await, 0);
    assert_eq!(app.count("SyncDocument", "pending").await, 0);
    assert_eq!(app.store.quarantine_count().await.unwrap(), 2);
}
