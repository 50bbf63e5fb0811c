/**
 * End-to-end: the demo (`npm start`). Opens the shop, clicks every analytics call and every fault
 * switch, and checks that the live view shows what the local API received; then `npm start`'s
 * launcher itself: the URL it prints, Ctrl-C, and the remote mode (INFINARIO_API_URL).
 * Saves a screenshot of the demo as test-results/demo.png (960 × 600: the README's docs/demo.png is a copy).
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { join } from 'node:path'
import type { Page } from '@playwright/test'
import { startApi } from '../demo/server/api.mjs'
import { DEMO_TOKEN, startDemo, type DemoHandle } from '../demo/start.mjs'
import { expect, test, type ApiHandle } from './fixtures'

// a 1280 × 800 layout, drawn at 0.75 so that the screenshot stays small
test.use({ viewport: { width: 1280, height: 800 }, deviceScaleFactor: 0.75 })

/** Collects what would show the page breaking: CSP or Trusted Types violations and uncaught errors. */
async function watchProblems(page: Page): Promise<string[]> {
  const problems: string[] = []
  await page.addInitScript(() => {
    document.addEventListener('securitypolicyviolation', (e) => {
      ;(window as any).__violations = [...((window as any).__violations ?? []), `${e.violatedDirective} ${e.blockedURI}`]
    })
  })
  page.on('pageerror', (e) => problems.push(`page error: ${e.message}`))
  page.on('console', (m) => {
    if (m.type() === 'error' && /Content.Security.Policy|Trusted ?Type|TrustedScriptURL|TrustedHTML|Refused to/i.test(m.text()))
      problems.push(`console: ${m.text()}`)
  })
  return problems
}

async function violations(page: Page): Promise<string[]> {
  return page.evaluate(() => (window as any).__violations ?? [])
}

/** What the live view's counters should say, from what the API recorded. */
function expected(api: ApiHandle) {
  const n = { ok: 0, retry: 0, error: 0 }
  for (const r of api.requests)
    r.commands.forEach((_, i) => {
      const s = r.status
      const out = s >= 200 && s < 300 ? (r.results[i]?.status ?? 'retry') : !s || s === 401 || s === 429 || s >= 500 ? 'retry' : 'error'
      n[out as 'ok' | 'retry' | 'error']++
    })
  return n
}

async function expectCountersMatch(page: Page, api: ApiHandle) {
  await expect
    .poll(
      async () => {
        const n = expected(api)
        return [
          (await page.textContent('#count-sent')) === String(n.ok),
          (await page.textContent('#count-retried')) === String(n.retry),
          (await page.textContent('#count-dropped')) === String(n.error),
        ]
      },
      { message: 'the counters show what the API recorded' },
    )
    .toEqual([true, true, true])
}

/** The live view lists every request the API received (newest first). */
async function expectFeedMatches(page: Page, api: ApiHandle) {
  await expect
    .poll(
      async () => {
        const cards = page.locator('#feed > .req')
        const shown = [await cards.count(), Number(await cards.first().getAttribute('data-seq'))]
        return shown.map((n) => n - api.requests.length)
      },
      { message: 'the live view lists every request the API received (difference in cards, latest seq)' },
    )
    .toEqual([0, 0])
}

/** A command row of the live view, by its text. */
const row = (page: Page, ...texts: string[]) => {
  let l = page.locator('#feed .cmd')
  for (const t of texts) l = l.filter({ hasText: t })
  return l
}

/** Opens a command row and returns its JSON. */
async function commandJson(page: Page, ...texts: string[]) {
  const r = row(page, ...texts).first()
  await r.locator('summary').click()
  return JSON.parse((await r.locator('pre').textContent())!.split('\n\nerrors:')[0])
}

const call = (page: Page, name: string) => page.click(`[data-call="${name}"]`)
/** Clicks the switch of a fault and waits until the API has the fault the switches ask for. */
async function toggle(page: Page, api: ApiHandle, key: string, fault: Record<string, unknown>) {
  await page.click(`label[for="fault-${key}"]`)
  await expect.poll(() => api.fault, { message: `the API's fault after the "${key}" switch` }).toEqual(fault)
}
const anonymousId = (page: Page) => page.evaluate(() => (window as any).analytics.user().anonymousId() as string)
const waiting = async (page: Page) => Number(await page.textContent('#count-waiting'))

