//! Matching-engine benchmarks (STYLE.md #15).
//!
//! ```text
//! cargo bench --bench matching -- --warm-up-time 1 --measurement-time 5
//! ```
//!
//! Every input comes from [`SEED`] through `loadtest::streams` and is built before
//! anything is timed. Each bench checks what it did when it is done, so that a speed-up
//! cannot silently change behaviour: the event counts of what it timed, and the digest
//! of the book at the end.
//!
//! - `matching/place_limit/resting=20000`: one new resting order onto the mixed
//!   workload's warm book (~20,000 orders); the orders are cancelled again, untimed,
//!   every 64 places. The book must end as the warm-up left it.
//! - `matching/cancel/level=10`, `matching/cancel/level=10000`: one cancel from the
//!   middle of a level of 10 (or 10,000) orders, on a book of 20,000 orders either way;
//!   the cancelled orders are placed again, untimed, every 100 cancels. The book must
//!   end as the warm-up left it.
//! - `matching/sweep/levels=1`, `matching/sweep/levels=10`: one immediate-or-cancel
//!   order taking exactly 1 (or 10) levels of 10 orders, on a book of 20,000; the taken
//!   orders are placed again, untimed, after every 8 sweeps. Throughput is in fills.
//!   The book must end as the warm-up left it, with the trade sequence moved on by the
//!   fills.
//! - `matching/mixed/fast`, `matching/mixed/naive`: the mixed workload (places, cancels,
//!   takers; see `workload::mixed`) on the fast book and on the reference book, every
//!   run starting from an untimed clone of the warm book. Throughput is in commands.
//!   The fast runs must end with the pinned outcome ([`MIXED_GOLDEN`]); the reference
//!   book, over ten thousand times slower, runs only the first [`NAIVE_COMMANDS`]
//!   commands, and must agree with the fast book on them. Under `cargo test`
//!   (criterion's test mode, one run of each bench) the mixed workload is a small one
//!   ([`TEST_CONFIG`]) that the reference book runs whole.
//!
//! The micro-benchmarks time one command per criterion iteration, in stretches of up
//! to a round between two clock reads, so the clock's cost is spread over up to 100
//! commands.

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{Criterion, SamplingMode, Throughput, criterion_group, criterion_main};
use loadtest::streams::{self as workload, MixedConfig, RoundWorkload};
use matching::reference::ReferenceBook;
use matching::{
    AccountId, Book, BookDigest, Command, CountingSink, Height, MarketParams, NewOrder, OrderBook,
    OrderId, Price, Qty, RestingOrder, SelfTradePrevention, Side, TimeInForce, book_digest,
};

/// The one seed every input comes from. Printed when the benches start.
const SEED: u64 = 0xC10B_C4A1_2024_0001;

/// Resting orders in the books the micro-benchmarks measure.
const RESTING: u64 = 20_000;

fn warm<B: OrderBook>(params: MarketParams, warmup: &[Command]) -> B {
    let mut book = B::new(params);
    let mut sink = CountingSink::default();
    for &command in warmup {
        if let Err(code) = book.execute(command, &mut sink) {
            panic!("warm-up command {command:?} rejected: {code:?}");
        }
    }
    book
}

/// Where a round-based bench is: the round it is in and how many of that round's timed
/// commands have run.
struct Rounds<'w> {
    workload: &'w RoundWorkload,
    round: usize,
    at: usize,
    rounds_done: u64,
    timed: CountingSink,
    restore: CountingSink,
}

