//! What a conversation owes the world, held until the store has made it durable.
//! One flush wait is in flight at a time; when it returns, everything it covered goes out
//! in the order it was queued, so events never overtake the state they report.
//!
//! The wait is a callback on the store (`Store::when_durable`), and whatever needs no actor
//! (frames to sessions, answers, word to the router, the seq a sync may replay) goes out from
//! the thread that learns of the commit: with the embedded store, the flusher's, right after
//! the sync. That spares a message its hand-off to the conversation's thread and back out,
//! the longest stretch of its way after the disk. What needs the actor (stopping it) is
//! handed to it, with everything queued behind, so the order holds.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, MutexGuard};

use actix::prelude::*;
use actix::WeakAddr;
use bytestring::ByteString;

use super::ConversationActor;
use crate::app::AppState;
use crate::domain::{ErrorCode, Refusal};
use crate::hub::Hub;
use crate::ids::{CustomerId, ExpertId};
use crate::messages::{OfferOutcome, ReplyTo, Track};
use crate::protocol::ServerFrame;
use crate::router::Router;
use crate::store::{Store, StoreError, Ticket};

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
    /// The answer to a client frame, encoded.
    Reply {
        to: ReplyTo,
        frame: ByteString,
    },
    /// This seq is durable and may be replayed by a sync.
    Delivered(u64),
    Router(Box<Track>),
    Outcome(OfferOutcome),
    Stop,
    /// Erased: the actor stops now (no grace: nobody may act on it any more) and says so.
    Gone(tokio::sync::oneshot::Sender<Result<(), Refusal>>),
}

impl Outgoing {
    /// Stopping the actor needs its context: the actor performs these itself.
    fn needs_actor(&self) -> bool {
        matches!(self, Outgoing::Stop | Outgoing::Gone(_))
    }
}

/// The queue, and what sending it out needs, shared by the actor (which fills it) and
/// whichever thread settles its waits.
#[derive(Clone)]
pub struct Outbox {
    queue: Arc<Mutex<Queue>>,
    hub: Arc<Hub>,
    router: Addr<Router>,
    customer: CustomerId,
    /// Weak: the actor holds its outbox, and an address of its own would keep it alive.
    actor: WeakAddr<ConversationActor>,
    store: Store,
}

struct Queue {
    items: VecDeque<(Ticket, Outgoing)>,
    /// A flush wait is in flight, or the actor has been handed the rest.
    waiting: bool,
    /// The highest seq known durable and delivered: what a sync may replay.
    delivered_seq: u64,
}

impl Queue {
    /// The ticket to wait for, when items wait and no wait is in flight (marking one so).
    fn next_wait(&mut self) -> Option<Ticket> {
        if self.waiting {
            return None;
        }
        let &(target, _) = self.items.back()?;
        self.waiting = true;
        Some(target)
    }
}

/// Sent to the actor when a wait settled on something only it can do, or failed.
pub struct Settled {
    upto: Ticket,
    result: Result<(), StoreError>,
}

impl Message for Settled {
    type Result = ();
}

