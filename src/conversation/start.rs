//! Whether a customer's `start` opens a chat, or their `leave_message` leaves one, as a plain
//! function: the widget session gathers the facts (the category asked for, an earlier frame
//! with the same client id, the clock, whether an expert is available), asks here, and carries
//! the answer out.

use crate::clock::Timestamp;
use crate::config::Config;
use crate::domain::{ErrorCode, Refusal, Style};
use crate::ids::ConversationId;
use crate::office_hours::Schedule;
use crate::store::model::Contact;

/// The longest name a left message may give, in characters.
const NAME_CHARS: usize = 100;
/// The longest e-mail address there is (RFC 5321's path limit less its brackets).
const EMAIL_BYTES: usize = 254;

/// What the session knows when a `start` or a `leave_message` arrives.
pub struct StartFacts<'a> {
    /// The category the customer picked; the first configured one when they picked none.
    pub category: Option<&'a str>,
    /// The conversation an earlier `start` of this customer with the same `client_msg_id`
    /// opened: the frame was resent (a reconnecting widget resends what was not acknowledged).
    pub started_before: Option<ConversationId>,
    /// Office hours, when enabled.
    pub schedule: Option<&'a Schedule>,
    pub now: Timestamp,
    /// A `leave_message` rather than a `start`: a conversation that waits for an expert
    /// however long its customer is away, for when nobody can chat.
    pub leaving_message: bool,
    /// Some expert is available now: what the widget's `welcome.available` told it.
    pub experts_available: bool,
}

/// What a `start` does.
#[derive(Debug, PartialEq, Eq)]
pub enum StartDecision {
    /// The frame was seen before: it is answered with the conversation it opened.
    Resent(ConversationId),
    /// A new chat in `category`, whose conversational style is `style`.
    Open { category: String, style: Style },
}

/// Decides a customer's `start`. `take_slot(max)` counts the new chat among the customer's
/// open ones if they have fewer than `max` (`Hub::begin_start`, which makes the check and the
/// count one step across tabs); it is asked last, and only for a chat that would open, so every
/// refusal before it leaves the count alone. Once it said yes, the caller owns the slot.
pub fn decide(
    config: &Config,
    facts: StartFacts<'_>,
    take_slot: impl FnOnce(usize) -> Result<bool, Refusal>,
) -> Result<StartDecision, Refusal> {
    let category = match facts.category {
        Some(id) => config
            .category(id)
            .ok_or_else(|| Refusal::new(ErrorCode::BadRequest, format!("unknown category {id:?}")))?,
        None => &config.categories[0],
    };
    if let Some(id) = facts.started_before {
        // Answered even outside office hours or at the limit: the chat exists already.
        return Ok(StartDecision::Resent(id));
    }
    let office_open = facts.schedule.is_none_or(|s| s.is_open(facts.now));
    if !office_open && !facts.leaving_message {
        return Err(Refusal::new(
            ErrorCode::Unavailable,
            "we are closed right now; leave a message or a callback request",
        ));
    }
    // Someone could answer now: a chat reaches them sooner than a message would, and the
    // widget, told so, starts one instead.
    if office_open && facts.experts_available && facts.leaving_message {
        return Err(Refusal::new(ErrorCode::NotAllowed, "an expert is available: start a chat instead"));
    }
    let max_open = config.limits.max_open_chats_per_customer;
    if !take_slot(max_open)? {
        return Err(Refusal::new(ErrorCode::NotAllowed, format!("you already have {max_open} open chats")));
    }
    Ok(StartDecision::Open { category: category.id.clone(), style: config.style_of(&category.id) })
}

/// The name and email given with a left message, trimmed (blank is none): a name up to 100
/// characters, an email that looks like one (`local@domain.tld`, no spaces, at most 254
/// bytes). Anything else is `bad_request`, said so the customer can correct it.
pub fn contact(name: Option<String>, email: Option<String>) -> Result<Contact, Refusal> {
    let given = |v: Option<String>| v.map(|v| v.trim().to_owned()).filter(|v| !v.is_empty());
    let (name, email) = (given(name), given(email));
    if name.as_ref().is_some_and(|n| n.chars().count() > NAME_CHARS || n.chars().any(char::is_control)) {
        return Err(Refusal::new(
            ErrorCode::BadRequest,
            format!("a name is one line of at most {NAME_CHARS} characters"),
        ));
    }
    if let Some(e) = &email {
        if !looks_like_email(e) {
            return Err(Refusal::new(ErrorCode::BadRequest, "that email address does not look right"));
        }
    }
    Ok(Contact { name, email })
}

