//! `markets/execute_block`: signed orders per second through the whole block executor,
//! against the verification ceiling measured in the same run.
//!
//! Workload (seeded, built outside the timed loop): `ACCOUNTS` funded accounts; each
//! block holds `TXS_PER_BLOCK` signed transactions of one order each, round-robin over
//! the accounts (so signers interleave, as they would arriving from many bots):
//! 55% resting limit orders within 40 ticks of the mid, 30% cancels of the account's
//! orders placed during warm-up, 15% immediate-or-cancel takers crossing a few levels.
//! Orders spread evenly over the markets. Before timing, `WARMUP_BLOCKS` blocks fill
//! the books (~20 resting orders per account).
//!
//! Two more workloads, `batch=2` and `batch=8`, send the same orders as batches of 2 or
//! 8 per signed transaction (as market makers requote), on 8 markets.
//!
//! Benchmarks, for markets ∈ {1, 8, 64} and threads ∈ {1, 2}:
//! - `markets/execute_block/markets=M/threads=T`: the whole executor, signatures
//!   included;
//! - `markets/execute_block_preverified/markets=M/threads=T`: the same block with the
//!   signature verdicts given (matching, holds, settlement and roots alone);
//! - `markets/verify_ceiling/threads=T`: batch-verifying the same block's signatures
//!   alone, on the same threads: the best the executor could do. It is measured right
//!   before the executor on the same thread count (the batch workloads have their own,
//!   `verify_ceiling/batch=N/threads=T`).
//!
//! For the batch workloads, `markets/execute_block_paired/...` also times the ceiling and
//! the executor back to back on every iteration and prints the executor's share of the
//! ceiling pair by pair: the ratio least exposed to this machine's drift.
//!
//! Every measured block is checked: its hash is the same on every iteration and every
//! thread count, so a speed-up cannot silently change behaviour.

use std::hint::black_box;

