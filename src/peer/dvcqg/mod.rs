//! The national portal adapter (DVCQG) as a [`Peer`]: builds batch bodies, sends stored bodies
//! under their `X-Request-ID`, and says what the portal's answer means.
//!
//! - `auth`: the session login or LGSP token, cached and shared by concurrent sends.
//! - `client`: the HTTP client and one POST, with the credential added at send time.
//! - `classify`: the one pure function that turns an answer into a verdict.
//!
//! What this module must not do: store anything, retry on its own beyond the single repeat
//! after a fresh login (back-off belongs to the outbox), change a stored body other than by
//! adding the `session`, or let a secret reach a log line, an error or a `Debug` string.

pub(in crate::peer) mod auth;
mod classify;
pub(in crate::peer) mod client;
pub mod config;
pub mod facts;
#[cfg(test)]
mod tests;

use std::convert::Infallible;
use std::fmt;
use std::time::{Duration, SystemTime};

use async_trait::async_trait;
use reqwest::Url;
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};
use tokio::sync::Mutex;
use uuid::Uuid;

use crate::peer::classify::ClassifyRule;
use crate::peer::reads::{CatalogReads, ListedProcedure, ReadError};
use crate::peer::registry::{Family, Takes};
use crate::peer::{BatchVerdict, ItemVerdict, Peer};
use crate::settings::require_secret;
use crate::store::HeaderRule;

use auth::{lgsp_access_header, Auth, AuthError, LgspToken, SessionLogin};
use client::Answer;

pub use crate::peer::classify::{parse_retry_after, Classified};
pub use classify::{classify, classify_lookup, classify_read};
pub use config::{DvcqgAuth, DvcqgConfig, LgspAccessHeader};

/// Create or update dossiers (`isUpdating` says which).
pub const OP_DOSSIERS: &str = "DongBoHoSoMC";
/// Processing steps of dossiers.
pub const OP_STEPS: &str = "CapNhatTienDoHoSoMC";
/// Monthly satisfaction figures.
pub const OP_SURVEYS: &str = "DongBoDanhGia";
/// Look one dossier up.
pub const OP_LOOKUP: &str = "TraCuuHoSo";

/// The portal in the peer registry: dossier headers first (a dossier's later records are sent as
/// updates), steps after their dossier's header.
pub const FAMILY: Family = Family {
    describe: "portal",
    name: "dvcqg",
    takes: &[
        Takes {
            target: crate::mapping::Target::Dossier,
            operation: OP_DOSSIERS,
            header: HeaderRule::Header,
        },
        Takes {
            target: crate::mapping::Target::Step,
            operation: OP_STEPS,
            header: HeaderRule::AfterHeader,
        },
        Takes {
            target: crate::mapping::Target::Survey,
            operation: OP_SURVEYS,
            header: HeaderRule::Free,
        },
    ],
    operations: &[OP_DOSSIERS, OP_STEPS, OP_SURVEYS],
};

/// The portal's create ↔ update rule for one item (see [`Peer::resend_as`]): a dossier created
/// that already exists goes again as an update, one updated that does not exist as a create.
pub fn resend_as(operation: &str, is_update: bool, verdict: &ItemVerdict) -> Option<bool> {
    match verdict {
        ItemVerdict::AlreadyExists { .. } if operation == OP_DOSSIERS && !is_update => Some(true),
        ItemVerdict::NotFound { .. } if operation == OP_DOSSIERS && is_update => Some(false),
        _ => None,
    }
}

/// Catalog read: the whole list of procedures (`POST /share`).
pub const READ_LIST: &str = "LayDanhSachTTHC";
/// Catalog read: one procedure's full object (`POST /share`).
pub const READ_PROCEDURE: &str = "LayThuTuc";

/// Rows per `DongBoDanhGia` call.
const SURVEY_BATCH: usize = 50;

