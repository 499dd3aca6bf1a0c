//! What a tracking event means (vnpost.md, "What the gateway does with postal events"), as pure
//! functions: whether it moves its order's state (forward only), which step it gives the
//! dossier at the portal, whether it is an alert; and whether a held message may go.

use serde_json::{json, Value};

use crate::store::{
    HeaderRule, HeldMessage, NewMessage, PostalDecision, PostalEventContext, PostalOrderState,
    Release,
};

/// Where steps made from postal events go: the portal's step operation, from the registry.
#[derive(Debug, Clone)]
pub struct StepTarget {
    pub peer: String,
    pub operation: String,
}

/// Codes after which the order is settled: only what follows a delivery (completed, partly
/// returned, COD paid) still changes it.
const SETTLED: &[i64] = &[9, 14, 19, 20, 22];
/// Codes that may follow a settled state.
const AFTER_SETTLED: &[i64] = &[19, 20, 21];
/// Collection failed, collection cancelled, delivery failed, delivery cancelled.
const FAILURES: &[i64] = &[5, 9, 15, 22];

/// Whether an event with `code` at `time` (`yyyyMMddHHmmss`, so text order is time order)
/// changes an order whose state is `before`. A repeat never does; a settled order (delivered,
/// cancelled) changes only to what may follow it; otherwise a later event does (a new attempt
/// after a failure, a return or cancel after a failure), a late one never does, and at the
/// same time the higher code wins.
pub fn advances(before: Option<(i64, &str)>, code: i64, time: &str) -> bool {
    let Some((current, at)) = before else {
        return true;
    };
    if current == 0 && at.is_empty() {
        // A row made only to hold an alert: no event yet.
        return true;
    }
    if code == current {
        return false;
    }
    if SETTLED.contains(&current) {
        return AFTER_SETTLED.contains(&code) && code > current && time >= at;
    }
    match time.cmp(at) {
        std::cmp::Ordering::Greater => true,
        std::cmp::Ordering::Equal => code > current,
        std::cmp::Ordering::Less => false,
    }
}

/// The step text and status of an event that makes one, or `None`.
fn step_of(
    order_type: &str,
    code: i64,
    milestone: bool,
    advanced: bool,
    item_code: Option<&str>,
) -> Option<(String, bool)> {
    let delivery = order_type == "2";
    match code {
        6 if milestone => Some((
            if delivery {
                "Bưu điện đã nhận kết quả để phát".to_string()
            } else {
                "Bưu điện đã thu gom hồ sơ".to_string()
            },
            false,
        )),
        14 if delivery && milestone => Some((
            match item_code {
                Some(w) if !w.trim().is_empty() => format!(
                    "Bưu điện đã phát kết quả thành công, số hiệu bưu gửi {}",
                    w.trim()
                ),
                _ => "Bưu điện đã phát kết quả thành công".to_string(),
            },
            true,
        )),
        5 if !delivery && advanced => {
            Some(("Bưu điện thu gom hồ sơ không thành công".into(), false))
        }
        9 if !delivery && advanced => Some(("Bưu điện đã hủy thu gom hồ sơ".into(), false)),
        15 if delivery && advanced => {
            Some(("Bưu điện phát kết quả không thành công".into(), false))
        }
        22 if delivery && advanced => Some(("Bưu điện đã hủy phát kết quả".into(), false)),
        _ => None,
    }
}

/// The portal step for an event: `NguoiXuLy` VNPost, `ChucDanh` postman, `PhongBanXuLy` the
/// post office, `ThoiDiemXuLy` the event's time, `TrangThai` the dossier's current status, or
/// `"10"` for a delivery.
pub fn step_item(dossier: &str, event_time: &str, pos_id: &str, text: &str, status: &str) -> Value {
    json!({
        "MaHoSo": dossier,
        "NguoiXuLy": "Bưu điện Việt Nam",
        "ChucDanh": "Bưu tá",
        "ThoiDiemXuLy": event_time,
        "PhongBanXuLy": format!("Bưu cục {pos_id}"),
        "NoiDungXuLy": text,
        "TrangThai": status,
    })
}

/// The dossier's current status as last queued for the portal; without one, what an order of
/// this type implies (a collection order's dossier is received, `"2"`; a delivery order's is
/// finished, `"9"`).
fn dossier_status(header: Option<&Value>, order_type: &str) -> String {
    header
        .and_then(|h| h.get("TrangThaiHoSo"))
        .and_then(|v| match v {
            Value::String(s) if !s.trim().is_empty() => Some(s.trim().to_string()),
            Value::Number(n) => Some(n.to_string()),
            _ => None,
        })
        .unwrap_or_else(|| if order_type == "2" { "9" } else { "2" }.to_string())
}

