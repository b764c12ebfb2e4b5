//! The human view: API values as lines of text in decimal units. Pure functions of the
//! values, so they are tested without a node.

use std::collections::BTreeMap;

use api::wire::{
    AccountJson, ActionResult, AssetJson, BookJson, EventJson, FillJson, MarketJson, OrderJson,
    OrderStatusJson, SideJson, TxStatus, TxStatusKind,
};
use api::wire::{OrderUpdateJson, UpdateKind};

use super::units::{MarketUnits, format_atoms};

/// The markets and assets of a chain, for turning chain units into decimals.
#[derive(Clone, Debug, Default)]
pub struct Catalog {
    markets: BTreeMap<u32, MarketUnits>,
    assets: BTreeMap<u32, AssetJson>,
}

impl Catalog {
    /// From `GET /v1/markets`. Assets are those the markets trade (the API has no
    /// asset list of its own).
    pub fn new(markets: &[MarketJson]) -> Catalog {
        let mut catalog = Catalog::default();
        for market in markets {
            catalog.markets.insert(market.id, MarketUnits::new(market));
            for asset in [&market.base, &market.quote] {
                catalog.assets.insert(asset.id, asset.clone());
            }
        }
        catalog
    }

    /// The units of market `id`.
    pub fn market(&self, id: u32) -> Option<&MarketUnits> {
        self.markets.get(&id)
    }

    /// An asset by symbol (any case) or id.
    pub fn asset(&self, name: &str) -> Option<&AssetJson> {
        if let Ok(id) = name.parse::<u32>() {
            return self.assets.get(&id);
        }
        self.assets
            .values()
            .find(|a| a.symbol.eq_ignore_ascii_case(name))
    }

    /// Every asset the markets trade, by id.
    pub fn assets(&self) -> impl Iterator<Item = &AssetJson> {
        self.assets.values()
    }
}

/// The first characters of a long hex string, enough to tell accounts apart.
pub fn short(hex: &str) -> String {
    if hex.len() > 12 {
        format!("{}…", &hex[..8])
    } else {
        hex.to_string()
    }
}

fn side_word(side: SideJson) -> &'static str {
    match side {
        SideJson::Buy => "buy",
        SideJson::Sell => "sell",
    }
}

/// `buy 0.0100 BTC @ 65000.50 USD` in market `market`'s units, or chain units if unknown.
pub fn order_text(catalog: &Catalog, market: u32, side: SideJson, qty: u64, price: u64) -> String {
    match catalog.market(market) {
        Some(units) => format!(
            "{} {} {} @ {} {}",
            side_word(side),
            units.format_qty(qty),
            units.market.base.symbol,
            units.format_price(price),
            units.market.quote.symbol
        ),
        None => format!(
            "{} {qty} base atoms @ {price} quote atoms per lot on market {market}",
            side_word(side)
        ),
    }
}

fn qty_text(catalog: &Catalog, market: u32, qty: u64) -> String {
    match catalog.market(market) {
        Some(units) => format!("{} {}", units.format_qty(qty), units.market.base.symbol),
        None => format!("{qty} base atoms"),
    }
}

fn fee_text(catalog: &Catalog, market: u32, fee: u64) -> String {
    match catalog.market(market) {
        Some(units) => format!(
            "{} {}",
            format_atoms(u128::from(fee), units.market.quote.decimals, 0),
            units.market.quote.symbol
        ),
        None => format!("{fee} quote atoms"),
    }
}

/// A time of day, `HH:MM:SS.mmm` UTC, from Unix milliseconds.
pub fn time_of_day(timestamp_ms: u64) -> String {
    let ms = timestamp_ms % 1_000;
    let seconds = (timestamp_ms / 1_000) % 86_400;
    format!(
        "{:02}:{:02}:{:02}.{ms:03}",
        seconds / 3_600,
        (seconds / 60) % 60,
        seconds % 60
    )
}

/// One fill as a trade anyone can see.
pub fn trade_line(catalog: &Catalog, fill: &FillJson) -> String {
    let symbol = catalog.market(fill.market).map_or_else(
        || format!("market {}", fill.market),
        |u| u.market.symbol.clone(),
    );
    let what = order_text(catalog, fill.market, fill.taker_side, fill.qty, fill.price);
    format!(
        "{} trade {symbol} #{}: taker {what}",
        time_of_day(fill.timestamp_ms),
        fill.seq
    )
}

