//! Golden tests for the order book: one behaviour per test, each showing the book as a
//! ladder before and after and every event the command produced, one per line. The
//! semantics they pin are the crate docs of `matching` (its `lib.rs`).
//!
//! How to read them. A ladder is `bid | price | ask`, highest price first; each cell
//! lists the quantities of that level's orders, oldest (first to trade) first. Events
//! read like this:
//!
//! ```text
//! accepted order 9 (acct 8) buy 10 @ 102
//! fill #1 maker 1 (acct 1) taker 9 (acct 8) buy 5 @ 101, maker left 0, taker left 5
//! rested order 9 (acct 8) buy 5 @ 102
//! ```
//!
//! `fill #n` is the fill's sequence number; `maker`/`taker` name order ids; the side is
//! the taker's and the price is the price the trade happened at.

use crate::support::OrderOptions;
use std::fmt::Write as _;

use matching::{
    AccountId, Book, ClientOrderId, Command, Event, Height, MarketParams, NewOrder, OrderId,
    OrderRef, Price, Qty, SelfTradePrevention, Side, TimeInForce,
};

// ---- helpers ----

/// A good-till-cancel buy; the options below change the rest.
fn buy(order_id: u64, account: u64, price: u64, qty: u64) -> NewOrder {
    order(order_id, account, Side::Buy, price, qty)
}

/// A good-till-cancel sell.
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

/// One book driven command by command; every command's events come back rendered, and
/// the book's invariants are checked after each one.
struct Market {
    book: Book,
}

impl Market {
    fn new() -> Market {
        Market {
            book: Book::new(MarketParams::for_tests()),
        }
    }

    /// A market holding `orders`, each of which must be accepted.
    fn with(orders: impl IntoIterator<Item = NewOrder>) -> Market {
        let mut market = Market::new();
        for order in orders {
            let mut events = Vec::new();
            let result = market.book.execute(Command::Place(order), &mut events);
            assert_eq!(result, Ok(()), "setup order {order:?} rejected");
            market.book.check_invariants();
        }
        market
    }

    fn run(&mut self, command: Command) -> String {
        let mut events = Vec::new();
        let result = self.book.execute(command, &mut events);
        self.book.check_invariants();
        // A rejection is returned and is the command's one event; anything else is Ok.
        match result {
            Err(code) => assert!(
                matches!(events.as_slice(), [Event::Rejected { code: c, .. }] if *c == code),
                "{command:?} returned Err({code:?}) with events {events:?}"
            ),
            Ok(()) => assert!(
                !events.iter().any(|e| matches!(e, Event::Rejected { .. })),
                "{command:?} returned Ok with events {events:?}"
            ),
        }
        render(&events)
    }

    fn place(&mut self, order: NewOrder) -> String {
        self.run(Command::Place(order))
    }

    fn cancel(&mut self, account: u64, order_id: u64) -> String {
        self.run(Command::Cancel {
            account: AccountId(account),
            order: OrderRef::Id(OrderId(order_id)),
        })
    }

    fn cancel_client(&mut self, account: u64, client_order_id: u64) -> String {
        self.run(Command::Cancel {
            account: AccountId(account),
            order: OrderRef::Client(ClientOrderId(client_order_id)),
        })
    }

    fn cancel_all(&mut self, account: u64) -> String {
        self.run(Command::CancelAll {
            account: AccountId(account),
        })
    }

    fn amend(&mut self, account: u64, order_id: u64, price: u64, qty: u64) -> String {
        self.run(Command::Amend {
            account: AccountId(account),
            order_id: OrderId(order_id),
            price: Price(price),
            qty: Qty(qty),
        })
    }

    fn expire(&mut self, height: u64) -> String {
        self.run(Command::Expire {
            height: Height(height),
        })
    }

    fn ladder(&self) -> String {
        self.book.ladder()
    }
}

