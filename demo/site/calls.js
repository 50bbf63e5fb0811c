/*
 * "Analytics calls": one button per analytics.js call, the code each runs, and "Your calls", the log
 * of every call this tab made (the shop's own included) with what became of it at the API:
 * waiting in the outbox, retrying, sent or dropped.
 *
 * The log sees the calls through a source middleware (observe.js: the analytics.js way to look at
 * every event) and matches them with the commands the live view receives: events by message_id,
 * customer updates by their ids and properties.
 */
import { clock, fill, h, short } from './dom.js'

const IDENTIFY_TRAITS = {
  name: 'Ada Lovelace',
  email: 'ada@example.com',
  plan: 'pro',
  address: { city: 'London', 'post.code': 'W1J 7NT' },
  'loyalty.tier': 'gold',
  $credit: 42,
}

/** Each button: the call it makes, the code shown for it, and what reaches Infinario. */
export const CALLS = [
  {
    method: 'identify',
    code: [
      "analytics.identify('ada-1815', {",
      "  name: 'Ada Lovelace',",
      "  email: 'ada@example.com',",
      "  plan: 'pro',",
      "  address: { city: 'London', 'post.code': 'W1J 7NT' },",
      "  'loyalty.tier': 'gold',",
      '  $credit: 42,',
      '})',
    ],
    sends:
      'crm/customers: the traits become customer properties. Nested objects are flattened one level, "." and "$" in keys become "_": address_city, address_post_code, loyalty_tier, _credit.',
    run: () => analytics.identify('ada-1815', IDENTIFY_TRAITS),
  },
  {
    method: 'track',
    code: ["analytics.track('Coupon Applied', {", "  coupon: 'SPRING10',", '  discount: { percent: 10, amount: 1.8 },', '})'],
    sends:
      'crm/events of type "Coupon Applied": the properties (discount_percent, …), the page and device context, message_id and session_id.',
    run: () => analytics.track('Coupon Applied', { coupon: 'SPRING10', discount: { percent: 10, amount: 1.8 } }),
  },
  {
    method: 'page',
    code: ["analytics.page('Shop', 'Lookbook', { season: 'spring' })"],
    sends:
      'crm/events "page_visit" with url, path, title, referrer, name and category. When no session is open, session_start comes first.',
    run: () => analytics.page('Shop', 'Lookbook', { season: 'spring' }),
  },
  {
    method: 'screen',
    code: ["analytics.screen('App', 'Wishlist', { items: 3 })"],
    sends: 'crm/events "screen_visit" with screen_name, as a mobile app would send it. Opens a session like page.',
    run: () => analytics.screen('App', 'Wishlist', { items: 3 }),
  },
  {
    method: 'alias',
    code: ["analytics.alias('ada-1815', analytics.user().anonymousId())"],
    sends:
      'crm/customers with ids { registered: "ada-1815", cookie: <this browser\'s anonymous id> } and no properties: Infinario merges the two customers.',
    run: () => analytics.alias('ada-1815', analytics.user().anonymousId()),
  },
  {
    method: 'group',
    code: ["analytics.group('acme', {", "  name: 'Acme Corp',", "  plan: 'enterprise',", "  address: { country: 'CZ' },", '})'],
    sends: 'crm/customers with group_id and each group trait as group_<key>: group_name, group_plan, group_address_country.',
    run: () => analytics.group('acme', { name: 'Acme Corp', plan: 'enterprise', address: { country: 'CZ' } }),
  },
  {
    method: 'reset',
    code: ['analytics.reset()'],
    sends: 'Ends the open session: session_end, sent with the old identity. Then a new anonymous id: the next calls are a new visitor.',
    run: () => analytics.reset(),
  },
]

const STORE = 'demo.calls'
const KEEP = 60
const STATUS_TEXT = {
  waiting: 'in the outbox',
  retrying: 'retrying',
  sent: 'sent',
  dropped: 'dropped',
  local: 'no command',
  handed: 'handed to the plugin',
}
const FINAL = new Set(['sent', 'dropped', 'local', 'handed'])

/** What a command's result was: ok, retry or error (a failed request: retried or dropped as a whole). */
export function outcome(request, i) {
  const s = request.status
  if (s >= 200 && s < 300) return request.results?.[i]?.status ?? 'retry'
  // 401 / 403: the plugin stops and keeps them for the next page load
  return !s || s === 401 || s === 403 || s === 429 || s >= 500 ? 'retry' : 'error'
}

/** Whether the command can be the result of the call `c`. */
function matches(c, cmd) {
  const d = cmd?.data ?? {}
  if (c.messageId && cmd.name === 'crm/events') return d.properties?.message_id === c.messageId && c.expects === 'event'
  if (cmd.name !== 'crm/customers' || c.expects !== 'customer') return false
  const ids = d.ids ?? {}
  const props = d.properties ?? {}
  if (c.method === 'identify')
    return ids.cookie === c.anonymousId && (ids.registered ?? null) === (c.userId ?? null) && !('group_id' in props)
  if (c.method === 'alias') return ids.registered === c.userId && ids.cookie === c.previousId && Object.keys(props).length === 0
  if (c.method === 'group') return props.group_id === c.groupId && ids.cookie === c.anonymousId
  return false
}

