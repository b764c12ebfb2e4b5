"""Typed results: dataclasses built from the API's JSON (``from_json``).

Amounts stay the chain's integers (atoms; prices in quote atoms per lot); order ids are
``int`` (the API sends them as decimal strings). :class:`Market` converts to and from
``Decimal`` (see :mod:`clobchain.units`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from . import units

__all__ = [
    "Health", "Asset", "Market", "Level", "Book", "Fill", "FillsPage", "TradesPage",
    "Candle", "Candles", "Balance", "Account", "Order", "ActionResult", "Event",
    "TxStatus", "SubmitResponse", "Block", "OrderUpdate", "OrderState", "FINAL_STATUSES",
]

#: The statuses a transaction ends in (``pending`` is the only other one): in a block,
#: ``committed`` (its actions ran) or ``rejected`` (refused as a whole); or ``dropped``:
#: the node took it out of its mempool, it never runs and its nonce is not used.
FINAL_STATUSES = ("committed", "rejected", "dropped")

Json = dict[str, Any]


def _opt_int(value: Any) -> int | None:
    return None if value is None else int(value)


@dataclass(frozen=True)
class Health:
    status: str
    chain_id: int
    height: int
    last_block_hash: str
    last_block_timestamp_ms: int
    mempool: int
    genesis_hash: str

    @classmethod
    def from_json(cls, j: Json) -> Health:
        return cls(j["status"], j["chain_id"], j["height"], j["last_block_hash"],
                   j["last_block_timestamp_ms"], j["mempool"], j["genesis_hash"])


@dataclass(frozen=True)
class Asset:
    id: int
    symbol: str
    decimals: int

    @classmethod
    def from_json(cls, j: Json) -> Asset:
        return cls(j["id"], j["symbol"], j["decimals"])


@dataclass(frozen=True)
class Market:
    """A market and its rules: ``tick_size`` (quote atoms per lot), ``lot_size``,
    ``qty_min``/``qty_max`` (base atoms), ``price_max`` (quote atoms per lot)."""

    id: int
    symbol: str
    base: Asset
    quote: Asset
    tick_size: int
    lot_size: int
    qty_min: int
    qty_max: int
    price_max: int
    maker_fee_bps: int
    taker_fee_bps: int
    best_bid: int | None
    best_ask: int | None
    resting_orders: int
    last_trade_seq: int
    resting_orders_per_account_max: int | None = None
    resting_orders_per_book_max: int | None = None

    @classmethod
    def from_json(cls, j: Json) -> Market:
        return cls(
            j["id"], j["symbol"], Asset.from_json(j["base"]), Asset.from_json(j["quote"]),
            j["tick_size"], j["lot_size"], j["qty_min"], j["qty_max"], j["price_max"],
            j["maker_fee_bps"], j["taker_fee_bps"], j.get("best_bid"), j.get("best_ask"),
            j["resting_orders"], j["last_trade_seq"],
            j.get("resting_orders_per_account_max"), j.get("resting_orders_per_book_max"),
        )

    @property
    def tick(self) -> Decimal:
        """The price step in quote units per whole base unit (BTC-USD: 0.01)."""
        return units.atoms_to_price(self, self.tick_size)

    @property
    def lot(self) -> Decimal:
        """The quantity step in base units (BTC-USD: 0.0001)."""
        return units.atoms_to_qty(self, self.lot_size)

    def price_to_atoms(self, price: Decimal | int | str) -> int:
        """A price per whole base unit as quote atoms per lot (refuses off-tick)."""
        return units.price_to_atoms(self, price)

    def qty_to_atoms(self, qty: Decimal | int | str) -> int:
        """A quantity in base units as base atoms (refuses off-lot)."""
        return units.qty_to_atoms(self, qty)

    def price(self, atoms_per_lot: int) -> Decimal:
        """Quote atoms per lot as a price per whole base unit."""
        return units.atoms_to_price(self, atoms_per_lot)

    def qty(self, atoms: int) -> Decimal:
        """Base atoms as base units."""
        return units.atoms_to_qty(self, atoms)


@dataclass(frozen=True)
class Level:
    price: int
    qty: int


def _levels(raw: list[list[int]]) -> list[Level]:
    return [Level(p, q) for p, q in raw]


@dataclass(frozen=True)
class Book:
    """Aggregated levels, best first. Over the websocket ``snapshot`` says whether it is a
    whole book (replace) or a delta (each level is the new total; qty 0 removes it)."""

    market: int
    height: int
    seq: int
    bids: list[Level]
    asks: list[Level]
    snapshot: bool = True

    @classmethod
    def from_json(cls, j: Json) -> Book:
        return cls(j["market"], j["height"], j["seq"], _levels(j["bids"]),
                   _levels(j["asks"]), j.get("snapshot", True))


@dataclass(frozen=True)
class Fill:
    """A trade. ``price`` is the maker's (quote atoms per lot); fees in quote atoms."""

    market: int
    seq: int
    height: int
    timestamp_ms: int
    price: int
    qty: int
    taker_side: str
    maker_order_id: int
    maker: str
    taker_order_id: int
    taker: str
    maker_qty_remaining: int
    taker_qty_remaining: int
    maker_fee: int
    taker_fee: int

    @classmethod
    def from_json(cls, j: Json) -> Fill:
        return cls(
            j["market"], j["seq"], j["height"], j["timestamp_ms"], j["price"], j["qty"],
            j["taker_side"], int(j["maker_order_id"]), j["maker"], int(j["taker_order_id"]),
            j["taker"], j["maker_qty_remaining"], j["taker_qty_remaining"], j["maker_fee"],
            j["taker_fee"],
        )

    @property
    def key(self) -> tuple[int, int]:
        """(market, seq): identifies the fill."""
        return (self.market, self.seq)


