//! The command-line client: `clobchain keygen | account | faucet | place | cancel |
//! cancel-all | amend | orders | order | tx | book | trades | markets | watch | sign`.
//!
//! ```text
//! arguments (clap) ──► commands.rs ──► units.rs: "0.01" "65000.5" ─► atoms, exactly
//!                          │        ──► keys.rs:  --key devN | key file ─► SigningKey
//!                          │        ──► sign.rs:  decimals ─► PlaceOrder (chain units)
//!                          │        ──► client::tx: signed transaction ─► SignedRequest
//!                          │        ──► client::Client: REST (reqwest) ──► api::wire
//!                          │        ──► watch.rs: websocket, resumes by height
//!                          └──────────► display.rs: decimals for people, or --json
//! ```
//!
//! Keys never leave the client: transactions are signed here and only the signature
//! travels. Signing, requests and REST calls are the `client` crate's, which the load
//! tester and the tests use too:
//!
//! ```
//! use cli::sign::{OrderOptions, human_order};
//! use client::tx::{TxParams, place_transaction, request_for};
//! use matching::Side;
//!
//! let (genesis, keys) = markets::dev::genesis(1);
//! let market = api::wire::MarketJson::new(0, &genesis.markets[0], &genesis.assets);
//! let order = human_order(&market, Side::Buy, "0.01", "65000.50", OrderOptions::default())?;
//! let params = TxParams { chain_id: 1337, nonce: 1, expiry_height: None };
//! let signed = place_transaction(&keys[0], params, order);
//! let request = request_for(&signed);
//! assert_eq!((request.method(), request.path(true).as_str()), ("POST", "/v1/orders?wait=true"));
//! assert_eq!(request.body()["action"]["price"], 6_500_050);
//! # Ok::<(), cli::units::UnitError>(())
//! ```

use std::path::PathBuf;

use clap::{Args, Subcommand, ValueEnum};
use matching::{SelfTradePrevention, Side, TimeInForce};

mod commands;
pub mod display;
pub mod keys;
pub mod sign;
pub mod units;
pub mod watch;

pub use commands::run;

/// Where the client finds the node unless told otherwise.
pub const DEFAULT_NODE: &str = "http://127.0.0.1:8080";
/// The key file commands sign with unless told otherwise.
pub const DEFAULT_KEY: &str = "./clobchain-key.json";

/// The client's subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Create a new random key and write it to a file (mode 0600); prints the account.
    Keygen(KeygenArgs),
    /// An account's balances (available and held, in decimals) and last nonce.
    #[command(visible_alias = "balances")]
    Account(AccountArgs),
    /// Get test funds from a dev chain's faucet.
    Faucet(FaucetArgs),
    /// Sign and submit a new order; waits for its block and prints what happened.
    Place(PlaceArgs),
    /// Cancel one order.
    Cancel(CancelArgs),
    /// Cancel all your orders in a market.
    CancelAll(CancelAllArgs),
    /// Change an order's price and/or remaining quantity.
    Amend(AmendArgs),
    /// An account's open orders.
    Orders(OrdersArgs),
    /// One order, live or recently finished.
    Order(OrderArgs),
    /// A transaction's status, results and book events.
    Tx(TxArgs),
    /// A market's order book as a ladder.
    Book(BookArgs),
    /// A market's recent trades.
    Trades(TradesArgs),
    /// The markets, their tick and lot sizes, and best prices.
    Markets(MarketsArgs),
    /// Follow an account's fills and order updates live (Ctrl-C stops).
    Watch(WatchArgs),
    /// Print a signed request (method, path, JSON body) without sending it.
    #[command(subcommand)]
    Sign(SignCommand),
}

/// What `sign` can sign.
#[derive(Debug, Subcommand)]
pub enum SignCommand {
    /// A new order (`POST /v1/orders`).
    Place(PlaceArgs),
    /// A cancel (`DELETE /v1/orders/{id}`).
    Cancel(CancelArgs),
    /// A cancel of all orders in a market (`POST /v1/transactions`).
    CancelAll(CancelAllArgs),
    /// An amend (`POST /v1/transactions`).
    Amend(AmendArgs),
}

/// Options every command takes.
#[derive(Clone, Debug, Args)]
pub struct ClientArgs {
    /// The node's API.
    #[arg(long, env = "CLOBCHAIN_NODE", default_value = DEFAULT_NODE)]
    pub node: String,
    /// Print the API's JSON instead of the human view.
    #[arg(long)]
    pub json: bool,
}

/// Which key signs.
#[derive(Clone, Debug, Args)]
pub struct KeyArgs {
    /// A key file, or `devN` for entry N of <data>/dev-keys.json.
    #[arg(long, env = "CLOBCHAIN_KEY", default_value = DEFAULT_KEY)]
    pub key: String,
    /// The node's data directory, where `devN` keys are read from.
    #[arg(long, env = "CLOBCHAIN_DATA", default_value = "./data")]
    pub data: PathBuf,
}

