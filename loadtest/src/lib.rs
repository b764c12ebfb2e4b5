//! `clobchain loadtest`: how fast the chain is, as a trader sees it and as the engine
//! alone can go.
//!
//! ```text
//!  workload (seeded: mix | lobster) ─► producer thread: generate, sign (own rayon pool),
//!       hex-encode, build request bodies ─► bounded queue per connection (pre-filled
//!       before the window opens)
//!  REST mode:  senders (one per connection, open loop at --rate or closed loop) ─► node
//!              ◄─ HTTP answer: acknowledged / refused by code; ack latency per request
//!              ◄─ websocket: trades (fill latency per taker), blocks (committed, block
//!                 interval, txs per block), orders of watched traders (reject reasons)
//!              ◄─ GET /metrics each second: the node's CPU, memory and counters
//!  --in-process: execute_block on pre-signed blocks, then the same signatures verified
//!              alone on the same threads (the ceiling) ─► orders/s and the ratio
//!  ─► Report ─► summary table | --json | --html (self-contained, inline SVG)
//! ```
//!
//! **Signing ahead.** Every transaction is signed before the timed window opens, as long
//! as the run needs at most `--presign` transactions. A fixed-rate run needs
//! `rate × (warm-up + duration) / actions per tx`. An as-fast-as-possible run's need is
//! unknown: it sends only the `--presign` transactions signed ahead (200,000 by
//! default) and its window ends early, with a note, if they run out. A fixed-rate run
//! that needs more (a soak) starts with `--presign` signed transactions queued and the
//! producer keeps signing in its own thread, ahead of the senders, through bounded
//! queues: memory stays flat and signing is never on a send's path, but it does take CPU
//! during the window. The report says how many transactions were signed during the run.
//!
//! **What is measured how** (REST mode):
//! - *acknowledgement latency*: request sent → answer read, per HTTP request;
//! - *submit → fill*: request sent → the first fill of each immediate-or-cancel taker in
//!   it seen on the `trades` channel of its market (ids are known before sending);
//! - *committed*: transactions in the blocks seen on the `blocks` channel (per block:
//!   count, and the node's block timestamps for the interval);
//! - *rejected*: at submit, per transaction from the HTTP answers (exact); in blocks,
//!   whole transactions from the node's `clobchain_transactions_rejected_total` (exact on
//!   a node nobody else uses); by reason from the `orders` channel of `--watch-traders`
//!   traders (a sample: watching every account would make the node serialise, and the
//!   tester parse, every book event of the run);
//! - *node CPU and memory*: `process_cpu_seconds_total` and
//!   `process_resident_memory_bytes` from `/metrics`, each second. With `--spawn-node`
//!   the node is a child process when this is the `clobchain` binary (or `--node-bin`
//!   names one), so the figures are the node's own; otherwise (the tests) it runs in this
//!   process and the figures include the tester.
//!
//! Counts and rates are over the measured window (after `--warmup`) unless the report
//! names them `run_*`.
//!
//! **Connections and nonces.** Each connection sends for its own traders (trader `t`
//! belongs to connection `t mod connections`), so a trader's nonces leave in order.
//! Without `--rate` each connection has one request in flight; with it, as many as keep
//! every trader's nonces within the 64-wide replay window (at most 8), so a slow answer
//! does not hold back the schedule. A request sent more than 5 ms after its slot counts
//! as late; latencies are measured from the real send.
//!
//! **The workloads** are in [`workload`]. The mix is generated without feedback from the
//! chain (so a seed gives the same transactions every time): some cancels and amends
//! name orders that have filled meanwhile and are refused with `UNKNOWN_ORDER`, which
//! the reject counts show. The LOBSTER replay runs on one connection in the replay's
//! order; `--lobster-pacing sequential` (the default) sends it in runs that a block
//! executes exactly as Nasdaq's sequence, each once the previous is committed, and
//! `free` sends it as fast as the node takes it (blocks then reorder cancels ahead of
//! places, and fewer executions are reproduced).

