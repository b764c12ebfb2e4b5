// Hand-written canvas charts: candlesticks with volume, and a depth chart.

export const COLORS = { up: "#0ecb81", down: "#f6465d", grid: "#1f2630", text: "#8b96a5", bg: "#11151b", cross: "#3a4452" };

/** Sizes the canvas backing store to its CSS box and the device pixel ratio. */
function setup(canvas) {
  const dpr = window.devicePixelRatio || 1;
  const w = canvas.clientWidth, h = canvas.clientHeight;
  if (canvas.width !== Math.round(w * dpr) || canvas.height !== Math.round(h * dpr)) {
    canvas.width = Math.round(w * dpr); canvas.height = Math.round(h * dpr);
  }
  const ctx = canvas.getContext("2d");
  ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
  ctx.clearRect(0, 0, w, h);
  ctx.font = "11px ui-monospace, SFMono-Regular, Menlo, Consolas, monospace";
  return { ctx, w, h };
}

function emptyNote(ctx, w, h, text) {
  ctx.fillStyle = COLORS.text; ctx.textAlign = "center"; ctx.textBaseline = "middle";
  ctx.fillText(text, w / 2, h / 2);
}

function niceTicks(lo, hi, n) {
  const span = hi - lo || Math.abs(hi) || 1;
  const raw = span / n, mag = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 2.5, 5, 10].map((k) => k * mag).find((s) => s >= raw);
  const out = [];
  for (let v = Math.ceil(lo / step) * step; v <= hi + 1e-9; v += step) out.push(v);
  return out;
}

function timeLabel(ms, intervalMs) {
  const d = new Date(ms), p = (x) => String(x).padStart(2, "0");
  return intervalMs >= 86400000 ? `${d.getMonth() + 1}/${d.getDate()}` : `${p(d.getHours())}:${p(d.getMinutes())}`;
}

/**
 * Candles [{t, o, h, l, c, v}] (prices and volume as Numbers in display units, oldest
 * first). `fmt` formats a price axis label.
 */
export function drawCandles(canvas, candles, { intervalMs, fmt = (x) => x.toFixed(2) }) {
  const { ctx, w, h } = setup(canvas);
  const axisW = 78, axisH = 18, padTop = 8;
  const plotW = w - axisW, plotH = h - axisH - padTop;
  const volH = Math.round(plotH * 0.2), priceH = plotH - volH - 6;
  if (!candles.length) { emptyNote(ctx, plotW, h, "no trades yet in this interval"); return; }

  const slot = Math.max(5, Math.min(14, plotW / Math.max(candles.length, 40)));
  const count = Math.min(candles.length, Math.floor(plotW / slot) - 3);
  const shown = candles.slice(-count);
  let lo = Math.min(...shown.map((c) => c.l)), hi = Math.max(...shown.map((c) => c.h));
  if (hi === lo) { const pad = hi * 0.002 || 1; lo -= pad; hi += pad; }
  const pad = (hi - lo) * 0.08; lo -= pad; hi += pad;
  const vmax = Math.max(...shown.map((c) => c.v)) || 1;
  const y = (p) => padTop + (hi - p) / (hi - lo) * priceH;
  const x = (i) => plotW - (shown.length - i + 1.5) * slot;

  ctx.strokeStyle = COLORS.grid; ctx.lineWidth = 1; ctx.fillStyle = COLORS.text;
  ctx.textAlign = "left"; ctx.textBaseline = "middle";
  const lastY = y(candles[candles.length - 1].c);
  for (const v of niceTicks(lo, hi, 6)) {
    const yy = Math.round(y(v)) + 0.5;
    ctx.beginPath(); ctx.moveTo(0, yy); ctx.lineTo(plotW, yy); ctx.stroke();
    if (Math.abs(yy - lastY) > 14) ctx.fillText(fmt(v), plotW + 6, yy);
  }
  ctx.textAlign = "center"; ctx.textBaseline = "top";
  const every = Math.ceil(70 / slot);
  shown.forEach((c, i) => {
    if ((shown.length - 1 - i) % every === 0) ctx.fillText(timeLabel(c.t, intervalMs), x(i) + slot / 2, h - axisH + 4);
  });

  const bodyW = Math.max(1, Math.floor(slot * 0.7));
  shown.forEach((c, i) => {
    const color = c.c >= c.o ? COLORS.up : COLORS.down;
    const cx = Math.round(x(i) + slot / 2) + 0.5;
    ctx.strokeStyle = color; ctx.fillStyle = color;
    ctx.beginPath(); ctx.moveTo(cx, y(c.h)); ctx.lineTo(cx, y(c.l)); ctx.stroke();
    const top = y(Math.max(c.o, c.c)), bot = y(Math.min(c.o, c.c));
    ctx.fillRect(Math.round(cx - bodyW / 2), Math.min(top, (top + bot) / 2 - 1), bodyW, Math.max(2, bot - top));
    const vh = (c.v / vmax) * volH;
    ctx.globalAlpha = 0.45;
    ctx.fillRect(Math.round(cx - bodyW / 2), padTop + plotH - vh, bodyW, vh);
    ctx.globalAlpha = 1;
  });

  const last = shown[shown.length - 1];
  const ly = Math.round(y(last.c)) + 0.5;
  ctx.strokeStyle = last.c >= last.o ? COLORS.up : COLORS.down;
  ctx.setLineDash([3, 3]); ctx.beginPath(); ctx.moveTo(0, ly); ctx.lineTo(plotW, ly); ctx.stroke(); ctx.setLineDash([]);
  ctx.fillStyle = ctx.strokeStyle; ctx.fillRect(plotW, ly - 8, axisW, 16);
  ctx.fillStyle = "#0b0e11"; ctx.textAlign = "left"; ctx.textBaseline = "middle";
  ctx.fillText(fmt(last.c), plotW + 6, ly);
}

