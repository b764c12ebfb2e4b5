"""The ``dropped`` status without a node: parsed wherever a status is, final, and surfaced
by the convenience methods and ``order_state``."""

from __future__ import annotations

from typing import Any

import pytest

from clobchain import (
    FINAL_STATUSES,
    ApiError,
    Batch,
    CancelAll,
    ErrorCode,
    Key,
    OrderState,
    OrderUpdate,
    Place,
    SubmitResponse,
    Transaction,
    TransactionDropped,
    TransactionRejected,
    TxStatus,
)
from clobchain.rest import Core, Op, Reply, Request
from clobchain.ws import OrdersMessage, Stream, _parse, _Sub

HASH = "5c03" + "00" * 30
REASON = ("the signer's nonce window forgot the nonces below this one (more gaps above it "
          "than the window keeps)")
DROPPED = {"hash": HASH, "status": "dropped", "height": 4215, "code": "NONCE_TOO_OLD",
           "rule": "below_nonce_floor", "reason": REASON, "events": []}
ORDER = {"order_id": "1", "market": 0, "account": "ff", "side": "buy", "price": 100,
         "qty_remaining": 10000, "status": "open", "height": 7}


def run(op: Op[Any], answer: Any) -> Any:
    """Drives ``op``, answering each request with ``answer(request)`` (a Reply)."""
    try:
        request = next(op)
        while True:
            request = op.send(answer(request))
    except StopIteration as stop:
        return stop.value


def not_found() -> Reply:
    return Reply(404, {"code": "NOT_FOUND", "message": "no such thing"})


def test_a_dropped_status_parses_with_its_rule_and_reason() -> None:
    tx = TxStatus.from_json(DROPPED)
    assert tx.status == "dropped" and tx.dropped and tx.final
    assert (tx.height, tx.code, tx.rule, tx.reason) == (4215, "NONCE_TOO_OLD",
                                                        "below_nonce_floor", REASON)
    assert tx.actions == [] and tx.events == [] and tx.index is None
    assert "dropped" in FINAL_STATUSES and "pending" not in FINAL_STATUSES
    # The other statuses have no rule or reason.
    committed = TxStatus.from_json({"hash": HASH, "status": "committed", "height": 3,
                                    "index": 0, "actions": [{"result": "done"}]})
    assert committed.final and not committed.dropped and committed.rule is None
    pending = TxStatus.from_json({"hash": HASH, "status": "pending"})
    assert not pending.final and not pending.dropped and pending.reason is None


def test_a_dropped_submit_answer_is_final_with_its_receipt() -> None:
    r = SubmitResponse.from_json({"hash": HASH, "order_ids": ["7"], "status": "dropped",
                                  "duplicate": False, "receipt": DROPPED})
    assert r.status == "dropped" and r.dropped and r.final
    assert r.receipt is not None and r.receipt.dropped and r.receipt.rule == "below_nonce_floor"
    assert r.order_ids == [7]
    pending = SubmitResponse.from_json({"hash": HASH, "status": "pending"})
    assert not pending.final and not pending.dropped and pending.receipt is None


@pytest.mark.parametrize("event", [
    {"dropped": "NONCE_ALREADY_USED", "rule": "nonce_used_by_another"},
    {"dropped": "NONCE_TOO_OLD", "rule": "below_nonce_floor"},
    {"dropped": "TRANSACTION_EXPIRED", "rule": "expired"},
])
def test_a_dropped_orders_update_parses(event: dict[str, str]) -> None:
    u = OrderUpdate.from_json({"tx": HASH, "event": event})
    assert (u.tx, u.action, u.event, u.refused) == (HASH, None, None, None)
    assert (u.dropped, u.rule) == (event["dropped"], event["rule"])


def test_the_orders_channel_keeps_drops_beside_refusals_and_book_events() -> None:
    msg = {"type": "orders", "account": "ff", "height": 4212, "data": [
        {"tx": "9a0c", "action": 0, "event": {"type": "rested", "market": 0, "order_id": "5"}},
        {"tx": "77e1", "event": {"refused": "INSUFFICIENT_FUNDS"}},
        {"tx": HASH, "event": {"dropped": "NONCE_ALREADY_USED", "rule": "nonce_used_by_another"}},
        {"event": {"type": "expired", "market": 0, "order_id": "6"}},
    ]}
    parsed = _parse("orders", msg)
    assert isinstance(parsed, OrdersMessage)
    rested, refused, dropped, expired = parsed.updates
    assert rested.event is not None and rested.event.type == "rested" and rested.dropped is None
    assert refused.refused == "INSUFFICIENT_FUNDS" and refused.event is None
    assert refused.dropped is None and refused.rule is None
    assert dropped.dropped == "NONCE_ALREADY_USED" and dropped.rule == "nonce_used_by_another"
    assert dropped.event is None and dropped.refused is None and dropped.tx == HASH
    assert expired.event is not None and expired.event.order_id == 6 and expired.tx is None

    # And a live stream delivers it as such.
    stream = Stream("ws://unused")
    sub = _Sub("orders", account="ff")
    stream.connections = 1
    stream._subs[id(sub)] = sub
    stream._acks.append(sub)
    sub.sent_on = 1
    stream._handle({"type": "subscribed", "channel": "orders", "account": "ff", "height": 4211})
    stream._handle(msg)
    got = stream._queue.get_nowait()
    assert isinstance(got, OrdersMessage) and got.updates[2].dropped == "NONCE_ALREADY_USED"


