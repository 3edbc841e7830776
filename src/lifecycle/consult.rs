//! Specialist consult (PRODUCT.md v1.1): the owner of an active chat invites another expert
//! to advise; the specialist reads it and writes internal notes until the owner or they end
//! it. A consult lasts at most as long as the owner's spell: it ends when the chat stops
//! being active (solved, closed, abandoned, back in a queue) or changes owner, so a new owner
//! never inherits advisers they did not ask for. It holds nobody's capacity: the router never
//! hears of it.

use super::{owner_only, Effect, Transition};
use crate::access::{self, Viewer};
use crate::domain::{ErrorCode, Refusal, Status};
use crate::ids::ExpertId;
use crate::store::model::Conversation;

/// The invited expert, as the caller found them: an existing expert not removed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Specialist {
    pub id: ExpertId,
    /// Holds the certification a claimed 1-to-1 chat requires (true where none is required):
    /// the certification travels with the chat, to a consult too.
    pub certified: bool,
}

fn active(c: &Conversation) -> bool {
    matches!(c.status, Status::Open | Status::Pending | Status::OnHold)
}

/// The one access rule's `may_send`, as a refusal: a specialist replying to the customer is
/// told why, anyone else that the chat is not theirs.
pub(super) fn may_write(c: &Conversation, expert: ExpertId, internal: bool) -> Result<(), Refusal> {
    if access::may_send(c, Viewer::Expert(expert), internal) {
        return Ok(());
    }
    if c.consultants.contains(&expert) {
        return Err(Refusal::new(ErrorCode::Forbidden, "a specialist writes internal notes only"));
    }
    owner_only(c, expert)
}

pub(super) fn invite(
    c: &Conversation,
    owner: ExpertId,
    specialist: &Specialist,
    note: &Option<String>,
) -> Result<Transition, Refusal> {
    owner_only(c, owner)?;
    if !active(c) {
        return Err(Refusal::new(ErrorCode::NotAllowed, "only an active conversation takes a consult"));
    }
    if specialist.id == owner {
        return Err(Refusal::new(ErrorCode::BadRequest, "the conversation is already yours"));
    }
    if !specialist.certified {
        return Err(Refusal::new(
            ErrorCode::Forbidden,
            "that expert lacks the certification this chat needs",
        ));
    }
    if c.consultants.contains(&specialist.id) {
        return Err(Refusal::new(ErrorCode::Conflict, "that expert is already consulting on this chat"));
    }
    let mut n = c.clone();
    n.consultants.push(specialist.id);
    let consult = Effect::Consult { specialist: specialist.id, from: owner, note: note.clone() };
    Ok(Transition::to(n, vec![consult]))
}

pub(super) fn end(
    c: &Conversation,
    by: ExpertId,
    specialist: Option<ExpertId>,
) -> Result<Transition, Refusal> {
    let ending: Vec<ExpertId> = match specialist {
        // A specialist ends their own consult, whatever they name.
        _ if c.consultants.contains(&by) => vec![by],
        Some(s) => {
            owner_only(c, by)?;
            if !c.consultants.contains(&s) {
                return Err(Refusal::new(ErrorCode::NotFound, "that expert is not consulting on this chat"));
            }
            vec![s]
        }
        None => {
            owner_only(c, by)?;
            c.consultants.clone()
        }
    };
    if ending.is_empty() {
        return Ok(Transition::default());
    }
    let mut n = c.clone();
    n.consultants.retain(|e| !ending.contains(e));
    let owner = c.owner.as_ref().map(|o| o.id);
    Ok(Transition::to(
        n,
        ending.into_iter().map(|specialist| Effect::ConsultEnded { specialist, owner }).collect(),
    ))
}

/// A specialist whose account was removed, or who no longer holds the certification the chat
/// needs, can advise no more: their consult ends, told to the owner as any end is. The same
/// rule as at the invite, so a consult never outlives what allowed it.
pub(super) fn changed(c: &Conversation, specialist: &Specialist, removed: bool) -> Transition {
    if !c.consultants.contains(&specialist.id) || (specialist.certified && !removed) {
        return Transition::default();
    }
    // A specialist always may end their own consult.
    end(c, specialist.id, Some(specialist.id)).unwrap_or_default()
}

/// Ends every consult of a chat that stopped being active or changed owner in `t`; the owner
/// told is the one the consults were for.
pub(super) fn settle(before: &Conversation, mut t: Transition) -> Transition {
    let Some(n) = t.next.as_mut() else { return t };
    let owner = before.owner.as_ref().map(|o| o.id);
    if n.consultants.is_empty() || (active(n) && n.owner.as_ref().map(|o| o.id) == owner) {
        return t;
    }
    for specialist in std::mem::take(&mut n.consultants) {
        t.effects.push(Effect::ConsultEnded { specialist, owner });
    }
    t
}
