//! Passwords: the policy (length, a bundled list of common and breached passwords), argon2id
//! hashing to a PHC string (OWASP parameters: m = 19456 KiB, t = 2, p = 1), and verification
//! that costs the same whether or not the user exists (a dummy PHC with the same parameters).

use std::sync::OnceLock;

use argon2::password_hash::{PasswordHash, PasswordHasher as _, PasswordVerifier as _, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use zeroize::Zeroizing;

use crate::error::{Error, Result};
use crate::ports::Rng;

/// Shortest password accepted (characters).
pub const MIN_PASSWORD_CHARS: usize = 12;
/// Longest password accepted (bytes): bounds the work a request may ask for.
pub const MAX_PASSWORD_BYTES: usize = 256;
/// argon2id memory (KiB), passes and lanes: OWASP's recommendation.
pub const ARGON2_M_KIB: u32 = 19_456;
pub const ARGON2_T: u32 = 2;
pub const ARGON2_P: u32 = 1;

const COMMON: &str = include_str!("common_passwords.txt");

fn argon2() -> Result<Argon2<'static>> {
    let params = Params::new(ARGON2_M_KIB, ARGON2_T, ARGON2_P, None).map_err(Error::internal)?;
    Ok(Argon2::new(Algorithm::Argon2id, Version::V0x13, params))
}

/// True when `password` (lower-cased) is in the bundled list.
pub fn is_common(password: &str) -> bool {
    let lower = password.to_lowercase();
    COMMON
        .lines()
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .any(|l| l == lower)
}

/// The password rules: 12..=256 bytes-worth of text, not in the common list, at least five
/// distinct characters, not the username. The error never repeats the password.
pub fn check_policy(staff_id: &str, password: &str) -> Result<()> {
    if password.chars().count() < MIN_PASSWORD_CHARS || password.len() > MAX_PASSWORD_BYTES {
        return Err(Error::invalid(
            "password",
            "12 characters or more (at most 256 bytes)",
        ));
    }
    let distinct: std::collections::BTreeSet<char> = password.chars().collect();
    if distinct.len() < 5
        || is_common(password)
        || password.to_lowercase().contains(&staff_id.to_lowercase())
    {
        return Err(Error::invalid(
            "password",
            "too common or too easy to guess: choose another",
        ));
    }
    Ok(())
}

/// The argon2id PHC string of `password` with a fresh 16-byte salt.
pub fn hash_password(password: &str, rng: &dyn Rng) -> Result<String> {
    let mut salt = [0u8; 16];
    rng.fill(&mut salt);
    let salt = SaltString::encode_b64(&salt).map_err(Error::internal)?;
    let phc = argon2()?
        .hash_password(password.as_bytes(), &salt)
        .map_err(Error::internal)?;
    Ok(phc.to_string())
}

/// A PHC string of a random password with the same parameters, computed once: unknown users
/// are checked against it so that they cost what a known user costs.
fn dummy_phc() -> &'static str {
    static DUMMY: OnceLock<String> = OnceLock::new();
    DUMMY.get_or_init(|| {
        let mut bytes = [0u8; 16];
        crate::ports::OsRng.fill(&mut bytes);
        let password = Zeroizing::new(hex::encode(bytes));
        hash_password(&password, &crate::ports::OsRng).unwrap_or_default()
    })
}

/// True when `password` matches `phc`; with `None` (no such user, or no password set) the
/// same work is done against a dummy hash and the answer is false. A stored PHC that is not
/// argon2id with at least the parameters above is refused (false).
pub fn verify_password(phc: Option<&str>, password: &str) -> bool {
    let (text, real) = match phc {
        Some(p) => (p, true),
        None => (dummy_phc(), false),
    };
    let Ok(parsed) = PasswordHash::new(text) else {
        return false;
    };
    let strong = parsed.algorithm.as_str() == "argon2id"
        && Params::try_from(&parsed).is_ok_and(|p| {
            p.m_cost() >= ARGON2_M_KIB && p.t_cost() >= ARGON2_T && p.p_cost() >= ARGON2_P
        });
    let ok = argon2().is_ok_and(|a| a.verify_password(password.as_bytes(), &parsed).is_ok());
    ok && real && strong
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn the_policy_refuses_short_common_and_own_name() {
        assert!(check_policy("door-1", "short-pass1").is_err());
        assert!(check_policy("door-1", "Password1234").is_err());
        assert!(check_policy("door-1", "aaaaaaaaaaaaaaaa").is_err());
        assert!(check_policy("door-1", "my door-1 pass!").is_err());
        assert!(check_policy("door-1", &"x".repeat(300)).is_err());
        assert!(check_policy("door-1", "plum kettle violet 42").is_ok());
        let err = format!("{:?}", check_policy("door-1", "Password1234").unwrap_err());
        assert!(!err.contains("Password1234"), "{err}");
    }

    #[test]
    fn hashes_are_argon2id_with_owasp_parameters_and_verify() {
        let phc = hash_password("plum kettle violet 42", &crate::ports::OsRng).unwrap();
        assert!(phc.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{phc}");
        assert!(!phc.contains("plum"));
        assert!(verify_password(Some(&phc), "plum kettle violet 42"));
        assert!(!verify_password(Some(&phc), "plum kettle violet 43"));
        // Unknown user: false, even for the password that made the dummy.
        assert!(!verify_password(None, "plum kettle violet 42"));
        // A weaker stored hash is refused.
        let weak = Argon2::new(
            Algorithm::Argon2id,
            Version::V0x13,
            Params::new(1024, 1, 1, None).unwrap(),
        )
        .hash_password(
            b"plum kettle violet 42",
            &SaltString::encode_b64(&[7u8; 16]).unwrap(),
        )
        .unwrap()
        .to_string();
        assert!(!verify_password(Some(&weak), "plum kettle violet 42"));
    }
}
