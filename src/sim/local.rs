//! The simulated local one-stop-shop system ("vendor-a", a .NET provincial system with
//! Vietnamese column names): a reproducible generator of dossier rows (`HoSo`, with nested
//! `LePhi` and `BoSung`) and step rows (`QuaTrinhXuLy`) in exactly the shape that vendor sends,
//! for `lienthong demo`, tests and benchmarks.
//!
//! Everything is drawn from one seeded ChaCha8 stream using fixed-width integer ranges only (no
//! `usize` ranges, no floats), so a seed yields byte-identical records on every platform. No I/O
//! and no clock: the records live in November 2026 (Vietnam local time, no zone, as the vendor
//! sends them). A chosen number of dossiers is broken on purpose, one way each, so that the
//! gateway's rejection and quarantine paths are exercised; [`LocalDataset::invalid`] says which
//! dossier, which field and why.
//!
//! The committed demo fixtures `fixtures/local/{dossiers,steps}.json` are
//! `generate(2026, 240, 12)`; a unit test keeps them in step with this file.

use chrono::{Datelike, Duration, NaiveDate, NaiveDateTime, NaiveTime, Weekday};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::Serialize;
use serde_json::{json, Map, Value};

/// The agency that registers the simulated dossiers (first part of every `MaHoSo`).
pub const AGENCY_ID: &str = "000.00.56.H56";
/// The province of every simulated applicant (Thanh Hóa).
pub const PROVINCE_CODE: &str = "38";
/// Every `TinhTrang` the vendor uses, in the portal's order (`"1"`..`"10"`).
pub const LOCAL_STATUSES: [&str; 10] = [
    "MOI",
    "DA_NHAN",
    "TU_CHOI",
    "DANG_XU_LY",
    "CHO_BO_SUNG",
    "CHO_NOP_PHI",
    "RUT",
    "DUNG_XU_LY",
    "XONG",
    "DA_TRA",
];

/// The `HoSo` columns of the generated dossiers that hold text, and those that hold numbers: the
/// table a local system's database would have (the SQL-source tests and `bench sources` fill one).
pub const HOSO_TEXT_COLUMNS: [&str; 20] = [
    "MaHoSo",
    "MaThuTucLocal",
    "TenThuTuc",
    "TrichYeu",
    "NguoiNop",
    "SoGiayTo",
    "DienThoai",
    "Email",
    "DiaChi",
    "MaTinh",
    "MaXa",
    "LoaiNguoiNop",
    "KenhNop",
    "NgayNop",
    "NgayNhan",
    "HanTra",
    "NgayXong",
    "NgayTra",
    "TinhTrang",
    "PhongXuLy",
];
pub const HOSO_INT_COLUMNS: [&str; 2] = ["NhanKetQuaQuaBuuDien", "CoSoHoa"];

/// Generated records of the simulated local system.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LocalDataset {
    /// `HoSo` rows ordered by submission (`NgayNop`), children nested as `BoSung` and `LePhi`.
    pub dossiers: Vec<Value>,
    /// `QuaTrinhXuLy` rows in the order they happened (`ThoiDiem`, then `MaHoSo`, then `Buoc`).
    pub steps: Vec<Value>,
    /// The dossiers broken on purpose, in dossier order.
    pub invalid: Vec<InvalidDossier>,
}

/// One dossier that was broken on purpose and must be rejected (its steps must wait).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct InvalidDossier {
    /// The dossier's `MaHoSo` as generated (for a malformed code: the malformed value).
    pub ma_ho_so: String,
    /// The vendor field that was broken.
    pub field: &'static str,
    /// Why the gateway must reject the record.
    pub why: &'static str,
}

/// The ways a dossier is broken, used in turn.
const BREAKAGES: [(&str, &str); 6] = [
    ("NgayNhan", "reception date cannot be read"),
    ("MaThuTucLocal", "unknown local procedure code"),
    ("NguoiNop", "mandatory applicant name is empty"),
    (
        "MaHoSo",
        "dossier code does not match <agency>-<yyMMdd>-<digits>",
    ),
    ("HanTra", "due date is before the reception date"),
    ("TinhTrang", "unknown local status"),
];
const UNREADABLE_DATE: &str = "31/02/2026 25:61";
const UNKNOWN_PROCEDURE: &str = "TTHC-TH-9999";
const UNKNOWN_STATUS: &str = "CHO_KY_SO";

/// Generates `dossiers` dossiers (with their steps) from `seed`; `invalid` of them (at most all)
/// are broken on purpose, cycling through the six kinds of [`InvalidDossier::field`].
pub fn generate(seed: u64, dossiers: usize, invalid: usize) -> LocalDataset {
    let mut g = Draw::new(seed);
    let units: Vec<Unit> = COMMUNES.iter().map(|c| Unit::new(&mut g, c)).collect();
    let province = Unit::province(&mut g);

    let mut submissions: Vec<(NaiveDateTime, Channel)> =
        (0..dossiers).map(|_| submission(&mut g)).collect();
    submissions.sort_by_key(|s| s.0);

    let invalid = invalid.min(dossiers);
    let mut broken_at = Vec::with_capacity(invalid);
    for k in 0..invalid {
        let stride = (dossiers / invalid) as u32;
        broken_at.push(k * dossiers / invalid + g.below(stride) as usize);
    }

    let mut out = LocalDataset {
        dossiers: Vec::with_capacity(dossiers),
        steps: Vec::new(),
        invalid: Vec::with_capacity(invalid),
    };
    let mut day = None;
    let mut seq = 0u32;
    for (i, (submitted, channel)) in submissions.into_iter().enumerate() {
        if day != Some(submitted.date()) {
            day = Some(submitted.date());
            seq = g.range(1, 6);
        } else {
            seq += g.range(1, 3);
        }
        let code = format!("{AGENCY_ID}-{}-{seq:04}", submitted.format("%y%m%d"));
        let breakage = broken_at
            .iter()
            .position(|&p| p == i)
            .map(|k| BREAKAGES[k % BREAKAGES.len()]);
        let (mut record, mut steps) = dossier(
            &mut g,
            &units,
            &province,
            code,
            submitted,
            channel,
            breakage.is_some(),
        );
        if let Some((field, why)) = breakage {
            let code = break_record(&mut record, &mut steps, field);
            out.invalid.push(InvalidDossier {
                ma_ho_so: code,
                field,
                why,
            });
        }
        out.dossiers.push(Value::Object(record));
        out.steps.extend(steps);
    }
    out.steps.sort_by(|a, b| {
        let key = |v: &Value| {
            (
                v["ThoiDiem"].as_str().unwrap_or_default().to_string(),
                v["MaHoSo"].as_str().unwrap_or_default().to_string(),
                v["Buoc"].as_u64().unwrap_or_default(),
            )
        };
        key(a).cmp(&key(b))
    });
    out
}

/// Breaks one field of a dossier that was generated valid; returns its (possibly new) code.
fn break_record(record: &mut Map<String, Value>, steps: &mut [Value], field: &str) -> String {
    let code = record["MaHoSo"].as_str().unwrap_or_default().to_string();
    match field {
        "NgayNhan" => {
            record.insert("NgayNhan".into(), UNREADABLE_DATE.into());
        }
        "MaThuTucLocal" => {
            record.insert("MaThuTucLocal".into(), UNKNOWN_PROCEDURE.into());
        }
        "NguoiNop" => {
            record.insert("NguoiNop".into(), "".into());
        }
        "MaHoSo" => {
            // The vendor's old numbering: slashes instead of dashes. Steps carry it too.
            let bad = code.replace('-', "/");
            record.insert("MaHoSo".into(), bad.clone().into());
            for child in ["BoSung", "LePhi"] {
                if let Some(rows) = record.get_mut(child).and_then(Value::as_array_mut) {
                    for row in rows {
                        row["MaHoSo"] = bad.clone().into();
                    }
                }
            }
            for step in steps.iter_mut() {
                step["MaHoSo"] = bad.clone().into();
            }
            return bad;
        }
        "HanTra" => {
            let received = record["NgayNhan"]
                .as_str()
                .and_then(parse_local)
                .unwrap_or_else(|| november(2, 8, 0));
            let before = at(received.date() - Duration::days(1), 17, 0);
            record.insert("HanTra".into(), fmt(before).into());
        }
        "TinhTrang" => {
            record.insert("TinhTrang".into(), UNKNOWN_STATUS.into());
        }
        _ => {}
    }
    code
}

// ---------------------------------------------------------------------------------------------
// One dossier

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Status {
    Moi,
    DaNhan,
    TuChoi,
    DangXuLy,
    ChoBoSung,
    ChoNopPhi,
    Rut,
    DungXuLy,
    Xong,
    DaTra,
}

