//! Who may read or act on a conversation: PRODUCT.md's "Privacy and access" and its one access
//! rule (v1.1), decided here and nowhere else. Every path asks these functions: websocket
//! frames, sync, history, the REST list and get, attachments and transfers. What a caller may
//! not read answers exactly like what does not exist, so the callers turn a `false` here into
//! `not_found`.
//!
//! Pure: a conversation record and a few facts in, a yes or no out. The facts the record does
//! not hold (whether its category is a private 1-to-1 one, whether the expert serves this
//! customer right now) come from the caller; `serving` is asked only when it matters, because
//! finding it out reads the customer's other conversations.

use crate::domain::Status;
use crate::ids::{CustomerId, ExpertId};
use crate::store::model::Conversation;

/// Who is asking.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Viewer {
    Admin,
    Expert(ExpertId),
    Customer(CustomerId),
}

/// Whether `viewer` may read `c`: its transcript, its live messages, its summary.
///
/// - Admins read everything; a customer reads their own conversations only.
/// - An expert reads what they own, owned, or are being offered.
/// - While serving the customer (see [`serves`]), an expert reads the customer's other
///   conversations too, so the customer never repeats themselves; except a private 1-to-1
///   chat (a claim-mode category) that someone else holds or held, which stays with its
///   owners and admins.
pub fn may_read(c: &Conversation, viewer: Viewer, private: bool, serving: impl FnOnce() -> bool) -> bool {
    match viewer {
        Viewer::Admin => true,
        Viewer::Customer(id) => c.customer == id,
        Viewer::Expert(id) => involved(c, id) || (!private && serving()),
    }
}

/// Owner, past owner, the expert the chat is offered to, or a specialist consulting on it.
fn involved(c: &Conversation, expert: ExpertId) -> bool {
    c.owned_by(expert)
        || c.past_owners.contains(&expert)
        || c.offer.is_some_and(|o| o.expert == expert)
        || c.consultants.contains(&expert)
}

/// Whether `viewer` may write in `c`, a reply (`internal: false`) or an internal note: its
/// customer replies; its owner replies and writes notes; a specialist consulting on it writes
/// internal notes only (PRODUCT.md v1.1, "Specialist consult"). Admins write through an
/// expert account like anyone else.
pub fn may_send(c: &Conversation, viewer: Viewer, internal: bool) -> bool {
    match viewer {
        Viewer::Admin => false,
        Viewer::Customer(id) => c.customer == id && !internal,
        Viewer::Expert(id) => c.owned_by(id) || (internal && c.consultants.contains(&id)),
    }
}

/// Whether `expert` is serving a customer now: they own one of the customer's active chats.
pub fn serves<'a>(
    expert: ExpertId,
    customers_conversations: impl IntoIterator<Item = &'a Conversation>,
) -> bool {
    customers_conversations
        .into_iter()
        .any(|c| c.owned_by(expert) && matches!(c.status, Status::Open | Status::Pending | Status::OnHold))
}

/// Whether `viewer` may upload to or download the files of `c`: its customer, its current
/// owner and admins (PRODUCT.md: attachments are narrower than transcripts).
pub fn may_handle_files(c: &Conversation, viewer: Viewer) -> bool {
    match viewer {
        Viewer::Admin => true,
        Viewer::Customer(id) => c.customer == id,
        Viewer::Expert(id) => c.owned_by(id),
    }
}

