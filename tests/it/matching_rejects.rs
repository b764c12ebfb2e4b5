//! Every reject code the book can produce, each triggered on purpose: the command
//! returns `Err(code)`, emits exactly one `Event::Rejected` naming the command's account
//! and order, and leaves the book as it was (same `digest()`, same `ladder()`).
//!
//! The cases live in one table ([`reject_cases`]); each code has its own `#[test]` that
//! runs that code's rows, and [`every_reject_code_is_exercised`] fails when a code in
//! `RejectCode::ALL` has no row. `PriceOffTick` and `QtyOffLot` come from the unit
//! conversions on `MarketParams`, not from the book, and have their own table
//! ([`conversion_cases`]).

use crate::support::OrderOptions;
use std::collections::BTreeSet;

use matching::{
    AccountId, Book, ClientOrderId, Command, Event, Height, MarketParams, NewOrder, OrderId,
    OrderRef, Price, Qty, RejectCode, SelfTradePrevention, Side, TimeInForce,
};

// ---- the market ----

/// Highest price, in ticks.
const PRICE_MAX: u64 = 1_000;
/// Smallest new order: above 1, so that "below the minimum" and "zero" differ.
const QTY_MIN: u64 = 10;
const QTY_MAX: u64 = 500;
/// Small order limits, so the limit cases need only a few orders.
const ORDERS_PER_ACCOUNT_MAX: u32 = 2;
const ORDERS_PER_BOOK_MAX: u32 = 4;

fn params() -> MarketParams {
    MarketParams {
        price_ticks_max: Price(PRICE_MAX),
        qty_lots_min: Qty(QTY_MIN),
        qty_lots_max: Qty(QTY_MAX),
        orders_per_account_max: ORDERS_PER_ACCOUNT_MAX,
        orders_per_book_max: ORDERS_PER_BOOK_MAX,
        ..MarketParams::for_tests()
    }
}

/// Every case starts from this book: account 1 bids 20 at 100 (order 1, client id 11),
/// account 2 offers 20 at 110 (order 2, client id 21).
fn base_orders() -> [NewOrder; 2] {
    [
        buy(1, 1, 100, 20).client_id(11),
        sell(2, 2, 110, 20).client_id(21),
    ]
}

/// Fills the book to `ORDERS_PER_BOOK_MAX` with two more orders (accounts 3 and 4).
fn book_full() -> Vec<Command> {
    vec![place(buy(3, 3, 99, 10)), place(sell(4, 4, 120, 10))]
}

/// Brings account 1 to `ORDERS_PER_ACCOUNT_MAX` with a second bid (order 5).
fn account_1_full() -> Vec<Command> {
    vec![place(buy(5, 1, 98, 10))]
}

// ---- building commands ----

fn buy(order_id: u64, account: u64, price: u64, qty: u64) -> NewOrder {
    order(order_id, account, Side::Buy, price, qty)
}

fn sell(order_id: u64, account: u64, price: u64, qty: u64) -> NewOrder {
    order(order_id, account, Side::Sell, price, qty)
}

fn order(order_id: u64, account: u64, side: Side, price: u64, qty: u64) -> NewOrder {
    NewOrder {
        order_id: OrderId(order_id),
        account: AccountId(account),
        client_order_id: None,
        side,
        price: Price(price),
        qty: Qty(qty),
        time_in_force: TimeInForce::GoodTillCancel,
        post_only: false,
        self_trade: SelfTradePrevention::default(),
    }
}

fn place(order: NewOrder) -> Command {
    Command::Place(order)
}

fn cancel(account: u64, order_id: u64) -> Command {
    Command::Cancel {
        account: AccountId(account),
        order: OrderRef::Id(OrderId(order_id)),
    }
}

fn cancel_client(account: u64, client_order_id: u64) -> Command {
    Command::Cancel {
        account: AccountId(account),
        order: OrderRef::Client(ClientOrderId(client_order_id)),
    }
}

fn amend(account: u64, order_id: u64, price: u64, qty: u64) -> Command {
    Command::Amend {
        account: AccountId(account),
        order_id: OrderId(order_id),
        price: Price(price),
        qty: Qty(qty),
    }
}

fn expire(height: u64) -> Command {
    Command::Expire {
        height: Height(height),
    }
}

// ---- running a case ----

