//! The simulated portal's procedure catalog, built once from `fixtures/procedures.json` (the
//! procedure codes the demo and tests know). Procedure objects are made up but shaped like the
//! portal's (dvcqg.md, "Catalog reads"), so catalog code downstream has something real to chew.

use std::collections::{BTreeMap, HashMap};
use std::sync::OnceLock;

use serde::Deserialize;
use serde_json::{json, Value};

const PROCEDURES: &str = include_str!("../../fixtures/procedures.json");

#[derive(Debug, Deserialize)]
struct ProcedureRow {
    #[serde(rename = "MaTTHC")]
    ma_tthc: String,
    #[serde(rename = "TenTTHC")]
    ten_tthc: String,
    #[serde(rename = "MaLinhVuc", default)]
    ma_linh_vuc: String,
    #[serde(rename = "TenLinhVuc", default)]
    ten_linh_vuc: String,
}

pub(super) struct Catalog {
    rows: Vec<ProcedureRow>,
    by_code: HashMap<String, usize>,
    list: Value,
}

/// The catalog, parsed on first use. A broken fixture is a build defect, not input, so it yields
/// an empty catalog with an error logged rather than a panic in a server task.
pub(super) fn catalog() -> &'static Catalog {
    static CATALOG: OnceLock<Catalog> = OnceLock::new();
    CATALOG.get_or_init(|| {
        let rows: Vec<ProcedureRow> = serde_json::from_str(PROCEDURES).unwrap_or_else(|e| {
            tracing::error!(error = %e, "fixtures/procedures.json cannot be read; empty catalog");
            Vec::new()
        });
        let by_code = rows
            .iter()
            .enumerate()
            .map(|(i, r)| (r.ma_tthc.clone(), i))
            .collect();
        let list = Value::Array(
            rows.iter()
                .map(|r| json!({"MATTHC": r.ma_tthc, "TENTTHC": r.ten_tthc, "TRANGTHAI": "1"}))
                .collect(),
        );
        Catalog {
            rows,
            by_code,
            list,
        }
    })
}

impl Catalog {
    pub(super) fn knows(&self, ma_tthc: &str) -> bool {
        self.by_code.contains_key(ma_tthc)
    }

    /// `LayDanhSachTTHC`: every procedure, in force.
    pub(super) fn list(&self) -> &Value {
        &self.list
    }

    /// `LayThuTuc`: a plausible full procedure object.
    pub(super) fn procedure(&self, ma_tthc: &str) -> Option<Value> {
        let i = *self.by_code.get(ma_tthc)?;
        let r = &self.rows[i];
        let local = ma_tthc.ends_with(".H56");
        let (cap, ten_cap) = if local {
            ("2", "Cấp Tỉnh")
        } else {
            ("4", "Cấp Xã")
        };
        let ma_co_quan_cong_bo = if local {
            "000.00.00.H56"
        } else {
            "000.00.00.G01"
        };
        let kenh: Vec<Value> = ["1", "2", "3"]
            .iter()
            .map(|k| {
                json!({"KENH": k, "THOIGIAN": [{
                    "THOIGIANGIAIQUYET": "10",
                    "DONVITINH": "Ngày làm việc",
                    "MOTA": "Kể từ ngày nhận đủ hồ sơ hợp lệ",
                    "PHILEPHI": []
                }]})
            })
            .collect();
        Some(json!({
            "ID": (148_000 + i).to_string(),
            "MATTHC": r.ma_tthc,
            "TENTTHC": r.ten_tthc,
            "MACOQUANCONGBO": ma_co_quan_cong_bo,
            "LOAITTHC": "1",
            "TRANGTHAI": "1",
            "QUYETDINH": format!("Quyết định công bố thủ tục hành chính {}", r.ma_tthc),
            "MOTADOITUONGTHUCHIEN": "Công dân Việt Nam; tổ chức",
            "DIACHITIEPNHAN": "Bộ phận Một cửa của Ủy ban nhân dân cấp xã hoặc Trung tâm Phục vụ hành chính công tỉnh",
            "YEUCAU": "Không",
            "TUKHOA": r.ten_tthc.to_lowercase(),
            "CAPTHUCHIEN": [{"CAPTHUCHIEN": cap, "TENCAP": ten_cap}],
            "LINHVUCTHUCHIEN": [{"MALINHVUC": r.ma_linh_vuc, "TENLINHVUC": r.ten_linh_vuc}],
            "DOITUONGTHUCHIEN": [{"MADOITUONG": "1", "TENDOITUONG": "Công dân Việt Nam"}],
            "COQUANTHUCHIEN": [{"MADONVI": "000.00.56.H56", "TENDONVI": "Ủy ban nhân dân xã Quảng Phú"}],
            "TRINHTUTHUCHIEN": [{"TRUONGHOP": r.ten_tthc, "TRINHTU": [
                {"TENTRINHTU": "Bước 1: Nộp hồ sơ tại Bộ phận Một cửa, trên Cổng Dịch vụ công quốc gia hoặc qua dịch vụ bưu chính công ích."},
                {"TENTRINHTU": "Bước 2: Tiếp nhận, kiểm tra hồ sơ, hẹn trả kết quả."},
                {"TENTRINHTU": "Bước 3: Giải quyết và trả kết quả."}
            ]}],
            "CACHTHUCTHUCHIEN": kenh,
            "THANHPHANHOSO": [{"TRUONGHOP": r.ten_tthc, "GIAYTO": [{
                "MAGIAYTO": format!("{}-GT01", r.ma_tthc),
                "TENGIAYTO": "Đơn đề nghị (theo mẫu)",
                "SOBANCHINH": "1",
                "SOBANSAO": "0",
                "TENMAUDON": "",
                "URL": ""
            }]}],
            "KETQUATHUCHIEN": [{"MAKETQUA": format!("KQ.{}", r.ma_tthc), "TENKETQUA": r.ten_tthc}],
            "CANCUPHAPLY": [{
                "SOVANBAN": "61/2018/NĐ-CP",
                "TENVANBAN": "Nghị định về thực hiện cơ chế một cửa, một cửa liên thông trong giải quyết thủ tục hành chính",
                "COQUANBANHANH": "Chính phủ",
                "NGAYBANHANH": "20180423000000"
            }]
        }))
    }

    /// `LayDanhMucLinhVuc`: the fields the procedures use.
    pub(super) fn fields(&self) -> Value {
        let mut fields = BTreeMap::new();
        for r in &self.rows {
            if !r.ma_linh_vuc.is_empty() {
                fields.insert(r.ma_linh_vuc.as_str(), r.ten_linh_vuc.as_str());
            }
        }
        Value::Array(
            fields
                .into_iter()
                .map(|(code, name)| {
                    let nganh = code.split('-').next().unwrap_or(code);
                    json!({"MALINHVUC": code, "TENLINHVUC": name, "MANGANH": nganh})
                })
                .collect(),
        )
    }

    /// `LayDanhMucCoQuan`: a handful of agencies of the made-up province H56.
    pub(super) fn agencies(&self) -> Value {
        json!([
            {"MADONVI": "000.00.01.H56", "TENDONVI": "Ủy ban nhân dân tỉnh", "CAPDONVI": "2"},
            {"MADONVI": "000.00.56.H56", "TENDONVI": "Ủy ban nhân dân xã Quảng Phú", "CAPDONVI": "4"},
            {"MADONVI": "000.00.57.H56", "TENDONVI": "Ủy ban nhân dân xã Quảng Thọ", "CAPDONVI": "4"}
        ])
    }
}
