"""clobchain: a Python client for the clobchain node's REST and websocket API.

>>> from decimal import Decimal
>>> from clobchain import Client
>>> client = Client()                      # $CLOBCHAIN_URL or http://127.0.0.1:8080
>>> key = client.demo_account()            # dev chains: a new key, funded by the faucet
>>> placed = client.place(key, "BTC-USD", "buy", Decimal("65000"), Decimal("0.01"))
"""

from .client import AsyncClient, Client
from .encoding import (
    Amend,
    Batch,
    Cancel,
    CancelAll,
    Faucet,
    Place,
    SignedTransaction,
    Transaction,
    Transfer,
    encode_batch_frame,
    order_id,
)
from .errors import (
    ApiError,
    ClobchainError,
    ErrorCode,
    TransactionDropped,
    TransactionRejected,
    TransportError,
    UnitError,
)
from .keys import Key, NonceAllocator
from .models import (
    FINAL_STATUSES,
    Account,
    ActionResult,
    Asset,
    Balance,
    Block,
    Book,
    Candle,
    Candles,
    Event,
    Fill,
    FillsPage,
    Finality,
    Health,
    Level,
    Market,
    Order,
    OrderState,
    OrderUpdate,
    SubmitResponse,
    TradesPage,
    TxStatus,
)
from .rest import DEFAULT_URL, Submitted, default_url
from .ws import (
    BlocksMessage,
    CandlesMessage,
    FillsMessage,
    OrdersMessage,
    Stream,
    StreamMessage,
    SyncStream,
    TradesMessage,
)

__all__ = [
    "Client", "AsyncClient", "Stream", "SyncStream", "Key", "NonceAllocator",
    "Transaction", "SignedTransaction", "Place", "Cancel", "CancelAll", "Amend", "Batch",
    "Transfer", "Faucet", "order_id", "encode_batch_frame",
    "ClobchainError", "ApiError", "ErrorCode", "TransactionRejected", "TransactionDropped",
    "TransportError", "UnitError", "FINAL_STATUSES",
    "Account", "ActionResult", "Asset", "Balance", "Block", "Book", "Candle", "Candles",
    "Event", "Fill", "FillsPage", "Finality", "Health", "Level", "Market", "Order", "OrderState",
    "OrderUpdate", "SubmitResponse", "TradesPage", "TxStatus", "Submitted",
    "TradesMessage", "FillsMessage", "OrdersMessage", "BlocksMessage", "CandlesMessage",
    "StreamMessage", "DEFAULT_URL", "default_url",
]
