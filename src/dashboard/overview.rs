//! The overview (`/ui/overview`, where `/ui` and a login lead): one verdict (the province is in
//! sync, or why not), per peer and destination the backlog, the age of its oldest pending
//! message, dead letters, breaker and pauses (with pause and resume); the quarantine, the
//! sources' health and lag, the catalog's last pull and its subscribers behind, postal alerts;
//! and a chart of messages delivered and failed per minute over the last hour, drawn here as
//! inline SVG. `/ui/overview.json` gives the same figures with the live part rendered again,
//! which `/ui/overview.js` (served from the binary) polls to refresh the page.
//!
//! Every figure comes from small tables or partial indexes (`outbox_backlog` over undelivered
//! messages, `delivery_minutes`, `destination_health`, `outbox_pauses`): the page never reads
//! the delivered history, so it stays fast with millions of messages in the store.

use axum::extract::{Query, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::{Form, Json};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use super::i18n::Lang;
use super::{frame, guard, refused, DashboardState};
use crate::outbox::BreakerState;
use crate::store::{now_ms, Pause, ALL_DESTINATIONS};

/// A pending message older than this puts the province out of sync.
pub const BACKLOG_AGE_LIMIT_MS: i64 = 15 * 60 * 1000;
/// The chart's span.
const CHART_MINUTES: i64 = 60;

/// Why the province is not in sync: a word's key and the figures or names it is about.
#[derive(Debug, Clone, Serialize)]
pub struct Reason {
    pub key: &'static str,
    pub detail: String,
}

/// One destination of a peer (`""` for a peer with one).
#[derive(Debug, Clone, Serialize)]
pub struct DestinationView {
    pub peer: String,
    pub destination: String,
    pub pending: i64,
    pub inflight: i64,
    pub dead: i64,
    pub oldest_pending_ms: Option<i64>,
    /// Seconds since the oldest pending message was queued.
    pub oldest_age_s: Option<i64>,
    /// `closed`, `open`, `half_open`, or `""` when this instance has not sent to it.
    pub breaker: &'static str,
    /// It refused our credentials (the lane holds it until its config changes).
    pub credentials_refused: Option<String>,
    pub last_error: Option<String>,
    pub failing_since_ms: Option<i64>,
    /// The operator's pause that holds it (its own, or its peer's).
    pub paused: Option<Pause>,
}

/// One minute of the chart, every peer together.
#[derive(Debug, Clone, Serialize)]
pub struct Minute {
    pub minute_ms: i64,
    pub delivered: i64,
    pub failed: i64,
}

/// The catalog's last pull and its subscribers.
#[derive(Debug, Clone, Serialize)]
pub struct CatalogView {
    pub pull_state: Option<String>,
    pub pull_finished_ms: Option<i64>,
    pub pull_started_ms: Option<i64>,
    pub last_published_ms: Option<i64>,
    /// The latest published version (`seq`).
    pub version: i64,
    pub in_force: i64,
    pub subscribers: usize,
    pub behind: usize,
    pub failing: usize,
    pub paused: usize,
}

/// Everything the overview shows.
#[derive(Debug, Clone, Serialize)]
pub struct Overview {
    pub in_sync: bool,
    pub reasons: Vec<Reason>,
    pub generated_ms: i64,
    pub destinations: Vec<DestinationView>,
    pub pauses: Vec<Pause>,
    pub pending: i64,
    pub dead: i64,
    pub quarantined: i64,
    pub sources: Vec<crate::source::status::SourceView>,
    pub catalog: Option<CatalogView>,
    pub postal: Option<crate::store::PostalCounts>,
    pub chart: Vec<Minute>,
}

fn breaker_word(state: BreakerState) -> &'static str {
    match state {
        BreakerState::Closed => "closed",
        BreakerState::Open => "open",
        BreakerState::HalfOpen => "half_open",
    }
}

