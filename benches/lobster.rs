//! Real Nasdaq order flow through the fast book: each LOBSTER sample day (see
//! `loadtest::lobster`) as the commands its replay sends, fed to a fresh [`Book`].
//!
//! `matching/lobster_replay/AAPL` and `/AMZN`; throughput in commands. The workload is
//! built from the zips before timing starts. Each day's final state is checked against
//! golden numbers (fills, events, resting orders and a checksum of them) once before
//! timing, and the fill count again on every run, so a speed-up cannot silently change
//! what the book does.
//!
//! ```text
//! cargo bench --bench lobster -- --warm-up-time 1 --measurement-time 5
//! ```

use std::hint::black_box;

use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use loadtest::lobster::{self, Day};
use matching::{Book, Command, CountingSink, Side};

/// What a day's workload must do to a fresh book. If the replay or the book's semantics
/// change on purpose, update these in the same commit and say why.
struct Golden {
    symbol: &'static str,
    commands: usize,
    fills: u64,
    events: u64,
    resting: usize,
    /// [`state_checksum`] of the final book.
    checksum: u64,
}

const GOLDEN: [Golden; 2] = [
    Golden {
        symbol: "AAPL",
        commands: 110_301,
        fills: 15_299,
        events: 180_418,
        resting: 1_053,
        checksum: 0xe7f9d2d7b1ba27d6,
    },
    Golden {
        symbol: "AMZN",
        commands: 55_774,
        fills: 5_968,
        events: 89_587,
        resting: 659,
        checksum: 0xddf7b369ca2c8140,
    },
];

fn run(book: &mut Book, commands: &[Command]) -> CountingSink {
    let mut sink = CountingSink::default();
    for &command in commands {
        // Rejections are counted by the sink and checked against the golden numbers.
        let _ = book.execute(command, &mut sink);
    }
    sink
}

/// FNV-1a over the trade count and every resting order (id, account, side, price,
/// quantity) in priority order. Independent of the book's own digest encoding, so it
/// pins the state even if that encoding changes.
fn state_checksum(book: &Book) -> u64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    let mut feed = |value: u64| {
        for byte in value.to_le_bytes() {
            hash = (hash ^ u64::from(byte)).wrapping_mul(0x0000_0100_0000_01b3);
        }
    };
    feed(book.trade_seq());
    for side in [Side::Buy, Side::Sell] {
        for order in book.orders(side) {
            feed(order.order_id.0);
            feed(order.account.0);
            feed(side as u64);
            feed(order.price.0);
            feed(order.qty.0);
        }
    }
    hash
}

fn lobster_replay(c: &mut Criterion) {
    let mut group = c.benchmark_group("matching/lobster_replay");
    for golden in &GOLDEN {
        let day = Day::load(golden.symbol).unwrap_or_else(|error| {
            panic!("cannot load the {} LOBSTER day: {error}", golden.symbol)
        });
        let report = lobster::replay(&day);
        let commands = lobster::workload(&day);

        let mut book = Book::new(lobster::market_params());
        let sink = run(&mut book, &commands);
        book.check_invariants();
        let found = (
            commands.len(),
            sink.fills,
            sink.events,
            sink.rejects,
            book.len(),
            state_checksum(&book),
        );
        let expected = (
            golden.commands,
            golden.fills,
            golden.events,
            0,
            golden.resting,
            golden.checksum,
        );
        assert_eq!(
            found, expected,
            "{}: (commands, fills, events, rejects, resting, checksum) differ from the golden numbers",
            golden.symbol
        );
        assert_eq!(
            book.digest(),
            report.digest,
            "{}: the replay ended elsewhere",
            golden.symbol
        );

        group.throughput(Throughput::Elements(commands.len() as u64));
        group.bench_function(golden.symbol, |bencher| {
            bencher.iter_batched(
                || Book::new(lobster::market_params()),
                |mut book| {
                    let sink = run(&mut book, black_box(&commands));
                    assert_eq!(sink.fills, golden.fills);
                    book
                },
                BatchSize::SmallInput,
            );
        });
    }
    group.finish();
}

criterion_group!(benches, lobster_replay);
criterion_main!(benches);
