// The scanner lock: the staff member sets a PIN on first sign-in (and may add the phone's
// fingerprint/face/screen lock through WebAuthn); the scanner is locked when the app starts (each
// shift) and after `pinIdleSeconds` without a touch or key (config.json, default 180 s). Locked,
// nothing sealed can be read (sealed-store.js): the scanner forgets the token, the bundle and its
// place, and gets them back from storage after the unlock. `pinMaxAttempts` wrong PINs in a row
// (default 5) wipe the device: token, bundles, remembered scans and the queue (which the PIN
// alone opens), leaving a notice that says how many unsynced scans went with it.
import { showError } from "/shared/api.js";
import { I18nError, onLanguageChange, t } from "/shared/i18n.js";
import { afterWrongPin, idleExpired, lockPolicy, pinProblem } from "./pin-policy.js";
import { SealedStore } from "./sealed-store.js";
import { createVault, defaultRandom, erase, masterFromPin, masterFromPrf, newPepper, openVault, prfWrap, VaultRefused } from "./vault.js";

const $ = (id) => document.getElementById(id);
const UV = 0x04; // authenticator data flags: user verified

function wipedKey(lost) {
  if (!lost) return "pin.wiped.detail";
  return lost === 1 ? "pin.wiped.lostOne" : "pin.wiped.lost";
}

function show(id) {
  for (const s of document.querySelectorAll("main > section")) s.hidden = s.id !== id;
}

/** The PRF output of credential `id` for `salt`, after user verification; I18nError otherwise. */
async function prfAssertion(id, salt, random) {
  let a;
  try {
    a = await navigator.credentials.get({ publicKey: { challenge: random(32), allowCredentials: [{ type: "public-key", id }],
      userVerification: "required", timeout: 60000, extensions: { prf: { eval: { first: salt } } } } });
  } catch {
    throw new I18nError("pin.webauthn.refused", {}, "pin.webauthn.title");
  }
  const flags = new Uint8Array(a.response.authenticatorData)[32];
  const out = a.getClientExtensionResults().prf?.results?.first;
  // No server checks this assertion: the PRF output is what opens the vault; the flag check only
  // refuses an authenticator that answered without verifying the user.
  if (!(flags & UV) || !out) throw new I18nError("pin.webauthn.refused", {}, "pin.webauthn.title");
  return new Uint8Array(out);
}

/** Whether this device offers WebAuthn with a platform authenticator that verifies the user. */
async function platformAuthenticator() {
  try {
    return !!(await globalThis.PublicKeyCredential?.isUserVerifyingPlatformAuthenticatorAvailable?.());
  } catch {
    return false;
  }
}

/**
 * The lock over `raw` (shared/idb.js store). `onLock()` makes the page forget what it holds;
 * `onUnlock()` restores it from `store`; `onWipe()` after the wipe. `clock.now()` and `random`
 * are injectable (tests: Playwright's clock drives `Date.now` and the timers).
 */
