/**
 * End-to-end: what depends on the analytics-next version that hosts the plugin (SPEC §8). The site
 * serves the analytics-next of $ANALYTICS_NEXT_DIR (`npm run test:e2e` runs this spec against the
 * lowest supported version and the latest; `npm run test:matrix` against the versions in between).
 */
import { expect, settle, test } from './fixtures'

/** The first analytics-next whose own track() accepts a BigInt property (earlier ones reject the event). */
const BIGINT_SINCE = '1.68.0'

/** a < b for x.y.z versions */
const older = (a: string, b: string) => {
  const [x, y] = [a, b].map((v) => v.split('.').map(Number))
  for (let i = 0; i < 3; i++) if (x[i] !== y[i]) return x[i] < y[i]
  return false
}

test.describe('analytics-next host (SPEC §8)', () => {
  test('the page runs the analytics-next version under test', async ({ page, site, openPage }) => {
    await openPage(page)
    expect(await page.evaluate(() => (window as any).analytics.VERSION)).toBe(site.analyticsNextVersion)
  })

  test('track with a BigInt property: the event arrives once, the BigInt as its decimal string', async ({ page, site, api, openPage }) => {
    test.skip(
      older(site.analyticsNextVersion, BIGINT_SINCE),
      `analytics-next ${site.analyticsNextVersion} rejects an event with a BigInt property in its own track(), ` +
        `before any destination sees it (accepted since ${BIGINT_SINCE}); a host limit, see the README`,
    )
    await openPage(page)
    const c = await page.evaluate(async () => {
      const ctx = await (window as any).analytics.track('Big Number', { big: 2n ** 64n, small: 1n, plan: 'pro' })
      return { messageId: ctx.event.messageId as string }
    })
    await settle(page, api)
    const events = api.events('Big Number')
    expect(events, api.summary()).toHaveLength(1)
    expect(events[0].properties).toMatchObject({ big: '18446744073709551616', small: '1', plan: 'pro', message_id: c.messageId })
    expect(api.duplicates()).toEqual([])
  })
})
