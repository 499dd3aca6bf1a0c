//! The generated catalog and its changes, without sockets (the `/share` side is in
//! `sim/tests.rs`).

use std::collections::{BTreeSet, HashSet};
use std::time::Instant;

use regex::Regex;
use serde_json::Value;

use super::*;

const SEED: u64 = 42;

fn bytes(v: &Value) -> Vec<u8> {
    serde_json::to_vec(v).expect("serialise")
}

fn text<'a>(v: &'a Value, key: &str) -> &'a str {
    v[key]
        .as_str()
        .unwrap_or_else(|| panic!("{key} is not a string in {v}"))
}

fn array<'a>(v: &'a Value, key: &str) -> &'a Vec<Value> {
    v[key]
        .as_array()
        .unwrap_or_else(|| panic!("{key} is not an array in {v}"))
}

#[test]
fn same_seed_and_count_give_byte_identical_objects() {
    let a = ProcedureCatalog::generate(500, SEED);
    let b = ProcedureCatalog::generate(500, SEED);
    assert_eq!(a.codes(), b.codes());
    assert_eq!(a.list_json(), b.list_json());
    for code in a.codes() {
        let (x, y) = (a.procedure(&code).unwrap(), b.procedure(&code).unwrap());
        assert_eq!(bytes(&x), bytes(&y), "{code}");
    }
    let other = ProcedureCatalog::generate(500, SEED + 1);
    assert_ne!(a.codes(), other.codes());
}

#[test]
fn a_procedure_keeps_its_body_when_the_catalog_grows() {
    let small = ProcedureCatalog::generate(300, SEED);
    let big = ProcedureCatalog::generate(600, SEED);
    let common: Vec<String> = small.codes().into_iter().filter(|c| big.knows(c)).collect();
    assert!(common.len() >= 250, "{}", common.len());
    // The key fields depend only on the seed and the code (ID and related procedures follow the
    // list, which grew).
    for code in &common {
        let (a, b) = (small.procedure(code).unwrap(), big.procedure(code).unwrap());
        for key in [
            "TENTTHC",
            "CACHTHUCTHUCHIEN",
            "THANHPHANHOSO",
            "CAPTHUCHIEN",
        ] {
            assert_eq!(a[key], b[key], "{code} {key}");
        }
    }
}

#[test]
fn default_size_and_generation_time() {
    let started = Instant::now();
    let catalog = ProcedureCatalog::generate(crate::sim::DEFAULT_PROCEDURES, SEED);
    let elapsed = started.elapsed();
    assert_eq!(catalog.len(), 2000);
    let total: usize = catalog
        .codes()
        .iter()
        .map(|c| bytes(&catalog.procedure(c).unwrap()).len())
        .sum();
    println!(
        "2000 procedures generated in {elapsed:?}; average object {} bytes",
        total / 2000
    );
    let codes: HashSet<String> = catalog.codes().into_iter().collect();
    assert_eq!(codes.len(), 2000, "codes are distinct");
    let listed = catalog.codes();
    let mut sorted = listed.clone();
    sorted.sort();
    assert_eq!(listed, sorted, "the list is in code order");
}

#[test]
fn fewer_procedures_than_fixtures_still_holds_every_fixture() {
    let catalog = ProcedureCatalog::generate(3, SEED);
    assert_eq!(catalog.len(), ProcedureCatalog::fixture_codes().len());
}

