//! Tests of the mapping engine and the shipped vendor-a mappings: golden files derived from
//! the spec's examples, one test per Edge rule of codes.md, load errors, hostile input.

use std::path::{Path, PathBuf};

use serde_json::{json, Value};

use super::*;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn vendor_a(file: &str) -> PathBuf {
    root().join("mappings/vendor-a").join(file)
}

fn vars() -> Vars {
    let mut v = Vars::new();
    v.insert("DonViXuLy".into(), "Ủy ban nhân dân xã Quảng Phú".into());
    v
}

fn read_json(p: &Path) -> Value {
    let text = std::fs::read_to_string(p).expect("read golden file");
    serde_json::from_str(&text).expect("golden file is JSON")
}

fn dossier_mapping() -> Mapping {
    Mapping::load(&vendor_a("dossier.toml")).expect("shipped dossier mapping loads")
}

fn step_mapping() -> Mapping {
    Mapping::load(&vendor_a("step.toml")).expect("shipped step mapping loads")
}

/// The vendor-a dossier mapping with the spec example's catalog rows as its procedure table,
/// so the spec's example records must give the spec's items.
fn spec_catalog_mapping(dir: &Path) -> Mapping {
    for f in ["dossier.toml", "tinh_trang.csv"] {
        std::fs::copy(vendor_a(f), dir.join(f)).expect("copy mapping");
    }
    std::fs::copy(
        vendor_a("tests/procedures-spec.csv"),
        dir.join("procedures.csv"),
    )
    .expect("copy table");
    Mapping::load(&dir.join("dossier.toml")).expect("mapping loads")
}

/// The permit at its first version (status DA_NHAN), a clean record to break one rule at a time.
fn permit() -> Value {
    let all = read_json(&vendor_a("tests/dossiers.input.json"));
    all[0].clone()
}

fn map_ok(m: &Mapping, r: &Value) -> Mapped {
    match m.map(r, &vars()) {
        Ok(x) => x,
        Err(e) => panic!("rejected: {e}"),
    }
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

fn issue<'a>(issues: &'a [FieldIssue], field: &str) -> &'a FieldIssue {
    issues
        .iter()
        .find(|i| i.field == field)
        .unwrap_or_else(|| panic!("no issue for {field} in {issues:?}"))
}

fn write_mapping(dir: &Path, toml: &str) -> PathBuf {
    let p = dir.join("m.toml");
    std::fs::write(&p, toml).expect("write mapping");
    p
}

// ---------------------------------------------------------------- golden files

#[test]
fn spec_dossiers_map_to_the_spec_items() {
    let dir = tempfile::tempdir().expect("tempdir");
    let m = spec_catalog_mapping(dir.path());
    let input = read_json(&vendor_a("tests/dossiers.input.json"));
    let expected = read_json(&vendor_a("tests/dossiers.expected.json"));
    let (Value::Array(input), Value::Array(expected)) = (input, expected) else {
        panic!("golden files are arrays");
    };
    assert_eq!(input.len(), expected.len());
    for (i, (rec, exp)) in input.iter().zip(&expected).enumerate() {
        let got = map_ok(&m, rec);
        // Compare as text too: keys must come out in the spec's order.
        assert_eq!(
            serde_json::to_string_pretty(&got.item).expect("json"),
            serde_json::to_string_pretty(exp).expect("json"),
            "record {i}"
        );
        assert!(got.warnings.is_empty(), "record {i}: {:?}", got.warnings);
        assert_eq!(got.dossier, exp["MaHoSo"].as_str().expect("MaHoSo"));
    }
}

#[test]
fn spec_steps_map_to_the_spec_items() {
    let m = step_mapping();
    assert_eq!(m.target(), Target::Step);
    let input = read_json(&vendor_a("tests/steps.input.json"));
    let expected = read_json(&vendor_a("tests/steps.expected.json"));
    let (Value::Array(input), Value::Array(expected)) = (input, expected) else {
        panic!("golden files are arrays");
    };
    for (i, (rec, exp)) in input.iter().zip(&expected).enumerate() {
        let got = map_ok(&m, rec);
        assert_eq!(
            serde_json::to_string(&got.item).expect("json"),
            serde_json::to_string(exp).expect("json"),
            "step {i}"
        );
        assert_eq!(got.source_seq, Some(i as i64 + 1));
    }
    let first = map_ok(&m, &input[0]);
    // 2026-11-05 08:31:00 Vietnam time.
    assert_eq!(
        first.at.map(|t| t.to_rfc3339()),
        Some("2026-11-05T01:31:00+00:00".to_string())
    );
}

#[test]
fn shipped_dossier_mapping_uses_the_fixture_catalog() {
    let m = dossier_mapping();
    assert_eq!(m.target(), Target::Dossier);
    assert_eq!(m.version().len(), 64);
    let latest = with(permit(), "TinhTrang", json!("XONG"));
    let latest = with(latest, "NgayXong", json!("2026-11-12 16:20:00"));
    let got = map_ok(&m, &latest);
    assert_eq!(got.item["MaTTHC"], "1.009994");
    assert_eq!(got.item["MaLinhVuc"], "G09-XD03");
    assert_eq!(got.item["TenLinhVuc"], "Hoạt động xây dựng");
    assert_eq!(got.item["TrangThaiHoSo"], "9");
    assert_eq!(got.item["NgayKetThucXuLy"], "20261112162000");
    assert_eq!(got.item["HinhThuc"], "1");
    assert_eq!(got.item["DuocThanhToanTrucTuyen"], "3");
    assert_eq!(got.dossier, "000.00.56.H56-261105-0007");
    // NgayNopHoSo 2026-11-05 08:20:00 Vietnam time.
    assert_eq!(
        got.at.map(|t| t.to_rfc3339()),
        Some("2026-11-05T01:20:00+00:00".to_string())
    );
    let no_submit = with(permit(), "NgayNop", Value::Null);
    let got = map_ok(&m, &no_submit);
    assert_eq!(
        got.at.map(|t| t.to_rfc3339()),
        Some("2026-11-05T01:31:00+00:00".to_string())
    );
}

