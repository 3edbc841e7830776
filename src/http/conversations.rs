//! `GET /api/v1/conversations` and `GET /api/v1/conversations/{id}`: what the caller may see.

use actix_web::{web, HttpResponse};
use serde::Deserialize;

use super::{ApiError, Caller};
use crate::app::AppState;
use crate::conversation::views;
use crate::protocol::{self, ConversationView, ErrorCode};
use crate::store::model::Conversation;
use crate::store::StoreError;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/conversations", web::get().to(list)).route("/conversations/{id}", web::get().to(get));
}

#[derive(Deserialize)]
struct Filter {
    status: Option<String>,
    customer_id: Option<String>,
}

fn view(app: &AppState, c: &Conversation) -> Result<ConversationView, StoreError> {
    views::summary(&app.store, c)
}

async fn list(
    caller: Caller,
    app: web::Data<AppState>,
    filter: web::Query<Filter>,
) -> Result<HttpResponse, ApiError> {
    let conversations = match &caller {
        Caller::Admin => app.store.conversations()?,
        Caller::Expert(e) => app.store.conversations_of_expert(e.id)?,
        Caller::Customer(c) => app.store.conversations_of_customer(*c)?,
    };
    let mut out = Vec::new();
    for c in &conversations {
        if filter.status.as_deref().is_some_and(|s| s != c.status.as_str()) {
            continue;
        }
        if filter.customer_id.as_deref().is_some_and(|id| id != c.customer.to_string()) {
            continue;
        }
        out.push(view(&app, c)?);
    }
    Ok(HttpResponse::Ok().json(out))
}

async fn get(
    caller: Caller,
    app: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id = protocol::conversation_id(&path).map_err(ApiError)?;
    let c = app
        .store
        .conversation(id)?
        .ok_or_else(|| ApiError::new(ErrorCode::NotFound, "no such conversation"))?;
    let for_expert = match &caller {
        Caller::Admin => true,
        Caller::Expert(e) if c.visible_to(e.id) => true,
        Caller::Customer(customer) if *customer == c.customer => false,
        _ => return Err(ApiError::new(ErrorCode::Forbidden, "this conversation is not yours")),
    };
    let view = views::with_transcript(&app.store, &c, for_expert)?;
    // Whatever that read saw must be on disk before it is shown.
    app.store.sync().await?;
    Ok(HttpResponse::Ok().json(view))
}
