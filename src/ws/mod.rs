//! What both websocket actors share: heartbeats, frame reassembly, size limits, the close
//! code of each failure, and the plumbing that turns `Deliver` messages into written frames.

mod consult;
pub mod customer;
pub mod expert;
mod gateway;

pub use gateway::{Gateway, Target};

use std::net::IpAddr;
use std::rc::Rc;
use std::time::{Duration, Instant};

use actix::prelude::*;
use actix_http::ws::Item;
use actix_web::http::header;
use actix_web::HttpRequest;
use actix_web_actors::ws;

use crate::app::AppState;
use crate::http_error::ApiError;
use crate::limits::{ConnectionSlot, FrameLimits, Verdict};
use bytestring::ByteString;

use crate::domain::{ErrorCode, Refusal};
use crate::messages::ReplyTo;
use crate::protocol::{self, ClientFrame, Ref, ServerFrame};

/// Per-connection bookkeeping common to both kinds of session.
pub struct Link {
    pub session_id: u64,
    /// The client's address (behind trusted proxies, the forwarded one).
    pub ip: IpAddr,
    last_heard: Instant,
    /// A text message arriving in continuation frames, until its last frame.
    fragments: Fragments,
    max_message: usize,
    limits: FrameLimits,
    /// The pending close for a client that never says `hello`.
    hello_deadline: Option<SpawnHandle>,
    /// Counts this connection against the limits until the session is dropped.
    _slot: ConnectionSlot,
}

