//! Every type that crosses the wire: REST request and response bodies, query strings,
//! websocket messages and the error body. These types are the wire format: the server,
//! the command-line client and the tests all use them, so they cannot drift apart.
//!
//! Units are the chain's, never floats: prices are quote-asset atoms per lot (a multiple
//! of the market's `tick_size`), quantities are base-asset atoms (a multiple of its
//! `lot_size`), balances are atoms. Keys, hashes and signatures are lowercase hex. Order
//! ids are 64-bit numbers derived from a hash, above JavaScript's exact integer range,
//! so they travel as decimal strings.

use crate::ApiError;
use markets::limits::BATCH_ACTIONS_MAX;
use markets::{
    Action, AmendOrder, AssetId, CancelAll, CancelOrder, ChainId, ChainReject, Faucet,
    MarketConfig, MarketId, OrderAction, PlaceOrder, SignedTransaction, Transaction, Transfer,
};
use matching::{ClientOrderId, Height, OrderId, OrderRef, SelfTradePrevention, Side, TimeInForce};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

mod code;
pub mod schemas;
mod ws;
pub use code::ApiCode;
pub use ws::{ChannelName, ClientMessage, MarketRef, ServerMessage, SubscribeArgs};

/// Integers in request bodies. JSON Schema counts `1.0` as an integer, so a client (or
/// a schema-driven fuzzer) may send one where the document says `integer`; serde alone
/// would refuse it. These take any JSON number with no fractional part within the Rust
/// type's range (floats only up to 2^53, where every whole number is exact).
pub mod integral {
    use core::fmt;
    use core::marker::PhantomData;

    use serde::{Deserialize, Deserializer, de};

    pub fn deserialize<'de, D: Deserializer<'de>, T: TryFrom<u64>>(
        deserializer: D,
    ) -> Result<T, D::Error> {
        deserializer.deserialize_any(Integral(PhantomData))
    }

    /// The same for an optional field (`null` or absent: `None`).
    pub fn option<'de, D: Deserializer<'de>, T: TryFrom<u64>>(
        deserializer: D,
    ) -> Result<Option<T>, D::Error> {
        #[derive(Deserialize)]
        #[serde(bound = "")]
        struct Wrap<T: TryFrom<u64>>(#[serde(deserialize_with = "deserialize")] T);
        Ok(Option::<Wrap<T>>::deserialize(deserializer)?.map(|w| w.0))
    }

    struct Integral<T>(PhantomData<T>);

    impl<T: TryFrom<u64>> Integral<T> {
        fn narrow<E: de::Error>(&self, value: u64) -> Result<T, E> {
            T::try_from(value).map_err(|_| E::invalid_value(de::Unexpected::Unsigned(value), self))
        }
    }

    impl<T: TryFrom<u64>> de::Visitor<'_> for Integral<T> {
        type Value = T;

        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            write!(f, "a whole number in 0..={}", core::any::type_name::<T>())
        }

        fn visit_u64<E: de::Error>(self, value: u64) -> Result<T, E> {
            self.narrow(value)
        }

        fn visit_i64<E: de::Error>(self, value: i64) -> Result<T, E> {
            match u64::try_from(value) {
                Ok(value) => self.narrow(value),
                Err(_) => Err(E::invalid_value(de::Unexpected::Signed(value), &self)),
            }
        }

        fn visit_f64<E: de::Error>(self, value: f64) -> Result<T, E> {
            const EXACT_MAX: f64 = 9_007_199_254_740_992.0;
            if value.fract() == 0.0 && (0.0..=EXACT_MAX).contains(&value) {
                #[expect(
                    clippy::cast_possible_truncation,
                    clippy::cast_sign_loss,
                    reason = "checked just above: a whole number in 0..=2^53"
                )]
                let whole = value as u64;
                self.narrow(whole)
            } else {
                Err(E::invalid_value(de::Unexpected::Float(value), &self))
            }
        }
    }
}

/// A u64 carried as a decimal string (order ids); accepts a string or a number.
pub mod u64_string {
    use serde::{Deserialize, Deserializer, Serializer, de};

