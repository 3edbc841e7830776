//! The Router actor: asked only to route. It keeps who is available with what capacity,
//! the queue per category, and makes offers; conversations own everything else.

mod state;
mod wait;

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use actix::prelude::*;

pub use state::{Decision, Purpose, QueueEntry, ReservationId, RouterState, Slot, Snapshot, Told};
pub use wait::RecentWaits;

use bytestring::ByteString;

use crate::clock::Timestamp;
use crate::config::{Config, RoutingMode};
use crate::conversation::ConversationActor;
use crate::domain::Presence;
use crate::hub::Hub;
use crate::ids::{ConversationId, ExpertId};
use crate::messages::*;
use crate::protocol::ServerFrame;

pub struct Router {
    state: RouterState,
    addrs: HashMap<ConversationId, Addr<ConversationActor>>,
    /// The `claimable` frame of each claim-mode chat that is waiting.
    listings: HashMap<ConversationId, ByteString>,
    hub: Arc<Hub>,
    default_max_concurrent: u32,
    /// Categories whose queue changed since positions were last sent.
    dirty: HashSet<String>,
    position_interval: Duration,
    positions_scheduled: bool,
    /// Names of the experts who connected, for the queue view's `offered_to`.
    names: HashMap<ExpertId, String>,
    /// When the timer for the next end of a bot's reconnect grace fires, if armed.
    bot_timer_at: Option<Timestamp>,
}

impl Router {
    /// `bots`: the bot accounts in the store, whose chats hold no capacity.
    pub fn new(hub: Arc<Hub>, config: &Config, bots: Vec<ExpertId>) -> Router {
        let claim_categories = config
            .categories
            .iter()
            .filter(|c| c.mode == RoutingMode::Claim)
            .filter_map(|c| Some((c.id.clone(), c.certification.clone()?)))
            .collect();
        let r = &config.routing;
        Router {
            state: RouterState::new(r.missed_offers_before_away)
                .with_claim_categories(claim_categories)
                .with_bots(bots, config.bots.reconnect_grace, Timestamp::now()),
            addrs: HashMap::new(),
            listings: HashMap::new(),
            hub,
            default_max_concurrent: r.max_concurrent,
            dirty: HashSet::new(),
            position_interval: r.position_update_interval,
            positions_scheduled: false,
            names: HashMap::new(),
            bot_timer_at: None,
        }
    }

    /// Arms the timer for the earliest end of a bot's reconnect grace, unless one fires
    /// sooner already; when it fires, the bots still away hand their chats to humans.
    fn arm_bot_timer(&mut self, ctx: &mut Context<Self>) {
        let Some(at) = self.state.next_bot_deadline() else { return };
        if self.bot_timer_at.is_some_and(|armed| armed <= at) {
            return;
        }
        self.bot_timer_at = Some(at);
        ctx.run_later(Timestamp::now().until(at), move |act, ctx| {
            if act.bot_timer_at == Some(at) {
                act.bot_timer_at = None;
            }
            let decisions = act.state.bots_due(Timestamp::now());
            act.carry_out(decisions);
            act.arm_bot_timer(ctx);
        });
    }

    fn publish_presence(&self, expert: ExpertId) {
        self.hub.set_presence(expert, self.state.presence(expert));
    }

    fn carry_out(&mut self, decisions: Vec<Decision>) {
        for d in decisions {
            match d {
                Decision::Offer { chat, expert, at_rev } => {
                    if let Some(addr) = self.addrs.get(&chat) {
                        addr.do_send(MakeOffer { expert, at_rev });
                    }
                }
                Decision::Withdraw { chat, expert } => {
                    if let Some(addr) = self.addrs.get(&chat) {
                        addr.do_send(WithdrawOffer { expert });
                    }
                }
                Decision::ShowClaimable { chat, experts } => {
                    if let Some(frame) = self.listings.get(&chat) {
                        for e in experts {
                            self.hub.to_expert(e, frame, None);
                        }
                    }
                }
                Decision::Claimed { chat, experts } => {
                    let frame = ServerFrame::Claimed { conversation_id: chat }.encode();
                    for e in experts {
                        self.hub.to_expert(e, &frame, None);
                    }
                }
                Decision::BotTake { chat, bot, at_rev } => {
                    if let Some(addr) = self.addrs.get(&chat) {
                        let name = self.names.get(&bot).cloned().unwrap_or_default();
                        addr.do_send(BotTake { bot, name, at_rev });
                    }
                }
                Decision::Reroute { chat, expert } => {
                    if let Some(addr) = self.addrs.get(&chat) {
                        addr.do_send(Reroute { expert });
                    }
                }
                Decision::Presence { expert, presence, reason } => {
                    self.publish_presence(expert);
                    let frame = ServerFrame::Presence { status: presence, reason: Some(reason) }.encode();
                    self.hub.to_expert(expert, &frame, None);
                }
            }
        }
        self.hub.set_available_experts(self.state.available_count());
    }

    fn mark_dirty(&mut self, category: String, ctx: &mut Context<Self>) {
        self.dirty.insert(category);
        if !self.positions_scheduled {
            self.positions_scheduled = true;
            ctx.run_later(self.position_interval, |act, _| act.send_positions());
        }
    }

    fn send_positions(&mut self) {
        self.positions_scheduled = false;
        let now = Timestamp::now();
        for category in std::mem::take(&mut self.dirty) {
            for Told { chat, position, estimated_wait_ms } in self.state.positions(&category, now) {
                if let Some(addr) = self.addrs.get(&chat) {
                    addr.do_send(QueuePosition { position, estimated_wait_ms });
                }
            }
        }
    }
}

impl Actor for Router {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        // The bots known at start have their grace from now (`RouterState::with_bots`).
        self.arm_bot_timer(ctx);
    }
}

