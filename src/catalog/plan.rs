//! The catalog's decisions, pure (no I/O, no clock): what a pull publishes (which procedures
//! are added, changed, withdrawn, back), whether a list shrank too much to trust, and which
//! message each subscriber gets for each version.

use std::collections::{HashMap, HashSet};

use chrono::{TimeZone, Utc};
use serde_json::Value;

use crate::peer::commune::{self, SubscriberFilter, OP_UPSERT, OP_WITHDRAW, PEER_COMMUNE};
use crate::store::{
    CatalogVersion, CurrentProcedure, ListedProcedure, NewMessage, NewVersion, PublishPlan,
    StagedProcedure,
};

/// The portal's "in force" state (`TRANGTHAI`).
pub const IN_FORCE: &str = "1";

/// Note of a staged procedure whose `LayThuTuc` object says it is withdrawn.
pub const NOTE_WITHDRAWN: &str = "withdrawn: TRANGTHAI in LayThuTuc is not \"1\"";
/// Note of a staged procedure `LayThuTuc` does not know (it stays as it was).
pub const NOTE_MISSING: &str = "missing: LayThuTuc answered no procedure";

/// One subscriber as the fan-out sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subscriber {
    pub name: String,
    pub filter: SubscriberFilter,
}

/// In-force procedures the new list would withdraw (listed withdrawn, or not listed), and
/// whether that is more than `max_shrink` of the in-force ones: then the pull is held.
pub fn shrink(
    list: &[ListedProcedure],
    current: &[CurrentProcedure],
    max_shrink: f64,
) -> (usize, usize, bool) {
    let listed_in_force: HashSet<&str> = list
        .iter()
        .filter(|p| p.state == IN_FORCE)
        .map(|p| p.code.as_str())
        .collect();
    let in_force: Vec<&CurrentProcedure> = current.iter().filter(|c| c.in_force == 1).collect();
    let lost = in_force
        .iter()
        .filter(|c| !listed_in_force.contains(c.code.as_str()))
        .count();
    let held = !in_force.is_empty() && lost as f64 > max_shrink * in_force.len() as f64;
    (lost, in_force.len(), held)
}

/// What publishing a fully fetched pull writes: a new version for every procedure whose state
/// or content (hash) changed, the next number of its sequence.
pub fn publish_plan(staged: &[StagedProcedure], current: &[CurrentProcedure]) -> PublishPlan {
    let by_code: HashMap<&str, &CurrentProcedure> =
        current.iter().map(|c| (c.code.as_str(), c)).collect();
    let mut plan = PublishPlan::default();
    let mut listed = HashSet::new();
    for s in staged {
        listed.insert(s.code.as_str());
        let cur = by_code.get(s.code.as_str()).copied();
        let withdrawn_reason = if s.listed_state != IN_FORCE {
            Some(format!(
                "withdrawn: TRANGTHAI \"{}\" in the list",
                s.listed_state
            ))
        } else if s.note.as_deref() == Some(NOTE_WITHDRAWN) {
            Some(NOTE_WITHDRAWN.to_string())
        } else {
            None
        };
        if let Some(reason) = withdrawn_reason {
            match cur {
                Some(c) if c.in_force == 0 => plan.unchanged += 1,
                _ => {
                    plan.withdrawn += 1;
                    plan.versions.push(NewVersion {
                        code: s.code.clone(),
                        version: cur.map_or(1, |c| c.version + 1),
                        in_force: false,
                        hash: cur.and_then(|c| c.hash.clone()),
                        name: name_of(s, cur),
                        reason,
                    });
                }
            }
            continue;
        }
        let Some(hash) = &s.hash else {
            // Listed in force but no object to publish: it stays as it was.
            plan.unchanged += 1;
            continue;
        };
        let reason = match cur {
            None => "added",
            Some(c) if c.in_force == 0 => "returned",
            Some(c) if c.hash.as_deref() != Some(hash.as_str()) => "changed",
            Some(_) => {
                plan.unchanged += 1;
                continue;
            }
        };
        match reason {
            "added" => plan.added += 1,
            "returned" => plan.returned += 1,
            _ => plan.changed += 1,
        }
        plan.versions.push(NewVersion {
            code: s.code.clone(),
            version: cur.map_or(1, |c| c.version + 1),
            in_force: true,
            hash: Some(hash.clone()),
            name: name_of(s, cur),
            reason: reason.to_string(),
        });
    }
    for c in current {
        if c.in_force == 1 && !listed.contains(c.code.as_str()) {
            plan.withdrawn += 1;
            plan.versions.push(NewVersion {
                code: c.code.clone(),
                version: c.version + 1,
                in_force: false,
                hash: c.hash.clone(),
                name: c.name.clone(),
                reason: "withdrawn: missing from the list".into(),
            });
        }
    }
    plan
}

fn name_of(s: &StagedProcedure, cur: Option<&CurrentProcedure>) -> String {
    if s.name.is_empty() {
        cur.map(|c| c.name.clone()).unwrap_or_default()
    } else {
        s.name.clone()
    }
}

