//! One actor per live conversation. It is the single writer of its record and transcript:
//! seqs are assigned here without locks, every change is written to the store, and what
//! the world must learn waits in an outbox until the group commit has made it durable.

mod consult;
mod handlers;
mod outbox;
mod rules;
pub mod start;

use actix::prelude::*;
use bytestring::ByteString;

use crate::app::AppState;
use crate::auth;
use crate::clock::Timestamp;
use crate::domain::{ErrorCode, OfferEnd, Refusal, Status};
use crate::ids::{ConversationId, ExpertId};
use crate::lifecycle::{self, Effect, Event, Transition};
use crate::messages::{OfferOutcome, ReplyTo, Settle, Track};
use crate::metrics;
use crate::protocol::{AckBody, ServerFrame};
use crate::router::{ReservationId, Snapshot};
use crate::store::model::{
    AttachmentRef, Author, AuthorKind, Conversation, Customer, Segment, StoredMessage,
};
use crate::store::{Expect, Revision, Store, StoreError, Ticket};
use crate::views;
use crate::views::ToolView;
use crate::views::{ConversationView, ExpertBrief, MessageJson};
pub use consult::SpecialistChanged;
pub use handlers::{not_found, Opening};
use outbox::{Outbox, Outgoing};
use rules::{Said, Sent};

/// Messages held in an actor's mailbox before senders are refused; a conversation
/// receives from a handful of sessions, so this is generous.
const MAILBOX: usize = 1024;

pub struct ConversationActor {
    app: AppState,
    conv: Conversation,
    customer: Customer,
    /// The highest seq written to the store.
    last_seq: u64,
    /// Bumped on every stored change, so the router's offers can be checked against it.
    rev: u64,
    /// The stored record's revision. Every write names it, so that a second writer (another
    /// node after a takeover) is refused rather than silently overwritten.
    revision: Revision,
    outbox: Outbox,
    timer: Option<SpawnHandle>,
    /// When the armed timer fires; a later deadline needs no re-arming (the tick re-arms).
    armed_for: Option<Timestamp>,
    /// The customer's first message and the greeting, written when a new chat's actor starts.
    opening: Option<handlers::Opening>,
    /// What experts and the bot have said here, for the duplicate guard.
    said: Said,
    /// Which messages were sent under which client ids, so a resent frame stores nothing new.
    sent: Sent,
    /// The router's reservation for the action being handled (a claim, a named transfer, a
    /// push): the next `Track` settles it, or it is given back if the action is refused.
    settling: Option<ReservationId>,
    /// Being erased (`messages::Erase`): its last change is announced to no webhook, which
    /// would carry the transcript out of the store just as it is erased.
    erasing: bool,
}

/// A message about to be stored.
pub struct Draft {
    pub author: Author,
    pub text: String,
    /// Experts only: an internal note.
    pub internal: bool,
    pub attachments: Vec<AttachmentRef>,
    pub client_msg_id: Option<String>,
}

impl Draft {
    pub fn new(author: Author, text: impl Into<String>) -> Draft {
        Draft { author, text: text.into(), internal: false, attachments: Vec::new(), client_msg_id: None }
    }
}

impl ConversationActor {
    /// Starts a brand-new conversation; `opening` is stored before anyone hears of it.
    pub fn create(
        app: AppState,
        conv: Conversation,
        customer: Customer,
        opening: handlers::Opening,
    ) -> Addr<Self> {
        Self::spawn(
            app,
            (conv, Revision::ABSENT),
            customer,
            0,
            Some(opening),
            Said::default(),
            Sent::default(),
        )
    }