/// What can go wrong outside [`Peer::send`] (which answers with verdicts instead).
#[derive(Debug, thiserror::Error)]
pub enum DvcqgError {
    /// The configuration cannot make a working peer.
    #[error("dvcqg config: {0}")]
    Config(String),
    /// The portal refuses our credentials; nothing will work until the config changes.
    #[error("dvcqg refused our credentials: {reason}")]
    Refused { reason: String },
    /// Could not be done now (timeout, 5xx, expired session twice, ...); try again later.
    #[error("dvcqg temporarily unavailable: {reason}")]
    Temporary {
        reason: String,
        after: Option<Duration>,
    },
    /// The portal refused the request itself.
    #[error("dvcqg rejected the request: {reason}")]
    Rejected { reason: String },
}

impl From<Classified> for DvcqgError {
    /// What an answer that is not a result means to a caller outside the outbox.
    fn from(classified: Classified) -> Self {
        match classified {
            Classified::Reject { reason } => DvcqgError::Rejected { reason },
            Classified::Paused { reason } => DvcqgError::Refused { reason },
            Classified::Items(_) => DvcqgError::Temporary {
                reason: "a classify rule answered with item verdicts where none apply".into(),
                after: None,
            },
            Classified::Retry { reason, after } => DvcqgError::Temporary { reason, after },
            // Reaches a caller only when the repeat after a fresh login expired too.
            Classified::Reauth { reason } => DvcqgError::Temporary {
                reason: format!("{reason} (again, right after a fresh login)"),
                after: None,
            },
        }
    }
}

/// The DVCQG peer. Cheap to share behind an `Arc`; concurrent sends share one login.
pub struct DvcqgPeer {
    http: crate::peer::http::PeerHttp,
    integration_url: Url,
    share_url: Url,
    madonvi: String,
    dossier_batch: usize,
    step_batch: usize,
    rules: Vec<ClassifyRule>,
    auth: Auth,
}

impl fmt::Debug for DvcqgPeer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DvcqgPeer")
            .field("integration_url", &self.integration_url.as_str())
            .field("madonvi", &self.madonvi)
            .field("auth", &self.auth)
            .field("rules", &self.rules.len())
            .finish_non_exhaustive()
    }
}

impl DvcqgPeer {
    /// Builds the peer from config, resolving its secrets (value or file) now. `timeout` is the
    /// time allowed for one call, from the peer's delivery policy.
    pub fn new(cfg: &DvcqgConfig, timeout: Duration) -> Result<Self, DvcqgError> {
        if timeout.is_zero() {
            return Err(DvcqgError::Config(
                "peers.dvcqg.policy.timeout_ms: must be greater than 0".into(),
            ));
        }
        let http = crate::peer::http::PeerHttp::new("dvcqg", timeout, &cfg.tls)
            .map_err(DvcqgError::Config)?;
        let auth = build_auth("peers.dvcqg", &cfg.base_url, &cfg.auth)?;
        Ok(DvcqgPeer {
            http,
            integration_url: endpoint(&cfg.base_url, "integration")?,
            share_url: endpoint(&cfg.base_url, "share")?,
            madonvi: cfg.madonvi.clone(),
            dossier_batch: cfg.dossier_batch,
            step_batch: cfg.step_batch,
            rules: cfg.classify.clone(),
            auth,
        })
    }

    /// Looks a dossier up (`TraCuuHoSo`): `None` when the portal does not know it, else its
    /// item `{MaHoSo, MaTTHC, TrangThaiHoSo, NgayTiepNhan, NgayHenTra, NgayCapNhat}`.
    pub async fn lookup(&self, ma_ho_so: &str) -> Result<Option<Value>, DvcqgError> {
        let mut body = Map::new();
        body.insert("madonvi".into(), Value::String(self.madonvi.clone()));
        body.insert("service".into(), Value::String(OP_LOOKUP.into()));
        body.insert("mahoso".into(), Value::String(ma_ho_so.to_string()));
        let body = Value::Object(body);
        // A read: nothing to deduplicate, so each lookup has its own id.
        let request_id = Uuid::new_v4();
        self.exchange(
            &self.integration_url,
            request_id,
            OP_LOOKUP,
            &body,
            |answer| {
                classify_lookup(
                    answer.status,
                    answer.retry_after.as_deref(),
                    &answer.body,
                    &self.rules,
                    SystemTime::now(),
                )
            },
        )
        .await
        .map_err(DvcqgError::from)
    }

