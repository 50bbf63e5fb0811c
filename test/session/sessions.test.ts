import 'fake-indexeddb/auto'
import { entries, get, keys } from 'idb-keyval'
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import { outbox } from '../../src/delivery/outbox'
import { storageKey, type OutboxRecord as Rec } from '../../src/delivery/records'
import type { Transport } from '../../src/delivery/transport'
import type { Command, CustomerIds, EventCommand, Properties } from '../../src/mapping/types'
import type { Session } from '../../src/session/machine'
import { sessions } from '../../src/session/sessions'
import { SESSION_KEY } from '../../src/session/state'
import { memoryStore, openStore, type UseStore } from '../../src/store'
import { pass, settle } from '../helpers/fake-time'

const MIN = 60_000
const TIMEOUT = 20 * MIN
const T0 = Date.parse('2024-05-01T12:00:00Z')
const anon: CustomerIds = { cookie: 'anon-1' }
const opener: Properties = {
  location: 'https://shop.example/?utm_source=news',
  path: '/',
  utm_source: 'news',
  browser: 'Firefox',
  os: 'Linux',
  device: 'desktop',
}

let dbs = 0
/** One origin: an IndexedDB database shared by the tabs made with `tab()`. */
function origin() {
  const name = 'infinario-test-' + ++dbs
  let n = 0
  const uid = () => 'id-' + ++n
  const tabs: { added: Rec[]; unloaded: Rec[]; db: Promise<UseStore> }[] = []

  /** `transport`: a real outbox sends through it; otherwise a stand-in records what it is handed. */
  function tab(id: string, o: { store?: () => Promise<UseStore>; transport?: Transport; hold?: () => Promise<void> } = {}) {
    const added: Rec[] = []
    const unloaded: Rec[] = []
    // fake-indexeddb commits on real time while these tests jump fake time by many seconds: the
    // bound on a transaction's time (store.ts) would abort transactions that are only waiting for it
    const db = openStore(name, 2000, 24 * 3600_000)
    const box = o.transport
      ? outbox({
          transport: o.transport,
          store: () => db,
          tab: id,
          journalPrefix: 'j:',
          batchSize: 50,
          flushInterval: 1000,
          report: () => 0,
          log: () => 0,
          version: '1.2.3',
        })
      : { add: (r: Rec[]) => added.push(...r), unload: (r: Rec[]) => unloaded.push(...r), hold: o.hold ?? (() => Promise.resolve()), retryNow() {}, size: () => 0 }
    const fallbacks: unknown[] = []
    const transactions = { n: 0 }
    const counted = async () => {
      const s = await (o.store ?? (() => db))()
      return ((mode, fn) => (mode == 'readwrite' && transactions.n++, s(mode, fn))) as UseStore
    }
    let seq = 0
    const key = () => Date.now().toString(36).padStart(9, '0') + id + (seq++).toString(36).padStart(5, '0')
    const s = sessions({
      store: counted,
      fallback: async (e) => (fallbacks.push(e), memoryStore()),
      outbox: box,
      timeout: TIMEOUT,
      token: 'token',
      tab: id,
      uid,
      key,
      now: () => Date.now(),
    })
    const event = (type: string, ids = anon): EventCommand => ({
      name: 'crm/events',
      data: {
        customer_ids: ids,
        company_id: 'token',
        project_id: 'token',
        type,
        timestamp: Date.now() / 1000,
        properties: { message_id: uid() },
      },
    })
    const t = {
      id,
      added,
      unloaded,
      fallbacks,
      transactions,
      db,
      page: (ids = anon, props = opener) =>
        s.push({ keyPrefix: key(), activity: { at: Date.now(), opens: true, ids, props }, commands: [event('page_visit', ids)] }),
      track: (ids = anon, name = 'clicked') =>
        s.push({ keyPrefix: key(), activity: { at: Date.now(), ids, props: {} }, commands: [event(name, ids)] }),
      identify: (ids: CustomerIds) =>
        s.push({
          keyPrefix: key(),
          activity: { at: Date.now(), ids, props: {} },
          commands: [{ name: 'crm/customers', data: { ids, company_id: 'token', project_id: 'token', properties: { plan: 'pro' } } }],
        }),
      reset: () => s.push({ keyPrefix: key(), activity: { at: Date.now(), reset: true, ids: {}, props: {} }, commands: [] }),
      unload: () => s.unload(),
    }
    tabs.push(t)
    return t
  }

  const all = () => tabs.flatMap((t) => t.added.concat(t.unloaded).map((r) => r.command))
  const state = async () => get<Session>(SESSION_KEY, await tabs[0].db)
  return { name, tab, all, state }
}