/// Checks a websocket upgrade against the Origin rules and the connection limits; a
/// refusal becomes an HTTP answer (403 or 429) with the contract's error body.
pub fn open_link(req: &HttpRequest, app: &AppState) -> Result<Link, ApiError> {
    let config = &app.config;
    if !origin_allowed(req, &config.server.allowed_origins) {
        return Err(ApiError::new(ErrorCode::Forbidden, "this page's origin may not open a chat here"));
    }
    let ip = app.client_ip(req);
    let slot = app.limiters.connect(ip).map_err(ApiError)?;
    Ok(Link {
        session_id: app.hub.session_id(),
        ip,
        last_heard: Instant::now(),
        fragments: Fragments::default(),
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
    if crate::net::origin_listed(origin, allowed) {
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
        if act.phase().ready().is_none() {
            fail(ctx, None, ConnectionError::NoHello);
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

/// A connection's phase: nothing but `hello` is accepted until it is identified; from then
/// on the session knows whom it serves (shared cheaply with each frame it handles).
pub enum Phase<T> {
    AwaitingHello,
    Ready(Rc<T>),
}

impl<T> Phase<T> {
    pub fn ready(&self) -> Option<&Rc<T>> {
        match self {
            Phase::AwaitingHello => None,
            Phase::Ready(me) => Some(me),
        }
    }
}

/// A websocket session: it owns a `Link` and handles whole text messages.
pub trait Session: Actor<Context = ws::WebsocketContext<Self>> + Handler<crate::messages::Deliver> {
    /// The frames this kind of client sends.
    type Frame: serde::de::DeserializeOwned + protocol::ClientFrame;
    /// Whom the session serves once `hello` is accepted.
    type Identity;

    fn link(&mut self) -> &mut Link;
    fn phase(&self) -> &Phase<Self::Identity>;
    /// The first frame, which must be `hello`.
    fn greet(&mut self, reference: Option<Ref>, frame: Self::Frame, ctx: &mut Self::Context);
    /// Any frame after `hello`, for `me`; a refusal is answered to the client.
    fn dispatch(
        &mut self,
        me: &Self::Identity,
        frame: Self::Frame,
        reply: &ReplyTo,
        ctx: &mut Self::Context,
    ) -> Result<(), Refusal>;

    /// One whole text message: `hello` first, then rate-limited frames.
    fn on_text(&mut self, text: &str, ctx: &mut Self::Context) {
        let decoded = protocol::decode::<Self::Frame>(text);
        let Some(me) = self.phase().ready().cloned() else {
            return match decoded {
                Ok((reference, frame)) => self.greet(reference, frame, ctx),
                Err(bad) => unauthorized(ctx, bad.reference, "say hello first"),
            };
        };
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
                if let Err(refusal) = self.dispatch(&me, frame, &reply, ctx) {
                    reply.send(ServerFrame::error(reply.reference.clone(), refusal));
                }
            }
            Err(bad) => refuse(ctx, bad.reference, ErrorCode::BadRequest, &bad.reason),
        }
    }

    /// Closes the connection as asked; sessions that can re-check their right to stay
    /// (experts after a revocation) override this.
    fn disconnect(&mut self, m: crate::messages::Disconnect, ctx: &mut Self::Context) {
        if let crate::messages::Disconnect::Close { code, reason } = m {
            close(ctx, code, reason);
        }
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
                fail(ctx, reference.clone(), ConnectionError::Flooding);
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
    check_length(text, max_bytes)
}

/// A `send`'s text: it may be empty when the message carries files, as a photo sent without
/// a word is (PROTOCOL.md, `send`).
pub fn check_message(text: &str, attachments: &[String], max_bytes: usize) -> Result<(), Refusal> {
    if attachments.is_empty() {
        check_text(text, max_bytes)
    } else {
        check_length(text, max_bytes)
    }
}

fn check_length(text: &str, max_bytes: usize) -> Result<(), Refusal> {
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

/// Why the server closes a websocket, for the failures found on the wire and at the
/// connection's limits: each has its close code (RFC 6455 §7.4, PROTOCOL.md "Closing codes")
/// and the error frame, if any, that tells the client first, here and nowhere else. Its text
/// is the close frame's reason.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ConnectionError {
    /// A text message that is not UTF-8, in one frame or across continuation frames.
    #[error("text is not UTF-8")]
    NotUtf8,
    /// A message over `limits.max_frame_bytes`, in one frame or across continuation frames.
    #[error("message too large")]
    TooLarge,
    /// A message in continuation frames that began as binary.
    #[error("binary frames are not accepted")]
    Binary,
    /// A continuation frame with no message to continue.
    #[error("continuation without a first frame")]
    StrayContinuation,
    /// Any other breach of RFC 6455 that the codec reports.
    #[error("protocol error")]
    Protocol,
    /// Frames past the connection's rate limit.
    #[error("flooding")]
    Flooding,
    /// No valid `hello` within `server.hello_timeout`.
    #[error("no hello")]
    NoHello,
}

impl ConnectionError {
    pub fn close_code(self) -> ws::CloseCode {
        match self {
            ConnectionError::NotUtf8 => ws::CloseCode::Invalid,
            ConnectionError::TooLarge => ws::CloseCode::Size,
            ConnectionError::Binary => ws::CloseCode::Unsupported,
            ConnectionError::StrayContinuation | ConnectionError::Protocol => ws::CloseCode::Protocol,
            ConnectionError::Flooding | ConnectionError::NoHello => ws::CloseCode::Policy,
        }
    }

    /// The error frame sent before the close; a bare protocol breach gets none.
    pub fn refusal(self) -> Option<Refusal> {
        let (code, message) = match self {
            ConnectionError::NotUtf8 => (ErrorCode::BadRequest, "text frames must be UTF-8"),
            ConnectionError::TooLarge => {
                (ErrorCode::TooLarge, "the message is larger than the server accepts")
            }
            ConnectionError::Binary => (ErrorCode::BadRequest, "frames are JSON text"),
            ConnectionError::Flooding => (ErrorCode::RateLimited, "too many frames"),
            ConnectionError::NoHello => (ErrorCode::Unauthorized, "say hello first"),
            ConnectionError::StrayContinuation | ConnectionError::Protocol => return None,
        };
        Some(Refusal::new(code, message))
    }
}

impl From<&ws::ProtocolError> for ConnectionError {
    fn from(e: &ws::ProtocolError) -> ConnectionError {
        match e {
            ws::ProtocolError::Overflow => ConnectionError::TooLarge,
            ws::ProtocolError::Io(io) if reports_invalid_utf8(io) => ConnectionError::NotUtf8,
            _ => ConnectionError::Protocol,
        }
    }
}

/// Whether an I/O error from the websocket stream is in fact a text frame that is not UTF-8.
/// actix-web-actors 4.3 (`WsStream::poll_next`) checks a text frame with
/// `ByteString::try_from` and hands on the failure only as `io::Error::other` holding the
/// `std::str::Utf8Error`'s text, the way it also wraps transport errors: that text is all
/// there is to tell them apart. The unit tests build it as actix-web-actors does, so a change
/// of wording in std shows there.
fn reports_invalid_utf8(e: &std::io::Error) -> bool {
    let text = e.to_string();
    e.kind() == std::io::ErrorKind::Other
        && (text.starts_with("invalid utf-8 sequence of ")
            || text.starts_with("incomplete utf-8 byte sequence from index "))
}

/// Closes the connection for `e`, after the error frame that explains it (if it has one).
pub fn fail<A>(ctx: &mut ws::WebsocketContext<A>, reference: Option<Ref>, e: ConnectionError)
where
    A: Actor<Context = ws::WebsocketContext<A>>,
{
    if let Some(refusal) = e.refusal() {
        ctx.text(ServerFrame::error(reference, refusal).encode());
    }
    close(ctx, e.close_code(), &e.to_string());
}

/// Handles one websocket event for any session.
pub fn on_message<S: Session>(s: &mut S, msg: Result<ws::Message, ws::ProtocolError>, ctx: &mut S::Context) {
    s.link().last_heard = Instant::now();
    let msg = match msg {
        Ok(m) => m,
        Err(e) => {
            tracing::debug!(error = %e, "websocket protocol error");
            return fail(ctx, None, ConnectionError::from(&e));
        }
    };
    match msg {
        ws::Message::Text(text) => s.on_text(&text, ctx),
        ws::Message::Continuation(item) => {
            let link = s.link();
            match link.fragments.push(item, link.max_message) {
                Ok(Some(text)) => s.on_text(&text, ctx),
                Ok(None) => {}
                Err(e) => fail(ctx, None, e),
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

/// A text message arriving in continuation frames, joined within the same size limit as a
/// single frame.
#[derive(Debug, Default)]
struct Fragments {
    /// The message so far, from its first frame until its last.
    partial: Option<Vec<u8>>,
}

impl Fragments {
    /// Takes one frame of a fragmented message; the whole text once its last frame is in.
    fn push(&mut self, item: Item, max_bytes: usize) -> Result<Option<ByteString>, ConnectionError> {
        let (bytes, last) = match item {
            Item::FirstText(b) => {
                self.partial = Some(Vec::new());
                (b, false)
            }
            Item::FirstBinary(_) => {
                self.partial = None;
                return Err(ConnectionError::Binary);
            }
            Item::Continue(b) => (b, false),
            Item::Last(b) => (b, true),
        };
        let mut buf = self.partial.take().ok_or(ConnectionError::StrayContinuation)?;
        if buf.len() + bytes.len() > max_bytes {
            return Err(ConnectionError::TooLarge);
        }
        buf.extend_from_slice(&bytes);
        if !last {
            self.partial = Some(buf);
            return Ok(None);
        }
        ByteString::try_from(buf).map(Some).map_err(|_| ConnectionError::NotUtf8)
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

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::web::Bytes;

    /// A text frame's bad bytes as actix-web-actors' `WsStream` reports them.
    fn reported_by_actix_web_actors(bytes: &'static [u8]) -> ws::ProtocolError {
        let utf8 = ByteString::try_from(Bytes::from_static(bytes)).unwrap_err();
        ws::ProtocolError::Io(std::io::Error::other(format!("{utf8}")))
    }

    fn code(e: ConnectionError) -> u16 {
        e.close_code().into()
    }

    #[test]
    fn a_text_frame_that_is_not_utf8_closes_with_1007() {
        for bytes in [&b"caf\xff"[..], b"caf\xc3", b"\xed\xa0\x80"] {
            let e = ConnectionError::from(&reported_by_actix_web_actors(bytes));
            assert_eq!(e, ConnectionError::NotUtf8, "{bytes:?}");
            assert_eq!(code(e), 1007);
        }
    }

    #[test]
    fn other_codec_failures_keep_their_codes() {
        assert_eq!(ConnectionError::from(&ws::ProtocolError::Overflow), ConnectionError::TooLarge);
        let transport =
            ws::ProtocolError::Io(std::io::Error::other("payload reached EOF before completing: None"));
        for e in [
            ws::ProtocolError::BadOpCode,
            ws::ProtocolError::UnmaskedFrame,
            ws::ProtocolError::ContinuationStarted,
            ws::ProtocolError::ContinuationNotStarted,
            transport,
        ] {
            assert_eq!(ConnectionError::from(&e), ConnectionError::Protocol, "{e}");
        }
    }

    #[test]
    fn each_failure_has_its_close_code_and_error_frame() {
        use ConnectionError::*;
        let expected = [
            (NotUtf8, 1007, Some(ErrorCode::BadRequest)),
            (TooLarge, 1009, Some(ErrorCode::TooLarge)),
            (Binary, 1003, Some(ErrorCode::BadRequest)),
            (StrayContinuation, 1002, None),
            (Protocol, 1002, None),
            (Flooding, 1008, Some(ErrorCode::RateLimited)),
            (NoHello, 1008, Some(ErrorCode::Unauthorized)),
        ];
        for (e, close, refusal) in expected {
            assert_eq!(code(e), close, "{e:?}");
            assert_eq!(e.refusal().map(|r| r.code), refusal, "{e:?}");
        }
    }

    fn text(b: &'static [u8]) -> Item {
        Item::FirstText(Bytes::from_static(b))
    }
    fn more(b: &'static [u8]) -> Item {
        Item::Continue(Bytes::from_static(b))
    }
    fn last(b: &'static [u8]) -> Item {
        Item::Last(Bytes::from_static(b))
    }

    #[test]
    fn fragments_join_into_one_text_even_when_a_character_is_split() {
        let mut f = Fragments::default();
        assert_eq!(f.push(text(b"caf\xc3"), 100), Ok(None));
        assert_eq!(f.push(more(b"\xa9 "), 100), Ok(None));
        assert_eq!(f.push(last(b"noir"), 100), Ok(Some(ByteString::from("café noir"))));
        assert!(f.partial.is_none());
    }

    #[test]
    fn fragments_that_are_not_utf8_together_fail_with_not_utf8() {
        let mut f = Fragments::default();
        assert_eq!(f.push(text(b"caf"), 100), Ok(None));
        assert_eq!(f.push(last(b"\xff"), 100), Err(ConnectionError::NotUtf8));
        // A character left unfinished by the last frame is no better.
        assert_eq!(f.push(text(b"caf"), 100), Ok(None));
        assert_eq!(f.push(last(b"\xc3"), 100), Err(ConnectionError::NotUtf8));
    }

    #[test]
    fn fragments_keep_the_size_limit_and_refuse_binary_and_strays() {
        let mut f = Fragments::default();
        assert_eq!(f.push(text(b"12345"), 8), Ok(None));
        assert_eq!(f.push(more(b"6789"), 8), Err(ConnectionError::TooLarge));
        assert!(f.partial.is_none(), "nothing is kept of a refused message");
        assert_eq!(f.push(last(b"x"), 8), Err(ConnectionError::StrayContinuation));
        assert_eq!(f.push(Item::FirstBinary(Bytes::from_static(b"\x00")), 8), Err(ConnectionError::Binary));
    }
}
