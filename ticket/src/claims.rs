//! What a ticket says: the claims, and their canonical binary encoding.

use core::fmt;

use p256::elliptic_curve::sec1::ToEncodedPoint;
use rand_core::CryptoRngCore;

/// Longest event id or gate name, in bytes.
pub const MAX_ID_LEN: usize = 64;
/// Most gates (check-in lists) one ticket may name.
pub const MAX_GATES: usize = 16;

/// A ticket's identity: 128 random bits, unguessable and never reused.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TicketId(pub [u8; 16]);

impl TicketId {
    /// A fresh random ticket id.
    pub fn random(rng: &mut impl CryptoRngCore) -> Self {
        let mut id = [0u8; 16];
        rng.fill_bytes(&mut id);
        Self(id)
    }

    /// Lower-case hex, 32 characters: the form used in APIs and storage.
    #[must_use]
    pub fn to_hex(&self) -> String {
        use fmt::Write;
        self.0.iter().fold(String::with_capacity(32), |mut s, b| {
            let _ = write!(s, "{b:02x}");
            s
        })
    }

    /// Parses the 32-character hex form (either case).
    pub fn from_hex(text: &str) -> Result<Self, ClaimsError> {
        let bytes = text.as_bytes();
        if bytes.len() != 32 {
            return Err(ClaimsError::BadTicketId);
        }
        let mut id = [0u8; 16];
        for (out, pair) in id.iter_mut().zip(bytes.chunks_exact(2)) {
            let hi = hex_value(pair[0]).ok_or(ClaimsError::BadTicketId)?;
            let lo = hex_value(pair[1]).ok_or(ClaimsError::BadTicketId)?;
            *out = hi << 4 | lo;
        }
        Ok(Self(id))
    }
}

fn hex_value(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    }
}

impl fmt::Debug for TicketId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TicketId({})", self.to_hex())
    }
}

impl fmt::Display for TicketId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

/// The public key of the phone a ticket is bound to (P-256, kept in compressed SEC1 form).
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct DevicePublicKey([u8; 33]);

impl DevicePublicKey {
    /// Accepts a SEC1 point, compressed (33 bytes) or uncompressed (65 bytes), that is on the curve.
    pub fn from_sec1(bytes: &[u8]) -> Result<Self, ClaimsError> {
        let key = p256::PublicKey::from_sec1_bytes(bytes).map_err(|_| ClaimsError::BadDeviceKey)?;
        let mut out = [0u8; 33];
        out.copy_from_slice(key.to_encoded_point(true).as_bytes());
        Ok(Self(out))
    }

    /// The compressed SEC1 bytes, as carried in the credential.
    #[must_use]
    pub fn to_sec1_compressed(&self) -> [u8; 33] {
        self.0
    }

    /// The uncompressed SEC1 bytes (65), the form WebCrypto's `raw` import takes.
    #[must_use]
    pub fn to_sec1_uncompressed(&self) -> Vec<u8> {
        // Checked on construction, so decoding cannot fail.
        p256::PublicKey::from_sec1_bytes(&self.0)
            .map(|k| k.to_encoded_point(false).as_bytes().to_vec())
            .unwrap_or_default()
    }
}

impl fmt::Debug for DevicePublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("DevicePublicKey(")?;
        for b in &self.0[..5] {
            write!(f, "{b:02x}")?;
        }
        f.write_str("..)")
    }
}

/// What an issuer asserts about a ticket. Signed, then sealed; never readable in the QR code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Claims {
    /// The event key set that signs and seals this ticket.
    pub kid: u32,
    pub ticket_id: TicketId,
    pub event_id: String,
    /// Gates (check-in lists) this ticket admits through; `"*"` means any gate.
    pub gates: Vec<String>,
    /// Unix seconds: the ticket admits from `not_before` to `not_after`, both inclusive.
    pub not_before: u64,
    pub not_after: u64,
    pub issued_at: u64,
    /// When set, the ticket admits only with a fresh proof signed by this device key.
    pub device_key: Option<DevicePublicKey>,
}

/// Why claims cannot be encoded or decoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClaimsError {
    BadTicketId,
    BadEventId,
    BadGate,
    NoGates,
    TooManyGates,
    InvalidWindow,
    BadDeviceKey,
    /// The bytes end early, run on, or hold a value outside its range.
    Malformed,
    UnsupportedVersion,
}