/// Certification travels with the chat: a 1-to-1 chat needing `certification` may go to a
/// category only when everyone who could receive it there holds it. `receivers` are the
/// certifications of each possible receiver.
pub fn all_certified<'a>(certification: &str, receivers: impl IntoIterator<Item = &'a [String]>) -> bool {
    receivers.into_iter().all(|held| held.iter().any(|c| c == certification))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::Timestamp;
    use crate::domain::Style;
    use crate::ids::ConversationId;
    use crate::store::model::{Offer, Owner};

    const ADA: ExpertId = ExpertId(1);
    const BOB: ExpertId = ExpertId(2);
    const CUSTOMER: CustomerId = CustomerId(9);

    fn chat() -> Conversation {
        Conversation::new(ConversationId(5), CUSTOMER, "general".into(), Style::Returning, Timestamp(0))
    }

    fn owned_by(expert: ExpertId) -> Conversation {
        let mut c = chat();
        c.status = Status::Open;
        c.owner = Some(Owner { id: expert, name: "x".into() });
        c.past_owners = vec![expert];
        c
    }

    #[test]
    fn customers_read_their_own_and_admins_everything() {
        let c = owned_by(ADA);
        assert!(may_read(&c, Viewer::Customer(CUSTOMER), false, || unreachable!()));
        assert!(!may_read(&c, Viewer::Customer(CustomerId(10)), false, || unreachable!()));
        assert!(may_read(&c, Viewer::Admin, true, || unreachable!()));
    }

    #[test]
    fn experts_read_what_they_own_owned_or_are_offered() {
        let c = owned_by(ADA);
        assert!(may_read(&c, Viewer::Expert(ADA), true, || false));
        let mut handed_on = owned_by(BOB);
        handed_on.past_owners = vec![ADA, BOB];
        assert!(may_read(&handed_on, Viewer::Expert(ADA), true, || false));
        let mut offered = chat();
        offered.status = Status::Offered;
        offered.offer = Some(Offer { expert: BOB, expires_at: Timestamp(1) });
        assert!(may_read(&offered, Viewer::Expert(BOB), false, || false));
        assert!(!may_read(&offered, Viewer::Expert(ADA), false, || false));
    }

    #[test]
    fn serving_the_customer_opens_their_history_but_not_a_private_chat() {
        let other = owned_by(BOB);
        assert!(may_read(&other, Viewer::Expert(ADA), false, || true));
        assert!(!may_read(&other, Viewer::Expert(ADA), false, || false));
        assert!(!may_read(&other, Viewer::Expert(ADA), true, || true), "a claimed 1-to-1 chat stays private");
    }

    #[test]
    fn serving_means_owning_an_active_chat_of_the_customer() {
        let mut mine = owned_by(ADA);
        assert!(serves(ADA, [&mine]));
        assert!(!serves(BOB, [&mine]));
        mine.status = Status::Solved;
        assert!(!serves(ADA, [&mine]));
    }

    #[test]
    fn files_are_for_the_customer_the_current_owner_and_admins() {
        let mut c = owned_by(BOB);
        c.past_owners = vec![ADA, BOB];
        assert!(may_handle_files(&c, Viewer::Expert(BOB)));
        assert!(!may_handle_files(&c, Viewer::Expert(ADA)));
        assert!(may_handle_files(&c, Viewer::Customer(CUSTOMER)));
        assert!(may_handle_files(&c, Viewer::Admin));
    }

    #[test]
    fn a_consulting_specialist_reads_the_chat_until_the_consult_ends() {
        let mut c = owned_by(ADA);
        assert!(!may_read(&c, Viewer::Expert(BOB), true, || false));
        c.consultants = vec![BOB];
        assert!(may_read(&c, Viewer::Expert(BOB), true, || false), "even a private 1-to-1 chat");
        c.consultants.clear();
        assert!(!may_read(&c, Viewer::Expert(BOB), true, || false), "gone like a chat never seen");
    }

    #[test]
    fn a_specialist_writes_internal_notes_only() {
        let mut c = owned_by(ADA);
        c.consultants = vec![BOB];
        assert!(may_send(&c, Viewer::Expert(BOB), true));
        assert!(!may_send(&c, Viewer::Expert(BOB), false));
        assert!(may_send(&c, Viewer::Expert(ADA), false) && may_send(&c, Viewer::Expert(ADA), true));
        assert!(!may_send(&c, Viewer::Expert(ExpertId(3)), true), "nor anyone else");
        assert!(may_send(&c, Viewer::Customer(CUSTOMER), false));
        assert!(!may_send(&c, Viewer::Customer(CUSTOMER), true));
        c.consultants.clear();
        assert!(!may_send(&c, Viewer::Expert(BOB), true), "not once the consult ended");
    }

    #[test]
    fn a_certified_chat_goes_only_where_everyone_holds_the_certification() {
        let certified = vec!["identity".to_owned()];
        let plain: Vec<String> = vec![];
        assert!(all_certified("identity", [certified.as_slice(), certified.as_slice()]));
        assert!(!all_certified("identity", [certified.as_slice(), plain.as_slice()]));
    }
}
