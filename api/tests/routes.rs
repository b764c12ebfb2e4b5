//! The OpenAPI document (`api/openapi.json`, served at `/openapi.json`) matches the
//! server: the same routes as `api::rest::ROUTES`, every route answered by its handler
//! (not the router's fallback) with a status the document declares, every `$ref`
//! resolvable, and the error catalogue true to the chain's rejects.
//!
//! The server runs over a fake node (dev genesis, empty mempool, nothing stored, every
//! submission refused) on an ephemeral port; requests are raw HTTP/1.1 over a
//! `tokio::net::TcpStream`, so no HTTP client crate is needed.

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::sync::Arc;

use api::{Admitted, ApiError, App, ExecutedBlock, Feed, Metrics, Node, ReadView};
use axum::http::StatusCode;
use markets::{AssetId, Hash, SignedTransaction, State};
use serde_json::{Value, json};

/// A node with the dev chain's genesis state and nothing else.
struct FakeNode {
    view: Arc<ReadView>,
}

impl FakeNode {
    fn new() -> FakeNode {
        let (genesis, _keys) = markets::dev::genesis(2);
        FakeNode {
            view: Arc::new(ReadView::new(
                &State::from_genesis(&genesis).expect("the dev genesis is valid"),
            )),
        }
    }
}

impl Node for FakeNode {
    fn submit(&self, transactions: Vec<SignedTransaction>) -> Vec<Result<Admitted, ApiError>> {
        transactions
            .iter()
            .map(|_| Err(ApiError::mempool_full("the fake node takes nothing", 1)))
            .collect()
    }

    fn view(&self) -> Arc<ReadView> {
        Arc::clone(&self.view)
    }

    fn stored(&self, _height: u64) -> Result<Option<Arc<ExecutedBlock>>, ApiError> {
        Ok(None)
    }

    fn tx_location(&self, _hash: &Hash) -> Option<(u64, u32)> {
        None
    }

    fn is_pending(&self, _hash: &Hash) -> bool {
        false
    }

    fn mempool_len(&self) -> usize {
        0
    }

    fn faucet(&self, _to: [u8; 32], _asset: AssetId, _amount: u64) -> Result<Admitted, ApiError> {
        Err(markets::ChainReject::FaucetDisabled.into())
    }
}

fn document() -> Value {
    serde_json::from_str(api::rest::OPENAPI).expect("openapi.json is valid JSON")
}

const METHODS: [&str; 8] = [
    "get", "put", "post", "delete", "options", "head", "patch", "trace",
];

/// `(METHOD, path)` of every operation in the document.
fn documented_routes(doc: &Value) -> BTreeSet<(String, String)> {
    let paths = doc["paths"].as_object().expect("paths is an object");
    let mut routes = BTreeSet::new();
    for (path, item) in paths {
        let item = item.as_object().expect("a path item is an object");
        for method in item.keys().filter(|k| METHODS.contains(&k.as_str())) {
            routes.insert((method.to_uppercase(), path.clone()));
        }
    }
    routes
}

#[test]
fn the_document_lists_exactly_the_served_routes() {
    let doc = document();
    assert_eq!(
        doc["openapi"].as_str().map(|v| v.starts_with("3.1")),
        Some(true)
    );
    let documented = documented_routes(&doc);
    let served: BTreeSet<(String, String)> = api::rest::ROUTES
        .iter()
        .map(|&(m, p)| (m.to_string(), p.to_string()))
        .collect();
    assert_eq!(
        served.len(),
        api::rest::ROUTES.len(),
        "ROUTES has a duplicate"
    );
    let undocumented: Vec<_> = served.difference(&documented).collect();
    let unserved: Vec<_> = documented.difference(&served).collect();
    assert!(
        undocumented.is_empty(),
        "served but not documented: {undocumented:?}"
    );
    assert!(
        unserved.is_empty(),
        "documented but not served: {unserved:?}"
    );
}

/// Every `$ref` (and discriminator mapping) in `value`, with where it was found.
fn collect_refs(value: &Value, at: &str, out: &mut Vec<(String, String)>) {
    match value {
        Value::Object(map) => {
            for (key, inner) in map {
                let here = format!("{at}/{key}");
                if key == "$ref" {
                    out.push((here.clone(), inner.as_str().unwrap_or_default().to_string()));
                }
                if key == "mapping"
                    && let Some(mapping) = inner.as_object()
                {
                    for (tag, target) in mapping {
                        out.push((
                            format!("{here}/{tag}"),
                            target.as_str().unwrap_or_default().to_string(),
                        ));
                    }
                }
                collect_refs(inner, &here, out);
            }
        }
        Value::Array(items) => {
            for (i, inner) in items.iter().enumerate() {
                collect_refs(inner, &format!("{at}/{i}"), out);
            }
        }
        _ => {}
    }
}