/// Reads the overview's figures (see the module's comment for what each comes from).
pub async fn gather(st: &DashboardState, now: i64) -> Result<Overview, String> {
    let store = &*st.store;
    let pauses = store.pauses().await.map_err(|e| e.to_string())?;
    let mut destinations = Vec::new();
    // Every family: one not configured here still shows while it has messages, health rows
    // or a pause (each read is an index probe, empty for a family never used).
    for peer in crate::peer::registry::FAMILIES.iter().map(|f| f.name) {
        let peer = &peer.to_string();
        let backlog = store
            .destination_backlog(peer)
            .await
            .map_err(|e| e.to_string())?;
        let health = store
            .destination_health(peer)
            .await
            .map_err(|e| e.to_string())?;
        let mut names: Vec<String> = backlog.iter().map(|b| b.destination.clone()).collect();
        names.extend(health.iter().map(|h| h.destination.clone()));
        names.extend(
            pauses
                .iter()
                .filter(|p| &p.peer == peer && p.destination != ALL_DESTINATIONS)
                .map(|p| p.destination.clone()),
        );
        names.sort();
        names.dedup();
        let configured = st.peers.iter().any(|p| p == peer);
        let whole_paused = pauses.iter().any(|p| p.covers(peer, ""));
        if names.is_empty() {
            if !configured && !whole_paused {
                continue;
            }
            // Nothing queued nor sent yet: the peer still has its row (and its pause button).
            names.push(String::new());
        }
        let lane = st.lanes.iter().find(|l| l.peer_name() == peer);
        for name in names {
            let b = backlog.iter().find(|b| b.destination == name);
            let h = health.iter().find(|h| h.destination == name);
            let paused = pauses
                .iter()
                .find(|p| &p.peer == peer && p.destination == name)
                .or_else(|| pauses.iter().find(|p| p.covers(peer, &name)))
                .cloned();
            let oldest = b.and_then(|b| b.oldest_pending_ms);
            destinations.push(DestinationView {
                peer: peer.clone(),
                destination: name.clone(),
                pending: b.map_or(0, |b| b.pending),
                inflight: b.map_or(0, |b| b.inflight),
                dead: b.map_or(0, |b| b.dead),
                oldest_pending_ms: oldest,
                oldest_age_s: oldest.map(|t| (now - t).max(0) / 1000),
                breaker: lane
                    .and_then(|l| l.destination_state(&name))
                    .map_or("", |(s, _)| breaker_word(s)),
                credentials_refused: h.and_then(|h| h.paused_reason.clone()),
                last_error: h.and_then(|h| h.failing_since_ms.and(h.last_error.clone())),
                failing_since_ms: h.and_then(|h| h.failing_since_ms),
                paused,
            });
        }
    }
    let quarantined = store.quarantine_count().await.map_err(|e| e.to_string())?;
    let sources = crate::source::status::overview(store, &st.sources)
        .await
        .map_err(|e| e.to_string())?;
    let catalog = match &st.catalog {
        Some(c) => {
            let snap = c.snapshot().await.map_err(|e| e.to_string())?;
            let (_, pulls) = c.overview().await.map_err(|e| e.to_string())?;
            let last = pulls.first();
            // Not shown where the catalog is not used (no pull, no subscriber).
            (last.is_some() || !snap.subscribers.is_empty()).then(|| CatalogView {
                pull_state: last.map(|p| p.state.clone()),
                pull_finished_ms: last.and_then(|p| p.finished_at),
                pull_started_ms: last.map(|p| p.started_at),
                last_published_ms: snap.last_published_ms,
                version: snap.counts.last_seq,
                in_force: snap.counts.in_force,
                subscribers: snap.subscribers.len(),
                behind: snap.subscribers.iter().filter(|s| s.behind > 0).count(),
                failing: snap
                    .subscribers
                    .iter()
                    .filter(|s| s.failing_since_ms.is_some())
                    .count(),
                paused: snap.subscribers.iter().filter(|s| s.paused).count(),
            })
        }
        None => None,
    };
    let postal = match &st.postal {
        Some(p) if p.is_configured() => Some(p.counts().await.map_err(|e| e.to_string())?),
        _ => None,
    };
    let since = now - CHART_MINUTES * 60_000;
    let minutes = store
        .delivery_minutes(since)
        .await
        .map_err(|e| e.to_string())?;
    let chart = chart_minutes(&minutes, now);
    let mut o = Overview {
        in_sync: false,
        reasons: Vec::new(),
        generated_ms: now,
        pending: destinations.iter().map(|d| d.pending + d.inflight).sum(),
        dead: destinations.iter().map(|d| d.dead).sum(),
        destinations,
        pauses,
        quarantined,
        sources,
        catalog,
        postal,
        chart,
    };
    o.reasons = reasons(&o);
    o.in_sync = o.reasons.is_empty();
    Ok(o)
}