impl Status {
    fn code(self) -> &'static str {
        LOCAL_STATUSES[self as usize]
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Channel {
    InPerson,
    Online,
    Postal,
}

impl Channel {
    fn code(self) -> &'static str {
        match self {
            Channel::InPerson => "TRUC_TIEP",
            Channel::Online => "TRUC_TUYEN",
            Channel::Postal => "BUU_CHINH",
        }
    }
}

use Status::*;

/// Status sequences a dossier may go through, with their weights.
const PATHS: [(u32, &[Status]); 14] = [
    // Received; the paper file is on its way to the department.
    (5, &[DaNhan, DaNhan]),
    (10, &[DaNhan, DangXuLy]),
    (8, &[DaNhan, DangXuLy, DangXuLy]),
    (8, &[DaNhan, DangXuLy, Xong]),
    (6, &[DaNhan, DangXuLy, DangXuLy, Xong]),
    (16, &[DaNhan, DangXuLy, Xong, DaTra]),
    (12, &[DaNhan, DangXuLy, DangXuLy, Xong, DaTra]),
    (8, &[DaNhan, DangXuLy, ChoBoSung, DangXuLy, Xong, DaTra]),
    (6, &[DaNhan, DangXuLy, ChoBoSung]),
    (5, &[DaNhan, DangXuLy, ChoBoSung, DangXuLy]),
    (4, &[DaNhan, TuChoi]),
    (3, &[DaNhan, DangXuLy, ChoBoSung, Rut]),
    (3, &[DaNhan, DangXuLy, DungXuLy]),
    // Online only: withdrawn before reception, so never received.
    (3, &[Moi, Rut]),
];

/// Land procedures only: financial obligations (taxes, land-use fees) before the certificate.
const LAND_PATHS: [(u32, &[Status]); 2] = [
    (3, &[DaNhan, DangXuLy, ChoNopPhi, DangXuLy, Xong, DaTra]),
    (1, &[DaNhan, DangXuLy, ChoNopPhi]),
];

/// Last moment anything may happen: the records all stay in November 2026.
fn horizon() -> NaiveDateTime {
    november(30, 16, 0)
}

fn dossier(
    g: &mut Draw,
    units: &[Unit],
    province: &Unit,
    code: String,
    submitted: NaiveDateTime,
    channel: Channel,
    must_be_received: bool,
) -> (Map<String, Value>, Vec<Value>) {
    let proc = *g.weighted(&PROCEDURES.map(|p| (p.weight, p)));
    let home = g.pick(COMMUNES);
    let unit = if proc.dept == Dept::Water {
        province
    } else {
        &units[COMMUNES
            .iter()
            .position(|c| c.code == home.code)
            .unwrap_or(0)]
    };
    let applicant = Applicant::new(g, &proc, home);
    let path = choose_path(g, &proc, channel, must_be_received);

    let received = (path[0] != Moi).then(|| reception(g, channel, submitted));
    let first = received.unwrap_or_else(|| office(g, submitted + Duration::minutes(10)));
    let times = schedule(g, first, path);
    let specialist = g.below(unit.specialists.len() as u32) as usize;
    let by_post = channel == Channel::Postal || g.pct(15);
    let handling = Handling {
        unit,
        proc: &proc,
        specialist,
        channel,
        by_post,
    };

    let mut due = received.map(|r| due_after(r, proc.days));
    let mut rounds: Vec<Value> = Vec::new();
    let mut apologised = false;
    let mut steps = Vec::with_capacity(path.len());
    let mut finished = None;
    let mut returned = None;
    for (i, (&status, &t)) in path.iter().zip(&times).enumerate() {
        let prev = (i > 0).then(|| path[i - 1]);
        // Waiting for documents stops the clock: the round's new due date counts the wait.
        if prev == Some(ChoBoSung) && status == DangXuLy {
            if let (Some(round), Some(old)) = (rounds.last_mut(), due) {
                let asked =
                    parse_local(round["NgayYeuCau"].as_str().unwrap_or_default()).unwrap_or(t);
                let waited = working_days_between(asked.date(), t.date()).max(1);
                let new = at(add_working_days(old.date(), waited), 17, 0);
                round["HanTraMoi"] = fmt(new).into();
                due = Some(new);
            }
        }
        // An open dossier past its due date owes the applicant an apology and a new date.
        if let (Some(p), Some(d)) = (prev, due) {
            if !apologised && t > d && matches!(p, DaNhan | DangXuLy | ChoNopPhi) && g.pct(70) {
                let asked = (d - Duration::minutes(30)).max(times[i - 1] + Duration::minutes(1));
                let new = at(add_working_days(t.date(), g.range(2, 5)), 17, 0);
                rounds.push(json!({
                    "MaHoSo": code,
                    "Lan": rounds.len() + 1,
                    "NoiDung": format!(
                        "Hồ sơ giải quyết quá hạn do {}; {} xin lỗi ông/bà và hẹn lại ngày trả kết quả",
                        g.pick(LATE_REASONS),
                        unit.authority
                    ),
                    "NgayYeuCau": fmt(asked),
                    "HanTraCu": fmt(d),
                    "HanTraMoi": fmt(new),
                    "LaXinLoi": 1,
                }));
                due = Some(new);
                apologised = true;
            }
        }
        if status == ChoBoSung {
            if let Some(d) = due {
                let new = at(add_working_days(d.date(), 5), 17, 0);
                rounds.push(json!({
                    "MaHoSo": code,
                    "Lan": rounds.len() + 1,
                    "NoiDung": supplement_request(g, &proc),
                    "NgayYeuCau": fmt(t),
                    "HanTraCu": fmt(d),
                    "HanTraMoi": fmt(new),
                    "LaXinLoi": 0,
                }));
                due = Some(new);
            }
        }
        match status {
            Xong => finished = Some(t),
            DaTra => returned = Some(t),
            _ => {}
        }
        let (who, title, office_name, text) = step_actor(g, &handling, status, prev, &rounds);
        let mut deadline = at(add_working_days(t.date(), g.range(0, 3)), 17, 0);
        if let Some(d) = due {
            if deadline > d && d >= t {
                deadline = d;
            }
        }
        steps.push(json!({
            "MaHoSo": code,
            "Buoc": i + 1,
            "NguoiXuLy": who,
            "ChucVu": title,
            "PhongBan": office_name,
            "NoiDung": text,
            "TinhTrang": status.code(),
            "ThoiDiem": fmt(t),
            "HanXuLy": fmt(deadline),
        }));
    }

    let last_status = path[path.len() - 1];
    let mut last_change = times[times.len() - 1];
    for r in &rounds {
        if let Some(asked) = parse_local(r["NgayYeuCau"].as_str().unwrap_or_default()) {
            last_change = last_change.max(asked);
        }
    }
    let updated = last_change
        + Duration::seconds(i64::from(g.range(2, 59)))
        + Duration::milliseconds(i64::from(g.range(0, 999)));

    let fees = fee_rows(g, &proc, &code, channel, path);
    let summary = if g.pct(5) {
        String::new()
    } else {
        summary(g, &proc, &applicant, home)
    };
    let mut record = Map::new();
    let mut put = |k: &str, v: Value| {
        record.insert(k.to_string(), v);
    };
    put("MaHoSo", code.clone().into());
    put("MaThuTucLocal", proc.local.into());
    put("TenThuTuc", proc.name.into());
    put("TrichYeu", summary.into());
    put("NguoiNop", applicant.name.clone().into());
    put("SoGiayTo", applicant.id.clone().into());
    put("DienThoai", applicant.phone.clone().into());
    put("Email", applicant.email.clone().into());
    put("DiaChi", applicant.address.clone().into());
    put("MaTinh", PROVINCE_CODE.into());
    put("MaXa", home.code.into());
    put("LoaiNguoiNop", applicant.kind.into());
    put("KenhNop", channel.code().into());
    put("NgayNop", fmt(submitted).into());
    put("NgayNhan", received.map(fmt).unwrap_or_default().into());
    put(
        "HanTra",
        if received.is_some() {
            due.map(fmt).unwrap_or_default()
        } else {
            String::new()
        }
        .into(),
    );
    put(
        "NgayXong",
        finished.map(fmt).map_or(Value::Null, Value::from),
    );
    put(
        "NgayTra",
        returned.map(fmt).map_or(Value::Null, Value::from),
    );
    put("TinhTrang", last_status.code().into());
    put("NhanKetQuaQuaBuuDien", u8::from(by_post).into());
    put(
        "CoSoHoa",
        u8::from(channel == Channel::Online || g.pct(30)).into(),
    );
    put("PhongXuLy", unit.dept_name(proc.dept).into());
    put("CapNhatLuc", fmt_millis(updated).into());
    put("BoSung", Value::Array(rounds));
    put("LePhi", Value::Array(fees));
    (record, steps)
}

