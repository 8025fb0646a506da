// The scanner lock's pure rules (pin-policy.js) and its vault and sealed storage (vault.js,
// sealed-store.js) in Node's WebCrypto, over an in-memory key-value store with idb.js's methods.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { afterWrongPin, DEFAULTS, idleExpired, lockPolicy, MIN_ITERATIONS, pinProblem, PBKDF2_ITERATIONS } from "../../scanner/pin-policy.js";
import { Locked, SealedStore } from "../../scanner/sealed-store.js";
import { createVault, masterFromPin, masterFromPrf, newPepper, openVault, prfWrap, VaultRefused } from "../../scanner/vault.js";

/** shared/idb.js's interface over Maps (values kept as given, as structured clone would). */
class MemoryStore {
  constructor(names) {
    this.stores = new Map(names.map((n) => [n, new Map()]));
  }
  async get(s, k) { return this.stores.get(s).get(k); }
  async put(s, k, v) { this.stores.get(s).set(k, v); }
  async delete(s, k) { this.stores.get(s).delete(k); }
  async all(s) { return [...this.stores.get(s).values()]; }
  async keys(s) { return [...this.stores.get(s).keys()]; }
  async clear(s) { this.stores.get(s).clear(); }
  /** Everything stored, as text (Uint8Arrays as latin1 so that plaintext bytes would show). */
  dump() {
    const out = [];
    for (const [name, m] of this.stores) {
      for (const [k, v] of m) out.push(name, k, JSON.stringify(v, (_, x) => (x instanceof Uint8Array ? Buffer.from(x).toString("latin1") : x)));
    }
    return out.join("\n");
  }
}

const STORES = ["state", "bundles", "queue", "admitted", "conflicts"];
const TOKEN = "eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJzdGFmZi03In0.c2lnbmF0dXJl";

describe("PIN rules", () => {
  test("6 to 12 digits, not one digit repeated nor a run, both entries equal", () => {
    for (const good of ["246813", "905172", "135792468013", "112358"]) assert.equal(pinProblem(good, good), null, good);
    for (const bad of ["", "12345", "1234567890123", "12a456", " 246813", "２４６８１３"]) assert.equal(pinProblem(bad), "pin.set.format", bad);
    for (const easy of ["000000", "777777", "123456", "654321", "890123", "3210987"]) assert.equal(pinProblem(easy), "pin.set.simple", easy);
    assert.equal(pinProblem("246813", "246812"), "pin.set.mismatch");
  });

  test("idle: locks at the limit, not before, and when the clock goes backwards", () => {
    assert.equal(idleExpired(1_000, 1_000 + 179_999, 180_000), false);
    assert.equal(idleExpired(1_000, 1_000 + 180_000, 180_000), true);
    assert.equal(idleExpired(50_000, 49_999, 180_000), true);
  });

  test("wrong PINs: the last allowed one wipes", () => {
    assert.deepEqual(afterWrongPin(0, 5), { failures: 1, left: 4, wipe: false });
    assert.deepEqual(afterWrongPin(3, 5), { failures: 4, left: 1, wipe: false });
    assert.deepEqual(afterWrongPin(4, 5), { failures: 5, left: 0, wipe: true });
    assert.deepEqual(afterWrongPin(undefined, 3), { failures: 1, left: 2, wipe: false });
    assert.deepEqual(afterWrongPin(-7, 3), { failures: 1, left: 2, wipe: false });
  });

  test("the configuration is clamped; missing or junk values keep the defaults", () => {
    assert.deepEqual(lockPolicy({}), { idleMs: DEFAULTS.idleSeconds * 1000, maxAttempts: DEFAULTS.maxAttempts });
    assert.deepEqual(lockPolicy({ pinIdleSeconds: 1, pinMaxAttempts: 1000 }), { idleMs: 30_000, maxAttempts: 10 });
    assert.deepEqual(lockPolicy({ pinIdleSeconds: "60", pinMaxAttempts: null }), { idleMs: DEFAULTS.idleSeconds * 1000, maxAttempts: DEFAULTS.maxAttempts });
    assert.deepEqual(lockPolicy({ pinIdleSeconds: 300, pinMaxAttempts: 3 }), { idleMs: 300_000, maxAttempts: 3 });
  });
});

