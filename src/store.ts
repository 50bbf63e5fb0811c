/**
 * Storage behind one small interface: idb-keyval's `UseStore` (a function that runs a callback
 * on an object store inside a transaction). The real one is an IndexedDB database shared by every
 * tab of the origin; when IndexedDB is missing, blocked, failing or hanging, a memory store with the
 * same interface serves the page instead.
 *
 * What is stored under which key: session/state.ts (the session state) and delivery/records.ts
 * (outbox records).
 */
import { promisifyRequest, type UseStore } from 'idb-keyval'

export type { UseStore }

/** A request of the memory store: its result is known at once, its success event fires in a microtask. */
function memoryRequest(result?: unknown) {
  const request: { result?: unknown; onsuccess?: () => void } = { result }
  queueMicrotask(() => request.onsuccess?.())
  return request
}

const memoryStores = new WeakSet<UseStore>()

/** Whether `store` is a memory store: only this page sees it. */
export const isMemoryStore = (store: UseStore): boolean => memoryStores.has(store)

/** A store in memory for this page, enough of IDBObjectStore for the calls made here and in idb-keyval. */
export function memoryStore(): UseStore {
  const map = new Map<IDBValidKey, unknown>()
  const store: UseStore = (_mode, fn) => {
    const transaction: { oncomplete?: () => void } = {}
    const objectStore = {
      transaction,
      get: (key: IDBValidKey) => memoryRequest(map.get(key)),
      put(value: unknown, key: IDBValidKey) {
        map.set(key, value)
        return memoryRequest(key)
      },
      delete(key: IDBValidKey) {
        map.delete(key)
        return memoryRequest()
      },
      getAll: () => memoryRequest([...map.values()]),
      getAllKeys: () => memoryRequest([...map.keys()]),
    }
    const out = fn(objectStore as unknown as IDBObjectStore)
    // completes after the requests' success events, as a transaction does
    setTimeout(() => transaction.oncomplete?.())
    return Promise.resolve(out)
  }
  memoryStores.add(store)
  return store
}

/**
 * Opens the IndexedDB store; rejects when IndexedDB is unavailable or does not answer within
 * `timeoutMs`. When another tab deletes (or upgrades) the database, the connection is closed so
 * as not to block it: later transactions fail, and the caller falls back to memory.
 */
export function openStore(name: string, timeoutMs = 2000): Promise<UseStore> {
  return new Promise((resolve, reject) => {
    setTimeout(() => reject(new Error('IndexedDB did not open in time')), timeoutMs)
    const request = indexedDB.open(name)
    request.onupgradeneeded = () => request.result.createObjectStore('kv')
    promisifyRequest(request).then((db) => {
      db.onversionchange = () => db.close()
      const store: UseStore = (mode, fn) => Promise.resolve().then(() => fn(db.transaction('kv', mode).objectStore('kv')))
      resolve(store)
    }, reject)
  })
}

/**
 * Runs `fn` in a request callback of `s`'s transaction: when it throws (a quota error on `put`,
 * say), the whole transaction is aborted and `fail` gets the error, instead of the page.
 */
export function guard(objectStore: IDBObjectStore, fn: () => void, fail?: (error: unknown) => void) {
  try {
    fn()
  } catch (error) {
    fail?.(error)
    try {
      objectStore.transaction.abort()
    } catch {
      // already finished, or the memory store (no rollback)
    }
  }
}

/** Runs `fn` on the object store in one readwrite transaction; resolves when committed. */
export function write(store: UseStore, fn: (objectStore: IDBObjectStore) => void): Promise<void> {
  return store('readwrite', (objectStore) => {
    fn(objectStore)
    return promisifyRequest(objectStore.transaction).then(() => undefined)
  })
}
