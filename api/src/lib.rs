//! # api — clobchain's REST and websocket server
//!
//! An axum [`Router`] over a running node. The node (mempool, commit pipeline, storage)
//! lives in the `clobchain` binary and is reached through the [`Node`] trait; what
//! durable blocks mean to traders (trades, fills, order updates, book deltas) is the
//! [`feed::Feed`], one of the node's reporters; what the chain holds after the last
//! durable block is the [`view::ReadView`] the node publishes.
//!
//! ```text
//!  client ── REST ──► door (Node::accepting: 503 before the body is read when full)
//!                     ─► rest.rs ── decode ──► Node::submit (the node's door: markets::admit)
//!                                └─ reads ──► Node::view (an Arc of the last ReadView, no lock)
//!                                             + Feed indexes
//!  client ◄── ws ──── ws.rs ◄── Feed bus (one Arc<BlockUpdate> per block; each channel's
//!                               message encoded once and shared) ─► per-connection queue
//!                            ◄── Node::stored (replay from a height, then live)
//! ```
//!
//! Every type that crosses the wire (REST bodies and queries, responses, websocket
//! messages, the error body) is in [`wire`].
//!
//! The HTTP reference is `docs/API.md` and the OpenAPI document served at
//! `/openapi.json`, generated from the wire types and the handlers' annotations
//! ([`openapi`]).

use std::sync::Arc;

use axum::Router;
use markets::{AssetId, Hash, SignedTransaction};

pub mod binary;
pub mod candles;
pub mod error;
pub mod feed;
pub mod history;
pub mod limits;
pub mod metrics;
pub mod openapi;
pub mod rest;
mod serve;
pub mod view;
pub mod web;
pub mod wire;
pub mod ws;

pub use error::ApiError;
pub use feed::{Feed, FeedLimits};
pub use markets::ExecutedBlock;
pub use metrics::Metrics;
pub use serve::{ServeLimits, serve};
pub use view::ReadView;
pub use wire::{ApiCode, ErrorBody};

/// A transaction the node accepted into its mempool (or already had).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Admitted {
    pub hash: Hash,
    /// The node already had this exact transaction (pending or committed).
    pub duplicate: bool,
}

/// A transaction the node admitted and will never put in a block: its final status,
/// `dropped` (docs/API.md, "A transaction's life").
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Dropped {
    pub hash: Hash,
    pub signer: [u8; 32],
    pub nonce: u64,
    /// What the chain would answer it now: `NONCE_ALREADY_USED`, `NONCE_TOO_OLD` or
    /// `TRANSACTION_EXPIRED`.
    pub code: markets::ChainReject,
    pub rule: DropRule,
    /// The block after which it could never run.
    pub height: u64,
}

/// The rule that dropped a transaction.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DropRule {
    /// Another transaction of its signer with the same nonce is in a final block.
    NonceUsedByAnother,
    /// Its signer's nonce window forgot the nonces below it: more gaps above it than
    /// the window keeps ranges (`NONCE_RANGES_MAX`).
    BelowNonceFloor,
    /// Its `expiry_height` passed while it waited.
    Expired,
}

impl DropRule {
    /// The wire name (`rule` in a dropped status).
    pub fn name(self) -> &'static str {
        match self {
            DropRule::NonceUsedByAnother => "nonce_used_by_another",
            DropRule::BelowNonceFloor => "below_nonce_floor",
            DropRule::Expired => "expired",
        }
    }

    /// What the rule says, for people.
    pub fn describe(self) -> &'static str {
        match self {
            DropRule::NonceUsedByAnother => {
                "another transaction of this signer with the same nonce is in a final block"
            }
            DropRule::BelowNonceFloor => {
                "the signer's nonce window forgot the nonces below this one (more gaps above it than the window keeps)"
            }
            DropRule::Expired => "its expiry height passed while it waited for a block",
        }
    }
}

