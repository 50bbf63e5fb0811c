/**
 * End-to-end: sessions (SPEC §5), in Chromium through the standard snippet and analytics-next,
 * against the local Infinario API, with a short inactivity timeout.
 *
 * Timing assertions are exact where the plugin has no excuse to be off (back-dated session_end
 * timestamps and durations are computed from recorded timestamps, so they must match the last
 * activity's event timestamp to the millisecond; a 50 ms tolerance only absorbs float rounding)
 * and generous where the machine's load matters (how soon after the expiry an idle tab notices it).
 * Each timing test logs what it measured, prefixed with `[sessions]`.
 */
import type { Page } from '@playwright/test'
import { call, expect, test, TOKEN, type ApiHandle, type Called } from './fixtures'

type EventData = ReturnType<ApiHandle['events']>[number]

/** Inactivity that ends a session in these tests. */
const TIMEOUT = 2000
const SETTINGS = { sessionTimeoutMs: TIMEOUT, flushIntervalMs: 100 }
/** How long past the expiry an idle tab may take to send session_end on a loaded machine. */
const DETECTION_SLACK = 4000
/** Back-dated timestamps and durations must equal the recorded ones; this only absorbs float rounding. */
const EXACT_MS = 50

const UTM = { utm_source: 'newsletter', utm_medium: 'email', utm_campaign: 'spring', utm_term: 'shoes', utm_content: 'top' }
/** What session_start / session_end carry of the page that opened the session (SPEC §5). */
const SESSION_KEYS = ['location', 'path', 'referrer', ...Object.keys(UTM), 'browser', 'os', 'device'] as const

const ms = (seconds: number) => Math.round(seconds * 1000)
const log = (...parts: unknown[]) => console.log('[sessions]', ...parts)

