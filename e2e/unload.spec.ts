/**
 * End-to-end, every engine: a track, then the tab closed at once, many times, each time in a fresh
 * profile (a new visitor). Firefox aborts the script of a closing tab at any line of pagehide or
 * visibilitychange, inside sendBeacon too (before or after the beacon left), but lets beforeunload
 * finish: the plugin must beacon there, and its later unloads must not send the same records again.
 * Each close must deliver its event exactly once, by the path it must take: the closing tab's own
 * beacon or keepalive request when analytics-next had handed the event to the plugin before the
 * close, else analytics-next's replay on the next page.
 *
 * E2E_CLOSE_LOOPS sets the number of closes (default: 20 in Firefox, 10 elsewhere).
 */
import { deliveryPath, expect, settle, test, type ApiHandle, type DeliveryPath, type Driver, type Open, type OpenOptions } from './engine'

const loops = (engine: string) => Number(process.env.E2E_CLOSE_LOOPS) || (engine === 'firefox' ? 20 : 10)

type Close = DeliveryPath & { key: string; arrived: number }
/** What a close loop uses of a test's fixtures. */
interface CloseFixtures {
  driver: Driver
  api: ApiHandle
  open: Open
}

/** Closes `n` tabs right after a track, each in a fresh profile; what happened to each event. */
async function closeTabs({ driver, api, open }: CloseFixtures, n: number): Promise<Close[]> {
  const closes: Close[] = []
  for (let i = 0; i < n; i++) {
    api.reset()
    const key = `close-${i}`
    const profile = await driver.newProfile()
    try {
      const tab = await profile.newTab()
      await open(tab, { query: { trace: 'closing' } })
      // the API is known healthy, so the plugin may use a beacon
      await settle(tab, api)
      await tab.evaluate((key) => {
        ;(window as any).analytics.track('closing', { key })
      }, key)
      await tab.close()
      const openNext = async (options?: OpenOptions) => {
        const next = await profile.newTab()
        await open(next, options)
        return next
      }
      const path = await deliveryPath(api, openNext, 'closing', key)
      const arrived = api.events('closing').filter((e) => e.properties.key === key).length
      closes.push({ ...path, key, arrived })
    } finally {
      await profile.close()
    }
  }
  return closes
}

/** One line per test: how many arrived how often, by which path. */
function summary(engine: string, closes: Close[]): string {
  const counts = (pick: (close: Close) => string) => {
    const tally = new Map<string, number>()
    for (const close of closes) tally.set(pick(close), (tally.get(pick(close)) ?? 0) + 1)
    return [...tally].map(([what, count]) => `${what} ${count}`).join(', ')
  }
  return `${engine}: ${closes.length} closes; arrived: ${counts((close) => `${close.arrived}×`)}; paths: ${counts((close) => close.via)}; hook before the close: ${counts((close) => String(close.hookBeforeClose))}`
}

/** Every close delivered its event once, by the closing tab when the plugin had it before the close. */
function expectEachOnceByItsPath(engine: string, closes: Close[]) {
  const line = summary(engine, closes)
  console.log(line)
  test.info().annotations.push({ type: 'closes', description: line })
  const wrong = closes.filter((close) => close.arrived !== 1 || close.via !== (close.hookBeforeClose ? 'unload' : 'replay'))
  expect(
    wrong.map((close) => `${close.key}: arrived ${close.arrived}×; ${close.describe}`),
    'closes whose event did not arrive exactly once by the path it must take',
  ).toEqual([])
}

test.describe('closing a tab right after a track (SPEC §6)', () => {
  test('many closes, each in a fresh profile: every event arrives exactly once, by the path it must take', async ({
    driver,
    engine,
    api,
    open,
  }) => {
    const n = loops(engine)
    // a bound for a hang, not a speed check
    test.setTimeout(n * 45_000)
    const closes = await closeTabs({ driver, api, open }, n)
    expectEachOnceByItsPath(engine, closes)
  })
})
