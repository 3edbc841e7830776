//! Routing decisions as plain methods over plain data, unit-tested without actix.
//!
//! The router's picture is reconciled from conversation snapshots (`track`), so it can be
//! rebuilt after a restart from the conversations alone. A chat's load counts against its
//! expert from the moment an offer is reserved, so two chats never race for one free slot.

use std::collections::{BTreeSet, HashMap};

use super::wait::RecentWaits;
use crate::clock::Timestamp;
use crate::domain::{ErrorCode, Presence, PresenceReason, Refusal, Status};
use crate::ids::{ConversationId, ExpertId};

#[derive(Debug, Clone)]
pub struct ExpertState {
    pub categories: Vec<String>,
    pub certifications: Vec<String>,
    pub max_concurrent: u32,
    pub presence: Presence,
    pub sessions: usize,
    /// Offers reserved or made, plus open chats: what counts against `max_concurrent`.
    pub load: u32,
    pub last_assigned: Timestamp,
    /// Offers let lapse in a row.
    pub missed: u32,
    /// Removed by an admin: never available again, even while a socket lingers.
    pub removed: bool,
}

impl ExpertState {
    pub fn new(categories: Vec<String>, max_concurrent: u32) -> ExpertState {
        ExpertState {
            categories,
            certifications: Vec::new(),
            max_concurrent,
            presence: Presence::Offline,
            sessions: 0,
            load: 0,
            last_assigned: Timestamp(0),
            missed: 0,
            removed: false,
        }
    }

    fn available(&self) -> bool {
        self.presence == Presence::Available && self.sessions > 0 && !self.removed
    }

    fn may_claim(&self, certification: &str) -> bool {
        self.available() && self.certifications.iter().any(|c| c == certification)
    }

    fn can_take(&self, category: &str) -> bool {
        self.available() && self.load < self.max_concurrent && self.categories.iter().any(|c| c == category)
    }
}

/// Where a chat stands, as far as routing cares.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Slot {
    Waiting {
        declined: Vec<ExpertId>,
        reserved: Option<ExpertId>,
    },
    Offered {
        expert: ExpertId,
    },
    /// Open: holds a capacity slot.
    Active {
        expert: ExpertId,
    },
    /// Pending, on hold or solved: owned, but not holding a slot.
    Idle {
        expert: ExpertId,
    },
    /// Held by a bot, in any live status: bots have no capacity to hold.
    Bot {
        bot: ExpertId,
    },
}

impl Slot {
    fn load_on(&self) -> Option<ExpertId> {
        match *self {
            Slot::Waiting { reserved, .. } => reserved,
            Slot::Offered { expert } | Slot::Active { expert } => Some(expert),
            Slot::Idle { .. } | Slot::Bot { .. } => None,
        }
    }

    fn owner(&self) -> Option<ExpertId> {
        match *self {
            Slot::Active { expert } | Slot::Idle { expert } | Slot::Bot { bot: expert } => Some(expert),
            _ => None,
        }
    }

    fn queued(&self) -> bool {
        matches!(self, Slot::Waiting { .. } | Slot::Offered { .. })
    }
}

#[derive(Debug, Clone)]
pub struct Chat {
    pub category: String,
    pub queued_at: Timestamp,
    pub slot: Slot,
    pub rev: u64,
    pub left: bool,
    /// A left message: routed like any chat, but its wait is not one a chat would have.
    pub offline: bool,
    /// The last position the customer was told.
    pub told_position: u32,
    /// The last estimated wait the customer was told with it.
    pub told_estimate: Option<u64>,
    /// The position the chat entered its queue at, which its wait is divided by when it is
    /// accepted (see `wait`).
    pub joined_position: u32,
    /// Claim mode: the experts this chat has been listed to, who hear when it is claimed.
    pub shown_to: Vec<ExpertId>,
    /// Nobody has held it yet: a connected bot of its category answers it first.
    pub for_bot: bool,
}

