//! The follow-up lists: callback requests and abandoned chats (experts and admins).

use actix_web::{web, HttpResponse};
use serde::{Deserialize, Serialize};

use super::{ApiError, Caller};
use crate::app::AppState;
use crate::clock::{self, Timestamp};
use crate::domain::ErrorCode;
use crate::ids::CallbackId;
use crate::store::model::Callback;
use crate::views;
use crate::views::{CallbackView, ConversationView};

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/callbacks", web::get().to(callbacks))
        .route("/callbacks/{id}/done", web::post().to(done))
        .route("/abandoned", web::get().to(abandoned));
}

fn callback_view(app: &AppState, c: &Callback) -> Result<CallbackView, ApiError> {
    Ok(views::callback(&app.store, c)?)
}

#[derive(Deserialize)]
struct CallbackFilter {
    /// `open` or `done`; both when absent.
    status: Option<String>,
}

async fn callbacks(
    caller: Caller,
    app: web::Data<AppState>,
    q: web::Query<CallbackFilter>,
) -> Result<HttpResponse, ApiError> {
    caller.staff_only()?;
    let wanted = match q.status.as_deref() {
        None => None,
        Some("open") => Some(false),
        Some("done") => Some(true),
        Some(other) => return Err(ApiError::new(ErrorCode::BadRequest, format!("unknown status {other:?}"))),
    };
    let mut out = Vec::new();
    for c in app.store.callbacks()? {
        if wanted.is_none_or(|done| done == c.done_at.is_some()) {
            out.push(callback_view(&app, &c)?);
        }
    }
    Ok(HttpResponse::Ok().json(out))
}

async fn done(
    caller: Caller,
    app: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let by = caller.staff_only()?;
    let not_found = || ApiError::new(ErrorCode::NotFound, "no such callback");
    let id: CallbackId = path.parse().map_err(|_| not_found())?;
    let mut callback = app.store.callback(id)?.ok_or_else(not_found)?;
    if callback.done_at.is_none() {
        callback.done_at = Some(Timestamp::now());
        callback.done_by = by;
        app.store.put_callback(&callback)?;
        app.store.sync().await?;
    }
    Ok(HttpResponse::Ok().json(callback_view(&app, &callback)?))
}

#[derive(Serialize)]
struct AbandonedView {
    conversation: ConversationView,
    /// Whether a widget of the customer is open now, so a chat can be pushed to them.
    online: bool,
    #[serde(with = "clock::rfc3339::option")]
    abandoned_at: Option<Timestamp>,
}

async fn abandoned(caller: Caller, app: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    caller.staff_only()?;
    let mut out = Vec::new();
    for c in app.store.abandoned()? {
        let view = views::summary(&app.store, &c)?;
        out.push(AbandonedView {
            conversation: view,
            online: app.hub.customer_online(c.customer),
            abandoned_at: c.closed_at,
        });
    }
    Ok(HttpResponse::Ok().json(out))
}
