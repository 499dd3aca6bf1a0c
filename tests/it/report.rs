//! The monthly service report and the overdue list on both stores, from dossiers pushed through
//! HTTP ingest and the procedure catalog pulled from the simulator: counts on a fixture month
//! equal figures worked out by hand below (a working-day deadline across a weekend and a public
//! holiday, a make-up Saturday, an apology round, a refused and a withdrawn dossier, one
//! received the month before); overdue detection at the boundary minute; the CSV for Excel;
//! satisfaction rows queued for the portal.

use chrono::TimeZone;
use lienthong::catalog::{Catalog, PullOptions, Quiet};
use lienthong::report::render::{self, Lang};
use lienthong::report::{Month, Reports};
use lienthong::sim::SimSettings;
use serde_json::{json, Value};

use crate::support::{self, TestApp};

const PROCEDURE: &str = "1.009994";
const AGENCY: &str = "000.00.56.H56";

/// A vendor-a dossier row; `finished`/`returned` are `NgayXong`/`NgayTra`.
#[allow(clippy::too_many_arguments)]
pub(crate) fn dossier(
    seq: &str,
    channel: &str,
    status: &str,
    received: &str,
    due: Option<&str>,
    finished: Option<&str>,
    returned: Option<&str>,
    digitised: u8,
) -> Value {
    let day = &received[2..10].replace('-', "");
    json!({
        "MaHoSo": format!("{AGENCY}-{day}-{seq}"),
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
        "KenhNop": channel,
        "NgayNop": received,
        "NgayNhan": received,
        "HanTra": due,
        "NgayXong": finished,
        "NgayTra": returned,
        "TinhTrang": status,
        "NhanKetQuaQuaBuuDien": 0,
        "CoSoHoa": digitised,
        "PhongXuLy": "Phòng Kinh tế",
        "CapNhatLuc": received,
        "BoSung": [],
        "LePhi": []
    })
}

/// Vietnam time to milliseconds.
fn at(y: i32, m: u32, d: u32, h: u32, min: u32) -> i64 {
    lienthong::time::vietnam()
        .with_ymd_and_hms(y, m, d, h, min, 0)
        .unwrap()
        .timestamp_millis()
}

async fn app_with_calendar(ts: support::TestStore) -> TestApp {
    let app = support::spawn_app_with(
        ts,
        SimSettings {
            procedures: 20,
            ..SimSettings::default()
        },
        |c| {
            // A public holiday on Tuesday 10 November, a make-up working Saturday on the 21st.
            c.report = toml::from_str(
                "due_soon_working_days = 2\n[calendar]\nholidays = [\"2026-11-10\"]\nmake_up_days = [\"2026-11-21\"]\n",
            )
            .unwrap();
            c.sources[0].survey_mapping =
                Some(support::mappings().join("vendor-a/survey.toml"));
        },
    )
    .await;
    // The procedure takes 5 working days.
    assert!(app
        .sim
        .catalog()
        .set_processing_time(PROCEDURE, 5, "Ngày làm việc"));
    Catalog::from_config(
        app.store.clone(),
        &app.config.peers,
        &app.config.catalog,
        |n| app.config.policy_for(n),
    )
    .unwrap()
    .pull(PullOptions::default(), &Quiet)
    .await
    .expect("catalog pulled");
    app
}

