//! The load tester's workloads: seeded streams of unsigned transactions, one trader at a
//! time, that both modes sign ahead of time and then send (over REST) or execute (in
//! process).
//!
//! - [`Mix`]: N traders on M markets, orders near a moving mid price per market, cancels
//!   and amends of the trader's own older orders, immediate-or-cancel takers sweeping
//!   several levels, and a small share of orders the chain must refuse. An optional hot
//!   market (market 0) takes a fixed share of the actions.
//! - [`Lobster`]: the two LOBSTER sample days (AAPL, AMZN) as two markets, interleaved,
//!   with [`crate::lobster::workload`]'s commands mapped onto accounts and chain units.
//!
//! One seed drives everything (STYLE.md #8): the same seed and settings give the same
//! transactions, byte for byte. The workloads never see what the chain did with earlier
//! transactions (the stream is produced ahead of time), so a cancel or amend may name an
//! order that has already filled: that is one of the rejects the report counts.

use std::collections::{BTreeMap, HashMap, VecDeque};

use markets::dev::Rng;
use markets::{
    Action, AmendOrder, CancelOrder, ChainId, MarketId, OrderAction, PlaceOrder, Transaction,
};
use matching::{Command, OrderId, OrderRef, SelfTradePrevention, Side, TimeInForce};

/// What the workload needs to know of a market, in the chain's units.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
pub struct MarketSpec {
    pub id: u32,
    /// Quote atoms per lot per tick.
    pub tick_size: u64,
    /// Base atoms per lot.
    pub lot_size: u64,
    pub price_ticks_max: u64,
}

/// One transaction to sign: whose, what, and what the tester watches for.
#[derive(Clone, Debug)]
pub struct Planned {
    /// Index of the trader (demo key `markets::dev::key(trader)`).
    pub trader: usize,
    pub tx: Transaction,
    /// Ids of the immediate-or-cancel takers it places: their first fill on the
    /// websocket gives the submit-to-fill latency.
    pub takers: Vec<u64>,
    /// Order actions in it (the throughput unit).
    pub orders: u32,
}

/// The mix's shares of order actions, per mille (the rest of 1000 are places).
const CANCEL_PER_MILLE: u64 = 220;
const AMEND_PER_MILLE: u64 = 80;
const TAKER_PER_MILLE: u64 = 170;
const BAD_PER_MILLE: u64 = 20;
/// Resting orders are priced within this many ticks of the mid.
const SPREAD_TICKS: u64 = 20;
/// Takers are priced up to this many ticks through the mid and ask for up to this many
/// lots (resting orders have 1 to 5): they sweep several levels, while most resting
/// orders still leave by a cancel, as on a real exchange.
const TAKER_LOTS_MAX: u64 = 8;
/// Takers are priced up to this many ticks through the mid: they sweep several levels.
const SWEEP_TICKS: u64 = 8;
/// Orders a trader believes live; past it the trader cancels before placing more, so
/// the books (and the node's memory) stay the same size however long the run.
const LIVE_PER_TRADER_MAX: usize = 48;
/// Cancels and amends name orders placed at least this many of the trader's
/// transactions earlier. A block runs its cancels before its places and checks amends
/// against the book as it began, so naming an order of the same block is refused; a
/// trader's last few transactions are likely still in flight or in the same block.
const TOUCH_AFTER_TXS: u64 = 8;
/// One mid moves by up to this many ticks every `MID_STEP_EVERY` actions.
const MID_STEP_TICKS: u64 = 2;
const MID_STEP_EVERY: u64 = 64;

/// An order the trader believes is live.
#[derive(Clone, Copy, Debug)]
struct Live {
    market: u32,
    id: OrderId,
    side: Side,
    /// The nonce of the transaction that placed (or last amended) it: a batch never
    /// names an order placed in the same transaction.
    nonce: u64,
}

#[derive(Debug)]
struct Trader {
    signer: [u8; 32],
    nonce_next: u64,
    live: VecDeque<Live>,
}

