/**
 * Customer ids (SPEC §4.1): the `customerIds` mapping (id name -> userId | anonymousId |
 * traits.<name>), what counts as a value, alias under the mapped names, per-call literal ids from
 * `integrations.Infinario.customerIds`, and hostile input (traits that are objects, empty strings,
 * numbers, getters that throw, `__proto__`).
 */
import fc from 'fast-check'
import { afterEach, describe, expect, it } from 'vitest'
import { validateCommand } from '../../demo/server/api.mjs'
import { mapEvent } from '../../src/mapping'
import { customerIds, DEFAULT_CUSTOMER_IDS, idValue, readIdMapping, type IdMapping } from '../../src/mapping/ids'
import type { Command, SegmentEvent } from '../../src/mapping/types'
import { options, TOKEN, track } from './fixtures'

const MAPPING: IdMapping = { customer_id: 'userId', cookie: 'anonymousId', email_id: 'traits.email' }

afterEach(() => {
  expect(({} as Record<string, unknown>).polluted).toBeUndefined()
})

/** The ids of the one command `ev` maps to, with `mapping`. */
function idsOf(ev: SegmentEvent, mapping: IdMapping = MAPPING, o = options({ customerIds: mapping })) {
  const out = mapEvent(ev, o)
  expect(out).toHaveLength(1)
  const c = out[0] as Command
  return 'ids' in c.data ? c.data.ids : c.data.customer_ids
}

const identify = (e: Partial<SegmentEvent> = {}): SegmentEvent => ({ type: 'identify', userId: 'u-1', anonymousId: 'anon-1', ...e })

describe('the default mapping', () => {
  it('is registered = userId, cookie = anonymousId', () => {
    expect(DEFAULT_CUSTOMER_IDS).toEqual({ registered: 'userId', cookie: 'anonymousId' })
    expect(idsOf(identify(), DEFAULT_CUSTOMER_IDS, options())).toEqual({ registered: 'u-1', cookie: 'anon-1' })
  })
})

describe('a custom mapping (customer_id, cookie, email_id from traits.email)', () => {
  it('identify: every mapped id with a value, in the order of the mapping', () => {
    const ids = idsOf(identify({ traits: { email: 'ada@example.com', name: 'Ada' } }))
    expect(ids).toEqual({ customer_id: 'u-1', cookie: 'anon-1', email_id: 'ada@example.com' })
    expect(Object.keys(ids)).toEqual(['customer_id', 'cookie', 'email_id'])
  })

  it('any call: the trait from context.traits', () => {
    for (const type of ['track', 'page', 'screen', 'group', 'identify'] as const) {
      const ids = idsOf(
        track({ type, userId: 'u-1', anonymousId: 'anon-1', groupId: 'g', context: { traits: { email: 'c@example.com' } } }),
      )
      expect(ids).toEqual({ customer_id: 'u-1', cookie: 'anon-1', email_id: 'c@example.com' })
    }
  })

  it("identify's own traits win over context.traits; an empty one falls back to context.traits", () => {
    expect(idsOf(identify({ traits: { email: 'own@x' }, context: { traits: { email: 'ctx@x' } } })).email_id).toBe('own@x')
    expect(idsOf(identify({ traits: { email: '' }, context: { traits: { email: 'ctx@x' } } })).email_id).toBe('ctx@x')
  })

  it("a track's or group's own traits are not user traits: group traits never give an id", () => {
    expect(idsOf(track({ traits: { email: 'x@x' } }))).not.toHaveProperty('email_id')
    expect(idsOf({ type: 'group', groupId: 'g', anonymousId: 'a', traits: { email: 'company@x' } })).toEqual({ cookie: 'a' })
  })

  it('without the trait, the call carries the other ids', () => {
    expect(idsOf(track({ userId: 'u-1', anonymousId: 'anon-1' }))).toEqual({ customer_id: 'u-1', cookie: 'anon-1' })
  })

  it('a call with no id of the mapping at all is dropped and reported', () => {
    const o = options({ customerIds: { email_id: 'traits.email' } })
    expect(mapEvent(track(), o)).toEqual([])
    expect(o.drop.mock.calls).toEqual([['no_customer_id']])
  })

  it('an id from a trait alone is enough', () => {
    expect(idsOf(identify({ userId: undefined, anonymousId: undefined, traits: { email: 'e@x' } }), { email_id: 'traits.email' })).toEqual({
      email_id: 'e@x',
    })
  })

  it('two names from one source both carry it', () => {
    expect(idsOf(identify(), { registered: 'userId', customer_id: 'userId', cookie: 'anonymousId' })).toEqual({
      registered: 'u-1',
      customer_id: 'u-1',
      cookie: 'anon-1',
    })
  })

  it('a trait name is taken literally, dots included, and only as an own property', () => {
    const m: IdMapping = { a: 'traits.address.email', b: 'traits.toString', c: 'traits.__proto__' }
    const traits = JSON.parse('{"address.email":"dot@x","address":{"email":"nested@x"},"__proto__":"proto-id"}')
    expect(idsOf(identify({ userId: undefined, anonymousId: 'x', traits }), { ...m, cookie: 'anonymousId' })).toEqual({
      a: 'dot@x',
      c: 'proto-id',
      cookie: 'x',
    })
  })
})

