//! The transfer dialog's source (`GET /api/v1/colleagues`): the configured categories, and the
//! colleagues who serve the caller's categories with their presence, load and certifications,
//! as the router sees them now. It only helps an expert choose: whether a transfer may go
//! ahead is still decided by the router (capacity) and the conversation (certification).

use actix_web::{web, HttpResponse};
use serde::Serialize;

use super::live::{load_of, router_now};
use super::{ApiError, Caller};
use crate::app::AppState;
use crate::config::RoutingMode;
use crate::domain::Presence;
use crate::views;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/colleagues", web::get().to(colleagues));
}

#[derive(Serialize)]
struct Colleagues {
    /// Every configured category: a chat may be transferred to any of them.
    categories: Vec<CategoryView>,
    /// Sorted by name; never the caller.
    colleagues: Vec<Colleague>,
}

#[derive(Serialize)]
struct CategoryView {
    #[serde(flatten)]
    category: views::CategoryView,
    mode: RoutingMode,
    /// What a claim-mode (1-to-1) chat of this category needs of whoever takes it.
    #[serde(skip_serializing_if = "Option::is_none")]
    certification: Option<String>,
}

/// A colleague as a transfer needs them: never a username, password hash or token.
#[derive(Serialize)]
struct Colleague {
    id: String,
    name: String,
    presence: Presence,
    /// Offers and open chats that count against `max_concurrent`, as in `GET /api/v1/live`.
    load: u32,
    max_concurrent: u32,
    /// `max_concurrent - load`: a named transfer needs at least one.
    free: u32,
    categories: Vec<String>,
    certifications: Vec<String>,
}

/// Experts see the colleagues who share a category with them; admins every active expert.
async fn colleagues(caller: Caller, app: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let me = caller.staff_only()?;
    let mine = caller.categories_served();
    let live = router_now(&app).await?;
    let default_max = app.config.routing.max_concurrent;
    let shares =
        |categories: &[String]| mine.as_ref().is_none_or(|m| categories.iter().any(|c| m.contains(c)));
    let mut colleagues: Vec<Colleague> = app
        .store
        .experts()?
        .into_iter()
        // A bot is nobody to transfer a chat to.
        .filter(|e| !e.removed && !e.bot && Some(e.id) != me && shares(&e.categories))
        .map(|e| {
            let (presence, load, max_concurrent) = load_of(&live, &e, default_max);
            Colleague {
                id: e.id.to_string(),
                name: e.name,
                presence,
                load,
                max_concurrent,
                free: max_concurrent.saturating_sub(load),
                categories: e.categories,
                certifications: e.certifications,
            }
        })
        .collect();
    colleagues
        .sort_by(|a, b| a.name.to_lowercase().cmp(&b.name.to_lowercase()).then_with(|| a.id.cmp(&b.id)));
    let categories = app
        .config
        .categories
        .iter()
        .map(|c| CategoryView {
            category: c.into(),
            mode: c.mode,
            certification: app.config.claim_certification(&c.id).map(str::to_owned),
        })
        .collect();
    Ok(HttpResponse::Ok().json(Colleagues { categories, colleagues }))
}
