//! Reconciliation end to end, on both stores, against the portal simulator over real sockets:
//! a dossier the portal dropped, a stale status and a missing step are found and, with repair,
//! queued again and fixed; a dossier the portal holds that no local system sent is found in the
//! gaps of the agency's sequence; a run killed half-way resumes where its last page ended.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use chrono::NaiveDate;
use lienthong::reconcile::{Params, Progress, ReconcileConfig, Reconciler};
use lienthong::sim::Fault;
use lienthong::store::ReconcileRun;
use serde_json::{json, Value};

use crate::support::{self, TestApp};

fn dossier(code: &str, status: &str, due: &str) -> Value {
    json!({
        "MaHoSo": code,
        "MaThuTucLocal": "TTHC-TH-0412",
        "TenThuTuc": "Cấp giấy phép xây dựng đối với nhà ở riêng lẻ",
        "TrichYeu": "Xin cấp phép xây dựng nhà ở riêng lẻ",
        "NguoiNop": "Nguyễn Thị Hoa",
        "SoGiayTo": "038186001234",
        "DienThoai": "0912345678",
        "Email": "",
        "DiaChi": "Thôn Đông, xã Quảng Phú",
        "MaTinh": "38",
        "MaXa": "16012",
        "LoaiNguoiNop": "CD",
        "KenhNop": "TRUC_TIEP",
        "NgayNop": "2026-11-05 08:20:00",
        "NgayNhan": "2026-11-05 08:31:00",
        "HanTra": due,
        "NgayXong": null,
        "TinhTrang": status,
        "NhanKetQuaQuaBuuDien": 0,
        "CoSoHoa": 1,
        "PhongXuLy": "Phòng Kinh tế",
        "CapNhatLuc": "2026-11-05 08:31:12.123",
        "BoSung": [],
        "LePhi": []
    })
}

fn step(code: &str, n: u32, status: &str, at: &str) -> Value {
    json!({
        "MaHoSo": code, "Buoc": n, "NguoiXuLy": "Hà Ngọc Phương", "ChucVu": "Chuyên viên",
        "PhongBan": "Phòng Kinh tế", "NoiDung": "Thẩm định hồ sơ", "TinhTrang": status,
        "ThoiDiem": at, "HanXuLy": "2026-11-19 17:00:00"
    })
}

fn code(n: u32) -> String {
    format!("000.00.56.H56-261105-{n:04}")
}

fn reconciler(app: &TestApp, config: ReconcileConfig) -> Reconciler {
    let portal =
        lienthong::peer::registry::portal_records(&app.config.peers, |n| app.config.policy_for(n))
            .unwrap()
            .expect("the portal is configured");
    Reconciler::new(app.store.clone(), portal, config)
}

fn params(repair: bool) -> Params {
    Params {
        from: NaiveDate::from_ymd_opt(2026, 11, 5).unwrap(),
        to: NaiveDate::from_ymd_opt(2026, 11, 5).unwrap(),
        agency: None,
        repair,
        restart: false,
    }
}

async fn ingest(app: &TestApp, kind: &str, records: Value) {
    let (status, body) = app.post(kind, &records).await;
    assert_eq!(status, 202, "{body}");
    assert_eq!(body["rejected"], json!([]), "{body}");
}

async fn kinds(app: &TestApp, run: &ReconcileRun) -> Vec<(String, String, bool)> {
    app.store
        .reconcile_findings(&run.id, 100)
        .await
        .unwrap()
        .into_iter()
        .map(|f| (f.dossier, f.kind, f.repaired))
        .collect()
}

