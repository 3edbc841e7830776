//! What both websocket actors share: heartbeats, frame reassembly, size limits, and the
//! plumbing that turns `Deliver` messages into written frames.

pub mod customer;
pub mod expert;

use std::time::{Duration, Instant};

use std::net::IpAddr;

use actix::prelude::*;
use actix_web::http::header;
use actix_web::HttpRequest;
use actix_web_actors::ws;

use crate::app::AppState;
use crate::limits::{ConnectionSlot, FrameLimits, Verdict};
use bytestring::ByteString;

use crate::domain::{ErrorCode, Refusal};
use crate::messages::ReplyTo;
use crate::protocol::{self, ClientFrame, Ref, ServerFrame};

/// Where a frame about a conversation goes: its live actor, or the stored record of one
/// that has ended.
pub enum Target {
    Live(Addr<crate::conversation::ConversationActor>),
    Ended(Box<crate::store::model::Conversation>),
}

/// Per-connection bookkeeping common to both kinds of session.
pub struct Link {
    pub session_id: u64,
    /// The client's address (behind trusted proxies, the forwarded one).
    pub ip: IpAddr,
    last_heard: Instant,
    /// A text message arriving in continuation frames, until its last frame.
    partial: Option<Vec<u8>>,
    max_message: usize,
    limits: FrameLimits,
    /// The pending close for a client that never says `hello`.
    hello_deadline: Option<SpawnHandle>,
    /// Counts this connection against the limits until the session is dropped.
    _slot: ConnectionSlot,
}

/// Checks a websocket upgrade against the Origin rules and the connection limits; a
/// refusal becomes an HTTP answer (403 or 429) with the contract's error body.
pub fn open_link(req: &HttpRequest, app: &AppState) -> Result<Link, crate::http::ApiError> {
    use crate::http::ApiError;
    let config = &app.config;
    if !origin_allowed(req, &config.server.allowed_origins) {
        return Err(ApiError::new(ErrorCode::Forbidden, "this page's origin may not open a chat here"));
    }
    let ip = crate::net::client_ip(req, &config.server.trusted_proxies);
    let slot = app.limiters.connect(ip).map_err(ApiError)?;
    Ok(Link {
        session_id: app.hub.session_id(),
        ip,
        last_heard: Instant::now(),
        partial: None,
        max_message: config.limits.max_frame_bytes,
        limits: FrameLimits::new(&config.limits),
        hello_deadline: None,
        _slot: slot,
    })
}

/// Upgrades an HTTP request to a websocket session built by `make`, once the Origin and
/// connection limits allow it.
pub fn upgrade<S>(
    req: &HttpRequest,
    stream: actix_web::web::Payload,
    app: &actix_web::web::Data<AppState>,
    make: impl FnOnce(Link, AppState) -> S,
) -> actix_web::Result<actix_web::HttpResponse>
where
    S: Session + StreamHandler<Result<ws::Message, ws::ProtocolError>>,
{
    let app = app.get_ref().clone();
    let max = app.config.limits.max_frame_bytes;
    let link = open_link(req, &app)?;
    ws::WsResponseBuilder::new(make(link, app), req, stream).frame_size(max).start()
}

/// Browsers say where a page came from: the server's own pages and the configured sites
/// may connect. Programs that send no Origin are not browsers and cannot be tricked.
fn origin_allowed(req: &HttpRequest, allowed: &[String]) -> bool {
    let Some(origin) = req.headers().get(header::ORIGIN).and_then(|o| o.to_str().ok()) else {
        return true;
    };
    if allowed.iter().any(|a| a == "*" || a.trim_end_matches('/').eq_ignore_ascii_case(origin)) {
        return true;
    }
    let host = req.headers().get(header::HOST).and_then(|h| h.to_str().ok()).unwrap_or_default();
    origin
        .split_once("://")
        .is_some_and(|(_, authority)| !host.is_empty() && authority.eq_ignore_ascii_case(host))
}

/// What every session does when it starts: a bounded mailbox, heartbeats, and a deadline
/// for `hello`.
pub fn start_session<S: Session>(session: &mut S, ctx: &mut S::Context, config: &crate::config::Config) {
    ctx.set_mailbox_capacity(config.limits.outgoing_queue);
    start_heartbeat::<S>(ctx, config.server.heartbeat_interval, config.server.client_timeout);
    let deadline = ctx.run_later(config.server.hello_timeout, |act, ctx| {
        if !act.identified() {
            refuse(ctx, None, ErrorCode::Unauthorized, "say hello first");
            close(ctx, ws::CloseCode::Policy, "no hello");
        }
    });
    session.link().hello_deadline = Some(deadline);
}

/// Cancels the `hello` deadline once the client is identified: an idle connection then
/// holds no timer beyond its heartbeat.
pub fn hello_done<A>(link: &mut Link, ctx: &mut ws::WebsocketContext<A>)
where
    A: Actor<Context = ws::WebsocketContext<A>>,
{
    if let Some(deadline) = link.hello_deadline.take() {
        ctx.cancel_future(deadline);
    }
}