/// `local@domain` with a dot inside the domain, nothing blank, no spaces or control
/// characters: what a team can write to. Delivery is the only real check.
fn looks_like_email(e: &str) -> bool {
    let Some((local, domain)) = e.split_once('@') else { return false };
    let plain = |c: char| !c.is_whitespace() && !c.is_control() && !"@<>()[],;:\\\"".contains(c);
    e.len() <= EMAIL_BYTES
        && !local.is_empty()
        && local.chars().all(plain)
        && domain.chars().all(plain)
        && domain.split('.').count() >= 2
        && domain.split('.').all(|label| !label.is_empty())
}

#[cfg(test)]
mod tests {
    use std::cell::Cell;

    use super::*;
    use crate::config::Category;
    use crate::office_hours::OfficeHoursConfig;

    fn config() -> Config {
        let mut config = Config::default();
        let billing = Category {
            id: "billing".into(),
            name: "Billing".into(),
            style: Some(Style::Messaging),
            ..config.categories[0].clone()
        };
        config.categories.push(billing);
        config.conversation.style = Style::LiveChat;
        config.limits.max_open_chats_per_customer = 2;
        config
    }

    /// Open Mondays 09:00-17:00 UTC.
    fn weekdays() -> Schedule {
        let c = OfficeHoursConfig { enabled: true, ..OfficeHoursConfig::default() };
        Schedule::from_config(&c).unwrap()
    }

    fn at(rfc3339: &str) -> Timestamp {
        Timestamp(rfc3339.parse::<jiff::Timestamp>().unwrap().as_millisecond())
    }

    /// Monday 2026-11-23, 10:00 and 20:00 UTC.
    const MONDAY_MORNING: &str = "2026-11-23T10:00:00Z";
    const MONDAY_NIGHT: &str = "2026-11-23T20:00:00Z";

    fn facts<'a>(category: Option<&'a str>, schedule: Option<&'a Schedule>, now: &str) -> StartFacts<'a> {
        StartFacts {
            category,
            started_before: None,
            schedule,
            now: at(now),
            leaving_message: false,
            experts_available: false,
        }
    }