/// Renders events one per line, in the compact form the module docs describe.
fn render(events: &[Event]) -> String {
    let mut out = String::new();
    for event in events {
        match *event {
            Event::Accepted {
                order_id,
                account,
                client_order_id,
                side,
                price,
                qty,
            } => {
                write!(
                    out,
                    "accepted order {order_id} (acct {account}) {side} {qty} @ {price}"
                )
                .expect("String");
                if let Some(client) = client_order_id {
                    write!(out, " client {client}").expect("String");
                }
            }
            Event::Fill(f) => write!(
                out,
                "fill #{} maker {} (acct {}) taker {} (acct {}) {} {} @ {}, \
                 maker left {}, taker left {}",
                f.seq,
                f.maker_order_id,
                f.maker_account,
                f.taker_order_id,
                f.taker_account,
                f.taker_side,
                f.qty,
                f.price,
                f.maker_qty_remaining,
                f.taker_qty_remaining,
            )
            .expect("String"),
            Event::Rested {
                order_id,
                account,
                side,
                price,
                qty,
            } => write!(
                out,
                "rested order {order_id} (acct {account}) {side} {qty} @ {price}"
            )
            .expect("String"),
            Event::Amended {
                order_id,
                account,
                side,
                old_price,
                old_qty,
                price,
                qty,
                priority_kept,
            } => write!(
                out,
                "amended order {order_id} (acct {account}) {side} {old_qty} @ {old_price} \
                 -> {qty} @ {price}, priority {}",
                if priority_kept { "kept" } else { "lost" }
            )
            .expect("String"),
            Event::Cancelled {
                order_id,
                account,
                side,
                price,
                qty,
                reason,
            } => write!(
                out,
                "cancelled order {order_id} (acct {account}) {side} {qty} @ {price}: {reason:?}"
            )
            .expect("String"),
            Event::Expired {
                order_id,
                account,
                side,
                price,
                qty,
            } => write!(
                out,
                "expired order {order_id} (acct {account}) {side} {qty} @ {price}"
            )
            .expect("String"),
            Event::Rejected {
                account,
                order_id,
                code,
            } => {
                out.push_str("rejected");
                if let Some(order_id) = order_id {
                    write!(out, " order {order_id}").expect("String");
                }
                if let Some(account) = account {
                    write!(out, " (acct {account})").expect("String");
                }
                write!(out, ": {code:?}").expect("String");
            }
        }
        out.push('\n');
    }
    out
}

/// Lines trimmed, blank lines dropped: expected text can then be indented with the code
/// around it, and a ladder's right-aligned bid column still reads as a ladder.
fn normalize(text: &str) -> String {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join("\n")
}

/// Compares two multi-line texts (see [`normalize`]) and shows both in full on failure.
#[track_caller]
fn assert_text(actual: &str, expected: &str) {
    let (actual, expected) = (normalize(actual), normalize(expected));
    assert_eq!(
        actual, expected,
        "\n--- actual:\n{actual}\n--- expected:\n{expected}\n"
    );
}

fn ids(orders: impl Iterator<Item = matching::RestingOrder>) -> Vec<u64> {
    orders.map(|o| o.order_id.0).collect()
}

// ---- good-till-cancel and price-time priority ----

#[test]
fn gtc_orders_rest_in_price_time_priority() {
    let mut m = Market::new();
    assert_text(
        &m.place(sell(1, 1, 101, 5)),
        "
        accepted order 1 (acct 1) sell 5 @ 101
        rested order 1 (acct 1) sell 5 @ 101
        ",
    );
    m.place(sell(2, 2, 101, 3));
    m.place(sell(3, 3, 102, 4));
    m.place(buy(4, 4, 99, 2));
    m.place(buy(5, 5, 100, 6));
    m.place(buy(6, 6, 99, 1));
    assert_text(
        &m.ladder(),
        "
                 bid |    price | ask
                     |      102 | 4
                     |      101 | 5 3
                   6 |      100 |
                 2 1 |       99 |
        ",
    );
    // Priority order: best price first, then oldest first.
    assert_eq!(ids(m.book.orders(Side::Sell)), [1, 2, 3]);
    assert_eq!(ids(m.book.orders(Side::Buy)), [5, 4, 6]);
    assert_eq!(m.book.best_price(Side::Buy), Some(Price(100)));
    assert_eq!(m.book.best_price(Side::Sell), Some(Price(101)));
    assert_eq!(m.book.level_qty(Side::Sell, Price(101)), Qty(8));
}

#[test]
fn sweep_takes_levels_best_first_and_oldest_first_then_partially_fills_the_last_maker() {
    let mut m = Market::with([
        sell(1, 1, 101, 5),
        sell(2, 2, 101, 3),
        sell(3, 3, 102, 4),
        sell(4, 1, 103, 2),
        buy(5, 5, 100, 6),
    ]);
    assert_text(
        &m.ladder(),
        "
                 bid |    price | ask
                     |      103 | 2
                     |      102 | 4
                     |      101 | 5 3
                   6 |      100 |
        ",
    );
    assert_text(
        &m.place(buy(9, 8, 102, 10)),
        "
        accepted order 9 (acct 8) buy 10 @ 102
        fill #1 maker 1 (acct 1) taker 9 (acct 8) buy 5 @ 101, maker left 0, taker left 5
        fill #2 maker 2 (acct 2) taker 9 (acct 8) buy 3 @ 101, maker left 0, taker left 2
        fill #3 maker 3 (acct 3) taker 9 (acct 8) buy 2 @ 102, maker left 2, taker left 0
        ",
    );
    assert_text(
        &m.ladder(),
        "
                 bid |    price | ask
                     |      103 | 2
                     |      102 | 2
                   6 |      100 |
        ",
    );
}

