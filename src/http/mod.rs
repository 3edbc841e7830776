//! The HTTP side: `/api/v1`, `/healthz` and the two websocket endpoints.

mod attachments;
mod bots;
mod canned;
mod colleagues;
mod conversations;
mod customers;
mod experts;
mod export;
mod followups;
mod live;
mod queue;
mod sessions;
mod setup;
mod stats;

use actix_web::{dev::Payload, web, FromRequest, HttpRequest, HttpResponse};

use futures_util::future::{ready, Ready};

use crate::access::Viewer;
use crate::app::AppState;
use crate::auth;
use crate::domain::{ErrorCode, Refusal};
pub use crate::http_error::ApiError;
use crate::ids::{CustomerId, ExpertId};
use crate::store::model::Expert;

/// Every route; `allowed_origins` (`server.allowed_origins`) are the other sites whose pages
/// may call the endpoints a widget uses.
pub fn configure(cfg: &mut web::ServiceConfig, allowed_origins: &[String]) {
    cfg.route("/healthz", web::get().to(healthz))
        .route("/metrics", web::get().to(metrics))
        .route("/ws/customer", web::get().to(crate::ws::customer::connect))
        .route("/ws/expert", web::get().to(crate::ws::expert::connect))
        .service(
            web::scope("/api/v1")
                .app_data(web::JsonConfig::default().limit(64 * 1024).error_handler(|e, _| {
                    ApiError(Refusal::new(ErrorCode::BadRequest, e.to_string())).into()
                }))
                .app_data(web::QueryConfig::default().error_handler(|e, _| {
                    ApiError(Refusal::new(ErrorCode::BadRequest, e.to_string())).into()
                }))
                .configure(experts::configure)
                .configure(bots::configure)
                .configure(sessions::configure)
                .configure(setup::configure)
                .configure(conversations::configure)
                .configure(|cfg| attachments::configure(cfg, allowed_origins))
                .configure(canned::configure)
                .configure(followups::configure)
                .configure(queue::configure)
                .configure(live::configure)
                .configure(colleagues::configure)
                .configure(stats::configure)
                .configure(customers::configure)
                .route("/export", web::get().to(export::export))
                .default_service(web::to(|| async {
                    Err::<HttpResponse, _>(ApiError::new(ErrorCode::NotFound, "no such endpoint"))
                })),
        )
        .configure(crate::assets::configure);
}

/// One log line per request, with its outcome and duration.
pub async fn log_request(
    req: actix_web::dev::ServiceRequest,
    next: actix_web::middleware::Next<impl actix_web::body::MessageBody>,
) -> Result<actix_web::dev::ServiceResponse<impl actix_web::body::MessageBody>, actix_web::Error> {
    let started = std::time::Instant::now();
    let (method, path) = (req.method().clone(), req.path().to_owned());
    let response = next.call(req).await?;
    let ms = started.elapsed().as_millis() as u64;
    tracing::info!(%method, %path, status = response.status().as_u16(), ms, "request");
    Ok(response)
}

/// Prometheus text. Open to anyone unless `server.metrics_token` is set.
async fn metrics(req: HttpRequest, app: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let required = &app.config.server.metrics_token;
    if !required.is_empty() && !bearer(&req).is_some_and(|t| auth::is_admin_token(required, t)) {
        return Err(ApiError::new(ErrorCode::Unauthorized, "metrics need the metrics token"));
    }
    let counts = app.router.send(crate::messages::Counts).await.unwrap_or_default();
    let (widgets, consoles) = app.hub.sessions();
    let text = crate::metrics::render(crate::metrics::Live {
        queued_by_category: counts.queued_by_category,
        open_chats: counts.open_chats,
        experts_by_presence: [
            ("available", counts.available),
            ("away", counts.away),
            ("offline", counts.offline),
        ],
        widgets,
        consoles,
    });
    Ok(HttpResponse::Ok().content_type("text/plain; version=0.0.4").body(text))
}

