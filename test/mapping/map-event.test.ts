import { describe, expect, it } from 'vitest'
import { customerIds, mapEvent, sessionEvent, toMs } from '../../src/mapping'
import type { EventCommand, SegmentEvent } from '../../src/mapping/types'
import { context, eventCommand, EXTRAS, IDS, MID, NOW, options, page, pageProperties, SECONDS, TOKEN, track, TS, URL_ } from './fixtures'

describe('identify', () => {
  it('is crm/customers with properties = traits (flattened, sanitized)', () => {
    const o = options()
    const ev: SegmentEvent = {
      type: 'identify',
      userId: 'user-42',
      anonymousId: 'a1b2c3d4-anon',
      messageId: MID,
      timestamp: TS,
      traits: { email: 'jane@example.com', first_name: 'Jane', address: { country: 'UK', city: 'London' }, 'plan.tier': 'pro' },
      context: context(),
    }
    expect(mapEvent(ev, o)).toEqual([
      {
        name: 'crm/customers',
        data: {
          ids: IDS,
          company_id: TOKEN,
          project_id: TOKEN,
          properties: { email: 'jane@example.com', first_name: 'Jane', address_country: 'UK', address_city: 'London', plan_tier: 'pro' },
        },
      },
    ])
    expect(o.warn).not.toHaveBeenCalled()
    expect(o.drop).not.toHaveBeenCalled()
  })

  it('caps traits at 255 keys with one warning', () => {
    const o = options()
    const traits = Object.fromEntries(Array.from({ length: 260 }, (_, i) => ['t' + i, i]))
    const [c] = mapEvent({ type: 'identify', userId: 'u', traits }, o)
    expect(Object.keys(c.data.properties)).toEqual(Object.keys(traits).slice(0, 255))
    expect(o.warn.mock.calls).toEqual([['5 properties dropped: over 255 keys']])
  })

  it('has properties {} without traits', () => {
    expect(mapEvent({ type: 'identify', userId: 'u' }, options())).toEqual([
      { name: 'crm/customers', data: { ids: { registered: 'u' }, company_id: TOKEN, project_id: TOKEN, properties: {} } },
    ])
  })
})

