"""The stream's bookkeeping without a node: what it delivers, drops and resumes from."""

from __future__ import annotations

import asyncio
from typing import Any

from clobchain import Book, Stream
from clobchain.ws import BlocksMessage, TradesMessage, _Sub

BLOCK = {"hash": "", "parent_hash": "", "timestamp_ms": 0, "transaction_count": 0,
         "transactions_root": "", "events_root": "", "state_root": ""}


def subscribed(stream: Stream, sub: _Sub, reply: dict[str, Any]) -> None:
    """As if ``sub`` had been sent on connection 1 and confirmed with ``reply``."""
    stream.connections = 1
    stream._subs[id(sub)] = sub
    stream._acks.append(sub)
    sub.sent_on = 1
    assert not stream._handle({"type": "subscribed", **reply})


def drain(stream: Stream) -> list[Any]:
    out = []
    while not stream._queue.empty():
        out.append(stream._queue.get_nowait())
    return out


async def test_replays_are_deduplicated_and_resume_above_the_last_height() -> None:
    stream = Stream("ws://unused")
    sub = _Sub("blocks")
    sub.cursor = 9  # asked from_height 10
    assert sub.request() == {"op": "subscribe", "channel": "blocks", "from_height": 10}
    subscribed(stream, sub, {"channel": "blocks", "height": 12, "from_height": 10})
    for h in (10, 11, 11, 12, 9, 13):  # a repeat and an old one are dropped
        stream._handle({"type": "blocks", "height": h, "data": {"height": h, **BLOCK}})
    got = drain(stream)
    assert [m.height for m in got] == [10, 11, 12, 13]
    assert all(isinstance(m, BlocksMessage) for m in got)
    assert sub.request()["from_height"] == 14
    # A heartbeat on this connection covers every block up to its height.
    stream._handle({"type": "heartbeat", "height": 20})
    assert sub.request()["from_height"] == 21
    # ... but not once the socket was replaced and the subscription not yet confirmed.
    stream.connections = 2
    stream._handle({"type": "heartbeat", "height": 30})
    assert sub.request()["from_height"] == 21


async def test_lagged_and_closing_renew_the_connection() -> None:
    stream = Stream("ws://unused")
    assert stream._handle({"type": "lagged", "message": "", "resume_from_height": 5})
    assert stream._handle({"type": "closing", "message": "bye"})
    assert not stream._handle({"type": "pong", "height": 3})


async def test_a_live_subscription_starts_at_the_confirmed_height() -> None:
    stream = Stream("ws://unused")
    sub = _Sub("trades", market="BTC-USD")
    assert "from_height" not in sub.request()
    subscribed(stream, sub, {"channel": "trades", "market": 0, "height": 40})
    assert sub.request()["from_height"] == 41
    stream._handle({"type": "trades", "market": 0, "height": 41, "data": []})
    stream._handle({"type": "trades", "market": 1, "height": 42, "data": []})  # not ours
    got = drain(stream)
    assert len(got) == 1 and isinstance(got[0], TradesMessage) and got[0].market == 0


async def test_a_book_gap_asks_for_a_new_snapshot() -> None:
    stream = Stream("ws://unused")
    sent: list[_Sub] = []

    async def resubscribe(sub: _Sub) -> None:
        sent.append(sub)

    stream._resubscribe = resubscribe  # type: ignore[method-assign]
    sub = _Sub("book", market=0)
    subscribed(stream, sub, {"channel": "book", "market": 0, "height": 5})
    assert "from_height" not in sub.request()

    def book(seq: int, snapshot: bool) -> dict[str, Any]:
        return {"type": "book", "market": 0, "height": seq, "seq": seq, "snapshot": snapshot,
                "bids": [[100, seq]], "asks": []}

    for msg in (book(1, True), book(2, False), book(4, False), book(5, False), book(7, True),
                book(8, False)):
        stream._handle(msg)
    await asyncio.sleep(0)
    got = drain(stream)
    assert [(b.seq, b.snapshot) for b in got] == [(1, True), (2, False), (7, True), (8, False)]
    assert all(isinstance(b, Book) for b in got) and sent == [sub]


async def test_an_error_without_id_refuses_the_oldest_request() -> None:
    stream = Stream("ws://unused")
    loop = asyncio.get_running_loop()
    future = loop.create_future()
    stream._pending[7] = future
    stream._acks.append(7)
    sub = _Sub("trades", market=99)
    sub.ready = loop.create_future()
    stream._subs[id(sub)] = sub
    stream._acks.append(sub)
    stream._handle({"type": "error", "code": "MALFORMED", "message": "no"})
    stream._handle({"type": "error", "code": "UNKNOWN_MARKET", "message": "no"})
    assert future.exception().code == "MALFORMED"  # type: ignore[union-attr]
    assert sub.ready.exception().code == "UNKNOWN_MARKET"  # type: ignore[union-attr]
    assert stream._subs == {}