/// 200 while the store can make writes durable; 503 while it cannot (a node whose cluster
/// connection is down), so a load balancer sends clients elsewhere.
async fn healthz(app: web::Data<AppState>) -> HttpResponse {
    let node = &app.config.cluster.node_name;
    let body = |status| match app.config.cluster.enabled() {
        true => serde_json::json!({ "status": status, "node": node, "role": "core", "core": node }),
        false => serde_json::json!({ "status": status }),
    };
    match app.store.connected() {
        true => HttpResponse::Ok().json(body("ok")),
        false => HttpResponse::ServiceUnavailable().json(body("disconnected")),
    }
}

/// Who is calling, from the `Authorization: Bearer` token.
pub enum Caller {
    /// The configured admin token, for automation.
    Admin,
    /// An expert's login token; an expert with the role `admin` is an admin too.
    Expert(Expert),
    Customer(CustomerId),
}

impl Caller {
    /// The one place that decides who is an admin: the admin token, or an expert holding the
    /// role `admin`, whose login has every right the token has.
    pub fn is_admin(&self) -> bool {
        match self {
            Caller::Admin => true,
            Caller::Expert(e) => e.is_admin(),
            Caller::Customer(_) => false,
        }
    }

    /// The caller as the access rule knows them.
    pub fn viewer(&self) -> Viewer {
        match self {
            Caller::Expert(e) if !e.is_admin() => Viewer::Expert(e.id),
            Caller::Customer(c) => Viewer::Customer(*c),
            Caller::Admin | Caller::Expert(_) => Viewer::Admin,
        }
    }

    pub fn admin_only(&self) -> Result<(), ApiError> {
        match self.is_admin() {
            true => Ok(()),
            false => Err(ApiError::new(ErrorCode::Forbidden, "admins only")),
        }
    }

    /// The categories whose queue and colleagues a staff caller is shown: an expert's own;
    /// `None`, every category, for an admin (the token or an admin expert) and for a caller
    /// [`Caller::staff_only`] has already refused.
    pub fn categories_served(&self) -> Option<&[String]> {
        match self {
            Caller::Expert(e) if !e.is_admin() => Some(&e.categories),
            _ => None,
        }
    }

    /// Experts and admins; the expert's id when it is one.
    pub fn staff_only(&self) -> Result<Option<ExpertId>, ApiError> {
        match self {
            Caller::Admin => Ok(None),
            Caller::Expert(e) => Ok(Some(e.id)),
            Caller::Customer(_) => Err(ApiError::new(ErrorCode::Forbidden, "experts and admins only")),
        }
    }
}

impl FromRequest for Caller {
    type Error = ApiError;
    type Future = Ready<Result<Caller, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready(caller(req))
    }
}

pub fn bearer(req: &HttpRequest) -> Option<&str> {
    req.headers()
        .get(actix_web::http::header::AUTHORIZATION)?
        .to_str()
        .ok()?
        .strip_prefix("Bearer ")
        .map(str::trim)
}

fn caller(req: &HttpRequest) -> Result<Caller, ApiError> {
    let app = req.app_data::<web::Data<AppState>>().expect("app state is registered");
    let token =
        bearer(req).ok_or_else(|| ApiError::new(ErrorCode::Unauthorized, "a bearer token is required"))?;
    if auth::is_admin_token(&app.config.server.admin_token, token) {
        return Ok(Caller::Admin);
    }
    if let Some(expert) = crate::accounts::expert_for_token(&app.store, token)? {
        return Ok(Caller::Expert(expert));
    }
    if let Some(customer) = auth::visitor_of(&app.store.visitor_key()?, token) {
        // An erased customer's token answers as one this server never signed.
        if !app.store.customer_erased(customer)? {
            return Ok(Caller::Customer(customer));
        }
    }
    Err(ApiError::new(ErrorCode::Unauthorized, "unknown or expired token"))
}
