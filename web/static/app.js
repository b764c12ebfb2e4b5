// The trading page: market data from the websocket, account and orders signed in the browser.
import { api, submitTx, Socket, ApiError } from "./api.js";
import { Book } from "./book.js";
import { generateKey, importSecret, signTransaction, orderId } from "./borsh.js";
import { drawCandles, drawDepth } from "./charts.js";
import * as units from "./units.js";

const $ = (id) => document.getElementById(id);
const INTERVALS = { "1m": 60000, "5m": 300000, "1h": 3600000 };
const KEY_STORE = "clobchain.secret";
const TAPE_MAX = 1000; // trades the tape keeps as live ones arrive (or as many as "load more" showed)
// An older-history list (trades tape, fills): rows shown, the `next` page cursor (undefined
// until the first page; null once the history is exhausted), a "load more" in flight.
const paged = (rows) => ({ rows, next: undefined, busy: false });

const state = {
  chainId: null, height: 0, markets: [], market: null, book: null,
  trades: [], tradeHistory: paged(60), candles: new Map(), interval: "1m",
  key: null, account: null, openOrders: [], fills: new Map(), fillHistory: paged(50), pageSize: 100,
  lastHeight: {}, submitted: 0, amending: null,
};
const el = (tag, props = {}, ...children) => {
  const e = Object.assign(document.createElement(tag), props);
  for (const c of children) e.append(c);
  return e;
};
const td = (text, cls) => el("td", { textContent: text, className: cls || "" });
const marketById = (id) => state.markets.find((m) => m.id === id);

// ---------- messages ----------
function log(text, kind = "info") {
  const li = el("li", { className: kind }, el("time", { textContent: new Date().toLocaleTimeString() }), text);
  $("messages").prepend(li);
  while ($("messages").children.length > 60) $("messages").lastChild.remove();
}
function logError(e, what) {
  const text = e instanceof ApiError ? `${e.code}: ${e.detail}` : e.message || String(e);
  log(`${what}: ${text}`, "error");
}

// ---------- rendering, batched per animation frame ----------
const dirty = new Set();
function invalidate(...parts) {
  if (!dirty.size) requestAnimationFrame(render);
  for (const p of parts) dirty.add(p);
}
function render() {
  const parts = new Set(dirty); dirty.clear();
  if (!state.market) return;
  if (parts.has("book")) { renderBook(); renderDepth(); renderHeader(); }
  if (parts.has("trades")) { renderTrades(); renderHeader(); }
  if (parts.has("candles")) renderCandles();
  if (parts.has("account")) renderAccount();
  if (parts.has("height")) $("height").textContent = state.height;
}

function renderHeader() {
  const m = state.market, b = state.book;
  const bid = b && b.bestBid(), ask = b && b.bestAsk();
  $("best-bid").textContent = bid != null ? units.formatPrice(bid, m) : "—";
  $("best-ask").textContent = ask != null ? units.formatPrice(ask, m) : "—";
  const last = state.trades[0];
  $("last-price").textContent = last ? units.formatPrice(last.price, m) : "—";
  $("last-price").className = last ? (last.taker_side === "buy" ? "up" : "down") : "";
}

function renderBook() {
  const m = state.market, b = state.book;
  if (!m) return;
  const rows = 13;
  const mine = new Set(state.openOrders.filter((o) => o.market === m.id).map((o) => `${o.side === "buy" ? "bids" : "asks"}:${o.price}`));
  const side = (name) => {
    let total = 0;
    return b.levels(name, rows).map(([p, q]) => { total += q; return { p, q, total }; });
  };
  const bids = side("bids"), asks = side("asks");
  const max = Math.max(1, ...bids.map((r) => r.total), ...asks.map((r) => r.total));
  const row = (name, r) => {
    const div = el("div", { className: "level" + (mine.has(`${name}:${r.p}`) ? " mine" : "") },
      el("span", { textContent: units.formatPrice(r.p, m) }),
      el("span", { textContent: units.formatQty(r.q, m) }),
      el("span", { textContent: units.formatQty(r.total, m) }),
      el("div", { className: "bar" }));
    div.lastChild.style.width = `${(100 * r.total) / max}%`;
    Object.assign(div.dataset, { testid: "book-row", side: name === "bids" ? "buy" : "sell", price: r.p, qty: r.q });
    div.onclick = () => { $("price").value = units.formatPrice(r.p, m); updatePreview(); };
    return div;
  };
  $("book-asks").replaceChildren(...asks.slice().reverse().map((r) => row("asks", r)));
  $("book-bids").replaceChildren(...bids.map((r) => row("bids", r)));
  const bb = b.bestBid(), ba = b.bestAsk();
  $("book-spread").replaceChildren(bb != null && ba != null
    ? el("span", {}, units.formatPrice(ba - bb, m), el("small", { textContent: `spread ${((ba - bb) / ((ba + bb) / 2) * 1e4).toFixed(1)} bps` }))
    : el("span", { className: "muted", textContent: b.ready ? "one-sided book" : "loading…" }));
  $("book-seq").textContent = b.ready ? `seq ${b.seq}` : "resyncing";
}

