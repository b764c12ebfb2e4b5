"""The REST API as sans-I/O operations shared by :class:`~clobchain.Client` and
:class:`~clobchain.AsyncClient`.

Each operation is a generator that yields :class:`Request` values and receives a
:class:`Reply` for each, then returns its typed result: the synchronous and the asyncio
clients differ only in how they carry a request, so both get the same encoding, signing,
unit checks, errors and retries.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Generator
from dataclasses import dataclass
from decimal import Decimal
from fractions import Fraction
from typing import Any, TypeVar

from .encoding import (
    Action,
    Amend,
    Cancel,
    CancelAll,
    Place,
    SelfTrade,
    Side,
    SignedTransaction,
    TimeInForce,
    Transaction,
    Transfer,
    encode_batch_frame,
)
from .errors import ApiError, ErrorCode, TransactionDropped, TransactionRejected, UnitError
from .keys import Key
from .models import (
    Account,
    Block,
    Book,
    Candles,
    FillsPage,
    Health,
    Market,
    Order,
    OrderState,
    SubmitResponse,
    TradesPage,
    TxStatus,
)
from .units import Number, to_decimal

__all__ = ["DEFAULT_URL", "default_url", "Request", "Reply", "Pause", "Op", "Core", "Submitted"]

DEFAULT_URL = "http://127.0.0.1:8080"
#: How many times a convenience method re-signs with a fresh nonce after the door refused
#: the nonce (nothing was queued): with more than 64 transactions of one key in flight, a
#: nonce can fall below the account's replay window before it arrives.
NONCE_RETRIES = 10
_NONCE_CODES = (ErrorCode.NONCE_TOO_OLD, ErrorCode.NONCE_ALREADY_USED, ErrorCode.NONCE_PENDING)

T = TypeVar("T")


def default_url() -> str:
    """``$CLOBCHAIN_URL``, else ``http://127.0.0.1:8080``."""
    return os.environ.get("CLOBCHAIN_URL") or DEFAULT_URL


@dataclass(frozen=True)
class Request:
    """One HTTP request: a JSON body (``json``) or a binary one (``content``)."""

    method: str
    path: str
    params: dict[str, Any] | None = None
    json: Any = None
    content: bytes | None = None


@dataclass(frozen=True)
class Reply:
    """The node's answer: status, parsed JSON body (``None`` if not JSON), Retry-After."""

    status: int
    body: Any
    retry_after: float | None = None

    def ok(self) -> Any:
        """The body, or the :class:`ApiError` it describes."""
        if 200 <= self.status < 300:
            return self.body
        raise self.error()

    def error(self) -> ApiError:
        body = self.body if isinstance(self.body, dict) else {}
        code = body.get("code") or f"HTTP_{self.status}"
        message = body.get("message") or (self.body if isinstance(self.body, str) else "")
        return ApiError(code, message, self.status, self.retry_after)


@dataclass(frozen=True)
class Pause:
    """Asks the driver to sleep (answered with an empty :class:`Reply`)."""

    seconds: float


Op = Generator[Request | Pause, Reply, T]


@dataclass(frozen=True)
class Submitted:
    """A transaction the client signed and the node's answer: keep ``signed`` to look it
    up (``Client.order_state``) or resend it if the answer is lost. ``status`` is
    ``pending`` (not waited for, or the wait timed out) or final: ``committed``,
    ``rejected`` or ``dropped`` (the convenience methods raise for the last two)."""

    signed: SignedTransaction
    response: SubmitResponse
    #: How many transactions were signed to get it admitted (see ``NONCE_RETRIES``).
    attempts: int = 1

    @property
    def hash(self) -> str:
        return self.signed.hash

    @property
    def order_ids(self) -> list[int]:
        return self.signed.order_ids

    @property
    def order_id(self) -> int:
        """The id of the (first) order placed."""
        return self.signed.order_ids[0]

    @property
    def status(self) -> str:
        return self.response.status

    @property
    def receipt(self) -> TxStatus | None:
        """The final status (``None`` while ``pending``)."""
        return self.response.receipt

    @property
    def final(self) -> bool:
        """Whether ``status`` is final (``committed``, ``rejected`` or ``dropped``)."""
        return self.response.final

    @property
    def dropped(self) -> bool:
        """Whether the node dropped the transaction (it never runs; see ``receipt``)."""
        return self.response.dropped