    /// The portal's procedure list (`LayDanhSachTTHC`). An entry without a `MATTHC` is left
    /// out (logged); `TENTTHC` and `TRANGTHAI` default to empty.
    pub async fn list_procedures(&self) -> Result<Vec<ListedProcedure>, DvcqgError> {
        let items = self.read(READ_LIST, None).await?;
        let text = |v: &Value, k: &str| match v.get(k) {
            Some(Value::String(s)) => s.trim().to_string(),
            Some(Value::Number(n)) => n.to_string(),
            _ => String::new(),
        };
        let mut out = Vec::with_capacity(items.len());
        for (i, item) in items.iter().enumerate() {
            let code = text(item, "MATTHC");
            if code.is_empty() {
                tracing::warn!(
                    index = i,
                    "dvcqg: a LayDanhSachTTHC entry without MATTHC ignored"
                );
                continue;
            }
            out.push(ListedProcedure {
                code,
                name: text(item, "TENTTHC"),
                state: text(item, "TRANGTHAI"),
            });
        }
        Ok(out)
    }

    /// One procedure's full object (`LayThuTuc`), as the portal sent it (key order kept);
    /// `None` when the portal does not know the code.
    pub async fn procedure(&self, code: &str) -> Result<Option<Value>, DvcqgError> {
        Ok(self
            .read(READ_PROCEDURE, Some(code))
            .await?
            .into_iter()
            .next())
    }

    /// One catalog read on `/share`. A read has nothing to deduplicate: each has its own id.
    async fn read(&self, service: &str, code: Option<&str>) -> Result<Vec<Value>, DvcqgError> {
        let mut body = Map::new();
        body.insert("madonvi".into(), Value::String(self.madonvi.clone()));
        body.insert("service".into(), Value::String(service.into()));
        if let Some(code) = code {
            body.insert("maTTHC".into(), Value::String(code.to_string()));
        }
        let body = Value::Object(body);
        self.exchange(&self.share_url, Uuid::new_v4(), service, &body, |answer| {
            classify_read(
                answer.status,
                answer.retry_after.as_deref(),
                &answer.body,
                &self.rules,
                SystemTime::now(),
            )
        })
        .await
        .map_err(DvcqgError::from)
    }

    /// One request with the current credential. When `decide` says the credential expired
    /// (`Classified::Reauth`), logs in again and repeats the same body under the same id,
    /// once; a second expiry is returned as it is. Reasons are masked of the credential.
    async fn exchange<T>(
        &self,
        url: &Url,
        request_id: Uuid,
        operation: &str,
        body: &Value,
        decide: impl Fn(&Answer) -> Result<T, Classified>,
    ) -> Result<T, Classified> {
        let mut repeated_after_login = false;
        loop {
            let credential =
                self.auth
                    .credential(&self.http.client())
                    .await
                    .map_err(|e| match e {
                        AuthError::Refused(reason) => Classified::Paused {
                            reason: format!("login refused: {reason}"),
                        },
                        AuthError::Temporary(reason) => Classified::Retry {
                            reason: format!("cannot log in: {reason}"),
                            after: None,
                        },
                    })?;
            let outcome =
                match client::post(&self.http.client(), url, request_id, body, &credential).await {
                    Ok(answer) => {
                        tracing::debug!(
                            %request_id, operation, status = answer.status, "dvcqg: answered"
                        );
                        decide(&answer)
                    }
                    Err(e) => Err(Classified::Retry {
                        reason: client::describe_transport_error(&e),
                        after: None,
                    }),
                };
            match outcome {
                Err(Classified::Reauth { reason }) if !repeated_after_login => {
                    tracing::info!(%request_id, operation, reason = %credential.mask(reason),
                        "dvcqg: credential expired; logging in again and repeating once");
                    self.auth.invalidate(&credential).await;
                    repeated_after_login = true;
                }
                other => return other.map_err(|c| c.map_reasons(|r| credential.mask(r))),
            }
        }
    }
}

/// The portal is the catalog's source.
#[async_trait]
impl CatalogReads for DvcqgPeer {
    async fn list(&self) -> Result<Vec<ListedProcedure>, ReadError> {
        self.list_procedures().await.map_err(read_error)
    }

