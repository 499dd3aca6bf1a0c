//! The dashboard's words, in Vietnamese and English.

use std::collections::BTreeMap;

/// The outbox browser's, the bulk jobs' and the audit page's words, `(key, Vietnamese, English)`.
const OUTBOX_WORDS: &[(&str, &str, &str)] = &[
    ("outbox", "Hàng đợi gửi", "Outbox"),
    ("audit", "Nhật ký thao tác", "Audit log"),
    ("role_operator", "vận hành", "operator"),
    ("role_viewer", "chỉ xem", "viewer"),
    ("read_only", "Tài khoản chỉ xem: không thể thao tác.", "Viewer account: no actions."),
    ("any", "Tất cả", "Any"),
    ("peer", "Hệ thống nhận", "Peer"),
    ("destination", "Nơi nhận", "Destination"),
    ("operation", "Nghiệp vụ", "Operation"),
    ("error_text", "Lỗi có chứa", "Error contains"),
    ("min_attempts", "Số lần thử từ", "Attempts at least"),
    ("changed_from", "Cập nhật từ", "Changed from"),
    ("changed_to", "đến", "to"),
    ("clear", "Bỏ lọc", "Clear"),
    ("changed_at", "Cập nhật lúc", "Changed at"),
    ("attempts", "Số lần thử", "Attempts"),
    ("no_messages", "Không có tin nào khớp bộ lọc.", "No message matches the filter."),
    ("bulk_title", "Thao tác với mọi tin khớp bộ lọc", "Act on every message matching the filter"),
    (
        "bulk_help",
        "Áp dụng cho mọi tin khớp bộ lọc hiện tại (không chỉ trang này), chạy nền theo từng phần; cần gõ lại số tin để xác nhận.",
        "Applies to every message matching the current filter (not just this page), in the background in chunks; you confirm by typing the number of messages.",
    ),
    ("action", "Thao tác", "Action"),
    ("replay", "Gửi lại", "Replay"),
    ("skip", "Bỏ qua", "Skip"),
    ("remap", "Ánh xạ lại", "Remap"),
    ("reason_skip", "Lý do bỏ qua", "Reason to skip"),
    ("bulk_next", "Tiếp tục…", "Continue…"),
    ("bulk_confirm", "Xác nhận thao tác hàng loạt", "Confirm the bulk action"),
    ("messages_match", "tin khớp bộ lọc hiện giờ.", "messages match the filter now."),
    ("whole_outbox", "Không lọc: toàn bộ hàng đợi", "No filter: the whole outbox"),
    ("type_count", "Gõ số tin để xác nhận", "Type the number of messages to confirm"),
    (
        "count_mismatch",
        "Số gõ vào không khớp số tin: chưa bắt đầu.",
        "The number typed does not match: nothing began.",
    ),
    ("bulk_start", "Bắt đầu", "Start"),
    ("back", "Quay lại", "Back"),
    ("bulk_jobs", "Thao tác hàng loạt gần đây", "Recent bulk jobs"),
    ("bulk_job", "Thao tác hàng loạt", "Bulk job"),
    ("who", "Người thực hiện", "Who"),
    ("started_at", "Bắt đầu lúc", "Started"),
    ("finished", "Kết thúc lúc", "Finished"),
    ("progress", "Tiến độ", "Progress"),
    ("filter", "Bộ lọc", "Filter"),
    ("changed_n", "đã thay đổi", "changed"),
    ("job_queued", "Đang chờ", "Queued"),
    ("job_running", "Đang chạy", "Running"),
    ("job_done", "Hoàn tất", "Done"),
    ("job_failed", "Lỗi", "Failed"),
    ("job_interrupted", "Bị gián đoạn", "Interrupted"),
    ("job_rerun", "Chạy tiếp", "Run again"),
    ("message", "Tin", "Message"),
    ("created", "Tạo lúc", "Created"),
    ("next_attempt", "Lần thử tới", "Next attempt"),
    ("delivered", "Đã gửi lúc", "Delivered"),
    ("mapping_version", "Phiên bản ánh xạ", "Mapping version"),
    ("batches", "Các lần gửi (lô)", "Batches"),
    ("items", "Số tin", "Items"),
    ("closed", "Đóng lúc", "Closed"),
    ("peer_answer", "Trả lời gần nhất của hệ thống nhận", "The peer's last answer"),
    ("answer_hash", "SHA-256 trả lời", "Answer SHA-256"),
    ("pruned", "đã dọn", "pruned"),
    ("item_masked", "Nội dung (đã che dữ liệu cá nhân)", "Item (personal data masked)"),
    ("remap_diff", "Thay đổi khi ánh xạ lại", "What a remap changes"),
    ("no_changes", "Không có thay đổi.", "No change."),
    ("remap_apply", "Ánh xạ lại và gửi", "Remap and send"),
    ("remap_preview", "Xem thay đổi trước khi ánh xạ lại.", "Review the changes before remapping."),
    ("remapped", "Đã ánh xạ lại; tin sẽ được gửi trong lô mới.", "Remapped; it goes in a new batch."),
    ("actions", "Thao tác", "Actions"),
    ("replayed", "Đã đưa lại vào hàng đợi.", "Queued again."),
    ("not_dead", "Tin không ở trạng thái lỗi (dead).", "The message is not dead."),
    ("skipped", "Đã bỏ qua.", "Skipped."),
    ("not_skippable", "Tin không thể bỏ qua ở trạng thái này.", "The message cannot be skipped in its state."),
    ("skip_needs_reason", "Bỏ qua cần có lý do.", "A skip needs a reason."),
    ("when", "Thời điểm", "When"),
    ("role", "Vai trò", "Role"),
    ("via", "Qua", "Way"),
    ("target", "Đối tượng", "Target"),
    ("outcome", "Kết quả", "Outcome"),
    ("no_entries", "Chưa có thao tác nào.", "No action yet."),
];

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
    ("sources", "Nguồn dữ liệu", "Sources"),
    ("quarantine", "Bản ghi bị từ chối", "Quarantine"),
    ("source", "Nguồn", "Source"),
    ("way", "Cách nhận", "Way in"),
    ("way_http", "Hệ thống gửi qua HTTP", "HTTP push"),
    ("way_sql", "Đọc cơ sở dữ liệu (SQL)", "SQL polling"),
    ("way_files", "Thư mục tệp", "File drop"),
    ("state_ok", "Hoạt động", "OK"),
    ("state_down", "Mất kết nối", "Down"),
    ("state_failing", "Lỗi khi đọc", "Failing"),
    ("state_none", "Chưa đọc lần nào", "Not read yet"),
    ("state_push", "Nhận khi hệ thống gửi", "Takes pushes"),
    ("failures", "Lỗi liên tiếp", "Failures in a row"),
    ("lag", "Độ trễ", "Lag"),
    ("rows_read", "Số dòng đã đọc", "Rows read"),
    ("last_ok", "Đọc tốt gần nhất", "Last read OK"),
    ("next_try", "Thử lại lúc", "Next try"),
    ("last_error", "Lỗi gần nhất", "Last error"),
    ("watermarks", "Mốc đã đọc đến", "Watermarks"),
    ("stream", "Luồng", "Stream"),
    ("watermark", "Mốc", "Watermark"),
    ("moved", "Cập nhật lúc", "Moved"),
    ("recent_files", "Tệp nhận gần đây", "Recent files"),
    ("file", "Tệp", "File"),
    ("records", "Bản ghi", "Records"),
    ("refused", "Bị từ chối", "Refused"),
    ("taken", "Nhận lúc", "Taken"),
    ("quarantined", "Bản ghi bị từ chối", "Quarantined"),
    (
        "not_configured",
        "(không còn trong cấu hình)",
        "(no longer configured)",
    ),
    ("no_sources", "Chưa cấu hình nguồn nào.", "No source is configured."),
    ("reason", "Lý do", "Reason"),
    ("retries", "Số lần thử lại", "Retries"),
    ("refused_at", "Từ chối lúc", "Refused at"),
    ("retry", "Thử lại", "Retry"),
    ("drop", "Bỏ", "Drop"),
    (
        "drop_confirm",
        "Bỏ hẳn bản ghi này khỏi danh sách?",
        "Drop this record for good?",
    ),
    ("retry_all", "Thử lại tất cả bản ghi của nguồn", "Retry all records of source"),
    (
        "type_source",
        "Gõ lại tên nguồn để xác nhận",
        "Type the source's name to confirm",
    ),
    (
        "confirm_mismatch",
        "Tên nguồn gõ vào không khớp: chưa thử lại bản ghi nào.",
        "The name typed does not match the source: nothing was retried.",
    ),
    ("retried", "Đã thử lại", "Retried"),
    ("accepted_n", "được nhận và xếp hàng gửi", "accepted and queued"),
    ("refused_again_n", "vẫn bị từ chối", "refused again"),
    ("gone_n", "không còn trong danh sách", "no longer there"),
    ("no_route_n", "nguồn không còn ánh xạ", "without a route"),
    ("dropped", "Đã bỏ bản ghi", "Dropped record"),
    (
        "unknown_record",
        "Bản ghi này không còn trong danh sách.",
        "That record is no longer there.",
    ),
    ("all_sources", "Tất cả nguồn", "All sources"),
    ("next_page", "Trang sau", "Next page"),
    (
        "empty_quarantine",
        "Không có bản ghi nào bị từ chối.",
        "No record is quarantined.",
    ),
    (
        "quarantine_help",
        "Bản ghi hệ thống một cửa gửi mà tệp ánh xạ từ chối. Bản ghi sai: sửa ở hệ thống nguồn (hệ thống sẽ gửi lại), rồi bỏ bản ghi ở đây. Ánh xạ thiếu mã: sửa tệp ánh xạ rồi thử lại (không cần khởi động lại).",
        "Records the mappings refused. A wrong record: correct it at the source system (which sends it again), then drop it here. A mapping that lacks a code: fix the mapping file, then retry (no restart needed).",
    ),
    (
        "mappings_fail",
        "Không nạp được các tệp ánh xạ",
        "The mapping files do not load",
    ),
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
            .chain(OUTBOX_WORDS)
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
        assert!(WORDS
            .iter()
            .chain(OUTBOX_WORDS)
            .all(|(_, v, e)| !v.is_empty() && !e.is_empty()));
        // No key given twice (a later one would hide the earlier).
        let keys: std::collections::BTreeSet<_> = WORDS
            .iter()
            .chain(OUTBOX_WORDS)
            .map(|(k, _, _)| k)
            .collect();
        assert_eq!(keys.len(), WORDS.len() + OUTBOX_WORDS.len());
    }
}
