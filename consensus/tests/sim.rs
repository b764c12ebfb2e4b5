//! Four validators on commonware's deterministic runtime and simulated network, running
//! the real executor (`MemChain`): a seeded workload of signed orders, lossy links with
//! random delays, one crash and restart, one partition that heals. Every honest validator
//! must finalize the same blocks and state roots, include each transaction at most once,
//! and the same seed must replay the same run.

use std::collections::HashSet;
use std::time::Duration;

use commonware_cryptography::certificate::mocks::Fixture;
use commonware_cryptography::ed25519::PublicKey;
use commonware_p2p::simulated::{self, Link, Network, Oracle};
use commonware_runtime::{
    Clock, Handle, Quota, Runner as _, Spawner as _, Supervisor as _, deterministic,
};
use commonware_utils::{NZU32, NZUsize, probability};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use commonware_consensus::simplex::elector::RoundRobin;
use commonware_consensus::simplex::mocks::{conflicter, equivocator, relay::Relay};
use commonware_consensus::types::Epoch;
use commonware_cryptography::Sha256;
use consensus::engine::{self, Channels};
use consensus::memory::Status;
use consensus::{
    BLOCK_BYTES_MAX, Chain, ChainBlock, Disk, Durable, FaultKind, Faults, MemChain, Scheme,
};
use markets::sim::{Sim, SimConfig};
use markets::{Action, AssetId, Finality, Hash, SignedTransaction, Transaction, Transfer};
use node::fork::Invalid;

const N: u32 = 4;
const NAMESPACE: &[u8] = b"clobchain-sim";
const QUOTA: Quota = Quota::per_second(NZU32!(100_000));

type Ctx = deterministic::Context;
type O = Oracle<PublicKey, Ctx>;
type Tx = simulated::Sender<PublicKey, Ctx>;
type Rx = simulated::Receiver<PublicKey>;

async fn network(ctx: &Ctx, participants: &[PublicKey]) -> O {
    let (net, oracle) = Network::new_with_peers(
        ctx.child("network"),
        simulated::Config {
            max_size: engine::max_message_size(N, BLOCK_BYTES_MAX),
            max_peers_per_set: NZUsize!(participants.len()),
            disconnect_on_block: true,
            tracked_peer_sets: NZUsize!(1),
        },
        participants.to_vec(),
    )
    .await;
    net.start();
    oracle
}

async fn link(oracle: &O, p: &[PublicKey], link: &Link, keep: impl Fn(usize, usize) -> bool) {
    for (i, a) in p.iter().enumerate() {
        for (j, b) in p.iter().enumerate() {
            if i != j && keep(i, j) {
                oracle
                    .add_link(a.clone(), b.clone(), link.clone())
                    .await
                    .unwrap();
            }
        }
    }
}

async fn unlink(oracle: &O, p: &[PublicKey], cut: impl Fn(usize, usize) -> bool) {
    for (i, a) in p.iter().enumerate() {
        for (j, b) in p.iter().enumerate() {
            if i != j && cut(i, j) {
                let _ = oracle.remove_link(a.clone(), b.clone()).await;
            }
        }
    }
}

/// Registers the engine's channels (re-registering after a crash replaces the old ones).
async fn channels(oracle: &O, pk: &PublicKey) -> Channels<Tx, Rx> {
    let control = oracle.control(pk.clone());
    let mut ch = Vec::new();
    for id in [
        engine::CH_VOTES,
        engine::CH_CERTIFICATES,
        engine::CH_RESOLVER,
        engine::CH_BACKFILL,
        engine::CH_BLOCKS,
    ] {
        ch.push(control.register(id, QUOTA).await.unwrap());
    }
    let mut ch = ch.into_iter();
    let mut next = || ch.next().unwrap();
    Channels {
        votes: next(),
        certificates: next(),
        resolver: next(),
        backfill: next(),
        blocks: next(),
    }
}

async fn validator<C: Chain>(
    ctx: Ctx,
    oracle: &O,
    f: &Fixture<Scheme>,
    i: usize,
    chain: C,
) -> (Handle<()>, Faults) {
    let pk = f.participants[i].clone();
    let channels = channels(oracle, &pk).await;
    let cfg = engine::Config::test(
        f.schemes[i].clone(),
        pk.clone(),
        oracle.control(pk.clone()),
        oracle.manager(),
        format!("v{i}"),
    );
    let faults = cfg.faults.clone();
    (engine::start(ctx, cfg, chain, channels), faults)
}

