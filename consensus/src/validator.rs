//! One validator process: the authenticated `lookup` p2p network over a fixed validator
//! set, the consensus engine, transaction gossip (channel 5), and the node, all on
//! commonware's tokio runtime (a real multi-thread tokio runtime, so the node's axum
//! server and threads run in it unchanged).
//!
//! Signatures and constructors follow the commonware 2026.10.0 sources
//! (`p2p/src/authenticated/lookup`, `stream`, `runtime/src/tokio`).

use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use commonware_codec::{DecodeExt as _, DecodeFixed as _, Encode as _};
use commonware_cryptography::{ChaCha20Poly1305, Signer as _, ed25519};
use commonware_p2p::authenticated::{lookup, peer_set_limit};
use commonware_p2p::{Address, AddressableManager as _, Receiver as _, Recipients, Sender as _};
use commonware_runtime::{
    Clock, Handle, Metrics, Network as RNetwork, Quota, Resolver, Spawner, Storage,
};
use commonware_stream::SakeCups;
use commonware_stream::cups::{self, Cups};
use commonware_stream::sake::{self, Sake};
use commonware_utils::ordered::{Map, Set};
use commonware_utils::{NZU32, NZUsize};
use rand_core::CryptoRng;

use crate::engine::{self, Channels};
use crate::{BLOCK_BYTES_MAX, Chain, Scheme};

/// The stream upgrader every peer must agree on (SAKE handshake, CUPS records, ChaCha20-Poly1305).
pub type Handshake = SakeCups<ed25519::PrivateKey, ChaCha20Poly1305>;
/// lookup's per-channel sender/receiver (lookup/mod.rs:215-218, channels.rs:75,129).
pub type NetSender<E> = lookup::Sender<ed25519::PublicKey, E>;
pub type NetReceiver = lookup::Receiver<ed25519::PublicKey>;
/// lookup's oracle: Provider + AddressableManager + Blocker (tracker/ingress.rs:245,267,282).
pub type Oracle = lookup::Oracle<ed25519::PublicKey>;

/// One validator of the (fixed) set.
#[derive(Clone, Debug)]
pub struct Peer {
    pub public_key: ed25519::PublicKey,
    pub p2p: SocketAddr,
}

#[allow(missing_debug_implementations, reason = "holds the signing key")]
pub struct ValidatorConfig {
    /// This validator's ed25519 key (p2p identity AND consensus signing key).
    pub key: ed25519::PrivateKey,
    /// All validators, self included: the validator set (order irrelevant, it is sorted).
    pub peers: Vec<Peer>,
    /// Address the p2p listener binds (normally `peers[self].p2p`; may be 0.0.0.0:port).
    pub listen: SocketAddr,
    /// Runtime storage directory (`<data>/consensus`); give it to `runner()`.
    pub storage_dir: PathBuf,
    /// Consensus namespace (must be identical on every validator).
    pub namespace: Vec<u8>,
    /// Tokio worker threads for the commonware runtime (also serves axum etc.).
    pub worker_threads: usize,
    /// Storage partition prefix, `[A-Za-z0-9_-]+` (runtime storage/mod.rs:175).
    pub partition_prefix: String,
    /// true: `lookup::Config::local` (allows 127.0.0.1/private IPs, fast redial).
    pub local: bool,
    /// Per-peer, per-channel message rate. NB: each channel's inbound mailbox is an
    /// eagerly allocated crossbeam ArrayQueue of max_peers_per_set * tracked_peer_sets *
    /// burst slots (channels.rs:216-225, actor mailbox.rs:507-510), so keep this modest.
    pub quota: Quota,
    /// How long a leader gathers transactions before it cuts its block.
    pub block_delay: Duration,
    /// Where the faults simplex proves are kept.
    pub faults: crate::Faults,
    /// Where the API reads marshal's finalization certificates.
    pub finalizations: engine::Finalizations,
    /// Largest tx-gossip payload we send on channel 5 (must be <= max_message_size:
    /// a larger send PANICS, lookup/config.rs "Sending a larger payload panics").
    pub max_gossip_bytes: usize,
}

