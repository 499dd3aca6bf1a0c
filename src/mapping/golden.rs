//! Golden tests of mapping files: example records and the items (or rejections) they must give,
//! declared beside each mapping in `<shape>/tests/*.toml` and run by `lienthong test-mappings`.
//!
//! Owns: finding the test files under a directory, reading their inputs (inline JSON, JSON
//! files, XML files through the ingest's own XML reader), mapping each record, comparing with
//! the expectation, and the report (a pass/fail table and one coverage line per mapping).
//! Unlike the rest of `mapping/`, this runner reads files: it is a tool for people editing
//! mappings and is never used by the running gateway. The format is documented in
//! `mappings/README.md`, "Testing a mapping".

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use serde_json::Value;

use super::{Mapping, Vars};
use crate::formats::xml::{parse_records, XmlLimits};

/// Where test files live: a folder of this name anywhere under the directory searched.
pub const TESTS_DIR: &str = "tests";

/// The outcome of every case found under a directory, and what the cases leave untested.
#[derive(Debug, Default)]
pub struct GoldenReport {
    pub cases: Vec<CaseResult>,
    /// One entry per mapping file found (with or without tests), by display name.
    pub coverage: Vec<Coverage>,
}

/// One case: which mapping, which case, and whether it held.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CaseResult {
    /// The mapping file, relative to the directory searched (`vendor-a/dossier.toml`).
    pub mapping: String,
    /// `<test file stem>: <case name>`.
    pub case: String,
    /// `None` when the case passed; otherwise the first difference or problem.
    pub failure: Option<String>,
}

/// The fields a mapping can fill and those no test's expected output shows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Coverage {
    pub mapping: String,
    /// Fields with a `[fields.X]` block; list fields' own fields as `X[].Y`.
    pub fillable: Vec<String>,
    /// Of those, the ones absent from every expected item of every case of this mapping.
    pub untested: Vec<String>,
}

impl GoldenReport {
    pub fn failed(&self) -> usize {
        self.cases.iter().filter(|c| c.failure.is_some()).count()
    }
}

impl fmt::Display for GoldenReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mw = self
            .cases
            .iter()
            .map(|c| c.mapping.chars().count())
            .chain(["mapping".len()])
            .max()
            .unwrap_or(0);
        let cw = self
            .cases
            .iter()
            .map(|c| c.case.chars().count())
            .chain(["case".len()])
            .max()
            .unwrap_or(0);
        writeln!(f, "{:<mw$}  {:<cw$}  result", "mapping", "case")?;
        for c in &self.cases {
            match &c.failure {
                None => writeln!(f, "{:<mw$}  {:<cw$}  ok", c.mapping, c.case)?,
                Some(why) => writeln!(f, "{:<mw$}  {:<cw$}  FAIL: {why}", c.mapping, c.case)?,
            }
        }
        for c in &self.coverage {
            let exercised = c.fillable.len() - c.untested.len();
            write!(
                f,
                "coverage {}: {exercised}/{} fields exercised",
                c.mapping,
                c.fillable.len()
            )?;
            if c.untested.is_empty() {
                writeln!(f)?;
            } else {
                writeln!(f, "; not in any expected output: {}", c.untested.join(", "))?;
            }
        }
        writeln!(
            f,
            "{} cases, {} passed, {} failed",
            self.cases.len(),
            self.cases.len() - self.failed(),
            self.failed()
        )
    }
}