/// Settings of the [`Mix`] workload.
#[derive(Clone, Debug)]
pub struct MixConfig {
    pub chain_id: ChainId,
    /// The trader keys' public halves, by trader index.
    pub signers: Vec<[u8; 32]>,
    /// The first nonce each trader uses (above anything the chain has seen from it).
    pub nonce_start: Vec<u64>,
    pub markets: Vec<MarketSpec>,
    /// Per mille of actions sent to market 0 whatever the draw (0: uniform).
    pub hot_per_mille: u32,
    /// Order actions per signed transaction (1: a single order; more: a batch).
    pub actions_per_tx: usize,
}

/// The realistic mix (see the module docs).
#[derive(Debug)]
pub struct Mix {
    rng: Rng,
    config: MixConfig,
    traders: Vec<Trader>,
    /// Mid price per market, in ticks.
    mids: Vec<u64>,
    actions: u64,
}

fn market_id(id: u32) -> MarketId {
    MarketId(id)
}

/// A starting mid where a lot costs a few dollars (as `markets::sim` does), well inside
/// the price range.
fn initial_mid(index: usize, market: &MarketSpec) -> u64 {
    let atoms_per_lot = 2_000_000 + 1_000_000 * (index as u64 % 5);
    let low = 4 * (SPREAD_TICKS + SWEEP_TICKS);
    (atoms_per_lot / market.tick_size.max(1)).clamp(low, (market.price_ticks_max / 2).max(low))
}

impl Mix {
    pub fn new(seed: u64, config: MixConfig) -> Mix {
        assert!(!config.markets.is_empty(), "the mix needs a market");
        assert_eq!(config.signers.len(), config.nonce_start.len());
        assert!(
            (1..=markets::limits::BATCH_ACTIONS_MAX).contains(&config.actions_per_tx),
            "actions per transaction: 1 to the batch limit"
        );
        let traders = config
            .signers
            .iter()
            .zip(&config.nonce_start)
            .map(|(&signer, &nonce)| Trader {
                signer,
                nonce_next: nonce,
                live: VecDeque::new(),
            })
            .collect();
        let mids = config
            .markets
            .iter()
            .enumerate()
            .map(|(i, m)| initial_mid(i, m))
            .collect();
        Mix {
            rng: Rng::new(seed),
            config,
            traders,
            mids,
            actions: 0,
        }
    }

    pub fn traders(&self) -> usize {
        self.traders.len()
    }

    /// A trader drawn uniformly from `first, first + stride, first + 2 stride, …`.
    pub fn pick_trader(&mut self, first: usize, stride: usize) -> usize {
        let count = (self.traders.len() - first).div_ceil(stride);
        first + stride * self.rng.index(count)
    }

    fn pick_market(&mut self) -> usize {
        let markets = self.config.markets.len();
        if self.config.hot_per_mille > 0 && self.rng.chance(self.config.hot_per_mille) {
            0
        } else {
            self.rng.index(markets)
        }
    }

    fn step_mids(&mut self) {
        self.actions += 1;
        if self.actions.is_multiple_of(MID_STEP_EVERY) {
            let m = self.rng.index(self.mids.len());
            let step = self.rng.below(2 * MID_STEP_TICKS + 1);
            let spec = self.config.markets[m];
            let low = 4 * (SPREAD_TICKS + SWEEP_TICKS);
            let high = spec.price_ticks_max.saturating_sub(low).max(low);
            self.mids[m] = (self.mids[m] + step)
                .saturating_sub(MID_STEP_TICKS)
                .clamp(low, high);
        }
    }

    fn place(&self, m: usize, side: Side, ticks: u64, lots: u64, tif: TimeInForce) -> PlaceOrder {
        let spec = self.config.markets[m];
        PlaceOrder {
            market: market_id(spec.id),
            client_order_id: None,
            side,
            price: ticks * spec.tick_size,
            qty: lots * spec.lot_size,
            time_in_force: tif,
            post_only: false,
            self_trade: SelfTradePrevention::CancelResting,
        }
    }

    fn maker_ticks(&mut self, m: usize, side: Side) -> u64 {
        let offset = self.rng.between(1, SPREAD_TICKS);
        match side {
            Side::Buy => self.mids[m] - offset,
            Side::Sell => self.mids[m] + offset,
        }
    }