const type = (c: Command) => (c.name == 'crm/events' ? c.data.type : c.name)
const types = (cs: Command[]) => cs.map(type)
const cmds = (recs: Rec[]) => recs.map((r) => r.command)
const ev = (c: Command | undefined) => (c as EventCommand).data
const of = (cs: Command[], t: string) => cs.filter((c) => type(c) == t)

beforeEach(() => {
  vi.useFakeTimers({ now: T0, toFake: ['setTimeout', 'clearTimeout', 'Date'] })
})
afterEach(() => {
  vi.useRealTimers()
})

describe('one tab', () => {
  it('a page opens a session: session_start, then page_visit with its session_id', async () => {
    const o = origin()
    const a = o.tab('A')
    a.page()
    await settle()
    expect(types(cmds(a.added))).toEqual(['session_start', 'page_visit'])
    const [start, visit] = cmds(a.added).map(ev)
    expect(start.timestamp).toBe(T0 / 1000)
    expect(start.customer_ids).toEqual(anon)
    expect(start.project_id).toBe('token')
    expect(start.properties).toEqual({ ...opener, message_id: expect.any(String), session_id: expect.any(String) })
    expect(visit.properties.session_id).toBe(start.properties.session_id)
    expect(start.properties.message_id).not.toBe(visit.properties.message_id)
  })

  it('writes the records and the state in storage', async () => {
    const o = origin()
    const a = o.tab('A')
    a.page()
    await settle()
    const stored = new Map((await entries(await a.db)) as [string, unknown][])
    for (const r of a.added) expect(stored.get(storageKey(r.key))).toEqual(r)
    expect(await o.state()).toMatchObject({ version: 1, start: T0, last: T0, props: opener, ids: anon })
    // record keys sort in the order of the commands
    const ks = a.added.map((r) => r.key)
    expect([...ks].sort()).toEqual(ks)
  })

  it('calls of the same tick go through one transaction, in order', async () => {
    const o = origin()
    const a = o.tab('A')
    a.track()
    a.page()
    a.track(anon, 'one')
    a.identify({ registered: 'u1', cookie: 'anon-1' })
    a.track({ registered: 'u1', cookie: 'anon-1' }, 'two')
    await settle()
    expect(a.transactions.n).toBe(1)
    expect(types(cmds(a.added))).toEqual(['clicked', 'session_start', 'page_visit', 'one', 'crm/customers', 'two'])
    const [clicked, start, visit, one, customer, two] = cmds(a.added)
    // no session yet for the first track
    expect(ev(clicked).properties.session_id).toBeUndefined()
    const sid = ev(start).properties.session_id
    expect([visit, one, two].map((c) => ev(c).properties.session_id)).toEqual([sid, sid, sid])
    expect('session_id' in (customer.data as { properties: Properties }).properties).toBe(false)
  })

  it('calls in later ticks extend the session without opening another', async () => {
    const o = origin()
    const a = o.tab('A')
    a.page()
    await pass(5 * MIN)
    a.page()
    await pass(5 * MIN)
    a.track()
    await settle()
    expect(types(cmds(a.added))).toEqual(['session_start', 'page_visit', 'page_visit', 'clicked'])
    expect(new Set(cmds(a.added).map((c) => ev(c).properties.session_id)).size).toBe(1)
    expect((await o.state())!.last).toBeGreaterThanOrEqual(T0 + 10 * MIN)
  })

  it('the idle timer ends the session once, back-dated to the last activity, with its duration', async () => {
    const o = origin()
    const a = o.tab('A')
    a.page()
    await pass(7 * MIN)
    const last = Date.now()
    a.track({ registered: 'u1', cookie: 'anon-1' })
    await settle()
    await pass(TIMEOUT - 1000)
    expect(of(o.all(), 'session_end')).toEqual([])
    await pass(2000)
    const ends = of(o.all(), 'session_end')
    expect(ends).toHaveLength(1)
    const end = ev(ends[0])
    expect(end.timestamp).toBe(last / 1000)
    expect(end.properties.duration).toBe((last - T0) / 1000)
    expect(end.properties.session_id).toBe(ev(cmds(a.added)[0]).properties.session_id)
    expect(end.customer_ids).toEqual({ registered: 'u1', cookie: 'anon-1' })
    expect(end.properties).toMatchObject(opener)
    expect(await o.state()).toBeUndefined()
    await pass(5 * TIMEOUT)
    expect(of(o.all(), 'session_end')).toHaveLength(1)
  })

  it('a track after expiry ends the session (back-dated) without opening one', async () => {
    const o = origin()
    const a = o.tab('A')
    a.page()
    await settle()
    vi.setSystemTime(T0 + TIMEOUT + 5000) // the timer did not run (e.g. the computer slept)
    a.track()
    await settle()
    expect(types(cmds(a.added))).toEqual(['session_start', 'page_visit', 'session_end', 'clicked'])
    expect(ev(cmds(a.added)[2]).timestamp).toBe(T0 / 1000)
    expect(ev(cmds(a.added)[3]).properties.session_id).toBeUndefined()
  })

  it('the first call of a later visit ends the old session, then a page opens a new one', async () => {
    const o = origin()
    const a = o.tab('A')
    a.page()
    await settle()
    // the browser was closed; the next visit, a day later
    vi.setSystemTime(T0 + 24 * 60 * MIN)
    const b = o.tab('B')
    b.page()
    await settle()
    expect(types(cmds(b.added))).toEqual(['session_end', 'session_start', 'page_visit'])
    const [end, start, visit] = cmds(b.added).map(ev)
    expect(end.timestamp).toBe(T0 / 1000)
    expect(end.properties.duration).toBe(0)
    expect(end.properties.session_id).toBe(ev(cmds(a.added)[0]).properties.session_id)
    expect(start.properties.session_id).not.toBe(end.properties.session_id)
    expect(visit.properties.session_id).toBe(start.properties.session_id)
    // the old tab's timer finds nothing left to end
    await pass(TIMEOUT)
    expect(of(o.all(), 'session_end')).toHaveLength(1)
  })

  it('reset ends the session with the old identity; the next page opens a new one', async () => {
    const o = origin()
    const a = o.tab('A')
    const user = { registered: 'u1', cookie: 'anon-1' }
    a.page(user)
    await pass(3 * MIN)
    a.reset()
    await settle()
    await pass(MIN)
    a.page({ cookie: 'anon-2' })
    await settle()
    expect(types(cmds(a.added))).toEqual(['session_start', 'page_visit', 'session_end', 'session_start', 'page_visit'])
    const end = ev(cmds(a.added)[2])
    expect(end.customer_ids).toEqual(user)
    expect(end.timestamp * 1000).toBeGreaterThanOrEqual(T0 + 3 * MIN)
    expect(end.properties.duration).toBeCloseTo(end.timestamp - T0 / 1000, 6)
    expect(ev(cmds(a.added)[3]).customer_ids).toEqual({ cookie: 'anon-2' })
    await pass(2 * TIMEOUT)
    expect(of(o.all(), 'session_end')).toHaveLength(2)
  })

  it('falls back to memory when storage fails; events still flow', async () => {
    const o = origin()
    const a = o.tab('A', { store: () => Promise.reject(new Error('blocked')) })
    a.page()
    await pass(10)
    expect(types(cmds(a.added))).toEqual(['session_start', 'page_visit'])
    expect(a.fallbacks).toHaveLength(1)
  })
})

