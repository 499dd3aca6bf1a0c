//! HTTP ingest as a local system sees it: precise answers, nothing stored for refused bodies,
//! bad records quarantined while good ones go on, idempotency, waiting steps.

use serde_json::{json, Value};

use crate::support::{local_records, postgres, spawn_app, sqlite, stores, TOKEN};

#[tokio::test]
async fn unreadable_bodies_are_refused_with_a_reason_and_nothing_is_stored() {
    let app = spawn_app(sqlite().await).await;
    let (dossiers, _) = local_records(1, 1);
    let good = serde_json::to_vec(&dossiers).unwrap();
    let deep = "[".repeat(64) + "{}" + &"]".repeat(64);
    // (case, body, token, expected status, the answer must say)
    type Case<'a> = (&'a str, Vec<u8>, Option<&'a str>, u16, &'a str);
    let cases: Vec<Case> = vec![
        (
            "not JSON",
            b"<HoSo>".to_vec(),
            Some(TOKEN),
            400,
            "not valid JSON",
        ),
        (
            "truncated",
            b"[{\"MaHoSo\": ".to_vec(),
            Some(TOKEN),
            400,
            "not valid JSON",
        ),
        (
            "duplicate key",
            br#"{"MaHoSo": "a", "MaHoSo": "b"}"#.to_vec(),
            Some(TOKEN),
            400,
            "duplicate key \"MaHoSo\"",
        ),
        (
            "too deep",
            deep.into_bytes(),
            Some(TOKEN),
            400,
            "deeper than 64",
        ),
        (
            "a number",
            b"42".to_vec(),
            Some(TOKEN),
            400,
            "object or an array of objects",
        ),
        (
            "array of strings",
            b"[\"x\"]".to_vec(),
            Some(TOKEN),
            400,
            "element 0 is not an object",
        ),
        (
            "wrong token",
            good.clone(),
            Some("nope"),
            401,
            "bearer token",
        ),
        ("no token", good.clone(), None, 401, "bearer token"),
        (
            "too large",
            vec![b' '; 65_537],
            Some(TOKEN),
            413,
            "limit of 65536 bytes",
        ),
        (
            "too many records",
            serde_json::to_vec(&vec![json!({}); 101]).unwrap(),
            Some(TOKEN),
            413,
            "limit of 100 per request",
        ),
    ];
    for (name, body, token, status, says) in cases {
        let (got, answer) = app.post_raw("dossiers", body, token, &[]).await;
        assert_eq!(got, status, "{name}: {answer}");
        let msg = answer["error"].as_str().unwrap_or_default();
        assert!(msg.contains(says), "{name}: {msg}");
    }
    assert!(app.counts().await.is_empty(), "nothing queued");
    assert_eq!(
        app.store.quarantine_count().await.unwrap(),
        0,
        "nothing quarantined"
    );

    // A body of exactly the limit is allowed.
    let mut exact = good.clone();
    exact.resize(65_536, b' ');
    let (got, answer) = app.post_raw("dossiers", exact, Some(TOKEN), &[]).await;
    assert_eq!(got, 202, "{answer}");
    assert_eq!(answer["accepted"].as_array().unwrap().len(), 1);
}

fn with(mut record: Value, field: &str, value: Value) -> Value {
    record[field] = value;
    record
}

