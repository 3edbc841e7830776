//! The state machine driven with a fake clock: no actors, no sleeps.

use super::*;
use crate::access::{may_read, Viewer};
use crate::ids::{ConversationId, CustomerId};

const ADA: ExpertId = ExpertId(1);
const BOB: ExpertId = ExpertId(2);

fn policy() -> Policy {
    Policy {
        accept_window: Duration::from_millis(100),
        returning_close_after: Duration::from_millis(1000),
        messaging_close_after: Duration::from_millis(5000),
        nudge_after: Duration::from_millis(60),
        abandon_after: Duration::from_millis(200),
        inactivity_end: Duration::from_millis(10_000),
        left_site_after: Duration::from_millis(500),
        first_response_window: Duration::from_millis(300),
        customer_may_always_end: false,
        sla: crate::sla::SlaPolicy::default(),
    }
}

fn queued(style: Style) -> Conversation {
    let mut c = Conversation::new(ConversationId(1), CustomerId(1), "general".into(), style, Timestamp(0));
    c.last_customer_at = Some(Timestamp(0));
    c
}

fn try_go(c: &Conversation, e: Event, now: i64) -> Result<Transition, Refusal> {
    step(c, &e, Timestamp(now), &policy())
}

/// Applies an event that must be accepted.
fn go(c: &Conversation, e: Event, now: i64) -> (Conversation, Vec<Effect>) {
    let t = try_go(c, e.clone(), now).unwrap_or_else(|r| panic!("{e:?} refused: {r}"));
    (t.next.unwrap_or_else(|| c.clone()), t.effects)
}

fn refused(c: &Conversation, e: Event, now: i64) -> ErrorCode {
    try_go(c, e.clone(), now).err().unwrap_or_else(|| panic!("{e:?} should be refused")).code
}

fn accept(expert: ExpertId) -> Event {
    Event::Accept { expert, name: "Ada".into() }
}

const CUSTOMER_MSG: Event = Event::CustomerMessage { owner_available: true };

fn open_with_ada(style: Style) -> Conversation {
    let (c, _) = go(&queued(style), Event::Offer { expert: ADA }, 0);
    go(&c, accept(ADA), 10).0
}

/// Open, with the expert having answered at t=20.
fn answered(style: Style) -> Conversation {
    go(&open_with_ada(style), Event::ExpertMessage { expert: ADA }, 20).0
}

#[test]
fn an_offer_carries_its_stored_deadline_and_accept_opens() {
    let (c, fx) = go(&queued(Style::Returning), Event::Offer { expert: ADA }, 0);
    assert_eq!(c.status, Status::Offered);
    assert_eq!(next_deadline(&c, &policy()), Some(Timestamp(100)));
    assert_eq!(fx, vec![Effect::OfferMade { expert: ADA, expires_at: Timestamp(100) }]);
    let (c, fx) = go(&c, accept(ADA), 99);
    assert_eq!(c.status, Status::Open);
    assert!(c.owned_by(ADA));
    assert!(fx.contains(&Effect::Assigned));
}

#[test]
fn only_the_offered_expert_may_accept_and_only_in_time() {
    let (c, _) = go(&queued(Style::Returning), Event::Offer { expert: ADA }, 0);
    assert_eq!(refused(&c, accept(ADA), 100), ErrorCode::Conflict);
    assert_eq!(refused(&c, accept(BOB), 50), ErrorCode::Conflict);
}

#[test]
fn a_lapsed_offer_returns_to_the_queue_and_remembers_who_let_it_lapse() {
    let (c, _) = go(&queued(Style::Returning), Event::Offer { expert: ADA }, 0);
    assert!(try_go(&c, Event::Tick, 99).unwrap().next.is_none());
    let (c, fx) = go(&c, Event::Tick, 100);
    assert_eq!(c.status, Status::Queued);
    assert_eq!(c.declined, vec![ADA]);
    assert!(fx.contains(&Effect::OfferLapsed { expert: ADA }));
    assert!(fx.contains(&Effect::OfferWithdrawn { expert: ADA, reason: OfferEnd::Expired }));
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
    let (c, fx) = go(&answered(Style::LiveChat), Event::End { expert: ADA }, 30);
    assert_eq!(c.status, Status::Closed);
    assert_eq!(fx.len(), 2);
    assert_eq!(refused(&c, CUSTOMER_MSG, 31), ErrorCode::Closed);
}

