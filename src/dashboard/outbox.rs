//! The outbox browser: messages filtered on the server (state, peer, destination, operation,
//! dossier code, error text, attempts, time of the last change), newest first, keyset pages by
//! queue position; one message (its item masked as the admin API masks it, its batches with their
//! `X-Request-ID`s and the peer's last answer) with replay, skip and remap (its diff shown
//! first); and bulk jobs (replay or skip of everything matching the filter, not just the page)
//! begun once the number of messages is typed, run in the background, their progress on a page
//! that refreshes itself. The same library calls as the admin API (`operator`, the store's
//! browse reads).

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::Form;
use serde::Deserialize;
use serde_json::{json, Value};

use super::i18n::Lang;
use super::{acting, frame, logged_in, DashboardState};
use crate::admin::outbox::{check_filter, job_json, spawn_job};
use crate::operator::{self, JobAction};
use crate::store::{now_ms, OutboxFilter};

/// Messages on one page.
const PAGE: i64 = 50;

/// The filter as the page's form sends it (every field a string; empty means any).
#[derive(Deserialize, Default, Clone)]
#[serde(default)]
pub(super) struct FilterForm {
    state: String,
    peer: String,
    destination: String,
    operation: String,
    dossier: String,
    error: String,
    min_attempts: String,
    /// `YYYY-MM-DDTHH:MM` in Vietnam time (an HTML `datetime-local`).
    from: String,
    to: String,
}

/// A `datetime-local` value in Vietnam time, as milliseconds.
fn vietnam_ms(text: &str) -> Result<Option<i64>, String> {
    let text = text.trim();
    if text.is_empty() {
        return Ok(None);
    }
    let naive = chrono::NaiveDateTime::parse_from_str(text, "%Y-%m-%dT%H:%M")
        .or_else(|_| chrono::NaiveDateTime::parse_from_str(text, "%Y-%m-%dT%H:%M:%S"))
        .map_err(|_| format!("{text}: expected YYYY-MM-DDTHH:MM"))?;
    naive
        .and_local_timezone(crate::time::vietnam())
        .single()
        .map(|t| Some(t.timestamp_millis()))
        .ok_or_else(|| format!("{text}: not a time"))
}

impl FilterForm {
    fn filter(&self) -> Result<OutboxFilter, String> {
        let text = |s: &str| Some(s.trim().to_string()).filter(|s| !s.is_empty());
        let min_attempts = match self.min_attempts.trim() {
            "" => None,
            n => Some(
                n.parse::<i64>()
                    .map_err(|_| format!("min_attempts: {n} is not a whole number"))?,
            ),
        };
        let f = OutboxFilter {
            state: text(&self.state),
            peer: text(&self.peer),
            destination: text(&self.destination),
            operation: text(&self.operation),
            dossier: text(&self.dossier),
            error: text(&self.error),
            min_attempts,
            updated_from_ms: vietnam_ms(&self.from)?,
            updated_to_ms: vietnam_ms(&self.to)?,
        };
        check_filter(&f)?;
        Ok(f)
    }

    /// The filter's non-empty fields as `(name, value)`, for links and hidden fields.
    fn pairs(&self) -> Vec<(&'static str, String)> {
        [
            ("state", &self.state),
            ("peer", &self.peer),
            ("destination", &self.destination),
            ("operation", &self.operation),
            ("dossier", &self.dossier),
            ("error", &self.error),
            ("min_attempts", &self.min_attempts),
            ("from", &self.from),
            ("to", &self.to),
        ]
        .into_iter()
        .filter(|(_, v)| !v.trim().is_empty())
        .map(|(k, v)| (k, v.trim().to_string()))
        .collect()
    }

    /// The filter as a URL query (percent-encoded).
    fn query(&self, more: &[(&str, &str)]) -> String {
        let pairs = self.pairs();
        let all = pairs
            .iter()
            .map(|(k, v)| (*k, v.as_str()))
            .chain(more.iter().copied());
        reqwest::Url::parse_with_params("http://x/", all)
            .ok()
            .and_then(|u| u.query().map(str::to_string))
            .unwrap_or_default()
    }

    fn as_json(&self) -> Value {
        json!({
            "state": self.state, "peer": self.peer, "destination": self.destination,
            "operation": self.operation, "dossier": self.dossier, "error": self.error,
            "min_attempts": self.min_attempts, "from": self.from, "to": self.to,
        })
    }
}

