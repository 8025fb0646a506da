//! The karcis ticket: claims, the QR wire format, signing, sealing and verification.
//!
//! This crate owns the ticket format (specified byte by byte in `FORMAT.md`). It is pure:
//! no I/O, no clock and no global randomness. The caller passes the time and a random
//! number generator, so the same code runs in a Lambda function (minting), in the
//! Cloudflare Worker at the door (verification, compiled to `wasm32-unknown-unknown`) and
//! in tests with fixed inputs.
//!
//! * [`issue`] signs [`Claims`] with the event's [`IssuerKey`] (ECDSA P-256) and seals the
//!   signed credential with the event's [`QrKey`] (AES-256-GCM): the QR code carries no
//!   readable data.
//! * [`present_with_device`] / [`rotating_qr`] build the code a phone shows for a
//!   device-bound credential: a fresh timestamp signed by the phone's own key.
//! * [`verify`] is the one entry point at the door. [`open`] + [`Opened::decide`] split it
//!   for a caller that checks the two signatures with its own P-256 implementation.

pub mod base45;
mod claims;
mod keys;
mod mint;
mod verify;
mod wire;

pub use claims::{Claims, ClaimsError, DevicePublicKey, TicketId, MAX_GATES, MAX_ID_LEN};
pub use keys::{is_low_s, low_s, IssuerKey, KeyError, KeyRing, QrKey};
pub use mint::{issue, present_with_device, rotating_qr, IssueError, SealedCredential};
pub use verify::{open, verify, Opened, Policy, Rejection, SignatureCheck, VerifiedTicket};
pub use wire::{
    credential_signing_message, device_proof_message, qr_associated_data, DEFAULT_FRESHNESS_SECS,
    QR_PREFIX,
};

/// Re-exported so callers name the same P-256 types this crate uses.
pub use p256;
