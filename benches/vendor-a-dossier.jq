# vendor-a dossier rows → DVCQG DongBoHoSoMC HoSo items: the work of
# mappings/vendor-a/dossier.toml written as a jq program, for `lienthong bench mapping` to time
# jq on the same input. Run: jq -c --arg DonViXuLy "…" -f benches/vendor-a-dossier.jq dossiers.json
#
# It does the renames, the code tables (status, channel, applicant type, procedures, id kind),
# the date reformatting yyyy-MM-dd HH:mm:ss → yyyyMMddHHmmss, phone clean-up, the summary
# fallback, the refusal-date rule, the fee and supplement lists, and leaves out empty fields.
# It does NOT validate (unknown codes, unreadable dates, due before reception, lengths, id
# checksums, Unicode normalisation): jq cannot reject a record with reasons, the engine does.
# The tables are copied from mappings/vendor-a/*.csv (the engine reads them at load time).

def procedures: {
  "TTHC-TH-0412": {"MaTTHC": "1.009994", "MaLinhVuc": "G09-XD03", "TenLinhVuc": "Hoạt động xây dựng"},
  "TTHC-TH-0101": {"MaTTHC": "1.001612", "MaLinhVuc": "G01-KH09", "TenLinhVuc": "Thành lập và hoạt động của hộ kinh doanh"},
  "TTHC-TH-0203": {"MaTTHC": "1.004227", "MaLinhVuc": "G07-TP03", "TenLinhVuc": "Hộ tịch"},
  "TTHC-TH-0204": {"MaTTHC": "1.001193", "MaLinhVuc": "G07-TP03", "TenLinhVuc": "Hộ tịch"},
  "TTHC-TH-0205": {"MaTTHC": "2.000986", "MaLinhVuc": "G07-TP03", "TenLinhVuc": "Hộ tịch"},
  "TTHC-TH-0310": {"MaTTHC": "1.005129", "MaLinhVuc": "G12-TN01", "TenLinhVuc": "Đất đai"},
  "TTHC-TH-0311": {"MaTTHC": "2.000889", "MaLinhVuc": "G12-TN01", "TenLinhVuc": "Đất đai"},
  "TTHC-TH-0520": {"MaTTHC": "1.000775", "MaLinhVuc": "G05-YT08", "TenLinhVuc": "An toàn thực phẩm"},
  "TTHC-TH-0601": {"MaTTHC": "3.000181.000.00.00.H56", "MaLinhVuc": "G08-LD12", "TenLinhVuc": "Bảo trợ xã hội"},
  "TTHC-TH-0702": {"MaTTHC": "1.003003", "MaLinhVuc": "G10-CT05", "TenLinhVuc": "Lưu thông hàng hóa trong nước"},
  "TTHC-TH-0815": {"MaTTHC": "1.010812", "MaLinhVuc": "G07-TP06", "TenLinhVuc": "Chứng thực"},
  "TTHC-TH-0907": {"MaTTHC": "2.001159", "MaLinhVuc": "G12-TN05", "TenLinhVuc": "Tài nguyên nước"}
};
def tinh_trang: {"MOI": "1", "DA_NHAN": "2", "TU_CHOI": "3", "DANG_XU_LY": "4", "CHO_BO_SUNG": "5", "CHO_NOP_PHI": "6", "RUT": "7", "DUNG_XU_LY": "8", "XONG": "9", "DA_TRA": "10"};
def kenh_nop: {"TRUC_TIEP": "1", "TRUC_TUYEN": "2", "BUU_CHINH": "3"};
def loai_nguoi_nop: {"CD": "1", "DN": "2", "CQ": "3", "TC": "4"};

# "2026-11-05 08:20:00" → "20261105082000"; empty → null (left out).
def wire_date:
  if . == null or . == "" then null
  else .[0:4] + .[5:7] + .[8:10] + .[11:13] + .[14:16] + .[17:19] end;
def text: if . == null then null else tostring end;
def phone:
  if . == null or . == "" then null
  else (split(" ") | join("") | split(".") | join(""))
    | if startswith("+84") then "0" + .[3:] else . end
  end;
def id_kind:
  if test("^[0-9]{12}$") then "1"
  elif test("^[0-9]{9}$") then "2"
  elif test("^[0-9]{10}(-[0-9]{3})?$") then "3"
  else null end;
def present: with_entries(select(.value != null and .value != "" and .value != []));

.[]
| . as $r
| procedures[$r.MaThuTucLocal] as $p
| tinh_trang[$r.TinhTrang] as $status
| {
    MaHoSo: .MaHoSo,
    MaTTHC: $p.MaTTHC,
    TenTTHC: .TenThuTuc,
    MaLinhVuc: $p.MaLinhVuc,
    TenLinhVuc: $p.TenLinhVuc,
    KenhThucHien: kenh_nop[.KenhNop],
    ChuHoSo: .NguoiNop,
    LoaiDoiTuong: loai_nguoi_nop[.LoaiNguoiNop],
    MaDoiTuong: .MaDoiTuong,
    DinhDanhCHS: (.DinhDanhCHS // [{LoaiDinhDanh: (.SoGiayTo | id_kind), SoDinhDanh: .SoGiayTo}]),
    SoDienThoai: (.DienThoai | phone),
    Email: .Email,
    TrichYeuHoSo: (if (.TrichYeu // "") != "" then .TrichYeu else "\(.TenThuTuc) - \(.NguoiNop)" end),
    NgayNopHoSo: (.NgayNop | wire_date),
    NgayTiepNhan: (.NgayNhan | wire_date),
    NgayHenTra: (.HanTra | wire_date),
    TrangThaiHoSo: $status,
    NgayTra: (.NgayTra | wire_date),
    NgayKetThucXuLy: (if $status == "3" then null else .NgayXong | wire_date end),
    NgayTuChoi: ((.NgayTuChoi // (if .TinhTrang == "TU_CHOI" then .NgayNhan else null end)) | wire_date),
    HinhThuc: (.NhanKetQuaQuaBuuDien | text),
    DonViXuLy: $DonViXuLy,
    HoSoCoThanhPhanSoHoa: (.CoSoHoa | text),
    DuocThanhToanTrucTuyen: ((.DuocThanhToanTrucTuyen // 3) | text),
    TaiLieuNop: .TaiLieuNop,
    DanhSachLePhi: [(.LePhi // [])[] | {
      TenPhiLePhi: .TenPhi,
      MaPhiLePhi: .MaPhi,
      HinhThucThu: (.ThuKhi | text),
      Gia: (.SoTien | text),
      LoaiPhiLePhi: (.LoaiPhi | text)
    } | present],
    DanhSachHoSoBoSung: [(.BoSung // []) | sort_by(.Lan)[] | {
      HoSoBoSungId: "\($r.MaHoSo)-BS\(.Lan)",
      NoiDungBoSung: (if .LaXinLoi == 1 then "Xin lỗi và hẹn lại ngày trả kết quả: \(.NoiDung)" else .NoiDung end),
      NgayBoSung: (.NgayYeuCau | wire_date),
      NgayHenTraTruoc: (.HanTraCu | wire_date),
      NgayHenTraMoi: (.HanTraMoi | wire_date)
    } | present]
  }
| present
