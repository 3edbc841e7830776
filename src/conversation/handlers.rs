//! The conversation actor's mailbox: each handler checks who is asking and forwards to the
//! lifecycle and the transcript.

use actix::prelude::*;

use super::rules::{self, Destination};
use super::{internal_error, ConversationActor, Draft};
use crate::access;
use crate::clock::Timestamp;
use crate::domain::{ErrorCode, Refusal};
use crate::ids::AttachmentId;
use crate::lifecycle::{self, Event};
use crate::messages::*;
use crate::protocol::{AckBody, ServerFrame};
use crate::store::model::{AttachmentRef, Author, AuthorKind, StoredMessage};
use crate::store::StoreError;
use crate::views::MessageJson;
use crate::views::{AttachmentView, ExpertBrief};

/// A new chat's first customer message, stored with the bot greeting when the actor starts.
/// A new chat's first message (the customer's, or an expert's pushed chat) and the bot
/// greeting, stored when the conversation's actor starts.
pub struct Opening {
    pub draft: Draft,
    pub greeting: Option<String>,
    /// A chat an expert pushed to the customer: their widget is told to open it.
    pub pushed_by: Option<ExpertBrief>,
    /// The pushing expert's slot, reserved by the router; the first `Track` settles it.
    pub reservation: Option<crate::router::ReservationId>,
    /// The customer started it and it counts as starting in the hub until it is stored
    /// (`Hub::begin_start`), so two tabs cannot open chats past the limit.
    pub counted_as_starting: bool,
    pub reply: ReplyTo,
}

fn forbidden() -> Refusal {
    Refusal::new(ErrorCode::Forbidden, "this conversation is not yours")
}

/// What a caller who may not read a conversation hears: the same as for one that does not
/// exist, so existence never leaks.
pub fn not_found() -> Refusal {
    Refusal::new(ErrorCode::NotFound, "no such conversation")
}

impl Actor for ConversationActor {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        match self.opening.take() {
            Some(opening) => self.open(opening, ctx),
            None => {
                // Restored from the store: what it says is already durable.
                let track = self.track(ctx);
                self.app.router.do_send(track);
                self.arm_timer(ctx);
                // After a restart nobody is connected yet: the left-site clock starts now
                // unless the customer's widget comes back.
                if !self.app.hub.customer_online(self.conv.customer) {
                    self.presence(false, ctx);
                }
            }
        }
    }

    fn stopped(&mut self, ctx: &mut Context<Self>) {
        self.app.hub.remove_conversation(self.id(), &ctx.address());
    }
}

impl ConversationActor {
    fn open(&mut self, mut o: Opening, ctx: &mut Context<Self>) {
        self.settling = o.reservation;
        if let Err(refusal) = self.try_open(&mut o, ctx) {
            if o.counted_as_starting {
                self.app.hub.end_start(self.conv.customer, || ());
            }
            self.give_back_reservation();
            o.reply.send(ServerFrame::error(o.reply.reference.clone(), refusal));
            ctx.stop();
        }
    }

    fn try_open(&mut self, o: &mut Opening, ctx: &mut Context<Self>) -> Result<(), Refusal> {
        self.app.webhooks.announce(None, &self.conv).map_err(internal_error)?;
        self.app.webhooks.announce_left(&self.conv, &o.draft.text).map_err(internal_error)?;
        let store = &self.app.store;
        store.keep_customer(&self.customer).map_err(internal_error)?;
        let (record, revision) = (&self.conv, &mut self.revision);
        let opened = match std::mem::take(&mut o.counted_as_starting) {
            // Stored under the hub's lock: from now on the store counts it.
            true => self.app.hub.end_start(record.customer, || super::save(store, revision, record)),
            false => super::save(store, revision, record),
        }
        .map_err(internal_error)?;
        if let Some(id) = &o.draft.client_msg_id {
            store.record_start(self.conv.customer, id, self.id()).map_err(internal_error)?;
        }
        self.rev = 1;
        if let Some(expert) = &o.pushed_by {
            let frame = ServerFrame::PushChat { conversation_id: self.id(), expert: expert.clone() }.encode();
            self.outbox.push(opened, super::Outgoing::Customer { frame, except: None });
        }
        let draft = Draft {
            author: o.draft.author.clone(),
            text: o.draft.text.clone(),
            internal: false,
            attachments: Vec::new(),
            client_msg_id: o.draft.client_msg_id.clone(),
        };
        let (mut ticket, message) = self.append(draft, Some(&o.reply))?;
        let body = match o.pushed_by {
            Some(_) => AckBody::Pushed { conversation_id: self.id() },
            None => AckBody::Started { conversation_id: self.id(), message },
        };
        self.ack(&o.reply, body, Some(ticket));
        if let Some(greeting) = o.greeting.as_ref().filter(|g| !g.is_empty()) {
            let bot = Author { kind: AuthorKind::Bot, id: None, name: None };
            ticket = self.append(Draft::new(bot, greeting.as_str()), None)?.0;
        }
        let track = self.track(ctx);
        self.outbox.push(ticket, super::Outgoing::Router(Box::new(track)));
        self.arm_timer(ctx);
        Ok(())
    }

