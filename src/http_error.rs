//! A refusal answered over HTTP: the contract's status and body. Below both transports, so
//! the websocket upgrade refuses with the same answers as the REST API.

use actix_web::{http::StatusCode, HttpResponse, ResponseError};

use crate::domain::{ErrorCode, Refusal};
use crate::store::StoreError;

/// An HTTP error with the contract's body `{"error":{"code","message"}}`.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct ApiError(pub Refusal);

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> ApiError {
        ApiError(crate::conversation::internal_error(e))
    }
}

impl ApiError {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> ApiError {
        ApiError(Refusal::new(code, message))
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        match self.0.code {
            ErrorCode::BadRequest => StatusCode::BAD_REQUEST,
            ErrorCode::TooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            ErrorCode::RateLimited => StatusCode::TOO_MANY_REQUESTS,
            ErrorCode::Unauthorized => StatusCode::UNAUTHORIZED,
            ErrorCode::Forbidden => StatusCode::FORBIDDEN,
            ErrorCode::NotFound => StatusCode::NOT_FOUND,
            ErrorCode::Conflict | ErrorCode::DuplicateMessage => StatusCode::CONFLICT,
            ErrorCode::CapacityFull | ErrorCode::NotAllowed | ErrorCode::Closed => {
                StatusCode::UNPROCESSABLE_ENTITY
            }
            ErrorCode::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
            ErrorCode::Internal => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        HttpResponse::build(self.status_code())
            .json(serde_json::json!({ "error": { "code": self.0.code, "message": self.0.message } }))
    }
}
