//! `GET /api/v1/stats?from=T&to=T&group_by=expert|category|day`: report figures for admins.

use std::time::{Duration, UNIX_EPOCH};

use actix_web::{web, HttpResponse};
use serde::{Deserialize, Serialize};

use super::{ApiError, Caller};
use crate::app::AppState;
use crate::clock::Timestamp;
use crate::domain::ErrorCode;
use crate::ids::ExpertId;
use crate::stats::{self, Figures, Group, GroupBy};

/// The period reported when the caller names none.
const DEFAULT_PERIOD: Duration = Duration::from_secs(7 * 24 * 3600);

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/stats", web::get().to(get));
}

#[derive(Deserialize)]
struct Query {
    from: Option<String>,
    to: Option<String>,
    group_by: Option<GroupBy>,
}

#[derive(Serialize)]
struct Answer {
    from: String,
    to: String,
    group_by: Option<GroupBy>,
    total: Figures,
    groups: Vec<Row>,
}

/// A group as reported: grouped by expert, each row says whether its "expert" is a bot, so
/// a report never presents a bot as a person answering.
#[derive(Serialize)]
struct Row {
    #[serde(flatten)]
    group: Group,
    #[serde(skip_serializing_if = "Option::is_none")]
    bot: Option<bool>,
}

async fn get(
    caller: Caller,
    app: web::Data<AppState>,
    query: web::Query<Query>,
) -> Result<HttpResponse, ApiError> {
    caller.admin_only()?;
    let Query { from, to, group_by } = query.into_inner();
    let from = from.map(|t| parse_time("from", &t)).transpose()?;
    let to = to.map(|t| parse_time("to", &t)).transpose()?;
    let (from, to) = period(from, to, Timestamp::now());
    if from >= to {
        return Err(ApiError::new(ErrorCode::BadRequest, "from must be before to"));
    }
    // Reading every record is a long scan on a big store: keep it off the HTTP worker.
    let app = app.into_inner();
    let answer = web::block(move || -> Result<Answer, ApiError> {
        let report = stats::report(&app.store.reported_conversations()?, from, to, group_by);
        let mut groups = Vec::with_capacity(report.groups.len());
        for mut group in report.groups {
            let (label, bot) = describe(&app, group_by, &group.key)?;
            group.label = label;
            groups.push(Row { group, bot });
        }
        Ok(Answer { from: from.rfc3339(), to: to.rfc3339(), group_by, total: report.total, groups })
    })
    .await
    .map_err(|_| ApiError::new(ErrorCode::Internal, "the server is busy"))??;
    Ok(HttpResponse::Ok().json(answer))
}

/// The period `[from, to)` a report covers. Without `to` it ends now, this millisecond
/// included: a conversation created in the same millisecond as the request is one the caller
/// has seen start, and a report "up to now" that left it out would count it nowhere.
fn period(from: Option<Timestamp>, to: Option<Timestamp>, now: Timestamp) -> (Timestamp, Timestamp) {
    let to = to.unwrap_or(now.plus(Duration::from_millis(1)));
    let from = from.unwrap_or(Timestamp(to.0.saturating_sub(DEFAULT_PERIOD.as_millis() as i64)));
    (from, to)
}

fn parse_time(name: &str, text: &str) -> Result<Timestamp, ApiError> {
    let t = humantime::parse_rfc3339(text).map_err(|e| {
        ApiError::new(ErrorCode::BadRequest, format!("{name}: {e} (expected e.g. 2024-05-01T00:00:00Z)"))
    })?;
    let ms = t.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis());
    Ok(Timestamp(ms as i64))
}

/// What a group is called for people (the expert's or category's name, or the key itself)
/// and, grouped by expert, whether that "expert" is a bot: one read of the account for both.
fn describe(
    app: &AppState,
    group_by: Option<GroupBy>,
    key: &str,
) -> Result<(String, Option<bool>), ApiError> {
    Ok(match group_by {
        Some(GroupBy::Expert) if key == stats::UNASSIGNED => ("Unassigned".to_owned(), None),
        Some(GroupBy::Expert) => {
            let expert = match key.parse::<ExpertId>() {
                Ok(id) => app.store.expert(id)?,
                Err(()) => None,
            };
            let bot = expert.as_ref().map(|e| e.bot);
            (expert.map_or_else(|| key.to_owned(), |e| e.name), bot)
        }
        // A category since removed from the configuration keeps its id as its name.
        Some(GroupBy::Category) => {
            (app.config.category(key).map_or_else(|| key.to_owned(), |c| c.name.clone()), None)
        }
        Some(GroupBy::Day | GroupBy::Hour) | None => (key.to_owned(), None),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::model::Conversation;

    #[test]
    fn a_report_up_to_now_counts_a_conversation_created_this_millisecond() {
        let now = Timestamp(1_700_000_000_000);
        let c = Conversation::new(
            crate::ids::ConversationId(1),
            crate::ids::CustomerId(1),
            "general".into(),
            crate::domain::Style::LiveChat,
            now,
        );
        let (from, to) = period(None, None, now);
        assert_eq!(stats::report(std::slice::from_ref(&c), from, to, None).total.conversations, 1);
        assert_eq!(to.0 - from.0, DEFAULT_PERIOD.as_millis() as i64);
        // A period the caller names is theirs, end excluded.
        let (from, to) = period(Some(Timestamp(0)), Some(now), now);
        assert_eq!(stats::report(&[c], from, to, None).total.conversations, 0);
    }
}
