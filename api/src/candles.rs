//! Candles (OHLCV) from fills, built incrementally per block.
//!
//! The unit of storage is the one-minute candle of one market: [`Candles::apply`] folds
//! a block's fills into the minute of the block's timestamp and returns the minute
//! candles it changed, which the node appends to its candle log (one record per height)
//! so that a restart reloads them ([`Candles::restore`]) instead of reading every block.
//! Longer intervals are merged from minutes when asked ([`Candles::query`]): every
//! interval is a whole number of minutes and aligned to the Unix epoch (UTC), so a
//! longer candle is exactly the merge of the minutes inside it.
//!
//! A candle's time is the block's `timestamp_ms` (set by the producer, in the header),
//! so candles are the same on every node and after every replay. Only minutes with at
//! least one fill exist: there are no empty candles.

use std::collections::BTreeMap;

use borsh::{BorshDeserialize, BorshSerialize};
use markets::{ExecutedBlock, MarketConfig};
use matching::Event;
use parking_lot::RwLock;
use serde::{Deserialize, Serialize};

use crate::wire::CandleJson;

/// A minute, in milliseconds.
pub const MINUTE_MS: u64 = 60_000;

/// One-minute candles kept per market (a year); the oldest go first. Longer intervals
/// are merged from these, so they reach as far back, and the oldest candle of a longer
/// interval holds only the minutes still kept.
pub const MINUTES_KEPT_MAX: usize = 366 * 24 * 60;

/// Candles one query returns at most.
pub const QUERY_CANDLES_MAX: usize = 1_000;

/// The intervals a client may ask for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Interval {
    #[serde(rename = "1m")]
    M1,
    #[serde(rename = "5m")]
    M5,
    #[serde(rename = "15m")]
    M15,
    #[serde(rename = "1h")]
    H1,
    #[serde(rename = "4h")]
    H4,
    #[serde(rename = "1d")]
    D1,
}

impl Interval {
    pub const ALL: [Interval; 6] = [
        Interval::M1,
        Interval::M5,
        Interval::M15,
        Interval::H1,
        Interval::H4,
        Interval::D1,
    ];

    pub const fn as_str(self) -> &'static str {
        match self {
            Interval::M1 => "1m",
            Interval::M5 => "5m",
            Interval::M15 => "15m",
            Interval::H1 => "1h",
            Interval::H4 => "4h",
            Interval::D1 => "1d",
        }
    }

    pub fn parse(text: &str) -> Option<Interval> {
        Interval::ALL.into_iter().find(|i| i.as_str() == text)
    }

    /// Its length in milliseconds: a whole number of minutes.
    pub const fn ms(self) -> u64 {
        MINUTE_MS
            * match self {
                Interval::M1 => 1,
                Interval::M5 => 5,
                Interval::M15 => 15,
                Interval::H1 => 60,
                Interval::H4 => 240,
                Interval::D1 => 1_440,
            }
    }

    /// The start of the candle holding `time_ms`.
    pub const fn open_of(self, time_ms: u64) -> u64 {
        time_ms - time_ms % self.ms()
    }
}

/// One candle. Prices are a fill's `price` (quote atoms per lot); `volume` is base
/// atoms and `quote_volume` quote atoms, summed exactly (`u128`: a busy market's daily
/// volume can pass `u64`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub struct Candle {
    pub open_time_ms: u64,
    pub open: u64,
    pub high: u64,
    pub low: u64,
    pub close: u64,
    pub volume: u128,
    pub quote_volume: u128,
    pub trades: u64,
    /// The market's trade sequence numbers of the first and last fill in it.
    pub first_seq: u64,
    pub last_seq: u64,
}

impl Candle {
    /// A candle of one trade.
    pub fn of_trade(open_time_ms: u64, seq: u64, price: u64, base: u64, quote: u64) -> Candle {
        Candle {
            open_time_ms,
            open: price,
            high: price,
            low: price,
            close: price,
            volume: u128::from(base),
            quote_volume: u128::from(quote),
            trades: 1,
            first_seq: seq,
            last_seq: seq,
        }
    }

