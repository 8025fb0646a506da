// The door scanner: staff sign-in, gate choice, camera or manual scanning against the edge
// (`POST /v1/scan`), and offline mode: a signed bundle from the edge (`GET /v1/offline-bundle`)
// lets it check codes locally; accepted scans are queued as provisional and sent to
// `POST /v1/sync` when the network is back, which reports conflicts.
import { ApiError, call, config, showError } from "/shared/api.js";
import { formatClock } from "/shared/format.js";
import { has, I18nError, initI18n, onLanguageChange, t } from "/shared/i18n.js";
import { openDb } from "/shared/idb.js";
import * as tf from "/shared/ticket-format.js";
import * as camera from "/scanner/camera.js";
import { boundCall, deviceKey, ensureDevice, signedBatch } from "/scanner/device-key.js";
import * as feedback from "/scanner/gate-feedback.js";
import { createPinLock } from "/scanner/pin-lock.js";

const $ = (id) => document.getElementById(id);
const state = { token: null, claims: null, eventId: null, gate: null, gps: null, watch: null, bundle: null, bundleProblem: null, busy: false };
const STORES = ["state", "bundles", "queue", "admitted", "conflicts"];
let db; // sealed by the PIN (pin-lock.js): unreadable while the scanner is locked
let cfg;
let pin;

// ---------------------------------------------------------------------------------------------
// sign-in

/** Refresh a device-bound door token this long before it expires (it lives 15 minutes). */
const REFRESH_BEFORE_SECS = 180;
/** The back end refreshes a token up to this long after it expired (REFRESH_GRACE_SECS). */
const REFRESH_GRACE_SECS = 300;

function readClaims(token) {
  const parts = token.trim().split(".");
  if (parts.length !== 3) throw new I18nError("scan.token.notToken", {}, "scan.token.title");
  return JSON.parse(new TextDecoder().decode(tf.b64urlToBytes(parts[1])));
}

function decodeJwt(token) {
  const claims = readClaims(token);
  if (typeof claims.exp !== "number" || claims.exp * 1000 < Date.now()) throw new I18nError("scan.token.expired", {}, "scan.token.title");
  if (!Array.isArray(claims.events) || claims.events.length === 0) throw new I18nError("scan.token.noEvent", {}, "scan.token.title");
  return claims;
}

/** Password sign-in: the device key is made (or read) first, and its public key goes with the
 * request, so the door token is bound to this device. */
async function signInWithPassword(username, password) {
  await pin.ensureVault(); // first sign-in: a PIN is set before anything is stored
  const key = await deviceKey(db);
  const issued = await call(cfg.apiBase, "/v1/staff/sign-in", { method: "POST", body: { username, password, purpose: "door", jwk: key.jwk } });
  $("password").value = "";
  await signIn(issued.token);
}

/** A device-bound token for a new one before it runs out (a proof by the same key). Offline or
 * refused: the current token stays, and runs out (then the staff member signs in again). */
async function refreshToken({ force = false } = {}) {
  const c = state.claims;
  if (!state.token || !c?.cnf || !navigator.onLine) return false;
  if (!force && c.exp - Date.now() / 1000 > REFRESH_BEFORE_SECS) return false;
  try {
    const issued = await boundCall(db, cfg.apiBase, "/v1/staff/refresh", { method: "POST", body: {}, token: state.token });
    state.token = issued.token;
    state.claims = readClaims(issued.token);
    await db.put("state", "token", state.token);
    await ensureDevice(db, cfg.edgeBase, state.token).catch(() => {});
    return true;
  } catch (e) {
    if (!(e instanceof TypeError)) console.warn("token refresh:", e.message);
    return false;
  }
}

/** The edge, with this device's proof on every request. */
const door = (path, opts = {}) => boundCall(db, cfg.edgeBase, path, { ...opts, token: state.token });