/// The base book plus `setup`, every command of which must succeed.
fn book_after(setup: &[Command]) -> Book {
    let mut book = Book::new(params());
    let commands = base_orders()
        .into_iter()
        .map(place)
        .chain(setup.iter().copied());
    for command in commands {
        let mut events = Vec::new();
        assert_eq!(
            book.execute(command, &mut events),
            Ok(()),
            "setup {command:?}: {events:?}"
        );
        book.check_invariants();
    }
    book
}

/// The `Rejected` event a rejection of `command` carries: its account, and its order
/// when the command names one by id.
fn rejected_event(command: Command, code: RejectCode) -> Event {
    let (account, order_id) = match command {
        Command::Place(o) => (Some(o.account), Some(o.order_id)),
        Command::Cancel {
            account,
            order: OrderRef::Id(id),
        } => (Some(account), Some(id)),
        Command::Cancel {
            account,
            order: OrderRef::Client(_),
        } => (Some(account), None),
        Command::Amend {
            account, order_id, ..
        } => (Some(account), Some(order_id)),
        Command::CancelAll { account } => (Some(account), None),
        Command::Expire { .. } => (None, None),
    };
    Event::Rejected {
        account,
        order_id,
        code,
    }
}

/// Runs `command` after `setup` and returns its result, checking that a rejection is the
/// command's only event and leaves the book exactly as it was.
fn run(name: &str, setup: &[Command], command: Command) -> Result<(), RejectCode> {
    let mut book = book_after(setup);
    let (digest, ladder) = (book.digest(), book.ladder());
    let mut events = Vec::new();
    let result = book.execute(command, &mut events);
    book.check_invariants();
    if let Err(code) = result {
        assert_eq!(events, [rejected_event(command, code)], "{name}: events");
        assert_eq!(book.digest(), digest, "{name}: the digest changed");
        assert_eq!(book.ladder(), ladder, "{name}: the ladder changed");
    } else {
        assert!(
            !events.iter().any(|e| matches!(e, Event::Rejected { .. })),
            "{name}: Ok with a rejection among {events:?}"
        );
    }
    result
}

/// One command that the book must reject with `code`.
#[derive(Debug)]
struct Case {
    name: &'static str,
    setup: Vec<Command>,
    command: Command,
    code: RejectCode,
}

fn case(name: &'static str, setup: Vec<Command>, command: Command, code: RejectCode) -> Case {
    Case {
        name,
        setup,
        command,
        code,
    }
}

// ---- the table ----

