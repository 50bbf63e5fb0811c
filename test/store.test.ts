import 'fake-indexeddb/auto'
import { del, entries, get, keys, promisifyRequest, set, values } from 'idb-keyval'
import { afterEach, describe, expect, it, vi } from 'vitest'
import { guard, memoryStore, openStore, write, type UseStore } from '../src/store'

interface State {
  n: number
}

/**
 * A read-decide-write transaction on key `s`, as the session state uses (session/state.ts): `fn`
 * runs in a request callback under `guard`, so that its throw aborts the transaction.
 */
function change<T>(store: UseStore, fn: (state: T | undefined, objectStore: IDBObjectStore) => T | undefined): Promise<void> {
  return store(
    'readwrite',
    (objectStore) =>
      new Promise<void>((resolve, reject) => {
        const request = objectStore.get('s')
        request.onsuccess = () =>
          guard(
            objectStore,
            () => {
              const next = fn(request.result, objectStore)
              if (next) objectStore.put(next, 's')
              else objectStore.delete('s')
            },
            reject,
          )
        promisifyRequest(objectStore.transaction).then(() => resolve(), reject)
      }),
  )
}

afterEach(() => {
  vi.useRealTimers()
  vi.unstubAllGlobals()
})

let dbs = 0
const fresh = () => 'store-test-' + ++dbs

/** The same checks against the memory store and a real (fake-indexeddb) one. */
describe.each([
  ['memoryStore', async () => memoryStore()],
  ['openStore', () => openStore(fresh())],
])('%s', (_, make: () => Promise<UseStore>) => {
  it("works with idb-keyval's get, set, del, keys, values and entries", async () => {
    const s = await make()
    expect(await get('missing', s)).toBeUndefined()
    await set('a', { x: 1 }, s)
    await set('b', [1, 2], s)
    expect(await get('a', s)).toEqual({ x: 1 })
    expect((await keys(s)).sort()).toEqual(['a', 'b'])
    expect(await values(s)).toHaveLength(2)
    expect(new Map(await entries(s))).toEqual(
      new Map<IDBValidKey, unknown>([
        ['a', { x: 1 }],
        ['b', [1, 2]],
      ]),
    )
    await set('a', 'replaced', s)
    expect(await get('a', s)).toBe('replaced')
    await del('a', s)
    expect(await keys(s)).toEqual(['b'])
  })

  it('change reads the state, writes what fn returns, and deletes it on undefined', async () => {
    const s = await make()
    const seen: (State | undefined)[] = []
    await change<State>(s, (st) => (seen.push(st), { n: 1 }))
    await change<State>(s, (st) => (seen.push(st), { n: st!.n + 1 }))
    expect(await get('s', s)).toEqual({ n: 2 })
    await change<State>(s, (st) => (seen.push(st), undefined))
    expect(seen).toEqual([undefined, { n: 1 }, { n: 2 }])
    expect(await get('s', s)).toBeUndefined()
    expect(await keys(s)).toEqual([])
  })

  it('change can write other keys in the same transaction, visible once it resolved', async () => {
    const s = await make()
    await change<State>(s, (st, os) => {
      os.put({ c: 'cmd-1' }, 'k1')
      os.put({ c: 'cmd-2' }, 'k2')
      return { n: (st?.n ?? 0) + 1 }
    })
    expect((await keys(s)).sort()).toEqual(['k1', 'k2', 's'])
    expect(await get('k2', s)).toEqual({ c: 'cmd-2' })
  })

  it('consecutive changes see each other', async () => {
    const s = await make()
    for (let i = 0; i < 5; i++) await change<State>(s, (st) => ({ n: (st?.n ?? 0) + 1 }))
    expect(await get('s', s)).toEqual({ n: 5 })
  })

  it('write puts and deletes in one transaction', async () => {
    const s = await make()
    await write(s, (os) => {
      for (let i = 0; i < 10; i++) os.put({ i }, 'r' + i)
    })
    expect(await keys(s)).toHaveLength(10)
    await write(s, (os) => ['r0', 'r5', 'r9', 'nope'].forEach((k) => os.delete(k)))
    expect((await keys(s)).sort()).toEqual(['r1', 'r2', 'r3', 'r4', 'r6', 'r7', 'r8'])
    await write(s, (os) => {
      const r = os.getAll()
      r.onsuccess = () => (r.result as { i: number }[]).forEach((v) => os.put({ ...v, seen: true }, 'r' + v.i))
    })
    expect(await get('r1', s)).toEqual({ i: 1, seen: true })
  })
})

describe('memoryStore', () => {
  it('each memory store is separate', async () => {
    const a = memoryStore()
    const b = memoryStore()
    await set('k', 1, a)
    expect(await get('k', b)).toBeUndefined()
  })
})