/// One fill from `account`'s point of view: what it bought or sold, as maker or taker,
/// and its fee.
pub fn fill_line(catalog: &Catalog, fill: &FillJson, account: &str) -> String {
    let maker_side = match fill.taker_side {
        SideJson::Buy => SideJson::Sell,
        SideJson::Sell => SideJson::Buy,
    };
    let mut parts = Vec::new();
    for (role, who, side, order, fee) in [
        (
            "maker",
            &fill.maker,
            maker_side,
            fill.maker_order_id,
            fill.maker_fee,
        ),
        (
            "taker",
            &fill.taker,
            fill.taker_side,
            fill.taker_order_id,
            fill.taker_fee,
        ),
    ] {
        if who.eq_ignore_ascii_case(account) {
            parts.push(format!(
                "{} as {role} (order {order}), fee {}",
                order_text(catalog, fill.market, side, fill.qty, fill.price),
                fee_text(catalog, fill.market, fee)
            ));
        }
    }
    if parts.is_empty() {
        return trade_line(catalog, fill);
    }
    format!("fill #{}: {}", fill.seq, parts.join("; "))
}

/// One book event, in decimals.
pub fn event_line(catalog: &Catalog, event: &EventJson) -> String {
    match event {
        EventJson::Accepted {
            market,
            order_id,
            side,
            price,
            qty,
            ..
        } => format!(
            "accepted order {order_id}: {}",
            order_text(catalog, *market, *side, *qty, *price)
        ),
        EventJson::Fill(fill) => {
            let maker_left = qty_text(catalog, fill.market, fill.maker_qty_remaining);
            format!(
                "filled {} (maker order {} {}, {maker_left} left; fees maker {}, taker {})",
                order_text(catalog, fill.market, fill.taker_side, fill.qty, fill.price),
                fill.maker_order_id,
                short(&fill.maker),
                fee_text(catalog, fill.market, fill.maker_fee),
                fee_text(catalog, fill.market, fill.taker_fee)
            )
        }
        EventJson::Rested {
            market,
            order_id,
            side,
            price,
            qty,
            ..
        } => format!(
            "resting order {order_id}: {}",
            order_text(catalog, *market, *side, *qty, *price)
        ),
        EventJson::Amended {
            market,
            order_id,
            side,
            old_price,
            old_qty,
            price,
            qty,
            priority_kept,
            ..
        } => format!(
            "amended order {order_id}: {} -> {} ({})",
            order_text(catalog, *market, *side, *old_qty, *old_price),
            order_text(catalog, *market, *side, *qty, *price),
            if *priority_kept {
                "priority kept"
            } else {
                "priority lost"
            }
        ),
        EventJson::Cancelled {
            market,
            order_id,
            side,
            price,
            qty,
            reason,
            ..
        } => format!(
            "cancelled order {order_id} ({reason}): {}",
            order_text(catalog, *market, *side, *qty, *price)
        ),
        EventJson::Expired {
            market,
            order_id,
            side,
            price,
            qty,
            ..
        } => format!(
            "expired order {order_id}: {}",
            order_text(catalog, *market, *side, *qty, *price)
        ),
        EventJson::Rejected { order_id, code, .. } => match order_id {
            Some(id) => format!("rejected order {id}: {code}"),
            None => format!("rejected: {code}"),
        },
    }
}

/// One update of `account`'s `orders` websocket channel; its fills read from the
/// account's side.
pub fn update_line(catalog: &Catalog, update: &OrderUpdateJson, account: &str) -> String {
    let origin = update
        .tx
        .as_deref()
        .map_or_else(String::new, |tx| format!(" (tx {})", short(tx)));
    match &update.event {
        UpdateKind::Book(EventJson::Fill(fill)) => {
            format!("{}{origin}", fill_line(catalog, fill, account))
        }
        UpdateKind::Book(event) => format!("{}{origin}", event_line(catalog, event)),
        UpdateKind::Refused { refused } => match update.action {
            Some(action) => format!("refused action {action}: {refused}{origin}"),
            None => format!("refused transaction: {refused}{origin}"),
        },
        UpdateKind::Dropped { dropped, rule } => {
            format!("dropped transaction: {dropped} ({rule}), it will never run{origin}")
        }
    }
}

/// " in block H", and on a chain of validators which certificate made it final.
fn where_final(status: &TxStatus) -> String {
    let Some(height) = status.height else {
        return String::new();
    };
    match status.finality {
        None => format!(" in block {height}"),
        Some(f) if f.height == height => {
            format!(
                " in block {height}, final by its certificate of view {}",
                f.view
            )
        }
        Some(f) => format!(
            " in block {height}, final by block {}'s certificate of view {}",
            f.height, f.view
        ),
    }
}

