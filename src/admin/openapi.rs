//! The admin API's OpenAPI document, generated from the handlers' own annotations
//! (`#[utoipa::path]`) and the types they read and answer with (`ToSchema`, `IntoParams`), so
//! the document and the code cannot drift. Served at `GET /admin/openapi.json` (admin token),
//! written by `lienthong openapi`, and committed as `docs/openapi.json` (a test holds the file
//! equal to [`json`] and the paths equal to `admin::ROUTES`).
//!
//! Adding a route: annotate its handler with `#[utoipa::path]` (its method, path, parameters,
//! body, every status it answers (a `POST` also 403 for a viewer), `security(("admin" = []))`
//! unless it is a probe), add it to
//! `admin::ROUTES` and its handler arm, list the handler in `paths(...)` below, and regenerate
//! the file with `cargo run -- openapi --out docs/openapi.json`.

use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi, ToResponse, ToSchema};

use super::{refuse, AdminState};

/// The body of every refusal and failure: what went wrong, in words (no personal data).
#[derive(Debug, Clone, Serialize, ToSchema)]
#[schema(as = Error)]
pub struct ErrorBody {
    pub error: String,
}

impl ErrorBody {
    pub fn new(error: impl Into<String>) -> Self {
        Self {
            error: error.into(),
        }
    }
}

/// missing or wrong admin token
#[derive(ToResponse)]
#[allow(dead_code)]
pub struct Unauthorized(ErrorBody);

/// malformed request
#[derive(ToResponse)]
#[allow(dead_code)]
pub struct BadRequest(ErrorBody);

/// the token is a viewer's (`server.users` with role viewer): viewers read but change nothing;
/// the attempt is written to the audit log
#[derive(ToResponse)]
#[allow(dead_code)]
pub struct Forbidden(ErrorBody);

/// the store is unavailable
#[derive(ToResponse)]
#[allow(dead_code)]
pub struct Unavailable(ErrorBody);

/// A configured token as a bearer token (`server.admin_token` or a person's of `server.users`).
struct AdminToken;

impl Modify for AdminToken {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "admin",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
    }
}

#[derive(OpenApi)]
#[openapi(
    info(
        title = "lienthong admin API",
        description = "Health probes, metrics, the operator side of the outbox, the procedure \
            catalog, the postal service, the service report and reconciliation, the quarantine \
            and the sources: the same operations as `lienthong outbox ...`, `lienthong catalog \
            ...`, `lienthong postal ...`, `lienthong report`, `lienthong overdue`, `lienthong \
            reconcile`, `lienthong quarantine ...` and `lienthong sources`. Every /admin route \
            and /metrics need `Authorization: Bearer <token>`, the token `server.admin_token` or \
            a person's of `server.users`; without one (or with no token configured) they answer \
            401. A viewer's token reads; every POST with it answers 403 and is written to the \
            audit log, as every operator's change is (`GET /admin/audit`). Personal data: dossier codes, states, reasons \
            and hashes are shown; one message's item is shown with its personal fields masked \
            (names, identity numbers, phones, e-mails, addresses, free text that may name \
            people, and fields the target's table does not know); a source record is never \
            shown whole (use `lienthong outbox show` or `lienthong quarantine show` on the \
            server): a quarantined record shows its field names with every value masked, and \
            refusal reasons mask identity numbers, phones and e-mails. Generated from the \
            handlers (`lienthong openapi`); a test checks that it documents exactly the routes \
            of `admin::ROUTES`, which the router is built from."
    ),
    paths(
        super::health,
        super::alive,
        super::ready,
        super::metrics_text,
        super::outbox,
        super::stats,
        super::outbox::messages,
        super::show,
        super::replay,
        super::skip,
        super::prune,
        super::remap,
        super::pauses,
        super::pause,
        super::resume,
        super::outbox::start_job,
        super::outbox::jobs,
        super::outbox::job,
        super::catalog_overview,
        super::catalog_subscribers,
        super::catalog_changes,
        super::catalog_procedure,
        super::catalog_resend,
        super::postal_overview,
        super::postal_orders,
        super::postal_order,
        super::postal_unknown,
        super::postal_poll,
        super::postal_cancel,
        super::reports::report,
        super::reports::overdue,
        super::reports::reconcile_runs,
        super::reports::reconcile_start,
        super::reports::reconcile_run,
        super::sources::list,
        super::sources::show,
        super::sources::retry,
        super::sources::drop_one,
        super::sources::sources,
        super::audit::list,
        openapi_json,
    ),
    components(responses(Unauthorized, Forbidden, BadRequest, Unavailable)),
    modifiers(&AdminToken)
)]
pub struct AdminApi;