export async function createPinLock({ raw, cfg, stores, onLock, onUnlock, onWipe, clock = Date, random = defaultRandom }) {
  const policy = lockPolicy(cfg);
  const store = new SealedStore(raw);
  let lastActivity = clock.now();
  let busy = false;
  let lockWhy = "pin.lock.start";
  let pendingSetup = null;

  const record = () => raw.get("state", "lock");

  async function renderQueueNote() {
    const n = (await raw.keys("queue")).length;
    const rec = await record();
    const left = Math.max(0, policy.maxAttempts - (rec?.failures ?? 0));
    $("lock-queue").hidden = n === 0;
    $("lock-queue").textContent = n ? t(n === 1 ? "pin.lock.queueOne" : "pin.lock.queue", { n, left }) : "";
  }

  async function showLock() {
    $("lock-why").dataset.i18n = lockWhy;
    $("lock-why").textContent = t(lockWhy);
    const rec = await record();
    $("lock-webauthn").hidden = !rec?.webauthn;
    $("pin").value = "";
    show("lock");
    await renderQueueNote();
    $("pin").focus();
  }

  async function lock(why) {
    if (!store.unlocked) return;
    store.lock();
    lockWhy = why;
    await onLock();
    $("result").hidden = true;
    $("lock-error").hidden = true;
    await showLock();
  }

  async function opened(master) {
    store.unlock(await openVault(master));
    lastActivity = clock.now();
    $("lock-error").hidden = true;
    $("pin").value = "";
    await onUnlock();
  }

  /** Deletes everything the device holds for the staff member; says how many unsynced scans
   * went with it (the queue cannot be opened without the PIN, so it cannot be kept for sync). */
  async function wipe() {
    const lost = (await raw.keys("queue")).length;
    store.lock();
    for (const s of stores) await raw.clear(s);
    const notice = { lost, at_ms: clock.now() };
    await raw.put("state", "wiped", notice);
    await onWipe();
    showNotice(notice);
  }

  function showNotice(notice) {
    show("signin");
    showError($("signin-error"), new I18nError(wipedKey(notice.lost), { n: notice.lost }, "pin.wiped.title"));
  }

  async function tryPin(pin) {
    const rec = await record();
    if (!rec) return;
    // The attempt is counted before the PIN is checked: closing the app mid-check costs one.
    const next = afterWrongPin(rec.failures, policy.maxAttempts);
    await raw.put("state", "lock", { ...rec, failures: next.failures });
    let master;
    try {
      master = await masterFromPin(rec, pin, await raw.get("state", "pepper"));
    } catch (e) {
      if (!(e instanceof VaultRefused)) throw e;
      if (next.wipe) return wipe();
      showError($("lock-error"), new I18nError("pin.lock.wrong", { left: next.left }, "pin.lock.wrongTitle"));
      $("pin").value = "";
      await renderQueueNote();
      return undefined;
    }
    await raw.put("state", "lock", { ...rec, failures: 0 });
    return opened(master);
  }

  async function tryWebAuthn() {
    const rec = await record();
    if (!rec?.webauthn) return;
    const out = await prfAssertion(rec.webauthn.credentialId, rec.webauthn.prfSalt, random);
    let master;
    try {
      master = await masterFromPrf(rec.webauthn, out);
    } finally {
      erase(out);
    }
    await raw.put("state", "lock", { ...rec, failures: 0 });
    await opened(master);
  }

  /** Adds a WebAuthn wrap of `master` (a platform credential with the PRF extension). */
  async function enrolWebAuthn(master) {
    const prfSalt = random(32);
    let cred;
    try {
      cred = await navigator.credentials.create({ publicKey: {
        rp: { name: "karcis scanner" }, user: { id: random(16), name: "karcis-scanner", displayName: "karcis scanner" },
        challenge: random(32), pubKeyCredParams: [{ type: "public-key", alg: -7 }, { type: "public-key", alg: -257 }],
        authenticatorSelection: { authenticatorAttachment: "platform", userVerification: "required", residentKey: "discouraged" },
        timeout: 60000, extensions: { prf: { eval: { first: prfSalt } } } } });
    } catch {
      throw new I18nError("pin.webauthn.failed", {}, "pin.webauthn.title");
    }
    const prf = cred.getClientExtensionResults().prf;
    if (!prf?.enabled && !prf?.results) throw new I18nError("pin.webauthn.noPrf", {}, "pin.webauthn.title");
    const id = new Uint8Array(cred.rawId);
    // Some authenticators give the PRF output only on an assertion: ask for one then.
    const out = prf.results?.first ? new Uint8Array(prf.results.first) : await prfAssertion(id, prfSalt, random);
    const wrapped = await prfWrap(master, out, id, prfSalt, random);
    erase(out);
    await raw.put("state", "lock", { ...(await record()), webauthn: wrapped });
  }

  /** First sign-in: asks for a new PIN (then offers WebAuthn); resolves once the vault is open. */
  function ensureVault() {
    if (store.unlocked) return Promise.resolve();
    if (pendingSetup) return pendingSetup.promise;
    let resolve;
    pendingSetup = { promise: new Promise((r) => (resolve = r)) };
    pendingSetup.resolve = resolve;
    $("pin-new").value = "";
    $("pin-confirm").value = "";
    $("pin-set-error").hidden = true;
    $("pin-set-form").hidden = false;
    $("pin-webauthn").hidden = true;
    show("pin-set");
    $("pin-new").focus();
    return pendingSetup.promise;
  }

  async function setPin(pin, confirm) {
    const problem = pinProblem(pin, confirm);
    if (problem) throw new I18nError(problem, {}, "pin.set.title");
    const pepper = await newPepper();
    const { master, record: rec } = await createVault(pin, pepper, { random });
    await raw.put("state", "pepper", pepper);
    await raw.put("state", "lock", rec);
    await raw.delete("state", "wiped");
    const forWebAuthn = master.slice();
    store.unlock(await openVault(master));
    lastActivity = clock.now();
    await store.sealLegacy(stores);
    $("pin-new").value = "";
    $("pin-confirm").value = "";
    const finish = () => {
      erase(forWebAuthn);
      const done = pendingSetup;
      pendingSetup = null;
      done?.resolve();
    };
    if (!(await platformAuthenticator())) return finish();
    $("pin-set-form").hidden = true;
    $("pin-webauthn").hidden = false;
    $("pin-webauthn-on").focus();
    $("pin-webauthn-on").onclick = () => enrolWebAuthn(forWebAuthn).then(finish, (e) => showError($("pin-webauthn-error"), e));
    $("pin-webauthn-skip").onclick = finish;
    return undefined;
  }

  const guarded = (fn, errorEl) => async (...args) => {
    if (busy) return;
    busy = true;
    try {
      await fn(...args);
    } catch (e) {
      showError($(errorEl), e);
    } finally {
      busy = false;
    }
  };

  $("pin-set-form").addEventListener("submit", (e) => {
    e.preventDefault();
    guarded(setPin, "pin-set-error")($("pin-new").value, $("pin-confirm").value);
  });
  $("lock-form").addEventListener("submit", (e) => {
    e.preventDefault();
    guarded(tryPin, "lock-error")($("pin").value);
  });
  $("lock-webauthn").addEventListener("click", () => guarded(tryWebAuthn, "lock-error")());
  $("lock-signout").addEventListener("click", guarded(async () => {
    const n = (await raw.keys("queue")).length;
    if (n && !confirm(t(n === 1 ? "scan.signout.confirmOne" : "scan.signout.confirmMany", { n }))) return;
    store.lock();
    for (const s of stores) await raw.clear(s);
    await onWipe();
    show("signin");
  }, "lock-error"));

  // Idle: any touch or key counts as use; checked every few seconds and when the app comes back
  // to the foreground (a sleeping phone runs no timers).
  for (const ev of ["pointerdown", "keydown", "touchstart"]) {
    document.addEventListener(ev, () => {
      if (store.unlocked) lastActivity = clock.now();
    }, { capture: true, passive: true });
  }
  const check = () => {
    if (store.unlocked && idleExpired(lastActivity, clock.now(), policy.idleMs)) lock("pin.lock.idle").catch((e) => console.warn("lock:", e.message));
  };
  setInterval(check, 5000);
  document.addEventListener("visibilitychange", () => document.visibilityState === "visible" && check());
  onLanguageChange(() => {
    if (!$("lock").hidden) renderQueueNote();
  });

  /** At app start: "locked" (a PIN is set: asked now), "wiped" (the notice is shown), or "none"
   * (no PIN yet: whatever a scanner from before the PIN kept can still be read until it is set). */
  async function start() {
    const rec = await record();
    if (rec) {
      if ((rec.failures ?? 0) >= policy.maxAttempts) {
        await wipe(); // the last attempt was counted but never finished
        return "wiped";
      }
      await showLock();
      return "locked";
    }
    store.lock({ legacy: true });
    const notice = await raw.get("state", "wiped");
    if (notice) {
      showNotice(notice);
      return "wiped";
    }
    return "none";
  }

  return { store, start, ensureVault };
}