impl fmt::Display for ClaimsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let text = match self {
            Self::BadTicketId => "ticket id must be 32 hex characters",
            Self::BadEventId => "event id must be 1-64 characters of [A-Za-z0-9._-]",
            Self::BadGate => "gate must be \"*\" or 1-64 characters of [A-Za-z0-9._-]",
            Self::NoGates => "a ticket must name at least one gate (\"*\" for any)",
            Self::TooManyGates => "a ticket may name at most 16 gates",
            Self::InvalidWindow => "not_before must not be after not_after",
            Self::BadDeviceKey => "device key is not a valid P-256 SEC1 point",
            Self::Malformed => "malformed claims encoding",
            Self::UnsupportedVersion => "unsupported claims version",
        };
        f.write_str(text)
    }
}

impl std::error::Error for ClaimsError {}

/// Version byte of the claims encoding defined in FORMAT.md.
pub(crate) const CLAIMS_VERSION: u8 = 1;

fn valid_id(text: &str) -> bool {
    !text.is_empty()
        && text.len() <= MAX_ID_LEN
        && text
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}

impl Claims {
    /// Checks every field against the limits of the format.
    pub fn validate(&self) -> Result<(), ClaimsError> {
        if !valid_id(&self.event_id) {
            return Err(ClaimsError::BadEventId);
        }
        if self.gates.is_empty() {
            return Err(ClaimsError::NoGates);
        }
        if self.gates.len() > MAX_GATES {
            return Err(ClaimsError::TooManyGates);
        }
        if !self.gates.iter().all(|g| g == "*" || valid_id(g)) {
            return Err(ClaimsError::BadGate);
        }
        if self.not_before > self.not_after {
            return Err(ClaimsError::InvalidWindow);
        }
        Ok(())
    }

    /// Whether this ticket admits through `gate`.
    #[must_use]
    pub fn admits_gate(&self, gate: &str) -> bool {
        self.gates.iter().any(|g| g == "*" || g == gate)
    }

    /// The canonical encoding (FORMAT.md, "Claims"). Fails if the claims are invalid.
    pub fn encode(&self) -> Result<Vec<u8>, ClaimsError> {
        self.validate()?;
        let mut out = Vec::with_capacity(128);
        out.push(CLAIMS_VERSION);
        out.extend_from_slice(&self.kid.to_be_bytes());
        out.extend_from_slice(&self.ticket_id.0);
        push_short(&mut out, &self.event_id);
        // Length checked by validate().
        out.push(u8::try_from(self.gates.len()).map_err(|_| ClaimsError::TooManyGates)?);
        for gate in &self.gates {
            push_short(&mut out, gate);
        }
        out.extend_from_slice(&self.not_before.to_be_bytes());
        out.extend_from_slice(&self.not_after.to_be_bytes());
        out.extend_from_slice(&self.issued_at.to_be_bytes());
        match &self.device_key {
            None => out.push(0),
            Some(key) => {
                out.push(1);
                out.extend_from_slice(&key.0);
            }
        }
        Ok(out)
    }

    /// Decodes the canonical encoding. Exactly the bytes of one encoding: no trailing data,
    /// and re-encoding gives the same bytes.
    pub fn decode(bytes: &[u8]) -> Result<Self, ClaimsError> {
        let mut r = Reader { rest: bytes };
        if r.u8()? != CLAIMS_VERSION {
            return Err(ClaimsError::UnsupportedVersion);
        }
        let kid = u32::from_be_bytes(r.array()?);
        let ticket_id = TicketId(r.array()?);
        let event_id = r.short_str()?;
        let gate_count = r.u8()?;
        let gates = (0..gate_count)
            .map(|_| r.short_str())
            .collect::<Result<Vec<_>, _>>()?;
        let not_before = u64::from_be_bytes(r.array()?);
        let not_after = u64::from_be_bytes(r.array()?);
        let issued_at = u64::from_be_bytes(r.array()?);
        let device_key = match r.u8()? {
            0 => None,
            1 => Some(DevicePublicKey::from_sec1(&r.array::<33>()?)?),
            _ => return Err(ClaimsError::Malformed),
        };
        if !r.rest.is_empty() {
            return Err(ClaimsError::Malformed);
        }
        let claims = Self {
            kid,
            ticket_id,
            event_id,
            gates,
            not_before,
            not_after,
            issued_at,
            device_key,
        };
        claims.validate()?;
        Ok(claims)
    }
}

fn push_short(out: &mut Vec<u8>, text: &str) {
    // Callers validate lengths (<= MAX_ID_LEN), so this never truncates.
    out.push(u8::try_from(text.len()).unwrap_or(u8::MAX));
    out.extend_from_slice(text.as_bytes());
}

