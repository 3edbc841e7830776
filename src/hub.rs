//! The directory of live actors: conversations by id, and the open websocket sessions of
//! each customer and expert. Conversations look recipients up here when they deliver, so a
//! session that connects or drops needs no bookkeeping inside conversations.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use actix_web_actors::ws::CloseCode;

use actix::prelude::*;
use bytestring::ByteString;
use dashmap::DashMap;

use crate::conversation::ConversationActor;
use crate::domain::Presence;
use crate::ids::{ConversationId, CustomerId, ExpertId};
use crate::messages::{Deliver, Disconnect};

pub struct SessionHandle {
    pub id: u64,
    deliver: Recipient<Deliver>,
    disconnect: Recipient<Disconnect>,
    /// Set once the session's mailbox overflowed: it gets nothing more and is closed.
    overflowed: AtomicBool,
}

impl SessionHandle {
    pub fn new<A>(id: u64, addr: Addr<A>) -> SessionHandle
    where
        A: Actor + Handler<Deliver> + Handler<Disconnect>,
        A::Context: actix::dev::ToEnvelope<A, Deliver> + actix::dev::ToEnvelope<A, Disconnect>,
    {
        SessionHandle {
            id,
            deliver: addr.clone().recipient(),
            disconnect: addr.recipient(),
            overflowed: AtomicBool::new(false),
        }
    }

    fn disconnect(&self, code: CloseCode, reason: &'static str) {
        self.disconnect.do_send(Disconnect::Close { code, reason });
    }
}

#[derive(Default)]
pub struct Hub {
    conversations: DashMap<ConversationId, Addr<ConversationActor>>,
    customers: DashMap<CustomerId, Vec<SessionHandle>>,
    experts: DashMap<ExpertId, Vec<SessionHandle>>,
    /// Experts currently available, kept by the router for the widget's `available` flag.
    available_experts: AtomicUsize,
    /// Each connected expert's presence, kept by the router, so a conversation can tell
    /// whether its owner could take a reopened chat without asking.
    presence: DashMap<ExpertId, Presence>,
    /// Customers' chats that are starting but not yet stored: with the stored ones they make
    /// the count `limits.max_open_chats_per_customer` is checked against, so the check and
    /// the creation are one step even when two tabs start at the same instant.
    starting: DashMap<CustomerId, usize>,
    next_session: AtomicUsize,
    /// Each expert's open consults, kept by the conversation actors.
    pub consults: crate::consults::ConsultIndex,
}

impl Hub {
    pub fn session_id(&self) -> u64 {
        self.next_session.fetch_add(1, Ordering::Relaxed) as u64 + 1
    }

    pub fn conversation(&self, id: ConversationId) -> Option<Addr<ConversationActor>> {
        self.conversations.get(&id).map(|a| a.clone())
    }

    /// The live actor for `id`, started by `start` if there is none yet; one actor per
    /// conversation even when two sessions ask at once.
    pub fn conversation_or_start(
        &self,
        id: ConversationId,
        start: impl FnOnce() -> Option<Addr<ConversationActor>>,
    ) -> Option<Addr<ConversationActor>> {
        use dashmap::mapref::entry::Entry;
        match self.conversations.entry(id) {
            Entry::Occupied(e) if e.get().connected() => Some(e.get().clone()),
            Entry::Occupied(mut e) => {
                let addr = start()?;
                e.insert(addr.clone());
                Some(addr)
            }
            Entry::Vacant(e) => {
                let addr = start()?;
                e.insert(addr.clone());
                Some(addr)
            }
        }
    }

    pub fn add_conversation(&self, id: ConversationId, addr: Addr<ConversationActor>) {
        self.conversations.insert(id, addr);
    }

    /// Forgets a stopped actor, unless a newer one already took its place.
    pub fn remove_conversation(&self, id: ConversationId, addr: &Addr<ConversationActor>) {
        self.conversations.remove_if(&id, |_, current| current == addr);
    }

    /// Counts a new chat of `customer` as starting when their open chats (`stored`, read
    /// under the same lock) and those already starting stay under `max`; false otherwise.
    pub fn begin_start<E>(
        &self,
        customer: CustomerId,
        max: usize,
        stored: impl FnOnce() -> Result<usize, E>,
    ) -> Result<bool, E> {
        use dashmap::mapref::entry::Entry;
        let entry = self.starting.entry(customer);
        let starting = match &entry {
            Entry::Occupied(e) => *e.get(),
            Entry::Vacant(_) => 0,
        };
        if starting + stored()? >= max {
            return Ok(false);
        }
        match entry {
            Entry::Occupied(mut e) => *e.get_mut() += 1,
            Entry::Vacant(e) => {
                e.insert(1);
            }
        }
        Ok(true)
    }

