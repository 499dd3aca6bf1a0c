//! The postal peer's configuration (`[peers.vnpost]`): which VNPost environment to use and its
//! base URL, the agency's customer code, the OAuth2 consumer key and secret (value or file), the
//! family's policy changes and classification rules, and [`VnpostConfig::check`], which reports
//! every problem with its key path.
//!
//! This module must not import `crate::config` (the top-level config composes this one), print
//! a secret (the consumer secret is a `SecretString`, skipped when serialising and never in a
//! problem's text), or read anything but the secret file.

use std::path::{Path, PathBuf};

use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};

use crate::outbox::config::PolicyOverride;
use crate::peer::classify::{check_rules, ClassifyRule};

/// Where the family sits in the configuration, for problem reports.
const KEY: &str = "peers.vnpost";

/// Which of VNPost's environments the gateway talks to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum VnpostEnvironment {
    /// VNPost's test environment (or the built-in simulator).
    Test,
    /// The real service: orders sent there send a postman to a citizen.
    Production,
}

impl VnpostEnvironment {
    pub fn as_str(self) -> &'static str {
        match self {
            VnpostEnvironment::Test => "test",
            VnpostEnvironment::Production => "production",
        }
    }
}

/// `base_urls = { test = "...", production = "..." }`: only the chosen environment's is needed.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct VnpostBaseUrls {
    #[serde(default)]
    pub test: Option<String>,
    #[serde(default)]
    pub production: Option<String>,
}

/// `[peers.vnpost]`: the public-interest postal service (vnpost.md).
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct VnpostConfig {
    /// `"test"` or `"production"`; no default, so production is always chosen on purpose.
    pub environment: VnpostEnvironment,
    /// The base URL of each environment; `/token` and `/order/...` are relative to it.
    pub base_urls: VnpostBaseUrls,
    /// The agency's customer code at VNPost (`CustomerCode`).
    pub customer_code: String,
    /// The OAuth2 consumer key (client id).
    pub consumer_key: String,
    /// The OAuth2 consumer secret. Give this or `consumer_secret_file`.
    #[serde(default, skip_serializing)]
    pub consumer_secret: Option<SecretString>,
    /// A file holding the consumer secret (trailing newlines ignored); relative to the
    /// config's folder.
    #[serde(default)]
    pub consumer_secret_file: Option<PathBuf>,
    /// The family's changes to the `[delivery]` policy.
    #[serde(default)]
    pub policy: PolicyOverride,
    /// Classification rules, tried before the contract's reading. `error_code` matches the
    /// answer's `Status` (`103`), `message_contains` its `Message`.
    #[serde(default)]
    pub classify: Vec<ClassifyRule>,
    /// TLS to this peer: a CA bundle and a client certificate (`crate::peer::http::TlsConfig`).
    #[serde(default)]
    pub tls: crate::peer::http::TlsConfig,
}

impl VnpostConfig {
    /// The base URL of the chosen environment, as given (not yet checked).
    pub fn base_url(&self) -> Option<&str> {
        match self.environment {
            VnpostEnvironment::Test => self.base_urls.test.as_deref(),
            VnpostEnvironment::Production => self.base_urls.production.as_deref(),
        }
    }

    /// Every problem that can be found without sending anything, one line each, starting with
    /// its key path (`peers.vnpost.base_urls.production: ...`). A relative
    /// `consumer_secret_file` is resolved against `base_dir` (the config file's folder).
    pub fn check(&self, base_dir: &Path) -> Vec<String> {
        let mut problems = Vec::new();
        let env = self.environment;
        for (name, url) in [
            (VnpostEnvironment::Test, &self.base_urls.test),
            (VnpostEnvironment::Production, &self.base_urls.production),
        ] {
            let at = format!("{KEY}.base_urls.{}", name.as_str());
            match url {
                Some(url) => {
                    if let Err(problem) = parse_base_url(url, name) {
                        problems.push(format!("{at}: {problem}"));
                    }
                }
                None if name == env => problems.push(format!(
                    "{at}: missing; environment = \"{}\" needs its base URL",
                    env.as_str()
                )),
                None => {}
            }
        }
        if let Some(problem) = code_problem(&self.customer_code) {
            problems.push(format!("{KEY}.customer_code: {problem}"));
        }
        if let Some(problem) = code_problem(&self.consumer_key) {
            problems.push(format!("{KEY}.consumer_key: {problem}"));
        } else if self.consumer_key.contains(':') {
            // Basic auth joins key and secret with a colon: a key holding one cannot be sent.
            problems.push(format!("{KEY}.consumer_key: must not contain ':'"));
        }
        if let Err(problem) = self.read_secret(base_dir) {
            problems.push(format!("{KEY}.{problem}"));
        }
        problems.extend(check_rules(&format!("{KEY}.classify"), &self.classify));
        problems
    }

