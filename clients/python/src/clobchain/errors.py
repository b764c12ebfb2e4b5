"""Typed errors: every refusal carries the API's stable ``code`` (docs/API.md, "Errors")."""

from __future__ import annotations

from enum import StrEnum

__all__ = [
    "ErrorCode",
    "ClobchainError",
    "ApiError",
    "TransactionRejected",
    "TransactionDropped",
    "TransportError",
    "UnitError",
]


class ErrorCode(StrEnum):
    """Every ``code`` the API documents. A ``StrEnum``: ``ErrorCode.X == "X"``."""

    # The chain's rejects (their number is what blocks record).
    PRICE_OUT_OF_RANGE = "PRICE_OUT_OF_RANGE"
    QTY_BELOW_MINIMUM = "QTY_BELOW_MINIMUM"
    QTY_ABOVE_MAXIMUM = "QTY_ABOVE_MAXIMUM"
    POST_ONLY_NOT_RESTING = "POST_ONLY_NOT_RESTING"
    ALREADY_EXPIRED = "ALREADY_EXPIRED"
    PRICE_OFF_TICK = "PRICE_OFF_TICK"
    QTY_OFF_LOT = "QTY_OFF_LOT"
    MALFORMED = "MALFORMED"
    TOO_LARGE = "TOO_LARGE"
    EMPTY_BATCH = "EMPTY_BATCH"
    BATCH_TOO_LARGE = "BATCH_TOO_LARGE"
    UNKNOWN_MARKET = "UNKNOWN_MARKET"
    UNKNOWN_ASSET = "UNKNOWN_ASSET"
    ZERO_AMOUNT = "ZERO_AMOUNT"
    SELF_TRANSFER = "SELF_TRANSFER"
    INVALID_ACCOUNT_KEY = "INVALID_ACCOUNT_KEY"
    FAUCET_DISABLED = "FAUCET_DISABLED"
    FAUCET_LIMIT = "FAUCET_LIMIT"
    INSUFFICIENT_FUNDS = "INSUFFICIENT_FUNDS"
    SUPPLY_OVERFLOW = "SUPPLY_OVERFLOW"
    DUPLICATE_ORDER_ID = "DUPLICATE_ORDER_ID"
    DUPLICATE_CLIENT_ORDER_ID = "DUPLICATE_CLIENT_ORDER_ID"
    UNKNOWN_ORDER = "UNKNOWN_ORDER"
    NOT_ORDER_OWNER = "NOT_ORDER_OWNER"
    ACCOUNT_ORDER_LIMIT = "ACCOUNT_ORDER_LIMIT"
    BOOK_ORDER_LIMIT = "BOOK_ORDER_LIMIT"
    POST_ONLY_WOULD_TAKE = "POST_ONLY_WOULD_TAKE"
    BAD_SIGNATURE = "BAD_SIGNATURE"
    WRONG_CHAIN = "WRONG_CHAIN"
    NONCE_ALREADY_USED = "NONCE_ALREADY_USED"
    NONCE_TOO_OLD = "NONCE_TOO_OLD"
    TRANSACTION_EXPIRED = "TRANSACTION_EXPIRED"
    UNKNOWN_ACCOUNT = "UNKNOWN_ACCOUNT"
    # The API's own.
    NONCE_PENDING = "NONCE_PENDING"
    BAD_ACCOUNT = "BAD_ACCOUNT"
    BAD_BATCH = "BAD_BATCH"
    UNDECODABLE = "UNDECODABLE"
    WRONG_ACTION = "WRONG_ACTION"
    NOT_FOUND = "NOT_FOUND"
    METHOD_NOT_ALLOWED = "METHOD_NOT_ALLOWED"
    BODY_TOO_LARGE = "BODY_TOO_LARGE"
    UNSUPPORTED_MEDIA_TYPE = "UNSUPPORTED_MEDIA_TYPE"
    RATE_LIMITED = "RATE_LIMITED"
    INTERNAL = "INTERNAL"
    MEMPOOL_FULL = "MEMPOOL_FULL"
    SHUTTING_DOWN = "SHUTTING_DOWN"
    TOO_MANY_CLIENTS = "TOO_MANY_CLIENTS"
    UNKNOWN_CHANNEL = "UNKNOWN_CHANNEL"
    TOO_MANY_SUBSCRIPTIONS = "TOO_MANY_SUBSCRIPTIONS"
    REPLAY_TOO_LONG = "REPLAY_TOO_LONG"


class ClobchainError(Exception):
    """Base of every error this package raises on purpose."""


class ApiError(ClobchainError):
    """The node refused a request: ``code`` (stable; an :class:`ErrorCode` when known),
    ``status`` (HTTP status; ``None`` over the websocket or in a receipt), ``message``
    (for humans), ``retry_after`` (seconds, for 429/503)."""

    def __init__(
        self,
        code: str,
        message: str,
        status: int | None = None,
        retry_after: float | None = None,
    ) -> None:
        try:
            self.code: str = ErrorCode(code)
        except ValueError:
            self.code = code
        self.message = message
        self.status = status
        self.retry_after = retry_after
        where = f"HTTP {status} " if status is not None else ""
        super().__init__(f"{where}{code}: {message}")


class TransactionRejected(ApiError):
    """A transaction (or its single action) was executed in a block and refused there:
    its nonce is used; nothing else changed. ``hash`` names the transaction."""

    def __init__(self, code: str, hash: str, message: str = "refused in its block") -> None:
        super().__init__(code, message)
        self.hash = hash


class TransactionDropped(ApiError):
    """The node dropped a transaction from its mempool after block ``height``: it was in no
    block and never will be; nothing changed and its nonce is not used (a fresh transaction
    may use it). ``code`` is ``NONCE_ALREADY_USED``, ``NONCE_TOO_OLD`` or
    ``TRANSACTION_EXPIRED``; ``rule`` the rule that dropped it (``nonce_used_by_another``,
    ``below_nonce_floor``, ``expired``); ``reason`` that rule in words; ``hash`` names the
    transaction."""

    def __init__(self, code: str, hash: str, rule: str | None = None,
                 height: int | None = None, reason: str | None = None) -> None:
        where = f" after block {height}" if height is not None else ""
        message = f"dropped from the mempool{where}" + (f" ({rule})" if rule else "")
        if reason:
            message += f": {reason}"
        super().__init__(code, message)
        self.hash = hash
        self.rule = rule
        self.height = height
        self.reason = reason


class TransportError(ClobchainError):
    """The node could not be reached or the connection broke; the request's fate is
    unknown (a submitted transaction can be looked up by its hash; resending is safe)."""


class UnitError(ValueError):
    """A price or quantity that the market cannot represent (off its tick or lot, or too
    precise), refused before anything is signed."""
