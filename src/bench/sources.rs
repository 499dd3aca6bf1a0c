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
    /// Export files dropped in a folder for the file-drop part (0: skip it).
    #[arg(long, default_value_t = 1_000)]
    pub files: usize,
    /// Dossier records per file.
    #[arg(long, default_value_t = 50)]
    pub records_per_file: usize,
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
    local_time: Duration,
    seen_time: Duration,
    store_time: Duration,
    rss_before: Option<u64>,
    peak_rss: Option<u64>,
    files: Option<FilesPart>,
}

/// The file-drop part: a folder of export files read in scans.
#[derive(Debug, Default)]
struct FilesPart {
    files: usize,
    records: u64,
    taken: u64,
    time: Duration,
    queued: i64,
    /// Resident memory when the scans began (the generated records dropped), and the peak
    /// during them.
    rss_before: Option<u64>,
    peak_rss: Option<u64>,
}

impl SourcesReport {
    /// Every row read and queued.
    pub fn complete(&self) -> bool {
        self.read as usize == self.rows
            && self.queued >= self.rows as i64
            && self
                .files
                .as_ref()
                .is_none_or(|f| f.taken as usize == f.files && f.queued >= f.records as i64)
    }
}

use crate::sim::local::{HOSO_INT_COLUMNS as INT, HOSO_TEXT_COLUMNS as TEXT};

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
    // The pass's own peak, not the generated table's.
    super::reset_peak_rss();
    let rss_before = super::rss_bytes();
    let started = Instant::now();
    let pass = poller.pass(&source).await?;
    let pass_peak = peak_rss_bytes();
    let pass_time = started.elapsed();
    let queued_after: i64 = store.outbox_counts().await?.iter().map(|c| c.count).sum();
    if kind != "sqlite" {
        let _ = db.execute(&format!("DROP TABLE {}", q(&lephi)), &[]).await;
        let _ = db.execute(&format!("DROP TABLE {}", q(&hoso)), &[]).await;
    }
    let files = if opts.files > 0 {
        Some(files_part(opts, &store, &maps).await?)
    } else {
        None
    };
    Ok(SourcesReport {
        files,
        backend: store.backend().to_string(),
        local: kind.to_string(),
        rows: opts.rows,
        fill: fill_time,
        pass: pass_time,
        read: pass.rows,
        rejected: pass.rejected,
        queued: queued_after - queued_before,
        local_time: pass.local_time,
        seen_time: pass.seen_time,
        store_time: pass.store_time,
        rss_before,
        peak_rss: pass_peak,
    })
}

/// Writes `--files` JSON exports of `--records-per-file` dossiers each into a fresh inbox and
/// reads them with scans of the drop folder until every file is taken.
async fn files_part(
    opts: &SourcesOptions,
    store: &Arc<dyn crate::store::Store>,
    maps: &std::path::Path,
) -> anyhow::Result<FilesPart> {
    let dir = tempfile::tempdir().context("creating a temporary folder")?;
    let inbox = dir.path().join("inbox");
    std::fs::create_dir_all(inbox.join("dossiers"))?;
    let data = crate::sim::local::generate(2027, opts.files * opts.records_per_file, 0);
    for (i, chunk) in data.dossiers.chunks(opts.records_per_file).enumerate() {
        std::fs::write(
            inbox.join("dossiers").join(format!("export-{i:05}.json")),
            serde_json::to_vec(chunk)?,
        )?;
    }
    drop(data);
    // The scans' own peak, not the generated records'.
    super::reset_peak_rss();
    let rss_before = super::rss_bytes();
    let cfg = crate::config::Config::from_toml(&format!(
        r#"
[store]
url = "sqlite://unused"
[[sources]]
name = "bench-files"
dossier_mapping = "{maps}/vendor-a/dossier.toml"
step_mapping = "{maps}/vendor-a/step.toml"
vars = {{ DonViXuLy = "Trung tâm Phục vụ hành chính công tỉnh" }}
[sources.files]
folder = "{inbox}"
stable_seconds = 0
"#,
        maps = maps.display(),
        inbox = inbox.display()
    ))?;
    let routes = Arc::new(Routes::from_config(&cfg.sources, maps)?);
    let folder = crate::source::files::DropFolder::new(
        &cfg.sources[0],
        dir.path(),
        store.clone(),
        routes,
        "bench".into(),
        Arc::new(tokio::sync::Notify::new()),
    )?;
    let before: i64 = store.outbox_counts().await?.iter().map(|c| c.count).sum();
    let started = Instant::now();
    let mut part = FilesPart {
        files: opts.files,
        ..FilesPart::default()
    };
    while (part.taken as usize) < opts.files && started.elapsed() < Duration::from_secs(3600) {
        let scan = folder.scan_once(crate::store::now_ms()).await?;
        part.taken += scan.taken();
        part.records += scan.records;
        if scan.taken() == 0 {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
    part.time = started.elapsed();
    part.queued = store
        .outbox_counts()
        .await?
        .iter()
        .map(|c| c.count)
        .sum::<i64>()
        - before;
    part.peak_rss = peak_rss_bytes();
    part.rss_before = rss_before;
    Ok(part)
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
    // The dossier's key is indexed, as in any local system (children re-read their dossier by it).
    db.execute(
        &format!(
            "CREATE UNIQUE INDEX {} ON {} ({})",
            q(&format!("{hoso}_k")),
            q(hoso),
            q("MaHoSo")
        ),
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
            "  of which: local reads {:.2} s, hash checks {:.2} s, mapping and storing {:.2} s",
            self.local_time.as_secs_f64(),
            self.seen_time.as_secs_f64(),
            self.store_time.as_secs_f64()
        )?;
        writeln!(
            f,
            "  memory (RSS) of the process: {} when the pass began (the generated table already written), peak {} during the pass",
            mib(self.rss_before),
            mib(self.peak_rss)
        )?;
        if let Some(p) = &self.files {
            writeln!(
                f,
                "  file drop: {} JSON files of {} records: {} taken, {} records in {:.2} s = {:.1} files/s, {:.0} records/s; {} messages queued; RSS {} when the scans began, peak {} during them",
                p.files,
                p.records / (p.files.max(1) as u64),
                p.taken,
                p.records,
                p.time.as_secs_f64(),
                p.taken as f64 / p.time.as_secs_f64().max(1e-9),
                p.records as f64 / p.time.as_secs_f64().max(1e-9),
                p.queued,
                mib(p.rss_before),
                mib(p.peak_rss)
            )?;
        }
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