/// A test file: defaults for its cases, then the cases.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct TestFile {
    /// The mapping, relative to the test file (`../dossier.toml`).
    mapping: Option<String>,
    #[serde(default)]
    vars: BTreeMap<String, String>,
    /// The XML record element for XML inputs of every case.
    record_element: Option<String>,
    #[serde(default, rename = "case")]
    cases: Vec<CaseToml>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CaseToml {
    name: Option<String>,
    mapping: Option<String>,
    #[serde(default)]
    vars: BTreeMap<String, String>,
    /// Inline: a JSON text (string) or a TOML table; one record or an array of records.
    input: Option<toml::Value>,
    /// A JSON file (one record or an array), an XML file (`.xml`) or a CSV file (`.csv`, first
    /// row = column names), relative to the test file.
    input_file: Option<String>,
    record_element: Option<String>,
    /// Only this record (0-based) of the input.
    record: Option<usize>,
    /// The items: one (for one record) or an array (one per record), JSON text or TOML.
    expect: Option<toml::Value>,
    expect_file: Option<String>,
    /// Every record must be rejected, its reasons containing each of these.
    reject: Option<OneOrMany>,
    /// Each must appear in some warning; `[]` means there must be none.
    warnings: Option<Vec<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum OneOrMany {
    One(String),
    Many(Vec<String>),
}

impl OneOrMany {
    fn into_vec(self) -> Vec<String> {
        match self {
            OneOrMany::One(s) => vec![s],
            OneOrMany::Many(v) => v,
        }
    }
}

/// Runs every test file found in a `tests` folder under `dir` (at any depth).
pub fn run_dir(dir: &Path) -> GoldenReport {
    let mut mapping_files = Vec::new();
    let mut test_files = Vec::new();
    walk(dir, false, &mut mapping_files, &mut test_files);
    mapping_files.sort();
    test_files.sort();

    let mut report = GoldenReport::default();
    // Expected items seen per mapping (canonical path), for coverage.
    let mut expected: BTreeMap<PathBuf, Vec<Value>> = BTreeMap::new();
    let mut loaded: BTreeMap<PathBuf, Result<Mapping, String>> = BTreeMap::new();
    for file in &test_files {
        run_file(dir, file, &mut loaded, &mut expected, &mut report.cases);
    }
    let mut all: BTreeSet<PathBuf> = mapping_files.iter().map(|p| canonical(p)).collect();
    all.extend(loaded.keys().cloned());
    for m in all {
        let Some(fillable) = fillable_fields(&m) else {
            continue;
        };
        let items = expected.get(&m).map(Vec::as_slice).unwrap_or_default();
        let untested = fillable
            .iter()
            .filter(|f| !items.iter().any(|i| exercises(i, f)))
            .cloned()
            .collect();
        report.coverage.push(Coverage {
            mapping: display(dir, &m),
            fillable,
            untested,
        });
    }
    report
}

fn walk(dir: &Path, in_tests: bool, mappings: &mut Vec<PathBuf>, tests: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let p = e.path();
        // Symlinked folders are not followed: a link cycle must not hang the run.
        if e.file_type().is_ok_and(|t| t.is_dir()) {
            let is_tests = p.file_name().is_some_and(|n| n == TESTS_DIR);
            walk(&p, in_tests || is_tests, mappings, tests);
        } else if p.extension().is_some_and(|x| x == "toml") {
            if in_tests {
                tests.push(p);
            } else {
                mappings.push(p);
            }
        }
    }
}

fn canonical(p: &Path) -> PathBuf {
    std::fs::canonicalize(p).unwrap_or_else(|_| p.to_path_buf())
}

fn display(dir: &Path, p: &Path) -> String {
    let base = canonical(dir);
    p.strip_prefix(&base)
        .unwrap_or(p)
        .display()
        .to_string()
        .replace('\\', "/")
}