/// Every way the book rejects, grouped by code. Rows named "X before Y" break two
/// checks at once; the earlier check in the documented order names the rejection (see
/// also [`check_order_pairs`], which shows the second check fails too).
fn reject_cases() -> Vec<Case> {
    use RejectCode::*;
    let none = Vec::new;
    vec![
        // 101: price in 1..=price_ticks_max.
        case(
            "place at price 0",
            none(),
            place(buy(10, 3, 0, 10)),
            PriceOutOfRange,
        ),
        case(
            "place at max + 1",
            none(),
            place(sell(10, 3, PRICE_MAX + 1, 10)),
            PriceOutOfRange,
        ),
        case(
            "place at u64::MAX",
            none(),
            place(sell(10, 3, u64::MAX, 10)),
            PriceOutOfRange,
        ),
        case(
            "amend to price 0",
            none(),
            amend(1, 1, 0, 20),
            PriceOutOfRange,
        ),
        case(
            "amend to max + 1",
            none(),
            amend(2, 2, PRICE_MAX + 1, 20),
            PriceOutOfRange,
        ),
        case(
            "price before quantity: price 0 and qty 0",
            none(),
            place(buy(10, 3, 0, 0)),
            PriceOutOfRange,
        ),
        case(
            "price before everything else",
            none(),
            // Also: qty over the maximum, post-only IOC, duplicate order id.
            place(buy(1, 1, PRICE_MAX + 1, QTY_MAX + 1).ioc().post_only()),
            PriceOutOfRange,
        ),
        case(
            "amend: price before quantity and ownership",
            none(),
            amend(1, 99, 0, 0),
            PriceOutOfRange,
        ),
        // 102: qty >= qty_lots_min for new orders, qty >= 1 for amends.
        case(
            "place min - 1",
            none(),
            place(buy(10, 3, 100, QTY_MIN - 1)),
            QtyBelowMinimum,
        ),
        case(
            "place qty 0",
            none(),
            place(buy(10, 3, 100, 0)),
            QtyBelowMinimum,
        ),
        case(
            "amend to qty 0",
            none(),
            amend(1, 1, 100, 0),
            QtyBelowMinimum,
        ),
        case(
            "quantity before post-only-not-resting",
            none(),
            place(buy(10, 3, 100, QTY_MIN - 1).ioc().post_only()),
            QtyBelowMinimum,
        ),
        case(
            "amend: qty 0 before unknown order",
            none(),
            amend(1, 99, 100, 0),
            QtyBelowMinimum,
        ),
        // 103: qty <= qty_lots_max.
        case(
            "place max + 1",
            none(),
            place(buy(10, 3, 100, QTY_MAX + 1)),
            QtyAboveMaximum,
        ),
        case(
            "place u64::MAX",
            none(),
            place(buy(10, 3, 100, u64::MAX)),
            QtyAboveMaximum,
        ),
        case(
            "amend to max + 1",
            none(),
            amend(1, 1, 100, QTY_MAX + 1),
            QtyAboveMaximum,
        ),
        case(
            "quantity before post-only-not-resting (FOK)",
            none(),
            place(buy(10, 3, 100, QTY_MAX + 1).fok().post_only()),
            QtyAboveMaximum,
        ),
        case(
            "amend: qty above max before not-owner",
            none(),
            amend(3, 1, 100, QTY_MAX + 1),
            QtyAboveMaximum,
        ),
        // 104: post-only only for orders that can rest.
        case(
            "post-only IOC",
            none(),
            place(buy(10, 3, 90, 10).ioc().post_only()),
            PostOnlyNotResting,
        ),
        case(
            "post-only FOK",
            none(),
            place(sell(10, 3, 120, 10).fok().post_only()),
            PostOnlyNotResting,
        ),
        case(
            "post-only-not-resting before duplicate order id",
            none(),
            place(buy(1, 1, 100, 10).ioc().post_only()),
            PostOnlyNotResting,
        ),
        // 105: a good-till-block order's last block must not be past.
        case(
            "good-till-block for the previous block",
            vec![expire(5)],
            place(buy(10, 3, 100, 10).good_till_block(4)),
            AlreadyExpired,
        ),
        case(
            "expiry before duplicate order id",
            vec![expire(5)],
            place(buy(1, 1, 100, 10).good_till_block(0)),
            AlreadyExpired,
        ),
        // 301: order ids are unique among live orders, whatever the account.
        case(
            "same id, same account",
            none(),
            place(buy(1, 1, 90, 10)),
            DuplicateOrderId,
        ),
        case(
            "same id, other account",
            none(),
            place(sell(1, 3, 130, 10)),
            DuplicateOrderId,
        ),
        case(
            "same id of an IOC order",
            none(),
            place(sell(2, 3, 130, 10).ioc()),
            DuplicateOrderId,
        ),
        case(
            "order id before client order id",
            none(),
            place(buy(1, 1, 90, 10).client_id(11)),
            DuplicateOrderId,
        ),
        // 302: client order ids are unique among the account's live orders.
        case(
            "client id of a live order",
            none(),
            place(buy(10, 1, 90, 10).client_id(11)),
            DuplicateClientOrderId,
        ),
        case(
            "client id of a live order, IOC",
            none(),
            place(sell(10, 1, 130, 10).client_id(11).ioc()),
            DuplicateClientOrderId,
        ),
        case(
            "client order id before account limit",
            account_1_full(),
            place(buy(10, 1, 90, 10).client_id(11)),
            DuplicateClientOrderId,
        ),
        // 303: cancel and amend need a live order.
        case(
            "cancel an id never used",
            none(),
            cancel(1, 99),
            UnknownOrder,
        ),
        case(
            "cancel a client id never used",
            none(),
            cancel_client(1, 99),
            UnknownOrder,
        ),
        case(
            "cancel another account's client id",
            // Client ids are per account: account 3 has no order with client id 11.
            none(),
            cancel_client(3, 11),
            UnknownOrder,
        ),
        case(
            "cancel a cancelled order",
            vec![cancel(1, 1)],
            cancel(1, 1),
            UnknownOrder,
        ),
        case(
            "cancel a filled order",
            vec![place(sell(10, 3, 100, 20))],
            cancel(1, 1),
            UnknownOrder,
        ),
        case(
            "cancel by client id after cancelling",
            vec![cancel(1, 1)],
            cancel_client(1, 11),
            UnknownOrder,
        ),
        case(
            "amend an id never used",
            none(),
            amend(1, 99, 100, 10),
            UnknownOrder,
        ),
        case(
            "amend a filled order",
            vec![place(sell(10, 3, 100, 20))],
            amend(1, 1, 100, 10),
            UnknownOrder,
        ),
        // 304: cancel and amend need the account's own order.
        case(
            "cancel another account's order",
            none(),
            cancel(3, 1),
            NotOrderOwner,
        ),
        case(
            "amend another account's order",
            none(),
            amend(3, 1, 100, 10),
            NotOrderOwner,
        ),
        case(
            "amend: not-owner before post-only-would-take",
            vec![place(buy(10, 1, 105, 10).post_only())],
            amend(3, 10, 110, 10),
            NotOrderOwner,
        ),
        // 305: resting orders per account.
        case(
            "GTC beyond the account limit",
            account_1_full(),
            place(buy(10, 1, 90, 10)),
            AccountOrderLimit,
        ),
        case(
            "GTB beyond the account limit",
            account_1_full(),
            place(sell(10, 1, 130, 10).good_till_block(9)),
            AccountOrderLimit,
        ),
        case(
            "account limit checked up front, even for an order that would fill completely",
            account_1_full(),
            place(buy(10, 1, 110, 20)),
            AccountOrderLimit,
        ),
        case(
            "account limit before book limit",
            vec![place(buy(5, 1, 98, 10)), place(sell(6, 3, 120, 10))],
            place(buy(10, 1, 90, 10)),
            AccountOrderLimit,
        ),
        // 306: resting orders per book.
        case(
            "GTC in a full book",
            book_full(),
            place(buy(10, 5, 90, 10)),
            BookOrderLimit,
        ),
        case(
            "book limit checked up front, even for an order that would fill completely",
            book_full(),
            place(buy(10, 5, 110, 20)),
            BookOrderLimit,
        ),
        case(
            "book limit before post-only-would-take",
            book_full(),
            place(buy(10, 5, 110, 10).post_only()),
            BookOrderLimit,
        ),
        // 307: post-only must not cross the best opposite price.
        case(
            "post-only buy at the best ask",
            none(),
            place(buy(10, 3, 110, 10).post_only()),
            PostOnlyWouldTake,
        ),
        case(
            "post-only buy through the best ask",
            none(),
            place(buy(10, 3, PRICE_MAX, 10).post_only()),
            PostOnlyWouldTake,
        ),
        case(
            "post-only sell at the best bid",
            none(),
            place(sell(10, 3, 100, 10).post_only()),
            PostOnlyWouldTake,
        ),
        case(
            "post-only good-till-block buy at the best ask",
            none(),
            place(buy(10, 3, 110, 10).post_only().good_till_block(3)),
            PostOnlyWouldTake,
        ),
        case(
            "post-only against the account's own order",
            // Self-trade prevention would cancel instead of trading, but the rule is
            // about the best opposite price, whoever owns it.
            none(),
            place(sell(10, 1, 100, 10).post_only()),
            PostOnlyWouldTake,
        ),
        case(
            "amend of a post-only order to the best ask",
            vec![place(buy(10, 3, 105, 10).post_only())],
            amend(3, 10, 110, 10),
            PostOnlyWouldTake,
        ),
        case(
            "amend of a post-only order to the best ask, quantity raised",
            vec![place(buy(10, 3, 105, 10).post_only())],
            amend(3, 10, 110, 30),
            PostOnlyWouldTake,
        ),
    ]
}

