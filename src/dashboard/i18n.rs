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
    ("operation", "Nghiệp vụ", "Operation"),
    ("error_text", "Lỗi có chứa", "Error contains"),
    ("min_attempts", "Số lần thử từ", "Attempts at least"),
    ("changed_from", "Cập nhật từ", "Changed from"),
    ("changed_to", "đến", "to"),
    ("clear", "Bỏ lọc", "Clear"),
    ("attempts", "Số lần thử", "Attempts"),
    ("no_messages", "Không có tin nào khớp bộ lọc.", "No message matches the filter."),
    ("bulk_title", "Thao tác với mọi tin khớp bộ lọc", "Act on every message matching the filter"),
    (
        "bulk_help",
        "Áp dụng cho mọi tin khớp bộ lọc hiện tại (không chỉ trang này), chạy nền theo từng phần; cần gõ lại số tin để xác nhận.",
        "Applies to every message matching the current filter (not just this page), in the background in chunks; you confirm by typing the number of messages.",
    ),
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
    ("target", "Đối tượng", "Target"),
    ("no_entries", "Chưa có thao tác nào.", "No action yet."),
];

/// `(key, Vietnamese, English)`.
const WORDS: &[(&str, &str, &str)] = &[
    ("app", "lienthong", "lienthong"),
    ("events_read", "sự kiện đã đọc", "events read"),
    ("events_new", "mới", "new"),
    ("events_unknown", "của đơn không rõ", "of unknown orders"),
    ("orders_changed", "đổi trạng thái đơn", "changed an order"),
    ("steps_queued", "bước gửi lên Cổng", "steps queued for the portal"),
    ("no_postal", "Chưa cấu hình dịch vụ bưu chính (VNPost).", "The postal service (VNPost) is not configured."),
    ("cursor_moved", "Lần đọc hành trình gần nhất", "Tracking last read"),
    ("poll_now", "Đọc hành trình ngay", "Poll tracking now"),
    ("alert", "Cảnh báo", "Alert"),
    ("last_event", "Sự kiện gần nhất", "Last event"),
    ("order_collection", "Thu gom hồ sơ", "Collection"),
    ("order_delivery", "Chuyển trả kết quả", "Delivery"),
    ("no_orders", "Hồ sơ này không có đơn bưu chính.", "This dossier has no postal order."),
    ("cancel", "Hủy", "Cancel"),
    ("waybill", "Số vận đơn", "Waybill"),
    ("event_time", "Thời điểm", "Time"),
    ("post_office", "Bưu cục", "Post office"),
    ("via", "Nhận qua", "Via"),
    ("effect", "Tác động", "Effect"),
    ("cancel_confirm", "Hủy các đơn bưu chính của hồ sơ này?", "Cancel this dossier's postal orders?"),
    ("every_order", "Mọi đơn", "Every order"),
    ("cancel_orders", "Hủy đơn", "Cancel orders"),
    ("orders", "Đơn bưu chính", "Orders"),
    ("events", "Sự kiện", "Events"),
    ("order_number", "Số đơn", "Order number"),
    ("received_at", "Nhận lúc", "Received"),
    ("polled", "Đã đọc hành trình", "Tracking read"),
    ("nothing_to_cancel", "không có đơn nào để hủy", "no order to cancel"),
    ("cancel_queued", "Đã xếp lệnh hủy đơn của", "Cancel queued for"),
    ("pull_started", "Bắt đầu", "Started"),
    ("no_catalog", "Chưa cấu hình danh mục TTHC.", "The catalog is not configured."),
    ("withdrawn", "Đã bãi bỏ", "Withdrawn"),
    ("not_fanned_out", "Chưa phát", "Not fanned out"),
    ("subscriber", "Cấp xã", "Subscriber"),
    ("sub_in_step", "Đã cập nhật", "In step"),
    ("sub_behind", "Chưa cập nhật", "Behind"),
    ("sub_failing", "Đang lỗi", "Failing"),
    ("sub_paused", "Tạm dừng (từ chối chữ ký)", "Paused (signature refused)"),
    ("resend", "Gửi lại toàn bộ", "Resend all"),
    ("resend_confirm", "Gửi lại toàn bộ danh mục cho cấp xã này?", "Queue the whole catalog again for this subscriber?"),
    ("resent", "Đã xếp gửi lại toàn bộ danh mục cho", "Whole catalog queued again for"),
    ("queued_n", "thông điệp", "messages"),
    ("change", "Thay đổi", "Change"),
    ("changed_at", "Thời điểm", "Changed at"),
    ("diff", "So sánh", "Diff"),
    ("field", "Trường", "Field"),
    ("before", "Trước", "Before"),
    ("after", "Sau", "After"),
    ("no_difference", "Không có khác biệt.", "No difference."),
    ("recent_changes", "Thay đổi trong 30 ngày qua", "Changes in the last 30 days"),
    ("fields_changed", "Trường thay đổi", "Fields changed"),
    ("pulls", "Các lần lấy danh mục", "Pulls"),
    ("finished", "Kết thúc", "Finished"),
    ("listed", "Trong danh sách", "Listed"),
    ("fetched", "Đã lấy", "Fetched"),
    ("added", "Thêm mới", "Added"),
    ("changed", "Thay đổi", "Changed"),
    ("note", "Ghi chú", "Note"),
    ("overview", "Tổng quan", "Overview"),
    ("refreshed_every", "Trang tự cập nhật sau mỗi 10 giây.", "This page refreshes itself every 10 seconds."),
    ("verdict_ok", "Toàn tỉnh đang đồng bộ: không có gì tồn đọng hay lỗi.", "The province is in sync: nothing is stuck or failing."),
    ("verdict_bad", "Chưa đồng bộ:", "Not in sync:"),
    ("why_dead", "Thông điệp lỗi vĩnh viễn (cần xử lý)", "Dead letters (need an operator)"),
    ("why_paused", "Đang tạm dừng gửi", "Sending paused"),
    ("why_credentials", "Bị từ chối thông tin xác thực", "Credentials refused"),
    ("why_breaker", "Cầu dao ngắt (đối tác lỗi liên tục)", "Circuit breaker open (peer failing)"),
    ("why_old_backlog", "Thông điệp chờ gửi quá 15 phút", "Messages waiting longer than 15 minutes"),
    ("why_quarantine", "Bản ghi bị cách ly", "Quarantined records"),
    ("why_sources", "Nguồn dữ liệu lỗi", "Sources down or failing"),
    ("why_catalog_pull", "Lần lấy danh mục TTHC gần nhất chưa xong", "The last catalog pull did not finish"),
    ("why_subscribers", "Cấp xã nhận danh mục bị lỗi hoặc tạm dừng", "Catalog subscribers failing or paused"),
    ("why_postal", "Cảnh báo bưu chính", "Postal alerts"),
    ("backlog", "Đang chờ gửi", "Waiting to be sent"),
    ("dead_letters", "Lỗi vĩnh viễn", "Dead letters"),
    ("paused_n", "Đang tạm dừng", "Paused"),
    ("postal_alerts", "Cảnh báo bưu chính", "Postal alerts"),
    ("throughput", "Đã gửi và lỗi mỗi phút (60 phút qua)", "Delivered and failed per minute (last 60 minutes)"),
    ("delivered", "Đã gửi", "Delivered"),
    ("failed", "Lỗi", "Failed"),
    ("destinations", "Đối tác và điểm nhận", "Peers and destinations"),
    ("peer", "Đối tác", "Peer"),
    ("destination", "Điểm nhận", "Destination"),
    ("pending", "Chờ gửi", "Pending"),
    ("inflight", "Đang gửi", "Being sent"),
    ("oldest_age", "Chờ lâu nhất", "Oldest waiting"),
    ("breaker", "Cầu dao", "Breaker"),
    ("action", "Thao tác", "Action"),
    ("breaker_closed", "Đóng", "Closed"),
    ("breaker_open", "Ngắt", "Open"),
    ("breaker_half_open", "Thử lại", "Half-open"),
    ("paused_state", "Tạm dừng", "Paused"),
    ("credentials_refused", "Bị từ chối xác thực", "Credentials refused"),
    ("pause", "Tạm dừng", "Pause"),
    ("resume", "Tiếp tục gửi", "Resume"),
    ("paused_list", "Đang tạm dừng gửi", "Paused sending"),
    ("paused_by", "Người dừng", "Paused by"),
    ("paused_at", "Lúc dừng", "Paused at"),
    ("every_destination", "(mọi điểm nhận)", "(every destination)"),
    ("catalog", "Danh mục TTHC", "Catalog"),
    ("last_pull", "Lần lấy gần nhất", "Last pull"),
    ("outcome", "Kết quả", "Outcome"),
    ("version", "Phiên bản", "Version"),
    ("in_force", "Đang hiệu lực", "In force"),
    ("subscribers", "Cấp xã nhận", "Subscribers"),
    ("behind", "Chưa cập nhật", "Behind"),
    ("failing", "Đang lỗi", "Failing"),
    ("postal", "Bưu chính", "Postal"),
    ("orders_tracked", "Đơn đang theo dõi", "Orders tracked"),
    ("collected", "Đã thu gom", "Collected"),
    ("unknown_events", "Sự kiện không rõ đơn", "Unknown events"),
    ("held", "Đang giữ", "Held"),
    ("paused_now", "Đã tạm dừng", "Paused"),
    ("paused_already", "đã tạm dừng từ trước", "was paused already"),
    ("resumed_now", "Đã tiếp tục gửi", "Resumed"),
    ("not_paused", "không bị tạm dừng", "is not paused"),
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
