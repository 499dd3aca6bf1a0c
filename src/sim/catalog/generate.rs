//! Generation of the simulated catalog: procedure codes and full objects shaped like the portal's
//! (dvcqg.md, "Catalog reads", and the example `dvcqg-LayThuTuc-response.json`).
//!
//! Pure and reproducible: the same seed and count give byte-identical objects. Codes come from
//! one seeded stream; each object's body from a stream of its own, keyed by its code, so a
//! procedure's content does not move when another one is added. The procedures of
//! `fixtures/procedures.json` are always present, with their code, name and field.

use std::collections::{BTreeMap, HashSet};
use std::sync::OnceLock;

use rand::seq::SliceRandom as _;
use rand::{Rng as _, SeedableRng as _};
use rand_chacha::ChaCha8Rng;
use serde::Deserialize;
use serde_json::{json, Value};

use super::words::{self, Field, Ministry, Subject, MINISTRIES};

const FIXTURES: &str = include_str!("../../../fixtures/procedures.json");

#[derive(Debug, Deserialize)]
struct FixtureRow {
    #[serde(rename = "MaTTHC")]
    code: String,
    #[serde(rename = "TenTTHC")]
    name: String,
    #[serde(rename = "MaLinhVuc", default)]
    field_code: String,
    #[serde(rename = "TenLinhVuc", default)]
    field_name: String,
}

/// One procedure as generated: what the list shows and the full object.
#[derive(Debug)]
pub(super) struct Generated {
    pub(super) code: String,
    pub(super) name: String,
    /// From `fixtures/procedures.json` (mappings, the local generator and dossier checks use it).
    pub(super) fixture: bool,
    pub(super) object: Value,
}

/// The procedures of `fixtures/procedures.json`. A broken fixture is a build defect, not input,
/// so it yields none with an error logged rather than a panic in a server task.
fn fixture_rows() -> Vec<FixtureRow> {
    serde_json::from_str(FIXTURES).unwrap_or_else(|e| {
        tracing::error!(error = %e, "fixtures/procedures.json cannot be read; no fixed procedures");
        Vec::new()
    })
}

/// The codes of `fixtures/procedures.json`, read once.
pub(super) fn fixture_codes() -> &'static [String] {
    static CODES: OnceLock<Vec<String>> = OnceLock::new();
    CODES.get_or_init(|| fixture_rows().into_iter().map(|r| r.code).collect())
}

/// What is decided about a procedure before its body: the body may name other procedures.
struct Sketch {
    code: String,
    name: String,
    fixture: bool,
    ministry: &'static Ministry,
    subject: &'static Subject,
    field_code: String,
    field_name: String,
    /// `CAPTHUCHIEN` codes, ascending.
    levels: Vec<&'static str>,
    rng: ChaCha8Rng,
}

/// `count` procedures (never fewer than the fixtures), sorted by code, as `LayDanhSachTTHC`
/// lists them.
pub(super) fn generate(count: usize, seed: u64) -> Vec<Generated> {
    let fixtures = fixture_rows();
    let taken: HashSet<&str> = fixtures.iter().map(|r| r.code.as_str()).collect();
    let mut sketches: Vec<Sketch> = fixtures.iter().map(|r| sketch_fixture(r, seed)).collect();

    let mut codes = ChaCha8Rng::seed_from_u64(seed);
    // Series 1 and 2 are national codes (`1.00xxxx`, `2.00xxxx`); 3 is the province's own.
    let mut next = [100u32; 3];
    while sketches.len() < count {
        let series = match codes.gen_range(0..100) {
            0..=49 => 0,
            50..=77 => 1,
            _ => 2,
        };
        next[series] += codes.gen_range(1..=5);
        let n = next[series];
        let code = match series {
            0 => format!("1.{n:06}"),
            1 => format!("2.{n:06}"),
            _ => format!("3.{n:06}.000.00.00.H56"),
        };
        if !taken.contains(code.as_str()) {
            sketches.push(sketch_generated(code, seed));
        }
    }
    sketches.sort_by(|a, b| a.code.cmp(&b.code));

    let names: Vec<(String, String)> = sketches
        .iter()
        .map(|s| (s.code.clone(), s.name.clone()))
        .collect();
    sketches
        .into_iter()
        .enumerate()
        .map(|(i, s)| {
            let code = s.code.clone();
            let name = s.name.clone();
            let fixture = s.fixture;
            Generated {
                object: body(i, s, &names),
                code,
                name,
                fixture,
            }
        })
        .collect()
}

