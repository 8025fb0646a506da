// The scanner's PIN screens, for tests that sign in: the PIN is set after the first sign-in
// (web/scanner/pin-lock.js) and asked when the app starts.
export const TEST_PIN = "246813";

/** Sets `pin` on the "set a PIN" screen the first sign-in shows; skips the fingerprint offer if
 * the browser has a platform authenticator. */
export async function setPin(page, pin = TEST_PIN) {
  await page.waitForSelector("#pin-set:not([hidden])");
  await page.fill("#pin-new", pin);
  await page.fill("#pin-confirm", pin);
  await page.click("#pin-set-form button[type=submit]");
  await page.waitForFunction(() => document.getElementById("pin-set").hidden || !document.getElementById("pin-webauthn").hidden);
  if (await page.isVisible("#pin-webauthn-skip")) await page.click("#pin-webauthn-skip");
  await page.waitForSelector("#pin-set", { state: "hidden" });
}

/** Enters `pin` on the lock screen. */
export async function unlock(page, pin = TEST_PIN) {
  await page.waitForSelector("#lock:not([hidden])");
  await page.fill("#pin", pin);
  await page.click("#lock-form button[type=submit]");
}
