//! `/ws/expert`: one `ExpertSession` actor per console connection. It authenticates with a
//! login token, tells the router the expert is online, and acts on conversations directly.

use std::rc::Rc;

use actix::prelude::*;
use actix_web::{web, HttpRequest, HttpResponse};
use actix_web_actors::ws;

use super::customer::send_or_busy;
use super::{
    ack_when_durable, check_message, check_text, close, refuse, session_plumbing, unauthorized, Gateway,
    Link, Phase, Session, Target,
};
use crate::access::{self, Viewer};
use crate::accounts;
use crate::app::AppState;
use crate::clock::Timestamp;
use crate::conversation::{internal_error, replay, ConversationActor, Draft, Opening};
use crate::domain::{ErrorCode, Refusal};
use crate::hub::SessionHandle;
use crate::ids::{ConversationId, CustomerId, ExpertId};
use crate::lifecycle;
use crate::messages::*;
use crate::protocol::{self, AckBody, ExpertFrame, Ref, ServerFrame};
use crate::router::{Purpose, ReservationId};
use crate::store::model::{Author, AuthorKind, Conversation, Customer, Expert, Owner};
use crate::store::{Store, StoreError};
use crate::views;
use crate::views::{CategoryView, ConversationView, ExpertBrief, HistoryEntry, MessageView};

pub async fn connect(
    req: HttpRequest,
    stream: web::Payload,
    app: web::Data<AppState>,
) -> actix_web::Result<HttpResponse> {
    super::upgrade(&req, stream, &app, |link, app| ExpertSession {
        link,
        conversations: Gateway::new(app.clone()),
        app,
        phase: Phase::AwaitingHello,
    })
}

pub struct ExpertSession {
    app: AppState,
    link: Link,
    phase: Phase<Identified>,
    /// The conversations this console acts on.
    conversations: Gateway,
}

/// Whom a console serves once `hello` is accepted.
pub struct Identified {
    expert: Expert,
    /// The login token the session was opened with, checked again when tokens are revoked.
    token: String,
}

impl Actor for ExpertSession {
    type Context = ws::WebsocketContext<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        let app = self.app.clone();
        super::start_session(self, ctx, &app.config);
    }

    fn stopped(&mut self, _: &mut Self::Context) {
        if let Some(me) = self.phase.ready() {
            let id = me.expert.id;
            self.app.hub.remove_expert_session(id, self.link.session_id);
            self.app.router.do_send(ExpertDisconnected { expert: id });
        }
    }
}

session_plumbing!(ExpertSession);

impl Session for ExpertSession {
    type Frame = ExpertFrame;
    type Identity = Identified;

    fn link(&mut self) -> &mut Link {
        &mut self.link
    }

    fn phase(&self) -> &Phase<Identified> {
        &self.phase
    }

    fn disconnect(&mut self, m: Disconnect, ctx: &mut Self::Context) {
        if let Disconnect::Close { code, reason } = m {
            return close(ctx, code, reason);
        }
        // A logout, password change or removal: stay only while this token still holds.
        let still_valid = self.phase.ready().is_some_and(|me| {
            let now = accounts::expert_for_token(&self.app.store, &me.token);
            matches!(now, Ok(Some(e)) if e.id == me.expert.id)
        });
        if !still_valid {
            refuse(ctx, None, ErrorCode::Unauthorized, "your session has ended; log in again");
            close(ctx, ws::CloseCode::Policy, "token revoked");
        }
    }

    fn greet(&mut self, reference: Option<Ref>, frame: ExpertFrame, ctx: &mut Self::Context) {
        match frame {
            ExpertFrame::Hello { token } => self.hello(reference, &token, ctx),
            _ => unauthorized(ctx, reference, "say hello first"),
        }
    }

    fn dispatch(
        &mut self,
        me: &Identified,
        frame: ExpertFrame,
        reply: &ReplyTo,
        ctx: &mut Self::Context,
    ) -> Result<(), Refusal> {
        self.answer(&me.expert, frame, reply, ctx)
    }
}

