//! Messages between actors, in one place. The wire frames live in `protocol`; these are
//! the server's internal notes.

use actix::prelude::*;
use bytestring::ByteString;

use crate::conversation::ConversationActor;
use crate::domain::{Page, Presence, Refusal, SettableStatus};
use crate::ids::{ConversationId, CustomerId, ExpertId};
use crate::protocol::{Ref, ServerFrame};
use crate::router::{Purpose, ReservationId};
use crate::store::model::Expert;

/// One encoded frame for a websocket session to write.
#[derive(Message, Clone)]
#[rtype(result = "()")]
pub struct Deliver(pub ByteString);

/// Where the one answer to a client frame goes.
#[derive(Clone)]
pub struct ReplyTo {
    pub session: Recipient<Deliver>,
    pub session_id: u64,
    pub reference: Option<Ref>,
}

impl ReplyTo {
    /// Answers without waiting; an answer to a client whose mailbox is full is dropped
    /// (that client is being disconnected for not reading).
    pub fn send(&self, frame: ServerFrame) {
        self.deliver(frame.encode());
    }

    /// Answers with a frame encoded already.
    pub fn deliver(&self, frame: bytestring::ByteString) {
        let _ = self.session.try_send(Deliver(frame));
    }
}

/// Who is acting on a conversation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Party {
    Customer(CustomerId),
    Expert {
        id: ExpertId,
        name: String,
    },
    /// A bot account: it writes as author kind `bot`.
    Bot {
        id: ExpertId,
        name: String,
    },
}

impl From<&Party> for crate::access::Viewer {
    fn from(p: &Party) -> Self {
        match p {
            Party::Customer(id) => crate::access::Viewer::Customer(*id),
            Party::Expert { id, .. } | Party::Bot { id, .. } => crate::access::Viewer::Expert(*id),
        }
    }
}

// ----- to a conversation -----

/// A chat message from either side.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Post {
    pub from: Party,
    pub text: String,
    pub internal: bool,
    pub client_msg_id: Option<String>,
    /// A resent `start`: its answer names the conversation too.
    pub starting: bool,
    /// The expert confirmed a message that repeats an earlier one.
    pub force: bool,
    /// Files uploaded to this conversation that the message carries.
    pub attachments: Vec<crate::ids::AttachmentId>,
    pub reply: ReplyTo,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ExpertAction {
    Accept,
    Decline,
    /// Claim mode; the claimer's certifications decide whether they may.
    Claim {
        certifications: Vec<String>,
    },
    SetStatus(SettableStatus),
    End,
    Leave,
    Transfer {
        to: TransferTarget,
        note: Option<String>,
    },
    /// A bot hands its chat to humans, in `category` or the chat's own.
    Handoff {
        category: Option<String>,
        note: Option<String>,
    },
    /// Specialist consult: the invited expert, as found in the store.
    Invite {
        specialist: ExpertId,
        name: String,
        certifications: Vec<String>,
        note: Option<String>,
    },
    EndConsult {
        specialist: Option<ExpertId>,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TransferTarget {
    Expert { id: ExpertId, name: String, certifications: Vec<String> },
    Category(String),
}

#[derive(Message)]
#[rtype(result = "()")]
pub struct Act {
    pub expert: ExpertId,
    pub name: String,
    pub action: ExpertAction,
    /// The slot the router reserved for a claim or a named transfer; the conversation settles it.
    pub reservation: Option<ReservationId>,
    pub reply: ReplyTo,
}

/// Replays messages after `after_seq` to the asker, then acks with the last seq.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Sync {
    pub viewer: Party,
    pub after_seq: u64,
    pub reply: ReplyTo,
}

/// Typing indicators and read receipts: passed to the other side, not stored.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Signal {
    pub from: Party,
    pub kind: SignalKind,
    pub reply: ReplyTo,
}