#[derive(Deserialize, Default)]
pub(super) struct BrowseQuery {
    #[serde(flatten)]
    filter: FilterForm,
    before: Option<String>,
    lang: Option<String>,
}

/// A page's `before`: a queue position.
fn parse_cursor(text: &str) -> Option<i64> {
    text.trim().parse().ok()
}

fn bad(text: String) -> Response {
    (StatusCode::BAD_REQUEST, text).into_response()
}

fn unavailable(e: impl std::fmt::Display) -> Response {
    (StatusCode::SERVICE_UNAVAILABLE, e.to_string()).into_response()
}

/// `GET /ui/outbox`: a page of messages matching the filter.
pub(super) async fn list(
    State(st): State<DashboardState>,
    headers: HeaderMap,
    Query(q): Query<BrowseQuery>,
) -> Response {
    let lang = Lang::parse(q.lang.as_deref());
    let login = match logged_in(&st, &headers, lang) {
        Ok(l) => l,
        Err(r) => return *r,
    };
    let filter = match q.filter.filter() {
        Ok(f) => f,
        Err(e) => return bad(e),
    };
    let before = match q.before.as_deref().filter(|b| !b.is_empty()) {
        None => None,
        Some(b) => match parse_cursor(b) {
            Some(c) => Some(c),
            None => return bad("before: a page's next".into()),
        },
    };
    let page = match st.store.browse_messages(&filter, before, PAGE).await {
        Ok(p) => p,
        Err(e) => return unavailable(e),
    };
    // A page that stopped searching before it filled up says how far it has read.
    let searched_to = page.next.filter(|_| (page.messages.len() as i64) < PAGE);
    let next = page.next.map(|c| {
        q.filter
            .query(&[("before", &c.to_string()), ("lang", lang.code())])
    });
    let messages = page.messages;
    let jobs = match st.store.jobs(5).await {
        Ok(j) => j.iter().map(job_json).collect::<Vec<_>>(),
        Err(e) => return unavailable(e),
    };
    let mut ctx = frame(lang, "outbox", &login.csrf, &q.filter.query(&[]));
    ctx.insert("title".into(), json!(lang.words()["outbox"]));
    ctx.insert("messages".into(), json!(messages));
    ctx.insert("f".into(), q.filter.as_json());
    ctx.insert("hidden".into(), json!(q.filter.pairs()));
    ctx.insert("next".into(), json!(next));
    ctx.insert("searched_to".into(), json!(searched_to));
    ctx.insert("first_page".into(), json!(before.is_none()));
    ctx.insert("jobs".into(), json!(jobs));
    st.render("outbox.html", Value::Object(ctx))
}

/// The bulk form: the filter (hidden), the action, a skip's reason; then, on the confirmation
/// page, the count shown (`expected`) and what the operator typed (`confirm`).
#[derive(Deserialize)]
pub(super) struct JobForm {
    csrf: String,
    action: String,
    #[serde(default)]
    reason: String,
    #[serde(flatten)]
    filter: FilterForm,
    expected: Option<String>,
    confirm: Option<String>,
}

#[derive(Deserialize, Default)]
pub(super) struct LangQuery {
    lang: Option<String>,
}