/// The routing-relevant view of one conversation, sent after each stored change that
/// touches it (see `messages::Track`).
#[derive(Debug, Clone)]
pub struct Snapshot {
    pub id: ConversationId,
    pub category: String,
    pub status: Status,
    pub owner: Option<ExpertId>,
    pub offered_to: Option<ExpertId>,
    pub declined: Vec<ExpertId>,
    pub queued_at: Timestamp,
    pub left: bool,
    /// Left as a message (`leave_message`), shown as such in the queue view.
    pub offline: bool,
    /// Bumped on every change; an offer made against an older rev is refused.
    pub rev: u64,
    /// A bot may answer it first (`lifecycle::for_a_bot`).
    pub for_bot: bool,
}

/// What a slot is reserved for outside an offer: every path that gives an expert a chat
/// takes its slot from the same accounting (PRODUCT.md v1.1, "Capacity on every path").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    /// The expert claims a 1-to-1 chat: they must be available.
    Claim,
    /// A chat is transferred to the expert by name: they must be available.
    Transfer,
    /// The expert opens a chat with a customer themselves.
    Push,
}

/// A slot promised to an expert until the conversation's next snapshot settles it.
pub type ReservationId = u64;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    Offer {
        chat: ConversationId,
        expert: ExpertId,
        at_rev: u64,
    },
    Withdraw {
        chat: ConversationId,
        expert: ExpertId,
    },
    Presence {
        expert: ExpertId,
        presence: Presence,
        reason: PresenceReason,
    },
    /// List a claim-mode chat to these experts.
    ShowClaimable {
        chat: ConversationId,
        experts: Vec<ExpertId>,
    },
    /// Tell these experts the chat left their claim list.
    Claimed {
        chat: ConversationId,
        experts: Vec<ExpertId>,
    },
    /// The chat's owner is gone for good: back to the queue for the others.
    Reroute {
        chat: ConversationId,
        expert: ExpertId,
    },
    /// A connected bot of its category takes the new chat (PRODUCT.md v1.1, "Bots").
    BotTake {
        chat: ConversationId,
        bot: ExpertId,
        at_rev: u64,
    },
}

#[derive(Default)]
pub struct RouterState {
    pub experts: HashMap<ExpertId, ExpertState>,
    pub chats: HashMap<ConversationId, Chat>,
    /// Per category, waiting and offered chats in arrival order.
    queues: HashMap<String, BTreeSet<(Timestamp, ConversationId)>>,
    pub missed_offers_before_away: u32,
    /// Claim-mode categories and the certification each requires; these are never offered.
    pub claim_certifications: HashMap<String, String>,
    /// Slots held for claims, transfers and pushes on their way to a conversation.
    reservations: HashMap<ReservationId, ExpertId>,
    next_reservation: ReservationId,
    /// How long recently accepted chats waited, for the estimate queued customers are shown.
    pub waits: RecentWaits,
    /// Connected bots, and those within their reconnect grace, apart from `experts`: never
    /// available, never counted (see `bots`).
    bots: HashMap<ExpertId, bots::BotState>,
    /// How long a bot whose last session closed keeps its chats.
    bot_grace: std::time::Duration,
    /// Every bot account, connected or not: the chats they hold take no capacity.
    bot_accounts: std::collections::HashSet<ExpertId>,
}

/// One waiting chat in the queue view (`GET /api/v1/queue`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueueEntry {
    pub id: ConversationId,
    pub category: String,
    pub queued_at: Timestamp,
    pub position: u32,
    /// The expert the chat is offered to right now.
    pub offered_to: Option<ExpertId>,
    /// A left message rather than a chat.
    pub offline: bool,
}

/// A queued customer's place in line, and the estimated wait from there.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Told {
    pub chat: ConversationId,
    pub position: u32,
    pub estimated_wait_ms: Option<u64>,
}

impl RouterState {
    pub fn new(missed_offers_before_away: u32) -> RouterState {
        RouterState { missed_offers_before_away, ..Default::default() }
    }

    pub fn with_claim_categories(mut self, categories: HashMap<String, String>) -> RouterState {
        self.claim_certifications = categories;
        self
    }

