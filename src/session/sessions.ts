/**
 * Sessions shared by every tab of the origin (SPEC §5). Calls wait in `queue` for at most a
 * microtask; then each batch goes through the state machine inside ONE IndexedDB readwrite
 * transaction that reads the shared state, decides, writes the new state and the batch's outbox
 * records. Transactions are atomic, so three tabs opening at once make one session_start.
 */
import { newRecord, storageKey, type OutboxRecord } from '../delivery/records'
import type { Outbox } from '../delivery/outbox'
import { sessionEvent } from '../mapping'
import type { Command } from '../mapping/types'
import type { UseStore } from '../store'
import { idle, step, type Activity, type Emit, type Session } from './machine'
import { updateSession } from './state'

/** One call, as queued for the state machine. */
export interface Item {
  /** the key prefix of its records: each gets it and a sequence number */
  keyPrefix: string
  /** what the call means to the session */
  activity: Activity
  /** its mapped commands */
  commands: Command[]
}

export interface SessionOptions {
  store: () => Promise<UseStore>
  /** storage failed: switch to memory for this page, and return that store */
  fallback: (error: unknown) => Promise<UseStore>
  outbox: Pick<Outbox, 'add' | 'unload' | 'hold'>
  timeout: number
  token: string
  tab: string
  uid: () => string
  key: () => string
  now: () => number
  report?: (reason: string, detail?: Record<string, unknown>) => void
}

/** A decision on the shared state: the new state and the records to write with it. */
type Decision = [state: Session | undefined, records: OutboxRecord[]]

export function sessions(options: SessionOptions) {
  /** the state as this tab last wrote or read it */
  let cached: Session | undefined
  /** calls not yet in a transaction */
  let queue: Item[] = []
  /** calls whose transaction is running */
  let inTransaction: Item[] = []
  /** transactions run one after the other */
  let chain: Promise<unknown> = Promise.resolve()
  let idleTimer: ReturnType<typeof setTimeout> | undefined

  const record = (key: string, command: Command) => newRecord(key, options.tab, command)

  const unreadable = (key: string) => options.report?.('unreadable_record', { count: 1, keys: [key] })

  function sessionCommand({ type, at, session }: Emit) {
    const properties: Record<string, unknown> = { message_id: options.uid(), ...session.props }
    if (type == 'session_end') properties.duration = (at - session.start) / 1000
    properties.session_id = session.id
    return sessionEvent(type, session.ids, at, properties, options.token)
  }

  /** The batch through the state machine: the new state and the records, in order. */
  function run(state: Session | undefined, items: Item[]): Decision {
    const records: OutboxRecord[] = []
    for (const item of items) {
      const [next, emits] = step(state, item.activity, options.timeout, options.uid)
      state = next
      // the record keys of one call: its key prefix and a sequence number
      let sequence = 0
      for (const emit of emits) records.push(record(item.keyPrefix + sequence++, sessionCommand(emit)))
      for (const command of item.commands) {
        if (state && command.name == 'crm/events') command.data.properties.session_id = state.id
        records.push(record(item.keyPrefix + sequence++, command))
      }
    }
    return [state, records]
  }

  /** One transaction: `decide` from the shared state; its records are written with the new state. */
  async function transact(decide: (state: Session | undefined) => Decision): Promise<Decision> {
    const attempt = async (store: UseStore, seed?: Session) => {
      let decision: Decision = [undefined, []]
      await updateSession(
        store,
        (state, objectStore) => {
          decision = decide(state ?? seed)
          for (const each of decision[1]) objectStore.put(each, storageKey(each.key))
          return decision[0]
        },
        unreadable,
      )
      return decision
    }
    try {
      return await attempt(await options.store())
    } catch (error) {
      // memory starts empty: it continues from the state this tab knew
      return attempt(await options.fallback(error), cached)
    }
  }

  function armIdleTimer() {
    clearTimeout(idleTimer)
    if (cached) idleTimer = setTimeout(checkIdle, cached.last + options.timeout - options.now() + 20)
  }

  function settle([state, records]: Decision) {
    cached = state
    options.outbox.add(records)
    armIdleTimer()
  }

  /** Idle timer: ends the shared session when it expired and no tab ended it yet. */
  function checkIdle() {
    chain = chain.then(async () => {
      await options.outbox.hold()
      const decision = await transact((state) => {
        const [next, emits] = idle(state, options.now(), options.timeout)
        return [next, emits.map((emit) => record(options.key() + 0, sessionCommand(emit)))]
      })
      settle(decision)
    })
  }

  function drain() {
    chain = chain.then(async () => {
      const batch = queue
      queue = []
      inTransaction = batch
      if (!batch.length) return
      // alive for the other tabs before this tab's records are in storage (delivery/tabs.ts)
      await options.outbox.hold()
      // the page hid or went away meanwhile and `unload` took the batch: its records must not be
      // written after that unload's own writes (which would then bring back what it beaconed)
      if (inTransaction !== batch) return
      const decision = await transact((state) => run(state, batch))
      // unless the page hid meanwhile and `unload` took the batch
      if (inTransaction !== batch) return
      inTransaction = []
      settle(decision)
    })
  }

  return {
    push(item: Item) {
      queue.push(item)
      if (queue.length == 1) queueMicrotask(drain)
    },

    /** The page hides or goes away: what has not reached the outbox yet goes with its pending commands. */
    unload() {
      const items = inTransaction.concat(queue)
      // a transaction in progress writes a state these items supersede: then write this one over it
      const overwrite = inTransaction.length > 0
      const before = cached
      inTransaction = []
      queue = []
      const [state, records] = run(cached, items)
      if (items.length) {
        cached = state
        // unless another tab ended or opened a session since this tab last looked
        const write = (store: UseStore) =>
          updateSession(store, (stored) => (overwrite || stored?.id == before?.id ? state : stored), unreadable)
        options
          .store()
          .then(write)
          .catch(() => undefined)
      }
      options.outbox.unload(records)
    },
  }
}
