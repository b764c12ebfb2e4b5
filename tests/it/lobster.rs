//! Real Nasdaq order flow: the two LOBSTER sample days (AAPL and AMZN, 2012-06-21)
//! replayed through the fast book, kept in step with Nasdaq's level-1 rows, checking that
//! it fills the resting orders Nasdaq filled (see `loadtest::lobster` for the method).
//!
//! The floors sit just below what the replay measured when they were set, so a change
//! that makes the book (or the replay) reproduce fewer of Nasdaq's fills fails here. If
//! a change raises the numbers, raise the floors with it.
//!
//! The data is read from the project's shared material (`../shared/data/lobster`, or
//! `$CLOBCHAIN_LOBSTER_DIR`); without it these tests fail, saying where they looked.

use ::loadtest::lobster::{self, Day, ReplayReport};
use matching::reference::ReferenceBook;
use matching::{Book, Command, CountingSink, Event, EventSink, OrderBook};

/// What one day must reach.
struct Floors {
    /// Message rows in the file (exact: the README's table).
    messages: u64,
    groups_determinable_min: u64,
    /// Reproduced share of determinable groups, in basis points (1% = 100).
    reproduced_determinable_bp_min: u64,
    groups_all_known_min: u64,
    /// Reproduced share of groups with all makers known, in basis points.
    reproduced_all_known_bp_min: u64,
}

// Measured: 10,215 determinable groups, 10,176 reproduced (99.62%); 11,531 with all
// makers known, 10,871 reproduced (94.28%). The README's reference: 99.6% of 10,042
// (the module docs of `loadtest::lobster` explain the difference in counts).
const AAPL: Floors = Floors {
    messages: 118_497,
    groups_determinable_min: 10_150,
    reproduced_determinable_bp_min: 9_932,
    groups_all_known_min: 11_450,
    reproduced_all_known_bp_min: 9_400,
};

// Measured: 3,820 determinable groups, 3,809 reproduced (99.71%); 4,353 with all makers
// known, 4,048 reproduced (92.99%). The README's reference: 99.8% of 3,738.
const AMZN: Floors = Floors {
    messages: 57_515,
    groups_determinable_min: 3_790,
    reproduced_determinable_bp_min: 9_941,
    groups_all_known_min: 4_320,
    reproduced_all_known_bp_min: 9_270,
};

fn load(symbol: &str) -> Day {
    Day::load(symbol)
        .unwrap_or_else(|error| panic!("cannot load the {symbol} LOBSTER day: {error}"))
}

fn basis_points(part: u64, whole: u64) -> u64 {
    assert!(whole > 0, "no groups to take a share of");
    part * 10_000 / whole
}

/// The report's counts add up: every group is in exactly one bucket.
fn check_consistent(report: &ReplayReport) {
    assert_eq!(
        report.commands_rejected, 0,
        "the replay only names live orders"
    );
    assert_eq!(
        report.groups,
        report.groups_unknown_maker + report.groups_level_mismatch + report.groups_determinable
    );
    assert_eq!(
        report.groups_all_known,
        report.groups_level_mismatch + report.groups_determinable
    );
    assert_eq!(
        report.groups_determinable,
        report.reproduced_determinable + report.disagreements_determinable.total()
    );
    assert_eq!(
        report.groups_level_mismatch,
        report.reproduced_all_known - report.reproduced_determinable
            + report.disagreements_level_mismatch.total()
    );
}

fn check_day(symbol: &str, floors: &Floors) {
    let day = load(symbol);
    let report = lobster::replay(&day);
    println!("{report}");
    assert_eq!(report.symbol, symbol);
    assert_eq!(report.messages.total(), floors.messages);
    check_consistent(&report);

    let determinable_bp = basis_points(report.reproduced_determinable, report.groups_determinable);
    let all_known_bp = basis_points(report.reproduced_all_known, report.groups_all_known);
    assert!(
        report.groups_determinable >= floors.groups_determinable_min,
        "{symbol}: {} determinable groups, floor {}",
        report.groups_determinable,
        floors.groups_determinable_min
    );
    assert!(
        determinable_bp >= floors.reproduced_determinable_bp_min,
        "{symbol}: reproduced {determinable_bp} bp of determinable groups, floor {}",
        floors.reproduced_determinable_bp_min
    );
    assert!(
        report.groups_all_known >= floors.groups_all_known_min,
        "{symbol}: {} groups with all makers known, floor {}",
        report.groups_all_known,
        floors.groups_all_known_min
    );
    assert!(
        all_known_bp >= floors.reproduced_all_known_bp_min,
        "{symbol}: reproduced {all_known_bp} bp of groups with all makers known, floor {}",
        floors.reproduced_all_known_bp_min
    );
}

#[test]
fn lobster_aapl_replay_reproduces_nasdaq_fills() {
    check_day("AAPL", &AAPL);
}

#[test]
fn lobster_amzn_replay_reproduces_nasdaq_fills() {
    check_day("AMZN", &AMZN);
}

/// Feeds `commands` to a fresh book of type `B`; returns its events and the book.
fn run_workload<B: OrderBook, S: EventSink + Default>(commands: &[Command]) -> (S, B) {
    let mut book = B::new(lobster::market_params());
    let mut sink = S::default();
    for &command in commands {
        let _ = book.execute(command, &mut sink);
    }
    book.check_invariants();
    (sink, book)
}

/// The recorded workload, fed to a fresh book, ends where the replay ended: no
/// rejection, the same fills, the same digest.
#[test]
fn lobster_workload_ends_where_the_replay_ended() {
    for symbol in lobster::SYMBOLS {
        let day = load(symbol);
        let report = lobster::replay(&day);
        let commands = lobster::workload(&day);
        assert_eq!(commands.len() as u64, report.commands, "{symbol}");
        let (sink, book) = run_workload::<Book, CountingSink>(&commands);
        assert_eq!(sink.rejects, 0, "{symbol}");
        assert_eq!(sink.fills, report.fills, "{symbol}");
        assert_eq!(book.digest(), report.digest, "{symbol}");
    }
}

/// Real order flow as a differential test: the reference book, fed the AMZN workload,
/// produces the same events and ends in the same state as the fast book. (One day is
/// enough and keeps the test fast: the reference book scans its orders linearly.)
#[test]
fn lobster_reference_book_agrees_on_the_amzn_workload() {
    let commands = lobster::workload(&load("AMZN"));
    let (events, book) = run_workload::<Book, Vec<Event>>(&commands);
    let (reference_events, reference) = run_workload::<ReferenceBook, Vec<Event>>(&commands);
    if let Some(at) = (0..events.len().max(reference_events.len()))
        .find(|&i| events.get(i) != reference_events.get(i))
    {
        panic!(
            "event {at} differs: fast book {:?}, reference book {:?}",
            events.get(at),
            reference_events.get(at)
        );
    }
    assert_eq!(reference.digest(), book.digest(), "final state");
}