/// Runs every row for `code`; there must be at least one.
fn check_code(code: RejectCode) {
    let cases: Vec<Case> = reject_cases()
        .into_iter()
        .filter(|c| c.code == code)
        .collect();
    assert!(!cases.is_empty(), "no case for {code:?}");
    for c in cases {
        assert_eq!(run(c.name, &c.setup, c.command), Err(c.code), "{}", c.name);
    }
}

#[test]
fn price_out_of_range() {
    check_code(RejectCode::PriceOutOfRange);
}

#[test]
fn qty_below_minimum() {
    check_code(RejectCode::QtyBelowMinimum);
}

#[test]
fn qty_above_maximum() {
    check_code(RejectCode::QtyAboveMaximum);
}

#[test]
fn post_only_not_resting() {
    check_code(RejectCode::PostOnlyNotResting);
}

#[test]
fn already_expired() {
    check_code(RejectCode::AlreadyExpired);
}

#[test]
fn duplicate_order_id() {
    check_code(RejectCode::DuplicateOrderId);
}

#[test]
fn duplicate_client_order_id() {
    check_code(RejectCode::DuplicateClientOrderId);
}

#[test]
fn unknown_order() {
    check_code(RejectCode::UnknownOrder);
}

#[test]
fn not_order_owner() {
    check_code(RejectCode::NotOrderOwner);
}