    fn post(&mut self, p: &Post, ctx: &mut Context<Self>) -> Result<(), Refusal> {
        self.admit(&p.from)?;
        let owner_available = self.conv.owner.as_ref().is_some_and(|o| self.app.hub.is_available(o.id));
        let (event, author) = rules::message(&p.from, p.internal, &self.customer, owner_available)?;
        if let Some(seq) = self.sent.earlier(&author, p.client_msg_id.as_deref()) {
            let message = MessageJson::of(self.id(), &self.stored_message(seq)?);
            let body = match p.starting {
                true => AckBody::Started { conversation_id: self.id(), message },
                false => AckBody::Message { message },
            };
            // Behind whatever is still unflushed, that earlier message perhaps among it.
            self.ack(&p.reply, body, None);
            return Ok(());
        }
        self.said.check(&p.from, p.internal, p.force, &p.text)?;
        self.apply(&event, ctx)?;
        let (ticket, message) = self.append(
            Draft {
                author,
                text: p.text.clone(),
                internal: p.internal,
                attachments: self.attached(&p.attachments)?,
                client_msg_id: p.client_msg_id.clone(),
            },
            Some(&p.reply),
        )?;
        self.ack(&p.reply, AckBody::Message { message }, Some(ticket));
        Ok(())
    }

    fn act(&mut self, a: &Act, ctx: &mut Context<Self>) -> Result<(), Refusal> {
        let expert = a.expert;
        // Offers and claims answer for themselves (`conflict` once gone); everything else is
        // for those who may read the chat.
        if !matches!(a.action, ExpertAction::Accept | ExpertAction::Decline | ExpertAction::Claim { .. }) {
            self.admit(&Party::Expert { id: expert, name: a.name.clone() })?;
        }
        if let ExpertAction::Transfer { to, note } = &a.action {
            return self.transfer(a, to, note.clone(), ctx);
        }
        if let ExpertAction::Handoff { category, note } = &a.action {
            return self.handoff(a, category.clone(), note.clone(), ctx);
        }
        let event = rules::action(&a.action, expert, &a.name, self.claim_certification())?;
        if let ExpertAction::Invite { name, note, .. } = &a.action {
            return self.invite(a, &event, name, note.as_deref(), ctx);
        }
        let ticket = self.apply(&event, ctx)?;
        let body = match a.action {
            ExpertAction::Accept => AckBody::Accepted {
                conversation: self.view(true).map_err(internal_error)?,
                tools: self.tools(),
            },
            ExpertAction::Claim { .. } => {
                crate::metrics::claim();
                AckBody::Claimed {
                    conversation: self.view(true).map_err(internal_error)?,
                    attachments: self.attachments().map_err(internal_error)?,
                    tools: self.tools(),
                }
            }
            _ => AckBody::Empty {},
        };
        self.ack(&a.reply, body, ticket);
        Ok(())
    }

    /// Hands the chat over. The note is kept in the transcript as an internal note, written
    /// only once the transfer is known to be allowed.
    fn transfer(
        &mut self,
        a: &Act,
        to: &TransferTarget,
        note: Option<String>,
        ctx: &mut Context<Self>,
    ) -> Result<(), Refusal> {
        let destination = match to {
            TransferTarget::Expert { .. } => Destination { category: None, receivers_certified: true },
            TransferTarget::Category(id) => self.destination(id)?,
        };
        let to = rules::transfer(to, self.claim_certification(), destination)?;
        let event = Event::Transfer { from: a.expert, to, note: note.clone() };
        lifecycle::step(&self.conv, &event, Timestamp::now(), &self.app.policy)?;
        if let Some(note) = note.filter(|n| !n.trim().is_empty()) {
            let author =
                Author { kind: AuthorKind::Expert, id: Some(a.expert.0), name: Some(a.name.clone()) };
            let draft = Draft { internal: true, ..Draft::new(author, format!("Transfer note: {note}")) };
            self.append(draft, None)?;
        }
        let ticket = self.apply(&event, ctx)?;
        self.ack(&a.reply, AckBody::Empty {}, ticket);
        Ok(())
    }

