//! Bots in routing (PRODUCT.md v1.1, "Bots"): a connected bot takes the new chats of its
//! categories before any human is offered them, and hands them on to humans later. Bots hold
//! no capacity and are kept apart from `experts`, so availability (the widget's "leave a
//! message"), estimated waits, the queue view, `available_count` and capacity reports never
//! count them. A bot whose last session closed keeps the chats it holds for a grace
//! (`bots.reconnect_grace`), so one restarting for a deploy takes them back; after it, or at
//! once when it is removed, they go to humans: a customer is never left with a bot that
//! cannot answer.

use super::*;

/// A bot account the router knows: connected, or away within its grace.
#[derive(Debug, Clone)]
pub struct BotState {
    pub categories: Vec<String>,
    pub sessions: usize,
    /// Set while no session is connected: when the chats it holds go to humans.
    pub away_until: Option<Timestamp>,
}

impl RouterState {
    /// The bot accounts in the store, known before any connects, and how long a bot whose
    /// last session closed keeps its chats (`bots.reconnect_grace`). The chats they hold
    /// after a restart take nobody's capacity, and stay theirs for the grace from `now` (the
    /// start), as if each had just disconnected.
    pub fn with_bots(
        mut self,
        bots: impl IntoIterator<Item = ExpertId>,
        grace: std::time::Duration,
        now: Timestamp,
    ) -> RouterState {
        self.bot_grace = grace;
        for id in bots {
            self.bot_accounts.insert(id);
            if !grace.is_zero() {
                self.bots.insert(
                    id,
                    BotState { categories: vec![], sessions: 0, away_until: Some(now.plus(grace)) },
                );
            }
        }
        self
    }

    /// A bot's session connected: it takes back what it held, and the waiting new chats of
    /// its categories.
    pub fn bot_online(&mut self, id: ExpertId, categories: Vec<String>) -> Vec<Decision> {
        self.bot_accounts.insert(id);
        let bot =
            self.bots.entry(id).or_insert(BotState { categories: vec![], sessions: 0, away_until: None });
        bot.categories = categories.clone();
        bot.sessions += 1;
        bot.away_until = None;
        categories.iter().flat_map(|c| self.dispatch(c)).collect()
    }

    /// A bot's session closed. Its last one starts the grace: the chats it holds wait for it,
    /// while the new chats promised to it, which nobody has answered yet, go to humans now.
    pub(super) fn bot_offline(&mut self, id: ExpertId, now: Timestamp) -> Vec<Decision> {
        let grace = self.bot_grace;
        let Some(bot) = self.bots.get_mut(&id) else { return vec![] };
        if bot.sessions == 0 {
            return vec![];
        }
        bot.sessions -= 1;
        if bot.sessions > 0 {
            return vec![];
        }
        if grace.is_zero() {
            return self.bot_gone(id);
        }
        bot.away_until = Some(now.plus(grace));
        let categories = bot.categories.clone();
        self.unpromise(id);
        categories.iter().flat_map(|c| self.dispatch(c)).collect()
    }

    /// The earliest end of a disconnected bot's grace: when the router must look again.
    pub fn next_bot_deadline(&self) -> Option<Timestamp> {
        self.bots.values().filter_map(|b| b.away_until).min()
    }

    /// Bots whose grace ran out by `now` are gone: their chats go to humans.
    pub fn bots_due(&mut self, now: Timestamp) -> Vec<Decision> {
        let mut due: Vec<ExpertId> = self
            .bots
            .iter()
            .filter(|(_, b)| b.away_until.is_some_and(|t| t <= now))
            .map(|(id, _)| *id)
            .collect();
        due.sort();
        due.into_iter().flat_map(|id| self.bot_gone(id)).collect()
    }

    /// Chats promised to the bot but not yet taken wait for someone else.
    fn unpromise(&mut self, id: ExpertId) {
        for chat in self.chats.values_mut() {
            if let Slot::Waiting { reserved: reserved @ Some(_), .. } = &mut chat.slot {
                if *reserved == Some(id) {
                    *reserved = None;
                }
            }
        }
    }

    /// The bot's grace ran out or its account was removed: chats promised to it wait for
    /// humans, and the chats it holds go back to the queue for them.
    pub(super) fn bot_gone(&mut self, id: ExpertId) -> Vec<Decision> {
        let categories = self.bots.remove(&id).map(|b| b.categories).unwrap_or_default();
        self.unpromise(id);
        let mut held: Vec<ConversationId> = self
            .chats
            .iter()
            .filter(|(_, c)| c.slot == Slot::Bot { bot: id })
            .map(|(chat, _)| *chat)
            .collect();
        held.sort();
        let mut out: Vec<Decision> =
            held.into_iter().map(|chat| Decision::Reroute { chat, expert: id }).collect();
        out.extend(categories.iter().flat_map(|c| self.dispatch(c)));
        out
    }

