// REST calls and the websocket: errors by code, automatic reconnect and resubscription.

export class ApiError extends Error {
  constructor(code, message, status) { super(`${code}: ${message}`); this.code = code; this.detail = message; this.status = status; }
}

/** JSON request to the node's REST API (relative URL); throws ApiError on an ErrorBody. */
export async function api(path, { method = "GET", body, query } = {}) {
  let url = path;
  if (query) {
    const q = new URLSearchParams(Object.entries(query).filter(([, v]) => v !== undefined && v !== null));
    if ([...q].length) url += "?" + q;
  }
  let res;
  try {
    res = await fetch(url, { method, headers: body ? { "content-type": "application/json" } : {},
      body: body ? JSON.stringify(body) : undefined });
  } catch (e) { throw new ApiError("NETWORK", e.message, 0); }
  const text = await res.text();
  let json = null;
  try { json = text ? JSON.parse(text) : null; } catch { /* plain-text error */ }
  if (!res.ok) {
    if (json && json.code) throw new ApiError(json.code, json.message || "", res.status);
    throw new ApiError(`HTTP_${res.status}`, text.slice(0, 200), res.status);
  }
  return json;
}

/** Submits a signed transaction (hex) and waits for its block; returns the SubmitResponse. */
export function submitTx(hex) {
  return api("/v1/transactions", { method: "POST", query: { wait: "true" }, body: { tx: hex } });
}

/**
 * One websocket to /v1/ws that reconnects by itself (backoff up to 5 s) and sends every
 * registered subscription again on each (re)connect. `subscribe(key, build)` registers a
 * function that builds the subscribe message then, so a channel can resume `from_height`.
 */
export class Socket {
  constructor({ onMessage, onStatus }) {
    this.onMessage = onMessage; this.onStatus = onStatus || (() => {});
    this.subs = new Map(); this.ws = null; this.backoff = 500; this.connects = 0; this.closed = false;
    this.connect();
    this.pinger = setInterval(() => this.send({ op: "ping" }), 15000);
  }
  get url() { return (location.protocol === "https:" ? "wss://" : "ws://") + location.host + "/v1/ws"; }
  connect() {
    this.onStatus("connecting");
    const ws = new WebSocket(this.url);
    this.ws = ws;
    ws.onopen = () => {
      this.backoff = 500; this.connects += 1; this.onStatus("live");
      for (const build of this.subs.values()) this.send(build());
    };
    ws.onmessage = (ev) => {
      let msg; try { msg = JSON.parse(ev.data); } catch { return; }
      this.onMessage(msg);
    };
    ws.onclose = () => {
      if (this.ws !== ws) return;
      this.ws = null;
      if (this.closed) return;
      this.onStatus("reconnecting");
      setTimeout(() => this.connect(), this.backoff);
      this.backoff = Math.min(this.backoff * 2, 5000);
    };
  }
  send(msg) { if (this.ws && this.ws.readyState === WebSocket.OPEN) this.ws.send(JSON.stringify(msg)); }
  subscribe(key, build) { this.subs.set(key, build); this.send(build()); }
  unsubscribe(key, msg) { if (this.subs.delete(key)) this.send(msg); }
  /** Drops the connection as a network failure would (the reconnect logic takes over). */
  drop() { if (this.ws) this.ws.close(); }
}
