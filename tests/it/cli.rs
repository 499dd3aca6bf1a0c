//! The binary's commands as an operator runs them.

use std::process::Command;

use crate::support::mappings;

fn lienthong() -> Command {
    Command::new(env!("CARGO_BIN_EXE_lienthong"))
}

#[test]
fn check_reports_every_problem_and_exits_78() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("lienthong.toml");
    std::fs::write(
        &cfg,
        format!(
            r#"
[peers.dvcqg]
base_url = "ftp://portal"
madonvi = "000.00.01.H56"
dossier_batch = 80
auth = {{ mode = "session", dstcode = "x", username = "u" }}
[schedules]
catalog_pull = "every night"
[[sources]]
name = "tinh"
token = "t"
dossier_mapping = "{m}/vendor-a/dossier.toml"
step_mapping = "does-not-exist.toml"
[[sources]]
name = "tinh"
token = "t"
dossier_mapping = "{m}/vendor-a/dossier.toml"
step_mapping = "{m}/vendor-a/step.toml"
"#,
            m = mappings().display()
        ),
    )
    .unwrap();
    let out = lienthong()
        .args(["check", "--config"])
        .arg(&cfg)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(78));
    let err = String::from_utf8_lossy(&out.stderr);
    for needle in [
        "peers.dvcqg.base_url: \"ftp://portal\" has scheme \"ftp\"",
        "peers.dvcqg.dossier_batch: 80 is outside 1..=50",
        "peers.dvcqg.auth.password: missing",
        "schedules.catalog_pull: \"every night\" is not a cron expression",
        "step_mapping",
        "duplicate source name \"tinh\"",
    ] {
        assert!(err.contains(needle), "missing {needle:?} in:\n{err}");
    }
    assert!(err.lines().count() >= 6, "{err}");

    std::fs::write(&cfg, "[server]\nlisten = \"127.0.0.1:1\"\nlistn = 1\n").unwrap();
    let out = lienthong()
        .args(["check", "--config"])
        .arg(&cfg)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(78));
    assert!(String::from_utf8_lossy(&out.stderr).contains("listn"));
}

#[test]
fn check_accepts_a_sound_config() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("lienthong.toml");
    let secret = dir.path().join("password");
    std::fs::write(&secret, "matkhau\n").unwrap();
    std::fs::write(
        &cfg,
        format!(
            r#"
[peers.dvcqg]
base_url = "https://lgsp.example.gov.vn/dvcqg"
madonvi = "000.00.01.H56"
auth = {{ mode = "session", dstcode = "000.00.01.H56", username = "u", password_file = "{s}" }}
[schedules]
outbox_stats = "0 0 2 * * *"
[[sources]]
name = "tinh"
token = "t"
dossier_mapping = "{m}/vendor-a/dossier.toml"
step_mapping = "{m}/vendor-a/step.toml"
"#,
            m = mappings().display(),
            s = secret.display()
        ),
    )
    .unwrap();
    let out = lienthong()
        .args(["check", "--config"])
        .arg(&cfg)
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn env_overrides_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("lienthong.toml");
    std::fs::write(&cfg, "[delivery]\nmax_attempts = 5\n").unwrap();
    let out = lienthong()
        .args(["check", "--config"])
        .arg(&cfg)
        .env("LIENTHONG_DELIVERY__LEASE_SECONDS", "0")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(78));
    assert!(String::from_utf8_lossy(&out.stderr).contains("delivery.lease_seconds"));
}

