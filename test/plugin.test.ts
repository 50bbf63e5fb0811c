/**
 * The plugin as analytics-next drives it: `load(ctx, analytics)`, then the hooks with a Context.
 * Network: a stubbed `fetch` that plays the Infinario API and validates every command it receives
 * with the local API's own `validateCommand` (SPEC §3–§4). Storage: fake-indexeddb.
 *
 *   - consent (SPEC §2): an event goes out only when every listed category is `true`;
 *   - security: requests only to `{apiUrl}/bulk`, no cookies, no eval, nothing of the event on the
 *     console without `debug`;
 *   - hostile input, property-based: random events through the hooks never throw into
 *     analytics-next, never make the plugin send an invalid command, and every event that is not
 *     sent is reported (`analytics.emit('error', { code: 'delivery_failure', … })`);
 *   - timestamps and timers: no hostile timestamp makes an invalid command or an over-long timer;
 *   - storage that fails: events are still delivered.
 */
import 'fake-indexeddb/auto'
import { readFileSync, readdirSync, statSync } from 'node:fs'
import { join } from 'node:path'
import { Context } from '@segment/analytics-next'
import fc from 'fast-check'
import { afterEach, describe, expect, it, vi } from 'vitest'
import { validateCommand } from '../demo/server/api.mjs'
import { LOCK_PREFIX } from '../src/delivery/tabs'
import { infinarioDestination } from '../src/plugin'
import { fakeLocks, type FakeLocks } from './helpers/locks'

// ---------------------------------------------------------------------------------------------
// a browser-like global scope, for the whole file

/** the most a browser's setTimeout accepts; a longer delay runs at once (WebIDL `long`) */
const MAX_TIMER = 2 ** 31 - 1
/** timers armed with a delay over MAX_TIMER: not started here (a browser would run them at once, in a loop) */
const overlong: number[] = []
const realSetTimeout = globalThis.setTimeout
globalThis.setTimeout = ((fn: () => void, ms?: number, ...a: unknown[]) => {
  if ((ms ?? 0) > MAX_TIMER) {
    overlong.push(ms!)
    return realSetTimeout(() => {}, 0)
  }
  return realSetTimeout(fn, ms, ...a)
}) as typeof setTimeout

const win = new EventTarget()
/** every write to document.cookie / cookieStore */
const cookieWrites: unknown[] = []
Object.assign(globalThis, {
  addEventListener: win.addEventListener.bind(win),
  removeEventListener: win.removeEventListener.bind(win),
  dispatchEvent: win.dispatchEvent.bind(win),
  cookieStore: {
    set: (...a: unknown[]) => (cookieWrites.push(a), Promise.resolve()),
    delete: (...a: unknown[]) => (cookieWrites.push(a), Promise.resolve()),
  },
})
const documentStub = { visibilityState: 'visible' as 'visible' | 'hidden' }
Object.defineProperty(documentStub, 'cookie', {
  get: () => '',
  set: (v: unknown) => cookieWrites.push(v),
  enumerable: true,
})
Object.assign(globalThis, { document: documentStub })

// ---------------------------------------------------------------------------------------------
// the API, behind fetch

/** Every property value of `x`, at any depth, as strings (for the console and length checks). */
function strings(x: unknown, out: string[] = [], depth = 0): string[] {
  if (typeof x == 'string') out.push(x)
  else if (x && typeof x == 'object' && depth < 40) for (const v of Object.values(x)) strings(v, out, depth + 1)
  return out
}

/** SPEC §3–§4 for one command: the local API's validation, plus what it leaves to the client. */
function problems(c: any, token: string): string[] {
  const errors = validateCommand(c, token)
  if (c?.name == 'crm/events') {
    const p = c.data?.properties ?? {}
    if (typeof p.message_id != 'string' || !p.message_id) errors.push('crm/events without a properties.message_id')
    if (!Number.isFinite(c.data?.age) || c.data.age < 0) errors.push('crm/events without an age >= 0 computed at send time')
  }
  const long = strings(c?.data?.properties).filter((s) => s.length > 16384)
  if (long.length) errors.push(`string values over 16384 characters: ${long.map((s) => s.length).join(', ')}`)
  return errors
}

interface Request {
  url: string
  init: RequestInit
  commands: any[]
}

class Api {
  requests: Request[] = []
  /** commands answered ok */
  commands: any[] = []
  /** commands that break SPEC §3–§4, with why */
  violations: string[] = []
  /** HTTP status to answer; 0: network failure */
  status = 200
  constructor(readonly token: string) {}

  async handle(url: string, init: RequestInit): Promise<Response> {
    if (typeof init.body != 'string') this.violations.push(`body is not a string but ${typeof init.body}`)
    const commands = JSON.parse(String(init.body)).commands
    this.requests.push({ url, init, commands })
    if (commands.length > 50) this.violations.push(`${commands.length} commands in one request`)
    if (!this.status) throw new TypeError('Failed to fetch')
    if (this.status != 200) return new Response(JSON.stringify({ success: false }), { status: this.status })
    const results = commands.map((c: any) => {
      const errors = problems(c, this.token)
      if (errors.length) {
        this.violations.push(`${c?.name} ${c?.data?.type ?? ''}: ${errors.join('; ')}`)
        return { status: 'error', errors }
      }
      this.commands.push(c)
      return { status: 'ok' }
    })
    return new Response(JSON.stringify({ success: true, results }), { status: 200 })
  }

  events(type?: string) {
    return this.commands.filter((c) => c.name == 'crm/events' && (type === undefined || c.data.type == type)).map((c) => c.data)
  }
  customers() {
    return this.commands.filter((c) => c.name == 'crm/customers').map((c) => c.data)
  }
  /** message_ids of the events that arrived */
  ids() {
    return new Set(this.events().map((e) => e.properties.message_id))
  }
}

