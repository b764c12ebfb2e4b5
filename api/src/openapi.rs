//! The OpenAPI 3.1 document, generated from the wire types ([`crate::wire`], their
//! `ToSchema`/`IntoParams` derives) and the handlers' `#[utoipa::path]` annotations,
//! and served at `/openapi.json`. Nothing is written by hand but what the derive cannot
//! say (`wire::schemas`).
//!
//! Two things are added to what utoipa produces, both in [`document`]:
//! - **Integer ranges.** utoipa marks an unsigned integer with its format (`uint8` …
//!   `uint64`, the `non_strict_integers` feature) and `minimum: 0` at most; each gets
//!   the `maximum` of its Rust type here, so a client (or a fuzzer) knows the exact
//!   range the server takes. The wire has no signed integers.
//! - **Exact u64-as-text patterns.** Attributes take only literal patterns, so they
//!   write `^[0-9]+$` (and the cursor's short form); here each becomes the exact
//!   pattern of the values the server takes (`wire::schemas::u64_pattern`), so a string
//!   of 20 digits above 2^64 − 1 is invalid in the document as on the server.
//! - **A cancel names one order**: exactly one of `order_id`, `client_order_id`.
//! - **`x-error-codes`**: every [`ApiCode`] with its chain number, HTTP status and
//!   meaning.

use std::sync::OnceLock;

use serde_json::{Value, json};
use utoipa::OpenApi;

use crate::wire::schemas::{CURSOR_PATTERN, U64_TEXT_PATTERN, cursor_pattern, u64_pattern};
use crate::wire::{self, ApiCode};
use crate::{rest, ws};

#[derive(OpenApi)]
#[openapi(
    info(
        title = "clobchain API",
        version = "1",
        description = "clobchain: an on-chain central limit order book. REST under /v1, a websocket at /v1/ws, Prometheus metrics at /metrics. The human reference, with examples, units, signing and the websocket protocol, is docs/API.md.\n\n**Units** are the chain's integers, never floats: prices are quote-asset atoms per lot (a multiple of the market's `tick_size`), quantities base-asset atoms (a multiple of `lot_size`), balances and fees atoms.\n\n**Encodings.** Order ids are u64s as decimal strings (requests may send numbers). Keys, hashes and signatures are lowercase hex in responses; requests accept either case and an optional 0x.\n\n**Errors** are `ErrorBody` (`{\"code\", \"message\"}`); branch on `code`. Every code, with its HTTP status and meaning, is in `x-error-codes`."
    ),
    paths(
        rest::health, rest::metrics, rest::openapi, rest::markets_list, rest::market_one,
        rest::book, rest::trades, rest::candles, rest::account, rest::account_orders, rest::account_fills,
        rest::place_order, rest::order, rest::cancel_order, rest::submit, rest::submit_batch,
        rest::transaction, rest::block_latest, rest::block_at, rest::block_raw, rest::faucet, ws::upgrade,
    ),
    components(schemas(
        wire::SideJson, wire::TimeInForceJson, wire::SelfTradeJson, wire::PlaceJson,
        wire::OrderActionJson, wire::ActionJson, wire::TransactionJson, wire::SubmitRequest,
        wire::BatchRequest, wire::SubmitResponse, wire::BatchResponse, wire::BatchItem,
        wire::TxStatusKind, wire::TxStatus, wire::FinalityJson, wire::ActionResult, wire::EventJson,
        wire::FillJson, wire::AssetJson, wire::MarketJson, wire::BookJson, wire::BalanceJson,
        wire::AccountJson, wire::OrderStatusJson, wire::OrderJson, wire::FillsPage,
        wire::TradesPage, wire::CandleJson, wire::CandlesJson,
        wire::BlockJson, wire::HealthJson, wire::FaucetRequest, wire::CancelBody,
        wire::ErrorBody, ApiCode, wire::OrderUpdateJson, wire::UpdateKind,
        wire::schemas::OrderTransactionJson,
    )),
    tags(
        (name = "node", description = "Health, metrics and this document."),
        (name = "markets", description = "Markets, books, trades and candles."),
        (name = "accounts", description = "Balances, open orders and fills."),
        (name = "orders", description = "Placing, reading and cancelling orders."),
        (name = "transactions", description = "Any signed transaction; the dev faucet."),
        (name = "blocks", description = "Block headers, and whole blocks for followers."),
        (name = "websocket", description = "The live feed (docs/API.md)."),
    )
)]
struct ApiDoc;

