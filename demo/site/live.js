/*
 * The live view: what the Infinario API receives.
 *
 * Local mode: reads the local API's control endpoints (cross-origin, CORS): GET /__control/state
 * for the history, GET /__control/stream (server-sent events) for each bulk request as it is
 * answered, POST /__control/fault for the fault switches, POST /__control/reset to clear.
 * Remote mode (a real API): lists the page's requests to it (Resource Timing), without contents.
 */
import { outcome } from './calls.js'
import { bytes, clock, duration, fill, h, short } from './dom.js'
import { createRemoteView } from './remote.js'
import { drawTimeline, EVENT_CLASS } from './timeline.js'

/** The fault switches: each adds its part to the API's fault. */
const FAULTS = [
  { key: 'down', label: 'API down', note: 'connections are dropped, no answer', fault: { down: true } },
  { key: 'status', label: 'HTTP 503', note: 'every bulk request fails', fault: { status: 503 } },
  {
    key: 'forbidden',
    label: 'HTTP 403',
    note: 'the token may not track: the plugin stops and keeps its queue until the next page load',
    fault: { forbidden: true },
  },
  { key: 'retryEvery', label: 'Per-command retry', note: 'every 3rd command is answered "retry"', fault: { retryEvery: 3 } },
  { key: 'delayMs', label: 'Slow API', note: 'each answer takes 2 s', fault: { delayMs: 2000 } },
]

const KEEP_CARDS = 60

function counts(requests) {
  const n = { ok: 0, retry: 0, error: 0 }
  for (const r of requests) r.commands.forEach((_, i) => n[outcome(r, i)]++)
  return n
}

/** The customer ids of a command: `registered` in bold, `cookie` shortened, any other id as name=value. */
function idsView(ids) {
  const parts = []
  if (ids.registered) parts.push(h('b', { text: ids.registered }))
  if (ids.cookie) parts.push(short(ids.cookie))
  for (const [name, value] of Object.entries(ids))
    if (name !== 'registered' && name !== 'cookie') parts.push(h('span', { class: 'id-extra', text: `${name}=${value}`, title: value }))
  return parts.flatMap((part, n) => (n ? [' ', part] : [part]))
}

/** A short line on an ecommerce event: the order and its total, or the product and its quantity. */
function shopHint(type, props) {
  const money = (v) => (typeof v === 'number' ? `${v} ${props.local_currency ?? ''}`.trim() : '')
  if (type === 'purchase') return `order ${props.purchase_id ?? '?'} · ${props.total_quantity} item(s) · ${money(props.total_price)}`
  if (type === 'purchase_item') return `${props.title ?? props.product_id ?? 'product'} × ${props.quantity} · ${money(props.total_price)}`
  if (type === 'checkout') return `${(props.product_ids ?? []).length} product(s) · ${money(props.total_price)}`
  if (type === 'cart_update') return `${props.action} ${props.title ?? props.product_id ?? ''}`
  if (type === 'view_item') return props.title ?? props.product_id ?? ''
  if (type === 'view_category') return props.category_name ?? props.category_id ?? ''
  return ''
}

/** One line per command: what it is, for whom, and how it was answered. */
function commandRow(r, cmd, i) {
  const d = cmd?.data ?? {}
  const out = outcome(r, i)
  const ids = d.ids ?? d.customer_ids ?? {}
  const props = d.properties ?? {}
  let what
  if (cmd?.name === 'crm/events') what = h('span', { class: `type t-${EVENT_CLASS[d.type] ?? 'track'}`, text: d.type })
  else if (!Object.keys(props).length) what = h('span', { class: 'type t-customer', text: 'merge ids' })
  else if ('group_id' in props) what = h('span', { class: 'type t-customer', text: `group ${props.group_id}` })
  else what = h('span', { class: 'type t-customer', text: 'update customer' })
  const keys = Object.keys(props).filter((k) => cmd?.name === 'crm/customers' || !/^(message_id|session_id)$/.test(k))
  let hint = ''
  if (cmd?.name === 'crm/customers') hint = keys.slice(0, 5).join(', ') + (keys.length > 5 ? ', …' : '')
  else if (EVENT_CLASS[d.type] === 'shop') hint = shopHint(d.type, props)
  if (cmd?.name === 'crm/events' && d.age >= 2) hint = [hint, `waited ${d.age.toFixed(1)} s`].filter(Boolean).join(' · ')
  const res = r.results?.[i]
  return h(
    'li',
    { class: d.type === 'purchase_item' ? 'cmd derived' : 'cmd', data: { type: d.type ?? 'customer' } },
    h(
      'details',
      null,
      h(
        'summary',
        null,
        h('span', {
          class: `kind k-${cmd?.name === 'crm/events' ? 'event' : 'customer'}`,
          text: cmd?.name === 'crm/events' ? 'event' : 'customer',
        }),
        what,
        h('span', { class: 'ids' }, idsView(ids)),
        h('span', { class: 'hint-inline', text: hint }),
        h('span', {
          class: `pill s-${out}`,
          text: r.status >= 200 && r.status < 300 ? (res?.status ?? 'no result') : out === 'retry' ? 'will retry' : 'dropped',
        }),
      ),
      h('pre', { class: 'json', text: JSON.stringify(cmd, null, 2) + (res?.errors ? '\n\nerrors: ' + res.errors.join('\n') : '') }),
    ),
  )
}

