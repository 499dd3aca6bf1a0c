//! The postal page (`/ui/postal`): counts, alerts (failed pickups and deliveries, cancels,
//! unknown orders), the orders (state, dossier, last status and event, waybill) filtered by
//! state, one dossier's orders with every tracking event (`?dossier=`), and the actions of
//! `lienthong postal poll|cancel`. Orders are shown by dossier code, states and times: the
//! order's addresses, names and phones are never read here.

use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Form;
use serde::Deserialize;
use serde_json::{json, Value};

use super::i18n::Lang;
use super::{frame, guard, DashboardState};
use crate::postal::PostalError;

/// Orders on the page.
const ORDERS: usize = 200;
/// Unknown events on the page.
const UNKNOWN: usize = 50;

#[derive(Deserialize, Default)]
pub(super) struct PostalQuery {
    lang: Option<String>,
    state: Option<String>,
    dossier: Option<String>,
}

async fn page(
    st: &DashboardState,
    lang: Lang,
    csrf: &str,
    q: &PostalQuery,
    message: Option<String>,
) -> Response {
    let mut ctx = frame(lang, "postal", csrf, &format!("lang={}", lang.code()));
    ctx.insert("title".into(), json!(lang.words()["postal"]));
    ctx.insert("message".into(), json!(message));
    let postal = match &st.postal {
        Some(p) if p.is_configured() => p,
        _ => {
            ctx.insert("configured".into(), json!(false));
            return st.render("postal.html", Value::Object(ctx));
        }
    };
    ctx.insert("configured".into(), json!(true));
    let fail = |e: PostalError| (StatusCode::SERVICE_UNAVAILABLE, e.to_string()).into_response();
    let state = q.state.as_deref().filter(|s| !s.is_empty());
    let dossier = q
        .dossier
        .as_deref()
        .map(str::trim)
        .filter(|s| !s.is_empty());
    let counts = match postal.counts().await {
        Ok(c) => c,
        Err(e) => return fail(e),
    };
    let orders = match postal.orders(None, state, ORDERS).await {
        Ok(o) => o,
        Err(e) => return fail(e),
    };
    let alerts: Vec<&crate::postal::OrderView> =
        orders.iter().filter(|o| o.alert.is_some()).collect();
    let unknown = match postal.unknown(UNKNOWN).await {
        Ok(u) => u,
        Err(e) => return fail(e),
    };
    let detail = match dossier {
        Some(d) => match postal.show(d, None).await {
            Ok(v) => Some(v),
            Err(e) => return fail(e),
        },
        None => None,
    };
    ctx.insert("counts".into(), json!(counts));
    ctx.insert("alerts".into(), json!(alerts));
    ctx.insert("orders".into(), json!(orders));
    ctx.insert("unknown".into(), json!(unknown));
    ctx.insert("detail".into(), json!(detail));
    ctx.insert("dossier".into(), json!(dossier.unwrap_or("")));
    ctx.insert("state".into(), json!(state.unwrap_or("")));
    st.render("postal.html", Value::Object(ctx))
}

pub(super) async fn postal_page(
    State(st): State<DashboardState>,
    headers: HeaderMap,
    Query(q): Query<PostalQuery>,
) -> Response {
    let lang = Lang::parse(q.lang.as_deref());
    match guard(&st, &headers, lang) {
        Ok(csrf) => page(&st, lang, &csrf, &q, None).await,
        Err(r) => *r,
    }
}

/// `poll` now, or `cancel` a dossier's orders (of `order_type` when given).
#[derive(Deserialize)]
pub(super) struct PostalForm {
    csrf: String,
    action: String,
    #[serde(default)]
    dossier: String,
    #[serde(default)]
    order_type: String,
}

pub(super) async fn action(
    State(st): State<DashboardState>,
    headers: HeaderMap,
    Query(q): Query<PostalQuery>,
    form: Result<Form<PostalForm>, axum::extract::rejection::FormRejection>,
) -> Response {
    let lang = Lang::parse(q.lang.as_deref());
    let Ok(Form(f)) = form else {
        return (
            StatusCode::BAD_REQUEST,
            "expected csrf, action, dossier, order_type",
        )
            .into_response();
    };
    let login = match super::acting(
        &st,
        &headers,
        lang,
        &f.csrf,
        if f.action == "cancel" {
            "postal.cancel"
        } else {
            "postal.poll"
        },
    )
    .await
    {
        Ok(l) => l,
        Err(r) => return *r,
    };
    let csrf = login.csrf.clone();
    let Some(postal) = &st.postal else {
        return (StatusCode::NOT_FOUND, "no postal service").into_response();
    };
    let t = lang.words();
    let order_type = Some(f.order_type.as_str()).filter(|t| !t.is_empty());
    if order_type.is_some_and(|t| t != "1" && t != "2") {
        return (StatusCode::BAD_REQUEST, "order_type: 1 or 2").into_response();
    }
    let (message, outcome) = match f.action.as_str() {
        "poll" => match postal.poll(&crate::postal::Quiet).await {
            Ok(r) => (
                format!(
                    "{}: {} {}, {} {}, {} {}, {} {}, {} {}.",
                    t["polled"],
                    r.events,
                    t["events_read"],
                    r.applied.new,
                    t["events_new"],
                    r.applied.unknown,
                    t["events_unknown"],
                    r.applied.changed,
                    t["orders_changed"],
                    r.applied.queued,
                    t["steps_queued"],
                ),
                "ok".to_string(),
            ),
            Err(e) => (e.to_string(), super::refused(&e)),
        },
        "cancel" => match postal.cancel(f.dossier.trim(), order_type).await {
            Ok(types) if types.is_empty() => (
                format!("{}: {}", f.dossier.trim(), t["nothing_to_cancel"]),
                "ok: nothing to cancel".to_string(),
            ),
            Ok(types) => {
                if let Some(wake) = &st.wake {
                    wake.notify_waiters();
                }
                (
                    format!(
                        "{} {} ({})",
                        t["cancel_queued"],
                        f.dossier.trim(),
                        types.join(", ")
                    ),
                    format!("ok: cancel of {} queued", types.join(", ")),
                )
            }
            Err(e) => (e.to_string(), super::refused(&e)),
        },
        _ => return (StatusCode::BAD_REQUEST, "action: poll or cancel").into_response(),
    };
    st.audit(
        &login.who,
        if f.action == "cancel" {
            "postal.cancel"
        } else {
            "postal.poll"
        },
        serde_json::json!({ "dossier": f.dossier.trim() }),
        &outcome,
    )
    .await;
    let shown = PostalQuery {
        dossier: Some(f.dossier.trim().to_string()).filter(|d| !d.is_empty()),
        ..PostalQuery::default()
    };
    page(&st, lang, &csrf, &shown, Some(message)).await
}