    /// A category a chat is sent to, as the rules check it.
    fn destination(&self, category: &str) -> Result<Destination, Refusal> {
        Ok(Destination {
            category: self.app.config.category(category).map(|_| self.app.config.style_of(category)),
            receivers_certified: self.certified_receivers(category).map_err(internal_error)?,
        })
    }

    /// A bot hands its chat to humans (PRODUCT.md v1.1, "Bots"): queued in `category` (its
    /// own unless named) with the whole transcript; the note is kept as the bot's internal
    /// note, which the expert who accepts reads with the transcript, like a transfer note.
    fn handoff(
        &mut self,
        a: &Act,
        category: Option<String>,
        note: Option<String>,
        ctx: &mut Context<Self>,
    ) -> Result<(), Refusal> {
        let category = category.unwrap_or_else(|| self.conv.category.clone());
        let destination = self.destination(&category)?;
        let target = TransferTarget::Category(category);
        let lifecycle::TransferTo::Category { id, style } =
            rules::transfer(&target, self.claim_certification(), destination)?
        else {
            return Err(Refusal::new(ErrorCode::Internal, "a handoff goes to a category"));
        };
        let event = Event::Handoff { bot: a.expert, category: id, style };
        let note = note.filter(|n| !n.trim().is_empty()).map(|note| {
            let author = Author { kind: AuthorKind::Bot, id: Some(a.expert.0), name: Some(a.name.clone()) };
            Draft::new(author, format!("Handoff note: {note}"))
        });
        self.apply_with_note(a, &event, note, ctx)
    }

    /// Applies `event` (a handoff, an invite) with `note` kept in the transcript before it as
    /// an internal note, then acks. The event is decided first, so a refused one leaves no
    /// note behind.
    pub(super) fn apply_with_note(
        &mut self,
        a: &Act,
        event: &Event,
        note: Option<Draft>,
        ctx: &mut Context<Self>,
    ) -> Result<(), Refusal> {
        lifecycle::step(&self.conv, event, Timestamp::now(), &self.app.policy)?;
        if let Some(note) = note {
            self.append(Draft { internal: true, ..note }, None)?;
        }
        let ticket = self.apply(event, ctx)?;
        self.ack(&a.reply, AckBody::Empty {}, ticket);
        Ok(())
    }

    /// Certification travels with the chat: a 1-to-1 chat may go to `category` only when
    /// everyone who could receive it there holds its certification (there, a claim category
    /// lists to its certified experts; an offer category offers to those who serve it).
    fn certified_receivers(&self, category: &str) -> Result<bool, StoreError> {
        let Some(needed) = self.claim_certification() else { return Ok(true) };
        let listed_by = self.app.config.claim_certification(category);
        let experts = self.app.store.experts()?;
        // A bot answers new chats only: it never receives one that was sent somewhere.
        let receivers = experts.iter().filter(|e| !e.removed && !e.bot).filter(|e| match listed_by {
            Some(cert) => e.certifications.iter().any(|c| c == cert),
            None => e.categories.iter().any(|c| c == category),
        });
        Ok(access::all_certified(needed, receivers.map(|e| e.certifications.as_slice())))
    }

    /// Carries out the router's decision (an offer, a bot's take) made against `at_rev`. One
    /// made against an older state is void: the router already has, or will get, the newer
    /// snapshot and routes again from it; a refused one is told back to it the same way.
    fn routed(&mut self, at_rev: u64, event: &Event, ctx: &mut Context<Self>) {
        if at_rev != self.rev {
            return;
        }
        if let Err(r) = self.apply(event, ctx) {
            tracing::debug!(conversation = %self.id(), refusal = %r, "routing refused");
            let track = self.track(ctx);
            self.app.router.do_send(track);
        }
    }

    fn presence(&mut self, online: bool, ctx: &mut Context<Self>) {
        if let Err(r) = self.apply(&Event::CustomerPresence { online }, ctx) {
            tracing::error!(conversation = %self.id(), refusal = %r, "cannot record customer presence");
        }
    }

