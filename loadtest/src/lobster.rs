//! Real Nasdaq order flow: LOBSTER's free sample files (AAPL and AMZN, 2012-06-21,
//! level 1), read straight from their zips, replayed against [`matching::Book`] as a
//! check of price-time priority on real data, and recorded as a benchmark workload.
//!
//! ```text
//!   LOBSTER_SampleFile_<SYMBOL>_<date>_1.zip ──► Day::load ──► Day { messages, top_of_book }
//!                                                                  │
//!                                   ┌──────────────────────────────┴────────────┐
//!                                   ▼                                           ▼
//!             replay(&day) -> ReplayReport                  workload(&day) -> Vec<Command>
//!             (tests/it/lobster.rs)                         (benches/lobster.rs)
//! ```
//!
//! The data is part of the project's shared material, never of this repository: it is
//! read at run time from `$CLOBCHAIN_LOBSTER_DIR`, or else from `../shared/data/lobster`
//! beside the workspace ([`data_dir`]). Its README.md describes the format and the
//! replay method this module follows.
//!
//! # The replay
//!
//! One book per day, in LOBSTER's own units: a tick is one cent (prices in the files are
//! dollars × 10,000, so [`market_params`] has `tick_size` 100) and a lot is one share.
//! Every LOBSTER order gets its own account (the order id), so self-trade prevention
//! never triggers; every taker order belongs to [`TAKER_ACCOUNT`].
//!
//! - type 1 (new order): a good-till-cancel limit order. They never cross in this data
//!   once the book is kept in step (below); one that would is skipped and counted.
//! - type 2 (partial cancel): an [`Command::Amend`] lowering the remaining quantity,
//!   which keeps the order's place in its queue (a cancel if nothing would be left).
//! - type 3 (delete): a [`Command::Cancel`].
//! - type 4 (visible execution): each run of consecutive type-4 rows sharing a timestamp
//!   and a direction is one execution *group*, sent as one immediate-or-cancel order from
//!   the other side for the summed size, limited at the worst executed price.
//! - types 5 (hidden execution), 6 (cross trade) and 7 (halt) change nothing visible.
//!
//! Events on orders the book does not hold (resting since before 09:30, outside the
//! recorded level, or already gone from our book) are skipped: a partial cancel or
//! delete of such an order is dropped, and so is a group's row naming such a maker,
//! the rest of the group still being sent.
//!
//! **Keeping in step.** A level-1 file only shows events at the best price: an order
//! that stops being the best and is later cancelled leaves no trace. So after every
//! message (and after every group) the replay cancels each of its resting orders priced
//! better than Nasdaq's best on that side, or any on a side Nasdaq shows empty. These
//! cancels are part of the recorded workload.
//!
//! **Checking.** A group is *determinable* when every resting order it names is live in
//! our book and, just before it, Nasdaq's orderbook row shows the group's first
//! executed price as the best on the resting side with exactly the quantity our book
//! holds there. A group is *reproduced* when our fills name the same resting orders with
//! the same sizes in the same order as Nasdaq's rows. [`ReplayReport`] counts both, and
//! sorts every group whose makers were all known but that was not reproduced into one
//! [`Disagreement`] class.
//!
//! **Against the README's reference numbers.** The README quotes an independent
//! implementation reproducing 99.6% of 10,042 determinable AAPL groups and 99.8% of
//! 3,738 AMZN groups. This replay reproduces about the same shares of somewhat more
//! groups (`tests/it/lobster.rs` records the numbers) because it still sends the known
//! rows of a group that names an unknown maker, which keeps the book closer to Nasdaq's.
//! Sending nothing for such groups brings the counts within 0.3% (AAPL) and 1.2% (AMZN)
//! of the README's, and if [`Disagreement::FillsReordered`] then also counts as
//! reproduced, the shares are 99.6% and 99.8%, which suggests the reference compared fills
//! of one nanosecond whatever the order they are listed in.

use std::fmt;
use std::fs::File;
use std::io::Read as _;
use std::path::{Path, PathBuf};

use matching::{
    AccountId, Book, BookDigest, Command, Event, MarketParams, NewOrder, OrderId, OrderRef, Price,
    Qty, SelfTradePrevention, Side, TimeInForce,
};

/// Environment variable naming the folder that holds the LOBSTER sample zips.
pub const DATA_DIR_ENV: &str = "CLOBCHAIN_LOBSTER_DIR";

/// The symbols of the sample files in the project's shared material.
pub const SYMBOLS: [&str; 2] = ["AAPL", "AMZN"];

/// LOBSTER price units (dollars × 10,000) in one tick: one cent.
pub const PRICE_UNITS_PER_TICK: u64 = 100;

/// The account of every taker (execution group) order. LOBSTER order ids are below
/// [`TAKER_ORDER_ID_BASE`], so no maker account can be this one.
pub const TAKER_ACCOUNT: AccountId = AccountId(u64::MAX);

/// Taker orders get ids from here up, one per execution group. Parsing refuses LOBSTER
/// order ids at or above it, so the two ranges never meet.
pub const TAKER_ORDER_ID_BASE: u64 = 1 << 62;

/// The replay calls [`Book::check_invariants`] after this many messages (and at the end).
pub const INVARIANT_CHECK_EVERY: usize = 10_000;

/// Highest price, in ticks: $100,000, far above either stock ($220 and $590).
const PRICE_TICKS_MAX: u64 = 10_000_000;
/// Largest order, in shares.
const QTY_LOTS_MAX: u64 = 10_000_000;
/// The replay holds a few hundred orders at a time; this is room to spare.
const ORDERS_PER_BOOK_MAX: u32 = 1_000_000;
/// Every maker has its own account, so one order per account would do; the taker never
/// rests.
const ORDERS_PER_ACCOUNT_MAX: u32 = 1_000;
/// LOBSTER's price for the missing side of an empty book (negated for bids).
const EMPTY_SIDE_PRICE_UNITS: i64 = 9_999_999_999;

