// The order book from the websocket `book` channel: a snapshot, then deltas whose `seq`
// must follow without a gap; each [price, qty] is the level's new total (0: gone).

export class Book {
  constructor(market) { this.market = market; this.reset(); }
  reset() { this.bids = new Map(); this.asks = new Map(); this.seq = null; this.height = null; this.ready = false; }

  /** Applies a `book` message: "ok", "ignored" (stale or before a snapshot) or "gap". */
  apply(msg) {
    if (msg.snapshot) {
      this.reset();
      for (const [p, q] of msg.bids) this.bids.set(p, q);
      for (const [p, q] of msg.asks) this.asks.set(p, q);
      this.seq = msg.seq; this.height = msg.height; this.ready = true;
      return "ok";
    }
    if (!this.ready || msg.seq <= this.seq) return "ignored";
    if (msg.seq !== this.seq + 1) { this.ready = false; return "gap"; }
    for (const [side, levels] of [[this.bids, msg.bids], [this.asks, msg.asks]])
      for (const [p, q] of levels) { if (q === 0) side.delete(p); else side.set(p, q); }
    this.seq = msg.seq; this.height = msg.height;
    return "ok";
  }

  /** Levels best first: bids descending, asks ascending. */
  levels(side, depth = Infinity) {
    const map = side === "bids" ? this.bids : this.asks;
    const sorted = [...map.entries()].sort((a, b) => (side === "bids" ? b[0] - a[0] : a[0] - b[0]));
    return sorted.slice(0, depth);
  }
  bestBid() { const l = this.levels("bids", 1); return l.length ? l[0][0] : null; }
  bestAsk() { const l = this.levels("asks", 1); return l.length ? l[0][0] : null; }
}
