//! Tests of the conditions of the mapping language (`when`): the column form with `is` or
//! `is_not`, condition tables combined with `not`, `all` and `any`, the any-row test over a
//! list (`some` ... `where`), and their load errors.

use std::path::Path;

use serde_json::{json, Value};

use super::*;

/// A step mapping whose optional `ChucDanh` is "x" when `when` holds (the block is appended).
const STEP: &str = r#"
target = "step"
date_formats = ["yyyy-MM-dd HH:mm:ss"]

[tables.status]
rows = { MOI = "2", XONG = "9", RUT = "7" }

[fields.MaHoSo]
from = "MaHoSo"
[fields.NguoiXuLy]
from = "NguoiXuLy"
[fields.ThoiDiemXuLy]
from = "ThoiDiem"
[fields.PhongBanXuLy]
value = "Bộ phận một cửa"
[fields.NoiDungXuLy]
value = "Tiếp nhận"
[fields.TrangThai]
from = "TinhTrang"
table = "status"
"#;

fn load(dir: &Path, chuc_danh: &str) -> Result<Mapping, MappingError> {
    let p = dir.join("m.toml");
    std::fs::write(&p, format!("{STEP}\n[fields.ChucDanh]\n{chuc_danh}\n")).expect("write");
    Mapping::load(&p)
}

fn mapping(chuc_danh: &str) -> Mapping {
    let dir = tempfile::tempdir().expect("tempdir");
    load(dir.path(), chuc_danh).unwrap_or_else(|e| panic!("loads: {e}"))
}

fn load_err(chuc_danh: &str) -> String {
    let dir = tempfile::tempdir().expect("tempdir");
    let e = load(dir.path(), chuc_danh).expect_err("must not load");
    let s = e.to_string();
    assert!(!s.contains('\n'), "one line: {s}");
    s
}

fn step(extra: Value) -> Value {
    let mut r = json!({"MaHoSo": "000.00.56.H56-261105-0007", "NguoiXuLy": "Lê Văn Tâm",
        "ThoiDiem": "2026-11-05 08:31:00", "TinhTrang": "MOI"});
    if let (Some(r), Value::Object(extra)) = (r.as_object_mut(), extra) {
        r.extend(extra);
    }
    r
}

/// Whether `ChucDanh` came out, i.e. whether the condition held on the record.
fn holds(m: &Mapping, record: Value) -> bool {
    let got = m
        .map(&record, &Vars::new())
        .unwrap_or_else(|e| panic!("rejected: {e}"));
    got.item.contains_key("ChucDanh")
}

#[test]
fn is_not_excludes_the_listed_values() {
    let m = mapping("value = \"x\"\nwhen = \"Loai\"\nis_not = [\"RUT\", 7]");
    assert!(holds(&m, step(json!({"Loai": "XONG"}))));
    assert!(!holds(&m, step(json!({"Loai": "RUT"}))));
    assert!(!holds(&m, step(json!({"Loai": " RUT "}))), "trimmed");
    assert!(!holds(&m, step(json!({"Loai": 7}))), "numbers as text");
    // A missing value is none of the listed values.
    assert!(holds(&m, step(json!({}))));
    // The same in a fallback, and in the table form.
    let m =
        mapping("from = \"ChucVu\"\nor = [{ value = \"x\", when = \"Loai\", is_not = [\"RUT\"] }]");
    assert!(holds(&m, step(json!({"Loai": "MOI"}))));
    assert!(!holds(&m, step(json!({"Loai": "RUT"}))));
    let m = mapping("value = \"x\"\nwhen = { field = \"Loai\", is_not = [\"RUT\"] }");
    assert!(holds(&m, step(json!({"Loai": "MOI"}))));
    assert!(!holds(&m, step(json!({"Loai": "RUT"}))));
}

#[test]
fn not_all_and_any_combine() {
    // Withdrawn, or finished without being an online dossier.
    let m = mapping(
        r#"value = "x"
when = { any = [
  { field = "Loai", is = ["RUT"] },
  { all = [ { field = "Loai", is = ["XONG"] }, { not = { field = "Kenh", is = ["TRUC_TUYEN"] } } ] },
] }"#,
    );
    assert!(holds(
        &m,
        step(json!({"Loai": "RUT", "Kenh": "TRUC_TUYEN"}))
    ));
    assert!(holds(
        &m,
        step(json!({"Loai": "XONG", "Kenh": "TRUC_TIEP"}))
    ));
    assert!(holds(&m, step(json!({"Loai": "XONG"}))));
    assert!(!holds(
        &m,
        step(json!({"Loai": "XONG", "Kenh": "TRUC_TUYEN"}))
    ));
    assert!(!holds(&m, step(json!({"Loai": "MOI"}))));
    // not of not, and a column path.
    let m = mapping("value = \"x\"\nwhen = { not = { not = { field = \"A.b\", is = [1] } } }");
    assert!(holds(&m, step(json!({"A": {"b": 1}}))));
    assert!(!holds(&m, step(json!({"A": {"b": 2}}))));
}

