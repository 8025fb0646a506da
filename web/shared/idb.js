// A tiny promise wrapper over IndexedDB: one database, named object stores of key -> value.
// Values may be CryptoKeys (structured clone keeps them non-extractable).
export function openDb(name, stores, version = 1) {
  return new Promise((resolve, reject) => {
    const req = indexedDB.open(name, version);
    req.onupgradeneeded = () => {
      for (const s of stores) if (!req.result.objectStoreNames.contains(s)) req.result.createObjectStore(s);
    };
    req.onsuccess = () => resolve(new Store(req.result));
    req.onerror = () => reject(req.error);
  });
}

class Store {
  constructor(db) {
    this.db = db;
  }
  #run(store, mode, fn) {
    return new Promise((resolve, reject) => {
      const tx = this.db.transaction(store, mode);
      const req = fn(tx.objectStore(store));
      tx.oncomplete = () => resolve(req?.result);
      tx.onerror = () => reject(tx.error);
      tx.onabort = () => reject(tx.error);
    });
  }
  get(store, key) {
    return this.#run(store, "readonly", (s) => s.get(key));
  }
  put(store, key, value) {
    return this.#run(store, "readwrite", (s) => s.put(value, key));
  }
  delete(store, key) {
    return this.#run(store, "readwrite", (s) => s.delete(key));
  }
  all(store) {
    return this.#run(store, "readonly", (s) => s.getAll());
  }
  keys(store) {
    return this.#run(store, "readonly", (s) => s.getAllKeys());
  }
  clear(store) {
    return this.#run(store, "readwrite", (s) => s.clear());
  }
}
