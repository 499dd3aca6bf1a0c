//! Logging: `[log]` (format and level) and the one subscriber every command installs. Every
//! line goes through [`crate::mapping::mask_text`] on its way out, whatever wrote it (our code,
//! a dependency, a panic), so an identity number, phone, e-mail or name that reached a message or
//! a field by any path leaves the process masked. Lines about one message carry its id, peer and
//! dossier code as fields (the delivery span of `outbox`).

use std::io::{self, Write};

use serde::{Deserialize, Serialize};
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::EnvFilter;

/// `[log]`.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct LogConfig {
    /// `human` (one readable line per event) or `json` (one JSON object per line, with the
    /// fields of the spans it happened in: for a log collector).
    #[serde(default)]
    pub format: LogFormat,
    /// A level (`error`, `warn`, `info`, `debug`, `trace`) or a filter such as
    /// `info,lienthong::outbox=debug`. `RUST_LOG`, when set, is used instead.
    #[serde(default = "default_level")]
    pub level: String,
}

#[derive(Debug, Clone, Copy, Default, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    #[default]
    Human,
    Json,
}

fn default_level() -> String {
    "info".into()
}

impl Default for LogConfig {
    fn default() -> Self {
        Self {
            format: LogFormat::Human,
            level: default_level(),
        }
    }
}

impl LogConfig {
    pub fn check(&self) -> Vec<String> {
        match EnvFilter::try_new(&self.level) {
            Ok(_) => Vec::new(),
            Err(e) => vec![format!(
                "log.level: \"{}\" is not a filter: {e}",
                self.level
            )],
        }
    }
}

/// Installs the subscriber (stderr, masked) and a panic hook that logs the panic masked.
/// `RUST_LOG` wins over `config.level`; `fallback_level` is used when the config's level is the
/// default and the command prefers another (the demo keeps its progress bar clean).
pub fn init(config: &LogConfig, fallback_level: Option<&str>) {
    let level = match fallback_level {
        Some(l) if config.level == default_level() => l,
        _ => config.level.as_str(),
    };
    let filter = EnvFilter::try_from_default_env()
        .or_else(|_| EnvFilter::try_new(level))
        .unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(MaskedStderr);
    match config.format {
        LogFormat::Human => builder.init(),
        LogFormat::Json => builder
            .json()
            .with_current_span(true)
            .with_span_list(true)
            .init(),
    }
    std::panic::set_hook(Box::new(|info| {
        tracing::error!(panic = %panic_text(info), "panic");
    }));
}

/// A panic's message and place, masked (the message may quote whatever was being handled).
pub fn panic_text(info: &std::panic::PanicHookInfo<'_>) -> String {
    let payload = info
        .payload()
        .downcast_ref::<&str>()
        .map(|s| (*s).to_string())
        .or_else(|| info.payload().downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "(no message)".into());
    let place = info
        .location()
        .map(|l| format!(" at {}:{}", l.file(), l.line()))
        .unwrap_or_default();
    crate::mapping::mask_text(&format!("{payload}{place}"))
}

/// Standard error, each event's line masked before it is written.
#[derive(Clone, Copy)]
pub struct MaskedStderr;

impl<'a> MakeWriter<'a> for MaskedStderr {
    type Writer = MaskedLine;

    fn make_writer(&'a self) -> Self::Writer {
        MaskedLine(Vec::new())
    }
}

/// One event's output, held until the event is written whole (the formatter asks for a writer
/// per event), then masked and written to stderr in one call.
pub struct MaskedLine(Vec<u8>);

impl Write for MaskedLine {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Drop for MaskedLine {
    fn drop(&mut self) {
        if self.0.is_empty() {
            return;
        }
        let text = crate::mapping::mask_text(&String::from_utf8_lossy(&self.0));
        let _ = io::stderr().lock().write_all(text.as_bytes());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn levels_are_checked_and_formats_read() {
        let bad = LogConfig {
            level: "lienthong=loud".into(),
            ..LogConfig::default()
        };
        assert!(bad.check()[0].starts_with("log.level"), "{:?}", bad.check());
        assert!(LogConfig::default().check().is_empty());
        let json: LogConfig = toml::from_str("format = \"json\"\nlevel = \"debug\"").unwrap();
        assert_eq!(json.format, LogFormat::Json);
        assert!(toml::from_str::<LogConfig>("format = \"xml\"").is_err());
    }

    /// A panic that must not happen, quoting what was being handled: the hook's text names the
    /// place and keeps none of the personal data.
    #[test]
    fn a_panic_is_told_masked() {
        use std::sync::{Arc, Mutex};
        let told = Arc::new(Mutex::new(None::<String>));
        let others = Arc::new(std::panic::take_hook());
        let (mine, theirs) = (told.clone(), others.clone());
        let me = std::thread::current().id();
        std::panic::set_hook(Box::new(move |info| {
            if std::thread::current().id() == me {
                *mine.lock().unwrap() = Some(panic_text(info));
            } else {
                theirs(info);
            }
        }));
        let personal = [
            "Nguyễn Thị Hoa",
            "079203001234",
            "0912345678",
            "hoa.nt@example.com",
        ];
        let caught = std::panic::catch_unwind(|| {
            panic!(
                "unexpected record of {}, id {}, phone {}, mail {}",
                personal[0], personal[1], personal[2], personal[3]
            )
        });
        drop(std::panic::take_hook());
        std::panic::set_hook(Box::new(move |info| others(info)));
        assert!(caught.is_err());
        let told = told.lock().unwrap().clone().expect("the hook ran");
        assert!(told.starts_with("unexpected record of "), "{told}");
        assert!(
            told.contains("src/telemetry.rs:"),
            "the place is kept: {told}"
        );
        for p in personal {
            assert!(!told.contains(p), "{p} in {told}");
        }
    }
}
