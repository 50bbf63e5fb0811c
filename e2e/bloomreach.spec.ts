/**
 * End-to-end: what a Bloomreach Engagement project of today needs (SPEC §3, §4.1, §4.2), in Chromium
 * through the standard snippet and the real analytics-next, against the local API:
 *
 *   - the wire: the token as `company_id` and `project_id`, `sdk` / `sdk_version` in every body;
 *   - customer ids: a custom hard id plus `traits.email` as `email_id`, and a per-call id;
 *   - ecommerce: a full order arrives as `purchase` then one `purchase_item` per product, once each,
 *     in order (the plugin added by the script tag with `data-ecommerce`);
 *   - HTTP 403: sending stops, reported once, the queue is kept; after a reload with the API fixed,
 *     everything arrives once;
 *   - the demo: its panel shows the customerIds in use, an order shows as purchase and purchase_item,
 *     and its 403 switch.
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import type { Page } from '@playwright/test'
import { startDemo } from '../demo/start.mjs'
import {
  arrivedIds,
  call,
  expect,
  expectExactlyOnce,
  settle,
  SETTLE,
  tallyIds,
  test,
  TOKEN,
  trackMany,
  waitUntilReady,
  type ApiHandle,
} from './fixtures'

const VERSION: string = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')).version
const MAPPING = { customer_id: 'userId', cookie: 'anonymousId', email_id: 'traits.email' }

/** The commands that reached the API, without the settle markers. */
const reached = (api: ApiHandle) => api.commands.filter((c) => !(c.name === 'crm/events' && c.data.type === SETTLE))

/** The ids of a command that reached the API. */
const idsOf = (c: ApiHandle['commands'][number]) => (c.name === 'crm/customers' ? c.data.ids : c.data.customer_ids)

/** Every request answered 200 with every command `ok`, its body tagged with sdk and sdk_version, its commands with the token twice. */
function expectCleanWire(api: ApiHandle) {
  const bad = api.requests.filter((r) => r.status !== 200 || r.results.some((x) => x.status !== 'ok'))
  expect(bad.length, api.summary('requests with a status other than 200 or a result other than ok')).toBe(0)
  for (const r of api.requests) {
    expect(r.sdk).toBe('analytics-next-infinario')
    expect(r.sdk_version).toBe(VERSION)
    for (const c of r.commands) {
      expect(c.data.company_id).toBe(TOKEN)
      expect(c.data.project_id).toBe(TOKEN)
    }
  }
}

/** What analytics emitted as 'error' in the page (window.e2e.errors). */
function reported(page: Page): Promise<{ code: string; reason: string }[]> {
  return page.evaluate(() => ((window as any).e2e.errors as any[]).map((e) => ({ code: e?.code, reason: e?.reason })))
}

test.describe('customer ids (SPEC §4.1)', () => {
  for (const mode of ['register', 'tag'] as const)
    test(`a custom hard id plus traits.email as email_id, on identify and on later calls (${mode === 'tag' ? 'data-customer-ids' : 'analytics.register'})`, async ({
      page,
      api,
      openPage,
    }) => {
      await openPage(page, { mode, settings: { customerIds: MAPPING } })
      const who = await call(page, 'identify', 'user-77', { email: 'ada@example.com', name: 'Ada' })
      // a track that passes the user's traits in its context (Segment's `context.traits`)
      const withTraits = await call(
        page,
        'track',
        'Newsletter Opened',
        { issue: 12 },
        { context: { traits: { email: 'ada@example.com' } } },
      )
      const plain = await call(page, 'track', 'Button Clicked', { id: 'buy' })
      await settle(page, api)
      expectCleanWire(api)
      const cmds = reached(api)
      expect(cmds.map((c) => (c.name === 'crm/events' ? c.data.type : c.name))).toEqual([
        'crm/customers',
        'Newsletter Opened',
        'Button Clicked',
      ])
      const full = { customer_id: 'user-77', cookie: who.anonymousId, email_id: 'ada@example.com' }
      expect(cmds[0].data).toEqual({
        ids: full,
        company_id: TOKEN,
        project_id: TOKEN,
        properties: { email: 'ada@example.com', name: 'Ada' },
      })
      expect(idsOf(cmds[1])).toEqual(full)
      expect(cmds[1].data.properties?.message_id).toBe(withTraits.messageId)
      // without the trait in the call, no email_id: the call carries the ids it has
      expect(idsOf(cmds[2])).toEqual({ customer_id: 'user-77', cookie: who.anonymousId })
      expect(cmds[2].data.properties?.message_id).toBe(plain.messageId)
      // the default names are not sent
      for (const c of cmds) expect(Object.keys(idsOf(c))).not.toContain('registered')
    })

  test('a per-call id from integrations.Infinario.customerIds, on that call only', async ({ page, api, openPage }) => {
    await openPage(page)
    const cart = await call(
      page,
      'track',
      'Cart Viewed',
      { items: 2 },
      { integrations: { Infinario: { customerIds: { cart_id: 'cart-7' } } } },
    )
    const next = await call(page, 'track', 'Cart Left', {})
    await settle(page, api)
    expectCleanWire(api)
    const [viewed] = api.events('Cart Viewed')
    expect(viewed.customer_ids).toEqual({ cookie: cart.anonymousId, cart_id: 'cart-7' })
    expect(viewed.properties.message_id).toBe(cart.messageId)
    expect(api.events('Cart Left')[0].customer_ids).toEqual({ cookie: next.anonymousId })
  })
})

