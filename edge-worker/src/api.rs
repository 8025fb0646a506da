//! The scanner-facing API: request shapes, input validation, the stable `result` values and
//! problem+json errors. Pure: no I/O, so it is unit-tested natively.

use serde::{Deserialize, Serialize};
use ticket::Rejection;

/// Largest request body the worker reads.
pub const MAX_BODY_BYTES: usize = 16 * 1024;
/// Longest QR text accepted before the ticket crate even looks at it.
pub const MAX_QR_LEN: usize = 4096;
/// Longest gate or event id (the ticket format's own limit).
pub const MAX_ID_LEN: usize = ticket::MAX_ID_LEN;
/// Longest scanner scan id and staff id.
pub const MAX_SCAN_ID_LEN: usize = 128;

/// `POST /v1/scan` body.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScanRequest {
    pub qr: String,
    pub gate_id: String,
    /// The event the scanner admits to; optional when the staff token names exactly one.
    #[serde(default)]
    pub event_id: Option<String>,
    #[serde(default)]
    pub gps: Option<GpsInput>,
    /// The scanner's own id for this scan: a retry with the same id is answered, not re-applied.
    pub scan_id: String,
}

/// A position as the scanner sends it.
#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GpsInput {
    pub lat: f64,
    pub lon: f64,
    #[serde(default)]
    pub accuracy_m: Option<f64>,
}

/// A position as stored and chained: integers only (microdegrees, whole metres), so that its
/// canonical text is the same in every language.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Gps {
    pub acc_m: Option<u32>,
    pub lat_e6: i64,
    pub lon_e6: i64,
}

/// What the scanner shows: the position in degrees.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct GpsOutput {
    pub lat: f64,
    pub lon: f64,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub accuracy_m: Option<u32>,
}

impl Gps {
    #[allow(clippy::cast_precision_loss)]
    pub fn to_output(self) -> GpsOutput {
        GpsOutput {
            lat: self.lat_e6 as f64 / 1e6,
            lon: self.lon_e6 as f64 / 1e6,
            accuracy_m: self.acc_m,
        }
    }
}

/// Why a request was refused before any ticket logic ran.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InputError {
    Body,
    Qr,
    GateId,
    EventId,
    ScanId,
    Gps,
}

impl InputError {
    pub fn detail(self) -> &'static str {
        match self {
            Self::Body => "the body is not the expected JSON object",
            Self::Qr => "qr must be 1 to 4096 printable ASCII characters",
            Self::GateId => "gate_id must be 1 to 64 characters of A-Z a-z 0-9 . _ : @ -",
            Self::EventId => "event_id must be 1 to 64 characters of A-Z a-z 0-9 . _ : @ -",
            Self::ScanId => "scan_id must be 1 to 128 characters of A-Z a-z 0-9 . _ : @ -",
            Self::Gps => {
                "gps needs lat in [-90, 90], lon in [-180, 180], accuracy_m in [0, 100000]"
            }
        }
    }
}

/// An identifier: 1..=`max` characters of a small safe alphabet (no spaces, quotes, controls).
pub fn valid_id(text: &str, max: usize) -> bool {
    !text.is_empty()
        && text.len() <= max
        && text
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b':' | b'@' | b'-'))
}

/// Quantises and range-checks a position.
pub fn validate_gps(gps: GpsInput) -> Result<Gps, InputError> {
    let in_range = gps.lat.is_finite()
        && gps.lon.is_finite()
        && (-90.0..=90.0).contains(&gps.lat)
        && (-180.0..=180.0).contains(&gps.lon);
    if !in_range {
        return Err(InputError::Gps);
    }
    let acc_m = match gps.accuracy_m {
        None => None,
        Some(a) if a.is_finite() && (0.0..=100_000.0).contains(&a) => {
            // In range, so the conversion is exact enough and cannot overflow.
            #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
            Some(a.ceil() as u32)
        }
        Some(_) => return Err(InputError::Gps),
    };
    // |lat|, |lon| <= 180e6 fits an i64 exactly.
    #[allow(clippy::cast_possible_truncation)]
    Ok(Gps {
        acc_m,
        lat_e6: (gps.lat * 1e6).round() as i64,
        lon_e6: (gps.lon * 1e6).round() as i64,
    })
}

/// A scan request after validation.
#[derive(Debug, Clone)]
pub struct ValidScan {
    pub qr: String,
    pub gate_id: String,
    pub event_id: Option<String>,
    pub gps: Option<Gps>,
    pub scan_id: String,
}

