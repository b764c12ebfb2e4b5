//! Candles over real order flow: the AAPL LOBSTER day matched by the fast book, its
//! fills cut into blocks with seeded timestamps and folded into `api::candles` exactly as
//! the node does, against candles computed independently, fill by fill, from the same
//! fills. Restoring the stored per-block minute changes gives the same candles.

use std::collections::BTreeMap;

use ::loadtest::lobster;
use api::candles::{Candle, Candles, Interval, MinuteChanges};
use markets::{AssetId, BlockHeader, ChainId, ExecutedBlock, Hash, MarketConfig, TaggedEvent};
use matching::{Book, Event};

/// A plain OHLCV candle, built the obvious way.
#[derive(Debug, PartialEq, Eq)]
struct Naive {
    open: u64,
    high: u64,
    low: u64,
    close: u64,
    volume: u128,
    quote_volume: u128,
    trades: u64,
    first_seq: u64,
    last_seq: u64,
}

/// One fill as a chart sees it: when, which, at what price, how much.
struct Trade {
    time_ms: u64,
    seq: u64,
    price: u64,
    base: u64,
    quote: u64,
}

fn config() -> MarketConfig {
    MarketConfig {
        symbol: "AAPL-USD".into(),
        base: AssetId(1),
        quote: AssetId(0),
        params: lobster::market_params(),
        maker_fee_bps: 0,
        taker_fee_bps: 0,
    }
}

/// xorshift: seeded gaps between blocks, from a millisecond to two hours, so that
/// blocks fall on and across every interval's boundaries.
fn gap_ms(state: &mut u64) -> u64 {
    *state ^= *state << 13;
    *state ^= *state >> 7;
    *state ^= *state << 17;
    match *state % 10 {
        0 => 1 + *state % 7_200_000,
        1..=3 => 1 + *state % 120_000,
        _ => 1 + *state % 2_000,
    }
}

fn block(height: u64, timestamp_ms: u64, events: Vec<TaggedEvent>) -> ExecutedBlock {
    ExecutedBlock {
        header: BlockHeader {
            chain_id: ChainId(1),
            height,
            parent_hash: Hash([0; 32]),
            timestamp_ms,
            transaction_count: 0,
            transactions_root: Hash([0; 32]),
            events_root: Hash([0; 32]),
            state_root: Hash([0; 32]),
        },
        hash: Hash([0; 32]),
        transactions: Vec::new(),
        receipts: Vec::new(),
        market_events: vec![events],
        finality: None,
    }
}

fn naive(trades: &[Trade], interval: Interval) -> Vec<(u64, Naive)> {
    let size = interval.ms();
    let mut candles: BTreeMap<u64, Naive> = BTreeMap::new();
    for t in trades {
        let open = t.time_ms / size * size;
        let c = candles.entry(open).or_insert(Naive {
            open: t.price,
            high: 0,
            low: u64::MAX,
            close: 0,
            volume: 0,
            quote_volume: 0,
            trades: 0,
            first_seq: t.seq,
            last_seq: 0,
        });
        c.high = c.high.max(t.price);
        c.low = c.low.min(t.price);
        c.close = t.price;
        c.volume += u128::from(t.base);
        c.quote_volume += u128::from(t.quote);
        c.trades += 1;
        c.last_seq = t.seq;
    }
    candles.into_iter().collect()
}

fn plain(candle: &Candle) -> (u64, Naive) {
    (
        candle.open_time_ms,
        Naive {
            open: candle.open,
            high: candle.high,
            low: candle.low,
            close: candle.close,
            volume: candle.volume,
            quote_volume: candle.quote_volume,
            trades: candle.trades,
            first_seq: candle.first_seq,
            last_seq: candle.last_seq,
        },
    )
}

#[test]
fn candles_over_a_lobster_day_equal_candles_computed_from_its_fills() {
    let day = lobster::Day::load("AAPL").expect("the AAPL LOBSTER day");
    let commands = lobster::workload(&day);
    let config = config();
    let mut book = Book::new(config.params);
    let candles = Candles::new(1);
    let mut changes: Vec<MinuteChanges> = Vec::new();
    let mut trades = Vec::new();
    let mut rng = 0x9E37_79B9_7F4A_7C15_u64;
    // 2012-06-21 09:30 UTC-4, as Unix ms: a real day's clock, then seeded gaps.
    let mut time_ms = 1_340_285_400_000;
    for (i, chunk) in commands.chunks(97).enumerate() {
        time_ms += gap_ms(&mut rng);
        let mut events: Vec<Event> = Vec::new();
        for &command in chunk {
            let _ = book.execute(command, &mut events);
        }
        let tagged: Vec<TaggedEvent> = events
            .into_iter()
            .map(|event| TaggedEvent {
                tx: TaggedEvent::BLOCK,
                action: 0,
                event,
            })
            .collect();
        for t in &tagged {
            if let Event::Fill(fill) = &t.event {
                trades.push(Trade {
                    time_ms,
                    seq: fill.seq,
                    price: fill.price.0 * config.params.tick_size,
                    base: fill.qty.0 * config.params.lot_size,
                    quote: config.notional(fill.price, fill.qty),
                });
            }
        }
        let executed = block(i as u64 + 1, time_ms, tagged);
        let changed = candles.apply(&executed, &[&config]).expect("a new height");
        assert!(
            candles.apply(&executed, &[&config]).is_none(),
            "a block folded twice changes nothing"
        );
        changes.push(changed);
    }
    candles.check_invariants();
    assert!(trades.len() > 10_000, "a real day: {} fills", trades.len());

    let restored = Candles::new(1);
    for (i, changed) in changes.iter().enumerate() {
        restored.restore(i as u64 + 1, changed);
    }
    for interval in Interval::ALL {
        let expected = naive(&trades, interval);
        let built: Vec<_> = candles
            .query(0, interval, Some(0), None, usize::MAX)
            .iter()
            .map(plain)
            .collect();
        assert_eq!(built.len(), expected.len(), "{interval:?}: candle count");
        if let Some(at) = (0..built.len()).find(|&i| built[i] != expected[i]) {
            panic!(
                "{interval:?} candle {at}: built {:?}, from the fills {:?}",
                built[at], expected[at]
            );
        }
        // The latest few, asked without `from`, are the tail of the same list; a
        // restored log gives the same candles.
        let latest: Vec<_> = candles
            .query(0, interval, None, None, 5)
            .iter()
            .map(plain)
            .collect();
        assert_eq!(latest[..], expected[expected.len().saturating_sub(5)..]);
        assert_eq!(
            restored.query(0, interval, Some(0), None, usize::MAX),
            candles.query(0, interval, Some(0), None, usize::MAX),
            "{interval:?}: restored"
        );
    }
}