/// The last [`CHART_MINUTES`] minutes up to `now`, each peer summed, minutes without a row 0.
fn chart_minutes(rows: &[crate::store::MinuteCount], now: i64) -> Vec<Minute> {
    let last = now - now.rem_euclid(60_000);
    (0..CHART_MINUTES)
        .rev()
        .map(|i| {
            let minute_ms = last - i * 60_000;
            let here = rows.iter().filter(|r| r.minute_ms == minute_ms);
            Minute {
                minute_ms,
                delivered: here.clone().map(|r| r.delivered).sum(),
                failed: here.map(|r| r.failed).sum(),
            }
        })
        .collect()
}

/// Why the province is not in sync; empty when it is.
pub fn reasons(o: &Overview) -> Vec<Reason> {
    let mut out = Vec::new();
    let named = |ds: Vec<&DestinationView>| -> String {
        let mut names: Vec<String> = ds
            .iter()
            .map(|d| match d.destination.as_str() {
                "" => d.peer.clone(),
                x => format!("{}/{x}", d.peer),
            })
            .collect();
        names.dedup();
        names.join(", ")
    };
    if o.dead > 0 {
        let ds = o.destinations.iter().filter(|d| d.dead > 0).collect();
        out.push(Reason {
            key: "why_dead",
            detail: format!("{} ({})", o.dead, named(ds)),
        });
    }
    if !o.pauses.is_empty() {
        let names: Vec<String> = o
            .pauses
            .iter()
            .map(|p| match p.destination.as_str() {
                ALL_DESTINATIONS => p.peer.clone(),
                d => format!("{}/{d}", p.peer),
            })
            .collect();
        out.push(Reason {
            key: "why_paused",
            detail: names.join(", "),
        });
    }
    let refused: Vec<&DestinationView> = o
        .destinations
        .iter()
        .filter(|d| d.credentials_refused.is_some())
        .collect();
    if !refused.is_empty() {
        out.push(Reason {
            key: "why_credentials",
            detail: named(refused),
        });
    }
    let open: Vec<&DestinationView> = o
        .destinations
        .iter()
        .filter(|d| d.breaker == "open" || d.breaker == "half_open")
        .collect();
    if !open.is_empty() {
        out.push(Reason {
            key: "why_breaker",
            detail: named(open),
        });
    }
    let old: Vec<&DestinationView> = o
        .destinations
        .iter()
        .filter(|d| {
            d.oldest_pending_ms
                .is_some_and(|t| o.generated_ms - t > BACKLOG_AGE_LIMIT_MS)
        })
        .collect();
    if !old.is_empty() {
        out.push(Reason {
            key: "why_old_backlog",
            detail: named(old),
        });
    }
    if o.quarantined > 0 {
        out.push(Reason {
            key: "why_quarantine",
            detail: o.quarantined.to_string(),
        });
    }
    let down: Vec<String> = o
        .sources
        .iter()
        .filter(|s| s.unhealthy())
        .map(|s| s.source.clone())
        .collect();
    if !down.is_empty() {
        out.push(Reason {
            key: "why_sources",
            detail: down.join(", "),
        });
    }
    if let Some(c) = &o.catalog {
        if matches!(c.pull_state.as_deref(), Some("held") | Some("abandoned")) {
            out.push(Reason {
                key: "why_catalog_pull",
                detail: c.pull_state.clone().unwrap_or_default(),
            });
        }
        if c.failing > 0 || c.paused > 0 {
            out.push(Reason {
                key: "why_subscribers",
                detail: (c.failing.max(c.paused)).to_string(),
            });
        }
    }
    if let Some(p) = &o.postal {
        if p.alerts > 0 {
            out.push(Reason {
                key: "why_postal",
                detail: p.alerts.to_string(),
            });
        }
    }
    out
}

