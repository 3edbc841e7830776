//! `POST /api/v1/login` and `POST /api/v1/logout`.

use actix_web::{web, HttpRequest, HttpResponse};
use serde::Deserialize;

use super::{ApiError, Caller};
use crate::app::AppState;
use crate::auth;
use crate::clock::Timestamp;
use crate::domain::{ErrorCode, Presence};
use crate::store::model::LoginToken;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/login", web::post().to(login)).route("/logout", web::post().to(logout));
}

#[derive(Deserialize)]
struct Credentials {
    username: String,
    password: String,
}

async fn login(
    req: HttpRequest,
    app: web::Data<AppState>,
    body: web::Json<Credentials>,
) -> Result<HttpResponse, ApiError> {
    let Credentials { username, password } = body.into_inner();
    let from = app.client_ip(&req);
    app.limiters.login(username.trim(), from).map_err(ApiError)?;
    let store = app.store.clone();
    let found = web::block(move || {
        let expert = store.expert_by_username(username.trim())?.filter(|e| !e.removed);
        Ok::<_, crate::store::StoreError>(
            expert.filter(|e| auth::verify_password(&password, &e.password_hash)),
        )
    })
    .await
    .map_err(|_| ApiError::new(ErrorCode::Internal, "the server is busy"))??;
    let expert = found.ok_or_else(|| ApiError::new(ErrorCode::Unauthorized, "wrong username or password"))?;
    let token = auth::new_token();
    let expires_at = Timestamp::now().plus(app.config.server.token_ttl);
    app.store.put_token(&auth::token_digest(&token), &LoginToken { expert: expert.id, expires_at })?;
    app.store.sync().await?;
    let view = super::experts::ExpertView::new(&expert, Presence::Offline, app.config.routing.max_concurrent);
    Ok(HttpResponse::Ok()
        .json(serde_json::json!({ "token": token, "expert": view, "expires_at": expires_at.rfc3339() })))
}

async fn logout(
    req: HttpRequest,
    caller: Caller,
    app: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let Caller::Expert(expert) = caller else {
        return Err(ApiError::new(ErrorCode::Forbidden, "only expert tokens log out"));
    };
    let token = super::bearer(&req).unwrap_or_default();
    app.store.remove_token(&auth::token_digest(token))?;
    app.store.sync().await?;
    app.hub.revalidate_expert(expert.id);
    Ok(HttpResponse::NoContent().finish())
}
