//! A bot answers a new chat first, then hands it to humans and never writes in it again.

use super::*;

const BOT: ExpertId = ExpertId(7);

fn take() -> Event {
    Event::BotTake { bot: BOT, name: "Helper".into() }
}

fn handoff(category: &str) -> Event {
    Event::Handoff { bot: BOT, category: category.into(), style: Style::LiveChat }
}

/// Taken by the bot at t=5, which answered at t=6.
fn with_bot() -> Conversation {
    let (c, _) = go(&queued(Style::LiveChat), take(), 5);
    go(&c, Event::ExpertMessage { expert: BOT }, 6).0
}

#[test]
fn a_bot_takes_a_new_chat_open_and_its_own_without_an_offer() {
    let c = queued(Style::LiveChat);
    assert!(for_a_bot(&c));
    let (n, effects) = go(&c, take(), 5);
    assert_eq!(n.status, Status::Open);
    assert_eq!(n.owner, Some(Owner { id: BOT, name: "Helper".into() }));
    assert_eq!(n.offer, None);
    assert_eq!(
        effects,
        vec![
            Effect::Assigned,
            Effect::Status { status: Status::Open, reason: None },
            Effect::BotTaken { bot: BOT }
        ]
    );
    assert_eq!(refused(&n, take(), 6), ErrorCode::Conflict, "a taken chat is not taken again");
}

#[test]
fn only_a_chat_nobody_held_and_not_a_left_message_goes_to_a_bot() {
    let mut left = queued(Style::LiveChat);
    left.offline = Some(Default::default());
    assert!(!for_a_bot(&left));
    assert_eq!(refused(&left, take(), 5), ErrorCode::Conflict);
    let (handed, _) = go(&with_bot(), handoff("general"), 8);
    assert!(!for_a_bot(&handed), "a handed-off chat waits for humans");
    assert_eq!(refused(&handed, take(), 9), ErrorCode::Conflict);
    let (offered, _) = go(&queued(Style::LiveChat), Event::Offer { expert: ADA }, 1);
    assert_eq!(refused(&offered, take(), 2), ErrorCode::Conflict);
}

#[test]
fn a_handoff_queues_the_chat_for_humans_in_its_place_and_the_bot_may_not_write_again() {
    let c = with_bot();
    let (n, effects) = go(&c, handoff("billing"), 8);
    assert_eq!(n.status, Status::Queued);
    assert_eq!(n.owner, None);
    assert_eq!(n.category, "billing");
    assert_eq!(n.queued_at, c.queued_at, "the customer keeps their place in line");
    assert_eq!(effects, vec![Effect::Status { status: Status::Queued, reason: Some(Reason::Transferred) }]);
    assert_eq!(refused(&n, Event::ExpertMessage { expert: BOT }, 9), ErrorCode::Forbidden);
    // A human takes it; the bot still may not send, nor hand it off again.
    let (n, _) = go(&n, Event::Offer { expert: ADA }, 10);
    let (n, _) = go(&n, accept(ADA), 11);
    assert_eq!(refused(&n, Event::ExpertMessage { expert: BOT }, 12), ErrorCode::Forbidden);
    assert_eq!(refused(&n, handoff("general"), 12), ErrorCode::Forbidden);
    // The bot keeps reading what it answered, like any past owner.
    assert!(may_read(&n, Viewer::Expert(BOT), false, || false));
}

#[test]
fn only_the_owning_bot_hands_off_an_active_chat() {
    let c = with_bot();
    let other = Event::Handoff { bot: ADA, category: "general".into(), style: Style::LiveChat };
    assert_eq!(refused(&c, other, 8), ErrorCode::Forbidden);
    let (ended, _) = go(&c, Event::End { expert: BOT }, 8);
    assert_eq!(refused(&ended, handoff("general"), 9), ErrorCode::NotAllowed);
}
