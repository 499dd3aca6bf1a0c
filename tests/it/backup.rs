//! `lienthong backup` of a running daemon's SQLite store, restored as the operator guide says (a
//! plain file copy into the data folder of a stopped daemon) and resumed: everything accepted
//! before the backup began is delivered by the restored daemon, once and in order, each batch
//! tried before the backup under the `X-Request-ID` it was first sent with; what was accepted
//! after the backup ended is not in it (the guide leaves it to the operator to have re-sent).

use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use lienthong::sim::{EventKind, FaultRates, SimSettings, Simulator};
use lienthong::store::MessageFilter;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use crate::daemons::{chunks, post, until_applied, Chunk, Daemon};
use crate::support::{local_records, test_config_text};

/// When a chunk's accepted attempt was sent and answered.
#[derive(Clone, Copy)]
struct Accepted {
    sent: Instant,
    answered: Instant,
}

/// Posts every chunk in order, a little apart; before the last third it waits for `go_on`, so
/// some records are certainly accepted after the backup.
async fn feed(
    base: String,
    work: Arc<Vec<Chunk>>,
    accepted: Arc<Mutex<Vec<Accepted>>>,
    mut go_on: watch::Receiver<bool>,
) {
    let client = reqwest::Client::new();
    let hold_at = work.len() * 2 / 3;
    for (i, chunk) in work.iter().enumerate() {
        if i == hold_at {
            go_on.wait_for(|go| *go).await.expect("the test is alive");
        }
        let started = Instant::now();
        loop {
            let sent = Instant::now();
            if post(&client, &base, chunk).await {
                accepted.lock().unwrap().push(Accepted {
                    sent,
                    answered: Instant::now(),
                });
                break;
            }
            assert!(
                started.elapsed() < Duration::from_secs(60),
                "ingest refused a chunk for a minute"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

fn backup(config: &std::path::Path, out: &std::path::Path) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_lienthong"))
        .args(["backup", "--config"])
        .arg(config)
        .arg("--out")
        .arg(out)
        .env("RUST_LOG", "error")
        .output()
        .expect("lienthong backup runs")
}

#[tokio::test]
async fn a_backup_of_the_running_store_restores_with_nothing_accepted_before_it_lost() {
    let shutdown = CancellationToken::new();
    let _stop = shutdown.clone().drop_guard();
    // The portal answers 503 to everything: the batches are tried (and get their X-Request-IDs)
    // but nothing is delivered, so the backlog grows while the backup is taken.
    let sim = Simulator::new(SimSettings {
        faults: FaultRates {
            http503: 1.0,
            retry_after_secs: 1,
            ..FaultRates::default()
        },
        ..SimSettings::default()
    });
    let sim_listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let sim_base = format!("http://{}", sim_listener.local_addr().unwrap());
    tokio::spawn(lienthong::sim::serve(
        sim_listener,
        sim.clone(),
        shutdown.clone(),
    ));

    let dir = tempfile::tempdir().unwrap();
    let config_for = |data: &str| {
        let folder = dir.path().join(data);
        std::fs::create_dir_all(&folder).unwrap();
        let url = format!("sqlite://{}", folder.join("lienthong.db").display());
        test_config_text(&url, &sim_base)
            .replace("max_attempts = 50", "max_attempts = 1000000")
            .replace("[delivery]\n", "[delivery]\nlease_seconds = 2\n")
    };
    let client = reqwest::Client::new();
    let mut live = Daemon::start_text(dir.path(), "live", &config_for("live"));
    live.healthy(&client).await;

    let (dossiers, steps) = local_records(4242, 60);
    let work = Arc::new(chunks(&dossiers, &steps, 3));
    let accepted = Arc::new(Mutex::new(Vec::new()));
    let (go_on, hold) = watch::channel(false);
    let feeder = tokio::spawn(feed(
        live.base.clone(),
        work.clone(),
        accepted.clone(),
        hold,
    ));

    // Mid-way: a third of the chunks in, and the portal has been tried.
    let waited = Instant::now();
    while accepted.lock().unwrap().len() < work.len() / 3 || sim.stats().requests < 3 {
        assert!(
            waited.elapsed() < Duration::from_secs(60),
            "no backlog formed"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let out = dir.path().join("lienthong-backup.db");
    let config = dir.path().join("live.toml");
    let began = Instant::now();
    let done = tokio::task::spawn_blocking({
        let (config, out) = (config.clone(), out.clone());
        move || backup(&config, &out)
    })
    .await
    .unwrap();
    let ended = Instant::now();
    go_on.send(true).unwrap();
    assert_eq!(
        done.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&done.stderr)
    );
    assert!(
        String::from_utf8_lossy(&done.stdout).contains("integrity ok"),
        "{}",
        String::from_utf8_lossy(&done.stdout)
    );

    // A second backup to the same file is refused and leaves the first as it was.
    let first = std::fs::read(&out).unwrap();
    let again = backup(&config, &out);
    assert_eq!(again.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&again.stderr).contains("already exists"));
    assert_eq!(std::fs::read(&out).unwrap(), first);

    feeder.await.expect("every chunk accepted");
    live.kill();
    assert_eq!(
        sim.stats().items_applied.values().sum::<u64>(),
        0,
        "nothing reached the portal before the restore"
    );

    // Restore: the backup copied into the data folder of a daemon that is not running.
    let restored_config = config_for("restored");
    let restored_db = dir.path().join("restored").join("lienthong.db");
    std::fs::copy(&out, &restored_db).unwrap();

    // What the backup holds: every message, and the batch (X-Request-ID) it was last tried in.
    let url = format!("sqlite://{}", restored_db.display());
    let store = lienthong::store::open(&url, 1).await.unwrap();
    let listed = store
        .list_messages(&MessageFilter {
            state: None,
            peer: None,
            dossier: None,
            limit: 100_000,
        })
        .await
        .unwrap();
    let mut held = Vec::new();
    for m in &listed {
        let detail = store.message(m.id).await.unwrap().expect("listed");
        held.push((detail.dossier, detail.operation, detail.batch_id));
    }
    drop(store);
    let tried = held.iter().filter(|(_, _, b)| b.is_some()).count();
    assert!(tried > 0, "some batches were tried before the backup");

    sim.set_faults(FaultRates::default());
    let restored = Daemon::start_text(dir.path(), "restored", &restored_config);
    restored.healthy(&client).await;
    until_applied(&sim, held.len() as u64, Duration::from_secs(120)).await;

    let stats = sim.stats();
    assert_eq!(
        stats.violations.id_reused_with_different_body, 0,
        "{stats:?}"
    );
    assert_eq!(stats.violations.same_body_under_two_ids, 0, "{stats:?}");
    assert_eq!(stats.out_of_order_steps, 0, "{stats:?}");
    assert_eq!(stats.duplicate_steps, 0, "{stats:?}");
    assert_eq!(
        stats.items_applied.values().sum::<u64>(),
        held.len() as u64,
        "every message of the backup delivered once, and nothing else: {stats:?}"
    );

    // Each batch tried before the backup went out again under its own X-Request-ID.
    for (dossier, operation, batch) in &held {
        let Some(batch) = batch else { continue };
        let events = sim.events(dossier);
        assert!(
            events
                .iter()
                .any(|e| e.request_id.as_deref() == Some(batch.as_str())),
            "{dossier} {operation}: batch {batch} not delivered under its id: {events:?}"
        );
    }

    // Accepted before the backup began: at the portal whole. After it ended: not there.
    let accepted = accepted.lock().unwrap().clone();
    let (mut before, mut after) = (0, 0);
    for (chunk, at) in work.iter().zip(&accepted) {
        let mut codes: Vec<&str> = chunk
            .records
            .iter()
            .map(|r| r["MaHoSo"].as_str().unwrap())
            .collect();
        codes.dedup();
        for code in codes {
            let events = sim.events(code);
            let stepped = events.iter().filter(|e| e.kind == EventKind::Step).count();
            let own = steps.iter().filter(|s| s["MaHoSo"] == code).count();
            if at.answered < began {
                match chunk.kind {
                    "dossiers" => assert!(
                        events.first().map(|e| e.kind) == Some(EventKind::Create),
                        "{code}, accepted before the backup, is at the portal: {events:?}"
                    ),
                    _ => assert_eq!(stepped, own, "{code}'s steps: {events:?}"),
                }
            } else if at.sent > ended {
                match chunk.kind {
                    "dossiers" => assert!(
                        events.is_empty(),
                        "{code}, accepted after the backup, is not in it: {events:?}"
                    ),
                    _ => assert_eq!(stepped, 0, "{code}'s steps came after: {events:?}"),
                }
            }
        }
        if at.answered < began {
            before += 1;
        } else if at.sent > ended {
            after += 1;
        }
    }
    assert!(
        before > 0 && after > 0,
        "{before} chunks before, {after} after"
    );
    eprintln!(
        "backup of a running store: {} messages in it ({tried} tried before it) delivered after \
         the restore under their ids; {before} chunks accepted before it, {after} after it",
        held.len()
    );
}

/// On PostgreSQL the command says `pg_dump` is the way and exits 3 (documented), writing nothing.
#[tokio::test]
async fn a_postgres_store_is_backed_up_with_pg_dump() {
    let Some(pg) = crate::support::postgres().await else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("lienthong.toml");
    std::fs::write(&config, format!("[store]\nurl = \"{}\"\n", pg.url())).unwrap();
    let out = dir.path().join("backup.db");
    let done = backup(&config, &out);
    assert_eq!(done.status.code(), Some(lienthong::cli::EXIT_NOT_FOR_STORE));
    assert!(String::from_utf8_lossy(&done.stderr).contains("pg_dump"));
    assert!(!out.exists());
}
