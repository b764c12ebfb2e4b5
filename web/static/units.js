// Exact conversions between what a trader types (decimal strings, per whole base unit)
// and the chain's integers (price: quote atoms per lot; qty: base atoms). BigInt only.
//   price per base unit = price_atoms / lot_size * 10^base_decimals / 10^quote_decimals

const pow10 = (k) => 10n ** BigInt(k);

/** "12.50" -> {n: 1250n, scale: 2}; throws on anything but plain non-negative decimals. */
export function parseDecimal(text) {
  const s = String(text).trim();
  const m = /^(\d*)(?:\.(\d*))?$/.exec(s);
  if (!m || (m[1] === "" && !m[2])) throw new Error(`"${text}" is not a decimal number`);
  const frac = (m[2] || "").replace(/0+$/, "");
  return { n: BigInt((m[1] || "0") + frac), scale: frac.length };
}

/** num/den as a decimal string: exact if it terminates within `maxDigits`, else rounded down. */
export function formatRatio(num, den, minDigits = 0, maxDigits = 18) {
  num = BigInt(num); den = BigInt(den);
  const neg = num < 0n; if (neg) num = -num;
  let int = num / den, rem = num % den, frac = "";
  while ((rem !== 0n && frac.length < maxDigits) || frac.length < minDigits) {
    rem *= 10n; frac += (rem / den).toString(); rem %= den;
  }
  if (frac.length > minDigits) frac = frac.replace(/0+$/, "").padEnd(minDigits, "0");
  return (neg ? "-" : "") + int.toString() + (frac ? "." + frac : "");
}

function decimalsOf(str) { const i = str.indexOf("."); return i < 0 ? 0 : str.length - i - 1; }

/** The market's step sizes and display precisions. */
export function marketUnits(m) {
  const lot = BigInt(m.lot_size), tick = BigInt(m.tick_size);
  const bd = m.base.decimals, qd = m.quote.decimals;
  const priceStep = formatRatio(tick * pow10(bd), lot * pow10(qd));
  const qtyStep = formatRatio(lot, pow10(bd));
  return { lot, tick, bd, qd, priceStep, qtyStep,
    priceDigits: decimalsOf(priceStep), qtyDigits: decimalsOf(qtyStep) };
}

/** Price atoms (per lot) -> decimal string per whole base unit. */
export function formatPrice(atoms, m) {
  const u = marketUnits(m);
  return formatRatio(BigInt(atoms) * pow10(u.bd), u.lot * pow10(u.qd), u.priceDigits);
}

/** Base atoms -> decimal string in base units, at lot precision. */
export function formatQty(atoms, m) {
  const u = marketUnits(m);
  return formatRatio(BigInt(atoms), pow10(u.bd), u.qtyDigits);
}

/** Any asset amount in atoms -> decimal string. */
export function formatAmount(atoms, decimals, minDigits = 2) {
  return formatRatio(BigInt(atoms), pow10(decimals), Math.min(minDigits, decimals));
}

/** Quote atoms -> decimal string in quote units (notional, fees). */
export function formatQuote(atoms, m) { return formatAmount(atoms, m.quote.decimals); }

/**
 * Decimal price (quote units per base unit) -> {ok, atoms} or {ok: false, error, rule}.
 * Refuses anything that is not exactly a multiple of the tick.
 */
export function parsePrice(text, m) {
  const u = marketUnits(m);
  const rule = `price must be a multiple of ${u.priceStep} ${m.quote.symbol} (tick ${m.tick_size} atoms per lot of ${u.qtyStep} ${m.base.symbol})`;
  let d;
  try { d = parseDecimal(text); } catch (e) { return { ok: false, error: e.message, rule }; }
  const num = d.n * pow10(u.qd) * u.lot, den = pow10(d.scale + u.bd);
  if (num % den !== 0n || (num / den) % u.tick !== 0n)
    return { ok: false, code: "PRICE_OFF_TICK", error: `${text} is off tick`, rule };
  const atoms = num / den;
  if (atoms < 1n || atoms > BigInt(m.price_max))
    return { ok: false, code: "PRICE_OUT_OF_RANGE", error: `price out of range`,
      rule: `price must be between ${u.priceStep} and ${formatPrice(m.price_max, m)}` };
  return { ok: true, atoms };
}

/** Decimal size in base units -> {ok, atoms} or {ok: false, error, rule}; must be whole lots. */
export function parseQty(text, m) {
  const u = marketUnits(m);
  const rule = `size must be a multiple of ${u.qtyStep} ${m.base.symbol} (lot ${m.lot_size} atoms), between ${formatQty(m.qty_min, m)} and ${formatQty(m.qty_max, m)}`;
  let d;
  try { d = parseDecimal(text); } catch (e) { return { ok: false, error: e.message, rule }; }
  const num = d.n * pow10(u.bd), den = pow10(d.scale);
  if (num % den !== 0n || (num / den) % u.lot !== 0n)
    return { ok: false, code: "QTY_OFF_LOT", error: `${text} is not a whole number of lots`, rule };
  const atoms = num / den;
  if (atoms < BigInt(m.qty_min)) return { ok: false, code: "QTY_BELOW_MINIMUM", error: "size below minimum", rule };
  if (atoms > BigInt(m.qty_max)) return { ok: false, code: "QTY_ABOVE_MAXIMUM", error: "size above maximum", rule };
  return { ok: true, atoms };
}

/** Notional in quote atoms of qty base atoms at price atoms per lot. */
export function notional(price, qty, m) { return (BigInt(price) * BigInt(qty)) / BigInt(m.lot_size); }