fn choose_path(
    g: &mut Draw,
    proc: &Procedure,
    channel: Channel,
    must_be_received: bool,
) -> &'static [Status] {
    if proc.land && g.pct(30) {
        let path = *g.weighted(&LAND_PATHS);
        return path;
    }
    loop {
        let path = *g.weighted(&PATHS);
        if path[0] == Moi && (channel != Channel::Online || must_be_received) {
            continue;
        }
        return path;
    }
}

/// When the dossier was submitted and how: online at any hour, else in office hours.
fn submission(g: &mut Draw) -> (NaiveDateTime, Channel) {
    let channel = match g.below(100) {
        0..=49 => Channel::InPerson,
        50..=89 => Channel::Online,
        _ => Channel::Postal,
    };
    let day = g.range(2, 20);
    let t = match channel {
        Channel::Online => november(day, g.range(6, 23), g.below(60)),
        _ => {
            let t = november(day, g.range(7, 16), g.below(60));
            office(g, t)
        }
    };
    (t, channel)
}

/// When the one-stop shop received the dossier.
fn reception(g: &mut Draw, channel: Channel, submitted: NaiveDateTime) -> NaiveDateTime {
    let after = match channel {
        Channel::InPerson => Duration::minutes(i64::from(g.range(4, 25))),
        Channel::Online => Duration::minutes(i64::from(g.range(10, 600))),
        Channel::Postal => Duration::hours(i64::from(g.range(20, 40))),
    };
    office(g, submitted + after)
}

/// Strictly increasing step times in office hours, all before the horizon.
fn schedule(g: &mut Draw, first: NaiveDateTime, path: &[Status]) -> Vec<NaiveDateTime> {
    let mut scale = 100i64;
    loop {
        let mut times = vec![first];
        let mut t = first;
        for w in path.windows(2) {
            let gap = if w[0] == ChoBoSung || w[0] == ChoNopPhi {
                Duration::hours(i64::from(g.range(20, 70)) * scale / 100)
            } else {
                Duration::minutes(i64::from(g.range(25, 900)) * scale / 100)
            };
            t = office(g, t + gap.max(Duration::minutes(20)));
            times.push(t);
        }
        if t <= horizon() || scale <= 1 {
            return times;
        }
        scale /= 2;
    }
}

/// What stays the same across the steps of one dossier.
struct Handling<'a> {
    unit: &'a Unit,
    proc: &'a Procedure,
    /// Index of the specialist in charge (the same one throughout).
    specialist: usize,
    channel: Channel,
    by_post: bool,
}

/// Who did a step (name, title, office) and what they wrote.
fn step_actor(
    g: &mut Draw,
    h: &Handling,
    status: Status,
    prev: Option<Status>,
    rounds: &[Value],
) -> (String, String, String, String) {
    let Handling {
        unit,
        proc,
        specialist,
        channel,
        by_post,
    } = *h;
    let clerk = || {
        (
            // The counter clerk who took the dossier in also hands the result back.
            unit.clerks[specialist % unit.clerks.len()].clone(),
            "Công chức tiếp nhận và trả kết quả".to_string(),
            unit.center.clone(),
        )
    };
    let dept = unit.dept_name(proc.dept).to_string();
    let spec = unit.specialists[specialist].clone();
    let (who, title, office_name) = match status {
        Moi | DaNhan | TuChoi | DaTra => clerk(),
        Rut if matches!(prev, Some(Moi) | Some(DaNhan)) => clerk(),
        DangXuLy if prev == Some(DaNhan) => {
            let title = if proc.dept == Dept::Office {
                "Chánh Văn phòng"
            } else {
                "Trưởng phòng"
            };
            (unit.head.clone(), title.into(), dept)
        }
        Xong | DungXuLy => (
            unit.leader.0.clone(),
            unit.leader.1.to_string(),
            unit.leadership.clone(),
        ),
        _ => {
            let title = if proc.dept == Dept::Office {
                "Công chức Tư pháp - Hộ tịch"
            } else {
                "Chuyên viên"
            };
            (spec.clone(), title.into(), dept)
        }
    };
    let text = match status {
        Moi => "Hồ sơ nộp trực tuyến trên Cổng Dịch vụ công được ghi nhận, chờ kiểm tra thành phần hồ sơ".to_string(),
        DaNhan if prev == Some(DaNhan) => format!(
            "Chuyển hồ sơ đến {} để giải quyết",
            unit.dept_name(proc.dept)
        ),
        DaNhan => match channel {
            Channel::InPerson => "Tiếp nhận hồ sơ, kiểm tra thành phần hồ sơ; cấp Giấy tiếp nhận hồ sơ và hẹn trả kết quả".to_string(),
            Channel::Online => "Tiếp nhận hồ sơ nộp trực tuyến; hồ sơ đủ thành phần, gửi thông báo tiếp nhận và hẹn trả kết quả qua thư điện tử và tin nhắn".to_string(),
            Channel::Postal => format!(
                "Tiếp nhận hồ sơ qua dịch vụ bưu chính công ích (bưu gửi EB{:08}VN); hồ sơ đủ thành phần",
                g.range(10_000_000, 99_999_999)
            ),
        },
        TuChoi => format!(
            "Từ chối tiếp nhận: {}; hướng dẫn người nộp hoàn thiện hồ sơ",
            g.pick(REFUSAL_REASONS)
        ),
        DangXuLy => match prev {
            Some(DaNhan) => format!(
                "Nhận hồ sơ từ {}, phân công chuyên viên {} thụ lý",
                unit.center, spec
            ),
            Some(ChoBoSung) => "Nhận hồ sơ bổ sung; tiếp tục thẩm định hồ sơ".to_string(),
            Some(ChoNopPhi) => "Người nộp đã hoàn thành nghĩa vụ tài chính (có chứng từ nộp tiền); tiếp tục giải quyết hồ sơ".to_string(),
            _ => g.pick(REVIEW_NOTES).to_string(),
        },
        ChoBoSung => {
            let asked = rounds
                .last()
                .and_then(|r| r["NoiDung"].as_str())
                .unwrap_or("Bổ sung thành phần hồ sơ còn thiếu");
            format!("Hồ sơ chưa đầy đủ. {asked}")
        }
        ChoNopPhi => "Chuyển thông tin sang cơ quan thuế; thông báo nghĩa vụ tài chính cho người nộp".to_string(),
        Rut => "Người nộp có đơn đề nghị rút hồ sơ; dừng giải quyết và trả lại hồ sơ".to_string(),
        DungXuLy => format!("Dừng xử lý hồ sơ: {}", g.pick(STOP_REASONS)),
        Xong => format!("Ký {}; chuyển kết quả về {}", proc.result, unit.center),
        DaTra => {
            if by_post {
                "Chuyển kết quả cho bưu điện để trả tại địa chỉ của người nộp".to_string()
            } else {
                "Trả kết quả cho người nộp tại Bộ phận Một cửa; người nộp ký nhận".to_string()
            }
        }
    };
    (who, title, office_name, text)
}

fn fee_rows(
    g: &mut Draw,
    proc: &Procedure,
    code: &str,
    channel: Channel,
    path: &[Status],
) -> Vec<Value> {
    let Some(fee) = proc.fee else {
        return Vec::new();
    };
    if !g.pct(85) {
        return Vec::new();
    }
    let amount = match proc.local {
        "TTHC-TH-0101" if channel == Channel::Online => fee.amount / 2,
        "TTHC-TH-0815" => fee.amount * u64::from(g.range(1, 8)),
        _ => fee.amount,
    };
    let collected = if path.contains(&ChoNopPhi) { 4 } else { 1 };
    let name = if proc.local == "TTHC-TH-0101" && channel == Channel::Online {
        format!("{} (nộp trực tuyến)", fee.name)
    } else {
        fee.name.to_string()
    };
    vec![json!({
        "MaHoSo": code,
        "MaPhi": fee.code,
        "TenPhi": name,
        "SoTien": amount,
        "LoaiPhi": fee.kind,
        "ThuKhi": collected,
    })]
}

// ---------------------------------------------------------------------------------------------
// Procedures, places, people

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Dept {
    Economy,
    Society,
    Office,
    Water,
}

#[derive(Debug, Clone, Copy)]
struct Fee {
    code: &'static str,
    name: &'static str,
    amount: u64,
    kind: u8,
}

#[derive(Debug, Clone, Copy)]
struct Procedure {
    local: &'static str,
    name: &'static str,
    dept: Dept,
    /// Working days from reception to the due date.
    days: u32,
    fee: Option<Fee>,
    /// Mostly filed by businesses.
    business: bool,
    land: bool,
    result: &'static str,
    weight: u32,
}

