//! The wire contract of PROTOCOL.md: client frames, server frames and error codes.
//! Names here are exact; clients and black-box tests rely on them.

use serde::{de::DeserializeOwned, Deserialize, Serialize};

use crate::clock::{self, Timestamp};
use crate::domain::{
    ErrorCode, OfferEnd, Page, Presence, PresenceReason, Reason, Refusal, SettableStatus, Status,
};
use crate::ids::{self, ConversationId};
use crate::views::{
    AttachmentView, CategoryView, ConversationBrief, ConversationView, ExpertBrief, HistoryEntry,
    MessageJson, ToolView,
};

/// A client's correlation value, echoed in the one answer to its frame.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Ref {
    Number(serde_json::Number),
    Text(String),
}

#[derive(Debug, Clone, Deserialize)]
pub struct UserIdentity {
    pub id: String,
    pub name: Option<String>,
    pub email: Option<String>,
    pub hash: String,
}

/// Frames a customer's widget sends on `/ws/customer`.
#[derive(Debug, Clone, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum CustomerFrame {
    Hello {
        visitor_token: Option<String>,
        user: Option<UserIdentity>,
        page: Option<Page>,
        /// The visitor's language (BCP 47, e.g. `de-CH`), as the widget chose it.
        lang: Option<String>,
    },
    Start {
        text: String,
        category: Option<String>,
        page: Option<Page>,
        client_msg_id: Option<String>,
    },
    Send {
        conversation_id: String,
        text: String,
        client_msg_id: Option<String>,
        /// Ids of files uploaded to this conversation with `POST /api/v1/attachments`.
        #[serde(default)]
        attachments: Vec<String>,
    },
    Typing {
        conversation_id: String,
        on: bool,
    },
    Read {
        conversation_id: String,
        seq: u64,
    },
    Page {
        url: String,
        title: Option<String>,
    },
    Sync {
        conversation_id: String,
        after_seq: u64,
    },
    End {
        conversation_id: String,
    },
    Rate {
        conversation_id: String,
        score: u8,
        comment: Option<String>,
    },
    Callback {
        phone: String,
        message: Option<String>,
        category: Option<String>,
    },
    /// A message left while nobody can chat (no expert available, or the office closed): a
    /// conversation that waits for an expert, with how to address and reach its customer.
    LeaveMessage {
        text: String,
        name: Option<String>,
        email: Option<String>,
        category: Option<String>,
        page: Option<Page>,
        client_msg_id: Option<String>,
    },
}

/// Frames an expert's console sends on `/ws/expert`.
#[derive(Debug, Clone, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ExpertFrame {
    Hello {
        token: String,
    },
    Presence {
        status: Presence,
    },
    Accept {
        conversation_id: String,
    },
    Decline {
        conversation_id: String,
    },
    Claim {
        conversation_id: String,
    },
    Send {
        conversation_id: String,
        text: String,
        #[serde(default)]
        internal: bool,
        client_msg_id: Option<String>,
        #[serde(default)]
        force: bool,
        #[serde(default)]
        attachments: Vec<String>,
    },
    Typing {
        conversation_id: String,
        on: bool,
    },
    Read {
        conversation_id: String,
        seq: u64,
    },
    SetStatus {
        conversation_id: String,
        status: SettableStatus,
    },
    End {
        conversation_id: String,
    },
    Leave {
        conversation_id: String,
    },
    Transfer {
        conversation_id: String,
        to_expert: Option<String>,
        to_category: Option<String>,
        note: Option<String>,
    },
    PushChat {
        customer_id: String,
        text: String,
    },
    History {
        customer_id: String,
    },
    Sync {
        conversation_id: String,
        after_seq: u64,
    },
    /// A bot hands the chat it holds to humans (PRODUCT.md v1.1, "Bots").
    Handoff {
        conversation_id: String,
        category: Option<String>,
        note: Option<String>,
    },
    /// Specialist consult: the owner asks `expert_id` to advise.
    Invite {
        conversation_id: String,
        expert_id: String,
        note: Option<String>,
    },
    /// From the specialist: ends their consult. From the owner: ends `expert_id`'s, or
    /// every consult of the chat when it names none.
    EndConsult {
        conversation_id: String,
        expert_id: Option<String>,
    },
}

/// What the server asks of any client frame type.
pub trait ClientFrame {
    /// Frames that carry a chat message, limited by `limits.messages_per_second`.
    fn is_message(&self) -> bool;
}

impl ClientFrame for CustomerFrame {
    fn is_message(&self) -> bool {
        matches!(
            self,
            CustomerFrame::Start { .. }
                | CustomerFrame::Send { .. }
                | CustomerFrame::Callback { .. }
                | CustomerFrame::LeaveMessage { .. }
        )
    }
}

impl ClientFrame for ExpertFrame {
    fn is_message(&self) -> bool {
        matches!(self, ExpertFrame::Send { .. } | ExpertFrame::PushChat { .. })
    }
}

#[derive(Deserialize)]
struct Envelope<F> {
    #[serde(rename = "ref")]
    reference: Option<Ref>,
    #[serde(flatten)]
    frame: F,
}

