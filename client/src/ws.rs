//! The node's websocket (`api::ws`): connect, subscribe, and read the server's messages
//! as [`ServerMessage`] values.
//!
//! ```text
//! Connection::connect(url) ──subscribe([SubscribeArgs])──► every `subscribed` seen
//! Connection::next() ──► ServerMessage (trades, book, fills, orders, blocks, lagged, …)
//! ```
//!
//! The bookkeeping on top (what to resume from, what a message means to a caller) is
//! the caller's: `clobchain watch` resumes by height, the load tester counts.

use std::time::Duration;

use api::candles::Interval;
use api::wire::{ChannelName, ClientMessage, MarketRef, ServerMessage, SubscribeArgs};
use futures_util::{SinkExt as _, StreamExt as _};
use markets::SignedTransaction;
use tokio_tungstenite::tungstenite::{Message, Utf8Bytes};

use crate::ClientError;

/// How long [`Connection::subscribe`] waits for the server to confirm.
const SUBSCRIBE_TIMEOUT: Duration = Duration::from_secs(30);

type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// A subscription to a market's channel (`trades`, `book`).
pub fn market_channel(channel: ChannelName, market: u32) -> SubscribeArgs {
    SubscribeArgs {
        channel,
        market: Some(MarketRef::Id(market)),
        interval: None,
        account: None,
        from_height: None,
    }
}

/// A subscription to a market's candles of one interval.
pub fn candles_channel(market: u32, interval: Interval) -> SubscribeArgs {
    SubscribeArgs {
        interval: Some(interval),
        ..market_channel(ChannelName::Candles, market)
    }
}

/// A subscription to an account's channel (`fills`, `orders`).
pub fn account_channel(channel: ChannelName, account: &[u8; 32]) -> SubscribeArgs {
    SubscribeArgs {
        channel,
        market: None,
        interval: None,
        account: Some(hex::encode(account)),
        from_height: None,
    }
}

/// The subscription to every block header.
pub fn blocks_channel() -> SubscribeArgs {
    SubscribeArgs {
        channel: ChannelName::Blocks,
        market: None,
        interval: None,
        account: None,
        from_height: None,
    }
}

/// One websocket connection to a node.
#[derive(Debug)]
pub struct Connection {
    socket: Socket,
    url: String,
}

impl Connection {
    /// Connects to `url` (`ws://…/v1/ws`, see [`crate::Client::ws_url`]).
    pub async fn connect(url: &str) -> Result<Connection, ClientError> {
        let (socket, _) =
            tokio_tungstenite::connect_async(url)
                .await
                .map_err(|e| ClientError::Unreachable {
                    url: url.to_string(),
                    reason: e.to_string(),
                })?;
        Ok(Connection {
            socket,
            url: url.to_string(),
        })
    }

    fn lost(&self, reason: impl std::fmt::Display) -> ClientError {
        ClientError::Unreachable {
            url: self.url.clone(),
            reason: reason.to_string(),
        }
    }

    /// Sends one request.
    pub async fn send(&mut self, message: &ClientMessage) -> Result<(), ClientError> {
        self.send_text(serde_json::to_string(message).expect("wire types always serialize"))
            .await
    }

    /// Sends a text frame as it is: for tests of what the server makes of requests a
    /// well-behaved client would not send.
    pub async fn send_text(&mut self, text: String) -> Result<(), ClientError> {
        self.socket
            .send(Message::text(text))
            .await
            .map_err(|e| self.lost(e))
    }

    /// Sends a transaction for the node to admit (`op: submit`, the transaction as hex);
    /// the answer is a `submitted` or `error` message with this `id`, among the others.
    pub async fn submit(&mut self, id: u64, tx: &SignedTransaction) -> Result<(), ClientError> {
        let request = crate::tx::hex_request(tx);
        self.send(&ClientMessage::Submit { id, request }).await
    }

    /// [`Connection::submit`] as a binary frame: the id (8 bytes, little-endian), then
    /// the transaction's borsh bytes.
    pub async fn submit_binary(
        &mut self,
        id: u64,
        tx: &SignedTransaction,
    ) -> Result<(), ClientError> {
        let mut frame = id.to_le_bytes().to_vec();
        frame.extend_from_slice(&tx.to_bytes());
        self.send_binary(frame).await
    }

