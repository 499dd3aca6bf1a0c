//! File drop as a local system sees it: files left in the inbox are read once complete, their
//! records stored and the files moved to `done/`; unreadable ones set aside in `rejected/` with
//! the reason; encodings other than UTF-8 read as text; and a restart between the ledger and
//! the move reads nothing twice. Scans are driven with [`DropFolder::scan_once`] and a time of
//! the test's choosing, so nothing waits on the clock (except the one test of the daemon).

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use lienthong::source::files::{DropFolder, FilesError, Scan};
use lienthong::source::routes::Routes;
use lienthong::store::{now_ms, MessageFilter, Store, TakenFile};
use serde_json::{json, Value};
use tokio::sync::Notify;

use crate::ingest::{flat_value, FLAT_COLUMNS};
use crate::support::{
    local_records, mappings, spawn_app_with, sqlite, stores, test_config, TestStore,
};

/// A drop folder of source `tinh` (vendor-a mappings) on `ts`, its inbox in a temp dir.
struct Inbox {
    dir: tempfile::TempDir,
    folder: DropFolder,
    store: Arc<dyn Store>,
    files_toml: String,
    xml: Option<String>,
}

impl Inbox {
    /// `files` is the `[sources.files]` block without `folder`.
    fn new(ts: &TestStore, files: &str) -> Self {
        Self::with_xml(ts, files, None)
    }

    fn with_xml(ts: &TestStore, files: &str, xml: Option<&str>) -> Self {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("inbox")).unwrap();
        let files_toml = files.to_string();
        let folder = build(ts.store.clone(), dir.path(), &files_toml, xml);
        Inbox {
            dir,
            folder,
            store: ts.store.clone(),
            files_toml,
            xml: xml.map(str::to_string),
        }
    }

    /// The same folder read by a new instance (a restart: nothing remembered but the store).
    fn restart(&mut self) {
        self.folder = build(
            self.store.clone(),
            self.dir.path(),
            &self.files_toml,
            self.xml.as_deref(),
        );
    }

    fn path(&self, rel: &str) -> PathBuf {
        self.dir.path().join("inbox").join(rel)
    }

    fn write(&self, rel: &str, bytes: impl AsRef<[u8]>) -> PathBuf {
        let p = self.path(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(&p, bytes).unwrap();
        p
    }

    fn exists(&self, rel: &str) -> bool {
        self.path(rel).exists()
    }

    async fn scan(&self, at: i64) -> Scan {
        self.folder.scan_once(at).await.expect("scan works")
    }

    async fn ledger(&self) -> Vec<TakenFile> {
        let mut rows = self.store.taken_files(Some("tinh"), 100).await.unwrap();
        rows.sort_by(|a, b| a.name.cmp(&b.name));
        rows
    }

    async fn count(&self, operation: &str) -> i64 {
        self.store
            .outbox_counts()
            .await
            .unwrap()
            .iter()
            .filter(|c| c.operation == operation)
            .map(|c| c.count)
            .sum()
    }

    /// The record stored for dossier `code`, as the store keeps it.
    async fn stored_record(&self, code: &str) -> Value {
        let filter = MessageFilter {
            dossier: Some(code.to_string()),
            limit: 10,
            ..MessageFilter::default()
        };
        let listed = self.store.list_messages(&filter).await.unwrap();
        let first = listed
            .first()
            .unwrap_or_else(|| panic!("no message of {code}"));
        let detail = self.store.message(first.id).await.unwrap().unwrap();
        detail.record.expect("stored with its record")
    }
}

fn build(store: Arc<dyn Store>, dir: &Path, files: &str, xml: Option<&str>) -> DropFolder {
    build_as("test-instance", store, dir, files, xml)
}

fn build_as(
    owner: &str,
    store: Arc<dyn Store>,
    dir: &Path,
    files: &str,
    xml: Option<&str>,
) -> DropFolder {
    let mut cfg = test_config("sqlite://unused", "http://127.0.0.1:9");
    let source = &mut cfg.sources[0];
    let block = format!("folder = \"inbox\"\n{files}");
    source.files = Some(toml::from_str(&block).expect("files block parses"));
    source.xml_record_element = xml.map(str::to_string);
    let routes = Arc::new(Routes::from_config(&cfg.sources, &mappings()).unwrap());
    DropFolder::new(
        &cfg.sources[0],
        dir,
        store,
        routes,
        owner.into(),
        Arc::new(Notify::new()),
    )
    .expect("drop folder builds")
}