/** One log entry from a Segment event. */
function entry(e, remote) {
  const base = {
    id: e.messageId,
    at: Date.now(),
    method: e.type,
    messageId: e.messageId,
    anonymousId: e.anonymousId ?? null,
    userId: e.userId ?? null,
    status: remote ? 'handed' : 'waiting',
  }
  switch (e.type) {
    case 'track':
      return { ...base, label: e.event, expects: 'event' }
    case 'page':
      return { ...base, label: [e.category, e.name].filter(Boolean).join(' · ') || e.properties?.path || 'page', expects: 'event' }
    case 'screen':
      return { ...base, label: [e.category, e.name].filter(Boolean).join(' · ') || 'screen', expects: 'event' }
    case 'identify':
      return { ...base, label: e.userId ?? 'anonymous', expects: 'customer', messageId: null }
    case 'alias':
      return { ...base, label: `${e.userId} ← ${short(e.previousId)}`, previousId: e.previousId, expects: 'customer', messageId: null }
    case 'group':
      return { ...base, label: e.groupId, groupId: e.groupId, expects: 'customer', messageId: null }
    default:
      return { ...base, label: e.type, expects: null, status: 'local' }
  }
}

/**
 * Builds the calls panel into `root`. `remote`: the page sends to a remote API whose results it
 * cannot see. `onChange(waiting)`: called with the number of calls still waiting.
 */
export function createCalls(root, { remote = false, onChange = () => {} } = {}) {
  let entries = load()
  /** commands already taken by an entry, as `<at>:<seq>:<index>` */
  const claimed = new Set(entries.map((e) => e.by).filter(Boolean))
  let selected = CALLS[0]

  function load() {
    try {
      const v = JSON.parse(sessionStorage.getItem(STORE) || '[]')
      return Array.isArray(v) ? v : []
    } catch {
      return []
    }
  }
  function save() {
    entries = entries.slice(-KEEP)
    try {
      sessionStorage.setItem(STORE, JSON.stringify(entries))
    } catch {}
  }

  const who = h('p', { class: 'identity' })
  const code = h('pre', { class: 'code', 'aria-label': 'Code of the call' })
  const sends = h('p', { class: 'sends' })
  const log = h('ol', { class: 'log', id: 'call-log', 'aria-live': 'polite' })
  const buttons = CALLS.map((c) =>
    h('button', { type: 'button', class: 'call', data: { call: c.method }, onclick: () => run(c) }, c.method),
  )

  fill(
    root,
    h(
      'div',
      { class: 'panel-head' },
      h('h2', { class: 'section-title', text: 'Analytics calls' }),
      h('span', { class: 'muted', text: 'each button runs the code shown below' }),
    ),
    h('div', { class: 'call-buttons', role: 'group', 'aria-label': 'Calls' }, buttons),
    h('div', { class: 'call-detail' }, code, sends),
    who,
    h(
      'div',
      { class: 'panel-head' },
      h('h3', { class: 'section-title small', text: 'Your calls' }),
      h('span', { class: 'muted', text: 'every call on this tab, and what became of it' }),
    ),
    log,
  )

  function showSelected() {
    fill(code, selected.code.join('\n'))
    sends.textContent = selected.sends
    for (const b of buttons) b.setAttribute('aria-pressed', String(b.dataset.call === selected.method))
  }

  function showWho() {
    let u
    try {
      u = analytics.user()
    } catch {
      return
    }
    fill(
      who,
      'You are ',
      h('code', { text: u.id() ? `registered: ${u.id()}` : 'anonymous' }),
      ' · ',
      h('code', { text: `cookie: ${short(u.anonymousId())}`, title: u.anonymousId() }),
    )
  }

  function render() {
    fill(
      log,
      entries.length
        ? entries
            .slice()
            .reverse()
            .map((e) =>
              h(
                'li',
                { class: 'log-row', data: { status: e.status, method: e.method } },
                h('time', { text: clock(e.at) }),
                h('span', { class: `method m-${e.method}`, text: e.method }),
                h('span', { class: 'log-label', text: e.label, title: e.label }),
                h('span', { class: `pill s-${e.status}`, text: STATUS_TEXT[e.status] ?? e.status }),
              ),
            )
        : h('li', { class: 'log-empty', text: 'No calls yet.' }),
    )
    onChange(waiting())
  }

  const waiting = () => entries.filter((e) => e.status === 'waiting' || e.status === 'retrying').length

  async function run(c) {
    selected = c
    showSelected()
    try {
      await c.run()
    } finally {
      if (c.method === 'reset') {
        entries.push({ id: 'reset-' + Date.now(), at: Date.now(), method: 'reset', label: 'new anonymous id', status: 'local' })
        save()
        render()
      }
      showWho()
    }
  }

  /** Every event, as observe.js's source middleware saw it (before the destinations). */
  function seen(e) {
    if (!e || !e.messageId || entries.some((x) => x.id === e.messageId)) return
    entries.push(entry(e, remote))
    save()
    render()
  }
  const events = window.demoEvents ?? []
  events.forEach(seen)
  events.listener = seen
  analytics.ready(showWho)

  /** Takes the requests the API received, in order: matches their commands with waiting calls. */
  function observe(requests) {
    let changed = false
    for (const r of requests) {
      r.commands.forEach((cmd, i) => {
        const key = `${r.at}:${r.seq}:${i}`
        if (claimed.has(key)) return
        const out = outcome(r, i)
        const c = entries.find((x) => !FINAL.has(x.status) && x.expects && r.at >= x.at - 1000 && matches(x, cmd))
        if (!c) return
        if (out === 'retry') {
          if (c.status !== 'retrying') ((c.status = 'retrying'), (changed = true))
          return
        }
        c.status = out === 'ok' ? 'sent' : 'dropped'
        c.by = key
        claimed.add(key)
        changed = true
      })
    }
    if (changed) (save(), render())
  }

  /** Forgets the calls that are done (the live view was cleared). */
  function clearDone() {
    entries = entries.filter((e) => !FINAL.has(e.status))
    save()
    render()
  }

  showSelected()
  render()
  return { observe, clearDone, waiting }
}
