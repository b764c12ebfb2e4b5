//! One validator's consensus engine: simplex (votes and certificates), marshal (final
//! blocks in height order, with backfill), the buffered broadcast of blocks, and our
//! [`App`] behind marshal's `Inline` wrapper. Generic over the runtime and the network,
//! so the deterministic simulation and a real validator run the same wiring.
//!
//! Copied in order from commonware-consensus 2026.10.0's own marshal harness
//! (`marshal/mocks/harness.rs`, `setup_validator_with`) and its simplex-over-marshal test
//! (`marshal/standard/mod.rs`).

use std::num::{NonZeroU16, NonZeroUsize};
use std::sync::Arc;
use std::time::Duration;

use commonware_broadcast::buffered;
use commonware_consensus::Reporters;
use commonware_consensus::marshal::core::{Actor as MarshalActor, Mailbox as MarshalMailbox};
use commonware_consensus::marshal::resolver::p2p as marshal_resolver;
use commonware_consensus::marshal::standard::{Inline, Standard};
use commonware_consensus::marshal::{self, Start};
use commonware_consensus::simplex::elector::RoundRobin;
use commonware_consensus::simplex::types::Finalization;
use commonware_consensus::simplex::{self, ForwardPolicy, SkipBudget, SkipPolicy};
use commonware_consensus::types::{Epoch, FixedEpocher, TermLength, ViewDelta};
use commonware_cryptography::certificate::{ConstantProvider, Verifier as _};
use commonware_cryptography::ed25519::PublicKey;
use commonware_cryptography::sha256::Digest;
use commonware_cryptography::{Digested, Digestible, Sha256};
use commonware_p2p::{Blocker, Provider, Receiver, Sender};
use commonware_parallel::Sequential;
use commonware_runtime::buffer::paged::CacheRef;
use commonware_runtime::{Clock, Handle, Metrics, Spawner, Storage};
use commonware_storage::archive::immutable;
use commonware_utils::{NZU16, NZU32, NZU64, NZUsize, NonZeroDuration};
use rand_core::CryptoRng;

use crate::app::{App, Finalized};
use crate::block::ChainBlock;
use crate::faults::Faults;
use crate::{Chain, Scheme};

/// Marshal's variant: whole blocks, named by their digest.
pub type Variant = Standard<ChainBlock>;
/// Marshal's mailbox.
pub type Marshal = MarshalMailbox<Scheme, Variant>;

/// p2p channels, each a `(Sender, Receiver)` pair registered on the same network. Channel ids:
/// 0 votes, 1 certificates, 2 simplex resolver, 3 marshal backfill, 4 blocks (5: tx gossip, not here).
#[allow(
    missing_debug_implementations,
    reason = "network handles: nothing to show"
)]
pub struct Channels<S, R> {
    pub votes: (S, R),
    pub certificates: (S, R),
    pub resolver: (S, R),
    pub backfill: (S, R),
    pub blocks: (S, R),
}

pub const CH_VOTES: u64 = 0;
pub const CH_CERTIFICATES: u64 = 1;
pub const CH_RESOLVER: u64 = 2;
pub const CH_BACKFILL: u64 = 3;
pub const CH_BLOCKS: u64 = 4;
pub const CH_TXS: u64 = 5;