#[tokio::test]
async fn bad_records_are_rejected_precisely_and_the_rest_go_on() {
    for ts in stores().await {
        let app = spawn_app(ts).await;
        let (d, _) = local_records(2, 7);
        let processing = with(d[2].clone(), "TinhTrang", json!("DANG_XU_LY"));
        let body = json!([
            d[0],
            with(d[1].clone(), "TinhTrang", json!({"ma": "XONG"})),
            with(processing, "NgayNhan", json!("05/13/2026 08:00:00")),
            with(d[3].clone(), "MaThuTucLocal", json!("TTHC-KHONG-CO")),
            with(d[4].clone(), "NguoiNop", json!("   ")),
            with(d[5].clone(), "HanTra", json!("2026-10-01 17:00:00")),
            // An optional date that cannot be read is left out with a warning.
            with(d[6].clone(), "NgayNop", json!("05/13/2026 08:00:00")),
        ]);
        let (status, answer) = app.post("dossiers", &body).await;
        assert_eq!(status, 202, "{answer}");
        let accepted = answer["accepted"].as_array().unwrap();
        assert_eq!(accepted.len(), 2, "{answer}");
        assert_eq!(accepted[0]["index"], 0);
        assert_eq!(accepted[1]["index"], 6);
        let warning = accepted[1]["warnings"][0].as_str().unwrap();
        assert!(
            warning.contains("NgayNopHoSo (from NgayNop)") && warning.contains("left out"),
            "{warning}"
        );
        let errors: Vec<(u64, String)> = answer["rejected"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| {
                (
                    r["index"].as_u64().unwrap(),
                    r["error"].as_str().unwrap().to_string(),
                )
            })
            .collect();
        // Each names the portal's field and the record's field it was read from.
        let expect = [
            (1, vec!["TrangThaiHoSo (from TinhTrang)"]),
            (
                2,
                vec![
                    "NgayTiepNhan (from NgayNhan): value \"05/13/2026 08:00:00\"",
                    "not a date",
                ],
            ),
            (
                3,
                vec!["MaTTHC (from MaThuTucLocal): value \"TTHC-KHONG-CO\""],
            ),
            (4, vec!["ChuHoSo (from NguoiNop): missing"]),
            (5, vec!["NgayHenTra (from HanTra)", "before"]),
        ];
        assert_eq!(errors.len(), expect.len(), "{answer}");
        for ((index, error), (want_index, words)) in errors.iter().zip(expect) {
            assert_eq!(*index, want_index);
            for w in words {
                assert!(
                    error.contains(w),
                    "record {index}: {error:?} should name {w:?}"
                );
            }
        }
        // The applicant's name never appears in an error.
        let name = d[4]["NguoiNop"].as_str().unwrap().to_string();
        assert!(!answer.to_string().contains(&name));
        assert_eq!(app.store.quarantine_count().await.unwrap(), 5);
        assert_eq!(app.count("DongBoHoSoMC", "pending").await, 2);
    }
}

#[tokio::test]
async fn idempotency_key_returns_the_first_answer_and_stores_nothing_twice() {
    let app = spawn_app(sqlite().await).await;
    let (d, _) = local_records(3, 2);
    let body = serde_json::to_vec(&d).unwrap();
    let key = [("idempotency-key", "lo-2026-11-05-0001")];
    let (s1, a1) = app
        .post_raw("dossiers", body.clone(), Some(TOKEN), &key)
        .await;
    let (s2, a2) = app
        .post_raw("dossiers", body.clone(), Some(TOKEN), &key)
        .await;
    assert_eq!((s1, s2), (202, 202));
    assert_eq!(a1, a2, "same answer, same gateway ids");
    assert_eq!(app.count("DongBoHoSoMC", "pending").await, 2, "stored once");
    let other = serde_json::to_vec(&d[..1]).unwrap();
    let (s3, a3) = app.post_raw("dossiers", other, Some(TOKEN), &key).await;
    assert_eq!(s3, 409, "{a3}");
    assert!(a3["error"].as_str().unwrap().contains("different body"));
    assert_eq!(app.count("DongBoHoSoMC", "pending").await, 2);
}

#[tokio::test]
async fn a_step_before_its_dossier_waits_and_goes_after_it() {
    for ts in stores().await {
        let app = spawn_app(ts).await;
        let (d, s) = local_records(4, 1);
        let (status, answer) = app.post("steps", &json!(s)).await;
        assert_eq!(status, 202, "{answer}");
        for a in answer["accepted"].as_array().unwrap() {
            assert_eq!(a["warnings"], json!(["waiting for dossier"]), "{answer}");
        }
        let lane = app.lane("t", None);
        app.drain(&lane).await;
        assert_eq!(
            app.sim.dossier_count(),
            0,
            "no step goes before its dossier"
        );
        let (status, _) = app.post("dossiers", &d[0]).await;
        assert_eq!(status, 202);
        app.drain(&lane).await;
        let code = d[0]["MaHoSo"].as_str().unwrap();
        let events = app.sim.events(code);
        assert_eq!(events.len(), 1 + s.len(), "{events:?}");
        assert!(matches!(events[0].kind, lienthong::sim::EventKind::Create));
        let times: Vec<_> = events[1..]
            .iter()
            .map(|e| e.thoi_diem.clone().unwrap())
            .collect();
        let mut sorted = times.clone();
        sorted.sort();
        assert_eq!(times, sorted, "steps in time order");
    }
}

