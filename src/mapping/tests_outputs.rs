//! Tests of the survey, postal-order and sync-document targets, the JSON Schema check and the
//! XML rendering: exact outputs of the shipped vendor-a mappings, the MSyncDocument rules of
//! dvcqg.md ("Legacy XML route"), escaping and XML 1.0 characters.

use std::path::PathBuf;

use serde_json::{json, Value};

use super::*;

fn vendor_a(file: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("mappings/vendor-a")
        .join(file)
}

fn load(file: &str) -> Mapping {
    Mapping::load(&vendor_a(file)).unwrap_or_else(|e| panic!("{file} loads: {e}"))
}

fn vars() -> Vars {
    [
        ("DonViXuLy", "Ủy ban nhân dân xã Quảng Phú"),
        ("CustomerCode", "C00330117"),
        (
            "DiaChiDonVi",
            "Trụ sở Ủy ban nhân dân xã Quảng Phú, thôn Trung, xã Quảng Phú",
        ),
        ("DienThoaiDonVi", "0237.391.2468"),
        ("EmailDonVi", "motcua.quangphu@example.com"),
        ("MaTinhBuuChinh", "40"),
        ("MaHuyenBuuChinh", "4016"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect()
}

fn map_ok(m: &Mapping, r: &Value) -> Mapped {
    m.map(r, &vars())
        .unwrap_or_else(|e| panic!("rejected: {e}"))
}

fn map_err(m: &Mapping, r: &Value) -> Rejection {
    match m.map(r, &vars()) {
        Ok(x) => panic!("accepted: {:?}", x.item),
        Err(e) => e,
    }
}

fn with(mut r: Value, key: &str, v: Value) -> Value {
    r[key] = v;
    r
}

fn has_issue(issues: &[FieldIssue], field: &str) -> bool {
    issues.iter().any(|i| i.field == field)
}

/// A household-business registration being processed, after an apology round: quotes, `&` and
/// `<` in its summary and note.
fn in_progress() -> Value {
    json!({
        "MaHoSo": "000.00.56.H56-261028-0004",
        "MaThuTucLocal": "TTHC-TH-0101",
        "TenThuTuc": "Đăng ký thành lập hộ kinh doanh",
        "TrichYeu": "Đăng ký thành lập hộ kinh doanh \"Tạp hóa Minh & Anh\" tại số nhà 46, thôn Nam, xã Quảng Phú; ngành nghề: bán lẻ hàng tạp hóa, vốn kinh doanh < 100 triệu đồng",
        "NguoiNop": "Phạm Văn Minh",
        "SoGiayTo": "038090004517",
        "DienThoai": "098 321 7465",
        "Email": "phamvanminh90@example.com",
        "DiaChi": "Số nhà 46, thôn Nam, xã Quảng Phú",
        "MaXa": "16012",
        "LoaiNguoiNop": "CD",
        "KenhNop": "TRUC_TUYEN",
        "NgayNop": "2026-10-28 21:47:00",
        "NgayNhan": "2026-10-29 08:12:00",
        "HanTra": "2026-11-09 17:00:00",
        "NgayXong": "",
        "NgayTra": null,
        "TinhTrang": "DANG_XU_LY",
        "NhanKetQuaQuaBuuDien": 0,
        "CoSoHoa": 1,
        "GhiChu": "Đã bổ sung hồ sơ ngày 02/11/2026 (hợp đồng thuê trang 1 & 2); xin lỗi và hẹn lại ngày trả kết quả: 09/11/2026 thay cho 04/11/2026 'có giấy hẹn'",
        "BoSung": [
            {"Lan": 1, "NoiDung": "Bổ sung hợp đồng thuê", "NgayYeuCau": "2026-10-30 14:30:00"}
        ],
        "LePhi": [
            {"MaPhi": "LP.HKD.01", "TenPhi": "Lệ phí đăng ký hộ kinh doanh (nộp trực tuyến)",
             "SoTien": 50000, "LoaiPhi": 1, "ThuKhi": 1}
        ]
    })
}

/// A building permit whose processing finished (XONG), result not yet handed over.
fn finished() -> Value {
    json!({
        "MaHoSo": "000.00.56.H56-261105-0007",
        "MaThuTucLocal": "TTHC-TH-0412",
        "TenThuTuc": "Cấp giấy phép xây dựng mới đối với nhà ở riêng lẻ",
        "TrichYeu": "Xin cấp phép xây dựng nhà ở riêng lẻ tại thôn Đông",
        "NguoiNop": "Nguyễn Thị Hoa",
        "SoGiayTo": "038186001234",
        "DienThoai": "0912345678",
        "Email": "hoa.nt@example.com",
        "DiaChi": "Thôn Đông, xã Quảng Phú",
        "MaXa": "16012",
        "LoaiNguoiNop": "CD",
        "KenhNop": "BUU_CHINH",
        "NgayNop": "2026-11-05 08:20:00",
        "NgayNhan": "2026-11-05 08:31:00",
        "HanTra": "2026-11-19 17:00:00",
        "NgayXong": "2026-11-12 16:20:00",
        "NgayTra": null,
        "TinhTrang": "XONG",
        "NhanKetQuaQuaBuuDien": 1,
        "CoSoHoa": 0,
        "BoSung": [],
        "LePhi": [
            {"MaPhi": "LP.GPXD.01", "TenPhi": "Lệ phí cấp giấy phép xây dựng nhà ở riêng lẻ",
             "SoTien": 75000, "LoaiPhi": 2, "ThuKhi": 1}
        ]
    })
}

const IN_PROGRESS_XML: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<MSyncDocument>
  <DocCode>000.00.56.H56-261028-0004</DocCode>
  <DocTypeCode>1.001612</DocTypeCode>
  <DocTypeName>Đăng ký thành lập hộ kinh doanh</DocTypeName>
  <CitizenName>Phạm Văn Minh</CitizenName>
  <ApplicantsType>1</ApplicantsType>
  <Address>Số nhà 46, thôn Nam, xã Quảng Phú</Address>
  <Phone>0983217465</Phone>
  <Email>phamvanminh90@example.com</Email>
  <Compendium>Đăng ký thành lập hộ kinh doanh "Tạp hóa Minh &amp; Anh" tại số nhà 46, thôn Nam, xã Quảng Phú; ngành nghề: bán lẻ hàng tạp hóa, vốn kinh doanh &lt; 100 triệu đồng</Compendium>
  <DateReceived>20261029081200</DateReceived>
  <DateAppointed>20261109170000</DateAppointed>
  <Status>4</Status>
  <ProcessingOrganName>Ủy ban nhân dân xã Quảng Phú</ProcessingOrganName>
  <IsSuccess>false</IsSuccess>
  <IsReturned>false</IsReturned>
  <HasSupplementary>true</HasSupplementary>
  <Note>Đã bổ sung hồ sơ ngày 02/11/2026 (hợp đồng thuê trang 1 &amp; 2); xin lỗi và hẹn lại ngày trả kết quả: 09/11/2026 thay cho 04/11/2026 'có giấy hẹn'</Note>
  <DocFees>
    <DocFee>
      <FeeName>Lệ phí đăng ký hộ kinh doanh (nộp trực tuyến)</FeeName>
      <FeeType>1</FeeType>
      <Price>50000</Price>
    </DocFee>
  </DocFees>
</MSyncDocument>
"#;

const FINISHED_XML: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<MSyncDocument>
  <DocCode>000.00.56.H56-261105-0007</DocCode>
  <DocTypeCode>1.009994</DocTypeCode>
  <DocTypeName>Cấp giấy phép xây dựng mới đối với nhà ở riêng lẻ</DocTypeName>
  <CitizenName>Nguyễn Thị Hoa</CitizenName>
  <ApplicantsType>1</ApplicantsType>
  <Address>Thôn Đông, xã Quảng Phú</Address>
  <Phone>0912345678</Phone>
  <Email>hoa.nt@example.com</Email>
  <Compendium>Xin cấp phép xây dựng nhà ở riêng lẻ tại thôn Đông</Compendium>
  <DateReceived>20261105083100</DateReceived>
  <DateAppointed>20261119170000</DateAppointed>
  <Status>9</Status>
  <ProcessingOrganName>Ủy ban nhân dân xã Quảng Phú</ProcessingOrganName>
  <IsSuccess>true</IsSuccess>
  <SuccessDate>20261112162000</SuccessDate>
  <IsReturned>false</IsReturned>
  <HasSupplementary>false</HasSupplementary>
  <DocFees>
    <DocFee>
      <FeeName>Lệ phí cấp giấy phép xây dựng nhà ở riêng lẻ</FeeName>
      <FeeType>2</FeeType>
      <Price>75000</Price>
    </DocFee>
  </DocFees>
</MSyncDocument>
"#;

fn xml_of(r: &Value) -> (String, Mapped) {
    let m = load("sync_document.toml");
    let mut mapped = map_ok(&m, r);
    let xml = render_xml(&mapped).expect("renders");
    assert_eq!(
        m.render(&mut mapped).expect("renders"),
        Rendered::Xml(xml.clone())
    );
    (xml, mapped)
}

/// Reads the document back (well-formed, text unescaped) as (element, text) pairs.
fn read_back(xml: &str) -> Vec<(String, String)> {
    use quick_xml::events::Event;
    let mut r = quick_xml::Reader::from_str(xml);
    let mut out = Vec::new();
    let mut open = Vec::new();
    loop {
        match r.read_event().expect("well-formed") {
            Event::Start(s) => {
                open.push(String::from_utf8(s.name().as_ref().to_vec()).expect("utf8"))
            }
            Event::End(_) => {
                open.pop();
            }
            Event::Text(t) => {
                let text = t.unescape().expect("escaped").into_owned();
                if !text.trim().is_empty() {
                    out.push((open.last().cloned().unwrap_or_default(), text));
                }
            }
            Event::Eof => break,
            _ => {}
        }
    }
    assert!(open.is_empty(), "every element is closed");
    out
}

fn text_of(pairs: &[(String, String)], name: &str) -> Option<String> {
    pairs
        .iter()
        .find(|(n, _)| n == name)
        .map(|(_, t)| t.clone())
}

#[test]
fn sync_document_in_progress_is_rendered_exactly() {
    let (xml, mapped) = xml_of(&in_progress());
    assert_eq!(xml, IN_PROGRESS_XML);
    assert_eq!(mapped.dossier, "000.00.56.H56-261028-0004");
    assert!(mapped.warnings.is_empty(), "{:?}", mapped.warnings);
    let back = read_back(&xml);
    assert_eq!(
        text_of(&back, "Compendium").as_deref(),
        in_progress()["TrichYeu"].as_str()
    );
    assert_eq!(
        text_of(&back, "Note").as_deref(),
        in_progress()["GhiChu"].as_str()
    );
}

#[test]
fn sync_document_finished_is_rendered_exactly() {
    let (xml, _) = xml_of(&finished());
    assert_eq!(xml, FINISHED_XML);
    read_back(&xml);
}

#[test]
fn sync_document_and_dossier_come_from_the_same_record() {
    for r in [in_progress(), finished()] {
        let hoso = map_ok(&load("dossier.toml"), &r);
        let (_, doc) = xml_of(&r);
        for (xml_name, json_name) in [
            ("DocCode", "MaHoSo"),
            ("Status", "TrangThaiHoSo"),
            ("DateReceived", "NgayTiepNhan"),
            ("DateAppointed", "NgayHenTra"),
            ("CitizenName", "ChuHoSo"),
            ("Compendium", "TrichYeuHoSo"),
            ("DocTypeCode", "MaTTHC"),
        ] {
            assert_eq!(doc.item[xml_name], hoso.item[json_name], "{xml_name}");
        }
        assert_eq!(doc.dossier, hoso.dossier);
    }
}

#[test]
fn returned_dossier_has_returned_and_finished_dates() {
    let r = with(
        with(finished(), "TinhTrang", json!("DA_TRA")),
        "NgayTra",
        json!("2026-11-13 09:15:00"),
    );
    let (xml, m) = xml_of(&r);
    assert_eq!(m.item["IsSuccess"], true);
    assert_eq!(m.item["IsReturned"], true);
    assert_eq!(m.item["SuccessDate"], "20261112162000");
    assert_eq!(m.item["ReturnedDate"], "20261113091500");
    assert_eq!(m.item["FinishedDate"], "20261113091500");
    assert!(xml.contains(
        "  <IsReturned>true</IsReturned>\n  <ReturnedDate>20261113091500</ReturnedDate>\n  <FinishedDate>20261113091500</FinishedDate>\n"
    ), "{xml}");
}

#[test]
fn withdrawn_and_stopped_dossiers_finish_on_their_end_date() {
    for code in ["RUT", "DUNG_XU_LY"] {
        let r = with(finished(), "TinhTrang", json!(code));
        let (_, m) = xml_of(&r);
        assert_eq!(m.item["FinishedDate"], "20261112162000", "{code}");
        assert!(!m.item.contains_key("SuccessDate"), "{code}");
        assert_eq!(m.item["IsSuccess"], false);
    }
    // Refused at reception: closed when presented.
    let r = with(
        with(finished(), "TinhTrang", json!("TU_CHOI")),
        "NgayXong",
        json!(null),
    );
    let (_, m) = xml_of(&r);
    assert_eq!(m.item["Status"], "3");
    assert_eq!(m.item["FinishedDate"], "20261105083100");
}

#[test]
fn date_received_may_be_missing_only_for_status_1_or_7() {
    let m = load("sync_document.toml");
    let new = with(
        with(in_progress(), "TinhTrang", json!("MOI")),
        "NgayNhan",
        json!(null),
    );
    let new = with(new, "HanTra", json!(null));
    let got = map_ok(&m, &new);
    assert!(!got.item.contains_key("DateReceived"));
    let xml = render_xml(&got).expect("renders");
    assert!(xml.contains("<Status>1</Status>") && !xml.contains("DateReceived"));
    let withdrawn = with(new.clone(), "TinhTrang", json!("RUT"));
    map_ok(&m, &withdrawn);
    let processing = with(new, "TinhTrang", json!("DANG_XU_LY"));
    let e = map_err(&m, &processing);
    assert!(has_issue(&e.issues, "DateReceived"), "{e}");
}

#[test]
fn sync_document_due_date_before_reception_rejects() {
    let r = with(in_progress(), "HanTra", json!("2026-10-01 17:00:00"));
    let e = map_err(&load("sync_document.toml"), &r);
    assert!(has_issue(&e.issues, "DateAppointed"), "{e}");
}

#[test]
fn dates_out_of_status_are_left_out_with_a_warning() {
    // NgayXong on a dossier still being processed must not become a SuccessDate, even when a
    // mapping takes it without a condition; a mapped IsSuccess is overridden by the status.
    let dir = tempfile::tempdir().expect("tempdir");
    let toml = r#"
target = "sync_document"
date_formats = ["yyyy-MM-dd HH:mm:ss"]
[fields.DocCode]
from = "MaHoSo"
[fields.Status]
value = "4"
[fields.DateReceived]
from = "NgayNhan"
[fields.IsSuccess]
value = true
[fields.SuccessDate]
from = "NgayXong"
[fields.FinishedDate]
from = "NgayXong"
"#;
    let p = dir.path().join("m.toml");
    std::fs::write(&p, toml).expect("write");
    let m = Mapping::load(&p).expect("loads");
    let got = map_ok(&m, &finished());
    assert_eq!(got.item["IsSuccess"], false);
    assert!(!got.item.contains_key("SuccessDate"));
    assert!(!got.item.contains_key("FinishedDate"));
    for f in ["IsSuccess", "SuccessDate", "FinishedDate"] {
        assert!(has_issue(&got.warnings, f), "{f}: {:?}", got.warnings);
    }
    let keys: Vec<&str> = got.item.keys().map(String::as_str).collect();
    assert_eq!(
        keys,
        [
            "DocCode",
            "DateReceived",
            "Status",
            "IsSuccess",
            "IsReturned"
        ]
    );
}

#[test]
fn characters_xml_cannot_carry_are_dropped_with_a_warning() {
    let r = with(
        in_progress(),
        "GhiChu",
        json!("Ghi chú\u{1} có ký tự \u{FFFE}lạ\u{FFFF} & dòng\r\nmới\ttab"),
    );
    let (xml, m) = xml_of(&r);
    assert!(
        xml.contains("<Note>Ghi chú có ký tự lạ &amp; dòng&#13;\nmới\ttab</Note>"),
        "{xml}"
    );
    let notes: Vec<_> = m.warnings.iter().filter(|w| w.field == "Note").collect();
    assert_eq!(notes.len(), 2, "{:?}", m.warnings);
    // The reader gets back exactly what was sent (CR included).
    assert_eq!(
        text_of(&read_back(&xml), "Note").as_deref(),
        Some("Ghi chú có ký tự lạ & dòng\r\nmới\ttab")
    );
}

#[test]
fn vietnamese_text_is_written_as_utf8_byte_for_byte() {
    let r = with(
        in_progress(),
        "GhiChu",
        json!("Ủy ban <xã> Quảng Phú – “đã ký” & 'đóng dấu'"),
    );
    let (xml, _) = xml_of(&r);
    let want = "<Note>Ủy ban &lt;xã&gt; Quảng Phú – “đã ký” &amp; 'đóng dấu'</Note>";
    assert!(
        xml.as_bytes()
            .windows(want.len())
            .any(|w| w == want.as_bytes()),
        "{xml}"
    );
}

#[test]
fn decomposed_text_is_sent_nfc() {
    // "Hoà" with a combining grave accent.
    let r = with(in_progress(), "NguoiNop", json!("Nguyễn Thị Hoa\u{300}"));
    let (xml, _) = xml_of(&r);
    assert!(
        xml.contains("<CitizenName>Nguyễn Thị Hoà</CitizenName>"),
        "{xml}"
    );
}

#[test]
fn render_xml_needs_doc_code_and_status() {
    let (_, mut m) = xml_of(&finished());
    m.item.shift_remove("Status");
    let e = render_xml(&m).expect_err("no Status");
    assert!(has_issue(&e.issues, "Status"), "{e}");
}

#[test]
fn dry_run_shows_the_xml_of_a_sync_document() {
    let m = load("sync_document.toml");
    let input = serde_json::to_vec(&json!([finished()])).expect("json");
    let text = dry_run(&m, &input, &vars()).to_string();
    assert!(text.contains("record 0: ok"), "{text}");
    assert!(text.contains(FINISHED_XML), "{text}");
}

#[test]
fn json_targets_render_as_json() {
    let m = load("dossier.toml");
    let mut got = map_ok(&m, &finished());
    let item = got.item.clone();
    assert_eq!(
        m.render(&mut got).expect("renders"),
        Rendered::Json(Value::Object(item))
    );
    assert!(got.item.is_empty(), "the item is moved out, not copied");
}

// ---------------------------------------------------------------- postal orders

#[test]
fn postal_order_for_a_postal_dossier_is_exact() {
    let m = load("postal_collection.toml");
    assert_eq!(m.target(), Target::PostalOrder);
    let got = map_ok(&m, &finished());
    let want = json!({
        "CustomerCode": "C00330117",
        "OrderNumber": "000.00.56.H56-261105-0007",
        "OrderType": "1",
        "CODAmount": "0",
        "SenderName": "Nguyễn Thị Hoa",
        "SenderAddress": "Thôn Đông, xã Quảng Phú",
        "SenderTel": "0912345678",
        "SenderEmail": "hoa.nt@example.com",
        "SenderProvince": "40",
        "SenderDistrict": "4016",
        "SenderDesc": "Hồ sơ 000.00.56.H56-261105-0007: Cấp giấy phép xây dựng mới đối với nhà ở riêng lẻ",
        "ReceiverName": "Ủy ban nhân dân xã Quảng Phú",
        "ReceiverAddress": "Trụ sở Ủy ban nhân dân xã Quảng Phú, thôn Trung, xã Quảng Phú",
        "ReceiverTel": "02373912468",
        "ReceiverEmail": "motcua.quangphu@example.com",
        "ReceiverProvince": "40",
        "ReceiverDistrict": "4016",
        "Description": "Thu gom hồ sơ 000.00.56.H56-261105-0007 tại nhà công dân, chuyển về Ủy ban nhân dân xã Quảng Phú"
    });
    assert_eq!(Value::Object(got.item.clone()), want);
    // Key order is the spec's, too.
    let keys: Vec<&String> = got.item.keys().collect();
    let want_keys: Vec<&String> = want.as_object().expect("object").keys().collect();
    assert_eq!(keys, want_keys);
    assert_eq!(got.dossier, "000.00.56.H56-261105-0007");
    assert!(got.warnings.is_empty(), "{:?}", got.warnings);
}

#[test]
fn postal_order_money_item_code_and_optional_email() {
    let m = load("postal_collection.toml");
    let r = with(
        with(
            with(finished(), "TienThuHo", json!("12500.50")),
            "SoVanDon",
            json!(" EB123456785VN "),
        ),
        "Email",
        json!("khong-co-email"),
    );
    let got = map_ok(&m, &r);
    assert_eq!(got.item["CODAmount"], "12500.5");
    assert_eq!(got.item["ItemCode"], "EB123456785VN");
    assert!(!got.item.contains_key("SenderEmail"));
    assert!(has_issue(&got.warnings, "SenderEmail"));
    let e = map_err(&m, &with(finished(), "TienThuHo", json!("50.000đ")));
    assert!(has_issue(&e.issues, "CODAmount"), "{e}");
}

#[test]
fn postal_order_needs_sender_and_receiver() {
    let m = load("postal_collection.toml");
    let e = map_err(&m, &with(finished(), "DienThoai", json!("12345")));
    let tel = e
        .issues
        .iter()
        .find(|i| i.field == "SenderTel")
        .expect("SenderTel issue");
    assert_ne!(tel.value.as_deref(), Some("12345"), "masked");
    let e = map_err(&m, &with(finished(), "MaXa", json!("99999")));
    assert!(has_issue(&e.issues, "SenderProvince") && has_issue(&e.issues, "SenderDistrict"));
    let mut v = vars();
    v.remove("CustomerCode");
    v.remove("DiaChiDonVi");
    let e = m.map(&finished(), &v).expect_err("no customer code");
    assert!(has_issue(&e.issues, "CustomerCode") && has_issue(&e.issues, "ReceiverAddress"));
}

// ---------------------------------------------------------------- survey rows

fn survey_row() -> Value {
    json!({"Thang": 11, "Nam": 2026, "MaThuTucLocal": "TTHC-TH-0412",
        "MaDonVi": "000.00.56.H56", "TenDonVi": "Ủy ban nhân dân xã Quảng Phú",
        "SoLuotDanhGia": 40, "TyLeRatHaiLong": 65, "TyLeHaiLong": "30", "TyLeChuaHaiLong": "5%"})
}

#[test]
fn survey_row_is_exact() {
    let m = load("survey.toml");
    assert_eq!(m.target(), Target::Survey);
    let got = map_ok(&m, &survey_row());
    let want = json!({
        "NgayTongHop": "11-2026",
        "MaThuTuc": "1.009994",
        "Madonvi": "000.00.56.H56",
        "TenDonVi": "Ủy ban nhân dân xã Quảng Phú",
        "TongSoNguoiDanhGia": 40,
        "PhanTramDanhGiaRatHaiLong": "65%",
        "PhanTramDanhGiaHaiLong": "30%",
        "PhanTramDanhGiaChuaHaiLong": "5%"
    });
    assert_eq!(
        serde_json::to_string(&got.item).expect("json"),
        serde_json::to_string(&want).expect("json")
    );
    // Its ordering key: month, procedure and agency, so rows never wait for each other.
    assert_eq!(got.dossier, "11-2026/1.009994/000.00.56.H56");
    assert_eq!(got.at, None);
}

#[test]
fn survey_values_are_normalised_or_rejected() {
    let m = load("survey.toml");
    let got = map_ok(
        &m,
        &with(
            with(survey_row(), "Thang", json!("03")),
            "TyLeHaiLong",
            json!("12.50 %"),
        ),
    );
    assert_eq!(got.item["NgayTongHop"], "3-2026");
    assert_eq!(got.item["PhanTramDanhGiaHaiLong"], "12.5%");
    for (k, v) in [
        ("Thang", json!(13)),
        ("SoLuotDanhGia", json!(-1)),
        ("SoLuotDanhGia", json!("bốn mươi")),
        ("TyLeRatHaiLong", json!(120)),
        ("TyLeChuaHaiLong", json!("5‰")),
    ] {
        let e = map_err(&m, &with(survey_row(), k, v.clone()));
        assert_eq!(e.issues.len(), 1, "{k} = {v}: {e}");
    }
}

#[test]
fn survey_percentages_that_do_not_add_up_are_a_warning() {
    let m = load("survey.toml");
    let got = map_ok(&m, &with(survey_row(), "TyLeHaiLong", json!(20)));
    assert!(
        has_issue(&got.warnings, "PhanTramDanhGiaRatHaiLong"),
        "{:?}",
        got.warnings
    );
    assert_eq!(got.item["PhanTramDanhGiaHaiLong"], "20%");
    // Rounding (33 + 33 + 33) is not worth a warning.
    let r = with(
        with(
            with(survey_row(), "TyLeRatHaiLong", json!(33)),
            "TyLeHaiLong",
            json!(33),
        ),
        "TyLeChuaHaiLong",
        json!(33),
    );
    assert!(map_ok(&m, &r).warnings.is_empty());
}

#[test]
fn month_percent_and_digits_values() {
    assert_eq!(value::month("11-2026").as_deref(), Some("11-2026"));
    assert_eq!(value::month("2026-03").as_deref(), Some("3-2026"));
    assert_eq!(value::month("3/2026").as_deref(), Some("3-2026"));
    assert_eq!(value::month("0-2026"), None);
    assert_eq!(value::month("11-26"), None);
    assert_eq!(value::percent(&json!(85)).as_deref(), Some("85%"));
    assert_eq!(value::percent(&json!(0)).as_deref(), Some("0%"));
    assert_eq!(value::percent(&json!(100.0)).as_deref(), Some("100%"));
    assert_eq!(value::percent(&json!(100.5)), None);
    assert_eq!(value::digits(&json!(4016)).as_deref(), Some("4016"));
    assert_eq!(value::digits(&json!(" 40 ")).as_deref(), Some("40"));
    assert_eq!(value::digits(&json!("4O")), None);
}

// ---------------------------------------------------------------- schemas

#[test]
fn a_schema_invalid_item_is_rejected_with_its_path_and_rule() {
    // The field tables take any identifier as MaTTHC; the schema knows the procedure-code shape.
    let dir = tempfile::tempdir().expect("tempdir");
    let p = dir.path().join("survey.toml");
    std::fs::write(
        &p,
        r#"
target = "survey"
[fields.NgayTongHop]
value = "11-2026"
[fields.MaThuTuc]
value = "TTHC-TH-0412"
[fields.Madonvi]
value = "000.00.56.H56"
[fields.TenDonVi]
value = "UBND"
[fields.TongSoNguoiDanhGia]
value = 1
[fields.PhanTramDanhGiaRatHaiLong]
value = 100
[fields.PhanTramDanhGiaHaiLong]
value = 0
[fields.PhanTramDanhGiaChuaHaiLong]
value = 0
"#,
    )
    .expect("write");
    let m = Mapping::load(&p).expect("loads");
    let e = map_err(&m, &json!({}));
    assert_eq!(e.issues.len(), 1, "{e}");
    let i = &e.issues[0];
    assert_eq!(i.field, "MaThuTuc");
    assert_eq!(i.value.as_deref(), Some("TTHC-TH-0412"));
    assert!(i.rule.contains("DongBoDanhGia.schema.json"), "{}", i.rule);
    assert!(i.rule.contains("(pattern)"), "{}", i.rule);
}

#[test]
fn schema_failures_inside_lists_name_the_entry_and_mask_personal_values() {
    let item = json!({"DocCode": "000.00.56.H56-261105-0007", "Status": "4",
        "DateReceived": "20261105083100", "IsSuccess": false, "IsReturned": false,
        "CitizenName": 5,
        "DocFees": [{"FeeName": "Lệ phí", "Price": "1.50"}]});
    let issues = schema::check(Target::SyncDocument, &item);
    assert!(has_issue(&issues, "DocFees[0].Price"), "{issues:?}");
    let name = issues
        .iter()
        .find(|i| i.field == "CitizenName")
        .expect("CitizenName");
    assert!(name.rule.contains("(type)"), "{}", name.rule);
    // A status-dependent rule: a success flag that disagrees with the status.
    let item = json!({"DocCode": "000.00.56.H56-261105-0007", "Status": "9",
        "DateReceived": "20261105083100", "IsSuccess": false, "IsReturned": false});
    let issues = schema::check(Target::SyncDocument, &item);
    assert!(has_issue(&issues, "IsSuccess"), "{issues:?}");
    // The shipped examples pass.
    let (_, m) = xml_of(&in_progress());
    assert!(schema::check(Target::SyncDocument, &Value::Object(m.item)).is_empty());
}

#[test]
fn unknown_target_lists_every_target() {
    let dir = tempfile::tempdir().expect("tempdir");
    let p = dir.path().join("x.toml");
    std::fs::write(&p, "target = \"invoice\"\n").expect("write");
    let e = Mapping::load(&p).expect_err("unknown target").to_string();
    assert!(
        e.contains("dossier | step | survey | postal_order | sync_document"),
        "{e}"
    );
}

#[test]
fn shipped_new_mappings_load_with_their_targets() {
    assert_eq!(load("sync_document.toml").target(), Target::SyncDocument);
    assert_eq!(load("postal_collection.toml").target(), Target::PostalOrder);
    assert_eq!(load("survey.toml").target(), Target::Survey);
}
