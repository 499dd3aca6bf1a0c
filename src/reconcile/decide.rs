//! Pure decisions: what one dossier's portal record says against what was delivered, which
//! messages repair it, and which codes of an agency's daily sequence are gaps to look up.

use serde_json::Value;

use crate::peer::reads::{Expected, ExpectedKind, PortalRecord};
use crate::store::DossierMessage;

/// A stored message and what it says the portal should hold.
#[derive(Debug, Clone)]
pub struct Sent<'a> {
    pub message: &'a DossierMessage,
    pub expected: Expected,
}

/// What one dossier is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// The portal holds what was delivered.
    InSync,
    /// Messages of it are not delivered yet (pending, waiting, held, in flight or dead): the
    /// portal may lag; not drift.
    Undelivered,
    /// Nothing of it was delivered (all skipped): nothing to compare.
    NotSent,
    /// The portal does not know it.
    Missing,
    /// The portal's status (or procedure, or appointment) is not what the last delivered header
    /// said.
    Stale(String),
    /// The portal's status is not what the last delivered step said: that step is missing.
    MissingStep(String),
}

/// States of a message that is still to be delivered (or dead-lettered).
const UNDELIVERED: [&str; 5] = ["pending", "inflight", "waiting", "held", "dead"];

/// Compares the portal's record with the dossier's delivered messages (in queue order).
/// `appointment` is the due date the last header sent (wire format), if any.
pub fn verdict(
    sent: &[Sent<'_>],
    all: &[&DossierMessage],
    portal: Option<&PortalRecord>,
    procedure: &str,
    appointment: &str,
) -> Verdict {
    if all.iter().any(|m| UNDELIVERED.contains(&m.state.as_str())) {
        return Verdict::Undelivered;
    }
    let delivered: Vec<&Sent<'_>> = sent
        .iter()
        .filter(|s| s.message.state == "delivered")
        .collect();
    let Some(last) = delivered.last() else {
        // Pruned messages leave nothing here: the facts stand for what was delivered.
        return if all.is_empty() {
            match portal {
                None => Verdict::Missing,
                Some(_) => Verdict::InSync,
            }
        } else {
            Verdict::NotSent
        };
    };
    let Some(p) = portal else {
        return Verdict::Missing;
    };
    if p.status != last.expected.status {
        let detail = format!(
            "the portal has status {}, the last {} delivered says {}",
            p.status,
            match last.expected.kind {
                ExpectedKind::Header => "dossier record",
                ExpectedKind::Step => "step",
            },
            last.expected.status
        );
        return match last.expected.kind {
            ExpectedKind::Step => Verdict::MissingStep(detail),
            ExpectedKind::Header => Verdict::Stale(detail),
        };
    }
    let mut differs = Vec::new();
    if !procedure.is_empty() && !p.procedure.is_empty() && p.procedure != procedure {
        differs.push(format!(
            "procedure {} at the portal, {} sent",
            p.procedure, procedure
        ));
    }
    if !appointment.is_empty() && !p.appointment.is_empty() && p.appointment != appointment {
        differs.push(format!(
            "appointment {} at the portal, {} sent",
            p.appointment, appointment
        ));
    }
    if differs.is_empty() {
        Verdict::InSync
    } else {
        Verdict::Stale(differs.join("; "))
    }
}

/// The messages to queue again for a verdict, in order; empty when there is nothing to send
/// (or nothing stored to send from).
pub fn repairs<'a>(verdict: &Verdict, sent: &[Sent<'a>]) -> Vec<&'a DossierMessage> {
    let delivered: Vec<&Sent<'a>> = sent
        .iter()
        .filter(|s| s.message.state == "delivered")
        .collect();
    let last_header = delivered
        .iter()
        .rposition(|s| s.expected.kind == ExpectedKind::Header);
    match verdict {
        Verdict::Missing => {
            // The latest header, then every step in order (the portal's history), and the
            // latest header once more when it came after the last step (its status is the
            // current one).
            let Some(h) = last_header else {
                return Vec::new();
            };
            let mut out = vec![delivered[h].message];
            out.extend(
                delivered
                    .iter()
                    .filter(|s| s.expected.kind == ExpectedKind::Step)
                    .map(|s| s.message),
            );
            let last_step = delivered
                .iter()
                .rposition(|s| s.expected.kind == ExpectedKind::Step);
            if last_step.is_some_and(|s| s < h) {
                out.push(delivered[h].message);
            }
            out
        }
        Verdict::Stale(_) => last_header
            .map(|h| vec![delivered[h].message])
            .unwrap_or_default(),
        Verdict::MissingStep(_) => delivered
            .last()
            .map(|s| vec![s.message])
            .unwrap_or_default(),
        _ => Vec::new(),
    }
}