    pub fn serialize<S: Serializer>(value: &u64, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(value)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<u64, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Either {
            Number(#[serde(deserialize_with = "super::integral::deserialize")] u64),
            Text(String),
        }
        match Either::deserialize(deserializer)? {
            Either::Number(n) => Ok(n),
            Either::Text(s) => crate::rest::parse_decimal(&s)
                .ok_or_else(|| de::Error::custom(format!("{s:?} is not a u64 in decimal"))),
        }
    }
}

/// `Option<u64>` as an optional decimal string.
pub mod opt_u64_string {
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(value: &Option<u64>, serializer: S) -> Result<S::Ok, S::Error> {
        match value {
            Some(v) => serializer.collect_str(v),
            None => serializer.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<Option<u64>, D::Error> {
        #[derive(Deserialize)]
        struct Wrap(#[serde(with = "super::u64_string")] u64);
        Ok(Option::<Wrap>::deserialize(deserializer)?.map(|w| w.0))
    }
}

/// Fixed-size byte arrays as lowercase hex.
pub mod hex_bytes {
    use serde::{Deserialize, Deserializer, Serializer, de};

    pub fn serialize<S: Serializer, const N: usize>(
        value: &[u8; N],
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&hex::encode(value))
    }

    pub fn deserialize<'de, D: Deserializer<'de>, const N: usize>(
        deserializer: D,
    ) -> Result<[u8; N], D::Error> {
        let text = String::deserialize(deserializer)?;
        let mut out = [0u8; N];
        hex::decode_to_slice(text.trim_start_matches("0x"), &mut out)
            .map_err(|_| de::Error::custom(format!("expected {} hex characters", 2 * N)))?;
        Ok(out)
    }
}

/// Parses a 32-byte hex key or hash.
pub fn parse_hex32(text: &str) -> Option<[u8; 32]> {
    let mut out = [0u8; 32];
    hex::decode_to_slice(text.trim_start_matches("0x"), &mut out).ok()?;
    Some(out)
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum SideJson {
    Buy,
    Sell,
}

impl From<Side> for SideJson {
    fn from(side: Side) -> SideJson {
        match side {
            Side::Buy => SideJson::Buy,
            Side::Sell => SideJson::Sell,
        }
    }
}

impl From<SideJson> for Side {
    fn from(side: SideJson) -> Side {
        match side {
            SideJson::Buy => Side::Buy,
            SideJson::Sell => Side::Sell,
        }
    }
}

/// `"gtc"`, `"ioc"`, `"fok"`, or `{"gtb": last_block}`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TimeInForceJson {
    #[default]
    Gtc,
    Ioc,
    Fok,
    Gtb(#[serde(deserialize_with = "integral::deserialize")] u64),
}

impl From<TimeInForce> for TimeInForceJson {
    fn from(tif: TimeInForce) -> TimeInForceJson {
        match tif {
            TimeInForce::GoodTillCancel => TimeInForceJson::Gtc,
            TimeInForce::ImmediateOrCancel => TimeInForceJson::Ioc,
            TimeInForce::FillOrKill => TimeInForceJson::Fok,
            TimeInForce::GoodTillBlock(h) => TimeInForceJson::Gtb(h.0),
        }
    }
}

impl From<TimeInForceJson> for TimeInForce {
    fn from(tif: TimeInForceJson) -> TimeInForce {
        match tif {
            TimeInForceJson::Gtc => TimeInForce::GoodTillCancel,
            TimeInForceJson::Ioc => TimeInForce::ImmediateOrCancel,
            TimeInForceJson::Fok => TimeInForce::FillOrKill,
            TimeInForceJson::Gtb(h) => TimeInForce::GoodTillBlock(Height(h)),
        }
    }
}

/// Self-trade prevention: `"cancel_resting"` (the default), `"cancel_incoming"`,
/// `"cancel_both"`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum SelfTradeJson {
    #[default]
    CancelResting,
    CancelIncoming,
    CancelBoth,
}

impl From<SelfTradePrevention> for SelfTradeJson {
    fn from(mode: SelfTradePrevention) -> SelfTradeJson {
        match mode {
            SelfTradePrevention::CancelResting => SelfTradeJson::CancelResting,
            SelfTradePrevention::CancelIncoming => SelfTradeJson::CancelIncoming,
            SelfTradePrevention::CancelBoth => SelfTradeJson::CancelBoth,
        }
    }
}

impl From<SelfTradeJson> for SelfTradePrevention {
    fn from(mode: SelfTradeJson) -> SelfTradePrevention {
        match mode {
            SelfTradeJson::CancelResting => SelfTradePrevention::CancelResting,
            SelfTradeJson::CancelIncoming => SelfTradePrevention::CancelIncoming,
            SelfTradeJson::CancelBoth => SelfTradePrevention::CancelBoth,
        }
    }
}

/// The fields of a new order (the body of `POST /v1/orders` carries these and the
/// signature).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct PlaceJson {
    #[serde(deserialize_with = "integral::deserialize")]
    pub market: u32,
    #[serde(
        default,
        with = "opt_u64_string",
        skip_serializing_if = "Option::is_none"
    )]
    #[schema(schema_with = schemas::opt_u64_text_in)]
    pub client_order_id: Option<u64>,
    pub side: SideJson,
    /// Quote atoms per lot.
    #[serde(deserialize_with = "integral::deserialize")]
    pub price: u64,
    /// Base atoms.
    #[serde(deserialize_with = "integral::deserialize")]
    pub qty: u64,
    #[serde(default)]
    pub time_in_force: TimeInForceJson,
    #[serde(default)]
    pub post_only: bool,
    #[serde(default)]
    pub self_trade: SelfTradeJson,
}

/// One order action, tagged by `type`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum OrderActionJson {
    Place(PlaceJson),
    /// By `order_id`, or by the account's `client_order_id`.
    Cancel {
        #[serde(deserialize_with = "integral::deserialize")]
        market: u32,
        #[serde(
            default,
            with = "opt_u64_string",
            skip_serializing_if = "Option::is_none"
        )]
        #[schema(schema_with = schemas::opt_u64_text_in)]
        order_id: Option<u64>,
        #[serde(
            default,
            with = "opt_u64_string",
            skip_serializing_if = "Option::is_none"
        )]
        #[schema(schema_with = schemas::opt_u64_text_in)]
        client_order_id: Option<u64>,
    },
    CancelAll {
        #[serde(deserialize_with = "integral::deserialize")]
        market: u32,
    },
    /// New price (quote atoms per lot) and new remaining quantity (base atoms).
    Amend {
        #[serde(deserialize_with = "integral::deserialize")]
        market: u32,
        #[serde(with = "u64_string")]
        #[schema(schema_with = schemas::u64_text_in)]
        order_id: u64,
        #[serde(deserialize_with = "integral::deserialize")]
        price: u64,
        #[serde(deserialize_with = "integral::deserialize")]
        qty: u64,
    },
}

