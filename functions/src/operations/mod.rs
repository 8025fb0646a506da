//! Operations: the restore drill and the incident commands of `INCIDENT.md`. Domain logic here;
//! the DynamoDB side of a restore and a table scan is in `crate::store::{restore, snapshot}`.

pub mod backup;
pub mod drill;
pub mod evidence;
pub mod mass_revoke;
pub mod notify_customers;
pub mod pause;
pub mod qr_alarm;
pub mod restore;
pub mod rotate_keys;
pub mod rotate_secrets;
pub mod staff_tokens;
