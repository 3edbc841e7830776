//! `POST`, `GET` and `DELETE /api/v1/bots` (admin): the bots that answer new chats of their
//! categories first (PRODUCT.md v1.1, "Bots"). A bot is an expert record marked `bot`, logged
//! in by the long-lived token handed out once here; it connects to `/ws/expert` like a console.

use actix_web::{web, HttpResponse};
use serde::{Deserialize, Serialize};

use super::{ApiError, Caller};
use crate::accounts::{self, AddExpertError};
use crate::app::AppState;
use crate::clock::{self, Timestamp};
use crate::domain::ErrorCode;
use crate::ids::ExpertId;
use crate::store::model::Expert;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/bots", web::post().to(create))
        .route("/bots", web::get().to(list))
        .route("/bots/{id}", web::delete().to(remove));
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct NewBot {
    name: String,
    categories: Vec<String>,
}

/// A bot as the admin sees it.
#[derive(Debug, Serialize)]
struct BotView {
    id: String,
    name: String,
    categories: Vec<String>,
    /// Whether a session of the bot is connected now, taking new chats.
    connected: bool,
    #[serde(with = "clock::rfc3339")]
    created_at: Timestamp,
}

impl BotView {
    fn new(app: &AppState, bot: &Expert) -> BotView {
        BotView {
            id: bot.id.to_string(),
            name: bot.name.clone(),
            categories: bot.categories.clone(),
            // The router marks a connected bot available, and nothing else does.
            connected: app.hub.is_available(bot.id),
            created_at: bot.created_at,
        }
    }
}

async fn create(
    caller: Caller,
    app: web::Data<AppState>,
    body: web::Json<NewBot>,
) -> Result<HttpResponse, ApiError> {
    caller.admin_only()?;
    let NewBot { name, categories } = body.into_inner();
    let config = &app.config;
    let known: Vec<String> = config.categories.iter().map(|c| c.id.clone()).collect();
    let claimed: Vec<String> =
        known.iter().filter(|c| config.claim_certification(c).is_some()).cloned().collect();
    let bot = match accounts::add_bot(&app.store, &known, &claimed, &name, categories) {
        Ok(bot) => bot,
        Err(AddExpertError::Invalid(m)) => return Err(ApiError::new(ErrorCode::BadRequest, m)),
        Err(AddExpertError::Taken) => return Err(ApiError::new(ErrorCode::Conflict, "that bot exists")),
        Err(AddExpertError::Store(e)) => return Err(e.into()),
    };
    let (token, _) = accounts::issue_token(&app.store, bot.id, accounts::BOT_TOKEN_TTL)?;
    app.store.sync().await?;
    Ok(HttpResponse::Created().json(Created { bot: BotView::new(&app, &bot), token }))
}

/// The answer to `POST /api/v1/bots`: the only time the bot's token is shown.
#[derive(Serialize)]
struct Created {
    #[serde(flatten)]
    bot: BotView,
    token: String,
}

async fn list(caller: Caller, app: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    caller.admin_only()?;
    let bots: Vec<BotView> =
        app.store.experts()?.iter().filter(|e| e.bot && !e.removed).map(|b| BotView::new(&app, b)).collect();
    Ok(HttpResponse::Ok().json(bots))
}

/// Removes a bot: its token is revoked and its sockets closed, and the chats it holds go to
/// humans; its past messages keep its name.
async fn remove(
    caller: Caller,
    app: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    caller.admin_only()?;
    let not_found = || ApiError::new(ErrorCode::NotFound, "no such bot");
    let id: ExpertId = path.parse().map_err(|_| not_found())?;
    let bot = app.store.expert(id)?.filter(|e| e.bot && !e.removed).ok_or_else(not_found)?;
    super::experts::retire(&app, bot).await
}