/// What a transaction does, tagged by `type`: the four order actions (`place`,
/// `cancel`, `cancel_all`, `amend`, as in [`OrderActionJson`]), `batch`, `transfer` and
/// `faucet`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ActionJson {
    Batch {
        actions: Vec<OrderActionJson>,
    },
    Transfer {
        #[serde(with = "hex_bytes")]
        to: [u8; 32],
        #[serde(deserialize_with = "integral::deserialize")]
        asset: u32,
        #[serde(deserialize_with = "integral::deserialize")]
        amount: u64,
    },
    Faucet {
        #[serde(deserialize_with = "integral::deserialize")]
        asset: u32,
        #[serde(deserialize_with = "integral::deserialize")]
        amount: u64,
    },
    /// One order action; it carries its own `type`.
    #[serde(untagged)]
    Order(OrderActionJson),
}

/// A signed transaction as JSON: every signed field, and the signature over the borsh
/// encoding of those fields (ARCHITECTURE.md, "Transaction format"). The server rebuilds
/// the exact signed bytes from these fields, so JSON and binary submissions are the
/// same transaction with the same hash.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct TransactionJson {
    #[serde(deserialize_with = "integral::deserialize")]
    pub chain_id: u64,
    #[serde(with = "hex_bytes")]
    #[schema(value_type = String, pattern = "^(0x)?[0-9a-fA-F]{64}$")]
    pub signer: [u8; 32],
    #[serde(deserialize_with = "integral::deserialize")]
    pub nonce: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[serde(deserialize_with = "integral::option")]
    pub expiry_height: Option<u64>,
    #[serde(deserialize_with = "action_shape::action")]
    pub action: ActionJson,
    #[serde(with = "hex_bytes")]
    #[schema(value_type = String, pattern = "^(0x)?[0-9a-fA-F]{128}$")]
    pub signature: [u8; 64],
}

/// What the schema says of an action that the derive alone would let through, checked
/// before the derive reads it, so that it does not parse (`MALFORMED`):
/// - serde reads the tag of an internally tagged enum as a variant's name or, quietly, as
///   its index (`{"type": 0, …}` was read as the first variant); `type` is a string, in
///   the action and in each batch item;
/// - a cancel names exactly one of `order_id` and `client_order_id` (null counts as
///   absent);
/// - a batch's `actions` hold 1 to `BATCH_ACTIONS_MAX` items. In a batch request an item
///   that breaks this breaks the request's schema, so the request is refused whole, as
///   for any item that does not parse. (The same batch sent as bytes, which no schema
///   describes, gets the chain's `EMPTY_BATCH` / `BATCH_TOO_LARGE`.)
mod action_shape {
    use serde::de::Error as _;
    use serde::{Deserialize as _, Deserializer};
    use serde_json::Value;

    use super::{ActionJson, BATCH_ACTIONS_MAX};

    pub fn action<'de, D: Deserializer<'de>>(deserializer: D) -> Result<ActionJson, D::Error> {
        let value = Value::deserialize(deserializer)?;
        check(&value).map_err(D::Error::custom)?;
        ActionJson::deserialize(value).map_err(D::Error::custom)
    }

    /// `type` is a string in the action and in each of a batch's `actions`, a batch
    /// holds 1 to `BATCH_ACTIONS_MAX` actions, and a cancel names exactly one order.
    fn check(action: &Value) -> Result<(), &'static str> {
        one(action)?;
        if let Some(Value::Array(items)) = action.get("actions") {
            if items.is_empty() || items.len() > BATCH_ACTIONS_MAX {
                return Err("a batch holds 1 to 32 actions");
            }
            items.iter().try_for_each(one)?;
        }
        Ok(())
    }

    fn one(action: &Value) -> Result<(), &'static str> {
        match action.get("type") {
            Some(Value::String(kind)) if kind == "cancel" => {
                let named = |key: &str| action.get(key).is_some_and(|v| !v.is_null());
                if named("order_id") == named("client_order_id") {
                    return Err("a cancel names exactly one of order_id and client_order_id");
                }
                Ok(())
            }
            None | Some(Value::String(_)) => Ok(()),
            Some(_) => Err("an action's `type` is a string"),
        }
    }
}

fn order_action_to_chain(action: OrderActionJson) -> Result<OrderAction, ApiError> {
    Ok(match action {
        OrderActionJson::Place(p) => OrderAction::Place(PlaceOrder {
            market: MarketId(p.market),
            client_order_id: p.client_order_id.map(ClientOrderId),
            side: p.side.into(),
            price: p.price,
            qty: p.qty,
            time_in_force: p.time_in_force.into(),
            post_only: p.post_only,
            self_trade: p.self_trade.into(),
        }),
        OrderActionJson::Cancel {
            market,
            order_id,
            client_order_id,
        } => {
            let order = match (order_id, client_order_id) {
                (Some(id), None) => OrderRef::Id(OrderId(id)),
                (None, Some(id)) => OrderRef::Client(ClientOrderId(id)),
                _ => {
                    return Err(ApiError::malformed(
                        "a cancel names exactly one of order_id and client_order_id",
                    ));
                }
            };
            OrderAction::Cancel(CancelOrder {
                market: MarketId(market),
                order,
            })
        }
        OrderActionJson::CancelAll { market } => OrderAction::CancelAll(CancelAll {
            market: MarketId(market),
        }),
        OrderActionJson::Amend {
            market,
            order_id,
            price,
            qty,
        } => OrderAction::Amend(AmendOrder {
            market: MarketId(market),
            order_id: OrderId(order_id),
            price,
            qty,
        }),
    })
}

