//! What a run found: the [`Report`] (serialised as `--json`), its summary table, and the
//! self-contained HTML page (`--html`): inline SVG charts, no script, no external URL.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde::Serialize;

use super::stats::{CurvePoint, Percentiles};

/// Everything one run measured.
#[derive(Clone, Debug, Serialize)]
pub struct Report {
    /// `rest` (a node over its API) or `in-process` (the block executor alone).
    pub mode: String,
    /// `mix` or `lobster`.
    pub workload: String,
    /// The seed; rerun with it to send the same transactions.
    pub seed: u64,
    /// The settings of the run, as given.
    pub settings: BTreeMap<String, String>,
    pub network: Option<NetworkReport>,
    /// One per configuration run in process (single orders, batches).
    pub engine: Vec<EngineReport>,
    pub lobster: Option<LobsterReport>,
    /// How to read the numbers: what was measured how, and anything that went wrong.
    pub notes: Vec<String>,
}

/// Transactions and the order actions in them.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Counts {
    pub txs: u64,
    pub orders: u64,
}

/// A run against a node over its API. Counts are over the measured window (after the
/// warm-up) unless named `run_*` (the whole run: warm-up, window and drain).
#[derive(Clone, Debug, Default, Serialize)]
pub struct NetworkReport {
    pub node: String,
    /// `external`, `child process` or `in-process` (the node shares this process: its
    /// CPU and memory figures include the tester's).
    pub node_kind: String,
    pub window_secs: f64,
    pub warmup_secs: f64,
    /// Transactions signed before the timed window opened, and during the run (by the
    /// background producer, when the run needed more than `--presign`).
    pub presigned_txs: u64,
    pub signed_during_run_txs: u64,
    pub requests: u64,
    pub transactions_per_request: u64,
    pub connections: u64,
    pub in_flight_per_connection: u64,
    pub submitted: Counts,
    /// Accepted into the mempool (HTTP success, per transaction).
    pub acknowledged: Counts,
    /// Refused when submitted, per transaction, by the API's error code.
    pub refused_at_submit: BTreeMap<String, u64>,
    /// Requests that got no HTTP answer, or one the tester could not read.
    pub transport_errors: u64,
    pub transport_error_example: Option<String>,
    /// Requests sent after their slot (open loop only): the client could not keep up or
    /// every in-flight slot was busy. Latencies are measured from the real send.
    pub late_requests: u64,
    pub send_lag_max_ms: f64,
    /// Transactions in blocks that arrived (on the `blocks` channel) during the window.
    pub committed_txs: u64,
    pub blocks: u64,
    pub block_interval_ms: Percentiles,
    pub txs_per_block: Percentiles,
    /// Fills seen on the `trades` channels during the window.
    pub fills: u64,
    pub submitted_orders_per_sec: f64,
    pub acknowledged_orders_per_sec: f64,
    pub committed_txs_per_sec: f64,
    /// Committed transactions × the acknowledged orders per transaction.
    pub committed_orders_per_sec: f64,
    pub fills_per_sec: f64,
    /// Request sent → HTTP answer read, per request.
    pub ack_latency_ms: Percentiles,
    /// Request sent → first fill of each immediate-or-cancel taker seen on a `trades`
    /// channel.
    pub fill_latency_ms: Percentiles,
    pub takers_sent: u64,
    /// Takers sent in the window that never filled (nothing to cross when they arrived,
    /// or refused).
    pub takers_without_fill: u64,
    /// Whole run.
    pub run_submitted_txs: u64,
    pub run_acknowledged_txs: u64,
    /// Transactions in blocks during the whole run (the `blocks` channel).
    pub run_committed_txs: u64,
    /// From the node's `/metrics`, first scrape to last: committed transactions refused
    /// as a whole, and fills.
    pub run_rejected_in_block_txs: Option<u64>,
    /// Every acknowledged transaction's final status, read back from the node.
    pub audit: Option<Audit>,
    pub run_fills: Option<u64>,
    /// Refusals in blocks by reason, from the `orders` channel of the watched traders
    /// (whole transactions and single actions, the book's own rejections included).
    pub rejected_by_reason: BTreeMap<String, u64>,
    pub watched_traders: u64,
    pub watched_txs: u64,
    pub node_process: Option<NodeStats>,
    pub timeline: Vec<TimelinePoint>,
    pub ack_curve: Vec<CurvePoint>,
    pub fill_curve: Vec<CurvePoint>,
}