#[test]
fn returning_style_reopens_inside_its_window_and_closes_after_it() {
    let (solved, _) = go(&answered(Style::Returning), Event::End { expert: ADA }, 30);
    assert_eq!(next_deadline(&solved, &policy()), Some(Timestamp(1030)));
    let (reopened, fx) = go(&solved, CUSTOMER_MSG, 500);
    assert_eq!(reopened.status, Status::Open);
    assert!(reopened.owned_by(ADA));
    assert_eq!(fx, vec![Effect::Status { status: Status::Open, reason: Some(Reason::Reopened) }]);
    let (closed, _) = go(&solved, Event::Tick, 1030);
    assert_eq!(closed.status, Status::Closed);
}

#[test]
fn a_reopened_chat_whose_expert_is_away_is_routed_again_with_its_history() {
    let (solved, _) = go(&answered(Style::Messaging), Event::End { expert: ADA }, 30);
    assert_eq!(next_deadline(&solved, &policy()), Some(Timestamp(5030)));
    let (requeued, fx) = go(&solved, Event::CustomerMessage { owner_available: false }, 600);
    assert_eq!(requeued.status, Status::Queued);
    assert!(requeued.owner.is_none());
    assert_eq!(requeued.past_owners, vec![ADA]);
    assert_eq!(fx, vec![Effect::Status { status: Status::Queued, reason: Some(Reason::Reopened) }]);
}

#[test]
fn only_the_owner_acts_and_leave_needs_an_end_first() {
    let c = open_with_ada(Style::Returning);
    for e in [Event::ExpertMessage { expert: BOB }, Event::End { expert: BOB }, Event::Note { expert: BOB }] {
        assert_eq!(refused(&c, e, 20), ErrorCode::Forbidden);
    }
    assert_eq!(refused(&c, Event::Leave { expert: ADA }, 20), ErrorCode::NotAllowed);
    let (solved, _) = go(&c, Event::End { expert: ADA }, 20);
    assert!(go(&solved, Event::Leave { expert: ADA }, 21).0.left);
}

#[test]
fn pending_is_reopened_by_the_customer_with_the_same_expert() {
    let c = open_with_ada(Style::Returning);
    let (p, _) = go(&c, Event::SetStatus { expert: ADA, status: SettableStatus::Pending }, 20);
    assert_eq!(p.status, Status::Pending);
    assert_eq!(next_deadline(&p, &policy()), None, "no nudges or inactivity end while pending");
    let (o, _) = go(&p, CUSTOMER_MSG, 30);
    assert_eq!(o.status, Status::Open);
    assert!(o.owned_by(ADA));
}

#[test]
fn nudges_repeat_while_the_customer_waits_and_stop_at_a_reply() {
    // The customer has waited since t=0; the chat is accepted at t=10.
    let c = open_with_ada(Style::Returning);
    assert_eq!(next_deadline(&c, &policy()), Some(Timestamp(60)));
    let (c, fx) = go(&c, Event::Tick, 60);
    assert_eq!(fx, vec![Effect::Nudge { expert: ADA, waiting: Duration::from_millis(60) }]);
    assert_eq!(next_deadline(&c, &policy()), Some(Timestamp(120)));
    let (c, fx) = go(&c, Event::Tick, 121);
    assert_eq!(fx, vec![Effect::Nudge { expert: ADA, waiting: Duration::from_millis(121) }]);
    // An internal note is not a reply; an expert message is.
    assert!(try_go(&c, Event::Note { expert: ADA }, 130).unwrap().next.is_none());
    let (c, _) = go(&c, Event::ExpertMessage { expert: ADA }, 130);
    assert_eq!(c.awaiting_reply_since, None);
    assert_eq!(
        next_deadline(&c, &policy()),
        Some(Timestamp(130 + 10_000)),
        "only the inactivity end is left"
    );
}

#[test]
fn the_customer_may_end_only_when_unanswered_inactive_or_out_of_hours() {
    let c = answered(Style::Returning);
    let (c, _) = go(&c, CUSTOMER_MSG, 100);
    let end = Event::CustomerEnd { office_hours_open: true };
    assert_eq!(refused(&c, end.clone(), 299), ErrorCode::NotAllowed);
    // Unanswered for abandon_after: allowed, and solved since an expert had answered before.
    let (ended, fx) = go(&c, end.clone(), 300);
    assert_eq!(ended.status, Status::Solved);
    assert_eq!(fx[0], Effect::Status { status: Status::Solved, reason: Some(Reason::CustomerEnded) });
    // Outside office hours, or with the policy switch, at any time.
    go(&c, Event::CustomerEnd { office_hours_open: false }, 101);
    let always = Policy { customer_may_always_end: true, ..policy() };
    assert!(step(&c, &end, Timestamp(101), &always).is_ok());
    // After a long silence on both sides.
    let quiet = go(&answered(Style::Returning), Event::ExpertMessage { expert: ADA }, 30).0;
    assert_eq!(refused(&quiet, end.clone(), 10_029), ErrorCode::NotAllowed);
    go(&quiet, end, 10_030);
}

