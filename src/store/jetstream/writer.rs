//! The write pipeline's bookkeeping. Every write gets a position when it is taken; a ticket
//! is the last position handed out; a ticket is durable once every position up to it has
//! its JetStream acknowledgement. Writes are sent concurrently, except that a write waits
//! for the write before it to the same key or transcript (whose stream sequence it names)
//! and for the write before it in the same stretch of one thread (see `Group`).
//!
//! A write that fails (refused by JetStream because another writer got there first, cancelled
//! because an earlier write of its stretch was refused, or lost after `retry_for` of
//! retries) fails every ticket from its position up to the last position handed out when
//! the failure was learned: whoever took such a ticket may have counted on it. Tickets
//! taken later are not failed by it.

use std::cell::RefCell;
use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};

use tokio::sync::watch;

use crate::store::{StoreError, Ticket};

/// How a write ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Failure {
    /// Its condition did not hold at the server.
    Refused,
    /// An earlier write of its stretch failed, so it was never sent.
    Cancelled,
    /// NATS did not take it within `retry_for`.
    Lost(String),
}

/// A write's result: the stream sequence it was stored at (0 for a removal).
pub type Outcome = Result<u64, Failure>;

/// Resolves with a write's outcome.
pub type Done = watch::Receiver<Option<Outcome>>;

impl Failure {
    pub fn error(&self) -> StoreError {
        match self {
            Failure::Refused | Failure::Cancelled => StoreError::Conflict,
            Failure::Lost(e) => StoreError::Nats(e.clone()),
        }
    }
}

/// Waits for a write's outcome.
pub async fn outcome(mut done: Done) -> Outcome {
    match done.wait_for(|o| o.is_some()).await {
        Ok(o) => o.clone().expect("waited for an outcome"),
        Err(_) => Err(Failure::Lost("the writer stopped".into())),
    }
}

/// The failed tickets of one failed write: `from..=to`.
struct Span {
    from: u64,
    to: u64,
    failure: Failure,
}

/// Keeps this many failure spans (failures are rare; old spans are for tickets long awaited).
const SPANS_KEPT: usize = 10_000;

struct Positions {
    issued: u64,
    /// Every position up to here has completed.
    through: u64,
    /// Completed positions above `through`.
    ahead: BTreeSet<u64>,
    failures: std::collections::VecDeque<Span>,
}

pub struct Pipeline {
    positions: Mutex<Positions>,
    through: watch::Sender<u64>,
}

impl Default for Pipeline {
    fn default() -> Self {
        let (through, _) = watch::channel(0);
        let positions =
            Positions { issued: 0, through: 0, ahead: BTreeSet::new(), failures: Default::default() };
        Pipeline { positions: Mutex::new(positions), through }
    }
}

impl Pipeline {
    /// A position for a new write (the caller holds the overlay's lock, so positions follow
    /// the order in which writes were chained).
    pub fn issue(&self) -> u64 {
        let mut p = self.positions.lock().expect("positions lock");
        p.issued += 1;
        p.issued
    }

    pub fn ticket(&self) -> Ticket {
        Ticket(self.positions.lock().expect("positions lock").issued)
    }

    /// Records how the write at `pos` ended.
    pub fn complete(&self, pos: u64, outcome: &Outcome) {
        let mut p = self.positions.lock().expect("positions lock");
        if let Err(failure) = outcome {
            let to = p.issued;
            // A position of no write, completed at once, ends the span: a ticket taken from
            // now on is past it. Without it, a ticket taken before any other write was issued
            // (a sync, say) would be `to` itself, and fail for a write its taker never saw.
            p.issued += 1;
            let marker = p.issued;
            p.ahead.insert(marker);
            if p.failures.len() == SPANS_KEPT {
                p.failures.pop_front();
            }
            p.failures.push_back(Span { from: pos, to, failure: failure.clone() });
        }
        p.ahead.insert(pos);
        let mut through = p.through;
        while p.ahead.remove(&(through + 1)) {
            through += 1;
        }
        if through != p.through {
            p.through = through;
            self.through.send_replace(through);
        }
    }

    /// Resolves once every write up to `ticket` has completed: `Ok` unless one that fails
    /// this ticket (see the module docs) did.
    pub fn durable(
        self: &Arc<Self>,
        ticket: Ticket,
    ) -> impl std::future::Future<Output = Result<(), StoreError>> + Send + 'static {
        let mut through = self.through.subscribe();
        let me = self.clone();
        async move {
            through.wait_for(|t| *t >= ticket.0).await.map_err(|_| StoreError::Closed)?;
            let p = me.positions.lock().expect("positions lock");
            match p.failures.iter().rev().find(|s| s.from <= ticket.0 && ticket.0 <= s.to) {
                Some(span) => Err(span.failure.error()),
                None => Ok(()),
            }
        }
    }
}

/// The stretch of writes a thread makes between two tickets: one operation of one caller
/// (an actor's handler writes, then takes its ticket, with no await in between). Its writes
/// are applied in the order they were made (the store writes an index before the record it
/// lists), and a refused one cancels those after it, as an error returned at once would have
/// stopped its caller there.
pub struct Group;

thread_local! {
    static TAIL: RefCell<Option<(u64, Done)>> = const { RefCell::new(None) };
}

impl Group {
    /// The previous write of this thread's stretch for engine `engine`, replaced by `done`.
    pub fn chain(engine: u64, done: Done) -> Option<Done> {
        TAIL.with(|t| match t.replace(Some((engine, done))) {
            Some((e, prev)) if e == engine => Some(prev),
            _ => None,
        })
    }

    /// A ticket ends the stretch.
    pub fn end(engine: u64) {
        TAIL.with(|t| {
            let mut t = t.borrow_mut();
            if t.as_ref().is_some_and(|(e, _)| *e == engine) {
                *t = None;
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settled(pipeline: &Arc<Pipeline>, ticket: Ticket) -> Result<(), StoreError> {
        futures_executor::block_on(pipeline.durable(ticket))
    }

    #[test]
    fn a_failure_fails_the_tickets_taken_before_it_was_learned_and_none_after() {
        let pipeline = Arc::new(Pipeline::default());
        let first = pipeline.issue();
        let before = pipeline.ticket();
        pipeline.complete(first, &Err(Failure::Refused));
        assert!(matches!(settled(&pipeline, before), Err(StoreError::Conflict)), "its writer counted on it");

        // Nothing written since: a sync now must not inherit the refusal.
        let after = pipeline.ticket();
        assert!(settled(&pipeline, after).is_ok(), "a ticket taken after the failure was learned");

        let next = pipeline.issue();
        pipeline.complete(next, &Ok(7));
        assert!(settled(&pipeline, pipeline.ticket()).is_ok());
    }
}
