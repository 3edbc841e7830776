//! The conversation actor's decisions as plain functions on plain data, unit-tested without
//! actix: what a message or an action is to the lifecycle, the duplicate guard, which frames
//! were sent before, and whether a transfer may go where it is sent. The actor gathers the
//! facts (the record, the customer, presence, the configuration), asks here, and carries the
//! answer out.

use std::collections::{HashMap, HashSet};

use crate::domain::{ErrorCode, Refusal, Style};
use crate::ids::ExpertId;
use crate::lifecycle::{Event, Specialist, TransferTo};
use crate::messages::{ExpertAction, Party, TransferTarget};
use crate::store::model::{Author, AuthorKind, Customer, StoredMessage};

/// A message's fingerprint for the duplicate guard: trimmed, whitespace collapsed, case-folded.
pub fn fingerprint(text: &str) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    for word in text.split_whitespace() {
        word.to_lowercase().hash(&mut h);
    }
    h.finish()
}

/// What experts and the bot have said in a conversation: an expert who repeats it is asked to
/// confirm (PRODUCT.md, guard rails), so a double click or a pasted answer is not sent twice.
#[derive(Debug, Default)]
pub struct Said(HashSet<u64>);

impl Said {
    /// Rebuilt from a transcript after a restart.
    pub fn of(transcript: &[StoredMessage]) -> Said {
        let mut said = Said::default();
        transcript.iter().for_each(|m| said.remember(m));
        said
    }

    /// Notes a stored message, if it is one the customer saw from an expert or the bot.
    pub fn remember(&mut self, m: &StoredMessage) {
        if !m.internal && matches!(m.author.kind, AuthorKind::Expert | AuthorKind::Bot) {
            self.0.insert(fingerprint(&m.text));
        }
    }

    /// Refuses an expert's reply that repeats what was said, unless they confirmed it. A
    /// message without words (files only) repeats nothing.
    pub fn check(&self, from: &Party, internal: bool, force: bool, text: &str) -> Result<(), Refusal> {
        let reply = matches!(from, Party::Expert { .. }) && !internal && !text.trim().is_empty();
        if reply && !force && self.0.contains(&fingerprint(text)) {
            return Err(Refusal::new(
                ErrorCode::DuplicateMessage,
                "this repeats an earlier message; send again with force to confirm",
            ));
        }
        Ok(())
    }
}

/// Which messages each author sent here under which `client_msg_id`: a frame sent again (a
/// reconnecting client resends what was not acknowledged) is answered with the message it
/// made, and nothing new is stored (PROTOCOL.md, `send` and `start`). Ids are scoped to their
/// author, so two people's ids never collide, and kept as long as the chat is live.
#[derive(Debug, Default)]
pub struct Sent(HashMap<u64, HashMap<Box<str>, u64>>);

impl Sent {
    /// Rebuilt from a transcript after a restart: each message holds its client id.
    pub fn of(transcript: &[StoredMessage]) -> Sent {
        let mut sent = Sent::default();
        transcript.iter().for_each(|m| sent.remember(m));
        sent
    }

    /// Notes a stored message under its author's client id, if it has both.
    pub fn remember(&mut self, m: &StoredMessage) {
        if let (Some(author), Some(client_id)) = (m.author.id, &m.client_msg_id) {
            // The first message under an id is the one its resends are answered with.
            self.0.entry(author).or_default().entry(client_id.as_str().into()).or_insert(m.seq);
        }
    }

    /// The seq of the message `author` already sent under `client_id`: the frame is a resend.
    pub fn earlier(&self, author: &Author, client_id: Option<&str>) -> Option<u64> {
        self.0.get(&author.id?)?.get(client_id?).copied()
    }
}

