//! The admin page's live view (`GET /api/v1/live`): chats queued and open, and every expert
//! with their presence and load, as the router sees them now.

use actix_web::{web, HttpResponse};
use serde::Serialize;

use super::{ApiError, Caller};
use crate::app::AppState;
use crate::domain::{ErrorCode, Presence};
use crate::messages::Live;

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

async fn live(caller: Caller, app: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    caller.admin_only()?;
    let live = app
        .router
        .send(Live)
        .await
        .map_err(|_| ApiError::new(ErrorCode::Internal, "the router is not answering"))?;
    let default_max = app.config.routing.max_concurrent;
    let experts = app
        .store
        .experts()?
        .into_iter()
        .filter(|e| !e.removed)
        .map(|e| {
            let (presence, load) = live.experts.get(&e.id).copied().unwrap_or((Presence::Offline, 0));
            ExpertLoad {
                id: e.id.to_string(),
                name: e.name,
                presence,
                load,
                max_concurrent: e.max_concurrent.unwrap_or(default_max),
            }
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