/// `POST /ui/outbox/jobs`: without a typed confirmation, the page asking for it (how many
/// messages match now); with it matching the count shown, the job begins and its progress
/// page follows.
pub(super) async fn start_job(
    State(st): State<DashboardState>,
    headers: HeaderMap,
    Query(q): Query<LangQuery>,
    form: Result<Form<JobForm>, axum::extract::rejection::FormRejection>,
) -> Response {
    let lang = Lang::parse(q.lang.as_deref());
    let Ok(Form(f)) = form else {
        return bad("expected csrf, action, the filter, reason, confirm".into());
    };
    let action_name = format!("outbox.bulk_{}", f.action);
    let login = match acting(&st, &headers, lang, &f.csrf, &action_name).await {
        Ok(l) => l,
        Err(r) => return *r,
    };
    let filter = match f.filter.filter() {
        Ok(x) => x,
        Err(e) => return bad(e),
    };
    let reason = (f.action == "skip").then_some(f.reason.as_str());
    let action = match JobAction::parse(&f.action, reason) {
        Ok(a) => a,
        Err(_) if f.action == "skip" => return bad(lang.words()["skip_needs_reason"].to_string()),
        Err(e) => return bad(e.into()),
    };
    if action == JobAction::Remap && st.routes.is_none() {
        return (StatusCode::NOT_FOUND, lang.words()["mappings_fail"]).into_response();
    }
    let target = json!({ "filter": filter, "action": action.name() });
    let t = lang.words();
    let typed = f.confirm.as_deref().map(str::trim).unwrap_or_default();
    let expected = f.expected.as_deref().map(str::trim).unwrap_or_default();
    if f.confirm.is_some() && !expected.is_empty() && typed == expected {
        return match operator::begin_job(&*st.store, &filter, &action, &login.who.name).await {
            Ok(job) => {
                let mut target = target;
                target["job"] = json!(job.id);
                target["total"] = json!(job.total);
                st.audit(&login.who, &action_name, target, "ok").await;
                spawn_job(
                    st.store.clone(),
                    st.routes.clone(),
                    job.id.clone(),
                    st.wake.clone(),
                );
                Redirect::to(&format!("/ui/outbox/jobs/{}?lang={}", job.id, lang.code()))
                    .into_response()
            }
            Err(e) => unavailable(e),
        };
    }
    let count = match st.store.count_matching(&filter).await {
        Ok(n) => n,
        Err(e) => return unavailable(e),
    };
    let mismatch = f.confirm.is_some();
    if mismatch {
        st.audit(
            &login.who,
            &action_name,
            target,
            "refused: the confirmation did not match",
        )
        .await;
    }
    let mut ctx = frame(lang, "outbox", &login.csrf, &f.filter.query(&[]));
    ctx.insert("title".into(), json!(t["bulk_confirm"]));
    ctx.insert("count".into(), json!(count));
    ctx.insert("action".into(), json!(action.name()));
    ctx.insert("reason".into(), json!(f.reason.trim()));
    ctx.insert("hidden".into(), json!(f.filter.pairs()));
    ctx.insert("f".into(), f.filter.as_json());
    ctx.insert("mismatch".into(), json!(mismatch));
    if action == JobAction::Remap {
        match remap_samples(&st, &filter).await {
            Ok(samples) => ctx.insert("samples".into(), json!(samples)),
            Err(r) => return *r,
        };
    }
    ctx.insert(
        "back".into(),
        json!(f.filter.query(&[("lang", lang.code())])),
    );
    st.render("outbox_confirm.html", Value::Object(ctx))
}

/// `GET /ui/outbox/jobs/{id}`: a job's progress (the page refreshes itself while it runs).
pub(super) async fn job(
    State(st): State<DashboardState>,
    headers: HeaderMap,
    Path(id): Path<String>,
    Query(q): Query<LangQuery>,
) -> Response {
    let lang = Lang::parse(q.lang.as_deref());
    let login = match logged_in(&st, &headers, lang) {
        Ok(l) => l,
        Err(r) => return *r,
    };
    let job = match st.store.job(&id).await {
        Ok(Some(j)) => j,
        Ok(None) => return (StatusCode::NOT_FOUND, "no such job").into_response(),
        Err(e) => return unavailable(e),
    };
    let shown = job_json(&job);
    let running = matches!(shown["state"].as_str(), Some("queued" | "running"));
    let pct = if job.total > 0 {
        (job.done * 100 / job.total).min(100)
    } else {
        100
    };
    let mut ctx = frame(lang, "outbox", &login.csrf, "");
    ctx.insert("title".into(), json!(lang.words()["bulk_job"]));
    ctx.insert("job".into(), shown);
    ctx.insert("running".into(), json!(running));
    ctx.insert("pct".into(), json!(pct));
    st.render("outbox_job.html", Value::Object(ctx))
}

/// `POST /ui/outbox/jobs/{id}`: runs an interrupted (or failed) job again from where it
/// stopped.
pub(super) async fn rerun_job(
    State(st): State<DashboardState>,
    headers: HeaderMap,
    Path(id): Path<String>,
    Query(q): Query<LangQuery>,
    form: Result<Form<super::CsrfForm>, axum::extract::rejection::FormRejection>,
) -> Response {
    let lang = Lang::parse(q.lang.as_deref());
    let Ok(Form(f)) = form else {
        return bad("expected csrf".into());
    };
    let login = match acting(&st, &headers, lang, &f.csrf, "outbox.bulk_rerun").await {
        Ok(l) => l,
        Err(r) => return *r,
    };
    match st.store.job(&id).await {
        Ok(Some(_)) => {}
        Ok(None) => return (StatusCode::NOT_FOUND, "no such job").into_response(),
        Err(e) => return unavailable(e),
    }
    st.audit(&login.who, "outbox.bulk_rerun", json!({ "job": id }), "ok")
        .await;
    spawn_job(
        st.store.clone(),
        st.routes.clone(),
        id.clone(),
        st.wake.clone(),
    );
    Redirect::to(&format!("/ui/outbox/jobs/{id}?lang={}", lang.code())).into_response()
}

