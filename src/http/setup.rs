//! `GET /api/v1/setup` and `POST /api/v1/setup`: the first run, which creates the first admin
//! expert with the one-time code the server printed at start (`accounts::first_run`).

use actix_web::{web, HttpResponse};
use serde::Deserialize;

use super::experts::ExpertView;
use super::ApiError;
use crate::accounts::first_run::{self, SetupError};
use crate::accounts::{issue_token, AddExpertError, NewExpert};
use crate::app::AppState;
use crate::domain::{ErrorCode, Presence};

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/setup", web::get().to(status)).route("/setup", web::post().to(create_admin));
}

/// Open to anyone: the console asks it to choose between its sign-in and the setup form.
async fn status(app: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let needed = first_run::needed(&app.store)?;
    Ok(HttpResponse::Ok().json(serde_json::json!({ "needed": needed })))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SetupRequest {
    setup_code: String,
    username: String,
    password: String,
    name: String,
}

/// Creates the first admin expert and logs them in: 201 `{token, expert, expires_at}`.
async fn create_admin(
    app: web::Data<AppState>,
    body: web::Json<SetupRequest>,
) -> Result<HttpResponse, ApiError> {
    let SetupRequest { setup_code, username, password, name } = body.into_inner();
    let new = NewExpert {
        username,
        password,
        name,
        categories: Vec::new(),
        certifications: Vec::new(),
        max_concurrent: None,
        roles: Vec::new(),
    };
    let store = app.store.clone();
    let categories: Vec<String> = app.config.categories.iter().map(|c| c.id.clone()).collect();
    // Argon2 is deliberately slow: keep it off the async workers.
    let created = web::block(move || first_run::create_admin(&store, &categories, &setup_code, new))
        .await
        .map_err(|_| ApiError::new(ErrorCode::Internal, "the server is busy"))?;
    let expert = match created {
        Ok(e) => e,
        Err(e @ SetupError::Done) => return Err(ApiError::new(ErrorCode::Conflict, e.to_string())),
        Err(e @ SetupError::WrongCode) => return Err(ApiError::new(ErrorCode::Unauthorized, e.to_string())),
        Err(SetupError::Expert(AddExpertError::Invalid(m))) => {
            return Err(ApiError::new(ErrorCode::BadRequest, m))
        }
        Err(SetupError::Expert(AddExpertError::Taken)) => {
            return Err(ApiError::new(ErrorCode::Conflict, "the username is taken"))
        }
        Err(SetupError::Expert(AddExpertError::Store(e))) => return Err(e.into()),
    };
    let (token, expires_at) = issue_token(&app.store, expert.id, app.config.server.token_ttl)?;
    app.store.sync().await?;
    let view = ExpertView::new(&expert, Presence::Offline, app.config.routing.max_concurrent);
    Ok(HttpResponse::Created()
        .json(serde_json::json!({ "token": token, "expert": view, "expires_at": expires_at.rfc3339() })))
}
