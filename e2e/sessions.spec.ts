/**
 * End-to-end: sessions (SPEC §5), in every engine (e2e/engine.ts) through the standard snippet and
 * analytics-next, against the local Infinario API.
 *
 * No test races the inactivity timeout on a loaded machine:
 * - where the session must stay open, the timeout is a minute, and a later visit after the expiry
 *   is a page whose clock runs ahead (`clockOffsetMs`, e2e/site/boot.js) instead of a wait;
 * - only the tests of the idle timer of an open tab use a short timeout (3 s); their activity is made
 *   inside the page within 1.2 s, and the test checks from the recorded timestamps that no gap came
 *   near the timeout before it asserts anything else;
 * - what must not happen (a second session_end) is asserted only after a positive signal: a later
 *   call that reached the API, sent after anything the tab could have sent before it.
 * Back-dated timestamps and durations are exact (computed from recorded timestamps; 50 ms only
 * absorbs float rounding). How soon an idle tab notices the expiry is logged, never asserted.
 */
import { call, expect, settle, sleep, test, TOKEN, waitUntilReady, type ApiHandle, type Called, type Engine, type Tab } from './engine'

type EventData = ReturnType<ApiHandle['events']>[number]

/** Inactivity that ends a session where the session must stay open through the test. */
const LONG = 60_000
const SETTINGS = { sessionTimeoutMs: LONG, flushIntervalMs: 100 }
/** A later visit: its page's clock runs this much ahead, past the expiry. */
const LATER = { clockOffsetMs: String(LONG + 5_000) }
/** Inactivity that ends a session in the idle-timer tests (a real wait). */
const IDLE = 3000
const IDLE_SETTINGS = { sessionTimeoutMs: IDLE, flushIntervalMs: 100 }
/** Back-dated timestamps and durations must equal the recorded ones; this only absorbs float rounding. */
const EXACT_MS = 50
/** What the plugin's device detection names each engine's browser. */
const BROWSER: Record<Engine, RegExp> = { chromium: /chrom/i, firefox: /^Firefox$/, webkit: /^Safari$/ }

const UTM = { utm_source: 'newsletter', utm_medium: 'email', utm_campaign: 'spring', utm_term: 'shoes', utm_content: 'top' }
/** What session_start / session_end carry of the page that opened the session (SPEC §5). */
const SESSION_KEYS = ['location', 'path', 'referrer', ...Object.keys(UTM), 'browser', 'os', 'device'] as const

const ms = (seconds: number) => Math.round(seconds * 1000)
const log = (...parts: unknown[]) => console.log('[sessions]', ...parts)

/** The event that carried this call's messageId. */
function eventOf(api: ApiHandle, c: Pick<Called, 'messageId'>): EventData {
  const e = api.events().filter((x) => x.properties.message_id === c.messageId)
  expect(e, `exactly one event with message_id ${c.messageId}\n${api.summary()}`).toHaveLength(1)
  return e[0]
}

/** The event types that reached the API, in order of arrival. */
const types = (api: ApiHandle) => api.events().map((e) => e.type)

/** Waits until `n` events of `type` reached the API (they may arrive in different requests). */
const waitForCount = (api: ApiHandle, type: string, n: number, timeoutMs = 10_000) =>
  api.waitFor((a) => a.events(type).length >= n, timeoutMs)

/** Every request was a 200 whose commands were all accepted, and no event arrived twice. */
function expectClean(api: ApiHandle) {
  const bad = api.requests.filter((r) => r.status !== 200 || r.results.some((x) => x.status !== 'ok'))
  expect(bad.length, api.summary('requests with a status other than 200 or a result other than ok')).toBe(0)
  expect(api.duplicates(), 'message_ids that arrived more than once').toEqual([])
}

/** session_start / session_end carry the session props of the page `c` was made on. */
function expectSessionProps(engine: Engine, props: Record<string, any>, c: Pick<Called, 'page'>, utm: Record<string, string> = UTM) {
  expect(props.location, 'location').toBe(c.page.href)
  expect(props.path, 'path').toBe(c.page.pathname)
  expect(props.referrer, 'referrer').toBe(c.page.referrer)
  for (const [k, v] of Object.entries(utm)) expect(props[k], k).toBe(v)
  expect(props.browser, 'browser').toMatch(BROWSER[engine])
  expect(props.os, 'os').toMatch(/linux/i)
  expect(props.device, 'device').toBe('desktop')
  expect(typeof props.session_id, 'session_id').toBe('string')
  expect(props.session_id.length, 'session_id').toBeGreaterThan(0)
  expect(typeof props.message_id, 'message_id').toBe('string')
}

