"""The synchronous :class:`Client` and the asyncio :class:`AsyncClient`: the same methods,
carried by ``httpx.Client`` and ``httpx.AsyncClient`` (the work is in :mod:`.rest`)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Iterator
from typing import Any, TypeVar

import httpx

from .encoding import Action, SelfTrade, Side, SignedTransaction, TimeInForce
from .errors import ApiError, TransportError
from .keys import Key
from .models import (
    Account,
    Block,
    Book,
    Candles,
    Fill,
    FillsPage,
    Health,
    Market,
    Order,
    OrderState,
    SubmitResponse,
    TradesPage,
    TxStatus,
)
from .rest import Core, Op, Pause, Reply, Request, Submitted
from .units import Number
from .ws import Stream, SyncStream

__all__ = ["Client", "AsyncClient"]

T = TypeVar("T")
#: Long enough for ``?wait=true`` (at most 30 s on the node).
DEFAULT_TIMEOUT = httpx.Timeout(40.0, connect=5.0)


def _reply(response: httpx.Response) -> Reply:
    try:
        body: Any = response.json()
    except ValueError:
        body = response.text
    retry = response.headers.get("retry-after")
    return Reply(response.status_code, body, float(retry) if retry else None)


def _kwargs(request: Request) -> dict[str, Any]:
    kw: dict[str, Any] = {"params": request.params}
    if request.content is not None:
        kw["content"] = request.content
        kw["headers"] = {"content-type": "application/octet-stream"}
    elif request.json is not None:
        kw["json"] = request.json
    return kw


class Client:
    """A synchronous client of one node. ``Client()`` uses ``$CLOBCHAIN_URL`` or
    ``http://127.0.0.1:8080``. Thread-safe: share one between threads."""

    def __init__(self, url: str | None = None, *,
                 timeout: httpx.Timeout | float = DEFAULT_TIMEOUT) -> None:
        self._core = Core(url)
        self._http = httpx.Client(base_url=self._core.url, timeout=timeout)

    @property
    def url(self) -> str:
        return self._core.url

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _run(self, op: Op[T]) -> T:
        try:
            request = next(op)
            while True:
                if isinstance(request, Pause):
                    time.sleep(request.seconds)
                    request = op.send(Reply(0, None))
                    continue
                try:
                    response = self._http.request(request.method, request.path,
                                                  **_kwargs(request))
                except httpx.TransportError as e:
                    raise TransportError(f"{request.method} {request.path}: {e!r}") from e
                request = op.send(_reply(response))
        except StopIteration as stop:
            return stop.value  # type: ignore[no-any-return]

    # Reads
    def health(self) -> Health:
        return self._run(self._core.health())

    def markets(self) -> list[Market]:
        return self._run(self._core.markets())

    def market(self, market: int | str) -> Market:
        return self._run(self._core.market(market))

    def book(self, market: int | str, depth: int | None = None) -> Book:
        return self._run(self._core.book(market, depth))

    def trades(self, market: int | str, limit: int | None = None,
               before: str | None = None) -> TradesPage:
        return self._run(self._core.trades(market, limit, before))

    def iter_trades(self, market: int | str, limit: int | None = None) -> Iterator[Fill]:
        """Every trade the node keeps, newest first, following ``next``."""
        before: str | None = None
        while True:
            page = self.trades(market, limit, before)
            yield from page.trades
            if page.next is None:
                return
            before = page.next

    def candles(self, market: int | str, interval: str = "1m", from_ms: int | None = None,
                to_ms: int | None = None, limit: int | None = None) -> Candles:
        return self._run(self._core.candles(market, interval, from_ms, to_ms, limit))

    def account(self, account: str) -> Account:
        return self._run(self._core.account(account))

    def open_orders(self, account: str) -> list[Order]:
        return self._run(self._core.open_orders(account))

    def fills(self, account: str, limit: int | None = None,
              before: str | None = None) -> FillsPage:
        return self._run(self._core.fills(account, limit, before))

    def iter_fills(self, account: str, limit: int | None = None) -> Iterator[Fill]:
        """Every fill of the account the node keeps, newest first, following ``next``."""
        before: str | None = None
        while True:
            page = self.fills(account, limit, before)
            yield from page.fills
            if page.next is None:
                return
            before = page.next

    def order(self, order_id: int | str) -> Order:
        return self._run(self._core.order(order_id))

    def transaction(self, hash: str) -> TxStatus:
        return self._run(self._core.transaction(hash))

    def block(self, height: int | str = "latest") -> Block:
        return self._run(self._core.block(height))

    def order_state(self, signed: SignedTransaction) -> OrderState:
        """What became of ``signed`` and its orders (after a lost answer, say):
        ``state.status`` is ``pending``, ``committed``, ``rejected``, ``dropped`` or
        ``unknown``; ``state.order_status(id)`` says the same of each order."""
        return self._run(self._core.order_state(signed))

    # Submitting
    def sign(self, key: Key, action: Action, expiry_height: int | None = None) -> SignedTransaction:
        return self._run(self._core.sign(key, action, expiry_height))

    def submit(self, signed: SignedTransaction, wait: bool = False,
               timeout_ms: int | None = None, body: str = "hex") -> SubmitResponse:
        return self._run(self._core.submit(signed, wait, timeout_ms, body))

    def submit_batch(self, signed: list[SignedTransaction],
                     binary: bool = False) -> list[SubmitResponse | ApiError]:
        return self._run(self._core.submit_batch(signed, binary))

    def faucet(self, account: str, asset: int | str, amount: Number,
               wait: bool = True) -> SubmitResponse:
        return self._run(self._core.faucet(account, asset, amount, wait))

    def demo_account(self, funds: dict[str, Number] | None = None) -> Key:
        return self._run(self._core.demo_account(funds))

    def place(self, key: Key, market: int | str, side: Side, price: Number, qty: Number,
              time_in_force: TimeInForce = "gtc", post_only: bool = False,
              self_trade: SelfTrade = "cancel_resting", client_order_id: int | None = None,
              wait: bool = True, timeout_ms: int | None = None,
              expiry_height: int | None = None) -> Submitted:
        return self._run(self._core.place(key, market, side, price, qty, time_in_force,
                                          post_only, self_trade, client_order_id, wait,
                                          timeout_ms, expiry_height))

    def cancel(self, key: Key, market: int | str, order_id: int | None = None,
               client_order_id: int | None = None, wait: bool = True,
               timeout_ms: int | None = None) -> Submitted:
        return self._run(self._core.cancel(key, market, order_id, client_order_id, wait,
                                           timeout_ms))

    def cancel_all(self, key: Key, market: int | str, wait: bool = True,
                   timeout_ms: int | None = None) -> Submitted:
        return self._run(self._core.cancel_all(key, market, wait, timeout_ms))

    def amend(self, key: Key, market: int | str, order_id: int, price: Number, qty: Number,
              wait: bool = True, timeout_ms: int | None = None) -> Submitted:
        return self._run(self._core.amend(key, market, order_id, price, qty, wait, timeout_ms))

    def transfer(self, key: Key, to: str, asset: int, amount: int, wait: bool = True,
                 timeout_ms: int | None = None) -> Submitted:
        return self._run(self._core.transfer(key, to, asset, amount, wait, timeout_ms))

    def stream(self) -> SyncStream:
        """A websocket connection (subscriptions, order entry) driven from a background
        thread, iterated synchronously."""
        return SyncStream(self._core.ws_url)