@dataclass(frozen=True)
class FillsPage:
    """A page of fills, newest first; ``next`` (absent at the end of the history) is the
    ``before`` of the following page, which may be short, even empty, before the end."""

    fills: list[Fill]
    next: str | None

    @classmethod
    def from_json(cls, j: Json) -> FillsPage:
        return cls([Fill.from_json(f) for f in j["fills"]], j.get("next"))


@dataclass(frozen=True)
class TradesPage:
    """A page of a market's trades, newest first; ``next`` as in :class:`FillsPage`."""

    trades: list[Fill]
    next: str | None

    @classmethod
    def from_json(cls, j: Json) -> TradesPage:
        return cls([Fill.from_json(f) for f in j["trades"]], j.get("next"))


@dataclass(frozen=True)
class Candle:
    """OHLC in quote atoms per lot; ``volume`` base atoms, ``quote_volume`` quote atoms."""

    open_time_ms: int
    open: int
    high: int
    low: int
    close: int
    volume: int
    quote_volume: int
    trades: int
    first_seq: int
    last_seq: int

    @classmethod
    def from_json(cls, j: Json) -> Candle:
        return cls(j["open_time_ms"], j["open"], j["high"], j["low"], j["close"],
                   int(j["volume"]), int(j["quote_volume"]), j["trades"], j["first_seq"],
                   j["last_seq"])


@dataclass(frozen=True)
class Candles:
    market: int
    interval: str
    candles: list[Candle]

    @classmethod
    def from_json(cls, j: Json) -> Candles:
        return cls(j["market"], j["interval"], [Candle.from_json(c) for c in j["candles"]])


@dataclass(frozen=True)
class Balance:
    asset: int
    symbol: str
    available: int
    held: int


@dataclass(frozen=True)
class Account:
    account: str
    height: int
    exists: bool
    balances: list[Balance]
    last_nonce: int | None

    @classmethod
    def from_json(cls, j: Json) -> Account:
        balances = [Balance(b["asset"], b["symbol"], b["available"], b["held"])
                    for b in j["balances"]]
        return cls(j["account"], j["height"], j["exists"], balances, j.get("last_nonce"))

    def balance(self, symbol: str) -> Balance:
        """The balance of the asset ``symbol`` (e.g. ``"USD"``)."""
        for b in self.balances:
            if b.symbol == symbol:
                return b
        raise KeyError(symbol)


