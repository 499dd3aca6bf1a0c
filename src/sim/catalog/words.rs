//! The words generated procedures are made of: ministries and their fields (lĩnh vực) with the
//! subjects of their procedures, legal documents, documents of a dossier, agencies of the
//! made-up province H56. Static tables only; `generate.rs` decides how they are combined.

/// What procedures of a field are about: a procedure name is an action followed by the noun
/// ("Cấp" + "giấy phép xây dựng đối với nhà ở riêng lẻ").
pub(super) struct Subject {
    pub(super) actions: &'static [&'static str],
    pub(super) noun: &'static str,
    /// What the applicant receives (`KETQUATHUCHIEN`).
    pub(super) result: &'static str,
}

/// A field of activity (`LINHVUCTHUCHIEN`), coded `<ministry>-<field>` as the portal does.
pub(super) struct Field {
    pub(super) code: &'static str,
    pub(super) name: &'static str,
    pub(super) subjects: &'static [Subject],
}

/// A legal document (`CANCUPHAPLY`).
pub(super) struct LegalDoc {
    pub(super) number: &'static str,
    pub(super) title: &'static str,
    pub(super) issuer: &'static str,
    /// `yyyyMMddHHmmss`, as the portal sends dates.
    pub(super) date: &'static str,
}

/// A ministry: it publishes national procedures of its fields; its provincial department
/// carries out the province-level ones.
pub(super) struct Ministry {
    /// `G09`: the prefix of its field codes; its agency code is `000.00.00.<code>`.
    pub(super) code: &'static str,
    pub(super) name: &'static str,
    /// As in `Quyết định số 1268/QĐ-BXD`.
    pub(super) abbreviation: &'static str,
    /// The province's department of this ministry: (`MADONVI`, `TENDONVI`).
    pub(super) department: (&'static str, &'static str),
    /// The law the ministry's procedures cite first.
    pub(super) law: LegalDoc,
    pub(super) fields: &'static [Field],
}

const fn subject(
    actions: &'static [&'static str],
    noun: &'static str,
    result: &'static str,
) -> Subject {
    Subject {
        actions,
        noun,
        result,
    }
}