    /// An older live order of `trader` (from the older half of those placed at least
    /// [`TOUCH_AFTER_TXS`] of its transactions ago), taken out of its live list.
    fn take_older(&mut self, trader: usize, nonce: u64) -> Option<Live> {
        let live = &self.traders[trader].live;
        let eligible = live
            .iter()
            .take_while(|l| l.nonce + TOUCH_AFTER_TXS <= nonce)
            .count();
        if eligible == 0 {
            return None;
        }
        let pick = self.rng.index(eligible.div_ceil(2));
        self.traders[trader].live.remove(pick)
    }

    /// One order action of `trader`'s transaction with nonce `nonce`.
    fn action(
        &mut self,
        trader: usize,
        nonce: u64,
        index: u32,
        takers: &mut Vec<u64>,
    ) -> OrderAction {
        self.step_mids();
        let signer = self.traders[trader].signer;
        let full = self.traders[trader].live.len() >= LIVE_PER_TRADER_MAX;
        let roll = self.rng.below(1000);
        let id = markets::tx::order_id(&signer, nonce, index);
        if full || roll < CANCEL_PER_MILLE {
            if let Some(old) = self.take_older(trader, nonce) {
                return OrderAction::Cancel(CancelOrder {
                    market: market_id(old.market),
                    order: OrderRef::Id(old.id),
                });
            }
        } else if roll < CANCEL_PER_MILLE + AMEND_PER_MILLE {
            if let Some(mut old) = self.take_older(trader, nonce) {
                let m = self
                    .config
                    .markets
                    .iter()
                    .position(|s| s.id == old.market)
                    .expect("a market of the workload");
                let ticks = self.maker_ticks(m, old.side);
                let lots = self.rng.between(1, 5);
                let spec = self.config.markets[m];
                old.nonce = nonce;
                self.traders[trader].live.push_back(old);
                return OrderAction::Amend(AmendOrder {
                    market: market_id(spec.id),
                    order_id: old.id,
                    price: ticks * spec.tick_size,
                    qty: lots * spec.lot_size,
                });
            }
        } else if roll < CANCEL_PER_MILLE + AMEND_PER_MILLE + TAKER_PER_MILLE {
            let m = self.pick_market();
            let side = self.rng.side();
            let through = self.rng.between(1, SWEEP_TICKS);
            let ticks = match side {
                Side::Buy => self.mids[m] + through,
                Side::Sell => self.mids[m] - through,
            };
            let lots = self.rng.between(1, TAKER_LOTS_MAX);
            takers.push(id.0);
            return OrderAction::Place(self.place(
                m,
                side,
                ticks,
                lots,
                TimeInForce::ImmediateOrCancel,
            ));
        } else if roll < CANCEL_PER_MILLE + AMEND_PER_MILLE + TAKER_PER_MILLE + BAD_PER_MILLE {
            return self.bad_action();
        }
        // A resting order near the mid (also what a cancel or amend becomes when the
        // trader has nothing old enough to touch).
        let m = self.pick_market();
        let side = self.rng.side();
        let ticks = self.maker_ticks(m, side);
        let lots = self.rng.between(1, 5);
        self.traders[trader].live.push_back(Live {
            market: self.config.markets[m].id,
            id,
            side,
            nonce,
        });
        OrderAction::Place(self.place(m, side, ticks, lots, TimeInForce::GoodTillCancel))
    }

    /// An order the chain must refuse: a post-only order priced through the mid (the
    /// book's `POST_ONLY_WOULD_TAKE` when the other side has liquidity), a quantity off
    /// the lot where lots are larger than one atom, or an unknown market.
    fn bad_action(&mut self) -> OrderAction {
        let m = self.pick_market();
        let side = self.rng.side();
        let spec = self.config.markets[m];
        match self.rng.below(3) {
            0 => {
                let ticks = match side {
                    Side::Buy => self.mids[m] + SWEEP_TICKS,
                    Side::Sell => self.mids[m] - SWEEP_TICKS,
                };
                let mut place = self.place(m, side, ticks, 1, TimeInForce::GoodTillCancel);
                place.post_only = true;
                OrderAction::Place(place)
            }
            1 if spec.lot_size > 1 => {
                let ticks = self.maker_ticks(m, side);
                let mut place = self.place(m, side, ticks, 1, TimeInForce::GoodTillCancel);
                place.qty += 1;
                OrderAction::Place(place)
            }
            _ => {
                let ticks = self.maker_ticks(m, side);
                let mut place = self.place(m, side, ticks, 1, TimeInForce::GoodTillCancel);
                place.market = MarketId(u32::MAX);
                OrderAction::Place(place)
            }
        }
    }

