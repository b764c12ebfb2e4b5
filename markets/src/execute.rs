//! The block executor: a pure function of (state, block context, transactions).
//!
//! ```text
//! 1 signers      each transaction's verdict, taken at admission ─► signer or reject
//!                (`crate::admit`: signatures batched, parallel)
//! 2 holds        per account (accounts in parallel), each       ─► nonce used, funds held,
//!                account's transactions in block order              book commands planned
//! 3 matching     per market (one rayon task each): Expire; pass ─► tagged book events,
//!                1, cancels of orders not placed in this block      events hash, book
//!                and cancel-alls; pass 2, everything else; each     digest
//!                pass in block order; then the events hash and
//!                the book's digest
//! 4 settlement   new accounts in block order; deltas per market ─► balances, fees
//!                (parallel); summed and applied per account
//!                (parallel)
//! 5 commitments  tx, receipts, state roots                      ─► header
//! ```
//!
//! Results always merge in ascending transaction, market and account order, never in
//! completion order, so any number of threads gives the same block hash.
//!
//! **Checks of a transaction**, in order: `WRONG_CHAIN`, `UNKNOWN_ACCOUNT` (a signer
//! with no account can do nothing; checking first also spares the signature work),
//! `BAD_SIGNATURE`, structure (`EMPTY_BATCH`, `BATCH_TOO_LARGE`), `TRANSACTION_EXPIRED`,
//! `NONCE_ALREADY_USED` / `NONCE_TOO_OLD`. A transaction refused here changes nothing.
//! Past them its nonce is used and each action is checked on its own:
//! - place: `UNKNOWN_MARKET`, `PRICE_OFF_TICK`, `QTY_OFF_LOT`, the book's 101–105, then
//!   `INSUFFICIENT_FUNDS` for its hold; then the book's own checks when it executes;
//! - cancel, cancel-all: `UNKNOWN_MARKET`, then the book's checks;
//! - amend: `UNKNOWN_MARKET`, `PRICE_OFF_TICK`, `QTY_OFF_LOT`, the book's 101–103,
//!   `NOT_ORDER_OWNER` if the order rested when the block began and is another
//!   account's, `UNKNOWN_ORDER` if it neither rested then nor was placed earlier in the
//!   block by the same account in the same market, then `INSUFFICIENT_FUNDS` for the
//!   hold of the amended order on that order's side (held in full until the amend
//!   executes, when the old order's hold is released; released if the book then refuses
//!   it, e.g. because the order has filled meanwhile);
//! - transfer: `UNKNOWN_ASSET`, `ZERO_AMOUNT`, `SELF_TRANSFER`, `INVALID_ACCOUNT_KEY`,
//!   `INSUFFICIENT_FUNDS`;
//! - faucet: `FAUCET_DISABLED`, `UNKNOWN_ASSET`, `ZERO_AMOUNT`, `FAUCET_LIMIT`, and at
//!   settlement `SUPPLY_OVERFLOW`.
//!
//! **Order within a market.** Each market runs, after Expire, two passes over the
//! block's commands for it, each in block order (transaction, then action):
//! 1. every cancel whose target the account did **not** place earlier in the block
//!    (by order id, or by a client order id none of its earlier places in this market
//!    used), so a cancel of an order resting when the block began; and every
//!    cancel-all, on what rests then;
//! 2. everything else: places, amends, cancels of orders the account placed earlier in
//!    the block (which by then have run), and a second run of each cancel-all whose
//!    account placed orders in this market earlier in the block, which cancels those
//!    still live. Its events carry the cancel-all's (transaction, action); its result is
//!    the first run's, so each action has exactly one.
//!
//! So a maker's cancel of a resting order is never overtaken by a taker in the same
//! block (cancel-first), and an order placed in a block can be cancelled, cancelled by
//! a cancel-all, or amended later in the same block (later transaction, or later action
//! of the same batch). Which pass a command takes is decided in phase 2 from the
//! account's own earlier actions alone, not from the books. A cancel or amend of an
//! order placed *later* in the block, or by another account in this block, finds
//! nothing (`UNKNOWN_ORDER`).
//!
//! **Funds received in a block are usable from the next block**: holds are taken in
//! phase 2 from balances as the block began (less what earlier transactions of the same
//! account in this block took); fills, refunds, transfers and mints are credited in
//! phase 4.

use matching::{
    AccountId, ClientOrderId, Command, Event, EventSink, Height, NewOrder, OrderId, OrderRef, Qty,
    Side,
};
use rayon::prelude::*;

use crate::admit::{Verified, verify_block_except};
use crate::block::{ActionOutcome, BlockHeader, ExecutedBlock, Outcome, Receipt, TaggedEvent};
use crate::limits::TRANSACTIONS_PER_BLOCK_MAX;
use crate::merkle::{Hash, merkle_root};
use crate::state::{Account, Market, MarketConfig, ix};
use crate::tx::{Action, OrderAction};
use crate::verify::AccountKey;
use crate::{AssetId, ChainReject, MarketId, Reject, SignedTransaction, State};

/// Signatures per batch equation. 64 amortises the multiscalar multiplication well and
/// keeps a bad signature's bisection short; see BENCHMARKS.md.
pub const SIGNATURE_CHUNK: usize = 64;

/// A transaction's index in its block (bounded by the block limit).
fn tx_index(i: usize) -> u32 {
    u32::try_from(i).expect("bounded by TRANSACTIONS_PER_BLOCK_MAX")
}

