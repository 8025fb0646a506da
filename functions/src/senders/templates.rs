//! The message catalogues: one JSON file per language in `templates/` (Bahasa Indonesia, the
//! default, and English), each with the same templates, each template with an email subject and
//! text, an SMS text, and the name and parameters of its WhatsApp template (which Meta must have
//! approved under that name, in that language).
//!
//! Placeholders are `{name}`: a parameter of the message, or one derived here: `{amount}` (from
//! `amount_minor` and `currency`: `Rp350.000`), `{site_url}`, `{unsubscribe_url}` (marketing
//! templates). A placeholder without a value fails the render (the message is retried, then goes
//! to the DLQ) rather than sending a half-filled message.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::OnceLock;

use serde::Deserialize;

use crate::error::{Error, Result};
use crate::ports::Lang;

/// Every template the functions send (a catalogue missing one fails its test).
pub const TEMPLATES: [&str; 6] = [
    "tickets_ready",
    "privacy_code",
    "purchase_otp",
    "refund_notice",
    "incident_notice",
    "event_news",
];

const CATALOGUE_ID: &str = include_str!("templates/id.json");
const CATALOGUE_EN: &str = include_str!("templates/en.json");

/// One template in one language, as written in the catalogue.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Entry {
    pub subject: String,
    pub text: String,
    pub sms: String,
    pub whatsapp: WhatsAppEntry,
    /// Marketing (needs the buyer's consent; carries an unsubscribe link and header).
    #[serde(default)]
    pub marketing: bool,
}

/// The WhatsApp template a message maps to: its approved name and its body parameters in order.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WhatsAppEntry {
    pub name: String,
    pub params: Vec<String>,
    /// An authentication (one-time code) template: the code also fills its copy-code button.
    #[serde(default)]
    pub otp: bool,
}

type Catalogue = BTreeMap<String, Entry>;

fn catalogues() -> Result<&'static (Catalogue, Catalogue)> {
    static CATALOGUES: OnceLock<std::result::Result<(Catalogue, Catalogue), String>> =
        OnceLock::new();
    CATALOGUES
        .get_or_init(|| {
            let parse = |text: &str, lang: &str| {
                serde_json::from_str::<Catalogue>(text)
                    .map_err(|e| format!("catalogue {lang}: {e}"))
            };
            Ok((parse(CATALOGUE_ID, "id")?, parse(CATALOGUE_EN, "en")?))
        })
        .as_ref()
        .map_err(Error::internal)
}

/// The catalogue of a language.
pub fn catalogue(lang: Lang) -> Result<&'static BTreeMap<String, Entry>> {
    let (id, en) = catalogues()?;
    Ok(match lang {
        Lang::Id => id,
        Lang::En => en,
    })
}

/// A message ready for a channel.
#[derive(Clone, PartialEq, Eq)]
pub struct Rendered {
    pub subject: String,
    pub text: String,
    pub sms: String,
    /// WhatsApp template name, language code and body parameters.
    pub whatsapp_name: String,
    pub whatsapp_language: &'static str,
    pub whatsapp_params: Vec<String>,
    /// The one-time code for an authentication template's button.
    pub whatsapp_otp: Option<String>,
    /// Set for marketing templates (the `List-Unsubscribe` target).
    pub unsubscribe_url: Option<String>,
}

impl std::fmt::Debug for Rendered {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Rendered")
            .field("whatsapp_name", &self.whatsapp_name)
            .finish_non_exhaustive()
    }
}

/// `Rp350.000` for rupiah (no minor unit); `USD 12.50` style for other currencies.
pub fn format_money(amount_minor: u64, currency: &str) -> String {
    let exponent = crate::gateway::money::karcis_exponent(currency).unwrap_or(2);
    let unit = 10u64.pow(exponent);
    let whole = group_thousands(amount_minor / unit);
    if currency == "IDR" {
        return format!("Rp{whole}");
    }
    if exponent == 0 {
        format!("{currency} {whole}")
    } else {
        let fraction = amount_minor % unit;
        let width = exponent as usize;
        format!("{currency} {whole},{fraction:0width$}")
    }
}

fn group_thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push('.');
        }
        out.push(c);
    }
    out
}