    /// Starts the actor of a stored conversation; `None` if it is unknown or closed.
    pub fn load(app: AppState, id: ConversationId) -> Result<Option<Addr<Self>>, StoreError> {
        let Some((conv, revision)) = app.store.conversation_at(id)? else {
            return Ok(None);
        };
        if conv.status.is_terminal() {
            return Ok(None);
        }
        let customer = app.store.customer_or_anonymous(conv.customer, conv.created_at)?;
        let transcript = app.store.transcript(id, 0)?;
        let last_seq = transcript.last().map_or(0, |m| m.seq);
        let mut conv = conv;
        conv.recall_activity(&transcript);
        let (said, sent) = (Said::of(&transcript), Sent::of(&transcript));
        // Before anyone can ask: the index of consults is rebuilt as the live chats load.
        app.hub.consults.changed(id, &[], &conv.consultants);
        let addr = Self::spawn(app, (conv, revision), customer, last_seq, None, said, sent);
        Ok(Some(addr))
    }

    fn spawn(
        app: AppState,
        (conv, revision): (Conversation, Revision),
        customer: Customer,
        last_seq: u64,
        opening: Option<handlers::Opening>,
        said: Said,
        sent: Sent,
    ) -> Addr<Self> {
        // A new conversation runs on the thread of the session that opened it (an HTTP
        // worker's), so that session's frames reach it and its answers go back without waking
        // another thread: on this 2-core VM, waking an idle thread costs tens of µs. Against
        // the pool for every conversation (docs/PERFORMANCE.md, "2026-12-06, evening"): p50
        // 1.92x the relay's against 2.00x over seven alternating pairs, throughput 68,277
        // against 59,931 durable msgs/s. Those loaded from the store are spread over the pool.
        let arbiter = match &opening {
            Some(_) => Arbiter::try_current().unwrap_or_else(|| app.conversation_arbiter()),
            None => app.conversation_arbiter(),
        };
        ConversationActor::start_in_arbiter(&arbiter, move |ctx| {
            ctx.set_mailbox_capacity(MAILBOX);
            let outbox = Outbox::new(&app, conv.customer, ctx.address(), last_seq);
            ConversationActor {
                app,
                conv,
                customer,
                last_seq,
                rev: 0,
                revision,
                outbox,
                timer: None,
                armed_for: None,
                opening,
                said,
                sent,
                settling: None,
                erasing: false,
            }
        })
    }

    fn id(&self) -> ConversationId {
        self.conv.id
    }

    /// Runs one lifecycle event: the new state is stored and its effects queued behind it.
    fn apply(&mut self, event: &Event, ctx: &mut Context<Self>) -> Result<Option<Ticket>, Refusal> {
        let t = lifecycle::step(&self.conv, event, Timestamp::now(), &self.app.policy)?;
        self.commit(t, ctx)
    }

    fn commit(&mut self, t: Transition, ctx: &mut Context<Self>) -> Result<Option<Ticket>, Refusal> {
        let Some(next) = t.next else { return Ok(None) };
        if t.effects.is_empty() && next.same_but_activity(&self.conv) {
            // Activity times change with every message; they are rebuilt from the transcript
            // after a restart, so they cost no write here.
            self.conv = next;
            let next_due = lifecycle::next_deadline(&self.conv, &self.app.policy);
            if self.timer.is_none() || next_due.is_some_and(|d| self.armed_for.is_none_or(|a| d < a)) {
                self.arm_timer(ctx);
            }
            return Ok(None);
        }
        if !self.erasing {
            self.app.webhooks.announce(Some(&self.conv), &next).map_err(internal_error)?;
        }
        let ticket = save(&self.app.store, &mut self.revision, &next).map_err(internal_error)?;
        observe(&self.conv, &next);
        observe_sla(&self.conv, &next, &self.app.policy);
        // Most messages change only activity times; the router hears of routing changes alone.
        let routing_changed = routing_view(&self.conv) != routing_view(&next);
        if self.conv.consultants != next.consultants {
            self.app.hub.consults.changed(self.id(), &self.conv.consultants, &next.consultants);
        }
        self.conv = next;
        for effect in t.effects {
            self.queue_effect(ticket, effect);
        }
        if routing_changed {
            self.rev += 1;
            let track = self.track(ctx);
            self.outbox.push(ticket, Outgoing::Router(Box::new(track)));
        }
        if self.conv.status.is_terminal() {
            self.outbox.push(ticket, Outgoing::Stop);
        }
        self.arm_timer(ctx);
        Ok(Some(ticket))
    }