/// An action's index in its transaction (bounded by the batch limit).
fn action_index(i: usize) -> u16 {
    u16::try_from(i).expect("bounded by BATCH_ACTIONS_MAX")
}

/// A command for one market's book, tagged with the action it comes from.
#[derive(Clone, Copy, Debug)]
struct MarketCommand {
    tx: u32,
    action: u16,
    command: Command,
    /// Whether its result is the action's (not for a cancel-all's second run).
    result: bool,
}

/// Per market, one pass's commands in block order.
type MarketCommands = Vec<Vec<MarketCommand>>;

/// What the block producer decides; the rest comes from the state.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BlockContext {
    pub height: u64,
    pub timestamp_ms: u64,
}

/// A block that cannot be executed at all; the state is unchanged.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum BlockError {
    #[error("block height {got} does not follow {current}")]
    Height { current: u64, got: u64 },
    #[error("block timestamp {got} ms is before the previous block's {previous} ms")]
    Timestamp { previous: u64, got: u64 },
    #[error("{0} transactions is over the block limit of {TRANSACTIONS_PER_BLOCK_MAX}")]
    TooManyTransactions(usize),
}

/// One action after phase 2.
#[derive(Clone, Debug)]
enum ActionPlan {
    Book {
        market: MarketId,
        command: Command,
        reserve: Option<(AssetId, u64)>,
        pass: Pass,
    },
    Transfer {
        to: [u8; 32],
        to_key: Option<AccountKey>,
        asset: AssetId,
        amount: u64,
    },
    Faucet {
        asset: AssetId,
        amount: u64,
    },
    Rejected(Reject),
}

/// Where a book command runs in its market's phase 3 (see the module docs, "Order
/// within a market").
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Pass {
    /// In the first pass: a cancel of an order the account did not place earlier in
    /// the block (so, if it exists, one resting when the block began), or a cancel-all.
    First,
    /// In the second pass, in block order: places, amends, and cancels of orders the
    /// account placed earlier in the block.
    Second,
    /// A cancel-all of an account that placed orders in this market earlier in the
    /// block: in the first pass (its result), and again at its place in the second, on
    /// the orders placed since the block began.
    Both,
}

/// The orders an account placed earlier in the block (their places passed phase 2), so
/// that its later cancels, cancel-alls and amends in the same block can find them.
/// Phase 2 keeps one per account and fills it in block order. Only looked up, never
/// iterated, so the hash maps cannot leak an order into the block.
#[derive(Debug, Default)]
struct PlacedInBlock {
    /// Order id → its market and side.
    orders: hashbrown::HashMap<OrderId, (MarketId, Side)>,
    /// The client order ids those orders were placed with, per market.
    clients: hashbrown::HashSet<(MarketId, ClientOrderId)>,
    /// The markets of those orders.
    markets: hashbrown::HashSet<MarketId>,
}

impl PlacedInBlock {
    fn order(&self, order: OrderId, market: MarketId) -> Option<Side> {
        self.orders
            .get(&order)
            .and_then(|&(m, side)| (m == market).then_some(side))
    }

    fn insert(&mut self, market: MarketId, order: &NewOrder) {
        self.orders.insert(order.order_id, (market, order.side));
        if let Some(client) = order.client_order_id {
            self.clients.insert((market, client));
        }
        self.markets.insert(market);
    }
}

#[derive(Clone, Debug)]
enum TxPlan {
    Rejected(Reject),
    Actions(Vec<ActionPlan>),
}

/// A change to one balance, summed per account and asset before it is applied.
#[derive(Clone, Copy, Debug)]
struct Delta {
    account: AccountId,
    asset: AssetId,
    available: i128,
    held: i128,
}

/// Executes one block of transactions whose signatures nobody has checked (a block read
/// back from storage, or from a peer): [`verify_block`] then [`execute_verified`]. On
/// `Err` the state is unchanged; on `Ok` it is the state after the block.
pub fn execute_block(
    state: &mut State,
    context: BlockContext,
    transactions: &[SignedTransaction],
) -> Result<ExecutedBlock, BlockError> {
    execute_block_except(state, context, transactions, |_| false)
}

/// [`execute_block`], not checking again the signatures `checked` names (see
/// [`crate::admit::verify_block_except`]): the same block, receipts and state.
pub fn execute_block_except(
    state: &mut State,
    context: BlockContext,
    transactions: &[SignedTransaction],
    checked: impl Fn(&Hash) -> bool,
) -> Result<ExecutedBlock, BlockError> {
    check_context(state, context, transactions.len())?;
    let verified = verify_block_except(state, transactions, checked);
    execute_verified(state, context, verified)
}

fn check_context(state: &State, context: BlockContext, count: usize) -> Result<(), BlockError> {
    if context.height != state.height + 1 {
        return Err(BlockError::Height {
            current: state.height,
            got: context.height,
        });
    }
    if context.timestamp_ms < state.timestamp_ms {
        return Err(BlockError::Timestamp {
            previous: state.timestamp_ms,
            got: context.timestamp_ms,
        });
    }
    if count > TRANSACTIONS_PER_BLOCK_MAX {
        return Err(BlockError::TooManyTransactions(count));
    }
    Ok(())
}

