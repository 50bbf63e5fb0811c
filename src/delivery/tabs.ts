/**
 * Which tabs are alive, so that the records of tabs that are gone can be adopted (SPEC §6).
 *
 * With Web Locks, each tab holds a lock named after it for its life: a tab is alive while its lock
 * is held. Without them, each tab writes a heartbeat to localStorage every second and removes it at
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

/** Holds this tab's lock for the life of the page; resolves once it is granted. */
export function holdTabLock(locks: LockManager, tab: string): Promise<void> {
  return new Promise((granted) => {
    locks.request(LOCK_PREFIX + tab, () => {
      granted()
      // never settles: the lock is released when the page goes away
      return new Promise(() => undefined)
    })
  })
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
