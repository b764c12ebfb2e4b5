//! Seeded synthetic command streams for the matching engine: what the benches time and
//! what the load tester will replay.
//!
//! Every generator takes a seed and returns its commands already built, split into a
//! warm-up (applied to an empty book, untimed, to reach steady state) and the part that
//! is measured, so nothing is generated inside a timed loop. The same seed always gives
//! the same commands: randomness comes only from [`Rng`], a SplitMix64 written here with
//! integer arithmetic only.
//!
//! ```text
//!   seed ──► Rng ──► generator ──► command ──► book (any OrderBook) ──► events
//!                        ▲                                                │
//!                        └──────── mirror of the live orders ◄────────────┘
//! ```
//!
//! The mixed generator runs a book while it generates and reads its events back, so
//! that every cancel names an order that is live at that point and every taker is
//! priced against the levels really resting. The streams are meant to be free of
//! rejections; a rejection while generating is a bug and panics.
//!
//! - [`mixed`]: the main workload: resting limit orders around a slowly moving fair
//!   price, cancels of random live orders, and immediate-or-cancel takers, on a book of
//!   about 20,000 resting orders from 1,000 accounts.
//! - [`place_limit`], [`cancel_at_level`], [`sweep`]: micro-benchmarks in rounds
//!   ([`RoundWorkload`]); each round's timed commands are followed by untimed commands
//!   that put the book's contents back, so the book the bench measures stays the same
//!   size however long it runs.

use std::collections::{BTreeMap, HashMap};

use matching::{
    AccountId, Command, Event, MarketParams, NewOrder, OrderBook, OrderId, OrderRef, Price, Qty,
    SelfTradePrevention, Side, TimeInForce,
};

/// SplitMix64 (Steele, Lea and Flood, 2014): a 64-bit state advanced by a constant and
/// mixed by two multiply-xorshift rounds. Small, fast and good enough for workloads;
/// integers only, so the same seed gives the same stream on every machine.
#[derive(Clone, Debug)]
pub struct Rng {
    state: u64,
}

impl Rng {
    pub const fn new(seed: u64) -> Rng {
        Rng { state: seed }
    }

    pub fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A number in `0..n` (`n > 0`), by Lemire's multiply-shift. Its bias, below
    /// `n / 2^64`, is far under anything a workload could notice.
    pub fn below(&mut self, n: u64) -> u64 {
        assert!(n > 0, "Rng::below(0)");
        let wide = u128::from(self.next_u64()) * u128::from(n);
        (wide >> 64) as u64
    }

    /// A number in `low..=high`.
    pub fn between(&mut self, low: u64, high: u64) -> u64 {
        assert!(low <= high, "Rng::between({low}, {high})");
        low + self.below(high - low + 1)
    }

    /// True with probability `per_mille / 1000`.
    pub fn chance(&mut self, per_mille: u64) -> bool {
        self.below(1000) < per_mille
    }

    /// An index in `0..len`.
    pub fn index(&mut self, len: usize) -> usize {
        let len = u64::try_from(len).expect("usize fits u64");
        usize::try_from(self.below(len)).expect("an index below a usize fits a usize")
    }

    pub fn side(&mut self) -> Side {
        if self.below(2) == 0 {
            Side::Buy
        } else {
            Side::Sell
        }
    }

    /// Fisher–Yates.
    pub fn shuffle<T>(&mut self, items: &mut [T]) {
        for i in (1..items.len()).rev() {
            let j = self.index(i + 1);
            items.swap(i, j);
        }
    }
}

/// The market every workload trades in: the test parameters (prices up to 1,000,000
/// ticks, up to 1,000 resting orders per account and 100,000 per book), which leave
/// room for the 20,000-order books and 1,000 accounts used here.
pub const fn market_params() -> MarketParams {
    MarketParams::for_tests()
}

/// Where the workloads centre their prices, in ticks: far from both ends of the range.
const PRICE_START: u64 = 100_000;

/// A prepared command stream: apply `warmup` to an empty book with `params`, untimed,
/// then time `timed`. Every command is accepted (nothing is rejected).
#[derive(Clone, Debug)]
pub struct Workload {
    pub name: &'static str,
    pub seed: u64,
    pub params: MarketParams,
    pub warmup: Vec<Command>,
    pub timed: Vec<Command>,
    /// What `timed` does, counted while it was generated.
    pub mix: Mix,
}

/// What a stretch of the mixed workload did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Mix {
    /// New good-till-cancel limit orders priced not to cross: they rest.
    pub places: u64,
    /// Cancels of live orders.
    pub cancels: u64,
    /// Immediate-or-cancel orders priced through one or more opposite levels.
    pub takers: u64,
    /// Fills, over all takers.
    pub fills: u64,
    /// Price levels the takers traded at, summed over takers.
    pub taker_levels: u64,
    /// Takers that traded at two or more price levels.
    pub takers_multi_level: u64,
    /// Most price levels one taker traded at.
    pub taker_levels_max: u64,
    /// Resting orders at the start of the stretch.
    pub resting_start: u64,
    /// Fewest and most resting orders after any command of the stretch.
    pub resting_min: u64,
    pub resting_max: u64,
    /// Resting orders at the end of the stretch.
    pub resting_end: u64,
}

