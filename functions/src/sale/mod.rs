//! Fraud defences of the sale: step-up verification of high-value orders ([`stepup`]) and the
//! blocklist keys ([`blocklist`]).

pub mod blocklist;
pub mod routes;
pub mod stepup;
