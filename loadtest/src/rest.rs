//! The REST mode: signed transactions over HTTP to a node, fills and blocks back over its
//! websocket, the node's own metrics each second. See the parent module for what is
//! measured how.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::io::BufRead as _;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use api::ErrorBody;
use api::wire::{
    BatchItem, BatchResponse, ChannelName, EventJson, HealthJson, ServerMessage, SubmitResponse,
    SubscribeArgs, TxStatusKind, UpdateKind,
};
use client::ws::{self, Connection};
use client::{Client, ClientError, Method};
use ed25519_dalek::SigningKey;
use hdrhistogram::Histogram;
use markets::SignedTransaction;
use parking_lot::Mutex;
use rayon::prelude::*;
use tokio::sync::{Semaphore, mpsc};

use super::engine::lobster_report;
use super::report::{Audit, Counts, LobsterReport, NetworkReport, NodeStats, TimelinePoint};
use super::stats::{self, Percentiles};
use super::workload::{Lobster, MarketSpec, Mix, MixConfig, Planned};
use super::{BodyKind, LoadtestArgs, LobsterPacing, Transport, WorkloadKind};

/// Takers whose fill has not been seen after this long are given up on (counted as
/// never filled), so the table of sent takers stays bounded.
const TAKER_FORGET_AFTER: Duration = Duration::from_secs(60);
/// A request sent more than this after its slot counts as late.
const LATE_AFTER: Duration = Duration::from_millis(5);
/// Requests one connection may have in flight, at most.
const IN_FLIGHT_MAX: usize = 8;
/// Subscriptions per websocket connection (the server's limit is 256).
const SUBSCRIPTIONS_PER_SOCKET: usize = 200;
/// How long to wait for a spawned node to report its address.
const NODE_START_TIMEOUT: Duration = Duration::from_secs(60);

// ---------------------------------------------------------------------------------------
// The node: external, a child process, or inside this process.

enum NodeHandle {
    External,
    Child {
        child: std::process::Child,
        data: PathBuf,
    },
    InProcess {
        running: node::Running,
        runtime: tokio::runtime::Runtime,
        data: PathBuf,
    },
    /// `clobchain testnet`: stopped with SIGTERM, which it passes to every validator.
    Testnet {
        child: std::process::Child,
        data: PathBuf,
    },
}

impl std::fmt::Debug for NodeHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.kind())
    }
}

impl NodeHandle {
    fn kind(&self) -> &'static str {
        match self {
            NodeHandle::External => "external",
            NodeHandle::Child { .. } => "child process",
            NodeHandle::InProcess { .. } => "in-process",
            NodeHandle::Testnet { .. } => "testnet (child processes)",
        }
    }

    async fn stop(self) -> anyhow::Result<()> {
        match self {
            NodeHandle::External => Ok(()),
            NodeHandle::Child { mut child, data } => {
                // SIGKILL by pid: the run is over and the data directory is thrown away.
                let _ = child.kill();
                let _ = child.wait();
                let _ = std::fs::remove_dir_all(&data);
                Ok(())
            }
            NodeHandle::Testnet { mut child, data } => {
                let _ = std::process::Command::new("kill")
                    .args(["-TERM", &child.id().to_string()])
                    .status();
                let _ = child.wait();
                let _ = std::fs::remove_dir_all(&data);
                Ok(())
            }
            NodeHandle::InProcess {
                running,
                runtime,
                data,
            } => {
                let result = runtime.spawn(running.shutdown()).await;
                runtime.shutdown_background();
                let _ = std::fs::remove_dir_all(&data);
                result.context("the node's shutdown task")?
            }
        }
    }
}

fn temp_data_dir() -> anyhow::Result<PathBuf> {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    let dir =
        std::env::temp_dir().join(format!("clobchain-loadtest-{}-{nanos}", std::process::id()));
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    Ok(dir)
}

/// The binary to spawn a node from: `--node-bin`, or this executable when it is
/// `clobchain` (not a test harness).
fn node_binary(args: &LoadtestArgs) -> Option<PathBuf> {
    if let Some(path) = &args.node_bin {
        return Some(path.clone());
    }
    let exe = std::env::current_exe().ok()?;
    (exe.file_stem()? == "clobchain").then_some(exe)
}

async fn spawn_node(args: &LoadtestArgs) -> anyhow::Result<(String, NodeHandle)> {
    let data = temp_data_dir()?;
    if let Some(bin) = node_binary(args) {
        let log = std::fs::File::create(data.join("node.log"))?;
        let mut command = std::process::Command::new(&bin);
        command
            .arg("node")
            .arg("--data")
            .arg(data.join("chain"))
            .args(["--listen", "127.0.0.1:0"])
            .args(["--dev-accounts", &args.traders.max(1).to_string()])
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::piped())
            .stderr(log);
        if let Some(ms) = args.node_block_interval_ms {
            command.args(["--block-interval-ms", &ms.to_string()]);
        }
        let mut child = command
            .spawn()
            .with_context(|| format!("starting {}", bin.display()))?;
        let stdout = child.stdout.take().context("the node's stdout")?;
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::Builder::new()
            .name("lt-node-stdout".into())
            .spawn(move || {
                for line in std::io::BufReader::new(stdout).lines() {
                    let Ok(line) = line else { break };
                    if let Some(rest) = line.split("API on ").nth(1) {
                        let url = rest.split_whitespace().next().unwrap_or("").to_string();
                        let _ = tx.send(url);
                    }
                }
            })?;
        let url = tokio::task::spawn_blocking(move || rx.recv_timeout(NODE_START_TIMEOUT))
            .await?
            .map_err(|_| {
                anyhow::anyhow!(
                    "the spawned node did not report its address (log in {})",
                    data.display()
                )
            });
        let url = match url {
            Ok(url) => url,
            Err(e) => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(e);
            }
        };
        return Ok((url, NodeHandle::Child { child, data }));
    }
    let mut config = node::NodeConfig {
        data: data.join("chain"),
        listen: std::net::SocketAddr::from(([127, 0, 0, 1], 0)),
        dev_accounts: args.traders.max(1),
        ..node::NodeConfig::default()
    };
    if let Some(ms) = args.node_block_interval_ms {
        config.block_interval_ms = ms;
        config.empty_block_interval_ms = config.empty_block_interval_ms.max(ms);
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("node-api")
        .build()?;
    let running = runtime.spawn(node::start(config)).await??;
    let url = format!("http://{}", running.addr);
    Ok((
        url,
        NodeHandle::InProcess {
            running,
            runtime,
            data,
        },
    ))
}

/// `count` consecutive loopback ports nobody listens on now, from a random base.
fn free_ports(count: usize) -> anyhow::Result<u16> {
    for _ in 0..64 {
        let probe = std::net::TcpListener::bind("127.0.0.1:0")?;
        let base = probe.local_addr()?.port();
        drop(probe);
        let Some(last) = base.checked_add(u16::try_from(count)?) else {
            continue;
        };
        if (base..last).all(|p| std::net::TcpListener::bind(("127.0.0.1", p)).is_ok()) {
            return Ok(base);
        }
    }
    anyhow::bail!("no {count} free consecutive ports")
}