const HEADER: &str = "DongBoHoSoMC";
const STEP: &str = "CapNhatTienDoHoSoMC";

fn json_file(records: &[Value]) -> Vec<u8> {
    serde_json::to_vec_pretty(records).unwrap()
}

fn csv_file(records: &[Value]) -> String {
    let cell = |r: &Value, k: &str| format!("\"{}\"", flat_value(r, k).replace('"', "\"\""));
    let mut body = FLAT_COLUMNS.join(",") + "\r\n";
    for r in records {
        body += &FLAT_COLUMNS
            .iter()
            .map(|c| cell(r, c))
            .collect::<Vec<_>>()
            .join(",");
        body += "\r\n";
    }
    body
}

fn xml_file(records: &[Value]) -> String {
    let mut doc = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<DanhSachHoSo>\n");
    for r in records {
        doc += "<HoSo>";
        for c in FLAT_COLUMNS {
            let v = flat_value(r, c).replace('&', "&amp;").replace('<', "&lt;");
            doc += &format!("<{c}>{v}</{c}>");
        }
        doc += "</HoSo>\n";
    }
    doc + "</DanhSachHoSo>\n"
}

#[tokio::test]
async fn json_csv_and_xml_files_are_stored_and_moved_to_done() {
    for ts in stores().await {
        let inbox = Inbox::with_xml(&ts, "stable_seconds = 5", Some("HoSo"));
        let (d, steps) = local_records(31, 7);
        let steps: Vec<Value> = steps
            .into_iter()
            .filter(|s| s["MaHoSo"] == d[0]["MaHoSo"])
            .collect();
        assert!(!steps.is_empty());
        inbox.write("dossiers/tinh-0001.json", json_file(&d[..3]));
        inbox.write("dossiers/tinh-0002.CSV", csv_file(&d[3..5]));
        inbox.write("dossiers/tinh-0003.xml", xml_file(&d[5..7]));
        inbox.write("steps/buoc-0001.json", json_file(&steps));

        let t0 = now_ms();
        let first = inbox.scan(t0).await;
        assert_eq!(
            (first.taken(), first.waiting),
            (0, 4),
            "{}: {first:?}",
            ts.name
        );
        assert_eq!(first.next_due_ms, Some(t0 + 5_000));
        let scan = inbox.scan(t0 + 5_000).await;
        assert_eq!(
            (
                scan.done,
                scan.rejected,
                scan.records,
                scan.quarantined,
                scan.waiting
            ),
            (4, 0, 7 + steps.len() as u64, 0, 0),
            "{}: {scan:?}",
            ts.name
        );
        assert_eq!(inbox.count(HEADER).await, 7, "{}", ts.name);
        assert_eq!(inbox.count(STEP).await, steps.len() as i64, "{}", ts.name);
        for f in [
            "done/dossiers/tinh-0001.json",
            "done/dossiers/tinh-0002.CSV",
            "done/dossiers/tinh-0003.xml",
            "done/steps/buoc-0001.json",
        ] {
            assert!(inbox.exists(f), "{}: {f}", ts.name);
        }
        assert!(!inbox.exists("dossiers/tinh-0001.json"));
        let ledger = inbox.ledger().await;
        let summary: Vec<(&str, &str, i64, i64)> = ledger
            .iter()
            .map(|r| (r.name.as_str(), r.outcome.as_str(), r.records, r.rejected))
            .collect();
        assert_eq!(
            summary,
            vec![
                ("dossiers/tinh-0001.json", "done", 3, 0),
                ("dossiers/tinh-0002.CSV", "done", 2, 0),
                ("dossiers/tinh-0003.xml", "done", 2, 0),
                ("steps/buoc-0001.json", "done", steps.len() as i64, 0),
            ],
            "{}",
            ts.name
        );
        let one = &ledger[0];
        assert_eq!(one.size, json_file(&d[..3]).len() as i64);
        assert_eq!(one.sha256.len(), 64);
        // Nothing is read twice.
        let again = inbox.scan(t0 + 60_000).await;
        assert_eq!(
            again,
            Scan {
                lag_ms: Some(0),
                ..Scan::default()
            }
        );
        assert_eq!(inbox.count(HEADER).await, 7);
    }
}