#[test]
fn version_covers_table_files() {
    let dir = tempfile::tempdir().expect("tempdir");
    let a = spec_catalog_mapping(dir.path());
    let v1 = a.version().to_string();
    assert!(v1.bytes().all(|c| c.is_ascii_hexdigit()));
    let csv = dir.path().join("procedures.csv");
    let mut text = std::fs::read_to_string(&csv).expect("read");
    text.push_str("TTHC-X,1.000001,X,G00-X,X\n");
    std::fs::write(&csv, text).expect("write");
    let b = Mapping::load(&dir.path().join("dossier.toml")).expect("loads");
    assert_ne!(v1, b.version());
    assert_ne!(dossier_mapping().version(), v1);
}

// ---------------------------------------------------------------- edge rules

#[test]
fn text_is_nfc() {
    let r = with(
        permit(),
        "NguoiNop",
        json!("Nguye\u{0302}\u{0303}n Thi\u{0323} Hoa"),
    );
    let got = map_ok(&dossier_mapping(), &r);
    assert_eq!(got.item["ChuHoSo"], "Nguyễn Thị Hoa");
    assert!(got.warnings.is_empty());
}

#[test]
fn control_characters_are_removed_with_a_warning() {
    let r = with(
        permit(),
        "TrichYeu",
        json!("Xin cấp\u{0000} phép\u{001b}\tnhà\r\nở"),
    );
    let got = map_ok(&dossier_mapping(), &r);
    assert_eq!(got.item["TrichYeuHoSo"], "Xin cấp phép\tnhà\r\nở");
    let w = issue(&got.warnings, "TrichYeuHoSo");
    assert_eq!(w.rule, "control characters removed");
}

#[test]
fn codes_dates_and_identifiers_are_trimmed_text_is_not() {
    let r = with(permit(), "MaHoSo", json!("  000.00.56.H56-261105-0007 "));
    let r = with(r, "TinhTrang", json!(" DA_NHAN "));
    let r = with(r, "NgayNhan", json!(" 2026-11-05 08:31:00 "));
    let r = with(r, "TrichYeu", json!("  giữ khoảng trắng  "));
    let got = map_ok(&dossier_mapping(), &r);
    assert_eq!(got.item["MaHoSo"], "000.00.56.H56-261105-0007");
    assert_eq!(got.item["TrangThaiHoSo"], "2");
    assert_eq!(got.item["NgayTiepNhan"], "20261105083100");
    assert_eq!(got.item["TrichYeuHoSo"], "  giữ khoảng trắng  ");
}

#[test]
fn empty_or_blank_mandatory_is_missing() {
    let m = dossier_mapping();
    for v in [json!(""), json!("   \t "), json!(null), json!([])] {
        let e = map_err(&m, &with(permit(), "NguoiNop", v.clone()));
        let i = issue(&e.issues, "ChuHoSo");
        assert_eq!(i.value, None, "{v}");
        assert_eq!(i.to_string(), "ChuHoSo (from NguoiNop): missing: mandatory");
    }
    let gone = permit().as_object().map(|o| {
        let mut o = o.clone();
        o.remove("NguoiNop");
        Value::Object(o)
    });
    let e = map_err(&m, &gone.expect("object"));
    issue(&e.issues, "ChuHoSo");
}

#[test]
fn null_and_empty_list_are_no_value_for_optionals() {
    let r = with(permit(), "Email", json!(null));
    let r = with(r, "DienThoai", json!([]));
    let r = with(r, "LePhi", json!([]));
    let got = map_ok(&dossier_mapping(), &r);
    assert!(!got.item.contains_key("Email"));
    assert!(!got.item.contains_key("SoDienThoai"));
    assert!(!got.item.contains_key("DanhSachLePhi"));
    assert!(!got.item.contains_key("NgayTra"));
    assert!(got.warnings.is_empty(), "{:?}", got.warnings);
    // No empty strings, nulls or empty lists ever go out.
    for (k, v) in &got.item {
        assert!(!value::is_empty(v), "{k} is empty");
    }
}

#[test]
fn flags_take_numbers_or_strings_and_nothing_else() {
    let m = dossier_mapping();
    for (v, out) in [(json!(1), "1"), (json!("0"), "0"), (json!(" 1 "), "1")] {
        let got = map_ok(&m, &with(permit(), "CoSoHoa", v));
        assert_eq!(got.item["HoSoCoThanhPhanSoHoa"], out);
    }
    for v in [
        json!(2),
        json!(true),
        json!("yes"),
        json!(1.5),
        json!(-1),
        json!("01"),
    ] {
        let e = map_err(&m, &with(permit(), "CoSoHoa", v.clone()));
        let i = issue(&e.issues, "HoSoCoThanhPhanSoHoa");
        assert_eq!(i.rule, "not a flag (0 or 1)", "{v}");
    }
}

#[test]
fn phones_are_normalised_and_bad_ones_left_out_with_a_masked_warning() {
    let m = dossier_mapping();
    for (v, out) in [
        ("+84 912.345-678", "0912345678"),
        ("0912 345 678", "0912345678"),
        ("02373-852-111", "02373852111"),
    ] {
        let got = map_ok(&m, &with(permit(), "DienThoai", json!(v)));
        assert_eq!(got.item["SoDienThoai"], out, "{v}");
    }
    let got = map_ok(&m, &with(permit(), "DienThoai", json!("0912345678999")));
    assert!(!got.item.contains_key("SoDienThoai"));
    let w = issue(&got.warnings, "SoDienThoai");
    assert_eq!(w.value.as_deref(), Some("0912***999"));
    assert!(w.rule.contains("not a phone number"), "{}", w.rule);
    assert!(w.rule.contains("left out"), "{}", w.rule);
}

#[test]
fn bad_email_is_left_out_with_a_masked_warning() {
    let got = map_ok(
        &dossier_mapping(),
        &with(permit(), "Email", json!("hoa.nt@@example")),
    );
    assert!(!got.item.contains_key("Email"));
    let w = issue(&got.warnings, "Email");
    assert_eq!(w.value.as_deref(), Some("ho***@@example"));
}