pub(super) const MINISTRIES: &[Ministry] = &[
    Ministry {
        code: "G01",
        name: "Bộ Kế hoạch và Đầu tư",
        abbreviation: "BKHĐT",
        department: ("000.00.11.H56", "Sở Kế hoạch và Đầu tư"),
        law: LegalDoc { number: "59/2020/QH14", title: "Luật Doanh nghiệp", issuer: "Quốc hội", date: "20200617000000" },
        fields: &[
            Field { code: "G01-KH09", name: "Thành lập và hoạt động của hộ kinh doanh", subjects: &[
                subject(&["Đăng ký thành lập", "Đăng ký thay đổi nội dung đăng ký", "Tạm ngừng kinh doanh của", "Chấm dứt hoạt động"], "hộ kinh doanh", "Giấy chứng nhận đăng ký hộ kinh doanh"),
                subject(&["Cấp lại", "Hiệu đính thông tin trên"], "Giấy chứng nhận đăng ký hộ kinh doanh", "Giấy chứng nhận đăng ký hộ kinh doanh"),
            ]},
            Field { code: "G01-KH01", name: "Thành lập và hoạt động doanh nghiệp", subjects: &[
                subject(&["Đăng ký thành lập", "Đăng ký thay đổi người đại diện theo pháp luật của", "Giải thể"], "công ty trách nhiệm hữu hạn một thành viên", "Giấy chứng nhận đăng ký doanh nghiệp"),
                subject(&["Đăng ký hoạt động", "Chấm dứt hoạt động"], "chi nhánh, văn phòng đại diện, địa điểm kinh doanh", "Giấy chứng nhận đăng ký hoạt động chi nhánh, văn phòng đại diện"),
            ]},
            Field { code: "G01-KH05", name: "Đầu tư tại Việt Nam", subjects: &[
                subject(&["Chấp thuận", "Điều chỉnh"], "chủ trương đầu tư của Ủy ban nhân dân cấp tỉnh", "Quyết định chấp thuận chủ trương đầu tư"),
                subject(&["Cấp", "Điều chỉnh", "Cấp lại"], "Giấy chứng nhận đăng ký đầu tư", "Giấy chứng nhận đăng ký đầu tư"),
            ]},
            Field { code: "G01-KH11", name: "Thành lập và hoạt động của hợp tác xã", subjects: &[
                subject(&["Đăng ký thành lập", "Đăng ký thay đổi tên, địa chỉ trụ sở chính của", "Giải thể tự nguyện"], "hợp tác xã", "Giấy chứng nhận đăng ký hợp tác xã"),
                subject(&["Thông báo thành lập", "Thông báo chấm dứt hoạt động"], "tổ hợp tác", "Thông báo xác nhận của Ủy ban nhân dân cấp xã"),
            ]},
        ],
    },
    Ministry {
        code: "G03",
        name: "Bộ Giáo dục và Đào tạo",
        abbreviation: "BGDĐT",
        department: ("000.00.12.H56", "Sở Giáo dục và Đào tạo"),
        law: LegalDoc { number: "43/2019/QH14", title: "Luật Giáo dục", issuer: "Quốc hội", date: "20190614000000" },
        fields: &[
            Field { code: "G03-GD09", name: "Giáo dục và Đào tạo thuộc hệ thống giáo dục quốc dân", subjects: &[
                subject(&["Cho phép thành lập", "Sáp nhập, chia, tách", "Giải thể"], "trường mầm non tư thục", "Quyết định cho phép thành lập trường"),
                subject(&["Cho phép hoạt động giáo dục", "Cho phép hoạt động giáo dục trở lại"], "nhà trẻ, trường mẫu giáo", "Quyết định cho phép hoạt động giáo dục"),
            ]},
            Field { code: "G03-GD02", name: "Thi, tuyển sinh", subjects: &[
                subject(&["Đăng ký dự thi", "Phúc khảo bài thi", "Xét đặc cách"], "tốt nghiệp trung học phổ thông", "Giấy chứng nhận kết quả thi"),
                subject(&["Tuyển sinh", "Chuyển trường đối với học sinh"], "trung học cơ sở", "Danh sách học sinh trúng tuyển"),
            ]},
            Field { code: "G03-GD05", name: "Văn bằng, chứng chỉ", subjects: &[
                subject(&["Cấp bản sao", "Chỉnh sửa nội dung"], "văn bằng, chứng chỉ từ sổ gốc", "Bản sao văn bằng, chứng chỉ"),
                subject(&["Công nhận"], "văn bằng do cơ sở giáo dục nước ngoài cấp", "Giấy công nhận văn bằng"),
            ]},
            Field { code: "G03-GD07", name: "Giáo dục thường xuyên", subjects: &[
                subject(&["Cho phép thành lập", "Giải thể"], "trung tâm học tập cộng đồng", "Quyết định cho phép thành lập trung tâm"),
                subject(&["Công nhận", "Công nhận lại"], "xã đạt chuẩn xóa mù chữ", "Quyết định công nhận đạt chuẩn"),
            ]},
        ],
    },
    Ministry {
        code: "G05",
        name: "Bộ Y tế",
        abbreviation: "BYT",
        department: ("000.00.13.H56", "Sở Y tế"),
        law: LegalDoc { number: "15/2023/QH15", title: "Luật Khám bệnh, chữa bệnh", issuer: "Quốc hội", date: "20230109000000" },
        fields: &[
            Field { code: "G05-YT08", name: "An toàn thực phẩm", subjects: &[
                subject(&["Cấp", "Cấp lại"], "giấy chứng nhận cơ sở đủ điều kiện an toàn thực phẩm", "Giấy chứng nhận cơ sở đủ điều kiện an toàn thực phẩm"),
                subject(&["Đăng ký bản công bố", "Tiếp nhận bản tự công bố"], "sản phẩm thực phẩm", "Giấy tiếp nhận đăng ký bản công bố sản phẩm"),
            ]},
            Field { code: "G05-YT02", name: "Khám bệnh, chữa bệnh", subjects: &[
                subject(&["Cấp", "Cấp lại", "Điều chỉnh"], "giấy phép hoạt động đối với phòng khám đa khoa", "Giấy phép hoạt động khám bệnh, chữa bệnh"),
                subject(&["Cấp", "Gia hạn"], "giấy phép hành nghề khám bệnh, chữa bệnh", "Giấy phép hành nghề khám bệnh, chữa bệnh"),
            ]},
            Field { code: "G05-YT06", name: "Dược phẩm", subjects: &[
                subject(&["Cấp", "Cấp lại", "Điều chỉnh nội dung"], "Giấy chứng nhận đủ điều kiện kinh doanh dược", "Giấy chứng nhận đủ điều kiện kinh doanh dược"),
                subject(&["Cấp", "Cấp lại"], "chứng chỉ hành nghề dược", "Chứng chỉ hành nghề dược"),
            ]},
            Field { code: "G05-YT10", name: "Y tế dự phòng", subjects: &[
                subject(&["Cấp", "Cấp lại"], "giấy chứng nhận phòng xét nghiệm đạt tiêu chuẩn an toàn sinh học cấp II", "Giấy chứng nhận phòng xét nghiệm đạt tiêu chuẩn an toàn sinh học"),
                subject(&["Công bố", "Công bố lại"], "cơ sở đủ điều kiện quan trắc môi trường lao động", "Văn bản tiếp nhận công bố"),
            ]},
        ],
    },
    Ministry {
        code: "G07",
        name: "Bộ Tư pháp",
        abbreviation: "BTP",
        department: ("000.00.14.H56", "Sở Tư pháp"),
        law: LegalDoc { number: "60/2014/QH13", title: "Luật Hộ tịch", issuer: "Quốc hội", date: "20141120000000" },
        fields: &[
            Field { code: "G07-TP03", name: "Hộ tịch", subjects: &[
                subject(&["Đăng ký", "Đăng ký lại"], "khai sinh", "Giấy khai sinh"),
                subject(&["Đăng ký", "Đăng ký lại"], "kết hôn", "Giấy chứng nhận kết hôn"),
                subject(&["Đăng ký", "Đăng ký lại"], "khai tử", "Trích lục khai tử"),
                subject(&["Cấp bản sao trích lục", "Cấp giấy xác nhận tình trạng"], "hộ tịch", "Bản sao trích lục hộ tịch"),
            ]},
            Field { code: "G07-TP06", name: "Chứng thực", subjects: &[
                subject(&["Chứng thực bản sao từ bản chính", "Chứng thực chữ ký trong"], "giấy tờ, văn bản", "Bản sao được chứng thực"),
                subject(&["Chứng thực", "Chứng thực việc sửa đổi, bổ sung, hủy bỏ"], "hợp đồng, giao dịch liên quan đến tài sản là động sản", "Hợp đồng, giao dịch được chứng thực"),
            ]},
            Field { code: "G07-TP08", name: "Lý lịch tư pháp", subjects: &[
                subject(&["Cấp"], "Phiếu lý lịch tư pháp cho công dân Việt Nam, người nước ngoài đang cư trú tại Việt Nam", "Phiếu lý lịch tư pháp"),
                subject(&["Cấp"], "Phiếu lý lịch tư pháp cho cơ quan nhà nước, tổ chức chính trị, tổ chức chính trị - xã hội", "Phiếu lý lịch tư pháp"),
            ]},
            Field { code: "G07-TP11", name: "Nuôi con nuôi", subjects: &[
                subject(&["Đăng ký", "Đăng ký lại"], "việc nuôi con nuôi trong nước", "Giấy chứng nhận nuôi con nuôi"),
                subject(&["Ghi vào sổ"], "việc nuôi con nuôi đã được giải quyết tại cơ quan có thẩm quyền của nước ngoài", "Trích lục ghi chú việc nuôi con nuôi"),
            ]},
        ],
    },
    Ministry {
        code: "G08",
        name: "Bộ Lao động - Thương binh và Xã hội",
        abbreviation: "BLĐTBXH",
        department: ("000.00.15.H56", "Sở Lao động - Thương binh và Xã hội"),
        law: LegalDoc { number: "45/2019/QH14", title: "Bộ luật Lao động", issuer: "Quốc hội", date: "20191120000000" },
        fields: &[
            Field { code: "G08-LD12", name: "Bảo trợ xã hội", subjects: &[
                subject(&["Thực hiện", "Điều chỉnh, thôi hưởng"], "trợ cấp xã hội hằng tháng", "Quyết định trợ cấp xã hội hằng tháng"),
                subject(&["Hỗ trợ chi phí mai táng cho", "Tiếp nhận vào cơ sở trợ giúp xã hội"], "đối tượng bảo trợ xã hội", "Quyết định hỗ trợ của Chủ tịch Ủy ban nhân dân"),
            ]},
            Field { code: "G08-LD04", name: "Việc làm", subjects: &[
                subject(&["Giải quyết hưởng", "Tạm dừng hưởng", "Chuyển nơi hưởng"], "trợ cấp thất nghiệp", "Quyết định hưởng trợ cấp thất nghiệp"),
                subject(&["Cấp", "Gia hạn", "Cấp lại"], "giấy phép lao động cho người lao động nước ngoài làm việc tại Việt Nam", "Giấy phép lao động"),
            ]},
            Field { code: "G08-LD07", name: "Người có công", subjects: &[
                subject(&["Công nhận", "Giải quyết chế độ ưu đãi đối với"], "thân nhân liệt sĩ", "Quyết định trợ cấp ưu đãi"),
                subject(&["Cấp trích lục", "Di chuyển"], "hồ sơ người có công với cách mạng", "Trích lục hồ sơ người có công"),
            ]},
            Field { code: "G08-LD15", name: "Giáo dục nghề nghiệp", subjects: &[
                subject(&["Cấp", "Cấp lại", "Đăng ký bổ sung"], "giấy chứng nhận đăng ký hoạt động giáo dục nghề nghiệp", "Giấy chứng nhận đăng ký hoạt động giáo dục nghề nghiệp"),
                subject(&["Cho phép thành lập", "Giải thể"], "trung tâm giáo dục nghề nghiệp tư thục", "Quyết định cho phép thành lập"),
            ]},
        ],
    },
    Ministry {
        code: "G09",
        name: "Bộ Xây dựng",
        abbreviation: "BXD",
        department: ("000.00.16.H56", "Sở Xây dựng"),
        law: LegalDoc { number: "50/2014/QH13", title: "Luật Xây dựng", issuer: "Quốc hội", date: "20140618000000" },
        fields: &[
            Field { code: "G09-XD03", name: "Hoạt động xây dựng", subjects: &[
                subject(&["Cấp", "Cấp điều chỉnh", "Gia hạn"], "giấy phép xây dựng đối với nhà ở riêng lẻ", "Giấy phép xây dựng nhà ở riêng lẻ"),
                subject(&["Cấp", "Cấp lại"], "giấy phép di dời công trình", "Giấy phép di dời công trình"),
            ]},
            Field { code: "G09-XD01", name: "Quy hoạch xây dựng, kiến trúc", subjects: &[
                subject(&["Cấp", "Cấp lại"], "giấy phép quy hoạch dự án đầu tư xây dựng", "Giấy phép quy hoạch"),
                subject(&["Thẩm định", "Thẩm định điều chỉnh"], "nhiệm vụ quy hoạch chi tiết xây dựng", "Văn bản thẩm định"),
            ]},
            Field { code: "G09-XD05", name: "Nhà ở", subjects: &[
                subject(&["Xác nhận đối tượng được mua, thuê mua", "Đăng ký mua, thuê mua"], "nhà ở xã hội", "Văn bản xác nhận"),
                subject(&["Thẩm định", "Điều chỉnh"], "kế hoạch phát triển nhà ở", "Văn bản thẩm định"),
            ]},
            Field { code: "G09-XD08", name: "Kinh doanh bất động sản", subjects: &[
                subject(&["Cấp", "Cấp lại", "Gia hạn"], "chứng chỉ hành nghề môi giới bất động sản", "Chứng chỉ hành nghề môi giới bất động sản"),
                subject(&["Chuyển nhượng toàn bộ hoặc một phần"], "dự án bất động sản", "Quyết định cho phép chuyển nhượng"),
            ]},
        ],
    },
    Ministry {
        code: "G10",
        name: "Bộ Công Thương",
        abbreviation: "BCT",
        department: ("000.00.17.H56", "Sở Công Thương"),
        law: LegalDoc { number: "36/2005/QH11", title: "Luật Thương mại", issuer: "Quốc hội", date: "20050614000000" },
        fields: &[
            Field { code: "G10-CT05", name: "Lưu thông hàng hóa trong nước", subjects: &[
                subject(&["Cấp", "Cấp lại", "Cấp sửa đổi, bổ sung"], "giấy phép kinh doanh bán lẻ sản phẩm rượu", "Giấy phép kinh doanh bán lẻ sản phẩm rượu"),
                subject(&["Cấp", "Cấp lại"], "giấy phép bán lẻ sản phẩm thuốc lá", "Giấy phép bán lẻ sản phẩm thuốc lá"),
            ]},
            Field { code: "G10-CT02", name: "Điện", subjects: &[
                subject(&["Cấp", "Cấp sửa đổi, bổ sung"], "giấy phép hoạt động phân phối điện", "Giấy phép hoạt động điện lực"),
                subject(&["Cấp", "Cấp lại"], "giấy phép hoạt động bán lẻ điện ở cấp điện áp 0,4 kV", "Giấy phép hoạt động điện lực"),
            ]},
            Field { code: "G10-CT09", name: "Hóa chất", subjects: &[
                subject(&["Cấp", "Cấp điều chỉnh"], "giấy chứng nhận đủ điều kiện kinh doanh hóa chất sản xuất, kinh doanh có điều kiện", "Giấy chứng nhận đủ điều kiện kinh doanh hóa chất"),
                subject(&["Thẩm định", "Xác nhận"], "kế hoạch phòng ngừa, ứng phó sự cố hóa chất", "Quyết định phê duyệt kế hoạch"),
            ]},
            Field { code: "G10-CT12", name: "Xúc tiến thương mại", subjects: &[
                subject(&["Đăng ký thực hiện", "Đăng ký sửa đổi, bổ sung nội dung"], "chương trình khuyến mại", "Văn bản xác nhận đăng ký thực hiện khuyến mại"),
                subject(&["Đăng ký tổ chức", "Thay đổi, bổ sung nội dung đăng ký tổ chức"], "hội chợ, triển lãm thương mại", "Văn bản xác nhận đăng ký tổ chức"),
            ]},
        ],
    },
    Ministry {
        code: "G11",
        name: "Bộ Nông nghiệp và Phát triển nông thôn",
        abbreviation: "BNNPTNT",
        department: ("000.00.18.H56", "Sở Nông nghiệp và Phát triển nông thôn"),
        law: LegalDoc { number: "31/2018/QH14", title: "Luật Trồng trọt", issuer: "Quốc hội", date: "20181119000000" },
        fields: &[
            Field { code: "G11-NN02", name: "Trồng trọt", subjects: &[
                subject(&["Cấp", "Cấp lại"], "giấy chứng nhận đủ điều kiện buôn bán phân bón", "Giấy chứng nhận đủ điều kiện buôn bán phân bón"),
                subject(&["Công nhận", "Công nhận lại"], "cây đầu dòng, vườn cây đầu dòng", "Quyết định công nhận"),
            ]},
            Field { code: "G11-NN04", name: "Chăn nuôi", subjects: &[
                subject(&["Cấp", "Cấp lại"], "giấy chứng nhận đủ điều kiện chăn nuôi đối với chăn nuôi trang trại quy mô lớn", "Giấy chứng nhận đủ điều kiện chăn nuôi"),
                subject(&["Cấp", "Cấp lại"], "giấy chứng nhận đủ điều kiện sản xuất thức ăn chăn nuôi", "Giấy chứng nhận đủ điều kiện sản xuất thức ăn chăn nuôi"),
            ]},
            Field { code: "G11-NN07", name: "Thủy sản", subjects: &[
                subject(&["Cấp", "Cấp lại", "Cấp văn bản chấp thuận gia hạn"], "giấy phép khai thác thủy sản", "Giấy phép khai thác thủy sản"),
                subject(&["Đăng ký", "Xóa đăng ký"], "tàu cá", "Giấy chứng nhận đăng ký tàu cá"),
            ]},
            Field { code: "G11-NN09", name: "Lâm nghiệp", subjects: &[
                subject(&["Phê duyệt", "Điều chỉnh"], "phương án quản lý rừng bền vững của chủ rừng là tổ chức", "Quyết định phê duyệt phương án"),
                subject(&["Xác nhận nguồn gốc", "Đăng ký mã số cơ sở nuôi, trồng các loài"], "lâm sản", "Bảng kê lâm sản được xác nhận"),
            ]},
        ],
    },
    Ministry {
        code: "G12",
        name: "Bộ Tài nguyên và Môi trường",
        abbreviation: "BTNMT",
        department: ("000.00.19.H56", "Sở Tài nguyên và Môi trường"),
        law: LegalDoc { number: "31/2024/QH15", title: "Luật Đất đai", issuer: "Quốc hội", date: "20240118000000" },
        fields: &[
            Field { code: "G12-TN01", name: "Đất đai", subjects: &[
                subject(&["Cấp", "Cấp đổi", "Cấp lại"], "Giấy chứng nhận quyền sử dụng đất, quyền sở hữu tài sản gắn liền với đất", "Giấy chứng nhận quyền sử dụng đất, quyền sở hữu tài sản gắn liền với đất"),
                subject(&["Đăng ký biến động", "Đính chính Giấy chứng nhận"], "quyền sử dụng đất, quyền sở hữu tài sản gắn liền với đất", "Giấy chứng nhận đã được xác nhận thay đổi"),
            ]},
            Field { code: "G12-TN05", name: "Tài nguyên nước", subjects: &[
                subject(&["Cấp", "Gia hạn, điều chỉnh"], "giấy phép khai thác, sử dụng nước mặt", "Giấy phép khai thác, sử dụng nước mặt"),
                subject(&["Cấp", "Cấp lại"], "giấy phép thăm dò nước dưới đất", "Giấy phép thăm dò nước dưới đất"),
            ]},
            Field { code: "G12-TN03", name: "Môi trường", subjects: &[
                subject(&["Cấp", "Cấp điều chỉnh", "Cấp lại"], "giấy phép môi trường", "Giấy phép môi trường"),
                subject(&["Thẩm định", "Thẩm định lại"], "báo cáo đánh giá tác động môi trường", "Quyết định phê duyệt kết quả thẩm định"),
            ]},
            Field { code: "G12-TN07", name: "Khoáng sản", subjects: &[
                subject(&["Cấp", "Gia hạn", "Trả lại"], "giấy phép khai thác khoáng sản", "Giấy phép khai thác khoáng sản"),
                subject(&["Phê duyệt đề án", "Đóng cửa"], "mỏ khoáng sản", "Quyết định đóng cửa mỏ khoáng sản"),
            ]},
        ],
    },
    Ministry {
        code: "G13",
        name: "Bộ Giao thông vận tải",
        abbreviation: "BGTVT",
        department: ("000.00.20.H56", "Sở Giao thông vận tải"),
        law: LegalDoc { number: "35/2024/QH15", title: "Luật Đường bộ", issuer: "Quốc hội", date: "20240627000000" },
        fields: &[
            Field { code: "G13-GT02", name: "Đường bộ", subjects: &[
                subject(&["Cấp", "Cấp lại", "Đổi"], "giấy phép lái xe", "Giấy phép lái xe"),
                subject(&["Cấp", "Cấp lại"], "giấy phép kinh doanh vận tải bằng xe ô tô", "Giấy phép kinh doanh vận tải bằng xe ô tô"),
            ]},
            Field { code: "G13-GT05", name: "Đường thủy nội địa", subjects: &[
                subject(&["Đăng ký lần đầu", "Đăng ký lại", "Xóa đăng ký"], "phương tiện thủy nội địa", "Giấy chứng nhận đăng ký phương tiện thủy nội địa"),
                subject(&["Công bố hoạt động", "Công bố đóng"], "bến thủy nội địa", "Quyết định công bố"),
            ]},
            Field { code: "G13-GT09", name: "Đăng kiểm", subjects: &[
                subject(&["Cấp", "Cấp lại"], "giấy chứng nhận đủ điều kiện hoạt động kiểm định xe cơ giới", "Giấy chứng nhận đủ điều kiện hoạt động kiểm định xe cơ giới"),
                subject(&["Cấp"], "giấy chứng nhận chất lượng, an toàn kỹ thuật xe cơ giới cải tạo", "Giấy chứng nhận chất lượng xe cải tạo"),
            ]},
        ],
    },
    Ministry {
        code: "G15",
        name: "Bộ Văn hóa, Thể thao và Du lịch",
        abbreviation: "BVHTTDL",
        department: ("000.00.21.H56", "Sở Văn hóa, Thể thao và Du lịch"),
        law: LegalDoc { number: "09/2017/QH14", title: "Luật Du lịch", issuer: "Quốc hội", date: "20170619000000" },
        fields: &[
            Field { code: "G15-VH01", name: "Văn hóa cơ sở", subjects: &[
                subject(&["Cấp", "Cấp lại", "Điều chỉnh"], "giấy phép đủ điều kiện kinh doanh dịch vụ karaoke", "Giấy phép đủ điều kiện kinh doanh dịch vụ karaoke"),
                subject(&["Đăng ký tổ chức", "Thông báo tổ chức"], "lễ hội cấp tỉnh", "Văn bản chấp thuận tổ chức lễ hội"),
            ]},
            Field { code: "G15-VH04", name: "Du lịch", subjects: &[
                subject(&["Cấp", "Cấp đổi", "Cấp lại"], "giấy phép kinh doanh dịch vụ lữ hành nội địa", "Giấy phép kinh doanh dịch vụ lữ hành nội địa"),
                subject(&["Công nhận", "Công nhận lại"], "hạng cơ sở lưu trú du lịch", "Quyết định công nhận hạng cơ sở lưu trú du lịch"),
            ]},
            Field { code: "G15-VH06", name: "Thể dục, thể thao", subjects: &[
                subject(&["Cấp", "Cấp lại"], "giấy chứng nhận đủ điều kiện kinh doanh hoạt động thể thao", "Giấy chứng nhận đủ điều kiện kinh doanh hoạt động thể thao"),
                subject(&["Đăng ký tổ chức"], "giải thi đấu thể thao quần chúng", "Văn bản chấp thuận tổ chức giải"),
            ]},
            Field { code: "G15-VH08", name: "Gia đình", subjects: &[
                subject(&["Cấp", "Cấp lại"], "giấy chứng nhận đăng ký hoạt động cơ sở trợ giúp nạn nhân bạo lực gia đình", "Giấy chứng nhận đăng ký hoạt động"),
                subject(&["Xét tặng"], "danh hiệu Gia đình văn hóa", "Giấy khen Gia đình văn hóa"),
            ]},
        ],
    },
    Ministry {
        code: "G02",
        name: "Bộ Tài chính",
        abbreviation: "BTC",
        department: ("000.00.22.H56", "Sở Tài chính"),
        law: LegalDoc { number: "97/2015/QH13", title: "Luật Phí và lệ phí", issuer: "Quốc hội", date: "20151125000000" },
        fields: &[
            Field { code: "G02-TC03", name: "Quản lý công sản", subjects: &[
                subject(&["Thanh lý", "Điều chuyển", "Bán"], "tài sản công tại cơ quan, tổ chức, đơn vị", "Quyết định xử lý tài sản công"),
            ]},
            Field { code: "G02-TC05", name: "Quản lý giá", subjects: &[
                subject(&["Đăng ký", "Kê khai"], "giá hàng hóa, dịch vụ thuộc danh mục bình ổn giá", "Văn bản tiếp nhận biểu mẫu đăng ký giá"),
            ]},
            Field { code: "G02-TC01", name: "Tài chính ngân sách", subjects: &[
                subject(&["Cấp mã số", "Thay đổi thông tin mã số"], "đơn vị có quan hệ với ngân sách", "Giấy chứng nhận mã số đơn vị có quan hệ với ngân sách"),
            ]},
        ],
    },
    Ministry {
        code: "G06",
        name: "Bộ Nội vụ",
        abbreviation: "BNV",
        department: ("000.00.23.H56", "Sở Nội vụ"),
        law: LegalDoc { number: "02/2016/QH14", title: "Luật Tín ngưỡng, tôn giáo", issuer: "Quốc hội", date: "20161118000000" },
        fields: &[
            Field { code: "G06-NV04", name: "Tín ngưỡng, tôn giáo", subjects: &[
                subject(&["Đăng ký", "Đăng ký thay đổi địa điểm"], "sinh hoạt tôn giáo tập trung", "Văn bản chấp thuận đăng ký"),
                subject(&["Thông báo tổ chức", "Đề nghị tổ chức"], "lễ hội tín ngưỡng", "Văn bản chấp thuận"),
            ]},
            Field { code: "G06-NV02", name: "Thi đua, khen thưởng", subjects: &[
                subject(&["Tặng", "Tặng theo đợt hoặc chuyên đề"], "Bằng khen của Chủ tịch Ủy ban nhân dân tỉnh", "Bằng khen của Chủ tịch Ủy ban nhân dân tỉnh"),
                subject(&["Tặng"], "Giấy khen của Chủ tịch Ủy ban nhân dân cấp xã", "Giấy khen"),
            ]},
            Field { code: "G06-NV07", name: "Công chức, viên chức", subjects: &[
                subject(&["Thi tuyển", "Xét tuyển"], "viên chức", "Quyết định tuyển dụng"),
                subject(&["Xét chuyển", "Tiếp nhận vào làm"], "công chức", "Quyết định tiếp nhận"),
            ]},
            Field { code: "G06-NV09", name: "Tổ chức phi chính phủ", subjects: &[
                subject(&["Công nhận ban vận động thành lập", "Phê duyệt điều lệ", "Cho phép giải thể"], "hội", "Quyết định của Chủ tịch Ủy ban nhân dân tỉnh"),
                subject(&["Cấp giấy phép thành lập", "Công nhận điều lệ"], "quỹ xã hội, quỹ từ thiện", "Quyết định cấp giấy phép thành lập"),
            ]},
        ],
    },
];