    /// A starting chat is stored by `store` (or failed to start): under the same lock, so a
    /// concurrent `begin_start` counts it exactly once, as starting or as stored.
    pub fn end_start<T>(&self, customer: CustomerId, store: impl FnOnce() -> T) -> T {
        use dashmap::mapref::entry::Entry;
        match self.starting.entry(customer) {
            Entry::Occupied(mut e) => {
                let out = store();
                *e.get_mut() -= 1;
                if *e.get() == 0 {
                    e.remove();
                }
                out
            }
            Entry::Vacant(_) => store(),
        }
    }

    pub fn add_customer_session(&self, customer: CustomerId, s: SessionHandle) {
        self.customers.entry(customer).or_default().push(s);
    }

    /// Returns whether the customer still has a widget open.
    pub fn remove_customer_session(&self, customer: CustomerId, session: u64) -> bool {
        remove_session(&self.customers, customer, session);
        self.customer_online(customer)
    }

    pub fn add_expert_session(&self, expert: ExpertId, s: SessionHandle) {
        self.experts.entry(expert).or_default().push(s);
    }

    pub fn remove_expert_session(&self, expert: ExpertId, session: u64) {
        remove_session(&self.experts, expert, session);
    }

    pub fn customer_online(&self, customer: CustomerId) -> bool {
        self.customers.get(&customer).is_some_and(|s| !s.is_empty())
    }

    pub fn to_customer(&self, customer: CustomerId, frame: &ByteString, except: Option<u64>) {
        if let Some(sessions) = self.customers.get(&customer) {
            deliver(&sessions, frame, except);
        }
    }

    pub fn to_expert(&self, expert: ExpertId, frame: &ByteString, except: Option<u64>) {
        if let Some(sessions) = self.experts.get(&expert) {
            deliver(&sessions, frame, except);
        }
    }

    /// Asks every open session of an expert to check its token again (after a logout,
    /// a password change or the expert's removal).
    pub fn revalidate_expert(&self, expert: ExpertId) {
        if let Some(sessions) = self.experts.get(&expert) {
            for s in sessions.iter() {
                s.disconnect.do_send(Disconnect::Revalidate);
            }
        }
    }

    /// Closes every widget of a customer (their data was erased: their token is void).
    pub fn close_customer(&self, customer: CustomerId, code: CloseCode, reason: &'static str) {
        if let Some(sessions) = self.customers.get(&customer) {
            sessions.iter().for_each(|s| s.disconnect(code, reason));
        }
    }

    /// Closes every session (server shutdown: 1001, going away).
    pub fn close_all(&self, code: CloseCode, reason: &'static str) -> usize {
        let mut n = 0;
        for entry in self.customers.iter() {
            n += entry.value().len();
            entry.value().iter().for_each(|s| s.disconnect(code, reason));
        }
        for entry in self.experts.iter() {
            n += entry.value().len();
            entry.value().iter().for_each(|s| s.disconnect(code, reason));
        }
        n
    }

    /// Open widget and console connections that have said hello.
    pub fn sessions(&self) -> (usize, usize) {
        fn count<K: std::hash::Hash + Eq>(m: &DashMap<K, Vec<SessionHandle>>) -> usize {
            m.iter().map(|e| e.value().len()).sum()
        }
        (count(&self.customers), count(&self.experts))
    }

    pub fn open_sessions(&self) -> usize {
        self.customers.iter().map(|e| e.value().len()).sum::<usize>()
            + self.experts.iter().map(|e| e.value().len()).sum::<usize>()
    }

    pub fn set_available_experts(&self, n: usize) {
        self.available_experts.store(n, Ordering::Relaxed);
    }

    pub fn set_presence(&self, expert: ExpertId, presence: Presence) {
        self.presence.insert(expert, presence);
    }

    pub fn is_available(&self, expert: ExpertId) -> bool {
        self.presence.get(&expert).is_some_and(|p| *p == Presence::Available)
    }

    pub fn any_expert_available(&self) -> bool {
        self.available_experts.load(Ordering::Relaxed) > 0
    }
}

fn remove_session<K: std::hash::Hash + Eq>(map: &DashMap<K, Vec<SessionHandle>>, key: K, session: u64) {
    if let dashmap::mapref::entry::Entry::Occupied(mut e) = map.entry(key) {
        e.get_mut().retain(|s| s.id != session);
        if e.get().is_empty() {
            e.remove();
        }
    }
}

/// Hands a frame to each session without waiting. A session whose mailbox is full cannot
/// keep up; it is told to disconnect and will catch up by seq when it reconnects.
fn deliver(sessions: &[SessionHandle], frame: &ByteString, except: Option<u64>) {
    for s in sessions.iter().filter(|s| Some(s.id) != except) {
        if s.overflowed.load(Ordering::Relaxed) {
            continue;
        }
        if let Err(SendError::Full(_)) = s.deliver.try_send(Deliver(frame.clone())) {
            // Memory stays bounded by the mailbox: nothing more is queued for this reader,
            // and the one close below goes out when (if) it reads again.
            if !s.overflowed.swap(true, Ordering::Relaxed) {
                tracing::info!(session = s.id, "dropping a client that stopped reading");
                s.disconnect(CloseCode::Policy, "too slow");
            }
        }
    }
}
