/**
 * Retry policy (SPEC §3, §6): pure functions, no timers, no I/O.
 *
 * What to do with a bulk response, and how long to wait before the next try:
 * exponential backoff with full jitter (base 1 s, cap 60 s), `Retry-After` honoured.
 */

export const BASE_MS = 1000
export const CAP_MS = 60000

/** What happens to a whole request: `ok` (read per-command results), `retry` it, `drop` it, or `stop` sending. */
export type Verdict = 'ok' | 'retry' | 'drop' | 'stop'

/** The one place an HTTP status becomes a verdict. `status` 0 means no HTTP answer (network failure, timeout). */
export function verdict(status: number): Verdict {
  if (status >= 200 && status < 300) return 'ok'
  // the token is wrong (401) or may not track (403): nothing will get through until the page is fixed
  if (status == 401 || status == 403) return 'stop'
  if (status == 0 || status == 429 || status >= 500) return 'retry'
  return 'drop'
}

/** Delay before try number `attempt` (1, 2, …): uniform in [0, min(cap, base·2^(attempt-1))]. */
export const backoff = (attempt: number, random = Math.random): number =>
  random() * Math.min(CAP_MS, BASE_MS * 2 ** Math.max(0, attempt - 1))

/** `Retry-After` in ms (seconds or an HTTP date), capped at 1 hour; undefined when absent or unreadable. */
export function retryAfter(header: string | null | undefined, now: number): number | undefined {
  if (!header) return undefined
  const seconds = /^\s*\d+\s*$/.test(header)
  const ms = seconds ? Number(header) * 1000 : Date.parse(header) - now
  // an unreadable date
  if (Number.isNaN(ms)) return undefined
  // a date in the past: no wait
  if (ms < 0) return 0
  return Math.min(ms, 3_600_000)
}

/** The status of each command of a 2xx answer, by position: a missing or unknown one means `retry`. */
export function statuses(body: unknown, count: number): ('ok' | 'retry' | 'error')[] {
  const results = (body as { results?: unknown })?.results
  return Array.from({ length: count }, (_, i) => {
    const status = Array.isArray(results) ? (results[i] as { status?: unknown } | undefined)?.status : undefined
    if (status === 'ok' || status === 'error') return status
    return 'retry'
  })
}
