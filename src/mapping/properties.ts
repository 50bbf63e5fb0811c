/**
 * The property rules of SPEC §4, for traits, properties and context extras alike: values become
 * JSON-safe copies (`clean`), keys lose `.` and `$`, objects are flattened one level, the first of
 * two colliding keys wins and the number of keys is capped. Nothing here throws, and keys such as
 * `__proto__` are plain data: objects are built with `Object.fromEntries`, which defines own
 * properties instead of calling setters, so no prototype can be reached.
 */
import type { Properties } from './types'

export type Warn = (message: string) => void
type Seen = readonly object[]

/** A plain (cleaned) object: not null, not an array. */
const isObj = (v: unknown): v is Properties => !!v && typeof v == 'object' && !Array.isArray(v)

/** Sets `k` unless it is there already: the first wins, the others are reported. */
const put = (m: Map<string, unknown>, k: string, v: unknown, warn?: Warn) =>
  m.has(k) ? warn?.('duplicate key dropped: ' + k) : m.set(k, v)

/**
 * `o[k]` as JSON-safe data, or undefined when it must be dropped (JSON's rules, plus: BigInt ->
 * string, a cycle -> "[Circular]", depth over 32 -> "[Too deep]", strings cut to 16 384 characters,
 * a throwing getter, toJSON or Proxy trap -> dropped). `seen` holds the ancestors only, so an
 * object that appears twice side by side is copied twice, not called circular.
 */
function get(o: any, k: PropertyKey, warn: Warn | undefined, seen: Seen): unknown {
  try {
    let v = o[k]
    // Date's own toJSON gives the ISO string, or null for an invalid date
    if (typeof v?.toJSON == 'function') v = v.toJSON()
    const t = typeof v
    if (t == 'string') return v.slice(0, 16384)
    if (t == 'number') return isFinite(v) ? v || 0 : null // -0 -> 0, as JSON writes it
    if (t == 'bigint') return v + ''
    if (t == 'boolean' || v === null) return v
    if (t != 'object') return
    if (seen.includes(v)) return '[Circular]'
    if (seen.length > 31) return '[Too deep]'
    const s = [...seen, v]
    if (Array.isArray(v)) {
      // past 400 000 elements the JSON is over the 800 000-byte command limit anyway:
      // stop there instead of walking a huge sparse array
      const a = []
      for (let i = 0; i < v.length && i <= 4e5; i++) a.push(get(v, i, warn, s) ?? null)
      return a
    }
    const m = new Map<string, unknown>()
    for (const key of Object.keys(v)) {
      const x = get(v, key, warn, s)
      if (x !== undefined) put(m, key.replace(/[.$]/g, '_'), x, warn)
    }
    return Object.fromEntries(m)
  } catch {}
}

/** A JSON-safe deep copy of `v` (SPEC §4 rules 2, 4, 5); undefined when `v` is dropped entirely. */
export const clean = (v: unknown, warn?: Warn): unknown => get([v], 0, warn, [])

/**
 * Adds the properties of `input` (anything; only a plain object has properties) to `m`: cleaned,
 * flattened one level (`{a: {b: 1}}` -> `a_b: 1`), named `prefix + key`, in insertion order.
 * A key already in `m` is kept (reported through `warn` when given); once `m` holds `max` keys the
 * rest are dropped. Returns how many were dropped by the cap.
 */
export function addProps(m: Map<string, unknown>, input: unknown, max: number, warn?: Warn, prefix = ''): number {
  let n = 0
  const add = (k: string, v: unknown) => (m.has((k = prefix + k)) || m.size < max ? put(m, k, v, warn) : n++)
  const c = clean(input, warn)
  if (isObj(c))
    for (const k of Object.keys(c)) {
      const v = c[k]
      isObj(v) ? Object.keys(v).forEach((j) => add(k + '_' + j, v[j])) : add(k, v)
    }
  return n
}

/** Reports properties dropped by the 255-key cap. */
export const capped = (n: number, warn?: Warn) => n && warn?.(n + ' properties dropped: over 255 keys')

/** `input` as Infinario properties: `addProps` into a fresh object of at most `max` keys. */
export function toProperties(input: unknown, warn?: Warn, max = 255, prefix = ''): Properties {
  const m = new Map<string, unknown>()
  capped(addProps(m, input, max, warn, prefix), warn)
  return Object.fromEntries(m)
}