    /// The consumer secret, from the value or the file. The error names the key
    /// (`consumer_secret` or `consumer_secret_file`) without the family prefix, and never holds
    /// the secret.
    pub(super) fn read_secret(&self, base_dir: &Path) -> Result<SecretString, String> {
        match (&self.consumer_secret, &self.consumer_secret_file) {
            (Some(_), Some(_)) => Err(
                "consumer_secret: give either consumer_secret or consumer_secret_file, not both"
                    .into(),
            ),
            (Some(value), None) => {
                if value.expose_secret().is_empty() {
                    Err("consumer_secret: must not be empty".into())
                } else {
                    Ok(value.clone())
                }
            }
            (None, Some(file)) => {
                let path = crate::settings::resolve_path(base_dir, file);
                match std::fs::read_to_string(&path) {
                    Ok(text) => {
                        let secret = text.trim_end_matches(['\n', '\r']);
                        if secret.is_empty() {
                            Err(format!("consumer_secret_file: {} is empty", path.display()))
                        } else {
                            Ok(SecretString::from(secret.to_string()))
                        }
                    }
                    Err(e) => Err(format!(
                        "consumer_secret_file: cannot read {}: {e}",
                        path.display()
                    )),
                }
            }
            (None, None) => Err(
                "consumer_secret: missing (give consumer_secret or consumer_secret_file)".into(),
            ),
        }
    }
}

/// Why `code` cannot be a customer code or consumer key, if it cannot.
fn code_problem(code: &str) -> Option<String> {
    if code.trim().is_empty() {
        return Some("must not be empty".into());
    }
    if code.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Some("must not contain spaces or control characters".into());
    }
    None
}

