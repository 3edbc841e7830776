//! Who consults on what (PRODUCT.md v1.1, "Specialist consult"): each expert's open consults,
//! so a console's hello, an expert's removal and a change of their certifications find them
//! directly instead of scanning every live conversation. Kept by the conversation actors,
//! which hold the records: each stored change of a chat's `consultants` (invite, end, settle,
//! removal) is told here, and a restart rebuilds it as the live chats' actors start again.
//! An index, not the truth: whoever reads it checks the record it points to.

use std::collections::BTreeSet;

use dashmap::DashMap;

use crate::ids::{ConversationId, ExpertId};

#[derive(Default)]
pub struct ConsultIndex {
    by_expert: DashMap<ExpertId, BTreeSet<ConversationId>>,
}

impl ConsultIndex {
    /// The consultants of `chat` went from `before` to `after`.
    pub fn changed(&self, chat: ConversationId, before: &[ExpertId], after: &[ExpertId]) {
        for expert in before.iter().filter(|e| !after.contains(e)) {
            if let dashmap::mapref::entry::Entry::Occupied(mut e) = self.by_expert.entry(*expert) {
                e.get_mut().remove(&chat);
                if e.get().is_empty() {
                    e.remove();
                }
            }
        }
        for expert in after.iter().filter(|e| !before.contains(e)) {
            self.by_expert.entry(*expert).or_default().insert(chat);
        }
    }

    /// The chats `expert` consults on, oldest first.
    pub fn of(&self, expert: ExpertId) -> Vec<ConversationId> {
        self.by_expert.get(&expert).map(|s| s.iter().copied().collect()).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn follows_invites_and_ends() {
        let index = ConsultIndex::default();
        let (ada, bob) = (ExpertId(1), ExpertId(2));
        index.changed(ConversationId(7), &[], &[ada]);
        index.changed(ConversationId(5), &[], &[ada, bob]);
        assert_eq!(index.of(ada), vec![ConversationId(5), ConversationId(7)]);
        index.changed(ConversationId(5), &[ada, bob], &[bob]);
        assert_eq!(index.of(ada), vec![ConversationId(7)]);
        assert_eq!(index.of(bob), vec![ConversationId(5)]);
        index.changed(ConversationId(7), &[ada], &[]);
        assert!(index.of(ada).is_empty());
        assert!(index.by_expert.get(&ada).is_none(), "nothing kept for an expert with no consult");
    }
}
