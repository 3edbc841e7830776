//! The domain's words, at the bottom of the layers: every other module may use these, and
//! these use nothing of ours but ids and time. Choices that reach the wire, metrics or logs
//! are enums named once here, so those three cannot drift apart.

use serde::{Deserialize, Serialize};

/// An enum whose variants each have one contract name: `as_str` and serde both read it from
/// the one list written here.
macro_rules! named {
    ($(#[$meta:meta])* pub enum $name:ident { $($(#[$vmeta:meta])* $variant:ident = $text:literal,)* }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum $name {
            $($(#[$vmeta])* $variant,)*
        }

        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$variant,)*];

            pub fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $text,)*
                }
            }
        }

        impl Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(self.as_str())
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

/// PRODUCT.md's lifecycle states.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, bincode::Encode, bincode::Decode, Serialize, Deserialize,
)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    Queued,
    Offered,
    Open,
    Pending,
    OnHold,
    Solved,
    Closed,
    Abandoned,
}

impl Status {
    /// Closed and abandoned conversations have no actor and accept nothing more.
    pub fn is_terminal(self) -> bool {
        matches!(self, Status::Closed | Status::Abandoned)
    }

    /// Waiting for an expert to take it: counted in queue positions.
    pub fn is_waiting(self) -> bool {
        matches!(self, Status::Queued | Status::Offered)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Status::Queued => "queued",
            Status::Offered => "offered",
            Status::Open => "open",
            Status::Pending => "pending",
            Status::OnHold => "on_hold",
            Status::Solved => "solved",
            Status::Closed => "closed",
            Status::Abandoned => "abandoned",
        }
    }
}

/// The statuses an owner may set.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SettableStatus {
    Open,
    Pending,
    OnHold,
}

/// Which response target an SLA clock counts (PROTOCOL.md v1.1, `sla_breach` events' `kind`).
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, bincode::Encode, bincode::Decode, Serialize, Deserialize,
)]
#[serde(rename_all = "snake_case")]
pub enum SlaKind {
    /// From the chat's start until an expert's first reply.
    FirstResponse,
    /// From a customer's message, once answered before, until the next expert reply.
    NextResponse,
}

impl SlaKind {
    pub fn as_str(self) -> &'static str {
        match self {
            SlaKind::FirstResponse => "first_response",
            SlaKind::NextResponse => "next_response",
        }
    }
}

/// How a solved conversation becomes closed (PRODUCT.md §6).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, bincode::Encode, bincode::Decode)]
#[serde(rename_all = "snake_case")]
pub enum Style {
    LiveChat,
    Returning,
    Messaging,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Presence {
    Available,
    Away,
    Offline,
}

/// The page a customer is on.
#[derive(Debug, Clone, PartialEq, Eq, bincode::Encode, bincode::Decode, Serialize, Deserialize)]
pub struct Page {
    pub url: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
}

named! {
    /// Why a conversation's status changed (`status` events' `reason`).
    pub enum Reason {
        ExpertEnded = "expert_ended",
        CustomerEnded = "customer_ended",
        Inactivity = "inactivity",
        LeftSite = "left_site",
        Abandoned = "abandoned",
        ClosedAfterSolved = "closed_after_solved",
        Reopened = "reopened",
        Transferred = "transferred",
        NoResponse = "no_response",
        ExpertRemoved = "expert_removed",
        /// An admin erased the customer's data (data rights) while the chat was live.
        Erased = "erased",
    }
}

named! {
    /// Why an offer ended without an accept (`offer_withdrawn` events, the offers metric).
    pub enum OfferEnd {
        Declined = "declined",
        Expired = "expired",
        /// The expert went away or offline, or was removed.
        Unavailable = "unavailable",
        /// The customer ended the chat or left before anyone accepted.
        Abandoned = "abandoned",
    }
}

named! {
    /// Why the server set an expert's presence (`presence` events).
    pub enum PresenceReason {
        MissedOffers = "missed_offers",
    }
}

named! {
    /// The webhook events (PROTOCOL.md), as their `event` names.
    pub enum EventKind {
        ConversationStarted = "conversation.started",
        ConversationAssigned = "conversation.assigned",
        ConversationTransferred = "conversation.transferred",
        ConversationEnded = "conversation.ended",
        ConversationClosed = "conversation.closed",
        ConversationAbandoned = "conversation.abandoned",
        ConversationRated = "conversation.rated",
        CallbackRequested = "callback.requested",
        MessageLeft = "message.left",
        CustomerErased = "customer.erased",
        SlaBreached = "sla.breached",
    }
}

/// The contract's error codes, shared by HTTP and websockets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    BadRequest,
    TooLarge,
    RateLimited,
    Unauthorized,
    Forbidden,
    NotFound,
    Conflict,
    CapacityFull,
    NotAllowed,
    DuplicateMessage,
    Closed,
    Unavailable,
    Internal,
}

/// A refusal: a contract code and a sentence for people.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{code:?}: {message}")]
pub struct Refusal {
    pub code: ErrorCode,
    pub message: String,
}

impl Refusal {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Refusal {
        Refusal { code, message: message.into() }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn named_enums_serialize_as_their_contract_names() {
        for r in Reason::ALL {
            assert_eq!(serde_json::to_value(r).unwrap(), r.as_str());
        }
        assert_eq!(serde_json::to_value(OfferEnd::Expired).unwrap(), "expired");
        assert_eq!(EventKind::CallbackRequested.to_string(), "callback.requested");
        let names: std::collections::HashSet<_> = Reason::ALL.iter().map(|r| r.as_str()).collect();
        assert_eq!(names.len(), Reason::ALL.len(), "each reason has its own name");
    }
}
