//! staff: the back end that issues staff tokens, with role-based access.
//!
//! Roles: `admin` (manages staff, scans, reads reports), `staff` (scans only), `finance`
//! (reads reports only). A token is an ES256 JWT (`{"alg":"ES256","typ":"JWT","kid"}`, claims
//! `aud, events, exp, gates, iat, iss, jti, nbf, role, sub`) signed by an asymmetric KMS key
//! (`STAFF_SIGNING_KEY_ID`, `ECC_NIST_P256` / `SIGN_VERIFY`) with `Sign`, `MessageType::Raw`,
//! `ECDSA_SHA_256`; KMS's DER signature is converted to JOSE `r || s` (low-S) and checked
//! against the public key before the token leaves. The `kid` is the RFC 7638 thumbprint of
//! the public key, so a new KMS key is a new `kid`.
//!
//! Two audiences, never mixed:
//! - **door** (`STAFF_TOKEN_AUDIENCE`, default `karcis-door`, the edge worker's audience): for
//!   `staff` and `admin` only, with the events and gates they may scan. The worker's JWKS secret
//!   `STAFF_JWKS` is [`jwks`] (`staff jwks`, or `GET /v1/staff/jwks`).
//! - **console** (`STAFF_CONSOLE_AUDIENCE`, default `karcis-console`): for `admin` and
//!   `finance`, never with gates; it authenticates callers of this API and of the audit reports.
//!   A finance member can therefore never hold a token the door accepts.
//!
//! Caller authentication (defence in depth, independent of API Gateway): every `/v1/staff/*`
//! route but the JWKS verifies the caller's console token in code (ES256 only, known `kid`,
//! audience, `exp`/`nbf`/`iat` with 30 s leeway, at most 12 h of lifetime) and then looks the
//! caller up: the member must exist, be active and still have the token's role, so demoting or
//! deactivating someone takes effect at once. An admin only manages members and issues tokens
//! within the events it holds (`*` = all). API Gateway's JWT authorizer accepts RSA-signed
//! tokens only, so it cannot check these ES256 tokens: the routes are attached without it (like
//! the webhooks), and the check above is the authentication. The first admin is created with
//! the `staff` binary by an operator whose IAM role may use the signing key (`staff
//! put-member`, `staff issue-token`): IAM is the root of trust, and those actions are audited.
//!
//! Password sign-in (`signin`, `password`, `credentials_store`): `POST /v1/staff/sign-in`,
//! `POST /v1/staff/password` (with a one-time setup code from `POST
//! /v1/staff/members/{staff_id}/password-setup`); admins and finance are refused until their
//! second factor (`totp`, codes only so far) is wired in.
//!
//! Routes: `GET /v1/staff/jwks` (public), `GET`/`PUT /v1/staff/members/{staff_id}`,
//! `POST /v1/staff/members/{staff_id}/tokens`, `POST /v1/staff/members/{staff_id}/revocations`
//! (`{"jti"}` one door token, `{}` all of them), `GET /v1/staff/log?after=&limit=` (the staff
//! log with its links checked; admins of every event).
//!
//! Door tokens are checked by the edge worker, so deactivating a member or revoking a token is
//! sent to the door's deny-list through [`StaffDenyList`] ([`EdgeStaffDenyList`]: the worker's
//! `POST /v1/staff-revocations`, authenticated with a 60-second door token of this service,
//! `sub` [`REVOKER_ID`], admin of every event, signed by the same KMS key). A deactivation is
//! stored first, then sent; if the door cannot be told the caller gets 503 and a retry of the
//! same request sends it again.
//!
//! Every role change and every issued token is a record in the backend's hash-chained staff log
//! (`crate::audit_ingest`, stream `STAFFAUDIT`): a member change is written in the same
//! transaction as its record; a token is returned only after its record is stored (the record
//! holds its `jti`, never the token).
//!
//! Files: tokens, keys, members and console authentication are [`crate::staff_identity`]
//! (re-exported here; it imports neither this module nor `audit_ingest`); here
//! `planning` (the token policy), `records` (staff log records and ports), `service`,
//! `routes`, `store` (KMS and DynamoDB adapters), `edge` (the door's deny-list).

mod credentials_store;
mod edge;
pub mod password;
mod planning;
mod records;
mod refresh;
mod routes;
mod second_factor;
mod service;
mod signin;
mod store;
pub mod totp;

pub use credentials_store::DynamoCredentials;
pub use edge::{EdgeStaffDenyList, REVOKER_ID};
pub use planning::{plan_token, Purpose, TokenRequest};
pub use records::{MemberView, RecordDetail, StaffDenyList, StaffDirectory, StaffRecord};
pub use refresh::{REFRESH_GRACE_SECS, REFRESH_PATH};
pub use routes::{router, LogQuery, ROUTES};
pub use second_factor::{StoredTotp, TotpCheck, TotpEnrolment};
pub use service::{IssuedToken, RevocationDone, RevocationRequest, StaffSecrets, StaffService};
pub use signin::{
    client_key, hold_secs, needs_second_factor, Attempt, Credentials, PasswordSet,
    SetPasswordRequest, SetupCode, SignInRequest, ACCOUNT_THRESHOLD, BASE_HOLD_SECS,
    CLIENT_INDEX_KIND, CLIENT_THRESHOLD, MAX_HOLD_SECS, SETUP_TTL_SECS, SIGN_IN_ACTOR,
    SIGN_IN_CONSOLE_TTL_SECS, SIGN_IN_MAX_CONSOLE_TTL_SECS, TOTP_ISSUER,
};
pub use store::{
    create_signing_key, previous_public_keys, public_key_of, DynamoDirectory, KmsSigner,
};

#[cfg(any(test, feature = "testing"))]
pub use crate::staff_identity::LocalSigner;
pub use crate::staff_identity::{
    der_to_jose, encode_token, jwk, jwks, spki_to_sec1, valid_staff_id, validate_member,
    verify_token, Caller, Console, Jwk, Jwks, Member, MemberLookup, MemberSpec, Role, Settings,
    TokenClaims, TokenSigner, VerifyKeys, DEFAULT_CONSOLE_TTL_SECS, DEFAULT_DOOR_TTL_SECS,
    LEEWAY_SECS, MAX_LIFETIME_SECS, MAX_SCOPES, MAX_STAFF_ID_LEN, MAX_TOKEN_LEN, PREVIOUS_KEYS_ENV,
    SIGNING_KEY_ENV,
};