#[test]
fn some_row_of_a_list_meets_a_condition_read_on_the_row() {
    // Some document digitised and not removed.
    let m = mapping(
        r#"value = "x"
when = { some = "GiayTo", where = { all = [
  { field = "DaSoHoa", is = ["1"] },
  { field = "DaXoa", is_not = ["1"] },
] } }"#,
    );
    let doc = |so_hoa: &str, xoa: &str| json!({"DaSoHoa": so_hoa, "DaXoa": xoa});
    assert!(holds(
        &m,
        step(json!({"GiayTo": [doc("1", "1"), doc("0", "0"), doc("1", "0")]}))
    ));
    assert!(!holds(
        &m,
        step(json!({"GiayTo": [doc("1", "1"), doc("0", "0")]}))
    ));
    // An XML export's single child element is an object: a list of one.
    assert!(holds(&m, step(json!({"GiayTo": doc("1", "0")}))));
    assert!(!holds(&m, step(json!({"GiayTo": doc("1", "1")}))));
    // No rows: missing, null, empty, not a list; rows with no value are skipped.
    for none in [json!(null), json!([]), json!("1"), json!([null, ""])] {
        assert!(!holds(&m, step(json!({"GiayTo": none}))), "{none}");
    }
    assert!(!holds(&m, step(json!({}))));
    // A missing DaXoa is not "1".
    assert!(holds(&m, step(json!({"GiayTo": [{"DaSoHoa": 1}]}))));
}

#[test]
fn some_without_where_asks_for_any_row_and_rows_see_the_record() {
    let m = mapping("value = \"x\"\nwhen = { some = \"BoSung\" }");
    assert!(holds(&m, step(json!({"BoSung": [{"Lan": 1}]}))));
    assert!(holds(&m, step(json!({"BoSung": {"Lan": 1}}))));
    assert!(!holds(&m, step(json!({"BoSung": []}))));
    assert!(!holds(&m, step(json!({}))));
    // `.` is the row itself (a list of codes); `$parent.` a column of the record.
    let m = mapping(
        r#"value = "x"
when = { some = "Nhan", where = { any = [ { field = ".", is = ["KHAN"] }, { field = "$parent.Loai", is = ["RUT"] } ] } }"#,
    );
    assert!(holds(&m, step(json!({"Nhan": ["THUONG", "KHAN"]}))));
    assert!(!holds(&m, step(json!({"Nhan": ["THUONG"]}))));
    assert!(holds(&m, step(json!({"Nhan": ["THUONG"], "Loai": "RUT"}))));
    // Nested: some row with some sub-row.
    let m = mapping(
        r#"value = "x"
when = { some = "GiayTo", where = { some = "Tep", where = { field = "Loai", is = ["PDF"] } } }"#,
    );
    assert!(holds(
        &m,
        step(json!({"GiayTo": [{"Tep": []}, {"Tep": {"Loai": "PDF"}}]}))
    ));
    assert!(!holds(
        &m,
        step(json!({"GiayTo": [{"Tep": [{"Loai": "DOC"}]}]}))
    ));
}

#[test]
fn conditions_guard_list_entries_too() {
    // Inside a list field's rows, `field` reads the row and `some` the row's own lists.
    let dir = tempfile::tempdir().expect("tempdir");
    let p = dir.path().join("m.toml");
    std::fs::write(
        &p,
        r#"
target = "sync_document"
date_formats = ["yyyy-MM-dd HH:mm:ss"]
[fields.DocCode]
from = "MaHoSo"
[fields.DocTypeCode]
value = "1.005129"
[fields.DocTypeName]
value = "Thủ tục"
[fields.CitizenName]
value = "Người nộp"
[fields.DateReceived]
from = "NgayNhan"
[fields.Status]
value = "2"
[fields.DocFees]
each = "LePhi"
[fields.DocFees.fields.FeeName]
from = "TenPhi"
[fields.DocFees.fields.Price]
from = "SoTien"
when = { not = { field = "Mien", is = ["1"] } }
or = [{ value = 0 }]
"#,
    )
    .expect("write");
    let m = Mapping::load(&p).unwrap_or_else(|e| panic!("loads: {e}"));
    let r = json!({"MaHoSo": "000.00.56.H56-261105-0007", "NgayNhan": "2026-11-05 08:31:00",
        "LePhi": [{"TenPhi": "Lệ phí", "SoTien": 50000}, {"TenPhi": "Phí", "SoTien": 20000, "Mien": "1"}]});
    let got = m
        .map(&r, &Vars::new())
        .unwrap_or_else(|e| panic!("rejected: {e}"));
    let prices: Vec<&Value> = got.item["DocFees"]
        .as_array()
        .expect("fees")
        .iter()
        .map(|f| &f["Price"])
        .collect();
    assert_eq!(prices, [&json!("50000"), &json!("0")]);
}