const pick = (props: Record<string, any>) => Object.fromEntries(SESSION_KEYS.filter((k) => k in props).map((k) => [k, props[k]]))

/**
 * A session_end that ends the session `start`, whose last activity is the event `last`:
 * back-dated to it, with duration = last − start, the identity of the session, the props of the
 * page that opened it and a fresh message_id. Returns the measured errors (ms).
 */
function expectEnd(end: EventData, start: EventData, lastMs: number, label: string) {
  expect(end.type).toBe('session_end')
  expect(end.properties.session_id, 'session_end.session_id is the session_start one').toBe(start.properties.session_id)
  expect(pick(end.properties), 'session_end carries the session props of session_start').toEqual(pick(start.properties))
  expect(end.properties.message_id).not.toBe(start.properties.message_id)
  const tsError = ms(end.timestamp) - lastMs
  const expectedDuration = (lastMs - ms(start.timestamp)) / 1000
  const durationError = (end.properties.duration - expectedDuration) * 1000
  log(
    `${label}: session_end.timestamp − last activity = ${tsError} ms; duration ${end.properties.duration} s,` +
      ` expected ${expectedDuration.toFixed(3)} s (error ${durationError.toFixed(1)} ms)`,
  )
  expect(Math.abs(tsError), `session_end.timestamp is back-dated to the last activity (${lastMs})`).toBeLessThanOrEqual(EXACT_MS)
  expect(typeof end.properties.duration).toBe('number')
  expect(Math.abs(durationError), 'duration = (last activity − start) in seconds').toBeLessThanOrEqual(EXACT_MS)
  return { tsError, durationError }
}

/** When (Date.now() of the API) the request carrying the event with this message_id was answered. */
const arrival = (api: ApiHandle, messageId: string) =>
  api.requests.find((r) => r.status === 200 && r.commands.some((c: any) => c?.data?.properties?.message_id === messageId))?.at

/** Leaves the site (no tab of the origin is open any more; IndexedDB stays). */
async function leave(tab: Tab) {
  await tab.goto('about:blank')
}

/**
 * `page(name)` then `ticks` tracks `gapMs` apart, made inside the page (no round trip of the test in
 * between); resolves with what the test knows of each call.
 */
type Made = Pick<Called, 'messageId' | 'before' | 'after' | 'anonymousId' | 'page'>

function pageThenTicks(tab: Tab, name: string, ticks: number, gapMs: number): Promise<Made[]> {
  return tab.evaluate(
    async ({ name, ticks, gapMs }) => {
      const analytics = (window as any).analytics
      const made: { messageId: string; before: number; after: number; anonymousId: string }[] = []
      const one = async (method: string, args: unknown[]) => {
        const before = Date.now()
        const ctx = await analytics[method](...args)
        made.push({ messageId: ctx.event.messageId, before, after: Date.now(), anonymousId: analytics.user().anonymousId() })
      }
      await one('page', [name])
      for (let i = 0; i < ticks; i++) {
        await new Promise((resolve) => setTimeout(resolve, gapMs))
        await one('track', ['Tick', { i }])
      }
      const page = {
        href: location.href,
        pathname: location.pathname,
        search: location.search,
        title: document.title,
        referrer: document.referrer,
      }
      return made.map((m) => ({ ...m, page }))
    },
    { name, ticks, gapMs },
  )
}

/** The activity of `events` (in order) never paused for as long as the timeout: the session stayed open. */
function expectNoGapNear(events: EventData[], timeoutMs: number) {
  const gaps = events.slice(1).map((e, i) => ms(e.timestamp) - ms(events[i].timestamp))
  expect(Math.max(...gaps), `gaps between the activity (ms): ${gaps.join(' ')}; the machine stalled for most of the timeout`).toBeLessThan(
    timeoutMs * 0.8,
  )
}