function statusText(s) {
  if (!s) return 'no answer'
  return `HTTP ${s}`
}

function requestCard(r) {
  const ok = r.status >= 200 && r.status < 300
  const bad = ok && r.results?.some((x) => x.status !== 'ok')
  return h(
    'li',
    { class: 'req', data: { seq: r.seq, status: String(r.status) } },
    h(
      'div',
      { class: 'req-head' },
      h('span', { class: `http ${ok ? (bad ? 'h-mixed' : 'h-ok') : r.status ? 'h-fail' : 'h-down'}`, text: statusText(r.status) }),
      h('span', { class: 'req-title', text: `POST /bulk #${r.seq}` }),
      h('span', {
        class: 'req-meta',
        text: `${r.commands.length} command${r.commands.length === 1 ? '' : 's'} · ${bytes(r.sizeBytes)} · ${r.mode === 'no-cors' ? 'beacon' : 'fetch'}`,
      }),
      h('time', { text: clock(r.at) }),
    ),
    h(
      'ol',
      { class: 'cmds' },
      r.commands.map((c, i) => commandRow(r, c, i)),
    ),
  )
}

/**
 * Builds the live view into `root`. `api`: the local API's base URL ('' in the remote mode);
 * `target`: where the plugin sends; `token`; `timeoutMs`: the plugin's session timeout.
 * `onRequests(requests, full)`: new requests in order (`full`: the whole history after a resync).
 */
/**
 * The plugin settings the page runs with, as its script tag says: `customerIds` (id name <- source)
 * and `ecommerce`.
 */
function settingsBox(customerIds, ecommerce) {
  let mapping
  try {
    mapping = JSON.parse(customerIds || '{}')
  } catch {
    mapping = null
  }
  const rows =
    mapping && typeof mapping === 'object'
      ? Object.entries(mapping).map(([name, source]) =>
          h('li', null, h('b', { text: name }), h('span', { class: 'from', text: '←' }), h('span', { text: String(source) })),
        )
      : [h('li', { text: `not JSON: ${customerIds}` })]
  return h(
    'section',
    { class: 'box settings', id: 'settings', 'aria-labelledby': 'settings-title' },
    h(
      'div',
      { class: 'box-head' },
      h('h3', { id: 'settings-title', text: 'Plugin settings' }),
      h('span', { class: 'muted', text: 'from the script tag: data-customer-ids, data-ecommerce' }),
    ),
    h('p', { class: 'muted', text: 'customerIds: which Infinario customer id each command carries, from which Segment identity' }),
    h('ul', { class: 'settings-list', id: 'setting-customer-ids' }, rows),
    h(
      'p',
      { class: 'muted', id: 'setting-ecommerce' },
      h('b', { text: `ecommerce: ${ecommerce ? 'on' : 'off'}` }),
      ecommerce ? ' · Segment ecommerce events arrive as purchase, purchase_item, view_item, cart_update, checkout, view_category' : '',
    ),
  )
}