/// Executes one block of [`Verified`] transactions (from the node's mempool, or from
/// [`verify_block`]); no signature is checked again. On `Err` the state is unchanged;
/// on `Ok` it is the state after the block, and the block is returned with everything
/// executing it produced.
pub fn execute_verified(
    state: &mut State,
    context: BlockContext,
    transactions: Vec<Verified>,
) -> Result<ExecutedBlock, BlockError> {
    check_context(state, context, transactions.len())?;
    let signers = phase1_signers(state, &transactions);
    let mut plans = phase2_holds(state, context, &transactions, &signers);
    let matched = phase3_match(state, context, &plans);
    let touched = phase4_settle(state, &signers, &mut plans, &matched);
    let tx_hashes: Vec<Hash> = transactions.iter().map(Verified::hash).collect();
    let (receipts, receipt_leaves) = receipts(&tx_hashes, &plans, &matched.results);
    let header = phase5_commit(
        state,
        context,
        &tx_hashes,
        &receipt_leaves,
        &matched,
        &touched,
    );
    let hash = header.hash();
    state.height = context.height;
    state.timestamp_ms = context.timestamp_ms;
    state.block_hash = hash;
    #[cfg(debug_assertions)]
    state.check_invariants();
    Ok(ExecutedBlock {
        header,
        hash,
        transactions,
        receipts,
        market_events: matched.events,
        finality: None,
    })
}

/// What the chain would say of `signed` as the first transaction of the next block, its
/// signature aside: the node's door check, so that a transaction that could only be
/// refused is answered at once and changes nothing (not even its nonce).
///
/// `Err` when the whole transaction would be refused, or when every one of its actions
/// would be (a batch with some valid actions passes; its bad ones are refused in its
/// receipt). Uses exactly the executor's checks, against the state as it is now: a
/// transaction that passes can still be refused in its block (funds spent by an earlier
/// transaction, say); the block's receipt is the last word.
///
/// `pending_order` names the orders placed by transactions that are on their way to a
/// block (the node's mempool) as `(market, side)`: an amend of one of them passes, as
/// it will in a block after its place (see the module docs). A caller that tracks none
/// passes `|_| None`.
pub fn precheck(
    state: &State,
    signed: &SignedTransaction,
    pending_order: impl Fn(OrderId) -> Option<(MarketId, Side)>,
) -> Result<(), Reject> {
    let tx = &signed.transaction;
    if tx.chain_id != state.chain_id {
        return Err(ChainReject::WrongChain.into());
    }
    let id = *state
        .account_ids
        .get(&tx.signer)
        .ok_or(Reject::Chain(ChainReject::UnknownAccount))?;
    let mut account = state.accounts[ix(id)].clone();
    let context = BlockContext {
        height: state.height + 1,
        timestamp_ms: state.timestamp_ms,
    };
    let plan = plan_transaction(
        signed,
        id,
        &mut account,
        &state.markets,
        &state.account_ids,
        state.faucet,
        state.assets.len(),
        context,
        &mut PlacedInBlock::default(),
        &pending_order,
    );
    match plan {
        TxPlan::Rejected(reject) => Err(reject),
        TxPlan::Actions(actions) => match actions.first() {
            Some(ActionPlan::Rejected(first))
                if actions.iter().all(|a| matches!(a, ActionPlan::Rejected(_))) =>
            {
                Err(*first)
            }
            _ => Ok(()),
        },
    }
}

/// Phase 1: each transaction's signer, or the verdict that refuses it before any state
/// changes (taken at admission: see [`crate::admit`]).
fn phase1_signers(state: &State, transactions: &[Verified]) -> Vec<Result<AccountId, Reject>> {
    transactions
        .iter()
        .map(|tx| {
            tx.verdict()?;
            Ok(*state
                .account_ids
                .get(&tx.signed().transaction.signer)
                .expect("a verdict is Ok only for a signer with an account, and accounts stay"))
        })
        .collect()
}

/// Phase 2: per account, in block order: expiry, nonce, then each action's checks and
/// holds. Accounts are independent, so they run in parallel.
fn phase2_holds(
    state: &mut State,
    context: BlockContext,
    transactions: &[Verified],
    signers: &[Result<AccountId, Reject>],
) -> Vec<TxPlan> {
    let mut plans: Vec<TxPlan> = signers
        .iter()
        .map(|signer| match signer {
            Ok(_) => TxPlan::Actions(Vec::new()),
            Err(reject) => TxPlan::Rejected(*reject),
        })
        .collect();
    // (account, transaction index), sorted: each account's transactions in block order.
    let mut order: Vec<(AccountId, u32)> = signers
        .iter()
        .enumerate()
        .filter_map(|(i, signer)| signer.as_ref().ok().map(|&id| (id, tx_index(i))))
        .collect();
    order.sort_unstable();
    let groups: Vec<&[(AccountId, u32)]> = order.chunk_by(|a, b| a.0 == b.0).collect();
    let accounts = accounts_mut(&mut state.accounts, groups.iter().map(|group| group[0].0));
    let markets = &state.markets;
    let account_ids = &state.account_ids;
    let faucet = state.faucet;
    let assets = state.assets.len();
    let planned: Vec<(u32, TxPlan)> = groups
        .into_par_iter()
        .zip(accounts)
        .flat_map_iter(|(group, account)| {
            let mut placed = PlacedInBlock::default();
            group.iter().map(move |&(id, i)| {
                let plan = plan_transaction(
                    transactions[i as usize].signed(),
                    id,
                    account,
                    markets,
                    account_ids,
                    faucet,
                    assets,
                    context,
                    &mut placed,
                    &|_| None,
                );
                (i, plan)
            })
        })
        .collect();
    for (i, plan) in planned {
        plans[i as usize] = plan;
    }
    plans
}

