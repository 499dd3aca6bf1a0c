//! `docs/operator-guide.md` against what it describes: every alert of `deploy/alerts.yml` has
//! its section, and every `lienthong ...` command line in its examples parses on the real
//! command tree.

use std::path::PathBuf;

use crate::cli::{command_lines, parses};

fn read(path: &str) -> String {
    let full = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(path);
    std::fs::read_to_string(&full).unwrap_or_else(|e| panic!("{}: {e}", full.display()))
}

/// The code blocks of a Markdown text, joined.
fn code_blocks(markdown: &str) -> String {
    let mut inside = false;
    let mut code = String::new();
    for line in markdown.lines() {
        if line.trim_start().starts_with("```") {
            inside = !inside;
            continue;
        }
        if inside {
            code.push_str(line);
            code.push('\n');
        }
    }
    code
}

#[test]
fn every_alert_has_a_section_in_the_guide() {
    let guide = read("docs/operator-guide.md");
    let alerts: Vec<String> = read("deploy/alerts.yml")
        .lines()
        .filter_map(|l| l.trim().strip_prefix("- alert:"))
        .map(|name| name.trim().to_string())
        .collect();
    assert!(alerts.len() >= 10, "alerts read: {alerts:?}");
    let headings: Vec<&str> = guide
        .lines()
        .filter(|l| l.starts_with('#'))
        .map(|l| l.trim_start_matches('#').trim())
        .collect();
    let missing: Vec<&String> = alerts
        .iter()
        .filter(|a| !headings.contains(&a.as_str()))
        .collect();
    assert!(missing.is_empty(), "alerts without a section: {missing:?}");
}

#[test]
fn every_command_line_in_the_guide_parses() {
    let guide = read("docs/operator-guide.md");
    let lines = command_lines(&code_blocks(&guide));
    assert!(lines.len() >= 20, "command lines found: {lines:?}");
    let bad: Vec<String> = lines.iter().filter_map(|l| parses(l).err()).collect();
    assert!(
        bad.is_empty(),
        "command lines that do not parse:\n{}",
        bad.join("\n")
    );
    // The commands the guide is for are all shown.
    for command in [
        "backup",
        "check",
        "outbox",
        "quarantine",
        "catalog",
        "postal",
        "reconcile",
        "sources",
    ] {
        assert!(
            lines
                .iter()
                .any(|l| l.get(1).map(String::as_str) == Some(command)),
            "no example of lienthong {command}"
        );
    }
}
