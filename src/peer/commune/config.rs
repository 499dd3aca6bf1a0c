//! The commune family's configuration (`[peers.commune]`): its subscribers, each with a base
//! URL, a shared secret (value or file) and a filter on the catalog, and [`CommuneConfig::check`],
//! which reports every problem with its key path.
//!
//! The delivery policy (timeout, back-off, breaker, ...) is not here: it is the outbox's, given
//! to [`super::CommunePeer::new`]. This module must not import `crate::config` (the top-level
//! config composes this one, so the import would make a cycle), print a secret (secrets are
//! `SecretString`s, skipped when serialising), or read anything but the secret files.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use secrecy::SecretString;
use serde::{Deserialize, Serialize};

use crate::outbox::config::PolicyOverride;
use crate::peer::classify::{check_rules, ClassifyRule};
use serde_json::Value;

/// Where the family sits in the configuration, for problem reports.
const KEY: &str = "peers.commune";

/// Longest subscriber name: it is the outbox's destination and shows in logs and metrics.
const NAME_MAX: usize = 64;

/// Implementing levels (`CAPTHUCHIEN`) the portal defines (dvcqg.md): 1 central, 2 province,
/// 3 district (no longer used), 4 commune.
const LEVELS: [&str; 4] = ["1", "2", "3", "4"];

/// `[peers.commune]`: the catalog subscribers (commune one-stop-shop systems and any other).
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct CommuneConfig {
    /// Every subscriber, by name; order does not matter.
    #[serde(default)]
    pub subscribers: Vec<SubscriberConfig>,
    /// The family's changes to the `[delivery]` policy (each subscriber gets its own breaker,
    /// pause and back-off under it).
    #[serde(default)]
    pub policy: PolicyOverride,
    /// Classification rules (envelope scope: the HTTP status and the answer's text), tried
    /// before the contract's reading of the status.
    #[serde(default)]
    pub classify: Vec<ClassifyRule>,
    /// How many procedures one claim takes for one subscriber (default
    /// [`DEFAULT_MAX_BATCH`]): each still goes as its own request, in queue order, but they
    /// are claimed and settled together.
    #[serde(default)]
    pub max_batch: Option<usize>,
    /// TLS to this peer: a CA bundle and a client certificate (`crate::peer::http::TlsConfig`).
    #[serde(default)]
    pub tls: crate::peer::http::TlsConfig,
}

/// Procedures one claim takes for one subscriber unless `max_batch` says otherwise.
pub const DEFAULT_MAX_BATCH: usize = 50;

/// The largest `max_batch` accepted.
const MAX_BATCH_LIMIT: usize = 1_000;

/// `[[peers.commune.subscribers]]`: one subscribed system.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct SubscriberConfig {
    /// The outbox destination: ASCII letters, digits, `-` and `_`, unique in the family.
    pub name: String,
    /// `https://host/path`; upserts go to `<base_url>/procedures/<MATTHC>`.
    pub base_url: String,
    /// The shared secret the signature is made with. Give this or `secret_file`.
    #[serde(default, skip_serializing)]
    pub secret: Option<SecretString>,
    /// A file holding the secret (trailing newlines ignored); relative to the config's folder.
    #[serde(default)]
    pub secret_file: Option<PathBuf>,
    /// Which part of the catalog this subscriber takes; empty = all of it.
    #[serde(default)]
    pub filter: SubscriberFilter,
}

/// A subscriber's share of the catalog. Each list that is not empty must match; both empty
/// takes every procedure. Codes are compared as strings, exactly (`"01"` is not `"1"`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct SubscriberFilter {
    /// Implementing levels (`CAPTHUCHIEN` codes `"1"`..`"4"`): the procedure must be carried
    /// out at one of them.
    #[serde(default)]
    pub levels: Vec<String>,
    /// Fields (`MALINHVUC` codes, e.g. `G03-GD09`): the procedure must belong to one of them.
    #[serde(default)]
    pub fields: Vec<String>,
}

impl SubscriberFilter {
    /// Whether a subscriber with this filter takes `procedure` (the portal's `LayThuTuc`
    /// object: `CAPTHUCHIEN[] {CAPTHUCHIEN}`, `LINHVUCTHUCHIEN[] {MALINHVUC}`).
    pub fn takes(&self, procedure: &Value) -> bool {
        matches_any(&self.levels, procedure, "CAPTHUCHIEN", "CAPTHUCHIEN")
            && matches_any(&self.fields, procedure, "LINHVUCTHUCHIEN", "MALINHVUC")
    }

