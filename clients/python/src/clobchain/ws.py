"""The websocket (``/v1/ws``): subscriptions that survive dropped sockets and node
restarts, and order entry.

A :class:`Stream` is one logical connection. It reconnects by itself (exponential
backoff) after the socket drops, after ``lagged`` and after ``closing``, and resubscribes
every channel: ``trades``, ``fills``, ``orders`` and ``blocks`` with ``from_height`` = one
above the last height it delivered (docs/API.md, "Resuming"), dropping any message at or
below that height, so the caller sees every block's message exactly once, in order.
``book`` takes no ``from_height``: it resubscribes and delivers a fresh snapshot (and does
so too when a delta's ``seq`` skips). ``candles`` resubscribes live and skips what it
already delivered (each candle message is the candle as it stands, so nothing is lost).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import threading
from collections.abc import Awaitable
from dataclasses import dataclass, field
from typing import Any, TypeVar, Union

import websockets
from websockets.asyncio.client import ClientConnection, connect

from .encoding import SignedTransaction
from .errors import ApiError, TransportError
from .models import Block, Book, Candle, Fill, OrderUpdate, SubmitResponse

__all__ = [
    "Stream", "SyncStream", "TradesMessage", "FillsMessage", "OrdersMessage",
    "BlocksMessage", "CandlesMessage", "StreamMessage",
]

T = TypeVar("T")
_RESUMABLE = ("trades", "fills", "orders", "blocks")


@dataclass(frozen=True)
class TradesMessage:
    """The market's fills in one block, in ``seq`` order."""

    market: int
    height: int
    fills: list[Fill]


@dataclass(frozen=True)
class FillsMessage:
    """The account's fills in one block."""

    account: str
    height: int
    fills: list[Fill]


@dataclass(frozen=True)
class OrdersMessage:
    """What happened to the account's orders and transactions in one block: book events,
    refusals, and (live only) the transactions the node dropped after it (see
    :class:`~clobchain.models.OrderUpdate`)."""

    account: str
    height: int
    updates: list[OrderUpdate]


@dataclass(frozen=True)
class BlocksMessage:
    """One block header."""

    height: int
    block: Block


@dataclass(frozen=True)
class CandlesMessage:
    """The market's candle as it stands after block ``height``."""

    market: int
    interval: str
    height: int
    candles: list[Candle]


StreamMessage = Union[TradesMessage, FillsMessage, OrdersMessage, BlocksMessage,
                      CandlesMessage, Book]


@dataclass
class _Sub:
    """One subscription and where it stands: ``cursor`` is the last height delivered (or
    known to hold nothing for it); ``seq`` the book's last sequence number."""

    channel: str
    market: int | str | None = None
    account: str | None = None
    interval: str | None = None
    cursor: int | None = None
    seq: int | None = None
    ready: asyncio.Future[None] | None = field(default=None, repr=False)
    #: The connection (its number) the subscription was last sent on, and confirmed on.
    sent_on: int = 0
    live_on: int = 0

    def request(self) -> dict[str, Any]:
        msg: dict[str, Any] = {"op": "subscribe", "channel": self.channel}
        if self.market is not None:
            msg["market"] = self.market
        if self.account is not None:
            msg["account"] = self.account
        if self.interval is not None:
            msg["interval"] = self.interval
        if self.channel in _RESUMABLE and self.cursor is not None:
            msg["from_height"] = self.cursor + 1
        return msg


def _key(channel: str, msg: dict[str, Any]) -> tuple[Any, ...]:
    """The identity of the subscription a server message belongs to."""
    if channel in ("fills", "orders"):
        return (channel, msg.get("account"))
    if channel == "candles":
        return (channel, msg.get("market"), msg.get("interval"))
    if channel == "blocks":
        return (channel,)
    return (channel, msg.get("market"))


