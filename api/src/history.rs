//! Trades and fills over the whole stored history, in cursor pages.
//!
//! The feed holds the newest trades of each market and fills of each account, and
//! knows the height from which it holds all of them ([`crate::feed::Recent`]). A page
//! starts there and, when the feed runs out before the page is full, goes on in the
//! stored blocks below that height ([`Node::stored`]), newest first. One request reads at
//! most [`SCAN_BLOCKS_MAX`] stored blocks (and stops early past [`SCAN_TRANSACTIONS_MAX`]
//! transactions), so a page may hold fewer than `limit` entries while older ones exist:
//! its `next` cursor then points below the last block read. The history ends when `next`
//! is absent.
//!
//! Entries are ordered by the cursor key `(height, market, seq)`, and a page holds the
//! entries older than its `before`, newest first, until it is full or the reading budget
//! ends. Where a budget ends depends on what the feed holds, so two requests with the
//! same `before` may return pages of different lengths; following `next` to its end
//! gives every entry once, in order, either way.

use matching::Event;

use crate::feed::{Cursor, Recent, cursor_of, fill_json};
use crate::view::ReadView;
use crate::wire::FillJson;
use crate::{ApiError, Node};

/// Stored blocks one page may read.
pub const SCAN_BLOCKS_MAX: u64 = 1_000;
/// Transactions in the stored blocks one page may read; the block that passes it is
/// the last one read.
pub const SCAN_TRANSACTIONS_MAX: usize = 200_000;

/// Whose history: a market's trades or an account's fills (either side).
#[derive(Clone, Copy, Debug)]
pub enum Subject {
    Market(u32),
    Account([u8; 32]),
}

/// One page: entries newest first, and where the next page starts.
#[derive(Debug, Default)]
pub struct Page {
    pub items: Vec<FillJson>,
    pub next: Option<Cursor>,
}

/// The page of `subject`'s history older than `before`, given what the feed holds of
/// it. Blocking: reads stored blocks; call it off the async workers.
pub fn page<N: Node>(
    node: &N,
    view: &ReadView,
    subject: Subject,
    recent: Recent,
    before: Option<Cursor>,
    limit: usize,
) -> Result<Page, ApiError> {
    let Recent {
        mut items,
        complete_from,
    } = recent;
    if items.len() >= limit {
        items.truncate(limit);
        let next = items.last().map(cursor_of);
        return Ok(Page { items, next });
    }
    let account = match subject {
        Subject::Market(_) => None,
        // A key the chain never saw has no history.
        Subject::Account(key) => match view.account(&key) {
            Some(account) => Some(account.id),
            None => return Ok(Page { items, next: None }),
        },
    };
    // Below what the feed holds, and below the cursor.
    let mut height = complete_from
        .saturating_sub(1)
        .min(before.map_or(u64::MAX, |b| b.0))
        .min(view.height);
    let mut blocks = 0;
    let mut transactions = 0;
    while height >= 1 && items.len() < limit {
        if blocks == SCAN_BLOCKS_MAX || transactions > SCAN_TRANSACTIONS_MAX {
            // Out of budget: the next page starts with block `height`, the first one
            // not read (every key of it is below this cursor).
            return Ok(Page {
                items,
                next: Some((height, u32::MAX, u64::MAX)),
            });
        }
        let Some(block) = node.stored(height)? else {
            break;
        };
        blocks += 1;
        transactions += block.transactions.len();
        let mut found = Vec::new();
        for (m, events) in block.market_events.iter().enumerate() {
            let market = u32::try_from(m).expect("markets are few");
            if matches!(subject, Subject::Market(wanted) if wanted != market) {
                continue;
            }
            let config = &view.markets[m].config;
            for tagged in events {
                let Event::Fill(fill) = &tagged.event else {
                    continue;
                };
                if let Some(id) = account
                    && fill.maker_account != id
                    && fill.taker_account != id
                {
                    continue;
                }
                let json = fill_json(
                    view,
                    market,
                    config,
                    fill,
                    height,
                    block.header.timestamp_ms,
                );
                if before.is_none_or(|b| cursor_of(&json) < b) {
                    found.push(json);
                }
            }
        }
        // Newest first: markets and seqs descending within the block.
        found.sort_by_key(|f| std::cmp::Reverse(cursor_of(f)));
        items.extend(found);
        height -= 1;
    }
    if items.len() >= limit {
        items.truncate(limit);
        let next = items.last().map(cursor_of);
        return Ok(Page { items, next });
    }
    Ok(Page { items, next: None })
}