/** Depth: bids and asks [[price, qty]] best first, as Numbers in display units. */
export function drawDepth(canvas, bids, asks, { fmt = (x) => x.toFixed(2) } = {}) {
  const { ctx, w, h } = setup(canvas);
  const axisH = 18, padTop = 10, plotH = h - axisH - padTop;
  if (!bids.length && !asks.length) { emptyNote(ctx, w, h, "empty book"); return; }
  const cum = (levels) => { let s = 0; return levels.map(([p, q]) => [p, (s += q)]); };
  const cb = cum(bids), ca = cum(asks);
  const bestBid = bids.length ? bids[0][0] : asks[0][0], bestAsk = asks.length ? asks[0][0] : bids[0][0];
  const mid = (bestBid + bestAsk) / 2;
  let half = Math.max(...[...cb, ...ca].map(([p]) => Math.abs(p - mid)), mid * 0.001);
  half *= 1.05;
  const lo = mid - half, hi = mid + half;
  const qmax = Math.max(cb.length ? cb[cb.length - 1][1] : 0, ca.length ? ca[ca.length - 1][1] : 0) * 1.1;
  const x = (p) => (p - lo) / (hi - lo) * w;
  const y = (q) => padTop + plotH - (q / qmax) * plotH;

  const side = (levels, color, edge) => {
    if (!levels.length) return;
    ctx.beginPath(); ctx.moveTo(x(levels[0][0]), y(0));
    let prev = 0;
    for (const [p, q] of levels) { ctx.lineTo(x(p), y(prev)); ctx.lineTo(x(p), y(q)); prev = q; }
    ctx.lineTo(x(edge), y(prev)); ctx.lineTo(x(edge), y(0)); ctx.closePath();
    ctx.fillStyle = color + "33"; ctx.fill(); ctx.strokeStyle = color; ctx.lineWidth = 1.5; ctx.stroke();
  };
  side(cb, COLORS.up, lo); side(ca, COLORS.down, hi);

  ctx.fillStyle = COLORS.text; ctx.textBaseline = "top"; ctx.textAlign = "center";
  for (const v of niceTicks(lo, hi, Math.max(2, Math.floor(w / 110)))) {
    const label = fmt(v), half = ctx.measureText(label).width / 2;
    if (x(v) - half >= 0 && x(v) + half <= w) ctx.fillText(label, x(v), h - axisH + 4);
  }
  ctx.strokeStyle = COLORS.cross; ctx.setLineDash([2, 3]);
  ctx.beginPath(); ctx.moveTo(x(mid) + 0.5, padTop); ctx.lineTo(x(mid) + 0.5, padTop + plotH); ctx.stroke();
  ctx.setLineDash([]);
}