#[derive(Debug, Clone, Copy)]
pub enum SignalKind {
    Typing(bool),
    Read(u64),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CustomerAction {
    End,
    Rate { score: u8, comment: Option<String> },
}

/// The customer ends or rates their conversation.
#[derive(Message)]
#[rtype(result = "()")]
pub struct CustomerAct {
    pub customer: CustomerId,
    pub action: CustomerAction,
    pub reply: ReplyTo,
}

/// The customer's first widget connected, or their last one closed.
#[derive(Message, Clone)]
#[rtype(result = "()")]
pub struct CustomerPresence {
    pub online: bool,
}

/// Data rights: the conversation's customer is being erased. A live chat ends at once (its
/// customer and owner are told, the router forgets it, no webhook carries its transcript out),
/// then the actor stops and `done` is answered, so nothing it holds is written back.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Erase {
    pub done: tokio::sync::oneshot::Sender<Result<(), Refusal>>,
}

/// The customer moved to another page.
#[derive(Message)]
#[rtype(result = "()")]
pub struct PageChanged(pub Page);

// ----- router and conversations -----

/// A conversation's routing-relevant state after each stored change. The router
/// reconciles from these, so it can be rebuilt from the conversations alone.
#[derive(Message, Clone)]
#[rtype(result = "()")]
pub struct Track {
    pub snapshot: crate::router::Snapshot,
    /// The reservation this change used: its slot is now held by the chat itself.
    pub settled: Option<ReservationId>,
    /// Claim mode, while waiting: the `claimable` frame to list it with.
    pub listing: Option<ByteString>,
    pub addr: Addr<ConversationActor>,
}

/// The router proposes an expert for a chat it last saw at `at_rev`.
#[derive(Message)]
#[rtype(result = "()")]
pub struct MakeOffer {
    pub expert: ExpertId,
    pub at_rev: u64,
}

/// The router gives a new chat it last saw at `at_rev` to a connected bot of its category.
#[derive(Message)]
#[rtype(result = "()")]
pub struct BotTake {
    pub bot: ExpertId,
    pub name: String,
    pub at_rev: u64,
}

/// The offered expert stopped being available.
#[derive(Message)]
#[rtype(result = "()")]
pub struct WithdrawOffer {
    pub expert: ExpertId,
}

/// The customer's place in line and the estimated wait from there, for the `queue` event.
#[derive(Message)]
#[rtype(result = "()")]
pub struct QueuePosition {
    pub position: u32,
    pub estimated_wait_ms: Option<u64>,
}

/// The owner was removed by an admin: the chat goes back to the queue.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Reroute {
    pub expert: ExpertId,
}

/// A console that connected while an offer to its expert stood: send it the offer again.
#[derive(Message)]
#[rtype(result = "()")]
pub struct ShowOffer {
    pub expert: ExpertId,
    pub to: Recipient<Deliver>,
}

/// How an offer ended, for the missed-offers count.
#[derive(Message)]
#[rtype(result = "()")]
pub struct OfferOutcome {
    pub expert: ExpertId,
    pub lapsed: bool,
}

// ----- expert sessions and the router -----

#[derive(Message)]
#[rtype(result = "ExpertWelcome")]
pub struct ExpertConnected {
    pub expert: Expert,
}

pub struct ExpertWelcome {
    pub presence: Presence,
    /// Chats offered to the expert right now, which a new console must show.
    pub offers: Vec<ConversationId>,
    /// Live conversations the expert owns and has not left.
    pub conversations: Vec<ConversationId>,
    /// Claim-mode chats the expert may claim.
    pub claimable: Vec<ConversationId>,
}

impl<A, M> actix::dev::MessageResponse<A, M> for ExpertWelcome
where
    A: Actor,
    M: Message<Result = ExpertWelcome>,
{
    fn handle(self, _: &mut A::Context, tx: Option<actix::dev::OneshotSender<ExpertWelcome>>) {
        if let Some(tx) = tx {
            let _ = tx.send(self);
        }
    }
}

