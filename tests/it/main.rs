//! Integration tests, one binary (STYLE.md #14). One module per area.

mod candles;
mod chain;
mod chain_storage;
mod genesis;
mod loadtest;
mod lobster;
mod matching_golden;
mod matching_model;
mod matching_rejects;
mod node;
mod node_binary;
mod node_crash;
mod node_fanout;
mod node_lifecycle;
mod node_shutdown;
mod node_support;
mod node_traders;
mod same_block;
mod storage;
mod support;
mod validators;