/// Mutable references to the accounts `ids` names (ascending and distinct), in that
/// order, so that they can be worked on in parallel. O(ids), whatever the number of
/// accounts.
fn accounts_mut(
    accounts: &mut [Account],
    ids: impl IntoIterator<Item = AccountId>,
) -> Vec<&mut Account> {
    let mut out = Vec::new();
    let mut rest = accounts;
    let mut base = 0;
    for id in ids {
        let index = ix(id);
        assert!(index >= base, "account ids must be ascending and distinct");
        let (_, tail) = rest.split_at_mut(index - base);
        let (account, tail) = tail.split_first_mut().expect("the account exists");
        out.push(account);
        rest = tail;
        base = index + 1;
    }
    out
}

#[allow(clippy::too_many_arguments)]
fn plan_transaction(
    signed: &SignedTransaction,
    account_id: AccountId,
    account: &mut Account,
    markets: &[Market],
    account_ids: &hashbrown::HashMap<[u8; 32], AccountId>,
    faucet: Option<crate::state::FaucetConfig>,
    assets: usize,
    context: BlockContext,
    placed: &mut PlacedInBlock,
    pending_order: &dyn Fn(OrderId) -> Option<(MarketId, Side)>,
) -> TxPlan {
    let tx = &signed.transaction;
    if let Err(reject) = tx.check_structure() {
        return TxPlan::Rejected(reject.into());
    }
    if tx.expiry_height.is_some_and(|h| h < context.height) {
        return TxPlan::Rejected(ChainReject::TransactionExpired.into());
    }
    if let Err(reject) = account.nonces.check(tx.nonce) {
        return TxPlan::Rejected(reject.into());
    }
    account.nonces.insert(tx.nonce);

    let mut hold = |account: &mut Account, asset: AssetId, amount: u64| -> Result<(), Reject> {
        let balance = &mut account.balances[asset.0 as usize];
        if balance.available < amount {
            return Err(ChainReject::InsufficientFunds.into());
        }
        balance.available -= amount;
        balance.held += amount;
        Ok(())
    };

    let plan = match &tx.action {
        Action::Order(_) | Action::Batch(_) => tx
            .order_actions()
            .iter()
            .enumerate()
            .map(|(index, action)| {
                // Only a place needs its id (a hash), so it is derived on demand.
                let order_id = || tx.order_id(u32::try_from(index).expect("batches are small"));
                plan_order_action(
                    action,
                    order_id,
                    account_id,
                    account,
                    markets,
                    context,
                    placed,
                    pending_order,
                    &mut hold,
                )
                .unwrap_or_else(ActionPlan::Rejected)
            })
            .collect(),
        Action::Transfer(transfer) => {
            let plan = (|| {
                if transfer.asset.0 as usize >= assets {
                    return Err(ChainReject::UnknownAsset.into());
                }
                if transfer.amount == 0 {
                    return Err(ChainReject::ZeroAmount.into());
                }
                if transfer.to == tx.signer {
                    return Err(ChainReject::SelfTransfer.into());
                }
                let to_key = match account_ids.get(&transfer.to) {
                    Some(_) => None,
                    None => Some(
                        AccountKey::from_bytes(&transfer.to)
                            .map_err(|_| ChainReject::InvalidAccountKey)?,
                    ),
                };
                let balance = &mut account.balances[transfer.asset.0 as usize];
                if balance.available < transfer.amount {
                    return Err(ChainReject::InsufficientFunds.into());
                }
                balance.available -= transfer.amount;
                Ok(ActionPlan::Transfer {
                    to: transfer.to,
                    to_key,
                    asset: transfer.asset,
                    amount: transfer.amount,
                })
            })();
            vec![plan.unwrap_or_else(ActionPlan::Rejected)]
        }
        Action::Faucet(request) => {
            let plan = (|| {
                let faucet = faucet.ok_or(ChainReject::FaucetDisabled)?;
                if request.asset.0 as usize >= assets {
                    return Err(ChainReject::UnknownAsset);
                }
                if request.amount == 0 {
                    return Err(ChainReject::ZeroAmount);
                }
                if request.amount > faucet.amount_max {
                    return Err(ChainReject::FaucetLimit);
                }
                Ok(ActionPlan::Faucet {
                    asset: request.asset,
                    amount: request.amount,
                })
            })();
            vec![plan.unwrap_or_else(|r| ActionPlan::Rejected(r.into()))]
        }
    };
    TxPlan::Actions(plan)
}