impl<'w> Rounds<'w> {
    fn new(workload: &'w RoundWorkload) -> Rounds<'w> {
        Rounds {
            workload,
            round: 0,
            at: 0,
            rounds_done: 0,
            timed: CountingSink::default(),
            restore: CountingSink::default(),
        }
    }

    /// Times the next `iters` timed commands, running each round's restore untimed
    /// when its timed commands are done.
    fn run(&mut self, book: &mut Book, iters: u64) -> Duration {
        let mut total = Duration::ZERO;
        let mut left = iters;
        while left > 0 {
            let (timed, _) = self.workload.round(self.round);
            let n = (timed.len() - self.at).min(usize::try_from(left).unwrap_or(usize::MAX));
            let stretch = &timed[self.at..self.at + n];
            let start = Instant::now();
            for &command in stretch {
                let _ = black_box(book.execute(command, &mut self.timed));
            }
            total += start.elapsed();
            self.at += n;
            left -= u64::try_from(n).expect("fits u64");
            if self.at == timed.len() {
                self.restore(book);
            }
        }
        total
    }

    fn restore(&mut self, book: &mut Book) {
        let (_, restore) = self.workload.round(self.round);
        for &command in restore {
            if let Err(code) = book.execute(command, &mut self.restore) {
                panic!("restore command {command:?} rejected: {code:?}");
            }
        }
        self.at = 0;
        self.round = (self.round + 1) % self.workload.rounds();
        self.rounds_done += 1;
    }

    /// Runs, untimed, to the end of the current pass over the rounds, after which the
    /// book must hold what the warm-up left.
    fn finish_pass(&mut self, book: &mut Book) {
        while self.at != 0 || self.round != 0 {
            let (timed, _) = self.workload.round(self.round);
            for &command in &timed[self.at..] {
                let _ = book.execute(command, &mut self.timed);
            }
            self.at = timed.len();
            self.restore(book);
        }
    }
}

/// Benches one command per iteration of a round-based workload on the fast book, then
/// checks the counts and the final digest.
fn bench_rounds(c: &mut Criterion, id: &str, workload: &RoundWorkload, per_command: u64) {
    let mut book: Book = warm(workload.params, &workload.warmup);
    book.check_invariants();
    let bids: Vec<RestingOrder> = book.orders(Side::Buy).collect();
    let asks: Vec<RestingOrder> = book.orders(Side::Sell).collect();
    let (height, trade_seq) = (book.height(), book.trade_seq());

    let mut rounds = Rounds::new(workload);
    let mut group = c.benchmark_group("matching");
    group.throughput(Throughput::Elements(per_command));
    group.bench_function(id, |b| b.iter_custom(|iters| rounds.run(&mut book, iters)));
    group.finish();

    rounds.finish_pass(&mut book);
    let done = rounds.rounds_done;
    let per_round = workload.per_round;
    let timed = CountingSink {
        events: done * per_round.timed_events,
        fills: done * per_round.fills,
        rejects: 0,
    };
    assert_eq!(
        rounds.timed, timed,
        "{id}: events of the timed commands, {done} rounds"
    );
    assert_eq!(
        rounds.restore.events,
        done * per_round.restore_events,
        "{id}: restore events"
    );
    assert_eq!(rounds.restore.rejects, 0, "{id}: restore rejects");
    // The contents are the warm-up's again; only the trade sequence moved.
    let expected = book_digest(height, trade_seq + done * per_round.fills, bids, asks);
    assert_eq!(
        book.digest(),
        expected,
        "{id}: final digest after {done} rounds"
    );
    book.check_invariants();
}

fn place_limit(c: &mut Criterion) {
    let config = MixedConfig::STANDARD;
    let workload = workload::place_limit::<Book>(SEED, &config);
    let id = format!("place_limit/resting={}", config.resting_target);
    bench_rounds(c, &id, &workload, 1);
}

fn cancel(c: &mut Criterion) {
    for orders_per_level in [10, 10_000] {
        let workload = workload::cancel_at_level(SEED, RESTING, orders_per_level);
        bench_rounds(c, &format!("cancel/level={orders_per_level}"), &workload, 1);
    }
}

fn sweep(c: &mut Criterion) {
    for levels in [1, 10] {
        let workload = workload::sweep(SEED, RESTING, levels);
        let fills_per_sweep = workload.per_round.fills / workload.timed_per_round() as u64;
        bench_rounds(
            c,
            &format!("sweep/levels={levels}"),
            &workload,
            fills_per_sweep,
        );
    }
}

/// The outcome of one run of (part of) the mixed workload's timed commands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Outcome {
    sink: CountingSink,
    digest: BookDigest,
}

fn run_once<B: OrderBook + Clone>(warm: &B, commands: &[Command]) -> Outcome {
    let mut book = warm.clone();
    let mut sink = CountingSink::default();
    for &command in commands {
        let _ = book.execute(command, &mut sink);
    }
    book.check_invariants();
    Outcome {
        sink,
        digest: book.digest(),
    }
}

