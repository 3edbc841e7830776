//! SLA targets (PRODUCT.md v1.1): when a response target is due, counted in office hours,
//! and when its clock starts, stops, is met or breached. Pure: records and a clock in, the
//! changed record out; the lifecycle calls these rules, the actor carries out what they say.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use crate::clock::Timestamp;
use crate::config::Config;
use crate::domain::{SlaKind, Status};
use crate::office_hours::Schedule;
use crate::store::model::{AuthorKind, Sla, SlaClock, SlaOutcome, StoredMessage};

/// The targets each category sets, and the office hours they are counted in.
#[derive(Debug, Clone, Default)]
pub struct SlaPolicy {
    /// Per category: first-response and next-response targets; a category with neither is absent.
    targets: HashMap<String, [Option<Duration>; 2]>,
    /// Office hours, when enabled: a clock pauses while they are closed. The app's own
    /// schedule (`App.schedule`), shared rather than parsed again.
    pub schedule: Option<Arc<Schedule>>,
}

impl SlaPolicy {
    pub fn from_config(c: &Config, schedule: Option<Arc<Schedule>>) -> SlaPolicy {
        let targets = c
            .categories
            .iter()
            .map(|cat| (cat.id.clone(), [cat.first_response_target, cat.next_response_target]))
            .filter(|(_, t)| t.iter().any(Option::is_some))
            .collect();
        SlaPolicy { targets, schedule }
    }

    /// `category` sets `kind`'s target to `target` (tests and configuration alike).
    pub fn with_target(mut self, category: &str, kind: SlaKind, target: Duration) -> SlaPolicy {
        self.targets.entry(category.to_owned()).or_default()[index(kind)] = Some(target);
        self
    }

    /// The target `category` sets for `kind`; zero is none.
    pub fn target(&self, category: &str, kind: SlaKind) -> Option<Duration> {
        self.targets.get(category)?[index(kind)].filter(|t| !t.is_zero())
    }

    /// A clock for `kind` starting at `now`, if the category sets that target.
    fn clock(&self, category: &str, kind: SlaKind, now: Timestamp) -> Option<SlaClock> {
        let target = self.target(category, kind)?;
        let due = due(now, target, self.schedule.as_deref())?;
        Some(SlaClock { kind, target_ms: target.as_millis() as u64, due })
    }
}

fn index(kind: SlaKind) -> usize {
    match kind {
        SlaKind::FirstResponse => 0,
        SlaKind::NextResponse => 1,
    }
}

/// When `target` of office time from `start` runs out: with no schedule, `start + target`;
/// otherwise the target is spent only while the office is open, so one spanning closing time
/// pauses overnight (and over closed days) and runs on when it opens. `None` when the
/// schedule never opens again.
pub fn due(start: Timestamp, target: Duration, schedule: Option<&Schedule>) -> Option<Timestamp> {
    let Some(schedule) = schedule else { return Some(start.plus(target)) };
    let mut left = target.as_millis() as i64;
    let mut at = start;
    loop {
        let (open, close) = schedule.open_span_from(at)?;
        if open.0 + left <= close.0 {
            return Some(Timestamp(open.0 + left));
        }
        left -= close.0 - open.0;
        at = close;
    }
}

/// Office time between `from` and `to` (the whole span when no schedule).
pub fn office_time(from: Timestamp, to: Timestamp, schedule: Option<&Schedule>) -> Duration {
    let Some(schedule) = schedule else { return from.until(to) };
    let mut total = Duration::ZERO;
    let mut at = from;
    while at < to {
        let Some((open, close)) = schedule.open_span_from(at) else { break };
        if open >= to {
            break;
        }
        total += open.until(close.min(to));
        at = close;
    }
    total
}

/// A chat begins: its customer waits for a first response.
pub fn started(sla: &mut Sla, category: &str, now: Timestamp, p: &SlaPolicy) {
    sla.running = p.clock(category, SlaKind::FirstResponse, now);
}

/// The customer wrote. `answered`: the chat's last message was an expert's reply, so a
/// next-response clock starts; a clock already running keeps counting from its start.
pub fn customer_wrote(sla: &mut Sla, answered: bool, category: &str, now: Timestamp, p: &SlaPolicy) {
    if answered && sla.running.is_none() {
        sla.running = p.clock(category, SlaKind::NextResponse, now);
    }
}