#[allow(clippy::too_many_arguments)]
const fn procedure(
    local: &'static str,
    name: &'static str,
    dept: Dept,
    days: u32,
    fee: Option<Fee>,
    business: bool,
    result: &'static str,
    weight: u32,
) -> Procedure {
    Procedure {
        local,
        name,
        dept,
        days,
        fee,
        business,
        land: false,
        result,
        weight,
    }
}

/// The local procedures of `fixtures/procedures.json` (a test keeps the two in step).
const PROCEDURES: [Procedure; 12] = [
    procedure(
        "TTHC-TH-0412",
        "Cấp giấy phép xây dựng đối với nhà ở riêng lẻ",
        Dept::Economy,
        10,
        Some(Fee {
            code: "LP.GPXD.01",
            name: "Lệ phí cấp giấy phép xây dựng nhà ở riêng lẻ",
            amount: 75_000,
            kind: 2,
        }),
        false,
        "Giấy phép xây dựng",
        12,
    ),
    procedure(
        "TTHC-TH-0101",
        "Đăng ký thành lập hộ kinh doanh",
        Dept::Economy,
        3,
        Some(Fee {
            code: "LP.HKD.01",
            name: "Lệ phí đăng ký hộ kinh doanh",
            amount: 100_000,
            kind: 1,
        }),
        false,
        "Giấy chứng nhận đăng ký hộ kinh doanh",
        10,
    ),
    procedure(
        "TTHC-TH-0203",
        "Đăng ký khai sinh",
        Dept::Office,
        1,
        None,
        false,
        "Giấy khai sinh và bản sao Giấy khai sinh",
        16,
    ),
    procedure(
        "TTHC-TH-0204",
        "Đăng ký kết hôn",
        Dept::Office,
        1,
        None,
        false,
        "Giấy chứng nhận kết hôn",
        8,
    ),
    procedure(
        "TTHC-TH-0205",
        "Đăng ký khai tử",
        Dept::Office,
        1,
        None,
        false,
        "Trích lục khai tử",
        5,
    ),
    Procedure {
        land: true,
        ..procedure(
            "TTHC-TH-0310",
            "Cấp Giấy chứng nhận quyền sử dụng đất lần đầu",
            Dept::Economy,
            20,
            Some(Fee {
                code: "LP.GCN.01",
                name: "Lệ phí cấp Giấy chứng nhận quyền sử dụng đất",
                amount: 100_000,
                kind: 2,
            }),
            false,
            "Giấy chứng nhận quyền sử dụng đất, quyền sở hữu tài sản gắn liền với đất",
            8,
        )
    },
    Procedure {
        land: true,
        ..procedure(
            "TTHC-TH-0311",
            "Đăng ký biến động quyền sử dụng đất, quyền sở hữu tài sản gắn liền với đất",
            Dept::Economy,
            10,
            Some(Fee {
                code: "LP.DKBD.01",
                name: "Lệ phí đăng ký biến động đất đai",
                amount: 28_000,
                kind: 1,
            }),
            false,
            "xác nhận nội dung biến động trên Giấy chứng nhận",
            9,
        )
    },
    procedure(
        "TTHC-TH-0520",
        "Cấp giấy chứng nhận đủ điều kiện an toàn thực phẩm",
        Dept::Economy,
        15,
        Some(Fee {
            code: "PHI.ATTP.01",
            name: "Phí thẩm định cấp giấy chứng nhận cơ sở đủ điều kiện an toàn thực phẩm",
            amount: 500_000,
            kind: 2,
        }),
        true,
        "Giấy chứng nhận cơ sở đủ điều kiện an toàn thực phẩm",
        5,
    ),
    procedure(
        "TTHC-TH-0601",
        "Hỗ trợ kinh phí mua thẻ bảo hiểm y tế cho người cao tuổi",
        Dept::Society,
        7,
        None,
        false,
        "Quyết định hỗ trợ kinh phí mua thẻ bảo hiểm y tế",
        6,
    ),
    procedure(
        "TTHC-TH-0702",
        "Cấp giấy phép kinh doanh bán lẻ sản phẩm rượu",
        Dept::Economy,
        10,
        Some(Fee {
            code: "PHI.RUOU.01",
            name: "Phí thẩm định cấp giấy phép kinh doanh bán lẻ sản phẩm rượu",
            amount: 400_000,
            kind: 2,
        }),
        true,
        "Giấy phép bán lẻ sản phẩm rượu",
        4,
    ),
    procedure(
        "TTHC-TH-0815",
        "Chứng thực bản sao từ bản chính giấy tờ, văn bản",
        Dept::Office,
        1,
        Some(Fee {
            code: "PHI.CT.01",
            name: "Phí chứng thực bản sao từ bản chính",
            amount: 2_000,
            kind: 1,
        }),
        false,
        "bản sao chứng thực",
        14,
    ),
    procedure(
        "TTHC-TH-0907",
        "Cấp phép khai thác, sử dụng nước mặt",
        Dept::Water,
        30,
        Some(Fee {
            code: "PHI.NM.01",
            name: "Phí thẩm định đề án khai thác, sử dụng nước mặt",
            amount: 1_500_000,
            kind: 2,
        }),
        true,
        "Giấy phép khai thác, sử dụng nước mặt",
        3,
    ),
];

struct Commune {
    name: &'static str,
    code: &'static str,
    ward: bool,
    hamlets: &'static [&'static str],
}

/// Communes and wards of Thanh Hóa after the 2025 reorganisation (5-digit codes, illustrative).
const COMMUNES: &[Commune] = &[
    Commune {
        name: "xã Quảng Phú",
        code: "16012",
        ward: false,
        hamlets: &["thôn Đông", "thôn Nam", "thôn Bắc", "thôn Phú Cường"],
    },
    Commune {
        name: "phường Hạc Thành",
        code: "14758",
        ward: true,
        hamlets: &[
            "đường Lê Lợi",
            "đường Trần Phú",
            "đường Bà Triệu",
            "đường Hàm Nghi",
        ],
    },
    Commune {
        name: "phường Sầm Sơn",
        code: "14803",
        ward: true,
        hamlets: &[
            "đường Hồ Xuân Hương",
            "đường Nguyễn Du",
            "đường Lê Thánh Tông",
        ],
    },
    Commune {
        name: "xã Thọ Xuân",
        code: "15217",
        ward: false,
        hamlets: &["thôn Lam Sơn", "thôn Xuân Phú", "thôn Thọ Hải"],
    },
    Commune {
        name: "xã Hậu Lộc",
        code: "15715",
        ward: false,
        hamlets: &["thôn Đa Lộc", "thôn Minh Lộc", "thôn Hòa Lộc"],
    },
    Commune {
        name: "xã Nga Sơn",
        code: "15493",
        ward: false,
        hamlets: &["thôn Nga Thủy", "thôn Nga Liên", "thôn Trung Thành"],
    },
    Commune {
        name: "phường Nghi Sơn",
        code: "16381",
        ward: true,
        hamlets: &[
            "tổ dân phố Bắc Sơn",
            "tổ dân phố Hải Thượng",
            "tổ dân phố Tân Dân",
        ],
    },
    Commune {
        name: "xã Ngọc Lặc",
        code: "14953",
        ward: false,
        hamlets: &["thôn Minh Sơn", "thôn Quang Trung", "thôn Lê Lợi"],
    },
];

