/**
 * End-to-end: each Segment call, made in every engine (Chromium, Firefox, WebKit: e2e/engine.ts)
 * through the standard snippet and analytics-next, reaches the local Infinario API as the commands
 * of SPEC §3–§4.
 */
import { call, expect, settle, SETTLE, test, TOKEN, type ApiHandle, type Called, type Engine } from './engine'

/** What the plugin's device detection names each engine's browser (the user agent's own words). */
const BROWSER: Record<Engine, RegExp> = { chromium: /chrom/i, firefox: /^Firefox$/, webkit: /^Safari$/ }

/** Context extras (SPEC §4) that may be added to every event's properties. */
const EXTRAS = [
  'location',
  'path',
  'referrer',
  'title',
  'utm_source',
  'utm_medium',
  'utm_campaign',
  'utm_term',
  'utm_content',
  'user_agent',
  'browser',
  'os',
  'device',
  'locale',
  'timezone',
  'library_name',
  'library_version',
]

/** The commands that reached the API, without the settle markers. */
const reached = (api: ApiHandle) => api.commands.filter((c) => !(c.name === 'crm/events' && c.data.type === SETTLE))

/** Every request was a 200 whose commands were all accepted, sent as text/plain, without a CORS preflight. */
function expectCleanDelivery(api: ApiHandle) {
  const bad = api.requests.filter((r) => r.status !== 200 || r.results.some((x) => x.status !== 'ok'))
  expect(bad.length, api.summary('requests with a status other than 200 or a result other than ok')).toBe(0)
  for (const r of api.requests) expect(r.headers['content-type']).toMatch(/^text\/plain;\s*charset=utf-8$/i)
  expect(api.preflights, 'CORS preflights').toBe(0)
}

/** The timestamp (seconds) lies within the call. */
function expectTimestamp(timestamp: number, c: Called) {
  expect(typeof timestamp).toBe('number')
  expect(timestamp * 1000).toBeGreaterThanOrEqual(c.before - 1)
  expect(timestamp * 1000).toBeLessThanOrEqual(c.after + 1)
}

/** The context extras every event carries (SPEC §4), except those named in `except` (own properties win). */
function expectExtras(engine: Engine, props: Record<string, any>, c: Called, except: string[] = []) {
  const expected: Record<string, unknown> = {
    location: c.page.href,
    path: c.page.pathname,
    title: c.page.title,
    referrer: c.page.referrer,
    user_agent: c.userAgent,
    device: 'desktop',
    locale: c.language,
    timezone: c.timezone,
    library_name: c.library.name,
    library_version: c.library.version,
  }
  for (const [k, v] of Object.entries(expected)) if (!except.includes(k)) expect(props[k], `context extra ${k}`).toEqual(v)
  expect(props.browser, 'context extra browser').toMatch(BROWSER[engine])
  expect(props.os, 'context extra os').toMatch(/linux/i)
}

/**
 * The event's own properties (everything that is not a context extra or session_id) are exactly
 * `own` plus message_id; keys that are both (path, title, …) must be in `own` to be checked.
 */
function expectOwn(props: Record<string, any>, own: Record<string, unknown>, c: Called, optional: Record<string, unknown> = {}) {
  const rest = Object.fromEntries(
    Object.entries(props).filter(([k]) => (!EXTRAS.includes(k) || k in own) && k !== 'session_id' && !(k in optional)),
  )
  expect(rest).toEqual({ ...own, message_id: c.messageId })
  for (const [k, v] of Object.entries(optional)) if (k in props) expect(props[k], `property ${k}`).toEqual(v)
}

