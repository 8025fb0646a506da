//! A small bundled list of disposable-email domains (throwaway inboxes). Not exhaustive: a
//! bot farm with its own domain or a real provider passes; this only raises the cost of the
//! cheapest ones.

/// Domains whose inboxes anyone can read or create in bulk.
const DOMAINS: &[&str] = &[
    "10minutemail.com",
    "discard.email",
    "dispostable.com",
    "emailondeck.com",
    "fakeinbox.com",
    "getnada.com",
    "guerrillamail.com",
    "guerrillamail.net",
    "maildrop.cc",
    "mailinator.com",
    "mailnesia.com",
    "mintemail.com",
    "mohmal.com",
    "sharklasers.com",
    "spamgourmet.com",
    "temp-mail.org",
    "tempmail.dev",
    "tempr.email",
    "throwawaymail.com",
    "trashmail.com",
    "yopmail.com",
];

/// True when the (normalised) email's domain, or a parent of it, is on the list.
pub fn is_disposable(email: &str) -> bool {
    let Some((_, domain)) = email.rsplit_once('@') else {
        return false;
    };
    let domain = domain.to_ascii_lowercase();
    DOMAINS
        .iter()
        .any(|d| domain == *d || domain.ends_with(&format!(".{d}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn throwaway_domains_and_their_subdomains() {
        assert!(is_disposable("bot1@mailinator.com"));
        assert!(is_disposable("bot1@x.yopmail.com"));
        assert!(!is_disposable("siti@gmail.com"));
        assert!(!is_disposable("siti@notmailinator.com"));
        assert!(!is_disposable("no-at-sign"));
    }
}