@dataclass(frozen=True)
class Order:
    """An order: ``status`` is ``open``, ``filled``, ``cancelled`` or ``expired``."""

    order_id: int
    market: int
    account: str
    side: str
    price: int
    qty_remaining: int
    status: str
    height: int
    qty_filled: int | None = None
    expiry_height: int | None = None

    @classmethod
    def from_json(cls, j: Json) -> Order:
        return cls(int(j["order_id"]), j["market"], j["account"], j["side"], j["price"],
                   j["qty_remaining"], j["status"], j["height"], j.get("qty_filled"),
                   j.get("expiry_height"))


@dataclass(frozen=True)
class ActionResult:
    """One action's outcome in a receipt: ``placed`` (with ``order_id``), ``done`` or
    ``rejected`` (with ``code``)."""

    result: str
    order_id: int | None = None
    code: str | None = None

    @classmethod
    def from_json(cls, j: Json) -> ActionResult:
        return cls(j["result"], _opt_int(j.get("order_id")), j.get("code"))


@dataclass(frozen=True)
class Event:
    """A book event (``accepted``, ``fill``, ``rested``, ``amended``, ``cancelled``,
    ``expired``, ``rejected``); ``fill`` is set for fills; ``raw`` has every field."""

    type: str
    market: int | None
    order_id: int | None
    fill: Fill | None
    raw: Json = field(repr=False)

    @classmethod
    def from_json(cls, j: Json) -> Event:
        fill = Fill.from_json(j) if j.get("type") == "fill" else None
        return cls(j.get("type", ""), j.get("market"), _opt_int(j.get("order_id")), fill, j)


@dataclass(frozen=True)
class Finality:
    """On a chain of validators, the consensus certificate that made a block final: the
    finalization in view ``view`` of the block at ``height`` (the block's own, or a
    descendant's that finalized it with its ancestors)."""

    view: int
    height: int

    @classmethod
    def from_json(cls, j: Json | None) -> Finality | None:
        return None if j is None else cls(j["view"], j["height"])


class _Status:
    """``final`` and ``dropped`` for the types that carry a transaction's ``status``."""

    status: str

    @property
    def final(self) -> bool:
        """Whether this is the transaction's last word (``committed``, ``rejected`` or
        ``dropped``; not ``pending``)."""
        return self.status in FINAL_STATUSES

    @property
    def dropped(self) -> bool:
        """Whether the node dropped it: it never runs (``code``, ``rule``, ``reason`` say
        why; on a submission, in its ``receipt``)."""
        return self.status == "dropped"


@dataclass(frozen=True)
class TxStatus(_Status):
    """A transaction's state: ``pending``; ``committed`` (``actions``, ``events``);
    ``rejected`` as a whole (``code``); or ``dropped``: the node took it out of its mempool
    after block ``height`` (``code``: ``NONCE_ALREADY_USED``, ``NONCE_TOO_OLD`` or
    ``TRANSACTION_EXPIRED``; ``rule``: ``nonce_used_by_another``, ``below_nonce_floor`` or
    ``expired``; ``reason`` in words), so it never runs, nothing changed and its nonce is
    not used. ``finality`` is set on a chain of validators."""

    hash: str
    status: str
    height: int | None = None
    index: int | None = None
    actions: list[ActionResult] = field(default_factory=list)
    events: list[Event] = field(default_factory=list)
    code: str | None = None
    finality: Finality | None = None
    rule: str | None = None
    reason: str | None = None

    @classmethod
    def from_json(cls, j: Json) -> TxStatus:
        return cls(
            j["hash"], j["status"], j.get("height"), j.get("index"),
            [ActionResult.from_json(a) for a in j.get("actions") or []],
            [Event.from_json(e) for e in j.get("events") or []], j.get("code"),
            Finality.from_json(j.get("finality")), j.get("rule"), j.get("reason"),
        )



