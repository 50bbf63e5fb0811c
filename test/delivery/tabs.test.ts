/**
 * The outbox across tabs of one origin, on a real (fake-indexeddb) database and a localStorage shared
 * by the tabs: unload that the browser interrupts or runs twice, ownership checked before each send
 * (a tab taken for gone never sends what another adopted), leases, and adoption of journals.
 */
import 'fake-indexeddb/auto'
import { entries, get, set } from 'idb-keyval'
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import { outbox } from '../../src/delivery/outbox'
import { newRecord, storageKey } from '../../src/delivery/records'
import { LOCK_PREFIX, lockedTabs, tabLock } from '../../src/delivery/tabs'
import type { Transport } from '../../src/delivery/transport'
import type { Command } from '../../src/mapping/types'
import { openStore, write, type UseStore } from '../../src/store'
import { memoryLocalStorage } from '../helpers/local-storage'
import { fakeLocks, type FakeLocks } from '../helpers/locks'
import { pass, settle } from '../helpers/fake-time'
import { eventCommand, ids, nextKey, outboxOptions, recordingApi, T0, type Reports } from '../helpers/outbox'

/** A tracked event numbered `i`, with `text` as a property. */
const command = (i: number, text = '') => eventCommand(i, { text })

let dbs = 0
/** An origin whose tabs share one database and localStorage, and `locks` (their Web Locks) when given. */
function origin(options: { lease?: number; locks?: FakeLocks } = {}) {
  const name = 'tabs-test-' + ++dbs
  const reports: Reports = []
  function tab(id: string, transport: Transport) {
    // fake-indexeddb commits on real time while these tests jump fake time by many seconds: the
    // bound on a transaction's time (store.ts) would abort transactions that are only waiting for it
    const db = openStore(name, 2000, 24 * 3600_000)
    const box = outbox({
      ...outboxOptions(transport, () => db, reports),
      tab: id,
      journalPrefix010: 'old:',
      otherKeys: ['session:v1', 's'],
      lease: options.lease ?? 0,
      presence: options.locks ? tabLock(options.locks, id) : undefined,
    })
    /** what the session layer does: alive for the other tabs, persist in one transaction, then hand over */
    const track = async (...numbers: number[]) => {
      const records = numbers.map((i) => newRecord(nextKey(), id, command(i)))
      await box.hold()
      await write(await db, (s) => records.forEach((r) => s.put(r, storageKey(r.key))))
      box.add(records)
      return records
    }
    return { id, db, box, track }
  }
  return { name, tab, reports }
}

/** An origin with one tab `A` that sends to a recording API: how most tests here begin. */
function originWithTabA(options: { lease?: number } = {}) {
  const o = origin(options)
  const network = recordingApi()
  const a = o.tab('A', network.transport)
  return { o, network, a }
}

const stored = async (db: Promise<UseStore>) => ((await entries(await db)) as [string, unknown][]).map(([key]) => key)

beforeEach(() => {
  vi.useFakeTimers({ now: T0, toFake: ['setTimeout', 'clearTimeout', 'Date'] })
  vi.spyOn(Math, 'random').mockReturnValue(1)
  vi.stubGlobal('localStorage', memoryLocalStorage())
})
afterEach(() => {
  vi.useRealTimers()
  vi.restoreAllMocks()
  vi.unstubAllGlobals()
})