async fn wait_height(ctx: &Ctx, chains: &[MemChain], height: u64) {
    while !chains.iter().all(|c| c.height() >= height) {
        ctx.sleep(Duration::from_millis(50)).await;
    }
}

fn max_height(chains: &[MemChain]) -> u64 {
    chains.iter().map(MemChain::height).max().unwrap()
}

/// Same blocks and state roots at every height all of them have; each transaction at
/// most once on the chain. Returns the final digests.
fn assert_agreement(disks: &[Disk], chains: &[MemChain]) -> Vec<Hash> {
    let upto = usize::try_from(chains.iter().map(MemChain::height).min().unwrap()).unwrap();
    let reference: Vec<Hash> = disks[0].blocks()[..upto].iter().map(|b| b.hash()).collect();
    let roots = chains[0].roots()[..upto].to_vec();
    for (disk, chain) in disks.iter().zip(chains).skip(1) {
        let hashes: Vec<Hash> = disk.blocks()[..upto].iter().map(|b| b.hash()).collect();
        assert_eq!(hashes, reference);
        assert_eq!(chain.roots()[..upto], roots[..]);
    }
    for chain in chains {
        chain.check_invariants();
    }
    let mut seen = HashSet::new();
    let mut count = 0;
    for block in disks[0].blocks() {
        for tx in &block.block().transactions {
            assert!(seen.insert(tx.hash()), "a transaction included twice");
            count += 1;
        }
    }
    assert!(
        count > 100,
        "the workload reached the chain ({count} transactions)"
    );
    eprintln!(
        "agreed on {upto} blocks holding {count} transactions; heights {:?}",
        chains.iter().map(MemChain::height).collect::<Vec<_>>()
    );
    reference
}

/// The seeded workload, and each validator's disk and chain on its genesis.
fn chains(seed: u64) -> (Sim, Vec<Disk>, Vec<MemChain>) {
    let sim = Sim::new(
        seed,
        SimConfig {
            accounts: 50,
            transactions_per_block: 40,
            ..SimConfig::default()
        },
    );
    let disks: Vec<Disk> = (0..N).map(|_| Disk::default()).collect();
    let chains = disks
        .iter()
        .map(|d| MemChain::open(sim.genesis(), d.clone()))
        .collect();
    (sim, disks, chains)
}

fn run(seed: u64) -> (String, Vec<Hash>) {
    let cfg = deterministic::Config::new()
        .with_seed(seed)
        .with_timeout(Some(Duration::from_secs(900)));
    deterministic::Runner::new(cfg).start(|mut ctx| async move {
        let f: Fixture<Scheme> =
            commonware_consensus::simplex::scheme::ed25519::fixture(&mut ctx, NAMESPACE, N);
        let oracle = network(&ctx, &f.participants).await;
        let lossy = Link {
            latency: Duration::from_millis(20),
            jitter: Duration::from_millis(10),
            success_rate: probability!(9, 10),
        };
        link(&oracle, &f.participants, &lossy, |_, _| true).await;

        let (mut sim, disks, mut chains) = chains(seed);
        let genesis = sim.genesis().clone();
        let mut handles = Vec::new();
        for (i, chain) in chains.iter().enumerate() {
            let c = ctx.child("validator").with_attribute("index", i);
            handles.push(validator(c, &oracle, &f, i, chain.clone()).await.0);
        }

        // The workload: every 100 ms a batch of signed transactions, each sent to two
        // validators (as a client that retries elsewhere would).
        let targets = chains.clone();
        let load = ctx.child("load").spawn(move |ctx| async move {
            for round in 0usize.. {
                let txs = sim.next_block();
                for k in 0..2 {
                    let _ = targets[(round + k) % targets.len()].submit(txs.clone());
                }
                ctx.sleep(Duration::from_millis(100)).await;
            }
        });

        wait_height(&ctx, &chains, 10).await;

        // Crash validator 1: its whole task tree dies; its disk keeps the final blocks.
        handles[1].abort();
        // Three of four are a quorum (2f + 1 with f = 1): they go on without it, slowly
        // over lossy links (one lost vote stalls a view until its timeout).
        ctx.sleep(Duration::from_secs(10)).await;
        chains[1] = MemChain::open(&genesis, disks[1].clone());
        let c = ctx
            .child("validator")
            .with_attribute("index", 1)
            .with_attribute("restart", 1);
        handles[1] = validator(c, &oracle, &f, 1, chains[1].clone()).await.0;
        // It catches up (backfill) and the network goes on.
        let tip = max_height(&chains);
        assert!(
            chains[1].height() < tip,
            "validator 1 missed blocks while down"
        );
        wait_height(&ctx, &chains, tip + 5).await;

        // Partition {0,1} | {2,3}: no side has a quorum (3 of 4), so nothing finalizes.
        let cut = |i: usize, j: usize| (i < 2) != (j < 2);
        unlink(&oracle, &f.participants, cut).await;
        ctx.sleep(Duration::from_secs(2)).await;
        let stuck = max_height(&chains);
        ctx.sleep(Duration::from_secs(20)).await;
        assert_eq!(max_height(&chains), stuck, "no quorum, no progress");
        // Heal: liveness resumes.
        link(&oracle, &f.participants, &lossy, cut).await;
        wait_height(&ctx, &chains, stuck + 5).await;

        load.abort();
        let digests = assert_agreement(&disks, &chains);
        (ctx.auditor().state(), digests)
    })
}

