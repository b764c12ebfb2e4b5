//! The published read view: an immutable picture of the chain after one block, which
//! every REST read and websocket snapshot uses without touching the chain's state.
//!
//! ```text
//! executor thread, right after block N (it owns the state; nothing else may read it):
//!     view(N) = view(N-1).next(state, block N)   rebuilds only the markets and accounts
//!                                               block N touched; the rest is shared
//! publisher, once block N is durable:   node.view ← Arc<view(N)>   (a pointer swap)
//! REST handler, websocket:              node.view() → Arc<ReadView>, read at leisure
//! ```
//!
//! A reader never waits for a block to execute, be written or be published: it holds an
//! `Arc` of the last published view, and a new view replaces it by a pointer swap. The
//! view of block N is published only once block N is durable, so nothing a client reads
//! can be lost by a crash.
//!
//! The accounts, their keys and the live orders' owners are persistent maps (`imbl`):
//! a block clones the map in O(1) and replaces the entries it touched in O(log n) each,
//! so a view costs what the block changed, not what the chain holds. Each market's
//! depth is rebuilt when a block touches the market (at most [`DEPTH_LEVELS_MAX`] a
//! side), and shared by `Arc` otherwise.

use std::collections::BTreeSet;
use std::sync::Arc;

use markets::{Action, AssetConfig, Balance, ExecutedBlock, Hash, MarketConfig, Outcome, State};
use matching::{AccountId, Event, Price, Side};

use crate::wire::{OrderJson, OrderStatusJson, SideJson};

/// Levels a side kept in a market's view: the deepest book a REST read or a websocket
/// snapshot can show.
pub const DEPTH_LEVELS_MAX: usize = 5_000;

/// The levels of one book that a block changed, each `[price, qty]` with qty 0 for a
/// level that emptied; bids best (highest) first, asks best (lowest) first.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BookDelta {
    /// The market's book sequence number: +1 per delta.
    pub seq: u64,
    pub bids: Vec<[u64; 2]>,
    pub asks: Vec<[u64; 2]>,
}

/// One market after a block. Prices and quantities in chain units (quote atoms per lot,
/// base atoms).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MarketView {
    pub id: u32,
    pub config: MarketConfig,
    /// Best first, at most [`DEPTH_LEVELS_MAX`].
    pub bids: Vec<[u64; 2]>,
    pub asks: Vec<[u64; 2]>,
    pub resting_orders: u64,
    pub trade_seq: u64,
    /// The book's sequence number: +1 for each block that changed a level.
    pub seq: u64,
    /// What the block of this view changed (`None`: nothing, or the view is not from
    /// the block that changed it).
    pub delta: Option<BookDelta>,
    /// The height of the view that last rebuilt this market.
    pub height: u64,
}

impl MarketView {
    pub fn best_bid(&self) -> Option<u64> {
        self.bids.first().map(|l| l[0])
    }

    pub fn best_ask(&self) -> Option<u64> {
        self.asks.first().map(|l| l[0])
    }
}

/// One account after a block.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AccountView {
    pub id: AccountId,
    /// Indexed by asset id.
    pub balances: Vec<Balance>,
    pub last_nonce: Option<u64>,
    /// Its resting orders, markets in id order, each in ascending order id (`height`
    /// unset: see [`ReadView::account_orders`]).
    pub orders: Vec<OrderJson>,
}

/// The chain after one block; see the module docs.
#[derive(Clone, Debug)]
pub struct ReadView {
    pub chain_id: u64,
    pub genesis_hash: Hash,
    pub height: u64,
    pub block_hash: Hash,
    pub timestamp_ms: u64,
    pub assets: Arc<[AssetConfig]>,
    pub markets: Vec<Arc<MarketView>>,
    accounts: imbl::HashMap<[u8; 32], Arc<AccountView>>,
    /// Account keys by account id, and their hex as the JSON shows them: encoded once
    /// per account, not once per event (the feed names an account in every event).
    keys: imbl::Vector<([u8; 32], Arc<str>)>,
    /// The owner of each live order.
    owners: imbl::HashMap<u64, [u8; 32]>,
}

impl ReadView {
    /// The whole view of `state` (at start-up).
    pub fn new(state: &State) -> ReadView {
        let keys: imbl::Vector<([u8; 32], Arc<str>)> = (0..state.account_count())
            .map(|i| key_of(state, AccountId(i as u64)))
            .collect();
        let mut view = ReadView {
            chain_id: state.chain_id().0,
            genesis_hash: state.genesis_hash(),
            height: state.height(),
            block_hash: state.block_hash(),
            timestamp_ms: state.timestamp_ms(),
            assets: state.assets().into(),
            markets: Vec::new(),
            accounts: imbl::HashMap::new(),
            keys,
            owners: imbl::HashMap::new(),
        };
        view.markets = (0..state.markets().len())
            .map(|m| Arc::new(market_view(state, m, 0, None)))
            .collect();
        for i in 0..state.account_count() {
            view.refresh_account(state, AccountId(i as u64));
        }
        view
    }

