//! A local system's settings (`[[sources]]`): its token, mapping files and variables.

use std::collections::BTreeMap;
use std::path::PathBuf;

use secrecy::SecretString;
use serde::{Deserialize, Serialize};

use crate::formats::xml::is_xml_name;
use crate::settings::require_secret;

/// One local system that pushes records over HTTP.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct SourceConfig {
    /// Appears in the ingest path `/ingest/v1/{name}/...`.
    pub name: String,
    #[serde(default, skip_serializing)]
    pub token: Option<SecretString>,
    #[serde(default)]
    pub token_file: Option<PathBuf>,
    /// Mapping file for dossier records.
    pub dossier_mapping: PathBuf,
    /// Mapping file for step records.
    pub step_mapping: PathBuf,
    /// Values the mappings may read as `$vars.<name>` (e.g. the processing agency's name).
    #[serde(default)]
    pub vars: BTreeMap<String, String>,
    /// Mapping file for monthly satisfaction records (`POST /ingest/v1/{name}/surveys`, target
    /// `survey`), queued for the portal's `DongBoDanhGia`; without it such records get 404.
    #[serde(default)]
    pub survey_mapping: Option<PathBuf>,
    /// For XML bodies: the local name of the element that holds one record, for every kind
    /// of record not named in `xml_record_elements`.
    #[serde(default)]
    pub xml_record_element: Option<String>,
    /// For XML bodies: the record element per kind of record, keyed as in the ingest path
    /// (`dossiers`, `steps`, `surveys`), e.g. `{ dossiers = "HoSo", steps = "QuaTrinhXuLy" }`.
    /// A kind not named here takes `xml_record_element`; with neither, it takes no XML.
    #[serde(default)]
    pub xml_record_elements: BTreeMap<String, String>,
    /// When set, each accepted dossier is also rendered with this mapping (target
    /// `sync_document`) and queued for the legacy XML route (`peers.lgsp_sync`).
    #[serde(default)]
    pub sync_document_mapping: Option<PathBuf>,
    /// Further targets of its dossier records that apply only when the dossier meets the
    /// trigger's condition, each with its mapping file: `postal_collection` (a dossier
    /// submitted by post gets a VNPost collection order), `postal_delivery` (a dossier whose
    /// result goes by post gets a delivery order when processing is finished).
    #[serde(default)]
    pub triggers: BTreeMap<String, PathBuf>,
    /// Read by SQL polling of its database (see [`crate::source::sql`]).
    #[serde(default)]
    pub poll: Option<crate::source::sql::config::PollConfig>,
    /// Read from a drop folder (see [`crate::source::files`]).
    #[serde(default)]
    pub files: Option<crate::source::files::config::FilesConfig>,
}

impl SourceConfig {
    /// Whether it pushes over HTTP (and so needs a token): a source only read by polling or
    /// from a folder needs none.
    pub fn pushes(&self) -> bool {
        self.token.is_some()
            || self.token_file.is_some()
            || (self.poll.is_none() && self.files.is_none())
    }

    /// The ways its records come in: `http` (pushed), `sql` (polled).
    pub fn ways(&self) -> Vec<&'static str> {
        let mut ways = Vec::new();
        if self.pushes() {
            ways.push("http");
        }
        if self.poll.is_some() {
            ways.push("sql");
        }
        if self.files.is_some() {
            ways.push("files");
        }
        ways
    }
}

/// Every problem of `[[sources]]` on its own (names, tokens, XML record elements); their
/// mappings and where they go are checked with the routes (`crate::source::routes::check`).
pub fn check_all(sources: &[SourceConfig]) -> Vec<String> {
    let mut problems = Vec::new();
    let mut seen = std::collections::BTreeSet::new();
    for (i, s) in sources.iter().enumerate() {
        let at = format!("sources[{i}] (\"{}\")", s.name);
        if s.name.is_empty()
            || !s
                .name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        {
            problems.push(format!(
                "{at}.name: must be non-empty ASCII letters, digits, '-' or '_'"
            ));
        }
        if !seen.insert(s.name.clone()) {
            problems.push(format!("{at}.name: duplicate source name \"{}\"", s.name));
        }
        if s.pushes() {
            if let Err(e) = require_secret(&format!("{at}.token"), &s.token, &s.token_file) {
                problems.push(e);
            }
        }
        if let Some(poll) = &s.poll {
            problems.extend(poll.check(&format!("{at}.poll")));
        }
        if let Some(element) = &s.xml_record_element {
            if !is_xml_name(element) {
                problems.push(format!(
                    "{at}.xml_record_element: \"{element}\" is not an XML element name"
                ));
            }
        }
        for (kind, element) in &s.xml_record_elements {
            if super::record_kind(kind).is_none() {
                problems.push(format!(
                    "{at}.xml_record_elements.{kind}: unknown record kind; expected {}",
                    super::RECORD_KINDS.map(|(name, _)| name).join(", ")
                ));
            }
            if !is_xml_name(element) {
                problems.push(format!(
                    "{at}.xml_record_elements.{kind}: \"{element}\" is not an XML element name"
                ));
            }
        }
        if let Some(files) = &s.files {
            problems.extend(files.check(&format!("{at}.files")));
        }
    }
    problems
}

#[cfg(test)]
mod tests {
    use super::*;

    fn source(xml: &str) -> SourceConfig {
        toml::from_str(&format!(
            "name = \"tinh\"\ntoken = \"t\"\ndossier_mapping = \"d.toml\"\nstep_mapping = \"s.toml\"\n{xml}"
        ))
        .unwrap()
    }

    #[test]
    fn xml_record_elements_are_checked_by_kind_and_name() {
        let sound = source(
            "xml_record_element = \"HoSo\"\n\
             xml_record_elements = { steps = \"QuaTrinhXuLy\", surveys = \"mc:DanhGia\" }",
        );
        assert_eq!(check_all(&[sound]), Vec::<String>::new());
        let wrong = source(
            "xml_record_element = \"Ho So\"\n\
             xml_record_elements = { step = \"QuaTrinhXuLy\", dossiers = \"<HoSo>\" }",
        );
        assert_eq!(
            check_all(&[wrong]),
            [
                "sources[0] (\"tinh\").xml_record_element: \"Ho So\" is not an XML element name",
                "sources[0] (\"tinh\").xml_record_elements.dossiers: \"<HoSo>\" is not an XML element name",
                "sources[0] (\"tinh\").xml_record_elements.step: unknown record kind; expected dossiers, steps, surveys",
            ]
        );
    }
}