#[test]
fn partially_filled_maker_keeps_its_place_at_the_front() {
    let mut m = Market::with([sell(1, 1, 101, 5), sell(2, 2, 101, 3)]);
    assert_text(
        &m.place(buy(3, 8, 101, 2)),
        "
        accepted order 3 (acct 8) buy 2 @ 101
        fill #1 maker 1 (acct 1) taker 3 (acct 8) buy 2 @ 101, maker left 3, taker left 0
        ",
    );
    assert_text(
        &m.ladder(),
        "
                 bid |    price | ask
                     |      101 | 3 3
        ",
    );
    assert_text(
        &m.place(buy(4, 8, 101, 4)),
        "
        accepted order 4 (acct 8) buy 4 @ 101
        fill #2 maker 1 (acct 1) taker 4 (acct 8) buy 3 @ 101, maker left 0, taker left 1
        fill #3 maker 2 (acct 2) taker 4 (acct 8) buy 1 @ 101, maker left 2, taker left 0
        ",
    );
    assert_text(
        &m.ladder(),
        "
                 bid |    price | ask
                     |      101 | 2
        ",
    );
}

#[test]
fn unfilled_remainder_rests_at_the_limit_price() {
    let mut m = Market::with([sell(1, 1, 101, 5), sell(2, 2, 102, 4), sell(3, 3, 104, 1)]);
    assert_text(
        &m.place(buy(9, 8, 102, 12)),
        "
        accepted order 9 (acct 8) buy 12 @ 102
        fill #1 maker 1 (acct 1) taker 9 (acct 8) buy 5 @ 101, maker left 0, taker left 7
        fill #2 maker 2 (acct 2) taker 9 (acct 8) buy 4 @ 102, maker left 0, taker left 3
        rested order 9 (acct 8) buy 3 @ 102
        ",
    );
    assert_text(
        &m.ladder(),
        "
                 bid |    price | ask
                     |      104 | 1
                   3 |      102 |
        ",
    );
}

#[test]
fn fills_happen_at_the_resting_price_improving_the_taker() {
    let mut m = Market::with([sell(1, 1, 101, 5), buy(2, 2, 99, 5)]);
    // A buy limited at 105 pays 101; a sell limited at 90 receives 99.
    assert_text(
        &m.place(buy(3, 8, 105, 2)),
        "
        accepted order 3 (acct 8) buy 2 @ 105
        fill #1 maker 1 (acct 1) taker 3 (acct 8) buy 2 @ 101, maker left 3, taker left 0
        ",
    );
    assert_text(
        &m.place(sell(4, 8, 90, 2)),
        "
        accepted order 4 (acct 8) sell 2 @ 90
        fill #2 maker 2 (acct 2) taker 4 (acct 8) sell 2 @ 99, maker left 3, taker left 0
        ",
    );
    assert_text(
        &m.ladder(),
        "
                 bid |    price | ask
                     |      101 | 3
                   3 |       99 |
        ",
    );
}

// ---- immediate-or-cancel, market, fill-or-kill ----

#[test]
fn ioc_takes_what_it_can_and_cancels_the_rest_without_resting() {
    let mut m = Market::with([sell(1, 1, 101, 5), sell(2, 2, 102, 4)]);
    assert_text(
        &m.place(buy(9, 8, 101, 8).ioc()),
        "
        accepted order 9 (acct 8) buy 8 @ 101
        fill #1 maker 1 (acct 1) taker 9 (acct 8) buy 5 @ 101, maker left 0, taker left 3
        cancelled order 9 (acct 8) buy 3 @ 101: ImmediateOrCancel
        ",
    );
    assert_text(
        &m.ladder(),
        "
                 bid |    price | ask
                     |      102 | 4
        ",
    );
    // Nothing crosses: the whole order is cancelled and the book does not change.
    let digest = m.book.digest();
    assert_text(
        &m.place(buy(10, 8, 101, 3).ioc()),
        "
        accepted order 10 (acct 8) buy 3 @ 101
        cancelled order 10 (acct 8) buy 3 @ 101: ImmediateOrCancel
        ",
    );
    assert_eq!(m.book.digest(), digest);
}