/// The messages of `versions` (in publication order) for `subscribers`: an in-force version
/// is an upsert to every subscriber whose filter takes it; a withdrawal is a `DELETE` to
/// every subscriber whose filter took the last in-force version; a version that leaves a
/// subscriber's filter is a `DELETE` to it too. Each message replaces the subscriber's
/// undelivered ones of the same procedure, so a subscriber that was away gets only the latest.
/// A version whose object cannot be read is skipped with a warning (it was stored by this
/// program; it is not input).
pub fn fan_out(versions: &[CatalogVersion], subscribers: &[Subscriber]) -> Vec<NewMessage> {
    let mut out = Vec::new();
    for v in versions {
        let object = parse(v.object.as_deref(), v);
        let previous = parse(v.previous_object.as_deref(), v);
        let changed_at = Utc
            .timestamp_millis_opt(v.changed_at)
            .single()
            .unwrap_or_default();
        let upsert = match (&object, v.in_force == 1) {
            (Some(_), true) => {
                let hash = v.hash.as_deref().unwrap_or_default();
                match commune::upsert_item(&v.code, v.version as u64, hash, changed_at) {
                    Ok(item) => Some(item),
                    Err(e) => {
                        tracing::warn!(code = %v.code, version = v.version, error = %e, "catalog: version not fanned out");
                        continue;
                    }
                }
            }
            _ => None,
        };
        for s in subscribers {
            let takes_now = upsert.is_some() && object.as_ref().is_some_and(|o| s.filter.takes(o));
            let took = previous.as_ref().is_some_and(|p| s.filter.takes(p));
            let (operation, item) = if takes_now {
                (OP_UPSERT, upsert.clone())
            } else if took {
                (
                    OP_WITHDRAW,
                    commune::withdraw_item(&v.code, v.version as u64).ok(),
                )
            } else {
                continue;
            };
            if let Some(item) = item {
                out.push(
                    NewMessage::new(PEER_COMMUNE, operation, v.code.clone(), item)
                        .to_destination(s.name.clone())
                        .superseding(),
                );
            }
        }
    }
    out
}

/// The whole current catalog for `subscribers` (a resend, a new subscriber): an upsert of
/// every in-force procedure each one's filter takes.
pub fn whole(versions: &[CatalogVersion], subscribers: &[Subscriber]) -> Vec<NewMessage> {
    let in_force: Vec<CatalogVersion> = versions
        .iter()
        .filter(|v| v.in_force == 1)
        .map(|v| CatalogVersion {
            previous_object: None,
            ..v.clone()
        })
        .collect();
    fan_out(&in_force, subscribers)
}