test.describe('ecommerce (SPEC §4.2)', () => {
  test('a full order by the script tag with data-ecommerce: purchase, then each purchase_item, exactly once and in order', async ({
    page,
    api,
    openPage,
  }) => {
    await openPage(page, { mode: 'tag', settings: { ecommerce: true } })
    expect(await page.locator('script[data-ecommerce]').getAttribute('data-ecommerce')).toBe('true')
    await call(page, 'page')
    const order = await call(page, 'track', 'Order Completed', {
      order_id: 'o-2001',
      affiliation: 'Demo shop',
      total: 46.5,
      revenue: 42,
      shipping: 4.5,
      tax: 7.29,
      discount: 5,
      coupon: 'FERN5',
      currency: 'EUR',
      products: [
        { product_id: 'mug', sku: 'MUG-01', name: 'Stoneware mug', price: 14, quantity: 2, category: 'Kitchen' },
        { product_id: 'fern', sku: 'FERN-02', name: 'Boston fern', price: 19, quantity: 1, category: 'Plants', variant: 'large' },
      ],
    })
    await settle(page, api)
    expectCleanWire(api)
    const shop = api.events().filter((e) => /^purchase/.test(e.type))
    expect(shop.map((e) => [e.type, e.properties.message_id])).toEqual([
      ['purchase', order.messageId],
      ['purchase_item', order.messageId + ':item:0'],
      ['purchase_item', order.messageId + ':item:1'],
    ])
    expect(api.duplicates()).toEqual([])
    expect(api.events('Order Completed')).toEqual([])
    const [purchase, mug, fern] = shop.map((e) => e.properties)
    expect(purchase).toMatchObject({
      purchase_id: 'o-2001',
      purchase_status: 'success',
      total_price: 46.5,
      total_quantity: 3,
      product_list: [
        { product_id: 'mug', quantity: 2 },
        { product_id: 'fern', quantity: 1 },
      ],
      product_ids: ['mug', 'fern'],
      local_currency: 'EUR',
      voucher_code: 'FERN5',
      voucher_value: 5,
      shipping_cost: 4.5,
      tax_value: 7.29,
      affiliation: 'Demo shop',
      revenue: 42,
    })
    expect(mug).toMatchObject({ purchase_id: 'o-2001', product_id: 'mug', title: 'Stoneware mug', price: 14, quantity: 2, total_price: 28 })
    expect(fern).toMatchObject({ product_id: 'fern', variant: 'large', quantity: 1, total_price: 19, local_currency: 'EUR' })
    // in the session the page opened, with the call's timestamp
    const session = api.events('session_start')[0].properties.session_id
    for (const e of shop) {
      expect(e.properties.session_id).toBe(session)
      expect(e.timestamp).toBe(shop[0].timestamp)
    }
    // the request that carried the order, as the local API parsed it: its commands and sdk fields
    const carrier = api.requests.find((r) => r.commands.some((c) => c.data?.type === 'purchase_item'))
    expect(carrier).toBeDefined()
    const body = { commands: carrier!.commands, sdk: carrier!.sdk, sdk_version: carrier!.sdk_version }
    expect(body).toMatchObject({ sdk: 'analytics-next-infinario', sdk_version: VERSION })
    mkdirSync('test-results', { recursive: true })
    writeFileSync('test-results/order-body.json', JSON.stringify(body, null, 2))
    test.info().annotations.push({ type: 'order body', description: JSON.stringify(body) })
  })

  test('without data-ecommerce, Order Completed is a track like any other', async ({ page, api, openPage }) => {
    await openPage(page, { mode: 'tag' })
    const order = await call(page, 'track', 'Order Completed', { order_id: 'o-1', products: [{ product_id: 'mug' }] })
    await settle(page, api)
    expect(api.events('Order Completed').map((e) => e.properties.message_id)).toEqual([order.messageId])
    expect(api.events('purchase')).toEqual([])
  })
})