    /// `trader`'s next transaction.
    pub fn next_tx(&mut self, trader: usize) -> Planned {
        let nonce = self.traders[trader].nonce_next;
        self.traders[trader].nonce_next += 1;
        let mut takers = Vec::new();
        let per_tx = self.config.actions_per_tx;
        let action = if per_tx == 1 {
            Action::Order(self.action(trader, nonce, 0, &mut takers))
        } else {
            Action::Batch(
                (0..per_tx)
                    .map(|i| {
                        let index = u32::try_from(i).expect("batches are small");
                        self.action(trader, nonce, index, &mut takers)
                    })
                    .collect(),
            )
        };
        Planned {
            trader,
            tx: Transaction {
                chain_id: self.config.chain_id,
                signer: self.traders[trader].signer,
                nonce,
                expiry_height: None,
                action,
            },
            takers,
            orders: u32::try_from(per_tx).expect("batches are small"),
        }
    }
}

/// A fill of a LOBSTER resting order: `((market, LOBSTER order id), shares)`.
type MakerFill = ((u32, u64), u64);

/// The traders of one LOBSTER day: `takers` from `first`, then `makers`.
#[derive(Clone, Copy, Debug)]
struct DayTraders {
    first: usize,
    takers: usize,
    makers: usize,
}

/// The reference: `commands` on a bare book. Records each fill per (market, LOBSTER
/// maker id) in `fills` and returns each command's fills.
fn bare_book_fills(
    commands: &[Command],
    market: u32,
    fills: &mut HashMap<(u32, u64), Vec<u64>>,
) -> Vec<Vec<MakerFill>> {
    let mut book = matching::Book::new(crate::lobster::market_params());
    let mut events = Vec::new();
    let mut fills_by_command: Vec<Vec<MakerFill>> = Vec::with_capacity(commands.len());
    for command in commands {
        events.clear();
        let _ = book.execute(*command, &mut events);
        let mut made = Vec::new();
        for event in &events {
            if let matching::Event::Fill(fill) = event {
                let key = (market, fill.maker_order_id.0);
                fills.entry(key).or_default().push(fill.qty.0);
                made.push((key, fill.qty.0));
            }
        }
        fills_by_command.push(made);
    }
    fills_by_command
}

