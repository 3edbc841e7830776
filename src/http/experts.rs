//! `POST /api/v1/experts` and `GET /api/v1/experts` (admin).

use actix_web::{web, HttpResponse};
use serde::{Deserialize, Serialize};

use super::{ApiError, Caller};
use crate::app::AppState;
use crate::auth;
use crate::clock::{self, Timestamp};
use crate::ids::ExpertId;
use crate::messages::PresenceList;
use crate::protocol::{ErrorCode, Presence};
use crate::store::model::Expert;
use crate::store::{Store, StoreError};

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/experts", web::post().to(create)).route("/experts", web::get().to(list));
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewExpert {
    pub username: String,
    pub password: String,
    pub name: String,
    #[serde(default)]
    pub categories: Vec<String>,
    #[serde(default)]
    pub certifications: Vec<String>,
    pub max_concurrent: Option<u32>,
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
            presence,
            active: true,
            created_at: e.created_at,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum AddExpertError {
    #[error("{0}")]
    Invalid(String),
    #[error("the username is taken")]
    Taken,
    #[error(transparent)]
    Store(StoreError),
}

/// Creates an expert; shared by the API and `switchboard expert add`.
pub fn add_expert(
    store: &Store,
    known_categories: &[String],
    new: NewExpert,
) -> Result<Expert, AddExpertError> {
    let username = new.username.trim().to_owned();
    if username.is_empty() || new.name.trim().is_empty() {
        return Err(AddExpertError::Invalid("username and name are required".into()));
    }
    if new.password.len() < 8 {
        return Err(AddExpertError::Invalid("the password needs at least 8 characters".into()));
    }
    if let Some(c) = new.categories.iter().find(|c| !known_categories.contains(c)) {
        return Err(AddExpertError::Invalid(format!("unknown category {c:?}")));
    }
    if new.max_concurrent == Some(0) {
        return Err(AddExpertError::Invalid("max_concurrent must be at least 1".into()));
    }
    let expert = Expert {
        id: ExpertId(store.next_id().map_err(AddExpertError::Store)?),
        username,
        name: new.name.trim().to_owned(),
        password_hash: auth::hash_password(&new.password),
        categories: new.categories,
        certifications: new.certifications,
        max_concurrent: new.max_concurrent,
        created_at: Timestamp::now(),
    };
    match store.create_expert(&expert) {
        Ok(_) => Ok(expert),
        Err(StoreError::Taken) => Err(AddExpertError::Taken),
        Err(e) => Err(AddExpertError::Store(e)),
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

async fn list(caller: Caller, app: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    caller.admin_only()?;
    let presence = app.router.send(PresenceList).await.unwrap_or_default();
    let default_max = app.config.routing.max_concurrent;
    let experts: Vec<ExpertView> = app
        .store
        .experts()?
        .iter()
        .map(|e| ExpertView::new(e, presence.get(&e.id).copied().unwrap_or(Presence::Offline), default_max))
        .collect();
    Ok(HttpResponse::Ok().json(experts))
}