impl Mix {
    pub fn commands(&self) -> u64 {
        self.places + self.cancels + self.takers
    }

    /// A kind's share of the commands, in per mille.
    pub fn per_mille(&self, count: u64) -> u64 {
        count * 1000 / self.commands().max(1)
    }
}

/// The mixed workload's size.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MixedConfig {
    /// Accounts `1..=accounts` place, cancel and take.
    pub accounts: u64,
    /// The number of resting orders the generator holds the book at.
    pub resting_target: u64,
    /// Warm-up commands with the steady mix after the book first reaches the target,
    /// so the book's shape (and its allocator's free lists) settle before timing.
    pub settle_commands: usize,
    /// Commands in the timed part.
    pub timed_commands: usize,
}

impl MixedConfig {
    /// What the benches use: 1,000 accounts, about 20,000 resting orders.
    pub const STANDARD: MixedConfig = MixedConfig {
        accounts: 1_000,
        resting_target: 20_000,
        settle_commands: 100_000,
        timed_commands: 50_000,
    };
}

/// The mixed workload, generated by running a `B` (any correct book gives the same
/// commands, since the generator reads only the documented events).
///
/// Its mix, per command of the timed part:
/// - about 47%: a new good-till-cancel limit order from a random account, at the fair
///   price minus (buy) or plus (sell) a distance of 1..=4 ticks (10%), 5..=32 (30%),
///   33..=256 (40%) or 257..=1024 (20%), clipped one tick short of the best opposite
///   price so that it rests; 1..=10 lots (50%), 11..=50 (35%) or 51..=200 (15%);
/// - about 38%: a cancel of a live order picked uniformly at random;
/// - 15%: an immediate-or-cancel taker from a random account for 1..=20 lots (90%) or
///   21..=200 (10%), its limit at the 1st (45%), 2nd (25%), 3rd (15%), 4th (10%) or 5th
///   (5%) best opposite level, so it goes on to the next level whenever the one it
///   reached runs out. Takers lean towards the fair price (they buy more often when the
///   book's mid is below it), which keeps the book following the fair price.
///
/// The fair price starts at 100,000 ticks and moves one tick up or down with
/// probability 1/16 each per command. The place/cancel split is nudged (one point of
/// cancels per 1% the book is off its target, within 30%..=50%) to hold the book at
/// `resting_target`; takers stay at 15%. Since each taker removes between one and two
/// resting orders, the split settles near 47/38 rather than 45/40, a few hundred orders
/// under the target.
///
/// With [`MixedConfig::STANDARD`] the book holds about 19,600 orders on some 1,000 price
/// levels a side, the levels nearest the spread holding from one to a hundred orders;
/// takers make about 1.6 fills each, and about 3% of them trade at two or more levels
/// (most trade within the best level, which is rarely thin).
///
/// The warm-up places until the book first holds `resting_target` orders (90% places,
/// 5% cancels, 5% takers), then runs `settle_commands` of the steady mix.
pub fn mixed<B: OrderBook>(seed: u64, config: &MixedConfig) -> Workload {
    let mut generator = MixedGenerator::<B>::new(seed, *config);
    let warmup = generator.warm_up();
    let mut timed = Vec::with_capacity(config.timed_commands);
    let mix = generator.run(config.timed_commands, &mut timed);
    Workload {
        name: "mixed",
        seed,
        params: generator.params,
        warmup,
        timed,
        mix,
    }
}

/// A micro-benchmark in rounds. Apply `warmup` to an empty book; then each round runs
/// its `timed` commands (measured) and then its `restore` commands (not measured).
/// After a whole number of passes over the rounds the book holds exactly the orders the
/// warm-up left, in the same queue order, and only `trade_seq` has moved, by
/// `per_round.fills` a round. (For [`place_limit`] and [`sweep`] that holds after every
/// round; for [`cancel_at_level`] only after a whole pass, since a re-placed order
/// joins the back of its level.)
#[derive(Clone, Debug)]
pub struct RoundWorkload {
    pub name: &'static str,
    pub seed: u64,
    pub params: MarketParams,
    pub warmup: Vec<Command>,
    timed: Vec<Command>,
    timed_per_round: usize,
    restore: Vec<Command>,
    restore_per_round: usize,
    /// What every round produces.
    pub per_round: RoundCounts,
}

