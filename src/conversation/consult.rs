//! Specialist consult in the conversation actor: the invite, whose note is kept in the
//! transcript as the owner's internal note, and the frames its effects become. The decisions
//! are the lifecycle's (`lifecycle::consult`); this carries them in and out.

use actix::prelude::*;

use super::outbox::Outgoing;
use super::{ConversationActor, Draft};
use crate::domain::Refusal;
use crate::lifecycle::{Effect, Event, Specialist};
use crate::messages::Act;
use crate::protocol::ServerFrame;
use crate::store::model::{Author, AuthorKind};
use crate::store::Ticket;
use crate::views::ExpertBrief;

impl ConversationActor {
    /// Invites a specialist; the invite is kept in the transcript as the owner's note.
    pub(super) fn invite(
        &mut self,
        a: &Act,
        event: &Event,
        specialist_name: &str,
        note: Option<&str>,
        ctx: &mut Context<Self>,
    ) -> Result<(), Refusal> {
        let note = note.map(str::trim).filter(|n| !n.is_empty());
        let text = match note {
            Some(note) => format!("Asked {specialist_name} to consult: {note}"),
            None => format!("Asked {specialist_name} to consult"),
        };
        let author = Author { kind: AuthorKind::Expert, id: Some(a.expert.0), name: Some(a.name.clone()) };
        self.apply_with_note(a, event, Some(Draft::new(author, text)), ctx)
    }

    pub(super) fn queue_consult_effect(&mut self, ticket: Ticket, effect: Effect) {
        let id = self.id();
        match effect {
            Effect::Consult { specialist, from, note } => match self.consult_frame(from, note) {
                Ok(frame) => {
                    self.outbox.push(ticket, Outgoing::Expert { expert: specialist, frame, except: None })
                }
                Err(e) => {
                    tracing::error!(conversation = %id, error = %e, "cannot read a consult's transcript")
                }
            },
            Effect::ConsultEnded { specialist, owner } => {
                let frame =
                    ServerFrame::ConsultEnded { conversation_id: id, expert_id: specialist.to_string() }
                        .encode();
                for expert in std::iter::once(specialist).chain(owner) {
                    self.outbox.push(ticket, Outgoing::Expert { expert, frame: frame.clone(), except: None });
                }
            }
            _ => {}
        }
    }

    /// The `consult` frame a specialist receives: the chat with its transcript (notes
    /// included) and who asked.
    fn consult_frame(
        &self,
        from: crate::ids::ExpertId,
        note: Option<String>,
    ) -> Result<bytestring::ByteString, crate::store::StoreError> {
        let conversation = self.view(true)?;
        let from = self.app.store.expert(from)?.map(|e| ExpertBrief { id: e.id.to_string(), name: e.name });
        Ok(ServerFrame::Consult { conversation, from, note }.encode())
    }
}

/// An expert's account changed (removed, or new certifications): each chat they consult on
/// is told, and a consult they may no longer hold ends (`lifecycle::consult::changed`).
#[derive(Message)]
#[rtype(result = "()")]
pub struct SpecialistChanged {
    pub expert: crate::ids::ExpertId,
    pub removed: bool,
    pub certifications: Vec<String>,
}

impl Handler<SpecialistChanged> for ConversationActor {
    type Result = ();
    fn handle(&mut self, m: SpecialistChanged, ctx: &mut Context<Self>) {
        let certified = super::rules::certified(self.claim_certification(), &m.certifications);
        let specialist = Specialist { id: m.expert, certified };
        if let Err(r) = self.apply(&Event::SpecialistChanged { specialist, removed: m.removed }, ctx) {
            tracing::warn!(conversation = %self.id(), refusal = %r, "cannot end a specialist's consult");
        }
    }
}