impl Handler<Track> for Router {
    type Result = ();

    fn handle(&mut self, t: Track, ctx: &mut Context<Self>) {
        let (id, category) = (t.snapshot.id, t.snapshot.category.clone());
        if t.snapshot.status.is_terminal() {
            self.addrs.remove(&id);
        } else {
            self.addrs.insert(id, t.addr);
        }
        match t.listing {
            Some(frame) => self.listings.insert(id, frame),
            None => self.listings.remove(&id),
        };
        let decisions = self.state.track(t.snapshot, t.settled, Timestamp::now());
        self.carry_out(decisions);
        self.mark_dirty(category, ctx);
    }
}

impl Handler<ExpertConnected> for Router {
    type Result = ExpertWelcome;

    fn handle(&mut self, m: ExpertConnected, _: &mut Context<Self>) -> ExpertWelcome {
        let e = m.expert;
        self.names.insert(e.id, e.name.clone());
        let max = e.max_concurrent.unwrap_or(self.default_max_concurrent);
        let decisions = match e.bot {
            true => self.state.bot_online(e.id, e.categories),
            false => self.state.expert_online(e.id, e.categories, e.certifications, max),
        };
        self.publish_presence(e.id);
        self.carry_out(decisions);
        // A console that reconnects gets everything again: it may have missed what was sent
        // to the socket it replaces.
        ExpertWelcome {
            presence: self.state.presence(e.id),
            offers: self.state.offers_to(e.id),
            conversations: self.state.owned_by(e.id),
            claimable: self.state.claim_list(e.id, true),
        }
    }
}

impl Handler<ExpertChanged> for Router {
    type Result = ();

    fn handle(&mut self, m: ExpertChanged, _: &mut Context<Self>) {
        let e = m.expert;
        self.names.insert(e.id, e.name.clone());
        let max = e.max_concurrent.unwrap_or(self.default_max_concurrent);
        let decisions = self.state.expert_changed(e.id, e.categories, e.certifications, max);
        self.carry_out(decisions);
    }
}

impl Handler<ExpertDisconnected> for Router {
    type Result = ();

    fn handle(&mut self, m: ExpertDisconnected, ctx: &mut Context<Self>) {
        let decisions = self.state.expert_offline(m.expert, Timestamp::now());
        self.publish_presence(m.expert);
        self.carry_out(decisions);
        self.arm_bot_timer(ctx);
    }
}

impl Handler<SetPresence> for Router {
    type Result = ();

    fn handle(&mut self, m: SetPresence, _: &mut Context<Self>) {
        let decisions = self.state.set_presence(m.expert, m.presence);
        self.publish_presence(m.expert);
        self.carry_out(decisions);
    }
}

impl Handler<OfferOutcome> for Router {
    type Result = ();

    fn handle(&mut self, m: OfferOutcome, _: &mut Context<Self>) {
        let decisions = self.state.offer_outcome(m.expert, m.lapsed);
        self.carry_out(decisions);
    }
}

impl Handler<Reserve> for Router {
    type Result = Result<ReservationId, crate::domain::Refusal>;

    fn handle(&mut self, m: Reserve, _: &mut Context<Self>) -> Self::Result {
        self.state.reserve(m.expert, m.purpose)
    }
}

impl Handler<Settle> for Router {
    type Result = ();

    fn handle(&mut self, Settle(id): Settle, _: &mut Context<Self>) {
        let decisions = self.state.settle(id);
        self.carry_out(decisions);
    }
}

impl Handler<ExpertRemoved> for Router {
    type Result = ();

    fn handle(&mut self, m: ExpertRemoved, _: &mut Context<Self>) {
        let decisions = self.state.expert_removed(m.expert);
        self.publish_presence(m.expert);
        self.carry_out(decisions);
    }
}

impl Handler<Counts> for Router {
    type Result = RouterCounts;

    fn handle(&mut self, _: Counts, _: &mut Context<Self>) -> RouterCounts {
        self.state.counts()
    }
}

impl Handler<PresenceList> for Router {
    type Result = MessageResult<PresenceList>;

    fn handle(&mut self, _: PresenceList, _: &mut Context<Self>) -> Self::Result {
        let ids: Vec<ExpertId> = self.state.experts.keys().copied().collect();
        MessageResult(
            ids.into_iter().map(|id| (id, self.state.presence(id))).collect::<HashMap<_, Presence>>(),
        )
    }
}

impl Handler<QueueView> for Router {
    type Result = MessageResult<QueueView>;

    fn handle(&mut self, m: QueueView, _: &mut Context<Self>) -> Self::Result {
        let entries = self.state.queue_view(m.categories.as_deref());
        MessageResult(
            entries
                .into_iter()
                .map(|entry| QueuedChat {
                    offered_to_name: entry.offered_to.and_then(|e| self.names.get(&e).cloned()),
                    entry,
                })
                .collect(),
        )
    }
}

impl Handler<EstimatedWaits> for Router {
    type Result = MessageResult<EstimatedWaits>;

    fn handle(&mut self, EstimatedWaits(chats): EstimatedWaits, _: &mut Context<Self>) -> Self::Result {
        let now = Timestamp::now();
        MessageResult(
            chats.into_iter().filter_map(|c| Some((c, self.state.estimated_wait(c, now)?))).collect(),
        )
    }
}

impl Handler<Live> for Router {
    type Result = LiveCounts;

    fn handle(&mut self, _: Live, _: &mut Context<Self>) -> LiveCounts {
        let experts = self.state.experts.iter().map(|(id, e)| (*id, (self.state.presence(*id), e.load)));
        LiveCounts { counts: self.state.counts(), experts: experts.collect() }
    }
}
