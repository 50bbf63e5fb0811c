import { describe, expect, it, vi } from 'vitest'
import { addProps, clean, toProperties } from '../../src/mapping/properties'

describe('clean (SPEC §4 rule 4: values must be JSON)', () => {
  it('drops undefined, functions and symbols in objects, and makes them null in arrays', () => {
    expect(clean({ a: undefined, b: () => 1, c: Symbol('s'), d: 1 })).toEqual({ d: 1 })
    expect(Object.keys(clean({ a: undefined, b: () => 1, c: Symbol('s'), d: 1 }) as object)).toEqual(['d'])
    expect(clean([undefined, () => 1, Symbol('s'), 1])).toEqual([null, null, null, 1])
    expect(clean(undefined)).toBeUndefined()
    expect(clean(() => 1)).toBeUndefined()
  })

  it('turns Dates into ISO-8601 strings, invalid Dates into null', () => {
    expect(clean({ at: new Date('2024-05-01T10:00:00.123Z'), bad: new Date('nope') })).toEqual({
      at: '2024-05-01T10:00:00.123Z',
      bad: null,
    })
  })

  it('turns BigInt into a decimal string', () => {
    expect(clean({ n: 12345678901234567890123n, m: -1n })).toEqual({ n: '12345678901234567890123', m: '-1' })
  })

  it('turns NaN and ±Infinity into null, -0 into 0', () => {
    expect(clean([NaN, Infinity, -Infinity, 1.5])).toEqual([null, null, null, 1.5])
    expect(Object.is(clean(-0), 0)).toBe(true)
  })

  it('keeps strings, numbers, booleans and null', () => {
    expect(clean({ s: 'x', n: 2, t: true, f: false, z: null })).toEqual({ s: 'x', n: 2, t: true, f: false, z: null })
  })

  it('cuts strings longer than 16 384 characters to 16 384', () => {
    const long = 'a'.repeat(16384)
    expect(clean({ s: long + 'bcd', t: long })).toEqual({ s: long, t: long })
    expect((clean(['€'.repeat(20000)]) as string[])[0]).toHaveLength(16384)
  })

  it('replaces a true cycle with "[Circular]"', () => {
    const a: Record<string, unknown> = { x: 1 }
    a.self = a
    a.deep = { back: a, arr: [a] }
    expect(clean(a)).toEqual({ x: 1, self: '[Circular]', deep: { back: '[Circular]', arr: ['[Circular]'] } })
    const arr: unknown[] = [1]
    arr.push(arr)
    expect(clean(arr)).toEqual([1, '[Circular]'])
  })

  it('copies an object that appears twice side by side: it is not circular', () => {
    const shared = { a: 1 }
    expect(clean({ x: shared, y: shared, z: [shared, shared] })).toEqual({ x: { a: 1 }, y: { a: 1 }, z: [{ a: 1 }, { a: 1 }] })
  })

  it('caps depth at 32: deeper objects become "[Too deep]"', () => {
    const root: Record<string, unknown> = {}
    let node = root
    for (let i = 0; i < 40; i++) node = node.c = {}
    let out = clean(root) as Record<string, unknown>
    let depth = 0
    while (typeof out.c == 'object') ((out = out.c as Record<string, unknown>), depth++)
    expect(depth).toBe(31)
    expect(out.c).toBe('[Too deep]')
  })

  it('drops a key whose getter throws, and keeps the rest', () => {
    const o = { a: 1, b: 2 }
    Object.defineProperty(o, 'boom', {
      enumerable: true,
      get: () => {
        throw new Error('no')
      },
    })
    expect(clean(o)).toEqual({ a: 1, b: 2 })
    const arr = [1, 2]
    Object.defineProperty(arr, 1, {
      get: () => {
        throw new Error('no')
      },
    })
    expect(clean(arr)).toEqual([1, null])
  })

  it('drops a Proxy whose traps throw, and a revoked Proxy', () => {
    const hostile = new Proxy(
      {},
      {
        ownKeys: () => {
          throw new Error('no')
        },
      },
    )
    const { proxy, revoke } = Proxy.revocable({ a: 1 }, {})
    revoke()
    expect(clean({ a: 1, hostile, proxy })).toEqual({ a: 1 })
    expect(clean(hostile)).toBeUndefined()
  })

  it('uses toJSON when there is one, and drops the value when it throws', () => {
    const money = { amount: 5, toJSON: () => '5 EUR' }
    const bad = {
      toJSON: () => {
        throw new Error('no')
      },
    }
    expect(clean({ money, bad, url: new URL('https://a.example/x') })).toEqual({ money: '5 EUR', url: 'https://a.example/x' })
  })

  it('replaces "." and "$" in keys by "_" at every depth (rule 2)', () => {
    expect(clean({ 'a.b': { c$d: [{ 'e.f$': 1 }] } })).toEqual({ a_b: { c_d: [{ e_f_: 1 }] } })
  })

  it('keeps the first of two keys that collide after replacement, with a warning', () => {
    const warn = vi.fn()
    const out = clean({ 'a.b': 1, a$b: 2, a_b: 3, n: { 'x.y': 1, x_y: 2 } }, warn)
    expect(out).toEqual({ a_b: 1, n: { x_y: 1 } })
    expect(warn.mock.calls).toEqual([['duplicate key dropped: a_b'], ['duplicate key dropped: a_b'], ['duplicate key dropped: x_y']])
  })

  it('keeps __proto__, constructor and prototype as ordinary keys, with no pollution (rule 5)', () => {
    const input = JSON.parse('{"__proto__":{"polluted":"yes"},"constructor":{"prototype":{"polluted":"yes"}},"prototype":1}')
    const out = clean(input) as Record<string, unknown>
    expect(Object.keys(out)).toEqual(['__proto__', 'constructor', 'prototype'])
    expect(Object.getPrototypeOf(out)).toBe(Object.prototype)
    expect(JSON.stringify(out)).toBe('{"__proto__":{"polluted":"yes"},"constructor":{"prototype":{"polluted":"yes"}},"prototype":1}')
    expect(({} as Record<string, unknown>).polluted).toBeUndefined()
    expect(out.polluted).toBeUndefined()
  })

  it('stops a huge sparse array past 400 000 elements (its JSON is over the command limit anyway)', () => {
    const a: unknown[] = [1]
    a.length = 1e9
    const out = clean(a) as unknown[]
    expect(out).toHaveLength(400001)
    expect(out[0]).toBe(1)
    expect(out[400000]).toBeNull()
  })

  it('does not change its input', () => {
    const input = { 'a.b': { c: new Date(0) }, d: [1, undefined] }
    clean(input)
    expect(input).toEqual({ 'a.b': { c: new Date(0) }, d: [1, undefined] })
  })
})