#[test]
fn fixture_procedures_are_present_in_force_with_their_names_and_fields() {
    let catalog = ProcedureCatalog::generate(2000, SEED);
    let rows: Vec<Value> =
        serde_json::from_str(include_str!("../../../fixtures/procedures.json")).unwrap();
    assert_eq!(rows.len(), ProcedureCatalog::fixture_codes().len());
    let list: Value = serde_json::from_slice(&catalog.list_json()).unwrap();
    for row in rows {
        let code = text(&row, "MaTTHC");
        let p = catalog.procedure(code).expect(code);
        assert_eq!(p["MATTHC"], row["MaTTHC"]);
        assert_eq!(p["TENTTHC"], row["TenTTHC"]);
        assert_eq!(p["TRANGTHAI"], "1");
        assert_eq!(p["LINHVUCTHUCHIEN"][0]["MALINHVUC"], row["MaLinhVuc"]);
        assert_eq!(p["LINHVUCTHUCHIEN"][0]["TENLINHVUC"], row["TenLinhVuc"]);
        let listed = list
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["MATTHC"] == row["MaTTHC"])
            .expect("listed");
        assert_eq!(listed["TRANGTHAI"], "1");
        assert_eq!(listed["TENTTHC"], row["TenTTHC"]);
        assert!(catalog.knows(code));
    }
    // The fields' dictionary names every fixture field as the fixture does.
    for row in serde_json::from_str::<Vec<Value>>(include_str!("../../../fixtures/procedures.json"))
        .unwrap()
    {
        assert!(
            catalog
                .fields()
                .as_array()
                .unwrap()
                .iter()
                .any(|f| f["MALINHVUC"] == row["MaLinhVuc"] && f["TENLINHVUC"] == row["TenLinhVuc"]),
            "{row}"
        );
    }
}