def _params(**kw: Any) -> dict[str, Any]:
    return {k: v for k, v in kw.items() if v is not None}


def _wait_params(wait: bool, timeout_ms: int | None) -> dict[str, Any]:
    return _params(wait="true" if wait else None, timeout_ms=timeout_ms if wait else None)


class Core:
    """What both clients share: the base URL, the markets and chain id they cached, and
    every operation."""

    def __init__(self, url: str | None) -> None:
        self.url = (url or default_url()).rstrip("/")
        self._lock = threading.Lock()
        self._markets: dict[str, Market] = {}
        self._chain_id: int | None = None

    @property
    def ws_url(self) -> str:
        """The websocket URL (``ws://…/v1/ws``)."""
        return "ws" + self.url.removeprefix("http") + "/v1/ws"

    # Reads -------------------------------------------------------------------------

    def health(self) -> Op[Health]:
        health = Health.from_json((yield Request("GET", "/v1/health")).ok())
        self._chain_id = health.chain_id
        return health

    def markets(self) -> Op[list[Market]]:
        markets = [Market.from_json(m) for m in (yield Request("GET", "/v1/markets")).ok()]
        with self._lock:
            for m in markets:
                self._markets[str(m.id)] = m
                self._markets[m.symbol.lower()] = m
        return markets

    def market(self, market: int | str) -> Op[Market]:
        return Market.from_json((yield Request("GET", f"/v1/markets/{market}")).ok())

    def market_rules(self, market: int | str) -> Op[Market]:
        """The market's rules, from the cache (filled by ``GET /v1/markets``)."""
        found = self._markets.get(str(market).lower())
        if found is None:
            yield from self.markets()
            found = self._markets.get(str(market).lower())
        if found is None:
            raise ApiError(ErrorCode.UNKNOWN_MARKET, f"no market {market!r}")
        return found

    def chain_id(self) -> Op[int]:
        if self._chain_id is None:
            yield from self.health()
        assert self._chain_id is not None
        return self._chain_id

    def book(self, market: int | str, depth: int | None = None) -> Op[Book]:
        reply = yield Request("GET", f"/v1/markets/{market}/book", _params(depth=depth))
        return Book.from_json(reply.ok())

    def trades(self, market: int | str, limit: int | None = None,
               before: str | None = None) -> Op[TradesPage]:
        reply = yield Request("GET", f"/v1/markets/{market}/trades",
                              _params(limit=limit, before=before))
        return TradesPage.from_json(reply.ok())

    def candles(self, market: int | str, interval: str = "1m", from_ms: int | None = None,
                to_ms: int | None = None, limit: int | None = None) -> Op[Candles]:
        params = _params(interval=interval, limit=limit, to=to_ms)
        if from_ms is not None:
            params["from"] = from_ms
        reply = yield Request("GET", f"/v1/markets/{market}/candles", params)
        return Candles.from_json(reply.ok())

    def account(self, account: str) -> Op[Account]:
        return Account.from_json((yield Request("GET", f"/v1/accounts/{account}")).ok())

    def open_orders(self, account: str) -> Op[list[Order]]:
        reply = yield Request("GET", f"/v1/accounts/{account}/orders")
        return [Order.from_json(o) for o in reply.ok()]

    def fills(self, account: str, limit: int | None = None,
              before: str | None = None) -> Op[FillsPage]:
        reply = yield Request("GET", f"/v1/accounts/{account}/fills",
                              _params(limit=limit, before=before))
        return FillsPage.from_json(reply.ok())

    def order(self, order_id: int | str) -> Op[Order]:
        return Order.from_json((yield Request("GET", f"/v1/orders/{order_id}")).ok())

    def transaction(self, hash: str) -> Op[TxStatus]:
        return TxStatus.from_json((yield Request("GET", f"/v1/transactions/{hash}")).ok())

    def block(self, height: int | str = "latest") -> Op[Block]:
        return Block.from_json((yield Request("GET", f"/v1/blocks/{height}")).ok())

    def order_state(self, signed: SignedTransaction) -> Op[OrderState]:
        """The transaction's status and each order it places, found from the signed
        transaction alone (its hash and the order ids it derives). A dropped transaction
        comes out as ``status == "dropped"`` (``dropped``, ``code``, ``rule``), its orders
        as ``order_status(id) == "dropped"``."""
        tx: TxStatus | None = None
        try:
            tx = yield from self.transaction(signed.hash)
        except ApiError as e:
            if e.code != ErrorCode.NOT_FOUND:
                raise
        orders: dict[int, Order | None] = {}
        for oid in signed.order_ids:
            try:
                orders[oid] = yield from self.order(oid)
            except ApiError as e:
                if e.code != ErrorCode.NOT_FOUND:
                    raise
                orders[oid] = None
        return OrderState(signed.hash, tx, orders)

    # Submitting --------------------------------------------------------------------

    def submit(self, signed: SignedTransaction, wait: bool = False,
               timeout_ms: int | None = None, body: str = "hex") -> Op[SubmitResponse]:
        """``POST /v1/transactions``; ``body``: ``"hex"`` (JSON ``{"tx": hex}``),
        ``"json"`` (JSON fields) or ``"binary"`` (application/octet-stream)."""
        params = _wait_params(wait, timeout_ms)
        if body == "hex":
            request = Request("POST", "/v1/transactions", params, json={"tx": signed.hex})
        elif body == "json":
            request = Request("POST", "/v1/transactions", params,
                              json={"transaction": signed.to_json()})
        elif body == "binary":
            request = Request("POST", "/v1/transactions", params, content=signed.to_bytes())
        else:
            raise ValueError(f"body must be 'hex', 'json' or 'binary', not {body!r}")
        return SubmitResponse.from_json((yield request).ok())

    def submit_batch(self, signed: list[SignedTransaction],
                     binary: bool = False) -> Op[list[SubmitResponse | ApiError]]:
        """``POST /v1/transactions/batch``: one result per transaction, in order."""
        if binary:
            request = Request("POST", "/v1/transactions/batch",
                              content=encode_batch_frame(signed))
        else:
            request = Request("POST", "/v1/transactions/batch",
                              json={"transactions": [{"tx": s.hex} for s in signed]})
        results: list[SubmitResponse | ApiError] = []
        for item in (yield request).ok()["results"]:
            if "error" in item:
                err = item["error"]
                results.append(ApiError(err["code"], err.get("message", "")))
            else:
                results.append(SubmitResponse.from_json(item))
        return results

    def faucet(self, account: str, asset: int | str, amount: Number,
               wait: bool = True) -> Op[SubmitResponse]:
        """Dev chains: ``amount`` whole units of ``asset`` (id or symbol) to ``account``."""
        markets = list(self._markets.values()) or (yield from self.markets())
        assets = {a.symbol.lower(): a for m in markets for a in (m.base, m.quote)}
        assets.update({str(a.id): a for a in list(assets.values())})
        found = assets.get(str(asset).lower())
        if found is None:
            raise ApiError(ErrorCode.UNKNOWN_ASSET, f"no asset {asset!r}")
        atoms = Fraction(to_decimal(amount, "amount")) * 10**found.decimals
        if atoms.denominator != 1:
            raise UnitError(f"amount {amount} has more than {found.decimals} decimals "
                            f"({found.symbol})")
        reply = yield Request("POST", "/v1/faucet", _wait_params(wait, None),
                              json={"account": account, "asset": found.id,
                                    "amount": atoms.numerator})
        return SubmitResponse.from_json(reply.ok())

    def sign(self, key: Key, action: Action, expiry_height: int | None = None,
             nonce: int | None = None) -> Op[SignedTransaction]:
        """Signs ``action`` for ``key`` with the chain's id and ``nonce`` (by default the
        key's next nonce)."""
        chain_id = yield from self.chain_id()
        if nonce is None:
            nonce = key.nonces.next()
        return Transaction(chain_id, key.public_bytes, nonce, action, expiry_height).sign(key)

    def execute(self, key: Key, action: Action, wait: bool, timeout_ms: int | None,
                expiry_height: int | None) -> Op[Submitted]:
        """Signs and submits ``action``. A door refusal of the nonce (nothing was queued)
        re-signs with a fresh nonce; a transaction (or its single action) refused in its
        block raises :class:`TransactionRejected`; one the node dropped from its mempool
        (with ``wait``: it never runs) raises :class:`TransactionDropped`."""
        for attempt in range(1, NONCE_RETRIES + 2):
            while (nonce := key.nonces.acquire()) is None:
                yield Pause(0.001)  # 64 nonces past one still in flight: wait for it
            try:
                signed = yield from self.sign(key, action, expiry_height, nonce)
                response = yield from self.submit(signed, wait, timeout_ms)
                break
            except ApiError as e:
                if e.code not in _NONCE_CODES or attempt > NONCE_RETRIES:
                    raise
            finally:
                key.nonces.release(nonce)
            account = yield from self.account(key.account)
            key.nonces.observe(account.last_nonce)
        receipt = response.receipt
        if response.dropped or (receipt is not None and receipt.dropped):
            if receipt is None:
                raise TransactionDropped("DROPPED", signed.hash)
            raise TransactionDropped(receipt.code or "DROPPED", signed.hash, receipt.rule,
                                     receipt.height, receipt.reason)
        if receipt is not None:
            if receipt.status == "rejected":
                raise TransactionRejected(receipt.code or "REJECTED", signed.hash)
            if len(receipt.actions) == 1 and receipt.actions[0].result == "rejected":
                raise TransactionRejected(receipt.actions[0].code or "REJECTED", signed.hash)
        return Submitted(signed, response, attempt)

    def place(self, key: Key, market: int | str, side: Side, price: Number, qty: Number,
              time_in_force: TimeInForce = "gtc", post_only: bool = False,
              self_trade: SelfTrade = "cancel_resting", client_order_id: int | None = None,
              wait: bool = True, timeout_ms: int | None = None,
              expiry_height: int | None = None) -> Op[Submitted]:
        """A limit order; ``price`` per whole base unit and ``qty`` in base units
        (Decimal, int or str), checked against the market's tick and lot."""
        rules = yield from self.market_rules(market)
        action = Place(rules.id, side, rules.price_to_atoms(price), rules.qty_to_atoms(qty),
                       time_in_force, post_only, self_trade, client_order_id)
        return (yield from self.execute(key, action, wait, timeout_ms, expiry_height))

    def cancel(self, key: Key, market: int | str, order_id: int | None = None,
               client_order_id: int | None = None, wait: bool = True,
               timeout_ms: int | None = None) -> Op[Submitted]:
        rules = yield from self.market_rules(market)
        action = Cancel(rules.id, order_id, client_order_id)
        return (yield from self.execute(key, action, wait, timeout_ms, None))

    def cancel_all(self, key: Key, market: int | str, wait: bool = True,
                   timeout_ms: int | None = None) -> Op[Submitted]:
        rules = yield from self.market_rules(market)
        return (yield from self.execute(key, CancelAll(rules.id), wait, timeout_ms, None))

    def amend(self, key: Key, market: int | str, order_id: int, price: Number, qty: Number,
              wait: bool = True, timeout_ms: int | None = None) -> Op[Submitted]:
        """New price and new remaining quantity (a new price or larger qty loses priority)."""
        rules = yield from self.market_rules(market)
        action = Amend(rules.id, order_id, rules.price_to_atoms(price), rules.qty_to_atoms(qty))
        return (yield from self.execute(key, action, wait, timeout_ms, None))

    def transfer(self, key: Key, to: str, asset: int, amount: int, wait: bool = True,
                 timeout_ms: int | None = None) -> Op[Submitted]:
        """Sends ``amount`` atoms of asset ``asset`` to account ``to``."""
        return (yield from self.execute(key, Transfer(to, asset, amount), wait, timeout_ms, None))

    def demo_account(self, funds: dict[str, Number] | None = None) -> Op[Key]:
        """A new key funded through the faucet (dev chains): ``funds`` maps asset symbols
        to whole units; by default 10^12 atoms (the dev faucet's limit) of every asset."""
        key = Key.generate()
        if funds is None:
            markets = yield from self.markets()
            assets = {a.symbol: a for m in markets for a in (m.quote, m.base)}
            funds = {s: Decimal(10**12).scaleb(-a.decimals) for s, a in assets.items()}
        for symbol, amount in funds.items():
            yield from self.faucet(key.account, symbol, amount, wait=True)
        return key
