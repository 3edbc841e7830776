//! `GET /api/v1/conversations` and `GET /api/v1/conversations/{id}`: what the caller may see.

use actix_web::{web, HttpResponse};
use serde::Deserialize;

use super::{ApiError, Caller};
use crate::app::AppState;
use crate::protocol::{self, ConversationView, CustomerView, ErrorCode, MessageView};
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
    let customer = app.store.customer(c.customer)?;
    let customer = customer.map(|c| CustomerView::new(&c)).unwrap_or(CustomerView {
        id: c.customer.to_string(),
        name: None,
        email: None,
        external_id: None,
    });
    Ok(ConversationView::new(c, customer, app.store.last_seq(c.id)?))
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
    // Whatever this read sees must be on disk before it is shown.
    let messages = app.store.transcript(id, 0)?;
    app.store.sync().await?;
    let messages =
        messages.iter().filter(|m| for_expert || !m.internal).map(|m| MessageView::new(id, m)).collect();
    Ok(HttpResponse::Ok().json(view(&app, &c)?.with_messages(messages)))
}
