// Transactions: borsh encoding, ed25519 signing (WebCrypto), hashes and order ids.
// Layout: docs/API.md "Transactions and signing", ARCHITECTURE.md "Transaction format".
// Every integer is a BigInt or a safe Number; u64s are written exactly, never via floats.

const utf8 = new TextEncoder();
const TX_DOMAIN = utf8.encode("clobchain/tx/v1");
const ORDER_ID_DOMAIN = utf8.encode("clobchain/order-id/v1");
const U64_MAX = (1n << 64n) - 1n;
// PKCS#8 wrapping of a 32-byte ed25519 seed (RFC 8410).
const PKCS8_PREFIX = "302e020100300506032b657004220420";

export function toHex(bytes) {
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

export function fromHex(text, len) {
  const s = String(text).trim().replace(/^0x/i, "");
  if (!/^([0-9a-fA-F]{2})*$/.test(s)) throw new Error("not hex");
  const out = new Uint8Array(s.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(s.substr(i * 2, 2), 16);
  if (len !== undefined && out.length !== len) throw new Error(`expected ${len} bytes of hex, got ${out.length}`);
  return out;
}

function concat(...parts) {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) { out.set(p, at); at += p.length; }
  return out;
}

class Writer {
  constructor() { this.parts = []; }
  u8(v) { this.parts.push(Uint8Array.of(v)); }
  u32(v) {
    const b = new Uint8Array(4);
    new DataView(b.buffer).setUint32(0, Number(v), true);
    this.parts.push(b);
  }
  u64(v) {
    const n = BigInt(v);
    if (n < 0n || n > U64_MAX) throw new RangeError(`not a u64: ${v}`);
    const b = new Uint8Array(8);
    new DataView(b.buffer).setBigUint64(0, n, true);
    this.parts.push(b);
  }
  bytes(b) { this.parts.push(b); }
  optionU64(v) { if (v === null || v === undefined) this.u8(0); else { this.u8(1); this.u64(v); } }
  finish() { return concat(...this.parts); }
}

const SIDES = { buy: 0, sell: 1 };
const SELF_TRADE = { cancel_resting: 0, cancel_incoming: 1, cancel_both: 2 };

function timeInForce(w, tif) {
  if (tif === undefined || tif === "gtc") w.u8(0);
  else if (typeof tif === "object" && tif.gtb !== undefined) { w.u8(1); w.u64(tif.gtb); }
  else if (tif === "ioc") w.u8(2);
  else if (tif === "fok") w.u8(3);
  else throw new Error(`bad time_in_force ${JSON.stringify(tif)}`);
}

function orderAction(w, a) {
  switch (a.type) {
    case "place":
      w.u8(0); w.u32(a.market); w.optionU64(a.client_order_id);
      if (!(a.side in SIDES)) throw new Error(`bad side ${a.side}`);
      w.u8(SIDES[a.side]); w.u64(a.price); w.u64(a.qty);
      timeInForce(w, a.time_in_force);
      w.u8(a.post_only ? 1 : 0);
      w.u8(SELF_TRADE[a.self_trade || "cancel_resting"]);
      break;
    case "cancel":
      w.u8(1); w.u32(a.market);
      if (a.order_id !== undefined) { w.u8(0); w.u64(a.order_id); } else { w.u8(1); w.u64(a.client_order_id); }
      break;
    case "cancel_all": w.u8(2); w.u32(a.market); break;
    case "amend": w.u8(3); w.u32(a.market); w.u64(a.order_id); w.u64(a.price); w.u64(a.qty); break;
    default: throw new Error(`not an order action: ${a.type}`);
  }
}

function action(w, a) {
  if (a.type === "batch") {
    w.u8(1); w.u32(a.actions.length);
    for (const x of a.actions) orderAction(w, x);
  } else if (a.type === "transfer") {
    w.u8(2); w.bytes(fromHex(a.to, 32)); w.u32(a.asset); w.u64(a.amount);
  } else if (a.type === "faucet") {
    w.u8(3); w.u32(a.asset); w.u64(a.amount);
  } else {
    w.u8(0); orderAction(w, a);
  }
}

/** borsh(Transaction): {chain_id, signer (hex), nonce, expiry_height?, action}. */
export function encodeTransaction(tx) {
  const w = new Writer();
  w.u64(tx.chain_id); w.bytes(fromHex(tx.signer, 32)); w.u64(tx.nonce);
  w.optionU64(tx.expiry_height);
  action(w, tx.action);
  return w.finish();
}

export async function sha256(bytes) {
  return new Uint8Array(await crypto.subtle.digest("SHA-256", bytes));
}

/** The id of the order placed by action `index` of (signer, nonce), as a decimal string. */
export async function orderId(signerHex, nonce, index = 0) {
  const w = new Writer();
  w.bytes(ORDER_ID_DOMAIN); w.bytes(fromHex(signerHex, 32)); w.u64(nonce); w.u32(index);
  const digest = await sha256(w.finish());
  return new DataView(digest.buffer).getBigUint64(0, true).toString();
}

function b64urlToBytes(s) {
  const b = atob(s.replace(/-/g, "+").replace(/_/g, "/"));
  return Uint8Array.from(b, (c) => c.charCodeAt(0));
}

/** A signing key from a 32-byte secret (hex): {secret, publicKey, privateKey}. */
export async function importSecret(secretHex) {
  const seed = fromHex(secretHex, 32);
  const privateKey = await crypto.subtle.importKey(
    "pkcs8", concat(fromHex(PKCS8_PREFIX), seed), { name: "Ed25519" }, true, ["sign"]);
  const jwk = await crypto.subtle.exportKey("jwk", privateKey);
  return { secret: toHex(seed), publicKey: toHex(b64urlToBytes(jwk.x)), privateKey };
}

/** A fresh random key. */
export async function generateKey() {
  const pair = await crypto.subtle.generateKey({ name: "Ed25519" }, true, ["sign", "verify"]);
  const pkcs8 = new Uint8Array(await crypto.subtle.exportKey("pkcs8", pair.privateKey));
  return importSecret(toHex(pkcs8.slice(-32)));
}

/** Signs a transaction: {bytes, hex, hash, signature} of borsh(SignedTransaction). */
export async function signTransaction(key, tx) {
  if (tx.signer.toLowerCase() !== key.publicKey) throw new Error("signer is not this key");
  const body = encodeTransaction(tx);
  const signature = new Uint8Array(
    await crypto.subtle.sign({ name: "Ed25519" }, key.privateKey, concat(TX_DOMAIN, body)));
  const bytes = concat(body, signature);
  return { bytes, hex: toHex(bytes), hash: toHex(await sha256(bytes)), signature: toHex(signature) };
}