const _: () = assert!(ORDERS_PER_ACCOUNT_MAX <= ORDERS_PER_BOOK_MAX);
const _: () = assert!(ORDERS_PER_BOOK_MAX <= matching::limits::ORDERS_PER_BOOK_MAX);
const _: () = assert!(QTY_LOTS_MAX <= matching::limits::QTY_LOTS_MAX);
const _: () = assert!(PRICE_TICKS_MAX <= matching::limits::PRICE_TICKS_MAX);

/// The market the replay runs: one-cent ticks, one-share lots, generous limits.
pub const fn market_params() -> MarketParams {
    MarketParams {
        tick_size: PRICE_UNITS_PER_TICK,
        lot_size: 1,
        price_ticks_max: Price(PRICE_TICKS_MAX),
        qty_lots_min: Qty(1),
        qty_lots_max: Qty(QTY_LOTS_MAX),
        orders_per_account_max: ORDERS_PER_ACCOUNT_MAX,
        orders_per_book_max: ORDERS_PER_BOOK_MAX,
    }
}

/// Why a day could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum LobsterError {
    /// The data folder does not exist.
    #[error(
        "LOBSTER data folder {} not found (it comes from {origin}); it is part of the \
         project's shared material: point {DATA_DIR_ENV} at the folder holding \
         LOBSTER_SampleFile_<SYMBOL>_<date>_1.zip",
        path.display()
    )]
    DataDirMissing { path: PathBuf, origin: &'static str },
    /// No sample zip for the symbol in the data folder.
    #[error("no LOBSTER_SampleFile_{symbol}_*.zip in {}", dir.display())]
    ZipMissing { symbol: String, dir: PathBuf },
    #[error("cannot read {}: {source}", path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot read zip {}: {source}", path.display())]
    Zip {
        path: PathBuf,
        source: zip::result::ZipError,
    },
    /// The zip holds no `*_message_*.csv` (or `*_orderbook_*.csv`).
    #[error("zip {} holds no {what} file", path.display())]
    MemberMissing { path: PathBuf, what: &'static str },
    /// A row that does not follow LOBSTER's format.
    #[error("{file}, line {line}: {reason}")]
    Parse {
        file: String,
        line: usize,
        reason: String,
    },
    /// The orderbook file must have one row per message row.
    #[error("{file}: {book_rows} orderbook rows for {message_rows} message rows")]
    RowCount {
        file: String,
        message_rows: usize,
        book_rows: usize,
    },
}

/// Where the LOBSTER zips are: `$CLOBCHAIN_LOBSTER_DIR` if set, else
/// `../shared/data/lobster` beside the workspace. A folder that does not exist is an
/// error saying how to fix it.
pub fn data_dir() -> Result<PathBuf, LobsterError> {
    let (path, origin) = match std::env::var_os(DATA_DIR_ENV) {
        Some(dir) => (PathBuf::from(dir), "$CLOBCHAIN_LOBSTER_DIR"),
        None => (
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/data/lobster"),
            "the default, ../shared/data/lobster beside the workspace",
        ),
    };
    if path.is_dir() {
        Ok(path)
    } else {
        Err(LobsterError::DataDirMissing { path, origin })
    }
}

/// A time of day in nanoseconds after midnight. LOBSTER writes seconds with up to nine
/// decimals; they are kept exact as an integer, never as a float.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp(pub u64);

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}.{:09}",
            self.0 / 1_000_000_000,
            self.0 % 1_000_000_000
        )
    }
}

/// What a message row reports (LOBSTER's `type` column).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum MessageKind {
    /// 1: a new limit order.
    NewOrder = 1,
    /// 2: part of an order cancelled; `size` is the amount removed.
    PartialCancel = 2,
    /// 3: an order deleted.
    Delete = 3,
    /// 4: a visible resting order executed.
    ExecuteVisible = 4,
    /// 5: a hidden order executed (order id 0).
    ExecuteHidden = 5,
    /// 6: a cross trade (opening or closing auction).
    CrossTrade = 6,
    /// 7: trading halted, quoting resumed or trading resumed (see the price).
    Halt = 7,
}

impl MessageKind {
    fn from_code(code: i64) -> Option<MessageKind> {
        Some(match code {
            1 => MessageKind::NewOrder,
            2 => MessageKind::PartialCancel,
            3 => MessageKind::Delete,
            4 => MessageKind::ExecuteVisible,
            5 => MessageKind::ExecuteHidden,
            6 => MessageKind::CrossTrade,
            7 => MessageKind::Halt,
            _ => return None,
        })
    }
}

/// One row of the message file.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Message {
    pub time: Timestamp,
    pub kind: MessageKind,
    /// LOBSTER's order reference number (0 for hidden executions and halts).
    pub order_id: u64,
    /// Shares.
    pub size: u64,
    /// Dollars × 10,000 (one cent is 100). Halt rows carry -1, 0 or 1 here.
    pub price_units: i64,
    /// The side of the order; for executions the side of the *resting* order.
    pub side: Side,
}

/// One side of a level-1 orderbook row.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Quote {
    /// Dollars × 10,000.
    pub price_units: u64,
    /// Shares.
    pub size: u64,
}

/// One row of the orderbook file: Nasdaq's best ask and bid after the message of the
/// same row. `None` for a side Nasdaq shows empty.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct TopOfBook {
    pub ask: Option<Quote>,
    pub bid: Option<Quote>,
}

impl TopOfBook {
    /// The quote on `side`.
    pub fn quote(&self, side: Side) -> Option<Quote> {
        match side {
            Side::Buy => self.bid,
            Side::Sell => self.ask,
        }
    }
}

