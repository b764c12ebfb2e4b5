//! The API's connection limits in one place: the defaults of [`crate::ApiConfig`], each
//! with why it has its value, and the relations between them checked at compile time.
//!
//! Websocket protocol limits that are not configurable (subscriptions per connection,
//! book snapshot depth) live in [`crate::ws`].

use crate::ws::SUBSCRIPTIONS_MAX;

/// Open TCP connections, HTTP and websocket together. Past it the server stops
/// accepting (new connections wait in the kernel's backlog) until one closes. Twice the
/// websocket cap, so a full house of subscribers still leaves room for REST; small
/// enough that a connection's buffers (a few KiB each) stay well under a GiB.
pub const CONNECTIONS_MAX: usize = 20_000;

/// Websocket connections at once (503 `TOO_MANY_CLIENTS` past it).
pub const WS_CLIENTS_MAX: usize = 10_000;

/// A client must send a request's headers within this. The same timer runs while a
/// keep-alive connection waits for its next request, so it is also the idle keep-alive
/// timeout. 10 s is generous for any real client over a slow link and closes a silent
/// socket before thousands of them can pile up.
pub const HEADER_READ_TIMEOUT_MS: u64 = 10_000;

/// An HTTP connection on which no byte moves either way for this long is closed: a
/// stalled upload, or a client that does not read its response. Longer than the
/// longest `?wait=true`, which legitimately sends nothing while it waits.
pub const IDLE_TIMEOUT_MS: u64 = 60_000;

/// The longest a `?wait=true` submission waits for its block.
pub const WAIT_MS_MAX: u64 = 30_000;

/// Messages queued for one websocket connection. Four blocks' worth for a connection at
/// its subscription limit (one message per channel per block), so a client that reads
/// keeps up through a burst; a client that does not read fills it and is closed with
/// `lagged`. The queue holds shared bytes, so a full queue costs slots, not copies.
pub const WS_QUEUE_MESSAGES: usize = 4 * SUBSCRIPTIONS_MAX;

/// Longest a write to one websocket client may take before the connection is closed.
/// One second: a client on a working link drains a block's messages far faster, and a
/// stuck one must not hold its queue (and the blocks it points at) for long.
pub const WS_SEND_TIMEOUT_MS: u64 = 1_000;

/// Largest message a websocket client may send: its requests are a few hundred bytes of
/// JSON. (tungstenite's default is 64 MiB, which a client could make the server buffer.)
pub const WS_CLIENT_MESSAGE_BYTES_MAX: usize = 16 << 10;

/// The websocket's read buffer. Clients send little (subscriptions, pings), so the
/// default 128 KiB per connection would be almost all idle memory.
pub const WS_READ_BUFFER_BYTES: usize = 4 << 10;

const _: () = assert!(
    WS_CLIENTS_MAX < CONNECTIONS_MAX,
    "room for REST beside websockets"
);
const _: () = assert!(
    IDLE_TIMEOUT_MS > WAIT_MS_MAX,
    "a waiting submission is not idle"
);
const _: () = assert!(HEADER_READ_TIMEOUT_MS <= IDLE_TIMEOUT_MS);
const _: () = assert!(
    WS_QUEUE_MESSAGES >= SUBSCRIPTIONS_MAX + 2,
    "one block's messages for a full connection, a reply and a heartbeat fit"
);
const _: () = assert!(
    WS_SEND_TIMEOUT_MS <= 1_000,
    "a stuck client is dropped within a second"
);