#[test]
fn market_order_is_ioc_that_stops_at_its_protective_limit() {
    let mut m = Market::with([sell(1, 1, 101, 5), sell(2, 2, 102, 4), sell(3, 3, 110, 7)]);
    assert_text(
        &m.ladder(),
        "
                 bid |    price | ask
                     |      110 | 7
                     |      102 | 4
                     |      101 | 5
        ",
    );
    // "Buy 20 at market, but pay no more than 105."
    assert_text(
        &m.place(buy(9, 8, 105, 20).ioc()),
        "
        accepted order 9 (acct 8) buy 20 @ 105
        fill #1 maker 1 (acct 1) taker 9 (acct 8) buy 5 @ 101, maker left 0, taker left 15
        fill #2 maker 2 (acct 2) taker 9 (acct 8) buy 4 @ 102, maker left 0, taker left 11
        cancelled order 9 (acct 8) buy 11 @ 105: ImmediateOrCancel
        ",
    );
    assert_text(
        &m.ladder(),
        "
                 bid |    price | ask
                     |      110 | 7
        ",
    );
}

#[test]
fn fok_fills_completely_across_levels() {
    let mut m = Market::with([sell(1, 1, 101, 5), sell(2, 2, 102, 4), sell(3, 3, 103, 1)]);
    assert_text(
        &m.place(buy(9, 8, 102, 9).fok()),
        "
        accepted order 9 (acct 8) buy 9 @ 102
        fill #1 maker 1 (acct 1) taker 9 (acct 8) buy 5 @ 101, maker left 0, taker left 4
        fill #2 maker 2 (acct 2) taker 9 (acct 8) buy 4 @ 102, maker left 0, taker left 0
        ",
    );
    assert_text(
        &m.ladder(),
        "
                 bid |    price | ask
                     |      103 | 1
        ",
    );
}

#[test]
fn fok_that_cannot_fill_completely_within_its_limit_changes_nothing() {
    let mut m = Market::with([sell(1, 1, 101, 5), sell(2, 2, 102, 4), sell(3, 3, 103, 1)]);
    let (ladder, digest) = (m.ladder(), m.book.digest());
    // 10 lots are there up to 103, but only 9 up to the limit of 102.
    assert_text(
        &m.place(buy(9, 8, 102, 10).fok()),
        "
        accepted order 9 (acct 8) buy 10 @ 102
        cancelled order 9 (acct 8) buy 10 @ 102: FillOrKill
        ",
    );
    assert_eq!(m.ladder(), ladder);
    assert_eq!(m.book.digest(), digest);
    // No fill happened, so the next fill is still #1.
    assert_text(
        &m.place(buy(10, 8, 103, 10).fok()),
        "
        accepted order 10 (acct 8) buy 10 @ 103
        fill #1 maker 1 (acct 1) taker 10 (acct 8) buy 5 @ 101, maker left 0, taker left 5
        fill #2 maker 2 (acct 2) taker 10 (acct 8) buy 4 @ 102, maker left 0, taker left 1
        fill #3 maker 3 (acct 3) taker 10 (acct 8) buy 1 @ 103, maker left 0, taker left 0
        ",
    );
    assert!(m.book.is_empty());
}

/// The level at 101 holds 5 from account 1, then 3 of the taker's own (account 8), then
/// 4 from account 2: 9 lots of other accounts' liquidity, but only 5 ahead of the own
/// order.
fn book_with_own_order_in_the_middle() -> Market {
    Market::with([sell(1, 1, 101, 5), sell(2, 8, 101, 3), sell(3, 2, 101, 4)])
}

#[test]
fn fok_under_cancel_resting_skips_own_orders_when_counting_and_cancels_them_when_filling() {
    let mut m = book_with_own_order_in_the_middle();
    assert_text(
        &m.ladder(),
        "
                 bid |    price | ask
                     |      101 | 5 3 4
        ",
    );
    assert_text(
        &m.place(buy(9, 8, 101, 9).fok()),
        "
        accepted order 9 (acct 8) buy 9 @ 101
        fill #1 maker 1 (acct 1) taker 9 (acct 8) buy 5 @ 101, maker left 0, taker left 4
        cancelled order 2 (acct 8) sell 3 @ 101: SelfTrade
        fill #2 maker 3 (acct 2) taker 9 (acct 8) buy 4 @ 101, maker left 0, taker left 0
        ",
    );
    assert!(m.book.is_empty());
}

