//! The sources page (each source's ways, health, lag, watermarks and recent files) and the
//! quarantine page (records the mappings refused, their reasons masked; retry and drop per row,
//! and retry of all of one source once its name is typed). The same library calls as
//! `lienthong sources` and `lienthong quarantine ...`; a retry maps with the mapping files
//! configured now, loaded for each request.

use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Form;
use serde::Deserialize;
use serde_json::{json, Value};

use super::i18n::Lang;
use super::{acting, frame, guard, DashboardState};
use crate::mapping::mask_text;
use crate::source::quarantine::{self, Listed, PageError, RetryReport};
use crate::source::status;

/// Records on one quarantine page.
const PAGE: i64 = 100;

#[derive(Deserialize, Default)]
pub(super) struct SourcesQuery {
    lang: Option<String>,
}

pub(super) async fn sources(
    State(st): State<DashboardState>,
    headers: HeaderMap,
    Query(q): Query<SourcesQuery>,
    uri: axum::http::Uri,
) -> Response {
    let lang = Lang::parse(q.lang.as_deref());
    let csrf = match guard(&st, &headers, lang) {
        Ok(c) => c,
        Err(r) => return *r,
    };
    let views = match status::overview(&*st.store, &st.sources).await {
        Ok(v) => v,
        Err(e) => return (StatusCode::SERVICE_UNAVAILABLE, e.to_string()).into_response(),
    };
    let mut ctx = frame(lang, "sources", &csrf, uri.query().unwrap_or(""));
    ctx.insert("title".into(), json!(lang.words()["sources"]));
    ctx.insert("sources".into(), json!(views));
    st.render("sources.html", Value::Object(ctx))
}

#[derive(Deserialize, Default)]
pub(super) struct QuarantineQuery {
    source: Option<String>,
    after: Option<String>,
    lang: Option<String>,
}

/// The quarantine page of `source` (or all) after `after`, with `message` on top.
async fn page(
    st: &DashboardState,
    lang: Lang,
    csrf: &str,
    source: Option<&str>,
    after: Option<&str>,
    message: Option<String>,
) -> Response {
    let (records, message) = match quarantine::page(&*st.store, source, after, PAGE).await {
        Ok(p) => (p, message),
        // The record paged after was retried or dropped meanwhile: the first page.
        Err(PageError::UnknownAfter(_)) => {
            match quarantine::page(&*st.store, source, None, PAGE).await {
                Ok(p) => (p, message),
                Err(e) => return (StatusCode::SERVICE_UNAVAILABLE, e.to_string()).into_response(),
            }
        }
        Err(e) => return (StatusCode::SERVICE_UNAVAILABLE, e.to_string()).into_response(),
    };
    let counts = match st.store.quarantine_counts().await {
        Ok(c) => c,
        Err(e) => return (StatusCode::SERVICE_UNAVAILABLE, e.to_string()).into_response(),
    };
    let records: Vec<Listed> = records.iter().map(Listed::from).collect();
    let next = (records.len() as i64 == PAGE)
        .then(|| records.last().map(|l| l.id.clone()))
        .flatten();
    // Every configured source, and any other with records.
    let mut names: Vec<String> = st.sources.iter().map(|s| s.name.clone()).collect();
    for c in &counts {
        if !names.contains(&c.source) {
            names.push(c.source.clone());
        }
    }
    let sources: Vec<Value> = names
        .iter()
        .map(|n| {
            let records = counts
                .iter()
                .find(|c| &c.source == n)
                .map_or(0, |c| c.records);
            json!({ "name": n, "records": records })
        })
        .collect();
    // Source names are ASCII letters, digits, '-' and '_' (checked in config): anything else
    // is not put in a link.
    let query = match source {
        Some(s)
            if s.chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_') =>
        {
            format!("source={s}")
        }
        _ => String::new(),
    };
    let mut ctx = frame(lang, "quarantine", csrf, &query);
    ctx.insert("title".into(), json!(lang.words()["quarantine"]));
    ctx.insert("records".into(), json!(records));
    ctx.insert("sources".into(), json!(sources));
    ctx.insert("source".into(), json!(source.unwrap_or("")));
    ctx.insert("next".into(), json!(next));
    ctx.insert("message".into(), json!(message));
    st.render("quarantine.html", Value::Object(ctx))
}

pub(super) async fn quarantine_page(
    State(st): State<DashboardState>,
    headers: HeaderMap,
    Query(q): Query<QuarantineQuery>,
) -> Response {
    let lang = Lang::parse(q.lang.as_deref());
    let csrf = match guard(&st, &headers, lang) {
        Ok(c) => c,
        Err(r) => return *r,
    };
    let source = q.source.as_deref().filter(|s| !s.is_empty());
    let after = q.after.as_deref().filter(|s| !s.is_empty());
    page(&st, lang, &csrf, source, after, None).await
}