/// The document as the handlers describe it.
pub fn document() -> utoipa::openapi::OpenApi {
    let mut doc = AdminApi::openapi();
    // The tags utoipa takes from module names say nothing to a reader.
    for item in doc.paths.paths.values_mut() {
        for op in [&mut item.get, &mut item.post].into_iter().flatten() {
            op.tags = None;
        }
    }
    doc
}

/// An integer of a JSON body as JSON Schema counts one: `30` and `30.0` alike (the document
/// says `integer`, and a checker may send either); a fraction, a value beyond ±(2^53 - 1)
/// (where a number written with a fraction is no longer exact) or out of `T`'s range is
/// refused.
pub fn integer<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: serde::Deserializer<'de>,
    T: TryFrom<i128>,
{
    use serde::de::Error as _;
    use serde::Deserialize as _;
    const EXACT: i128 = (1 << 53) - 1;
    let n = serde_json::Number::deserialize(d)?;
    n.as_i64()
        .map(i128::from)
        .or_else(|| n.as_u64().map(i128::from))
        .or_else(|| {
            n.as_f64()
                .filter(|f| f.fract() == 0.0 && f.abs() <= EXACT as f64)
                .map(|f| f as i128)
        })
        .filter(|v| v.abs() <= EXACT)
        .and_then(|v| T::try_from(v).ok())
        .ok_or_else(|| D::Error::custom(format!("{n}: expected a whole number in range")))
}

/// The document as `docs/openapi.json` holds it: pretty JSON with a final newline.
pub fn json() -> String {
    let mut text = document()
        .to_pretty_json()
        .expect("the OpenAPI document serialises");
    text.push('\n');
    text
}

/// This document.
#[utoipa::path(
    get,
    path = "/admin/openapi.json",
    responses(
        (status = 200, description = "the OpenAPI document of this API", body = Object),
        (status = 401, response = Unauthorized),
    ),
    security(("admin" = []))
)]
pub(super) async fn openapi_json(State(st): State<AdminState>, headers: HeaderMap) -> Response {
    if let Some(r) = refuse(&st, &headers) {
        return r;
    }
    (
        [(axum::http::header::CONTENT_TYPE, "application/json")],
        json(),
    )
        .into_response()
}

/// `{"type": "boolean", "enum": [true]}`: a flag that may only be set (`"dead": true`,
/// `"all": true`).
pub fn only_true() -> utoipa::openapi::Object {
    utoipa::openapi::ObjectBuilder::new()
        .schema_type(utoipa::openapi::Type::Boolean)
        .enum_values(Some([true]))
        .build()
}

/// A string of a fixed set of values.
fn one_of(values: &[&str]) -> utoipa::openapi::ObjectBuilder {
    utoipa::openapi::ObjectBuilder::new()
        .schema_type(utoipa::openapi::Type::String)
        .enum_values(Some(values.iter().copied()))
}

/// A bulk job's action.
pub fn job_action() -> utoipa::openapi::Object {
    one_of(&["replay", "skip", "remap"]).build()
}

/// A bulk job's state as shown: `interrupted` when its runner stopped (a restart); begin it
/// again through the dashboard or begin a new job (replay and skip are idempotent).
pub fn job_state() -> utoipa::openapi::Object {
    one_of(&["queued", "running", "done", "failed", "interrupted"]).build()
}

/// A postal order type: `"1"` collection, `"2"` delivery.
pub fn order_type() -> utoipa::openapi::Object {
    one_of(&["1", "2"]).build()
}

/// A report's format.
pub fn report_format() -> utoipa::openapi::Object {
    one_of(&["json", "csv"])
        .default(Some("json".into()))
        .build()
}

/// A report's language.
pub fn report_lang() -> utoipa::openapi::Object {
    one_of(&["vi", "en"]).default(Some("vi".into())).build()
}

/// A JSON body that must be an object: serde reads a struct from an array of its fields too,
/// which the document does not allow.
#[derive(serde::Deserialize)]
pub struct JsonObject(serde_json::Map<String, serde_json::Value>);

impl JsonObject {
    /// The object as `T`, or `None` when it is not one.
    pub fn read<T: serde::de::DeserializeOwned>(self) -> Option<T> {
        serde_json::from_value(serde_json::Value::Object(self.0)).ok()
    }
}
