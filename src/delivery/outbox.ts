/**
 * The outbox (SPEC §6): commands wait here until the API answered `ok` or `error` for them.
 *
 * `pending` mirrors this tab's records in storage, oldest first. The caller persists new records
 * (in the same transaction as the session step) before handing them over with `add`. One request
 * at a time per tab. Every record has one owner tab, and a tab sends a record only after checking,
 * in an IndexedDB transaction, that it still owns it: a tab that another took for gone (closed,
 * or frozen where Web Locks are missing) never sends what was taken over. Records of tabs that are
 * gone are adopted by another tab (`adopt`).
 *
 * Storage writes this tab has started but storage has not confirmed are kept in `unconfirmed`; at
 * unload they also go to a journal in localStorage (synchronous), because an IndexedDB transaction
 * started while the page goes away may never commit. The next tab applies the journals of tabs that
 * are gone before adopting their records.
 */
import type { Command } from '../mapping/types'
import { guard, isMemoryStore, write, type UseStore } from '../store'
import {
  FORMAT,
  readJournal,
  readJournal010,
  readRecord,
  readRecord010,
  storageKey,
  utf8Bytes,
  RECORD_PREFIX,
  type OutboxRecord,
  type UnloadJournal,
} from './records'
import { backoff, retryAfter, statuses, verdict, type Verdict } from './retry'
import { heartbeatPresence, type Presence } from './tabs'
import type { Answer, Transport } from './transport'

export interface OutboxOptions {
  transport: Transport
  store: () => Promise<UseStore>
  /** this tab's id: the owner of the records it makes */
  tab: string
  /** localStorage key prefix of the unload journals (one per tab: prefix + tab) */
  journalPrefix: string
  /** localStorage key prefix of release 0.1.0's unload journals, read to migrate them */
  journalPrefix010?: string
  /** IndexedDB keys that belong to other modules (the session state): not outbox records */
  otherKeys?: string[]
  /** commands per request */
  batchSize: number
  /** ms a command waits at most before a request */
  flushInterval: number
  /**
   * ms a send claims its records for, written into them (where Web Locks are missing, so that no
   * tab adopts records whose request may still be running); 0 only checks ownership
   */
  lease?: number
  /**
   * How this tab shows the others it is alive: held while it has records, unconfirmed writes or a
   * journal in storage, and before it claims records for a request [always alive]
   */
  presence?: Presence
  report: (reason: string, detail?: Record<string, unknown>) => void
  log: (...args: unknown[]) => void
  now?: () => number
  /** the package version, sent as `sdk_version` in every body */
  version: string
}

export type Outbox = ReturnType<typeof outbox>

/** at most this many commands in the outbox; beyond, the oldest are dropped */
const MAX_COMMANDS = 10_000
/** at most this many UTF-8 bytes of commands in the outbox */
const MAX_BYTES = 5_000_000
/** bytes of a beacon or keepalive request body: the browsers allow 64 KB, less a margin */
const KEEPALIVE_LIMIT = 60_000
/** bytes of a request body around its commands: `{"commands":[…]}`, the sdk tag and a margin */
const BODY_OVERHEAD = 100
/** the `sdk` field of every request body (SPEC §3): tells Bloomreach which client sent it */
const SDK_NAME = 'analytics-next-infinario'
/** bytes per command in a body beyond its own: the comma and `age` */
const COMMAND_OVERHEAD = 20

const isOnline = () => globalThis.navigator?.onLine !== false

/** Resolves after the tasks already queued (a pagehide among them) have run. */
function nextTask(): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, 0))
}

/** The request body for these records, with each event's `age` computed now and the sdk tag (SPEC §3). */
export function requestBody(records: OutboxRecord[], now: number, sdkVersion: string): string {
  const commands = records.map((record) => withAge(record.command, now))
  return JSON.stringify({ commands, sdk: SDK_NAME, sdk_version: sdkVersion })
}

function withAge(command: Command, now: number): Command {
  if (command.name != 'crm/events') return command
  const age = Math.max(0, Math.round(now - command.data.timestamp * 1000) / 1000)
  return { ...command, data: { ...command.data, age } }
}