const apis = new Map<string, Api>()
/** every fetch the plugin made, whatever the URL */
const fetches: { url: string; init: RequestInit }[] = []
globalThis.fetch = (async (input: RequestInfo | URL, init: RequestInit = {}) => {
  const url = String(input instanceof Request ? input.url : input)
  fetches.push({ url, init })
  const api = apis.get(url)
  if (!api) throw new TypeError(`no such host: ${url}`)
  return api.handle(url, init)
}) as typeof fetch

// ---------------------------------------------------------------------------------------------
// the plugin under test

let plugins = 0
let messages = 0
const mid = () => `mid-${++messages}-${Math.random().toString(36).slice(2, 8)}`

const pageContext = () => ({
  page: {
    path: '/shop',
    referrer: 'https://ref.example/',
    search: '?utm_source=news',
    title: 'Shop',
    url: 'https://shop.example/shop?utm_source=news',
  },
  campaign: { source: 'news' },
  userAgent: 'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36',
  locale: 'en-US',
  library: { name: 'analytics.js', version: 'next-1.84.3' },
})

/** A plain analytics-next event of `type`. */
const event = (type: string, fields: Record<string, unknown> = {}) => ({
  type,
  messageId: mid(),
  anonymousId: 'anon-1',
  timestamp: new Date(),
  context: pageContext(),
  properties: {},
  ...(type == 'track' && { event: 'Clicked' }),
  ...fields,
})

interface Report {
  code: string
  reason: string
  [k: string]: unknown
}

async function open(settings: Record<string, unknown> = {}) {
  const n = ++plugins
  const token = `token-${n}-${Math.random().toString(36).slice(2, 8)}`
  const apiUrl = `https://api-${n}.example/infinario`
  const api = new Api(token)
  apis.set(apiUrl + '/bulk', api)
  const reports: Report[] = []
  const other: unknown[][] = []
  const handlers = new Map<string, ((...a: unknown[]) => void)[]>()
  const analytics = {
    emit(name: string, ...a: unknown[]) {
      if (name == 'error') reports.push(a[0] as Report)
      else other.push([name, ...a])
      return analytics
    },
    on(name: string, fn: (...a: unknown[]) => void) {
      handlers.set(name, [...(handlers.get(name) ?? []), fn])
      return analytics
    },
  }
  const plugin = infinarioDestination({ projectToken: token, apiUrl, flushIntervalMs: 0, ...settings } as never)
  await plugin.load(new Context({ type: 'track', event: 'load' }), analytics as never)
  /** `ev` (any object, hostile ones too) through the hook named `type` (the track hook for a type that is not one) */
  const hook = (ev: unknown, type: unknown) => {
    const name = (['track', 'page', 'screen', 'identify', 'alias', 'group'] as const).find((h) => h == type) ?? 'track'
    const ctx = { event: ev } as unknown as Context
    const out = plugin[name]!(ctx)
    return { ctx, out }
  }
  /** One call through the hook, as analytics-next makes it; returns the event. */
  const call = <E extends Record<string, unknown>>(ev: E): E => {
    const ctx = new Context(ev as never)
    const out = plugin[ev.type as 'track']!(ctx)
    expect(out).toBe(ctx)
    return ev
  }
  /** A track with a fresh message_id through the plugin; resolves when it reached the API. */
  const marker = async (fields: Record<string, unknown> = {}) => {
    const ev = call(event('track', { event: 'marker', ...fields }))
    await until(() => api.ids().has(ev.messageId), `the marker ${ev.messageId} did not arrive`)
    return ev
  }
  return { plugin, token, apiUrl, api, reports, other, hook, call, marker, reset: () => handlers.get('reset')?.forEach((f) => f()) }
}

/** Polls `predicate`, sync or async (by the monotonic clock: some tests fake Date). */
async function until(predicate: () => unknown, message: string, timeoutMs = 5000) {
  const end = performance.now() + timeoutMs
  while (!(await predicate())) {
    if (performance.now() > end) throw new Error(message)
    await new Promise((r) => realSetTimeout(r, 5))
  }
}
const sleep = (ms: number) => new Promise((r) => realSetTimeout(r, ms))

const PROTO_NAMES = Object.getOwnPropertyNames(Object.prototype).sort()
afterEach(() => {
  vi.restoreAllMocks()
  vi.useRealTimers()
  expect(Object.getOwnPropertyNames(Object.prototype).sort()).toEqual(PROTO_NAMES)
  expect(({} as Record<string, unknown>).polluted).toBeUndefined()
})

// ---------------------------------------------------------------------------------------------

describe('analytics-next Context', () => {
  it('the plugin works with real Context objects: load resolves, hooks return the context, events arrive', async () => {
    const h = await open()
    expect(h.plugin.isLoaded()).toBe(true)
    const t = h.call(event('track', { event: 'Order Completed', properties: { total: 5 } }))
    await h.marker()
    expect(h.api.events('Order Completed').map((e) => e.properties.message_id)).toEqual([t.messageId])
    expect(h.api.violations).toEqual([])
  })
})