#[test]
fn map_prints_items_or_every_error() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("records.json");
    let (d, _) = crate::support::local_records(14, 2);
    let mut broken = d[1].clone();
    broken["NgayNhan"] = serde_json::json!("hôm qua");
    broken["TinhTrang"] = serde_json::json!("DANG_XU_LY");
    std::fs::write(
        &input,
        serde_json::to_vec(&vec![d[0].clone(), broken]).unwrap(),
    )
    .unwrap();
    let out = lienthong()
        .args(["map", "--mapping"])
        .arg(mappings().join("vendor-a/dossier.toml"))
        .arg("--input")
        .arg(&input)
        .args(["--var", "DonViXuLy=UBND xã Quảng Phú"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(text.contains(d[0]["MaHoSo"].as_str().unwrap()), "{text}");
    assert!(text.contains("UBND xã Quảng Phú"), "{text}");
    assert!(
        text.contains("record 1: error: NgayTiepNhan (from NgayNhan): value \"hôm qua\""),
        "{text}"
    );
}

#[test]
fn outbox_commands_read_the_configured_store() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("lienthong.toml");
    std::fs::write(
        &cfg,
        format!(
            "[store]\nurl = \"sqlite://{}\"\n",
            dir.path().join("l.db").display()
        ),
    )
    .unwrap();
    let run = |args: &[&str]| {
        lienthong()
            .arg("outbox")
            .arg("--config")
            .arg(&cfg)
            .args(args)
            .output()
            .unwrap()
    };
    let out = run(&["stats"]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("quarantined records: 0"));
    let out = run(&["replay"]);
    assert_ne!(out.status.code(), Some(0));
    let out = run(&[
        "skip",
        "00000000-0000-0000-0000-000000000000",
        "--reason",
        "x",
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("no dead, pending or waiting message"));
}

#[test]
fn completions_and_manual_pages_cover_every_command() {
    for shell in ["bash", "zsh", "fish"] {
        let out = lienthong().args(["completions", shell]).output().unwrap();
        assert!(out.status.success(), "{shell}");
        let script = String::from_utf8(out.stdout).unwrap();
        for command in ["outbox", "catalog", "replay", "accept-shrink"] {
            assert!(
                script.contains(command),
                "{shell} completion lacks {command}"
            );
        }
    }
    let out = lienthong().args(["completions", "tcsh"]).output().unwrap();
    assert!(!out.status.success(), "an unknown shell is refused");

    let page = lienthong().arg("man").output().unwrap();
    assert!(page.status.success());
    let page = String::from_utf8(page.stdout).unwrap();
    assert!(page.contains(".TH lienthong 1"), "{page}");
    assert!(page.contains("catalog"), "the page lists the commands");

    let dir = tempfile::tempdir().unwrap();
    let out = lienthong()
        .args(["man", "--out"])
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let pages: Vec<String> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().to_string())
        .collect();
    for want in [
        "lienthong.1",
        "lienthong-outbox.1",
        "lienthong-outbox-replay.1",
        "lienthong-catalog-pull.1",
    ] {
        assert!(pages.iter().any(|p| p == want), "{want} not in {pages:?}");
    }
    let replay = std::fs::read_to_string(dir.path().join("lienthong-outbox-replay.1")).unwrap();
    assert!(replay.contains(".TH"), "{replay}");
}

/// The `lienthong ...` command lines in `text`: lines ending in `\` joined with the next, words
/// split as a shell would, leading `NAME=value` assignments skipped, and the words from
/// `lienthong` (or `.../lienthong`) up to a pipe or redirection. Lines that do not run lienthong
/// are left out.
pub fn command_lines(text: &str) -> Vec<Vec<String>> {
    let joined = text.replace("\\\n", " ");
    let mut found = Vec::new();
    for line in joined.lines() {
        let Some(words) = shlex::split(line.trim()) else {
            continue;
        };
        let mut words = words.into_iter().skip_while(|w| {
            w.contains('=')
                && !w.starts_with('-')
                && w.split('=').next().is_some_and(|n| {
                    !n.is_empty()
                        && n.chars()
                            .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_')
                })
        });
        let Some(program) = words.next() else {
            continue;
        };
        if program != "lienthong" && !program.ends_with("/lienthong") {
            continue;
        }
        let mut argv = vec!["lienthong".to_string()];
        argv.extend(words.take_while(|w| !matches!(w.as_str(), "|" | ">" | ">>" | "&&" | ";")));
        found.push(argv);
    }
    found
}