const FAMILY: &[&str] = &[
    "Nguyễn", "Nguyễn", "Nguyễn", "Trần", "Lê", "Lê", "Phạm", "Hoàng", "Vũ", "Đặng", "Bùi", "Đỗ",
    "Hồ", "Ngô", "Dương", "Lý", "Lương", "Trịnh", "Mai", "Đinh", "Cao", "Hà", "Lò",
];
const MALE_MIDDLE: &[&str] = &[
    "Văn", "Văn", "Đức", "Minh", "Quốc", "Hữu", "Công", "Xuân", "Đình", "Ngọc", "Thanh",
];
const FEMALE_MIDDLE: &[&str] = &[
    "Thị", "Thị", "Thị", "Thu", "Ngọc", "Thanh", "Minh", "Hồng", "Phương", "Kim",
];
const MALE_GIVEN: &[&str] = &[
    "Hùng", "Dũng", "Tuấn", "Minh", "Thành", "Hưng", "Long", "Quang", "Sơn", "Trung", "Hải", "Nam",
    "Phúc", "Thắng", "Cường", "Khánh", "Việt", "Bình", "Toàn", "Đạt",
];
const FEMALE_GIVEN: &[&str] = &[
    "Hoa", "Lan", "Mai", "Hương", "Hằng", "Nga", "Thảo", "Trang", "Linh", "Yến", "Huyền", "Phương",
    "Thủy", "Ngọc", "Hạnh", "Oanh", "Vân", "Loan", "Dung", "Liên",
];
const BUSINESS_TRADE: &[&str] = &[
    "Thương mại",
    "Thực phẩm",
    "Xây dựng",
    "Dịch vụ",
    "Nông sản",
    "Thủy sản",
    "Vận tải",
];
const BUSINESS_NAME: &[&str] = &[
    "Minh Phát",
    "Hoàng Long",
    "An Bình",
    "Thành Đạt",
    "Phú Quý",
    "Hải Tiến",
    "Sông Mã",
    "Lam Sơn",
    "Tân Phong",
    "Đông Á",
];
const SHOP_KIND: &[&str] = &[
    "Tạp hóa",
    "Cửa hàng ăn uống",
    "Quán cà phê",
    "Tiệm may",
    "Sửa chữa xe máy",
    "Cửa hàng vật liệu xây dựng",
];
const MOBILE_PREFIX: &[&str] = &[
    "091", "094", "088", "098", "097", "096", "086", "035", "036", "037", "038", "039", "090",
    "093", "070", "079", "081", "083", "085", "056",
];
const REVIEW_NOTES: &[&str] = &[
    "Thẩm định hồ sơ; hồ sơ đủ điều kiện, dự thảo kết quả trình lãnh đạo Ủy ban nhân dân ký",
    "Kiểm tra thực tế tại địa phương; lập biên bản kiểm tra",
    "Lấy ý kiến của cơ quan chuyên môn có liên quan; tổng hợp ý kiến",
    "Đối chiếu hồ sơ với cơ sở dữ liệu quốc gia về dân cư; thông tin trùng khớp",
    "Hoàn thiện dự thảo kết quả, trình lãnh đạo phòng kiểm tra",
];
const REFUSAL_REASONS: &[&str] = &[
    "hồ sơ thiếu đơn đề nghị theo mẫu",
    "giấy tờ nộp kèm hết hiệu lực",
    "thủ tục không thuộc thẩm quyền giải quyết của cơ quan",
    "thông tin trên tờ khai không khớp với Cơ sở dữ liệu quốc gia về dân cư",
];
const STOP_REASONS: &[&str] = &[
    "người nộp không bổ sung hồ sơ trong thời hạn quy định",
    "có tranh chấp đang được Tòa án nhân dân thụ lý giải quyết",
    "cơ quan có thẩm quyền có văn bản đề nghị tạm dừng giải quyết",
];
const LATE_REASONS: &[&str] = &[
    "cần xác minh thực tế tại địa phương",
    "phải lấy ý kiến của cơ quan có liên quan",
    "cán bộ thụ lý nghỉ ốm đột xuất, chưa kịp bàn giao hồ sơ",
    "hệ thống phần mềm một cửa gặp sự cố kéo dài",
];

fn supplement_request(g: &mut Draw, proc: &Procedure) -> String {
    let specific: &[&str] = match proc.local {
        "TTHC-TH-0412" => &[
            "Bổ sung bản vẽ mặt bằng công trình trên lô đất có chữ ký của người thiết kế",
            "Bổ sung bản sao Giấy chứng nhận quyền sử dụng đất có chứng thực",
        ],
        "TTHC-TH-0101" => &[
            "Bổ sung bản sao hợp đồng thuê địa điểm kinh doanh có đủ chữ ký của bên cho thuê",
        ],
        "TTHC-TH-0310" | "TTHC-TH-0311" => &[
            "Bổ sung trích đo địa chính thửa đất có xác nhận của đơn vị đo đạc",
            "Bổ sung hợp đồng chuyển nhượng đã được công chứng",
            "Bổ sung giấy tờ chứng minh nguồn gốc sử dụng đất",
        ],
        "TTHC-TH-0520" => &[
            "Bổ sung giấy xác nhận đủ sức khỏe của chủ cơ sở và người trực tiếp sản xuất, kinh doanh thực phẩm",
        ],
        "TTHC-TH-0907" => &["Bổ sung kết quả phân tích chất lượng nguồn nước mặt"],
        _ => &["Bổ sung bản chính giấy tờ tùy thân để đối chiếu"],
    };
    let text = g.pick(specific);
    if g.pct(30) {
        format!("{text} (bản đã nộp thiếu trang 2)")
    } else {
        text.to_string()
    }
}

/// Who filed the dossier.
struct Applicant {
    kind: &'static str,
    name: String,
    id: String,
    phone: String,
    email: String,
    address: String,
    /// The address without the house number, for summaries.
    place: String,
    male: bool,
}

impl Applicant {
    fn new(g: &mut Draw, proc: &Procedure, home: &Commune) -> Applicant {
        let street = g.pick(home.hamlets);
        let place = format!("{street}, {}", home.name);
        let address = match g.below(3) {
            0 if !home.ward => format!("{}, {}", capitalise(street), home.name),
            _ if home.ward => format!("Số {} {street}, {}", g.range(1, 320), home.name),
            _ => format!("Số nhà {}, {street}, {}", g.range(1, 120), home.name),
        };
        let kind = if proc.business {
            match g.below(10) {
                0..=5 => "DN",
                6..=7 => "TC",
                _ => "CD",
            }
        } else if proc.local == "TTHC-TH-0815" && g.pct(8) {
            "CQ"
        } else {
            "CD"
        };
        let email_pct;
        let (name, id, phone, male) = match kind {
            "DN" => {
                email_pct = 80;
                let trade = g.pick(BUSINESS_TRADE);
                let brand = g.pick(BUSINESS_NAME);
                let form = if g.pct(60) {
                    "Công ty TNHH"
                } else {
                    "Công ty Cổ phần"
                };
                (
                    format!("{form} {trade} {brand}"),
                    tax_code(g),
                    business_phone(g),
                    true,
                )
            }
            "TC" => {
                email_pct = 40;
                let commune = home.name.split_once(' ').map_or(home.name, |(_, n)| n);
                (
                    format!("Hợp tác xã Nông nghiệp {commune}"),
                    tax_code(g),
                    business_phone(g),
                    true,
                )
            }
            "CQ" => {
                email_pct = 50;
                let commune = home.name.split_once(' ').map_or(home.name, |(_, n)| n);
                (
                    format!("Trường Tiểu học {commune}"),
                    tax_code(g),
                    business_phone(g),
                    true,
                )
            }
            _ => {
                email_pct = 35;
                let male = g.pct(50);
                let year = if proc.local == "TTHC-TH-0601" {
                    g.range(1940, 1955)
                } else {
                    g.range(1955, 2004)
                };
                (
                    person_name(g, male),
                    citizen_id(g, male, year),
                    mobile_phone(g),
                    male,
                )
            }
        };
        let email = if g.pct(email_pct) {
            email_for(g, &name, kind)
        } else {
            String::new()
        };
        Applicant {
            kind,
            name,
            id,
            phone,
            email,
            address,
            place,
            male,
        }
    }
}

