//! What a conversation owes the world, held until the store has made it durable.
//! One flush wait is in flight at a time; when it returns, everything it covered goes out
//! in the order it was queued, so events never overtake the state they report.

use std::collections::VecDeque;

use actix::prelude::*;
use bytestring::ByteString;

use super::ConversationActor;
use crate::domain::{ErrorCode, Refusal};
use crate::ids::ExpertId;
use crate::messages::{OfferOutcome, ReplyTo, Track};
use crate::protocol::ServerFrame;
use crate::store::Ticket;

/// How long a closed conversation's actor stays to answer frames that were already sent.
const STOP_GRACE: std::time::Duration = std::time::Duration::from_secs(5);

pub enum Outgoing {
    Customer {
        frame: ByteString,
        except: Option<u64>,
    },
    Expert {
        expert: ExpertId,
        frame: ByteString,
        except: Option<u64>,
    },
    /// The answer to a client frame.
    Reply {
        to: ReplyTo,
        frame: Box<ServerFrame>,
    },
    /// This seq is durable and may be replayed by a sync.
    Delivered(u64),
    Router(Box<Track>),
    Outcome(OfferOutcome),
    Stop,
    /// Erased: the actor stops now (no grace: nobody may act on it any more) and says so.
    Gone(tokio::sync::oneshot::Sender<Result<(), Refusal>>),
}

#[derive(Default)]
pub struct Outbox {
    items: VecDeque<(Ticket, Outgoing)>,
    waiting: bool,
}

impl Outbox {
    pub fn push(&mut self, ticket: Ticket, item: Outgoing) {
        self.items.push_back((ticket, item));
    }

    /// A reply that needs no write of its own still waits behind earlier items.
    pub fn reply(&mut self, to: ReplyTo, frame: ServerFrame) {
        match self.items.back() {
            Some(&(ticket, _)) => self.push(ticket, Outgoing::Reply { to, frame: Box::new(frame) }),
            None => to.send(frame),
        }
    }
}

impl ConversationActor {
    pub(super) fn watch_flush(&mut self, ctx: &mut Context<Self>) {
        if self.outbox.waiting {
            return;
        }
        let Some(&(target, _)) = self.outbox.items.back() else {
            return;
        };
        self.outbox.waiting = true;
        let store = self.app.store.clone();
        ctx.spawn(async move { store.durable(target).await }.into_actor(self).map(
            move |result, act, ctx| {
                act.outbox.waiting = false;
                match result {
                    Ok(()) => act.release(target, ctx),
                    Err(e) => act.fail(target, e, ctx),
                }
                act.watch_flush(ctx);
            },
        ));
    }

    fn release(&mut self, upto: Ticket, ctx: &mut Context<Self>) {
        while self.outbox.items.front().is_some_and(|(t, _)| *t <= upto) {
            let (_, item) = self.outbox.items.pop_front().expect("front exists");
            self.perform(item, ctx);
        }
    }

    fn perform(&mut self, item: Outgoing, ctx: &mut Context<Self>) {
        let hub = &self.app.hub;
        match item {
            Outgoing::Customer { frame, except } => hub.to_customer(self.conv.customer, &frame, except),
            Outgoing::Expert { expert, frame, except } => hub.to_expert(expert, &frame, except),
            Outgoing::Reply { to, frame } => to.send(*frame),
            Outgoing::Delivered(seq) => self.delivered_seq = self.delivered_seq.max(seq),
            Outgoing::Router(track) => self.app.router.do_send(*track),
            Outgoing::Outcome(outcome) => self.app.router.do_send(outcome),
            Outgoing::Stop => {
                // New lookups find the closed record from now on; frames already on their
                // way here are still answered (`closed`) before the actor goes.
                self.app.hub.remove_conversation(self.id(), &ctx.address());
                ctx.run_later(STOP_GRACE, |_, ctx| ctx.stop());
            }
            Outgoing::Gone(done) => {
                self.app.hub.remove_conversation(self.id(), &ctx.address());
                ctx.stop();
                let _ = done.send(Ok(()));
            }
        }
    }

    /// The flush failed: nobody is told anything that may not be on disk. Senders get
    /// `internal`; the actor stops so the next request reloads what the store really holds.
    fn fail(&mut self, upto: Ticket, error: crate::store::StoreError, ctx: &mut Context<Self>) {
        tracing::error!(conversation = %self.id(), %error, "flush failed; dropping unconfirmed work");
        while self.outbox.items.front().is_some_and(|(t, _)| *t <= upto) {
            if let Some((_, Outgoing::Reply { to, .. })) = self.outbox.items.pop_front() {
                let refusal =
                    Refusal::new(ErrorCode::Internal, "the server could not store this; please retry");
                to.send(ServerFrame::error(to.reference.clone(), refusal));
            }
        }
        ctx.stop();
    }
}