    /// Adds what came after this candle (a later trade, or the next minute).
    pub fn merge(&mut self, later: &Candle) {
        debug_assert!(later.first_seq > self.last_seq, "trades in sequence order");
        self.high = self.high.max(later.high);
        self.low = self.low.min(later.low);
        self.close = later.close;
        self.volume += later.volume;
        self.quote_volume += later.quote_volume;
        self.trades += later.trades;
        self.last_seq = later.last_seq;
    }

    pub fn json(&self) -> CandleJson {
        CandleJson {
            open_time_ms: self.open_time_ms,
            open: self.open,
            high: self.high,
            low: self.low,
            close: self.close,
            volume: self.volume.to_string(),
            quote_volume: self.quote_volume.to_string(),
            trades: self.trades,
            first_seq: self.first_seq,
            last_seq: self.last_seq,
        }
    }
}

/// The minute candles one block changed, as they stand after it: `(market, candle)`,
/// markets in id order. What the node's candle log stores per height.
pub type MinuteChanges = Vec<(u32, Candle)>;

/// The minute candles a block's fills make, merged into `current` (the market's minute
/// candle so far, if the block falls in the same minute). `configs[m]` is market `m`'s.
pub fn block_minutes(
    block: &ExecutedBlock,
    configs: &[&MarketConfig],
    mut current: impl FnMut(u32, u64) -> Option<Candle>,
) -> MinuteChanges {
    let minute = Interval::M1.open_of(block.header.timestamp_ms);
    let mut changes = Vec::new();
    for (m, events) in block.market_events.iter().enumerate() {
        let market = u32::try_from(m).expect("markets are few");
        let config = configs[m];
        let mut candle = None::<Candle>;
        for tagged in events {
            let Event::Fill(fill) = &tagged.event else {
                continue;
            };
            let trade = Candle::of_trade(
                minute,
                fill.seq,
                fill.price.0 * config.params.tick_size,
                config.base_amount(fill.qty),
                config.notional(fill.price, fill.qty),
            );
            match &mut candle {
                Some(candle) => candle.merge(&trade),
                None => {
                    candle = Some(match current(market, minute) {
                        Some(mut so_far) => {
                            so_far.merge(&trade);
                            so_far
                        }
                        None => trade,
                    });
                }
            }
        }
        if let Some(candle) = candle {
            changes.push((market, candle));
        }
    }
    changes
}

/// Every market's minute candles.
#[derive(Debug)]
pub struct Candles {
    inner: RwLock<Inner>,
}

#[derive(Debug)]
struct Inner {
    /// Per market: minute open time → candle.
    minutes: Vec<BTreeMap<u64, Candle>>,
    /// The last block folded in (or restored).
    height: u64,
    minutes_kept_max: usize,
}

impl Candles {
    pub fn new(markets: usize) -> Candles {
        Candles::with_limit(markets, MINUTES_KEPT_MAX)
    }

    pub fn with_limit(markets: usize, minutes_kept_max: usize) -> Candles {
        Candles {
            inner: RwLock::new(Inner {
                minutes: vec![BTreeMap::new(); markets],
                height: 0,
                minutes_kept_max: minutes_kept_max.max(1),
            }),
        }
    }

    /// The last block folded in.
    pub fn height(&self) -> u64 {
        self.inner.read().height
    }

    /// Folds in a block's fills and returns the minute candles it changed. Blocks must
    /// come in height order; a block at or below [`Candles::height`] is already in and
    /// changes nothing (returns `None`).
    pub fn apply(&self, block: &ExecutedBlock, configs: &[&MarketConfig]) -> Option<MinuteChanges> {
        let mut inner = self.inner.write();
        if block.header.height <= inner.height {
            return None;
        }
        assert_eq!(
            block.header.height,
            inner.height + 1,
            "candles fold blocks in height order"
        );
        let changes = block_minutes(block, configs, |market, minute| {
            inner.minutes[market as usize].get(&minute).copied()
        });
        inner.store(block.header.height, &changes);
        Some(changes)
    }

    /// Puts back what [`Candles::apply`] returned for block `height` (from the log).
    pub fn restore(&self, height: u64, changes: &MinuteChanges) {
        let mut inner = self.inner.write();
        assert_eq!(height, inner.height + 1, "candle records in height order");
        inner.store(height, changes);
    }

