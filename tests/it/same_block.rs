//! Same-block cancels and amends (issue 16, item 5): the executor against a plain
//! sequential model of the rule in `markets::execute` ("Order within a market"), over
//! random blocks of places, cancels (by id and by client order id), cancel-alls and
//! amends from a few accounts on two markets, many of them naming orders placed earlier
//! in the same block, some naming another account's order or nothing.
//!
//! The model runs `matching::reference::ReferenceBook` (the slow, obviously correct
//! book) per market: Expire, then pass 1, then pass 2, each in block order, with the
//! passes chosen by scanning the block's earlier actions. After every block the events
//! of each market, every receipt and every book must equal the executor's, and the
//! state's invariants (conservation, holds backed by orders) must hold. Every seed is
//! printed on failure; `CLOBCHAIN_SAME_BLOCK_SEED` replays the seeded test.

use markets::dev::Rng;
use markets::{
    Action, ActionOutcome, AmendOrder, BlockContext, CancelAll, CancelOrder, MarketId, OrderAction,
    Outcome, PlaceOrder, Reject, SignedTransaction, State, TaggedEvent, Transaction, dev,
    execute_block,
};
use matching::reference::ReferenceBook;
use matching::{
    AccountId, ClientOrderId, Command, Event, EventSink, Height, OrderBook, OrderId, OrderRef,
    Price, Qty, RejectCode, SelfTradePrevention, Side, TimeInForce,
};
use proptest::prelude::*;

const ACCOUNTS: usize = 4;
/// BTC-USD and ETH-USD of the dev genesis.
const MARKETS: u32 = 2;

/// An order some transaction placed (or tried to): what later actions may name.
#[derive(Clone, Copy, Debug)]
struct Known {
    order_id: OrderId,
    account: usize,
    market: MarketId,
    client: Option<ClientOrderId>,
}

/// One block's order actions, flattened in block order, with what the model needs.
#[derive(Clone, Debug)]
struct Step {
    tx: u32,
    action: u16,
    account: usize,
    order_action: OrderAction,
    /// The id a place gets.
    order_id: OrderId,
}

struct Generator {
    rng: Rng,
    keys: Vec<markets::sim::SigningKey>,
    chain_id: markets::ChainId,
    nonce_next: Vec<u64>,
    known: Vec<Known>,
}

impl Generator {
    fn market(&mut self) -> MarketId {
        MarketId(u32::try_from(self.rng.below(u64::from(MARKETS))).expect("small"))
    }

    /// Price in ticks and quantity in lots, in the market's units.
    fn units(&mut self, market: MarketId) -> (u64, u64) {
        let (tick, lot) = match market.0 {
            0 => (1, 10_000),
            _ => (10, 1_000_000),
        };
        (
            self.rng.between(95, 105) * tick,
            self.rng.between(1, 5) * lot,
        )
    }

    /// A target for a cancel or amend of `account`: mostly its own orders (those placed
    /// in this block first), sometimes another account's, sometimes nothing.
    fn target(&mut self, account: usize, this_block: usize) -> Option<Known> {
        if self.known.is_empty() || self.rng.chance(80) {
            return None;
        }
        let own: Vec<usize> = (0..self.known.len())
            .filter(|&i| self.known[i].account == account)
            .collect();
        let recent: Vec<usize> = own.iter().copied().filter(|&i| i >= this_block).collect();
        let pick = if !recent.is_empty() && self.rng.chance(600) {
            recent[self.rng.index(recent.len())]
        } else if !own.is_empty() && self.rng.chance(800) {
            own[self.rng.index(own.len())]
        } else {
            self.rng.index(self.known.len())
        };
        Some(self.known[pick])
    }