#[test]
fn ids_by_length_and_tax_codes() {
    let m = dossier_mapping();
    for (v, kind) in [
        (json!("038186001234"), "1"),
        (json!("173245118"), "2"),
        (json!(173245118), "2"),
        (json!("0101234567"), "3"),
        (json!("0101234567-001"), "3"),
    ] {
        let got = map_ok(&m, &with(permit(), "SoGiayTo", v.clone()));
        assert_eq!(got.item["DinhDanhCHS"][0]["LoaiDinhDanh"], kind, "{v}");
        assert!(got.warnings.is_empty(), "{v}: {:?}", got.warnings);
    }
    let got = map_ok(&m, &with(permit(), "SoGiayTo", json!("12345")));
    assert!(!got.item.contains_key("DinhDanhCHS"));
    let w = issue(&got.warnings, "DinhDanhCHS[0].LoaiDinhDanh");
    assert_eq!(w.value.as_deref(), Some("12***"));
    assert!(w.rule.ends_with("entry left out"), "{}", w.rule);
    // No id at all: no entry and nothing to warn about.
    let got = map_ok(&m, &with(permit(), "SoGiayTo", json!(null)));
    assert!(!got.item.contains_key("DinhDanhCHS"));
    assert!(got.warnings.is_empty(), "{:?}", got.warnings);
    // A list from a richer row: each number must fit its kind.
    let list = json!([
        {"LoaiDinhDanh": "1", "SoDinhDanh": "173245118"},
        {"LoaiDinhDanh": 3, "SoDinhDanh": "0101234567-001"},
    ]);
    let got = map_ok(&m, &with(permit(), "DinhDanhCHS", list));
    assert_eq!(
        got.item["DinhDanhCHS"],
        json!([{"LoaiDinhDanh": "3", "SoDinhDanh": "0101234567-001"}])
    );
    let w = issue(&got.warnings, "DinhDanhCHS[0].SoDinhDanh");
    assert_eq!(w.value.as_deref(), Some("1732***118"));
}

#[test]
fn money_is_a_plain_decimal_and_bad_fees_are_left_out() {
    let m = dossier_mapping();
    let fee = |amount: Value| json!([{"MaPhi": "LP.1", "TenPhi": "Lệ phí", "SoTien": amount, "LoaiPhi": 2, "ThuKhi": 1}]);
    for (v, out) in [
        (json!(75000), "75000"),
        (json!(75000.0), "75000"),
        (json!("12500.50"), "12500.5"),
        (json!(12500.5), "12500.5"),
    ] {
        let got = map_ok(&m, &with(permit(), "LePhi", fee(v.clone())));
        assert_eq!(got.item["DanhSachLePhi"][0]["Gia"], out, "{v}");
    }
    let got = map_ok(&m, &with(permit(), "LePhi", fee(json!("50.000đ"))));
    assert!(!got.item.contains_key("DanhSachLePhi"));
    let w = issue(&got.warnings, "DanhSachLePhi[0].Gia");
    assert_eq!(w.value.as_deref(), Some("50.000đ"));
    assert!(w.rule.contains("not an amount"));
    assert!(w.rule.ends_with("entry left out"));
    // A good fee next to a bad one still goes.
    let two = json!([
        {"MaPhi": "A", "TenPhi": "Phí A", "SoTien": "1.000.000", "LoaiPhi": 1, "ThuKhi": 1},
        {"MaPhi": "B", "TenPhi": "Phí B", "SoTien": 20000, "LoaiPhi": 1, "ThuKhi": 1},
    ]);
    let got = map_ok(&m, &with(permit(), "LePhi", two));
    assert_eq!(got.item["DanhSachLePhi"].as_array().map(Vec::len), Some(1));
    assert_eq!(got.item["DanhSachLePhi"][0]["MaPhiLePhi"], "B");
}

#[test]
fn unknown_optional_code_in_a_fee_is_left_out_with_a_warning() {
    let fee = json!([{"MaPhi": "A", "TenPhi": "Phí", "SoTien": 1, "LoaiPhi": 7, "ThuKhi": 1}]);
    let got = map_ok(&dossier_mapping(), &with(permit(), "LePhi", fee));
    assert!(!got.item["DanhSachLePhi"][0]
        .as_object()
        .is_some_and(|o| o.contains_key("LoaiPhiLePhi")));
    issue(&got.warnings, "DanhSachLePhi[0].LoaiPhiLePhi");
}

#[test]
fn dates_keep_seconds_and_drop_milliseconds() {
    let r = with(permit(), "NgayNop", json!("2026-11-05 08:20:59.999"));
    let got = map_ok(&dossier_mapping(), &r);
    assert_eq!(got.item["NgayNopHoSo"], "20261105082059");
}

#[test]
fn unreadable_dates() {
    let m = dossier_mapping();
    // Mandatory (status 2 needs a due date): rejects, naming the formats.
    let e = map_err(&m, &with(permit(), "HanTra", json!("31/02/2026")));
    assert_eq!(
        issue(&e.issues, "NgayHenTra").to_string(),
        "NgayHenTra (from HanTra): value \"31/02/2026\": not a date in any accepted format (yyyy-MM-dd HH:mm:ss)"
    );
    let e = map_err(&m, &with(permit(), "HanTra", json!("2026-02-31 17:00:00")));
    issue(&e.issues, "NgayHenTra");
    // Optional: left out with a warning; never guessed.
    let got = map_ok(&m, &with(permit(), "NgayNop", json!("05/11/2026")));
    assert!(!got.item.contains_key("NgayNopHoSo"));
    issue(&got.warnings, "NgayNopHoSo");
}

#[test]
fn due_date_before_reception_rejects() {
    let r = with(permit(), "HanTra", json!("2026-11-05 08:30:59"));
    let e = map_err(&dossier_mapping(), &r);
    let i = issue(&e.issues, "NgayHenTra");
    assert_eq!(i.value.as_deref(), Some("20261105083059"));
    assert!(i.rule.contains("before the reception date"), "{}", i.rule);
}

#[test]
fn due_date_may_be_empty_only_for_status_1_3_7() {
    let m = dossier_mapping();
    for st in ["MOI", "TU_CHOI", "RUT"] {
        let r = with(permit(), "HanTra", json!(null));
        let r = with(r, "TinhTrang", json!(st));
        let got = map_ok(&m, &r);
        assert!(!got.item.contains_key("NgayHenTra"), "{st}");
    }
    // Unreadable while it may be empty: left out with a warning.
    let r = with(permit(), "HanTra", json!("sắp tới"));
    let got = map_ok(&m, &with(r, "TinhTrang", json!("MOI")));
    assert!(!got.item.contains_key("NgayHenTra"));
    assert!(issue(&got.warnings, "NgayHenTra")
        .rule
        .ends_with("left out)"));
    for st in ["DA_NHAN", "DANG_XU_LY", "XONG", "DA_TRA", "DUNG_XU_LY"] {
        let r = with(permit(), "HanTra", json!(""));
        let r = with(r, "TinhTrang", json!(st));
        let e = map_err(&m, &r);
        let i = issue(&e.issues, "NgayHenTra");
        assert!(i.rule.contains("unless TrangThaiHoSo is 1, 3 or 7"), "{st}");
    }
}