/// The document as JSON.
pub fn document() -> Value {
    let mut doc = serde_json::to_value(ApiDoc::openapi()).expect("the document serializes");
    exact_integer_ranges(&mut doc);
    exact_patterns(&mut doc, &u64_pattern(), &cursor_pattern());
    cancel_names_one_order(&mut doc);
    doc["x-error-codes"] = ApiCode::ALL
        .iter()
        .map(|&code| {
            let mut entry = json!({
                "code": code.as_str(),
                "status": code.status().as_u16(),
                "meaning": code.meaning().trim(),
            });
            if let Some(reject) = code.reject() {
                entry["number"] = json!(reject.code());
            }
            entry
        })
        .collect();
    doc
}

/// The document as served, built once.
pub fn json() -> &'static str {
    static JSON: OnceLock<String> = OnceLock::new();
    JSON.get_or_init(|| serde_json::to_string(&document()).expect("the document serializes"))
}

/// A `cancel` names exactly one of `order_id` and `client_order_id` (null counts as
/// absent): a rule across two fields, which the derive cannot say.
fn cancel_names_one_order(doc: &mut Value) {
    let one = |named: &str, other: &str| {
        json!({
            "required": [named],
            "properties": {named: {"not": {"type": "null"}}, other: {"type": "null"}},
        })
    };
    let cancel = doc["components"]["schemas"]["OrderActionJson"]["oneOf"]
        .as_array_mut()
        .expect("OrderActionJson is a oneOf")
        .iter_mut()
        .find(|variant| variant["properties"]["type"]["enum"] == json!(["cancel"]))
        .expect("a cancel variant");
    cancel["oneOf"] = json!([
        one("order_id", "client_order_id"),
        one("client_order_id", "order_id")
    ]);
}

/// Replaces the short u64-as-text and cursor patterns the attributes write (utoipa takes
/// only literals there) with the exact ones, which bound the value as well as the form.
fn exact_patterns(value: &mut Value, u64_text: &str, cursor: &str) {
    match value {
        Value::Object(map) => {
            if let Some(Value::String(pattern)) = map.get_mut("pattern") {
                if pattern == U64_TEXT_PATTERN {
                    *pattern = u64_text.to_string();
                } else if pattern == CURSOR_PATTERN {
                    *pattern = cursor.to_string();
                }
            }
            map.values_mut()
                .for_each(|v| exact_patterns(v, u64_text, cursor));
        }
        Value::Array(items) => items
            .iter_mut()
            .for_each(|v| exact_patterns(v, u64_text, cursor)),
        _ => {}
    }
}