async function signIn(token) {
  let claims;
  try {
    claims = decodeJwt(token); // the edge verifies it; this only reads what to show
  } catch (e) {
    // A bound token that ran out while the scanner slept: refreshed within the grace.
    const c = e instanceof I18nError && e.key === "scan.token.expired" ? readClaims(token) : null;
    if (!c?.cnf || c.exp + REFRESH_GRACE_SECS < Date.now() / 1000) throw e;
    Object.assign(state, { token: token.trim(), claims: c });
    if (!(await refreshToken({ force: true }))) throw e;
    token = state.token;
    claims = state.claims;
  }
  await pin.ensureVault(); // first sign-in: a PIN is set before anything is stored
  state.token = token.trim();
  state.claims = claims;
  await db.put("state", "token", state.token);
  // This device's key for the token (signs the offline queue); offline now: registered at sync.
  await ensureDevice(db, cfg.edgeBase, state.token).catch((e) => {
    if (!(e instanceof TypeError)) console.warn("device key:", e.message);
  });
  showSetup();
}

function showOnly(id) {
  for (const s of ["signin", "setup", "scan", "pin-set", "lock"]) $(s).hidden = s !== id;
}

function renderWho() {
  const c = state.claims;
  $("who").textContent = c ? t("scan.who", { sub: c.sub, role: has(`scan.role.${c.role}`) ? t(`scan.role.${c.role}`) : c.role }) : "";
}

function showSetup() {
  const c = state.claims;
  renderWho();
  const ev = $("event");
  ev.replaceChildren(...c.events.map((e) => new Option(e, e)));
  const gates = Array.isArray(c.gates) ? c.gates : ["*"];
  $("gates").replaceChildren(...gates.filter((g) => g !== "*").map((g) => new Option(g, g)));
  if (!gates.includes("*") && gates.length === 1) $("gate").value = gates[0];
  showOnly("setup");
  ev.focus();
}

// ---------------------------------------------------------------------------------------------
// offline bundle

async function importBundleKey(hex) {
  return crypto.subtle.importKey("raw", tf.hexToBytes(hex), { name: "ECDSA", namedCurve: "P-256" }, false, ["verify"]);
}

/** Verifies a bundle response against the key in the scanner's configuration, never the key the
 * response names (a key trusted on first use would be whichever answered first). */
async function openBundle(resp) {
  const pinned = cfg.bundleSigningKey;
  if (!pinned) throw new Error("no bundle key configured");
  if (resp.alg !== "ES256" || pinned !== resp.signing_public_key) throw new Error("bundle signed by an unexpected key");
  const ok = await crypto.subtle.verify({ name: "ECDSA", hash: "SHA-256" }, await importBundleKey(pinned),
    tf.b64urlToBytes(resp.signature), new TextEncoder().encode(resp.bundle));
  if (!ok) throw new Error("bundle signature does not check");
  const b = JSON.parse(resp.bundle);
  return {
    ...b,
    // The bundle holds its event's key sets only.
    ring: new Map(b.keys.map((k) => [k.kid, { eventId: b.event_id, issuerPublicKey: tf.hexToBytes(k.issuer_public_key), qrKey: tf.hexToBytes(k.qr_key) }])),
    revokedSet: new Set(b.revoked),
    // Re-issued tickets: credentials issued before the line are refused (`superseded`).
    notIssuedBefore: new Map(Object.entries(b.not_issued_before ?? {})),
  };
}

async function refreshBundle() {
  if (!state.eventId || !state.token) return;
  state.bundleProblem = null;
  if (!cfg.bundleSigningKey) {
    // Offline mode needs the bundle key in the configuration: nothing is fetched or kept.
    state.bundleProblem = "scan.bundle.off";
    state.bundle = null;
    await db.delete("bundles", state.eventId);
    renderStatus();
    return;
  }
  try {
    const resp = await door(`/v1/offline-bundle?event_id=${encodeURIComponent(state.eventId)}`);
    const b = await openBundle(resp);
    await db.put("bundles", state.eventId, resp);
    state.bundle = b;
  } catch (e) {
    if (!(e instanceof TypeError)) console.warn("offline bundle:", e.message);
    if (e instanceof ApiError && e.status === 401) {
      // The token is refused (expired, revoked, member deactivated): keep no bundle for it.
      await db.delete("bundles", state.eventId);
      state.bundle = null;
      state.bundleProblem = "scan.bundle.refusedToken";
    } else if (!(e instanceof TypeError) && !(e instanceof ApiError)) {
      state.bundleProblem = "scan.bundle.refusedKey";
    }
    const saved = e instanceof ApiError && e.status === 401 ? null : await db.get("bundles", state.eventId);
    if (saved) state.bundle = await openBundle(saved).catch(() => null);
  }
  renderStatus();
}

