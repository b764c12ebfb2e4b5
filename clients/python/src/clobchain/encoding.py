"""Transactions: their borsh encoding, signing, hash and the order ids they will place.

The layout is ARCHITECTURE.md's "Transaction format" (docs/API.md, "Transactions and
signing"): little-endian integers, ``Option`` as a 0/1 byte then the value, enums as a
one-byte tag in declaration order, ``Vec`` as a u32 count then the items. All amounts
here are the chain's integers (atoms, atoms per lot); :mod:`clobchain.units` converts.
"""

from __future__ import annotations

import hashlib
import struct
from dataclasses import dataclass
from typing import Any, Literal, Union

from .keys import Key

__all__ = [
    "SIGNING_DOMAIN",
    "ORDER_ID_DOMAIN",
    "BATCH_ACTIONS_MAX",
    "Side",
    "TimeInForce",
    "SelfTrade",
    "Place",
    "Cancel",
    "CancelAll",
    "Amend",
    "OrderAction",
    "Batch",
    "Transfer",
    "Faucet",
    "Action",
    "Transaction",
    "SignedTransaction",
    "order_id",
    "encode_batch_frame",
]

SIGNING_DOMAIN = b"clobchain/tx/v1"
ORDER_ID_DOMAIN = b"clobchain/order-id/v1"
BATCH_ACTIONS_MAX = 32
U64_MAX = 2**64 - 1
U32_MAX = 2**32 - 1

Side = Literal["buy", "sell"]
SelfTrade = Literal["cancel_resting", "cancel_incoming", "cancel_both"]
#: ``"gtc"``, ``"ioc"``, ``"fok"``, or ``("gtb", last_height)``.
TimeInForce = Union[Literal["gtc", "ioc", "fok"], tuple[Literal["gtb"], int]]

_SIDES: dict[str, int] = {"buy": 0, "sell": 1}
_SELF_TRADE: dict[str, int] = {"cancel_resting": 0, "cancel_incoming": 1, "cancel_both": 2}
_TIF_TAGS: dict[str, int] = {"gtc": 0, "ioc": 2, "fok": 3}


def _int(value: int, bits: int, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be an int, got {type(value).__name__}")
    if not 0 <= value < 2**bits:
        raise ValueError(f"{name} = {value} is outside u{bits}")
    return value


def _u8(value: int, name: str) -> bytes:
    return struct.pack("<B", _int(value, 8, name))


def _u32(value: int, name: str) -> bytes:
    return struct.pack("<I", _int(value, 32, name))


def _u64(value: int, name: str) -> bytes:
    return struct.pack("<Q", _int(value, 64, name))


def _opt_u64(value: int | None, name: str) -> bytes:
    return b"\x00" if value is None else b"\x01" + _u64(value, name)


def _tif(tif: TimeInForce) -> tuple[bytes, Any]:
    """The borsh bytes and the JSON form of a time in force."""
    if isinstance(tif, tuple):
        kind, height = tif
        if kind != "gtb":
            raise ValueError(f"unknown time in force {tif!r}")
        return b"\x01" + _u64(height, "gtb height"), {"gtb": height}
    if tif not in _TIF_TAGS:
        raise ValueError(f"unknown time in force {tif!r}: gtc, ioc, fok or ('gtb', height)")
    return bytes([_TIF_TAGS[tif]]), tif


@dataclass(frozen=True)
class Place:
    """A limit order. ``price``: quote atoms per lot; ``qty``: base atoms."""

    market: int
    side: Side
    price: int
    qty: int
    time_in_force: TimeInForce = "gtc"
    post_only: bool = False
    self_trade: SelfTrade = "cancel_resting"
    client_order_id: int | None = None

    def encode(self) -> bytes:
        if self.side not in _SIDES:
            raise ValueError(f"side must be 'buy' or 'sell', got {self.side!r}")
        if self.self_trade not in _SELF_TRADE:
            raise ValueError(f"unknown self_trade {self.self_trade!r}")
        return (
            b"\x00"
            + _u32(self.market, "market")
            + _opt_u64(self.client_order_id, "client_order_id")
            + bytes([_SIDES[self.side]])
            + _u64(self.price, "price")
            + _u64(self.qty, "qty")
            + _tif(self.time_in_force)[0]
            + (b"\x01" if self.post_only else b"\x00")
            + bytes([_SELF_TRADE[self.self_trade]])
        )

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "type": "place",
            "market": self.market,
            "side": self.side,
            "price": self.price,
            "qty": self.qty,
            "time_in_force": _tif(self.time_in_force)[1],
            "post_only": self.post_only,
            "self_trade": self.self_trade,
        }
        if self.client_order_id is not None:
            out["client_order_id"] = str(self.client_order_id)
        return out


