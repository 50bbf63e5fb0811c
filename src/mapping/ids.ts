/**
 * Customer ids (SPEC §4.1): which Infinario id name gets which Segment identity. The `customerIds`
 * setting maps each id name to a source (`userId`, `anonymousId` or `traits.<name>`); a call carries
 * every mapped id whose source has a value in it, plus the literal ids of
 * `integrations.Infinario.customerIds`. Pure; reading a hostile event never throws.
 */
import type { CustomerIds, SegmentEvent } from './types'

/** Where an id's value comes from: the call's userId, its anonymousId, or one of its traits. */
export type IdSource = 'userId' | 'anonymousId' | `traits.${string}`

/** Infinario id name -> source. */
export type IdMapping = Readonly<Record<string, IdSource>>

export const DEFAULT_CUSTOMER_IDS: IdMapping = { registered: 'userId', cookie: 'anonymousId' }

const TRAITS = 'traits.'
/** The longest id value: a longer one is ignored, since a cut id would name someone else. */
const MAX_ID_LENGTH = 16384
/** The most characters (names and values) the ids of one call may have together: keeps every command under 800 KB. */
const MAX_IDS_LENGTH = 65536

const SOURCES = '"userId", "anonymousId" or "traits.<name>"'

/** An id name Infinario accepts: not empty, no `.` or `$`. */
export const isIdName = (name: string): boolean => name != '' && !/[.$]/.test(name)

const isSource = (source: unknown): source is IdSource =>
  source === 'userId' ||
  source === 'anonymousId' ||
  (typeof source == 'string' && source.startsWith(TRAITS) && source.length > TRAITS.length)

/** Whether `value` is an object whose own keys are its entries (not null, not an array, a Map or a class instance). */
const isPlainObject = (value: unknown): value is Record<string, unknown> => {
  if (!value || typeof value != 'object') return false
  const prototype = Object.getPrototypeOf(value)
  return prototype === Object.prototype || prototype === null
}

/**
 * Reads the `customerIds` setting: a snapshot of it, or a sentence saying what is wrong with it
 * (for the settings error, which names the setting).
 */
export function readIdMapping(setting: unknown): IdMapping | string {
  const shape = 'must be an object mapping Infinario id names to ' + SOURCES
  try {
    if (!isPlainObject(setting)) return shape
    const entries = Object.entries(setting)
    if (!entries.length) return 'maps no id at all: give at least one, e.g. { "registered": "userId", "cookie": "anonymousId" }'
    for (const [name, source] of entries) {
      if (name == '') return 'has an empty id name'
      if (!isIdName(name)) return `has the id name ${JSON.stringify(name)}: id names must not contain "." or "$"`
      if (source === undefined || source === null || source === '') return `gives the id ${JSON.stringify(name)} no source: use ${SOURCES}`
      if (!isSource(source)) {
        const kind = typeof source
        const shown = kind == 'string' ? JSON.stringify(source) : (/^[aeiou]/.test(kind) ? 'an ' : 'a ') + kind
        return `gives the id ${JSON.stringify(name)} the unknown source ${shown}: use ${SOURCES}`
      }
    }
    return Object.fromEntries(entries) as IdMapping
  } catch {
    // a Proxy or getter that throws while being read
    return shape
  }
}

/** An id value: a non-empty string, or a finite number as a string, of at most 16 384 characters; otherwise undefined. */
export function idValue(value: unknown): string | undefined {
  let text: string | undefined
  if (typeof value == 'string') text = value
  if (typeof value == 'number' && isFinite(value)) text = String(value)
  if (!text || text.length > MAX_ID_LENGTH) return undefined
  return text
}

/** `owner[key]` when `owner` is an object that has it as an own property; undefined otherwise, also when reading it throws. */
function own(owner: unknown, key: string): unknown {
  try {
    if (owner && typeof owner == 'object' && Object.hasOwn(owner, key)) return (owner as Record<string, unknown>)[key]
  } catch {
    // a Proxy or getter that throws: as if the property were missing
  }
  return undefined
}

/** The trait `name` of the call: identify's own `traits` first, then `context.traits` of any call. */
function trait(event: Partial<SegmentEvent>, name: string): string | undefined {
  const fromCall = own(event, 'type') == 'identify' ? idValue(own(own(event, 'traits'), name)) : undefined
  return fromCall ?? idValue(own(own(own(event, 'context'), 'traits'), name))
}

type Warn = (message: string) => void

/** The literal ids of `integrations: { Infinario: { customerIds } }`; invalid names and values are ignored with a warning. */
function literalIds(event: Partial<SegmentEvent>, warn?: Warn): [string, string][] {
  const literal = own(own(own(event, 'integrations'), 'Infinario'), 'customerIds')
  if (literal === undefined) return []
  const out: [string, string][] = []
  try {
    if (!isPlainObject(literal)) {
      warn?.('integrations.Infinario.customerIds is not an object: ignored')
      return []
    }
    for (const [name, value] of Object.entries(literal)) {
      const id = idValue(value)
      if (!isIdName(name)) warn?.(`integrations.Infinario.customerIds: id name ${JSON.stringify(name)} ignored (empty, or with "." or "$")`)
      else if (id === undefined)
        warn?.(`integrations.Infinario.customerIds: the value of "${name}" ignored (not a non-empty string or a number)`)
      else out.push([name, id])
    }
  } catch {
    warn?.('integrations.Infinario.customerIds could not be read: ignored')
  }
  return out
}

/**
 * The customer ids of one call (SPEC §4.1): every id of `mapping` whose source has a value in the
 * call, then the call's literal ids, which add ids or override mapped ones. `anonymousId` is the
 * value that `anonymousId` sources take (alias passes its previousId). Undefined when there is none.
 */
export function customerIds(
  event: Partial<SegmentEvent>,
  mapping: IdMapping = DEFAULT_CUSTOMER_IDS,
  warn?: Warn,
  anonymousId: unknown = own(event, 'anonymousId'),
): CustomerIds | undefined {
  const ids = new Map<string, string>()
  for (const [name, source] of Object.entries(mapping)) {
    let id: string | undefined
    if (source == 'userId') id = idValue(own(event, 'userId'))
    else if (source == 'anonymousId') id = idValue(anonymousId)
    else id = trait(event, source.slice(TRAITS.length))
    if (id !== undefined) ids.set(name, id)
  }
  for (const [name, id] of literalIds(event, warn)) ids.set(name, id)
  let length = 0
  const kept: [string, string][] = []
  for (const [name, id] of ids) {
    if (length + name.length + id.length > MAX_IDS_LENGTH) {
      warn?.(`customer id "${name}" ignored: the ids of one call are limited to ${MAX_IDS_LENGTH} characters`)
      continue
    }
    length += name.length + id.length
    kept.push([name, id])
  }
  // Object.fromEntries defines own properties: an id named __proto__ is data, not a prototype
  return kept.length ? Object.fromEntries(kept) : undefined
}