    /// The view after `block`, which has just been executed on `state` (the view was
    /// of the state before it). Only what the block touched is rebuilt.
    pub fn next(&self, state: &State, block: &ExecutedBlock) -> ReadView {
        assert_eq!(
            block.header.height,
            self.height + 1,
            "views follow the chain block by block"
        );
        assert_eq!(
            state.height(),
            block.header.height,
            "the state is after the block"
        );
        let mut view = self.clone();
        view.height = state.height();
        view.block_hash = state.block_hash();
        view.timestamp_ms = state.timestamp_ms();
        for i in view.keys.len()..state.account_count() {
            let id = AccountId(i as u64);
            view.keys.push_back(key_of(state, id));
        }
        let mut touched: BTreeSet<AccountId> = BTreeSet::new();
        for (m, events) in block.market_events.iter().enumerate() {
            if events.is_empty() {
                // Markets the block left alone keep their depth, but no longer
                // carry an older block's delta.
                if view.markets[m].delta.is_some() {
                    let mut market = (*view.markets[m]).clone();
                    market.delta = None;
                    view.markets[m] = Arc::new(market);
                }
                continue;
            }
            let mut levels = BTreeSet::new();
            for tagged in events {
                touched_levels(&tagged.event, &mut levels);
                touched.extend(event_accounts(&tagged.event).into_iter().flatten());
            }
            let previous = &view.markets[m];
            let delta =
                (!levels.is_empty()).then(|| book_delta(state, m, previous.seq + 1, &levels));
            let seq = previous.seq + u64::from(delta.is_some());
            view.markets[m] = Arc::new(market_view(state, m, seq, delta));
        }
        // Signers (nonces, holds), transfer recipients and new accounts; the fee account
        // whenever anything traded.
        for (tx, receipt) in block.transactions.iter().zip(&block.receipts) {
            if matches!(receipt.outcome, Outcome::Rejected(_)) {
                continue;
            }
            let signed = &tx.signed().transaction;
            touched.extend(state.account_id(&signed.signer));
            if let Action::Transfer(transfer) = &signed.action {
                touched.extend(state.account_id(&transfer.to));
            }
        }
        if block
            .market_events
            .iter()
            .flatten()
            .any(|t| matches!(t.event, Event::Fill(_)))
        {
            touched.insert(state.fee_account());
        }
        for id in touched {
            view.refresh_account(state, id);
        }
        view
    }

    fn refresh_account(&mut self, state: &State, id: AccountId) {
        let account = state.account(id).expect("touched accounts exist");
        let key = *account.key.as_bytes();
        if let Some(old) = self.accounts.get(&key) {
            for order in &old.orders {
                self.owners.remove(&order.order_id);
            }
        }
        let mut orders = Vec::new();
        for (m, market) in state.markets().iter().enumerate() {
            for order in market.book.account_orders(id) {
                orders.push(order_json(state, m, &order, &key));
            }
        }
        for order in &orders {
            self.owners.insert(order.order_id, key);
        }
        self.accounts.insert(
            key,
            Arc::new(AccountView {
                id,
                balances: account.balances.clone(),
                last_nonce: account.nonces.highest(),
                orders,
            }),
        );
    }

    pub fn account(&self, key: &[u8; 32]) -> Option<&AccountView> {
        self.accounts.get(key).map(|a| &**a)
    }

    /// An account's key by its id (`None` for an id the view does not know).
    pub fn key(&self, id: AccountId) -> Option<[u8; 32]> {
        usize::try_from(id.0)
            .ok()
            .and_then(|i| self.keys.get(i).map(|(key, _)| *key))
    }

    /// An account's key in hex (`None` for an id the view does not know).
    pub fn key_hex(&self, id: AccountId) -> Option<&str> {
        usize::try_from(id.0)
            .ok()
            .and_then(|i| self.keys.get(i).map(|(_, hex)| &**hex))
    }

    /// A live order, as of this view.
    pub fn order(&self, order_id: u64) -> Option<OrderJson> {
        let owner = self.owners.get(&order_id)?;
        let order = self
            .accounts
            .get(owner)?
            .orders
            .iter()
            .find(|o| o.order_id == order_id)?;
        Some(OrderJson {
            height: self.height,
            ..order.clone()
        })
    }

    /// An account's live orders, as of this view (markets in id order, each in
    /// ascending order id).
    pub fn account_orders(&self, key: &[u8; 32]) -> Vec<OrderJson> {
        self.accounts.get(key).map_or_else(Vec::new, |account| {
            account
                .orders
                .iter()
                .map(|o| OrderJson {
                    height: self.height,
                    ..o.clone()
                })
                .collect()
        })
    }

    /// A market by id (`"0"`) or symbol (`"BTC-USD"`, any case).
    pub fn find_market(&self, name: &str) -> Option<u32> {
        if let Ok(id) = name.parse::<u32>()
            && (id as usize) < self.markets.len()
        {
            return Some(id);
        }
        self.markets
            .iter()
            .position(|m| m.config.symbol.eq_ignore_ascii_case(name))
            .map(|i| u32::try_from(i).expect("markets are few"))
    }

