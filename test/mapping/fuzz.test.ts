/**
 * Property-based tests: hostile keys and values never make the mapping throw, and whatever comes
 * out is JSON that survives a round trip, with clean keys, short strings, capped key counts and
 * no prototype pollution.
 */
import fc from 'fast-check'
import { afterEach, describe, expect, it, vi } from 'vitest'
import { mapEvent } from '../../src/mapping'
import { contextExtras } from '../../src/mapping/context'
import { clean, toProperties } from '../../src/mapping/properties'
import type { Command, MapOptions, SegmentEvent } from '../../src/mapping/types'
import { context } from './fixtures'

const RUNS = { numRuns: Number(process.env.FUZZ_RUNS) || 250 }

const boom = () => {
  throw new Error('hostile')
}

const key = fc.oneof(
  fc.constantFrom(
    '.',
    '$',
    'a.b',
    '$set',
    'a$b.c',
    'a_b',
    '__proto__',
    'constructor',
    'prototype',
    'polluted',
    '',
    'toString',
    'hasOwnProperty',
    'message_id',
    'session_id',
    'ключ.ü',
    '😀$',
    '0',
    '42',
    'toJSON',
  ),
  fc.string({ maxLength: 8 }),
  fc.string({ unit: 'grapheme', maxLength: 4 }),
)

const HUGE = ['x'.repeat(16383), 'y'.repeat(16384), 'z'.repeat(16385), '€'.repeat(30000), '😀'.repeat(9000)]

const leaf = fc.oneof(
  fc.constantFrom(undefined, null, NaN, Infinity, -Infinity, -0, () => 1, Symbol('s'), Symbol.iterator),
  fc.boolean(),
  fc.double(),
  fc.integer(),
  fc.bigInt(),
  fc.string({ maxLength: 10 }),
  fc.string({ unit: 'binary', maxLength: 6 }),
  fc.date({ noInvalidDate: false }),
  fc.constantFrom(...HUGE),
)

/** An object whose keys may be `__proto__` & co: defined, not assigned. */
const define = (entries: [string, unknown][]) => {
  const o: Record<string, unknown> = {}
  for (const [k, v] of entries) Object.defineProperty(o, k, { value: v, enumerable: true, writable: true, configurable: true })
  return o
}

const { node: tree } = fc.letrec((tie) => ({
  node: fc.oneof({ depthSize: 'small', withCrossShrink: true }, leaf, tie('obj'), tie('arr'), tie('chain')),
  obj: fc.array(fc.tuple(key, tie('node')), { maxLength: 6 }).map(define),
  arr: fc.array(tie('node'), { maxLength: 5 }),
  // deeper than the 32-level cap
  chain: fc.tuple(fc.integer({ min: 25, max: 40 }), key, tie('node')).map(([n, k, end]) => {
    let v = end
    for (let i = 0; i < n; i++) v = define([[k, v]])
    return v
  }),
}))

type Mutation = { at: number; kind: string }
const mutation = fc.record({
  at: fc.nat(),
  kind: fc.constantFrom('cycle', 'ancestor', 'shared', 'getter', 'proxy', 'revoked', 'toJSON', 'badToJSON', 'wide', 'date'),
})

/** Hostile things that generators cannot express: cycles, throwing getters, Proxies, ... */
function mutate(root: unknown, ms: Mutation[]) {
  const nodes: object[] = []
  const seen = new Set<object>()
  const walk = (v: unknown) => {
    if (!v || typeof v != 'object' || seen.has(v)) return
    seen.add(v)
    nodes.push(v)
    for (const k of Object.keys(v)) walk((v as Record<string, unknown>)[k])
  }
  walk(root)
  if (!nodes.length) return
  for (const { at, kind } of ms) {
    const n = nodes[at % nodes.length] as Record<string, unknown>
    const set = (k: string, v: unknown) => Object.defineProperty(n, k, { value: v, enumerable: true, configurable: true, writable: true })
    if (kind == 'cycle') set('self.ref', n)
    else if (kind == 'ancestor') set('root', root)
    else if (kind == 'shared') {
      const s = { v: [1, 2] }
      set('s1', s)
      set('s2', s)
    } else if (kind == 'getter') Object.defineProperty(n, 'boom', { get: boom, enumerable: true, configurable: true })
    else if (kind == 'proxy') set('px', new Proxy({ a: 1 }, { ownKeys: boom, get: boom }))
    else if (kind == 'revoked') {
      const r = Proxy.revocable({}, {})
      r.revoke()
      set('rv', r.proxy)
    } else if (kind == 'toJSON') set('tj', { toJSON: () => ({ 'x.y': 1n, self: n }) })
    else if (kind == 'badToJSON') set('btj', { toJSON: boom })
    else if (kind == 'wide') set('wide', Object.fromEntries(Array.from({ length: 300 }, (_, i) => ['w.' + i, i])))
    else set('d', new Date(NaN))
  }
}