function renderDepth() {
  const m = state.market, b = state.book;
  const conv = (levels) => levels.map(([p, q]) => [Number(units.formatPrice(p, m)), Number(units.formatQty(q, m))]);
  const digits = units.marketUnits(m).priceDigits;
  drawDepth($("depth-canvas"), conv(b.levels("bids", 200)), conv(b.levels("asks", 200)), { fmt: (x) => x.toFixed(digits) });
}

function renderTrades() {
  const m = state.market;
  renderMore("trades-more", state.tradeHistory, state.trades.length);
  $("trades").replaceChildren(...state.trades.slice(0, state.tradeHistory.rows).map((t) => {
    const tr = el("tr", {}, td(units.formatPrice(t.price, m), t.taker_side === "buy" ? "up" : "down"),
      td(units.formatQty(t.qty, m)), td(new Date(t.timestamp_ms).toLocaleTimeString()));
    Object.assign(tr.dataset, { testid: "trade-row", seq: t.seq, price: t.price, qty: t.qty });
    return tr;
  }));
}
function renderMore(id, h, loaded) {
  $(id).hidden = !(loaded > h.rows || h.next);
  $(id).disabled = h.busy;
  $(id).textContent = h.busy ? "loading…" : "load more";
}

function candleList() {
  return [...state.candles.values()].sort((a, b) => a.open_time_ms - b.open_time_ms);
}
function renderCandles() {
  const m = state.market, list = candleList();
  const digits = units.marketUnits(m).priceDigits;
  const p = (x) => Number(units.formatPrice(x, m));
  drawCandles($("candles-canvas"), list.map((c) => ({ t: c.open_time_ms, o: p(c.open), h: p(c.high), l: p(c.low), c: p(c.close),
    v: Number(units.formatQty(c.volume, m)) })), { intervalMs: INTERVALS[state.interval], fmt: (x) => x.toFixed(digits) });
  $("candles-canvas").dataset.candles = list.length;
  const last = list[list.length - 1];
  $("candle-ohlc").textContent = last ? `O ${units.formatPrice(last.open, m)} H ${units.formatPrice(last.high, m)} L ${units.formatPrice(last.low, m)} C ${units.formatPrice(last.close, m)} V ${units.formatQty(last.volume, m)}` : "";
}

