//! Helpers for the node tests (`node.rs`, `node_crash.rs`): a node on a temporary data
//! directory (in this process or as the `clobchain` binary), an HTTP client speaking the
//! API's wire types, a signer with a nonce counter, and a websocket client that keeps
//! what it has not been asked for yet.
//!
//! Nothing here sleeps to make an assertion: every wait polls with a deadline and fails
//! with what it last saw.

use std::collections::VecDeque;
use std::io::BufRead as _;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use ::node::{NodeConfig, Running};
use api::wire::{
    AccountJson, BookJson, CancelBody, FillJson, HealthJson, MarketJson, SubmitResponse,
    TransactionJson, TxStatus, TxStatusKind,
};
use client::tx::{self, SignedRequest, TxParams, hex_request};
use client::ws::Connection;
use client::{Client, ClientError, HeaderMap, Method, RawResponse, StatusCode};
use ed25519_dalek::SigningKey;
use markets::{Action, MarketId, OrderAction, PlaceOrder, SignedTransaction, Transaction};
use matching::{OrderId, OrderRef, SelfTradePrevention, Side, TimeInForce};
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

/// Longest any single wait in these tests may take before it fails.
pub const DEADLINE: Duration = Duration::from_secs(20);

/// BTC-USD on the dev chain.
pub const BTC_USD: u32 = 0;
/// ETH-USD on the dev chain (tick size 10: prices not a multiple of 10 are off tick).
pub const ETH_USD: u32 = 1;

/// A node started in this process on a fresh temporary data directory.
#[derive(Debug)]
pub struct TestNode {
    pub running: Running,
    pub api: Api,
    /// Kept for the node's lifetime; removed on drop.
    pub dir: tempfile::TempDir,
}

/// Fast blocks, so a test waits tens of milliseconds per block.
pub fn fast_config(data: &Path) -> NodeConfig {
    NodeConfig {
        data: data.to_path_buf(),
        listen: "127.0.0.1:0".parse().expect("an address"),
        block_interval_ms: 20,
        empty_block_interval_ms: 200,
        ..NodeConfig::default()
    }
}

/// Starts a node with [`fast_config`] changed by `tweak`.
pub async fn start_node(tweak: impl FnOnce(&mut NodeConfig)) -> TestNode {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let mut config = fast_config(dir.path());
    tweak(&mut config);
    let running = ::node::start(config).await.expect("the node starts");
    let api = Api::new(&format!("http://{}", running.addr));
    TestNode { running, api, dir }
}

impl TestNode {
    /// Stops the node gracefully (commits what waits) and keeps the data directory.
    pub async fn stop(self) -> tempfile::TempDir {
        self.running
            .shutdown()
            .await
            .expect("the node stops cleanly");
        self.dir
    }
}

/// A dev account and the next nonce it will use.
#[derive(Debug)]
pub struct Trader {
    pub key: SigningKey,
    nonce: AtomicU64,
}

impl Trader {
    /// Dev account `index` (funded at genesis), nonces from 1.
    pub fn dev(index: u64) -> Arc<Trader> {
        Trader::with_key(markets::dev::key(index))
    }

    pub fn with_key(key: SigningKey) -> Arc<Trader> {
        Arc::new(Trader {
            key,
            nonce: AtomicU64::new(1),
        })
    }

    pub fn public(&self) -> [u8; 32] {
        self.key.verifying_key().to_bytes()
    }

    pub fn hex(&self) -> String {
        hex::encode(self.public())
    }

    pub fn next_nonce(&self) -> u64 {
        self.nonce.fetch_add(1, Ordering::Relaxed)
    }

    /// What this account signs with: dev chain, next nonce, no expiry. Nonces count
    /// from 1 rather than from the clock (`client::tx::next_nonce`): the tests reason
    /// about which nonce each transaction used.
    fn params(&self) -> TxParams {
        TxParams {
            chain_id: markets::dev::CHAIN_ID.0,
            nonce: self.next_nonce(),
            expiry_height: None,
        }
    }