/// The fields every procedure may name (`LayDanhMucLinhVuc`), sorted by code, the fixtures'
/// included.
pub(super) fn fields() -> Value {
    let mut fields: BTreeMap<String, (String, String)> = BTreeMap::new();
    for m in MINISTRIES {
        for f in m.fields {
            fields.insert(f.code.into(), (f.name.into(), m.code.into()));
        }
    }
    for r in fixture_rows() {
        if !r.field_code.is_empty() {
            let nganh = r.field_code.split('-').next().unwrap_or("").to_string();
            fields.entry(r.field_code).or_insert((r.field_name, nganh));
        }
    }
    Value::Array(
        fields
            .into_iter()
            .map(|(code, (name, nganh))| {
                json!({"MALINHVUC": code, "TENLINHVUC": name, "MANGANH": nganh})
            })
            .collect(),
    )
}

/// The province's agencies (`LayDanhMucCoQuan`): its committee, the ministries' departments and
/// the communes the procedures name.
pub(super) fn agencies() -> Value {
    let mut out =
        vec![json!({"MADONVI": words::PROVINCE.0, "TENDONVI": words::PROVINCE.1, "CAPDONVI": "2"})];
    out.extend(
        MINISTRIES.iter().map(
            |m| json!({"MADONVI": m.department.0, "TENDONVI": m.department.1, "CAPDONVI": "2"}),
        ),
    );
    out.extend(
        words::COMMUNES
            .iter()
            .map(|(code, name)| json!({"MADONVI": code, "TENDONVI": name, "CAPDONVI": "4"})),
    );
    Value::Array(out)
}

/// A stream of its own for each procedure: FNV-1a of the code picks the ChaCha stream.
fn procedure_rng(seed: u64, code: &str) -> ChaCha8Rng {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for b in code.bytes() {
        hash ^= u64::from(b);
        hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    rng.set_stream(hash);
    rng
}

fn provincial(code: &str) -> bool {
    code.starts_with("3.")
}

fn levels(rng: &mut ChaCha8Rng, code: &str) -> Vec<&'static str> {
    let roll = rng.gen_range(0..100);
    let levels: &[&str] = if provincial(code) {
        match roll {
            0..=54 => &["2"],
            55..=89 => &["4"],
            _ => &["2", "4"],
        }
    } else {
        match roll {
            0..=11 => &["1"],
            12..=49 => &["2"],
            50..=81 => &["4"],
            82..=93 => &["2", "4"],
            _ => &["1", "2"],
        }
    };
    levels.to_vec()
}

fn all_fields() -> impl Iterator<Item = (&'static Ministry, &'static Field)> {
    MINISTRIES
        .iter()
        .flat_map(|m| m.fields.iter().map(move |f| (m, f)))
}

fn sketch_generated(code: String, seed: u64) -> Sketch {
    let mut rng = procedure_rng(seed, &code);
    let total = all_fields().count();
    let pick = rng.gen_range(0..total);
    let (ministry, field) = all_fields()
        .nth(pick)
        .unwrap_or((&MINISTRIES[0], &MINISTRIES[0].fields[0]));
    let subject = &field.subjects[rng.gen_range(0..field.subjects.len())];
    let action = subject.actions[rng.gen_range(0..subject.actions.len())];
    let levels = levels(&mut rng, &code);
    let mut name = format!("{action} {}", subject.noun);
    if provincial(&code) {
        if rng.gen_bool(0.6) {
            name.push_str(" trên địa bàn tỉnh");
        }
    } else if rng.gen_bool(0.3) {
        match levels.as_slice() {
            ["1"] => {
                name.push_str(" thuộc thẩm quyền của ");
                name.push_str(ministry.name);
            }
            ["2"] => name.push_str(" thuộc thẩm quyền của Ủy ban nhân dân cấp tỉnh"),
            ["4"] => name.push_str(" tại Ủy ban nhân dân cấp xã"),
            _ => {}
        }
    }
    Sketch {
        code,
        name,
        fixture: false,
        ministry,
        subject,
        field_code: field.code.into(),
        field_name: field.name.into(),
        levels,
        rng,
    }
}