/// A transaction's status and everything it caused.
pub fn receipt_lines(catalog: &Catalog, status: &TxStatus) -> Vec<String> {
    let mut lines = Vec::new();
    match status.status {
        TxStatusKind::Pending => lines.push(format!(
            "tx {} pending: not in a block yet (check with `clobchain tx {}`)",
            status.hash, status.hash
        )),
        TxStatusKind::Rejected => lines.push(format!(
            "tx {} rejected{}: {}",
            status.hash,
            where_final(status),
            status.code.as_deref().unwrap_or("(no code)")
        )),
        TxStatusKind::Committed => {
            lines.push(format!(
                "tx {} committed{}",
                status.hash,
                where_final(status)
            ));
        }
        TxStatusKind::Dropped => lines.push(format!(
            "tx {} dropped after block {}: {} ({}); it will never run, nothing changed",
            status.hash,
            status.height.unwrap_or(0),
            status.code.as_deref().unwrap_or("(no code)"),
            status
                .reason
                .as_deref()
                .or(status.rule.as_deref())
                .unwrap_or("no reason given")
        )),
    }
    if status.actions.len() > 1 {
        for (i, action) in status.actions.iter().enumerate() {
            let result = match action {
                ActionResult::Placed { order_id } => format!("placed order {order_id}"),
                ActionResult::Done => "done".to_string(),
                ActionResult::Rejected { code } => format!("rejected: {code}"),
            };
            lines.push(format!("  action {i}: {result}"));
        }
    } else if let Some(ActionResult::Rejected { code }) = status.actions.first() {
        // The book's own rejection event says the same, with the order id.
        if !status
            .events
            .iter()
            .any(|e| matches!(e, EventJson::Rejected { .. }))
        {
            lines.push(format!("  rejected: {code}"));
        }
    }
    lines.extend(
        status
            .events
            .iter()
            .map(|e| format!("  {}", event_line(catalog, e))),
    );
    lines
}

/// The first refusal in a receipt: the whole transaction's, else its first action's.
pub fn refusal(status: &TxStatus) -> Option<&str> {
    if status.status == TxStatusKind::Rejected {
        return Some(status.code.as_deref().unwrap_or("REJECTED"));
    }
    status.actions.iter().find_map(|a| match a {
        ActionResult::Rejected { code } => Some(code.as_str()),
        _ => None,
    })
}

/// Balances in decimals, one asset a line, and the last nonce.
pub fn account_lines(catalog: &Catalog, account: &AccountJson) -> Vec<String> {
    let mut lines = vec![format!(
        "account {} at block {}{}",
        account.account,
        account.height,
        if account.exists {
            ""
        } else {
            " (not on chain yet: fund it with `clobchain faucet`)"
        }
    )];
    let rows: Vec<[String; 3]> = account
        .balances
        .iter()
        .map(|b| {
            let show = |atoms: u64| match catalog.asset(&b.asset.to_string()) {
                Some(asset) => format_atoms(
                    u128::from(atoms),
                    asset.decimals,
                    usize::from(asset.decimals),
                ),
                None => format!("{atoms} atoms"),
            };
            [b.symbol.clone(), show(b.available), show(b.held)]
        })
        .collect();
    let header = [
        "asset".to_string(),
        "available".to_string(),
        "held".to_string(),
    ];
    lines.extend(table(&header, &rows, &[false, true, true]));
    lines.push(format!(
        "last nonce: {}",
        account
            .last_nonce
            .map_or_else(|| "none".to_string(), |n| n.to_string())
    ));
    lines
}

/// Rows under a header, each column as wide as its widest cell; `right[i]` aligns
/// column `i` right.
fn table<const N: usize>(
    header: &[String; N],
    rows: &[[String; N]],
    right: &[bool; N],
) -> Vec<String> {
    let mut widths = [0usize; N];
    for row in std::iter::once(header).chain(rows) {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.chars().count());
        }
    }
    std::iter::once(header)
        .chain(rows)
        .map(|row| {
            let cells: Vec<String> = row
                .iter()
                .zip(widths)
                .zip(right)
                .map(|((cell, width), &right)| {
                    if right {
                        format!("{cell:>width$}")
                    } else {
                        format!("{cell:<width$}")
                    }
                })
                .collect();
            format!("  {}", cells.join("  ")).trim_end().to_string()
        })
        .collect()
}

