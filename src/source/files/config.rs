//! A source read from a drop folder (`[sources.files]`): where the inbox is, which subfolder
//! holds which record kind, how its files are encoded, when a file counts as complete, the
//! limits on one file, and where files go once read.

use std::path::{Component, Path, PathBuf};

use serde::{Deserialize, Serialize};

/// How to read a drop folder.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct FilesConfig {
    /// The inbox. A relative path is read from the config file's folder. It must exist: the
    /// gateway never creates it (on a network share that is not mounted it would create it on
    /// the local disk); the subfolders below are created inside it when missing.
    pub folder: PathBuf,
    /// The subfolder of the inbox holding dossier files (`"."`: the inbox itself).
    #[serde(default = "default_dossiers")]
    pub dossiers: String,
    /// The subfolder of the inbox holding step files (`"."`: the inbox itself).
    #[serde(default = "default_steps")]
    pub steps: String,
    /// How the files' text is encoded; a byte-order mark, when a file has one, decides instead.
    #[serde(default)]
    pub encoding: Encoding,
    /// A file is complete when its size and modification time have not changed for this long
    /// across scans (0: at first sight, for writers that move finished files in), or at once
    /// when its marker `<name>.done` is there.
    #[serde(default = "default_stable")]
    pub stable_seconds: u64,
    /// Seconds between two scans. File-system events wake a scan earlier; the scan is what
    /// counts (network shares send no events, and event queues overflow).
    #[serde(default = "default_scan")]
    pub scan_seconds: u64,
    /// A larger file is not read: it goes to `rejected_folder`.
    #[serde(default = "default_max_bytes")]
    pub max_file_bytes: u64,
    /// A file with more records is not read: it goes to `rejected_folder`.
    #[serde(default = "default_max_records")]
    pub max_records: usize,
    /// Where read files go; relative to the inbox. Each keeps its subfolder (`done/dossiers/…`).
    #[serde(default = "default_done")]
    pub done_folder: PathBuf,
    /// Where unreadable files go, each next to `<name>.error.txt`; relative to the inbox.
    #[serde(default = "default_rejected")]
    pub rejected_folder: PathBuf,
    /// The field separator of CSV files: `","` or `";"` (spreadsheet exports in Vietnamese
    /// locales), or any other single ASCII character.
    #[serde(default = "default_delimiter")]
    pub csv_delimiter: String,
    /// The longest wait between two attempts while the folder cannot be read.
    #[serde(default = "default_retry_max")]
    pub retry_max_seconds: u64,
}

/// A drop folder's text encoding.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
pub enum Encoding {
    /// UTF-8, with or without a byte-order mark.
    #[default]
    #[serde(rename = "utf-8")]
    Utf8,
    /// UTF-16: its byte-order mark decides little- or big-endian; little-endian without one.
    #[serde(rename = "utf-16")]
    Utf16,
    /// Windows-1258 (Vietnamese): its tone marks are combining characters, so text read is
    /// normalised to NFC like every other source's.
    #[serde(rename = "windows-1258")]
    Windows1258,
}

impl Encoding {
    pub fn as_str(self) -> &'static str {
        match self {
            Encoding::Utf8 => "utf-8",
            Encoding::Utf16 => "utf-16",
            Encoding::Windows1258 => "windows-1258",
        }
    }
}

fn default_dossiers() -> String {
    "dossiers".to_string()
}
fn default_steps() -> String {
    "steps".to_string()
}
fn default_stable() -> u64 {
    5
}
fn default_scan() -> u64 {
    10
}
fn default_max_bytes() -> u64 {
    50 * 1024 * 1024
}
fn default_max_records() -> usize {
    10_000
}
fn default_done() -> PathBuf {
    PathBuf::from("done")
}
fn default_rejected() -> PathBuf {
    PathBuf::from("rejected")
}
fn default_delimiter() -> String {
    ",".to_string()
}
fn default_retry_max() -> u64 {
    300
}

/// A kind's subfolder as a path inside the inbox: `None` for the inbox itself.
pub(crate) fn subfolder(name: &str) -> Option<&str> {
    let name = name.trim_matches('/');
    (!(name.is_empty() || name == ".")).then_some(name)
}

impl FilesConfig {
    /// The CSV separator as a byte (checked by [`FilesConfig::check`]).
    pub fn delimiter(&self) -> u8 {
        self.csv_delimiter
            .as_bytes()
            .first()
            .copied()
            .unwrap_or(b',')
    }