/// One trading day of one symbol: the message file and, row for row, the book after it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Day {
    pub symbol: String,
    /// As in the file names, e.g. `2012-06-21`.
    pub date: String,
    pub messages: Vec<Message>,
    /// `top_of_book[i]` is Nasdaq's level-1 book after `messages[i]`.
    pub top_of_book: Vec<TopOfBook>,
}

impl Day {
    /// Loads `symbol`'s sample day from [`data_dir`].
    pub fn load(symbol: &str) -> Result<Day, LobsterError> {
        let dir = data_dir()?;
        let prefix = format!("LOBSTER_SampleFile_{symbol}_");
        let entries = std::fs::read_dir(&dir).map_err(|source| LobsterError::Io {
            path: dir.clone(),
            source,
        })?;
        let mut zips: Vec<PathBuf> = Vec::new();
        for entry in entries {
            let entry = entry.map_err(|source| LobsterError::Io {
                path: dir.clone(),
                source,
            })?;
            let name = entry.file_name();
            let name = name.to_string_lossy();
            if name.starts_with(&prefix) && name.ends_with(".zip") {
                zips.push(entry.path());
            }
        }
        // Directory order is the file system's; the smallest name wins, always the same.
        zips.sort();
        match zips.first() {
            Some(path) => Day::from_zip(path),
            None => Err(LobsterError::ZipMissing {
                symbol: symbol.to_owned(),
                dir,
            }),
        }
    }

    /// Reads a LOBSTER sample zip: its `*_message_*.csv` and `*_orderbook_*.csv`, without
    /// unpacking anything to disk.
    pub fn from_zip(path: &Path) -> Result<Day, LobsterError> {
        let zip_error = |source| LobsterError::Zip {
            path: path.to_owned(),
            source,
        };
        let file = File::open(path).map_err(|source| LobsterError::Io {
            path: path.to_owned(),
            source,
        })?;
        let mut archive = zip::ZipArchive::new(file).map_err(zip_error)?;
        let names: Vec<String> = archive
            .file_names()
            .map(|name| name.map(|n| n.into_owned()))
            .collect::<Result<_, _>>()
            .map_err(zip_error)?;
        let member = |what: &'static str| {
            let marker = format!("_{what}_");
            names
                .iter()
                .find(|name| name.contains(&marker) && name.ends_with(".csv"))
                .cloned()
                .ok_or_else(|| LobsterError::MemberMissing {
                    path: path.to_owned(),
                    what,
                })
        };
        let message_name = member("message")?;
        let book_name = member("orderbook")?;
        let mut read = |name: &str| -> Result<String, LobsterError> {
            let mut text = String::new();
            archive
                .by_name(name)
                .map_err(zip_error)?
                .read_to_string(&mut text)
                .map_err(|source| LobsterError::Io {
                    path: path.join(name),
                    source,
                })?;
            Ok(text)
        };
        let messages = parse_messages(&message_name, &read(&message_name)?)?;
        let top_of_book = parse_top_of_book(&book_name, &read(&book_name)?)?;
        if messages.len() != top_of_book.len() {
            return Err(LobsterError::RowCount {
                file: book_name,
                message_rows: messages.len(),
                book_rows: top_of_book.len(),
            });
        }
        // `AAPL_2012-06-21_34200000_57600000_message_1.csv`: symbol, then date.
        let mut fields = message_name.rsplit('/').next().unwrap_or("").split('_');
        let symbol = fields.next().unwrap_or("").to_owned();
        let date = fields.next().unwrap_or("").to_owned();
        Ok(Day {
            symbol,
            date,
            messages,
            top_of_book,
        })
    }
}

/// Parses a message file: `time,type,order_id,size,price,direction` per row, no header.
fn parse_messages(file: &str, text: &str) -> Result<Vec<Message>, LobsterError> {
    let mut messages = Vec::new();
    for (index, line) in text.lines().enumerate() {
        let line = line.trim_end_matches('\r');
        if line.is_empty() {
            continue;
        }
        let error = |reason: String| LobsterError::Parse {
            file: file.to_owned(),
            line: index + 1,
            reason,
        };
        let fields: Vec<&str> = line.split(',').collect();
        let [time, kind, order_id, size, price, direction] = fields[..] else {
            return Err(error(format!("{} fields, expected 6", fields.len())));
        };
        let time = parse_time(time).ok_or_else(|| error(format!("bad time {time:?}")))?;
        let kind = integer(kind)
            .and_then(MessageKind::from_code)
            .ok_or_else(|| error(format!("bad type {kind:?}")))?;
        let order_id = integer(order_id)
            .and_then(|id| u64::try_from(id).ok())
            .filter(|&id| id < TAKER_ORDER_ID_BASE)
            .ok_or_else(|| error(format!("bad order id {order_id:?}")))?;
        let size = integer(size)
            .and_then(|size| u64::try_from(size).ok())
            .ok_or_else(|| error(format!("bad size {size:?}")))?;
        let price_units = integer(price).ok_or_else(|| error(format!("bad price {price:?}")))?;
        let side = match integer(direction) {
            Some(1) => Side::Buy,
            Some(-1) => Side::Sell,
            _ => return Err(error(format!("bad direction {direction:?}"))),
        };
        messages.push(Message {
            time,
            kind,
            order_id,
            size,
            price_units,
            side,
        });
    }
    Ok(messages)
}

