//! `lienthong bench sources`: SQL polling from a local table of 100,000 dossiers (each with a
//! fee row in a child table) to queued portal messages, in one pass from an empty watermark:
//! rows/s and peak memory. The local database is a temporary SQLite file unless `--local` names
//! a PostgreSQL or MySQL/MariaDB server (a fresh database or tables there).

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use serde_json::Value;

use super::{mib, open_store, peak_rss_bytes, per_sec};
use crate::source::routes::Routes;
use crate::source::sql::config::PollConfig;
use crate::source::sql::db::LocalDb;
use crate::source::sql::value::SqlValue;
use crate::source::sql::{Poller, SqlSource};

#[derive(Debug, Clone, clap::Args)]
pub struct SourcesOptions {
    /// The gateway's store: `sqlite` (a temporary file) or a `postgres://` URL (a fresh
    /// database on that server).
    #[arg(long, default_value = "sqlite")]
    pub store: String,
    /// Start from a copy of this store (see `bench prefill`), to measure with a full store.
    #[arg(long)]
    pub template: Option<String>,
    /// The local database: `sqlite` (a temporary file), or a `postgres://` / `mysql://` URL
    /// of a database the benchmark may create tables in.
    #[arg(long, default_value = "sqlite")]
    pub local: String,
    /// Dossier rows in the local table (each with one fee row).
    #[arg(long, default_value_t = 100_000)]
    pub rows: usize,
    /// Rows per page.
    #[arg(long, default_value_t = 1_000)]
    pub page_size: u32,
}

#[derive(Debug, Default)]
pub struct SourcesReport {
    backend: String,
    local: String,
    rows: usize,
    fill: Duration,
    pass: Duration,
    read: u64,
    rejected: u64,
    queued: i64,
    rss_before: Option<u64>,
    peak_rss: Option<u64>,
}

impl SourcesReport {
    /// Every row read and queued.
    pub fn complete(&self) -> bool {
        self.read as usize == self.rows && self.queued >= self.rows as i64
    }
}

