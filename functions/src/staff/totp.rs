//! TOTP (RFC 6238, HMAC-SHA-1, 30-second steps, 6 digits): codes, a ±1-step check that says
//! which step matched (so a caller can refuse it twice), Base32 (RFC 4648) and the `otpauth://`
//! URI authenticator apps read.

use hmac::{Hmac, Mac as _};
use sha1::Sha1;
use subtle::ConstantTimeEq as _;

/// Seconds per step.
pub const STEP_SECS: u64 = 30;
/// Digits of a code.
pub const DIGITS: u32 = 6;
/// Secret length (bytes): 160 bits, RFC 4226's recommendation.
pub const SECRET_LEN: usize = 20;

/// HOTP (RFC 4226) of `counter` with `digits` digits.
pub fn hotp(secret: &[u8], counter: u64, digits: u32) -> u32 {
    let Ok(mut mac) = Hmac::<Sha1>::new_from_slice(secret) else {
        return u32::MAX;
    };
    mac.update(&counter.to_be_bytes());
    let h = mac.finalize().into_bytes();
    let offset = usize::from(h[19] & 0x0f);
    let bin = u32::from_be_bytes([
        h[offset] & 0x7f,
        h[offset + 1],
        h[offset + 2],
        h[offset + 3],
    ]);
    bin % 10u32.pow(digits)
}

/// The step of unix time `now`.
pub fn step_of(now: u64) -> u64 {
    now / STEP_SECS
}

/// The code of `step`, zero-padded.
pub fn code_at(secret: &[u8], step: u64, digits: u32) -> String {
    format!(
        "{:0width$}",
        hotp(secret, step, digits),
        width = digits as usize
    )
}

/// The step (now - 1, now or now + 1) whose code is `code`, compared in constant time; `None`
/// when none matches or `code` is not six digits.
pub fn matching_step(secret: &[u8], code: &str, now: u64) -> Option<u64> {
    if code.len() != DIGITS as usize || !code.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let current = step_of(now);
    let mut found = None;
    for step in [current.saturating_sub(1), current, current + 1] {
        let expected = code_at(secret, step, DIGITS);
        if bool::from(expected.as_bytes().ct_eq(code.as_bytes())) && found.is_none() {
            found = Some(step);
        }
    }
    found
}

/// RFC 4648 Base32, upper case, no padding (what authenticator apps expect).
pub fn base32(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    let mut out = String::with_capacity(bytes.len().div_ceil(5) * 8);
    let (mut buffer, mut bits) = (0u32, 0u32);
    for &b in bytes {
        buffer = (buffer << 8) | u32::from(b);
        bits += 8;
        while bits >= 5 {
            bits -= 5;
            out.push(char::from(ALPHABET[((buffer >> bits) & 31) as usize]));
        }
    }
    if bits > 0 {
        out.push(char::from(ALPHABET[((buffer << (5 - bits)) & 31) as usize]));
    }
    out
}

/// Decodes RFC 4648 Base32 (upper or lower case, no padding); `None` on any other character.
pub fn base32_decode(text: &str) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(text.len() * 5 / 8);
    let (mut buffer, mut bits) = (0u32, 0u32);
    for c in text.bytes() {
        let v = match c.to_ascii_uppercase() {
            c @ b'A'..=b'Z' => c - b'A',
            c @ b'2'..=b'7' => c - b'2' + 26,
            _ => return None,
        };
        buffer = (buffer << 5) | u32::from(v);
        bits += 5;
        if bits >= 8 {
            bits -= 8;
            out.push(((buffer >> bits) & 0xff) as u8);
        }
    }
    Some(out)
}

/// `otpauth://totp/{issuer}:{account}?secret=…&issuer=…&algorithm=SHA1&digits=6&period=30`.
/// `issuer` and `account` are ids (`[A-Za-z0-9._:@-]`), percent-encoded where needed.
pub fn otpauth_uri(issuer: &str, account: &str, secret: &[u8]) -> String {
    let enc = |s: &str| s.replace('@', "%40").replace(':', "%3A");
    format!(
        "otpauth://totp/{}:{}?secret={}&issuer={}&algorithm=SHA1&digits={DIGITS}&period={STEP_SECS}",
        enc(issuer),
        enc(account),
        base32(secret),
        enc(issuer)
    )
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    /// RFC 6238 Appendix B, the SHA-1 rows (secret "12345678901234567890", 8 digits).
    #[test]
    fn rfc6238_test_vectors() {
        let secret = b"12345678901234567890";
        for (time, expected) in [
            (59u64, "94287082"),
            (1_111_111_109, "07081804"),
            (1_111_111_111, "14050471"),
            (1_234_567_890, "89005924"),
            (2_000_000_000, "69279037"),
            (20_000_000_000, "65353130"),
        ] {
            assert_eq!(code_at(secret, step_of(time), 8), expected, "T = {time}");
        }
    }

    /// RFC 4226 Appendix D (HOTP, 6 digits), counters 0..=9.
    #[test]
    fn rfc4226_test_vectors() {
        let expected = [
            755_224, 287_082, 359_152, 969_429, 338_314, 254_676, 287_922, 162_583, 399_871,
            520_489,
        ];
        for (counter, code) in expected.iter().enumerate() {
            assert_eq!(hotp(b"12345678901234567890", counter as u64, 6), *code);
        }
    }

    #[test]
    fn one_step_either_side_and_no_further() {
        let secret = [7u8; SECRET_LEN];
        let now = 1_800_000_000;
        let step = step_of(now);
        for delta in [-1i64, 0, 1] {
            let s = step.checked_add_signed(delta).unwrap();
            assert_eq!(
                matching_step(&secret, &code_at(&secret, s, 6), now),
                Some(s)
            );
        }
        assert_eq!(
            matching_step(&secret, &code_at(&secret, step + 2, 6), now),
            None
        );
        assert_eq!(
            matching_step(&secret, &code_at(&secret, step - 2, 6), now),
            None
        );
        assert_eq!(matching_step(&secret, "12345", now), None);
        assert_eq!(matching_step(&secret, "12345a", now), None);
    }

    #[test]
    fn base32_and_uri() {
        // RFC 4648 section 10.
        assert_eq!(base32(b"foobar"), "MZXW6YTBOI");
        assert_eq!(base32(b"f"), "MY");
        assert_eq!(base32_decode("MZXW6YTBOI").unwrap(), b"foobar");
        assert_eq!(base32_decode(&base32(&[0xa5; 20])).unwrap(), vec![0xa5; 20]);
        assert!(base32_decode("MZ1W").is_none());
        let uri = otpauth_uri("karcis", "ops@1", b"12345678901234567890");
        assert_eq!(
            uri,
            "otpauth://totp/karcis:ops%401?secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ&issuer=karcis&algorithm=SHA1&digits=6&period=30"
        );
    }
}