#[test]
fn a_chat_ended_before_any_answer_is_abandoned() {
    let (offered, _) = go(&queued(Style::Returning), Event::Offer { expert: ADA }, 0);
    let (c, fx) = go(&offered, Event::CustomerEnd { office_hours_open: true }, 250);
    assert_eq!(c.status, Status::Abandoned);
    assert_eq!(fx[0], Effect::OfferWithdrawn { expert: ADA, reason: OfferEnd::Abandoned });
    assert_eq!(fx[1], Effect::Status { status: Status::Abandoned, reason: Some(Reason::Abandoned) });
    assert_eq!(refused(&c, CUSTOMER_MSG, 300), ErrorCode::Closed);
}

#[test]
fn inactivity_ends_an_open_chat() {
    let c = answered(Style::LiveChat);
    assert_eq!(next_deadline(&c, &policy()), Some(Timestamp(10_020)));
    let (c, fx) = go(&c, Event::Tick, 10_020);
    assert_eq!(c.status, Status::Closed);
    assert_eq!(fx[0], Effect::Status { status: Status::Solved, reason: Some(Reason::Inactivity) });
}

#[test]
fn a_customer_gone_past_left_site_after_is_resolved_and_leaves_the_console() {
    let c = answered(Style::Returning);
    let (gone, _) = go(&c, Event::CustomerPresence { online: false }, 100);
    assert_eq!(next_deadline(&gone, &policy()), Some(Timestamp(600)));
    let (back, _) = go(&gone, Event::CustomerPresence { online: true }, 300);
    assert_eq!(back.customer_left_at, None);
    let (resolved, fx) = go(&gone, Event::Tick, 600);
    assert_eq!((resolved.status, resolved.left), (Status::Solved, true));
    assert_eq!(fx[0], Effect::Status { status: Status::Solved, reason: Some(Reason::LeftSite) });
    // Never answered: abandoned instead.
    let (gone, _) = go(&queued(Style::Returning), Event::CustomerPresence { online: false }, 100);
    let (abandoned, fx) = go(&gone, Event::Tick, 600);
    assert_eq!(abandoned.status, Status::Abandoned);
    assert_eq!(fx, vec![Effect::Status { status: Status::Abandoned, reason: Some(Reason::Abandoned) }]);
}

#[test]
fn a_rating_is_taken_after_the_end_only() {
    let c = answered(Style::Returning);
    let rate = Event::Rate { score: 5, comment: Some("great".into()) };
    assert_eq!(refused(&c, rate.clone(), 30), ErrorCode::NotAllowed);
    let (solved, _) = go(&c, Event::End { expert: ADA }, 30);
    assert_eq!(refused(&solved, Event::Rate { score: 6, comment: None }, 31), ErrorCode::BadRequest);
    assert_eq!(go(&solved, rate, 31).0.rating.unwrap().score, 5);
}

#[test]
fn due_deadlines_fire_one_at_a_time_earliest_first() {
    // Offer lapse and left-site both due: the earlier one (the lapse) fires first.
    let (c, _) = go(&queued(Style::Returning), Event::Offer { expert: ADA }, 0);
    let (c, _) = go(&c, Event::CustomerPresence { online: false }, 50);
    let (c, fx) = go(&c, Event::Tick, 10_000);
    assert!(fx.contains(&Effect::OfferLapsed { expert: ADA }));
    let (c, _) = go(&c, Event::Tick, 10_000);
    assert_eq!(c.status, Status::Abandoned);
}

fn claim(expert: ExpertId, certified: bool) -> Event {
    Event::Claim { expert, name: "Ada".into(), certified }
}

#[test]
fn the_first_certified_claim_wins_and_must_answer_in_time() {
    let c = queued(Style::Returning);
    assert_eq!(refused(&c, claim(BOB, false), 5), ErrorCode::Forbidden);
    let (claimed, _) = go(&c, claim(ADA, true), 10);
    assert!(claimed.owned_by(ADA));
    assert_eq!(refused(&claimed, claim(BOB, true), 11), ErrorCode::Conflict);
    assert_eq!(next_deadline(&claimed, &policy()), Some(Timestamp(60)), "the nudge comes first");
    // No first answer within the window: released, and the claimer loses all access.
    let mut c = claimed.clone();
    let mut fx = Vec::new();
    while c.status == Status::Open {
        (c, fx) = go(&c, Event::Tick, 310);
    }
    let released = c;
    assert_eq!(released.status, Status::Queued);
    assert!(!may_read(&released, Viewer::Expert(ADA), false, || false));
    assert_eq!(fx[0], Effect::Released { expert: ADA, reason: Reason::NoResponse });
    assert_eq!(refused(&released, claim(ADA, true), 320), ErrorCode::Forbidden);
    assert_eq!(refused(&released, Event::ExpertMessage { expert: ADA }, 320), ErrorCode::Forbidden);
    // An answer in time keeps it.
    let (kept, _) = go(&claimed, Event::ExpertMessage { expert: ADA }, 200);
    assert_eq!(kept.first_response_due, None);
}