describe('what counts as an id value', () => {
  it.each<[unknown, string | undefined]>([
    ['ada@example.com', 'ada@example.com'],
    [42, '42'],
    [7.5, '7.5'],
    [-0, '0'],
    ['', undefined],
    [NaN, undefined],
    [Infinity, undefined],
    [null, undefined],
    [undefined, undefined],
    [true, undefined],
    [{ email: 'x@x' }, undefined],
    [['x@x'], undefined],
    [new Date(0), undefined],
    ['x'.repeat(16384), 'x'.repeat(16384)],
    ['x'.repeat(16385), undefined],
  ])('%j -> %j', (value, id) => {
    expect(idValue(value)).toBe(id)
    const ids = customerIds(identify({ userId: undefined, anonymousId: 'a', traits: { email: value } }), MAPPING)
    expect(ids?.email_id).toBe(id)
  })

  it('a BigInt is not an id', () => expect(idValue(10n)).toBeUndefined())

  it('a userId or anonymousId that is not a value is absent, the others stay', () => {
    expect(customerIds({ type: 'track', userId: { id: 1 }, anonymousId: 'a' }, MAPPING)).toEqual({ cookie: 'a' })
    expect(customerIds({ type: 'track', userId: 5, anonymousId: '' }, MAPPING)).toEqual({ customer_id: '5' })
  })
})

describe('alias', () => {
  it("uses the names userId and anonymousId map to: { <userId's name>: userId, <anonymousId's name>: previousId }", () => {
    const o = options({ customerIds: MAPPING, knownCookie: () => true })
    const [c] = mapEvent({ type: 'alias', userId: 'u-1', previousId: 'old-anon', anonymousId: 'anon-1' }, o)
    expect(c).toEqual({
      name: 'crm/customers',
      data: { ids: { customer_id: 'u-1', cookie: 'old-anon' }, company_id: TOKEN, project_id: TOKEN, properties: {} },
    })
    expect(o.warn).not.toHaveBeenCalled()
  })

  it('carries trait ids and literal ids of the call too', () => {
    const ev: SegmentEvent = {
      type: 'alias',
      userId: 'u-1',
      previousId: 'anon-1',
      anonymousId: 'anon-1',
      context: { traits: { email: 'e@x' } },
      integrations: { Infinario: { customerIds: { crm_id: 'c-1' } } },
    }
    expect(idsOf(ev)).toEqual({ customer_id: 'u-1', cookie: 'anon-1', email_id: 'e@x', crm_id: 'c-1' })
  })

  it('an unknown previousId is sent anyway, with a warning', () => {
    const o = options({ customerIds: MAPPING, knownCookie: () => false })
    expect(idsOf({ type: 'alias', userId: 'u-1', previousId: 'user-0', anonymousId: 'anon-1' }, MAPPING, o)).toEqual({
      customer_id: 'u-1',
      cookie: 'user-0',
    })
    expect(o.warn.mock.calls).toEqual([['alias: previousId user-0 is not a known anonymousId, it cannot be merged']])
  })
})