describe('consent (SPEC §2)', () => {
  const consented = (prefs: unknown) => ({ context: { ...pageContext(), consent: { categoryPreferences: prefs } } })
  const YES = { Analytics: true, Marketing: true }

  it('an event is sent only when every listed category is true; a missing preference is no consent', async () => {
    const h = await open({ consentCategories: ['Analytics', 'Marketing'] })
    const denied: [string, Record<string, unknown>][] = [
      ['one category missing', consented({ Analytics: true })],
      ['one category false', consented({ Analytics: true, Marketing: false })],
      ['"true" as a string', consented({ Analytics: true, Marketing: 'true' })],
      ['1 instead of true', consented({ Analytics: true, Marketing: 1 })],
      ['all false', consented({ Analytics: false, Marketing: false })],
      ['other categories only', consented({ Advertising: true, Functional: true })],
      ['categoryPreferences null', consented(null)],
      ['categoryPreferences an array', consented(['Analytics', 'Marketing'])],
      ['categoryPreferences a string', consented('Analytics,Marketing')],
      ['categoryPreferences missing', { context: { ...pageContext(), consent: {} } }],
      ['consent null', { context: { ...pageContext(), consent: null } }],
      ['no consent at all', { context: pageContext() }],
      ['no context', { context: undefined }],
      ['context a string', { context: 'consent' }],
      ['case differs', consented({ analytics: true, marketing: true })],
    ]
    const sent: string[] = []
    const dropped: string[] = []
    for (const [label, fields] of denied)
      for (const type of ['track', 'page', 'screen']) dropped.push(h.call(event(type, { ...fields, properties: { label } })).messageId)
    for (const type of ['track', 'page', 'screen']) sent.push(h.call(event(type, consented(YES))).messageId)
    sent.push(h.call(event('track', consented({ ...YES, Extra: false }))).messageId)
    // customers commands: identify, group, alias
    for (const [label, fields] of denied) {
      h.call(event('identify', { ...fields, userId: 'u-denied', traits: { label } }))
      h.call(event('group', { ...fields, userId: 'u-denied', groupId: 'g-denied', traits: { label } }))
      h.call(event('alias', { ...fields, userId: 'u-denied', previousId: 'anon-1' }))
    }
    h.call(event('identify', { ...consented(YES), userId: 'u-ok', traits: { plan: 'pro' } }))
    await h.marker(consented(YES))

    const arrived = h.api.ids()
    expect(
      dropped.filter((id) => arrived.has(id)),
      'events sent without consent',
    ).toEqual([])
    expect(
      sent.filter((id) => !arrived.has(id)),
      'consented events not sent',
    ).toEqual([])
    expect(h.api.customers().map((c) => c.ids.registered)).toEqual(['u-ok'])
    // no session was opened by a page without consent; the consented page opened one
    expect(h.api.events('session_start')).toHaveLength(1)
    expect(h.api.violations).toEqual([])
  })

  it('without consentCategories nothing is gated, whatever the preferences say', async () => {
    const h = await open()
    const ids = ['track', 'page', 'identify'].map((t) => h.call(event(t, consented({ Analytics: false, Marketing: false }))).messageId)
    await h.marker()
    const arrived = h.api.ids()
    expect(arrived.has(ids[0]) && arrived.has(ids[1])).toBe(true)
    expect(h.api.customers()).toHaveLength(1)
  })

  it('a polluted Object.prototype does not grant consent (only own preferences count)', async () => {
    const h = await open({ consentCategories: ['Analytics', 'Marketing'] })
    const proto = Object.prototype as Record<string, unknown>
    let ev: { messageId: string }
    try {
      proto.Marketing = true
      ev = h.call(event('track', consented({ Analytics: true })))
    } finally {
      delete proto.Marketing
    }
    await h.marker(consented(YES))
    expect(h.api.ids().has(ev!.messageId), 'sent although Marketing is not among the preferences').toBe(false)
  })

  it('session events follow the consent of the call that caused them', async () => {
    vi.useFakeTimers({ toFake: ['Date'], now: Date.now() })
    const timeout = 20 * 60_000
    const h = await open({ consentCategories: ['Analytics'] })
    const no = () => consented({ Analytics: false })
    const yes = () => consented({ Analytics: true })

    // a page without consent opens no session
    h.call(event('page', no()))
    await h.marker(yes())
    expect(h.api.events('session_start')).toHaveLength(0)
    expect(h.api.events('page_visit')).toHaveLength(0)

    // a consented page opens it: session_start (at the page's timestamp), then page_visit
    const p = h.call(event('page', yes()))
    await h.marker(yes())
    const [start] = h.api.events('session_start')
    expect(start.timestamp).toBe(p.timestamp.getTime() / 1000)
    expect(h.api.events('page_visit')[0].properties.session_id).toBe(start.properties.session_id)

    // the session expires; the first call after it has no consent: it causes nothing
    vi.setSystemTime(Date.now() + timeout + 60_000)
    h.call(event('page', no()))
    h.call(event('track', no()))
    await sleep(100)
    expect(h.api.events('session_end'), 'a call without consent caused a session_end').toHaveLength(0)
    expect(h.api.events('session_start')).toHaveLength(1)

    // the next consented call ends the old session (back-dated) and a consented page opens a new one
    h.call(event('page', yes()))
    await h.marker(yes())
    const [end] = h.api.events('session_end')
    expect(end?.properties.session_id).toBe(start.properties.session_id)
    expect(h.api.events('session_start')).toHaveLength(2)
    expect(h.api.violations).toEqual([])
  })
})

// ---------------------------------------------------------------------------------------------

