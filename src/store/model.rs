//! Everything the store persists. These types are encoded with bincode behind a format
//! version byte (see `codec`); changing a field changes the bytes, which the golden tests
//! catch, and calls for a new format version and a migration.

use bincode::{Decode, Encode};

use crate::clock::Timestamp;
use crate::domain::{Page, SlaKind, Status, Style};
use crate::ids::{AttachmentId, CallbackId, CannedId, ConversationId, CustomerId, ExpertId};

#[derive(Debug, Clone, PartialEq, Eq, Encode, Decode)]
pub struct Expert {
    pub id: ExpertId,
    pub username: String,
    pub name: String,
    /// Argon2 PHC string; the password itself is never stored.
    pub password_hash: String,
    pub categories: Vec<String>,
    pub certifications: Vec<String>,
    /// `None` follows `routing.max_concurrent`, so changing the default reaches everyone.
    pub max_concurrent: Option<u32>,
    pub created_at: Timestamp,
    /// Removed by an admin: cannot log in; kept so past conversations still name them.
    pub removed: bool,
    /// What the account may do beyond answering chats (format 4; older records have none).
    pub roles: Vec<Role>,
    /// A bot's account (format 7; older records are people): it answers new chats of its
    /// categories before any human and hands them off; it has no password and never counts
    /// among the experts a customer waits for.
    pub bot: bool,
}

impl Expert {
    /// An admin expert's login has every right the admin token has.
    pub fn is_admin(&self) -> bool {
        !self.removed && self.roles.contains(&Role::Admin)
    }
}

/// A right an expert account holds, under its contract name (`roles: ["admin"]`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Encode, Decode, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    Admin,
}

/// A login token, stored under the SHA-256 of the token so a copy of the data dir
/// does not hand out sessions.
#[derive(Debug, Clone, PartialEq, Eq, Encode, Decode)]
pub struct LoginToken {
    pub expert: ExpertId,
    pub expires_at: Timestamp,
}

#[derive(Debug, Clone, PartialEq, Eq, Encode, Decode)]
pub struct Customer {
    pub id: CustomerId,
    /// The company's own user id, for identified customers.
    pub external_id: Option<String>,
    pub name: Option<String>,
    pub email: Option<String>,
    pub created_at: Timestamp,
}

impl Customer {
    /// A visitor known only by id until they give more.
    pub fn anonymous(id: CustomerId, now: Timestamp) -> Customer {
        Customer { id, external_id: None, name: None, email: None, created_at: now }
    }
}

/// An outstanding offer: one expert, a stored deadline.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Encode, Decode)]
pub struct Offer {
    pub expert: ExpertId,
    pub expires_at: Timestamp,
}

/// The owning expert, with the name the customer was told.
#[derive(Debug, Clone, PartialEq, Eq, Encode, Decode)]
pub struct Owner {
    pub id: ExpertId,
    pub name: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Encode, Decode)]
pub struct Conversation {
    pub id: ConversationId,
    pub customer: CustomerId,
    pub category: String,
    pub style: Style,
    pub status: Status,
    pub owner: Option<Owner>,
    /// Every expert who has owned it, for access to its transcript afterwards.
    pub past_owners: Vec<ExpertId>,
    pub offer: Option<Offer>,
    /// Experts who declined or let an offer lapse, not offered again while others can take it.
    pub declined: Vec<ExpertId>,
    pub page: Option<Page>,
    pub created_at: Timestamp,
    /// Queue order; kept across re-routing so a returning chat keeps its place.
    pub queued_at: Timestamp,
    pub accepted_at: Option<Timestamp>,
    pub first_response_at: Option<Timestamp>,
    pub last_customer_at: Option<Timestamp>,
    pub last_expert_at: Option<Timestamp>,
    /// Any message or transition: what `inactivity_end` counts from.
    pub last_activity_at: Timestamp,
    /// The customer's oldest message still without an expert reply.
    pub awaiting_reply_since: Option<Timestamp>,
    /// Nudges sent to the owner since the customer started waiting.
    pub nudges: u32,
    /// When the customer's last widget closed; cleared when one connects again.
    pub customer_left_at: Option<Timestamp>,
    /// Claim mode: the claimer must answer by then or the chat is released.
    pub first_response_due: Option<Timestamp>,
    pub solved_at: Option<Timestamp>,
    /// When a solved conversation becomes closed.
    pub close_at: Option<Timestamp>,
    pub closed_at: Option<Timestamp>,
    /// The owner has left it: it is gone from their console.
    pub left: bool,
    pub rating: Option<Rating>,
    /// Times the chat was handed to another expert or category, for reports.
    pub transfers: u32,
    /// Each wait in a queue and each owner's spell, in order, for reports: a transferred or
    /// reopened chat keeps every wait and splits its handle time between its experts.
    pub segments: Vec<Segment>,
    /// The customer's language as their widget stated it when the chat began (a checked
    /// BCP 47 tag, e.g. `de-CH`), shown to experts; `None` when it said none (format 5;
    /// older records have none).
    pub lang: Option<String>,
    /// Left as a message (`leave_message`) while no expert was available or the office was
    /// closed, with the name and email its customer gave to be answered by; `None` for a chat
    /// (format 6; older records are chats). It keeps the mark for good: experts, reports and
    /// exports tell it from a chat, and it waits for an expert however long its customer is away.
    pub offline: Option<Contact>,
    /// Specialists the owner invited to advise (format 7; older records have none): they read
    /// the chat and write internal notes until the consult ends, holding nobody's capacity.
    pub consultants: Vec<ExpertId>,
    /// The chat's response targets (format 7; older records have none running): the one being
    /// counted, with its stored deadline, and how each earlier one ended, for reports.
    pub sla: Sla,
}

