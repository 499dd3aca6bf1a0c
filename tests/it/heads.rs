//! The general enqueue in a caller's transaction, the head of each ordering key, destinations
//! held back by a lane, and (PostgreSQL) enqueues and settlements of one key racing from two
//! connections without losing its head. Both backends where it applies.

use std::sync::Arc;
use std::time::{Duration, Instant};

use lienthong::store::{Batch, BatchFate, Claim, MessageFate, NewMessage, Store};
use serde_json::{json, Value};

use crate::support::stores;

const OP: &str = "GuiThongBao";

fn build(_is_update: bool, items: &[Value]) -> Value {
    json!({ "items": items })
}

fn claim<'a>(skip: &'a [String], now_ms: i64) -> Claim<'a> {
    Claim {
        peer: "commune",
        skip_destinations: skip,
        operation: OP,
        limit: 50,
        now_ms,
        lease_until_ms: now_ms + 60_000,
        owner: "one",
    }
}

fn message(destination: &str, key: &str, n: i64) -> NewMessage {
    let mut m = NewMessage::new("commune", OP, key, json!({ "key": key, "n": n }));
    m.destination = destination.into();
    m
}

fn ns(b: &Batch) -> Vec<i64> {
    b.body["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|i| i["n"].as_i64().expect("n"))
        .collect()
}

async fn settle(store: &Arc<dyn Store>, b: &Batch, fate: impl Fn() -> MessageFate, now: i64) {
    let fates = b.messages.iter().map(|m| (m.id, fate())).collect();
    store
        .resolve_batch(b, BatchFate::Close(fates), now)
        .await
        .expect("settle");
}

#[tokio::test]
async fn messages_without_a_source_record_queue_in_the_callers_transaction() {
    for ts in stores().await {
        let s = &ts.store;
        let name = ts.name;
        // Rolled back (dropped uncommitted): nothing queued.
        {
            let mut tx = s.begin_write().await.unwrap();
            tx.enqueue(&[message("", "K", 0)], 1).await.unwrap();
        }
        assert!(s.outbox_counts().await.unwrap().is_empty(), "{name}");

        let mut tx = s.begin_write().await.unwrap();
        let queued = tx
            .enqueue(
                &[
                    message("", "K", 1),
                    message("", "K", 2),
                    message("", "L", 3),
                ],
                1,
            )
            .await
            .unwrap();
        tx.commit().await.unwrap();
        assert_eq!(queued.len(), 3, "{name}");
        assert!(queued.iter().all(|q| !q.waiting), "{name}");

        // Per key in queue order: K's second waits behind its first.
        let first = s
            .claim_new_batch(&claim(&[], 10), &build)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(ns(&first), vec![1, 3], "{name}");
        assert!(
            s.claim_new_batch(&claim(&[], 11), &build)
                .await
                .unwrap()
                .is_none(),
            "{name}"
        );
        // The first of K dies: it holds K back; replayed and delivered, K goes on.
        s.resolve_batch(
            &first,
            BatchFate::Close(vec![
                (
                    first.messages[0].id,
                    MessageFate::Dead {
                        error: "rejected".into(),
                    },
                ),
                (first.messages[1].id, MessageFate::Delivered),
            ]),
            12,
        )
        .await
        .unwrap();
        assert!(
            s.claim_new_batch(&claim(&[], 13), &build)
                .await
                .unwrap()
                .is_none(),
            "{name}: a dead head blocks its key"
        );
        let shown = s.message(queued[0].id).await.unwrap().unwrap();
        assert_eq!(
            (shown.record_id, shown.record, shown.mapping_version),
            (None, None, None),
            "{name}: nothing to remap it from"
        );
        assert_eq!(s.replay(&[queued[0].id], 14).await.unwrap(), 1, "{name}");
        // Its batch also carried L's delivered message: it goes in a new batch.
        let again = s
            .claim_new_batch(&claim(&[], 15), &build)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(ns(&again), vec![1], "{name}");
        assert_ne!(again.id, first.id, "{name}");
        settle(s, &again, || MessageFate::Delivered, 16).await;
        let second = s
            .claim_new_batch(&claim(&[], 17), &build)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(ns(&second), vec![2], "{name}");
    }
}

#[tokio::test]
async fn held_back_destinations_are_not_claimed_and_a_batch_has_one_destination() {
    for ts in stores().await {
        let s = &ts.store;
        let name = ts.name;
        let mut tx = s.begin_write().await.unwrap();
        tx.enqueue(
            &[
                message("xa-1", "A", 1),
                message("xa-2", "B", 2),
                message("xa-1", "C", 3),
                message("xa-2", "D", 4),
            ],
            1,
        )
        .await
        .unwrap();
        tx.commit().await.unwrap();

        let skip = vec!["xa-1".to_string()];
        let b = s
            .claim_new_batch(&claim(&skip, 10), &build)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(
            (b.destination.as_str(), ns(&b)),
            ("xa-2", vec![2, 4]),
            "{name}"
        );
        let a = s
            .claim_new_batch(&claim(&[], 10), &build)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(
            (a.destination.as_str(), ns(&a)),
            ("xa-1", vec![1, 3]),
            "{name}"
        );
        // Retried, the batch goes to the same destination.
        s.resolve_batch(
            &a,
            BatchFate::Reopen {
                next_attempt_ms: 20,
                error: "HTTP 503".into(),
                count_attempt: true,
            },
            11,
        )
        .await
        .unwrap();
        assert!(
            s.claim_open_batch(&claim(&skip, 21))
                .await
                .unwrap()
                .is_none(),
            "{name}: its retry waits while its destination is held back"
        );
        let again = s.claim_open_batch(&claim(&[], 21)).await.unwrap().unwrap();
        assert_eq!(
            (again.id, again.destination.as_str()),
            (a.id, "xa-1"),
            "{name}"
        );
    }
}

#[tokio::test]
async fn a_skipped_head_hands_its_place_to_the_next_message() {
    for ts in stores().await {
        let s = &ts.store;
        let name = ts.name;
        let mut tx = s.begin_write().await.unwrap();
        let q = tx
            .enqueue(&[message("", "K", 1), message("", "K", 2)], 1)
            .await
            .unwrap();
        tx.commit().await.unwrap();
        assert!(s.skip(q[0].id, "sent by hand", 2).await.unwrap(), "{name}");
        let b = s
            .claim_new_batch(&claim(&[], 3), &build)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(ns(&b), vec![2], "{name}");
        assert_eq!(
            s.next_due("commune").await.unwrap(),
            Some(3 + 60_000),
            "{name}"
        );
    }
}

/// One key, two connections: one queues a message at a time while the other claims and settles
/// them. A settlement that retired a head without seeing a message queued meanwhile would leave
/// the key with no head and the rest stuck.
#[tokio::test]
async fn enqueue_and_settlement_of_one_key_race_without_losing_its_head() {
    let Some(ts) = crate::support::postgres().await else {
        return;
    };
    const N: i64 = 300;
    let s = ts.store.clone();
    let producer = {
        let s = s.clone();
        tokio::spawn(async move {
            for n in 0..N {
                let mut tx = s.begin_write().await.expect("begin");
                tx.enqueue(&[message("", "K", n)], n)
                    .await
                    .expect("enqueue");
                tx.commit().await.expect("commit");
            }
        })
    };
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut seen = Vec::new();
    while (seen.len() as i64) < N {
        assert!(
            Instant::now() < deadline,
            "stuck after {} of {N}: {:?}",
            seen.len(),
            s.outbox_counts().await
        );
        let now = lienthong::store::now_ms();
        match s.claim_new_batch(&claim(&[], now), &build).await.unwrap() {
            Some(b) => {
                seen.extend(ns(&b));
                settle(&s, &b, || MessageFate::Delivered, now).await;
            }
            None => tokio::task::yield_now().await,
        }
    }
    producer.await.expect("producer");
    assert_eq!(
        seen,
        (0..N).collect::<Vec<_>>(),
        "in queue order, each once"
    );
}

#[tokio::test]
async fn a_superseding_message_replaces_what_is_not_being_sent_of_its_key() {
    for ts in stores().await {
        let s = &ts.store;
        let name = ts.name;
        let enqueue = |m: Vec<NewMessage>, now: i64| {
            let s = s.clone();
            async move {
                let mut tx = s.begin_write().await.unwrap();
                tx.enqueue(&m, now).await.unwrap();
                tx.commit().await.unwrap();
            }
        };
        let one = |n: i64| {
            let mut c = claim(&[], n);
            c.limit = 1;
            c
        };
        // Key A: v1 claimed and left for a retry (its batch open, not held); key B: v1 claimed
        // and being sent (lease held); key C: v1 dead; key D: v1 pending behind nothing.
        enqueue(
            vec![
                message("x", "A", 1),
                message("x", "B", 1),
                message("x", "C", 1),
                message("x", "D", 1),
            ],
            1,
        )
        .await;
        let a = s.claim_new_batch(&one(10), &build).await.unwrap().unwrap();
        s.resolve_batch(
            &a,
            BatchFate::Reopen {
                next_attempt_ms: 1_000,
                error: "HTTP 503".into(),
                count_attempt: true,
            },
            11,
        )
        .await
        .unwrap();
        let b = s.claim_new_batch(&one(12), &build).await.unwrap().unwrap();
        let c = s.claim_new_batch(&one(13), &build).await.unwrap().unwrap();
        settle(
            s,
            &c,
            || MessageFate::Dead {
                error: "HTTP 400".into(),
            },
            14,
        )
        .await;
        assert_eq!(
            (ns(&a), ns(&b), ns(&c)),
            (vec![1], vec![1], vec![1]),
            "{name}"
        );

        // Version 2 of every key, superseding; and a plain message of another key.
        let v2: Vec<NewMessage> = ["A", "B", "C", "D"]
            .iter()
            .map(|k| message("x", k, 2).superseding())
            .collect();
        enqueue(v2, 20).await;

        // A's retry, C's dead letter and D's pending v1 gave way; B's v1 is in flight and stays.
        let mut seen = Vec::new();
        while let Some(batch) = s.claim_new_batch(&claim(&[], 30), &build).await.unwrap() {
            seen.extend(ns(&batch));
            settle(s, &batch, || MessageFate::Delivered, 31).await;
        }
        assert!(
            s.claim_open_batch(&claim(&[], 2_000))
                .await
                .unwrap()
                .is_none(),
            "{name}: A's open batch was closed unsent"
        );
        assert_eq!(seen, vec![2, 2, 2], "{name}: A, C and D at version 2");
        // B's v1, in flight, is settled by its sender; then B's v2 follows it.
        settle(s, &b, || MessageFate::Delivered, 40).await;
        let after = s
            .claim_new_batch(&claim(&[], 41), &build)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(ns(&after), vec![2], "{name}");
        let counts = s.outbox_counts().await.unwrap();
        let skipped: i64 = counts
            .iter()
            .filter(|c| c.state == "skipped")
            .map(|c| c.count)
            .sum();
        assert_eq!(
            skipped, 3,
            "{name}: the superseded ones are kept, as skipped"
        );
    }
}

#[tokio::test]
async fn a_claim_fills_its_batch_from_one_destination_past_interleaved_others() {
    for ts in stores().await {
        let s = &ts.store;
        let name = ts.name;
        // A fan-out's order: each change to every destination in turn.
        let mut messages = Vec::new();
        for k in 0..4 {
            for d in ["xa-1", "xa-2", "xa-3"] {
                let n = (messages.len() + 1) as i64;
                messages.push(message(d, &format!("K{k}"), n));
            }
        }
        let mut tx = s.begin_write().await.unwrap();
        tx.enqueue(&messages, 1).await.unwrap();
        tx.commit().await.unwrap();

        let mut small = claim(&[], 10);
        small.limit = 3;
        let b = s.claim_new_batch(&small, &build).await.unwrap().unwrap();
        assert_eq!(
            (b.destination.as_str(), ns(&b)),
            ("xa-1", vec![1, 4, 7]),
            "{name}: the first destination's first three, not one"
        );
        let skip = vec!["xa-1".to_string()];
        let mut small = claim(&skip, 10);
        small.limit = 3;
        let c = s.claim_new_batch(&small, &build).await.unwrap().unwrap();
        assert_eq!(
            (c.destination.as_str(), ns(&c)),
            ("xa-2", vec![2, 5, 8]),
            "{name}"
        );
    }
}