/// One order action's checks and hold, and where it runs in phase 3. `placed` holds the
/// orders the account placed earlier in the block and gets this action's place;
/// `pending_order` names orders placed by transactions not yet in a block (the door
/// check's mempool; none in a block).
#[allow(clippy::too_many_arguments)]
fn plan_order_action(
    action: &OrderAction,
    order_id: impl FnOnce() -> OrderId,
    account_id: AccountId,
    account: &mut Account,
    markets: &[Market],
    context: BlockContext,
    placed: &mut PlacedInBlock,
    pending_order: &dyn Fn(OrderId) -> Option<(MarketId, Side)>,
    hold: &mut impl FnMut(&mut Account, AssetId, u64) -> Result<(), Reject>,
) -> Result<ActionPlan, Reject> {
    let market_of = |id: MarketId| {
        markets
            .get(id.0 as usize)
            .ok_or(Reject::from(ChainReject::UnknownMarket))
    };
    match action {
        OrderAction::Place(place) => {
            let market = market_of(place.market)?;
            let params = &market.config.params;
            let order = NewOrder {
                order_id: order_id(),
                account: account_id,
                client_order_id: place.client_order_id,
                side: place.side,
                price: params.price_from_units(place.price)?,
                qty: params.qty_from_units(place.qty)?,
                time_in_force: place.time_in_force,
                post_only: place.post_only,
                self_trade: place.self_trade,
            };
            params.check_new_order(&order, Height(context.height))?;
            let (asset, amount) = market.config.hold(order.side, order.price, order.qty);
            hold(account, asset, amount)?;
            placed.insert(place.market, &order);
            Ok(ActionPlan::Book {
                market: place.market,
                command: Command::Place(order),
                reserve: Some((asset, amount)),
                pass: Pass::Second,
            })
        }
        OrderAction::Cancel(cancel) => {
            market_of(cancel.market)?;
            // A cancel of an order this account placed earlier in the block runs after
            // that place; any other (one of a resting order, or of nothing) runs first.
            let same_block = match cancel.order {
                OrderRef::Id(id) => placed.order(id, cancel.market).is_some(),
                OrderRef::Client(client) => placed.clients.contains(&(cancel.market, client)),
            };
            Ok(ActionPlan::Book {
                market: cancel.market,
                command: Command::Cancel {
                    account: account_id,
                    order: cancel.order,
                },
                reserve: None,
                pass: if same_block {
                    Pass::Second
                } else {
                    Pass::First
                },
            })
        }
        OrderAction::CancelAll(cancel) => {
            market_of(cancel.market)?;
            Ok(ActionPlan::Book {
                market: cancel.market,
                command: Command::CancelAll {
                    account: account_id,
                },
                reserve: None,
                pass: if placed.markets.contains(&cancel.market) {
                    Pass::Both
                } else {
                    Pass::First
                },
            })
        }
        OrderAction::Amend(amend) => {
            let market = market_of(amend.market)?;
            let params = &market.config.params;
            let price = params.price_from_units(amend.price)?;
            let qty = params.qty_from_units(amend.qty)?;
            params.check_amend(price, qty)?;
            // The order as the block began, else one this account placed earlier in
            // the block (or, at the door, one still on its way): the side it holds for.
            // Another account's order placed in this block is unknown here.
            let side = match market.book.order(amend.order_id) {
                Some(existing) if existing.account != account_id => {
                    return Err(matching::RejectCode::NotOrderOwner.into());
                }
                Some(existing) => existing.side,
                None => placed
                    .order(amend.order_id, amend.market)
                    .or_else(|| {
                        pending_order(amend.order_id)
                            .and_then(|(m, side)| (m == amend.market).then_some(side))
                    })
                    .ok_or(matching::RejectCode::UnknownOrder)?,
            };
            let (asset, amount) = market.config.hold(side, price, qty);
            hold(account, asset, amount)?;
            Ok(ActionPlan::Book {
                market: amend.market,
                command: Command::Amend {
                    account: account_id,
                    order_id: amend.order_id,
                    price,
                    qty,
                },
                reserve: Some((asset, amount)),
                pass: Pass::Second,
            })
        }
    }
}

/// Tags the events of a batch of commands: command `current`'s with `tags[current]`
/// (the batch's result callback moves `current` on after each command).
struct BatchSink<'a> {
    events: &'a mut Vec<TaggedEvent>,
    tags: &'a [(u32, u16)],
    current: &'a std::cell::Cell<usize>,
}

impl EventSink for BatchSink<'_> {
    #[inline]
    fn push(&mut self, event: Event) {
        let (tx, action) = self.tags[self.current.get()];
        self.events.push(TaggedEvent { tx, action, event });
    }
}

/// Tags every event with the transaction and action that caused it.
struct TaggingSink<'a> {
    events: &'a mut Vec<TaggedEvent>,
    tx: u32,
    action: u16,
}

impl EventSink for TaggingSink<'_> {
    #[inline]
    fn push(&mut self, event: Event) {
        self.events.push(TaggedEvent {
            tx: self.tx,
            action: self.action,
            event,
        });
    }
}

type BookResults = Vec<Vec<(u32, u16, Result<(), matching::RejectCode>)>>;

/// What phase 3 leaves, per market (index = market id).
struct Matched {
    /// The book's events, tagged with the command that caused them.
    events: Vec<Vec<TaggedEvent>>,
    /// Each command's result.
    results: BookResults,
    /// [`market_events_hash`] of `events`.
    events_hashes: Vec<Hash>,
    /// The new digest of each book that ran anything; `None` for books left alone.
    digests: Vec<Option<matching::BookDigest>>,
}

