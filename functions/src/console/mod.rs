//! console: the operators' console back end (`web/console` is its front end).
//!
//! Every route verifies the caller's console token in code ([`crate::staff_identity::Console`]:
//! ES256, kid, issuer, the console audience, lifetime, and the member's current role), checks
//! role and event scope ([`crate::staff_identity::Caller`]), and writes the action, or its
//! refusal, to the hash-chained staff audit trail (`STAFFAUDIT`, [`audit`]). Door staff never
//! reach it (the role `staff` holds no console token, and a door token has another audience).
//!
//! - **finance and admins** of an event: `GET /v1/console/events/{event_id}` (the event and
//!   its tiers), `.../sales` (sales and revenue per tier, day in the event's zone, provider),
//!   `.../refunds` (refunds, disputes and refunds due), `.../reconciliation/{provider}` (the
//!   CSV keyed by the gateway's references). Reports read orders through a projection without
//!   any personal data ([`store::ORDER_ATTRIBUTES`]).
//! - **admins** of an event: `POST /v1/console/events` (create with tiers and key set),
//!   `PUT .../on-sale`, `POST .../orders/{order_id}/revocation` (a refunded or disputed order's
//!   tickets to the door again), `GET .../scan-audit` (the door chain, verified).
//! - Staff management stays in [`crate::staff`] (`/v1/staff/members/...`), reused by the
//!   console's front end rather than duplicated here.
//!
//! Money is integer minor units with the ISO 4217 code throughout.
//!
//! Files: `reports` and `reconcile` (pure), `audit` (records), `store` (port and DynamoDB
//! adapter), `service` (authorisation and actions), `routes` (axum).

pub mod audit;
pub mod reconcile;
pub mod reports;
mod routes;
mod service;
pub mod store;

pub use routes::router;
pub use service::{
    ConsoleService, Done, OnSale, OnSaleRequest, RevocationSent, ScanAudit, Session,
    MAX_VERIFIED_ENTRIES,
};
pub use store::{ConsoleStore, DynamoConsoleStore};
