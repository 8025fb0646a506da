// The catalogues: the same keys and placeholders in both languages, every key the pages use
// present, every code the servers send (problem types, scan results, order statuses) translated;
// the language choice; Indonesian conventions (Rp350.000, WIB/WITA/WIT in the event's zone).
import assert from "node:assert/strict";
import { readdirSync, readFileSync } from "node:fs";
import path from "node:path";
import { describe, test } from "node:test";
import { fileURLToPath } from "node:url";
import en from "../../shared/i18n/en.js";
import id from "../../shared/i18n/id.js";
import { interpolate, pickLanguage } from "../../shared/i18n.js";
import { formatEventTime, formatMoney, ZONE_ABBREVIATIONS } from "../../shared/format.js";

const web = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
const repo = path.resolve(web, "..");
const CATALOGUES = { id, en };
const placeholders = (text) => [...text.matchAll(/\{(\w+)\}/g)].map((m) => m[1]).sort();

function sources() {
  const out = [];
  for (const dir of ["site", "site/js", "scanner", "shared"]) {
    for (const f of readdirSync(path.join(web, dir))) {
      if (/\.(html|js)$/.test(f)) out.push({ file: `${dir}/${f}`, text: readFileSync(path.join(web, dir, f), "utf8") });
    }
  }
  return out;
}

/** Keys the pages name literally: data-i18n="k", data-i18n-attr="a:k", t("k"), I18nError("k"),
 * and quoted "namespace.key" strings (state kept as keys, e.g. the bundle's status). */