/// A postal event as the local system sees it (its read route and its webhook): VNPost's
/// names, no free text (notes may name the citizen).
pub fn event_json(
    order_number: &str,
    order_type: &str,
    status_code: i64,
    event_time: &str,
    pos_id: &str,
    item_code: Option<&str>,
) -> Value {
    json!({
        "MaHoSo": order_number,
        "OrderNumber": order_number,
        "OrderType": order_type,
        "StatusCode": status_code.to_string(),
        "Status": status_text(status_code),
        "EventTime": event_time,
        "POSID": pos_id,
        "ItemCode": item_code,
    })
}

/// The meaning of a `StatusCode` for alerts and views.
pub fn status_text(code: i64) -> String {
    u8::try_from(code)
        .ok()
        .and_then(crate::peer::vnpost::status_name)
        .map(str::to_string)
        .unwrap_or_else(|| format!("status {code}"))
}

/// Decides one new event (see [`crate::store::PostalStore::apply_postal_events`]).
pub fn decide(
    ctx: &PostalEventContext<'_>,
    step: &StepTarget,
    notify: Option<&StepTarget>,
    now_ms: i64,
) -> PostalDecision {
    let e = ctx.event;
    if !ctx.known {
        return PostalDecision {
            after: None,
            changed: false,
            effect: "unknown_order",
            messages: Vec::new(),
        };
    }
    let advanced = advances(
        ctx.before.map(|b| (b.status_code, b.status_time.as_str())),
        e.status_code,
        &e.event_time,
    );
    let mut state = ctx.before.cloned().unwrap_or(PostalOrderState {
        order_number: e.order_number.clone(),
        order_type: e.order_type.clone(),
        status_code: 0,
        status_time: String::new(),
        item_code: None,
        collected_at: None,
        delivered_at: None,
        alert: None,
        alert_at: None,
        events: 0,
        updated_at: now_ms,
    });
    state.events += 1;
    let milestone = match e.status_code {
        6 if state.collected_at.is_none() => {
            state.collected_at = Some(e.event_time.clone());
            true
        }
        14 if state.delivered_at.is_none() => {
            state.delivered_at = Some(e.event_time.clone());
            true
        }
        _ => false,
    };
    if advanced {
        state.status_code = e.status_code;
        state.status_time = e.event_time.clone();
        if FAILURES.contains(&e.status_code) {
            state.alert = Some(format!(
                "{} ({}) at {}, post office {}",
                e.status_code,
                status_text(e.status_code),
                e.event_time,
                e.pos_id
            ));
            state.alert_at = Some(now_ms);
        }
    }
    if let Some(w) = e.item_code.as_deref().filter(|w| !w.trim().is_empty()) {
        state.item_code = Some(w.trim().to_string());
    }
    let mut messages = Vec::new();
    if let Some((text, delivered)) = step_of(
        &e.order_type,
        e.status_code,
        milestone,
        advanced,
        state.item_code.as_deref(),
    ) {
        let status = if delivered {
            "10".to_string()
        } else {
            dossier_status(ctx.dossier_header, &e.order_type)
        };
        let mut m = NewMessage::new(
            step.peer.clone(),
            step.operation.clone(),
            e.order_number.clone(),
            step_item(&e.order_number, &e.event_time, &e.pos_id, &text, &status),
        )
        .with_header(HeaderRule::AfterHeader);
        m.at_ms = crate::time::from_wire(&e.event_time).map(|t| t.timestamp_millis());
        messages.push(m);
    }
    if let Some(n) = notify {
        // The local system hears of every event of its dossiers' orders, in order.
        messages.push(NewMessage::new(
            n.peer.clone(),
            n.operation.clone(),
            e.order_number.clone(),
            event_json(
                &e.order_number,
                &e.order_type,
                e.status_code,
                &e.event_time,
                &e.pos_id,
                e.item_code.as_deref(),
            ),
        ));
    }
    let effect = if advanced {
        "advanced"
    } else if milestone {
        "milestone"
    } else {
        "unchanged"
    };
    PostalDecision {
        after: Some(state),
        changed: advanced || milestone,
        effect,
        messages,
    }
}