export function createLive(
  root,
  { api, target, token, timeoutMs, customerIds = '', ecommerce = false, onRequests = () => {}, onCleared = () => {} },
) {
  if (!api) return createRemoteView(root, { target, token })

  let requests = []
  let syncing = null
  let buffered = []
  let waitingCalls = 0
  let fault = {}

  const dot = h('span', { class: 'conn', data: { state: 'connecting' }, text: 'connecting' })
  const counters = {
    ok: h('b', { id: 'count-sent', text: '0' }),
    retry: h('b', { id: 'count-retried', text: '0' }),
    error: h('b', { id: 'count-dropped', text: '0' }),
    waiting: h('b', { id: 'count-waiting', text: '0' }),
  }
  const switches = FAULTS.map((f) =>
    h('input', { type: 'checkbox', role: 'switch', id: `fault-${f.key}`, data: { fault: f.key }, onchange: () => setFault() }),
  )
  const sessionList = h('ol', { class: 'sessions', id: 'sessions' })
  const axis = h('div', { class: 'axis' })
  const feed = h('ol', { class: 'feed', id: 'feed', 'aria-live': 'polite' })
  const empty = h('p', { class: 'empty', text: 'Waiting for the first bulk request… (the plugin sends at most every second)' })
  const faultNote = h('p', { class: 'fault-note' })

  const tile = (b, label, note, cls) =>
    h('div', { class: `tile ${cls}` }, b, h('span', { class: 'tile-label', text: label }), h('span', { class: 'tile-note', text: note }))

  fill(
    root,
    h(
      'header',
      { class: 'live-head' },
      h('div', null, h('h2', { text: 'What reaches Infinario' }), dot),
      h('button', { type: 'button', class: 'btn-quiet', id: 'clear', onclick: clear }, 'Clear'),
    ),
    h(
      'p',
      { class: 'live-sub' },
      'Local Infinario-compatible API ',
      h('code', { text: new URL(api).host }),
      ' · project token ',
      h('code', { text: short(token), title: token }),
      ' · nothing leaves this machine',
    ),
    h(
      'div',
      { class: 'tiles' },
      tile(counters.ok, 'Sent', 'commands answered ok', 'c-ok'),
      tile(counters.retry, 'Retried', 'to be sent again', 'c-retry'),
      tile(counters.error, 'Dropped', 'answered error', 'c-error'),
      tile(counters.waiting, 'In the outbox', 'calls on this tab not yet sent', 'c-wait'),
    ),
    settingsBox(customerIds, ecommerce),
    h(
      'section',
      { class: 'box faults', 'aria-labelledby': 'faults-title' },
      h('h3', { id: 'faults-title', text: 'Break the API' }),
      h(
        'div',
        { class: 'switches' },
        FAULTS.map((f, i) =>
          h(
            'label',
            { class: 'switch', for: `fault-${f.key}` },
            switches[i],
            h('span', { class: 'knob', 'aria-hidden': 'true' }),
            h('span', null, h('b', { text: f.label }), h('small', { text: f.note })),
          ),
        ),
      ),
      faultNote,
    ),
    h(
      'section',
      { class: 'box timeline', 'aria-labelledby': 'sessions-title' },
      h(
        'div',
        { class: 'box-head' },
        h('h3', { id: 'sessions-title', text: 'Sessions' }),
        h('span', { class: 'muted', text: `a session ends after ${duration(timeoutMs / 1000)} without activity here (20 min by default)` }),
      ),
      sessionList,
      axis,
      h(
        'p',
        { class: 'legend' },
        h('span', { class: 'tick t-page' }),
        'page_visit ',
        h('span', { class: 'tick t-screen' }),
        'screen_visit ',
        h('span', { class: 'tick t-track' }),
        'track ',
        h('span', { class: 'legend-idle' }),
        'idle, ends at the timeout',
      ),
    ),
    h(
      'div',
      { class: 'box-head feed-head' },
      h('h3', { text: 'Bulk requests' }),
      h('span', { class: 'muted', text: 'newest first · click a command for its JSON' }),
    ),
    empty,
    feed,
  )

  // ---- rendering ----

  function renderCounts() {
    const n = counts(requests)
    counters.ok.textContent = String(n.ok)
    counters.retry.textContent = String(n.retry)
    counters.error.textContent = String(n.error)
    counters.waiting.textContent = String(waitingCalls)
  }

  const renderTimeline = () => drawTimeline(sessionList, axis, requests, timeoutMs)

  function prepend(r) {
    feed.prepend(requestCard(r))
    while (feed.children.length > KEEP_CARDS) feed.lastElementChild.remove()
    empty.hidden = true
  }

  function renderAll() {
    fill(feed, requests.slice(-KEEP_CARDS).reverse().map(requestCard))
    empty.hidden = requests.length > 0
    renderCounts()
    renderTimeline()
  }

  function showFault(f) {
    fault = f || {}
    switches.forEach((s, i) => (s.checked = FAULTS[i].key in fault))
    const on = FAULTS.filter((x) => x.key in fault)
    faultNote.textContent = on.length
      ? `${on.map((x) => x.label).join(' + ')}: new calls wait in the outbox and are retried with backoff. Switch it off to watch them arrive (the demo then fires the browser's "online" event, on which the plugin retries at once).`
      : 'The API is healthy. Switch a fault on, make a few calls, then switch it off: the calls wait in the outbox and arrive once, in order.'
    root.dataset.fault = on.map((x) => x.key).join(' ') || 'none'
  }

  // ---- data ----

  function add(r) {
    if (syncing) return buffered.push(r)
    if (r.seq <= requests.length) {
      if (requests[r.seq - 1]?.at === r.at) return // already have it (from the state)
      return resync()
    }
    if (r.seq !== requests.length + 1) return resync()
    requests.push(r)
    prepend(r)
    renderCounts()
    renderTimeline()
    onRequests([r], false)
  }

  async function resync() {
    if (syncing) return syncing
    buffered = []
    syncing = (async () => {
      try {
        const state = await (await fetch(api + '/__control/state', { cache: 'no-store' })).json()
        requests = state.requests.map((r, i) => ({ ...r, seq: i + 1, mode: r.headers?.['sec-fetch-mode'], headers: undefined }))
        showFault(state.fault)
      } catch {
        // the stream reconnects and resyncs
      }
    })()
    await syncing
    syncing = null
    const later = buffered
    buffered = []
    renderAll()
    onRequests(requests, true)
    for (const r of later) add(r)
  }

  function connect() {
    const es = new EventSource(api + '/__control/stream')
    es.onopen = () => {
      dot.dataset.state = 'live'
      dot.textContent = 'live'
      resync()
    }
    es.onerror = () => {
      dot.dataset.state = 'down'
      dot.textContent = 'reconnecting…'
    }
    es.onmessage = (m) => {
      try {
        add(JSON.parse(m.data))
      } catch {}
    }
    es.addEventListener('control', (m) => {
      let c
      try {
        c = JSON.parse(m.data)
      } catch {
        return
      }
      showFault(c.fault)
      if (c.reset) {
        requests = []
        renderAll()
        onCleared()
      }
    })
    addEventListener('pagehide', () => es.close())
  }

  async function setFault() {
    const next = {}
    switches.forEach((s, i) => s.checked && Object.assign(next, FAULTS[i].fault))
    const wasBroken = 'down' in fault || 'status' in fault || 'forbidden' in fault || 'retryEvery' in fault
    // the stream's `control` message then shows the API's fault (in order with other tabs' changes)
    try {
      const r = await fetch(api + '/__control/fault', {
        method: 'POST',
        headers: { 'Content-Type': 'text/plain' },
        body: JSON.stringify(next),
      })
      if (!r.ok) throw new Error(`HTTP ${r.status}`)
    } catch {
      return showFault(fault)
    }
    // The API is back: tell the page it is back online, so that the plugin retries at once instead of
    // waiting out its backoff (up to 60 s), as it does when a real browser comes back online.
    // (after a 403 the plugin has stopped: only a page load sends again)
    if (wasBroken && !('down' in next) && !('status' in next) && !('forbidden' in next) && !('retryEvery' in next))
      dispatchEvent(new Event('online'))
  }

  async function clear() {
    try {
      await fetch(api + '/__control/reset', { method: 'POST', headers: { 'Content-Type': 'text/plain' }, body: '' })
    } catch {}
  }

  showFault({})
  renderAll()
  connect()
  // open sessions grow, idle stretches run out
  setInterval(() => requests.length && renderTimeline(), 1000)

  return {
    setWaiting(n) {
      waitingCalls = n
      renderCounts()
    },
  }
}