/// Parses an orderbook file, keeping level 1 (its first four columns) of each row:
/// `ask_price, ask_size, bid_price, bid_size`.
fn parse_top_of_book(file: &str, text: &str) -> Result<Vec<TopOfBook>, LobsterError> {
    let mut rows = Vec::new();
    for (index, line) in text.lines().enumerate() {
        let line = line.trim_end_matches('\r');
        if line.is_empty() {
            continue;
        }
        let error = |reason: String| LobsterError::Parse {
            file: file.to_owned(),
            line: index + 1,
            reason,
        };
        let fields: Vec<&str> = line.split(',').collect();
        if fields.len() < 4 || !fields.len().is_multiple_of(4) {
            return Err(error(format!(
                "{} fields, expected 4 per level",
                fields.len()
            )));
        }
        let quote = |price: &str, size: &str, empty_price: i64| {
            let (Some(price_units), Some(size)) = (integer(price), integer(size)) else {
                return Err(error(format!("bad quote {price:?},{size:?}")));
            };
            match (u64::try_from(price_units), u64::try_from(size)) {
                (_, Ok(0)) if price_units == empty_price => Ok(None),
                (Ok(price_units), Ok(size)) if price_units > 0 && size > 0 => {
                    Ok(Some(Quote { price_units, size }))
                }
                _ => Err(error(format!("bad quote {price_units},{size}"))),
            }
        };
        rows.push(TopOfBook {
            ask: quote(fields[0], fields[1], EMPTY_SIDE_PRICE_UNITS)?,
            bid: quote(fields[2], fields[3], -EMPTY_SIDE_PRICE_UNITS)?,
        });
    }
    Ok(rows)
}

fn integer(text: &str) -> Option<i64> {
    text.trim().parse().ok()
}

/// `34200.004241176` → nanoseconds after midnight. Fewer than nine decimals are padded
/// (the files drop trailing zeros); more are refused.
fn parse_time(text: &str) -> Option<Timestamp> {
    let (seconds, fraction) = text.split_once('.').unwrap_or((text, ""));
    let digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    if seconds.is_empty() || !digits(seconds) || !digits(fraction) || fraction.len() > 9 {
        return None;
    }
    let seconds: u64 = seconds.parse().ok()?;
    let mut nanos: u64 = if fraction.is_empty() {
        0
    } else {
        fraction.parse().ok()?
    };
    for _ in fraction.len()..9 {
        nanos *= 10;
    }
    seconds
        .checked_mul(1_000_000_000)?
        .checked_add(nanos)
        .map(Timestamp)
}

/// Messages of each type.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct MessageCounts {
    pub new_orders: u64,
    pub partial_cancels: u64,
    pub deletes: u64,
    pub executions_visible: u64,
    pub executions_hidden: u64,
    pub cross_trades: u64,
    pub halts: u64,
}

impl MessageCounts {
    pub fn total(&self) -> u64 {
        self.new_orders
            + self.partial_cancels
            + self.deletes
            + self.executions_visible
            + self.executions_hidden
            + self.cross_trades
            + self.halts
    }

    fn count(&mut self, kind: MessageKind) {
        *match kind {
            MessageKind::NewOrder => &mut self.new_orders,
            MessageKind::PartialCancel => &mut self.partial_cancels,
            MessageKind::Delete => &mut self.deletes,
            MessageKind::ExecuteVisible => &mut self.executions_visible,
            MessageKind::ExecuteHidden => &mut self.executions_hidden,
            MessageKind::CrossTrade => &mut self.cross_trades,
            MessageKind::Halt => &mut self.halts,
        } += 1;
    }
}

/// Why a group whose makers were all known was not reproduced. Each such group gets the
/// first class that fits, in this order, looking at the first fill where our fills and
/// Nasdaq's part ways.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Disagreement {
    /// The same fills (resting orders and sizes), listed in another order. LOBSTER lists
    /// the executions of one nanosecond in the order of Nasdaq's feed, which is not
    /// always the queue order: e.g. two whole orders at one price, the younger listed
    /// first. Nothing is wrong with either book here.
    FillsReordered = 0,
    /// Our order ran out of crossing liquidity before Nasdaq's fills did: our book held
    /// less than Nasdaq's within the limit price.
    LiquidityShort = 1,
    /// The first difference lies beyond the group's first executed price, in a level the
    /// level-1 file never showed before the sweep reached it. Our deeper levels can hold
    /// orders Nasdaq no longer had (cancelled while not at the best, which leaves no
    /// trace in a level-1 file), and the determinability check sees the first level only.
    DeeperLevel = 2,
    /// Nasdaq executed hidden liquidity (type 5) in the same burst: a hidden execution
    /// with the same timestamp and side directly before or after the group. Nasdaq's
    /// matching interleaved orders we cannot see, and the listing order of such bursts
    /// is not always the priority order.
    HiddenNearby = 3,
    /// At the group's first price, Nasdaq filled a different resting order than we did:
    /// its queue there was not the order of arrival in the file (typically a just-placed
    /// order filled ahead of older ones), although the level's total agreed.
    DifferentMaker = 4,
    /// The same resting order, filled for a different size: our view of what was left of
    /// it (or of what was ahead of it) differs from Nasdaq's, usually after an earlier
    /// disagreement at the same level.
    SizeDiffers = 5,
}

impl Disagreement {
    /// Every class, in the order they are tried.
    pub const ALL: [Disagreement; 6] = [
        Disagreement::FillsReordered,
        Disagreement::LiquidityShort,
        Disagreement::DeeperLevel,
        Disagreement::HiddenNearby,
        Disagreement::DifferentMaker,
        Disagreement::SizeDiffers,
    ];

    pub const fn name(self) -> &'static str {
        match self {
            Disagreement::FillsReordered => "fills reordered",
            Disagreement::LiquidityShort => "liquidity short",
            Disagreement::DeeperLevel => "deeper level",
            Disagreement::HiddenNearby => "hidden nearby",
            Disagreement::DifferentMaker => "different maker",
            Disagreement::SizeDiffers => "size differs",
        }
    }
}