function renderAccount() {
  $("account-key").textContent = state.key ? state.key.publicKey : "none";
  $("account-key").title = state.key ? state.key.publicKey : "";
  const acct = state.account;
  $("balances").tBodies[0].replaceChildren(...(acct ? acct.balances : []).filter((b) => b.available || b.held || acct.exists).map((b) => {
    const dec = assetDecimals(b.asset);
    const tr = el("tr", {}, td(b.symbol), td(units.formatAmount(b.available, dec)), td(units.formatAmount(b.held, dec)));
    tr.dataset.asset = b.symbol; tr.dataset.available = b.available; tr.dataset.held = b.held;
    return tr;
  }));
  $("open-count").textContent = state.openOrders.length ? `(${state.openOrders.length})` : "";
  // Rows are rebuilt only when something in them changed, so a click or an amend being
  // typed is not lost to a refresh.
  if (state.amending && !state.openOrders.some((o) => o.order_id === state.amending)) state.amending = null;
  const sig = JSON.stringify([state.amending, state.openOrders.map((o) => [o.order_id, o.price, o.qty_remaining])]);
  if ($("open-orders").dataset.sig !== sig) {
    $("open-orders").dataset.sig = sig;
    $("open-orders").replaceChildren(...state.openOrders.map(openOrderRow));
  }
  renderMore("fills-more", state.fillHistory, state.fills.size);
  const fills = [...state.fills.values()].sort((a, b) => b.height - a.height || b.market - a.market || b.seq - a.seq).slice(0, state.fillHistory.rows);
  const fillSig = `${state.key?.publicKey}:${fills.map(fillKey).join(",")}`;
  if ($("fills").dataset.sig === fillSig) return renderBook();
  $("fills").dataset.sig = fillSig;
  $("fills").replaceChildren(...fills.map((f) => {
    const m = marketById(f.market), maker = f.maker === state.key?.publicKey;
    const side = maker ? (f.taker_side === "buy" ? "sell" : "buy") : f.taker_side;
    const tr = el("tr", {}, td(m.symbol), td(side, side === "buy" ? "up" : "down"), td(maker ? "maker" : "taker"),
      td(units.formatPrice(f.price, m)), td(units.formatQty(f.qty, m)), td(units.formatQuote(maker ? f.maker_fee : f.taker_fee, m)), td(f.height));
    Object.assign(tr.dataset, { testid: "fill-row", market: f.market, seq: f.seq, side, price: f.price, qty: f.qty });
    return tr;
  }));
  renderBook();
}

function openOrderRow(o) {
  const m = marketById(o.market);
  const tr = el("tr", {}, td(m.symbol), td(o.side, o.side === "buy" ? "up" : "down"));
  Object.assign(tr.dataset, { testid: "open-order", orderId: o.order_id, price: o.price, qty: o.qty_remaining, side: o.side });
  if (state.amending === o.order_id) {
    const price = el("input", { value: units.formatPrice(o.price, m), className: "amend-price" });
    const size = el("input", { value: units.formatQty(o.qty_remaining, m), className: "amend-size" });
    tr.append(el("td", {}, price), el("td", {}, size), td(short(o.order_id), "id"),
      el("td", {}, el("button", { textContent: "save", className: "amend-save", onclick: () => amendOrder(o, price.value, size.value) }),
        el("button", { textContent: "×", onclick: () => { state.amending = null; invalidate("account"); } })));
  } else {
    tr.append(td(units.formatPrice(o.price, m)), td(units.formatQty(o.qty_remaining, m)), el("td", { className: "id", textContent: short(o.order_id), title: o.order_id }),
      el("td", {}, el("button", { textContent: "amend", className: "amend", onclick: () => { state.amending = o.order_id; invalidate("account"); } }),
        el("button", { textContent: "cancel", className: "cancel", onclick: () => cancelOrder(o) })));
  }
  return tr;
}
const short = (id) => (id.length > 10 ? id.slice(0, 5) + "…" + id.slice(-4) : id);
function assetDecimals(assetId) {
  for (const m of state.markets) {
    if (m.base.id === assetId) return m.base.decimals;
    if (m.quote.id === assetId) return m.quote.decimals;
  }
  return 0;
}