/// The events one round of a [`RoundWorkload`] produces. No round is ever rejected.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RoundCounts {
    /// Events of the timed commands.
    pub timed_events: u64,
    /// Fills (all from the timed commands).
    pub fills: u64,
    /// Events of the restore commands.
    pub restore_events: u64,
}

impl RoundWorkload {
    pub fn rounds(&self) -> usize {
        self.timed.len() / self.timed_per_round
    }

    pub fn timed_per_round(&self) -> usize {
        self.timed_per_round
    }

    /// Round `i`'s timed and restore commands.
    pub fn round(&self, i: usize) -> (&[Command], &[Command]) {
        let timed = &self.timed[i * self.timed_per_round..(i + 1) * self.timed_per_round];
        let restore = &self.restore[i * self.restore_per_round..(i + 1) * self.restore_per_round];
        (timed, restore)
    }

    fn new(
        name: &'static str,
        seed: u64,
        warmup: Vec<Command>,
        rounds: Vec<(Vec<Command>, Vec<Command>)>,
        per_round: RoundCounts,
    ) -> RoundWorkload {
        let timed_per_round = rounds[0].0.len();
        let restore_per_round = rounds[0].1.len();
        let mut timed = Vec::with_capacity(rounds.len() * timed_per_round);
        let mut restore = Vec::with_capacity(rounds.len() * restore_per_round);
        for (t, r) in rounds {
            assert_eq!((t.len(), r.len()), (timed_per_round, restore_per_round));
            timed.extend(t);
            restore.extend(r);
        }
        RoundWorkload {
            name,
            seed,
            params: market_params(),
            warmup,
            timed,
            timed_per_round,
            restore,
            restore_per_round,
            per_round,
        }
    }
}

/// New resting orders onto the mixed workload's warm book (about
/// `config.resting_target` orders). Each round places 64 good-till-cancel orders from
/// random accounts at or behind their side's best price (0..=3 ticks behind for 10%,
/// 4..=31 for 30%, 32..=255 for 40%, 256..=1023 for 20%), so they mostly join existing
/// levels, sometimes open new ones, and never trade; the restore cancels them. 64
/// rounds of distinct orders.
pub fn place_limit<B: OrderBook>(seed: u64, config: &MixedConfig) -> RoundWorkload {
    const PER_ROUND: usize = 64;
    const ROUNDS: usize = 64;
    let mut generator = MixedGenerator::<B>::new(seed, *config);
    let warmup = generator.warm_up();
    let best_bid = generator
        .mirror
        .best(Side::Buy)
        .expect("a warm book has bids");
    let best_ask = generator
        .mirror
        .best(Side::Sell)
        .expect("a warm book has asks");
    let mut rng = Rng::new(seed ^ 0x706C_6163_655F_6C69);
    let mut next_order_id = generator.next_order_id;
    let rounds = (0..ROUNDS)
        .map(|_| {
            let orders: Vec<NewOrder> = (0..PER_ROUND)
                .map(|_| {
                    let side = rng.side();
                    let behind = maker_distance(&mut rng) - 1;
                    let price = match side {
                        Side::Buy => best_bid.0.saturating_sub(behind).max(1),
                        Side::Sell => best_ask.0 + behind,
                    };
                    next_order_id += 1;
                    gtc(
                        OrderId(next_order_id),
                        AccountId(rng.between(1, config.accounts)),
                        side,
                        Price(price),
                        maker_qty(&mut rng),
                    )
                })
                .collect();
            let timed = orders.iter().map(|&o| Command::Place(o)).collect();
            let restore = orders.iter().map(cancel_of).collect();
            (timed, restore)
        })
        .collect();
    let per_round = RoundCounts {
        timed_events: 2 * PER_ROUND as u64, // Accepted, Rested
        fills: 0,
        restore_events: PER_ROUND as u64, // Cancelled
    };
    RoundWorkload::new("place_limit", seed, warmup, rounds, per_round)
}

