//! The portal's message shapes as data: for each target, its fields in the spec's order with
//! their kind, whether they are mandatory, their length limit and whether they are personal.
//! This is the only place that knows `HoSo`, `TienDo`, the `DongBoDanhGia` row (dvcqg.md), the
//! VNPost `MOrder` (vnpost.md) and the legacy `MSyncDocument` (dvcqg.md, "Legacy XML route");
//! adding a target means adding a table here, not changing the evaluator.

/// What to do with a value longer than the field allows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Overflow {
    /// Cut to the limit and keep a warning (real adapters do this).
    Cut,
    /// Reject the record.
    Reject,
}

/// The kind of a target field: decides how a source value is normalised and checked.
#[derive(Debug, Clone, Copy)]
pub enum Kind {
    /// Free text: NFC, control characters removed, otherwise unchanged.
    Text,
    /// A code from a closed set (after the mapping's table, if any).
    Code(&'static [&'static str]),
    /// A date, rendered `yyyyMMddHHmmss` Vietnam time.
    Date,
    /// `"0"`/`"1"`, from a number or a string.
    Flag,
    /// `"True"`/`"False"` (TaiLieuNop.IsDeleted), from a bool, `0`/`1` or the words.
    TrueFalse,
    /// VND amount as a decimal string, no grouping, no trailing zeros.
    Money,
    /// Phone number, normalised (spaces, dots, dashes removed, `+84` → `0`).
    Phone,
    /// E-mail address.
    Email,
    /// A code or identifier: trimmed, no further check.
    Identifier,
    /// `MaHoSo`: `<agency id NNN.NN.NN.LNN>-<yyMMdd>-<digits>`.
    DossierCode,
    /// `"true"`/`"false"` on the wire (a JSON bool in the item), from a bool, `0`/`1` or the words.
    Bool,
    /// A month `"M-YYYY"` (no leading zero), from `M-YYYY`, `MM-YYYY`, `M/YYYY` or `YYYY-MM`.
    Month,
    /// A whole number ≥ 0, sent as a JSON number.
    Count,
    /// A percentage 0..100 sent as text with a sign (`"85%"`), from `85`, `"85"`, `"85%"`.
    Percent,
    /// Digits only, sent as text (VNPost postal area codes).
    Digits,
    /// An array of child objects with their own fields.
    Children(&'static [FieldSpec]),
}

/// One field of a target message.
#[derive(Debug, Clone, Copy)]
pub struct FieldSpec {
    pub name: &'static str,
    pub kind: Kind,
    /// Missing or invalid rejects the record (inside a child array: drops the entry).
    pub mandatory: bool,
    /// Maximum length in characters and what to do past it.
    pub max_len: Option<(usize, Overflow)>,
    /// Masked in every issue (names, ids, phones, e-mails, addresses).
    pub personal: bool,
}

const fn f(name: &'static str, kind: Kind, mandatory: bool) -> FieldSpec {
    FieldSpec {
        name,
        kind,
        mandatory,
        max_len: None,
        personal: false,
    }
}

const fn personal(mut s: FieldSpec) -> FieldSpec {
    s.personal = true;
    s
}

const fn limit(mut s: FieldSpec, n: usize, o: Overflow) -> FieldSpec {
    s.max_len = Some((n, o));
    s
}

/// Dossier status codes (codes.md).
pub const STATUS: &[&str] = &["1", "2", "3", "4", "5", "6", "7", "8", "9", "10"];
const CHANNEL: &[&str] = &["1", "2", "3"];
const SUBJECT: &[&str] = &["1", "2", "3", "4"];
const PAID_ONLINE: &[&str] = &["1", "3"];
const ID_KIND: &[&str] = &["1", "2", "3"];
const FEE_KIND: &[&str] = &["1", "2", "3"];
const FEE_WHEN: &[&str] = &["1", "2", "4"];
const REUSED: &[&str] = &["0", "1", "2"];

const DINH_DANH: &[FieldSpec] = &[
    // Personal: its source is often the id number itself, classified by a table.
    personal(f("LoaiDinhDanh", Kind::Code(ID_KIND), true)),
    personal(f("SoDinhDanh", Kind::Identifier, true)),
];