#[allow(
    missing_debug_implementations,
    reason = "holds the signing key and network handles"
)]
pub struct Config<B, P> {
    /// Signer built with `Scheme::signer(namespace, participants, private_key)`.
    pub scheme: Scheme,
    pub public_key: PublicKey,
    /// `Blocker<PublicKey = PublicKey>`: simulated `oracle.control(pk)`, or the authenticated
    /// network's oracle.
    pub blocker: B,
    /// `commonware_p2p::Provider<PublicKey = PublicKey>`: simulated `oracle.manager()`.
    pub peer_provider: P,
    /// Prefix of every storage partition (`[A-Za-z0-9_-]+`, runtime storage/mod.rs:175).
    pub partition_prefix: String,
    pub max_body_bytes: usize,
    /// How long a leader gathers transactions before it cuts its block.
    pub block_delay: Duration,
    pub mailbox_size: NonZeroUsize,
    pub leader_timeout: Duration,
    pub certification_timeout: Duration,
    pub timeout_retry: Duration,
    pub skip_timeout: Duration,
    /// Consecutive views one leader keeps (the same on every validator: it decides who
    /// leads). 1 rotates every view. A leader can leave a transaction out for its whole
    /// term, about `term_length` × the view time (ARCHITECTURE.md, "Leader terms").
    pub term_length: TermLength,
    /// A view of a term not final this long ends the term (> `certification_timeout`):
    /// what bounds a live leader that notarizes but never lets a view finalize.
    pub stall_timeout: Duration,
    /// Views a validator may verify and vote ahead of its certified ancestry within a
    /// term (0: none).
    pub optimistic_views: ViewDelta,
    pub fetch_timeout: NonZeroDuration,
    pub view_retention: ViewDelta,
    pub max_repair: NonZeroUsize,
    pub max_pending_acks: NonZeroUsize,
    /// Where proven faults of other validators are kept.
    pub faults: Faults,
    /// Marshal's certificates, for the API; set once marshal runs.
    pub finalizations: Finalizations,
}

/// The finalization certificates marshal stores, by height, for the API
/// (`GET /v1/consensus/finalizations/{height}`). Clones share it; empty until marshal
/// runs.
#[derive(Clone, Default)]
pub struct Finalizations(Arc<std::sync::OnceLock<Marshal>>);

impl std::fmt::Debug for Finalizations {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Finalizations")
            .field("running", &self.0.get().is_some())
            .finish()
    }
}

impl Finalizations {
    /// The certificate stored for the block at `height`, encoded (commonware's codec):
    /// `None` before marshal runs, and for a block finalized only through a
    /// descendant's certificate.
    pub async fn encoded(&self, height: u64) -> Option<Vec<u8>> {
        let marshal = self.0.get()?.clone();
        let finalization = marshal
            .get_finalization(commonware_consensus::types::Height::new(height))
            .await?;
        Some(commonware_codec::Encode::encode(&finalization).to_vec())
    }
}

impl<B, P> Config<B, P> {
    /// Timings of the simplex-over-marshal test (standard/mod.rs:3521-3549).
    pub fn test(
        scheme: Scheme,
        public_key: PublicKey,
        blocker: B,
        peer_provider: P,
        partition_prefix: String,
    ) -> Self {
        Self {
            scheme,
            public_key,
            blocker,
            peer_provider,
            partition_prefix,
            max_body_bytes: crate::BLOCK_BYTES_MAX,
            block_delay: Duration::from_millis(50),
            mailbox_size: NZUsize!(1024),
            // A leader that sends nothing for 500 ms loses its view (about 5 view times
            // at the measured ~100 ms views); one silent for 1.2 s while a quorum is
            // active loses its views at once (the skip policy).
            leader_timeout: Duration::from_millis(500),
            certification_timeout: Duration::from_secs(1), // > leader_timeout (config.rs assert)
            timeout_retry: Duration::from_millis(800),
            skip_timeout: Duration::from_millis(1_200), // > certification_timeout and > timeout_retry
            // Terms of 8 views (~0.5-1.5 s at the measured view times), so a crashed
            // leader costs one timeout per term it would have led, not one per view.
            term_length: TermLength::new(NZU32!(8)),
            stall_timeout: Duration::from_secs(3), // > certification_timeout (engine.rs assert)
            optimistic_views: ViewDelta::new(2),
            fetch_timeout: commonware_utils::NZDuration!(Duration::from_secs(1)),
            view_retention: ViewDelta::new(10),
            max_repair: NZUsize!(10),
            max_pending_acks: NZUsize!(1),
            faults: Faults::default(),
            finalizations: Finalizations::default(),
        }
    }
}

const PAGE_SIZE: NonZeroU16 = NZU16!(1024);
const PAGE_CACHE_SIZE: NonZeroUsize = NZUsize!(10);