#[test]
fn a_transfer_tells_the_customer_first_and_respects_certification() {
    let c = answered(Style::Returning);
    let to_bob = |certified| Event::Transfer {
        from: ADA,
        to: TransferTo::Expert { id: BOB, name: "Bob".into(), certified },
        note: Some("VIP".into()),
    };
    assert_eq!(refused(&c, to_bob(false), 30), ErrorCode::Forbidden);
    let (moved, fx) = go(&c, to_bob(true), 30);
    assert!(moved.owned_by(BOB));
    assert!(may_read(&moved, Viewer::Expert(ADA), false, || false), "the former owner keeps its history");
    assert_eq!(fx[0], Effect::Status { status: Status::Open, reason: Some(Reason::Transferred) });
    assert_eq!(fx[1], Effect::Assigned);
    assert_eq!(fx[2], Effect::Transferred { from: ADA, to: BOB, note: Some("VIP".into()) });
    let to_queue = Event::Transfer {
        from: ADA,
        to: TransferTo::Category { id: "billing".into(), style: Style::LiveChat },
        note: None,
    };
    let (queued, _) = go(&c, to_queue, 30);
    assert_eq!(
        (queued.status, queued.category.as_str(), queued.owner.is_none()),
        (Status::Queued, "billing", true)
    );
    assert_eq!(queued.declined, vec![ADA]);
}

#[test]
fn a_removed_owner_sends_an_active_chat_back_to_the_queue() {
    let open = open_with_ada(Style::Returning);
    let (requeued, fx) = go(&open, Event::OwnerRemoved { expert: ADA }, 20);
    assert_eq!(requeued.status, Status::Queued);
    assert_eq!(requeued.owner, None);
    assert_eq!(requeued.declined, vec![ADA]);
    assert_eq!(fx, vec![Effect::Status { status: Status::Queued, reason: Some(Reason::ExpertRemoved) }]);
    let solved = go(&open, Event::End { expert: ADA }, 30).0;
    assert!(
        try_go(&solved, Event::OwnerRemoved { expert: ADA }, 40).unwrap().next.is_none(),
        "an ended chat keeps its owner's name"
    );
    assert!(
        matches!(requeued.segments.last(), Some(Segment::Waiting { taken_at: None, .. })),
        "a new wait begins"
    );
}

#[test]
fn a_chat_is_rated_once_whether_solved_or_closed() {
    let rate = |score| Event::Rate { score, comment: None };
    for style in [Style::Returning, Style::LiveChat] {
        let (ended, _) = go(&answered(style), Event::End { expert: ADA }, 30);
        let (rated, _) = go(&ended, rate(4), 31);
        let again = try_go(&rated, rate(1), 32).expect_err("a second rating");
        assert_eq!((again.code, again.message.as_str()), (ErrorCode::Conflict, "this chat is already rated"));
        assert_eq!(rated.rating.map(|r| r.score), Some(4), "{style:?}");
    }
}

#[test]
fn a_claimed_chat_ended_unanswered_and_reopened_gets_a_fresh_first_response_window() {
    let (claimed, _) = go(&queued(Style::Returning), claim(ADA, true), 10);
    assert_eq!(claimed.first_response_due, Some(Timestamp(310)));
    let (solved, _) = go(&claimed, Event::End { expert: ADA }, 20);
    // Long after the claim's window: the customer writes again and Ada is there.
    let (reopened, _) = go(&solved, CUSTOMER_MSG, 1_000);
    assert_eq!((reopened.status, reopened.first_response_due), (Status::Open, Some(Timestamp(1_300))));
    let (still, fx) = go(&reopened, Event::Tick, 1_000);
    assert!(still.owned_by(ADA) && fx.is_empty(), "released at the reopen: {fx:?}");
    let mut c = still;
    while c.status == Status::Open {
        (c, _) = go(&c, Event::Tick, 1_300);
    }
    assert_eq!(c.status, Status::Queued, "released when the fresh window is out");
    // An answer before it keeps the chat, as after a claim.
    let (kept, _) = go(&reopened, Event::ExpertMessage { expert: ADA }, 1_200);
    assert_eq!(kept.first_response_due, None);
    // Ada away: back to the queue, with no deadline of hers left on it.
    let (requeued, _) = go(&solved, Event::CustomerMessage { owner_available: false }, 1_000);
    assert_eq!((requeued.status, requeued.first_response_due), (Status::Queued, None));
    // A chat that was answered owes no first response when reopened.
    let answered = go(&claimed, Event::ExpertMessage { expert: ADA }, 15).0;
    let (solved, _) = go(&answered, Event::End { expert: ADA }, 20);
    assert_eq!(go(&solved, CUSTOMER_MSG, 1_000).0.first_response_due, None);
}

