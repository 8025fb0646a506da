// Phone numbers as Indonesians type them (08…, +62…, 62…, with spaces, dashes, dots or
// brackets), to E.164. The same rule as functions/src/phone.rs, checked against the same cases
// (functions/src/phone-cases.json) in test/unit/phone.test.mjs.

/** The E.164 form of `input`, or null when it is not a phone number we accept. */
export function toE164(input) {
  const cleaned = String(input).trim().replace(/[\s.\-()]/g, "");
  let digits;
  if (cleaned.startsWith("+")) digits = cleaned.slice(1);
  else if (cleaned.startsWith("62")) digits = cleaned;
  else if (cleaned.startsWith("0") && !cleaned.startsWith("00")) digits = `62${cleaned.slice(1)}`;
  else return null;
  if (!/^[0-9]+$/.test(digits)) return null;
  if (digits.startsWith("620")) digits = `62${digits.slice(3)}`; // "+62 (0)812…": the trunk 0 goes
  if (digits.startsWith("62")) {
    // Indonesian numbers: 8 to 12 digits after the country code, never starting with 0.
    const national = digits.slice(2);
    return national.length >= 8 && national.length <= 12 && national[0] !== "0" ? `+${digits}` : null;
  }
  return digits.length >= 8 && digits.length <= 15 && digits[0] !== "0" ? `+${digits}` : null;
}