class AsyncClient:
    """The asyncio client: :class:`Client`'s methods as coroutines."""

    def __init__(self, url: str | None = None, *,
                 timeout: httpx.Timeout | float = DEFAULT_TIMEOUT) -> None:
        self._core = Core(url)
        self._http = httpx.AsyncClient(base_url=self._core.url, timeout=timeout,
                                       limits=httpx.Limits(max_connections=200))

    @property
    def url(self) -> str:
        return self._core.url

    async def close(self) -> None:
        await self._http.aclose()

    async def __aenter__(self) -> AsyncClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def _run(self, op: Op[T]) -> T:
        try:
            request = next(op)
            while True:
                if isinstance(request, Pause):
                    await asyncio.sleep(request.seconds)
                    request = op.send(Reply(0, None))
                    continue
                try:
                    response = await self._http.request(request.method, request.path,
                                                        **_kwargs(request))
                except httpx.TransportError as e:
                    raise TransportError(f"{request.method} {request.path}: {e!r}") from e
                request = op.send(_reply(response))
        except StopIteration as stop:
            return stop.value  # type: ignore[no-any-return]

    # Reads
    async def health(self) -> Health:
        return await self._run(self._core.health())

    async def markets(self) -> list[Market]:
        return await self._run(self._core.markets())

    async def market(self, market: int | str) -> Market:
        return await self._run(self._core.market(market))

    async def book(self, market: int | str, depth: int | None = None) -> Book:
        return await self._run(self._core.book(market, depth))

    async def trades(self, market: int | str, limit: int | None = None,
                     before: str | None = None) -> TradesPage:
        return await self._run(self._core.trades(market, limit, before))

    async def iter_trades(self, market: int | str,
                          limit: int | None = None) -> AsyncIterator[Fill]:
        """Every trade the node keeps, newest first, following ``next``."""
        before: str | None = None
        while True:
            page = await self.trades(market, limit, before)
            for fill in page.trades:
                yield fill
            if page.next is None:
                return
            before = page.next

    async def candles(self, market: int | str, interval: str = "1m",
                      from_ms: int | None = None, to_ms: int | None = None,
                      limit: int | None = None) -> Candles:
        return await self._run(self._core.candles(market, interval, from_ms, to_ms, limit))

    async def account(self, account: str) -> Account:
        return await self._run(self._core.account(account))

    async def open_orders(self, account: str) -> list[Order]:
        return await self._run(self._core.open_orders(account))

    async def fills(self, account: str, limit: int | None = None,
                    before: str | None = None) -> FillsPage:
        return await self._run(self._core.fills(account, limit, before))

    async def iter_fills(self, account: str, limit: int | None = None) -> AsyncIterator[Fill]:
        """Every fill of the account the node keeps, newest first, following ``next``."""
        before: str | None = None
        while True:
            page = await self.fills(account, limit, before)
            for fill in page.fills:
                yield fill
            if page.next is None:
                return
            before = page.next

    async def order(self, order_id: int | str) -> Order:
        return await self._run(self._core.order(order_id))

    async def transaction(self, hash: str) -> TxStatus:
        return await self._run(self._core.transaction(hash))

    async def block(self, height: int | str = "latest") -> Block:
        return await self._run(self._core.block(height))

    async def order_state(self, signed: SignedTransaction) -> OrderState:
        """What became of ``signed`` and its orders (see ``Client.order_state``)."""
        return await self._run(self._core.order_state(signed))

    # Submitting
    async def sign(self, key: Key, action: Action,
                   expiry_height: int | None = None) -> SignedTransaction:
        return await self._run(self._core.sign(key, action, expiry_height))

    async def submit(self, signed: SignedTransaction, wait: bool = False,
                     timeout_ms: int | None = None, body: str = "hex") -> SubmitResponse:
        return await self._run(self._core.submit(signed, wait, timeout_ms, body))

    async def submit_batch(self, signed: list[SignedTransaction],
                           binary: bool = False) -> list[SubmitResponse | ApiError]:
        return await self._run(self._core.submit_batch(signed, binary))

    async def faucet(self, account: str, asset: int | str, amount: Number,
                     wait: bool = True) -> SubmitResponse:
        return await self._run(self._core.faucet(account, asset, amount, wait))

    async def demo_account(self, funds: dict[str, Number] | None = None) -> Key:
        return await self._run(self._core.demo_account(funds))

    async def place(self, key: Key, market: int | str, side: Side, price: Number, qty: Number,
                    time_in_force: TimeInForce = "gtc", post_only: bool = False,
                    self_trade: SelfTrade = "cancel_resting",
                    client_order_id: int | None = None, wait: bool = True,
                    timeout_ms: int | None = None,
                    expiry_height: int | None = None) -> Submitted:
        return await self._run(self._core.place(key, market, side, price, qty, time_in_force,
                                                post_only, self_trade, client_order_id, wait,
                                                timeout_ms, expiry_height))

    async def cancel(self, key: Key, market: int | str, order_id: int | None = None,
                     client_order_id: int | None = None, wait: bool = True,
                     timeout_ms: int | None = None) -> Submitted:
        return await self._run(self._core.cancel(key, market, order_id, client_order_id,
                                                 wait, timeout_ms))

    async def cancel_all(self, key: Key, market: int | str, wait: bool = True,
                         timeout_ms: int | None = None) -> Submitted:
        return await self._run(self._core.cancel_all(key, market, wait, timeout_ms))

    async def amend(self, key: Key, market: int | str, order_id: int, price: Number,
                    qty: Number, wait: bool = True, timeout_ms: int | None = None) -> Submitted:
        return await self._run(self._core.amend(key, market, order_id, price, qty, wait,
                                                timeout_ms))

    async def transfer(self, key: Key, to: str, asset: int, amount: int, wait: bool = True,
                       timeout_ms: int | None = None) -> Submitted:
        return await self._run(self._core.transfer(key, to, asset, amount, wait, timeout_ms))

    def stream(self) -> Stream:
        """A websocket connection: ``async with client.stream() as s: ...``."""
        return Stream(self._core.ws_url)