fn order_action_to_json(action: &OrderAction) -> OrderActionJson {
    match *action {
        OrderAction::Place(p) => OrderActionJson::Place(PlaceJson {
            market: p.market.0,
            client_order_id: p.client_order_id.map(|c| c.0),
            side: p.side.into(),
            price: p.price,
            qty: p.qty,
            time_in_force: p.time_in_force.into(),
            post_only: p.post_only,
            self_trade: p.self_trade.into(),
        }),
        OrderAction::Cancel(c) => {
            let (order_id, client_order_id) = match c.order {
                OrderRef::Id(id) => (Some(id.0), None),
                OrderRef::Client(id) => (None, Some(id.0)),
            };
            OrderActionJson::Cancel {
                market: c.market.0,
                order_id,
                client_order_id,
            }
        }
        OrderAction::CancelAll(c) => OrderActionJson::CancelAll { market: c.market.0 },
        OrderAction::Amend(a) => OrderActionJson::Amend {
            market: a.market.0,
            order_id: a.order_id.0,
            price: a.price,
            qty: a.qty,
        },
    }
}

impl ActionJson {
    /// The chain's action. Fails on a cancel naming both or neither order id
    /// (`MALFORMED`), and on a batch built in code that the chain would refuse: empty
    /// (`EMPTY_BATCH`) or over `BATCH_ACTIONS_MAX` actions (`BATCH_TOO_LARGE`). (Parsed
    /// from JSON, such a batch does not get this far: see `action_shape`.)
    pub fn to_chain(&self) -> Result<Action, ApiError> {
        match self {
            ActionJson::Order(action) => order_action_to_chain(*action).map(Action::Order),
            ActionJson::Batch { actions } if actions.is_empty() => {
                Err(ChainReject::EmptyBatch.into())
            }
            ActionJson::Batch { actions } if actions.len() > BATCH_ACTIONS_MAX => {
                Err(ChainReject::BatchTooLarge.into())
            }
            ActionJson::Batch { actions } => actions
                .iter()
                .map(|a| order_action_to_chain(*a))
                .collect::<Result<Vec<_>, _>>()
                .map(Action::Batch),
            ActionJson::Transfer { to, asset, amount } => Ok(Action::Transfer(Transfer {
                to: *to,
                asset: AssetId(*asset),
                amount: *amount,
            })),
            ActionJson::Faucet { asset, amount } => Ok(Action::Faucet(Faucet {
                asset: AssetId(*asset),
                amount: *amount,
            })),
        }
    }

    pub fn from_chain(action: &Action) -> ActionJson {
        match action {
            Action::Order(a) => ActionJson::Order(order_action_to_json(a)),
            Action::Batch(actions) => ActionJson::Batch {
                actions: actions.iter().map(order_action_to_json).collect(),
            },
            Action::Transfer(t) => ActionJson::Transfer {
                to: t.to,
                asset: t.asset.0,
                amount: t.amount,
            },
            Action::Faucet(f) => ActionJson::Faucet {
                asset: f.asset.0,
                amount: f.amount,
            },
        }
    }
}

impl TransactionJson {
    /// The signed transaction these fields describe (see [`ActionJson::to_chain`]).
    pub fn to_chain(&self) -> Result<SignedTransaction, ApiError> {
        Ok(SignedTransaction {
            transaction: Transaction {
                chain_id: ChainId(self.chain_id),
                signer: self.signer,
                nonce: self.nonce,
                expiry_height: self.expiry_height,
                action: self.action.to_chain()?,
            },
            signature: self.signature,
        })
    }

    pub fn from_chain(signed: &SignedTransaction) -> TransactionJson {
        let tx = &signed.transaction;
        TransactionJson {
            chain_id: tx.chain_id.0,
            signer: tx.signer,
            nonce: tx.nonce,
            expiry_height: tx.expiry_height,
            action: ActionJson::from_chain(&tx.action),
            signature: signed.signature,
        }
    }
}

/// `POST /v1/transactions`: one transaction, as hex of its borsh bytes (`tx`) or as
/// JSON fields (`transaction`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(untagged)]
pub enum SubmitRequest {
    Hex {
        #[schema(pattern = "^(0x)?([0-9a-fA-F]{2}){1,4096}$", max_length = 8194)]
        tx: String,
    },
    Json {
        transaction: TransactionJson,
    },
}

/// `POST /v1/transactions/batch`: up to the batch limit of transactions, each as in
/// [`SubmitRequest`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct BatchRequest {
    /// 1 to `ApiConfig::batch_max` (2,000 by default).
    #[schema(min_items = 1, max_items = 2000)]
    pub transactions: Vec<SubmitRequest>,
}

/// What the node says about a transaction it was given.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct SubmitResponse {
    /// sha256 of the borsh-encoded signed transaction; poll `GET /v1/transactions/{hash}`.
    #[schema(pattern = "^[0-9a-f]{64}$")]
    pub hash: String,
    /// The ids of the orders it places, in action order (known before it executes).
    pub order_ids: Vec<String>,
    /// `pending` (in the mempool), `committed` or `rejected` (when the request waited,
    /// or the transaction was already known).
    pub status: TxStatusKind,
    /// True when the node already had this exact transaction: nothing new was queued.
    #[serde(default)]
    pub duplicate: bool,
    /// Set when the status is `committed` or `rejected`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub receipt: Option<Box<TxStatus>>,
}