#[test]
fn four_validators_agree_through_drops_a_crash_and_a_partition() {
    let first = run(7);
    assert_eq!(first, run(7), "the same seed replays the same run");
}

/// Validator 0's chain when it lies: it executes honestly, then flips one bit of its
/// proposal's state root (the digest follows, since it is the header hash).
#[derive(Clone, Debug)]
struct WrongRoot {
    honest: MemChain,
    proposed: Arc<AtomicU64>,
}

impl Chain for WrongRoot {
    fn genesis(&self) -> ChainBlock {
        self.honest.genesis()
    }
    fn knows(&self, block: &Hash) -> bool {
        self.honest.knows(block)
    }
    fn finalized(&self) -> (u64, Hash) {
        Chain::finalized(&self.honest)
    }
    fn propose(&self, parent: &Hash, timestamp_ms: u64) -> Result<ChainBlock, Invalid> {
        let block = self.honest.propose(parent, timestamp_ms)?;
        let mut lie = block.block().clone();
        lie.header.state_root.0[0] ^= 1;
        self.proposed.fetch_add(1, Ordering::Relaxed);
        Ok(ChainBlock::decode(&borsh::to_vec(&lie).unwrap()).unwrap())
    }
    fn verify(&self, block: &ChainBlock) -> Result<(), Invalid> {
        self.honest.verify(block)
    }
    fn finalize(&self, block: &ChainBlock, finality: Option<Finality>, durable: Durable) {
        self.honest.finalize(block, finality, durable)
    }
}

/// What validator 0 does instead of following the protocol.
#[derive(Clone, Copy, Debug)]
enum Byzantine {
    /// Signs two notarize votes for different blocks in the views it leads.
    Equivocates,
    /// Sends a conflicting notarize and finalize vote beside each of its votes, to all.
    Conflicts,
    /// Proposes blocks whose state root is wrong.
    WrongRoot,
}

