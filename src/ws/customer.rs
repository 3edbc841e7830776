//! `/ws/customer`: one `CustomerWidget` actor per widget connection. It identifies the
//! customer, then talks to each conversation actor directly; the router is never on the
//! message path.

use std::rc::Rc;

use actix::prelude::*;
use actix_web::{web, HttpRequest, HttpResponse};
use actix_web_actors::ws;

use super::{
    ack_when_durable, check_message, check_text, close, refuse, session_plumbing, unauthorized, Gateway,
    Link, Phase, Session, Target,
};
use crate::access::Viewer;
use crate::app::AppState;
use crate::auth;
use crate::clock::Timestamp;
use crate::conversation::start::{self, StartDecision, StartFacts};
use crate::conversation::{self, internal_error, replay, ConversationActor, Draft, Opening};
use crate::domain::{ErrorCode, EventKind, Page, Refusal};
use crate::hub::SessionHandle;
use crate::ids::{CallbackId, ConversationId, CustomerId};
use crate::lang::LangTag;
use crate::messages::*;
use crate::protocol::{self, AckBody, CustomerFrame, Ref, ServerFrame, UserIdentity};
use crate::store::model::{Author, Callback, Contact, Conversation, Customer};
use crate::store::StoreError;
use crate::views::{CategoryView, ConversationBrief, ExpertBrief, MessageJson};

/// How many recent conversations `welcome` lists.
const WELCOME_CONVERSATIONS: usize = 20;

pub async fn connect(
    req: HttpRequest,
    stream: web::Payload,
    app: web::Data<AppState>,
) -> actix_web::Result<HttpResponse> {
    super::upgrade(&req, stream, &app, |link, app| CustomerWidget {
        link,
        conversations: Gateway::new(app.clone()),
        app,
        phase: Phase::AwaitingHello,
        page: None,
        lang: None,
    })
}

pub struct CustomerWidget {
    app: AppState,
    link: Link,
    phase: Phase<Customer>,
    /// The page the customer is on, shown to the expert.
    page: Option<Page>,
    /// The visitor's language as `hello` stated it; chats it starts keep it.
    lang: Option<LangTag>,
    /// The conversations this widget talks to.
    conversations: Gateway,
}

impl Actor for CustomerWidget {
    type Context = ws::WebsocketContext<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        let app = self.app.clone();
        super::start_session(self, ctx, &app.config);
    }

    fn stopped(&mut self, _: &mut Self::Context) {
        let Some(c) = self.phase.ready() else { return };
        if !self.app.hub.remove_customer_session(c.id, self.link.session_id) {
            // Their last widget closed: the left-site clock of each live chat starts.
            self.tell_live_conversations(CustomerPresence { online: false });
        }
    }
}

session_plumbing!(CustomerWidget);

impl Session for CustomerWidget {
    type Frame = CustomerFrame;
    type Identity = Customer;

    fn link(&mut self) -> &mut Link {
        &mut self.link
    }

    fn phase(&self) -> &Phase<Customer> {
        &self.phase
    }

    fn greet(&mut self, reference: Option<Ref>, frame: CustomerFrame, ctx: &mut Self::Context) {
        match frame {
            CustomerFrame::Hello { visitor_token, user, page, lang } => {
                // A bad tag is the client's mistake, not an identity's: it may say hello again.
                match lang.as_deref().map(LangTag::parse).transpose() {
                    Ok(lang) => self.lang = lang,
                    Err(bad) => return refuse(ctx, reference, ErrorCode::BadRequest, &bad.to_string()),
                }
                self.hello(reference, visitor_token, user, page, ctx)
            }
            _ => unauthorized(ctx, reference, "say hello first"),
        }
    }

    fn dispatch(
        &mut self,
        me: &Customer,
        frame: CustomerFrame,
        reply: &ReplyTo,
        ctx: &mut Self::Context,
    ) -> Result<(), Refusal> {
        self.answer(me, frame, reply, ctx)
    }
}