#[tokio::test]
async fn a_file_still_being_written_is_taken_only_once_complete() {
    let ts = sqlite().await;
    let inbox = Inbox::new(&ts, "stable_seconds = 5");
    let (d, _) = local_records(32, 4);
    let whole = json_file(&d);
    let (head, tail) = whole.split_at(whole.len() / 2);
    let path = inbox.write("dossiers/growing.json", head);

    let t0 = now_ms();
    assert_eq!(inbox.scan(t0).await.taken(), 0);
    // The rest arrives 3 s later: the file is new again from then on.
    let mut f = std::fs::OpenOptions::new()
        .append(true)
        .open(&path)
        .unwrap();
    std::io::Write::write_all(&mut f, tail).unwrap();
    drop(f);
    let s = inbox.scan(t0 + 3_000).await;
    assert_eq!((s.taken(), s.next_due_ms), (0, Some(t0 + 8_000)), "{s:?}");
    assert_eq!(inbox.scan(t0 + 7_999).await.taken(), 0);
    let s = inbox.scan(t0 + 8_000).await;
    assert_eq!((s.done, s.rejected, s.records), (1, 0, 4), "{s:?}");
    assert_eq!(inbox.count(HEADER).await, 4);
    assert!(inbox.exists("done/dossiers/growing.json"));
}

#[tokio::test]
async fn part_and_tmp_files_are_left_alone_and_a_marker_takes_a_file_at_once() {
    let ts = sqlite().await;
    let inbox = Inbox::new(&ts, "stable_seconds = 5");
    let (d, _) = local_records(33, 2);
    let body = json_file(&d[..1]);
    let left = [
        "dossiers/export.json.part",
        "dossiers/export.json.tmp",
        "dossiers/.hidden.json",
        "dossiers/notes.txt",
        "dossiers/old.json.error.txt",
    ];
    for f in left {
        inbox.write(f, &body);
    }
    inbox.write("dossiers/marked.json", json_file(&d[1..]));
    inbox.write("dossiers/marked.json.done", "");
    // A marker whose file is gone (a crash after the move): removed once seen so for a while.
    inbox.write("dossiers/gone.json.done", "");

    let t0 = now_ms();
    let s = inbox.scan(t0).await;
    assert_eq!((s.done, s.records, s.waiting), (1, 1, 0), "{s:?}");
    assert!(inbox.exists("done/dossiers/marked.json"));
    assert!(!inbox.exists("dossiers/marked.json.done"), "marker removed");
    assert!(
        inbox.exists("dossiers/gone.json.done"),
        "kept until seen again"
    );

    let s = inbox.scan(t0 + 60_000).await;
    assert_eq!(s.taken(), 0, "{s:?}");
    for f in left {
        assert!(inbox.exists(f), "{f} left alone");
    }
    assert!(!inbox.exists("dossiers/gone.json.done"));
    assert_eq!(inbox.count(HEADER).await, 1);
    assert_eq!(inbox.ledger().await.len(), 1);
}

