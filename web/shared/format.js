// Indonesian conventions, the same in both languages: rupiah as "Rp350.000", event times in the
// event's own IANA zone with its abbreviation (WIB, WITA, WIT) whatever the browser's zone.
import { language } from "./i18n.js";

/** Indonesia's zones and the abbreviation Indonesians use (the same in English). */
export const ZONE_ABBREVIATIONS = {
  "Asia/Jakarta": "WIB",
  "Asia/Pontianak": "WIB",
  "Asia/Makassar": "WITA",
  "Asia/Jayapura": "WIT",
};
export const DEFAULT_TIME_ZONE = "Asia/Jakarta";

const LOCALES = { id: "id-ID", en: "en-GB" };
export const locale = (lang = language()) => LOCALES[lang] ?? "id-ID";

/** Money in minor units. IDR: "Rp350.000" (Intl's id-ID output without its no-break space). */
export function formatMoney({ amount_minor, currency }, lang = language()) {
  const digits = new Intl.NumberFormat("en", { style: "currency", currency }).resolvedOptions().maximumFractionDigits;
  const value = amount_minor / 10 ** digits;
  if (currency === "IDR") {
    const text = new Intl.NumberFormat("id-ID", { style: "currency", currency: "IDR", maximumFractionDigits: 0 }).format(value);
    return text.replace(/^Rp[\s\u00a0\u202f]*/, "Rp");
  }
  return new Intl.NumberFormat(locale(lang), { style: "currency", currency }).format(value);
}

/** The abbreviation of a zone: WIB/WITA/WIT in Indonesia, else what Intl calls it. */
export function zoneAbbreviation(zone, at = new Date(), lang = language()) {
  if (ZONE_ABBREVIATIONS[zone]) return ZONE_ABBREVIATIONS[zone];
  const part = new Intl.DateTimeFormat(locale(lang), { timeZone: zone, timeZoneName: "short" })
    .formatToParts(at).find((p) => p.type === "timeZoneName");
  return part ? part.value : zone;
}

/** Unix seconds as a date and time in `zone`, with the zone's abbreviation: "Sab, 5 Des 2026
 * 19.00 WIB" / "Sat, 5 Dec 2026, 19:00 WIB". */
export function formatEventTime(unixSeconds, zone = DEFAULT_TIME_ZONE, lang = language()) {
  const at = new Date(unixSeconds * 1000);
  const text = new Intl.DateTimeFormat(locale(lang), { timeZone: zone, weekday: "short", day: "numeric", month: "short",
    year: "numeric", hour: "2-digit", minute: "2-digit", hourCycle: "h23" }).format(at);
  return `${text} ${zoneAbbreviation(zone, at, lang)}`;
}

/** A time of day (milliseconds) in `zone` (default: this device's), with its abbreviation. */
export function formatClock(ms, zone, lang = language()) {
  const z = zone || Intl.DateTimeFormat().resolvedOptions().timeZone;
  const at = new Date(ms);
  const text = new Intl.DateTimeFormat(locale(lang), { timeZone: z, hour: "2-digit", minute: "2-digit", second: "2-digit", hourCycle: "h23" }).format(at);
  return `${text} ${zoneAbbreviation(z, at, lang)}`;
}
