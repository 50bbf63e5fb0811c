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

/** ms a transaction may take before it is aborted and its caller falls back (see `bounded`) */
export const TRANSACTION_TIMEOUT = 5000

/**
 * Opens the IndexedDB store; rejects when IndexedDB is unavailable or does not answer within
 * `timeoutMs`. Each of its transactions is bounded by `transactionTimeoutMs` (see `bounded`). When
 * another tab deletes (or upgrades) the database, the connection is closed so as not to block it:
 * later transactions fail, and the caller falls back to memory.
 */
export function openStore(name: string, timeoutMs = 2000, transactionTimeoutMs = TRANSACTION_TIMEOUT): Promise<UseStore> {
  return new Promise((resolve, reject) => {
    setTimeout(() => reject(new Error('IndexedDB did not open in time')), timeoutMs)
    const request = indexedDB.open(name)
    request.onupgradeneeded = () => request.result.createObjectStore('kv')
    promisifyRequest(request).then((db) => {
      db.onversionchange = () => db.close()
      const store: UseStore = (mode, fn) =>
        Promise.resolve().then(() => {
          const transaction = db.transaction('kv', mode)
          return bounded(transaction, fn(transaction.objectStore('kv')), transactionTimeoutMs)
        })
      resolve(store)
    }, reject)
  })
}

/**
 * `result` (what the callback of `transaction` returned), unless the transaction has not finished
 * within `timeoutMs`: then it is aborted and the promise rejects, whether or not the abort event
 * ever comes. WebKit can leave every transaction on the database waiting forever (after many
 * navigations: even a new connection's read never completes), which would hold the page's session
 * step and its adoption lock for its whole life; rejected, the caller falls back to memory instead.
 * An aborted transaction cannot commit later behind the fallback's back.
 */
function bounded<T>(transaction: IDBTransaction, result: T | PromiseLike<T>, timeoutMs: number): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined
  const stopTimer = () => clearTimeout(timer)
  const overdue = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      // already finished (its events not dispatched yet): its own outcome settles `result`
      if (!abortUnfinished(transaction)) return
      reject(new Error('IndexedDB transaction did not finish in time'))
    }, timeoutMs)
  })
  transaction.addEventListener('complete', stopTimer)
  transaction.addEventListener('abort', stopTimer)
  transaction.addEventListener('error', stopTimer)
  return Promise.race([Promise.resolve(result), overdue]).finally(stopTimer)
}

/** Aborts `transaction`; false when it had finished already. */
function abortUnfinished(transaction: IDBTransaction): boolean {
  try {
    transaction.abort()
    return true
  } catch {
    return false
  }
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