async fn spawn_testnet(
    args: &LoadtestArgs,
    validators: usize,
) -> anyhow::Result<(String, NodeHandle)> {
    let bin =
        node_binary(args).context("--spawn-testnet runs the clobchain binary: give --node-bin")?;
    let data = temp_data_dir()?;
    let api = free_ports(validators)?;
    let p2p = free_ports(validators)?;
    let mut command = std::process::Command::new(&bin);
    command
        .arg("testnet")
        .args(["--validators", &validators.to_string()])
        .arg("--dir")
        .arg(&data)
        .args(["--api-port", &api.to_string()])
        .args(["--p2p-port", &p2p.to_string()])
        .args(["--dev-accounts", &args.traders.max(1).to_string()])
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null());
    if let Some(ms) = args.node_block_interval_ms {
        command.args(["--block-interval-ms", &ms.to_string()]);
    }
    let mut child = command
        .spawn()
        .with_context(|| format!("starting {} testnet", bin.display()))?;
    // Validator 0 serves once its node is open and consensus has made a block.
    let url = format!("http://127.0.0.1:{api}");
    let client = Client::new(&url)?;
    let started = Instant::now();
    loop {
        if let Ok(health) = client.health().await
            && health.height >= 2
        {
            break;
        }
        if started.elapsed() > NODE_START_TIMEOUT {
            let _ = child.kill();
            let _ = child.wait();
            anyhow::bail!("the testnet made no block (logs in {})", data.display());
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    Ok((url, NodeHandle::Testnet { child, data }))
}

// ---------------------------------------------------------------------------------------
// Setup over REST.

/// Each trader's first nonce: one above the highest it has used.
async fn nonce_starts(client: &Client, signers: &[[u8; 32]]) -> anyhow::Result<Vec<u64>> {
    let mut starts = vec![0u64; signers.len()];
    for (chunk_index, chunk) in signers.chunks(32).enumerate() {
        let mut set = tokio::task::JoinSet::new();
        for (i, signer) in chunk.iter().enumerate() {
            let client = client.clone();
            let signer = *signer;
            set.spawn(async move { (i, client.account(&signer).await) });
        }
        while let Some(joined) = set.join_next().await {
            let (i, account) = joined?;
            let account = account?;
            let trader = chunk_index * 32 + i;
            anyhow::ensure!(
                account.exists,
                "trader {trader} (demo key {trader}) has no account on the node: start it with \
                 --dev-accounts {} or lower --traders",
                signers.len()
            );
            starts[trader] = account.last_nonce.map_or(1, |n| n + 1);
        }
    }
    Ok(starts)
}

// ---------------------------------------------------------------------------------------
// The producer: generate, sign, encode, queue.

/// One HTTP request, ready to send.
#[derive(Debug)]
struct Request {
    body: Vec<u8>,
    txs: u32,
    orders: u32,
    takers: Vec<u64>,
    watched_txs: u32,
}

enum Source {
    Mix(Box<Mix>),
    /// The stream, and the number of transactions in each request, in order.
    Lobster {
        stream: std::vec::IntoIter<Planned>,
        requests: std::vec::IntoIter<usize>,
    },
}

struct ProducerCounters {
    generated_txs: AtomicU64,
    ready: AtomicBool,
    exhausted: AtomicBool,
}

struct ProducerSetup {
    source: Source,
    keys: Arc<Vec<SigningKey>>,
    queues: Vec<mpsc::Sender<Request>>,
    batch: usize,
    body: BodyKind,
    /// Transactions to have queued before the window may open.
    prefill: u64,
    /// Transactions to generate in all (`None`: until stopped or the source ends).
    total: Option<u64>,
    watched: u64,
    stop: Arc<AtomicBool>,
    counters: Arc<ProducerCounters>,
}

fn encode_body(signed: &[SignedTransaction], single: bool, kind: BodyKind) -> Vec<u8> {
    if kind == BodyKind::Binary {
        return if single {
            signed[0].to_bytes()
        } else {
            api::binary::encode_batch(signed)
        };
    }
    let mut body = String::with_capacity(signed.len() * 400 + 32);
    if single {
        body.push_str("{\"tx\":\"");
        body.push_str(&hex::encode(signed[0].to_bytes()));
        body.push_str("\"}");
    } else {
        body.push_str("{\"transactions\":[");
        for (i, tx) in signed.iter().enumerate() {
            if i > 0 {
                body.push(',');
            }
            body.push_str("{\"tx\":\"");
            body.push_str(&hex::encode(tx.to_bytes()));
            body.push_str("\"}");
        }
        body.push_str("]}");
    }
    body.into_bytes()
}

fn produce(setup: ProducerSetup) -> anyhow::Result<()> {
    let ProducerSetup {
        mut source,
        keys,
        queues,
        batch,
        body,
        prefill,
        total,
        watched,
        stop,
        counters,
    } = setup;
    let threads = std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get);
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .thread_name(|i| format!("lt-sign-{i}"))
        .build()?;
    let connections = queues.len();
    let single = batch == 1;
    let mut generated = 0u64;
    'rounds: loop {
        if stop.load(Ordering::Acquire) {
            break;
        }
        // One round: one request per connection, each from that connection's traders.
        let mut round: Vec<Vec<Planned>> = Vec::with_capacity(connections);
        for c in 0..connections {
            let mut planned = Vec::with_capacity(batch);
            let size = match &mut source {
                Source::Mix(_) => batch,
                Source::Lobster { requests, .. } => requests.next().unwrap_or(0),
            };
            for _ in 0..size {
                if total.is_some_and(|t| generated >= t) {
                    break;
                }
                let next = match &mut source {
                    Source::Mix(mix) => {
                        let trader = mix.pick_trader(c, connections);
                        Some(mix.next_tx(trader))
                    }
                    Source::Lobster { stream, .. } => stream.next(),
                };
                let Some(next) = next else { break };
                generated += 1;
                planned.push(next);
            }
            round.push(planned);
        }
        let round_txs: usize = round.iter().map(Vec::len).sum();
        if round_txs == 0 {
            counters.exhausted.store(true, Ordering::Release);
            break;
        }
        let signed: Vec<(Vec<u8>, &Vec<Planned>)> = pool.install(|| {
            round
                .par_iter()
                .filter(|p| !p.is_empty())
                .map(|planned| {
                    let signed: Vec<SignedTransaction> = planned
                        .par_iter()
                        .map(|p| SignedTransaction::sign(p.tx.clone(), &keys[p.trader]))
                        .collect();
                    (encode_body(&signed, single, body), planned)
                })
                .collect()
        });
        let mut queue_of = round
            .iter()
            .enumerate()
            .filter(|(_, p)| !p.is_empty())
            .map(|(c, _)| c);
        for (body, planned) in signed {
            let c = queue_of.next().expect("one queue per non-empty request");
            let request = Request {
                body,
                txs: u32::try_from(planned.len()).expect("a batch is at most 2000"),
                orders: planned.iter().map(|p| p.orders).sum(),
                takers: planned
                    .iter()
                    .flat_map(|p| p.takers.iter().copied())
                    .collect(),
                watched_txs: u32::try_from(
                    planned
                        .iter()
                        .filter(|p| (p.trader as u64) < watched)
                        .count(),
                )
                .expect("a batch is at most 2000"),
            };
            // A full queue means enough is signed ahead: the window may open.
            match queues[c].try_send(request) {
                Ok(()) => {}
                Err(mpsc::error::TrySendError::Full(request)) => {
                    counters.ready.store(true, Ordering::Release);
                    if queues[c].blocking_send(request).is_err() {
                        break 'rounds;
                    }
                }
                Err(mpsc::error::TrySendError::Closed(_)) => break 'rounds,
            }
        }
        counters.generated_txs.store(generated, Ordering::Release);
        if generated >= prefill {
            counters.ready.store(true, Ordering::Release);
        }
    }
    counters.generated_txs.store(generated, Ordering::Release);
    counters.ready.store(true, Ordering::Release);
    Ok(())
}

// ---------------------------------------------------------------------------------------
// What the senders and watchers record.

struct Window {
    start: Instant,
    end: Instant,
}

impl Window {
    fn contains(&self, at: Instant) -> bool {
        at >= self.start && at < self.end
    }
}

#[derive(Default)]
struct Takers {
    sent: HashMap<u64, (Instant, bool)>,
    order: VecDeque<(Instant, u64)>,
    sent_in_window: u64,
    filled_in_window: u64,
}

struct Shared {
    window: Window,
    submitted: [AtomicU64; 2],
    acknowledged: [AtomicU64; 2],
    window_submitted: [AtomicU64; 2],
    window_acknowledged: [AtomicU64; 2],
    window_requests: AtomicU64,
    refused: Mutex<BTreeMap<String, u64>>,
    transport_errors: AtomicU64,
    transport_example: Mutex<Option<String>>,
    late: AtomicU64,
    lag_max_micros: AtomicU64,
    ack: Mutex<Histogram<u64>>,
    fill: Mutex<Histogram<u64>>,
    takers: Mutex<Takers>,
    fills: AtomicU64,
    window_fills: AtomicU64,
    blocks: Mutex<Vec<BlockSeen>>,
    /// Transactions in the blocks seen, and a wake-up for each block.
    committed: AtomicU64,
    block_seen: tokio::sync::Notify,
    reasons: Mutex<BTreeMap<String, u64>>,
    /// Drops the watched traders' `orders` channels told of.
    dropped_seen: AtomicU64,
    /// Every transaction the node acknowledged, by hash (what the audit accounts for).
    acked: Mutex<Vec<[u8; 32]>>,
    /// The accounting of every acknowledged transaction, after the drain.
    audit: Mutex<Option<Audit>>,
    watched_txs: AtomicU64,
    lobster_makers: Option<Arc<HashMap<u64, (u32, u64)>>>,
    lot_sizes: HashMap<u32, u64>,
    lobster_fills: Mutex<HashMap<(u32, u64), Vec<u64>>>,
    notes: Mutex<Vec<String>>,
    last_send_done: Mutex<Option<Instant>>,
}

#[derive(Clone, Copy, Debug)]
struct BlockSeen {
    arrived: Instant,
    timestamp_ms: u64,
    txs: u64,
}

impl Shared {
    fn new(window: Window, lobster: Option<&Lobster>, specs: &[MarketSpec]) -> Shared {
        Shared {
            window,
            submitted: Default::default(),
            acknowledged: Default::default(),
            window_submitted: Default::default(),
            window_acknowledged: Default::default(),
            window_requests: AtomicU64::new(0),
            refused: Mutex::new(BTreeMap::new()),
            transport_errors: AtomicU64::new(0),
            transport_example: Mutex::new(None),
            late: AtomicU64::new(0),
            lag_max_micros: AtomicU64::new(0),
            ack: Mutex::new(stats::latency_histogram()),
            fill: Mutex::new(stats::latency_histogram()),
            takers: Mutex::new(Takers::default()),
            fills: AtomicU64::new(0),
            window_fills: AtomicU64::new(0),
            blocks: Mutex::new(Vec::new()),
            committed: AtomicU64::new(0),
            block_seen: tokio::sync::Notify::new(),
            reasons: Mutex::new(BTreeMap::new()),
            dropped_seen: AtomicU64::new(0),
            acked: Mutex::new(Vec::new()),
            audit: Mutex::new(None),
            watched_txs: AtomicU64::new(0),
            lobster_makers: lobster.map(|l| Arc::new(l.makers.clone())),
            lot_sizes: specs.iter().map(|m| (m.id, m.lot_size)).collect(),
            lobster_fills: Mutex::new(HashMap::new()),
            notes: Mutex::new(Vec::new()),
            last_send_done: Mutex::new(None),
        }
    }

    fn transport_error(&self, what: String) {
        self.transport_errors.fetch_add(1, Ordering::AcqRel);
        let mut example = self.transport_example.lock();
        if example.is_none() {
            *example = Some(what);
        }
    }