mod engine;
pub mod lobster;
mod report;
mod rest;
mod stats;
pub mod streams;
pub mod workload;

use std::io::IsTerminal as _;
use std::path::PathBuf;

pub use report::{
    BlockPoint, Counts, EngineReport, LobsterReport, NetworkReport, NodeStats, Report,
    TimelinePoint,
};
pub use stats::{CurvePoint, Percentiles};

/// Which workload to send.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum WorkloadKind {
    /// N traders on M markets: orders near the mid, cancels, amends, takers sweeping
    /// several levels, a few orders the chain refuses.
    Mix,
    /// The LOBSTER sample days (AAPL, AMZN) replayed as two markets.
    Lobster,
}

/// How a request carries its transactions (`POST /v1/transactions[/batch]`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum BodyKind {
    /// JSON: `{"tx": hex}`, or `{"transactions": [{"tx": hex}, …]}`.
    Json,
    /// `application/octet-stream`: the borsh bytes, or `borsh(Vec<Vec<u8>>)` for a batch.
    Binary,
}

impl BodyKind {
    /// The request's content type.
    pub fn content_type(self) -> &'static str {
        match self {
            BodyKind::Json => "application/json",
            BodyKind::Binary => api::binary::OCTET_STREAM,
        }
    }
}

/// How requests reach the node.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Transport {
    /// HTTP: `POST /v1/transactions` (or `/batch`), one request per `--batch`.
    Rest,
    /// The websocket's order entry: one `submit` per transaction on each connection's
    /// socket (a text frame with `--body json`, a binary frame with `--body binary`),
    /// pipelined up to `--in-flight`; needs `--batch 1`.
    Ws,
}

/// How the LOBSTER replay is cut into blocks.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum LobsterPacing {
    /// Runs that a block executes exactly as Nasdaq's sequence, one after the other
    /// (over REST: each request waits until the previous one is committed). Faithful;
    /// its speed is bounded by the block interval.
    Sequential,
    /// As fast as the node takes it (or at --rate): a block then holds long stretches of
    /// the day, runs their cancels first and refuses cancels of orders placed in the
    /// same block, so fewer of Nasdaq's executions are reproduced.
    Free,
}