#[test]
fn reception_date_may_be_empty_only_for_status_1_or_7() {
    let m = dossier_mapping();
    for st in ["MOI", "RUT"] {
        let r = with(permit(), "NgayNhan", json!(null));
        let r = with(r, "HanTra", json!(null));
        let r = with(r, "TinhTrang", json!(st));
        let got = map_ok(&m, &r);
        assert!(!got.item.contains_key("NgayTiepNhan"), "{st}");
    }
    for st in ["DA_NHAN", "TU_CHOI", "XONG"] {
        let r = with(permit(), "NgayNhan", json!(null));
        let r = with(r, "TinhTrang", json!(st));
        let e = map_err(&m, &r);
        let i = issue(&e.issues, "NgayTiepNhan");
        assert!(i.rule.contains("unless TrangThaiHoSo is 1 or 7"), "{st}");
    }
}

#[test]
fn refused_dossier_needs_its_refusal_date_and_no_end_date() {
    let m = dossier_mapping();
    let r = with(permit(), "TinhTrang", json!("TU_CHOI"));
    let r = with(r, "NgayXong", json!("2026-11-05 09:00:00"));
    let got = map_ok(&m, &r);
    assert_eq!(got.item["TrangThaiHoSo"], "3");
    assert_eq!(got.item["NgayTuChoi"], "20261105083100");
    assert!(!got.item.contains_key("NgayKetThucXuLy"));
    issue(&got.warnings, "NgayKetThucXuLy");
    // Without any refusal date it rejects.
    let dir = tempfile::tempdir().expect("tempdir");
    let p = write_mapping(
        dir.path(),
        &MINIMAL_DOSSIER.replace("NgayTuChoiFrom", "NgayTuChoi"),
    );
    let m = Mapping::load(&p).expect("loads");
    let r = json!({"MaHoSo": "000.00.56.H56-261105-0007", "TinhTrang": "3",
        "NgayNhan": "2026-11-05 08:31:00"});
    let e = map_err(&m, &r);
    assert_eq!(
        issue(&e.issues, "NgayTuChoi").to_string(),
        "NgayTuChoi (from NgayTuChoi): missing: mandatory when TrangThaiHoSo is 3 (refused)"
    );
}

#[test]
fn dossier_code_must_match_and_fit() {
    let m = dossier_mapping();
    for bad in [
        "HS-0007",
        "000.00.56.H56-261105",
        "000.00.56.H56-261135-0007",
        "00.00.56.H56-261105-0007",
    ] {
        let e = map_err(&m, &with(permit(), "MaHoSo", json!(bad)));
        let i = issue(&e.issues, "MaHoSo");
        assert_eq!(i.value.as_deref(), Some(bad));
        assert!(i.rule.starts_with("not a dossier code"), "{bad}");
    }
    let long = format!("000.00.56.H56-261105-{}", "1".repeat(40));
    let e = map_err(&m, &with(permit(), "MaHoSo", json!(long)));
    assert_eq!(issue(&e.issues, "MaHoSo").rule, "longer than 50 characters");
}

#[test]
fn summary_is_cut_at_1000_and_step_officer_at_50() {
    let long: String = "ắ".repeat(1005);
    let got = map_ok(&dossier_mapping(), &with(permit(), "TrichYeu", json!(long)));
    let s = got.item["TrichYeuHoSo"].as_str().expect("text");
    assert_eq!(s.chars().count(), 1000);
    let w = issue(&got.warnings, "TrichYeuHoSo");
    assert!(w.rule.contains("cut to 1000 characters (was 1005)"));

    let steps = read_json(&vendor_a("tests/steps.input.json"));
    let name = "Nguyễn ".repeat(10);
    let got = map_ok(
        &step_mapping(),
        &with(steps[0].clone(), "NguoiXuLy", json!(name)),
    );
    assert_eq!(
        got.item["NguoiXuLy"].as_str().map(|s| s.chars().count()),
        Some(50)
    );
    let w = issue(&got.warnings, "NguoiXuLy");
    assert_eq!(w.value.as_deref(), Some("Ng***"));
}

#[test]
fn unmapped_mandatory_code_rejects_never_defaults() {
    let m = dossier_mapping();
    let r = with(permit(), "TinhTrang", json!("LA_LAM"));
    let r = with(r, "LoaiNguoiNop", json!("XX"));
    let r = with(r, "MaThuTucLocal", json!("TTHC-NONE"));
    let e = map_err(&m, &r);
    let i = issue(&e.issues, "TrangThaiHoSo");
    assert_eq!(i.value.as_deref(), Some("LA_LAM"));
    assert_eq!(i.rule, "no row in table TinhTrang for this code");
    issue(&e.issues, "LoaiDoiTuong");
    issue(&e.issues, "MaTTHC");
    issue(&e.issues, "MaLinhVuc");
}

#[test]
fn empty_summary_is_built_from_procedure_and_applicant() {
    let got = map_ok(&dossier_mapping(), &with(permit(), "TrichYeu", json!("  ")));
    assert_eq!(
        got.item["TrichYeuHoSo"],
        "Cấp giấy phép xây dựng đối với nhà ở riêng lẻ - Nguyễn Thị Hoa"
    );
}

#[test]
fn processing_agency_comes_from_vars() {
    let m = dossier_mapping();
    let e = m.map(&permit(), &Vars::new()).expect_err("no DonViXuLy");
    assert_eq!(
        issue(&e.issues, "DonViXuLy").to_string(),
        "DonViXuLy (from $vars.DonViXuLy): missing: mandatory"
    );
}

#[test]
fn every_issue_of_a_record_is_collected() {
    let r = with(permit(), "NguoiNop", json!(""));
    let r = with(r, "CoSoHoa", json!("x"));
    let r = with(r, "KenhNop", json!("FAX"));
    let r = with(r, "NgayNhan", json!("hôm qua"));
    let e = map_err(&dossier_mapping(), &r);
    for f in [
        "ChuHoSo",
        "HoSoCoThanhPhanSoHoa",
        "KenhThucHien",
        "NgayTiepNhan",
    ] {
        issue(&e.issues, f);
    }
    let text = e.to_string();
    assert_eq!(text.matches("; ").count(), e.issues.len() - 1, "{text}");
}