// ---------- websocket ----------
function onMessage(msg) {
  if (msg.height > state.height) { state.height = msg.height; invalidate("height"); }
  const m = state.market;
  switch (msg.type) {
    case "book":
      if (!m || msg.market !== m.id) return;
      if (state.book.apply(msg) === "gap") { log(`book seq gap at ${msg.seq}: resyncing from a new snapshot`); subscribeBook(); }
      invalidate("book");
      break;
    case "trades":
      state.lastHeight[`trades:${msg.market}`] = msg.height;
      if (m && msg.market === m.id) { addTrades(msg.data, true); invalidate("trades"); }
      break;
    case "candles":
      if (m && msg.market === m.id && msg.interval === state.interval) { for (const c of msg.data) state.candles.set(c.open_time_ms, c); invalidate("candles"); }
      break;
    case "fills":
      state.lastHeight.fills = msg.height;
      if (msg.account === state.key?.publicKey) { for (const f of msg.data) state.fills.set(fillKey(f), f); refreshAccount(); }
      break;
    case "orders":
      state.lastHeight.orders = msg.height;
      if (msg.account === state.key?.publicKey) {
        for (const u of msg.data) {
          if (u.event.refused) log(`transaction ${short(u.tx || "")} refused: ${u.event.refused}`, "error");
          // Dropped from the mempool after this block: it never runs, its nonce is not used.
          else if (u.event.dropped) log(`transaction ${short(u.tx || "")} dropped after block ${msg.height}: ${u.event.dropped} (${u.event.rule})`, "error");
        }
        refreshAccount();
      }
      break;
    case "subscribed": {
      if (msg.channel === "candles" && m && msg.market === m.id) loadCandleHistory();
      const key = msg.channel === "trades" ? `trades:${msg.market}` : msg.channel;
      if (RESUMABLE.has(msg.channel) && state.lastHeight[key] === undefined) state.lastHeight[key] = msg.height;
      break;
    }
    case "heartbeat": case "pong":
      // Every block up to this height has been delivered on this connection.
      for (const key of Object.keys(state.lastHeight)) state.lastHeight[key] = Math.max(state.lastHeight[key], msg.height);
      break;
    case "error":
      log(`websocket ${msg.code}: ${msg.message}`, "error"); break;
    case "lagged": case "closing":
      log(`websocket ${msg.type}: ${msg.message}`); break;
  }
}
const RESUMABLE = new Set(["trades", "orders", "fills"]);
// A fill's (or trade's) place in history pages: the `before` cursor `height:market:seq`.
const fillKey = (f) => `${f.height}:${f.market}:${f.seq}`;

function addTrades(list, live = false) {
  const seen = new Set(state.trades.map((t) => t.seq));
  for (const t of list) if (!seen.has(t.seq)) state.trades.push(t);
  state.trades.sort((a, b) => b.seq - a.seq);
  // Live trades push the oldest out; "load more" then starts after the oldest kept.
  const h = state.tradeHistory, max = Math.max(TAPE_MAX, h.rows);
  if (live && !h.busy && state.trades.length > max) { state.trades.length = max; h.next = fillKey(state.trades[max - 1]); }
}

const socket = new Socket({
  onMessage,
  onStatus: (s) => {
    $("ws-status").dataset.state = s; $("ws-status").lastChild.textContent = s;
    if (s === "reconnecting" && state.book) { state.book.ready = false; invalidate("book"); }
  },
});

function subscribeBook() {
  const m = state.market;
  state.book.ready = false;
  socket.subscribe("book", () => ({ op: "subscribe", channel: "book", market: m.id }));
}
function subscribeMarket() {
  const m = state.market;
  subscribeBook();
  socket.subscribe("trades", () => {
    const h = state.lastHeight[`trades:${m.id}`];
    return { op: "subscribe", channel: "trades", market: m.id, ...(h ? { from_height: h + 1 } : {}) };
  });
  subscribeCandles();
}
function subscribeCandles() {
  const m = state.market, interval = state.interval;
  state.candles = new Map(); invalidate("candles");
  socket.subscribe("candles", () => ({ op: "subscribe", channel: "candles", market: m.id, interval }));
}
function unsubscribeMarket(m) {
  socket.unsubscribe("book", { op: "unsubscribe", channel: "book", market: m.id });
  socket.unsubscribe("trades", { op: "unsubscribe", channel: "trades", market: m.id });
  socket.unsubscribe("candles", { op: "unsubscribe", channel: "candles", market: m.id, interval: state.interval });
}
function subscribeAccount() {
  const acct = state.key.publicKey;
  for (const channel of ["orders", "fills"])
    socket.subscribe(channel, () => {
      const h = state.lastHeight[channel];
      return { op: "subscribe", channel, account: acct, ...(h ? { from_height: h + 1 } : {}) };
    });
}

// ---------- REST loads ----------
async function loadTrades() {
  const m = state.market, h = state.tradeHistory;
  const page = await api(`/v1/markets/${m.id}/trades`, { query: { limit: state.pageSize } });
  if (state.tradeHistory !== h) return;
  addTrades(page.trades); h.next = page.next ?? null;
  invalidate("trades");
}
const HISTORY = {
  trades: { current: () => state.tradeHistory, path: () => `/v1/markets/${state.market.id}/trades`,
    loaded: () => state.trades.length, add: (list) => addTrades(list), part: "trades" },
  fills: { current: () => state.fillHistory, path: () => `/v1/accounts/${state.key.publicKey}/fills`,
    loaded: () => state.fills.size, add: (list) => { for (const f of list) state.fills.set(fillKey(f), f); }, part: "account" },
};
/**
 * "load more": shows `pageSize` more rows, fetching older pages while fewer are loaded. A
 * page may be short, even empty, while `next` is present (docs/API.md "History pages");
 * `next` absent is the end. At most 10 requests a click; the next click goes on from there.
 */