/// A quarantine page's form: `retry` or `drop` one record (`id`), or `retry_all` of `source`
/// once its name is typed again (`confirm`). Posted to the page itself, so the page answered
/// keeps its links.
#[derive(Deserialize)]
pub(super) struct ActionForm {
    csrf: String,
    action: String,
    #[serde(default)]
    id: String,
    /// The page's source filter (kept), or the source of `retry_all`.
    #[serde(default)]
    source: String,
    #[serde(default)]
    confirm: String,
}

/// What a retry did, in words.
fn said(lang: Lang, r: &RetryReport) -> String {
    let t = lang.words();
    let mut parts = vec![
        format!("{} {}", r.accepted, t["accepted_n"]),
        format!("{} {}", r.refused, t["refused_again_n"]),
    ];
    if r.unknown > 0 {
        parts.push(format!("{} {}", r.unknown, t["gone_n"]));
    }
    if r.no_route > 0 {
        parts.push(format!("{} {}", r.no_route, t["no_route_n"]));
    }
    let mut text = format!("{}: {}.", t["retried"], parts.join(", "));
    for res in r.results.iter().filter(|x| x.error.is_some()).take(5) {
        text.push_str(&format!(
            " {}: {}",
            &res.id,
            res.error.as_deref().unwrap_or_default()
        ));
    }
    text
}

/// Runs `retry` with the routes loaded now, then wakes the lanes if something was queued.
async fn retried<F, Fut>(st: &DashboardState, lang: Lang, retry: F) -> String
where
    F: FnOnce(crate::source::routes::Routes) -> Fut,
    Fut: std::future::Future<Output = Result<RetryReport, crate::store::StoreError>>,
{
    let t = lang.words();
    let Some(load) = st.routes.clone() else {
        return t["mappings_fail"].to_string();
    };
    let routes = match load() {
        Ok(r) => r,
        Err(e) => return format!("{}: {e:#}", t["mappings_fail"]),
    };
    match retry(routes).await {
        Ok(report) => {
            if report.accepted > 0 {
                if let Some(wake) = &st.wake {
                    wake.notify_waiters();
                }
            }
            said(lang, &report)
        }
        Err(e) => e.to_string(),
    }
}

pub(super) async fn quarantine_action(
    State(st): State<DashboardState>,
    headers: HeaderMap,
    Query(q): Query<SourcesQuery>,
    form: Result<Form<ActionForm>, axum::extract::rejection::FormRejection>,
) -> Response {
    let lang = Lang::parse(q.lang.as_deref());
    let Ok(Form(f)) = form else {
        return (
            StatusCode::BAD_REQUEST,
            "expected csrf, action, id, source, confirm",
        )
            .into_response();
    };
    let action = format!("quarantine.{}", f.action);
    let login = match acting(&st, &headers, lang, &f.csrf, &action).await {
        Ok(l) => l,
        Err(r) => return *r,
    };
    let csrf = login.csrf.clone();
    let t = lang.words();
    let source = f.source.trim().to_string();
    let target = match f.action.as_str() {
        "retry_all" => json!({ "source": source }),
        _ => json!({ "id": f.id }),
    };
    let unconfirmed = source.is_empty() || f.confirm.trim() != source;
    let message = match f.action.as_str() {
        "retry" => {
            let store = st.store.clone();
            let ids = vec![f.id.clone()];
            retried(&st, lang, |routes| async move {
                quarantine::retry(&*store, &routes, &ids).await
            })
            .await
        }
        "retry_all" if source.is_empty() || f.confirm.trim() != source => {
            st.audit(
                &login.who,
                &action,
                target.clone(),
                "refused: the confirmation did not match",
            )
            .await;
            t["confirm_mismatch"].to_string()
        }
        "retry_all" => {
            let store = st.store.clone();
            let only = source.clone();
            retried(&st, lang, |routes| async move {
                quarantine::retry_all(&*store, &routes, Some(&only), &mut |_, _| {}).await
            })
            .await
        }
        "drop" => match st.store.quarantine_drop(&f.id).await {
            Ok(true) => {
                tracing::info!(record = %f.id, "dashboard: a quarantined record dropped");
                st.audit(&login.who, &action, target.clone(), "ok").await;
                format!("{} {}", t["dropped"], f.id)
            }
            Ok(false) => {
                st.audit(
                    &login.who,
                    &action,
                    target.clone(),
                    "refused: no such record",
                )
                .await;
                t["unknown_record"].to_string()
            }
            Err(e) => return (StatusCode::SERVICE_UNAVAILABLE, e.to_string()).into_response(),
        },
        _ => return (StatusCode::BAD_REQUEST, "action: retry, drop or retry_all").into_response(),
    };
    if f.action == "retry" || (f.action == "retry_all" && !unconfirmed) {
        st.audit(
            &login.who,
            &action,
            target,
            &format!("done: {}", mask_text(&message)),
        )
        .await;
    }
    let shown = Some(source.as_str()).filter(|s| !s.is_empty());
    page(&st, lang, &csrf, shown, None, Some(message)).await
}