const TEXT: [&str; 20] = [
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
const INT: [&str; 2] = ["NhanKetQuaQuaBuuDien", "CoSoHoa"];

pub async fn run(opts: &SourcesOptions) -> anyhow::Result<SourcesReport> {
    let dir = tempfile::tempdir().context("creating a temporary folder")?;
    let suffix = uuid::Uuid::new_v4().simple().to_string()[..8].to_string();
    let (url, kind) = if opts.local == "sqlite" {
        (
            format!(
                "sqlite://{}?mode=rwc",
                dir.path().join("local.db").display()
            ),
            "sqlite",
        )
    } else if opts.local.starts_with("mysql://") || opts.local.starts_with("mariadb://") {
        (opts.local.clone(), "mysql")
    } else {
        (opts.local.clone(), "postgres")
    };
    let db = LocalDb::connect_lazy(&url, 2)?;
    let (hoso, lephi) = (format!("HoSo_{suffix}"), format!("LePhi_{suffix}"));
    let started = Instant::now();
    fill(&db, kind, &hoso, &lephi, opts.rows).await?;
    let fill_time = started.elapsed();

    let bench_store = open_store(&opts.store, 8, opts.template.as_deref()).await?;
    let store = bench_store.store.clone();
    let queued_before: i64 = store.outbox_counts().await?.iter().map(|c| c.count).sum();
    let maps = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("mappings");
    let cfg: crate::config::Config = crate::config::Config::from_toml(&format!(
        r#"
[store]
url = "sqlite://unused"
[[sources]]
name = "bench"
dossier_mapping = "{maps}/vendor-a/dossier.toml"
step_mapping = "{maps}/vendor-a/step.toml"
vars = {{ DonViXuLy = "Trung tâm Phục vụ hành chính công tỉnh" }}
[sources.poll]
url = "{url}"
"#,
        maps = maps.display()
    ))?;
    let routes = Arc::new(Routes::from_config(&cfg.sources, &maps)?);
    let q = |n: &str| db.quote(n);
    let poll: PollConfig = toml::from_str(&format!(
        r#"
url = "{url}"
page_size = {page}
lag_seconds = 0
overlap_seconds = 0
[dossiers]
query = "SELECT * FROM {hoso}"
watermark = ["CapNhatLuc", "MaHoSo"]
key = ["MaHoSo"]
[[dossiers.children]]
field = "LePhi"
query = "SELECT * FROM {lephi}"
parent_key = "MaHoSo"
watermark = ["CapNhatLuc", "Id"]
"#,
        page = opts.page_size,
        hoso = q(&hoso).replace('"', "\\\""),
        lephi = q(&lephi).replace('"', "\\\""),
    ))?;
    let source = SqlSource::new("bench", &poll)?;
    let poller = Poller::new(
        store.clone(),
        routes,
        "bench".into(),
        Arc::new(tokio::sync::Notify::new()),
    );
    let rss_before = peak_rss_bytes();
    let started = Instant::now();
    let pass = poller.pass(&source).await?;
    let pass_time = started.elapsed();
    let queued_after: i64 = store.outbox_counts().await?.iter().map(|c| c.count).sum();
    if kind != "sqlite" {
        let _ = db.execute(&format!("DROP TABLE {}", q(&lephi)), &[]).await;
        let _ = db.execute(&format!("DROP TABLE {}", q(&hoso)), &[]).await;
    }
    Ok(SourcesReport {
        backend: store.backend().to_string(),
        local: kind.to_string(),
        rows: opts.rows,
        fill: fill_time,
        pass: pass_time,
        read: pass.rows,
        rejected: pass.rejected,
        queued: queued_after - queued_before,
        rss_before,
        peak_rss: peak_rss_bytes(),
    })
}

/// Creates the local tables and fills them with `rows` generated dossiers and a fee each.
async fn fill(
    db: &LocalDb,
    kind: &str,
    hoso: &str,
    lephi: &str,
    rows: usize,
) -> anyhow::Result<()> {
    let q = |n: &str| db.quote(n);
    let ts = match kind {
        "sqlite" => "TEXT",
        "postgres" => "timestamp(3)",
        _ => "DATETIME(3)",
    };
    let mut cols: Vec<String> = TEXT
        .iter()
        .map(|c| format!("{} VARCHAR(255)", q(c)))
        .collect();
    cols.extend(INT.iter().map(|c| format!("{} INTEGER", q(c))));
    cols.push(format!("{} {ts} NOT NULL", q("CapNhatLuc")));
    db.execute(
        &format!("CREATE TABLE {} ({})", q(hoso), cols.join(", ")),
        &[],
    )
    .await?;
    db.execute(
        &format!(
            "CREATE INDEX {} ON {} ({}, {})",
            q(&format!("{hoso}_w")),
            q(hoso),
            q("CapNhatLuc"),
            q("MaHoSo")
        ),
        &[],
    )
    .await?;
    db.execute(
        &format!(
            "CREATE TABLE {} ({} INTEGER NOT NULL, {} VARCHAR(64), {} VARCHAR(32), {} VARCHAR(255), \
             {} INTEGER, {} VARCHAR(8), {} VARCHAR(8), {} {ts} NOT NULL)",
            q(lephi),
            q("Id"),
            q("MaHoSo"),
            q("MaPhi"),
            q("TenPhi"),
            q("SoTien"),
            q("LoaiPhi"),
            q("ThuKhi"),
            q("CapNhatLuc")
        ),
        &[],
    )
    .await?;
    db.execute(
        &format!(
            "CREATE INDEX {} ON {} ({})",
            q(&format!("{lephi}_p")),
            q(lephi),
            q("MaHoSo")
        ),
        &[],
    )
    .await?;
    let data = crate::sim::local::generate(2026, rows, 0);
    let base = chrono::Utc::now().naive_utc() - chrono::Duration::days(1);
    let stamp = |i: usize| {
        let t = base + chrono::Duration::milliseconds(i as i64 * 3);
        if kind == "sqlite" {
            SqlValue::Text(t.format("%Y-%m-%d %H:%M:%S%.3f").to_string())
        } else {
            SqlValue::Local(t)
        }
    };
    let per = 40;
    let names: Vec<String> = TEXT
        .iter()
        .chain(INT.iter())
        .map(|c| q(c))
        .chain([q("CapNhatLuc")])
        .collect();
    let param = |n: usize| db.param(n);
    for (c, chunk) in data.dossiers.chunks(per).enumerate() {
        let mut binds = Vec::with_capacity(chunk.len() * names.len());
        let mut groups = Vec::with_capacity(chunk.len());
        let mut fee_binds = Vec::with_capacity(chunk.len() * 8);
        let mut fee_groups = Vec::with_capacity(chunk.len());
        for (j, d) in chunk.iter().enumerate() {
            let i = c * per + j;
            let start = binds.len();
            for col in TEXT.iter().chain(INT.iter()) {
                binds.push(match &d[*col] {
                    Value::String(s) => SqlValue::Text(s.clone()),
                    Value::Number(n) => SqlValue::Int(n.as_i64().unwrap_or(0)),
                    _ => SqlValue::Null,
                });
            }
            binds.push(stamp(i));
            groups.push(format!(
                "({})",
                (start + 1..=binds.len())
                    .map(param)
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
            let fstart = fee_binds.len();
            fee_binds.extend([
                SqlValue::Int(i as i64),
                d["MaHoSo"]
                    .as_str()
                    .map_or(SqlValue::Null, |s| SqlValue::Text(s.into())),
                SqlValue::Text(format!("PHI-{i}")),
                SqlValue::Text("Lệ phí".into()),
                SqlValue::Int(50_000),
                SqlValue::Text("2".into()),
                SqlValue::Text("1".into()),
                stamp(i),
            ]);
            fee_groups.push(format!(
                "({})",
                (fstart + 1..=fee_binds.len())
                    .map(param)
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
        }
        db.execute(
            &format!(
                "INSERT INTO {} ({}) VALUES {}",
                q(hoso),
                names.join(", "),
                groups.join(", ")
            ),
            &binds,
        )
        .await?;
        db.execute(
            &format!("INSERT INTO {} VALUES {}", q(lephi), fee_groups.join(", ")),
            &fee_binds,
        )
        .await?;
    }
    Ok(())
}

impl fmt::Display for SourcesReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "bench sources: SQL polling, {} local dossier rows (one fee row each) on {} → {} store",
            self.rows, self.local, self.backend
        )?;
        writeln!(
            f,
            "  local table filled in {:.1} s",
            self.fill.as_secs_f64()
        )?;
        writeln!(
            f,
            "  one pass from an empty watermark: {} rows read ({} refused) in {:.2} s = {:.0} rows/s; {} messages queued",
            self.read,
            self.rejected,
            self.pass.as_secs_f64(),
            per_sec(self.read as usize, self.pass),
            self.queued
        )?;
        writeln!(
            f,
            "  peak RSS of the process: {} before the pass, {} at the end",
            mib(self.rss_before),
            mib(self.peak_rss)
        )?;
        writeln!(
            f,
            "  {}",
            if self.complete() {
                "every row read and queued"
            } else {
                "INCOMPLETE: not every row was read and queued"
            }
        )
    }
}