    /// Takes one of `expert`'s slots for `purpose`, atomically: two requests never both take
    /// the last one. The slot counts until `settle` (or a snapshot naming it) releases it.
    pub fn reserve(&mut self, expert: ExpertId, purpose: Purpose) -> Result<ReservationId, Refusal> {
        let e = self.experts.get_mut(&expert).filter(|e| !e.removed);
        let Some(e) = e else {
            return Err(Refusal::new(ErrorCode::Unavailable, "that expert is not available"));
        };
        match purpose {
            Purpose::Claim if !e.available() => {
                return Err(Refusal::new(ErrorCode::NotAllowed, "set yourself available to claim chats"))
            }
            Purpose::Transfer if !e.available() => {
                return Err(Refusal::new(ErrorCode::Unavailable, "that expert is not available"))
            }
            _ => {}
        }
        if e.load >= e.max_concurrent {
            let whose = match purpose {
                Purpose::Transfer => "that expert is",
                Purpose::Claim | Purpose::Push => "you are",
            };
            return Err(Refusal::new(ErrorCode::CapacityFull, format!("{whose} at the maximum of chats")));
        }
        e.load += 1;
        self.next_reservation += 1;
        self.reservations.insert(self.next_reservation, expert);
        Ok(self.next_reservation)
    }

    /// Releases a reservation that was refused or never used; the slot may take a waiting chat.
    pub fn settle(&mut self, id: ReservationId) -> Vec<Decision> {
        match self.release(id) {
            Some(expert) => self.dispatch_for(expert),
            None => vec![],
        }
    }

    /// Slots held by reservations of this expert.
    pub fn reserved_by(&self, expert: ExpertId) -> u32 {
        self.reservations.values().filter(|e| **e == expert).count() as u32
    }

    fn release(&mut self, id: ReservationId) -> Option<ExpertId> {
        let expert = self.reservations.remove(&id)?;
        if let Some(e) = self.experts.get_mut(&expert) {
            e.load = e.load.saturating_sub(1);
        }
        Some(expert)
    }

    /// Reconciles one conversation's snapshot and routes whatever that makes possible.
    /// `settled`: the reservation the change used, whose slot the chat now holds itself.
    pub fn track(&mut self, s: Snapshot, settled: Option<ReservationId>, now: Timestamp) -> Vec<Decision> {
        let mut affected: Vec<String> = vec![s.category.clone()];
        if let Some(expert) = settled.and_then(|id| self.release(id)) {
            affected.extend(self.categories_of(expert));
        }
        let previous = self.remove_chat(s.id);
        let shown_before = previous.as_ref().map(|p| p.shown_to.clone()).unwrap_or_default();
        if let Some(prev) = &previous {
            if let Some(e) = prev.slot.load_on() {
                affected.extend(self.categories_of(e));
            }
        }
        if !s.status.is_terminal() {
            let slot = match (s.status, s.owner, s.offered_to) {
                (Status::Offered, _, Some(expert)) => Slot::Offered { expert },
                (_, Some(bot), _) if self.bot_accounts.contains(&bot) => Slot::Bot { bot },
                (Status::Open, Some(expert), _) => Slot::Active { expert },
                (Status::Pending | Status::OnHold | Status::Solved, Some(expert), _) => Slot::Idle { expert },
                _ => Slot::Waiting { declined: s.declined.clone(), reserved: None },
            };
            if let (Some(prev), Slot::Active { expert }) = (&previous, &slot) {
                if prev.slot == (Slot::Offered { expert: *expert }) {
                    if let Some(e) = self.experts.get_mut(expert) {
                        e.last_assigned = now;
                        e.missed = 0;
                    }
                }
            }
            // A bot answers at once: its take is no sample of how long humans keep customers waiting.
            let by_human = !matches!(slot, Slot::Bot { .. });
            let taken = previous.as_ref().filter(|p| p.slot.queued() && slot.owner().is_some() && by_human);
            // A left message may wait a night for the office to open: not a sample of how
            // long a chat waits.
            if let Some(prev) = taken.filter(|p| !p.offline) {
                // Accepted or claimed out of the queue: one more sample for the estimate.
                self.waits.record(&prev.category, prev.queued_at, prev.joined_position, now);
            }
            let told_position = previous.as_ref().map_or(0, |p| p.told_position);
            let told_estimate = previous.as_ref().and_then(|p| p.told_estimate);
            let still_queued = previous.as_ref().filter(|p| p.slot.queued() && slot.queued());
            let joined_position = still_queued.map_or(0, |p| p.joined_position);
            let chat = Chat {
                category: s.category,
                queued_at: s.queued_at,
                slot,
                rev: s.rev,
                left: s.left,
                offline: s.offline,
                told_position,
                told_estimate,
                joined_position,
                shown_to: shown_before.clone(),
                for_bot: s.for_bot,
            };
            let joined = chat.slot.queued() && joined_position == 0;
            self.insert_chat(s.id, chat);
            if joined {
                let position = self.position_of(s.id).unwrap_or(1);
                if let Some(chat) = self.chats.get_mut(&s.id) {
                    chat.joined_position = position;
                }
            }
        }
        let mut decisions = self.relist(s.id, s.owner, shown_before);
        decisions.extend(self.orphaned(s.id));
        affected.sort();
        affected.dedup();
        decisions.extend(affected.iter().flat_map(|c| self.dispatch(c)));
        decisions
    }

