"""Ed25519 keys (an account is its public key) and the nonce allocator each key carries."""

from __future__ import annotations

import threading
import time

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

__all__ = ["Key", "NonceAllocator", "NONCE_WINDOW"]

#: How many of this client's nonces may be in flight at once. The chain remembers a floor
#: and 128 ranges of used nonces; the allocator's clock-based nonces are sparse (each a
#: range of its own), so the chain keeps their 128 highest: half of that, for margin.
NONCE_WINDOW = 64


class NonceAllocator:
    """Hands out nonces for one account: unique and increasing, safe across threads.

    The chain accepts any nonce the account has not used, as long as it is at or above
    the account's floor (docs/API.md, "Nonces and the replay window"): for sparse nonces
    like these, the lowest of the 128 highest used. So nonces need not be consecutive,
    only distinct and increasing overall.
    The allocator returns ``max(time in microseconds, last + 1)`` under a lock: two
    concurrent callers (threads or asyncio tasks, which run in threads or one loop) never
    get the same nonce, and a key shared by several processes stays unique as long as
    their clocks are not wildly behind (call :meth:`observe` with the account's
    ``last_nonce`` to catch up).

    The window also bounds concurrency: a sparse nonce that arrives after 128 higher ones
    of the same account executed is refused (``NONCE_TOO_OLD``, at the door, or dropped
    if it was pending then). :meth:`acquire` therefore hands out a nonce only
    while fewer than 64 nonces were handed out since the oldest one still in flight, and
    :meth:`release` ends a nonce's flight (the clients do both around each submission).
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._last = 0
        self._count = 0
        self._in_flight: dict[int, int] = {}

    def _allocate(self) -> int:
        now = time.time_ns() // 1_000
        self._last = max(now, self._last + 1)
        self._count += 1
        return self._last

    def next(self) -> int:
        """A nonce never returned before by this allocator, above every one it returned
        (not tracked in flight: for transactions signed now and sent who knows when)."""
        with self._lock:
            return self._allocate()

    def acquire(self) -> int | None:
        """Like :meth:`next`, tracked in flight until :meth:`release`; ``None`` (try again
        shortly) while it would be 64 or more past the oldest nonce in flight."""
        with self._lock:
            if self._in_flight and self._count + 1 - min(self._in_flight.values()) >= NONCE_WINDOW:
                return None
            nonce = self._allocate()
            self._in_flight[nonce] = self._count
            return nonce

    def release(self, nonce: int) -> None:
        """The transaction with ``nonce`` was answered (admitted before every later one,
        or refused): it no longer holds the window back."""
        with self._lock:
            self._in_flight.pop(nonce, None)

    def observe(self, used: int | None) -> None:
        """Records that ``used`` is taken (e.g. the account's ``last_nonce``)."""
        if used is None:
            return
        with self._lock:
            self._last = max(self._last, used)


class Key:
    """An ed25519 signing key. ``key.account`` is the account: the public key in hex."""

    def __init__(self, private_key: Ed25519PrivateKey) -> None:
        self._private = private_key
        self.public_bytes: bytes = private_key.public_key().public_bytes_raw()
        self.nonces = NonceAllocator()

    @classmethod
    def generate(cls) -> Key:
        """A new random key."""
        return cls(Ed25519PrivateKey.generate())

    @classmethod
    def from_hex(cls, secret_hex: str) -> Key:
        """The key whose 32-byte secret (seed) is ``secret_hex`` (optional ``0x``)."""
        raw = bytes.fromhex(secret_hex.removeprefix("0x").removeprefix("0X"))
        if len(raw) != 32:
            raise ValueError(f"an ed25519 secret key is 32 bytes, got {len(raw)}")
        return cls(Ed25519PrivateKey.from_private_bytes(raw))

    @property
    def secret_hex(self) -> str:
        """The 32-byte secret (seed) in hex. Keep it secret."""
        return self._private.private_bytes_raw().hex()

    @property
    def account(self) -> str:
        """The account: the public key as 64 lowercase hex characters."""
        return self.public_bytes.hex()

    def sign(self, message: bytes) -> bytes:
        """The 64-byte ed25519 signature of ``message``."""
        return self._private.sign(message)

    def __repr__(self) -> str:
        return f"Key(account={self.account!r})"