pub fn parse_scan(body: &[u8]) -> Result<ValidScan, InputError> {
    if body.len() > MAX_BODY_BYTES {
        return Err(InputError::Body);
    }
    let req: ScanRequest = serde_json::from_slice(body).map_err(|_| InputError::Body)?;
    if req.qr.is_empty()
        || req.qr.len() > MAX_QR_LEN
        || !req.qr.bytes().all(|b| b.is_ascii_graphic() || b == b' ')
    {
        return Err(InputError::Qr);
    }
    if !valid_id(&req.gate_id, MAX_ID_LEN) {
        return Err(InputError::GateId);
    }
    if let Some(event) = &req.event_id {
        if !valid_id(event, MAX_ID_LEN) {
            return Err(InputError::EventId);
        }
    }
    if !valid_id(&req.scan_id, MAX_SCAN_ID_LEN) {
        return Err(InputError::ScanId);
    }
    let gps = req.gps.map(validate_gps).transpose()?;
    Ok(ValidScan {
        qr: req.qr,
        gate_id: req.gate_id,
        event_id: req.event_id,
        gps,
        scan_id: req.scan_id,
    })
}

/// The stable `result` values a scanner switches on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ScanResult {
    Admitted,
    AlreadyAdmitted,
    Invalid,
    Stale,
    Revoked,
    WrongEvent,
    NotYetValid,
    Expired,
    WrongGate,
    StaticNotAllowed,
    Unauthorised,
    Forbidden,
}

impl ScanResult {
    pub const ALL: [Self; 12] = [
        Self::Admitted,
        Self::AlreadyAdmitted,
        Self::Invalid,
        Self::Stale,
        Self::Revoked,
        Self::WrongEvent,
        Self::NotYetValid,
        Self::Expired,
        Self::WrongGate,
        Self::StaticNotAllowed,
        Self::Unauthorised,
        Self::Forbidden,
    ];

    pub fn code(self) -> &'static str {
        match self {
            Self::Admitted => "admitted",
            Self::AlreadyAdmitted => "already_admitted",
            Self::Invalid => "invalid",
            Self::Stale => "stale",
            Self::Revoked => "revoked",
            Self::WrongEvent => "wrong_event",
            Self::NotYetValid => "not_yet_valid",
            Self::Expired => "expired",
            Self::WrongGate => "wrong_gate",
            Self::StaticNotAllowed => "static_not_allowed",
            Self::Unauthorised => "unauthorised",
            Self::Forbidden => "forbidden",
        }
    }

    /// The line the scanner shows (already_admitted gets a longer one with the details).
    pub fn message(self) -> &'static str {
        match self {
            Self::Admitted => "Admitted",
            Self::AlreadyAdmitted => "Already admitted",
            Self::Invalid => "Not a valid ticket",
            Self::Stale => "Code too old: ask the holder to reopen the ticket",
            Self::Revoked => "Ticket revoked",
            Self::WrongEvent => "Ticket for another event",
            Self::NotYetValid => "Ticket not valid yet",
            Self::Expired => "Ticket expired",
            Self::WrongGate => "Ticket not valid at this gate",
            Self::StaticNotAllowed => "Printed codes are not accepted: open the ticket in the app",
            Self::Unauthorised => "Sign in again",
            Self::Forbidden => "Not allowed to scan here",
        }
    }
}

/// How the ticket crate's refusal shows on the scanner.
pub fn result_for(rejection: Rejection) -> ScanResult {
    match rejection {
        Rejection::Malformed
        | Rejection::UnsupportedVersion
        | Rejection::UnknownKey
        | Rejection::Undecryptable
        | Rejection::BadIssuerSignature
        | Rejection::DeviceProofRequired
        | Rejection::BadDeviceProof => ScanResult::Invalid,
        Rejection::StaleProof => ScanResult::Stale,
        Rejection::NotYetValid => ScanResult::NotYetValid,
        Rejection::Expired => ScanResult::Expired,
        Rejection::WrongEvent => ScanResult::WrongEvent,
        Rejection::Revoked => ScanResult::Revoked,
        Rejection::StaticNotAllowed => ScanResult::StaticNotAllowed,
        Rejection::GateNotAllowed => ScanResult::WrongGate,
    }
}

/// An `application/problem+json` body (RFC 9457) with a stable `type`.
#[derive(Debug, Clone, Serialize)]
pub struct Problem {
    #[serde(rename = "type")]
    pub kind: String,
    pub title: &'static str,
    pub status: u16,
    pub detail: String,
    /// For scanner-facing routes: the same stable `result` as a decided scan.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub result: Option<ScanResult>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<&'static str>,
}

/// Stable prefix of every problem `type`.
pub const PROBLEM_PREFIX: &str = "urn:karcis:problem:";