/// Spawns the validator as ONE supervised task and returns its handle. Everything is built
/// inside that task from its context, so `handle.abort()` aborts every descendant (runtime
/// lib.rs:384-402: "When a parent task finishes or is aborted, all its descendants are aborted")
/// and drops the archives/journals, which is what a crash test needs.
pub fn start<E, C, B, P, S, R>(
    ctx: E,
    cfg: Config<B, P>,
    chain: C,
    channels: Channels<S, R>,
) -> Handle<()>
where
    E: Spawner + Metrics + Clock + Storage + CryptoRng,
    C: Chain,
    B: Blocker<PublicKey = PublicKey> + Sync,
    P: Provider<PublicKey = PublicKey> + Sync,
    S: Sender<PublicKey = PublicKey>,
    R: Receiver<PublicKey = PublicKey>,
{
    ctx.spawn(move |ctx| run(ctx, cfg, chain, channels))
}

/// The wiring; returns when a component stops. Copied in order from
/// `StandardHarness::setup_validator_with` (marshal/mocks/harness.rs:1903-2060) and the
/// simplex-over-marshal test (marshal/standard/mod.rs:3425-3553): block broadcast, then
/// marshal, then our application behind `Inline`, then simplex.
pub async fn run<E, C, B, P, S, R>(ctx: E, cfg: Config<B, P>, chain: C, channels: Channels<S, R>)
where
    E: Spawner + Metrics + Clock + Storage + CryptoRng,
    C: Chain,
    B: Blocker<PublicKey = PublicKey> + Sync,
    P: Provider<PublicKey = PublicKey> + Sync,
    S: Sender<PublicKey = PublicKey>,
    R: Receiver<PublicKey = PublicKey>,
{
    let Channels {
        votes,
        certificates,
        resolver,
        backfill,
        blocks,
    } = channels;
    let page_cache = CacheRef::new(PAGE_SIZE, PAGE_CACHE_SIZE);
    let epocher = FixedEpocher::new(NZU64!(u64::MAX)); // one epoch, no boundary re-proposals
    let genesis_digest = chain.genesis().digest();

    // --- block dissemination (broadcast buffered/config.rs, engine.rs:126,153) ---------------
    let (broadcast_engine, buffer): (_, buffered::Mailbox<PublicKey, ChainBlock>) =
        buffered::Engine::new(
            ctx.child("broadcast"),
            buffered::Config {
                public_key: cfg.public_key.clone(),
                mailbox_size: cfg.mailbox_size,
                deque_size: 10,
                priority: false,
                codec_config: cfg.max_body_bytes,
                peer_provider: cfg.peer_provider.clone(),
                strategy: Sequential,
            },
        );
    let broadcast_handle = broadcast_engine.start(blocks);

    let (marshal_mailbox, marshal_handle) = start_marshal(
        &ctx,
        &cfg,
        &chain,
        &page_cache,
        epocher.clone(),
        buffer,
        backfill,
    )
    .await;
    let _ = cfg.finalizations.0.set(marshal_mailbox.clone());

    // --- Inline wrapper: Automaton + CertifiableAutomaton + Relay + Reporter -----------------
    // standard/inline.rs:205 `pub fn new(context: E, application: A, marshal: Mailbox<S, Standard<B>>, epocher: ES)`
    let inline = Inline::new(
        ctx.child("application"),
        App::new(chain, cfg.block_delay),
        marshal_mailbox,
        epocher,
    );

    // --- simplex (simplex/config.rs, engine.rs:56,190) ------------------------------------------
    let elector = elector(&cfg);
    let engine = simplex::Engine::new(
        ctx.child("simplex"),
        simplex::Config {
            scheme: cfg.scheme,
            elector,
            blocker: cfg.blocker,
            automaton: inline.clone(),
            relay: inline.clone(),
            // Inline forwards to marshal and releases its per-round gates; faults are kept.
            reporter: Reporters::from((inline, cfg.faults)),
            track_historical_votes: false,
            strategy: Sequential,
            partition: format!("{}-simplex", cfg.partition_prefix),
            mailbox_size: cfg.mailbox_size,
            epoch: Epoch::zero(),
            // Genesis on every start: simplex replays its own journal (partition
            // `<prefix>-simplex`) back to where it was; the simulation's restart checks it.
            floor: simplex::Floor::Genesis(genesis_digest),
            replay_buffer: NZUsize!(1024 * 1024),
            write_buffer: NZUsize!(1024 * 1024),
            page_cache,
            leader_timeout: cfg.leader_timeout,
            certification_timeout: cfg.certification_timeout,
            timeout_retry: cfg.timeout_retry,
            view_retention: cfg.view_retention,
            skip: SkipPolicy::Enabled {
                timeout: cfg.skip_timeout,
                budget: SkipBudget::Participants,
            },
            fetch_timeout: cfg.fetch_timeout,
            fetch_retry_delay: Duration::from_millis(100),
            forward: ForwardPolicy::Disabled,
        },
    );
    let simplex_handle = engine.start(votes, certificates, resolver);

    // Any component ending (error, abort, panic caught by the runtime) ends the validator; the
    // remaining children are aborted when this task returns.
    if let Err(err) =
        futures::future::try_join_all(vec![broadcast_handle, marshal_handle, simplex_handle]).await
    {
        tracing::error!(?err, "validator component stopped");
    }
}

