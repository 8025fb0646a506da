//! Base45 (RFC 9285): the densest text that fits a QR code's alphanumeric mode.
//!
//! Every two bytes become three characters; a trailing byte becomes two. Decoding
//! is strict: characters outside the alphabet, a dangling single character and
//! groups whose value overflows are errors, so each byte string has exactly one
//! encoding and vice versa.

const ALPHABET: &[u8; 45] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ $%*+-./:";

/// Why a string is not valid base45.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Base45Error {
    /// A character outside the 45-character alphabet.
    InvalidCharacter,
    /// The length leaves one character over (valid lengths are 0 or 2 mod 3).
    InvalidLength,
    /// A group encodes a value larger than its bytes can hold.
    Overflow,
}

/// Encodes bytes as base45 text.
#[must_use]
pub fn encode(input: &[u8]) -> String {
    let mut out = String::with_capacity(input.len().div_ceil(2) * 3);
    for chunk in input.chunks(2) {
        let (value, digits) = match *chunk {
            [a, b] => (u32::from(a) * 256 + u32::from(b), 3),
            [a] => (u32::from(a), 2),
            _ => unreachable!("chunks(2) yields one or two bytes"),
        };
        let mut v = value;
        for _ in 0..digits {
            out.push(char::from(ALPHABET[(v % 45) as usize]));
            v /= 45;
        }
    }
    out
}

fn digit(c: u8) -> Result<u32, Base45Error> {
    ALPHABET
        .iter()
        .position(|&a| a == c)
        .map(|p| u32::try_from(p).unwrap_or(0))
        .ok_or(Base45Error::InvalidCharacter)
}

/// Decodes base45 text, rejecting anything that is not the canonical encoding of some bytes.
pub fn decode(input: &str) -> Result<Vec<u8>, Base45Error> {
    let bytes = input.as_bytes();
    if bytes.len() % 3 == 1 {
        return Err(Base45Error::InvalidLength);
    }
    let mut out = Vec::with_capacity(bytes.len() / 3 * 2 + 1);
    for chunk in bytes.chunks(3) {
        match *chunk {
            [c, d, e] => {
                let v = digit(c)? + digit(d)? * 45 + digit(e)? * 45 * 45;
                let v = u16::try_from(v).map_err(|_| Base45Error::Overflow)?;
                out.extend_from_slice(&v.to_be_bytes());
            }
            [c, d] => {
                let v = digit(c)? + digit(d)? * 45;
                out.push(u8::try_from(v).map_err(|_| Base45Error::Overflow)?);
            }
            _ => return Err(Base45Error::InvalidLength),
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    // The examples of RFC 9285, section 4.
    const RFC_EXAMPLES: &[(&[u8], &str)] = &[
        (b"AB", "BB8"),
        (b"Hello!!", "%69 VD92EX0"),
        (b"base-45", "UJCLQE7W581"),
        (b"ietf!", "QED8WEX0"),
        (b"", ""),
    ];

    #[test]
    fn rfc_9285_examples_encode_and_decode() {
        for (raw, text) in RFC_EXAMPLES {
            assert_eq!(encode(raw), *text);
            assert_eq!(decode(text).as_deref(), Ok(*raw));
        }
    }

    #[test]
    fn rejects_what_rfc_9285_calls_invalid() {
        assert_eq!(decode("GGW"), Err(Base45Error::Overflow)); // 65536
        assert_eq!(decode(":::"), Err(Base45Error::Overflow));
        assert_eq!(decode("::"), Err(Base45Error::Overflow)); // 2024 > 255
        assert_eq!(decode("A"), Err(Base45Error::InvalidLength));
        assert_eq!(decode("ab8"), Err(Base45Error::InvalidCharacter)); // lowercase
        assert_eq!(decode("B\u{e9}"), Err(Base45Error::InvalidCharacter));
    }

    #[test]
    fn largest_values_round_trip() {
        assert_eq!(encode(&[0xff, 0xff]), "FGW");
        assert_eq!(decode("FGW"), Ok(vec![0xff, 0xff]));
        assert_eq!(encode(&[0xff]), "U5");
    }
}