fn waiting(since: i64, taken_at: Option<i64>) -> Segment {
    Segment::Waiting { since: Timestamp(since), taken_at: taken_at.map(Timestamp) }
}

fn owned(expert: ExpertId, since: i64, until: Option<i64>) -> Segment {
    Segment::Owned { expert, since: Timestamp(since), until: until.map(Timestamp) }
}

#[test]
fn segments_keep_each_wait_and_each_owner_across_transfers() {
    let c = open_with_ada(Style::Returning);
    assert_eq!(c.segments, [waiting(0, Some(10)), owned(ADA, 10, None)]);
    let to_billing = Event::Transfer {
        from: ADA,
        to: TransferTo::Category { id: "billing".into(), style: Style::Returning },
        note: None,
    };
    let (c, _) = go(&c, to_billing, 30);
    let (c, _) = go(&c, Event::Offer { expert: BOB }, 40);
    let (c, _) = go(&c, Event::Accept { expert: BOB, name: "Bob".into() }, 50);
    let to_ada = Event::Transfer {
        from: BOB,
        to: TransferTo::Expert { id: ADA, name: "Ada".into(), certified: true },
        note: None,
    };
    let (c, _) = go(&c, to_ada, 60);
    let (c, _) = go(&c, Event::End { expert: ADA }, 70);
    assert_eq!(
        c.segments,
        [
            waiting(0, Some(10)),
            owned(ADA, 10, Some(30)),
            waiting(30, Some(50)),
            owned(BOB, 50, Some(60)),
            owned(ADA, 60, Some(70)),
        ]
    );
    assert_eq!(c.accepted_at, Some(Timestamp(10)), "the first accept, as before");
}

#[test]
fn segments_follow_reopens_releases_and_abandonment() {
    // Reopened with its owner: a new spell, no wait. Reopened without: a new wait.
    let (solved, _) = go(&answered(Style::Returning), Event::End { expert: ADA }, 30);
    let (back, _) = go(&solved, CUSTOMER_MSG, 100);
    assert_eq!(back.segments, [waiting(0, Some(10)), owned(ADA, 10, Some(30)), owned(ADA, 100, None)]);
    let (requeued, _) = go(&solved, Event::CustomerMessage { owner_available: false }, 100);
    assert_eq!(requeued.segments[2..], [waiting(100, None)]);
    // A claimer released for not answering: their spell ends, a wait begins.
    let (claimed, _) = go(&queued(Style::Returning), claim(ADA, true), 10);
    let mut c = claimed;
    while c.status == Status::Open {
        (c, _) = go(&c, Event::Tick, 310);
    }
    assert_eq!(c.segments, [waiting(0, Some(10)), owned(ADA, 10, Some(310)), waiting(310, None)]);
    // Abandoned: a wait nobody ended; an accepted but unanswered chat ends its owner's spell.
    let end = Event::CustomerEnd { office_hours_open: false };
    let (gave_up, _) = go(&queued(Style::Returning), end.clone(), 50);
    assert_eq!(gave_up.segments, [waiting(0, None)]);
    let (unanswered, _) = go(&open_with_ada(Style::Returning), end, 50);
    assert_eq!(unanswered.status, Status::Abandoned);
    assert_eq!(unanswered.segments, [waiting(0, Some(10)), owned(ADA, 10, Some(50))]);
}