const TAI_LIEU: &[FieldSpec] = &[
    f("TepDinhKemId", Kind::Identifier, true),
    f("TenTepDinhKem", Kind::Text, true),
    f("MaThanhPhanHoSo", Kind::Identifier, false),
    f("DuongDanTaiTepTin", Kind::Identifier, true),
    f("DuocSoHoa", Kind::Flag, false),
    f("DuocTaiSuDung", Kind::Code(REUSED), false),
    f("IsDeleted", Kind::TrueFalse, false),
];

const LE_PHI: &[FieldSpec] = &[
    f("TenPhiLePhi", Kind::Text, true),
    f("MaPhiLePhi", Kind::Identifier, false),
    f("HinhThucThu", Kind::Code(FEE_WHEN), false),
    f("Gia", Kind::Money, true),
    f("LoaiPhiLePhi", Kind::Code(FEE_KIND), false),
];

const BO_SUNG: &[FieldSpec] = &[
    f("HoSoBoSungId", Kind::Identifier, true),
    f("NoiDungBoSung", Kind::Text, true),
    f("NgayBoSung", Kind::Date, true),
    f("NgayHenTraTruoc", Kind::Date, false),
    f("NgayHenTraMoi", Kind::Date, false),
];

const KET_QUA: &[FieldSpec] = &[
    f("GiayToId", Kind::Identifier, true),
    f("TenGiayTo", Kind::Text, true),
    f("MaGiayToKetQua", Kind::Identifier, false),
    f("DuongDanTepTinKetQua", Kind::Identifier, false),
];

/// `HoSo` of `DongBoHoSoMC`, in dvcqg.md's order. `NgayTiepNhan` and `NgayHenTra` are
/// mandatory-unless-status: they are optional here and checked in [`crate::mapping`]'s
/// cross-field rules.
pub const HO_SO: &[FieldSpec] = &[
    limit(f("MaHoSo", Kind::DossierCode, true), 50, Overflow::Reject),
    f("MaTTHC", Kind::Identifier, true),
    f("TenTTHC", Kind::Text, true),
    f("MaLinhVuc", Kind::Identifier, true),
    f("TenLinhVuc", Kind::Text, false),
    f("KenhThucHien", Kind::Code(CHANNEL), true),
    personal(f("ChuHoSo", Kind::Text, true)),
    f("LoaiDoiTuong", Kind::Code(SUBJECT), true),
    personal(f("MaDoiTuong", Kind::Identifier, false)),
    f("DinhDanhCHS", Kind::Children(DINH_DANH), false),
    personal(f("SoDienThoai", Kind::Phone, false)),
    personal(f("Email", Kind::Email, false)),
    limit(f("TrichYeuHoSo", Kind::Text, true), 1000, Overflow::Cut),
    f("NgayNopHoSo", Kind::Date, false),
    f("NgayTiepNhan", Kind::Date, false),
    f("NgayHenTra", Kind::Date, false),
    f("TrangThaiHoSo", Kind::Code(STATUS), true),
    f("NgayTra", Kind::Date, false),
    f("NgayKetThucXuLy", Kind::Date, false),
    f("NgayTuChoi", Kind::Date, false),
    f("HinhThuc", Kind::Flag, true),
    f("DonViXuLy", Kind::Text, true),
    f("HoSoCoThanhPhanSoHoa", Kind::Flag, true),
    f("DuocThanhToanTrucTuyen", Kind::Code(PAID_ONLINE), false),
    f("TaiLieuNop", Kind::Children(TAI_LIEU), false),
    f("DanhSachLePhi", Kind::Children(LE_PHI), false),
    f("DanhSachHoSoBoSung", Kind::Children(BO_SUNG), false),
    f("DanhSachGiayToKetQua", Kind::Children(KET_QUA), false),
];

/// `TienDo` of `CapNhatTienDoHoSoMC`, in dvcqg.md's order.
pub const TIEN_DO: &[FieldSpec] = &[
    limit(f("MaHoSo", Kind::DossierCode, true), 50, Overflow::Reject),
    limit(
        personal(f("NguoiXuLy", Kind::Text, true)),
        50,
        Overflow::Cut,
    ),
    f("ChucDanh", Kind::Text, false),
    f("ThoiDiemXuLy", Kind::Date, true),
    f("PhongBanXuLy", Kind::Text, true),
    f("NoiDungXuLy", Kind::Text, true),
    f("TrangThai", Kind::Code(STATUS), true),
    f("NgayBatDau", Kind::Date, false),
    f("NgayKetThucTheoQuyDinh", Kind::Date, false),
];