/// What a message is to the lifecycle, and who wrote it. `owner_available`: whether the owner
/// could take a reopened chat back right now.
pub fn message(
    from: &Party,
    internal: bool,
    customer: &Customer,
    owner_available: bool,
) -> Result<(Event, Author), Refusal> {
    match from {
        Party::Customer(_) if internal => {
            Err(Refusal::new(ErrorCode::Forbidden, "internal notes are for experts"))
        }
        Party::Customer(_) => Ok((Event::CustomerMessage { owner_available }, Author::customer(customer))),
        Party::Expert { id, name } => {
            let author = Author { kind: AuthorKind::Expert, id: Some(id.0), name: Some(name.clone()) };
            let expert = *id;
            Ok((if internal { Event::Note { expert } } else { Event::ExpertMessage { expert } }, author))
        }
        // A bot writes to the customer only; its one note is the handoff's, written by the actor.
        Party::Bot { .. } if internal => {
            Err(Refusal::new(ErrorCode::Forbidden, "bots write no internal notes"))
        }
        Party::Bot { id, name } => {
            let author = Author { kind: AuthorKind::Bot, id: Some(id.0), name: Some(name.clone()) };
            Ok((Event::ExpertMessage { expert: *id }, author))
        }
    }
}

/// Whether an expert holding `certifications` may receive or advise on a chat needing
/// `claim_certification` (none needed: anyone): the certification travels with the chat.
pub fn certified(claim_certification: Option<&str>, certifications: &[String]) -> bool {
    claim_certification.is_none_or(|c| certifications.iter().any(|h| h == c))
}

/// What an expert's action (other than a transfer) is to the lifecycle. `claim_certification`:
/// what the chat's category requires, when it is a claim-mode (1-to-1) category.
pub fn action(
    action: &ExpertAction,
    expert: ExpertId,
    name: &str,
    claim_certification: Option<&str>,
) -> Result<Event, Refusal> {
    Ok(match action {
        ExpertAction::Accept => Event::Accept { expert, name: name.to_owned() },
        ExpertAction::Decline => Event::Decline { expert },
        ExpertAction::Claim { certifications } => {
            let Some(needed) = claim_certification else {
                return Err(Refusal::new(
                    ErrorCode::NotAllowed,
                    "this chat is offered to experts, not claimed",
                ));
            };
            let certified = certifications.iter().any(|c| c == needed);
            Event::Claim { expert, name: name.to_owned(), certified }
        }
        ExpertAction::SetStatus(status) => Event::SetStatus { expert, status: *status },
        ExpertAction::End => Event::End { expert },
        ExpertAction::Leave => Event::Leave { expert },
        ExpertAction::Transfer { .. } | ExpertAction::Handoff { .. } => {
            return Err(Refusal::new(ErrorCode::Internal, "a transfer is decided by `transfer`"))
        }
        ExpertAction::Invite { specialist, certifications, note, .. } => {
            let certified = certified(claim_certification, certifications);
            let specialist = Specialist { id: *specialist, certified };
            Event::Invite { owner: expert, specialist, note: note.clone() }
        }
        ExpertAction::EndConsult { specialist } => Event::EndConsult { by: expert, specialist: *specialist },
    })
}

/// What the receiving end of a transfer must satisfy, found out by the actor.
pub struct Destination {
    /// A category transfer: whether the category exists, and its style.
    pub category: Option<Style>,
    /// A category transfer of a 1-to-1 chat: whether everyone who could receive it there
    /// holds its certification (`access::all_certified`).
    pub receivers_certified: bool,
}