#[tokio::test]
async fn drift_is_found_and_repaired_through_the_outbox() {
    for ts in support::stores().await {
        let name = ts.name;
        let app = support::spawn_app(ts).await;
        let lane = app.lane("reconcile-test", None);
        let due = "2026-11-19 17:00:00";

        // 1: the portal acknowledges the dossier and loses it.
        app.sim.script(vec![Fault::Lose]);
        ingest(&app, "dossiers", json!([dossier(&code(1), "DA_NHAN", due)])).await;
        app.drain(&lane).await;
        assert!(app.sim.dossier(&code(1)).is_none(), "{name}: dropped");
        // 2, 4, 5 arrive; 3 is another system's.
        ingest(
            &app,
            "dossiers",
            json!([
                dossier(&code(2), "DA_NHAN", due),
                dossier(&code(4), "DA_NHAN", due),
                dossier(&code(5), "DA_NHAN", due)
            ]),
        )
        .await;
        app.drain(&lane).await;
        // 2: its step to "being processed" is lost.
        app.sim.script(vec![Fault::Lose]);
        ingest(
            &app,
            "steps",
            json!([step(&code(2), 2, "DANG_XU_LY", "2026-11-06 09:00:00")]),
        )
        .await;
        app.drain(&lane).await;
        // 4: its update with a new appointment is lost.
        app.sim.script(vec![Fault::Lose]);
        ingest(
            &app,
            "dossiers",
            json!([dossier(&code(4), "DANG_XU_LY", "2026-11-20 17:00:00")]),
        )
        .await;
        app.drain(&lane).await;
        let mut other = app.sim.dossier(&code(5)).unwrap();
        other["MaHoSo"] = json!(code(3));
        app.sim.insert_dossier(other);
        assert_eq!(app.sim.dossier(&code(2)).unwrap()["TrangThaiHoSo"], "2");

        let r = reconciler(&app, ReconcileConfig::default());
        let run = r
            .run(&params(false), &lienthong::reconcile::Quiet)
            .await
            .unwrap();
        assert_eq!(run.state, "done", "{name}");
        assert_eq!(
            (run.total, run.checked, run.in_sync),
            (4, 4, 1),
            "{name}: {run:?}"
        );
        assert_eq!(
            (
                run.missing,
                run.stale,
                run.missing_steps,
                run.unknown,
                run.repaired
            ),
            (1, 1, 1, 1, 0),
            "{name}: {run:?}"
        );
        assert_eq!(
            kinds(&app, &run).await,
            vec![
                (code(1), "missing".into(), false),
                (code(2), "missing_step".into(), false),
                (code(3), "unknown_at_source".into(), false),
                (code(4), "stale_status".into(), false),
            ],
            "{name}"
        );
        let detail = app.store.reconcile_findings(&run.id, 10).await.unwrap();
        assert!(
            detail[1].detail.contains("status 2") && detail[1].detail.contains("says 4"),
            "{name}: {}",
            detail[1].detail
        );
        assert!(
            detail[3].detail.contains("status 2"),
            "{name}: {}",
            detail[3].detail
        );

        let repaired = r
            .run(&params(true), &lienthong::reconcile::Quiet)
            .await
            .unwrap();
        assert_eq!(repaired.repaired, 3, "{name}: {repaired:?}");
        assert!(kinds(&app, &repaired)
            .await
            .iter()
            .filter(|(_, k, _)| k != "unknown_at_source")
            .all(|(_, _, repaired)| *repaired));
        // A run while the repairs wait in the outbox sees them as not delivered yet, and
        // queues nothing twice.
        let waiting = r
            .run(&params(true), &lienthong::reconcile::Quiet)
            .await
            .unwrap();
        assert_eq!(
            (waiting.undelivered, waiting.repaired),
            (3, 0),
            "{name}: {waiting:?}"
        );
        app.drain(&lane).await;

        assert_eq!(
            app.sim.dossier(&code(1)).unwrap()["TrangThaiHoSo"],
            "2",
            "{name}"
        );
        assert_eq!(
            app.sim.dossier(&code(2)).unwrap()["TrangThaiHoSo"],
            "4",
            "{name}"
        );
        let four = app.sim.dossier(&code(4)).unwrap();
        assert_eq!(four["TrangThaiHoSo"], "4", "{name}");
        assert_eq!(four["NgayHenTra"], "20261120170000", "{name}");
        let after = r
            .run(&params(false), &lienthong::reconcile::Quiet)
            .await
            .unwrap();
        assert_eq!(
            (
                after.in_sync,
                after.missing,
                after.stale,
                after.missing_steps,
                after.unknown
            ),
            (4, 0, 0, 0, 1),
            "{name}: {after:?}"
        );
    }
}

