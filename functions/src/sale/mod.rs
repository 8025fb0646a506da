//! Fraud defences of the sale: step-up verification of high-value orders ([`stepup`]) and the
//! blocklist keys ([`blocklist`]); the waiting room's admissions ([`admission`]).

pub mod admission;
pub mod blocklist;
pub mod routes;
pub mod stepup;
