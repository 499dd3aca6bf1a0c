//! What a portal item says of its dossier, for the service report and reconciliation: a
//! `HoSo` (the whole row), a `TienDo` (the status from then on), a `DongBoDanhGia` row (a
//! month's satisfaction figures). The portal's field names stay here.

use serde_json::Value;

use super::{OP_DOSSIERS, OP_STEPS, OP_SURVEYS};
use crate::store::{DossierFacts, FactsUpdate, SurveyFacts};

/// The opening of a supplement round's `NoiDungBoSung` that makes it an apology for lateness
/// with a new appointment (`dvcqg.md`).
pub const APOLOGY_PREFIX: &str = "Xin lỗi và hẹn lại ngày trả kết quả";

fn text<'a>(item: &'a Value, field: &str) -> Option<&'a str> {
    match item.get(field) {
        Some(Value::String(s)) if !s.trim().is_empty() => Some(s.trim()),
        _ => None,
    }
}

fn date_ms(item: &Value, field: &str) -> Option<i64> {
    text(item, field)
        .and_then(crate::time::from_wire)
        .map(|t| t.timestamp_millis())
}

/// Whether a supplement round is an apology for lateness.
pub fn is_apology(round: &Value) -> bool {
    text(round, "NoiDungBoSung").is_some_and(|s| {
        use unicode_normalization::UnicodeNormalization;
        let s: String = s.nfc().collect::<String>().to_lowercase();
        s.starts_with(&APOLOGY_PREFIX.nfc().collect::<String>().to_lowercase())
    })
}

/// The agency identifier and registration day (`yyyymmdd`) in a dossier code
/// (`<agency>-<yyMMdd>-<sequence>`).
pub fn code_parts(code: &str) -> Option<(&str, i64, &str)> {
    let mut parts = code.rsplitn(3, '-');
    let seq = parts.next()?;
    let day = parts.next()?;
    let agency = parts.next()?;
    if day.len() != 6 || !day.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let day: i64 = day.parse().ok()?;
    Some((agency, 20_000_000 + day, seq))
}

/// What a portal item queued as `operation` says; `None` for what says nothing of a dossier.
pub fn facts(operation: &str, item: &Value) -> Option<FactsUpdate> {
    match operation {
        OP_DOSSIERS => header(item).map(FactsUpdate::Header),
        OP_STEPS => Some(FactsUpdate::Step {
            dossier: text(item, "MaHoSo")?.to_string(),
            status: text(item, "TrangThai")?.to_string(),
            at_ms: date_ms(item, "ThoiDiemXuLy"),
        }),
        OP_SURVEYS => survey(item).map(FactsUpdate::Survey),
        _ => None,
    }
}

fn header(item: &Value) -> Option<DossierFacts> {
    let dossier = text(item, "MaHoSo")?;
    let (agency, registered_on, _) = code_parts(dossier)?;
    let status = text(item, "TrangThaiHoSo")?.to_string();
    let appointment_at = date_ms(item, "NgayHenTra");
    let rounds: Vec<&Value> = item
        .get("DanhSachHoSoBoSung")
        .and_then(Value::as_array)
        .map(|a| a.iter().collect())
        .unwrap_or_default();
    let mut apologies: Vec<&Value> = rounds.into_iter().filter(|r| is_apology(r)).collect();
    // The first apology by when it was made (rounds may arrive in any order).
    apologies.sort_by_key(|r| date_ms(r, "NgayBoSung").unwrap_or(i64::MAX));
    let due_at = apologies
        .first()
        .and_then(|r| date_ms(r, "NgayHenTraTruoc"))
        .or(appointment_at);
    let finished_at = match status.as_str() {
        "9" | "10" | "7" | "8" => {
            date_ms(item, "NgayKetThucXuLy").or_else(|| date_ms(item, "NgayTra"))
        }
        "3" => date_ms(item, "NgayTuChoi").or_else(|| date_ms(item, "NgayTiepNhan")),
        _ => None,
    };
    let digitised_results = item
        .get("DanhSachGiayToKetQua")
        .and_then(Value::as_array)
        .is_some_and(|a| a.iter().any(|d| text(d, "DuongDanTepTinKetQua").is_some()));
    Some(DossierFacts {
        dossier: dossier.to_string(),
        source: String::new(),
        agency: agency.to_string(),
        registered_on,
        procedure_code: text(item, "MaTTHC").unwrap_or_default().to_string(),
        channel: text(item, "KenhThucHien").unwrap_or_default().to_string(),
        received_at: date_ms(item, "NgayTiepNhan"),
        appointment_at,
        due_at,
        apologies: apologies.len() as i64,
        finished_at,
        returned_at: (status == "10").then(|| date_ms(item, "NgayTra")).flatten(),
        status,
        by_post: text(item, "HinhThuc") == Some("1"),
        digitised_inputs: text(item, "HoSoCoThanhPhanSoHoa") == Some("1"),
        digitised_results,
        updated_at: 0,
    })
}

