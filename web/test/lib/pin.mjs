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

/** After opening the scanner with a sign-in link: sets the PIN (the device's first page) or
 *  unlocks (a later page of the same device, which starts locked), then shows the gate setup. */
export async function toGateSetup(page, pin = TEST_PIN) {
  await page.waitForSelector("#pin-set:not([hidden]), #lock:not([hidden]), #setup:not([hidden])");
  if (await page.isVisible("#pin-set")) await setPin(page, pin);
  else if (await page.isVisible("#lock")) await unlock(page, pin);
  await page.waitForSelector("#setup:not([hidden]), #scan:not([hidden])");
  if (await page.isVisible("#scan")) await page.click("#change");
  await page.waitForSelector("#setup:not([hidden])");
}
