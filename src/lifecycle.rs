//! The conversation lifecycle of PRODUCT.md as one explicit state machine:
//! `step(conversation, event, now, policy)` gives the next stored state (if any) and the
//! effects to carry out once that state is durable. Every deadline is derived from absolute
//! times inside the record, so `next_deadline` re-arms a timer after a restart from data alone.

use std::sync::Arc;
use std::time::Duration;

use crate::clock::Timestamp;
use crate::config::{Config, CustomerMayEnd};
use crate::domain::{ErrorCode, OfferEnd, Reason, Refusal, SettableStatus, SlaKind, Status, Style};
use crate::ids::ExpertId;
use crate::office_hours::Schedule;
use crate::sla::{self, SlaPolicy};
use crate::store::model::{Conversation, Offer, Owner, Rating, Segment};

/// The windows the lifecycle keeps, taken from the configuration.
#[derive(Debug, Clone)]
pub struct Policy {
    pub accept_window: Duration,
    pub returning_close_after: Duration,
    pub messaging_close_after: Duration,
    pub nudge_after: Duration,
    pub abandon_after: Duration,
    pub inactivity_end: Duration,
    pub left_site_after: Duration,
    pub first_response_window: Duration,
    pub customer_may_always_end: bool,
    /// Each category's response targets and the office hours they count in.
    pub sla: SlaPolicy,
}

impl Policy {
    /// `schedule`: the office hours the app already parsed (`Schedule::enabled`), shared.
    pub fn from_config(c: &Config, schedule: Option<Arc<Schedule>>) -> Policy {
        let conv = &c.conversation;
        Policy {
            accept_window: c.routing.accept_window,
            returning_close_after: conv.returning_close_after,
            messaging_close_after: conv.messaging_close_after,
            nudge_after: conv.nudge_after,
            abandon_after: conv.abandon_after,
            inactivity_end: conv.inactivity_end,
            left_site_after: conv.left_site_after,
            first_response_window: conv.first_response_window,
            customer_may_always_end: conv.customer_may_end == CustomerMayEnd::Always,
            sla: SlaPolicy::from_config(c, schedule),
        }
    }