#[test]
fn every_object_has_the_contract_structure() {
    let catalog = ProcedureCatalog::generate(2000, SEED);
    let code_re = Regex::new(r"^([12]\.\d{6}|3\.\d{6}\.000\.00\.00\.H56)$").unwrap();
    let field_re = Regex::new(r"^G\d\d-[A-Z]{2}\d\d$").unwrap();
    let date_re = Regex::new(r"^\d{14}$").unwrap();
    let mut seen = Seen::default();
    for code in catalog.codes() {
        let p = catalog.procedure(&code).unwrap();
        assert!(code_re.is_match(&code), "{code}");
        seen.series.insert(code[..1].to_string());
        for key in [
            "ID",
            "MATTHC",
            "TENTTHC",
            "MACOQUANCONGBO",
            "LOAITTHC",
            "TRANGTHAI",
            "QUYETDINH",
            "MOTADOITUONGTHUCHIEN",
            "DIACHITIEPNHAN",
            "YEUCAU",
            "TUKHOA",
        ] {
            assert!(!text(&p, key).is_empty(), "{code} {key}");
        }
        assert_eq!(text(&p, "MATTHC"), code);
        assert!(["1", "2"].contains(&text(&p, "LOAITTHC")));

        let levels = array(&p, "CAPTHUCHIEN");
        assert!((1..=2).contains(&levels.len()), "{code}");
        for l in levels {
            let expected = match text(l, "CAPTHUCHIEN") {
                "1" => "Cấp Bộ",
                "2" => "Cấp Tỉnh",
                "4" => "Cấp Xã",
                other => panic!("{code}: level {other}"),
            };
            assert_eq!(text(l, "TENCAP"), expected);
        }
        seen.two_levels |= levels.len() == 2;

        let fields = array(&p, "LINHVUCTHUCHIEN");
        assert_eq!(fields.len(), 1);
        assert!(field_re.is_match(text(&fields[0], "MALINHVUC")), "{code}");
        assert!(!text(&fields[0], "TENLINHVUC").is_empty());
        seen.fields
            .insert(text(&fields[0], "MALINHVUC").to_string());

        for d in array(&p, "DOITUONGTHUCHIEN") {
            assert!(!text(d, "MADOITUONG").is_empty() && !text(d, "TENDOITUONG").is_empty());
        }
        assert_eq!(array(&p, "COQUANTHUCHIEN").len(), levels.len());
        for a in array(&p, "COQUANTHUCHIEN") {
            assert!(text(a, "MADONVI").starts_with("000.00."));
            assert!(!text(a, "TENDONVI").is_empty());
        }
        for t in array(&p, "TRINHTUTHUCHIEN") {
            assert!(!text(t, "TRUONGHOP").is_empty());
            let steps = array(t, "TRINHTU");
            assert!(steps.len() >= 3);
            assert!(text(&steps[0], "TENTRINHTU").starts_with("Bước 1"));
        }

        let channels = array(&p, "CACHTHUCTHUCHIEN");
        assert!((1..=3).contains(&channels.len()), "{code}");
        let kenh: Vec<&str> = channels.iter().map(|c| text(c, "KENH")).collect();
        let mut sorted = kenh.clone();
        sorted.dedup();
        assert_eq!(kenh, sorted, "{code}: channels distinct and ordered");
        seen.all_channels |= channels.len() == 3;
        seen.fewer_channels |= channels.len() < 3;
        let mut in_person_fee = None;
        for c in channels {
            assert!(["1", "2", "3"].contains(&text(c, "KENH")));
            for t in array(c, "THOIGIAN") {
                let days: u32 = text(t, "THOIGIANGIAIQUYET").parse().expect("days");
                assert!(days > 0);
                match text(t, "DONVITINH") {
                    "Ngày làm việc" => seen.working_days = true,
                    "Ngày" => seen.calendar_days = true,
                    other => panic!("{code}: unit {other}"),
                }
                let fees = array(t, "PHILEPHI");
                seen.free |= fees.is_empty();
                let mut sum = 0u64;
                for f in fees {
                    sum += text(f, "SOTIEN").parse::<u64>().expect("SOTIEN");
                    assert_eq!(text(f, "DONVI"), "Đồng");
                    assert!(!text(f, "MAPHILEPHI").is_empty());
                    assert!(!text(f, "MOTA").is_empty());
                }
                match text(c, "KENH") {
                    "1" => in_person_fee = Some(sum),
                    "2" => seen.cheaper_online |= in_person_fee.is_some_and(|f| sum < f),
                    _ => {}
                }
            }
        }

        let cases = array(&p, "THANHPHANHOSO");
        assert!((1..=3).contains(&cases.len()), "{code}");
        seen.several_cases |= cases.len() > 1;
        for case in cases {
            assert!(!text(case, "TRUONGHOP").is_empty());
            let docs = array(case, "GIAYTO");
            assert!(
                (2..=6).contains(&docs.len()),
                "{code}: {} documents",
                docs.len()
            );
            for d in docs {
                assert!(text(d, "MAGIAYTO").starts_with(&format!("{code}-GT")));
                assert!(!text(d, "TENGIAYTO").is_empty());
                text(d, "SOBANCHINH").parse::<u32>().expect("SOBANCHINH");
                text(d, "SOBANSAO").parse::<u32>().expect("SOBANSAO");
                text(d, "TENMAUDON");
                text(d, "URL");
            }
        }
        for r in array(&p, "KETQUATHUCHIEN") {
            assert!(!text(r, "MAKETQUA").is_empty() && !text(r, "TENKETQUA").is_empty());
        }
        let legal = array(&p, "CANCUPHAPLY");
        assert!((1..=4).contains(&legal.len()), "{code}");
        for l in legal {
            assert!(!text(l, "SOVANBAN").is_empty() && !text(l, "TENVANBAN").is_empty());
            assert!(!text(l, "COQUANBANHANH").is_empty());
            assert!(date_re.is_match(text(l, "NGAYBANHANH")));
        }
        seen.extra_keys |= p.get("TTHCLIENQUAN").is_some();
    }
    assert_eq!(
        seen.series,
        BTreeSet::from(["1".to_string(), "2".into(), "3".into()])
    );
    assert!(
        (40..=80).contains(&seen.fields.len()),
        "{} fields",
        seen.fields.len()
    );
    assert!(seen.two_levels && seen.all_channels && seen.fewer_channels);
    assert!(seen.working_days && seen.calendar_days && seen.free && seen.cheaper_online);
    assert!(seen.several_cases && seen.extra_keys);
}

#[derive(Default)]
struct Seen {
    series: BTreeSet<String>,
    fields: BTreeSet<String>,
    two_levels: bool,
    all_channels: bool,
    fewer_channels: bool,
    working_days: bool,
    calendar_days: bool,
    free: bool,
    cheaper_online: bool,
    several_cases: bool,
    extra_keys: bool,
}

fn paid_procedure(catalog: &ProcedureCatalog) -> String {
    catalog
        .codes()
        .into_iter()
        .find(|c| {
            let p = catalog.procedure(c).unwrap();
            p["CACHTHUCTHUCHIEN"][0]["THOIGIAN"][0]["PHILEPHI"]
                .as_array()
                .is_some_and(|f| !f.is_empty())
        })
        .expect("a procedure with a fee")
}