#[tokio::test]
async fn an_unreadable_file_is_set_aside_with_its_reason_and_nothing_is_stored() {
    for ts in stores().await {
        let inbox = Inbox::with_xml(
            &ts,
            "stable_seconds = 0\nmax_file_bytes = 20000\nmax_records = 3",
            Some("HoSo"),
        );
        let (d, _) = local_records(34, 4);
        let good = serde_json::to_string(&d[0]).unwrap();
        let cases: Vec<(&str, Vec<u8>, &str)> = vec![
            (
                "dossiers/broken.json",
                format!("[\n{good},\n{{\"MaHoSo\": }}\n]").into_bytes(),
                "line 3",
            ),
            (
                "dossiers/ragged.csv",
                b"MaHoSo,NguoiNop\nA,B\nC,D,E\n".to_vec(),
                "CSV line 3: 3 fields where the header has 2",
            ),
            (
                "dossiers/unclosed.xml",
                b"<DanhSachHoSo>\n<HoSo>\n</DanhSachHoSo>".to_vec(),
                "not well-formed XML at line 3",
            ),
            (
                "dossiers/big.json",
                vec![b' '; 20_001],
                "20001 bytes, more than max_file_bytes (20000)",
            ),
            (
                "dossiers/many.json",
                json_file(&d[..4]),
                "4 records is more than max_records (3)",
            ),
            (
                "steps/strings.json",
                b"[\"a\"]".to_vec(),
                "element 0 is not an object",
            ),
            // An export without its header row: the reason quotes a citizen's phone, masked.
            (
                "dossiers/noheader.csv",
                "HS-1,Nguyễn Thị Hoa,0912345678,0912345678\n"
                    .as_bytes()
                    .to_vec(),
                "CSV header: column \"0912***678\" appears twice",
            ),
        ];
        for (name, body, _) in &cases {
            inbox.write(name, body);
        }
        let s = inbox.scan(now_ms()).await;
        assert_eq!(
            (s.done, s.rejected),
            (0, cases.len() as u64),
            "{}: {s:?}",
            ts.name
        );
        for (name, _, says) in &cases {
            let moved = format!("rejected/{name}");
            assert!(inbox.exists(&moved), "{}: {moved}", ts.name);
            assert!(!inbox.exists(name));
            let why = std::fs::read_to_string(inbox.path(&format!("{moved}.error.txt")))
                .unwrap_or_else(|e| panic!("{moved}.error.txt: {e}"));
            assert!(why.starts_with(&format!("{name}: not read: ")), "{why}");
            assert!(why.contains(says), "{}: {name}: {why}", ts.name);
            assert!(!why.contains("0912345678"), "{}: {name}: {why}", ts.name);
        }
        assert!(inbox.store.outbox_counts().await.unwrap().is_empty());
        assert_eq!(inbox.store.quarantine_count().await.unwrap(), 0);
        let ledger = inbox.ledger().await;
        assert_eq!(ledger.len(), cases.len());
        for row in &ledger {
            assert_eq!((row.outcome.as_str(), row.records), ("rejected", 0));
            let error = row.error.as_deref().unwrap_or_default();
            assert!(
                !error.is_empty() && !error.contains("0912345678"),
                "{error}"
            );
        }
        let big = ledger
            .iter()
            .find(|r| r.name == "dossiers/big.json")
            .unwrap();
        assert_eq!(
            big.size, 20_001,
            "a file too large is still named by its whole size"
        );
    }
}

/// `text` in Windows-1258: a letter it has no single byte for is written as its base letter
/// (with circumflex, breve or horn when it has that) followed by a combining tone mark, as
/// Vietnamese Windows software writes it.
fn windows_1258(text: &str) -> Vec<u8> {
    use unicode_normalization::char::compose;
    use unicode_normalization::UnicodeNormalization;
    let enc = encoding_rs::WINDOWS_1258;
    let mut out = String::new();
    for c in text.chars() {
        let one = c.to_string();
        if !enc.encode(&one).2 {
            out.push(c);
            continue;
        }
        let mut marks: Vec<char> = one.nfd().collect();
        let mut base = marks.remove(0);
        // "ặ" is a, dot below, breve: the breve goes into the letter ("ă"), the dot stays.
        if let Some((i, with)) = marks.iter().enumerate().find_map(|(i, m)| {
            compose(base, *m)
                .filter(|w| !enc.encode(&w.to_string()).2)
                .map(|w| (i, w))
        }) {
            base = with;
            marks.remove(i);
        }
        out.push(base);
        out.extend(marks);
    }
    let (bytes, _, unmappable) = enc.encode(&out);
    assert!(!unmappable, "{out}");
    bytes.into_owned()
}