#[test]
fn a_pushed_chat_is_open_answered_and_never_waited() {
    let mut c =
        Conversation::new(ConversationId(9), CustomerId(1), "general".into(), Style::Returning, Timestamp(5));
    pushed(&mut c, Owner { id: ADA, name: "Ada".into() }, Timestamp(5));
    assert_eq!((c.status, c.owned_by(ADA), c.past_owners.clone()), (Status::Open, true, vec![ADA]));
    assert_eq!((c.accepted_at, c.first_response_at), (Some(Timestamp(5)), Some(Timestamp(5))));
    assert_eq!(c.awaiting_reply_since, None, "the push is the expert's word: nobody is waiting");
    assert_eq!(c.segments, [owned(ADA, 5, None)]);
    assert_eq!(next_deadline(&c, &policy()), Some(Timestamp(5 + 10_000)), "only the inactivity end");
    let (ended, _) = go(&c, Event::End { expert: ADA }, 50);
    assert_eq!(ended.segments, [owned(ADA, 5, Some(50))]);
}

/// A left message: its customer is away on purpose. Leaving the site never resolves it,
/// waiting or answered; it is offered, answered and ended like a chat, and an ended one stays
/// open to the customer's reply for the messaging style's delay whatever its own style.
#[test]
fn a_left_message_waits_for_its_customer_and_closes_after_the_messaging_delay() {
    let mut left = queued(Style::LiveChat);
    left.offline = Some(crate::store::model::Contact { name: Some("Mo".into()), email: None });
    let (gone, _) = go(&left, Event::CustomerPresence { online: false }, 0);
    assert_eq!(next_deadline(&gone, &policy()), None, "no left-site clock while it waits");
    assert!(try_go(&gone, Event::Tick, 100_000).unwrap().next.is_none());

    let (offered, _) = go(&gone, Event::Offer { expert: ADA }, 100_000);
    let (open, _) = go(&offered, accept(ADA), 100_010);
    let (answered, _) = go(&open, Event::ExpertMessage { expert: ADA }, 100_020);
    assert!(
        deadlines(&answered, &policy()).iter().all(|(_, d)| *d != Deadline::LeftSite),
        "an answer given in the customer's absence is not resolved away"
    );
    let (solved, fx) = go(&answered, Event::End { expert: ADA }, 100_030);
    assert_eq!(fx, vec![Effect::Status { status: Status::Solved, reason: Some(Reason::ExpertEnded) }]);
    assert_eq!(solved.close_at, Some(Timestamp(105_030)), "messaging_close_after, not live chat's");
    // Back before it closes, the customer answers the answer: the same conversation reopens.
    let (reopened, _) = go(&solved, Event::CustomerMessage { owner_available: false }, 104_000);
    assert_eq!(reopened.status, Status::Queued);
    assert!(reopened.offline.is_some(), "it stays a left message");
}

/// Bots answering first and handing off (PRODUCT.md v1.1, "Bots").
mod bots;
// SLA targets: the clocks follow the chat (the rules themselves are unit-tested in sla.rs).

fn sla_policy() -> Policy {
    let sla = crate::sla::SlaPolicy::default()
        .with_target("general", SlaKind::FirstResponse, Duration::from_millis(40))
        .with_target("general", SlaKind::NextResponse, Duration::from_millis(30));
    Policy { sla, ..policy() }
}

fn sla_go(c: &Conversation, e: Event, now: i64) -> (Conversation, Vec<Effect>) {
    let t = step(c, &e, Timestamp(now), &sla_policy()).unwrap_or_else(|r| panic!("{e:?} refused: {r}"));
    (t.next.unwrap_or_else(|| c.clone()), t.effects)
}

/// A new chat with its first-response clock started at t=0, offered and accepted by Ada at t=10.
fn sla_open() -> Conversation {
    let mut c = queued(Style::Returning);
    started(&mut c, Timestamp(0), &sla_policy());
    let (c, _) = sla_go(&c, Event::Offer { expert: ADA }, 0);
    sla_go(&c, accept(ADA), 10).0
}

fn outcome(kind: SlaKind, breached_at: Option<i64>) -> crate::store::model::SlaOutcome {
    crate::store::model::SlaOutcome { kind, breached_at: breached_at.map(Timestamp) }
}

#[test]
fn a_first_response_breach_fires_at_its_stored_due_time_once() {
    let c = sla_open();
    assert_eq!(next_deadline(&c, &sla_policy()), Some(Timestamp(40)));
    assert!(step(&c, &Event::Tick, Timestamp(39), &sla_policy()).unwrap().next.is_none());
    let (c, fx) = sla_go(&c, Event::Tick, 40);
    assert_eq!(fx, vec![Effect::SlaBreached { kind: SlaKind::FirstResponse, target_ms: 40 }]);
    assert_eq!(c.sla.running, None);
    assert_eq!(c.sla.outcomes, vec![outcome(SlaKind::FirstResponse, Some(40))]);
    // The late reply records nothing more.
    let (c, fx) = sla_go(&c, Event::ExpertMessage { expert: ADA }, 50);
    assert!(fx.is_empty());
    assert_eq!(c.sla.outcomes.len(), 1);
}

