// Debian's chromium driven by playwright-core: headless, fresh profile, nothing phoned home.
import { mkdtempSync, rmSync, mkdirSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { chromium } from "playwright-core";

export const CHROMIUM = process.env.KARCIS_CHROMIUM || "/usr/bin/chromium";

/** A persistent context on a fresh --user-data-dir (so service workers and IndexedDB are real).
 * `locale` sets navigator.languages, which picks the pages' language (en-US: English, as the
 * tests that read English text expect; id-ID: Indonesian); `timezoneId` the browser's zone. */
export async function launch({ viewport = { width: 390, height: 844 }, permissions = [], locale = "en-US", timezoneId } = {}) {
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
      "--disable-component-update", "--disable-sync", "--disable-default-apps", "--no-default-browser-check"],
  });
  return {
    context,
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

/** Fails the test on any page error or console error (CSP violations show up there). */
export function watchErrors(page, errors) {
  page.on("pageerror", (e) => errors.push(`pageerror: ${e.message}`));
  page.on("console", (m) => {
    if (m.type() === "error" && !/Failed to load resource|ERR_INTERNET_DISCONNECTED|net::ERR/.test(m.text())) errors.push(`console: ${m.text()}`);
  });
}
