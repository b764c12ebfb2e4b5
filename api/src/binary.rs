//! The binary submission body: borsh-encoded signed transactions beside JSON, for bots
//! that would rather not spend microseconds on hex and JSON.
//!
//! ```text
//! POST /v1/transactions        content-type: application/octet-stream
//!   body = borsh(SignedTransaction)                     (exactly the bytes that are hashed)
//! POST /v1/transactions/batch  content-type: application/octet-stream
//!   body = borsh(Vec<Vec<u8>>) = u32 LE count, then per transaction
//!          u32 LE length ‖ borsh(SignedTransaction)
//! ```
//!
//! Each transaction of a batch carries its own length, so one that does not decode gets
//! its own `UNDECODABLE` (or `TOO_LARGE`) result while the others go on, as in a JSON
//! batch. Bytes that do not decode are 422 `UNDECODABLE` for either body: the request
//! parsed, what it carries did not (a schema can say "bytes", never "a transaction").
//! Answers are JSON either way, with the same codes and the same exactly-once rules: the
//! node sees the same `SignedTransaction` whichever body carried it.

use axum::body::Bytes;
use axum::extract::{FromRequest, Request};
use axum::http::header::CONTENT_TYPE;
use borsh::BorshDeserialize as _;
use markets::{ChainReject, SignedTransaction};
use serde::de::DeserializeOwned;

use crate::error::{ApiError, from_rejection};
use crate::rest::ApiJson;
use crate::wire::ApiCode;

/// The binary body's content type.
pub const OCTET_STREAM: &str = "application/octet-stream";

/// A submission body: JSON (`application/json`) or borsh (`application/octet-stream`).
#[derive(Debug)]
pub enum SubmitBody<T> {
    Json(T),
    Binary(Bytes),
}

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for SubmitBody<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        if is_octet_stream(&req) {
            let bytes = Bytes::from_request(req, state)
                .await
                .map_err(|rejection| from_rejection(rejection.status(), rejection.body_text()))?;
            return Ok(SubmitBody::Binary(bytes));
        }
        let ApiJson(value) = ApiJson::<T>::from_request(req, state).await?;
        Ok(SubmitBody::Json(value))
    }
}

fn is_octet_stream(req: &Request) -> bool {
    req.headers()
        .get(CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.split(';').next())
        .is_some_and(|mime| mime.trim().eq_ignore_ascii_case(OCTET_STREAM))
}

/// One transaction from its borsh bytes (all of them: trailing bytes do not decode),
/// whichever body carried them (binary, or the hex of a JSON `tx`). Bytes that are not a
/// signed transaction are `UNDECODABLE` (422): the request parsed, its content did not.
pub fn decode_one(bytes: &[u8]) -> Result<SignedTransaction, ApiError> {
    SignedTransaction::from_bytes(bytes).map_err(|reject| match reject {
        ChainReject::Malformed => ApiError::new(
            ApiCode::Undecodable,
            "the bytes are not the borsh encoding of a signed transaction",
        ),
        other => ApiError::from(other),
    })
}

/// A binary batch: `borsh(Vec<Vec<u8>>)`, each inner vector one transaction's borsh bytes.
/// The frame itself must be well formed and hold 1 to `batch_max` transactions; each
/// transaction then decodes (or fails) on its own.
pub fn decode_batch(
    bytes: &[u8],
    batch_max: usize,
) -> Result<Vec<Result<SignedTransaction, ApiError>>, ApiError> {
    let mut rest = bytes;
    let count = u32::deserialize(&mut rest).map_err(|_| {
        ApiError::new(
            ApiCode::Undecodable,
            "a binary batch starts with its u32 count",
        )
    })?;
    let count = usize::try_from(count).unwrap_or(usize::MAX);
    check_batch_len(count, batch_max)?;
    // Each item takes at least its 4-byte length: never reserve past what the body holds.
    let mut items = Vec::with_capacity(count.min(rest.len() / 4));
    for index in 0..count {
        let len = u32::deserialize(&mut rest).map_err(|_| frame_error(index))?;
        let len = usize::try_from(len).unwrap_or(usize::MAX);
        if len > rest.len() {
            return Err(frame_error(index));
        }
        let (item, tail) = rest.split_at(len);
        items.push(decode_one(item));
        rest = tail;
    }
    if !rest.is_empty() {
        return Err(ApiError::new(
            ApiCode::Undecodable,
            format!(
                "{} bytes after the batch's {count} transactions",
                rest.len()
            ),
        ));
    }
    Ok(items)
}

