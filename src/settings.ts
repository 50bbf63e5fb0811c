/** Settings of the destination (SPEC §2): defaults and validation with errors that name the setting. */
import { DEFAULT_CUSTOMER_IDS, readIdMapping, type IdMapping, type IdSource } from './mapping/ids'

/**
 * Settings of {@link infinarioDestination}. Only `projectToken` is required. Settings are also
 * validated at run time: an invalid one makes the plugin's `load()` reject with an error that names
 * it (analytics-next then drops the plugin); it never throws at import and never breaks the page.
 */
export interface Settings {
  /** Infinario project token: a non-empty string, normally a UUID. */
  projectToken: string
  /**
   * Tracking API base URL; may carry a path (a first-party proxy). Others than the default: a
   * regional host such as `https://api.eu1.exponea.com`, a custom tracking domain, or a first-party
   * proxy path. Must be `https:`, except for `localhost`, `127.x.x.x` and `[::1]`, where `http:` is allowed.
   * @defaultValue `'https://api.exponea.com'` (Bloomreach's default tracking host)
   */
  apiUrl?: string
  /**
   * Inactivity, in milliseconds, that ends a session: a whole number from 1 to 2 147 483 647.
   * @defaultValue `1200000` (20 minutes)
   */
  sessionTimeoutMs?: number
  /**
   * Longest time, in milliseconds, a command waits in the outbox before a send: 0 to 2 147 483 647.
   * @defaultValue `1000`
   */
  flushIntervalMs?: number
  /**
   * Commands per bulk request, 1 to 50.
   * @defaultValue `50`
   */
  maxBatchSize?: number
  /**
   * Segment event name → Infinario event type (a non-empty string), as a plain object.
   * @example `{ 'Order Completed': 'purchase' }`
   * @defaultValue `{}` (the event type is the Segment event name)
   */
  eventNames?: Record<string, string>
  /**
   * Consent categories that must all be `true` in `context.consent.categoryPreferences` for an event
   * to be sent.
   * @defaultValue `[]` (no gating)
   */
  consentCategories?: string[]
  /**
   * Which Infinario customer id gets which Segment identity: id name → `"userId"`, `"anonymousId"`
   * or `"traits.<name>"` (a trait of the call: identify's traits, or `context.traits`).
   * Per call, `integrations: { Infinario: { customerIds: { <name>: <value> } } }` adds literal ids.
   * @example `{ customer_id: 'userId', cookie: 'anonymousId', email_id: 'traits.email' }`
   * @defaultValue `{ registered: 'userId', cookie: 'anonymousId' }`
   */
  customerIds?: Record<string, IdSource>
  /**
   * Map Segment's V2 Ecommerce events (Order Completed, Product Viewed, …) to Infinario's standard
   * ecommerce events (purchase and purchase_item, view_item, cart_update, checkout, view_category),
   * which Bloomreach's reports and recommendations read. A name in `eventNames` wins.
   * @defaultValue `false`
   */
  ecommerce?: boolean
  /**
   * Log mapping warnings and delivery to the console.
   * @defaultValue `false`
   */
  debug?: boolean
}

export type Config = Required<Omit<Settings, 'customerIds'>> & { customerIds: IdMapping }

/** The loopback hosts to which `http:` is allowed. */
export const isLoopback = (host: string) => /^(localhost|127(\.\d+){3}|\[::1\])$/.test(host)

/** The longest delay a browser timer honours (2^31 - 1 ms, about 24.8 days). */
const MAX_DELAY = 2 ** 31 - 1

/** Validates settings and fills defaults; throws an Error naming the first bad setting. */
export function configure(settings: unknown): Config {
  let s = {} as Record<string, unknown>
  /** throws naming `name` and saying `what` is wrong with its value `v` */
  const fail = (name: string, what: string, v: unknown): never => {
    let got
    try {
      got = JSON.stringify(v) ?? String(v)
    } catch {
      got = typeof v
    }
    throw new Error(`Infinario: setting "${name}" ${what}, got ${got}`)
  }
  /** throws naming `name` unless `ok(value)`; a value that throws when inspected is bad too */
  const check = (name: string, ok: (v: any) => unknown, what: string, v = name == 'settings' ? settings : s[name]) => {
    let good
    try {
      good = ok(v)
    } catch {}
    if (!good) fail(name, what, v)
  }
  const num = (name: string, dflt: number, min: number, max: number) => {
    s[name] ??= dflt
    check(name, (v) => Number.isInteger(v) && v >= min && v <= max, `must be a whole number from ${min} to ${max}`)
  }
  check('settings', (v) => v && typeof v == 'object' && (s = { ...v }), 'must be an object')
  check('projectToken', (v) => typeof v == 'string' && v.trim(), 'must be a non-empty string')
  let url: URL
  s.apiUrl ??= 'https://api.exponea.com'
  check(
    'apiUrl',
    (v) =>
      (typeof v == 'string' || v instanceof URL) &&
      ((url = new URL(v)).protocol == 'https:' || (url.protocol == 'http:' && isLoopback(url.hostname))),
    'must be an https: URL (http: only for localhost)',
  )
  num('sessionTimeoutMs', 12e5, 1, MAX_DELAY)
  num('flushIntervalMs', 1000, 0, MAX_DELAY)
  num('maxBatchSize', 50, 1, 50)
  s.eventNames ??= {}
  check(
    'eventNames',
    (v) => [Object.prototype, null].includes(Object.getPrototypeOf(v)) && Object.values(v).every((n) => typeof n == 'string' && n),
    'must map event names to non-empty strings',
  )
  s.consentCategories ??= []
  check(
    'consentCategories',
    (v) => Array.isArray(v) && v.every((c) => typeof c == 'string') && (s.consentCategories = v.filter(() => 1)),
    'must be an array of strings',
  )
  s.customerIds ??= DEFAULT_CUSTOMER_IDS
  const ids = readIdMapping(s.customerIds)
  if (typeof ids == 'string') fail('customerIds', ids, s.customerIds)
  s.customerIds = ids
  s.ecommerce ??= false
  check('ecommerce', (v) => typeof v == 'boolean', 'must be true or false')
  s.debug ??= false
  check('debug', (v) => typeof v == 'boolean', 'must be true or false')
  return { ...s, projectToken: (s.projectToken as string).trim(), apiUrl: (url!.origin + url!.pathname).replace(/\/+$/, '') } as Config
}