    /// The transaction this account would send, unsigned (for tests that change a field
    /// before signing).
    pub fn unsigned(&self, action: Action) -> Transaction {
        self.tx(action).transaction
    }

    pub fn sign(&self, transaction: Transaction) -> SignedTransaction {
        SignedTransaction::sign(transaction, &self.key)
    }

    pub fn tx(&self, action: Action) -> SignedTransaction {
        tx::sign_action(&self.key, self.params(), action)
    }

    /// A good-till-cancel limit order; `price` in quote atoms per lot, `qty` in base atoms.
    pub fn place(&self, market: u32, side: Side, price: u64, qty: u64) -> SignedTransaction {
        self.tx(Action::Order(OrderAction::Place(limit(
            market, side, price, qty,
        ))))
    }

    /// The body of `DELETE /v1/orders/{order_id}`, signed.
    pub fn cancel_body(&self, market: u32, order_id: u64) -> CancelBody {
        let signed = tx::cancel_transaction(
            &self.key,
            self.params(),
            market,
            OrderRef::Id(OrderId(order_id)),
        );
        match tx::request_for(&signed) {
            SignedRequest::Cancel { body, .. } => body,
            other => panic!("a cancel by id goes to DELETE /v1/orders/{{id}}: {other:?}"),
        }
    }
}

/// A good-till-cancel limit order action.
pub fn limit(market: u32, side: Side, price: u64, qty: u64) -> PlaceOrder {
    PlaceOrder {
        market: MarketId(market),
        client_order_id: None,
        side,
        price,
        qty,
        time_in_force: TimeInForce::GoodTillCancel,
        post_only: false,
        self_trade: SelfTradePrevention::default(),
    }
}

/// The body of `POST /v1/transactions` for these bytes.
pub fn hex_body(tx: &SignedTransaction) -> Value {
    serde_json::to_value(hex_request(tx)).expect("wire types serialize")
}

/// The id of the order placed by a transaction's first action.
pub fn first_order_id(tx: &SignedTransaction) -> u64 {
    tx.transaction.order_id(0).0
}

/// An HTTP response, read whole.
#[derive(Debug)]
pub struct Reply {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Value,
}

/// The body read as JSON where it is JSON, else as a string (`Null` when empty).
impl From<RawResponse> for Reply {
    fn from(raw: RawResponse) -> Reply {
        let body = if raw.body.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&raw.body)
                .unwrap_or_else(|_| Value::String(raw.text().into_owned()))
        };
        Reply {
            status: raw.status,
            headers: raw.headers,
            body,
        }
    }
}

impl Reply {
    /// Asserts an error in the API's shape with this status and code.
    #[track_caller]
    pub fn assert_error(&self, status: StatusCode, code: &str, what: &str) {
        assert_eq!(self.status, status, "{what}: status; body {}", self.body);
        assert_eq!(
            self.body["code"],
            json!(code),
            "{what}: code; body {}",
            self.body
        );
        let message = self.body["message"].as_str().unwrap_or_default();
        assert!(
            !message.is_empty(),
            "{what}: an error says why: {}",
            self.body
        );
    }

    #[track_caller]
    pub fn json<T: DeserializeOwned>(&self) -> T {
        assert!(
            self.status.is_success(),
            "expected success, got {}: {}",
            self.status,
            self.body
        );
        serde_json::from_value(self.body.clone())
            .unwrap_or_else(|e| panic!("response does not fit its type ({e}): {}", self.body))
    }
}

/// The REST API of one node: typed calls through [`client::Client`], and raw requests
/// (through the same client) for the tests that check what the node makes of bodies,
/// headers and routes a well-behaved client would never send.
#[derive(Clone, Debug)]
pub struct Api {
    pub client: Client,
}

/// Panics with what was asked when the client could not get an answer.
#[track_caller]
fn answered<T>(what: &str, result: Result<T, ClientError>) -> T {
    result.unwrap_or_else(|e| panic!("{what}: {e}"))
}