/// A batch request, of either body, holds 1 to `batch_max` transactions (`BAD_BATCH`).
pub fn check_batch_len(len: usize, batch_max: usize) -> Result<(), ApiError> {
    if len == 0 || len > batch_max {
        return Err(ApiError::new(
            ApiCode::BadBatch,
            format!("a batch holds 1 to {batch_max} transactions"),
        ));
    }
    Ok(())
}

fn frame_error(index: usize) -> ApiError {
    ApiError::new(
        ApiCode::Undecodable,
        format!(
            "transaction {index} of the binary batch is cut short (u32 length, then its bytes)"
        ),
    )
}

/// The binary batch body for `transactions` (what [`decode_batch`] reads).
pub fn encode_batch(transactions: &[SignedTransaction]) -> Vec<u8> {
    let items: Vec<Vec<u8>> = transactions
        .iter()
        .map(SignedTransaction::to_bytes)
        .collect();
    borsh::to_vec(&items).expect("writing to a Vec cannot fail")
}

#[cfg(test)]
mod tests {
    use super::*;
    use markets::dev;

    fn signed(nonce: u64) -> SignedTransaction {
        let key = dev::key(0);
        SignedTransaction::sign(
            markets::Transaction {
                chain_id: dev::CHAIN_ID,
                signer: key.verifying_key().to_bytes(),
                nonce,
                expiry_height: None,
                action: markets::Action::Order(markets::OrderAction::CancelAll(
                    markets::CancelAll {
                        market: markets::MarketId(0),
                    },
                )),
            },
            &key,
        )
    }

    #[test]
    fn a_batch_round_trips_and_each_item_fails_alone() {
        let txs = [signed(1), signed(2)];
        let body = encode_batch(&txs);
        let decoded = decode_batch(&body, 10).unwrap();
        assert_eq!(decoded.len(), 2);
        assert_eq!(decoded[0].as_ref().unwrap(), &txs[0]);
        assert_eq!(decoded[1].as_ref().unwrap(), &txs[1]);

        // The second transaction's bytes are garbage: only it fails.
        let items: Vec<Vec<u8>> = vec![txs[0].to_bytes(), vec![1, 2, 3]];
        let decoded = decode_batch(&borsh::to_vec(&items).unwrap(), 10).unwrap();
        assert!(decoded[0].is_ok());
        assert_eq!(decoded[1].as_ref().unwrap_err().code, ApiCode::Undecodable);
    }

    #[test]
    fn bad_frames_are_refused_whole() {
        let body = encode_batch(&[signed(1)]);
        let code = |bytes: &[u8], max| decode_batch(bytes, max).unwrap_err().code;
        assert_eq!(code(&[], 10), ApiCode::Undecodable);
        assert_eq!(code(&0u32.to_le_bytes(), 10), ApiCode::BadBatch);
        assert_eq!(
            code(&encode_batch(&[signed(1), signed(2)]), 1),
            ApiCode::BadBatch
        );
        assert_eq!(code(&body[..body.len() - 1], 10), ApiCode::Undecodable);
        let mut longer = body.clone();
        longer.push(0);
        assert_eq!(code(&longer, 10), ApiCode::Undecodable);
        // A count far beyond the bytes allocates nothing up front.
        assert_eq!(
            code(&u32::MAX.to_le_bytes(), usize::MAX),
            ApiCode::Undecodable
        );
    }

    #[test]
    fn one_transaction_is_its_exact_bytes() {
        let tx = signed(7);
        assert_eq!(decode_one(&tx.to_bytes()).unwrap(), tx);
        let mut longer = tx.to_bytes();
        longer.push(0);
        assert_eq!(decode_one(&longer).unwrap_err().code, ApiCode::Undecodable);
    }
}