fn parse(text: Option<&str>, v: &CatalogVersion) -> Option<Value> {
    let text = text?;
    match serde_json::from_str(text) {
        Ok(value) => Some(value),
        Err(e) => {
            tracing::warn!(code = %v.code, version = v.version, error = %e, "catalog: stored object unreadable");
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn staged(code: &str, state: &str, hash: Option<&str>) -> StagedProcedure {
        StagedProcedure {
            code: code.into(),
            name: format!("name {code}"),
            listed_state: state.into(),
            done: 1,
            hash: hash.map(str::to_string),
            note: None,
        }
    }

    fn current(code: &str, version: i64, in_force: bool, hash: &str) -> CurrentProcedure {
        CurrentProcedure {
            code: code.into(),
            version,
            in_force: in_force as i64,
            hash: Some(hash.into()),
            name: format!("name {code}"),
            changed_at: 0,
        }
    }

    #[test]
    fn each_kind_of_change_takes_the_next_version() {
        let cur = vec![
            current("same", 3, true, "h1"),
            current("fee", 2, true, "h2"),
            current("gone", 5, true, "h3"),
            current("listed-withdrawn", 1, true, "h4"),
            current("back", 6, false, "h5"),
        ];
        let st = vec![
            staged("same", "1", Some("h1")),
            staged("fee", "1", Some("h2b")),
            staged("listed-withdrawn", "0", None),
            staged("back", "1", Some("h5")),
            staged("new", "1", Some("h6")),
        ];
        let plan = publish_plan(&st, &cur);
        let got: Vec<(&str, i64, bool, &str)> = plan
            .versions
            .iter()
            .map(|v| (v.code.as_str(), v.version, v.in_force, v.reason.as_str()))
            .collect();
        assert_eq!(
            got,
            vec![
                ("fee", 3, true, "changed"),
                (
                    "listed-withdrawn",
                    2,
                    false,
                    "withdrawn: TRANGTHAI \"0\" in the list"
                ),
                ("back", 7, true, "returned"),
                ("new", 1, true, "added"),
                ("gone", 6, false, "withdrawn: missing from the list"),
            ]
        );
        assert_eq!(
            (
                plan.added,
                plan.changed,
                plan.withdrawn,
                plan.returned,
                plan.unchanged
            ),
            (1, 1, 2, 1, 1)
        );
        // A withdrawal keeps the last content's hash, so a return with the same content is
        // still seen as a return.
        assert_eq!(plan.versions[4].hash.as_deref(), Some("h3"));
    }

    #[test]
    fn a_procedure_without_an_object_stays_as_it_was() {
        let mut s = staged("x", "1", None);
        s.note = Some(NOTE_MISSING.into());
        let plan = publish_plan(&[s], &[current("x", 2, true, "h")]);
        assert!(plan.versions.is_empty());
        let mut s = staged("x", "1", None);
        s.note = Some(NOTE_WITHDRAWN.into());
        let plan = publish_plan(&[s], &[current("x", 2, true, "h")]);
        assert_eq!(plan.versions[0].version, 3);
        assert!(!plan.versions[0].in_force);
    }

    #[test]
    fn the_shrink_guard_counts_in_force_procedures_lost() {
        let cur: Vec<CurrentProcedure> = (0..10)
            .map(|i| current(&format!("p{i}"), 1, true, "h"))
            .collect();
        let list = |n: usize| -> Vec<ListedProcedure> {
            (0..n)
                .map(|i| ListedProcedure {
                    code: format!("p{i}"),
                    name: String::new(),
                    state: "1".into(),
                })
                .collect()
        };
        assert_eq!(shrink(&list(8), &cur, 0.2), (2, 10, false));
        assert_eq!(shrink(&list(7), &cur, 0.2), (3, 10, true));
        // A first pull (nothing in force yet) is never held.
        assert!(!shrink(&[], &[], 0.2).2);
    }

    fn version(
        code: &str,
        v: i64,
        object: Option<Value>,
        previous: Option<Value>,
    ) -> CatalogVersion {
        CatalogVersion {
            code: code.into(),
            version: v,
            seq: v,
            in_force: object.is_some() as i64,
            hash: Some(format!("sha256:{}", "a".repeat(64))),
            object: object.map(|o| o.to_string()),
            reason: String::new(),
            changed_at: 1_793_930_398_000,
            pull_id: "p".into(),
            fanned_out: 0,
            previous_object: previous.map(|o| o.to_string()),
        }
    }

    fn proc(level: &str, field: &str) -> Value {
        json!({"MATTHC": "1.1", "CAPTHUCHIEN": [{"CAPTHUCHIEN": level}],
               "LINHVUCTHUCHIEN": [{"MALINHVUC": field}]})
    }

    fn sub(name: &str, levels: &[&str], fields: &[&str]) -> Subscriber {
        Subscriber {
            name: name.into(),
            filter: SubscriberFilter {
                levels: levels.iter().map(|s| s.to_string()).collect(),
                fields: fields.iter().map(|s| s.to_string()).collect(),
            },
        }
    }

    #[test]
    fn filters_decide_who_gets_what() {
        let subs = vec![
            sub("all", &[], &[]),
            sub("commune", &["4"], &[]),
            sub("building", &[], &["XD"]),
        ];
        let msgs = fan_out(&[version("1.1", 1, Some(proc("4", "TP")), None)], &subs);
        let to: Vec<(&str, &str)> = msgs
            .iter()
            .map(|m| (m.destination.as_str(), m.operation.as_str()))
            .collect();
        assert_eq!(to, vec![("all", OP_UPSERT), ("commune", OP_UPSERT)]);
        assert!(msgs.iter().all(|m| m.supersedes && m.key == "1.1"));
        assert_eq!(msgs[0].item["version"], 1);
        assert_eq!(msgs[0].item["changed_at"], "2026-11-06T01:59:58Z");
        // A reference to the stored version, not the procedure itself.
        assert_eq!(msgs[0].item["MATTHC"], "1.1");
        assert!(msgs[0].item.get("procedure").is_none());

        // Moved from commune level to province level: the commune subscriber is told to drop it.
        let msgs = fan_out(
            &[version(
                "1.1",
                2,
                Some(proc("2", "TP")),
                Some(proc("4", "TP")),
            )],
            &subs,
        );
        let to: Vec<(&str, &str)> = msgs
            .iter()
            .map(|m| (m.destination.as_str(), m.operation.as_str()))
            .collect();
        assert_eq!(to, vec![("all", OP_UPSERT), ("commune", OP_WITHDRAW)]);

        // A withdrawal goes to whoever took the last in-force version.
        let msgs = fan_out(&[version("1.1", 3, None, Some(proc("2", "XD")))], &subs);
        let to: Vec<(&str, &str)> = msgs
            .iter()
            .map(|m| (m.destination.as_str(), m.operation.as_str()))
            .collect();
        assert_eq!(to, vec![("all", OP_WITHDRAW), ("building", OP_WITHDRAW)]);
        assert_eq!(msgs[0].item, json!({"MATTHC": "1.1", "version": 3}));
    }
}
