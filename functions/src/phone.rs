//! Phone numbers as Indonesians type them (`08…`, `+62…`, `62…`, with spaces, dashes, dots or
//! brackets) to E.164 (`+6281234567890`). A pure function: checkout validates and stores the
//! E.164 form. The site applies the same rule (`web/shared/phone.js`); both are tested against
//! `phone-cases.json`.

/// Indonesia's country calling code.
const INDONESIA: &str = "62";

/// The E.164 form of `input`, or `None` when it is not a number we accept:
/// - `08…` (national, trunk prefix 0) becomes `+628…`;
/// - `+62…` and `62…` are Indonesian (a trunk `0` typed after the country code is dropped:
///   `+62 (0)812…`), with 8 to 12 digits after the country code;
/// - any other `+<country><number>` is kept when it has 8 to 15 digits (visitors from abroad);
/// - anything else (no prefix, `00…`, letters, non-ASCII digits) is refused.
pub fn to_e164(input: &str) -> Option<String> {
    let cleaned: String = input
        .trim()
        .chars()
        .filter(|c| !matches!(c, ' ' | '\t' | '-' | '.' | '(' | ')'))
        .collect();
    let digits = if let Some(rest) = cleaned.strip_prefix('+') {
        rest.to_owned()
    } else if cleaned.starts_with(INDONESIA) {
        cleaned
    } else if cleaned.starts_with('0') && !cleaned.starts_with("00") {
        format!("{INDONESIA}{}", &cleaned[1..])
    } else {
        return None;
    };
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let digits = match digits.strip_prefix("620") {
        Some(rest) => format!("{INDONESIA}{rest}"),
        None => digits,
    };
    if let Some(national) = digits.strip_prefix(INDONESIA) {
        let ok = (8..=12).contains(&national.len()) && !national.starts_with('0');
        return ok.then(|| format!("+{digits}"));
    }
    let ok = (8..=15).contains(&digits.len()) && !digits.starts_with('0');
    ok.then(|| format!("+{digits}"))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::to_e164;

    #[test]
    fn the_shared_cases() {
        let cases: serde_json::Value =
            serde_json::from_str(include_str!("phone-cases.json")).unwrap();
        let cases = cases["cases"].as_array().unwrap();
        assert!(cases.len() >= 20);
        for case in cases {
            let input = case[0].as_str().unwrap();
            let want = case[1].as_str();
            assert_eq!(to_e164(input).as_deref(), want, "{input:?}");
        }
    }

    #[test]
    fn the_three_forms_give_one_number() {
        let forms = ["0812 3456 7890", "+62 812-3456-7890", "62 812 3456 7890"];
        for f in forms {
            assert_eq!(to_e164(f).unwrap(), "+6281234567890", "{f}");
        }
    }

    #[test]
    fn e164_output_is_idempotent() {
        for n in ["+6281234567890", "+62215551234", "+61412345678"] {
            assert_eq!(to_e164(n).unwrap(), n);
            assert_eq!(to_e164(&to_e164(n).unwrap()).unwrap(), n);
        }
    }
}