const ORDER_TYPE: &[&str] = &["1", "2"];

/// A `DongBoDanhGia` row (dvcqg.md): monthly satisfaction figures of one procedure at one agency.
pub const DANH_GIA: &[FieldSpec] = &[
    f("NgayTongHop", Kind::Month, true),
    f("MaThuTuc", Kind::Identifier, true),
    f("Madonvi", Kind::Identifier, true),
    f("TenDonVi", Kind::Text, true),
    f("TongSoNguoiDanhGia", Kind::Count, true),
    f("PhanTramDanhGiaRatHaiLong", Kind::Percent, true),
    f("PhanTramDanhGiaHaiLong", Kind::Percent, true),
    f("PhanTramDanhGiaChuaHaiLong", Kind::Percent, true),
];

/// VNPost `MOrder` of `POST /order/post` (vnpost.md). Sender and receiver are mandatory
/// (e-mails optional); a mandatory phone that is not a phone number rejects the order.
pub const M_ORDER: &[FieldSpec] = &[
    f("CustomerCode", Kind::Identifier, true),
    limit(
        f("OrderNumber", Kind::DossierCode, true),
        50,
        Overflow::Reject,
    ),
    f("OrderType", Kind::Code(ORDER_TYPE), true),
    f("ItemCode", Kind::Identifier, false),
    f("CODAmount", Kind::Money, true),
    personal(f("SenderName", Kind::Text, true)),
    personal(f("SenderAddress", Kind::Text, true)),
    personal(f("SenderTel", Kind::Phone, true)),
    personal(f("SenderEmail", Kind::Email, false)),
    f("SenderProvince", Kind::Digits, true),
    f("SenderDistrict", Kind::Digits, true),
    f("SenderDesc", Kind::Text, false),
    personal(f("ReceiverName", Kind::Text, true)),
    personal(f("ReceiverAddress", Kind::Text, true)),
    personal(f("ReceiverTel", Kind::Phone, true)),
    personal(f("ReceiverEmail", Kind::Email, false)),
    f("ReceiverProvince", Kind::Digits, true),
    f("ReceiverDistrict", Kind::Digits, true),
    f("Description", Kind::Text, false),
];

const DOC_FEE: &[FieldSpec] = &[
    f("FeeName", Kind::Text, true),
    f("FeeType", Kind::Code(FEE_KIND), false),
    f("Price", Kind::Money, true),
];

/// `MSyncDocument` of the legacy LGSP route (dvcqg.md), in the spec's element order. Only
/// `DocCode` and `Status` are mandatory; `DateReceived` is mandatory-unless-status (checked with
/// the cross-field rules). `IsSuccess` and `IsReturned` are derived from `Status` by the rules,
/// whatever the mapping says. The item is the JSON form; [`crate::mapping::render_xml`] writes it.
pub const M_SYNC_DOCUMENT: &[FieldSpec] = &[
    limit(f("DocCode", Kind::DossierCode, true), 50, Overflow::Reject),
    f("DocTypeCode", Kind::Identifier, false),
    f("DocTypeName", Kind::Text, false),
    personal(f("CitizenName", Kind::Text, false)),
    f("ApplicantsType", Kind::Code(SUBJECT), false),
    personal(f("Address", Kind::Text, false)),
    personal(f("Phone", Kind::Phone, false)),
    personal(f("Email", Kind::Email, false)),
    f("Compendium", Kind::Text, false),
    f("DateReceived", Kind::Date, false),
    f("DateAppointed", Kind::Date, false),
    f("Status", Kind::Code(STATUS), true),
    f("ProcessingOrganName", Kind::Text, false),
    f("IsSuccess", Kind::Bool, false),
    f("SuccessDate", Kind::Date, false),
    f("IsReturned", Kind::Bool, false),
    f("ReturnedDate", Kind::Date, false),
    f("FinishedDate", Kind::Date, false),
    f("HasSupplementary", Kind::Bool, false),
    f("Note", Kind::Text, false),
    f("DocFees", Kind::Children(DOC_FEE), false),
];

/// Dates whose unreadable value rejects the record although the field may be empty
/// (mandatory unless the status allows it).
pub const CONDITIONAL_DATES: &[&str] = &["NgayTiepNhan", "NgayHenTra", "DateReceived"];