/// Validators 1 to 3 honest, validator 0 faulty: the honest ones must keep finalizing the
/// same blocks. Returns the faults the honest ones proved and how many lies were told.
fn run_byzantine(seed: u64, byzantine: Byzantine) -> (Vec<consensus::Fault>, u64) {
    let cfg = deterministic::Config::new()
        .with_seed(seed)
        .with_timeout(Some(Duration::from_secs(900)));
    deterministic::Runner::new(cfg).start(|mut ctx| async move {
        let f: Fixture<Scheme> =
            commonware_consensus::simplex::scheme::ed25519::fixture(&mut ctx, NAMESPACE, N);
        let oracle = network(&ctx, &f.participants).await;
        let good = Link {
            latency: Duration::from_millis(20),
            jitter: Duration::from_millis(10),
            success_rate: probability!(1.0),
        };
        link(&oracle, &f.participants, &good, |_, _| true).await;
        let (mut sim, disks, chains) = chains(seed);
        let lies = Arc::new(AtomicU64::new(0));
        let bad_ctx = ctx.child("byzantine");
        let _bad = match byzantine {
            Byzantine::Equivocates => {
                let ch = channels(&oracle, &f.participants[0]).await;
                // The honest validators' leader schedule (terms), so it leads when they
                // expect it to.
                let honest = engine::Config::test(
                    f.schemes[0].clone(),
                    f.participants[0].clone(),
                    oracle.control(f.participants[0].clone()),
                    oracle.manager(),
                    "v0".into(),
                );
                let cfg = equivocator::Config::<Scheme, RoundRobin<Sha256>, Sha256> {
                    scheme: f.schemes[0].clone(),
                    elector: engine::elector(&honest),
                    epoch: Epoch::zero(),
                    relay: Arc::new(Relay::new()),
                };
                equivocator::Equivocator::new(bad_ctx, cfg).start(ch.votes, ch.certificates)
            }
            Byzantine::Conflicts => {
                let ch = channels(&oracle, &f.participants[0]).await;
                let cfg = conflicter::Config {
                    scheme: f.schemes[0].clone(),
                };
                conflicter::Conflicter::<_, Scheme, Sha256>::new(bad_ctx, cfg).start(ch.votes)
            }
            Byzantine::WrongRoot => {
                let chain = WrongRoot {
                    honest: chains[0].clone(),
                    proposed: lies.clone(),
                };
                validator(bad_ctx, &oracle, &f, 0, chain).await.0
            }
        };
        let mut faults = Vec::new();
        for (i, chain) in chains.iter().enumerate().skip(1) {
            let c = ctx.child("validator").with_attribute("index", i);
            faults.push(validator(c, &oracle, &f, i, chain.clone()).await.1);
        }
        let honest = chains[1..].to_vec();
        let targets = honest.clone();
        let load = ctx.child("load").spawn(move |ctx| async move {
            for round in 0usize.. {
                let _ = targets[round % targets.len()].submit(sim.next_block());
                ctx.sleep(Duration::from_millis(100)).await;
            }
        });
        wait_height(&ctx, &honest, 12).await;
        if let Byzantine::WrongRoot = byzantine {
            // Leaders keep terms of several views, and a lying leader's term ends at its
            // first nullified view: go on until it has led (and lied in) a second term
            // (bounded by the runtime's timeout).
            while lies.load(Ordering::Relaxed) < 2 {
                ctx.sleep(Duration::from_millis(100)).await;
            }
        }
        load.abort();
        assert_agreement(&disks[1..], &honest);
        let proven: Vec<consensus::Fault> = faults.iter().flat_map(Faults::list).collect();
        for fault in &proven {
            assert_eq!(fault.signer, 0, "only the faulty validator is accused");
            assert!(!fault.evidence.is_empty());
        }
        if let Byzantine::WrongRoot = byzantine {
            // The honest ones refused every lie: none of them holds a block validator 0
            // made up (their Forks would have panicked finalizing it), and validator 0
            // led views meanwhile.
            assert!(
                lies.load(Ordering::Relaxed) >= 2,
                "validator 0 proposed lies"
            );
        }
        (proven, lies.load(Ordering::Relaxed))
    })
}

#[test]
fn honest_validators_finalize_past_an_equivocator() {
    // Its two proposals per view have no bodies anyone can fetch, so its views are
    // nullified; each honest validator sees one of its two votes, so a fault is proven
    // only when a certificate carries the other (any accusation must name it).
    for seed in 0..2 {
        run_byzantine(seed, Byzantine::Equivocates);
    }
}

#[test]
fn honest_validators_prove_conflicting_votes_with_evidence() {
    let (faults, _) = run_byzantine(3, Byzantine::Conflicts);
    assert!(
        faults
            .iter()
            .any(|f| f.kind == FaultKind::ConflictingNotarize),
        "conflicting notarize votes proven: {faults:?}"
    );
}

#[test]
fn honest_validators_refuse_a_proposal_with_a_wrong_state_root() {
    let (_, lies) = run_byzantine(5, Byzantine::WrongRoot);
    assert!(lies >= 2);
}

/// Four validators on `seed`'s chain, linked all to all by `with`, started and past
/// height 2: the workload, their chains and their tasks.
async fn four_running(
    ctx: &mut Ctx,
    seed: u64,
    with: &Link,
) -> (Sim, Vec<MemChain>, Vec<Handle<()>>) {
    let f: Fixture<Scheme> =
        commonware_consensus::simplex::scheme::ed25519::fixture(ctx, NAMESPACE, N);
    let oracle = network(ctx, &f.participants).await;
    link(&oracle, &f.participants, with, |_, _| true).await;
    let (sim, _disks, chains) = chains(seed);
    let mut handles = Vec::new();
    for (i, chain) in chains.iter().enumerate() {
        let c = ctx.child("validator").with_attribute("index", i);
        handles.push(validator(c, &oracle, &f, i, chain.clone()).await.0);
    }
    wait_height(ctx, &chains, 2).await;
    (sim, chains, handles)
}