test.describe('demo (npm start)', () => {
  let demo: DemoHandle
  let api: ApiHandle

  test.beforeAll(async () => {
    demo = await startDemo()
    api = demo.api!
  })
  test.afterAll(() => demo?.close())

  test.beforeEach(() => api.reset())

  test('every call and every fault switch, and the live view shows what the API received', async ({ page }, testInfo) => {
    test.setTimeout(120_000)
    const problems = await watchProblems(page)

    await test.step('the page: strict CSP with Trusted Types, analytics.js from the snippet, the plugin by script tag', async () => {
      const response = await page.goto(demo.url)
      const csp = response!.headers()['content-security-policy']
      expect(csp).toContain("script-src 'self'")
      expect(csp).toContain("require-trusted-types-for 'script'")
      expect(csp).toContain(`connect-src 'self' ${api.url}`)
      await expect(page.locator('script[src="/demo/snippet.js"]')).toHaveCount(1)
      const tag = page.locator('script[src="/dist/infinario.min.js"]')
      await expect(tag).toHaveAttribute('data-project-token', DEMO_TOKEN)
      await expect(tag).toHaveAttribute('data-api-url', api.url)
      await expect(tag).toHaveAttribute('data-session-timeout-ms', '30000')
      await expect(page.locator('#live .conn')).toHaveText('live')
      await expect(page.locator('#live')).toContainText('a session ends after 30 s without activity')
    })

    await test.step('the snippet page() opens a session: session_start and page_visit reach the API and the live view', async () => {
      await api.waitFor((a) => a.events('page_visit').length === 1 && a.events('session_start').length === 1, 10_000)
      await expect(row(page, 'session_start')).toHaveCount(1)
      await expect(row(page, 'page_visit')).toHaveCount(1)
      // ecommerce is on in the demo: Segment's Product List Viewed arrives as view_category
      await expect(row(page, 'view_category')).toHaveCount(1)
      await expect(page.locator('#sessions .session[data-state="open"]')).toHaveCount(1)
      await expect(page.locator('#call-log .log-row[data-method="page"]')).toHaveCount(1)
    })

    const cookie = await anonymousId(page)

    await test.step('identify: nested traits flattened, "." and "$" in keys replaced', async () => {
      await call(page, 'identify')
      await expect(page.locator('.code')).toContainText("analytics.identify('ada-1815'")
      const c = await api.waitFor((a) => a.customers().find((x) => x.ids.registered === 'ada-1815' && x.properties?.name))
      expect(c).toEqual({
        // the demo's customerIds add the e-mail trait as email_id
        ids: { registered: 'ada-1815', cookie, email_id: 'ada@example.com' },
        company_id: DEMO_TOKEN,
        project_id: DEMO_TOKEN,
        properties: {
          name: 'Ada Lovelace',
          email: 'ada@example.com',
          plan: 'pro',
          address_city: 'London',
          address_post_code: 'W1J 7NT',
          loyalty_tier: 'gold',
          _credit: 42,
        },
      })
      await expect(row(page, 'update customer', 'ada-1815')).toHaveCount(1)
      expect((await commandJson(page, 'update customer')).data).toEqual(c)
      await expect(page.locator('.identity')).toContainText('registered: ada-1815')
    })

    await test.step('track', async () => {
      await call(page, 'track')
      const e = await api.waitFor((a) => a.events('Coupon Applied')[0])
      expect(e.customer_ids).toEqual({ registered: 'ada-1815', cookie })
      expect(e.properties).toMatchObject({ coupon: 'SPRING10', discount_percent: 10, discount_amount: 1.8 })
      await expect(row(page, 'Coupon Applied', 'ok')).toHaveCount(1)
    })

    await test.step('page', async () => {
      await call(page, 'page')
      await api.waitFor((a) => a.events('page_visit').some((e) => e.properties.name === 'Lookbook' && e.properties.category === 'Shop'))
      await expect(row(page, 'page_visit')).toHaveCount(2)
    })

    await test.step('screen', async () => {
      await call(page, 'screen')
      const e = await api.waitFor((a) => a.events('screen_visit')[0])
      expect(e.properties).toMatchObject({ screen_name: 'Wishlist', items: 3 })
      await expect(row(page, 'screen_visit')).toHaveCount(1)
    })

    await test.step('alias: merges the anonymous and the registered customer', async () => {
      await call(page, 'alias')
      const c = await api.waitFor((a) => a.customers().find((x) => !x.properties || !Object.keys(x.properties).length))
      expect(c!.ids).toEqual({ registered: 'ada-1815', cookie })
      await expect(row(page, 'merge ids', 'ada-1815')).toHaveCount(1)
    })

    await test.step('group', async () => {
      await call(page, 'group')
      const c = await api.waitFor((a) => a.customers().find((x) => x.properties?.group_id === 'acme'))
      expect(c!.properties).toMatchObject({
        group_id: 'acme',
        group_name: 'Acme Corp',
        group_plan: 'enterprise',
        group_address_country: 'CZ',
      })
      await expect(row(page, 'group acme')).toHaveCount(1)
    })

    await test.step('your calls: every call was sent, none is left in the outbox', async () => {
      for (const m of ['identify', 'track', 'page', 'screen', 'alias', 'group'])
        await expect(page.locator(`#call-log .log-row[data-method="${m}"][data-status="sent"]`).first()).toBeVisible()
      await expect(page.locator('#count-waiting')).toHaveText('0')
      await expectCountersMatch(page, api)
    })

    await test.step('reset: session_end with the old identity; the timeline closes the bar', async () => {
      await call(page, 'reset')
      const end = await api.waitFor((a) => a.events('session_end')[0])
      expect(end.customer_ids).toEqual({ registered: 'ada-1815', cookie })
      expect(end.properties.duration).toBeGreaterThanOrEqual(0)
      await expect(page.locator('#sessions .session[data-state="closed"]')).toHaveCount(1)
      await expect(row(page, 'session_end')).toHaveCount(1)
      expect(await anonymousId(page)).not.toBe(cookie)
      await expect(page.locator('#call-log .log-row[data-method="reset"]')).toHaveCount(1)
      // the next page call opens a new session, for the new anonymous visitor
      await call(page, 'page')
      await api.waitFor((a) => a.events('session_start').length === 2)
      await expect(page.locator('#sessions .session[data-state="open"]')).toHaveCount(1)
      await expect(page.locator('#sessions .session')).toHaveCount(2)
    })

    await test.step('fault "API down": the call waits in the outbox, arrives once the API is back', async () => {
      await toggle(page, api, 'down', { down: true })
      await expect(page.locator('#fault-down')).toBeChecked()
      const before = api.events('Coupon Applied').length
      await call(page, 'track')
      await api.waitFor((a) => a.requests.some((r) => r.status === 0), 10_000)
      await expect(page.locator('#feed .req[data-status="0"]').first()).toContainText('no answer')
      await expect(page.locator('#call-log .log-row[data-status="retrying"]')).toHaveCount(1)
      expect(await waiting(page)).toBeGreaterThanOrEqual(1)
      expect(api.events('Coupon Applied')).toHaveLength(before)
      await toggle(page, api, 'down', {})
      await api.waitFor((a) => a.events('Coupon Applied').length === before + 1, 15_000)
      await expect(page.locator('#count-waiting')).toHaveText('0')
      await expect(page.locator('#call-log .log-row[data-status="retrying"]')).toHaveCount(0)
    })

    await test.step('fault "HTTP 503": the same, with a 503 answer', async () => {
      await toggle(page, api, 'status', { status: 503 })
      const before = api.events('screen_visit').length
      await call(page, 'screen')
      await api.waitFor((a) => a.requests.some((r) => r.status === 503), 10_000)
      await expect(page.locator('#feed .req[data-status="503"]').first()).toContainText('HTTP 503')
      expect(await waiting(page)).toBeGreaterThanOrEqual(1)
      await toggle(page, api, 'status', {})
      await api.waitFor((a) => a.events('screen_visit').length === before + 1, 15_000)
      await expect(page.locator('#count-waiting')).toHaveText('0')
    })

    await test.step('fault "per-command retry": only the commands answered retry are sent again', async () => {
      await toggle(page, api, 'retryEvery', { retryEvery: 3 })
      const n = api.events('Coupon Applied').length
      for (let i = 0; i < 3; i++) await call(page, 'track')
      await api.waitFor((a) => a.requests.some((r) => r.results.some((x) => x.status === 'retry')), 10_000)
      await expect(page.locator('#feed .req[data-status="200"] .pill.s-retry').first()).toHaveText('retry')
      await toggle(page, api, 'retryEvery', {})
      await api.waitFor((a) => a.events('Coupon Applied').length === n + 3, 15_000)
      await expect(page.locator('#count-waiting')).toHaveText('0')
    })

    await test.step('fault "slow API": the call waits while the answer takes 2 s', async () => {
      await toggle(page, api, 'delayMs', { delayMs: 2000 })
      const n = api.events('page_visit').length
      await call(page, 'page')
      await expect.poll(() => waiting(page), { timeout: 3000 }).toBeGreaterThanOrEqual(1)
      await api.waitFor((a) => a.events('page_visit').length === n + 1, 10_000)
      await expect(page.locator('#count-waiting')).toHaveText('0')
      await toggle(page, api, 'delayMs', {})
    })

    await test.step('every switch reflects the API: set from outside, it shows', async () => {
      api.setFault({ status: 503 })
      await expect(page.locator('#fault-status')).toBeChecked()
      await expect(page.locator('#live')).toHaveAttribute('data-fault', 'status')
      api.setFault({})
      await expect(page.locator('#fault-status')).not.toBeChecked()
    })

    await test.step("the product page: the shop's own events, and the live view keeps the history", async () => {
      await page.click('.card-link >> nth=1')
      await expect(page).toHaveURL(/\/product\.html\?p=tote$/)
      await expect(page.locator('#product h1')).toHaveText('Linen Tote')
      // ecommerce is on in the demo: Product Viewed arrives as view_item, Product Added as cart_update,
      // Buy now (the product and the cart) as checkout, then purchase and its purchase_item
      await api.waitFor(
        (a) => a.events('view_item').length === 1 && a.events('page_visit').some((e) => e.properties.path === '/product.html'),
        10_000,
      )
      await page.click('#product >> text=Add to cart')
      await page.click('#product >> text=Buy now')
      const order = await api.waitFor((a) => a.events('purchase')[0])
      expect(order.properties).toMatchObject({ total_price: 48, total_quantity: 2, local_currency: 'EUR', purchase_status: 'success' })
      await api.waitFor((a) => a.events('purchase_item').length === 1 && a.events('checkout').length === 1)
      expect(api.events('purchase_item')[0].properties).toMatchObject({ title: 'Linen Tote', quantity: 2, total_price: 48 })
      await expect(row(page, 'purchase_item')).toHaveCount(1)
      await api.waitFor((a) => a.events('cart_update').length === 1 && a.events('Product Clicked').length === 1)
      await expect(page.locator('#cart b')).toHaveText('0')
      await expectFeedMatches(page, api)
      await expectCountersMatch(page, api)
      await expect(page.locator('#count-waiting')).toHaveText('0')
    })

    await test.step('nothing lost, nothing doubled, nothing rejected', async () => {
      expect(api.duplicates(), api.summary('duplicates')).toEqual([])
      expect(expected(api).error, api.summary('commands answered error')).toBe(0)
      expect(api.preflights).toBe(0)
      expect(problems).toEqual([])
      expect(await violations(page)).toEqual([])
    })

    await test.step('screenshot: the API down, a call waiting in the outbox', async () => {
      await page.goto(demo.url)
      await expect(page.locator('#live .conn')).toHaveText('live')
      const customers = api.customers().length
      await call(page, 'identify')
      await api.waitFor((a) => a.customers().length > customers)
      await toggle(page, api, 'down', { down: true })
      const failed = api.requests.filter((r) => r.status === 0).length
      await call(page, 'track')
      await api.waitFor((a) => a.requests.filter((r) => r.status === 0).length > failed, 10_000)
      await expectFeedMatches(page, api)
      await expect(page.locator('#count-waiting')).toHaveText('1')
      await page.locator('#live').evaluate((el) => el.scrollTo(0, 0))
      const path = join(testInfo.project.outputDir, 'demo.png')
      await page.screenshot({ path })
      await testInfo.attach('demo', { path, contentType: 'image/png' })
      await toggle(page, api, 'down', {})
      await expect(page.locator('#count-waiting')).toHaveText('0', { timeout: 15_000 })
      expect(api.duplicates(), api.summary('duplicates')).toEqual([])
      expect(problems).toEqual([])
      expect(await violations(page)).toEqual([])
    })

    await test.step('Clear: empties the API records and the live view', async () => {
      await page.click('#clear')
      await expect(page.locator('#feed .req')).toHaveCount(0)
      expect(api.requests).toEqual([])
      for (const id of ['#count-sent', '#count-retried', '#count-dropped']) await expect(page.locator(id)).toHaveText('0')
      await expect(page.locator('#sessions .session')).toHaveCount(0)
      await expect(page.locator('#call-log .log-row')).toHaveCount(0)
    })
  })

  test('sessions close on their own after the inactivity timeout, and the timeline shows it', async ({ page }) => {
    const quick = await startDemo({ sessionTimeoutMs: 3000 })
    try {
      await page.goto(quick.url)
      await expect(page.locator('#live')).toContainText('a session ends after 3 s without activity')
      await expect(page.locator('#sessions .session[data-state="open"]')).toHaveCount(1, { timeout: 10_000 })
      await expect(page.locator('#sessions .session[data-state="closed"]')).toHaveCount(1, { timeout: 15_000 })
      const end = quick.api!.events('session_end')
      expect(end).toHaveLength(1)
      await expect(page.locator('#sessions .session[data-state="closed"] .pill')).toContainText('ended')
    } finally {
      await quick.close()
    }
  })
})