/// A database that refuses connections (taken down by its administrator) is a real outage:
/// ingest answers 503 with Retry-After and stores nothing, then resumes by itself.
/// (SQLite cannot be taken away from under a process running as root, so this runs on
/// PostgreSQL, which CI always provides.)
#[tokio::test]
async fn a_store_outage_answers_503_and_ingest_resumes_by_itself() {
    let Some(ts) = postgres().await else {
        return;
    };
    let db = ts.pg_database.clone().unwrap();
    let base = std::env::var("LIENTHONG_TEST_DATABASE_URL").unwrap();
    let admin = sqlx::PgPool::connect(&base).await.unwrap();
    let app = spawn_app(ts).await;
    let (d, _) = local_records(15, 2);

    sqlx::query(&format!("ALTER DATABASE {db} ALLOW_CONNECTIONS false"))
        .execute(&admin)
        .await
        .unwrap();
    sqlx::query("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1")
        .bind(&db)
        .execute(&admin)
        .await
        .unwrap();
    let resp = app
        .client
        .post(format!("{}/ingest/v1/tinh/dossiers", app.base))
        .bearer_auth(TOKEN)
        .json(&d[0])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 503);
    assert_eq!(resp.headers()["retry-after"], "5");
    let body: Value = resp.json().await.unwrap();
    assert!(
        body["error"]
            .as_str()
            .unwrap()
            .contains("nothing was stored"),
        "{body}"
    );

    sqlx::query(&format!("ALTER DATABASE {db} ALLOW_CONNECTIONS true"))
        .execute(&admin)
        .await
        .unwrap();
    let (status, answer) = app.post("dossiers", &d[1]).await;
    assert_eq!(status, 202, "{answer}");
    assert_eq!(
        app.count("DongBoHoSoMC", "pending").await,
        1,
        "only the second was stored"
    );
}

#[tokio::test]
async fn xml_exports_are_read_safely() {
    let app = crate::support::spawn_app_with(sqlite().await, Default::default(), |c| {
        c.sources[0].xml_record_element = Some("HoSo".into());
    })
    .await;
    let (d, _) = local_records(16, 2);
    let records: String = d
        .iter()
        .map(|r| {
            let inner: String = FLAT_COLUMNS
                .iter()
                .map(|k| {
                    let v = flat_value(r, k).replace('&', "&amp;").replace('<', "&lt;");
                    format!("<x:{k}>{v}</x:{k}>")
                })
                .collect();
            format!("<x:HoSo>{inner}</x:HoSo>")
        })
        .collect();
    let doc = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?><x:DanhSachHoSo xmlns:x=\"urn:vendor\">{records}</x:DanhSachHoSo>"
    );
    let xml = [("content-type", "application/xml; charset=utf-8")];
    let (status, answer) = app
        .post_raw("dossiers", doc.into_bytes(), Some(TOKEN), &xml)
        .await;
    assert_eq!(status, 202, "{answer}");
    assert_eq!(answer["accepted"].as_array().unwrap().len(), 2, "{answer}");

    let hostile = [
        (
            "<!DOCTYPE a [<!ENTITY b \"bbbb\">]><DanhSachHoSo>&b;</DanhSachHoSo>",
            "DOCTYPE",
        ),
        (
            "<?xml version=\"1.0\" encoding=\"windows-1258\"?><a/>",
            "windows-1258",
        ),
        ("<DanhSachHoSo><HoSo></DanhSachHoSo>", "not well-formed"),
    ];
    for (doc, says) in hostile {
        let (status, answer) = app
            .post_raw("dossiers", doc.as_bytes().to_vec(), Some(TOKEN), &xml)
            .await;
        assert_eq!(status, 400, "{doc}: {answer}");
        let msg = answer["error"].as_str().unwrap();
        assert!(msg.contains(says), "{doc}: {msg}");
    }
    assert_eq!(
        app.count("DongBoHoSoMC", "pending").await,
        2,
        "nothing stored for refused bodies"
    );
}