    fn message<'a>(schedule: Option<&'a Schedule>, now: &str, experts_available: bool) -> StartFacts<'a> {
        StartFacts { leaving_message: true, experts_available, ..facts(None, schedule, now) }
    }

    /// A slot source that grants `grant` and counts how often it was asked.
    fn slots(grant: bool, asked: &Cell<u32>) -> impl FnOnce(usize) -> Result<bool, Refusal> + '_ {
        move |max| {
            assert_eq!(max, 2, "the configured limit");
            asked.set(asked.get() + 1);
            Ok(grant)
        }
    }

    #[test]
    fn a_start_opens_in_the_category_asked_for_with_its_style() {
        let (config, asked) = (config(), Cell::new(0));
        let open = decide(&config, facts(Some("billing"), None, MONDAY_NIGHT), slots(true, &asked));
        assert_eq!(
            open.unwrap(),
            StartDecision::Open { category: "billing".into(), style: Style::Messaging }
        );
        // No category: the first one, in the global style.
        let open = decide(&config, facts(None, None, MONDAY_NIGHT), slots(true, &asked));
        assert_eq!(open.unwrap(), StartDecision::Open { category: "general".into(), style: Style::LiveChat });
        assert_eq!(asked.get(), 2);
    }

    #[test]
    fn an_unknown_category_is_refused_before_anything_else() {
        let (config, asked) = (config(), Cell::new(0));
        let resent =
            StartFacts { started_before: Some(ConversationId(7)), ..facts(Some("nope"), None, MONDAY_NIGHT) };
        let refused = decide(&config, resent, slots(true, &asked)).unwrap_err();
        assert_eq!(refused.code, ErrorCode::BadRequest);
        assert!(refused.message.contains("nope"), "{}", refused.message);
        assert_eq!(asked.get(), 0, "no slot taken");
    }

    #[test]
    fn office_hours_follow_the_clock_and_a_closed_office_takes_no_slot() {
        let (config, schedule, asked) = (config(), weekdays(), Cell::new(0));
        let closed = decide(&config, facts(None, Some(&schedule), MONDAY_NIGHT), slots(true, &asked));
        assert_eq!(closed.unwrap_err().code, ErrorCode::Unavailable);
        assert_eq!(asked.get(), 0);
        let open = decide(&config, facts(None, Some(&schedule), MONDAY_MORNING), slots(true, &asked));
        assert!(matches!(open.unwrap(), StartDecision::Open { .. }));
        assert_eq!(asked.get(), 1);
    }

    #[test]
    fn a_customer_at_the_limit_is_refused() {
        let (config, asked) = (config(), Cell::new(0));
        let refused = decide(&config, facts(None, None, MONDAY_NIGHT), slots(false, &asked)).unwrap_err();
        assert_eq!(refused.code, ErrorCode::NotAllowed);
        assert!(refused.message.contains("2 open chats"), "{}", refused.message);
        // A failure to count (the store) is the caller's refusal, passed on as it is.
        let failing = |_| Err(Refusal::new(ErrorCode::Internal, "store down"));
        assert_eq!(
            decide(&config, facts(None, None, MONDAY_NIGHT), failing).unwrap_err().code,
            ErrorCode::Internal
        );
    }

    #[test]
    fn a_resent_start_gets_its_conversation_even_when_closed_or_at_the_limit() {
        let (config, schedule, asked) = (config(), weekdays(), Cell::new(0));
        let again = StartFacts {
            started_before: Some(ConversationId(7)),
            ..facts(Some("billing"), Some(&schedule), MONDAY_NIGHT)
        };
        assert_eq!(
            decide(&config, again, slots(false, &asked)).unwrap(),
            StartDecision::Resent(ConversationId(7))
        );
        assert_eq!(asked.get(), 0, "a resent start is not a new chat");
    }

    #[test]
    fn a_message_is_left_when_nobody_can_chat_and_refused_when_someone_can() {
        let (config, schedule, asked) = (config(), weekdays(), Cell::new(0));
        // Nobody available, office open or no office hours at all.
        for schedule in [None, Some(&schedule)] {
            let left = decide(&config, message(schedule, MONDAY_MORNING, false), slots(true, &asked));
            assert!(matches!(left.unwrap(), StartDecision::Open { .. }));
        }
        // Closed: left even though an expert is available (working late, say).
        let left = decide(&config, message(Some(&schedule), MONDAY_NIGHT, true), slots(true, &asked));
        assert!(matches!(left.unwrap(), StartDecision::Open { .. }));
        assert_eq!(asked.get(), 3, "a left message counts among the customer's open chats");
        // Open with an expert available: the widget is told to start a chat, no slot taken.
        let refused = decide(&config, message(Some(&schedule), MONDAY_MORNING, true), slots(true, &asked));
        let refused = refused.unwrap_err();
        assert_eq!(refused.code, ErrorCode::NotAllowed);
        assert!(refused.message.contains("start a chat"), "{}", refused.message);
        assert_eq!(asked.get(), 3);
        // At the limit like any start.
        let full = decide(&config, message(None, MONDAY_NIGHT, false), slots(false, &asked));
        assert_eq!(full.unwrap_err().code, ErrorCode::NotAllowed);
    }

    #[test]
    fn a_contact_is_trimmed_and_a_bad_email_or_name_is_refused() {
        let some = |s: &str| Some(s.to_owned());
        let c = contact(some("  Mo Ali "), some(" mo@shop.example ")).unwrap();
        assert_eq!((c.name.as_deref(), c.email.as_deref()), (Some("Mo Ali"), Some("mo@shop.example")));
        assert_eq!(contact(some("   "), None).unwrap(), Contact::default(), "blank is none");
        for bad in [
            "mo",
            "mo@",
            "@shop.example",
            "mo@shop",
            "mo@@shop.example",
            "mo ali@shop.example",
            "mo@shop..example",
            "mo@shop.example.",
        ] {
            let refused = contact(None, some(bad)).unwrap_err();
            assert_eq!(refused.code, ErrorCode::BadRequest, "{bad}");
        }
        let long = format!("{}@shop.example", "m".repeat(250));
        assert_eq!(contact(None, Some(long)).unwrap_err().code, ErrorCode::BadRequest);
        assert_eq!(contact(Some("x".repeat(101)), None).unwrap_err().code, ErrorCode::BadRequest);
        assert_eq!(contact(some("Mo\nAli"), None).unwrap_err().code, ErrorCode::BadRequest);
    }
}
