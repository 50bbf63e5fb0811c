/**
 * The mapping from Segment calls to Infinario tracking-API commands (SPEC §3, §4). Pure: no DOM,
 * no clock (the caller passes `now`), no I/O. Untrusted input never makes it throw: an event
 * that cannot be mapped is reported through `o.drop` and yields no command.
 */
import { contextExtras, sessionProps } from './context'
import { addProps, capped, clean } from './properties'
import type { Command, CustomerIds, EventCommand, MapOptions, Properties, SegmentEvent } from './types'

export { contextExtras, sessionProps }

/** A non-empty string, or a finite number as a string; otherwise undefined. */
const str = (v: unknown): string | undefined =>
  typeof v == 'string' ? v || undefined : typeof v == 'number' && isFinite(v) ? v + '' : undefined

/** An id: a string or finite number, at most 16 384 characters (a cut id would name someone else). */
const idOf = (v: unknown) => {
  const s = str(v)
  return s && s.length <= 16384 ? s : undefined
}

/** `cookie` = anonymousId, `registered` = userId, each when known and valid; undefined when neither is. */
export function customerIds(ev: { userId?: unknown; anonymousId?: unknown }): CustomerIds | undefined {
  const registered = idOf(ev.userId)
  const cookie = idOf(ev.anonymousId)
  return registered || cookie ? { ...(registered && { registered }), ...(cookie && { cookie }) } : undefined
}

/**
 * A timestamp (Date, ISO-8601 string or ms number) in ms; `now` when it is missing, invalid or not
 * after 1970, and at most `now` (a future time would keep a session open until then).
 */
export function toMs(v: unknown, now: number): number {
  const t = typeof v == 'number' ? v : v instanceof Date ? v.getTime() : typeof v == 'string' ? Date.parse(v) : NaN
  return t > 0 ? Math.min(t, now) : now
}

const eventCommand = (type: string, ids: CustomerIds, timeMs: number, properties: Properties, projectToken: string): EventCommand => ({
  name: 'crm/events',
  data: { customer_ids: ids, project_id: projectToken, type, timestamp: timeMs / 1000, properties },
})

/** A `session_start` / `session_end` command; `properties` are already clean. */
export const sessionEvent: (
  type: 'session_start' | 'session_end',
  ids: CustomerIds,
  timeMs: number,
  properties: Properties,
  projectToken: string,
) => EventCommand = eventCommand

/**
 * The commands for one Segment call (SPEC §4): one, or none when the call cannot be sent (then
 * `o.drop` says why). Events get `message_id` first and at most 253 other properties, so that
 * the session layer can still add `session_id` within Infinario's 255. ("First" as far as
 * JavaScript allows: integer-like keys such as "0" always come first in an object.)
 */
export function mapEvent(ev: SegmentEvent, o: MapOptions): Command[] {
  const no = (...a: [reason: string, detail?: Record<string, unknown>]) => (o.drop(...a), [])
  try {
    const t = ev.type
    const ids = customerIds(t == 'alias' ? { userId: ev.userId, anonymousId: ev.previousId ?? ev.anonymousId } : ev)
    if (!ids) return no('no_customer_id')
    const m = new Map<string, unknown>()
    const w = o.warn
    let n = 0
    let c: Command
    if (t == 'track' || t == 'page' || t == 'screen') {
      const name = str(ev.event)
      // str() also skips what eventNames inherits (constructor, __proto__, ...): none is a string
      const type = t != 'track' ? t + '_visit' : name && (str(o.eventNames[name]) || name)
      if (!type) return no('invalid_event_name')
      if (type == 'campaign') w('event type "campaign" is reserved for Infinario campaigns', true)
      m.set('message_id', clean(str(ev.messageId) || o.id))
      n = addProps(m, ev.properties, 254, w)
      if (t != 'track') n += addProps(m, { screen_name: t == 'screen' ? ev.name : undefined, name: ev.name, category: ev.category }, 254)
      n += addProps(m, contextExtras(ev.context), 254)
      c = eventCommand(type, ids, toMs(ev.timestamp, o.now), {}, o.projectToken)
    } else {
      if (t == 'identify') n = addProps(m, ev.traits, 255, w)
      else if (t == 'group') (addProps(m, { group_id: ev.groupId }, 1), (n = addProps(m, ev.traits, 255, w, 'group_')))
      else if (t != 'alias') throw 0
      else if (!(ids.cookie && (ids.cookie === str(ev.anonymousId) || o.knownCookie?.(ids.cookie))))
        w(`alias: previousId ${ids.cookie} is not a known anonymousId, it cannot be merged`)
      c = { name: 'crm/customers', data: { ids, project_id: o.projectToken, properties: {} } }
    }
    capped(n, w)
    c.data.properties = Object.fromEntries(m)
    const json = JSON.stringify(c)
    // UTF-8 takes at most 3 bytes per UTF-16 unit: encode only when it could be too large
    return json.length * 3 > 8e5 && new TextEncoder().encode(json).length > 8e5
      ? no('too_large', { type: 'type' in c.data ? c.data.type : t })
      : [c]
  } catch {
    // not an event: no type of the six, or a hostile object
    return no('invalid_event')
  }
}