/// The answer to a batch: one entry per transaction, in order.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct BatchResponse {
    pub results: Vec<BatchItem>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(untagged)]
pub enum BatchItem {
    Accepted(SubmitResponse),
    Error { error: ErrorBody },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum TxStatusKind {
    /// In the mempool, waiting for a block.
    Pending,
    /// In a block; its actions may still have been refused one by one (see `actions`).
    Committed,
    /// In a block but refused as a whole (its `code`); nothing changed.
    Rejected,
    /// Never in a block, and never will be: the node dropped it after the block at
    /// `height`, for its `code` by its `rule`. Nothing changed. Final, like the others.
    Dropped,
}

/// `GET /v1/transactions/{hash}`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct TxStatus {
    #[schema(pattern = "^[0-9a-f]{64}$")]
    pub hash: String,
    pub status: TxStatusKind,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub height: Option<u64>,
    /// Index in its block.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub index: Option<u32>,
    /// Why the whole transaction was refused (status `rejected`) or dropped (status
    /// `dropped`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(schema_with = schemas::opt_reject_name)]
    pub code: Option<String>,
    /// Status `dropped`: the rule that dropped it (`nonce_used_by_another`,
    /// `below_nonce_floor`, `expired`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rule: Option<String>,
    /// Status `dropped`: the rule in words.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// One per action (status `committed`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub actions: Vec<ActionResult>,
    /// The book events this transaction caused; always present, `[]` when none (and
    /// while the transaction is not in a block).
    #[serde(default)]
    pub events: Vec<EventJson>,
    /// On a chain of validators, the certificate that made its block final (see
    /// `BlockJson`); absent while pending and on a single-producer chain.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finality: Option<FinalityJson>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(tag = "result", rename_all = "snake_case")]
pub enum ActionResult {
    Placed {
        #[serde(with = "u64_string")]
        #[schema(schema_with = schemas::u64_text_out)]
        order_id: u64,
    },
    Done,
    Rejected {
        #[schema(schema_with = schemas::reject_name)]
        code: String,
    },
}

/// A book event, in chain units (prices in quote atoms per lot, quantities in base
/// atoms).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum EventJson {
    Accepted {
        market: u32,
        #[serde(with = "u64_string")]
        #[schema(schema_with = schemas::u64_text_out)]
        order_id: u64,
        #[schema(pattern = "^[0-9a-f]{64}$")]
        account: String,
        #[serde(
            default,
            with = "opt_u64_string",
            skip_serializing_if = "Option::is_none"
        )]
        #[schema(schema_with = schemas::u64_text_out)]
        client_order_id: Option<u64>,
        side: SideJson,
        price: u64,
        qty: u64,
    },
    Fill(FillJson),
    Rested {
        market: u32,
        #[serde(with = "u64_string")]
        #[schema(schema_with = schemas::u64_text_out)]
        order_id: u64,
        #[schema(pattern = "^[0-9a-f]{64}$")]
        account: String,
        side: SideJson,
        price: u64,
        qty: u64,
    },
    Amended {
        market: u32,
        #[serde(with = "u64_string")]
        #[schema(schema_with = schemas::u64_text_out)]
        order_id: u64,
        #[schema(pattern = "^[0-9a-f]{64}$")]
        account: String,
        side: SideJson,
        old_price: u64,
        old_qty: u64,
        price: u64,
        qty: u64,
        priority_kept: bool,
    },
    Cancelled {
        market: u32,
        #[serde(with = "u64_string")]
        #[schema(schema_with = schemas::u64_text_out)]
        order_id: u64,
        #[schema(pattern = "^[0-9a-f]{64}$")]
        account: String,
        side: SideJson,
        price: u64,
        qty: u64,
        #[schema(schema_with = schemas::cancel_reason)]
        reason: String,
    },
    Expired {
        market: u32,
        #[serde(with = "u64_string")]
        #[schema(schema_with = schemas::u64_text_out)]
        order_id: u64,
        #[schema(pattern = "^[0-9a-f]{64}$")]
        account: String,
        side: SideJson,
        price: u64,
        qty: u64,
    },
    Rejected {
        market: u32,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        #[schema(pattern = "^[0-9a-f]{64}$")]
        account: Option<String>,
        #[serde(
            default,
            with = "opt_u64_string",
            skip_serializing_if = "Option::is_none"
        )]
        #[schema(schema_with = schemas::u64_text_out)]
        order_id: Option<u64>,
        #[schema(schema_with = schemas::reject_name)]
        code: String,
    },
}

