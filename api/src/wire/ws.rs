//! The websocket's messages: [`ClientMessage`] (tagged by `op`) and [`ServerMessage`]
//! (tagged by `type`). The protocol is described in [`crate::ws`] and `docs/API.md`.

use std::borrow::Cow;

use serde::{Deserialize, Serialize};

use super::{
    ApiCode, BlockJson, CandleJson, FillJson, OrderUpdateJson, SubmitRequest, SubmitResponse,
};
use crate::candles::Interval;

/// What a client may send, tagged by `op`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum ClientMessage {
    Subscribe(SubscribeArgs),
    Unsubscribe(SubscribeArgs),
    Ping,
    /// A transaction, as the body of `POST /v1/transactions` (`tx` hex, or
    /// `transaction` fields), answered by `submitted` or `error` with the same `id`.
    Submit {
        id: u64,
        #[serde(flatten)]
        request: SubmitRequest,
    },
}

/// The channel names.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ChannelName {
    Trades,
    Book,
    Fills,
    Orders,
    Blocks,
    Candles,
}

impl ChannelName {
    pub const ALL: [ChannelName; 6] = [
        ChannelName::Trades,
        ChannelName::Book,
        ChannelName::Fills,
        ChannelName::Orders,
        ChannelName::Blocks,
        ChannelName::Candles,
    ];

    pub const fn as_str(self) -> &'static str {
        match self {
            ChannelName::Trades => "trades",
            ChannelName::Book => "book",
            ChannelName::Fills => "fills",
            ChannelName::Orders => "orders",
            ChannelName::Blocks => "blocks",
            ChannelName::Candles => "candles",
        }
    }
}

/// A market as a client names it: its id, or its symbol in any case (an id as a string
/// works too).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum MarketRef {
    Id(u32),
    Symbol(String),
}

/// A subscription: `trades`, `book` and `candles` take a `market` (and `candles` an
/// `interval`, default `1m`), `fills` and `orders` an `account`; `from_height` replays
/// from that block (not for `book` and `candles`, which start from what is now).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SubscribeArgs {
    pub channel: ChannelName,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub market: Option<MarketRef>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interval: Option<Interval>,
    /// A key: 64 hex characters.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub account: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from_height: Option<u64>,
}

/// What the server sends, tagged by `type`. The block channels' messages borrow the
/// block's data when encoded (once per channel per block, see
/// `feed::BlockUpdate::message`); a client deserializes them owned.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ServerMessage<'a> {
    /// A subscription is active from `height` (the connection's cursor); with
    /// `from_height`, blocks `from_height..=height` are replayed first.
    Subscribed {
        channel: ChannelName,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        market: Option<u32>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        interval: Option<Interval>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        account: Option<String>,
        height: u64,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        from_height: Option<u64>,
    },
    Unsubscribed {
        channel: ChannelName,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        market: Option<u32>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        interval: Option<Interval>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        account: Option<String>,
        was_subscribed: bool,
    },
    /// Every block up to `height` has been delivered.
    Heartbeat { height: u64 },
    /// The answer to `ping`; `height` as in `heartbeat`.
    Pong { height: u64 },
    /// A request was refused; the connection stays open. `id` is the refused
    /// `submit`'s.
    Error {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        id: Option<u64>,
        code: ApiCode,
        message: String,
    },
    /// A `submit` was admitted: the fields of `POST /v1/transactions`'s answer.
    Submitted {
        id: u64,
        #[serde(flatten)]
        response: SubmitResponse,
    },
    /// The connection fell behind and is closed; resubscribe with
    /// `from_height: resume_from_height`.
    Lagged {
        message: String,
        resume_from_height: u64,
    },
    /// The node is shutting down; the connection closes.
    Closing { message: String },
    /// A market's fills in one block, in `seq` order.
    Trades {
        market: u32,
        height: u64,
        data: Cow<'a, [FillJson]>,
    },
    /// A book snapshot, or one block's delta (`[price, qty]` levels, qty 0: gone).
    Book {
        market: u32,
        height: u64,
        seq: u64,
        snapshot: bool,
        bids: Cow<'a, [[u64; 2]]>,
        asks: Cow<'a, [[u64; 2]]>,
    },
    /// An account's fills in one block.
    Fills {
        account: Cow<'a, str>,
        height: u64,
        data: Cow<'a, [FillJson]>,
    },
    /// What happened to an account's orders and transactions in one block.
    Orders {
        account: Cow<'a, str>,
        height: u64,
        data: Cow<'a, [OrderUpdateJson]>,
    },
    /// A market's candle of one interval, as it stands after a block that traded (or
    /// the latest one, right after subscribing).
    Candles {
        market: u32,
        interval: Interval,
        height: u64,
        data: Cow<'a, [CandleJson]>,
    },
    /// A block header.
    Blocks {
        height: u64,
        data: Cow<'a, BlockJson>,
    },
}

