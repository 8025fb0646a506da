//! The one error type of the functions crate, and its `application/problem+json` form (RFC 9457).
//!
//! Every port, adapter and handler returns [`Error`]. HTTP handlers turn it into a [`Problem`]
//! whose `type` is a stable URN (`urn:karcis:problem:<slug>`); clients switch on that, never on
//! the human-readable `title`/`detail`. Details never contain personal data or secrets: they name
//! fields, not values.

use serde::Serialize;

/// What went wrong, at the granularity a caller can act on.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum Error {
    /// The request body is not valid JSON or not the expected shape.
    #[error("malformed request: {0}")]
    Malformed(String),
    /// A field is present but its value is not acceptable.
    #[error("invalid field `{field}`: {reason}")]
    Invalid { field: &'static str, reason: String },
    /// The body is larger than the route accepts.
    #[error("request body too large")]
    PayloadTooLarge,
    /// The request is not `application/json`.
    #[error("unsupported media type")]
    UnsupportedMediaType,
    /// A required header is missing or malformed.
    #[error("missing or malformed header `{0}`")]
    Header(&'static str),
    /// The buyer did not consent to the privacy policy (or named an unknown version).
    #[error("consent to the privacy policy is required")]
    ConsentRequired,
    /// A per-order or per-buyer limit would be exceeded.
    #[error("limit exceeded: {0}")]
    LimitExceeded(String),
    /// Too many requests from this client or for this address in the current window; the
    /// client may try again after `retry_after_secs` (the `Retry-After` header).
    #[error("too many requests: {detail}")]
    RateLimited {
        detail: String,
        retry_after_secs: u64,
    },
    /// The bot check (CAPTCHA) token is missing, invalid, used before, or not for this site
    /// and action.
    #[error("the bot check failed; complete it again")]
    CaptchaFailed,
    /// The event is in queue mode and the waiting room's admission is missing, not valid for
    /// it, expired or already spent.
    #[error("{0}")]
    Admission(Admission),
    /// The fraud defences refuse this order (a blacklisted value, or the risk rules say hold or
    /// block); which rule is not disclosed.
    #[error("order refused: {0}")]
    Refused(String),
    /// Not enough stock left in the tier.
    #[error("sold out")]
    SoldOut,
    /// The event or tier is not on sale (unknown, closed, or not yet open).
    #[error("not on sale")]
    NotOnSale,
    /// The client's expected amount no longer matches the price.
    #[error("price changed")]
    PriceChanged,
    /// An idempotency key was reused with a different request.
    #[error("idempotency key reused with a different request")]
    IdempotencyMismatch,
    /// The resource does not exist (or the caller may not know it exists).
    #[error("not found")]
    NotFound,
    /// The route exists but not with this method.
    #[error("method not allowed")]
    MethodNotAllowed,
    /// The caller's credential (order access token) is missing or wrong.
    #[error("unauthorized")]
    Unauthorized,
    /// The caller is authenticated but its role or scope does not allow this (H3b: staff roles).
    #[error("forbidden: {0}")]
    Forbidden(String),
    /// The resource is in a state that does not allow the operation.
    #[error("conflict: {0}")]
    Conflict(String),
    /// A transient failure of a dependency (AWS, gateway): retry later.
    #[error("dependency unavailable: {0}")]
    Unavailable(String),
    /// A bug or a broken invariant; the detail is logged, never sent.
    #[error("internal error: {0}")]
    Internal(String),
}

/// Why an admission is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admission {
    Required,
    Invalid,
    Expired,
    Used,
}

impl std::fmt::Display for Admission {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Required => "this sale goes through the waiting room: join the line first",
            Self::Invalid => "the waiting room admission is not valid for this event",
            Self::Expired => "the waiting room admission expired: join the line again",
            Self::Used => "the waiting room admission was already used for another order",
        })
    }
}

impl Error {
    /// `429` with `Retry-After: retry_after_secs` (at least 1).
    pub fn rate_limited(detail: impl Into<String>, retry_after_secs: u64) -> Self {
        Self::RateLimited {
            detail: detail.into(),
            retry_after_secs: retry_after_secs.max(1),
        }
    }

    pub fn invalid(field: &'static str, reason: impl Into<String>) -> Self {
        Self::Invalid {
            field,
            reason: reason.into(),
        }
    }

    pub fn internal(detail: impl std::fmt::Display) -> Self {
        Self::Internal(detail.to_string())
    }

    pub fn unavailable(detail: impl std::fmt::Display) -> Self {
        Self::Unavailable(detail.to_string())
    }