    /// Whether the filter takes everything.
    pub fn is_empty(&self) -> bool {
        self.levels.is_empty() && self.fields.is_empty()
    }
}

/// True when `wanted` is empty, or one of the `list[].code` values of `procedure` is in it.
fn matches_any(wanted: &[String], procedure: &Value, list: &str, code: &str) -> bool {
    if wanted.is_empty() {
        return true;
    }
    procedure
        .get(list)
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|entry| entry.get(code).and_then(Value::as_str))
        .any(|c| wanted.iter().any(|w| w == c))
}

/// Tries per message unless `[peers.commune.policy] max_attempts` says otherwise: a subscriber
/// may be down for a week and must still catch up by itself when it returns (its breaker keeps
/// the tries to one probe per cool-down meanwhile), so transient failures must not
/// dead-letter its messages.
pub const DEFAULT_MAX_ATTEMPTS: u32 = 1_000_000;

impl CommuneConfig {
    /// The family's policy override with its own defaults under it (see
    /// [`DEFAULT_MAX_ATTEMPTS`]).
    pub fn effective_policy(&self) -> PolicyOverride {
        let mut p = self.policy.clone();
        p.max_attempts.get_or_insert(DEFAULT_MAX_ATTEMPTS);
        p
    }

    /// Every problem that can be found without sending anything, one line each, starting with
    /// its key path (`peers.commune.subscribers[3].base_url: ...`). Relative `secret_file`
    /// paths are resolved against `base_dir` (the config file's folder).
    pub fn check(&self, base_dir: &Path) -> Vec<String> {
        let mut problems = check_rules(&format!("{KEY}.classify"), &self.classify);
        if let Some(n) = self.max_batch {
            if n == 0 || n > MAX_BATCH_LIMIT {
                problems.push(format!(
                    "{KEY}.max_batch: {n} is outside 1..={MAX_BATCH_LIMIT}"
                ));
            }
        }
        let mut first_with_name: HashMap<&str, usize> = HashMap::new();
        for (i, s) in self.subscribers.iter().enumerate() {
            let at = format!("{KEY}.subscribers[{i}]");
            if let Some(problem) = name_problem(&s.name) {
                problems.push(format!("{at}.name: {problem}"));
            } else if let Some(first) = first_with_name.get(s.name.as_str()) {
                problems.push(format!(
                    "{at}.name: \"{}\" is already the name of {KEY}.subscribers[{first}]",
                    s.name
                ));
            } else {
                first_with_name.insert(&s.name, i);
            }
            if let Err(problem) = parse_base_url(&s.base_url) {
                problems.push(format!("{at}.base_url: {problem}"));
            }
            if let Err(problem) = s.read_secret(base_dir) {
                problems.push(format!("{at}.{problem}"));
            }
            for (j, level) in s.filter.levels.iter().enumerate() {
                if !LEVELS.contains(&level.as_str()) {
                    problems.push(format!(
                        "{at}.filter.levels[{j}]: \"{level}\" is not an implementing level (\"1\" central, \"2\" province, \"3\" district, \"4\" commune)"
                    ));
                }
            }
            for (j, field) in s.filter.fields.iter().enumerate() {
                if field.trim().is_empty() {
                    problems.push(format!(
                        "{at}.filter.fields[{j}]: must be a field code (MALINHVUC), not empty"
                    ));
                }
            }
        }
        problems
    }
}

impl SubscriberConfig {
    /// The secret, from the value or the file. The error names the key (`secret` or
    /// `secret_file`) without the family prefix, and never holds the secret.
    pub(super) fn read_secret(&self, base_dir: &Path) -> Result<SecretString, String> {
        match (&self.secret, &self.secret_file) {
            (Some(_), Some(_)) => Err("secret: give either secret or secret_file, not both".into()),
            (Some(value), None) => {
                if secrecy::ExposeSecret::expose_secret(value).is_empty() {
                    Err("secret: must not be empty".into())
                } else {
                    Ok(value.clone())
                }
            }
            (None, Some(file)) => {
                let path = if file.is_absolute() {
                    file.clone()
                } else {
                    base_dir.join(file)
                };
                match std::fs::read_to_string(&path) {
                    Ok(text) => {
                        let secret = text.trim_end_matches(['\n', '\r']);
                        if secret.is_empty() {
                            Err(format!("secret_file: {} is empty", path.display()))
                        } else {
                            Ok(SecretString::from(secret.to_string()))
                        }
                    }
                    Err(e) => Err(format!("secret_file: cannot read {}: {e}", path.display())),
                }
            }
            (None, None) => Err("secret: missing (give secret or secret_file)".into()),
        }
    }
}

