//! Ways local records come in. Each way reads records in the source's own shape and hands them to
//! [`crate::source::intake`], which maps, routes and stores them: HTTP push ([`http`]), SQL polling
//! ([`sql`]) and file drop ([`files`]). The operator's side: the quarantine ([`quarantine`]: list,
//! show, retry with the mappings configured now) and each source's health ([`status`]). This
//! module holds what identifies a source (its token, variables, XML record element per kind of
//! record) and the kinds of record by their path name; its mappings are in the route table
//! (`crate::source::routes`).

pub mod config;
pub mod files;
pub mod http;
pub mod intake;
pub mod quarantine;
pub mod routes;
pub mod sql;
pub mod status;

use std::collections::HashMap;
use std::sync::Arc;

use secrecy::SecretString;

use crate::mapping::Vars;
use crate::settings::require_secret;
use crate::store::RecordKind;
use config::SourceConfig;

/// The kinds of record by their name in the ingest path (`/ingest/v1/{source}/{kind}`) and in
/// a source's `xml_record_elements`.
pub const RECORD_KINDS: [(&str, RecordKind); 3] = [
    ("dossiers", RecordKind::Dossier),
    ("steps", RecordKind::Step),
    ("surveys", RecordKind::Survey),
];

/// The kind of record a path name (`dossiers`, `steps`, `surveys`) stands for.
pub fn record_kind(path_name: &str) -> Option<RecordKind> {
    RECORD_KINDS
        .iter()
        .find(|(name, _)| *name == path_name)
        .map(|(_, kind)| *kind)
}

/// How long a reader (SQL polling, a drop folder) waits after `failures` failed tries in a row:
/// 1 s, doubling, at most `max_seconds`.
pub fn retry_delay(failures: i64, max_seconds: u64) -> std::time::Duration {
    let exp = failures.clamp(1, 20) as u32 - 1;
    std::time::Duration::from_secs(2u64.saturating_pow(exp).min(max_seconds.max(1)))
}

/// One configured local system, its mappings compiled.
pub struct Source {
    pub name: String,
    /// `None` for a source only read by polling or from a folder: HTTP push refuses it.
    token: Option<SecretString>,
    pub vars: Vars,
    /// The XML record element of each kind of record that takes XML.
    xml_record_elements: Vec<(RecordKind, String)>,
}

impl Source {
    pub fn token_matches(&self, presented: &str) -> bool {
        self.token
            .as_ref()
            .is_some_and(|t| crate::settings::token_matches(t, presented))
    }

    /// The element that holds one record of `kind` in an XML body; `None` when the source
    /// sends such records as JSON or CSV only.
    pub fn xml_record_element(&self, kind: RecordKind) -> Option<&str> {
        self.xml_record_elements
            .iter()
            .find(|(k, _)| *k == kind)
            .map(|(_, element)| element.as_str())
    }
}

/// All configured sources by name.
#[derive(Default)]
pub struct Sources {
    by_name: HashMap<String, Arc<Source>>,
}

impl Sources {
    /// Loads every source's secrets.
    pub fn from_config(cfg: &[SourceConfig]) -> anyhow::Result<Self> {
        let mut by_name = HashMap::new();
        for s in cfg {
            let token = if s.pushes() {
                Some(
                    require_secret(
                        &format!("sources.{}.token", s.name),
                        &s.token,
                        &s.token_file,
                    )
                    .map_err(anyhow::Error::msg)?,
                )
            } else {
                None
            };
            if let Some(kind) = s
                .xml_record_elements
                .keys()
                .find(|k| record_kind(k).is_none())
            {
                anyhow::bail!(
                    "sources.{}.xml_record_elements: unknown record kind \"{kind}\"",
                    s.name
                );
            }
            let xml_record_elements = RECORD_KINDS
                .iter()
                .filter_map(|(name, kind)| {
                    let element = s.xml_record_elements.get(*name);
                    let element = element.or(s.xml_record_element.as_ref())?;
                    Some((*kind, element.clone()))
                })
                .collect();
            let source = Source {
                name: s.name.clone(),
                token,
                vars: s.vars.clone(),
                xml_record_elements,
            };
            if by_name.insert(s.name.clone(), Arc::new(source)).is_some() {
                anyhow::bail!("duplicate source name \"{}\"", s.name);
            }
        }
        Ok(Self { by_name })
    }

    pub fn get(&self, name: &str) -> Option<&Arc<Source>> {
        self.by_name.get(name)
    }

    /// The source whose token `presented` is (each compared in constant time).
    pub fn find_by_token(&self, presented: &str) -> Option<&Arc<Source>> {
        let mut found = None;
        for s in self.by_name.values() {
            // Every token is compared, so the time taken does not tell which matched.
            if s.token_matches(presented) && found.is_none() {
                found = Some(s);
            }
        }
        found
    }

    pub fn len(&self) -> usize {
        self.by_name.len()
    }

    pub fn is_empty(&self) -> bool {
        self.by_name.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_reader_waits_twice_as_long_after_each_failure_up_to_its_cap() {
        use std::time::Duration;
        assert_eq!(retry_delay(1, 300), Duration::from_secs(1));
        assert_eq!(retry_delay(2, 300), Duration::from_secs(2));
        assert_eq!(retry_delay(4, 300), Duration::from_secs(8));
        assert_eq!(retry_delay(5, 300), Duration::from_secs(16));
        assert_eq!(retry_delay(30, 300), Duration::from_secs(300));
    }

    fn sources(xml: &str) -> Sources {
        let cfg: SourceConfig = toml::from_str(&format!(
            "name = \"tinh\"\ntoken = \"t\"\ndossier_mapping = \"d.toml\"\nstep_mapping = \"s.toml\"\n{xml}"
        ))
        .unwrap();
        Sources::from_config(&[cfg]).unwrap()
    }

    #[test]
    fn the_record_element_is_chosen_by_kind_over_the_fallback() {
        let both = sources(
            "xml_record_element = \"HoSo\"\nxml_record_elements = { steps = \"QuaTrinhXuLy\" }",
        );
        let tinh = both.get("tinh").unwrap();
        assert_eq!(tinh.xml_record_element(RecordKind::Dossier), Some("HoSo"));
        assert_eq!(
            tinh.xml_record_element(RecordKind::Step),
            Some("QuaTrinhXuLy")
        );
        assert_eq!(tinh.xml_record_element(RecordKind::Survey), Some("HoSo"));

        let table_only = sources("xml_record_elements = { dossiers = \"HoSo\" }");
        let tinh = table_only.get("tinh").unwrap();
        assert_eq!(tinh.xml_record_element(RecordKind::Dossier), Some("HoSo"));
        assert_eq!(tinh.xml_record_element(RecordKind::Step), None);

        let none = sources("");
        assert_eq!(
            none.get("tinh")
                .unwrap()
                .xml_record_element(RecordKind::Dossier),
            None
        );
    }

    #[test]
    fn kinds_are_read_by_their_path_name() {
        assert_eq!(record_kind("steps"), Some(RecordKind::Step));
        assert_eq!(record_kind("step"), None);
    }
}