/// The chart as inline SVG: delivered (green) and failed (red) per minute. Numbers and the
/// given (escaped) labels only.
pub fn chart_svg(chart: &[Minute], delivered_label: &str, failed_label: &str) -> String {
    let (w, h, left, bottom) = (720.0_f64, 180.0_f64, 40.0_f64, 20.0_f64);
    let max = chart
        .iter()
        .map(|m| m.delivered.max(m.failed))
        .max()
        .unwrap_or(0)
        .max(1);
    let n = chart.len().max(2) as f64;
    let x = |i: usize| left + (w - left - 10.0) * i as f64 / (n - 1.0);
    let y = |v: i64| (h - bottom) - (h - bottom - 10.0) * v as f64 / max as f64;
    let line = |f: &dyn Fn(&Minute) -> i64| -> String {
        chart
            .iter()
            .enumerate()
            .map(|(i, m)| format!("{:.1},{:.1}", x(i), y(f(m))))
            .collect::<Vec<_>>()
            .join(" ")
    };
    let esc = |s: &str| {
        s.replace('&', "&amp;")
            .replace('<', "&lt;")
            .replace('>', "&gt;")
    };
    let delivered: i64 = chart.iter().map(|m| m.delivered).sum();
    let failed: i64 = chart.iter().map(|m| m.failed).sum();
    format!(
        r##"<svg id="chart-svg" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {w} {h}" width="{w}" height="{h}" role="img" data-delivered="{delivered}" data-failed="{failed}">
<rect x="0" y="0" width="{w}" height="{h}" fill="#fff"/>
<line x1="{left}" y1="{b}" x2="{r}" y2="{b}" stroke="#8a94a3"/>
<line x1="{left}" y1="10" x2="{left}" y2="{b}" stroke="#8a94a3"/>
<text x="{lt}" y="16" font-size="11" text-anchor="end">{max}</text>
<text x="{lt}" y="{b}" font-size="11" text-anchor="end">0</text>
<text x="{left}" y="{h2}" font-size="11">−{span} min</text>
<text x="{r}" y="{h2}" font-size="11" text-anchor="end">0</text>
<polyline fill="none" stroke="#176f2c" stroke-width="2" points="{dl}"/>
<polyline fill="none" stroke="#a40e26" stroke-width="2" points="{fl}"/>
<text x="{l2}" y="16" font-size="12" fill="#176f2c">{dlab}: {delivered}</text>
<text x="{l3}" y="16" font-size="12" fill="#a40e26">{flab}: {failed}</text>
</svg>"##,
        b = h - bottom,
        r = w - 10.0,
        lt = left - 4.0,
        h2 = h - 4.0,
        span = CHART_MINUTES,
        dl = line(&|m| m.delivered),
        fl = line(&|m| m.failed),
        l2 = left + 10.0,
        l3 = left + 250.0,
        dlab = esc(delivered_label),
        flab = esc(failed_label),
    )
}

#[derive(Deserialize, Default)]
pub(super) struct OverviewQuery {
    lang: Option<String>,
}

/// The page's context: the frame, the figures and the chart.
fn context(
    lang: Lang,
    csrf: &str,
    query: &str,
    o: &Overview,
    message: Option<String>,
) -> serde_json::Map<String, Value> {
    let t = lang.words();
    let mut ctx = frame(lang, "overview", csrf, query);
    ctx.insert("title".into(), json!(t["overview"]));
    ctx.insert("o".into(), json!(o));
    ctx.insert(
        "chart".into(),
        json!(chart_svg(&o.chart, t["delivered"], t["failed"])),
    );
    ctx.insert("message".into(), json!(message));
    ctx
}