/// One day's commands as transactions: which trader sends each (see
/// [`Lobster::build`]), with the trader's next nonce. Records each maker's chain order
/// id → (market, LOBSTER order id) in `makers_out`.
fn plan_day(
    commands: Vec<Command>,
    spec: &MarketSpec,
    traders: DayTraders,
    (chain_id, signers): (ChainId, &[[u8; 32]]),
    nonces: &mut [u64],
    makers_out: &mut HashMap<u64, (u32, u64)>,
) -> anyhow::Result<Vec<Planned>> {
    let DayTraders {
        first,
        takers,
        makers,
    } = traders;
    let mut next_taker = 0usize;
    let mut chain_ids: HashMap<u64, (usize, OrderId)> = HashMap::new();
    let mut planned = Vec::with_capacity(commands.len());
    for command in commands {
        let maker_of = |lobster_id: u64| {
            let mut rng = Rng::new(lobster_id ^ (u64::from(spec.id) << 56));
            first + takers + rng.index(makers)
        };
        let (trader, action, taker) = match command {
            Command::Place(order) if order.account == crate::lobster::TAKER_ACCOUNT => {
                let trader = first + next_taker % takers;
                next_taker += 1;
                let place = lobster_place(spec, &order);
                (trader, OrderAction::Place(place), true)
            }
            Command::Place(order) => {
                let trader = maker_of(order.order_id.0);
                (
                    trader,
                    OrderAction::Place(lobster_place(spec, &order)),
                    false,
                )
            }
            Command::Cancel { order, .. } => {
                let OrderRef::Id(id) = order else {
                    anyhow::bail!("the LOBSTER workload cancels by order id only");
                };
                let (trader, chain_id) = *chain_ids
                    .get(&id.0)
                    .ok_or_else(|| anyhow::anyhow!("cancel of an order never placed"))?;
                let cancel = CancelOrder {
                    market: market_id(spec.id),
                    order: OrderRef::Id(chain_id),
                };
                (trader, OrderAction::Cancel(cancel), false)
            }
            Command::Amend {
                order_id,
                price,
                qty,
                ..
            } => {
                let (trader, chain_id) = *chain_ids
                    .get(&order_id.0)
                    .ok_or_else(|| anyhow::anyhow!("amend of an order never placed"))?;
                let amend = AmendOrder {
                    market: market_id(spec.id),
                    order_id: chain_id,
                    price: price.0 * spec.tick_size,
                    qty: qty.0 * spec.lot_size,
                };
                (trader, OrderAction::Amend(amend), false)
            }
            other => anyhow::bail!("unexpected LOBSTER command {other:?}"),
        };
        let nonce = nonces[trader];
        nonces[trader] += 1;
        let tx = Transaction {
            chain_id,
            signer: signers[trader],
            nonce,
            expiry_height: None,
            action: Action::Order(action),
        };
        let id = tx.order_id(0);
        if let Command::Place(order) = command
            && !taker
        {
            chain_ids.insert(order.order_id.0, (trader, id));
            makers_out.insert(id.0, (spec.id, order.order_id.0));
        }
        planned.push(Planned {
            trader,
            tx,
            takers: if taker { vec![id.0] } else { Vec::new() },
            orders: 1,
        });
    }
    Ok(planned)
}

/// The LOBSTER days as two markets (see [`Lobster::build`]).
#[derive(Debug)]
pub struct Lobster {
    /// The whole stream, in sending order.
    pub stream: Vec<Planned>,
    /// Per market of the replay: the symbol and the market it runs on.
    pub symbols: Vec<(String, u32)>,
    /// Maker order ids on the chain → (market, LOBSTER order id).
    pub makers: HashMap<u64, (u32, u64)>,
    /// Nasdaq's visible executions (type-4 rows): (market, LOBSTER order id) → sizes in
    /// shares, in file order.
    pub nasdaq: HashMap<(u32, u64), Vec<u64>>,
    /// What the same commands do on a bare book (`matching::Book`, no chain): the fills
    /// per (market, LOBSTER maker id), in shares.
    pub bare_book_fills: HashMap<(u32, u64), Vec<u64>>,
    /// The same fills, each with the stream position of the command that made it, to
    /// compare a replay that sent only a prefix.
    pub bare_book_fills_at: Vec<(usize, (u32, u64), u64)>,
    /// `crate::lobster::replay` of each day (execution groups reproduced by the bare book,
    /// as `tests/it/lobster.rs` reports them).
    pub replay_summaries: Vec<String>,
    /// Lot size of each market, to turn fills back into shares.
    pub lot_sizes: BTreeMap<u32, u64>,
    /// Where each *sequential segment* of the stream starts (see
    /// [`Lobster::segment_ranges`]).
    pub segment_starts: Vec<usize>,
}

/// Nasdaq's type-4 rows reproduced by `fills`: for each resting order, the sizes both
/// lists hold (a multiset intersection).
pub fn reproduced_rows(
    nasdaq: &HashMap<(u32, u64), Vec<u64>>,
    fills: &HashMap<(u32, u64), Vec<u64>>,
) -> u64 {
    let mut total = 0u64;
    for (key, rows) in nasdaq {
        let Some(ours) = fills.get(key) else {
            continue;
        };
        let mut left: Vec<u64> = ours.clone();
        for size in rows {
            if let Some(at) = left.iter().position(|s| s == size) {
                left.swap_remove(at);
                total += 1;
            }
        }
    }
    total
}

