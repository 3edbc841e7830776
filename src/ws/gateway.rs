//! The way from a session to a conversation, shared by both kinds of session: the live actor
//! of a conversation, or the stored record of one that has ended, for a viewer who may read
//! it. Actors a session has talked to are remembered, so each frame skips the directory.

use std::collections::HashMap;

use actix::prelude::*;

use crate::access::Viewer;
use crate::app::AppState;
use crate::conversation::{internal_error, not_found, ConversationActor};
use crate::domain::Refusal;
use crate::ids::ConversationId;
use crate::protocol;
use crate::store::model::Conversation;

/// Where a frame about a conversation goes.
pub enum Target {
    Live(Addr<ConversationActor>),
    Ended(Box<Conversation>),
}

pub struct Gateway {
    app: AppState,
    known: HashMap<ConversationId, Addr<ConversationActor>>,
}

impl Gateway {
    pub fn new(app: AppState) -> Gateway {
        Gateway { app, known: HashMap::new() }
    }

    /// The conversation `raw` names, for `viewer`. What they may not read answers like what
    /// does not exist, and no actor is started for them. `offer`: an offer or a claim, which
    /// the conversation itself answers (the chat is visible to its claimers before it is
    /// theirs, and a gone offer is a `conflict`, not a secret).
    pub fn target(&mut self, viewer: Viewer, raw: &str, offer: bool) -> Result<Target, Refusal> {
        let id = protocol::conversation_id(raw)?;
        if let Some(addr) = self.known.get(&id).filter(|a| a.connected()) {
            return Ok(Target::Live(addr.clone()));
        }
        let record = self.app.store.conversation(id).map_err(internal_error)?.ok_or_else(not_found)?;
        if !offer && !self.app.may_read(&record, viewer).map_err(internal_error)? {
            return Err(not_found());
        }
        match self.app.conversation(id).map_err(internal_error)? {
            Some(addr) => {
                self.known.insert(id, addr.clone());
                Ok(Target::Live(addr))
            }
            None => {
                self.known.remove(&id);
                Ok(Target::Ended(Box::new(record)))
            }
        }
    }

    /// An actor this session started or found otherwise.
    pub fn remember(&mut self, id: ConversationId, addr: Addr<ConversationActor>) {
        self.known.insert(id, addr);
    }

    /// The live actors this session has talked to.
    pub fn known(&self) -> impl Iterator<Item = &Addr<ConversationActor>> {
        self.known.values()
    }
}