async function loadMore(name) {
  const { current, path, loaded, add, part } = HISTORY[name];
  const h = current(), url = path();
  if (h.busy) return;
  h.busy = true; h.rows += state.pageSize; invalidate(part);
  try {
    for (let i = 0; i < 10 && h.next && loaded() < h.rows; i++) {
      const page = await api(url, { query: { limit: state.pageSize, before: h.next } });
      if (current() !== h) return; // the market or the key changed meanwhile
      h.next = page.next ?? null; add(page[name]);
    }
  } catch (e) { logError(e, `older ${name}`); }
  h.busy = false; invalidate(part);
}
async function loadCandleHistory() {
  const m = state.market, interval = state.interval;
  try {
    const page = await api(`/v1/markets/${m.id}/candles`, { query: { interval, limit: 300 } });
    if (state.market !== m || state.interval !== interval) return;
    for (const c of page.candles) if (!state.candles.has(c.open_time_ms) || state.candles.get(c.open_time_ms).last_seq < c.last_seq) state.candles.set(c.open_time_ms, c);
    invalidate("candles");
  } catch (e) { logError(e, "candles"); }
}

let refreshing = null, refreshAgain = false;
async function refreshAccount() {
  if (!state.key) return;
  if (refreshing) { refreshAgain = true; return refreshing; }
  const acct = state.key.publicKey;
  refreshing = (async () => {
    try {
      const [info, orders, fills] = await Promise.all([
        api(`/v1/accounts/${acct}`), api(`/v1/accounts/${acct}/orders`), api(`/v1/accounts/${acct}/fills`, { query: { limit: state.pageSize } })]);
      if (state.key?.publicKey !== acct) return;
      state.account = info; state.openOrders = orders;
      for (const f of fills.fills) state.fills.set(fillKey(f), f);
      if (state.fillHistory.next === undefined) state.fillHistory.next = fills.next ?? null; // the first page's cursor
      invalidate("account");
    } catch (e) { logError(e, "account"); }
  })();
  await refreshing;
  refreshing = null;
  if (refreshAgain) { refreshAgain = false; return refreshAccount(); }
}

// ---------- market selection ----------
function selectMarket(m) {
  if (state.market) unsubscribeMarket(state.market);
  state.market = m; state.book = new Book(m.id); state.trades = []; state.tradeHistory = paged(60);
  delete state.lastHeight[`trades:${m.id}`]; // REST gives the history; the channel starts live
  $("market-select").value = m.id;
  if (location.hash !== "#" + m.symbol) history.replaceState(null, "", "#" + m.symbol);
  const u = units.marketUnits(m);
  $("market-rule").textContent = `${u.priceStep} / ${u.qtyStep}`;
  $("market-fees").textContent = `${m.maker_fee_bps} / ${m.taker_fee_bps} bps`;
  $("price-unit").textContent = `${m.quote.symbol} per ${m.base.symbol}, step ${u.priceStep}`;
  $("size-unit").textContent = `${m.base.symbol}, step ${u.qtyStep}`;
  document.title = `${m.symbol} · clobchain`;
  subscribeMarket();
  loadTrades().catch((e) => logError(e, "trades"));
  invalidate("book", "trades", "candles", "account");
  updatePreview();
}

// ---------- keys ----------
async function setKey(key) {
  state.key = key; state.fills = new Map(); state.fillHistory = paged(50); state.openOrders = []; state.account = null;
  delete state.lastHeight.orders; delete state.lastHeight.fills;
  if (key) { localStorage.setItem(KEY_STORE, key.secret); subscribeAccount(); await refreshAccount(); }
  else {
    localStorage.removeItem(KEY_STORE);
    for (const channel of ["orders", "fills"]) socket.subs.delete(channel);
  }
  $("secret-view").hidden = true;
  invalidate("account");
}

