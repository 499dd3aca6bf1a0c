//! The dashboard's words, in Vietnamese and English.

use std::collections::BTreeMap;

/// `(key, Vietnamese, English)`.
const WORDS: &[(&str, &str, &str)] = &[
    ("app", "lienthong", "lienthong"),
    ("report", "Báo cáo", "Report"),
    (
        "report_title",
        "Báo cáo kết quả giải quyết TTHC tháng",
        "Service report for",
    ),
    ("overdue", "Hồ sơ quá hạn", "Overdue dossiers"),
    ("reconcile", "Đối soát", "Reconciliation"),
    ("other_lang", "English", "Tiếng Việt"),
    ("logout", "Đăng xuất", "Log out"),
    ("login", "Đăng nhập", "Log in"),
    (
        "login_failed",
        "Mã truy cập không đúng.",
        "Wrong access token.",
    ),
    ("token", "Mã truy cập quản trị", "Admin token"),
    ("month", "Tháng", "Month"),
    ("agency", "Cơ quan", "Agency"),
    ("show", "Xem", "Show"),
    ("download_csv", "Tải CSV (Excel)", "Download CSV (Excel)"),
    ("received", "Tiếp nhận", "Received"),
    ("resolved", "Đã giải quyết", "Resolved"),
    ("on_time_pct", "Đúng và trước hạn", "Early or on time"),
    ("overdue_now", "Quá hạn hiện tại", "Overdue now"),
    ("as_of", "Số liệu tại thời điểm", "Figures as of"),
    (
        "without_apology",
        "Chưa có phiếu xin lỗi",
        "Without an apology",
    ),
    (
        "apology_owed",
        "Có hồ sơ quá hạn chưa gửi phiếu xin lỗi và hẹn lại ngày trả kết quả.",
        "Some overdue dossiers have no apology with a new appointment yet.",
    ),
    ("dossier", "Mã hồ sơ", "Dossier"),
    ("state", "Tình trạng", "State"),
    ("procedure", "Thủ tục", "Procedure"),
    ("status", "Trạng thái", "Status"),
    ("due", "Hạn giải quyết", "Due"),
    ("appointment", "Hẹn trả hiện tại", "Appointment now"),
    (
        "working_days_late",
        "Số ngày làm việc trễ",
        "Working days late",
    ),
    ("apology", "Đã xin lỗi", "Apologised"),
    ("overdue_state", "Quá hạn", "Overdue"),
    ("due_soon", "Sắp đến hạn", "Due soon"),
    ("yes", "Có", "Yes"),
    ("no", "Chưa", "No"),
    (
        "no_portal",
        "Chưa cấu hình Cổng DVCQG ([peers.dvcqg]).",
        "The portal is not configured ([peers.dvcqg]).",
    ),
    ("from", "Từ ngày", "From"),
    ("to", "Đến ngày", "To"),
    (
        "repair",
        "Sửa sai lệch (gửi lại qua hàng đợi)",
        "Repair (queue the corrections)",
    ),
    ("start", "Bắt đầu đối soát", "Start"),
    (
        "started",
        "Đã bắt đầu lượt đối soát",
        "Reconciliation started",
    ),
    ("run", "Lượt", "Run"),
    ("range", "Ngày đăng ký", "Registered"),
    ("checked", "Đã kiểm tra", "Checked"),
    ("in_sync", "Khớp", "In sync"),
    ("missing", "Thiếu trên Cổng", "Missing"),
    ("stale", "Sai trạng thái", "Stale"),
    ("missing_steps", "Thiếu bước", "Missing steps"),
    ("unknown", "Không do hệ thống gửi", "Not sent here"),
    ("undelivered", "Chưa gửi xong", "Not delivered yet"),
    ("repaired", "Đã gửi lại", "Repaired"),
    ("errors", "Lỗi", "Errors"),
    ("findings", "Sai lệch", "Findings"),
    ("kind", "Loại", "Kind"),
    ("detail", "Chi tiết", "Detail"),
];

/// The dashboard's languages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lang {
    Vi,
    En,
}

impl Lang {
    pub fn parse(s: Option<&str>) -> Lang {
        match s {
            Some("en") => Lang::En,
            _ => Lang::Vi,
        }
    }

    pub fn code(self) -> &'static str {
        match self {
            Lang::Vi => "vi",
            Lang::En => "en",
        }
    }

    pub fn other(self) -> Lang {
        match self {
            Lang::Vi => Lang::En,
            Lang::En => Lang::Vi,
        }
    }

    /// Every word in this language, by key.
    pub fn words(self) -> BTreeMap<&'static str, &'static str> {
        WORDS
            .iter()
            .map(|(k, vi, en)| (*k, if self == Lang::Vi { *vi } else { *en }))
            .collect()
    }

    pub fn report_lang(self) -> crate::report::render::Lang {
        match self {
            Lang::Vi => crate::report::render::Lang::Vi,
            Lang::En => crate::report::render::Lang::En,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_word_in_both_languages() {
        let (vi, en) = (Lang::Vi.words(), Lang::En.words());
        assert_eq!(vi.len(), en.len());
        assert_eq!(vi["report"], "Báo cáo");
        assert_eq!(en["report"], "Report");
        assert!(WORDS.iter().all(|(_, v, e)| !v.is_empty() && !e.is_empty()));
    }
}