    /// Whether a session of the bot is connected now.
    pub(super) fn bot_connected(&self, id: ExpertId) -> bool {
        self.bots.get(&id).is_some_and(|b| b.sessions > 0)
    }

    /// A chat held by a bot the router has given up on (its grace over, or a take that
    /// crossed its going) goes back to the queue for humans.
    pub(super) fn orphaned(&self, chat: ConversationId) -> Option<Decision> {
        match self.chats.get(&chat)?.slot {
            Slot::Bot { bot } if !self.bots.contains_key(&bot) => {
                Some(Decision::Reroute { chat, expert: bot })
            }
            _ => None,
        }
    }

    /// The connected bot that answers `category` first: the oldest account, so the choice is
    /// stable whatever order bots connected in.
    fn bot_for(&self, category: &str) -> Option<ExpertId> {
        self.bots
            .iter()
            .filter(|(_, b)| b.sessions > 0 && b.categories.iter().any(|c| c == category))
            .map(|(id, _)| *id)
            .min()
    }

    /// Gives every waiting new chat of `category` to its bot, before any human offer.
    pub(super) fn bot_takes(&mut self, category: &str) -> Vec<Decision> {
        let Some(bot) = self.bot_for(category) else { return vec![] };
        let Some(queue) = self.queues.get(category) else { return vec![] };
        let mut out = Vec::new();
        for (_, id) in queue {
            let Some(chat) = self.chats.get_mut(id) else { continue };
            if let (true, Slot::Waiting { reserved: reserved @ None, .. }) = (chat.for_bot, &mut chat.slot) {
                *reserved = Some(bot);
                out.push(Decision::BotTake { chat: *id, bot, at_rev: chat.rev });
            }
        }
        out
    }