/// Dead messages whose remap the confirmation page shows before a bulk remap.
const REMAP_SAMPLES: usize = 3;

/// The first few dead messages matching `filter`, each with what a remap would change (masked)
/// or why the current mapping refuses it.
async fn remap_samples(
    st: &DashboardState,
    filter: &crate::store::OutboxFilter,
) -> Result<Vec<Value>, Box<Response>> {
    let Some(load) = st.routes.clone() else {
        return Ok(Vec::new());
    };
    let routes = load().map_err(|e| Box::new(bad(crate::mapping::mask_text(&format!("{e:#}")))))?;
    let dead = crate::store::OutboxFilter {
        state: Some("dead".into()),
        ..filter.clone()
    };
    if filter.state.as_deref().is_some_and(|s| s != "dead") {
        return Ok(Vec::new());
    }
    let page = st
        .store
        .matching_page(&dead, i64::MIN, REMAP_SAMPLES as i64)
        .await
        .map_err(|e| Box::new(unavailable(e)))?;
    let mut out = Vec::new();
    for (id, _) in page {
        let sample = match operator::plan_remap(&*st.store, &routes, id).await {
            Ok(plan) => json!({
                "id": id.to_string(),
                "dossier": plan.message.dossier,
                "from": plan.message.mapping_version,
                "to": plan.remap.mapping_version,
                "changes": plan.masked_changes(),
            }),
            Err(operator::RemapError::Store(e)) => return Err(Box::new(unavailable(e))),
            Err(e) => json!({
                "id": id.to_string(),
                "refused": crate::mapping::mask_text(&e.to_string()),
            }),
        };
        out.push(sample);
    }
    Ok(out)
}

/// One message's page, with `message` and a remap's preview on top.
async fn message_page(
    st: &DashboardState,
    lang: Lang,
    csrf: &str,
    id: uuid::Uuid,
    message: Option<String>,
    preview: Option<Value>,
) -> Response {
    let m = match st.store.message(id).await {
        Ok(Some(m)) => m,
        Ok(None) => return (StatusCode::NOT_FOUND, "no such message").into_response(),
        Err(e) => return unavailable(e),
    };
    let shown = crate::admin::masked_detail(&m);
    let item = serde_json::to_string_pretty(&shown["item_masked"]).unwrap_or_default();
    let mut ctx = frame(lang, "outbox", csrf, "");
    ctx.insert("title".into(), json!(lang.words()["message"]));
    ctx.insert("m".into(), shown);
    ctx.insert("destination".into(), json!(m.destination));
    ctx.insert("item".into(), json!(item));
    ctx.insert("remappable".into(), json!(m.record_id.is_some()));
    let by_dossier = FilterForm {
        dossier: m.dossier.clone(),
        ..FilterForm::default()
    };
    ctx.insert(
        "dossier_query".into(),
        json!(by_dossier.query(&[("lang", lang.code())])),
    );
    ctx.insert("message".into(), json!(message));
    ctx.insert("preview".into(), json!(preview));
    st.render("message.html", Value::Object(ctx))
}

/// `GET /ui/outbox/{id}`.
pub(super) async fn show(
    State(st): State<DashboardState>,
    headers: HeaderMap,
    Path(id): Path<String>,
    Query(q): Query<LangQuery>,
) -> Response {
    let lang = Lang::parse(q.lang.as_deref());
    let login = match logged_in(&st, &headers, lang) {
        Ok(l) => l,
        Err(r) => return *r,
    };
    let Ok(id) = uuid::Uuid::parse_str(&id) else {
        return bad("the message id is a UUID".into());
    };
    message_page(&st, lang, &login.csrf, id, None, None).await
}

