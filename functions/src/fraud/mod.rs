//! Fraud defences of the sale (issue 12): blacklists ([`blacklist`]), risk rules ([`risk`],
//! [`disposable`]), the checks at checkout and at the payment notification ([`screen`]), the
//! admin routes ([`routes`], [`holds`]). The rules are pure; [`ports::FraudStore`] is implemented on the
//! single table in [`crate::store`].

pub mod blacklist;
pub mod disposable;
pub mod holds;
pub mod ports;
pub mod risk;
pub mod routes;
pub mod screen;

pub use ports::FraudStore;