#[tokio::test]
async fn the_month_s_figures_equal_those_worked_out_by_hand() {
    for ts in support::stores().await {
        let name = ts.name;
        let app = app_with_calendar(ts).await;
        let mut c = dossier(
            "0003",
            "BUU_CHINH",
            "DA_TRA",
            "2026-11-09 08:00:00",
            Some("2026-11-20 17:00:00"),
            Some("2026-11-19 10:00:00"),
            Some("2026-11-20 09:00:00"),
            1,
        );
        // Apology on the 16th: the due date that counts stays the 16th.
        c["BoSung"] = json!([{
            "MaHoSo": c["MaHoSo"], "Lan": 1, "NoiDung": "chờ ý kiến của sở",
            "NgayYeuCau": "2026-11-16 09:00:00", "HanTraCu": "2026-11-16 17:00:00",
            "HanTraMoi": "2026-11-20 17:00:00", "LaXinLoi": 1
        }]);
        c["KetQua"] = json!([{"STT": 1, "TenGiayTo": "Giấy phép xây dựng", "MaKetQua": "KQ.GPXD",
                               "DuongDan": "https://dvc.example/kq/1.pdf"}]);
        let records = json!([
            // A: Thursday 5th + 5 working days skips the holiday: the 13th; due the 12th, done
            // the 11th: early.
            dossier(
                "0001",
                "TRUC_TIEP",
                "XONG",
                "2026-11-05 08:31:00",
                Some("2026-11-12 17:00:00"),
                Some("2026-11-11 15:00:00"),
                None,
                1
            ),
            // B: Friday 6th + 5 working days across the weekend and the holiday: Monday 16th;
            // done that day: on time.
            dossier(
                "0002",
                "TRUC_TUYEN",
                "XONG",
                "2026-11-06 10:00:00",
                Some("2026-11-16 17:00:00"),
                Some("2026-11-16 15:00:00"),
                None,
                1
            ),
            // C: due the 16th, apologised, done the 19th: late (and its result is a file).
            c,
            // D: refused at reception.
            dossier(
                "0004",
                "TRUC_TIEP",
                "TU_CHOI",
                "2026-11-12 09:00:00",
                None,
                None,
                None,
                0
            ),
            // E: withdrawn.
            dossier(
                "0005",
                "TRUC_TIEP",
                "RUT",
                "2026-11-13 09:00:00",
                Some("2026-11-20 17:00:00"),
                Some("2026-11-18 08:00:00"),
                None,
                0
            ),
            // F: still being processed, due Monday 9th at 17:00: overdue, no apology.
            dossier(
                "0006",
                "TRUC_TIEP",
                "DANG_XU_LY",
                "2026-11-02 08:00:00",
                Some("2026-11-09 17:00:00"),
                None,
                None,
                1
            ),
            // G: Monday 16th + 5 working days counts the make-up Saturday: the 21st; its own
            // due date, the 23rd, is beyond that; done the 24th: late.
            dossier(
                "0007",
                "TRUC_TIEP",
                "XONG",
                "2026-11-16 08:00:00",
                Some("2026-11-23 17:00:00"),
                Some("2026-11-24 10:00:00"),
                None,
                0
            ),
            // H: received in October, done on its due day in November: on time, not received.
            dossier(
                "0008",
                "TRUC_TIEP",
                "XONG",
                "2026-10-28 08:00:00",
                Some("2026-11-04 17:00:00"),
                Some("2026-11-04 16:59:00"),
                None,
                0
            ),
        ]);
        let (status, body) = app.post("dossiers", &records).await;
        assert_eq!(status, 202, "{name}: {body}");
        assert_eq!(body["rejected"], json!([]), "{name}: {body}");
        let (status, body) = app
            .post(
                "surveys",
                &json!([{"Thang": 11, "Nam": 2026, "MaThuTucLocal": "TTHC-TH-0412",
                         "MaDonVi": AGENCY, "TenDonVi": "UBND xã Quảng Phú", "SoLuotDanhGia": 40,
                         "TyLeRatHaiLong": 65, "TyLeHaiLong": 30, "TyLeChuaHaiLong": 5}]),
            )
            .await;
        assert_eq!(status, 202, "{name}: {body}");
        assert_eq!(body["rejected"], json!([]), "{name}: {body}");
        assert_eq!(app.count("DongBoDanhGia", "pending").await, 1, "{name}");
        // The portal receives it through the outbox.
        let policy = app.config.policy_for("dvcqg");
        let surveys = lienthong::outbox::Lane::new(
            app.store.clone(),
            std::sync::Arc::new(
                lienthong::peer::dvcqg::DvcqgPeer::new(
                    app.config.peers.dvcqg.as_ref().unwrap(),
                    policy.timeout(),
                )
                .unwrap(),
            ),
            vec!["DongBoDanhGia".into()],
            policy,
            "report-test".into(),
            std::sync::Arc::new(tokio::sync::Notify::new()),
        )
        .unwrap();
        // (The dossiers' headers stay queued: this lane takes only the satisfaction rows.)
        for _ in 0..200 {
            if app.count("DongBoDanhGia", "delivered").await == 1 {
                break;
            }
            surveys.try_execute().await.unwrap();
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        }
        assert_eq!(app.count("DongBoDanhGia", "delivered").await, 1, "{name}");
        let held = app.sim.surveys();
        assert_eq!(held.len(), 1, "{name}");
        assert_eq!(held[0]["NgayTongHop"], "11-2026", "{name}");
        assert_eq!(held[0]["PhanTramDanhGiaRatHaiLong"], "65%", "{name}");

        let reports = Reports::new(app.store.clone(), app.config.report.clone());
        let now = at(2026, 11, 30, 18, 0);
        let r = reports
            .month(Month::parse("2026-11").unwrap(), None, now)
            .await
            .unwrap();
        assert_eq!(r.lines.len(), 1, "{name}: {r:?}");
        let l = &r.lines[0];
        assert_eq!(
            (l.agency.as_str(), l.procedure.as_str()),
            (AGENCY, PROCEDURE)
        );
        assert_eq!(
            (
                l.received.total,
                l.received.in_person,
                l.received.online,
                l.received.postal
            ),
            (7, 5, 1, 1),
            "{name}"
        );
        assert_eq!(
            (
                l.resolved.total,
                l.resolved.early,
                l.resolved.on_time,
                l.resolved.late,
                l.resolved.undated
            ),
            (5, 1, 2, 2, 0),
            "{name}: {:?}",
            l.resolved
        );
        assert_eq!(l.on_time_pct, Some(60.0), "{name}");
        assert_eq!((l.refused, l.withdrawn, l.stopped), (1, 1, 0), "{name}");
        assert_eq!(l.in_progress, 1, "{name}: F only");
        // Overdue now (codes.md: not terminal, appointment passed): F, and the ones finished (9)
        // but not handed over by their appointment: A, B, G, H.
        assert_eq!((l.overdue_now, l.overdue_with_apology), (5, 0), "{name}");
        assert_eq!(l.beyond_statutory, 1, "{name}: G only");
        assert_eq!(
            (l.digitised_inputs, l.digitised_inputs_pct),
            (4, Some(57.14)),
            "{name}"
        );
        assert_eq!(
            (l.digitised_results, l.digitised_results_pct),
            (1, Some(20.0)),
            "{name}"
        );
        let s = l.satisfaction.as_ref().expect("satisfaction");
        assert_eq!(
            (s.respondents, s.very_satisfied.as_str()),
            (40, "65%"),
            "{name}"
        );
        assert_eq!(r.total.received.total, 7, "{name}");

        // Another agency's view is empty; October has H only.
        let other = reports
            .month(Month::parse("2026-11").unwrap(), Some("000.00.99.H56"), now)
            .await
            .unwrap();
        assert!(other.lines.is_empty(), "{name}");
        let october = reports
            .month(Month::parse("2026-10").unwrap(), None, now)
            .await
            .unwrap();
        assert_eq!(october.total.received.total, 1, "{name}");
        assert_eq!(
            october.total.in_progress, 1,
            "{name}: H was open at October's end"
        );

        let csv = render::csv(&r, Lang::Vi).unwrap();
        assert!(csv.starts_with(b"\xEF\xBB\xBF"), "{name}");
        let text = String::from_utf8(csv[3..].to_vec()).unwrap();
        assert!(
            text.contains(&format!("{AGENCY},{PROCEDURE},7,5,1,1,5,1,2,2,60.00")),
            "{name}: {text}"
        );
    }
}