fn sketch_fixture(row: &FixtureRow, seed: u64) -> Sketch {
    let mut rng = procedure_rng(seed, &row.code);
    let prefix = row.field_code.split('-').next().unwrap_or("");
    let (ministry, field) = all_fields()
        .find(|(_, f)| f.code == row.field_code)
        .or_else(|| {
            MINISTRIES
                .iter()
                .find(|m| m.code == prefix)
                .map(|m| (m, &m.fields[0]))
        })
        .unwrap_or((&MINISTRIES[0], &MINISTRIES[0].fields[0]));
    let subject = &field.subjects[rng.gen_range(0..field.subjects.len())];
    let levels = levels(&mut rng, &row.code);
    Sketch {
        code: row.code.clone(),
        name: row.name.clone(),
        fixture: true,
        ministry,
        subject,
        field_code: row.field_code.clone(),
        field_name: row.field_name.clone(),
        levels,
        rng,
    }
}

/// "Cấp giấy phép" → "cấp giấy phép", for a name used inside a sentence.
fn lower_first(s: &str) -> String {
    let mut chars = s.chars();
    match chars.next() {
        Some(c) => c.to_lowercase().chain(chars).collect(),
        None => String::new(),
    }
}

fn level_name(level: &str) -> &'static str {
    match level {
        "1" => "Cấp Bộ",
        "2" => "Cấp Tỉnh",
        "3" => "Cấp Huyện",
        _ => "Cấp Xã",
    }
}

