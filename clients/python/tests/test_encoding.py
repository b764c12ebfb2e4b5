"""Encoding, signing, hashing and order ids, against docs/API.md's worked example."""

from __future__ import annotations

import threading

import pytest

from clobchain import (
    Amend,
    Batch,
    Cancel,
    CancelAll,
    Key,
    Place,
    Transaction,
    encode_batch_frame,
    order_id,
)

DEV0_SECRET = "6c2674288095013eb3103cff5d32e23ab15cc988bba70ec8dac8d99b4461ced6"
DEV0 = "ff255bd53861d7a19244b6f34117cd7ff97b666a3afcf3af0b6e63b784da5640"
# docs/API.md, "Worked example": the signed bytes, the hash and the order id.
DOC_TX = (
    "3905000000000000ff255bd53861d7a19244b6f34117cd7ff97b666a3afcf3af0b6e63b784da5640"
    "0100000000000000000000000000000000a02e6300000000001027000000000000000000"
    "8fdd483e9063e7a35680a9bd70a61ef3126ef10ebf8e8f4fbb51419e8fdddaf97e3f74a1d810fa25"
    "cbdb97cc67892363ebaa6b875baa77eafa465edc78042e02"
)
DOC_HASH = "5452edece0203ae0f958e3a1be621dc3008e52fbd08edb71bc74139830f82658"
DOC_ORDER_ID = 8476941294980076824
DOC_SIGNATURE = DOC_TX[-128:]


def doc_example() -> tuple[Key, Transaction]:
    key = Key.from_hex(DEV0_SECRET)
    return key, Transaction(1337, key.public_bytes, 1, Place(0, "buy", 6_500_000, 10_000))


def test_the_worked_example_byte_for_byte() -> None:
    key, tx = doc_example()
    assert key.account == DEV0
    signed = tx.sign(key)
    assert len(signed.to_bytes()) == 140
    assert signed.hex == DOC_TX
    assert signed.signature.hex() == DOC_SIGNATURE
    assert signed.hash == DOC_HASH
    assert signed.order_ids == [DOC_ORDER_ID]
    assert order_id(key.public_bytes, 1, 0) == DOC_ORDER_ID


def test_the_worked_example_as_json() -> None:
    key, tx = doc_example()
    assert tx.sign(key).to_json() == {
        "chain_id": 1337, "signer": DEV0, "nonce": 1,
        "action": {"type": "place", "market": 0, "side": "buy", "price": 6500000,
                   "qty": 10000, "time_in_force": "gtc", "post_only": False,
                   "self_trade": "cancel_resting"},
        "signature": DOC_SIGNATURE,
    }


def test_the_field_layout_of_every_order_action() -> None:
    signer = bytes(range(32))
    head = (7).to_bytes(8, "little") + signer + (5).to_bytes(8, "little")
    gtb = Place(1, "sell", 10, 20, ("gtb", 99), True, "cancel_both", 42)
    assert Transaction(7, signer, 5, gtb, expiry_height=300).encode() == (
        head + b"\x01" + (300).to_bytes(8, "little") + b"\x00\x00" + (1).to_bytes(4, "little")
        + b"\x01" + (42).to_bytes(8, "little") + b"\x01" + (10).to_bytes(8, "little")
        + (20).to_bytes(8, "little") + b"\x01" + (99).to_bytes(8, "little") + b"\x01\x02"
    )
    assert Transaction(7, signer, 5, Cancel(2, client_order_id=9)).encode() == (
        head + b"\x00\x00\x01" + (2).to_bytes(4, "little") + b"\x01" + (9).to_bytes(8, "little")
    )
    assert Transaction(7, signer, 5, CancelAll(3)).encode() == (
        head + b"\x00\x00\x02" + (3).to_bytes(4, "little")
    )
    assert Transaction(7, signer, 5, Amend(0, 11, 12, 13)).encode() == (
        head + b"\x00\x00\x03" + (0).to_bytes(4, "little")
        + b"".join(n.to_bytes(8, "little") for n in (11, 12, 13))
    )
    batch = Transaction(7, signer, 5, Batch((CancelAll(0), Place(0, "buy", 1, 1),
                                             Place(0, "buy", 1, 1))))
    # No expiry, Action::Batch, 3 actions, then the first: Order::CancelAll (no Order tag).
    assert batch.encode()[48:55] == b"\x00\x01" + (3).to_bytes(4, "little") + b"\x02"
    # Order ids count every action of the batch, placing or not.
    assert batch.placed_order_ids() == [order_id(signer, 5, 1), order_id(signer, 5, 2)]


def test_bad_values_are_refused() -> None:
    signer = bytes(32)
    with pytest.raises(ValueError):
        Transaction(1, signer, 2**64, CancelAll(0)).encode()
    with pytest.raises(TypeError):
        Transaction(1, signer, 1, Place(0, "buy", 1.0, 1)).encode()  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        Cancel(0)
    with pytest.raises(ValueError):
        Transaction(1, signer, 1, Batch(()))


def test_binary_batch_frame() -> None:
    key, tx = doc_example()
    signed = tx.sign(key)
    frame = encode_batch_frame([signed, signed])
    assert frame[:4] == (2).to_bytes(4, "little")
    assert frame[4:8] == (140).to_bytes(4, "little")
    assert frame[8:148] == signed.to_bytes() and len(frame) == 4 + 2 * 144


def test_keys_round_trip() -> None:
    key = Key.generate()
    again = Key.from_hex(key.secret_hex)
    assert again.account == key.account and len(key.account) == 64
    with pytest.raises(ValueError):
        Key.from_hex("00" * 31)


def test_nonces_from_many_threads_are_distinct_and_increasing() -> None:
    key = Key.generate()
    got: list[list[int]] = [[] for _ in range(8)]

    def take(i: int) -> None:
        got[i].extend(key.nonces.next() for _ in range(2000))

    threads = [threading.Thread(target=take, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    flat = [n for g in got for n in g]
    assert len(set(flat)) == len(flat) == 16000
    assert all(g == sorted(g) for g in got)
    key.nonces.observe(max(flat) + 10**9)
    assert key.nonces.next() == max(flat) + 10**9 + 1