// ---------------------------------------------------------------------------------------------
// scanning

function gpsValue() {
  return state.gps ? { lat: state.gps.latitude, lon: state.gps.longitude, accuracy_m: Math.round(state.gps.accuracy) } : undefined;
}

async function checkCode(qr) {
  if (state.busy) return;
  state.busy = true;
  $("scan-error").hidden = true;
  const scan = { qr: qr.trim(), gate_id: state.gate, scan_id: crypto.randomUUID(), event_id: state.eventId };
  const gps = gpsValue();
  if (gps) scan.gps = gps;
  try {
    let answer;
    try {
      answer = navigator.onLine ? await door("/v1/scan", { method: "POST", body: scan }) : null;
    } catch (e) {
      if (!(e instanceof TypeError)) throw e;
      answer = null; // network failure: decide offline
    }
    if (answer) {
      if (answer.result === "admitted" && answer.ticket_id) await db.put("admitted", answer.ticket_id, { at_ms: answer.at_ms, gate_id: state.gate, event_id: state.eventId });
      showResult(answer, false);
    } else {
      showResult(await checkOffline(scan), true);
    }
  } catch (e) {
    if (e instanceof ApiError && e.problem.result) showResult({ result: e.problem.result }, false);
    else showError($("scan-error"), e);
  } finally {
    state.busy = false;
    renderStatus();
  }
}

async function checkOffline(scan) {
  const now = Date.now();
  const b = state.bundle;
  if (!b || b.expires_at * 1000 < now) {
    return { result: "unavailable" };
  }
  let answer;
  try {
    const policy = { eventId: b.event_id, gate: state.gate, acceptStatic: b.accept_static, freshnessSecs: b.freshness_secs, revoked: b.revokedSet, notIssuedBefore: b.notIssuedBefore };
    const { claims } = await tf.verifyQr(scan.qr, Math.floor(now / 1000), b.ring, policy);
    const seen = await db.get("admitted", claims.ticketId);
    if (seen) {
      answer = { result: "already_admitted", ticket_id: claims.ticketId, admitted: seen, here: true };
    } else {
      await db.put("admitted", claims.ticketId, { at_ms: now, gate_id: state.gate, event_id: state.eventId, offline: true });
      answer = { result: "admitted", ticket_id: claims.ticketId };
    }
  } catch (e) {
    if (!(e instanceof tf.Rejection)) throw e;
    answer = { result: tf.resultForRejection(e.code), detail: e.code };
  }
  // Every decided scan is queued: a provisional admission so that the door learns the ticket is
  // in, a refusal so that the audit trail has it too (the door records it as refused offline and
  // never admits on it).
  await db.put("queue", scan.scan_id, { ...scan, scanned_at_ms: now, local_result: answer.result });
  return answer;
}

async function sync() {
  if (!state.token || !state.eventId) return; // signed out or locked
  const queued = (await db.all("queue")).filter((s) => s.event_id === state.eventId).slice(0, 200);
  if (queued.length === 0 || !navigator.onLine) return;
  try {
    const dev = await ensureDevice(db, cfg.edgeBase, state.token);
    const body = await signedBatch(db, dev, state.eventId, queued);
    const resp = await door("/v1/sync", { method: "POST", body });
    for (const s of queued) await db.delete("queue", s.scan_id);
    for (const c of resp.conflicts) await db.put("conflicts", c.scan_id, { ...c, synced_at_ms: Date.now() });
  } catch (e) {
    if (!(e instanceof TypeError)) showError($("scan-error"), e);
  }
  await renderConflicts();
  renderStatus();
}

// ---------------------------------------------------------------------------------------------
// screens

/** The verdict staff read at arm's length: MASUK / SUDAH MASUK / DITOLAK (ADMITTED / ALREADY
 * ADMITTED / REFUSED), by the edge's stable `result` code. */
function verdictKey(result) {
  if (result === "admitted") return "scan.verdict.admitted";
  if (result === "already_admitted") return "scan.verdict.already";
  return "scan.verdict.refused";
}