    async fn procedure(&self, code: &str) -> Result<Option<Value>, ReadError> {
        DvcqgPeer::procedure(self, code).await.map_err(read_error)
    }
}

/// The portal holds the dossiers' records that reconciliation checks.
#[async_trait]
impl crate::peer::reads::PortalRecords for DvcqgPeer {
    fn family(&self) -> &'static str {
        FAMILY.name
    }

    fn expects(&self, operation: &str, item: &Value) -> Option<crate::peer::reads::Expected> {
        facts::expects(operation, item)
    }

    async fn lookup(
        &self,
        dossier: &str,
    ) -> Result<Option<crate::peer::reads::PortalRecord>, ReadError> {
        let Some(item) = DvcqgPeer::lookup(self, dossier).await.map_err(read_error)? else {
            return Ok(None);
        };
        let field = |k: &str| match item.get(k) {
            Some(Value::String(s)) => s.trim().to_string(),
            Some(Value::Number(n)) => n.to_string(),
            _ => String::new(),
        };
        Ok(Some(crate::peer::reads::PortalRecord {
            procedure: field("MaTTHC"),
            status: field("TrangThaiHoSo"),
            received: field("NgayTiepNhan"),
            appointment: field("NgayHenTra"),
            updated: field("NgayCapNhat"),
        }))
    }
}

fn read_error(e: DvcqgError) -> ReadError {
    match e {
        DvcqgError::Temporary { reason, after } => ReadError::Busy { reason, after },
        refused @ DvcqgError::Refused { .. } => ReadError::Refused(refused.to_string()),
        other => ReadError::Failed(other.to_string()),
    }
}

#[async_trait]
impl Peer for DvcqgPeer {
    fn name(&self) -> &str {
        "dvcqg"
    }

    fn max_batch(&self, operation: &str) -> usize {
        match operation {
            OP_DOSSIERS => self.dossier_batch,
            OP_STEPS => self.step_batch,
            OP_SURVEYS => SURVEY_BATCH,
            _ => 1,
        }
    }

    fn build_body(&self, operation: &str, is_update: bool, items: &[Value]) -> Value {
        let mut body = Map::new();
        body.insert("madonvi".into(), Value::String(self.madonvi.clone()));
        body.insert("service".into(), Value::String(operation.to_string()));
        if operation == OP_DOSSIERS {
            let flag = if is_update { "True" } else { "False" };
            body.insert("isUpdating".into(), Value::String(flag.into()));
        }
        body.insert("data".into(), Value::Array(items.to_vec()));
        Value::Object(body)
    }

    async fn send(&self, request_id: Uuid, operation: &str, body: &Value) -> BatchVerdict {
        self.send_recorded(request_id, operation, body).await.0
    }

    fn resend_as(&self, operation: &str, is_update: bool, verdict: &ItemVerdict) -> Option<bool> {
        resend_as(operation, is_update, verdict)
    }

    async fn send_recorded(
        &self,
        request_id: Uuid,
        operation: &str,
        body: &Value,
    ) -> (BatchVerdict, Option<String>) {
        // The answer the verdict was read from (the last one, after a re-login).
        let answered: std::sync::Mutex<Option<String>> = std::sync::Mutex::new(None);
        let sent_items = body
            .get("data")
            .and_then(Value::as_array)
            .map_or(0, Vec::len);
        tracing::debug!(%request_id, operation, sent_items, "dvcqg: sending batch");
        // Every answer is an `Err` of the exchange: `decide` never stops at `Ok`.
        let outcome: Result<Infallible, Classified> = self
            .exchange(
                &self.integration_url,
                request_id,
                operation,
                body,
                |answer| {
                    *answered.lock().unwrap_or_else(|e| e.into_inner()) =
                        Some(hex::encode(Sha256::digest(&answer.body)));
                    Err(classify(
                        answer.status,
                        answer.retry_after.as_deref(),
                        &answer.body,
                        sent_items,
                        &self.rules,
                        SystemTime::now(),
                    ))
                },
            )
            .await;
        let verdict = match outcome {
            Ok(never) => match never {},
            Err(classified) => classified.into_verdict(),
        };
        log_verdict(request_id, operation, &verdict);
        let answered = answered.into_inner().unwrap_or_else(|e| e.into_inner());
        (verdict, answered)
    }
}

