import { describe, expect, it } from 'vitest'
import { contextExtras, sessionProps } from '../../src/mapping/context'
import { CHROME_UA, context, EXTRAS, URL_ } from './fixtures'

describe('contextExtras (SPEC §4)', () => {
  it('maps an analytics-next context, in this order, omitting the empty referrer', () => {
    const out = contextExtras(context())
    expect(out).toEqual(EXTRAS)
    expect(Object.keys(out)).toEqual(Object.keys(EXTRAS))
  })

  it('includes a non-empty referrer', () => {
    const c = context()
    c.page.referrer = 'https://google.com/'
    expect(contextExtras(c)).toMatchObject({ referrer: 'https://google.com/' })
    expect(Object.keys(contextExtras(c)).slice(0, 4)).toEqual(['location', 'path', 'referrer', 'title'])
  })

  it('omits what is missing', () => {
    expect(contextExtras({ userAgent: CHROME_UA })).toEqual({ user_agent: CHROME_UA, browser: 'Chrome', os: 'Windows', device: 'desktop' })
    expect(contextExtras({ page: { url: URL_, title: null }, campaign: { source: 'x' }, library: {} })).toEqual({
      location: URL_,
      utm_source: 'x',
    })
    expect(contextExtras({})).toEqual({})
  })

  it('applies the property rules to context values', () => {
    expect(contextExtras({ page: { title: 'x'.repeat(20000), path: { 'a.b': 1 } }, locale: 1n })).toEqual({
      path_a_b: 1,
      title: 'x'.repeat(16384),
      locale: '1',
    })
  })

  it('never throws on hostile contexts', () => {
    const boom = () => {
      throw new Error('no')
    }
    const hostile = Object.defineProperty({ locale: 'en' }, 'page', { get: boom })
    for (const c of [null, undefined, 'str', 5, [], hostile, new Proxy({}, { get: boom }), { page: new Proxy({}, { get: boom }) }])
      expect(() => contextExtras(c)).not.toThrow()
    expect(contextExtras(hostile)).toEqual({})
  })
})

describe('sessionProps (SPEC §5)', () => {
  it('keeps location, path, referrer, utm_*, browser, os and device', () => {
    const c = context()
    c.page.referrer = 'https://google.com/'
    expect(sessionProps(c)).toEqual({
      location: URL_,
      path: '/p',
      referrer: 'https://google.com/',
      utm_source: 'news',
      utm_medium: 'email',
      utm_campaign: 'spring',
      utm_term: 'shoes',
      utm_content: 'banner',
      browser: 'Chrome',
      os: 'Windows',
      device: 'desktop',
    })
  })

  it('gives {} for a missing context', () => {
    expect(sessionProps(undefined)).toEqual({})
  })
})
