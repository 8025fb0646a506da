// The scanner lock's rules, as pure functions (no I/O; the clock is an argument): which PINs are
// accepted, when an idle scanner locks, how many wrong PINs before the device wipes itself, and
// the PBKDF2 cost. Used by pin-lock.js in the browser and tested in Node (test/unit/pin.test.mjs).

/** PBKDF2-HMAC-SHA256 iterations for a new PIN: OWASP's 2023 figure for this hash. A stored
 * record keeps its own count, so raising this later only affects PINs set afterwards. */
export const PBKDF2_ITERATIONS = 600_000;
/** Below this a stored record is refused (a tampered record could otherwise ask for 1). */
export const MIN_ITERATIONS = 100_000;

export const DEFAULTS = Object.freeze({ idleSeconds: 180, maxAttempts: 5 });
const BOUNDS = Object.freeze({ idleSeconds: [30, 3600], maxAttempts: [3, 10] });

/** The lock settings from the deployment's config.json (`pinIdleSeconds`, `pinMaxAttempts`),
 * each clamped to its bounds; anything that is not a number keeps the default. */
export function lockPolicy(cfg = {}) {
  const pick = (value, name) => {
    const [lo, hi] = BOUNDS[name];
    return Number.isFinite(value) ? Math.min(hi, Math.max(lo, Math.round(value))) : DEFAULTS[name];
  };
  return { idleMs: pick(cfg.pinIdleSeconds, "idleSeconds") * 1000, maxAttempts: pick(cfg.pinMaxAttempts, "maxAttempts") };
}

/** Why a new PIN is refused (a catalogue key), or null. 6 to 12 digits (a door phone's keypad),
 * not one digit repeated and not a run up or down (123456, 987654): the first guesses of anyone
 * holding a found phone. */
export function pinProblem(pin, confirm) {
  if (typeof pin !== "string" || !/^[0-9]{6,12}$/.test(pin)) return "pin.set.format";
  const d = [...pin].map(Number);
  const steps = new Set(d.slice(1).map((x, i) => (x - d[i] + 10) % 10));
  if (steps.size === 1 && (steps.has(0) || steps.has(1) || steps.has(9))) return "pin.set.simple";
  if (confirm !== undefined && confirm !== pin) return "pin.set.mismatch";
  return null;
}

/** Whether a scanner last used at `lastActivityMs` is to lock at `nowMs`. A clock that went
 * backwards (the phone's time was changed) also locks: the idle time cannot be known. */
export function idleExpired(lastActivityMs, nowMs, idleMs) {
  return nowMs - lastActivityMs >= idleMs || nowMs < lastActivityMs;
}

/** The lock record after one more wrong PIN: `wipe` once `maxAttempts` are used up, `left`
 * the attempts that remain. */
export function afterWrongPin(failures, maxAttempts) {
  const n = (Number.isInteger(failures) && failures > 0 ? failures : 0) + 1;
  return { failures: n, left: Math.max(0, maxAttempts - n), wipe: n >= maxAttempts };
}
