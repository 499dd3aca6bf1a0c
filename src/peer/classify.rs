//! The classification table every route shares: rules from config (`[[peers.<name>.classify]]`)
//! that match an answer's HTTP status, code and message text and say what it means, tried before
//! each peer's built-in reading of its own answers. Also the meaning of one answer
//! ([`Classified`]) that a peer's `classify` produces and the outbox's verdict it becomes.
//! Pure: no I/O, no clock.

use std::time::{Duration, SystemTime};

use serde::{Deserialize, Serialize};
use unicode_normalization::UnicodeNormalization;

use crate::peer::{BatchVerdict, ItemVerdict};

/// One rule of a peer's answer classification. Every condition given must hold.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct ClassifyRule {
    /// `envelope` (the whole answer) or `item` (one result item).
    #[serde(default = "default_scope")]
    pub scope: ClassifyScope,
    /// Matches the answer's `error_code` compared as an integer (`"00"` = `0`).
    pub error_code: Option<i64>,
    /// Matches the HTTP status.
    pub http_status: Option<u16>,
    /// Matches when the message contains this text (case-insensitive).
    pub message_contains: Option<String>,
    pub outcome: ClassifyOutcome,
}

fn default_scope() -> ClassifyScope {
    ClassifyScope::Item
}

#[derive(Debug, Clone, Copy, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum ClassifyScope {
    Envelope,
    Item,
}

#[derive(Debug, Clone, Copy, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum ClassifyOutcome {
    Delivered,
    AlreadyExists,
    NotFound,
    Retry,
    Reject,
    /// Session expired: log in again once and repeat (envelope scope only).
    Reauth,
    /// Credentials refused: pause the destination (envelope scope only).
    Pause,
}

/// The meaning of one answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Classified {
    /// One verdict per item sent, in request order.
    Items(Vec<ItemVerdict>),
    /// Nothing was applied; repeat the same body under the same id later.
    Retry {
        reason: String,
        after: Option<Duration>,
    },
    /// Nothing was applied and repeating will not help.
    Reject { reason: String },
    /// Our credentials are refused: pause the destination.
    Paused { reason: String },
    /// The session or token expired: log in again once and repeat at once.
    Reauth { reason: String },
}

impl Classified {
    /// The verdict the outbox sees. A `Reauth` that reaches this point (the repeat after a fresh
    /// login was refused again) becomes a plain `Retry`.
    pub fn into_verdict(self) -> BatchVerdict {
        match self {
            Classified::Items(items) => BatchVerdict::Items(items),
            Classified::Retry { reason, after } => BatchVerdict::Retry { reason, after },
            Classified::Reject { reason } => BatchVerdict::Reject { reason },
            Classified::Paused { reason } => BatchVerdict::Paused { reason },
            Classified::Reauth { reason } => BatchVerdict::Retry {
                reason: format!("{reason} (again, right after a fresh login)"),
                after: None,
            },
        }
    }

    /// Applies `f` to every reason text (used to mask credentials the peer might echo).
    pub fn map_reasons(self, f: impl Fn(String) -> String) -> Classified {
        let item = |v: ItemVerdict| match v {
            ItemVerdict::Delivered => ItemVerdict::Delivered,
            ItemVerdict::AlreadyExists { reason } => {
                ItemVerdict::AlreadyExists { reason: f(reason) }
            }
            ItemVerdict::NotFound { reason } => ItemVerdict::NotFound { reason: f(reason) },
            ItemVerdict::Retry { reason } => ItemVerdict::Retry { reason: f(reason) },
            ItemVerdict::Reject { reason } => ItemVerdict::Reject { reason: f(reason) },
            ItemVerdict::Later {
                reason,
                after,
                tried,
            } => ItemVerdict::Later {
                reason: f(reason),
                after,
                tried,
            },
            ItemVerdict::Paused { reason } => ItemVerdict::Paused { reason: f(reason) },
        };
        match self {
            Classified::Items(items) => Classified::Items(items.into_iter().map(item).collect()),
            Classified::Retry { reason, after } => Classified::Retry {
                reason: f(reason),
                after,
            },
            Classified::Reject { reason } => Classified::Reject { reason: f(reason) },
            Classified::Paused { reason } => Classified::Paused { reason: f(reason) },
            Classified::Reauth { reason } => Classified::Reauth { reason: f(reason) },
        }
    }
}