describe('track', () => {
  it('is crm/events with message_id, the event properties, then the context extras', () => {
    const o = options()
    const [c] = mapEvent(track(), o)
    expect(c).toEqual(eventCommand('Order Completed', { message_id: MID, order_id: 'o-1', revenue: 25.5, currency: 'EUR', ...EXTRAS }))
    expect(Object.keys(c.data.properties)).toEqual(['message_id', 'order_id', 'revenue', 'currency', ...Object.keys(EXTRAS)])
    expect('age' in c.data).toBe(false)
    expect(o.warn).not.toHaveBeenCalled()
    expect(o.drop).not.toHaveBeenCalled()
  })

  it('maps the event name through eventNames', () => {
    const [c] = mapEvent(track(), options({ eventNames: { 'Order Completed': 'purchase' } }))
    expect((c as EventCommand).data.type).toBe('purchase')
  })

  it('reads only own eventNames entries', () => {
    for (const event of ['constructor', 'toString', '__proto__', 'hasOwnProperty'])
      expect((mapEvent(track({ event }), options())[0] as EventCommand).data.type).toBe(event)
  })

  it('turns a numeric event name into a string', () => {
    expect((mapEvent(track({ event: 42 }), options())[0] as EventCommand).data.type).toBe('42')
  })

  it.each([[''], [undefined], [null], [{}], [['x']], [NaN], [true]])('drops an event named %j', (event) => {
    const o = options()
    expect(mapEvent(track({ event }), o)).toEqual([])
    expect(o.drop.mock.calls).toEqual([['invalid_event_name']])
  })

  it('still sends "campaign", with a warning that is always shown', () => {
    const o = options()
    expect(mapEvent(track({ event: 'campaign' }), o)).toHaveLength(1)
    expect(o.warn.mock.calls).toEqual([['event type "campaign" is reserved for Infinario campaigns', true]])
    const o2 = options({ eventNames: { 'Email Opened': 'campaign' } })
    expect((mapEvent(track({ event: 'Email Opened' }), o2)[0] as EventCommand).data.type).toBe('campaign')
    expect(o2.warn).toHaveBeenCalledWith('event type "campaign" is reserved for Infinario campaigns', true)
    const o3 = options({ eventNames: { campaign: 'newsletter' } })
    mapEvent(track({ event: 'campaign' }), o3)
    expect(o3.warn).not.toHaveBeenCalled()
  })

  it("lets the event's own property win over a context extra, in the event's position", () => {
    const [c] = mapEvent(track({ properties: { path: '/own', x: 1 } }), options())
    expect(c.data.properties.path).toBe('/own')
    expect(Object.keys(c.data.properties).slice(0, 4)).toEqual(['message_id', 'path', 'x', 'location'])
  })

  it.each([undefined, '', null, { id: 'x' }])('an event with messageId %j gets the fallback message_id', (messageId) => {
    const [c] = mapEvent(track({ messageId }), options())
    expect(c.data.properties.message_id).toBe('fallback-id')
  })

  it('puts message_id first and overrides a user property of that name', () => {
    const o = options()
    const [c] = mapEvent(track({ properties: { a: 1, message_id: 'mine' } }), o)
    expect(c.data.properties.message_id).toBe(MID)
    expect(Object.keys(c.data.properties).slice(0, 2)).toEqual(['message_id', 'a'])
    expect(o.warn.mock.calls).toEqual([['duplicate key dropped: message_id']])
  })

  it('keeps message_id and 253 other keys, own ones first, leaving one slot for session_id', () => {
    const o = options()
    const props = Object.fromEntries(Array.from({ length: 300 }, (_, i) => ['p' + i, i]))
    const [c] = mapEvent(track({ properties: props }), o)
    expect(Object.keys(c.data.properties)).toEqual(['message_id', ...Object.keys(props).slice(0, 253)])
    expect(o.warn.mock.calls).toEqual([[`${47 + Object.keys(EXTRAS).length} properties dropped: over 255 keys`]])
    c.data.properties.session_id = 's'
    expect(Object.keys(c.data.properties)).toHaveLength(255)
  })

  it('fills the free slots with context extras in order', () => {
    const o = options()
    const props = Object.fromEntries(Array.from({ length: 250 }, (_, i) => ['p' + i, i]))
    const [c] = mapEvent(track({ properties: props }), o)
    expect(Object.keys(c.data.properties)).toEqual(['message_id', ...Object.keys(props), ...Object.keys(EXTRAS).slice(0, 3)])
    expect(o.warn.mock.calls).toEqual([[`${Object.keys(EXTRAS).length - 3} properties dropped: over 255 keys`]])
  })

  it('applies the property rules to event properties', () => {
    const cyc: Record<string, unknown> = { a: 1 }
    cyc.me = cyc
    const [c] = mapEvent(
      track({ properties: { 'a.b': { c$: [undefined, 1n] }, when: TS, n: NaN, f: () => 1, cyc }, context: {} }),
      options(),
    )
    expect(c.data.properties).toEqual({
      message_id: MID,
      a_b_c_: [null, '1'],
      when: TS.toISOString(),
      n: null,
      cyc_a: 1,
      cyc_me: '[Circular]',
    })
  })

  it('does not change the event', () => {
    const ev = track({ properties: { 'a.b': 1, nested: { c: 2 } } })
    const copy = structuredClone(ev)
    mapEvent(ev, options())
    expect(ev).toEqual(copy)
  })
})

