//! The queue view (`GET /api/v1/queue`): the chats waiting in the categories the caller
//! serves, as the router sees them now; the store is not read.

use actix_web::{web, HttpResponse};
use serde::Serialize;

use super::{ApiError, Caller};
use crate::app::AppState;
use crate::clock::Timestamp;
use crate::domain::ErrorCode;
use crate::ids::{self, ConversationId};
use crate::messages::{QueueView, QueuedChat};

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/queue", web::get().to(queue));
}

#[derive(Serialize)]
struct QueueItem {
    #[serde(with = "ids::wire")]
    conversation_id: ConversationId,
    category: String,
    waiting_ms: u64,
    /// The chat's place in its category's line, from 1.
    position: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    offered_to: Option<OfferedTo>,
    /// A left message (`leave_message`); absent for a chat.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    offline: bool,
}

#[derive(Serialize)]
struct OfferedTo {
    id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    name: Option<String>,
}

impl QueueItem {
    fn new(c: QueuedChat, now: Timestamp) -> QueueItem {
        let e = c.entry;
        QueueItem {
            conversation_id: e.id,
            category: e.category,
            waiting_ms: e.queued_at.until(now).as_millis() as u64,
            position: e.position,
            offered_to: e.offered_to.map(|id| OfferedTo { id: id.to_string(), name: c.offered_to_name }),
            offline: e.offline,
        }
    }
}

/// Experts see the categories they serve; admins (the token or an admin expert) see all.
async fn queue(caller: Caller, app: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    caller.staff_only()?;
    let categories = caller.categories_served().map(<[String]>::to_vec);
    let chats = app
        .router
        .send(QueueView { categories })
        .await
        .map_err(|_| ApiError::new(ErrorCode::Internal, "the router is not answering"))?;
    let now = Timestamp::now();
    Ok(HttpResponse::Ok().json(chats.into_iter().map(|c| QueueItem::new(c, now)).collect::<Vec<_>>()))
}
