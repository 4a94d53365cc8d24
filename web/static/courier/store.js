// A tiny promise wrapper over IndexedDB: the offline queue ("queue"), cached items ("items"), and the last
// run ("meta"). One database per courier, so two couriers sharing a phone never replay each other's scans.
const STORES = { queue: "key", items: "item_code", meta: "k" };

function req(r) {
  return new Promise((resolve, reject) => {
    r.onsuccess = () => resolve(r.result);
    r.onerror = () => reject(r.error);
  });
}

export async function openStore(name) {
  const open = indexedDB.open(name, 1);
  open.onupgradeneeded = () => {
    for (const [store, keyPath] of Object.entries(STORES)) {
      if (!open.result.objectStoreNames.contains(store)) open.result.createObjectStore(store, { keyPath });
    }
  };
  const db = await req(open);
  const tx = (store, mode) => db.transaction(store, mode).objectStore(store);
  return {
    get: (store, key) => req(tx(store, "readonly").get(key)),
    all: (store) => req(tx(store, "readonly").getAll()),
    put: (store, value) => req(tx(store, "readwrite").put(value)),
    delete: (store, key) => req(tx(store, "readwrite").delete(key)),
  };
}