fn run_file(
    dir: &Path,
    file: &Path,
    loaded: &mut BTreeMap<PathBuf, Result<Mapping, String>>,
    expected: &mut BTreeMap<PathBuf, Vec<Value>>,
    out: &mut Vec<CaseResult>,
) {
    let stem = file
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    let here = file.parent().unwrap_or(Path::new("."));
    let shown = display(dir, &canonical(file));
    let parsed: TestFile = match std::fs::read_to_string(file)
        .map_err(|e| e.to_string())
        .and_then(|t| toml::from_str(&t).map_err(|e| e.to_string()))
    {
        Ok(t) => t,
        Err(e) => {
            out.push(CaseResult {
                mapping: "?".into(),
                case: stem,
                failure: Some(format!("{shown}: {}", one_line(&e))),
            });
            return;
        }
    };
    if parsed.cases.is_empty() {
        out.push(CaseResult {
            mapping: "?".into(),
            case: stem,
            failure: Some(format!("{shown}: no [[case]]")),
        });
        return;
    }
    for (i, case) in parsed.cases.into_iter().enumerate() {
        let name = format!(
            "{stem}: {}",
            case.name
                .clone()
                .unwrap_or_else(|| format!("case {}", i + 1))
        );
        let Some(rel) = case.mapping.clone().or_else(|| parsed.mapping.clone()) else {
            out.push(CaseResult {
                mapping: "?".into(),
                case: name,
                failure: Some(format!("{shown}: no `mapping` for this case")),
            });
            continue;
        };
        let path = canonical(&here.join(&rel));
        let mapping = loaded
            .entry(path.clone())
            .or_insert_with(|| Mapping::load(&path).map_err(|e| e.to_string()));
        let mapping_name = display(dir, &path);
        let mapping = match mapping {
            Ok(m) => m,
            Err(why) => {
                out.push(CaseResult {
                    mapping: mapping_name,
                    case: name,
                    failure: Some(why.clone()),
                });
                continue;
            }
        };
        let mut vars: Vars = parsed.vars.clone();
        vars.extend(case.vars.clone());
        let element = case
            .record_element
            .clone()
            .or_else(|| parsed.record_element.clone());
        let failure = match run_case(here, case, element.as_deref(), mapping, &vars) {
            Ok(items) => {
                expected.entry(path).or_default().extend(items);
                None
            }
            Err((why, items)) => {
                expected.entry(path).or_default().extend(items);
                Some(why)
            }
        };
        out.push(CaseResult {
            mapping: mapping_name,
            case: name,
            failure,
        });
    }
}

/// Runs one case; returns the expected items (for coverage), with the failure if any.
fn run_case(
    here: &Path,
    case: CaseToml,
    element: Option<&str>,
    mapping: &Mapping,
    vars: &Vars,
) -> Result<Vec<Value>, (String, Vec<Value>)> {
    let fail = |why: String| (why, Vec::new());
    let records = read_input(here, &case, element).map_err(fail)?;
    let records = match case.record {
        Some(n) => vec![records.get(n).cloned().ok_or_else(|| {
            fail(format!(
                "input: no record {n} (it holds {} records)",
                records.len()
            ))
        })?],
        None => records,
    };
    if records.is_empty() {
        return Err(fail("input: no records".into()));
    }
    let reject = case.reject.map(OneOrMany::into_vec);
    let expect = read_expect(here, case.expect, case.expect_file).map_err(fail)?;
    let expected: Vec<Value> = match (&reject, expect) {
        (Some(_), Some(_)) => return Err(fail("give `expect` or `reject`, not both".into())),
        (None, None) => return Err(fail("give `expect`, `expect_file` or `reject`".into())),
        (Some(_), None) => Vec::new(),
        (None, Some(Value::Array(items))) => items,
        (None, Some(one)) => vec![one],
    };
    let multi = records.len() > 1;
    let at = |i: usize| {
        if multi {
            format!("$[{i}]")
        } else {
            "$".to_string()
        }
    };
    if reject.is_none() && expected.len() != records.len() {
        return Err((
            format!(
                "records in the input: {}, items expected: {}",
                records.len(),
                expected.len()
            ),
            expected,
        ));
    }
    for (i, rec) in records.iter().enumerate() {
        let got = mapping.map(rec, vars);
        let warnings = match (&reject, got) {
            (Some(needles), Ok(_)) => {
                return Err((
                    format!(
                        "{}: accepted, expected a rejection with \"{}\"",
                        at(i),
                        needles.join("\", \"")
                    ),
                    expected,
                ));
            }
            (Some(needles), Err(rej)) => {
                let text = rej.to_string();
                let plain = without_sources(&rej.issues);
                if let Some(n) = needles
                    .iter()
                    .find(|n| !text.contains(n.as_str()) && !plain.contains(n.as_str()))
                {
                    return Err((
                        format!(
                            "{}: rejection lacks \"{n}\": rejected with \"{text}\"",
                            at(i)
                        ),
                        expected,
                    ));
                }
                continue;
            }
            (None, Err(rej)) => {
                return Err((format!("{}: rejected: {rej}", at(i)), expected));
            }
            (None, Ok(m)) => {
                let actual = Value::Object(m.item);
                if let Some(d) = first_difference(&at(i), &expected[i], &actual) {
                    return Err((d, expected));
                }
                m.warnings
            }
        };
        if let Some(want) = &case.warnings {
            let texts: Vec<String> = warnings.iter().map(ToString::to_string).collect();
            let plain: Vec<String> = warnings
                .iter()
                .map(|w| without_sources(std::slice::from_ref(w)))
                .collect();
            if want.is_empty() && !texts.is_empty() {
                return Err((
                    format!(
                        "{}: expected no warnings, got \"{}\"",
                        at(i),
                        texts.join("; ")
                    ),
                    expected,
                ));
            }
            if let Some(n) = want
                .iter()
                .find(|n| !texts.iter().chain(&plain).any(|t| t.contains(n.as_str())))
            {
                return Err((
                    format!(
                        "{}: no warning with \"{n}\"; warnings: \"{}\"",
                        at(i),
                        texts.join("; ")
                    ),
                    expected,
                ));
            }
        }
    }
    Ok(expected)
}

