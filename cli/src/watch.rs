//! `clobchain watch`: an account's fills and order updates (and a market's trades) from
//! the websocket, each printed once, across disconnects.
//!
//! The server sends one message per channel per block, each channel's in height order
//! (`api::ws`). The client also subscribes to `blocks`, *last*: the server delivers a
//! block's channels in a fixed order that ends with `blocks`, and handles a
//! connection's subscriptions one after the other, so a `blocks` message for height `H`
//! means every other channel is complete through `H`. That height is the resume point:
//! after a disconnect, or a `lagged` notice, the client reconnects and subscribes every
//! channel again with `from_height` = that height + 1. A channel may have been printed
//! a little beyond it (its message for `H + 1` arrived, the `blocks` one did not), so
//! each channel also remembers the last height it printed and skips replays at or
//! below it: nothing is missed and nothing is printed twice.

use std::collections::BTreeMap;
use std::time::Duration;

use api::wire::{ChannelName, ClientMessage, EventJson, ServerMessage, SubscribeArgs, UpdateKind};
use client::ws::{self, Connection};
use client::{Client, ClientError};

use super::commands::emit;
use super::display::{Catalog, fill_line, trade_line, update_line};

/// A connection that says nothing for this long is presumed dead (the server sends a
/// heartbeat every few seconds).
const SILENCE_MAX: Duration = Duration::from_secs(90);
/// Longest pause between reconnection attempts.
const BACKOFF_MAX: Duration = Duration::from_secs(5);

/// What to watch.
#[derive(Clone, Debug)]
pub struct WatchOptions {
    /// The account whose fills and order updates are printed.
    pub account: [u8; 32],
    /// Also print this market's trades.
    pub market: Option<u32>,
    /// Start here (replaying stored blocks) rather than at the next block.
    pub from_height: Option<u64>,
    /// Print each message's raw JSON, one a line.
    pub json: bool,
}

/// The exactly-once bookkeeping of a watch: where to resume and what was printed.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Resume {
    /// Every channel is complete through this height.
    complete: Option<u64>,
    /// Per channel, the last height printed.
    printed: BTreeMap<String, u64>,
}

impl Resume {
    /// Starting at `from_height`, or (`None`) at whatever block comes next.
    pub fn new(from_height: Option<u64>) -> Resume {
        Resume {
            complete: from_height.map(|h| h.saturating_sub(1)),
            printed: BTreeMap::new(),
        }
    }

    /// The `from_height` for the next subscriptions; `None` before the first one.
    pub fn from_height(&self) -> Option<u64> {
        self.complete.map(|h| h + 1)
    }

    /// A `subscribed` reply at `height` (the server's cursor): without a `from_height`,
    /// the first one fixes where the watch starts.
    pub fn on_subscribed(&mut self, height: u64) {
        self.complete.get_or_insert(height);
    }

    /// A `blocks` message: every channel is complete through `height`.
    pub fn on_block(&mut self, height: u64) {
        self.complete = Some(self.complete.map_or(height, |c| c.max(height)));
    }

    /// Whether `channel`'s message at `height` is new (and, if so, records it).
    pub fn take(&mut self, channel: &str, height: u64) -> bool {
        match self.printed.get(channel) {
            Some(&last) if height <= last => false,
            _ => {
                self.printed.insert(channel.to_string(), height);
                true
            }
        }
    }
}

/// Why a connection ended.
enum Ended {
    /// Try again from the resume point.
    Retry(String),
    /// Give up.
    Fatal(anyhow::Error),
}

/// Watches until Ctrl-C (or a fatal error, such as a refused subscription).
pub async fn watch(
    client: &Client,
    catalog: &Catalog,
    options: &WatchOptions,
) -> anyhow::Result<()> {
    let mut resume = Resume::new(options.from_height);
    let mut backoff = Duration::from_millis(250);
    let watching = async {
        loop {
            match connection(client, catalog, options, &mut resume).await {
                Ended::Fatal(error) => return Err(error),
                Ended::Retry(reason) => {
                    let from = resume
                        .from_height()
                        .map_or_else(|| "the next block".to_string(), |h| format!("block {h}"));
                    eprintln!("watch: {reason}; reconnecting from {from}");
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(BACKOFF_MAX);
                }
            }
        }
    };
    tokio::select! {
        result = watching => result,
        _ = tokio::signal::ctrl_c() => Ok(()),
    }
}

/// The subscriptions, `blocks` last (see the module docs).
fn subscriptions(options: &WatchOptions, from_height: Option<u64>) -> Vec<SubscribeArgs> {
    let mut subs = vec![
        ws::account_channel(ChannelName::Fills, &options.account),
        ws::account_channel(ChannelName::Orders, &options.account),
    ];
    if let Some(market) = options.market {
        subs.push(ws::market_channel(ChannelName::Trades, market));
    }
    subs.push(ws::blocks_channel());
    for sub in &mut subs {
        sub.from_height = from_height;
    }
    subs
}