describe('an unload the browser interrupts inside sendBeacon, then runs again', () => {
  /** Firefox stops a pagehide handler inside sendBeacon after the beacon left: the call never returns. */
  const STOPPED = new Error('the browser stopped the handler')

  /** `transport`, but its first beacon leaves and then never returns; `whenStopped` runs at that moment. */
  function stoppedInFirstBeacon(transport: Transport, whenStopped = () => {}): Transport {
    let calls = 0
    return {
      post: transport.post,
      beacon(body) {
        transport.beacon(body) // the beacon left …
        calls++
        if (calls == 1) {
          whenStopped()
          throw STOPPED // … and the call never returns
        }
        return true
      },
    }
  }

  it('beacons each record once, and journals the beaconed ones as deleted before the beacon', async () => {
    const o = origin()
    const network = recordingApi()
    const interrupting = stoppedInFirstBeacon(network.transport, () => {
      // … and at that moment the journal already says its records are gone
      const journal = JSON.parse(localStorage.getItem('j:A')!)
      expect(journal.deleted).toHaveLength(50)
    })
    const a = o.tab('A', interrupting)
    await a.track(...Array.from({ length: 70 }, (_, i) => i))
    const extra = [newRecord(nextKey(), 'A', command(70)), newRecord(nextKey(), 'A', command(71))]
    expect(() => a.box.unload(extra)).toThrow(STOPPED) // pagehide
    a.box.unload([]) // visibilitychange to hidden
    expect(network.beaconed.sort((x, y) => x - y)).toEqual(Array.from({ length: 72 }, (_, i) => i))
    // nothing is left to send; the storage work of both unloads empties the outbox
    await pass(5000)
    expect(network.delivered).toEqual([])
    expect(await stored(a.db)).toEqual([])
    expect(localStorage.getItem('j:A')).toBeNull()
  })

  it('a page that dies after the interrupted unload: the next tab applies its journal and sends nothing twice', async () => {
    const o = origin()
    const network = recordingApi()
    const interrupting = stoppedInFirstBeacon(network.transport)
    const a = o.tab('A', interrupting)
    await a.track(0, 1, 2)
    // the page dies in the handler: no storage work runs after it
    expect(() => a.box.unload([newRecord(nextKey(), 'A', command(3))])).toThrow(STOPPED)
    // what storage holds is stale (0-2 still there); the journal says they left
    const b = o.tab('B', network.transport)
    await settle()
    await b.box.adopt((tab) => tab == 'B')
    await pass(2000)
    expect(network.beaconed.sort()).toEqual([0, 1, 2, 3])
    expect(network.delivered).toEqual([])
    expect(await stored(b.db)).toEqual([])
  })
})

describe('an unload the browser stops before the beacon leaves', () => {
  it('stopped while the beacon body is built: the journal still keeps the records, the next tab sends each once', async () => {
    const { o, network, a } = originWithTabA()
    await a.track(0, 1)
    const stringify = JSON.stringify
    // the handler stops while it builds the first request body (the journal is written with the same function)
    vi.spyOn(JSON, 'stringify').mockImplementation((value: unknown, ...rest: unknown[]) => {
      if ((value as { sdk?: unknown } | null)?.sdk !== undefined) throw new Error('the browser stopped the handler')
      return stringify(value, ...(rest as [])) as string
    })
    expect(() => a.box.unload([newRecord(nextKey(), 'A', command(2))])).toThrow('the browser stopped the handler')
    vi.mocked(JSON.stringify).mockRestore()
    expect(network.beaconed).toEqual([])
    const journal = JSON.parse(localStorage.getItem('j:A')!)
    expect(ids(journal.kept.map((record: { command: Command }) => record.command))).toEqual([2])
    expect(journal.deleted).toEqual([])
    // the page dies: the next tab applies the journal and adopts what storage holds
    const b = o.tab('B', network.transport)
    await settle()
    await b.box.adopt((tab) => tab == 'B')
    await pass(2000)
    expect(network.delivered.sort()).toEqual([0, 1, 2])
    expect(network.beaconed).toEqual([])
    expect(await stored(b.db)).toEqual([])
  })
})

describe('ownership is checked in IndexedDB right before each send', () => {
  it('a tab taken for gone (frozen) whose records another tab adopted does not send them when it runs again', async () => {
    const { o, network, a } = originWithTabA({ lease: 35_000 })
    network.setDown(true)
    await a.track(0, 1, 2)
    await pass(1000) // A tried and failed: it waits for its retry
    expect(network.delivered).toEqual([])
    // A is frozen: B takes it for gone and adopts its records
    const b = o.tab('B', network.transport)
    await settle()
    expect(await b.box.adopt((tab) => tab == 'B')).toBe(0)
    network.setDown(false)
    await pass(60_000) // both retry: only the owner sends
    expect(network.delivered.sort()).toEqual([0, 1, 2])
    expect(await stored(a.db)).toEqual([])
  })

  it("a record leased by its owner's request in flight is not adopted until its lease ends", async () => {
    const { o, network, a } = originWithTabA({ lease: 35_000 })
    network.setLatency(10_000)
    await a.track(0, 1)
    await pass(1000) // A's request is in flight: its records are leased
    const b = o.tab('B', network.transport)
    await settle()
    expect(await b.box.adopt((tab) => tab == 'B')).toBe(2)
    await pass(10_000) // A's request delivers them
    expect(network.delivered).toEqual([0, 1])
    // after the lease, nothing is left to adopt
    await pass(30_000)
    expect(await b.box.adopt((tab) => tab == 'B')).toBe(0)
    await pass(5000)
    expect(network.delivered).toEqual([0, 1])
  })

  it('a failed request ends the lease: a tab gone during an outage has its records adopted at once', async () => {
    const { o, network, a } = originWithTabA({ lease: 35_000 })
    network.setDown(true)
    await a.track(0, 1)
    await pass(1000)
    const b = o.tab('B', network.transport)
    await settle()
    expect(await b.box.adopt((tab) => tab == 'B')).toBe(0)
    expect(b.box.size()).toBe(2)
  })

  it('tabs adopting at the same time: each record goes to one of them, and is sent once', async () => {
    const { o, network, a } = originWithTabA()
    network.setDown(true)
    await a.track(0, 1, 2, 3)
    await pass(1000)
    const others = ['B', 'C', 'D'].map((id) => o.tab(id, network.transport))
    await settle()
    await Promise.all(others.map((t) => t.box.adopt((tab) => tab != 'A')))
    expect(others.map((t) => t.box.size()).sort()).toEqual([0, 0, 4])
    network.setDown(false)
    await pass(60_000)
    expect(network.delivered.sort()).toEqual([0, 1, 2, 3])
  })

  it('a record only unload kept (a refused beacon), the page living on: sent once by its owner', async () => {
    const o = origin()
    const network = recordingApi()
    const a = o.tab('A', { post: network.transport.post, beacon: () => false })
    await a.track(0)
    a.box.unload([newRecord(nextKey(), 'A', command(1))])
    await pass(2000)
    expect(network.delivered).toEqual([0, 1])
    expect(await stored(a.db)).toEqual([])
  })
})

