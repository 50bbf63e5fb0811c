/**
 * The outbox (SPEC §6): commands wait here until the API answered `ok` or `error` for them.
 *
 * The in-memory mirror `q` holds this tab's records, oldest first; the caller persists them in
 * IndexedDB (in the same transaction as the session step) before handing them over with `add`.
 * One request at a time per tab; every record belongs to one tab (`o`), so no command is ever
 * sent by two tabs. Records of tabs that are gone are adopted by the next tab that starts.
 */
import type { Command } from '../mapping/types'
import { write, type UseStore } from '../store'
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

  /** Removes records from the mirror and from storage. */
  function forget(recs: Rec[]) {
    if (!recs.length) return
    const gone = new Set(recs)
    q = q.filter((r) => !gone.has(r) || ((bytes -= r.n), false))
    o.store()
      .then((s) => write(s, (st) => recs.forEach((r) => st.delete(r.k))))
      .catch(() => 0)
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
    keepalive = text.length < KEEPALIVE
    const a = await o.transport.post(text, keepalive)
    const v = verdict(a.status)
    let done = sent
    if (flight == sent) flight = []
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
    if (done.length < sent.length) {
      waiting = true
      timer = setTimeout(send, retryAfter(a.retryAfter, now()) ?? backoff(++attempt))
    } else {
      attempt = 0
      schedule()
    }
  }

  return {
    /** Takes records already persisted (or that could not be): sends them soon. */
    add(recs: Rec[]) {
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
    },

    /**
     * The page is going away or hidden: while the API is healthy, what is pending goes out in
     * beacons (each under 64 KB, at most `max` commands) and leaves the outbox; a keepalive request
     * in flight will complete by itself. `extra`: records not yet handed over by `add`.
     */
    unload(extra: Rec[]) {
      const done = keepalive ? flight.slice() : []
      let chunk: Rec[] = []
      let size = 20
      const beacon = () => !chunk.length || (o.transport.beacon(body(chunk)) && (done.push(...chunk), (chunk = []), (size = 20)))
      if (healthy && !stopped) {
        for (const r of q.filter((r) => !flight.includes(r)).concat(extra)) {
          if (r.n + 40 > KEEPALIVE) continue
          if ((chunk.length >= o.max || size + r.n + 20 > KEEPALIVE) && !beacon()) break
          chunk.push(r)
          size += r.n + 20
        }
        beacon()
      }
      if (keepalive) flight = []
      forget(done)
      const kept = extra.filter((r) => !done.includes(r))
      if (kept.length) {
        for (const r of kept) (q.push(r), (bytes += r.n))
        o.store()
          .then((s) => write(s, (st) => kept.forEach((r) => st.put(r, r.k))))
          .catch(() => 0)
      }
      o.log('unload: beaconed', done.length, 'kept', q.length)
    },

    /** Sends now, resetting the backoff (the browser came back online). */
    retryNow() {
      if (waiting) (clearTimeout(timer), (waiting = false), (attempt = 0), send())
    },

    size: () => q.length,
  }
}