/** The reason line, from the result code (never the edge's English message). */
function reason(answer, offline) {
  if (answer.result === "admitted") return t(offline ? "scan.reason.admittedOffline" : "scan.reason.admitted");
  const first = answer.admitted;
  if (answer.result === "already_admitted" && first) {
    const params = { time: formatClock(first.at_ms), gate: first.gate_id, staff: first.staff_id };
    if (answer.here) return t("scan.reason.alreadyHere", params);
    return t(first.staff_id ? "scan.reason.alreadyBy" : "scan.reason.alreadyAt", params);
  }
  const key = `scan.reason.${answer.result}`;
  return has(key) ? t(key) : t("scan.reason.unknown", { code: answer.result });
}

function showResult(answer, offline) {
  const ok = answer.result === "admitted";
  const box = $("result");
  box.className = `result ${ok ? (offline ? "provisional" : "ok") : "bad"}`;
  box.dataset.result = answer.result;
  box.dataset.verdict = verdictKey(answer.result).split(".").pop();
  $("result-icon").textContent = ok ? "✓" : "✗";
  $("result-big").textContent = t(verdictKey(answer.result));
  $("result-tag").hidden = !(offline && ok);
  $("result-why").textContent = reason(answer, offline);
  box.hidden = false;
  feedback.signal(answer.result);
  $("result-next").focus();
}

function renderStatus() {
  if (!state.eventId) return;
  $("where").textContent = t("scan.where", { event: state.eventId, gate: state.gate });
  const net = $("net");
  net.textContent = t(navigator.onLine ? "scan.net.online" : "scan.net.offline");
  net.dataset.online = String(navigator.onLine);
  net.classList.toggle("offline", !navigator.onLine);
  const b = state.bundle;
  $("bundle").textContent = b
    ? t("scan.bundle.until", { time: formatClock(b.expires_at * 1000) })
    : t(state.bundleProblem ?? "scan.bundle.none");
  $("bundle").dataset.state = b ? "ok" : (state.bundleProblem ?? "scan.bundle.none").split(".").pop();
  db.all("queue").then((q) => {
    const n = q.filter((s) => s.event_id === state.eventId).length;
    $("queue").textContent = t("scan.queue", { n });
    $("queue").dataset.count = String(n);
  });
  feedback.admittedAt(db, state.eventId, state.gate).then((n) => {
    $("counter").textContent = t("scan.counter", { n });
    $("counter").dataset.count = String(n);
  });
}

async function renderConflicts() {
  const list = (await db.all("conflicts")).sort((a, b) => b.synced_at_ms - a.synced_at_ms);
  $("conflicts-box").hidden = list.length === 0;
  $("conflicts").replaceChildren(...list.map((c) => {
    const li = document.createElement("li");
    li.textContent = t("scan.conflict", { verdict: t(verdictKey(c.result)), reason: reason({ result: c.result }, false),
      ticket: c.ticket_id ? c.ticket_id.slice(0, 8) : "?", scan: c.scan_id.slice(0, 8) });
    return li;
  }));
}

// ---------------------------------------------------------------------------------------------
// camera: BarcodeDetector where the browser has it, else jsQR on canvas frames

/** The camera line, kept as a key so that a language switch re-translates it. */
function note(key) {
  $("camera-note").dataset.i18n = key;
  $("camera-note").textContent = t(key);
}

async function startCamera() {
  feedback.unlockAudio();
  const how = await camera.startCamera($("video"), { onCode: checkCode, paused: () => state.busy || !$("result").hidden });
  note(how === "builtin" ? "scan.camera.builtin" : how === "jsqr" ? "scan.camera.jsqr" : "scan.camera.none");
}

function startGps() {
  if (!("geolocation" in navigator)) return;
  state.watch = navigator.geolocation.watchPosition((p) => (state.gps = p.coords), () => (state.gps = null), { enableHighAccuracy: true, maximumAge: 30000 });
}

// ---------------------------------------------------------------------------------------------

async function startScanning(eventId, gate, gps) {
  state.eventId = eventId;
  state.gate = gate;
  await db.put("state", "place", { eventId, gate, gps });
  if (gps) startGps();
  showOnly("scan");
  renderStatus();
  await renderConflicts();
  await refreshBundle();
  await sync();
  $("manual").focus();
}