/// Decrees and circulars that many procedures cite after their ministry's law.
pub(super) const COMMON_LEGAL: &[LegalDoc] = &[
    LegalDoc { number: "61/2018/NĐ-CP", title: "Nghị định về thực hiện cơ chế một cửa, một cửa liên thông trong giải quyết thủ tục hành chính", issuer: "Chính phủ", date: "20180423000000" },
    LegalDoc { number: "107/2021/NĐ-CP", title: "Nghị định sửa đổi, bổ sung một số điều của Nghị định số 61/2018/NĐ-CP", issuer: "Chính phủ", date: "20211206000000" },
    LegalDoc { number: "45/2020/NĐ-CP", title: "Nghị định về thực hiện thủ tục hành chính trên môi trường điện tử", issuer: "Chính phủ", date: "20200408000000" },
    LegalDoc { number: "85/2019/TT-BTC", title: "Thông tư hướng dẫn về phí và lệ phí thuộc thẩm quyền quyết định của Hội đồng nhân dân tỉnh, thành phố trực thuộc trung ương", issuer: "Bộ Tài chính", date: "20191129000000" },
    LegalDoc { number: "01/2023/TT-VPCP", title: "Thông tư quy định một số nội dung và biện pháp thi hành trong số hóa hồ sơ, kết quả giải quyết thủ tục hành chính", issuer: "Văn phòng Chính phủ", date: "20230405000000" },
    LegalDoc { number: "15/2024/NQ-HĐND", title: "Nghị quyết quy định mức thu, miễn, giảm, quản lý và sử dụng phí, lệ phí trên địa bàn tỉnh", issuer: "Hội đồng nhân dân tỉnh", date: "20240712000000" },
];