#[test]
fn fok_under_cancel_resting_that_cannot_fill_does_not_cancel_own_orders() {
    let mut m = book_with_own_order_in_the_middle();
    let digest = m.book.digest();
    assert_text(
        &m.place(buy(9, 8, 101, 10).fok()),
        "
        accepted order 9 (acct 8) buy 10 @ 101
        cancelled order 9 (acct 8) buy 10 @ 101: FillOrKill
        ",
    );
    assert_eq!(m.book.digest(), digest);
    assert_text(
        &m.ladder(),
        "
                 bid |    price | ask
                     |      101 | 5 3 4
        ",
    );
}

#[test]
fn fok_under_cancel_incoming_and_cancel_both_counts_only_what_is_ahead_of_the_own_order() {
    for mode in [
        SelfTradePrevention::CancelIncoming,
        SelfTradePrevention::CancelBoth,
    ] {
        let mut m = book_with_own_order_in_the_middle();
        let digest = m.book.digest();
        // 9 lots of others' liquidity cross, but matching would stop at the own order
        // after 5: killed, and the own order is not cancelled either.
        assert_text(
            &m.place(buy(9, 8, 101, 6).fok().self_trade(mode)),
            "
            accepted order 9 (acct 8) buy 6 @ 101
            cancelled order 9 (acct 8) buy 6 @ 101: FillOrKill
            ",
        );
        assert_eq!(m.book.digest(), digest, "{mode:?}");
        // Exactly the 5 ahead of the own order: fills, and never reaches the own order.
        assert_text(
            &m.place(buy(10, 8, 101, 5).fok().self_trade(mode)),
            "
            accepted order 10 (acct 8) buy 5 @ 101
            fill #1 maker 1 (acct 1) taker 10 (acct 8) buy 5 @ 101, maker left 0, taker left 0
            ",
        );
        assert_text(
            &m.ladder(),
            "
                     bid |    price | ask
                         |      101 | 3 4
            ",
        );
    }
}

// ---- post-only ----

#[test]
fn post_only_rests_when_it_does_not_cross() {
    let mut m = Market::with([sell(1, 1, 101, 5), buy(2, 2, 99, 5)]);
    assert_text(
        &m.place(buy(3, 8, 100, 4).post_only()),
        "
        accepted order 3 (acct 8) buy 4 @ 100
        rested order 3 (acct 8) buy 4 @ 100
        ",
    );
    assert_text(
        &m.place(sell(4, 8, 101, 2).post_only().good_till_block(10)),
        "
        accepted order 4 (acct 8) sell 2 @ 101
        rested order 4 (acct 8) sell 2 @ 101
        ",
    );
    assert_text(
        &m.ladder(),
        "
                 bid |    price | ask
                     |      101 | 5 2
                   4 |      100 |
                   5 |       99 |
        ",
    );
}

#[test]
fn post_only_that_would_take_is_rejected_and_changes_nothing() {
    let mut m = Market::with([sell(1, 1, 101, 5), buy(2, 2, 99, 5)]);
    let (ladder, digest) = (m.ladder(), m.book.digest());
    // At the best ask (a buy) or at the best bid (a sell) it would trade.
    assert_text(
        &m.place(buy(3, 8, 101, 4).post_only()),
        "rejected order 3 (acct 8): PostOnlyWouldTake",
    );
    assert_text(
        &m.place(sell(4, 8, 99, 4).post_only()),
        "rejected order 4 (acct 8): PostOnlyWouldTake",
    );
    assert_eq!(m.ladder(), ladder);
    assert_eq!(m.book.digest(), digest);
}

#[test]
fn amend_of_post_only_that_would_cross_is_rejected_and_the_order_is_unchanged() {
    let mut m = Market::with([
        sell(1, 1, 101, 5),
        buy(2, 8, 100, 4).post_only(),
        buy(3, 3, 100, 1),
    ]);
    assert_text(
        &m.ladder(),
        "
                 bid |    price | ask
                     |      101 | 5
                 4 1 |      100 |
        ",
    );
    let (before, digest) = (m.book.order(OrderId(2)), m.book.digest());
    assert_text(
        &m.amend(8, 2, 101, 4),
        "rejected order 2 (acct 8): PostOnlyWouldTake",
    );
    assert_eq!(m.book.order(OrderId(2)), before);
    assert_eq!(m.book.digest(), digest);
    // A non-crossing new price is fine; the order is still post-only there.
    assert_text(
        &m.amend(8, 2, 99, 4),
        "
        amended order 2 (acct 8) buy 4 @ 100 -> 4 @ 99, priority lost
        rested order 2 (acct 8) buy 4 @ 99
        ",
    );
    assert!(m.book.order(OrderId(2)).expect("live").post_only);
    assert_text(
        &m.ladder(),
        "
                 bid |    price | ask
                     |      101 | 5
                   1 |      100 |
                   4 |       99 |
        ",
    );
}