    /// The router's view of this conversation now; it settles the reservation in hand.
    fn track(&mut self, ctx: &Context<Self>) -> Track {
        let settled = self.settling.take();
        let c = &self.conv;
        Track {
            settled,
            snapshot: Snapshot {
                id: c.id,
                category: c.category.clone(),
                status: c.status,
                owner: c.owner.as_ref().map(|o| o.id),
                offered_to: c.offer.map(|o| o.expert),
                declined: c.declined.clone(),
                queued_at: c.queued_at,
                left: c.left,
                offline: c.offline.is_some(),
                rev: self.rev,
                for_bot: lifecycle::for_a_bot(c),
            },
            listing: self.listing(),
            addr: ctx.address(),
        }
    }

    /// The certification this chat's category requires, if it is a claim-mode category.
    fn claim_certification(&self) -> Option<&str> {
        self.app.config.claim_certification(&self.conv.category)
    }

    /// Claim mode, while waiting: the summary certified experts see (no transcript, no
    /// attachments, no tools; the customer's opening words as a preview).
    fn listing(&self) -> Option<ByteString> {
        if self.conv.status != Status::Queued || self.claim_certification().is_none() {
            return None;
        }
        match views::claim_summary(&self.app.store, &self.conv) {
            Ok(conversation) => Some(ServerFrame::Claimable { conversation }.encode()),
            Err(e) => {
                tracing::error!(conversation = %self.id(), error = %e, "cannot list a claimable chat");
                None
            }
        }
    }

    /// The category's tools, each link filled in for this customer and signed.
    fn tools(&self) -> Vec<ToolView> {
        let Some(category) = self.app.config.category(&self.conv.category) else { return vec![] };
        let secret = &self.app.config.server.identity_secret;
        let customer = self.customer.id.to_string();
        let external = self.customer.external_id.as_deref();
        let now = Timestamp::now();
        category
            .tools
            .iter()
            .map(|t| ToolView {
                name: t.name.clone(),
                url: auth::tool_link(secret, &t.url, &customer, external, now),
            })
            .collect()
    }

