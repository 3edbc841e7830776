//! Report figures (PRODUCT.md, Reports), computed from stored conversation records only, so
//! they survive restarts and need no counters kept in memory. Pure: records in, figures out;
//! `http::stats` reads the store and adds labels.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::clock::Timestamp;
use crate::domain::{SlaKind, Status};
use crate::ids::ExpertId;
use crate::store::model::{Conversation, Segment};

/// How the figures are split besides the total.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum GroupBy {
    /// Counts go to the current owner, else the last past owner, else [`UNASSIGNED`]; times
    /// go to the expert whose they are (see [`Figures`]), so a transferred chat's handle time
    /// is split between its experts.
    Expert,
    Category,
    /// UTC date of `created_at`.
    Day,
    /// UTC hour of `created_at`, as `YYYY-MM-DDTHH`: the admin page's chart of the day.
    Hour,
}

/// The group of conversations no expert ever owned.
pub const UNASSIGNED: &str = "unassigned";

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Figures {
    pub conversations: u64,
    /// An expert sent a first (non-internal) reply.
    pub answered: u64,
    pub abandoned: u64,
    /// `abandoned / conversations`, 0 when there are none.
    pub abandonment_rate: f64,
    pub transfers: u64,
    /// From the customer's first message to the first expert reply.
    pub first_response_ms: Option<Spread>,
    /// Each wait in a queue, from entering it to the accept or claim that ended it: a chat
    /// that waited twice (transferred to a category, reopened, released) counts twice. By
    /// expert: the waits that expert ended.
    pub wait_ms: Option<Spread>,
    /// Each owner's time with a chat, from their accept, claim or transfer in to its end or to
    /// the moment they handed it on, counted once they are done with it. By expert: theirs.
    pub handle_ms: Option<Spread>,
    pub rating: Ratings,
    /// Response targets that ended (met or breached), per kind, from `Conversation.sla`.
    pub sla: SlaRates,
}