/// An admin changed an expert's categories, certifications or capacity.
#[derive(Message)]
#[rtype(result = "()")]
pub struct ExpertChanged {
    pub expert: Expert,
}

#[derive(Message)]
#[rtype(result = "()")]
pub struct ExpertDisconnected {
    pub expert: ExpertId,
}

#[derive(Message)]
#[rtype(result = "()")]
pub struct SetPresence {
    pub expert: ExpertId,
    pub presence: Presence,
}

/// Takes a slot of the expert's capacity for a claim, a named transfer or a pushed chat.
#[derive(Message)]
#[rtype(result = "Result<ReservationId, Refusal>")]
pub struct Reserve {
    pub expert: ExpertId,
    pub purpose: Purpose,
}

/// Gives back a reservation that was refused or could not be used.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Settle(pub ReservationId);

/// An admin removed the expert.
#[derive(Message)]
#[rtype(result = "()")]
pub struct ExpertRemoved {
    pub expert: ExpertId,
}

/// The router's live counts, for `/metrics`.
#[derive(Message)]
#[rtype(result = "RouterCounts")]
pub struct Counts;

#[derive(Debug, Default)]
pub struct RouterCounts {
    pub queued_by_category: Vec<(String, usize)>,
    pub open_chats: usize,
    pub available: usize,
    pub away: usize,
    pub offline: usize,
}

impl<A, M> actix::dev::MessageResponse<A, M> for RouterCounts
where
    A: Actor,
    M: Message<Result = RouterCounts>,
{
    fn handle(self, _: &mut A::Context, tx: Option<actix::dev::OneshotSender<RouterCounts>>) {
        if let Some(tx) = tx {
            let _ = tx.send(self);
        }
    }
}

/// The queue view of `GET /api/v1/queue`: the waiting chats of these categories (all when
/// `None`), oldest first.
#[derive(Message)]
#[rtype(result = "Vec<QueuedChat>")]
pub struct QueueView {
    pub categories: Option<Vec<String>>,
}

#[derive(Debug, Clone)]
pub struct QueuedChat {
    pub entry: crate::router::QueueEntry,
    /// The name of the expert the chat is offered to, as their console gave it.
    pub offered_to_name: Option<String>,
}

/// The estimated waits of those of these chats that are queued, for a customer's `welcome`.
#[derive(Message)]
#[rtype(result = "std::collections::HashMap<ConversationId, u64>")]
pub struct EstimatedWaits(pub Vec<ConversationId>);

/// The admin page's live view: the router's counts and each known expert's presence and load.
#[derive(Message)]
#[rtype(result = "LiveCounts")]
pub struct Live;

#[derive(Debug, Default)]
pub struct LiveCounts {
    pub counts: RouterCounts,
    /// Presence and chats held (offers and open chats) of each expert the router knows.
    pub experts: std::collections::HashMap<ExpertId, (Presence, u32)>,
}

impl<A, M> actix::dev::MessageResponse<A, M> for LiveCounts
where
    A: Actor,
    M: Message<Result = LiveCounts>,
{
    fn handle(self, _: &mut A::Context, tx: Option<actix::dev::OneshotSender<LiveCounts>>) {
        if let Some(tx) = tx {
            let _ = tx.send(self);
        }
    }
}

/// Everyone's presence, for the admin's expert list.
#[derive(Message)]
#[rtype(result = "std::collections::HashMap<ExpertId, Presence>")]
pub struct PresenceList;

/// Tells a websocket session to go, or to check whether it may stay.
#[derive(Message)]
#[rtype(result = "()")]
pub enum Disconnect {
    /// Close with this code and reason, e.g. a client that cannot keep up, or at shutdown.
    Close { code: actix_web_actors::ws::CloseCode, reason: &'static str },
    /// Tokens were revoked (a logout, a password change, a removal): a session stays only
    /// while the token it was opened with still holds.
    Revalidate,
}