#[test]
fn account_order_limit() {
    check_code(RejectCode::AccountOrderLimit);
}

#[test]
fn book_order_limit() {
    check_code(RejectCode::BookOrderLimit);
}

#[test]
fn post_only_would_take() {
    check_code(RejectCode::PostOnlyWouldTake);
}

// ---- unit conversions: PriceOffTick and QtyOffLot ----

/// `(name, result of a conversion, expected)` on a market with tick size 5 and lot size
/// 100. Only the grid is checked there; the range is the book's business.
#[allow(clippy::type_complexity)]
fn conversion_cases() -> Vec<(
    &'static str,
    Result<u64, RejectCode>,
    Result<u64, RejectCode>,
)> {
    let p = MarketParams {
        tick_size: 5,
        lot_size: 100,
        ..params()
    };
    let price = |units| p.price_from_units(units).map(|Price(ticks)| ticks);
    let qty = |units| p.qty_from_units(units).map(|Qty(lots)| lots);
    vec![
        ("price on the tick", price(25), Ok(5)),
        ("price 0 is on the grid", price(0), Ok(0)),
        (
            "price one unit above a tick",
            price(26),
            Err(RejectCode::PriceOffTick),
        ),
        (
            "price one unit below a tick",
            price(24),
            Err(RejectCode::PriceOffTick),
        ),
        (
            "price below one tick",
            price(1),
            Err(RejectCode::PriceOffTick),
        ),
        (
            "price u64::MAX - 1",
            price(u64::MAX - 1),
            Err(RejectCode::PriceOffTick),
        ),
        ("qty on the lot", qty(300), Ok(3)),
        ("qty 0 is on the grid", qty(0), Ok(0)),
        (
            "qty one unit above a lot",
            qty(301),
            Err(RejectCode::QtyOffLot),
        ),
        (
            "qty one unit below a lot",
            qty(299),
            Err(RejectCode::QtyOffLot),
        ),
        ("qty below one lot", qty(99), Err(RejectCode::QtyOffLot)),
    ]
}

#[test]
fn price_off_tick_and_qty_off_lot_come_from_unit_conversion() {
    for (name, actual, expected) in conversion_cases() {
        assert_eq!(actual, expected, "{name}");
    }
}

#[test]
fn conversion_checks_the_grid_and_the_book_the_range() {
    // 0 units is a whole number of ticks, so the conversion accepts it; the book then
    // rejects price 0. Each layer checks one thing.
    let p = MarketParams {
        tick_size: 5,
        ..params()
    };
    let price = p.price_from_units(0).expect("on the grid");
    let command = place(buy(10, 3, price.0, QTY_MIN));
    assert_eq!(
        run("price 0 from units", &[], command),
        Err(RejectCode::PriceOutOfRange)
    );
}

// ---- the meta-test ----

#[test]
fn every_reject_code_is_exercised() {
    let from_book: BTreeSet<RejectCode> = reject_cases().iter().map(|c| c.code).collect();
    let from_conversion: BTreeSet<RejectCode> = conversion_cases()
        .into_iter()
        .filter_map(|(_, _, expected)| expected.err())
        .collect();
    // The book never produces the conversion codes, and the conversions nothing else.
    assert!(
        from_book.is_disjoint(&from_conversion),
        "{from_book:?} / {from_conversion:?}"
    );
    let exercised: BTreeSet<RejectCode> = from_book.union(&from_conversion).copied().collect();
    let all: BTreeSet<RejectCode> = RejectCode::ALL.into_iter().collect();
    let missing: Vec<_> = all.difference(&exercised).collect();
    assert!(
        missing.is_empty(),
        "reject codes without a test case: {missing:?}"
    );
    assert_eq!(exercised, all);
}

// ---- check order ----