/// Cancels from the middle of big or small levels, on a book of `resting` orders laid
/// out as levels of `orders_per_level` (contiguous prices on both sides of 100,000
/// ticks), so the level size changes and the book size does not. Each round cancels
/// 100 orders, each the order at position `orders_per_level / 2` of its level at that
/// moment, visiting the levels round-robin in a shuffled order; the restore places the
/// same orders again (at the back of their levels). A level touched several times in a
/// round loses consecutive orders from its middle, so a level of 10,000 stays above
/// 9,900 orders. After `orders_per_level - orders_per_level / 2` touches a level's
/// queue is back in its original order, which is what makes the rounds a cycle.
pub fn cancel_at_level(seed: u64, resting: u64, orders_per_level: u64) -> RoundWorkload {
    const PER_ROUND: usize = 100;
    let mut rng = Rng::new(seed);
    let levels_per_side = resting / (2 * orders_per_level);
    assert!(
        levels_per_side >= 1,
        "{resting} orders cannot fill two levels of {orders_per_level}"
    );
    let (levels, warmup) = ladder(&mut rng, levels_per_side, orders_per_level, 1_000);
    let middle = usize::try_from(orders_per_level / 2).expect("fits usize");
    let back_len = levels[0].len() - middle;
    let mut visit: Vec<usize> = (0..levels.len()).collect();
    rng.shuffle(&mut visit);
    assert!(
        PER_ROUND.div_ceil(visit.len()) <= back_len,
        "a round would touch a level more often than its back half is long"
    );
    // Step s cancels, in level visit[s % levels], the back-half order it reaches on its
    // (s / levels)-th touch; the pattern repeats after levels × back_len steps, and the
    // rounds run for the least multiple of that which is also a multiple of PER_ROUND.
    let period = visit.len() * back_len;
    let steps = lcm(period, PER_ROUND);
    let orders: Vec<NewOrder> = (0..steps)
        .map(|s| {
            let level = &levels[visit[s % visit.len()]];
            let touch = (s / visit.len()) % back_len;
            level[middle + touch]
        })
        .collect();
    let rounds = orders
        .chunks(PER_ROUND)
        .map(|chunk| {
            let timed = chunk.iter().map(cancel_of).collect();
            let restore = chunk.iter().map(|&o| Command::Place(o)).collect();
            (timed, restore)
        })
        .collect();
    let per_round = RoundCounts {
        timed_events: PER_ROUND as u64, // Cancelled
        fills: 0,
        restore_events: 2 * PER_ROUND as u64, // Accepted, Rested
    };
    RoundWorkload::new("cancel_at_level", seed, warmup, rounds, per_round)
}

/// Aggressive orders on a book of `resting` orders in levels of 10 (`resting / 20`
/// contiguous levels a side). Each round sends 8 immediate-or-cancel takers,
/// alternately buying and selling, each for exactly the quantity of the next
/// `levels_per_sweep` levels of its opposite side, with its limit at the last of them:
/// it trades with all `10 × levels_per_sweep` orders and leaves nothing to cancel. The
/// takers' account owns no resting order. The restore places the taken orders again, in
/// their original order, which rebuilds the levels exactly.
pub fn sweep(seed: u64, resting: u64, levels_per_sweep: u64) -> RoundWorkload {
    const SWEEPS_PER_ROUND: u64 = 8;
    const ORDERS_PER_LEVEL: u64 = 10;
    const ACCOUNTS: u64 = 1_000;
    let mut rng = Rng::new(seed);
    let levels_per_side = resting / (2 * ORDERS_PER_LEVEL);
    let (levels, warmup) = ladder(&mut rng, levels_per_side, ORDERS_PER_LEVEL, ACCOUNTS);
    let per_side = usize::try_from(levels_per_side).expect("fits usize");
    let levels_per_sweep = usize::try_from(levels_per_sweep).expect("fits usize");
    let sweeps = usize::try_from(SWEEPS_PER_ROUND).expect("fits usize");
    assert!(
        sweeps.div_ceil(2) * levels_per_sweep <= per_side,
        "a round would sweep more levels than a side has"
    );
    let mut timed = Vec::new();
    let mut restore = Vec::new();
    for j in 0..sweeps {
        let side = if j % 2 == 0 { Side::Buy } else { Side::Sell };
        // `ladder` lays out the bid levels best first, then the ask levels best first.
        let first = match side {
            Side::Buy => per_side,
            Side::Sell => 0,
        } + (j / 2) * levels_per_sweep;
        let taken = &levels[first..first + levels_per_sweep];
        let qty = taken.iter().flatten().map(|o| o.qty.0).sum();
        let limit = taken.last().expect("levels_per_sweep >= 1")[0].price;
        timed.push(Command::Place(NewOrder {
            time_in_force: TimeInForce::ImmediateOrCancel,
            ..gtc(
                OrderId(u64::MAX - j as u64),
                AccountId(ACCOUNTS + 1),
                side,
                limit,
                Qty(qty),
            )
        }));
        restore.extend(taken.iter().flatten().map(|&o| Command::Place(o)));
    }
    let fills = SWEEPS_PER_ROUND * ORDERS_PER_LEVEL * levels_per_sweep as u64;
    let per_round = RoundCounts {
        timed_events: SWEEPS_PER_ROUND + fills, // Accepted, then one Fill per maker
        fills,
        restore_events: 2 * fills, // Accepted, Rested
    };
    RoundWorkload::new("sweep", seed, warmup, vec![(timed, restore)], per_round)
}

// ---- building blocks ----

fn gtc(order_id: OrderId, account: AccountId, side: Side, price: Price, qty: Qty) -> NewOrder {
    NewOrder {
        order_id,
        account,
        client_order_id: None,
        side,
        price,
        qty,
        time_in_force: TimeInForce::GoodTillCancel,
        post_only: false,
        self_trade: SelfTradePrevention::default(),
    }
}