    fn queue_effect(&mut self, ticket: Ticket, effect: Effect) {
        let id = self.id();
        match effect {
            Effect::Status { status, reason } => {
                let frame = ServerFrame::Status { conversation_id: id, status, reason }.encode();
                self.outbox.push(ticket, Outgoing::Customer { frame: frame.clone(), except: None });
                if let Some(owner) = &self.conv.owner {
                    self.outbox.push(ticket, Outgoing::Expert { expert: owner.id, frame, except: None });
                }
            }
            Effect::Assigned => {
                if let Some(owner) = &self.conv.owner {
                    let expert = ExpertBrief { id: owner.id.to_string(), name: owner.name.clone() };
                    let frame = ServerFrame::Assigned { conversation_id: id, expert }.encode();
                    self.outbox.push(ticket, Outgoing::Customer { frame, except: None });
                }
            }
            Effect::OfferMade { expert, expires_at } => {
                if let Some(frame) = self.offer_frame(expires_at) {
                    self.outbox.push(ticket, Outgoing::Expert { expert, frame, except: None });
                }
            }
            Effect::OfferWithdrawn { expert, reason } => {
                if reason != OfferEnd::Expired {
                    metrics::offer_ended(reason);
                }
                let frame = ServerFrame::OfferWithdrawn { conversation_id: id, reason }.encode();
                self.outbox.push(ticket, Outgoing::Expert { expert, frame, except: None });
            }
            Effect::Nudge { expert, waiting } => {
                let waiting_ms = waiting.as_millis() as u64;
                let frame = ServerFrame::Nudge { conversation_id: id, waiting_ms }.encode();
                self.outbox.push(ticket, Outgoing::Expert { expert, frame, except: None });
            }
            Effect::Released { expert, reason } => {
                metrics::release();
                let frame = ServerFrame::Released { conversation_id: id, reason }.encode();
                self.outbox.push(ticket, Outgoing::Expert { expert, frame, except: None });
            }
            Effect::Transferred { from, to, note } => {
                let from = match self.app.store.expert(from) {
                    Ok(e) => e.map(|e| ExpertBrief { id: e.id.to_string(), name: e.name }),
                    Err(_) => None,
                };
                let conversation = match self.view(true) {
                    Ok(v) => v,
                    Err(e) => {
                        return tracing::error!(conversation = %id, error = %e, "cannot read a transfer's transcript")
                    }
                };
                let tools = self.tools();
                let frame = ServerFrame::Transferred { conversation_id: id, from, note, conversation, tools }
                    .encode();
                self.outbox.push(ticket, Outgoing::Expert { expert: to, frame, except: None });
            }
            Effect::BotTaken { bot } => match self.view(true) {
                Ok(conversation) => {
                    let frame = ServerFrame::Chat { conversation }.encode();
                    self.outbox.push(ticket, Outgoing::Expert { expert: bot, frame, except: None });
                }
                Err(e) => tracing::error!(conversation = %id, error = %e, "cannot read a bot's chat"),
            },
            Effect::OfferLapsed { expert } => {
                metrics::offer_ended(OfferEnd::Expired);
                self.outbox.push(ticket, Outgoing::Outcome(OfferOutcome { expert, lapsed: true }));
            }
            Effect::SlaBreached { kind, target_ms } => {
                metrics::sla_breach(&self.conv.category, kind);
                // The webhook went with the record (`webhooks::for_transition`); the owner, if
                // any, is warned once it is durable.
                if let Some(owner) = &self.conv.owner {
                    // The record the transition made says when (`self.conv` is it by now).
                    let outcome = self.conv.sla.outcomes.iter().rev().find(|o| o.kind == kind);
                    let at = outcome.and_then(|o| o.breached_at).unwrap_or_else(Timestamp::now);
                    let frame = ServerFrame::SlaBreach { conversation_id: id, kind, target_ms, at }.encode();
                    self.outbox.push(ticket, Outgoing::Expert { expert: owner.id, frame, except: None });
                }
            }
            Effect::Consult { .. } | Effect::ConsultEnded { .. } => self.queue_consult_effect(ticket, effect),
        }
    }

    /// The offer an expert sees: the whole transcript and the time left to accept.
    fn offer_frame(&self, expires_at: Timestamp) -> Option<ByteString> {
        match self.view(true) {
            Ok(conversation) => Some(
                ServerFrame::Offer {
                    conversation,
                    expires_at,
                    accept_window_ms: self.app.policy.accept_window.as_millis() as u64,
                    expires_in_ms: Timestamp::now().until(expires_at).as_millis() as u64,
                }
                .encode(),
            ),
            Err(e) => {
                tracing::error!(conversation = %self.id(), error = %e, "cannot read transcript for an offer");
                None
            }
        }
    }

    /// Gives back the router's reservation if nothing used it.
    fn give_back_reservation(&mut self) {
        if let Some(id) = self.settling.take() {
            self.app.router.do_send(Settle(id));
        }
    }