    /// Every problem of this block, each naming its setting under `at`.
    pub fn check(&self, at: &str) -> Vec<String> {
        let mut problems = Vec::new();
        if self.folder.as_os_str().is_empty() {
            problems.push(format!("{at}.folder: names no folder"));
        }
        for (key, sub) in [("dossiers", &self.dossiers), ("steps", &self.steps)] {
            let path = Path::new(sub);
            if path.is_absolute()
                || path
                    .components()
                    .any(|c| matches!(c, Component::ParentDir | Component::Prefix(_)))
            {
                problems.push(format!(
                    "{at}.{key}: \"{sub}\" must be a subfolder of the inbox (or \".\")"
                ));
            }
        }
        if subfolder(&self.dossiers) == subfolder(&self.steps) {
            problems.push(format!(
                "{at}: dossiers and steps are both \"{}\": each kind needs its own subfolder",
                self.dossiers
            ));
        }
        let kinds = [subfolder(&self.dossiers), subfolder(&self.steps)];
        for (key, p) in [
            ("done_folder", &self.done_folder),
            ("rejected_folder", &self.rejected_folder),
        ] {
            let inside = p.to_str().and_then(subfolder);
            if p.as_os_str().is_empty() || inside.is_none() && !p.is_absolute() {
                problems.push(format!(
                    "{at}.{key}: must be a folder other than the inbox itself"
                ));
            } else if inside.is_some() && kinds.contains(&inside) {
                problems.push(format!(
                    "{at}.{key}: \"{}\" is where files are dropped",
                    p.display()
                ));
            }
        }
        if self.done_folder == self.rejected_folder {
            problems.push(format!(
                "{at}: done_folder and rejected_folder are the same folder"
            ));
        }
        if self.scan_seconds == 0 {
            problems.push(format!("{at}.scan_seconds: must be at least 1"));
        }
        if self.max_file_bytes == 0 {
            problems.push(format!("{at}.max_file_bytes: must be at least 1"));
        }
        if self.max_records == 0 {
            problems.push(format!("{at}.max_records: must be at least 1"));
        }
        if self.retry_max_seconds == 0 {
            problems.push(format!("{at}.retry_max_seconds: must be at least 1"));
        }
        let d = self.csv_delimiter.as_bytes();
        if d.len() != 1 || !d[0].is_ascii() || d[0] == b'"' || d[0] == b'\n' || d[0] == b'\r' {
            problems.push(format!(
                "{at}.csv_delimiter: \"{}\" must be one ASCII character other than a quote or line break",
                self.csv_delimiter
            ));
        }
        problems
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> FilesConfig {
        toml::from_str(text).unwrap()
    }

    #[test]
    fn defaults_are_the_documented_ones() {
        let c = parse("folder = \"inbox\"");
        assert_eq!(c.dossiers, "dossiers");
        assert_eq!(c.steps, "steps");
        assert_eq!(c.encoding, Encoding::Utf8);
        assert_eq!((c.stable_seconds, c.scan_seconds), (5, 10));
        assert_eq!(c.max_file_bytes, 50 * 1024 * 1024);
        assert_eq!(c.done_folder, PathBuf::from("done"));
        assert_eq!(c.rejected_folder, PathBuf::from("rejected"));
        assert_eq!(c.delimiter(), b',');
        assert!(c.check("f").is_empty(), "{:?}", c.check("f"));
        let c = parse("folder = \"x\"\nencoding = \"windows-1258\"\ncsv_delimiter = \";\"");
        assert_eq!(c.encoding, Encoding::Windows1258);
        assert_eq!(c.delimiter(), b';');
        assert!(toml::from_str::<FilesConfig>("folder = \"x\"\nencoding = \"latin1\"").is_err());
    }

    #[test]
    fn a_source_read_only_from_a_folder_needs_no_token() {
        let s: crate::source::config::SourceConfig = toml::from_str(
            "name = \"xa\"\ndossier_mapping = \"d.toml\"\nstep_mapping = \"s.toml\"\n\
             [files]\nfolder = \"/srv/inbox/xa\"\n",
        )
        .unwrap();
        assert!(!s.pushes());
        assert!(crate::source::config::check_all(&[s]).is_empty());
    }

    #[test]
    fn folders_that_would_mix_are_refused() {
        let problems = |t: &str| parse(t).check("f").join("\n");
        assert!(problems("folder = \"x\"\ndossiers = \".\"\nsteps = \"\"").contains("both"));
        assert!(problems("folder = \"x\"\ndone_folder = \"steps\"").contains("dropped"));
        assert!(problems("folder = \"x\"\nrejected_folder = \".\"").contains("other than"));
        assert!(problems("folder = \"x\"\ndossiers = \"../y\"").contains("subfolder"));
        assert!(problems("folder = \"x\"\nrejected_folder = \"done\"").contains("same"));
        assert!(problems("folder = \"x\"\ncsv_delimiter = \";;\"").contains("one ASCII"));
        assert!(problems("folder = \"x\"\nscan_seconds = 0").contains("scan_seconds"));
        // An absolute done folder elsewhere is fine, and the inbox root may take one kind.
        assert_eq!(
            problems("folder = \"x\"\ndossiers = \".\"\ndone_folder = \"/srv/done\""),
            ""
        );
    }
}
