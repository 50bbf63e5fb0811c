/**
 * The analytics-next adapter: the `Plugin` object. Each hook maps the event (mapping/), queues it
 * for the session step (session/), which hands the records to the outbox (delivery/). Hooks only
 * map and queue: storage and network work happens after they returned. Hooks work before `load()`
 * finished (analytics-next does not wait for it) and never throw.
 */
import type { Analytics, Context, Plugin } from '@segment/analytics-next'
import { customerIds, mapEvent, sessionProps, toMs } from './mapping'
import type { SegmentEvent } from './mapping/types'
import { outbox } from './delivery/outbox'
import { HEARTBEAT_PART, JOURNAL_PART } from './delivery/records'
import { ADOPT_LOCK, HEARTBEAT_STALE, heartbeats, holdTabLock, lockedTabs, startHeartbeat } from './delivery/tabs'
import { httpTransport } from './delivery/transport'
import { sessions } from './session/sessions'
import { SESSION_KEY, SESSION_KEY_010 } from './session/state'
import { configure, type Config, type Settings } from './settings'
import { memoryStore, openStore, type UseStore } from './store'

declare const __VERSION__: string
/** The version of this package, e.g. `'0.1.0'` (also the plugin's `version`). */
export const version = __VERSION__

/** ms a send claims its records for where Web Locks are missing: longer than a request may take */
const LEASE_MS = 35_000

export const uid = (): string =>
  crypto.randomUUID?.() ?? Date.now().toString(36) + Math.random().toString(36).slice(2) + Math.random().toString(36).slice(2)

/** Everything that runs once per page for a valid configuration. */
function start(cfg: Config) {
  let analytics: Analytics | undefined
  const tab = uid().slice(0, 8)
  let seq = 0
  const log = (...args: unknown[]) => cfg.debug && console.log('[Infinario]', ...args)
  const warn = (message: string, always?: boolean) => (always || cfg.debug) && console.warn('[Infinario] ' + message)
  const report = (reason: string, detail?: Record<string, unknown>) => {
    log('delivery failure:', reason, detail)
    analytics?.emit('error', { code: 'delivery_failure', reason, ...detail })
  }
  const fallback = (e: unknown) => {
    warn('IndexedDB unavailable, events are kept in memory for this page: ' + e)
    return (db = Promise.resolve(memoryStore()))
  }
  const now = Date.now
  const locks = globalThis.navigator?.locks
  const name = 'infinario-' + cfg.projectToken
  const heartbeatPrefix = name + HEARTBEAT_PART
  // which tabs are alive: held Web Locks, else fresh heartbeats (see delivery/tabs.ts)
  const tabReady = locks ? holdTabLock(locks, tab) : Promise.resolve()
  if (!locks) startHeartbeat(heartbeatPrefix, tab, now)
  let db: Promise<UseStore> = tabReady.then(() => openStore(name)).catch(fallback)
  const box = outbox({
    transport: httpTransport(cfg.apiUrl + '/bulk'),
    store: () => db,
    tab,
    journalPrefix: name + JOURNAL_PART,
    journalPrefix010: name + ':',
    otherKeys: [SESSION_KEY, SESSION_KEY_010],
    batchSize: cfg.maxBatchSize,
    flushInterval: cfg.flushIntervalMs,
    // without Web Locks a tab may be taken for gone while its request runs: a send claims its records
    lease: locks ? 0 : LEASE_MS,
    report,
    log,
    version,
  })
  const key = () => now().toString(36).padStart(9, '0') + tab + (seq++).toString(36).padStart(5, '0')
  const ses = sessions({
    store: () => db,
    fallback,
    outbox: box,
    timeout: cfg.sessionTimeoutMs,
    token: cfg.projectToken,
    tab,
    uid,
    key,
    now,
    report,
  })
  const cookies = new Set<unknown>()

  // records and unload journals of tabs that are gone (closed, crashed, reloaded) are adopted
  const adopt = async () => {
    const alive = locks ? await lockedTabs(locks) : heartbeats(heartbeatPrefix, now)
    const leftAlone = await box.adopt(alive)
    // without Web Locks a tab that looked alive may have crashed: look again once its heartbeat is stale
    if (!locks && leftAlone) setTimeout(adoptOnce, HEARTBEAT_STALE)
  }
  const adoptOnce = () => {
    const run = locks ? () => locks.request(ADOPT_LOCK, adopt) : adopt
    db.then(run).catch(log)
  }
  adoptOnce()

  const hide = () => ses.unload()
  // Firefox aborts the script of a closing tab wherever it is in pagehide (even inside sendBeacon),
  // but lets beforeunload run to its end: pending commands leave there first, and pagehide then
  // finds nothing left to send. Chromium, WebKit and Firefox keep the page in the bfcache with it.
  addEventListener('beforeunload', hide)
  addEventListener('pagehide', hide)
  addEventListener('visibilitychange', () => {
    if (document.visibilityState == 'hidden') hide()
  })
  addEventListener('online', box.retryNow)

  const prefs = (ev: SegmentEvent) =>
    (ev.context as { consent?: { categoryPreferences?: Record<string, unknown> } })?.consent?.categoryPreferences
  return {
    attach(a: Analytics) {
      analytics = a
      a.on('reset', () => ses.push({ k: key(), act: { at: now(), reset: true, ids: {}, props: {} }, cmds: [] }))
    },
    handle(ev: SegmentEvent) {
      try {
        const p = prefs(ev)
        if (!cfg.consentCategories.every((c) => p && Object.hasOwn(p, c) && p[c] === true)) return
        const at = now()
        const k = key()
        cookies.add(ev.anonymousId)
        const cmds = mapEvent(ev, {
          projectToken: cfg.projectToken,
          eventNames: cfg.eventNames,
          customerIds: cfg.customerIds,
          ecommerce: cfg.ecommerce,
          now: at,
          id: k,
          warn,
          drop: report,
          knownCookie: (id) => cookies.has(id),
        })
        // the session follows the ids of the call that caused it (its own anonymousId, also for an alias)
        const ids = customerIds(ev, cfg.customerIds)
        const opens = ev.type == 'page' || ev.type == 'screen'
        ses.push({ k, cmds, act: { at: toMs(ev.timestamp, at), opens, ids, props: opens ? sessionProps(ev.context) : {} } })
      } catch (e) {
        // an event that throws when read (a hostile Proxy or getter)
        log(e)
        report('invalid_event')
      }
    },
  }
}

