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

/** `status` 0 means no HTTP answer (network failure, timeout). */
export const verdict = (status: number): Verdict =>
  status > 199 && status < 300
    ? 'ok'
    : status == 401 || status == 403
      ? 'stop'
      : !status || status == 429 || status > 499
        ? 'retry'
        : 'drop'

/** Delay before try number `attempt` (1, 2, …): uniform in [0, min(cap, base·2^(attempt-1))]. */
export const backoff = (attempt: number, random = Math.random): number =>
  random() * Math.min(CAP_MS, BASE_MS * 2 ** Math.max(0, attempt - 1))

/** `Retry-After` in ms (seconds or an HTTP date), capped at 1 hour; undefined when absent or unreadable. */
export function retryAfter(header: string | null | undefined, now: number): number | undefined {
  if (!header) return
  const ms = /^\s*\d+\s*$/.test(header) ? +header * 1000 : Date.parse(header) - now
  return ms >= 0 ? Math.min(ms, 36e5) : ms < 0 ? 0 : undefined
}

/** The status of each command of a 2xx answer, by position: a missing or unknown one means `retry`. */
export function statuses(body: unknown, count: number): ('ok' | 'retry' | 'error')[] {
  const results = (body as { results?: unknown })?.results
  return Array.from({ length: count }, (_, i) => {
    const s = Array.isArray(results) && (results[i] as { status?: unknown })?.status
    return s === 'ok' || s === 'error' ? s : 'retry'
  })
}
