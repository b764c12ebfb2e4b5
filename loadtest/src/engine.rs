//! `--in-process`: the block executor alone, no network, no storage.
//!
//! ```text
//! workload ─► blocks of signed transactions (all signed before timing)
//!   for each measured block, on one rayon pool of --threads threads:
//!     time execute_block(state, block)       ─► orders/s
//!     time verify_parallel(the same signatures, SIGNATURE_CHUNK) ─► the ceiling
//! ```
//!
//! The ceiling is measured in the same run, block by block, on the same threads, so the
//! ratio between the two holds on a noisy machine where the absolute numbers do not.
//! Messages and keys for the ceiling are prepared outside its timing, as in
//! `benches/execute_block.rs`: it is the pure signature cost, the most the executor
//! could reach if everything else were free.

use std::collections::{BTreeMap, HashMap};
use std::time::Instant;

use ed25519_dalek::SigningKey;
use markets::verify::{AccountKey, SignedItem, verify_parallel};
use markets::{ActionOutcome, BlockContext, Outcome, SignedTransaction, State, execute_block};
use rayon::prelude::*;

use super::report::{BlockPoint, EngineReport, LobsterReport};
use super::stats::Percentiles;
use super::workload::{Lobster, MarketSpec, Mix, MixConfig, Planned, reproduced_rows};
use super::{LoadtestArgs, LobsterPacing, WorkloadKind};

fn specs(state: &State) -> Vec<MarketSpec> {
    state
        .markets()
        .iter()
        .enumerate()
        .map(|(i, m)| MarketSpec {
            id: u32::try_from(i).expect("markets are few"),
            tick_size: m.config.params.tick_size,
            lot_size: m.config.params.lot_size,
            price_ticks_max: m.config.params.price_ticks_max.0,
        })
        .collect()
}

/// Blocks to run: `(warm-up blocks, measured blocks)`, each a list of planned
/// transactions.
struct Plan {
    state: State,
    genesis_timestamp_ms: u64,
    keys: Vec<SigningKey>,
    warmup: Vec<Vec<Planned>>,
    measured: Vec<Vec<Planned>>,
    lobster: Option<Lobster>,
}

fn plan_mix(args: &LoadtestArgs, actions_per_tx: usize) -> anyhow::Result<Plan> {
    let (genesis, keys) = markets::dev::genesis_markets(args.traders, args.markets);
    let state = State::from_genesis(&genesis)?;
    let signers: Vec<[u8; 32]> = keys.iter().map(|k| k.verifying_key().to_bytes()).collect();
    let mut mix = Mix::new(
        args.seed,
        MixConfig {
            chain_id: state.chain_id(),
            nonce_start: vec![1; signers.len()],
            signers,
            markets: specs(&state),
            hot_per_mille: args.hot_skew_per_mille(),
            actions_per_tx,
        },
    );
    let txs_per_block = (args.block_orders / actions_per_tx).max(1);
    let traders = mix.traders();
    let mut next = 0usize;
    let mut block = |mix: &mut Mix| -> Vec<Planned> {
        (0..txs_per_block)
            .map(|_| {
                // Round robin, so signers interleave as they would from many bots.
                let trader = next % traders;
                next += 1;
                mix.next_tx(trader)
            })
            .collect()
    };
    let warmup = (0..args.warmup_blocks).map(|_| block(&mut mix)).collect();
    let measured = (0..args.blocks).map(|_| block(&mut mix)).collect();
    Ok(Plan {
        state,
        genesis_timestamp_ms: genesis.timestamp_ms,
        keys,
        warmup,
        measured,
        lobster: None,
    })
}

fn plan_lobster(args: &LoadtestArgs) -> anyhow::Result<Plan> {
    let (genesis, keys) = markets::dev::genesis(args.traders);
    let state = State::from_genesis(&genesis)?;
    let signers: Vec<[u8; 32]> = keys.iter().map(|k| k.verifying_key().to_bytes()).collect();
    let lobster = Lobster::build(
        state.chain_id(),
        &signers,
        &vec![1; signers.len()],
        &specs(&state)[..2],
    )?;
    let measured = match args.lobster_pacing {
        LobsterPacing::Sequential => lobster
            .segment_ranges(args.block_orders)
            .into_iter()
            .map(|range| lobster.stream[range].to_vec())
            .collect(),
        LobsterPacing::Free => lobster
            .stream
            .chunks(args.block_orders.max(1))
            .map(<[Planned]>::to_vec)
            .collect(),
    };
    Ok(Plan {
        state,
        genesis_timestamp_ms: genesis.timestamp_ms,
        keys,
        warmup: Vec::new(),
        measured,
        lobster: Some(lobster),
    })
}

fn sign_all(
    pool: &rayon::ThreadPool,
    keys: &[SigningKey],
    blocks: &[Vec<Planned>],
) -> Vec<Vec<SignedTransaction>> {
    pool.install(|| {
        blocks
            .iter()
            .map(|block| {
                block
                    .par_iter()
                    .map(|p| SignedTransaction::sign(p.tx.clone(), &keys[p.trader]))
                    .collect()
            })
            .collect()
    })
}