/// The transaction fields that are not the action.
#[derive(Clone, Debug, Default, Args)]
pub struct SigningArgs {
    /// Use this nonce instead of max(now in µs, last nonce + 1).
    #[arg(long)]
    pub nonce: Option<u64>,
    /// The last block at which the transaction may execute.
    #[arg(long)]
    pub expiry_height: Option<u64>,
}

/// `keygen`.
#[derive(Clone, Debug, Args)]
pub struct KeygenArgs {
    #[command(flatten)]
    pub node: ClientArgs,
    /// Where to write the key.
    #[arg(long, default_value = DEFAULT_KEY)]
    pub out: PathBuf,
    /// Replace an existing file.
    #[arg(long)]
    pub force: bool,
}

/// `account`.
#[derive(Clone, Debug, Args)]
pub struct AccountArgs {
    #[command(flatten)]
    pub node: ClientArgs,
    #[command(flatten)]
    pub key: KeyArgs,
    /// An account (64 hex characters) or a key (`devN`, a key file); default: --key.
    pub account: Option<String>,
}

/// `faucet`.
#[derive(Clone, Debug, Args)]
pub struct FaucetArgs {
    #[command(flatten)]
    pub node: ClientArgs,
    #[command(flatten)]
    pub key: KeyArgs,
    /// The asset, by symbol (USD) or id.
    #[arg(long)]
    pub asset: String,
    /// How much, in the asset's units (e.g. 100000 USD, 0.5 BTC).
    #[arg(long)]
    pub amount: String,
    /// The account to fund (hex, `devN` or a key file); default: --key's account.
    #[arg(long)]
    pub to: Option<String>,
    /// Answer as soon as the node has queued it.
    #[arg(long)]
    pub no_wait: bool,
}

/// Order side on the command line.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum SideArg {
    /// Buy the base asset.
    Buy,
    /// Sell the base asset.
    Sell,
}

impl From<SideArg> for Side {
    fn from(side: SideArg) -> Side {
        match side {
            SideArg::Buy => Side::Buy,
            SideArg::Sell => Side::Sell,
        }
    }
}

/// Self-trade prevention on the command line.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum SelfTradeArg {
    /// Cancel your resting order and keep matching.
    CancelResting,
    /// Cancel the incoming order's remainder.
    CancelIncoming,
    /// Cancel both.
    CancelBoth,
}

impl From<SelfTradeArg> for SelfTradePrevention {
    fn from(mode: SelfTradeArg) -> SelfTradePrevention {
        match mode {
            SelfTradeArg::CancelResting => SelfTradePrevention::CancelResting,
            SelfTradeArg::CancelIncoming => SelfTradePrevention::CancelIncoming,
            SelfTradeArg::CancelBoth => SelfTradePrevention::CancelBoth,
        }
    }
}

/// `gtc`, `ioc`, `fok` or `gtb:HEIGHT` (good till block HEIGHT).
pub fn parse_time_in_force(text: &str) -> Result<TimeInForce, String> {
    match text.to_ascii_lowercase().as_str() {
        "gtc" => Ok(TimeInForce::GoodTillCancel),
        "ioc" => Ok(TimeInForce::ImmediateOrCancel),
        "fok" => Ok(TimeInForce::FillOrKill),
        other => other
            .strip_prefix("gtb:")
            .and_then(|h| h.parse().ok())
            .map(|h| TimeInForce::GoodTillBlock(matching::Height(h)))
            .ok_or_else(|| format!("{text:?}: expected gtc, ioc, fok or gtb:HEIGHT")),
    }
}

/// `place` (and `sign place`).
#[derive(Clone, Debug, Args)]
pub struct PlaceArgs {
    #[command(flatten)]
    pub node: ClientArgs,
    #[command(flatten)]
    pub key: KeyArgs,
    #[command(flatten)]
    pub tx: SigningArgs,
    /// The market, by symbol (BTC-USD) or id.
    #[arg(long)]
    pub market: String,
    /// buy or sell.
    #[arg(long, value_enum)]
    pub side: SideArg,
    /// Quantity in base units (e.g. 0.01 BTC): a multiple of the market's lot.
    #[arg(long)]
    pub qty: String,
    /// Limit price in quote units per base unit (e.g. 65000.50): on the market's tick.
    /// A "market order" is `--tif ioc` with a protective price.
    #[arg(long)]
    pub price: String,
    /// gtc, ioc, fok or gtb:HEIGHT.
    #[arg(long, default_value = "gtc", value_parser = parse_time_in_force)]
    pub tif: TimeInForce,
    /// Refuse the order rather than let it take liquidity.
    #[arg(long)]
    pub post_only: bool,
    /// Your own id for the order (cancel by it with the API).
    #[arg(long)]
    pub client_id: Option<u64>,
    /// What happens when the order would trade with one of yours.
    #[arg(long, value_enum, default_value = "cancel-resting")]
    pub self_trade: SelfTradeArg,
    /// Answer as soon as the node has queued it, without waiting for its block.
    #[arg(long)]
    pub no_wait: bool,
}

