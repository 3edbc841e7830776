//! Property tests: whatever frames arrive and whatever events happen, in any order, the
//! decoder never panics and the lifecycle and routing keep their invariants.

use std::time::Duration;

use proptest::prelude::*;
use serde_json::{json, Value};
use switchboard::clock::Timestamp;
use switchboard::domain::{Presence, SettableStatus, Status, Style};
use switchboard::ids::{ConversationId, CustomerId, ExpertId};
use switchboard::lifecycle::{self, Event, Policy, TransferTo};
use switchboard::protocol::{self, CustomerFrame, ExpertFrame};
use switchboard::router::{Decision, Purpose, RouterState, Slot, Snapshot};
use switchboard::store::model::Conversation;

// ----- the frame decoder -----

const TYPES: &[&str] = &[
    "hello",
    "start",
    "send",
    "typing",
    "read",
    "page",
    "sync",
    "end",
    "rate",
    "callback",
    "presence",
    "accept",
    "decline",
    "claim",
    "set_status",
    "leave",
    "transfer",
    "push_chat",
    "history",
    "bogus",
];

fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<f64>().prop_map(|f| json!(f)),
        ".{0,12}".prop_map(Value::from),
    ];
    leaf.prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::from),
            prop::collection::hash_map("[a-z_]{1,16}", inner, 0..4).prop_map(|m| json!(m)),
        ]
    })
}

/// Frames shaped like the protocol's: a known (or bogus) type, with known field names
/// holding values of any kind.
fn frame() -> impl Strategy<Value = String> {
    const FIELDS: &[&str] =
        &["conversation_id", "text", "ref", "seq", "after_seq", "on", "status", "token", "score", "url"];
    (prop::sample::select(TYPES), prop::collection::vec((prop::sample::select(FIELDS), json_value()), 0..6))
        .prop_map(|(t, fields)| {
            let mut frame = json!({ "type": t });
            for (k, v) in fields {
                frame[k] = v;
            }
            frame.to_string()
        })
}

proptest! {
    #[test]
    fn the_decoder_never_panics_on_any_text(text in ".{0,200}") {
        let _ = protocol::decode::<CustomerFrame>(&text);
        let _ = protocol::decode::<ExpertFrame>(&text);
    }

    #[test]
    fn protocol_shaped_frames_decode_or_fail_cleanly_and_keep_their_ref(text in frame()) {
        let parsed: Value = serde_json::from_str(&text).unwrap();
        for outcome in [
            protocol::decode::<CustomerFrame>(&text).map(|(r, _)| r).map_err(|e| e.reference),
            protocol::decode::<ExpertFrame>(&text).map(|(r, _)| r).map_err(|e| e.reference),
        ] {
            let reference = match outcome { Ok(r) | Err(r) => r };
            if let Some(r) = reference {
                prop_assert_eq!(serde_json::to_value(&r).unwrap(), parsed["ref"].clone());
            }
        }
    }
}

// ----- the lifecycle state machine -----

fn policy() -> Policy {
    Policy {
        accept_window: Duration::from_millis(300),
        returning_close_after: Duration::from_millis(2000),
        messaging_close_after: Duration::from_millis(5000),
        nudge_after: Duration::from_millis(400),
        abandon_after: Duration::from_millis(600),
        inactivity_end: Duration::from_millis(3000),
        left_site_after: Duration::from_millis(1500),
        first_response_window: Duration::from_millis(800),
        customer_may_always_end: false,
        sla: Default::default(),
    }
}

fn expert() -> impl Strategy<Value = ExpertId> {
    (1u64..4).prop_map(ExpertId)
}

