//! The `clobchain` binary's library: what the node, the command-line client and the
//! load tester share, and what the integration tests and benches drive.
//!
//! - [`chain`]: the state machine over durable storage (open, commit, recover, verify);
//! - [`storage`]: the checksummed block log and state snapshots;
//! - [`lobster`]: real Nasdaq order flow for the matching engine;
//! - [`workload`]: seeded synthetic command streams for the matching engine;
//! - [`node`]: the node: admission, mempool, block producer, and the API server;
//!
//! The load tester comes in a later issue (see README.md).

pub mod chain;
pub mod cli;
pub mod loadtest;
pub mod lobster;
pub mod node;
pub mod storage;
pub mod workload;
