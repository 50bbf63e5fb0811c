/**
 * The session state machine (SPEC §5): pure, the time of each call is passed in.
 *
 * - every call is activity and moves `last` (never backwards);
 * - `page` / `screen` open a session when none is open;
 * - a session expires when `now - last > timeout`; its end is back-dated to `last`;
 * - `analytics.reset()` ends the open session at the time of the reset.
 */
import type { CustomerIds, Properties } from '../mapping/types'

export interface Session {
  id: string
  /** ms */
  start: number
  /** ms of the last activity */
  last: number
  /** location, path, referrer, utm_*, browser, os, device of the page that opened it */
  props: Properties
  /** the identity of the last activity */
  ids: CustomerIds
}

export interface Activity {
  /** ms */
  at: number
  /** page or screen: opens a session */
  opens?: boolean
  /** analytics.reset(): ends the open session */
  reset?: boolean
  /** the caller's ids; a call without any (dropped, or an alias by previousId alone) is no one's activity */
  ids?: CustomerIds
  props: Properties
}

/** A session event to emit: its type, time and the session it belongs to. */
export interface Emit {
  type: 'session_start' | 'session_end'
  at: number
  session: Session
}

export function expired(session: Session | undefined, now: number, timeout: number): session is Session {
  return session !== undefined && now - session.last > timeout
}

/** Ends the session when it expired by `now`: its end is back-dated to its last activity. */
export function idle(session: Session | undefined, now: number, timeout: number): [Session | undefined, Emit[]] {
  if (!expired(session, now, timeout)) return [session, []]
  return [undefined, [{ type: 'session_end', at: session.last, session }]]
}

/** Applies one call. Returns the new state and the session events it causes, in order. */
export function step(state: Session | undefined, activity: Activity, timeout: number, newId: () => string): [Session | undefined, Emit[]] {
  // a call without customer ids is nobody's activity
  if (!activity.ids) return [state, []]
  const [open, emits] = idle(state, activity.at, timeout)
  if (open && activity.reset) {
    emits.push({ type: 'session_end', at: Math.max(open.last, activity.at), session: open })
    return [undefined, emits]
  }
  // activity never moves `last` backwards (an event with an older timestamp)
  if (open) return [{ ...open, last: Math.max(open.last, activity.at), ids: activity.ids }, emits]
  if (!activity.opens) return [undefined, emits]
  const opened: Session = { id: newId(), start: activity.at, last: activity.at, props: activity.props, ids: activity.ids }
  emits.push({ type: 'session_start', at: activity.at, session: opened })
  return [opened, emits]
}
