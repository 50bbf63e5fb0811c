/**
 * The outbox (SPEC §6): commands wait here until the API answered `ok` or `error` for them.
 *
 * The in-memory mirror `q` holds this tab's records, oldest first; the caller persists them in
 * IndexedDB (in the same transaction as the session step) before handing them over with `add`.
 * One request at a time per tab; every record belongs to one tab (`o`), so no command is ever
 * sent by two tabs. Records of tabs that are gone are adopted by the next tab that starts.
 */
import type { Command } from '../mapping/types'
import { guard, write, type UseStore } from '../store'
import { backoff, retryAfter, statuses, verdict } from './retry'
import type { Transport } from './transport'

export interface Rec {
  /** key: time, tab and sequence, so that keys sort in the order the calls were made */
  k: string
  /** the tab that owns (sends) it */
  o: string
  c: Command
  /** bytes of JSON, for the outbox bound */
  n: number
}

export interface OutboxOptions {
  transport: Transport
  store: () => Promise<UseStore>
  tab: string
  /** prefix of the localStorage keys of the unload journals: one per tab */
  journal: string
  max: number
  interval: number
  report: (reason: string, detail?: Record<string, unknown>) => void
  log: (...args: unknown[]) => void
  now?: () => number
}

export type Outbox = ReturnType<typeof outbox>

const LIMIT = 1e4
const BYTES = 5e6
const KEEPALIVE = 6e4
const online = () => globalThis.navigator?.onLine !== false