/// The leader schedule: round robin, in terms of `cfg.term_length` views (commonware's
/// `with_term` refuses a term of one view, which is plain rotation).
pub fn elector<B, P>(cfg: &Config<B, P>) -> RoundRobin<Sha256> {
    let rotating = RoundRobin::<Sha256>::default();
    if cfg.term_length == TermLength::new(NZU32!(1)) {
        return rotating;
    }
    rotating.with_term(cfg.term_length, cfg.stall_timeout, cfg.optimistic_views)
}

/// Marshal: its backfill resolver, its two archives and its actor, which delivers final
/// blocks to [`Finalized`] in height order. Returns its mailbox and its task.
async fn start_marshal<E, C, B, P, S, R>(
    ctx: &E,
    cfg: &Config<B, P>,
    chain: &C,
    page_cache: &CacheRef,
    epocher: FixedEpocher,
    buffer: buffered::Mailbox<PublicKey, ChainBlock>,
    backfill: (S, R),
) -> (Marshal, Handle<()>)
where
    E: Spawner + Metrics + Clock + Storage + CryptoRng,
    C: Chain,
    B: Blocker<PublicKey = PublicKey> + Sync,
    P: Provider<PublicKey = PublicKey> + Sync,
    S: Sender<PublicKey = PublicKey>,
    R: Receiver<PublicKey = PublicKey>,
{
    let genesis = chain.genesis();
    let genesis_digest = genesis.digest();
    let prefix = format!("{}-marshal", cfg.partition_prefix);
    // --- backfill resolver (marshal/resolver/p2p.rs) -----------------------------------------
    let (handler_rx, resolver_mailbox) = marshal_resolver::init(
        ctx.child("resolver"),
        marshal_resolver::Config {
            public_key: cfg.public_key.clone(),
            peer_provider: cfg.peer_provider.clone(),
            blocker: cfg.blocker.clone(),
            mailbox_size: cfg.mailbox_size,
            fetch_timeout: commonware_utils::NZDuration!(Duration::from_secs(2)),
            fetch_retry_delay: Duration::from_millis(100),
            priority_requests: false,
            priority_responses: false,
        },
        backfill,
    );
    // --- the two archives (harness.rs:1956-2040, same partition names) -----------------------
    let finalizations_by_height: immutable::Archive<E, Digest, Finalization<Scheme, Digest>> =
        archive(
            ctx.child("finalizations_by_height"),
            &format!("{prefix}-finalizations-by-height"),
            page_cache,
            cfg.scheme.certificate_codec_config(),
        )
        .await;
    // Standard's stored block is `Arc<B>` (standard/variant.rs:35); `Arc<T>::Cfg = T::Cfg`.
    let finalized_blocks: immutable::Archive<E, Digest, Arc<ChainBlock>> = archive(
        ctx.child("finalized_blocks"),
        &format!("{prefix}-finalized_blocks"),
        page_cache,
        cfg.max_body_bytes,
    )
    .await;
    // --- the actor (marshal/config.rs:47-129, core/actor.rs:178-183, 348-365) ---------------
    let marshal_cfg = marshal::Config {
        provider: ConstantProvider::<Scheme, Epoch>::new(cfg.scheme.clone()),
        epocher,
        start: Start::Genesis(Digested::precomputed(genesis, genesis_digest)),
        partition_prefix: prefix,
        mailbox_size: cfg.mailbox_size,
        view_retention: cfg.view_retention,
        max_repair: cfg.max_repair,
        max_pending_acks: cfg.max_pending_acks,
        block_codec_config: cfg.max_body_bytes,
        prunable_items_per_section: NZU64!(10), // commonware's harness value
        replay_buffer: ARCHIVE_BUFFER,
        key_write_buffer: ARCHIVE_BUFFER,
        value_write_buffer: ARCHIVE_BUFFER,
        page_cache: page_cache.clone(),
        strategy: Sequential,
    };
    let (actor, mailbox, _floor): (_, Marshal, _) = MarshalActor::init(
        ctx.child("marshal"),
        finalizations_by_height,
        finalized_blocks,
        marshal_cfg,
    )
    .await;
    let handle = actor.start(
        Finalized::new(chain.clone()),
        buffer,
        (handler_rx, resolver_mailbox),
    );
    (mailbox, handle)
}

