use super::*;

const T0: Timestamp = Timestamp(1_000);

fn snap(id: u64, status: Status) -> Snapshot {
    Snapshot {
        id: ConversationId(id),
        category: "general".into(),
        status,
        owner: None,
        offered_to: None,
        declined: vec![],
        queued_at: Timestamp(id as i64),
        left: false,
        offline: false,
        rev: 1,
        for_bot: false,
    }
}

fn router_with(experts: &[(u64, u32)]) -> RouterState {
    let mut r = RouterState::new(2);
    for &(id, max) in experts {
        r.expert_online(ExpertId(id), vec!["general".into()], vec![], max);
    }
    r
}

fn offers(d: &[Decision]) -> Vec<(u64, u64)> {
    d.iter()
        .filter_map(|d| match d {
            Decision::Offer { chat, expert, .. } => Some((chat.0, expert.0)),
            _ => None,
        })
        .collect()
}

#[test]
fn a_new_chat_goes_to_the_least_loaded_expert() {
    let mut r = router_with(&[(1, 3), (2, 3)]);
    assert_eq!(offers(&r.track(snap(10, Status::Queued), None, T0)), vec![(10, 1)]);
    // Expert 1 now carries a reserved offer, so the next chat goes to expert 2.
    assert_eq!(offers(&r.track(snap(11, Status::Queued), None, T0)), vec![(11, 2)]);
}

#[test]
fn a_declined_chat_goes_to_someone_else_while_anyone_else_can_take_it() {
    let mut r = router_with(&[(1, 3), (2, 3)]);
    let mut s = snap(10, Status::Queued);
    s.declined = vec![ExpertId(1)];
    assert_eq!(offers(&r.track(s.clone(), None, T0)), vec![(10, 2)]);
    // With expert 2 gone, the chat may go back to expert 1 rather than wait forever.
    let mut r = router_with(&[(1, 3)]);
    assert_eq!(offers(&r.track(s, None, T0)), vec![(10, 1)]);
}

#[test]
fn a_full_expert_gets_nothing_until_a_slot_frees() {
    let mut r = router_with(&[(1, 1)]);
    let mut open = snap(10, Status::Open);
    open.owner = Some(ExpertId(1));
    assert!(offers(&r.track(open.clone(), None, T0)).is_empty());
    assert!(offers(&r.track(snap(11, Status::Queued), None, T0)).is_empty());
    assert_eq!(r.position_of(ConversationId(11)), Some(1));
    // The open chat is ended: its slot frees and the queued chat is offered at once.
    open.status = Status::Solved;
    assert_eq!(offers(&r.track(open, None, T0)), vec![(11, 1)]);
}

#[test]
fn queue_positions_count_offered_chats_and_report_only_changes() {
    let mut r = router_with(&[]);
    for id in [10, 11, 12] {
        r.track(snap(id, Status::Queued), None, T0);
    }
    assert_eq!(r.positions("general", T0).len(), 3);
    assert!(r.positions("general", T0).is_empty());
    r.track(snap(10, Status::Closed), None, T0);
    let told: Vec<(u64, u32)> = r.positions("general", T0).iter().map(|t| (t.chat.0, t.position)).collect();
    assert_eq!(told, vec![(11, 1), (12, 2)]);
}

fn offered(id: u64, expert: u64) -> Snapshot {
    Snapshot { offered_to: Some(ExpertId(expert)), ..snap(id, Status::Offered) }
}

fn opened(id: u64, expert: u64) -> Snapshot {
    Snapshot { owner: Some(ExpertId(expert)), ..snap(id, Status::Open) }
}

#[test]
fn an_accepted_chat_leaves_a_wait_sample_and_the_queue_is_told_the_estimate() {
    let mut r = router_with(&[]);
    // Chat 10 (queued at 10 ms) waits alone; nothing recent is known yet.
    r.track(snap(10, Status::Queued), None, T0);
    r.track(snap(11, Status::Queued), None, T0);
    let told = r.positions("general", T0);
    assert!(told.iter().all(|t| t.estimated_wait_ms.is_none()), "{told:?}");
    assert_eq!(r.estimated_wait(ConversationId(11), T0), None);
    // Offered, then accepted 20 s after it was queued, from place 1.
    r.track(offered(10, 1), None, T0);
    r.track(opened(10, 1), None, Timestamp(20_010));
    // Chat 11 is now first in line: 1 x 20 s; the change of estimate is told.
    assert_eq!(r.estimated_wait(ConversationId(11), Timestamp(20_010)), Some(20_000));
    let told = r.positions("general", Timestamp(20_010));
    assert_eq!(told, vec![Told { chat: ConversationId(11), position: 1, estimated_wait_ms: Some(20_000) }]);
    // Chat 11 joined at place 2 and waits 60 s: 30 s a place; the median of 20 and 30 s.
    r.track(opened(11, 1), None, Timestamp(60_011));
    r.track(snap(12, Status::Queued), None, T0);
    r.track(snap(13, Status::Queued), None, T0);
    assert_eq!(r.estimated_wait(ConversationId(13), Timestamp(60_011)), Some(2 * 25_000));
    // A chat that is not queued has no estimate.
    assert_eq!(r.estimated_wait(ConversationId(10), Timestamp(60_011)), None);
}