// ---- good-till-block ----

#[test]
fn good_till_block_rests_trades_in_its_last_block_and_expires_after_it() {
    let mut m = Market::new();
    assert_text(
        &m.place(buy(1, 1, 100, 5).good_till_block(5)),
        "
        accepted order 1 (acct 1) buy 5 @ 100
        rested order 1 (acct 1) buy 5 @ 100
        ",
    );
    // Block 5 is the order's last block: it is still on the book and may trade.
    assert_text(&m.expire(5), "");
    assert_text(
        &m.place(sell(2, 2, 100, 2)),
        "
        accepted order 2 (acct 2) sell 2 @ 100
        fill #1 maker 1 (acct 1) taker 2 (acct 2) sell 2 @ 100, maker left 3, taker left 0
        ",
    );
    assert_text(
        &m.ladder(),
        "
                 bid |    price | ask
                   3 |      100 |
        ",
    );
    // Block 6 begins: it leaves with what is left of it.
    assert_text(&m.expire(6), "expired order 1 (acct 1) buy 3 @ 100");
    assert!(m.book.is_empty());
    assert_eq!(m.book.height(), Height(6));
}

#[test]
fn expiry_removes_orders_in_ascending_last_block_then_order_id() {
    let mut m = Market::with([
        buy(1, 1, 100, 1).good_till_block(8),
        buy(2, 2, 99, 2).good_till_block(6),
        sell(3, 3, 105, 3).good_till_block(6),
        buy(4, 4, 100, 4),
        sell(5, 5, 106, 5).good_till_block(11),
    ]);
    assert_text(
        &m.ladder(),
        "
                 bid |    price | ask
                     |      106 | 5
                     |      105 | 3
                 1 4 |      100 |
                   2 |       99 |
        ",
    );
    assert_text(
        &m.expire(10),
        "
        expired order 2 (acct 2) buy 2 @ 99
        expired order 3 (acct 3) sell 3 @ 105
        expired order 1 (acct 1) buy 1 @ 100
        ",
    );
    assert_text(
        &m.ladder(),
        "
                 bid |    price | ask
                     |      106 | 5
                   4 |      100 |
        ",
    );
}

#[test]
fn good_till_block_placed_after_its_last_block_is_rejected() {
    let mut m = Market::new();
    m.expire(6);
    let digest = m.book.digest();
    assert_text(
        &m.place(buy(1, 1, 100, 5).good_till_block(5)),
        "rejected order 1 (acct 1): AlreadyExpired",
    );
    assert_eq!(m.book.digest(), digest);
    // Its last block may be the current one.
    assert_text(
        &m.place(buy(2, 1, 100, 5).good_till_block(6)),
        "
        accepted order 2 (acct 1) buy 5 @ 100
        rested order 2 (acct 1) buy 5 @ 100
        ",
    );
}

#[test]
#[should_panic(expected = "Expire heights must not decrease")]
fn expire_to_a_lower_height_is_a_caller_bug_and_panics() {
    let mut m = Market::new();
    m.expire(6);
    m.expire(5);
}

// ---- amend ----

#[test]
fn amend_reducing_quantity_keeps_priority() {
    let mut m = Market::with([buy(1, 1, 100, 5), buy(2, 2, 100, 3)]);
    assert_text(
        &m.amend(1, 1, 100, 2),
        "amended order 1 (acct 1) buy 5 @ 100 -> 2 @ 100, priority kept",
    );
    assert_text(
        &m.ladder(),
        "
                 bid |    price | ask
                 2 3 |      100 |
        ",
    );
    // Resending the same amend sets the same remaining quantity: harmless.
    assert_text(
        &m.amend(1, 1, 100, 2),
        "amended order 1 (acct 1) buy 2 @ 100 -> 2 @ 100, priority kept",
    );
    // Order 1 is still first in the queue.
    assert_text(
        &m.place(sell(3, 8, 100, 3)),
        "
        accepted order 3 (acct 8) sell 3 @ 100
        fill #1 maker 1 (acct 1) taker 3 (acct 8) sell 2 @ 100, maker left 0, taker left 1
        fill #2 maker 2 (acct 2) taker 3 (acct 8) sell 1 @ 100, maker left 2, taker left 0
        ",
    );
}