impl Lobster {
    /// The AAPL day on market `markets[0]` and the AMZN day on `markets[1]`: one LOBSTER
    /// tick (a cent) is one tick of the market and one share is one lot, so on the dev
    /// chain AAPL at $580.00 trades as BTC-USD at 58,000 ticks ($580.00 per BTC) and a
    /// 100-share order is 100 lots (0.01 BTC).
    ///
    /// Accounts: each day has half of the traders. The first eighth of a half send the
    /// execution groups' immediate-or-cancel orders, round robin (so no taker's position
    /// drifts far); every LOBSTER order id belongs to one of the other traders of the
    /// half, chosen by hashing it, so self-trade prevention never fires (makers never
    /// cross; takers never rest). Each trader numbers its transactions from
    /// `nonce_start`, in stream order.
    ///
    /// The two days are interleaved in proportion to their lengths, so both end together.
    pub fn build(
        chain_id: ChainId,
        signers: &[[u8; 32]],
        nonce_start: &[u64],
        markets: &[MarketSpec],
    ) -> anyhow::Result<Lobster> {
        anyhow::ensure!(markets.len() >= 2, "the LOBSTER replay needs two markets");
        anyhow::ensure!(
            signers.len() >= 4,
            "the LOBSTER replay needs at least 4 traders"
        );
        // Each day has its own half of the traders, so each trader's nonces rise in the
        // interleaved stream as they do in its day.
        let half = signers.len() / 2;
        let takers = (half / 8).max(1);
        let makers = half - takers;
        let mut days = Vec::new();
        for (symbol, spec) in crate::lobster::SYMBOLS.iter().zip(markets) {
            let day = crate::lobster::Day::load(symbol)?;
            days.push((day, *spec));
        }
        let mut nonces: Vec<u64> = nonce_start.to_vec();
        let mut out = Lobster {
            stream: Vec::new(),
            symbols: Vec::new(),
            makers: HashMap::new(),
            nasdaq: HashMap::new(),
            bare_book_fills: HashMap::new(),
            bare_book_fills_at: Vec::new(),
            replay_summaries: Vec::new(),
            lot_sizes: BTreeMap::new(),
            segment_starts: Vec::new(),
        };
        let mut per_day: Vec<Vec<Planned>> = Vec::new();
        let mut per_day_fills: Vec<Vec<Vec<MakerFill>>> = Vec::new();
        for (d, (day, spec)) in days.iter().enumerate() {
            out.symbols.push((day.symbol.clone(), spec.id));
            out.lot_sizes.insert(spec.id, spec.lot_size);
            out.replay_summaries
                .push(crate::lobster::replay(day).to_string());
            for message in &day.messages {
                if message.kind == crate::lobster::MessageKind::ExecuteVisible {
                    out.nasdaq
                        .entry((spec.id, message.order_id))
                        .or_default()
                        .push(message.size);
                }
            }
            let commands = crate::lobster::workload(day);
            per_day_fills.push(bare_book_fills(
                &commands,
                spec.id,
                &mut out.bare_book_fills,
            ));
            let traders = DayTraders {
                first: d * half,
                takers,
                makers,
            };
            per_day.push(plan_day(
                commands,
                spec,
                traders,
                (chain_id, signers),
                &mut nonces,
                &mut out.makers,
            )?);
        }
        out.interleave(per_day, &per_day_fills);
        out.segment_starts = segment_starts(&out.stream);
        Ok(out)
    }

