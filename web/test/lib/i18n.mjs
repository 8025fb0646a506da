// Browser checks of the catalogue: every text a page shows (text nodes, aria-labels and the
// title) must be a text of the current language's catalogue (placeholders filled), or data the
// test names (event and tier names, ids, prices, dates), or carry no letters at all.
import en from "../../shared/i18n/en.js";
import id from "../../shared/i18n/id.js";

export const CATALOGUES = { id, en };

/** Data a page may show outside the catalogue: prices and dates in the conventions. */
export const DATA_PATTERNS = [
  /^Rp[0-9.]+$/u.source,
  // "Sab, 5 Des 2026, 19.00 WIB" / "Sat, 5 Dec 2026, 19:00 WIB" (Intl, in the event's zone)
  /^\p{L}{3}, \d{1,2} \p{L}{3,4} \d{4},? \d{2}[.:]\d{2} (WIB|WITA|WIT)$/u.source,
  /^\d{2}[.:]\d{2}[.:]\d{2} (WIB|WITA|WIT|UTC|GMT[+-]\d+)$/u.source,
];

/** The texts of the page that come from neither the catalogue of `lang` nor the allowed data. */
export async function foreignTexts(page, lang, allow = []) {
  const values = Object.values(CATALOGUES[lang]);
  return page.evaluate(({ values, allowExact, allowPatterns }) => {
    const esc = (s) => s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
    const letters = /\p{L}.*\p{L}/su;
    // A text with placeholders matches with anything in their place, if it has words of its own.
    const templates = values.filter((v) => letters.test(v.replace(/\{\w+\}/g, "")))
      .map((v) => new RegExp(`^${v.split(/\{\w+\}/).map(esc).join("[\\s\\S]+?")}$`, "su"));
    const exact = new Set([...values.map((v) => v.trim()), ...allowExact]);
    const patterns = allowPatterns.map((p) => new RegExp(p, "u"));
    const ok = (text) => {
      if (!/\p{L}/u.test(text) || exact.has(text) || patterns.some((p) => p.test(text)) || templates.some((re) => re.test(text))) return true;
      // Pieces joined by the pages' separators ("name · tier", "start – end"), each checked.
      const parts = text.split(/ · | – /).map((s) => s.trim()).filter(Boolean);
      return parts.length > 1 && parts.every(ok);
    };
    const found = [];
    const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
    for (let n = walker.nextNode(); n; n = walker.nextNode()) {
      if (n.parentElement.closest("script, style, pre")) continue; // <pre>: the buyer's exported data
      const text = n.textContent.replace(/\s+/g, " ").trim();
      if (text && !ok(text)) found.push(text);
    }
    for (const el of document.querySelectorAll("[aria-label]")) {
      const text = el.getAttribute("aria-label").trim();
      if (text && !ok(text)) found.push(`aria-label: ${text}`);
    }
    if (!ok(document.title)) found.push(`title: ${document.title}`);
    return found;
  }, { values, allowExact: allow.filter((a) => typeof a === "string"), allowPatterns: [...DATA_PATTERNS, ...allow.filter((a) => a instanceof RegExp).map((r) => r.source)] });
}