/// Groups not reproduced, by [`Disagreement`] class.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Disagreements([u64; 6]);

impl Disagreements {
    pub fn get(&self, class: Disagreement) -> u64 {
        self.0[class as usize]
    }

    pub fn total(&self) -> u64 {
        self.0.iter().sum()
    }

    fn add(&mut self, class: Disagreement) {
        self.0[class as usize] += 1;
    }
}

impl fmt::Display for Disagreements {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, class) in Disagreement::ALL.into_iter().enumerate() {
            let separator = if i == 0 { "" } else { ", " };
            write!(f, "{separator}{} {}", class.name(), self.get(class))?;
        }
        Ok(())
    }
}

/// What a replay found. Every execution group falls in exactly one of: unknown maker,
/// level mismatch, determinable; and every group with all makers known is either
/// reproduced or counted in one [`Disagreement`] class.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReplayReport {
    pub symbol: String,
    pub date: String,
    /// Message rows of each type.
    pub messages: MessageCounts,

    /// New orders skipped because their price is not a whole number of cents.
    pub new_orders_off_tick: u64,
    /// New orders skipped because they would have traded on arrival in our book.
    pub new_orders_crossing: u64,
    /// Partial cancels skipped: the order is not in our book.
    pub partial_cancels_unknown: u64,
    /// Partial cancels that removed all that was left of the order in our book (sent as
    /// a cancel).
    pub partial_cancels_emptying: u64,
    /// Deletes skipped: the order is not in our book.
    pub deletes_unknown: u64,
    /// Execution rows skipped: the resting order is not in our book.
    pub executions_unknown: u64,
    /// Our resting orders cancelled to keep in step with Nasdaq's best prices.
    pub stale_orders_dropped: u64,
    /// Top-of-book comparisons: one after each message outside groups and one after each
    /// group (against the group's last row).
    pub top_checks: u64,
    /// Comparisons where our best price and its quantity agree with Nasdaq's on both
    /// sides (or both books have the side empty).
    pub top_agreeing: u64,

    /// Execution groups (runs of type-4 rows with one timestamp and direction).
    pub groups: u64,
    /// Groups naming at least one resting order our book does not hold. Only their
    /// known rows are sent; they are not compared.
    pub groups_unknown_maker: u64,
    /// Groups whose every resting order is in our book.
    pub groups_all_known: u64,
    /// Groups with all makers known but not determinable: just before the group, our
    /// level at the first executed price does not hold exactly the size Nasdaq shows
    /// there (or Nasdaq's best on that side is another price).
    pub groups_level_mismatch: u64,
    /// Groups with all makers known whose level agreed with Nasdaq's just before.
    pub groups_determinable: u64,
    /// Determinable groups whose fills match Nasdaq's exactly.
    pub reproduced_determinable: u64,
    /// Groups with all makers known whose fills match Nasdaq's exactly.
    pub reproduced_all_known: u64,
    /// Determinable groups not reproduced, by class.
    pub disagreements_determinable: Disagreements,
    /// Level-mismatch groups not reproduced, by class.
    pub disagreements_level_mismatch: Disagreements,

    /// Commands sent to the book (the length of [`workload`]).
    pub commands: u64,
    /// Commands the book rejected: always 0 unless the replay or the book is wrong.
    pub commands_rejected: u64,
    /// Fills the book produced.
    pub fills: u64,
    /// Orders resting at the end of the day.
    pub resting_at_end: u64,
    /// The book's digest at the end of the day.
    pub digest: BookDigest,
}

/// `part / whole` as a percentage with two decimals, in integers (`"99.60%"`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Percent(u64, u64);

impl fmt::Display for Percent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let Percent(part, whole) = *self;
        if whole == 0 {
            return f.write_str("n/a");
        }
        // Basis points, rounded half up.
        let basis_points =
            (u128::from(part) * 20_000 + u128::from(whole)) / (2 * u128::from(whole));
        write!(f, "{}.{:02}%", basis_points / 100, basis_points % 100)
    }
}

impl fmt::Display for ReplayReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let m = &self.messages;
        writeln!(
            f,
            "{} {}: {} messages: new {}, partial cancel {}, delete {}, execute visible {}, \
             execute hidden {}, cross {}, halt {}",
            self.symbol,
            self.date,
            m.total(),
            m.new_orders,
            m.partial_cancels,
            m.deletes,
            m.executions_visible,
            m.executions_hidden,
            m.cross_trades,
            m.halts
        )?;
        writeln!(
            f,
            "  skipped on unknown orders: partial cancels {}, deletes {}, execution rows {}; \
             new orders crossing {}, off tick {}; partial cancels emptying an order {}",
            self.partial_cancels_unknown,
            self.deletes_unknown,
            self.executions_unknown,
            self.new_orders_crossing,
            self.new_orders_off_tick,
            self.partial_cancels_emptying
        )?;
        writeln!(
            f,
            "  stale orders dropped {}; top of book agrees with Nasdaq after {} of {} steps ({})",
            self.stale_orders_dropped,
            self.top_agreeing,
            self.top_checks,
            Percent(self.top_agreeing, self.top_checks)
        )?;
        writeln!(
            f,
            "  execution groups {}: unknown maker {}, all makers known {} \
             (level mismatch {}, determinable {})",
            self.groups,
            self.groups_unknown_maker,
            self.groups_all_known,
            self.groups_level_mismatch,
            self.groups_determinable
        )?;
        writeln!(
            f,
            "  reproduced: {} of {} determinable ({}), {} of {} with all makers known ({})",
            self.reproduced_determinable,
            self.groups_determinable,
            Percent(self.reproduced_determinable, self.groups_determinable),
            self.reproduced_all_known,
            self.groups_all_known,
            Percent(self.reproduced_all_known, self.groups_all_known)
        )?;
        writeln!(
            f,
            "  not reproduced, determinable ({}): {}",
            self.disagreements_determinable.total(),
            self.disagreements_determinable
        )?;
        writeln!(
            f,
            "  not reproduced, level mismatch ({}): {}",
            self.disagreements_level_mismatch.total(),
            self.disagreements_level_mismatch
        )?;
        write!(
            f,
            "  book: {} commands ({} rejected), {} fills, {} resting at the end, digest {:?}",
            self.commands, self.commands_rejected, self.fills, self.resting_at_end, self.digest
        )
    }
}

