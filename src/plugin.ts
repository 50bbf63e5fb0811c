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
import { ADOPT_LOCK, HEARTBEAT_STALE, heartbeatPresence, heartbeats, lockedTabs, startHeartbeat, tabLock } from './delivery/tabs'
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
function start(config: Config) {
  let analytics: Analytics | undefined
  const tab = uid().slice(0, 8)
  let sequence = 0
  /** Logs delivery details, with the debug setting only. */
  function log(...args: unknown[]) {
    if (config.debug) console.log('[Infinario]', ...args)
  }
  /** Warns on the console: with the debug setting, or `always` for what the page's developer must fix. */
  function warn(message: string, always?: boolean) {
    if (always || config.debug) console.warn('[Infinario] ' + message)
  }
  const report = (reason: string, detail?: Record<string, unknown>) => {
    log('delivery failure:', reason, detail)
    analytics?.emit('error', { code: 'delivery_failure', reason, ...detail })
  }
  const fallback = (error: unknown) => {
    warn('IndexedDB unavailable, events are kept in memory for this page: ' + error)
    db = Promise.resolve(memoryStore())
    return db
  }
  const now = Date.now
  const locks = globalThis.navigator?.locks
  const storageName = 'infinario-' + config.projectToken
  const heartbeatPrefix = storageName + HEARTBEAT_PART
  // which tabs are alive: held Web Locks, else fresh heartbeats (see delivery/tabs.ts)
  const presence = locks ? tabLock(locks, tab) : heartbeatPresence
  if (!locks) startHeartbeat(heartbeatPrefix, tab, now)
  let db: Promise<UseStore> = openStore(storageName).catch(fallback)
  const commandOutbox = outbox({
    transport: httpTransport(config.apiUrl + '/bulk'),
    store: () => db,
    tab,
    journalPrefix: storageName + JOURNAL_PART,
    journalPrefix010: storageName + ':',
    otherKeys: [SESSION_KEY, SESSION_KEY_010],
    batchSize: config.maxBatchSize,
    flushInterval: config.flushIntervalMs,
    // without Web Locks a tab may be taken for gone while its request runs: a send claims its records
    lease: locks ? 0 : LEASE_MS,
    presence,
    report,
    log,
    version,
  })
  /** A new record key prefix: time first, so that keys sort in the order of the calls of all tabs. */
  const newKeyPrefix = () => now().toString(36).padStart(9, '0') + tab + (sequence++).toString(36).padStart(5, '0')
  const sessionQueue = sessions({
    store: () => db,
    fallback,
    outbox: commandOutbox,
    timeout: config.sessionTimeoutMs,
    token: config.projectToken,
    tab,
    uid,
    key: newKeyPrefix,
    now,
    report,
  })
  const cookies = new Set<unknown>()

  // records and unload journals of tabs that are gone (closed, crashed, reloaded) are adopted
  const adopt = async () => {
    const alive = locks ? await lockedTabs(locks) : heartbeats(heartbeatPrefix, now)
    const leftAlone = await commandOutbox.adopt(alive)
    // look again while other tabs' records are left: a tab that looked alive may be gone soon after
    // (without Web Locks: crashed, its heartbeat stale; with them: a page replaced by this one may
    // let its lock go only after this page adopted)
    if (leftAlone) setTimeout(adoptOnce, HEARTBEAT_STALE)
  }
  const adoptOnce = () => {
    const run = locks ? () => locks.request(ADOPT_LOCK, adopt) : adopt
    db.then(run).catch(log)
  }
  adoptOnce()

  const hide = () => sessionQueue.unload()
  // Firefox aborts the script of a closing tab wherever it is in pagehide (even inside sendBeacon),
  // but lets beforeunload run to its end: pending commands leave there first, and pagehide then
  // finds nothing left to send. The listener itself does not cost the page its bfcache (README, Leaving the page).
  addEventListener('beforeunload', hide)
  addEventListener('pagehide', hide)
  addEventListener('visibilitychange', () => {
    if (document.visibilityState == 'hidden') hide()
  })
  addEventListener('online', commandOutbox.retryNow)
  // back from the back/forward cache: WebKit took the tab's lock away when the page went in, and
  // pages cached or closed meanwhile may have left records that no page loading will adopt soon
  addEventListener('pageshow', (event) => {
    if (!event.persisted) return
    commandOutbox.shownAgain().catch(log)
    adoptOnce()
  })

  const consentPreferences = (event: SegmentEvent) =>
    (event.context as { consent?: { categoryPreferences?: Record<string, unknown> } })?.consent?.categoryPreferences
  /** Whether the call grants every category that consentCategories requires: its own `true`, not an inherited one. */
  const consented = (event: SegmentEvent) => {
    const preferences = consentPreferences(event)
    return config.consentCategories.every(
      (category) => !!preferences && Object.hasOwn(preferences, category) && preferences[category] === true,
    )
  }
  return {
    attach(instance: Analytics) {
      analytics = instance
      instance.on('reset', () =>
        sessionQueue.push({ keyPrefix: newKeyPrefix(), activity: { at: now(), reset: true, ids: {}, props: {} }, commands: [] }),
      )
    },
    handle(event: SegmentEvent) {
      try {
        if (!consented(event)) return
        const at = now()
        const keyPrefix = newKeyPrefix()
        cookies.add(event.anonymousId)
        const commands = mapEvent(event, {
          projectToken: config.projectToken,
          eventNames: config.eventNames,
          customerIds: config.customerIds,
          ecommerce: config.ecommerce,
          now: at,
          id: keyPrefix,
          warn,
          drop: report,
          knownCookie: (id) => cookies.has(id),
        })
        // the session follows the ids of the call that caused it (its own anonymousId, also for an alias)
        const ids = customerIds(event, config.customerIds)
        const opens = event.type == 'page' || event.type == 'screen'
        const activityAt = toMs(event.timestamp, at)
        const props = opens ? sessionProps(event.context) : {}
        sessionQueue.push({ keyPrefix, commands, activity: { at: activityAt, opens, ids, props } })
      } catch (error) {
        // an event that throws when read (a hostile Proxy or getter)
        log(error)
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
  let config: Config | undefined
  let settingsError: unknown
  try {
    config = configure(settings)
  } catch (error) {
    settingsError = error
  }
  let core: ReturnType<typeof start> | undefined
  /** The page's running destination, started on first use: by load() or by a hook called before it. */
  const started = () => {
    if (!core) core = start(config!)
    return core
  }
  const hook = (ctx: Context) => {
    try {
      if (config) started().handle(ctx.event as SegmentEvent)
    } catch (error) {
      if (config?.debug) console.error('[Infinario]', error)
    }
    return ctx
  }
  return {
    name: 'Infinario',
    type: 'destination',
    version,
    isLoaded: () => !!config,
    async load(_ctx, analytics) {
      if (!config) {
        console.error(String(settingsError))
        throw settingsError
      }
      started().attach(analytics)
    },
    track: hook,
    identify: hook,
    page: hook,
    screen: hook,
    alias: hook,
    group: hook,
  }
}