/**
 * The Infinario destination for analytics-next: a `Plugin` named `Infinario` of type `destination`
 * (so `integrations: { Infinario: false }` keeps a call away from it).
 *
 * Creating it reads no browser global and never throws, so it may run during server-side rendering;
 * the plugin starts working when analytics-next loads it in the browser. Invalid settings make that
 * `load()` reject with an error naming the setting, also printed with `console.error`.
 *
 * @example
 * ```ts
 * AnalyticsBrowser.load({ writeKey, plugins: [infinarioDestination({ projectToken })] })
 * // or, on a loaded instance:
 * analytics.register(infinarioDestination({ projectToken }))
 * ```
 */
export function infinarioDestination(settings: Settings): Plugin {
  let cfg: Config | undefined
  let error: unknown
  try {
    cfg = configure(settings)
  } catch (e) {
    error = e
  }
  let core: ReturnType<typeof start> | undefined
  const get = () => (core ??= start(cfg!))
  const hook = (ctx: Context) => {
    try {
      if (cfg) get().handle(ctx.event as SegmentEvent)
    } catch (e) {
      if (cfg?.debug) console.error('[Infinario]', e)
    }
    return ctx
  }
  return {
    name: 'Infinario',
    type: 'destination',
    version,
    isLoaded: () => !!cfg,
    async load(_ctx, analytics) {
      if (!cfg) {
        console.error(String(error))
        throw error
      }
      get().attach(analytics)
    },
    track: hook,
    identify: hook,
    page: hook,
    screen: hook,
    alias: hook,
    group: hook,
  }
}