/// The full `LayThuTuc` object, keys in the order the example shows them.
fn body(index: usize, s: Sketch, names: &[(String, String)]) -> Value {
    let Sketch {
        code,
        name,
        ministry,
        subject,
        field_code,
        field_name,
        levels,
        mut rng,
        ..
    } = s;
    let rng = &mut rng;
    let local = provincial(&code);
    let name_lc = lower_first(&name);
    let field_lc = lower_first(&field_name);

    let id = 140_000 + index * 3 + rng.gen_range(0..3);
    let publisher = if local {
        "000.00.00.H56".to_string()
    } else {
        format!("000.00.00.{}", ministry.code)
    };
    let loai = if rng.gen_bool(0.1) { "2" } else { "1" };
    let (day, month, year) = (
        rng.gen_range(1..=28),
        rng.gen_range(1..=12),
        rng.gen_range(2019..=2025),
    );
    let decision_no = rng.gen_range(100..3000);
    let revised = if rng.gen_bool(0.5) {
        "được sửa đổi, bổ sung"
    } else {
        "mới ban hành"
    };
    let quyet_dinh = if local {
        format!("Quyết định số {decision_no}/QĐ-UBND ngày {day:02}/{month:02}/{year} của Chủ tịch Ủy ban nhân dân tỉnh về việc công bố danh mục thủ tục hành chính {revised} trong lĩnh vực {field_lc} thuộc phạm vi chức năng quản lý của {}", ministry.department.1)
    } else {
        format!("Quyết định số {decision_no}/QĐ-{} ngày {day:02}/{month:02}/{year} của Bộ trưởng {} về việc công bố thủ tục hành chính {revised} trong lĩnh vực {field_lc}", ministry.abbreviation, ministry.name)
    };

    let how_many = rng.gen_range(1..=3);
    let mut applicants: Vec<&(&str, &str)> =
        words::APPLICANTS.choose_multiple(rng, how_many).collect();
    applicants.sort_unstable();
    let mota_doi_tuong = applicants
        .iter()
        .map(|(_, n)| *n)
        .collect::<Vec<_>>()
        .join("; ");

    let agencies: Vec<(String, String)> = levels
        .iter()
        .map(|l| match *l {
            "1" => (
                format!("000.00.00.{}", ministry.code),
                ministry.name.to_string(),
            ),
            "2" => (ministry.department.0.into(), ministry.department.1.into()),
            _ => {
                let (c, n) = words::COMMUNES[rng.gen_range(0..words::COMMUNES.len())];
                (c.into(), n.into())
            }
        })
        .collect();
    let dia_chi = match levels.as_slice() {
        ["1"] => format!("Bộ phận Một cửa của {}", ministry.name),
        ["2"] => "Trung tâm Phục vụ hành chính công tỉnh".to_string(),
        ["4"] => "Bộ phận Một cửa của Ủy ban nhân dân cấp xã (tiếp nhận không phụ thuộc địa giới hành chính trong tỉnh)".to_string(),
        _ => "Bộ phận Một cửa của Ủy ban nhân dân cấp xã hoặc Trung tâm Phục vụ hành chính công tỉnh (tiếp nhận không phụ thuộc địa giới hành chính)".to_string(),
    };
    let yeu_cau = if rng.gen_bool(0.4) {
        "Không".to_string()
    } else {
        let how_many = rng.gen_range(1..=2);
        words::CONDITIONS
            .choose_multiple(rng, how_many)
            .copied()
            .collect::<Vec<_>>()
            .join("\n")
    };
    let tu_khoa = format!("{}; {}; {}", subject.noun, field_lc, code);

    let handler = agencies
        .first()
        .map(|(_, n)| n.clone())
        .unwrap_or_else(|| ministry.department.1.to_string());
    let mut steps = vec![
        "Bước 1: Tổ chức, cá nhân chuẩn bị hồ sơ theo quy định và nộp tại Bộ phận Một cửa, trực tuyến trên Cổng Dịch vụ công quốc gia hoặc qua dịch vụ bưu chính công ích.".to_string(),
        "Bước 2: Bộ phận Một cửa kiểm tra, tiếp nhận hồ sơ, cấp Giấy tiếp nhận hồ sơ và hẹn trả kết quả; hồ sơ chưa đầy đủ thì hướng dẫn bổ sung, hoàn thiện một lần.".to_string(),
    ];
    if rng.gen_bool(0.7) {
        let visit = if rng.gen_bool(0.4) {
            ", kiểm tra thực tế tại cơ sở"
        } else {
            ""
        };
        steps.push(format!("Bước {}: {handler} thẩm định hồ sơ{visit}; trường hợp cần bổ sung thì thông báo bằng văn bản cho người đề nghị một lần.", steps.len() + 1));
    }
    steps.push(format!("Bước {}: Người có thẩm quyền xem xét, quyết định; trường hợp không giải quyết thì trả lời bằng văn bản, nêu rõ lý do.", steps.len() + 1));
    steps.push(format!("Bước {}: Trả kết quả tại Bộ phận Một cửa, qua dịch vụ bưu chính công ích hoặc trên Cổng Dịch vụ công quốc gia.", steps.len() + 1));

    let channels = channels(rng, &field_code, &name_lc);
    let documents = documents(rng, &code, &name, &name_lc);

    let mut results = vec![json!({
        "MAKETQUA": format!("KQ.{}.{:06}", ministry.code, rng.gen_range(1..1_000_000)),
        "TENKETQUA": subject.result,
    })];
    if rng.gen_bool(0.2) {
        results.push(json!({
            "MAKETQUA": format!("KQ.{}.{:06}", ministry.code, rng.gen_range(1..1_000_000)),
            "TENKETQUA": "Văn bản trả lời nêu rõ lý do (trường hợp không đủ điều kiện)",
        }));
    }
    let mut legal: Vec<&words::LegalDoc> = vec![&ministry.law];
    let more = rng.gen_range(0..=3);
    let mut extra: Vec<usize> = rand::seq::index::sample(rng, words::COMMON_LEGAL.len(), more)
        .into_iter()
        .collect();
    extra.sort_unstable();
    legal.extend(extra.into_iter().map(|i| &words::COMMON_LEGAL[i]));
    let legal: Vec<Value> = legal
        .into_iter()
        .map(|d| {
            json!({"SOVANBAN": d.number, "TENVANBAN": d.title, "COQUANBANHANH": d.issuer, "NGAYBANHANH": d.date})
        })
        .collect();

    let mut object = json!({
        "ID": id.to_string(),
        "MATTHC": code,
        "TENTTHC": name,
        "MACOQUANCONGBO": publisher,
        "LOAITTHC": loai,
        "TRANGTHAI": "1",
        "QUYETDINH": quyet_dinh,
        "MOTADOITUONGTHUCHIEN": mota_doi_tuong,
        "DIACHITIEPNHAN": dia_chi,
        "YEUCAU": yeu_cau,
        "TUKHOA": tu_khoa,
        "CAPTHUCHIEN": levels.iter().map(|l| json!({"CAPTHUCHIEN": l, "TENCAP": level_name(l)})).collect::<Vec<_>>(),
        "LINHVUCTHUCHIEN": [{"MALINHVUC": field_code, "TENLINHVUC": field_name}],
        "DOITUONGTHUCHIEN": applicants.iter().map(|(c, n)| json!({"MADOITUONG": c, "TENDOITUONG": n})).collect::<Vec<_>>(),
        "COQUANTHUCHIEN": agencies.iter().map(|(c, n)| json!({"MADONVI": c, "TENDONVI": n})).collect::<Vec<_>>(),
        "TRINHTUTHUCHIEN": [{
            "TRUONGHOP": name,
            "TRINHTU": steps.into_iter().map(|t| json!({"TENTRINHTU": t})).collect::<Vec<_>>(),
        }],
        "CACHTHUCTHUCHIEN": channels,
        "THANHPHANHOSO": documents,
        "KETQUATHUCHIEN": results,
        "CANCUPHAPLY": legal,
    });
    // Keys the contract does not list, as real portal objects carry: the gateway must keep them.
    if let Some(map) = object.as_object_mut() {
        if names.len() > 1 && rng.gen_bool(0.3) {
            let mut other = rng.gen_range(0..names.len() - 1);
            if other >= index {
                other += 1;
            }
            let (c, n) = &names[other];
            map.insert("TTHCLIENQUAN".into(), json!([{"MATTHC": c, "TENTTHC": n}]));
        }
        if rng.gen_bool(0.25) {
            let (c, n) = if local || levels.contains(&"2") {
                (words::PROVINCE.0.to_string(), words::PROVINCE.1.to_string())
            } else {
                (
                    format!("000.00.00.{}", ministry.code),
                    ministry.name.to_string(),
                )
            };
            map.insert(
                "COQUANCOTHAMQUYEN".into(),
                json!([{"MADONVI": c, "TENDONVI": n}]),
            );
        }
    }
    object
}

