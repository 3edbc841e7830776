//! `POST`, `GET`, `PATCH` and `DELETE /api/v1/experts` (admin; experts list their colleagues).

use actix_web::{web, HttpResponse};
use serde::{Deserialize, Serialize};

use super::{ApiError, Caller};
use crate::accounts::{add_expert, AddExpertError, NewExpert};
use crate::app::AppState;
use crate::auth;
use crate::clock::{self, Timestamp};
use crate::conversation::SpecialistChanged;
use crate::domain::{ErrorCode, Presence};
use crate::ids::ExpertId;
use crate::messages::{ExpertChanged, ExpertRemoved, PresenceList};
use crate::store::model::{Expert, Role};

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/experts", web::post().to(create))
        .route("/experts", web::get().to(list))
        .route("/experts/{id}", web::patch().to(edit))
        .route("/experts/{id}", web::delete().to(remove));
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExpertChanges {
    pub name: Option<String>,
    pub categories: Option<Vec<String>>,
    pub certifications: Option<Vec<String>>,
    pub max_concurrent: Option<u32>,
    pub password: Option<String>,
    pub roles: Option<Vec<Role>>,
}

fn find(app: &AppState, raw: &str) -> Result<Expert, ApiError> {
    let not_found = || ApiError::new(ErrorCode::NotFound, "no such expert");
    let id: ExpertId = raw.parse().map_err(|_| not_found())?;
    // Bots have their own routes (`http::bots`).
    app.store.expert(id)?.filter(|e| !e.removed && !e.bot).ok_or_else(not_found)
}

async fn edit(
    caller: Caller,
    app: web::Data<AppState>,
    path: web::Path<String>,
    body: web::Json<ExpertChanges>,
) -> Result<HttpResponse, ApiError> {
    caller.admin_only()?;
    let mut expert = find(&app, &path)?;
    let changes = body.into_inner();
    let bad = |m: &str| ApiError::new(ErrorCode::BadRequest, m);
    if let Some(name) = changes.name {
        expert.name =
            Some(name.trim().to_owned()).filter(|n| !n.is_empty()).ok_or_else(|| bad("name is empty"))?;
    }
    if let Some(categories) = changes.categories {
        if let Some(c) = categories.iter().find(|c| app.config.category(c).is_none()) {
            return Err(bad(&format!("unknown category {c:?}")));
        }
        expert.categories = categories;
    }
    if let Some(certifications) = changes.certifications {
        expert.certifications = certifications;
    }
    if let Some(max) = changes.max_concurrent {
        if max == 0 {
            return Err(bad("max_concurrent must be at least 1"));
        }
        expert.max_concurrent = Some(max);
    }
    if let Some(mut roles) = changes.roles {
        roles.dedup();
        expert.roles = roles;
    }
    let new_password = changes.password.is_some();
    if let Some(password) = changes.password {
        if password.len() < 8 {
            return Err(bad("the password needs at least 8 characters"));
        }
        expert.password_hash = web::block(move || auth::hash_password(&password))
            .await
            .map_err(|_| ApiError::new(ErrorCode::Internal, "the server is busy"))?;
    }
    app.store.put_expert(&expert)?;
    if new_password {
        app.store.revoke_tokens(expert.id)?;
    }
    app.store.sync().await?;
    if new_password {
        app.hub.revalidate_expert(expert.id);
    }
    app.router.do_send(ExpertChanged { expert: expert.clone() });
    tell_consults(&app, &expert);
    let presence = app.router.send(PresenceList).await.unwrap_or_default();
    let presence = presence.get(&expert.id).copied().unwrap_or(Presence::Offline);
    Ok(HttpResponse::Ok().json(ExpertView::new(&expert, presence, app.config.routing.max_concurrent)))
}

/// Removes an expert: their tokens are revoked and their open sockets closed; their past
/// conversations keep their name.
async fn remove(
    caller: Caller,
    app: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    caller.admin_only()?;
    retire(&app, find(&app, &path)?).await
}

/// Marks an account (an expert's or a bot's) removed, revokes its tokens and closes its
/// sockets; its offers are withdrawn and its active chats go back to the queue.
pub(super) async fn retire(app: &AppState, mut expert: Expert) -> Result<HttpResponse, ApiError> {
    expert.removed = true;
    app.store.put_expert(&expert)?;
    app.store.revoke_tokens(expert.id)?;
    app.store.sync().await?;
    app.hub.revalidate_expert(expert.id);
    app.router.do_send(ExpertRemoved { expert: expert.id });
    tell_consults(app, &expert);
    Ok(HttpResponse::NoContent().finish())
}