/** The event that carried this call's messageId. */
function eventOf(api: ApiHandle, c: Called): EventData {
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
function expectSessionProps(props: Record<string, any>, c: Called, utm: Record<string, string> = UTM) {
  expect(props.location, 'location').toBe(c.page.href)
  expect(props.path, 'path').toBe(c.page.pathname)
  expect(props.referrer, 'referrer').toBe(c.page.referrer)
  for (const [k, v] of Object.entries(utm)) expect(props[k], k).toBe(v)
  expect(props.browser, 'browser').toMatch(/chrom/i)
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
async function leave(page: Page) {
  await page.goto('about:blank')
}

test.describe('sessions (SPEC §5)', () => {
  test('the first page opens a session: session_start then page_visit, same session_id and timestamp, page props', async ({
    page,
    api,
    openPage,
  }) => {
    await openPage(page, { settings: SETTINGS, query: UTM })
    const c = await call(page, 'page', 'Docs', 'Home')
    await waitForCount(api, 'page_visit', 1)
    expectClean(api)
    expect(types(api)).toEqual(['session_start', 'page_visit'])
    const [start, visit] = api.events()
    expect(visit.properties.message_id).toBe(c.messageId)
    expect(start.customer_ids).toEqual({ cookie: c.anonymousId })
    expect(start.project_id).toBe(TOKEN)
    expectSessionProps(start.properties, c)
    expect(start.properties.message_id, 'session_start has a message_id of its own').not.toBe(c.messageId)
    expect(visit.properties.session_id).toBe(start.properties.session_id)
    expect(ms(start.timestamp), 'session_start.timestamp = page_visit.timestamp').toBe(ms(visit.timestamp))
    expect(ms(start.timestamp)).toBeGreaterThanOrEqual(c.before - 1)
    expect(ms(start.timestamp)).toBeLessThanOrEqual(c.after + 1)
    expect(start.properties.duration, 'session_start has no duration').toBeUndefined()
  })

  test('a second page call (and a track) stays in the open session', async ({ page, api, openPage }) => {
    await openPage(page, { settings: SETTINGS })
    await call(page, 'page', 'One')
    await page.waitForTimeout(300)
    const c2 = await call(page, 'page', 'Two')
    const t = await call(page, 'track', 'Clicked')
    await api.waitFor((a) => a.events('Clicked').length === 1)
    expectClean(api)
    expect(types(api)).toEqual(['session_start', 'page_visit', 'page_visit', 'Clicked'])
    const id = api.events('session_start')[0].properties.session_id
    expect(api.events().map((e) => e.properties.session_id)).toEqual([id, id, id, id])
    expect(eventOf(api, c2).type).toBe('page_visit')
    expect(eventOf(api, t).properties.session_id).toBe(id)
  })

  test('a reload within the timeout continues the session', async ({ page, api, openPage }) => {
    await openPage(page, { settings: SETTINGS })
    await call(page, 'page', 'Before')
    await waitForCount(api, 'page_visit', 1)
    await page.reload()
    await page.waitForFunction(() => (window as any).e2e?.state === 'ready')
    const c = await call(page, 'page', 'After')
    await waitForCount(api, 'page_visit', 2)
    // and a page on another URL of the site, still within the timeout
    await openPage(page, { settings: SETTINGS, path: 'other.html' })
    await call(page, 'page', 'Other')
    await waitForCount(api, 'page_visit', 3)
    expectClean(api)
    expect(types(api)).toEqual(['session_start', 'page_visit', 'page_visit', 'page_visit'])
    const id = api.events('session_start')[0].properties.session_id
    expect(eventOf(api, c).properties.session_id).toBe(id)
    expect(api.events('page_visit').map((e) => e.properties.session_id)).toEqual([id, id, id])
  })

  test('expiry, then a page on a later visit: session_end (back-dated) → session_start → page_visit, new session', async ({
    page,
    api,
    openPage,
  }) => {
    await openPage(page, { settings: SETTINGS, query: UTM })
    const p1 = await call(page, 'page', 'First')
    await page.waitForTimeout(400)
    const t = await call(page, 'track', 'Read')
    await api.waitFor((a) => a.events('Read').length === 1)
    const lastMs = ms(eventOf(api, t).timestamp)
    await leave(page)
    await page.waitForTimeout(TIMEOUT + 500)
    expect(types(api), 'nothing ended the session while no tab was open').toEqual(['session_start', 'page_visit', 'Read'])
    // the next visit lands on another page with other campaign parameters
    const utm2 = { utm_source: 'ads', utm_medium: 'cpc', utm_campaign: 'summer', utm_term: 'hats', utm_content: 'side' }
    await openPage(page, { settings: SETTINGS, path: 'other.html', query: utm2 })
    const p2 = await call(page, 'page', 'Second')
    await waitForCount(api, 'page_visit', 2)
    await page.waitForTimeout(300) // nothing else follows
    expectClean(api)
    expect(types(api)).toEqual(['session_start', 'page_visit', 'Read', 'session_end', 'session_start', 'page_visit'])
    const [start1, visit1, , end, start2, visit2] = api.events()
    expect(visit1.properties.message_id).toBe(p1.messageId)
    expect(visit2.properties.message_id).toBe(p2.messageId)
    expect(end.customer_ids).toEqual({ cookie: p1.anonymousId })
    expectSessionProps(end.properties, p1)
    expectEnd(end, start1, lastMs, 'ended by the next call')
    expect(start2.properties.session_id).not.toBe(start1.properties.session_id)
    expect(visit2.properties.session_id).toBe(start2.properties.session_id)
    expect(ms(start2.timestamp)).toBe(ms(visit2.timestamp))
    expectSessionProps(start2.properties, p2, utm2)
  })

  test('an idle open tab ends the session by itself, once, and activity keeps it open', async ({ page, api, openPage }) => {
    await openPage(page, { settings: SETTINGS, query: UTM })
    const p = await call(page, 'page', 'Idle')
    // activity every 0.3 × timeout, spanning more than the timeout: the session stays open
    let last = p
    for (let i = 0; i < 4; i++) {
      await page.waitForTimeout(TIMEOUT * 0.3)
      last = await call(page, 'track', 'Tick', { i })
    }
    await api.waitFor((a) => a.events('Tick').length === 4)
    const lastEvent = eventOf(api, last)
    const lastMs = ms(lastEvent.timestamp)
    expect(api.events('session_end'), 'no session_end while there was activity').toEqual([])
    // no calls any more: the tab's idle timer ends the session
    await api.waitFor((a) => a.events('session_end').length >= 1, TIMEOUT + DETECTION_SLACK + 2000)
    const end = api.events('session_end')[0]
    const at = arrival(api, end.properties.message_id)!
    const lag = at - (lastMs + TIMEOUT)
    log(`idle tab: session_end reached the API ${lag} ms after the expiry (timeout ${TIMEOUT} ms, flush interval 100 ms)`)
    expect(at, 'session_end is not sent before the session expired').toBeGreaterThanOrEqual(lastMs + TIMEOUT)
    expect(lag, 'the idle tab notices the expiry promptly').toBeLessThanOrEqual(DETECTION_SLACK)
    await page.waitForTimeout(TIMEOUT + 500) // no second session_end, no new session
    expectClean(api)
    expect(types(api)).toEqual(['session_start', 'page_visit', 'Tick', 'Tick', 'Tick', 'Tick', 'session_end'])
    const start = api.events('session_start')[0]
    expect(end.customer_ids).toEqual({ cookie: p.anonymousId })
    expectSessionProps(end.properties, p)
    expectEnd(end, start, lastMs, 'ended by the idle timer')
    expect(end.properties.duration, 'duration spans the activity, longer than the timeout').toBeGreaterThan(TIMEOUT / 1000)
  })

  test('three tabs opening at once make one session_start, and idling one session_end', async ({ context, page, api, openPage }) => {
    const pages = [page, await context.newPage(), await context.newPage()]
    await Promise.all(pages.map((p) => openPage(p, { settings: SETTINGS })))
    const calls = await Promise.all(pages.map((p, i) => call(p, 'page', 'Tab', `Tab ${i}`)))
    await waitForCount(api, 'page_visit', 3)
    const visits = calls.map((c) => eventOf(api, c))
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
    await api.waitFor((a) => a.events('session_end').length >= 1, TIMEOUT + DETECTION_SLACK + 2000)
    const at = arrival(api, api.events('session_end')[0].properties.message_id)!
    log(`three idle tabs: session_end reached the API ${at - (lastMs + TIMEOUT)} ms after the expiry`)
    expect(at).toBeGreaterThanOrEqual(lastMs + TIMEOUT)
    await page.waitForTimeout(TIMEOUT + 500) // every tab's idle timer has fired by now
    expectClean(api)
    expect(api.events('session_end'), api.summary('exactly one session_end')).toHaveLength(1)
    expect(api.events('session_start')).toHaveLength(1)
    expect(types(api).sort()).toEqual(['page_visit', 'page_visit', 'page_visit', 'session_end', 'session_start'])
    expectEnd(api.events('session_end')[0], start, lastMs, 'three tabs')
  })

  test('analytics.reset() ends the session with the old identity', async ({ page, api, openPage }) => {
    await openPage(page, { settings: SETTINGS, query: UTM })
    const id = await call(page, 'identify', 'user-77', { plan: 'pro' })
    const p = await call(page, 'page', 'Signed in')
    await waitForCount(api, 'page_visit', 1)
    await page.waitForTimeout(300)
    const r = await call(page, 'reset')
    await waitForCount(api, 'session_end', 1)
    expect(r.userId, 'reset forgets the user').toBeNull()
    expect(r.anonymousId, 'reset makes a new anonymousId').not.toBe(p.anonymousId)
    const start = api.events('session_start')[0]
    const end = api.events('session_end')[0]
    expect(start.customer_ids).toEqual({ registered: 'user-77', cookie: id.anonymousId })
    expect(end.customer_ids, 'session_end has the identity before the reset').toEqual({ registered: 'user-77', cookie: p.anonymousId })
    expectSessionProps(end.properties, p)
    // ended at the time of the reset
    expect(ms(end.timestamp)).toBeGreaterThanOrEqual(r.before - 1)
    expect(ms(end.timestamp)).toBeLessThanOrEqual(r.after + 1)
    expectEnd(end, start, ms(end.timestamp), 'reset')
    expect(end.properties.duration).toBeGreaterThanOrEqual(0.25)
    // idling past the timeout does not end it again; the next page opens a new session for the new identity
    await page.waitForTimeout(TIMEOUT + 500)
    expect(api.events('session_end')).toHaveLength(1)
    const p2 = await call(page, 'page', 'Anonymous again')
    await waitForCount(api, 'page_visit', 2)
    expectClean(api)
    expect(types(api)).toEqual(['session_start', 'page_visit', 'session_end', 'session_start', 'page_visit'])
    const start2 = api.events('session_start')[1]
    expect(start2.customer_ids).toEqual({ cookie: p2.anonymousId })
    expect(start2.properties.session_id).not.toBe(start.properties.session_id)
    expect(eventOf(api, p2).properties.session_id).toBe(start2.properties.session_id)
  })

  test('screen opens a session like page: session_start then screen_visit', async ({ page, api, openPage }) => {
    await openPage(page, { settings: SETTINGS, query: UTM })
    const s = await call(page, 'screen', 'Onboarding', 'Welcome')
    await waitForCount(api, 'screen_visit', 1)
    const s2 = await call(page, 'screen', 'Onboarding', 'Step 2')
    await waitForCount(api, 'screen_visit', 2)
    expectClean(api)
    expect(types(api)).toEqual(['session_start', 'screen_visit', 'screen_visit'])
    const [start, visit, visit2] = api.events()
    expect(visit.properties.message_id).toBe(s.messageId)
    expect(visit2.properties.message_id).toBe(s2.messageId)
    expectSessionProps(start.properties, s)
    expect(visit.properties.session_id).toBe(start.properties.session_id)
    expect(visit2.properties.session_id).toBe(start.properties.session_id)
    expect(ms(start.timestamp)).toBe(ms(visit.timestamp))
  })

  test('a track after expiry ends the session but opens none; the track has no session_id', async ({ page, api, openPage }) => {
    await openPage(page, { settings: SETTINGS, query: UTM })
    const p = await call(page, 'page', 'Landing')
    await waitForCount(api, 'page_visit', 1)
    const lastMs = ms(eventOf(api, p).timestamp)
    await leave(page)
    await page.waitForTimeout(TIMEOUT + 500)
    await openPage(page, { settings: SETTINGS })
    const t = await call(page, 'track', 'Came Back', { n: 1 })
    await api.waitFor((a) => a.events('Came Back').length === 1)
    await page.waitForTimeout(300)
    const t2 = await call(page, 'track', 'Still Here')
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