/// A websocket session: it owns a `Link` and handles whole text messages.
pub trait Session: Actor<Context = ws::WebsocketContext<Self>> + Handler<crate::messages::Deliver> {
    /// The frames this kind of client sends.
    type Frame: serde::de::DeserializeOwned + protocol::ClientFrame;

    fn link(&mut self) -> &mut Link;
    /// The first frame, which must be `hello`.
    fn greet(&mut self, reference: Option<Ref>, frame: Self::Frame, ctx: &mut Self::Context);
    /// Any frame after `hello`; a refusal is answered to the client.
    fn dispatch(
        &mut self,
        frame: Self::Frame,
        reply: &ReplyTo,
        ctx: &mut Self::Context,
    ) -> Result<(), Refusal>;

    /// One whole text message: `hello` first, then rate-limited frames.
    fn on_text(&mut self, text: &str, ctx: &mut Self::Context) {
        let decoded = protocol::decode::<Self::Frame>(text);
        if !self.identified() {
            return match decoded {
                Ok((reference, frame)) => self.greet(reference, frame, ctx),
                Err(bad) => unauthorized(ctx, bad.reference, "say hello first"),
            };
        }
        let (is_message, reference) = match &decoded {
            Ok((reference, frame)) => (frame.is_message(), reference.clone()),
            Err(bad) => (false, bad.reference.clone()),
        };
        if !self.admit(is_message, &reference, ctx) {
            return;
        }
        match decoded {
            Ok((reference, frame)) => {
                let reply = self.reply_to(reference, ctx);
                if let Err(refusal) = self.dispatch(frame, &reply, ctx) {
                    reply.send(ServerFrame::error(reply.reference.clone(), refusal));
                }
            }
            Err(bad) => refuse(ctx, bad.reference, ErrorCode::BadRequest, &bad.reason),
        }
    }
    /// Whether `hello` has been accepted.
    fn identified(&self) -> bool;

    /// Closes the connection as asked; sessions that can re-check their right to stay
    /// (experts after a revocation) override this.
    fn disconnect(&mut self, m: crate::messages::Disconnect, ctx: &mut Self::Context) {
        close(ctx, m.code, m.reason);
    }

    /// Applies the connection's rate limits to a frame; false if it must not be handled.
    fn admit(&mut self, is_message: bool, reference: &Option<Ref>, ctx: &mut Self::Context) -> bool {
        match self.link().limits.check(is_message) {
            Verdict::Pass => true,
            Verdict::Refuse(r) => {
                ctx.text(ServerFrame::error(reference.clone(), r).encode());
                false
            }
            Verdict::Close => {
                refuse(ctx, reference.clone(), ErrorCode::RateLimited, "too many frames");
                close(ctx, ws::CloseCode::Policy, "flooding");
                false
            }
        }
    }

    fn reply_to(&mut self, reference: Option<Ref>, ctx: &mut Self::Context) -> ReplyTo {
        ReplyTo { session: ctx.address().recipient(), session_id: self.link().session_id, reference }
    }
}

/// Pings the peer and drops it once it has been silent past `timeout`.
pub fn start_heartbeat<S: Session>(ctx: &mut S::Context, interval: Duration, timeout: Duration) {
    ctx.run_interval(interval, move |act, ctx| {
        if act.link().last_heard.elapsed() > timeout {
            tracing::debug!("websocket peer timed out");
            ctx.stop();
        } else {
            ctx.ping(b"");
        }
    });
}

pub fn refuse<A>(ctx: &mut ws::WebsocketContext<A>, reference: Option<Ref>, code: ErrorCode, message: &str)
where
    A: Actor<Context = ws::WebsocketContext<A>>,
{
    ctx.text(ServerFrame::error(reference, Refusal::new(code, message)).encode());
}

/// Acknowledges once everything written so far is on disk; `internal` if it cannot be.
pub fn ack_when_durable<A>(
    store: &crate::store::Store,
    reply: &ReplyTo,
    body: crate::protocol::AckBody,
    ctx: &mut ws::WebsocketContext<A>,
) where
    A: Actor<Context = ws::WebsocketContext<A>>,
{
    let store = store.clone();
    let reference = reply.reference.clone();
    ctx.spawn(actix::fut::wrap_future(async move { store.sync().await }).map(
        move |synced, _: &mut A, ctx: &mut ws::WebsocketContext<A>| {
            let frame = match synced {
                Ok(()) => ServerFrame::ack(reference, body),
                Err(e) => ServerFrame::error(reference, crate::conversation::internal_error(e)),
            };
            ctx.text(frame.encode());
        },
    ));
}

/// A chat message's text: present, and within `limits.max_message_bytes`.
pub fn check_text(text: &str, max_bytes: usize) -> Result<(), Refusal> {
    if text.trim().is_empty() {
        return Err(Refusal::new(ErrorCode::BadRequest, "text is empty"));
    }
    if text.len() > max_bytes {
        return Err(Refusal::new(ErrorCode::TooLarge, format!("text is over {max_bytes} bytes")));
    }
    Ok(())
}