/// Times `iters` runs of `commands`, each on a fresh clone of `warm` made untimed, and
/// checks every run's event counts and the last run's digest.
fn time_runs<B: OrderBook + Clone>(
    warm: &B,
    commands: &[Command],
    iters: u64,
    expected: &Outcome,
) -> Duration {
    time_runs_with(warm, commands, iters, expected, |book, commands, sink| {
        for &command in commands {
            let _ = black_box(book.execute(command, sink));
        }
    })
}

/// [`time_runs`], the commands applied by `run` (one by one, or through
/// [`Book::execute_all`]).
fn time_runs_with<B: OrderBook + Clone>(
    warm: &B,
    commands: &[Command],
    iters: u64,
    expected: &Outcome,
    run: impl Fn(&mut B, &[Command], &mut CountingSink),
) -> Duration {
    let mut total = Duration::ZERO;
    for i in 0..iters {
        let mut book = warm.clone();
        let mut sink = CountingSink::default();
        let start = Instant::now();
        run(&mut book, commands, &mut sink);
        total += start.elapsed();
        assert_eq!(sink, expected.sink, "event counts of a timed run");
        if i + 1 == iters {
            assert_eq!(book.digest(), expected.digest, "digest after a timed run");
        }
    }
    total
}

/// The reference book holding what `fast` holds. Replaying the warm-up would take the
/// reference book a quarter of an hour (every check it makes is a scan of the whole
/// book); this places the resting orders directly, in priority order, after as many
/// one-lot trades on the empty book as `fast` has made, which reaches the same
/// contents, height and trade sequence in about a minute. The digest checks that.
fn naive_copy(fast: &Book) -> ReferenceBook {
    let mut naive = ReferenceBook::new(*fast.params());
    let mut sink = CountingSink::default();
    let mut run = |naive: &mut ReferenceBook, command: Command| {
        if let Err(code) = naive.execute(command, &mut sink) {
            panic!("copying the book: {command:?} rejected: {code:?}");
        }
    };
    let one_lot = |order_id, account, side, time_in_force| NewOrder {
        order_id: OrderId(order_id),
        account: AccountId(account),
        client_order_id: None,
        side,
        price: Price(1),
        qty: Qty(1),
        time_in_force,
        post_only: false,
        self_trade: SelfTradePrevention::default(),
    };
    for _ in 0..fast.trade_seq() {
        let maker = one_lot(1, 1, Side::Sell, TimeInForce::GoodTillCancel);
        let taker = one_lot(2, 2, Side::Buy, TimeInForce::ImmediateOrCancel);
        run(&mut naive, Command::Place(maker));
        run(&mut naive, Command::Place(taker));
    }
    if fast.height() > Height(0) {
        run(
            &mut naive,
            Command::Expire {
                height: fast.height(),
            },
        );
    }
    for side in [Side::Buy, Side::Sell] {
        for order in fast.orders(side) {
            let time_in_force = order
                .expiry
                .map_or(TimeInForce::GoodTillCancel, TimeInForce::GoodTillBlock);
            run(
                &mut naive,
                Command::Place(NewOrder {
                    order_id: order.order_id,
                    account: order.account,
                    client_order_id: order.client_order_id,
                    side: order.side,
                    price: order.price,
                    qty: order.qty,
                    time_in_force,
                    post_only: order.post_only,
                    self_trade: order.self_trade,
                }),
            );
        }
    }
    assert_eq!(
        naive.digest(),
        fast.digest(),
        "the copy differs from the fast book"
    );
    naive
}

/// What the fast book's run of the whole timed part gives for [`SEED`] and
/// `MixedConfig::STANDARD`, confirmed against the reference book. The reference book
/// takes 4 to 6 ms a command on this book, too slow to recompute this on every run;
/// `CLOBCHAIN_CONFIRM_GOLDEN=1 cargo bench --bench matching -- mixed` does it (five to
/// ten minutes). Pinned, not regenerated to pass (STYLE.md #7): a change is a deliberate,
/// explained commit.
const MIXED_GOLDEN: (CountingSink, &str) = (
    CountingSink {
        events: 85_539,
        fills: 11_707,
        rejects: 0,
    },
    "ec7210c8ef06e7c5edaa938022443a505bfa2bf81ff3cb0dc713b8caeece8ac6",
);