/// Whether `argv` parses on the real command tree (`--help` and `--version` count as parsed).
pub fn parses(argv: &[String]) -> Result<(), String> {
    let cmd = <lienthong::cli::Cli as clap::CommandFactory>::command();
    match cmd.try_get_matches_from(argv) {
        Ok(_) => Ok(()),
        Err(e)
            if matches!(
                e.kind(),
                clap::error::ErrorKind::DisplayHelp | clap::error::ErrorKind::DisplayVersion
            ) =>
        {
            Ok(())
        }
        Err(e) => Err(format!("{}: {e}", argv.join(" "))),
    }
}

/// Every command and subcommand shows at least one example in its `--help`, and every example
/// parses: a command added later without one fails here.
#[test]
fn every_command_has_an_example_that_parses() {
    fn walk(cmd: &clap::Command, path: &str, missing: &mut Vec<String>, bad: &mut Vec<String>) {
        let help = cmd
            .get_after_long_help()
            .or(cmd.get_after_help())
            .map(ToString::to_string)
            .unwrap_or_default();
        let examples = command_lines(&help);
        if !help.contains("Example") || examples.is_empty() {
            missing.push(path.to_string());
        }
        for argv in examples {
            if let Err(e) = parses(&argv) {
                bad.push(e);
            }
        }
        for sub in cmd.get_subcommands().filter(|s| s.get_name() != "help") {
            walk(sub, &format!("{path} {}", sub.get_name()), missing, bad);
        }
    }
    let cmd = <lienthong::cli::Cli as clap::CommandFactory>::command();
    let (mut missing, mut bad) = (Vec::new(), Vec::new());
    walk(&cmd, "lienthong", &mut missing, &mut bad);
    assert!(
        missing.is_empty(),
        "commands without an example: {missing:?}"
    );
    assert!(
        bad.is_empty(),
        "examples that do not parse:\n{}",
        bad.join("\n")
    );
    assert!(
        !command_lines("  lienthong outbox --bogus").is_empty()
            && parses(&command_lines("  lienthong outbox --bogus")[0]).is_err(),
        "the check itself tells a bad line"
    );
}

/// `lienthong --help` and the manual page say what every exit code means; the codes are the
/// ones the commands return.
#[test]
fn exit_codes_are_documented_in_the_help_and_the_manual_page() {
    let help = lienthong().arg("--help").output().unwrap();
    assert!(help.status.success());
    let help = String::from_utf8(help.stdout).unwrap();
    let page = String::from_utf8(lienthong().arg("man").output().unwrap().stdout).unwrap();
    for text in [&help, &page] {
        assert!(text.contains("Exit status"), "{text}");
        for code in [
            "0   done",
            "1   failed",
            "2   the command line",
            "3   the command does not apply",
            "78  the configuration",
        ] {
            assert!(text.contains(code), "{code:?} missing in:\n{text}");
        }
    }
    assert_eq!(lienthong::cli::EXIT_USAGE, 2);
    let unknown = lienthong().arg("no-such-command").output().unwrap();
    assert_eq!(unknown.status.code(), Some(lienthong::cli::EXIT_USAGE));
    // Every command that reads the configuration exits 78 on one it cannot read.
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("lienthong.toml");
    std::fs::write(&cfg, "[server]\nlistn = 1\n").unwrap();
    for args in [
        &["run"][..],
        &["outbox", "stats"],
        &["sources"],
        &["backup", "--out", "x.db"],
        &["catalog", "status"],
    ] {
        let out = lienthong()
            .args(args)
            .arg("--config")
            .arg(&cfg)
            .output()
            .unwrap();
        assert_eq!(
            out.status.code(),
            Some(78),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(
            String::from_utf8_lossy(&out.stderr).contains("listn"),
            "{args:?}"
        );
    }
}
