//! The state machine driven with a fake clock: no actors, no sleeps.

use super::*;
use crate::ids::{ConversationId, CustomerId};

const ADA: ExpertId = ExpertId(1);
const BOB: ExpertId = ExpertId(2);

fn policy() -> Policy {
    Policy {
        accept_window: Duration::from_millis(100),
        returning_close_after: Duration::from_millis(1000),
        messaging_close_after: Duration::from_millis(5000),
    }
}

fn queued(style: Style) -> Conversation {
    Conversation {
        id: ConversationId(1),
        customer: CustomerId(1),
        category: "general".into(),
        style,
        status: Status::Queued,
        owner: None,
        past_owners: vec![],
        offer: None,
        declined: vec![],
        page: None,
        created_at: Timestamp(0),
        queued_at: Timestamp(0),
        accepted_at: None,
        first_response_at: None,
        last_customer_at: None,
        last_expert_at: None,
        solved_at: None,
        close_at: None,
        closed_at: None,
        left: false,
    }
}

/// Applies an event that must be accepted and change the record.
fn go(c: &Conversation, e: Event, now: i64) -> (Conversation, Vec<Effect>) {
    let t = step(c, &e, Timestamp(now), &policy()).unwrap_or_else(|r| panic!("{e:?} refused: {r}"));
    (t.next.unwrap_or_else(|| c.clone()), t.effects)
}

fn accept(expert: ExpertId) -> Event {
    Event::Accept {
        expert,
        name: "Ada".into(),
    }
}

fn open_with_ada(style: Style) -> Conversation {
    let (c, _) = go(&queued(style), Event::Offer { expert: ADA }, 0);
    go(&c, accept(ADA), 10).0
}

#[test]
fn an_offer_carries_its_stored_deadline_and_accept_opens() {
    let (c, fx) = go(&queued(Style::Returning), Event::Offer { expert: ADA }, 0);
    assert_eq!(c.status, Status::Offered);
    assert_eq!(next_deadline(&c), Some(Timestamp(100)));
    assert_eq!(
        fx,
        vec![Effect::OfferMade {
            expert: ADA,
            expires_at: Timestamp(100)
        }]
    );
    let (c, fx) = go(&c, accept(ADA), 99);
    assert_eq!(c.status, Status::Open);
    assert!(c.owned_by(ADA));
    assert_eq!(next_deadline(&c), None);
    assert!(fx.contains(&Effect::Assigned));
}

#[test]
fn only_the_offered_expert_may_accept_and_only_in_time() {
    let (c, _) = go(&queued(Style::Returning), Event::Offer { expert: ADA }, 0);
    let late = step(&c, &accept(ADA), Timestamp(100), &policy()).unwrap_err();
    assert_eq!(late.code, ErrorCode::Conflict);
    let other = step(&c, &accept(BOB), Timestamp(50), &policy()).unwrap_err();
    assert_eq!(other.code, ErrorCode::Conflict);
}

#[test]
fn a_lapsed_offer_returns_to_the_queue_and_remembers_who_let_it_lapse() {
    let (c, _) = go(&queued(Style::Returning), Event::Offer { expert: ADA }, 0);
    assert!(step(&c, &Event::Tick, Timestamp(99), &policy())
        .unwrap()
        .next
        .is_none());
    let (c, fx) = go(&c, Event::Tick, 100);
    assert_eq!(c.status, Status::Queued);
    assert_eq!(c.declined, vec![ADA]);
    assert!(fx.contains(&Effect::OfferLapsed { expert: ADA }));
    assert!(fx.contains(&Effect::OfferWithdrawn {
        expert: ADA,
        reason: "expired"
    }));
}

#[test]
fn a_decline_moves_on_but_an_unavailable_expert_is_not_held_to_it() {
    let (c, _) = go(&queued(Style::Returning), Event::Offer { expert: ADA }, 0);
    let (d, _) = go(&c, Event::Decline { expert: ADA }, 5);
    assert_eq!((d.status, d.declined.clone()), (Status::Queued, vec![ADA]));
    let (w, _) = go(&c, Event::WithdrawOffer { expert: ADA }, 5);
    assert_eq!((w.status, w.declined.len()), (Status::Queued, 0));
}

#[test]
fn live_chat_closes_at_once_when_ended_and_refuses_the_customer_after() {
    let c = open_with_ada(Style::LiveChat);
    let (c, fx) = go(&c, Event::End { expert: ADA }, 20);
    assert_eq!(c.status, Status::Closed);
    assert_eq!(fx.len(), 2);
    let refused = step(&c, &Event::CustomerMessage, Timestamp(21), &policy()).unwrap_err();
    assert_eq!(refused.code, ErrorCode::Closed);
}

#[test]
fn returning_style_reopens_inside_its_window_and_closes_after_it() {
    let c = open_with_ada(Style::Returning);
    let (solved, _) = go(&c, Event::End { expert: ADA }, 20);
    assert_eq!(next_deadline(&solved), Some(Timestamp(1020)));
    let (reopened, fx) = go(&solved, Event::CustomerMessage, 500);
    assert_eq!(reopened.status, Status::Open);
    assert!(reopened.owned_by(ADA));
    assert_eq!(
        fx,
        vec![Effect::Status {
            status: Status::Open,
            reason: Some("reopened")
        }]
    );
    let (closed, _) = go(&solved, Event::Tick, 1020);
    assert_eq!(closed.status, Status::Closed);
}

#[test]
fn only_the_owner_acts_and_leave_needs_an_end_first() {
    let c = open_with_ada(Style::Returning);
    for e in [
        Event::ExpertMessage { expert: BOB },
        Event::End { expert: BOB },
    ] {
        assert_eq!(
            step(&c, &e, Timestamp(20), &policy()).unwrap_err().code,
            ErrorCode::Forbidden
        );
    }
    let early = step(&c, &Event::Leave { expert: ADA }, Timestamp(20), &policy()).unwrap_err();
    assert_eq!(early.code, ErrorCode::NotAllowed);
    let (solved, _) = go(&c, Event::End { expert: ADA }, 20);
    assert!(go(&solved, Event::Leave { expert: ADA }, 21).0.left);
}

#[test]
fn pending_is_reopened_by_the_customer_with_the_same_expert() {
    let c = open_with_ada(Style::Returning);
    let (p, _) = go(
        &c,
        Event::SetStatus {
            expert: ADA,
            status: SettableStatus::Pending,
        },
        20,
    );
    assert_eq!(p.status, Status::Pending);
    let (o, _) = go(&p, Event::CustomerMessage, 30);
    assert_eq!(o.status, Status::Open);
    assert!(o.owned_by(ADA));
}

#[test]
fn the_first_expert_reply_is_recorded_once() {
    let c = open_with_ada(Style::Returning);
    let (c, _) = go(&c, Event::ExpertMessage { expert: ADA }, 40);
    assert_eq!(c.first_response_at, Some(Timestamp(40)));
    assert!(step(
        &c,
        &Event::ExpertMessage { expert: ADA },
        Timestamp(50),
        &policy()
    )
    .unwrap()
    .next
    .is_none());
}