/// Nine dossiers delivered; the portal then loses the 2nd and the 7th.
async fn nine_delivered_two_lost(app: &TestApp, lane: &lienthong::outbox::Lane) {
    let records: Vec<Value> = (1..=9)
        .map(|n| dossier(&code(n), "DA_NHAN", "2026-11-19 17:00:00"))
        .collect();
    ingest(app, "dossiers", Value::Array(records)).await;
    app.drain(lane).await;
    for n in [2, 7] {
        assert!(app.sim.forget(&code(n)));
    }
}

/// Drops the run (as a kill would) once `pages` pages are recorded.
struct StopAfter {
    pages: usize,
    seen: AtomicUsize,
    stop: tokio::sync::Notify,
}

impl Progress for StopAfter {
    fn page(&self, _run: &ReconcileRun) {
        if self.seen.fetch_add(1, Ordering::SeqCst) + 1 == self.pages {
            self.stop.notify_one();
        }
    }
}

#[tokio::test]
async fn a_run_killed_half_way_resumes_after_its_last_page() {
    for ts in support::stores().await {
        let name = ts.name;
        let app = support::spawn_app(ts).await;
        let lane = app.lane("reconcile-test", None);
        nine_delivered_two_lost(&app, &lane).await;
        let r = Arc::new(reconciler(
            &app,
            ReconcileConfig {
                page_size: 2,
                ..ReconcileConfig::default()
            },
        ));
        let stop = Arc::new(StopAfter {
            pages: 2,
            seen: AtomicUsize::new(0),
            stop: tokio::sync::Notify::new(),
        });
        {
            let (r, stop2) = (r.clone(), stop.clone());
            let run = async move { r.run(&params(true), &*stop2).await };
            // The stop is looked at first on every wake-up, so the run is dropped right after
            // its second page is recorded, in the middle of what follows (as a kill would).
            tokio::select! {
                biased;
                _ = stop.stop.notified() => {}
                _ = run => panic!("{name}: the run should have been stopped"),
            }
        }
        let runs = app.store.reconcile_runs(5).await.unwrap();
        assert_eq!(runs.len(), 1, "{name}");
        let cut = &runs[0];
        assert_eq!(
            (cut.state.as_str(), cut.checked),
            ("running", 4),
            "{name}: {cut:?}"
        );
        assert_eq!(cut.missing, 1, "{name}: 2 was in the first pages");

        let lookups = |app: &TestApp| {
            app.sim
                .stats()
                .requests_by_service
                .get("TraCuuHoSo")
                .copied()
                .unwrap_or(0)
        };
        // Lookups of the page the kill cut off may still reach the simulator: let them land.
        let mut lookups_before = lookups(&app);
        for _ in 0..40 {
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
            let now = lookups(&app);
            if now == lookups_before {
                break;
            }
            lookups_before = now;
        }
        let done = r
            .run(&params(true), &lienthong::reconcile::Quiet)
            .await
            .unwrap();
        assert_eq!(done.id, cut.id, "{name}: the same run goes on");
        assert_eq!(
            (
                done.state.as_str(),
                done.total,
                done.checked,
                done.missing,
                done.repaired
            ),
            ("done", 9, 9, 2, 2),
            "{name}: {done:?}"
        );
        // Only the five dossiers after the cursor were looked up again.
        assert_eq!(lookups(&app) - lookups_before, 5, "{name}");
        // Each missing dossier was queued again once.
        assert_eq!(app.count("DongBoHoSoMC", "pending").await, 2, "{name}");
        app.drain(&lane).await;
        assert!(app.sim.dossier(&code(2)).is_some() && app.sim.dossier(&code(7)).is_some());
    }
}

