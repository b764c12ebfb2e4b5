"""The API additions of issue 18: candles (REST and
websocket), trades pages, websocket order entry, market limits. They fail against a
node that does not serve them yet."""

from __future__ import annotations

import asyncio
from decimal import Decimal

import pytest
from conftest import Node

from clobchain import (
    ApiError,
    AsyncClient,
    CancelAll,
    Client,
    Key,
    Place,
    SignedTransaction,
    Stream,
)
from clobchain.ws import CandlesMessage, OrdersMessage


def cross(client: Client, price: str, lots: int = 1) -> None:
    """One trade on ETH-USD at ``price``."""
    maker = client.demo_account({"USD": 10_000})
    taker = client.demo_account({"ETH": 10})
    qty = Decimal("0.001") * lots
    client.place(maker, "ETH-USD", "buy", Decimal(price), qty)
    client.place(taker, "ETH-USD", "sell", Decimal(price), qty, time_in_force="ioc")


def test_candles_rest(client: Client) -> None:
    cross(client, "2000.00")
    cross(client, "2010.00", 2)
    cross(client, "1990.00")
    candles = client.candles("ETH-USD", interval="1m")
    assert candles.market == 1 and candles.interval == "1m" and candles.candles
    last = candles.candles[-1]
    assert last.close == 1_990_000 and last.high >= 2_010_000 and last.low <= 1_990_000
    assert last.trades >= 3 and last.volume >= 4_000_000 and last.last_seq >= last.first_seq
    hours = client.candles("ETH-USD", interval="1h", from_ms=0, limit=1)
    assert len(hours.candles) == 1
    with pytest.raises(ApiError) as info:
        client.candles("ETH-USD", interval="7m")
    assert info.value.status == 400


def test_trades_pages(client: Client) -> None:
    for i in range(3):
        cross(client, f"{2100 + i}.00")
    page = client.trades("ETH-USD", limit=2)
    assert len(page.trades) == 2 and page.next is not None
    trades = list(client.iter_trades("ETH-USD", limit=2))
    seqs = [t.seq for t in trades]
    assert seqs == list(range(seqs[0], 0, -1))  # every trade, newest first, no gap


def test_market_limits(client: Client) -> None:
    market = client.market("BTC-USD")
    assert market.resting_orders_per_account_max is not None
    assert market.resting_orders_per_book_max is not None


async def test_candles_channel(node: Node) -> None:
    with Client(node.url) as client:
        cross(client, "2200.00")
        async with Stream(f"ws://127.0.0.1:{node.port}/v1/ws") as stream:
            await stream.candles("ETH-USD", "1m")
            first = await stream.next(timeout=10)
            assert isinstance(first, CandlesMessage) and first.candles[-1].close == 2_200_000
            await asyncio.to_thread(cross, client, "2210.00")
            update = await stream.next(timeout=10)
            assert isinstance(update, CandlesMessage) and update.candles[-1].close == 2_210_000
            assert update.height > first.height


async def test_websocket_order_entry(node: Node) -> None:
    async with AsyncClient(node.url) as client:
        key: Key = await client.demo_account({"USD": 10_000})
        async with client.stream() as stream:
            await stream.orders(key.account)
            signed = await client.sign(key, Place(0, "buy", 100_000, 10_000))
            answer = await stream.submit(signed)
            assert answer.hash == signed.hash and answer.order_ids == signed.order_ids
            assert answer.status == "pending" and not answer.duplicate
            again = await stream.submit(signed, binary=True)
            assert again.duplicate and again.hash == signed.hash
            forged = SignedTransaction(
                (await client.sign(key, CancelAll(0))).transaction, bytes(64))
            with pytest.raises(ApiError) as info:
                await stream.submit(forged)
            assert info.value.code == "BAD_SIGNATURE"
            accepted = None
            while accepted is None:
                msg = await stream.next(timeout=10)
                if isinstance(msg, OrdersMessage):
                    accepted = [u for u in msg.updates if u.tx == signed.hash]
            assert accepted and accepted[0].event is not None
            assert accepted[0].event.order_id == signed.order_ids[0]