/// An account key from its hex.
fn account_key(key: &str) -> [u8; 32] {
    hex::decode(key)
        .ok()
        .and_then(|bytes| bytes.try_into().ok())
        .unwrap_or_else(|| panic!("an account key in hex: {key}"))
}

impl Api {
    pub fn new(base: &str) -> Api {
        Api {
            client: Client::new(base).expect("a client for the node"),
        }
    }

    /// The node's base URL.
    pub fn base(&self) -> &str {
        self.client.base().as_str()
    }

    /// `ws://…/v1/ws`.
    pub fn ws_url(&self) -> String {
        self.client.ws_url()
    }

    /// A request with a JSON body; `Err` only if no answer came.
    pub async fn send_json(
        &self,
        method: Method,
        path: &str,
        body: &impl serde::Serialize,
    ) -> Result<Reply, ClientError> {
        let bytes = serde_json::to_vec(body).expect("JSON");
        self.client
            .raw(
                method,
                path,
                &[("content-type", "application/json")],
                Some(bytes),
            )
            .await
            .map(Reply::from)
    }

    pub async fn get(&self, path: &str) -> Reply {
        let answer = self.client.raw(Method::GET, path, &[], None).await;
        answered(&format!("GET {path}"), answer).into()
    }

    pub async fn get_json<T: DeserializeOwned>(&self, path: &str) -> T {
        self.get(path).await.json()
    }

    pub async fn post(&self, path: &str, body: &Value) -> Reply {
        answered(
            &format!("POST {path}"),
            self.send_json(Method::POST, path, body).await,
        )
    }

    /// `POST /v1/transactions` with the transaction's bytes as hex.
    pub async fn submit(&self, tx: &SignedTransaction, wait: bool) -> Reply {
        self.post(&format!("/v1/transactions?wait={wait}"), &hex_body(tx))
            .await
    }

    /// Submits, waits for the block, and returns the answer; panics unless committed.
    pub async fn submit_committed(&self, tx: &SignedTransaction) -> SubmitResponse {
        let response = answered(
            "POST /v1/transactions",
            self.client.submit(&hex_request(tx), true).await,
        );
        assert_eq!(
            response.status,
            TxStatusKind::Committed,
            "the transaction commits: {response:?}"
        );
        response
    }

    /// `POST /v1/orders?wait=true` with the transaction as JSON fields.
    pub async fn place_json_committed(&self, tx: &SignedTransaction) -> SubmitResponse {
        let response = answered(
            "POST /v1/orders",
            self.client
                .place(&TransactionJson::from_chain(tx), true)
                .await,
        );
        assert_eq!(response.status, TxStatusKind::Committed, "{response:?}");
        response
    }

    pub async fn health(&self) -> HealthJson {
        answered("GET /v1/health", self.client.health().await)
    }

    pub async fn account(&self, key: &str) -> AccountJson {
        answered(
            "GET /v1/accounts",
            self.client.account(&account_key(key)).await,
        )
    }

    pub async fn market(&self, market: u32) -> MarketJson {
        answered(
            "GET /v1/markets/{market}",
            self.client.market(&market.to_string()).await,
        )
    }

    pub async fn book(&self, market: u32) -> BookJson {
        answered(
            "GET /v1/markets/{market}/book",
            self.client.book(&market.to_string(), Some(1000)).await,
        )
    }

    pub async fn fills(&self, key: &str) -> Vec<FillJson> {
        let page = self.client.fills(&account_key(key), Some(1000), None).await;
        answered("GET /v1/accounts/{key}/fills", page).fills
    }

    /// The transaction's status; `None` while the node does not know it (404).
    pub async fn tx_status(&self, hash: &str) -> Option<TxStatus> {
        match self.client.transaction(hash).await {
            Ok(status) => Some(status),
            Err(ClientError::Api { status: 404, .. }) => None,
            Err(e) => panic!("GET /v1/transactions/{hash}: {e}"),
        }
    }

