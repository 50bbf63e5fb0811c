/** Realistic analytics-next events and context (Chrome 131 on Windows) for the mapping tests. */
import type { MapOptions, SegmentEvent } from '../../src/mapping/types'
import { vi } from 'vitest'

export const CHROME_UA = 'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36'

export const URL_ = 'https://shop.example/p?utm_source=news&utm_medium=email&utm_campaign=spring&utm_term=shoes&utm_content=banner'

export const context = () => ({
  page: { path: '/p', referrer: '', search: URL_.slice(URL_.indexOf('?')), title: 'Shop', url: URL_ },
  userAgent: CHROME_UA,
  userAgentData: {
    brands: [
      { brand: 'Google Chrome', version: '131' },
      { brand: 'Chromium', version: '131' },
      { brand: 'Not_A Brand', version: '24' },
    ],
    mobile: false,
    platform: 'Windows',
  },
  locale: 'en-US',
  library: { name: 'analytics.js', version: 'next-1.84.3' },
  campaign: { source: 'news', medium: 'email', name: 'spring', term: 'shoes', content: 'banner' },
  timezone: 'Europe/Prague',
})

/** contextExtras(context()), in order; the empty referrer is omitted. */
export const EXTRAS = {
  location: URL_,
  path: '/p',
  title: 'Shop',
  utm_source: 'news',
  utm_medium: 'email',
  utm_campaign: 'spring',
  utm_term: 'shoes',
  utm_content: 'banner',
  user_agent: CHROME_UA,
  browser: 'Chrome',
  os: 'Windows',
  device: 'desktop',
  locale: 'en-US',
  timezone: 'Europe/Prague',
  library_name: 'analytics.js',
  library_version: 'next-1.84.3',
}

export const TOKEN = '0c4a1f4e-2f7b-11ef-9c39-0242ac120002'
export const NOW = 1714557600000 // 2024-05-01T10:00:00.000Z
export const TS = new Date('2024-05-01T09:59:58.123Z')
/** TS in seconds, as Infinario takes a timestamp. */
export const SECONDS = 1714557598.123
/** The messageId of the fixture events. */
export const MID = 'ajs-next-1714557598123-6f1c0b1e-6b2b-4a43-9a0e-0d2f3c1a5b7e'
/** The customer ids of the fixture events: their userId and anonymousId. */
export const IDS = { registered: 'user-42', cookie: 'a1b2c3d4-anon' }

/** The crm/events command a fixture event of `type` becomes, with exactly `properties`. */
export const eventCommand = (type: string, properties: Record<string, unknown>) => ({
  name: 'crm/events',
  data: { customer_ids: IDS, company_id: TOKEN, project_id: TOKEN, type, timestamp: SECONDS, properties },
})

export const options = (o: Omit<Partial<MapOptions>, 'warn' | 'drop'> = {}) => ({
  projectToken: TOKEN,
  eventNames: {} as Record<string, string>,
  now: NOW,
  id: 'fallback-id',
  warn: vi.fn<MapOptions['warn']>(),
  drop: vi.fn<MapOptions['drop']>(),
  ...o,
})

const base = () => ({
  messageId: MID,
  anonymousId: 'a1b2c3d4-anon',
  userId: 'user-42',
  timestamp: TS,
  context: context(),
})

export const track = (e: Partial<SegmentEvent> = {}): SegmentEvent => ({
  ...base(),
  type: 'track',
  event: 'Order Completed',
  properties: { order_id: 'o-1', revenue: 25.5, currency: 'EUR' },
  ...e,
})

/** A page call's properties as analytics-next fills them: page context, the call's properties, category and name. */
export const pageProperties = () => ({
  path: '/p',
  referrer: '',
  search: URL_.slice(URL_.indexOf('?')),
  title: 'Shop',
  url: URL_,
  category: 'Shoes',
  name: 'Product',
})

export const page = (e: Partial<SegmentEvent> = {}): SegmentEvent => ({
  ...base(),
  type: 'page',
  name: 'Product',
  category: 'Shoes',
  properties: pageProperties(),
  ...e,
})