impl CustomerWidget {
    fn hello(
        &mut self,
        reference: Option<Ref>,
        visitor_token: Option<String>,
        user: Option<UserIdentity>,
        page: Option<Page>,
        ctx: &mut ws::WebsocketContext<Self>,
    ) {
        let identified = match self.identify(visitor_token, user) {
            Ok(Some(found)) => found,
            Ok(None) => return unauthorized(ctx, reference, "the identity hash does not match"),
            Err(e) => {
                let r = internal_error(e);
                refuse(ctx, reference, r.code, &r.message);
                return close(ctx, ws::CloseCode::Error, "internal error");
            }
        };
        // Nothing here waits for a flush: an anonymous visitor's token is signed, not stored,
        // and an identified customer's record is written before anything that refers to it,
        // so the flush that makes their first chat durable covers it too.
        let (customer, token) = identified;
        self.page = page;
        let handle = SessionHandle::new(self.link.session_id, ctx.address());
        self.app.hub.add_customer_session(customer.id, handle);
        self.phase = Phase::Ready(Rc::new(customer.clone()));
        super::hello_done(&mut self.link, ctx);
        self.tell_live_conversations(CustomerPresence { online: true });
        if let Some(page) = self.page.clone() {
            // A full page load on a multi-page site: the owner follows the customer there.
            self.moved_to(page);
        }
        match self.welcome(reference.clone(), &customer, token) {
            Ok(frame) => self.send_welcome(frame, ctx),
            Err(e) => {
                let r = internal_error(e);
                refuse(ctx, reference, r.code, &r.message);
            }
        }
    }

    /// Sends `welcome`, with the estimated wait of the customer's latest queued chat asked of
    /// the router first; `wait` holds this widget's other frames until it is out, so it stays
    /// the first answer.
    fn send_welcome(&mut self, mut frame: ServerFrame, ctx: &mut ws::WebsocketContext<Self>) {
        let queued: Vec<ConversationId> = match &frame {
            ServerFrame::CustomerWelcome { conversations, .. } => {
                conversations.iter().filter(|c| c.status.is_waiting()).map(|c| c.id).collect()
            }
            _ => vec![],
        };
        if queued.is_empty() {
            return ctx.text(frame.encode());
        }
        let ask = self.app.router.send(EstimatedWaits(queued.clone()));
        ctx.wait(ask.into_actor(self).map(move |waits, _, ctx| {
            let waits = waits.unwrap_or_default();
            if let ServerFrame::CustomerWelcome { estimated_wait_ms, .. } = &mut frame {
                *estimated_wait_ms = queued.iter().rev().find_map(|c| waits.get(c).copied());
            }
            ctx.text(frame.encode());
        }));
    }

    /// Finds or creates the customer; `None` when a signed identity does not verify.
    fn identify(
        &self,
        visitor_token: Option<String>,
        user: Option<UserIdentity>,
    ) -> Result<Option<(Customer, String)>, StoreError> {
        let store = &self.app.store;
        if let Some(user) = user {
            if !auth::verify_identity(&self.app.config.server.identity_secret, &user.id, &user.hash) {
                return Ok(None);
            }
            let id = store.external_customer(&user.id, crate::ids::CustomerId(store.next_id()?))?;
            let mut customer = store.customer_or_anonymous(id, Timestamp::now())?;
            customer.external_id = Some(user.id);
            if user.name.is_some() || user.email.is_some() {
                customer.name = user.name.or(customer.name);
                customer.email = user.email.or(customer.email);
            }
            store.put_customer(&customer)?;
            // The same kind of token an anonymous visitor holds, so the REST API (their
            // conversation, attachments) works for them too.
            let token = auth::visitor_token(&store.visitor_key()?, customer.id);
            return Ok(Some((customer, token)));
        }
        let key = store.visitor_key()?;
        if let Some(token) = visitor_token {
            if let Some(id) = auth::visitor_of(&key, &token) {
                if !store.customer_erased(id)? {
                    return Ok(Some((store.customer_or_anonymous(id, Timestamp::now())?, token)));
                }
            }
        }
        // A new visitor, or a token this server did not sign (e.g. a wiped data dir) or whose
        // customer was erased.
        let id = crate::ids::CustomerId(store.next_id()?);
        Ok(Some((Customer::anonymous(id, Timestamp::now()), auth::visitor_token(&key, id))))
    }

