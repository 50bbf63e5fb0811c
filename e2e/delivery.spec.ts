/**
 * End-to-end: delivery (SPEC §3, §6). Events made in Chromium reach the local Infinario API exactly
 * once across navigations, reloads, closed tabs, outages, per-command `retry` / `error` answers,
 * 401, 429 with Retry-After, bursts and several tabs.
 *
 * Every test counts the events lost and duplicated, by `message_id`, and asserts both are 0.
 * Where the page navigates or closes right after the call (so the call's context never resolves in
 * the test), each event carries a unique `key` property: the expected events are those keys, and the
 * message_ids are read from what arrived.
 */
import type { BrowserContext, Page } from '@playwright/test'
import {
  arrivedIds,
  expect,
  expectExactlyOnce,
  settle,
  tallyIds,
  test,
  trackMany,
  waitUntilReady,
  type ApiHandle,
  type OpenOptions,
  type OpenPage,
  type Tally,
} from './fixtures'

// ---------------------------------------------------------------------------------------------
// helpers

/** `analytics.track(event, properties)` in the page; resolves with the event's messageId. */
function track(page: Page, event: string, properties: Record<string, unknown> = {}): Promise<string> {
  return page.evaluate(
    async ({ event, properties }) => (await (window as any).analytics.track(event, properties)).event.messageId as string,
    { event, properties },
  )
}

/**
 * The same by `properties.key` for events whose messageId the test could not read: a key that
 * arrived under two message_ids (the call made twice) counts as duplicated too.
 */
function tallyKeys(api: ApiHandle, type: string, keys: string[]): Tally {
  const byKey = new Map<string, string[]>()
  for (const e of api.events(type)) {
    const k = String(e.properties.key)
    byKey.set(k, [...(byKey.get(k) ?? []), e.properties.message_id])
  }
  const seen = api.byMessageId()
  return {
    expected: keys.length,
    lost: keys.filter((k) => !byKey.has(k)),
    duplicated: [
      ...[...seen].filter(([, n]) => n > 1).map(([id]) => id),
      ...[...byKey].filter(([, ids]) => new Set(ids).size > 1).map(([k]) => `key ${k}`),
    ],
  }
}

const arrivedKeys = (api: ApiHandle, type: string, keys: string[]) => {
  const got = new Set(api.events(type).map((e) => String(e.properties.key)))
  return keys.filter((k) => got.has(k)).length
}

/** How many times each message_id was sent (in any request, whatever the answer). */
function timesSent(api: ApiHandle): Map<string, number> {
  const m = new Map<string, number>()
  for (const r of api.requests)
    for (const c of r.commands) {
      const id = c?.data?.properties?.message_id
      if (id !== undefined) m.set(id, (m.get(id) ?? 0) + 1)
    }
  return m
}

/** message_ids answered `status` (per-command result) in 200 answers. */
function answered(api: ApiHandle, status: 'ok' | 'retry' | 'error'): string[] {
  const out: string[] = []
  for (const r of api.requests) r.commands.forEach((c, i) => r.results[i]?.status === status && out.push(c?.data?.properties?.message_id))
  return out
}

/** The delivery failures the page received as analytics 'error' events (boot.js collects them). */
function reported(page: Page): Promise<{ code: string; reason: string; ids: string[] }[]> {
  return page.evaluate(() =>
    ((window as any).e2e.errors as any[]).map((e) => ({
      code: e?.code,
      reason: e?.reason,
      ids: Array.isArray(e?.commands) ? e.commands.map((c: any) => c?.data?.properties?.message_id) : [],
    })),
  )
}

/** Opens a fresh page (tab) of `context` with the e2e site. */
async function openTab(context: BrowserContext, openPage: OpenPage, o?: OpenOptions): Promise<Page> {
  const page = await context.newPage()
  await openPage(page, o)
  return page
}

const ignoreNavigation = (e: Error) => {
  if (!/context was destroyed|navigat|Target closed|has been closed/i.test(String(e?.message))) throw e
}

// ---------------------------------------------------------------------------------------------