#[test]
fn personal_values_are_masked_in_rejections() {
    let m = dossier_mapping();
    let e = map_err(&m, &with(permit(), "NguoiNop", json!({"ho": "Nguyễn"})));
    assert_eq!(
        issue(&e.issues, "ChuHoSo").value.as_deref(),
        Some("{object}")
    );
    let steps = read_json(&vendor_a("tests/steps.input.json"));
    let r = with(steps[0].clone(), "NguoiXuLy", json!(["Hoàng Thị Mai"]));
    let e = map_err(&step_mapping(), &r);
    let text = e.to_string();
    assert!(!text.contains("Hoàng"), "{text}");
    for rej in [e] {
        for i in rej.issues {
            assert!(!i.to_string().contains("Mai"), "{i}");
        }
    }
}

#[test]
fn issues_name_the_local_fields_they_were_read_from() {
    let m = dossier_mapping();
    let text = |r: &Value| map_err(&m, r).to_string();
    // A code not in its table, a date, a missing value.
    let r = with(permit(), "MaThuTucLocal", json!("TTHC-NONE"));
    assert!(
        text(&r).contains(
            "MaTTHC (from MaThuTucLocal): value \"TTHC-NONE\": no row in table procedures"
        ),
        "{}",
        text(&r)
    );
    let r = with(permit(), "NgayNhan", json!("31/02/2026"));
    assert!(
        text(&r).contains("NgayTiepNhan (from NgayNhan): value \"31/02/2026\": not a date"),
        "{}",
        text(&r)
    );
    // A cross-field rule names the local field of the portal field it judges.
    let r = with(permit(), "HanTra", json!("2026-11-05 08:30:59"));
    assert!(
        text(&r).contains("NgayHenTra (from HanTra): value \"20261105083059\": due date before"),
        "{}",
        text(&r)
    );
    let refused = with(permit(), "TinhTrang", json!("TU_CHOI"));
    let r = with(refused, "NgayNhan", json!(null));
    let e = map_err(&m, &r);
    assert_eq!(
        issue(&e.issues, "NgayTuChoi").source.as_deref(),
        Some("NgayTuChoi or NgayNhan"),
        "a chain none of whose sources gave a value names them all"
    );
    // A fee row by its place in the local list.
    let fees = json!([{"TenPhi": "Lệ phí", "SoTien": "50.000đ", "LoaiPhi": "1"}]);
    let got = map_ok(&m, &with(permit(), "LePhi", fees));
    let w = issue(&got.warnings, "DanhSachLePhi[0].Gia");
    assert_eq!(w.source.as_deref(), Some("LePhi[0].SoTien"));
    assert!(
        w.to_string()
            .starts_with("DanhSachLePhi[0].Gia (from LePhi[0].SoTien): value \"50.000đ\""),
        "{w}"
    );
    // One row as an object (an XML export's one child): no index in the local path.
    let one = json!({"TenPhi": "Lệ phí", "SoTien": "50.000đ", "LoaiPhi": "1"});
    let got = map_ok(&m, &with(permit(), "LePhi", one));
    let w = issue(&got.warnings, "DanhSachLePhi[0].Gia");
    assert_eq!(w.source.as_deref(), Some("LePhi.SoTien"));
}

#[test]
fn issue_sources_for_sub_status_templates_jq_and_constants() {
    let dir = tempfile::tempdir().expect("tempdir");
    let m = minimal(dir.path());
    let r = with(minimal_record(), "TinhTrang", json!("9"));
    let r = with(r, "TinhTrangPhu", json!("CHO_KY"));
    let i = map_err(&m, &r).issues;
    assert_eq!(
        issue(&i, "TrangThaiHoSo").source.as_deref(),
        Some("TinhTrang + TinhTrangPhu")
    );
    // Constants name no local field.
    let p = write_mapping(
        dir.path(),
        &MINIMAL_DOSSIER.replace(
            "[fields.KenhThucHien]\nvalue = 1",
            "[fields.KenhThucHien]\nvalue = 9",
        ),
    );
    let m = Mapping::load(&p).expect("loads");
    let e = map_err(&m, &minimal_record());
    assert_eq!(
        issue(&e.issues, "KenhThucHien").to_string(),
        "KenhThucHien: value \"9\": not one of the codes 1, 2, 3"
    );
    // A template names its inputs; a jq expression over the row is named by its text.
    let p = write_mapping(
        dir.path(),
        &MINIMAL_DOSSIER
            .replace(
                "[fields.ChuHoSo]\nvalue = \"Người nộp\"",
                "[fields.ChuHoSo]\nfrom = \"HoTen\"\nor = [{ template = \"{Ho} {Ten}\" }]",
            )
            .replace(
                "[fields.TrichYeuHoSo]\nvalue = \"Trích yếu\"",
                "[fields.TrichYeuHoSo]\njq = '.TrichYeu | error(\"no summary\")'",
            ),
    );
    let m = Mapping::load(&p).expect("loads");
    let e = map_err(&m, &minimal_record());
    assert_eq!(
        issue(&e.issues, "ChuHoSo").to_string(),
        "ChuHoSo (from HoTen or Ho + Ten): missing: mandatory"
    );
    assert_eq!(
        issue(&e.issues, "TrichYeuHoSo").source.as_deref(),
        Some("jq '.TrichYeu | error(\"no summary\")'")
    );
}

#[test]
fn a_quarantined_record_shows_its_shape_only() {
    let record = json!({
        "NguoiNop": "Nguyễn Thị Hoa",
        "DienThoai": "0912345678",
        "CoSoHoa": 1,
        "Xong": true,
        "HanTra": null,
        "LePhi": [{"Gia": 75000, "Ten": "Lệ phí"}]
    });
    assert_eq!(
        mask_record(&record),
        json!({
            "NguoiNop": "Ng***",
            "DienThoai": "0912***678",
            "CoSoHoa": "***",
            "Xong": true,
            "HanTra": null,
            "LePhi": [{"Gia": "***", "Ten": "Lệ***"}]
        })
    );
}

