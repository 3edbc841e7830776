//! Report figures (PRODUCT.md, Reports), computed from stored conversation records only, so
//! they survive restarts and need no counters kept in memory. Pure: records in, figures out;
//! `http::stats` reads the store and adds labels.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::clock::Timestamp;
use crate::store::model::{Conversation, Status};

/// How the figures are split besides the total.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum GroupBy {
    /// The current owner, else the last past owner, else [`UNASSIGNED`].
    Expert,
    Category,
    /// UTC date of `created_at`.
    Day,
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
    /// From entering the queue to an expert accepting or claiming it.
    pub wait_ms: Option<Spread>,
    /// From accept to the end of the chat session.
    pub handle_ms: Option<Spread>,
    pub rating: Ratings,
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

/// Figures over the conversations created in `[from, to)`, split by `group_by` if given.
pub fn report(
    conversations: &[Conversation],
    from: Timestamp,
    to: Timestamp,
    group_by: Option<GroupBy>,
) -> Report {
    let chosen: Vec<&Conversation> =
        conversations.iter().filter(|c| from <= c.created_at && c.created_at < to).collect();
    let mut groups: BTreeMap<String, Vec<&Conversation>> = BTreeMap::new();
    if let Some(by) = group_by {
        for c in &chosen {
            groups.entry(group_key(c, by)).or_default().push(c);
        }
    }
    Report {
        total: figures(&chosen),
        groups: groups
            .into_iter()
            .map(|(key, members)| Group { label: key.clone(), key, figures: figures(&members) })
            .collect(),
    }
}

/// The group a conversation falls in.
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
    }
}

pub fn figures(conversations: &[&Conversation]) -> Figures {
    let count =
        |pred: &dyn Fn(&Conversation) -> bool| conversations.iter().filter(|c| pred(c)).count() as u64;
    let n = conversations.len() as u64;
    let abandoned = count(&|c| c.status == Status::Abandoned);
    let between = |start: fn(&Conversation) -> Option<Timestamp>,
                   end: fn(&Conversation) -> Option<Timestamp>| {
        spread(conversations.iter().filter_map(|c| Some(millis(start(c)?, end(c)?))).collect())
    };
    let scores: Vec<u64> =
        conversations.iter().filter_map(|c| c.rating.as_ref()).map(|r| r.score as u64).collect();
    Figures {
        conversations: n,
        answered: count(&|c| c.first_response_at.is_some()),
        abandoned,
        abandonment_rate: if n == 0 { 0.0 } else { abandoned as f64 / n as f64 },
        transfers: conversations.iter().map(|c| c.transfers as u64).sum(),
        first_response_ms: between(|c| Some(c.created_at), |c| c.first_response_at),
        wait_ms: between(|c| Some(c.queued_at), |c| c.accepted_at),
        handle_ms: between(|c| c.accepted_at, |c| c.solved_at),
        rating: Ratings {
            average: if scores.is_empty() {
                0.0
            } else {
                scores.iter().sum::<u64>() as f64 / scores.len() as f64
            },
            count: scores.len() as u64,
        },
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
    use crate::config::Style;
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

    #[test]
    fn percentiles_are_observed_values_and_clock_steps_count_as_zero() {
        assert_eq!(spread(vec![7]), Some(Spread { median: 7, p90: 7 }));
        assert_eq!(spread((1..=10).rev().collect()), Some(Spread { median: 5, p90: 9 }));
        assert_eq!(millis(Timestamp(10), Timestamp(4)), 0);
    }
}
