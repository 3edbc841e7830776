//! What an expert console needs to know of specialist consults: who may be invited, and the
//! consults an expert is on when their console (re)connects.

use bytestring::ByteString;

use crate::app::App;
use crate::conversation::internal_error;
use crate::domain::{ErrorCode, Refusal};
use crate::ids::ExpertId;
use crate::protocol::ServerFrame;
use crate::store::model::Conversation;
use crate::store::model::Expert;
use crate::store::{Store, StoreError};
use crate::views::{self, ConversationView, ExpertBrief};

fn no_such_expert() -> Refusal {
    Refusal::new(ErrorCode::NotFound, "no such expert")
}

pub fn expert_id(raw: &str) -> Result<ExpertId, Refusal> {
    raw.parse().map_err(|_| no_such_expert())
}

/// The expert an `invite` names: one that exists and was not removed, and a human: a bot
/// writes to customers only, never internal notes.
pub fn invitee(store: &Store, raw: &str) -> Result<Expert, Refusal> {
    let expert = store.expert(expert_id(raw)?).map_err(internal_error)?;
    let expert = expert.filter(|e| !e.removed).ok_or_else(no_such_expert)?;
    match expert.bot {
        true => Err(Refusal::new(ErrorCode::Forbidden, "a bot cannot be invited as a specialist")),
        false => Ok(expert),
    }
}

/// A `consult` frame for each chat `expert` is consulting on, found in the hub's index of
/// consults (each record read back, so the frame is what is stored). The invite's note is in
/// the transcript, as the owner's internal note.
pub fn open_consults(app: &App, expert: ExpertId) -> Result<Vec<ByteString>, StoreError> {
    let store = &app.store;
    let mut frames = Vec::new();
    let chats = app.hub.consults.of(expert).into_iter().map(|id| store.conversation(id));
    for c in chats.filter_map(Result::transpose) {
        let c = c?;
        if !c.consultants.contains(&expert) {
            continue;
        }
        let from = c.owner.as_ref().map(|o| ExpertBrief { id: o.id.to_string(), name: o.name.clone() });
        let conversation = views::with_transcript(store, &c, true)?;
        frames.push(ServerFrame::Consult { conversation, from, note: None }.encode());
    }
    Ok(frames)
}

/// A chat in its owner's welcome: the summary, with the specialists consulting on it, so a
/// reconnected console can still show and end the consult.
pub fn owned_summary(store: &Store, c: &Conversation) -> Result<ConversationView, StoreError> {
    let mut view = views::summary(store, c)?;
    let mut consultants = Vec::with_capacity(c.consultants.len());
    for &id in &c.consultants {
        let name = store.expert(id)?.map_or_else(|| id.to_string(), |e| e.name);
        consultants.push(ExpertBrief { id: id.to_string(), name });
    }
    view.consultants = Some(consultants);
    Ok(view)
}