/** The records, in order, cut into beacons: each at most `batchSize` commands and under 64 KB. */
export function packBeacons(records: OutboxRecord[], batchSize: number): OutboxRecord[][] {
  const beacons: OutboxRecord[][] = []
  let beacon: OutboxRecord[] = []
  let size = BODY_OVERHEAD
  for (const record of records) {
    // too large for any beacon: it stays in the outbox for the next page
    if (BODY_OVERHEAD + record.bytes + COMMAND_OVERHEAD > KEEPALIVE_LIMIT) continue
    const full = beacon.length >= batchSize || size + record.bytes + COMMAND_OVERHEAD > KEEPALIVE_LIMIT
    if (full) {
      beacons.push(beacon)
      beacon = []
      size = BODY_OVERHEAD
    }
    beacon.push(record)
    size += record.bytes + COMMAND_OVERHEAD
  }
  if (beacon.length) beacons.push(beacon)
  return beacons
}

/** Runs `fn` on localStorage; does nothing where it is missing or throws (storage blocked, full). */
function withLocalStorage(fn: (storage: Storage) => void) {
  try {
    fn(localStorage)
  } catch {
    // no localStorage: journals are only a safety net
  }
}

const sum = (records: OutboxRecord[]) => records.reduce((total, record) => total + record.bytes, 0)

