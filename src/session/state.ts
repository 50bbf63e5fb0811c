/**
 * The shared session state in IndexedDB (SPEC §5), format version 1:
 *
 *   `session:v1`  { version: 1, id, start, last, props, ids }   (times in ms)
 *
 * Release 0.1.0 kept the same fields without `version` under `s`: read once, then moved.
 * A value that does not read as either is unreadable: reported, and there is no session.
 */
import { promisifyRequest } from 'idb-keyval'
import type { CustomerIds, Properties } from '../mapping/types'
import { guard, type UseStore } from '../store'
import type { Session } from './machine'

export const FORMAT = 1
export const SESSION_KEY = 'session:v1'
export const SESSION_KEY_010 = 's'

export interface StoredSession extends Session {
  version: typeof FORMAT
}

const isObject = (value: unknown): value is Record<string, unknown> => typeof value == 'object' && value !== null && !Array.isArray(value)

/** The session in `value` (without checking `version`), or undefined when it is not one. */
function readFields(value: Record<string, unknown>): Session | undefined {
  const { id, start, last, props, ids } = value
  if (typeof id != 'string' || !id || !Number.isFinite(start) || !Number.isFinite(last)) return undefined
  if (!isObject(props) || !isObject(ids)) return undefined
  if (!Object.values(ids).every((customerId) => typeof customerId == 'string')) return undefined
  return { id, start: start as number, last: last as number, props: props as Properties, ids: ids as CustomerIds }
}

/** `value` as a stored session of the current format, or undefined. */
export function readSession(value: unknown): Session | undefined {
  if (!isObject(value) || value.version !== FORMAT) return undefined
  return readFields(value)
}

/** `value` as a session stored by release 0.1.0, or undefined. */
export function readSession010(value: unknown): Session | undefined {
  if (!isObject(value)) return undefined
  return readFields(value)
}

export const toStored = (session: Session): StoredSession => ({ version: FORMAT, ...session })

/**
 * One readwrite transaction on the session state: `decide` gets the state (after migrating 0.1.0's),
 * may write other keys on the same object store, and returns the new state (undefined deletes it).
 * Resolves when committed; rejects, writing nothing, when it fails or `decide` throws.
 * `unreadable(key)`: a stored value that is no session (it is replaced).
 */
export function updateSession(
  store: UseStore,
  decide: (state: Session | undefined, objectStore: IDBObjectStore) => Session | undefined,
  unreadable: (key: string) => void,
): Promise<void> {
  return store(
    'readwrite',
    (objectStore) =>
      new Promise<void>((resolve, reject) => {
        const current = objectStore.get(SESSION_KEY)
        const old = objectStore.get(SESSION_KEY_010)
        // requests succeed in order: when the second did, both results are there
        old.onsuccess = () =>
          guard(
            objectStore,
            () => {
              const state = readState(current.result, old.result, unreadable)
              if (old.result !== undefined) objectStore.delete(SESSION_KEY_010)
              const next = decide(state, objectStore)
              if (next) objectStore.put(toStored(next), SESSION_KEY)
              else objectStore.delete(SESSION_KEY)
            },
            reject,
          )
        promisifyRequest(objectStore.transaction).then(() => resolve(), reject)
      }),
  )
}

/** The state from the current key, else from 0.1.0's; reports what is there but unreadable. */
function readState(current: unknown, old: unknown, unreadable: (key: string) => void): Session | undefined {
  const session = readSession(current)
  if (current !== undefined && session === undefined) unreadable(SESSION_KEY)
  const session010 = readSession010(old)
  if (old !== undefined && session010 === undefined) unreadable(SESSION_KEY_010)
  return session ?? session010
}