    fn action(
        &mut self,
        account: usize,
        this_block: usize,
        height: u64,
        order_id: OrderId,
    ) -> OrderAction {
        let roll = self.rng.below(100);
        if roll < 45 {
            let market = self.market();
            let (price, qty) = self.units(market);
            let time_in_force = match self.rng.below(10) {
                0..=6 => TimeInForce::GoodTillCancel,
                7 | 8 => TimeInForce::ImmediateOrCancel,
                _ => TimeInForce::GoodTillBlock(Height(height + self.rng.below(3))),
            };
            let client = self
                .rng
                .chance(300)
                .then(|| ClientOrderId(self.rng.between(1, 4)));
            self.known.push(Known {
                order_id,
                account,
                market,
                client,
            });
            return OrderAction::Place(PlaceOrder {
                market,
                client_order_id: client,
                side: if self.rng.chance(500) {
                    Side::Buy
                } else {
                    Side::Sell
                },
                price,
                qty,
                time_in_force,
                post_only: self.rng.chance(100),
                self_trade: SelfTradePrevention::default(),
            });
        }
        if roll < 55 {
            return OrderAction::CancelAll(CancelAll {
                market: self.market(),
            });
        }
        let target = self.target(account, this_block);
        let market = target.map_or_else(|| self.market(), |t| t.market);
        let order_id = target.map_or(OrderId(self.rng.next_u64()), |t| t.order_id);
        if roll < 75 {
            let order = match target.and_then(|t| t.client) {
                Some(client) if self.rng.chance(500) => OrderRef::Client(client),
                _ => OrderRef::Id(order_id),
            };
            OrderAction::Cancel(CancelOrder { market, order })
        } else {
            let (price, qty) = self.units(market);
            OrderAction::Amend(AmendOrder {
                market,
                order_id,
                price,
                qty,
            })
        }
    }

    /// A block of 1 to 12 transactions, a third of them batches of 2 to 4 actions.
    fn block(&mut self, height: u64) -> (Vec<SignedTransaction>, Vec<Step>) {
        let this_block = self.known.len();
        let mut transactions = Vec::new();
        let mut steps = Vec::new();
        for tx in 0..self.rng.between(1, 12) {
            let account = self.rng.index(ACCOUNTS);
            let nonce = self.nonce_next[account];
            self.nonce_next[account] += 1;
            let signer = self.keys[account].verifying_key().to_bytes();
            let count = if self.rng.chance(330) {
                self.rng.between(2, 4)
            } else {
                1
            };
            let mut actions = Vec::new();
            for index in 0..count {
                let index = u32::try_from(index).expect("small");
                let order_id = markets::tx::order_id(&signer, nonce, index);
                let order_action = self.action(account, this_block, height, order_id);
                steps.push(Step {
                    tx: u32::try_from(tx).expect("small"),
                    action: u16::try_from(index).expect("small"),
                    account,
                    order_action: order_action.clone(),
                    order_id,
                });
                actions.push(order_action);
            }
            let action = if actions.len() == 1 {
                Action::Order(actions.remove(0))
            } else {
                Action::Batch(actions)
            };
            let transaction = Transaction {
                chain_id: self.chain_id,
                signer,
                nonce,
                expiry_height: None,
                action,
            };
            transactions.push(SignedTransaction::sign(transaction, &self.keys[account]));
        }
        (transactions, steps)
    }
}

/// Where the rule runs an action: pass 1, pass 2, or (a cancel-all of an account that
/// placed in its market earlier in the block) both, with its result from pass 1.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Pass {
    First,
    Second,
    Both,
}

/// Events into a list, tagged with one action.
struct Tagging<'a> {
    events: &'a mut Vec<TaggedEvent>,
    tx: u32,
    action: u16,
}

impl EventSink for Tagging<'_> {
    fn push(&mut self, event: Event) {
        self.events.push(TaggedEvent {
            tx: self.tx,
            action: self.action,
            event,
        });
    }
}

