/**
 * The wire format of the Infinario tracking API (SPEC §3) and the plain Segment event
 * the mapping reads. Nothing here imports analytics-next: the adapter (plugin.ts) hands
 * the mapping `ctx.event` as plain data.
 */

import type { IdMapping } from './ids'

export type CallType = 'identify' | 'track' | 'page' | 'screen' | 'alias' | 'group'

/** The fields of a Segment event the mapping reads. Everything is `unknown`: input is untrusted. */
export interface SegmentEvent {
  type: CallType
  event?: unknown
  name?: unknown
  category?: unknown
  userId?: unknown
  anonymousId?: unknown
  previousId?: unknown
  groupId?: unknown
  messageId?: unknown
  timestamp?: unknown
  properties?: unknown
  traits?: unknown
  context?: unknown
  /** per-call options of destinations: `Infinario: { customerIds }` adds literal ids (SPEC §4.1) */
  integrations?: unknown
}

export type Properties = Record<string, unknown>

/** Infinario id name -> value, e.g. `{ registered: 'user-42', cookie: '…' }` (SPEC §4.1). */
export type CustomerIds = Record<string, string>

export interface CustomerCommand {
  name: 'crm/customers'
  /** the project token twice: `company_id` as today's Bloomreach SDK sends it, `project_id` as Infinario's did */
  data: { ids: CustomerIds; company_id: string; project_id: string; properties: Properties }
}

export interface EventCommand {
  name: 'crm/events'
  data: {
    customer_ids: CustomerIds
    company_id: string
    project_id: string
    type: string
    /** seconds since the epoch, ms precision */
    timestamp: number
    properties: Properties
    /** seconds between the event and the send: added by delivery at send time */
    age?: number
  }
}

export type Command = CustomerCommand | EventCommand

export interface MapOptions {
  projectToken: string
  /** Segment event name -> Infinario event type */
  eventNames: Record<string, string>
  /** current time in ms: the time of an event without a valid timestamp, and the latest one allowed */
  now: number
  /** `message_id` of an event without a `messageId` */
  id: string
  /** a warning; `always` = print even without debug (the `campaign` warning) */
  warn: (message: string, always?: boolean) => void
  /** a command (or a whole event) that cannot be sent: reported as a delivery failure */
  drop: (reason: string, detail?: Record<string, unknown>) => void
  /** Infinario id name -> source [registered: userId, cookie: anonymousId] */
  customerIds?: IdMapping
  /** map Segment's V2 Ecommerce events to Infinario's standard ones (SPEC §4.2) [false] */
  ecommerce?: boolean
  /** true when `id` is an anonymousId seen before (alias merges) */
  knownCookie?: (id: string) => boolean
}