impl Problem {
    pub fn new(status: u16, code: &str, title: &'static str, detail: impl Into<String>) -> Self {
        Self {
            kind: format!("{PROBLEM_PREFIX}{code}"),
            title,
            status,
            detail: detail.into(),
            result: None,
            message: None,
        }
    }

    pub fn bad_input(error: InputError) -> Self {
        Self::new(400, "invalid_request", "Invalid request", error.detail())
    }

    pub fn unauthorised(detail: impl Into<String>) -> Self {
        let mut p = Self::new(401, "unauthorised", "Unauthorised", detail);
        p.result = Some(ScanResult::Unauthorised);
        p.message = Some(ScanResult::Unauthorised.message());
        p
    }

    pub fn forbidden(detail: impl Into<String>) -> Self {
        let mut p = Self::new(403, "forbidden", "Forbidden", detail);
        p.result = Some(ScanResult::Forbidden);
        p.message = Some(ScanResult::Forbidden.message());
        p
    }
}

/// `HH:MM` UTC of a unix time in milliseconds, for the scanner's one-line message.
pub fn hhmm_utc(at_ms: i64) -> String {
    let minutes_of_day = at_ms.div_euclid(60_000).rem_euclid(24 * 60);
    format!("{:02}:{:02} UTC", minutes_of_day / 60, minutes_of_day % 60)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::float_cmp)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_a_small_alphabet() {
        assert!(valid_id("gate-A_1.north:2@x", 64));
        assert!(!valid_id("", 64));
        assert!(!valid_id("a b", 64));
        assert!(!valid_id("a\"b", 64));
        assert!(!valid_id(&"a".repeat(65), 64));
    }

    #[test]
    fn gps_is_quantised_and_checked() {
        let g = validate_gps(GpsInput {
            lat: -6.175_392,
            lon: 106.827_153,
            accuracy_m: Some(4.2),
        })
        .unwrap();
        assert_eq!(
            g,
            Gps {
                acc_m: Some(5),
                lat_e6: -6_175_392,
                lon_e6: 106_827_153
            }
        );
        assert_eq!(g.to_output().lat, -6.175_392);
        assert!(validate_gps(GpsInput {
            lat: 91.0,
            lon: 0.0,
            accuracy_m: None
        })
        .is_err());
        assert!(validate_gps(GpsInput {
            lat: 0.0,
            lon: f64::NAN,
            accuracy_m: None
        })
        .is_err());
        assert!(validate_gps(GpsInput {
            lat: 0.0,
            lon: 0.0,
            accuracy_m: Some(-1.0)
        })
        .is_err());
    }

    #[test]
    fn scan_bodies_are_validated() {
        let ok = br#"{"qr":"KC1:ABC","gate_id":"A","scan_id":"s-1","gps":{"lat":1.5,"lon":2.5}}"#;
        let scan = parse_scan(ok).unwrap();
        assert_eq!(scan.gate_id, "A");
        assert_eq!(scan.gps.unwrap().lat_e6, 1_500_000);
        assert_eq!(parse_scan(b"{}").unwrap_err(), InputError::Body);
        assert_eq!(parse_scan(b"not json").unwrap_err(), InputError::Body);
        let unknown = br#"{"qr":"x","gate_id":"A","scan_id":"s","extra":1}"#;
        assert_eq!(parse_scan(unknown).unwrap_err(), InputError::Body);
        let bad_gate = br#"{"qr":"x","gate_id":"A B","scan_id":"s"}"#;
        assert_eq!(parse_scan(bad_gate).unwrap_err(), InputError::GateId);
        let bad_qr = "{\"qr\":\"x\\u0000\",\"gate_id\":\"A\",\"scan_id\":\"s\"}";
        assert_eq!(parse_scan(bad_qr.as_bytes()).unwrap_err(), InputError::Qr);
        let big = vec![b' '; MAX_BODY_BYTES + 1];
        assert_eq!(parse_scan(&big).unwrap_err(), InputError::Body);
    }

    #[test]
    fn every_rejection_maps_to_a_stable_result() {
        for r in Rejection::ALL {
            let result = result_for(r);
            assert_ne!(result, ScanResult::Admitted);
            let json = serde_json::to_string(&result).unwrap();
            assert_eq!(json, format!("\"{}\"", result.code()));
        }
        assert_eq!(result_for(Rejection::StaleProof), ScanResult::Stale);
        assert_eq!(result_for(Rejection::GateNotAllowed), ScanResult::WrongGate);
    }

    #[test]
    fn times_show_as_utc_minutes() {
        assert_eq!(hhmm_utc(0), "00:00 UTC");
        assert_eq!(hhmm_utc((19 * 3600 + 2 * 60 + 59) * 1000), "19:02 UTC");
    }
}
