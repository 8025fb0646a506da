//! The bytes on the wire: domain-separation tags, the messages that get signed, and the
//! QR payload envelope. FORMAT.md is the normative description; this file implements it.

use crate::claims::{ClaimsError, Reader, TicketId};

/// Every karcis QR text starts with this; the version digit changes with the format.
pub const QR_PREFIX: &str = "KC1:";
/// Version byte of the binary QR payload.
pub(crate) const PAYLOAD_VERSION: u8 = 1;
pub(crate) const KIND_STATIC: u8 = 0;
pub(crate) const KIND_ROTATING: u8 = 1;
/// A device proof is accepted when its timestamp is within this many seconds of the verifier's clock.
pub const DEFAULT_FRESHNESS_SECS: u64 = 30;

const CREDENTIAL_TAG: &[u8] = b"karcis/credential/v1";
const DEVICE_PROOF_TAG: &[u8] = b"karcis/device-proof/v1";
const QR_AAD_TAG: &[u8] = b"karcis/qr/v1";

pub(crate) const KID_LEN: usize = 4;
pub(crate) const NONCE_LEN: usize = 12;
pub(crate) const TAG_LEN: usize = 16;
pub(crate) const SIGNATURE_LEN: usize = 64;
/// The longest QR text a valid ticket can produce (16 gates of 64 bytes, a device proof);
/// anything longer is refused before decoding.
pub(crate) const MAX_QR_TEXT_LEN: usize = 2048;

/// The exact bytes the issuer signs: a domain-separation tag, then the encoded claims.
#[must_use]
pub fn credential_signing_message(encoded_claims: &[u8]) -> Vec<u8> {
    let mut msg = Vec::with_capacity(CREDENTIAL_TAG.len() + encoded_claims.len());
    msg.extend_from_slice(CREDENTIAL_TAG);
    msg.extend_from_slice(encoded_claims);
    msg
}

/// The exact bytes a phone signs to prove, at `timestamp`, that it holds the ticket's device key.
///
/// `event_id` must be a valid event id (at most 64 bytes); a longer one is cut to its
/// first 255 bytes, which never matches a real credential.
#[must_use]
pub fn device_proof_message(ticket_id: &TicketId, event_id: &str, timestamp: u64) -> Vec<u8> {
    let event = &event_id.as_bytes()[..event_id.len().min(usize::from(u8::MAX))];
    let mut msg = Vec::with_capacity(DEVICE_PROOF_TAG.len() + 16 + 1 + event.len() + 8);
    msg.extend_from_slice(DEVICE_PROOF_TAG);
    msg.extend_from_slice(&ticket_id.0);
    msg.push(u8::try_from(event.len()).unwrap_or(u8::MAX));
    msg.extend_from_slice(event);
    msg.extend_from_slice(&timestamp.to_be_bytes());
    msg
}

/// The AES-GCM associated data: binds the ciphertext to the payload version and key id.
#[must_use]
pub fn qr_associated_data(kid: u32) -> Vec<u8> {
    let mut aad = Vec::with_capacity(QR_AAD_TAG.len() + 1 + KID_LEN);
    aad.extend_from_slice(QR_AAD_TAG);
    aad.push(PAYLOAD_VERSION);
    aad.extend_from_slice(&kid.to_be_bytes());
    aad
}

/// How the credential is presented.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Presentation {
    Static,
    Rotating {
        timestamp: u64,
        device_signature: [u8; SIGNATURE_LEN],
    },
}

/// A QR payload split into its parts; the sealed part is still encrypted.
#[derive(Debug)]
pub(crate) struct Payload<'a> {
    pub presentation: Presentation,
    pub kid: u32,
    pub nonce: [u8; NONCE_LEN],
    pub ciphertext: &'a [u8],
}

pub(crate) fn encode_payload(presentation: &Presentation, sealed: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(2 + 8 + SIGNATURE_LEN + sealed.len());
    out.push(PAYLOAD_VERSION);
    match presentation {
        Presentation::Static => out.push(KIND_STATIC),
        Presentation::Rotating {
            timestamp,
            device_signature,
        } => {
            out.push(KIND_ROTATING);
            out.extend_from_slice(&timestamp.to_be_bytes());
            out.extend_from_slice(device_signature);
        }
    }
    out.extend_from_slice(sealed);
    out
}

/// Why a payload could not be split.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum PayloadError {
    Malformed,
    UnsupportedVersion,
}

impl From<ClaimsError> for PayloadError {
    fn from(_: ClaimsError) -> Self {
        Self::Malformed
    }
}

pub(crate) fn decode_payload(bytes: &[u8]) -> Result<Payload<'_>, PayloadError> {
    let mut r = Reader { rest: bytes };
    if r.u8()? != PAYLOAD_VERSION {
        return Err(PayloadError::UnsupportedVersion);
    }
    let presentation = match r.u8()? {
        KIND_STATIC => Presentation::Static,
        KIND_ROTATING => Presentation::Rotating {
            timestamp: u64::from_be_bytes(r.array()?),
            device_signature: r.array()?,
        },
        _ => return Err(PayloadError::Malformed),
    };
    let sealed = split_sealed(r.rest)?;
    Ok(Payload {
        presentation,
        ..sealed
    })
}

/// Splits `kid || nonce || ciphertext` (the sealed credential).
pub(crate) fn split_sealed(bytes: &[u8]) -> Result<Payload<'_>, PayloadError> {
    let mut r = Reader { rest: bytes };
    let kid = u32::from_be_bytes(r.array()?);
    let nonce = r.array()?;
    // At least the tag and one byte of plaintext.
    if r.rest.len() <= TAG_LEN {
        return Err(PayloadError::Malformed);
    }
    Ok(Payload {
        presentation: Presentation::Static,
        kid,
        nonce,
        ciphertext: r.rest,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payload_round_trips_both_kinds() {
        let sealed = [[0, 0, 0, 9].as_slice(), &[1u8; 12], &[2u8; 40]].concat();
        for presentation in [
            Presentation::Static,
            Presentation::Rotating {
                timestamp: 1_790_000_000,
                device_signature: [3u8; 64],
            },
        ] {
            let bytes = encode_payload(&presentation, &sealed);
            let p = decode_payload(&bytes).expect("round trip");
            assert_eq!(p.presentation, presentation);
            assert_eq!(p.kid, 9);
            assert_eq!(p.nonce, [1u8; 12]);
            assert_eq!(p.ciphertext, &[2u8; 40]);
        }
    }

    #[test]
    fn unknown_version_and_kind_are_refused() {
        let sealed = [[0u8; 16].as_slice(), &[2u8; 40]].concat();
        let mut bytes = encode_payload(&Presentation::Static, &sealed);
        bytes[0] = 2;
        assert_eq!(
            decode_payload(&bytes).err(),
            Some(PayloadError::UnsupportedVersion)
        );
        bytes[0] = PAYLOAD_VERSION;
        bytes[1] = 7;
        assert_eq!(decode_payload(&bytes).err(), Some(PayloadError::Malformed));
    }

    #[test]
    fn device_proof_message_layout() {
        let msg = device_proof_message(&TicketId([0x11; 16]), "ev", 0x0102);
        let expected = [
            b"karcis/device-proof/v1".as_slice(),
            &[0x11; 16],
            &[2],
            b"ev",
            &[0, 0, 0, 0, 0, 0, 1, 2],
        ]
        .concat();
        assert_eq!(msg, expected);
    }
}
