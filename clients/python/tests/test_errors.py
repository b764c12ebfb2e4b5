"""Refusals come back as ApiError with the API's code and HTTP status."""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal

import pytest

from clobchain import (
    ApiError,
    CancelAll,
    Client,
    ErrorCode,
    Key,
    Place,
    SignedTransaction,
    TransactionRejected,
)


def refusal(call: object) -> ApiError:
    assert callable(call)
    with pytest.raises(ApiError) as info:
        call()
    return info.value


def test_bad_signature(client: Client, funded: Key) -> None:
    signed = client.sign(funded, CancelAll(0))
    forged = SignedTransaction(signed.transaction, bytes(64))
    err = refusal(lambda: client.submit(forged))
    assert (err.code, err.status) == ("BAD_SIGNATURE", 401)
    assert err.code is ErrorCode.BAD_SIGNATURE


def test_replayed_nonce(client: Client, funded: Key) -> None:
    first = client.sign(funded, CancelAll(0))
    assert client.submit(first, wait=True).status == "committed"
    # Another transaction with the same nonce: refused at the door.
    replay = replace(first.transaction, action=CancelAll(1)).sign(funded)
    err = refusal(lambda: client.submit(replay, wait=True))
    assert (err.code, err.status) == ("NONCE_ALREADY_USED", 409)


def test_unknown_market_and_asset(client: Client, funded: Key) -> None:
    signed = client.sign(funded, Place(99, "buy", 1, 1))
    err = refusal(lambda: client.submit(signed))
    assert (err.code, err.status) == ("UNKNOWN_MARKET", 422)
    err = refusal(lambda: client.place(funded, "NOPE-USD", "buy", Decimal(1), Decimal(1)))
    assert err.code == "UNKNOWN_MARKET"
    err = refusal(lambda: client.market("NOPE-USD"))
    assert (err.code, err.status) == ("NOT_FOUND", 404)


def test_insufficient_funds(client: Client) -> None:
    poor = client.demo_account({"USD": Decimal("10")})
    err = refusal(lambda: client.place(poor, "BTC-USD", "buy", Decimal("65000"), Decimal("1")))
    assert (err.code, err.status) == ("INSUFFICIENT_FUNDS", 422)
    assert "available" in err.message or err.message


def test_unknown_account_and_other_codes(client: Client) -> None:
    stranger = Key.generate()
    err = refusal(lambda: client.submit(client.sign(stranger, CancelAll(0))))
    assert (err.code, err.status) == ("UNKNOWN_ACCOUNT", 422)
    assert refusal(lambda: client.order(1)).code == "NOT_FOUND"
    assert refusal(lambda: client.transaction("00" * 32)).code == "NOT_FOUND"
    assert refusal(lambda: client.book("BTC-USD", depth=0)).status == 400
    assert refusal(lambda: client.account("xyz")).code == "BAD_ACCOUNT"
    assert refusal(lambda: client.faucet(stranger.account, "USD", 10**7)).code == "FAUCET_LIMIT"


def test_a_refusal_in_the_block_raises_with_its_code(client: Client, funded: Key) -> None:
    # Cancels pass the door; the receipt refuses an unknown order.
    with pytest.raises(TransactionRejected) as info:
        client.cancel(funded, "BTC-USD", order_id=12345)
    assert info.value.code == "UNKNOWN_ORDER" and len(info.value.hash) == 64
