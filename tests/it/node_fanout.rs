//! Fan-out and connection limits over loopback: a websocket client that does not read is
//! closed once its queue overflows while a reading one gets every block; idle HTTP
//! connections are closed after the header-read timeout.

use std::time::{Duration, Instant};

use client::Method;
use futures_util::{SinkExt as _, StreamExt as _};
use serde_json::{Value, json};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;

use crate::node_support::{Api, DEADLINE, Ws, start_node};

/// `clobchain_websocket_clients` from `/metrics`.
async fn websocket_clients(api: &Api) -> u64 {
    let metrics = api
        .client
        .raw(Method::GET, "/metrics", &[], None)
        .await
        .expect("GET /metrics");
    let text = metrics.text();
    text.lines()
        .find_map(|l| l.strip_prefix("clobchain_websocket_clients "))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("no websocket gauge in:\n{text}"))
}

/// Polls the gauge until it reads `want`; returns how long that took.
async fn wait_websocket_clients(api: &Api, want: u64, what: &str) -> Duration {
    let started = Instant::now();
    loop {
        let now = websocket_clients(api).await;
        if now == want {
            return started.elapsed();
        }
        assert!(
            started.elapsed() < DEADLINE,
            "{what}: {now} websocket clients, expected {want}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn node_websocket_silent_client_is_closed_on_overflow_while_a_reader_gets_every_block() {
    let node = start_node(|c| {
        c.empty_block_interval_ms = 50;
        c.api.ws_queue_messages = 64;
        // Longer than the test's deadline: only the queue overflowing can close the
        // silent client in time, not a write timing out.
        c.api.ws_send_timeout_ms = 60_000;
    })
    .await;
    let api = &node.api;

    let mut reader = Ws::connect(api).await;
    let subscribed = reader
        .subscribe(json!({"op": "subscribe", "channel": "blocks"}))
        .await;
    let first = subscribed["height"].as_u64().expect("a height") + 1;

    // The silent client: a small receive buffer, so the server's socket fills sooner.
    let socket = tokio::net::TcpSocket::new_v4().expect("a socket");
    socket.set_recv_buffer_size(4096).expect("SO_RCVBUF");
    let tcp = socket
        .connect(node.running.addr)
        .await
        .expect("the silent client connects");
    let (mut silent, _) = tokio_tungstenite::client_async(api.ws_url(), tcp)
        .await
        .expect("the silent client's handshake");
    wait_websocket_clients(api, 2, "both clients connected").await;

    // It subscribes and asks for book snapshots, and never reads a reply: once the
    // socket buffers are full, its queue fills and overflows.
    let subscribe_book = json!({"op": "subscribe", "channel": "book", "market": 0}).to_string();
    silent
        .send(Message::text(
            json!({"op": "subscribe", "channel": "blocks"}).to_string(),
        ))
        .await
        .expect("subscribe");
    let burst = Instant::now();
    let mut sent = 0_u64;
    'burst: while burst.elapsed() < DEADLINE {
        // Paced well below what the queue holds (16 requests = 32 messages of 64), so
        // the queue overflows only once the client's socket stops taking them.
        for _ in 0..100 {
            for _ in 0..16 {
                if silent
                    .send(Message::text(subscribe_book.clone()))
                    .await
                    .is_err()
                {
                    break 'burst; // the server closed it
                }
                sent += 1;
            }
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        if websocket_clients(api).await == 1 {
            break;
        }
    }
    let took = wait_websocket_clients(api, 1, "the silent client is closed").await;
    let closed_after = burst.elapsed();
    eprintln!("silent client closed {closed_after:?} after the burst began ({sent} requests)");
    assert!(closed_after < DEADLINE, "closed within {DEADLINE:?}");
    // Twice the queue's worth of replies and more: the writer drained the queue into
    // the socket until the socket stopped taking them (about 64 KiB here).
    assert!(
        sent > 64,
        "closed after {sent} requests: before its socket could have filled"
    );
    let _ = took;

    // What the silent client finally reads ends: the server closed the connection.
    let started = Instant::now();
    loop {
        match tokio::time::timeout(DEADLINE, silent.next()).await {
            Ok(Some(Ok(Message::Close(_))) | Some(Err(_)) | None) => break,
            Ok(Some(Ok(_))) => {}
            Err(_) => panic!("the silent client's connection is still open"),
        }
        assert!(started.elapsed() < DEADLINE, "the stream never ends");
    }

    // The reader got every block, in order, and keeps getting them.
    let until = api.health().await.height + 5;
    let mut expected = first;
    while expected <= until {
        let message = reader.next_of("blocks").await;
        assert_eq!(message["height"], json!(expected), "{message}");
        assert_eq!(message["data"]["height"], json!(expected), "{message}");
        expected += 1;
    }
    drop(reader);
    wait_websocket_clients(api, 0, "the reader left").await;
    node.stop().await;
}

/// Reads until the server closes the connection; `Some(bytes read)`, or `None` if it
/// was still open after `wait`.
async fn read_until_closed(stream: &TcpStream, wait: Duration) -> Option<Vec<u8>> {
    let started = Instant::now();
    let mut read = Vec::new();
    let mut buffer = [0_u8; 4096];
    loop {
        let left = wait.checked_sub(started.elapsed())?;
        if tokio::time::timeout(left, stream.readable()).await.is_err() {
            return None;
        }
        match stream.try_read(&mut buffer) {
            Ok(0) => return Some(read),
            Ok(n) => read.extend_from_slice(&buffer[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
            Err(_) => return Some(read), // reset: closed too
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn node_http_connection_silent_or_idle_is_closed_after_the_header_timeout() {
    const TIMEOUT_MS: u64 = 300;
    let node = start_node(|c| c.api.header_read_timeout_ms = TIMEOUT_MS).await;
    let addr = node.running.addr;

    // Sends nothing at all.
    let silent = TcpStream::connect(addr).await.expect("connects");
    let started = Instant::now();
    let read = read_until_closed(&silent, Duration::from_secs(5))
        .await
        .expect("the server closes a connection that sends nothing");
    let took = started.elapsed();
    assert!(
        took >= Duration::from_millis(TIMEOUT_MS - 50),
        "not before the timeout: {took:?}"
    );
    assert!(
        !String::from_utf8_lossy(&read).contains("200 OK"),
        "no answer to nothing"
    );

    // Sends half a request's headers and stops.
    let half = TcpStream::connect(addr).await.expect("connects");
    half.writable().await.expect("writable");
    half.try_write(b"GET /v1/health HTTP/1.1\r\nHost: x\r\n")
        .expect("a partial request");
    read_until_closed(&half, Duration::from_secs(5))
        .await
        .expect("the server closes a connection whose headers never end");

    // A keep-alive connection answered once and then idle is closed too.
    let idle = TcpStream::connect(addr).await.expect("connects");
    idle.writable().await.expect("writable");
    idle.try_write(b"GET /v1/health HTTP/1.1\r\nHost: x\r\n\r\n")
        .expect("a request");
    let answered = read_until_closed(&idle, Duration::from_secs(5))
        .await
        .expect("the idle keep-alive connection is closed");
    let answered = String::from_utf8_lossy(&answered);
    assert!(answered.starts_with("HTTP/1.1 200"), "{answered}");

    // A client that talks is served as before.
    let health: Value = node.api.get_json("/v1/health").await;
    assert!(health["height"].is_u64(), "{health}");
    node.stop().await;
}