/// Documents an application may need besides its form, in the portal's wording.
pub(super) const DOCUMENTS: &[&str] = &[
    "Bản sao Căn cước hoặc Căn cước công dân của người đề nghị (trường hợp không khai thác được dữ liệu từ Cơ sở dữ liệu quốc gia về dân cư)",
    "Văn bản ủy quyền theo quy định của pháp luật (trường hợp nộp hồ sơ thông qua người được ủy quyền)",
    "Bản sao Giấy chứng nhận đăng ký doanh nghiệp hoặc Quyết định thành lập tổ chức",
    "Bản thuyết minh về cơ sở vật chất, trang thiết bị bảo đảm điều kiện hoạt động",
    "Danh sách nhân sự kèm bản sao văn bằng, chứng chỉ chuyên môn",
    "Giấy xác nhận của Ủy ban nhân dân cấp xã nơi cư trú",
    "Sơ đồ vị trí, mặt bằng khu vực thực hiện",
    "Báo cáo kết quả hoạt động trong thời gian được cấp phép",
    "Bản sao Giấy chứng nhận quyền sử dụng đất hoặc hợp đồng thuê địa điểm",
    "Phương án bảo đảm an toàn, phòng cháy và chữa cháy",
    "Ảnh chân dung cỡ 4x6 cm chụp không quá 06 tháng",
    "Giấy khám sức khỏe do cơ sở khám bệnh, chữa bệnh có thẩm quyền cấp",
    "Bản cam kết thực hiện đúng các quy định của pháp luật (theo mẫu)",
    "Bản khai thông tin nhân thân (theo mẫu)",
    "Bản sao các giấy tờ chứng minh thuộc đối tượng được hưởng chính sách",
    "Biên lai hoặc chứng từ nộp phí, lệ phí (trường hợp đã nộp trước)",
];

