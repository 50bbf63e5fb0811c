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

/** The loopback hosts to which `http:` is allowed. */
export const isLoopback = (host: string) => /^(localhost|127(\.\d+){3}|\[::1\])$/.test(host)

/** Validates settings and fills defaults; throws an Error naming the first bad setting. */
export function configure(settings: unknown): Config {
  const s = { ...(settings as object) } as Record<string, unknown>
  const check = (name: string, ok: unknown, what: string, v = s[name]) => {
    if (ok) return
    let got
    try {
      got = JSON.stringify(v) ?? String(v)
    } catch {
      got = typeof v
    }
    throw new Error(`Infinario: setting "${name}" ${what}, got ${got}`)
  }
  const num = (name: string, dflt: number, min: number, max?: number) => {
    const v = (s[name] ??= dflt) as number
    check(name, Number.isInteger(v) && v >= min && v <= (max ?? v), `must be a whole number ${max ? `from ${min} to ${max}` : `>= ${min}`}`)
  }
  check('settings', settings && typeof settings == 'object', 'must be an object', settings)
  const token = s.projectToken
  check('projectToken', typeof token == 'string' && token.trim(), 'must be a non-empty string')
  let url: URL | undefined
  try {
    url = new URL(String((s.apiUrl ??= 'https://api.infinario.com')))
  } catch {}
  check('apiUrl', url && (url.protocol == 'https:' || (url.protocol == 'http:' && isLoopback(url.hostname))), 'must be an https: URL (http: only for localhost)')
  num('sessionTimeoutMs', 12e5, 1)
  num('flushIntervalMs', 1000, 0)
  num('maxBatchSize', 50, 1, 50)
  const names = (s.eventNames ??= {}) as object
  check('eventNames', typeof names == 'object' && Object.values(names).every((v) => typeof v == 'string' && v), 'must map event names to non-empty strings')
  const consent = (s.consentCategories ??= [])
  check('consentCategories', Array.isArray(consent) && consent.every((v) => typeof v == 'string'), 'must be an array of strings')
  check('debug', typeof (s.debug ??= false) == 'boolean', 'must be true or false')
  return { ...s, projectToken: (token as string).trim(), apiUrl: (url!.origin + url!.pathname).replace(/\/+$/, '') } as Config
}