def _parse(channel: str, msg: dict[str, Any]) -> StreamMessage:
    height = msg["height"]
    if channel == "trades":
        return TradesMessage(msg["market"], height, [Fill.from_json(f) for f in msg["data"]])
    if channel == "fills":
        return FillsMessage(msg["account"], height, [Fill.from_json(f) for f in msg["data"]])
    if channel == "orders":
        return OrdersMessage(msg["account"], height,
                             [OrderUpdate.from_json(u) for u in msg["data"]])
    if channel == "blocks":
        return BlocksMessage(height, Block.from_json(msg["data"]))
    if channel == "candles":
        return CandlesMessage(msg["market"], msg["interval"], height,
                              [Candle.from_json(c) for c in msg["data"]])
    return Book.from_json(msg)


class Stream:
    """A resumable websocket connection (asyncio). Use as ``async with``; subscribe with
    :meth:`trades`, :meth:`fills`, …; iterate (``async for msg in stream``) for typed
    messages; :meth:`submit` sends a signed transaction over the same socket."""

    def __init__(self, url: str, *, backoff_initial: float = 0.05,
                 backoff_max: float = 2.0) -> None:
        self.url = url
        self.backoff_initial = backoff_initial
        self.backoff_max = backoff_max
        #: How many times the stream has connected (1 + reconnects).
        self.connections = 0
        self._subs: dict[int, _Sub] = {}
        self._by_key: dict[tuple[Any, ...], _Sub] = {}
        #: What awaits an answer, in the order sent: subscriptions and submit ids (the
        #: server answers in order; an ``error`` without an id is for the oldest).
        self._acks: list[_Sub | int] = []
        self._queue: asyncio.Queue[StreamMessage | BaseException] = asyncio.Queue()
        self._pending: dict[int, asyncio.Future[SubmitResponse]] = {}
        self._next_id = 1
        self._ws: ClientConnection | None = None
        self._connected = asyncio.Event()
        self._send_lock = asyncio.Lock()
        self._task: asyncio.Task[None] | None = None
        self._closed = False

    async def __aenter__(self) -> Stream:
        await self.open()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def open(self) -> None:
        """Starts the connection (and keeps it up until :meth:`close`)."""
        if self._task is None:
            self._task = asyncio.create_task(self._run())

    async def close(self) -> None:
        self._closed = True
        if self._ws is not None:
            await self._ws.close()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    # Subscribing -------------------------------------------------------------------

    async def trades(self, market: int | str, from_height: int | None = None) -> None:
        """The market's fills, block by block; ``from_height`` replays from that block."""
        await self._subscribe(_Sub("trades", market=market), from_height)

    async def fills(self, account: str, from_height: int | None = None) -> None:
        """The account's fills, block by block."""
        await self._subscribe(_Sub("fills", account=account.lower()), from_height)

    async def orders(self, account: str, from_height: int | None = None) -> None:
        """Everything that happens to the account's orders and transactions (book events,
        refusals, drops: :class:`~clobchain.models.OrderUpdate`)."""
        await self._subscribe(_Sub("orders", account=account.lower()), from_height)

    async def blocks(self, from_height: int | None = None) -> None:
        """Every block header."""
        await self._subscribe(_Sub("blocks"), from_height)

    async def book(self, market: int | str) -> None:
        """A snapshot (``Book.snapshot``), then deltas: each level the new total."""
        await self._subscribe(_Sub("book", market=market), None)

    async def candles(self, market: int | str, interval: str = "1m") -> None:
        """The market's current candle, then the candle after each block that traded."""
        await self._subscribe(_Sub("candles", market=market, interval=interval), None)

    async def _subscribe(self, sub: _Sub, from_height: int | None) -> None:
        if from_height is not None:
            sub.cursor = max(from_height, 1) - 1
        sub.ready = asyncio.get_running_loop().create_future()
        self._subs[id(sub)] = sub
        await self.open()
        await self._connected.wait()
        with contextlib.suppress(ConnectionError, websockets.ConnectionClosed):
            await self._send_subscribe(sub)  # else the reconnect sends it
        await sub.ready

    async def _send_subscribe(self, sub: _Sub, again: bool = False) -> None:
        """Sends ``sub`` on the current socket unless it was already (or ``again``)."""
        async with self._send_lock:
            ws = self._ws
            if ws is None:
                raise ConnectionError("not connected")
            if sub.sent_on == self.connections and not again:
                return
            sub.sent_on = self.connections
            self._acks.append(sub)
            await ws.send(json.dumps(sub.request()))

    # Order entry ---------------------------------------------------------------------

    async def submit(self, signed: SignedTransaction, binary: bool = False,
                     timeout: float = 30.0) -> SubmitResponse:
        """Submits ``signed`` over the websocket (``op: submit``), answered by id. If the
        socket drops first, :class:`TransportError`: look the transaction up by its hash
        or resend it (a resend is a duplicate, never a second execution)."""
        await self.open()
        await asyncio.wait_for(self._connected.wait(), timeout)
        ident = self._next_id
        self._next_id += 1
        future: asyncio.Future[SubmitResponse] = asyncio.get_running_loop().create_future()
        self._pending[ident] = future
        try:
            async with self._send_lock:
                ws = self._ws
                if ws is None:
                    raise TransportError("the websocket is not connected")
                self._acks.append(ident)
                if binary:
                    await ws.send(ident.to_bytes(8, "little") + signed.to_bytes())
                else:
                    await ws.send(json.dumps({"op": "submit", "id": ident, "tx": signed.hex}))
            return await asyncio.wait_for(future, timeout)
        except websockets.ConnectionClosed as e:
            raise TransportError(f"the websocket closed: {e}") from e
        finally:
            self._pending.pop(ident, None)

    # Reading -------------------------------------------------------------------------

    def __aiter__(self) -> Stream:
        return self

    async def __anext__(self) -> StreamMessage:
        item = await self._queue.get()
        if isinstance(item, BaseException):
            raise item
        return item

    async def next(self, timeout: float | None = None) -> StreamMessage:
        """The next message (``asyncio.TimeoutError`` after ``timeout`` seconds)."""
        return await asyncio.wait_for(self.__anext__(), timeout)

    def _abort(self) -> None:
        """Drops the socket abruptly, as a network failure would (for tests)."""
        if self._ws is not None:
            self._ws.transport.abort()

    async def _run(self) -> None:
        delay = self.backoff_initial
        while not self._closed:
            try:
                ws = await connect(self.url, max_size=None, open_timeout=5)
            except (OSError, websockets.InvalidHandshake, asyncio.TimeoutError):
                await asyncio.sleep(delay)
                delay = min(delay * 2, self.backoff_max)
                continue
            self.connections += 1
            self._ws = ws
            self._acks.clear()
            try:
                for sub in list(self._subs.values()):
                    sub.seq = None
                    await self._send_subscribe(sub)
                self._connected.set()
                async for frame in ws:
                    delay = self.backoff_initial
                    if isinstance(frame, str) and self._handle(json.loads(frame)):
                        break  # lagged or closing: reconnect and resume
            except websockets.ConnectionClosed:
                pass
            finally:
                self._connected.clear()
                self._ws = None
                for future in self._pending.values():
                    if not future.done():
                        future.set_exception(TransportError("the websocket closed"))
                with contextlib.suppress(Exception):
                    await ws.close()
            if not self._closed:
                await asyncio.sleep(delay)
                delay = min(delay * 2, self.backoff_max)

    def _handle(self, msg: dict[str, Any]) -> bool:
        """Handles one server message; True when the connection should be renewed."""
        kind = msg.get("type")
        if kind in ("lagged", "closing"):
            return True
        if kind == "subscribed":
            self._on_subscribed(msg)
        elif kind == "submitted" or (kind == "error" and msg.get("id") is not None):
            self._on_submit_answer(msg)
        elif kind == "error" and self._acks:  # refuses the oldest request
            oldest = self._acks.pop(0)
            error = ApiError(msg.get("code", ""), msg.get("message", ""))
            if isinstance(oldest, int):
                future = self._pending.get(oldest)
                if future is not None and not future.done():
                    future.set_exception(error)
            else:
                self._subs.pop(id(oldest), None)
                if oldest.ready is not None and not oldest.ready.done():
                    oldest.ready.set_exception(error)
        elif kind in ("heartbeat", "pong"):
            # The connection's cursor: every block up to it was delivered, for each
            # subscription confirmed on this socket (its replay, if any, is done).
            for sub in self._by_key.values():
                if sub.channel in _RESUMABLE and sub.live_on == self.connections \
                        and sub.cursor is not None:
                    sub.cursor = max(sub.cursor, msg["height"])
        elif kind in _RESUMABLE or kind in ("book", "candles"):
            return self._on_data(kind, msg)
        return False

    def _on_subscribed(self, msg: dict[str, Any]) -> None:
        sub = next((a for a in self._acks if isinstance(a, _Sub)), None)
        if sub is None:
            return
        self._acks.remove(sub)
        if id(sub) not in self._subs:
            return
        self._by_key[_key(sub.channel, msg)] = sub
        sub.live_on = self.connections
        if sub.cursor is None and sub.channel in _RESUMABLE:
            sub.cursor = msg["height"]  # live from here; nothing before was asked for
        if sub.ready is not None and not sub.ready.done():
            sub.ready.set_result(None)

    def _on_submit_answer(self, msg: dict[str, Any]) -> None:
        ident = int(msg["id"])
        if ident in self._acks:
            self._acks.remove(ident)
        future = self._pending.get(ident)
        if future is None or future.done():
            return
        if msg["type"] == "error":
            future.set_exception(ApiError(msg.get("code", ""), msg.get("message", "")))
        else:
            future.set_result(SubmitResponse.from_json(msg))

    def _on_data(self, channel: str, msg: dict[str, Any]) -> bool:
        sub = self._by_key.get(_key(channel, msg))
        if sub is None:
            return False
        if channel == "book":
            if not msg.get("snapshot") and (sub.seq is None or msg["seq"] != sub.seq + 1):
                if sub.seq is not None:  # a missed delta: ask for a fresh snapshot
                    sub.seq = None
                    asyncio.ensure_future(self._resubscribe(sub))
                return False  # deltas before the new snapshot are of no use
            sub.seq = msg["seq"]
        else:
            height = msg["height"]
            if sub.cursor is not None and height <= sub.cursor:
                return False  # already delivered (a replay's overlap)
            sub.cursor = height
        self._queue.put_nowait(_parse(channel, msg))
        return False

    async def _resubscribe(self, sub: _Sub) -> None:
        with contextlib.suppress(ConnectionError, websockets.ConnectionClosed):
            await self._send_subscribe(sub, again=True)