describe('openStore', () => {
  it('two openings of the same name (two tabs) share data; another name does not', async () => {
    const name = fresh()
    const [a, b] = await Promise.all([openStore(name), openStore(name)])
    const other = await openStore(fresh())
    await change<State>(a, () => ({ n: 7 }))
    expect(await get('s', b)).toEqual({ n: 7 })
    expect(await get('s', other)).toBeUndefined()
  })

  it('concurrent changes from two connections are serialised (no lost update)', async () => {
    const name = fresh()
    const [a, b] = await Promise.all([openStore(name), openStore(name)])
    await Promise.all(Array.from({ length: 20 }, (_, i) => change<State>(i % 2 ? a : b, (st) => ({ n: (st?.n ?? 0) + 1 }))))
    expect(await get('s', a)).toEqual({ n: 20 })
  })

  it('rejects after the timeout when indexedDB.open never answers', async () => {
    vi.useFakeTimers()
    const open = vi.fn(() => ({}) as IDBOpenDBRequest)
    vi.stubGlobal('indexedDB', { open })
    const p = openStore(fresh(), 500)
    const failed = vi.fn()
    p.catch(failed)
    await vi.advanceTimersByTimeAsync(499)
    expect(open).toHaveBeenCalledTimes(1)
    expect(failed).not.toHaveBeenCalled()
    await vi.advanceTimersByTimeAsync(1)
    await expect(p).rejects.toThrow(/did not open in time/)
  })

  it('waits 2 s by default', async () => {
    vi.useFakeTimers()
    vi.stubGlobal('indexedDB', { open: () => ({}) })
    const p = openStore(fresh())
    const failed = vi.fn()
    p.catch(failed)
    await vi.advanceTimersByTimeAsync(1999)
    expect(failed).not.toHaveBeenCalled()
    await vi.advanceTimersByTimeAsync(1)
    expect(failed).toHaveBeenCalledTimes(1)
  })

  it('rejects when IndexedDB is missing', async () => {
    vi.stubGlobal('indexedDB', undefined)
    await expect(openStore(fresh(), 100)).rejects.toThrow()
  })

  it('rejects when opening fails', async () => {
    vi.stubGlobal('indexedDB', {
      open() {
        const r = { error: new Error('blocked by the user'), onerror: undefined as undefined | (() => void) }
        setTimeout(() => r.onerror?.())
        return r
      },
    })
    await expect(openStore(fresh(), 1000)).rejects.toThrow('blocked by the user')
  })

  it('resolves to a working store', async () => {
    const s = await openStore(fresh(), 1000)
    await set('x', 1, s)
    expect(await get('x', s)).toBe(1)
  })
})

describe('openStore when a transaction never gets its turn (WebKit, behind a page that went away)', () => {
  /** Keeps a readwrite transaction of `db` busy (one request after another) until `release` is called. */
  function holdBusy(db: IDBDatabase) {
    let held = true
    const objectStore = db.transaction('kv', 'readwrite').objectStore('kv')
    const again = () => {
      if (held) objectStore.get('busy').onsuccess = again
    }
    again()
    return {
      release: () => {
        held = false
        return promisifyRequest(objectStore.transaction)
      },
    }
  }

  it('aborts the waiting transaction after the timeout: the write rejects, writes nothing, and the store works again', async () => {
    const name = fresh()
    const store = await openStore(name, 1000, 200)
    const other = await promisifyRequest(indexedDB.open(name))
    const busy = holdBusy(other)
    const waiting = write(store, (objectStore) => objectStore.put('late', 'x'))
    await expect(waiting).rejects.toBeDefined()
    await busy.release()
    other.close()
    expect(await get('x', store)).toBeUndefined()
    await write(store, (objectStore) => objectStore.put('next', 'x'))
    expect(await get('x', store)).toBe('next')
  })

  it('rejects after the timeout even when the aborted transaction never reports its abort (WebKit)', async () => {
    const abort = vi.fn()
    const stuck = { abort, addEventListener: () => undefined, objectStore: () => ({ transaction: stuck }) }
    const db = { transaction: () => stuck }
    vi.stubGlobal('indexedDB', {
      open() {
        const request = { result: db, onsuccess: undefined as undefined | (() => void) }
        setTimeout(() => request.onsuccess?.())
        return request
      },
    })
    const store = await openStore(fresh(), 1000, 50)
    // the callback waits for the transaction's end, which never comes
    await expect(store('readwrite', () => new Promise(() => undefined))).rejects.toThrow(/did not finish in time/)
    expect(abort).toHaveBeenCalledTimes(1)
  })

  it('a transaction that finishes in time is committed, not aborted', async () => {
    const store = await openStore(fresh(), 1000, 200)
    await write(store, (objectStore) => objectStore.put('kept', 'y'))
    expect(await get('y', store)).toBe('kept')
  })
})

describe('change when its callback throws (a quota error on put, say)', () => {
  it('rejects with that error, writes nothing, and leaves the store usable', async () => {
    const s = await openStore(fresh())
    await change<State>(s, () => ({ n: 1 }))
    const quota = new DOMException('full', 'QuotaExceededError')
    await expect(
      change<State>(s, (_, os) => {
        os.put({ c: 'cmd' }, 'k1')
        throw quota
      }),
    ).rejects.toBe(quota)
    expect(await keys(s)).toEqual(['s'])
    expect(await get('s', s)).toEqual({ n: 1 })
    await change<State>(s, (st) => ({ n: st!.n + 1 }))
    expect(await get('s', s)).toEqual({ n: 2 })
  })

  it('the memory store rejects too', async () => {
    const s = memoryStore()
    await expect(
      change<State>(s, () => {
        throw new Error('boom')
      }),
    ).rejects.toThrow('boom')
  })
})

describe('openStore when another tab deletes the database', () => {
  it('closes its connection so that the deletion is not blocked; later transactions reject', async () => {
    const name = fresh()
    const s = await openStore(name)
    await change<State>(s, () => ({ n: 1 }))
    const outcome = await new Promise<string>((resolve) => {
      const d = indexedDB.deleteDatabase(name)
      d.onblocked = () => resolve('blocked')
      d.onsuccess = () => resolve('deleted')
      d.onerror = () => resolve('error')
    })
    expect(outcome).toBe('deleted')
    await expect(change<State>(s, () => ({ n: 2 }))).rejects.toThrow()
    // a new page opens a fresh, empty database
    expect(await keys(await openStore(name))).toEqual([])
  })
})