#[test]
fn bad_conditions_fail_the_load_naming_the_key() {
    let cases = [
        (
            "value = \"x\"\nwhen = \"Loai\"",
            "fields.ChucDanh: a column's condition needs is = [...] or is_not = [...]",
        ),
        (
            "value = \"x\"\nwhen = \"Loai\"\nis = [\"A\"]\nis_not = [\"B\"]",
            "fields.ChucDanh: give is or is_not, not both",
        ),
        (
            "value = \"x\"\nis_not = [\"A\"]",
            "fields.ChucDanh: is and is_not need when",
        ),
        (
            "value = \"x\"\nwhen = \"Loai\"\nis_not = []",
            "fields.ChucDanh.is_not: empty list",
        ),
        (
            "value = \"x\"\nwhen = { field = \"Loai\", is = [\"A\"] }\nis = [\"B\"]",
            "fields.ChucDanh: with a condition table (when = { ... }), is and is_not go inside it",
        ),
        (
            "value = \"x\"\nwhen = 3",
            "fields.ChucDanh.when: when is a column",
        ),
        (
            "value = \"x\"\nwhen = { field = \"Loai\", in = [\"A\"] }",
            "fields.ChucDanh.when.in: not a key of a condition (keys: field, is, is_not, not, all, any, some, where)",
        ),
        (
            "value = \"x\"\nwhen = { field = \"Loai\", not = { field = \"B\", is = [1] } }",
            "fields.ChucDanh.when: one test per table (field, not given)",
        ),
        (
            "value = \"x\"\nwhen = { is = [\"A\"] }",
            "fields.ChucDanh.when: say what to test",
        ),
        (
            "value = \"x\"\nwhen = { not = { field = \"Loai\", is = [{ a = 1 }] } }",
            "fields.ChucDanh.when.not.is: values must be text or whole numbers",
        ),
        (
            "value = \"x\"\nwhen = { all = [] }",
            "fields.ChucDanh.when.all: empty list",
        ),
        (
            "value = \"x\"\nwhen = { any = [{ field = \"A\", is = [1] }, \"B\"] }",
            "fields.ChucDanh.when.any[1]: a condition is a table",
        ),
        (
            "value = \"x\"\nwhen = { any = { field = \"A\", is = [1] } }",
            "fields.ChucDanh.when.any: a list of conditions",
        ),
        (
            "value = \"x\"\nwhen = { some = \"GiayTo\", is = [\"A\"] }",
            "fields.ChucDanh.when.is: is goes with field, not some",
        ),
        (
            "value = \"x\"\nwhen = { not = { field = \"A\", is = [1] }, where = { field = \"B\", is = [1] } }",
            "fields.ChucDanh.when.where: where goes with some",
        ),
        (
            "value = \"x\"\nwhen = { some = \"GiayTo\", where = { field = \"a..b\", is = [1] } }",
            "fields.ChucDanh.when.where.field: \"a..b\" is not a path",
        ),
        (
            "value = \"x\"\nwhen = { some = [\"GiayTo\"] }",
            "fields.ChucDanh.when.some: a column or path as text",
        ),
        (
            "value = \"x\"\nor = [{ value = \"y\", when = { field = \"A\", is = \"B\" } }]",
            "fields.ChucDanh.or[0].when.is: a list of values",
        ),
    ];
    for (block, want) in cases {
        let s = load_err(block);
        assert!(s.contains(want), "{block}\n  gave: {s}\n  want: {want}");
    }
    let deep = format!(
        "value = \"x\"\nwhen = {}{{ field = \"A\", is = [1] }}{}",
        "{ not = ".repeat(20),
        " }".repeat(20)
    );
    assert!(load_err(&deep).contains("nest deeper than 16 levels"));
}