/// A trade.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct FillJson {
    pub market: u32,
    /// The market's trade sequence number: +1 per fill, no gaps.
    pub seq: u64,
    pub height: u64,
    pub timestamp_ms: u64,
    /// Quote atoms per lot: the resting order's price.
    pub price: u64,
    /// Base atoms.
    pub qty: u64,
    pub taker_side: SideJson,
    #[serde(with = "u64_string")]
    #[schema(schema_with = schemas::u64_text_out)]
    pub maker_order_id: u64,
    #[schema(pattern = "^[0-9a-f]{64}$")]
    pub maker: String,
    #[serde(with = "u64_string")]
    #[schema(schema_with = schemas::u64_text_out)]
    pub taker_order_id: u64,
    #[schema(pattern = "^[0-9a-f]{64}$")]
    pub taker: String,
    pub maker_qty_remaining: u64,
    pub taker_qty_remaining: u64,
    /// Quote atoms each side paid in fees.
    pub maker_fee: u64,
    pub taker_fee: u64,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct AssetJson {
    pub id: u32,
    pub symbol: String,
    pub decimals: u8,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct MarketJson {
    pub id: u32,
    pub symbol: String,
    pub base: AssetJson,
    pub quote: AssetJson,
    /// Prices are multiples of this, in quote atoms per lot.
    pub tick_size: u64,
    /// Quantities are multiples of this, in base atoms.
    pub lot_size: u64,
    pub qty_min: u64,
    pub qty_max: u64,
    pub price_max: u64,
    pub maker_fee_bps: u16,
    pub taker_fee_bps: u16,
    pub best_bid: Option<u64>,
    pub best_ask: Option<u64>,
    pub resting_orders: u64,
    pub last_trade_seq: u64,
    /// Orders one account may have resting in this book; past it a new resting order is
    /// rejected `ACCOUNT_ORDER_LIMIT` (305).
    pub resting_orders_per_account_max: u32,
    /// Orders this book holds at most; past it a new resting order is rejected
    /// `BOOK_ORDER_LIMIT` (306).
    pub resting_orders_per_book_max: u32,
}

impl MarketJson {
    pub fn new(id: u32, config: &MarketConfig, assets: &[markets::AssetConfig]) -> MarketJson {
        let asset = |a: AssetId| AssetJson {
            id: a.0,
            symbol: assets[a.0 as usize].symbol.clone(),
            decimals: assets[a.0 as usize].decimals,
        };
        let p = &config.params;
        MarketJson {
            id,
            symbol: config.symbol.clone(),
            base: asset(config.base),
            quote: asset(config.quote),
            tick_size: p.tick_size,
            lot_size: p.lot_size,
            qty_min: p.qty_lots_min.0 * p.lot_size,
            qty_max: p.qty_lots_max.0 * p.lot_size,
            price_max: p.price_ticks_max.0 * p.tick_size,
            maker_fee_bps: config.maker_fee_bps,
            taker_fee_bps: config.taker_fee_bps,
            best_bid: None,
            best_ask: None,
            resting_orders: 0,
            last_trade_seq: 0,
            resting_orders_per_account_max: p.orders_per_account_max,
            resting_orders_per_book_max: p.orders_per_book_max,
        }
    }
}

/// `GET /v1/markets/{market}/book`: aggregated levels, best first.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct BookJson {
    pub market: u32,
    /// The block height this book reflects.
    pub height: u64,
    /// The market's book sequence number (see the `book` websocket channel).
    pub seq: u64,
    /// `[price, qty]` pairs.
    #[schema(schema_with = schemas::levels)]
    pub bids: Vec<[u64; 2]>,
    #[schema(schema_with = schemas::levels)]
    pub asks: Vec<[u64; 2]>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct BalanceJson {
    pub asset: u32,
    pub symbol: String,
    pub available: u64,
    pub held: u64,
}

/// `GET /v1/accounts/{key}`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct AccountJson {
    #[schema(pattern = "^[0-9a-f]{64}$")]
    pub account: String,
    /// The height this view reflects.
    pub height: u64,
    /// False for a key the chain has never seen (all balances zero).
    pub exists: bool,
    pub balances: Vec<BalanceJson>,
    /// The highest nonce used so far, if any (a client picks a larger one).
    pub last_nonce: Option<u64>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum OrderStatusJson {
    /// On the book.
    Open,
    Filled,
    Cancelled,
    Expired,
    Rejected,
}

/// An order, live or recently finished.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct OrderJson {
    #[serde(with = "u64_string")]
    #[schema(schema_with = schemas::u64_text_out)]
    pub order_id: u64,
    pub market: u32,
    #[schema(pattern = "^[0-9a-f]{64}$")]
    pub account: String,
    #[serde(
        default,
        with = "opt_u64_string",
        skip_serializing_if = "Option::is_none"
    )]
    #[schema(schema_with = schemas::u64_text_out)]
    pub client_order_id: Option<u64>,
    pub side: SideJson,
    pub price: u64,
    /// Still open (base atoms); 0 once the order has ended.
    pub qty_remaining: u64,
    /// Filled so far (base atoms), when the node saw the order placed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub qty_filled: Option<u64>,
    pub status: OrderStatusJson,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expiry_height: Option<u64>,
    /// Height of the last change the node saw.
    pub height: u64,
}

/// One page of a market's trades, newest first.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct TradesPage {
    pub trades: Vec<FillJson>,
    /// Pass as `before` to get the next (older) page; absent once the market's history
    /// is exhausted. A page may hold fewer than `limit` trades while `next` is present.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(pattern = "^[0-9]{1,20}:[0-9]{1,10}:[0-9]{1,20}$")]
    pub next: Option<String>,
}

/// One candle (OHLCV) of a market's fills. Prices as a fill's `price`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct CandleJson {
    /// Start of the interval (Unix ms, UTC, a multiple of the interval).
    pub open_time_ms: u64,
    pub open: u64,
    pub high: u64,
    pub low: u64,
    pub close: u64,
    /// Base atoms traded, a decimal string (it may pass 2^64).
    #[schema(pattern = "^[0-9]{1,39}$")]
    pub volume: String,
    /// Quote atoms traded, a decimal string.
    #[schema(pattern = "^[0-9]{1,39}$")]
    pub quote_volume: String,
    /// Fills in the interval.
    pub trades: u64,
    /// The market's trade `seq` of its first and last fill.
    pub first_seq: u64,
    pub last_seq: u64,
}