    /// Whether `id` is a bot account.
    pub fn is_bot(&self, id: ExpertId) -> bool {
        self.bot_accounts.contains(&id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const T0: Timestamp = Timestamp(1_000);
    const HUMAN: ExpertId = ExpertId(1);
    const BOT: ExpertId = ExpertId(9);

    fn new_chat(id: u64) -> Snapshot {
        Snapshot {
            id: ConversationId(id),
            category: "general".into(),
            status: Status::Queued,
            owner: None,
            offered_to: None,
            declined: vec![],
            queued_at: Timestamp(id as i64),
            left: false,
            offline: false,
            rev: 1,
            for_bot: true,
        }
    }

    fn with_human_and_bot() -> RouterState {
        let mut r = RouterState::new(2);
        r.expert_online(HUMAN, vec!["general".into()], vec![], 3);
        r.bot_online(BOT, vec!["general".into()]);
        r
    }

    fn kinds(d: &[Decision]) -> Vec<(&'static str, u64, u64)> {
        d.iter()
            .filter_map(|d| match *d {
                Decision::Offer { chat, expert, .. } => Some(("offer", chat.0, expert.0)),
                Decision::BotTake { chat, bot, .. } => Some(("bot", chat.0, bot.0)),
                Decision::Reroute { chat, expert } => Some(("reroute", chat.0, expert.0)),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn a_new_chat_goes_to_the_bot_not_to_an_available_human() {
        let mut r = with_human_and_bot();
        assert_eq!(kinds(&r.track(new_chat(10), None, T0)), vec![("bot", 10, 9)]);
        // Taken: held by the bot, with no load on anyone and no human offer.
        let mut taken = new_chat(10);
        (taken.status, taken.owner, taken.for_bot, taken.rev) = (Status::Open, Some(BOT), false, 2);
        assert!(kinds(&r.track(taken, None, T0)).is_empty());
        assert_eq!(r.chats[&ConversationId(10)].slot, Slot::Bot { bot: BOT });
        assert_eq!(r.experts[&HUMAN].load, 0);
        assert_eq!(r.owned_by(BOT), vec![ConversationId(10)]);
    }

    #[test]
    fn a_chat_someone_held_goes_to_humans_even_with_a_bot_connected() {
        let mut r = with_human_and_bot();
        let mut handed_off = new_chat(10);
        (handed_off.for_bot, handed_off.declined) = (false, vec![BOT]);
        assert_eq!(kinds(&r.track(handed_off, None, T0)), vec![("offer", 10, 1)]);
    }

    #[test]
    fn bots_are_never_counted_as_available_experts() {
        let mut r = RouterState::new(2);
        r.bot_online(BOT, vec!["general".into()]);
        assert_eq!(r.available_count(), 0);
        let counts = r.counts();
        assert_eq!((counts.available, counts.away, counts.offline), (0, 0, 0));
        assert!(r.reserve(BOT, Purpose::Transfer).is_err(), "nothing is transferred to a bot by name");
        assert_eq!(r.presence(BOT), Presence::Available);
        // Its chats wait in no queue view, and carry no estimate.
        r.track(new_chat(10), None, T0);
        let mut taken = new_chat(10);
        (taken.status, taken.owner, taken.for_bot) = (Status::Open, Some(BOT), false);
        r.track(taken, None, T0);
        assert!(r.queue_view(None).is_empty());
        assert_eq!(r.counts().open_chats, 0);
    }

    #[test]
    fn without_a_bot_new_chats_go_to_humans_and_a_gone_bot_hands_on_what_it_held() {
        let mut r = with_human_and_bot();
        r.track(new_chat(10), None, T0);
        let mut held = new_chat(11);
        (held.status, held.owner, held.for_bot) = (Status::Open, Some(BOT), false);
        r.track(held, None, T0);
        // Chat 10 was promised to the bot, which leaves before taking it: a human gets it.
        let d = r.expert_offline(BOT, T0);
        assert_eq!(kinds(&d), vec![("reroute", 11, 9), ("offer", 10, 1)]);
        assert_eq!(r.presence(BOT), Presence::Offline);
        assert_eq!(kinds(&r.track(new_chat(12), None, T0)), vec![("offer", 12, 1)]);
    }

    #[test]
    fn a_chat_held_by_a_bot_that_is_not_connected_goes_to_humans() {
        // After a restart: the store names the bot, which has not connected yet.
        let mut r = RouterState::new(2).with_bots([BOT], std::time::Duration::ZERO, T0);
        let mut held = new_chat(11);
        (held.status, held.owner, held.for_bot) = (Status::Open, Some(BOT), false);
        assert_eq!(kinds(&r.track(held, None, T0)), vec![("reroute", 11, 9)]);
        assert!(r.experts.is_empty(), "the bot takes no place among the experts");
    }

    #[test]
    fn a_removed_bot_hands_on_its_chats_even_when_offline() {
        let mut r = RouterState::new(2).with_bots([BOT], std::time::Duration::ZERO, T0);
        r.bot_online(BOT, vec!["general".into()]);
        let mut held = new_chat(11);
        (held.status, held.owner, held.for_bot) = (Status::Pending, Some(BOT), false);
        r.track(held, None, T0);
        assert_eq!(kinds(&r.expert_removed(BOT)), vec![("reroute", 11, 9)]);
    }

    fn held_by_bot(id: u64) -> Snapshot {
        let mut held = new_chat(id);
        (held.status, held.owner, held.for_bot) = (Status::Open, Some(BOT), false);
        held
    }

    #[test]
    fn a_bot_that_reconnects_within_its_grace_keeps_its_chats() {
        let mut r = RouterState::new(2).with_bots([], std::time::Duration::from_secs(5), T0);
        r.expert_online(HUMAN, vec!["general".into()], vec![], 3);
        r.bot_online(BOT, vec!["general".into()]);
        r.track(held_by_bot(11), None, T0);
        r.track(new_chat(10), None, T0);
        // Gone: its chat waits for it, but the new chat promised to it goes to the human.
        assert_eq!(kinds(&r.expert_offline(BOT, T0)), vec![("offer", 10, 1)]);
        assert_eq!(r.presence(BOT), Presence::Offline);
        assert_eq!(r.next_bot_deadline(), Some(T0.plus(std::time::Duration::from_secs(5))));
        assert!(kinds(&r.bots_due(Timestamp(T0.0 + 4_999))).is_empty());
        assert!(kinds(&r.track(held_by_bot(11), None, T0)).is_empty(), "not orphaned within the grace");
        r.bot_online(BOT, vec!["general".into()]);
        assert_eq!(r.next_bot_deadline(), None);
        assert!(kinds(&r.bots_due(Timestamp(T0.0 + 10_000))).is_empty());
        assert_eq!(r.owned_by(BOT), vec![ConversationId(11)]);
    }

    #[test]
    fn after_its_grace_a_bots_chats_go_to_humans() {
        let mut r = RouterState::new(2).with_bots([], std::time::Duration::from_secs(5), T0);
        r.bot_online(BOT, vec!["general".into()]);
        r.track(held_by_bot(11), None, T0);
        assert!(kinds(&r.expert_offline(BOT, T0)).is_empty());
        assert_eq!(kinds(&r.bots_due(Timestamp(T0.0 + 5_000))), vec![("reroute", 11, 9)]);
        assert_eq!(r.next_bot_deadline(), None);
    }

    #[test]
    fn after_a_restart_a_bot_has_its_grace_from_the_start() {
        let mut r = RouterState::new(2).with_bots([BOT], std::time::Duration::from_secs(5), T0);
        assert!(kinds(&r.track(held_by_bot(11), None, T0)).is_empty());
        assert_eq!(kinds(&r.bots_due(Timestamp(T0.0 + 5_000))), vec![("reroute", 11, 9)]);
    }
}
