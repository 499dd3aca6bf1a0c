//! The audit page: every action (dashboard forms, admin API changes, the CLI's changing
//! commands), newest first, keyset pages, filtered by who and by action. Reads only.

use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{json, Value};

use super::i18n::Lang;
use super::{frame, logged_in, DashboardState};
use crate::admin::audit::{cursor, parse_cursor};
use crate::store::ActionFilter;

/// Entries on one page.
const PAGE: i64 = 100;

#[derive(Deserialize, Default)]
#[serde(default)]
pub(super) struct AuditQuery {
    who: String,
    action: String,
    before: String,
    lang: Option<String>,
}

/// `GET /ui/audit`.
pub(super) async fn page(
    State(st): State<DashboardState>,
    headers: HeaderMap,
    Query(q): Query<AuditQuery>,
) -> Response {
    let lang = Lang::parse(q.lang.as_deref());
    let login = match logged_in(&st, &headers, lang) {
        Ok(l) => l,
        Err(r) => return *r,
    };
    let before = match q.before.trim() {
        "" => None,
        b => match parse_cursor(b) {
            Some(c) => Some(c),
            None => return (StatusCode::BAD_REQUEST, "before: a page's next").into_response(),
        },
    };
    let who = Some(q.who.trim().to_string()).filter(|w| !w.is_empty());
    let action = Some(q.action.trim().to_string()).filter(|a| !a.is_empty());
    let filter = ActionFilter {
        who: who.clone(),
        action: action.clone(),
        before,
        limit: PAGE,
    };
    let entries = match st.store.audit_page(&filter).await {
        Ok(e) => e,
        Err(e) => return (StatusCode::SERVICE_UNAVAILABLE, e.to_string()).into_response(),
    };
    let query = |more: &[(&str, &str)]| {
        let pairs = [("who", q.who.trim()), ("action", q.action.trim())];
        let all = pairs
            .into_iter()
            .filter(|(_, v)| !v.is_empty())
            .chain(more.iter().copied());
        reqwest::Url::parse_with_params("http://x/", all)
            .ok()
            .and_then(|u| u.query().map(str::to_string))
            .unwrap_or_default()
    };
    let next = (entries.len() as i64 == PAGE)
        .then(|| entries.last().map(|e| cursor(e.at_ms, &e.id)))
        .flatten()
        .map(|c| query(&[("before", &c), ("lang", lang.code())]));
    let mut ctx = frame(lang, "audit", &login.csrf, &query(&[]));
    ctx.insert("title".into(), json!(lang.words()["audit"]));
    ctx.insert("entries".into(), json!(entries));
    ctx.insert("who".into(), json!(q.who.trim()));
    ctx.insert("action".into(), json!(q.action.trim()));
    ctx.insert("next".into(), json!(next));
    st.render("audit.html", Value::Object(ctx))
}