    /// Candles of `interval` whose open time is in `from..to`, oldest first, at most
    /// `limit`: the first ones from `from` when it is given, else the latest ones.
    pub fn query(
        &self,
        market: u32,
        interval: Interval,
        from: Option<u64>,
        to: Option<u64>,
        limit: usize,
    ) -> Vec<Candle> {
        self.inner.read().query(market, interval, from, to, limit)
    }

    /// The candle of `interval` holding `time_ms`, if that interval has a trade.
    pub fn at(&self, market: u32, interval: Interval, time_ms: u64) -> Option<Candle> {
        let open = interval.open_of(time_ms);
        self.query(market, interval, Some(open), Some(open + 1), 1)
            .into_iter()
            .next()
    }

    /// The latest candle of `interval`, and the height of the last block folded in,
    /// read together.
    pub fn latest(&self, market: u32, interval: Interval) -> (Option<Candle>, u64) {
        let inner = self.inner.read();
        let candle = inner
            .query(market, interval, None, None, 1)
            .into_iter()
            .next();
        (candle, inner.height)
    }

    /// Panics if a market's minutes are out of line: keyed by their own open time, on
    /// minute boundaries, their trades in sequence order, within the limit.
    pub fn check_invariants(&self) {
        let inner = self.inner.read();
        for minutes in &inner.minutes {
            assert!(minutes.len() <= inner.minutes_kept_max, "minutes bounded");
            let mut last_seq = 0;
            for (&open, candle) in minutes {
                assert_eq!(open, candle.open_time_ms, "keyed by open time");
                assert_eq!(open % MINUTE_MS, 0, "on a minute boundary");
                assert!(candle.trades >= 1, "no empty candles");
                assert!(candle.low <= candle.open.min(candle.close), "low is lowest");
                assert!(
                    candle.high >= candle.open.max(candle.close),
                    "high is highest"
                );
                assert!(candle.first_seq > last_seq, "minutes in trade order");
                assert_eq!(
                    candle.last_seq - candle.first_seq + 1,
                    candle.trades,
                    "a minute's trades are consecutive"
                );
                last_seq = candle.last_seq;
            }
        }
    }
}

impl Inner {
    /// See [`Candles::query`].
    fn query(
        &self,
        market: u32,
        interval: Interval,
        from: Option<u64>,
        to: Option<u64>,
        limit: usize,
    ) -> Vec<Candle> {
        let Some(minutes) = self.minutes.get(market as usize) else {
            return Vec::new();
        };
        let size = interval.ms();
        // A candle opening at T (a multiple of `size`) is wanted when from <= T < to; its
        // minutes are in T..T+size. So the minutes wanted are those from the first
        // multiple of `size` at or after `from` up to the first at or after `to`.
        let lo = from.map_or(0, |f| f.div_ceil(size).saturating_mul(size));
        let hi = to.map_or(u64::MAX, |t| t.div_ceil(size).saturating_mul(size));
        if lo >= hi {
            return Vec::new();
        }
        let range = minutes.range(lo..hi);
        let mut out: Vec<Candle> = Vec::new();
        if from.is_some() {
            for minute in range.map(|(_, c)| c) {
                let open = interval.open_of(minute.open_time_ms);
                let full = out.len() == limit;
                match out.last_mut() {
                    Some(last) if last.open_time_ms == open => last.merge(minute),
                    _ if full => break,
                    _ => out.push(Candle {
                        open_time_ms: open,
                        ..*minute
                    }),
                }
            }
        } else {
            // Newest first, merging each older minute in front of the candle so far.
            for minute in range.rev().map(|(_, c)| c) {
                let open = interval.open_of(minute.open_time_ms);
                let full = out.len() == limit;
                match out.last_mut() {
                    Some(last) if last.open_time_ms == open => {
                        let mut earlier = Candle {
                            open_time_ms: open,
                            ..*minute
                        };
                        earlier.merge(last);
                        *last = earlier;
                    }
                    _ if full => break,
                    _ => out.push(Candle {
                        open_time_ms: open,
                        ..*minute
                    }),
                }
            }
            out.reverse();
        }
        out
    }