#[test]
fn a_queued_chat_breaches_too_with_nobody_to_warn() {
    let mut c = queued(Style::Returning);
    started(&mut c, Timestamp(0), &sla_policy());
    let (c, fx) = sla_go(&c, Event::Tick, 45);
    assert_eq!(fx, vec![Effect::SlaBreached { kind: SlaKind::FirstResponse, target_ms: 40 }]);
    assert_eq!(c.status, Status::Queued);
}

#[test]
fn a_reply_in_time_meets_the_target_and_a_customer_message_after_it_starts_the_next() {
    let (c, fx) = sla_go(&sla_open(), Event::ExpertMessage { expert: ADA }, 20);
    assert!(fx.is_empty());
    assert_eq!(c.sla.outcomes, vec![outcome(SlaKind::FirstResponse, None)]);
    assert_eq!(c.sla.running, None);
    // An internal note is not a reply, nor does it start anything.
    let (c, _) = sla_go(&c, Event::Note { expert: ADA }, 25);
    assert_eq!(c.sla.running, None);
    let (c, _) = sla_go(&c, CUSTOMER_MSG, 100);
    let clock = c.sla.running.expect("a next-response clock");
    assert_eq!((clock.kind, clock.target_ms, clock.due), (SlaKind::NextResponse, 30, Timestamp(130)));
    // Writing again before an answer keeps the first message's clock.
    let (c, _) = sla_go(&c, CUSTOMER_MSG, 110);
    assert_eq!(c.sla.running.map(|r| r.due), Some(Timestamp(130)));
    let (c, _) = sla_go(&c, Event::Note { expert: ADA }, 120);
    assert_eq!(c.sla.running.map(|r| r.due), Some(Timestamp(130)), "a note is no reply");
    let (c, fx) = sla_go(&c, Event::Tick, 130);
    assert_eq!(fx, vec![Effect::SlaBreached { kind: SlaKind::NextResponse, target_ms: 30 }]);
    assert_eq!(
        c.sla.outcomes,
        vec![outcome(SlaKind::FirstResponse, None), outcome(SlaKind::NextResponse, Some(130))]
    );
}

#[test]
fn a_reply_past_due_before_the_tick_is_a_breach_said_once() {
    let (c, fx) = sla_go(&sla_open(), Event::ExpertMessage { expert: ADA }, 41);
    assert_eq!(fx, vec![Effect::SlaBreached { kind: SlaKind::FirstResponse, target_ms: 40 }]);
    assert_eq!(c.sla.outcomes, vec![outcome(SlaKind::FirstResponse, Some(41))]);
}

#[test]
fn an_ended_chat_stops_its_clock_without_an_outcome() {
    let (solved, _) = sla_go(&sla_open(), Event::End { expert: ADA }, 20);
    assert_eq!(solved.status, Status::Solved);
    assert_eq!(solved.sla, Default::default());
    assert!(!deadlines(&solved, &sla_policy()).iter().any(|(_, d)| *d == Deadline::SlaBreach));
    // The customer abandoning an unanswered chat stops it too.
    let mut c = queued(Style::Returning);
    started(&mut c, Timestamp(0), &sla_policy());
    let (gone, _) = sla_go(&c, Event::CustomerEnd { office_hours_open: false }, 5);
    assert_eq!((gone.status, gone.sla.running), (Status::Abandoned, None));
}

#[test]
fn a_category_without_targets_counts_nothing() {
    let mut c = queued(Style::Returning);
    c.category = "billing".into();
    started(&mut c, Timestamp(0), &sla_policy());
    assert_eq!(c.sla.running, None);
    let (c, _) = sla_go(&c, Event::Tick, 1000);
    assert!(c.sla.outcomes.is_empty());
}

// ----- specialist consult -----

fn specialist(id: ExpertId) -> Specialist {
    Specialist { id, certified: true }
}

fn invite(owner: ExpertId, who: ExpertId) -> Event {
    Event::Invite { owner, specialist: specialist(who), note: Some("advise?".into()) }
}

const CAROL: ExpertId = ExpertId(3);

/// Ada's open chat with Bob consulting.
fn consulted() -> Conversation {
    let (c, fx) = go(&answered(Style::Returning), invite(ADA, BOB), 30);
    assert_eq!(fx, vec![Effect::Consult { specialist: BOB, from: ADA, note: Some("advise?".into()) }]);
    assert_eq!(c.consultants, vec![BOB]);
    c
}