#[test]
fn amend_increasing_quantity_loses_priority() {
    let mut m = Market::with([buy(1, 1, 100, 5), buy(2, 2, 100, 3)]);
    assert_text(
        &m.amend(1, 1, 100, 6),
        "
        amended order 1 (acct 1) buy 5 @ 100 -> 6 @ 100, priority lost
        rested order 1 (acct 1) buy 6 @ 100
        ",
    );
    assert_text(
        &m.ladder(),
        "
                 bid |    price | ask
                 3 6 |      100 |
        ",
    );
}

#[test]
fn amend_changing_price_loses_priority_even_when_moving_back() {
    let mut m = Market::with([buy(1, 1, 100, 5), buy(2, 2, 100, 3)]);
    assert_text(
        &m.amend(1, 1, 99, 5),
        "
        amended order 1 (acct 1) buy 5 @ 100 -> 5 @ 99, priority lost
        rested order 1 (acct 1) buy 5 @ 99
        ",
    );
    assert_text(
        &m.amend(1, 1, 100, 5),
        "
        amended order 1 (acct 1) buy 5 @ 99 -> 5 @ 100, priority lost
        rested order 1 (acct 1) buy 5 @ 100
        ",
    );
    assert_text(
        &m.ladder(),
        "
                 bid |    price | ask
                 3 5 |      100 |
        ",
    );
}

#[test]
fn amend_to_a_crossing_price_trades_like_a_new_order_without_a_new_accepted() {
    let mut m = Market::with([buy(1, 1, 100, 5), sell(2, 2, 102, 3), sell(3, 3, 103, 4)]);
    assert_text(
        &m.ladder(),
        "
                 bid |    price | ask
                     |      103 | 4
                     |      102 | 3
                   5 |      100 |
        ",
    );
    assert_text(
        &m.amend(1, 1, 102, 5),
        "
        amended order 1 (acct 1) buy 5 @ 100 -> 5 @ 102, priority lost
        fill #1 maker 2 (acct 2) taker 1 (acct 1) buy 3 @ 102, maker left 0, taker left 2
        rested order 1 (acct 1) buy 2 @ 102
        ",
    );
    assert_text(
        &m.ladder(),
        "
                 bid |    price | ask
                     |      103 | 4
                   2 |      102 |
        ",
    );
}

// ---- cancel ----

#[test]
fn cancel_by_order_id() {
    let mut m = Market::with([buy(1, 1, 100, 5), buy(2, 1, 100, 3), sell(3, 2, 101, 1)]);
    assert_text(
        &m.cancel(1, 1),
        "cancelled order 1 (acct 1) buy 5 @ 100: Requested",
    );
    assert_text(
        &m.ladder(),
        "
                 bid |    price | ask
                     |      101 | 1
                   3 |      100 |
        ",
    );
}

#[test]
fn cancel_by_client_order_id() {
    let mut m = Market::with([
        buy(1, 1, 100, 5).client_id(77),
        sell(2, 2, 101, 1).client_id(77),
    ]);
    // Client order ids are the account's own: account 1's 77 is order 1.
    assert_text(
        &m.cancel_client(1, 77),
        "cancelled order 1 (acct 1) buy 5 @ 100: Requested",
    );
    assert_text(
        &m.ladder(),
        "
                 bid |    price | ask
                     |      101 | 1
        ",
    );
    // Once the order is gone its client id is free again.
    assert_text(
        &m.place(buy(3, 1, 99, 2).client_id(77)),
        "
        accepted order 3 (acct 1) buy 2 @ 99 client 77
        rested order 3 (acct 1) buy 2 @ 99
        ",
    );
}

#[test]
fn cancel_all_cancels_the_accounts_orders_in_ascending_order_id() {
    let mut m = Market::with([
        buy(5, 1, 100, 1),
        sell(2, 1, 103, 2),
        buy(9, 1, 99, 3),
        buy(4, 2, 100, 4),
        sell(3, 1, 102, 5),
    ]);
    assert_text(
        &m.ladder(),
        "
                 bid |    price | ask
                     |      103 | 2
                     |      102 | 5
                 1 4 |      100 |
                   3 |       99 |
        ",
    );
    assert_text(
        &m.cancel_all(1),
        "
        cancelled order 2 (acct 1) sell 2 @ 103: CancelAll
        cancelled order 3 (acct 1) sell 5 @ 102: CancelAll
        cancelled order 5 (acct 1) buy 1 @ 100: CancelAll
        cancelled order 9 (acct 1) buy 3 @ 99: CancelAll
        ",
    );
    assert_text(
        &m.ladder(),
        "
                 bid |    price | ask
                   4 |      100 |
        ",
    );
    // An account with nothing resting: no events, and not a rejection.
    assert_text(&m.cancel_all(1), "");
}