describe('per-call ids: integrations.Infinario.customerIds', () => {
  const withIds = (literal: unknown, e: Partial<SegmentEvent> = {}) =>
    track({ integrations: { Infinario: { customerIds: literal } }, ...e })

  it('adds ids, after the mapped ones', () => {
    const ids = idsOf(withIds({ cart_id: 'cart-7' }))
    expect(ids).toEqual({ customer_id: 'user-42', cookie: 'a1b2c3d4-anon', cart_id: 'cart-7' })
    expect(Object.keys(ids)).toEqual(['customer_id', 'cookie', 'cart_id'])
  })

  it('overrides a mapped id, in its place', () => {
    const ids = idsOf(withIds({ customer_id: 'other', email_id: 'e@x' }))
    expect(ids).toEqual({ customer_id: 'other', cookie: 'a1b2c3d4-anon', email_id: 'e@x' })
    expect(Object.keys(ids)).toEqual(['customer_id', 'cookie', 'email_id'])
  })

  it('is enough on its own: a call with only a literal id is sent', () => {
    expect(idsOf(withIds({ cart_id: 9 }, { userId: null, anonymousId: null }))).toEqual({ cart_id: '9' })
  })

  it('ignores invalid names and values, with a warning each; the rest of the call is sent', () => {
    const o = options({ customerIds: MAPPING })
    const ids = idsOf(withIds({ '': 'x', 'a.b': 'x', $c: 'x', empty: '', obj: { v: 1 }, nan: NaN, ok: 'yes' }), MAPPING, o)
    expect(ids).toEqual({ customer_id: 'user-42', cookie: 'a1b2c3d4-anon', ok: 'yes' })
    expect(o.warn).toHaveBeenCalledTimes(6)
    expect(o.warn).toHaveBeenCalledWith('integrations.Infinario.customerIds: id name "a.b" ignored (empty, or with "." or "$")')
    expect(o.warn).toHaveBeenCalledWith(
      'integrations.Infinario.customerIds: the value of "obj" ignored (not a non-empty string or a number)',
    )
  })

  it.each([
    ['a string', 'cart-7'],
    ['an array', [['cart_id', 'c']]],
    ['null', null],
    ['a number', 5],
  ])('ignores customerIds that is %s, with a warning', (_, literal) => {
    const o = options({ customerIds: MAPPING })
    expect(idsOf(withIds(literal), MAPPING, o)).toEqual({ customer_id: 'user-42', cookie: 'a1b2c3d4-anon' })
    expect(o.warn).toHaveBeenCalledWith(expect.stringMatching(/^integrations\.Infinario\.customerIds/))
  })

  it('ignores integrations without Infinario options (analytics-next sets booleans)', () => {
    const o = options({ customerIds: MAPPING })
    expect(idsOf(track({ integrations: { Infinario: true, All: true } }), MAPPING, o)).toEqual({
      customer_id: 'user-42',
      cookie: 'a1b2c3d4-anon',
    })
    expect(o.warn).not.toHaveBeenCalled()
  })

  it('an id named __proto__ is data: no prototype pollution', () => {
    const literal = JSON.parse('{"__proto__":"proto-id","polluted":"p"}')
    const ids = idsOf(withIds(literal))
    expect(Object.getOwnPropertyNames(ids)).toEqual(['customer_id', 'cookie', '__proto__', 'polluted'])
    expect(Object.getPrototypeOf(ids)).toBe(Object.prototype)
    expect(JSON.parse(JSON.stringify(ids)).__proto__).toBe('proto-id')
  })

  it('keeps the ids of one call within 65 536 characters: later ones are ignored, with a warning', () => {
    const literal = Object.fromEntries(Array.from({ length: 6 }, (_, i) => ['big' + i, String(i).repeat(16000)]))
    const o = options({ customerIds: MAPPING })
    const ids = idsOf(withIds(literal), MAPPING, o)
    expect(Object.keys(ids)).toEqual(['customer_id', 'cookie', 'big0', 'big1', 'big2', 'big3'])
    expect(o.warn).toHaveBeenCalledTimes(2)
  })
})