    fn customer_act(&mut self, a: &CustomerAct, ctx: &mut Context<Self>) -> Result<(), Refusal> {
        self.admit(&Party::Customer(a.customer))?;
        let event = match &a.action {
            CustomerAction::End => Event::CustomerEnd { office_hours_open: self.app.office_hours_open() },
            CustomerAction::Rate { score, comment } => {
                Event::Rate { score: *score, comment: comment.clone() }
            }
        };
        let ticket = self.apply(&event, ctx)?;
        self.ack(&a.reply, AckBody::Empty {}, ticket);
        Ok(())
    }

    /// Message `seq` of the transcript, read back to answer a resent frame. A resend follows
    /// its first sending closely, so the messages read after it are few.
    fn stored_message(&self, seq: u64) -> Result<StoredMessage, Refusal> {
        let after = self.app.store.transcript(self.id(), seq.saturating_sub(1)).map_err(internal_error)?;
        match after.into_iter().next().filter(|m| m.seq == seq) {
            Some(m) => Ok(m),
            None => {
                Err(internal_error(StoreError::Corrupt(format!("message {seq} of {} is missing", self.id()))))
            }
        }
    }

    /// The files a message refers to; each must have been uploaded to this conversation.
    fn attached(&self, ids: &[AttachmentId]) -> Result<Vec<AttachmentRef>, Refusal> {
        ids.iter()
            .map(|id| match self.app.store.attachment(*id).map_err(internal_error)? {
                Some(a) if a.conversation == self.id() => Ok(a.summary),
                _ => Err(Refusal::new(
                    ErrorCode::BadRequest,
                    format!("no attachment {id} in this conversation"),
                )),
            })
            .collect()
    }

    /// Every file attached to this conversation.
    pub(super) fn attachments(&self) -> Result<Vec<AttachmentView>, StoreError> {
        Ok(self
            .app
            .store
            .attachments_of(self.id())?
            .iter()
            .map(|a| AttachmentView::new(&a.summary))
            .collect())
    }

    fn answer(&mut self, reply: &ReplyTo, result: Result<(), Refusal>) {
        if let Err(refusal) = result {
            self.refuse(reply, refusal);
        }
    }

    /// The one access rule for this conversation: whoever may not read it is told it does
    /// not exist.
    fn admit(&self, viewer: &Party) -> Result<(), Refusal> {
        match self.app.may_read(&self.conv, viewer.into()) {
            Ok(true) => Ok(()),
            Ok(false) => Err(not_found()),
            Err(e) => Err(internal_error(e)),
        }
    }

    fn sync(&mut self, s: &Sync) -> Result<(), Refusal> {
        self.admit(&s.viewer)?;
        let for_expert = matches!(s.viewer, Party::Expert { .. });
        let frames = super::replay(
            &self.app.store,
            self.id(),
            s.after_seq,
            self.outbox.delivered_seq(),
            for_expert,
            s.reply.reference.clone(),
        )
        .map_err(internal_error)?;
        for frame in frames {
            s.reply.session.do_send(Deliver(frame));
        }
        Ok(())
    }

    fn signal(&mut self, s: &Signal) -> Result<(), Refusal> {
        self.admit(&s.from)?;
        let id = self.id();
        let frame = match s.kind {
            SignalKind::Typing(on) => ServerFrame::Typing { conversation_id: id, on },
            SignalKind::Read(seq) => ServerFrame::Read { conversation_id: id, seq },
        }
        .encode();
        match &s.from {
            Party::Customer(_) => {
                if let Some(expert) = self.experts_in_view() {
                    self.app.hub.to_expert(expert, &frame, None);
                }
            }
            Party::Expert { id, .. } if self.conv.owned_by(*id) => {
                self.app.hub.to_customer(self.conv.customer, &frame, None);
            }
            _ => return Err(forbidden()),
        }
        if s.reply.reference.is_some() {
            self.reply(&s.reply, ServerFrame::ack(s.reply.reference.clone(), AckBody::Empty {}));
        }
        Ok(())
    }
}

impl Handler<Post> for ConversationActor {
    type Result = ();
    fn handle(&mut self, m: Post, ctx: &mut Context<Self>) {
        let result = self.post(&m, ctx);
        self.answer(&m.reply, result);
    }
}

impl Handler<Act> for ConversationActor {
    type Result = ();
    fn handle(&mut self, m: Act, ctx: &mut Context<Self>) {
        self.settling = m.reservation;
        let result = self.act(&m, ctx);
        self.give_back_reservation();
        self.answer(&m.reply, result);
    }
}

impl Handler<Sync> for ConversationActor {
    type Result = ();
    fn handle(&mut self, m: Sync, _: &mut Context<Self>) {
        let result = self.sync(&m);
        self.answer(&m.reply, result);
    }
}