describe('unreadable storage never blocks what is readable', () => {
  it('garbage and broken records beside intact ones: intact ones delivered once, the rest deleted and reported', async () => {
    const { o, network, a } = originWithTabA()
    const db = await a.db
    const intact = [0, 1, 2].map((i) => newRecord(nextKey(), 'gone', command(i)))
    for (const r of intact) await set(storageKey(r.key), r, db)
    const broken = { ...intact[0], key: 'broken' }
    await set(storageKey('broken'), { ...broken, command: { name: 'crm/events' } }, db)
    await set(storageKey('nan'), { ...broken, key: 'nan', bytes: NaN, owner: undefined }, db)
    await set('foreign', 42, db)
    await set(7, { k: 1 }, db)
    await set('s', { id: 'session', start: 1, last: 2, props: {}, ids: {} }, db) // the session's: left alone
    localStorage.setItem('j:dead', '{not json')
    localStorage.setItem('j:dead2', JSON.stringify({ version: 1, deleted: [1, 'x'], kept: [null, intact[0]] }))
    await a.box.adopt((tab) => tab == 'A')
    await pass(2000)
    expect(network.delivered.sort()).toEqual([0, 1, 2])
    expect(o.reports).toEqual([['unreadable_record', { count: 7, keys: expect.arrayContaining(['foreign', '7', storageKey('nan')]) }]])
    expect(await stored(a.db)).toEqual(['s'])
    expect(localStorage.length).toBe(0)
  })
})

describe('the legacy 0.1.0 format', () => {
  it('records `{k, o, c, n}` and journals `[[deleted], [kept]]` of a gone tab are migrated and sent once', async () => {
    const { o, network, a } = originWithTabA()
    const db = await a.db
    const legacy = (i: number) => ({ k: nextKey(), o: 'old-tab', c: command(i), n: 1 })
    const [r0, r1, r2] = [legacy(0), legacy(1), legacy(2)]
    await set(r0.k, r0, db)
    await set(r1.k, r1, db)
    // r1 left in a beacon (deleted), r2 was kept but never reached storage
    localStorage.setItem('old:old-tab', JSON.stringify([[r1.k], [r2]]))
    await a.box.adopt((tab) => tab == 'A')
    await pass(2000)
    expect(network.delivered.sort()).toEqual([0, 2])
    expect(await stored(a.db)).toEqual([])
    expect(localStorage.length).toBe(0)
    expect(o.reports).toEqual([])
  })

  it('a 0.1.0 record of a tab that is still alive is left to it', async () => {
    const { a } = originWithTabA()
    const record = { k: nextKey(), o: 'old-tab', c: command(0), n: 1 }
    await set(record.k, record, await a.db)
    expect(await a.box.adopt((tab) => tab == 'A' || tab == 'old-tab')).toBe(1)
    expect(await get(record.k, await a.db)).toEqual(record)
  })
})

