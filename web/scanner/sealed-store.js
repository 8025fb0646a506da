// The scanner's storage as scanner.js sees it: the same get/put/delete/all/keys/clear as
// shared/idb.js, but every record is sealed with the vault (vault.js) under an opaque name, except
// the few that cannot or need not be: the device key (a non-extractable CryptoKey, which WebCrypto
// cannot wrap), the device pepper (likewise), the lock record (the wrapped master) and the notice
// of a wipe. While the scanner is locked, sealed records can be neither read nor written.
import { indexKey, isSealed, openValue, sealValue, VaultRefused } from "./vault.js";

const CLEAR = new Set(["state/device", "state/lock", "state/pepper", "state/wiped"]);

export class Locked extends Error {
  constructor() {
    super("the scanner is locked");
  }
}

export class SealedStore {
  #keys = null;
  /** Before any PIN was set (a scanner from before the PIN): records are read as they are, and
   * sealed as soon as the PIN is set (`sealLegacy`); nothing new is written in clear. */
  #legacy = false;

  constructor(raw) {
    this.raw = raw;
  }

  get unlocked() {
    return this.#keys !== null;
  }

  unlock(keys) {
    this.#keys = keys;
    this.#legacy = false;
  }

  lock({ legacy = false } = {}) {
    this.#keys = null;
    this.#legacy = legacy;
  }

  #need() {
    if (!this.#keys) throw new Locked();
    return this.#keys;
  }

  async #slot(store, key) {
    return indexKey(this.#need(), store, key);
  }

  async #open(store, record, slot) {
    if (!isSealed(record) || (slot !== undefined && record.slot !== slot)) throw new VaultRefused("record out of place");
    return openValue(this.#need(), `${store}\n${record.slot}`, record);
  }

  async get(store, key) {
    if (CLEAR.has(`${store}/${key}`)) return this.raw.get(store, key);
    if (this.#legacy) {
      const v = await this.raw.get(store, key);
      if (!isSealed(v)) return v;
    }
    const slot = await this.#slot(store, key);
    const v = await this.raw.get(store, slot);
    return v === undefined ? undefined : this.#open(store, v, slot);
  }

  async put(store, key, value) {
    if (CLEAR.has(`${store}/${key}`)) return this.raw.put(store, key, value);
    const slot = await this.#slot(store, key);
    return this.raw.put(store, slot, { ...(await sealValue(this.#need(), `${store}\n${slot}`, value)), slot });
  }

  async delete(store, key) {
    if (CLEAR.has(`${store}/${key}`) || this.#legacy) return this.raw.delete(store, key);
    return this.raw.delete(store, await this.#slot(store, key));
  }

  async all(store) {
    const values = await this.raw.all(store);
    if (this.#legacy) return values.filter((v) => !isSealed(v));
    const keys = this.#need();
    const out = [];
    for (const v of values) if (isSealed(v)) out.push(await openValue(keys, `${store}\n${v.slot}`, v));
    return out;
  }

  keys(store) {
    return this.raw.keys(store);
  }

  async clear(store) {
    // Sign-out clears "state": the lock record goes with it, so the vault is gone.
    if (store === "state") this.lock();
    return this.raw.clear(store);
  }

  /** Seals what a scanner from before the PIN kept in clear (after the PIN is set). */
  async sealLegacy(stores) {
    for (const store of stores) {
      for (const key of await this.raw.keys(store)) {
        if (CLEAR.has(`${store}/${key}`)) continue;
        const v = await this.raw.get(store, key);
        if (isSealed(v)) continue;
        await this.put(store, key, v);
        await this.raw.delete(store, key);
      }
    }
  }
}