/// What the API needs from the node.
pub trait Node: Send + Sync + 'static {
    /// Checks and queues transactions: signatures verified (batched, in parallel), nonce
    /// not already used, room in the mempool. One result per transaction, in order. CPU
    /// heavy: call it off the async workers.
    fn submit(&self, transactions: Vec<SignedTransaction>) -> Vec<Result<Admitted, ApiError>>;

    /// The view after the last durable block. Never waits for a block being executed or
    /// written: readers hold an `Arc` of the last published view.
    fn view(&self) -> Arc<ReadView>;

    /// A durable block with its receipts and events; `None` above the last published
    /// height. Blocking I/O for blocks no longer kept in memory.
    fn stored(&self, height: u64) -> Result<Option<Arc<ExecutedBlock>>, ApiError>;

    /// Where a committed transaction is: `(height, index in block)`, for transactions
    /// the node still remembers.
    fn tx_location(&self, hash: &Hash) -> Option<(u64, u32)>;

    /// Whether this transaction waits in the mempool.
    fn is_pending(&self, hash: &Hash) -> bool;

    /// Why an admitted transaction was dropped, for those the node still remembers.
    fn dropped(&self, hash: &Hash) -> Option<Dropped>;

    /// Transactions in the mempool.
    fn mempool_len(&self) -> usize;

    /// Whether the node takes submissions now: `Err` (503 with a retry hint) when it
    /// already holds what it can commit soon, or is shutting down. Asked before a
    /// submission's body is read, so an overloaded node refuses at the door at the cost
    /// of a header, not of decoding and hashing what it will refuse.
    fn accepting(&self) -> Result<(), ApiError> {
        Ok(())
    }

    /// Dev chains: sends `amount` of `asset` to `to` from the node's faucet account.
    fn faucet(&self, to: [u8; 32], asset: AssetId, amount: u64) -> Result<Admitted, ApiError>;
}

/// Limits and switches of the API. The defaults, and why each value, are in [`limits`].
#[derive(Clone, Copy, Debug)]
pub struct ApiConfig {
    /// Largest request body accepted (413 above it).
    pub body_bytes_max: usize,
    /// Transactions per batch request.
    pub batch_max: usize,
    /// Longest a `?wait=true` submission waits for its block.
    pub wait_ms_max: u64,
    /// Seconds between websocket heartbeats. (How far behind a client may fall is
    /// [`FeedLimits::bus_blocks`] and [`ApiConfig::ws_queue_messages`].)
    pub heartbeat_secs: u64,
    /// Longest a write to one websocket client may take before it is dropped.
    pub ws_send_timeout_ms: u64,
    /// Messages waiting to be written to one websocket client; a client whose queue is
    /// full is sent `lagged` and closed.
    pub ws_queue_messages: usize,
    /// Furthest back a websocket subscription may replay, in blocks.
    pub replay_blocks_max: u64,
    /// Websocket connections at once.
    pub ws_clients_max: usize,
    /// Open TCP connections at once (HTTP and websocket); [`serve`] stops accepting
    /// past it.
    pub connections_max: usize,
    /// A request's headers must arrive within this (also the keep-alive idle timeout).
    pub header_read_timeout_ms: u64,
    /// An HTTP connection with no byte moving either way for this long is closed.
    pub idle_timeout_ms: u64,
}

impl Default for ApiConfig {
    fn default() -> ApiConfig {
        ApiConfig {
            body_bytes_max: 2 << 20,
            batch_max: 2_000,
            wait_ms_max: limits::WAIT_MS_MAX,
            heartbeat_secs: 10,
            ws_send_timeout_ms: limits::WS_SEND_TIMEOUT_MS,
            ws_queue_messages: limits::WS_QUEUE_MESSAGES,
            replay_blocks_max: 1_000_000,
            ws_clients_max: limits::WS_CLIENTS_MAX,
            connections_max: limits::CONNECTIONS_MAX,
            header_read_timeout_ms: limits::HEADER_READ_TIMEOUT_MS,
            idle_timeout_ms: limits::IDLE_TIMEOUT_MS,
        }
    }
}

/// Everything a handler can reach.
#[derive(Debug)]
pub struct App<N> {
    pub node: Arc<N>,
    pub feed: Arc<Feed>,
    pub metrics: Arc<Metrics>,
    pub config: ApiConfig,
}

/// The whole API: REST under `/v1`, the websocket at `/v1/ws`, `/metrics`,
/// `/openapi.json`; exactly the routes of [`rest::ROUTES`].
pub fn router<N: Node>(app: Arc<App<N>>) -> Router {
    rest::routes::<N>()
        .layer(axum::extract::DefaultBodyLimit::max(
            app.config.body_bytes_max,
        ))
        .layer(axum::middleware::from_fn_with_state(
            Arc::clone(&app),
            door::<N>,
        ))
        .with_state(app)
}

/// Refuses submissions (every POST and DELETE) at once while the node is not
/// [`Node::accepting`], before their bodies are read.
async fn door<N: Node>(
    axum::extract::State(app): axum::extract::State<Arc<App<N>>>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    use axum::response::IntoResponse as _;
    let method = request.method();
    if (method == axum::http::Method::POST || method == axum::http::Method::DELETE)
        && let Err(refused) = app.node.accepting()
    {
        app.metrics.refused_at_ingest.inc();
        return refused.into_response();
    }
    next.run(request).await
}