    /// Keeps a claim-mode chat's listing in step with its state: listed to every available
    /// certified expert (bar those it was released from) while waiting; withdrawn from the
    /// lists it was on once claimed or gone.
    fn relist(
        &mut self,
        id: ConversationId,
        owner: Option<ExpertId>,
        shown_before: Vec<ExpertId>,
    ) -> Vec<Decision> {
        let listing = self.chats.get(&id).and_then(|c| match &c.slot {
            Slot::Waiting { declined, .. } => {
                self.claim_certifications.get(&c.category).map(|cert| (cert.clone(), declined.clone()))
            }
            _ => None,
        });
        let Some((cert, declined)) = listing else {
            if let Some(chat) = self.chats.get_mut(&id) {
                chat.shown_to.clear();
            }
            let experts: Vec<ExpertId> = shown_before.into_iter().filter(|e| Some(*e) != owner).collect();
            return match experts.is_empty() {
                true => vec![],
                false => vec![Decision::Claimed { chat: id, experts: sorted(experts) }],
            };
        };
        let shown = &self.chats[&id].shown_to;
        let experts: Vec<ExpertId> = self
            .experts
            .iter()
            .filter(|(e, state)| state.may_claim(&cert) && !declined.contains(e) && !shown.contains(e))
            .map(|(e, _)| *e)
            .collect();
        if experts.is_empty() {
            return vec![];
        }
        self.chats.get_mut(&id).expect("listed above").shown_to.extend(&experts);
        vec![Decision::ShowClaimable { chat: id, experts: sorted(experts) }]
    }

    /// Claim-mode chats this expert may claim now and has not been shown; they count as
    /// shown to them from here on.
    pub fn claimable_for(&mut self, expert: ExpertId) -> Vec<ConversationId> {
        self.claim_list(expert, false)
    }

    /// Every claim-mode chat this expert may claim now, shown before or not: what a console
    /// that (re)connects lists.
    pub fn claim_list(&mut self, expert: ExpertId, again: bool) -> Vec<ConversationId> {
        let Some(e) = self.experts.get(&expert).cloned() else { return vec![] };
        let mut out = Vec::new();
        for (id, chat) in self.chats.iter_mut() {
            let Slot::Waiting { declined, .. } = &chat.slot else { continue };
            let Some(cert) = self.claim_certifications.get(&chat.category) else { continue };
            let shown = chat.shown_to.contains(&expert);
            if e.may_claim(cert) && !declined.contains(&expert) && (again || !shown) {
                if !shown {
                    chat.shown_to.push(expert);
                }
                out.push(*id);
            }
        }
        out.sort();
        out
    }