/// Phase 3: every market's book, one rayon task each. Within a market: expiry, then the
/// first pass (cancels of orders not placed in this block, and cancel-alls) in block
/// order, then the second pass (everything else, and the cancel-alls again for orders
/// their account placed earlier in the block) in block order; makers' cancels of
/// resting orders are never overtaken by takers in the same block (see ARCHITECTURE.md
/// and the module docs). The same task hashes the market's events and commits the book
/// (its changed levels are still in cache), since nothing after this phase changes a
/// book.
fn phase3_match(state: &mut State, context: BlockContext, plans: &[TxPlan]) -> Matched {
    let mut first: MarketCommands = vec![Vec::new(); state.markets.len()];
    let mut second: MarketCommands = vec![Vec::new(); state.markets.len()];
    for (tx, plan) in plans.iter().enumerate() {
        let TxPlan::Actions(actions) = plan else {
            continue;
        };
        for (action, plan) in actions.iter().enumerate() {
            if let ActionPlan::Book {
                market,
                command,
                pass,
                ..
            } = plan
            {
                let m = market.0 as usize;
                let tagged = MarketCommand {
                    tx: tx_index(tx),
                    action: action_index(action),
                    command: *command,
                    result: true,
                };
                match pass {
                    Pass::First => first[m].push(tagged),
                    Pass::Second => second[m].push(tagged),
                    Pass::Both => {
                        first[m].push(tagged);
                        // The action's result is the first run's; the second's (a
                        // cancel-all never rejects) is not recorded twice.
                        second[m].push(MarketCommand {
                            result: false,
                            ..tagged
                        });
                    }
                }
            }
        }
    }
    let height = Height(context.height);
    let per_market: Vec<MarketOutput> = state
        .markets
        .par_iter_mut()
        .zip(first.into_par_iter().zip(second.into_par_iter()))
        .map(|(market, (first, second))| {
            // Most commands emit one or two events (a fill emits one per maker).
            let mut events = Vec::with_capacity(first.len() + 2 * second.len() + 1);
            let mut results = Vec::with_capacity(first.len() + second.len());
            let due = market
                .book
                .next_expiry()
                .is_some_and(|expiry| expiry < height);
            // A book that runs anything (even a command that emits nothing, or one it
            // rejects) has its height moved by Expire, so its digest changes: the
            // market counts as touched.
            let runs = due || !first.is_empty() || !second.is_empty();
            if runs {
                let mut sink = TaggingSink {
                    events: &mut events,
                    tx: TaggedEvent::BLOCK,
                    action: 0,
                };
                market
                    .book
                    .execute(Command::Expire { height }, &mut sink)
                    .expect("expire never rejects");
            }
            // One batch, so the book can prefetch ahead (`Book::execute_all`); each
            // command's events are tagged with its own (transaction, action).
            let queue: Vec<MarketCommand> = first.into_iter().chain(second).collect();
            let tags: Vec<(u32, u16)> = queue.iter().map(|c| (c.tx, c.action)).collect();
            let commands: Vec<Command> = queue.iter().map(|c| c.command).collect();
            let current = std::cell::Cell::new(0usize);
            let mut sink = BatchSink {
                events: &mut events,
                tags: &tags,
                current: &current,
            };
            market.book.execute_all(&commands, &mut sink, |i, result| {
                let queued = &queue[i];
                if queued.result {
                    results.push((queued.tx, queued.action, result));
                }
                current.set(i + 1);
            });
            let events_hash = market_events_hash(&events);
            let digest = runs.then(|| market.book.commit_digest());
            (events, results, events_hash, digest)
        })
        .collect();
    let mut matched = Matched {
        events: Vec::with_capacity(per_market.len()),
        results: Vec::with_capacity(per_market.len()),
        events_hashes: Vec::with_capacity(per_market.len()),
        digests: Vec::with_capacity(per_market.len()),
    };
    for (events, results, events_hash, digest) in per_market {
        matched.events.push(events);
        matched.results.push(results);
        matched.events_hashes.push(events_hash);
        matched.digests.push(digest);
    }
    matched
}

/// One market's phase 3 output: events, command results, events hash, new digest.
type MarketOutput = (
    Vec<TaggedEvent>,
    Vec<(u32, u16, Result<(), matching::RejectCode>)>,
    Hash,
    Option<matching::BookDigest>,
);

/// Phase 4: create recipients' accounts and mint faucet funds in block order, turn every
/// market's events into balance deltas (markets in parallel), and apply the deltas per
/// account (accounts in parallel). Returns what the block touched.
fn phase4_settle(
    state: &mut State,
    signers: &[Result<AccountId, Reject>],
    plans: &mut [TxPlan],
    matched: &Matched,
) -> Touched {
    let mut deltas: Vec<Delta> = Vec::new();
    for (plan, signer) in plans.iter_mut().zip(signers) {
        let TxPlan::Actions(actions) = plan else {
            continue;
        };
        let signer = signer.expect("planned transactions have a signer");
        for action in actions.iter_mut() {
            match *action {
                ActionPlan::Transfer {
                    to,
                    to_key,
                    asset,
                    amount,
                } => {
                    let to = match state.account_ids.get(&to) {
                        Some(&id) => id,
                        None => state.create_account(
                            to_key.expect("unknown recipients carry a checked key"),
                        ),
                    };
                    deltas.push(Delta {
                        account: to,
                        asset,
                        available: i128::from(amount),
                        held: 0,
                    });
                }
                ActionPlan::Faucet { asset, amount } => {
                    match state.supply[asset.0 as usize].checked_add(amount) {
                        Some(supply) => {
                            state.supply[asset.0 as usize] = supply;
                            deltas.push(Delta {
                                account: signer,
                                asset,
                                available: i128::from(amount),
                                held: 0,
                            });
                        }
                        None => *action = ActionPlan::Rejected(ChainReject::SupplyOverflow.into()),
                    }
                }
                _ => {}
            }
        }
    }
    let plans: &[TxPlan] = plans;
    let reserve_of = |tx: u32, action: u16| -> Option<(AssetId, u64)> {
        let TxPlan::Actions(actions) = &plans[tx as usize] else {
            return None;
        };
        match &actions[action as usize] {
            ActionPlan::Book { reserve, .. } => *reserve,
            _ => None,
        }
    };
    let fee_account = state.fee_account;
    let market_deltas: Vec<Vec<Delta>> = state
        .markets
        .par_iter()
        .zip(matched.events.par_iter())
        .map(|(market, events)| settle_market(&market.config, events, fee_account, &reserve_of))
        .collect();
    deltas.extend(market_deltas.into_iter().flatten());

    let mut accounts: Vec<AccountId> = apply_deltas(state, deltas);
    accounts.extend(signers.iter().filter_map(|s| s.ok()));
    accounts.sort_unstable();
    accounts.dedup();
    Touched { accounts }
}