/// The node's CPU and memory, from its `/metrics`.
#[derive(Clone, Debug, Default, Serialize)]
pub struct NodeStats {
    /// CPU over the window, in percent of one core.
    pub cpu_percent: f64,
    pub rss_start_mb: f64,
    pub rss_end_mb: f64,
    pub rss_max_mb: f64,
    /// True when the tester runs in the same process (an in-process node).
    pub includes_tester: bool,
}

/// One second of the run.
#[derive(Clone, Debug, Default, Serialize)]
pub struct TimelinePoint {
    /// Seconds since the window opened (negative during the warm-up).
    pub t_secs: f64,
    pub submitted_orders_per_sec: f64,
    pub acknowledged_orders_per_sec: f64,
    pub committed_txs_per_sec: f64,
    /// Committed transactions × the orders per transaction.
    pub committed_orders_per_sec: f64,
    pub fills_per_sec: f64,
    pub cpu_percent: Option<f64>,
    pub rss_mb: Option<f64>,
}

/// One configuration of the in-process run.
#[derive(Clone, Debug, Default, Serialize)]
pub struct EngineReport {
    pub actions_per_tx: u64,
    pub threads: u64,
    pub blocks: u64,
    pub txs: u64,
    pub orders: u64,
    pub fills: u64,
    pub rejected_by_reason: BTreeMap<String, u64>,
    /// Time in `execute_block`, summed over the measured blocks.
    pub execute_secs: f64,
    pub orders_per_sec: f64,
    pub txs_per_sec: f64,
    pub fills_per_sec: f64,
    /// Batch-verifying the same blocks' signatures alone, on the same threads.
    pub ceiling_secs: f64,
    pub ceiling_orders_per_sec: f64,
    /// `orders_per_sec / ceiling_orders_per_sec`.
    pub ratio: f64,
    pub block_ms: Percentiles,
    /// Per measured block: orders/s through the executor and the ceiling's.
    pub per_block: Vec<BlockPoint>,
}

#[derive(Clone, Copy, Debug, Default, Serialize)]
pub struct BlockPoint {
    pub block: u64,
    pub orders_per_sec: f64,
    pub ceiling_orders_per_sec: f64,
}

/// The LOBSTER replay's check against Nasdaq.
#[derive(Clone, Debug, Default, Serialize)]
pub struct LobsterReport {
    /// Symbol → market id.
    pub markets: Vec<(String, u32)>,
    pub commands: u64,
    pub commands_sent: u64,
    /// Nasdaq's visible executions (type-4 rows), and those naming an order the replay
    /// placed.
    pub nasdaq_executions: u64,
    pub nasdaq_executions_known_maker: u64,
    /// Rows reproduced (same resting order, same size) by the chain's fills, and by the
    /// same commands on a bare book.
    pub reproduced_by_chain: u64,
    pub reproduced_by_bare_book: u64,
    /// Shares of all Nasdaq executions, and of those naming an order the replay placed.
    pub share_by_chain: f64,
    pub share_by_bare_book: f64,
    pub share_of_known_by_chain: f64,
    pub share_of_known_by_bare_book: f64,
    /// The bare book on the commands actually sent (equal to `reproduced_by_bare_book`
    /// when the whole replay was sent): what the chain should match.
    pub reproduced_by_bare_book_on_sent: u64,
    /// `lobster::replay` per day (execution groups, as `tests/it/lobster.rs` reports).
    pub replay_summaries: Vec<String>,
}