fn cancel_of(order: &NewOrder) -> Command {
    Command::Cancel {
        account: order.account,
        order: OrderRef::Id(order.order_id),
    }
}

fn lcm(a: usize, b: usize) -> usize {
    let (mut x, mut y) = (a, b);
    while y != 0 {
        (x, y) = (y, x % y);
    }
    a / x * b
}

/// How far from the fair price a maker rests, in ticks: 1..=4 (10%), 5..=32 (30%),
/// 33..=256 (40%), 257..=1024 (20%).
fn maker_distance(rng: &mut Rng) -> u64 {
    match rng.below(100) {
        0..10 => rng.between(1, 4),
        10..40 => rng.between(5, 32),
        40..80 => rng.between(33, 256),
        _ => rng.between(257, 1024),
    }
}

/// A maker's size in lots: 1..=10 (50%), 11..=50 (35%), 51..=200 (15%).
fn maker_qty(rng: &mut Rng) -> Qty {
    Qty(match rng.below(100) {
        0..50 => rng.between(1, 10),
        50..85 => rng.between(11, 50),
        _ => rng.between(51, 200),
    })
}

/// A book of `levels_per_side` contiguous levels on each side of [`PRICE_START`] (one
/// tick of spread either side), each of `orders_per_level` good-till-cancel orders from
/// random accounts in `1..=accounts`. Returns the levels (bids best first, then asks
/// best first; each level's orders oldest first) and the commands that build it.
///
/// The commands first age the book: they place a book of the same shape with other
/// order ids and cancel all of it in a random order, as in a book that has been trading
/// for a while. A book that recycles storage then holds the real orders in places freed
/// in random order, not side by side in the order they arrived, which would flatter
/// whatever walks them. Then they place the real orders row by row across the levels,
/// in a shuffled order of levels.
fn ladder(
    rng: &mut Rng,
    levels_per_side: u64,
    orders_per_level: u64,
    accounts: u64,
) -> (Vec<Vec<NewOrder>>, Vec<Command>) {
    let total = 2 * levels_per_side * orders_per_level;
    let mut make_levels = |first_order_id: u64| {
        let mut levels = Vec::new();
        let mut next_order_id = first_order_id;
        for side in [Side::Buy, Side::Sell] {
            for i in 0..levels_per_side {
                let price = match side {
                    Side::Buy => PRICE_START - 1 - i,
                    Side::Sell => PRICE_START + 1 + i,
                };
                let level: Vec<NewOrder> = (0..orders_per_level)
                    .map(|_| {
                        let account = AccountId(rng.between(1, accounts));
                        let order_id = OrderId(next_order_id);
                        next_order_id += 1;
                        gtc(order_id, account, side, Price(price), maker_qty(rng))
                    })
                    .collect();
                levels.push(level);
            }
        }
        levels
    };
    let levels = make_levels(1);
    let aging = make_levels(total + 1);
    let rows = usize::try_from(orders_per_level).expect("fits usize");
    let placements = |rng: &mut Rng, levels: &[Vec<NewOrder>]| -> Vec<NewOrder> {
        let mut order: Vec<usize> = (0..levels.len()).collect();
        rng.shuffle(&mut order);
        (0..rows)
            .flat_map(|row| order.iter().map(move |&l| levels[l][row]))
            .collect()
    };
    let aging = placements(rng, &aging);
    let mut aging_cancels = aging.clone();
    rng.shuffle(&mut aging_cancels);
    let real = placements(rng, &levels);
    let warmup = aging
        .iter()
        .map(|&o| Command::Place(o))
        .chain(aging_cancels.iter().map(cancel_of))
        .chain(real.iter().map(|&o| Command::Place(o)))
        .collect();
    (levels, warmup)
}

/// The live orders of the book being generated against, kept from its events.
#[derive(Debug, Default)]
struct Mirror {
    /// For picking a live order uniformly: `index` maps an id to its place here.
    live: Vec<LiveOrder>,
    /// Looked up, never iterated, so its order cannot reach the output.
    index: HashMap<OrderId, usize>,
    /// Per side (`Side as usize`): total quantity at each price.
    levels: [BTreeMap<Price, u64>; 2],
}

#[derive(Clone, Copy, Debug)]
struct LiveOrder {
    order_id: OrderId,
    account: AccountId,
    side: Side,
    price: Price,
    qty: u64,
}

impl Mirror {
    fn len(&self) -> u64 {
        u64::try_from(self.live.len()).expect("fits u64")
    }

    fn best(&self, side: Side) -> Option<Price> {
        let levels = &self.levels[side as usize];
        match side {
            Side::Buy => levels.keys().next_back().copied(),
            Side::Sell => levels.keys().next().copied(),
        }
    }

