/** Settings of the destination (SPEC §2): defaults and validation with errors that name the setting. */

export interface Settings {
  /** Infinario project token (required) */
  projectToken: string
  /** tracking API base URL, may carry a path [https://api.infinario.com] */
  apiUrl?: string
  /** inactivity that ends a session [20 minutes] */
  sessionTimeoutMs?: number
  /** longest time a command waits before a send [1000] */
  flushIntervalMs?: number
  /** commands per bulk request, 1..50 [50] */
  maxBatchSize?: number
  /** Segment event name -> Infinario event type */
  eventNames?: Record<string, string>
  /** consent categories that must all be true in context.consent.categoryPreferences */
  consentCategories?: string[]
  /** log mapping warnings and delivery to the console */
  debug?: boolean
}

export type Config = Required<Settings>

const fail = (name: string, what: string) => {
  throw new Error(`Infinario: setting "${name}" ${what}`)
}
const isObj = (v: unknown): v is Record<string, unknown> => !!v && typeof v == 'object' && !Array.isArray(v)
const num = (s: Record<string, unknown>, name: string, dflt: number, min: number, max = Infinity): number => {
  const v = s[name] ?? dflt
  if (typeof v != 'number' || !(v >= min && v <= max) || v % 1) fail(name, `must be a whole number from ${min} to ${max}, got ${String(v)}`)
  return v as number
}

/** The loopback hosts to which `http:` is allowed. */
export const isLoopback = (host: string) => /^(localhost|127(\.\d+){3}|\[::1\])$/.test(host)

/** Validates settings and fills defaults; throws an Error naming the first bad setting. */
export function configure(settings: unknown): Config {
  const s = isObj(settings) ? settings : fail('settings', 'must be an object')!
  const token = s.projectToken
  if (typeof token != 'string' || !token.trim()) fail('projectToken', 'must be a non-empty string (the Infinario project token)')
  let url: URL
  try {
    url = new URL(String(s.apiUrl ?? 'https://api.infinario.com'))
  } catch {
    return fail('apiUrl', `is not a URL: ${String(s.apiUrl)}`)!
  }
  if (url.protocol != 'https:' && !(url.protocol == 'http:' && isLoopback(url.hostname)))
    fail('apiUrl', 'must use https: (http: only for localhost)')
  const names = s.eventNames ?? {}
  if (!isObj(names) || Object.values(names).some((v) => typeof v != 'string' || !v))
    fail('eventNames', 'must map event names to non-empty strings')
  const consent = s.consentCategories ?? []
  if (!Array.isArray(consent) || consent.some((v) => typeof v != 'string')) fail('consentCategories', 'must be an array of strings')
  if (typeof (s.debug ?? false) != 'boolean') fail('debug', 'must be true or false')
  return {
    projectToken: (token as string).trim(),
    apiUrl: (url.origin + url.pathname).replace(/\/+$/, ''),
    sessionTimeoutMs: num(s, 'sessionTimeoutMs', 12e5, 1),
    flushIntervalMs: num(s, 'flushIntervalMs', 1000, 0),
    maxBatchSize: num(s, 'maxBatchSize', 50, 1, 50),
    eventNames: names as Record<string, string>,
    consentCategories: consent as string[],
    debug: !!s.debug,
  }
}