/// `clobchain loadtest` flags.
#[derive(Clone, Debug, clap::Args)]
pub struct LoadtestArgs {
    /// A running node's API, e.g. http://127.0.0.1:8080 (its dev accounts must cover
    /// --traders: start it with --dev-accounts).
    #[arg(long, env = "CLOBCHAIN_LOADTEST_NODE", conflicts_with_all = ["spawn_node", "in_process"])]
    pub node: Option<String>,
    /// Start a node on a fresh temporary directory for the run (a child process when
    /// this is the clobchain binary or --node-bin is given; else inside this process).
    #[arg(long)]
    pub spawn_node: bool,
    /// Start a local testnet of this many validators (`clobchain testnet`, each its own
    /// process) on a fresh temporary directory, and send to validator 0; needs the
    /// clobchain binary (this one, or --node-bin).
    #[arg(long, conflicts_with_all = ["node", "spawn_node", "in_process"])]
    pub spawn_testnet: Option<usize>,
    /// With --spawn-testnet: `kill -9` this validator (not 0, which the load goes to)
    /// during the run, at --kill-at seconds after it starts.
    #[arg(long, requires = "spawn_testnet")]
    pub kill_validator: Option<usize>,
    /// Seconds after the run starts (warm-up included) for --kill-validator
    /// [default: the warm-up plus a third of the window].
    #[arg(long, requires = "kill_validator")]
    pub kill_at: Option<f64>,
    /// The clobchain binary to spawn the node from.
    #[arg(long)]
    pub node_bin: Option<PathBuf>,
    /// Block interval of the spawned node or testnet, in ms [default: the node's]. A
    /// validator's leader waits this long (at most 1 s) before it cuts its block.
    #[arg(long)]
    pub node_block_interval_ms: Option<u64>,
    /// Drive the block executor directly: no network, no storage. Measures the
    /// verification ceiling in the same run.
    #[arg(long)]
    pub in_process: bool,
    #[arg(long, value_enum, default_value = "mix")]
    pub workload: WorkloadKind,
    /// LOBSTER: sequential (faithful) or free (as fast as possible).
    #[arg(long, value_enum, default_value = "sequential")]
    pub lobster_pacing: LobsterPacing,
    /// Traders (demo accounts markets::dev::key(0..N)).
    #[arg(long, default_value_t = 256)]
    pub traders: u64,
    /// Markets the mix trades on (a node has 3; in process, any number).
    #[arg(long, default_value_t = 3)]
    pub markets: u32,
    /// Share of order actions sent to market 0 on top of the uniform draw (0 to 1).
    #[arg(long, default_value_t = 0.0)]
    pub hot_skew: f64,
    /// Open-loop rate in order actions per second; 0: as fast as the node answers
    /// (each connection sends its next request when the last one is answered).
    #[arg(long, default_value_t = 0)]
    pub rate: u64,
    /// Measured window, in seconds.
    #[arg(long, default_value_t = 10.0)]
    pub duration: f64,
    /// Seconds of sending before the window opens (fills the books; not measured).
    #[arg(long, default_value_t = 2.0)]
    pub warmup: f64,
    /// Transactions per HTTP request: 1 sends POST /v1/transactions, more the batch
    /// endpoint (up to 2000).
    #[arg(long, default_value_t = 500)]
    pub batch: usize,
    /// The request body: json (each transaction as hex) or binary (borsh bytes,
    /// application/octet-stream). Same routes, same answers.
    #[arg(long, value_enum, default_value_t = BodyKind::Json)]
    pub body: BodyKind,
    /// How transactions reach the node: REST requests, or `submit` messages on a
    /// websocket per connection (ack latency is then the time to the `submitted` answer).
    #[arg(long, value_enum, default_value_t = Transport::Rest)]
    pub transport: Transport,
    /// Order actions per signed transaction (1: one order; up to 32: a batch action).
    /// In process, both 1 and 8 are run unless this is given.
    #[arg(long)]
    pub actions_per_tx: Option<usize>,
    /// Concurrent senders, each with its own HTTP connection(s) and its own traders.
    #[arg(long, default_value_t = 8)]
    pub connections: usize,
    /// Requests each connection may have in flight [default: 1 without --rate; with it,
    /// as many as keep every trader's nonces within the replay window, at most 8].
    #[arg(long)]
    pub in_flight: Option<usize>,
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Print the report as JSON on stdout instead of the table, or with a FILE, write it
    /// there too.
    #[arg(long, num_args = 0..=1, default_missing_value = "-", value_name = "FILE")]
    pub json: Option<PathBuf>,
    /// Write a self-contained HTML report here.
    #[arg(long, value_name = "FILE")]
    pub html: Option<PathBuf>,
    /// In process: rayon threads [default: the cores].
    #[arg(long)]
    pub threads: Option<usize>,
    /// In process: measured blocks.
    #[arg(long, default_value_t = 20)]
    pub blocks: usize,
    /// In process: blocks executed before measuring (they fill the books).
    #[arg(long, default_value_t = 5)]
    pub warmup_blocks: usize,
    /// In process: order actions per block (LOBSTER: transactions per block).
    #[arg(long, default_value_t = 8192)]
    pub block_orders: usize,
    /// Transactions signed before the window opens, at most; a run that needs more keeps
    /// signing in the background, ahead of the senders; a run without --rate sends only
    /// these [default: 2,000,000 with --rate (about 2 GB of requests at 8 orders a
    /// transaction), 200,000 without].
    #[arg(long)]
    pub presign: Option<u64>,
    /// Traders whose `orders` channel is watched for reject reasons.
    #[arg(long, default_value_t = 16)]
    pub watch_traders: u64,
    /// Extra websocket clients held open through the run, each subscribed to market 0's
    /// trades and book: what subscribers cost the chain.
    #[arg(long, default_value_t = 0)]
    pub ws_subscribers: usize,
    /// The --ws-subscribers never read what they are sent (slow clients the node must
    /// close), instead of reading and discarding it.
    #[arg(long)]
    pub ws_subscribers_silent: bool,
    /// Longest wait after the window for the last blocks and fills, in seconds.
    #[arg(long, default_value_t = 10.0)]
    pub drain: f64,
    /// No progress bar.
    #[arg(long)]
    pub quiet: bool,
}