impl ExpertSession {
    fn hello(&mut self, reference: Option<Ref>, token: &str, ctx: &mut ws::WebsocketContext<Self>) {
        let expert = match accounts::expert_for_token(&self.app.store, token) {
            Ok(Some(e)) => e,
            Ok(None) => return unauthorized(ctx, reference, "unknown or expired token"),
            Err(e) => {
                let r = internal_error(e);
                refuse(ctx, reference, r.code, &r.message);
                return close(ctx, ws::CloseCode::Error, "internal error");
            }
        };
        let handle = SessionHandle::new(self.link.session_id, ctx.address());
        self.app.hub.add_expert_session(expert.id, handle);
        self.phase = Phase::Ready(Rc::new(Identified { expert: expert.clone(), token: token.to_owned() }));
        super::hello_done(&mut self.link, ctx);
        // Waiting here holds back offers the connection itself triggers, so `welcome`
        // is always the first frame the console sees.
        let connected = self.app.router.send(ExpertConnected { expert: expert.clone() });
        ctx.wait(connected.into_actor(self).map(move |answer, act, ctx| {
            let Ok(answer) = answer else {
                refuse(ctx, reference, ErrorCode::Internal, "routing is unavailable");
                return close(ctx, ws::CloseCode::Error, "internal error");
            };
            let summaries = act.summaries(&answer.conversations, owned_view).and_then(|conversations| {
                Ok((conversations, act.summaries(&answer.claimable, views::claim_summary)?))
            });
            // Offers standing for this expert are shown again, after the welcome: an offer sent
            // only to a socket this one replaces would lapse unseen and count as a miss.
            for id in &answer.offers {
                if let Ok(Some(addr)) = act.app.conversation(*id) {
                    addr.do_send(ShowOffer { expert: expert.id, to: ctx.address().recipient() });
                }
            }
            match summaries {
                Ok((conversations, claimable)) => {
                    ctx.text(
                        ServerFrame::ExpertWelcome {
                            reference,
                            expert: ExpertBrief { id: expert.id.to_string(), name: expert.name.clone() },
                            presence: answer.presence,
                            conversations,
                            claimable,
                            categories: act.app.config.categories.iter().map(CategoryView::from).collect(),
                            max_attachment_bytes: act.app.config.limits.max_attachment_bytes,
                        }
                        .encode(),
                    );
                    // Reconnects lose nothing: the consults this expert is on, after the welcome.
                    match super::consult::open_consults(&act.app, expert.id) {
                        Ok(frames) => frames.into_iter().for_each(|f| ctx.text(f)),
                        Err(e) => tracing::error!(error = %e, "cannot list an expert's consults"),
                    }
                }
                Err(e) => {
                    let r = internal_error(e);
                    refuse(ctx, reference, r.code, &r.message);
                }
            }
        }));
    }

    fn summaries(
        &self,
        ids: &[ConversationId],
        view: fn(&Store, &Conversation) -> Result<ConversationView, StoreError>,
    ) -> Result<Vec<ConversationView>, StoreError> {
        let store = &self.app.store;
        let mut out = Vec::with_capacity(ids.len());
        for &id in ids {
            if let Some(c) = store.conversation(id)? {
                out.push(view(store, &c)?);
            }
        }
        Ok(out)
    }