/// How a dossier's cases (`TRUONGHOP` of `THANHPHANHOSO`) are told apart.
pub(super) const CASES: &[&str] = &[
    "Trường hợp cá nhân đề nghị",
    "Trường hợp tổ chức đề nghị",
    "Trường hợp nộp hồ sơ thông qua người được ủy quyền",
    "Trường hợp có yếu tố nước ngoài",
    "Trường hợp đề nghị lần đầu",
    "Trường hợp đã được giải quyết trước đó và đề nghị lại",
];

/// Conditions (`YEUCAU`) some procedures carry.
pub(super) const CONDITIONS: &[&str] = &[
    "Người đề nghị có đủ năng lực hành vi dân sự theo quy định của pháp luật.",
    "Cơ sở có địa điểm, diện tích, trang thiết bị phù hợp với quy mô hoạt động.",
    "Không thuộc trường hợp đang bị đình chỉ, tạm đình chỉ hoặc bị thu hồi giấy phép.",
    "Bảo đảm các điều kiện về phòng cháy, chữa cháy và bảo vệ môi trường theo quy định.",
    "Có đội ngũ nhân sự đáp ứng tiêu chuẩn chuyên môn theo quy định.",
];

/// Who may apply (`DOITUONGTHUCHIEN`): (`MADOITUONG`, `TENDOITUONG`).
pub(super) const APPLICANTS: &[(&str, &str)] = &[
    ("1", "Công dân Việt Nam"),
    ("2", "Doanh nghiệp"),
    ("3", "Tổ chức (không bao gồm doanh nghiệp, hợp tác xã)"),
    ("4", "Hợp tác xã"),
    ("5", "Người Việt Nam định cư ở nước ngoài"),
    ("6", "Người nước ngoài"),
    ("7", "Cơ quan nhà nước"),
];

/// Commune-level agencies the simulated catalog names: (`MADONVI`, `TENDONVI`).
pub(super) const COMMUNES: &[(&str, &str)] = &[
    ("000.00.56.H56", "Ủy ban nhân dân xã Quảng Phú"),
    ("000.00.57.H56", "Ủy ban nhân dân xã Quảng Thọ"),
    ("000.00.58.H56", "Ủy ban nhân dân phường Hàm Rồng"),
    ("000.00.59.H56", "Ủy ban nhân dân xã Đông Tiến"),
    ("000.00.60.H56", "Ủy ban nhân dân phường Nguyệt Viên"),
    ("000.00.61.H56", "Ủy ban nhân dân xã Hoằng Thịnh"),
];

/// The province's people's committee.
pub(super) const PROVINCE: (&str, &str) = ("000.00.01.H56", "Ủy ban nhân dân tỉnh");