#[tokio::test]
async fn windows_1258_and_utf16_files_are_read_as_text() {
    let ts = sqlite().await;
    let (d, _) = local_records(35, 4);
    let mut hoa = d[0].clone();
    hoa["NguoiNop"] = json!("Nguyễn Thị Hoa");
    hoa["DiaChi"] = json!("Nguyễn Thị Hoa, Thôn Đông, xã Quảng Phú");
    let code = hoa["MaHoSo"].as_str().unwrap().to_string();

    // Windows-1258: tone marks as combining characters on the disk, NFC once stored.
    let inbox = Inbox::new(&ts, "stable_seconds = 0\nencoding = \"windows-1258\"");
    let bytes = windows_1258(&serde_json::to_string_pretty(&vec![&hoa]).unwrap());
    assert!(
        bytes.windows(2).any(|w| w == [0xEA, 0xDE]),
        "\"ễ\" is written as \"ê\" and a combining tilde"
    );
    inbox.write("dossiers/cp1258.json", &bytes);
    let s = inbox.scan(now_ms()).await;
    assert_eq!((s.done, s.records, s.quarantined), (1, 1, 0), "{s:?}");
    let stored = inbox.stored_record(&code).await;
    assert_eq!(stored["NguoiNop"], "Nguyễn Thị Hoa");
    assert_eq!(stored["DiaChi"], "Nguyễn Thị Hoa, Thôn Đông, xã Quảng Phú");
    assert_eq!(
        stored, hoa,
        "the record as an HTTP push of the same text stores it"
    );

    // UTF-16: little-endian without a byte-order mark, big-endian by its mark.
    let inbox = Inbox::new(&ts, "stable_seconds = 0\nencoding = \"utf-16\"");
    let le: Vec<u8> = String::from_utf8(json_file(&d[1..2]))
        .unwrap()
        .encode_utf16()
        .flat_map(u16::to_le_bytes)
        .collect();
    let be: Vec<u8> = [0xFE, 0xFF]
        .into_iter()
        .chain(csv_file(&d[2..3]).encode_utf16().flat_map(u16::to_be_bytes))
        .collect();
    inbox.write("dossiers/le.json", le);
    inbox.write("dossiers/be.csv", be);
    let s = inbox.scan(now_ms()).await;
    assert_eq!((s.done, s.records, s.rejected), (2, 2, 0), "{s:?}");
    let stored = inbox.stored_record(d[1]["MaHoSo"].as_str().unwrap()).await;
    assert_eq!(stored["NguoiNop"], d[1]["NguoiNop"]);

    // Bytes that are not UTF-8: set aside naming where, nothing replaced or stored.
    let inbox = Inbox::new(&ts, "stable_seconds = 0");
    let mut bad = json_file(&d[3..4]);
    let at = bad.windows(8).position(|w| w == b"NguoiNop").unwrap();
    bad[at] = 0xFF;
    let line = 1 + bad[..at].iter().filter(|b| **b == b'\n').count();
    inbox.write("dossiers/latin.json", &bad);
    let s = inbox.scan(now_ms()).await;
    assert_eq!((s.done, s.rejected), (0, 1), "{s:?}");
    let why =
        std::fs::read_to_string(inbox.path("rejected/dossiers/latin.json.error.txt")).unwrap();
    assert!(
        why.contains(&format!("offset {at} (line {line}) are not valid UTF-8")),
        "{why}"
    );
    assert_eq!(
        inbox.count(HEADER).await,
        3,
        "only the readable files' records"
    );
}

#[tokio::test]
async fn a_restart_after_the_ledger_moves_the_file_on_without_reading_it_again() {
    for ts in stores().await {
        let mut inbox = Inbox::new(&ts, "stable_seconds = 0");
        let (d, _) = local_records(36, 3);
        inbox.write("dossiers/a.json", json_file(&d));
        inbox.write("dossiers/bad.json", "{");
        let s = inbox.scan(now_ms()).await;
        assert_eq!((s.done, s.rejected), (1, 1), "{}: {s:?}", ts.name);
        assert_eq!(inbox.count(HEADER).await, 3);

        // As if the process died after the commit, before the renames: the files are in the
        // inbox again, byte for byte and with the same times.
        for (from, to) in [
            ("done/dossiers/a.json", "dossiers/a.json"),
            ("rejected/dossiers/bad.json", "dossiers/bad.json"),
        ] {
            let src = inbox.path(from);
            let mtime = std::fs::metadata(&src).unwrap().modified().unwrap();
            std::fs::rename(&src, inbox.path(to)).unwrap();
            set_mtime(&inbox.path(to), mtime);
        }
        std::fs::remove_file(inbox.path("rejected/dossiers/bad.json.error.txt")).unwrap();
        inbox.restart();
        let s = inbox.scan(now_ms()).await;
        assert_eq!(
            (s.finished, s.done, s.rejected, s.records),
            (2, 0, 0, 0),
            "{}: {s:?}",
            ts.name
        );
        assert!(inbox.exists("done/dossiers/a.json"));
        assert!(inbox.exists("rejected/dossiers/bad.json"));
        let why =
            std::fs::read_to_string(inbox.path("rejected/dossiers/bad.json.error.txt")).unwrap();
        assert!(why.contains("not valid JSON"), "written again: {why}");
        assert!(!inbox.exists("dossiers/a.json") && !inbox.exists("dossiers/bad.json"));
        assert_eq!(
            inbox.count(HEADER).await,
            3,
            "{}: not stored twice",
            ts.name
        );
        assert_eq!(inbox.ledger().await.len(), 2);

        // The same again, but the move did happen and a copy was left behind (a copy across
        // file systems cut between copy and delete): the inbox's copy goes, done/ keeps one.
        std::fs::copy(
            inbox.path("done/dossiers/a.json"),
            inbox.path("dossiers/a.json"),
        )
        .unwrap();
        let mtime = std::fs::metadata(inbox.path("done/dossiers/a.json"))
            .unwrap()
            .modified()
            .unwrap();
        set_mtime(&inbox.path("dossiers/a.json"), mtime);
        inbox.restart();
        let s = inbox.scan(now_ms()).await;
        assert_eq!((s.finished, s.done), (1, 0), "{}: {s:?}", ts.name);
        assert!(!inbox.exists("dossiers/a.json"));
        assert!(
            !inbox.exists("done/dossiers/a-1.json"),
            "identical: not kept twice"
        );
        assert_eq!(inbox.count(HEADER).await, 3);
    }
}