    fn welcome(
        &mut self,
        reference: Option<Ref>,
        customer: &Customer,
        token: String,
    ) -> Result<ServerFrame, StoreError> {
        let store = &self.app.store;
        let mut conversations = store.conversations_of_customer(customer.id)?;
        let skip = conversations.len().saturating_sub(WELCOME_CONVERSATIONS);
        conversations.drain(..skip);
        let mut briefs = Vec::with_capacity(conversations.len());
        for c in &conversations {
            let expert = c.owner.as_ref().map(|o| ExpertBrief { id: o.id.to_string(), name: o.name.clone() });
            briefs.push(ConversationBrief {
                id: c.id,
                status: c.status,
                last_seq: store.last_seq(c.id)?,
                expert,
                offline: c.offline.is_some(),
            });
        }
        let config = &self.app.config;
        Ok(ServerFrame::CustomerWelcome {
            reference,
            customer_id: customer.id.to_string(),
            visitor_token: token,
            available: self.app.hub.any_expert_available(),
            office_hours_open: self.app.office_hours_open(),
            office_hours: self.app.schedule.as_ref().map(|s| s.view.clone()),
            abandon_after_ms: config.conversation.abandon_after.as_millis() as u64,
            inactivity_end_ms: config.conversation.inactivity_end.as_millis() as u64,
            customer_may_end: config.conversation.customer_may_end,
            categories: config.categories.iter().map(CategoryView::from).collect(),
            conversations: briefs,
            estimated_wait_ms: None,
            lang: config.answer_language(self.lang.as_ref()),
            max_attachment_bytes: config.limits.max_attachment_bytes,
        })
    }