describe('several tabs', () => {
  it('three tabs pushing a page at the same time make exactly one session_start', async () => {
    const o = origin()
    const tabs = [o.tab('A'), o.tab('B'), o.tab('C')]
    await settle()
    for (const t of tabs) t.page()
    await settle()
    const all = o.all()
    expect(of(all, 'session_start')).toHaveLength(1)
    expect(of(all, 'page_visit')).toHaveLength(3)
    const sid = ev(of(all, 'session_start')[0]).properties.session_id
    expect(of(all, 'page_visit').map((c) => ev(c).properties.session_id)).toEqual([sid, sid, sid])
  })

  it('three tabs starting together (storage still opening) make exactly one session_start', async () => {
    const o = origin()
    const tabs = [o.tab('A'), o.tab('B'), o.tab('C')]
    for (const t of tabs) t.page()
    await settle()
    expect(of(o.all(), 'session_start')).toHaveLength(1)
    expect(of(o.all(), 'page_visit')).toHaveLength(3)
  })

  it('expiry with several idle timers: session_end exactly once', async () => {
    const o = origin()
    const [a, b, c] = [o.tab('A'), o.tab('B'), o.tab('C')]
    a.page()
    b.page()
    c.page()
    await settle()
    await pass(5 * MIN)
    const last = Date.now()
    b.track() // activity in one tab keeps the session alive for all
    await settle()
    await pass(TIMEOUT - 5 * MIN + 1000) // A's and C's timers fire, see B's activity, wait on
    expect(of(o.all(), 'session_end')).toEqual([])
    await pass(5 * MIN)
    const ends = of(o.all(), 'session_end')
    expect(ends).toHaveLength(1)
    expect(ev(ends[0]).timestamp).toBe(last / 1000)
    expect(ev(ends[0]).properties.duration).toBe((last - T0) / 1000)
    await pass(3 * TIMEOUT)
    expect(of(o.all(), 'session_end')).toHaveLength(1)
    expect(of(o.all(), 'session_start')).toHaveLength(1)
  })

  it('after expiry, pages in several tabs at once: one session_end, one session_start', async () => {
    const o = origin()
    const tabs = [o.tab('A'), o.tab('B'), o.tab('C')]
    tabs[0].page()
    await settle()
    vi.setSystemTime(T0 + 2 * TIMEOUT)
    for (const t of tabs) t.page()
    await settle()
    expect(of(o.all(), 'session_end')).toHaveLength(1)
    expect(of(o.all(), 'session_start')).toHaveLength(2)
    await pass(3 * TIMEOUT)
    expect(of(o.all(), 'session_end')).toHaveLength(2)
    expect(of(o.all(), 'session_start')).toHaveLength(2)
  })
})