/// Which accounts a block changed, ascending (the books it changed are those with a new
/// digest in [`Matched`]).
#[derive(Debug, Default)]
struct Touched {
    accounts: Vec<AccountId>,
}

/// Sums the deltas per account and asset and applies the sums, accounts in parallel.
/// Returns the accounts changed, ascending.
fn apply_deltas(state: &mut State, mut deltas: Vec<Delta>) -> Vec<AccountId> {
    // Sums do not depend on the order of their terms, so an unstable sort is enough.
    deltas.par_sort_unstable_by_key(|d| (d.account, d.asset));
    let groups: Vec<&[Delta]> = deltas.chunk_by(|a, b| a.account == b.account).collect();
    let ids: Vec<AccountId> = groups.iter().map(|group| group[0].account).collect();
    let accounts = accounts_mut(&mut state.accounts, ids.iter().copied());
    groups
        .into_par_iter()
        .zip(accounts)
        .for_each(|(group, account)| {
            for same in group.chunk_by(|a, b| a.asset == b.asset) {
                let (id, asset) = (same[0].account, same[0].asset);
                let (available, held) = same
                    .iter()
                    .fold((0i128, 0i128), |(a, h), d| (a + d.available, h + d.held));
                let balance = &mut account.balances[asset.0 as usize];
                let available = i128::from(balance.available) + available;
                let held = i128::from(balance.held) + held;
                // Holds are released exactly once and supply bounds every balance, so a
                // balance outside u64 is a broken invariant, not bad input.
                balance.available = u64::try_from(available).unwrap_or_else(|_| {
                    panic!("account {id:?} available balance out of range: {available}")
                });
                balance.held = u64::try_from(held)
                    .unwrap_or_else(|_| panic!("account {id:?} held balance out of range: {held}"));
            }
        });
    ids
}

/// The balance changes one market's events imply. Every order's hold is
/// [`MarketConfig::hold`] of its price and remaining quantity; each event moves exactly
/// the difference (see ARCHITECTURE.md, "Holds and settlement").
fn settle_market(
    config: &MarketConfig,
    events: &[TaggedEvent],
    fee_account: AccountId,
    reserve_of: &(impl Fn(u32, u16) -> Option<(AssetId, u64)> + Sync),
) -> Vec<Delta> {
    let mut out = Deltas(Vec::new());
    // The limit price of the order currently taking liquidity: its hold is at that price.
    let mut taker_price = matching::Price(0);
    let (base, quote) = (config.base, config.quote);
    for tagged in events {
        match tagged.event {
            Event::Accepted { price, .. } => taker_price = price,
            Event::Amended {
                account,
                side,
                old_price,
                old_qty,
                price,
                qty,
                priority_kept,
                ..
            } => {
                out.release(account, config.hold(side, old_price, old_qty));
                let reserve =
                    reserve_of(tagged.tx, tagged.action).expect("amends reserve their hold");
                if priority_kept {
                    // The reservation was for the whole new order, which holds in place of
                    // the old one: release the reservation and hold the new order.
                    out.release(account, reserve);
                    out.hold(account, config.hold(side, price, qty));
                } else {
                    // The reservation becomes the hold of the order now taking liquidity.
                    taker_price = price;
                }
            }
            Event::Fill(fill) => {
                let notional = config.notional(fill.price, fill.qty);
                let taker_fee = MarketConfig::fee(notional, config.taker_fee_bps);
                let maker_fee = MarketConfig::fee(notional, config.maker_fee_bps);
                let (n, b) = (
                    i128::from(notional),
                    i128::from(config.base_amount(fill.qty)),
                );
                // The buyer's hold (at its own limit) shrinks by `freed`; it pays the
                // notional and its fee out of that and gets the rest back.
                let (buyer, buyer_limit, buyer_left, buyer_fee, seller, seller_fee) =
                    match fill.taker_side {
                        Side::Buy => (
                            fill.taker_account,
                            taker_price,
                            fill.taker_qty_remaining,
                            taker_fee,
                            fill.maker_account,
                            maker_fee,
                        ),
                        Side::Sell => (
                            fill.maker_account,
                            fill.price,
                            fill.maker_qty_remaining,
                            maker_fee,
                            fill.taker_account,
                            taker_fee,
                        ),
                    };
                let before = Qty(buyer_left.0 + fill.qty.0);
                let freed = i128::from(config.hold(Side::Buy, buyer_limit, before).1)
                    - i128::from(config.hold(Side::Buy, buyer_limit, buyer_left).1);
                out.push(buyer, quote, freed - n - i128::from(buyer_fee), -freed);
                out.push(buyer, base, b, 0);
                out.push(seller, base, 0, -b);
                out.push(seller, quote, n - i128::from(seller_fee), 0);
                out.push(fee_account, quote, i128::from(taker_fee + maker_fee), 0);
            }
            Event::Cancelled {
                account,
                side,
                price,
                qty,
                ..
            }
            | Event::Expired {
                account,
                side,
                price,
                qty,
                ..
            } => {
                out.release(account, config.hold(side, price, qty));
            }
            Event::Rejected {
                account: Some(account),
                ..
            } => {
                if let Some(reserve) = reserve_of(tagged.tx, tagged.action) {
                    out.release(account, reserve);
                }
            }
            Event::Rested { .. } | Event::Rejected { account: None, .. } => {}
        }
    }
    out.0
}

