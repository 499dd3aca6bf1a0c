//! Real `lienthong run` processes for the tests that kill them (`multi`, `crash_loop`): start,
//! SIGKILL, restart; feeding records with retries; and the checks made from the simulator's own
//! record at the end.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use lienthong::sim::{EventKind, SimStats, Simulator};
use serde_json::Value;

use crate::support::TOKEN;

/// One `lienthong run` process; killed with SIGKILL when dropped.
pub struct Daemon {
    child: Option<Child>,
    config: PathBuf,
    /// Where its standard error goes, when kept ([`Daemon::start_logged`]).
    log: Option<PathBuf>,
    pub base: String,
}

impl Daemon {
    /// Writes a config for an instance listening on a port of its own (the harness's config with
    /// `delivery` and `[peers.dvcqg]` lines added) and starts it.
    pub fn start(
        dir: &Path,
        name: &str,
        store_url: &str,
        sim_base: &str,
        delivery: &str,
        peer: &str,
    ) -> Daemon {
        Self::start_with(dir, name, store_url, sim_base, delivery, peer, "")
    }

    /// Like [`Daemon::start`], with `tail` (e.g. a `[schedules]` table) appended to the config.
    pub fn start_with(
        dir: &Path,
        name: &str,
        store_url: &str,
        sim_base: &str,
        delivery: &str,
        peer: &str,
        tail: &str,
    ) -> Daemon {
        let text = crate::support::test_config_text(store_url, sim_base)
            .replace("body_limit_bytes = 65536", "body_limit_bytes = 4194304")
            .replace("[delivery]\n", &format!("[delivery]\n{delivery}\n"))
            .replace("[peers.dvcqg]\n", &format!("[peers.dvcqg]\n{peer}\n"))
            + tail;
        Self::start_text(dir, name, &text)
    }

    /// Starts an instance with the config `text`, its own `[server] listen` port added.
    pub fn start_text(dir: &Path, name: &str, text: &str) -> Daemon {
        Self::start_text_with_log(dir, name, text, None)
    }

    /// Like [`Daemon::start_text`], at debug level, its standard error kept in
    /// `<dir>/<name>.log` (read it with [`Daemon::log`]).
    pub fn start_logged(dir: &Path, name: &str, text: &str) -> Daemon {
        Self::start_text_with_log(dir, name, text, Some(dir.join(format!("{name}.log"))))
    }

    fn start_text_with_log(dir: &Path, name: &str, text: &str, log: Option<PathBuf>) -> Daemon {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let text = text.replace(
            "[server]\n",
            &format!("[server]\nlisten = \"127.0.0.1:{port}\"\n"),
        );
        let config = dir.join(format!("{name}.toml"));
        std::fs::write(&config, text).unwrap();
        let mut d = Daemon {
            child: None,
            config,
            log,
            base: format!("http://127.0.0.1:{port}"),
        };
        d.spawn();
        d
    }

    fn spawn(&mut self) {
        let mut command = Command::new(env!("CARGO_BIN_EXE_lienthong"));
        command
            .args(["run", "--config"])
            .arg(&self.config)
            .stdout(Stdio::null());
        match &self.log {
            Some(log) => command
                .env("RUST_LOG", "debug")
                .stderr(Stdio::from(std::fs::File::create(log).unwrap())),
            None => command.env("RUST_LOG", "error").stderr(Stdio::null()),
        };
        self.child = Some(command.spawn().expect("start lienthong run"));
    }

    /// What it has written to standard error so far (started with [`Daemon::start_logged`]).
    pub fn log(&self) -> String {
        self.log
            .as_ref()
            .and_then(|p| std::fs::read_to_string(p).ok())
            .unwrap_or_default()
    }

    /// Whether the process has ended (and how), without waiting.
    pub fn exited(&mut self) -> Option<std::process::ExitStatus> {
        self.child
            .as_mut()
            .and_then(|c| c.try_wait().ok().flatten())
    }

    /// The process id while it runs (the daemon's lease owner names contain it).
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// SIGKILL: no drain, no settlement, no lease given back.
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    pub fn restart(&mut self) {
        self.kill();
        self.spawn();
    }

