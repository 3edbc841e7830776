//! `GET/POST/PUT/DELETE /api/v1/canned`: canned responses, written by admins, read by experts.

use actix_web::{web, HttpResponse};
use serde::{Deserialize, Serialize};

use super::{ApiError, Caller};
use crate::app::AppState;
use crate::clock::{self, Timestamp};
use crate::domain::ErrorCode;
use crate::ids::{self, CannedId};
use crate::store::model::Canned;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/canned", web::get().to(list))
        .route("/canned", web::post().to(create))
        .route("/canned/{id}", web::put().to(update))
        .route("/canned/{id}", web::delete().to(remove));
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Body {
    title: String,
    #[serde(default)]
    shortcut: String,
    text: String,
}

#[derive(Serialize)]
struct CannedView {
    #[serde(with = "ids::wire")]
    id: CannedId,
    title: String,
    shortcut: String,
    text: String,
    #[serde(with = "clock::rfc3339")]
    updated_at: Timestamp,
}

impl From<&Canned> for CannedView {
    fn from(c: &Canned) -> CannedView {
        CannedView {
            id: c.id,
            title: c.title.clone(),
            shortcut: c.shortcut.clone(),
            text: c.text.clone(),
            updated_at: c.updated_at,
        }
    }
}

/// Limits a canned response to what the chat itself accepts.
fn checked(app: &AppState, id: CannedId, b: Body) -> Result<Canned, ApiError> {
    if b.title.trim().is_empty() || b.text.trim().is_empty() {
        return Err(ApiError::new(ErrorCode::BadRequest, "title and text are required"));
    }
    let max = app.config.limits.max_message_bytes;
    if b.text.split("\n\n").any(|paragraph| paragraph.len() > max) {
        return Err(ApiError::new(ErrorCode::TooLarge, format!("each paragraph is at most {max} bytes")));
    }
    let shortcut = b.shortcut.trim().trim_start_matches('/').to_owned();
    if shortcut.contains(char::is_whitespace) {
        return Err(ApiError::new(ErrorCode::BadRequest, "a shortcut is one word"));
    }
    Ok(Canned { id, title: b.title.trim().to_owned(), shortcut, text: b.text, updated_at: Timestamp::now() })
}

fn parse(raw: &str) -> Result<CannedId, ApiError> {
    raw.parse().map_err(|_| ApiError::new(ErrorCode::NotFound, "no such canned response"))
}

async fn list(caller: Caller, app: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    caller.staff_only()?;
    let mut all: Vec<CannedView> = app.store.canned()?.iter().map(CannedView::from).collect();
    all.sort_by_key(|c| c.title.to_lowercase());
    Ok(HttpResponse::Ok().json(all))
}

async fn create(
    caller: Caller,
    app: web::Data<AppState>,
    body: web::Json<Body>,
) -> Result<HttpResponse, ApiError> {
    caller.admin_only()?;
    let canned = checked(&app, CannedId(app.store.next_id()?), body.into_inner())?;
    app.store.put_canned(&canned)?;
    app.store.sync().await?;
    Ok(HttpResponse::Created().json(CannedView::from(&canned)))
}

async fn update(
    caller: Caller,
    app: web::Data<AppState>,
    path: web::Path<String>,
    body: web::Json<Body>,
) -> Result<HttpResponse, ApiError> {
    caller.admin_only()?;
    let id = parse(&path)?;
    if app.store.canned_one(id)?.is_none() {
        return Err(ApiError::new(ErrorCode::NotFound, "no such canned response"));
    }
    let canned = checked(&app, id, body.into_inner())?;
    app.store.put_canned(&canned)?;
    app.store.sync().await?;
    Ok(HttpResponse::Ok().json(CannedView::from(&canned)))
}

async fn remove(
    caller: Caller,
    app: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    caller.admin_only()?;
    if app.store.remove_canned(parse(&path)?)?.is_none() {
        return Err(ApiError::new(ErrorCode::NotFound, "no such canned response"));
    }
    app.store.sync().await?;
    Ok(HttpResponse::NoContent().finish())
}