/// How many of the timed commands the naive book runs, from the start: all 50,000 would
/// take it five minutes a run.
const NAIVE_COMMANDS: usize = 200;

/// The mixed workload for `cargo test`, which runs each bench once (criterion's test
/// mode): small enough that the reference book runs all of it, and the fast book is
/// held to the reference book's outcome rather than to [`MIXED_GOLDEN`].
const TEST_CONFIG: MixedConfig = MixedConfig {
    accounts: 100,
    resting_target: 2_000,
    settle_commands: 10_000,
    timed_commands: 2_000,
};

/// Whether criterion runs in test mode: as it decides, when `--bench` is missing or
/// `--test` is given.
fn criterion_test_mode() -> bool {
    let args: Vec<String> = std::env::args().collect();
    !args.iter().any(|a| a == "--bench") || args.iter().any(|a| a == "--test")
}

fn hex(digest: &BookDigest) -> String {
    digest.0.iter().map(|b| format!("{b:02x}")).collect()
}

fn mixed(c: &mut Criterion) {
    let test_mode = criterion_test_mode();
    let config = if test_mode {
        TEST_CONFIG
    } else {
        MixedConfig::STANDARD
    };
    let workload = workload::mixed::<Book>(SEED, &config);
    eprintln!(
        "mixed workload: {} warm-up commands, {} timed, {:?}",
        workload.warmup.len(),
        workload.timed.len(),
        workload.mix
    );
    let fast: Book = warm(workload.params, &workload.warmup);
    fast.check_invariants();
    let expected = run_once(&fast, &workload.timed);
    if !test_mode {
        let outcome = (expected.sink, hex(&expected.digest));
        assert_eq!(
            (outcome.0, outcome.1.as_str()),
            MIXED_GOLDEN,
            "mixed: the fast book's outcome is not the pinned one"
        );
    }
    let naive_commands = if test_mode {
        &workload.timed[..]
    } else {
        &workload.timed[..NAIVE_COMMANDS]
    };

    let mut group = c.benchmark_group("matching");
    let commands = u64::try_from(workload.timed.len()).expect("fits u64");
    group.throughput(Throughput::Elements(commands));
    group.bench_function("mixed/fast", |b| {
        b.iter_custom(|iters| time_runs(&fast, &workload.timed, iters, &expected));
    });
    // The same commands as one batch, the way the block executor hands a market its
    // commands: `execute_all` prefetches a few commands ahead.
    group.bench_function("mixed/fast_all", |b| {
        b.iter_custom(|iters| {
            time_runs_with(
                &fast,
                &workload.timed,
                iters,
                &expected,
                |book, commands, sink| {
                    book.execute_all(commands, sink, |_, result| {
                        let _ = black_box(result);
                    });
                },
            )
        });
    });
    // The naive book is built on first use, so that a filter that skips this bench
    // also skips the minute its copy takes.
    let mut naive: Option<(ReferenceBook, Outcome)> = None;
    let commands = u64::try_from(naive_commands.len()).expect("fits u64");
    group.throughput(Throughput::Elements(commands));
    // One naive run takes over a second: ten samples of one run each is all it gets.
    group.sample_size(10).sampling_mode(SamplingMode::Flat);
    group.bench_function("mixed/naive", |b| {
        let (naive, naive_expected) = naive.get_or_insert_with(|| {
            let naive = naive_copy(&fast);
            let naive_expected = run_once(&naive, naive_commands);
            let fast_prefix = run_once(&fast, naive_commands);
            assert_eq!(fast_prefix, naive_expected, "mixed: fast and naive differ");
            if std::env::var_os("CLOBCHAIN_CONFIRM_GOLDEN").is_some() {
                eprintln!("mixed: confirming the pinned outcome with the reference book");
                let whole = run_once(&naive, &workload.timed);
                assert_eq!(whole, expected, "mixed: fast and naive differ");
            }
            (naive, naive_expected)
        });
        b.iter_custom(|iters| time_runs(naive, naive_commands, iters, naive_expected));
    });
    group.finish();
}

fn print_seed(_: &mut Criterion) {
    eprintln!("matching benches: seed {SEED:#018x}");
}

criterion_group!(benches, print_seed, place_limit, cancel, sweep, mixed);
criterion_main!(benches);