    /// Waits until `/health` answers (bounded).
    pub async fn healthy(&self, client: &reqwest::Client) {
        let start = Instant::now();
        loop {
            if let Ok(r) = client.get(format!("{}/health", self.base)).send().await {
                if r.status().is_success() {
                    return;
                }
            }
            assert!(
                start.elapsed() < Duration::from_secs(60),
                "daemon never became healthy"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        self.kill();
    }
}

/// One ingest request's worth of records, posted under one `Idempotency-Key` until a 202.
pub struct Chunk {
    pub kind: &'static str,
    pub records: Vec<Value>,
    pub key: String,
}

/// Dossiers in chunks of `per`, each followed by a chunk of the steps of those dossiers.
pub fn chunks(dossiers: &[Value], steps: &[Value], per: usize) -> Vec<Chunk> {
    let mut out = Vec::new();
    for part in dossiers.chunks(per) {
        let codes: std::collections::HashSet<&str> =
            part.iter().filter_map(|d| d["MaHoSo"].as_str()).collect();
        out.push(Chunk {
            kind: "dossiers",
            records: part.to_vec(),
            key: uuid::Uuid::new_v4().to_string(),
        });
        let own: Vec<Value> = steps
            .iter()
            .filter(|s| s["MaHoSo"].as_str().is_some_and(|c| codes.contains(c)))
            .cloned()
            .collect();
        if !own.is_empty() {
            out.push(Chunk {
                kind: "steps",
                records: own,
                key: uuid::Uuid::new_v4().to_string(),
            });
        }
    }
    out
}

/// Posts `chunk` to `base` once; `true` when it was accepted (202, all of its records).
pub async fn post(client: &reqwest::Client, base: &str, chunk: &Chunk) -> bool {
    let sent = client
        .post(format!("{base}/ingest/v1/tinh/{}", chunk.kind))
        .bearer_auth(TOKEN)
        .header("idempotency-key", &chunk.key)
        .json(&chunk.records)
        .timeout(Duration::from_secs(10))
        .send()
        .await;
    let Ok(resp) = sent else {
        return false;
    };
    if resp.status().as_u16() != 202 {
        return false;
    }
    let Ok(answer) = resp.json::<Value>().await else {
        return false;
    };
    let accepted = answer["accepted"].as_array().map_or(0, Vec::len);
    assert_eq!(
        accepted,
        chunk.records.len(),
        "every generated record is valid: {answer}"
    );
    true
}

/// Waits until the portal holds `items` applied items (bounded by `limit`).
pub async fn until_applied(sim: &Simulator, items: u64, limit: Duration) {
    let start = Instant::now();
    loop {
        let applied: u64 = sim.stats().items_applied.values().sum();
        if applied >= items {
            return;
        }
        assert!(
            start.elapsed() < limit,
            "timed out: {applied} of {items} items at the portal; {:?}",
            sim.stats()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Checks from the simulator's record that every dossier and step arrived once, in order, and
/// that every repeat on the wire carried the id it was first sent with. Returns the stats.
pub fn check_portal(sim: &Simulator, dossiers: &[Value], steps: &[Value]) -> SimStats {
    let stats = sim.stats();
    assert_eq!(
        stats.violations.id_reused_with_different_body, 0,
        "{stats:?}"
    );
    assert_eq!(stats.violations.same_body_under_two_ids, 0, "{stats:?}");
    assert_eq!(stats.violations.missing_request_id, 0, "{stats:?}");
    assert_eq!(stats.out_of_order_steps, 0, "{stats:?}");
    // A step applied again under another id would be absorbed here rather than seen as a repeat.
    assert_eq!(stats.duplicate_steps, 0, "{stats:?}");
    let mut steps_of: HashMap<&str, usize> = HashMap::new();
    for s in steps {
        *steps_of.entry(s["MaHoSo"].as_str().unwrap()).or_default() += 1;
    }
    for d in dossiers {
        let code = d["MaHoSo"].as_str().unwrap();
        let events = sim.events(code);
        assert!(
            matches!(events.first().map(|e| e.kind), Some(EventKind::Create)),
            "{code} starts with its header: {events:?}"
        );
        let creates = events
            .iter()
            .filter(|e| matches!(e.kind, EventKind::Create))
            .count();
        assert_eq!(creates, 1, "{code} created once: {events:?}");
        assert_eq!(
            events.len(),
            1 + steps_of.get(code).copied().unwrap_or(0),
            "{code}: header and every step, once each: {events:?}"
        );
    }
    let applied: u64 = stats.items_applied.values().sum();
    assert_eq!(applied as usize, dossiers.len() + steps.len(), "{stats:?}");
    stats
}