pub fn whole_batch(
    outcome: ClassifyOutcome,
    reason: String,
    after: Option<Duration>,
    sent_items: usize,
) -> Classified {
    match outcome {
        ClassifyOutcome::Delivered | ClassifyOutcome::AlreadyExists | ClassifyOutcome::NotFound => {
            // An envelope rule with an item outcome speaks for every item sent.
            let verdict = item_outcome(outcome, reason).unwrap_or(ItemVerdict::Delivered);
            Classified::Items(vec![verdict; sent_items])
        }
        ClassifyOutcome::Retry => Classified::Retry { reason, after },
        ClassifyOutcome::Reject => Classified::Reject { reason },
        ClassifyOutcome::Reauth => Classified::Reauth { reason },
        ClassifyOutcome::Pause => Classified::Paused { reason },
    }
}

pub fn item_outcome(outcome: ClassifyOutcome, reason: String) -> Option<ItemVerdict> {
    match outcome {
        ClassifyOutcome::Delivered => Some(ItemVerdict::Delivered),
        ClassifyOutcome::AlreadyExists => Some(ItemVerdict::AlreadyExists { reason }),
        ClassifyOutcome::NotFound => Some(ItemVerdict::NotFound { reason }),
        ClassifyOutcome::Retry => Some(ItemVerdict::Retry { reason }),
        ClassifyOutcome::Reject => Some(ItemVerdict::Reject { reason }),
        // Not meaningful for one item (config check refuses them); fall through to defaults.
        ClassifyOutcome::Reauth | ClassifyOutcome::Pause => None,
    }
}

/// What a rule can look at.
pub struct Facts<'a> {
    pub status: u16,
    pub code: Option<i64>,
    pub message: &'a str,
}

pub fn first_rule<'r>(
    rules: &'r [ClassifyRule],
    scope: ClassifyScope,
    facts: &Facts<'_>,
) -> Option<(usize, &'r ClassifyRule)> {
    rules
        .iter()
        .enumerate()
        .find(|(_, rule)| rule_matches(rule, scope, facts))
}

fn rule_matches(rule: &ClassifyRule, scope: ClassifyScope, facts: &Facts<'_>) -> bool {
    let names_a_condition =
        rule.error_code.is_some() || rule.http_status.is_some() || rule.message_contains.is_some();
    rule.scope == scope
        && names_a_condition
        && rule.error_code.is_none_or(|c| facts.code == Some(c))
        && rule.http_status.is_none_or(|s| s == facts.status)
        && rule
            .message_contains
            .as_deref()
            .is_none_or(|needle| fold(facts.message).contains(&fold(needle)))
}

/// NFC and lower case, so matching ignores case and how diacritics were composed.
pub fn fold(text: &str) -> String {
    text.nfc().collect::<String>().to_lowercase()
}

/// `Retry-After` as delta-seconds or an HTTP date; a date in the past means "now".
pub fn parse_retry_after(value: &str, now: SystemTime) -> Option<Duration> {
    let value = value.trim();
    if let Ok(seconds) = value.parse::<u64>() {
        return Some(Duration::from_secs(seconds));
    }
    let at = httpdate::parse_http_date(value).ok()?;
    Some(at.duration_since(now).unwrap_or(Duration::ZERO))
}

/// Every problem of a peer's rules, as `prefix[i]: ...` lines.
pub fn check_rules(prefix: &str, rules: &[ClassifyRule]) -> Vec<String> {
    let mut problems = Vec::new();
    for (i, rule) in rules.iter().enumerate() {
        if rule.error_code.is_none()
            && rule.http_status.is_none()
            && rule.message_contains.is_none()
        {
            problems.push(format!(
                "{prefix}[{i}]: names no condition (error_code, http_status or message_contains)"
            ));
        }
        if rule.scope == ClassifyScope::Item
            && matches!(
                rule.outcome,
                ClassifyOutcome::Reauth | ClassifyOutcome::Pause
            )
        {
            problems.push(format!(
                "{prefix}[{i}]: outcome {:?} applies to scope \"envelope\" only",
                rule.outcome
            ));
        }
    }
    problems
}