    /// The stable slug of the problem type.
    pub fn slug(&self) -> &'static str {
        match self {
            Self::Malformed(_) => "malformed-request",
            Self::Invalid { .. } => "invalid-field",
            Self::PayloadTooLarge => "payload-too-large",
            Self::UnsupportedMediaType => "unsupported-media-type",
            Self::Header(_) => "invalid-header",
            Self::ConsentRequired => "consent-required",
            Self::LimitExceeded(_) => "limit-exceeded",
            Self::RateLimited { .. } => "rate-limited",
            Self::CaptchaFailed => "captcha-failed",
            Self::Admission(Admission::Required) => "admission-required",
            Self::Admission(Admission::Invalid) => "admission-invalid",
            Self::Admission(Admission::Expired) => "admission-expired",
            Self::Admission(Admission::Used) => "admission-used",
            Self::Refused(_) => "order-refused",
            Self::SoldOut => "sold-out",
            Self::NotOnSale => "not-on-sale",
            Self::PriceChanged => "price-changed",
            Self::IdempotencyMismatch => "idempotency-key-reused",
            Self::NotFound => "not-found",
            Self::MethodNotAllowed => "method-not-allowed",
            Self::Unauthorized => "unauthorized",
            Self::Forbidden(_) => "forbidden",
            Self::Conflict(_) => "conflict",
            Self::Unavailable(_) => "unavailable",
            Self::Internal(_) => "internal",
        }
    }

    /// The HTTP status of the problem.
    pub fn status(&self) -> u16 {
        match self {
            Self::Malformed(_) | Self::Invalid { .. } | Self::Header(_) => 400,
            Self::Unauthorized => 401,
            Self::NotFound => 404,
            Self::MethodNotAllowed => 405,
            Self::SoldOut
            | Self::Conflict(_)
            | Self::PriceChanged
            | Self::Admission(Admission::Used) => 409,
            // After the 409 arm: every other admission refusal is 403.
            Self::Forbidden(_) | Self::CaptchaFailed | Self::Refused(_) | Self::Admission(_) => 403,
            Self::PayloadTooLarge => 413,
            Self::UnsupportedMediaType => 415,
            Self::ConsentRequired
            | Self::LimitExceeded(_)
            | Self::NotOnSale
            | Self::IdempotencyMismatch => 422,
            Self::RateLimited { .. } => 429,
            Self::Unavailable(_) => 503,
            Self::Internal(_) => 500,
        }
    }

    /// True for errors worth retrying (SQS handlers report these as batch item failures).
    pub fn is_transient(&self) -> bool {
        matches!(self, Self::Unavailable(_))
    }

    /// The problem document sent to the client. Internal details are not disclosed.
    pub fn problem(&self) -> Problem {
        let detail = match self {
            Self::Internal(_) => "an internal error occurred".to_owned(),
            Self::Unavailable(_) => "a dependency is unavailable, retry later".to_owned(),
            other => other.to_string(),
        };
        let title = match self {
            Self::Malformed(_) => "Malformed request",
            Self::Invalid { .. } => "Invalid field",
            Self::PayloadTooLarge => "Payload too large",
            Self::UnsupportedMediaType => "Unsupported media type",
            Self::Header(_) => "Invalid header",
            Self::ConsentRequired => "Consent required",
            Self::LimitExceeded(_) => "Limit exceeded",
            Self::RateLimited { .. } => "Too many requests",
            Self::CaptchaFailed => "Bot check failed",
            Self::Admission(_) => "Waiting room admission refused",
            Self::Refused(_) => "Order refused",
            Self::SoldOut => "Sold out",
            Self::NotOnSale => "Not on sale",
            Self::PriceChanged => "Price changed",
            Self::IdempotencyMismatch => "Idempotency key reused",
            Self::NotFound => "Not found",
            Self::MethodNotAllowed => "Method not allowed",
            Self::Unauthorized => "Unauthorized",
            Self::Forbidden(_) => "Forbidden",
            Self::Conflict(_) => "Conflict",
            Self::Unavailable(_) => "Service unavailable",
            Self::Internal(_) => "Internal error",
        };
        Problem {
            r#type: format!("urn:karcis:problem:{}", self.slug()),
            title: title.to_owned(),
            status: self.status(),
            detail,
            field: match self {
                Self::Invalid { field, .. } => Some((*field).to_owned()),
                _ => None,
            },
        }
    }
}

/// An RFC 9457 problem document.
#[derive(Debug, Clone, Serialize, serde::Deserialize, PartialEq, Eq)]
pub struct Problem {
    pub r#type: String,
    pub title: String,
    pub status: u16,
    pub detail: String,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub field: Option<String>,
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn internal_details_are_not_disclosed() {
        let p = Error::internal("table karcis-prod: secret stuff").problem();
        assert_eq!(p.status, 500);
        assert_eq!(p.r#type, "urn:karcis:problem:internal");
        assert!(!p.detail.contains("secret"));
    }

    #[test]
    fn invalid_names_the_field() {
        let p = Error::invalid("quantity", "must be at least 1").problem();
        assert_eq!(p.status, 400);
        assert_eq!(p.field.as_deref(), Some("quantity"));
        assert_eq!(p.r#type, "urn:karcis:problem:invalid-field");
    }

    #[test]
    fn statuses_are_client_errors_for_bad_input() {
        for e in [
            Error::Malformed("x".into()),
            Error::PayloadTooLarge,
            Error::UnsupportedMediaType,
            Error::ConsentRequired,
            Error::LimitExceeded("x".into()),
            Error::SoldOut,
            Error::IdempotencyMismatch,
            Error::Unauthorized,
        ] {
            assert!((400..500).contains(&e.status()), "{e:?}");
            assert!(!e.is_transient());
        }
        assert!(Error::unavailable("x").is_transient());
    }
}