/// The rule, written out plainly: one block on the model's books. Returns each market's
/// events and each step's outcome.
fn model_block(
    books: &mut [ReferenceBook],
    ids: &[AccountId],
    height: u64,
    steps: &[Step],
) -> (Vec<Vec<TaggedEvent>>, Vec<ActionOutcome>) {
    let mut outcomes: Vec<Option<ActionOutcome>> = vec![None; steps.len()];
    // Phase 2, on the books as the block began (before expiry): amend targets, and
    // which pass each book command takes, from the same account's earlier places.
    // A place the chain refuses in phase 2 (say post-only with immediate-or-cancel)
    // never reaches a book, and does not count as placed.
    let mut commands: Vec<Option<(MarketId, Command, Pass)>> = vec![None; steps.len()];
    for (i, step) in steps.iter().enumerate() {
        let account = ids[step.account];
        let planned = &commands;
        let earlier_places = || {
            steps[..i]
                .iter()
                .zip(planned)
                .filter_map(move |(s, planned)| match &s.order_action {
                    OrderAction::Place(place) if s.account == step.account && planned.is_some() => {
                        Some((s.order_id, *place))
                    }
                    _ => None,
                })
        };
        commands[i] = match &step.order_action {
            OrderAction::Place(place) => {
                let params = *books[place.market.0 as usize].params();
                let order = matching::NewOrder {
                    order_id: step.order_id,
                    account,
                    client_order_id: place.client_order_id,
                    side: place.side,
                    price: Price(place.price / params.tick_size),
                    qty: Qty(place.qty / params.lot_size),
                    time_in_force: place.time_in_force,
                    post_only: place.post_only,
                    self_trade: place.self_trade,
                };
                match params.check_new_order(&order, Height(height)) {
                    Ok(()) => Some((place.market, Command::Place(order), Pass::Second)),
                    Err(code) => {
                        outcomes[i] = Some(ActionOutcome::Rejected(Reject::Book(code)));
                        None
                    }
                }
            }
            OrderAction::Cancel(cancel) => {
                let same_block = earlier_places().any(|(id, place)| {
                    place.market == cancel.market
                        && match cancel.order {
                            OrderRef::Id(target) => id == target,
                            OrderRef::Client(client) => place.client_order_id == Some(client),
                        }
                });
                let pass = if same_block {
                    Pass::Second
                } else {
                    Pass::First
                };
                let command = Command::Cancel {
                    account,
                    order: cancel.order,
                };
                Some((cancel.market, command, pass))
            }
            OrderAction::CancelAll(cancel) => {
                let same_block = earlier_places().any(|(_, place)| place.market == cancel.market);
                let pass = if same_block { Pass::Both } else { Pass::First };
                Some((cancel.market, Command::CancelAll { account }, pass))
            }
            OrderAction::Amend(amend) => {
                let book = &books[amend.market.0 as usize];
                let params = *book.params();
                let known = match book.order(amend.order_id) {
                    Some(order) if order.account != account => Err(RejectCode::NotOrderOwner),
                    Some(_) => Ok(()),
                    None if earlier_places().any(|(id, place)| {
                        id == amend.order_id && place.market == amend.market
                    }) =>
                    {
                        Ok(())
                    }
                    None => Err(RejectCode::UnknownOrder),
                };
                match known {
                    Err(code) => {
                        outcomes[i] = Some(ActionOutcome::Rejected(Reject::Book(code)));
                        None
                    }
                    Ok(()) => {
                        let command = Command::Amend {
                            account,
                            order_id: amend.order_id,
                            price: Price(amend.price / params.tick_size),
                            qty: Qty(amend.qty / params.lot_size),
                        };
                        Some((amend.market, command, Pass::Second))
                    }
                }
            }
        };
    }
    // Phase 3, market by market.
    let mut events = vec![Vec::new(); books.len()];
    for (m, book) in books.iter_mut().enumerate() {
        let market = MarketId(u32::try_from(m).expect("small"));
        let mut sink = Tagging {
            events: &mut events[m],
            tx: TaggedEvent::BLOCK,
            action: 0,
        };
        book.execute(
            Command::Expire {
                height: Height(height),
            },
            &mut sink,
        )
        .expect("expire never rejects");
        for pass in [Pass::First, Pass::Second] {
            for (i, step) in steps.iter().enumerate() {
                let Some((on, command, runs)) = commands[i] else {
                    continue;
                };
                let here = match runs {
                    Pass::Both => true,
                    runs => runs == pass,
                };
                if on != market || !here {
                    continue;
                }
                let mut sink = Tagging {
                    events: &mut events[m],
                    tx: step.tx,
                    action: step.action,
                };
                let result = book.execute(command, &mut sink);
                if runs == Pass::Both && pass == Pass::Second {
                    continue;
                }
                outcomes[i] = Some(match (result, command) {
                    (Err(code), _) => ActionOutcome::Rejected(Reject::Book(code)),
                    (Ok(()), Command::Place(order)) => ActionOutcome::Placed(order.order_id),
                    (Ok(()), _) => ActionOutcome::Done,
                });
            }
        }
    }
    let outcomes = outcomes
        .into_iter()
        .map(|o| o.expect("every action has one outcome"))
        .collect();
    (events, outcomes)
}