/// Two problems at once. `both` breaks two checks and must be rejected with `first`;
/// `second_only` is the same command with the first problem fixed (after `fix`, when
/// the problem is the book's state) and must be rejected with `second`. So the earlier
/// check wins, rather than the later one never failing.
struct CheckOrder {
    name: &'static str,
    setup: Vec<Command>,
    both: Command,
    first: RejectCode,
    fix: Vec<Command>,
    second_only: Command,
    second: RejectCode,
}

fn check_order_pairs() -> Vec<CheckOrder> {
    use RejectCode::*;
    let none = Vec::new;
    let pair = |name, setup, both, first, second_only, second| CheckOrder {
        name,
        setup,
        both,
        first,
        fix: Vec::new(),
        second_only,
        second,
    };
    vec![
        pair(
            "1 price before 2 qty below minimum",
            none(),
            place(buy(10, 3, 0, QTY_MIN - 1)),
            PriceOutOfRange,
            place(buy(10, 3, 90, QTY_MIN - 1)),
            QtyBelowMinimum,
        ),
        pair(
            "1 price before 3 qty above maximum",
            none(),
            place(buy(10, 3, PRICE_MAX + 1, QTY_MAX + 1)),
            PriceOutOfRange,
            place(buy(10, 3, PRICE_MAX, QTY_MAX + 1)),
            QtyAboveMaximum,
        ),
        pair(
            "2 qty below minimum before 4 post-only not resting",
            none(),
            place(buy(10, 3, 90, 0).ioc().post_only()),
            QtyBelowMinimum,
            place(buy(10, 3, 90, QTY_MIN).ioc().post_only()),
            PostOnlyNotResting,
        ),
        pair(
            "3 qty above maximum before 4 post-only not resting",
            none(),
            place(buy(10, 3, 90, QTY_MAX + 1).fok().post_only()),
            QtyAboveMaximum,
            place(buy(10, 3, 90, QTY_MAX).fok().post_only()),
            PostOnlyNotResting,
        ),
        pair(
            "4 post-only not resting before 6 duplicate order id",
            none(),
            place(buy(1, 3, 90, 10).ioc().post_only()),
            PostOnlyNotResting,
            place(buy(1, 3, 90, 10).ioc()),
            DuplicateOrderId,
        ),
        pair(
            "5 already expired before 6 duplicate order id",
            vec![expire(5)],
            place(buy(1, 3, 90, 10).good_till_block(4)),
            AlreadyExpired,
            place(buy(1, 3, 90, 10).good_till_block(5)),
            DuplicateOrderId,
        ),
        pair(
            "6 duplicate order id before 7 duplicate client order id",
            none(),
            place(buy(2, 1, 90, 10).client_id(11)),
            DuplicateOrderId,
            place(buy(10, 1, 90, 10).client_id(11)),
            DuplicateClientOrderId,
        ),
        pair(
            "7 duplicate client order id before 8 account limit",
            account_1_full(),
            place(buy(10, 1, 90, 10).client_id(11)),
            DuplicateClientOrderId,
            place(buy(10, 1, 90, 10).client_id(12)),
            AccountOrderLimit,
        ),
        pair(
            "8 account limit before 8 book limit",
            vec![place(buy(5, 1, 98, 10)), place(sell(6, 3, 120, 10))],
            place(buy(10, 1, 90, 10)),
            AccountOrderLimit,
            place(buy(10, 5, 90, 10)),
            BookOrderLimit,
        ),
        CheckOrder {
            name: "8 book limit before 9 post-only would take",
            setup: book_full(),
            both: place(buy(10, 5, 110, 10).post_only()),
            first: BookOrderLimit,
            fix: vec![cancel(3, 3)],
            second_only: place(buy(10, 5, 110, 10).post_only()),
            second: PostOnlyWouldTake,
        },
        pair(
            "amend: price before qty 0",
            none(),
            amend(1, 1, PRICE_MAX + 1, 0),
            PriceOutOfRange,
            amend(1, 1, PRICE_MAX, 0),
            QtyBelowMinimum,
        ),
        pair(
            "amend: qty above maximum before unknown order",
            none(),
            amend(1, 99, 100, QTY_MAX + 1),
            QtyAboveMaximum,
            amend(1, 99, 100, QTY_MAX),
            UnknownOrder,
        ),
        pair(
            "amend: qty 0 before not owner",
            none(),
            amend(3, 1, 100, 0),
            QtyBelowMinimum,
            amend(3, 1, 100, 1),
            NotOrderOwner,
        ),
        pair(
            "amend: not owner before post-only would take",
            vec![place(buy(10, 1, 105, 10).post_only())],
            amend(3, 10, 110, 10),
            NotOrderOwner,
            amend(1, 10, 110, 10),
            PostOnlyWouldTake,
        ),
    ]
}