/// Refuses a client that has not (validly) said hello, and closes.
pub fn unauthorized<A>(ctx: &mut ws::WebsocketContext<A>, reference: Option<Ref>, why: &str)
where
    A: Actor<Context = ws::WebsocketContext<A>>,
{
    refuse(ctx, reference, ErrorCode::Unauthorized, why);
    close(ctx, ws::CloseCode::Policy, why);
}

/// Closes after telling the client why.
pub fn close<A>(ctx: &mut ws::WebsocketContext<A>, code: ws::CloseCode, why: &str)
where
    A: Actor<Context = ws::WebsocketContext<A>>,
{
    ctx.close(Some(ws::CloseReason { code, description: Some(why.to_owned()) }));
    ctx.stop();
}

/// Handles one websocket event for any session.
pub fn on_message<S: Session>(s: &mut S, msg: Result<ws::Message, ws::ProtocolError>, ctx: &mut S::Context) {
    s.link().last_heard = Instant::now();
    let msg = match msg {
        Ok(m) => m,
        Err(ws::ProtocolError::Overflow) => {
            refuse(ctx, None, ErrorCode::TooLarge, "the message is larger than the server accepts");
            return close(ctx, ws::CloseCode::Size, "message too large");
        }
        Err(e) => {
            tracing::debug!(error = %e, "websocket protocol error");
            return close(ctx, ws::CloseCode::Protocol, "protocol error");
        }
    };
    match msg {
        ws::Message::Text(text) => s.on_text(&text, ctx),
        ws::Message::Continuation(item) => {
            if let Some(text) = reassemble(s.link(), item, ctx) {
                s.on_text(&text, ctx);
            }
        }
        ws::Message::Binary(_) => refuse(ctx, None, ErrorCode::BadRequest, "frames are JSON text"),
        ws::Message::Ping(p) => ctx.pong(&p),
        ws::Message::Pong(_) => {}
        ws::Message::Close(reason) => {
            ctx.close(reason);
            ctx.stop();
        }
        ws::Message::Nop => {}
    }
}

/// Joins continuation frames into one text message, within the same size limit as a
/// single frame.
fn reassemble<A>(
    link: &mut Link,
    item: actix_http::ws::Item,
    ctx: &mut ws::WebsocketContext<A>,
) -> Option<ByteString>
where
    A: Actor<Context = ws::WebsocketContext<A>>,
{
    let (bytes, last) = match item {
        actix_http::ws::Item::FirstText(b) => {
            link.partial = Some(Vec::new());
            (b, false)
        }
        actix_http::ws::Item::FirstBinary(_) => {
            refuse(ctx, None, ErrorCode::BadRequest, "frames are JSON text");
            close(ctx, ws::CloseCode::Unsupported, "binary frames are not accepted");
            return None;
        }
        actix_http::ws::Item::Continue(b) => (b, false),
        actix_http::ws::Item::Last(b) => (b, true),
    };
    let Some(buf) = link.partial.as_mut() else {
        close(ctx, ws::CloseCode::Protocol, "continuation without a first frame");
        return None;
    };
    if buf.len() + bytes.len() > link.max_message {
        link.partial = None;
        refuse(ctx, None, ErrorCode::TooLarge, "the message is larger than the server accepts");
        close(ctx, ws::CloseCode::Size, "message too large");
        return None;
    }
    buf.extend_from_slice(&bytes);
    if !last {
        return None;
    }
    let whole = link.partial.take()?;
    match ByteString::try_from(whole) {
        Ok(text) => Some(text),
        Err(_) => {
            refuse(ctx, None, ErrorCode::BadRequest, "text frames must be UTF-8");
            None
        }
    }
}

/// The actor plumbing every session has: deliveries become frames, a disconnect closes.
macro_rules! session_plumbing {
    ($t:ty) => {
        impl actix::Handler<$crate::messages::Deliver> for $t {
            type Result = ();
            fn handle(&mut self, m: $crate::messages::Deliver, ctx: &mut Self::Context) {
                ctx.text(m.0);
            }
        }

        impl actix::Handler<$crate::messages::Disconnect> for $t {
            type Result = ();
            fn handle(&mut self, m: $crate::messages::Disconnect, ctx: &mut Self::Context) {
                $crate::ws::Session::disconnect(self, m, ctx);
            }
        }

        impl actix::StreamHandler<Result<actix_web_actors::ws::Message, actix_web_actors::ws::ProtocolError>>
            for $t
        {
            fn handle(
                &mut self,
                msg: Result<actix_web_actors::ws::Message, actix_web_actors::ws::ProtocolError>,
                ctx: &mut Self::Context,
            ) {
                $crate::ws::on_message(self, msg, ctx);
            }
        }
    };
}
pub(crate) use session_plumbing;