def order_state(key: Key, tx: dict[str, Any] | None,
                orders: dict[str, dict[str, Any]] | None = None) -> tuple[OrderState, list[int]]:
    """``Core.order_state`` of a two-place batch, the node answering ``tx`` and ``orders``."""
    signed = Transaction(0, key.public_bytes, 1, Batch((
        Place(0, "buy", 100, 10_000), Place(0, "sell", 200, 10_000)))).sign(key)
    oids = signed.order_ids

    def answer(request: Request) -> Reply:
        if request.path == f"/v1/transactions/{signed.hash}":
            return not_found() if tx is None else Reply(200, {**tx, "hash": signed.hash})
        found = (orders or {}).get(request.path.rsplit("/", 1)[1])
        return not_found() if found is None else Reply(200, found)

    return run(Core("http://unused").order_state(signed), answer), oids


def test_order_state_names_a_dropped_transaction_and_its_orders() -> None:
    key = Key.generate()
    state, oids = order_state(key, {**DROPPED, "code": "NONCE_ALREADY_USED",
                                    "rule": "nonce_used_by_another"})
    assert state.known and state.dropped and state.status == "dropped"
    assert (state.code, state.rule) == ("NONCE_ALREADY_USED", "nonce_used_by_another")
    assert state.orders == {oids[0]: None, oids[1]: None}
    assert [state.order_status(o) for o in oids] == ["dropped", "dropped"]


def test_order_state_for_the_other_statuses() -> None:
    key = Key.generate()
    state, oids = order_state(key, None)
    assert not state.known and not state.dropped and state.status == "unknown"
    assert state.order_status(oids[0]) == "unknown" and state.code is None

    state, oids = order_state(key, {"status": "pending"})
    assert state.status == "pending" and not state.dropped
    assert state.order_status(oids[0]) == "pending"

    state, oids = order_state(key, {"status": "rejected", "height": 9, "code": "BAD_SIGNATURE"})
    assert state.status == "rejected" and state.code == "BAD_SIGNATURE" and not state.dropped
    assert state.order_status(oids[1]) == "rejected"

    # Committed: the first place rested (its order is found), the second was refused.
    first = {**ORDER, "order_id": str(oids[0])}
    state, oids = order_state(key, {"status": "committed", "height": 9, "index": 0, "actions": [
        {"result": "placed", "order_id": str(oids[0])},
        {"result": "rejected", "code": "INSUFFICIENT_FUNDS"}]}, {str(oids[0]): first})
    assert state.status == "committed" and not state.dropped and state.rule is None
    assert [state.order_status(o) for o in oids] == ["open", "rejected"]


def execute(answer: dict[str, Any]) -> Any:
    """``Core.execute`` of a cancel-all, the node answering its submission with ``answer``."""
    core = Core("http://unused")
    core._chain_id = 0
    key = Key.generate()

    def reply(request: Request) -> Reply:
        assert request.method == "POST" and request.path == "/v1/transactions"
        return Reply(200, {"hash": HASH, **answer})

    return run(core.execute(key, CancelAll(0), True, None, None), reply)


def test_the_convenience_methods_raise_for_a_dropped_transaction() -> None:
    with pytest.raises(TransactionDropped) as info:
        execute({"status": "dropped", "receipt": DROPPED})
    e = info.value
    assert isinstance(e, ApiError) and not isinstance(e, TransactionRejected)
    assert e.code == ErrorCode.NONCE_TOO_OLD and e.status is None
    assert (e.rule, e.height, e.reason) == ("below_nonce_floor", 4215, REASON)
    assert len(e.hash) == 64 and "after block 4215" in str(e) and REASON in str(e)
    # Rejected stays rejected; committed and pending come back as Submitted.
    with pytest.raises(TransactionRejected):
        execute({"status": "rejected",
                 "receipt": {"hash": HASH, "status": "rejected", "code": "WRONG_CHAIN"}})
    done = execute({"status": "committed", "receipt": {
        "hash": HASH, "status": "committed", "height": 3, "actions": [{"result": "done"}]}})
    assert done.status == "committed" and done.final and not done.dropped
    pending = execute({"status": "pending"})
    assert not pending.final and not pending.dropped and pending.receipt is None
