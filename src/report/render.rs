//! The report as text: an aligned table for the terminal, CSV for Excel (UTF-8 with a
//! byte-order mark, so that Vietnamese opens correctly), or JSON; column names in Vietnamese or
//! English.

use super::figures::{Line, Report};

/// The report's languages.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Lang {
    #[default]
    Vi,
    En,
}

impl Lang {
    pub fn parse(s: &str) -> Option<Lang> {
        match s {
            "vi" => Some(Lang::Vi),
            "en" => Some(Lang::En),
            _ => None,
        }
    }
}

/// Column names, Vietnamese and English, in the order [`cells`] gives values.
pub const COLUMNS: &[(&str, &str)] = &[
    ("Cơ quan", "Agency"),
    ("Thủ tục", "Procedure"),
    ("Tiếp nhận", "Received"),
    ("Trực tiếp", "In person"),
    ("Trực tuyến", "Online"),
    ("Bưu chính", "Postal"),
    ("Đã giải quyết", "Resolved"),
    ("Trước hạn", "Early"),
    ("Đúng hạn", "On time"),
    ("Quá hạn", "Late"),
    ("Đúng và trước hạn (%)", "Early or on time (%)"),
    ("Từ chối", "Refused"),
    ("Rút", "Withdrawn"),
    ("Dừng", "Stopped"),
    ("Đang giải quyết", "In progress"),
    ("Quá hạn hiện tại", "Overdue now"),
    ("Quá hạn đã xin lỗi", "Overdue with apology"),
    ("Hẹn vượt thời hạn luật định", "Beyond statutory time"),
    ("Số hóa đầu vào (%)", "Digitised inputs (%)"),
    ("Số hóa kết quả (%)", "Digitised results (%)"),
    ("Đơn thu gom", "Collection orders"),
    ("Đã thu gom", "Collected"),
    ("Đơn phát", "Delivery orders"),
    ("Đã phát", "Delivered"),
    ("Sự cố bưu chính", "Postal alerts"),
    ("Người đánh giá", "Respondents"),
    ("Rất hài lòng", "Very satisfied"),
    ("Hài lòng", "Satisfied"),
    ("Chưa hài lòng", "Not satisfied"),
];

fn percent(p: Option<f64>) -> String {
    p.map(|p| format!("{p:.2}")).unwrap_or_default()
}

/// One line's values, in [`COLUMNS`] order.
pub fn cells(l: &Line, total_label: &str) -> Vec<String> {
    let s = l.satisfaction.as_ref();
    vec![
        if l.agency.is_empty() {
            total_label.to_string()
        } else {
            l.agency.clone()
        },
        l.procedure.clone(),
        l.received.total.to_string(),
        l.received.in_person.to_string(),
        l.received.online.to_string(),
        l.received.postal.to_string(),
        l.resolved.total.to_string(),
        l.resolved.early.to_string(),
        l.resolved.on_time.to_string(),
        l.resolved.late.to_string(),
        percent(l.on_time_pct),
        l.refused.to_string(),
        l.withdrawn.to_string(),
        l.stopped.to_string(),
        l.in_progress.to_string(),
        l.overdue_now.to_string(),
        l.overdue_with_apology.to_string(),
        l.beyond_statutory.to_string(),
        percent(l.digitised_inputs_pct),
        percent(l.digitised_results_pct),
        l.postal.collection_orders.to_string(),
        l.postal.collected.to_string(),
        l.postal.delivery_orders.to_string(),
        l.postal.delivered.to_string(),
        l.postal.alerts.to_string(),
        s.map(|s| s.respondents.to_string()).unwrap_or_default(),
        s.map(|s| s.very_satisfied.clone()).unwrap_or_default(),
        s.map(|s| s.satisfied.clone()).unwrap_or_default(),
        s.map(|s| s.unsatisfied.clone()).unwrap_or_default(),
    ]
}

fn header(lang: Lang) -> Vec<&'static str> {
    COLUMNS
        .iter()
        .map(|(vi, en)| if lang == Lang::Vi { *vi } else { *en })
        .collect()
}

fn total_label(lang: Lang) -> &'static str {
    if lang == Lang::Vi {
        "Tổng cộng"
    } else {
        "Total"
    }
}

/// CSV with a UTF-8 byte-order mark.
pub fn csv(report: &Report, lang: Lang) -> Result<Vec<u8>, csv::Error> {
    let mut out = Vec::from("\u{feff}".as_bytes());
    {
        let mut w = csv::Writer::from_writer(&mut out);
        w.write_record(header(lang))?;
        for l in report.lines.iter().chain(std::iter::once(&report.total)) {
            w.write_record(cells(l, total_label(lang)))?;
        }
        w.flush()?;
    }
    Ok(out)
}

/// An aligned table: one block per line (a row per column), since 29 columns do not fit a
/// terminal's width.
pub fn table(report: &Report, lang: Lang) -> String {
    let names = header(lang);
    let width = names.iter().map(|n| n.chars().count()).max().unwrap_or(0);
    let title = if lang == Lang::Vi {
        format!("Báo cáo tháng {}", report.month)
    } else {
        format!("Service report {}", report.month)
    };
    let mut out = format!("{title} (as of {})\n", report.as_of);
    for l in report.lines.iter().chain(std::iter::once(&report.total)) {
        out.push('\n');
        for (name, value) in names.iter().zip(cells(l, total_label(lang))) {
            if value.is_empty() {
                continue;
            }
            let pad = width - name.chars().count();
            out.push_str(&format!("  {name}{}  {value}\n", " ".repeat(pad)));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::figures::Report;

    #[test]
    fn csv_starts_with_a_bom_and_names_every_column() {
        let report = Report {
            month: "2026-11".into(),
            agency: None,
            as_of: String::new(),
            lines: vec![Line {
                agency: "000.00.56.H56".into(),
                procedure: "1.005129".into(),
                ..Line::default()
            }],
            total: Line::default(),
        };
        let bytes = csv(&report, Lang::Vi).unwrap();
        assert_eq!(&bytes[..3], b"\xEF\xBB\xBF");
        let text = String::from_utf8(bytes[3..].to_vec()).unwrap();
        let mut lines = text.lines();
        assert_eq!(lines.next().unwrap().split(',').count(), COLUMNS.len());
        assert!(lines
            .next()
            .unwrap()
            .starts_with("000.00.56.H56,1.005129,0"));
        assert!(lines.next().unwrap().starts_with("Tổng cộng,"));
        assert_eq!(cells(&report.total, "T").len(), COLUMNS.len());
    }
}