/// Issues as they read without their local sources (`NgayHenTra: value ...`): a test written
/// before rejections named the local field still passes.
fn without_sources(issues: &[super::FieldIssue]) -> String {
    let plain: Vec<super::FieldIssue> = issues
        .iter()
        .map(|i| super::FieldIssue {
            source: None,
            ..i.clone()
        })
        .collect();
    super::Rejection { issues: plain }.to_string()
}

fn read_input(here: &Path, case: &CaseToml, element: Option<&str>) -> Result<Vec<Value>, String> {
    let value = match (&case.input, &case.input_file) {
        (Some(_), Some(_)) => return Err("give `input` or `input_file`, not both".into()),
        (None, None) => return Err("no `input` or `input_file`".into()),
        (Some(v), None) => inline_json(v).map_err(|e| format!("input: {e}"))?,
        (None, Some(f)) => {
            let path = here.join(f);
            let bytes = std::fs::read(&path).map_err(|e| format!("{f}: {e}"))?;
            if path
                .extension()
                .is_some_and(|x| x.eq_ignore_ascii_case("xml"))
            {
                let Some(el) = element else {
                    return Err(format!("{f}: an XML input needs `record_element`"));
                };
                let records = parse_records(&bytes, el, &XmlLimits::default())
                    .map_err(|e| format!("{f}: {e}"))?;
                return Ok(records);
            }
            if path
                .extension()
                .is_some_and(|x| x.eq_ignore_ascii_case("csv"))
            {
                return crate::formats::csv::parse_records(&bytes, &Default::default())
                    .map_err(|e| format!("{f}: {e}"));
            }
            let bytes = bytes.strip_prefix(b"\xef\xbb\xbf").unwrap_or(&bytes);
            serde_json::from_slice(bytes).map_err(|e| format!("{f}: not JSON: {e}"))?
        }
    };
    Ok(match value {
        Value::Array(a) => a,
        one => vec![one],
    })
}

fn read_expect(
    here: &Path,
    inline: Option<toml::Value>,
    file: Option<String>,
) -> Result<Option<Value>, String> {
    match (inline, file) {
        (Some(_), Some(_)) => Err("give `expect` or `expect_file`, not both".into()),
        (Some(v), None) => inline_json(&v)
            .map(Some)
            .map_err(|e| format!("expect: {e}")),
        (None, Some(f)) => {
            let text = std::fs::read_to_string(here.join(&f)).map_err(|e| format!("{f}: {e}"))?;
            let text = text.strip_prefix('\u{feff}').unwrap_or(&text);
            serde_json::from_str(text)
                .map(Some)
                .map_err(|e| format!("{f}: not JSON: {e}"))
        }
        (None, None) => Ok(None),
    }
}