    /// Stores a message under the next seq and queues its delivery.
    fn append(&mut self, draft: Draft, sender: Option<&ReplyTo>) -> Result<(Ticket, MessageJson), Refusal> {
        let Draft { author, text, internal, attachments, client_msg_id } = draft;
        // Experts and bots write internal notes (a bot's handoff note); customers never do.
        let internal = internal && matches!(author.kind, AuthorKind::Expert | AuthorKind::Bot);
        let message = StoredMessage {
            seq: self.last_seq + 1,
            author,
            text,
            internal,
            at: Timestamp::now(),
            attachments,
            client_msg_id,
        };
        let ticket = self.app.store.append_message(self.id(), &message).map_err(internal_error)?;
        self.last_seq = message.seq;
        metrics::message(match (message.author.kind, message.internal) {
            (_, true) => "note",
            (AuthorKind::Customer, _) => "customer",
            (AuthorKind::Expert, _) => "expert",
            (AuthorKind::Bot, _) => "bot",
            (AuthorKind::System, _) => "system",
        });
        self.said.remember(&message);
        self.sent.remember(&message);
        let json = MessageJson::of(self.id(), &message);
        let frame = ServerFrame::Message { message: json.clone() }.encode();
        let except = sender.map(|s| s.session_id);
        if !internal {
            self.outbox.push(ticket, Outgoing::Customer { frame: frame.clone(), except });
        }
        if let Some(expert) = self.experts_in_view() {
            self.outbox.push(ticket, Outgoing::Expert { expert, frame: frame.clone(), except });
        }
        // Specialists consulting here follow every message, notes included.
        for &expert in &self.conv.consultants {
            self.outbox.push(ticket, Outgoing::Expert { expert, frame: frame.clone(), except });
        }
        self.outbox.push(ticket, Outgoing::Delivered(message.seq));
        Ok((ticket, json))
    }

    /// Experts who see this conversation's traffic now: its owner, or the expert it is
    /// offered to (who is reading the transcript in the offer).
    fn experts_in_view(&self) -> Option<ExpertId> {
        match (&self.conv.owner, self.conv.offer) {
            (Some(o), _) => Some(o.id),
            (None, Some(offer)) => Some(offer.expert),
            _ => None,
        }
    }

    /// Answers a client frame, behind anything the same conversation has not yet delivered,
    /// so answers keep the order of the frames they answer.
    fn reply(&mut self, to: &ReplyTo, frame: ServerFrame) {
        self.outbox.reply(to.clone(), frame);
    }

    fn ack(&mut self, to: &ReplyTo, body: AckBody, ticket: Option<Ticket>) {
        let frame = ServerFrame::ack(to.reference.clone(), body);
        match ticket {
            Some(t) => {
                self.outbox.push(t, Outgoing::Reply { to: to.clone(), frame: frame.encode() });
            }
            None => self.reply(to, frame),
        }
    }

    fn refuse(&mut self, to: &ReplyTo, refusal: Refusal) {
        self.reply(to, ServerFrame::error(to.reference.clone(), refusal));
    }

    /// The conversation with its transcript; experts also see internal notes.
    fn view(&self, for_expert: bool) -> Result<ConversationView, StoreError> {
        views::with_transcript(&self.app.store, &self.conv, for_expert)
    }

    fn arm_timer(&mut self, ctx: &mut Context<Self>) {
        let next = lifecycle::next_deadline(&self.conv, &self.app.policy);
        if self.timer.is_some() && next == self.armed_for {
            return;
        }
        if let Some(h) = self.timer.take() {
            ctx.cancel_future(h);
        }
        self.armed_for = next;
        if let Some(at) = next {
            let wait = Timestamp::now().until(at);
            self.timer = Some(ctx.run_later(wait, |act, ctx| {
                act.timer = None;
                act.armed_for = None;
                if let Err(e) = act.apply(&Event::Tick, ctx) {
                    tracing::error!(conversation = %act.id(), error = %e, "timer could not fire");
                }
                if act.timer.is_none() {
                    act.arm_timer(ctx);
                }
            }));
        }
    }
}