#[derive(Deserialize)]
struct RefOnly {
    #[serde(rename = "ref")]
    reference: Option<Ref>,
}

/// A frame that could not be read, with the `ref` it carried if that much was readable.
#[derive(Debug)]
pub struct BadFrame {
    pub reference: Option<Ref>,
    pub reason: String,
}

/// Decodes one text frame. On failure the `ref` is still recovered when the JSON is
/// well-formed, so the client's answer can be matched.
pub fn decode<F: DeserializeOwned>(text: &str) -> Result<(Option<Ref>, F), BadFrame> {
    match serde_json::from_str::<Envelope<F>>(text) {
        Ok(e) => Ok((e.reference, e.frame)),
        Err(err) => Err(BadFrame {
            reference: serde_json::from_str::<RefOnly>(text).ok().and_then(|r| r.reference),
            reason: err.to_string(),
        }),
    }
}

/// Parses attachment ids from the wire.
pub fn attachment_ids(raw: &[String]) -> Result<Vec<crate::ids::AttachmentId>, Refusal> {
    raw.iter()
        .map(|s| s.parse().map_err(|_| Refusal::new(ErrorCode::BadRequest, format!("no attachment {s:?}"))))
        .collect()
}

/// Parses a conversation id from the wire; an id we never issued is simply unknown.
pub fn conversation_id(s: &str) -> Result<ConversationId, Refusal> {
    s.parse().map_err(|_| Refusal::new(ErrorCode::NotFound, "no such conversation"))
}

// ----- what the server sends -----

/// What an `ack` carries besides its `ref`.
#[derive(Debug, Clone, Serialize)]
#[serde(untagged)]
pub enum AckBody {
    Empty {},
    Started {
        #[serde(with = "ids::wire")]
        conversation_id: ConversationId,
        message: MessageJson,
    },
    Message {
        message: MessageJson,
    },
    Synced {
        last_seq: u64,
    },
    Presence {
        presence: Presence,
    },
    Callback {
        #[serde(with = "ids::wire")]
        callback_id: crate::ids::CallbackId,
    },
    /// Accept: the whole transcript and the category's tools.
    Accepted {
        conversation: ConversationView,
        tools: Vec<ToolView>,
    },
    /// Claim: the transcript, the customer's attachments and the tools.
    Claimed {
        conversation: ConversationView,
        attachments: Vec<AttachmentView>,
        tools: Vec<ToolView>,
    },
    Pushed {
        #[serde(with = "ids::wire")]
        conversation_id: ConversationId,
    },
    History {
        conversations: Vec<HistoryEntry>,
    },
}