    /// The opposite side's levels best first, as seen by a taker on `side`.
    fn levels_for_taker(&self, side: Side) -> Box<dyn Iterator<Item = (Price, u64)> + '_> {
        let levels = &self.levels[side.opposite() as usize];
        match side {
            Side::Buy => Box::new(levels.iter().map(|(&p, &q)| (p, q))),
            Side::Sell => Box::new(levels.iter().rev().map(|(&p, &q)| (p, q))),
        }
    }

    fn insert(&mut self, order: LiveOrder) {
        let previous = self.index.insert(order.order_id, self.live.len());
        assert!(previous.is_none(), "{:?} rested twice", order.order_id);
        self.live.push(order);
        *self.levels[order.side as usize]
            .entry(order.price)
            .or_insert(0) += order.qty;
    }

    /// Takes `qty` off a live order; removes it when nothing is left, and checks that
    /// what is left is what the book says.
    fn reduce(&mut self, order_id: OrderId, qty: u64, left: u64) {
        let at = self.index[&order_id];
        let order = &mut self.live[at];
        assert_eq!(
            order.qty - qty,
            left,
            "{order_id:?}: the book and the mirror disagree"
        );
        order.qty = left;
        let (side, price) = (order.side, order.price);
        let level = self.levels[side as usize]
            .get_mut(&price)
            .expect("level of a live order");
        *level -= qty;
        if *level == 0 {
            self.levels[side as usize].remove(&price);
        }
        if left == 0 {
            self.index.remove(&order_id);
            self.live.swap_remove(at);
            if let Some(moved) = self.live.get(at) {
                self.index.insert(moved.order_id, at);
            }
        }
    }

    fn apply(&mut self, event: &Event) {
        match *event {
            Event::Accepted { .. } => {}
            Event::Rested {
                order_id,
                account,
                side,
                price,
                qty,
            } => {
                self.insert(LiveOrder {
                    order_id,
                    account,
                    side,
                    price,
                    qty: qty.0,
                });
            }
            Event::Fill(fill) => {
                self.reduce(fill.maker_order_id, fill.qty.0, fill.maker_qty_remaining.0);
            }
            // The incoming order's own `Cancelled` (its unfilled rest) names an order that
            // never rested.
            Event::Cancelled { order_id, qty, .. } | Event::Expired { order_id, qty, .. } => {
                if self.index.contains_key(&order_id) {
                    self.reduce(order_id, qty.0, 0);
                }
            }
            Event::Amended { .. } => panic!("the workloads send no amends: {event:?}"),
            Event::Rejected { .. } => panic!("a generated command was rejected: {event:?}"),
        }
    }
}

/// The mixed workload's state while it generates.
struct MixedGenerator<B> {
    params: MarketParams,
    config: MixedConfig,
    book: B,
    mirror: Mirror,
    rng: Rng,
    /// The fair price in ticks: makers rest around it and takers lean towards it.
    fair: u64,
    /// The last order id used; ids are never reused.
    next_order_id: u64,
    events: Vec<Event>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Place,
    Cancel,
    Take,
}

impl<B: OrderBook> MixedGenerator<B> {
    fn new(seed: u64, config: MixedConfig) -> MixedGenerator<B> {
        let params = market_params();
        assert!(config.accounts >= 1);
        assert!(
            config.resting_target * 2 <= u64::from(params.orders_per_book_max),
            "the book limit leaves no room for the target size"
        );
        MixedGenerator {
            params,
            config,
            book: B::new(params),
            mirror: Mirror::default(),
            rng: Rng::new(seed),
            fair: PRICE_START,
            next_order_id: 0,
            events: Vec::new(),
        }
    }

    /// Builds the book up to the target size, then settles it with the steady mix.
    fn warm_up(&mut self) -> Vec<Command> {
        let mut commands = Vec::new();
        while self.mirror.len() < self.config.resting_target {
            let kind = match self.rng.below(100) {
                0..90 => Kind::Place,
                90..95 => Kind::Cancel,
                _ => Kind::Take,
            };
            commands.push(self.step(kind).0);
        }
        self.run(self.config.settle_commands, &mut commands);
        commands
    }

    /// Generates `n` commands of the steady mix into `out`, and counts them.
    fn run(&mut self, n: usize, out: &mut Vec<Command>) -> Mix {
        let resting = self.mirror.len();
        let mut mix = Mix {
            resting_start: resting,
            resting_min: resting,
            resting_max: resting,
            ..Mix::default()
        };
        for _ in 0..n {
            let kind = self.steady_kind();
            let (command, kind, levels, fills) = self.step(kind);
            out.push(command);
            match kind {
                Kind::Place => mix.places += 1,
                Kind::Cancel => mix.cancels += 1,
                Kind::Take => {
                    mix.takers += 1;
                    mix.fills += fills;
                    mix.taker_levels += levels;
                    mix.takers_multi_level += u64::from(levels >= 2);
                    mix.taker_levels_max = mix.taker_levels_max.max(levels);
                }
            }
            let resting = self.mirror.len();
            mix.resting_min = mix.resting_min.min(resting);
            mix.resting_max = mix.resting_max.max(resting);
        }
        mix.resting_end = self.mirror.len();
        mix
    }