describe('unload', () => {
  it('takes the calls not yet persisted, with the session events they cause', async () => {
    const o = origin()
    const a = o.tab('A')
    await settle()
    a.page()
    a.track()
    a.unload() // same tick: nothing reached storage yet
    expect(types(cmds(a.unloaded))).toEqual(['session_start', 'page_visit', 'clicked'])
    const sid = ev(cmds(a.unloaded)[0]).properties.session_id
    expect(ev(cmds(a.unloaded)[2]).properties.session_id).toBe(sid)
    await settle()
    expect(a.added).toEqual([])
    // the session lives on for the next page
    expect(await o.state()).toMatchObject({ id: sid, start: T0 })
    const b = o.tab('B')
    b.page()
    await settle()
    expect(types(cmds(b.added))).toEqual(['page_visit'])
    expect(ev(cmds(b.added)[0]).properties.session_id).toBe(sid)
  })

  it('takes a batch whose transaction is still running, and it is not handed over twice', async () => {
    const o = origin()
    const a = o.tab('A')
    await settle()
    a.page()
    await new Promise((r) => setImmediate(r)) // the transaction started, has not finished
    a.track()
    a.unload()
    await settle()
    expect(types(cmds(a.unloaded))).toEqual(['session_start', 'page_visit', 'clicked'])
    expect(a.added).toEqual([])
    expect(of(o.all(), 'session_start')).toHaveLength(1)
    // the state left in storage is the session that was beaconed
    expect((await o.state())?.id).toBe(ev(cmds(a.unloaded)[0]).properties.session_id)
  })

  it("a batch waiting for the tab's lock when the page went away: unload takes it, and it is never written after", async () => {
    const o = origin()
    let grant = () => undefined as void
    const a = o.tab('A', { hold: () => new Promise<void>((resolve) => (grant = resolve)) })
    await settle()
    a.track()
    await settle() // the batch waits for the lock
    a.unload()
    grant()
    await settle()
    expect(types(cmds(a.unloaded))).toEqual(['clicked'])
    expect(a.added).toEqual([])
    // a record written now would come back after the unload's writes, and be sent a second time
    const recordKeys = ((await keys(await a.db)) as string[]).filter((key) => key.startsWith(storageKey('')))
    expect(recordKeys).toEqual([])
  })

  it('after the calls were persisted, hands the outbox nothing new', async () => {
    const o = origin()
    const a = o.tab('A')
    a.page()
    await settle()
    a.unload()
    expect(a.unloaded).toEqual([])
    expect(types(cmds(a.added))).toEqual(['session_start', 'page_visit'])
  })
})