/// SLA outcomes per kind (PRODUCT.md v1.1, SLA targets).
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct SlaRates {
    pub first_response: SlaRate,
    pub next_response: SlaRate,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct SlaRate {
    pub met: u64,
    pub breached: u64,
    /// `breached / (met + breached)`, 0 when none ended.
    pub breach_rate: f64,
}

impl SlaRates {
    fn of(conversations: &[&Conversation]) -> SlaRates {
        let mut rates = SlaRates::default();
        for outcome in conversations.iter().flat_map(|c| &c.sla.outcomes) {
            let rate = match outcome.kind {
                SlaKind::FirstResponse => &mut rates.first_response,
                SlaKind::NextResponse => &mut rates.next_response,
            };
            match outcome.breached_at {
                Some(_) => rate.breached += 1,
                None => rate.met += 1,
            }
        }
        for rate in [&mut rates.first_response, &mut rates.next_response] {
            let ended = rate.met + rate.breached;
            rate.breach_rate = if ended == 0 { 0.0 } else { rate.breached as f64 / ended as f64 };
        }
        rates
    }
}

/// Median and 90th percentile, each an observed value (nearest rank), so a single slow chat
/// shows as itself rather than as an average nobody experienced.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Spread {
    pub median: u64,
    pub p90: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Ratings {
    /// 0 when there are no ratings, like `abandonment_rate`.
    pub average: f64,
    pub count: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Group {
    pub key: String,
    /// The key until the caller names it (expert name, category name).
    pub label: String,
    #[serde(flatten)]
    pub figures: Figures,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Report {
    pub total: Figures,
    /// Ordered by key: days come out in date order.
    pub groups: Vec<Group>,
}

/// What one group's figures are computed from.
#[derive(Default)]
struct Members<'a> {
    conversations: Vec<&'a Conversation>,
    times: Times,
}

/// Measured stretches, in milliseconds.
#[derive(Default)]
struct Times {
    waits: Vec<u64>,
    handles: Vec<u64>,
}

/// One measured stretch of a conversation, with the expert it is put down to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Measure {
    /// A wait ended by an accept or claim; `None` when records do not say whose (format 1).
    Wait { taken_by: Option<ExpertId>, ms: u64 },
    /// One owner's whole time with the chat.
    Handle { expert: ExpertId, ms: u64 },
}

impl Times {
    fn add(&mut self, m: Measure) {
        match m {
            Measure::Wait { ms, .. } => self.waits.push(ms),
            Measure::Handle { ms, .. } => self.handles.push(ms),
        }
    }
}

/// Figures over the conversations created in `[from, to)`, split by `group_by` if given.
pub fn report(
    conversations: &[Conversation],
    from: Timestamp,
    to: Timestamp,
    group_by: Option<GroupBy>,
) -> Report {
    let chosen: Vec<&Conversation> =
        conversations.iter().filter(|c| from <= c.created_at && c.created_at < to).collect();
    let mut total = Times::default();
    let mut groups: BTreeMap<String, Members> = BTreeMap::new();
    for c in &chosen {
        let key = group_by.map(|by| group_key(c, by));
        if let Some(key) = &key {
            groups.entry(key.clone()).or_default().conversations.push(c);
        }
        for m in measures(c) {
            total.add(m);
            let Some(key) = &key else { continue };
            // By expert, a time goes to the expert whose it is; otherwise with its conversation.
            let whose = match (group_by, m) {
                (Some(GroupBy::Expert), Measure::Handle { expert, .. }) => Some(expert),
                (Some(GroupBy::Expert), Measure::Wait { taken_by, .. }) => taken_by,
                _ => None,
            };
            let key = whose.map_or_else(|| key.clone(), |e| e.to_string());
            groups.entry(key).or_default().times.add(m);
        }
    }
    Report {
        total: figures(&chosen, &total),
        groups: groups
            .into_iter()
            .map(|(key, m)| Group { label: key.clone(), key, figures: figures(&m.conversations, &m.times) })
            .collect(),
    }
}

/// The group a conversation's counts fall in.
pub fn group_key(c: &Conversation, by: GroupBy) -> String {
    match by {
        GroupBy::Expert => c
            .owner
            .as_ref()
            .map(|o| o.id)
            .or_else(|| c.past_owners.last().copied())
            .map_or_else(|| UNASSIGNED.to_owned(), |e| e.to_string()),
        GroupBy::Category => c.category.clone(),
        // "YYYY-MM-DD" is the head of the RFC 3339 UTC form.
        GroupBy::Day => c.created_at.rfc3339()[..10].to_owned(),
        GroupBy::Hour => c.created_at.rfc3339()[..13].to_owned(),
    }
}

/// The finished waits and handle times in a conversation's segments.
fn measures(c: &Conversation) -> Vec<Measure> {
    let mut out = Vec::new();
    for (i, segment) in c.segments.iter().enumerate() {
        if let Segment::Waiting { since, taken_at: Some(taken) } = *segment {
            // The accept or claim that ended a wait begins the next segment.
            let taken_by = match c.segments.get(i + 1) {
                Some(Segment::Owned { expert, .. }) => Some(*expert),
                _ => None,
            };
            out.push(Measure::Wait { taken_by, ms: millis(since, taken) });
        }
    }
    // Per owner, in the order they first had it: the sum of their spells (a reopened chat
    // gives its owner a second one), once none of them is still running.
    let mut owners: Vec<ExpertId> = Vec::new();
    for s in &c.segments {
        if let Segment::Owned { expert, .. } = s {
            if !owners.contains(expert) {
                owners.push(*expert);
            }
        }
    }
    for owner in owners {
        let spells = c.segments.iter().filter_map(|s| match *s {
            Segment::Owned { expert, since, until } if expert == owner => {
                Some(until.map(|u| millis(since, u)))
            }
            _ => None,
        });
        // `None` while any spell is running.
        if let Some(ms) = spells.sum::<Option<u64>>() {
            out.push(Measure::Handle { expert: owner, ms });
        }
    }
    out
}

fn figures(conversations: &[&Conversation], times: &Times) -> Figures {
    let count =
        |pred: &dyn Fn(&Conversation) -> bool| conversations.iter().filter(|c| pred(c)).count() as u64;
    let n = conversations.len() as u64;
    let abandoned = count(&|c| c.status == Status::Abandoned);
    let first_responses =
        conversations.iter().filter_map(|c| Some(millis(c.created_at, c.first_response_at?))).collect();
    let scores: Vec<u64> =
        conversations.iter().filter_map(|c| c.rating.as_ref()).map(|r| r.score as u64).collect();
    Figures {
        conversations: n,
        answered: count(&|c| c.first_response_at.is_some()),
        abandoned,
        abandonment_rate: if n == 0 { 0.0 } else { abandoned as f64 / n as f64 },
        transfers: conversations.iter().map(|c| c.transfers as u64).sum(),
        first_response_ms: spread(first_responses),
        wait_ms: spread(times.waits.clone()),
        handle_ms: spread(times.handles.clone()),
        rating: Ratings {
            average: if scores.is_empty() {
                0.0
            } else {
                scores.iter().sum::<u64>() as f64 / scores.len() as f64
            },
            count: scores.len() as u64,
        },
        sla: SlaRates::of(conversations),
    }
}

/// Milliseconds from `start` to `end`; never negative, should clocks have stepped back.
fn millis(start: Timestamp, end: Timestamp) -> u64 {
    end.0.saturating_sub(start.0).max(0) as u64
}

fn spread(mut values: Vec<u64>) -> Option<Spread> {
    if values.is_empty() {
        return None;
    }
    values.sort_unstable();
    // Nearest rank: the smallest value with at least p% of the values at or below it.
    let rank = |p: usize| values[(values.len() * p).div_ceil(100).max(1) - 1];
    Some(Spread { median: rank(50), p90: rank(90) })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::Style;
    use crate::ids::{ConversationId, CustomerId, ExpertId};
    use crate::store::model::{Owner, Rating};

    const DAY: i64 = 24 * 3600 * 1000;
    /// 2024-05-01T00:00:00Z.
    const MAY_1: i64 = 1_714_521_600_000;

    fn chat(id: u64, category: &str, created: i64) -> Conversation {
        Conversation::new(
            ConversationId(id),
            CustomerId(100 + id),
            category.into(),
            Style::Returning,
            Timestamp(created),
        )
    }

    /// Accepted after `wait`, answered after `first`, solved after `handle` (ms from creation/accept).
    fn handled(mut c: Conversation, expert: u64, wait: i64, first: i64, handle: i64) -> Conversation {
        let t = c.created_at.0;
        c.status = Status::Solved;
        c.owner = Some(Owner { id: ExpertId(expert), name: format!("Expert {expert}") });
        c.past_owners = vec![ExpertId(expert)];
        c.accepted_at = Some(Timestamp(t + wait));
        c.first_response_at = Some(Timestamp(t + first));
        c.solved_at = Some(Timestamp(t + wait + handle));
        c.begin_spell(ExpertId(expert), Timestamp(t + wait));
        c.end_spell(Timestamp(t + wait + handle));
        c
    }

    fn abandoned(mut c: Conversation) -> Conversation {
        c.status = Status::Abandoned;
        c
    }

    fn sample() -> Vec<Conversation> {
        let mut rated = handled(chat(1, "billing", MAY_1 + 1000), 7, 2_000, 5_000, 60_000);
        rated.rating = Some(Rating { score: 5, comment: None, at: Timestamp(MAY_1 + 99_000) });
        let mut transferred = handled(chat(2, "billing", MAY_1 + 2000), 8, 4_000, 9_000, 120_000);
        transferred.transfers = 2;
        transferred.rating =
            Some(Rating { score: 2, comment: Some("slow".into()), at: Timestamp(MAY_1 + DAY) });
        // Released after a transfer to a category: nobody owns it now, the last owner counts.
        let mut released = handled(chat(3, "howto", MAY_1 + DAY + 5), 7, 1_000, 3_000, 30_000);
        released.owner = None;
        released.transfers = 1;
        vec![
            rated,
            transferred,
            released,
            abandoned(chat(4, "howto", MAY_1 + DAY + 10)),
            chat(5, "howto", MAY_1 + DAY + 20),
            // Outside the period on either side.
            chat(6, "billing", MAY_1 - 1),
            chat(7, "billing", MAY_1 + 2 * DAY),
        ]
    }

    #[test]
    fn totals_count_only_the_period_and_take_nearest_rank_percentiles() {
        let r = report(&sample(), Timestamp(MAY_1), Timestamp(MAY_1 + 2 * DAY), None);
        assert!(r.groups.is_empty());
        let t = r.total;
        assert_eq!((t.conversations, t.answered, t.abandoned, t.transfers), (5, 3, 1, 3));
        assert_eq!(t.abandonment_rate, 0.2);
        assert_eq!(t.first_response_ms, Some(Spread { median: 5_000, p90: 9_000 }));
        assert_eq!(t.wait_ms, Some(Spread { median: 2_000, p90: 4_000 }));
        assert_eq!(t.handle_ms, Some(Spread { median: 60_000, p90: 120_000 }));
        assert_eq!(t.rating, Ratings { average: 3.5, count: 2 });
    }

    #[test]
    fn groups_by_expert_category_and_day() {
        let all = sample();
        let (from, to) = (Timestamp(MAY_1), Timestamp(MAY_1 + 2 * DAY));
        let keys = |by| -> Vec<(String, u64)> {
            report(&all, from, to, Some(by))
                .groups
                .into_iter()
                .map(|g| (g.key, g.figures.conversations))
                .collect()
        };
        let owned = |k: &str, n| (k.to_owned(), n);
        assert_eq!(keys(GroupBy::Expert), [owned("e_7", 2), owned("e_8", 1), owned("unassigned", 2)]);
        assert_eq!(keys(GroupBy::Category), [owned("billing", 2), owned("howto", 3)]);
        assert_eq!(keys(GroupBy::Day), [owned("2024-05-01", 2), owned("2024-05-02", 3)]);
        assert_eq!(keys(GroupBy::Hour), [owned("2024-05-01T00", 2), owned("2024-05-02T00", 3)]);
        let by_expert = report(&all, from, to, Some(GroupBy::Expert));
        let e7 = &by_expert.groups[0].figures;
        assert_eq!(e7.transfers, 1);
        assert_eq!(e7.handle_ms, Some(Spread { median: 30_000, p90: 60_000 }));
        assert_eq!(by_expert.groups[2].figures.abandonment_rate, 0.5);
    }

    #[test]
    fn an_empty_period_has_zero_rates_and_no_times() {
        let t = report(&sample(), Timestamp(0), Timestamp(1), Some(GroupBy::Day));
        assert!(t.groups.is_empty());
        assert_eq!((t.total.conversations, t.total.abandonment_rate), (0, 0.0));
        assert_eq!((t.total.first_response_ms, t.total.rating.average, t.total.rating.count), (None, 0.0, 0));
    }

    /// Waits 1 s for expert 7, who has it 4 s and hands it to a category; waits 2 s more
    /// for expert 8, who has it 8 s and ends it.
    fn transferred() -> Conversation {
        let mut c = chat(1, "billing", MAY_1);
        let at = |s: i64| Timestamp(MAY_1 + s * 1000);
        c.begin_spell(ExpertId(7), at(1));
        c.begin_wait(at(5));
        c.begin_spell(ExpertId(8), at(7));
        c.end_spell(at(15));
        c.status = Status::Closed;
        c.owner = Some(Owner { id: ExpertId(8), name: "Expert 8".into() });
        c.past_owners = vec![ExpertId(7), ExpertId(8)];
        c.transfers = 1;
        c
    }

    #[test]
    fn every_wait_counts_and_handle_time_goes_to_each_owner() {
        let all = [transferred()];
        let (from, to) = (Timestamp(MAY_1), Timestamp(MAY_1 + DAY));
        let t = report(&all, from, to, None).total;
        assert_eq!(t.wait_ms, Some(Spread { median: 1_000, p90: 2_000 }));
        assert_eq!(t.handle_ms, Some(Spread { median: 4_000, p90: 8_000 }));
        let by_expert = report(&all, from, to, Some(GroupBy::Expert)).groups;
        let figures: Vec<(&str, u64, Option<Spread>, Option<Spread>)> = by_expert
            .iter()
            .map(|g| (g.key.as_str(), g.figures.conversations, g.figures.wait_ms, g.figures.handle_ms))
            .collect();
        let one = |ms| Some(Spread { median: ms, p90: ms });
        assert_eq!(
            figures,
            [("e_7", 0, one(1_000), one(4_000)), ("e_8", 1, one(2_000), one(8_000))],
            "counted with its last owner, timed for each"
        );
        // By category the chat's times stay together.
        let by_category = report(&all, from, to, Some(GroupBy::Category)).groups;
        assert_eq!(by_category[0].figures.wait_ms, t.wait_ms);
        assert_eq!(by_category[0].figures.handle_ms, t.handle_ms);
    }

    #[test]
    fn an_owner_is_timed_once_done_over_all_their_spells() {
        let at = |s: i64| Timestamp(MAY_1 + s * 1000);
        // Solved at 4 s, reopened by the customer at 10 s with the same expert, ended at 13 s.
        let mut c = chat(1, "billing", MAY_1);
        c.begin_spell(ExpertId(7), at(1));
        c.end_spell(at(4));
        c.begin_spell(ExpertId(7), at(10));
        let (from, to) = (Timestamp(MAY_1), Timestamp(MAY_1 + DAY));
        let running = report(std::slice::from_ref(&c), from, to, None).total;
        assert_eq!(running.handle_ms, None, "still with the expert: not yet a handle time");
        c.end_spell(at(13));
        let done = report(&[c], from, to, None).total;
        assert_eq!(
            done.handle_ms,
            Some(Spread { median: 6_000, p90: 6_000 }),
            "the solved gap is not handling"
        );
        assert_eq!(
            done.wait_ms,
            Some(Spread { median: 1_000, p90: 1_000 }),
            "a reopen with its owner is no wait"
        );
    }

    #[test]
    fn percentiles_are_observed_values_and_clock_steps_count_as_zero() {
        assert_eq!(spread(vec![7]), Some(Spread { median: 7, p90: 7 }));
        assert_eq!(spread((1..=10).rev().collect()), Some(Spread { median: 5, p90: 9 }));
        assert_eq!(millis(Timestamp(10), Timestamp(4)), 0);
    }

    #[test]
    fn sla_breach_rates_count_ended_targets_per_kind() {
        use crate::store::model::SlaOutcome;
        let outcome =
            |kind, breached: bool| SlaOutcome { kind, breached_at: breached.then_some(Timestamp(MAY_1)) };
        let mut a = chat(1, "billing", MAY_1 + 1);
        a.sla.outcomes = vec![outcome(SlaKind::FirstResponse, true), outcome(SlaKind::NextResponse, false)];
        let mut b = chat(2, "billing", MAY_1 + 2);
        b.sla.outcomes = vec![outcome(SlaKind::FirstResponse, false), outcome(SlaKind::NextResponse, false)];
        let mut c = chat(3, "howto", MAY_1 + 3);
        c.sla.outcomes = vec![outcome(SlaKind::FirstResponse, false), outcome(SlaKind::NextResponse, true)];
        let r = report(
            &[a, b, c, chat(4, "howto", MAY_1 + 4)],
            Timestamp(MAY_1),
            Timestamp(MAY_1 + DAY),
            Some(GroupBy::Category),
        );
        let first = r.total.sla.first_response;
        assert_eq!((first.met, first.breached), (2, 1));
        assert!((first.breach_rate - 1.0 / 3.0).abs() < 1e-9);
        assert_eq!(
            r.total.sla.next_response,
            SlaRate { met: 2, breached: 1, breach_rate: first.breach_rate }
        );
        let billing = &r.groups[0].figures.sla;
        assert_eq!(billing.first_response, SlaRate { met: 1, breached: 1, breach_rate: 0.5 });
        assert_eq!(billing.next_response, SlaRate { met: 2, breached: 0, breach_rate: 0.0 });
        let howto = &r.groups[1].figures.sla;
        assert_eq!(howto.next_response, SlaRate { met: 0, breached: 1, breach_rate: 1.0 });
    }
}