fn survey(item: &Value) -> Option<SurveyFacts> {
    // `NgayTongHop` is `M-YYYY`.
    let (m, y) = text(item, "NgayTongHop")?.split_once('-')?;
    let m: u32 = m.parse().ok()?;
    let y: u32 = y.parse().ok()?;
    let number = |f: &str| match item.get(f) {
        Some(Value::Number(n)) => n.as_i64(),
        Some(Value::String(s)) => s.trim().parse().ok(),
        _ => None,
    };
    Some(SurveyFacts {
        month: format!("{y:04}-{m:02}"),
        procedure_code: text(item, "MaThuTuc")?.to_string(),
        agency: text(item, "Madonvi")?.to_string(),
        respondents: number("TongSoNguoiDanhGia")?,
        very_satisfied: text(item, "PhanTramDanhGiaRatHaiLong")
            .unwrap_or_default()
            .to_string(),
        satisfied: text(item, "PhanTramDanhGiaHaiLong")
            .unwrap_or_default()
            .to_string(),
        unsatisfied: text(item, "PhanTramDanhGiaChuaHaiLong")
            .unwrap_or_default()
            .to_string(),
    })
}

/// What the portal should hold after a queued message: the status it carries, and whether it
/// is a header or a step.
pub fn expects(operation: &str, item: &Value) -> Option<crate::peer::reads::Expected> {
    use crate::peer::reads::{Expected, ExpectedKind};
    match operation {
        OP_DOSSIERS => Some(Expected {
            kind: ExpectedKind::Header,
            status: text(item, "TrangThaiHoSo")?.to_string(),
        }),
        OP_STEPS => Some(Expected {
            kind: ExpectedKind::Step,
            status: text(item, "TrangThai")?.to_string(),
        }),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_header_gives_its_row_with_the_due_date_before_the_first_apology() {
        let item = json!({
            "MaHoSo": "000.00.56.H56-261105-0007", "MaTTHC": "1.005129", "KenhThucHien": "3",
            "TrangThaiHoSo": "10", "NgayTiepNhan": "20261105083100",
            "NgayHenTra": "20261126170000", "NgayKetThucXuLy": "20261124100000",
            "NgayTra": "20261125090000", "HinhThuc": "1", "HoSoCoThanhPhanSoHoa": "1",
            "DanhSachHoSoBoSung": [
                {"HoSoBoSungId": "x-BS2", "NoiDungBoSung": "Xin lỗi và hẹn lại ngày trả kết quả: chờ ý kiến",
                 "NgayBoSung": "20261120080000", "NgayHenTraTruoc": "20261121170000", "NgayHenTraMoi": "20261126170000"},
                {"HoSoBoSungId": "x-BS1", "NoiDungBoSung": "Bổ sung bản vẽ",
                 "NgayBoSung": "20261110080000", "NgayHenTraTruoc": "20261119170000", "NgayHenTraMoi": "20261121170000"}
            ],
            "DanhSachGiayToKetQua": [{"GiayToId": "1", "DuongDanTepTinKetQua": "https://x/1.pdf"}]
        });
        let Some(FactsUpdate::Header(f)) = facts(OP_DOSSIERS, &item) else {
            panic!("no header facts")
        };
        assert_eq!(f.agency, "000.00.56.H56");
        assert_eq!(f.registered_on, 20261105);
        assert_eq!(f.apologies, 1);
        let ms = |s: &str| crate::time::from_wire(s).unwrap().timestamp_millis();
        // The ordinary round moved the due date to the 21st; the apology does not count.
        assert_eq!(f.due_at, Some(ms("20261121170000")));
        assert_eq!(f.appointment_at, Some(ms("20261126170000")));
        assert_eq!(f.finished_at, Some(ms("20261124100000")));
        assert_eq!(f.returned_at, Some(ms("20261125090000")));
        assert!(f.by_post && f.digitised_inputs && f.digitised_results);
    }

    #[test]
    fn steps_surveys_and_codes() {
        let s = facts(
            OP_STEPS,
            &json!({"MaHoSo": "A-261105-1", "TrangThai": "9", "ThoiDiemXuLy": "20261110080000"}),
        );
        assert!(
            matches!(s, Some(FactsUpdate::Step { ref status, at_ms: Some(_), .. }) if status == "9")
        );
        let s = facts(
            OP_SURVEYS,
            &json!({"NgayTongHop": "3-2026", "MaThuTuc": "1.1", "Madonvi": "A",
                    "TongSoNguoiDanhGia": 40, "PhanTramDanhGiaRatHaiLong": "65%"}),
        );
        let Some(FactsUpdate::Survey(s)) = s else {
            panic!("no survey")
        };
        assert_eq!((s.month.as_str(), s.respondents), ("2026-03", 40));
        assert_eq!(
            code_parts("000.00.56.H56-261105-0007"),
            Some(("000.00.56.H56", 20261105, "0007"))
        );
        assert_eq!(code_parts("nope"), None);
    }
}