    fn answer(
        &mut self,
        customer: &Customer,
        frame: CustomerFrame,
        reply: &ReplyTo,
        ctx: &mut ws::WebsocketContext<Self>,
    ) -> Result<(), Refusal> {
        let me = Party::Customer(customer.id);
        match frame {
            CustomerFrame::Hello { .. } => Err(Refusal::new(ErrorCode::BadRequest, "hello was already said")),
            CustomerFrame::Start { text, category, page, client_msg_id } => {
                self.start(customer, Asked { text, category, page, client_msg_id, offline: None }, reply)
            }
            CustomerFrame::LeaveMessage { text, name, email, category, page, client_msg_id } => {
                let offline = Some(start::contact(name, email)?);
                self.start(customer, Asked { text, category, page, client_msg_id, offline }, reply)
            }
            CustomerFrame::Send { conversation_id, text, client_msg_id, attachments } => {
                check_message(&text, &attachments, self.app.config.limits.max_message_bytes)?;
                let attachments = protocol::attachment_ids(&attachments)?;
                match self.conversations.target(Viewer::Customer(customer.id), &conversation_id, false)? {
                    Target::Live(addr) => {
                        let post = Post {
                            from: me,
                            text,
                            internal: false,
                            client_msg_id,
                            starting: false,
                            force: false,
                            attachments,
                            reply: reply.clone(),
                        };
                        send_or_busy(&addr, post)
                    }
                    Target::Ended(_) => Err(Refusal::new(ErrorCode::Closed, "this conversation has ended")),
                }
            }
            CustomerFrame::Typing { conversation_id, on } => {
                self.signal(customer.id, &conversation_id, SignalKind::Typing(on), reply)
            }
            CustomerFrame::Read { conversation_id, seq } => {
                self.signal(customer.id, &conversation_id, SignalKind::Read(seq), reply)
            }
            CustomerFrame::Page { url, title } => {
                self.moved_to(Page { url, title });
                if reply.reference.is_some() {
                    reply.send(ServerFrame::ack(reply.reference.clone(), AckBody::Empty {}));
                }
                Ok(())
            }
            CustomerFrame::Sync { conversation_id, after_seq } => {
                match self.conversations.target(Viewer::Customer(customer.id), &conversation_id, false)? {
                    Target::Live(addr) => {
                        send_or_busy(&addr, Sync { viewer: me, after_seq, reply: reply.clone() })
                    }
                    Target::Ended(c) => {
                        let store = &self.app.store;
                        let upto = store.last_seq(c.id).map_err(internal_error)?;
                        let frames = replay(store, c.id, after_seq, upto, false, reply.reference.clone())
                            .map_err(internal_error)?;
                        for f in frames {
                            ctx.text(f);
                        }
                        Ok(())
                    }
                }
            }
            CustomerFrame::End { conversation_id } => {
                match self.conversations.target(Viewer::Customer(customer.id), &conversation_id, false)? {
                    Target::Live(addr) => {
                        let act = CustomerAct {
                            customer: customer.id,
                            action: CustomerAction::End,
                            reply: reply.clone(),
                        };
                        send_or_busy(&addr, act)
                    }
                    Target::Ended(_) => Err(Refusal::new(ErrorCode::Closed, "this conversation has ended")),
                }
            }
            CustomerFrame::Rate { conversation_id, score, comment } => {
                let comment = comment.filter(|c| !c.trim().is_empty());
                if comment.as_ref().is_some_and(|c| c.len() > self.app.config.limits.max_message_bytes) {
                    return Err(Refusal::new(ErrorCode::TooLarge, "the comment is too long"));
                }
                match self.conversations.target(Viewer::Customer(customer.id), &conversation_id, false)? {
                    Target::Live(addr) => {
                        let action = CustomerAction::Rate { score, comment };
                        send_or_busy(
                            &addr,
                            CustomerAct { customer: customer.id, action, reply: reply.clone() },
                        )
                    }
                    Target::Ended(c) => self.rate_closed(*c, score, comment, reply, ctx),
                }
            }
            CustomerFrame::Callback { phone, message, category } => {
                self.callback(customer, phone, message, category, reply, ctx)
            }
        }
    }

    /// The customer is on another page: each live conversation this widget knows (all of
    /// theirs, once `hello` told them the customer is online) records it for its owner.
    fn moved_to(&mut self, page: Page) {
        for addr in self.conversations.known() {
            let _ = addr.try_send(PageChanged(page.clone()));
        }
        self.page = Some(page);
    }

    /// Sends `msg` to every live conversation of this customer.
    fn tell_live_conversations<M>(&mut self, msg: M)
    where
        M: Message<Result = ()> + Clone + Send + 'static,
        ConversationActor: Handler<M>,
    {
        let Some(customer) = self.phase.ready() else { return };
        let live = match self.app.store.conversations_of_customer(customer.id) {
            Ok(all) => all.into_iter().filter(|c| !c.status.is_terminal()),
            Err(e) => return tracing::error!(error = %e, "cannot list a customer's conversations"),
        };
        for c in live {
            if let Ok(Some(addr)) = self.app.conversation(c.id) {
                let _ = addr.try_send(msg.clone());
                self.conversations.remember(c.id, addr);
            }
        }
    }

    /// A closed conversation has no actor: the conversation layer rates its record directly.
    fn rate_closed(
        &mut self,
        c: Conversation,
        score: u8,
        comment: Option<String>,
        reply: &ReplyTo,
        ctx: &mut ws::WebsocketContext<Self>,
    ) -> Result<(), Refusal> {
        conversation::rate_closed(&self.app, &c, score, comment)?;
        ack_when_durable(&self.app.store, reply, AckBody::Empty {}, ctx);
        Ok(())
    }