class SyncStream:
    """:class:`Stream` for synchronous code: an event loop in a background thread; the
    same methods, blocking; iterate with ``for msg in stream``."""

    def __init__(self, url: str) -> None:
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._thread.start()
        self.stream: Stream = self._call(self._make(url))

    @staticmethod
    async def _make(url: str) -> Stream:
        stream = Stream(url)
        await stream.open()
        return stream

    def _call(self, coro: Awaitable[T], timeout: float | None = None) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(timeout)  # type: ignore[arg-type]

    def __enter__(self) -> SyncStream:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._call(self.stream.close())
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join()

    def trades(self, market: int | str, from_height: int | None = None) -> None:
        self._call(self.stream.trades(market, from_height))

    def fills(self, account: str, from_height: int | None = None) -> None:
        self._call(self.stream.fills(account, from_height))

    def orders(self, account: str, from_height: int | None = None) -> None:
        self._call(self.stream.orders(account, from_height))

    def blocks(self, from_height: int | None = None) -> None:
        self._call(self.stream.blocks(from_height))

    def book(self, market: int | str) -> None:
        self._call(self.stream.book(market))

    def candles(self, market: int | str, interval: str = "1m") -> None:
        self._call(self.stream.candles(market, interval))

    def submit(self, signed: SignedTransaction, binary: bool = False) -> SubmitResponse:
        return self._call(self.stream.submit(signed, binary))

    def next(self, timeout: float | None = None) -> StreamMessage:
        """The next message; ``TimeoutError`` after ``timeout`` seconds."""
        return self._call(self.stream.next(timeout))

    def __iter__(self) -> SyncStream:
        return self

    def __next__(self) -> StreamMessage:
        return self.next()
