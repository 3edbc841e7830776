//! The admin page's live view (`GET /api/v1/live`): chats queued and open, and every expert
//! with their presence and load, as the router sees them now.

use actix_web::{web, HttpResponse};
use serde::Serialize;

use super::{ApiError, Caller};
use crate::app::AppState;
use crate::domain::{ErrorCode, Presence};
use crate::messages::{Live, LiveCounts};
use crate::store::model::Expert;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/live", web::get().to(live));
}

#[derive(Serialize)]
struct LiveView {
    /// Chats waiting (queued or offered), in all categories.
    queued: usize,
    queued_by_category: std::collections::BTreeMap<String, usize>,
    /// Chats open with an expert.
    open: usize,
    experts: Vec<ExpertLoad>,
}

#[derive(Serialize)]
struct ExpertLoad {
    id: String,
    name: String,
    presence: Presence,
    /// Offers and open chats that count against `max_concurrent`.
    load: u32,
    max_concurrent: u32,
}

/// The router's picture now: its counts, and each expert's presence and load. Shared with the
/// colleagues list so both read capacity the one way the router counts it.
pub(super) async fn router_now(app: &AppState) -> Result<LiveCounts, ApiError> {
    app.router.send(Live).await.map_err(|_| ApiError::new(ErrorCode::Internal, "the router is not answering"))
}

/// One expert's presence, load and capacity as `live` (from [`router_now`]) has them; an
/// expert the router has not met is offline with nothing held.
pub(super) fn load_of(live: &LiveCounts, e: &Expert, default_max: u32) -> (Presence, u32, u32) {
    let (presence, load) = live.experts.get(&e.id).copied().unwrap_or((Presence::Offline, 0));
    (presence, load, e.max_concurrent.unwrap_or(default_max))
}

async fn live(caller: Caller, app: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    caller.admin_only()?;
    let live = router_now(&app).await?;
    let default_max = app.config.routing.max_concurrent;
    let experts = app
        .store
        .experts()?
        .into_iter()
        // Bots hold no capacity: the report is of the people answering.
        .filter(|e| !e.removed && !e.bot)
        .map(|e| {
            let (presence, load, max_concurrent) = load_of(&live, &e, default_max);
            ExpertLoad { id: e.id.to_string(), name: e.name, presence, load, max_concurrent }
        })
        .collect();
    let by_category = live.counts.queued_by_category;
    Ok(HttpResponse::Ok().json(LiveView {
        queued: by_category.iter().map(|(_, n)| n).sum(),
        queued_by_category: by_category.into_iter().filter(|(_, n)| *n > 0).collect(),
        open: live.counts.open_chats,
        experts,
    }))
}