describe('Web Locks: a tab holds its lock only while it has something in storage', () => {
  /** An origin with Web Locks and one tab `A` that sends to a recording API. */
  function originWithLocks() {
    const locks = fakeLocks()
    const o = origin({ locks })
    const network = recordingApi()
    const a = o.tab('A', network.transport)
    const holdsLock = (id: string) => locks.isHeld(LOCK_PREFIX + id)
    return { o, network, a, locks, holdsLock }
  }

  it('an idle tab holds none (so Firefox can keep its page in the back/forward cache); a tracked event holds it until delivered and deleted', async () => {
    const { network, a, holdsLock } = originWithLocks()
    await settle()
    expect(holdsLock('A')).toBe(false)
    await a.track(0, 1)
    expect(holdsLock('A')).toBe(true)
    await pass(1000)
    expect(network.delivered).toEqual([0, 1])
    expect(await stored(a.db)).toEqual([])
    expect(holdsLock('A')).toBe(false)
  })

  it('while the API is down the lock stays held: another tab leaves the records alone, and they are sent once, by their owner', async () => {
    const { o, network, a, locks, holdsLock } = originWithLocks()
    network.setDown(true)
    await a.track(0, 1, 2)
    await pass(5000)
    expect(holdsLock('A')).toBe(true)
    const b = o.tab('B', network.transport)
    await settle()
    expect(await b.box.adopt(await lockedTabs(locks))).toBe(3)
    expect(b.box.size()).toBe(0)
    // B adopted nothing: it lets its lock go again
    await pass(1)
    expect(holdsLock('B')).toBe(false)
    network.setDown(false)
    await pass(60_000)
    expect(network.delivered).toEqual([0, 1, 2])
    expect(holdsLock('A')).toBe(false)
  })

  it('a tab whose page was closed has its records adopted by the next tab, which holds its own lock until it sent them', async () => {
    const { o, network, a, locks, holdsLock } = originWithLocks()
    network.setDown(true)
    await a.track(0, 1)
    await pass(1000)
    // A's page is gone: the browser releases its lock
    locks.takeAway(LOCK_PREFIX + 'A')
    network.setDown(false)
    const b = o.tab('B', network.transport)
    await settle()
    expect(await b.box.adopt(await lockedTabs(locks))).toBe(0)
    expect(holdsLock('B')).toBe(true)
    await pass(60_000)
    expect(network.delivered.sort()).toEqual([0, 1])
    expect(holdsLock('B')).toBe(false)
  })

  it('the lock taken away while the page lived on (WebKit, back/forward cache): asked for again before the next send, so no other tab adopts a request in flight', async () => {
    const { o, network, a, locks, holdsLock } = originWithLocks()
    network.setDown(true)
    await a.track(0, 1)
    await pass(1000) // A's request failed: it waits for its retry
    locks.takeAway(LOCK_PREFIX + 'A')
    await settle()
    expect(holdsLock('A')).toBe(false)
    network.setDown(false)
    network.setLatency(10_000)
    a.box.retryNow() // the browser is online again
    await settle()
    expect(holdsLock('A')).toBe(true)
    // A's request is in flight: B, loading now, leaves its records alone
    const b = o.tab('B', network.transport)
    await settle()
    expect(await b.box.adopt(await lockedTabs(locks))).toBe(2)
    await pass(20_000)
    expect(network.delivered).toEqual([0, 1])
    expect(holdsLock('A')).toBe(false)
  })

  it('the lock taken away while the page lived on: shown again (pageshow), a tab with records asks for it at once', async () => {
    const { a, locks, holdsLock, network } = originWithLocks()
    network.setDown(true)
    await a.track(0)
    await pass(1000)
    locks.takeAway(LOCK_PREFIX + 'A')
    await settle()
    await a.box.shownAgain()
    expect(holdsLock('A')).toBe(true)
  })

  it('shown again after another tab adopted its records while it was cached: its next unload does not beacon them', async () => {
    const locks = fakeLocks()
    const o = origin({ locks })
    const network = recordingApi()
    let beaconsAccepted = false
    const beaconed: number[] = []
    // A's only chance was a beacon the browser refused: the record stays pending, the API healthy
    const a = o.tab('A', {
      post: network.transport.post,
      beacon: (body) => {
        if (!beaconsAccepted) return false
        beaconed.push(...ids((JSON.parse(body) as { commands: Command[] }).commands))
        return true
      },
    })
    await a.track(0)
    a.box.unload([])
    await settle()
    expect(a.box.size()).toBe(1)
    // cached: WebKit takes A's lock away, and B, loading, adopts the record
    locks.takeAway(LOCK_PREFIX + 'A')
    const b = o.tab('B', network.transport)
    await settle()
    expect(await b.box.adopt(await lockedTabs(locks))).toBe(0)
    expect(b.box.size()).toBe(1)
    // A is shown again, then left at once
    await a.box.shownAgain()
    expect(a.box.size()).toBe(0)
    beaconsAccepted = true
    a.box.unload([])
    expect(beaconed).toEqual([])
    await pass(2000)
    expect(network.delivered).toEqual([0])
  })
})