#[derive(Debug, Clone, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ServerFrame {
    #[serde(rename = "welcome")]
    CustomerWelcome {
        #[serde(rename = "ref", skip_serializing_if = "Option::is_none")]
        reference: Option<Ref>,
        customer_id: String,
        visitor_token: String,
        available: bool,
        office_hours_open: bool,
        #[serde(skip_serializing_if = "Option::is_none")]
        office_hours: Option<crate::office_hours::HoursView>,
        categories: Vec<CategoryView>,
        /// The windows of PRODUCT.md §7, so the widget shows "End" only when it is allowed.
        abandon_after_ms: u64,
        inactivity_end_ms: u64,
        customer_may_end: crate::config::CustomerMayEnd,
        conversations: Vec<ConversationBrief>,
        /// The estimated wait of the customer's latest queued chat (`router::wait`); null
        /// when none is queued or nothing recent is known.
        estimated_wait_ms: Option<u64>,
        /// The language the server answers this visitor in (its greeting's): the best match
        /// for `hello`'s `lang` among the languages it has texts for, else `en`.
        lang: String,
        /// `limits.max_attachment_bytes`, so the widget refuses a larger file before uploading.
        max_attachment_bytes: usize,
    },
    #[serde(rename = "welcome")]
    ExpertWelcome {
        #[serde(rename = "ref", skip_serializing_if = "Option::is_none")]
        reference: Option<Ref>,
        expert: ExpertBrief,
        presence: Presence,
        conversations: Vec<ConversationView>,
        claimable: Vec<ConversationView>,
        /// Where a chat can be transferred.
        categories: Vec<CategoryView>,
        /// `limits.max_attachment_bytes`, so the console refuses a larger file before uploading.
        max_attachment_bytes: usize,
    },
    Ack {
        #[serde(rename = "ref")]
        reference: Option<Ref>,
        #[serde(flatten)]
        body: AckBody,
    },
    Error {
        #[serde(rename = "ref", skip_serializing_if = "Option::is_none")]
        reference: Option<Ref>,
        code: ErrorCode,
        message: String,
    },
    Message {
        message: MessageJson,
    },
    Queue {
        #[serde(with = "ids::wire")]
        conversation_id: ConversationId,
        position: u32,
        /// The estimate of `router::wait`; null while nothing recent is known.
        estimated_wait_ms: Option<u64>,
    },
    Assigned {
        #[serde(with = "ids::wire")]
        conversation_id: ConversationId,
        expert: ExpertBrief,
    },
    Status {
        #[serde(with = "ids::wire")]
        conversation_id: ConversationId,
        status: Status,
        #[serde(skip_serializing_if = "Option::is_none")]
        reason: Option<Reason>,
    },
    Typing {
        #[serde(with = "ids::wire")]
        conversation_id: ConversationId,
        on: bool,
    },
    Read {
        #[serde(with = "ids::wire")]
        conversation_id: ConversationId,
        seq: u64,
    },
    Page {
        #[serde(with = "ids::wire")]
        conversation_id: ConversationId,
        url: String,
        title: Option<String>,
    },
    Offer {
        conversation: ConversationView,
        #[serde(with = "clock::rfc3339")]
        expires_at: Timestamp,
        accept_window_ms: u64,
        /// The time left, so a console shown the offer late (after a reconnect) counts down
        /// from the right place whatever its clock says.
        expires_in_ms: u64,
    },
    OfferWithdrawn {
        #[serde(with = "ids::wire")]
        conversation_id: ConversationId,
        reason: OfferEnd,
    },
    Presence {
        status: Presence,
        #[serde(skip_serializing_if = "Option::is_none")]
        reason: Option<PresenceReason>,
    },
    Nudge {
        #[serde(with = "ids::wire")]
        conversation_id: ConversationId,
        waiting_ms: u64,
    },
    /// A claim-mode chat listed to a certified expert: a summary, no attachments, no tools.
    Claimable {
        conversation: ConversationView,
    },
    Claimed {
        #[serde(with = "ids::wire")]
        conversation_id: ConversationId,
    },
    Released {
        #[serde(with = "ids::wire")]
        conversation_id: ConversationId,
        reason: Reason,
    },
    /// To the new owner: the whole transcript, who handed it over and why.
    Transferred {
        #[serde(with = "ids::wire")]
        conversation_id: ConversationId,
        from: Option<ExpertBrief>,
        note: Option<String>,
        conversation: ConversationView,
        tools: Vec<ToolView>,
    },
    /// To the customer: an expert opened a chat with them.
    PushChat {
        #[serde(with = "ids::wire")]
        conversation_id: ConversationId,
        expert: ExpertBrief,
    },
    /// To a bot: a new chat it answers first, with its transcript so far.
    Chat {
        conversation: ConversationView,
    },
    /// To the owner: a response target passed unanswered (v1.1, SLA targets).
    SlaBreach {
        #[serde(with = "ids::wire")]
        conversation_id: ConversationId,
        kind: crate::domain::SlaKind,
        target_ms: u64,
        /// When it was breached: the same moment the webhook's `breached_at` and a reloaded
        /// console's `sla_breached.at` give.
        #[serde(with = "clock::rfc3339")]
        at: Timestamp,
    },
    /// To a specialist: the owner (`from`) asks them to advise on this chat.
    Consult {
        conversation: ConversationView,
        from: Option<ExpertBrief>,
        note: Option<String>,
    },
    /// To the specialist and the owner: a consult is over.
    ConsultEnded {
        #[serde(with = "ids::wire")]
        conversation_id: ConversationId,
        expert_id: String,
    },
}

impl ServerFrame {
    pub fn ack(reference: Option<Ref>, body: AckBody) -> ServerFrame {
        ServerFrame::Ack { reference, body }
    }

    pub fn error(reference: Option<Ref>, refusal: Refusal) -> ServerFrame {
        ServerFrame::Error { reference, code: refusal.code, message: refusal.message }
    }

    pub fn encode(&self) -> bytestring::ByteString {
        // Serializing plain data to a String cannot fail.
        serde_json::to_string(self).expect("server frames serialize").into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_frames_and_keeps_the_ref() {
        let (r, f) =
            decode::<CustomerFrame>(r#"{"type":"send","ref":7,"conversation_id":"c_1","text":"hi"}"#)
                .unwrap();
        assert_eq!(r, Some(Ref::Number(7.into())));
        assert!(matches!(f, CustomerFrame::Send { ref text, .. } if text == "hi"));
    }

    #[test]
    fn bad_frames_still_yield_their_ref() {
        let e = decode::<CustomerFrame>(r#"{"type":"nope","ref":"a"}"#).unwrap_err();
        assert_eq!(e.reference, Some(Ref::Text("a".into())));
        let e = decode::<ExpertFrame>(r#"{"type":"accept","ref":1}"#).unwrap_err();
        assert!(e.reason.contains("conversation_id"), "{}", e.reason);
        let e = decode::<ExpertFrame>("not json").unwrap_err();
        assert_eq!(e.reference, None);
    }

    #[test]
    fn acks_flatten_their_body_beside_the_ref() {
        let f = ServerFrame::ack(Some(Ref::Text("x".into())), AckBody::Synced { last_seq: 4 });
        assert_eq!(&*f.encode(), r#"{"type":"ack","ref":"x","last_seq":4}"#);
        let f = ServerFrame::error(None, Refusal::new(ErrorCode::NotAllowed, "no"));
        assert_eq!(&*f.encode(), r#"{"type":"error","code":"not_allowed","message":"no"}"#);
    }
}
