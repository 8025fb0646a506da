// Debian's chromium driven by playwright-core: headless, fresh profile, nothing phoned home.
import { existsSync, mkdtempSync, rmSync, mkdirSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { chromium } from "playwright-core";

export const CHROMIUM = process.env.KARCIS_CHROMIUM || "/usr/bin/chromium";

/** A persistent context on a fresh --user-data-dir (so service workers and IndexedDB are real).
 * `locale` sets navigator.languages, which picks the pages' language (en-US: English, as the
 * tests that read English text expect; id-ID: Indonesian); `timezoneId` the browser's zone;
 * `args` more command-line switches (the camera tests' fake capture device). */
export async function launch({ viewport = { width: 390, height: 844 }, permissions = [], locale = "en-US", timezoneId, args = [] } = {}) {
  if (!existsSync(CHROMIUM)) throw new Error(`no chromium at ${CHROMIUM}: run \`make web-setup\` or set KARCIS_CHROMIUM`);
  const profile = mkdtempSync(path.join(tmpdir(), "karcis-chromium-"));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    viewport,
    deviceScaleFactor: 1,
    permissions,
    locale,
    ...(timezoneId ? { timezoneId } : {}),
    args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
      "--disable-component-update", "--disable-sync", "--disable-default-apps", "--no-default-browser-check", ...args],
  });
  return {
    context,
    profile, // the profile directory: what the browser stores on disk (the PIN test reads it)
    close: async () => {
      await context.close().catch(() => {});
      rmSync(profile, { recursive: true, force: true });
    },
  };
}

/** Saves a screenshot under $KARCIS_SCREENSHOTS (the make target points it at web/screenshots). */
export async function shot(page, name) {
  const dir = process.env.KARCIS_SCREENSHOTS;
  if (!dir) return;
  mkdirSync(dir, { recursive: true });
  await page.screenshot({ path: path.join(dir, `${name}.png`), fullPage: false });
}

/**
 * The tests of a file need `missing` (names of tools or variables) to be empty: otherwise they
 * fail with a message naming what is missing, unless `optOut` is set to 1 in the environment
 * (then they are skipped, saying why). Returns the `skip` option for `describe`.
 */
export function requirements(what, missing, optOut) {
  if (!missing.length) return false;
  const need = `${what} need ${missing.join(", ")}`;
  if (process.env[optOut] === "1") return `${need} (${optOut}=1)`;
  throw new Error(`${need}. Run them with make (see mk/web.mk), or set ${optOut}=1 to skip them.`);
}

/**
 * Records every page error, console error and HTTP answer >= 400 in `errors` (a test then
 * asserts it is empty), except the answers a test expects: `expected` (or `expectStatus` on the
 * returned object, from then on) lists `{ status, url }` pairs, `url` a RegExp. Chromium reports
 * a failed answer as "Failed to load resource" on the console without its URL: the response
 * event records it instead, with method and URL. Network errors while a test has set the
 * context offline are not errors.
 */
export function watchErrors(page, errors, { expected = [] } = {}) {
  const allowed = [...expected];
  page.on("pageerror", (e) => errors.push(`pageerror: ${e.message}`));
  page.on("console", (m) => {
    if (m.type() !== "error") return;
    const text = m.text();
    if (/^Failed to load resource: the server responded with a status of \d+/.test(text)) return;
    if (/ERR_INTERNET_DISCONNECTED|net::ERR/.test(text)) return;
    errors.push(`console: ${text}`);
  });
  page.on("response", (r) => {
    if (r.status() < 400) return;
    if (allowed.some((e) => e.status === r.status() && e.url.test(r.url()))) return;
    errors.push(`HTTP ${r.status()} for ${r.request().method()} ${r.url()}`);
  });
  return {
    expectStatus(status, url) {
      allowed.push({ status, url });
    },
  };
}