/// Stores `record` as the conversation's next revision after `revision`, which it moves on.
/// A free function, so a caller can store the actor's own record while it updates the revision.
fn save(store: &Store, revision: &mut Revision, record: &Conversation) -> Result<Ticket, StoreError> {
    let (ticket, next) = store.save_conversation(record, Expect::At(*revision))?;
    *revision = next;
    Ok(ticket)
}

/// Logs a transition and records the report timings it completes.
fn observe(before: &Conversation, after: &Conversation) {
    if before.status != after.status {
        tracing::info!(conversation = %after.id, from = before.status.as_str(), to = after.status.as_str(), "transition");
    }
    if let Some(at) = after.first_response_at.filter(|_| before.first_response_at.is_none()) {
        metrics::first_response(after.created_at.until(at));
    }
    // Each wait that an accept or claim ended, and each owner's spell that ended: the same
    // segments the reports read, so a transferred or reopened chat counts every one.
    for (i, segment) in after.segments.iter().enumerate() {
        if before.segments.get(i) == Some(segment) {
            continue;
        }
        match *segment {
            Segment::Waiting { since, taken_at: Some(at) } => metrics::wait(since.until(at)),
            Segment::Owned { since, until: Some(at), .. } => metrics::handle_time(since.until(at)),
            _ => {}
        }
    }
    match after.status {
        Status::Abandoned if before.status != Status::Abandoned => metrics::abandoned(),
        Status::Offered if before.status != Status::Offered => metrics::offer_made(),
        _ => {}
    }
}

/// Records a met response target's office time against its target, for `/metrics`.
fn observe_sla(before: &Conversation, after: &Conversation, policy: &lifecycle::Policy) {
    let schedule = policy.sla.schedule.as_deref();
    if let Some((kind, took)) = crate::sla::met(&before.sla, &after.sla, Timestamp::now(), schedule) {
        metrics::sla_response(&after.category, kind, took);
    }
}

/// What the router knows of a conversation; a change here is worth a `Track`.
fn routing_view(c: &Conversation) -> impl PartialEq + '_ {
    (c.status, c.owner.as_ref().map(|o| o.id), c.offer, &c.declined, c.queued_at, c.left)
}

/// Replays a transcript after `after_seq` (up to `upto`) as message frames and the closing
/// ack, for a sync; customers never see internal notes.
pub fn replay(
    store: &crate::store::Store,
    id: ConversationId,
    after_seq: u64,
    upto: u64,
    for_expert: bool,
    reference: Option<crate::protocol::Ref>,
) -> Result<Vec<ByteString>, StoreError> {
    let mut frames: Vec<ByteString> = store
        .transcript(id, after_seq)?
        .iter()
        .take_while(|m| m.seq <= upto)
        .filter(|m| for_expert || !m.internal)
        .map(|m| ServerFrame::Message { message: MessageJson::of(id, m) }.encode())
        .collect();
    frames.push(ServerFrame::ack(reference, AckBody::Synced { last_seq: upto }).encode());
    Ok(frames)
}

/// Rates a closed conversation, which has no actor to ask: the lifecycle decides
/// (`Event::Rate`), and the record and its webhook are written here. Written, not yet durable:
/// the caller acknowledges after a flush.
pub fn rate_closed(
    app: &AppState,
    c: &Conversation,
    score: u8,
    comment: Option<String>,
) -> Result<(), Refusal> {
    let event = Event::Rate { score, comment };
    let t = lifecycle::step(c, &event, Timestamp::now(), &app.policy)?;
    if let Some(next) = t.next {
        app.webhooks.announce(Some(c), &next).map_err(internal_error)?;
        app.store.put_conversation(&next).map_err(internal_error)?;
    }
    Ok(())
}

/// A store failure reaches the sender as `internal`; the details go to the log only.
pub fn internal_error(e: StoreError) -> Refusal {
    tracing::error!(error = %e, "store failure");
    Refusal::new(ErrorCode::Internal, "the server could not store this; please retry")
}