    /// Keeps the hash of a transaction the node acknowledged, for the audit.
    fn acknowledge(&self, hash: &str) {
        let mut bytes = [0u8; 32];
        if hex::decode_to_slice(hash, &mut bytes).is_ok() {
            self.acked.lock().push(bytes);
        } else {
            self.transport_error(format!("an acknowledgement with hash {hash:?}"));
        }
    }

    fn refuse(&self, code: &str, txs: u64, in_window: bool) {
        if in_window {
            *self.refused.lock().entry(code.to_string()).or_default() += txs;
        }
    }
}

// ---------------------------------------------------------------------------------------
// Senders.

struct SenderSetup {
    /// This connection's own client (its own connection pool).
    client: Client,
    /// With `--transport ws`: this connection's socket, over which requests go instead.
    link: Option<Arc<WsLink>>,
    /// The route: `/v1/transactions` or `/v1/transactions/batch`.
    path: &'static str,
    content_type: &'static str,
    single: bool,
    queue: mpsc::Receiver<Request>,
    connection: usize,
    connections: usize,
    in_flight: usize,
    /// Seconds between two requests of the whole run (0: closed loop).
    slot_secs: f64,
    t0: Instant,
    /// Send the next request only once every acknowledged transaction is committed.
    lockstep: bool,
}

async fn sender(setup: SenderSetup, shared: Arc<Shared>) {
    let SenderSetup {
        client,
        link,
        path,
        content_type,
        single,
        mut queue,
        connection,
        connections,
        in_flight,
        slot_secs,
        t0,
        lockstep,
    } = setup;
    let permits = Arc::new(Semaphore::new(in_flight));
    let mut k = 0u64;
    tokio::time::sleep_until(t0.into()).await;
    while let Some(request) = queue.recv().await {
        let slot = k * connections as u64 + connection as u64;
        k += 1;
        let due = (slot_secs > 0.0).then(|| t0 + Duration::from_secs_f64(slot as f64 * slot_secs));
        if due.is_some_and(|d| d >= shared.window.end) || Instant::now() >= shared.window.end {
            break;
        }
        if let Some(due) = due {
            tokio::time::sleep_until(due.into()).await;
        }
        let Ok(permit) = Arc::clone(&permits).acquire_owned().await else {
            break;
        };
        let sent = Instant::now();
        if sent >= shared.window.end {
            break;
        }
        if let Some(due) = due
            && sent > due + LATE_AFTER
        {
            shared.late.fetch_add(1, Ordering::AcqRel);
            let lag = u64::try_from((sent - due).as_micros()).unwrap_or(u64::MAX);
            shared.lag_max_micros.fetch_max(lag, Ordering::AcqRel);
        }
        let in_window = shared.window.contains(sent);
        {
            let mut takers = shared.takers.lock();
            for &id in &request.takers {
                takers.sent.insert(id, (sent, in_window));
                takers.order.push_back((sent, id));
            }
            if in_window {
                takers.sent_in_window += request.takers.len() as u64;
            }
            while let Some(&(at, id)) = takers.order.front() {
                if sent.duration_since(at) < TAKER_FORGET_AFTER {
                    break;
                }
                takers.order.pop_front();
                takers.sent.remove(&id);
            }
        }
        let txs = u64::from(request.txs);
        let orders = u64::from(request.orders);
        shared.submitted[0].fetch_add(txs, Ordering::AcqRel);
        shared.submitted[1].fetch_add(orders, Ordering::AcqRel);
        shared
            .watched_txs
            .fetch_add(u64::from(request.watched_txs), Ordering::AcqRel);
        if in_window {
            shared.window_submitted[0].fetch_add(txs, Ordering::AcqRel);
            shared.window_submitted[1].fetch_add(orders, Ordering::AcqRel);
            shared.window_requests.fetch_add(1, Ordering::AcqRel);
        }
        let exchange = exchange(Exchange {
            client: client.clone(),
            link: link.clone(),
            path,
            content_type,
            single,
            body: request.body,
            txs,
            orders,
            sent,
            in_window,
            shared: Arc::clone(&shared),
        });
        if lockstep {
            exchange.await;
            drop(permit);
            wait_committed(&shared).await;
        } else {
            tokio::spawn(async move {
                exchange.await;
                drop(permit);
            });
        }
    }
    // Wait for this connection's requests in flight.
    let _ = permits
        .acquire_many(u32::try_from(in_flight).unwrap_or(u32::MAX))
        .await;
}

/// One request and what its answer says.
struct Exchange {
    client: Client,
    link: Option<Arc<WsLink>>,
    path: &'static str,
    content_type: &'static str,
    single: bool,
    body: Vec<u8>,
    txs: u64,
    orders: u64,
    sent: Instant,
    in_window: bool,
    shared: Arc<Shared>,
}

async fn exchange(e: Exchange) {
    let Exchange {
        client,
        link,
        path,
        content_type,
        single,
        body,
        txs,
        orders,
        sent,
        in_window,
        shared,
    } = e;
    if let Some(link) = link {
        let answer = link.submit(body).await;
        let done = Instant::now();
        if in_window {
            let micros = u64::try_from((done - sent).as_micros()).unwrap_or(u64::MAX);
            stats::record(&mut shared.ack.lock(), micros);
        }
        let accepted = match answer {
            WsAnswer::Accepted(hash) => {
                shared.acknowledge(&hash);
                1
            }
            WsAnswer::Refused(code) => {
                shared.refuse(&code, txs, in_window);
                0
            }
            WsAnswer::Lost(why) => {
                shared.transport_error(why);
                0
            }
        };
        shared.acknowledged[0].fetch_add(accepted, Ordering::AcqRel);
        shared.acknowledged[1].fetch_add(accepted * orders, Ordering::AcqRel);
        if in_window {
            shared.window_acknowledged[0].fetch_add(accepted, Ordering::AcqRel);
            shared.window_acknowledged[1].fetch_add(accepted * orders, Ordering::AcqRel);
        }
        *shared.last_send_done.lock() = Some(done);
        return;
    }
    let answer = client.post_bytes(path, content_type, body).await;
    let done = Instant::now();
    if in_window {
        let micros = u64::try_from((done - sent).as_micros()).unwrap_or(u64::MAX);
        stats::record(&mut shared.ack.lock(), micros);
    }
    let per_tx_orders = orders / txs.max(1);
    let mut accepted = 0u64;
    match answer {
        Err(e) => shared.transport_error(e.to_string()),
        Ok(answer) if answer.status.is_success() => {
            if single {
                accepted = 1;
                match serde_json::from_slice::<SubmitResponse>(&answer.body) {
                    Ok(response) => shared.acknowledge(&response.hash),
                    Err(e) => shared.transport_error(format!("unreadable answer: {e}")),
                }
            } else {
                match serde_json::from_slice::<BatchResponse>(&answer.body) {
                    Ok(batch) => {
                        for item in batch.results {
                            match item {
                                BatchItem::Accepted(response) => {
                                    shared.acknowledge(&response.hash);
                                    accepted += 1;
                                }
                                BatchItem::Error { error } => {
                                    shared.refuse(error.code.as_str(), 1, in_window);
                                }
                            }
                        }
                    }
                    Err(e) => shared.transport_error(format!("unreadable answer: {e}")),
                }
            }
        }
        Ok(answer) => match serde_json::from_slice::<ErrorBody>(&answer.body) {
            Ok(e) => shared.refuse(e.code.as_str(), txs, in_window),
            Err(_) => shared.transport_error(format!(
                "HTTP {}: {}",
                answer.status,
                String::from_utf8_lossy(&answer.body[..answer.body.len().min(200)])
            )),
        },
    }
    shared.acknowledged[0].fetch_add(accepted, Ordering::AcqRel);
    shared.acknowledged[1].fetch_add(accepted * per_tx_orders, Ordering::AcqRel);
    if in_window {
        shared.window_acknowledged[0].fetch_add(accepted, Ordering::AcqRel);
        shared.window_acknowledged[1].fetch_add(accepted * per_tx_orders, Ordering::AcqRel);
    }
    *shared.last_send_done.lock() = Some(done);
}

/// What the node answered to one websocket `submit`.
#[derive(Debug)]
enum WsAnswer {
    /// With the transaction's hash.
    Accepted(String),
    Refused(String),
    /// The socket closed (or the answer never came) first.
    Lost(String),
}

/// One connection's websocket for `--transport ws`: submissions go out through a writer
/// task, and a reader task hands each `submitted`/`error` answer to the submission with
/// its id.
struct WsLink {
    frames: mpsc::UnboundedSender<ws::Frame>,
    pending: Arc<Mutex<HashMap<u64, tokio::sync::oneshot::Sender<WsAnswer>>>>,
    next_id: AtomicU64,
    binary: bool,
}

/// Longest a websocket submission waits for its answer.
const WS_ANSWER_TIMEOUT: Duration = Duration::from_secs(30);

impl WsLink {
    async fn open(ws_url: &str, binary: bool) -> anyhow::Result<Arc<WsLink>> {
        let connection = Connection::connect(ws_url).await?;
        let (mut sender, mut receiver) = connection.split();
        let (frames, mut queued) = mpsc::unbounded_channel::<ws::Frame>();
        tokio::spawn(async move {
            while let Some(frame) = queued.recv().await {
                if sender.send(frame).await.is_err() {
                    break;
                }
            }
        });
        let pending: Arc<Mutex<HashMap<u64, tokio::sync::oneshot::Sender<WsAnswer>>>> =
            Arc::default();
        let answers = Arc::clone(&pending);
        tokio::spawn(async move {
            let why = loop {
                let (id, answer) = match receiver.next().await {
                    None => break "the websocket closed".to_string(),
                    Some(Err(e)) => break e.to_string(),
                    Some(Ok(ServerMessage::Submitted { id, response })) => {
                        (id, WsAnswer::Accepted(response.hash))
                    }
                    Some(Ok(ServerMessage::Error {
                        id: Some(id), code, ..
                    })) => (id, WsAnswer::Refused(code.as_str().to_string())),
                    Some(Ok(_)) => continue,
                };
                if let Some(waiting) = answers.lock().remove(&id) {
                    let _ = waiting.send(answer);
                }
            };
            for (_, waiting) in answers.lock().drain() {
                let _ = waiting.send(WsAnswer::Lost(why.clone()));
            }
        });
        Ok(Arc::new(WsLink {
            frames,
            pending,
            next_id: AtomicU64::new(1),
            binary,
        }))
    }