/// Why `name` cannot be a subscriber's name, if it cannot.
fn name_problem(name: &str) -> Option<String> {
    if name.is_empty() {
        return Some("must not be empty".into());
    }
    if name.len() > NAME_MAX {
        return Some(format!("longer than {NAME_MAX} characters"));
    }
    if !name
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
    {
        return Some(format!(
            "\"{}\" may hold only ASCII letters, digits, '-' and '_'",
            name.escape_default()
        ));
    }
    None
}

/// The base URL as the client uses it: http or https, a host, no query, fragment or user info.
/// The error never repeats a password the URL may hold.
pub(super) fn parse_base_url(text: &str) -> Result<reqwest::Url, String> {
    let url = reqwest::Url::parse(text).map_err(|e| format!("not a URL ({e})"))?;
    let shown = redacted(&url);
    if url.scheme() != "http" && url.scheme() != "https" {
        return Err(format!(
            "\"{shown}\" has scheme \"{}\"; expected http or https",
            url.scheme()
        ));
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err(format!("\"{shown}\" has no host"));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(format!(
            "\"{shown}\" carries user info; subscribers are authenticated by the signature only"
        ));
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(format!(
            "\"{shown}\" has a query or fragment; give the base the procedures path is added to"
        ));
    }
    Ok(url)
}

