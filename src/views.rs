//! Records as clients see them: the view types the wire frames carry, and one place for
//! every summary read from the store.

use serde::Serialize;

use crate::clock::{self, Timestamp};
use crate::domain::{Page, SlaKind, Status};
use crate::ids::{self, CallbackId, ConversationId, CustomerId};
use crate::sla;
use crate::store::model::{AuthorKind, Conversation};
use crate::store::model::{Callback, Customer, StoredMessage};
use crate::store::{Store, StoreError};

// ----- the views -----

#[derive(Debug, Clone, Serialize)]
pub struct AuthorView {
    pub kind: AuthorKind,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct AttachmentView {
    pub id: String,
    pub name: String,
    pub size: u64,
    pub content_type: String,
}

impl AttachmentView {
    pub fn new(a: &crate::store::model::AttachmentRef) -> AttachmentView {
        AttachmentView {
            id: a.id.to_string(),
            name: a.name.clone(),
            size: a.size,
            content_type: a.content_type.clone(),
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct MessageView {
    pub id: String,
    #[serde(with = "ids::wire")]
    pub conversation_id: ConversationId,
    pub seq: u64,
    pub author: AuthorView,
    pub text: String,
    pub internal: bool,
    pub attachments: Vec<AttachmentView>,
    #[serde(with = "clock::rfc3339")]
    pub at: Timestamp,
}

/// A message encoded once and spliced into every frame that carries it: the ack to its
/// sender and the delivery to each recipient share one serialization.
#[derive(Debug, Clone)]
pub struct MessageJson(std::sync::Arc<serde_json::value::RawValue>);

impl MessageJson {
    pub fn of(conversation: ConversationId, m: &StoredMessage) -> MessageJson {
        let raw = serde_json::value::to_raw_value(&MessageView::new(conversation, m))
            .expect("message views serialize");
        MessageJson(raw.into())
    }
}

impl Serialize for MessageJson {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.0.serialize(s)
    }
}

impl MessageView {
    pub fn new(conversation: ConversationId, m: &StoredMessage) -> MessageView {
        let id = m.author.id.map(|n| match m.author.kind {
            // A bot is an expert account (the greeting, with no id, is no one's).
            AuthorKind::Expert | AuthorKind::Bot => crate::ids::ExpertId(n).to_string(),
            _ => crate::ids::CustomerId(n).to_string(),
        });
        MessageView {
            id: ids::message_id(conversation, m.seq),
            conversation_id: conversation,
            seq: m.seq,
            author: AuthorView { kind: m.author.kind, id, name: m.author.name.clone() },
            text: m.text.clone(),
            internal: m.internal,
            attachments: m.attachments.iter().map(AttachmentView::new).collect(),
            at: m.at,
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct ExpertBrief {
    pub id: String,
    pub name: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct CustomerView {
    pub id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub external_id: Option<String>,
}

impl CustomerView {
    pub fn new(c: &Customer) -> CustomerView {
        CustomerView {
            id: c.id.to_string(),
            name: c.name.clone(),
            email: c.email.clone(),
            external_id: c.external_id.clone(),
        }
    }
}

/// A conversation as clients see it; `messages` only where a transcript is due.
#[derive(Debug, Clone, Serialize)]
pub struct ConversationView {
    #[serde(with = "ids::wire")]
    pub id: ConversationId,
    pub status: Status,
    pub category: String,
    pub customer: CustomerView,
    pub expert: Option<ExpertBrief>,
    pub page: Option<Page>,
    #[serde(with = "clock::rfc3339")]
    pub created_at: Timestamp,
    #[serde(with = "clock::rfc3339::option")]
    pub ended_at: Option<Timestamp>,
    pub last_seq: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rating: Option<RatingView>,
    /// The customer's language (BCP 47) as their widget stated it, for the expert's side panel.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lang: Option<String>,
    /// Left as a message while nobody could chat (`leave_message`); absent for a chat.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub offline: bool,
    /// The customer's opening words, in claim-list summaries.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub preview: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub messages: Option<Vec<MessageView>>,
    /// The specialists consulting on it, in its owner's welcome (`ws::consult`); absent
    /// elsewhere, so a customer never learns of a consult.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub consultants: Option<Vec<ExpertBrief>>,
    /// Staff views only (`with_sla`): the response target counting now.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sla: Option<SlaClockView>,
    /// Staff views only (`with_sla`): the breach the chat is in, until a response
    /// (`sla::current_breach`), so a reloaded console still shows it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sla_breached: Option<SlaBreachView>,
}

/// A response target being counted (PRODUCT.md v1.1, SLA targets).
#[derive(Debug, Clone, Serialize)]
pub struct SlaClockView {
    pub kind: SlaKind,
    #[serde(with = "clock::rfc3339")]
    pub due: Timestamp,
    pub target_ms: u64,
}

/// A target that passed unanswered, and when.
#[derive(Debug, Clone, Serialize)]
pub struct SlaBreachView {
    pub kind: SlaKind,
    #[serde(with = "clock::rfc3339")]
    pub at: Timestamp,
}

#[derive(Debug, Clone, Serialize)]
pub struct RatingView {
    pub score: u8,
    pub comment: Option<String>,
    #[serde(with = "clock::rfc3339")]
    pub at: Timestamp,
}

impl ConversationView {
    /// `customer` as their record has them; the name and email given with a left message
    /// stand in for theirs, being how this conversation asks to be answered.
    pub fn new(c: &Conversation, mut customer: CustomerView, last_seq: u64) -> ConversationView {
        if let Some(given) = &c.offline {
            customer.name = given.name.clone().or(customer.name);
            customer.email = given.email.clone().or(customer.email);
        }
        ConversationView {
            id: c.id,
            status: c.status,
            category: c.category.clone(),
            customer,
            expert: c.owner.as_ref().map(|o| ExpertBrief { id: o.id.to_string(), name: o.name.clone() }),
            page: c.page.clone(),
            created_at: c.created_at,
            ended_at: c.solved_at,
            last_seq,
            rating: c.rating.as_ref().map(|r| RatingView {
                score: r.score,
                comment: r.comment.clone(),
                at: r.at,
            }),
            lang: c.lang.clone(),
            offline: c.offline.is_some(),
            preview: None,
            messages: None,
            consultants: None,
            sla: None,
            sla_breached: None,
        }
    }

    /// For staff: `c`'s SLA state, `last_response` being when it was last answered (as its
    /// transcript says: the stored record's activity times may lag behind it).
    pub fn with_sla(mut self, c: &Conversation, last_response: Option<Timestamp>) -> ConversationView {
        self.sla = c.sla.running.map(|r| SlaClockView { kind: r.kind, due: r.due, target_ms: r.target_ms });
        self.sla_breached =
            sla::current_breach(&c.sla, c.status, last_response).map(|(kind, at)| SlaBreachView { kind, at });
        self
    }

    pub fn with_messages(mut self, messages: Vec<MessageView>) -> ConversationView {
        self.messages = Some(messages);
        self
    }
}

/// An embedded tool, its link filled in and signed for this customer.
#[derive(Debug, Clone, Serialize)]
pub struct ToolView {
    pub name: String,
    pub url: String,
}

/// A callback request as staff see it (the follow-up list, a customer's export).
#[derive(Debug, Clone, Serialize)]
pub struct CallbackView {
    #[serde(with = "ids::wire")]
    pub id: CallbackId,
    pub customer: CustomerView,
    pub phone: String,
    pub message: Option<String>,
    pub category: Option<String>,
    #[serde(with = "clock::rfc3339")]
    pub created_at: Timestamp,
    pub done: bool,
    #[serde(with = "clock::rfc3339::option")]
    pub done_at: Option<Timestamp>,
    pub done_by: Option<String>,
}

/// One past conversation of a customer, for `history`.
#[derive(Debug, Clone, Serialize)]
pub struct HistoryEntry {
    #[serde(with = "ids::wire")]
    pub id: ConversationId,
    pub status: Status,
    pub category: String,
    #[serde(with = "clock::rfc3339")]
    pub started_at: Timestamp,
    #[serde(with = "clock::rfc3339::option")]
    pub ended_at: Option<Timestamp>,
    pub messages: Vec<MessageView>,
}

#[derive(Debug, Clone, Serialize)]
pub struct CategoryView {
    pub id: String,
    pub name: String,
}

impl From<&crate::config::Category> for CategoryView {
    fn from(c: &crate::config::Category) -> CategoryView {
        CategoryView { id: c.id.clone(), name: c.name.clone() }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct ConversationBrief {
    #[serde(with = "ids::wire")]
    pub id: ConversationId,
    pub status: Status,
    pub last_seq: u64,
    pub expert: Option<ExpertBrief>,
    /// A left message, which the widget shows as waiting for an answer rather than in line.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub offline: bool,
}

// ----- read from the store -----

/// Characters of the customer's first message shown in a claim list.
const PREVIEW_CHARS: usize = 200;

pub fn customer_view(store: &Store, id: CustomerId) -> Result<CustomerView, StoreError> {
    Ok(match store.customer(id)? {
        Some(c) => CustomerView::new(&c),
        None => CustomerView { id: id.to_string(), name: None, email: None, external_id: None },
    })
}

pub fn callback(store: &Store, c: &Callback) -> Result<CallbackView, StoreError> {
    Ok(CallbackView {
        id: c.id,
        customer: customer_view(store, c.customer)?,
        phone: c.phone.clone(),
        message: c.message.clone(),
        category: c.category.clone(),
        created_at: c.created_at,
        done: c.done_at.is_some(),
        done_at: c.done_at,
        done_by: c.done_by.map(|e| e.to_string()),
    })
}

/// The conversation without its transcript.
pub fn summary(store: &Store, c: &Conversation) -> Result<ConversationView, StoreError> {
    Ok(ConversationView::new(c, customer_view(store, c.customer)?, store.last_seq(c.id)?))
}

/// A claim-list summary: no transcript, but the customer's opening words and the SLA state.
pub fn claim_summary(store: &Store, c: &Conversation) -> Result<ConversationView, StoreError> {
    let transcript = store.transcript(c.id, 0)?;
    // Certified experts are staff: they see the response target counting (or missed), so
    // they can take first the chat whose customer has waited nearest to it.
    let mut view = summary(store, c)?.with_sla(c, sla::last_response(&transcript));
    let first = transcript.into_iter().find(|m| m.author.kind == AuthorKind::Customer);
    view.preview = first.map(|m| m.text.chars().take(PREVIEW_CHARS).collect());
    Ok(view)
}

/// The conversation with its transcript; internal notes and SLA state only for experts and
/// admins.
pub fn with_transcript(
    store: &Store,
    c: &Conversation,
    for_expert: bool,
) -> Result<ConversationView, StoreError> {
    let transcript = store.transcript(c.id, 0)?;
    let messages =
        transcript.iter().filter(|m| for_expert || !m.internal).map(|m| MessageView::new(c.id, m)).collect();
    let view = summary(store, c)?.with_messages(messages);
    Ok(match for_expert {
        true => view.with_sla(c, sla::last_response(&transcript)),
        false => view,
    })
}

/// `view` of `c` for staff, with its SLA state. The stored reply time can only lag, so a
/// breach it does not show is none; one it shows is checked against the transcript.
pub fn with_sla(
    store: &Store,
    c: &Conversation,
    view: ConversationView,
) -> Result<ConversationView, StoreError> {
    let mut last = c.last_expert_at;
    if sla::current_breach(&c.sla, c.status, last).is_some() {
        last = sla::last_response(&store.transcript(c.id, 0)?).max(last);
    }
    Ok(view.with_sla(c, last))
}