    /// Sends one transaction (`body`: the REST body of one, JSON `{"tx":…}` or borsh)
    /// and waits for its answer.
    async fn submit(&self, body: Vec<u8>) -> WsAnswer {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let frame = if self.binary {
            let mut frame = id.to_le_bytes().to_vec();
            frame.extend_from_slice(&body);
            ws::Frame::binary(frame)
        } else {
            // `{"tx":"…"}` becomes `{"op":"submit","id":N,"tx":"…"}`.
            let text = String::from_utf8(body).expect("JSON bodies are UTF-8");
            let fields = text.strip_prefix('{').expect("a JSON object");
            ws::Frame::text(format!("{{\"op\":\"submit\",\"id\":{id},{fields}"))
        };
        let (answer, answered) = tokio::sync::oneshot::channel();
        self.pending.lock().insert(id, answer);
        if self.frames.send(frame).is_err() {
            self.pending.lock().remove(&id);
            return WsAnswer::Lost("the websocket writer stopped".into());
        }
        match tokio::time::timeout(WS_ANSWER_TIMEOUT, answered).await {
            Ok(Ok(answer)) => answer,
            Ok(Err(_)) => WsAnswer::Lost("the websocket reader stopped".into()),
            Err(_) => {
                self.pending.lock().remove(&id);
                WsAnswer::Lost(format!(
                    "no answer to submit {id} within {WS_ANSWER_TIMEOUT:?}"
                ))
            }
        }
    }
}

/// Lock step: waits until every acknowledged transaction is in a block, or the window
/// ends.
async fn wait_committed(shared: &Shared) {
    loop {
        let notified = shared.block_seen.notified();
        let acknowledged = shared.acknowledged[0].load(Ordering::Acquire);
        let committed = shared.committed.load(Ordering::Acquire);
        if committed >= acknowledged || Instant::now() >= shared.window.end {
            return;
        }
        // A block can be missed between the check and the wait: look again now and then.
        let _ = tokio::time::timeout(Duration::from_millis(100), notified).await;
    }
}

// ---------------------------------------------------------------------------------------
// Websocket watchers.

/// Opens `count` websocket clients subscribed to market 0's trades and book and holds
/// them until `stop`: reading and discarding everything (unparsed: the cost measured is
/// the node's), or (`silent`) never reading. Returns how many were still open at the end
/// (a reader sees its close; a silent one counts as open).
async fn hold_subscribers(
    ws_url: String,
    count: usize,
    silent: bool,
    mut stop: tokio::sync::watch::Receiver<bool>,
) -> anyhow::Result<usize> {
    let subscriptions = [
        ws::market_channel(ChannelName::Trades, 0),
        ws::market_channel(ChannelName::Book, 0),
    ];
    let mut tasks = Vec::with_capacity(count);
    let mut held = Vec::new();
    for _ in 0..count {
        let socket = subscribe(&ws_url, &subscriptions).await?;
        if silent {
            held.push(socket);
            continue;
        }
        let mut stop = stop.clone();
        tasks.push(tokio::spawn(async move {
            let mut socket = socket;
            loop {
                tokio::select! {
                    _ = stop.wait_for(|s| *s) => return true,
                    next = socket.next_text() => match next {
                        Some(Ok(_)) => {}
                        _ => return false,
                    },
                }
            }
        }));
    }
    let _ = stop.wait_for(|s| *s).await;
    let mut open = held.len();
    for task in tasks {
        if task.await.unwrap_or(false) {
            open += 1;
        }
    }
    Ok(open)
}

/// Connects and subscribes; returns once every subscription is confirmed.
async fn subscribe(ws_url: &str, subscriptions: &[SubscribeArgs]) -> anyhow::Result<Connection> {
    let mut socket = Connection::connect(ws_url).await?;
    socket
        .subscribe(subscriptions)
        .await
        .context("subscribing")?;
    Ok(socket)
}

