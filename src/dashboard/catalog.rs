//! The catalog page (`/ui/catalog`): its counts and pull history, the changes of the last 30
//! days field by field, each subscriber's state (in step, behind, failing, paused) with a resend
//! of the whole catalog; and one procedure's versions with the field diff between two of them
//! (`?code=&from=&to=`). The same library calls as `lienthong catalog ...`. A procedure is the
//! portal's public record: nothing personal is shown.

use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Form;
use serde::Deserialize;
use serde_json::{json, Value};

use super::i18n::Lang;
use super::{frame, guard, DashboardState};
use crate::catalog::{canonical, Catalog, CatalogError};

/// Changes listed on the page.
const CHANGES: i64 = 100;
const CHANGES_SINCE_MS: i64 = 30 * 24 * 3600 * 1000;

#[derive(Deserialize, Default)]
pub(super) struct CatalogQuery {
    lang: Option<String>,
    code: Option<String>,
    from: Option<i64>,
    to: Option<i64>,
}

/// A subscriber's state in one word: `paused`, `failing`, `behind` or `in_step`.
fn state_of(s: &crate::catalog::SubscriberState) -> &'static str {
    if s.paused {
        "paused"
    } else if s.failing_since_ms.is_some() {
        "failing"
    } else if s.behind > 0 {
        "behind"
    } else {
        "in_step"
    }
}

/// One procedure's versions and the diff `from` → `to` (default: the two latest).
async fn procedure(
    catalog: &Catalog,
    code: &str,
    from: Option<i64>,
    to: Option<i64>,
) -> Result<Value, CatalogError> {
    let versions = catalog.history(code).await?;
    let latest = versions.first().map_or(1, |v| v.version);
    let to = to.unwrap_or(latest);
    let from = from.unwrap_or(to - 1);
    let object = |v: i64| async move {
        if v < 1 {
            return Ok::<_, CatalogError>(None);
        }
        match catalog.show(code, Some(v)).await {
            Ok((_, o)) => Ok(o),
            Err(CatalogError::NotFound(_)) => Ok(None),
            Err(e) => Err(e),
        }
    };
    let (before, after) = (object(from).await?, object(to).await?);
    let empty = Value::Object(Default::default());
    let fields = canonical::diff(
        before.as_ref().unwrap_or(&empty),
        after.as_ref().unwrap_or(&empty),
    );
    let shown = |v: &Option<Value>| v.as_ref().map(|v| v.to_string());
    let fields: Vec<Value> = fields
        .iter()
        .map(|f| json!({ "path": f.path, "before": shown(&f.before), "after": shown(&f.after) }))
        .collect();
    Ok(json!({
        "code": code,
        "versions": versions,
        "from": from,
        "to": to,
        "fields": fields,
    }))
}

async fn page(
    st: &DashboardState,
    lang: Lang,
    csrf: &str,
    q: &CatalogQuery,
    message: Option<String>,
) -> Response {
    // The language link keeps the procedure and versions shown.
    let mut query = Vec::new();
    if let Some(code) = q.code.as_deref().filter(|c| !c.is_empty()) {
        let code: String = form_urlencoded::byte_serialize(code.as_bytes()).collect();
        query.push(format!("code={code}"));
    }
    query.extend(q.from.map(|v| format!("from={v}")));
    query.extend(q.to.map(|v| format!("to={v}")));
    let mut ctx = frame(lang, "catalog", csrf, &query.join("&"));
    ctx.insert("title".into(), json!(lang.words()["catalog"]));
    ctx.insert("message".into(), json!(message));
    let Some(catalog) = &st.catalog else {
        ctx.insert("configured".into(), json!(false));
        return st.render("catalog.html", Value::Object(ctx));
    };
    ctx.insert("configured".into(), json!(true));
    let fail = |e: CatalogError| (StatusCode::SERVICE_UNAVAILABLE, e.to_string()).into_response();
    let (counts, pulls) = match catalog.overview().await {
        Ok(o) => o,
        Err(e) => return fail(e),
    };
    let subscribers = match catalog.subscriber_states().await {
        Ok(s) => s,
        Err(e) => return fail(e),
    };
    let subscribers: Vec<Value> = subscribers
        .iter()
        .map(|s| {
            let mut v = json!(s);
            v["state"] = json!(state_of(s));
            v
        })
        .collect();
    let since = crate::store::now_ms() - CHANGES_SINCE_MS;
    let changes = match catalog.diff(since, CHANGES).await {
        Ok(c) => c,
        Err(e) => return fail(e),
    };
    let code = q.code.as_deref().map(str::trim).filter(|c| !c.is_empty());
    let shown = match code {
        Some(code) => match procedure(catalog, code, q.from, q.to).await {
            Ok(p) => Some(p),
            Err(CatalogError::NotFound(m)) => {
                ctx.insert("not_found".into(), json!(m));
                None
            }
            Err(e) => return fail(e),
        },
        None => None,
    };
    ctx.insert("counts".into(), json!(counts));
    ctx.insert("pulls".into(), json!(pulls));
    ctx.insert("subscribers".into(), json!(subscribers));
    ctx.insert("changes".into(), json!(changes));
    ctx.insert("procedure".into(), json!(shown));
    ctx.insert("code".into(), json!(code.unwrap_or("")));
    st.render("catalog.html", Value::Object(ctx))
}

pub(super) async fn catalog_page(
    State(st): State<DashboardState>,
    headers: HeaderMap,
    Query(q): Query<CatalogQuery>,
) -> Response {
    let lang = Lang::parse(q.lang.as_deref());
    match guard(&st, &headers, lang) {
        Ok(csrf) => page(&st, lang, &csrf, &q, None).await,
        Err(r) => *r,
    }
}

/// The resend form: the whole catalog queued again for one subscriber.
#[derive(Deserialize)]
pub(super) struct ResendForm {
    csrf: String,
    subscriber: String,
}

pub(super) async fn resend(
    State(st): State<DashboardState>,
    headers: HeaderMap,
    Query(q): Query<CatalogQuery>,
    form: Result<Form<ResendForm>, axum::extract::rejection::FormRejection>,
) -> Response {
    let lang = Lang::parse(q.lang.as_deref());
    let Ok(Form(f)) = form else {
        return (StatusCode::BAD_REQUEST, "expected csrf, subscriber").into_response();
    };
    let login = match super::acting(&st, &headers, lang, &f.csrf, "catalog.resend").await {
        Ok(l) => l,
        Err(r) => return *r,
    };
    let csrf = login.csrf.clone();
    let Some(catalog) = &st.catalog else {
        return (StatusCode::NOT_FOUND, "no catalog").into_response();
    };
    let t = lang.words();
    let (message, outcome) = match catalog.resend(&f.subscriber).await {
        Ok(n) => {
            if n > 0 {
                if let Some(wake) = &st.wake {
                    wake.notify_waiters();
                }
            }
            (
                format!("{} {}: {n} {}", t["resent"], f.subscriber, t["queued_n"]),
                format!("ok: {n} queued"),
            )
        }
        Err(CatalogError::NotFound(m)) => {
            let outcome = super::refused(&m);
            (m, outcome)
        }
        Err(e) => return (StatusCode::SERVICE_UNAVAILABLE, e.to_string()).into_response(),
    };
    st.audit(
        &login.who,
        "catalog.resend",
        serde_json::json!({ "subscriber": f.subscriber }),
        &outcome,
    )
    .await;
    page(&st, lang, &csrf, &CatalogQuery::default(), Some(message)).await
}