/// Fills `{name}` placeholders from `values`; a placeholder without a value is an error.
fn fill(template: &str, values: &BTreeMap<String, String>, what: &str) -> Result<String> {
    let mut out = String::with_capacity(template.len() + 64);
    let mut rest = template;
    while let Some(open) = rest.find('{') {
        out.push_str(&rest[..open]);
        let after = &rest[open + 1..];
        let close = after
            .find('}')
            .ok_or_else(|| Error::internal(format!("{what}: unclosed placeholder")))?;
        let name = &after[..close];
        let value = values
            .get(name)
            .ok_or_else(|| Error::internal(format!("{what}: no value for {{{name}}}")))?;
        out.push_str(value);
        rest = &after[close + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

/// The placeholders a text uses.
pub fn placeholders(text: &str) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    let mut rest = text;
    while let Some(open) = rest.find('{') {
        let after = &rest[open + 1..];
        let Some(close) = after.find('}') else { break };
        names.insert(after[..close].to_owned());
        rest = &after[close + 1..];
    }
    names
}

/// Renders `template` in `lang` with the message's parameters. `site_url` is the buyer site
/// (links in the messages).
pub fn render(
    template: &str,
    lang: Lang,
    params: &BTreeMap<String, String>,
    site_url: &str,
) -> Result<Rendered> {
    let entry = catalogue(lang)?
        .get(template)
        .ok_or_else(|| Error::invalid("template", "unknown template"))?;
    let mut values = params.clone();
    let site_url = site_url.trim_end_matches('/');
    values.insert("site_url".into(), site_url.to_owned());
    if let (Some(amount), Some(currency)) = (params.get("amount_minor"), params.get("currency")) {
        let amount = amount
            .parse::<u64>()
            .map_err(|_| Error::invalid("amount_minor", "not a number"))?;
        values.insert("amount".into(), format_money(amount, currency));
    }
    let unsubscribe_url = entry
        .marketing
        .then(|| format!("{site_url}/privacy.html#marketing"));
    if let Some(url) = &unsubscribe_url {
        values.insert("unsubscribe_url".into(), url.clone());
    }
    let whatsapp_params = entry
        .whatsapp
        .params
        .iter()
        .map(|p| {
            values
                .get(p)
                .cloned()
                .ok_or_else(|| Error::internal(format!("{template}: no value for {p}")))
        })
        .collect::<Result<Vec<_>>>()?;
    Ok(Rendered {
        subject: fill(&entry.subject, &values, template)?,
        text: fill(&entry.text, &values, template)?,
        sms: fill(&entry.sms, &values, template)?,
        whatsapp_name: entry.whatsapp.name.clone(),
        whatsapp_language: lang.as_str(),
        whatsapp_otp: if entry.whatsapp.otp {
            Some(
                values
                    .get("code")
                    .cloned()
                    .ok_or_else(|| Error::internal(format!("{template}: no code")))?,
            )
        } else {
            None
        },
        whatsapp_params,
        unsubscribe_url,
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn sample_params() -> BTreeMap<String, String> {
        [
            ("order_id", "ord_0123"),
            ("event_id", "jakarta-fest"),
            ("code", "12345678"),
            ("minutes", "10"),
            ("amount_minor", "350000"),
            ("currency", "IDR"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect()
    }

    #[test]
    fn both_catalogues_have_every_template_with_the_same_placeholders() {
        for lang in Lang::ALL {
            let c = catalogue(lang).unwrap();
            for t in TEMPLATES {
                assert!(
                    c.contains_key(t),
                    "template {t} missing in {}",
                    lang.as_str()
                );
            }
            assert_eq!(
                c.len(),
                TEMPLATES.len(),
                "{}: unlisted template",
                lang.as_str()
            );
        }
        let (id, en) = (catalogue(Lang::Id).unwrap(), catalogue(Lang::En).unwrap());
        for (name, a) in id {
            let b = &en[name];
            for (x, y) in [
                (&a.subject, &b.subject),
                (&a.text, &b.text),
                (&a.sms, &b.sms),
            ] {
                assert_eq!(
                    placeholders(x),
                    placeholders(y),
                    "{name}: placeholders differ"
                );
            }
            assert_eq!(a.whatsapp.name, b.whatsapp.name, "{name}");
            assert_eq!(a.whatsapp.params, b.whatsapp.params, "{name}");
            assert_eq!(a.marketing, b.marketing, "{name}");
        }
    }

    #[test]
    fn a_missing_template_or_parameter_fails() {
        assert!(render("no_such", Lang::Id, &sample_params(), "https://s").is_err());
        let mut p = sample_params();
        p.remove("code");
        assert!(render("privacy_code", Lang::En, &p, "https://s").is_err());
        assert!(fill("a {x", &BTreeMap::new(), "t").is_err());
    }

    #[test]
    fn every_template_renders_in_both_languages() {
        for lang in Lang::ALL {
            for t in TEMPLATES {
                let r = render(t, lang, &sample_params(), "https://tiket.example/").unwrap();
                for text in [&r.subject, &r.text, &r.sms] {
                    assert!(!text.contains('{') && !text.is_empty(), "{t}: {text}");
                }
                assert!(r.sms.chars().count() <= 320, "{t}: SMS too long");
                assert_eq!(r.whatsapp_language, lang.as_str());
            }
        }
        let r = render("purchase_otp", Lang::Id, &sample_params(), "https://s").unwrap();
        assert!(r.subject.contains("Rp350.000"), "{}", r.subject);
        assert!(r.text.contains("12345678") && r.text.contains("Jangan"));
        assert_eq!(r.whatsapp_otp.as_deref(), Some("12345678"));
        let r = render("purchase_otp", Lang::En, &sample_params(), "https://s").unwrap();
        assert!(r.text.contains("Never share"));
    }

    #[test]
    fn marketing_carries_an_unsubscribe_link_and_transactional_does_not() {
        let r = render(
            "event_news",
            Lang::Id,
            &sample_params(),
            "https://tiket.example",
        )
        .unwrap();
        let url = r.unsubscribe_url.clone().unwrap();
        assert_eq!(url, "https://tiket.example/privacy.html#marketing");
        assert!(r.text.contains(&url));
        let r = render("tickets_ready", Lang::Id, &sample_params(), "https://s").unwrap();
        assert!(r.unsubscribe_url.is_none());
    }

    #[test]
    fn rupiah_and_other_currencies() {
        assert_eq!(format_money(350_000, "IDR"), "Rp350.000");
        assert_eq!(format_money(1_500_000, "IDR"), "Rp1.500.000");
        assert_eq!(format_money(999, "IDR"), "Rp999");
        assert_eq!(format_money(0, "IDR"), "Rp0");
        assert_eq!(format_money(1_250, "USD"), "USD 12,50");
        assert_eq!(format_money(5_000, "JPY"), "JPY 5.000");
    }
}
