//! Currencies and amounts: karcis minor units, and exact conversions from what each gateway sends.
//!
//! Karcis stores an amount as an integer count of the currency's minor unit with the exponents
//! below. IDR has exponent 0: the rupiah has no sub-unit in use, and Midtrans, Xendit and Doku all
//! refuse decimal IDR amounts. Stripe counts some currencies differently (IDR in hundredths), so
//! Stripe amounts are rescaled exactly ([`stripe_exponent`]). A conversion that would need
//! rounding is refused with [`GatewayError::InvalidAmount`].

use super::GatewayError;

/// Largest amount accepted anywhere (10^15 minor units): keeps every conversion far from overflow
/// and inside the exactly representable range of a JSON number (2^53).
pub const MAX_AMOUNT: u64 = 1_000_000_000_000_000;

/// Minor-unit exponent karcis uses for a currency; `None` for a currency karcis does not sell in.
pub fn karcis_exponent(currency: &str) -> Option<u32> {
    Some(match currency {
        // No minor unit in use.
        "IDR" | "JPY" | "KRW" | "VND" | "CLP" | "ISK" | "UGX" | "XAF" | "XOF" | "PYG" => 0,
        // Three-decimal currencies.
        "BHD" | "JOD" | "KWD" | "OMR" | "TND" => 3,
        // Two decimals.
        "USD" | "EUR" | "GBP" | "SGD" | "MYR" | "PHP" | "THB" | "AUD" | "NZD" | "CAD" | "CHF"
        | "HKD" | "INR" | "CNY" | "TWD" | "DKK" | "NOK" | "SEK" | "PLN" | "CZK" | "MXN" | "BRL"
        | "ZAR" | "AED" | "SAR" => 2,
        _ => return None,
    })
}

/// Exponent Stripe uses for amounts in a currency (stripe.com/docs/currencies): zero-decimal
/// currencies are counted in units, three-decimal ones in thousandths, every other currency in
/// hundredths (including IDR, which Stripe counts in hundredths, and ISK/HUF/TWD/UGX, which
/// Stripe's API keeps in hundredths for backwards compatibility).
pub fn stripe_exponent(currency: &str) -> u32 {
    match currency {
        "BIF" | "CLP" | "DJF" | "GNF" | "JPY" | "KMF" | "KRW" | "MGA" | "PYG" | "RWF" | "VND"
        | "VUV" | "XAF" | "XOF" | "XPF" => 0,
        "BHD" | "JOD" | "KWD" | "OMR" | "TND" => 3,
        _ => 2,
    }
}

/// Validates a currency code as sent by a gateway (any case) and returns it upper-case, if karcis
/// knows it.
pub fn normalize_currency(code: &str) -> Result<String, GatewayError> {
    if code.len() != 3 || !code.bytes().all(|b| b.is_ascii_alphabetic()) {
        return Err(GatewayError::UnsupportedCurrency);
    }
    let upper = code.to_ascii_uppercase();
    karcis_exponent(&upper)
        .map(|_| upper)
        .ok_or(GatewayError::UnsupportedCurrency)
}

fn pow10(exp: u32) -> u64 {
    10u64.pow(exp)
}

/// Parses a non-negative decimal string in major units (`"150000.00"`, `"12.5"`, `"7"`) into
/// minor units with `exponent`. Fraction digits beyond the exponent must be zeros. No sign, no
/// exponent notation, no spaces.
pub fn parse_decimal(text: &str, exponent: u32) -> Result<u64, GatewayError> {
    if text.is_empty() || text.len() > 40 {
        return Err(GatewayError::InvalidAmount("not a decimal amount"));
    }
    let (int_part, frac_part) = match text.split_once('.') {
        Some((i, f)) if !f.is_empty() => (i, f),
        Some(_) => return Err(GatewayError::InvalidAmount("not a decimal amount")),
        None => (text, ""),
    };
    if int_part.is_empty()
        || !int_part.bytes().all(|b| b.is_ascii_digit())
        || !frac_part.bytes().all(|b| b.is_ascii_digit())
    {
        return Err(GatewayError::InvalidAmount("not a decimal amount"));
    }
    let exponent_len = exponent as usize;
    let (kept, dropped) = frac_part.split_at(frac_part.len().min(exponent_len));
    if dropped.bytes().any(|b| b != b'0') {
        return Err(GatewayError::InvalidAmount(
            "fraction not allowed in this currency",
        ));
    }
    let mut value: u64 = 0;
    for digit in int_part
        .bytes()
        .chain(kept.bytes())
        .chain(std::iter::repeat_n(b'0', exponent_len - kept.len()))
    {
        value = value
            .checked_mul(10)
            .and_then(|v| v.checked_add(u64::from(digit - b'0')))
            .ok_or(GatewayError::InvalidAmount("too large"))?;
    }
    check_range(value)
}