fn log_verdict(request_id: Uuid, operation: &str, verdict: &BatchVerdict) {
    match verdict {
        BatchVerdict::Items(items) => {
            let delivered = items
                .iter()
                .filter(|v| matches!(v, ItemVerdict::Delivered))
                .count();
            tracing::debug!(
                %request_id, operation, delivered, of = items.len(), "dvcqg: batch answered"
            );
        }
        BatchVerdict::Retry { reason, after } => {
            let after_s = after.map(|d| d.as_secs());
            tracing::info!(%request_id, operation, %reason, after_s, "dvcqg: batch to retry");
        }
        BatchVerdict::Reject { reason } => {
            tracing::warn!(%request_id, operation, %reason, "dvcqg: batch rejected");
        }
        BatchVerdict::Paused { reason } => {
            tracing::error!(
                %request_id, operation, %reason, "dvcqg: credentials refused; destination paused"
            );
        }
    }
}

/// The credential a peer's calls carry, from its `auth` block; `prefix` names the block in
/// errors (`peers.dvcqg`, `peers.lgsp_sync`).
pub(in crate::peer) fn build_auth(
    prefix: &str,
    base_url: &str,
    auth: &DvcqgAuth,
) -> Result<Auth, DvcqgError> {
    let auth = match auth {
        DvcqgAuth::Session {
            dstcode,
            username,
            password,
            password_file,
        } => Auth::Session(SessionLogin {
            auth_url: endpoint(base_url, "auth")?,
            dstcode: dstcode.clone(),
            username: username.clone(),
            password: require_secret(&format!("{prefix}.auth.password"), password, password_file)
                .map_err(DvcqgError::Config)?,
            session: Mutex::new(None),
        }),
        DvcqgAuth::Lgsp {
            token_url,
            client_id,
            client_secret,
            client_secret_file,
            access_token_header,
        } => {
            let access_header = match access_token_header {
                None => None,
                Some(h) => {
                    let field = format!("{prefix}.auth.access_token_header");
                    let access_key = require_secret(
                        &format!("{field}.access_key"),
                        &h.access_key,
                        &h.access_key_file,
                    )
                    .map_err(DvcqgError::Config)?;
                    let secret_key = require_secret(
                        &format!("{field}.secret_key"),
                        &h.secret_key,
                        &h.secret_key_file,
                    )
                    .map_err(DvcqgError::Config)?;
                    Some(lgsp_access_header(
                        &access_key,
                        &secret_key,
                        &h.app_name,
                        &h.partner_code,
                        &h.partner_code_cus,
                    ))
                }
            };
            Auth::Lgsp(LgspToken {
                token_url: parse_http_url(&format!("{prefix}.auth.token_url"), token_url)?,
                client_id: client_id.clone(),
                client_secret: require_secret(
                    &format!("{prefix}.auth.client_secret"),
                    client_secret,
                    client_secret_file,
                )
                .map_err(DvcqgError::Config)?,
                access_header,
                token: Mutex::new(None),
            })
        }
    };
    Ok(auth)
}

/// `<base>/<path>`, whether or not the base ends with a slash.
fn endpoint(base_url: &str, path: &str) -> Result<Url, DvcqgError> {
    parse_http_url(
        "peers.dvcqg.base_url",
        &format!("{}/{path}", base_url.trim_end_matches('/')),
    )
}

pub(in crate::peer) fn parse_http_url(field: &str, url: &str) -> Result<Url, DvcqgError> {
    let parsed =
        Url::parse(url).map_err(|e| DvcqgError::Config(format!("{field}: not a URL ({e})")))?;
    if parsed.scheme() != "http" && parsed.scheme() != "https" {
        return Err(DvcqgError::Config(format!(
            "{field}: scheme \"{}\" is neither http nor https",
            parsed.scheme()
        )));
    }
    Ok(parsed)
}