fn status_word(status: OrderStatusJson) -> &'static str {
    match status {
        OrderStatusJson::Open => "open",
        OrderStatusJson::Filled => "filled",
        OrderStatusJson::Cancelled => "cancelled",
        OrderStatusJson::Expired => "expired",
        OrderStatusJson::Rejected => "rejected",
    }
}

/// One order: id, status, what is left, and what filled.
pub fn order_line(catalog: &Catalog, order: &OrderJson) -> String {
    let mut line = format!(
        "order {} {}: {} remaining",
        order.order_id,
        status_word(order.status),
        order_text(
            catalog,
            order.market,
            order.side,
            order.qty_remaining,
            order.price
        )
    );
    if let Some(filled) = order.qty_filled {
        line.push_str(&format!(
            ", {} filled",
            qty_text(catalog, order.market, filled)
        ));
    }
    if let Some(client) = order.client_order_id {
        line.push_str(&format!(", client id {client}"));
    }
    if let Some(expiry) = order.expiry_height {
        line.push_str(&format!(", good till block {expiry}"));
    }
    line.push_str(&format!(" (block {})", order.height));
    line
}

/// The book as a ladder: asks on top (highest first), then the spread, then bids.
pub fn book_lines(units: &MarketUnits, book: &BookJson) -> Vec<String> {
    let mut lines = vec![format!(
        "{} at block {} (book seq {}), prices in {}",
        units.market.symbol,
        book.height,
        book.seq,
        units.price_unit()
    )];
    let level = |side: &str, [price, qty]: [u64; 2]| {
        [
            side.to_string(),
            units.format_price(price),
            units.format_qty(qty),
        ]
    };
    let mut rows: Vec<[String; 3]> = book.asks.iter().rev().map(|&l| level("ask", l)).collect();
    let asks = rows.len();
    rows.extend(book.bids.iter().map(|&l| level("bid", l)));
    let header = [
        "".to_string(),
        "price".to_string(),
        format!("qty ({})", units.market.base.symbol),
    ];
    let mut ladder = table(&header, &rows, &[false, true, true]);
    let spread = match (book.asks.first(), book.bids.first()) {
        (Some([ask, _]), Some([bid, _])) => {
            format!("spread {}", units.format_price(ask.saturating_sub(*bid)))
        }
        (None, None) => "empty book".to_string(),
        (None, _) => "no asks".to_string(),
        (_, None) => "no bids".to_string(),
    };
    ladder.insert(1 + asks, format!("  ----- {spread} -----"));
    lines.extend(ladder);
    lines
}