impl Default for LoadtestArgs {
    fn default() -> LoadtestArgs {
        use clap::Parser as _;
        #[derive(clap::Parser)]
        struct Wrapper {
            #[command(flatten)]
            args: LoadtestArgs,
        }
        Wrapper::parse_from(["loadtest"]).args
    }
}

impl LoadtestArgs {
    fn hot_skew_per_mille(&self) -> u32 {
        u32::try_from(stats::whole(
            (self.hot_skew.clamp(0.0, 1.0) * 1000.0).round(),
        ))
        .expect("at most 1000")
    }

    fn check(&self) -> anyhow::Result<()> {
        anyhow::ensure!(self.traders >= 1, "--traders must be at least 1");
        anyhow::ensure!(self.markets >= 1, "--markets must be at least 1");
        anyhow::ensure!(
            (0.0..=1.0).contains(&self.hot_skew),
            "--hot-skew is a share: 0 to 1"
        );
        anyhow::ensure!(
            self.duration > 0.0 && self.warmup >= 0.0,
            "--duration must be positive"
        );
        anyhow::ensure!((1..=2000).contains(&self.batch), "--batch: 1 to 2000");
        if let Some(a) = self.actions_per_tx {
            anyhow::ensure!(
                (1..=markets::limits::BATCH_ACTIONS_MAX).contains(&a),
                "--actions-per-tx: 1 to {}",
                markets::limits::BATCH_ACTIONS_MAX
            );
        }
        anyhow::ensure!(self.connections >= 1, "--connections must be at least 1");
        if let (Some(k), Some(n)) = (self.kill_validator, self.spawn_testnet) {
            anyhow::ensure!(
                (1..n).contains(&k),
                "--kill-validator: 1 to {} (the load goes to validator 0)",
                n - 1
            );
        }
        anyhow::ensure!(self.blocks >= 1, "--blocks must be at least 1");
        anyhow::ensure!(
            self.in_process
                || self.spawn_node
                || self.spawn_testnet.is_some()
                || self.node.is_some(),
            "say where to send: --node URL, --spawn-node, --spawn-testnet N, or --in-process"
        );
        Ok(())
    }

    /// The settings as the report records them.
    fn settings(&self) -> std::collections::BTreeMap<String, String> {
        let mut s = std::collections::BTreeMap::new();
        let mut put = |k: &str, v: String| {
            s.insert(k.to_string(), v);
        };
        put("traders", self.traders.to_string());
        put("markets", self.markets.to_string());
        put("hot_skew", self.hot_skew.to_string());
        if self.workload == WorkloadKind::Lobster {
            put("lobster_pacing", format!("{:?}", self.lobster_pacing));
        }
        if self.in_process {
            put("threads", format!("{:?}", self.threads));
            put("blocks", self.blocks.to_string());
            put("warmup_blocks", self.warmup_blocks.to_string());
            put("block_orders", self.block_orders.to_string());
            put("actions_per_tx", format!("{:?}", self.actions_per_tx));
        } else {
            put("rate", self.rate.to_string());
            put("duration", self.duration.to_string());
            put("warmup", self.warmup.to_string());
            put("batch", self.batch.to_string());
            put("body", format!("{:?}", self.body).to_lowercase());
            put("transport", format!("{:?}", self.transport).to_lowercase());
            put(
                "actions_per_tx",
                self.actions_per_tx.unwrap_or(1).to_string(),
            );
            put("connections", self.connections.to_string());
            put("in_flight", format!("{:?}", self.in_flight));
            put("presign", format!("{:?}", self.presign));
            put("watch_traders", self.watch_traders.to_string());
            if let Some(n) = &self.node {
                put("node", n.clone());
            }
            if let Some(ms) = self.node_block_interval_ms {
                put("node_block_interval_ms", ms.to_string());
            }
        }
        s
    }