#[tokio::test]
async fn overdue_at_the_boundary_minute_and_apologies_marked() {
    for ts in support::stores().await {
        let name = ts.name;
        let app = app_with_calendar(ts).await;
        let mut apologised = dossier(
            "0012",
            "TRUC_TIEP",
            "DANG_XU_LY",
            "2026-11-02 08:00:00",
            Some("2026-11-13 17:00:00"),
            None,
            None,
            0,
        );
        apologised["BoSung"] = json!([{
            "MaHoSo": apologised["MaHoSo"], "Lan": 1, "NoiDung": "chờ kết quả thẩm định",
            "NgayYeuCau": "2026-11-09 09:00:00", "HanTraCu": "2026-11-09 17:00:00",
            "HanTraMoi": "2026-11-13 17:00:00", "LaXinLoi": 1
        }]);
        let records = json!([
            dossier(
                "0011",
                "TRUC_TIEP",
                "DANG_XU_LY",
                "2026-11-02 08:00:00",
                Some("2026-11-09 17:00:00"),
                None,
                None,
                0
            ),
            apologised,
            // Due Wednesday 11th: within two working days of Monday 9th (the 10th is a
            // holiday), so "due soon".
            dossier(
                "0013",
                "TRUC_TIEP",
                "DANG_XU_LY",
                "2026-11-04 08:00:00",
                Some("2026-11-11 17:00:00"),
                None,
                None,
                0
            ),
            // Finished (9) before its due date: not overdue.
            dossier(
                "0014",
                "TRUC_TIEP",
                "XONG",
                "2026-11-02 08:00:00",
                Some("2026-11-05 17:00:00"),
                Some("2026-11-04 08:00:00"),
                None,
                0
            ),
        ]);
        let (status, body) = app.post("dossiers", &records).await;
        assert_eq!(
            (status, body["rejected"].clone()),
            (202, json!([])),
            "{name}: {body}"
        );
        let reports = Reports::new(app.store.clone(), app.config.report.clone());
        let code = |s: &str| format!("{AGENCY}-261102-{s}");

        // At 17:00 sharp on the 9th the dossier due then is not overdue yet, only "due soon"
        // (with the one due on the 11th: two working days ahead, the 10th being a holiday); the
        // one finished (9) but not returned by its appointment on the 5th is overdue, as
        // codes.md says (9 is not terminal). The apologised one's appointment is the 13th.
        let due = at(2026, 11, 9, 17, 0);
        assert_eq!(
            reports.overdue_counts(due, None).await.unwrap(),
            (1, 1),
            "{name}"
        );
        let list = reports.overdue(None, due, 100).await.unwrap();
        let states: Vec<(String, &str)> =
            list.iter().map(|d| (d.dossier.clone(), d.state)).collect();
        assert_eq!(
            states,
            vec![
                (code("0014"), "overdue"),
                (code("0011"), "due_soon"),
                (format!("{AGENCY}-261104-0013"), "due_soon"),
            ],
            "{name}"
        );
        // One minute later it is overdue, without an apology.
        let after = due + 60_000;
        assert_eq!(
            reports.overdue_counts(after, None).await.unwrap(),
            (2, 2),
            "{name}"
        );
        assert_eq!(
            reports
                .overdue_counts(after, Some("000.00.99.H56"))
                .await
                .unwrap(),
            (0, 0),
            "{name}: another agency's"
        );
        // Once the new appointment of the apologised one has passed too, it is overdue and
        // marked: the count without an apology does not take it.
        let later = at(2026, 11, 13, 17, 1);
        assert_eq!(
            reports.overdue_counts(later, None).await.unwrap(),
            (4, 3),
            "{name}"
        );
        let list = reports.overdue(None, later, 100).await.unwrap();
        let apologised = list.iter().find(|d| d.dossier == code("0012")).unwrap();
        assert_eq!(
            (apologised.state, apologised.apologies),
            ("overdue", 1),
            "{name}"
        );
        assert_eq!(apologised.appointment, "20261113170000", "{name}");
        assert_eq!(
            apologised.due, "20261109170000",
            "{name}: lateness still counts from here"
        );
        // Working days late skip the holiday: from Monday 9th to Friday 13th, three.
        let list = reports
            .overdue(None, at(2026, 11, 13, 9, 0), 100)
            .await
            .unwrap();
        let first = list.iter().find(|d| d.dossier == code("0011")).unwrap();
        assert_eq!(first.working_days_late, 3, "{name}: {first:?}");
    }
}
