//! Who may use the admin API and the dashboard: named people in `[[server.users]]`, each an
//! `operator` (reads and changes) or a `viewer` (reads only), with a token given as a value or
//! a file; `server.admin_token` stays an operator named `admin`. A token is compared with every
//! configured one in constant time. Must not log or show a token.

use std::path::PathBuf;

use secrecy::SecretString;
use serde::{Deserialize, Serialize};

use crate::settings::resolve_secret;

/// What a person may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Reads every page and every `GET` route, and changes things.
    Operator,
    /// Reads only: every change answers 403.
    Viewer,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Operator => "operator",
            Role::Viewer => "viewer",
        }
    }

    pub fn may_change(self) -> bool {
        self == Role::Operator
    }
}

/// One `[[server.users]]` entry.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct UserConfig {
    /// Shown in the audit log and the dashboard.
    pub name: String,
    pub role: Role,
    #[serde(skip_serializing, default)]
    pub token: Option<SecretString>,
    #[serde(default)]
    pub token_file: Option<PathBuf>,
}

/// The name `server.admin_token` logs in as.
pub const ADMIN: &str = "admin";

/// A person who presented a known token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Operator {
    pub name: String,
    pub role: Role,
}

/// Every configured person with their token.
#[derive(Clone, Default)]
pub struct Operators {
    people: Vec<(Operator, SecretString)>,
}

impl std::fmt::Debug for Operators {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list()
            .entries(self.people.iter().map(|(o, _)| &o.name))
            .finish()
    }
}

impl Operators {
    /// `server.admin_token` (an operator named `admin`, when given) and `users`.
    pub fn from_config(
        admin_token: Option<SecretString>,
        users: &[UserConfig],
    ) -> Result<Self, String> {
        let mut people = Vec::new();
        if let Some(t) = admin_token {
            people.push((
                Operator {
                    name: ADMIN.into(),
                    role: Role::Operator,
                },
                t,
            ));
        }
        for (i, u) in users.iter().enumerate() {
            let token = crate::settings::require_secret(
                &format!("server.users[{i}].token"),
                &u.token,
                &u.token_file,
            )?;
            if secrecy::ExposeSecret::expose_secret(&token)
                .trim()
                .is_empty()
            {
                return Err(format!("server.users[{i}].token: must not be empty"));
            }
            people.push((
                Operator {
                    name: u.name.clone(),
                    role: u.role,
                },
                token,
            ));
        }
        Ok(Self { people })
    }

    /// Only the admin token (tests and tools that have no users).
    pub fn admin_only(token: Option<SecretString>) -> Self {
        Self::from_config(token, &[]).unwrap_or_default()
    }

    /// Nobody can log in.
    pub fn is_empty(&self) -> bool {
        self.people.is_empty()
    }

    /// The person whose token this is. Every configured token is compared, in constant time,
    /// whichever matches.
    pub fn find(&self, presented: &str) -> Option<Operator> {
        if presented.is_empty() {
            return None;
        }
        let mut found = None;
        for (who, token) in &self.people {
            if crate::settings::token_matches(token, presented) && found.is_none() {
                found = Some(who.clone());
            }
        }
        found
    }
}

/// The problems of `[server]`'s people: names empty or given twice (`admin` is taken by
/// `admin_token`), tokens missing, empty or shared.
pub fn check(admin_token: Option<SecretString>, users: &[UserConfig]) -> Vec<String> {
    use secrecy::ExposeSecret;
    let mut problems = Vec::new();
    let mut names: Vec<&str> = Vec::new();
    let mut tokens: Vec<(String, SecretString)> = Vec::new();
    if let Some(t) = admin_token {
        names.push(ADMIN);
        tokens.push(("server.admin_token".into(), t));
    }
    for (i, u) in users.iter().enumerate() {
        let field = format!("server.users[{i}]");
        let name = u.name.trim();
        if name.is_empty() {
            problems.push(format!("{field}.name: must not be empty"));
        } else if names.contains(&name) {
            problems.push(format!(
                "{field}.name: \"{name}\" is given twice (\"admin\" is server.admin_token's)"
            ));
        } else {
            names.push(name);
        }
        match resolve_secret(&format!("{field}.token"), &u.token, &u.token_file) {
            Err(e) => problems.push(e),
            Ok(None) => problems.push(format!("{field}.token: missing (give token or token_file)")),
            Ok(Some(t)) if t.expose_secret().trim().is_empty() => {
                problems.push(format!("{field}.token: must not be empty"))
            }
            Ok(Some(t)) => {
                if let Some((other, _)) = tokens
                    .iter()
                    .find(|(_, o)| crate::settings::token_matches(o, t.expose_secret()))
                {
                    problems.push(format!(
                        "{field}.token: the same token as {other} (each person needs their own)"
                    ));
                }
                tokens.push((format!("{field}.token"), t));
            }
        }
    }
    problems
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user(name: &str, role: Role, token: &str) -> UserConfig {
        UserConfig {
            name: name.into(),
            role,
            token: Some(SecretString::from(token.to_string())),
            token_file: None,
        }
    }

    #[test]
    fn each_token_finds_its_person_and_role() {
        let ops = Operators::from_config(
            Some(SecretString::from("root-token".to_string())),
            &[
                user("lan", Role::Operator, "lan-token"),
                user("minh", Role::Viewer, "minh-token"),
            ],
        )
        .unwrap();
        assert_eq!(ops.find("root-token").unwrap().name, "admin");
        assert_eq!(ops.find("lan-token").unwrap().role, Role::Operator);
        assert_eq!(ops.find("minh-token").unwrap().role, Role::Viewer);
        assert_eq!(ops.find("minh-toke"), None);
        assert_eq!(ops.find(""), None);
    }

    #[test]
    fn check_finds_duplicate_names_shared_and_empty_tokens() {
        let problems = check(
            Some(SecretString::from("root-token".to_string())),
            &[
                user("lan", Role::Operator, "lan-token"),
                user("lan", Role::Viewer, "other"),
                user("admin", Role::Viewer, "x-token"),
                user("minh", Role::Viewer, "lan-token"),
                user("hoa", Role::Viewer, "root-token"),
                user("thu", Role::Viewer, ""),
                UserConfig {
                    name: "".into(),
                    role: Role::Viewer,
                    token: None,
                    token_file: None,
                },
            ],
        );
        let text = problems.join("\n");
        assert!(
            text.contains("server.users[1].name: \"lan\" is given twice"),
            "{text}"
        );
        assert!(
            text.contains("server.users[2].name: \"admin\" is given twice"),
            "{text}"
        );
        assert!(
            text.contains("server.users[3].token: the same token as server.users[0].token"),
            "{text}"
        );
        assert!(
            text.contains("server.users[4].token: the same token as server.admin_token"),
            "{text}"
        );
        assert!(
            text.contains("server.users[5].token: must not be empty"),
            "{text}"
        );
        assert!(
            text.contains("server.users[6].name: must not be empty"),
            "{text}"
        );
        assert!(text.contains("server.users[6].token: missing"), "{text}");
        assert!(
            !text.contains("root-token") && !text.contains("lan-token"),
            "{text}"
        );
        assert_eq!(problems.len(), 7, "{text}");
    }
}