    /// Takers 150‰; cancels 400‰ plus one point per 1% the book is over its target
    /// (minus when under), within 300..=500‰; the rest places.
    fn steady_kind(&mut self) -> Kind {
        let target = self.config.resting_target;
        let off_per_mille = i64::try_from(self.mirror.len() * 1000 / target).expect("small") - 1000;
        let cancel = (400 + off_per_mille).clamp(300, 500);
        let r = i64::try_from(self.rng.below(1000)).expect("small");
        if r < 150 {
            Kind::Take
        } else if r < 150 + cancel {
            Kind::Cancel
        } else {
            Kind::Place
        }
    }

    /// Makes one command of `kind` (a cancel on an empty book becomes a place), applies
    /// it, and returns it with its kind, the number of price levels it traded at and its
    /// fills.
    fn step(&mut self, kind: Kind) -> (Command, Kind, u64, u64) {
        match self.rng.below(16) {
            0 => self.fair -= 1,
            1 => self.fair += 1,
            _ => {}
        }
        let kind = if kind == Kind::Cancel && self.mirror.live.is_empty() {
            Kind::Place
        } else {
            kind
        };
        let command = match kind {
            Kind::Place => self.place(),
            Kind::Cancel => {
                let order = self.mirror.live[self.rng.index(self.mirror.live.len())];
                Command::Cancel {
                    account: order.account,
                    order: OrderRef::Id(order.order_id),
                }
            }
            Kind::Take => self.take(),
        };
        self.events.clear();
        if let Err(code) = self.book.execute(command, &mut self.events) {
            panic!("generated command {command:?} was rejected: {code:?}");
        }
        let mut fills = 0;
        let mut levels = 0;
        let mut last_price = None;
        for event in &self.events {
            self.mirror.apply(event);
            if let Event::Fill(fill) = event {
                fills += 1;
                if last_price != Some(fill.price) {
                    levels += 1;
                    last_price = Some(fill.price);
                }
            }
        }
        (command, kind, levels, fills)
    }

    fn new_order_id(&mut self) -> OrderId {
        self.next_order_id += 1;
        OrderId(self.next_order_id)
    }

    fn account(&mut self) -> AccountId {
        AccountId(self.rng.between(1, self.config.accounts))
    }

    /// A resting order around the fair price, clipped so it cannot trade.
    fn place(&mut self) -> Command {
        let side = self.rng.side();
        let distance = maker_distance(&mut self.rng);
        let price = match side {
            Side::Buy => {
                let price = self.fair.saturating_sub(distance);
                let below_ask = self.mirror.best(Side::Sell).map_or(u64::MAX, |a| a.0 - 1);
                price.min(below_ask)
            }
            Side::Sell => {
                let price = self.fair + distance;
                let above_bid = self.mirror.best(Side::Buy).map_or(0, |b| b.0 + 1);
                price.max(above_bid)
            }
        };
        assert!(
            price >= 1 && price <= self.params.price_ticks_max.0,
            "price {price} out of range"
        );
        let order_id = self.new_order_id();
        let account = self.account();
        let qty = maker_qty(&mut self.rng);
        Command::Place(gtc(order_id, account, side, Price(price), qty))
    }

    /// An immediate-or-cancel order priced through one or more opposite levels.
    fn take(&mut self) -> Command {
        // Lean towards the fair price: buy more often when the book's mid is below it.
        let side = match (self.mirror.best(Side::Buy), self.mirror.best(Side::Sell)) {
            (Some(bid), Some(ask)) => {
                let mid = i64::try_from((bid.0 + ask.0) / 2).expect("prices fit i64");
                let fair = i64::try_from(self.fair).expect("prices fit i64");
                let buy = (500 + 25 * (fair - mid)).clamp(100, 900);
                let r = i64::try_from(self.rng.below(1000)).expect("small");
                if r < buy { Side::Buy } else { Side::Sell }
            }
            _ => self.rng.side(),
        };
        let depth = match self.rng.below(100) {
            0..45 => 1,
            45..70 => 2,
            70..85 => 3,
            85..95 => 4,
            _ => 5,
        };
        let limit = self
            .mirror
            .levels_for_taker(side)
            .take(depth)
            .last()
            .map_or(Price(self.fair), |(price, _)| price);
        let qty = match self.rng.below(100) {
            0..90 => self.rng.between(1, 20),
            _ => self.rng.between(21, 200),
        };
        let order_id = self.new_order_id();
        let account = self.account();
        Command::Place(NewOrder {
            time_in_force: TimeInForce::ImmediateOrCancel,
            ..gtc(order_id, account, side, limit, Qty(qty))
        })
    }
}

