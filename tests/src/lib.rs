//! karcis end to end: the local dev stack that `make demo` and the e2e tests run, and the
//! flash-sale scenario driven through it. Everything listens on 127.0.0.1 and is stopped by
//! [`stack::DevStack::shutdown`] (and, failing that, by the children's own watchdogs).

pub mod api;
pub mod bots;
pub mod client;
pub mod control;
pub mod edge;
pub mod poller;
pub mod queue;
pub mod scenario;
pub mod stack;
pub mod stats;
