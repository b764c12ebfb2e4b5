//! The one client of clobchain's API: what the command-line client, the load tester and
//! the integration tests use to talk to a node, on the API's own wire types (`api`).
//!
//! ```text
//! key + TxParams + action ──tx::place_transaction…──► SignedTransaction
//! SignedTransaction ──tx::request_for──► SignedRequest (method, path, body)
//! SignedRequest ──Client::send──► node ──► SubmitResponse | ClientError::Api { code }
//! Client::{health, markets, book, account, orders, fills, transaction, …} ──► api types
//! Client::{raw, post_bytes} ──► RawResponse (status, headers, bytes) ──decode──► api types
//! ws::Connection::{connect, subscribe, next} ──► api::wire::ServerMessage
//! ```
//!
//! - [`tx`]: building and signing transactions, and the request that carries each; no
//!   I/O, so what is signed can be printed, stored or sent later, byte for byte.
//! - [`Client`]: typed REST calls over `reqwest`; an error the API answers keeps its
//!   stable code ([`ClientError::Api`]). [`Client::raw`] and [`Client::post_bytes`]
//!   send what the typed calls cannot (bodies encoded ahead of time, malformed ones).
//! - [`ws`]: the websocket, its messages typed (`api::wire::ServerMessage`).
//!
//! Building a request needs no node; sending it is one call
//! (`Client::new(url)?.send(&request, true).await`):
//!
//! ```
//! use api::wire::ServerMessage;
//! use client::tx::{self, TxParams};
//!
//! let key = markets::dev::key(0);
//! let params = TxParams {
//!     chain_id: markets::dev::CHAIN_ID.0,
//!     nonce: 1,
//!     expiry_height: None,
//! };
//! let request = tx::request_for(&tx::cancel_all_transaction(&key, params, 0));
//! assert_eq!(request.method(), "POST");
//! assert_eq!(request.path(true), "/v1/transactions?wait=true");
//!
//! // What the websocket sends, typed.
//! let message = client::ws::parse(r#"{"type": "heartbeat", "height": 7}"#).unwrap();
//! assert_eq!(message, ServerMessage::Heartbeat { height: 7 });
//! ```

mod rest;
pub mod tx;
pub mod ws;

pub use reqwest::header::HeaderMap;
pub use reqwest::{Method, StatusCode};
pub use rest::{Client, ClientError, RawBlock, RawResponse};