#[tokio::test]
async fn a_file_in_the_inbox_without_a_ledger_row_is_read_once_whatever_done_holds() {
    for ts in stores().await {
        let inbox = Inbox::new(&ts, "stable_seconds = 0");
        let (d, _) = local_records(37, 3);
        // done/ holds a copy of it (a copy into done/ cut before the ledger was written) and
        // the inbox still has it, with no ledger row.
        let body = json_file(&d[..2]);
        inbox.write("done/dossiers/a.json", &body);
        inbox.write("dossiers/a.json", &body);
        // done/ holds another file of the same name as the next one.
        inbox.write("done/dossiers/b.json", "older export");
        inbox.write("dossiers/b.json", json_file(&d[2..]));
        let s = inbox.scan(now_ms()).await;
        assert_eq!(
            (s.done, s.records, s.finished),
            (2, 3, 0),
            "{}: {s:?}",
            ts.name
        );
        assert_eq!(inbox.count(HEADER).await, 3, "{}", ts.name);
        assert_eq!(
            std::fs::read(inbox.path("done/dossiers/a.json")).unwrap(),
            body
        );
        assert!(
            !inbox.exists("done/dossiers/a-1.json"),
            "identical: kept once"
        );
        assert_eq!(
            std::fs::read_to_string(inbox.path("done/dossiers/b.json")).unwrap(),
            "older export"
        );
        assert!(
            inbox.exists("done/dossiers/b-1.json"),
            "beside it, suffixed"
        );
        assert_eq!(inbox.ledger().await.len(), 2);
        let again = inbox.scan(now_ms()).await;
        assert_eq!(again.taken(), 0);
        assert_eq!(inbox.count(HEADER).await, 3, "{}: read once", ts.name);
    }
}

#[tokio::test]
async fn a_record_refused_by_its_mapping_is_quarantined_with_its_file_as_origin() {
    for ts in stores().await {
        let inbox = Inbox::new(&ts, "stable_seconds = 0");
        let (mut d, _) = local_records(38, 3);
        d[1]["MaThuTucLocal"] = json!("TTHC-KHONG-CO");
        inbox.write("dossiers/mixed.json", json_file(&d));
        let s = inbox.scan(now_ms()).await;
        assert_eq!(
            (s.done, s.records, s.quarantined),
            (1, 3, 1),
            "{}: {s:?}",
            ts.name
        );
        assert!(inbox.exists("done/dossiers/mixed.json"));
        assert_eq!(inbox.count(HEADER).await, 2);
        let q = inbox
            .store
            .quarantine_page(Some("tinh"), None, 10)
            .await
            .unwrap();
        assert_eq!(q.len(), 1, "{}", ts.name);
        assert_eq!(q[0].origin.as_deref(), Some("file dossiers/mixed.json"));
        assert!(q[0].error.contains("TTHC-KHONG-CO"), "{}", q[0].error);
        let ledger = inbox.ledger().await;
        assert_eq!(
            (
                ledger[0].outcome.as_str(),
                ledger[0].records,
                ledger[0].rejected
            ),
            ("done", 3, 1)
        );
    }
}