@dataclass(frozen=True)
class Cancel:
    """Cancels one order, by ``order_id`` or by ``client_order_id`` (exactly one)."""

    market: int
    order_id: int | None = None
    client_order_id: int | None = None

    def __post_init__(self) -> None:
        if (self.order_id is None) == (self.client_order_id is None):
            raise ValueError("a cancel names exactly one of order_id and client_order_id")

    def encode(self) -> bytes:
        if self.order_id is not None:
            ref = b"\x00" + _u64(self.order_id, "order_id")
        else:
            ref = b"\x01" + _u64(self.client_order_id or 0, "client_order_id")
        return b"\x01" + _u32(self.market, "market") + ref

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"type": "cancel", "market": self.market}
        if self.order_id is not None:
            out["order_id"] = str(self.order_id)
        else:
            out["client_order_id"] = str(self.client_order_id)
        return out


@dataclass(frozen=True)
class CancelAll:
    """Cancels all the signer's orders in ``market``."""

    market: int

    def encode(self) -> bytes:
        return b"\x02" + _u32(self.market, "market")

    def to_json(self) -> dict[str, Any]:
        return {"type": "cancel_all", "market": self.market}


@dataclass(frozen=True)
class Amend:
    """New ``price`` (quote atoms per lot) and new remaining ``qty`` (base atoms)."""

    market: int
    order_id: int
    price: int
    qty: int

    def encode(self) -> bytes:
        return (
            b"\x03"
            + _u32(self.market, "market")
            + _u64(self.order_id, "order_id")
            + _u64(self.price, "price")
            + _u64(self.qty, "qty")
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "type": "amend",
            "market": self.market,
            "order_id": str(self.order_id),
            "price": self.price,
            "qty": self.qty,
        }


OrderAction = Union[Place, Cancel, CancelAll, Amend]


@dataclass(frozen=True)
class Batch:
    """1 to 32 order actions under one signature; each succeeds or fails on its own."""

    actions: tuple[OrderAction, ...]

    def encode(self) -> bytes:
        body = b"".join(a.encode() for a in self.actions)
        return b"\x01" + _u32(len(self.actions), "batch length") + body

    def to_json(self) -> dict[str, Any]:
        return {"type": "batch", "actions": [a.to_json() for a in self.actions]}


@dataclass(frozen=True)
class Transfer:
    """Sends ``amount`` atoms of ``asset`` to the account ``to`` (64 hex)."""

    to: str
    asset: int
    amount: int

    def encode(self) -> bytes:
        to = bytes.fromhex(self.to.removeprefix("0x"))
        if len(to) != 32:
            raise ValueError("transfer recipient must be a 32-byte key")
        return b"\x02" + to + _u32(self.asset, "asset") + _u64(self.amount, "amount")

    def to_json(self) -> dict[str, Any]:
        return {"type": "transfer", "to": self.to, "asset": self.asset, "amount": self.amount}


@dataclass(frozen=True)
class Faucet:
    """Dev chains: mints ``amount`` atoms of ``asset`` to the signer (an existing account)."""

    asset: int
    amount: int

    def encode(self) -> bytes:
        return b"\x03" + _u32(self.asset, "asset") + _u64(self.amount, "amount")

    def to_json(self) -> dict[str, Any]:
        return {"type": "faucet", "asset": self.asset, "amount": self.amount}