/** Runs `node demo/start.mjs` and returns the URL it prints. */
async function launch(env: Record<string, string> = {}): Promise<{ child: ChildProcess; url: string; output: () => string }> {
  const child = spawn(process.execPath, ['demo/start.mjs'], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] })
  let out = ''
  child.stdout!.on('data', (d) => (out += d))
  child.stderr!.on('data', (d) => (out += d))
  const url = await new Promise<string>((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`no URL printed within 10 s:\n${out}`)), 10_000)
    const look = () => {
      const m = /Open\s+(?:\x1b\[1m)?(http:\/\/127\.0\.0\.1:\d+\/)/.exec(out)
      if (m) (clearTimeout(t), resolve(m[1]))
    }
    child.stdout!.on('data', look)
    child.on('exit', (code) => (clearTimeout(t), reject(new Error(`exited with ${code}:\n${out}`))))
  })
  return { child, url, output: () => out }
}

const exited = (child: ChildProcess) => new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)))

test.describe('npm start', () => {
  test('prints the URL, serves the demo and the local API, stops cleanly on Ctrl-C', async () => {
    const { child, url, output } = await launch({ INFINARIO_PROJECT_TOKEN: '', INFINARIO_API_URL: '' })
    const html = await fetch(url)
    expect(html.status).toBe(200)
    expect(html.headers.get('content-security-policy')).toContain("script-src 'self'")
    const apiUrl = /data-api-url="([^"]+)"/.exec(await html.text())![1]
    expect(apiUrl).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/)
    expect(output()).toContain('Nothing leaves this machine')
    expect((await fetch(apiUrl + '/__control/state')).status).toBe(200)
    const code = exited(child)
    child.kill('SIGINT')
    expect(await code).toBe(0)
    expect(output()).toContain('stopped')
    await expect(fetch(url)).rejects.toThrow()
    await expect(fetch(apiUrl + '/__control/state')).rejects.toThrow()
  })

  test('with INFINARIO_PROJECT_TOKEN and INFINARIO_API_URL it sends to that API instead', async ({ page }) => {
    const other = await startApi({ token: 'remote-project-token' })
    const { child, url } = await launch({ INFINARIO_PROJECT_TOKEN: 'remote-project-token', INFINARIO_API_URL: other.url })
    try {
      await page.goto(url)
      await expect(page.locator('#live .conn')).toHaveText('remote')
      await expect(page.locator('#live')).toContainText(other.url)
      await other.waitFor((a) => a.events('page_visit').length === 1, 10_000)
      expect(other.events('page_visit')[0].project_id).toBe('remote-project-token')
      await expect(page.locator('#feed .req').first()).toContainText('HTTP 200')
    } finally {
      const code = exited(child)
      child.kill('SIGTERM')
      expect(await code).toBe(0)
      await other.close()
    }
  })

  test('refuses half a remote configuration, naming what is missing', async () => {
    const child = spawn(process.execPath, ['demo/start.mjs'], {
      env: { ...process.env, INFINARIO_PROJECT_TOKEN: 'x', INFINARIO_API_URL: '' },
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    let err = ''
    child.stderr!.on('data', (d) => (err += d))
    expect(await exited(child)).toBe(1)
    expect(err).toContain('INFINARIO_API_URL is missing')
  })
})