    fn answer(
        &mut self,
        me: &Expert,
        frame: ExpertFrame,
        reply: &ReplyTo,
        ctx: &mut ws::WebsocketContext<Self>,
    ) -> Result<(), Refusal> {
        let (id, name) = (me.id, me.name.clone());
        let act =
            |action| Act { expert: id, name: name.clone(), action, reservation: None, reply: reply.clone() };
        match frame {
            ExpertFrame::Hello { .. } => Err(Refusal::new(ErrorCode::BadRequest, "hello was already said")),
            ExpertFrame::Presence { status } => {
                self.app.router.do_send(SetPresence { expert: id, presence: status });
                reply.send(ServerFrame::ack(reply.reference.clone(), AckBody::Presence { presence: status }));
                Ok(())
            }
            ExpertFrame::Accept { conversation_id } => {
                self.act(&conversation_id, act(ExpertAction::Accept), true)
            }
            ExpertFrame::Decline { conversation_id } => {
                self.act(&conversation_id, act(ExpertAction::Decline), true)
            }
            ExpertFrame::SetStatus { conversation_id, status } => {
                self.act(&conversation_id, act(ExpertAction::SetStatus(status)), false)
            }
            ExpertFrame::End { conversation_id } => self.act(&conversation_id, act(ExpertAction::End), false),
            ExpertFrame::Leave { conversation_id } => {
                match self.conversations.target(Viewer::Expert(id), &conversation_id, false)? {
                    Target::Live(addr) => send_or_busy(&addr, act(ExpertAction::Leave)),
                    // A closed conversation is already gone from the console.
                    Target::Ended(_) => {
                        reply.send(ServerFrame::ack(reply.reference.clone(), AckBody::Empty {}));
                        Ok(())
                    }
                }
            }
            ExpertFrame::Send { conversation_id, text, internal, client_msg_id, force, attachments } => {
                check_message(&text, &attachments, self.app.config.limits.max_message_bytes)?;
                let attachments = protocol::attachment_ids(&attachments)?;
                let from = match me.bot {
                    true => Party::Bot { id, name },
                    false => Party::Expert { id, name },
                };
                let post = Post {
                    from,
                    text,
                    internal,
                    client_msg_id,
                    starting: false,
                    force,
                    attachments,
                    reply: reply.clone(),
                };
                match self.conversations.target(Viewer::Expert(id), &conversation_id, false)? {
                    Target::Live(addr) => send_or_busy(&addr, post),
                    Target::Ended(_) => Err(closed()),
                }
            }
            ExpertFrame::Typing { conversation_id, on } => {
                self.signal(me, &conversation_id, SignalKind::Typing(on), reply)
            }
            ExpertFrame::Read { conversation_id, seq } => {
                self.signal(me, &conversation_id, SignalKind::Read(seq), reply)
            }
            ExpertFrame::Sync { conversation_id, after_seq } => {
                match self.conversations.target(Viewer::Expert(id), &conversation_id, false)? {
                    Target::Live(addr) => {
                        let viewer = Party::Expert { id, name };
                        send_or_busy(&addr, Sync { viewer, after_seq, reply: reply.clone() })
                    }
                    Target::Ended(c) => {
                        let store = &self.app.store;
                        let upto = store.last_seq(c.id).map_err(internal_error)?;
                        for f in replay(store, c.id, after_seq, upto, true, reply.reference.clone())
                            .map_err(internal_error)?
                        {
                            ctx.text(f);
                        }
                        Ok(())
                    }
                }
            }
            ExpertFrame::Claim { conversation_id } => {
                let certifications = me.certifications.clone();
                let claim = act(ExpertAction::Claim { certifications });
                self.reserved_act(&conversation_id, id, Purpose::Claim, claim, ctx)
            }
            ExpertFrame::Transfer { conversation_id, to_expert, to_category, note } => {
                match (to_expert, to_category) {
                    (Some(e), None) => {
                        let (receiver, to) = self.transfer_target(&e)?;
                        let transfer = act(ExpertAction::Transfer { to, note });
                        self.reserved_act(&conversation_id, receiver, Purpose::Transfer, transfer, ctx)
                    }
                    (None, Some(c)) => {
                        let to = TransferTarget::Category(c);
                        self.act(&conversation_id, act(ExpertAction::Transfer { to, note }), false)
                    }
                    _ => Err(Refusal::new(ErrorCode::BadRequest, "name either to_expert or to_category")),
                }
            }
            ExpertFrame::PushChat { customer_id, text } => self.push_chat(me, &customer_id, text, reply, ctx),
            ExpertFrame::History { customer_id } => self.history(id, &customer_id, reply, ctx),
            ExpertFrame::Handoff { .. } if !me.bot => {
                Err(Refusal::new(ErrorCode::Forbidden, "only a bot hands a chat off"))
            }
            ExpertFrame::Handoff { conversation_id, category, note } => {
                self.act(&conversation_id, act(ExpertAction::Handoff { category, note }), false)
            }
            ExpertFrame::Invite { conversation_id, expert_id, note } => {
                let specialist = super::consult::invitee(&self.app.store, &expert_id)?;
                let invite = ExpertAction::Invite {
                    specialist: specialist.id,
                    name: specialist.name,
                    certifications: specialist.certifications,
                    note,
                };
                self.act(&conversation_id, act(invite), false)
            }
            ExpertFrame::EndConsult { conversation_id, expert_id } => {
                let specialist = expert_id.as_deref().map(super::consult::expert_id).transpose()?;
                self.act(&conversation_id, act(ExpertAction::EndConsult { specialist }), false)
            }
        }
    }