#[test]
fn a_declined_offer_keeps_the_place_the_chat_joined_at() {
    let mut r = router_with(&[]);
    r.track(snap(10, Status::Queued), None, T0);
    r.track(snap(11, Status::Queued), None, T0);
    assert_eq!(r.chats[&ConversationId(11)].joined_position, 2);
    r.track(offered(11, 1), None, T0);
    r.track(snap(11, Status::Queued), None, T0);
    assert_eq!(r.chats[&ConversationId(11)].joined_position, 2);
}

#[test]
fn the_queue_view_lists_waiting_and_offered_chats_oldest_first_by_category() {
    let mut r = router_with(&[]);
    let billing = |id: u64| Snapshot { category: "billing".into(), ..snap(id, Status::Queued) };
    r.track(snap(12, Status::Queued), None, T0);
    r.track(billing(11), None, T0);
    r.track(offered(10, 7), None, T0);
    r.track(opened(9, 7), None, T0);
    let all: Vec<(u64, &str, u32, Option<u64>)> = r
        .queue_view(None)
        .iter()
        .map(|e| {
            (
                e.id.0,
                if e.category == "general" { "general" } else { "billing" },
                e.position,
                e.offered_to.map(|x| x.0),
            )
        })
        .collect();
    assert_eq!(all, vec![(10, "general", 1, Some(7)), (11, "billing", 1, None), (12, "general", 2, None)]);
    let general: Vec<u64> = r.queue_view(Some(&["general".to_owned()])).iter().map(|e| e.id.0).collect();
    assert_eq!(general, vec![10, 12]);
    assert!(r.queue_view(Some(&[])).is_empty());
}

#[test]
fn an_expert_coming_online_takes_the_queue_in_order() {
    let mut r = router_with(&[]);
    for id in [12, 10, 11] {
        r.track(snap(id, Status::Queued), None, T0);
    }
    let d = r.expert_online(ExpertId(1), vec!["general".into()], vec![], 2);
    assert_eq!(offers(&d), vec![(10, 1), (11, 1)]);
}

#[test]
fn missed_offers_set_an_expert_away_and_withdraw_the_rest() {
    let mut r = router_with(&[(1, 3)]);
    r.track(snap(10, Status::Queued), None, T0);
    assert!(r.offer_outcome(ExpertId(1), true).is_empty());
    let d = r.offer_outcome(ExpertId(1), true);
    assert_eq!(
        d[0],
        Decision::Presence {
            expert: ExpertId(1),
            presence: Presence::Away,
            reason: PresenceReason::MissedOffers
        }
    );
    assert!(d.contains(&Decision::Withdraw { chat: ConversationId(10), expert: ExpertId(1) }));
    assert!(offers(&r.track(snap(11, Status::Queued), None, T0)).is_empty());
}

#[test]
fn routing_ten_thousand_chats_to_a_thousand_experts_fills_every_slot() {
    let mut r = RouterState::new(2);
    for id in 0..10_000 {
        r.track(snap(id, Status::Queued), None, T0);
    }
    let mut made = 0;
    for e in 0..1_000 {
        made += offers(&r.expert_online(ExpertId(e), vec!["general".into()], vec![], 3)).len();
    }
    assert_eq!(made, 3_000);
    assert!(r.experts.values().all(|e| e.load == 3));
}

#[test]
fn a_claim_chat_is_listed_to_available_certified_experts_and_withdrawn_when_claimed() {
    let mut r =
        RouterState::new(2).with_claim_categories([("reset".to_string(), "identity".to_string())].into());
    r.expert_online(ExpertId(1), vec![], vec!["identity".into()], 3);
    r.expert_online(ExpertId(2), vec![], vec!["identity".into()], 3);
    r.expert_online(ExpertId(3), vec!["reset".into()], vec![], 3);
    let mut s = snap(10, Status::Queued);
    s.category = "reset".into();
    let d = r.track(s.clone(), None, T0);
    assert_eq!(
        d,
        vec![Decision::ShowClaimable { chat: ConversationId(10), experts: vec![ExpertId(1), ExpertId(2)] }]
    );
    // Claimed by expert 2: expert 1 hears it is gone; nobody is ever offered it.
    s.status = Status::Open;
    s.owner = Some(ExpertId(2));
    assert_eq!(
        r.track(s.clone(), None, T0),
        vec![Decision::Claimed { chat: ConversationId(10), experts: vec![ExpertId(1)] }]
    );
    // Released back without its claimer: listed to expert 1 only.
    s.status = Status::Queued;
    s.owner = None;
    s.declined = vec![ExpertId(2)];
    assert_eq!(
        r.track(s, None, T0),
        vec![Decision::ShowClaimable { chat: ConversationId(10), experts: vec![ExpertId(1)] }]
    );
}