Action = Union[Place, Cancel, CancelAll, Amend, Batch, Transfer, Faucet]


def _encode_action(action: Action) -> bytes:
    if isinstance(action, (Place, Cancel, CancelAll, Amend)):
        return b"\x00" + action.encode()  # Action::Order
    return action.encode()  # Batch, Transfer and Faucet carry their own tag


def order_id(signer: bytes, nonce: int, index: int = 0) -> int:
    """The id of the order placed by action ``index`` of the signer's transaction ``nonce``."""
    digest = hashlib.sha256(
        ORDER_ID_DOMAIN + signer + _u64(nonce, "nonce") + _u32(index, "index")
    ).digest()
    return int.from_bytes(digest[:8], "little")


@dataclass(frozen=True)
class Transaction:
    """The signed fields of a transaction."""

    chain_id: int
    signer: bytes
    nonce: int
    action: Action
    expiry_height: int | None = None

    def __post_init__(self) -> None:
        if len(self.signer) != 32:
            raise ValueError("signer must be a 32-byte public key")
        batch = self.action.actions if isinstance(self.action, Batch) else (None,)
        if not 1 <= len(batch) <= BATCH_ACTIONS_MAX:
            raise ValueError(f"a batch holds 1 to {BATCH_ACTIONS_MAX} actions")

    def encode(self) -> bytes:
        """borsh(Transaction)."""
        return (
            _u64(self.chain_id, "chain_id")
            + self.signer
            + _u64(self.nonce, "nonce")
            + _opt_u64(self.expiry_height, "expiry_height")
            + _encode_action(self.action)
        )

    def order_actions(self) -> tuple[OrderAction, ...]:
        if isinstance(self.action, Batch):
            return self.action.actions
        if isinstance(self.action, (Place, Cancel, CancelAll, Amend)):
            return (self.action,)
        return ()

    def placed_order_ids(self) -> list[int]:
        """The ids of the orders this transaction places, in action order."""
        return [
            order_id(self.signer, self.nonce, i)
            for i, a in enumerate(self.order_actions())
            if isinstance(a, Place)
        ]

    def sign(self, key: Key) -> SignedTransaction:
        """Signs with ``key``, whose public key must be the signer."""
        if key.public_bytes != self.signer:
            raise ValueError("the key is not the transaction's signer")
        return SignedTransaction(self, key.sign(SIGNING_DOMAIN + self.encode()))


@dataclass(frozen=True)
class SignedTransaction:
    """A transaction and its signature: what the node executes, exactly once."""

    transaction: Transaction
    signature: bytes

    def to_bytes(self) -> bytes:
        """borsh(SignedTransaction): the transaction's bytes then the 64-byte signature."""
        return self.transaction.encode() + self.signature

    @property
    def hex(self) -> str:
        """The signed bytes in hex (the ``tx`` field of ``POST /v1/transactions``)."""
        return self.to_bytes().hex()

    @property
    def hash(self) -> str:
        """sha256 of the signed bytes, in hex: the node's transaction hash."""
        return hashlib.sha256(self.to_bytes()).hexdigest()

    @property
    def order_ids(self) -> list[int]:
        """The ids the node will give the orders this transaction places."""
        return self.transaction.placed_order_ids()

    def to_json(self) -> dict[str, Any]:
        """The ``TransactionJson`` form (the node rebuilds the identical bytes)."""
        tx = self.transaction
        out: dict[str, Any] = {
            "chain_id": tx.chain_id,
            "signer": tx.signer.hex(),
            "nonce": tx.nonce,
            "action": tx.action.to_json(),
            "signature": self.signature.hex(),
        }
        if tx.expiry_height is not None:
            out["expiry_height"] = tx.expiry_height
        return out


def encode_batch_frame(transactions: list[SignedTransaction]) -> bytes:
    """The binary body of ``POST /v1/transactions/batch``: borsh(Vec<Vec<u8>>)."""
    parts = [_u32(len(transactions), "count")]
    for signed in transactions:
        raw = signed.to_bytes()
        parts.append(_u32(len(raw), "length") + raw)
    return b"".join(parts)
