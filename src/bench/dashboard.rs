//! `bench dashboard`: page load times of the outbox browser on a large store. Fills a fresh
//! store with `--messages` messages (the `bench prefill` history: delivered headers, dead
//! headers, steps held behind them), serves the dashboard's router on a local port, logs in,
//! and times `GET`s over real HTTP (the whole answer read) of the unfiltered outbox page, a
//! dossier code, dead messages of one peer, the second page through its cursor, and any
//! `--page` given: median and 95th percentile over `--runs` runs each, after one warm-up.

use std::fmt;
use std::sync::Arc;
use std::time::Instant;

use anyhow::Context;

use crate::admin::roles::Operators;
use crate::dashboard::{router, DashboardState};
use crate::store::OutboxFilter;

#[derive(Debug, Clone, clap::Args)]
pub struct DashboardOptions {
    /// `sqlite` (a temporary file) or a `postgres://` URL (a fresh database on that server,
    /// dropped at the end).
    #[arg(long, default_value = "sqlite")]
    pub store: String,
    /// Messages in the store.
    #[arg(long, default_value_t = 1_000_000)]
    pub messages: u64,
    /// Timed GETs of each page.
    #[arg(long, default_value_t = 20)]
    pub runs: usize,
    /// A further page to time (a path under `/ui`, with its query), repeatable.
    #[arg(long = "page")]
    pub pages: Vec<String>,
    /// Seed of the dossier every message copies.
    #[arg(long, default_value_t = 2026)]
    pub seed: u64,
}

/// One page's times, in milliseconds.
pub struct PageTimes {
    pub name: String,
    pub path: String,
    pub median_ms: f64,
    pub p95_ms: f64,
    pub bytes: usize,
}

pub struct DashboardReport {
    pub backend: &'static str,
    pub messages: u64,
    pub fill_s: f64,
    pub runs: usize,
    pub pages: Vec<PageTimes>,
    pub failed: Vec<String>,
}

impl DashboardReport {
    pub fn complete(&self) -> bool {
        self.failed.is_empty()
    }
}

impl fmt::Display for DashboardReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "lienthong bench dashboard: {} messages on {} (filled in {:.1} s), {} runs per page",
            self.messages, self.backend, self.fill_s, self.runs
        )?;
        writeln!(
            f,
            "  {:<28} {:>10} {:>10} {:>9}  path",
            "page", "median", "p95", "bytes"
        )?;
        for p in &self.pages {
            writeln!(
                f,
                "  {:<28} {:>7.1} ms {:>7.1} ms {:>9}  {}",
                p.name, p.median_ms, p.p95_ms, p.bytes, p.path
            )?;
        }
        for e in &self.failed {
            writeln!(f, "  FAILED: {e}")?;
        }
        Ok(())
    }
}

pub async fn run(opts: &DashboardOptions) -> anyhow::Result<DashboardReport> {
    // The fill writes through a connection of its own, before the store is opened.
    let dir = tempfile::tempdir().context("creating a temporary folder")?;
    let (url, pg_drop) = if opts.store == "sqlite" {
        (
            format!("sqlite://{}", dir.path().join("bench.db").display()),
            None,
        )
    } else if opts.store.starts_with("postgres://") || opts.store.starts_with("postgresql://") {
        let name = format!("lt_bench_{}", uuid::Uuid::new_v4().simple());
        crate::store::prefill::create_database(&opts.store, &name, None).await?;
        let mut url = reqwest::Url::parse(&opts.store).context("the store URL")?;
        url.set_path(&format!("/{name}"));
        (url.to_string(), Some(name))
    } else {
        anyhow::bail!("--store is `sqlite` or a postgres:// URL");
    };
    let spec = super::prefill_spec(opts.messages, opts.seed)?;
    eprintln!("filling the store with {} messages…", opts.messages);
    let started = Instant::now();
    crate::store::prefill::prefill(&url, &spec).await?;
    let fill_s = started.elapsed().as_secs_f64();
    let store = crate::store::open(&url, 8).await?;
    let backend = store.backend();

    // What the filtered pages ask for: a dead header's dossier and peer, and page 1's cursor.
    let dead = OutboxFilter {
        state: Some("dead".into()),
        ..Default::default()
    };
    let one_dead = store
        .browse_messages(&dead, None, 1)
        .await?
        .messages
        .pop()
        .context("the filled store has no dead message")?;
    let first = store
        .browse_messages(&OutboxFilter::default(), None, 50)
        .await?;
    let cursor = first.next.context("an empty store")?;

    let token = uuid::Uuid::new_v4().simple().to_string();
    let reports = Arc::new(crate::report::Reports::new(
        store.clone(),
        crate::report::ReportConfig::default(),
    ));
    let state = DashboardState::new(
        store.clone(),
        Operators::admin_only(Some(token.clone().into())),
        reports,
        None,
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let base = format!("http://{}", listener.local_addr()?);
    let shutdown = tokio_util::sync::CancellationToken::new();
    let stop = shutdown.clone();
    let server = tokio::spawn(async move {
        axum::serve(listener, router(state))
            .with_graceful_shutdown(async move { stop.cancelled().await })
            .await
    });

    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()?;
    let login = http
        .post(format!("{base}/ui/login"))
        .form(&[("token", token.as_str())])
        .send()
        .await?;
    let cookie = login
        .headers()
        .get(reqwest::header::SET_COOKIE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .context("the login set no session cookie")?
        .to_string();

    let mut pages: Vec<(String, String)> = vec![
        ("outbox, unfiltered".into(), "/ui/outbox".into()),
        (
            "outbox, dossier code".into(),
            format!("/ui/outbox?dossier={}", one_dead.dossier),
        ),
        (
            "outbox, dead of one peer".into(),
            format!("/ui/outbox?state=dead&peer={}", one_dead.peer),
        ),
        (
            "outbox, page 2 (cursor)".into(),
            format!("/ui/outbox?before={cursor}"),
        ),
        (
            "message detail".into(),
            format!("/ui/outbox/{}", one_dead.id),
        ),
    ];
    pages.extend(opts.pages.iter().map(|p| (p.clone(), p.clone())));

    let mut report = DashboardReport {
        backend,
        messages: opts.messages,
        fill_s,
        runs: opts.runs,
        pages: Vec::new(),
        failed: Vec::new(),
    };
    for (name, path) in pages {
        let mut times = Vec::with_capacity(opts.runs);
        let mut bytes = 0;
        let mut failed = None;
        for run in 0..=opts.runs {
            let t = Instant::now();
            let resp = http
                .get(format!("{base}{path}"))
                .header(reqwest::header::COOKIE, &cookie)
                .send()
                .await?;
            let status = resp.status();
            let body = resp.bytes().await?;
            let ms = t.elapsed().as_secs_f64() * 1000.0;
            if !status.is_success() {
                failed = Some(format!("{path}: HTTP {status}"));
                break;
            }
            bytes = body.len();
            // The first is a warm-up.
            if run > 0 {
                times.push(ms);
            }
        }
        if let Some(f) = failed {
            report.failed.push(f);
            continue;
        }
        report.pages.push(PageTimes {
            name,
            path,
            median_ms: super::latency::quantile(&mut times, 0.5),
            p95_ms: super::latency::quantile(&mut times, 0.95),
            bytes,
        });
    }
    shutdown.cancel();
    let _ = server.await;
    drop(store);
    if let Some(name) = pg_drop {
        crate::store::prefill::drop_database(&opts.store, &name)
            .await
            .with_context(|| format!("dropping the benchmark database {name}"))?;
    }
    Ok(report)
}