/// 1 024 msgs/s per peer per channel: the marshal harness' TEST_QUOTA (marshal/mocks/harness.rs:175).
pub const DEFAULT_QUOTA: Quota = Quota::per_second(NZU32!(1_024));

/// Deterministic key from a 32-byte seed (any 32 bytes are a valid ed25519 secret):
/// `impl Read for PrivateKey` reads `[u8; 32]` into `SigningKey::from` (ed25519/scheme.rs:78-88).
pub fn key_from_seed(seed: [u8; 32]) -> ed25519::PrivateKey {
    ed25519::PrivateKey::decode_fixed(seed).expect("32 bytes is always a valid ed25519 seed")
}

/// 32 raw bytes, hex-encoded (`hex` is a workspace dep). `Display` of PublicKey is the same hex.
pub fn public_key_hex(pk: &ed25519::PublicKey) -> String {
    hex::encode(pk.encode()) // == hex::encode(pk.as_ref()) (scheme.rs:195-199, 225-229)
}

/// Inverse of `public_key_hex`; decoding checks the point (scheme.rs:201-215).
pub fn public_key_from_hex(s: &str) -> Option<ed25519::PublicKey> {
    let bytes = hex::decode(s.trim_start_matches("0x")).ok()?;
    ed25519::PublicKey::decode(bytes).ok() // Vec<u8>: codec::Input (codec buf.rs:161)
}

/// The production runtime for one validator process. `Runner::start` builds a
/// `tokio::runtime::Builder::new_multi_thread()...enable_all()` runtime and runs the root
/// future with `runtime.block_on` (runtime tokio/runtime.rs:403-408, 489), so plain
/// `tokio::spawn`, `tokio::task::spawn_blocking`, `tokio::net`, `tokio::signal` and axum all
/// work inside it (its own telemetry.rs:88-121 serves axum exactly this way).
pub fn runner(cfg: &ValidatorConfig) -> commonware_runtime::tokio::Runner {
    commonware_runtime::tokio::Runner::new(
        commonware_runtime::tokio::Config::new()
            .with_worker_threads(cfg.worker_threads)
            .with_storage_directory(cfg.storage_dir.clone())
            .with_catch_panics(false), // default; a task panic ends the process
    )
}

/// What `start` hands back.
#[allow(missing_debug_implementations, reason = "network handles")]
pub struct Started<E: Clock> {
    /// Channel 5: send a batch of encoded transactions to every connected validator.
    pub txs: TxGossip<E>,
    /// Resolves when the network stops (`ctx.stop`, or one of its actors failed).
    pub p2p: Handle<()>,
    /// Resolves when the engine stops (a component failed, or aborted).
    pub engine: Handle<()>,
    /// The channel-5 receive loop.
    pub gossip: Handle<()>,
    /// The oracle (Blocker + Provider); e.g. for `/v1/peers`.
    pub oracle: Oracle,
}

#[derive(Debug)]
pub enum StartError {
    /// The key's public key is not among `peers`.
    NotAValidator,
    /// Two peers with the same public key.
    DuplicatePeer,
}