#[tokio::test]
async fn two_instances_on_one_store_read_each_file_once() {
    for ts in stores().await {
        let inbox = Inbox::new(&ts, "");
        let (d, _) = local_records(40, 12);
        for (i, r) in d.iter().enumerate() {
            inbox.write(
                &format!("dossiers/{i:02}.json"),
                json_file(std::slice::from_ref(r)),
            );
        }
        let files = "stable_seconds = 0\nscan_seconds = 1";
        let shutdown = tokio_util::sync::CancellationToken::new();
        let mut runs = Vec::new();
        for owner in ["instance-a", "instance-b"] {
            let folder = build_as(owner, ts.store.clone(), inbox.dir.path(), files, None);
            runs.push(tokio::spawn(Arc::new(folder).run(shutdown.clone())));
        }
        for _ in 0..400 {
            if inbox.ledger().await.len() == d.len() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        let lease = ts.store.lease("source:tinh:files").await.unwrap();
        shutdown.cancel();
        for r in runs {
            r.await.unwrap();
        }
        assert_eq!(inbox.ledger().await.len(), d.len(), "{}", ts.name);
        assert_eq!(
            inbox.count(HEADER).await,
            d.len() as i64,
            "{}: once each",
            ts.name
        );
        assert!(lease.is_some_and(|l| l.holder.starts_with("instance-")));
        let statuses = ts.store.source_statuses().await.unwrap();
        let files_read: i64 = statuses
            .iter()
            .filter(|s| s.way == "files")
            .map(|s| s.rows_read)
            .sum();
        assert_eq!(files_read, d.len() as i64, "{}: {statuses:?}", ts.name);
        for i in 0..d.len() {
            assert!(inbox.exists(&format!("done/dossiers/{i:02}.json")));
        }
    }
}

#[tokio::test]
async fn a_missing_inbox_is_an_error_of_the_folder_not_a_file() {
    let ts = sqlite().await;
    let inbox = Inbox::new(&ts, "");
    std::fs::remove_dir(inbox.path("")).unwrap();
    let e = inbox.folder.scan_once(now_ms()).await.unwrap_err();
    assert!(matches!(e, FilesError::Folder { .. }), "{e}");
    assert!(!inbox.path("").exists(), "an inbox is never created");
}

#[tokio::test]
async fn the_daemon_reads_its_drop_folder_and_reports_its_health() {
    let dir = tempfile::tempdir().unwrap();
    let folder = dir.path().join("inbox");
    let files = format!(
        "folder = \"{}\"\nstable_seconds = 0\nscan_seconds = 1\nretry_max_seconds = 1",
        folder.display()
    );
    let app = spawn_app_with(sqlite().await, Default::default(), |cfg| {
        cfg.sources[0].files = Some(toml::from_str(&files).unwrap());
    })
    .await;
    let status = |want: &'static str, files: i64| {
        let store = app.store.clone();
        async move {
            for _ in 0..200 {
                let s = store.source_statuses().await.unwrap();
                if let Some(s) = s
                    .into_iter()
                    .find(|s| s.way == "files" && s.state == want && s.rows_read == files)
                {
                    return s;
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            panic!("the drop folder never reported {want} with {files} files read");
        }
    };
    // No inbox yet: down, and retried.
    let down = status("down", 0).await;
    assert!(down.last_error.unwrap().contains("inbox"));
    std::fs::create_dir(&folder).unwrap();
    let (d, _) = local_records(39, 2);
    std::fs::create_dir_all(folder.join("dossiers")).unwrap();
    std::fs::write(folder.join("dossiers/x.json.part"), json_file(&d)).unwrap();
    std::fs::rename(
        folder.join("dossiers/x.json.part"),
        folder.join("dossiers/x.json"),
    )
    .unwrap();
    for _ in 0..200 {
        if folder.join("done/dossiers/x.json").exists() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(
        folder.join("done/dossiers/x.json").exists(),
        "taken by the daemon"
    );
    assert_eq!(app.count(HEADER, "pending").await, 2);
    let ok = status("ok", 1).await;
    assert_eq!((ok.failures, ok.last_error), (0, None));
}

fn set_mtime(path: &Path, at: SystemTime) {
    std::fs::File::options()
        .write(true)
        .open(path)
        .unwrap()
        .set_modified(at)
        .unwrap();
}