    /// How long a solved conversation stays open to its customer's reply. A left message
    /// takes the messaging style's delay whatever its category's style: its customer was away
    /// when it was answered, and reads (and may answer) the reply only when they come back.
    fn close_delay(&self, c: &Conversation) -> Duration {
        if c.offline.is_some() {
            return self.messaging_close_after;
        }
        match c.style {
            Style::LiveChat => Duration::ZERO,
            Style::Returning => self.returning_close_after,
            Style::Messaging => self.messaging_close_after,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// The router proposes this expert.
    Offer {
        expert: ExpertId,
    },
    Accept {
        expert: ExpertId,
        name: String,
    },
    Decline {
        expert: ExpertId,
    },
    /// Claim mode. `certified`: the expert holds the category's certification.
    Claim {
        expert: ExpertId,
        name: String,
        certified: bool,
    },
    /// The owner hands the chat to another expert or back to a category's queue.
    Transfer {
        from: ExpertId,
        to: TransferTo,
        note: Option<String>,
    },
    /// The expert became unavailable while the offer stood; not held against them.
    WithdrawOffer {
        expert: ExpertId,
    },
    /// `owner_available`: whether the owner could take a reopened chat back right now.
    CustomerMessage {
        owner_available: bool,
    },
    ExpertMessage {
        expert: ExpertId,
    },
    /// An internal note: experts only, not a reply to the customer.
    Note {
        expert: ExpertId,
    },
    SetStatus {
        expert: ExpertId,
        status: SettableStatus,
    },
    End {
        expert: ExpertId,
    },
    Leave {
        expert: ExpertId,
    },
    CustomerEnd {
        office_hours_open: bool,
    },
    /// The customer's first widget connected, or their last one closed.
    CustomerPresence {
        online: bool,
    },
    Rate {
        score: u8,
        comment: Option<String>,
    },
    /// An admin removed the owning expert: an active chat goes back to the queue.
    OwnerRemoved {
        expert: ExpertId,
    },
    /// The customer's data is erased (data rights): a live chat ends at once, closed.
    Erase,
    /// Specialist consult (PRODUCT.md v1.1): the owner asks another expert to advise.
    Invite {
        owner: ExpertId,
        specialist: Specialist,
        note: Option<String>,
    },
    /// The owner ends a specialist's consult (`specialist: None`: every one), or the
    /// specialist ends their own.
    EndConsult {
        by: ExpertId,
        specialist: Option<ExpertId>,
    },
    /// A specialist's account changed: removed (`removed`), or their certifications, so that
    /// `specialist.certified` says again whether they hold what this chat needs.
    SpecialistChanged {
        specialist: Specialist,
        removed: bool,
    },
    /// Time passed: whatever deadline is due fires.
    Tick,
    // ----- bots (PRODUCT.md v1.1, "Bots") -----
    /// A connected bot of the chat's category answers it before any human is offered it.
    BotTake {
        bot: ExpertId,
        name: String,
    },
    /// The owning bot hands the chat to humans: queued in `category` (its own unless the bot
    /// named another), with its whole transcript.
    Handoff {
        bot: ExpertId,
        category: String,
        style: Style,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TransferTo {
    /// `certified`: holds the certification a claim-mode chat requires.
    Expert {
        id: ExpertId,
        name: String,
        certified: bool,
    },
    Category {
        id: String,
        style: Style,
    },
}

/// What the world must learn once the new state is on disk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Effect {
    /// Customer and owner are told of a new status.
    Status {
        status: Status,
        reason: Option<Reason>,
    },
    /// The customer learns who is helping them.
    Assigned,
    OfferMade {
        expert: ExpertId,
        expires_at: Timestamp,
    },
    OfferWithdrawn {
        expert: ExpertId,
        reason: OfferEnd,
    },
    /// The router counts this toward `missed_offers_before_away`.
    OfferLapsed {
        expert: ExpertId,
    },
    /// The owner is reminded that the customer is waiting.
    Nudge {
        expert: ExpertId,
        waiting: Duration,
    },
    /// A claimer who did not answer in time loses the chat.
    Released {
        expert: ExpertId,
        reason: Reason,
    },
    /// The new owner receives the chat (after the customer was told).
    Transferred {
        from: ExpertId,
        to: ExpertId,
        note: Option<String>,
    },
    // ----- bots -----
    /// The bot that took the chat receives it with its transcript.
    BotTaken {
        bot: ExpertId,
    },
    /// The owner is warned that a response target passed unanswered; it is counted and
    /// announced (PROTOCOL.md v1.1, `sla_breach`).
    SlaBreached {
        kind: SlaKind,
        target_ms: u64,
    },
    /// The invited specialist receives the chat to advise on.
    Consult {
        specialist: ExpertId,
        from: ExpertId,
        note: Option<String>,
    },
    /// A consult is over: the specialist and `owner` (the owner when it ended) are told.
    ConsultEnded {
        specialist: ExpertId,
        owner: Option<ExpertId>,
    },
}

#[derive(Debug, Default)]
pub struct Transition {
    /// The new record to store, or `None` when the event changed nothing stored.
    pub next: Option<Conversation>,
    pub effects: Vec<Effect>,
}

impl Transition {
    fn unchanged() -> Transition {
        Transition::default()
    }

    fn to(next: Conversation, effects: Vec<Effect>) -> Transition {
        Transition { next: Some(next), effects }
    }
}

/// The deadlines a conversation can have; the earliest due one fires on a tick.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Deadline {
    OfferLapse,
    LeftSite,
    Inactivity,
    Close,
    Nudge,
    FirstResponse,
    /// The running SLA clock's stored due time.
    SlaBreach,
}

fn refuse(code: ErrorCode, message: &str) -> Result<Transition, Refusal> {
    Err(Refusal::new(code, message))
}

/// Every deadline the record currently carries.
pub fn deadlines(c: &Conversation, p: &Policy) -> Vec<(Timestamp, Deadline)> {
    use Status::*;
    let mut out = Vec::new();
    if let (Offered, Some(o)) = (c.status, c.offer) {
        out.push((o.expires_at, Deadline::OfferLapse));
    }
    // A left message was written to be answered in its customer's absence: their leaving the
    // site resolves chats, never it.
    if let (Queued | Offered | Open | Pending | OnHold, Some(left), None) =
        (c.status, c.customer_left_at, &c.offline)
    {
        out.push((left.plus(p.left_site_after), Deadline::LeftSite));
    }
    if c.status == Open {
        out.push((c.last_activity_at.plus(p.inactivity_end), Deadline::Inactivity));
        if let (Some(_), Some(since)) = (&c.owner, c.awaiting_reply_since) {
            out.push((since.plus(p.nudge_after * (c.nudges + 1)), Deadline::Nudge));
        }
    }
    if let (Open | Pending | OnHold, Some(due)) = (c.status, c.first_response_due) {
        out.push((due, Deadline::FirstResponse));
    }
    if let (Solved, Some(at)) = (c.status, c.close_at) {
        out.push((at, Deadline::Close));
    }
    if let (Queued | Offered | Open | Pending | OnHold, Some(clock)) = (c.status, c.sla.running) {
        out.push((clock.due, Deadline::SlaBreach));
    }
    out
}

/// The earliest stored deadline, if any: when the actor's timer must fire.
pub fn next_deadline(c: &Conversation, p: &Policy) -> Option<Timestamp> {
    deadlines(c, p).into_iter().map(|(at, _)| at).min()
}

pub fn step(c: &Conversation, event: &Event, now: Timestamp, p: &Policy) -> Result<Transition, Refusal> {
    // Whatever moved the chat, a consult does not outlive its owner's spell (`consult::settle`).
    let mut t = consult::settle(c, decide(c, event, now, p)?);
    follow_sla(c, event, now, p, &mut t);
    Ok(t)
}

/// A new chat a customer started: their wait for a first response is counted from now.
pub fn started(c: &mut Conversation, now: Timestamp, p: &Policy) {
    sla::started(&mut c.sla, &c.category, now, &p.sla);
}

/// SLA clocks follow what an event did to the chat (the rules are sla.rs's): a customer's
/// message after a reply starts a next-response clock, an expert's reply ends the running
/// one, and an ended chat stops it.
fn follow_sla(c: &Conversation, event: &Event, now: Timestamp, p: &Policy, t: &mut Transition) {
    let Some(n) = t.next.as_mut() else { return };
    match event {
        Event::CustomerMessage { .. } => {
            // No reply outstanding, and one was given: the chat's last word was an expert's.
            let answered = c.awaiting_reply_since.is_none() && c.first_response_at.is_some();
            sla::customer_wrote(&mut n.sla, answered, &n.category, now, &p.sla);
        }
        Event::ExpertMessage { .. } => {
            // Past due before the tick came: breached all the same, and said so.
            if let Some((kind, target_ms)) = sla::expert_replied(&mut n.sla, now) {
                t.effects.push(Effect::SlaBreached { kind, target_ms });
            }
        }
        _ => {}
    }
    if sla::ended(n.status) {
        sla::stopped(&mut n.sla);
    }
}

fn decide(c: &Conversation, event: &Event, now: Timestamp, p: &Policy) -> Result<Transition, Refusal> {
    use Status::*;
    match *event {
        Event::Offer { expert } => {
            if c.status != Queued {
                return refuse(ErrorCode::Conflict, "the conversation is not waiting");
            }
            let expires_at = now.plus(p.accept_window);
            let mut n = c.clone();
            n.status = Offered;
            n.offer = Some(Offer { expert, expires_at });
            Ok(Transition::to(n, vec![Effect::OfferMade { expert, expires_at }]))
        }
        Event::Accept { expert, ref name } => {
            match c.offer {
                Some(o) if c.status == Offered && o.expert == expert && now < o.expires_at => {}
                _ => return refuse(ErrorCode::Conflict, "the offer is no longer open"),
            }
            let mut n = c.clone();
            n.status = Open;
            n.offer = None;
            n.declined.clear();
            assign(&mut n, Owner { id: expert, name: name.clone() }, now);
            n.accepted_at.get_or_insert(now);
            n.last_activity_at = now;
            n.nudges = 0;
            Ok(Transition::to(n, vec![Effect::Assigned, Effect::Status { status: Open, reason: None }]))
        }
        Event::Decline { expert } => match c.offer {
            Some(o) if c.status == Offered && o.expert == expert => {
                Ok(withdraw(c, expert, OfferEnd::Declined, true))
            }
            _ => refuse(ErrorCode::Conflict, "the offer is no longer open"),
        },
        Event::Claim { expert, ref name, certified } => {
            if !certified {
                return refuse(ErrorCode::Forbidden, "this chat needs a certification you do not hold");
            }
            if c.declined.contains(&expert) {
                return refuse(ErrorCode::Forbidden, "this chat was released from you");
            }
            if c.status != Queued {
                return refuse(ErrorCode::Conflict, "another expert has claimed this chat");
            }
            let mut n = c.clone();
            n.status = Open;
            assign(&mut n, Owner { id: expert, name: name.clone() }, now);
            n.accepted_at.get_or_insert(now);
            n.last_activity_at = now;
            n.nudges = 0;
            n.first_response_due = Some(now.plus(p.first_response_window));
            Ok(Transition::to(n, vec![Effect::Assigned, Effect::Status { status: Open, reason: None }]))
        }
        Event::Transfer { from, ref to, ref note } => {
            owner_only(c, from)?;
            if !matches!(c.status, Open | Pending | OnHold) {
                return refuse(ErrorCode::NotAllowed, "only an active conversation is transferred");
            }
            let mut n = c.clone();
            n.first_response_due = None;
            n.last_activity_at = now;
            n.transfers += 1;
            match to {
                TransferTo::Expert { id, .. } if *id == from => {
                    refuse(ErrorCode::BadRequest, "the conversation is already yours")
                }
                TransferTo::Expert { certified: false, .. } => {
                    refuse(ErrorCode::Forbidden, "that expert lacks the certification this chat needs")
                }
                TransferTo::Expert { id, name, .. } => {
                    n.status = Open;
                    assign(&mut n, Owner { id: *id, name: name.clone() }, now);
                    let told = Effect::Status { status: Open, reason: Some(Reason::Transferred) };
                    Ok(Transition::to(
                        n,
                        vec![
                            told,
                            Effect::Assigned,
                            Effect::Transferred { from, to: *id, note: note.clone() },
                        ],
                    ))
                }
                TransferTo::Category { id, style } => {
                    n.category = id.clone();
                    n.style = *style;
                    n.status = Queued;
                    n.owner = None;
                    n.queued_at = now;
                    n.begin_wait(now);
                    n.declined = vec![from];
                    Ok(Transition::to(
                        n,
                        vec![Effect::Status { status: Queued, reason: Some(Reason::Transferred) }],
                    ))
                }
            }
        }
        Event::WithdrawOffer { expert } => match c.offer {
            Some(o) if c.status == Offered && o.expert == expert => {
                Ok(withdraw(c, expert, OfferEnd::Unavailable, false))
            }
            _ => Ok(Transition::unchanged()),
        },
        Event::CustomerMessage { owner_available } => {
            if c.status.is_terminal() {
                return refuse(ErrorCode::Closed, "this conversation has ended");
            }
            let mut n = c.clone();
            n.last_customer_at = Some(now);
            n.last_activity_at = now;
            if n.awaiting_reply_since.is_none() {
                n.awaiting_reply_since = Some(now);
                n.nudges = 0;
            }
            let mut effects = Vec::new();
            match c.status {
                Pending | OnHold => {
                    n.status = Open;
                    effects.push(Effect::Status { status: Open, reason: Some(Reason::Reopened) });
                }
                Solved => {
                    n.solved_at = None;
                    n.close_at = None;
                    n.left = false;
                    match n.owner.as_ref().map(|o| o.id) {
                        Some(owner) if owner_available => {
                            n.status = Open;
                            n.begin_spell(owner, now);
                            // A claimer who ended it unanswered owes a first answer still: the
                            // window runs afresh from the reopen, not from the claim long past.
                            if n.first_response_due.is_some() {
                                n.first_response_due = Some(now.plus(p.first_response_window));
                            }
                            effects.push(Effect::Status { status: Open, reason: Some(Reason::Reopened) });
                        }
                        _ => {
                            // Back to the queue with the whole history, for whoever can take it;
                            // the next claim sets its own first-response window.
                            n.status = Queued;
                            n.owner = None;
                            n.declined.clear();
                            n.queued_at = now;
                            n.first_response_due = None;
                            n.begin_wait(now);
                            effects.push(Effect::Status { status: Queued, reason: Some(Reason::Reopened) });
                        }
                    }
                }
                _ => {}
            }
            Ok(Transition::to(n, effects))
        }
        Event::ExpertMessage { expert } => {
            consult::may_write(c, expert, false)?;
            if !matches!(c.status, Open | Pending | OnHold) {
                return refuse(ErrorCode::Closed, "this conversation has ended");
            }
            let mut n = c.clone();
            n.first_response_at.get_or_insert(now);
            n.last_expert_at = Some(now);
            n.last_activity_at = now;
            n.awaiting_reply_since = None;
            n.first_response_due = None;
            n.nudges = 0;
            Ok(Transition::to(n, vec![]))
        }
        Event::Note { expert } => {
            consult::may_write(c, expert, true)?;
            if c.status.is_terminal() {
                return refuse(ErrorCode::Closed, "this conversation has ended");
            }
            Ok(Transition::unchanged())
        }
        Event::SetStatus { expert, status } => {
            owner_only(c, expert)?;
            let status = match status {
                SettableStatus::Open => Open,
                SettableStatus::Pending => Pending,
                SettableStatus::OnHold => OnHold,
            };
            match c.status {
                s if s == status => Ok(Transition::unchanged()),
                Open | Pending | OnHold => {
                    let mut n = c.clone();
                    n.status = status;
                    n.last_activity_at = now;
                    Ok(Transition::to(n, vec![Effect::Status { status, reason: None }]))
                }
                _ => refuse(ErrorCode::NotAllowed, "only an active conversation changes status"),
            }
        }
        Event::End { expert } => {
            owner_only(c, expert)?;
            if !matches!(c.status, Open | Pending | OnHold) {
                return refuse(ErrorCode::NotAllowed, "this conversation is not active");
            }
            Ok(solve(c, now, p, Reason::ExpertEnded))
        }
        Event::Leave { expert } => {
            owner_only(c, expert)?;
            match c.status {
                Solved | Closed if c.left => Ok(Transition::unchanged()),
                Solved | Closed => {
                    let mut n = c.clone();
                    n.left = true;
                    Ok(Transition::to(n, vec![]))
                }
                _ => refuse(ErrorCode::NotAllowed, "end the conversation before leaving it"),
            }
        }
        Event::CustomerEnd { office_hours_open } => {
            if !matches!(c.status, Queued | Offered | Open | Pending | OnHold) {
                return refuse(ErrorCode::Closed, "this conversation has ended");
            }
            let unanswered = c.awaiting_reply_since.is_some_and(|t| now >= t.plus(p.abandon_after));
            let inactive = now >= c.last_activity_at.plus(p.inactivity_end);
            if !(p.customer_may_always_end || !office_hours_open || unanswered || inactive) {
                return refuse(
                    ErrorCode::NotAllowed,
                    "an expert is handling this chat; you can end it if nobody answers for a while",
                );
            }
            Ok(end_by_customer_side(c, now, p, Reason::CustomerEnded))
        }
        Event::Erase => Ok(erase(c, now)),
        Event::Invite { owner, ref specialist, ref note } => consult::invite(c, owner, specialist, note),
        Event::EndConsult { by, specialist } => consult::end(c, by, specialist),
        Event::SpecialistChanged { ref specialist, removed } => Ok(consult::changed(c, specialist, removed)),
        Event::CustomerPresence { online } => {
            if c.status.is_terminal() || c.customer_left_at.is_none() == online {
                return Ok(Transition::unchanged());
            }
            let mut n = c.clone();
            n.customer_left_at = if online { None } else { Some(now) };
            Ok(Transition::to(n, vec![]))
        }
        Event::Rate { score, ref comment } => {
            if !matches!(c.status, Solved | Closed) {
                return refuse(ErrorCode::NotAllowed, "a chat can be rated once it has ended");
            }
            if !(1..=5).contains(&score) {
                return refuse(ErrorCode::BadRequest, "score is 1 to 5");
            }
            if c.rating.is_some() {
                return refuse(ErrorCode::Conflict, "this chat is already rated");
            }
            let mut n = c.clone();
            n.rating = Some(Rating { score, comment: comment.clone(), at: now });
            Ok(Transition::to(n, vec![]))
        }
        Event::OwnerRemoved { expert } => {
            if !c.owned_by(expert) || !matches!(c.status, Open | Pending | OnHold) {
                // Ended chats keep the name they were answered by; a reopen re-routes them.
                return Ok(Transition::unchanged());
            }
            let mut n = c.clone();
            n.status = Queued;
            n.owner = None;
            n.queued_at = now;
            n.begin_wait(now);
            n.first_response_due = None;
            n.declined = vec![expert];
            Ok(Transition::to(
                n,
                vec![Effect::Status { status: Queued, reason: Some(Reason::ExpertRemoved) }],
            ))
        }
        Event::Tick => Ok(tick(c, now, p)),
        Event::BotTake { bot, ref name } => bot_take(c, bot, name, now),
        Event::Handoff { bot, ref category, style } => handoff(c, bot, category, style, now),
    }
}

/// Whether a bot may answer this chat first: a chat nobody has held yet. A chat a bot handed
/// off, a human held, or a reopened one goes to humans; so does a left message, whose
/// customer is away and waits for a person.
pub fn for_a_bot(c: &Conversation) -> bool {
    c.status == Status::Queued && c.past_owners.is_empty() && c.offline.is_none()
}

/// A bot takes a new chat: open and the bot's from the start, no offer, no accept. The wait
/// ends here; the bot's first message counts as the first response.
fn bot_take(c: &Conversation, bot: ExpertId, name: &str, now: Timestamp) -> Result<Transition, Refusal> {
    if !for_a_bot(c) {
        return refuse(ErrorCode::Conflict, "this chat is not for a bot");
    }
    let mut n = c.clone();
    n.status = Status::Open;
    assign(&mut n, Owner { id: bot, name: name.to_owned() }, now);
    n.last_activity_at = now;
    n.nudges = 0;
    let effects = vec![
        Effect::Assigned,
        Effect::Status { status: Status::Open, reason: None },
        Effect::BotTaken { bot },
    ];
    Ok(Transition::to(n, effects))
}

/// The owning bot hands the chat to humans. It keeps its place in line (its customer has been
/// waiting since it began), and the bot stays a past owner, so it may still read the chat but
/// never writes in it again: only an owner sends, and a bot never owns a chat twice.
fn handoff(
    c: &Conversation,
    bot: ExpertId,
    category: &str,
    style: Style,
    now: Timestamp,
) -> Result<Transition, Refusal> {
    owner_only(c, bot)?;
    if !matches!(c.status, Status::Open | Status::Pending | Status::OnHold) {
        return refuse(ErrorCode::NotAllowed, "only an active conversation is handed off");
    }
    let mut n = c.clone();
    n.category = category.to_owned();
    n.style = style;
    n.status = Status::Queued;
    n.owner = None;
    n.first_response_due = None;
    n.last_activity_at = now;
    n.begin_wait(now);
    n.declined = vec![bot];
    Ok(Transition::to(n, vec![Effect::Status { status: Status::Queued, reason: Some(Reason::Transferred) }]))
}

/// A chat an expert starts with a customer (a push): open and theirs from the start, and
/// their opening message is its first response. Nobody waited in a queue for it.
pub fn pushed(c: &mut Conversation, owner: Owner, now: Timestamp) {
    c.status = Status::Open;
    c.accepted_at = Some(now);
    c.first_response_at = Some(now);
    c.awaiting_reply_since = None;
    c.segments.retain(|s| !matches!(s, Segment::Waiting { taken_at: None, .. }));
    assign(c, owner, now);
}

/// The one way a chat gets an owner (accept, claim, transfer, push): they keep access to it
/// afterwards, and their spell starts for the reports.
fn assign(c: &mut Conversation, owner: Owner, now: Timestamp) {
    if !c.past_owners.contains(&owner.id) {
        c.past_owners.push(owner.id);
    }
    c.begin_spell(owner.id, now);
    c.owner = Some(owner);
}

fn owner_only(c: &Conversation, expert: ExpertId) -> Result<(), Refusal> {
    if c.owned_by(expert) {
        Ok(())
    } else {
        Err(Refusal::new(ErrorCode::Forbidden, "you do not own this conversation"))
    }
}

fn withdraw(c: &Conversation, expert: ExpertId, reason: OfferEnd, held_against: bool) -> Transition {
    let mut n = c.clone();
    n.status = Status::Queued;
    n.offer = None;
    if held_against && !n.declined.contains(&expert) {
        n.declined.push(expert);
    }
    Transition::to(n, vec![Effect::OfferWithdrawn { expert, reason }])
}

/// Ends an active chat: solved, then closed after the style's delay (at once for live chat).
fn solve(c: &Conversation, now: Timestamp, p: &Policy, reason: Reason) -> Transition {
    let mut n = c.clone();
    n.status = Status::Solved;
    n.solved_at = Some(now);
    n.close_at = Some(now.plus(p.close_delay(c)));
    n.awaiting_reply_since = None;
    n.end_spell(now);
    let mut effects = vec![Effect::Status { status: Status::Solved, reason: Some(reason) }];
    if c.style == Style::LiveChat && c.offline.is_none() {
        close(&mut n, now, &mut effects);
    }
    Transition::to(n, effects)
}

/// The customer ended it or left the site: abandoned if no expert ever answered (told with
/// PROTOCOL.md's reason `abandoned`), otherwise solved like any other end, told with `reason`.
fn end_by_customer_side(c: &Conversation, now: Timestamp, p: &Policy, reason: Reason) -> Transition {
    let mut withdrawn = Vec::new();
    if let (Status::Offered, Some(o)) = (c.status, c.offer) {
        withdrawn.push(Effect::OfferWithdrawn { expert: o.expert, reason: OfferEnd::Abandoned });
    }
    if c.first_response_at.is_some() {
        let mut t = solve(c, now, p, reason);
        t.effects.splice(0..0, withdrawn);
        return t;
    }
    let mut n = c.clone();
    n.status = Status::Abandoned;
    n.offer = None;
    n.solved_at = Some(now);
    n.closed_at = Some(now);
    n.awaiting_reply_since = None;
    n.end_spell(now);
    withdrawn.push(Effect::Status { status: Status::Abandoned, reason: Some(Reason::Abandoned) });
    Transition::to(n, withdrawn)
}

/// Ends a live chat whose customer's data is being erased: closed at once, whatever the
/// style, with any offer withdrawn; a chat already over is left as it is.
fn erase(c: &Conversation, now: Timestamp) -> Transition {
    if c.status.is_terminal() {
        return Transition::unchanged();
    }
    let mut effects = Vec::new();
    if let (Status::Offered, Some(o)) = (c.status, c.offer) {
        effects.push(Effect::OfferWithdrawn { expert: o.expert, reason: OfferEnd::Abandoned });
    }
    let mut n = c.clone();
    n.offer = None;
    n.first_response_due = None;
    n.awaiting_reply_since = None;
    n.solved_at = n.solved_at.or(Some(now));
    n.end_spell(now);
    n.status = Status::Closed;
    n.closed_at = Some(now);
    n.close_at = None;
    effects.push(Effect::Status { status: Status::Closed, reason: Some(Reason::Erased) });
    Transition::to(n, effects)
}

fn close(n: &mut Conversation, now: Timestamp, effects: &mut Vec<Effect>) {
    n.status = Status::Closed;
    n.closed_at = Some(now);
    n.close_at = None;
    effects.push(Effect::Status { status: Status::Closed, reason: Some(Reason::ClosedAfterSolved) });
}

/// Fires the earliest deadline that is due, if any; the actor ticks again for the next one.
fn tick(c: &Conversation, now: Timestamp, p: &Policy) -> Transition {
    let due = deadlines(c, p).into_iter().filter(|(at, _)| *at <= now).min();
    let Some((at, deadline)) = due else { return Transition::unchanged() };
    match deadline {
        Deadline::OfferLapse => {
            let expert = c.offer.map(|o| o.expert).expect("an offer deadline has an offer");
            let mut t = withdraw(c, expert, OfferEnd::Expired, true);
            t.effects.push(Effect::OfferLapsed { expert });
            t
        }
        Deadline::LeftSite => {
            let mut t = end_by_customer_side(c, now, p, Reason::LeftSite);
            if let Some(n) = t.next.as_mut() {
                // Resolved for them: it leaves the expert's console too.
                n.left = true;
            }
            t
        }
        Deadline::Inactivity => solve(c, now, p, Reason::Inactivity),
        Deadline::Close => {
            let mut n = c.clone();
            let mut effects = Vec::new();
            close(&mut n, now, &mut effects);
            Transition::to(n, effects)
        }
        Deadline::FirstResponse => {
            let expert = c.owner.as_ref().map(|o| o.id).expect("a claim deadline has an owner");
            let mut n = c.clone();
            n.status = Status::Queued;
            n.owner = None;
            n.first_response_due = None;
            n.begin_wait(now);
            // The claimer loses all access: not an owner now, nor a past one.
            n.past_owners.retain(|e| *e != expert);
            if !n.declined.contains(&expert) {
                n.declined.push(expert);
            }
            let released = Effect::Released { expert, reason: Reason::NoResponse };
            let requeued = Effect::Status { status: Status::Queued, reason: Some(Reason::NoResponse) };
            Transition::to(n, vec![released, requeued])
        }
        Deadline::Nudge => {
            let mut n = c.clone();
            let since = c.awaiting_reply_since.unwrap_or(at);
            // One nudge now, the next a full period later: a chat accepted after a long wait
            // gets one reminder, not one for every period it waited in the queue.
            let periods = since.until(now).as_millis() / p.nudge_after.as_millis().max(1);
            n.nudges = (periods as u32).max(c.nudges + 1);
            let expert = c.owner.as_ref().map(|o| o.id).expect("a nudge deadline has an owner");
            Transition::to(n, vec![Effect::Nudge { expert, waiting: since.until(now) }])
        }
        Deadline::SlaBreach => {
            let mut n = c.clone();
            match sla::breach(&mut n.sla, now) {
                Some((kind, target_ms)) => Transition::to(n, vec![Effect::SlaBreached { kind, target_ms }]),
                None => Transition::unchanged(),
            }
        }
    }
}

mod consult;
pub use consult::Specialist;

#[cfg(test)]
mod tests;