/// A conversation's SLA clocks (PRODUCT.md v1.1, "SLA targets").
#[derive(Debug, Clone, Default, PartialEq, Eq, Encode, Decode)]
pub struct Sla {
    /// The target counting now; `None` when the chat awaits no reply or its category sets none.
    pub running: Option<SlaClock>,
    /// Every target that ended, met or breached, in order: reports' breach rates.
    pub outcomes: Vec<SlaOutcome>,
}

/// A response target being counted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Encode, Decode)]
pub struct SlaClock {
    pub kind: SlaKind,
    /// The target as the category set it when the clock started, in milliseconds of office time.
    pub target_ms: u64,
    /// When it is breached, office hours already counted in: an absolute time, so a restart
    /// (or another node) re-arms it from data.
    pub due: Timestamp,
}

/// How a target ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Encode, Decode)]
pub struct SlaOutcome {
    pub kind: SlaKind,
    /// When it was breached; `None` when the reply came in time.
    pub breached_at: Option<Timestamp>,
}

/// What a customer who left a message gave besides its text, each optional: how to address
/// them, and where a team that answers by e-mail writes (PRODUCT.md, "Leaving a message").
#[derive(Debug, Clone, Default, PartialEq, Eq, Encode, Decode)]
pub struct Contact {
    pub name: Option<String>,
    pub email: Option<String>,
}

/// A stretch of a conversation's life, as reports measure it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Encode, Decode)]
pub enum Segment {
    /// In a queue from `since`. `taken_at` is the accept or claim that ended the wait (the next
    /// segment is that expert's); `None` while it waits, or when nobody took it.
    Waiting { since: Timestamp, taken_at: Option<Timestamp> },
    /// Owned by `expert` from `since` (accept, claim, transfer, reopen or push) until `until`:
    /// the end of the chat, or the moment it was handed on or released; `None` while it lasts.
    Owned { expert: ExpertId, since: Timestamp, until: Option<Timestamp> },
}

#[derive(Debug, Clone, PartialEq, Eq, Encode, Decode)]
pub struct Rating {
    pub score: u8,
    pub comment: Option<String>,
    pub at: Timestamp,
}

impl Conversation {
    /// A conversation as it starts: queued, waiting on the customer's first message.
    pub fn new(
        id: ConversationId,
        customer: CustomerId,
        category: String,
        style: Style,
        now: Timestamp,
    ) -> Conversation {
        Conversation {
            id,
            customer,
            category,
            style,
            status: Status::Queued,
            owner: None,
            past_owners: Vec::new(),
            offer: None,
            declined: Vec::new(),
            page: None,
            created_at: now,
            queued_at: now,
            accepted_at: None,
            first_response_at: None,
            last_customer_at: None,
            last_expert_at: None,
            last_activity_at: now,
            awaiting_reply_since: Some(now),
            nudges: 0,
            customer_left_at: None,
            first_response_due: None,
            solved_at: None,
            close_at: None,
            closed_at: None,
            left: false,
            rating: None,
            transfers: 0,
            segments: vec![Segment::Waiting { since: now, taken_at: None }],
            lang: None,
            offline: None,
            consultants: Vec::new(),
            sla: Sla::default(),
        }
    }

    /// Reports: a wait in a queue begins now; whoever had the chat has handed it on.
    pub fn begin_wait(&mut self, now: Timestamp) {
        self.end_spell(now);
        self.segments.push(Segment::Waiting { since: now, taken_at: None });
    }

    /// Reports: `expert` has the chat from now on, ending the wait (or the spell) before.
    pub fn begin_spell(&mut self, expert: ExpertId, now: Timestamp) {
        if let Some(Segment::Waiting { taken_at: taken_at @ None, .. }) = self.segments.last_mut() {
            *taken_at = Some(now);
        }
        self.end_spell(now);
        self.segments.push(Segment::Owned { expert, since: now, until: None });
    }

    /// Reports: the owner's spell, if one is running, ends now.
    pub fn end_spell(&mut self, now: Timestamp) {
        if let Some(Segment::Owned { until: until @ None, .. }) = self.segments.last_mut() {
            *until = Some(now);
        }
    }