/// Replays `day` against a fresh [`Book`], kept in step with Nasdaq's level-1 rows, and
/// reports how many execution groups it reproduced (see the module docs).
pub fn replay(day: &Day) -> ReplayReport {
    Replay::new(day, false).run().0
}

/// The commands [`replay`] sends to its book, in order: a benchmark workload of real
/// order flow. Fed to a fresh book with [`market_params`] it produces no rejection,
/// `replay(day).fills` fills and ends with `replay(day).digest`.
///
/// Besides the commands the module docs list for each message type, it holds the cancels
/// that keep the book in step with Nasdaq (without them stale orders pile up and about
/// half of the new orders would cross).
pub fn workload(day: &Day) -> Vec<Command> {
    Replay::new(day, true).run().1
}

/// One fill as compared against Nasdaq's rows.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
struct FillKey {
    maker: OrderId,
    qty: Qty,
    price: Price,
}

struct Replay<'d> {
    day: &'d Day,
    book: Book,
    events: Vec<Event>,
    record: bool,
    commands: Vec<Command>,
    next_taker_id: u64,
    report: ReplayReport,
}

impl<'d> Replay<'d> {
    fn new(day: &'d Day, record: bool) -> Replay<'d> {
        let book = Book::new(market_params());
        let report = ReplayReport {
            symbol: day.symbol.clone(),
            date: day.date.clone(),
            messages: MessageCounts::default(),
            new_orders_off_tick: 0,
            new_orders_crossing: 0,
            partial_cancels_unknown: 0,
            partial_cancels_emptying: 0,
            deletes_unknown: 0,
            executions_unknown: 0,
            stale_orders_dropped: 0,
            top_checks: 0,
            top_agreeing: 0,
            groups: 0,
            groups_unknown_maker: 0,
            groups_all_known: 0,
            groups_level_mismatch: 0,
            groups_determinable: 0,
            reproduced_determinable: 0,
            reproduced_all_known: 0,
            disagreements_determinable: Disagreements::default(),
            disagreements_level_mismatch: Disagreements::default(),
            commands: 0,
            commands_rejected: 0,
            fills: 0,
            resting_at_end: 0,
            digest: book.digest(),
        };
        Replay {
            day,
            book,
            events: Vec::new(),
            record,
            commands: Vec::new(),
            next_taker_id: TAKER_ORDER_ID_BASE,
            report,
        }
    }

    fn run(mut self) -> (ReplayReport, Vec<Command>) {
        let day = self.day;
        let messages = &day.messages;
        assert_eq!(
            messages.len(),
            day.top_of_book.len(),
            "one book row per message"
        );
        let mut next_check = INVARIANT_CHECK_EVERY;
        let mut at = 0;
        while at < messages.len() {
            let last = if messages[at].kind == MessageKind::ExecuteVisible {
                self.execution_group(at)
            } else {
                self.message(at);
                at
            };
            self.drop_stale(&day.top_of_book[last]);
            self.compare_top(&day.top_of_book[last]);
            at = last + 1;
            if at >= next_check {
                self.book.check_invariants();
                next_check += INVARIANT_CHECK_EVERY;
            }
        }
        self.book.check_invariants();
        let book_len = u64::try_from(self.book.len()).expect("order count fits u64");
        self.report.resting_at_end = book_len;
        self.report.digest = self.book.digest();
        (self.report, self.commands)
    }

    /// Sends one command; its events are left in `self.events`.
    fn apply(&mut self, command: Command) {
        self.events.clear();
        let result = self.book.execute(command, &mut self.events);
        self.report.commands += 1;
        if result.is_err() {
            self.report.commands_rejected += 1;
        }
        let fills = self.events.iter().filter(|e| matches!(e, Event::Fill(_)));
        self.report.fills += u64::try_from(fills.count()).expect("fill count fits u64");
        if self.record {
            self.commands.push(command);
        }
    }

    /// Applies one message that is not a visible execution.
    fn message(&mut self, at: usize) {
        let message = self.day.messages[at];
        self.report.messages.count(message.kind);
        let order_id = OrderId(message.order_id);
        let account = AccountId(message.order_id);
        match message.kind {
            MessageKind::NewOrder => {
                let Some(price) = ticks(message.price_units) else {
                    self.report.new_orders_off_tick += 1;
                    return;
                };
                let opposite = message.side.opposite();
                if let Some(best) = self.book.best_price(opposite)
                    && message.side.crosses(price, best)
                {
                    self.report.new_orders_crossing += 1;
                    return;
                }
                self.apply(Command::Place(NewOrder {
                    order_id,
                    account,
                    client_order_id: None,
                    side: message.side,
                    price,
                    qty: Qty(message.size),
                    time_in_force: TimeInForce::GoodTillCancel,
                    post_only: false,
                    self_trade: SelfTradePrevention::default(),
                }));
            }
            MessageKind::PartialCancel => {
                let Some(order) = self.book.order(order_id) else {
                    self.report.partial_cancels_unknown += 1;
                    return;
                };
                if message.size < order.qty.0 {
                    self.apply(Command::Amend {
                        account,
                        order_id,
                        price: order.price,
                        qty: Qty(order.qty.0 - message.size),
                    });
                } else {
                    self.report.partial_cancels_emptying += 1;
                    self.apply(Command::Cancel {
                        account,
                        order: OrderRef::Id(order_id),
                    });
                }
            }
            MessageKind::Delete => {
                if self.book.order(order_id).is_none() {
                    self.report.deletes_unknown += 1;
                    return;
                }
                self.apply(Command::Cancel {
                    account,
                    order: OrderRef::Id(order_id),
                });
            }
            MessageKind::ExecuteVisible => unreachable!("visible executions come in groups"),
            MessageKind::ExecuteHidden | MessageKind::CrossTrade | MessageKind::Halt => {}
        }
    }

    /// Applies the execution group starting at `first`; returns the index of its last row.
    fn execution_group(&mut self, first: usize) -> usize {
        let day = self.day;
        let messages = &day.messages;
        let head = messages[first];
        let mut last = first;
        while let Some(next) = messages.get(last + 1)
            && next.kind == MessageKind::ExecuteVisible
            && next.time == head.time
            && next.side == head.side
        {
            last += 1;
        }
        let group = &messages[first..=last];
        let resting_side = head.side;
        self.report.groups += 1;
        for _ in group {
            self.report.messages.count(MessageKind::ExecuteVisible);
        }

        let expected = self.expected_fills(group, resting_side);
        let all_known = expected.len() == group.len();
        let first_price = expected.first().map(|fill| fill.price);
        let determinable = all_known
            && first > 0
            && first_price.is_some_and(|price| {
                day.top_of_book[first - 1]
                    .quote(resting_side)
                    .is_some_and(|quote| {
                        quote.price_units == units(price)
                            && quote.size == self.book.level_qty(resting_side, price).0
                    })
            });
        if !all_known {
            self.report.groups_unknown_maker += 1;
        } else if determinable {
            self.report.groups_determinable += 1;
        } else {
            self.report.groups_level_mismatch += 1;
        }
        if all_known {
            self.report.groups_all_known += 1;
        }
        let Some(first_price) = first_price else {
            return last;
        };

        self.take(&expected, resting_side.opposite());
        if !all_known {
            return last;
        }
        let ours: Vec<FillKey> = self
            .events
            .iter()
            .filter_map(|event| match event {
                Event::Fill(fill) => Some(FillKey {
                    maker: fill.maker_order_id,
                    qty: fill.qty,
                    price: fill.price,
                }),
                _ => None,
            })
            .collect();
        if ours == expected {
            self.report.reproduced_all_known += 1;
            if determinable {
                self.report.reproduced_determinable += 1;
            }
            return last;
        }
        let is_hidden_burst = |message: Option<&Message>| {
            message.is_some_and(|m| {
                m.kind == MessageKind::ExecuteHidden
                    && m.time == head.time
                    && m.side == resting_side
            })
        };
        let hidden_nearby = is_hidden_burst(first.checked_sub(1).and_then(|i| messages.get(i)))
            || is_hidden_burst(messages.get(last + 1));
        let class = classify(&expected, &ours, first_price, hidden_nearby);
        if determinable {
            self.report.disagreements_determinable.add(class);
        } else {
            self.report.disagreements_level_mismatch.add(class);
        }
        last
    }

    /// Nasdaq's fills of an execution group, as rows naming orders our book holds on the
    /// resting side; the others are counted as unknown.
    fn expected_fills(&mut self, group: &[Message], resting_side: Side) -> Vec<FillKey> {
        let mut expected: Vec<FillKey> = Vec::with_capacity(group.len());
        for message in group {
            let maker = OrderId(message.order_id);
            let known = self
                .book
                .order(maker)
                .is_some_and(|o| o.side == resting_side);
            match ticks(message.price_units) {
                Some(price) if known => expected.push(FillKey {
                    maker,
                    qty: Qty(message.size),
                    price,
                }),
                _ => self.report.executions_unknown += 1,
            }
        }
        expected
    }

    /// The taker that reproduces `expected` (not empty): immediate-or-cancel, for their
    /// total quantity, limited at their worst price.
    fn take(&mut self, expected: &[FillKey], taker_side: Side) {
        let qty: u64 = expected.iter().map(|fill| fill.qty.0).sum();
        let worst = expected.iter().map(|fill| fill.price);
        let limit = match taker_side {
            Side::Buy => worst.max(),
            Side::Sell => worst.min(),
        }
        .expect("expected is not empty");
        let order_id = OrderId(self.next_taker_id);
        self.next_taker_id += 1;
        self.apply(Command::Place(NewOrder {
            order_id,
            account: TAKER_ACCOUNT,
            client_order_id: None,
            side: taker_side,
            price: limit,
            qty: Qty(qty),
            time_in_force: TimeInForce::ImmediateOrCancel,
            post_only: false,
            self_trade: SelfTradePrevention::default(),
        }));
    }

    /// Cancels our orders priced better than Nasdaq's best on their side, or all of a
    /// side Nasdaq shows empty.
    fn drop_stale(&mut self, nasdaq: &TopOfBook) {
        for side in [Side::Buy, Side::Sell] {
            let quote = nasdaq.quote(side);
            while let Some(best) = self.book.best_price(side) {
                let stale = match quote {
                    None => true,
                    Some(quote) => match side {
                        Side::Buy => units(best) > quote.price_units,
                        Side::Sell => units(best) < quote.price_units,
                    },
                };
                if !stale {
                    break;
                }
                let level: Vec<(OrderId, AccountId)> = self
                    .book
                    .orders(side)
                    .take_while(|order| order.price == best)
                    .map(|order| (order.order_id, order.account))
                    .collect();
                for (order_id, account) in level {
                    self.report.stale_orders_dropped += 1;
                    self.apply(Command::Cancel {
                        account,
                        order: OrderRef::Id(order_id),
                    });
                }
            }
        }
    }

    fn compare_top(&mut self, nasdaq: &TopOfBook) {
        let agrees = |side: Side| match (self.book.best_price(side), nasdaq.quote(side)) {
            (None, None) => true,
            (Some(price), Some(quote)) => {
                units(price) == quote.price_units
                    && self.book.level_qty(side, price).0 == quote.size
            }
            _ => false,
        };
        let agree = agrees(Side::Buy) && agrees(Side::Sell);
        self.report.top_checks += 1;
        self.report.top_agreeing += u64::from(agree);
    }
}

/// Sorts a group that was not reproduced into its [`Disagreement`] class.
fn classify(
    expected: &[FillKey],
    ours: &[FillKey],
    first_price: Price,
    hidden_nearby: bool,
) -> Disagreement {
    let mut expected_sorted = expected.to_vec();
    let mut ours_sorted = ours.to_vec();
    expected_sorted.sort_unstable();
    ours_sorted.sort_unstable();
    if expected_sorted == ours_sorted {
        return Disagreement::FillsReordered;
    }
    let split = expected
        .iter()
        .zip(ours)
        .take_while(|(nasdaq, our)| nasdaq == our)
        .count();
    let (Some(nasdaq), Some(our)) = (expected.get(split), ours.get(split)) else {
        // Ours ended first: our order was for Nasdaq's total, so the other way round
        // (more fills than Nasdaq, agreeing on all of Nasdaq's) cannot happen.
        assert!(
            ours.len() < expected.len(),
            "an IOC order filled beyond its quantity"
        );
        return Disagreement::LiquidityShort;
    };
    if nasdaq.price != first_price || our.price != first_price {
        Disagreement::DeeperLevel
    } else if hidden_nearby {
        Disagreement::HiddenNearby
    } else if nasdaq.maker != our.maker {
        Disagreement::DifferentMaker
    } else {
        Disagreement::SizeDiffers
    }
}

/// LOBSTER price units → ticks, if positive and a whole number of cents.
fn ticks(price_units: i64) -> Option<Price> {
    let price_units = u64::try_from(price_units).ok().filter(|&units| units > 0)?;
    market_params().price_from_units(price_units).ok()
}

/// Ticks → LOBSTER price units.
fn units(price: Price) -> u64 {
    price.0 * PRICE_UNITS_PER_TICK
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_are_exact_integers() {
        assert_eq!(
            parse_time("34200.004241176"),
            Some(Timestamp(34_200_004_241_176))
        );
        // Trailing zeros are dropped in the files.
        assert_eq!(
            parse_time("34438.36643254"),
            Some(Timestamp(34_438_366_432_540))
        );
        assert_eq!(parse_time("34200"), Some(Timestamp(34_200_000_000_000)));
        assert_eq!(parse_time("1.0000000001"), None);
        assert_eq!(parse_time("1.-5"), None);
        assert_eq!(Timestamp(34_438_366_432_540).to_string(), "34438.366432540");
    }

    #[test]
    fn rows_parse_and_bad_rows_name_their_line() {
        let messages = parse_messages("m.csv", "34200.1,1,16113575,18,5853300,1\n").unwrap();
        assert_eq!(messages[0].kind, MessageKind::NewOrder);
        assert_eq!(messages[0].side, Side::Buy);
        assert_eq!(ticks(messages[0].price_units), Some(Price(58_533)));
        let error = parse_messages("m.csv", "34200.1,1,1,1,1,1\n34200.2,9,1,1,1,1\n").unwrap_err();
        assert_eq!(error.to_string(), "m.csv, line 2: bad type \"9\"");

        let rows = parse_top_of_book(
            "b.csv",
            "5859400,200,-9999999999,0\n9999999999,0,5853300,18\n",
        )
        .unwrap();
        assert_eq!(
            rows[0].ask,
            Some(Quote {
                price_units: 5_859_400,
                size: 200
            })
        );
        assert_eq!(rows[0].bid, None);
        assert_eq!(rows[1].ask, None);
        assert!(parse_top_of_book("b.csv", "5859400,0,5853300,18\n").is_err());
    }

    #[test]
    fn percent_is_rounded_integer_arithmetic() {
        assert_eq!(Percent(10_035, 10_075).to_string(), "99.60%");
        assert_eq!(Percent(1, 3).to_string(), "33.33%");
        assert_eq!(Percent(2, 3).to_string(), "66.67%");
        assert_eq!(Percent(0, 0).to_string(), "n/a");
    }

    #[test]
    fn classes_follow_the_first_difference() {
        let fill = |maker, qty, price| FillKey {
            maker: OrderId(maker),
            qty: Qty(qty),
            price: Price(price),
        };
        let nasdaq = [fill(1, 5, 10), fill(2, 5, 10), fill(3, 5, 11)];
        let class = |ours: &[FillKey], hidden| classify(&nasdaq, ours, Price(10), hidden);
        let reordered = [fill(2, 5, 10), fill(1, 5, 10), fill(3, 5, 11)];
        assert_eq!(class(&reordered, true), Disagreement::FillsReordered);
        assert_eq!(class(&nasdaq[..2], false), Disagreement::LiquidityShort);
        let deeper = [fill(1, 5, 10), fill(2, 5, 10), fill(4, 5, 11)];
        assert_eq!(class(&deeper, true), Disagreement::DeeperLevel);
        let other = [fill(1, 5, 10), fill(9, 5, 10), fill(2, 5, 10)];
        assert_eq!(class(&other, true), Disagreement::HiddenNearby);
        assert_eq!(class(&other, false), Disagreement::DifferentMaker);
        let size = [fill(1, 3, 10), fill(2, 7, 10), fill(3, 5, 11)];
        assert_eq!(class(&size, false), Disagreement::SizeDiffers);
    }
}
