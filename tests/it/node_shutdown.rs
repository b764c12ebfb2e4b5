//! A stopping node tells every websocket client why the socket closes (`closing`), even
//! one that connected a moment before the signal.

use std::time::Duration;

use api::wire::ServerMessage;
use client::ws::Connection;

use crate::node_support::{DEADLINE, spawn_node};

/// Starts connecting a websocket, sends SIGTERM to the node `delay` after the connect
/// began (so the signal may land during the handshake), and returns `None` if the
/// handshake failed (the client then knows it never had a socket), else whether the
/// socket said `closing` before it closed.
async fn closing_seen(delay: Duration) -> Option<bool> {
    let data = tempfile::tempdir().expect("a temporary directory");
    let node = spawn_node(data.path());
    let url = node.api.ws_url();
    let connecting = tokio::spawn(async move { Connection::connect(&url).await });
    tokio::time::sleep(delay).await;
    let stopped = tokio::task::spawn_blocking(move || node.terminate());
    let connected = connecting.await.expect("the connect task");
    let mut seen = None;
    if let Ok(mut ws) = connected {
        seen = Some(false);
        while let Ok(Some(message)) = tokio::time::timeout(DEADLINE, ws.next()).await {
            match message {
                Ok(ServerMessage::Closing { .. }) => seen = Some(true),
                Ok(_) => {}
                Err(_) => break,
            }
        }
    }
    stopped.await.expect("the node stops cleanly");
    seen
}

/// The issue: a socket opened just before the node stops got no `closing` in 4 of 8
/// tries. Each try here signals at a different moment around the handshake; every
/// socket that opened must hear `closing`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn node_stopping_sends_closing_to_a_socket_opened_just_before() {
    let mut missed = Vec::new();
    let mut opened = 0;
    for try_ in 0..16_u64 {
        let delay = Duration::from_micros(try_ * 500);
        match closing_seen(delay).await {
            Some(true) => opened += 1,
            Some(false) => missed.push(delay),
            None => {}
        }
    }
    assert!(
        missed.is_empty(),
        "no `closing` after SIGTERM at {missed:?}"
    );
    assert!(opened >= 4, "only {opened} of 16 sockets opened at all");
}