/// Gives every unsigned integer the range of its Rust type (see the module docs).
fn exact_integer_ranges(value: &mut Value) {
    match value {
        Value::Object(map) => {
            // utoipa 6 spells the formats `u-int8` … `u-int64`; the document says
            // `uint8` … `uint64`.
            let range = match map.get("format").and_then(Value::as_str) {
                Some("uint8" | "u-int8") => Some(("uint8", u64::from(u8::MAX))),
                Some("uint16" | "u-int16") => Some(("uint16", u64::from(u16::MAX))),
                Some("uint32" | "u-int32") => Some(("uint32", u64::from(u32::MAX))),
                Some("uint64" | "u-int64") => Some(("uint64", u64::MAX)),
                _ => None,
            };
            if let Some((format, maximum)) = range {
                map.insert("format".into(), json!(format));
                map.entry("minimum").or_insert(json!(0));
                map.entry("maximum").or_insert(json!(maximum));
            }
            map.values_mut().for_each(exact_integer_ranges);
        }
        Value::Array(items) => items.iter_mut().for_each(exact_integer_ranges),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;

    /// `OPENAPI_OUT=path cargo test -p api openapi::tests::write_the_document` writes
    /// the document as served, for tools that want a file (schemathesis, clients).
    #[test]
    fn write_the_document() {
        if let Some(path) = std::env::var_os("OPENAPI_OUT") {
            std::fs::write(path, json()).expect("writable");
        }
        assert!(json().starts_with('{'));
    }

    #[test]
    fn the_document_has_exactly_the_routers_routes() {
        let doc = document();
        assert_eq!(doc["openapi"], "3.1.0");
        let mut documented = BTreeSet::new();
        for (path, item) in doc["paths"].as_object().expect("paths") {
            for method in item.as_object().expect("a path item").keys() {
                documented.insert((method.to_uppercase(), path.clone()));
            }
        }
        let served: BTreeSet<(String, String)> = rest::ROUTES
            .iter()
            .map(|&(m, p)| (m.to_string(), p.to_string()))
            .collect();
        assert_eq!(served.len(), rest::ROUTES.len(), "ROUTES has a duplicate");
        assert_eq!(documented, served);
    }

    /// Every integer in the document has the range of its Rust type.
    #[test]
    fn every_integer_has_its_range() {
        fn walk(value: &Value, at: &str) {
            match value {
                Value::Object(map) => {
                    if map.get("type") == Some(&json!("integer")) {
                        assert!(
                            map.get("minimum").is_some() && map.get("maximum").is_some(),
                            "{at}: {value}"
                        );
                    }
                    for (key, inner) in map {
                        walk(inner, &format!("{at}/{key}"));
                    }
                }
                Value::Array(items) => {
                    for (i, inner) in items.iter().enumerate() {
                        walk(inner, &format!("{at}/{i}"));
                    }
                }
                _ => {}
            }
        }
        walk(&document(), "#");
    }

    /// The limits the attributes write as literals are the server's constants.
    #[test]
    fn the_documented_limits_are_the_servers() {
        let doc = document();
        let param = |path: &str, method: &str, name: &str| -> Value {
            doc["paths"][path][method]["parameters"]
                .as_array()
                .expect("parameters")
                .iter()
                .find(|p| p["name"] == name)
                .unwrap_or_else(|| panic!("{method} {path} has {name}"))["schema"]
                .clone()
        };
        let book = param("/v1/markets/{market}/book", "get", "depth");
        assert_eq!(book["maximum"], json!(rest::BOOK_DEPTH_MAX));
        let trades = param("/v1/markets/{market}/trades", "get", "limit");
        assert_eq!(trades["maximum"], json!(rest::PAGE_MAX));
        let fills = param("/v1/accounts/{account}/fills", "get", "limit");
        assert_eq!(fills["maximum"], json!(rest::PAGE_MAX));
        let wait = param("/v1/transactions", "post", "timeout_ms");
        assert_eq!(wait["maximum"], json!(crate::limits::WAIT_MS_MAX));
        assert_eq!(
            wait["maximum"],
            json!(crate::ApiConfig::default().wait_ms_max)
        );
        let market = param("/v1/markets/{market}", "get", "market");
        assert_eq!(market["maxLength"], json!(rest::MARKET_NAME_LENGTH_MAX));
        let schemas = &doc["components"]["schemas"];
        assert_eq!(
            schemas["BatchRequest"]["properties"]["transactions"]["maxItems"],
            json!(crate::ApiConfig::default().batch_max)
        );
        assert_eq!(
            schemas["SubmitRequest"]["oneOf"][0]["properties"]["tx"]["maxLength"],
            json!(wire::schemas::TX_HEX_LENGTH_MAX)
        );
        assert_eq!(
            schemas["SubmitRequest"]["oneOf"][0]["properties"]["tx"]["pattern"],
            json!(wire::schemas::TX_HEX_PATTERN)
        );
    }
}