/// An expert replied (not a note, not a bot): the running target is met, or breached if its
/// due time passed before a tick recorded it (then the breach is returned like `breach`'s).
/// A target already breached and recorded has stopped: this reply records nothing more.
pub fn expert_replied(sla: &mut Sla, now: Timestamp) -> Option<(SlaKind, u64)> {
    if sla.running.is_some_and(|c| c.due <= now) {
        return breach(sla, now);
    }
    let clock = sla.running.take()?;
    sla.outcomes.push(SlaOutcome { kind: clock.kind, breached_at: None });
    None
}

/// Whether `status` ends a chat's targets: solved, closed or abandoned (a reopened chat counts
/// again from its customer's next message).
pub fn ended(status: Status) -> bool {
    matches!(status, Status::Solved | Status::Closed | Status::Abandoned)
}

/// The chat ended (`ended`): its running clock stops without an outcome.
pub fn stopped(sla: &mut Sla) {
    sla.running = None;
}

/// The running clock's due time has come: the breach is recorded and the clock stops.
/// Returns the breached kind and target, `None` if nothing was due.
pub fn breach(sla: &mut Sla, now: Timestamp) -> Option<(SlaKind, u64)> {
    let clock = sla.running.filter(|c| c.due <= now)?;
    sla.running = None;
    sla.outcomes.push(SlaOutcome { kind: clock.kind, breached_at: Some(now) });
    Some((clock.kind, clock.target_ms))
}

/// What counts as a response to the customer: an expert's or a bot's message to them (not an
/// internal note, not the greeting, which is no one's).
pub fn is_response(m: &StoredMessage) -> bool {
    !m.internal
        && match m.author.kind {
            AuthorKind::Expert => true,
            AuthorKind::Bot => m.author.id.is_some(),
            AuthorKind::Customer | AuthorKind::System => false,
        }
}

/// When the latest response in `transcript` was written.
pub fn last_response(transcript: &[StoredMessage]) -> Option<Timestamp> {
    transcript.iter().rev().find(|m| is_response(m)).map(|m| m.at)
}

/// The breach the chat is in now, if any: its kind and when it was recorded. That is the last
/// target that ended, if it was breached, while no clock has started since, no response came
/// at or after it (`last_response`: the latest, however it is known) and the chat is still
/// going. What a console restores after a reload, and what an owner who was away at the
/// breach is shown when they connect; the reply ends it, as it ends the notice.
pub fn current_breach(
    sla: &Sla,
    status: Status,
    last_response: Option<Timestamp>,
) -> Option<(SlaKind, Timestamp)> {
    if ended(status) || sla.running.is_some() {
        return None;
    }
    let last = sla.outcomes.last()?;
    let at = last.breached_at?;
    // A reply recorded with the breach (one past due before the tick) answered it.
    match last_response {
        Some(reply) if reply >= at => None,
        _ => Some((last.kind, at)),
    }
}

/// A target met between two versions of a record: its kind and the office time the reply
/// took, for the response-time histogram.
pub fn met(
    before: &Sla,
    after: &Sla,
    now: Timestamp,
    schedule: Option<&Schedule>,
) -> Option<(SlaKind, Duration)> {
    let clock = before.running?;
    let outcome = after.outcomes.get(before.outcomes.len())?;
    if outcome.breached_at.is_some() {
        return None;
    }
    let left = office_time(now, clock.due, schedule);
    Some((clock.kind, Duration::from_millis(clock.target_ms).saturating_sub(left)))
}

