//! Blocklist keys (issue 12, part 2, first slice): what a blocked email, phone, address or device
//! is compared as. An entry will be stored as a blind index of [`canonical`]'s text (never the
//! value), so both sides must normalise alike:
//!
//! - email: lower case, the `+tag` of the local part removed (any provider: a plus-tag is how one
//!   inbox makes many addresses), and for Gmail (`gmail.com`, `googlemail.com`, which ignore dots
//!   in the local part) the dots removed and the domain made `gmail.com`;
//! - phone: E.164 ([`crate::model::normalise_phone`]: `0812…`, `62812…`, `+62 812…` alike);
//! - IP address or network: an address is checked against itself and every network containing it
//!   that an entry may name ([`ip_candidates`]): IPv4 /8 to /32, IPv6 /32, /40, /48, /56, /64 and
//!   /128; an entry's network has its host bits zero;
//! - device: the site's device id as sent (8 to 128 visible ASCII characters).
//!
//! Not built yet: the store, the admin route (console token, staff audit), the checks at
//! checkout and at the payment notification, card fingerprints.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use crate::error::{Error, Result};

/// What an entry blocks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BlockKind {
    Email,
    Phone,
    Ip,
    Device,
}

impl BlockKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Email => "email",
            Self::Phone => "phone",
            Self::Ip => "ip",
            Self::Device => "device",
        }
    }
}

/// IPv6 prefix lengths an entry may name (a lookup tries each).
pub const IPV6_PREFIXES: [u8; 6] = [32, 40, 48, 56, 64, 128];
/// The shortest IPv4 prefix an entry may name.
pub const IPV4_MIN_PREFIX: u8 = 8;

/// The email as a blocklist compares it.
///
/// # Errors
/// Not an email address.
pub fn block_email(email: &str) -> Result<String> {
    let email = crate::model::normalise_email(email)?;
    let (local, domain) = email
        .split_once('@')
        .ok_or_else(|| Error::invalid("value", "must be an email address"))?;
    let local = local.split('+').next().unwrap_or(local);
    let (local, domain) = if domain == "gmail.com" || domain == "googlemail.com" {
        (local.replace('.', ""), "gmail.com")
    } else {
        (local.to_owned(), domain)
    };
    if local.is_empty() {
        return Err(Error::invalid("value", "must be an email address"));
    }
    Ok(format!("{local}@{domain}"))
}

fn network(ip: IpAddr, prefix: u8) -> String {
    match ip {
        IpAddr::V4(v4) => {
            let bits = u32::from(v4);
            let mask = if prefix == 0 {
                0
            } else {
                u32::MAX << (32 - u32::from(prefix))
            };
            format!("{}/{prefix}", Ipv4Addr::from(bits & mask))
        }
        IpAddr::V6(v6) => {
            let bits = u128::from(v6);
            let mask = if prefix == 0 {
                0
            } else {
                u128::MAX << (128 - u32::from(prefix))
            };
            format!("{}/{prefix}", Ipv6Addr::from(bits & mask))
        }
    }
}

/// An entry's address or network (`203.0.113.7`, `203.0.113.0/24`, `2001:db8::/48`), normalised
/// to `network/prefix` with the host bits zero.
///
/// # Errors
/// Not an address, or a prefix an entry may not name.
pub fn block_network(text: &str) -> Result<String> {
    let bad = || {
        Error::invalid(
            "value",
            "an IP address or a network (IPv4 /8-/32; IPv6 /32, /40, /48, /56, /64, /128)",
        )
    };
    let (addr, prefix) = match text.trim().split_once('/') {
        Some((a, p)) => (a, Some(p.parse::<u8>().map_err(|_| bad())?)),
        None => (text.trim(), None),
    };
    let ip: IpAddr = addr.parse().map_err(|_| bad())?;
    let ip = match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        IpAddr::V4(_) => ip,
    };
    let prefix = match (ip, prefix) {
        (IpAddr::V4(_), None) => 32,
        (IpAddr::V6(_), None) => 128,
        (IpAddr::V4(_), Some(p)) if (IPV4_MIN_PREFIX..=32).contains(&p) => p,
        (IpAddr::V6(_), Some(p)) if IPV6_PREFIXES.contains(&p) => p,
        _ => return Err(bad()),
    };
    Ok(network(ip, prefix))
}