#[derive(Deserialize)]
pub(super) struct MessageForm {
    csrf: String,
    /// `replay`, `skip`, `remap` (the diff) or `remap_confirm`.
    action: String,
    #[serde(default)]
    reason: String,
}

/// `POST /ui/outbox/{id}`: replay, skip or remap one message.
pub(super) async fn act(
    State(st): State<DashboardState>,
    headers: HeaderMap,
    Path(id): Path<String>,
    Query(q): Query<LangQuery>,
    form: Result<Form<MessageForm>, axum::extract::rejection::FormRejection>,
) -> Response {
    let lang = Lang::parse(q.lang.as_deref());
    let Ok(Form(f)) = form else {
        return bad("expected csrf, action, reason".into());
    };
    let action = format!("outbox.{}", f.action);
    let login = match acting(&st, &headers, lang, &f.csrf, &action).await {
        Ok(l) => l,
        Err(r) => return *r,
    };
    let Ok(id) = uuid::Uuid::parse_str(&id) else {
        return bad("the message id is a UUID".into());
    };
    let t = lang.words();
    let target = json!({ "id": id.to_string() });
    let now = now_ms();
    let (message, preview) = match f.action.as_str() {
        "replay" => match st.store.replay_messages(&[id], now).await {
            Ok(r) => {
                let outcome = if r.replayed == 1 {
                    "ok"
                } else {
                    "refused: not dead"
                };
                st.audit(&login.who, &action, target, outcome).await;
                if let Some(w) = &st.wake {
                    w.notify_waiters();
                }
                let said = if r.replayed == 1 {
                    t["replayed"]
                } else {
                    t["not_dead"]
                };
                (said.to_string(), None)
            }
            Err(e) => return unavailable(e),
        },
        "skip" if f.reason.trim().is_empty() => (t["skip_needs_reason"].to_string(), None),
        "skip" => match st.store.skip(id, f.reason.trim(), now).await {
            Ok(done) => {
                let outcome = if done { "ok" } else { "refused: not skippable" };
                st.audit(&login.who, &action, target, outcome).await;
                let said = if done {
                    t["skipped"]
                } else {
                    t["not_skippable"]
                };
                (said.to_string(), None)
            }
            Err(e) => return unavailable(e),
        },
        "remap" | "remap_confirm" => {
            let Some(load) = st.routes.clone() else {
                return (StatusCode::NOT_FOUND, t["mappings_fail"]).into_response();
            };
            let routes = match load() {
                Ok(r) => r,
                Err(e) => {
                    return message_page(
                        &st,
                        lang,
                        &login.csrf,
                        id,
                        Some(format!("{}: {e:#}", t["mappings_fail"])),
                        None,
                    )
                    .await
                }
            };
            match operator::plan_remap(&*st.store, &routes, id).await {
                Err(operator::RemapError::Store(e)) => return unavailable(e),
                Err(e) => {
                    st.audit(
                        &login.who,
                        &action,
                        target,
                        &format!("refused: {}", crate::mapping::mask_text(&e.to_string())),
                    )
                    .await;
                    (crate::mapping::mask_text(&e.to_string()), None)
                }
                Ok(plan) => {
                    let changes = plan.masked_changes();
                    if f.action == "remap" {
                        let preview = json!({
                            "from": plan.message.mapping_version,
                            "to": plan.remap.mapping_version,
                            "changes": changes,
                        });
                        (t["remap_preview"].to_string(), Some(preview))
                    } else {
                        match operator::apply_remap(&*st.store, &plan).await {
                            Ok(done) => {
                                let (outcome, said) = match done {
                                    operator::Remapped::NewItem => ("ok: new item", t["remapped"]),
                                    operator::Remapped::Unchanged(_) => {
                                        ("ok: unchanged, replayed", t["replayed"])
                                    }
                                    operator::Remapped::NotDead => {
                                        ("refused: not dead", t["not_dead"])
                                    }
                                };
                                let mut target = target;
                                target["fields_changed"] = json!(plan.changes.len());
                                st.audit(&login.who, &action, target, outcome).await;
                                if let Some(w) = &st.wake {
                                    w.notify_waiters();
                                }
                                (said.to_string(), None)
                            }
                            Err(e) => return unavailable(e),
                        }
                    }
                }
            }
        }
        _ => return bad("action: replay, skip, remap or remap_confirm".into()),
    };
    message_page(&st, lang, &login.csrf, id, Some(message), preview).await
}