impl Handler<Signal> for ConversationActor {
    type Result = ();
    fn handle(&mut self, m: Signal, _: &mut Context<Self>) {
        let result = self.signal(&m);
        self.answer(&m.reply, result);
    }
}

impl Handler<CustomerAct> for ConversationActor {
    type Result = ();
    fn handle(&mut self, m: CustomerAct, ctx: &mut Context<Self>) {
        let result = self.customer_act(&m, ctx);
        self.answer(&m.reply, result);
    }
}

impl Handler<CustomerPresence> for ConversationActor {
    type Result = ();
    fn handle(&mut self, m: CustomerPresence, ctx: &mut Context<Self>) {
        self.presence(m.online, ctx);
    }
}

impl Handler<Erase> for ConversationActor {
    type Result = ();
    fn handle(&mut self, Erase { done }: Erase, ctx: &mut Context<Self>) {
        self.erasing = true;
        match self.apply(&Event::Erase, ctx) {
            Ok(Some(ticket)) => {
                self.outbox.push(ticket, super::Outgoing::Gone(done));
            }
            // Over already: nothing more to write, and nothing queued may go out now.
            Ok(None) => {
                self.app.hub.remove_conversation(self.id(), &ctx.address());
                ctx.stop();
                let _ = done.send(Ok(()));
            }
            Err(refusal) => {
                let _ = done.send(Err(refusal));
            }
        }
    }
}

impl Handler<PageChanged> for ConversationActor {
    type Result = ();
    fn handle(&mut self, PageChanged(page): PageChanged, _: &mut Context<Self>) {
        if self.conv.status.is_terminal() || self.conv.page.as_ref() == Some(&page) {
            return;
        }
        self.conv.page = Some(page.clone());
        match super::save(&self.app.store, &mut self.revision, &self.conv) {
            Ok(ticket) => {
                if let Some(expert) = self.experts_in_view() {
                    let frame =
                        ServerFrame::Page { conversation_id: self.id(), url: page.url, title: page.title }
                            .encode();
                    self.outbox.push(ticket, super::Outgoing::Expert { expert, frame, except: None });
                }
            }
            Err(e) => tracing::error!(conversation = %self.id(), error = %e, "cannot store page"),
        }
    }
}

impl Handler<MakeOffer> for ConversationActor {
    type Result = ();
    fn handle(&mut self, m: MakeOffer, ctx: &mut Context<Self>) {
        self.routed(m.at_rev, &Event::Offer { expert: m.expert }, ctx);
    }
}

impl Handler<BotTake> for ConversationActor {
    type Result = ();
    fn handle(&mut self, m: BotTake, ctx: &mut Context<Self>) {
        self.routed(m.at_rev, &Event::BotTake { bot: m.bot, name: m.name }, ctx);
    }
}

impl Handler<ShowOffer> for ConversationActor {
    type Result = ();
    fn handle(&mut self, m: ShowOffer, _: &mut Context<Self>) {
        let Some(offer) = self.conv.offer.filter(|o| o.expert == m.expert) else { return };
        if let Some(frame) = self.offer_frame(offer.expires_at) {
            let _ = m.to.try_send(Deliver(frame));
        }
    }
}

impl Handler<Reroute> for ConversationActor {
    type Result = ();
    fn handle(&mut self, m: Reroute, ctx: &mut Context<Self>) {
        if let Err(r) = self.apply(&Event::OwnerRemoved { expert: m.expert }, ctx) {
            tracing::warn!(conversation = %self.id(), refusal = %r, "cannot re-route from a removed expert");
        }
    }
}

impl Handler<WithdrawOffer> for ConversationActor {
    type Result = ();
    fn handle(&mut self, m: WithdrawOffer, ctx: &mut Context<Self>) {
        if let Err(r) = self.apply(&Event::WithdrawOffer { expert: m.expert }, ctx) {
            tracing::warn!(conversation = %self.id(), refusal = %r, "offer withdrawal failed");
        }
    }
}

impl Handler<QueuePosition> for ConversationActor {
    type Result = ();
    fn handle(&mut self, m: QueuePosition, _: &mut Context<Self>) {
        if self.conv.status.is_waiting() {
            let QueuePosition { position, estimated_wait_ms } = m;
            let frame =
                ServerFrame::Queue { conversation_id: self.id(), position, estimated_wait_ms }.encode();
            self.app.hub.to_customer(self.conv.customer, &frame, None);
        }
    }
}