#[test]
fn the_owner_invites_a_specialist_who_may_read_and_write_notes_only() {
    let c = consulted();
    assert!(may_read(&c, Viewer::Expert(BOB), true, || false));
    assert!(try_go(&c, Event::Note { expert: BOB }, 40).is_ok());
    assert_eq!(refused(&c, Event::ExpertMessage { expert: BOB }, 40), ErrorCode::Forbidden);
    // Neither the router's view nor anything else about the chat changed: no capacity is used.
    assert_eq!(c.owner, answered(Style::Returning).owner);
    assert_eq!(c.status, Status::Open);
}

#[test]
fn only_the_owner_invites_an_eligible_expert_once() {
    let c = answered(Style::Returning);
    assert_eq!(refused(&c, invite(BOB, CAROL), 30), ErrorCode::Forbidden);
    assert_eq!(refused(&c, invite(ADA, ADA), 30), ErrorCode::BadRequest);
    let uncertified =
        Event::Invite { owner: ADA, specialist: Specialist { id: BOB, certified: false }, note: None };
    assert_eq!(refused(&c, uncertified, 30), ErrorCode::Forbidden);
    assert_eq!(refused(&consulted(), invite(ADA, BOB), 40), ErrorCode::Conflict);
    assert_eq!(refused(&queued(Style::Returning), invite(ADA, BOB), 30), ErrorCode::Forbidden);
    let solved = go(&c, Event::End { expert: ADA }, 30).0;
    assert_eq!(refused(&solved, invite(ADA, BOB), 40), ErrorCode::NotAllowed);
}

#[test]
fn the_owner_or_the_specialist_ends_a_consult_and_both_are_told() {
    let ended = Effect::ConsultEnded { specialist: BOB, owner: Some(ADA) };
    for by in [ADA, BOB] {
        let (c, fx) = go(&consulted(), Event::EndConsult { by, specialist: None }, 40);
        assert!(c.consultants.is_empty());
        assert_eq!(fx, vec![ended.clone()]);
        assert!(!may_read(&c, Viewer::Expert(BOB), true, || false));
        assert_eq!(refused(&c, Event::Note { expert: BOB }, 50), ErrorCode::Forbidden);
    }
    assert_eq!(
        refused(&consulted(), Event::EndConsult { by: CAROL, specialist: None }, 40),
        ErrorCode::Forbidden
    );
    let named = Event::EndConsult { by: ADA, specialist: Some(CAROL) };
    assert_eq!(refused(&consulted(), named, 40), ErrorCode::NotFound);
}

#[test]
fn a_consult_ends_when_the_chat_ends_or_changes_owner() {
    let ended = Effect::ConsultEnded { specialist: BOB, owner: Some(ADA) };
    let (c, fx) = go(&consulted(), Event::End { expert: ADA }, 40);
    assert!(c.consultants.is_empty() && fx.contains(&ended), "solved");
    let to_carol = TransferTo::Expert { id: CAROL, name: "Carol".into(), certified: true };
    let (c, fx) = go(&consulted(), Event::Transfer { from: ADA, to: to_carol, note: None }, 40);
    assert!(c.consultants.is_empty() && fx.contains(&ended), "transferred");
    let (c, fx) = go(&consulted(), Event::OwnerRemoved { expert: ADA }, 40);
    assert!(c.consultants.is_empty() && fx.contains(&ended), "re-routed");
    // Parking the chat keeps the consult: the owner is still on it.
    let pending = Event::SetStatus { expert: ADA, status: SettableStatus::Pending };
    let (c, fx) = go(&consulted(), pending, 40);
    assert_eq!((c.consultants, fx.contains(&ended)), (vec![BOB], false));
}

#[test]
fn a_removed_or_decertified_specialist_loses_the_consult() {
    let ended = Effect::ConsultEnded { specialist: BOB, owner: Some(ADA) };
    let changed = |certified, removed| Event::SpecialistChanged {
        specialist: Specialist { id: BOB, certified },
        removed,
    };
    for (certified, removed) in [(true, true), (false, false)] {
        let (c, fx) = go(&consulted(), changed(certified, removed), 40);
        assert_eq!((c.consultants.as_slice(), fx), (&[][..], vec![ended.clone()]));
        assert!(!may_read(&c, Viewer::Expert(BOB), true, || false));
    }
    // Still certified and still there: nothing changes; nor for one not consulting.
    assert!(try_go(&consulted(), changed(true, false), 40).unwrap().next.is_none());
    let none =
        Event::SpecialistChanged { specialist: Specialist { id: CAROL, certified: false }, removed: true };
    assert!(try_go(&consulted(), none, 40).unwrap().next.is_none());
}
