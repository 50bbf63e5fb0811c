/*
 * The sessions timeline of the live view: one bar per session, from session_start to session_end
 * (or, while it is open, to its last event, then a striped stretch until the timeout would end it),
 * with a tick for each event in it. Built from the commands the API answered ok.
 */
import { outcome } from './calls.js'
import { clock, duration, h, fill, short } from './dom.js'

export const EVENT_CLASS = {
  page_visit: 'page',
  screen_visit: 'screen',
  session_start: 'session',
  session_end: 'session',
  // Infinario's standard ecommerce events (the plugin's `ecommerce` setting)
  purchase: 'shop',
  purchase_item: 'shop',
  view_item: 'shop',
  cart_update: 'shop',
  checkout: 'shop',
  view_category: 'shop',
}
const MAX_ROWS = 6

/** The sessions in the commands that reached the API: id -> { start, end, last, who, events }. */
function sessions(requests) {
  const map = new Map()
  for (const r of requests)
    r.commands.forEach((cmd, i) => {
      if (cmd?.name !== 'crm/events' || outcome(r, i) !== 'ok') return
      const d = cmd.data
      const id = d.properties?.session_id
      if (!id) return
      let s = map.get(id)
      if (!s) map.set(id, (s = { id, start: null, end: null, first: d.timestamp, last: d.timestamp, who: d.customer_ids, events: [] }))
      s.first = Math.min(s.first, d.timestamp)
      if (d.type === 'session_start') ((s.start = d.timestamp), (s.who = d.customer_ids))
      else if (d.type === 'session_end') ((s.end = d.timestamp), (s.duration = d.properties?.duration))
      else (s.events.push({ t: d.timestamp, type: d.type }), (s.last = Math.max(s.last, d.timestamp)))
      if (d.customer_ids?.registered) s.who = d.customer_ids
    })
  return [...map.values()].map((s) => ({ ...s, start: s.start ?? s.first }))
}

function sessionRow(s, t0, t1, now, timeoutS) {
  const span = t1 - t0
  const x = (t) => `${(((t - t0) / span) * 100).toFixed(2)}%`
  const w = (a, b) => `${Math.max(0, ((b - a) / span) * 100).toFixed(2)}%`
  const open = s.end == null
  const endSolid = open ? Math.max(s.last, s.start) : s.end
  const idleTo = open ? Math.min(now, endSolid + timeoutS) : null
  const who = s.who?.registered ?? `cookie ${short(s.who?.cookie)}`
  const len = (open ? now : s.end) - s.start
  const bar = h('div', { class: 'bar' })
  bar.style.left = x(s.start)
  bar.style.width = w(s.start, endSolid)
  const track = h('div', { class: 'track' }, bar)
  if (open) {
    const idle = h('div', { class: 'idle', title: 'no activity yet: the session ends after the timeout' })
    idle.style.left = x(endSolid)
    idle.style.width = w(endSolid, idleTo)
    track.append(idle)
  }
  for (const e of s.events) {
    const dot = h('span', { class: `tick t-${EVENT_CLASS[e.type] ?? 'track'}`, title: `${e.type} ${clock(e.t * 1000)}` })
    dot.style.left = x(e.t)
    track.append(dot)
  }
  const cap = h('span', { class: 'cap start', title: `session_start ${clock(s.start * 1000)}` })
  cap.style.left = x(s.start)
  track.append(cap)
  if (!open) {
    const end = h('span', { class: 'cap end', title: `session_end ${clock(s.end * 1000)}` })
    end.style.left = x(s.end)
    track.append(end)
  }
  return h(
    'li',
    { class: 'session', data: { state: open ? 'open' : 'closed', session: s.id } },
    h(
      'div',
      { class: 'session-label' },
      h('span', { class: 'who', text: who }),
      h('span', { class: 'muted', text: `${s.events.length} event${s.events.length === 1 ? '' : 's'}` }),
      h(
        'span',
        { class: `pill ${open ? 's-open' : 's-closed'}` },
        open ? `open · ${duration(len)}` : `ended · ${duration(s.duration ?? len)}`,
      ),
    ),
    track,
  )
}

/** Draws the sessions of `requests` into `sessionList` and their time axis into `axis`. */
export function drawTimeline(sessionList, axis, requests, timeoutMs) {
  const now = Date.now() / 1000
  const timeoutS = timeoutMs / 1000
  const all = sessions(requests).sort((a, b) => a.start - b.start)
  const shown = all.slice(-MAX_ROWS)
  if (!shown.length) {
    fill(sessionList, h('li', { class: 'session-empty', text: 'No session yet: a page or screen call opens one.' }))
    fill(axis)
    return
  }
  let t0 = Math.min(...shown.map((s) => s.start))
  let t1 = now
  if (t1 - t0 < 60) t1 = t0 + 60
  const pad = (t1 - t0) * 0.03
  t0 -= pad
  t1 += pad
  fill(
    sessionList,
    shown.map((s) => sessionRow(s, t0, t1, now, timeoutS)),
  )
  const at = (now - t0) / (t1 - t0)
  const nowMark = h('span', { class: 'now', text: 'now' })
  nowMark.style.left = `${(at * 100).toFixed(2)}%`
  fill(
    axis,
    h('span', { class: 'axis-start', text: clock(t0 * 1000) }),
    at > 0.2 && at < 0.8 ? nowMark : null,
    at <= 0.8 ? h('span', { class: 'axis-end', text: clock(t1 * 1000) }) : h('span', { class: 'axis-end now', text: 'now' }),
  )
  if (all.length > shown.length) axis.append(h('span', { class: 'axis-more', text: `${all.length - shown.length} earlier not shown` }))
}