impl ServerMessage<'_> {
    /// The message as JSON text.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).expect("wire types always serialize")
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn the_documented_client_messages_parse() {
        let key = "ff".repeat(32);
        let cases = [
            (
                json!({"op": "subscribe", "channel": "trades", "market": "BTC-USD"}),
                ClientMessage::Subscribe(SubscribeArgs {
                    channel: ChannelName::Trades,
                    market: Some(MarketRef::Symbol("BTC-USD".into())),
                    interval: None,
                    account: None,
                    from_height: None,
                }),
            ),
            (
                json!({"op": "subscribe", "channel": "book", "market": 0}),
                ClientMessage::Subscribe(SubscribeArgs {
                    channel: ChannelName::Book,
                    market: Some(MarketRef::Id(0)),
                    interval: None,
                    account: None,
                    from_height: None,
                }),
            ),
            (
                json!({"op": "subscribe", "channel": "fills", "account": key, "from_height": 120}),
                ClientMessage::Subscribe(SubscribeArgs {
                    channel: ChannelName::Fills,
                    market: None,
                    interval: None,
                    account: Some(key.clone()),
                    from_height: Some(120),
                }),
            ),
            (
                json!({"op": "unsubscribe", "channel": "blocks"}),
                ClientMessage::Unsubscribe(SubscribeArgs {
                    channel: ChannelName::Blocks,
                    market: None,
                    interval: None,
                    account: None,
                    from_height: None,
                }),
            ),
            (json!({"op": "ping"}), ClientMessage::Ping),
            (
                json!({"op": "subscribe", "channel": "candles", "market": 1, "interval": "5m"}),
                ClientMessage::Subscribe(SubscribeArgs {
                    channel: ChannelName::Candles,
                    market: Some(MarketRef::Id(1)),
                    interval: Some(Interval::M5),
                    account: None,
                    from_height: None,
                }),
            ),
            (
                json!({"op": "submit", "id": 7, "tx": "00ff"}),
                ClientMessage::Submit {
                    id: 7,
                    request: SubmitRequest::Hex { tx: "00ff".into() },
                },
            ),
        ];
        for (value, expected) in cases {
            let parsed: ClientMessage = serde_json::from_value(value.clone()).expect("parses");
            assert_eq!(parsed, expected);
            assert_eq!(serde_json::to_value(&parsed).expect("JSON"), value);
        }
        for bad in [
            json!({"op": "subscribe", "channel": "nope"}),
            json!({"op": "dance"}),
            json!({"op": "subscribe", "channel": "book", "market": 4_294_967_296_u64}),
        ] {
            assert!(
                serde_json::from_value::<ClientMessage>(bad.clone()).is_err(),
                "{bad}"
            );
        }
    }

    #[test]
    fn server_messages_keep_their_wire_shape_and_round_trip() {
        let cases = [
            (
                ServerMessage::Subscribed {
                    channel: ChannelName::Trades,
                    market: Some(0),
                    interval: None,
                    account: None,
                    height: 4211,
                    from_height: None,
                },
                json!({"type": "subscribed", "channel": "trades", "market": 0, "height": 4211}),
            ),
            (
                ServerMessage::Unsubscribed {
                    channel: ChannelName::Fills,
                    market: None,
                    interval: None,
                    account: Some("ab".into()),
                    was_subscribed: true,
                },
                json!({"type": "unsubscribed", "channel": "fills", "account": "ab",
                       "was_subscribed": true}),
            ),
            (
                ServerMessage::Heartbeat { height: 7 },
                json!({"type": "heartbeat", "height": 7}),
            ),
            (
                ServerMessage::Pong { height: 7 },
                json!({"type": "pong", "height": 7}),
            ),
            (
                ServerMessage::Error {
                    id: None,
                    code: ApiCode::UnknownChannel,
                    message: "no".into(),
                },
                json!({"type": "error", "code": "UNKNOWN_CHANNEL", "message": "no"}),
            ),
            (
                ServerMessage::Error {
                    id: Some(3),
                    code: ApiCode::BadSignature,
                    message: "no".into(),
                },
                json!({"type": "error", "id": 3, "code": "BAD_SIGNATURE", "message": "no"}),
            ),
            (
                ServerMessage::Submitted {
                    id: 9,
                    response: SubmitResponse {
                        hash: "ab".into(),
                        order_ids: vec!["5".into()],
                        status: super::super::TxStatusKind::Pending,
                        duplicate: false,
                        receipt: None,
                    },
                },
                json!({"type": "submitted", "id": 9, "hash": "ab", "order_ids": ["5"],
                       "status": "pending", "duplicate": false}),
            ),
            (
                ServerMessage::Lagged {
                    message: "behind".into(),
                    resume_from_height: 9,
                },
                json!({"type": "lagged", "message": "behind", "resume_from_height": 9}),
            ),
            (
                ServerMessage::Closing {
                    message: "bye".into(),
                },
                json!({"type": "closing", "message": "bye"}),
            ),
            (
                ServerMessage::Book {
                    market: 0,
                    height: 4212,
                    seq: 18,
                    snapshot: false,
                    bids: Cow::Owned(vec![[6_500_000, 0]]),
                    asks: Cow::Owned(Vec::new()),
                },
                json!({"type": "book", "market": 0, "height": 4212, "seq": 18,
                       "snapshot": false, "bids": [[6_500_000, 0]], "asks": []}),
            ),
        ];
        for (message, expected) in cases {
            let value = serde_json::to_value(&message).expect("JSON");
            assert_eq!(value, expected);
            let back: ServerMessage<'static> = serde_json::from_value(value).expect("parses");
            assert_eq!(back, message);
        }
    }
}