    fn transfer_target(&self, raw: &str) -> Result<(ExpertId, TransferTarget), Refusal> {
        let not_found = || Refusal::new(ErrorCode::NotFound, "no such expert");
        let id: ExpertId = raw.parse().map_err(|_| not_found())?;
        let expert = self.app.store.expert(id).map_err(internal_error)?.ok_or_else(not_found)?;
        if expert.bot {
            // A bot answers new chats first; once a human holds a chat, no bot talks in it.
            return Err(Refusal::new(ErrorCode::Forbidden, "a chat is not transferred to a bot"));
        }
        Ok((id, TransferTarget::Expert { id, name: expert.name, certifications: expert.certifications }))
    }

    /// Opens a chat with an online customer: open at once, owned by this expert.
    fn push_chat(
        &mut self,
        me: &Expert,
        customer_id: &str,
        text: String,
        reply: &ReplyTo,
        ctx: &mut ws::WebsocketContext<Self>,
    ) -> Result<(), Refusal> {
        check_text(&text, self.app.config.limits.max_message_bytes)?;
        let not_found = || Refusal::new(ErrorCode::NotFound, "no such customer");
        let customer_id: CustomerId = customer_id.parse().map_err(|_| not_found())?;
        if !self.app.hub.customer_online(customer_id) {
            return Err(Refusal::new(ErrorCode::Unavailable, "the customer is not online"));
        }
        // A visitor who has not chatted yet has no stored record: opening the chat stores it.
        let customer =
            self.app.store.customer_or_anonymous(customer_id, Timestamp::now()).map_err(internal_error)?;
        let expert = me.clone();
        let reply = reply.clone();
        let reserve = self.app.router.send(Reserve { expert: expert.id, purpose: Purpose::Push });
        ctx.spawn(reserve.into_actor(self).map(move |answer, act, _| {
            let opened = match answer {
                Ok(Ok(reservation)) => act.open_pushed(expert, customer, text, reservation, &reply),
                Ok(Err(refusal)) => Err(refusal),
                Err(_) => Err(Refusal::new(ErrorCode::Internal, "routing is unavailable")),
            };
            if let Err(refusal) = opened {
                reply.send(ServerFrame::error(reply.reference.clone(), refusal));
            }
        }));
        Ok(())
    }

    /// Opens the pushed chat in the slot reserved for it; the conversation settles the
    /// reservation, or it is given back here if the chat cannot be opened.
    fn open_pushed(
        &mut self,
        expert: Expert,
        customer: Customer,
        text: String,
        reservation: ReservationId,
        reply: &ReplyTo,
    ) -> Result<(), Refusal> {
        let config = &self.app.config;
        let category = expert
            .categories
            .iter()
            .find(|c| config.category(c).is_some())
            .cloned()
            .unwrap_or_else(|| config.categories[0].id.clone());
        let now = Timestamp::now();
        let id = match self.app.store.next_id() {
            Ok(id) => ConversationId(id),
            Err(e) => {
                self.app.router.do_send(Settle(reservation));
                return Err(internal_error(e));
            }
        };
        let owner = Owner { id: expert.id, name: expert.name.clone() };
        let mut conv = Conversation::new(id, customer.id, category.clone(), config.style_of(&category), now);
        lifecycle::pushed(&mut conv, owner, now);
        let author =
            Author { kind: AuthorKind::Expert, id: Some(expert.id.0), name: Some(expert.name.clone()) };
        let opening = Opening {
            draft: Draft::new(author, text),
            greeting: None,
            pushed_by: Some(ExpertBrief { id: expert.id.to_string(), name: expert.name }),
            reservation: Some(reservation),
            counted_as_starting: false,
            reply: reply.clone(),
        };
        let addr = ConversationActor::create(self.app.clone(), conv, customer, opening);
        self.app.hub.add_conversation(id, addr.clone());
        self.conversations.remember(id, addr);
        Ok(())
    }