async fn page(st: &DashboardState, lang: Lang, csrf: &str, message: Option<String>) -> Response {
    let o = match gather(st, now_ms()).await {
        Ok(o) => o,
        Err(e) => return (StatusCode::SERVICE_UNAVAILABLE, e).into_response(),
    };
    let ctx = context(lang, csrf, &format!("lang={}", lang.code()), &o, message);
    st.render("overview.html", Value::Object(ctx))
}

pub(super) async fn overview(
    State(st): State<DashboardState>,
    headers: HeaderMap,
    Query(q): Query<OverviewQuery>,
) -> Response {
    let lang = Lang::parse(q.lang.as_deref());
    match guard(&st, &headers, lang) {
        Ok(csrf) => page(&st, lang, &csrf, None).await,
        Err(r) => *r,
    }
}

/// `/ui/overview.json`: the figures, and the page's live part rendered again (`html`).
pub(super) async fn overview_json(
    State(st): State<DashboardState>,
    headers: HeaderMap,
    Query(q): Query<OverviewQuery>,
) -> Response {
    let lang = Lang::parse(q.lang.as_deref());
    let csrf = match st.session(&headers) {
        Some(c) if !st.operators.is_empty() => c,
        _ => {
            return (
                StatusCode::UNAUTHORIZED,
                Json(json!({ "error": "log in at /ui/login" })),
            )
                .into_response()
        }
    };
    let o = match gather(&st, now_ms()).await {
        Ok(o) => o,
        Err(e) => {
            return (StatusCode::SERVICE_UNAVAILABLE, Json(json!({ "error": e }))).into_response()
        }
    };
    let ctx = context(lang, &csrf, &format!("lang={}", lang.code()), &o, None);
    let html = match st.render_string("overview_live.html", Value::Object(ctx)) {
        Ok(h) => h,
        Err(r) => return *r,
    };
    let mut r = Json(json!({ "overview": o, "html": html })).into_response();
    r.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    r
}

/// The script that refreshes the live part every 10 seconds, while the tab is visible.
pub(super) async fn script() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/javascript; charset=utf-8"),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        include_str!("templates/overview.js"),
    )
        .into_response()
}

/// The overview's form: `pause` (with a reason) or `resume` a peer (`destination` empty) or one
/// of its destinations.
#[derive(Deserialize)]
pub(super) struct PauseForm {
    csrf: String,
    action: String,
    peer: String,
    #[serde(default)]
    destination: String,
    #[serde(default)]
    reason: String,
}