describe("vault", () => {
  test("the right PIN gives the master back, a wrong one is refused", async () => {
    const pepper = await newPepper();
    const { master, record } = await createVault("246813", pepper);
    assert.equal(record.pin.iterations, PBKDF2_ITERATIONS);
    assert.equal(record.pin.salt.length, 16);
    assert.deepEqual(await masterFromPin(record, "246813", pepper), master);
    await assert.rejects(masterFromPin(record, "246814", pepper), VaultRefused);
    // The pepper is part of the key: the same PIN on another device's record does not open it.
    await assert.rejects(masterFromPin(record, "246813", await newPepper()), VaultRefused);
  });

  test("a record asking for fewer iterations than the floor is refused before any derivation", async () => {
    const pepper = await newPepper();
    const { record } = await createVault("246813", pepper);
    await assert.rejects(masterFromPin({ ...record, pin: { ...record.pin, iterations: MIN_ITERATIONS - 1 } }, "246813", pepper), VaultRefused);
  });

  test("a PRF output wraps the master; another output does not open it", async () => {
    const pepper = await newPepper();
    const { master, record } = await createVault("246813", pepper);
    const prf = new Uint8Array(32).fill(9);
    const w = await prfWrap(master, prf, new Uint8Array([1, 2]), new Uint8Array(32));
    assert.deepEqual(await masterFromPrf(w, prf), master);
    await assert.rejects(masterFromPrf(w, new Uint8Array(32).fill(8)), VaultRefused);
    assert.ok(record.pin.wrapped.length > 0);
  });
});

describe("sealed storage", () => {
  async function setUp() {
    const raw = new MemoryStore(STORES);
    const pepper = await newPepper();
    const { master, record } = await createVault("246813", pepper);
    await raw.put("state", "lock", record);
    const store = new SealedStore(raw);
    store.unlock(await openVault(master.slice()));
    return { raw, store, pepper, record, master };
  }

  test("a dump of the storage holds neither the token nor the names or contents of records", async () => {
    const { raw, store } = await setUp();
    await store.put("state", "token", TOKEN);
    await store.put("admitted", "tkt-0123456789", { at_ms: 1, gate_id: "A" });
    await store.put("queue", "scan-42", { qr: "KC1:secretcode", event_id: "evt-a" });
    const dump = raw.dump();
    for (const secret of [TOKEN, TOKEN.split(".")[1], "tkt-0123456789", "scan-42", "KC1:secretcode", "evt-a", "token"]) {
      assert.ok(!dump.includes(secret), `${secret} in the dump`);
    }
    // and yet all of it reads back while unlocked
    assert.equal(await store.get("state", "token"), TOKEN);
    assert.deepEqual(await store.all("queue"), [{ qr: "KC1:secretcode", event_id: "evt-a" }]);
    assert.deepEqual(await store.get("admitted", "tkt-0123456789"), { at_ms: 1, gate_id: "A" });
  });

  test("locked: nothing sealed is read or written; the right PIN opens it again", async () => {
    const { raw, store, pepper, record } = await setUp();
    await store.put("state", "token", TOKEN);
    store.lock();
    await assert.rejects(store.get("state", "token"), Locked);
    await assert.rejects(store.put("state", "token", "x"), Locked);
    await assert.rejects(store.all("queue"), Locked);
    store.unlock(await openVault(await masterFromPin(record, "246813", pepper)));
    assert.equal(await store.get("state", "token"), TOKEN);
    assert.equal((await raw.keys("state")).includes("token"), false);
  });

  test("a record moved to another slot (another ticket's name) does not open", async () => {
    const { raw, store } = await setUp();
    await store.put("admitted", "tkt-a", { at_ms: 1 });
    await store.put("admitted", "tkt-b", { at_ms: 2 });
    const [ka, kb] = await raw.keys("admitted");
    const a = await raw.get("admitted", ka);
    await raw.put("admitted", kb, a);
    const results = await Promise.allSettled([store.get("admitted", "tkt-a"), store.get("admitted", "tkt-b")]);
    assert.deepEqual(results.map((r) => r.status).sort(), ["fulfilled", "rejected"]);
    assert.ok(results.some((r) => r.status === "rejected" && r.reason instanceof VaultRefused));
  });

  test("what a scanner from before the PIN kept in clear is sealed once the PIN is set", async () => {
    const raw = new MemoryStore(STORES);
    await raw.put("state", "token", TOKEN);
    await raw.put("queue", "scan-1", { qr: "KC1:x" });
    await raw.put("state", "device", { deviceId: "d-1" });
    const store = new SealedStore(raw);
    store.lock({ legacy: true });
    assert.equal(await store.get("state", "token"), TOKEN, "readable before the PIN is set");
    await assert.rejects(store.put("state", "token", TOKEN), Locked, "but nothing new is written in clear");
    const { master } = await createVault("246813", await newPepper());
    store.unlock(await openVault(master));
    await store.sealLegacy(STORES);
    assert.ok(!raw.dump().includes(TOKEN));
    assert.ok(!raw.dump().includes("KC1:x"));
    assert.equal(await store.get("state", "token"), TOKEN);
    assert.deepEqual(await store.all("queue"), [{ qr: "KC1:x" }]);
    assert.deepEqual(await store.get("state", "device"), { deviceId: "d-1" }, "the device key record stays as it is");
  });
});