const DEADLINES: &[u32] = &[1, 2, 3, 5, 7, 10, 12, 15, 20, 30];
const AMOUNTS: &[u64] = &[
    10_000, 20_000, 30_000, 50_000, 75_000, 100_000, 150_000, 200_000, 500_000, 1_000_000,
];

/// `CACHTHUCTHUCHIEN`: in person (1), online (2), postal (3), not always all three, one
/// deadline each; fees the same everywhere except that online is often cheaper.
fn channels(rng: &mut ChaCha8Rng, field_code: &str, name_lc: &str) -> Vec<Value> {
    let mut kenh = [rng.gen_bool(0.92), rng.gen_bool(0.75), rng.gen_bool(0.65)];
    if !kenh.iter().any(|k| *k) {
        kenh[0] = true;
    }
    let days = DEADLINES[rng.gen_range(0..DEADLINES.len())];
    let unit = if rng.gen_bool(0.8) {
        "Ngày làm việc"
    } else {
        "Ngày"
    };
    let tag = field_code.split('-').nth(1).unwrap_or("TT");
    let mut fees: Vec<(String, u64, String)> = Vec::new();
    if !rng.gen_bool(0.35) {
        fees.push((
            format!("LP.{tag}.{:02}", rng.gen_range(1..=20)),
            AMOUNTS[rng.gen_range(0..AMOUNTS.len())],
            format!("Lệ phí {name_lc}"),
        ));
        if rng.gen_bool(0.3) {
            fees.push((
                format!("PHI.{tag}.{:02}", rng.gen_range(1..=20)),
                AMOUNTS[rng.gen_range(0..AMOUNTS.len())],
                "Phí thẩm định hồ sơ".to_string(),
            ));
        }
    }
    let online_discount = rng.gen_bool(0.5);
    let mut out = Vec::new();
    for (k, on) in ["1", "2", "3"].into_iter().zip(kenh) {
        if !on {
            continue;
        }
        let phi: Vec<Value> = fees
            .iter()
            .map(|(ma, amount, mota)| {
                let (amount, mota) = match k {
                    "2" if online_discount => {
                        (amount / 2, format!("{mota}; giảm 50% khi nộp trực tuyến"))
                    }
                    "3" => (
                        *amount,
                        format!("{mota}; chưa gồm cước dịch vụ bưu chính công ích"),
                    ),
                    _ => (*amount, mota.clone()),
                };
                json!({"MAPHILEPHI": ma, "SOTIEN": amount.to_string(), "DONVI": "Đồng", "MOTA": mota})
            })
            .collect();
        out.push(json!({"KENH": k, "THOIGIAN": [{
            "THOIGIANGIAIQUYET": days.to_string(),
            "DONVITINH": unit,
            "MOTA": "Kể từ ngày nhận đủ hồ sơ hợp lệ",
            "PHILEPHI": phi,
        }]}));
    }
    out
}

