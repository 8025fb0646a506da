//! Fraud defences of the sale: step-up verification of high-value orders ([`stepup`]).

pub mod routes;
pub mod stepup;