test.describe('HTTP 403 (SPEC §3)', () => {
  test('stops sending, reports once, keeps the queue; after a reload with the API fixed, all arrive once', async ({
    page,
    api,
    openPage,
  }) => {
    api.setFault({ status: 403 })
    const settings = { flushIntervalMs: 100 }
    await openPage(page, { settings })
    const first = await trackMany(page, 'forbidden', 5, 'f1-')
    await expect
      .poll(async () => (await reported(page)).filter((e) => e.code === 'delivery_failure').length, {
        message: "an analytics 'error' event with code delivery_failure",
      })
      .toBe(1)
    expect(api.requests.map((r) => r.status)).toEqual([403])
    // more calls while stopped: kept, not sent (any request before the fix below is answered 403: counted after the reload)
    const more = await trackMany(page, 'forbidden', 3, 'f2-', 100)
    const errors = (await reported(page)).filter((e) => e.code === 'delivery_failure')
    expect(errors, 'one report').toEqual([{ code: 'delivery_failure', reason: 'unauthorized' }])
    expect(api.commands).toEqual([])
    // the token may track again; the reloaded page sends what the old one kept
    api.setFault(null)
    await page.reload()
    await waitUntilReady(page)
    const ids = [...first, ...more]
    await api.waitFor((a) => arrivedIds(a, ids) === ids.length, 10_000)
    await settle(page, api)
    expectExactlyOnce(api, tallyIds(api, ids), '403 then fixed')
    // how often a stopped outbox sends is a fake-timer unit test; here: the stopped page sent nothing more
    expect(
      api.requests.filter((r) => r.status === 403),
      `requests while the token was refused\n${api.summary()}`,
    ).toHaveLength(1)
    expect((await reported(page)).filter((e) => e.code === 'delivery_failure')).toEqual([])
  })
})

test.describe('the demo (npm start)', () => {
  test('the panel shows the customerIds and ecommerce in use; an order shows as purchase and its purchase_item; the 403 switch', async ({
    page,
  }) => {
    const demo = await startDemo()
    const api = demo.api!
    try {
      await page.goto(demo.url + 'product.html?p=tote')
      await expect(page.locator('#live .conn')).toHaveText('live')
      const ids = page.locator('#setting-customer-ids li')
      await expect(ids).toHaveText(['registered←userId', 'cookie←anonymousId', 'email_id←traits.email'])
      await expect(page.locator('#setting-ecommerce')).toContainText('ecommerce: on')

      // an order of the product and the cart: checkout, purchase, then its purchase_item, in the live view
      await page.click('#product >> text=Add to cart')
      await page.click('#product >> text=Buy now')
      await api.waitFor((a) => a.events('purchase').length === 1 && a.events('purchase_item').length === 1, 10_000)
      await expect(page.locator('#feed .cmd[data-type="purchase"]')).toHaveCount(1)
      await expect(page.locator('#feed .cmd[data-type="purchase"]')).toContainText('2 item(s) · 48 EUR')
      await expect(page.locator('#feed .cmd.derived[data-type="purchase_item"]')).toHaveCount(1)
      await expect(page.locator('#feed .cmd[data-type="purchase_item"]')).toContainText('Linen Tote × 2')
      await expect(page.locator('#feed .cmd[data-type="checkout"]')).toHaveCount(1)

      // HTTP 403: the call waits in the outbox; switched off, it goes with the next page load
      await page.click('label[for="fault-forbidden"]')
      await expect.poll(() => api.fault).toEqual({ forbidden: true })
      const messageId = await page.evaluate(async () => (await (window as any).analytics.track('Wishlist Shared', {})).event.messageId)
      await api.waitFor((a) => a.requests.some((r) => r.status === 403), 10_000)
      await expect(page.locator('#feed .req[data-status="403"]').first()).toContainText('HTTP 403')
      await page.click('label[for="fault-forbidden"]')
      await expect.poll(() => api.fault).toEqual({})
      await page.reload()
      await api.waitFor((a) => a.byMessageId().get(messageId) === 1, 10_000)
      expect(api.duplicates()).toEqual([])
    } finally {
      await demo.close()
    }
  })
})
