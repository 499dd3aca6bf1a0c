//! The daemon killed with SIGKILL between send and commit, for real: the portal has applied a
//! batch but its answer never reaches the gateway. After a restart nothing accepted is lost, the
//! batch goes again under the same X-Request-ID, and nothing is applied twice.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use lienthong::sim::{EventKind, Fault, SimSettings, Simulator};
use serde_json::json;
use tokio_util::sync::CancellationToken;

use crate::support::{local_records, TOKEN};

struct Daemon(Child);

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn start(config: &std::path::Path) -> Daemon {
    Daemon(
        Command::new(env!("CARGO_BIN_EXE_lienthong"))
            .args(["run", "--config"])
            .arg(config)
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start lienthong run"),
    )
}

async fn until(what: &str, limit: Duration, mut check: impl FnMut() -> bool) {
    let start = Instant::now();
    while !check() {
        assert!(start.elapsed() < limit, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn healthy(client: &reqwest::Client, base: &str) {
    let start = Instant::now();
    loop {
        if let Ok(r) = client.get(format!("{base}/health")).send().await {
            if r.status().is_success() {
                return;
            }
        }
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "daemon never became healthy"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn sigkill_between_send_and_commit_loses_nothing() {
    let shutdown = CancellationToken::new();
    let _stop = shutdown.clone().drop_guard();
    let sim = Simulator::new(SimSettings::default());
    let sim_listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let sim_base = format!("http://{}", sim_listener.local_addr().unwrap());
    tokio::spawn(lienthong::sim::serve(
        sim_listener,
        sim.clone(),
        shutdown.clone(),
    ));
    // The first batch is applied, then its answer is held back long enough to kill the daemon.
    sim.script(vec![Fault::SlowAfterApply {
        delay: Duration::from_secs(30),
    }]);

    let dir = tempfile::tempdir().unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let base = format!("http://127.0.0.1:{port}");
    let config = dir.path().join("lienthong.toml");
    let store_url = format!("sqlite://{}", dir.path().join("lienthong.db").display());
    // The harness's config, with a port of our own, a short lease and one worker.
    let text = crate::support::test_config_text(&store_url, &sim_base)
        .replace(
            "[server]\n",
            &format!("[server]\nlisten = \"127.0.0.1:{port}\"\n"),
        )
        .replace("[delivery]\n", "[delivery]\nlease_seconds = 1\n")
        .replace(
            "[peers.dvcqg]\n",
            "[peers.dvcqg]\npolicy = { concurrency = 1 }\n",
        );
    std::fs::write(&config, text).unwrap();

    let client = reqwest::Client::new();
    let daemon = start(&config);
    healthy(&client, &base).await;
    let (d, s) = local_records(21, 5);
    for (kind, body) in [("dossiers", json!(d)), ("steps", json!(s))] {
        let r = client
            .post(format!("{base}/ingest/v1/tinh/{kind}"))
            .bearer_auth(TOKEN)
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status().as_u16(), 202);
    }
    // The portal has applied the first batch (the five headers); the daemon waits for the answer.
    until(
        "the first batch to be applied",
        Duration::from_secs(30),
        || sim.stats().items_applied.values().sum::<u64>() == 5,
    )
    .await;
    drop(daemon); // SIGKILL

    let _daemon = start(&config);
    until(
        "every record at the portal",
        Duration::from_secs(60),
        || sim.stats().items_applied.values().sum::<u64>() == (d.len() + s.len()) as u64,
    )
    .await;
    let stats = sim.stats();
    assert!(
        stats.duplicates_absorbed >= 1,
        "the cut-off batch went again: {stats:?}"
    );
    assert_eq!(stats.violations.id_reused_with_different_body, 0);
    assert_eq!(stats.violations.same_body_under_two_ids, 0);
    assert_eq!(stats.out_of_order_steps, 0);
    for dossier in &d {
        let code = dossier["MaHoSo"].as_str().unwrap();
        let events = sim.events(code);
        let creates = events
            .iter()
            .filter(|e| matches!(e.kind, EventKind::Create))
            .count();
        assert_eq!(creates, 1, "{code} created once: {events:?}");
        assert!(matches!(events[0].kind, EventKind::Create));
        let steps = s
            .iter()
            .filter(|x| x["MaHoSo"] == dossier["MaHoSo"])
            .count();
        assert_eq!(events.len(), 1 + steps, "{code}");
    }
}