#[test]
fn a_change_changes_content_and_not_the_list() {
    let catalog = ProcedureCatalog::generate(200, SEED);
    let code = paid_procedure(&catalog);
    let before = catalog.procedure(&code).unwrap();
    let list_before = catalog.list_json();
    assert!(catalog.change(&code));
    let once = catalog.procedure(&code).unwrap();
    assert_ne!(once, before);
    let fee = |p: &Value| -> u64 {
        p["CACHTHUCTHUCHIEN"][0]["THOIGIAN"][0]["PHILEPHI"][0]["SOTIEN"]
            .as_str()
            .unwrap()
            .parse()
            .unwrap()
    };
    assert!(fee(&once) > fee(&before), "the first change raises the fee");
    assert!(catalog.change(&code));
    let twice = catalog.procedure(&code).unwrap();
    assert_ne!(twice, once);
    let days = |p: &Value| -> u32 {
        p["CACHTHUCTHUCHIEN"][0]["THOIGIAN"][0]["THOIGIANGIAIQUYET"]
            .as_str()
            .unwrap()
            .parse()
            .unwrap()
    };
    assert!(
        days(&twice) > days(&once),
        "the second lengthens the deadline"
    );
    assert_eq!(catalog.list_json(), list_before);
    assert!(!catalog.change("9.999999"));
}

#[test]
fn change_some_is_reproducible_and_distinct() {
    let a = ProcedureCatalog::generate(300, SEED);
    let b = ProcedureCatalog::generate(300, SEED);
    let before: Vec<Value> = a.codes().iter().map(|c| a.procedure(c).unwrap()).collect();
    let changed = a.change_some(25, 7);
    assert_eq!(changed, b.change_some(25, 7));
    assert_eq!(changed.len(), 25);
    assert_eq!(changed.iter().collect::<HashSet<_>>().len(), 25);
    let differing: Vec<String> = a
        .codes()
        .into_iter()
        .zip(before)
        .filter(|(c, v)| a.procedure(c).as_ref() != Some(v))
        .map(|(c, _)| c)
        .collect();
    assert_eq!(differing, changed);
    assert_ne!(a.change_some(25, 8), changed);
    // Withdrawn procedures are not picked.
    let small = ProcedureCatalog::generate(20, SEED);
    let codes = small.codes();
    for c in &codes[..10] {
        assert!(small.withdraw(c));
    }
    let picked = small.change_some(100, 1);
    assert_eq!(picked, codes[10..].to_vec());
}

#[test]
fn withdraw_remove_and_restore_keep_the_content() {
    let catalog = ProcedureCatalog::generate(100, SEED);
    let code = catalog.codes()[40].clone();
    let original = catalog.procedure(&code).unwrap();
    let list_of =
        |c: &ProcedureCatalog| -> Value { serde_json::from_slice(&c.list_json()).unwrap() };
    let row = |c: &ProcedureCatalog| -> Option<Value> {
        list_of(c)
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["MATTHC"] == code.as_str())
            .cloned()
    };

    assert!(catalog.withdraw(&code));
    assert_eq!(row(&catalog).unwrap()["TRANGTHAI"], "0");
    assert_eq!(catalog.procedure(&code).unwrap()["TRANGTHAI"], "0");
    assert_eq!(
        catalog.counts(),
        CatalogCounts {
            listed: 100,
            in_force: 99,
            withdrawn: 1,
            removed: 0
        }
    );
    assert!(catalog.restore(&code));
    assert_eq!(catalog.procedure(&code).unwrap(), original);
    assert_eq!(row(&catalog).unwrap()["TRANGTHAI"], "1");
    assert!(!catalog.restore(&code), "already in force");

    assert!(catalog.remove(&code));
    assert!(!catalog.remove(&code));
    assert!(row(&catalog).is_none());
    assert!(catalog.procedure(&code).is_none());
    assert!(!catalog.knows(&code));
    assert_eq!(catalog.len(), 99);
    assert!(!catalog.codes().contains(&code));
    assert!(catalog.restore(&code));
    assert_eq!(catalog.procedure(&code).unwrap(), original);
    assert_eq!(catalog.codes()[40], code, "back in its place");

    // A change made while withdrawn survives the restore.
    assert!(catalog.withdraw(&code));
    assert!(catalog.change(&code));
    let changed = catalog.procedure(&code).unwrap();
    assert!(catalog.restore(&code));
    let restored = catalog.procedure(&code).unwrap();
    assert_eq!(restored["TRANGTHAI"], "1");
    assert_ne!(restored, original);
    assert_eq!(restored["CACHTHUCTHUCHIEN"], changed["CACHTHUCTHUCHIEN"]);
    assert!(!catalog.withdraw("9.999999"));
    assert!(!catalog.restore("9.999999"));
}