/// A cursor over untrusted bytes: every read is bounds-checked.
pub(crate) struct Reader<'a> {
    pub(crate) rest: &'a [u8],
}

impl<'a> Reader<'a> {
    pub(crate) fn take(&mut self, n: usize) -> Result<&'a [u8], ClaimsError> {
        if self.rest.len() < n {
            return Err(ClaimsError::Malformed);
        }
        let (head, tail) = self.rest.split_at(n);
        self.rest = tail;
        Ok(head)
    }

    pub(crate) fn u8(&mut self) -> Result<u8, ClaimsError> {
        Ok(self.take(1)?[0])
    }

    pub(crate) fn array<const N: usize>(&mut self) -> Result<[u8; N], ClaimsError> {
        let mut out = [0u8; N];
        out.copy_from_slice(self.take(N)?);
        Ok(out)
    }

    fn short_str(&mut self) -> Result<String, ClaimsError> {
        let len = usize::from(self.u8()?);
        let bytes = self.take(len)?;
        core::str::from_utf8(bytes)
            .map(str::to_owned)
            .map_err(|_| ClaimsError::Malformed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Claims {
        Claims {
            kid: 7,
            ticket_id: TicketId([0xab; 16]),
            event_id: "jkt-fest-2026".into(),
            gates: vec!["A".into(), "VIP".into()],
            not_before: 1_790_000_000,
            not_after: 1_790_086_400,
            issued_at: 1_789_000_000,
            device_key: None,
        }
    }

    #[test]
    fn encoding_round_trips() {
        let claims = sample();
        let bytes = claims.encode().expect("valid claims encode");
        assert_eq!(Claims::decode(&bytes), Ok(claims));
    }

    #[test]
    fn trailing_bytes_are_refused() {
        let mut bytes = sample().encode().expect("valid claims encode");
        bytes.push(0);
        assert_eq!(Claims::decode(&bytes), Err(ClaimsError::Malformed));
    }

    #[test]
    fn invalid_claims_do_not_encode() {
        let mut c = sample();
        c.event_id = "has space".into();
        assert_eq!(c.encode(), Err(ClaimsError::BadEventId));
        let mut c = sample();
        c.gates.clear();
        assert_eq!(c.encode(), Err(ClaimsError::NoGates));
        let mut c = sample();
        c.gates = vec!["g".into(); 17];
        assert_eq!(c.encode(), Err(ClaimsError::TooManyGates));
        let mut c = sample();
        c.not_after = c.not_before - 1;
        assert_eq!(c.encode(), Err(ClaimsError::InvalidWindow));
        let mut c = sample();
        c.event_id = "x".repeat(65);
        assert_eq!(c.encode(), Err(ClaimsError::BadEventId));
    }

    #[test]
    fn gate_entitlement() {
        let mut c = sample();
        assert!(c.admits_gate("A"));
        assert!(!c.admits_gate("B"));
        c.gates = vec!["*".into()];
        assert!(c.admits_gate("B"));
    }

    #[test]
    fn ticket_id_hex_round_trips_and_rejects_junk() {
        let id = TicketId([
            0x01, 0x23, 0x45, 0x67, 0x89, 0xab, 0xcd, 0xef, 0, 0, 0, 0, 0, 0, 0, 0xff,
        ]);
        assert_eq!(TicketId::from_hex(&id.to_hex()), Ok(id));
        assert_eq!(TicketId::from_hex(&id.to_hex().to_uppercase()), Ok(id));
        assert!(TicketId::from_hex("zz").is_err());
        assert!(TicketId::from_hex(&"g".repeat(32)).is_err());
    }

    #[test]
    fn device_key_must_be_on_the_curve() {
        assert!(DevicePublicKey::from_sec1(&[4u8; 65]).is_err());
        assert!(DevicePublicKey::from_sec1(&[2u8; 32]).is_err());
        assert!(DevicePublicKey::from_sec1(&[]).is_err());
        let point = p256::SecretKey::from_bytes(&[7u8; 32].into())
            .expect("7..7 is a valid scalar")
            .public_key();
        let uncompressed = point.to_encoded_point(false);
        let key = DevicePublicKey::from_sec1(uncompressed.as_bytes()).expect("on the curve");
        assert_eq!(key.to_sec1_uncompressed(), uncompressed.as_bytes());
        assert_eq!(
            DevicePublicKey::from_sec1(&key.to_sec1_compressed()),
            Ok(key)
        );
    }
}
