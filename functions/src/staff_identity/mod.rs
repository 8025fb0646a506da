//! staff_identity: who a staff member is and how their tokens are checked, with no storage of
//! its own: ES256 staff tokens (claims, encode through a signer port, verify with the worker's
//! rules), the JWKS, the member model and its rules, and console authentication. Both
//! [`crate::staff`] (which issues tokens and writes the staff log) and [`crate::audit_ingest`]
//! (whose reports authenticate console callers) import it; it imports neither, so the two no
//! longer import each other.

mod console;
pub mod dpop;
mod keys;
mod members;
mod tokens;

pub use console::{Caller, Console};
#[cfg(any(test, feature = "testing"))]
pub use keys::LocalSigner;
pub use keys::{der_to_jose, jwk, jwks, spki_to_sec1, Jwk, Jwks, TokenSigner, VerifyKeys};
pub use members::{
    covers, valid_scopes, valid_staff_id, validate_member, Member, MemberLookup, MemberSpec,
};
pub use tokens::{
    encode_token, verify_token, verify_token_with_grace, Role, Settings, TokenClaims,
    DEFAULT_CONSOLE_TTL_SECS, DEFAULT_DOOR_TTL_SECS, LEEWAY_SECS, MAX_DOOR_TTL_SECS,
    MAX_LIFETIME_SECS, MAX_SCOPES, MAX_STAFF_ID_LEN, MAX_TOKEN_LEN, PREVIOUS_KEYS_ENV,
    SIGNING_KEY_ENV,
};