test.describe('calls (SPEC §4)', () => {
  test('identify: crm/customers with the traits, flattened, "." and "$" replaced', async ({ tab, api, open }) => {
    await open(tab)
    const c = await call(tab, 'identify', 'user-42', {
      name: 'Ada Lovelace',
      email: 'ada@example.com',
      'first.name': 'Ada',
      price$: 5,
      address: { country: 'UK', city: 'London', 'post.code': 'N1' },
      prefs: { colors: { 'dark.mode': true, $theme: 'x' } },
      tags: ['a', 'b'],
    })
    await settle(tab, api)
    expectCleanDelivery(api)
    expect(reached(api)).toEqual([
      {
        name: 'crm/customers',
        data: {
          ids: { registered: 'user-42', cookie: c.anonymousId },
          company_id: TOKEN,
          project_id: TOKEN,
          properties: {
            name: 'Ada Lovelace',
            email: 'ada@example.com',
            first_name: 'Ada',
            price_: 5,
            address_country: 'UK',
            address_city: 'London',
            address_post_code: 'N1',
            prefs_colors: { dark_mode: true, _theme: 'x' },
            tags: ['a', 'b'],
          },
        },
      },
    ])
  })

  test('track: crm/events with the properties, message_id and context extras', async ({ tab, api, open, engine }) => {
    await open(tab, {
      query: { utm_source: 'newsletter', utm_medium: 'email', utm_campaign: 'spring', utm_term: 'shoes', utm_content: 'top' },
    })
    const c = await call(tab, 'track', 'Button Clicked', {
      plan: 'pro',
      price: 9.99,
      currency: '$',
      tags: ['x', 'y'],
      'cart.id': 'c-1',
      item: { sku: 'A-1', 'dims.w': 2, meta: { a$b: 1 } },
      title: 'Own title',
    })
    await settle(tab, api)
    expectCleanDelivery(api)
    const cmds = reached(api)
    expect(cmds.map((x) => x.name)).toEqual(['crm/events'])
    const e = api.events('Button Clicked')
    expect(e).toHaveLength(1)
    const d = e[0]
    expect(Object.keys(d).sort()).toEqual(['age', 'company_id', 'customer_ids', 'project_id', 'properties', 'timestamp', 'type'])
    expect(d.customer_ids).toEqual({ cookie: c.anonymousId })
    expect(d.project_id).toBe(TOKEN)
    expect(d.type).toBe('Button Clicked')
    expectTimestamp(d.timestamp, c)
    expect(d.age).toBeGreaterThanOrEqual(0)
    expect(d.age).toBeLessThan(30)
    expectOwn(
      d.properties,
      {
        plan: 'pro',
        price: 9.99,
        currency: '$',
        tags: ['x', 'y'],
        cart_id: 'c-1',
        item_sku: 'A-1',
        item_dims_w: 2,
        item_meta: { a_b: 1 },
        title: 'Own title',
      },
      c,
    )
    expectExtras(engine, d.properties, c, ['title'])
    expect(d.properties).toMatchObject({
      utm_source: 'newsletter',
      utm_medium: 'email',
      utm_campaign: 'spring',
      utm_term: 'shoes',
      utm_content: 'top',
    })
  })

  test('track: eventNames maps the Segment event name to the Infinario type', async ({ tab, api, open }) => {
    await open(tab, { settings: { eventNames: { 'Order Completed': 'purchase' } } })
    const c = await call(tab, 'track', 'Order Completed', { total: 30 })
    await api.waitFor((a) => a.events('purchase').length === 1)
    expect(api.events('Order Completed')).toEqual([])
    expect(api.events('purchase')[0].properties).toMatchObject({ total: 30, message_id: c.messageId })
  })

  test('track after identify carries both ids', async ({ tab, api, open }) => {
    await open(tab)
    await call(tab, 'identify', 'user-9')
    const c = await call(tab, 'track', 'Signed In')
    await api.waitFor((a) => a.events('Signed In').length === 1)
    expect(api.events('Signed In')[0].customer_ids).toEqual({ registered: 'user-9', cookie: c.anonymousId })
  })

  test('page: crm/events page_visit with the page properties and context extras', async ({ tab, api, open, engine }) => {
    await open(tab)
    const c = await call(tab, 'page', 'Docs', 'Getting Started', { section: 'intro', 'a.b': 1 })
    await api.waitFor((a) => a.events('page_visit').length >= 1, 10_000)
    await settle(tab, api)
    expectCleanDelivery(api)
    const visits = api.events('page_visit')
    expect(visits).toHaveLength(1)
    const d = visits[0]
    expect(d.customer_ids).toEqual({ cookie: c.anonymousId })
    expect(d.project_id).toBe(TOKEN)
    expectTimestamp(d.timestamp, c)
    expect(d.age).toBeGreaterThanOrEqual(0)
    expectOwn(
      d.properties,
      {
        url: c.page.href,
        path: c.page.pathname,
        search: c.page.search,
        title: c.page.title,
        referrer: c.page.referrer,
        name: 'Getting Started',
        category: 'Docs',
        section: 'intro',
        a_b: 1,
      },
      c,
    )
    expectExtras(engine, d.properties, c)
    // session handling may add session_start / session_end, nothing else
    const others = reached(api).filter((x) => !(x.name === 'crm/events' && /^(page_visit|session_start|session_end)$/.test(x.data.type)))
    expect(others).toEqual([])
  })

  test('screen: crm/events screen_visit with screen_name', async ({ tab, api, open, engine }) => {
    await open(tab)
    const c = await call(tab, 'screen', 'Onboarding', 'Welcome', { step: 2 })
    await api.waitFor((a) => a.events('screen_visit').length >= 1, 10_000)
    await settle(tab, api)
    expectCleanDelivery(api)
    const visits = api.events('screen_visit')
    expect(visits).toHaveLength(1)
    const d = visits[0]
    expect(d.customer_ids).toEqual({ cookie: c.anonymousId })
    expect(d.project_id).toBe(TOKEN)
    expectTimestamp(d.timestamp, c)
    // "as page": the screen's name and category may also be there as name / category
    expectOwn(d.properties, { screen_name: 'Welcome', step: 2 }, c, { name: 'Welcome', category: 'Onboarding' })
    expectExtras(engine, d.properties, c)
    const others = reached(api).filter((x) => !(x.name === 'crm/events' && /^(screen_visit|session_start|session_end)$/.test(x.data.type)))
    expect(others).toEqual([])
  })

  test('alias: crm/customers merging previousId (cookie) into userId (registered), no properties', async ({ tab, api, open }) => {
    await open(tab)
    const anonymousId = await tab.evaluate(() => (window as any).analytics.user().anonymousId())
    await call(tab, 'alias', 'user-7', anonymousId)
    await settle(tab, api)
    expectCleanDelivery(api)
    const cmds = reached(api)
    expect(cmds).toHaveLength(1)
    expect(cmds[0].name).toBe('crm/customers')
    const { properties, ...data } = cmds[0].data as Record<string, any>
    expect(data).toEqual({ ids: { registered: 'user-7', cookie: anonymousId }, company_id: TOKEN, project_id: TOKEN })
    expect(properties ?? {}).toEqual({})
  })

  test('alias without previousId merges the current anonymousId, as Segment does', async ({ tab, api, open }) => {
    await open(tab)
    const c = await call(tab, 'alias', 'user-8')
    await api.waitFor((a) => a.customers().length === 1)
    expect(api.customers()[0].ids).toEqual({ registered: 'user-8', cookie: c.anonymousId })
  })

  test('alias with a previousId that was never an anonymousId is still sent', async ({ tab, api, open }) => {
    await open(tab)
    await call(tab, 'alias', 'user-8', 'legacy-id-123')
    await api.waitFor((a) => a.customers().length === 1)
    expect(api.customers()[0].ids).toEqual({ registered: 'user-8', cookie: 'legacy-id-123' })
  })

  test('group: crm/customers with group_id and group_<trait>', async ({ tab, api, open }) => {
    await open(tab)
    const c = await call(tab, 'group', 'org-1', { name: 'Acme', plan: 'enterprise', address: { city: 'Brno' }, 'a.b': 1 })
    await settle(tab, api)
    expectCleanDelivery(api)
    expect(reached(api)).toEqual([
      {
        name: 'crm/customers',
        data: {
          ids: { cookie: c.anonymousId },
          company_id: TOKEN,
          project_id: TOKEN,
          properties: { group_id: 'org-1', group_name: 'Acme', group_plan: 'enterprise', group_address_city: 'Brno', group_a_b: 1 },
        },
      },
    ])
  })
})

