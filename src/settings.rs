//! What every config section uses, in one small place: secrets given as a value or as a file,
//! constant-time token comparison, URL checks, paths relative to the config file, and URLs with
//! their password hidden. Depends on nothing else in the crate, so any module may use it without
//! reaching up to the top-level config.

use std::path::{Path, PathBuf};

use secrecy::{ExposeSecret, SecretString};
use subtle::ConstantTimeEq;

/// Resolves a path from the config against the config file's folder.
pub fn resolve_path(base_dir: &Path, p: &Path) -> PathBuf {
    if p.is_absolute() {
        p.to_path_buf()
    } else {
        base_dir.join(p)
    }
}

/// Adds a problem when `url` is not an http(s) URL.
pub fn check_url(field: &str, url: &str, problems: &mut Vec<String>) {
    match reqwest::Url::parse(url) {
        Ok(u) if u.scheme() == "http" || u.scheme() == "https" => {}
        Ok(u) => problems.push(format!(
            "{field}: \"{url}\" has scheme \"{}\"; expected http or https",
            u.scheme()
        )),
        Err(e) => problems.push(format!("{field}: \"{url}\" is not a URL: {e}")),
    }
}

/// Reads a secret given as a value or as a file path; `Ok(None)` when neither is given.
pub fn resolve_secret(
    name: &str,
    value: &Option<SecretString>,
    file: &Option<PathBuf>,
) -> Result<Option<SecretString>, String> {
    match (value, file) {
        (Some(_), Some(_)) => Err(format!(
            "{name}: give either the value or {name}_file, not both"
        )),
        (Some(v), None) => Ok(Some(v.clone())),
        (None, Some(path)) => match std::fs::read_to_string(path) {
            Ok(text) => {
                let trimmed = text.trim_end_matches(['\n', '\r']);
                if trimmed.is_empty() {
                    Err(format!("{name}_file: {} is empty", path.display()))
                } else {
                    Ok(Some(SecretString::from(trimmed.to_string())))
                }
            }
            Err(e) => Err(format!("{name}_file: cannot read {}: {e}", path.display())),
        },
        (None, None) => Ok(None),
    }
}

/// Like [`resolve_secret`], but the secret must be present.
pub fn require_secret(
    name: &str,
    value: &Option<SecretString>,
    file: &Option<PathBuf>,
) -> Result<SecretString, String> {
    resolve_secret(name, value, file)?
        .ok_or_else(|| format!("{name}: missing (give {name} or {name}_file)"))
}

/// Compares a presented token with the expected one in constant time (no timing of the prefix,
/// nor of where the first difference is). The length is not hidden.
pub fn token_matches(expected: &SecretString, presented: &str) -> bool {
    let a = expected.expose_secret().as_bytes();
    let b = presented.as_bytes();
    a.len() == b.len() && bool::from(a.ct_eq(b))
}

/// The signature both directions of the postal service use (VNPost's pushes to us, our calls
/// to a local webhook): `sha256=<hex HMAC-SHA256 over "<timestamp>.<body>">` with `secret`.
pub fn timestamped_signature(secret: &SecretString, timestamp: &str, body: &[u8]) -> String {
    use hmac::{Hmac, Mac};
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(secret.expose_secret().as_bytes())
        .expect("HMAC takes a key of any length");
    mac.update(timestamp.as_bytes());
    mac.update(b".");
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

/// A URL with any password replaced, for messages.
pub fn redact_url(url: &str) -> String {
    match reqwest::Url::parse(url) {
        Ok(mut u) if u.password().is_some() => {
            let _ = u.set_password(Some("***"));
            u.to_string()
        }
        _ => url.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_from_file_is_trimmed_of_newline() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("tok");
        std::fs::write(&path, "abc\n").unwrap();
        let s = require_secret("t", &None, &Some(path)).unwrap();
        assert_eq!(s.expose_secret(), "abc");
    }

    #[test]
    fn token_comparison() {
        let t = SecretString::from("abc".to_string());
        assert!(token_matches(&t, "abc"));
        assert!(!token_matches(&t, "abd"));
        assert!(!token_matches(&t, "ab"));
    }

    #[test]
    fn passwords_are_hidden_in_urls() {
        assert_eq!(
            redact_url("postgres://u:secret@db/x"),
            "postgres://u:***@db/x"
        );
        assert_eq!(redact_url("sqlite://a.db"), "sqlite://a.db");
    }
}