async fn connection(
    client: &Client,
    catalog: &Catalog,
    options: &WatchOptions,
    resume: &mut Resume,
) -> Ended {
    let mut socket = match Connection::connect(&client.ws_url()).await {
        Ok(socket) => socket,
        Err(e) => return Ended::Retry(e.to_string()),
    };
    for sub in subscriptions(options, resume.from_height()) {
        if let Err(e) = socket.send(&ClientMessage::Subscribe(sub)).await {
            return Ended::Retry(format!("sending a subscription: {e}"));
        }
    }
    loop {
        let message = match tokio::time::timeout(SILENCE_MAX, socket.next()).await {
            Err(_) => return Ended::Retry(format!("no message for {SILENCE_MAX:?}")),
            Ok(None) => return Ended::Retry("the node closed the connection".into()),
            Ok(Some(Err(e @ ClientError::Unexpected { .. }))) => {
                return Ended::Fatal(anyhow::anyhow!(
                    "the node sent a message this client cannot read: {e}"
                ));
            }
            Ok(Some(Err(e))) => return Ended::Retry(format!("connection lost: {e}")),
            Ok(Some(Ok(message))) => message,
        };
        if let Some(ended) = on_message(catalog, options, resume, &message) {
            return ended;
        }
    }
}

/// Handles one server message; `Some` ends the connection.
fn on_message(
    catalog: &Catalog,
    options: &WatchOptions,
    resume: &mut Resume,
    message: &ServerMessage<'_>,
) -> Option<Ended> {
    let (channel, height) = match message {
        ServerMessage::Subscribed { height, .. } => {
            resume.on_subscribed(*height);
            return None;
        }
        ServerMessage::Blocks { height, .. } => {
            resume.on_block(*height);
            return None;
        }
        ServerMessage::Fills { height, .. } => ("fills".to_string(), *height),
        ServerMessage::Orders { height, .. } => ("orders".to_string(), *height),
        ServerMessage::Trades { market, height, .. } => (format!("trades:{market}"), *height),
        ServerMessage::Lagged { .. } => {
            return Some(Ended::Retry("the node says this client fell behind".into()));
        }
        ServerMessage::Closing { .. } => {
            return Some(Ended::Retry("the node is shutting down".into()));
        }
        ServerMessage::Error { code, message, .. } => {
            return Some(Ended::Fatal(
                ClientError::Api {
                    status: 0,
                    code: code.as_str().to_string(),
                    message: message.clone(),
                }
                .into(),
            ));
        }
        _ => return None,
    };
    if resume.take(&channel, height) {
        print_data(catalog, options, height, message);
    }
    None
}

fn print_data(catalog: &Catalog, options: &WatchOptions, height: u64, message: &ServerMessage<'_>) {
    if options.json {
        // Through a `Value`, as before: keys in sorted order.
        emit(serde_json::to_value(message).expect("wire types always serialize"));
        return;
    }
    let account = hex::encode(options.account);
    let lines: Vec<String> = match message {
        ServerMessage::Fills { data, .. } => data
            .iter()
            .map(|fill| fill_line(catalog, fill, &account))
            .collect(),
        ServerMessage::Orders { data, .. } => data
            .iter()
            // A fill is also an order update; the `fills` channel prints it once.
            .filter(|update| !matches!(update.event, UpdateKind::Book(EventJson::Fill(_))))
            .map(|update| update_line(catalog, update, &account))
            .collect(),
        ServerMessage::Trades { data, .. } => {
            data.iter().map(|fill| trade_line(catalog, fill)).collect()
        }
        _ => Vec::new(),
    };
    for line in lines {
        emit(format_args!("[block {height}] {line}"));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocks_is_subscribed_last_and_every_channel_resumes_together() {
        let options = WatchOptions {
            account: [1; 32],
            market: Some(0),
            from_height: None,
            json: false,
        };
        let subs = subscriptions(&options, Some(7));
        let channels: Vec<ChannelName> = subs.iter().map(|s| s.channel).collect();
        assert_eq!(
            channels,
            [
                ChannelName::Fills,
                ChannelName::Orders,
                ChannelName::Trades,
                ChannelName::Blocks
            ]
        );
        assert!(subs.iter().all(|s| s.from_height == Some(7)));
        assert!(
            subscriptions(&options, None)
                .iter()
                .all(|s| s.from_height.is_none())
        );
    }

    #[test]
    fn a_live_start_resumes_after_the_first_cursor() {
        let mut resume = Resume::new(None);
        assert_eq!(resume.from_height(), None);
        resume.on_subscribed(10);
        resume.on_subscribed(11);
        assert_eq!(resume.from_height(), Some(11));
        resume.on_block(11);
        assert_eq!(resume.from_height(), Some(12));
    }

    /// The connection drops after block 12's fills but before its orders and its
    /// `blocks` message: the next connection replays from 12, prints 12's orders, and
    /// skips 12's fills.
    #[test]
    fn a_replay_after_a_drop_prints_each_message_once() {
        let mut resume = Resume::new(Some(10));
        assert_eq!(resume.from_height(), Some(10));
        // First connection.
        assert!(resume.take("fills", 10));
        assert!(resume.take("orders", 10));
        resume.on_block(10);
        resume.on_block(11);
        assert!(resume.take("fills", 12));
        // Dropped here.
        assert_eq!(resume.from_height(), Some(12));
        // Second connection replays from 12.
        assert!(!resume.take("fills", 12), "already printed");
        assert!(resume.take("orders", 12));
        resume.on_block(12);
        assert!(resume.take("fills", 13));
        assert_eq!(resume.from_height(), Some(13));
        // A replayed blocks message never moves the resume point back.
        resume.on_block(5);
        assert_eq!(resume.from_height(), Some(13));
    }
}