fn capitalise(s: &str) -> String {
    let mut chars = s.chars();
    match chars.next() {
        Some(c) => c.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

fn person_name(g: &mut Draw, male: bool) -> String {
    let family = g.pick(FAMILY);
    let (middle, given) = if male {
        (g.pick(MALE_MIDDLE), g.pick(MALE_GIVEN))
    } else {
        (g.pick(FEMALE_MIDDLE), g.pick(FEMALE_GIVEN))
    };
    format!("{family} {middle} {given}")
}

/// 12 digits (province of birth, sex and century, year, serial); 9 digits for some older people.
fn citizen_id(g: &mut Draw, male: bool, year: u32) -> String {
    if year < 1985 && g.pct(25) {
        return format!("17{:07}", g.below(10_000_000));
    }
    let sex_century = match (male, year >= 2000) {
        (true, false) => 0,
        (false, false) => 1,
        (true, true) => 2,
        (false, true) => 3,
    };
    format!("038{sex_century}{:02}{:06}", year % 100, g.below(1_000_000))
}

/// 10 digits, or 10 digits, `-`, 3 digits for a branch.
fn tax_code(g: &mut Draw) -> String {
    let base = format!("28{:08}", g.below(100_000_000));
    if g.pct(15) {
        format!("{base}-{:03}", g.range(1, 12))
    } else {
        base
    }
}

/// A mobile number as people type it: mostly plain, some `+84`, spaces or dots.
fn mobile_phone(g: &mut Draw) -> String {
    let prefix = g.pick(MOBILE_PREFIX);
    let rest = format!("{:07}", g.below(10_000_000));
    match g.below(10) {
        0 => format!("+84 {} {} {}", &prefix[1..], &rest[..3], &rest[3..]),
        1 => format!("{prefix}{}.{}.{}", &rest[..1], &rest[1..4], &rest[4..]),
        2 => format!("{prefix}{} {} {}", &rest[..1], &rest[1..4], &rest[4..]),
        _ => format!("{prefix}{rest}"),
    }
}

/// Offices often give a Thanh Hóa landline (0237 + 7 digits).
fn business_phone(g: &mut Draw) -> String {
    if g.pct(50) {
        format!("0237{:07}", g.below(10_000_000))
    } else {
        mobile_phone(g)
    }
}

fn email_for(g: &mut Draw, name: &str, kind: &str) -> String {
    let words: Vec<String> = name.split_whitespace().map(ascii_fold).collect();
    let local = match kind {
        "CD" => {
            let given = words.last().cloned().unwrap_or_default();
            let initials: String = words[..words.len().saturating_sub(1)]
                .iter()
                .filter_map(|w| w.chars().next())
                .collect();
            match g.below(3) {
                0 => format!("{given}.{initials}"),
                1 => format!("{}{}", words.concat(), g.range(70, 99)),
                _ => format!("{given}{initials}{}", g.range(1, 99)),
            }
        }
        _ => {
            let n = words.len();
            format!("lienhe.{}", words[n.saturating_sub(2)..].concat())
        }
    };
    format!("{local}@example.com")
}

/// `Nguyễn Thị Hoa` → `nguyenthihoa`-style lower-case ASCII.
fn ascii_fold(word: &str) -> String {
    use unicode_normalization::UnicodeNormalization;
    word.nfd()
        .filter_map(|c| match c {
            'đ' | 'Đ' => Some('d'),
            c if c.is_ascii_alphanumeric() => Some(c.to_ascii_lowercase()),
            _ => None,
        })
        .collect()
}

fn summary(g: &mut Draw, proc: &Procedure, a: &Applicant, home: &Commune) -> String {
    let place = &a.place;
    match proc.local {
        "TTHC-TH-0412" => format!(
            "Xin cấp phép xây dựng nhà ở riêng lẻ {} tầng tại {place}",
            g.range(1, 4)
        ),
        "TTHC-TH-0101" => format!(
            "Đăng ký thành lập hộ kinh doanh \"{} {}\" tại {place}",
            g.pick(SHOP_KIND),
            a.name.rsplit(' ').next().unwrap_or_default()
        ),
        "TTHC-TH-0203" => {
            let boy = g.pct(50);
            format!(
                "Đăng ký khai sinh cho cháu {}, con của {} {}",
                person_name(g, boy),
                if a.male { "anh" } else { "chị" },
                a.name
            )
        }
        "TTHC-TH-0204" => {
            let other = person_name(g, !a.male);
            if a.male {
                format!("Đăng ký kết hôn giữa anh {} và chị {other}", a.name)
            } else {
                format!("Đăng ký kết hôn giữa chị {} và anh {other}", a.name)
            }
        }
        "TTHC-TH-0205" => {
            let male = g.pct(50);
            format!(
                "Đăng ký khai tử cho {} {}, thường trú tại {place}",
                if male { "ông" } else { "bà" },
                person_name(g, male)
            )
        }
        "TTHC-TH-0310" => format!(
            "Đề nghị cấp Giấy chứng nhận quyền sử dụng đất lần đầu đối với thửa đất số {}, tờ bản đồ số {} tại {place}",
            g.range(12, 980),
            g.range(1, 45)
        ),
        "TTHC-TH-0311" => format!(
            "Đăng ký biến động do {} quyền sử dụng đất thửa đất số {}, tờ bản đồ số {}, {}",
            g.pick(&["chuyển nhượng", "tặng cho", "thừa kế"]),
            g.range(12, 980),
            g.range(1, 45),
            home.name
        ),
        "TTHC-TH-0520" => format!(
            "Cấp giấy chứng nhận cơ sở đủ điều kiện an toàn thực phẩm cho {} tại {place}",
            a.name
        ),
        "TTHC-TH-0601" => format!(
            "Đề nghị hỗ trợ kinh phí mua thẻ bảo hiểm y tế cho người cao tuổi {}",
            a.name
        ),
        "TTHC-TH-0702" => format!(
            "Cấp giấy phép bán lẻ sản phẩm rượu cho {} tại {place}",
            a.name
        ),
        "TTHC-TH-0815" => format!(
            "Chứng thực {} bản sao từ bản chính {}",
            g.range(1, 10),
            g.pick(&[
                "Căn cước công dân",
                "Giấy khai sinh",
                "bằng tốt nghiệp trung học phổ thông",
                "sổ đỏ",
                "hợp đồng lao động"
            ])
        ),
        _ => format!(
            "Cấp giấy phép khai thác, sử dụng nước mặt từ sông Mã phục vụ {} của {}",
            g.pick(&["tưới tiêu nông nghiệp", "nuôi trồng thủy sản", "sản xuất công nghiệp"]),
            a.name
        ),
    }
}

/// `n` person names, about `female_pct` percent of them women's.
fn officials(g: &mut Draw, n: usize, female_pct: u32) -> Vec<String> {
    let mut names = Vec::with_capacity(n);
    for _ in 0..n {
        let male = !g.pct(female_pct);
        names.push(person_name(g, male));
    }
    names
}

/// The officials of one commune (or of the province for provincial procedures).
struct Unit {
    center: String,
    leadership: String,
    authority: String,
    ward: bool,
    clerks: Vec<String>,
    head: String,
    specialists: Vec<String>,
    leader: (String, String),
}

impl Unit {
    fn new(g: &mut Draw, c: &Commune) -> Unit {
        let level = if c.ward { "phường" } else { "xã" };
        let clerks = officials(g, 3, 70);
        let head = officials(g, 1, 40).remove(0);
        let specialists = officials(g, 3, 50);
        let leader = officials(g, 1, 30).remove(0);
        Unit {
            center: format!("Trung tâm Phục vụ hành chính công {}", c.name),
            leadership: format!("Lãnh đạo Ủy ban nhân dân {level}"),
            authority: format!("Ủy ban nhân dân {}", c.name),
            ward: c.ward,
            clerks,
            head,
            specialists,
            leader: (leader, format!("Phó Chủ tịch Ủy ban nhân dân {level}")),
        }
    }

    fn province(g: &mut Draw) -> Unit {
        let clerks = officials(g, 3, 60);
        let head = officials(g, 1, 50).remove(0);
        let specialists = officials(g, 3, 50);
        let leader = officials(g, 1, 30).remove(0);
        Unit {
            center: "Trung tâm Phục vụ hành chính công tỉnh Thanh Hóa".into(),
            leadership: "Lãnh đạo Sở Nông nghiệp và Môi trường".into(),
            authority: "Sở Nông nghiệp và Môi trường tỉnh Thanh Hóa".into(),
            ward: false,
            clerks,
            head,
            specialists,
            leader: (leader, "Phó Giám đốc Sở".into()),
        }
    }

    fn dept_name(&self, dept: Dept) -> &'static str {
        match dept {
            Dept::Economy if self.ward => "Phòng Kinh tế, Hạ tầng và Đô thị",
            Dept::Economy => "Phòng Kinh tế",
            Dept::Society => "Phòng Văn hóa - Xã hội",
            Dept::Office => "Văn phòng Hội đồng nhân dân và Ủy ban nhân dân",
            Dept::Water => "Phòng Tài nguyên nước",
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Dates (local time, no zone) and the random stream

const DATE_FORMAT: &str = "%Y-%m-%d %H:%M:%S";

fn fmt(t: NaiveDateTime) -> String {
    t.format(DATE_FORMAT).to_string()
}

fn fmt_millis(t: NaiveDateTime) -> String {
    t.format("%Y-%m-%d %H:%M:%S%.3f").to_string()
}

fn parse_local(s: &str) -> Option<NaiveDateTime> {
    NaiveDateTime::parse_from_str(s, DATE_FORMAT).ok()
}

fn at(date: NaiveDate, hour: u32, minute: u32) -> NaiveDateTime {
    date.and_time(NaiveTime::from_hms_opt(hour, minute, 0).unwrap_or(NaiveTime::MIN))
}

fn november(day: u32, hour: u32, minute: u32) -> NaiveDateTime {
    let date = NaiveDate::from_ymd_opt(2026, 11, day).unwrap_or(NaiveDate::MIN);
    at(date, hour, minute)
}

fn is_working_day(d: NaiveDate) -> bool {
    !matches!(d.weekday(), Weekday::Sat | Weekday::Sun)
}

fn add_working_days(mut d: NaiveDate, n: u32) -> NaiveDate {
    let mut left = n;
    while left > 0 || !is_working_day(d) {
        d += Duration::days(1);
        if is_working_day(d) {
            left = left.saturating_sub(1);
        }
    }
    d
}

fn working_days_between(from: NaiveDate, to: NaiveDate) -> u32 {
    let mut n = 0;
    let mut d = from;
    while d < to {
        d += Duration::days(1);
        if is_working_day(d) {
            n += 1;
        }
    }
    n
}

fn due_after(received: NaiveDateTime, days: u32) -> NaiveDateTime {
    at(add_working_days(received.date(), days), 17, 0)
}

/// The first office moment (07:30–17:00, Monday to Friday) at or after `t`; a moment that rolls
/// over to the next morning lands at a random minute of the first office hour.
fn office(g: &mut Draw, t: NaiveDateTime) -> NaiveDateTime {
    let opens = NaiveTime::from_hms_opt(7, 30, 0).unwrap_or(NaiveTime::MIN);
    let closes = NaiveTime::from_hms_opt(17, 0, 0).unwrap_or(NaiveTime::MIN);
    if is_working_day(t.date()) && t.time() >= opens && t.time() <= closes {
        return t;
    }
    let mut d = t.date();
    if t.time() > closes || !is_working_day(d) {
        d += Duration::days(1);
    }
    while !is_working_day(d) {
        d += Duration::days(1);
    }
    d.and_time(opens) + Duration::minutes(i64::from(g.below(60)))
}

/// The seeded stream. Only fixed-width integer ranges, so results do not depend on the platform.
struct Draw {
    rng: ChaCha8Rng,
}

impl Draw {
    fn new(seed: u64) -> Draw {
        Draw {
            rng: ChaCha8Rng::seed_from_u64(seed),
        }
    }

    /// Uniform in `0..n` (`0` when `n` is 0).
    fn below(&mut self, n: u32) -> u32 {
        if n == 0 {
            0
        } else {
            self.rng.gen_range(0..n)
        }
    }

    /// Uniform in `lo..=hi`.
    fn range(&mut self, lo: u32, hi: u32) -> u32 {
        self.rng.gen_range(lo..=hi)
    }

    /// True with probability `p` percent.
    fn pct(&mut self, p: u32) -> bool {
        self.below(100) < p
    }

    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len() as u32) as usize]
    }

    fn weighted<'a, T>(&mut self, items: &'a [(u32, T)]) -> &'a T {
        let total: u32 = items.iter().map(|(w, _)| w).sum();
        let mut x = self.below(total);
        for (w, item) in items {
            if x < *w {
                return item;
            }
            x -= w;
        }
        &items[items.len() - 1].1
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::{BTreeMap, BTreeSet};

    const REGENERATE: &str = "LIENTHONG_REGENERATE_FIXTURES";

    fn fixture_path(name: &str) -> std::path::PathBuf {
        std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("fixtures/local")
            .join(name)
    }

    fn pretty(v: &[Value]) -> String {
        let mut s = serde_json::to_string_pretty(v).expect("records serialise");
        s.push('\n');
        s
    }

    #[test]
    fn committed_fixtures_equal_a_fresh_generation() {
        let data = generate(2026, 240, 12);
        for (name, records) in [
            ("dossiers.json", &data.dossiers),
            ("steps.json", &data.steps),
        ] {
            let path = fixture_path(name);
            let fresh = pretty(records);
            if std::env::var(REGENERATE).as_deref() == Ok("1") {
                std::fs::create_dir_all(path.parent().expect("fixture folder"))
                    .expect("create fixtures/local");
                std::fs::write(&path, &fresh).expect("write fixture");
                continue;
            }
            let committed = std::fs::read_to_string(&path).unwrap_or_default();
            assert!(
                committed == fresh,
                "{} differs from generate(2026, 240, 12); if the generator changed on purpose, \
                 regenerate with `{REGENERATE}=1 cargo test --lib sim::local` and commit the files",
                path.display()
            );
        }
    }

    #[test]
    fn same_seed_same_records_other_seed_other_records() {
        let a = generate(7, 60, 6);
        let b = generate(7, 60, 6);
        assert_eq!(a, b);
        let c = generate(8, 60, 6);
        assert_ne!(a.dossiers, c.dossiers);
    }

    #[test]
    fn counts_follow_the_request() {
        let data = generate(1, 100, 12);
        assert_eq!(data.dossiers.len(), 100);
        assert_eq!(data.invalid.len(), 12);
        let per_dossier = steps_by_dossier(&data.steps);
        assert_eq!(per_dossier.len(), 100);
        for (code, steps) in &per_dossier {
            assert!(
                (2..=6).contains(&steps.len()),
                "{code}: {} steps",
                steps.len()
            );
        }
        assert!(generate(1, 0, 3).dossiers.is_empty());
        assert_eq!(generate(1, 4, 9).invalid.len(), 4);
    }

    fn steps_by_dossier(steps: &[Value]) -> BTreeMap<String, Vec<&Value>> {
        let mut by: BTreeMap<String, Vec<&Value>> = BTreeMap::new();
        for s in steps {
            by.entry(s["MaHoSo"].as_str().unwrap().to_string())
                .or_default()
                .push(s);
        }
        for v in by.values_mut() {
            v.sort_by_key(|s| s["Buoc"].as_u64());
        }
        by
    }

    fn date(v: &Value) -> Option<NaiveDateTime> {
        v.as_str()
            .filter(|s| !s.is_empty())
            .map(|s| parse_local(s).unwrap_or_else(|| panic!("unreadable date {s:?}")))
    }

    fn allowed(from: &str, to: &str) -> bool {
        let next: &[&str] = match from {
            "MOI" => &["DA_NHAN", "TU_CHOI", "RUT"],
            "DA_NHAN" => &["DA_NHAN", "DANG_XU_LY", "TU_CHOI", "RUT", "CHO_NOP_PHI"],
            "DANG_XU_LY" => &[
                "DANG_XU_LY",
                "CHO_BO_SUNG",
                "CHO_NOP_PHI",
                "XONG",
                "DUNG_XU_LY",
                "RUT",
            ],
            "CHO_BO_SUNG" => &["DANG_XU_LY", "RUT", "DUNG_XU_LY"],
            "CHO_NOP_PHI" => &["DANG_XU_LY", "RUT"],
            "XONG" => &["DA_TRA"],
            _ => &[],
        };
        next.contains(&to)
    }

    #[test]
    fn every_valid_dossier_is_consistent() {
        let data = generate(2026, 240, 12);
        let procedures: Value =
            serde_json::from_str(include_str!("../../fixtures/procedures.json"))
                .expect("procedures.json");
        let local_codes: BTreeSet<&str> = procedures
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["local"].as_str().unwrap())
            .collect();
        let code_shape = regex::Regex::new(r"^000\.00\.56\.H56-26(\d{2})(\d{2})-\d{4}$").unwrap();
        let broken: BTreeSet<&str> = data.invalid.iter().map(|i| i.ma_ho_so.as_str()).collect();
        let steps = steps_by_dossier(&data.steps);
        let mut codes = BTreeSet::new();
        let first_nov = november(1, 0, 0);
        let end_nov = november(30, 23, 59);
        for d in &data.dossiers {
            let code = d["MaHoSo"].as_str().unwrap();
            assert!(codes.insert(code.to_string()), "duplicate {code}");
            if broken.contains(code) {
                continue;
            }
            let caps = code_shape
                .captures(code)
                .unwrap_or_else(|| panic!("{code}"));
            assert_eq!(&caps[1], "11", "{code}");
            assert!(
                local_codes.contains(d["MaThuTucLocal"].as_str().unwrap()),
                "{code}"
            );
            let proc = PROCEDURES
                .iter()
                .find(|p| p.local == d["MaThuTucLocal"])
                .unwrap();
            let listed = procedures
                .as_array()
                .unwrap()
                .iter()
                .find(|p| p["local"] == proc.local)
                .unwrap();
            assert_eq!(listed["TenTTHC"], proc.name);
            assert_eq!(d["TenThuTuc"], proc.name);
            assert!(!d["NguoiNop"].as_str().unwrap().trim().is_empty(), "{code}");
            assert!(LOCAL_STATUSES.contains(&d["TinhTrang"].as_str().unwrap()));
            assert!(["CD", "DN", "CQ", "TC"].contains(&d["LoaiNguoiNop"].as_str().unwrap()));
            assert!(
                ["TRUC_TIEP", "TRUC_TUYEN", "BUU_CHINH"].contains(&d["KenhNop"].as_str().unwrap())
            );
            assert_eq!(d["MaTinh"], PROVINCE_CODE);
            assert_eq!(d["MaXa"].as_str().unwrap().len(), 5);

            let submitted = date(&d["NgayNop"]).unwrap();
            assert_eq!(
                &caps[2],
                format!("{:02}", submitted.day()),
                "{code}: registration day"
            );
            let received = date(&d["NgayNhan"]);
            let due = date(&d["HanTra"]);
            match received {
                Some(r) => {
                    assert!(submitted <= r, "{code}: NgayNop after NgayNhan");
                    assert!(due.unwrap() > r, "{code}: HanTra not after NgayNhan");
                }
                None => {
                    assert!(due.is_none(), "{code}: HanTra without NgayNhan");
                    assert_eq!(d["TinhTrang"], "RUT", "{code}");
                }
            }
            let rounds = d["BoSung"].as_array().unwrap();
            if let Some(last) = rounds.last() {
                assert_eq!(
                    last["HanTraMoi"], d["HanTra"],
                    "{code}: due = last round's new due"
                );
            }
            for (i, r) in rounds.iter().enumerate() {
                assert_eq!(r["Lan"], i + 1);
                assert_eq!(r["MaHoSo"], code);
                assert!(date(&r["HanTraMoi"]) > date(&r["HanTraCu"]), "{code}");
                assert!(date(&r["NgayYeuCau"]) >= received, "{code}");
            }
            for fee in d["LePhi"].as_array().unwrap() {
                assert_eq!(fee["MaHoSo"], code);
                assert!(fee["SoTien"].as_u64().unwrap() > 0);
            }

            let s = &steps[code];
            assert!((2..=6).contains(&s.len()), "{code}");
            let mut prev: Option<(NaiveDateTime, &str)> = None;
            for (i, step) in s.iter().enumerate() {
                assert_eq!(step["Buoc"], i + 1, "{code}");
                let t = date(&step["ThoiDiem"]).unwrap();
                let status = step["TinhTrang"].as_str().unwrap();
                assert!(
                    t >= submitted && (first_nov..=end_nov).contains(&t),
                    "{code}"
                );
                if let Some(r) = received {
                    assert!(t >= r, "{code}: step before reception");
                }
                let who = step["NguoiXuLy"].as_str().unwrap();
                assert!(!who.is_empty() && who.chars().count() <= 50, "{code}");
                assert!(date(&step["HanXuLy"]).unwrap() >= t, "{code}");
                match prev {
                    None => assert!(["DA_NHAN", "MOI"].contains(&status), "{code}"),
                    Some((pt, ps)) => {
                        assert!(t > pt, "{code}: ThoiDiem not increasing");
                        assert!(allowed(ps, status), "{code}: {ps} -> {status}");
                    }
                }
                prev = Some((t, status));
            }
            let (last_t, last_status) = prev.unwrap();
            assert_eq!(d["TinhTrang"], last_status, "{code}");
            let updated = NaiveDateTime::parse_from_str(
                d["CapNhatLuc"].as_str().unwrap(),
                "%Y-%m-%d %H:%M:%S%.3f",
            )
            .unwrap();
            assert!(updated >= last_t && updated <= end_nov, "{code}");
            let finished = s.iter().find(|x| x["TinhTrang"] == "XONG");
            assert_eq!(
                d["NgayXong"],
                finished.map_or(Value::Null, |x| x["ThoiDiem"].clone()),
                "{code}"
            );
        }
    }

    #[test]
    fn content_has_the_variety_the_gateway_must_handle() {
        let data = generate(2026, 240, 12);
        let all = |f: &dyn Fn(&Value) -> bool| data.dossiers.iter().filter(|d| f(d)).count();
        assert!(
            all(&|d| d["SoGiayTo"].as_str().unwrap().len() == 9) > 0,
            "old ids"
        );
        assert!(
            all(&|d| d["SoGiayTo"].as_str().unwrap().len() == 12) > 0,
            "new ids"
        );
        assert!(all(&|d| d["LoaiNguoiNop"] == "DN") > 0, "businesses");
        assert!(all(&|d| d["DienThoai"].as_str().unwrap().starts_with("+84")) > 0);
        assert!(all(&|d| d["DienThoai"].as_str().unwrap().contains('.')) > 0);
        assert!(all(&|d| d["DienThoai"].as_str().unwrap().contains(' ')) > 0);
        assert!(all(&|d| !d["Email"].as_str().unwrap().is_empty()) > 0);
        assert!(all(&|d| d["Email"].as_str().unwrap().is_empty()) > 0);
        assert!(all(&|d| !d["LePhi"].as_array().unwrap().is_empty()) > 0);
        assert!(all(&|d| d["NhanKetQuaQuaBuuDien"] == 1) > 0);
        assert!(all(&|d| d["NgayNhan"] == "") > 0, "not yet received");
        assert!(all(&|d| d["TrichYeu"] == "") > 0, "empty summary");
        for channel in ["TRUC_TIEP", "TRUC_TUYEN", "BUU_CHINH"] {
            assert!(all(&|d| d["KenhNop"] == channel) > 0, "{channel}");
        }
        for status in LOCAL_STATUSES.iter().filter(|s| **s != "MOI") {
            assert!(all(&|d| d["TinhTrang"] == *status) > 0, "{status}");
        }
        let rounds: Vec<&Value> = data
            .dossiers
            .iter()
            .flat_map(|d| d["BoSung"].as_array().unwrap())
            .collect();
        assert!(rounds.iter().any(|r| r["LaXinLoi"] == 1), "apology round");
        assert!(
            rounds.iter().any(|r| r["LaXinLoi"] == 0),
            "supplement round"
        );
        assert!(data
            .dossiers
            .iter()
            .any(|d| !d["NguoiNop"].as_str().unwrap().is_ascii()));
    }

    #[test]
    fn each_kind_of_breakage_is_present_and_recorded() {
        let data = generate(2026, 240, 12);
        let by_code: BTreeMap<&str, &Value> = data
            .dossiers
            .iter()
            .map(|d| (d["MaHoSo"].as_str().unwrap(), d))
            .collect();
        let kinds: BTreeSet<&str> = data.invalid.iter().map(|i| i.field).collect();
        assert_eq!(kinds.len(), BREAKAGES.len());
        let steps = steps_by_dossier(&data.steps);
        for bad in &data.invalid {
            let d = by_code[bad.ma_ho_so.as_str()];
            assert!(!steps[&bad.ma_ho_so].is_empty(), "steps still generated");
            match bad.field {
                "NgayNhan" => assert_eq!(d["NgayNhan"], UNREADABLE_DATE),
                "MaThuTucLocal" => assert_eq!(d["MaThuTucLocal"], UNKNOWN_PROCEDURE),
                "NguoiNop" => assert_eq!(d["NguoiNop"], ""),
                "MaHoSo" => assert!(!bad.ma_ho_so.contains('-')),
                "HanTra" => assert!(date(&d["HanTra"]) < date(&d["NgayNhan"])),
                "TinhTrang" => assert_eq!(d["TinhTrang"], UNKNOWN_STATUS),
                other => panic!("unexpected field {other}"),
            }
        }
    }
}

