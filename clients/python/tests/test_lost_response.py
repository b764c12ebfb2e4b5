"""A transaction whose answer is lost: its state is found from what the client signed, and
resending it never executes it twice."""

from __future__ import annotations

import json
import socket
import time
from decimal import Decimal

from conftest import Node

from clobchain import Client, Key, Place


def send_and_hang_up(port: int, tx_hex: str) -> None:
    """POSTs the transaction with ?wait=true and closes the socket without reading."""
    body = json.dumps({"tx": tx_hex}).encode()
    head = (f"POST /v1/transactions?wait=true HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n")
    with socket.create_connection(("127.0.0.1", port)) as s:
        s.sendall(head.encode() + body)
        time.sleep(0.005)


def test_recover_after_a_lost_answer_and_resend_safely(node: Node, client: Client,
                                                        funded: Key) -> None:
    rules = client.market("BTC-USD")
    # A resting post-only buy far below any ask.
    place = Place(rules.id, "buy", rules.price_to_atoms(Decimal("1000.00")),
                  rules.qty_to_atoms(Decimal("0.01")), post_only=True)
    signed = client.sign(funded, place)
    order_id = signed.order_ids[0]

    # The request goes out; the connection drops before the answer is read.
    send_and_hang_up(node.port, signed.hex)

    # From the signed transaction alone: its hash and its order id.
    state = client.order_state(signed)
    for _ in range(100):
        if state.tx is not None and state.tx.status == "committed":
            break
        state = client.order_state(signed)
    assert state.tx is not None and state.tx.status == "committed"
    assert [a.order_id for a in state.tx.actions] == [order_id]
    order = state.orders[order_id]
    assert order is not None and order.status == "open" and order.qty_remaining == place.qty

    # Resending the same bytes (any body form) is a duplicate, not a second order.
    for body in ("hex", "binary", "json"):
        again = client.submit(signed, wait=True, body=body)
        assert again.duplicate and again.status == "committed" and again.hash == signed.hash
        assert again.order_ids == [order_id]
    open_orders = client.open_orders(funded.account)
    assert [o.order_id for o in open_orders] == [order_id]
    assert client.account(funded.account).last_nonce == signed.transaction.nonce


def test_unknown_transaction_state(client: Client, funded: Key) -> None:
    signed = client.sign(funded, Place(0, "buy", 100_000, 10_000))  # never sent
    state = client.order_state(signed)
    assert not state.known and state.orders == {signed.order_ids[0]: None}
