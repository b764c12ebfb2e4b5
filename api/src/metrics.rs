//! Prometheus metrics (`GET /metrics`), in the text exposition format.
//!
//! Uses `prometheus-client`, the Prometheus project's own Rust client: the exposition
//! format's escaping and histogram conventions are easy to get subtly wrong by hand.

use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

/// The node's counters. Cheap to update from any thread.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    pub blocks: Counter,
    pub transactions: Counter,
    pub transactions_rejected: Counter,
    pub transactions_dropped: Counter,
    pub fills: Counter,
    pub submitted: Counter,
    pub refused_at_ingest: Counter,
    pub height: Gauge,
    pub mempool: Gauge,
    pub ws_clients: Gauge,
    pub block_execution_seconds: Histogram,
    pub block_transactions: Histogram,
}

impl Default for Metrics {
    fn default() -> Metrics {
        Metrics::new()
    }
}

impl Metrics {
    pub fn new() -> Metrics {
        let mut registry = Registry::with_prefix("clobchain");
        let blocks = Counter::default();
        let transactions = Counter::default();
        let transactions_rejected = Counter::default();
        let transactions_dropped = Counter::default();
        let fills = Counter::default();
        let submitted = Counter::default();
        let refused_at_ingest = Counter::default();
        let height = Gauge::default();
        let mempool = Gauge::default();
        let ws_clients = Gauge::default();
        let block_execution_seconds = Histogram::new(exponential_buckets(0.000_25, 2.0, 16));
        let block_transactions = Histogram::new(exponential_buckets(1.0, 4.0, 10));
        registry.register("blocks", "Blocks committed", blocks.clone());
        registry.register(
            "transactions",
            "Transactions committed in blocks (executed or rejected)",
            transactions.clone(),
        );
        registry.register(
            "transactions_rejected",
            "Committed transactions the chain refused as a whole",
            transactions_rejected.clone(),
        );
        registry.register(
            "transactions_dropped",
            "Admitted transactions dropped without a block (status `dropped`)",
            transactions_dropped.clone(),
        );
        registry.register("fills", "Fills (trades)", fills.clone());
        registry.register(
            "submitted",
            "Transactions received over the API",
            submitted.clone(),
        );
        registry.register(
            "refused_at_ingest",
            "Transactions refused before the mempool (signature, replay, limits)",
            refused_at_ingest.clone(),
        );
        registry.register(
            "height",
            "Height of the last committed block",
            height.clone(),
        );
        registry.register(
            "mempool",
            "Transactions waiting in the mempool",
            mempool.clone(),
        );
        registry.register(
            "websocket_clients",
            "Connected websocket clients",
            ws_clients.clone(),
        );
        registry.register(
            "block_execution_seconds",
            "Time to execute and durably store one block",
            block_execution_seconds.clone(),
        );
        registry.register(
            "block_transactions",
            "Transactions per block",
            block_transactions.clone(),
        );
        Metrics {
            registry,
            blocks,
            transactions,
            transactions_rejected,
            transactions_dropped,
            fills,
            submitted,
            refused_at_ingest,
            height,
            mempool,
            ws_clients,
            block_execution_seconds,
            block_transactions,
        }
    }

    /// The text exposition, with the process's CPU time and resident memory.
    pub fn render(&self) -> String {
        let mut out = String::new();
        encode(&mut out, &self.registry).expect("writing to a String cannot fail");
        // The exposition ends with `# EOF`; the process metrics go before it.
        let body = out.strip_suffix("# EOF\n").unwrap_or(&out).to_string();
        let mut out = body;
        if let Some(process) = ProcessStats::read() {
            out.push_str(&process.exposition());
        }
        out.push_str("# EOF\n");
        out
    }
}

/// CPU time and memory of this process, from `/proc/self` (Linux; absent elsewhere).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ProcessStats {
    pub cpu_seconds: f64,
    pub resident_bytes: u64,
}

impl ProcessStats {
    pub fn read() -> Option<ProcessStats> {
        let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
        // Fields after the command name (which may hold spaces) start after ')'.
        let rest = stat.rsplit_once(')')?.1;
        let fields: Vec<&str> = rest.split_whitespace().collect();
        // utime and stime are fields 14 and 15 of stat, so 11 and 12 after ')'.
        let ticks: u64 =
            fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?;
        let statm = std::fs::read_to_string("/proc/self/statm").ok()?;
        let pages: u64 = statm.split_whitespace().nth(1)?.parse().ok()?;
        // The kernel's USER_HZ is 100 and its page size 4 KiB on every Linux this runs on.
        Some(ProcessStats {
            cpu_seconds: ticks as f64 / 100.0,
            resident_bytes: pages * 4096,
        })
    }

    fn exposition(&self) -> String {
        format!(
            "# HELP process_cpu_seconds Total user and system CPU time spent in seconds.\n\
             # TYPE process_cpu_seconds counter\n\
             process_cpu_seconds_total {}\n\
             # HELP process_resident_memory_bytes Resident memory size in bytes.\n\
             # TYPE process_resident_memory_bytes gauge\n\
             process_resident_memory_bytes {}\n",
            self.cpu_seconds, self.resident_bytes
        )
    }
}