/// Every network text an entry blocking `ip` may have: the lookups for one client address.
pub fn ip_candidates(ip: IpAddr) -> Vec<String> {
    let ip = match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        IpAddr::V4(_) => ip,
    };
    match ip {
        IpAddr::V4(_) => (IPV4_MIN_PREFIX..=32).map(|p| network(ip, p)).collect(),
        IpAddr::V6(_) => IPV6_PREFIXES.iter().map(|p| network(ip, *p)).collect(),
    }
}

/// The text whose blind index names an entry: `<kind>:<normalised value>`.
///
/// # Errors
/// A value that is not of its kind.
pub fn canonical(kind: BlockKind, value: &str) -> Result<String> {
    let normalised = match kind {
        BlockKind::Email => block_email(value)?,
        BlockKind::Phone => crate::model::normalise_phone(value)?,
        BlockKind::Ip => block_network(value)?,
        BlockKind::Device => {
            let v = value.trim();
            if !(8..=128).contains(&v.len()) || !v.bytes().all(|b| b.is_ascii_graphic()) {
                return Err(Error::invalid("value", "8-128 visible ASCII characters"));
            }
            v.to_owned()
        }
    };
    Ok(format!("{}:{normalised}", kind.as_str()))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn emails_that_reach_one_inbox_are_one_entry() {
        let one = canonical(BlockKind::Email, "siti.rahma@gmail.com").unwrap();
        for same in [
            "Siti.Rahma@Gmail.com",
            "sitirahma@gmail.com",
            "s.i.t.i.rahma+flash@googlemail.com",
            " siti.rahma+bot1@gmail.com ",
        ] {
            assert_eq!(canonical(BlockKind::Email, same).unwrap(), one, "{same}");
        }
        // Dots count at other providers; plus-tags do not.
        assert_ne!(
            canonical(BlockKind::Email, "siti.rahma@yahoo.co.id").unwrap(),
            canonical(BlockKind::Email, "sitirahma@yahoo.co.id").unwrap()
        );
        assert_eq!(
            canonical(BlockKind::Email, "budi+x@example.co.id").unwrap(),
            "email:budi@example.co.id"
        );
        assert!(canonical(BlockKind::Email, "+tag@example.com").is_err());
        assert!(canonical(BlockKind::Email, "not-an-email").is_err());
    }

    #[test]
    fn phones_are_e164() {
        let one = canonical(BlockKind::Phone, "+6281234567890").unwrap();
        assert_eq!(one, "phone:+6281234567890");
        for same in ["081234567890", "6281234567890", "+62 812-3456-7890"] {
            assert_eq!(canonical(BlockKind::Phone, same).unwrap(), one, "{same}");
        }
        assert!(canonical(BlockKind::Phone, "12").is_err());
    }

    #[test]
    fn networks_are_normalised_and_an_address_finds_every_network_holding_it() {
        assert_eq!(block_network("203.0.113.77/24").unwrap(), "203.0.113.0/24");
        assert_eq!(block_network("203.0.113.77").unwrap(), "203.0.113.77/32");
        assert_eq!(
            block_network("::ffff:203.0.113.77").unwrap(),
            "203.0.113.77/32"
        );
        assert_eq!(
            block_network("2001:db8:1:2::5/48").unwrap(),
            "2001:db8:1::/48"
        );
        for bad in [
            "203.0.113.0/7",
            "203.0.113.0/33",
            "2001:db8::/47",
            "nope",
            "1.2.3.4/x",
        ] {
            assert!(block_network(bad).is_err(), "{bad}");
        }
        let client: IpAddr = "203.0.113.77".parse().unwrap();
        let candidates = ip_candidates(client);
        assert_eq!(candidates.len(), 25);
        for entry in [
            "203.0.113.77",
            "203.0.113.0/24",
            "203.0.0.0/16",
            "203.0.0.0/8",
        ] {
            assert!(
                candidates.contains(&block_network(entry).unwrap()),
                "{entry}"
            );
        }
        assert!(!candidates.contains(&block_network("203.0.114.0/24").unwrap()));
        let v6: IpAddr = "2001:db8:1:2::5".parse().unwrap();
        assert!(ip_candidates(v6).contains(&block_network("2001:db8:1::/48").unwrap()));
        assert_eq!(ip_candidates(v6).len(), IPV6_PREFIXES.len());
    }

    #[test]
    fn devices_are_bounded() {
        assert_eq!(
            canonical(BlockKind::Device, "dev-4f1c2a9b").unwrap(),
            "device:dev-4f1c2a9b"
        );
        assert!(canonical(BlockKind::Device, "short").is_err());
        assert!(canonical(BlockKind::Device, "has space inside").is_err());
    }
}