/// Tells each chat the expert consults on that their account changed, so a consult they may
/// no longer hold (removed, or without the certification the chat needs) ends there.
fn tell_consults(app: &AppState, expert: &Expert) {
    for id in app.hub.consults.of(expert.id) {
        let changed = SpecialistChanged {
            expert: expert.id,
            removed: expert.removed,
            certifications: expert.certifications.clone(),
        };
        match app.conversation(id) {
            Ok(Some(addr)) => addr.do_send(changed),
            Ok(None) => {}
            Err(e) => {
                tracing::error!(conversation = %id, error = %e, "cannot tell a consult of its specialist")
            }
        }
    }
}

/// An expert as the admin sees it: never the password hash.
#[derive(Debug, Serialize)]
pub struct ExpertView {
    pub id: String,
    pub username: String,
    pub name: String,
    pub categories: Vec<String>,
    pub certifications: Vec<String>,
    pub max_concurrent: u32,
    /// `["admin"]` for an admin expert.
    pub roles: Vec<Role>,
    pub presence: Presence,
    /// Whether the account can log in.
    pub active: bool,
    #[serde(with = "clock::rfc3339")]
    pub created_at: Timestamp,
}

impl ExpertView {
    pub fn new(e: &Expert, presence: Presence, default_max: u32) -> ExpertView {
        ExpertView {
            id: e.id.to_string(),
            username: e.username.clone(),
            name: e.name.clone(),
            categories: e.categories.clone(),
            certifications: e.certifications.clone(),
            max_concurrent: e.max_concurrent.unwrap_or(default_max),
            roles: e.roles.clone(),
            presence,
            active: !e.removed,
            created_at: e.created_at,
        }
    }
}

async fn create(
    caller: Caller,
    app: web::Data<AppState>,
    body: web::Json<NewExpert>,
) -> Result<HttpResponse, ApiError> {
    caller.admin_only()?;
    let store = app.store.clone();
    let categories: Vec<String> = app.config.categories.iter().map(|c| c.id.clone()).collect();
    // Argon2 is deliberately slow: keep it off the async workers.
    let created = web::block(move || add_expert(&store, &categories, body.into_inner()))
        .await
        .map_err(|_| ApiError::new(ErrorCode::Internal, "the server is busy"))?;
    let expert = match created {
        Ok(e) => e,
        Err(AddExpertError::Invalid(m)) => return Err(ApiError::new(ErrorCode::BadRequest, m)),
        Err(AddExpertError::Taken) => {
            return Err(ApiError::new(ErrorCode::Conflict, "the username is taken"))
        }
        Err(AddExpertError::Store(e)) => return Err(e.into()),
    };
    app.store.sync().await?;
    Ok(HttpResponse::Created().json(ExpertView::new(
        &expert,
        Presence::Offline,
        app.config.routing.max_concurrent,
    )))
}

/// Admins see every account in full; experts see their active colleagues (id, name,
/// presence, categories), which is what a transfer needs.
async fn list(caller: Caller, app: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    caller.staff_only()?;
    let presence = app.router.send(PresenceList).await.unwrap_or_default();
    let presence_of = |id| presence.get(&id).copied().unwrap_or(Presence::Offline);
    let mut experts = app.store.experts()?;
    // Bots are listed at `/api/v1/bots`; nobody transfers a chat to one.
    experts.retain(|e| !e.bot);
    if !caller.is_admin() {
        let colleagues: Vec<Colleague> = experts
            .iter()
            .filter(|e| !e.removed)
            .map(|e| Colleague {
                id: e.id.to_string(),
                name: e.name.clone(),
                presence: presence_of(e.id),
                categories: e.categories.clone(),
            })
            .collect();
        return Ok(HttpResponse::Ok().json(colleagues));
    }
    let default_max = app.config.routing.max_concurrent;
    let experts: Vec<ExpertView> =
        experts.iter().map(|e| ExpertView::new(e, presence_of(e.id), default_max)).collect();
    Ok(HttpResponse::Ok().json(experts))
}

#[derive(Serialize)]
struct Colleague {
    id: String,
    name: String,
    presence: Presence,
    categories: Vec<String>,
}