    fn store(&mut self, height: u64, changes: &MinuteChanges) {
        for (market, candle) in changes {
            let minutes = &mut self.minutes[*market as usize];
            minutes.insert(candle.open_time_ms, *candle);
            while minutes.len() > self.minutes_kept_max {
                minutes.pop_first();
            }
        }
        self.height = height;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn minute(t: u64, seq: u64, price: u64) -> Candle {
        Candle::of_trade(t, seq, price, 10, price * 10)
    }

    fn filled(candles: &Candles, market: u32, trades: &[(u64, u64)]) {
        // (time, price) per trade, one block each.
        let mut inner = candles.inner.write();
        for (i, &(time, price)) in trades.iter().enumerate() {
            let seq = i as u64 + 1;
            let open = Interval::M1.open_of(time);
            let trade = minute(open, seq, price);
            let next = match inner.minutes[market as usize].get(&open) {
                Some(so_far) => {
                    let mut c = *so_far;
                    c.merge(&trade);
                    c
                }
                None => trade,
            };
            let height = inner.height + 1;
            inner.store(height, &vec![(market, next)]);
        }
    }

    #[test]
    fn longer_intervals_merge_their_minutes_forward_and_backward_alike() {
        let candles = Candles::new(1);
        // Minutes 0, 1, 4, 5, 6, 61 (ms from the epoch), two trades in minute 1.
        let m = MINUTE_MS;
        filled(
            &candles,
            0,
            &[
                (0, 100),
                (m, 105),
                (m + 5, 95),
                (4 * m, 110),
                (5 * m, 90),
                (6 * m + 1, 120),
                (61 * m, 130),
            ],
        );
        candles.check_invariants();
        let five = candles.query(0, Interval::M5, Some(0), None, 10);
        let opens: Vec<u64> = five.iter().map(|c| c.open_time_ms).collect();
        assert_eq!(opens, vec![0, 5 * m, 60 * m]);
        let first = five[0];
        assert_eq!(
            (first.open, first.high, first.low, first.close, first.trades),
            (100, 110, 95, 110, 4)
        );
        assert_eq!((first.first_seq, first.last_seq), (1, 4));
        assert_eq!(first.volume, 40);
        // The latest two, asked without `from`, are the same candles as the forward ones.
        let latest = candles.query(0, Interval::M5, None, None, 2);
        assert_eq!(latest, five[1..].to_vec());
        // `to` excludes a candle opening at it; `from` inside a candle excludes it.
        assert_eq!(
            candles
                .query(0, Interval::M5, Some(1), Some(60 * m), 10)
                .len(),
            1
        );
        assert_eq!(
            candles.query(0, Interval::M5, None, Some(5 * m), 10),
            vec![first]
        );
        let (hour, height) = candles.latest(0, Interval::H1);
        let hour = hour.expect("a candle");
        assert_eq!(height, 7, "seven blocks folded in");
        assert_eq!((hour.open_time_ms, hour.trades), (60 * m, 1));
        assert_eq!(
            candles.at(0, Interval::H1, 10).expect("first hour").trades,
            6
        );
        assert_eq!(candles.at(0, Interval::M1, 2 * m), None);
    }

    #[test]
    fn the_oldest_minutes_go_past_the_limit() {
        let candles = Candles::with_limit(1, 2);
        filled(&candles, 0, &[(0, 1), (MINUTE_MS, 2), (2 * MINUTE_MS, 3)]);
        candles.check_invariants();
        let all = candles.query(0, Interval::M1, Some(0), None, 10);
        assert_eq!(all.iter().map(|c| c.open).collect::<Vec<_>>(), vec![2, 3]);
    }

    #[test]
    fn interval_names_round_trip() {
        for interval in Interval::ALL {
            assert_eq!(Interval::parse(interval.as_str()), Some(interval));
            let json = serde_json::to_string(&interval).expect("JSON");
            assert_eq!(json, format!("\"{}\"", interval.as_str()));
        }
        assert_eq!(Interval::parse("2m"), None);
    }
}