    /// Chats offered to this expert right now, whose offer a new console must show.
    pub fn offers_to(&self, expert: ExpertId) -> Vec<ConversationId> {
        let mut out: Vec<ConversationId> = self
            .chats
            .iter()
            .filter(|(_, c)| c.slot == Slot::Offered { expert })
            .map(|(id, _)| *id)
            .collect();
        out.sort();
        out
    }

    /// An admin removed the expert: nothing is routed to them again, their offers are
    /// withdrawn and their active chats go back to the queue for the others.
    pub fn expert_removed(&mut self, id: ExpertId) -> Vec<Decision> {
        if self.bot_accounts.contains(&id) {
            return self.bot_gone(id);
        }
        let Some(e) = self.experts.get_mut(&id) else { return vec![] };
        e.removed = true;
        e.presence = Presence::Offline;
        let mut out = self.withdraw_offers_of(id);
        let mut owned: Vec<ConversationId> =
            self.chats.iter().filter(|(_, c)| c.slot.owner() == Some(id)).map(|(chat, _)| *chat).collect();
        owned.sort();
        out.extend(owned.into_iter().map(|chat| Decision::Reroute { chat, expert: id }));
        out
    }

    /// An expert's first session connects, or their record changed.
    pub fn expert_online(
        &mut self,
        id: ExpertId,
        categories: Vec<String>,
        certifications: Vec<String>,
        max_concurrent: u32,
    ) -> Vec<Decision> {
        let e = self.experts.entry(id).or_insert_with(|| ExpertState::new(vec![], max_concurrent));
        e.certifications = certifications;
        e.categories = categories;
        e.max_concurrent = max_concurrent;
        e.sessions += 1;
        if e.sessions == 1 {
            e.presence = Presence::Available;
            e.missed = 0;
        }
        self.dispatch_for(id)
    }

    /// New categories, certifications or capacity for an expert the router knows.
    pub fn expert_changed(
        &mut self,
        id: ExpertId,
        categories: Vec<String>,
        certifications: Vec<String>,
        max_concurrent: u32,
    ) -> Vec<Decision> {
        let Some(e) = self.experts.get_mut(&id) else { return vec![] };
        e.categories = categories;
        e.certifications = certifications;
        e.max_concurrent = max_concurrent;
        let mut decisions = self.dispatch_for(id);
        let claimable = self.claimable_for(id);
        decisions
            .extend(claimable.into_iter().map(|chat| Decision::ShowClaimable { chat, experts: vec![id] }));
        decisions
    }

    pub fn expert_offline(&mut self, id: ExpertId, now: Timestamp) -> Vec<Decision> {
        if self.bots.contains_key(&id) {
            return self.bot_offline(id, now);
        }
        let Some(e) = self.experts.get_mut(&id) else {
            return vec![];
        };
        e.sessions = e.sessions.saturating_sub(1);
        if e.sessions == 0 {
            e.presence = Presence::Offline;
            return self.withdraw_offers_of(id);
        }
        vec![]
    }

    pub fn set_presence(&mut self, id: ExpertId, presence: Presence) -> Vec<Decision> {
        let Some(e) = self.experts.get_mut(&id) else {
            return vec![];
        };
        e.presence = presence;
        if presence == Presence::Available {
            e.missed = 0;
            let mut decisions = self.dispatch_for(id);
            let claimable = self.claimable_for(id);
            decisions.extend(
                claimable.into_iter().map(|chat| Decision::ShowClaimable { chat, experts: vec![id] }),
            );
            decisions
        } else {
            self.withdraw_offers_of(id)
        }
    }

    /// An offer ended; `missed_offers_before_away` lapses in a row set the expert away.
    pub fn offer_outcome(&mut self, id: ExpertId, lapsed: bool) -> Vec<Decision> {
        let limit = self.missed_offers_before_away;
        let Some(e) = self.experts.get_mut(&id) else {
            return vec![];
        };
        if !lapsed {
            e.missed = 0;
            return vec![];
        }
        e.missed += 1;
        if limit == 0 || e.missed < limit || e.presence != Presence::Available {
            return vec![];
        }
        e.presence = Presence::Away;
        let mut out = vec![Decision::Presence {
            expert: id,
            presence: Presence::Away,
            reason: PresenceReason::MissedOffers,
        }];
        out.extend(self.withdraw_offers_of(id));
        out
    }