    /// Sends a binary frame as it is.
    pub async fn send_binary(&mut self, bytes: Vec<u8>) -> Result<(), ClientError> {
        self.socket
            .send(Message::binary(bytes))
            .await
            .map_err(|e| self.lost(e))
    }

    /// Sends every subscription, then reads until the server has confirmed each. What
    /// arrives meanwhile that is not a confirmation is dropped; a refusal is the API's
    /// error ([`ClientError::Api`] with status 0).
    pub async fn subscribe(&mut self, subscriptions: &[SubscribeArgs]) -> Result<(), ClientError> {
        for args in subscriptions {
            self.send(&ClientMessage::Subscribe(args.clone())).await?;
        }
        let mut confirmed = 0;
        while confirmed < subscriptions.len() {
            let next = tokio::time::timeout(SUBSCRIBE_TIMEOUT, self.next())
                .await
                .map_err(|_| self.lost("no confirmation of the subscriptions"))?;
            match next {
                None => return Err(self.lost("the websocket closed while subscribing")),
                Some(message) => match message? {
                    ServerMessage::Subscribed { .. } => confirmed += 1,
                    ServerMessage::Error { code, message, .. } => {
                        return Err(ClientError::Api {
                            status: 0,
                            code: code.as_str().to_string(),
                            message,
                        });
                    }
                    _ => {}
                },
            }
        }
        Ok(())
    }

    /// The next text frame as it came (for a reader that does not look inside); `None`
    /// once the connection is closed.
    pub async fn next_text(&mut self) -> Option<Result<Utf8Bytes, ClientError>> {
        loop {
            match self.socket.next().await? {
                Ok(Message::Text(text)) => return Some(Ok(text)),
                Ok(Message::Close(_)) => return None,
                Ok(_) => {}
                Err(e) => return Some(Err(self.lost(e))),
            }
        }
    }

    /// The next message; `None` once the connection is closed.
    pub async fn next(&mut self) -> Option<Result<ServerMessage<'static>, ClientError>> {
        let text = match self.next_text().await? {
            Ok(text) => text,
            Err(e) => return Some(Err(e)),
        };
        Some(parse(&text).map_err(|e| ClientError::Unexpected {
            url: self.url.clone(),
            reason: format!("{e} in {}", text.as_str()),
        }))
    }

    /// Closes the connection (politely; errors are of no use to anyone by now).
    pub async fn close(mut self) {
        let _ = self.socket.close(None).await;
    }

    /// Splits the connection into a sending and a reading half, for a client that sends
    /// (submissions) while another task reads the answers.
    pub fn split(self) -> (Sender, Receiver) {
        let (sink, stream) = self.socket.split();
        (
            Sender {
                sink,
                url: self.url.clone(),
            },
            Receiver {
                stream,
                url: self.url,
            },
        )
    }
}

/// The sending half of a [`Connection`].
#[derive(Debug)]
pub struct Sender {
    sink: futures_util::stream::SplitSink<Socket, Message>,
    url: String,
}

impl Sender {
    /// Sends one frame as it is (text or binary).
    pub async fn send(&mut self, message: Message) -> Result<(), ClientError> {
        self.sink
            .send(message)
            .await
            .map_err(|e| ClientError::Unreachable {
                url: self.url.clone(),
                reason: e.to_string(),
            })
    }
}

/// The reading half of a [`Connection`].
#[derive(Debug)]
pub struct Receiver {
    stream: futures_util::stream::SplitStream<Socket>,
    url: String,
}

impl Receiver {
    /// The next message; `None` once the connection is closed.
    pub async fn next(&mut self) -> Option<Result<ServerMessage<'static>, ClientError>> {
        loop {
            let text = match self.stream.next().await? {
                Ok(Message::Text(text)) => text,
                Ok(Message::Close(_)) => return None,
                Ok(_) => continue,
                Err(e) => {
                    return Some(Err(ClientError::Unreachable {
                        url: self.url.clone(),
                        reason: e.to_string(),
                    }));
                }
            };
            return Some(parse(&text).map_err(|e| ClientError::Unexpected {
                url: self.url.clone(),
                reason: format!("{e} in {}", text.as_str()),
            }));
        }
    }
}

/// A websocket frame, for [`Sender::send`].
pub use tokio_tungstenite::tungstenite::Message as Frame;

/// A server message from its JSON text.
pub fn parse(text: &str) -> Result<ServerMessage<'static>, serde_json::Error> {
    serde_json::from_str(text)
}
