"""Websocket subscriptions survive a dropped socket, a SIGKILL and a graceful restart of
the node: what they deliver is the chain's history with no gap and no duplicate."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

from conftest import Node

from clobchain import (
    ApiError,
    Book,
    Client,
    Key,
    Place,
    SignedTransaction,
    Stream,
    SubmitResponse,
    TransportError,
)
from clobchain.ws import BlocksMessage, FillsMessage, OrdersMessage, StreamMessage, TradesMessage

ROUNDS = 24
PRICE = 6_500_000  # $65,000 per BTC, in USD atoms per lot
LOT = 10_000


def submit_until_answered(client: Client, signed: SignedTransaction) -> SubmitResponse:
    """Sends the same bytes until the node answers (through restarts): exactly once."""
    deadline = time.monotonic() + 30
    while True:
        try:
            return client.submit(signed, wait=True)
        except TransportError:
            pass
        except ApiError as e:
            if e.code not in ("SHUTTING_DOWN", "MEMPOOL_FULL"):
                raise
        assert time.monotonic() < deadline, "the node did not come back"
        time.sleep(0.05)


def trade(node: Node, maker: Key, taker: Key, disrupt: dict[int, object]) -> list[int]:
    """Rounds of a resting buy and a sell that takes it; ``disrupt[i]()`` runs before round
    ``i``. Returns the ids of the maker's orders."""
    placed: list[int] = []
    with Client(node.url) as client:
        for i in range(ROUNDS):
            action = disrupt.get(i)
            if callable(action):
                action()
            buy = client.sign(maker, Place(0, "buy", PRICE + i, LOT * (1 + i % 3)))
            assert submit_until_answered(client, buy).status == "committed"
            placed.append(buy.order_ids[0])
            sell = client.sign(taker, Place(0, "sell", PRICE, LOT * (1 + i % 3),
                                            time_in_force="ioc"))
            assert submit_until_answered(client, sell).status == "committed"
        last = client.sign(maker, Place(0, "buy", PRICE - 100, LOT))  # stays on the book
        submit_until_answered(client, last)
        placed.append(last.order_ids[0])
    return placed


def apply(book: dict[str, dict[int, int]], msg: Book) -> None:
    if msg.snapshot:
        book["bids"], book["asks"] = {}, {}
    for side, levels in (("bids", msg.bids), ("asks", msg.asks)):
        for level in levels:
            if level.qty:
                book[side][level.price] = level.qty
            else:
                book[side].pop(level.price, None)


async def test_no_gap_no_duplicate_across_drops_and_restarts(tmp_path: Path) -> None:
    node = Node(tmp_path / "data")
    node.start()
    try:
        with Client(node.url) as client:
            maker = client.demo_account({"USD": 1_000_000})
            taker = client.demo_account({"BTC": 100})
        got: list[StreamMessage] = []
        book: dict[str, dict[int, int]] = {"bids": {}, "asks": {}}
        async with Stream(f"ws://127.0.0.1:{node.port}/v1/ws") as stream:
            await stream.blocks(from_height=1)
            await stream.trades("BTC-USD", from_height=1)
            await stream.fills(maker.account, from_height=1)
            await stream.orders(maker.account, from_height=1)
            await stream.book("BTC-USD")

            async def consume() -> None:
                async for msg in stream:
                    if isinstance(msg, Book):
                        apply(book, msg)
                    else:
                        got.append(msg)

            consumer = asyncio.create_task(consume())
            loop = asyncio.get_running_loop()

            def restart_hard() -> None:
                node.kill()
                node.start()

            def restart_gracefully() -> None:  # the node says `closing` first
                node.stop()
                node.start()

            disrupt = {
                6: lambda: loop.call_soon_threadsafe(stream._abort),
                12: restart_hard,
                18: restart_gracefully,
            }
            placed = await asyncio.to_thread(trade, node, maker, taker, disrupt)

            with Client(node.url) as client:
                height = client.health().height
                last_seq = client.market("BTC-USD").last_trade_seq
                rest_book = client.book("BTC-USD")
                rest_fills = list(client.iter_fills(maker.account, limit=7))
                rest_trades = list(client.iter_trades("BTC-USD", limit=1000))
            deadline = time.monotonic() + 20
            while time.monotonic() < deadline:
                blocks = [m.height for m in got if isinstance(m, BlocksMessage)]
                if blocks and blocks[-1] >= height and book["bids"]:
                    break
                await asyncio.sleep(0.05)
            consumer.cancel()
            print(f"connections {stream.connections}, height {height}, trades {last_seq}")
            assert stream.connections >= 4, "the socket was dropped three times"
    finally:
        node.stop()

    blocks = [m.height for m in got if isinstance(m, BlocksMessage)]
    assert blocks == list(range(1, blocks[-1] + 1)) and blocks[-1] >= height

    trades = [f for m in got if isinstance(m, TradesMessage) for f in m.fills]
    assert ROUNDS <= last_seq and [f.seq for f in trades] == list(range(1, last_seq + 1))

    assert trades == rest_trades[::-1]  # the same fills, field for field

    fills = [f for m in got if isinstance(m, FillsMessage) for f in m.fills]
    assert fills == trades  # the maker is in every trade
    assert sorted(f.key for f in rest_fills) == sorted(f.key for f in fills)

    orders = [m for m in got if isinstance(m, OrdersMessage)]
    heights = [m.height for m in orders]
    assert heights == sorted(set(heights))
    events = [u.event for m in orders for u in m.updates if u.event is not None]
    assert [e.order_id for e in events if e.type == "accepted"] == placed
    assert [e.fill.seq for e in events if e.fill is not None] == list(range(1, last_seq + 1))

    assert book["bids"] == {lv.price: lv.qty for lv in rest_book.bids} == {PRICE - 100: LOT}
    assert book["asks"] == {}