    /// Queued chats per category, open chats, and experts by presence.
    pub fn counts(&self) -> crate::messages::RouterCounts {
        let mut queued_by_category: Vec<(String, usize)> =
            self.queues.iter().map(|(c, q)| (c.clone(), q.len())).collect();
        queued_by_category.sort();
        let presence = |p| self.experts.keys().filter(|e| self.presence(**e) == p).count();
        crate::messages::RouterCounts {
            queued_by_category,
            open_chats: self.chats.values().filter(|c| matches!(c.slot, Slot::Active { .. })).count(),
            available: presence(Presence::Available),
            away: presence(Presence::Away),
            offline: presence(Presence::Offline),
        }
    }

    pub fn available_count(&self) -> usize {
        self.experts.values().filter(|e| e.available()).count()
    }

    pub fn presence(&self, id: ExpertId) -> Presence {
        if self.bot_connected(id) {
            // A connected bot takes its chats back when their customers return.
            return Presence::Available;
        }
        self.experts.get(&id).map_or(Presence::Offline, |e| {
            if e.sessions > 0 {
                e.presence
            } else {
                Presence::Offline
            }
        })
    }

    /// Live chats the expert owns and has not left.
    pub fn owned_by(&self, id: ExpertId) -> Vec<ConversationId> {
        let mut out: Vec<_> = self
            .chats
            .iter()
            .filter(|(_, c)| c.slot.owner() == Some(id) && !c.left)
            .map(|(id, _)| *id)
            .collect();
        out.sort();
        out
    }

    /// Positions or estimated waits that changed in `category` since the customers were
    /// last told.
    pub fn positions(&mut self, category: &str, now: Timestamp) -> Vec<Told> {
        let Some(queue) = self.queues.get(category) else {
            return vec![];
        };
        let per_place = self.waits.per_place(category, now);
        let mut changed = Vec::new();
        for (i, (_, id)) in queue.iter().enumerate() {
            let position = i as u32 + 1;
            let estimated_wait_ms = per_place.map(|ms| ms.saturating_mul(u64::from(position)));
            if let Some(chat) = self.chats.get_mut(id) {
                if chat.told_position != position || chat.told_estimate != estimated_wait_ms {
                    chat.told_position = position;
                    chat.told_estimate = estimated_wait_ms;
                    changed.push(Told { chat: *id, position, estimated_wait_ms });
                }
            }
        }
        changed
    }

    /// The estimated wait of a queued chat from its place in line now; `None` when the chat
    /// is not queued or nothing recent is known.
    pub fn estimated_wait(&self, chat: ConversationId, now: Timestamp) -> Option<u64> {
        let position = self.position_of(chat)?;
        self.waits.estimate(&self.chats.get(&chat)?.category, position, now)
    }

    /// Waiting and offered chats of `categories` (every category when `None`), oldest first,
    /// each with its place in its own category's line.
    pub fn queue_view(&self, categories: Option<&[String]>) -> Vec<QueueEntry> {
        let mut out = Vec::new();
        for (category, queue) in &self.queues {
            if categories.is_some_and(|only| !only.contains(category)) {
                continue;
            }
            for (i, (queued_at, id)) in queue.iter().enumerate() {
                let chat = self.chats.get(id);
                let offered_to = match chat.map(|c| &c.slot) {
                    Some(Slot::Offered { expert }) => Some(*expert),
                    _ => None,
                };
                out.push(QueueEntry {
                    id: *id,
                    category: category.clone(),
                    queued_at: *queued_at,
                    position: i as u32 + 1,
                    offered_to,
                    offline: chat.is_some_and(|c| c.offline),
                });
            }
        }
        out.sort_by_key(|e| (e.queued_at, e.id));
        out
    }

    pub fn position_of(&self, chat: ConversationId) -> Option<u32> {
        let c = self.chats.get(&chat)?;
        let queue = self.queues.get(&c.category)?;
        queue.iter().position(|(_, id)| *id == chat).map(|p| p as u32 + 1)
    }