/** Signs out: whatever the device holds for this staff member goes (the token, the offline
 * bundles with the events' QR keys, queued and remembered scans, conflicts), after one last sync.
 * Scans not yet synced are lost with it, so the staff member is asked first. */
async function signOut() {
  if (state.eventId) await sync();
  const unsynced = (await db.all("queue")).length;
  if (unsynced && !confirm(t(unsynced === 1 ? "scan.signout.confirmOne" : "scan.signout.confirmMany", { n: unsynced }))) return;
  for (const store of STORES) await db.clear(store);
  forget();
  showOnly("signin");
}

/** Drops what the page holds in memory (locked, signed out or wiped): storage keeps it sealed. */
function forget() {
  if (state.watch != null) navigator.geolocation.clearWatch(state.watch);
  Object.assign(state, { token: null, claims: null, eventId: null, gate: null, gps: null, watch: null, bundle: null, bundleProblem: null });
  for (const track of $("video").srcObject?.getTracks?.() ?? []) track.stop();
  $("video").hidden = true;
  $("token").value = "";
  $("password").value = "";
  $("who").textContent = "";
  $("signin-error").hidden = true;
}

/** Back to where the staff member was: the saved token (or one from a sign-in link), its gate. */
async function resume(fromLink) {
  const saved = fromLink || (await db.get("state", "token"));
  if (saved) {
    try {
      await signIn(saved);
      const place = await db.get("state", "place");
      if (place && !fromLink && state.claims.events.includes(place.eventId)) await startScanning(place.eventId, place.gate, place.gps);
      return;
    } catch (e) {
      showError($("signin-error"), e);
    }
  }
  showOnly("signin");
}

async function main() {
  initI18n();
  onLanguageChange(() => {
    renderWho();
    if (db) renderStatus();
    if (db && state.eventId) renderConflicts(); // nothing to read while locked
  });
  cfg = await config();
  const raw = await openDb("karcis-scanner", STORES);
  let fromLink = null;
  pin = await createPinLock({ raw, cfg, stores: STORES, onLock: forget, onWipe: forget,
    onUnlock: () => {
      const link = fromLink;
      fromLink = null;
      return resume(link);
    } });
  db = pin.store;
  if ("serviceWorker" in navigator) navigator.serviceWorker.register("/scanner/sw.js", { scope: "/scanner/" }).catch(() => {});

  $("signin-form").addEventListener("submit", (e) => {
    e.preventDefault();
    const username = $("username").value.trim();
    const password = $("password").value;
    const done = username && password ? signInWithPassword(username, password) : signIn($("token").value);
    done.catch((err) => showError($("signin-error"), err));
  });
  $("setup-form").addEventListener("submit", (e) => {
    e.preventDefault();
    startScanning($("event").value, $("gate").value.trim(), $("gps").checked);
  });
  $("signout").addEventListener("click", () => signOut().catch((err) => showError($("signin-error"), err)));
  $("change").addEventListener("click", () => showSetup());
  $("manual-form").addEventListener("submit", (e) => {
    e.preventDefault();
    const v = $("manual").value;
    feedback.unlockAudio();
    $("manual").value = "";
    if (v.trim()) checkCode(v);
  });
  $("result-next").addEventListener("click", () => {
    $("result").hidden = true;
    $("manual").focus();
  });
  $("camera").addEventListener("click", startCamera);
  $("sync").addEventListener("click", sync);
  addEventListener("online", () => {
    renderStatus();
    sync().then(refreshBundle);
  });
  addEventListener("offline", renderStatus);
  setInterval(() => navigator.onLine && state.eventId && refreshBundle(), 10 * 60 * 1000);
  // Device-bound tokens live 15 minutes: checked every 30 s, refreshed 3 minutes before the end.
  setInterval(() => refreshToken(), 30 * 1000);

  // A sign-in link carries the token in the fragment (never sent to a server); drop it from the URL.
  const frag = new URLSearchParams(location.hash.slice(1));
  fromLink = frag.get("token");
  if (fromLink) history.replaceState(null, "", location.pathname);
  // Each start (a new shift) asks for the PIN first; a link's token waits for the unlock.
  const status = await pin.start();
  if (status === "locked" || (status === "wiped" && !fromLink)) return;
  await resume(fromLink);
}

main();