    fn callback(
        &mut self,
        customer: &Customer,
        phone: String,
        message: Option<String>,
        category: Option<String>,
        reply: &ReplyTo,
        ctx: &mut ws::WebsocketContext<Self>,
    ) -> Result<(), Refusal> {
        let phone = phone.trim().to_owned();
        let valid = |c: char| c.is_ascii_digit() || " +-().".contains(c);
        if phone.chars().filter(char::is_ascii_digit).count() < 5
            || phone.len() > 40
            || !phone.chars().all(valid)
        {
            return Err(Refusal::new(
                ErrorCode::BadRequest,
                "a phone number has digits, spaces and + - ( ) only",
            ));
        }
        let message = message.filter(|m| !m.trim().is_empty());
        if message.as_ref().is_some_and(|m| m.len() > self.app.config.limits.max_message_bytes) {
            return Err(Refusal::new(ErrorCode::TooLarge, "the message is too long"));
        }
        if let Some(id) = category.as_deref().filter(|id| self.app.config.category(id).is_none()) {
            return Err(Refusal::new(ErrorCode::BadRequest, format!("unknown category {id:?}")));
        }
        let store = &self.app.store;
        store.keep_customer(customer).map_err(internal_error)?;
        let callback = Callback {
            id: CallbackId(store.next_id().map_err(internal_error)?),
            customer: customer.id,
            phone,
            message,
            category,
            created_at: Timestamp::now(),
            done_at: None,
            done_by: None,
        };
        let customer = crate::views::customer_view(store, callback.customer).map_err(internal_error)?;
        let data = serde_json::json!({ "callback": {
            "id": callback.id.to_string(), "customer": customer, "phone": callback.phone,
            "message": callback.message, "category": callback.category, "created_at": callback.created_at.rfc3339(),
        }});
        self.app.webhooks.enqueue(EventKind::CallbackRequested, data).map_err(internal_error)?;
        store.put_callback(&callback).map_err(internal_error)?;
        ack_when_durable(&self.app.store, reply, AckBody::Callback { callback_id: callback.id }, ctx);
        Ok(())
    }

    /// Opens a conversation for a `start` (a chat) or a `leave_message` (`asked.offline`).
    fn start(&mut self, customer: &Customer, asked: Asked, reply: &ReplyTo) -> Result<(), Refusal> {
        let Asked { text, category, page, client_msg_id, offline } = asked;
        let app = self.app.clone();
        let (config, store) = (&app.config, &app.store);
        check_text(&text, config.limits.max_message_bytes)?;
        let started_before = match &client_msg_id {
            Some(client_id) => store.started_conversation(customer.id, client_id).map_err(internal_error)?,
            None => None,
        };
        let facts = StartFacts {
            category: category.as_deref(),
            started_before,
            schedule: app.schedule.as_deref(),
            now: Timestamp::now(),
            leaving_message: offline.is_some(),
            experts_available: app.hub.any_expert_available(),
        };
        let open_chats = || {
            let all = store.conversations_of_customer(customer.id)?;
            Ok::<_, StoreError>(all.iter().filter(|c| !c.status.is_terminal()).count())
        };
        let take_slot = |max| app.hub.begin_start(customer.id, max, open_chats).map_err(internal_error);
        let (category, style) = match start::decide(config, facts, take_slot)? {
            StartDecision::Resent(id) => {
                return self.resend_start(customer.id, id, text, client_msg_id, reply)
            }
            StartDecision::Open { category, style } => (category, style),
        };
        let customer = customer.clone();
        // From here until the actor stores the chat, it counts as starting: every way out
        // before the actor exists gives that back.
        let id = app.limiters.new_chat(self.link.ip).and_then(|()| store.next_id().map_err(internal_error));
        let id = match id {
            Ok(id) => ConversationId(id),
            Err(refusal) => {
                app.hub.end_start(customer.id, || ());
                return Err(refusal);
            }
        };
        if page.is_some() {
            self.page = page;
        }
        let now = Timestamp::now();
        let mut conv = Conversation::new(id, customer.id, category, style, now);
        conv.page = self.page.clone();
        conv.last_customer_at = Some(now);
        conv.lang = self.lang.as_ref().map(LangTag::to_string);
        // A left message is not greeted as if someone were about to answer: the widget thanks
        // the customer itself, and the answer is what they come back to.
        let greeting = match offline {
            Some(_) => None,
            None => Some(config.greeting_in(&config.answer_language(self.lang.as_ref())).to_owned()),
        };
        conv.offline = offline;
        crate::lifecycle::started(&mut conv, now, &app.policy);
        let opening = Opening {
            draft: Draft { client_msg_id, ..Draft::new(Author::customer(&customer), text) },
            greeting,
            pushed_by: None,
            reservation: None,
            counted_as_starting: true,
            reply: reply.clone(),
        };
        let addr = ConversationActor::create(app.clone(), conv, customer, opening);
        app.hub.add_conversation(id, addr.clone());
        self.conversations.remember(id, addr);
        Ok(())
    }