describe('with the real outbox', () => {
  function api() {
    const requests: Command[][] = []
    const beacons: Command[][] = []
    const transport: Transport = {
      async post(body) {
        const { commands } = JSON.parse(body) as { commands: Command[] }
        requests.push(commands)
        return { status: 200, body: { success: true, results: commands.map(() => ({ status: 'ok' })) } }
      },
      beacon: (body) => (beacons.push((JSON.parse(body) as { commands: Command[] }).commands), true),
    }
    return { transport, requests, beacons }
  }

  it('three tabs: every command is sent once, with one session_start, and storage is emptied', async () => {
    const o = origin()
    const { transport, requests } = api()
    const tabs = ['A', 'B', 'C'].map((id) => o.tab(id, { transport }))
    for (const t of tabs) (t.page(), t.track())
    await pass(1000)
    const sent = requests.flat()
    expect(requests).toHaveLength(3)
    expect(types(sent).sort()).toEqual(['clicked', 'clicked', 'clicked', 'page_visit', 'page_visit', 'page_visit', 'session_start'])
    expect(new Set(sent.map((c) => ev(c).properties.message_id)).size).toBe(sent.length)
    for (const c of sent) expect(ev(c).age).toBeGreaterThanOrEqual(0)
    expect(await keys(await tabs[0].db)).toEqual([SESSION_KEY])
    await pass(TIMEOUT + 1000) // the idle timers end the session (storage work is instant in fake time) …
    await pass(1000) // … and the outbox sends it after `interval`
    expect(of(requests.flat(), 'session_end')).toHaveLength(1)
  })

  it('unload right after calls beacons them, once', async () => {
    const o = origin()
    const { transport, requests, beacons } = api()
    const a = o.tab('A', { transport })
    await settle()
    a.page()
    a.track()
    a.unload()
    expect(beacons.map(types)).toEqual([['session_start', 'page_visit', 'clicked']])
    await pass(5000)
    expect(requests).toEqual([])
    expect(await keys(await a.db)).toEqual([SESSION_KEY])
  })
})