// ---- self-trade prevention ----

/// At 101: 2 from account 1, 3 of the taker's own (account 8), then 4 from account 2.
fn book_for_self_trade() -> Market {
    let m = Market::with([sell(1, 1, 101, 2), sell(2, 8, 101, 3), sell(3, 2, 101, 4)]);
    assert_text(
        &m.ladder(),
        "
                 bid |    price | ask
                     |      101 | 2 3 4
        ",
    );
    m
}

#[test]
fn self_trade_cancel_resting_is_the_default_and_the_incoming_order_goes_on() {
    let mut m = book_for_self_trade();
    assert_text(
        &m.place(buy(9, 8, 101, 5)),
        "
        accepted order 9 (acct 8) buy 5 @ 101
        fill #1 maker 1 (acct 1) taker 9 (acct 8) buy 2 @ 101, maker left 0, taker left 3
        cancelled order 2 (acct 8) sell 3 @ 101: SelfTrade
        fill #2 maker 3 (acct 2) taker 9 (acct 8) buy 3 @ 101, maker left 1, taker left 0
        ",
    );
    assert_text(
        &m.ladder(),
        "
                 bid |    price | ask
                     |      101 | 1
        ",
    );
}

#[test]
fn self_trade_cancel_incoming_cancels_the_rest_of_the_incoming_order() {
    let mut m = book_for_self_trade();
    assert_text(
        &m.place(buy(9, 8, 101, 5).self_trade(SelfTradePrevention::CancelIncoming)),
        "
        accepted order 9 (acct 8) buy 5 @ 101
        fill #1 maker 1 (acct 1) taker 9 (acct 8) buy 2 @ 101, maker left 0, taker left 3
        cancelled order 9 (acct 8) buy 3 @ 101: SelfTrade
        ",
    );
    // The own resting order stays, and the good-till-cancel remainder did not rest.
    assert_text(
        &m.ladder(),
        "
                 bid |    price | ask
                     |      101 | 3 4
        ",
    );
}

#[test]
fn self_trade_cancel_both_cancels_the_resting_order_and_the_rest_of_the_incoming() {
    let mut m = book_for_self_trade();
    assert_text(
        &m.place(buy(9, 8, 101, 5).self_trade(SelfTradePrevention::CancelBoth)),
        "
        accepted order 9 (acct 8) buy 5 @ 101
        fill #1 maker 1 (acct 1) taker 9 (acct 8) buy 2 @ 101, maker left 0, taker left 3
        cancelled order 2 (acct 8) sell 3 @ 101: SelfTrade
        cancelled order 9 (acct 8) buy 3 @ 101: SelfTrade
        ",
    );
    assert_text(
        &m.ladder(),
        "
                 bid |    price | ask
                     |      101 | 4
        ",
    );
}

// ---- fill sequence ----

#[test]
fn fill_sequence_numbers_increase_across_commands() {
    let mut m = Market::with([sell(1, 1, 101, 2), sell(2, 2, 101, 2), sell(3, 3, 102, 2)]);
    assert_eq!(m.book.trade_seq(), 0);
    assert_text(
        &m.place(buy(4, 8, 101, 3)),
        "
        accepted order 4 (acct 8) buy 3 @ 101
        fill #1 maker 1 (acct 1) taker 4 (acct 8) buy 2 @ 101, maker left 0, taker left 1
        fill #2 maker 2 (acct 2) taker 4 (acct 8) buy 1 @ 101, maker left 1, taker left 0
        ",
    );
    // Commands without fills (a rest, a rejection, a cancel) use no sequence numbers.
    m.place(buy(5, 8, 100, 1));
    m.place(buy(5, 8, 100, 1));
    m.cancel(8, 5);
    assert_text(
        &m.place(buy(6, 9, 102, 4).ioc()),
        "
        accepted order 6 (acct 9) buy 4 @ 102
        fill #3 maker 2 (acct 2) taker 6 (acct 9) buy 1 @ 101, maker left 0, taker left 3
        fill #4 maker 3 (acct 3) taker 6 (acct 9) buy 2 @ 102, maker left 0, taker left 1
        cancelled order 6 (acct 9) buy 1 @ 102: ImmediateOrCancel
        ",
    );
    assert_eq!(m.book.trade_seq(), 4);
}