fn fmt_rate(x: f64) -> String {
    if x >= 100.0 {
        format!("{:.0}", x)
    } else {
        format!("{:.1}", x)
    }
}

fn fmt_ms(p: &Percentiles) -> String {
    if p.samples == 0 {
        return "no samples".to_string();
    }
    format!(
        "p50 {:.1}  p90 {:.1}  p99 {:.1}  p99.9 {:.1}  max {:.1} ms  ({} samples)",
        p.p50, p.p90, p.p99, p.p999, p.max, p.samples
    )
}

fn reasons(map: &BTreeMap<String, u64>) -> String {
    if map.is_empty() {
        return "none".to_string();
    }
    map.iter()
        .map(|(k, v)| format!("{k} {v}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The network run: where, how much, what came back.
fn network_rows(n: &NetworkReport, row: &mut impl FnMut(&str, String)) {
    row("node", format!("{} ({})", n.node, n.node_kind));
    row(
        "window",
        format!(
            "{:.1} s after {:.1} s warm-up; {} connections × {} in flight, {} tx/request",
            n.window_secs,
            n.warmup_secs,
            n.connections,
            n.in_flight_per_connection,
            n.transactions_per_request
        ),
    );
    row(
        "signed ahead",
        format!(
            "{} txs before the window, {} during the run",
            n.presigned_txs, n.signed_during_run_txs
        ),
    );
    row(
        "submitted",
        format!(
            "{} txs, {} orders in {} requests",
            n.submitted.txs, n.submitted.orders, n.requests
        ),
    );
    row(
        "acknowledged",
        format!(
            "{} txs, {} orders",
            n.acknowledged.txs, n.acknowledged.orders
        ),
    );
    row("refused at submit", reasons(&n.refused_at_submit));
    row(
        "transport errors",
        match &n.transport_error_example {
            Some(e) => format!("{} (e.g. {e})", n.transport_errors),
            None => n.transport_errors.to_string(),
        },
    );
    row(
        "committed",
        format!(
            "{} txs in {} blocks in the window; whole run {} of {} acknowledged",
            n.committed_txs, n.blocks, n.run_committed_txs, n.run_acknowledged_txs
        ),
    );
    if let Some(audit) = &n.audit {
        row("final status", audit.line().0);
    }
    row(
        "rejected in blocks",
        format!(
            "whole txs (node metrics): {}; by reason on {} watched traders ({} txs): {}",
            n.run_rejected_in_block_txs
                .map_or_else(|| "n/a".to_string(), |x| x.to_string()),
            n.watched_traders,
            n.watched_txs,
            reasons(&n.rejected_by_reason)
        ),
    );
}

/// Where every transaction the node acknowledged during the run ended, read back from
/// the node after the drain: in a block (its hash in `GET /v1/blocks/{h}`), dropped with
/// a code (`GET /v1/transactions/{hash}`), still pending, or none of these: a silent
/// loss, which is an error.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct Audit {
    pub acknowledged: u64,
    pub committed: u64,
    pub dropped: u64,
    /// By code and rule, e.g. `NONCE_TOO_OLD (below_nonce_floor)`.
    pub dropped_by_code: BTreeMap<String, u64>,
    pub pending: u64,
    /// Acknowledged, and the node knows nothing of it.
    pub lost: u64,
    /// Not asked about (past the audit's limit of status queries).
    pub unchecked: u64,
}

impl Audit {
    /// The audit's report line, and whether it shows an error.
    pub fn line(&self) -> (String, bool) {
        let mut line = format!(
            "acknowledged {} = committed {} + dropped {} ({}) + pending {}",
            self.acknowledged,
            self.committed,
            self.dropped,
            reasons(&self.dropped_by_code),
            self.pending
        );
        if self.unchecked > 0 {
            line.push_str(&format!(" + {} not checked", self.unchecked));
        }
        let error = self.lost > 0;
        if error {
            line.push_str(&format!(
                "; ERROR: {} acknowledged transactions lost without a status",
                self.lost
            ));
        } else {
            line.push_str("; 0 silent losses");
        }
        (line, error)
    }
}

/// The network run: rates, latencies, blocks and the node process.
fn network_rate_rows(n: &NetworkReport, row: &mut impl FnMut(&str, String)) {
    row(
        "throughput",
        format!(
            "submitted {} orders/s, acknowledged {} orders/s, committed {} tx/s \
             (≈ {} orders/s), fills {} /s",
            fmt_rate(n.submitted_orders_per_sec),
            fmt_rate(n.acknowledged_orders_per_sec),
            fmt_rate(n.committed_txs_per_sec),
            fmt_rate(n.committed_orders_per_sec),
            fmt_rate(n.fills_per_sec)
        ),
    );
    row("ack latency", fmt_ms(&n.ack_latency_ms));
    row("submit→fill on ws", fmt_ms(&n.fill_latency_ms));
    row(
        "takers",
        format!(
            "{} sent, {} never filled",
            n.takers_sent, n.takers_without_fill
        ),
    );
    row(
        "block interval",
        format!(
            "p50 {:.1}  p99 {:.1}  max {:.1} ms",
            n.block_interval_ms.p50, n.block_interval_ms.p99, n.block_interval_ms.max
        ),
    );
    row(
        "txs per block",
        format!(
            "p50 {:.0}  p99 {:.0}  max {:.0}  mean {:.1}",
            n.txs_per_block.p50, n.txs_per_block.p99, n.txs_per_block.max, n.txs_per_block.mean
        ),
    );
    if n.late_requests > 0 {
        row(
            "open loop",
            format!(
                "{} requests sent late (max {:.1} ms behind schedule)",
                n.late_requests, n.send_lag_max_ms
            ),
        );
    }
    row(
        "node process",
        match &n.node_process {
            Some(s) => format!(
                "CPU {:.0}% of a core; RSS {:.0} → {:.0} MB (max {:.0}){}",
                s.cpu_percent,
                s.rss_start_mb,
                s.rss_end_mb,
                s.rss_max_mb,
                if s.includes_tester {
                    " — includes the tester (same process)"
                } else {
                    ""
                }
            ),
            None => "n/a (no process metrics)".to_string(),
        },
    );
}

/// One engine run.
fn engine_rows(e: &EngineReport, row: &mut impl FnMut(&str, String)) {
    let name = format!(
        "engine, {} order(s)/tx, {} threads",
        e.actions_per_tx, e.threads
    );
    row(
        &name,
        format!(
            "{} orders/s ({} tx/s, {} fills/s) over {} blocks of {} orders; ceiling {} orders/s; ratio {:.1}%",
            fmt_rate(e.orders_per_sec),
            fmt_rate(e.txs_per_sec),
            fmt_rate(e.fills_per_sec),
            e.blocks,
            e.orders / e.blocks.max(1),
            fmt_rate(e.ceiling_orders_per_sec),
            e.ratio * 100.0
        ),
    );
    row(
        "  block time",
        format!(
            "p50 {:.1}  p99 {:.1}  max {:.1} ms",
            e.block_ms.p50, e.block_ms.p99, e.block_ms.max
        ),
    );
    row("  rejected", reasons(&e.rejected_by_reason));
}

/// The LOBSTER replay's reproduction of Nasdaq's executions.
fn lobster_rows(l: &LobsterReport, row: &mut impl FnMut(&str, String)) {
    if l.commands_sent < l.commands {
        row(
            "LOBSTER (partial)",
            format!(
                "only {} of {} commands sent: the bare book reproduces {} executions \
                 on them, the chain {}",
                l.commands_sent,
                l.commands,
                l.reproduced_by_bare_book_on_sent,
                l.reproduced_by_chain
            ),
        );
    }
    row(
        "LOBSTER",
        format!(
            "{} of {} commands sent; Nasdaq executions {} ({} naming a placed order)",
            l.commands_sent, l.commands, l.nasdaq_executions, l.nasdaq_executions_known_maker
        ),
    );
    row(
        "  reproduced",
        format!(
            "chain {} ({:.2}% of all, {:.2}% of those naming a placed order), \
             bare book {} ({:.2}%, {:.2}%)",
            l.reproduced_by_chain,
            l.share_by_chain * 100.0,
            l.share_of_known_by_chain * 100.0,
            l.reproduced_by_bare_book,
            l.share_by_bare_book * 100.0,
            l.share_of_known_by_bare_book * 100.0
        ),
    );
}

impl Report {
    /// Rows of the summary table: `(what, value)`.
    pub fn rows(&self) -> Vec<(String, String)> {
        let mut rows: Vec<(String, String)> = Vec::new();
        let mut row = |k: &str, v: String| rows.push((k.to_string(), v));
        row(
            "mode",
            format!(
                "{} / workload {} / seed {}",
                self.mode, self.workload, self.seed
            ),
        );
        if let Some(n) = &self.network {
            network_rows(n, &mut row);
            network_rate_rows(n, &mut row);
        }
        for e in &self.engine {
            engine_rows(e, &mut row);
        }
        if let Some(l) = &self.lobster {
            lobster_rows(l, &mut row);
        }
        rows
    }

    /// The summary table, for a terminal.
    pub fn table(&self) -> String {
        let rows = self.rows();
        let width = rows
            .iter()
            .map(|(k, _)| k.chars().count())
            .max()
            .unwrap_or(0);
        let mut out = String::new();
        for (k, v) in rows {
            let _ = writeln!(out, "{k:<width$}  {v}");
        }
        for note in &self.notes {
            let _ = writeln!(out, "note: {note}");
        }
        out
    }

    /// The self-contained HTML report.
    pub fn html(&self) -> String {
        let mut body = String::new();
        let _ = write!(
            body,
            "<h1>clobchain load test</h1><p>{} — workload {} — seed {}</p>",
            esc(&self.mode),
            esc(&self.workload),
            self.seed
        );
        body.push_str("<table>");
        for (k, v) in self.rows() {
            let _ = write!(body, "<tr><th>{}</th><td>{}</td></tr>", esc(&k), esc(&v));
        }
        body.push_str("</table>");
        if let Some(n) = &self.network {
            network_charts(n, &mut body);
        }
        for e in &self.engine {
            body.push_str(&engine_chart(e));
        }
        if let Some(l) = &self.lobster {
            body.push_str("<h2>LOBSTER replay (bare book, per day)</h2>");
            for s in &l.replay_summaries {
                let _ = write!(body, "<pre>{}</pre>", esc(s));
            }
        }
        if !self.notes.is_empty() {
            body.push_str("<h2>Notes</h2><ul>");
            for note in &self.notes {
                let _ = write!(body, "<li>{}</li>", esc(note));
            }
            body.push_str("</ul>");
        }
        body.push_str("<h2>Settings</h2><table>");
        for (k, v) in &self.settings {
            let _ = write!(body, "<tr><th>{}</th><td>{}</td></tr>", esc(k), esc(v));
        }
        body.push_str("</table>");
        format!(
            "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\">\
             <title>clobchain load test</title><style>{STYLE}</style></head><body>{body}</body></html>\n"
        )
    }
}

/// The network run's charts: throughput over time, latency, the node process.
fn network_charts(n: &NetworkReport, body: &mut String) {
    let series = |f: fn(&TimelinePoint) -> f64| -> Vec<(f64, f64)> {
        n.timeline.iter().map(|p| (p.t_secs, f(p))).collect()
    };
    body.push_str(&line_chart(
        "Throughput over time",
        "seconds since the window opened",
        "per second",
        &[
            (
                "submitted orders",
                "#1f77b4",
                series(|p| p.submitted_orders_per_sec),
            ),
            (
                "acknowledged orders",
                "#2ca02c",
                series(|p| p.acknowledged_orders_per_sec),
            ),
            (
                "committed txs",
                "#9467bd",
                series(|p| p.committed_txs_per_sec),
            ),
            ("fills seen", "#d62728", series(|p| p.fills_per_sec)),
        ],
        false,
    ));
    let pct =
        |c: &[CurvePoint]| -> Vec<(f64, f64)> { c.iter().map(|p| (p.percentile, p.ms)).collect() };
    body.push_str(&line_chart(
        "Latency distribution",
        "percentile",
        "milliseconds",
        &[
            ("acknowledgement", "#2ca02c", pct(&n.ack_curve)),
            ("submit → fill on websocket", "#d62728", pct(&n.fill_curve)),
        ],
        true,
    ));
    let cpu: Vec<(f64, f64)> = n
        .timeline
        .iter()
        .filter_map(|p| p.cpu_percent.map(|c| (p.t_secs, c)))
        .collect();
    let rss: Vec<(f64, f64)> = n
        .timeline
        .iter()
        .filter_map(|p| p.rss_mb.map(|c| (p.t_secs, c)))
        .collect();
    if !cpu.is_empty() {
        body.push_str(&line_chart(
            "Node CPU (% of one core) and resident memory (MB)",
            "seconds since the window opened",
            "",
            &[("CPU %", "#ff7f0e", cpu), ("RSS MB", "#8c564b", rss)],
            false,
        ));
    }
}

/// One engine run's chart: orders per second per block, and the ceiling.
fn engine_chart(e: &EngineReport) -> String {
    let exec: Vec<(f64, f64)> = e
        .per_block
        .iter()
        .map(|p| (p.block as f64, p.orders_per_sec))
        .collect();
    let ceiling: Vec<(f64, f64)> = e
        .per_block
        .iter()
        .map(|p| (p.block as f64, p.ceiling_orders_per_sec))
        .collect();
    line_chart(
        &format!(
            "In process, {} order(s) per transaction, {} threads: orders/s per block",
            e.actions_per_tx, e.threads
        ),
        "measured block",
        "orders per second",
        &[
            ("execute_block", "#1f77b4", exec),
            ("verification ceiling", "#7f7f7f", ceiling),
        ],
        false,
    )
}

const STYLE: &str = "body{font-family:system-ui,sans-serif;margin:2em;max-width:1100px;color:#222}\
table{border-collapse:collapse;margin:1em 0}th,td{text-align:left;padding:3px 10px;\
border-bottom:1px solid #ddd;vertical-align:top}th{white-space:nowrap;color:#555}\
svg{background:#fafafa;border:1px solid #ddd;margin:1em 0}pre{background:#f4f4f4;padding:8px;\
overflow-x:auto}";

fn esc(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// One line of a chart: name, colour, points.
type Series<'a> = (&'a str, &'a str, Vec<(f64, f64)>);

/// An SVG line chart. With `percentile_x`, x is a percentile drawn on the scale
/// `-log10(1 - p/100)` (so 90, 99, 99.9 are evenly spaced), as latency plots are.
fn line_chart(
    title: &str,
    x_label: &str,
    y_label: &str,
    series: &[Series<'_>],
    percentile_x: bool,
) -> String {
    let (w, h) = (Plot::W, Plot::H);
    let points: Vec<(f64, f64)> = series
        .iter()
        .flat_map(|(_, _, s)| s.iter().map(|&(x, y)| (chart_x(x, percentile_x), y)))
        .filter(|(x, y)| x.is_finite() && y.is_finite())
        .collect();
    let mut svg = String::new();
    let _ = write!(
        svg,
        "<h2>{}</h2><svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{w}\" height=\"{h}\" \
         viewBox=\"0 0 {w} {h}\" font-size=\"12\">",
        esc(title)
    );
    if points.is_empty() {
        svg.push_str("<text x=\"20\" y=\"40\">no data</text></svg>");
        return svg;
    }
    let plot = Plot::around(&points, percentile_x);
    plot.grid(&mut svg);
    plot.axis_labels(&mut svg, x_label, y_label);
    plot.lines(&mut svg, series);
    svg.push_str("</svg>");
    svg
}

/// Where x is drawn: as is, or (`percentile_x`) on the percentile scale.
fn chart_x(x: f64, percentile_x: bool) -> f64 {
    if percentile_x {
        -(1.0 - (x / 100.0).min(0.99999)).log10()
    } else {
        x
    }
}

/// A chart's data ranges, mapped onto its SVG area.
struct Plot {
    x0: f64,
    x1: f64,
    y1: f64,
    percentile_x: bool,
}

impl Plot {
    const W: f64 = 960.0;
    const H: f64 = 360.0;
    const LEFT: f64 = 70.0;
    const RIGHT: f64 = 50.0;
    const TOP: f64 = 40.0;
    const BOTTOM: f64 = 50.0;

    /// The ranges of `points` (x already mapped), y from zero.
    fn around(points: &[(f64, f64)], percentile_x: bool) -> Plot {
        let (mut x0, mut x1) = (f64::MAX, f64::MIN);
        let mut y1 = 0.0f64;
        for &(x, y) in points {
            x0 = x0.min(x);
            x1 = x1.max(x);
            y1 = y1.max(y);
        }
        if x1 <= x0 {
            x1 = x0 + 1.0;
        }
        let y1 = if y1 <= 0.0 { 1.0 } else { y1 * 1.08 };
        Plot {
            x0,
            x1,
            y1,
            percentile_x,
        }
    }

    fn px(&self, x: f64) -> f64 {
        Plot::LEFT + (x - self.x0) / (self.x1 - self.x0) * (Plot::W - Plot::LEFT - Plot::RIGHT)
    }

    fn py(&self, y: f64) -> f64 {
        Plot::H - Plot::BOTTOM - y / self.y1 * (Plot::H - Plot::TOP - Plot::BOTTOM)
    }

    /// Horizontal grid lines with y labels, vertical ones with x labels.
    fn grid(&self, svg: &mut String) {
        let (w, h, left, right, top, bottom) = (
            Plot::W,
            Plot::H,
            Plot::LEFT,
            Plot::RIGHT,
            Plot::TOP,
            Plot::BOTTOM,
        );
        for i in 0..=4 {
            let y = self.y1 * f64::from(i) / 4.0;
            let _ = write!(
                svg,
                "<line x1=\"{left}\" x2=\"{}\" y1=\"{y:.1}\" y2=\"{y:.1}\" stroke=\"#ddd\"/>\
                 <text x=\"{}\" y=\"{:.1}\" text-anchor=\"end\">{}</text>",
                w - right,
                left - 6.0,
                self.py(y) + 4.0,
                short(y),
                y = self.py(y)
            );
        }
        let (x0, x1) = (self.x0, self.x1);
        let ticks: Vec<(f64, String)> = if self.percentile_x {
            [0.0, 50.0, 90.0, 99.0, 99.9, 99.99, 99.999]
                .into_iter()
                .map(|p| (chart_x(p, true), format!("{p}%")))
                .filter(|(x, _)| *x <= x1 + 1e-9)
                .collect()
        } else {
            (0..=5)
                .map(|i| {
                    let x = x0 + (x1 - x0) * f64::from(i) / 5.0;
                    (x, short(x))
                })
                .collect()
        };
        for (x, label) in ticks {
            let _ = write!(
                svg,
                "<line x1=\"{x:.1}\" x2=\"{x:.1}\" y1=\"{top}\" y2=\"{}\" stroke=\"#eee\"/>\
                 <text x=\"{x:.1}\" y=\"{}\" text-anchor=\"middle\">{}</text>",
                h - bottom,
                h - bottom + 16.0,
                esc(&label),
                x = self.px(x)
            );
        }
    }

    fn axis_labels(&self, svg: &mut String, x_label: &str, y_label: &str) {
        let (w, h) = (Plot::W, Plot::H);
        let _ = write!(
            svg,
            "<text x=\"{}\" y=\"{}\" text-anchor=\"middle\">{}</text>\
             <text x=\"14\" y=\"{}\" transform=\"rotate(-90 14 {})\" text-anchor=\"middle\">{}</text>",
            (Plot::LEFT + w - Plot::RIGHT) / 2.0,
            h - 12.0,
            esc(x_label),
            h / 2.0,
            h / 2.0,
            esc(y_label)
        );
    }

    /// Each series' line and its legend.
    fn lines(&self, svg: &mut String, series: &[Series<'_>]) {
        for (i, (name, color, data)) in series.iter().enumerate() {
            let path: Vec<String> = data
                .iter()
                .map(|&(x, y)| (chart_x(x, self.percentile_x), y))
                .filter(|(x, y)| x.is_finite() && y.is_finite())
                .map(|(x, y)| format!("{:.1},{:.1}", self.px(x), self.py(y)))
                .collect();
            if !path.is_empty() {
                let _ = write!(
                    svg,
                    "<polyline fill=\"none\" stroke=\"{color}\" stroke-width=\"2\" points=\"{}\"/>",
                    path.join(" ")
                );
            }
            let lx = Plot::LEFT + 10.0 + 200.0 * i as f64;
            let _ = write!(
                svg,
                "<rect x=\"{lx}\" y=\"12\" width=\"14\" height=\"4\" fill=\"{color}\"/>\
                 <text x=\"{}\" y=\"18\">{}</text>",
                lx + 18.0,
                esc(name)
            );
        }
    }
}

/// A short axis label.
fn short(x: f64) -> String {
    let a = x.abs();
    if a >= 1e6 {
        format!("{:.1}M", x / 1e6)
    } else if a >= 1e4 {
        format!("{:.0}k", x / 1e3)
    } else if a >= 100.0 || a == 0.0 {
        format!("{:.0}", x)
    } else {
        format!("{:.1}", x)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn html_is_self_contained() {
        let report = Report {
            mode: "rest".into(),
            workload: "mix".into(),
            seed: 1,
            settings: BTreeMap::new(),
            network: Some(NetworkReport {
                timeline: vec![
                    TimelinePoint {
                        t_secs: 0.0,
                        submitted_orders_per_sec: 10.0,
                        ..TimelinePoint::default()
                    },
                    TimelinePoint {
                        t_secs: 1.0,
                        submitted_orders_per_sec: 12.0,
                        cpu_percent: Some(50.0),
                        rss_mb: Some(100.0),
                        ..TimelinePoint::default()
                    },
                ],
                ack_curve: vec![
                    CurvePoint {
                        percentile: 0.0,
                        ms: 1.0,
                    },
                    CurvePoint {
                        percentile: 99.0,
                        ms: 5.0,
                    },
                ],
                ..NetworkReport::default()
            }),
            engine: vec![],
            lobster: None,
            notes: vec!["a <note>".into()],
        };
        let html = report.html();
        assert!(html.contains("<svg") && html.contains("<polyline"));
        assert!(html.contains("a &lt;note&gt;"));
        // No external resources: the only URL is the SVG namespace.
        assert_eq!(
            html.matches("http").count(),
            html.matches("http://www.w3.org/2000/svg").count()
        );
        assert!(!report.table().is_empty());
    }
}