#[tokio::test]
async fn one_source_sends_dossiers_and_steps_as_xml_each_with_its_record_element() {
    let app = crate::support::spawn_app_with(sqlite().await, Default::default(), |c| {
        c.sources[0].xml_record_elements = [("dossiers", "HoSo"), ("steps", "QuaTrinhXuLy")]
            .map(|(kind, element)| (kind.to_string(), element.to_string()))
            .into();
    })
    .await;
    let (d, s) = local_records(21, 2);
    let xml = [("content-type", "application/xml")];
    let dossiers = xml_export("DanhSachHoSo", "HoSo", &d, &FLAT_COLUMNS);
    let steps = xml_export("DanhSachQuaTrinh", "QuaTrinhXuLy", &s, &STEP_COLUMNS);

    // Each body sent to the other kind holds none of that kind's records.
    for (kind, doc, says) in [
        (
            "steps",
            &dossiers,
            "no <QuaTrinhXuLy> record element in the document (root element <DanhSachHoSo>)",
        ),
        (
            "dossiers",
            &steps,
            "no <HoSo> record element in the document (root element <DanhSachQuaTrinh>)",
        ),
    ] {
        let (status, answer) = app
            .post_raw(kind, doc.clone().into_bytes(), Some(TOKEN), &xml)
            .await;
        assert_eq!(status, 400, "{kind}: {answer}");
        assert_eq!(answer["error"], says, "{kind}");
    }
    assert!(app.counts().await.is_empty(), "nothing queued");
    assert_eq!(
        app.store.quarantine_count().await.unwrap(),
        0,
        "nothing kept"
    );

    let (status, answer) = app
        .post_raw("dossiers", dossiers.into_bytes(), Some(TOKEN), &xml)
        .await;
    assert_eq!(status, 202, "{answer}");
    assert_eq!(answer["accepted"].as_array().unwrap().len(), 2, "{answer}");
    let (status, answer) = app
        .post_raw("steps", steps.into_bytes(), Some(TOKEN), &xml)
        .await;
    assert_eq!(status, 202, "{answer}");
    assert_eq!(
        answer["accepted"].as_array().unwrap().len(),
        s.len(),
        "{answer}"
    );
    assert_eq!(answer["rejected"], json!([]), "{answer}");
    assert_eq!(app.count("DongBoHoSoMC", "pending").await, 2);
    assert_eq!(
        app.count("CapNhatTienDoHoSoMC", "pending").await,
        i64::try_from(s.len()).unwrap()
    );

    // A kind with no element named and no xml_record_element takes no XML.
    let (status, answer) = app
        .post_raw("surveys", b"<DanhGia/>".to_vec(), Some(TOKEN), &xml)
        .await;
    assert_eq!(status, 415, "{answer}");
    let msg = answer["error"].as_str().unwrap();
    assert!(msg.contains("xml_record_elements.surveys"), "{msg}");
}