/// `cancel` (and `sign cancel`).
#[derive(Clone, Debug, Args)]
pub struct CancelArgs {
    #[command(flatten)]
    pub node: ClientArgs,
    #[command(flatten)]
    pub key: KeyArgs,
    #[command(flatten)]
    pub tx: SigningArgs,
    /// The order's id.
    pub order_id: u64,
    /// Its market (symbol or id); default: looked up from the order.
    #[arg(long)]
    pub market: Option<String>,
    /// Answer as soon as the node has queued it.
    #[arg(long)]
    pub no_wait: bool,
}

/// `cancel-all` (and `sign cancel-all`).
#[derive(Clone, Debug, Args)]
pub struct CancelAllArgs {
    #[command(flatten)]
    pub node: ClientArgs,
    #[command(flatten)]
    pub key: KeyArgs,
    #[command(flatten)]
    pub tx: SigningArgs,
    /// The market (symbol or id).
    #[arg(long)]
    pub market: String,
    /// Answer as soon as the node has queued it.
    #[arg(long)]
    pub no_wait: bool,
}

/// `amend` (and `sign amend`).
#[derive(Clone, Debug, Args)]
pub struct AmendArgs {
    #[command(flatten)]
    pub node: ClientArgs,
    #[command(flatten)]
    pub key: KeyArgs,
    #[command(flatten)]
    pub tx: SigningArgs,
    /// The order's id.
    pub order_id: u64,
    /// Its market (symbol or id); default: looked up from the order.
    #[arg(long)]
    pub market: Option<String>,
    /// New price in quote units per base unit; default: unchanged.
    #[arg(long)]
    pub price: Option<String>,
    /// New remaining quantity in base units; default: unchanged.
    #[arg(long)]
    pub qty: Option<String>,
    /// Answer as soon as the node has queued it.
    #[arg(long)]
    pub no_wait: bool,
}

/// `orders`.
#[derive(Clone, Debug, Args)]
pub struct OrdersArgs {
    #[command(flatten)]
    pub node: ClientArgs,
    #[command(flatten)]
    pub key: KeyArgs,
    /// An account (hex) or a key (`devN`, a key file); default: --key.
    pub account: Option<String>,
}

/// `order`.
#[derive(Clone, Debug, Args)]
pub struct OrderArgs {
    #[command(flatten)]
    pub node: ClientArgs,
    /// The order's id.
    pub order_id: u64,
}

/// `tx`.
#[derive(Clone, Debug, Args)]
pub struct TxArgs {
    #[command(flatten)]
    pub node: ClientArgs,
    /// The transaction's hash (64 hex characters).
    pub hash: String,
}

/// `book`.
#[derive(Clone, Debug, Args)]
pub struct BookArgs {
    #[command(flatten)]
    pub node: ClientArgs,
    /// The market (symbol or id).
    pub market: String,
    /// Levels a side.
    #[arg(long, default_value_t = 10)]
    pub depth: usize,
}

/// `trades`.
#[derive(Clone, Debug, Args)]
pub struct TradesArgs {
    #[command(flatten)]
    pub node: ClientArgs,
    /// The market (symbol or id).
    pub market: String,
    /// How many recent trades.
    #[arg(long, default_value_t = 20)]
    pub limit: usize,
}

/// `markets`.
#[derive(Clone, Debug, Args)]
pub struct MarketsArgs {
    #[command(flatten)]
    pub node: ClientArgs,
}

