//! Whether the door forwards its audit to the back end (`AUDIT_FORWARDING`, on unless a
//! deployment says "off"). On means configured: an ingest URL (https, or http on a loopback
//! host for local stacks) and a credential (`AUDIT_SIGNING_KEY` or `AUDIT_INGEST_TOKEN`). A
//! door that should forward but cannot refuses to work (503 `audit_forwarding_unconfigured`)
//! rather than keep its audit only in the Durable Object: the audit is the evidence of who
//! scanned what, and the back end's copy is the one that is backed up.
//! Pure (no worker bindings), so its tests run natively.

/// What the configuration says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Forwarding {
    /// `AUDIT_FORWARDING = "off"`: the operator chose a door without a back-end copy.
    Off,
    /// Forward to this URL.
    On(String),
}

/// Why forwarding is on but cannot work.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unconfigured {
    NoUrl,
    InsecureUrl,
    NoCredential,
    UnknownMode,
}

impl Unconfigured {
    pub fn detail(self) -> &'static str {
        match self {
            Self::NoUrl => "AUDIT_FORWARDING is on but AUDIT_INGEST_URL is empty",
            Self::InsecureUrl => "AUDIT_INGEST_URL must be https (http only on a loopback host)",
            Self::NoCredential => {
                "AUDIT_FORWARDING is on but neither AUDIT_SIGNING_KEY nor AUDIT_INGEST_TOKEN is set"
            }
            Self::UnknownMode => "AUDIT_FORWARDING must be \"on\" or \"off\"",
        }
    }
}

/// Decides from the variables: `mode` (`AUDIT_FORWARDING`, absent = on), `url`
/// (`AUDIT_INGEST_URL`) and whether a valid credential is bound.
pub fn decide(
    mode: Option<&str>,
    url: Option<&str>,
    has_credential: bool,
) -> Result<Forwarding, Unconfigured> {
    match mode.map_or("on", str::trim) {
        "off" => return Ok(Forwarding::Off),
        "on" | "" => {}
        _ => return Err(Unconfigured::UnknownMode),
    }
    let url = url
        .map(str::trim)
        .filter(|u| !u.is_empty())
        .ok_or(Unconfigured::NoUrl)?;
    if !(url.starts_with("https://") || is_loopback_http(url)) {
        return Err(Unconfigured::InsecureUrl);
    }
    if !has_credential {
        return Err(Unconfigured::NoCredential);
    }
    Ok(Forwarding::On(url.to_owned()))
}

fn is_loopback_http(url: &str) -> bool {
    let Some(rest) = url.strip_prefix("http://") else {
        return false;
    };
    let host_port = rest.split(['/', '?', '#']).next().unwrap_or("");
    let host = if host_port.starts_with('[') {
        host_port.split(']').next().map(|h| format!("{h}]"))
    } else {
        host_port.split(':').next().map(str::to_owned)
    };
    matches!(host.as_deref(), Some("127.0.0.1" | "localhost" | "[::1]"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn absent_mode_means_on_and_needs_url_and_credential() {
        assert_eq!(decide(None, None, true), Err(Unconfigured::NoUrl));
        assert_eq!(decide(None, Some("  "), true), Err(Unconfigured::NoUrl));
        assert_eq!(
            decide(None, Some("https://api.example/v1/audit/batches"), false),
            Err(Unconfigured::NoCredential)
        );
        assert_eq!(
            decide(None, Some("https://api.example/v1/audit/batches"), true),
            Ok(Forwarding::On(
                "https://api.example/v1/audit/batches".into()
            ))
        );
    }

    #[test]
    fn off_is_only_an_explicit_choice() {
        assert_eq!(decide(Some("off"), None, false), Ok(Forwarding::Off));
        assert_eq!(
            decide(Some("false"), None, false),
            Err(Unconfigured::UnknownMode)
        );
        assert_eq!(
            decide(Some("OFF"), None, false),
            Err(Unconfigured::UnknownMode)
        );
    }

    #[test]
    fn plain_http_only_to_loopback() {
        for url in [
            "http://127.0.0.1:8787/ingest",
            "http://localhost/ingest",
            "http://[::1]:9/x",
        ] {
            assert!(decide(Some("on"), Some(url), true).is_ok(), "{url}");
        }
        for url in [
            "http://api.example/ingest",
            "http://127.0.0.1.evil.example/ingest",
            "http://localhost.evil.example/",
            "http://127.0.0.1@evil.example/ingest",
            "ftp://127.0.0.1/",
        ] {
            assert_eq!(
                decide(Some("on"), Some(url), true),
                Err(Unconfigured::InsecureUrl),
                "{url}"
            );
        }
    }
}
