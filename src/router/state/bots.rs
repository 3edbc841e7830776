//! Bots in routing (PRODUCT.md v1.1, "Bots"): a connected bot takes the new chats of its
//! categories before any human is offered them, and hands them on to humans later. Bots hold
//! no capacity and are kept apart from `experts`, so availability (the widget's "leave a
//! message"), estimated waits, the queue view, `available_count` and capacity reports never
//! count them. A chat whose bot is gone (disconnected or removed) goes to humans at once: a
//! customer is never left with a bot that cannot answer.

use super::*;

/// A connected bot account.
#[derive(Debug, Clone)]
pub struct BotState {
    pub categories: Vec<String>,
    pub sessions: usize,
}

impl RouterState {
    /// The bot accounts in the store, known before any connects: the chats they hold after a
    /// restart take nobody's capacity.
    pub fn with_bots(mut self, bots: impl IntoIterator<Item = ExpertId>) -> RouterState {
        self.bot_accounts.extend(bots);
        self
    }

    /// A bot's session connected: it takes the waiting new chats of its categories.
    pub fn bot_online(&mut self, id: ExpertId, categories: Vec<String>) -> Vec<Decision> {
        self.bot_accounts.insert(id);
        let bot = self.bots.entry(id).or_insert(BotState { categories: vec![], sessions: 0 });
        bot.categories = categories.clone();
        bot.sessions += 1;
        categories.iter().flat_map(|c| self.dispatch(c)).collect()
    }

    pub(super) fn bot_offline(&mut self, id: ExpertId) -> Vec<Decision> {
        let Some(bot) = self.bots.get_mut(&id) else { return vec![] };
        bot.sessions = bot.sessions.saturating_sub(1);
        match bot.sessions {
            0 => self.bot_gone(id),
            _ => vec![],
        }
    }

    /// The bot's last session closed or its account was removed: chats promised to it wait
    /// for humans, and the chats it holds go back to the queue for them.
    pub(super) fn bot_gone(&mut self, id: ExpertId) -> Vec<Decision> {
        let categories = self.bots.remove(&id).map(|b| b.categories).unwrap_or_default();
        let mut out = Vec::new();
        let mut ids: Vec<ConversationId> = self.chats.keys().copied().collect();
        ids.sort();
        for chat in ids {
            let slot = &mut self.chats.get_mut(&chat).expect("listed above").slot;
            match slot {
                Slot::Waiting { reserved: reserved @ Some(_), .. } if *reserved == Some(id) => {
                    *reserved = None
                }
                Slot::Bot { bot } if *bot == id => out.push(Decision::Reroute { chat, expert: id }),
                _ => {}
            }
        }
        out.extend(categories.iter().flat_map(|c| self.dispatch(c)));
        out
    }

    /// A chat held by a bot that is not connected (after a restart, or a take that crossed
    /// its disconnect) goes back to the queue for humans.
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
        self.bots.iter().filter(|(_, b)| b.categories.iter().any(|c| c == category)).map(|(id, _)| *id).min()
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
        let d = r.expert_offline(BOT);
        assert_eq!(kinds(&d), vec![("reroute", 11, 9), ("offer", 10, 1)]);
        assert_eq!(r.presence(BOT), Presence::Offline);
        assert_eq!(kinds(&r.track(new_chat(12), None, T0)), vec![("offer", 12, 1)]);
    }

    #[test]
    fn a_chat_held_by_a_bot_that_is_not_connected_goes_to_humans() {
        // After a restart: the store names the bot, which has not connected yet.
        let mut r = RouterState::new(2).with_bots([BOT]);
        let mut held = new_chat(11);
        (held.status, held.owner, held.for_bot) = (Status::Open, Some(BOT), false);
        assert_eq!(kinds(&r.track(held, None, T0)), vec![("reroute", 11, 9)]);
        assert!(r.experts.is_empty(), "the bot takes no place among the experts");
    }

    #[test]
    fn a_removed_bot_hands_on_its_chats_even_when_offline() {
        let mut r = RouterState::new(2).with_bots([BOT]);
        r.bot_online(BOT, vec!["general".into()]);
        let mut held = new_chat(11);
        (held.status, held.owner, held.for_bot) = (Status::Pending, Some(BOT), false);
        r.track(held, None, T0);
        assert_eq!(kinds(&r.expert_removed(BOT)), vec![("reroute", 11, 9)]);
    }
}
