//! Data rights over HTTP (admins): `GET /api/v1/customers/{id}/export`, everything kept about
//! a customer, and `DELETE /api/v1/customers/{id}`, its erasure (see `crate::rights`).

use actix_web::{web, HttpResponse};

use super::{ApiError, Caller};
use crate::app::AppState;
use crate::domain::ErrorCode;
use crate::ids::CustomerId;
use crate::rights;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/customers/{id}/export", web::get().to(export))
        .route("/customers/{id}", web::delete().to(erase));
}

fn not_found() -> ApiError {
    ApiError::new(ErrorCode::NotFound, "nothing is kept about that customer")
}

/// The customer a path names, for an admin caller only.
fn customer_id(caller: &Caller, path: &str) -> Result<CustomerId, ApiError> {
    caller.admin_only()?;
    path.parse().map_err(|_| not_found())
}

async fn export(
    caller: Caller,
    app: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let customer = customer_id(&caller, &path)?;
    // A customer's whole history is many reads: keep them off the HTTP worker.
    let app = app.into_inner();
    let store = app.store.clone();
    let found = web::block(move || rights::export(&store, customer))
        .await
        .map_err(|_| ApiError::new(ErrorCode::Internal, "the server is busy"))??;
    let found = found.ok_or_else(not_found)?;
    // Whatever the reads saw must be on disk before it is shown.
    app.store.sync().await?;
    let name = format!("attachment; filename=\"customer-{customer}.json\"");
    Ok(HttpResponse::Ok().insert_header(("content-disposition", name)).json(found))
}

async fn erase(
    caller: Caller,
    app: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let customer = customer_id(&caller, &path)?;
    match rights::erase_customer(&app, customer).await {
        Ok(true) => Ok(HttpResponse::NoContent().finish()),
        Ok(false) => Err(not_found()),
        Err(e) => Err(ApiError(e.into())),
    }
}