#[test]
fn reasons_keep_codes_and_dates_but_not_ids_phones_or_mails() {
    assert_eq!(
        mask_text(
            "SoDinhDanh: value \"038186001234\": bad; call 0912345678 or hoa.nt@example.com."
        ),
        "SoDinhDanh: value \"0381***234\": bad; call 0912***678 or ho***@example.com."
    );
    for kept in [
        "message 01a2517e-7af9-757b-ad1d-c4d161090450 replayed after 01a2517e-7af9-757b-ad1d-c4d161090451.",
        "MaHoSo: value \"000.00.56.H56-261106-0002\": unknown",
        "NgayHenTra: value \"20261105083100\" is before 1730764800000",
        "KenhThucHien: value \"QUA_ZALO\": not in table KenhNop",
        "{\"elapsed_secs\":0.000290905}",
    ] {
        assert_eq!(mask_text(kept), kept);
    }
}

#[test]
fn reasons_mask_names_and_addresses_composed_or_decomposed() {
    use unicode_normalization::UnicodeNormalization;
    let text = "error_code 2: người nộp Nguyễn Thị Hoa, số 7 phố Tô Hiến Thành, NGUYỄN VĂN AN";
    let masked = "error_code 2: người nộp Ng***, số 7 phố Tô***, NG***";
    assert_eq!(mask_text(text), masked);
    let decomposed: String = text.nfd().collect();
    assert_eq!(mask_text(&decomposed), masked);
    // A name that lost its marks on the way is still a name.
    assert_eq!(
        mask_text("applicant Nguyen Van An, owner TRAN THI HOA; reviewed by Le Minh"),
        "applicant Ng***, owner TR***; reviewed by Le***"
    );
    for kept in [
        "error_code 2: Hồ sơ đã tồn tại",
        "HTTP 503 Service Unavailable",
        "HTTP 502 Bad Gateway: Upstream Connection Reset",
        "Trung tâm Phục vụ hành chính công tỉnh",
    ] {
        assert_eq!(mask_text(kept), kept);
    }
}

#[test]
fn supplements_are_ordered_with_ids_and_apology_prefix() {
    let input = read_json(&vendor_a("tests/dossiers.input.json"));
    let got = map_ok(
        &dossier_mapping(),
        &with(input[1].clone(), "MaThuTucLocal", json!("TTHC-TH-0101")),
    );
    let rounds = &got.item["DanhSachHoSoBoSung"];
    assert_eq!(rounds[0]["HoSoBoSungId"], "000.00.56.H56-261028-0004-BS1");
    assert_eq!(rounds[1]["HoSoBoSungId"], "000.00.56.H56-261028-0004-BS2");
    assert!(rounds[1]["NoiDungBoSung"]
        .as_str()
        .is_some_and(|s| s.starts_with("Xin lỗi và hẹn lại ngày trả kết quả: Hồ sơ")));
    assert!(rounds[0]["NoiDungBoSung"]
        .as_str()
        .is_some_and(|s| s.starts_with("Bổ sung")));
}

// ---------------------------------------------------------------- other sources' shapes

/// A small mapping in another vendor's style; `NgayTuChoiFrom` is replaced per test.
const MINIMAL_DOSSIER: &str = r#"
target = "dossier"
date_formats = ["yyyy-MM-dd HH:mm:ss"]

[tables.status]
rows = { "1" = "1", "2" = "2", "3" = "3", "4" = "4" }
pairs = [ { key = "4", sub = "CHO_KY", value = "9" } ]

[fields.MaHoSo]
from = "MaHoSo"
[fields.MaTTHC]
value = "1.005129"
[fields.TenTTHC]
value = "Thủ tục"
[fields.MaLinhVuc]
value = "G09-XD06"
[fields.KenhThucHien]
value = 1
[fields.ChuHoSo]
value = "Người nộp"
[fields.LoaiDoiTuong]
value = "1"
[fields.TrichYeuHoSo]
value = "Trích yếu"
[fields.NgayTiepNhan]
from = "NgayNhan"
formats = ["dd/MM/yyyy HH:mm:ss", "epoch_ms", "iso8601", "yyyy-MM-dd HH:mm:ss"]
[fields.NgayHenTra]
from = "HanTra"
[fields.NgayTuChoi]
from = "NgayTuChoiFrom"
[fields.TrangThaiHoSo]
from = "TinhTrang"
sub = "TinhTrangPhu"
table = "status"
[fields.HinhThuc]
value = "0"
[fields.DonViXuLy]
value = "UBND"
[fields.HoSoCoThanhPhanSoHoa]
value = 0
"#;

fn minimal(dir: &Path) -> Mapping {
    let p = write_mapping(dir, MINIMAL_DOSSIER);
    Mapping::load(&p).expect("minimal mapping loads")
}

fn minimal_record() -> Value {
    json!({"MaHoSo": "000.00.56.H56-261105-0007", "TinhTrang": "4",
        "NgayNhan": "05/11/2026 08:31:00", "HanTra": "2026-11-19 17:00:00"})
}

#[test]
fn status_pair_wins_then_status_alone_then_rejection() {
    let dir = tempfile::tempdir().expect("tempdir");
    let m = minimal(dir.path());
    let r = with(minimal_record(), "TinhTrangPhu", json!("CHO_KY"));
    assert_eq!(map_ok(&m, &r).item["TrangThaiHoSo"], "9");
    let r = with(minimal_record(), "TinhTrangPhu", json!("KHAC"));
    assert_eq!(map_ok(&m, &r).item["TrangThaiHoSo"], "4");
    assert_eq!(map_ok(&m, &minimal_record()).item["TrangThaiHoSo"], "4");
    let r = with(minimal_record(), "TinhTrang", json!("9"));
    let r = with(r, "TinhTrangPhu", json!("CHO_KY"));
    let e = map_err(&m, &r);
    let i = issue(&e.issues, "TrangThaiHoSo");
    assert_eq!(i.value.as_deref(), Some("9 / CHO_KY"));
    assert!(i.rule.contains("nor for the status alone"));
}

#[test]
fn other_date_formats_read_as_vietnam_time() {
    let dir = tempfile::tempdir().expect("tempdir");
    let m = minimal(dir.path());
    for v in [
        json!("05/11/2026 08:31:00"),
        json!(1_793_842_260_123_i64),
        json!("1793842260999"),
        json!("2026-11-05T01:31:00.5Z"),
        json!("2026-11-05T08:31:00+07:00"),
        json!("2026-11-05 08:31:00"),
    ] {
        let got = map_ok(&m, &with(minimal_record(), "NgayNhan", v.clone()));
        assert_eq!(got.item["NgayTiepNhan"], "20261105083100", "{v}");
    }
    let e = map_err(
        &m,
        &with(minimal_record(), "NgayNhan", json!("2026-11-05T08:31:00")),
    );
    assert!(issue(&e.issues, "NgayTiepNhan")
        .rule
        .contains("dd/MM/yyyy HH:mm:ss, epoch_ms, iso8601, yyyy-MM-dd HH:mm:ss"));
}

