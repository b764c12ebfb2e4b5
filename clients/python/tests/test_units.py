"""Decimal prices and quantities: exact, on the tick and lot, never floats."""

from __future__ import annotations

from decimal import Decimal

import pytest

from clobchain import Client, Key, Market, UnitError

BTC_USD = Market.from_json({
    "id": 0, "symbol": "BTC-USD", "base": {"id": 1, "symbol": "BTC", "decimals": 8},
    "quote": {"id": 0, "symbol": "USD", "decimals": 6}, "tick_size": 1, "lot_size": 10000,
    "qty_min": 10000, "qty_max": 10000000000, "price_max": 1000000000, "maker_fee_bps": 2,
    "taker_fee_bps": 5, "best_bid": None, "best_ask": None, "resting_orders": 0,
    "last_trade_seq": 0,
})
# A market whose tick is not a power of ten of the price: 10 atoms per lot of 10^6.
ETH_USD = Market.from_json({
    "id": 1, "symbol": "ETH-USD", "base": {"id": 2, "symbol": "ETH", "decimals": 9},
    "quote": {"id": 0, "symbol": "USD", "decimals": 6}, "tick_size": 10, "lot_size": 1000000,
    "qty_min": 1000000, "qty_max": 10**12, "price_max": 10**9, "maker_fee_bps": 2,
    "taker_fee_bps": 5, "best_bid": None, "best_ask": None, "resting_orders": 0,
    "last_trade_seq": 0,
})


def test_the_documented_btc_usd_conversions() -> None:
    # docs/API.md, "Conventions": $65,000.00 is 6,500,000 atoms per lot; 0.25 BTC 25,000,000.
    assert BTC_USD.price_to_atoms(Decimal("65000.00")) == 6_500_000
    assert BTC_USD.qty_to_atoms(Decimal("0.25")) == 25_000_000
    assert BTC_USD.tick == Decimal("0.01") and BTC_USD.lot == Decimal("0.0001")
    assert BTC_USD.price(6_500_000) == Decimal("65000")
    assert BTC_USD.qty(25_000_000) == Decimal("0.25")
    assert BTC_USD.price_to_atoms(65000) == 6_500_000
    assert BTC_USD.price_to_atoms("0.01") == 1


def test_conversions_round_trip_exactly() -> None:
    for atoms in (10, 20, 12340, 999_999_990):
        assert ETH_USD.price_to_atoms(ETH_USD.price(atoms)) == atoms
    assert ETH_USD.tick == Decimal("0.01") and ETH_USD.lot == Decimal("0.001")
    assert ETH_USD.price_to_atoms(Decimal("3456.78")) == 3_456_780
    assert ETH_USD.qty_to_atoms(Decimal("1.234")) == 1_234_000_000


def test_off_tick_and_off_lot_name_the_rule() -> None:
    with pytest.raises(UnitError, match=r"^price 65000\.005 is not a multiple of the tick "
                                        r"0\.01 USD on BTC-USD$"):
        BTC_USD.price_to_atoms(Decimal("65000.005"))
    with pytest.raises(UnitError, match=r"^qty 0\.00015 is not a multiple of the lot "
                                        r"0\.0001 BTC on BTC-USD$"):
        BTC_USD.qty_to_atoms(Decimal("0.00015"))
    with pytest.raises(UnitError, match="tick 0.01 USD on ETH-USD"):
        ETH_USD.price_to_atoms(Decimal("3456.785"))


def test_floats_are_refused() -> None:
    with pytest.raises(TypeError, match="float"):
        BTC_USD.price_to_atoms(65000.0)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="float"):
        BTC_USD.qty_to_atoms(0.25)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        BTC_USD.qty_to_atoms(True)


def test_refused_before_signing(client: Client) -> None:
    key = Key.generate()
    with pytest.raises(UnitError, match="tick 0.01 USD on BTC-USD"):
        client.place(key, "BTC-USD", "buy", Decimal("65000.005"), Decimal("0.01"))
    with pytest.raises(UnitError, match="lot 0.0001 BTC on BTC-USD"):
        client.place(key, "btc-usd", "buy", Decimal("65000"), Decimal("0.00001"))
    with pytest.raises(TypeError):
        client.place(key, 0, "buy", 65000.0, Decimal("0.01"))  # type: ignore[arg-type]
    assert key.nonces._last == 0  # no nonce was taken: nothing was signed


def test_receipts_and_blocks_read_their_finality_when_validators_send_one() -> None:
    from clobchain import Block, Finality, TxStatus

    receipt = {"hash": "ab" * 32, "status": "committed", "height": 5, "index": 0,
               "actions": [{"result": "done"}], "events": []}
    assert TxStatus.from_json(receipt).finality is None  # a single-producer chain
    final = TxStatus.from_json({**receipt, "finality": {"view": 9, "height": 6}})
    assert final.finality == Finality(view=9, height=6)
    block = {"height": 6, "hash": "aa" * 32, "parent_hash": "bb" * 32, "timestamp_ms": 1,
             "transaction_count": 0, "transactions_root": "cc" * 32,
             "events_root": "dd" * 32, "state_root": "ee" * 32}
    assert Block.from_json(block).finality is None
    assert Block.from_json({**block, "finality": {"view": 9, "height": 6}}).finality.view == 9