describe('page and screen', () => {
  it('page is crm/events "page_visit" with the page properties, name, category and the context extras', () => {
    const o = options()
    const [c] = mapEvent(page(), o)
    // the page's own path and title win over the (equal) context extras
    expect(c).toEqual(eventCommand('page_visit', Object.assign({ message_id: MID, ...pageProperties() }, EXTRAS)))
    expect(Object.keys(c.data.properties).slice(0, 9)).toEqual([
      'message_id',
      'path',
      'referrer',
      'search',
      'title',
      'url',
      'category',
      'name',
      'location',
    ])
    expect(o.drop).not.toHaveBeenCalled()
  })

  it('page adds name and category from the call when the properties lack them', () => {
    const [c] = mapEvent(page({ properties: { url: URL_ }, context: {} }), options())
    expect(c.data.properties).toEqual({ message_id: MID, url: URL_, name: 'Product', category: 'Shoes' })
    expect(Object.keys(c.data.properties)).toEqual(['message_id', 'url', 'name', 'category'])
  })

  it('page without a name or category has neither', () => {
    const [c] = mapEvent(page({ name: undefined, category: undefined, properties: {}, context: {} }), options())
    expect(c.data.properties).toEqual({ message_id: MID })
  })

  it('screen is crm/events "screen_visit" with screen_name', () => {
    const ev: SegmentEvent = { ...page(), type: 'screen', name: 'Checkout', category: 'Cart', properties: { step: 2 } }
    const [c] = mapEvent(ev, options())
    expect(c).toEqual(
      eventCommand('screen_visit', { message_id: MID, step: 2, screen_name: 'Checkout', name: 'Checkout', category: 'Cart', ...EXTRAS }),
    )
    expect(Object.keys(c.data.properties).slice(0, 5)).toEqual(['message_id', 'step', 'screen_name', 'name', 'category'])
  })

  it('page and screen ignore the event field', () => {
    expect((mapEvent(page({ event: 'x' }), options())[0] as EventCommand).data.type).toBe('page_visit')
  })
})

describe('alias', () => {
  const alias = (e: Partial<SegmentEvent> = {}): SegmentEvent => ({
    type: 'alias',
    userId: 'user-42',
    previousId: 'a1b2c3d4-anon',
    anonymousId: 'a1b2c3d4-anon',
    messageId: MID,
    timestamp: TS,
    context: context(),
    ...e,
  })

  it('is crm/customers with registered = userId, cookie = previousId and no properties', () => {
    const o = options()
    expect(mapEvent(alias(), o)).toEqual([
      { name: 'crm/customers', data: { ids: IDS, company_id: TOKEN, project_id: TOKEN, properties: {} } },
    ])
    expect(o.warn).not.toHaveBeenCalled()
  })

  it('uses previousId, not anonymousId, as the cookie; a known cookie gives no warning', () => {
    const o = options({ knownCookie: (id) => id == 'old-anon' })
    expect(mapEvent(alias({ previousId: 'old-anon' }), o)[0]).toEqual({
      name: 'crm/customers',
      data: { ids: { registered: 'user-42', cookie: 'old-anon' }, company_id: TOKEN, project_id: TOKEN, properties: {} },
    })
    expect(o.warn).not.toHaveBeenCalled()
  })

  it('sends an unknown previousId anyway, with a warning', () => {
    const o = options({ knownCookie: () => false })
    expect(mapEvent(alias({ previousId: 'user-41' }), o)[0].data).toEqual({
      ids: { registered: 'user-42', cookie: 'user-41' },
      company_id: TOKEN,
      project_id: TOKEN,
      properties: {},
    })
    expect(o.warn.mock.calls).toEqual([['alias: previousId user-41 is not a known anonymousId, it cannot be merged']])
    const o2 = options()
    mapEvent(alias({ previousId: 'user-41' }), o2)
    expect(o2.warn).toHaveBeenCalledTimes(1)
  })

  it('ignores traits and properties', () => {
    expect(mapEvent(alias({ traits: { a: 1 }, properties: { b: 2 } }), options())[0].data.properties).toEqual({})
  })

  it('without previousId merges the current anonymousId, as Segment does', () => {
    const o = options()
    expect(mapEvent(alias({ previousId: undefined }), o)[0].data).toEqual({
      ids: { registered: 'user-42', cookie: 'a1b2c3d4-anon' },
      company_id: TOKEN,
      project_id: TOKEN,
      properties: {},
    })
    expect(o.warn).not.toHaveBeenCalled()
  })
})