#[test]
fn every_ref_resolves() {
    let doc = document();
    let mut refs = Vec::new();
    collect_refs(&doc, "#", &mut refs);
    assert!(refs.len() > 50, "the document uses components");
    for (at, target) in &refs {
        let pointer = target
            .strip_prefix('#')
            .unwrap_or_else(|| panic!("{at}: {target:?} is not a local reference"));
        assert!(
            doc.pointer(pointer).is_some(),
            "{at}: {target:?} does not resolve"
        );
    }
}

#[test]
fn every_wire_type_has_a_schema() {
    let doc = document();
    let schemas = doc["components"]["schemas"]
        .as_object()
        .expect("components/schemas");
    for name in [
        "TransactionJson",
        "ActionJson",
        "PlaceJson",
        "OrderActionJson",
        "SubmitRequest",
        "SubmitResponse",
        "BatchRequest",
        "BatchResponse",
        "BatchItem",
        "TxStatus",
        "TxStatusKind",
        "ActionResult",
        "EventJson",
        "FillJson",
        "MarketJson",
        "AssetJson",
        "BookJson",
        "AccountJson",
        "BalanceJson",
        "OrderJson",
        "FillsPage",
        "BlockJson",
        "HealthJson",
        "FaucetRequest",
        "CancelBody",
        "ErrorBody",
        "OrderUpdateJson",
    ] {
        assert!(schemas.contains_key(name), "no schema {name}");
    }
}

/// The route's path parameters are declared, and only those.
#[test]
fn path_parameters_match_the_paths() {
    let doc = document();
    for (method, path) in documented_routes(&doc) {
        let op = &doc["paths"][&path][method.to_lowercase()];
        let in_path: BTreeSet<String> = path
            .split('/')
            .filter_map(|s| s.strip_prefix('{').and_then(|s| s.strip_suffix('}')))
            .map(str::to_string)
            .collect();
        let declared: BTreeSet<String> = op["parameters"]
            .as_array()
            .map(Vec::as_slice)
            .unwrap_or_default()
            .iter()
            .map(|p| match p.get("$ref").and_then(Value::as_str) {
                Some(r) => doc
                    .pointer(r.trim_start_matches('#'))
                    .expect("resolves")
                    .clone(),
                None => p.clone(),
            })
            .filter(|p| p["in"] == "path")
            .map(|p| p["name"].as_str().expect("a name").to_string())
            .collect();
        assert_eq!(in_path, declared, "{method} {path}");
    }
}

/// `x-error-codes` names every chain reject with its number and the status the API
/// gives it at the door.
#[test]
fn the_error_catalogue_matches_the_chain() {
    let doc = document();
    let codes = doc["x-error-codes"].as_array().expect("x-error-codes");
    let find = |name: &str| codes.iter().find(|c| c["code"] == name);
    for reject in markets::Reject::all() {
        let entry =
            find(reject.name()).unwrap_or_else(|| panic!("{} is not listed", reject.name()));
        assert_eq!(entry["number"], json!(reject.code()), "{}", reject.name());
        assert_eq!(
            entry["status"],
            json!(api::error::reject_status(reject).as_u16()),
            "{}",
            reject.name()
        );
    }
    let listed: Vec<&str> = codes.iter().filter_map(|c| c["code"].as_str()).collect();
    let all: Vec<&str> = api::ApiCode::ALL.iter().map(|c| c.as_str()).collect();
    assert_eq!(
        listed, all,
        "x-error-codes lists exactly ApiCode::ALL, in order"
    );
    for &code in api::ApiCode::ALL {
        let entry = find(code.as_str()).expect("listed");
        assert_eq!(entry["status"], json!(code.status().as_u16()), "{code}");
    }
}

// ---------------------------------------------------------------------------------
// Against the running server.

/// A response: status, lowercase header lines, body.
#[derive(Debug)]
struct Answer {
    status: u16,
    headers: Vec<(String, String)>,
    body: String,
}

impl Answer {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    fn json(&self) -> Option<Value> {
        serde_json::from_str(&self.body).ok()
    }

    /// The router's fallback: 404 `{"code": "NOT_FOUND", "message": "no such route"}`.
    fn is_fallback(&self) -> bool {
        self.status == 404
            && self.json() == Some(json!({"code": "NOT_FOUND", "message": "no such route"}))
    }
}

async fn serve() -> SocketAddr {
    let app = Arc::new(App {
        node: Arc::new(FakeNode::new()),
        feed: Arc::new(Feed::new(Default::default(), 3, 0)),
        metrics: Arc::new(Metrics::new()),
        config: Default::default(),
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        axum::serve(listener, api::router(app)).await.unwrap();
    });
    addr
}