/// A transfer of `amount` atoms from sim account 0 to account 1 with this nonce.
fn transfer(sim: &Sim, nonce: u64, amount: u64, expiry_height: Option<u64>) -> SignedTransaction {
    let key = sim.key(0);
    SignedTransaction::sign(
        Transaction {
            chain_id: sim.genesis().chain_id,
            signer: key.verifying_key().to_bytes(),
            nonce,
            expiry_height,
            action: Action::Transfer(Transfer {
                to: sim.key(1).verifying_key().to_bytes(),
                asset: AssetId(0),
                amount,
            }),
        },
        key,
    )
}

/// Polls until no acknowledged transaction is pending at the validator that took it;
/// returns each one's status there.
async fn settle(ctx: &Ctx, acked: &[(Hash, usize)], chains: &[MemChain]) -> Vec<Status> {
    let started = ctx.current();
    loop {
        let statuses: Vec<Status> = acked.iter().map(|(h, v)| chains[*v].status(h)).collect();
        if !statuses.contains(&Status::Pending) {
            return statuses;
        }
        let waited = ctx.current().duration_since(started).unwrap_or_default();
        assert!(
            waited < Duration::from_secs(120),
            "{} acknowledged transactions still pending after {waited:?}",
            statuses.iter().filter(|s| **s == Status::Pending).count()
        );
        ctx.sleep(Duration::from_millis(100)).await;
    }
}

/// One signer sends 400 transactions, each through one validator in turn, in an order
/// scrambled within groups of 20, beside 20 rivals (another transaction with a nonce of
/// the 400) and 10 that expire at once. They reach each leader out of order and some
/// never reach it: every acknowledged one ends committed, or dropped at the validator
/// that took it with the code and rule that say why, and none is left without a status.
/// The 400 all commit unless their rival did.
fn one_signer_through_every_validator(seed: u64) -> (u64, u64, Vec<String>) {
    let cfg = deterministic::Config::new()
        .with_seed(seed)
        .with_timeout(Some(Duration::from_secs(900)));
    deterministic::Runner::new(cfg).start(|mut ctx| async move {
        let lossy = Link {
            latency: Duration::from_millis(20),
            jitter: Duration::from_millis(10),
            success_rate: probability!(95, 100),
        };
        let (sim, chains, _) = four_running(&mut ctx, seed, &lossy).await;

        let mut acked: Vec<(Hash, usize)> = Vec::new();
        let mut main = std::collections::HashMap::new();
        let mut rivals = std::collections::HashMap::new();
        let mut expiring = HashSet::new();
        let mut sent = 0usize;
        let mut send = |tx: SignedTransaction, acked: &mut Vec<(Hash, usize)>| {
            let to = sent % chains.len();
            sent += 1;
            let hash = tx.hash();
            if chains[to].submit(vec![tx]).pop().expect("one").is_ok() {
                acked.push((hash, to));
            }
            hash
        };
        for group in 0..20u64 {
            // Within a group: odd nonces descending, then even ones ascending.
            let nonces: Vec<u64> = (1..=20u64)
                .filter(|n| n % 2 == 1)
                .rev()
                .chain((1..=20).filter(|n| n % 2 == 0))
                .map(|n| group * 20 + n)
                .collect();
            for nonce in nonces {
                let hash = send(transfer(&sim, nonce, 1, None), &mut acked);
                main.insert(nonce, hash);
                if nonce % 20 == 7 {
                    let hash = send(transfer(&sim, nonce, 2, None), &mut acked);
                    rivals.insert(nonce, hash);
                }
            }
            if group % 2 == 0 {
                let height = chains[0].height();
                let hash = send(
                    transfer(&sim, 10_000 + group, 3, Some(height + 1)),
                    &mut acked,
                );
                expiring.insert(hash);
            }
            ctx.sleep(Duration::from_millis(30)).await;
        }
        let statuses = settle(&ctx, &acked, &chains).await;
        let mut committed = 0;
        let mut dropped = 0;
        let mut codes = Vec::new();
        for ((hash, _), status) in acked.iter().zip(&statuses) {
            match status {
                Status::Committed(_) => committed += 1,
                Status::Dropped(why) => {
                    dropped += 1;
                    codes.push(format!("{}/{}", why.code.name(), why.rule.name()));
                    let expected = if expiring.contains(hash) {
                        markets::ChainReject::TransactionExpired
                    } else {
                        markets::ChainReject::NonceAlreadyUsed
                    };
                    assert_eq!(why.code, expected, "{why:?}");
                }
                Status::Pending | Status::Unknown => {
                    panic!("acknowledged {hash:?} has no final status: {status:?}")
                }
            }
        }
        // Each main transaction commits, or its rival does instead.
        let committed_anywhere = |hash: &Hash| {
            chains
                .iter()
                .any(|c| matches!(c.status(hash), Status::Committed(_)))
        };
        for (nonce, hash) in &main {
            let rival = rivals.get(nonce);
            assert!(
                committed_anywhere(hash) ^ rival.is_some_and(committed_anywhere),
                "nonce {nonce}: exactly one of its transactions commits"
            );
        }
        for chain in &chains {
            chain.check_invariants();
        }
        codes.sort();
        (committed, dropped, codes)
    })
}