use criterion::{BatchSize, BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use ed25519_dalek::SigningKey;
use markets::dev::Rng;
use markets::verify::{AccountKey, SignedItem, verify_parallel};
use markets::{
    Action, BlockContext, CancelOrder, Hash, MarketId, OrderAction, PlaceOrder, SignedTransaction,
    State, Transaction, Verified, execute_block, execute_verified,
};
use matching::{OrderId, OrderRef, SelfTradePrevention, Side, TimeInForce};

const ACCOUNTS: u64 = 1_024;
const TXS_PER_BLOCK: usize = 8_192;
const WARMUP_BLOCKS: u64 = 5;
const ORDERS_PER_ACCOUNT_WARMUP: u64 = 20;
const MID_TICKS: u64 = 100_000;
const SEED: u64 = 0xC10B_C4A1;

struct Fixture {
    state: State,
    block: Vec<SignedTransaction>,
    context: BlockContext,
}

fn place(market: MarketId, state: &State, side: Side, ticks: u64, tif: TimeInForce) -> OrderAction {
    let params = state.market(market).expect("market").config.params;
    OrderAction::Place(PlaceOrder {
        market,
        client_order_id: None,
        side,
        price: ticks * params.tick_size,
        qty: params.lot_size,
        time_in_force: tif,
        post_only: false,
        self_trade: SelfTradePrevention::CancelResting,
    })
}

fn sign(state: &State, key: &SigningKey, nonce: u64, action: OrderAction) -> SignedTransaction {
    let tx = Transaction {
        chain_id: state.chain_id(),
        signer: key.verifying_key().to_bytes(),
        nonce,
        expiry_height: None,
        action: Action::Order(action),
    };
    SignedTransaction::sign(tx, key)
}

fn fixture(markets: u32) -> Fixture {
    fixture_batched(markets, 1)
}

/// The workload with `per_tx` orders in each signed transaction (a batch when > 1).
fn fixture_batched(markets: u32, per_tx: usize) -> Fixture {
    let (genesis, keys) = markets::dev::genesis_markets(ACCOUNTS, markets);
    let mut state = State::from_genesis(&genesis).expect("genesis");
    let mut rng = Rng::new(SEED ^ u64::from(markets));
    let mut nonce = 1u64;
    let mut resting: Vec<Vec<(MarketId, OrderId)>> = vec![Vec::new(); keys.len()];
    let market_of = |i: u64| MarketId(u32::try_from(i % u64::from(markets)).expect("few markets"));

    // Warm-up: every account rests orders on both sides of the mid.
    let per_block = ACCOUNTS * ORDERS_PER_ACCOUNT_WARMUP / WARMUP_BLOCKS;
    for height in 1..=WARMUP_BLOCKS {
        let mut txs = Vec::new();
        for i in 0..per_block {
            let account = (i % ACCOUNTS) as usize;
            let market = market_of(rng.next_u64());
            let side = rng.side();
            let offset = rng.between(1, 40);
            let ticks = if side == Side::Buy {
                MID_TICKS - offset
            } else {
                MID_TICKS + offset
            };
            let tx = sign(
                &state,
                &keys[account],
                nonce,
                place(market, &state, side, ticks, TimeInForce::GoodTillCancel),
            );
            resting[account].push((market, tx.transaction.order_id(0)));
            nonce += 1;
            txs.push(tx);
        }
        let context = BlockContext {
            height,
            timestamp_ms: genesis.timestamp_ms + height * 100,
        };
        execute_block(&mut state, context, &txs).expect("warm-up block");
    }

    // The measured block: TXS_PER_BLOCK orders, `per_tx` to a transaction.
    let mut actions: Vec<(usize, OrderAction)> = Vec::with_capacity(TXS_PER_BLOCK);
    for i in 0..TXS_PER_BLOCK {
        let account = i % keys.len();
        let roll = rng.below(100);
        let action = if roll < 55 {
            let side = rng.side();
            let offset = rng.between(1, 40);
            let ticks = if side == Side::Buy {
                MID_TICKS - offset
            } else {
                MID_TICKS + offset
            };
            place(
                market_of(rng.next_u64()),
                &state,
                side,
                ticks,
                TimeInForce::GoodTillCancel,
            )
        } else if roll < 85 && !resting[account].is_empty() {
            let pick = rng.index(resting[account].len());
            let (market, order_id) = resting[account].swap_remove(pick);
            OrderAction::Cancel(CancelOrder {
                market,
                order: OrderRef::Id(order_id),
            })
        } else {
            let side = rng.side();
            let through = rng.between(1, 8);
            let ticks = if side == Side::Buy {
                MID_TICKS + through
            } else {
                MID_TICKS - through
            };
            place(
                market_of(rng.next_u64()),
                &state,
                side,
                ticks,
                TimeInForce::ImmediateOrCancel,
            )
        };
        actions.push((account, action));
    }
    let mut block = Vec::with_capacity(TXS_PER_BLOCK / per_tx);
    if per_tx == 1 {
        for (account, action) in actions {
            block.push(sign(&state, &keys[account], nonce, action));
            nonce += 1;
        }
    } else {
        // Group each account's actions into batches of `per_tx`.
        let mut by_account: Vec<Vec<OrderAction>> = vec![Vec::new(); keys.len()];
        for (account, action) in actions {
            by_account[account].push(action);
        }
        for (account, actions) in by_account.into_iter().enumerate() {
            for chunk in actions.chunks(per_tx) {
                let tx = Transaction {
                    chain_id: state.chain_id(),
                    signer: keys[account].verifying_key().to_bytes(),
                    nonce,
                    expiry_height: None,
                    action: Action::Batch(chunk.to_vec()),
                };
                block.push(SignedTransaction::sign(tx, &keys[account]));
                nonce += 1;
            }
        }
    }
    let context = BlockContext {
        height: WARMUP_BLOCKS + 1,
        timestamp_ms: genesis.timestamp_ms + (WARMUP_BLOCKS + 1) * 100,
    };
    Fixture {
        state,
        block,
        context,
    }
}

fn pool(threads: usize) -> rayon::ThreadPool {
    rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .expect("rayon pool")
}

/// Executes the measured block once and returns its hash, checking every transaction
/// was executed (none refused as a whole).
fn reference_hash(fixture: &Fixture) -> Hash {
    let mut state = fixture.state.clone();
    let output = execute_block(&mut state, fixture.context, &fixture.block).expect("block");
    let refused = output
        .receipts
        .iter()
        .filter(|r| matches!(r.outcome, markets::Outcome::Rejected(_)))
        .count();
    assert_eq!(
        refused, 0,
        "the benchmark block must be all valid transactions"
    );
    output.hash
}

/// Times executing the fixture's block on a clone of its state (the clone untimed),
/// checking the block hash every time.
fn time_block(
    b: &mut criterion::Bencher<'_>,
    pool: &rayon::ThreadPool,
    fixture: &Fixture,
    preverified: Option<&[Verified]>,
    expected: Hash,
) {
    b.iter_batched(
        || (fixture.state.clone(), preverified.map(<[Verified]>::to_vec)),
        |(mut state, verified)| {
            let output = pool.install(|| match verified {
                Some(verified) => execute_verified(&mut state, fixture.context, verified),
                None => execute_block(&mut state, fixture.context, &fixture.block),
            });
            assert_eq!(output.expect("block").hash, expected);
            state
        },
        BatchSize::LargeInput,
    )
}

/// Orders in a block (the throughput unit: signed orders, not transactions).
fn orders_in(block: &[SignedTransaction]) -> u64 {
    block
        .iter()
        .map(|tx| tx.transaction.order_actions().len() as u64)
        .sum()
}

/// The benchmark group, its throughput counted in the block's signed orders.
fn group<'c>(
    c: &'c mut Criterion,
    fixture: &Fixture,
) -> criterion::BenchmarkGroup<'c, criterion::measurement::WallTime> {
    let mut group = c.benchmark_group("markets");
    group.throughput(Throughput::Elements(orders_in(&fixture.block)));
    group.sample_size(10);
    group
}