    /// Panics unless this view is exactly what [`ReadView::new`] builds from `state`
    /// (deltas and sequence numbers aside, which only the block-by-block path knows).
    /// Tests call it after every block.
    pub fn check_invariants(&self, state: &State) {
        let full = ReadView::new(state);
        assert_eq!(self.height, full.height, "view height");
        assert_eq!(self.block_hash, full.block_hash, "view block hash");
        assert_eq!(self.keys, full.keys, "account keys");
        assert_eq!(self.accounts.len(), full.accounts.len(), "accounts");
        for (key, account) in &full.accounts {
            assert_eq!(
                self.accounts.get(key),
                Some(account),
                "account {}",
                hex::encode(key)
            );
        }
        assert_eq!(self.owners, full.owners, "live order owners");
        for (mine, theirs) in self.markets.iter().zip(&full.markets) {
            let strip = |m: &MarketView| MarketView {
                seq: 0,
                delta: None,
                height: 0,
                ..m.clone()
            };
            assert_eq!(strip(mine), strip(theirs), "market {}", mine.id);
            if let Some(delta) = &mine.delta {
                assert_eq!(delta.seq, mine.seq, "a delta carries its market's sequence");
            }
        }
    }
}

fn key_of(state: &State, id: AccountId) -> ([u8; 32], Arc<str>) {
    let key = *state
        .account(id)
        .expect("account ids are dense")
        .key
        .as_bytes();
    (key, hex::encode(key).into())
}

fn market_view(state: &State, m: usize, seq: u64, delta: Option<BookDelta>) -> MarketView {
    let market = &state.markets()[m];
    let p = &market.config.params;
    let side = |s: Side| -> Vec<[u64; 2]> {
        market
            .book
            .depth(s, DEPTH_LEVELS_MAX)
            .into_iter()
            .map(|(price, qty)| [price.0 * p.tick_size, qty.0 * p.lot_size])
            .collect()
    };
    MarketView {
        id: u32::try_from(m).expect("markets are few"),
        config: market.config.clone(),
        bids: side(Side::Buy),
        asks: side(Side::Sell),
        resting_orders: market.book.len() as u64,
        trade_seq: market.book.trade_seq(),
        seq,
        delta,
        height: state.height(),
    }
}

fn book_delta(state: &State, m: usize, seq: u64, levels: &BTreeSet<(Side, Price)>) -> BookDelta {
    let market = &state.markets()[m];
    let p = &market.config.params;
    let mut bids = Vec::new();
    let mut asks = Vec::new();
    for &(side, price) in levels {
        let level = [
            price.0 * p.tick_size,
            market.book.level_qty(side, price).0 * p.lot_size,
        ];
        match side {
            Side::Buy => bids.push(level),
            Side::Sell => asks.push(level),
        }
    }
    bids.reverse(); // best (highest) first, like the snapshot
    BookDelta { seq, bids, asks }
}

fn order_json(
    state: &State,
    m: usize,
    order: &matching::RestingOrder,
    key: &[u8; 32],
) -> OrderJson {
    let p = &state.markets()[m].config.params;
    OrderJson {
        order_id: order.order_id.0,
        market: u32::try_from(m).expect("markets are few"),
        account: hex::encode(key),
        client_order_id: order.client_order_id.map(|c| c.0),
        side: SideJson::from(order.side),
        price: order.price.0 * p.tick_size,
        qty_remaining: order.qty.0 * p.lot_size,
        qty_filled: None,
        status: OrderStatusJson::Open,
        expiry_height: order.expiry.map(|h| h.0),
        // A live order is as of the view it is read from: the reader sets the height
        // (the view shares this entry with later views that did not touch it).
        height: 0,
    }
}

/// The price levels an event changes.
pub(crate) fn touched_levels(event: &Event, levels: &mut BTreeSet<(Side, Price)>) {
    match *event {
        Event::Fill(f) => {
            levels.insert((f.taker_side.opposite(), f.price));
        }
        Event::Rested { side, price, .. }
        | Event::Cancelled { side, price, .. }
        | Event::Expired { side, price, .. } => {
            levels.insert((side, price));
        }
        Event::Amended {
            side,
            old_price,
            price,
            ..
        } => {
            levels.insert((side, old_price));
            levels.insert((side, price));
        }
        Event::Accepted { .. } | Event::Rejected { .. } => {}
    }
}

/// The accounts an event concerns.
pub(crate) fn event_accounts(event: &Event) -> [Option<AccountId>; 2] {
    match *event {
        Event::Fill(f) => [Some(f.maker_account), Some(f.taker_account)],
        Event::Accepted { account, .. }
        | Event::Rested { account, .. }
        | Event::Amended { account, .. }
        | Event::Cancelled { account, .. }
        | Event::Expired { account, .. } => [Some(account), None],
        Event::Rejected { account, .. } => [account, None],
    }
}