#[test]
fn remove_many_spares_the_fixtures() {
    let catalog = ProcedureCatalog::generate(100, SEED);
    let removed = catalog.remove_many(30);
    assert_eq!(removed.len(), 30);
    assert_eq!(catalog.len(), 70);
    let fixtures = ProcedureCatalog::fixture_codes();
    assert!(removed.iter().all(|c| !fixtures.contains(c)));
    assert!(fixtures.iter().all(|c| catalog.knows(c)));
    assert_eq!(catalog.remove_many(1000).len(), 70 - fixtures.len());
    assert_eq!(catalog.len(), fixtures.len());
}

#[test]
fn reordered_keys_are_the_same_value_in_other_bytes() {
    let catalog = ProcedureCatalog::generate(50, SEED);
    let code = catalog.codes()[7].clone();
    let before = catalog.procedure(&code).unwrap();
    assert!(catalog.reorder_keys(&code));
    let after = catalog.procedure(&code).unwrap();
    assert_eq!(after, before);
    assert_ne!(bytes(&after), bytes(&before));
    let first_key = |v: &Value| v.as_object().unwrap().keys().next().unwrap().clone();
    assert_eq!(first_key(&before), "ID");
    assert_ne!(first_key(&after), "ID");
    assert_eq!(
        first_key(&after["CACHTHUCTHUCHIEN"][0]),
        "THOIGIAN",
        "nested objects are reversed too"
    );
    // Later changes keep the new order.
    assert!(catalog.withdraw(&code));
    let withdrawn = catalog.procedure(&code).unwrap();
    assert_eq!(first_key(&withdrawn), first_key(&after));
    assert!(!catalog.reorder_keys("9.999999"));
}

#[test]
fn procedure_calls_are_cut_after_n_and_counted() {
    let catalog = ProcedureCatalog::generate(20, SEED);
    let code = catalog.codes()[0].clone();
    catalog.fail_procedure_calls_after(Some(2));
    assert!(catalog.answer_procedure(&code).unwrap().is_some());
    assert!(catalog.answer_procedure("9.999999").unwrap().is_none());
    assert_eq!(catalog.answer_procedure(&code), Err(ProcedureCallsCut));
    assert_eq!(catalog.answer_procedure(&code), Err(ProcedureCallsCut));
    assert_eq!(catalog.procedure_calls(), 2);
    catalog.fail_procedure_calls_after(None);
    assert!(catalog.answer_procedure(&code).unwrap().is_some());
    assert_eq!(catalog.procedure_calls(), 3);
    catalog.list_json();
    catalog.list_json();
    assert_eq!(catalog.list_calls(), 2);
}

#[test]
fn control_requests_are_checked() {
    let catalog = ProcedureCatalog::generate(40, SEED);
    let code = catalog.codes()[3].clone();
    let (status, answer) = catalog.control(
        "withdraw",
        format!(r#"{{"codes": ["{code}", "9.999999"]}}"#).as_bytes(),
    );
    assert_eq!(status, 200);
    assert_eq!(answer["codes"], serde_json::json!([code]));
    assert_eq!(answer["skipped"], serde_json::json!(["9.999999"]));
    let (status, answer) = catalog.control("change", br#"{"count": 3, "seed": 9}"#);
    assert_eq!(status, 200);
    assert_eq!(answer["codes"].as_array().unwrap().len(), 3);
    for (action, body, expected) in [
        ("withdraw", &br#"{"count": 3}"#[..], 400),
        ("change", br#"{}"#, 400),
        ("change", br#"{"codes": [], "count": 1}"#, 400),
        ("change", br#"{"cdoes": []}"#, 400),
        ("change", b"not json", 400),
        ("explode", br#"{"codes": []}"#, 404),
    ] {
        assert_eq!(catalog.control(action, body).0, expected, "{action}");
    }
}
