//! The API's one error shape: `{"code": "NONCE_ALREADY_USED", "message": "…"}`.
//!
//! `code` is an [`ApiCode`]: stable, one meaning each, and it fixes the HTTP status. A
//! chain reject keeps its catalogue name (`markets::Reject::name`), and the API adds its
//! own for what never reaches the chain. Clients should branch on `code`, not on
//! `message`.

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use markets::{ChainReject, Reject};

use crate::wire::{ApiCode, ErrorBody};

/// An error: its [`ApiCode`] (which fixes the HTTP status) and a sentence a person can
/// act on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ApiError {
    pub code: ApiCode,
    pub message: String,
    /// Seconds, for 429 and 503.
    pub retry_after: Option<u32>,
}

impl ApiError {
    pub fn new(code: ApiCode, message: impl Into<String>) -> ApiError {
        ApiError {
            code,
            message: message.into(),
            retry_after: None,
        }
    }

    /// The HTTP status: the code's.
    pub fn status(&self) -> StatusCode {
        self.code.status()
    }

    /// Malformed input: what was sent does not parse.
    pub fn malformed(message: impl Into<String>) -> ApiError {
        ApiError::new(ApiCode::Malformed, message)
    }

    pub fn not_found(what: impl Into<String>) -> ApiError {
        ApiError::new(ApiCode::NotFound, what)
    }

    pub fn internal(message: impl Into<String>) -> ApiError {
        ApiError::new(ApiCode::Internal, message)
    }

    /// The mempool cannot take more; retry after `seconds`.
    pub fn mempool_full(message: impl Into<String>, seconds: u32) -> ApiError {
        ApiError::new(ApiCode::MempoolFull, message).retry_after(seconds)
    }

    /// Adds a `Retry-After` of `seconds`.
    pub fn retry_after(self, seconds: u32) -> ApiError {
        ApiError {
            retry_after: Some(seconds),
            ..self
        }
    }

    pub fn body(&self) -> ErrorBody {
        ErrorBody {
            code: self.code,
            message: self.message.clone(),
        }
    }
}

/// The status a chain reject gets when the API refuses a transaction at the door:
/// 401 bad signature, 409 replayed nonce, 400 malformed, 413 too large, 422 the rest
/// (well-formed but not acceptable: unknown market, off tick, funds…).
pub fn reject_status(reject: Reject) -> StatusCode {
    ApiCode::from(reject).status()
}

impl From<Reject> for ApiError {
    fn from(reject: Reject) -> ApiError {
        ApiError::new(reject.into(), reject_message(reject))
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
        let status = self.status();
        let mut response = (status, Json(self.body())).into_response();
        // The server stops reading an oversized body and closes the connection; say so,
        // or a keep-alive client would reuse a dead connection.
        if status == StatusCode::PAYLOAD_TOO_LARGE {
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
/// limit, bad path parameter) into the one error shape. Whatever axum's status, a body
/// that does not parse is 400 `MALFORMED`.
pub fn from_rejection(status: StatusCode, text: String) -> ApiError {
    let code = match status {
        StatusCode::PAYLOAD_TOO_LARGE => ApiCode::BodyTooLarge,
        StatusCode::UNSUPPORTED_MEDIA_TYPE => ApiCode::UnsupportedMediaType,
        _ => ApiCode::Malformed,
    };
    ApiError::new(code, text)
}