/// Whether a held message may go now that its dossier's header is at the portal: an order
/// goes; a cancel goes unless tracking shows the postman already collected (or the order is
/// settled), when it is skipped with the reason (nothing to cancel, no alert to raise).
pub fn release(held: &HeldMessage, cancel_operation: &str) -> Release {
    if held.operation != cancel_operation {
        return Release::Go;
    }
    let order_type = held
        .item
        .get("OrderType")
        .and_then(Value::as_str)
        .unwrap_or("1");
    match held.orders.iter().find(|o| o.order_type == order_type) {
        Some(o) if o.collected_at.is_some() || SETTLED.contains(&o.status_code) => {
            Release::Skip(format!(
                "not sent: the order was already {} (status {} at {}) when the dossier ended",
                if o.collected_at.is_some() {
                    "collected"
                } else {
                    "settled"
                },
                o.status_code,
                o.status_time
            ))
        }
        _ => Release::Go,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::PostalEvent;

    fn event(code: i64, time: &str) -> PostalEvent {
        PostalEvent {
            id: format!("{:024x}", code),
            order_number: "000.00.56.H56-261105-0007".into(),
            order_type: "2".into(),
            status_code: code,
            event_time: time.into(),
            pos_id: "401160".into(),
            item_code: Some("EB123456785VN".into()),
            raw: "{}".into(),
        }
    }

    fn target() -> StepTarget {
        StepTarget {
            peer: "portal".into(),
            operation: "steps".into(),
        }
    }

    /// Applies events in order, as the store does, giving the final state and the steps.
    fn run(events: &[PostalEvent]) -> (Option<PostalOrderState>, Vec<Value>) {
        let mut state: Option<PostalOrderState> = None;
        let mut steps = Vec::new();
        let header = json!({"TrangThaiHoSo": "9"});
        for e in events {
            let d = decide(
                &PostalEventContext {
                    event: e,
                    known: true,
                    before: state.as_ref(),
                    dossier_header: Some(&header),
                },
                &target(),
                None,
                0,
            );
            if let Some(a) = d.after {
                state = Some(a);
            }
            steps.extend(d.messages.into_iter().map(|m| m.item));
        }
        (state, steps)
    }

    #[test]
    fn a_delivery_is_status_10_with_the_waybill_after_the_result_was_taken() {
        let (state, steps) = run(&[
            event(6, "20261113093500"),
            event(12, "20261116080000"),
            event(14, "20261116104200"),
        ]);
        let state = state.unwrap();
        assert_eq!(state.status_code, 14);
        assert_eq!(steps.len(), 2);
        assert_eq!(steps[0]["TrangThai"], "9");
        assert_eq!(steps[0]["NoiDungXuLy"], "Bưu điện đã nhận kết quả để phát");
        assert_eq!(steps[1]["TrangThai"], "10");
        assert_eq!(steps[1]["ThoiDiemXuLy"], "20261116104200");
        assert_eq!(steps[1]["PhongBanXuLy"], "Bưu cục 401160");
        assert!(steps[1]["NoiDungXuLy"]
            .as_str()
            .unwrap()
            .ends_with("EB123456785VN"));
    }

    #[test]
    fn a_late_lower_code_never_undoes_a_delivery() {
        let (state, steps) = run(&[
            event(14, "20261116104200"),
            event(12, "20261116080000"),
            event(15, "20261117080000"),
        ]);
        let state = state.unwrap();
        assert_eq!(state.status_code, 14, "a delivery stands");
        assert_eq!(steps.len(), 1, "only the delivery made a step: {steps:?}");
        assert!(state.alert.is_none());
    }

    #[test]
    fn a_new_attempt_after_a_failure_is_a_real_change_and_so_is_a_cancel() {
        let (state, steps) = run(&[
            event(15, "20261116104200"),
            event(12, "20261117080000"),
            event(14, "20261117100000"),
        ]);
        assert_eq!(state.unwrap().status_code, 14);
        assert_eq!(steps.len(), 2, "the failure and the delivery: {steps:?}");
        let (state, _) = run(&[event(15, "20261116104200"), event(22, "20261117080000")]);
        let state = state.unwrap();
        assert_eq!(state.status_code, 22);
        assert!(state.alert.unwrap().starts_with("22 (delivery cancelled)"));
    }

    #[test]
    fn an_unknown_order_changes_nothing_and_is_marked() {
        let e = event(14, "20261116104200");
        let d = decide(
            &PostalEventContext {
                event: &e,
                known: false,
                before: None,
                dossier_header: None,
            },
            &target(),
            Some(&target()),
            0,
        );
        assert!(d.after.is_none() && d.messages.is_empty());
        assert_eq!(d.effect, "unknown_order");
    }

    #[test]
    fn a_cancel_of_a_collected_order_is_skipped_and_an_uncollected_one_goes() {
        let mut order = PostalOrderState {
            order_number: "D".into(),
            order_type: "1".into(),
            status_code: 4,
            status_time: "20261113141000".into(),
            item_code: None,
            collected_at: None,
            delivered_at: None,
            alert: None,
            alert_at: None,
            events: 1,
            updated_at: 0,
        };
        let held = |orders: Vec<PostalOrderState>| HeldMessage {
            id: "m".into(),
            dossier: "D".into(),
            operation: "cancel".into(),
            item: json!({"OrderNumber": "D", "OrderType": "1"}),
            orders,
        };
        assert_eq!(release(&held(vec![order.clone()]), "cancel"), Release::Go);
        assert_eq!(release(&held(vec![]), "cancel"), Release::Go);
        order.collected_at = Some("20261113150500".into());
        assert!(matches!(
            release(&held(vec![order]), "cancel"),
            Release::Skip(r) if r.contains("collected")
        ));
    }
}