/// Reads `socket` until it closes or `stop` is set, handing each message and its
/// arrival time to `on_message`.
async fn watch(
    mut socket: Connection,
    mut stop: tokio::sync::watch::Receiver<bool>,
    shared: Arc<Shared>,
    what: &'static str,
    mut on_message: impl FnMut(ServerMessage<'static>, Instant, &Shared) -> Option<String> + Send,
) {
    loop {
        let message = tokio::select! {
            _ = stop.wait_for(|stop| *stop) => break,
            m = socket.next() => m,
        };
        let arrived = Instant::now();
        let problem = match message {
            None => break,
            Some(Ok(message)) => match on_message(message, arrived, &shared) {
                None => continue,
                Some(problem) => format!("{what} websocket: {problem}"),
            },
            Some(Err(e @ ClientError::Unexpected { .. })) => {
                format!("{what} websocket: unreadable message: {e}")
            }
            Some(Err(e)) => format!("{what} websocket failed: {e}"),
        };
        shared.notes.lock().push(problem);
        break;
    }
    socket.close().await;
}

/// The notices that end a channel: after one, what the channel counts is incomplete.
fn ending(message: &ServerMessage<'_>) -> Option<&'static str> {
    match message {
        ServerMessage::Lagged { .. } => Some("lagged"),
        ServerMessage::Closing { .. } => Some("closing"),
        ServerMessage::Error { .. } => Some("error"),
        _ => None,
    }
}

fn on_trades(message: ServerMessage<'static>, arrived: Instant, shared: &Shared) -> Option<String> {
    let fills = match message {
        ServerMessage::Trades { data, .. } => data,
        other => {
            return ending(&other).map(|kind| format!("{kind} (fills after this are not counted)"));
        }
    };
    let count = fills.len() as u64;
    shared.fills.fetch_add(count, Ordering::AcqRel);
    if shared.window.contains(arrived) {
        shared.window_fills.fetch_add(count, Ordering::AcqRel);
    }
    {
        let mut takers = shared.takers.lock();
        let mut fill = shared.fill.lock();
        for f in fills.iter() {
            if let Some((sent, in_window)) = takers.sent.remove(&f.taker_order_id)
                && in_window
            {
                takers.filled_in_window += 1;
                let micros = u64::try_from((arrived - sent).as_micros()).unwrap_or(u64::MAX);
                stats::record(&mut fill, micros);
            }
        }
    }
    if let Some(makers) = &shared.lobster_makers {
        let mut lobster_fills = shared.lobster_fills.lock();
        for f in fills.iter() {
            if let Some(&(market, lobster_id)) = makers.get(&f.maker_order_id) {
                debug_assert_eq!(market, f.market);
                let lot = shared.lot_sizes.get(&market).copied().unwrap_or(1).max(1);
                lobster_fills
                    .entry((market, lobster_id))
                    .or_default()
                    .push(f.qty / lot);
            }
        }
    }
    None
}

fn on_blocks(message: ServerMessage<'static>, arrived: Instant, shared: &Shared) -> Option<String> {
    let block = match message {
        ServerMessage::Blocks { data, .. } => data,
        other => {
            return ending(&other)
                .map(|kind| format!("{kind} (blocks after this are not counted)"));
        }
    };
    let txs = u64::from(block.transaction_count);
    shared.blocks.lock().push(BlockSeen {
        arrived,
        timestamp_ms: block.timestamp_ms,
        txs,
    });
    shared.committed.fetch_add(txs, Ordering::AcqRel);
    shared.block_seen.notify_waiters();
    None
}

fn on_orders(
    message: ServerMessage<'static>,
    _arrived: Instant,
    shared: &Shared,
) -> Option<String> {
    let updates = match message {
        ServerMessage::Orders { data, .. } => data,
        other => {
            return ending(&other)
                .map(|kind| format!("{kind} (rejects after this are not counted)"));
        }
    };
    let mut reasons = shared.reasons.lock();
    for update in updates.into_owned() {
        let reason = match update.event {
            UpdateKind::Refused { refused } if update.action.is_none() => {
                Some(format!("{refused} (whole tx)"))
            }
            UpdateKind::Refused { refused } => Some(refused),
            UpdateKind::Book(EventJson::Rejected { code, .. }) => Some(code),
            UpdateKind::Book(_) => None,
            UpdateKind::Dropped { dropped, rule } => {
                shared.dropped_seen.fetch_add(1, Ordering::AcqRel);
                Some(format!("{dropped} (dropped: {rule})"))
            }
        };
        if let Some(reason) = reason {
            *reasons.entry(reason).or_default() += 1;
        }
    }
    None
}

// ---------------------------------------------------------------------------------------
// Metrics.

#[derive(Clone, Copy, Debug, Default)]
struct MetricsSample {
    at: Option<Instant>,
    cpu_seconds: Option<f64>,
    rss_bytes: Option<f64>,
    transactions: Option<f64>,
    rejected: Option<f64>,
    fills: Option<f64>,
    mempool: Option<f64>,
}

fn parse_metrics(text: &str, at: Instant) -> MetricsSample {
    let mut sample = MetricsSample {
        at: Some(at),
        ..MetricsSample::default()
    };
    for line in text.lines() {
        if line.starts_with('#') {
            continue;
        }
        let mut parts = line.split_whitespace();
        let (Some(name), Some(value)) = (parts.next(), parts.next()) else {
            continue;
        };
        let Ok(value) = value.parse::<f64>() else {
            continue;
        };
        let slot = match name {
            "process_cpu_seconds_total" => &mut sample.cpu_seconds,
            "process_resident_memory_bytes" => &mut sample.rss_bytes,
            "clobchain_transactions_total" => &mut sample.transactions,
            "clobchain_transactions_rejected_total" => &mut sample.rejected,
            "clobchain_fills_total" => &mut sample.fills,
            "clobchain_mempool" => &mut sample.mempool,
            _ => continue,
        };
        *slot = Some(value);
    }
    sample
}

async fn scrape(client: &Client) -> Option<MetricsSample> {
    let response = client.raw(Method::GET, "/metrics", &[], None).await.ok()?;
    // As before: whatever the status, read what came (an error page has no metrics).
    let text = std::str::from_utf8(&response.body).ok()?;
    Some(parse_metrics(text, Instant::now()))
}

// ---------------------------------------------------------------------------------------
// The run.

/// Requests one connection may have in flight while each trader's nonces stay close
/// together: each request holds about `batch × connections / traders` transactions of
/// each of its traders, and the chain takes a trader's nonces in any order while fewer
/// than `NONCE_RANGES_MAX` gaps lie above the lowest (a quarter of them here, for margin).
fn in_flight_auto(batch: usize, connections: usize, traders: usize) -> usize {
    let per_trader = (batch * connections).div_ceil(traders.max(1)).max(1);
    (markets::limits::NONCE_RANGES_MAX / 4 / per_trader).clamp(1, IN_FLIGHT_MAX)
}

pub async fn run(
    args: &LoadtestArgs,
    notes: &mut Vec<String>,
) -> anyhow::Result<(NetworkReport, Option<LobsterReport>)> {
    let (base, handle) = match (&args.node, args.spawn_node, args.spawn_testnet) {
        (Some(url), _, _) => (url.trim_end_matches('/').to_string(), NodeHandle::External),
        (None, true, _) => spawn_node(args).await?,
        (None, false, Some(n)) => spawn_testnet(args, n).await?,
        (None, false, None) => anyhow::bail!("--node URL, --spawn-node or --spawn-testnet N"),
    };
    let testnet_dir = match &handle {
        NodeHandle::Testnet { data, .. } => Some(data.clone()),
        _ => None,
    };
    let result = run_against(args, &base, handle.kind(), testnet_dir, notes).await;
    let stopped = handle.stop().await;
    let result = result?;
    stopped?;
    Ok(result)
}

async fn run_against(
    args: &LoadtestArgs,
    base: &str,
    node_kind: &str,
    testnet_dir: Option<PathBuf>,
    notes: &mut Vec<String>,
) -> anyhow::Result<(NetworkReport, Option<LobsterReport>)> {
    let setup = Setup::read(args, base).await?;
    let shape = Shape::of(args, notes)?;
    let (source, plan) = plan(args, &setup, &shape)?;
    let watched = args.watch_traders.min(args.traders);
    let (producer, queues) = start_producer(args, source, &plan, &setup, &shape, watched).await?;

    // Watchers, subscribed before anything is sent.
    let ws_url = setup.client.ws_url();
    let sockets = open_sockets(&ws_url, &setup, watched).await?;
    let first_metrics = scrape(&setup.client).await;
    if first_metrics.is_none() {
        notes.push("the node's /metrics could not be read: no CPU or memory figures".into());
    }
    let t0 = Instant::now() + Duration::from_millis(50);
    let window_start = t0 + Duration::from_secs_f64(shape.warmup);
    let shared = Arc::new(Shared::new(
        Window {
            start: window_start,
            end: window_start + Duration::from_secs_f64(args.duration),
        },
        plan.lobster.as_ref(),
        &setup.specs,
    ));
    let (stop_watchers, stopped) = tokio::sync::watch::channel(false);
    let watchers = spawn_watchers(sockets, &shared, &stopped);
    let subscribers = tokio::spawn(hold_subscribers(
        ws_url,
        args.ws_subscribers,
        args.ws_subscribers_silent,
        stopped,
    ));
    let senders = spawn_senders(args, base, &shape, queues, &shared, t0).await?;
    let tasks = Tasks {
        senders,
        watchers,
        stop_watchers,
        subscribers,
        producer,
    };

    let total_secs = shape.warmup + args.duration;
    let killer = args.kill_validator.zip(testnet_dir).map(|(k, dir)| {
        let at = args.kill_at.unwrap_or(shape.warmup + args.duration / 3.0);
        let pid_file = dir.join(format!("v{k}")).join("validator.pid");
        tokio::spawn(kill_validator_at(t0, at, k, pid_file))
    });
    let mut seen = run_window(
        args,
        &setup.client,
        &shared,
        &tasks,
        t0,
        total_secs,
        first_metrics,
    )
    .await;
    if let Some(killer) = killer {
        match killer.await {
            Ok(Ok(note)) => notes.push(note),
            Ok(Err(e)) => notes.push(format!("--kill-validator: {e:#}")),
            Err(e) => notes.push(format!("--kill-validator: {e}")),
        }
    }
    let counters = Arc::clone(&tasks.producer.counters);
    drain(
        args,
        &setup.client,
        setup.health.height + 1,
        &shared,
        tasks,
        &mut seen.samples,
        notes,
    )
    .await?;
    let finished = Finished {
        args,
        base,
        node_kind,
        setup: &setup,
        shape: &shape,
        shared: &shared,
        counters: &counters,
        seen: &seen,
        watched,
    };
    Ok(report(&finished, plan.lobster, notes))
}

/// `kill -9` of a spawned testnet's validator `index`, `at` seconds after `t0`.
async fn kill_validator_at(
    t0: Instant,
    at: f64,
    index: usize,
    pid_file: PathBuf,
) -> anyhow::Result<String> {
    tokio::time::sleep_until((t0 + Duration::from_secs_f64(at.max(0.0))).into()).await;
    let pid = std::fs::read_to_string(&pid_file)
        .with_context(|| format!("reading {}", pid_file.display()))?;
    let status = std::process::Command::new("kill")
        .args(["-9", pid.trim()])
        .status()?;
    anyhow::ensure!(status.success(), "kill -9 {} failed", pid.trim());
    Ok(format!(
        "validator {index} (pid {}) was killed with kill -9 at {at:.1} s into the run",
        pid.trim()
    ))
}

/// What the run learns from the node before it starts.
struct Setup {
    client: Client,
    health: HealthJson,
    specs: Vec<MarketSpec>,
    keys: Arc<Vec<SigningKey>>,
    signers: Vec<[u8; 32]>,
    nonce_start: Vec<u64>,
}

impl Setup {
    async fn read(args: &LoadtestArgs, base: &str) -> anyhow::Result<Setup> {
        let client = Client::new(base)?;
        let health = client.health().await?;
        let node_markets = client.markets().await?;
        let market_count = if args.workload == WorkloadKind::Lobster {
            2
        } else {
            args.markets as usize
        };
        anyhow::ensure!(
            node_markets.len() >= market_count,
            "the node has {} markets; the workload needs {market_count}",
            node_markets.len()
        );
        let specs: Vec<MarketSpec> = node_markets[..market_count]
            .iter()
            .map(|m| MarketSpec {
                id: m.id,
                tick_size: m.tick_size,
                lot_size: m.lot_size,
                price_ticks_max: m.price_max / m.tick_size.max(1),
            })
            .collect();
        let keys: Arc<Vec<SigningKey>> =
            Arc::new((0..args.traders).map(markets::dev::key).collect());
        let signers: Vec<[u8; 32]> = keys.iter().map(|k| k.verifying_key().to_bytes()).collect();
        let nonce_start = nonce_starts(&client, &signers).await?;
        Ok(Setup {
            client,
            health,
            specs,
            keys,
            signers,
            nonce_start,
        })
    }
}

/// How the load is sent.
struct Shape {
    lobster_mode: bool,
    connections: usize,
    /// Requests in flight on each connection, at most.
    in_flight: usize,
    warmup: f64,
    actions_per_tx: usize,
}

impl Shape {
    fn of(args: &LoadtestArgs, notes: &mut Vec<String>) -> anyhow::Result<Shape> {
        let traders = usize::try_from(args.traders)?;
        anyhow::ensure!(
            args.transport == Transport::Rest || args.batch == 1,
            "--transport ws sends one transaction per message: use --batch 1"
        );
        if args.workload == WorkloadKind::Lobster {
            notes.push(format!(
                "LOBSTER: one connection, one request in flight and no warm-up, so the node \
                 sees the commands in the replay's order; pacing {:?}{}",
                args.lobster_pacing,
                if args.lobster_pacing == LobsterPacing::Sequential {
                    " (each request is one run that a block executes as Nasdaq's sequence, \
                     sent once the previous one is committed)"
                } else {
                    ""
                }
            ));
            return Ok(Shape {
                lobster_mode: true,
                connections: 1,
                in_flight: 1,
                warmup: 0.0,
                actions_per_tx: 1,
            });
        }
        let connections = args.connections.min(traders);
        if connections < args.connections {
            notes.push(format!(
                "connections lowered to {connections}: one trader at least each"
            ));
        }
        // Closed loop (no --rate): one request per connection at a time, so "as fast as
        // possible" means as fast as the node answers. Open loop: enough in flight to
        // keep the schedule, within what keeps nonces in the replay window.
        let in_flight = args.in_flight.unwrap_or_else(|| {
            if args.rate == 0 {
                1
            } else {
                in_flight_auto(args.batch, connections, traders)
            }
        });
        Ok(Shape {
            lobster_mode: false,
            connections,
            in_flight: in_flight.max(1),
            warmup: args.warmup,
            actions_per_tx: args.actions_per_tx.unwrap_or(1),
        })
    }
}

/// How much to send and to sign ahead.
struct Plan {
    lobster: Option<Lobster>,
    /// Transactions to generate in all (`None`: until stopped).
    total: Option<u64>,
    /// Transactions to have signed before the window opens.
    prefill: u64,
    /// Requests each connection's queue holds.
    per_queue: usize,
}

/// The workload's source, and how much of it to send and sign ahead.
fn plan(args: &LoadtestArgs, setup: &Setup, shape: &Shape) -> anyhow::Result<(Source, Plan)> {
    let chain_id = markets::ChainId(setup.health.chain_id);
    let mut lobster_requests = 0usize;
    let (source, lobster) = if shape.lobster_mode {
        let lobster = Lobster::build(chain_id, &setup.signers, &setup.nonce_start, &setup.specs)?;
        let requests: Vec<usize> = match args.lobster_pacing {
            LobsterPacing::Sequential => lobster
                .segment_ranges(args.batch)
                .into_iter()
                .map(|r| r.len())
                .collect(),
            LobsterPacing::Free => lobster
                .stream
                .chunks(args.batch)
                .map(<[Planned]>::len)
                .collect(),
        };
        lobster_requests = requests.len();
        let source = Source::Lobster {
            stream: lobster.stream.clone().into_iter(),
            requests: requests.into_iter(),
        };
        (source, Some(lobster))
    } else {
        let mix = Mix::new(
            args.seed,
            MixConfig {
                chain_id,
                signers: setup.signers.clone(),
                nonce_start: setup.nonce_start.clone(),
                markets: setup.specs.clone(),
                hot_per_mille: args.hot_skew_per_mille(),
                actions_per_tx: shape.actions_per_tx,
            },
        );
        (Source::Mix(Box::new(mix)), None)
    };
    let total: Option<u64> = match (&lobster, args.rate) {
        (Some(l), _) => Some(l.stream.len() as u64),
        // As fast as possible: only what was signed ahead is sent (the run ends early if
        // it runs out), so the tester never signs while it measures.
        (None, 0) => Some(args.presign_txs()),
        (None, rate) => {
            let orders = rate as f64 * (shape.warmup + args.duration);
            Some(
                stats::whole((orders / shape.actions_per_tx as f64).ceil())
                    + (args.batch * shape.connections) as u64,
            )
        }
    };
    let prefill = total.map_or(args.presign_txs(), |t| t.min(args.presign_txs()));
    // Requests each queue holds: enough for the prefill (the LOBSTER stream is sent
    // whole, in requests of varying sizes).
    let per_queue = if shape.lobster_mode {
        lobster_requests.max(2)
    } else {
        usize::try_from(prefill)
            .unwrap_or(usize::MAX)
            .div_ceil(args.batch * shape.connections)
            .max(2)
    };
    let plan = Plan {
        lobster,
        total,
        prefill,
        per_queue,
    };
    Ok((source, plan))
}

/// The producer thread, and what it shares with the run.
struct Producer {
    thread: std::thread::JoinHandle<anyhow::Result<()>>,
    counters: Arc<ProducerCounters>,
    stop: Arc<AtomicBool>,
}

/// Starts the producer and waits until it has signed ahead; returns it and each
/// connection's queue.
async fn start_producer(
    args: &LoadtestArgs,
    source: Source,
    plan: &Plan,
    setup: &Setup,
    shape: &Shape,
    watched: u64,
) -> anyhow::Result<(Producer, Vec<mpsc::Receiver<Request>>)> {
    let mut receivers = Vec::new();
    let mut queues = Vec::new();
    for _ in 0..shape.connections {
        let (tx, rx) = mpsc::channel(plan.per_queue);
        queues.push(tx);
        receivers.push(rx);
    }
    let stop = Arc::new(AtomicBool::new(false));
    let counters = Arc::new(ProducerCounters {
        generated_txs: AtomicU64::new(0),
        ready: AtomicBool::new(false),
        exhausted: AtomicBool::new(false),
    });
    let producer_setup = ProducerSetup {
        source,
        keys: Arc::clone(&setup.keys),
        queues,
        batch: args.batch,
        body: args.body,
        prefill: plan.prefill,
        total: plan.total,
        watched,
        stop: Arc::clone(&stop),
        counters: Arc::clone(&counters),
    };
    let thread = std::thread::Builder::new()
        .name("lt-producer".into())
        .spawn(move || produce(producer_setup))?;

    // Sign ahead.
    let bar = super::progress_bar(args, plan.prefill, "txs signed ahead");
    while !counters.ready.load(Ordering::Acquire) {
        if thread.is_finished() {
            break;
        }
        bar.set_position(counters.generated_txs.load(Ordering::Acquire));
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    bar.finish_and_clear();
    if thread.is_finished() && !counters.ready.load(Ordering::Acquire) {
        return match thread.join() {
            Ok(Err(e)) => Err(e.context("the transaction producer failed")),
            _ => Err(anyhow::anyhow!("the transaction producer stopped")),
        };
    }
    let producer = Producer {
        thread,
        counters,
        stop,
    };
    Ok((producer, receivers))
}

/// The websocket connections that measure.
struct Sockets {
    trades: Connection,
    blocks: Connection,
    orders: Vec<Connection>,
}

/// Subscribes to every market's trades, to the blocks, and to the watched traders'
/// orders.
async fn open_sockets(ws_url: &str, setup: &Setup, watched: u64) -> anyhow::Result<Sockets> {
    let trades_subs: Vec<SubscribeArgs> = setup
        .specs
        .iter()
        .map(|m| ws::market_channel(ChannelName::Trades, m.id))
        .collect();
    let trades = subscribe(ws_url, &trades_subs).await?;
    let blocks = subscribe(ws_url, &[ws::blocks_channel()]).await?;
    let mut orders = Vec::new();
    let watched_signers = &setup.signers[..usize::try_from(watched)?];
    for chunk in watched_signers.chunks(SUBSCRIPTIONS_PER_SOCKET) {
        let subs: Vec<SubscribeArgs> = chunk
            .iter()
            .map(|s| ws::account_channel(ChannelName::Orders, s))
            .collect();
        orders.push(subscribe(ws_url, &subs).await?);
    }
    Ok(Sockets {
        trades,
        blocks,
        orders,
    })
}

fn spawn_watchers(
    sockets: Sockets,
    shared: &Arc<Shared>,
    stopped: &tokio::sync::watch::Receiver<bool>,
) -> Vec<tokio::task::JoinHandle<()>> {
    let mut watchers = Vec::new();
    watchers.push(tokio::spawn(watch(
        sockets.trades,
        stopped.clone(),
        Arc::clone(shared),
        "trades",
        on_trades,
    )));
    watchers.push(tokio::spawn(watch(
        sockets.blocks,
        stopped.clone(),
        Arc::clone(shared),
        "blocks",
        on_blocks,
    )));
    for socket in sockets.orders {
        watchers.push(tokio::spawn(watch(
            socket,
            stopped.clone(),
            Arc::clone(shared),
            "orders",
            on_orders,
        )));
    }
    watchers
}

async fn spawn_senders(
    args: &LoadtestArgs,
    base: &str,
    shape: &Shape,
    queues: Vec<mpsc::Receiver<Request>>,
    shared: &Arc<Shared>,
    t0: Instant,
) -> anyhow::Result<Vec<tokio::task::JoinHandle<()>>> {
    let single = args.batch == 1;
    let path = if single {
        "/v1/transactions"
    } else {
        "/v1/transactions/batch"
    };
    let slot_secs = if args.rate > 0 {
        (args.batch * shape.actions_per_tx) as f64 / args.rate as f64
    } else {
        0.0
    };
    let mut senders = Vec::new();
    for (connection, queue) in queues.into_iter().enumerate() {
        // Its own client: its own connection pool, as one trading client would have.
        let client = Client::new(base)?;
        let link = match args.transport {
            Transport::Rest => None,
            Transport::Ws => {
                Some(WsLink::open(&client.ws_url(), args.body == BodyKind::Binary).await?)
            }
        };
        let setup = SenderSetup {
            client,
            link,
            path,
            content_type: args.body.content_type(),
            single,
            queue,
            connection,
            connections: shape.connections,
            in_flight: shape.in_flight,
            slot_secs,
            t0,
            lockstep: shape.lobster_mode && args.lobster_pacing == LobsterPacing::Sequential,
        };
        senders.push(tokio::spawn(sender(setup, Arc::clone(shared))));
    }
    Ok(senders)
}

/// The tasks and the thread of a run in progress.
struct Tasks {
    senders: Vec<tokio::task::JoinHandle<()>>,
    watchers: Vec<tokio::task::JoinHandle<()>>,
    stop_watchers: tokio::sync::watch::Sender<bool>,
    subscribers: tokio::task::JoinHandle<anyhow::Result<usize>>,
    producer: Producer,
}

/// What was seen each second: the node's metrics and the run's cumulative counts.
struct Seen {
    samples: Vec<MetricsSample>,
    /// Submitted orders, acknowledged orders, committed transactions, fills.
    cumulative: Vec<(Instant, [u64; 4])>,
    /// Transactions signed before the window opened.
    presigned: u64,
}

/// The run's cumulative counts now (see [`Seen::cumulative`]).
fn snapshot(shared: &Shared) -> [u64; 4] {
    let committed: u64 = shared.blocks.lock().iter().map(|b| b.txs).sum();
    [
        shared.submitted[1].load(Ordering::Acquire),
        shared.acknowledged[1].load(Ordering::Acquire),
        committed,
        shared.fills.load(Ordering::Acquire),
    ]
}

/// Each second until the window ends (or every sender is done): a point of the
/// timeline, a metrics sample, the progress bar.
async fn run_window(
    args: &LoadtestArgs,
    client: &Client,
    shared: &Shared,
    tasks: &Tasks,
    t0: Instant,
    total_secs: f64,
    first_metrics: Option<MetricsSample>,
) -> Seen {
    let bar = super::progress_bar(args, stats::whole(total_secs.ceil()), "s");
    let mut samples: Vec<MetricsSample> = first_metrics.into_iter().collect();
    let mut cumulative: Vec<(Instant, [u64; 4])> = Vec::new();
    tokio::time::sleep_until(t0.into()).await;
    // What is signed from here on is signed during the run.
    let presigned = tasks
        .producer
        .counters
        .generated_txs
        .load(Ordering::Acquire);
    cumulative.push((Instant::now(), snapshot(shared)));
    let mut tick =
        tokio::time::interval_at((t0 + Duration::from_secs(1)).into(), Duration::from_secs(1));
    loop {
        tick.tick().await;
        let now = Instant::now();
        if let Some(sample) = scrape(client).await {
            samples.push(sample);
        }
        let counts = snapshot(shared);
        let previous = cumulative.last().map_or([0; 4], |c| c.1);
        let since = cumulative.last().map_or(1.0, |c| (now - c.0).as_secs_f64());
        cumulative.push((now, counts));
        bar.set_position(stats::whole((now - t0).as_secs_f64()));
        bar.set_message(format!(
            "{:.0} orders/s acknowledged, {:.0} fills/s, submit→fill p99 {:.1} ms",
            (counts[1] - previous[1]) as f64 / since,
            (counts[3] - previous[3]) as f64 / since,
            shared.fill.lock().value_at_quantile(0.99) as f64 / 1000.0
        ));
        let senders_done = tasks
            .senders
            .iter()
            .all(tokio::task::JoinHandle::is_finished);
        if now >= shared.window.end || senders_done {
            break;
        }
    }
    bar.finish_and_clear();
    Seen {
        samples,
        cumulative,
        presigned,
    }
}

/// Drain: the last answers, then the mempool's last blocks and their fills; then every
/// task and the producer are stopped.
async fn drain(
    args: &LoadtestArgs,
    client: &Client,
    from_height: u64,
    shared: &Shared,
    tasks: Tasks,
    samples: &mut Vec<MetricsSample>,
    notes: &mut Vec<String>,
) -> anyhow::Result<()> {
    for s in tasks.senders {
        let _ = s.await;
    }
    let sending_ended = Instant::now();
    tasks.producer.stop.store(true, Ordering::Release);
    let drain_until = sending_ended + Duration::from_secs_f64(args.drain.max(0.0));
    let acknowledged = shared.acknowledged[0].load(Ordering::Acquire);
    loop {
        let committed: u64 = shared.blocks.lock().iter().map(|b| b.txs).sum();
        let sample = scrape(client).await;
        let empty = sample.and_then(|s| s.mempool).is_none_or(|m| m == 0.0);
        if let Some(sample) = sample {
            samples.push(sample);
        }
        if (empty && committed >= acknowledged) || Instant::now() >= drain_until {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // The trades of the last block travel with it: give the socket a moment.
    tokio::time::sleep(Duration::from_millis(200)).await;
    match audit(client, shared, from_height).await {
        Ok(audit) => {
            let (line, error) = audit.line();
            if error {
                notes.push(format!("ERROR: {line}"));
                eprintln!("ERROR: {line}");
            }
            *shared.audit.lock() = Some(audit);
        }
        Err(e) => notes.push(format!(
            "the audit of acknowledged transactions failed: {e:#}"
        )),
    }
    tasks.stop_watchers.send_replace(true);
    for w in tasks.watchers {
        let _ = tokio::time::timeout(Duration::from_secs(5), w).await;
    }
    match tokio::time::timeout(Duration::from_secs(10), tasks.subscribers).await {
        Ok(Ok(Ok(0))) | Err(_) | Ok(Err(_)) => {}
        Ok(Ok(Ok(held))) => notes.push(format!(
            "{held} of {} extra websocket subscribers were still open at the end",
            args.ws_subscribers
        )),
        Ok(Ok(Err(e))) => notes.push(format!("extra websocket subscribers: {e:#}")),
    }
    let thread = tasks.producer.thread;
    let producer_result = tokio::task::spawn_blocking(move || thread.join()).await?;
    match producer_result {
        Ok(Ok(())) => {}
        Ok(Err(e)) => notes.push(format!("the producer failed: {e:#}")),
        Err(_) => notes.push("the producer panicked".into()),
    }
    if let Some(sample) = scrape(client).await {
        samples.push(sample);
    }
    Ok(())
}

/// Status queries the audit makes at most; past them, acknowledged transactions not in
/// a block are counted `unchecked`.
const AUDIT_QUERIES_MAX: usize = 20_000;

/// Accounts for every acknowledged transaction: the blocks from `from_height` to the
/// node's last hold the committed ones; each other is asked for its status.
async fn audit(client: &Client, shared: &Shared, from_height: u64) -> anyhow::Result<Audit> {
    let acked: Vec<[u8; 32]> = shared.acked.lock().clone();
    let last = client.health().await?.height;
    let mut in_blocks = std::collections::HashSet::new();
    for height in from_height..=last {
        let block = client.block(height).await?;
        for hash in block.transactions.unwrap_or_default() {
            let mut bytes = [0u8; 32];
            if hex::decode_to_slice(&hash, &mut bytes).is_ok() {
                in_blocks.insert(bytes);
            }
        }
    }
    let mut audit = Audit {
        acknowledged: acked.len() as u64,
        ..Audit::default()
    };
    let mut asked = 0;
    let mut seen = std::collections::HashSet::new();
    for hash in acked {
        if !seen.insert(hash) {
            // Acknowledged twice (a resend answered `duplicate`): one transaction.
            audit.acknowledged -= 1;
            continue;
        }
        if in_blocks.contains(&hash) {
            audit.committed += 1;
            continue;
        }
        if asked == AUDIT_QUERIES_MAX {
            audit.unchecked += 1;
            continue;
        }
        asked += 1;
        match client.transaction(&hex::encode(hash)).await {
            Ok(status) => match status.status {
                TxStatusKind::Committed | TxStatusKind::Rejected => audit.committed += 1,
                TxStatusKind::Pending => audit.pending += 1,
                TxStatusKind::Dropped => {
                    audit.dropped += 1;
                    let why = format!(
                        "{} ({})",
                        status.code.unwrap_or_default(),
                        status.rule.unwrap_or_default()
                    );
                    *audit.dropped_by_code.entry(why).or_default() += 1;
                }
            },
            Err(ClientError::Api { status: 404, .. }) => audit.lost += 1,
            // An answer that says nothing of it (a timeout, a 503): not checked.
            Err(_) => audit.unchecked += 1,
        }
    }
    Ok(audit)
}

/// Everything the report is made from.
struct Finished<'a> {
    args: &'a LoadtestArgs,
    base: &'a str,
    node_kind: &'a str,
    setup: &'a Setup,
    shape: &'a Shape,
    shared: &'a Shared,
    counters: &'a ProducerCounters,
    seen: &'a Seen,
    watched: u64,
}

fn report(
    f: &Finished<'_>,
    lobster: Option<Lobster>,
    notes: &mut Vec<String>,
) -> (NetworkReport, Option<LobsterReport>) {
    let window_end = window_end(f, lobster.is_some(), notes);
    let (report, orders_per_tx) = network_report(f, window_end);
    notes.push(format!(
        "committed orders/s is committed tx/s × {orders_per_tx:.1}, the orders per \
         acknowledged transaction (blocks report transactions, not orders)"
    ));
    if report.signed_during_run_txs > 0 {
        notes.push(format!(
            "{} transactions were signed during the run by the background producer (more than \
             --presign {}): signing took CPU beside the node",
            report.signed_during_run_txs,
            f.args.presign_txs()
        ));
    }
    if report
        .node_process
        .as_ref()
        .is_some_and(|s| s.includes_tester)
    {
        notes.push("the node runs inside the tester's process: CPU and memory are of both".into());
    }
    if f.setup.health.height > 0 {
        notes.push(format!(
            "the node was at height {} when the run began",
            f.setup.health.height
        ));
    }
    notes.extend(f.shared.notes.lock().drain(..));
    let lobster_report = lobster.map(|l| {
        let fills = f.shared.lobster_fills.lock().clone();
        lobster_report(&l, &fills, l.stream.len() as u64, report.run_submitted_txs)
    });
    (report, lobster_report)
}

/// The window's end: as planned, or when the workload ran out, if its last answer came
/// clearly before that (a fixed-rate run generates a round more than it needs, so it
/// never does).
fn window_end(f: &Finished<'_>, lobster: bool, notes: &mut Vec<String>) -> Instant {
    let window = &f.shared.window;
    let exhausted = f.counters.exhausted.load(Ordering::Acquire);
    let last_done = f.shared.last_send_done.lock().unwrap_or(window.end);
    let tolerance = Duration::from_secs_f64((f.args.duration * 0.02).max(0.25));
    let ran_out = exhausted && last_done + tolerance < window.end;
    if !ran_out {
        return window.end;
    }
    notes.push(format!(
        "the workload ran out {:.1} s into the window{}: the window is shortened to it",
        last_done
            .saturating_duration_since(window.start)
            .as_secs_f64(),
        if lobster {
            " (the whole replay was sent)"
        } else {
            "; raise --presign for a longer as-fast-as-possible run"
        }
    ));
    last_done
}

/// The report's figures over the window `[start, window_end)`, and the orders per
/// acknowledged transaction they assume.
fn network_report(f: &Finished<'_>, window_end: Instant) -> (NetworkReport, f64) {
    let (args, shared) = (f.args, f.shared);
    let window = &shared.window;
    let window_secs = window_end
        .saturating_duration_since(window.start)
        .as_secs_f64()
        .max(1e-3);
    let blocks = shared.blocks.lock().clone();
    let in_window: Vec<&BlockSeen> = blocks
        .iter()
        .filter(|b| b.arrived >= window.start && b.arrived < window_end)
        .collect();
    let intervals: Vec<f64> = in_window
        .windows(2)
        .map(|w| w[1].timestamp_ms.saturating_sub(w[0].timestamp_ms) as f64)
        .collect();
    let per_block: Vec<f64> = in_window.iter().map(|b| b.txs as f64).collect();
    let committed_window: u64 = in_window.iter().map(|b| b.txs).sum();
    let load = |a: &AtomicU64| a.load(Ordering::Acquire);
    let window_acknowledged = Counts {
        txs: load(&shared.window_acknowledged[0]),
        orders: load(&shared.window_acknowledged[1]),
    };
    let orders_per_tx = if window_acknowledged.txs > 0 {
        window_acknowledged.orders as f64 / window_acknowledged.txs as f64
    } else {
        f.shape.actions_per_tx as f64
    };
    let samples = &f.seen.samples;
    let first = samples.first().copied().unwrap_or_default();
    let last = samples.last().copied().unwrap_or_default();
    let delta = |f: fn(&MetricsSample) -> Option<f64>| -> Option<u64> {
        Some(stats::whole(f(&last)? - f(&first)?))
    };
    let node_process = node_stats(
        samples,
        window.start,
        window_end,
        f.node_kind == "in-process",
    );
    let timeline = timeline(&f.seen.cumulative, samples, window.start, orders_per_tx);
    let takers = shared.takers.lock();
    let ack = shared.ack.lock();
    let fill = shared.fill.lock();
    let report = NetworkReport {
        node: f.base.to_string(),
        node_kind: f.node_kind.to_string(),
        window_secs,
        warmup_secs: f.shape.warmup,
        presigned_txs: f.seen.presigned,
        signed_during_run_txs: load(&f.counters.generated_txs).saturating_sub(f.seen.presigned),
        requests: load(&shared.window_requests),
        transactions_per_request: args.batch as u64,
        connections: f.shape.connections as u64,
        in_flight_per_connection: f.shape.in_flight as u64,
        submitted: Counts {
            txs: load(&shared.window_submitted[0]),
            orders: load(&shared.window_submitted[1]),
        },
        acknowledged: window_acknowledged,
        refused_at_submit: shared.refused.lock().clone(),
        transport_errors: load(&shared.transport_errors),
        transport_error_example: shared.transport_example.lock().clone(),
        late_requests: load(&shared.late),
        send_lag_max_ms: load(&shared.lag_max_micros) as f64 / 1000.0,
        committed_txs: committed_window,
        blocks: in_window.len() as u64,
        block_interval_ms: Percentiles::of_values(&intervals),
        txs_per_block: Percentiles::of_values(&per_block),
        fills: load(&shared.window_fills),
        submitted_orders_per_sec: load(&shared.window_submitted[1]) as f64 / window_secs,
        acknowledged_orders_per_sec: window_acknowledged.orders as f64 / window_secs,
        committed_txs_per_sec: committed_window as f64 / window_secs,
        committed_orders_per_sec: committed_window as f64 * orders_per_tx / window_secs,
        fills_per_sec: load(&shared.window_fills) as f64 / window_secs,
        ack_latency_ms: Percentiles::of(&ack, 1000.0),
        fill_latency_ms: Percentiles::of(&fill, 1000.0),
        takers_sent: takers.sent_in_window,
        takers_without_fill: takers.sent_in_window - takers.filled_in_window,
        run_submitted_txs: load(&shared.submitted[0]),
        run_acknowledged_txs: load(&shared.acknowledged[0]),
        run_committed_txs: blocks.iter().map(|b| b.txs).sum(),
        run_rejected_in_block_txs: delta(|s| s.rejected),
        audit: shared.audit.lock().clone(),
        run_fills: delta(|s| s.fills),
        rejected_by_reason: shared.reasons.lock().clone(),
        watched_traders: f.watched,
        watched_txs: load(&shared.watched_txs),
        node_process,
        timeline,
        ack_curve: stats::curve(&ack),
        fill_curve: stats::curve(&fill),
    };
    (report, orders_per_tx)
}

/// CPU over the window and memory at its ends, from the metrics samples.
fn node_stats(
    samples: &[MetricsSample],
    start: Instant,
    end: Instant,
    includes_tester: bool,
) -> Option<NodeStats> {
    let usable: Vec<&MetricsSample> = samples
        .iter()
        .filter(|s| s.cpu_seconds.is_some() && s.rss_bytes.is_some())
        .collect();
    let first = usable
        .iter()
        .rev()
        .find(|s| s.at.is_some_and(|a| a <= start))
        .or(usable.first())?;
    let last = usable
        .iter()
        .find(|s| s.at.is_some_and(|a| a >= end))
        .or(usable.last())?;
    let (t0, t1) = (first.at?, last.at?);
    let wall = t1.saturating_duration_since(t0).as_secs_f64();
    let cpu = last.cpu_seconds? - first.cpu_seconds?;
    let during: Vec<f64> = usable
        .iter()
        .filter(|s| s.at.is_some_and(|a| a >= t0 && a <= t1))
        .filter_map(|s| s.rss_bytes)
        .collect();
    let mb = |b: f64| b / (1024.0 * 1024.0);
    Some(NodeStats {
        cpu_percent: if wall > 0.0 { cpu / wall * 100.0 } else { 0.0 },
        rss_start_mb: mb(first.rss_bytes?),
        rss_end_mb: mb(last.rss_bytes?),
        rss_max_mb: mb(during.iter().copied().fold(0.0, f64::max)),
        includes_tester,
    })
}

/// Per-second rates from the cumulative counts, with the node's CPU and memory.
fn timeline(
    cumulative: &[(Instant, [u64; 4])],
    samples: &[MetricsSample],
    window_start: Instant,
    orders_per_tx: f64,
) -> Vec<TimelinePoint> {
    let secs_since = |at: Instant| {
        if at >= window_start {
            (at - window_start).as_secs_f64()
        } else {
            -(window_start - at).as_secs_f64()
        }
    };
    cumulative
        .windows(2)
        .map(|w| {
            let (t0, a) = w[0];
            let (t1, b) = w[1];
            let dt = (t1 - t0).as_secs_f64().max(1e-3);
            let rate = |i: usize| b[i].saturating_sub(a[i]) as f64 / dt;
            // The metrics samples taken in this second.
            let inside: Vec<&MetricsSample> = samples
                .iter()
                .filter(|s| {
                    s.at.is_some_and(|x| x > t0 && x <= t1 + Duration::from_millis(500))
                })
                .collect();
            let before = samples
                .iter()
                .rev()
                .find(|s| s.at.is_some_and(|x| x <= t0 + Duration::from_millis(500)));
            let cpu = match (before, inside.last()) {
                (Some(p), Some(q)) => match (p.cpu_seconds, q.cpu_seconds, p.at, q.at) {
                    (Some(c0), Some(c1), Some(a0), Some(a1)) if a1 > a0 => {
                        Some((c1 - c0) / (a1 - a0).as_secs_f64() * 100.0)
                    }
                    _ => None,
                },
                _ => None,
            };
            TimelinePoint {
                t_secs: secs_since(t1),
                submitted_orders_per_sec: rate(0),
                acknowledged_orders_per_sec: rate(1),
                committed_txs_per_sec: rate(2),
                committed_orders_per_sec: rate(2) * orders_per_tx,
                fills_per_sec: rate(3),
                cpu_percent: cpu,
                rss_mb: inside
                    .last()
                    .and_then(|s| s.rss_bytes)
                    .map(|b| b / (1024.0 * 1024.0)),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metrics_are_read_from_the_exposition() {
        let text = "# HELP x\nclobchain_transactions_total 12\nclobchain_mempool 3\n\
                    process_cpu_seconds_total 1.5\nprocess_resident_memory_bytes 1048576\n# EOF\n";
        let s = parse_metrics(text, Instant::now());
        assert_eq!(s.transactions, Some(12.0));
        assert_eq!(s.mempool, Some(3.0));
        assert_eq!(s.cpu_seconds, Some(1.5));
        assert_eq!(s.rss_bytes, Some(1_048_576.0));
        assert_eq!(s.rejected, None);
    }

    #[test]
    fn in_flight_keeps_nonces_in_the_window() {
        // 1000 traders, 8 connections, 500 per request: 4 txs of a trader per request.
        assert_eq!(in_flight_auto(500, 8, 1000), 8);
        // 10 traders, batch 2000: one request holds 1600 of a trader's txs.
        assert_eq!(in_flight_auto(2000, 8, 10), 1);
    }
}