/// Runs the in-process measurement: for the mix, once per `--actions-per-tx` value
/// (1 and 8 unless one is given); for LOBSTER, once with single orders.
pub fn run(
    args: &LoadtestArgs,
    notes: &mut Vec<String>,
) -> anyhow::Result<(Vec<EngineReport>, Option<LobsterReport>)> {
    let threads = args.threads.unwrap_or_else(|| {
        std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get)
    });
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .thread_name(|i| format!("lt-engine-{i}"))
        .build()?;
    let configs: Vec<usize> = match (args.workload, args.actions_per_tx) {
        (WorkloadKind::Lobster, _) => vec![1],
        (WorkloadKind::Mix, Some(a)) => vec![a],
        (WorkloadKind::Mix, None) => vec![1, 8],
    };
    let mut reports = Vec::new();
    let mut lobster_report = None;
    for actions_per_tx in configs {
        let plan = match args.workload {
            WorkloadKind::Mix => plan_mix(args, actions_per_tx)?,
            WorkloadKind::Lobster => plan_lobster(args)?,
        };
        let (report, lobster) = run_plan(plan, &pool, threads, actions_per_tx, args)?;
        reports.push(report);
        if lobster.is_some() {
            lobster_report = lobster;
        }
    }
    notes.push(format!(
        "in process: {threads} threads; each block is executed with execute_block (every signature checked), then the \
         same signatures are batch-verified alone (chunks of {}) on the same pool: the ceiling. \
         All transactions were signed before timing.",
        markets::execute::SIGNATURE_CHUNK
    ));
    Ok((reports, lobster_report))
}

fn run_plan(
    plan: Plan,
    pool: &rayon::ThreadPool,
    threads: usize,
    actions_per_tx: usize,
    args: &LoadtestArgs,
) -> anyhow::Result<(EngineReport, Option<LobsterReport>)> {
    let Plan {
        mut state,
        genesis_timestamp_ms,
        keys,
        warmup,
        measured,
        lobster,
    } = plan;
    let progress = super::progress_bar(args, measured.len() as u64 + warmup.len() as u64, "blocks");
    progress.set_message(format!("signing ({actions_per_tx} order(s)/tx)"));
    let warmup_signed = sign_all(pool, &keys, &warmup);
    let measured_signed = sign_all(pool, &keys, &measured);
    let account_keys: Vec<AccountKey> = keys.iter().map(AccountKey::from_signing_key).collect();
    let by_signer: HashMap<[u8; 32], usize> = keys
        .iter()
        .enumerate()
        .map(|(i, k)| (k.verifying_key().to_bytes(), i))
        .collect();
    let next_block = |state: &mut State, txs: &[SignedTransaction]| {
        let height = state.height() + 1;
        let context = BlockContext {
            height,
            timestamp_ms: genesis_timestamp_ms + height * 100,
        };
        let started = Instant::now();
        let output = pool.install(|| execute_block(state, context, txs));
        (output, started.elapsed())
    };
    progress.set_message(format!("warm-up ({actions_per_tx} order(s)/tx)"));
    for block in &warmup_signed {
        next_block(&mut state, block).0?;
        progress.inc(1);
    }
    progress.set_message(format!("measuring ({actions_per_tx} order(s)/tx)"));
    let mut report = EngineReport {
        actions_per_tx: actions_per_tx as u64,
        threads: threads as u64,
        ..EngineReport::default()
    };
    let mut block_ms = Vec::new();
    let mut rejected: BTreeMap<String, u64> = BTreeMap::new();
    let mut chain_fills: HashMap<(u32, u64), Vec<u64>> = HashMap::new();
    let mut execute_secs = 0.0;
    let mut ceiling_secs = 0.0;
    for (b, block) in measured_signed.iter().enumerate() {
        let orders: u64 = block
            .iter()
            .map(|tx| tx.transaction.order_actions().len() as u64)
            .sum();
        let (output, took) = next_block(&mut state, block);
        let output = output?;
        let ceiling = time_ceiling(pool, block, &account_keys, &by_signer)?;

        report.blocks += 1;
        report.txs += block.len() as u64;
        report.orders += orders;
        execute_secs += took.as_secs_f64();
        ceiling_secs += ceiling.as_secs_f64();
        block_ms.push(took.as_secs_f64() * 1000.0);
        report.per_block.push(BlockPoint {
            block: b as u64,
            orders_per_sec: orders as f64 / took.as_secs_f64().max(1e-9),
            ceiling_orders_per_sec: orders as f64 / ceiling.as_secs_f64().max(1e-9),
        });
        count_rejects(&output, &mut rejected);
        report.fills += count_fills(&output, lobster.as_ref(), &mut chain_fills);
        progress.inc(1);
    }
    progress.finish_and_clear();
    report.execute_secs = execute_secs;
    report.ceiling_secs = ceiling_secs;
    report.orders_per_sec = report.orders as f64 / execute_secs.max(1e-9);
    report.txs_per_sec = report.txs as f64 / execute_secs.max(1e-9);
    report.fills_per_sec = report.fills as f64 / execute_secs.max(1e-9);
    report.ceiling_orders_per_sec = report.orders as f64 / ceiling_secs.max(1e-9);
    report.ratio = report.orders_per_sec / report.ceiling_orders_per_sec.max(1e-9);
    report.block_ms = Percentiles::of_values(&block_ms);
    report.rejected_by_reason = rejected;
    let lobster_report = lobster.map(|l| {
        let commands = l.stream.len() as u64;
        lobster_report(&l, &chain_fills, commands, commands)
    });
    Ok((report, lobster_report))
}

