/**
 * Storage behind one small interface: idb-keyval's `UseStore` (a function that runs a callback
 * on an object store inside a transaction). The real one is an IndexedDB database shared by every
 * tab of the origin; when IndexedDB is missing, blocked, failing or hanging, a memory store with the
 * same interface serves the page instead.
 *
 * Keys: `s` holds the session state; every other key is an outbox record.
 */
import { promisifyRequest, type UseStore } from 'idb-keyval'

export type { UseStore }

const request = (result?: unknown) => {
  const r: { result?: unknown; onsuccess?: () => void } = { result }
  Promise.resolve().then(() => r.onsuccess?.())
  return r
}

/** A store in memory for this page, enough of IDBObjectStore for the calls made here and in idb-keyval. */
export function memoryStore(): UseStore {
  const m = new Map<IDBValidKey, unknown>()
  return (_mode, fn) => {
    const transaction: { oncomplete?: () => void } = {}
    const s = {
      transaction,
      get: (k: IDBValidKey) => request(m.get(k)),
      put: (v: unknown, k: IDBValidKey) => (m.set(k, v), request(k)),
      delete: (k: IDBValidKey) => (m.delete(k), request()),
      getAll: () => request([...m.values()]),
      getAllKeys: () => request([...m.keys()]),
    }
    const out = fn(s as unknown as IDBObjectStore)
    setTimeout(() => transaction.oncomplete?.())
    return Promise.resolve(out)
  }
}

/**
 * Opens the IndexedDB store; rejects when IndexedDB is unavailable or does not answer within
 * `timeoutMs`. When another tab deletes (or upgrades) the database, the connection is closed so
 * as not to block it: later transactions fail, and the caller falls back to memory.
 */
export function openStore(name: string, timeoutMs = 2000): Promise<UseStore> {
  return new Promise((resolve, reject) => {
    setTimeout(() => reject(new Error('IndexedDB did not open in time')), timeoutMs)
    const r = indexedDB.open(name)
    r.onupgradeneeded = () => r.result.createObjectStore('kv')
    promisifyRequest(r).then((db) => {
      db.onversionchange = () => db.close()
      resolve((mode, fn) => Promise.resolve().then(() => fn(db.transaction('kv', mode).objectStore('kv'))))
    }, reject)
  })
}

/**
 * Runs `fn` in a request callback of `s`'s transaction: when it throws (a quota error on `put`,
 * say), the whole transaction is aborted and `fail` gets the error, instead of the page.
 */
export function guard(s: IDBObjectStore, fn: () => void, fail?: (e: unknown) => void) {
  try {
    fn()
  } catch (e) {
    fail?.(e)
    try {
      s.transaction.abort()
    } catch {}
  }
}

/**
 * One readwrite transaction on the session state: `fn` reads it, decides, may write other keys on
 * the same object store, and returns the new state (undefined deletes it). Resolves when committed;
 * rejects, writing nothing, when it fails or `fn` throws.
 */
export const change = <T>(store: UseStore, fn: (state: T | undefined, s: IDBObjectStore) => T | undefined): Promise<void> =>
  store(
    'readwrite',
    (s) =>
      new Promise<void>((resolve, reject) => {
        const r = s.get('s')
        r.onsuccess = () =>
          guard(
            s,
            () => {
              const next = fn(r.result, s)
              next ? s.put(next, 's') : s.delete('s')
            },
            reject,
          )
        promisifyRequest(s.transaction).then(() => resolve(), reject)
      }),
  )

/** Runs `fn` on the object store in one readwrite transaction; resolves when committed. */
export const write = (store: UseStore, fn: (s: IDBObjectStore) => void): Promise<void> =>
  store('readwrite', (s) => (fn(s), promisifyRequest(s.transaction)))