#[test]
fn reservations_take_slots_atomically_and_settle_back() {
    let mut r = router_with(&[(1, 1)]);
    let first = r.reserve(ExpertId(1), Purpose::Push).unwrap();
    assert_eq!(r.reserve(ExpertId(1), Purpose::Push).unwrap_err().code, ErrorCode::CapacityFull);
    // While the slot is reserved, no chat is offered into it.
    assert!(offers(&r.track(snap(10, Status::Queued), None, T0)).is_empty());
    // Given back, the waiting chat takes it at once.
    assert_eq!(offers(&r.settle(first)), vec![(10, 1)]);
    assert_eq!(r.experts[&ExpertId(1)].load, 1);
}

#[test]
fn a_snapshot_that_used_a_reservation_holds_the_slot_itself() {
    let mut r = router_with(&[(1, 2)]);
    let id = r.reserve(ExpertId(1), Purpose::Claim).unwrap();
    let mut open = snap(10, Status::Open);
    open.owner = Some(ExpertId(1));
    r.track(open, Some(id), T0);
    assert_eq!(r.experts[&ExpertId(1)].load, 1, "the reservation became the chat's own slot");
    assert_eq!(r.reserved_by(ExpertId(1)), 0);
}

#[test]
fn claims_and_transfers_need_an_available_expert_pushes_do_not() {
    let mut r = router_with(&[(1, 3)]);
    r.set_presence(ExpertId(1), Presence::Away);
    assert_eq!(r.reserve(ExpertId(1), Purpose::Claim).unwrap_err().code, ErrorCode::NotAllowed);
    assert_eq!(r.reserve(ExpertId(1), Purpose::Transfer).unwrap_err().code, ErrorCode::Unavailable);
    assert!(r.reserve(ExpertId(1), Purpose::Push).is_ok());
    assert_eq!(r.reserve(ExpertId(9), Purpose::Push).unwrap_err().code, ErrorCode::Unavailable);
}

#[test]
fn a_reconnecting_console_is_told_its_offers_and_whole_claim_list() {
    let mut r =
        router_with(&[(1, 3)]).with_claim_categories([("reset".to_owned(), "identity".to_owned())].into());
    r.expert_changed(ExpertId(1), vec!["general".into()], vec!["identity".into()], 3);
    let mut claim = snap(20, Status::Queued);
    claim.category = "reset".into();
    r.track(claim, None, T0);
    assert_eq!(r.claimable_for(ExpertId(1)), vec![], "already shown");
    assert_eq!(r.claim_list(ExpertId(1), true), vec![ConversationId(20)]);
    let mut offered = snap(10, Status::Offered);
    offered.offered_to = Some(ExpertId(1));
    r.track(offered, None, T0);
    assert_eq!(r.offers_to(ExpertId(1)), vec![ConversationId(10)]);
}

#[test]
fn a_removed_expert_gets_nothing_more_and_their_chats_go_back() {
    let mut r = router_with(&[(1, 3), (2, 3)]);
    let mut open = snap(10, Status::Open);
    open.owner = Some(ExpertId(1));
    r.track(open, None, T0);
    let mut offered = snap(11, Status::Offered);
    offered.offered_to = Some(ExpertId(1));
    r.track(offered, None, T0);
    let d = r.expert_removed(ExpertId(1));
    assert!(d.contains(&Decision::Withdraw { chat: ConversationId(11), expert: ExpertId(1) }));
    assert!(d.contains(&Decision::Reroute { chat: ConversationId(10), expert: ExpertId(1) }));
    assert_eq!(r.reserve(ExpertId(1), Purpose::Push).unwrap_err().code, ErrorCode::Unavailable);
    assert!(offers(&r.track(snap(12, Status::Queued), None, T0)).iter().all(|(_, e)| *e == 2));
}

/// A left message waits in its category's line like a chat, marked in the queue view, and is
/// offered in its turn; its (long) wait is no sample for the estimate chats are told.
#[test]
fn a_left_message_is_queued_and_offered_like_a_chat_but_is_no_wait_sample() {
    let mut r = router_with(&[]);
    let left = |id: u64, status: Status| Snapshot { offline: true, ..snap(id, status) };
    r.track(left(10, Status::Queued), None, T0);
    r.track(snap(11, Status::Queued), None, T0);
    let view: Vec<(u64, bool)> = r.queue_view(None).iter().map(|e| (e.id.0, e.offline)).collect();
    assert_eq!(view, vec![(10, true), (11, false)]);
    let d = r.expert_online(ExpertId(1), vec!["general".into()], vec![], 1);
    assert_eq!(offers(&d), vec![(10, 1)], "the older left message first");
    r.track(Snapshot { offered_to: Some(ExpertId(1)), ..left(10, Status::Offered) }, None, T0);
    r.track(Snapshot { owner: Some(ExpertId(1)), ..left(10, Status::Open) }, None, Timestamp(36_000_000));
    assert_eq!(r.estimated_wait(ConversationId(11), Timestamp(36_000_000)), None, "a night's wait not taken");
}