/// One HTTP/1.1 request on a fresh connection (`Connection: close`), read to the end.
/// Only `tokio::net` (no `io-util`): `try_write`/`try_read` after readiness.
async fn request(addr: SocketAddr, method: &str, path: &str, body: Option<&str>) -> Answer {
    let stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let mut head = format!("{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n");
    if let Some(body) = body {
        head.push_str(&format!(
            "Content-Type: application/json\r\nContent-Length: {}\r\n",
            body.len()
        ));
    }
    head.push_str("\r\n");
    let bytes = [head.as_bytes(), body.unwrap_or_default().as_bytes()].concat();
    let mut written = 0;
    while written < bytes.len() {
        stream.writable().await.unwrap();
        match stream.try_write(&bytes[written..]) {
            Ok(n) => written += n,
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
            // The server may answer (413) and close before reading the whole body.
            Err(_) => break,
        }
    }
    let mut received = Vec::new();
    let mut buffer = [0u8; 16 * 1024];
    loop {
        stream.readable().await.unwrap();
        match stream.try_read(&mut buffer) {
            Ok(0) => break,
            Ok(n) => received.extend_from_slice(&buffer[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
            Err(_) => break,
        }
    }
    parse_answer(&received).unwrap_or_else(|| {
        panic!(
            "{method} {path}: not an HTTP response: {:?}",
            String::from_utf8_lossy(&received)
        )
    })
}

fn parse_answer(bytes: &[u8]) -> Option<Answer> {
    let text = String::from_utf8_lossy(bytes);
    let (head, rest) = text.split_once("\r\n\r\n")?;
    let mut lines = head.split("\r\n");
    let status = lines.next()?.split(' ').nth(1)?.parse().ok()?;
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    let chunked = headers
        .iter()
        .any(|(n, v)| n == "transfer-encoding" && v.contains("chunked"));
    let body = if chunked {
        dechunk(rest)?
    } else {
        rest.to_string()
    };
    Some(Answer {
        status,
        headers,
        body,
    })
}

fn dechunk(mut rest: &str) -> Option<String> {
    let mut body = String::new();
    loop {
        let (size, after) = rest.split_once("\r\n")?;
        let size = usize::from_str_radix(size.split(';').next()?.trim(), 16).ok()?;
        if size == 0 {
            return Some(body);
        }
        body.push_str(after.get(..size)?);
        rest = after.get(size + 2..)?;
    }
}

const KEY: &str = "0101010101010101010101010101010101010101010101010101010101010101";
const SIGNATURE: &str = "0202020202020202020202020202020202020202020202020202020202020202\
                         0202020202020202020202020202020202020202020202020202020202020202";

/// A well-formed JSON transaction (the fake node refuses every submission).
fn transaction(action: Value) -> Value {
    json!({"chain_id": 1337, "signer": KEY, "nonce": 1, "action": action, "signature": SIGNATURE})
}

fn place() -> Value {
    json!({"type": "place", "market": 0, "side": "buy", "price": 6_500_000, "qty": 10_000})
}

/// A concrete path for a route template, and a body for the routes that take one.
fn concrete(method: &str, path: &str) -> (String, Option<String>) {
    let concrete = path
        .replace("{market}", "0")
        .replace("{account}", KEY)
        .replace("{order_id}", "1")
        .replace("{hash}", &"ab".repeat(32))
        .replace("{height}", "1");
    let body = match (method, path) {
        ("POST", "/v1/orders") => Some(transaction(place())),
        ("POST", "/v1/transactions") => Some(json!({"transaction": transaction(place())})),
        ("POST", "/v1/transactions/batch") => {
            Some(json!({"transactions": [{"transaction": transaction(place())}]}))
        }
        ("DELETE", "/v1/orders/{order_id}") => Some(json!({
            "chain_id": 1337, "signer": KEY, "nonce": 2, "market": 0, "signature": SIGNATURE
        })),
        ("POST", "/v1/faucet") => Some(json!({"account": KEY, "asset": 0, "amount": 1})),
        ("POST" | "PUT" | "PATCH" | "DELETE", _) => Some(json!({})),
        _ => None,
    };
    (concrete, body.map(|b| b.to_string()))
}

#[tokio::test]
async fn every_route_is_answered_by_its_handler_with_a_documented_status() {
    let doc = document();
    let addr = serve().await;
    for &(method, path) in api::rest::ROUTES {
        let (url, body) = concrete(method, path);
        let answer = request(addr, method, &url, body.as_deref()).await;
        assert!(
            !answer.is_fallback(),
            "{method} {url} fell through to the router's fallback"
        );
        assert_ne!(answer.status, 405, "{method} {url}: method not allowed");
        let responses = &doc["paths"][path][method.to_lowercase()]["responses"];
        assert!(
            responses.get(answer.status.to_string()).is_some(),
            "{method} {url} answered {} which the document does not declare: {}",
            answer.status,
            answer.body
        );
        // Errors use the one shape, except the websocket's upgrade refusal (axum's).
        if answer.status >= 400 && path != "/v1/ws" {
            let error: api::ErrorBody = serde_json::from_str(&answer.body)
                .unwrap_or_else(|e| panic!("{method} {url}: {e}: {}", answer.body));
            assert!(!error.code.as_str().is_empty());
        }
        if matches!(answer.status, 429 | 503) {
            assert!(
                answer.header("retry-after").is_some(),
                "{method} {url}: {} without Retry-After",
                answer.status
            );
        }
    }
}

#[tokio::test]
async fn handlers_answer_as_documented_over_the_fake_node() {
    let addr = serve().await;

    let health = request(addr, "GET", "/v1/health", None).await;
    assert_eq!(health.status, 200);
    let health = health.json().unwrap();
    assert_eq!(health["chain_id"], 1337);
    assert_eq!(health["height"], 0);

    let served = request(addr, "GET", "/openapi.json", None).await;
    assert_eq!(served.status, 200);
    assert_eq!(served.json(), Some(document()));

    let markets = request(addr, "GET", "/v1/markets", None)
        .await
        .json()
        .unwrap();
    assert_eq!(markets[0]["symbol"], "BTC-USD");
    assert_eq!(markets[0]["lot_size"], 10_000);
    assert_eq!(markets[0]["tick_size"], 1);
    assert_eq!(markets[0]["best_bid"], Value::Null);
    let by_symbol = request(addr, "GET", "/v1/markets/btc-usd", None).await;
    assert_eq!(by_symbol.json().unwrap()["id"], 0);
    let unknown = request(addr, "GET", "/v1/markets/9", None).await;
    assert_eq!(unknown.status, 404);
    assert_eq!(unknown.json().unwrap()["code"], "NOT_FOUND");

    let bad_depth = request(addr, "GET", "/v1/markets/0/book?depth=x", None).await;
    assert_eq!(bad_depth.status, 400);
    assert_eq!(bad_depth.json().unwrap()["code"], "MALFORMED");

    let account = request(addr, "GET", &format!("/v1/accounts/{KEY}"), None).await;
    let account = account.json().unwrap();
    assert_eq!(account["exists"], false);
    assert_eq!(account["last_nonce"], Value::Null);
    let bad = request(addr, "GET", "/v1/accounts/xyz", None).await;
    assert_eq!(
        (bad.status, bad.json().unwrap()["code"].clone()),
        (400, json!("BAD_ACCOUNT"))
    );

    let cursor = request(
        addr,
        "GET",
        &format!("/v1/accounts/{KEY}/fills?before=1:2"),
        None,
    )
    .await;
    assert_eq!(cursor.status, 400);

    let wait = request(addr, "POST", "/v1/transactions?wait=1", Some("{}")).await;
    assert_eq!(wait.json().unwrap()["code"], "MALFORMED");

    // A submission the node refuses: its status, code and Retry-After come through.
    let body = json!({"transaction": transaction(place())}).to_string();
    let full = request(addr, "POST", "/v1/transactions", Some(&body)).await;
    assert_eq!(full.status, 503);
    assert_eq!(full.header("retry-after"), Some("1"));
    assert_eq!(full.json().unwrap()["code"], "MEMPOOL_FULL");

    // A batch answers 200 with the refusal per item.
    let body = json!({"transactions": [{"transaction": transaction(place())}, {"tx": "zz"}]});
    let batch = request(
        addr,
        "POST",
        "/v1/transactions/batch",
        Some(&body.to_string()),
    )
    .await;
    assert_eq!(batch.status, 200);
    let batch = batch.json().unwrap();
    assert_eq!(batch["results"][0]["error"]["code"], "MEMPOOL_FULL");
    assert_eq!(batch["results"][1]["error"]["code"], "MALFORMED");
    let empty = request(
        addr,
        "POST",
        "/v1/transactions/batch",
        Some(r#"{"transactions":[]}"#),
    )
    .await;
    assert_eq!(empty.json().unwrap()["code"], "BAD_BATCH");

    let transfer = transaction(json!({"type": "transfer", "to": KEY, "asset": 0, "amount": 1}));
    let wrong = request(addr, "POST", "/v1/orders", Some(&transfer.to_string())).await;
    assert_eq!(
        (wrong.status, wrong.json().unwrap()["code"].clone()),
        (400, json!("WRONG_ACTION"))
    );

    // A cancel naming both ids (in a batch, which POST /v1/orders takes).
    let cancel = json!({"type": "cancel", "market": 0, "order_id": "1", "client_order_id": 2});
    let both = transaction(json!({"type": "batch", "actions": [place(), cancel]}));
    let both = request(addr, "POST", "/v1/orders", Some(&both.to_string())).await;
    assert_eq!(
        (both.status, both.json().unwrap()["code"].clone()),
        (400, json!("MALFORMED"))
    );

    let untyped = request(addr, "POST", "/v1/faucet", None).await;
    assert_eq!(untyped.status, StatusCode::UNSUPPORTED_MEDIA_TYPE.as_u16());
    assert_eq!(untyped.json().unwrap()["code"], "UNSUPPORTED_MEDIA_TYPE");

    let big = format!(r#"{{"tx": "{}"}}"#, "00".repeat(3 << 20));
    let big = request(addr, "POST", "/v1/transactions", Some(&big)).await;
    assert_eq!(
        (big.status, big.json().unwrap()["code"].clone()),
        (413, json!("BODY_TOO_LARGE"))
    );

    let tx_too_large = format!(r#"{{"tx": "{}"}}"#, "00".repeat(5000));
    let tx_too_large = request(addr, "POST", "/v1/transactions", Some(&tx_too_large)).await;
    assert_eq!(tx_too_large.status, 413);
    assert_eq!(tx_too_large.json().unwrap()["code"], "TOO_LARGE");

    let faucet = json!({"account": KEY, "asset": 0, "amount": 1}).to_string();
    let faucet = request(addr, "POST", "/v1/faucet", Some(&faucet)).await;
    assert_eq!(faucet.status, 422);
    assert_eq!(faucet.json().unwrap()["code"], "FAUCET_DISABLED");

    let latest = request(addr, "GET", "/v1/blocks/latest", None).await;
    assert_eq!(latest.status, 404);
    let not_a_height = request(addr, "GET", "/v1/blocks/x", None).await;
    assert_eq!(not_a_height.status, 400);

    let metrics = request(addr, "GET", "/metrics", None).await;
    assert_eq!(metrics.status, 200);
    for name in [
        "clobchain_blocks_total",
        "clobchain_transactions_total",
        "clobchain_transactions_rejected_total",
        "clobchain_fills_total",
        "clobchain_submitted_total",
        "clobchain_refused_at_ingest_total",
        "clobchain_height",
        "clobchain_mempool",
        "clobchain_websocket_clients",
        "clobchain_block_execution_seconds_bucket",
        "clobchain_block_transactions_count",
    ] {
        assert!(metrics.body.contains(name), "no metric {name}");
    }
}

#[tokio::test]
async fn unknown_paths_get_the_fallback_and_wrong_methods_405() {
    let addr = serve().await;
    for path in ["/v1/nope", "/", "/v1", "/v1/markets/0/nope", "/v2/health"] {
        let answer = request(addr, "GET", path, None).await;
        assert!(answer.is_fallback(), "GET {path}: {answer:?}");
    }
    let answer = request(addr, "POST", "/v1/nope", Some("{}")).await;
    assert!(answer.is_fallback(), "POST /v1/nope: {answer:?}");

    // A known path with a method it does not take: axum's 405, empty body, `Allow`.
    let answer = request(addr, "POST", "/v1/health", Some("{}")).await;
    assert_eq!(answer.status, 405);
    assert!(answer.header("allow").is_some_and(|a| a.contains("GET")));
    let answer = request(addr, "PUT", "/v1/orders/1", Some("{}")).await;
    assert_eq!(answer.status, 405);
}

#[tokio::test]
async fn the_websocket_route_refuses_a_plain_get_without_the_fallback() {
    let addr = serve().await;
    let answer = request(addr, "GET", "/v1/ws", None).await;
    // axum's `WebSocketUpgrade` rejection: 400, plain text, not the API's error shape.
    assert_eq!(answer.status, 400, "{answer:?}");
    assert!(!answer.is_fallback());
    assert!(answer.body.contains("upgrade"), "{}", answer.body);
}

// ---------------------------------------------------------------------------------
// The schemas describe what the types serialize to.

/// Follows `$ref`s.
fn resolve<'a>(doc: &'a Value, schema: &'a Value) -> &'a Value {
    match schema.get("$ref").and_then(Value::as_str) {
        Some(target) => resolve(
            doc,
            doc.pointer(target.trim_start_matches('#'))
                .unwrap_or_else(|| panic!("{target} does not resolve")),
        ),
        None => schema,
    }
}

/// One object schema from an `allOf` (properties and required merged).
fn flatten(doc: &Value, schema: &Value) -> Value {
    let schema = resolve(doc, schema);
    let Some(parts) = schema.get("allOf").and_then(Value::as_array) else {
        return schema.clone();
    };
    let mut merged = json!({"type": "object", "properties": {}, "required": []});
    for part in parts {
        let part = flatten(doc, part);
        if let Some(properties) = part.get("properties").and_then(Value::as_object) {
            for (k, v) in properties {
                merged["properties"][k] = v.clone();
            }
        }
        if let Some(required) = part.get("required").and_then(Value::as_array) {
            merged["required"]
                .as_array_mut()
                .expect("an array")
                .extend(required.iter().cloned());
        }
    }
    merged
}

fn kind_matches(kind: &str, value: &Value) -> bool {
    match kind {
        "null" => value.is_null(),
        "boolean" => value.is_boolean(),
        "integer" => value.is_u64() || value.is_i64(),
        "number" => value.is_number(),
        "string" => value.is_string(),
        "array" => value.is_array(),
        "object" => value.is_object(),
        other => panic!("unknown type {other}"),
    }
}

/// A small JSON Schema check, strict where this document is: an object may hold only
/// the properties its schema lists. Patterns are not checked.
fn check(doc: &Value, schema: &Value, value: &Value, at: &str) -> Result<(), String> {
    if let Value::Bool(allowed) = schema {
        return if *allowed {
            Ok(())
        } else {
            Err(format!("{at}: nothing is allowed here"))
        };
    }
    let schema = flatten(doc, schema);
    if let Some(branches) = schema.get("oneOf").and_then(Value::as_array) {
        let errors: Vec<String> = branches
            .iter()
            .filter_map(|b| check(doc, b, value, at).err())
            .collect();
        let matched = branches.len() - errors.len();
        if matched != 1 {
            return Err(format!(
                "{at}: {value} matches {matched} branches of oneOf: {errors:?}"
            ));
        }
    }
    match schema.get("type") {
        Some(Value::String(kind)) if !kind_matches(kind, value) => {
            return Err(format!("{at}: {value} is not {kind}"));
        }
        Some(Value::Array(kinds))
            if !kinds
                .iter()
                .any(|k| kind_matches(k.as_str().unwrap(), value)) =>
        {
            return Err(format!("{at}: {value} is none of {kinds:?}"));
        }
        _ => {}
    }
    if let Some(constant) = schema.get("const")
        && constant != value
    {
        return Err(format!("{at}: {value} is not {constant}"));
    }
    if let Some(options) = schema.get("enum").and_then(Value::as_array)
        && !options.contains(value)
    {
        return Err(format!("{at}: {value} is not one of {options:?}"));
    }
    if let Some(n) = value.as_u64() {
        if schema
            .get("minimum")
            .and_then(Value::as_u64)
            .is_some_and(|min| n < min)
        {
            return Err(format!("{at}: {n} is below the minimum"));
        }
        if schema
            .get("maximum")
            .and_then(Value::as_u64)
            .is_some_and(|max| n > max)
        {
            return Err(format!("{at}: {n} is above the maximum"));
        }
    }
    if let (Some(object), Some(properties)) = (
        value.as_object(),
        schema.get("properties").and_then(Value::as_object),
    ) {
        for (key, inner) in object {
            let property = properties
                .get(key)
                .ok_or_else(|| format!("{at}: property {key:?} is not in the schema"))?;
            check(doc, property, inner, &format!("{at}.{key}"))?;
        }
        for required in schema
            .get("required")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let name = required.as_str().unwrap();
            if !object.contains_key(name) {
                return Err(format!("{at}: required {name:?} is missing"));
            }
        }
    }
    if let Some(items) = value.as_array() {
        let prefix = schema.get("prefixItems").and_then(Value::as_array);
        for (i, item) in items.iter().enumerate() {
            let here = format!("{at}[{i}]");
            match (prefix.and_then(|p| p.get(i)), schema.get("items")) {
                (Some(s), _) | (None, Some(s)) => check(doc, s, item, &here)?,
                (None, None) => {}
            }
        }
        if let Some(min) = schema.get("minItems").and_then(Value::as_u64)
            && (items.len() as u64) < min
        {
            return Err(format!("{at}: fewer than {min} items"));
        }
    }
    Ok(())
}

fn conforms(doc: &Value, name: &str, value: &impl serde::Serialize) {
    let value = serde_json::to_value(value).unwrap();
    let schema = json!({"$ref": format!("#/components/schemas/{name}")});
    if let Err(e) = check(doc, &schema, &value, name) {
        panic!("{e}");
    }
}

#[test]
fn the_schemas_describe_what_the_types_serialize_to() {
    use api::wire::*;
    let doc = document();
    let key = "ab".repeat(32);
    let fill = FillJson {
        market: 0,
        seq: 7,
        height: 12,
        timestamp_ms: 1_767_225_600_100,
        price: 6_500_000,
        qty: 10_000,
        taker_side: SideJson::Sell,
        maker_order_id: u64::MAX,
        maker: key.clone(),
        taker_order_id: 1,
        taker: key.clone(),
        maker_qty_remaining: 0,
        taker_qty_remaining: 20_000,
        maker_fee: 1_300,
        taker_fee: 3_250,
    };
    conforms(&doc, "FillJson", &fill);
    let events = vec![
        EventJson::Accepted {
            market: 0,
            order_id: 1,
            account: key.clone(),
            client_order_id: Some(5),
            side: SideJson::Buy,
            price: 1,
            qty: 2,
        },
        EventJson::Fill(fill.clone()),
        EventJson::Rested {
            market: 0,
            order_id: 1,
            account: key.clone(),
            side: SideJson::Buy,
            price: 1,
            qty: 2,
        },
        EventJson::Amended {
            market: 0,
            order_id: 1,
            account: key.clone(),
            side: SideJson::Buy,
            old_price: 1,
            old_qty: 2,
            price: 3,
            qty: 4,
            priority_kept: false,
        },
        EventJson::Cancelled {
            market: 0,
            order_id: 1,
            account: key.clone(),
            side: SideJson::Sell,
            price: 1,
            qty: 2,
            reason: api::feed::cancel_reason(matching::CancelReason::ImmediateOrCancel).to_string(),
        },
        EventJson::Cancelled {
            market: 0,
            order_id: 1,
            account: key.clone(),
            side: SideJson::Sell,
            price: 1,
            qty: 2,
            reason: api::feed::cancel_reason(matching::CancelReason::CancelAll).to_string(),
        },
        EventJson::Expired {
            market: 0,
            order_id: 1,
            account: key.clone(),
            side: SideJson::Sell,
            price: 1,
            qty: 2,
        },
        EventJson::Rejected {
            market: 0,
            account: Some(key.clone()),
            order_id: None,
            code: "POST_ONLY_WOULD_TAKE".into(),
        },
    ];
    for event in &events {
        conforms(&doc, "EventJson", event);
    }
    let receipt = TxStatus {
        hash: key.clone(),
        status: TxStatusKind::Committed,
        height: Some(12),
        index: Some(0),
        code: None,
        actions: vec![
            ActionResult::Placed { order_id: u64::MAX },
            ActionResult::Done,
            ActionResult::Rejected {
                code: "UNKNOWN_ORDER".into(),
            },
        ],
        events: events.clone(),
    };
    conforms(&doc, "TxStatus", &receipt);
    let submitted = SubmitResponse {
        hash: key.clone(),
        order_ids: vec![u64::MAX.to_string()],
        status: TxStatusKind::Committed,
        duplicate: true,
        receipt: Some(Box::new(receipt)),
    };
    conforms(&doc, "SubmitResponse", &submitted);
    conforms(
        &doc,
        "BatchResponse",
        &BatchResponse {
            results: vec![
                BatchItem::Accepted(submitted),
                BatchItem::Error {
                    error: ErrorBody {
                        code: ApiCode::MempoolFull,
                        message: "full".into(),
                    },
                },
            ],
        },
    );
    for order in [
        OrderJson {
            order_id: 3,
            market: 1,
            account: key.clone(),
            client_order_id: Some(9),
            side: SideJson::Buy,
            price: 10,
            qty_remaining: 0,
            qty_filled: Some(5),
            status: OrderStatusJson::Filled,
            expiry_height: Some(40),
            height: 12,
        },
        OrderJson {
            order_id: 3,
            market: 1,
            account: key.clone(),
            client_order_id: None,
            side: SideJson::Sell,
            price: 10,
            qty_remaining: 5,
            qty_filled: None,
            status: OrderStatusJson::Open,
            expiry_height: None,
            height: 12,
        },
    ] {
        conforms(&doc, "OrderJson", &order);
    }
    conforms(
        &doc,
        "FillsPage",
        &FillsPage {
            fills: vec![fill.clone()],
            next: Some("12:0:7".into()),
        },
    );
    conforms(
        &doc,
        "BookJson",
        &BookJson {
            market: 0,
            height: 3,
            seq: 9,
            bids: vec![[6_500_000, 10_000]],
            asks: vec![[6_500_100, 20_000], [6_500_200, 0]],
        },
    );
    conforms(
        &doc,
        "BlockJson",
        &BlockJson {
            height: 1,
            hash: key.clone(),
            parent_hash: key.clone(),
            timestamp_ms: 1,
            transaction_count: 1,
            transactions_root: key.clone(),
            events_root: key.clone(),
            state_root: key.clone(),
            transactions: Some(vec![key.clone()]),
        },
    );
    conforms(
        &doc,
        "FaucetRequest",
        &FaucetRequest {
            account: key.clone(),
            asset: 1,
            amount: 100,
        },
    );
    conforms(
        &doc,
        "CancelBody",
        &CancelBody {
            chain_id: 1337,
            signer: [1; 32],
            nonce: 2,
            expiry_height: Some(9),
            market: 0,
            signature: [2; 64],
        },
    );
    let place = PlaceJson {
        market: 0,
        client_order_id: Some(u64::MAX),
        side: SideJson::Buy,
        price: 6_500_000,
        qty: 10_000,
        time_in_force: TimeInForceJson::Gtb(40),
        post_only: true,
        self_trade: SelfTradeJson::CancelBoth,
    };
    let actions = [
        ActionJson::Order(OrderActionJson::Place(place)),
        ActionJson::Order(OrderActionJson::Cancel {
            market: 0,
            order_id: Some(1),
            client_order_id: None,
        }),
        ActionJson::Order(OrderActionJson::CancelAll { market: 0 }),
        ActionJson::Order(OrderActionJson::Amend {
            market: 0,
            order_id: 1,
            price: 2,
            qty: 3,
        }),
        ActionJson::Batch {
            actions: vec![
                OrderActionJson::Place(PlaceJson {
                    time_in_force: TimeInForceJson::Ioc,
                    ..place
                }),
                OrderActionJson::Cancel {
                    market: 0,
                    order_id: None,
                    client_order_id: Some(4),
                },
                OrderActionJson::CancelAll { market: 1 },
                OrderActionJson::Amend {
                    market: 0,
                    order_id: 1,
                    price: 2,
                    qty: 3,
                },
            ],
        },
        ActionJson::Transfer {
            to: [3; 32],
            asset: 0,
            amount: 5,
        },
        ActionJson::Faucet {
            asset: 0,
            amount: 5,
        },
    ];
    for action in actions {
        let transaction = TransactionJson {
            chain_id: 1337,
            signer: [1; 32],
            nonce: 1,
            expiry_height: Some(100),
            action,
            signature: [2; 64],
        };
        conforms(&doc, "TransactionJson", &transaction);
        conforms(
            &doc,
            "SubmitRequest",
            &SubmitRequest::Json {
                transaction: transaction.clone(),
            },
        );
        conforms(
            &doc,
            "BatchRequest",
            &BatchRequest {
                transactions: vec![
                    SubmitRequest::Json { transaction },
                    SubmitRequest::Hex { tx: "00".into() },
                ],
            },
        );
    }
    for update in [
        OrderUpdateJson {
            tx: Some(key.clone()),
            action: Some(0),
            event: UpdateKind::Book(events[0].clone()),
        },
        OrderUpdateJson {
            tx: Some(key.clone()),
            action: None,
            event: UpdateKind::Refused {
                refused: "INSUFFICIENT_FUNDS".into(),
            },
        },
        OrderUpdateJson {
            tx: None,
            action: None,
            event: UpdateKind::Book(events[5].clone()),
        },
    ] {
        conforms(&doc, "OrderUpdateJson", &update);
    }
}

#[tokio::test]
async fn the_served_json_matches_its_schemas() {
    let doc = document();
    let addr = serve().await;
    for (path, schema) in [
        ("/v1/health", "HealthJson"),
        ("/v1/markets/0", "MarketJson"),
        ("/v1/markets/0/book", "BookJson"),
        (&*format!("/v1/accounts/{KEY}"), "AccountJson"),
        (&*format!("/v1/accounts/{KEY}/fills"), "FillsPage"),
        ("/v1/orders/1", "ErrorBody"),
    ] {
        let answer = request(addr, "GET", path, None).await;
        conforms(&doc, schema, &answer.json().unwrap());
    }
    let markets = request(addr, "GET", "/v1/markets", None)
        .await
        .json()
        .unwrap();
    for market in markets.as_array().unwrap() {
        conforms(&doc, "MarketJson", market);
    }
    // The checker is not vacuous.
    let mut market = markets[0].clone();
    market["surprise"] = json!(1);
    let schema = json!({"$ref": "#/components/schemas/MarketJson"});
    assert!(check(&doc, &schema, &market, "m").is_err());
    market.as_object_mut().unwrap().remove("surprise");
    market.as_object_mut().unwrap().remove("lot_size");
    assert!(check(&doc, &schema, &market, "m").is_err());
    let action = json!({"type": "cancel_all", "market": "0"});
    let schema = json!({"$ref": "#/components/schemas/ActionJson"});
    assert!(check(&doc, &schema, &action, "a").is_err());
}

// ---------------------------------------------------------------------------------
// docs/API.md's worked example is true.

#[test]
fn the_signing_example_in_the_docs_is_true() {
    use markets::{Action, CancelOrder, ChainId, MarketId, OrderAction, PlaceOrder, Transaction};
    use matching::{OrderRef, SelfTradePrevention, Side, TimeInForce};
    let docs = include_str!("../../docs/API.md");
    let key = markets::dev::key(0);
    let signer = key.verifying_key().to_bytes();
    assert!(
        docs.contains(&hex::encode(key.to_bytes())),
        "dev0's secret key"
    );
    assert!(docs.contains(&hex::encode(signer)), "dev0's public key");
    let place = SignedTransaction::sign(
        Transaction {
            chain_id: ChainId(1337),
            signer,
            nonce: 1,
            expiry_height: None,
            action: Action::Order(OrderAction::Place(PlaceOrder {
                market: MarketId(0),
                client_order_id: None,
                side: Side::Buy,
                price: 6_500_000,
                qty: 10_000,
                time_in_force: TimeInForce::GoodTillCancel,
                post_only: false,
                self_trade: SelfTradePrevention::CancelResting,
            })),
        },
        &key,
    );
    let bytes = place.to_bytes();
    assert!(docs.contains(&format!("hex; {} bytes", bytes.len())));
    assert!(docs.contains(&format!("tx       {}", hex::encode(&bytes))));
    assert!(docs.contains(&format!("hash     {}", place.hash())));
    let order_id = place.transaction.placed_order_ids()[0];
    assert!(docs.contains(&format!("order id {}", order_id.0)));
    assert!(docs.contains(&format!(
        "\"signature\": \"{}\"",
        hex::encode(place.signature)
    )));
    // The same transaction as JSON decodes to the same bytes.
    let json = api::wire::TransactionJson::from_chain(&place);
    assert_eq!(json.to_chain().unwrap().to_bytes(), bytes);

    let cancel = SignedTransaction::sign(
        Transaction {
            chain_id: ChainId(1337),
            signer,
            nonce: 2,
            expiry_height: None,
            action: Action::Order(OrderAction::Cancel(CancelOrder {
                market: MarketId(0),
                order: OrderRef::Id(order_id),
            })),
        },
        &key,
    );
    assert!(docs.contains(&format!("DELETE $H/v1/orders/{}", order_id.0)));
    assert!(docs.contains(&format!(
        "\"signature\": \"{}\"",
        hex::encode(cancel.signature)
    )));
    assert!(docs.contains(&format!("\"hash\": \"{}\"", cancel.hash())));

    let dev1 = hex::encode(markets::dev::key(1).verifying_key().to_bytes());
    assert!(docs.contains(&dev1), "dev1's public key");
}
