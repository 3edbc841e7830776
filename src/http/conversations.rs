//! `GET /api/v1/conversations` and `GET /api/v1/conversations/{id}`: what the caller may see.

use actix_web::{web, HttpResponse};
use serde::Deserialize;

use super::{ApiError, Caller};
use crate::app::AppState;
use crate::ids::CustomerId;
use crate::protocol::{self};
use crate::store::model::Conversation;
use crate::store::StoreError;
use crate::views;
use crate::views::ConversationView;

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
    let customer = match filter.customer_id.as_deref() {
        Some(raw) => match raw.parse::<CustomerId>() {
            Ok(id) => Some(id),
            // No customer has that id: nothing of theirs to list.
            Err(_) => return Ok(HttpResponse::Ok().json(Vec::<ConversationView>::new())),
        },
        None => None,
    };
    let conversations = match (&caller, customer) {
        (Caller::Customer(c), _) => app.store.conversations_of_customer(*c)?,
        (_, Some(customer)) => app.store.conversations_of_customer(customer)?,
        (Caller::Expert(e), None) if !e.is_admin() => app.store.conversations_of_expert(e.id)?,
        // The admin token, or an admin expert: every conversation.
        (Caller::Admin | Caller::Expert(_), None) => app.store.conversations()?,
    };
    let mut out = Vec::new();
    for c in &conversations {
        if filter.status.as_deref().is_some_and(|s| s != c.status.as_str())
            || customer.is_some_and(|id| id != c.customer)
            || !app.may_read(c, caller.viewer())?
        {
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
    let not_found = || ApiError(crate::conversation::not_found());
    let c = app.store.conversation(id)?.ok_or_else(not_found)?;
    if !app.may_read(&c, caller.viewer())? {
        return Err(not_found());
    }
    let for_expert = !matches!(caller, Caller::Customer(_));
    let view = views::with_transcript(&app.store, &c, for_expert)?;
    // Whatever that read saw must be on disk before it is shown.
    app.store.sync().await?;
    Ok(HttpResponse::Ok().json(view))
}