test.describe('sessions (SPEC §5)', () => {
  test('the first page opens a session: session_start then page_visit, same session_id and timestamp, page props', async ({
    tab,
    api,
    open,
    engine,
  }) => {
    await open(tab, { settings: SETTINGS, query: UTM })
    const c = await call(tab, 'page', 'Docs', 'Home')
    await waitForCount(api, 'page_visit', 1)
    expectClean(api)
    expect(types(api)).toEqual(['session_start', 'page_visit'])
    const [start, visit] = api.events()
    expect(visit.properties.message_id).toBe(c.messageId)
    expect(start.customer_ids).toEqual({ cookie: c.anonymousId })
    expect(start.project_id).toBe(TOKEN)
    expectSessionProps(engine, start.properties, c)
    expect(start.properties.message_id, 'session_start has a message_id of its own').not.toBe(c.messageId)
    expect(visit.properties.session_id).toBe(start.properties.session_id)
    expect(ms(start.timestamp), 'session_start.timestamp = page_visit.timestamp').toBe(ms(visit.timestamp))
    expect(ms(start.timestamp)).toBeGreaterThanOrEqual(c.before - 1)
    expect(ms(start.timestamp)).toBeLessThanOrEqual(c.after + 1)
    expect(start.properties.duration, 'session_start has no duration').toBeUndefined()
  })

  test('a second page call (and a track) stays in the open session', async ({ tab, api, open }) => {
    await open(tab, { settings: SETTINGS })
    await call(tab, 'page', 'One')
    await sleep(300)
    const c2 = await call(tab, 'page', 'Two')
    const t = await call(tab, 'track', 'Clicked')
    await api.waitFor((a) => a.events('Clicked').length === 1)
    expectClean(api)
    expect(types(api)).toEqual(['session_start', 'page_visit', 'page_visit', 'Clicked'])
    const id = api.events('session_start')[0].properties.session_id
    expect(api.events().map((e) => e.properties.session_id)).toEqual([id, id, id, id])
    expect(eventOf(api, c2).type).toBe('page_visit')
    expect(eventOf(api, t).properties.session_id).toBe(id)
  })

  test('a reload within the timeout continues the session', async ({ tab, api, open }) => {
    await open(tab, { settings: SETTINGS })
    await call(tab, 'page', 'Before')
    await waitForCount(api, 'page_visit', 1)
    await tab.reload()
    await waitUntilReady(tab)
    const c = await call(tab, 'page', 'After')
    await waitForCount(api, 'page_visit', 2)
    // and a page on another URL of the site, still within the timeout
    await open(tab, { settings: SETTINGS, path: 'other.html' })
    await call(tab, 'page', 'Other')
    await waitForCount(api, 'page_visit', 3)
    expectClean(api)
    expect(types(api)).toEqual(['session_start', 'page_visit', 'page_visit', 'page_visit'])
    const id = api.events('session_start')[0].properties.session_id
    expect(eventOf(api, c).properties.session_id).toBe(id)
    expect(api.events('page_visit').map((e) => e.properties.session_id)).toEqual([id, id, id])
  })

  test('expiry, then a page on a later visit: session_end (back-dated) → session_start → page_visit, new session', async ({
    tab,
    api,
    open,
    engine,
  }) => {
    await open(tab, { settings: SETTINGS, query: UTM })
    const p1 = await call(tab, 'page', 'First')
    await sleep(400)
    const t = await call(tab, 'track', 'Read')
    await api.waitFor((a) => a.events('Read').length === 1)
    const lastMs = ms(eventOf(api, t).timestamp)
    await leave(tab)
    // the next visit, after the expiry, lands on another page with other campaign parameters
    const utm2 = { utm_source: 'ads', utm_medium: 'cpc', utm_campaign: 'summer', utm_term: 'hats', utm_content: 'side' }
    const returned = Date.now()
    await open(tab, { settings: SETTINGS, path: 'other.html', query: { ...utm2, ...LATER } })
    const p2 = await call(tab, 'page', 'Second')
    await waitForCount(api, 'page_visit', 2)
    await settle(tab, api)
    expectClean(api)
    expect(types(api).filter((x) => x !== 'e2e settle')).toEqual([
      'session_start',
      'page_visit',
      'Read',
      'session_end',
      'session_start',
      'page_visit',
    ])
    const [start1, visit1, , end, start2, visit2] = api.events()
    // nothing ended the session while no tab was open: its end was sent by the later visit
    expect(arrival(api, end.properties.message_id)!, 'session_end was sent by the later visit').toBeGreaterThanOrEqual(returned)
    expect(visit1.properties.message_id).toBe(p1.messageId)
    expect(visit2.properties.message_id).toBe(p2.messageId)
    expect(end.customer_ids).toEqual({ cookie: p1.anonymousId })
    expectSessionProps(engine, end.properties, p1)
    expectEnd(end, start1, lastMs, 'ended by the next call')
    expect(start2.properties.session_id).not.toBe(start1.properties.session_id)
    expect(visit2.properties.session_id).toBe(start2.properties.session_id)
    expect(ms(start2.timestamp)).toBe(ms(visit2.timestamp))
    expectSessionProps(engine, start2.properties, p2, utm2)
  })

  test('an idle open tab ends the session by itself, once, and activity keeps it open', async ({ tab, api, open, engine }) => {
    await open(tab, { settings: IDLE_SETTINGS, query: UTM })
    // activity every 0.1 × timeout, spanning 0.4 × timeout, made inside the page
    const made = await pageThenTicks(tab, 'Idle', 4, IDLE * 0.1)
    const [p, last] = [made[0], made[made.length - 1]]
    await api.waitFor((a) => a.events('Tick').length === 4)
    expectNoGapNear(api.events(), IDLE)
    const lastMs = ms(eventOf(api, last).timestamp)
    // no calls any more: the tab's idle timer ends the session (the wait only bounds a hang)
    await api.waitFor((a) => a.events('session_end').length >= 1, 30_000)
    const end = api.events('session_end')[0]
    const at = arrival(api, end.properties.message_id)!
    log(
      `${engine}, idle tab: session_end reached the API ${at - (lastMs + IDLE)} ms after the expiry (timeout ${IDLE} ms, flush interval 100 ms)`,
    )
    expect(at, 'session_end is not sent before the session expired').toBeGreaterThanOrEqual(lastMs + IDLE)
    const start = api.events('session_start')[0]
    expect(end.customer_ids).toEqual({ cookie: p.anonymousId })
    expectSessionProps(engine, end.properties, p)
    expectEnd(end, start, lastMs, 'ended by the idle timer')
    // past another timeout, a page call opens a new session: anything the idle tab sent before it
    // (a second session_end) has arrived by then
    await sleep(IDLE + 500)
    await call(tab, 'page', 'Back')
    await waitForCount(api, 'page_visit', 2)
    expectClean(api)
    expect(types(api)).toEqual([
      'session_start',
      'page_visit',
      'Tick',
      'Tick',
      'Tick',
      'Tick',
      'session_end',
      'session_start',
      'page_visit',
    ])
  })

  test('three tabs opening at once make one session_start, and idling one session_end', async ({ tab, newTab, api, open }) => {
    const tabs = [tab, await newTab(), await newTab()]
    await Promise.all(tabs.map((t) => open(t, { settings: IDLE_SETTINGS })))
    const calls = await Promise.all(tabs.map((t, i) => call(t, 'page', 'Tab', `Tab ${i}`)))
    await waitForCount(api, 'page_visit', 3)
    const visits = calls.map((c) => eventOf(api, c))
    expectNoGapNear(
      [...visits].sort((a, b) => a.timestamp - b.timestamp),
      IDLE,
    )
    expect(api.events('session_start'), api.summary('one session_start')).toHaveLength(1)
    const start = api.events('session_start')[0]
    const id = start.properties.session_id
    expect(visits.map((v) => v.properties.session_id)).toEqual([id, id, id])
    // the session opens with one of the three calls, before its page_visit
    const opener = visits.find((v) => ms(v.timestamp) === ms(start.timestamp))
    expect(opener, 'session_start.timestamp is the timestamp of one of the page calls').toBeDefined()
    const order = types(api)
    expect(order.indexOf('session_start')).toBeLessThan(api.events().indexOf(opener!))
    const lastMs = Math.max(...visits.map((v) => ms(v.timestamp)))
    // all three tabs idle: one session_end
    await api.waitFor((a) => a.events('session_end').length >= 1, 30_000)
    const at = arrival(api, api.events('session_end')[0].properties.message_id)!
    log(`three idle tabs: session_end reached the API ${at - (lastMs + IDLE)} ms after the expiry`)
    expect(at).toBeGreaterThanOrEqual(lastMs + IDLE)
    // every tab's idle timer has fired by then; a track from each tab reaches the API after
    // anything that tab sent before it
    await sleep(IDLE + 500)
    await Promise.all(tabs.map((t) => settle(t, api)))
    expectClean(api)
    expect(api.events('session_end'), api.summary('exactly one session_end')).toHaveLength(1)
    expect(api.events('session_start')).toHaveLength(1)
    expect(
      types(api)
        .filter((x) => x !== 'e2e settle')
        .sort(),
    ).toEqual(['page_visit', 'page_visit', 'page_visit', 'session_end', 'session_start'])
    expectEnd(api.events('session_end')[0], start, lastMs, 'three tabs')
  })

  test('analytics.reset() ends the session with the old identity, once', async ({ tab, api, open, engine }) => {
    await open(tab, { settings: SETTINGS, query: UTM })
    const id = await call(tab, 'identify', 'user-77', { plan: 'pro' })
    const p = await call(tab, 'page', 'Signed in')
    await waitForCount(api, 'page_visit', 1)
    await sleep(300)
    const r = await call(tab, 'reset')
    await waitForCount(api, 'session_end', 1)
    expect(r.userId, 'reset forgets the user').toBeNull()
    expect(r.anonymousId, 'reset makes a new anonymousId').not.toBe(p.anonymousId)
    const start = api.events('session_start')[0]
    const end = api.events('session_end')[0]
    expect(start.customer_ids).toEqual({ registered: 'user-77', cookie: id.anonymousId })
    expect(end.customer_ids, 'session_end has the identity before the reset').toEqual({ registered: 'user-77', cookie: p.anonymousId })
    expectSessionProps(engine, end.properties, p)
    // ended at the time of the reset
    expect(ms(end.timestamp)).toBeGreaterThanOrEqual(r.before - 1)
    expect(ms(end.timestamp)).toBeLessThanOrEqual(r.after + 1)
    expectEnd(end, start, ms(end.timestamp), 'reset')
    expect(end.properties.duration).toBeGreaterThanOrEqual(0.25)
    // a later visit, past the timeout, does not end it again; its page opens a new session for the new identity
    await open(tab, { settings: SETTINGS, query: LATER })
    const p2 = await call(tab, 'page', 'Anonymous again')
    await waitForCount(api, 'page_visit', 2)
    expectClean(api)
    expect(types(api)).toEqual(['session_start', 'page_visit', 'session_end', 'session_start', 'page_visit'])
    const start2 = api.events('session_start')[1]
    expect(start2.customer_ids).toEqual({ cookie: p2.anonymousId })
    expect(start2.properties.session_id).not.toBe(start.properties.session_id)
    expect(eventOf(api, p2).properties.session_id).toBe(start2.properties.session_id)
  })

  test('screen opens a session like page: session_start then screen_visit', async ({ tab, api, open, engine }) => {
    await open(tab, { settings: SETTINGS, query: UTM })
    const s = await call(tab, 'screen', 'Onboarding', 'Welcome')
    await waitForCount(api, 'screen_visit', 1)
    const s2 = await call(tab, 'screen', 'Onboarding', 'Step 2')
    await waitForCount(api, 'screen_visit', 2)
    expectClean(api)
    expect(types(api)).toEqual(['session_start', 'screen_visit', 'screen_visit'])
    const [start, visit, visit2] = api.events()
    expect(visit.properties.message_id).toBe(s.messageId)
    expect(visit2.properties.message_id).toBe(s2.messageId)
    expectSessionProps(engine, start.properties, s)
    expect(visit.properties.session_id).toBe(start.properties.session_id)
    expect(visit2.properties.session_id).toBe(start.properties.session_id)
    expect(ms(start.timestamp)).toBe(ms(visit.timestamp))
  })

  test('a track after expiry ends the session but opens none; the track has no session_id', async ({ tab, api, open }) => {
    await open(tab, { settings: SETTINGS, query: UTM })
    const p = await call(tab, 'page', 'Landing')
    await waitForCount(api, 'page_visit', 1)
    const lastMs = ms(eventOf(api, p).timestamp)
    await leave(tab)
    await open(tab, { settings: SETTINGS, query: LATER })
    const t = await call(tab, 'track', 'Came Back', { n: 1 })
    await api.waitFor((a) => a.events('Came Back').length === 1)
    const t2 = await call(tab, 'track', 'Still Here')
    await api.waitFor((a) => a.events('Still Here').length === 1)
    expectClean(api)
    expect(types(api)).toEqual(['session_start', 'page_visit', 'session_end', 'Came Back', 'Still Here'])
    const start = api.events('session_start')[0]
    const end = api.events('session_end')[0]
    expectEnd(end, start, lastMs, 'ended by a track')
    expect(end.properties.duration).toBe(0)
    expect(eventOf(api, t).properties).not.toHaveProperty('session_id')
    expect(eventOf(api, t2).properties).not.toHaveProperty('session_id')
  })
})
