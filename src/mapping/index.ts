/**
 * The mapping from Segment calls to Infinario tracking-API commands (SPEC §3, §4). Pure: no DOM,
 * no clock (the caller passes `now`), no I/O. Untrusted input never makes it throw: an event
 * that cannot be mapped is reported through `o.drop` and yields no command.
 */
import { contextExtras, sessionProps } from './context'
import { ecommerceEvents } from './ecommerce'
import { customerIds, DEFAULT_CUSTOMER_IDS, idValue } from './ids'
import { addProps, capped, clean } from './properties'
import type { Command, CustomerIds, EventCommand, MapOptions, Properties, SegmentEvent } from './types'

export { contextExtras, customerIds, sessionProps }

/** A non-empty string, or a finite number as a string; otherwise undefined. */
const str = (v: unknown): string | undefined =>
  typeof v == 'string' ? v || undefined : typeof v == 'number' && isFinite(v) ? v + '' : undefined

/**
 * A timestamp (Date, ISO-8601 string or ms number) in ms; `now` when it is missing, invalid or not
 * after 1970, and at most `now` (a future time would keep a session open until then).
 */
export function toMs(v: unknown, now: number): number {
  const t = typeof v == 'number' ? v : v instanceof Date ? v.getTime() : typeof v == 'string' ? Date.parse(v) : NaN
  return t > 0 ? Math.min(t, now) : now
}

/** The longest string value (SPEC §4 rule 4). */
const MAX_STRING = 16384
/** The largest command, in UTF-8 bytes of JSON (SPEC §4 rule 4). */
const MAX_COMMAND_BYTES = 800000

const eventCommand = (type: string, ids: CustomerIds, timeMs: number, properties: Properties, projectToken: string): EventCommand => ({
  name: 'crm/events',
  data: { customer_ids: ids, company_id: projectToken, project_id: projectToken, type, timestamp: timeMs / 1000, properties },
})

/** A `session_start` / `session_end` command; `properties` are already clean. */
export const sessionEvent: (
  type: 'session_start' | 'session_end',
  ids: CustomerIds,
  timeMs: number,
  properties: Properties,
  projectToken: string,
) => EventCommand = eventCommand

/** Whether `c` is within the 800 000 bytes of a command. */
function fits(c: Command): boolean {
  const json = JSON.stringify(c)
  // UTF-8 takes at most 3 bytes per UTF-16 unit: encode only when it could be too large
  return json.length * 3 <= MAX_COMMAND_BYTES || new TextEncoder().encode(json).length <= MAX_COMMAND_BYTES
}

/** `base` + `suffix` within the string limit: the base is cut, never the suffix, which makes a derived id unique. */
const withSuffix = (base: string, suffix: string) => base.slice(0, MAX_STRING - suffix.length) + suffix

/** One event to send: its type, the suffix of its message_id and its properties, in order of priority. */
interface Planned {
  type: string
  suffix: string
  /** property sources, added in order until the key cap: the first one's duplicate keys are reported */
  parts: unknown[]
}

/**
 * The commands of a track, page or screen: one event, or with `ecommerce` the Infinario events a
 * V2 Ecommerce event becomes (SPEC §4.2). Each gets `message_id` first, its properties, then the
 * context extras, and at most 254 keys, leaving one for `session_id`.
 */