/** Copies a generated tree (fast-check may reuse values) so that mutating it is safe. */
const copy = (v: unknown): unknown =>
  Array.isArray(v)
    ? v.map(copy)
    : v && typeof v == 'object' && !(v instanceof Date)
      ? define(Object.entries(v).map(([k, x]) => [k, copy(x)]))
      : v

const hostile = fc
  .tuple(
    fc.oneof(
      tree,
      tree.map((t) => define([['a', t]])),
    ),
    fc.array(mutation, { maxLength: 6 }),
    fc.nat(400),
  )
  .map(([t, ms, wide]) => {
    const root = copy(t)
    mutate(root, ms)
    // sometimes many top-level keys, for the cap
    if (root && typeof root == 'object' && !Array.isArray(root))
      for (let i = 0; i < wide; i++) Object.defineProperty(root, `k.${i}$`, { value: i, enumerable: true, configurable: true })
    return root
  })

const PROTO_NAMES = Object.getOwnPropertyNames(Object.prototype).sort()
const ARRAY_PROTO_NAMES = Object.getOwnPropertyNames(Array.prototype).sort()

afterEach(() => {
  expect(Object.getOwnPropertyNames(Object.prototype).sort()).toEqual(PROTO_NAMES)
  expect(Object.getOwnPropertyNames(Array.prototype).sort()).toEqual(ARRAY_PROTO_NAMES)
  expect(({} as Record<string, unknown>).polluted).toBeUndefined()
  expect(({} as Record<string, unknown>).v).toBeUndefined()
  expect(Object.getPrototypeOf({})).toBe(Object.prototype)
})

/** Throws unless `x` is clean JSON data: plain objects and arrays, keys without . and $, short strings. */
function assertClean(x: unknown, path = '$', depth = 0): void {
  const t = typeof x
  if (depth > 33) throw new Error(`${path}: deeper than the cap`)
  if (x === null || t == 'boolean') return
  if (t == 'string') {
    if ((x as string).length > 16384) throw new Error(`${path}: string of ${(x as string).length}`)
    return
  }
  if (t == 'number') {
    if (!Number.isFinite(x) || Object.is(x, -0)) throw new Error(`${path}: ${x}`)
    return
  }
  if (t != 'object') throw new Error(`${path}: ${t}`)
  const proto = Object.getPrototypeOf(x)
  if (proto !== Object.prototype && proto !== Array.prototype) throw new Error(`${path}: not plain`)
  if (Array.isArray(x)) return x.forEach((v, i) => assertClean(v, path + '[' + i + ']', depth + 1))
  for (const k of Reflect.ownKeys(x as object)) {
    if (typeof k != 'string') throw new Error(`${path}: symbol key`)
    if (/[.$]/.test(k)) throw new Error(`${path}: key ${JSON.stringify(k)}`)
    const d = Object.getOwnPropertyDescriptor(x, k)!
    if (!('value' in d) || !d.enumerable) throw new Error(`${path}.${k}: accessor or hidden`)
    assertClean(d.value, path + '.' + k, depth + 1)
  }
}

function assertJson(x: unknown) {
  assertClean(x)
  const s = JSON.stringify(x)
  expect(JSON.parse(s)).toEqual(x)
  expect(JSON.stringify(JSON.parse(s))).toBe(s)
}

describe('clean and toProperties on hostile input', () => {
  it('clean never throws and gives round-trippable JSON', () => {
    fc.assert(
      fc.property(hostile, (input) => {
        const out = clean(input, () => {})
        if (out !== undefined) assertJson(out)
      }),
      RUNS,
    )
  })

  it('toProperties never throws, flattens to at most `max` clean keys', () => {
    fc.assert(
      fc.property(hostile, fc.constantFrom(255, 253, 3), fc.constantFrom('', 'group_'), (input, max, prefix) => {
        const warn = vi.fn()
        const out = toProperties(input, warn, max, prefix)
        assertJson(out)
        expect(Object.keys(out).length).toBeLessThanOrEqual(max)
        for (const k of Object.keys(out)) expect(k.startsWith(prefix)).toBe(true)
        for (const c of warn.mock.calls) expect(typeof c[0]).toBe('string')
      }),
      RUNS,
    )
  })

  it('contextExtras never throws on hostile contexts', () => {
    fc.assert(
      fc.property(hostile, (c) => assertJson(contextExtras(c))),
      { numRuns: 100 },
    )
  })
})