    /// A `start` the server has seen: answered with the conversation it opened.
    fn resend_start(
        &mut self,
        customer: CustomerId,
        id: ConversationId,
        text: String,
        client_msg_id: Option<String>,
        reply: &ReplyTo,
    ) -> Result<(), Refusal> {
        let me = Party::Customer(customer);
        match self.conversations.target(Viewer::Customer(customer), &id.to_string(), false)? {
            Target::Live(addr) => {
                let post = Post {
                    from: me,
                    text,
                    internal: false,
                    client_msg_id,
                    starting: true,
                    force: false,
                    attachments: Vec::new(),
                    reply: reply.clone(),
                };
                send_or_busy(&addr, post)
            }
            Target::Ended(c) => {
                let first = self.app.store.transcript(c.id, 0).map_err(internal_error)?;
                let message = first.first().map(|m| MessageJson::of(c.id, m));
                let message =
                    message.ok_or_else(|| Refusal::new(ErrorCode::NotFound, "no such conversation"))?;
                reply.send(ServerFrame::ack(
                    reply.reference.clone(),
                    AckBody::Started { conversation_id: c.id, message },
                ));
                Ok(())
            }
        }
    }

    fn signal(
        &mut self,
        customer: CustomerId,
        conversation_id: &str,
        kind: SignalKind,
        reply: &ReplyTo,
    ) -> Result<(), Refusal> {
        match self.conversations.target(Viewer::Customer(customer), conversation_id, false)? {
            Target::Live(addr) => {
                let from = Party::Customer(customer);
                send_or_busy(&addr, Signal { from, kind, reply: reply.clone() })
            }
            Target::Ended(_) => Err(Refusal::new(ErrorCode::Closed, "this conversation has ended")),
        }
    }
}

/// What a `start` or a `leave_message` asks for.
struct Asked {
    text: String,
    category: Option<String>,
    page: Option<Page>,
    client_msg_id: Option<String>,
    /// A left message, with the contact its customer gave; `None` for a chat.
    offline: Option<Contact>,
}

/// Hands a message to a conversation without waiting; a full mailbox is a busy server,
/// said plainly rather than queued without bound.
pub fn send_or_busy<M>(addr: &Addr<ConversationActor>, msg: M) -> Result<(), Refusal>
where
    M: Message<Result = ()> + Send + 'static,
    ConversationActor: Handler<M>,
{
    addr.try_send(msg).map_err(|e| match e {
        SendError::Full(_) => {
            Refusal::new(ErrorCode::RateLimited, "this conversation is busy; retry shortly")
        }
        SendError::Closed(_) => Refusal::new(ErrorCode::Internal, "the conversation restarted; retry"),
    })
}