#[tokio::test]
async fn xml_text_reaches_the_stored_record_and_message_as_sent() {
    // `xml_record_element` alone still serves every kind.
    let app = crate::support::spawn_app_with(sqlite().await, Default::default(), |c| {
        c.sources[0].xml_record_element = Some("HoSo".into());
    })
    .await;
    let (mut d, _) = local_records(22, 1);
    let summary = "Cấp giấy phép xây dựng nhà ở riêng lẻ tại đô thị, "
        .repeat(25)
        .chars()
        .take(999)
        .collect::<String>()
        + " ";
    assert_eq!(summary.chars().count(), 1000);
    d[0]["TrichYeu"] = json!(summary);
    let doc = xml_export("DanhSachHoSo", "HoSo", &d, &FLAT_COLUMNS);
    let xml = [("content-type", "application/xml")];
    let (status, answer) = app
        .post_raw("dossiers", doc.into_bytes(), Some(TOKEN), &xml)
        .await;
    assert_eq!(status, 202, "{answer}");
    assert_eq!(answer["accepted"].as_array().unwrap().len(), 1, "{answer}");

    let listed = app
        .store
        .list_messages(&lienthong::store::MessageFilter {
            dossier: d[0]["MaHoSo"].as_str().map(str::to_string),
            limit: 10,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(listed.len(), 1);
    let shown = app.store.message(listed[0].id).await.unwrap().unwrap();
    let record = shown.record.expect("the record is kept");
    assert_eq!(record["TrichYeu"], summary, "the record as received");
    let queued = shown.item["TrichYeuHoSo"].as_str().unwrap();
    assert_eq!(queued, summary, "the queued item");
    assert_eq!(queued.chars().count(), 1000);
    assert!(
        !shown.warnings.iter().any(|w| w.contains("TrichYeuHoSo")),
        "{:?}",
        shown.warnings
    );
}

#[tokio::test]
async fn xml_that_is_not_well_formed_xml_1_0_is_refused_at_its_position() {
    let app = crate::support::spawn_app_with(sqlite().await, Default::default(), |c| {
        c.sources[0].xml_record_element = Some("HoSo".into());
    })
    .await;
    let (d, _) = local_records(23, 1);
    let good = xml_export("DanhSachHoSo", "HoSo", &d, &FLAT_COLUMNS);
    let xml = [("content-type", "application/xml")];
    // `TrichYeu` is on line 7: the declaration, the root, the record, then a line a column.
    let broken = |with: &str| good.replacen("</TrichYeu>", &format!("{with}</TrichYeu>"), 1);
    for (bad, says) in [
        (
            broken("\0"),
            "the character U+0000 is not allowed in XML 1.0",
        ),
        (
            broken("&#0;"),
            "the character reference &#0; stands for U+0000, which XML 1.0 does not allow",
        ),
        (
            broken("&#x1F;"),
            "the character reference &#x1F; stands for U+001F, which XML 1.0 does not allow",
        ),
        (
            broken("]]>"),
            "`]]>` may not appear in text outside a CDATA section",
        ),
    ] {
        let (status, answer) = app
            .post_raw("dossiers", bad.clone().into_bytes(), Some(TOKEN), &xml)
            .await;
        assert_eq!(status, 400, "{bad:?}: {answer}");
        let msg = answer["error"].as_str().unwrap();
        assert!(
            msg.starts_with("the body is not well-formed XML at line 7, column "),
            "{msg}"
        );
        assert!(msg.contains(says), "{msg}");
    }
    assert!(app.counts().await.is_empty(), "nothing queued");
    assert_eq!(
        app.store.quarantine_count().await.unwrap(),
        0,
        "nothing kept"
    );
    let (status, answer) = app
        .post_raw("dossiers", good.into_bytes(), Some(TOKEN), &xml)
        .await;
    assert_eq!(status, 202, "the same body without the fault: {answer}");
}

/// `records` as an export writes them: `<{root}>` holding one `<{element}>` per record with a
/// child element per column (text escaped), indented, one element a line.
fn xml_export(root: &str, element: &str, records: &[Value], columns: &[&str]) -> String {
    let mut doc = format!("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<{root}>\n");
    for r in records {
        doc += &format!("  <{element}>\n");
        for k in columns {
            let v = flat_value(r, k).replace('&', "&amp;").replace('<', "&lt;");
            doc += &format!("    <{k}>{v}</{k}>\n");
        }
        doc += &format!("  </{element}>\n");
    }
    doc + &format!("</{root}>\n")
}

/// The vendor-a step columns.
const STEP_COLUMNS: [&str; 9] = [
    "MaHoSo",
    "Buoc",
    "NguoiXuLy",
    "ChucVu",
    "PhongBan",
    "NoiDung",
    "TinhTrang",
    "ThoiDiem",
    "HanXuLy",
];

#[tokio::test]
async fn csv_exports_are_read_with_their_header() {
    let app = spawn_app(sqlite().await).await;
    let (d, _) = local_records(18, 3);
    let cell = |r: &Value, k: &str| format!("\"{}\"", flat_value(r, k).replace('"', "\"\""));
    let mut body = FLAT_COLUMNS.join(",") + "\r\n";
    for r in &d {
        body += &FLAT_COLUMNS
            .iter()
            .map(|c| cell(r, c))
            .collect::<Vec<_>>()
            .join(",");
        body += "\r\n";
    }
    let csv = [("content-type", "text/csv; charset=utf-8")];
    let (status, answer) = app
        .post_raw("dossiers", body.into_bytes(), Some(TOKEN), &csv)
        .await;
    assert_eq!(status, 202, "{answer}");
    assert_eq!(answer["accepted"].as_array().unwrap().len(), 3, "{answer}");
    let (status, answer) = app
        .post_raw("dossiers", b"a,b\n1,2,3\n".to_vec(), Some(TOKEN), &csv)
        .await;
    assert_eq!(status, 400);
    assert_eq!(
        answer["error"],
        "CSV line 2: 3 fields where the header has 2"
    );
}

/// The vendor-a dossier columns that a flat export (XML elements, CSV columns) carries.
pub const FLAT_COLUMNS: [&str; 18] = [
    "MaHoSo",
    "MaThuTucLocal",
    "TenThuTuc",
    "TrichYeu",
    "NguoiNop",
    "SoGiayTo",
    "DienThoai",
    "LoaiNguoiNop",
    "KenhNop",
    "NgayNop",
    "NgayNhan",
    "HanTra",
    "NgayXong",
    "NgayTra",
    "TinhTrang",
    "NhanKetQuaQuaBuuDien",
    "CoSoHoa",
    "PhongXuLy",
];

/// A record's value as an export writes it: text as is, no value as empty, numbers as digits.
pub fn flat_value(record: &Value, column: &str) -> String {
    match &record[column] {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}