describe('customer ids and ecommerce through the hooks (SPEC §4.1, §4.2)', () => {
  const MAPPING = { customer_id: 'userId', cookie: 'anonymousId', email_id: 'traits.email' }

  it('the mapped ids and a per-call id reach the commands; the session follows the ids of the call that opened it', async () => {
    const h = await open({ customerIds: MAPPING })
    h.call(event('identify', { userId: 'u-1', traits: { email: 'ada@example.com', plan: 'pro' } }))
    const p = h.call(
      event('page', {
        userId: 'u-1',
        context: { ...pageContext(), traits: { email: 'ada@example.com' } },
        integrations: { Infinario: { customerIds: { cart_id: 'cart-7' } } },
      }),
    )
    const m = await h.marker({ userId: 'u-1' })
    expect(h.api.customers().map((c) => c.ids)).toEqual([{ customer_id: 'u-1', cookie: 'anon-1', email_id: 'ada@example.com' }])
    const opened = { customer_id: 'u-1', cookie: 'anon-1', email_id: 'ada@example.com', cart_id: 'cart-7' }
    const [start] = h.api.events('session_start')
    expect(start.customer_ids).toEqual(opened)
    const [visit] = h.api.events('page_visit')
    expect(visit.customer_ids).toEqual(opened)
    expect(visit.properties.message_id).toBe(p.messageId)
    // a later call without the per-call id or the trait carries only its own ids, in the same session
    const [marker] = h.api.events('marker')
    expect(marker.properties.message_id).toBe(m.messageId)
    expect(marker.customer_ids).toEqual({ customer_id: 'u-1', cookie: 'anon-1' })
    expect(marker.properties.session_id).toBe(start.properties.session_id)
    expect(h.api.violations).toEqual([])
  })

  it('a call with none of the mapped ids is dropped and reported; it opens no session', async () => {
    const h = await open({ customerIds: { email_id: 'traits.email' } })
    h.call(event('page'))
    await h.marker({ context: { ...pageContext(), traits: { email: 'e@x' } } })
    expect(h.api.events('page_visit')).toEqual([])
    expect(h.api.events('session_start')).toEqual([])
    expect(h.reports.map((r) => r.reason)).toEqual(['no_customer_id'])
  })

  it('ecommerce: an order becomes purchase then its purchase_items, in order, once each, in the session, all valid', async () => {
    const h = await open({ ecommerce: true })
    h.call(event('page'))
    const order = h.call(
      event('track', {
        event: 'Order Completed',
        properties: {
          order_id: 'o-1',
          total: 24.99,
          currency: 'EUR',
          products: [
            { product_id: 'mug', name: 'Mug', price: 19.99, quantity: 1 },
            { product_id: 'fern', name: 'Fern', price: 5 },
          ],
        },
      }),
    )
    await h.marker()
    const shop = h.api.commands.filter((c) => /^purchase/.test(c.data.type))
    expect(shop.map((c) => [c.data.type, c.data.properties.message_id])).toEqual([
      ['purchase', order.messageId],
      ['purchase_item', order.messageId + ':item:0'],
      ['purchase_item', order.messageId + ':item:1'],
    ])
    const session = h.api.events('session_start')[0].properties.session_id
    for (const c of shop) expect(c.data.properties.session_id).toBe(session)
    expect(shop[0].data.properties).toMatchObject({
      purchase_id: 'o-1',
      total_price: 24.99,
      total_quantity: 2,
      product_ids: ['mug', 'fern'],
    })
    expect(h.api.events('Order Completed')).toEqual([])
    expect(h.api.violations).toEqual([])
  })
})

// ---------------------------------------------------------------------------------------------