/// A breach recorded between two versions of a record: the clock it stopped, and when.
pub fn breached(before: &Sla, after: &Sla) -> Option<(SlaClock, Timestamp)> {
    let clock = before.running?;
    let at = after.outcomes.get(before.outcomes.len())?.breached_at?;
    Some((clock, at))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::office_hours::OfficeHoursConfig;

    const MIN: u64 = 60_000;
    const HOUR: u64 = 60 * MIN;

    /// Weekdays 09:00-17:00 UTC, closed at weekends.
    fn weekdays() -> Schedule {
        Schedule::from_config(&OfficeHoursConfig { enabled: true, ..OfficeHoursConfig::default() }).unwrap()
    }

    fn at(rfc3339: &str) -> Timestamp {
        Timestamp(rfc3339.parse::<jiff::Timestamp>().unwrap().as_millisecond())
    }

    fn mins(n: u64) -> Duration {
        Duration::from_millis(n * MIN)
    }

    #[test]
    fn without_office_hours_a_target_is_wall_time() {
        assert_eq!(due(Timestamp(1000), mins(5), None), Some(Timestamp(1000 + 5 * MIN as i64)));
        // 2026-11-28 is a Saturday: without a schedule the weekend counts like any time.
        let sat = at("2026-11-28T12:00:00Z");
        assert_eq!(due(sat, mins(30), None), Some(at("2026-11-28T12:30:00Z")));
    }

    #[test]
    fn a_target_within_open_hours_is_wall_time() {
        // Monday 2026-11-23.
        let s = weekdays();
        assert_eq!(due(at("2026-11-23T10:00:00Z"), mins(30), Some(&s)), Some(at("2026-11-23T10:30:00Z")));
        assert_eq!(due(at("2026-11-23T16:30:00Z"), mins(30), Some(&s)), Some(at("2026-11-23T17:00:00Z")));
    }

    #[test]
    fn a_target_spanning_closing_time_pauses_overnight() {
        let s = weekdays();
        // 30 minutes left on Monday at 16:30; the other 30 on Tuesday from 09:00.
        assert_eq!(due(at("2026-11-23T16:30:00Z"), mins(60), Some(&s)), Some(at("2026-11-24T09:30:00Z")));
    }

    #[test]
    fn a_clock_started_while_closed_waits_for_opening() {
        let s = weekdays();
        assert_eq!(due(at("2026-11-23T20:00:00Z"), mins(10), Some(&s)), Some(at("2026-11-24T09:10:00Z")));
        assert_eq!(due(at("2026-11-23T06:00:00Z"), mins(10), Some(&s)), Some(at("2026-11-23T09:10:00Z")));
    }

    #[test]
    fn a_weekend_does_not_count() {
        let s = weekdays();
        // Friday 2026-11-27 16:00, two hours: one on Friday, one on Monday.
        let due_at = due(at("2026-11-27T16:00:00Z"), mins(120), Some(&s));
        assert_eq!(due_at, Some(at("2026-11-30T10:00:00Z")));
        // Started on Saturday: nothing counts until Monday opens.
        assert_eq!(due(at("2026-11-28T12:00:00Z"), mins(5), Some(&s)), Some(at("2026-11-30T09:05:00Z")));
        // A whole working day (8h) and a bit, from Friday morning: Monday.
        let long = due(at("2026-11-27T09:00:00Z"), Duration::from_millis(8 * HOUR + MIN), Some(&s));
        assert_eq!(long, Some(at("2026-11-30T09:01:00Z")));
    }

    #[test]
    fn holidays_and_split_days_pause_the_clock() {
        let c = OfficeHoursConfig {
            enabled: true,
            monday: vec!["09:00-12:00".into(), "13:00-17:00".into()],
            tuesday: vec!["09:00-17:00".into()],
            holidays: vec!["2026-11-24".into()],
            ..OfficeHoursConfig::default()
        };
        let s = Schedule::from_config(&c).unwrap();
        // The lunch break pauses it.
        assert_eq!(due(at("2026-11-23T11:50:00Z"), mins(20), Some(&s)), Some(at("2026-11-23T13:10:00Z")));
        // Tuesday is a holiday: Monday evening's remainder runs on Wednesday.
        assert_eq!(due(at("2026-11-23T16:50:00Z"), mins(20), Some(&s)), Some(at("2026-11-25T09:10:00Z")));
    }

    #[test]
    fn a_schedule_that_never_opens_sets_no_due_time() {
        let c = OfficeHoursConfig {
            enabled: true,
            monday: vec![],
            tuesday: vec![],
            wednesday: vec![],
            thursday: vec![],
            friday: vec![],
            ..OfficeHoursConfig::default()
        };
        let s = Schedule::from_config(&c).unwrap();
        assert_eq!(due(at("2026-11-23T10:00:00Z"), mins(1), Some(&s)), None);
        let p = SlaPolicy { schedule: Some(Arc::new(s)), ..SlaPolicy::default() }.with_target(
            "general",
            SlaKind::FirstResponse,
            mins(1),
        );
        let mut sla = Sla::default();
        started(&mut sla, "general", at("2026-11-23T10:00:00Z"), &p);
        assert_eq!(sla.running, None);
    }

    #[test]
    fn office_time_counts_open_hours_only() {
        let s = weekdays();
        let t = office_time(at("2026-11-27T16:00:00Z"), at("2026-11-30T10:00:00Z"), Some(&s));
        assert_eq!(t, mins(120));
        assert_eq!(office_time(Timestamp(0), Timestamp(5000), None), Duration::from_millis(5000));
    }

    fn policy() -> SlaPolicy {
        SlaPolicy::default()
            .with_target("general", SlaKind::FirstResponse, Duration::from_millis(100))
            .with_target("general", SlaKind::NextResponse, Duration::from_millis(50))
    }

    #[test]
    fn first_response_runs_from_the_start_to_the_first_reply() {
        let mut sla = Sla::default();
        started(&mut sla, "general", Timestamp(0), &policy());
        let clock = sla.running.unwrap();
        assert_eq!((clock.kind, clock.target_ms, clock.due), (SlaKind::FirstResponse, 100, Timestamp(100)));
        // The customer writing again changes nothing: it was never answered.
        customer_wrote(&mut sla, false, "general", Timestamp(30), &policy());
        assert_eq!(sla.running, Some(clock));
        assert_eq!(expert_replied(&mut sla, Timestamp(99)), None);
        assert_eq!(sla.running, None);
        assert_eq!(sla.outcomes, vec![SlaOutcome { kind: SlaKind::FirstResponse, breached_at: None }]);
        // A second reply has no clock to stop.
        expert_replied(&mut sla, Timestamp(120));
        assert_eq!(sla.outcomes.len(), 1);
    }

    #[test]
    fn next_response_runs_from_a_customer_message_after_a_reply() {
        let mut sla = Sla::default();
        customer_wrote(&mut sla, true, "general", Timestamp(200), &policy());
        let clock = sla.running.unwrap();
        assert_eq!((clock.kind, clock.target_ms, clock.due), (SlaKind::NextResponse, 50, Timestamp(250)));
        // Writing again keeps the first message's clock.
        customer_wrote(&mut sla, true, "general", Timestamp(220), &policy());
        assert_eq!(sla.running.unwrap().due, Timestamp(250));
        assert_eq!(breach(&mut sla, Timestamp(249)), None, "not due yet");
        assert_eq!(breach(&mut sla, Timestamp(251)), Some((SlaKind::NextResponse, 50)));
        assert_eq!(sla.running, None);
        assert_eq!(
            sla.outcomes,
            vec![SlaOutcome { kind: SlaKind::NextResponse, breached_at: Some(Timestamp(251)) }]
        );
        // The late reply records no second outcome.
        expert_replied(&mut sla, Timestamp(300));
        assert_eq!(sla.outcomes.len(), 1);
    }

    #[test]
    fn a_reply_past_due_before_the_tick_is_a_breach() {
        let mut sla = Sla::default();
        started(&mut sla, "general", Timestamp(0), &policy());
        assert_eq!(expert_replied(&mut sla, Timestamp(150)), Some((SlaKind::FirstResponse, 100)));
        assert_eq!(
            sla.outcomes,
            vec![SlaOutcome { kind: SlaKind::FirstResponse, breached_at: Some(Timestamp(150)) }]
        );
    }

    #[test]
    fn an_ended_chat_stops_its_clock_without_an_outcome() {
        let mut sla = Sla::default();
        started(&mut sla, "general", Timestamp(0), &policy());
        stopped(&mut sla);
        assert_eq!(sla, Sla::default());
        assert_eq!(breach(&mut sla, Timestamp(500)), None);
    }

    #[test]
    fn categories_without_targets_run_no_clock() {
        let mut sla = Sla::default();
        started(&mut sla, "billing", Timestamp(0), &policy());
        customer_wrote(&mut sla, true, "billing", Timestamp(0), &policy());
        assert_eq!(sla.running, None);
        let zero = SlaPolicy::default().with_target("general", SlaKind::FirstResponse, Duration::ZERO);
        started(&mut sla, "general", Timestamp(0), &zero);
        assert_eq!(sla.running, None, "zero is no target");
    }

    #[test]
    fn met_and_breached_read_the_change() {
        let mut before = Sla::default();
        started(&mut before, "general", Timestamp(0), &policy());
        let mut after = before.clone();
        expert_replied(&mut after, Timestamp(40));
        assert_eq!(
            met(&before, &after, Timestamp(40), None),
            Some((SlaKind::FirstResponse, Duration::from_millis(40)))
        );
        assert_eq!(breached(&before, &after), None);
        let mut late = before.clone();
        breach(&mut late, Timestamp(100));
        assert_eq!(met(&before, &late, Timestamp(100), None), None);
        assert_eq!(
            breached(&before, &late).map(|(c, at)| (c.kind, at)),
            Some((SlaKind::FirstResponse, Timestamp(100)))
        );
    }

    #[test]
    fn the_policy_counts_in_the_schedule_the_app_parsed() {
        let toml = "[office_hours]\nenabled = true\n[[categories]]\nid = \"general\"\nname = \"General\"\n\
                    first_response_target = \"10m\"\n";
        let c = Config::from_sources(toml, Vec::new()).unwrap();
        let schedule = Schedule::enabled(&c.office_hours).expect("enabled");
        let policy = crate::lifecycle::Policy::from_config(&c, Some(schedule.clone()));
        // One parsed schedule, shared: not a second copy parsed from the same configuration.
        assert!(Arc::ptr_eq(policy.sla.schedule.as_ref().unwrap(), &schedule));
        // And it is counted in: Monday 16:55, ten minutes, is due on Tuesday at 09:05.
        let mut sla = Sla::default();
        started(&mut sla, "general", at("2026-11-23T16:55:00Z"), &policy.sla);
        assert_eq!(sla.running.unwrap().due, at("2026-11-24T09:05:00Z"));
        let disabled = Config::from_sources("", Vec::new()).unwrap();
        assert!(Schedule::enabled(&disabled.office_hours).is_none());
    }

    fn said(kind: AuthorKind, id: Option<u64>, internal: bool, at: i64) -> StoredMessage {
        StoredMessage {
            seq: 0,
            author: crate::store::model::Author { kind, id, name: None },
            text: "hi".into(),
            internal,
            at: Timestamp(at),
            attachments: Vec::new(),
            client_msg_id: None,
        }
    }

    #[test]
    fn a_response_is_an_expert_or_bot_message_to_the_customer() {
        let transcript = vec![
            said(AuthorKind::Bot, None, false, 1), // the greeting: no one's
            said(AuthorKind::Customer, Some(9), false, 2),
            said(AuthorKind::Expert, Some(1), false, 3),
            said(AuthorKind::Bot, Some(2), false, 4),
            said(AuthorKind::Expert, Some(1), true, 5), // a note
            said(AuthorKind::System, None, false, 6),
            said(AuthorKind::Customer, Some(9), false, 7),
        ];
        let responses: Vec<i64> = transcript.iter().filter(|m| is_response(m)).map(|m| m.at.0).collect();
        assert_eq!(responses, vec![3, 4]);
        assert_eq!(last_response(&transcript), Some(Timestamp(4)));
        assert_eq!(last_response(&transcript[..2]), None);
    }

    #[test]
    fn a_breach_is_current_until_a_response_or_a_new_clock_or_the_end() {
        let mut sla = Sla::default();
        started(&mut sla, "general", Timestamp(0), &policy());
        // Counting: no breach yet.
        assert_eq!(current_breach(&sla, Status::Open, None), None);
        breach(&mut sla, Timestamp(100));
        let first = Some((SlaKind::FirstResponse, Timestamp(100)));
        assert_eq!(current_breach(&sla, Status::Open, None), first);
        // However long the owner was away, and whatever came before it.
        assert_eq!(current_breach(&sla, Status::Pending, Some(Timestamp(99))), first);
        // A response at or after the breach answers it; an ended chat shows none.
        assert_eq!(current_breach(&sla, Status::Open, Some(Timestamp(100))), None);
        assert_eq!(current_breach(&sla, Status::Open, Some(Timestamp(180))), None);
        for ended in [Status::Solved, Status::Closed, Status::Abandoned] {
            assert_eq!(current_breach(&sla, ended, None), None, "{ended:?}");
        }
        // Answered, the customer writes again: the next clock runs, the old breach is over.
        customer_wrote(&mut sla, true, "general", Timestamp(200), &policy());
        assert_eq!(current_breach(&sla, Status::Open, Some(Timestamp(180))), None);
        // That one breached in turn: current again, as a next-response breach.
        breach(&mut sla, Timestamp(250));
        let next = Some((SlaKind::NextResponse, Timestamp(250)));
        assert_eq!(current_breach(&sla, Status::Open, Some(Timestamp(180))), next);
        // A met target is no breach.
        let mut met = Sla::default();
        started(&mut met, "general", Timestamp(0), &policy());
        expert_replied(&mut met, Timestamp(10));
        assert_eq!(current_breach(&met, Status::Open, None), None);
    }

    #[test]
    fn a_reply_past_due_answers_the_breach_it_records() {
        let mut sla = Sla::default();
        started(&mut sla, "general", Timestamp(0), &policy());
        expert_replied(&mut sla, Timestamp(150));
        assert_eq!(current_breach(&sla, Status::Open, Some(Timestamp(150))), None);
    }
}