function nextNonce() {
  const k = `clobchain.nonce.${state.key.publicKey}`;
  const last = BigInt(localStorage.getItem(k) || state.account?.last_nonce || 0);
  let n = BigInt(Date.now());
  if (n <= last) n = last + 1n;
  localStorage.setItem(k, n.toString());
  return n;
}

async function useDemoAccount() {
  const btn = $("demo-account"); btn.disabled = true;
  try {
    const key = await generateKey();
    log(`new demo key ${short(key.publicKey)}: funding from the faucet`);
    const assets = new Map();
    for (const m of state.markets) { assets.set(m.quote.id, m.quote.decimals); assets.set(m.base.id, m.base.decimals); }
    for (const [asset, decimals] of assets) {
      // 1,000,000 units of a quote-like asset is the faucet limit at 6 decimals; 1,000 of the others.
      const amount = BigInt(Math.min(1e12, 10 ** decimals * (decimals <= 6 ? 1e6 : 1e3)));
      const r = await api("/v1/faucet", { method: "POST", query: { wait: "true" }, body: { account: key.publicKey, asset, amount: Number(amount) } });
      if (r.status !== "committed") throw new Error(`faucet transaction ${r.status}${r.receipt?.code ? " " + r.receipt.code : ""}`);
    }
    await setKey(key);
    log(`demo account ${short(key.publicKey)} funded`, "ok");
  } catch (e) { logError(e, "demo account"); }
  btn.disabled = false;
}

// ---------- transactions ----------
/** Signs and submits one action; logs the outcome and returns null or the error text. */
async function send(action, what) {
  if (!state.key) { const e = "no key: use the demo account or import a key"; log(e, "error"); return e; }
  const nonce = nextNonce();
  const tx = { chain_id: state.chainId, signer: state.key.publicKey, nonce, action };
  const signed = await signTransaction(state.key, tx);
  state.submitted += 1;
  let error = null;
  try {
    const r = await submitTx(signed.hex);
    if (r.status === "rejected") error = r.receipt.code;
    else if (r.status === "dropped") {
      // Taken out of the mempool after block `height`: never in a block, nothing changed.
      const d = r.receipt || {};
      error = `${d.code} (dropped after block ${d.height})`;
      log(`${what} dropped after block ${d.height}: ${d.code}${d.reason ? ` (${d.reason})` : ""}`, "error");
    } else if (r.status === "pending") log(`${what} pending (${short(r.hash)})`);
    else {
      const refused = r.receipt.actions.find((a) => a.result === "rejected");
      const ev = (r.receipt.events || []).find((e) => e.type === "rejected");
      if (refused) error = refused.code;
      else if (ev) error = ev.code;
      else log(`${what}: committed at height ${r.receipt.height}`, "ok");
    }
    if (error && r.status !== "dropped") log(`${what} rejected: ${error}`, "error");
  } catch (e) {
    error = e instanceof ApiError ? `${e.code}: ${e.detail}` : String(e.message || e);
    log(`${what}: ${error}`, "error");
  }
  refreshAccount();
  return error;
}

function readForm() {
  const m = state.market;
  const side = document.querySelector("input[name=side]:checked").value;
  const type = $("order-type").value;
  const price = units.parsePrice($("price").value, m);
  if (!price.ok) return { error: price };
  const qty = units.parseQty($("size").value, m);
  if (!qty.ok) return { error: qty };
  let tif = type === "ioc" ? "ioc" : type === "fok" ? "fok" : "gtc";
  const gtb = $("gtb").value.trim();
  if (gtb) {
    if (!/^\d+$/.test(gtb)) return { error: { error: "good till block must be a block height", rule: `a whole height above the current ${state.height}` } };
    if (tif !== "gtc") return { error: { error: "good till block is for resting orders", rule: "use it with limit or post-only" } };
    tif = { gtb: BigInt(gtb) };
  }
  return { action: { type: "place", market: m.id, side, price: price.atoms, qty: qty.atoms, time_in_force: tif, post_only: type === "post_only" } };
}

function showFormError(err) {
  $("form-error").hidden = !err;
  $("form-error").textContent = err ? `${err.code ? err.code + ": " : ""}${err.error}. The rule: ${err.rule}.` : "";
}