#[test]
fn constants_keep_key_order_of_the_spec() {
    let dir = tempfile::tempdir().expect("tempdir");
    let m = minimal(dir.path());
    let got = map_ok(&m, &minimal_record());
    let keys: Vec<&str> = got.item.keys().map(String::as_str).collect();
    let order: Vec<&str> = target::HO_SO
        .iter()
        .map(|s| s.name)
        .filter(|n| keys.contains(n))
        .collect();
    assert_eq!(keys, order);
    assert_eq!(got.item["KenhThucHien"], "1");
    assert_eq!(got.item["HoSoCoThanhPhanSoHoa"], "0");
}

// ---------------------------------------------------------------- load errors

fn load_err(toml: &str) -> String {
    let dir = tempfile::tempdir().expect("tempdir");
    let p = write_mapping(dir.path(), toml);
    let e = Mapping::load(&p).expect_err("must not load");
    let s = e.to_string();
    assert!(!s.contains('\n'), "one line: {s}");
    assert!(s.contains("m.toml"), "names the file: {s}");
    s
}

#[test]
fn load_errors_name_file_key_and_problem() {
    let s = load_err("target = \"vnpost\"\n");
    assert!(s.contains("target: \"vnpost\" is not a target"), "{s}");
    let s = load_err(&format!(
        "{MINIMAL_DOSSIER}\n[fields.NoSuchField]\nfrom = \"x\"\n"
    ));
    assert!(
        s.contains("fields.NoSuchField: not a field of this target"),
        "{s}"
    );
    let s = load_err(&MINIMAL_DOSSIER.replace("[fields.ChuHoSo]\nvalue = \"Người nộp\"", ""));
    assert!(
        s.contains("fields.ChuHoSo: mandatory field of the target has no rule"),
        "{s}"
    );
    let s = load_err(&MINIMAL_DOSSIER.replace("table = \"status\"", "table = \"nope\""));
    assert!(
        s.contains("fields.TrangThaiHoSo.table: no table \"nope\""),
        "{s}"
    );
    let s = load_err(&MINIMAL_DOSSIER.replace("\"epoch_ms\"", "\"epoch_seconds\""));
    assert!(
        s.contains("fields.NgayTiepNhan.formats: \"epoch_seconds\" is not a date format"),
        "{s}"
    );
    let s = load_err(&MINIMAL_DOSSIER.replace("from = \"NgayTuChoiFrom\"", "jq = \".a +\""));
    assert!(
        s.contains("fields.NgayTuChoi.jq: jq expression does not parse"),
        "{s}"
    );
    let s = load_err(&MINIMAL_DOSSIER.replace("from = \"NgayTuChoiFrom\"", "jq = \"nosuch(1)\""));
    assert!(
        s.contains("fields.NgayTuChoi.jq: jq expression uses undefined names"),
        "{s}"
    );
    let s = load_err("target = \"dossier\"\n[fields.MaHoSo\n");
    assert!(s.contains("(syntax)"), "{s}");
    let s = load_err(&format!(
        "{MINIMAL_DOSSIER}\n[tables.cat]\nfile = \"missing.csv\"\nkey = \"k\"\n"
    ));
    assert!(s.contains("tables.cat.file: cannot read"), "{s}");
    let s = load_err(&MINIMAL_DOSSIER.replace("from = \"NgayTuChoiFrom\"", "from = \"a..b\""));
    assert!(
        s.contains("fields.NgayTuChoi.from: \"a..b\" is not a path"),
        "{s}"
    );
    let s =
        load_err(&MINIMAL_DOSSIER.replace("value = \"UBND\"", "value = \"UBND\"\nfrom = \"x\""));
    assert!(s.contains("fields.DonViXuLy: give exactly one of"), "{s}");
    let s = load_err(
        &format!(
            "{MINIMAL_DOSSIER}\n[tables.multi]\nrows = {{ A = {{ x = \"1\", y = \"2\" }} }}\n"
        )
        .replace(
            "from = \"NgayTuChoiFrom\"",
            "from = \"A\"\ntable = \"multi\"",
        ),
    );
    assert!(
        s.contains("fields.NgayTuChoi.column: table \"multi\" has several columns (x, y)"),
        "{s}"
    );
    let s = load_err(&format!(
        "{MINIMAL_DOSSIER}\n[tables.k]\npatterns = [{{ match = '[0-9', value = \"1\" }}]\n"
    ));
    assert!(
        s.contains("tables.k.patterns[0].match: not a regular expression"),
        "{s}"
    );
    let e = Mapping::load(Path::new("/nonexistent/m.toml")).expect_err("no file");
    assert!(e
        .to_string()
        .starts_with("/nonexistent/m.toml: cannot read"));
}

#[test]
fn mapping_is_shareable_across_threads() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<Mapping>();
}

// ---------------------------------------------------------------- hostile input

#[test]
fn hostile_records_never_panic() {
    let d = dossier_mapping();
    let s = step_mapping();
    let huge = "x".repeat(2_000_000);
    let mut deep = json!("bottom");
    for _ in 0..100 {
        deep = json!([{ "a": deep }]);
    }
    let weird = [
        json!(null),
        json!(true),
        json!(-1),
        json!(1e300),
        json!(u64::MAX),
        json!(""),
        json!("\u{0000}\u{FFFF}\u{202E}"),
        json!(huge),
        json!([]),
        json!([1, 2]),
        json!({}),
        json!({"a": 1}),
        deep,
    ];
    let base = permit();
    let keys: Vec<String> = base
        .as_object()
        .map(|o| o.keys().cloned().collect())
        .unwrap_or_default();
    for k in &keys {
        for w in &weird {
            let r = with(base.clone(), k, w.clone());
            let _ = d.map(&r, &vars());
            let _ = s.map(&r, &vars());
            if let Err(e) = d.map(&r, &vars()) {
                // Messages stay short even for huge values.
                assert!(e.to_string().len() < 2_000, "{k}");
            }
        }
    }
    for w in &weird {
        assert!(d.map(w, &vars()).is_err());
        let children = json!([w, {"SoTien": w, "Lan": w, "NoiDung": w, "LaXinLoi": w}]);
        let _ = d.map(&with(base.clone(), "LePhi", children.clone()), &vars());
        let _ = d.map(&with(base.clone(), "BoSung", children), &vars());
    }
}