    /// Appends the days' transactions to the stream, interleaved in proportion to their
    /// lengths (item `i` of a day of length `n` sorts at `(i + 1) / n`), and the bare
    /// book's fills at the position of the command that made each.
    fn interleave(&mut self, per_day: Vec<Vec<Planned>>, per_day_fills: &[Vec<Vec<MakerFill>>]) {
        let lengths: Vec<u128> = per_day.iter().map(|d| d.len() as u128).collect();
        let mut cursors = vec![0usize; per_day.len()];
        let mut days_iter: Vec<std::vec::IntoIter<Planned>> =
            per_day.into_iter().map(Vec::into_iter).collect();
        loop {
            let next = (0..days_iter.len())
                .filter(|&d| (cursors[d] as u128) < lengths[d])
                .min_by(|&a, &b| {
                    let fa = (cursors[a] as u128 + 1) * lengths[b];
                    let fb = (cursors[b] as u128 + 1) * lengths[a];
                    fa.cmp(&fb).then(a.cmp(&b))
                });
            let Some(d) = next else { break };
            let position = self.stream.len();
            for &(key, shares) in &per_day_fills[d][cursors[d]] {
                self.bare_book_fills_at.push((position, key, shares));
            }
            cursors[d] += 1;
            self.stream
                .push(days_iter[d].next().expect("the cursor is below the length"));
        }
    }

    /// The stream cut into runs that a block executes exactly as Nasdaq's sequence, at
    /// most `len_max` transactions each.
    ///
    /// A block runs each market's cancels before its places and amends, and checks an
    /// amend against the book as the block began; the LOBSTER stream is a sequence. A
    /// run is safe in one block when none of its cancels follows a taker of the same
    /// market (the taker might have filled the cancelled order first) and none of its
    /// cancels or amends names an order placed or amended earlier in the run. Any
    /// prefix or suffix of a safe run is safe, so long runs are split freely.
    pub fn segment_ranges(&self, len_max: usize) -> Vec<std::ops::Range<usize>> {
        let len_max = len_max.max(1);
        let mut ranges = Vec::new();
        let mut starts = self.segment_starts.clone();
        starts.push(self.stream.len());
        for pair in starts.windows(2) {
            let mut at = pair[0];
            while at < pair[1] {
                let end = (at + len_max).min(pair[1]);
                ranges.push(at..end);
                at = end;
            }
        }
        ranges
    }
}

/// See [`Lobster::segment_ranges`].
fn segment_starts(stream: &[Planned]) -> Vec<usize> {
    let mut starts = Vec::new();
    let mut takers: std::collections::HashSet<MarketId> = std::collections::HashSet::new();
    let mut touched: std::collections::HashSet<(MarketId, OrderId)> =
        std::collections::HashSet::new();
    for (i, planned) in stream.iter().enumerate() {
        let action = &planned.tx.order_actions()[0];
        let cut = match action {
            OrderAction::Cancel(CancelOrder {
                market,
                order: OrderRef::Id(id),
            }) => takers.contains(market) || touched.contains(&(*market, *id)),
            OrderAction::Amend(amend) => touched.contains(&(amend.market, amend.order_id)),
            _ => false,
        };
        if cut || i == 0 {
            starts.push(i);
            takers.clear();
            touched.clear();
        }
        match action {
            OrderAction::Place(place) if place.time_in_force == TimeInForce::ImmediateOrCancel => {
                takers.insert(place.market);
            }
            OrderAction::Place(place) => {
                touched.insert((place.market, planned.tx.order_id(0)));
            }
            OrderAction::Amend(amend) => {
                touched.insert((amend.market, amend.order_id));
            }
            OrderAction::Cancel(_) | OrderAction::CancelAll(_) => {}
        }
    }
    starts
}

