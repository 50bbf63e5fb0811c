/**
 * Which tabs are alive, so that the records of tabs that are gone can be adopted (SPEC §6).
 *
 * With Web Locks, a tab holds a lock named after it while it has anything in storage that another
 * tab could take over (records, unconfirmed writes, an unload journal): a tab is alive while its lock
 * is held, and a tab without such things has nothing to lose by being taken for gone. It holds no
 * lock while idle because Firefox keeps no page that holds one in its back/forward cache; WebKit
 * takes the lock away from a page entering that cache, and the tab asks for it again when it needs
 * it. Without Web Locks, each tab writes a heartbeat to localStorage every second and removes it at
 * pagehide: a tab is alive while its heartbeat is fresh. A heartbeat also goes stale for a tab that
 * lives on with frozen timers (a background tab, a long task); that is why a tab checks in
 * IndexedDB that it still owns its records right before sending them (outbox.ts `claim`).
 */
import { FORMAT } from './records'

export const LOCK_PREFIX = 'infinario-tab-'
export const ADOPT_LOCK = 'infinario-adopt'
/** ms between heartbeats */
export const HEARTBEAT_INTERVAL = 1000
/** ms after which a heartbeat is stale: its tab is taken for gone */
export const HEARTBEAT_STALE = 5000

/** How a tab shows the others it is alive, while it has something in storage they could take over. */
export interface Presence {
  /** Resolves once the tab counts as alive for the other tabs (at once when it already does). */
  hold(): Promise<void>
  /** The tab has nothing left in storage: it may be taken for gone. */
  release(): void
}

/** The presence of a browser without Web Locks: its heartbeat runs for the page's life. */
export const heartbeatPresence: Presence = {
  hold: () => Promise.resolve(),
  release: () => undefined,
}

/** One request for the tab's lock: granted, then held until `release` (or until the browser takes it). */
interface LockRequest {
  /** resolves once the lock is granted, or once the request failed */
  granted: Promise<void>
  /** release() came: give the lock back as soon as it is granted */
  released: boolean
  /** ends the lock's callback, so that the browser releases the lock */
  unlock?: () => void
}

/** This tab's presence by its Web Lock: held between `hold()` and `release()`. */
export function tabLock(locks: LockManager, tab: string): Presence {
  let current: LockRequest | undefined

  /** Asks the browser for the lock; `request.granted` resolves once it is held, or once asking failed. */
  function ask(request: LockRequest, resolveGranted: () => void) {
    const whileHeld = () => {
      resolveGranted()
      // released while it waited to be granted: give it back at once
      if (request.released) return undefined
      return new Promise<void>((unlock) => {
        request.unlock = unlock
      })
    }
    const ended = () => {
      // a request refused before it was granted lets the caller go on without the lock
      resolveGranted()
      // released, or taken away by the browser: the next hold() asks again
      if (current === request) current = undefined
    }
    let outcome: Promise<unknown>
    try {
      outcome = locks.request(LOCK_PREFIX + tab, whileHeld)
    } catch (error) {
      outcome = Promise.reject(error)
    }
    outcome.then(ended, ended)
  }

  function hold(): Promise<void> {
    if (current) return current.granted
    let resolveGranted = () => undefined as void
    const request: LockRequest = {
      granted: new Promise((resolve) => {
        resolveGranted = resolve
      }),
      released: false,
    }
    current = request
    ask(request, resolveGranted)
    return request.granted
  }

  function release() {
    if (!current) return
    current.released = true
    current.unlock?.()
    // a hold() from now on asks anew, and is granted once this request has let go
    current = undefined
  }

  return { hold, release }
}

/** Whether a tab is alive, as the held locks say now. */
export async function lockedTabs(locks: LockManager): Promise<(tab: string) => boolean> {
  const snapshot = await locks.query()
  const held = new Set((snapshot.held ?? []).map((lock) => lock.name))
  return (tab) => held.has(LOCK_PREFIX + tab)
}

/** Writes this tab's heartbeat (localStorage key `prefix + tab`) every second, removed at pagehide. */
export function startHeartbeat(prefix: string, tab: string, now: () => number): void {
  const key = prefix + tab
  let shown = true
  const beat = () => {
    if (!shown) return
    try {
      localStorage.setItem(key, JSON.stringify({ version: FORMAT, seen: now() }))
    } catch {
      // no localStorage: other tabs take this one for gone and check ownership before sending
    }
  }
  beat()
  setInterval(beat, HEARTBEAT_INTERVAL)
  // the page goes away (or into the back/forward cache): its records may be adopted at once
  addEventListener('pagehide', () => {
    shown = false
    try {
      localStorage.removeItem(key)
    } catch {
      // as above
    }
  })
  addEventListener('pageshow', () => {
    shown = true
    beat()
  })
}

/** Whether a tab is alive, by its heartbeat under `prefix`. */
export function heartbeats(prefix: string, now: () => number): (tab: string) => boolean {
  return (tab) => {
    let seen: unknown
    try {
      seen = JSON.parse(localStorage.getItem(prefix + tab) ?? 'null')?.seen
    } catch {
      return false
    }
    return typeof seen == 'number' && now() - seen <= HEARTBEAT_STALE
  }
}