#[cfg(test)]
mod deploy_config_parses {
    use crate::config::Config;
    use crate::peer::dvcqg::DvcqgAuth;

    #[test]
    fn example_configuration_parses() {
        let cfg = Config::from_toml(include_str!("../../deploy/lienthong.toml"))
            .unwrap_or_else(|e| panic!("deploy/lienthong.toml: {e}"));
        let source = cfg
            .sources
            .iter()
            .find(|s| s.name == "tinh")
            .expect("source tinh");
        assert!(source.vars.contains_key("DonViXuLy"));
        assert!(source.token.is_none() && source.token_file.is_some());
        let dvcqg = cfg.peers.dvcqg.expect("peers.dvcqg");
        assert!(matches!(
            dvcqg.auth,
            DvcqgAuth::Session {
                password: None,
                password_file: Some(_),
                ..
            }
        ));
        assert!(cfg.store.url.starts_with("sqlite:"));
    }

    /// The TOML embedded in the Kubernetes ConfigMap (the block under `lienthong.toml: |`).
    #[test]
    fn kubernetes_configmap_configuration_parses() {
        let yaml = include_str!("../../deploy/k8s/configmap.yaml");
        let toml: String = yaml
            .lines()
            .skip_while(|l| !l.trim_start().starts_with("lienthong.toml: |"))
            .skip(1)
            .take_while(|l| l.is_empty() || l.starts_with("    "))
            .map(|l| format!("{}\n", l.get(4..).unwrap_or("")))
            .collect();
        let cfg = Config::from_toml(&toml)
            .unwrap_or_else(|e| panic!("deploy/k8s/configmap.yaml: {e}\n{toml}"));
        assert!(cfg.store.url.starts_with("postgres://"));
        assert_eq!(cfg.server.listen.port(), 8080);
        assert_eq!(cfg.sources.len(), 1);
        assert!(cfg.peers.dvcqg.is_some());
    }

    /// Two servers on one PostgreSQL database (`deploy/lienthong-postgres.toml`).
    #[test]
    fn postgres_example_configuration_parses() {
        let cfg = Config::from_toml(include_str!("../../deploy/lienthong-postgres.toml"))
            .unwrap_or_else(|e| panic!("deploy/lienthong-postgres.toml: {e}"));
        assert!(cfg.store.url.starts_with("postgres://"));
        assert_eq!(cfg.server.listen.port(), 8080);
        assert_eq!(cfg.sources.len(), 1);
        assert!(cfg.peers.dvcqg.is_some());
    }
}
