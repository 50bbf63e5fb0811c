import { describe, expect, it } from 'vitest'
import { device } from '../../src/mapping/device'
import { CHROME_UA } from './fixtures'

const UA = {
  edge: 'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36 Edg/131.0.0.0',
  opera: 'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36 OPR/116.0.0.0',
  firefoxMac: 'Mozilla/5.0 (Macintosh; Intel Mac OS X 10.15; rv:133.0) Gecko/20100101 Firefox/133.0',
  safariMac: 'Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.6 Safari/605.1.15',
  safariIphone:
    'Mozilla/5.0 (iPhone; CPU iPhone OS 17_6 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.6 Mobile/15E148 Safari/604.1',
  chromeIphone:
    'Mozilla/5.0 (iPhone; CPU iPhone OS 17_6 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) CriOS/131.0.6778.73 Mobile/15E148 Safari/604.1',
  firefoxIphone:
    'Mozilla/5.0 (iPhone; CPU iPhone OS 17_6 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) FxiOS/133.0 Mobile/15E148 Safari/605.1.15',
  safariIpad:
    'Mozilla/5.0 (iPad; CPU OS 17_6 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.6 Mobile/15E148 Safari/604.1',
  chromeAndroid: 'Mozilla/5.0 (Linux; Android 10; K) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Mobile Safari/537.36',
  chromeAndroidTablet: 'Mozilla/5.0 (Linux; Android 10; K) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36',
  samsung:
    'Mozilla/5.0 (Linux; Android 14; SAMSUNG SM-S918B) AppleWebKit/537.36 (KHTML, like Gecko) SamsungBrowser/26.0 Chrome/122.0.0.0 Mobile Safari/537.36',
  edgeAndroid:
    'Mozilla/5.0 (Linux; Android 10; K) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Mobile Safari/537.36 EdgA/131.0.0.0',
  firefoxAndroid: 'Mozilla/5.0 (Android 14; Mobile; rv:133.0) Gecko/133.0 Firefox/133.0',
  firefoxAndroidTablet: 'Mozilla/5.0 (Android 14; Tablet; rv:133.0) Gecko/133.0 Firefox/133.0',
  chromeOS: 'Mozilla/5.0 (X11; CrOS x86_64 14541.0.0) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36',
  firefoxLinux: 'Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0',
  googlebot: 'Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)',
}

describe('device: from the user-agent string', () => {
  it.each([
    ['chrome on Windows', CHROME_UA, 'Chrome', 'Windows', 'desktop'],
    ['edge', UA.edge, 'Edge', 'Windows', 'desktop'],
    ['opera', UA.opera, 'Opera', 'Windows', 'desktop'],
    ['firefox on macOS', UA.firefoxMac, 'Firefox', 'macOS', 'desktop'],
    ['safari on macOS', UA.safariMac, 'Safari', 'macOS', 'desktop'],
    ['safari on iPhone', UA.safariIphone, 'Safari', 'iOS', 'mobile'],
    ['chrome on iPhone', UA.chromeIphone, 'Chrome', 'iOS', 'mobile'],
    ['firefox on iPhone', UA.firefoxIphone, 'Firefox', 'iOS', 'mobile'],
    ['safari on iPad', UA.safariIpad, 'Safari', 'iOS', 'tablet'],
    ['chrome on an Android phone', UA.chromeAndroid, 'Chrome', 'Android', 'mobile'],
    ['chrome on an Android tablet', UA.chromeAndroidTablet, 'Chrome', 'Android', 'tablet'],
    ['samsung internet', UA.samsung, 'Samsung Internet', 'Android', 'mobile'],
    ['edge on Android', UA.edgeAndroid, 'Edge', 'Android', 'mobile'],
    ['firefox on an Android phone', UA.firefoxAndroid, 'Firefox', 'Android', 'mobile'],
    ['firefox on an Android tablet', UA.firefoxAndroidTablet, 'Firefox', 'Android', 'tablet'],
    ['chrome OS', UA.chromeOS, 'Chrome', 'Chrome OS', 'desktop'],
    ['firefox on Linux', UA.firefoxLinux, 'Firefox', 'Linux', 'desktop'],
  ])('%s', (_, ua, browser, os, dev) => {
    expect(device(ua)).toEqual({ browser, os, device: dev })
  })

  it('leaves what it cannot tell undefined; a user agent means "desktop" unless it says otherwise', () => {
    expect(device(UA.googlebot)).toEqual({ browser: undefined, os: undefined, device: 'desktop' })
    expect(JSON.stringify(device(UA.googlebot))).toBe('{"device":"desktop"}')
  })

  it('gives nothing without a user agent', () => {
    expect(JSON.stringify(device(''))).toBe('{}')
    expect(JSON.stringify(device(undefined))).toBe('{}')
    expect(JSON.stringify(device(42))).toBe('{}')
  })
})

describe('device: with userAgentData', () => {
  const brands = [
    { brand: 'Google Chrome', version: '131' },
    { brand: 'Chromium', version: '131' },
    { brand: 'Not_A Brand', version: '24' },
  ]

  it('takes the platform from it', () => {
    expect(device(CHROME_UA, { brands, mobile: false, platform: 'Chrome OS' })).toEqual({
      browser: 'Chrome',
      os: 'Chrome OS',
      device: 'desktop',
    })
  })

  it('falls back to the user agent for an empty or "Unknown" platform', () => {
    expect(device(CHROME_UA, { brands, mobile: false, platform: '' }).os).toBe('Windows')
    expect(device(CHROME_UA, { brands, mobile: false, platform: 'Unknown' }).os).toBe('Windows')
  })

  it('takes mobile from it, but a tablet user agent stays a tablet', () => {
    expect(device(UA.chromeAndroidTablet, { brands, mobile: false, platform: 'Android' }).device).toBe('tablet')
    expect(device(UA.chromeAndroid, { brands, mobile: true, platform: 'Android' }).device).toBe('mobile')
    expect(device(CHROME_UA, { brands, mobile: true, platform: 'Windows' }).device).toBe('mobile')
    expect(device('', { brands, mobile: false, platform: 'Linux' })).toEqual({ os: 'Linux', device: 'desktop' })
  })

  it('ignores malformed userAgentData, and throwing getters', () => {
    expect(device(CHROME_UA, { mobile: 'yes', platform: 7 })).toEqual({ browser: 'Chrome', os: 'Windows', device: 'desktop' })
    const hostile = Object.defineProperty({}, 'platform', {
      get: () => {
        throw new Error('no')
      },
    })
    expect(() => device(CHROME_UA, hostile)).not.toThrow()
  })
})

describe('device: memoized', () => {
  it('computes once for the same user agent and userAgentData', () => {
    const data = { brands: [], mobile: false, platform: 'Windows' }
    const first = device(CHROME_UA, data)
    expect(device(CHROME_UA, data)).toBe(first)
    expect(device(UA.edge, data)).not.toBe(first)
    expect(device(UA.edge, data).browser).toBe('Edge')
  })
})

describe('device: hostile user agents', () => {
  it('stays fast on a huge user agent', () => {
    const t = performance.now()
    expect(device('Android'.repeat(200000)).device).toBe('tablet')
    expect(performance.now() - t).toBeLessThan(200)
  })
})