/// `execute_block` (signatures checked) and `execute_block_preverified` (verdicts
/// given) of `fixture` on `pool`.
fn bench_executor(
    c: &mut Criterion,
    pool: &rayon::ThreadPool,
    fixture: &Fixture,
    expected: Hash,
    id: &str,
) {
    let verified = markets::verify_block(&fixture.state, &fixture.block);
    let mut group = group(c, fixture);
    group.bench_function(BenchmarkId::new("execute_block", id), |b| {
        time_block(b, pool, fixture, None, expected)
    });
    group.bench_function(BenchmarkId::new("execute_block_preverified", id), |b| {
        time_block(b, pool, fixture, Some(&verified), expected)
    });
    group.finish();
}

fn bench(c: &mut Criterion) {
    for markets in [1u32, 8, 64] {
        let fixture = fixture(markets);
        let expected = reference_hash(&fixture);
        for threads in [1usize, 2] {
            let pool = pool(threads);
            if markets == 1 {
                bench_ceiling(c, &fixture, "", threads);
            }
            let id = format!("markets={markets}/threads={threads}");
            bench_executor(c, &pool, &fixture, expected, &id);
        }
    }
}

/// The block's signatures as the verifier takes them, built outside any timing.
struct SignatureInputs {
    keys: Vec<AccountKey>,
    messages: Vec<Vec<u8>>,
}

impl SignatureInputs {
    fn new(fixture: &Fixture) -> SignatureInputs {
        SignatureInputs {
            keys: fixture
                .block
                .iter()
                .map(|tx| AccountKey::from_bytes(&tx.transaction.signer).expect("valid key"))
                .collect(),
            messages: fixture
                .block
                .iter()
                .map(|tx| tx.transaction.signing_message())
                .collect(),
        }
    }

    fn items<'a>(&'a self, fixture: &'a Fixture) -> Vec<SignedItem<'a>> {
        fixture
            .block
            .iter()
            .zip(&self.keys)
            .zip(&self.messages)
            .map(|((tx, key), message)| SignedItem {
                key,
                message,
                signature: &tx.signature,
            })
            .collect()
    }
}

