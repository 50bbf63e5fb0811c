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

/** Bloomreach's default tracking host. */
const DEFAULT_API_URL = 'https://api.exponea.com'

/** The rule of one setting: its normalised value, or undefined when `value` is invalid. */
type Reader<T> = (value: unknown) => T | undefined

/** `value` as shown in an error: its JSON, or its type when it has none that can be written (BigInt, a cycle, a throwing getter). */
function describeValue(value: unknown): string {
  try {
    return JSON.stringify(value) ?? String(value)
  } catch {
    return typeof value
  }
}

/** Throws the Error that names the setting `name`, says `what` is wrong and shows the `value` it got. */
function fail(name: string, what: string, value: unknown): never {
  throw new Error(`Infinario: setting "${name}" ${what}, got ${describeValue(value)}`)
}

/**
 * The setting `name` read by `read`, or a thrown Error naming it. A value that throws while it is
 * inspected (a hostile getter or Proxy) is invalid too.
 */
function readSetting<T>(name: string, value: unknown, read: Reader<T>, what: string): T {
  let result: T | undefined
  try {
    result = read(value)
  } catch {
    // result stays undefined: the value is invalid
  }
  if (result === undefined) return fail(name, what, value)
  return result
}

/** A shallow copy of an object. */
function copyObject(value: unknown): Record<string, unknown> | undefined {
  if (value === null || typeof value != 'object') return undefined
  return { ...value }
}

/** The token without surrounding white space, when any is left. */
function readToken(value: unknown): string | undefined {
  if (typeof value != 'string') return undefined
  const token = value.trim()
  if (token == '') return undefined
  return token
}

/** The API base URL without a trailing slash, when it is https:, or http: on a loopback host. */
function readApiUrl(value: unknown): string | undefined {
  if (typeof value != 'string' && !(value instanceof URL)) return undefined
  const url = new URL(value)
  const allowed = url.protocol == 'https:' || (url.protocol == 'http:' && isLoopback(url.hostname))
  if (!allowed) return undefined
  // the query and the fragment are dropped: requests append their own path to this base
  return (url.origin + url.pathname).replace(/\/+$/, '')
}

/** A whole number of `min` to `max`, as is. */
function wholeNumberFrom(min: number, max: number): Reader<number> {
  return (value) => {
    if (!Number.isInteger(value)) return undefined
    const number = value as number
    if (number < min || number > max) return undefined
    return number
  }
}

/** The event-name map as is, when it is a plain object whose values are all non-empty strings. */
function readEventNames(value: unknown): Record<string, string> | undefined {
  const prototype = Object.getPrototypeOf(value)
  // a plain object only: the entries of a Map or a class instance are not its own enumerable properties
  if (prototype !== Object.prototype && prototype !== null) return undefined
  const names = value as Record<string, unknown>
  const valid = Object.values(names).every((type) => typeof type == 'string' && type != '')
  if (!valid) return undefined
  return names as Record<string, string>
}

/** A copy of the category array, when every element is a string. */
function readCategories(value: unknown): string[] | undefined {
  if (!Array.isArray(value)) return undefined
  if (!value.every((category) => typeof category == 'string')) return undefined
  // filter skips the holes of a sparse array, as every did: the copy is dense
  return value.filter(() => true)
}

/** The boolean as is. */
function readBoolean(value: unknown): boolean | undefined {
  if (typeof value != 'boolean') return undefined
  return value
}

/** The whole number setting `name`, or a thrown Error naming it and its range. */
function readWholeNumber(name: string, value: unknown, min: number, max: number): number {
  return readSetting(name, value, wholeNumberFrom(min, max), `must be a whole number from ${min} to ${max}`)
}

/** A snapshot of the customerIds mapping, or a thrown Error that says what is wrong with it. */
function readCustomerIds(value: unknown): IdMapping {
  const mapping = readIdMapping(value)
  // readIdMapping returns the error message of an invalid mapping instead of the mapping
  if (typeof mapping == 'string') return fail('customerIds', mapping, value)
  return mapping
}

/**
 * Validates settings and fills defaults; throws an Error naming the first bad setting. Settings
 * are checked in the order of {@link Settings}, so the first bad one is the one reported.
 */
export function configure(settings: unknown): Config {
  // a copy: the page's object may be frozen or shared, and unknown settings stay in it as they always have
  const config = readSetting('settings', settings, copyObject, 'must be an object')
  config.projectToken = readSetting('projectToken', config.projectToken, readToken, 'must be a non-empty string')
  config.apiUrl = readSetting('apiUrl', config.apiUrl ?? DEFAULT_API_URL, readApiUrl, 'must be an https: URL (http: only for localhost)')
  config.sessionTimeoutMs = readWholeNumber('sessionTimeoutMs', config.sessionTimeoutMs ?? 1_200_000, 1, MAX_DELAY)
  config.flushIntervalMs = readWholeNumber('flushIntervalMs', config.flushIntervalMs ?? 1000, 0, MAX_DELAY)
  config.maxBatchSize = readWholeNumber('maxBatchSize', config.maxBatchSize ?? 50, 1, 50)
  config.eventNames = readSetting('eventNames', config.eventNames ?? {}, readEventNames, 'must map event names to non-empty strings')
  config.consentCategories = readSetting('consentCategories', config.consentCategories ?? [], readCategories, 'must be an array of strings')
  config.customerIds = readCustomerIds(config.customerIds ?? DEFAULT_CUSTOMER_IDS)
  config.ecommerce = readSetting('ecommerce', config.ecommerce ?? false, readBoolean, 'must be true or false')
  config.debug = readSetting('debug', config.debug ?? false, readBoolean, 'must be true or false')
  return config as Config
}