export function outbox(o: OutboxOptions) {
  const now = o.now || Date.now
  let q: Rec[] = []
  let flight: Rec[] = []
  let keepalive = false
  let timer: ReturnType<typeof setTimeout> | 0 = 0
  let waiting = false
  let attempt = 0
  let healthy = true
  let stopped = false
  let bytes = 0

  const body = (recs: Rec[]) =>
    JSON.stringify({
      commands: recs.map(({ c }) =>
        c.name == 'crm/events' ? { ...c, data: { ...c.data, age: Math.max(0, Math.round(now() - c.data.timestamp * 1000) / 1000) } } : c,
      ),
    })

  /** One storage transaction; resolves to whether it committed. */
  const save = (fn: (s: IDBObjectStore) => void) =>
    o
      .store()
      .then((s) => write(s, fn))
      .then(
        () => true,
        () => false,
      )

  /** Removes records from the mirror and from storage. */
  function forget(recs: Rec[]) {
    const gone = new Set(recs)
    q = q.filter((r) => !gone.has(r) || ((bytes -= r.n), false))
    for (const r of recs) deleting.add(r.k)
    return save((st) => recs.forEach((r) => st.delete(r.k))).then((ok) => (ok && recs.forEach((r) => deleting.delete(r.k)), ok))
  }

  /** Puts records into the mirror (`old`: before the others) and into storage. */
  function keep(recs: Rec[], old?: boolean) {
    q = old ? recs.concat(q) : q.concat(recs)
    for (const r of recs) bytes += r.n
    return save((st) => recs.forEach((r) => st.put(r, r.k)))
  }

  // What `unload` changed, kept synchronously in localStorage until storage confirms it: an
  // IndexedDB transaction started while the page goes away may never commit. [[deleted keys], [kept records]]
  const journal = o.journal + o.tab
  let unloads = 0
  /** keys whose deletion storage has not confirmed yet */
  const deleting = new Set<string>()
  /** keys handed to sendBeacon: sent, whatever happened to the unload that sent them */
  const beaconed = new Set<string>()
  /** Runs `fn` on localStorage; does nothing where it is missing or throws (storage blocked, full). */
  const ls = (fn: (s: Storage) => unknown) => {
    try {
      fn(localStorage)
    } catch {}
  }

  /** Adds `sent` to the journal's deleted keys and takes `refused` out of them. */
  function journalSent(sent: string[], refused: string[]) {
    ls((s) => {
      const j = JSON.parse(s.getItem(journal) || '[[],[]]')
      j[0] = j[0].filter((key: string) => !refused.includes(key)).concat(sent)
      s.setItem(journal, JSON.stringify(j))
    })
  }

  function schedule(delay = q.length >= o.max ? 0 : o.interval) {
    if (stopped || waiting || flight.length || !q.length || (timer && delay)) return
    clearTimeout(timer)
    timer = setTimeout(send, delay)
  }

  async function send() {
    timer = 0
    waiting = false
    if (stopped || flight.length || !q.length) return
    const sent = (flight = q.slice(0, o.max))
    const text = body(sent)
    // keepalive (the request outlives the page, and unload counts it as sent) only while the API
    // answers and the browser is online: a request the page abandons may still reach the API later,
    // and unload keeps its commands for the next page
    keepalive = healthy && online() && text.length < KEEPALIVE
    const a = await o.transport.post(text, keepalive)
    const v = verdict(a.status)
    let done = sent
    // not the flight any more: `unload` counted it as sent (keepalive) and forgot it
    const taken = flight != sent
    if (!taken) flight = []
    healthy = v == 'ok'
    if (v == 'ok') {
      const st = statuses(a.body, sent.length)
      done = sent.filter((_, i) => st[i] != 'retry')
      const bad = sent.filter((_, i) => st[i] == 'error')
      if (bad.length) o.report('rejected', { commands: bad.map((r) => r.c), results: (a.body as { results?: unknown }).results })
      o.log('sent', sent.length, 'commands:', st.join(' '))
    } else if (v == 'retry') {
      done = []
      o.log('send failed, status', a.status, 'will retry')
    } else if (v == 'stop') {
      done = []
      stopped = true
      o.report('unauthorized', { status: a.status })
    } else o.report('http_' + a.status, { commands: sent.map((r) => r.c) })
    forget(done)
    // the page lived on: what that request did not deliver is pending again
    if (taken)
      keep(
        sent.filter((r) => !done.includes(r)),
        true,
      )
    if (done.length < sent.length) {
      waiting = true
      timer = setTimeout(send, Math.max(retryAfter(a.retryAfter, now()) || 0, backoff(++attempt)))
    } else {
      attempt = 0
      schedule()
    }
  }

  /** Takes records already persisted (or that could not be): sends them soon. */
  function add(recs: Rec[]) {
    for (const r of recs) (q.push(r), (bytes += r.n))
    const over: Rec[] = []
    let n = q.length
    let b = bytes
    for (const r of q)
      if (n <= LIMIT && b <= BYTES) break
      else if (!flight.includes(r)) (over.push(r), n--, (b -= r.n))
    if (over.length) {
      forget(over)
      o.report('outbox_full', { dropped: over.length })
    }
    schedule()
  }

  return {
    add,

    /**
     * The page is going away or hidden: while the API is healthy, what is pending goes out in
     * beacons (each under 64 KB, at most `max` commands) and leaves the outbox; a keepalive request
     * in flight will complete by itself. `extra`: records not yet handed over by `add`.
     */
    unload(extra: Rec[]) {
      // offline, sendBeacon takes the data and nothing leaves: keep everything for the next page
      const up = healthy && !stopped && online()
      const took = keepalive && up
      const done = took ? flight.slice() : []
      // Firefox can stop an unload inside sendBeacon after the beacon left (the call never returns):
      // what an earlier unload handed to sendBeacon is sent, and leaves the outbox now
      for (const r of q) if (beaconed.has(r.k) && !done.includes(r)) done.push(r)
      let chunk: Rec[] = []
      let size = 20
      const beacon = () => {
        if (!chunk.length) return true
        const keys = chunk.map((r) => r.k)
        // journal before the call: stopped inside it, this unload must leave these records sent
        for (const key of keys) {
          beaconed.add(key)
          deleting.add(key)
        }
        journalSent(keys, [])
        if (!o.transport.beacon(body(chunk))) {
          for (const key of keys) {
            beaconed.delete(key)
            deleting.delete(key)
          }
          journalSent([], keys)
          return false
        }
        done.push(...chunk)
        chunk = []
        size = 20
        return true
      }
      const pending = q.filter((r) => !flight.includes(r)).concat(extra)
      if (up) {
        for (const r of pending.filter((r) => !beaconed.has(r.k))) {
          if (r.n + 40 > KEEPALIVE) continue
          if ((chunk.length >= o.max || size + r.n + 20 > KEEPALIVE) && !beacon()) break
          chunk.push(r)
          size += r.n + 20
        }
        beacon()
      }
      if (took) flight = []
      const kept = extra.filter((r) => !done.includes(r) && !beaconed.has(r.k))
      const n = ++unloads
      const saved = Promise.all([forget(done), keep(kept)])
      ls((s) => {
        const j = JSON.parse(s.getItem(journal) || '[[],[]]')
        j[0].push(...deleting)
        j[1].push(...kept)
        if (j[0].length + j[1].length) s.setItem(journal, JSON.stringify(j))
      })
      saved.then(([a, b]) => a && b && n == unloads && ls((s) => s.removeItem(journal)))
      // sent if the page lives on (it was only hidden)
      schedule()
      o.log('unload: beaconed', done.length, 'kept', q.length)
    },

    /**
     * Takes over what tabs that are gone left behind: their unload journals first, then their
     * records, in one transaction. `alive(tab)`: whether that tab still runs.
     */
    async adopt(alive: (tab: string) => boolean) {
      const mine: Rec[] = []
      const journals: [string, [string[], Rec[]]][] = []
      ls((s) => {
        for (let i = 0, k; (k = s.key(i++));)
          if (k.startsWith(o.journal) && !alive(k.slice(o.journal.length)) && k != journal) journals.push([k, JSON.parse(s.getItem(k)!)])
      })
      await write(await o.store(), (s) => {
        for (const [, [gone, kept]] of journals) (kept.forEach((r) => s.put(r, r.k)), gone.forEach((k) => s.delete(k)))
        const r = s.getAll()
        r.onsuccess = () =>
          guard(s, () => {
            for (const rec of r.result as Rec[])
              if (rec.o && rec.o != o.tab && !alive(rec.o)) (mine.push({ ...rec, o: o.tab }), s.put(mine[mine.length - 1], rec.k))
          })
      })
      journals.forEach(([k]) => ls((s) => s.removeItem(k)))
      add(mine.sort((a, b) => (a.k < b.k ? -1 : 1)))
    },

    /** Sends now, resetting the backoff (the browser came back online). */
    retryNow() {
      if (waiting) (clearTimeout(timer), (waiting = false), (attempt = 0), send())
    },

    size: () => q.length,
  }
}