#[test]
fn earlier_check_wins_when_two_fail() {
    for c in check_order_pairs() {
        assert_eq!(
            run(c.name, &c.setup, c.both),
            Err(c.first),
            "{}: both problems",
            c.name
        );
        let fixed: Vec<Command> = c.setup.iter().chain(&c.fix).copied().collect();
        assert_eq!(
            run(c.name, &fixed, c.second_only),
            Err(c.second),
            "{}: second only",
            c.name
        );
    }
}

// ---- boundaries that must be accepted ----

#[test]
fn boundary_values_are_accepted() {
    let none = Vec::new;
    let cases: Vec<(&str, Vec<Command>, Command)> = vec![
        ("price 1", none(), place(buy(10, 3, 1, 10))),
        ("price == max", none(), place(sell(10, 3, PRICE_MAX, 10))),
        ("qty == min", none(), place(buy(10, 3, 90, QTY_MIN))),
        ("qty == max", none(), place(buy(10, 3, 90, QTY_MAX))),
        (
            "IOC of qty == max",
            none(),
            place(buy(10, 3, 110, QTY_MAX).ioc()),
        ),
        ("amend to price == max", none(), amend(2, 2, PRICE_MAX, 20)),
        ("amend to price 1", none(), amend(1, 1, 1, 20)),
        (
            "amend to qty 1, below the new-order minimum",
            none(),
            amend(1, 1, 100, 1),
        ),
        ("amend to qty == max", none(), amend(1, 1, 100, QTY_MAX)),
        (
            "good-till-block for the current block",
            vec![expire(5)],
            place(buy(10, 3, 90, 10).good_till_block(5)),
        ),
        (
            "post-only buy one tick below the best ask",
            none(),
            place(buy(10, 3, 109, 10).post_only()),
        ),
        (
            "post-only sell one tick above the best bid",
            none(),
            place(sell(10, 3, 101, 10).post_only()),
        ),
        (
            "post-only buy on an empty ask side",
            vec![cancel(2, 2)],
            place(buy(10, 3, 500, 10).post_only()),
        ),
        (
            "amend of a post-only order to one tick below the best ask",
            vec![place(buy(10, 3, 105, 10).post_only())],
            amend(3, 10, 109, 10),
        ),
        (
            "reuse the id of a filled order",
            vec![place(sell(10, 3, 100, 20))],
            place(buy(1, 3, 90, 10)),
        ),
        (
            "reuse the id of a cancelled order",
            vec![cancel(1, 1)],
            place(buy(1, 3, 90, 10)),
        ),
        (
            "another account's client id",
            none(),
            place(buy(10, 3, 90, 10).client_id(11)),
        ),
        (
            "reuse the client id of a cancelled order",
            vec![cancel(1, 1)],
            place(buy(10, 1, 90, 10).client_id(11)),
        ),
        (
            "account at its limit, IOC",
            account_1_full(),
            place(buy(10, 1, 110, 10).ioc()),
        ),
        (
            "account at its limit, FOK",
            account_1_full(),
            place(buy(10, 1, 110, 20).fok()),
        ),
        (
            "account at its limit, amend",
            account_1_full(),
            amend(1, 1, 105, 30),
        ),
        (
            "account at its limit, cancel",
            account_1_full(),
            cancel(1, 1),
        ),
        (
            "account one below its limit",
            none(),
            place(buy(10, 1, 90, 10)),
        ),
        (
            "book full, IOC",
            book_full(),
            place(buy(10, 5, 110, 10).ioc()),
        ),
        (
            "book full, FOK",
            book_full(),
            place(buy(10, 5, 110, 20).fok()),
        ),
        (
            "book full, amend to a new price",
            book_full(),
            amend(1, 1, 101, 20),
        ),
        (
            "book one below its limit",
            vec![place(buy(3, 3, 99, 10))],
            place(buy(10, 5, 90, 10)),
        ),
        (
            "cancel-all of an account with no orders",
            none(),
            Command::CancelAll {
                account: AccountId(9),
            },
        ),
    ];
    for (name, setup, command) in cases {
        assert_eq!(run(name, &setup, command), Ok(()), "{name}");
    }
}