#[test]
fn one_signer_out_of_order_through_every_validator_ends_with_a_status_for_each() {
    let (committed, dropped, codes) = one_signer_through_every_validator(3);
    eprintln!("committed {committed}, dropped {dropped}: {codes:?}");
    assert!(committed >= 400, "{committed}");
    assert_eq!(
        (committed, dropped, codes.clone()),
        one_signer_through_every_validator(3),
        "the same seed, the same statuses"
    );
}

/// Submit → final latencies in virtual time of a transaction every 50 ms, each sent
/// to every live validator (as gossip spreads it), counted from 5 s in; with `crash`,
/// validator 3 is crashed (its task tree aborted) at that moment.
fn finality_latencies(seed: u64, crash: bool) -> Vec<Duration> {
    let cfg = deterministic::Config::new()
        .with_seed(seed)
        .with_timeout(Some(Duration::from_secs(900)));
    deterministic::Runner::new(cfg).start(|mut ctx| async move {
        let wan = Link {
            latency: Duration::from_millis(40),
            jitter: Duration::from_millis(10),
            success_rate: probability!(1.0),
        };
        let (sim, chains, handles) = four_running(&mut ctx, seed, &wan).await;
        let mut live = chains.len();
        let mut open: Vec<(Hash, std::time::SystemTime, bool)> = Vec::new();
        let mut latencies = Vec::new();
        for nonce in 1..=700u64 {
            let counted = nonce > 100;
            if nonce == 101 && crash {
                handles[3].abort();
                live = 3;
            }
            let tx = transfer(&sim, nonce, 1, None);
            for chain in &chains[..live] {
                let _ = chain.submit(vec![tx.clone()]);
            }
            open.push((tx.hash(), ctx.current(), counted));
            ctx.sleep(Duration::from_millis(50)).await;
            let now = ctx.current();
            open.retain(|(hash, at, counted)| {
                let done = matches!(chains[0].status(hash), Status::Committed(_));
                if done && *counted {
                    latencies.push(now.duration_since(*at).unwrap_or_default());
                }
                !done
            });
        }
        assert!(open.len() < 100, "{} never final", open.len());
        latencies.sort();
        latencies
    })
}

fn percentile(sorted: &[Duration], p: usize) -> Duration {
    sorted[(sorted.len() * p / 100).min(sorted.len() - 1)]
}

/// With one of four validators crashed under load, submit → final p99 over the 30 s
/// after the crash stays under 1 s of virtual time at 40 ms links: a crashed leader's
/// first term after the crash costs at most one leader timeout (500 ms), and the rest
/// of its terms are skipped at once (measured: 650 ms, against 350 ms all up). The same
/// seed gives the same figures. (With rotating leaders and a 2 s leader timeout, as
/// before, its views time out one by one until the others skip it: p99 2.3 s; with 1 s
/// terms' timeouts, 1.1 s. Both fail this test.)
#[test]
fn finality_with_a_crashed_validator_stays_bounded() {
    let up = finality_latencies(5, false);
    let down = finality_latencies(5, true);
    assert!(
        up.len() > 500 && down.len() > 500,
        "{} {}",
        up.len(),
        down.len()
    );
    let (up50, up99) = (percentile(&up, 50), percentile(&up, 99));
    let (down50, down99) = (percentile(&down, 50), percentile(&down, 99));
    eprintln!(
        "all up: p50 {up50:?} p99 {up99:?} ({} txs); one crashed: p50 {down50:?} p99 {down99:?} ({} txs)",
        up.len(),
        down.len()
    );
    assert!(
        down99 <= up99 * 2,
        "p99 {down99:?} with one down vs {up99:?} all up"
    );
    assert_eq!(down, finality_latencies(5, true), "deterministic");
}