describe('hostile input', () => {
  const boom = () => {
    throw new Error('hostile')
  }

  it('traits, context or integrations that throw when read: those ids are absent, the call is sent', () => {
    const traits = Object.defineProperty({}, 'email', { get: boom, enumerable: true })
    expect(idsOf(identify({ traits }))).toEqual({ customer_id: 'u-1', cookie: 'anon-1' })
    expect(idsOf(track({ context: new Proxy({}, { get: boom, getOwnPropertyDescriptor: boom, has: boom }) }))).toEqual({
      customer_id: 'user-42',
      cookie: 'a1b2c3d4-anon',
    })
    const integrations = { Infinario: { customerIds: new Proxy({}, { ownKeys: boom }) } }
    const o = options({ customerIds: MAPPING })
    expect(idsOf(track({ integrations }), MAPPING, o)).toEqual({ customer_id: 'user-42', cookie: 'a1b2c3d4-anon' })
    expect(o.warn).toHaveBeenCalledWith('integrations.Infinario.customerIds could not be read: ignored')
  })

  it('property-based: any event, mapping and per-call ids: no throw; every command valid, its ids only valid names and values', () => {
    const name = fc.oneof(
      fc.constantFrom('registered', 'cookie', 'customer_id', 'email_id', '__proto__', 'a.b', '', '$x'),
      fc.string({ maxLength: 6 }),
    )
    const value = fc.oneof(
      fc.string({ maxLength: 8 }),
      fc.integer(),
      fc.double(),
      fc.constantFrom('', null, undefined, true, { a: 1 }, ['x'], 'x'.repeat(16385), -0, NaN),
    )
    const mapping = fc
      .dictionary(
        fc.string({ minLength: 1, maxLength: 6 }).filter((k) => !/[.$]/.test(k)),
        fc.oneof(
          fc.constantFrom('userId', 'anonymousId', 'traits.email', 'traits.__proto__'),
          fc.string({ maxLength: 8 }).map((t) => 'traits.' + t + 'x'),
        ),
        { minKeys: 1, maxKeys: 4 },
      )
      .filter((m) => typeof readIdMapping(m) != 'string')
    fc.assert(
      fc.property(
        fc.constantFrom('identify', 'track', 'page', 'screen', 'alias', 'group'),
        value,
        value,
        fc.dictionary(fc.string({ maxLength: 6 }), value),
        fc.dictionary(name, value),
        mapping,
        (type, userId, anonymousId, traits, literal, m) => {
          const ev = {
            ...track(),
            type,
            userId,
            anonymousId,
            previousId: anonymousId,
            traits,
            context: { traits },
            integrations: { Infinario: { customerIds: literal } },
          } as SegmentEvent
          const o = options({ customerIds: m as IdMapping })
          const out = mapEvent(ev, o)
          if (!out.length) expect(o.drop.mock.calls).toEqual([['no_customer_id']])
          for (const c of out) {
            expect(validateCommand(JSON.parse(JSON.stringify(c)), TOKEN)).toEqual([])
            const ids = 'ids' in c.data ? c.data.ids : c.data.customer_ids
            for (const [k, v] of Object.entries(ids)) {
              expect(k).toMatch(/^[^.$]+$/)
              expect(typeof v == 'string' && v.length > 0 && v.length <= 16384).toBe(true)
            }
          }
        },
      ),
      { numRuns: Number(process.env.FUZZ_RUNS) || 200 },
    )
  }, 120_000)
})