fn event() -> impl Strategy<Value = Event> {
    let name = || Just("Expert".to_string());
    prop_oneof![
        expert().prop_map(|expert| Event::Offer { expert }),
        (expert(), name()).prop_map(|(expert, name)| Event::Accept { expert, name }),
        expert().prop_map(|expert| Event::Decline { expert }),
        expert().prop_map(|expert| Event::WithdrawOffer { expert }),
        (expert(), name(), any::<bool>()).prop_map(|(expert, name, certified)| Event::Claim {
            expert,
            name,
            certified
        }),
        (expert(), expert(), any::<bool>()).prop_map(|(from, id, certified)| Event::Transfer {
            from,
            to: TransferTo::Expert { id, name: "Other".into(), certified },
            note: None,
        }),
        expert().prop_map(|from| Event::Transfer {
            from,
            to: TransferTo::Category { id: "general".into(), style: Style::Returning },
            note: None
        }),
        any::<bool>().prop_map(|owner_available| Event::CustomerMessage { owner_available }),
        expert().prop_map(|expert| Event::ExpertMessage { expert }),
        expert().prop_map(|expert| Event::Note { expert }),
        (
            expert(),
            prop::sample::select(vec![SettableStatus::Open, SettableStatus::Pending, SettableStatus::OnHold])
        )
            .prop_map(|(expert, status)| Event::SetStatus { expert, status }),
        expert().prop_map(|expert| Event::End { expert }),
        expert().prop_map(|expert| Event::Leave { expert }),
        any::<bool>().prop_map(|office_hours_open| Event::CustomerEnd { office_hours_open }),
        any::<bool>().prop_map(|online| Event::CustomerPresence { online }),
        (0u8..7).prop_map(|score| Event::Rate { score, comment: None }),
        Just(Event::Tick),
        Just(Event::Tick),
    ]
}

fn style() -> impl Strategy<Value = Style> {
    prop::sample::select(vec![Style::LiveChat, Style::Returning, Style::Messaging])
}

fn check_invariants(c: &Conversation) -> Result<(), TestCaseError> {
    use Status::*;
    if c.status == Offered {
        prop_assert!(c.offer.is_some(), "an offered chat has an offer");
    }
    if matches!(c.status, Open | Pending | OnHold) {
        prop_assert!(c.owner.is_some(), "an active chat has an owner");
    }
    if matches!(c.status, Queued | Offered) {
        prop_assert!(c.owner.is_none(), "a waiting chat has no owner");
    }
    if let Some(o) = &c.owner {
        prop_assert!(c.past_owners.contains(&o.id), "the owner is among those who owned it");
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(400))]

    #[test]
    fn any_sequence_of_events_keeps_the_lifecycle_invariants(
        style in style(),
        steps in prop::collection::vec((event(), 0i64..1500), 1..60),
    ) {
        let p = policy();
        let mut c = Conversation::new(ConversationId(1), CustomerId(1), "general".into(), style, Timestamp(0));
        let mut now = 0;
        for (event, advance) in steps {
            now += advance;
            let was_terminal = c.status.is_terminal();
            match lifecycle::step(&c, &event, Timestamp(now), &p) {
                Ok(t) => {
                    if let Some(next) = t.next {
                        if was_terminal {
                            prop_assert!(next.status.is_terminal(), "{:?} revived an ended chat", event);
                            // Only a rating, or the owner leaving it, touches an ended chat.
                            let allowed = matches!(event, Event::Rate { .. } | Event::Leave { .. });
                            prop_assert!(allowed, "{:?} changed an ended chat", event);
                        }
                        c = next;
                    }
                }
                Err(refusal) => {
                    if was_terminal && matches!(event, Event::CustomerMessage { .. }) {
                        prop_assert_eq!(refusal.code, switchboard::domain::ErrorCode::Closed);
                    }
                }
            }
            let message = matches!(event, Event::CustomerMessage { .. });
            prop_assert!(!(was_terminal && message && !c.status.is_terminal()), "an ended chat took a message");
            check_invariants(&c)?;
            // Ticking until nothing changes leaves no deadline overdue.
            for _ in 0..20 {
                match lifecycle::step(&c, &Event::Tick, Timestamp(now), &p) {
                    Ok(t) if t.next.is_some() => c = t.next.unwrap(),
                    _ => break,
                }
                check_invariants(&c)?;
            }
            if let Some(due) = lifecycle::next_deadline(&c, &p) {
                prop_assert!(due > Timestamp(now), "a deadline stayed overdue: {:?}", c);
            }
        }
    }
}

// ----- routing -----

fn snapshot(chat: u64, status: Status, expert: ExpertId, rev: u64) -> Snapshot {
    Snapshot {
        id: ConversationId(chat),
        category: "general".into(),
        status,
        owner: matches!(status, Status::Open | Status::Pending | Status::Solved).then_some(expert),
        offered_to: (status == Status::Offered).then_some(expert),
        declined: vec![],
        queued_at: Timestamp(chat as i64),
        left: false,
        offline: false,
        rev,
        for_bot: false,
    }
}