function updatePreview() {
  const side = document.querySelector("input[name=side]:checked").value;
  $("submit-order").textContent = side === "buy" ? "Buy" : "Sell";
  $("submit-order").className = "primary " + side;
  const m = state.market;
  if (!m) return;
  const p = units.parsePrice($("price").value, m), q = units.parseQty($("size").value, m);
  $("order-preview").textContent = p.ok && q.ok
    ? `${units.formatQty(q.atoms, m)} ${m.base.symbol} × ${units.formatPrice(p.atoms, m)} = ${units.formatQuote(units.notional(p.atoms, q.atoms, m), m)} ${m.quote.symbol}  (price ${p.atoms}, qty ${q.atoms} atoms)`
    : "";
}

async function placeOrder(ev) {
  ev.preventDefault();
  const f = readForm();
  if (f.error) { showFormError(f.error); return; }
  showFormError(null);
  const m = state.market, a = f.action;
  $("submit-order").disabled = true;
  const error = await send(a, `${a.side} ${units.formatQty(a.qty, m)} ${m.base.symbol} @ ${units.formatPrice(a.price, m)}`);
  $("submit-order").disabled = false;
  if (error) { $("form-error").hidden = false; $("form-error").textContent = `Refused by the node: ${error}`; }
}

async function cancelOrder(o) {
  await send({ type: "cancel", market: o.market, order_id: o.order_id }, `cancel ${short(o.order_id)}`);
}

async function amendOrder(o, priceText, sizeText) {
  const m = marketById(o.market);
  const p = units.parsePrice(priceText, m), q = units.parseQty(sizeText, m);
  const bad = !p.ok ? p : !q.ok ? q : null;
  if (bad) { log(`amend refused: ${bad.error}. The rule: ${bad.rule}`, "error"); return; }
  state.amending = null;
  await send({ type: "amend", market: o.market, order_id: o.order_id, price: p.atoms, qty: q.atoms }, `amend ${short(o.order_id)}`);
}

// ---------- start ----------
async function start() {
  const health = await api("/v1/health");
  state.chainId = health.chain_id; state.height = health.height; invalidate("height");
  state.markets = await api("/v1/markets");
  $("market-select").replaceChildren(...state.markets.map((m) => el("option", { value: m.id, textContent: m.symbol })));
  $("market-select").onchange = () => selectMarket(marketById(Number($("market-select").value)));
  const wanted = state.markets.find((m) => "#" + m.symbol === location.hash) || state.markets[0];
  selectMarket(wanted);
  socket.subscribe("blocks", () => ({ op: "subscribe", channel: "blocks" }));

  for (const b of document.querySelectorAll("#intervals button"))
    b.onclick = () => {
      if (state.interval === b.dataset.interval) return;
      socket.unsubscribe("candles", { op: "unsubscribe", channel: "candles", market: state.market.id, interval: state.interval });
      state.interval = b.dataset.interval;
      for (const x of document.querySelectorAll("#intervals button")) x.classList.toggle("on", x === b);
      subscribeCandles();
    };
  $("trades-more").onclick = () => loadMore("trades");
  $("fills-more").onclick = () => loadMore("fills");
  $("order-form").onsubmit = placeOrder;
  for (const id of ["price", "size", "side-buy", "side-sell"]) $(id).addEventListener("input", () => { showFormError(null); updatePreview(); });
  $("demo-account").onclick = useDemoAccount;
  $("generate-key").onclick = async () => { await setKey(await generateKey()); log("new key generated (unfunded: use the faucet or the demo account)"); };
  $("forget-key").onclick = () => setKey(null);
  $("show-secret").onclick = () => {
    if (!state.key) return;
    $("secret-view").hidden = !$("secret-view").hidden; $("secret-view").textContent = state.key.secret;
  };
  $("import-key").onclick = async () => {
    try { await setKey(await importSecret($("import-secret").value)); $("import-secret").value = ""; log("key imported", "ok"); }
    catch (e) { log(`import: ${e.message}`, "error"); }
  };
  window.addEventListener("resize", () => invalidate("book", "candles"));

  const saved = localStorage.getItem(KEY_STORE);
  if (saved) await setKey(await importSecret(saved)).catch((e) => log(`stored key: ${e.message}`, "error"));
  invalidate("account");
  document.body.dataset.ready = "true";
}

// Handles for tests and the console.
window.clob = { state, socket, units, orderId, refreshAccount, onMessage, setKey };
start().catch((e) => logError(e, "start"));