pub(super) async fn action(
    State(st): State<DashboardState>,
    headers: HeaderMap,
    Query(q): Query<OverviewQuery>,
    form: Result<Form<PauseForm>, axum::extract::rejection::FormRejection>,
) -> Response {
    let lang = Lang::parse(q.lang.as_deref());
    let Ok(Form(f)) = form else {
        return (
            StatusCode::BAD_REQUEST,
            "expected csrf, action, peer, destination, reason",
        )
            .into_response();
    };
    let login = match super::acting(
        &st,
        &headers,
        lang,
        &f.csrf,
        if f.action == "resume" {
            "outbox.resume"
        } else {
            "outbox.pause"
        },
    )
    .await
    {
        Ok(l) => l,
        Err(r) => return *r,
    };
    let csrf = login.csrf.clone();
    let t = lang.words();
    let destination = Some(f.destination.as_str()).filter(|d| !d.is_empty());
    let what = match destination {
        Some(d) => format!("{}/{d}", f.peer),
        None => f.peer.clone(),
    };
    let done = match f.action.as_str() {
        "pause" => crate::operator::pause(
            &*st.store,
            &f.peer,
            destination,
            f.reason.trim(),
            &login.who.name,
        )
        .await
        .map(|changed| {
            if changed {
                (format!("{} {what}", t["paused_now"]), "ok")
            } else {
                (
                    format!("{what}: {}", t["paused_already"]),
                    "ok: already paused",
                )
            }
        }),
        "resume" => crate::operator::resume(
            &*st.store,
            &f.peer,
            destination,
            &login.who.name,
            st.wake.as_deref(),
        )
        .await
        .map(|changed| {
            if changed {
                (format!("{} {what}", t["resumed_now"]), "ok")
            } else {
                (format!("{what}: {}", t["not_paused"]), "ok: not paused")
            }
        }),
        _ => return (StatusCode::BAD_REQUEST, "action: pause or resume").into_response(),
    };
    let (message, outcome) = match done {
        Ok((m, outcome)) => (m, outcome.to_string()),
        Err(crate::operator::PauseError::Store(e)) => {
            return (StatusCode::SERVICE_UNAVAILABLE, e.to_string()).into_response()
        }
        Err(e) => (e.to_string(), refused(&e)),
    };
    st.audit(
        &login.who,
        if f.action == "resume" {
            "outbox.resume"
        } else {
            "outbox.pause"
        },
        json!({ "peer": f.peer, "destination": destination }),
        &outcome,
    )
    .await;
    page(&st, lang, &csrf, Some(message)).await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dest(dead: i64, oldest: Option<i64>) -> DestinationView {
        DestinationView {
            peer: "dvcqg".into(),
            destination: String::new(),
            pending: 1,
            inflight: 0,
            dead,
            oldest_pending_ms: oldest,
            oldest_age_s: None,
            breaker: "closed",
            credentials_refused: None,
            last_error: None,
            failing_since_ms: None,
            paused: None,
        }
    }

    fn overview(destinations: Vec<DestinationView>) -> Overview {
        Overview {
            in_sync: false,
            reasons: Vec::new(),
            generated_ms: 10 * BACKLOG_AGE_LIMIT_MS,
            pending: 0,
            dead: destinations.iter().map(|d| d.dead).sum(),
            destinations,
            pauses: Vec::new(),
            quarantined: 0,
            sources: Vec::new(),
            catalog: None,
            postal: None,
            chart: Vec::new(),
        }
    }

    #[test]
    fn in_sync_until_a_dead_letter_or_an_old_backlog() {
        let now = 10 * BACKLOG_AGE_LIMIT_MS;
        assert!(reasons(&overview(vec![dest(0, Some(now - 1000))])).is_empty());
        let dead = reasons(&overview(vec![dest(2, None)]));
        assert_eq!(dead.len(), 1);
        assert_eq!(dead[0].key, "why_dead");
        assert_eq!(dead[0].detail, "2 (dvcqg)");
        let old = reasons(&overview(vec![dest(
            0,
            Some(now - BACKLOG_AGE_LIMIT_MS - 1),
        )]));
        assert_eq!(old[0].key, "why_old_backlog");
        // At the limit exactly, still in sync.
        assert!(reasons(&overview(vec![dest(0, Some(now - BACKLOG_AGE_LIMIT_MS))])).is_empty());
    }

    #[test]
    fn chart_has_every_minute_of_the_hour_summed_over_peers() {
        let now = 1_000 * 60_000 + 5_000;
        let row = |m: i64, peer: &str, d: i64, f: i64| crate::store::MinuteCount {
            minute_ms: m * 60_000,
            peer: peer.into(),
            delivered: d,
            failed: f,
        };
        let chart = chart_minutes(
            &[
                row(1_000, "a", 3, 1),
                row(1_000, "b", 4, 0),
                row(990, "a", 2, 2),
            ],
            now,
        );
        assert_eq!(chart.len(), 60);
        let last = chart.last().unwrap();
        assert_eq!(
            (last.minute_ms, last.delivered, last.failed),
            (1_000 * 60_000, 7, 1)
        );
        let m990 = chart.iter().find(|m| m.minute_ms == 990 * 60_000).unwrap();
        assert_eq!((m990.delivered, m990.failed), (2, 2));
        assert_eq!(chart.iter().map(|m| m.delivered).sum::<i64>(), 9);
        let svg = chart_svg(&chart, "Delivered <ok>", "Failed");
        assert!(svg.contains(r#"data-delivered="9""#));
        assert!(svg.contains(r#"data-failed="3""#));
        assert!(svg.contains("Delivered &lt;ok&gt;: 9"));
    }
}