impl Outbox {
    /// An empty outbox for the conversation `customer` talks in, whose actor is `actor` and
    /// whose seqs up to `delivered_seq` are durable.
    pub fn new(
        app: &AppState,
        customer: CustomerId,
        actor: Addr<ConversationActor>,
        delivered_seq: u64,
    ) -> Outbox {
        let queue = Queue { items: VecDeque::new(), waiting: false, delivered_seq };
        Outbox {
            queue: Arc::new(Mutex::new(queue)),
            hub: app.hub.clone(),
            router: app.router.clone(),
            customer,
            actor: actor.downgrade(),
            store: app.store.clone(),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Queue> {
        self.queue.lock().expect("outbox lock")
    }

    /// Queues `item` to go out once `ticket` is durable, behind everything queued before it,
    /// and makes sure a flush wait covers it. Every push does: a wait may settle on another
    /// thread between two pushes of one handler, and an item queued after it would otherwise
    /// wait for the next push.
    pub fn push(&self, ticket: Ticket, item: Outgoing) {
        let target = {
            let mut queue = self.lock();
            queue.items.push_back((ticket, item));
            queue.next_wait()
        };
        self.wait_for(target);
    }

    /// A reply that needs no write of its own still waits behind earlier items.
    pub fn reply(&self, to: ReplyTo, frame: ServerFrame) {
        let frame = frame.encode();
        let mut queue = self.lock();
        let Some(&(ticket, _)) = queue.items.back() else {
            drop(queue);
            return to.deliver(frame);
        };
        queue.items.push_back((ticket, Outgoing::Reply { to, frame }));
        let target = queue.next_wait();
        drop(queue);
        self.wait_for(target);
    }

    /// What a sync may replay: the seqs whose delivery went out.
    pub fn delivered_seq(&self) -> u64 {
        self.lock().delivered_seq
    }

    /// Makes sure a flush wait covers everything queued.
    fn watch(&self) {
        let target = self.lock().next_wait();
        self.wait_for(target);
    }

    /// Waits, through the store, for `target` (`next_wait`'s answer, the wait marked already).
    fn wait_for(&self, target: Option<Ticket>) {
        let Some(target) = target else { return };
        let me = self.clone();
        self.store.when_durable(target, Box::new(move |result| me.settle(target, result)));
    }

    /// The wait for `upto` settled: sends out everything it covered, up to the first item
    /// only the actor can perform (the actor is handed that and the rest), then waits for
    /// whatever was queued meanwhile.
    fn settle(self, upto: Ticket, result: Result<(), StoreError>) {
        if result.is_err() {
            return self.hand_over(Settled { upto, result });
        }
        {
            let mut queue = self.lock();
            while let Some((ticket, item)) = queue.items.front() {
                if *ticket > upto {
                    break;
                }
                if item.needs_actor() {
                    drop(queue);
                    return self.hand_over(Settled { upto, result });
                }
                let (_, item) = queue.items.pop_front().expect("front exists");
                self.send(&mut queue, item);
            }
            queue.waiting = false;
        }
        self.watch();
    }

    /// Hands the rest to the actor; one that has stopped writes and sends nothing more.
    fn hand_over(&self, settled: Settled) {
        if let Some(actor) = self.actor.upgrade() {
            actor.do_send(settled);
        }
    }

    /// Sends out `item`, which needs no actor, with the queue held: nothing queued after it
    /// can overtake it, nor can a sync read a delivered seq whose frames have not gone out.
    fn send(&self, queue: &mut Queue, item: Outgoing) {
        match item {
            Outgoing::Customer { frame, except } => self.hub.to_customer(self.customer, &frame, except),
            Outgoing::Expert { expert, frame, except } => self.hub.to_expert(expert, &frame, except),
            Outgoing::Reply { to, frame } => to.deliver(frame),
            Outgoing::Delivered(seq) => queue.delivered_seq = queue.delivered_seq.max(seq),
            Outgoing::Router(track) => self.router.do_send(*track),
            Outgoing::Outcome(outcome) => self.router.do_send(outcome),
            Outgoing::Stop | Outgoing::Gone(_) => unreachable!("the actor performs these"),
        }
    }
}

impl ConversationActor {
    /// Performs everything up to `upto` in order, the items only an actor can perform too.
    fn release(&mut self, upto: Ticket, ctx: &mut Context<Self>) {
        let mut queue = self.outbox.lock();
        while queue.items.front().is_some_and(|(t, _)| *t <= upto) {
            let (_, item) = queue.items.pop_front().expect("front exists");
            match item {
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
                item => self.outbox.send(&mut queue, item),
            }
        }
    }

    /// The flush failed: nobody is told anything that may not be on disk. Senders get
    /// `internal`; the actor stops so the next request reloads what the store really holds.
    fn fail(&mut self, upto: Ticket, error: StoreError, ctx: &mut Context<Self>) {
        tracing::error!(conversation = %self.id(), %error, "flush failed; dropping unconfirmed work");
        let mut queue = self.outbox.lock();
        while queue.items.front().is_some_and(|(t, _)| *t <= upto) {
            if let Some((_, Outgoing::Reply { to, .. })) = queue.items.pop_front() {
                let refusal =
                    Refusal::new(ErrorCode::Internal, "the server could not store this; please retry");
                to.send(ServerFrame::error(to.reference.clone(), refusal));
            }
        }
        ctx.stop();
    }
}

impl Handler<Settled> for ConversationActor {
    type Result = ();

    fn handle(&mut self, settled: Settled, ctx: &mut Context<Self>) {
        let Settled { upto, result } = settled;
        match result {
            Ok(()) => {
                self.release(upto, ctx);
                self.outbox.lock().waiting = false;
                self.outbox.watch();
            }
            // The actor stops; nothing queued after the failure goes out either (the wait
            // stays marked in flight, so none is made for it).
            Err(e) => self.fail(upto, e, ctx),
        }
    }
}
