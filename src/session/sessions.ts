/**
 * Sessions shared by every tab of the origin (SPEC §5). Calls wait in `queue` for at most a
 * microtask; then each batch goes through the state machine inside ONE IndexedDB readwrite
 * transaction that reads the shared state, decides, writes the new state and the batch's outbox
 * records. Transactions are atomic, so three tabs opening at once make one session_start.
 */
import { sessionEvent } from '../mapping'
import type { Command } from '../mapping/types'
import type { Outbox, Rec } from '../delivery/outbox'
import { change, type UseStore } from '../store'
import { idle, step, type Activity, type Emit, type Session } from './machine'

/** One call: the key prefix of its records, its activity and its mapped commands. */
export interface Item {
  k: string
  act: Activity
  cmds: Command[]
}

export interface SessionOptions {
  store: () => Promise<UseStore>
  /** storage failed: switch to memory for this page, and return that store */
  fallback: (e: unknown) => Promise<UseStore>
  outbox: Outbox
  timeout: number
  token: string
  tab: string
  uid: () => string
  key: () => string
  now: () => number
}

export function sessions(o: SessionOptions) {
  let cached: Session | undefined
  let queue: Item[] = []
  let busy: Item[] = []
  let chain: Promise<unknown> = Promise.resolve()
  let timer: ReturnType<typeof setTimeout> | undefined

  const rec = (k: string, c: Command): Rec => ({ k, o: o.tab, c, n: JSON.stringify(c).length })

  const command = ({ type, at, session: s }: Emit) =>
    sessionEvent(
      type,
      s.ids,
      at,
      { message_id: o.uid(), ...s.props, ...(type == 'session_end' && { duration: (at - s.start) / 1000 }), session_id: s.id },
      o.token,
    )

  /** The batch through the state machine: the new state and the records, in order. */
  function run(state: Session | undefined, items: Item[]): [Session | undefined, Rec[]] {
    const recs: Rec[] = []
    for (const { k, act, cmds } of items) {
      let emits: Emit[]
      ;[state, emits] = step(state, act, o.timeout, o.uid)
      let i = 0
      for (const e of emits) recs.push(rec(k + i++, command(e)))
      for (const c of cmds) {
        if (state && c.name == 'crm/events') c.data.properties.session_id = state.id
        recs.push(rec(k + i++, c))
      }
    }
    return [state, recs]
  }

  /** One transaction: `decide` from the shared state; its records are written with the new state. */
  function transact(decide: (s: Session | undefined) => [Session | undefined, Rec[]]) {
    const go = (store: UseStore, seed?: Session) => {
      let out: [Session | undefined, Rec[]] = [undefined, []]
      return change<Session>(store, (st, s) => {
        out = decide(st ?? seed)
        out[1].forEach((r) => s.put(r, r.k))
        return out[0]
      }).then(() => out)
    }
    return o
      .store()
      .then(go)
      .catch(async (e) => go(await o.fallback(e), cached))
  }

  function arm() {
    clearTimeout(timer)
    if (cached) timer = setTimeout(check, cached.last + o.timeout - o.now() + 20)
  }

  const done = ([state, recs]: [Session | undefined, Rec[]]) => {
    cached = state
    o.outbox.add(recs)
    arm()
  }

  /** Idle timer: ends the shared session when it expired and no tab ended it yet. */
  const check = () =>
    (chain = chain.then(() =>
      transact((st) => {
        const [s, emits] = idle(st, o.now(), o.timeout)
        return [s, emits.map((e) => rec(o.key() + 0, command(e)))]
      }).then(done),
    ))

  function drain() {
    chain = chain.then(async () => {
      const batch = (busy = queue)
      queue = []
      if (!batch.length) return
      const out = await transact((st) => run(st, batch))
      // unless the page hid meanwhile and `unload` took the batch
      if (busy == batch) done(((busy = []), out))
    })
  }

  return {
    push(item: Item) {
      if (queue.push(item) == 1) queueMicrotask(drain)
    },

    /** The page hides or goes away: what has not reached the outbox yet goes with its pending commands. */
    unload() {
      const items = busy.concat(queue)
      // a transaction in progress writes a state these items supersede
      const before = busy.length ? 0 : cached
      busy = queue = []
      const [state, recs] = run(cached, items)
      if (items.length) {
        cached = state
        // unless another tab ended or opened a session since this tab last looked
        o.store()
          .then((s) => change<Session>(s, (st) => (before == 0 || st?.id == before?.id ? state : st)))
          .catch(() => 0)
      }
      o.outbox.unload(recs)
    },
  }
}