/// An amount given as a JSON number in major units (Xendit, Doku). Integers are exact; a
/// non-integer is taken as the shortest decimal that round-trips (what the sender wrote).
pub fn json_number_amount(number: &serde_json::Number, exponent: u32) -> Result<u64, GatewayError> {
    if let Some(units) = number.as_u64() {
        return units
            .checked_mul(pow10(exponent))
            .ok_or(GatewayError::InvalidAmount("too large"))
            .and_then(check_range);
    }
    if number.as_i64().is_some() {
        return Err(GatewayError::InvalidAmount("negative"));
    }
    // A float: its `Display` is the shortest representation that round-trips.
    let text = number.to_string();
    if text.starts_with('-') {
        return Err(GatewayError::InvalidAmount("negative"));
    }
    parse_decimal(&text, exponent)
}

/// Converts an integer amount counted with exponent `from` into one counted with exponent `to`,
/// exactly (e.g. Stripe's IDR hundredths into karcis IDR units).
pub fn rescale(amount: u64, from: u32, to: u32) -> Result<u64, GatewayError> {
    let value = if from >= to {
        let div = pow10(from - to);
        if amount % div != 0 {
            return Err(GatewayError::InvalidAmount(
                "fraction not allowed in this currency",
            ));
        }
        amount / div
    } else {
        amount
            .checked_mul(pow10(to - from))
            .ok_or(GatewayError::InvalidAmount("too large"))?
    };
    check_range(value)
}

/// Formats minor units as a decimal string in major units with exactly `exponent` decimals
/// (`150000` with exponent 0 -> `"150000"`; `1050` with exponent 2 -> `"10.50"`).
pub fn format_decimal(amount: u64, exponent: u32) -> String {
    if exponent == 0 {
        return amount.to_string();
    }
    let div = pow10(exponent);
    format!(
        "{}.{:0width$}",
        amount / div,
        amount % div,
        width = exponent as usize
    )
}

fn check_range(value: u64) -> Result<u64, GatewayError> {
    if value > MAX_AMOUNT {
        Err(GatewayError::InvalidAmount("too large"))
    } else {
        Ok(value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn decimals() {
        assert_eq!(parse_decimal("150000.00", 0), Ok(150_000));
        assert_eq!(parse_decimal("150000", 0), Ok(150_000));
        assert_eq!(parse_decimal("10.5", 2), Ok(1050));
        assert_eq!(parse_decimal("0.001", 3), Ok(1));
        assert_eq!(
            parse_decimal("150000.50", 0).map_err(|e| e.code()),
            Err("invalid_amount")
        );
        assert_eq!(
            parse_decimal("1.005", 2).map_err(|e| e.code()),
            Err("invalid_amount")
        );
        for bad in [
            "", ".5", "5.", "-1", "+1", "1e5", " 1", "1,000", "0x10", "１",
        ] {
            assert!(parse_decimal(bad, 0).is_err(), "{bad:?}");
        }
        assert!(parse_decimal("99999999999999999999999", 0).is_err());
    }

    #[test]
    fn json_numbers() {
        let n = |s: &str| serde_json::from_str::<serde_json::Number>(s).expect("number");
        assert_eq!(json_number_amount(&n("150000"), 0), Ok(150_000));
        assert_eq!(json_number_amount(&n("150000.0"), 0), Ok(150_000));
        assert_eq!(json_number_amount(&n("10.25"), 2), Ok(1025));
        assert!(json_number_amount(&n("150000.5"), 0).is_err());
        assert!(json_number_amount(&n("-5"), 0).is_err());
        assert!(json_number_amount(&n("-5.5"), 2).is_err());
        assert!(json_number_amount(&n("1e300"), 0).is_err());
    }

    #[test]
    fn stripe_idr_is_hundredths() {
        assert_eq!(stripe_exponent("IDR"), 2);
        assert_eq!(stripe_exponent("JPY"), 0);
        assert_eq!(rescale(15_000_000, stripe_exponent("IDR"), 0), Ok(150_000));
        assert!(rescale(15_000_050, 2, 0).is_err());
        assert_eq!(rescale(1050, 2, 2), Ok(1050));
        assert_eq!(rescale(5, 0, 2), Ok(500));
    }

    #[test]
    fn currencies() {
        assert_eq!(normalize_currency("idr"), Ok("IDR".to_owned()));
        assert_eq!(normalize_currency("USD"), Ok("USD".to_owned()));
        for bad in ["", "ID", "IDRR", "XXX", "1DR", "ÏDR"] {
            assert_eq!(
                normalize_currency(bad),
                Err(GatewayError::UnsupportedCurrency),
                "{bad:?}"
            );
        }
    }

    proptest! {
        #[test]
        fn format_then_parse_round_trips(amount in 0..=MAX_AMOUNT, exponent in 0u32..=3) {
            prop_assert_eq!(parse_decimal(&format_decimal(amount, exponent), exponent), Ok(amount));
        }

        #[test]
        fn rescale_up_then_down_round_trips(amount in 0..=MAX_AMOUNT / 1000, from in 0u32..=3, up in 0u32..=3) {
            let to = from + up;
            let scaled = rescale(amount, from, to).expect("in range");
            prop_assert_eq!(rescale(scaled, to, from), Ok(amount));
        }
    }
}