    /// A customer's conversations, for an expert serving that customer now.
    fn history(
        &mut self,
        me: ExpertId,
        customer_id: &str,
        reply: &ReplyTo,
        ctx: &mut ws::WebsocketContext<Self>,
    ) -> Result<(), Refusal> {
        let customer_id: CustomerId =
            customer_id.parse().map_err(|_| Refusal::new(ErrorCode::NotFound, "no such customer"))?;
        let store = &self.app.store;
        let all = store.conversations_of_customer(customer_id).map_err(internal_error)?;
        if !access::serves(me, &all) {
            return Err(Refusal::new(ErrorCode::Forbidden, "you are not serving this customer"));
        }
        let mut conversations = Vec::with_capacity(all.len());
        for c in &all {
            if !self.app.may_read(c, Viewer::Expert(me)).map_err(internal_error)? {
                continue;
            }
            let messages = store.transcript(c.id, 0).map_err(internal_error)?;
            conversations.push(HistoryEntry {
                id: c.id,
                status: c.status,
                category: c.category.clone(),
                started_at: c.created_at,
                ended_at: c.solved_at,
                messages: messages.iter().map(|m| MessageView::new(c.id, m)).collect(),
            });
        }
        ack_when_durable(store, reply, AckBody::History { conversations }, ctx);
        Ok(())
    }

    /// Sends an action to a live conversation. Offers are answered by the conversation
    /// itself, which knows whether the offer still stands.
    fn act(&mut self, conversation_id: &str, act: Act, offer: bool) -> Result<(), Refusal> {
        send_or_busy(&self.live(act.expert, conversation_id, offer)?, act)
    }

    /// An action that gives `receiver` the chat (a claim, a transfer by name): the router
    /// reserves a slot of theirs first, refusing when they are full or not available; the
    /// conversation then acts and settles the reservation.
    fn reserved_act(
        &mut self,
        conversation_id: &str,
        receiver: ExpertId,
        purpose: Purpose,
        mut act: Act,
        ctx: &mut ws::WebsocketContext<Self>,
    ) -> Result<(), Refusal> {
        let addr = self.live(act.expert, conversation_id, purpose == Purpose::Claim)?;
        let router = self.app.router.clone();
        let reserve = router.send(Reserve { expert: receiver, purpose });
        ctx.spawn(reserve.into_actor(self).map(move |answer, _, _| {
            let reply = act.reply.clone();
            let sent = match answer {
                Ok(Ok(id)) => {
                    act.reservation = Some(id);
                    send_or_busy(&addr, act).inspect_err(|_| router.do_send(Settle(id)))
                }
                Ok(Err(refusal)) => Err(refusal),
                Err(_) => Err(Refusal::new(ErrorCode::Internal, "routing is unavailable")),
            };
            if let Err(refusal) = sent {
                reply.send(ServerFrame::error(reply.reference.clone(), refusal));
            }
        }));
        Ok(())
    }

    /// The live actor of a conversation the expert may act on; `offer`: an offer or claim,
    /// whose end is a `conflict` rather than a closed chat.
    fn live(
        &mut self,
        me: ExpertId,
        conversation_id: &str,
        offer: bool,
    ) -> Result<Addr<ConversationActor>, Refusal> {
        match self.conversations.target(Viewer::Expert(me), conversation_id, offer)? {
            Target::Live(addr) => Ok(addr),
            Target::Ended(_) if offer => {
                Err(Refusal::new(ErrorCode::Conflict, "the offer is no longer open"))
            }
            Target::Ended(_) => Err(closed()),
        }
    }

    fn signal(
        &mut self,
        me: &Expert,
        conversation_id: &str,
        kind: SignalKind,
        reply: &ReplyTo,
    ) -> Result<(), Refusal> {
        let (id, name) = (me.id, me.name.clone());
        match self.conversations.target(Viewer::Expert(id), conversation_id, false)? {
            Target::Live(addr) => {
                send_or_busy(&addr, Signal { from: Party::Expert { id, name }, kind, reply: reply.clone() })
            }
            Target::Ended(_) => Err(closed()),
        }
    }
}

fn closed() -> Refusal {
    Refusal::new(ErrorCode::Closed, "this conversation has ended")
}

/// A chat in its owner's welcome: the summary with its consultants (`consult::owned_summary`)
/// and its SLA state, so a reloaded console, or an owner who was away when a target passed,
/// still shows the breach.
fn owned_view(store: &Store, c: &Conversation) -> Result<ConversationView, StoreError> {
    views::with_sla(store, c, super::consult::owned_summary(store, c)?)
}
