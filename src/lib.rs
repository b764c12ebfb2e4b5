//! The `clobchain` binary's library: what the node, the command-line client and the
//! load tester share, and what the integration tests and benches drive.
//!
//! So far: real Nasdaq order flow ([`lobster`]) and seeded synthetic workloads
//! ([`workload`]) for the matching engine. The node, API and load tester come in
//! later issues (see README.md).

pub mod lobster;
pub mod workload;