fn lobster_place(spec: &MarketSpec, order: &matching::NewOrder) -> PlaceOrder {
    PlaceOrder {
        market: market_id(spec.id),
        client_order_id: None,
        side: order.side,
        price: order.price.0 * spec.tick_size,
        qty: order.qty.0 * spec.lot_size,
        time_in_force: order.time_in_force,
        post_only: false,
        self_trade: SelfTradePrevention::CancelResting,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(actions_per_tx: usize) -> MixConfig {
        let signers: Vec<[u8; 32]> = (0..8u64)
            .map(|i| markets::dev::key(i).verifying_key().to_bytes())
            .collect();
        MixConfig {
            chain_id: markets::dev::CHAIN_ID,
            nonce_start: vec![1; signers.len()],
            signers,
            markets: vec![
                MarketSpec {
                    id: 0,
                    tick_size: 1,
                    lot_size: 10_000,
                    price_ticks_max: 1_000_000_000,
                },
                MarketSpec {
                    id: 1,
                    tick_size: 10,
                    lot_size: 1_000_000,
                    price_ticks_max: 100_000_000,
                },
            ],
            hot_per_mille: 500,
            actions_per_tx,
        }
    }

    /// A one-action transaction of demo trader 0 with this nonce.
    fn planned(nonce: u64, action: OrderAction) -> Planned {
        Planned {
            trader: 0,
            tx: Transaction {
                chain_id: markets::dev::CHAIN_ID,
                signer: [7; 32],
                nonce,
                expiry_height: None,
                action: Action::Order(action),
            },
            takers: Vec::new(),
            orders: 1,
        }
    }

    #[test]
    fn sequential_segments_cut_where_a_block_would_reorder() {
        let place = |tif| {
            OrderAction::Place(PlaceOrder {
                market: MarketId(0),
                client_order_id: None,
                side: Side::Buy,
                price: 100,
                qty: 1,
                time_in_force: tif,
                post_only: false,
                self_trade: SelfTradePrevention::CancelResting,
            })
        };
        let cancel = |market, id| {
            OrderAction::Cancel(CancelOrder {
                market: MarketId(market),
                order: OrderRef::Id(id),
            })
        };
        let amend = |id| {
            OrderAction::Amend(AmendOrder {
                market: MarketId(0),
                order_id: id,
                price: 100,
                qty: 2,
            })
        };
        let old = OrderId(99);
        let placed_1 = markets::tx::order_id(&[7; 32], 1, 0);
        let stream = vec![
            planned(0, cancel(0, old)),                        // 0: segment 0
            planned(1, place(TimeInForce::GoodTillCancel)),    // 1
            planned(2, amend(old)),                            // 2: an older order: fine
            planned(3, place(TimeInForce::ImmediateOrCancel)), // 3: a taker on market 0
            planned(4, cancel(1, OrderId(5))),                 // 4: another market: fine
            planned(5, cancel(0, OrderId(6))),                 // 5: after the taker: cut
            planned(6, amend(placed_1)),                       // 6: placed in segment 0 only
            planned(7, amend(placed_1)),                       // 7: amended just before: cut
            planned(8, cancel(0, placed_1)),                   // 8: amended just before: cut
        ];
        assert_eq!(segment_starts(&stream), vec![0, 5, 7, 8]);
    }

    #[test]
    fn the_mix_is_reproducible_and_bounded() {
        let run = |seed| {
            let mut mix = Mix::new(seed, config(4));
            (0..2_000)
                .map(|_| {
                    let t = mix.pick_trader(1, 2);
                    assert_eq!(t % 2, 1, "traders come from the asked subset");
                    mix.next_tx(t)
                })
                .collect::<Vec<_>>()
        };
        let a = run(7);
        let b = run(7);
        assert_eq!(
            a.iter().map(|p| &p.tx).collect::<Vec<_>>(),
            b.iter().map(|p| &p.tx).collect::<Vec<_>>()
        );
        assert_ne!(a[0].tx, run(8)[0].tx);
        let mut kinds = [0u64; 4];
        let mut hot = 0u64;
        let mut places = 0u64;
        for planned in &a {
            assert_eq!(planned.orders, 4);
            for action in planned.tx.order_actions() {
                match action {
                    OrderAction::Place(p) => {
                        kinds[0] += 1;
                        places += 1;
                        hot += u64::from(p.market == MarketId(0));
                    }
                    OrderAction::Cancel(_) => kinds[1] += 1,
                    OrderAction::Amend(_) => kinds[2] += 1,
                    OrderAction::CancelAll(_) => kinds[3] += 1,
                }
            }
        }
        assert!(
            kinds[1] > 0 && kinds[2] > 0,
            "cancels and amends: {kinds:?}"
        );
        assert!(
            hot * 100 > places * 60,
            "half of all places go to the hot market, plus its uniform share"
        );
        let takers: usize = a.iter().map(|p| p.takers.len()).sum();
        assert!(takers > 500, "{takers} takers");
    }
}
