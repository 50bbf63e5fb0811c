/**
 * End-to-end, every engine: a track, then the tab closed at once, many times, each time in a fresh
 * profile (a new visitor). Firefox can stop an unload handler inside sendBeacon after the beacon
 * has left (the call never returns); the plugin's second unload (visibilitychange after pagehide)
 * must then not send the same records again. Each close must deliver its event exactly once, by
 * the path it must take: the closing tab's own beacon or keepalive request when analytics-next had
 * handed the event to the plugin before the close, else analytics-next's replay on the next page.
 *
 * E2E_CLOSE_LOOPS sets the number of closes (default: 20 in Firefox, 10 elsewhere).
 */
import { deliveryPath, expect, settle, test, type DeliveryPath, type OpenOptions } from './engine'

const loops = (engine: string) => Number(process.env.E2E_CLOSE_LOOPS) || (engine === 'firefox' ? 20 : 10)

test.describe('closing a tab right after a track (SPEC §6)', () => {
  test('many closes, each in a fresh profile: every event arrives exactly once, by the path it must take', async ({
    driver,
    engine,
    api,
    open,
  }) => {
    // Open in Firefox (README, Browsers): about 1 close in 20 loses its event, because Firefox can stop
    // the pagehide handler inside sendBeacon before the beacon left, and after it left in other runs;
    // no order of journal write and beacon call is safe at every line. Run it with E2E_FIREFOX_CLOSES=1.
    test.fixme(engine === 'firefox' && !process.env.E2E_FIREFOX_CLOSES, 'Firefox loses about 1 close in 20 (open, see README)')
    const n = loops(engine)
    // a bound for a hang, not a speed check
    test.setTimeout(n * 45_000)
    const paths: (DeliveryPath & { key: string; arrived: number })[] = []
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
        paths.push({ ...path, key, arrived })
      } finally {
        await profile.close()
      }
    }
    const counts = (pick: (p: (typeof paths)[number]) => string) =>
      Object.entries(
        paths.reduce<Record<string, number>>((all, p) => {
          all[pick(p)] = (all[pick(p)] ?? 0) + 1
          return all
        }, {}),
      )
        .map(([what, count]) => `${what} ${count}`)
        .join(', ')
    const line = `${engine}: ${n} closes; arrived: ${counts((p) => `${p.arrived}×`)}; paths: ${counts((p) => p.via)}; hook before the close: ${counts((p) => String(p.hookBeforeClose))}`
    console.log(line)
    test.info().annotations.push({ type: 'closes', description: line })
    const wrong = paths.filter((p) => p.arrived !== 1 || p.via !== (p.hookBeforeClose ? 'unload' : 'replay'))
    expect(
      wrong.map((p) => `${p.key}: arrived ${p.arrived}×; ${p.describe}`),
      'closes whose event did not arrive exactly once by the path it must take',
    ).toEqual([])
  })
})