test.describe('installation (SPEC §2)', () => {
  test('script tag with data-project-token and data-api-url registers itself', async ({ tab, api, open }) => {
    await open(tab, { mode: 'tag' })
    const tag = await tab.evaluate(() => {
      const s = document.querySelector('script[data-project-token]') as HTMLScriptElement | null
      return s && { src: s.getAttribute('src'), token: s.dataset.projectToken, api: s.dataset.apiUrl }
    })
    expect(tag).toEqual({ src: '/dist/infinario.min.js', token: TOKEN, api: api.url })
    const c = await call(tab, 'track', 'Tag Event', { via: 'tag' })
    await api.waitFor((a) => a.events('Tag Event').length === 1)
    expectCleanDelivery(api)
    const d = api.events('Tag Event')[0]
    expect(d.project_id).toBe(TOKEN)
    expect(d.customer_ids).toEqual({ cookie: c.anonymousId })
    expect(d.properties).toMatchObject({ via: 'tag', message_id: c.messageId })
    expect(await tab.evaluate(() => typeof (window as any).InfinarioDestination?.version)).toBe('string')
  })

  test('integrations: { Infinario: false } keeps a call away from Infinario', async ({ tab, api, open }) => {
    await open(tab)
    await call(tab, 'track', 'Hidden', {}, { integrations: { Infinario: false } })
    await call(tab, 'track', 'Visible')
    await api.waitFor((a) => a.events('Visible').length === 1)
    await settle(tab, api)
    expect(api.events('Hidden')).toEqual([])
    expect(api.byMessageId().size).toBe(api.events().length)
  })

  for (const mode of ['register', 'tag'] as const) {
    test(`an invalid projectToken (${mode}) is reported on the console and breaks nothing`, async ({ tab, api, open }) => {
      await open(tab, { mode, token: '' })
      // analytics-next dropped the plugin at load (initialization_failure): it never calls its hooks
      await expect.poll(() => tab.evaluate(() => (window as any).analytics.failedInitializations)).toContain('Infinario')
      const c = await call(tab, 'track', 'Still Works', { a: 1 })
      expect(c.messageId).toBeTruthy()
      await call(tab, 'identify', 'user-1', { x: 1 })
      await call(tab, 'page')
      // e2e/site/boot.js collects console.error output and uncaught errors of the page
      const seen = () =>
        tab.evaluate(() => ({
          console: (window as any).e2e.consoleErrors as string[],
          uncaught: (window as any).e2e.pageErrors as string[],
        }))
      await expect
        .poll(async () => (await seen()).console.join('\n'), { message: 'a console error naming projectToken' })
        .toContain('projectToken')
      // the calls were awaited through every destination; a dropped plugin has nothing to send
      expect(api.requests).toEqual([])
      expect((await seen()).uncaught).toEqual([])
    })
  }

  test('bodies are text/plain and no CORS preflight happens', async ({ tab, api, open }) => {
    await open(tab)
    await call(tab, 'identify', 'user-3', { plan: 'free' })
    await call(tab, 'track', 'Plain')
    await api.waitFor((a) => a.events('Plain').length === 1)
    expect(api.requests.length).toBeGreaterThan(0)
    for (const r of api.requests) {
      expect(r.headers['content-type']).toMatch(/^text\/plain;\s*charset=utf-8$/i)
      expect(r.headers.origin).toBe(new URL(await tab.url()).origin)
    }
    expect(api.preflights).toBe(0)
  })
})