/// The markets with their steps and best prices.
pub fn market_lines(markets: &[MarketJson]) -> Vec<String> {
    let header = [
        "id",
        "market",
        "tick",
        "lot",
        "best bid",
        "best ask",
        "resting",
        "fees maker/taker",
    ]
    .map(String::from);
    let rows: Vec<[String; 8]> = markets
        .iter()
        .map(|m| {
            let units = MarketUnits::new(m);
            let best =
                |p: Option<u64>| p.map_or_else(|| "-".to_string(), |p| units.format_price(p));
            [
                m.id.to_string(),
                m.symbol.clone(),
                format!("{} {}", units.format_price(m.tick_size), m.quote.symbol),
                format!("{} {}", units.format_qty(m.lot_size), m.base.symbol),
                best(m.best_bid),
                best(m.best_ask),
                m.resting_orders.to_string(),
                format!("{}/{} bps", m.maker_fee_bps, m.taker_fee_bps),
            ]
        })
        .collect();
    table(
        &header,
        &rows,
        &[true, false, true, true, true, true, true, true],
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use api::wire::FinalityJson;

    fn catalog() -> Catalog {
        let (genesis, _) = markets::dev::genesis(1);
        let markets: Vec<MarketJson> = genesis
            .markets
            .iter()
            .enumerate()
            .map(|(i, m)| MarketJson::new(u32::try_from(i).unwrap(), m, &genesis.assets))
            .collect();
        Catalog::new(&markets)
    }

    fn fill() -> FillJson {
        FillJson {
            market: 0,
            seq: 3,
            height: 42,
            timestamp_ms: 1_767_225_600_000 + 3_723_004,
            price: 6_500_050,
            qty: 1_000_000,
            taker_side: SideJson::Buy,
            maker_order_id: 11,
            maker: "aa".repeat(32),
            taker_order_id: 22,
            taker: "bb".repeat(32),
            maker_qty_remaining: 0,
            taker_qty_remaining: 0,
            maker_fee: 130_001,
            taker_fee: 325_002,
        }
    }

    #[test]
    fn assets_are_found_by_symbol_or_id() {
        let catalog = catalog();
        assert_eq!(catalog.asset("usd").unwrap().decimals, 6);
        assert_eq!(catalog.asset("1").unwrap().symbol, "BTC");
        assert!(catalog.asset("DOGE").is_none());
        assert_eq!(catalog.assets().count(), 4);
    }

    #[test]
    fn fills_read_from_each_side() {
        let catalog = catalog();
        let fill = fill();
        assert_eq!(
            fill_line(&catalog, &fill, &"aa".repeat(32)),
            "fill #3: sell 0.0100 BTC @ 65000.50 USD as maker (order 11), fee 0.130001 USD"
        );
        assert_eq!(
            fill_line(&catalog, &fill, &"bb".repeat(32)),
            "fill #3: buy 0.0100 BTC @ 65000.50 USD as taker (order 22), fee 0.325002 USD"
        );
        assert_eq!(
            trade_line(&catalog, &fill),
            "01:02:03.004 trade BTC-USD #3: taker buy 0.0100 BTC @ 65000.50 USD"
        );
    }

    #[test]
    fn the_ladder_puts_asks_on_top() {
        let catalog = catalog();
        let book = BookJson {
            market: 0,
            height: 9,
            seq: 4,
            bids: vec![[6_500_000, 1_000_000], [6_499_000, 20_000]],
            asks: vec![[6_500_500, 50_000_000], [6_501_000, 10_000]],
        };
        let lines = book_lines(catalog.market(0).unwrap(), &book);
        let expected = [
            "BTC-USD at block 9 (book seq 4), prices in USD per BTC",
            "          price  qty (BTC)",
            "  ask  65010.00     0.0001",
            "  ask  65005.00     0.5000",
            "  ----- spread 5.00 -----",
            "  bid  65000.00     0.0100",
            "  bid  64990.00     0.0002",
        ];
        assert_eq!(lines, expected);
    }

    #[test]
    fn receipts_name_their_refusal() {
        let catalog = catalog();
        let status = TxStatus {
            hash: "ff".repeat(32),
            status: TxStatusKind::Committed,
            height: Some(5),
            index: Some(0),
            code: None,
            rule: None,
            reason: None,
            actions: vec![ActionResult::Rejected {
                code: "INSUFFICIENT_FUNDS".into(),
            }],
            events: vec![],
            finality: None,
        };
        assert_eq!(refusal(&status), Some("INSUFFICIENT_FUNDS"));
        let lines = receipt_lines(&catalog, &status);
        assert_eq!(lines[1], "  rejected: INSUFFICIENT_FUNDS");
        let placed = TxStatus {
            actions: vec![ActionResult::Placed { order_id: 1 }],
            events: vec![EventJson::Rested {
                market: 0,
                order_id: 1,
                account: "aa".repeat(32),
                side: SideJson::Sell,
                price: 6_500_050,
                qty: 10_000,
            }],
            ..status
        };
        assert_eq!(refusal(&placed), None);
        let final_ = TxStatus {
            finality: Some(FinalityJson { view: 9, height: 5 }),
            ..placed.clone()
        };
        assert!(
            receipt_lines(&catalog, &final_)[0]
                .ends_with(" committed in block 5, final by its certificate of view 9")
        );
        let later = TxStatus {
            finality: Some(FinalityJson {
                view: 11,
                height: 7,
            }),
            ..placed.clone()
        };
        assert!(
            receipt_lines(&catalog, &later)[0]
                .ends_with("final by block 7's certificate of view 11")
        );
        assert_eq!(
            receipt_lines(&catalog, &placed)[1],
            "  resting order 1: sell 0.0001 BTC @ 65000.50 USD"
        );
    }

    #[test]
    fn a_dropped_transaction_says_so_with_its_code_and_rule() {
        let status = TxStatus {
            hash: "ee".repeat(32),
            status: TxStatusKind::Dropped,
            height: Some(41),
            index: None,
            code: Some("NONCE_TOO_OLD".into()),
            rule: Some("below_nonce_floor".into()),
            reason: Some("the window forgot it".into()),
            actions: vec![],
            events: vec![],
            finality: None,
        };
        assert_eq!(
            receipt_lines(&catalog(), &status)[0],
            format!(
                "tx {} dropped after block 41: NONCE_TOO_OLD (the window forgot it); it will never run, nothing changed",
                "ee".repeat(32)
            )
        );
    }
}