#[cfg(test)]
mod tests {
    use matching::reference::ReferenceBook;
    use matching::{Book, CountingSink, book_digest};

    use super::*;

    const SMALL: MixedConfig = MixedConfig {
        accounts: 100,
        resting_target: 2_000,
        settle_commands: 20_000,
        timed_commands: 20_000,
    };

    /// Small enough for the reference book, whose every check is a linear scan.
    const TINY: MixedConfig = MixedConfig {
        accounts: 50,
        resting_target: 500,
        settle_commands: 5_000,
        timed_commands: 5_000,
    };

    #[test]
    fn rng_is_splitmix64() {
        // The first outputs for seed 0 of the published SplitMix64.
        let mut rng = Rng::new(0);
        assert_eq!(rng.next_u64(), 0xE220_A839_7B1D_CDAF);
        assert_eq!(rng.next_u64(), 0x6E78_9E6A_A1B9_65F4);
    }

    #[test]
    fn mixed_is_deterministic_per_seed_and_hits_its_mix() {
        for seed in [1, 2, 0xC10B] {
            let a = mixed::<Book>(seed, &SMALL);
            let b = mixed::<Book>(seed, &SMALL);
            assert_eq!(
                (&a.warmup, &a.timed, a.mix),
                (&b.warmup, &b.timed, b.mix),
                "seed {seed}"
            );
            let mix = a.mix;
            assert_eq!(mix.commands(), 20_000, "seed {seed}");
            let within =
                |count, per_mille, tolerance| mix.per_mille(count).abs_diff(per_mille) <= tolerance;
            assert!(within(mix.places, 470, 30), "seed {seed}: {mix:?}");
            assert!(within(mix.cancels, 380, 30), "seed {seed}: {mix:?}");
            assert!(within(mix.takers, 150, 15), "seed {seed}: {mix:?}");
            assert!(mix.fills > mix.takers, "seed {seed}: {mix:?}");
            assert!(mix.takers_multi_level > 0, "seed {seed}: {mix:?}");
            let target = SMALL.resting_target;
            assert!(mix.resting_min > target * 9 / 10, "seed {seed}: {mix:?}");
            assert!(mix.resting_max < target * 11 / 10, "seed {seed}: {mix:?}");
        }
        let one = mixed::<Book>(1, &SMALL);
        let two = mixed::<Book>(2, &SMALL);
        assert_ne!(one.timed, two.timed);
    }

    #[test]
    fn mixed_is_the_same_whichever_book_generates_it() {
        let fast = mixed::<Book>(7, &TINY);
        let naive = mixed::<ReferenceBook>(7, &TINY);
        assert_eq!(fast.warmup, naive.warmup);
        assert_eq!(fast.timed, naive.timed);
    }

    /// Runs every round of `w` on the reference book and checks the counts and that the
    /// contents come back.
    fn check_rounds(w: &RoundWorkload) {
        let mut book = ReferenceBook::new(w.params);
        let mut sink = CountingSink::default();
        for &command in &w.warmup {
            book.execute(command, &mut sink).expect("warm-up accepted");
        }
        let (bids, asks) = (book.orders(Side::Buy), book.orders(Side::Sell));
        let seq = book.trade_seq();
        for pass in 1..=2 {
            for i in 0..w.rounds() {
                let (timed, restore) = w.round(i);
                let mut timed_sink = CountingSink::default();
                for &command in timed {
                    book.execute(command, &mut timed_sink)
                        .expect("timed command accepted");
                }
                let mut restore_sink = CountingSink::default();
                for &command in restore {
                    book.execute(command, &mut restore_sink)
                        .expect("restore accepted");
                }
                let counts = RoundCounts {
                    timed_events: timed_sink.events,
                    fills: timed_sink.fills,
                    restore_events: restore_sink.events,
                };
                assert_eq!(counts, w.per_round, "{} round {i}", w.name);
            }
            let rounds = u64::try_from(w.rounds() * pass).expect("fits");
            let expected = book_digest(
                book.height(),
                seq + rounds * w.per_round.fills,
                bids.iter().copied(),
                asks.iter().copied(),
            );
            assert_eq!(book.digest(), expected, "{} after pass {pass}", w.name);
        }
    }

    #[test]
    fn round_workloads_restore_the_book() {
        check_rounds(&place_limit::<ReferenceBook>(3, &TINY));
        check_rounds(&cancel_at_level(3, 200, 10));
        check_rounds(&cancel_at_level(3, 200, 100));
        let two_levels = sweep(3, 400, 2);
        assert_eq!(two_levels.per_round.fills, 8 * 2 * 10);
        check_rounds(&two_levels);
    }
}
