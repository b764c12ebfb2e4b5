"""Every REST endpoint through Client and AsyncClient, and the convenience methods."""

from __future__ import annotations

from decimal import Decimal

import pytest
from conftest import Node

from clobchain import (
    ApiError,
    AsyncClient,
    Batch,
    CancelAll,
    Client,
    Key,
    Place,
    SubmitResponse,
)
from clobchain.ws import BlocksMessage


def test_reads(client: Client, funded: Key) -> None:
    health = client.health()
    assert health.status == "ok" and health.chain_id == 1337 and health.height >= 1
    markets = client.markets()
    assert [m.symbol for m in markets][:2] == ["BTC-USD", "ETH-USD"]
    btc = client.market("btc-usd")
    assert btc.id == 0 and btc.tick == Decimal("0.01") and btc.lot == Decimal("0.0001")
    assert client.market(0) == btc or client.market(0).symbol == "BTC-USD"
    account = client.account(funded.account)
    assert account.exists and account.balance("USD").available == 10**12
    assert account.last_nonce is None
    assert client.open_orders(funded.account) == []
    latest = client.block()
    assert client.block(latest.height).hash == latest.hash
    assert isinstance(client.book("ETH-USD", depth=3).bids, list)


def test_place_amend_cancel_cancel_all(client: Client, funded: Key) -> None:
    placed = client.place(funded, "ETH-USD", "buy", Decimal("1000.00"), Decimal("0.5"),
                          post_only=True, client_order_id=7)
    assert placed.status == "committed" and placed.response.receipt is not None
    assert placed.response.receipt.actions[0].order_id == placed.order_id
    order = client.order(placed.order_id)
    assert (order.status, order.price, order.qty_remaining) == ("open", 1_000_000, 500_000_000)
    client.amend(funded, "ETH-USD", placed.order_id, Decimal("1000.10"), Decimal("0.25"))
    order = client.order(placed.order_id)
    assert (order.price, order.qty_remaining) == (1_000_100, 250_000_000)
    client.cancel(funded, "ETH-USD", client_order_id=7)
    assert client.order(placed.order_id).status == "cancelled"
    a = client.place(funded, "ETH-USD", "buy", Decimal("900"), Decimal("0.001"))
    b = client.place(funded, "ETH-USD", "buy", Decimal("901"), Decimal("0.001"))
    assert {o.order_id for o in client.open_orders(funded.account)} == {a.order_id, b.order_id}
    client.cancel_all(funded, "ETH-USD")
    assert client.open_orders(funded.account) == []
    client.place(funded, "ETH-USD", "buy", Decimal("902"), Decimal("0.001"))
    by_id = client.place(funded, "ETH-USD", "buy", Decimal("903"), Decimal("0.001"))
    client.cancel(funded, 1, order_id=by_id.order_id)
    assert client.order(by_id.order_id).status == "cancelled"


def test_batches_and_body_forms(client: Client, funded: Key) -> None:
    batch = client.sign(funded, Batch((Place(0, "buy", 100_000, 10_000),
                                       Place(0, "buy", 100_001, 10_000), CancelAll(2))))
    answer = client.submit(batch, wait=True, body="json")
    assert answer.order_ids == batch.order_ids and len(batch.order_ids) == 2
    many = [client.sign(funded, CancelAll(0)) for _ in range(3)]
    results = client.submit_batch(many)
    assert all(isinstance(r, SubmitResponse) and r.status == "pending" for r in results)
    results = client.submit_batch(many + [client.sign(funded, CancelAll(0))], binary=True)
    assert [r.duplicate for r in results if isinstance(r, SubmitResponse)] == [True] * 3 + [False]
    bad = client.submit_batch([client.sign(client.demo_account({"USD": 1}), Place(9, "buy", 1, 1))])
    assert isinstance(bad[0], ApiError) and bad[0].code == "UNKNOWN_MARKET"


def test_fills_pages_and_iteration(client: Client) -> None:
    maker = client.demo_account({"USD": 100_000})
    taker = client.demo_account({"BTC": 10})
    for i in range(5):  # above any other bid of the session, so the sell takes these
        client.place(maker, "BTC-USD", "buy", Decimal("900000") + i, Decimal("0.001"))
    client.place(taker, "BTC-USD", "sell", Decimal("900000"), Decimal("0.005"),
                 time_in_force="ioc")
    page = client.fills(maker.account, limit=2)
    assert len(page.fills) == 2 and page.next is not None
    fills = list(client.iter_fills(maker.account, limit=2))
    assert len(fills) == 5 and len({f.key for f in fills}) == 5
    assert fills == sorted(fills, key=lambda f: (f.height, f.market, f.seq), reverse=True)
    assert {f.price for f in fills} == {90_000_000 + 100 * i for i in range(5)}
    trades = client.trades("BTC-USD", limit=5)
    assert {f.key for f in fills} <= {f.key for f in trades.trades}


async def test_the_async_client_has_the_same_methods(node: Node) -> None:
    sync_methods = {m for m in dir(Client) if not m.startswith("_")}
    async_methods = {m for m in dir(AsyncClient) if not m.startswith("_")}
    assert sync_methods - {"__enter__", "__exit__"} == async_methods - {"__aenter__", "__aexit__"}
    async with AsyncClient(node.url) as client:
        key = await client.demo_account({"USD": 1000})
        placed = await client.place(key, "BTC-USD", "buy", Decimal("100"), Decimal("0.0001"))
        assert (await client.order(placed.order_id)).status == "open"
        state = await client.order_state(placed.signed)
        assert state.tx is not None and state.tx.status == "committed"
        fills = [f async for f in client.iter_fills(key.account)]
        assert fills == []


def test_default_url(monkeypatch: pytest.MonkeyPatch, node: Node) -> None:
    monkeypatch.setenv("CLOBCHAIN_URL", node.url)
    with Client() as c:
        assert c.url == node.url and c.health().status == "ok"
    monkeypatch.delenv("CLOBCHAIN_URL")
    assert Client().url == "http://127.0.0.1:8080"


def test_sync_stream(client: Client) -> None:
    with client.stream() as stream:
        stream.blocks(from_height=1)
        first = stream.next(timeout=10)
        second = stream.next(timeout=10)
        assert isinstance(first, BlocksMessage) and isinstance(second, BlocksMessage)
        assert (first.height, second.height) == (1, 2)