@dataclass(frozen=True)
class SubmitResponse(_Status):
    """What the node says of a submitted transaction. ``status`` ``pending`` has no
    ``receipt``; the final ones (``committed``, ``rejected``, ``dropped``: see
    :class:`TxStatus`) do."""

    hash: str
    order_ids: list[int]
    status: str
    duplicate: bool
    receipt: TxStatus | None = None

    @classmethod
    def from_json(cls, j: Json) -> SubmitResponse:
        receipt = j.get("receipt")
        return cls(j["hash"], [int(i) for i in j.get("order_ids", [])], j["status"],
                   bool(j.get("duplicate", False)),
                   TxStatus.from_json(receipt) if receipt else None)



@dataclass(frozen=True)
class Block:
    height: int
    hash: str
    parent_hash: str
    timestamp_ms: int
    transaction_count: int
    transactions_root: str
    events_root: str
    state_root: str
    transactions: list[str] | None = None
    finality: Finality | None = None

    @classmethod
    def from_json(cls, j: Json) -> Block:
        return cls(j["height"], j["hash"], j["parent_hash"], j["timestamp_ms"],
                   j["transaction_count"], j["transactions_root"], j["events_root"],
                   j["state_root"], j.get("transactions"),
                   Finality.from_json(j.get("finality")))


@dataclass(frozen=True)
class OrderUpdate:
    """One entry of the ``orders`` channel: a book ``event`` caused by transaction ``tx``
    (action ``action``); ``refused`` with the code that refused a transaction or action; or
    ``dropped`` with the code (and ``rule``) for which the node dropped transaction ``tx``
    after this block (live messages only: it never runs, its nonce is not used)."""

    tx: str | None
    action: int | None
    event: Event | None
    refused: str | None
    dropped: str | None = None
    rule: str | None = None

    @classmethod
    def from_json(cls, j: Json) -> OrderUpdate:
        ev = j.get("event") or {}
        refused = dropped = rule = None
        if isinstance(ev, dict):
            refused, dropped, rule = ev.get("refused"), ev.get("dropped"), ev.get("rule")
        book = bool(ev) and refused is None and dropped is None
        return cls(j.get("tx"), j.get("action"), Event.from_json(ev) if book else None,
                   refused, dropped, rule if dropped is not None else None)


@dataclass(frozen=True)
class OrderState:
    """What the node knows of a signed transaction and the orders it places (see
    ``Client.order_state``): ``tx`` is ``None`` when the node has never seen it (or no
    longer answers for it: a pending or dropped status does not survive a restart of the
    node that held it, and a node answers for its last 100,000 drops)."""

    hash: str
    tx: TxStatus | None
    orders: dict[int, Order | None]

    @property
    def known(self) -> bool:
        """Whether the node has the transaction (pending, in a block or dropped)."""
        return self.tx is not None

    @property
    def status(self) -> str:
        """The transaction's status (``pending``, ``committed``, ``rejected``,
        ``dropped``), or ``unknown`` when the node does not know it."""
        return self.tx.status if self.tx is not None else "unknown"

    @property
    def dropped(self) -> bool:
        """Whether the node dropped the transaction: it never runs, its orders never exist,
        and a fresh transaction may use its nonce (``code`` and ``rule`` say why)."""
        return self.tx is not None and self.tx.dropped

    @property
    def code(self) -> str | None:
        """Why the transaction was rejected as a whole or dropped."""
        return self.tx.code if self.tx is not None else None

    @property
    def rule(self) -> str | None:
        """The rule that dropped the transaction (status ``dropped``)."""
        return self.tx.rule if self.tx is not None else None

    def order_status(self, order_id: int) -> str:
        """What became of one of the orders the transaction places: the order's own status
        (``open``, ``filled``, ``cancelled``, ``expired``) once it exists; else ``pending``,
        ``rejected`` or ``dropped`` as its transaction is (``rejected`` too when the
        transaction committed but refused this order's action), or ``unknown``."""
        order = self.orders.get(order_id)
        if order is not None:
            return order.status
        if self.tx is None:
            return "unknown"
        if self.tx.status != "committed":
            return self.tx.status
        placed = {a.order_id for a in self.tx.actions if a.result == "placed"}
        return "unknown" if order_id in placed else "rejected"