/// `GET /v1/markets/{market}/candles`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct CandlesJson {
    pub market: u32,
    #[schema(value_type = String, example = "1m")]
    pub interval: crate::candles::Interval,
    /// Oldest first; only intervals with at least one fill.
    pub candles: Vec<CandleJson>,
}

/// One page of an account's fills, newest first.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct FillsPage {
    pub fills: Vec<FillJson>,
    /// Pass as `before` to get the next (older) page; absent on the last page.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(pattern = "^[0-9]{1,20}:[0-9]{1,10}:[0-9]{1,20}$")]
    pub next: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct BlockJson {
    pub height: u64,
    #[schema(pattern = "^[0-9a-f]{64}$")]
    pub hash: String,
    #[schema(pattern = "^[0-9a-f]{64}$")]
    pub parent_hash: String,
    pub timestamp_ms: u64,
    pub transaction_count: u32,
    #[schema(pattern = "^[0-9a-f]{64}$")]
    pub transactions_root: String,
    #[schema(pattern = "^[0-9a-f]{64}$")]
    pub events_root: String,
    #[schema(pattern = "^[0-9a-f]{64}$")]
    pub state_root: String,
    /// Transaction hashes in block order (`GET /v1/blocks/{height}` only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub transactions: Option<Vec<String>>,
    /// On a chain of validators, the consensus certificate that made the block final;
    /// absent on a single-producer chain.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finality: Option<FinalityJson>,
}

/// The finalization certificate that made a block final: simplex's quorum certificate
/// in consensus view `view`, for the block at `height`. That is the block's own height,
/// or a descendant's when a later certificate finalized it with its ancestors (a
/// validator catching up sees only the latest certificate). Each validator names the
/// certificate it learned first, so two validators may name different ones for one block.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct FinalityJson {
    pub view: u64,
    pub height: u64,
}

impl From<markets::Finality> for FinalityJson {
    fn from(f: markets::Finality) -> FinalityJson {
        FinalityJson {
            view: f.view,
            height: f.height,
        }
    }
}

impl BlockJson {
    /// The block's header and finality, without its transaction hashes.
    pub fn from_block(block: &markets::ExecutedBlock) -> BlockJson {
        let mut json = BlockJson::from_header(&block.header);
        json.finality = block.finality.map(FinalityJson::from);
        json
    }

    pub fn from_header(header: &markets::BlockHeader) -> BlockJson {
        BlockJson {
            height: header.height,
            hash: header.hash().to_string(),
            parent_hash: header.parent_hash.to_string(),
            timestamp_ms: header.timestamp_ms,
            transaction_count: header.transaction_count,
            transactions_root: header.transactions_root.to_string(),
            events_root: header.events_root.to_string(),
            state_root: header.state_root.to_string(),
            transactions: None,
            finality: None,
        }
    }
}

/// `GET /v1/health`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct HealthJson {
    #[schema(schema_with = schemas::health_status)]
    pub status: String,
    pub chain_id: u64,
    pub height: u64,
    #[schema(pattern = "^[0-9a-f]{64}$")]
    pub last_block_hash: String,
    pub last_block_timestamp_ms: u64,
    pub mempool: u64,
    #[schema(pattern = "^[0-9a-f]{64}$")]
    pub genesis_hash: String,
}

/// `POST /v1/faucet` (dev chains): the node sends `amount` of `asset` to `account` from
/// its faucet account.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct FaucetRequest {
    /// The recipient's key: 64 hex characters (either case, optional `0x`).
    #[schema(pattern = "^(0x)?[0-9a-fA-F]{64}$")]
    pub account: String,
    #[serde(deserialize_with = "integral::deserialize")]
    pub asset: u32,
    #[serde(deserialize_with = "integral::deserialize")]
    pub amount: u64,
}

/// The body of `DELETE /v1/orders/{order_id}`: the cancel's signed fields but the id.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct CancelBody {
    #[serde(deserialize_with = "integral::deserialize")]
    pub chain_id: u64,
    #[serde(with = "hex_bytes")]
    #[schema(value_type = String, pattern = "^(0x)?[0-9a-fA-F]{64}$")]
    pub signer: [u8; 32],
    #[serde(deserialize_with = "integral::deserialize")]
    pub nonce: u64,
    #[serde(default)]
    #[serde(deserialize_with = "integral::option")]
    pub expiry_height: Option<u64>,
    #[serde(deserialize_with = "integral::deserialize")]
    pub market: u32,
    #[serde(with = "hex_bytes")]
    #[schema(value_type = String, pattern = "^(0x)?[0-9a-fA-F]{128}$")]
    pub signature: [u8; 64],
}

/// `?depth=` of `GET /v1/markets/{market}/book`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct DepthQuery {
    /// Levels per side, best first: 1 to `rest::BOOK_DEPTH_MAX` (default 50).
    #[param(minimum = 1, maximum = 5000)]
    pub depth: Option<u32>,
}

/// `?interval=&from=&to=&limit=` of `GET /v1/markets/{market}/candles`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct CandlesQuery {
    /// `1m` (default), `5m`, `15m`, `1h`, `4h` or `1d`.
    #[param(pattern = "^(1m|5m|15m|1h|4h|1d)$")]
    pub interval: Option<String>,
    /// Candles opening at or after this (Unix ms). With it, the first `limit` from here;
    /// without, the latest `limit`.
    #[param(minimum = 0)]
    pub from: Option<u64>,
    /// Candles opening before this (Unix ms).
    #[param(minimum = 0)]
    pub to: Option<u64>,
    /// Candles: 1 to 1,000 (default 500).
    #[param(minimum = 1, maximum = 1000)]
    pub limit: Option<u32>,
}