describe('toProperties (rules 1–3)', () => {
  it('flattens one level, keeps deeper objects and arrays as values (rule 1)', () => {
    expect(toProperties({ address: { country: 'UK', city: 'London', geo: { lat: 51.5 } }, tags: ['a', { b: 1 }], n: 1 })).toEqual({
      address_country: 'UK',
      address_city: 'London',
      address_geo: { lat: 51.5 },
      tags: ['a', { b: 1 }],
      n: 1,
    })
  })

  it('keeps insertion order, with flattened keys in place', () => {
    expect(Object.keys(toProperties({ z: 1, address: { country: 'UK', city: 'London' }, a: 2 }))).toEqual([
      'z',
      'address_country',
      'address_city',
      'a',
    ])
  })

  it('drops an empty nested object (flattening it yields no keys)', () => {
    expect(toProperties({ a: {}, b: 1 })).toEqual({ b: 1 })
  })

  it('sanitizes keys before flattening: the first wins on a collision', () => {
    const warn = vi.fn()
    expect(toProperties({ a_b: 1, a: { b: 2, c: 3 }, 'a.c': 4, x$: { c: 5 }, x__c: 6 }, warn)).toEqual({ a_b: 1, a_c: 3, x__c: 5 })
    expect(warn.mock.calls).toEqual([['duplicate key dropped: a_b'], ['duplicate key dropped: a_c'], ['duplicate key dropped: x__c']])
  })

  it('gives {} for anything but a plain object', () => {
    for (const v of [null, undefined, 'str', 5, true, [1, 2], () => 1, Symbol('x'), 1n]) expect(toProperties(v)).toEqual({})
  })

  it('uses a toJSON of the input itself', () => {
    expect(toProperties({ toJSON: () => ({ a: 1 }) })).toEqual({ a: 1 })
  })

  it('caps the number of keys at 255 by default (rule 3), first keys kept, one warning', () => {
    const input = Object.fromEntries(Array.from({ length: 300 }, (_, i) => ['k' + i, i]))
    const warn = vi.fn()
    const out = toProperties(input, warn)
    expect(Object.keys(out)).toEqual(Array.from({ length: 255 }, (_, i) => 'k' + i))
    expect(warn.mock.calls).toEqual([['45 properties dropped: over 255 keys']])
  })

  it('counts flattened keys against the cap', () => {
    const warn = vi.fn()
    expect(toProperties({ a: 1, o: { x: 1, y: 2, z: 3 } }, warn, 3)).toEqual({ a: 1, o_x: 1, o_y: 2 })
    expect(warn).toHaveBeenCalledWith('1 properties dropped: over 255 keys')
  })

  it('puts a prefix before every key (group traits)', () => {
    expect(toProperties({ name: 'Acme', address: { city: 'Brno' } }, undefined, 255, 'group_')).toEqual({
      group_name: 'Acme',
      group_address_city: 'Brno',
    })
  })

  it('keeps __proto__ as data when flattening', () => {
    const out = toProperties(JSON.parse('{"__proto__":{"polluted":"yes"},"x":{"__proto__":1}}'))
    expect(out).toEqual(JSON.parse('{"__proto___polluted":"yes","x___proto__":1}'))
    expect(({} as Record<string, unknown>).polluted).toBeUndefined()
  })
})

describe('addProps', () => {
  it('adds after what is there, keeps existing keys silently when no warn is given, and reports drops', () => {
    const m = new Map<string, unknown>([['message_id', 'm']])
    expect(addProps(m, { message_id: 'x', a: 1, b: 2, c: 3 }, 3)).toBe(1)
    expect([...m]).toEqual([
      ['message_id', 'm'],
      ['a', 1],
      ['b', 2],
    ])
  })
})