#[tokio::test]
async fn two_runners_of_one_run_queue_each_repair_once() {
    for ts in support::stores().await {
        let name = ts.name;
        let app = support::spawn_app(ts).await;
        let lane = app.lane("reconcile-test", None);
        nine_delivered_two_lost(&app, &lane).await;
        let r = reconciler(
            &app,
            ReconcileConfig {
                page_size: 2,
                ..ReconcileConfig::default()
            },
        );
        // The same run started twice (a second instance, a second click).
        let run = r.begin(&params(true)).await.unwrap();
        let (a, b) = tokio::join!(
            r.go(run.clone(), &lienthong::reconcile::Quiet),
            r.go(run.clone(), &lienthong::reconcile::Quiet)
        );
        assert!(a.is_ok() || b.is_ok(), "{name}: {a:?} {b:?}");
        let done = app.store.reconcile_run(&run.id).await.unwrap().unwrap();
        assert_eq!(
            (
                done.state.as_str(),
                done.checked,
                done.missing,
                done.repaired
            ),
            ("done", 9, 2, 2),
            "{name}: {done:?}"
        );
        assert_eq!(
            app.count("DongBoHoSoMC", "pending").await,
            2,
            "{name}: each repair queued once"
        );
    }
}

#[tokio::test]
async fn a_repair_is_left_out_when_the_dossier_got_a_newer_message_meanwhile() {
    for ts in support::stores().await {
        let name = ts.name;
        let app = support::spawn_app(ts).await;
        let lane = app.lane("reconcile-test", None);
        ingest(
            &app,
            "dossiers",
            json!([dossier(&code(1), "DA_NHAN", "2026-11-19 17:00:00")]),
        )
        .await;
        app.drain(&lane).await;
        let read = app
            .store
            .dossier_messages("dvcqg", &[code(1)])
            .await
            .unwrap();
        assert_eq!(read.len(), 1, "{name}");
        // A run read the dossier (its header at this position) and decided to send it again;
        // meanwhile the local system sent a newer record.
        ingest(
            &app,
            "dossiers",
            json!([dossier(&code(1), "DANG_XU_LY", "2026-11-19 17:00:00")]),
        )
        .await;
        let r = reconciler(&app, ReconcileConfig::default());
        let run = r.begin(&params(true)).await.unwrap();
        let repair = lienthong::store::NewMessage::new(
            "dvcqg",
            "DongBoHoSoMC",
            code(1),
            serde_json::from_str(&read[0].item).unwrap(),
        )
        .with_header(lienthong::store::HeaderRule::Header);
        app.store
            .reconcile_page(lienthong::store::ReconcilePage {
                run_id: &run.id,
                findings: vec![lienthong::store::ReconcileFinding {
                    run_id: run.id.clone(),
                    dossier: code(1),
                    kind: "missing".into(),
                    detail: "the portal does not know this dossier".into(),
                    repaired: true,
                    at: 0,
                }],
                repairs: vec![repair],
                seen: vec![(code(1), read[0].position)],
                from: None,
                cursor: (20261105, &code(1)),
                counts: lienthong::store::ReconcileCounts {
                    checked: 1,
                    missing: 1,
                    repaired: 1,
                    ..Default::default()
                },
                now_ms: 0,
            })
            .await
            .unwrap();
        assert_eq!(
            app.count("DongBoHoSoMC", "pending").await,
            1,
            "{name}: only the newer record is queued"
        );
        let f = &app.store.reconcile_findings(&run.id, 10).await.unwrap()[0];
        assert!(
            !f.repaired && f.detail.contains("newer message"),
            "{name}: {f:?}"
        );
        let stored = app.store.reconcile_run(&run.id).await.unwrap().unwrap();
        assert_eq!(stored.repaired, 0, "{name}");
    }
}
