//! The API's one error shape: `{"code": "NONCE_ALREADY_USED", "message": "…"}`.
//!
//! `code` is stable: a chain reject keeps its catalogue name (`markets::Reject::name`),
//! and the API adds its own for what never reaches the chain. The HTTP status groups
//! them; clients should branch on `code`, not on `message`.

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use markets::{ChainReject, Reject};

use crate::wire::ErrorBody;

/// An error and its HTTP status.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
    /// Seconds, for 429 and 503.
    pub retry_after: Option<u32>,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            code,
            message: message.into(),
            retry_after: None,
        }
    }

    pub fn bad_request(code: &'static str, message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, code, message)
    }

    pub fn not_found(what: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::NOT_FOUND, "NOT_FOUND", what)
    }

    pub fn internal(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "INTERNAL", message)
    }

    /// The mempool cannot take more; retry after `seconds`.
    pub fn mempool_full(message: impl Into<String>, seconds: u32) -> ApiError {
        ApiError {
            retry_after: Some(seconds),
            ..ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "MEMPOOL_FULL", message)
        }
    }

    pub fn body(&self) -> ErrorBody {
        ErrorBody {
            code: self.code.to_string(),
            message: self.message.clone(),
        }
    }
}

/// The status a chain reject gets when the API refuses a transaction at the door:
/// 401 bad signature, 409 replayed nonce, 400 malformed, 413 too large, 422 the rest
/// (well-formed but not acceptable: unknown market, off tick, funds…).
pub fn reject_status(reject: Reject) -> StatusCode {
    match reject {
        Reject::Chain(ChainReject::BadSignature | ChainReject::InvalidAccountKey) => {
            StatusCode::UNAUTHORIZED
        }
        Reject::Chain(ChainReject::NonceAlreadyUsed | ChainReject::NonceTooOld) => {
            StatusCode::CONFLICT
        }
        Reject::Chain(ChainReject::Malformed) => StatusCode::BAD_REQUEST,
        Reject::Chain(ChainReject::TooLarge) => StatusCode::PAYLOAD_TOO_LARGE,
        _ => StatusCode::UNPROCESSABLE_ENTITY,
    }
}

impl From<Reject> for ApiError {
    fn from(reject: Reject) -> ApiError {
        ApiError::new(reject_status(reject), reject.name(), reject_message(reject))
    }
}

impl From<ChainReject> for ApiError {
    fn from(reject: ChainReject) -> ApiError {
        Reject::Chain(reject).into()
    }
}

/// The human sentence for a reject.
pub fn reject_message(reject: Reject) -> String {
    match reject {
        Reject::Chain(r) => r.to_string(),
        Reject::Book(r) => r.to_string(),
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut response = (self.status, Json(self.body())).into_response();
        // The server stops reading an oversized body and closes the connection; say so,
        // or a keep-alive client would reuse a dead connection.
        if self.status == StatusCode::PAYLOAD_TOO_LARGE {
            response
                .headers_mut()
                .insert(header::CONNECTION, HeaderValue::from_static("close"));
        }
        if let Some(seconds) = self.retry_after {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        }
        response
    }
}

/// Turns axum's own extractor failures (bad JSON, wrong content type, body over the
/// limit, bad path parameter) into the one error shape.
pub fn from_rejection(status: StatusCode, text: String) -> ApiError {
    let code = match status {
        StatusCode::PAYLOAD_TOO_LARGE => "BODY_TOO_LARGE",
        StatusCode::UNSUPPORTED_MEDIA_TYPE => "UNSUPPORTED_MEDIA_TYPE",
        StatusCode::UNPROCESSABLE_ENTITY | StatusCode::BAD_REQUEST => "MALFORMED_REQUEST",
        _ => "BAD_REQUEST",
    };
    // A JSON body that does not parse is a 400 whatever axum thinks of it.
    let status = if status == StatusCode::UNPROCESSABLE_ENTITY {
        StatusCode::BAD_REQUEST
    } else {
        status
    };
    ApiError::new(status, code, text)
}