/// A string is JSON text; anything else is TOML turned into JSON.
fn inline_json(v: &toml::Value) -> Result<Value, String> {
    match v {
        toml::Value::String(s) => serde_json::from_str(s).map_err(|e| format!("not JSON: {e}")),
        other => serde_json::to_value(other).map_err(|e| e.to_string()),
    }
}

fn one_line(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// The first place where `actual` differs from `expected`, as `path: expected X, got Y`.
pub fn first_difference(path: &str, expected: &Value, actual: &Value) -> Option<String> {
    match (expected, actual) {
        (Value::Object(e), Value::Object(a)) => {
            for (k, ev) in e {
                let p = format!("{path}.{k}");
                match a.get(k) {
                    None => return Some(format!("{p}: expected {}, got nothing", short(ev))),
                    Some(av) => {
                        if let Some(d) = first_difference(&p, ev, av) {
                            return Some(d);
                        }
                    }
                }
            }
            a.iter()
                .find(|(k, _)| !e.contains_key(*k))
                .map(|(k, av)| format!("{path}.{k}: expected nothing, got {}", short(av)))
        }
        (Value::Array(e), Value::Array(a)) => {
            for (i, (ev, av)) in e.iter().zip(a).enumerate() {
                if let Some(d) = first_difference(&format!("{path}[{i}]"), ev, av) {
                    return Some(d);
                }
            }
            (e.len() != a.len())
                .then(|| format!("{path}: expected {} entries, got {}", e.len(), a.len()))
        }
        (e, a) if e == a => None,
        (e, a) => Some(format!("{path}: expected {}, got {}", short(e), short(a))),
    }
}

fn short(v: &Value) -> String {
    let s = v.to_string();
    if s.chars().count() > 80 {
        format!("{}…", s.chars().take(80).collect::<String>())
    } else {
        s
    }
}

/// The fields a mapping file has blocks for, read from the file itself (`X`, and `X[].Y` for
/// the fields of a list field). `None` when the file is not a mapping (no `target` key).
fn fillable_fields(mapping: &Path) -> Option<Vec<String>> {
    let text = std::fs::read_to_string(mapping).ok()?;
    let doc: toml::Table = toml::from_str(&text).ok()?;
    doc.get("target")?;
    let mut out = Vec::new();
    if let Some(toml::Value::Table(fields)) = doc.get("fields") {
        for (name, block) in fields {
            out.push(name.clone());
            if let Some(toml::Value::Table(inner)) = block.get("fields") {
                out.extend(inner.keys().map(|k| format!("{name}[].{k}")));
            }
        }
    }
    Some(out)
}

/// Whether an expected item shows a value for `field` (`X` or `X[].Y`).
fn exercises(item: &Value, field: &str) -> bool {
    match field.split_once("[].") {
        None => item.get(field).is_some(),
        Some((list, key)) => match item.get(list) {
            Some(Value::Array(rows)) => rows.iter().any(|r| r.get(key).is_some()),
            Some(row @ Value::Object(_)) => row.get(key).is_some(),
            _ => false,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MAPPING: &str = r#"
target = "step"
date_formats = ["yyyy-MM-dd HH:mm:ss"]

[fields.MaHoSo]
from = "code"

[fields.NguoiXuLy]
from = "officer"

[fields.ThoiDiemXuLy]
from = "at"

[fields.PhongBanXuLy]
from = "dept"

[fields.ChucDanh]
from = "title"

[fields.NoiDungXuLy]
from = "note"

[fields.TrangThai]
from = "status"
"#;

    fn shape(dir: &Path, expected_status: &str) {
        let shape = dir.join("shape");
        std::fs::create_dir_all(shape.join("tests")).unwrap();
        std::fs::write(shape.join("step.toml"), MAPPING).unwrap();
        std::fs::write(
            shape.join("tests/steps.toml"),
            format!(
                r#"
mapping = "../step.toml"

[[case]]
name = "a step"
input = '{{"code": "000.00.56.H56-261105-0007", "officer": "Lê Văn Tâm", "at": "2026-11-05 08:31:00", "dept": "Một cửa", "note": "Tiếp nhận", "status": "2"}}'
expect = '{{"MaHoSo": "000.00.56.H56-261105-0007", "NguoiXuLy": "Lê Văn Tâm", "ThoiDiemXuLy": "20261105083100", "PhongBanXuLy": "Một cửa", "NoiDungXuLy": "Tiếp nhận", "TrangThai": "{expected_status}"}}'
warnings = []

[[case]]
name = "no time"
input = {{ code = "000.00.56.H56-261105-0007", officer = "Lê Văn Tâm", dept = "Một cửa", note = "x", status = "2" }}
reject = ["ThoiDiemXuLy", "missing"]
"#
            ),
        )
        .unwrap();
    }

    #[test]
    fn passing_cases_and_coverage() {
        let dir = tempfile::tempdir().unwrap();
        shape(dir.path(), "2");
        let report = run_dir(dir.path());
        assert_eq!(report.failed(), 0, "{report}");
        assert_eq!(report.cases.len(), 2);
        assert_eq!(report.coverage.len(), 1);
        assert_eq!(report.coverage[0].mapping, "shape/step.toml");
        assert_eq!(report.coverage[0].untested, vec!["ChucDanh".to_string()]);
        let text = report.to_string();
        assert!(
            text.contains("shape/step.toml  steps: a step   ok"),
            "{text}"
        );
        assert!(
            text.contains("coverage shape/step.toml: 6/7 fields exercised; not in any expected output: ChucDanh"),
            "{text}"
        );
    }

    #[test]
    fn a_wrong_expectation_is_reported_with_its_path() {
        let dir = tempfile::tempdir().unwrap();
        shape(dir.path(), "4");
        let report = run_dir(dir.path());
        assert_eq!(report.failed(), 1, "{report}");
        let failure = report.cases[0].failure.as_deref().unwrap();
        assert_eq!(failure, "$.TrangThai: expected \"4\", got \"2\"");
        assert!(report.to_string().contains("FAIL: $.TrangThai"), "{report}");
    }

    #[test]
    fn reasons_match_with_or_without_the_record_field() {
        let dir = tempfile::tempdir().unwrap();
        shape(dir.path(), "2");
        let case = |reject: &str| {
            format!(
                "mapping = \"../step.toml\"\n[[case]]\nname = \"no time\"\n\
                 input = {{ code = \"000.00.56.H56-261105-0007\", officer = \"A\", dept = \"D\", note = \"x\", status = \"2\" }}\n\
                 reject = {reject}\n"
            )
        };
        let tests = dir.path().join("shape/tests");
        std::fs::write(
            tests.join("steps.toml"),
            case(r#"["ThoiDiemXuLy (from at): missing: mandatory"]"#),
        )
        .unwrap();
        std::fs::write(
            tests.join("older.toml"),
            case(r#"["ThoiDiemXuLy: missing: mandatory"]"#),
        )
        .unwrap();
        std::fs::write(
            tests.join("wrong.toml"),
            case(r#"["ThoiDiemXuLy (from time): missing"]"#),
        )
        .unwrap();
        let report = run_dir(dir.path());
        assert_eq!(report.failed(), 1, "{report}");
        let wrong = report
            .cases
            .iter()
            .find_map(|c| c.failure.as_deref())
            .unwrap_or_default();
        assert!(
            wrong.contains(
                "rejection lacks \"ThoiDiemXuLy (from time): missing\": rejected with \"ThoiDiemXuLy (from at): missing: mandatory\""
            ),
            "{report}"
        );
    }

    #[test]
    fn rejections_warnings_and_bad_test_files_fail_clearly() {
        let dir = tempfile::tempdir().unwrap();
        shape(dir.path(), "2");
        let tests = dir.path().join("shape/tests");
        std::fs::write(
            tests.join("more.toml"),
            r#"
mapping = "../step.toml"

[[case]]
name = "accepted but should not be"
input = '{"code": "000.00.56.H56-261105-0007", "officer": "A", "at": "2026-11-05 08:31:00", "dept": "D", "note": "x", "status": "2"}'
reject = "ThoiDiemXuLy"

[[case]]
name = "wrong reason"
input = '{"code": "000.00.56.H56-261105-0007", "officer": "A", "dept": "D", "note": "x", "status": "2"}'
reject = "NguoiXuLy"

[[case]]
name = "missing warning"
input = '{"code": "000.00.56.H56-261105-0007", "officer": "A", "at": "2026-11-05 08:31:00", "dept": "D", "note": "x", "status": "2"}'
expect = '{"MaHoSo": "000.00.56.H56-261105-0007", "NguoiXuLy": "A", "ThoiDiemXuLy": "20261105083100", "PhongBanXuLy": "D", "NoiDungXuLy": "x", "TrangThai": "2"}'
warnings = ["ChucDanh"]

[[case]]
name = "list lengths"
input = '[{"code": "000.00.56.H56-261105-0007", "officer": "A", "at": "2026-11-05 08:31:00", "dept": "D", "note": "x", "status": "2"}]'
expect = '[]'
"#,
        )
        .unwrap();
        std::fs::write(tests.join("broken.toml"), "[[case]\n").unwrap();
        std::fs::write(
            tests.join("nomapping.toml"),
            "mapping = \"../nope.toml\"\n[[case]]\ninput = '{}'\nreject = \"x\"\n",
        )
        .unwrap();
        let report = run_dir(dir.path());
        let fails: Vec<&str> = report
            .cases
            .iter()
            .filter_map(|c| c.failure.as_deref())
            .collect();
        assert_eq!(fails.len(), 6, "{report}");
        assert!(
            fails[0].starts_with("shape/tests/broken.toml:"),
            "{}",
            fails[0]
        );
        assert!(
            fails[1].contains("accepted, expected a rejection"),
            "{}",
            fails[1]
        );
        assert!(
            fails[2].contains("rejection lacks \"NguoiXuLy\""),
            "{}",
            fails[2]
        );
        assert!(
            fails[3].contains("no warning with \"ChucDanh\""),
            "{}",
            fails[3]
        );
        assert!(
            fails[4].contains("records in the input: 1, items expected: 0"),
            "{}",
            fails[4]
        );
    }

    #[test]
    fn differences_name_the_first_path() {
        let e = serde_json::json!({"A": "1", "L": [{"x": "1"}, {"x": "2"}]});
        let a = serde_json::json!({"A": "1", "L": [{"x": "1"}, {"x": "3"}], "B": "2"});
        assert_eq!(
            first_difference("$", &e, &a).unwrap(),
            "$.L[1].x: expected \"2\", got \"3\""
        );
        let a = serde_json::json!({"A": "1", "L": [{"x": "1"}, {"x": "2"}], "B": "2"});
        assert_eq!(
            first_difference("$", &e, &a).unwrap(),
            "$.B: expected nothing, got \"2\""
        );
        assert_eq!(first_difference("$", &e, &e), None);
    }

    #[test]
    fn shipped_mappings_pass_their_golden_tests() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("mappings");
        let report = run_dir(&dir);
        assert_eq!(report.failed(), 0, "{report}");
        for shape in ["vendor-a", "vendor-b", "vendor-c"] {
            for m in ["dossier.toml", "step.toml"] {
                let name = format!("{shape}/{m}");
                assert!(
                    report.cases.iter().any(|c| c.mapping == name),
                    "no golden test for {name}:\n{report}"
                );
            }
        }
    }
}