/// Batch-verifies `items` on `pool`, as the executor does, checking every verdict.
fn verify_all(pool: &rayon::ThreadPool, items: &[SignedItem<'_>]) {
    let verdicts =
        pool.install(|| verify_parallel(black_box(items), markets::execute::SIGNATURE_CHUNK));
    assert!(verdicts.iter().all(|&ok| ok));
}

/// Batch-verifying the measured block's signatures alone on `threads` threads: the
/// ceiling for the executor on the same threads (messages are built outside the timed
/// loop, so this is the pure signature cost). Throughput is counted in the block's
/// orders so it compares directly with `execute_block` on the same block. Each ceiling
/// is measured right before the executor on the same threads, so that their ratio is as
/// little exposed as possible to this noisy machine's drift between benchmarks.
fn bench_ceiling(c: &mut Criterion, fixture: &Fixture, prefix: &str, threads: usize) {
    let inputs = SignatureInputs::new(fixture);
    let items = inputs.items(fixture);
    let pool = pool(threads);
    let mut group = group(c, fixture);
    group.bench_function(
        BenchmarkId::new("verify_ceiling", format!("{prefix}threads={threads}")),
        |b| b.iter(|| verify_all(&pool, &items)),
    );
    group.finish();
}

/// `execute_block_paired`: every iteration verifies the block's signatures alone (the
/// ceiling) and then executes the block, back to back on the same threads. Criterion
/// times the executor; the bench prints the executor's share of the ceiling, pair by
/// pair (median and 10th–90th percentile). Pairs a few milliseconds apart share the
/// machine's state, so the share does not swing with the drift between benchmarks
/// seconds apart that this noisy 2-core VM shows.
fn bench_paired(c: &mut Criterion, fixture: &Fixture, expected: Hash, id: &str, threads: usize) {
    let inputs = SignatureInputs::new(fixture);
    let items = inputs.items(fixture);
    let pool = pool(threads);
    let shares = std::cell::RefCell::new(Vec::new());
    let mut group = group(c, fixture);
    group.bench_function(BenchmarkId::new("execute_block_paired", id), |b| {
        b.iter_custom(|iters| {
            let mut executing = std::time::Duration::ZERO;
            for _ in 0..iters {
                let mut state = fixture.state.clone();
                let start = std::time::Instant::now();
                verify_all(&pool, &items);
                let ceiling = start.elapsed();
                let start = std::time::Instant::now();
                let output =
                    pool.install(|| execute_block(&mut state, fixture.context, &fixture.block));
                let execution = start.elapsed();
                assert_eq!(output.expect("block").hash, expected);
                executing += execution;
                shares
                    .borrow_mut()
                    .push(ceiling.as_secs_f64() / execution.as_secs_f64());
            }
            executing
        })
    });
    group.finish();
    let mut shares = shares.into_inner();
    if shares.is_empty() {
        return; // filtered out
    }
    shares.sort_by(f64::total_cmp);
    // The share at `percent` (nearest rank).
    let at = |percent: usize| 100.0 * shares[(shares.len() - 1) * percent / 100];
    println!(
        "markets/execute_block_paired/{id}: executor at {:.1}% of the ceiling \
         (median of {} back-to-back pairs; 10th-90th percentile {:.1}-{:.1}%)",
        at(50),
        shares.len(),
        at(10),
        at(90),
    );
}

/// The same orders in batches of 2 and of 8 per signature, 8 markets, each with its
/// own ceiling.
fn bench_batched(c: &mut Criterion) {
    for per_tx in [2usize, 8] {
        bench_batched_with(c, per_tx);
    }
}

fn bench_batched_with(c: &mut Criterion, per_tx: usize) {
    let fixture = fixture_batched(8, per_tx);
    let expected = reference_hash(&fixture);
    for threads in [1usize, 2] {
        bench_ceiling(c, &fixture, &format!("batch={per_tx}/"), threads);
        let pool = pool(threads);
        let id = format!("markets=8/batch={per_tx}/threads={threads}");
        bench_executor(c, &pool, &fixture, expected, &id);
        bench_paired(c, &fixture, expected, &id, threads);
    }
}

criterion_group!(benches, bench, bench_batched);
criterion_main!(benches);