/// The base URL as the client uses it: http or https (https for production), a host, no user
/// info, query or fragment. The error never repeats a password the URL may hold.
pub(super) fn parse_base_url(
    text: &str,
    environment: VnpostEnvironment,
) -> Result<reqwest::Url, String> {
    let url = reqwest::Url::parse(text).map_err(|e| format!("not a URL ({e})"))?;
    let shown = crate::settings::redact_url(text);
    match (url.scheme(), environment) {
        ("https", _) | ("http", VnpostEnvironment::Test) => {}
        ("http", VnpostEnvironment::Production) => {
            return Err(format!(
                "\"{shown}\" is plain http; production orders carry citizens' addresses and phones: use https"
            ))
        }
        (other, _) => {
            return Err(format!(
                "\"{shown}\" has scheme \"{other}\"; expected http or https"
            ))
        }
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err(format!("\"{shown}\" has no host"));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(format!(
            "\"{shown}\" carries user info; the consumer key and secret go in their own keys"
        ));
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(format!(
            "\"{shown}\" has a query or fragment; give the base /token and /order/... are added to"
        ));
    }
    Ok(url)
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &str = "consumer-Secret-42";

    fn sound() -> VnpostConfig {
        VnpostConfig {
            tls: Default::default(),
            environment: VnpostEnvironment::Test,
            base_urls: VnpostBaseUrls {
                test: Some("http://127.0.0.1:9200".into()),
                production: Some("https://api.vnpost.example/bcci".into()),
            },
            customer_code: "C00330117".into(),
            consumer_key: "lienthong-h56".into(),
            consumer_secret: Some(SecretString::from(SECRET)),
            consumer_secret_file: None,
            policy: PolicyOverride::default(),
            classify: Vec::new(),
        }
    }

    #[test]
    fn parses_from_toml_and_the_secret_stays_out_of_debug_and_serialisation() {
        let cfg: VnpostConfig = toml::from_str(&format!(
            r#"
            environment = "production"
            base_urls = {{ test = "https://test.vnpost.example", production = "https://api.vnpost.example/bcci/" }}
            customer_code = "C00330117"
            consumer_key = "lienthong-h56"
            consumer_secret = "{SECRET}"

            [policy]
            max_attempts = 20

            [[classify]]
            scope = "envelope"
            error_code = 103
            outcome = "delivered"
            "#
        ))
        .expect("parses");
        assert_eq!(cfg.environment, VnpostEnvironment::Production);
        assert_eq!(cfg.base_url(), Some("https://api.vnpost.example/bcci/"));
        assert_eq!(cfg.policy.max_attempts, Some(20));
        assert_eq!(cfg.classify.len(), 1);
        assert_eq!(cfg.check(Path::new(".")), Vec::<String>::new());
        let printed = format!("{cfg:?}");
        assert!(!printed.contains(SECRET), "{printed}");
        let written = toml::to_string(&cfg).expect("serialises");
        assert!(!written.contains(SECRET), "{written}");
        // Unknown keys and environments are refused when read.
        for bad in [
            "environment = \"staging\"\nbase_urls = {}\ncustomer_code = \"c\"\nconsumer_key = \"k\"",
            "environment = \"test\"\nbase_urls = { tset = \"http://x\" }\ncustomer_code = \"c\"\nconsumer_key = \"k\"",
            "environment = \"test\"\nbase_urls = {}\ncustomer_code = \"c\"\nconsumer_key = \"k\"\nsecret = \"x\"",
            "base_urls = {}\ncustomer_code = \"c\"\nconsumer_key = \"k\"",
        ] {
            assert!(toml::from_str::<VnpostConfig>(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn a_sound_config_has_no_problems_and_reads_the_secret_file() {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(dir.path().join("vnpost.secret"), format!("{SECRET}\n")).expect("write");
        let mut cfg = sound();
        assert_eq!(cfg.check(dir.path()), Vec::<String>::new());
        cfg.consumer_secret = None;
        cfg.consumer_secret_file = Some("vnpost.secret".into());
        cfg.base_urls.production = None;
        assert_eq!(cfg.check(dir.path()), Vec::<String>::new());
        let secret = cfg.read_secret(dir.path()).expect("secret");
        assert_eq!(secret.expose_secret(), SECRET);
        assert_eq!(cfg.base_url(), Some("http://127.0.0.1:9200"));
    }

    #[test]
    fn check_reports_every_problem_with_its_key_path() {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(dir.path().join("empty.secret"), "\n").expect("write");
        let expect = |cfg: &VnpostConfig, wanted: &[&str]| {
            let problems = cfg.check(dir.path());
            for prefix in wanted {
                assert!(
                    problems.iter().any(|p| p.starts_with(prefix)),
                    "no problem starting with {prefix:?} in {problems:#?}"
                );
            }
            assert_eq!(problems.len(), wanted.len(), "{problems:#?}");
            for p in &problems {
                assert!(!p.contains(SECRET) && !p.contains("pw-Hidden"), "{p}");
            }
        };

        let mut cfg = sound();
        cfg.environment = VnpostEnvironment::Production;
        cfg.base_urls = VnpostBaseUrls {
            test: Some("ftp://test.example".into()),
            production: None,
        };
        cfg.customer_code = " ".into();
        cfg.consumer_key = "key:with-colon".into();
        cfg.consumer_secret_file = Some("x.secret".into());
        cfg.classify = vec![ClassifyRule {
            scope: crate::peer::classify::ClassifyScope::Envelope,
            error_code: None,
            http_status: None,
            message_contains: None,
            outcome: crate::peer::classify::ClassifyOutcome::Retry,
        }];
        expect(
            &cfg,
            &[
                "peers.vnpost.base_urls.test: \"ftp://test.example\" has scheme \"ftp\"",
                "peers.vnpost.base_urls.production: missing; environment = \"production\"",
                "peers.vnpost.customer_code: must not be empty",
                "peers.vnpost.consumer_key: must not contain ':'",
                "peers.vnpost.consumer_secret: give either",
                "peers.vnpost.classify[0]: names no condition",
            ],
        );

        let mut cfg = sound();
        cfg.environment = VnpostEnvironment::Production;
        cfg.base_urls.production = Some("http://user:pw-Hidden@api.vnpost.example".into());
        cfg.base_urls.test = Some("not a url".into());
        cfg.consumer_key = "two words".into();
        cfg.consumer_secret = None;
        expect(
            &cfg,
            &[
                "peers.vnpost.base_urls.test: not a URL",
                "peers.vnpost.base_urls.production: \"http://user:***@api.vnpost.example/\" is plain http",
                "peers.vnpost.consumer_key: must not contain spaces",
                "peers.vnpost.consumer_secret: missing",
            ],
        );

        let mut cfg = sound();
        cfg.base_urls.test = Some("https://u:pw-Hidden@test.example".into());
        cfg.base_urls.production = Some("https://api.vnpost.example/?env=prod".into());
        cfg.consumer_secret = None;
        cfg.consumer_secret_file = Some("empty.secret".into());
        expect(
            &cfg,
            &[
                "peers.vnpost.base_urls.test: \"https://u:***@test.example/\" carries user info",
                "peers.vnpost.base_urls.production: ",
                "peers.vnpost.consumer_secret_file: ",
            ],
        );

        let mut cfg = sound();
        cfg.consumer_secret = Some(SecretString::from(""));
        cfg.customer_code = "C0033\t0117".into();
        expect(
            &cfg,
            &[
                "peers.vnpost.consumer_secret: must not be empty",
                "peers.vnpost.customer_code: must not contain spaces",
            ],
        );

        let mut cfg = sound();
        cfg.consumer_secret = None;
        cfg.consumer_secret_file = Some("nope.secret".into());
        expect(&cfg, &["peers.vnpost.consumer_secret_file: cannot read"]);
    }
}