/// Builds the p2p network, registers channels 0..=5, tracks the validator set at index 0,
/// starts the network and the engine, and spawns the channel-5 receive loop, which calls
/// `on_txs(from, bytes)` for every gossip message (keep it cheap: hand off).
///
/// Must run inside the runtime (`runner(&cfg).start(|ctx| async move { start(&ctx, ..) })`).
pub fn start<E, C, F>(
    ctx: &E,
    cfg: ValidatorConfig,
    chain: C,
    mut on_txs: F,
) -> Result<Started<E>, StartError>
where
    E: Spawner + Metrics + Clock + Storage + RNetwork + Resolver + CryptoRng,
    C: Chain,
    F: FnMut(ed25519::PublicKey, Vec<u8>) + Send + 'static,
{
    let me = cfg.key.public_key(); // Signer::public_key (cryptography lib.rs:117)
    let (participants, addresses) = validator_set(&cfg.peers)?;
    // Consensus signer (ed25519 certificate/mod.rs:471-484): None if `me` is not a participant.
    let scheme = Scheme::signer(&cfg.namespace, participants.clone(), cfg.key.clone())
        .ok_or(StartError::NotAValidator)?;
    let p2p_cfg = p2p_config(&cfg, &participants);

    // network.rs:64 `pub fn new(context: E, cfg: Config<U>) -> (Self, tracker::Oracle<U::PublicKey>)`
    let (mut network, mut oracle) = lookup::Network::new(ctx.child("p2p"), p2p_cfg);

    // AddressableManager::track (p2p lib.rs:376; tracker/ingress.rs:268): enqueues, returns
    // Feedback (not async). Self may be in the map (lookup/mod.rs:186-192 example does it).
    let feedback = oracle.track(0, addresses);
    assert!(feedback.accepted(), "peer set not accepted: {feedback:?}");

    // network.rs:155 `pub fn register(&mut self, channel: Channel, rate: Quota) -> (Sender, Receiver)`;
    // must be called before `start` (network.rs:170-178). Panics on a duplicate id.
    let mut reg = |id| network.register(id, cfg.quota);
    let channels = Channels {
        votes: reg(engine::CH_VOTES),
        certificates: reg(engine::CH_CERTIFICATES),
        resolver: reg(engine::CH_RESOLVER),
        backfill: reg(engine::CH_BACKFILL),
        blocks: reg(engine::CH_BLOCKS),
    };
    let (tx_sender, mut tx_receiver) = reg(engine::CH_TXS);
    let p2p = network.start(); // network.rs:178, Handle<()>

    // --- engine ---------------------------------------------------------------------------
    let mut engine_cfg = engine::Config::test(
        scheme,
        me,
        oracle.clone(), // Blocker<PublicKey = ed25519::PublicKey>
        oracle.clone(), // Provider<PublicKey = ed25519::PublicKey> (subscribe -> set 0)
        cfg.partition_prefix.clone(),
    );
    engine_cfg.block_delay = cfg.block_delay;
    engine_cfg.faults = cfg.faults.clone();
    engine_cfg.finalizations = cfg.finalizations.clone();
    let engine = engine::start(ctx.child("engine"), engine_cfg, chain, channels);

    // --- channel 5: receive loop ----------------------------------------------------------
    // Receiver::recv -> Result<(PublicKey, IoBuf), lookup::Error> (p2p lib.rs:40,198;
    // channels.rs:149-160: Err only when the network is closed).
    let gossip = ctx.child("gossip").spawn(move |_ctx| async move {
        while let Ok((from, msg)) = tx_receiver.recv().await {
            // IoBuf -> Vec<u8> (runtime iobuf/buf.rs:546); or `msg.as_ref()` (&[u8], :325),
            // or `bytes::Bytes::from(msg)` (:560).
            on_txs(from, Vec::from(msg));
        }
    });

    Ok(Started {
        txs: TxGossip {
            sender: tx_sender,
            max_bytes: cfg.max_gossip_bytes,
        },
        p2p,
        engine,
        gossip,
        oracle,
    })
}

/// The validator set, sorted and free of duplicates (utils ordered.rs:133-157), and each
/// member's address (`Address::Symmetric`: dial it, and expect connections from its IP;
/// p2p types.rs:159-170, 252).
fn validator_set(
    peers: &[Peer],
) -> Result<(Set<ed25519::PublicKey>, Map<ed25519::PublicKey, Address>), StartError> {
    let participants = Set::try_from(
        peers
            .iter()
            .map(|p| p.public_key.clone())
            .collect::<Vec<_>>(),
    )
    .map_err(|_| StartError::DuplicatePeer)?;
    let addresses = Map::try_from(
        peers
            .iter()
            .map(|p| (p.public_key.clone(), Address::from(p.p2p)))
            .collect::<Vec<_>>(),
    )
    .map_err(|_| StartError::DuplicatePeer)?;
    Ok((participants, addresses))
}