/// `THANHPHANHOSO`: one to three cases of two to six documents, the form first in each.
fn documents(rng: &mut ChaCha8Rng, code: &str, name: &str, name_lc: &str) -> Vec<Value> {
    let (form, template) = if name.starts_with("Đăng ký") {
        (format!("Tờ khai {name_lc} (theo mẫu)"), "Tờ khai")
    } else {
        (format!("Đơn đề nghị {name_lc} (theo mẫu)"), "Đơn đề nghị")
    };
    let form = json!({
        "MAGIAYTO": format!("{code}-GT01"),
        "TENGIAYTO": form,
        "SOBANCHINH": "1",
        "SOBANSAO": "0",
        "TENMAUDON": format!("Mẫu số 01 - {template}.docx"),
        "URL": format!("https://dichvucong.h56.example/mau-don/{code}/mau-so-01.docx"),
    });
    let pool: Vec<Value> = words::DOCUMENTS
        .choose_multiple(rng, 5)
        .enumerate()
        .map(|(i, text)| {
            let number = i + 2;
            let original = rng.gen_bool(0.4);
            let (tenmau, url) = if text.contains("(theo mẫu)") {
                (
                    format!("Mẫu số {number:02}.docx"),
                    format!(
                        "https://dichvucong.h56.example/mau-don/{code}/mau-so-{number:02}.docx"
                    ),
                )
            } else {
                (String::new(), String::new())
            };
            json!({
                "MAGIAYTO": format!("{code}-GT{number:02}"),
                "TENGIAYTO": text,
                "SOBANCHINH": if original { "1" } else { "0" },
                "SOBANSAO": if original { "0" } else { "1" },
                "TENMAUDON": tenmau,
                "URL": url,
            })
        })
        .collect();
    let cases = match rng.gen_range(0..10) {
        0..=5 => 1,
        6..=8 => 2,
        _ => 3,
    };
    let labels: Vec<String> = if cases == 1 {
        vec![format!("Trường hợp {name_lc}")]
    } else {
        words::CASES
            .choose_multiple(rng, cases)
            .map(|s| s.to_string())
            .collect()
    };
    labels
        .into_iter()
        .map(|label| {
            let n = rng.gen_range(1..=pool.len());
            let mut picked: Vec<usize> = rand::seq::index::sample(rng, pool.len(), n).into_vec();
            picked.sort_unstable();
            let mut giay_to = vec![form.clone()];
            giay_to.extend(picked.into_iter().map(|i| pool[i].clone()));
            json!({"TRUONGHOP": label, "GIAYTO": giay_to})
        })
        .collect()
}