/// Where a transfer goes, as the lifecycle takes it; the certification travels with a
/// 1-to-1 chat, to a named expert and to a category alike.
pub fn transfer(
    target: &TransferTarget,
    claim_certification: Option<&str>,
    destination: Destination,
) -> Result<TransferTo, Refusal> {
    match target {
        TransferTarget::Expert { id, name, certifications } => {
            let certified = certified(claim_certification, certifications);
            Ok(TransferTo::Expert { id: *id, name: name.clone(), certified })
        }
        TransferTarget::Category(id) => {
            let Some(style) = destination.category else {
                return Err(Refusal::new(ErrorCode::BadRequest, format!("unknown category {id:?}")));
            };
            if !destination.receivers_certified {
                return Err(Refusal::new(
                    ErrorCode::Forbidden,
                    "experts without this chat's certification could receive it there",
                ));
            }
            Ok(TransferTo::Category { id: id.clone(), style })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::Timestamp;
    use crate::ids::CustomerId;

    const ADA: ExpertId = ExpertId(1);

    fn ada() -> Party {
        Party::Expert { id: ADA, name: "Ada".into() }
    }

    fn stored(kind: AuthorKind, text: &str, internal: bool) -> StoredMessage {
        StoredMessage {
            seq: 1,
            author: Author { kind, id: None, name: None },
            text: text.into(),
            internal,
            at: Timestamp(0),
            attachments: vec![],
            client_msg_id: None,
        }
    }

    fn customer() -> Author {
        Author { kind: AuthorKind::Customer, id: Some(9), name: None }
    }

    fn expert() -> Author {
        Author { kind: AuthorKind::Expert, id: Some(ADA.0), name: Some("Ada".into()) }
    }

    /// Message `seq` by `author`, sent under `client_id`.
    fn sent(seq: u64, author: Author, client_id: Option<&str>) -> StoredMessage {
        StoredMessage {
            seq,
            author,
            client_msg_id: client_id.map(str::to_owned),
            ..stored(AuthorKind::Customer, "hello", false)
        }
    }

    #[test]
    fn a_resend_by_the_same_author_is_the_earlier_message() {
        let mut index = Sent::default();
        index.remember(&sent(1, customer(), Some("m-1")));
        assert_eq!(index.earlier(&customer(), Some("m-1")), Some(1), "no new seq");
        assert_eq!(index.earlier(&customer(), Some("m-2")), None, "another id is a new message");
        assert_eq!(index.earlier(&customer(), None), None, "no id, no resend");
        // The first message under an id stays the answer.
        index.remember(&sent(5, customer(), Some("m-1")));
        assert_eq!(index.earlier(&customer(), Some("m-1")), Some(1));
    }

    #[test]
    fn ids_are_scoped_to_their_author() {
        let mut index = Sent::default();
        index.remember(&sent(1, customer(), Some("same")));
        assert_eq!(index.earlier(&expert(), Some("same")), None, "another author: a new message");
        index.remember(&sent(2, expert(), Some("same")));
        assert_eq!(index.earlier(&expert(), Some("same")), Some(2));
        assert_eq!(index.earlier(&customer(), Some("same")), Some(1));
        // The bot has no id: nothing it says is a resend.
        let bot = Author { kind: AuthorKind::Bot, id: None, name: None };
        index.remember(&sent(3, bot.clone(), Some("same")));
        assert_eq!(index.earlier(&bot, Some("same")), None);
    }

    #[test]
    fn ids_survive_a_reload_from_the_transcript() {
        let note = StoredMessage { internal: true, ..sent(3, expert(), Some("note-1")) };
        let transcript = [
            // The opening message carries the start frame's client id.
            sent(1, customer(), Some("start-1")),
            stored(AuthorKind::Bot, "Hello! An expert will be with you shortly.", false),
            note,
            sent(4, customer(), None),
            sent(5, customer(), Some("m-5")),
        ];
        let index = Sent::of(&transcript);
        assert_eq!(index.earlier(&customer(), Some("start-1")), Some(1), "a start frame resent");
        assert_eq!(index.earlier(&expert(), Some("note-1")), Some(3), "internal notes too");
        assert_eq!(index.earlier(&customer(), Some("m-5")), Some(5));
        assert_eq!(index.earlier(&customer(), Some("note-1")), None);
    }

    #[test]
    fn an_expert_repeating_a_reply_or_the_bot_must_confirm() {
        let said = Said::of(&[
            stored(AuthorKind::Bot, "Hello! An expert will be with you shortly.", false),
            stored(AuthorKind::Expert, "Let me check that.", false),
            stored(AuthorKind::Expert, "a private note", true),
            stored(AuthorKind::Customer, "thanks", false),
        ]);
        let refused = said.check(&ada(), false, false, "  let ME   check that. ").unwrap_err();
        assert_eq!(refused.code, ErrorCode::DuplicateMessage);
        assert!(said.check(&ada(), false, false, "hello! an expert will be with you shortly.").is_err());
        assert!(said.check(&ada(), false, true, "Let me check that.").is_ok(), "confirmed with force");
        assert!(said.check(&ada(), true, false, "Let me check that.").is_ok(), "notes are not replies");
        assert!(said.check(&ada(), false, false, "a private note").is_ok(), "notes were not said");
        assert!(said.check(&ada(), false, false, "thanks").is_ok(), "customers' words were not said");
        assert!(said.check(&Party::Customer(CustomerId(9)), false, false, "Let me check that.").is_ok());
    }

    #[test]
    fn messages_become_lifecycle_events_with_their_author() {
        let customer = Customer::anonymous(CustomerId(9), Timestamp(0));
        let (event, author) = message(&Party::Customer(customer.id), false, &customer, true).unwrap();
        assert_eq!(event, Event::CustomerMessage { owner_available: true });
        assert_eq!(author.kind, AuthorKind::Customer);
        assert_eq!(message(&ada(), true, &customer, false).unwrap().0, Event::Note { expert: ADA });
        assert_eq!(message(&ada(), false, &customer, false).unwrap().0, Event::ExpertMessage { expert: ADA });
        let refused = message(&Party::Customer(customer.id), true, &customer, true).unwrap_err();
        assert_eq!(refused.code, ErrorCode::Forbidden);
    }

    #[test]
    fn claims_happen_in_claim_categories_with_the_certification_checked() {
        let claim = ExpertAction::Claim { certifications: vec!["identity".into()] };
        assert_eq!(
            action(&claim, ADA, "Ada", Some("identity")).unwrap(),
            Event::Claim { expert: ADA, name: "Ada".into(), certified: true }
        );
        assert_eq!(
            action(&claim, ADA, "Ada", Some("billing")).unwrap(),
            Event::Claim { expert: ADA, name: "Ada".into(), certified: false }
        );
        assert_eq!(action(&claim, ADA, "Ada", None).unwrap_err().code, ErrorCode::NotAllowed);
    }

    #[test]
    fn a_certified_chat_is_transferred_only_where_the_certification_is_held() {
        let to_plain = TransferTarget::Expert { id: ExpertId(2), name: "Dan".into(), certifications: vec![] };
        let anywhere = || Destination { category: Some(Style::Returning), receivers_certified: true };
        assert!(matches!(
            transfer(&to_plain, Some("identity"), anywhere()).unwrap(),
            TransferTo::Expert { certified: false, .. }
        ));
        assert!(matches!(
            transfer(&to_plain, None, anywhere()).unwrap(),
            TransferTo::Expert { certified: true, .. }
        ));
        let to_general = TransferTarget::Category("general".into());
        let uncertified = Destination { category: Some(Style::Returning), receivers_certified: false };
        assert_eq!(
            transfer(&to_general, Some("identity"), uncertified).unwrap_err().code,
            ErrorCode::Forbidden
        );
        let unknown = Destination { category: None, receivers_certified: true };
        assert_eq!(transfer(&to_general, None, unknown).unwrap_err().code, ErrorCode::BadRequest);
        assert_eq!(
            transfer(&to_general, Some("identity"), anywhere()).unwrap(),
            TransferTo::Category { id: "general".into(), style: Style::Returning }
        );
    }

    #[test]
    fn a_specialist_for_a_claimed_chat_must_hold_its_certification() {
        let invite = |certifications: Vec<String>| ExpertAction::Invite {
            specialist: ExpertId(2),
            name: "Bob".into(),
            certifications,
            note: None,
        };
        let certified = |action: &ExpertAction, needed| match super::action(action, ADA, "Ada", needed) {
            Ok(Event::Invite { specialist, owner, .. }) if owner == ADA => specialist.certified,
            other => panic!("{other:?}"),
        };
        assert!(certified(&invite(vec![]), None), "an offer-mode chat needs none");
        assert!(!certified(&invite(vec![]), Some("identity")));
        assert!(certified(&invite(vec!["identity".into()]), Some("identity")));
    }
}