test.describe('delivery (SPEC §6)', () => {
  test('navigation storm: 40 navigations, each right after a track, every event arrives exactly once', async ({ page, api, openPage }) => {
    test.setTimeout(60_000)
    const NAVS = 40
    const files = ['index.html', 'other.html']
    let url = await openPage(page)
    const keys: string[] = []
    for (let i = 0; i < NAVS; i++) {
      const target = files[(i + 1) % 2]
      const next = url.replace(/\/e2e\/[a-z]+\.html\?/, `/e2e/${target}?`)
      const key = `nav-${i}`
      keys.push(key)
      // the track and the navigation in the same task of the page: nothing of the call can have
      // been sent or stored yet when the page starts to go away
      await page
        .evaluate(
          ({ key, next }) => {
            ;(window as any).analytics.track('nav', { key })
            location.href = next
          },
          { key, next },
        )
        .catch(ignoreNavigation)
      await page.waitForURL((u) => u.pathname.endsWith('/' + target))
      await waitUntilReady(page)
      url = next
    }
    // the last page adopts what the previous ones left and sends it
    await api.waitFor((a) => arrivedKeys(a, 'nav', keys) === NAVS, 15_000).catch(() => 0)
    // one more visit: nothing may arrive a second time (records left behind, replays)
    await page.reload()
    await waitUntilReady(page)
    await settle(page, api)
    expectExactlyOnce(api, tallyKeys(api, 'nav', keys), 'navigation storm')
    expect(api.events('nav').length).toBe(NAVS)
  })

  test('a 3 s outage (HTTP 503) during 20 tracks: all 20 arrive once after the API recovers', async ({ page, api, openPage }) => {
    await openPage(page)
    api.setFault({ status: 503 })
    const outage = Date.now()
    const ids = await trackMany(page, 'outage', 20, 'o-', 150)
    await api.waitFor((a) => a.requests.filter((r) => r.status === 503).length >= 2, 5_000)
    expect(api.commands.length, 'nothing is accepted during the outage').toBe(0)
    const left = 3000 - (Date.now() - outage)
    if (left > 0) await page.waitForTimeout(left) // the outage lasts 3 s
    api.setFault(null)
    const recovered = Date.now()
    await api.waitFor((a) => arrivedIds(a, ids) === ids.length, 20_000)
    console.log(
      `outage: ${api.requests.filter((r) => r.status === 503).length} requests answered 503, all delivered ${Date.now() - recovered} ms after recovery`,
    )
    await settle(page, api)
    expectExactlyOnce(api, tallyIds(api, ids), 'outage')
  })

  test('per-command "retry" answers (every 3rd command): only those are resent, everything arrives once', async ({
    page,
    api,
    openPage,
  }) => {
    api.setFault({ retryEvery: 3 })
    await openPage(page)
    const ids = await trackMany(page, 'retried', 30, 'r-')
    await api.waitFor((a) => arrivedIds(a, ids) === ids.length, 20_000)
    const retried = answered(api, 'retry').filter((id) => ids.includes(id))
    expect(retried.length, 'commands answered retry').toBeGreaterThanOrEqual(10)
    // an `ok` command is never sent again: each id was sent once, plus once per `retry` answer
    const sent = timesSent(api)
    const retries = new Map<string, number>()
    for (const id of retried) retries.set(id, (retries.get(id) ?? 0) + 1)
    for (const id of ids) expect(sent.get(id), `times ${id} was sent`).toBe(1 + (retries.get(id) ?? 0))
    api.setFault(null)
    await settle(page, api)
    expectExactlyOnce(api, tallyIds(api, ids), 'retry answers')
  })

  test('API down, page reloaded while down: the reloaded page adopts the old records, all arrive once', async ({ page, api, openPage }) => {
    api.setFault({ down: true })
    await openPage(page)
    const before = await trackMany(page, 'down', 10, 'd1-', 20)
    await api.waitFor((a) => a.requests.length >= 1, 5_000) // the first page tried and failed
    await page.reload()
    await waitUntilReady(page)
    const after = await trackMany(page, 'down', 5, 'd2-', 20)
    await api.waitFor((a) => a.requests.filter((r) => r.status === 0).length >= 2, 10_000)
    expect(api.commands.length, 'nothing is accepted while the API is down').toBe(0)
    api.setFault(null)
    const ids = [...before, ...after]
    await api.waitFor((a) => arrivedIds(a, ids) === ids.length, 20_000)
    await settle(page, api)
    expectExactlyOnce(api, tallyIds(api, ids), 'down + reload')
  })

  for (const awaited of [false, true]) {
    test(`track ${awaited ? 'awaited' : 'not awaited'}, then the tab is closed at once: the event arrives once`, async ({
      page,
      context,
      api,
      openPage,
    }) => {
      await openPage(page)
      // warm up: the API is known healthy, so the plugin may use a beacon
      await settle(page, api)
      await page.evaluate(
        async ({ awaited }) => {
          const p = (window as any).analytics.track('closing', { key: 'close-0' })
          if (awaited) await p
        },
        { awaited },
      )
      await page.close()
      let via = 'beacon or keepalive'
      try {
        await api.waitFor((a) => arrivedKeys(a, 'closing', ['close-0']) === 1, 3_000)
      } catch {
        via = 'next visit'
      }
      // the next visit: delivers what the closed tab left, and must not deliver anything twice
      const next = await openTab(context, openPage)
      await api.waitFor((a) => arrivedKeys(a, 'closing', ['close-0']) === 1, 10_000)
      await settle(next, api)
      const e = api.events('closing')[0]
      const request = api.requests.find((r) => r.commands.some((c) => c?.data?.properties?.message_id === e.properties.message_id))
      console.log(
        `closed tab (${awaited ? 'awaited' : 'not awaited'}): delivered by ${via}, sec-fetch-mode ${request?.headers['sec-fetch-mode']}`,
      )
      test.info().annotations.push({ type: 'delivered by', description: via })
      expectExactlyOnce(api, tallyKeys(api, 'closing', ['close-0']), 'closed tab')
    })
  }

  test('HTTP 401: nothing delivered, sending stops, reported once; after a fix and a reload all arrive once', async ({
    page,
    api,
    openPage,
  }) => {
    api.setFault({ status: 401 })
    await openPage(page)
    const first = await trackMany(page, 'unauthorized', 5, 'u1-')
    await api.waitFor((a) => a.requests.length >= 1, 5_000)
    const start = Date.now()
    await expect
      .poll(async () => (await reported(page)).filter((e) => e.code === 'delivery_failure').length, {
        message: "an analytics 'error' event with code delivery_failure",
      })
      .toBeGreaterThanOrEqual(1)
    // more calls while stopped: kept, not sent
    const more = await trackMany(page, 'unauthorized', 3, 'u2-', 100)
    await page.waitForTimeout(Math.max(0, 5000 - (Date.now() - start))) // watch 5 s for a retry storm
    const requests = api.requests.length
    console.log(`401: ${requests} request(s) in 5 s`)
    expect(requests, `requests while the token is refused\n${api.summary()}`).toBeLessThanOrEqual(2)
    expect(api.commands.length, 'nothing is accepted').toBe(0)
    const errors = (await reported(page)).filter((e) => e.code === 'delivery_failure')
    expect(errors.length, `delivery_failure reports: ${JSON.stringify(errors)}`).toBe(1)
    // the token is accepted again; the reloaded page sends what the old one kept
    api.setFault(null)
    await page.reload()
    await waitUntilReady(page)
    const ids = [...first, ...more]
    await api.waitFor((a) => arrivedIds(a, ids) === ids.length, 10_000)
    await settle(page, api)
    expectExactlyOnce(api, tallyIds(api, ids), '401 then fixed')
  })

  test('a burst of 1 000 tracks: all arrive once, in at most 21 bulk requests', async ({ page, api, openPage }) => {
    await openPage(page)
    const ids = await trackMany(page, 'burst', 1000, 'b-')
    expect(new Set(ids).size).toBe(1000)
    await api.waitFor((a) => arrivedIds(a, ids) === ids.length, 20_000)
    const requests = api.requests.length
    const sizes = api.requests.map((r) => r.commands.length)
    console.log(`1 000-event burst: ${requests} bulk requests (commands per request: ${sizes.join(' ')})`)
    test.info().annotations.push({ type: 'bulk requests for 1 000 tracks', description: String(requests) })
    expectExactlyOnce(api, tallyIds(api, ids), '1 000-event burst')
    expect(Math.max(...sizes)).toBeLessThanOrEqual(50)
    expect(requests, 'bulk requests for 1 000 tracks').toBeLessThanOrEqual(21)
  })

  test('three tabs tracking at once (30 events each, interleaved): all 90 arrive once', async ({ page, context, api, openPage }) => {
    await openPage(page)
    const tabs = [page, await openTab(context, openPage, { path: 'other.html' }), await openTab(context, openPage)]
    const ids = (await Promise.all(tabs.map((tab, t) => trackMany(tab, 'tabs', 30, `t${t}-`, 15)))).flat()
    expect(new Set(ids).size).toBe(90)
    await api.waitFor((a) => arrivedIds(a, ids) === ids.length, 15_000)
    await Promise.all(tabs.map((tab) => settle(tab, api)))
    // no command is ever sent by two tabs: each was sent exactly once
    const sent = timesSent(api)
    expect(
      ids.filter((id) => sent.get(id) !== 1),
      'commands sent more than once',
    ).toEqual([])
    expectExactlyOnce(api, tallyIds(api, ids), 'three tabs')
  })

  test('per-command "error" answers: dropped and reported as delivery_failure, not retried', async ({ page, api, openPage }) => {
    api.setFault({ errorEvery: 3 })
    await openPage(page)
    const ids = await trackMany(page, 'rejected', 12, 'x-')
    // every command got an answer
    await api.waitFor((a) => ids.every((id) => answered(a, 'ok').includes(id) || answered(a, 'error').includes(id)), 10_000)
    const rejected = answered(api, 'error').filter((id) => ids.includes(id))
    expect(rejected.length, 'commands answered error').toBe(4)
    api.setFault(null)
    // a retry of a rejected command would go out before (or with) this one, and now be accepted
    await settle(page, api)
    const sent = timesSent(api)
    expect(
      rejected.filter((id) => sent.get(id) !== 1),
      'rejected commands sent again',
    ).toEqual([])
    const errors = await reported(page)
    const reportedIds = new Set(errors.filter((e) => e.code === 'delivery_failure').flatMap((e) => e.ids))
    expect(
      rejected.filter((id) => !reportedIds.has(id)),
      `rejected commands not reported as delivery_failure: ${JSON.stringify(errors)}`,
    ).toEqual([])
    // what was accepted arrived once; what was rejected never arrived
    expectExactlyOnce(
      api,
      tallyIds(
        api,
        ids.filter((id) => !rejected.includes(id)),
      ),
      'error answers (accepted part)',
    )
    expect(
      rejected.filter((id) => api.byMessageId().has(id)),
      'rejected commands that reached the API',
    ).toEqual([])
  })

  test('HTTP 429 with Retry-After: 2 delays the resend by at least 2 s', async ({ page, api, openPage }) => {
    await openPage(page)
    await settle(page, api) // the API was healthy
    api.setFault({ status: 429, retryAfter: 2 })
    const id = await track(page, 'throttled', { key: 'throttled' })
    const first = (await api.waitFor((a) => a.requests.find((r) => r.status === 429), 5_000))!
    api.setFault(null)
    await api.waitFor((a) => a.byMessageId().has(id), 10_000)
    const resend = api.requests.find((r) => r.at > first.at && r.commands.some((c) => c?.data?.properties?.message_id === id))!
    const delay = resend.at - first.at
    console.log(`429 Retry-After 2: resent after ${delay} ms`)
    expect(api.requests.filter((r) => r.status === 429).length, 'requests answered 429').toBe(1)
    expect(delay, 'delay before the resend (ms)').toBeGreaterThanOrEqual(1900)
    expect(delay, 'delay before the resend (ms)').toBeLessThan(6000)
    await settle(page, api)
    expectExactlyOnce(api, tallyIds(api, [id]), '429')
  })
})