/// Times the block's signatures batch-verified alone on `pool` (messages built outside
/// the timing): the ceiling the executor is compared with.
fn time_ceiling(
    pool: &rayon::ThreadPool,
    block: &[SignedTransaction],
    account_keys: &[AccountKey],
    by_signer: &HashMap<[u8; 32], usize>,
) -> anyhow::Result<std::time::Duration> {
    let messages: Vec<Vec<u8>> = block
        .iter()
        .map(|tx| tx.transaction.signing_message())
        .collect();
    let items: Vec<SignedItem<'_>> = block
        .iter()
        .zip(&messages)
        .map(|(tx, message)| SignedItem {
            key: &account_keys[by_signer[&tx.transaction.signer]],
            message,
            signature: &tx.signature,
        })
        .collect();
    let started = Instant::now();
    let verdicts = pool.install(|| verify_parallel(&items, markets::execute::SIGNATURE_CHUNK));
    let ceiling = started.elapsed();
    anyhow::ensure!(
        verdicts.iter().all(|&ok| ok),
        "a pre-signed signature did not verify"
    );
    Ok(ceiling)
}

/// Adds the block's refusals (whole transactions and single actions) by reason.
fn count_rejects(output: &markets::ExecutedBlock, rejected: &mut BTreeMap<String, u64>) {
    for receipt in &output.receipts {
        match &receipt.outcome {
            Outcome::Rejected(reject) => {
                *rejected.entry(reject.name().to_string()).or_default() += 1;
            }
            Outcome::Executed(actions) => {
                for action in actions {
                    if let ActionOutcome::Rejected(reject) = action {
                        *rejected.entry(reject.name().to_string()).or_default() += 1;
                    }
                }
            }
        }
    }
}

/// The block's fills; with a LOBSTER replay, each fill of a replayed maker's order is
/// also recorded by `(market, Nasdaq order id)`.
fn count_fills(
    output: &markets::ExecutedBlock,
    lobster: Option<&Lobster>,
    chain_fills: &mut HashMap<(u32, u64), Vec<u64>>,
) -> u64 {
    let mut fills = 0;
    for (m, events) in output.market_events.iter().enumerate() {
        for tagged in events {
            if let matching::Event::Fill(fill) = tagged.event {
                fills += 1;
                if let Some(l) = lobster
                    && let Some(&(market, id)) = l.makers.get(&fill.maker_order_id.0)
                {
                    // One share is one lot: the fill's quantity in lots is in shares.
                    debug_assert_eq!(market as usize, m);
                    chain_fills
                        .entry((market, id))
                        .or_default()
                        .push(fill.qty.0);
                }
            }
        }
    }
    fills
}

/// The LOBSTER check: Nasdaq's executions reproduced by the chain's fills and by the
/// bare book's.
pub fn lobster_report(
    l: &Lobster,
    chain_fills: &HashMap<(u32, u64), Vec<u64>>,
    commands: u64,
    commands_sent: u64,
) -> LobsterReport {
    let nasdaq: u64 = l.nasdaq.values().map(|v| v.len() as u64).sum();
    let placed: std::collections::HashSet<(u32, u64)> = l.makers.values().copied().collect();
    let known: u64 = l
        .nasdaq
        .iter()
        .filter(|(k, _)| placed.contains(k))
        .map(|(_, v)| v.len() as u64)
        .sum();
    let by_chain = reproduced_rows(&l.nasdaq, chain_fills);
    let by_book = reproduced_rows(&l.nasdaq, &l.bare_book_fills);
    let mut sent_fills: HashMap<(u32, u64), Vec<u64>> = HashMap::new();
    for &(position, key, shares) in &l.bare_book_fills_at {
        if (position as u64) < commands_sent {
            sent_fills.entry(key).or_default().push(shares);
        }
    }
    let by_book_on_sent = reproduced_rows(&l.nasdaq, &sent_fills);
    let share = |x: u64| x as f64 / (nasdaq.max(1)) as f64;
    let share_known = |x: u64| x as f64 / (known.max(1)) as f64;
    LobsterReport {
        markets: l.symbols.clone(),
        commands,
        commands_sent,
        nasdaq_executions: nasdaq,
        nasdaq_executions_known_maker: known,
        reproduced_by_chain: by_chain,
        reproduced_by_bare_book: by_book,
        share_by_chain: share(by_chain),
        share_by_bare_book: share(by_book),
        share_of_known_by_chain: share_known(by_chain),
        share_of_known_by_bare_book: share_known(by_book),
        reproduced_by_bare_book_on_sent: by_book_on_sent,
        replay_summaries: l.replay_summaries.clone(),
    }
}