function events(ev: SegmentEvent, ids: CustomerIds, o: MapOptions): Command[] {
  const kind = ev.type
  const name = str(ev.event)
  // str() also skips what eventNames inherits (constructor, __proto__, ...): none is a string
  const renamed = name === undefined ? undefined : str(o.eventNames[name])
  const type = kind == 'track' ? (renamed ?? name) : kind + '_visit'
  if (!type) {
    o.drop('invalid_event_name')
    return []
  }
  if (type == 'campaign') o.warn('event type "campaign" is reserved for Infinario campaigns', true)
  let planned: Planned[] = [{ type, suffix: '', parts: [ev.properties] }]
  if (kind != 'track') planned[0].parts.push({ screen_name: kind == 'screen' ? ev.name : undefined, name: ev.name, category: ev.category })
  // an event the user named in eventNames is only renamed: their explicit mapping wins
  if (kind == 'track' && o.ecommerce && renamed === undefined && name !== undefined) {
    const shop = ecommerceEvents(name, ev.properties, o.warn)
    if (shop) planned = shop.events.map((derived) => ({ type: derived.type, suffix: derived.suffix, parts: [derived.properties] }))
    if (shop?.dropped) o.drop('too_many_products', { type: name, dropped: shop.dropped })
  }
  const messageId = String(clean(str(ev.messageId) || o.id))
  const extras = contextExtras(ev.context)
  const timeMs = toMs(ev.timestamp, o.now)
  const out: Command[] = []
  for (const plan of planned) {
    const m = new Map<string, unknown>()
    m.set('message_id', withSuffix(messageId, plan.suffix))
    let dropped = 0
    plan.parts.forEach((part, i) => {
      dropped += addProps(m, part, 254, i == 0 ? o.warn : undefined)
    })
    dropped += addProps(m, extras, 254)
    capped(dropped, o.warn)
    const c = eventCommand(plan.type, ids, timeMs, Object.fromEntries(m), o.projectToken)
    if (fits(c)) out.push(c)
    else o.drop('too_large', { type: plan.type })
  }
  return out
}

/** Warns when an alias's previousId is not an anonymousId seen on this page: Infinario cannot merge it. */
function checkAlias(ev: SegmentEvent, o: MapOptions) {
  const previous = idValue(ev.previousId ?? ev.anonymousId)
  const known = previous !== undefined && (previous === idValue(ev.anonymousId) || o.knownCookie?.(previous) === true)
  if (!known) o.warn(`alias: previousId ${previous} is not a known anonymousId, it cannot be merged`)
}

/** The `crm/customers` command of an identify (traits), group (group_id and group_ traits) or alias (ids only). */
function customer(ev: SegmentEvent, ids: CustomerIds, o: MapOptions): Command[] {
  const m = new Map<string, unknown>()
  let dropped = 0
  if (ev.type == 'identify') dropped = addProps(m, ev.traits, 255, o.warn)
  if (ev.type == 'group') {
    addProps(m, { group_id: ev.groupId }, 1)
    dropped = addProps(m, ev.traits, 255, o.warn, 'group_')
  }
  if (ev.type == 'alias') checkAlias(ev, o)
  capped(dropped, o.warn)
  const c: Command = {
    name: 'crm/customers',
    data: { ids, company_id: o.projectToken, project_id: o.projectToken, properties: Object.fromEntries(m) },
  }
  if (fits(c)) return [c]
  o.drop('too_large', { type: ev.type })
  return []
}

/**
 * The commands for one Segment call (SPEC §4): usually one; several for an ecommerce event that
 * becomes several Infinario events; none when the call cannot be sent (then `o.drop` says why).
 * Events get `message_id` first and at most 253 other properties, so that the session layer can
 * still add `session_id` within Infinario's 255. ("First" as far as JavaScript allows: integer-like
 * keys such as "0" always come first in an object.)
 */
export function mapEvent(ev: SegmentEvent, o: MapOptions): Command[] {
  try {
    const kind = ev.type
    // alias: the ids that anonymousId maps to get the previousId (SPEC §4.1)
    const anonymousId = kind == 'alias' ? (ev.previousId ?? ev.anonymousId) : ev.anonymousId
    const ids = customerIds(ev, o.customerIds ?? DEFAULT_CUSTOMER_IDS, o.warn, anonymousId)
    if (!ids) {
      o.drop('no_customer_id')
      return []
    }
    if (kind == 'track' || kind == 'page' || kind == 'screen') return events(ev, ids, o)
    if (kind == 'identify' || kind == 'group' || kind == 'alias') return customer(ev, ids, o)
  } catch {
    // a hostile object: a getter or Proxy trap that throws
  }
  // not an event: no type of the six, or a hostile object
  o.drop('invalid_event')
  return []
}