fn same_block_case(seed: u64, blocks: usize) {
    let (genesis, keys) = dev::genesis(ACCOUNTS as u64);
    let mut state = State::from_genesis(&genesis).expect("valid genesis");
    let ids: Vec<AccountId> = keys
        .iter()
        .map(|k| {
            state
                .account_id(&k.verifying_key().to_bytes())
                .expect("funded")
        })
        .collect();
    let mut books: Vec<ReferenceBook> = state
        .markets()
        .iter()
        .map(|m| ReferenceBook::new(m.config.params))
        .collect();
    let mut generator = Generator {
        rng: Rng::new(seed),
        keys,
        chain_id: genesis.chain_id,
        nonce_next: vec![1; ACCOUNTS],
        known: Vec::new(),
    };
    let mut same_block_successes = 0;
    for _ in 0..blocks {
        let context = BlockContext {
            height: state.height() + 1,
            timestamp_ms: state.timestamp_ms() + 100,
        };
        let height = context.height;
        let (transactions, steps) = generator.block(height);
        let (events, outcomes) = model_block(&mut books, &ids, height, &steps);
        let output = execute_block(&mut state, context, &transactions)
            .unwrap_or_else(|e| panic!("seed {seed}: block {height}: {e}"));
        state.check_invariants();
        let at = format!("seed {seed}: block {height}");

        let mut expected_outcomes = outcomes.into_iter();
        for (tx, receipt) in output.receipts.iter().enumerate() {
            let Outcome::Executed(actions) = &receipt.outcome else {
                panic!("{at}: tx {tx} refused: {:?}", receipt.outcome);
            };
            for (action, got) in actions.iter().enumerate() {
                let expected = expected_outcomes.next().expect("as many actions");
                assert_eq!(
                    *got, expected,
                    "{at}: tx {tx} action {action}: {transactions:#?}"
                );
            }
        }
        for (m, expected) in events.iter().enumerate() {
            // A market with nothing to do is not run (no Expire), so it has no events
            // either way; a market that runs sees Expire first in both.
            assert_eq!(
                &output.market_events[m], expected,
                "{at}: market {m} events: {transactions:#?}"
            );
            let book = &state.markets()[m].book;
            for side in [Side::Buy, Side::Sell] {
                assert_eq!(
                    book.orders(side).collect::<Vec<_>>(),
                    books[m].orders(side),
                    "{at}: market {m} {side:?} orders"
                );
            }
        }
        // How often the rule mattered: a cancel or amend of a same-block place that
        // succeeded (it would have been UNKNOWN_ORDER before).
        same_block_successes += steps
            .iter()
            .enumerate()
            .filter(|(i, step)| {
                let target = match step.order_action {
                    OrderAction::Cancel(CancelOrder {
                        order: OrderRef::Id(id),
                        ..
                    })
                    | OrderAction::Amend(AmendOrder { order_id: id, .. }) => id,
                    _ => return false,
                };
                steps[..*i].iter().any(|s| s.order_id == target)
                    && matches!(outcome_of(&output.receipts, step), ActionOutcome::Done)
            })
            .count();
    }
    assert!(
        blocks < 20 || same_block_successes > 0,
        "seed {seed}: the generator should reach same-block orders"
    );
}

/// The outcome the executor gave `step`.
fn outcome_of(receipts: &[markets::Receipt], step: &Step) -> ActionOutcome {
    match &receipts[step.tx as usize].outcome {
        Outcome::Executed(actions) => actions[usize::from(step.action)],
        Outcome::Rejected(reject) => ActionOutcome::Rejected(*reject),
    }
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 64,
        // Shrunk failures become named regression tests, not a seed file.
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn executor_follows_the_same_block_rule(seed in any::<u64>(), blocks in 1usize..12) {
        same_block_case(seed, blocks);
    }
}

#[test]
fn seeded_run_follows_the_same_block_rule() {
    let seed = std::env::var("CLOBCHAIN_SAME_BLOCK_SEED").map_or(16_005, |s| {
        s.parse().expect("CLOBCHAIN_SAME_BLOCK_SEED is a u64")
    });
    println!("CLOBCHAIN_SAME_BLOCK_SEED={seed}");
    same_block_case(seed, 60);
}