function usedKeys() {
  const keys = new Map();
  const namespaces = Object.keys(en).map((k) => k.split(".")[0]);
  const quoted = new RegExp(`["'\`]((?:${[...new Set(namespaces)].join("|")})\\.[A-Za-z0-9_.-]+)["'\`]`, "g");
  for (const { file, text } of sources()) {
    if (file.startsWith("shared/i18n")) continue;
    const found = [
      ...[...text.matchAll(/data-i18n="([^"]+)"/g)].map((m) => m[1]),
      ...[...text.matchAll(/data-i18n-attr="([^"]+)"/g)].flatMap((m) => m[1].split(";").map((p) => p.split(":")[1])),
      ...[...text.matchAll(/\bt\("([^"]+)"/g)].map((m) => m[1]),
      ...[...text.matchAll(quoted)].map((m) => m[1]),
    ];
    for (const k of found) if (!k.endsWith(".")) keys.set(k, file);
  }
  return keys;
}

/** The quoted strings of a Rust function's body (the first `fn name` in the file). */
function rustStrings(file, fnName) {
  const text = readFileSync(path.join(repo, file), "utf8");
  const start = text.indexOf(`fn ${fnName}(`);
  assert.ok(start >= 0, `${file}: fn ${fnName}`);
  const body = text.slice(start, text.indexOf("\n    }\n", start));
  return [...body.matchAll(/=> "([a-z_-]+)"/g)].map((m) => m[1]);
}

describe("catalogues", () => {
  test("both languages have the same keys, each a non-empty text with the same placeholders", () => {
    assert.deepEqual(Object.keys(id).filter((k) => !(k in en)), [], "keys missing in en");
    assert.deepEqual(Object.keys(en).filter((k) => !(k in id)), [], "keys missing in id");
    for (const [lang, cat] of Object.entries(CATALOGUES)) {
      for (const [k, v] of Object.entries(cat)) assert.ok(typeof v === "string" && v.length > 0, `${lang}: ${k} is empty`);
    }
    for (const k of Object.keys(en)) assert.deepEqual(placeholders(id[k]), placeholders(en[k]), `placeholders of ${k}`);
  });

  test("every key the pages use is in both catalogues", () => {
    const used = usedKeys();
    assert.ok(used.size > 100, `found ${used.size} keys in the sources`);
    for (const [k, file] of used) {
      for (const [lang, cat] of Object.entries(CATALOGUES)) assert.ok(k in cat, `${file}: "${k}" missing in ${lang}`);
    }
  });

  test("every problem type, scan result and order status the servers send has its text", () => {
    const problems = rustStrings("functions/src/error.rs", "slug");
    assert.ok(problems.includes("invalid-field") && problems.length >= 15, problems.join());
    const edgeText = readFileSync(path.join(repo, "edge-worker/src/api.rs"), "utf8");
    const edgeProblems = ["unauthorised", "forbidden", "invalid_request"];
    for (const f of readdirSync(path.join(repo, "edge-worker/src"))) {
      if (!f.endsWith(".rs")) continue;
      const text = readFileSync(path.join(repo, "edge-worker/src", f), "utf8");
      for (const m of text.matchAll(/Problem::new\(\s*\d+,\s*"([a-z_]+)"/g)) edgeProblems.push(m[1]);
    }
    assert.ok(edgeProblems.length > 10, edgeProblems.join());
    const results = rustStrings("edge-worker/src/api.rs", "code");
    assert.ok(results.includes("already_admitted") && results.length === 12, results.join());
    assert.match(edgeText, /pub enum ScanResult/);
    const statuses = rustStrings("functions/src/model.rs", "as_str").map((s) => s.toLowerCase());
    for (const [lang, cat] of Object.entries(CATALOGUES)) {
      for (const p of [...problems, ...edgeProblems, "no_backend", "upstream"]) {
        assert.ok(cat[`problem.${p}.title`] && cat[`problem.${p}.detail`], `${lang}: problem ${p}`);
      }
      for (const r of [...results.filter((r) => r !== "admitted"), "unavailable"]) assert.ok(cat[`scan.reason.${r}`], `${lang}: scan result ${r}`);
      for (const s of statuses) assert.ok(cat[`order.status.${s}`] && cat[`return.msg.${s}`], `${lang}: order status ${s}`);
    }
  });

  test("the door's verdicts", () => {
    assert.deepEqual([id["scan.verdict.admitted"], id["scan.verdict.already"], id["scan.verdict.refused"]], ["MASUK", "SUDAH MASUK", "DITOLAK"]);
    assert.deepEqual([en["scan.verdict.admitted"], en["scan.verdict.already"], en["scan.verdict.refused"]], ["ADMITTED", "ALREADY ADMITTED", "REFUSED"]);
  });
});

describe("language choice and conventions", () => {
  test("Indonesian unless the visitor chose, or the browser prefers, English", () => {
    assert.equal(pickLanguage(null, []), "id");
    assert.equal(pickLanguage(null, ["fr-FR", "de"]), "id");
    assert.equal(pickLanguage(null, ["en-US", "id"]), "en");
    assert.equal(pickLanguage(null, ["id-ID", "en"]), "id");
    assert.equal(pickLanguage("id", ["en-US"]), "id");
    assert.equal(pickLanguage("en", ["id"]), "en");
    assert.equal(pickLanguage("xx", ["EN-gb"]), "en");
    assert.equal(interpolate("Sisa {n}", { n: 3 }), "Sisa 3");
    assert.equal(interpolate("{a} {b}", { a: 1 }), "1 {b}");
  });

  test("rupiah as Rp350.000 in both languages (Intl's no-break space removed)", () => {
    const raw = new Intl.NumberFormat("id-ID", { style: "currency", currency: "IDR", maximumFractionDigits: 0 }).format(350000);
    assert.match(raw, /^Rp[\s\u00a0]?350\.000$/, "Intl's own output");
    for (const lang of ["id", "en"]) {
      assert.equal(formatMoney({ amount_minor: 350000, currency: "IDR" }, lang), "Rp350.000");
      assert.equal(formatMoney({ amount_minor: 1250000, currency: "IDR" }, lang), "Rp1.250.000");
      assert.equal(formatMoney({ amount_minor: 0, currency: "IDR" }, lang), "Rp0");
    }
  });

  test("event times in the event's zone with WIB, WITA or WIT, whatever the process's zone", () => {
    const at = Date.UTC(2026, 11, 5, 12, 0) / 1000; // 5 Dec 2026 12:00 UTC
    assert.equal(formatEventTime(at, "Asia/Jakarta", "id"), "Sab, 5 Des 2026, 19.00 WIB");
    assert.equal(formatEventTime(at, "Asia/Jakarta", "en"), "Sat, 5 Dec 2026, 19:00 WIB");
    assert.match(formatEventTime(at, "Asia/Makassar", "en"), /20:00 WITA$/);
    assert.match(formatEventTime(at, "Asia/Jayapura", "id"), /21\.00 WIT$/);
    assert.match(formatEventTime(at, "Asia/Pontianak", "id"), /19\.00 WIB$/);
    assert.deepEqual(Object.values(ZONE_ABBREVIATIONS).sort(), ["WIB", "WIB", "WIT", "WITA"]);
  });
});