describe('group', () => {
  it('is crm/customers with group_id and each trait as group_<key>, flattened one level', () => {
    const o = options()
    const ev: SegmentEvent = {
      type: 'group',
      groupId: 'acme',
      userId: 'user-42',
      anonymousId: 'a1b2c3d4-anon',
      traits: { name: 'Acme Inc', employees: 120, address: { city: 'Brno', geo: { lat: 49.2 } } },
      messageId: MID,
      timestamp: TS,
      context: context(),
    }
    const [c] = mapEvent(ev, o)
    expect(c).toEqual({
      name: 'crm/customers',
      data: {
        ids: IDS,
        company_id: TOKEN,
        project_id: TOKEN,
        properties: {
          group_id: 'acme',
          group_name: 'Acme Inc',
          group_employees: 120,
          group_address_city: 'Brno',
          group_address_geo: { lat: 49.2 },
        },
      },
    })
    expect(Object.keys(c.data.properties)[0]).toBe('group_id')
    expect(o.warn).not.toHaveBeenCalled()
  })

  it('keeps group_id over a trait named id', () => {
    const o = options()
    expect(mapEvent({ type: 'group', groupId: 'g1', userId: 'u', traits: { id: 'other' } }, o)[0].data.properties).toEqual({
      group_id: 'g1',
    })
    expect(o.warn.mock.calls).toEqual([['duplicate key dropped: group_id']])
  })

  it('caps group traits at 255 keys including group_id', () => {
    const o = options()
    const traits = Object.fromEntries(Array.from({ length: 300 }, (_, i) => ['t' + i, i]))
    const [c] = mapEvent({ type: 'group', groupId: 'g1', userId: 'u', traits }, o)
    expect(Object.keys(c.data.properties)).toEqual([
      'group_id',
      ...Object.keys(traits)
        .slice(0, 254)
        .map((k) => 'group_' + k),
    ])
    expect(o.warn.mock.calls).toEqual([['46 properties dropped: over 255 keys']])
  })
})

describe('identity', () => {
  it.each([
    [
      { userId: 'u', anonymousId: 'a' },
      { registered: 'u', cookie: 'a' },
    ],
    [{ anonymousId: 'a' }, { cookie: 'a' }],
    [{ userId: 'u', anonymousId: null }, { registered: 'u' }],
    [{ userId: 42, anonymousId: '' }, { registered: '42' }],
    [{ userId: '', anonymousId: 7.5 }, { cookie: '7.5' }],
    [{ userId: NaN, anonymousId: 'a' }, { cookie: 'a' }],
    [{ userId: { id: 1 }, anonymousId: ['a'] }, undefined],
    [{}, undefined],
  ])('customerIds(%j) = %j', (ev, ids) => {
    expect(customerIds(ev)).toEqual(ids)
    if (ids) expect(Object.keys(customerIds(ev)!)).toEqual(Object.keys(ids))
  })

  it('is on every command', () => {
    for (const type of ['identify', 'track', 'page', 'screen', 'group'] as const) {
      const [c] = mapEvent(track({ type, userId: undefined, groupId: 'g' }), options())
      expect('ids' in c.data ? c.data.ids : c.data.customer_ids).toEqual({ cookie: 'a1b2c3d4-anon' })
    }
  })

  it('drops a call with no id at all', () => {
    for (const type of ['identify', 'track', 'page', 'screen', 'alias', 'group'] as const) {
      const o = options()
      expect(mapEvent(track({ type, userId: null, anonymousId: undefined, previousId: '' }), o)).toEqual([])
      expect(o.drop.mock.calls).toEqual([['no_customer_id']])
    }
  })
})

describe('timestamp', () => {
  it.each<[unknown, number]>([
    [TS, SECONDS],
    ['2024-05-01T09:59:58.123Z', SECONDS],
    [1714557598123, SECONDS],
    ['not a date', NOW / 1000],
    [new Date('x'), NOW / 1000],
    [undefined, NOW / 1000],
    [null, NOW / 1000],
    [Infinity, NOW / 1000],
    [{ valueOf: () => 1 }, NOW / 1000],
  ])('%j -> %d s', (timestamp, s) => {
    expect((mapEvent(track({ timestamp }), options())[0] as EventCommand).data.timestamp).toBe(s)
  })

  it('toMs', () => {
    expect(toMs(TS, NOW)).toBe(TS.getTime())
    expect(toMs('2024-05-01T09:59:58.123Z', NOW)).toBe(TS.getTime())
    expect(toMs(1, NOW)).toBe(1)
    // not after 1970, or invalid: now
    for (const v of [0, -1, new Date(-5e11), '1960-01-01T00:00:00Z', '', NaN, -Infinity]) expect(toMs(v, NOW)).toBe(NOW)
    // in the future (up to the last Date, year 275760): now, so that a session cannot stay open until then
    for (const v of [NOW + 1, new Date(8.64e15), '+275760-09-13T00:00:00.000Z', Infinity]) expect(toMs(v, NOW)).toBe(NOW)
  })
})

