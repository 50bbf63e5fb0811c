/**
 * The mapping from Segment calls to Infinario tracking-API commands (SPEC §3, §4). Pure: no DOM,
 * no clock (the caller passes `now`), no I/O. Untrusted input never makes it throw: an event
 * that cannot be mapped is reported through `options.drop` and yields no command.
 */
import { contextExtras, sessionProps } from './context'
import { ecommerceEvents } from './ecommerce'
import { customerIds, DEFAULT_CUSTOMER_IDS, idValue } from './ids'
import { addProps, capped, clean } from './properties'
import type { Command, CustomerIds, EventCommand, MapOptions, Properties, SegmentEvent } from './types'

export { contextExtras, customerIds, sessionProps }

/** A non-empty string, or a finite number as a string; otherwise undefined. */
function textOf(value: unknown): string | undefined {
  if (typeof value == 'string' && value != '') return value
  if (typeof value == 'number' && isFinite(value)) return String(value)
  return undefined
}

/**
 * A timestamp (Date, ISO-8601 string or ms number) in ms; `now` when it is missing, invalid or not
 * after 1970, and at most `now` (a future time would keep a session open until then).
 */
export function toMs(value: unknown, now: number): number {
  let ms = NaN
  if (typeof value == 'number') ms = value
  if (value instanceof Date) ms = value.getTime()
  if (typeof value == 'string') ms = Date.parse(value)
  // NaN > 0 is false: an invalid time is now too
  if (!(ms > 0)) return now
  return Math.min(ms, now)
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

/** Whether `command` is within the 800 000 bytes of a command. */
function fits(command: Command): boolean {
  const json = JSON.stringify(command)
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
function events(event: SegmentEvent, ids: CustomerIds, options: MapOptions): Command[] {
  const kind = event.type
  const name = textOf(event.event)
  // textOf() also skips what eventNames inherits (constructor, __proto__, ...): none is a string
  const renamed = name === undefined ? undefined : textOf(options.eventNames[name])
  const type = kind == 'track' ? (renamed ?? name) : kind + '_visit'
  if (!type) {
    options.drop('invalid_event_name')
    return []
  }
  if (type == 'campaign') options.warn('event type "campaign" is reserved for Infinario campaigns', true)
  let planned: Planned[] = [{ type, suffix: '', parts: [event.properties] }]
  if (kind != 'track') {
    const screenName = kind == 'screen' ? event.name : undefined
    planned[0].parts.push({ screen_name: screenName, name: event.name, category: event.category })
  }
  // an event the user named in eventNames is only renamed: their explicit mapping wins
  if (kind == 'track' && options.ecommerce && renamed === undefined && name !== undefined) {
    const shop = ecommerceEvents(name, event.properties, options.warn)
    if (shop) planned = shop.events.map((derived) => ({ type: derived.type, suffix: derived.suffix, parts: [derived.properties] }))
    if (shop?.dropped) options.drop('too_many_products', { type: name, dropped: shop.dropped })
  }
  const messageId = String(clean(textOf(event.messageId) || options.id))
  const extras = contextExtras(event.context)
  const timeMs = toMs(event.timestamp, options.now)
  const commands: Command[] = []
  for (const plan of planned) {
    const properties = new Map<string, unknown>()
    properties.set('message_id', withSuffix(messageId, plan.suffix))
    let dropped = 0
    plan.parts.forEach((part, index) => {
      // only the first part's duplicate keys are the user's to hear about
      const warn = index == 0 ? options.warn : undefined
      dropped += addProps(properties, part, 254, warn)
    })
    dropped += addProps(properties, extras, 254)
    capped(dropped, options.warn)
    const command = eventCommand(plan.type, ids, timeMs, Object.fromEntries(properties), options.projectToken)
    if (fits(command)) commands.push(command)
    else options.drop('too_large', { type: plan.type })
  }
  return commands
}

/** Warns when an alias's previousId is not an anonymousId seen on this page: Infinario cannot merge it. */
function checkAlias(event: SegmentEvent, options: MapOptions) {
  const previous = idValue(event.previousId ?? event.anonymousId)
  const known = previous !== undefined && (previous === idValue(event.anonymousId) || options.knownCookie?.(previous) === true)
  if (!known) options.warn(`alias: previousId ${previous} is not a known anonymousId, it cannot be merged`)
}

/** The `crm/customers` command of an identify (traits), group (group_id and group_ traits) or alias (ids only). */
function customer(event: SegmentEvent, ids: CustomerIds, options: MapOptions): Command[] {
  const properties = new Map<string, unknown>()
  let dropped = 0
  if (event.type == 'identify') dropped = addProps(properties, event.traits, 255, options.warn)
  if (event.type == 'group') {
    addProps(properties, { group_id: event.groupId }, 1)
    dropped = addProps(properties, event.traits, 255, options.warn, 'group_')
  }
  if (event.type == 'alias') checkAlias(event, options)
  capped(dropped, options.warn)
  const command: Command = {
    name: 'crm/customers',
    data: { ids, company_id: options.projectToken, project_id: options.projectToken, properties: Object.fromEntries(properties) },
  }
  if (fits(command)) return [command]
  options.drop('too_large', { type: event.type })
  return []
}

/**
 * The commands for one Segment call (SPEC §4): usually one; several for an ecommerce event that
 * becomes several Infinario events; none when the call cannot be sent (then `options.drop` says why).
 * Events get `message_id` first and at most 253 other properties, so that the session layer can
 * still add `session_id` within Infinario's 255. ("First" as far as JavaScript allows: integer-like
 * keys such as "0" always come first in an object.)
 */
export function mapEvent(event: SegmentEvent, options: MapOptions): Command[] {
  try {
    const kind = event.type
    // alias: the ids that anonymousId maps to get the previousId (SPEC §4.1)
    const anonymousId = kind == 'alias' ? (event.previousId ?? event.anonymousId) : event.anonymousId
    const ids = customerIds(event, options.customerIds ?? DEFAULT_CUSTOMER_IDS, options.warn, anonymousId)
    if (!ids) {
      options.drop('no_customer_id')
      return []
    }
    if (kind == 'track' || kind == 'page' || kind == 'screen') return events(event, ids, options)
    if (kind == 'identify' || kind == 'group' || kind == 'alias') return customer(event, ids, options)
  } catch {
    // a hostile object: a getter or Proxy trap that throws
  }
  // not an event: no type of the six, or a hostile object
  options.drop('invalid_event')
  return []
}
