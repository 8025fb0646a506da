//! karcis Lambda functions: domain logic over small ports ([`ports`]), with DynamoDB
//! ([`store`]), KMS and SQS ([`aws`]) adapters. Each binary in `src/bin/` only builds the
//! adapters from the environment and runs one handler.
//!
//! | module | function |
//! |---|---|
//! | [`checkout`] | `POST /v1/orders`, `GET /v1/orders/{id}`, `GET /v1/events/{id}` |
//! | [`sweeper`] | releases expired reservations |
//! | [`payment_callback`] | `POST /v1/webhooks/{provider}` (verified gateway webhooks) |
//! | [`mint`] | paid order -> tickets; device-binding re-issues ([`reissue`]) (SQS) |
//! | [`retention`] | daily: shreds personal data past `RETENTION_DAYS` |
//! | [`privacy`] | `POST /v1/privacy/{challenge,export,delete}`, `PUT /v1/privacy/consents` |
//! | [`tickets`] | `GET /v1/orders/{id}/tickets`, `POST /v1/tickets/{id}/device` |
//! | [`notify`] | notifications (SQS), sent by [`senders`] (SES, SNS, WhatsApp) |
//! | [`admin`] | ops: create an event and its key set |

pub mod admin;
pub mod audit_heads;
pub mod audit_ingest;
pub mod aws;
pub mod captcha;
pub mod checkout;
pub mod config;
pub mod console;
pub mod deps;
pub mod edge_client;
pub mod error;
pub mod eventkeys;
pub mod fraud;
pub mod gateway;
pub mod guard;
pub mod http;
pub mod mint;
pub mod model;
pub mod notify;
pub mod operations;
pub mod origin;
pub mod payment_callback;
pub mod phone;
pub mod pii;
pub mod ports;
pub mod privacy;
pub mod reissue;
pub mod retention;
pub mod revoke;
pub mod sale;
pub mod senders;
pub mod sqs;
pub mod staff;
pub mod staff_identity;
pub mod store;
pub mod sweeper;
pub mod telemetry;
pub mod tickets;

#[cfg(feature = "testing")]
pub mod testing;

pub use config::Config;
pub use error::{Error, Problem, Result};