describe('security', () => {
  it('requests go only to {apiUrl}/bulk: POST, credentials omitted, a text body, no custom headers', async () => {
    const before = fetches.length
    const h = await open({ apiUrl: undefined })
    // the default API host is not stubbed: the plugin must not reach anything else meanwhile
    const g = await open()
    for (const t of ['track', 'page', 'screen', 'identify', 'group', 'alias'])
      g.call(event(t, { userId: 'u', groupId: 'g', previousId: 'p' }))
    await g.marker()
    const mine = fetches.slice(before)
    for (const f of mine) {
      expect([g.apiUrl + '/bulk', 'https://api.exponea.com/bulk']).toContain(f.url)
      expect(f.init.method).toBe('POST')
      expect(f.init.credentials).toBe('omit')
      expect(typeof f.init.body).toBe('string')
      expect(f.init.headers ?? {}).toEqual({})
    }
    // the token of each plugin only ever went to its own apiUrl
    for (const f of mine.filter((f) => String(f.init.body).includes(g.token))) expect(f.url).toBe(g.apiUrl + '/bulk')
    expect(h.plugin.isLoaded()).toBe(true)
  })

  it('an apiUrl with a path and a trailing slash: requests go to {path}/bulk, no doubled slash', async () => {
    const token = 'token-path-' + Date.now()
    const api = new Api(token)
    apis.set('https://proxy.example/a/b/bulk', api)
    const plugin = infinarioDestination({ projectToken: token, apiUrl: 'https://proxy.example/a/b/', flushIntervalMs: 0 })
    await plugin.load(new Context({ type: 'track', event: 'x' }), { emit() {}, on() {} } as never)
    plugin.track!(new Context(event('track') as never))
    await until(() => api.commands.length > 0, 'nothing reached https://proxy.example/a/b/bulk')
  })

  it('writes no cookies', async () => {
    cookieWrites.length = 0
    const h = await open({ consentCategories: [] })
    for (const t of ['page', 'track', 'identify', 'group', 'alias', 'screen'])
      h.call(event(t, { userId: 'u-1', groupId: 'g', previousId: 'anon-0' }))
    h.reset()
    await h.marker()
    win.dispatchEvent(new Event('pagehide'))
    await sleep(50)
    expect(cookieWrites).toEqual([])
  })

  it('no eval, no Function constructor, no script injection in the plugin or what it bundles', async () => {
    const files: string[] = []
    const walk = (dir: string) => {
      for (const f of readdirSync(dir)) {
        const p = join(dir, f)
        if (statSync(p).isDirectory()) walk(p)
        else if (/\.(ts|js|mjs)$/.test(f)) files.push(p)
      }
    }
    walk('src')
    files.push(require_resolve('idb-keyval/dist/index.js'))
    const patterns = [
      /\beval\s*\(/,
      /\bnew\s+Function\b/,
      /(?<![\w.])Function\s*\(/,
      /\bset(Timeout|Interval)\s*\(\s*['"`]/,
      /\.innerHTML\b|\.outerHTML\b|insertAdjacentHTML|document\.write/,
      /createElement\s*\(\s*['"`]script/,
      /document\.cookie|cookieStore/,
      /\bimportScripts\b|\bimport\s*\(/,
    ]
    const found = files.flatMap((f) => {
      const text = readFileSync(f, 'utf8').replace(/\/\*[\s\S]*?\*\/|\/\/.*$/gm, '')
      return patterns.filter((p) => p.test(text)).map((p) => `${f}: ${p}`)
    })
    expect(found).toEqual([])

    // and at run time
    const evals = vi.fn()
    const realEval = globalThis.eval
    const RealFunction = globalThis.Function
    globalThis.eval = ((...a: unknown[]) => (evals('eval', ...a), realEval(a[0] as string))) as typeof eval
    globalThis.Function = new Proxy(RealFunction, {
      construct: (t, a) => (evals('Function', ...a), Reflect.construct(t, a)),
      apply: (t, self, a) => (evals('Function', ...a), Reflect.apply(t, self, a)),
    })
    try {
      const h = await open()
      for (const t of ['page', 'track', 'identify', 'group', 'alias', 'screen'])
        h.call(event(t, { userId: 'u', groupId: 'g', previousId: 'x' }))
      await h.marker()
    } finally {
      globalThis.eval = realEval
      globalThis.Function = RealFunction
    }
    expect(evals).not.toHaveBeenCalled()
  })

  it('without debug, nothing of an event reaches the console, whatever happens to it', async () => {
    const spies = (['log', 'info', 'warn', 'error', 'debug', 'trace', 'dir', 'table'] as const).map((m) =>
      vi.spyOn(console, m).mockImplementation(() => {}),
    )
    const S = 'SeCrEt'
    const h = await open()
    const secret = (what: string) => `${S}-${what}`
    const base = (t: string, f: Record<string, unknown> = {}) =>
      event(t, {
        userId: secret('user'),
        anonymousId: secret('anon'),
        context: { ...pageContext(), page: { url: `https://shop.example/${secret('url')}`, title: secret('title') } },
        ...f,
      })
    h.call(base('track', { event: 'campaign', properties: { email: secret('email') } })) // always warned about, without the data
    h.call(base('track', { properties: { 'a.b': secret('dot'), a_b: secret('dup'), [`${S}.key`]: 1 } }))
    h.call(base('track', { properties: Object.fromEntries(Array.from({ length: 400 }, (_, i) => ['k' + i, secret('k' + i)])) }))
    h.call(base('track', { properties: { big: Array.from({ length: 200 }, () => secret('x').repeat(1000)) } })) // too large
    h.call(base('track', { event: '', properties: { p: secret('noname') } }))
    h.call(base('track', { userId: undefined, anonymousId: undefined, properties: { p: secret('noid') } }))
    h.call(base('alias', { previousId: secret('previous') })) // not a known anonymousId
    h.call(base('group', { groupId: secret('group'), traits: { name: secret('gname') } }))
    h.call(base('identify', { traits: { email: secret('trait') } }))
    h.call(base('page', { name: secret('pagename'), properties: { p: secret('page') } }))
    h.hook({ type: 'bogus', properties: { p: secret('bogus') } }, 'track') // a type analytics-next does not have
    await h.marker()
    // failing deliveries: rejected, 400, 401
    h.api.status = 400
    h.call(base('track', { properties: { p: secret('400') } }))
    await until(() => h.reports.some((r) => r.reason == 'http_400'), 'no http_400 report')
    h.api.status = 401
    h.call(base('track', { properties: { p: secret('401') } }))
    await until(() => h.reports.some((r) => r.reason == 'unauthorized'), 'no unauthorized report')
    const printed = spies.flatMap((s) => s.mock.calls.map((args) => args.map((a) => (typeof a == 'string' ? a : safeJson(a))).join(' ')))
    expect(
      printed.filter((m) => m.includes(S)),
      'console output with event data',
    ).toEqual([])
    // the campaign warning is printed, without debug too (SPEC §4)
    expect(printed.some((m) => m.includes('campaign'))).toBe(true)
  })
})

function require_resolve(spec: string) {
  return join('node_modules', spec)
}

function safeJson(v: unknown) {
  try {
    return JSON.stringify(v, (_, x) => (typeof x == 'bigint' ? String(x) : x)) ?? String(v)
  } catch {
    return String(v)
  }
}

// ---------------------------------------------------------------------------------------------
// hostile input

const boom = () => {
  throw new Error('hostile')
}

/**
 * A description of a hostile value: generated by fast-check (which must not print a Proxy: that
 * would run its traps), built by `build` inside the property.
 */
type Recipe = { kind: string; n?: number; s?: string; inner?: unknown }

const KINDS = [
  'undefined',
  'null',
  'empty',
  'space',
  'string',
  'number',
  'nan',
  'infinity',
  'negative',
  'bigint',
  'symbol',
  'function',
  'object',
  'array',
  'date',
  'invalidDate',
  'huge',
  'proto',
  'constructor',
  'cycle',
  'getter',
  'proxy',
  'revoked',
  'wide',
  'deep',
  'dots',
  'toJSON',
  'badToJSON',
  'map',
  'typed',
  'tooLarge',
  'nullProto',
  'frozen',
] as const

const recipe: fc.Arbitrary<Recipe> = fc.record(
  { kind: fc.constantFrom(...KINDS), n: fc.nat(1000), s: fc.string({ maxLength: 12 }), inner: fc.jsonValue({ maxDepth: 3 }) },
  { requiredKeys: ['kind'] },
)

const define = (o: object, k: string, v: unknown) =>
  Object.defineProperty(o, k, { value: v, enumerable: true, writable: true, configurable: true })

function build(r: Recipe): unknown {
  const s = r.s ?? 'x'
  switch (r.kind) {
    case 'undefined':
      return undefined
    case 'null':
      return null
    case 'empty':
      return ''
    case 'space':
      return ' \t\n'
    case 'string':
      return s
    case 'number':
      return r.n ?? 0
    case 'nan':
      return NaN
    case 'infinity':
      return -Infinity
    case 'negative':
      return -(r.n ?? 1)
    case 'bigint':
      return BigInt(r.n ?? 0) * 10n ** 30n
    case 'symbol':
      return Symbol(s)
    case 'function':
      return () => s
    case 'object':
      return { [s]: r.inner, nested: { a: r.inner, 'b.c': s }, list: [r.inner, s] }
    case 'array':
      return [r.inner, s, { [s]: r.inner }]
    case 'date':
      return new Date(1714557600000 + (r.n ?? 0))
    case 'invalidDate':
      return new Date(NaN)
    case 'huge':
      return s + 'h'.repeat(1_000_000)
    case 'proto':
      return JSON.parse(`{"__proto__":{"polluted":"yes"},"a":${JSON.stringify(r.inner ?? null)}}`)
    case 'constructor':
      return define(define({}, 'constructor', { prototype: { polluted: 'yes' } }), 'prototype', { polluted: 'yes' })
    case 'cycle': {
      const o: Record<string, unknown> = { a: r.inner }
      o.self = o
      o.list = [o, { up: o }]
      return o
    }
    case 'getter':
      return Object.defineProperty({ ok: s }, 'boom', { get: boom, enumerable: true })
    case 'proxy':
      return new Proxy({ a: 1 }, { get: boom, ownKeys: boom, getOwnPropertyDescriptor: boom, has: boom, getPrototypeOf: boom })
    case 'revoked': {
      const p = Proxy.revocable({}, {})
      p.revoke()
      return p.proxy
    }
    case 'wide':
      return Object.fromEntries(Array.from({ length: 300 + (r.n ?? 0) }, (_, i) => [`w.${i}$`, i]))
    case 'deep': {
      let v: unknown = s
      for (let i = 0; i < 200; i++) v = { [`d${i}`]: v }
      return v
    }
    case 'dots':
      return { '.': 1, $: 2, 'a.b': { c$d: { 'e.f': s } }, $set: { x: 1 }, a_b: 'collides' }
    case 'toJSON':
      return { toJSON: () => ({ 'x.y': 1n, s }) }
    case 'badToJSON':
      return { toJSON: boom }
    case 'map':
      return new Map([[s, r.inner]])
    case 'typed':
      return new Uint8Array(r.n ?? 3)
    case 'tooLarge':
      return Object.fromEntries(Array.from({ length: 100 }, (_, i) => ['t' + i, 'x'.repeat(16_000)]))
    case 'nullProto':
      return Object.assign(Object.create(null), { a: s, b: r.inner })
    case 'frozen':
      return Object.freeze({ a: s, b: Object.freeze([r.inner]) })
  }
}

const TYPES = ['track', 'page', 'screen', 'identify', 'group', 'alias'] as const

const eventRecipe = fc.record({
  type: fc.oneof(
    { weight: 6, arbitrary: fc.constantFrom(...TYPES) },
    { weight: 1, arbitrary: fc.constantFrom<unknown>('bogus', '', undefined, 42, 'Track', null) },
  ),
  event: fc.oneof(
    fc.constantFrom<Recipe>(
      { kind: 'string', s: 'Order Completed' },
      { kind: 'string', s: 'campaign' },
      { kind: 'string', s: '__proto__' },
      { kind: 'string', s: 'constructor' },
      { kind: 'string', s: 'toString' },
    ),
    recipe,
  ),
  userId: fc.oneof(fc.constant<Recipe>({ kind: 'string', s: 'user-1' }), recipe),
  anonymousId: fc.oneof(fc.constant<Recipe>({ kind: 'string', s: 'anon-1' }), recipe),
  previousId: fc.oneof(fc.constant<Recipe>({ kind: 'string', s: 'anon-1' }), recipe),
  groupId: recipe,
  messageId: fc.oneof(fc.constant<Recipe>({ kind: 'uuid' }), recipe),
  name: recipe,
  category: recipe,
  properties: recipe,
  traits: recipe,
  context: fc.oneof(
    fc.constant<Recipe>({ kind: 'pageContext' }),
    recipe,
    fc.constantFrom<Recipe>({ kind: 'hostileContext' }, { kind: 'hugeUserAgent' }),
  ),
  /** the shape of the event object itself */
  shape: fc.constantFrom('plain', 'plain', 'plain', 'frozen', 'nullProto', 'getters', 'proxy'),
})
type EventRecipe = typeof eventRecipe extends fc.Arbitrary<infer T> ? T : never

function buildField(r: Recipe) {
  if (r.kind == 'uuid') return mid()
  if (r.kind == 'pageContext') return pageContext()
  if (r.kind == 'hostileContext')
    return Object.defineProperties(
      { ...pageContext() },
      { page: { get: boom, enumerable: true }, userAgentData: { value: new Proxy({}, { get: boom }), enumerable: true } },
    )
  if (r.kind == 'hugeUserAgent')
    return {
      ...pageContext(),
      userAgent: 'Mozilla/5.0 (iPad; Android Mobi) '.repeat(40_000),
      userAgentData: { brands: 'x', mobile: 'yes', platform: {} },
    }
  return build(r)
}

/** The event of a recipe; `timestamp`: the event's timestamp (default: now). */
function buildEvent(r: EventRecipe, timestamp: unknown = new Date()): Record<string, unknown> {
  const fields: Record<string, unknown> = { type: r.type, timestamp }
  for (const k of [
    'event',
    'userId',
    'anonymousId',
    'previousId',
    'groupId',
    'messageId',
    'name',
    'category',
    'properties',
    'traits',
    'context',
  ] as const)
    fields[k] = buildField(r[k])
  switch (r.shape) {
    case 'frozen':
      return Object.freeze(fields)
    case 'nullProto':
      return Object.assign(Object.create(null), fields)
    case 'getters': {
      // the fields are getters; `properties` throws
      const o = {}
      for (const [k, v] of Object.entries(fields))
        Object.defineProperty(o, k, { get: k == 'properties' ? boom : () => v, enumerable: true })
      return o
    }
    case 'proxy':
      return new Proxy(fields, { get: boom, has: boom, ownKeys: boom, getOwnPropertyDescriptor: boom })
    default:
      return fields
  }
}

const RUNS = Number(process.env.FUZZ_RUNS) || 60

/** Session events are the plugin's own; every other command comes from one call. */
const fromCalls = (api: Api, after: number) =>
  api.commands.slice(after).filter((c) => !(c.name == 'crm/events' && ['session_start', 'session_end', 'marker'].includes(c.data.type)))

describe('hostile input through the hooks (property-based)', () => {
  it('random events: the hook never throws and returns the context; every command sent is valid; every event not sent is reported', async () => {
    vi.spyOn(console, 'warn').mockImplementation(() => {})
    const h = await open({ eventNames: { 'Order Completed': 'purchase', Clicked: 'campaign' } })
    await fc.assert(
      fc.asyncProperty(fc.array(eventRecipe, { minLength: 1, maxLength: 6 }), async (recipes) => {
        const seen = h.api.commands.length
        const reported = h.reports.length
        for (const r of recipes) {
          const ev = buildEvent(r)
          let result: { ctx: Context; out: unknown } | undefined
          expect(() => (result = h.hook(ev, r.type))).not.toThrow()
          expect(result!.out, 'the hook returns the context it was given').toBe(result!.ctx)
        }
        await h.marker()
        const sent = fromCalls(h.api, seen).length
        const drops = h.reports.slice(reported)
        for (const d of drops) {
          expect(d.code).toBe('delivery_failure')
          expect(typeof d.reason).toBe('string')
        }
        expect(h.api.violations, 'commands that break SPEC §3–§4: ' + JSON.stringify(h.api.violations).slice(0, 500)).toEqual([])
        expect(
          sent + drops.length,
          `${recipes.length} events: ${sent} reached the API, ${drops.length} were reported (${drops.map((d) => d.reason).join(', ')}); every event is one or the other`,
        ).toBe(recipes.length)
      }),
      { numRuns: RUNS },
    )
  }, 120_000)

  it('random settings-free plugins, one per run: a fresh plugin takes hostile events before and after load()', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(eventRecipe, { minLength: 1, maxLength: 4 }), async (recipes) => {
        const token = `early-${++plugins}`
        const api = new Api(token)
        const apiUrl = `https://early-${plugins}.example`
        apis.set(apiUrl + '/bulk', api)
        const plugin = infinarioDestination({ projectToken: token, apiUrl, flushIntervalMs: 0 })
        // analytics-next does not wait for load() before calling hooks
        for (const r of recipes) {
          const ctx = { event: buildEvent(r) } as unknown as Context
          expect(() => plugin.track!(ctx)).not.toThrow()
        }
        await plugin.load(new Context({ type: 'track', event: 'x' }), { emit() {}, on() {} } as never)
        plugin.track!(new Context(event('track', { event: 'marker' }) as never))
        await until(() => api.events('marker').length == 1, 'marker missing')
        expect(api.violations, JSON.stringify(api.violations)).toEqual([])
      }),
      { numRuns: 15 },
    )
  }, 120_000)

  it('huge payloads: a 1 MB string, 10 000 keys, a 5 MB event, 400 000-element arrays', async () => {
    const h = await open()
    const seen = h.api.commands.length
    const reported = h.reports.length
    const evs = [
      event('track', { properties: { s: 'x'.repeat(1_000_000) } }),
      event('track', { properties: Object.fromEntries(Array.from({ length: 10_000 }, (_, i) => ['k' + i, i])) }),
      event('track', { properties: { a: Array.from({ length: 400 }, () => 'y'.repeat(13_000)) } }),
      event('track', { properties: { sparse: new Array(4e5) } }),
      event('identify', { traits: Object.fromEntries(Array.from({ length: 300 }, (_, i) => ['t' + i, 'z'.repeat(16_384)])) }),
      event('page', { name: 'n'.repeat(100_000), properties: { title: 'ü'.repeat(300_000) } }),
    ]
    for (const e of evs) h.call(e)
    await h.marker()
    expect(h.api.violations).toEqual([])
    const drops = h.reports.slice(reported)
    expect(fromCalls(h.api, seen).length + drops.length).toBe(evs.length)
    expect(drops.every((d) => d.reason == 'too_large')).toBe(true)
  })
})

// ---------------------------------------------------------------------------------------------
// timestamps and timers

describe('event timestamps', () => {
  const HOUR = 3600_000
  const cases: [string, unknown][] = [
    ['a Date', new Date(Date.now() - HOUR)],
    ['an ISO string', new Date(Date.now() - HOUR).toISOString()],
    ['ms since the epoch', Date.now() - HOUR],
    ['missing', undefined],
    ['null', null],
    ['an invalid Date', new Date(NaN)],
    ['a garbage string', 'yesterday-ish'],
    ['an empty string', ''],
    ['NaN', NaN],
    ['Infinity', Infinity],
    ['an object', { seconds: 1 }],
    ['a BigInt', 10n],
    ['the epoch (Date 0)', new Date(0)],
    ['0', 0],
    ['before 1970', '1960-01-01T00:00:00Z'],
    ['a negative number', -1],
    ['the last representable Date', new Date(8.64e15)],
    ['year 275760 as a string', '+275760-09-13T00:00:00.000Z'],
    ['seconds instead of ms', Math.floor(Date.now() / 1000)],
  ]
  it.each(cases)('%s: a valid command (timestamp in seconds, > 0, < 1e11) or a reported drop', async (_, timestamp) => {
    const h = await open()
    const seen = h.api.commands.length
    const reported = h.reports.length
    for (const type of ['track', 'page', 'screen']) h.call(event(type, { timestamp }))
    await h.marker()
    expect(h.api.violations).toEqual([])
    expect(fromCalls(h.api, seen).length + h.reports.length - reported).toBe(3)
  })

  it('a far-future timestamp arms no timer longer than a browser allows (it would fire at once, in a loop)', async () => {
    overlong.length = 0
    const h = await open()
    h.call(event('page', { timestamp: new Date('2100-01-01T00:00:00Z') }))
    h.call(event('track', { timestamp: new Date(8.64e15) }))
    await h.marker()
    await sleep(50)
    expect(overlong, 'setTimeout delays over 2^31 - 1 ms').toEqual([])
  })

  it('a far-future timestamp does not keep the shared session open forever', async () => {
    vi.useFakeTimers({ toFake: ['Date'], now: Date.now() })
    const h = await open()
    h.call(event('page', { timestamp: new Date('2100-01-01T00:00:00Z') }))
    await h.marker()
    // no real activity for longer than the session timeout
    vi.setSystemTime(Date.now() + 21 * 60_000)
    h.call(event('page'))
    await h.marker()
    expect(h.api.events('session_start'), 'a page 21 minutes after the last real activity opens a new session').toHaveLength(2)
  })
})

// ---------------------------------------------------------------------------------------------
// storage failures (the browser cases are in e2e/hardening.spec.ts)

describe('storage failures', () => {
  const quota = () => new DOMException('The quota has been exceeded.', 'QuotaExceededError')

  it('IndexedDB missing: events are delivered from memory, with a debug warning', async () => {
    const warn = vi.spyOn(console, 'warn').mockImplementation(() => {})
    vi.spyOn(console, 'log').mockImplementation(() => {})
    const idb = globalThis.indexedDB
    // @ts-expect-error removed, as in some private modes
    delete globalThis.indexedDB
    try {
      const h = await open({ debug: true })
      const p = h.call(event('page'))
      await h.marker()
      expect(h.api.ids().has(p.messageId)).toBe(true)
      expect(h.api.events('session_start')).toHaveLength(1)
      expect(warn.mock.calls.flat().join(' ')).toMatch(/IndexedDB/)
    } finally {
      globalThis.indexedDB = idb
    }
  })

  it('open() fails or never answers: events are delivered', async () => {
    const open_ = IDBFactory.prototype.open
    for (const mode of ['error', 'hang', 'throw'] as const) {
      IDBFactory.prototype.open = function () {
        if (mode == 'throw') throw new DOMException('blocked', 'SecurityError')
        const req = {} as IDBOpenDBRequest & { onerror?: () => void }
        if (mode == 'error')
          realSetTimeout(() => {
            Object.defineProperty(req, 'error', { value: new DOMException('open failed', 'UnknownError') })
            req.onerror?.()
          })
        return req
      }
      try {
        const h = await open()
        const p = h.call(event('page'))
        const t = h.call(event('track'))
        await until(() => h.api.ids().has(t.messageId), `${mode}: not delivered`, 6000)
        expect(h.api.ids().has(p.messageId)).toBe(true)
      } finally {
        IDBFactory.prototype.open = open_
      }
    }
  }, 20_000)

  it('quota exceeded on write: events are delivered', async () => {
    const put = IDBObjectStore.prototype.put
    IDBObjectStore.prototype.put = function () {
      throw quota()
    }
    try {
      const h = await open()
      const p = h.call(event('page'))
      const t = h.call(event('track'))
      await until(() => h.api.ids().has(t.messageId) && h.api.ids().has(p.messageId), 'not delivered')
      expect(h.api.violations).toEqual([])
    } finally {
      IDBObjectStore.prototype.put = put
    }
  })
})

describe('leaving the page (SPEC §6)', () => {
  it('beforeunload beacons what is pending, without a leave prompt; pagehide and visibilitychange after it send it no second time', async () => {
    const beacons: { url: string; messageIds: string[] }[] = []
    const sendBeacon = (url: string, body: string) => {
      const commands: { data: { properties?: { message_id?: string } } }[] = JSON.parse(body).commands
      beacons.push({ url, messageIds: commands.map((command) => command.data.properties?.message_id ?? '') })
      return true
    }
    vi.stubGlobal('navigator', { onLine: true, sendBeacon })
    try {
      // a long flush interval: the track is still pending when the page goes away
      const h = await open({ flushIntervalMs: 60_000 })
      const leaving = h.call(event('track', { event: 'Leaving' }))
      const timesBeaconed = () =>
        beacons
          .filter((beacon) => beacon.url == h.apiUrl + '/bulk')
          .flatMap((beacon) => beacon.messageIds)
          .filter((id) => id == leaving.messageId).length

      const beforeUnload = new Event('beforeunload', { cancelable: true })
      win.dispatchEvent(beforeUnload)
      expect(beforeUnload.defaultPrevented).toBe(false)
      expect(timesBeaconed()).toBe(1)

      win.dispatchEvent(new Event('pagehide'))
      documentStub.visibilityState = 'hidden'
      win.dispatchEvent(new Event('visibilitychange'))
      // the listeners run synchronously: every beacon of this unload has been handed over by now
      expect(timesBeaconed()).toBe(1)
    } finally {
      documentStub.visibilityState = 'visible'
      vi.unstubAllGlobals()
    }
  })
})

describe("the tab's Web Lock (SPEC §6)", () => {
  /** The names of the tab locks held now. */
  async function tabLocksHeld(locks: FakeLocks): Promise<string[]> {
    const snapshot = await locks.query()
    return (snapshot.held ?? []).map((lock) => lock.name!).filter((name) => name.startsWith(LOCK_PREFIX))
  }

  it('held while an event waits to be sent, let go once it was delivered (an idle page can go into the back/forward cache)', async () => {
    const locks = fakeLocks()
    vi.stubGlobal('navigator', { onLine: true, locks })
    try {
      const h = await open()
      const api = h.api
      api.status = 0
      const waiting = h.call(event('track', { event: 'Waiting' }))
      await until(() => api.requests.length > 0, 'the track was not tried')
      expect(await tabLocksHeld(locks)).toHaveLength(1)
      api.status = 200
      await until(() => api.ids().has(waiting.messageId), 'the track did not arrive after the outage', 10_000)
      await until(async () => (await tabLocksHeld(locks)).length == 0, 'the lock is still held after delivery')
    } finally {
      vi.unstubAllGlobals()
    }
  })

  it('taken away while the page was in the back/forward cache (WebKit): asked for again when the page is shown', async () => {
    const locks = fakeLocks()
    vi.stubGlobal('navigator', { onLine: true, locks })
    try {
      const h = await open()
      // 401: the page sends nothing more, so only the page being shown can ask for the lock again
      h.api.status = 401
      h.call(event('track', { event: 'Waiting' }))
      await until(() => h.reports.some((report) => report.reason == 'unauthorized'), 'the 401 was not reported')
      const [lock] = await tabLocksHeld(locks)
      expect(lock).toMatch(new RegExp('^' + LOCK_PREFIX))
      locks.takeAway(lock)
      expect(await tabLocksHeld(locks)).toEqual([])
      const shown = new Event('pageshow') as Event & { persisted: boolean }
      shown.persisted = true
      win.dispatchEvent(shown)
      await until(() => locks.isHeld(lock), 'the lock was not asked for again')
    } finally {
      vi.unstubAllGlobals()
    }
  })
})