/// `lookup` over SAKE/CUPS (exactly lookup/mod.rs:163-176 and lookup/config.rs:212-221);
/// `local` allows loopback and private addresses.
fn p2p_config(
    cfg: &ValidatorConfig,
    participants: &Set<ed25519::PublicKey>,
) -> lookup::Config<Handshake> {
    let handshake: Handshake = Cups::<_, ChaCha20Poly1305>::new(
        Sake {
            signer: cfg.key.clone(),
            synchrony_bound: Duration::from_secs(5), // peers' clocks within 5 s
            max_handshake_age: Duration::from_secs(10),
            version: sake::Version::V1,
        },
        cups::Version::V1,
    );
    let n = u32::try_from(participants.len()).expect("validator count fits u32");
    let max_message_size = engine::max_message_size(n, BLOCK_BYTES_MAX);
    assert!(cfg.max_gossip_bytes <= max_message_size as usize);
    let p2p_namespace = [cfg.namespace.as_slice(), b"_P2P"].concat(); // p2p appends "_STREAM" itself
    let max_peers_per_set = peer_set_limit(participants.iter(), &cfg.key.public_key()); // = n
    let make = if cfg.local {
        lookup::Config::local
    } else {
        lookup::Config::recommended
    };
    let mut p2p_cfg = make(
        handshake,
        &p2p_namespace,
        cfg.listen,
        max_peers_per_set,
        max_message_size,
        NZUsize!(1024),
    );
    // One fixed set at index 0, never changed: 1 tracked set (default 4) shrinks every
    // channel's preallocated inbound mailbox 4x (lookup/config.rs:118-126, channels.rs:216).
    p2p_cfg.tracked_peer_sets = NZUsize!(1);
    p2p_cfg
}

/// Channel-5 sender. `Clone`: the quota is shared across clones (channels.rs:70-85).
#[allow(missing_debug_implementations, reason = "network handle")]
pub struct TxGossip<E: Clock> {
    sender: NetSender<E>,
    max_bytes: usize,
}

impl<E: Clock> Clone for TxGossip<E> {
    fn clone(&self) -> Self {
        Self {
            sender: self.sender.clone(),
            max_bytes: self.max_bytes,
        }
    }
}

impl<E: Clock> TxGossip<E> {
    /// Sends one encoded batch to every connected validator. Not async, never waits.
    /// `Sender::send(&mut self, Recipients<P>, impl Into<IoBufs> + Send, priority: bool)
    ///  -> Vec<P>` (p2p lib.rs:142-184): the peers it was handed to; empty if all are
    /// rate-limited or the router mailbox is full (best effort: offline peers miss it).
    pub fn broadcast(&mut self, batch: Vec<u8>) -> Vec<ed25519::PublicKey> {
        assert!(
            batch.len() <= self.max_bytes,
            "gossip batch over the p2p limit"
        );
        self.sender.send(Recipients::All, batch, false) // Vec<u8>: Into<IoBufs> (iobuf/bufs.rs:725)
    }
}

/// Root-task body for a validator process: start, then wait for `shutdown` (e.g.
/// `tokio::signal::ctrl_c()`, or SIGTERM) or for a component to stop, then signal every
/// task with `Spawner::stop` and wait at most `grace` for them (runtime lib.rs:420-451).
/// Returning from the root future makes `Runner::start` abort every remaining commonware
/// task and wait for them (tokio/runtime.rs:489-501).
pub async fn run_until<E, Fut>(ctx: E, started: Started<E>, shutdown: Fut, grace: Duration) -> i32
where
    E: Spawner + Clock,
    Fut: Future<Output = ()> + Send,
{
    use futures::future::{Either, select};
    let Started {
        p2p,
        engine,
        gossip,
        ..
    } = started;
    let shutdown = std::pin::pin!(shutdown);
    let components = std::pin::pin!(futures::future::select_all([p2p, engine, gossip]));
    let code = match select(shutdown, components).await {
        Either::Left(((), _)) => {
            tracing::info!("shutdown requested");
            0
        }
        Either::Right(((result, index, _), _)) => {
            tracing::error!(?result, index, "validator component stopped");
            1
        }
    };
    // `stop(self, value: i32, timeout: Option<Duration>)` consumes the context (and
    // tokio::Context is not Clone): pass the root context, or a `ctx.child(..)`.
    if let Err(err) = ctx.stop(code, Some(grace)).await {
        tracing::warn!(?err, "stop timed out");
    }
    code
}