const id = fc.oneof(fc.string({ maxLength: 12 }), fc.uuid(), fc.integer(), fc.double(), fc.constantFrom(undefined, null, '', NaN), tree)
const sometimes = <T>(a: fc.Arbitrary<T>) => fc.oneof(a, fc.constant(undefined))

const segmentEvent: fc.Arbitrary<SegmentEvent> = fc.record(
  {
    type: fc.constantFrom('identify', 'track', 'page', 'screen', 'alias', 'group', 'other' as 'track'),
    event: fc.oneof(fc.string(), fc.integer(), fc.constantFrom('campaign', 'Order Completed', 'constructor', '__proto__'), tree),
    name: sometimes(fc.oneof(fc.string(), tree)),
    category: sometimes(fc.oneof(fc.string(), tree)),
    userId: id,
    anonymousId: id,
    previousId: id,
    groupId: id,
    messageId: fc.oneof(fc.uuid(), id),
    timestamp: fc.oneof(fc.date({ noInvalidDate: false }), fc.integer(), fc.double(), fc.string(), fc.constant(undefined)),
    properties: hostile,
    traits: hostile,
    context: fc.oneof(
      fc.constant(0).map(() => context()),
      hostile,
    ),
  },
  { requiredKeys: ['type'] },
)

function assertCommand(c: Command) {
  expect(['crm/customers', 'crm/events']).toContain(c.name)
  const d = c.data as Record<string, unknown>
  const ids = (c.name == 'crm/customers' ? d.ids : d.customer_ids) as Record<string, unknown>
  expect(Object.keys(d)).toEqual(
    c.name == 'crm/customers'
      ? ['ids', 'company_id', 'project_id', 'properties']
      : ['customer_ids', 'company_id', 'project_id', 'type', 'timestamp', 'properties'],
  )
  expect(d.company_id).toBe('token')
  expect(d.project_id).toBe('token')
  expect(Object.keys(ids).length).toBeGreaterThan(0)
  for (const [k, v] of Object.entries(ids)) {
    expect(['registered', 'cookie']).toContain(k)
    expect(typeof v == 'string' && v.length > 0).toBe(true)
  }
  const props = d.properties as Record<string, unknown>
  assertJson(props)
  if (c.name == 'crm/events') {
    expect(typeof d.type == 'string' && d.type.length > 0).toBe(true)
    expect(Number.isFinite(d.timestamp)).toBe(true)
    // 253 + message_id, one slot left for session_id
    expect(Object.keys(props).length).toBeLessThanOrEqual(254)
  } else expect(Object.keys(props).length).toBeLessThanOrEqual(255)
  expect(new TextEncoder().encode(JSON.stringify(c)).length).toBeLessThanOrEqual(800000)
}

describe('mapEvent on random events', () => {
  it('never throws; returns one well-formed command, or none and one drop report', () => {
    fc.assert(
      fc.property(segmentEvent, fc.dictionary(fc.string(), fc.oneof(fc.string(), fc.constant('campaign'))), (ev, eventNames) => {
        const o: MapOptions = {
          projectToken: 'token',
          eventNames,
          now: 1714557600000,
          id: 'fallback-id',
          warn: vi.fn(),
          drop: vi.fn(),
          knownCookie: () => false,
        }
        const out = mapEvent(ev, o)
        expect(Array.isArray(out)).toBe(true)
        const drops = (o.drop as ReturnType<typeof vi.fn>).mock.calls
        if (out.length == 0) expect(drops).toHaveLength(1)
        else {
          expect(out).toHaveLength(1)
          expect(drops).toHaveLength(0)
          assertCommand(out[0])
          const mid = typeof ev.messageId == 'string' && ev.messageId
          // first, except before integer-like keys, which JavaScript objects always put first
          if (mid && out[0].name == 'crm/events')
            expect(Object.entries(out[0].data.properties).find(([k]) => !/^(0|[1-9]\d*)$/.test(k))).toEqual([
              'message_id',
              mid.slice(0, 16384),
            ])
        }
        for (const c of (o.warn as ReturnType<typeof vi.fn>).mock.calls) expect(typeof c[0]).toBe('string')
      }),
      RUNS,
    )
  })
})