/// Read and write buffers of marshal's archives.
const ARCHIVE_BUFFER: NonZeroUsize = NZUsize!(64 << 10);

/// One of marshal's archives, in partitions `<name>-metadata`, `<name>-freezer-…` and
/// `<name>-ordinal` (the layout of commonware's harness). A storage failure at start-up
/// is fatal.
async fn archive<E, V>(
    ctx: E,
    name: &str,
    page_cache: &CacheRef,
    codec_config: V::Cfg,
) -> immutable::Archive<E, Digest, V>
where
    E: Spawner + Metrics + Clock + Storage + CryptoRng,
    V: commonware_codec::CodecShared,
{
    immutable::Archive::init(
        ctx,
        immutable::Config {
            metadata_partition: format!("{name}-metadata"),
            freezer_table_partition: format!("{name}-freezer-table"),
            freezer_table_initial_size: 64,
            freezer_table_resize_frequency: 10,
            freezer_table_resize_chunk_size: 10,
            freezer_key_partition: format!("{name}-freezer-key"),
            freezer_key_page_cache: page_cache.clone(),
            freezer_value_partition: format!("{name}-freezer-value"),
            freezer_value_target_size: 1024,
            freezer_value_compression: None,
            ordinal_partition: format!("{name}-ordinal"),
            items_per_section: NZU64!(10),
            codec_config,
            replay_buffer: ARCHIVE_BUFFER,
            freezer_key_write_buffer: ARCHIVE_BUFFER,
            freezer_value_write_buffer: ARCHIVE_BUFFER,
            ordinal_write_buffer: ARCHIVE_BUFFER,
        },
    )
    .await
    .unwrap_or_else(|e| panic!("opening marshal's archive {name}: {e}"))
}

/// Largest message any of channels 0-4 carries, for `simulated::Config::max_size` /
/// `lookup::Config::max_message_size` (p2p sizing.rs:15, simplex limits.rs:14, marshal limits.rs:28).
pub fn max_message_size(participants: u32, max_body_bytes: usize) -> u32 {
    commonware_p2p::max_message_size(&[
        simplex::max_payload_size::<Scheme, Digest>(participants),
        marshal::max_payload_size::<Variant, Scheme>(participants, &max_body_bytes),
    ])
}