struct Deltas(Vec<Delta>);

impl Deltas {
    fn push(&mut self, account: AccountId, asset: AssetId, available: i128, held: i128) {
        if available != 0 || held != 0 {
            self.0.push(Delta {
                account,
                asset,
                available,
                held,
            });
        }
    }

    /// Held → available.
    fn release(&mut self, account: AccountId, (asset, amount): (AssetId, u64)) {
        self.push(account, asset, i128::from(amount), -i128::from(amount));
    }

    /// Available → held.
    fn hold(&mut self, account: AccountId, (asset, amount): (AssetId, u64)) {
        self.push(account, asset, -i128::from(amount), i128::from(amount));
    }
}

/// One receipt per transaction, with the receipt's tree item (the sha256 of its borsh
/// encoding), transactions in parallel.
fn receipts(
    tx_hashes: &[Hash],
    plans: &[TxPlan],
    book_results: &BookResults,
) -> (Vec<Receipt>, Vec<Hash>) {
    // Each action's slot in one flat list: transaction `i`'s actions start at `first[i]`.
    let mut first = Vec::with_capacity(plans.len());
    let mut actions = 0;
    for plan in plans {
        first.push(actions);
        if let TxPlan::Actions(list) = plan {
            actions += list.len();
        }
    }
    let mut book_outcome: Vec<Option<Result<(), matching::RejectCode>>> = vec![None; actions];
    for &(tx, action, result) in book_results.iter().flatten() {
        book_outcome[first[tx as usize] + usize::from(action)] = Some(result);
    }
    plans
        .par_iter()
        .enumerate()
        .map_init(Vec::new, |buffer, (i, plan)| {
            let outcome = match plan {
                TxPlan::Rejected(reject) => Outcome::Rejected(*reject),
                TxPlan::Actions(actions) => Outcome::Executed(
                    actions
                        .iter()
                        .enumerate()
                        .map(|(a, action)| match action {
                            ActionPlan::Rejected(reject) => ActionOutcome::Rejected(*reject),
                            ActionPlan::Book { command, .. } => {
                                match book_outcome[first[i] + a].expect("every book command ran") {
                                    Err(code) => ActionOutcome::Rejected(code.into()),
                                    Ok(()) => match command {
                                        Command::Place(order) => {
                                            ActionOutcome::Placed(order.order_id)
                                        }
                                        _ => ActionOutcome::Done,
                                    },
                                }
                            }
                            ActionPlan::Transfer { .. } | ActionPlan::Faucet { .. } => {
                                ActionOutcome::Done
                            }
                        })
                        .collect(),
                ),
            };
            let receipt = Receipt {
                tx_hash: tx_hashes[i],
                outcome,
            };
            buffer.clear();
            borsh::BorshSerialize::serialize(&receipt, buffer).expect("Vec");
            let leaf = crate::sha256(buffer);
            (receipt, leaf)
        })
        .unzip()
}

/// One market's events as committed in the events root: `sha256("clobchain/market-events/v1"
/// ‖ count u64 LE ‖ borsh(event)…)`, in the order the book emitted them. A flat hash
/// (one pass, no allocation per event) rather than a Merkle tree: proving one market's
/// fills takes that market's event list, and no other market's.
pub fn market_events_hash(events: &[TaggedEvent]) -> Hash {
    use sha2::Digest as _;
    let mut hasher = sha2::Sha256::new();
    hasher.update(b"clobchain/market-events/v1");
    hasher.update((events.len() as u64).to_le_bytes());
    let mut buffer = Vec::with_capacity(128);
    for event in events {
        buffer.clear();
        borsh::BorshSerialize::serialize(event, &mut buffer).expect("Vec");
        hasher.update(&buffer);
    }
    Hash(hasher.finalize().into())
}

/// Phase 5: the roots and the header. Each tree item is the sha256 of its borsh
/// encoding (the trees apply their own leaf prefix); a transaction's item is its hash.
fn phase5_commit(
    state: &mut State,
    context: BlockContext,
    tx_hashes: &[Hash],
    receipt_leaves: &[Hash],
    matched: &Matched,
    touched: &Touched,
) -> BlockHeader {
    let ((transactions_root, receipts_root), account_leaves) = rayon::join(
        || rayon::join(|| merkle_root(tx_hashes), || merkle_root(receipt_leaves)),
        || {
            touched
                .accounts
                .par_iter()
                .map(|&id| (ix(id), state.accounts[ix(id)].leaf()))
                .collect::<Vec<_>>()
        },
    );
    let mut events_leaves = Vec::with_capacity(1 + matched.events_hashes.len());
    events_leaves.push(receipts_root);
    events_leaves.extend_from_slice(&matched.events_hashes);
    for (index, leaf) in account_leaves {
        state.account_tree.set(index, leaf);
    }
    for (market, digest) in matched.digests.iter().enumerate() {
        if let Some(digest) = digest {
            state.set_market_leaf(market, *digest);
        }
    }
    BlockHeader {
        chain_id: state.chain_id,
        height: context.height,
        parent_hash: state.block_hash,
        timestamp_ms: context.timestamp_ms,
        transaction_count: u32::try_from(tx_hashes.len()).expect("bounded by the block limit"),
        transactions_root,
        events_root: merkle_root(&events_leaves),
        state_root: state.state_root(),
    }
}