    fn categories_of(&self, id: ExpertId) -> Vec<String> {
        self.experts.get(&id).map(|e| e.categories.clone()).unwrap_or_default()
    }

    fn dispatch_for(&mut self, id: ExpertId) -> Vec<Decision> {
        self.categories_of(id).iter().flat_map(|c| self.dispatch(c)).collect()
    }

    fn withdraw_offers_of(&mut self, id: ExpertId) -> Vec<Decision> {
        let mut out: Vec<Decision> = self
            .chats
            .iter()
            .filter(|(_, c)| matches!(c.slot, Slot::Offered { expert } | Slot::Waiting { reserved: Some(expert), .. } if expert == id))
            .map(|(chat, _)| Decision::Withdraw { chat: *chat, expert: id })
            .collect();
        out.sort_by_key(|d| match d {
            Decision::Withdraw { chat, .. } => *chat,
            _ => ConversationId(0),
        });
        out
    }

    /// Offers every waiting chat of `category`, in queue order, to the best eligible expert.
    /// Stops at the first chat nobody can take: the rest of the queue waits behind it.
    fn dispatch(&mut self, category: &str) -> Vec<Decision> {
        if self.claim_certifications.contains_key(category) {
            return vec![];
        }
        let mut decisions = self.bot_takes(category);
        let RouterState { experts, chats, queues, .. } = self;
        let Some(queue) = queues.get(category) else {
            return decisions;
        };
        if !experts.values().any(|e| e.can_take(category)) {
            return decisions;
        }
        for (_, chat_id) in queue {
            let Some(chat) = chats.get_mut(chat_id) else {
                continue;
            };
            let Slot::Waiting { declined, reserved: reserved @ None } = &mut chat.slot else {
                continue;
            };
            let Some(expert) = best_expert(experts, category, declined) else {
                break;
            };
            *reserved = Some(expert);
            decisions.push(Decision::Offer { chat: *chat_id, expert, at_rev: chat.rev });
            if let Some(e) = experts.get_mut(&expert) {
                e.load += 1;
            }
        }
        decisions
    }

    fn insert_chat(&mut self, id: ConversationId, chat: Chat) {
        if let Some(e) = chat.slot.load_on().and_then(|e| self.experts.get_mut(&e)) {
            e.load += 1;
        } else if let Some(expert) = chat.slot.load_on() {
            // Owned by an expert who is not connected: their load still counts when they return.
            let mut e = ExpertState::new(vec![], 0);
            e.load = 1;
            self.experts.insert(expert, e);
        }
        if chat.slot.queued() {
            self.queues.entry(chat.category.clone()).or_default().insert((chat.queued_at, id));
        }
        self.chats.insert(id, chat);
    }

    fn remove_chat(&mut self, id: ConversationId) -> Option<Chat> {
        let chat = self.chats.remove(&id)?;
        if let Some(e) = chat.slot.load_on().and_then(|e| self.experts.get_mut(&e)) {
            e.load = e.load.saturating_sub(1);
        }
        if let Some(q) = self.queues.get_mut(&chat.category) {
            q.remove(&(chat.queued_at, id));
        }
        Some(chat)
    }
}

/// Fewest chats first, then longest since the last assignment; an expert who declined
/// or let this chat lapse only when nobody else can take it.
fn best_expert(
    experts: &HashMap<ExpertId, ExpertState>,
    category: &str,
    declined: &[ExpertId],
) -> Option<ExpertId> {
    let rank = |(id, e): &(&ExpertId, &ExpertState)| (e.load, e.last_assigned, **id);
    let eligible = || experts.iter().filter(|(_, e)| e.can_take(category));
    eligible()
        .filter(|(id, _)| !declined.contains(id))
        .min_by_key(rank)
        .or_else(|| eligible().min_by_key(rank))
        .map(|(id, _)| *id)
}

fn sorted(mut v: Vec<ExpertId>) -> Vec<ExpertId> {
    v.sort();
    v
}

mod bots;

#[cfg(test)]
mod tests;