#[test]
fn jq_errors_are_issues_not_panics() {
    let dir = tempfile::tempdir().expect("tempdir");
    let p = write_mapping(
        dir.path(),
        &MINIMAL_DOSSIER
            .replace("from = \"NgayTuChoiFrom\"", "jq = '.x + 1'")
            .replace(
                "[fields.DonViXuLy]\nvalue = \"UBND\"",
                "[fields.DonViXuLy]\njq = '$vars.DonViXuLy + \" / \" + (halt | tostring)'",
            ),
    );
    let m = Mapping::load(&p).expect("loads");
    let r = with(minimal_record(), "x", json!("text"));
    let e = map_err(&m, &r);
    let i = issue(&e.issues, "DonViXuLy");
    assert!(i.rule.contains("halt is not allowed"), "{}", i.rule);
    // NgayTuChoi is optional: its failure is a warning only.
    let got = m.map(&with(r, "x", json!(1)), &vars());
    assert!(got.is_err());
    // jaq's type errors quote values; they are not passed on.
    let p = write_mapping(
        dir.path(),
        &MINIMAL_DOSSIER.replace(
            "[fields.DonViXuLy]\nvalue = \"UBND\"",
            "[fields.DonViXuLy]\njq = '.Ten + 1'",
        ),
    );
    let m = Mapping::load(&p).expect("loads");
    let e = map_err(&m, &with(minimal_record(), "Ten", json!("Nguyễn Thị Hoa")));
    let i = issue(&e.issues, "DonViXuLy");
    assert_eq!(
        i.rule,
        "jq expression failed: cannot calculate with these values"
    );
}

#[test]
fn jq_computes_a_field_from_the_row_and_vars() {
    let dir = tempfile::tempdir().expect("tempdir");
    let p = write_mapping(
        dir.path(),
        &MINIMAL_DOSSIER.replace(
            "[fields.DonViXuLy]\nvalue = \"UBND\"",
            "[fields.DonViXuLy]\njq = '$vars.DonViXuLy + \" - \" + (.Phong | ascii_upcase)'",
        ),
    );
    let m = Mapping::load(&p).expect("loads");
    let got = map_ok(&m, &with(minimal_record(), "Phong", json!("kt")));
    assert_eq!(got.item["DonViXuLy"], "Ủy ban nhân dân xã Quảng Phú - KT");
    // Wrong types and deep values in a jq field: issues, not panics.
    let mut deep = json!(1);
    for _ in 0..100 {
        deep = json!({ "a": [deep] });
    }
    for w in [
        json!(null),
        json!(5),
        json!({"x": 1}),
        deep,
        json!("x".repeat(100_000)),
    ] {
        if let Err(e) = m.map(&with(minimal_record(), "Phong", w), &vars()) {
            issue(&e.issues, "DonViXuLy");
        }
    }
}

// ---------------------------------------------------------------- dry run

#[test]
fn dry_run_reports_every_record() {
    let m = dossier_mapping();
    let bad = with(permit(), "HanTra", json!("31/02/2026"));
    let bad = with(bad, "DienThoai", json!("123"));
    let input = serde_json::to_vec(&json!([permit(), bad])).expect("json");
    let rep = dry_run(&m, &input, &vars());
    assert_eq!(rep.rejected(), 1);
    let text = rep.to_string();
    assert!(text.contains("record 0: ok"), "{text}");
    assert!(text.contains("\"MaTTHC\": \"1.009994\""), "{text}");
    assert!(
        text.contains(
            "record 1: error: NgayHenTra (from HanTra): value \"31/02/2026\": not a date"
        ),
        "{text}"
    );
    let one = serde_json::to_vec(&permit()).expect("json");
    assert_eq!(dry_run(&m, &one, &vars()).rejected(), 0);
    let rep = dry_run(&m, b"{not json", &vars());
    assert_eq!(rep.rejected(), 1);
    assert!(rep.to_string().starts_with("input: not JSON"));
    assert_eq!(dry_run(&m, b"42", &vars()).rejected(), 1);
}

#[test]
fn another_vendor_shape_needs_configuration_only() {
    let m = Mapping::load(&root().join("mappings/vendor-b/dossier.toml")).expect("loads");
    let rec = json!({
        "code": "000.00.56.H56-261105-0007",
        "procedure": {"code": "TTHC-TH-0412", "name": "Cấp giấy phép xây dựng"},
        "summary": "",
        "applicant": {"name": "Nguyễn Thị Hoa", "type": "CITIZEN", "phone": "+84 912 345 678"},
        "channel": "COUNTER",
        "submittedAt": 1_793_841_600_000_i64,
        "receivedAt": "05/11/2026 08:31:00",
        "dueAt": "2026-11-19T10:00:00Z",
        "status": "PROCESSING",
        "subStatus": "WAITING_DOCUMENTS",
        "resultByPost": true,
        "digitised": false,
        "fees": [{"name": "Lệ phí", "amount": 75000}]
    });
    let got = map_ok(&m, &rec);
    // As text: the keys must also come out in the spec's order.
    assert_eq!(
        serde_json::to_string(&got.item).expect("json"),
        json!({
            "MaHoSo": "000.00.56.H56-261105-0007",
            "MaTTHC": "1.009994",
            "TenTTHC": "Cấp giấy phép xây dựng",
            "MaLinhVuc": "G09-XD03",
            "KenhThucHien": "1",
            "ChuHoSo": "Nguyễn Thị Hoa",
            "LoaiDoiTuong": "1",
            "SoDienThoai": "0912345678",
            "TrichYeuHoSo": "Cấp giấy phép xây dựng - Nguyễn Thị Hoa",
            "NgayNopHoSo": "20261105082000",
            "NgayTiepNhan": "20261105083100",
            "NgayHenTra": "20261119170000",
            "TrangThaiHoSo": "5",
            "HinhThuc": "1",
            "DonViXuLy": "Ủy ban nhân dân xã Quảng Phú",
            "HoSoCoThanhPhanSoHoa": "0",
            "DanhSachLePhi": [{"TenPhiLePhi": "Lệ phí", "Gia": "75000", "LoaiPhiLePhi": "1"}]
        })
        .to_string()
    );
}
