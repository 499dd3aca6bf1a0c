//! Mapping files as users work with them: golden tests run by the binary, and a new shape
//! connected by files and a config block alone.

use std::path::Path;
use std::process::Command;

use serde_json::{json, Value};

use crate::support::{mappings, spawn_app_with, sqlite, TOKEN};

fn test_mappings(dir: &Path) -> (i32, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_lienthong"))
        .args(["test-mappings", "--dir"])
        .arg(dir)
        .output()
        .expect("run lienthong");
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    (out.status.code().unwrap_or(-1), text)
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let target = to.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            copy_dir(&e.path(), &target);
        } else {
            std::fs::copy(e.path(), &target).unwrap();
        }
    }
}

#[test]
fn shipped_mappings_pass_their_golden_tests() {
    let (code, out) = test_mappings(&mappings());
    assert_eq!(code, 0, "{out}");
    assert!(out.starts_with("mapping "), "{out}");
    for shape in ["vendor-a", "vendor-b", "vendor-c"] {
        for m in ["dossier.toml", "step.toml"] {
            assert!(
                out.lines()
                    .any(|l| l.starts_with(&format!("{shape}/{m} ")) && l.ends_with(" ok")),
                "no passing case for {shape}/{m}:\n{out}"
            );
            assert!(
                out.contains(&format!("coverage {shape}/{m}: ")),
                "no coverage line for {shape}/{m}:\n{out}"
            );
        }
    }
    assert!(out.contains(" passed, 0 failed"), "{out}");
}

#[test]
fn a_changed_expectation_fails_with_its_path() {
    let dir = tempfile::tempdir().unwrap();
    copy_dir(&mappings(), dir.path());
    let file = dir.path().join("vendor-c/tests/steps.toml");
    let text = std::fs::read_to_string(&file).unwrap();
    let changed = text.replacen(
        "\"ThoiDiemXuLy\": \"20261020092000\"",
        "\"ThoiDiemXuLy\": \"20261020093000\"",
        1,
    );
    assert_ne!(text, changed, "the expectation to change is in the file");
    std::fs::write(&file, changed).unwrap();

    let (code, out) = test_mappings(dir.path());
    assert_eq!(code, 1, "{out}");
    let failed: Vec<&str> = out.lines().filter(|l| l.contains("FAIL")).collect();
    assert_eq!(failed.len(), 1, "{out}");
    assert!(failed[0].starts_with("vendor-c/step.toml "), "{out}");
    assert!(
        failed[0]
            .ends_with("FAIL: $.ThoiDiemXuLy: expected \"20261020093000\", got \"20261020092000\""),
        "{out}"
    );
    assert!(out.contains(", 1 failed"), "{out}");

    // A folder without tests (a mistyped --dir) fails too.
    let empty = tempfile::tempdir().unwrap();
    let (code, out) = test_mappings(empty.path());
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("no golden tests"), "{out}");
}

/// A shape the gateway has never seen (vendor-c's XML export) is connected by copying its
/// files and pointing a source at them: no code knows about it.
#[tokio::test]
async fn a_new_shape_is_files_and_a_config_block() {
    let dir = tempfile::tempdir().unwrap();
    let shape = dir.path().join("commune-x");
    copy_dir(&mappings().join("vendor-c"), &shape);
    let app = spawn_app_with(sqlite().await, Default::default(), |c| {
        c.sources[0].dossier_mapping = shape.join("dossier.toml");
        c.sources[0].step_mapping = shape.join("step.toml");
        c.sources[0].xml_record_element = Some("HoSo".into());
    })
    .await;

    let export = std::fs::read(shape.join("tests/hoso.xml")).unwrap();
    let xml = [("content-type", "application/xml")];
    let (status, answer) = app.post_raw("dossiers", export, Some(TOKEN), &xml).await;
    assert_eq!(status, 202, "{answer}");
    assert_eq!(answer["accepted"].as_array().unwrap().len(), 2, "{answer}");
    let rejected = answer["rejected"].as_array().unwrap();
    assert_eq!(rejected.len(), 1, "{answer}");
    assert_eq!(rejected[0]["index"], 2);
    let why = rejected[0]["error"].as_str().unwrap();
    assert!(why.contains("TrangThaiHoSo"), "{why}");

    // The same source takes the steps as JSON here; they are the step export read by the
    // same XML reader.
    let steps = lienthong::formats::xml::parse_records(
        &std::fs::read(shape.join("tests/quatrinh.xml")).unwrap(),
        "QuaTrinh",
        &Default::default(),
    )
    .unwrap();
    let (status, answer) = app.post("steps", &json!(steps[..2])).await;
    assert_eq!(status, 202, "{answer}");
    assert_eq!(answer["accepted"].as_array().unwrap().len(), 2, "{answer}");

    let lane = app.lane("it-mappings", None);
    app.drain(&lane).await;

    let birth = app
        .sim
        .dossier("000.00.56.H56-261104-0015")
        .expect("the birth registration reached the portal");
    assert_eq!(birth["MaTTHC"], "1.004227");
    assert_eq!(birth["DonViXuLy"], "Trung tâm Phục vụ hành chính công tỉnh");
    assert_eq!(birth["DanhSachLePhi"][0]["Gia"], "8000");
    let land = app
        .sim
        .dossier("000.00.56.H56-261020-0042")
        .expect("the land dossier reached the portal");
    assert_eq!(land["MaTTHC"], "1.005129");
    assert_eq!(
        land["DanhSachHoSoBoSung"][0]["HoSoBoSungId"],
        Value::from("000.00.56.H56-261020-0042-BS1")
    );
    let step_statuses: Vec<String> = app
        .sim
        .events("000.00.56.H56-261020-0042")
        .into_iter()
        .filter(|e| e.thoi_diem.is_some())
        .map(|e| e.status)
        .collect();
    assert_eq!(step_statuses, ["2", "5"]);
    assert!(app.sim.dossier("000.00.56.H56-261105-0019").is_none());
}