/// `watch`.
#[derive(Clone, Debug, Args)]
pub struct WatchArgs {
    #[command(flatten)]
    pub node: ClientArgs,
    #[command(flatten)]
    pub key: KeyArgs,
    /// An account (hex) or a key (`devN`, a key file); default: --key.
    pub account: Option<String>,
    /// Replay from this block (stored blocks), then follow live.
    #[arg(long)]
    pub from_height: Option<u64>,
    /// Also print this market's trades (symbol or id).
    #[arg(long)]
    pub market: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Debug, Parser)]
    struct TestCli {
        #[command(subcommand)]
        command: Command,
    }

    fn parse(args: &[&str]) -> Result<Command, clap::Error> {
        TestCli::try_parse_from(std::iter::once("clobchain").chain(args.iter().copied()))
            .map(|cli| cli.command)
    }

    #[test]
    fn place_takes_every_option() {
        let command = parse(&[
            "place",
            "--market",
            "BTC-USD",
            "--side",
            "buy",
            "--qty",
            "0.01",
            "--price",
            "65000.5",
            "--tif",
            "gtb:120",
            "--post-only",
            "--client-id",
            "9",
            "--self-trade",
            "cancel-both",
            "--no-wait",
            "--key",
            "dev1",
            "--node",
            "http://h:1",
            "--json",
            "--nonce",
            "5",
        ])
        .unwrap();
        let Command::Place(args) = command else {
            panic!("place")
        };
        assert_eq!(args.side, SideArg::Buy);
        assert_eq!(args.tif, TimeInForce::GoodTillBlock(matching::Height(120)));
        assert!(args.post_only && args.no_wait && args.node.json);
        assert_eq!(args.client_id, Some(9));
        assert_eq!(args.self_trade, SelfTradeArg::CancelBoth);
        assert_eq!(
            (args.key.key.as_str(), args.node.node.as_str()),
            ("dev1", "http://h:1")
        );
        assert_eq!(args.tx.nonce, Some(5));
        assert_eq!(
            (args.qty.as_str(), args.price.as_str()),
            ("0.01", "65000.5")
        );
    }

    #[test]
    fn defaults_and_refusals() {
        let Command::Place(args) = parse(&[
            "place", "--market", "0", "--side", "sell", "--qty", "1", "--price", "2",
        ])
        .unwrap() else {
            panic!("place")
        };
        assert_eq!(args.tif, TimeInForce::GoodTillCancel);
        assert_eq!(args.self_trade, SelfTradeArg::CancelResting);
        assert!(!args.no_wait && !args.post_only);
        assert!(
            parse(&[
                "place", "--market", "0", "--side", "up", "--qty", "1", "--price", "2"
            ])
            .is_err()
        );
        assert!(
            parse(&[
                "place", "--market", "0", "--side", "buy", "--qty", "1", "--price", "2", "--tif",
                "gtb"
            ])
            .is_err()
        );
        assert!(parse(&["place", "--market", "0", "--side", "buy"]).is_err());
        assert!(parse(&["cancel", "not-a-number"]).is_err());
    }

    #[test]
    fn the_other_commands_parse() {
        assert!(
            matches!(parse(&["balances", "dev0"]), Ok(Command::Account(a)) if a.account.as_deref() == Some("dev0"))
        );
        assert!(
            matches!(parse(&["keygen", "--out", "k.json", "--force"]), Ok(Command::Keygen(k)) if k.force)
        );
        assert!(
            matches!(parse(&["cancel", "18446744073709551615", "--market", "BTC-USD"]), Ok(Command::Cancel(c)) if c.order_id == u64::MAX)
        );
        assert!(matches!(
            parse(&["cancel-all", "--market", "1"]),
            Ok(Command::CancelAll(_))
        ));
        assert!(
            matches!(parse(&["amend", "5", "--price", "1.5"]), Ok(Command::Amend(a)) if a.qty.is_none())
        );
        assert!(
            matches!(parse(&["book", "ETH-USD", "--depth", "3"]), Ok(Command::Book(b)) if b.depth == 3)
        );
        assert!(matches!(parse(&["trades", "0"]), Ok(Command::Trades(t)) if t.limit == 20));
        assert!(
            matches!(parse(&["watch", "--from-height", "7", "--market", "BTC-USD"]), Ok(Command::Watch(w)) if w.from_height == Some(7))
        );
        assert!(matches!(
            parse(&["faucet", "--asset", "USD", "--amount", "100000"]),
            Ok(Command::Faucet(_))
        ));
        assert!(matches!(
            parse(&["sign", "cancel-all", "--market", "0"]),
            Ok(Command::Sign(SignCommand::CancelAll(_)))
        ));
        assert!(matches!(parse(&["tx", "ab"]), Ok(Command::Tx(_))));
        assert!(matches!(parse(&["orders"]), Ok(Command::Orders(o)) if o.account.is_none()));
        assert!(matches!(parse(&["order", "1"]), Ok(Command::Order(_))));
        assert!(matches!(parse(&["markets", "--json"]), Ok(Command::Markets(m)) if m.node.json));
    }

    #[test]
    fn time_in_force_spellings() {
        assert_eq!(
            parse_time_in_force("IOC"),
            Ok(TimeInForce::ImmediateOrCancel)
        );
        assert_eq!(parse_time_in_force("fok"), Ok(TimeInForce::FillOrKill));
        assert!(parse_time_in_force("gtb:x").is_err());
        assert!(parse_time_in_force("day").is_err());
    }
}
