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
const isRecord = (value: unknown): value is Properties => !!value && typeof value == 'object' && !Array.isArray(value)

/** Sets `key` unless it is there already: the first wins, the others are reported. */
function putFirst(properties: Map<string, unknown>, key: string, value: unknown, warn?: Warn) {
  if (properties.has(key)) {
    warn?.('duplicate key dropped: ' + key)
    return
  }
  properties.set(key, value)
}

/**
 * `owner[key]` as JSON-safe data, or undefined when it must be dropped (JSON's rules, plus: BigInt ->
 * string, a cycle -> "[Circular]", depth over 32 -> "[Too deep]", strings cut to 16 384 characters,
 * a throwing getter, toJSON or Proxy trap -> dropped). `ancestors` holds the ancestors only, so an
 * object that appears twice side by side is copied twice, not called circular.
 */
function cleanEntry(owner: any, key: PropertyKey, warn: Warn | undefined, ancestors: Seen): unknown {
  try {
    let value = owner[key]
    // Date's own toJSON gives the ISO string, or null for an invalid date
    if (typeof value?.toJSON == 'function') value = value.toJSON()
    const type = typeof value
    if (type == 'string') return value.slice(0, 16384)
    if (type == 'number') {
      if (!isFinite(value)) return null
      return value || 0 // -0 -> 0, as JSON writes it
    }
    if (type == 'bigint') return String(value)
    if (type == 'boolean' || value === null) return value
    if (type != 'object') return undefined
    if (ancestors.includes(value)) return '[Circular]'
    if (ancestors.length > 31) return '[Too deep]'
    const path = [...ancestors, value]
    if (Array.isArray(value)) {
      // past 400 000 elements the JSON is over the 800 000-byte command limit anyway:
      // stop there instead of walking a huge sparse array
      const copy = []
      for (let index = 0; index < value.length && index <= 4e5; index++) copy.push(cleanEntry(value, index, warn, path) ?? null)
      return copy
    }
    const properties = new Map<string, unknown>()
    for (const name of Object.keys(value)) {
      const cleaned = cleanEntry(value, name, warn, path)
      if (cleaned !== undefined) putFirst(properties, name.replace(/[.$]/g, '_'), cleaned, warn)
    }
    return Object.fromEntries(properties)
  } catch {
    // a throwing getter, toJSON or Proxy trap: the entry is dropped
  }
}

/** A JSON-safe deep copy of `value` (SPEC §4 rules 2, 4, 5); undefined when `value` is dropped entirely. */
export const clean = (value: unknown, warn?: Warn): unknown => cleanEntry([value], 0, warn, [])

/**
 * Adds the properties of `input` (anything; only a plain object has properties) to `properties`:
 * cleaned, flattened one level (`{a: {b: 1}}` -> `a_b: 1`), named `prefix + key`, in insertion order.
 * A key already in `properties` is kept (reported through `warn` when given); once it holds `max`
 * keys the rest are dropped. Returns how many were dropped by the cap.
 */
export function addProps(properties: Map<string, unknown>, input: unknown, max: number, warn?: Warn, prefix = ''): number {
  let dropped = 0
  const add = (key: string, value: unknown) => {
    const name = prefix + key
    // a name already there needs no room: putFirst keeps the first and reports the duplicate
    if (properties.has(name) || properties.size < max) putFirst(properties, name, value, warn)
    else dropped++
  }
  const cleaned = clean(input, warn)
  if (!isRecord(cleaned)) return 0
  for (const key of Object.keys(cleaned)) {
    const value = cleaned[key]
    if (isRecord(value)) {
      for (const inner of Object.keys(value)) add(key + '_' + inner, value[inner])
    } else {
      add(key, value)
    }
  }
  return dropped
}

/** Reports properties dropped by the 255-key cap. */
export function capped(dropped: number, warn?: Warn) {
  if (dropped > 0) warn?.(dropped + ' properties dropped: over 255 keys')
}

/** `input` as Infinario properties: `addProps` into a fresh object of at most `max` keys. */
export function toProperties(input: unknown, warn?: Warn, max = 255, prefix = ''): Properties {
  const properties = new Map<string, unknown>()
  capped(addProps(properties, input, max, warn, prefix), warn)
  return Object.fromEntries(properties)
}