describe('size', () => {
  it('drops a command over 800 000 bytes of JSON', () => {
    const o = options()
    const properties = Object.fromEntries(Array.from({ length: 50 }, (_, i) => ['s' + i, 'x'.repeat(16384)]))
    expect(mapEvent(track({ properties }), o)).toEqual([])
    expect(o.drop.mock.calls).toEqual([['too_large', { type: 'Order Completed' }]])
    const o2 = options()
    expect(mapEvent({ type: 'identify', userId: 'u', traits: properties }, o2)).toEqual([])
    expect(o2.drop.mock.calls).toEqual([['too_large', { type: 'identify' }]])
  })

  it('counts UTF-8 bytes, not characters', () => {
    const o = options()
    // 17 × 16 384 "€" = 278 528 characters, 835 584 bytes
    const properties = Object.fromEntries(Array.from({ length: 17 }, (_, i) => ['s' + i, '€'.repeat(16384)]))
    expect(mapEvent(track({ properties }), o)).toEqual([])
    expect(o.drop).toHaveBeenCalledWith('too_large', { type: 'Order Completed' })
    const ascii = Object.fromEntries(Array.from({ length: 17 }, (_, i) => ['s' + i, 'e'.repeat(16384)]))
    expect(mapEvent(track({ properties: ascii }), options())).toHaveLength(1)
  })

  it('drops an event carrying a huge sparse array', () => {
    const o = options()
    const a: unknown[] = []
    a.length = 1e9
    expect(mapEvent(track({ properties: { a } }), o)).toEqual([])
    expect(o.drop.mock.calls).toEqual([['too_large', { type: 'Order Completed' }]])
  })

  it('keeps a command just under the limit', () => {
    const properties = Object.fromEntries(Array.from({ length: 48 }, (_, i) => ['s' + i, 'x'.repeat(16384)]))
    const [c] = mapEvent(track({ properties }), options())
    expect(new TextEncoder().encode(JSON.stringify(c)).length).toBeLessThanOrEqual(800000)
    expect(new TextEncoder().encode(JSON.stringify(c)).length).toBeGreaterThan(780000)
  })
})

describe('hostile events', () => {
  it.each([
    ['null', null],
    ['an unknown type', { type: 'merge', userId: 'u' }],
    [
      'a throwing getter',
      Object.defineProperty({ userId: 'u' }, 'type', {
        get: () => {
          throw new Error('no')
        },
      }),
    ],
  ])('drops %s as invalid_event', (_, ev) => {
    const o = options()
    expect(mapEvent(ev as SegmentEvent, o)).toEqual([])
    expect(o.drop.mock.calls).toEqual([['invalid_event']])
  })

  it('drops a string with exactly one report', () => {
    const o = options()
    expect(mapEvent('track' as unknown as SegmentEvent, o)).toEqual([])
    expect(o.drop).toHaveBeenCalledTimes(1)
  })

  it('maps an event whose properties and context are hostile', () => {
    const boom = () => {
      throw new Error('no')
    }
    const o = options()
    const [c] = mapEvent(track({ properties: new Proxy({}, { ownKeys: boom }), context: new Proxy({}, { get: boom }) }), o)
    expect(c.data.properties).toEqual({ message_id: MID })
  })
})

describe('sessionEvent', () => {
  it('assembles a crm/events command', () => {
    expect(
      sessionEvent('session_end', { cookie: 'a' }, 1714557598123, { message_id: 'm', duration: 12.5, session_id: 's' }, TOKEN),
    ).toEqual({
      name: 'crm/events',
      data: {
        customer_ids: { cookie: 'a' },
        company_id: TOKEN,
        project_id: TOKEN,
        type: 'session_end',
        timestamp: SECONDS,
        properties: { message_id: 'm', duration: 12.5, session_id: 's' },
      },
    })
  })
})
