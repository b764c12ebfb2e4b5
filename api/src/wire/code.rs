//! [`ApiCode`]: every error code the API can return, each with one meaning and one
//! HTTP status.

use core::fmt;

use axum::http::StatusCode;
use markets::{ChainReject, Reject};
use matching::RejectCode;
use serde::{Deserialize, Deserializer, Serialize, Serializer, de};

macro_rules! api_codes {
    ($( $(#[doc = $doc:literal])+ $variant:ident = $name:literal, $status:ident; )+) => {
        /// The `code` of an error: stable, SCREAMING_SNAKE on the wire, one meaning each.
        ///
        /// The chain's rejects keep their catalogue names (`markets::Reject::name`); the
        /// rest are the API's own and never appear in blocks. Clients branch on this, not
        /// on the message. `docs/API.md` has the same table (a test checks it).
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum ApiCode {
            $( $(#[doc = $doc])+ $variant, )+
        }

        impl ApiCode {
            /// Every code, in the order of the table in `docs/API.md`.
            pub const ALL: &'static [ApiCode] = &[ $( ApiCode::$variant, )+ ];

            /// The stable wire string, e.g. `NONCE_ALREADY_USED`.
            pub const fn as_str(self) -> &'static str {
                match self { $( ApiCode::$variant => $name, )+ }
            }

            /// The HTTP status of an error with this code.
            pub const fn status(self) -> StatusCode {
                match self {
                    $( ApiCode::$variant => StatusCode::$status, )+
                }
            }

            /// The one meaning of this code (its doc comment), as `docs/API.md` shows it.
            pub const fn meaning(self) -> &'static str {
                match self { $( ApiCode::$variant => concat!($($doc),+), )+ }
            }
        }
    };
}

api_codes! {
    /// The price is outside 1..=`price_max`.
    PriceOutOfRange = "PRICE_OUT_OF_RANGE", UNPROCESSABLE_ENTITY;
    /// The quantity is below the market's minimum (or zero, for amends).
    QtyBelowMinimum = "QTY_BELOW_MINIMUM", UNPROCESSABLE_ENTITY;
    /// The quantity is above the market's maximum.
    QtyAboveMaximum = "QTY_ABOVE_MAXIMUM", UNPROCESSABLE_ENTITY;
    /// Post-only needs an order that can rest (gtc or gtb).
    PostOnlyNotResting = "POST_ONLY_NOT_RESTING", UNPROCESSABLE_ENTITY;
    /// The good-till-block height is already past.
    AlreadyExpired = "ALREADY_EXPIRED", UNPROCESSABLE_ENTITY;
    /// The price is not a multiple of `tick_size`.
    PriceOffTick = "PRICE_OFF_TICK", UNPROCESSABLE_ENTITY;
    /// The quantity is not a multiple of `lot_size`.
    QtyOffLot = "QTY_OFF_LOT", UNPROCESSABLE_ENTITY;
    /// What was sent does not parse: bad hex in `tx`, a JSON body, query string or path
    /// parameter that does not match its schema, a cancel naming both or neither of
    /// `order_id`/`client_order_id`, a binary websocket frame. (Parsed, but bytes that are
    /// not a transaction: `UNDECODABLE`.)
    Malformed = "MALFORMED", BAD_REQUEST;
    /// The transaction is over 4,096 bytes.
    TooLarge = "TOO_LARGE", PAYLOAD_TOO_LARGE;
    /// A batch must hold at least one action.
    EmptyBatch = "EMPTY_BATCH", UNPROCESSABLE_ENTITY;
    /// A batch holds more than 32 actions.
    BatchTooLarge = "BATCH_TOO_LARGE", UNPROCESSABLE_ENTITY;
    /// No market with this id (in a transaction or a websocket subscription).
    UnknownMarket = "UNKNOWN_MARKET", UNPROCESSABLE_ENTITY;
    /// No asset with this id.
    UnknownAsset = "UNKNOWN_ASSET", UNPROCESSABLE_ENTITY;
    /// The amount must be positive.
    ZeroAmount = "ZERO_AMOUNT", UNPROCESSABLE_ENTITY;
    /// An account cannot transfer to itself.
    SelfTransfer = "SELF_TRANSFER", UNPROCESSABLE_ENTITY;
    /// The key is not a valid ed25519 public key (or is of small order).
    InvalidAccountKey = "INVALID_ACCOUNT_KEY", UNAUTHORIZED;
    /// This chain (or node) has no faucet.
    FaucetDisabled = "FAUCET_DISABLED", UNPROCESSABLE_ENTITY;
    /// Over the faucet's limit per request.
    FaucetLimit = "FAUCET_LIMIT", UNPROCESSABLE_ENTITY;
    /// The available balance is too small.
    InsufficientFunds = "INSUFFICIENT_FUNDS", UNPROCESSABLE_ENTITY;
    /// The asset's total supply would overflow.
    SupplyOverflow = "SUPPLY_OVERFLOW", UNPROCESSABLE_ENTITY;
    /// An order with this id is already on the book.
    DuplicateOrderId = "DUPLICATE_ORDER_ID", UNPROCESSABLE_ENTITY;
    /// A live order of this account already has this client order id.
    DuplicateClientOrderId = "DUPLICATE_CLIENT_ORDER_ID", UNPROCESSABLE_ENTITY;
    /// No live order with this id (or client order id) in this book.
    UnknownOrder = "UNKNOWN_ORDER", UNPROCESSABLE_ENTITY;
    /// The order belongs to another account.
    NotOrderOwner = "NOT_ORDER_OWNER", UNPROCESSABLE_ENTITY;
    /// The account has the most resting orders the market allows.
    AccountOrderLimit = "ACCOUNT_ORDER_LIMIT", UNPROCESSABLE_ENTITY;
    /// The book holds the most resting orders the market allows.
    BookOrderLimit = "BOOK_ORDER_LIMIT", UNPROCESSABLE_ENTITY;
    /// A post-only order would trade on arrival.
    PostOnlyWouldTake = "POST_ONLY_WOULD_TAKE", UNPROCESSABLE_ENTITY;
    /// The signature does not verify (or the signer is not a valid key).
    BadSignature = "BAD_SIGNATURE", UNAUTHORIZED;
    /// Signed for another chain.
    WrongChain = "WRONG_CHAIN", UNPROCESSABLE_ENTITY;
    /// The account already used this nonce in a committed transaction.
    NonceAlreadyUsed = "NONCE_ALREADY_USED", CONFLICT;
    /// The nonce is below the account's replay window.
    NonceTooOld = "NONCE_TOO_OLD", CONFLICT;
    /// The transaction's `expiry_height` has passed.
    TransactionExpired = "TRANSACTION_EXPIRED", UNPROCESSABLE_ENTITY;
    /// The signer has no account (fund it first).
    UnknownAccount = "UNKNOWN_ACCOUNT", UNPROCESSABLE_ENTITY;
    /// Another transaction of this account waiting in the mempool has this nonce.
    NoncePending = "NONCE_PENDING", CONFLICT;
    /// An account must be 64 hex characters.
    BadAccount = "BAD_ACCOUNT", BAD_REQUEST;
    /// A batch request holds 1 to 2,000 transactions.
    BadBatch = "BAD_BATCH", UNPROCESSABLE_ENTITY;
    /// The body parsed (JSON with a well-formed hex `tx`, or a binary body), but the bytes
    /// in it do not decode: not the borsh of a signed transaction, or not a binary
    /// batch's frame (u32 count, then u32 length and bytes per transaction).
    Undecodable = "UNDECODABLE", UNPROCESSABLE_ENTITY;
    /// `POST /v1/orders` takes `place` or `batch`.
    WrongAction = "WRONG_ACTION", BAD_REQUEST;
    /// No such route, market, order, transaction or block.
    NotFound = "NOT_FOUND", NOT_FOUND;
    /// The route does not take this method.
    MethodNotAllowed = "METHOD_NOT_ALLOWED", METHOD_NOT_ALLOWED;
    /// The body is over 2 MiB.
    BodyTooLarge = "BODY_TOO_LARGE", PAYLOAD_TOO_LARGE;
    /// A body whose `Content-Type` the route does not take: `application/json`, and on
    /// the submission routes also `application/octet-stream`.
    UnsupportedMediaType = "UNSUPPORTED_MEDIA_TYPE", UNSUPPORTED_MEDIA_TYPE;
    /// The account has 20,000 pending transactions (`Retry-After: 1`).
    RateLimited = "RATE_LIMITED", TOO_MANY_REQUESTS;
    /// The node could not read its storage, or a worker failed.
    Internal = "INTERNAL", INTERNAL_SERVER_ERROR;
    /// The node already holds what it can commit in about two block intervals, or the
    /// mempool is full (`Retry-After: 1`); refused before any signature is checked.
    MempoolFull = "MEMPOOL_FULL", SERVICE_UNAVAILABLE;
    /// The node is stopping (`Retry-After: 5`).
    ShuttingDown = "SHUTTING_DOWN", SERVICE_UNAVAILABLE;
    /// `GET /v1/ws`: the node serves as many websocket clients as it allows (no
    /// `Retry-After`).
    TooManyClients = "TOO_MANY_CLIENTS", SERVICE_UNAVAILABLE;
    /// Websocket: no such channel.
    UnknownChannel = "UNKNOWN_CHANNEL", BAD_REQUEST;
    /// Websocket: the connection holds 256 subscriptions already.
    TooManySubscriptions = "TOO_MANY_SUBSCRIPTIONS", BAD_REQUEST;
    /// Websocket: `from_height` is more than 1,000,000 blocks back.
    ReplayTooLong = "REPLAY_TOO_LONG", BAD_REQUEST;
}

impl ApiCode {
    /// The chain reject this code names, if it is one (its number is what blocks
    /// record).
    pub fn reject(self) -> Option<Reject> {
        Reject::all()
            .into_iter()
            .find(|r| ApiCode::from(*r) == self)
    }

    /// The code with this wire string, if any.
    pub fn from_name(name: &str) -> Option<ApiCode> {
        ApiCode::ALL.iter().copied().find(|c| c.as_str() == name)
    }
}

impl From<ChainReject> for ApiCode {
    fn from(reject: ChainReject) -> ApiCode {
        match reject {
            ChainReject::Malformed => ApiCode::Malformed,
            ChainReject::TooLarge => ApiCode::TooLarge,
            ChainReject::EmptyBatch => ApiCode::EmptyBatch,
            ChainReject::BatchTooLarge => ApiCode::BatchTooLarge,
            ChainReject::UnknownMarket => ApiCode::UnknownMarket,
            ChainReject::UnknownAsset => ApiCode::UnknownAsset,
            ChainReject::ZeroAmount => ApiCode::ZeroAmount,
            ChainReject::SelfTransfer => ApiCode::SelfTransfer,
            ChainReject::InvalidAccountKey => ApiCode::InvalidAccountKey,
            ChainReject::FaucetDisabled => ApiCode::FaucetDisabled,
            ChainReject::FaucetLimit => ApiCode::FaucetLimit,
            ChainReject::InsufficientFunds => ApiCode::InsufficientFunds,
            ChainReject::SupplyOverflow => ApiCode::SupplyOverflow,
            ChainReject::BadSignature => ApiCode::BadSignature,
            ChainReject::WrongChain => ApiCode::WrongChain,
            ChainReject::NonceAlreadyUsed => ApiCode::NonceAlreadyUsed,
            ChainReject::NonceTooOld => ApiCode::NonceTooOld,
            ChainReject::TransactionExpired => ApiCode::TransactionExpired,
            ChainReject::UnknownAccount => ApiCode::UnknownAccount,
        }
    }
}

impl From<RejectCode> for ApiCode {
    fn from(reject: RejectCode) -> ApiCode {
        match reject {
            RejectCode::PriceOutOfRange => ApiCode::PriceOutOfRange,
            RejectCode::QtyBelowMinimum => ApiCode::QtyBelowMinimum,
            RejectCode::QtyAboveMaximum => ApiCode::QtyAboveMaximum,
            RejectCode::PostOnlyNotResting => ApiCode::PostOnlyNotResting,
            RejectCode::AlreadyExpired => ApiCode::AlreadyExpired,
            RejectCode::PriceOffTick => ApiCode::PriceOffTick,
            RejectCode::QtyOffLot => ApiCode::QtyOffLot,
            RejectCode::DuplicateOrderId => ApiCode::DuplicateOrderId,
            RejectCode::DuplicateClientOrderId => ApiCode::DuplicateClientOrderId,
            RejectCode::UnknownOrder => ApiCode::UnknownOrder,
            RejectCode::NotOrderOwner => ApiCode::NotOrderOwner,
            RejectCode::AccountOrderLimit => ApiCode::AccountOrderLimit,
            RejectCode::BookOrderLimit => ApiCode::BookOrderLimit,
            RejectCode::PostOnlyWouldTake => ApiCode::PostOnlyWouldTake,
        }
    }
}

impl From<Reject> for ApiCode {
    fn from(reject: Reject) -> ApiCode {
        match reject {
            Reject::Book(code) => code.into(),
            Reject::Chain(code) => code.into(),
        }
    }
}

impl fmt::Display for ApiCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl PartialEq<str> for ApiCode {
    fn eq(&self, other: &str) -> bool {
        self.as_str() == other
    }
}

impl PartialEq<&str> for ApiCode {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

impl Serialize for ApiCode {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for ApiCode {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<ApiCode, D::Error> {
        let name = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
        ApiCode::from_name(&name)
            .ok_or_else(|| de::Error::custom(format!("unknown error code {name:?}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_chain_reject_is_a_code_of_the_same_name() {
        for reject in Reject::all() {
            assert_eq!(ApiCode::from(reject).as_str(), reject.name(), "{reject:?}");
        }
    }

    #[test]
    fn names_are_unique_and_round_trip() {
        for &code in ApiCode::ALL {
            assert_eq!(ApiCode::from_name(code.as_str()), Some(code));
            let json = serde_json::to_string(&code).expect("a string");
            assert_eq!(json, format!("\"{code}\""));
            assert_eq!(serde_json::from_str::<ApiCode>(&json).ok(), Some(code));
            assert!(!code.meaning().is_empty());
        }
        let mut names: Vec<_> = ApiCode::ALL.iter().map(|c| c.as_str()).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), ApiCode::ALL.len());
    }

    /// `docs/API.md` has one table of error codes: exactly `ApiCode::ALL`, in order, each
    /// with its chain number (if any) and its HTTP status.
    #[test]
    fn the_docs_table_lists_every_code_with_its_status() {
        const DOCS: &str = include_str!("../../../docs/API.md");
        let begin = DOCS
            .find("<!-- api-codes: begin")
            .expect("the table's start marker");
        let end = DOCS
            .find("<!-- api-codes: end -->")
            .expect("the table's end marker");
        let rows: Vec<(String, String, String)> = DOCS[begin..end]
            .lines()
            .filter(|line| line.starts_with("| ") && line.contains('`'))
            .map(|line| {
                let cells: Vec<&str> = line.split('|').map(str::trim).collect();
                (
                    cells[1].to_string(),
                    cells[2].trim_matches('`').to_string(),
                    cells[3].to_string(),
                )
            })
            .collect();
        let expected: Vec<(String, String, String)> = ApiCode::ALL
            .iter()
            .map(|&code| {
                (
                    code.reject()
                        .map(|r| r.code().to_string())
                        .unwrap_or_default(),
                    code.as_str().to_string(),
                    code.status().as_u16().to_string(),
                )
            })
            .collect();
        assert_eq!(rows, expected);
    }
}