/// `?limit=&before=` of `GET /v1/accounts/{account}/fills` and
/// `GET /v1/markets/{market}/trades`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct FillsQuery {
    /// Fills per page: 1 to `rest::PAGE_MAX` (default 100).
    #[param(minimum = 1, maximum = 1000)]
    pub limit: Option<u32>,
    /// `height:market:seq` of the last fill of the previous page (its `next`).
    #[param(pattern = "^[0-9]{1,20}:[0-9]{1,10}:[0-9]{1,20}$")]
    pub before: Option<String>,
}

/// `?wait=&timeout_ms=` of the submission routes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct WaitQuery {
    /// Wait until the transaction is in a block (or `timeout_ms` passes).
    #[serde(default)]
    pub wait: bool,
    /// How long to wait: at most `limits::WAIT_MS_MAX` (default 10,000).
    #[param(minimum = 0, maximum = 30000)]
    pub timeout_ms: Option<u64>,
}

/// An error as the API returns it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ErrorBody {
    pub code: ApiCode,
    pub message: String,
}

/// One order update for an account's `orders` channel.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct OrderUpdateJson {
    /// The transaction that caused it; absent for the block's own events (expiry).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tx: Option<String>,
    /// The action's index in its transaction.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub action: Option<u16>,
    pub event: UpdateKind,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(untagged)]
pub enum UpdateKind {
    /// A book event.
    Book(EventJson),
    /// The chain refused the transaction (no `action`) or one action of it.
    Refused {
        #[schema(schema_with = schemas::reject_name)]
        refused: String,
    },
    /// The node dropped the transaction without a block: it can never run (its
    /// `dropped` code and the `rule` that says so; see `TxStatus`).
    Dropped {
        #[schema(schema_with = schemas::reject_name)]
        dropped: String,
        rule: String,
    },
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_action_type_is_a_name_never_an_index() {
        let with = |action: &str| {
            format!(
                r#"{{"chain_id": 1337, "signer": "{k}", "nonce": 1, "action": {action}, "signature": "{s}"}}"#,
                k = "00".repeat(32),
                s = "00".repeat(64)
            )
        };
        let amend = r#"{"type": "amend", "market": 0, "order_id": "1", "price": 1, "qty": 1}"#;
        let parse = |action: &str| serde_json::from_str::<TransactionJson>(&with(action));
        assert!(parse(&format!(r#"{{"type": "batch", "actions": [{amend}]}}"#)).is_ok());
        // serde alone reads `0` as the first variant's index.
        assert!(parse(&format!(r#"{{"type": 0, "actions": [{amend}]}}"#)).is_err());
        // A cancel names exactly one order, alone or in a batch.
        let both = r#"{"type": "cancel", "market": 0, "order_id": "1", "client_order_id": "2"}"#;
        let one = r#"{"type": "cancel", "market": 0, "order_id": "1", "client_order_id": null}"#;
        assert!(parse(one).is_ok());
        assert!(parse(both).is_err());
        assert!(
            parse(&format!(
                r#"{{"type": "batch", "actions": [{one}, {both}]}}"#
            ))
            .is_err()
        );
        // A whole number sent as a float reads back exactly (serde_json's default
        // parser read this one as …990.5).
        let float_price = r#"{"type": "amend", "market": 0, "order_id": "1", "price": 3851595644202990.0, "qty": 1}"#;
        assert!(parse(float_price).is_ok());
        let indexed = amend.replace(r#""type": "amend""#, r#""type": 3"#);
        assert!(parse(&format!(r#"{{"type": "batch", "actions": [{indexed}]}}"#)).is_err());
    }

    #[test]
    fn a_transaction_survives_json_both_ways() {
        let json = r#"{"chain_id":1337,"signer":"0101010101010101010101010101010101010101010101010101010101010101",
            "nonce":5,"action":{"type":"batch","actions":[
              {"type":"place","market":0,"side":"buy","price":100,"qty":10000,"time_in_force":{"gtb":9}},
              {"type":"cancel","market":1,"order_id":"18446744073709551615"}]},
            "signature":"02020202020202020202020202020202020202020202020202020202020202020202020202020202020202020202020202020202020202020202020202020202"}"#;
        let tx: TransactionJson = serde_json::from_str(json).unwrap();
        let signed = tx.to_chain().unwrap();
        let Action::Batch(actions) = &signed.transaction.action else {
            panic!("a batch")
        };
        assert_eq!(actions.len(), 2);
        assert!(matches!(
            actions[1],
            OrderAction::Cancel(CancelOrder {
                order: OrderRef::Id(OrderId(u64::MAX)),
                ..
            })
        ));
        assert_eq!(TransactionJson::from_chain(&signed), tx);
        let again: TransactionJson =
            serde_json::from_str(&serde_json::to_string(&tx).unwrap()).unwrap();
        assert_eq!(again, tx);
    }

    #[test]
    fn a_cancel_names_exactly_one_order() {
        let both = ActionJson::Order(OrderActionJson::Cancel {
            market: 0,
            order_id: Some(1),
            client_order_id: Some(2),
        });
        assert!(both.to_chain().is_err());
        let neither = ActionJson::Order(OrderActionJson::Cancel {
            market: 0,
            order_id: None,
            client_order_id: None,
        });
        assert!(neither.to_chain().is_err());
    }
}