export function outbox(options: OutboxOptions) {
  const now = options.now ?? Date.now
  const tab = options.tab
  const journalKey = options.journalPrefix + tab
  const otherKeys = new Set<unknown>(options.otherKeys)
  const presence = options.presence ?? heartbeatPresence

  /** this tab's records, oldest first; the first `flight.length` ones are in the request in progress */
  let pending: OutboxRecord[] = []
  let pendingBytes = 0
  let flight: OutboxRecord[] = []
  let flightKeepalive = false
  let timer: ReturnType<typeof setTimeout> | undefined
  let retryWaiting = false
  let attempt = 0
  /** the last request succeeded: beacons and keepalive may be used */
  let healthy = true
  /** 401: nothing is sent any more on this page */
  let stopped = false
  /** storage writes not confirmed yet, by record key: the record to put, or null to delete */
  const unconfirmed = new Map<string, OutboxRecord | null>()
  let journalWritten = false
  /** how many times the page hid or went away */
  let unloads = 0

  // -- the mirror

  function append(records: OutboxRecord[]) {
    pending = pending.concat(records)
    pendingBytes += sum(records)
  }

  function prepend(records: OutboxRecord[]) {
    pending = records.concat(pending)
    pendingBytes += sum(records)
  }

  function removeFromMirror(records: OutboxRecord[]) {
    const gone = new Set(records)
    // only the bytes of records still there: two ownership checks may find the same record taken over
    pendingBytes -= sum(pending.filter((record) => gone.has(record)))
    pending = pending.filter((record) => !gone.has(record))
  }

  // -- storage

  /** Writes the intents of these keys in one transaction; confirms those unchanged since. */
  async function persist(keys: string[]) {
    // nothing to write (a request none of whose commands finished): no empty transaction
    if (!keys.length) return true
    const changes = keys.map((key) => [key, unconfirmed.get(key)] as const)
    let committed = false
    try {
      const store = await options.store()
      await write(store, (objectStore) => {
        for (const [key, record] of changes) {
          if (record) objectStore.put(record, storageKey(key))
          if (record === null) objectStore.delete(storageKey(key))
        }
      })
      committed = true
    } catch {
      // storage failed: the intents stay unconfirmed (journaled at unload)
    }
    if (!committed) return false
    for (const [key, record] of changes) {
      // a later intent for the same key is not confirmed by this write
      if (unconfirmed.get(key) === record) unconfirmed.delete(key)
    }
    if (journalWritten && unconfirmed.size == 0) clearJournal()
    updatePresence()
    return true
  }

  /** Removes records from the mirror and from storage. */
  function forget(records: OutboxRecord[]) {
    removeFromMirror(records)
    for (const record of records) unconfirmed.set(record.key, null)
    return persist(records.map((record) => record.key))
  }

  /** Puts records back into the mirror, before the others, and into storage. */
  function restore(records: OutboxRecord[]) {
    prepend(records)
    for (const record of records) unconfirmed.set(record.key, record)
    return persist(records.map((record) => record.key))
  }

  function restoreIntent(key: string, intent: OutboxRecord | null | undefined) {
    if (intent === undefined) unconfirmed.delete(key)
    else unconfirmed.set(key, intent)
  }

  function writeJournal() {
    const journal: UnloadJournal = { version: FORMAT, deleted: [], kept: [] }
    for (const [key, record] of unconfirmed) {
      if (record) journal.kept.push(record)
      else journal.deleted.push(key)
    }
    withLocalStorage((storage) => {
      if (unconfirmed.size == 0) storage.removeItem(journalKey)
      else storage.setItem(journalKey, JSON.stringify(journal))
    })
    journalWritten = unconfirmed.size > 0
  }

  function clearJournal() {
    withLocalStorage((storage) => storage.removeItem(journalKey))
    journalWritten = false
  }

  // -- presence

  /** Whether this tab has anything in storage that another tab could take over. */
  function busy(): boolean {
    return pending.length > 0 || flight.length > 0 || unconfirmed.size > 0 || journalWritten
  }

  /** Holds this tab's presence while it is busy, and lets it go once it is not (see tabs.ts). */
  function updatePresence() {
    if (busy()) presence.hold()
    else presence.release()
  }

  // -- sending

  function schedule(delay = pending.length >= options.batchSize ? 0 : options.flushInterval) {
    updatePresence()
    if (stopped || retryWaiting || flight.length || !pending.length) return
    // a timer already set keeps its time, unless the batch is full now
    if (timer !== undefined && delay) return
    clearTimeout(timer)
    timer = setTimeout(send, delay)
  }

  /**
   * The records of `batch` this tab still owns, checked in one transaction that an adopting tab
   * would have to wait for; records taken over by another tab leave the mirror unsent. `lease`: ms
   * the owned ones are claimed for (a send where Web Locks are missing), 0 for a check only.
   */
  async function claim(batch: OutboxRecord[], lease = options.lease ?? 0): Promise<OutboxRecord[]> {
    let store: UseStore
    try {
      store = await options.store()
    } catch {
      return batch
    }
    // no other tab sees a memory store
    if (isMemoryStore(store)) return batch
    const owned = new Set<OutboxRecord>()
    try {
      await write(store, (objectStore) => {
        for (const record of batch) {
          const request = objectStore.get(storageKey(record.key))
          request.onsuccess = () =>
            guard(objectStore, () => {
              const stored = readRecord(request.result)
              if (stored === undefined) {
                // not written yet (its write is running or failed): no other tab knows it; otherwise
                // another tab adopted it and it is delivered already
                if (unconfirmed.get(record.key)) owned.add(record)
                return
              }
              if (stored.owner !== tab) return
              owned.add(record)
              if (lease) objectStore.put({ ...stored, lease: now() + lease }, storageKey(record.key))
            })
        }
      })
    } catch {
      // storage failing: send rather than keep (nothing can adopt what storage cannot hand out)
      return batch
    }
    const lost = batch.filter((record) => !owned.has(record))
    if (lost.length) {
      removeFromMirror(lost)
      options.log('taken over by another tab, not sent:', lost.length)
    }
    return batch.filter((record) => owned.has(record))
  }

  /** Records back from a request: their lease ends, so that they can be adopted if this tab goes away. */
  async function releaseLease(records: OutboxRecord[]) {
    try {
      await write(await options.store(), (objectStore) => {
        for (const record of records) {
          const request = objectStore.get(storageKey(record.key))
          request.onsuccess = () =>
            guard(objectStore, () => {
              const stored = readRecord(request.result)
              if (stored?.owner !== tab || stored.lease === undefined) return
              delete stored.lease
              objectStore.put(stored, storageKey(record.key))
            })
        }
      })
    } catch {
      // the lease ends by itself
    }
  }

  async function send() {
    timer = undefined
    retryWaiting = false
    if (stopped || flight.length || !pending.length) return
    const batch = pending.slice(0, options.batchSize)
    flight = batch
    flightKeepalive = false
    const unloadsBefore = unloads
    // alive for the other tabs before claiming: none adopts records whose request is running
    await presence.hold()
    const owned = await claim(batch)
    flight = owned
    // the page hid or is going away while the claim ran, and that unload left these records in
    // storage: a request now could outlive the page unaccounted for (a duplicate on the next page)
    const hidden = unloads != unloadsBefore
    if (hidden) flight = []
    if (hidden || !owned.length) {
      schedule()
      return
    }
    const body = requestBody(owned, now(), options.version)
    // keepalive (the request outlives the page, and unload counts it as sent) only while the API
    // answers and the browser is online: so a retry after a failure never is one. A request the page
    // abandons may still reach the API, and the next page would send its commands again
    flightKeepalive = healthy && isOnline() && utf8Bytes(body) < KEEPALIVE_LIMIT
    const answer = await options.transport.post(body, flightKeepalive)
    if (flightKeepalive && answer.status == 0) {
      // a navigation rejects the page's view of a keepalive request right before pagehide, while the
      // request itself goes on: pagehide gets one task to count it as sent, as for any keepalive in flight
      await nextTask()
    }
    // unload counted this keepalive request as sent and forgot its records
    const takenByUnload = flight !== owned
    if (!takenByUnload) flight = []
    const finished = handleAnswer(owned, answer)
    forget(finished)
    const unfinished = owned.filter((record) => !finished.includes(record))
    // the page lived on: what that request did not deliver is pending again
    if (takenByUnload && unfinished.length) restore(unfinished)
    if (!takenByUnload && unfinished.length && options.lease) releaseLease(unfinished)
    if (unfinished.length) {
      retryWaiting = true
      attempt++
      timer = setTimeout(send, Math.max(retryAfter(answer.retryAfter, now()) ?? 0, backoff(attempt)))
    } else {
      attempt = 0
      schedule()
    }
  }

  /** What the answer means for the records sent: returns those that are finished (delivered or dropped). */
  function handleAnswer(sent: OutboxRecord[], answer: Answer): OutboxRecord[] {
    const outcome: Verdict = verdict(answer.status)
    healthy = outcome == 'ok'
    if (outcome == 'ok' && answer.bodyLost) {
      // the API took the request; its answer was cut off, most often by the page going away (a
      // navigation stops the page's reads before pagehide): resending or beaconing would duplicate
      // every command, so they count as delivered, as a keepalive request does at unload
      options.log('sent', sent.length, 'commands: answer cut off, counted as delivered')
      return sent
    }
    if (outcome == 'ok') {
      const results = statuses(answer.body, sent.length)
      const rejected = sent.filter((_, i) => results[i] == 'error')
      if (rejected.length) {
        const detail = (answer.body as { results?: unknown }).results
        options.report('rejected', { commands: rejected.map((record) => record.command), results: detail })
      }
      options.log('sent', sent.length, 'commands:', results.join(' '))
      return sent.filter((_, i) => results[i] != 'retry')
    }
    if (outcome == 'retry') {
      options.log('send failed, status', answer.status, 'will retry')
      return []
    }
    if (outcome == 'stop') {
      stopped = true
      options.report('unauthorized', { status: answer.status })
      return []
    }
    options.report('http_' + answer.status, { commands: sent.map((record) => record.command) })
    return sent
  }

  /** Drops the oldest records (never those in flight) while the outbox is over its bounds. */
  function enforceBounds() {
    const dropped: OutboxRecord[] = []
    let count = pending.length
    let bytes = pendingBytes
    for (const record of pending) {
      if (count <= MAX_COMMANDS && bytes <= MAX_BYTES) break
      if (flight.includes(record)) continue
      dropped.push(record)
      count--
      bytes -= record.bytes
    }
    if (!dropped.length) return
    forget(dropped)
    options.report('outbox_full', { dropped: dropped.length })
  }

  /** Takes records already persisted (or that could not be): sends them soon. */
  function add(records: OutboxRecord[]) {
    append(records)
    enforceBounds()
    schedule()
  }

  // -- unload

  /**
   * The page is going away or hidden: while the API is healthy, what is pending goes out in
   * beacons and leaves the outbox; a keepalive request in flight completes by itself. `extra`:
   * records not yet handed over by `add` (nor persisted).
   *
   * The browser may stop this handler at any line (Firefox stops a pagehide handler inside
   * sendBeacon after the beacon left) and runs it again on the next event: so every beacon is
   * first recorded as sent (mirror, intents, journal), then handed over.
   */
  function unload(extra: OutboxRecord[]) {
    unloads++
    // offline, sendBeacon takes the data and nothing leaves: keep everything for the next page
    const beaconsAllowed = healthy && !stopped && isOnline()
    if (beaconsAllowed && flightKeepalive && flight.length) {
      // counted as sent: see the README, "the keepalive edge"
      const sentByKeepalive = flight
      flight = []
      removeFromMirror(sentByKeepalive)
      for (const record of sentByKeepalive) unconfirmed.set(record.key, null)
    }
    append(extra)
    for (const record of extra) unconfirmed.set(record.key, record)
    writeJournal()
    let beaconed = 0
    if (beaconsAllowed) {
      const waiting = pending.filter((record) => !flight.includes(record))
      for (const beacon of packBeacons(waiting, options.batchSize)) {
        // built before the journal says these records left: a handler stopped while building it
        // leaves them kept in the journal, and only the beacon call itself stands between the two
        const body = requestBody(beacon, now(), options.version)
        const before = pending
        const intents = beacon.map((record) => unconfirmed.get(record.key))
        removeFromMirror(beacon)
        for (const record of beacon) unconfirmed.set(record.key, null)
        writeJournal()
        if (options.transport.beacon(body)) {
          beaconed += beacon.length
          continue
        }
        // refused (too large, quota): back into the outbox, in their place, with their intents
        const back = new Set(beacon)
        const remaining = new Set(pending)
        pending = before.filter((record) => back.has(record) || remaining.has(record))
        pendingBytes += sum(beacon)
        beacon.forEach((record, i) => restoreIntent(record.key, intents[i]))
        writeJournal()
        break
      }
    }
    persist([...unconfirmed.keys()])
    // sent if the page lives on (it was only hidden)
    schedule()
    options.log('unload: beaconed', beaconed, 'kept', pending.length)
  }

  // -- adoption

  /** Reads the journals of tabs that are gone from localStorage. */
  function readJournals(alive: (tab: string) => boolean) {
    const journals: UnloadJournal[] = []
    const journalKeys: string[] = []
    let unreadable = 0
    withLocalStorage((storage) => {
      const storageKeys: string[] = []
      for (let i = 0; i < storage.length; i++) storageKeys.push(storage.key(i)!)
      for (const key of storageKeys) {
        const owner = journalOwner(key)
        if (owner === undefined || owner.tab == tab || alive(owner.tab)) continue
        const text = storage.getItem(key)
        const read = owner.release010 ? readJournal010(text) : readJournal(text)
        unreadable += read.unreadable
        if (read.journal) journals.push(read.journal)
        journalKeys.push(key)
      }
    })
    return { journals, journalKeys, unreadable }
  }

  /** The tab a localStorage key is the journal of, or undefined when it is no journal. */
  function journalOwner(key: string): { tab: string; release010: boolean } | undefined {
    if (key.startsWith(options.journalPrefix)) return { tab: key.slice(options.journalPrefix.length), release010: false }
    const prefix010 = options.journalPrefix010
    if (prefix010 === undefined || !key.startsWith(prefix010)) return undefined
    const rest = key.slice(prefix010.length)
    // 0.1.0's journal keys end in the tab id alone; this release's keys have more parts
    if (rest.includes(':')) return undefined
    return { tab: rest, release010: true }
  }

  /** Applies a journal in `objectStore`: its kept records are put, then its deleted ones deleted. */
  function applyJournal(objectStore: IDBObjectStore, journal: UnloadJournal) {
    for (const record of journal.kept) objectStore.put(record, storageKey(record.key))
    for (const key of journal.deleted) {
      objectStore.delete(storageKey(key))
      // release 0.1.0 stored a record under its key alone
      objectStore.delete(key)
    }
  }

  /**
   * Takes over what tabs that are gone left behind: their unload journals first, then their
   * records (release 0.1.0's are migrated), in one transaction; what cannot be read is deleted and
   * reported. `alive(tab)`: whether that tab still runs. Resolves to the number of other tabs'
   * records left alone (their tab is alive, or their request may still be running).
   */
  async function adopt(alive: (tab: string) => boolean): Promise<number> {
    const { journals, journalKeys, unreadable: unreadableJournals } = readJournals(alive)
    const adopted: OutboxRecord[] = []
    const unreadableKeys: string[] = []
    let leftAlone = 0
    const at = now()

    /** One stored value: adopted, left alone, or deleted as unreadable. */
    function visit(objectStore: IDBObjectStore, key: IDBValidKey, value: unknown) {
      if (otherKeys.has(key)) return
      const current = typeof key == 'string' && key.startsWith(RECORD_PREFIX)
      const record = current ? readRecord(value) : readRecord010(value)
      const readable = record !== undefined && key === (current ? storageKey(record.key) : record.key)
      if (!readable) {
        unreadableKeys.push(String(key))
        objectStore.delete(key)
        return
      }
      if (record.owner == tab) return
      // a record whose owner's request may still be running is left until its lease ends
      if (alive(record.owner) || (record.lease ?? 0) > at) {
        leftAlone++
        return
      }
      const mine: OutboxRecord = { version: FORMAT, key: record.key, owner: tab, command: record.command, bytes: record.bytes }
      if (!current) objectStore.delete(key)
      objectStore.put(mine, storageKey(mine.key))
      adopted.push(mine)
    }

    // alive for the other tabs before records become this tab's
    await presence.hold()
    try {
      const store = await options.store()
      await write(store, (objectStore) => {
        for (const journal of journals) applyJournal(objectStore, journal)
        const keysRequest = objectStore.getAllKeys()
        const valuesRequest = objectStore.getAll()
        valuesRequest.onsuccess = () =>
          guard(objectStore, () => {
            const keys = keysRequest.result
            keys.forEach((key, i) => visit(objectStore, key, valuesRequest.result[i]))
          })
      })
    } catch (error) {
      // nothing adopted: the presence this tab took for it is not needed
      updatePresence()
      throw error
    }
    // removed once applied: a tab that applies a journal again (without Web Locks, adopting at the same
    // time) puts its kept records back under the gone tab, and one of the two adopters ends up owning them
    withLocalStorage((storage) => journalKeys.forEach((key) => storage.removeItem(key)))
    const unreadable = unreadableJournals + unreadableKeys.length
    if (unreadable) options.report('unreadable_record', { count: unreadable, keys: unreadableKeys })
    adopted.sort((a, b) => (a.key < b.key ? -1 : 1))
    add(adopted)
    return leftAlone
  }

  return {
    add,
    unload,
    adopt,

    /** Sends now, resetting the backoff (the browser came back online). */
    retryNow() {
      if (!retryWaiting) return
      clearTimeout(timer)
      retryWaiting = false
      attempt = 0
      send()
    },

    size: () => pending.length,

    /** Resolves once this tab counts as alive for the other tabs: before it writes records they could adopt. */
    hold: () => presence.hold(),

    /**
     * The page is shown again from the back/forward cache, where WebKit took its lock away: it asks
     * for the lock again, and drops what another tab took over meanwhile (its unload beacons what
     * the mirror holds, with no ownership check).
     */
    async shownAgain() {
      updatePresence()
      const waiting = pending.filter((record) => !flight.includes(record))
      // nothing pending: nothing another tab could have taken over
      if (!waiting.length) return
      // asked for by updatePresence (the tab is busy): granted before the check
      await presence.hold()
      await claim(waiting, 0)
      updatePresence()
    },
  }
}