fn redacted(url: &reqwest::Url) -> String {
    let mut shown = url.clone();
    if shown.password().is_some() {
        let _ = shown.set_password(Some("***"));
    }
    shown.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn subscriber(name: &str, base_url: &str) -> SubscriberConfig {
        SubscriberConfig {
            name: name.into(),
            base_url: base_url.into(),
            secret: Some(SecretString::from("s3cret-value")),
            secret_file: None,
            filter: SubscriberFilter::default(),
        }
    }

    fn procedure(levels: &[&str], fields: &[&str]) -> Value {
        json!({
            "MATTHC": "1.005129",
            "CAPTHUCHIEN": levels.iter().map(|l| json!({"CAPTHUCHIEN": l, "TENCAP": "x"})).collect::<Vec<_>>(),
            "LINHVUCTHUCHIEN": fields.iter().map(|f| json!({"MALINHVUC": f, "TENLINHVUC": "y"})).collect::<Vec<_>>(),
        })
    }

    #[test]
    fn parses_from_toml_and_secrets_stay_out_of_debug_and_serialisation() {
        let cfg: CommuneConfig = toml::from_str(
            r#"
            [[subscribers]]
            name = "xa-quang-phu"
            base_url = "https://motcua-quangphu.h56.example/api/lienthong"
            secret = "very-secret-1"
            filter = { levels = ["4"], fields = ["G03-GD09"] }

            [[subscribers]]
            name = "phuong_2"
            base_url = "http://10.0.0.2:8080"
            secret_file = "secrets/phuong_2"
            "#,
        )
        .expect("parses");
        assert_eq!(cfg.subscribers.len(), 2);
        assert_eq!(cfg.subscribers[0].filter.levels, vec!["4".to_string()]);
        assert!(cfg.subscribers[1].filter.is_empty());
        let printed = format!("{cfg:?}");
        assert!(!printed.contains("very-secret-1"), "{printed}");
        let written = toml::to_string(&cfg).expect("serialises");
        assert!(!written.contains("very-secret-1"), "{written}");
        assert!(toml::from_str::<CommuneConfig>(
            "[[subscribers]]\nname = \"a\"\nbase_url = \"http://x\"\nsecrets = \"typo\""
        )
        .is_err());
    }

    #[test]
    fn a_sound_config_has_no_problems() {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(dir.path().join("b.secret"), "from-file\n").expect("write");
        let mut b = subscriber("B-2", "http://127.0.0.1:9100/communes/B-2");
        b.secret = None;
        b.secret_file = Some("b.secret".into());
        let cfg = CommuneConfig {
            tls: Default::default(),
            policy: Default::default(),
            classify: Vec::new(),
            max_batch: None,
            subscribers: vec![subscriber("a_1", "https://a.example/api"), b],
        };
        assert_eq!(cfg.check(dir.path()), Vec::<String>::new());
        let secret = cfg.subscribers[1].read_secret(dir.path()).expect("secret");
        assert_eq!(secrecy::ExposeSecret::expose_secret(&secret), "from-file");
    }

    #[test]
    fn check_reports_every_problem_with_its_key_path() {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(dir.path().join("empty.secret"), "\n").expect("write");
        let mut no_secret = subscriber("c", "https://c.example");
        no_secret.secret = None;
        let mut both = subscriber("d", "https://d.example");
        both.secret_file = Some("x".into());
        let mut empty_file = subscriber("e", "https://e.example");
        empty_file.secret = None;
        empty_file.secret_file = Some("empty.secret".into());
        let mut missing_file = subscriber("f", "https://f.example");
        missing_file.secret = None;
        missing_file.secret_file = Some("nope.secret".into());
        let mut bad_filter = subscriber("g", "https://g.example");
        bad_filter.filter = SubscriberFilter {
            levels: vec!["4".into(), "04".into()],
            fields: vec![" ".into()],
        };
        let cfg = CommuneConfig {
            tls: Default::default(),
            policy: Default::default(),
            classify: Vec::new(),
            max_batch: None,
            subscribers: vec![
                subscriber("a", "https://a.example"),
                subscriber("a", "ftp://a.example"),
                subscriber("xã 3", "not a url"),
                no_secret,
                both,
                empty_file,
                missing_file,
                bad_filter,
                subscriber("h", "https://user:pw-Hidden@h.example"),
                subscriber("i", "https://i.example/?x=1"),
                subscriber("", "https://j.example"),
            ],
        };
        let problems = cfg.check(dir.path());
        let expect_prefix = |prefix: &str| {
            assert!(
                problems.iter().any(|p| p.starts_with(prefix)),
                "no problem starting with {prefix:?} in {problems:#?}"
            );
        };
        expect_prefix("peers.commune.subscribers[1].name: \"a\" is already the name of peers.commune.subscribers[0]");
        expect_prefix(
            "peers.commune.subscribers[1].base_url: \"ftp://a.example/\" has scheme \"ftp\"",
        );
        expect_prefix("peers.commune.subscribers[2].name: ");
        expect_prefix("peers.commune.subscribers[2].base_url: not a URL");
        expect_prefix("peers.commune.subscribers[3].secret: missing");
        expect_prefix("peers.commune.subscribers[4].secret: give either");
        expect_prefix("peers.commune.subscribers[5].secret_file: ");
        expect_prefix("peers.commune.subscribers[6].secret_file: cannot read");
        expect_prefix("peers.commune.subscribers[7].filter.levels[1]: \"04\"");
        expect_prefix("peers.commune.subscribers[7].filter.fields[0]: ");
        expect_prefix("peers.commune.subscribers[8].base_url: ");
        expect_prefix("peers.commune.subscribers[9].base_url: ");
        expect_prefix("peers.commune.subscribers[10].name: must not be empty");
        assert_eq!(problems.len(), 13, "{problems:#?}");
        for p in &problems {
            assert!(
                !p.contains("pw-Hidden") && !p.contains("s3cret-value"),
                "{p}"
            );
        }
    }

    #[test]
    fn filters_by_level_and_field() {
        let all = SubscriberFilter::default();
        let commune_only = SubscriberFilter {
            levels: vec!["4".into()],
            fields: vec![],
        };
        let education = SubscriberFilter {
            levels: vec![],
            fields: vec!["G03-GD09".into()],
        };
        let both = SubscriberFilter {
            levels: vec!["2".into(), "4".into()],
            fields: vec!["G03-GD09".into()],
        };
        let p = procedure(&["2", "4"], &["G03-GD09"]);
        let central = procedure(&["1"], &["G03-GD09"]);
        let other_field = procedure(&["4"], &["G09-XD01"]);
        assert!(all.takes(&p) && all.takes(&central) && all.takes(&json!({})));
        assert!(commune_only.takes(&p));
        assert!(!commune_only.takes(&central));
        assert!(education.takes(&central));
        assert!(!education.takes(&other_field));
        assert!(both.takes(&p));
        assert!(!both.takes(&central));
        assert!(!both.takes(&other_field));
        // Codes are strings, compared exactly; a procedure without the lists matches no list.
        assert!(!commune_only.takes(&procedure(&["04"], &[])));
        assert!(!commune_only.takes(&json!({"CAPTHUCHIEN": [{"CAPTHUCHIEN": 4}]})));
        assert!(!education.takes(&json!({"MATTHC": "x"})));
    }
}