/// The codes missing between consecutive codes of one agency and day (`<prefix>-<digits>`,
/// same width), at most `limit`, in order. `codes` are sorted.
pub fn gaps(codes: &[&str], limit: usize) -> Vec<String> {
    let mut out = Vec::new();
    for pair in codes.windows(2) {
        let (Some((pa, sa)), Some((pb, sb))) = (pair[0].rsplit_once('-'), pair[1].rsplit_once('-'))
        else {
            continue;
        };
        if pa != pb || sa.len() != sb.len() {
            continue;
        }
        let (Ok(a), Ok(b)) = (sa.parse::<u64>(), sb.parse::<u64>()) else {
            continue;
        };
        let width = sa.len();
        for n in a.saturating_add(1)..b {
            if out.len() >= limit {
                return out;
            }
            out.push(format!("{pa}-{n:0width$}"));
        }
    }
    out
}

/// The item of a stored message.
pub fn item(message: &DossierMessage) -> Option<Value> {
    serde_json::from_str(&message.item).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn msg(op: &str, state: &str, pos: i64) -> DossierMessage {
        DossierMessage {
            dossier: "D".into(),
            destination: String::new(),
            position: pos,
            operation: op.into(),
            state: state.into(),
            item: "{}".into(),
        }
    }

    fn sent<'a>(m: &'a DossierMessage, kind: ExpectedKind, status: &str) -> Sent<'a> {
        Sent {
            message: m,
            expected: Expected {
                kind,
                status: status.into(),
            },
        }
    }

    fn portal(status: &str) -> PortalRecord {
        PortalRecord {
            procedure: "1.1".into(),
            status: status.into(),
            received: String::new(),
            appointment: "20261119170000".into(),
            updated: String::new(),
        }
    }

    #[test]
    fn verdicts_and_their_repairs() {
        let h = msg("H", "delivered", 1);
        let s1 = msg("S", "delivered", 2);
        let s2 = msg("S", "delivered", 3);
        let list = [
            sent(&h, ExpectedKind::Header, "2"),
            sent(&s1, ExpectedKind::Step, "4"),
            sent(&s2, ExpectedKind::Step, "9"),
        ];
        let all = [&h, &s1, &s2];
        let v = |p: Option<&PortalRecord>| verdict(&list, &all, p, "1.1", "20261119170000");
        assert_eq!(v(Some(&portal("9"))), Verdict::InSync);
        let missing = v(None);
        assert_eq!(missing, Verdict::Missing);
        let r: Vec<i64> = repairs(&missing, &list)
            .iter()
            .map(|m| m.position)
            .collect();
        assert_eq!(r, vec![1, 2, 3]);
        let step = v(Some(&portal("4")));
        assert!(matches!(step, Verdict::MissingStep(_)), "{step:?}");
        let r: Vec<i64> = repairs(&step, &list).iter().map(|m| m.position).collect();
        assert_eq!(r, vec![3]);
        let mut other = portal("9");
        other.appointment = "20261120170000".into();
        let stale = v(Some(&other));
        assert!(
            matches!(stale, Verdict::Stale(ref d) if d.contains("appointment")),
            "{stale:?}"
        );
        let r: Vec<i64> = repairs(&stale, &list).iter().map(|m| m.position).collect();
        assert_eq!(r, vec![1]);
    }

    #[test]
    fn a_header_after_the_steps_is_sent_again_last_and_undelivered_is_not_drift() {
        let s = msg("S", "delivered", 1);
        let h = msg("H", "delivered", 2);
        let list = [
            sent(&s, ExpectedKind::Step, "4"),
            sent(&h, ExpectedKind::Header, "5"),
        ];
        let r: Vec<i64> = repairs(&Verdict::Missing, &list)
            .iter()
            .map(|m| m.position)
            .collect();
        assert_eq!(r, vec![2, 1, 2]);
        let stale = verdict(&list, &[&s, &h], Some(&portal("4")), "", "");
        assert!(matches!(stale, Verdict::Stale(_)), "{stale:?}");
        let pending = msg("S", "pending", 3);
        assert_eq!(
            verdict(&list, &[&s, &h, &pending], None, "", ""),
            Verdict::Undelivered
        );
    }

    #[test]
    fn gaps_between_codes_of_one_agency_and_day() {
        let codes = [
            "A-261105-0001",
            "A-261105-0004",
            "A-261106-0001",
            "B-261105-0002",
            "B-261105-0003",
        ];
        assert_eq!(gaps(&codes, 10), vec!["A-261105-0002", "A-261105-0003"]);
        assert_eq!(gaps(&codes, 1), vec!["A-261105-0002"]);
    }
}