    /// Transactions to sign before the window opens (see `--presign`).
    fn presign_txs(&self) -> u64 {
        self.presign
            .unwrap_or(if self.rate > 0 { 2_000_000 } else { 200_000 })
    }

    fn json_to_stdout(&self) -> bool {
        self.json.as_deref() == Some(std::path::Path::new("-"))
    }
}

/// A progress bar on stderr, hidden for `--json` on stdout, `--quiet`, or when stderr is
/// not a terminal.
fn progress_bar(args: &LoadtestArgs, len: u64, unit: &str) -> indicatif::ProgressBar {
    if args.quiet || args.json_to_stdout() || !std::io::stderr().is_terminal() {
        return indicatif::ProgressBar::hidden();
    }
    let bar = indicatif::ProgressBar::new(len);
    let template = format!("{{elapsed_precise}} [{{bar:30}}] {{pos}}/{{len}} {unit}  {{msg}}");
    if let Ok(style) = indicatif::ProgressStyle::with_template(&template) {
        bar.set_style(style.progress_chars("=> "));
    }
    bar
}

/// Runs the load test the flags describe and writes `--json FILE` and `--html FILE`.
pub async fn run(args: LoadtestArgs) -> anyhow::Result<Report> {
    args.check()?;
    let report = if args.in_process {
        let args = args.clone();
        tokio::task::spawn_blocking(move || run_in_process(&args)).await??
    } else {
        let mut notes = Vec::new();
        let (network, lobster) = rest::run(&args, &mut notes).await?;
        Report {
            // The transport ("rest" or "ws"); the body is in the settings.
            mode: format!("{:?}", args.transport).to_lowercase(),
            workload: workload_name(args.workload).into(),
            seed: args.seed,
            settings: args.settings(),
            network: Some(network),
            engine: Vec::new(),
            lobster,
            notes,
        }
    };
    write_outputs(&args, &report)?;
    Ok(report)
}

fn workload_name(kind: WorkloadKind) -> &'static str {
    match kind {
        WorkloadKind::Mix => "mix",
        WorkloadKind::Lobster => "lobster",
    }
}

/// The in-process measurement (`--in-process`); blocking. Does not write the output
/// files ([`run`] does).
pub fn run_in_process(args: &LoadtestArgs) -> anyhow::Result<Report> {
    let mut notes = Vec::new();
    let (engine, lobster) = engine::run(args, &mut notes)?;
    Ok(Report {
        mode: "in-process".into(),
        workload: workload_name(args.workload).into(),
        seed: args.seed,
        settings: args.settings(),
        network: None,
        engine,
        lobster,
        notes,
    })
}

fn write_outputs(args: &LoadtestArgs, report: &Report) -> anyhow::Result<()> {
    use anyhow::Context as _;
    if let Some(path) = &args.json
        && path.as_os_str() != "-"
    {
        std::fs::write(path, serde_json::to_string_pretty(report)? + "\n")
            .with_context(|| format!("writing {}", path.display()))?;
    }
    if let Some(path) = &args.html {
        std::fs::write(path, report.html())
            .with_context(|| format!("writing {}", path.display()))?;
    }
    Ok(())
}

/// `clobchain loadtest`: runs, then prints the summary table (or the JSON report with
/// `--json`) on stdout.
pub fn command(args: LoadtestArgs) -> anyhow::Result<()> {
    let json = args.json_to_stdout();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("lt-io")
        .build()?;
    let report = runtime.block_on(run(args))?;
    if json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print!("{}", report.table());
    }
    Ok(())
}