    /// Polls until the transaction is in a block.
    pub async fn wait_committed(&self, hash: &str) -> TxStatus {
        let started = Instant::now();
        loop {
            let status = self.tx_status(hash).await;
            if let Some(status) = &status
                && status.status != TxStatusKind::Pending
            {
                return status.clone();
            }
            assert!(
                started.elapsed() < DEADLINE,
                "transaction {hash} still not in a block: {status:?}"
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// Polls until the chain's height reaches `height`.
    pub async fn wait_height(&self, height: u64) -> HealthJson {
        let started = Instant::now();
        loop {
            let health = self.health().await;
            if health.height >= height {
                return health;
            }
            assert!(
                started.elapsed() < DEADLINE,
                "height {} never reached {height}",
                health.height
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
}

/// A balance as `(available, held)`.
pub fn balance(account: &AccountJson, asset: markets::AssetId) -> (u64, u64) {
    let b = account
        .balances
        .iter()
        .find(|b| b.asset == asset.0)
        .unwrap_or_else(|| panic!("asset {} in {account:?}", asset.0));
    (b.available, b.held)
}

/// A websocket client that keeps the messages it read but was not asked for yet.
#[derive(Debug)]
///
/// Messages are read as JSON values, not `ServerMessage`s: these tests pin the wire
/// shape itself, and send requests the typed `ClientMessage` cannot express.
pub struct Ws {
    connection: Connection,
    kept: VecDeque<Value>,
}

impl Ws {
    pub async fn connect(api: &Api) -> Ws {
        let connection = Connection::connect(&api.ws_url())
            .await
            .expect("the websocket connects");
        Ws {
            connection,
            kept: VecDeque::new(),
        }
    }

    pub async fn send_binary(&mut self, bytes: Vec<u8>) {
        self.connection
            .send_binary(bytes)
            .await
            .expect("a websocket send");
    }

    pub async fn send(&mut self, value: Value) {
        self.connection
            .send_text(value.to_string())
            .await
            .expect("a websocket send");
    }

    /// The next message from the server, or `None` if none came within `wait` (or the
    /// connection closed).
    async fn read(&mut self, wait: Duration) -> Option<Value> {
        let text = tokio::time::timeout(wait, self.connection.next_text())
            .await
            .ok()??
            .ok()?;
        Some(serde_json::from_str(text.as_str()).expect("JSON text frames"))
    }

    /// The first message (kept or new) for which `matches` holds; others are kept.
    pub async fn next_where(&mut self, what: &str, matches: impl Fn(&Value) -> bool) -> Value {
        if let Some(i) = self.kept.iter().position(&matches) {
            return self.kept.remove(i).expect("found");
        }
        let started = Instant::now();
        loop {
            let left = DEADLINE.saturating_sub(started.elapsed());
            let Some(message) = self.read(left).await else {
                panic!(
                    "no websocket message for {what} within {DEADLINE:?}; kept: {:?}",
                    self.kept
                );
            };
            if matches(&message) {
                return message;
            }
            self.kept.push_back(message);
        }
    }

    /// The next message of this `type`.
    pub async fn next_of(&mut self, kind: &str) -> Value {
        self.next_where(kind, |m| m["type"] == json!(kind)).await
    }

    /// Subscribes and returns the `subscribed` reply.
    pub async fn subscribe(&mut self, request: Value) -> Value {
        let channel = request["channel"].clone();
        self.send(request).await;
        let reply = self
            .next_where("subscribed", |m| {
                m["type"] == json!("subscribed") || m["type"] == json!("error")
            })
            .await;
        assert_eq!(reply["type"], json!("subscribed"), "{reply}");
        assert_eq!(reply["channel"], channel, "{reply}");
        reply
    }

    /// Everything until the server answers a ping (what it had queued before comes
    /// first), the pong excluded.
    pub async fn until_pong(&mut self) -> Vec<Value> {
        self.send(json!({"op": "ping"})).await;
        let mut out: Vec<Value> = self.kept.drain(..).collect();
        let started = Instant::now();
        loop {
            let left = DEADLINE.saturating_sub(started.elapsed());
            let message = self.read(left).await.expect("a pong");
            if message["type"] == json!("pong") {
                return out;
            }
            out.push(message);
        }
    }
}

/// The fills of a `fills` channel message.
pub fn message_fills(message: &Value) -> Vec<FillJson> {
    serde_json::from_value(message["data"].clone())
        .unwrap_or_else(|e| panic!("fills data ({e}): {message}"))
}

/// The `clobchain` binary running a node, its stdout and stderr collected.
#[derive(Debug)]
pub struct NodeProcess {
    pub child: Child,
    pub api: Api,
    pub output: Arc<Mutex<String>>,
}

/// Starts `clobchain node` on `data` and waits for the line that says where it serves.
/// Empty blocks are rare (every minute) so that heights move only with transactions.
pub fn spawn_node(data: &Path) -> NodeProcess {
    spawn_node_with(
        data,
        &[
            "--block-interval-ms".as_ref(),
            "20".as_ref(),
            "--empty-block-interval-ms".as_ref(),
            "60000".as_ref(),
        ],
    )
}

/// `clobchain node --data <data> --listen 127.0.0.1:0` and `extra` flags (a validator's,
/// a follower's), waiting for the line that says where it serves.
pub fn spawn_node_with(data: &Path, extra: &[&std::ffi::OsStr]) -> NodeProcess {
    let mut args: Vec<&std::ffi::OsStr> = vec![
        "node".as_ref(),
        "--data".as_ref(),
        data.as_os_str(),
        "--listen".as_ref(),
        "127.0.0.1:0".as_ref(),
    ];
    args.extend_from_slice(extra);
    spawn_clobchain(&args, "API on http://")
}

/// Starts the binary with `args` and waits for the line, starting with `announce`, that
/// says where its API serves.
pub fn spawn_clobchain(args: &[&std::ffi::OsStr], announce: &'static str) -> NodeProcess {
    let mut child = Command::new(env!("CARGO_BIN_EXE_clobchain"))
        .args(args)
        .env("RUST_LOG", "warn")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the clobchain binary starts");
    let output = Arc::new(Mutex::new(String::new()));
    let (found, address) = std::sync::mpsc::channel::<String>();
    let stdout = child.stdout.take().expect("piped stdout");
    let stderr = child.stderr.take().expect("piped stderr");
    let log = Arc::clone(&output);
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if let Some(at) = line.find(announce) {
                let rest = &line[at + announce.len()..];
                let addr = rest.split_whitespace().next().unwrap_or_default();
                let _ = found.send(addr.to_string());
            }
            log.lock().expect("log").push_str(&(line + "\n"));
        }
    });
    let log = Arc::clone(&output);
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stderr).lines() {
            let Ok(line) = line else { break };
            log.lock().expect("log").push_str(&(line + "\n"));
        }
    });
    let Ok(addr) = address.recv_timeout(DEADLINE) else {
        let _ = child.kill();
        let _ = child.wait();
        panic!(
            "the node never said where it serves; output:\n{}",
            output.lock().expect("log")
        );
    };
    NodeProcess {
        child,
        api: Api::new(&format!("http://{addr}")),
        output,
    }
}

impl NodeProcess {
    /// `kill -9`: no chance to flush or commit anything.
    pub fn crash(mut self) {
        self.child.kill().expect("SIGKILL");
        self.child.wait().expect("the node is reaped");
    }

    /// SIGTERM, then waits for a clean exit.
    pub fn terminate(mut self) {
        let pid = self.child.id().to_string();
        let status = Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .expect("kill -TERM runs");
        assert!(status.success(), "kill -TERM {pid}");
        let started = Instant::now();
        loop {
            if let Some(status) = self.child.try_wait().expect("try_wait") {
                assert!(
                    status.success(),
                    "the node exits cleanly on SIGTERM ({status}); output:\n{}",
                    self.output.lock().expect("log")
                );
                return;
            }
            if started.elapsed() > DEADLINE {
                let _ = self.child.kill();
                panic!("the node did not stop within {DEADLINE:?} of SIGTERM");
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

impl Drop for NodeProcess {
    fn drop(&mut self) {
        // A test that fails half-way must not leave a node running.
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}