#[derive(Debug, Clone)]
enum RouterEvent {
    Online(u64, u32),
    Offline(u64),
    Presence(u64, bool),
    Lapse(u64),
    Track {
        chat: u64,
        status: u8,
        expert: u64,
    },
    /// A claim, transfer or push asks for a slot.
    Reserve(u64, u8),
    /// The n-th outstanding reservation is settled (used by a snapshot, or given back).
    Settle(usize, bool),
}

fn router_event() -> impl Strategy<Value = RouterEvent> {
    prop_oneof![
        (1u64..5, 1u32..4).prop_map(|(e, max)| RouterEvent::Online(e, max)),
        (1u64..5).prop_map(RouterEvent::Offline),
        (1u64..5, any::<bool>()).prop_map(|(e, a)| RouterEvent::Presence(e, a)),
        (1u64..5).prop_map(RouterEvent::Lapse),
        (1u64..12, 0u8..6, 1u64..5).prop_map(|(chat, status, expert)| RouterEvent::Track {
            chat,
            status,
            expert
        }),
        (1u64..5, 0u8..3).prop_map(|(e, purpose)| RouterEvent::Reserve(e, purpose)),
        (0usize..4, any::<bool>()).prop_map(|(n, by_snapshot)| RouterEvent::Settle(n, by_snapshot)),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    #[test]
    fn routing_keeps_loads_exact_and_offers_within_capacity(events in prop::collection::vec(router_event(), 1..80)) {
        let mut r = RouterState::new(2);
        let mut revs = std::collections::HashMap::new();
        let mut reservations = Vec::new();
        for event in events {
            let decisions = match event {
                RouterEvent::Online(e, max) => r.expert_online(ExpertId(e), vec!["general".into()], vec![], max),
                RouterEvent::Offline(e) => r.expert_offline(ExpertId(e), Timestamp(0)),
                RouterEvent::Presence(e, available) => {
                    r.set_presence(ExpertId(e), if available { Presence::Available } else { Presence::Away })
                }
                RouterEvent::Lapse(e) => r.offer_outcome(ExpertId(e), true),
                RouterEvent::Reserve(e, purpose) => {
                    let purpose = [Purpose::Claim, Purpose::Transfer, Purpose::Push][purpose as usize];
                    if let Ok(id) = r.reserve(ExpertId(e), purpose) {
                        let held = &r.experts[&ExpertId(e)];
                        prop_assert!(held.load <= held.max_concurrent, "a reservation beyond capacity: {:?}", held);
                        if purpose != Purpose::Push {
                            prop_assert_eq!(r.presence(ExpertId(e)), Presence::Available);
                        }
                        reservations.push(id);
                    }
                    vec![]
                }
                RouterEvent::Settle(n, by_snapshot) if n < reservations.len() => {
                    let id = reservations.remove(n);
                    if by_snapshot {
                        // A snapshot that used it: an unrelated queued chat's change carries it.
                        r.track(snapshot(99, Status::Queued, ExpertId(1), 1), Some(id), Timestamp(0))
                    } else {
                        r.settle(id)
                    }
                }
                RouterEvent::Settle(..) => vec![],
                RouterEvent::Track { chat, status, expert } => {
                    let rev = revs.entry(chat).or_insert(0u64);
                    *rev += 1;
                    let status = [Status::Queued, Status::Offered, Status::Open, Status::Pending, Status::Solved, Status::Closed][status as usize];
                    let expert = ExpertId(expert);
                    r.track(snapshot(chat, status, expert, *rev), None, Timestamp(0))
                }
            };
            for d in &decisions {
                if let Decision::Offer { expert, .. } = d {
                    let e = &r.experts[expert];
                    prop_assert!(e.load <= e.max_concurrent, "an offer beyond capacity: {:?}", e);
                    prop_assert_eq!(e.presence, Presence::Available);
                    prop_assert!(e.sessions > 0);
                }
            }
            // Every expert's load is exactly what the chats charge them.
            for (id, e) in &r.experts {
                let charged = r.chats.values().filter(|c| match &c.slot {
                    Slot::Waiting { reserved, .. } => *reserved == Some(*id),
                    Slot::Offered { expert } | Slot::Active { expert } => expert == id,
                    Slot::Idle { .. } | Slot::Bot { .. } => false,
                }).count() as u32;
                prop_assert_eq!(e.load, charged + r.reserved_by(*id), "load of {:?}", id);
            }
        }
    }
}