    /// What reports may keep of this conversation once its customer's data is erased: its
    /// times, category, experts, transfers and rating score, with nothing that names the
    /// customer or quotes them (their id, page, language, the contact given with a left
    /// message, the rating's comment).
    pub fn anonymized(&self) -> Conversation {
        let mut c = self.clone();
        c.customer = CustomerId(0);
        c.page = None;
        c.lang = None;
        c.offline = c.offline.as_ref().map(|_| Contact::default());
        if let Some(r) = c.rating.as_mut() {
            r.comment = None;
        }
        c
    }

    pub fn owned_by(&self, expert: ExpertId) -> bool {
        self.owner.as_ref().is_some_and(|o| o.id == expert)
    }

    /// Whether `other` differs from this only in the activity times that every message moves.
    pub fn same_but_activity(&self, other: &Conversation) -> bool {
        let mut a = self.clone();
        a.last_customer_at = other.last_customer_at;
        a.last_expert_at = other.last_expert_at;
        a.last_activity_at = other.last_activity_at;
        a.awaiting_reply_since = other.awaiting_reply_since;
        a == *other
    }

    /// Rebuilds the activity times from the transcript, which is written with every message
    /// while the record is not.
    pub fn recall_activity(&mut self, transcript: &[StoredMessage]) {
        let said =
            |kind| transcript.iter().rev().find(|m| m.author.kind == kind && !m.internal).map(|m| m.at);
        let reply = |m: &StoredMessage| m.author.kind == AuthorKind::Expert && !m.internal;
        self.last_customer_at = self.last_customer_at.max(said(AuthorKind::Customer));
        self.last_expert_at = self.last_expert_at.max(said(AuthorKind::Expert));
        if let Some(last) = transcript.last() {
            self.last_activity_at = self.last_activity_at.max(last.at);
        }
        let unanswered = transcript.iter().rev().take_while(|m| !reply(m));
        if let Some(first_waiting) = unanswered.filter(|m| m.author.kind == AuthorKind::Customer).last() {
            if self.awaiting_reply_since.is_none() {
                self.nudges = 0;
            }
            self.awaiting_reply_since = Some(first_waiting.at);
        } else if transcript.iter().any(reply) {
            self.awaiting_reply_since = None;
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Encode, Decode, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum AuthorKind {
    Customer,
    Expert,
    Bot,
    System,
}

#[derive(Debug, Clone, PartialEq, Eq, Encode, Decode)]
pub struct Author {
    pub kind: AuthorKind,
    /// The customer's or expert's numeric id; none for bot and system.
    pub id: Option<u64>,
    pub name: Option<String>,
}

impl Author {
    pub fn customer(c: &Customer) -> Author {
        Author { kind: AuthorKind::Customer, id: Some(c.id.0), name: c.name.clone() }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Encode, Decode)]
pub struct StoredMessage {
    pub seq: u64,
    pub author: Author,
    pub text: String,
    /// Internal notes reach experts only.
    pub internal: bool,
    pub at: Timestamp,
    pub attachments: Vec<AttachmentRef>,
    /// The id its author's client gave it, so a resent frame is answered with this message
    /// instead of storing it twice; kept in the record itself so a message costs one write.
    pub client_msg_id: Option<String>,
}

/// What a message says of an attached file; the bytes live apart.
#[derive(Debug, Clone, PartialEq, Eq, Encode, Decode)]
pub struct AttachmentRef {
    pub id: AttachmentId,
    pub name: String,
    pub size: u64,
    pub content_type: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Encode, Decode)]
pub struct Attachment {
    pub summary: AttachmentRef,
    pub conversation: ConversationId,
    pub uploaded_by: Author,
    pub created_at: Timestamp,
}

/// A customer asked to be called back (no expert available, or outside office hours).
#[derive(Debug, Clone, PartialEq, Eq, Encode, Decode)]
pub struct Callback {
    pub id: CallbackId,
    pub customer: CustomerId,
    pub phone: String,
    pub message: Option<String>,
    pub category: Option<String>,
    pub created_at: Timestamp,
    pub done_at: Option<Timestamp>,
    pub done_by: Option<ExpertId>,
}

/// A prepared answer; each paragraph is sent as its own message.
#[derive(Debug, Clone, PartialEq, Eq, Encode, Decode)]
pub struct Canned {
    pub id: CannedId,
    pub title: String,
    /// Typed after `/` in the composer to pick it.
    pub shortcut: String,
    pub text: String,
    pub updated_at: Timestamp,
}

/// One webhook delivery owed: an event for one endpoint.
#[derive(Debug, Clone, PartialEq, Eq, Encode, Decode)]
pub struct WebhookEntry {
    pub id: u64,
    /// Index into the configured endpoints.
    pub endpoint: u16,
    pub kind: String,
    pub body: Vec<u8>,
    pub attempts: u32,
    pub next_attempt_at: Timestamp,
}
